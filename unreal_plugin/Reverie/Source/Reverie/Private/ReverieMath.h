// Engine-independent math of the Reverie Unreal plugin: Unreal's buffer conventions to the
// Reverie protocol's (docs/protocol.md 2.5). Plain C++17 with no Unreal includes, so that
// unreal_plugin/Tests/math_test.cpp checks it with g++ outside the engine; the plugin
// (ReverieFrameWriter.cpp) calls it on every captured frame.
//
// Unreal's conventions, as its renderer uses them:
//   - FMatrix multiplies row vectors from the left: p' = p * M, element M[row][col].
//   - View space: x right, y up, z forward (the view depth). Projections are reversed-Z:
//     device z is 1 at the near plane and 0 at the far plane, which is at infinity for
//     perspective views unless a far plane is set.
//   - Screen position (NDC): x right and y UP, -1..1 across the view rect.
//   - Velocity (after the engine's DecodeVelocityFromTexture): current minus previous
//     screen position, with the TAA jitter removed from both.
//   - World units are centimeters (WorldToMeters = 100 by default).
// The protocol's: pixels with x right and y DOWN, row 0 at the top, the center of pixel
// (i, j) at (i + 0.5, j + 0.5); motion is (previous position - current position) in
// pixels; depth is linear view depth in meters and always finite.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ReverieMath
{

struct Vec2
{
	double X = 0.0;
	double Y = 0.0;
};

struct Vec4
{
	double X = 0.0;
	double Y = 0.0;
	double Z = 0.0;
	double W = 0.0;
};

// A 4x4 matrix laid out as Unreal's FMatrix: M[row][col], applied as p' = p * M.
struct Mat4
{
	double M[4][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}};
};

inline Vec4 Transform(const Vec4& P, const Mat4& A)
{
	const double In[4] = {P.X, P.Y, P.Z, P.W};
	double Out[4];
	for (int Col = 0; Col < 4; ++Col)
	{
		Out[Col] = In[0] * A.M[0][Col] + In[1] * A.M[1][Col] + In[2] * A.M[2][Col] + In[3] * A.M[3][Col];
	}
	return {Out[0], Out[1], Out[2], Out[3]};
}

// A then B: p * Multiply(A, B) == (p * A) * B, as FMatrix's operator*.
inline Mat4 Multiply(const Mat4& A, const Mat4& B)
{
	Mat4 R;
	for (int Row = 0; Row < 4; ++Row)
	{
		for (int Col = 0; Col < 4; ++Col)
		{
			R.M[Row][Col] = A.M[Row][0] * B.M[0][Col] + A.M[Row][1] * B.M[1][Col] + A.M[Row][2] * B.M[2][Col] +
							A.M[Row][3] * B.M[3][Col];
		}
	}
	return R;
}

// FTranslationMatrix(T): p * Translation(T) = p + T for points (w = 1).
inline Mat4 Translation(double X, double Y, double Z)
{
	Mat4 R;
	R.M[3][0] = X;
	R.M[3][1] = Y;
	R.M[3][2] = Z;
	return R;
}

