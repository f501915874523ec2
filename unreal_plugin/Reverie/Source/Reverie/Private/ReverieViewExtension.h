// The scene view extension: after tonemapping it captures the game view's color, depth and
// motion, reads them back without stalling and hands them to the daemon, then shows the
// newest stylized frame in place of the tonemapped color.
//
// Per frame, on the render thread (AfterTonemap_RenderThread):
//   1. captures whose GPU readback finished are written into a ring slot and submitted
//      (only the newest; older ready ones are superseded, as the daemon would drop them);
//   2. this frame is captured into a free readback pair by a compute pass and an enqueued
//      copy; with all pairs in flight the frame is not captured (never waited for);
//   3. the newest output, if the daemon has one for this size, replaces the scene color.
#pragma once

#include "CoreMinimal.h"
#include "Misc/EngineVersionComparison.h"
#include "RenderGraphFwd.h"
#include "RHIResources.h"
#include "SceneViewExtension.h"
#include "ReverieCApi.h"
#include "ReverieMath.h"

class FRHIGPUTextureReadback;
class FReverieSession;
struct FPostProcessMaterialInputs;
struct FScreenPassTexture;

class FReverieViewExtension final : public FSceneViewExtensionBase
{
public:
	FReverieViewExtension(const FAutoRegister& AutoRegister, TSharedRef<FReverieSession, ESPMode::ThreadSafe> InSession);
	virtual ~FReverieViewExtension() override;

	virtual void SetupViewFamily(FSceneViewFamily& InViewFamily) override {}
	virtual void SetupView(FSceneViewFamily& InViewFamily, FSceneView& InView) override {}
	virtual void BeginRenderViewFamily(FSceneViewFamily& InViewFamily) override {}
#if UE_VERSION_OLDER_THAN(5, 5, 0)
	virtual void SubscribeToPostProcessingPass(EPostProcessingPass Pass, FAfterPassCallbackDelegateArray& InOutPassCallbacks,
											   bool bIsPassEnabled) override;
#else
	virtual void SubscribeToPostProcessingPass(EPostProcessingPass Pass, const FSceneView& InView,
											   FAfterPassCallbackDelegateArray& InOutPassCallbacks, bool bIsPassEnabled) override;
#endif

	// Render thread: drop the readbacks and the output texture (module shutdown).
	void ReleaseResources_RenderThread();

protected:
	virtual bool IsActiveThisFrame_Internal(const FSceneViewExtensionContext& Context) const override;

private:
	// One frame on its way back from the GPU.
	struct FCapture
	{
		TUniquePtr<FRHIGPUTextureReadback> Color; // RGBA8, the protocol's color plane as is
		TUniquePtr<FRHIGPUTextureReadback> Aux;   // ReverieMath::CaptureTexel per pixel
		bool bInFlight = false;
		uint64 FrameCounter = 0;                  // GFrameCounterRenderThread at capture
		ReverieMath::FrameConversion Conversion;
		reverie_frame_info Info = {};
	};

	FScreenPassTexture AfterTonemap_RenderThread(FRDGBuilder& GraphBuilder, const FSceneView& View,
												 const FPostProcessMaterialInputs& Inputs);
	bool ShouldCapture(const FSceneView& View, const FPostProcessMaterialInputs& Inputs) const;
	void SubmitReadyCaptures();
	void SubmitCapture(FCapture& Capture);
	void EnqueueCapture(FRDGBuilder& GraphBuilder, const FSceneView& View, const FScreenPassTexture& SceneColor,
						const FPostProcessMaterialInputs& Inputs);
	FRDGTextureRef NewestOutput(FRDGBuilder& GraphBuilder, FIntPoint Size);
	void Report(reverie_result Result, const TCHAR* What);

	TSharedRef<FReverieSession, ESPMode::ThreadSafe> Session;

	// Render thread only.
	TArray<FCapture> Captures;
	bool bResetPending = true;        // the next submitted frame starts a new history
	uint64 LastCaptureFrame = 0;
	FIntPoint FormatSize = FIntPoint::ZeroValue;   // the ring's frame size
	FIntPoint RejectedSize = FIntPoint::ZeroValue; // a size the daemon refused; not retried
	FTextureRHIRef StylizedTexture;
	uint64 StylizedFrameId = 0;       // 0: nothing to show
	int32 LastResult = REVERIE_OK;    // for logging changes only
};
