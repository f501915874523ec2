// The one place the plugin includes libreverie's C header. Its export macro
// (LIBREVERIE_EXPORT) cannot collide with the REVERIE_API that UnrealBuildTool defines for
// this module, so the header is read as it is, as third-party code.
#pragma once

#include "CoreMinimal.h"

THIRD_PARTY_INCLUDES_START
#include "reverie.h"
THIRD_PARTY_INCLUDES_END
