// Drop on a camera: streams its color, linear depth and motion vectors to the Reverie daemon
// and shows the newest stylized frame over the camera image. Compiled only inside Unity.
//
// Pipelines (one code path, CaptureAndPresent, recorded into a command buffer each frame):
//   built-in  a CommandBuffer at CameraEvent.AfterImageEffects, re-recorded in OnPreRender:
//             the image after post-processing and tonemapping is captured first, then the
//             stylized frame is drawn over the camera target.
//   URP       CameraCaptureBridge.AddCaptureAction (SRP Core): URP runs the action after
//             post-processing, before its final blit, with the camera color and a command
//             buffer; the same capture-then-present is recorded there. Depth comes from the
//             camera's depth texture (requested here); motion vectors need the
//             ReverieUrpInputs renderer feature on the renderer.
//   HDRP      not supported.
// Threads: everything here runs on Unity's main thread (readbacks complete there); steering
// calls, which wait for the daemon, go through ReverieSteering's worker thread.
using System;
using Unity.Collections.LowLevel.Unsafe;
using UnityEngine;
using UnityEngine.Rendering;
#if REVERIE_URP
using UnityEngine.Rendering.Universal;
#endif

namespace Reverie
{
    [RequireComponent(typeof(Camera))]
    [DisallowMultipleComponent]
    [AddComponentMenu("Reverie/Reverie Camera")]
    public sealed class ReverieCamera : MonoBehaviour
    {
        [Tooltip("Control endpoint of `reverie serve`. Empty: $REVERIE_CONTROL, else the default private ipc:// path.")]
        public string controlEndpoint = "";
        [Tooltip("The name the daemon shows in `reverie status`.")]
        public string clientName = "unity";

        [Header("Frames")]
        [Tooltip("Height frames are captured and sent at; the width follows the camera's aspect. Never above the camera's own height; sizes snap to 16 pixels.")]
        [Range(64, 2160)] public int workingHeight = 256;
        [Tooltip("Draw the stylized frame over the camera image (off: stream only).")]
        public bool showStylized = true;

        [Header("Style (sent when changed)")]
        [Tooltip("Send this style when the component starts. Off: keep what the daemon has (from `reverie prompt`, a console or a preset) until a field changes.")]
        public bool sendStyleOnEnable = true;
        [TextArea(2, 4)] public string prompt = "";
        [Range(0, 10000)] public int transitionFrames = 24;
        [Range(1, 8)] public int steps = 2;
        [Range(0f, 1f)] public float strength = 0.8f;
        [Min(0)] public int seed;

        [Header("Camera cuts (drop the stylizer's history)")]
        [Tooltip("Meters the camera may move in one frame before it counts as a teleport.")]
        [Min(0f)] public float cutDistance = 5f;
        [Tooltip("Degrees the camera may turn in one frame before it counts as a cut.")]
        [Range(0f, 180f)] public float cutAngle = 60f;

        [SerializeField, HideInInspector] Shader captureShader; // serialized so builds include them
        [SerializeField, HideInInspector] Shader presentShader;

        public ReverieClient Client { get; private set; }
        public ReverieSteering Steering { get; private set; }
        /// <summary>The newest stylized frame (sRGB, working size).</summary>
        public Texture2D StylizedTexture { get; private set; }
        public OutputInfo LatestOutput { get; private set; }
        public int WorkingWidth { get { return capture != null ? capture.Width : 0; } }
        public int WorkingHeight { get { return capture != null ? capture.Height : 0; } }
        public ulong FramesSubmitted { get; private set; }
        /// <summary>Frames not sent: both readbacks busy, or no free slot in the ring.</summary>
        public ulong FramesSkipped { get; private set; }
        public bool UsingUrp { get; private set; }
        /// <summary>The current trouble in words ("" when all is well).</summary>
        public string Problem { get; private set; } = "";

        Camera cam;
        ReverieFrameCapture capture;
        CommandBuffer builtinCommands;
        Action<RenderTargetIdentifier, CommandBuffer> urpCapture;
        Material presentMaterial;
        bool hasOutput, resetRequested, pendingCut, hasPose, styleDirty;
        ulong shownFrameId;
        Vector3 lastPosition;
        Quaternion lastRotation;
        float styleSentAt;

        /// <summary>Drop the stylizer's history with the next captured frame (exact to the frame).</summary>
        public void ResetHistory() { resetRequested = true; }

        /// <summary>Set the prompt now (also updates the inspector field).</summary>
        public void SetPrompt(string text, int transition)
        {
            prompt = text ?? "";
            transitionFrames = transition;
            ApplyStyle();
        }

        /// <summary>Send prompt, steps, strength and seed to the daemon (on the steering thread).</summary>
        public void ApplyStyle()
        {
            styleDirty = false;
            styleSentAt = Time.unscaledTime;
            if (Steering == null) return;
            string text = prompt ?? "";
            int transition = transitionFrames, k = steps, s = seed;
            double st = strength;
            Steering.Post(c => c.SetPrompt(text, transition), Report("prompt"));
            Steering.Post(c => c.SetParams(k, st, s), Report("settings"));
        }

