// The C# client against a real daemon (started by tests/test_unity_client.py with the Echo
// stylizer of tests/stylizers.py) and the real libreverie:
//   ClientTest.exe layout | conventions | roundtrip CONTROL | steer CONTROL | errors CONTROL DEAD_CONTROL
// Echo's output is the Mix transform (color XOR the bytes of depth and motion, reset flag and
// frame id stamped into pixel (0, 0)) with the stylizer's prompt written into row 1, so a
// byte-exact comparison shows every plane, the header and the prompt crossed intact.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;

namespace Reverie.Tests
{
    sealed class TestFrame
    {
        public readonly int W, H;
        public readonly byte[] Color;
        public readonly float[] Depth;
        public readonly float[] Motion; // (dx, dy) per pixel, f32

        public TestFrame(Random rng, int w, int h)
        {
            W = w; H = h;
            Color = new byte[w * h * 4];
            Depth = new float[w * h];
            Motion = new float[w * h * 2];
            for (int i = 0; i < Color.Length; i++) Color[i] = (byte)rng.Next(1, 256);
            for (int i = 0; i < Depth.Length; i++) Depth[i] = (float)(0.1 + rng.NextDouble() * 999.9);
            for (int i = 0; i < Motion.Length; i++) Motion[i] = (float)((1 + rng.NextDouble() * 63) * (rng.Next(2) == 0 ? -1 : 1));
        }

        /// <summary>What the Echo stylizer writes for this frame (rows top-down).</summary>
        public byte[] Expected(ulong frameId, bool reset, string echoText)
        {
            var depthBytes = new byte[Depth.Length * 4];
            var motionBytes = new byte[Motion.Length * 4];
            Buffer.BlockCopy(Depth, 0, depthBytes, 0, depthBytes.Length);
            Buffer.BlockCopy(Motion, 0, motionBytes, 0, motionBytes.Length);
            var output = new byte[Color.Length];
            for (int p = 0; p < W * H; p++)
                for (int c = 0; c < 4; c++)
                    output[p * 4 + c] = (byte)(Color[p * 4 + c] ^ depthBytes[p * 4 + c] ^ motionBytes[p * 8 + c] ^ motionBytes[p * 8 + 4 + c]);
            output[0] = (byte)(reset ? 1 : 0);
            output[1] = (byte)(frameId & 0xFF);
            output[2] = (byte)((frameId >> 8) & 0xFF);
            output[3] = 0xA5;
            var row = new byte[W * 4];
            var text = Encoding.UTF8.GetBytes(echoText);
            Array.Copy(text, row, Math.Min(text.Length, row.Length));
            Array.Copy(row, 0, output, W * 4, row.Length);
            return output;
        }

        public static T[] FlipRows<T>(T[] data, int rows)
        {
            int n = data.Length / rows;
            var flipped = new T[data.Length];
            for (int r = 0; r < rows; r++) Array.Copy(data, r * n, flipped, (rows - 1 - r) * n, n);
            return flipped;
        }
    }

    static unsafe class ClientTest
    {
        static int Main(string[] args)
        {
            if (args.Length == 0) return Usage();
            switch (args[0])
            {
                case "layout": return LayoutTest.Run();
                case "conventions": return ConventionsTest.Run();
                case "roundtrip": return args.Length == 2 ? RoundTrip(args[1]) : Usage();
                case "steer": return args.Length == 2 ? Steer(args[1]) : Usage();
                case "errors": return args.Length == 3 ? Errors(args[1], args[2]) : Usage();
                default: return Usage();
            }
        }

        static int Usage()
        {
            Console.WriteLine("usage: ClientTest.exe layout | conventions | roundtrip CONTROL | steer CONTROL | errors CONTROL DEAD_CONTROL");
            return 2;
        }

        static ReverieClient Connect(string control)
        {
            ReverieClient client;
            var result = ReverieClient.Connect(new ReverieClientOptions { Control = control, ClientName = "unity-test", Lazy = false }, out client);
            if (result != ReverieResult.Ok)
                throw new Exception("connect to " + control + ": " + result + ": " + ReverieClient.LastError);
            return client;
        }

