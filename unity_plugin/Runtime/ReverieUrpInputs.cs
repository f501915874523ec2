// URP only: a renderer feature whose one job is to make URP render what Reverie reads.
// Add it to the URP renderer asset (Renderer > Add Renderer Feature > Reverie Urp Inputs).
// Its pass asks for the depth and motion vector textures (ScriptableRenderPassInput), the
// documented way to get _MotionVectorTexture when no TAA or motion blur asks for it; it draws
// nothing. Compiled only inside Unity with URP 14+ (REVERIE_URP from the asmdef).
#if REVERIE_URP
using UnityEngine.Rendering;
using UnityEngine.Rendering.Universal;
#if UNITY_6000_0_OR_NEWER
using UnityEngine.Rendering.RenderGraphModule;
#endif

namespace Reverie
{
    public sealed class ReverieUrpInputs : ScriptableRendererFeature
    {
        sealed class RequestInputsPass : ScriptableRenderPass
        {
            public RequestInputsPass()
            {
                renderPassEvent = RenderPassEvent.AfterRenderingPostProcessing;
            }

#if UNITY_6000_0_OR_NEWER
            public override void RecordRenderGraph(RenderGraph renderGraph, ContextContainer frameData)
            {
                // Nothing to draw: the inputs configured in AddRenderPasses are the point.
            }

            [System.Obsolete("Compatibility mode (Render Graph off) only, as the base method.")]
            public override void Execute(ScriptableRenderContext context, ref RenderingData renderingData)
            {
                // Overridden so compatibility mode does not warn that the pass has no Execute.
            }
#else
            public override void Execute(ScriptableRenderContext context, ref RenderingData renderingData)
            {
                // Nothing to draw: the inputs configured in AddRenderPasses are the point.
            }
#endif
        }

        RequestInputsPass pass;

        public override void Create()
        {
            pass = new RequestInputsPass();
        }

        public override void AddRenderPasses(ScriptableRenderer renderer, ref RenderingData renderingData)
        {
            if (!renderingData.cameraData.camera.TryGetComponent(out ReverieCamera _)) return; // only cameras that stream
            pass.ConfigureInput(ScriptableRenderPassInput.Depth | ScriptableRenderPassInput.Motion);
            renderer.EnqueuePass(pass);
        }
    }
}
#endif
