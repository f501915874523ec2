#include "ReverieViewExtension.h"

#include "Engine/Engine.h"
#include "Engine/GameViewportClient.h"
#include "HAL/IConsoleManager.h"
#include "PostProcess/PostProcessMaterialInputs.h"
#include "RenderGraphBuilder.h"
#include "RenderGraphUtils.h"
#include "RHIGPUReadback.h"
#include "SceneRenderTargetParameters.h"
#include "SceneRendering.h" // FViewInfo: render-resolution view rect, previous frame's view matrices
#include "ScreenPass.h"
#include "ReverieCaptureShader.h"
#include "ReverieFrameWriter.h"
#include "ReverieModule.h"
#include "ReverieSession.h"

static TAutoConsoleVariable<int32> CVarReverieEnable(
	TEXT("Reverie.Enable"), 1,
	TEXT("1: stream the game view through the Reverie daemon and show the stylized frames; 0: show the game as rendered."),
	ECVF_RenderThreadSafe);

namespace
{
// Readback pairs in flight: enough for the GPU to be two frames behind the CPU, as engines
// run, plus the one being read; a frame that finds all busy is not captured.
constexpr int32 kCapturesInFlight = 3;
// A readback older than this (frames) is stale: Reverie was switched off meanwhile.
constexpr uint64 kMaxCaptureAgeFrames = 8;
// The depth the protocol gets for the sky: the training world's sky distance (SKY_DEPTH).
constexpr float kSkyDepthMeters = static_cast<float>(REVERIE_SKY_DEPTH_METERS); // the protocol's one convention

ReverieMath::Mat4 ToMat4(const FMatrix& M)
{
	ReverieMath::Mat4 R;
	for (int32 Row = 0; Row < 4; ++Row)
	{
		for (int32 Col = 0; Col < 4; ++Col)
		{
			R.M[Row][Col] = M.M[Row][Col];
		}
	}
	return R;
}

ReverieMath::ViewTransform ToViewTransform(const FViewMatrices& Matrices)
{
	ReverieMath::ViewTransform T;
	T.TranslatedView = ToMat4(Matrices.GetTranslatedViewMatrix());
	const FVector PreViewTranslation = Matrices.GetPreViewTranslation();
	T.PreViewTranslation[0] = PreViewTranslation.X;
	T.PreViewTranslation[1] = PreViewTranslation.Y;
	T.PreViewTranslation[2] = PreViewTranslation.Z;
	T.Projection = ToMat4(Matrices.ComputeProjectionNoAAMatrix());
	return T;
}

// The scene color as the post-process chain expects it back when we leave it unchanged: the
// last pass of the chain must write the override output (the back buffer) when it is set.
FScreenPassTexture ReturnUntouched(FRDGBuilder& GraphBuilder, const FSceneView& View, const FPostProcessMaterialInputs& Inputs,
								   const FScreenPassTexture& SceneColor)
{
	if (Inputs.OverrideOutput.IsValid() && SceneColor.IsValid())
	{
		AddDrawTexturePass(GraphBuilder, View, SceneColor, Inputs.OverrideOutput);
		return Inputs.OverrideOutput;
	}
	return SceneColor;
}
} // namespace

FReverieViewExtension::FReverieViewExtension(const FAutoRegister& AutoRegister,
											 TSharedRef<FReverieSession, ESPMode::ThreadSafe> InSession)
	: FSceneViewExtensionBase(AutoRegister), Session(MoveTemp(InSession))
{
	for (int32 I = 0; I < kCapturesInFlight; ++I)
	{
		FCapture& Capture = Captures.AddDefaulted_GetRef();
		Capture.Color = MakeUnique<FRHIGPUTextureReadback>(TEXT("Reverie.ColorReadback"));
		Capture.Aux = MakeUnique<FRHIGPUTextureReadback>(TEXT("Reverie.DepthMotionReadback"));
	}
}

FReverieViewExtension::~FReverieViewExtension() = default;

