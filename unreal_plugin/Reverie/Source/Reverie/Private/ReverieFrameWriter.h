// Fills a begun libreverie slot from one captured frame's locked readbacks, with the
// engine-independent conversions of ReverieMath.h, rows split across worker threads.
#pragma once

#include "CoreMinimal.h"
#include "ReverieCApi.h"
#include "ReverieMath.h"

struct FReverieReadbackView
{
	const uint8* Color = nullptr;                       // RGBA8 rows, ColorPitchPixels apart
	int32 ColorPitchPixels = 0;
	const ReverieMath::CaptureTexel* Aux = nullptr;     // RGBA32F rows, AuxPitchPixels apart
	int32 AuxPitchPixels = 0;
};

// Planes must be the size in Conversion (the caller checks before locking the readbacks).
void WriteReverieFrame(const reverie_frame_planes& Planes, const FReverieReadbackView& Readback,
					   const ReverieMath::FrameConversion& Conversion);