        // ------------------------------------------------------------------ frames

        /// <summary>120 frames through four submit paths (zero copy, managed copy, bottom-up
        /// copy, padded native strides), a size change, reset flags and two prompt changes;
        /// every output compared byte for byte.</summary>
        static int RoundTrip(string control)
        {
            var rng = new Random(1234);
            var logged = new List<string>();
            ReverieClient.SetLogHandler((level, line) => { lock (logged) logged.Add(level + " " + line); });
            using (var client = Connect(control))
            {
                lock (logged) Check.That(logged.Contains("Info reverie: connected to the daemon"), "the log handler heard the connect: " + string.Join("; ", logged));
                ReverieClient.SetLogHandler(null);
                Check.Result(ReverieResult.Ok, client.SetPrompt("starry night", 7), "set the first prompt");
                string echo = "starry night|7";
                var sizes = new[] { new[] { 160, 96 }, new[] { 96, 64 } };
                var frames = new TestFrame[2][];
                for (int s = 0; s < 2; s++)
                {
                    frames[s] = new TestFrame[4];
                    for (int k = 0; k < 4; k++) frames[s][k] = new TestFrame(rng, sizes[s][0], sizes[s][1]);
                }
                var latencies = new double[120];
                var watch = Stopwatch.StartNew();
                int exact = 0;
                for (int i = 0; i < 120; i++)
                {
                    if (i == 80)
                    {
                        string reply;
                        Check.Result(ReverieResult.Ok, client.ConsoleExec("/transition 5", out reply), "console /transition");
                        Check.Result(ReverieResult.Ok, client.ConsoleExec("oil painting, thick strokes", out reply), "console sets the prompt");
                        Check.That(reply.Contains("oil painting, thick strokes"), "console reply names the prompt: " + reply);
                        echo = "oil painting, thick strokes|5";
                    }
                    var frame = frames[i < 60 ? 0 : 1][i % 4];
                    frame.Color[(i * 7) % frame.Color.Length] = (byte)(i % 255 + 1); // every frame differs
                    bool reset = i % 10 == 3;
                    int mode = i % 4;
                    ulong frameId;
                    var result = Submit(client, frame, mode, reset, out frameId);
                    Check.Result(ReverieResult.Ok, result, "submit frame " + i + " (mode " + mode + ")");
                    if (result != ReverieResult.Ok) continue;
                    bool bottomUp = mode == 2;
                    var output = new byte[frame.W * frame.H * 4];
                    OutputInfo info;
                    result = client.WaitOutput(frameId, 5000, output, bottomUp ? CopyFlags.RowsBottomUp : CopyFlags.None, out info);
                    Check.Result(ReverieResult.Ok, result, "output of frame " + i);
                    Check.Equal(frameId, info.FrameId, "output answers frame " + i);
                    Check.Equal((uint)frame.W, info.Width, "output width");
                    var expected = frame.Expected(frameId, reset, echo);
                    if (bottomUp) expected = TestFrame.FlipRows(expected, frame.H);
                    bool same = Same(expected, output);
                    Check.That(same, "frame " + i + " (mode " + mode + ", " + frame.W + "x" + frame.H + ") byte-exact" + FirstDifference(expected, output));
                    if (same) exact++;
                    latencies[i] = info.LatencyMs;
                }
                double seconds = watch.Elapsed.TotalSeconds;
                // The newest output, without waiting: the last frame, top-down and through the zero-copy map.
                var last = frames[1][119 % 4];
                var latest = new byte[last.W * last.H * 4];
                OutputInfo latestInfo;
                Check.Result(ReverieResult.Ok, client.LatestOutput(latest, CopyFlags.None, out latestInfo), "latest output");
                OutputInfo peek; // what ReverieCamera asks each frame before it copies anything
                Check.Result(ReverieResult.Ok, client.LatestOutput(IntPtr.Zero, 0, 0, CopyFlags.None, out peek), "latest output info only");
                Check.Equal(latestInfo.FrameId, peek.FrameId, "info-only call names the newest frame");
                IntPtr mapped;
                ulong pitch;
                OutputInfo mappedInfo;
                Check.Result(ReverieResult.Ok, client.MapOutput(out mapped, out pitch, out mappedInfo), "map output");
                Check.Equal(latestInfo.FrameId, mappedInfo.FrameId, "mapped output is the latest");
                var fromMap = new byte[latest.Length];
                for (int r = 0; r < last.H; r++) Marshal.Copy(mapped + (int)((ulong)r * pitch), fromMap, r * last.W * 4, last.W * 4);
                Check.That(Same(latest, fromMap), "mapped output equals the copied one");
                Status status;
                Check.Result(ReverieResult.Ok, client.GetStatus(out status), "status");
                Check.That(status.Frames >= 120, "daemon counted the frames: " + status.Frames);
                Check.Equal(96u, status.RingWidth, "ring re-negotiated to the new width");
                Check.Equal(120ul, status.FramesSubmitted, "client counted its submissions");
                Array.Sort(latencies);
                Console.WriteLine("round trip: " + exact + "/120 frames byte-exact in " + seconds.ToString("F2") + " s, latency p50 " + latencies[60].ToString("F2") + " ms");
            }
            return Check.Summary("roundtrip");
        }

