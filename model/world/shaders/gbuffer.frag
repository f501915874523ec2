// The geometry pass: the game's look plus every buffer the styles and the tests need.
uniform vec2 u_size;
uniform vec3 u_eye;
in vec3 v_world;
in vec3 v_local;
in vec3 v_normal;
in vec3 v_local_normal;
in vec3 v_albedo;
in vec4 v_clip;
in vec4 v_prev_clip;
in float v_view_z;
in float v_prev_view_z;
flat in int v_object;
flat in int v_material;
layout(location = 0) out vec4 o_color;    // the game look, sRGB-ish, what the model sees
layout(location = 1) out vec4 o_geom;     // view depth (m), previous view depth, motion x, y (px)
layout(location = 2) out vec4 o_surface;  // object-space position (surface coordinates), 4 * object id + dominant object-space normal axis
layout(location = 3) out vec4 o_normal;   // world normal, material

vec2 to_pixels(vec4 clip) {
    vec2 ndc = clip.xy / clip.w;
    return (ndc * 0.5 + 0.5) * u_size;  // the projection is flipped: row 0 is the top
}

vec3 surface_detail(vec3 albedo) {
    // Textures anchored to the surface, as a game's would be.
    if (v_material == MAT_TERRAIN) return albedo * (0.85 + 0.2 * noise2(v_world.xz * 0.6) + 0.1 * noise2(v_world.xz * 2.3));
    if (v_material == MAT_BUILDING && abs(v_normal.y) < 0.5) {
        vec2 uv = vec2(abs(v_normal.x) > 0.5 ? v_local.z : v_local.x, v_local.y);
        vec2 cell = fract(uv / vec2(2.5, 3.2));
        bool window = cell.x > 0.25 && cell.x < 0.75 && cell.y > 0.3 && cell.y < 0.75;
        return window ? vec3(0.25, 0.32, 0.42) + 0.3 * hash12(floor(uv / vec2(2.5, 3.2))) : albedo * (0.9 + 0.1 * noise3(v_local * 2.0));
    }
    if (v_material == MAT_PROP) return albedo * (0.8 + 0.2 * step(0.5, fract(v_local.x * 3.0 + v_local.y * 3.0)));
    if (v_material == MAT_VEHICLE || v_material == MAT_WALKER) {  // liveries and clothes
        vec3 q = floor(v_local * vec3(2.0, 3.0, 2.0));
        return albedo * (0.7 + 0.3 * mod(q.x + q.y + q.z, 2.0));
    }
    if (v_material == MAT_FOLIAGE) return albedo * (0.8 + 0.4 * noise3(v_local * 3.0));
    return albedo;
}

void main() {
    vec3 n = normalize(v_normal);
    vec3 albedo = surface_detail(v_albedo);
    float sun = max(dot(n, SUN), 0.0);
    vec3 lit = albedo * (0.32 + 0.12 * n.y + 0.75 * sun);
    float dist = length(v_world - u_eye);
    lit = mix(lit, HORIZON, 1.0 - exp(-dist / 260.0));
    o_color = vec4(clamp(lit, 0.0, 1.0), 1.0);
    vec2 motion = to_pixels(v_prev_clip) - to_pixels(v_clip);  // previous = current + motion
    o_geom = vec4(v_view_z, v_prev_view_z, motion);
    o_surface = vec4(v_local, float(4 * v_object + dominant_axis(v_local_normal)));
    o_normal = vec4(n, float(v_material));
}
