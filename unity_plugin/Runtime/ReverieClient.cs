// A safe C# client over libreverie (see ReverieNative.cs for the raw declarations).
// Plain C# 7.2 with no UnityEngine: it compiles with mono's mcs and is tested there
// against a real daemon (tests/test_unity_client.py).
//
// Threads, as libreverie defines them (reverie.h). Three groups, each serialized by its
// own lock inside the library, so one group never waits for another:
//   FRAME  SetFrameFormat, BeginFrame, SubmitFrame, CancelFrame, SubmitCopy, LatestOutput,
//          MapOutput, WaitOutput: the thread that produces frames (in Unity the main thread,
//          where AsyncGPUReadback completes; a render-thread plugin may call them there).
//          Never blocks on the model; at most one open_ring round trip on a size change.
//   STEER  SetPrompt, SetParams, LoadPreset, ListPresets, ResetHistory, GetStatus,
//          ConsoleExec: block until the daemon answers (at most TimeoutMs). Call them off
//          the frame loop, e.g. through ReverieSteering's worker thread.
//   EVENT  PollEvent: never blocks; one thread.
//   Any thread: LastError, ResultName, Version. Dispose waits for calls in flight.
// Results are returned, not thrown: anything but Ok leaves a message in LastError
// (per calling thread).
using System;
using System.Runtime.InteropServices;

namespace Reverie
{
    /// <summary>How to reach the daemon (reverie_config). Null strings mean the defaults:
    /// $REVERIE_CONTROL or the private ipc:// path; the other endpoints from the daemon.</summary>
    public sealed class ReverieClientOptions
    {
        public string Control;
        public string Events;
        public string Frames;
        public string ClientName = "unity";
        public string CurveKeysDir;
        public int TimeoutMs;           // 0: 2000
        public int LivenessTimeoutMs;   // 0: 1000
        public int ReconnectIntervalMs; // 0: 500
        public int Slots;               // 0: 6
        /// <summary>Do not talk to the daemon in Connect: the game starts whether or not it runs.</summary>
        public bool Lazy = true;
        /// <summary>Take the session from another live game instead of getting Busy.</summary>
        public bool Takeover;
    }

    public sealed unsafe class ReverieClient : IDisposable
    {
        /// <summary>Pass for SetParams arguments that stay unchanged.</summary>
        public const int Keep = Native.Keep;

        [ThreadStatic] static string managedError; // a check this wrapper made itself

        readonly ReverieHandle handle;

        ReverieClient(ReverieHandle handle) { this.handle = handle; }

        /// <summary>Create a client. With options.Lazy (the default) this only checks the
        /// arguments; the first frame call says hello. client is null unless Ok.</summary>
        static Action<ReverieLogLevel, string> logHandler;
        static readonly Native.LogCallback logTrampoline = ForwardLog; // kept alive here: the library holds it

        /// <summary>Where the library's log lines go (connected, disconnected and why, refused
        /// frames): process-wide, from any thread, so the handler must be thread-safe
        /// (Debug.Log is). null: nowhere.</summary>
        public static void SetLogHandler(Action<ReverieLogLevel, string> handler)
        {
            logHandler = handler;
            Native.reverie_set_log_callback(handler == null ? null : logTrampoline, IntPtr.Zero);
        }

        [MonoPInvokeCallback(typeof(Native.LogCallback))] // IL2CPP needs it on a static method
        static void ForwardLog(IntPtr user, int level, IntPtr message)
        {
            var handler = logHandler;
            if (handler != null) handler((ReverieLogLevel)level, Native.Utf8(message));
        }

