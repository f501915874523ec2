// Checks ReverieMath.h (the Unreal plugin's engine-independent math) against cases whose
// answers are known analytically: cameras built the way the engine builds them (UE world
// axes: X forward, Y right, Z up; reversed-Z projections), points projected in two frames
// by explicit formulas, and the reconstructed motion compared with where each point really
// was. Built and run by tests/test_unreal_math.py; prints one line per failed check and
// exits non-zero if any failed.
#include "ReverieMath.h"
#include "ue_camera.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

using namespace ReverieMath;
using namespace UeCamera;

static int Failures = 0;
static int Checks = 0;

#define CHECK(cond, ...)                                          \
	do                                                            \
	{                                                             \
		++Checks;                                                 \
		if (!(cond))                                              \
		{                                                         \
			++Failures;                                           \
			std::printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			std::printf(__VA_ARGS__);                             \
			std::printf("\n");                                    \
		}                                                         \
	} while (0)

static bool Near(double A, double B, double Tol) { return std::fabs(A - B) <= Tol; }

static Mat4 ClipToPrev(const Camera& Cur, const Camera& Prev)
{
	Mat4 M;
	const bool Ok = ClipToPrevClip(Cur.Transform(), Prev.Transform(), M);
	CHECK(Ok, "ClipToPrevClip failed");
	return M;
}

// Every point of a grid over the current frame, at several depths: the reconstructed
// motion must land the pixel on the point's previous projection.
static double MaxReprojectionError(const Camera& Cur, const Camera& Prev)
{
	const Mat4 M = ClipToPrev(Cur, Prev);
	double Worst = 0;
	for (double Z : {15.0, 120.0, 900.0, 7000.0, 60000.0})
	{
		for (int J = 0; J < 9; ++J)
		{
			for (int I = 0; I < 16; ++I)
			{
				const double Px = (I + 0.5) * Cur.Width / 16, Py = (J + 0.5) * Cur.Height / 9;
				const V3 P = PointAt(Cur, Px, Py, Z);
				if (Prev.ToView(P).Z <= Prev.Near)
				{
					continue; // behind the previous camera: no previous pixel to land on
				}
				const Vec2 Motion = CameraMotion(Px, Py, Cur.DeviceZ(P), M, Cur.Width, Cur.Height);
				const double Ex = std::fabs(Px + Motion.X - Prev.PixelX(P));
				const double Ey = std::fabs(Py + Motion.Y - Prev.PixelY(P));
				Worst = std::fmax(Worst, std::fmax(Ex, Ey));
			}
		}
	}
	return Worst;
}

// ------------------------------------------------------------------ depth

