// The P/Invoke declarations of libreverie (bridge/native/include/reverie.h), one to one,
// and the structs with the header's exact layout. Plain C# 7.2 with no UnityEngine, so it
// compiles with mono's mcs; tests/test_unity_client.py checks every struct's size and
// field offsets against the C header compiled with gcc.
// Most code should use ReverieClient, which wraps these safely.
using System;
using System.Runtime.InteropServices;
using System.Text;

namespace Reverie
{
    /// <summary>reverie_result: codes >= 0 are outcomes, codes &lt; 0 are errors.</summary>
    public enum ReverieResult
    {
        Ok = 0,
        NoneYet = 1,
        Skipped = 2,
        Dropped = 3,
        Quit = 4,
        InvalidArgument = -1,
        Unavailable = -2,
        Rejected = -3,
        Busy = -4,
        Protocol = -5,
        Timeout = -6,
        OutOfMemory = -7,
        System = -8,
        Unsupported = -9,
    }

    public enum MotionFormat : uint { F32 = 0, F16 = 1 }

    [Flags] public enum FrameFlags : uint { None = 0, Reset = 1 }

    /// <summary>reverie_copy_flags: RowsBottomUp for Unity readbacks and textures (row 0 = bottom).</summary>
    [Flags] public enum CopyFlags : uint { None = 0, RowsBottomUp = 1 }

    [Flags] public enum ConnectFlags : uint { None = 0, Lazy = 1, Takeover = 2 }

    public enum ReverieLogLevel { Info = 0, Warning = 1 }

    public enum ReverieEventType
    {
        None = 0, Stats = 1, PromptChanged = 2, ParamsChanged = 3, SessionOpened = 4,
        SessionClosed = 5, Error = 6, FrameFailed = 7, Disconnected = 8, Connected = 9,
    }

    /// <summary>reverie_config. Strings are UTF-8 pointers; ReverieClient fills them.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ReverieConfig
    {
        public IntPtr Control;
        public IntPtr Events;
        public IntPtr Frames;
        public IntPtr ClientName;
        public IntPtr CurveKeysDir;
        public int TimeoutMs;
        public int LivenessTimeoutMs;
        public int ReconnectIntervalMs;
        public uint Slots;
        public uint Flags;
        public uint Reserved0;
    }

    /// <summary>reverie_frame_planes: writable input planes of a begun slot, row 0 = top.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct FramePlanes
    {
        public uint Width;
        public uint Height;
        public MotionFormat MotionFormat;
        public uint Memory;
        public IntPtr Color;
        public IntPtr Depth;
        public IntPtr Motion;
        public ulong ColorPitch;
        public ulong DepthPitch;
        public ulong MotionPitch;
    }

    /// <summary>reverie_frame_info: the slot header fields of one frame; 0 = unknown / auto-numbered id.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct FrameInfo
    {
        public ulong FrameId;
        public FrameFlags Flags;
        public float JitterX;
        public float JitterY;
        public float NearM;
        public float FarM;
        public float FovY;
    }

    /// <summary>reverie_frame_source: caller-owned planes for reverie_submit_copy.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct FrameSource
    {
        public uint Width;
        public uint Height;
        public MotionFormat MotionFormat;
        public CopyFlags Flags;
        public IntPtr Color;
        public IntPtr Depth;
        public IntPtr Motion;
        public ulong ColorStride;
        public ulong DepthStride;
        public ulong MotionStride;
    }

    /// <summary>reverie_output_info: the newest output and the frame it answers.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct OutputInfo
    {
        public ulong FrameId;
        public uint Width;
        public uint Height;
        public ulong TSubmitNs;
        public ulong TDoneNs;
        public double LatencyMs;
    }

    /// <summary>reverie_preset.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct Preset
    {
        public int Steps;
        public int TransitionFrames;
        public double Strength;
        public long Seed;
        public fixed byte NameBytes[Native.NameCap];
        public fixed byte PromptBytes[Native.TextCap];

        public string Name { get { fixed (byte* p = NameBytes) return Native.Utf8(p, Native.NameCap); } }
        public string Prompt { get { fixed (byte* p = PromptBytes) return Native.Utf8(p, Native.TextCap); } }
    }

