// Style ground truth, one full-screen pass over the geometry buffers. Styles marked
// "anchored" put detail on surfaces (object-space coordinates) that cannot be read from
// the game's color: only the history can keep it steady. Compiled once per style
// (STYLE is defined by the renderer).
uniform sampler2D u_color;
uniform sampler2D u_geom;
uniform sampler2D u_surface;
uniform sampler2D u_normal;
layout(location = 0) out vec4 o_style;

ivec2 P;
vec3 color_at(ivec2 d) { return texelFetch(u_color, P + d, 0).rgb; }
float depth_at(ivec2 d) { return texelFetch(u_geom, P + d, 0).x; }
vec3 normal_at(ivec2 d) { return texelFetch(u_normal, P + d, 0).xyz; }
float luma(vec3 c) { return dot(c, vec3(0.299, 0.587, 0.114)); }

float edge() {
    // Outlines where depth jumps or the surface turns: what an ink artist would draw.
    float d = depth_at(ivec2(0)), e = 0.0;
    vec3 n = normal_at(ivec2(0));
    for (int k = 0; k < 4; k++) {
        ivec2 o = k == 0 ? ivec2(1, 0) : k == 1 ? ivec2(-1, 0) : k == 2 ? ivec2(0, 1) : ivec2(0, -1);
        e = max(e, step(0.06, abs(depth_at(o) - d) / d));
        e = max(e, step(dot(n, normal_at(o)), 0.75));
    }
    return e;
}

vec2 surface_uv(vec3 local, int axis) {
    // The two object-space coordinates across the face (see dominant_axis).
    return axis == 0 ? local.zy : axis == 1 ? local.xz : local.xy;
}

vec3 saturate_color(vec3 c, float s) { return clamp(mix(vec3(luma(c)), c, s), 0.0, 1.0); }

vec3 toon(vec3 c) {
    float l = luma(c);
    float q = (floor(l * 4.0) + 0.5) / 4.0;
    return saturate_color(c * (q / max(l, 1e-3)), 1.4) * (1.0 - edge());
}

vec3 watercolor(vec3 c, vec2 uv, int object, float e) {
    vec2 o = vec2(float(object) * 7.1);
    float pigment = 0.6 * noise2(uv * 0.8 + o) + 0.4 * noise2(uv * 2.1 + o);
    float paper = noise2(uv * 9.0);
    vec3 wash = mix(c, vec3(1.0), 0.3) * (0.82 + 0.28 * pigment);
    wash = mix(wash, wash * 0.7, e * 0.6);
    return wash * (0.9 + 0.1 * paper);
}

float stripe(float coord, float duty) {
    // Antialiased stripes covering `duty` of each period; where they get finer than a
    // pixel they fade to their average, so the ground truth does not shimmer.
    float w = 2.0 * fwidth(coord);
    float tri = abs(fract(coord) - 0.5) * 2.0;  // 0 mid-gap, 1 mid-stripe, continuous
    float line = smoothstep(1.0 - duty - w, 1.0 - duty + w, tri);
    return mix(line, clamp(duty, 0.0, 1.0), clamp(w * 2.0 - 0.5, 0.0, 1.0));
}

vec3 pencil(vec3 c, vec2 uv, float e) {
    float dark = 1.0 - luma(c);
    float jitter = noise2(uv * 2.0) * 0.35;
    float h1 = stripe((uv.x + uv.y) * 1.5 + jitter, dark * 0.9);
    float h2 = stripe((uv.x - uv.y) * 1.5 + jitter, dark * 0.9 - 0.35);
    float g = 1.0 - 0.55 * max(h1, h2) - 0.8 * e;
    return vec3(g) * vec3(0.98, 0.96, 0.92);
}

vec3 winter(vec3 c, vec3 local, vec2 uv, vec3 n, int material) {
    if (material == MAT_SKY) return mix(vec3(0.02, 0.03, 0.10), vec3(0.08, 0.10, 0.22), c.b) + step(0.997, hash13(floor(local / 6.0))) * 0.9;
    vec3 night = c * vec3(0.30, 0.36, 0.58);
    float snow = smoothstep(0.45, 0.75, n.y + (0.6 * noise2(uv * 1.5) + 0.4 * noise2(uv * 3.1) - 0.5) * 0.5);
    vec3 s = vec3(0.70, 0.78, 0.95) * (0.85 + 0.15 * noise2(uv * 6.0));
    float sparkle = step(0.996, hash13(floor(local * 25.0))) * snow;
    return clamp(mix(night, s, snow) + sparkle, 0.0, 1.0);
}