// Gauss-Jordan elimination with partial pivoting; false when A is singular.
inline bool Invert(const Mat4& A, Mat4& Out)
{
	double W[4][8];
	for (int Row = 0; Row < 4; ++Row)
	{
		for (int Col = 0; Col < 4; ++Col)
		{
			W[Row][Col] = A.M[Row][Col];
			W[Row][Col + 4] = Row == Col ? 1.0 : 0.0;
		}
	}
	for (int Col = 0; Col < 4; ++Col)
	{
		int Pivot = Col;
		for (int Row = Col + 1; Row < 4; ++Row)
		{
			if (std::fabs(W[Row][Col]) > std::fabs(W[Pivot][Col]))
			{
				Pivot = Row;
			}
		}
		if (!(std::fabs(W[Pivot][Col]) > 1e-300))
		{
			return false;
		}
		if (Pivot != Col)
		{
			for (int K = 0; K < 8; ++K)
			{
				const double T = W[Col][K];
				W[Col][K] = W[Pivot][K];
				W[Pivot][K] = T;
			}
		}
		const double Inv = 1.0 / W[Col][Col];
		for (int K = 0; K < 8; ++K)
		{
			W[Col][K] *= Inv;
		}
		for (int Row = 0; Row < 4; ++Row)
		{
			if (Row != Col && W[Row][Col] != 0.0)
			{
				const double F = W[Row][Col];
				for (int K = 0; K < 8; ++K)
				{
					W[Row][K] -= F * W[Col][K];
				}
			}
		}
	}
	for (int Row = 0; Row < 4; ++Row)
	{
		for (int Col = 0; Col < 4; ++Col)
		{
			Out.M[Row][Col] = W[Row][Col + 4];
		}
	}
	return true;
}

// ------------------------------------------------------------------ depth

// Unreal's InvDeviceZToWorldZTransform: scene depth (world units) from device z with one
// formula for perspective and orthographic projections (the shaders' ConvertFromDeviceZ):
//   depth = DeviceZ * A + B + 1 / (DeviceZ * C - D)
struct DeviceZToDepth
{
	double A = 0.0;
	double B = 0.0;
	double C = 1.0;
	double D = 0.0;
};

// From the projection matrix (jitter does not touch the entries used). Perspective:
// device z = M[2][2] + M[3][2] / z, so z = 1 / (DeviceZ / M[3][2] - M[2][2] / M[3][2]);
// with an infinite far plane M[2][2] is 0 and z = near / DeviceZ.
// Orthographic (M[3][3] == 1): device z = z * M[2][2] + M[3][2], linear.
inline DeviceZToDepth MakeDeviceZToDepth(const Mat4& Projection)
{
	const double DepthMul = Projection.M[2][2];
	double DepthAdd = Projection.M[3][2];
	if (DepthAdd == 0.0)
	{
		DepthAdd = 1e-8; // as the engine does, to keep the division finite
	}
	DeviceZToDepth T;
	const bool bPerspective = Projection.M[3][3] < 1.0;
	if (bPerspective)
	{
		T.A = 0.0;
		T.B = 0.0;
		T.C = 1.0 / DepthAdd;
		T.D = DepthMul / DepthAdd;
	}
	else
	{
		const double Mul = DepthMul == 0.0 ? 1e-8 : DepthMul;
		T.A = 1.0 / Mul;
		T.B = -DepthAdd / Mul + 1.0;
		T.C = 0.0;
		T.D = 1.0;
	}
	return T;
}

// Scene depth in world units; +inf for the infinite far plane (device z 0, the sky).
inline double SceneDepthFromDeviceZ(double DeviceZ, const DeviceZToDepth& T)
{
	return DeviceZ * T.A + T.B + 1.0 / (DeviceZ * T.C - T.D);
}

// Linear view depth in meters as the protocol wants it: finite, at most MaxMeters. The sky
// (device z 0), anything beyond MaxMeters, behind the camera or not a number becomes
// MaxMeters, the protocol's sky depth (REVERIE_SKY_DEPTH_METERS, where the training world puts its sky).
inline float DepthMeters(double DeviceZ, const DeviceZToDepth& T, double WorldUnitsPerMeter, float MaxMeters)
{
	const double Meters = SceneDepthFromDeviceZ(DeviceZ, T) / WorldUnitsPerMeter;
	if (!(Meters > 0.0) || !(Meters < MaxMeters)) // NaN fails both tests
	{
		return MaxMeters;
	}
	return static_cast<float>(Meters);
}