static void TestDepth()
{
	// Infinite reversed-Z (the engine's default): device z = near / z.
	Camera C;
	C.Position = {0, 0, 0};
	const DeviceZToDepth T = MakeDeviceZToDepth(C.Projection());
	for (double Z : {10.0, 11.0, 250.0, 4321.0, 1e5, 9e6})
	{
		const float Dz = C.DeviceZ(PointAt(C, 100, 50, Z));
		CHECK(Near(Dz, C.Near / Z, 1e-6 * C.Near / Z), "device z %g for z %g", Dz, Z);
		const double Back = SceneDepthFromDeviceZ(Dz, T);
		CHECK(Near(Back, Z, 1e-6 * Z), "infinite far: %g -> %g", Z, Back);
		const float Meters = DepthMeters(Dz, T, 100.0, 1e6f);
		CHECK(Near(Meters, Z / 100, 1e-6 * Z / 100), "meters %g for %g cm", Meters, Z);
	}
	// A finite far plane.
	C.Far = 50000;
	const DeviceZToDepth TF = MakeDeviceZToDepth(C.Projection());
	for (double Z : {10.0, 333.0, 20000.0, 49999.0})
	{
		const float Dz = C.DeviceZ(PointAt(C, 10, 170, Z));
		const double Back = SceneDepthFromDeviceZ(Dz, TF);
		CHECK(Near(Back, Z, 2e-6 * Z), "finite far: %g -> %g", Z, Back);
	}
	// Orthographic, reversed (FReversedZOrthoMatrix's entries): device z = z * M[2][2] + M[3][2],
	// with M[2][2] = -ZScale and M[3][2] = 1 - near * ZScale.
	{
		Mat4 Ortho;
		const double N = 0, Fz = 20000, ZScale = 1.0 / (Fz - N);
		Ortho.M[0][0] = 1.0 / 500;
		Ortho.M[1][1] = 1.0 / 300;
		Ortho.M[2][2] = -ZScale;
		Ortho.M[3][2] = 1.0 - N * ZScale;
		Ortho.M[3][3] = 1;
		const DeviceZToDepth TO = MakeDeviceZToDepth(Ortho);
		for (double Z : {0.0, 100.0, 12345.0, 19999.0})
		{
			const double Dz = Z * Ortho.M[2][2] + Ortho.M[3][2];
			CHECK(Near(SceneDepthFromDeviceZ(Dz, TO), Z, 1e-6 * (Z + 1)), "ortho %g -> %g", Z,
				  SceneDepthFromDeviceZ(Dz, TO));
		}
	}
	// Near, far and vertical field of view back from the projections.
	{
		Camera P;
		P.Width = 400;
		P.Height = 100;
		P.HalfFovXDeg = 40;
		P.Near = 12;
		const ProjectionPlanes Inf = PlanesFromProjection(P.Projection());
		const double FovY = 2 * std::atan(std::tan(40 * M_PI / 180) * 100 / 400);
		CHECK(Near(Inf.Near, 12, 1e-9) && Inf.Far == 0 && Near(Inf.FovY, FovY, 1e-12),
			  "infinite: near %g far %g fov %g (want 12, 0, %g)", Inf.Near, Inf.Far, Inf.FovY, FovY);
		P.Far = 30000;
		const ProjectionPlanes Fin = PlanesFromProjection(P.Projection());
		CHECK(Near(Fin.Near, 12, 1e-6) && Near(Fin.Far, 30000, 1e-6), "finite: near %g far %g", Fin.Near, Fin.Far);
	}
	// The sky and garbage become the finite maximum (the protocol rejects inf and NaN).
	CHECK(DepthMeters(0.0, T, 100.0, 1000.0f) == 1000.0f, "sky -> max");
	CHECK(DepthMeters(-0.5, T, 100.0, 1000.0f) == 1000.0f, "behind -> max");
	CHECK(DepthMeters(std::nan(""), T, 100.0, 1000.0f) == 1000.0f, "NaN -> max");
	CHECK(DepthMeters(C.Near / 1e7, T, 100.0, 1000.0f) == 1000.0f, "100 km clamps to max");
	// Another world scale (WorldToMeters 50: 1 unit = 2 cm).
	CHECK(Near(DepthMeters(C.Near / 500.0, T, 50.0, 1000.0f), 10.0, 1e-5), "world scale 50");
}

// ------------------------------------------------------------------ pixels, jitter

