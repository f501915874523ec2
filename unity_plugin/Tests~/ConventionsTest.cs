// Unit tests of ReverieConventions: the math the capture shaders follow.
using System;

namespace Reverie.Tests
{
    static class ConventionsTest
    {
        public static int Run()
        {
            Depth();
            Motion();
            Rows();
            Sizes();
            Jitter();
            Cuts();
            return Check.Summary("conventions");
        }

        static void Depth()
        {
            const float near = 0.3f, far = 1000f;
            foreach (bool reversed in new[] { false, true })
            {
                string mode = reversed ? "reversed Z" : "conventional Z";
                float atNear = reversed ? 1f : 0f, atFar = reversed ? 0f : 1f;
                Check.Near(near, ReverieConventions.LinearEyeDepth(atNear, near, far, reversed), 1e-4, mode + ": near plane");
                Check.Near(far, ReverieConventions.LinearEyeDepth(atFar, near, far, reversed), 1e-1, mode + ": far plane");
                // A point at view depth d: the depth buffer holds a hyperbolic value; invert it exactly.
                foreach (float d in new[] { 0.5f, 2f, 10f, 123.25f, 999f })
                {
                    float x, y, z, w;
                    ReverieConventions.ZBufferParams(near, far, reversed, out x, out y, out z, out w);
                    float raw = (1f / d - w) / z;
                    Check.That(raw >= 0f && raw <= 1f, mode + ": raw depth of " + d + " m in [0, 1], got " + raw);
                    // float32 keeps less precision far away with a conventional buffer: why engines reverse Z.
                    Check.Near(d, ReverieConventions.LinearEyeDepth(raw, near, far, reversed), d * (reversed ? 1e-4 : 5e-4), mode + ": depth " + d + " m");
                }
                // Depth grows with distance whichever way the buffer runs.
                float a = ReverieConventions.LinearEyeDepth(0.25f, near, far, reversed);
                float b = ReverieConventions.LinearEyeDepth(0.75f, near, far, reversed);
                Check.That(reversed ? a > b : a < b, mode + ": monotonic in the buffer's direction");
            }
            Check.Equal(ReverieConventions.SkyDepthMeters, ReverieConventions.FiniteDepth(float.PositiveInfinity), "inf depth becomes the sky depth");
            Check.Equal(ReverieConventions.SkyDepthMeters, ReverieConventions.FiniteDepth(float.NaN), "NaN depth becomes the sky depth");
            Check.Equal(ReverieConventions.SkyDepthMeters, ReverieConventions.FiniteDepth(-1f), "negative depth becomes the sky depth");
            Check.Equal(12.5f, ReverieConventions.FiniteDepth(12.5f), "a finite depth stays");
            bool threw = false;
            try { ReverieConventions.LinearEyeDepth(0.5f, 10f, 1f, false); } catch (ArgumentException) { threw = true; }
            Check.That(threw, "near >= far is refused");
        }

        static void Motion()
        {
            const int W = 640, H = 360;
            float dx, dy;
            // A pixel that moved 2 px right and 3 px up on screen since the last frame. Unity's
            // motion (current - previous, UV, v up) is (+2/W, +3/H); the protocol's previous
            // position is current + motion with +y down: (-2, +3).
            ReverieConventions.MotionToPixels(2f / W, 3f / H, W, H, out dx, out dy);
            Check.Near(-2.0, dx, 1e-4, "moved right: dx points back left");
            Check.Near(3.0, dy, 1e-4, "moved up: the previous row is below (+dy)");
            // The same with previous and current positions written out in top-down pixels.
            float prevX = 100.5f, prevYTop = 40.5f, curX = 97.5f, curYTop = 52.5f;
            float unityU = (curX - prevX) / W, unityV = ((H - curYTop) - (H - prevYTop)) / H;
            ReverieConventions.MotionToPixels(unityU, unityV, W, H, out dx, out dy);
            Check.Near(prevX, curX + dx, 1e-3, "previous x = current x + dx");
            Check.Near(prevYTop, curYTop + dy, 1e-3, "previous row = current row + dy");
            float u, v;
            ReverieConventions.PixelsToMotion(dx, dy, W, H, out u, out v);
            Check.Near(unityU, u, 1e-7, "round trip u");
            Check.Near(unityV, v, 1e-7, "round trip v");
            var plane = new float[] { 0f, 0f, 0.5f, -0.5f, 0.5f, 0.25f, -0.5f, 0f }; // a 2x2 plane
            ReverieConventions.MotionPlaneToPixels(plane, 2, 2);
            Check.That(plane[0] == 0f && plane[1] == 0f, "no motion stays zero");
            Check.Near(-1.0, plane[2], 1e-5, "plane pixel 1 dx");
            Check.Near(-1.0, plane[3], 1e-5, "plane pixel 1 dy");
            Check.Near(-1.0, plane[4], 1e-6, "plane pixel 2 dx (2 px wide)");
            Check.Near(0.5, plane[5], 1e-6, "plane pixel 2 dy (2 px high)");
            bool threw = false;
            try { ReverieConventions.MotionPlaneToPixels(new float[6], 2, 2); } catch (ArgumentException) { threw = true; }
            Check.That(threw, "a motion plane of the wrong length is refused");
        }