        public static ReverieResult Connect(ReverieClientOptions options, out ReverieClient client)
        {
            managedError = null;
            client = null;
            if (options == null) return Fail("Connect: options is null");
            int abi = Native.reverie_abi_version();  // before anything else: struct layouts depend on it
            if (abi != Native.AbiVersion)
                return Fail("Connect: libreverie has ABI version " + abi + ", these bindings were written for " +
                            Native.AbiVersion + ": use the library that ships with this package");
            ReverieConfig config;
            Native.reverie_config_init(out config);
            var handle = new ReverieHandle();
            handle.Strings = new[]
            {
                config.Control = AllocUtf8(options.Control),
                config.Events = AllocUtf8(options.Events),
                config.Frames = AllocUtf8(options.Frames),
                config.ClientName = AllocUtf8(options.ClientName),
                config.CurveKeysDir = AllocUtf8(options.CurveKeysDir),
            };
            config.TimeoutMs = options.TimeoutMs;
            config.LivenessTimeoutMs = options.LivenessTimeoutMs;
            config.ReconnectIntervalMs = options.ReconnectIntervalMs;
            config.Slots = (uint)Math.Max(0, options.Slots);
            config.Flags = (uint)((options.Lazy ? ConnectFlags.Lazy : 0) | (options.Takeover ? ConnectFlags.Takeover : 0));
            IntPtr raw;
            var result = Native.reverie_connect(ref config, out raw);
            if (result != ReverieResult.Ok)
            {
                handle.FreeStrings(); // the handle never held a client: nothing to close
                handle.SetHandleAsInvalid();
                return result;
            }
            handle.Adopt(raw);
            client = new ReverieClient(handle);
            return ReverieResult.Ok;
        }

        /// <summary>Says bye, unmaps the ring, closes the sockets (once calls in flight end).</summary>
        public void Dispose() { handle.Dispose(); }

        public bool IsDisposed { get { return handle.IsClosed; } }

        /// <summary>What went wrong in the last call on this thread that did not return Ok.</summary>
        public static string LastError
        {
            get { return managedError ?? Native.Utf8(Native.reverie_last_error(IntPtr.Zero)); }
        }

        public static string ResultName(ReverieResult result) { return Native.Utf8(Native.reverie_result_name((int)result)); }

        public static string Version { get { return Native.Utf8(Native.reverie_version()); } }

        // ------------------------------------------------------------------ FRAME group

        /// <summary>Frame size (8..8192 each) and motion format for the next frames; re-opens
        /// the ring now when a session exists and the size changed.</summary>
        public ReverieResult SetFrameFormat(int width, int height, MotionFormat motion)
        {
            if (!Enter()) return Closed();
            if (width <= 0 || height <= 0) return Fail("SetFrameFormat: size " + width + "x" + height + " is not positive");
            return Native.reverie_set_frame_format(handle, (uint)width, (uint)height, (uint)motion);
        }

        /// <summary>Zero copy: reserve a free slot and get its writable planes (row 0 = top).
        /// Finish with SubmitFrame or CancelFrame. Skipped: no free slot, skip this frame.</summary>
        public ReverieResult BeginFrame(out FramePlanes planes)
        {
            planes = default(FramePlanes);
            if (!Enter()) return Closed();
            return Native.reverie_begin_frame(handle, out planes);
        }

        public ReverieResult SubmitFrame(FrameInfo info, out ulong frameId)
        {
            frameId = 0;
            if (!Enter()) return Closed();
            return Native.reverie_submit_frame(handle, ref info, out frameId);
        }

        public ReverieResult CancelFrame()
        {
            if (!Enter()) return Closed();
            return Native.reverie_cancel_frame(handle);
        }

        /// <summary>Copy submit from native memory (NativeArray pointers, readback buffers). Strides
        /// of 0 mean tightly packed; CopyFlags.RowsBottomUp for Unity's row order. The buffers
        /// must hold height rows of their stride.</summary>
        public ReverieResult SubmitCopy(FrameSource source, FrameInfo info, out ulong frameId)
        {
            frameId = 0;
            if (!Enter()) return Closed();
            return Native.reverie_submit_copy(handle, ref source, ref info, out frameId);
        }