        static ReverieResult Submit(ReverieClient client, TestFrame f, int mode, bool reset, out ulong frameId)
        {
            var info = new FrameInfo { Flags = reset ? FrameFlags.Reset : FrameFlags.None, NearM = 0.1f, FarM = 500f, FovY = 1.2f };
            switch (mode)
            {
                case 0: // zero copy into the slot
                {
                    frameId = 0;
                    var result = client.SetFrameFormat(f.W, f.H, MotionFormat.F32);
                    if (result != ReverieResult.Ok) return result;
                    FramePlanes planes;
                    result = client.BeginFrame(out planes);
                    if (result != ReverieResult.Ok) return result;
                    for (int r = 0; r < f.H; r++)
                    {
                        Marshal.Copy(f.Color, r * f.W * 4, planes.Color + (int)((ulong)r * planes.ColorPitch), f.W * 4);
                        Marshal.Copy(f.Depth, r * f.W, planes.Depth + (int)((ulong)r * planes.DepthPitch), f.W);
                        Marshal.Copy(f.Motion, r * f.W * 2, planes.Motion + (int)((ulong)r * planes.MotionPitch), f.W * 2);
                    }
                    return client.SubmitFrame(info, out frameId);
                }
                case 1: // copy from managed arrays, top-down
                    return client.SubmitCopy(f.W, f.H, f.Color, f.Depth, f.Motion, CopyFlags.None, info, out frameId);
                case 2: // copy of bottom-up rows, as a Unity readback has them
                    return client.SubmitCopy(f.W, f.H, TestFrame.FlipRows(f.Color, f.H), TestFrame.FlipRows(f.Depth, f.H),
                        TestFrame.FlipRows(f.Motion, f.H), CopyFlags.RowsBottomUp, info, out frameId);
                default: // copy from native memory with padded rows
                    return SubmitPadded(client, f, info, out frameId);
            }
        }

        static ReverieResult SubmitPadded(ReverieClient client, TestFrame f, FrameInfo info, out ulong frameId)
        {
            int pad = 64;
            int cs = f.W * 4 + pad, ds = f.W * 4 + pad, ms = f.W * 8 + pad;
            IntPtr c = Marshal.AllocHGlobal(cs * f.H), d = Marshal.AllocHGlobal(ds * f.H), m = Marshal.AllocHGlobal(ms * f.H);
            try
            {
                for (int r = 0; r < f.H; r++)
                {
                    Marshal.Copy(f.Color, r * f.W * 4, c + r * cs, f.W * 4);
                    Marshal.Copy(f.Depth, r * f.W, d + r * ds, f.W);
                    Marshal.Copy(f.Motion, r * f.W * 2, m + r * ms, f.W * 2);
                    // The padding holds NaN: a library that read it would fail the frame.
                    Marshal.Copy(new[] { float.NaN }, 0, d + r * ds + f.W * 4, 1);
                    Marshal.Copy(new[] { float.NaN }, 0, m + r * ms + f.W * 8, 1);
                }
                var source = new FrameSource
                {
                    Width = (uint)f.W, Height = (uint)f.H, MotionFormat = MotionFormat.F32, Flags = CopyFlags.None,
                    Color = c, Depth = d, Motion = m, ColorStride = (ulong)cs, DepthStride = (ulong)ds, MotionStride = (ulong)ms,
                };
                return client.SubmitCopy(source, info, out frameId);
            }
            finally
            {
                Marshal.FreeHGlobal(c); Marshal.FreeHGlobal(d); Marshal.FreeHGlobal(m);
            }
        }