        void Reset()
        {
            captureShader = Shader.Find("Hidden/Reverie/Capture");
            presentShader = Shader.Find("Hidden/Reverie/Present");
        }

        void OnValidate()
        {
            styleDirty = Application.isPlaying; // sent from Update, at most 4 times a second while typing
        }

        static void LogToConsole(ReverieLogLevel level, string line)
        {
            if (level == ReverieLogLevel.Warning) Debug.LogWarning(line);
            else Debug.Log(line);
        }

        void OnEnable()
        {
            cam = GetComponent<Camera>();
            if (!PickPipeline()) { enabled = false; return; }
            if (captureShader == null || presentShader == null) Reset();
            if (captureShader == null || presentShader == null || !captureShader.isSupported)
            {
                Debug.LogError("Reverie: the Hidden/Reverie shaders are missing or unsupported here (add them to Always Included Shaders for builds).", this);
                enabled = false;
                return;
            }
            ReverieClient.SetLogHandler(LogToConsole);  // the library's own lines (connects, refusals) in the Console
            ReverieClient client;
            var options = new ReverieClientOptions { Control = controlEndpoint, ClientName = clientName, Lazy = true };
            var result = ReverieClient.Connect(options, out client);
            if (result != ReverieResult.Ok)
            {
                Debug.LogError("Reverie: " + ReverieClient.ResultName(result) + ": " + ReverieClient.LastError, this);
                enabled = false;
                return;
            }
            Client = client;
            Steering = new ReverieSteering(client);
            cam.depthTextureMode |= DepthTextureMode.Depth | DepthTextureMode.MotionVectors;
            presentMaterial = new Material(presentShader) { hideFlags = HideFlags.HideAndDontSave };
            capture = new ReverieFrameCapture(captureShader, UsingUrp) { FrameReady = Submit };
            hasPose = false;
            Hook();
            if (sendStyleOnEnable) ApplyStyle();
        }

        void OnDisable()
        {
            Unhook();
            if (capture != null) capture.Dispose(); // before the client: waits for its readbacks
            if (Steering != null) Steering.Dispose();
            if (Client != null) Client.Dispose();
            capture = null;
            Steering = null;
            Client = null;
            if (presentMaterial != null) Destroy(presentMaterial);
            if (StylizedTexture != null) Destroy(StylizedTexture);
            StylizedTexture = null;
            hasOutput = false;
        }

        bool PickPipeline()
        {
            var pipeline = GraphicsSettings.currentRenderPipeline;
            UsingUrp = pipeline != null;
            if (pipeline == null) return true;
#if REVERIE_URP
            if (pipeline is UniversalRenderPipelineAsset) return true;
#endif
            Debug.LogError("Reverie supports the built-in render pipeline and URP (14+), not " + pipeline.GetType().Name + ".", this);
            return false;
        }

        void Hook()
        {
            if (!UsingUrp)
            {
                builtinCommands = new CommandBuffer { name = "Reverie capture + present" };
                cam.AddCommandBuffer(CameraEvent.AfterImageEffects, builtinCommands);
                return;
            }
#if REVERIE_URP
            var data = cam.GetUniversalAdditionalCameraData();
            if (data != null) data.requiresDepthTexture = true;
            urpCapture = (source, cmd) => CaptureAndPresent(cmd, source);
            CameraCaptureBridge.enabled = true;
            CameraCaptureBridge.AddCaptureAction(cam, urpCapture);
#endif
        }

        void Unhook()
        {
            if (builtinCommands != null)
            {
                if (cam != null) cam.RemoveCommandBuffer(CameraEvent.AfterImageEffects, builtinCommands);
                builtinCommands.Release();
                builtinCommands = null;
            }
#if REVERIE_URP
            if (urpCapture != null) CameraCaptureBridge.RemoveCaptureAction(cam, urpCapture);
#endif
            urpCapture = null;
        }

        // Built-in pipeline: called for this camera just before it renders.
        void OnPreRender()
        {
            if (builtinCommands == null) return;
            builtinCommands.Clear();
            CaptureAndPresent(builtinCommands, BuiltinRenderTextureType.CameraTarget);
        }

        /// <summary>Records this frame's capture (unless both readback sets are busy) and then the
        /// stylized frame over target.</summary>
        void CaptureAndPresent(CommandBuffer cmd, RenderTargetIdentifier target)
        {
            if (capture == null) return;
            int width, height;
            ReverieConventions.WorkingSize(Mathf.Max(1, cam.pixelWidth), Mathf.Max(1, cam.pixelHeight), workingHeight, out width, out height);
            if (width != capture.Width || height != capture.Height)
            {
                capture.Resize(width, height);
                NewStylizedTexture(width, height);
            }
            var info = CameraInfo();
            if (capture.Record(cmd, target, info)) pendingCut = false;
            else
            {
                FramesSkipped++;
                pendingCut |= (info.Flags & FrameFlags.Reset) != 0; // the cut goes with the next frame sent
            }
            if (showStylized && hasOutput) cmd.Blit(StylizedTexture, target, presentMaterial);
        }