    /// <summary>reverie_status: the daemon's status reply plus this client's own view.
    /// Latencies are -1 when the daemon had no frames in the last second.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct Status
    {
        public int DaemonPid;
        public uint VersionMajor;
        public uint VersionMinor;
        public int HasSession;
        public double UptimeS;
        public fixed byte StylizerBytes[Native.NameCap];
        public fixed byte EventsBytes[Native.NameCap];
        public fixed byte SessionClientBytes[Native.NameCap];
        public int SessionPid;
        public uint SessionWidth;
        public uint SessionHeight;
        public int Steps;
        public int TransitionFrames;
        public int Reserved0;
        public double Strength;
        public long Seed;
        public fixed byte PromptBytes[Native.TextCap];
        public ulong Frames;
        public ulong Dropped;
        public ulong Failed;
        public double Fps;
        public double LatencyP50Ms;
        public double LatencyP95Ms;
        public double ProcessP50Ms;
        public uint CounterCount;
        public int Reserved1;
        public fixed byte CounterNameBytes[Native.MaxCounters * Native.CounterNameCap];
        public fixed long CounterValues[Native.MaxCounters];
        public int Connected;
        public uint RingWidth;
        public uint RingHeight;
        public uint RingSlots;
        public ulong FramesSubmitted;
        public ulong FramesSkipped;

        public string Stylizer { get { fixed (byte* p = StylizerBytes) return Native.Utf8(p, Native.NameCap); } }
        public string Events { get { fixed (byte* p = EventsBytes) return Native.Utf8(p, Native.NameCap); } }
        public string SessionClient { get { fixed (byte* p = SessionClientBytes) return Native.Utf8(p, Native.NameCap); } }
        public string Prompt { get { fixed (byte* p = PromptBytes) return Native.Utf8(p, Native.TextCap); } }

        /// <summary>The stylizer's own counter number i (0 &lt;= i &lt; CounterCount).</summary>
        public string CounterName(int i)
        {
            CheckCounter(i);
            fixed (byte* p = CounterNameBytes) return Native.Utf8(p + i * Native.CounterNameCap, Native.CounterNameCap);
        }

        public long CounterValue(int i)
        {
            CheckCounter(i);
            fixed (long* p = CounterValues) return p[i];
        }

        void CheckCounter(int i)
        {
            if (i < 0 || i >= CounterCount || i >= Native.MaxCounters)
                throw new ArgumentOutOfRangeException("i", "counter " + i + " of " + CounterCount);
        }
    }

    /// <summary>reverie_event: which fields mean something depends on Type (see reverie.h).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct ReverieEvent
    {
        public ReverieEventType Type;
        public int TransitionFrames;
        public int Steps;
        public int Pid;
        public double Strength;
        public long Seed;
        public ulong FrameId;
        public ulong Frames;
        public ulong Dropped;
        public ulong Failed;
        public double Fps;
        public double LatencyP50Ms;
        public double LatencyP95Ms;
        public double ProcessP50Ms;
        public fixed byte ClientBytes[Native.NameCap];
        public fixed byte TextBytes[Native.TextCap];

        public string Client { get { fixed (byte* p = ClientBytes) return Native.Utf8(p, Native.NameCap); } }
        public string Text { get { fixed (byte* p = TextBytes) return Native.Utf8(p, Native.TextCap); } }
    }

    /// <summary>Owns a reverie_client*. Release runs reverie_close once no P/Invoke call
    /// holding the handle is in flight (SafeHandle reference counting), which is exactly
    /// the header's rule that nothing else may run during reverie_close.</summary>
    public sealed class ReverieHandle : SafeHandle
    {
        internal IntPtr[] Strings = new IntPtr[0]; // the config's UTF-8 strings, freed after close

        public ReverieHandle() : base(IntPtr.Zero, true) { }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        internal void Adopt(IntPtr client) { SetHandle(client); }

        internal void FreeStrings()
        {
            for (int i = 0; i < Strings.Length; i++)
            {
                if (Strings[i] != IntPtr.Zero) Marshal.FreeHGlobal(Strings[i]);
                Strings[i] = IntPtr.Zero;
            }
        }

        protected override bool ReleaseHandle()
        {
            Native.reverie_close(handle);
            FreeStrings();
            return true;
        }
    }

    /// <summary>The C functions, exactly as reverie.h declares them (cdecl).</summary>
    public static unsafe class Native
    {
        public const string Library = "reverie"; // libreverie.so, reverie.dll, libreverie.dylib
        public const int TextCap = 4096;
        public const int NameCap = 264;
        public const int MaxCounters = 16;
        public const int CounterNameCap = 64;
        public const int ConsoleReplyCap = 8192;
        public const int Keep = -1;
        public const int ProtocolMajor = 2;
        public const int ProtocolMinor = 0;
        public const int AbiVersion = 1;  // REVERIE_ABI_VERSION: the library's reverie_abi_version() must say the same