        static bool Same(byte[] a, byte[] b)
        {
            if (a.Length != b.Length) return false;
            for (int i = 0; i < a.Length; i++) if (a[i] != b[i]) return false;
            return true;
        }

        static string FirstDifference(byte[] expected, byte[] actual)
        {
            for (int i = 0; i < Math.Min(expected.Length, actual.Length); i++)
                if (expected[i] != actual[i]) return " (first difference at byte " + i + ": " + expected[i] + " != " + actual[i] + ")";
            return expected.Length == actual.Length ? "" : " (lengths " + expected.Length + " != " + actual.Length + ")";
        }

        // ------------------------------------------------------------------ steering

        /// <summary>Prompts, params, presets, status, events and the console, as a game thread
        /// (and the steering worker) would use them.</summary>
        static int Steer(string control)
        {
            using (var client = Connect(control))
            {
                ReverieEvent ev;
                client.PollEvent(out ev); // connects the subscription; events before it are lost
                Thread.Sleep(300);
                Check.Result(ReverieResult.Ok, client.SetPrompt("winter night, ünïcödé ❄", 12), "set prompt");
                Status status;
                Check.Result(ReverieResult.Ok, client.GetStatus(out status), "status");
                Check.Equal("winter night, ünïcödé ❄", status.Prompt, "status shows the prompt (UTF-8 both ways)");
                Check.Equal(12, status.TransitionFrames, "status shows the transition");
                Check.Equal("echo", status.Stylizer, "stylizer name");
                Check.Equal(2u, status.VersionMajor, "protocol major");
                Check.That(WaitForEvent(client, ReverieEventType.PromptChanged, "winter night, ünïcödé ❄"), "prompt_changed event arrives");

                Check.Result(ReverieResult.Ok, client.SetParams(3, 0.5, 42), "set params");
                Check.Result(ReverieResult.Ok, client.SetParams(ReverieClient.Keep, 0.25, ReverieClient.Keep), "set strength only");
                client.GetStatus(out status);
                Check.Equal("3 0.25 42", status.Steps + " " + status.Strength + " " + status.Seed, "Keep leaves steps and seed");

                Preset[] presets;
                Check.Result(ReverieResult.Ok, client.ListPresets(out presets), "list presets");
                Check.That(presets.Length >= 5, "the built-in presets are listed: " + presets.Length);
                Preset applied;
                Check.Result(ReverieResult.Ok, client.LoadPreset("winter", out applied), "load preset");
                Check.Equal("winter", applied.Name, "applied preset name");
                client.GetStatus(out status);
                Check.Equal(applied.Prompt, status.Prompt, "the preset's prompt is the daemon's prompt");
                Check.Equal(applied.Steps, status.Steps, "the preset's steps");
                Check.Result(ReverieResult.Ok, client.ResetHistory(), "reset history");

                string reply;
                Check.Result(ReverieResult.Ok, client.ConsoleExec("/steps 4", out reply), "console /steps 4");
                Check.Equal("steps set to 4", reply, "the daemon's console text");
                client.GetStatus(out status);
                Check.Equal(4, status.Steps, "console changed the steps");
                Check.Result(ReverieResult.Ok, client.ConsoleExec("/transition 12", out reply), "console /transition 12");
                Check.Result(ReverieResult.Ok, client.ConsoleExec("misty harbor \u2713", out reply), "console prompt, not ASCII");
                Check.Equal("prompt set: 'misty harbor \u2713' (transition 12 frames)", reply, "UTF-8 both ways, this console's transition");
                client.GetStatus(out status);
                Check.Equal("misty harbor \u2713", status.Prompt, "the console's prompt is the daemon's");
                Check.Equal(12, status.TransitionFrames, "blended over this console's transition");
                var result = client.ConsoleExec("/steps 99", out reply);
                Check.That(result != ReverieResult.Ok && reply.StartsWith("error:"), "console /steps 99 is an error: " + result + " " + reply);
                result = client.ConsoleExec("/frobnicate", out reply);
                Check.Result(ReverieResult.InvalidArgument, result, "unknown console command");
                Check.That(reply.Contains("unknown command"), "unknown command reply: " + reply);
                Check.Result(ReverieResult.Ok, client.ConsoleExec("/preset", out reply), "console /preset lists");
                Check.That(reply.Contains("anime") && reply.Contains("pencil"), "the list names presets: " + reply);
                Check.Result(ReverieResult.Ok, client.ConsoleExec("/status", out reply), "console /status");
                Check.That(reply.Contains("echo"), "/status names the stylizer: " + reply);
                Check.Result(ReverieResult.Quit, client.ConsoleExec("/quit", out reply), "console /quit");

                // The same calls through the steering worker, results delivered by Pump.
                using (var steering = new ReverieSteering(client))
                {
                    string seen = null;
                    ReverieResult seenResult = ReverieResult.System;
                    steering.Post(c => { string r; var x = c.ConsoleExec("/seed 7", out r); return x; }, (r, e) => { seenResult = r; seen = e; });
                    steering.Post(c => c.SetParams(0, double.NaN, ReverieClient.Keep), (r, e) => { if (r != ReverieResult.Ok) seen = e; });
                    var deadline = DateTime.UtcNow.AddSeconds(5);
                    int ran = 0;
                    while (ran < 2 && DateTime.UtcNow < deadline) { ran += steering.Pump(); Thread.Sleep(10); }
                    Check.Equal(2, ran, "both completions ran on the pumping thread");
                    Check.Result(ReverieResult.Ok, seenResult, "console through the worker");
                    Check.That(seen != null && seen.Contains("steps"), "the worker reports the daemon's error text: " + seen);
                }
                client.GetStatus(out status);
                Check.Equal(7L, status.Seed, "worker's /seed reached the daemon");
            }
            return Check.Summary("steer");
        }

