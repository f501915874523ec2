// Draws the newest stylized frame over the camera image. The output plane's row 0 is the top
// of the image, and a Texture2D filled with LoadRawTextureData/GetRawTextureData puts the
// first row at the bottom, so the v coordinate is flipped here.
Shader "Hidden/Reverie/Present"
{
    Properties { _MainTex ("Stylized", 2D) = "black" {} }
    SubShader
    {
        Cull Off ZWrite Off ZTest Always
        Pass
        {
            CGPROGRAM
            #pragma vertex vert
            #pragma fragment frag
            #include "UnityCG.cginc"

            sampler2D _MainTex;
            struct v2f { float4 pos : SV_POSITION; float2 uv : TEXCOORD0; };

            v2f vert(appdata_img v)
            {
                v2f o;
                o.pos = UnityObjectToClipPos(v.vertex);
                o.uv = float2(v.texcoord.x, 1.0 - v.texcoord.y);
                return o;
            }

            fixed4 frag(v2f i) : SV_Target
            {
                return fixed4(tex2D(_MainTex, i.uv).rgb, 1.0);
            }
            ENDCG
        }
    }
    Fallback Off
}