static void TestScreen()
{
	const double W = 320, H = 180;
	const Vec2 TopLeft = PixelToScreen(0.5, 0.5, W, H);
	CHECK(Near(TopLeft.X, -1 + 1 / W, 1e-12) && Near(TopLeft.Y, 1 - 1 / H, 1e-12),
		  "pixel (0.5, 0.5) is the top-left texel center: screen (%g, %g)", TopLeft.X, TopLeft.Y);
	const Vec2 Bottom = PixelToScreen(W / 2, H, W, H);
	CHECK(Near(Bottom.Y, -1, 1e-12), "row H is the bottom (screen y -1): %g", Bottom.Y);
	const Vec2 Back = ScreenToPixel(0.3, -0.7, W, H);
	const Vec2 There = PixelToScreen(Back.X, Back.Y, W, H);
	CHECK(Near(There.X, 0.3, 1e-12) && Near(There.Y, -0.7, 1e-12), "screen <-> pixel round trip");

	// Jitter: a jittered projection moves every projected point by JitterToPixels.
	Camera C;
	C.Position = {0, 0, 0};
	const double SampleX = 0.31, SampleY = -0.22; // TemporalJitterPixels
	const double Jx = SampleX * 2 / C.Width, Jy = SampleY * -2 / C.Height;
	Mat4 Jittered = C.Projection();
	Jittered.M[2][0] += Jx; // FViewMatrices::HackAddTemporalAAProjectionJitter
	Jittered.M[2][1] += Jy;
	const V3 P = PointAt(C, 200.25, 33.5, 480);
	const V3 V = C.ToView(P);
	const Vec4 Clip = ReverieMath::Transform({V.X, V.Y, V.Z, 1}, Jittered);
	const Vec2 Px = ScreenToPixel(Clip.X / Clip.W, Clip.Y / Clip.W, C.Width, C.Height);
	const Vec2 J = JitterToPixels(Jx, Jy, C.Width, C.Height);
	CHECK(Near(J.X, SampleX, 1e-12) && Near(J.Y, SampleY, 1e-12), "jitter pixels (%g, %g)", J.X, J.Y);
	CHECK(Near(Px.X - 200.25, J.X, 1e-9) && Near(Px.Y - 33.5, J.Y, 1e-9), "jittered shift (%g, %g)",
		  Px.X - 200.25, Px.Y - 33.5);
}

// ------------------------------------------------------------------ camera motion

static void TestCameraMotionSigns()
{
	// Strafing right: the world slides left on screen, so a pixel's previous position is
	// to its right: dx > 0. Wrong x sign fails here.
	Camera Prev, Cur;
	Prev.Position = {0, 0, 0};
	Cur = Prev;
	Cur.Position.Y += 50; // UE +Y is right
	const V3 P = PointAt(Cur, 160, 90, 1000);
	const Vec2 M = CameraMotion(160, 90, Cur.DeviceZ(P), ClipToPrev(Cur, Prev), Cur.Width, Cur.Height);
	const double Expected = Prev.PixelX(P) - 160; // = W/2 * 50 / (1000 * tan 45) = 8 px
	CHECK(Near(Expected, 8.0, 1e-9), "analytic strafe %g", Expected);
	CHECK(Near(M.X, 8.0, 1e-3) && Near(M.Y, 0.0, 1e-3), "strafe right: motion (%g, %g), want (8, 0)", M.X, M.Y);

	// Rising: the world slides down on screen, the previous position is higher up, which is
	// a smaller row with row 0 at the top: dy < 0. A missing y flip fails here.
	Cur = Prev;
	Cur.Position.Z += 50; // UE +Z is up
	const V3 Q = PointAt(Cur, 160, 90, 1000);
	const Vec2 N = CameraMotion(160, 90, Cur.DeviceZ(Q), ClipToPrev(Cur, Prev), Cur.Width, Cur.Height);
	const double ExpectedY = Prev.PixelY(Q) - 90; // = -H/2 * 50 * (W/H) / 1000 = -8 px
	CHECK(Near(ExpectedY, -8.0, 1e-9), "analytic rise %g", ExpectedY);
	CHECK(Near(N.X, 0.0, 1e-3) && Near(N.Y, -8.0, 1e-3), "rise: motion (%g, %g), want (0, -8)", N.X, N.Y);

	// Turning left (yaw decreases): the world slides right on screen, the previous position
	// is to the left: dx < 0. At the center, for a 1 degree turn: W/2 * tan(1 deg) / tan(45 deg).
	Cur = Prev;
	Cur.YawDeg -= 1;
	const V3 R = PointAt(Cur, 160, 90, 3000);
	const Vec2 T = CameraMotion(160, 90, Cur.DeviceZ(R), ClipToPrev(Cur, Prev), Cur.Width, Cur.Height);
	const double TurnPx = -160 * std::tan(M_PI / 180);
	CHECK(Near(T.X, TurnPx, 1e-3) && Near(T.Y, 0, 1e-3), "turn left: motion (%g, %g), want (%g, 0)", T.X, T.Y,
		  TurnPx);

	// The sky (device z 0, infinitely far) moves with rotation only, never with translation.
	Cur = Prev;
	Cur.Position = {500, -300, 80};
	const Vec2 S = CameraMotion(40.5, 20.5, 0.0, ClipToPrev(Cur, Prev), Cur.Width, Cur.Height);
	CHECK(Near(S.X, 0, 1e-9) && Near(S.Y, 0, 1e-9), "sky under translation: (%g, %g)", S.X, S.Y);
}

