// Engine-independent conversions between Unity's buffers and the Reverie frame conventions
// (docs/protocol.md 2.5). Plain C# with no UnityEngine, so it is unit-tested under mono.
// The capture shaders (Shaders/ReverieCapture.shader) do the same math on the GPU; the
// formulas here are the reference they follow, and tests pin them.
using System;

namespace Reverie
{
    public static class ReverieConventions
    {
        /// <summary>Smallest and largest frame side the daemon accepts.</summary>
        public const int MinSide = 8;
        public const int MaxSide = 8192;

        /// <summary>Working sizes are multiples of this: the model's own working size is
        /// (height 256, width keeping the aspect, both multiples of 16), so a frame already
        /// on that grid is not resized twice.</summary>
        public const int SizeGrid = 16;

        /// <summary>Depth written for the sky and anything at or beyond it: the protocol's one
        /// convention (REVERIE_SKY_DEPTH_METERS, the distance the model reads depth up to); the
        /// protocol needs finite depth, and a NaN/inf fails the frame.</summary>
        public const float SkyDepthMeters = 1000f;

        /// <summary>Unity's _ZBufferParams for a camera: (1 - f/n, f/n, x/f, y/f), or with a
        /// reversed depth buffer (D3D11/12, Metal, Vulkan, consoles) (-1 + f/n, 1, x/f, 1/f).
        /// LinearEyeDepth(raw) = 1 / (z * raw + w).</summary>
        public static void ZBufferParams(float near, float far, bool reversedZ, out float x, out float y, out float z, out float w)
        {
            if (!(near > 0f) || !(far > near))
                throw new ArgumentException("need 0 < near < far, got near=" + near + " far=" + far);
            if (reversedZ)
            {
                x = -1f + far / near;
                y = 1f;
            }
            else
            {
                x = 1f - far / near;
                y = far / near;
            }
            z = x / far;
            w = y / far;
        }

        /// <summary>Linear view depth in meters (Unity's LinearEyeDepth) from a raw depth-buffer
        /// value in [0, 1]; non-finite results (degenerate parameters) become SkyDepthMeters.</summary>
        public static float LinearEyeDepth(float rawDepth, float near, float far, bool reversedZ)
        {
            float x, y, z, w;
            ZBufferParams(near, far, reversedZ, out x, out y, out z, out w);
            float depth = 1f / (z * rawDepth + w);
            return FiniteDepth(depth);
        }

        /// <summary>The protocol's depth must be finite and positive: NaN, inf and values past
        /// SkyDepthMeters (the sky) become SkyDepthMeters.</summary>
        public static float FiniteDepth(float depth)
        {
            if (float.IsNaN(depth) || depth > SkyDepthMeters || depth <= 0f)
                return SkyDepthMeters;
            return depth;
        }

        /// <summary>Unity's motion vector (UV units, current minus previous, v up) to the protocol's
        /// (pixels, previous = current + motion, +dy down): dx = -u * width, dy = +v * height.
        /// The v sign flips twice: once for previous-minus-current, once for rows counted from
        /// the top.</summary>
        public static void MotionToPixels(float unityU, float unityV, int width, int height, out float dx, out float dy)
        {
            dx = -unityU * width;
            dy = unityV * height;
        }

        /// <summary>The inverse of MotionToPixels (tests and debugging views).</summary>
        public static void PixelsToMotion(float dx, float dy, int width, int height, out float unityU, out float unityV)
        {
            unityU = -dx / width;
            unityV = dy / height;
        }

        /// <summary>Converts an interleaved (u, v) motion plane as read back from an RGFloat
        /// texture into the protocol's (dx, dy) in place. The rows are not moved.</summary>
        public static void MotionPlaneToPixels(float[] motion, int width, int height)
        {
            if (motion == null) throw new ArgumentNullException("motion");
            if ((long)width * height * 2 != motion.Length)
                throw new ArgumentException("motion has " + motion.Length + " floats, a " + width + "x" + height + " plane needs " + (long)width * height * 2);
            for (int i = 0; i < motion.Length; i += 2)
            {
                float dx, dy;
                MotionToPixels(motion[i], motion[i + 1], width, height, out dx, out dy);
                motion[i] = dx;
                motion[i + 1] = dy;
            }
        }

        /// <summary>Reverses the order of rows (Unity textures are stored bottom row first, the
        /// protocol's planes top row first). Works in place on a tightly packed buffer.</summary>
        public static void FlipRows(byte[] data, int rowBytes, int rows)
        {
            if (data == null) throw new ArgumentNullException("data");
            if (rowBytes <= 0 || rows < 0 || (long)rowBytes * rows > data.Length)
                throw new ArgumentException("a buffer of " + data.Length + " bytes cannot hold " + rows + " rows of " + rowBytes + " bytes");
            var tmp = new byte[rowBytes];
            for (int top = 0, bottom = rows - 1; top < bottom; top++, bottom--)
            {
                Buffer.BlockCopy(data, top * rowBytes, tmp, 0, rowBytes);
                Buffer.BlockCopy(data, bottom * rowBytes, data, top * rowBytes, rowBytes);
                Buffer.BlockCopy(tmp, 0, data, bottom * rowBytes, rowBytes);
            }
        }

        /// <summary>The size frames are captured and sent at: the screen's aspect, the height
        /// capped at maxHeight (and at the screen's own height: never upscale), both sides on the
        /// 16-pixel grid and within 16..8192.</summary>
        public static void WorkingSize(int screenWidth, int screenHeight, int maxHeight, out int width, out int height)
        {
            if (screenWidth <= 0 || screenHeight <= 0)
                throw new ArgumentException("screen size must be positive, got " + screenWidth + "x" + screenHeight);
            if (maxHeight < SizeGrid)
                throw new ArgumentException("maxHeight must be at least " + SizeGrid + ", got " + maxHeight);
            int h = Math.Min(maxHeight, screenHeight);
            h = Math.Max(SizeGrid, h / SizeGrid * SizeGrid);
            double aspect = (double)screenWidth / screenHeight;
            int w = (int)Math.Round(h * aspect / SizeGrid) * SizeGrid;
            w = Clamp(w, SizeGrid, MaxSide / SizeGrid * SizeGrid);
            h = Clamp(h, SizeGrid, MaxSide / SizeGrid * SizeGrid);
            width = w;
            height = h;
        }

        /// <summary>Projection jitter in pixels (x right, y down, as the protocol's rows) from the
        /// third column of the jittered and the plain projection matrices (m02, m12): a jitter of
        /// j NDC units moves m02 by -j for Unity's perspective matrices (clip w = -view z).</summary>
        public static void JitterPixels(float jitteredM02, float plainM02, float jitteredM12, float plainM12, int width, int height, out float jx, out float jy)
        {
            jx = -(jitteredM02 - plainM02) * width * 0.5f;
            jy = (jitteredM12 - plainM12) * height * 0.5f;
        }

        /// <summary>A camera cut: the camera moved further than maxMeters or turned more than
        /// maxDegrees since the last frame. History across a cut is wrong, so the frame carries
        /// the reset flag.</summary>
        public static bool IsCameraCut(float movedMeters, float turnedDegrees, float maxMeters, float maxDegrees)
        {
            if (float.IsNaN(movedMeters) || float.IsNaN(turnedDegrees)) return true;
            return movedMeters > maxMeters || turnedDegrees > maxDegrees;
        }

        static int Clamp(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }
    }
}
