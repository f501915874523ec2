// Fills a begun libreverie slot from one captured frame's locked readbacks with
// ReverieMath::WriteFrameRows, rows split across the task graph's worker threads.
#pragma once

#include "CoreMinimal.h"
#include "ReverieCApi.h"
#include "ReverieMath.h"

// Planes must be the size in Conversion, with float32 motion (the caller checks).
void WriteReverieFrame(const reverie_frame_planes& Planes, const ReverieMath::ReadbackRows& Readback,
					   const ReverieMath::FrameConversion& Conversion);