static void TestCameraMotionGeneral()
{
	// Translation and rotation together, some views at large world coordinates (the
	// engine's PreViewTranslation keeps them precise), a finite far plane, other sizes.
	struct Case
	{
		const char* Name = "";
		Camera Prev, Cur;
	};
	std::vector<Case> Cases;
	{
		Case K;
		K.Name = "walk and turn";
		K.Prev.Position = {100, 200, 170};
		K.Prev.YawDeg = 30;
		K.Prev.PitchDeg = -5;
		K.Cur = K.Prev;
		K.Cur.Position = {112, 205, 171};
		K.Cur.YawDeg = 31.5;
		K.Cur.PitchDeg = -4.2;
		Cases.push_back(K);
	}
	{
		Case K;
		K.Name = "orbit far from the origin";
		K.Prev.Position = {8.0e7, -3.5e7, 12000}; // 800 km out
		K.Prev.YawDeg = 200;
		K.Prev.PitchDeg = 10;
		K.Cur = K.Prev;
		K.Cur.Position = {8.0e7 + 30, -3.5e7 - 45, 12010};
		K.Cur.YawDeg = 203;
		K.Cur.PitchDeg = 8;
		Cases.push_back(K);
	}
	{
		Case K;
		K.Name = "translated-world offset, finite far, 4:3";
		K.Prev.Position = {-500, 40, 300};
		K.Prev.YawDeg = -90;
		K.Prev.Width = 640;
		K.Prev.Height = 480;
		K.Prev.HalfFovXDeg = 35;
		K.Prev.Far = 2.0e5;
		K.Prev.PreViewOffset[0] = 17;
		K.Prev.PreViewOffset[1] = -3;
		K.Prev.PreViewOffset[2] = 9;
		K.Cur = K.Prev;
		K.Cur.Position = {-520, 44, 290};
		K.Cur.YawDeg = -86;
		K.Cur.PitchDeg = 3;
		K.Cur.PreViewOffset[0] = -4;
		Cases.push_back(K);
	}
	{
		Case K;
		K.Name = "fast turn";
		K.Prev.Position = {0, 0, 100};
		K.Cur = K.Prev;
		K.Cur.YawDeg = 12;
		K.Cur.PitchDeg = -6;
		Cases.push_back(K);
	}
	for (const Case& K : Cases)
	{
		const double Err = MaxReprojectionError(K.Cur, K.Prev);
		CHECK(Err < 1e-3, "%s: worst reprojection error %g px", K.Name, Err);
	}

	// No camera change: zero motion everywhere.
	Camera Still;
	Still.Position = {1, 2, 3};
	Still.YawDeg = 77;
	const Mat4 I = ClipToPrev(Still, Still);
	const Vec2 Z = CameraMotion(12.5, 170.5, 0.013f, I, Still.Width, Still.Height);
	CHECK(Near(Z.X, 0, 1e-9) && Near(Z.Y, 0, 1e-9), "still camera: (%g, %g)", Z.X, Z.Y);

	// A point that was behind the previous camera gets a finite motion that leaves the frame.
	Camera Prev, Cur;
	Prev.Position = {0, 0, 0};
	Cur.Position = {-200, 0, 0}; // stepped back 2 m
	const V3 P = PointAt(Cur, 160, 90, 150); // 50 cm behind the previous camera
	const Vec2 M = CameraMotion(160, 90, Cur.DeviceZ(P), ClipToPrev(Cur, Prev), Cur.Width, Cur.Height);
	CHECK(std::isfinite(M.X) && std::isfinite(M.Y), "behind the previous camera: finite");
	CHECK(160 + M.X < 0 || 160 + M.X > Cur.Width || 90 + M.Y < 0 || 90 + M.Y > Cur.Height,
		  "behind the previous camera: off screen (%g, %g)", M.X, M.Y);
}