        /// <summary>Copy submit from managed arrays, tightly packed: color width*height*4 bytes,
        /// depth width*height floats, motion width*height*2 floats (f32 motion).</summary>
        public ReverieResult SubmitCopy(int width, int height, byte[] color, float[] depth, float[] motion, CopyFlags flags, FrameInfo info, out ulong frameId)
        {
            frameId = 0;
            if (!Enter()) return Closed();
            string problem = CheckPlanes(width, height, color, depth, motion);
            if (problem != null) return Fail("SubmitCopy: " + problem);
            fixed (byte* c = color)
            fixed (float* d = depth)
            fixed (float* m = motion)
            {
                var source = new FrameSource
                {
                    Width = (uint)width, Height = (uint)height, MotionFormat = MotionFormat.F32, Flags = flags,
                    Color = (IntPtr)c, Depth = (IntPtr)d, Motion = (IntPtr)m,
                };
                return Native.reverie_submit_copy(handle, ref source, ref info, out frameId);
            }
        }

        /// <summary>Copy the newest output (RGBA8 sRGB) into native memory of dstSize bytes, rows
        /// dstStride apart (0: width*4). NoneYet when nothing is done yet. Never waits.
        /// dst = IntPtr.Zero with dstSize 0 only fills info.</summary>
        public ReverieResult LatestOutput(IntPtr dst, long dstStride, long dstSize, CopyFlags flags, out OutputInfo info)
        {
            info = default(OutputInfo);
            if (!Enter()) return Closed();
            if (dstStride < 0 || dstSize < 0) return Fail("LatestOutput: negative stride or size");
            return Native.reverie_latest_output(handle, dst, (UIntPtr)(ulong)dstStride, (UIntPtr)(ulong)dstSize, (uint)flags, out info);
        }

        /// <summary>The newest output into a managed array, tightly packed.</summary>
        public ReverieResult LatestOutput(byte[] dst, CopyFlags flags, out OutputInfo info)
        {
            info = default(OutputInfo);
            if (!Enter()) return Closed();
            if (dst == null) return Fail("LatestOutput: dst is null");
            fixed (byte* p = dst)
                return Native.reverie_latest_output(handle, (IntPtr)p, UIntPtr.Zero, (UIntPtr)(ulong)dst.LongLength, (uint)flags, out info);
        }

        /// <summary>Zero copy: the newest output in shared memory, top-down rows pitch bytes
        /// apart; valid until the next FRAME-group call.</summary>
        public ReverieResult MapOutput(out IntPtr pixels, out ulong pitch, out OutputInfo info)
        {
            pixels = IntPtr.Zero;
            pitch = 0;
            info = default(OutputInfo);
            if (!Enter()) return Closed();
            return Native.reverie_map_output(handle, out pixels, out pitch, out info);
        }

        /// <summary>Block up to timeoutMs for the answer to frameId (tests and tools; a game uses
        /// LatestOutput). Ok, Dropped, Rejected (the frame failed), Timeout, Unavailable.</summary>
        public ReverieResult WaitOutput(ulong frameId, int timeoutMs, byte[] dst, CopyFlags flags, out OutputInfo info)
        {
            info = default(OutputInfo);
            if (!Enter()) return Closed();
            if (dst == null) return Fail("WaitOutput: dst is null");
            fixed (byte* p = dst)
                return Native.reverie_wait_output(handle, frameId, timeoutMs, (IntPtr)p, UIntPtr.Zero, (UIntPtr)(ulong)dst.LongLength, (uint)flags, out info);
        }

        // ------------------------------------------------------------------ STEER group

        /// <summary>Set the prompt (at most 1000 characters), blended over transitionFrames.</summary>
        public ReverieResult SetPrompt(string text, int transitionFrames)
        {
            if (!Enter()) return Closed();
            if (text == null) return Fail("SetPrompt: text is null");
            return Native.reverie_set_prompt(handle, Native.Utf8Z(text), transitionFrames);
        }

        /// <summary>Steps 1..8, strength 0..1, seed >= 0; Keep (or any negative value, or a NaN
        /// strength) leaves that setting as it is.</summary>
        public ReverieResult SetParams(int steps, double strength, long seed)
        {
            if (!Enter()) return Closed();
            return Native.reverie_set_params(handle, steps, strength, seed);
        }

        public ReverieResult LoadPreset(string name, out Preset applied)
        {
            applied = default(Preset);
            if (!Enter()) return Closed();
            if (name == null) return Fail("LoadPreset: name is null");
            return Native.reverie_load_preset(handle, Native.Utf8Z(name), out applied);
        }