void FReverieViewExtension::ReleaseResources_RenderThread()
{
	Captures.Reset();
	StylizedTexture.SafeRelease();
	StylizedFrameId = 0;
}

bool FReverieViewExtension::IsActiveThisFrame_Internal(const FSceneViewExtensionContext& Context) const
{
	// The game's own viewport only (standalone or play-in-editor), not editor viewports,
	// thumbnails or scene captures.
	return CVarReverieEnable.GetValueOnGameThread() != 0 && GEngine && GEngine->GameViewport &&
		   Context.Viewport != nullptr && Context.Viewport == GEngine->GameViewport->Viewport;
}

#if UE_VERSION_OLDER_THAN(5, 5, 0)
void FReverieViewExtension::SubscribeToPostProcessingPass(EPostProcessingPass Pass,
														  FAfterPassCallbackDelegateArray& InOutPassCallbacks, bool bIsPassEnabled)
#else
void FReverieViewExtension::SubscribeToPostProcessingPass(EPostProcessingPass Pass, const FSceneView& InView,
														  FAfterPassCallbackDelegateArray& InOutPassCallbacks, bool bIsPassEnabled)
#endif
{
	if (Pass == EPostProcessingPass::Tonemap && bIsPassEnabled)
	{
		InOutPassCallbacks.Add(FAfterPassCallbackDelegate::CreateRaw(this, &FReverieViewExtension::AfterTonemap_RenderThread));
	}
}

bool FReverieViewExtension::ShouldCapture(const FSceneView& View, const FPostProcessMaterialInputs& Inputs) const
{
	return CVarReverieEnable.GetValueOnRenderThread() != 0 && View.bIsViewInfo && !View.bIsSceneCapture &&
		   !View.bIsReflectionCapture && !View.bIsPlanarReflection && View.Family && View.Family->Views.Num() > 0 &&
		   View.Family->Views[0] == &View // one stream: the first view (split screen shows the others as rendered)
		   && Inputs.SceneTextures.SceneTextures != nullptr; // deferred renderer scene textures
}

FScreenPassTexture FReverieViewExtension::AfterTonemap_RenderThread(FRDGBuilder& GraphBuilder, const FSceneView& View,
																	 const FPostProcessMaterialInputs& Inputs)
{
#if UE_VERSION_OLDER_THAN(5, 4, 0)
	const FScreenPassTexture SceneColor = Inputs.GetInput(EPostProcessMaterialInput::SceneColor);
#else
	// A texture array slice (instanced stereo) is copied out; a plain texture is returned as is.
	const FScreenPassTexture SceneColor =
		FScreenPassTexture::CopyFromSlice(GraphBuilder, Inputs.GetInput(EPostProcessMaterialInput::SceneColor));
#endif
	if (!SceneColor.IsValid() || !ShouldCapture(View, Inputs))
	{
		return ReturnUntouched(GraphBuilder, View, Inputs, SceneColor);
	}
	RDG_EVENT_SCOPE(GraphBuilder, "Reverie");

	SubmitReadyCaptures();
	EnqueueCapture(GraphBuilder, View, SceneColor, Inputs);

	const FRDGTextureRef Stylized = NewestOutput(GraphBuilder, SceneColor.ViewRect.Size());
	if (!Stylized)
	{
		return ReturnUntouched(GraphBuilder, View, Inputs, SceneColor); // nothing stylized at this size yet
	}
	FScreenPassRenderTarget Output = Inputs.OverrideOutput;
	if (!Output.IsValid())
	{
		Output = FScreenPassRenderTarget::CreateFromInput(GraphBuilder, SceneColor, View.GetOverwriteLoadAction(),
														  TEXT("Reverie.Output"));
	}
	AddDrawTexturePass(GraphBuilder, View, FScreenPassTexture(Stylized), Output);
	return MoveTemp(Output);
}