        /// <summary>This frame's header: camera cut, near/far, field of view, projection jitter.</summary>
        FrameInfo CameraInfo()
        {
            var pose = transform;
            bool cut = resetRequested || pendingCut || !hasPose || ReverieConventions.IsCameraCut(
                Vector3.Distance(pose.position, lastPosition), Quaternion.Angle(pose.rotation, lastRotation), cutDistance, cutAngle);
            resetRequested = false;
            hasPose = true;
            lastPosition = pose.position;
            lastRotation = pose.rotation;
            float jx, jy;
            Matrix4x4 jittered = cam.projectionMatrix, plain = cam.nonJitteredProjectionMatrix;
            ReverieConventions.JitterPixels(jittered.m02, plain.m02, jittered.m12, plain.m12, capture.Width, capture.Height, out jx, out jy);
            return new FrameInfo
            {
                Flags = cut ? FrameFlags.Reset : FrameFlags.None,
                JitterX = jx,
                JitterY = jy,
                NearM = cam.nearClipPlane,
                FarM = cam.farClipPlane,
                FovY = cam.orthographic ? 0f : cam.fieldOfView * Mathf.Deg2Rad,
            };
        }

        /// <summary>A readback completed (main thread): hand its planes to the daemon.</summary>
        void Submit(FrameSource source, FrameInfo info)
        {
            if (Client == null) return;
            ulong frameId;
            var result = Client.SubmitCopy(source, info, out frameId);
            switch (result)
            {
                case ReverieResult.Ok:
                    FramesSubmitted++;
                    SetProblem("");
                    break;
                case ReverieResult.Skipped: // every slot is with the daemon; the library carries a reset
                    FramesSkipped++;
                    break;
                case ReverieResult.Unavailable: // retried by the library at the next submit
                    SetProblem("daemon unavailable (start `reverie serve`): " + ReverieClient.LastError);
                    break;
                default:
                    SetProblem(ReverieClient.ResultName(result) + ": " + ReverieClient.LastError);
                    break;
            }
        }

        void Update()
        {
            if (Client == null) return;
            Steering.Pump();
            if (styleDirty && Time.unscaledTime - styleSentAt > 0.25f) ApplyStyle();
            DrainEvents();
            ShowNewestOutput();
        }

        /// <summary>Uploads the newest stylized frame into StylizedTexture when there is a new one.</summary>
        unsafe void ShowNewestOutput()
        {
            if (StylizedTexture == null) return;
            OutputInfo info;
            if (Client.LatestOutput(IntPtr.Zero, 0, 0, CopyFlags.None, out info) != ReverieResult.Ok) return;
            if (info.FrameId == shownFrameId || info.Width != StylizedTexture.width || info.Height != StylizedTexture.height) return;
            var pixels = StylizedTexture.GetRawTextureData<byte>(); // the texture's own memory: no extra copy
            var result = Client.LatestOutput((IntPtr)NativeArrayUnsafeUtility.GetUnsafePtr(pixels), info.Width * 4, pixels.Length,
                CopyFlags.RowsBottomUp, out info);  // the one flip: Unity textures keep the bottom row first
            if (result != ReverieResult.Ok) return;
            StylizedTexture.Apply(false);
            shownFrameId = info.FrameId;
            LatestOutput = info;
            hasOutput = true;
        }

        void DrainEvents()
        {
            ReverieEvent ev;
            for (int i = 0; i < 32 && Client.PollEvent(out ev) == ReverieResult.Ok; i++)
            {
                if (ev.Type == ReverieEventType.FrameFailed) SetProblem("frame " + ev.FrameId + " failed: " + ev.Text);
                else if (ev.Type == ReverieEventType.Disconnected) SetProblem("disconnected: " + ev.Text);
                else if (ev.Type == ReverieEventType.Connected) SetProblem("");
            }
        }

        void NewStylizedTexture(int width, int height)
        {
            if (StylizedTexture != null) Destroy(StylizedTexture);
            StylizedTexture = new Texture2D(width, height, TextureFormat.RGBA32, false, false) // sRGB, no mips
            {
                name = "Reverie stylized",
                wrapMode = TextureWrapMode.Clamp,
                filterMode = FilterMode.Bilinear,
                hideFlags = HideFlags.HideAndDontSave,
            };
            hasOutput = false; // outputs of the old size are not shown stretched
        }

        void SetProblem(string text)
        {
            if (text == Problem) return;
            Problem = text;
            if (text.Length > 0) Debug.LogWarning("Reverie: " + text, this);
        }

        Action<ReverieResult, string> Report(string what)
        {
            return (result, error) =>
            {
                if (result != ReverieResult.Ok) SetProblem(what + " not applied: " + error);
            };
        }
    }
}