// The camera fields of a protocol frame from a perspective projection (reversed-Z), in
// world units and radians: device z is 1 at the near plane, so near = M[3][2] / (1 - M[2][2]);
// the far plane is where device z reaches 0, infinite (reported as 0, "unknown") when
// M[2][2] is 0; fov_y = 2 atan(1 / M[1][1]). Orthographic projections report zeros.
struct ProjectionPlanes
{
	double Near = 0.0;
	double Far = 0.0;
	double FovY = 0.0;
};

inline ProjectionPlanes PlanesFromProjection(const Mat4& Projection)
{
	ProjectionPlanes P;
	if (!(Projection.M[3][3] < 1.0) || Projection.M[1][1] == 0.0)
	{
		return P;
	}
	P.Near = Projection.M[3][2] / (1.0 - Projection.M[2][2]);
	P.Far = Projection.M[2][2] == 0.0 ? 0.0 : -Projection.M[3][2] / Projection.M[2][2];
	P.FovY = 2.0 * std::atan(1.0 / Projection.M[1][1]);
	return P;
}

// ------------------------------------------------------------------ screen and pixels

// Pixel coordinates (x right, y down, 0..Width x 0..Height over the view rect) to Unreal's
// screen position (x right, y up, -1..1), and back.
inline Vec2 PixelToScreen(double Px, double Py, double Width, double Height)
{
	return {Px / Width * 2.0 - 1.0, 1.0 - Py / Height * 2.0};
}

inline Vec2 ScreenToPixel(double Sx, double Sy, double Width, double Height)
{
	return {(Sx + 1.0) * 0.5 * Width, (1.0 - Sy) * 0.5 * Height};
}

// FViewMatrices::GetTemporalAAJitter() (the offset added to the projection, in screen
// units) to pixels in the protocol's orientation; this is what the engine's
// TemporalJitterPixels holds: the engine adds (SampleX * 2 / W, SampleY * -2 / H).
inline Vec2 JitterToPixels(double ProjectionJitterX, double ProjectionJitterY, double Width, double Height)
{
	return {ProjectionJitterX * 0.5 * Width, -ProjectionJitterY * 0.5 * Height};
}

// ------------------------------------------------------------------ motion

// Motion components beyond this many frame sizes are clamped: the pixel came from far off
// screen (or from behind the previous camera), and the protocol needs finite numbers.
constexpr double kMaxMotionFrames = 4.0;

inline double ClampMotion(double Value, double Limit)
{
	if (!(Value == Value)) // NaN: treat as "came from off screen"
	{
		return Limit;
	}
	return Value < -Limit ? -Limit : (Value > Limit ? Limit : Value);
}

// A decoded velocity-buffer value (current - previous screen position) to protocol motion
// (previous - current, pixels, y down). x flips sign; y flips twice (difference order and
// the y axis), so it keeps its sign.
inline Vec2 VelocityToMotion(double VelocityX, double VelocityY, double Width, double Height)
{
	const double Limit = kMaxMotionFrames * (Width > Height ? Width : Height);
	return {ClampMotion(-VelocityX * 0.5 * Width, Limit), ClampMotion(VelocityY * 0.5 * Height, Limit)};
}

// The camera's view of the world in one frame, as FViewMatrices holds it (all without the
// TAA jitter): translated world = world + PreViewTranslation (the engine keeps the camera
// near the origin of translated world, for precision with large world coordinates).
struct ViewTransform
{
	Mat4 TranslatedView;               // GetTranslatedViewMatrix(): translated world -> view
	double PreViewTranslation[3] = {}; // GetPreViewTranslation()
	Mat4 Projection;                   // ComputeProjectionNoAAMatrix(): view -> clip
};