void FReverieViewExtension::SubmitReadyCaptures()
{
	// The GPU finishes copies in order, so the newest ready capture is the one to send; older
	// ready ones are superseded, as the daemon would drop them (a reset among them rides on).
	FCapture* Newest = nullptr;
	bool bCarriedReset = false;
	for (FCapture& Capture : Captures)
	{
		if (!Capture.bInFlight)
		{
			continue;
		}
		if (Capture.FrameCounter + kMaxCaptureAgeFrames < GFrameCounterRenderThread)
		{
			Capture.bInFlight = false; // stale: Reverie was off meanwhile; the gap resets history
			continue;
		}
		if (!Capture.Color->IsReady() || !Capture.Aux->IsReady())
		{
			continue;
		}
		FCapture* Older = &Capture;
		if (!Newest || Capture.FrameCounter > Newest->FrameCounter)
		{
			Older = Newest;
			Newest = &Capture;
		}
		if (Older)
		{
			bCarriedReset |= (Older->Info.flags & REVERIE_FRAME_RESET) != 0;
			Older->bInFlight = false;
		}
	}
	if (Newest)
	{
		if (bCarriedReset)
		{
			Newest->Info.flags |= REVERIE_FRAME_RESET;
		}
		SubmitCapture(*Newest);
		Newest->bInFlight = false;
	}
}

void FReverieViewExtension::SubmitCapture(FCapture& Capture)
{
	reverie_client* Client = Session->GetClient();
	const FIntPoint Size(Capture.Conversion.Width, Capture.Conversion.Height);
	if (Size != FormatSize)
	{
		if (Size == RejectedSize)
		{
			return; // the daemon refused this size; wait for another
		}
		const reverie_result Result = reverie_set_frame_format(Client, Size.X, Size.Y, REVERIE_MOTION_F32);
		Report(Result, TEXT("reverie_set_frame_format"));
		if (Result == REVERIE_REJECTED)
		{
			RejectedSize = Size;
			return;
		}
		if (Result != REVERIE_OK)
		{
			return;
		}
		FormatSize = Size;
	}

	reverie_frame_planes Planes;
	reverie_result Result = reverie_begin_frame(Client, &Planes);
	if (Result == REVERIE_SKIPPED)
	{
		// Every slot is with the daemon: skip, never wait. Submitting the skip lets the
		// library carry a camera cut to the next frame.
		reverie_submit_frame(Client, &Capture.Info, nullptr);
		return;
	}
	if (Result != REVERIE_OK)
	{
		Report(Result, TEXT("reverie_begin_frame"));
		return;
	}
	if (Planes.width != static_cast<uint32>(Size.X) || Planes.height != static_cast<uint32>(Size.Y) ||
		Planes.motion_format != REVERIE_MOTION_F32)
	{
		reverie_cancel_frame(Client);
		return;
	}

	int32 ColorPitchPixels = 0;
	int32 AuxPitchPixels = 0;
	const void* Color = Capture.Color->Lock(ColorPitchPixels);
	const void* Aux = Capture.Aux->Lock(AuxPitchPixels);
	const bool bLocked = Color && Aux;
	if (bLocked)
	{
		ReverieMath::ReadbackRows Readback;
		Readback.Color = static_cast<const unsigned char*>(Color);
		Readback.ColorPitch = static_cast<size_t>(ColorPitchPixels) * 4;
		Readback.Texels = static_cast<const ReverieMath::CaptureTexel*>(Aux);
		Readback.TexelPitch = static_cast<size_t>(AuxPitchPixels);
		WriteReverieFrame(Planes, Readback, Capture.Conversion);
	}
	if (Color)
	{
		Capture.Color->Unlock();
	}
	if (Aux)
	{
		Capture.Aux->Unlock();
	}
	if (!bLocked)
	{
		reverie_cancel_frame(Client);
		return;
	}
	Result = reverie_submit_frame(Client, &Capture.Info, nullptr);
	Report(Result, TEXT("reverie_submit_frame"));
}

