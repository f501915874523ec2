// Converts the camera's buffers to the Reverie frame conventions (docs/protocol.md 2.5) while
// blitting them into the working-size render textures that are read back:
//   pass 0  color   -> RGBA8 sRGB render texture (the sRGB target encodes in linear color space)
//   pass 1  depth   -> RFloat, linear eye depth in meters (LinearEyeDepth), finite
//   pass 2  motion  -> RGFloat, pixels, previous = current + motion, +y down
// Rows stay in Unity's order (bottom row first); ReverieCamera submits with the library's
// bottom-up flag. The math is the same as ReverieConventions.cs, which is unit-tested.
Shader "Hidden/Reverie/Capture"
{
    Properties { _MainTex ("Source", 2D) = "white" {} }

    CGINCLUDE
    #include "UnityCG.cginc"
    #pragma multi_compile_local _ REVERIE_URP

    sampler2D _MainTex;
    UNITY_DECLARE_DEPTH_TEXTURE(_CameraDepthTexture);
    #if defined(REVERIE_URP)
    sampler2D _MotionVectorTexture;            // URP's name for the motion vector texture
    #define REVERIE_MOTION _MotionVectorTexture
    #else
    sampler2D_half _CameraMotionVectorsTexture; // built-in pipeline
    #define REVERIE_MOTION _CameraMotionVectorsTexture
    #endif
    float4 _ReverieSize;      // working width, height, 1/width, 1/height
    float _ReverieSkyDepth;   // ReverieConventions.SkyDepthMeters

    struct v2f { float4 pos : SV_POSITION; float2 uv : TEXCOORD0; };

    v2f vert(appdata_img v)
    {
        v2f o;
        o.pos = UnityObjectToClipPos(v.vertex);
        o.uv = v.texcoord;
        return o;
    }

    float4 fragColor(v2f i) : SV_Target
    {
        return tex2D(_MainTex, i.uv);
    }

    float fragDepth(v2f i) : SV_Target
    {
        float raw = SAMPLE_DEPTH_TEXTURE(_CameraDepthTexture, i.uv);
        float eye = LinearEyeDepth(raw);
        // The protocol rejects NaN/inf: the sky and anything past it become one far value.
        return (eye > 0.0 && eye < _ReverieSkyDepth) ? eye : _ReverieSkyDepth;
    }

    float2 fragMotion(v2f i) : SV_Target
    {
        float2 m = tex2D(REVERIE_MOTION, i.uv).xy;   // UV units, current - previous, v up
        return float2(-m.x * _ReverieSize.x, m.y * _ReverieSize.y);
    }
    ENDCG

    SubShader
    {
        Cull Off ZWrite Off ZTest Always
        Pass { CGPROGRAM
               #pragma vertex vert
               #pragma fragment fragColor
               ENDCG }
        Pass { CGPROGRAM
               #pragma vertex vert
               #pragma fragment fragDepth
               ENDCG }
        Pass { CGPROGRAM
               #pragma vertex vert
               #pragma fragment fragMotion
               ENDCG }
    }
    Fallback Off
}