// Clip space of this frame to clip space of the previous one, as the engine forms its view
// uniform ClipToPrevClip: inverse(projection * translated view) of this frame, the shift
// between the two translated worlds, then the previous translated view and projection.
// False when a matrix cannot be inverted (a degenerate view).
inline bool ClipToPrevClip(const ViewTransform& Current, const ViewTransform& Previous, Mat4& Out)
{
	Mat4 InvProjection;
	Mat4 InvTranslatedView;
	if (!Invert(Current.Projection, InvProjection) || !Invert(Current.TranslatedView, InvTranslatedView))
	{
		return false;
	}
	const Mat4 Shift = Translation(Previous.PreViewTranslation[0] - Current.PreViewTranslation[0],
								   Previous.PreViewTranslation[1] - Current.PreViewTranslation[1],
								   Previous.PreViewTranslation[2] - Current.PreViewTranslation[2]);
	const Mat4 ClipToTranslatedWorld = Multiply(InvProjection, InvTranslatedView);
	const Mat4 ToPreviousTranslatedWorld = Multiply(ClipToTranslatedWorld, Shift);
	Out = Multiply(Multiply(ToPreviousTranslatedWorld, Previous.TranslatedView), Previous.Projection);
	return true;
}

// Motion of a static surface seen at pixel position (Px, Py) with device depth DeviceZ,
// moved only by the camera: reproject through ClipToPrevClip, as the engine's TAA does for
// pixels the velocity buffer leaves empty. Px, Py are pixel coordinates (a pixel's center
// is (i + 0.5, j + 0.5)); the result lands the pixel on its previous position.
inline Vec2 CameraMotion(double Px, double Py, double DeviceZ, const Mat4& ClipToPrev, double Width, double Height)
{
	const Vec2 Screen = PixelToScreen(Px, Py, Width, Height);
	const Vec4 PrevClip = Transform({Screen.X, Screen.Y, DeviceZ, 1.0}, ClipToPrev);
	const double Limit = kMaxMotionFrames * (Width > Height ? Width : Height);
	if (!(PrevClip.W > 1e-12))
	{
		// Behind (or on) the previous camera plane: it was not on screen then.
		return {Limit, 0.0};
	}
	const Vec2 Prev = ScreenToPixel(PrevClip.X / PrevClip.W, PrevClip.Y / PrevClip.W, Width, Height);
	return {ClampMotion(Prev.X - Px, Limit), ClampMotion(Prev.Y - Py, Limit)};
}

// ------------------------------------------------------------------ frames

// One texel of the plugin's capture texture (PF_A32B32G32R32F, written by
// Shaders/Private/ReverieCapture.usf): device z, the decoded velocity and whether the
// velocity buffer held a value there (moving objects only; the rest is camera motion).
struct CaptureTexel
{
	float DeviceZ;
	float VelocityX;
	float VelocityY;
	float VelocityWritten; // 1 where the velocity buffer was written, else 0
};
static_assert(sizeof(CaptureTexel) == 16, "CaptureTexel must match a PF_A32B32G32R32F texel");

// What converting one captured frame needs besides its texels.
struct FrameConversion
{
	uint32_t Width = 0;
	uint32_t Height = 0;
	DeviceZToDepth Depth;
	double WorldUnitsPerMeter = 100.0;
	float MaxDepthMeters = 1000.0f;
	Mat4 ClipToPrev; // identity on a camera cut or the first frame: no camera motion
};

// Copy Rows rows of RowBytes bytes between buffers whose rows are SrcPitch and DstPitch
// bytes apart: GPU readbacks pad their rows (FRHIGPUTextureReadback::Lock reports the row
// pitch in pixels), the protocol's planes are tightly packed.
inline void CopyRows(const void* Src, size_t SrcPitch, void* Dst, size_t DstPitch, size_t RowBytes, size_t Rows)
{
	const unsigned char* S = static_cast<const unsigned char*>(Src);
	unsigned char* D = static_cast<unsigned char*>(Dst);
	if (SrcPitch == RowBytes && DstPitch == RowBytes)
	{
		std::memcpy(D, S, RowBytes * Rows);
		return;
	}
	for (size_t Row = 0; Row < Rows; ++Row)
	{
		std::memcpy(D + Row * DstPitch, S + Row * SrcPitch, RowBytes);
	}
}