void FReverieViewExtension::EnqueueCapture(FRDGBuilder& GraphBuilder, const FSceneView& View,
										   const FScreenPassTexture& SceneColor, const FPostProcessMaterialInputs& Inputs)
{
	const FViewInfo& ViewInfo = static_cast<const FViewInfo&>(View);
	const FIntPoint Size = SceneColor.ViewRect.Size();
	if (Size.X < 8 || Size.Y < 8 || Size.X > 8192 || Size.Y > 8192) // the protocol's sides
	{
		return;
	}
	if (View.bCameraCut || LastCaptureFrame + 1 != GFrameCounterRenderThread)
	{
		bResetPending = true; // a cut, or frames we did not capture (switched off, first frame)
	}
	LastCaptureFrame = GFrameCounterRenderThread;

	FCapture* Capture = Captures.FindByPredicate([](const FCapture& C) { return !C.bInFlight; });
	if (!Capture)
	{
		return; // the GPU is behind: drop this frame (its reset stays pending)
	}

	// What the CPU side needs to turn this frame's texels into protocol planes.
	ReverieMath::FrameConversion& Conversion = Capture->Conversion;
	Conversion = ReverieMath::FrameConversion();
	Conversion.Width = Size.X;
	Conversion.Height = Size.Y;
	const FMatrix Projection = ViewInfo.ViewMatrices.ComputeProjectionNoAAMatrix();
	Conversion.Depth = ReverieMath::MakeDeviceZToDepth(ToMat4(Projection));
	Conversion.WorldUnitsPerMeter = View.WorldToMetersScale > 0.0f ? View.WorldToMetersScale : 100.0;
	Conversion.MaxDepthMeters = kSkyDepthMeters;
	if (bResetPending || !ReverieMath::ClipToPrevClip(ToViewTransform(ViewInfo.ViewMatrices),
													  ToViewTransform(ViewInfo.PrevViewInfo.ViewMatrices), Conversion.ClipToPrev))
	{
		Conversion.ClipToPrev = ReverieMath::Mat4(); // a new history: no motion from a previous frame
	}

	reverie_frame_info& Info = Capture->Info;
	Info = reverie_frame_info{};
	Info.flags = bResetPending ? REVERIE_FRAME_RESET : 0;
	const FVector2D Jitter = ViewInfo.ViewMatrices.GetTemporalAAJitter();
	const ReverieMath::Vec2 JitterPixels = ReverieMath::JitterToPixels(Jitter.X, Jitter.Y, Size.X, Size.Y);
	Info.jitter_x = static_cast<float>(JitterPixels.X);
	Info.jitter_y = static_cast<float>(JitterPixels.Y);
	const ReverieMath::ProjectionPlanes Planes = ReverieMath::PlanesFromProjection(ToMat4(Projection));
	Info.near_m = static_cast<float>(Planes.Near / Conversion.WorldUnitsPerMeter);
	Info.far_m = static_cast<float>(Planes.Far / Conversion.WorldUnitsPerMeter); // 0: infinite
	Info.fov_y = static_cast<float>(Planes.FovY);

	// The compute pass: color as RGBA8, device z + velocity at the color's resolution.
	const FSceneTextureUniformParameters* SceneTextures = Inputs.SceneTextures.SceneTextures->GetParameters().GetContents();
	const FRDGTextureDesc ColorDesc = FRDGTextureDesc::Create2D(Size, PF_R8G8B8A8, FClearValueBinding::None,
																TexCreate_ShaderResource | TexCreate_UAV);
	const FRDGTextureDesc AuxDesc = FRDGTextureDesc::Create2D(Size, PF_A32B32G32R32F, FClearValueBinding::None,
															  TexCreate_ShaderResource | TexCreate_UAV);
	const FRDGTextureRef ColorTexture = GraphBuilder.CreateTexture(ColorDesc, TEXT("Reverie.CaptureColor"));
	const FRDGTextureRef AuxTexture = GraphBuilder.CreateTexture(AuxDesc, TEXT("Reverie.CaptureDepthMotion"));

	FReverieCaptureCS::FParameters* Parameters = GraphBuilder.AllocParameters<FReverieCaptureCS::FParameters>();
	Parameters->SceneColorTexture = SceneColor.Texture;
	Parameters->SceneDepthTexture = SceneTextures->SceneDepthTexture;
	Parameters->VelocityTexture = SceneTextures->GBufferVelocityTexture;
	Parameters->ColorMin = SceneColor.ViewRect.Min;
	Parameters->OutputSize = Size;
	Parameters->DepthMin = ViewInfo.ViewRect.Min;
	Parameters->DepthMax = ViewInfo.ViewRect.Max;
	Parameters->DepthScale = FVector2f(ViewInfo.ViewRect.Size()) / FVector2f(Size);
	Parameters->ColorOutput = GraphBuilder.CreateUAV(ColorTexture);
	Parameters->AuxOutput = GraphBuilder.CreateUAV(AuxTexture);
	const TShaderMapRef<FReverieCaptureCS> Shader(GetGlobalShaderMap(View.GetFeatureLevel()));
	FComputeShaderUtils::AddPass(GraphBuilder, RDG_EVENT_NAME("Reverie.Capture %dx%d", Size.X, Size.Y), Shader, Parameters,
								 FComputeShaderUtils::GetGroupCount(Size, FReverieCaptureCS::GroupSize));

	AddEnqueueCopyPass(GraphBuilder, Capture->Color.Get(), ColorTexture);
	AddEnqueueCopyPass(GraphBuilder, Capture->Aux.Get(), AuxTexture);
	Capture->bInFlight = true;
	Capture->FrameCounter = GFrameCounterRenderThread;
	bResetPending = false;
}

