// Captures one camera's color, linear depth and motion at the working size and reads them
// back without ever stalling the render thread: two sets of NativeArrays, a readback request
// per plane recorded into the camera's command buffer, and a frame skipped when both sets are
// still in flight. Compiled only inside Unity (built-in pipeline and URP share it).
using System;
using System.Collections.Generic;
using Unity.Collections;
using Unity.Collections.LowLevel.Unsafe;
using UnityEngine;
using UnityEngine.Experimental.Rendering;
using UnityEngine.Rendering;

namespace Reverie
{
    sealed unsafe class ReverieFrameCapture : IDisposable
    {
        /// <summary>One frame's three planes on their way back from the GPU.</summary>
        sealed class Readback
        {
            public NativeArray<byte> Color;
            public NativeArray<float> Depth;
            public NativeArray<float> Motion;
            public int Width, Height;
            public int Pending;           // requests not completed yet
            public bool Failed;           // a request reported hasError
            public bool Retired;          // the size changed meanwhile: free the arrays when done
            public FrameInfo Info;
            public Action<AsyncGPUReadbackRequest> OnDone;

            public Readback(int width, int height, Action<Readback> completed)
            {
                Width = width;
                Height = height;
                int pixels = width * height;
                Color = new NativeArray<byte>(pixels * 4, Allocator.Persistent, NativeArrayOptions.UninitializedMemory);
                Depth = new NativeArray<float>(pixels, Allocator.Persistent, NativeArrayOptions.UninitializedMemory);
                Motion = new NativeArray<float>(pixels * 2, Allocator.Persistent, NativeArrayOptions.UninitializedMemory);
                OnDone = request =>
                {
                    Failed |= request.hasError;
                    if (--Pending == 0) completed(this);
                };
            }

            public void Free()
            {
                Color.Dispose();
                Depth.Dispose();
                Motion.Dispose();
            }
        }

        static readonly int SizeId = Shader.PropertyToID("_ReverieSize");
        static readonly int SkyDepthId = Shader.PropertyToID("_ReverieSkyDepth");

        /// <summary>Called on the main thread (where Unity completes readbacks) with the planes of
        /// one captured frame: bottom-up rows, as Unity stores textures. The pointers are valid
        /// only during the call.</summary>
        public Action<FrameSource, FrameInfo> FrameReady;

        readonly Material captureMaterial;
        readonly Readback[] sets = new Readback[2];       // the two sets frames are captured into
        readonly List<Readback> live = new List<Readback>(); // every set whose arrays exist (retired ones too)
        bool disposed;
        RenderTexture colorTarget, depthTarget, motionTarget;

        public int Width { get; private set; }
        public int Height { get; private set; }
        public int FramesFailed { get; private set; }

        public ReverieFrameCapture(Shader captureShader, bool urp)
        {
            captureMaterial = new Material(captureShader) { hideFlags = HideFlags.HideAndDontSave };
            if (urp) captureMaterial.EnableKeyword("REVERIE_URP");
            captureMaterial.SetFloat(SkyDepthId, ReverieConventions.SkyDepthMeters);
        }

        /// <summary>(Re)creates the targets and readback sets for a new working size. Sets still in
        /// flight keep their arrays until their requests complete.</summary>
        public void Resize(int width, int height)
        {
            if (width == Width && height == Height) return;
            Width = width;
            Height = height;
            ReleaseTargets();
            colorTarget = NewTarget(width, height, GraphicsFormat.R8G8B8A8_SRGB, "Reverie color");
            depthTarget = NewTarget(width, height, GraphicsFormat.R32_SFloat, "Reverie depth");
            motionTarget = NewTarget(width, height, GraphicsFormat.R32G32_SFloat, "Reverie motion");
            captureMaterial.SetVector(SizeId, new Vector4(width, height, 1f / width, 1f / height));
            for (int i = 0; i < sets.Length; i++)
            {
                if (sets[i] != null)
                {
                    if (sets[i].Pending > 0) sets[i].Retired = true;
                    else Free(sets[i]);
                }
                sets[i] = new Readback(width, height, Completed);
                live.Add(sets[i]);
            }
        }

        /// <summary>Records the capture of source into cmd: three blits and three readback
        /// requests. False when both readback sets are still in flight (the frame is skipped).</summary>
        public bool Record(CommandBuffer cmd, RenderTargetIdentifier source, FrameInfo info)
        {
            if (disposed || Width == 0) return false;
            Readback set = null;
            foreach (var candidate in sets)
                if (candidate.Pending == 0) { set = candidate; break; }
            if (set == null) return false;
            cmd.Blit(source, colorTarget, captureMaterial, 0);
            // Depth and motion read the camera's global textures, not _MainTex: any small
            // source does, so the camera target is not read three times.
            cmd.Blit(colorTarget, depthTarget, captureMaterial, 1);
            cmd.Blit(colorTarget, motionTarget, captureMaterial, 2);
            set.Pending = 3;
            set.Failed = false;
            set.Info = info;
            cmd.RequestAsyncReadbackIntoNativeArray(ref set.Color, colorTarget, 0, set.OnDone);
            cmd.RequestAsyncReadbackIntoNativeArray(ref set.Depth, depthTarget, 0, set.OnDone);
            cmd.RequestAsyncReadbackIntoNativeArray(ref set.Motion, motionTarget, 0, set.OnDone);
            return true;
        }

        void Completed(Readback set)
        {
            if (disposed) return; // a late callback after teardown: the arrays are gone
            if (set.Failed) FramesFailed++;
            else if (FrameReady != null)
            {
                var source = new FrameSource
                {
                    Width = (uint)set.Width,
                    Height = (uint)set.Height,
                    MotionFormat = MotionFormat.F32,
                    Flags = CopyFlags.RowsBottomUp,
                    Color = (IntPtr)NativeArrayUnsafeUtility.GetUnsafeReadOnlyPtr(set.Color),
                    Depth = (IntPtr)NativeArrayUnsafeUtility.GetUnsafeReadOnlyPtr(set.Depth),
                    Motion = (IntPtr)NativeArrayUnsafeUtility.GetUnsafeReadOnlyPtr(set.Motion),
                };
                FrameReady(source, set.Info);
            }
            if (set.Retired) Free(set);
        }

        void Free(Readback set)
        {
            set.Free();
            live.Remove(set);
        }

        /// <summary>Waits for requests still in flight (only here, at teardown: their arrays
        /// must not be freed under them), then frees everything. No FrameReady after this.</summary>
        public void Dispose()
        {
            if (disposed) return;
            disposed = true;
            FrameReady = null;
            bool inFlight = false;
            foreach (var set in live) inFlight |= set.Pending > 0;
            if (inFlight) AsyncGPUReadback.WaitAllRequests();
            foreach (var set in live) set.Free();
            live.Clear();
            ReleaseTargets();
            UnityEngine.Object.Destroy(captureMaterial);
        }

        void ReleaseTargets()
        {
            foreach (var target in new[] { colorTarget, depthTarget, motionTarget })
            {
                if (target == null) continue;
                target.Release();
                UnityEngine.Object.Destroy(target);
            }
            colorTarget = depthTarget = motionTarget = null;
        }

        static RenderTexture NewTarget(int width, int height, GraphicsFormat format, string name)
        {
            var target = new RenderTexture(width, height, 0, format) { name = name, hideFlags = HideFlags.HideAndDontSave };
            target.Create();
            return target;
        }
    }
}
