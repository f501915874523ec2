// Shared by every shader: hashing and value noise, deterministic (no time, no randomness
// outside the inputs), so styles anchored to surface coordinates stay put on surfaces.
float hash13(vec3 p) {
    p = fract(p * 0.1031);
    p += dot(p, p.zyx + 31.32);
    return fract((p.x + p.y) * p.z);
}
float hash12(vec2 p) { return hash13(vec3(p, 17.0)); }
float noise3(vec3 p) {
    vec3 i = floor(p), f = fract(p);
    vec3 u = f * f * (3.0 - 2.0 * f);
    float n000 = hash13(i), n100 = hash13(i + vec3(1, 0, 0)), n010 = hash13(i + vec3(0, 1, 0)), n110 = hash13(i + vec3(1, 1, 0));
    float n001 = hash13(i + vec3(0, 0, 1)), n101 = hash13(i + vec3(1, 0, 1)), n011 = hash13(i + vec3(0, 1, 1)), n111 = hash13(i + vec3(1, 1, 1));
    return mix(mix(mix(n000, n100, u.x), mix(n010, n110, u.x), u.y), mix(mix(n001, n101, u.x), mix(n011, n111, u.x), u.y), u.z);
}
// Value noise from a tiling texture of random texels (bilinear): a fraction of noise3's
// cost on a software rasterizer, used where a 2D pattern will do.
uniform sampler2D u_noise;
float noise2(vec2 p) { return texture(u_noise, p / 64.0).r; }
float fbm3(vec3 p) {
    return 0.5 * noise3(p) + 0.25 * noise3(p * 2.03) + 0.125 * noise3(p * 4.01) + 0.125 * noise3(p * 8.07);
}
// Which object-space axis a surface faces most (0 = x, 1 = y, 2 = z): the styles lay
// their patterns on the other two, so patterns ride with moving objects.
int dominant_axis(vec3 n) {
    vec3 a = abs(n);
    return a.x > a.y && a.x > a.z ? 0 : a.y > a.z ? 1 : 2;
}
const vec3 SUN = vec3(0.4082, 0.8165, 0.4082);
const float SKY_DEPTH = 1000.0;
const int MAT_TERRAIN = 0, MAT_BUILDING = 1, MAT_FOLIAGE = 2, MAT_TRUNK = 3, MAT_PROP = 4;
const int MAT_WALKER = 5, MAT_VEHICLE = 6, MAT_SPINNER = 7, MAT_BOUNCER = 8, MAT_SKY = 9;
const vec3 HORIZON = vec3(0.78, 0.86, 0.95);
vec3 sky_color(vec3 dir) {
    float h = clamp(dir.y, -0.2, 1.0);
    vec3 c = mix(HORIZON, vec3(0.30, 0.52, 0.86), smoothstep(0.0, 0.6, h));
    float sun = pow(max(dot(dir, SUN), 0.0), 400.0);
    vec3 q = vec3(dir.xz / max(dir.y, 0.05) * 1.5, 0.0);
    // Clouds from a few sines: on a software rasterizer, far cheaper than hashed noise.
    float billow = sin(q.x * 1.3 + 2.0 * sin(q.y * 0.7)) + sin(q.y * 1.1 + 2.0 * sin(q.x * 0.9)) + 0.5 * sin((q.x + q.y) * 2.7);
    float cloud = smoothstep(0.9, 1.8, billow) * smoothstep(0.02, 0.2, dir.y);
    return mix(c, vec3(1.0), cloud * 0.7) + vec3(1.0, 0.9, 0.7) * sun;
}