// ------------------------------------------------------------------ velocity buffer

static void TestVelocity()
{
	// Hand-computed: UE velocity is current - previous screen position, y up.
	const Vec2 Right = VelocityToMotion(0.1, 0, 200, 100);
	CHECK(Near(Right.X, -10, 1e-12) && Near(Right.Y, 0, 1e-12), "moving right: (%g, %g), want (-10, 0)", Right.X,
		  Right.Y);
	const Vec2 Up = VelocityToMotion(0, 0.1, 200, 100);
	CHECK(Near(Up.X, 0, 1e-12) && Near(Up.Y, 5, 1e-12), "moving up on screen: (%g, %g), want (0, 5)", Up.X, Up.Y);

	// An object moving in the world while the camera also moves: the engine writes
	// velocity = screen position now - screen position of where the object was. The motion
	// must land on the object's previous projection.
	Camera Prev, Cur;
	Prev.Position = {0, 0, 0};
	Prev.YawDeg = 5;
	Cur = Prev;
	Cur.Position = {10, 4, 0};
	Cur.YawDeg = 6;
	const V3 Now = PointAt(Cur, 210.5, 60.5, 800);
	const V3 Before = {Now.X - 20, Now.Y + 35, Now.Z - 12};
	const Vec2 ScreenNow = PixelToScreen(210.5, 60.5, Cur.Width, Cur.Height);
	const Vec2 ScreenBefore = PixelToScreen(Prev.PixelX(Before), Prev.PixelY(Before), Prev.Width, Prev.Height);
	const Vec2 M = VelocityToMotion(ScreenNow.X - ScreenBefore.X, ScreenNow.Y - ScreenBefore.Y, Cur.Width, Cur.Height);
	CHECK(Near(210.5 + M.X, Prev.PixelX(Before), 1e-6) && Near(60.5 + M.Y, Prev.PixelY(Before), 1e-6),
		  "object: lands at (%g, %g), was at (%g, %g)", 210.5 + M.X, 60.5 + M.Y, Prev.PixelX(Before),
		  Prev.PixelY(Before));

	// Absurd or broken values stay finite.
	const Vec2 Huge = VelocityToMotion(1e30, std::nan(""), 200, 100);
	CHECK(std::isfinite(Huge.X) && std::isfinite(Huge.Y), "clamped: (%g, %g)", Huge.X, Huge.Y);
}

// ------------------------------------------------------------------ readback rows to protocol planes