FRDGTextureRef FReverieViewExtension::NewestOutput(FRDGBuilder& GraphBuilder, FIntPoint Size)
{
	const void* Pixels = nullptr;
	uint64 Pitch = 0;
	reverie_output_info Info;
	const reverie_result Result = reverie_map_output(Session->GetClient(), &Pixels, &Pitch, &Info);
	if (Result != REVERIE_OK || Info.width != static_cast<uint32>(Size.X) || Info.height != static_cast<uint32>(Size.Y))
	{
		// No output for this ring yet, or the daemon is gone: show the game as rendered
		// rather than a frozen stylized frame.
		StylizedFrameId = 0;
		return nullptr;
	}
	if (!StylizedTexture.IsValid() || StylizedTexture->GetSizeXY() != Size)
	{
		const FRHITextureCreateDesc Desc = FRHITextureCreateDesc::Create2D(TEXT("Reverie.Stylized"), Size.X, Size.Y, PF_R8G8B8A8)
											   .SetFlags(ETextureCreateFlags::ShaderResource)
											   .SetInitialState(ERHIAccess::SRVMask);
		StylizedTexture = RHICreateTexture(Desc);
		StylizedFrameId = 0;
	}
	if (Info.frame_id != StylizedFrameId)
	{
		// The mapped pixels are valid until the next FRAME call; the RHI copies them now.
		GraphBuilder.RHICmdList.UpdateTexture2D(StylizedTexture, 0, FUpdateTextureRegion2D(0, 0, 0, 0, Size.X, Size.Y),
												static_cast<uint32>(Pitch), static_cast<const uint8*>(Pixels));
		StylizedFrameId = Info.frame_id;
	}
	return RegisterExternalTexture(GraphBuilder, StylizedTexture, TEXT("Reverie.Stylized"));
}

void FReverieViewExtension::Report(reverie_result Result, const TCHAR* What)
{
	// Say it when the state changes (daemon gone, back, refused), not every frame.
	if (Result == LastResult || Result == REVERIE_SKIPPED)
	{
		return;
	}
	LastResult = Result;
	if (Result == REVERIE_OK)
	{
		UE_LOG(LogReverie, Log, TEXT("Streaming frames to the Reverie daemon."));
	}
	else
	{
		UE_LOG(LogReverie, Warning, TEXT("%s: %s: %s"), What, UTF8_TO_TCHAR(reverie_result_name(Result)),
			   UTF8_TO_TCHAR(reverie_last_error(nullptr)));
	}
}