        static void Rows()
        {
            var data = new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
            ReverieConventions.FlipRows(data, 3, 3);
            Check.Equal("7,8,9,4,5,6,1,2,3", string.Join(",", data), "3 rows flipped");
            var even = new byte[] { 1, 2, 3, 4 };
            ReverieConventions.FlipRows(even, 1, 4);
            Check.Equal("4,3,2,1", string.Join(",", even), "4 rows flipped");
            ReverieConventions.FlipRows(even, 1, 4);
            Check.Equal("1,2,3,4", string.Join(",", even), "flipping twice restores");
            bool threw = false;
            try { ReverieConventions.FlipRows(new byte[5], 3, 2); } catch (ArgumentException) { threw = true; }
            Check.That(threw, "rows beyond the buffer are refused");
        }

        static void Sizes()
        {
            int w, h;
            ReverieConventions.WorkingSize(1920, 1080, 256, out w, out h);
            Check.Equal("448x256", w + "x" + h, "1080p at height 256 (the model's own working size)");
            ReverieConventions.WorkingSize(256, 256, 256, out w, out h);
            Check.Equal("256x256", w + "x" + h, "256x256 stays");
            ReverieConventions.WorkingSize(2560, 1440, 720, out w, out h);
            Check.Equal("1280x720", w + "x" + h, "1440p at height 720");
            ReverieConventions.WorkingSize(100, 50, 256, out w, out h);
            Check.Equal("96x48", w + "x" + h, "never upscaled; on the 16 grid");
            ReverieConventions.WorkingSize(1080, 1920, 256, out w, out h);
            Check.Equal("144x256", w + "x" + h, "portrait");
            ReverieConventions.WorkingSize(20000, 10, 256, out w, out h);
            Check.That(w <= ReverieConventions.MaxSide && h >= 16, "extreme aspect stays within the daemon's limits: " + w + "x" + h);
            bool threw = false;
            try { ReverieConventions.WorkingSize(0, 10, 256, out w, out h); } catch (ArgumentException) { threw = true; }
            Check.That(threw, "a zero screen size is refused");
        }

        static void Jitter()
        {
            float jx, jy;
            // A jitter of +0.25 px right and 0.5 px down at 640x360, put into a Unity perspective
            // matrix: x_ndc = -m00 x / z - m02, so +j NDC moves m02 by -j; NDC y is up, rows down.
            float jNdcX = 0.25f * 2f / 640, jNdcY = -0.5f * 2f / 360;
            ReverieConventions.JitterPixels(0.1f - jNdcX, 0.1f, -0.2f - jNdcY, -0.2f, 640, 360, out jx, out jy);
            Check.Near(0.25, jx, 1e-4, "jitter x in pixels");
            Check.Near(0.5, jy, 1e-4, "jitter y in pixels, +y down");
            ReverieConventions.JitterPixels(0.1f, 0.1f, 0f, 0f, 640, 360, out jx, out jy);
            Check.That(jx == 0f && jy == 0f, "no jitter without TAA");
        }

        static void Cuts()
        {
            Check.That(!ReverieConventions.IsCameraCut(0.1f, 2f, 5f, 45f), "walking is no cut");
            Check.That(ReverieConventions.IsCameraCut(12f, 0f, 5f, 45f), "a teleport is a cut");
            Check.That(ReverieConventions.IsCameraCut(0f, 90f, 5f, 45f), "a snap turn is a cut");
            Check.That(ReverieConventions.IsCameraCut(float.NaN, 0f, 5f, 45f), "an undefined move is a cut");
        }
    }
}
