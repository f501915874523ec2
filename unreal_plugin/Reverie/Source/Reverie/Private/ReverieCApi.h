// The one place the plugin includes libreverie's C header.
//
// UnrealBuildTool defines REVERIE_API for this module (every module gets <NAME>_API), and
// reverie.h defines its own REVERIE_API for its exports. The engine's definition is set
// aside while reverie.h is read, so the C functions get the library's dllimport/visibility
// and the module's own macro is back afterwards.
#pragma once

#include "CoreMinimal.h"

#pragma push_macro("REVERIE_API")
#undef REVERIE_API
THIRD_PARTY_INCLUDES_START
#include "reverie.h"
THIRD_PARTY_INCLUDES_END
#pragma pop_macro("REVERIE_API")