// Depth (float meters) and motion (float (dx, dy) pixels) rows [RowBegin, RowEnd) from the
// capture texels; TexelPitch is the readback's row pitch in texels, the plane pitches are in
// bytes. Rows are independent, so callers may split a frame across threads.
inline void ConvertRows(const CaptureTexel* Texels, size_t TexelPitch, const FrameConversion& F, uint32_t RowBegin,
						uint32_t RowEnd, void* DepthPlane, size_t DepthPitch, void* MotionPlane, size_t MotionPitch)
{
	const double W = F.Width;
	const double H = F.Height;
	for (uint32_t Y = RowBegin; Y < RowEnd; ++Y)
	{
		const CaptureTexel* Src = Texels + static_cast<size_t>(Y) * TexelPitch;
		float* Depth = reinterpret_cast<float*>(static_cast<unsigned char*>(DepthPlane) + Y * DepthPitch);
		float* Motion = reinterpret_cast<float*>(static_cast<unsigned char*>(MotionPlane) + Y * MotionPitch);
		for (uint32_t X = 0; X < F.Width; ++X)
		{
			const CaptureTexel& T = Src[X];
			Depth[X] = DepthMeters(T.DeviceZ, F.Depth, F.WorldUnitsPerMeter, F.MaxDepthMeters);
			const Vec2 M = T.VelocityWritten > 0.5f ? VelocityToMotion(T.VelocityX, T.VelocityY, W, H)
													: CameraMotion(X + 0.5, Y + 0.5, T.DeviceZ, F.ClipToPrev, W, H);
			Motion[2 * X] = static_cast<float>(M.X);
			Motion[2 * X + 1] = static_cast<float>(M.Y);
		}
	}
}

// The two readbacks of one captured frame, rows padded as the GPU left them.
struct ReadbackRows
{
	const unsigned char* Color = nullptr; // RGBA8, bytes R, G, B, A: the protocol's color as is
	size_t ColorPitch = 0;                // bytes between rows
	const CaptureTexel* Texels = nullptr;
	size_t TexelPitch = 0;                // texels between rows
};

// The protocol planes to fill: a libreverie slot (reverie_frame_planes) or any buffers with
// the same layout; pitches in bytes; motion is float32 (dx, dy).
struct PlaneRows
{
	void* Color = nullptr;
	size_t ColorPitch = 0;
	void* Depth = nullptr;
	size_t DepthPitch = 0;
	void* Motion = nullptr;
	size_t MotionPitch = 0;
};

// A slot's planes (libreverie's reverie_frame_planes, or anything with its fields) as the
// destination of WriteFrameRows; a template so this header needs no libreverie include.
template <class FramePlanes>
inline PlaneRows PlaneRowsOf(const FramePlanes& Planes)
{
	PlaneRows Rows;
	Rows.Color = Planes.color;
	Rows.ColorPitch = Planes.color_pitch;
	Rows.Depth = Planes.depth;
	Rows.DepthPitch = Planes.depth_pitch;
	Rows.Motion = Planes.motion;
	Rows.MotionPitch = Planes.motion_pitch;
	return Rows;
}

// Rows [RowBegin, RowEnd) of a frame from its readbacks into protocol planes.
inline void WriteFrameRows(const ReadbackRows& Src, const FrameConversion& F, uint32_t RowBegin, uint32_t RowEnd,
						   const PlaneRows& Dst)
{
	CopyRows(Src.Color + RowBegin * Src.ColorPitch, Src.ColorPitch,
			 static_cast<unsigned char*>(Dst.Color) + RowBegin * Dst.ColorPitch, Dst.ColorPitch,
			 static_cast<size_t>(F.Width) * 4, RowEnd - RowBegin);
	ConvertRows(Src.Texels, Src.TexelPitch, F, RowBegin, RowEnd, Dst.Depth, Dst.DepthPitch, Dst.Motion, Dst.MotionPitch);
}

} // namespace ReverieMath
