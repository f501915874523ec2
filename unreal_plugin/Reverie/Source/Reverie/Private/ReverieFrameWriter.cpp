#include "ReverieFrameWriter.h"

#include "Async/ParallelFor.h"

void WriteReverieFrame(const reverie_frame_planes& Planes, const ReverieMath::ReadbackRows& Readback,
					   const ReverieMath::FrameConversion& Conversion)
{
	check(Planes.width == Conversion.Width && Planes.height == Conversion.Height);
	check(Planes.motion_format == REVERIE_MOTION_F32);
	const ReverieMath::PlaneRows Destination = ReverieMath::PlaneRowsOf(Planes);
	// 1080p is 34 chunks: enough to spread over the workers, few enough that scheduling
	// costs nothing next to the per-pixel reprojection.
	constexpr uint32 RowsPerChunk = 32;
	const uint32 Height = Conversion.Height;
	const int32 Chunks = static_cast<int32>((Height + RowsPerChunk - 1) / RowsPerChunk);
	ParallelFor(Chunks, [&](int32 Chunk)
				{
					const uint32 Begin = static_cast<uint32>(Chunk) * RowsPerChunk;
					ReverieMath::WriteFrameRows(Readback, Conversion, Begin, FMath::Min(Height, Begin + RowsPerChunk),
												Destination);
				});
}
