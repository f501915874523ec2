// The plugin's CPU path end to end, outside the engine: a captured frame as the GPU would
// read it back (padded rows; device z and decoded velocity per texel) is written into a
// real libreverie slot with ReverieMath::WriteFrameRows (what ReverieFrameWriter.cpp runs
// on worker threads), submitted with the camera fields the view extension sends, and the
// daemon's answer is fetched. tests/test_unreal_frames.py starts the daemon with the Camera
// test stylizer and checks every plane and field against numbers it derives on its own.
//
// Usage: frame_test CONTROL_ENDPOINT OUT_DIR
// Writes OUT_DIR/{color,depth,motion,output}.bin (the planes as submitted, the daemon's
// output) and prints "FRAME id=N width=W height=H".
#include "ReverieMath.h"
#include "reverie.h"
#include "ue_camera.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace ReverieMath;
using namespace UeCamera;

static const uint32_t W = 64, H = 40;
static const uint32_t PitchTexels = W + 8; // readbacks pad their rows

static bool Save(const std::string& Path, const void* Data, size_t Bytes)
{
	FILE* F = std::fopen(Path.c_str(), "wb");
	if (!F)
	{
		return false;
	}
	const bool Ok = std::fwrite(Data, 1, Bytes, F) == Bytes;
	return std::fclose(F) == 0 && Ok;
}

static int Fail(const char* What, int Result)
{
	std::printf("FAIL %s: %s: %s\n", What, reverie_result_name(Result), reverie_last_error(nullptr));
	return 1;
}

int main(int Argc, char** Argv)
{
	if (Argc != 3)
	{
		std::printf("usage: frame_test CONTROL_ENDPOINT OUT_DIR\n");
		return 2;
	}
	const std::string Out = Argv[2];

	// The scene: a camera that stepped 20 cm to its right, a surface whose view depth grows
	// across the frame, a patch of sky and a moving object with its own velocity.
	Camera Prev;
	Prev.Position = {100, -50, 170};
	Prev.YawDeg = 10;
	Prev.Width = W;
	Prev.Height = H;
	Prev.HalfFovXDeg = 45;
	Camera Cur = Prev;
	const V3 Right = Prev.Right();
	Cur.Position = {Prev.Position.X + 20 * Right.X, Prev.Position.Y + 20 * Right.Y, Prev.Position.Z};

	std::vector<CaptureTexel> Texels(PitchTexels * H, CaptureTexel{-1, -1, -1, -1});
	std::vector<unsigned char> Color(PitchTexels * 4 * H, 0xEE);
	for (uint32_t Y = 0; Y < H; ++Y)
	{
		for (uint32_t X = 0; X < W; ++X)
		{
			CaptureTexel& T = Texels[Y * PitchTexels + X];
			const double Z = 300.0 + 7 * X + 11 * Y;
			T = {Cur.DeviceZ(PointAt(Cur, X + 0.5, Y + 0.5, Z)), 0, 0, 0};
			if (X < 8 && Y < 3)
			{
				T = {0, 0, 0, 0}; // sky
			}
			if (X >= 40 && X < 50 && Y >= 10 && Y < 20)
			{
				T.VelocityX = 0.05f;
				T.VelocityY = -0.03f;
				T.VelocityWritten = 1;
			}
			for (uint32_t C = 0; C < 4; ++C)
			{
				Color[Y * PitchTexels * 4 + X * 4 + C] = static_cast<unsigned char>(X * 3 + Y * 5 + C * 7);
			}
		}
	}

	FrameConversion F;
	F.Width = W;
	F.Height = H;
	F.Depth = MakeDeviceZToDepth(Cur.Projection());
	F.MaxDepthMeters = 1000.0f;
	if (!ClipToPrevClip(Cur.Transform(), Prev.Transform(), F.ClipToPrev))
	{
		std::printf("FAIL ClipToPrevClip\n");
		return 1;
	}

	reverie_config Config;
	reverie_config_init(&Config);
	Config.control = Argv[1];
	Config.client_name = "unreal-frame-test";
	reverie_client* Client = nullptr;
	int R = reverie_connect(&Config, &Client);
	if (R != REVERIE_OK)
	{
		return Fail("reverie_connect", R);
	}
	if ((R = reverie_set_frame_format(Client, W, H, REVERIE_MOTION_F32)) != REVERIE_OK)
	{
		return Fail("reverie_set_frame_format", R);
	}
	reverie_frame_planes Planes;
	if ((R = reverie_begin_frame(Client, &Planes)) != REVERIE_OK)
	{
		return Fail("reverie_begin_frame", R);
	}

	ReadbackRows Src;
	Src.Color = Color.data();
	Src.ColorPitch = PitchTexels * 4;
	Src.Texels = Texels.data();
	Src.TexelPitch = PitchTexels;
	const PlaneRows Dst = PlaneRowsOf(Planes);
	for (uint32_t Begin = 0; Begin < H; Begin += 16) // in chunks, as the plugin's workers do
	{
		WriteFrameRows(Src, F, Begin, Begin + 16 < H ? Begin + 16 : H, Dst);
	}
	// The planes as they go to the daemon (the slot is the daemon's after submitting).
	if (!Save(Out + "/color.bin", Planes.color, Planes.color_pitch * H) ||
		!Save(Out + "/depth.bin", Planes.depth, Planes.depth_pitch * H) ||
		!Save(Out + "/motion.bin", Planes.motion, Planes.motion_pitch * H))
	{
		std::printf("FAIL writing the planes to %s\n", Out.c_str());
		return 1;
	}

	// The camera fields, as FReverieViewExtension::EnqueueCapture fills them.
	const double SampleX = 0.25, SampleY = -0.375; // TemporalJitterPixels
	const Vec2 Jitter = JitterToPixels(SampleX * 2 / W, SampleY * -2 / H, W, H);
	const ProjectionPlanes P = PlanesFromProjection(Cur.Projection());
	reverie_frame_info Info = {};
	Info.flags = REVERIE_FRAME_RESET;
	Info.jitter_x = static_cast<float>(Jitter.X);
	Info.jitter_y = static_cast<float>(Jitter.Y);
	Info.near_m = static_cast<float>(P.Near / 100.0);
	Info.far_m = static_cast<float>(P.Far / 100.0);
	Info.fov_y = static_cast<float>(P.FovY);
	uint64_t FrameId = 0;
	if ((R = reverie_submit_frame(Client, &Info, &FrameId)) != REVERIE_OK)
	{
		return Fail("reverie_submit_frame", R);
	}

	std::vector<unsigned char> Output(W * 4 * H);
	reverie_output_info OutInfo;
	if ((R = reverie_wait_output(Client, FrameId, 10000, Output.data(), 0, Output.size(), 0, &OutInfo)) != REVERIE_OK)
	{
		return Fail("reverie_wait_output", R);
	}
	if (!Save(Out + "/output.bin", Output.data(), Output.size()))
	{
		std::printf("FAIL writing the output\n");
		return 1;
	}
	reverie_close(Client);
	std::printf("FRAME id=%llu width=%u height=%u\n", static_cast<unsigned long long>(FrameId), W, H);
	return 0;
}
