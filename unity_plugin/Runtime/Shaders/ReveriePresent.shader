// Draws the newest stylized frame over the camera image. The one flip between the output
// plane (row 0 at the top) and Unity's textures (row 0 at the bottom) is made where the rows
// are copied (ReverieCamera.ShowNewestOutput asks for CopyFlags.RowsBottomUp), so the texture
// is upright for anything that samples it and this pass samples it as it is.
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
                o.uv = v.texcoord;
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
