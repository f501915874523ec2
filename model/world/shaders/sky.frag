// The sky: directions at infinity, so its motion comes from camera rotation only.
uniform mat4 u_inv_view_proj;
uniform mat4 u_view_proj;
uniform mat4 u_prev_view_proj;
uniform vec3 u_eye;
uniform vec2 u_size;
in vec2 v_ndc;
layout(location = 0) out vec4 o_color;
layout(location = 1) out vec4 o_geom;
layout(location = 2) out vec4 o_surface;
layout(location = 3) out vec4 o_normal;
vec2 to_pixels(vec4 clip) {
    vec2 ndc = clip.xy / clip.w;
    return (ndc * 0.5 + 0.5) * u_size;  // the projection is flipped: row 0 is the top
}
void main() {
    vec4 far_point = u_inv_view_proj * vec4(v_ndc, 1.0, 1.0);
    vec3 dir = normalize(far_point.xyz / far_point.w - u_eye);
    o_color = vec4(sky_color(dir), 1.0);
    vec2 motion = to_pixels(u_prev_view_proj * vec4(dir, 0.0)) - to_pixels(u_view_proj * vec4(dir, 0.0));
    o_geom = vec4(SKY_DEPTH, SKY_DEPTH, motion);
    o_surface = vec4(dir * SKY_DEPTH, float(dominant_axis(dir)));
    o_normal = vec4(-dir, float(MAT_SKY));
}