        static bool WaitForEvent(ReverieClient client, ReverieEventType type, string text)
        {
            var deadline = DateTime.UtcNow.AddSeconds(3);
            while (DateTime.UtcNow < deadline)
            {
                ReverieEvent ev;
                var result = client.PollEvent(out ev);
                if (result == ReverieResult.Ok && ev.Type == type && ev.Text == text) return true;
                if (result != ReverieResult.Ok) Thread.Sleep(20);
            }
            return false;
        }

        // ------------------------------------------------------------------ bad input

        static int Errors(string control, string deadControl)
        {
            using (var client = Connect(control))
            {
                Check.Result(ReverieResult.Rejected, client.SetParams(0, ReverieClient.Keep, ReverieClient.Keep), "steps 0");
                Check.That(ReverieClient.LastError.Contains("steps"), "error names steps: " + ReverieClient.LastError);
                Check.Result(ReverieResult.Rejected, client.SetParams(99, ReverieClient.Keep, ReverieClient.Keep), "steps 99");
                Check.Result(ReverieResult.Rejected, client.SetParams(ReverieClient.Keep, 1.5, ReverieClient.Keep), "strength 1.5");
                var tooLong = client.SetPrompt(new string('x', 1001), 0);
                Check.That(tooLong == ReverieResult.Rejected || tooLong == ReverieResult.InvalidArgument, "a 1001-character prompt is refused: " + tooLong);
                Check.Result(ReverieResult.Rejected, client.SetPrompt("fine", 10001), "transition over 10000");
                Preset applied;
                Check.Result(ReverieResult.Rejected, client.LoadPreset("no-such-preset", out applied), "unknown preset");
                Check.Result(ReverieResult.InvalidArgument, client.SetPrompt(null, 0), "null prompt");
                Check.That(ReverieClient.LastError.Contains("null"), "null prompt message: " + ReverieClient.LastError);

                FramePlanes planes;
                Check.Result(ReverieResult.InvalidArgument, client.BeginFrame(out planes), "begin before a format");
                Check.Result(ReverieResult.InvalidArgument, client.SetFrameFormat(4, 4, MotionFormat.F32), "4x4 is below the minimum");
                Check.Result(ReverieResult.InvalidArgument, client.SetFrameFormat(9000, 64, MotionFormat.F32), "9000 wide is above the maximum");
                Check.Result(ReverieResult.InvalidArgument, client.SetFrameFormat(-1, 64, MotionFormat.F32), "negative width");
                Check.Result(ReverieResult.Ok, client.SetFrameFormat(32, 16, MotionFormat.F32), "32x16");
                Check.Result(ReverieResult.Ok, client.BeginFrame(out planes), "begin");
                Check.Result(ReverieResult.InvalidArgument, client.BeginFrame(out planes), "begin twice");
                Check.Result(ReverieResult.Ok, client.CancelFrame(), "cancel");

                var f = new TestFrame(new Random(5), 32, 16);
                ulong frameId;
                var info = new FrameInfo();
                Check.Result(ReverieResult.InvalidArgument, client.SubmitCopy(32, 16, new byte[10], f.Depth, f.Motion, CopyFlags.None, info, out frameId), "short color array");
                Check.That(ReverieClient.LastError.Contains("color has 10 bytes"), "short array message: " + ReverieClient.LastError);
                Check.Result(ReverieResult.InvalidArgument, client.SubmitCopy(32, 16, f.Color, null, f.Motion, CopyFlags.None, info, out frameId), "null depth");

                // A NaN in depth fails that frame (the daemon's check) and the next one passes.
                var bad = (float[])f.Depth.Clone();
                bad[17] = float.NaN;
                var output = new byte[32 * 16 * 4];
                OutputInfo outInfo;
                Check.Result(ReverieResult.Ok, client.SubmitCopy(32, 16, f.Color, bad, f.Motion, CopyFlags.None, info, out frameId), "submit a NaN frame");
                Check.Result(ReverieResult.Rejected, client.WaitOutput(frameId, 5000, output, CopyFlags.None, out outInfo), "NaN frame rejected");
                Check.That(ReverieClient.LastError.Contains("non-finite"), "NaN message: " + ReverieClient.LastError);
                Check.Result(ReverieResult.Ok, client.SubmitCopy(32, 16, f.Color, f.Depth, f.Motion, CopyFlags.None, info, out frameId), "submit a good frame");
                Check.Result(ReverieResult.Ok, client.WaitOutput(frameId, 5000, output, CopyFlags.None, out outInfo), "the daemon keeps serving");
                Check.Result(ReverieResult.InvalidArgument, client.WaitOutput(frameId, 100, new byte[8], CopyFlags.None, out outInfo), "output buffer too small");

                client.Dispose();
                Check.Result(ReverieResult.InvalidArgument, client.SetPrompt("after dispose", 0), "a disposed client");
                Check.That(ReverieClient.LastError.Contains("disposed"), "disposed message: " + ReverieClient.LastError);
            }

            ReverieClient nobody;
            var watch = Stopwatch.StartNew();
            var result = ReverieClient.Connect(new ReverieClientOptions { Control = deadControl, Lazy = false, TimeoutMs = 300 }, out nobody);
            Check.Result(ReverieResult.Unavailable, result, "no daemon at " + deadControl);
            Check.That(nobody == null, "no client without a daemon");
            Check.That(watch.ElapsedMilliseconds < 3000, "gave up within the timeout: " + watch.ElapsedMilliseconds + " ms");
            Check.Result(ReverieResult.InvalidArgument, ReverieClient.Connect(null, out nobody), "null options");
            Check.Equal("REVERIE_UNAVAILABLE", ReverieClient.ResultName(ReverieResult.Unavailable), "result names");
            Check.Equal("REVERIE_UNKNOWN_RESULT", ReverieClient.ResultName((ReverieResult)42), "unknown result name");
            Check.That(!string.IsNullOrEmpty(ReverieClient.Version), "library version: " + ReverieClient.Version);
            return Check.Summary("errors");
        }
    }
}
