#include "ReverieFrameWriter.h"

#include "Async/ParallelFor.h"

void WriteReverieFrame(const reverie_frame_planes& Planes, const FReverieReadbackView& Readback,
					   const ReverieMath::FrameConversion& Conversion)
{
	check(Planes.width == Conversion.Width && Planes.height == Conversion.Height);
	check(Planes.motion_format == REVERIE_MOTION_F32);
	// 1080p is 34 chunks: enough to spread over the task graph's workers, few enough that
	// scheduling costs nothing next to the per-pixel reprojection.
	constexpr uint32 RowsPerChunk = 32;
	const uint32 Height = Conversion.Height;
	const int32 Chunks = static_cast<int32>((Height + RowsPerChunk - 1) / RowsPerChunk);
	const size_t ColorPitch = static_cast<size_t>(Readback.ColorPitchPixels) * 4;
	ParallelFor(Chunks, [&](int32 Chunk)
				{
					const uint32 Begin = static_cast<uint32>(Chunk) * RowsPerChunk;
					const uint32 End = FMath::Min(Height, Begin + RowsPerChunk);
					ReverieMath::CopyRows(Readback.Color + Begin * ColorPitch, ColorPitch,
										  static_cast<uint8*>(Planes.color) + Begin * Planes.color_pitch, Planes.color_pitch,
										  static_cast<size_t>(Conversion.Width) * 4, End - Begin);
					ReverieMath::ConvertRows(Readback.Aux, Readback.AuxPitchPixels, Conversion, Begin, End, Planes.depth,
											 Planes.depth_pitch, Planes.motion, Planes.motion_pitch);
				});
}
