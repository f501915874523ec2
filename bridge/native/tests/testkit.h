/* Test frames and the Mix stylizer's expected output (tests/stylizers.py expected_mix):
 * output = color XOR the bytes of depth XOR the bytes of motion, and pixel (0, 0) =
 * [reset, frame_id & 0xFF, (frame_id >> 8) & 0xFF, 0xA5]. A byte-exact match proves every
 * input plane and the header crossed the bridge intact. Shared by the C and C++ clients. */
#ifndef REVERIE_TESTKIT_H
#define REVERIE_TESTKIT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct tk_frame {
    uint32_t width, height, motion_format;
    uint8_t* color;  /* tightly packed, top-down */
    float* depth;
    uint8_t* motion; /* 8 (f32) or 4 (f16) bytes per pixel */
} tk_frame;

static inline uint64_t tk_next(uint64_t* state) { /* xorshift64* */
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 2685821657736338717ull;
}

static inline uint32_t tk_motion_bytes(uint32_t motion_format) { return motion_format == 1 ? 4 : 8; }

static inline int tk_alloc(tk_frame* f, uint32_t width, uint32_t height, uint32_t motion_format) {
    size_t pixels = (size_t)width * height;
    f->width = width;
    f->height = height;
    f->motion_format = motion_format;
    f->color = (uint8_t*)malloc(pixels * 4);
    f->depth = (float*)malloc(pixels * 4);
    f->motion = (uint8_t*)malloc(pixels * tk_motion_bytes(motion_format));
    return f->color && f->depth && f->motion;
}

static inline void tk_free(tk_frame* f) {
    free(f->color);
    free(f->depth);
    free(f->motion);
    memset(f, 0, sizeof *f);
}

/* Random planes: color bytes 1..255, depth 0.1..1000 m, motion finite and non-zero. */
static inline void tk_fill(tk_frame* f, uint64_t seed) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    size_t pixels = (size_t)f->width * f->height;
    for (size_t i = 0; i < pixels * 4; i++) f->color[i] = (uint8_t)(1 + tk_next(&s) % 255);
    for (size_t i = 0; i < pixels; i++) f->depth[i] = 0.1f + (float)(tk_next(&s) % 1000000) / 1000.0f;
    if (f->motion_format == 0) {
        float* m = (float*)f->motion;
        for (size_t i = 0; i < pixels * 2; i++) m[i] = ((float)(tk_next(&s) % 6300) / 100.0f + 1.0f) * ((tk_next(&s) & 1) ? 1.0f : -1.0f);
    } else {
        uint16_t* m = (uint16_t*)f->motion;
        for (size_t i = 0; i < pixels * 2; i++) {
            /* a finite half: exponent 1..29 (never 0x1F, the inf/NaN exponent) */
            uint16_t sign = (uint16_t)((tk_next(&s) & 1) << 15), exponent = (uint16_t)(1 + tk_next(&s) % 29);
            m[i] = (uint16_t)(sign | (exponent << 10) | (tk_next(&s) & 0x3FF));
        }
    }
}

static inline void tk_expected(const tk_frame* f, uint64_t frame_id, int reset, uint8_t* out) {
    size_t pixels = (size_t)f->width * f->height;
    uint32_t mb = tk_motion_bytes(f->motion_format);
    const uint8_t* depth = (const uint8_t*)f->depth;
    for (size_t p = 0; p < pixels; p++) {
        for (int k = 0; k < 4; k++) {
            uint8_t v = (uint8_t)(f->color[p * 4 + k] ^ depth[p * 4 + k] ^ f->motion[p * mb + k]);
            if (mb == 8) v ^= f->motion[p * mb + 4 + k];
            out[p * 4 + k] = v;
        }
    }
    out[0] = (uint8_t)(reset ? 1 : 0);
    out[1] = (uint8_t)(frame_id & 0xFF);
    out[2] = (uint8_t)((frame_id >> 8) & 0xFF);
    out[3] = 0xA5;
}

/* Compare an output read with `stride` (bottom-up if flip) against the expected image. */
static inline int tk_matches(const tk_frame* f, const uint8_t* expected, const uint8_t* got, size_t stride, int flip) {
    size_t row = (size_t)f->width * 4;
    for (uint32_t y = 0; y < f->height; y++) {
        uint32_t src = flip ? f->height - 1 - y : y;
        if (memcmp(expected + (size_t)y * row, got + (size_t)src * stride, row) != 0) return 0;
    }
    return 1;
}

static inline double tk_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

#endif