        const CallingConvention Cdecl = CallingConvention.Cdecl;

        [DllImport(Library, CallingConvention = Cdecl)] public static extern IntPtr reverie_result_name(int result);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern IntPtr reverie_last_error(IntPtr client);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern IntPtr reverie_version();
        [DllImport(Library, CallingConvention = Cdecl)] public static extern int reverie_abi_version();

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] public delegate void LogCallback(IntPtr user, int level, IntPtr message);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern void reverie_set_log_callback(LogCallback fn, IntPtr user);

        [DllImport(Library, CallingConvention = Cdecl)] public static extern void reverie_config_init(out ReverieConfig config);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern ReverieResult reverie_connect(ref ReverieConfig config, out IntPtr client);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern void reverie_close(IntPtr client);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern ReverieResult reverie_default_control_endpoint(byte[] output, UIntPtr cap);

        [DllImport(Library, CallingConvention = Cdecl)] public static extern ReverieResult reverie_set_frame_format(ReverieHandle client, uint width, uint height, uint motionFormat);
        // GPU mode (transport 1 = CUDA): for native render plugins that hold a cudaStream_t; C# keeps the default (0, shared memory).
        [DllImport(Library, CallingConvention = Cdecl)] public static extern ReverieResult reverie_set_transport(ReverieHandle client, uint transport, int cudaDevice, IntPtr cudaStream);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern ReverieResult reverie_begin_frame(ReverieHandle client, out FramePlanes planes);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern ReverieResult reverie_submit_frame(ReverieHandle client, ref FrameInfo info, out ulong frameId);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern ReverieResult reverie_cancel_frame(ReverieHandle client);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern ReverieResult reverie_submit_copy(ReverieHandle client, ref FrameSource source, ref FrameInfo info, out ulong frameId);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern ReverieResult reverie_latest_output(ReverieHandle client, IntPtr dst, UIntPtr dstStride, UIntPtr dstSize, uint flags, out OutputInfo info);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern ReverieResult reverie_map_output(ReverieHandle client, out IntPtr pixels, out ulong pitch, out OutputInfo info);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern ReverieResult reverie_wait_output(ReverieHandle client, ulong frameId, int timeoutMs, IntPtr dst, UIntPtr dstStride, UIntPtr dstSize, uint flags, out OutputInfo info);

        [DllImport(Library, CallingConvention = Cdecl)] public static extern ReverieResult reverie_set_prompt(ReverieHandle client, byte[] text, int transitionFrames);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern ReverieResult reverie_set_params(ReverieHandle client, int steps, double strength, long seed);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern ReverieResult reverie_load_preset(ReverieHandle client, byte[] name, out Preset applied);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern ReverieResult reverie_list_presets(ReverieHandle client, [Out] Preset[] output, UIntPtr cap, out UIntPtr count);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern ReverieResult reverie_reset_history(ReverieHandle client);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern ReverieResult reverie_get_status(ReverieHandle client, out Status status);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern ReverieResult reverie_poll_event(ReverieHandle client, out ReverieEvent ev);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern ReverieResult reverie_console_exec(ReverieHandle client, byte[] line, byte[] reply, UIntPtr cap);

        /// <summary>A NUL-terminated UTF-8 copy of s for a const char* parameter.</summary>
        public static byte[] Utf8Z(string s)
        {
            var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
            Encoding.UTF8.GetBytes(s, 0, s.Length, bytes, 0);
            return bytes;
        }

        /// <summary>The UTF-8 string at p, up to its NUL or cap bytes.</summary>
        public static string Utf8(byte* p, int cap)
        {
            if (p == null) return null;
            int n = 0;
            while (n < cap && p[n] != 0) n++;
            return n == 0 ? "" : Encoding.UTF8.GetString(p, n);
        }

        public static string Utf8(IntPtr p) { return Utf8((byte*)p, int.MaxValue); }

        public static string Utf8(byte[] buffer)
        {
            int n = Array.IndexOf(buffer, (byte)0);
            return Encoding.UTF8.GetString(buffer, 0, n < 0 ? buffer.Length : n);
        }
    }
}