static void TestConvertRows()
{
	// A 5x3 frame read back with rows padded to 8 texels, as GPU readbacks pad them.
	const uint32_t W = 5, H = 3, Pitch = 8;
	Camera Prev, Cur;
	Prev.Position = {0, 0, 0};
	Prev.Width = Cur.Width = W;
	Prev.Height = Cur.Height = H;
	Cur.Position = {0, 30, 0};

	FrameConversion F;
	F.Width = W;
	F.Height = H;
	F.Depth = MakeDeviceZToDepth(Cur.Projection());
	F.MaxDepthMeters = 1000;
	F.ClipToPrev = ClipToPrev(Cur, Prev);

	std::vector<CaptureTexel> Texels(Pitch * H, CaptureTexel{-1, -1, -1, -1}); // padding: garbage
	std::vector<double> Depths(W * H);
	for (uint32_t Y = 0; Y < H; ++Y)
	{
		for (uint32_t X = 0; X < W; ++X)
		{
			const double Z = 200.0 + 100 * X + 37 * Y;
			Depths[Y * W + X] = Z;
			const V3 P = PointAt(Cur, X + 0.5, Y + 0.5, Z);
			Texels[Y * Pitch + X] = {Cur.DeviceZ(P), 0, 0, 0};
		}
	}
	// (1, 1): a moving object with zero screen velocity (it moves with the camera): the
	// written velocity wins over camera motion. (3, 2): the sky.
	Texels[1 * Pitch + 1] = {Texels[1 * Pitch + 1].DeviceZ, 0, 0, 1};
	Texels[2 * Pitch + 3] = {0, 0, 0, 0};
	// (4, 0): a written velocity.
	Texels[0 * Pitch + 4] = {Texels[0 * Pitch + 4].DeviceZ, 0.4f, -0.2f, 1};

	// Color readback rows padded like the texels; the planes tightly packed, as in a slot.
	std::vector<uint8_t> ColorSrc(Pitch * 4 * H), ColorDst(W * 4 * H, 0);
	for (size_t I = 0; I < ColorSrc.size(); ++I)
	{
		ColorSrc[I] = static_cast<uint8_t>(I * 7 + 3);
	}
	std::vector<float> Depth(W * H, -7), Motion(W * H * 2, -7);
	ReadbackRows Src;
	Src.Color = ColorSrc.data();
	Src.ColorPitch = Pitch * 4;
	Src.Texels = Texels.data();
	Src.TexelPitch = Pitch;
	PlaneRows Dst;
	Dst.Color = ColorDst.data();
	Dst.ColorPitch = W * 4;
	Dst.Depth = Depth.data();
	Dst.DepthPitch = W * 4;
	Dst.Motion = Motion.data();
	Dst.MotionPitch = W * 8;
	WriteFrameRows(Src, F, 0, 2, Dst); // split in two calls,
	WriteFrameRows(Src, F, 2, 3, Dst); // as worker threads would
	bool SameColor = true;
	for (uint32_t Y = 0; Y < H; ++Y)
	{
		for (uint32_t B = 0; B < W * 4; ++B)
		{
			SameColor = SameColor && ColorDst[Y * W * 4 + B] == ColorSrc[Y * Pitch * 4 + B];
		}
	}
	CHECK(SameColor, "padded color rows copied");
	for (uint32_t Y = 0; Y < H; ++Y)
	{
		for (uint32_t X = 0; X < W; ++X)
		{
			const size_t I = Y * W + X;
			const bool Sky = X == 3 && Y == 2;
			const double WantDepth = Sky ? 1000.0 : Depths[I] / 100;
			CHECK(Near(Depth[I], WantDepth, 1e-5 * WantDepth), "depth (%u, %u) = %g, want %g", X, Y, Depth[I], WantDepth);
			double Wx, Wy;
			if (X == 1 && Y == 1)
			{
				Wx = Wy = 0;
			}
			else if (X == 4 && Y == 0)
			{
				Wx = -0.4 * 0.5 * W;
				Wy = -0.2 * 0.5 * H;
			}
			else if (Sky)
			{
				Wx = Wy = 0; // infinitely far: a sideways step does not move it
			}
			else
			{
				const V3 P = PointAt(Cur, X + 0.5, Y + 0.5, Depths[I]);
				Wx = Prev.PixelX(P) - (X + 0.5);
				Wy = Prev.PixelY(P) - (Y + 0.5);
			}
			CHECK(Near(Motion[2 * I], Wx, 1e-3) && Near(Motion[2 * I + 1], Wy, 1e-3), "motion (%u, %u) = (%g, %g), want (%g, %g)",
				  X, Y, Motion[2 * I], Motion[2 * I + 1], Wx, Wy);
		}
	}

	// Already tight rows are copied in one go.
	std::vector<uint8_t> Tight(W * 4 * H, 0);
	CopyRows(ColorDst.data(), W * 4, Tight.data(), W * 4, W * 4, H);
	CHECK(Tight == ColorDst, "tight rows copied");
}

int main()
{
	TestDepth();
	TestScreen();
	TestCameraMotionSigns();
	TestCameraMotionGeneral();
	TestVelocity();
	TestConvertRows();
	std::printf("%d checks, %d failed\n", Checks, Failures);
	return Failures == 0 ? 0 : 1;
}