vec3 oil(vec3 c, vec2 uv) {
    float angle = noise2(uv * 0.5) * 6.2831;
    vec2 d = vec2(cos(angle), sin(angle));
    float stroke = noise2(vec2(dot(uv, d) * 0.8, dot(uv, vec2(-d.y, d.x)) * 4.0));
    vec3 q = floor(saturate_color(c, 1.5) * 6.0 + 0.5) / 6.0;
    return clamp(q * (0.82 + 0.36 * stroke), 0.0, 1.0);
}

vec3 mosaic(vec3 c, vec2 uv, int object) {
    vec2 g = uv / 1.2, cell = floor(g), f = fract(g);
    float best = 9.0, second = 9.0;
    vec2 best_id = cell;
    for (int j = -1; j <= 1; j++) for (int i = -1; i <= 1; i++) {
        vec2 id = cell + vec2(i, j);
        vec2 p = vec2(i, j) + vec2(hash12(id + float(object)), hash12(id.yx + 13.0 + float(object))) - f;
        float d = dot(p, p);
        if (d < best) { second = best; best = d; best_id = id; } else if (d < second) { second = d; }
    }
    float lead = 1.0 - smoothstep(0.0, 0.06, sqrt(second) - sqrt(best));
    vec3 glass = saturate_color(c * (0.75 + 0.5 * hash12(best_id + float(object) * 3.0)), 1.8);
    return mix(glass, vec3(0.05), lead);
}

vec3 noir(vec3 c, float e) {
    float l = luma(c);
    l = smoothstep(0.15, 0.75, l);
    vec2 uv = vec2(P) / vec2(textureSize(u_color, 0));
    float vignette = 1.0 - 0.6 * dot(uv - 0.5, uv - 0.5) * 2.0;
    return vec3(l * vignette * (1.0 - 0.9 * e));
}

vec3 thermal(float depth, int material, vec3 n) {
    float heat = material >= MAT_WALKER && material <= MAT_BOUNCER ? 0.95 : material == MAT_SKY ? 0.02 : material == MAT_BUILDING ? 0.45 + 0.1 * n.y : 0.25 + 0.2 * max(n.y, 0.0);
    heat *= material == MAT_SKY ? 1.0 : mix(1.0, 0.6, clamp(depth / 200.0, 0.0, 1.0));
    vec3 a = vec3(0.0, 0.0, 0.1), b = vec3(0.5, 0.0, 0.6), cc = vec3(0.95, 0.2, 0.1), d = vec3(1.0, 0.9, 0.2);
    return heat < 0.33 ? mix(a, b, heat / 0.33) : heat < 0.66 ? mix(b, cc, (heat - 0.33) / 0.33) : mix(cc, d, (heat - 0.66) / 0.34);
}

vec3 blueprint(vec3 c, vec2 uv, float e, int material) {
    // Not a trained style (styles.py EXTRA_STYLES): white lines on blue paper, a faint
    // grid fixed to surfaces, the game's brightness only as a slight shade of the paper.
    vec3 paper = vec3(0.06, 0.20, 0.52) * (0.85 + 0.3 * luma(c));
    vec3 ink = vec3(0.88, 0.94, 1.0);
    if (material == MAT_SKY) return paper;
    float grid = max(stripe(uv.x * 0.5, 0.08), stripe(uv.y * 0.5, 0.08));
    return mix(mix(paper, ink, 0.35 * grid), ink, e);
}

void main() {
    P = ivec2(gl_FragCoord.xy);
    vec3 c = color_at(ivec2(0));
    vec4 surface = texelFetch(u_surface, P, 0);
    vec4 nm = texelFetch(u_normal, P, 0);
    int code = int(surface.w + 0.5), material = int(nm.w + 0.5);
    int object = code / 4;
    if (material == MAT_SKY) surface.xyz = normalize(surface.xyz) * 40.0;  // a dome near enough for patterns
    vec2 uv = surface_uv(surface.xyz, code % 4);
#if STYLE == 1 || STYLE == 2 || STYLE == 6 || STYLE == 8
    float e = material == MAT_SKY ? 0.0 : edge();
#endif
#if STYLE == 0
    vec3 s = toon(c);
#elif STYLE == 1
    vec3 s = watercolor(c, uv, object, e);
#elif STYLE == 2
    vec3 s = pencil(c, uv, e);
#elif STYLE == 3
    vec3 s = winter(c, surface.xyz, uv, nm.xyz, material);
#elif STYLE == 4
    vec3 s = oil(c, uv);
#elif STYLE == 5
    vec3 s = mosaic(c, uv, object);
#elif STYLE == 6
    vec3 s = noir(c, e);
#elif STYLE == 8
    vec3 s = blueprint(c, uv, e, material);
#else
    vec3 s = thermal(depth_at(ivec2(0)), material, nm.xyz);
#endif
    o_style = vec4(s, 1.0);
}