        /// <summary>The daemon's presets (all of them).</summary>
        public ReverieResult ListPresets(out Preset[] presets)
        {
            presets = new Preset[0];
            if (!Enter()) return Closed();
            var buffer = new Preset[16];
            while (true)
            {
                UIntPtr count;
                var result = Native.reverie_list_presets(handle, buffer, (UIntPtr)(ulong)buffer.Length, out count);
                if (result != ReverieResult.Ok) return result;
                int n = (int)(ulong)count;
                if (n <= buffer.Length)
                {
                    Array.Resize(ref buffer, n);
                    presets = buffer;
                    return result;
                }
                buffer = new Preset[n]; // more than we asked for: once more with room for all
            }
        }

        public ReverieResult ResetHistory()
        {
            if (!Enter()) return Closed();
            return Native.reverie_reset_history(handle);
        }

        public ReverieResult GetStatus(out Status status)
        {
            status = default(Status);
            if (!Enter()) return Closed();
            return Native.reverie_get_status(handle, out status);
        }

        /// <summary>One line of the `reverie console` language (plain text = prompt, /preset,
        /// /steps, /strength, /seed, /transition, /reset, /status, /help, /quit), run by the
        /// daemon: the reply is the daemon's console text, what `reverie console` prints for
        /// the line ("error: ..." for a mistake). Quit for /quit.</summary>
        public ReverieResult ConsoleExec(string line, out string reply)
        {
            reply = "";
            if (!Enter()) return Closed();
            if (line == null) return Fail("ConsoleExec: line is null");
            var buffer = new byte[Native.ConsoleReplyCap];
            var result = Native.reverie_console_exec(handle, Native.Utf8Z(line), buffer, (UIntPtr)(ulong)buffer.Length);
            reply = Native.Utf8(buffer);
            return result;
        }

        // ------------------------------------------------------------------ EVENT group

        /// <summary>The next event, or NoneYet. Never blocks.</summary>
        public ReverieResult PollEvent(out ReverieEvent ev)
        {
            ev = default(ReverieEvent);
            if (!Enter()) return Closed();
            return Native.reverie_poll_event(handle, out ev);
        }

        // ------------------------------------------------------------------ helpers

        bool Enter()
        {
            managedError = null;
            return !handle.IsClosed;
        }

        static ReverieResult Closed() { return Fail("the client is disposed"); }

        static ReverieResult Fail(string message)
        {
            managedError = message;
            return ReverieResult.InvalidArgument;
        }

        static string CheckPlanes(int width, int height, byte[] color, float[] depth, float[] motion)
        {
            if (width <= 0 || height <= 0) return "size " + width + "x" + height + " is not positive";
            if (color == null || depth == null || motion == null) return "color, depth and motion must not be null";
            long pixels = (long)width * height;
            if (color.LongLength < pixels * 4) return "color has " + color.LongLength + " bytes, a " + width + "x" + height + " frame needs " + pixels * 4;
            if (depth.LongLength < pixels) return "depth has " + depth.LongLength + " floats, a " + width + "x" + height + " frame needs " + pixels;
            if (motion.LongLength < pixels * 2) return "motion has " + motion.LongLength + " floats, a " + width + "x" + height + " frame needs " + pixels * 2;
            return null;
        }

        static IntPtr AllocUtf8(string s)
        {
            if (string.IsNullOrEmpty(s)) return IntPtr.Zero;
            var bytes = Native.Utf8Z(s);
            var p = Marshal.AllocHGlobal(bytes.Length);
            Marshal.Copy(bytes, 0, p, bytes.Length);
            return p;
        }
    }

    /// <summary>Marks a method that native code calls back; IL2CPP recognizes it by name.</summary>
    [AttributeUsage(AttributeTargets.Method)]
    sealed class MonoPInvokeCallbackAttribute : Attribute
    {
        public MonoPInvokeCallbackAttribute(Type type) { Type = type; }
        public Type Type { get; private set; }
    }
}
