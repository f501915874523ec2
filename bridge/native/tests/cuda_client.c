/* A game in GPU mode, driven by tests/test_native_cuda.py against a real daemon whose test
 * stylizer (Mix) takes device frames. Needs a CUDA GPU; compiled wherever the toolkit is.
 *   1. 300 frames of 1920x1080 (f32 motion) through a CUDA ring, each checked byte-exact
 *      against tests/stylizers.py expected_mix: even frames written by the engine's own
 *      cudaMemcpyAsync into the begun slot's device planes, odd ones through
 *      reverie_submit_copy from padded host rows (every third bottom-up) or, every fourth,
 *      from padded device rows; outputs read through reverie_wait_output into host memory
 *      (every fifth bottom-up) or through reverie_map_output (a device pointer) and a copy
 *      on the engine's stream;
 *   2. a new size with f16 motion re-opens the ring (a new allocation): 20 more frames.
 * With --frames N only phase 1, N frames. With --linger it prints "PHASE streaming" after
 * its frames and keeps submitting until killed (the daemon must survive that). With
 * --identity the daemon runs the built-in identity stylizer: the output is the color plane.
 * Prints one SUMMARY line; the exit status is 0 only if every check held. */
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reverie.h"
#include "testkit.h"

static int failures = 0;
static int lingering = 0; /* after "PHASE streaming": skipped frames are expected, nothing is checked */

#define CHECK(cond, ...)                                \
    do {                                                \
        if (!(cond) && !lingering) {                    \
            failures++;                                 \
            printf("FAIL %s:%d: ", __FILE__, __LINE__); \
            printf(__VA_ARGS__);                        \
            printf("\n");                               \
            fflush(stdout);                             \
        }                                               \
    } while (0)

#define CUDA_OK(call)                                                                       \
    do {                                                                                    \
        cudaError_t e_ = (call);                                                            \
        if (e_ != cudaSuccess) {                                                            \
            printf("FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            exit(1);                                                                        \
        }                                                                                   \
    } while (0)

#define INPUTS 7 /* distinct input frames, reused in turn: 7 shares no factor with the slot count */

typedef struct device_source { /* padded device rows, as an engine's render targets give them */
    uint8_t *color, *depth, *motion;
    size_t cs, ds, ms;
} device_source;

static cudaStream_t stream;
static int identity = 0; /* --identity: expect the color plane back instead of Mix's output */

/* Submit frame i of `f`, choosing the path by i; returns the frame id or 0. */
static uint64_t submit(reverie_client* rv, tk_frame* f, int i, int reset, device_source* dev) {
    reverie_frame_info info;
    memset(&info, 0, sizeof info);
    info.flags = reset ? REVERIE_FRAME_RESET : 0;
    uint64_t id = 0;
    size_t w = f->width, h = f->height, mb = tk_motion_bytes(f->motion_format);
    reverie_result r;
    if (i % 2 == 0) { /* zero copy: the engine writes the device planes itself, on its stream */
        reverie_frame_planes p;
        if ((r = reverie_begin_frame(rv, &p)) != REVERIE_OK) {
            CHECK(0, "begin_frame: %s %s", reverie_result_name(r), reverie_last_error(NULL));
            return 0;
        }
        CHECK(p.memory == REVERIE_MEMORY_CUDA, "planes.memory %u", p.memory);
        CHECK(p.color_pitch == w * 4 && p.depth_pitch == w * 4 && p.motion_pitch == w * mb, "pitches");
        struct cudaPointerAttributes a;
        CHECK(cudaPointerGetAttributes(&a, p.color) == cudaSuccess && a.type == cudaMemoryTypeDevice, "color is device memory");
        CUDA_OK(cudaMemcpyAsync(p.color, f->color, w * h * 4, cudaMemcpyHostToDevice, stream));
        CUDA_OK(cudaMemcpyAsync(p.depth, f->depth, w * h * 4, cudaMemcpyHostToDevice, stream));
        CUDA_OK(cudaMemcpyAsync(p.motion, f->motion, w * h * mb, cudaMemcpyHostToDevice, stream));
        r = reverie_submit_frame(rv, &info, &id);
    } else if (i % 4 == 3) { /* copy from device rows with padding */
        CUDA_OK(cudaMemcpy2DAsync(dev->color, dev->cs, f->color, w * 4, w * 4, h, cudaMemcpyHostToDevice, stream));
        CUDA_OK(cudaMemcpy2DAsync(dev->depth, dev->ds, f->depth, w * 4, w * 4, h, cudaMemcpyHostToDevice, stream));
        CUDA_OK(cudaMemcpy2DAsync(dev->motion, dev->ms, f->motion, w * mb, w * mb, h, cudaMemcpyHostToDevice, stream));
        reverie_frame_source src = {f->width, f->height, f->motion_format, 0, dev->color, dev->depth, dev->motion,
                                    dev->cs, dev->ds, dev->ms};
        r = reverie_submit_copy(rv, &src, &info, &id);
    } else { /* copy from padded host rows, every third bottom-up */
        int bottom_up = i % 3 == 0;
        size_t pad = 64, cs = w * 4 + pad, ds = w * 4 + pad, ms = w * mb + pad;
        uint8_t *color = malloc(cs * h), *depth = malloc(ds * h), *motion = malloc(ms * h);
        for (size_t y = 0; y < h; y++) {
            size_t dst = bottom_up ? h - 1 - y : y;
            memcpy(color + dst * cs, f->color + y * w * 4, w * 4);
            memcpy(depth + dst * ds, (uint8_t*)f->depth + y * w * 4, w * 4);
            memcpy(motion + dst * ms, f->motion + y * w * mb, w * mb);
        }
        reverie_frame_source src = {f->width, f->height, f->motion_format, bottom_up ? REVERIE_ROWS_BOTTOM_UP : 0u,
                                    color, depth, motion, cs, ds, ms};
        r = reverie_submit_copy(rv, &src, &info, &id);
        CUDA_OK(cudaStreamSynchronize(stream)); /* the host rows are queued on the stream: keep them until it passes */
        free(color);
        free(depth);
        free(motion);
    }
    CHECK(r == REVERIE_OK, "submit %d: %s %s", i, reverie_result_name(r), reverie_last_error(NULL));
    return r == REVERIE_OK ? id : 0;
}

/* Wait for frame id and compare its output with expected; 1 if byte-exact. */
static int check_output(reverie_client* rv, tk_frame* f, uint64_t id, int i, const uint8_t* expected, uint8_t* out) {
    size_t row = (size_t)f->width * 4;
    reverie_output_info info;
    reverie_result r;
    int flip = 0;
    if (i % 3 == 0) { /* zero copy: a device pointer, read on the engine's stream */
        r = reverie_wait_output(rv, id, 10000, NULL, 0, 0, 0, &info);
        const void* pixels = NULL;
        uint64_t pitch = 0;
        if (r == REVERIE_OK) r = reverie_map_output(rv, &pixels, &pitch, &info);
        if (r == REVERIE_OK) {
            struct cudaPointerAttributes a;
            CHECK(cudaPointerGetAttributes(&a, pixels) == cudaSuccess && a.type == cudaMemoryTypeDevice, "output is device memory");
            CUDA_OK(cudaMemcpy2DAsync(out, row, pixels, pitch, row, f->height, cudaMemcpyDeviceToHost, stream));
            CUDA_OK(cudaStreamSynchronize(stream));
        }
    } else {
        flip = i % 5 == 0;
        r = reverie_wait_output(rv, id, 10000, out, row, row * f->height, flip ? REVERIE_ROWS_BOTTOM_UP : 0u, &info);
    }
    CHECK(r == REVERIE_OK, "output of frame %llu: %s %s", (unsigned long long)id, reverie_result_name(r), reverie_last_error(NULL));
    if (r != REVERIE_OK) return 0;
    CHECK(info.frame_id == id && info.width == f->width && info.height == f->height, "output info");
    int exact = tk_matches(f, expected, out, row, flip);
    CHECK(exact, "frame %llu (%d) is not byte-exact", (unsigned long long)id, i);
    return exact;
}

/* `count` frames of width x height; returns how many came back byte-exact. */
static int stream_frames(reverie_client* rv, uint32_t width, uint32_t height, uint32_t motion, int count, int linger) {
    reverie_result r = reverie_set_frame_format(rv, width, height, motion);
    CHECK(r == REVERIE_OK, "set_frame_format %ux%u: %s %s", width, height, reverie_result_name(r), reverie_last_error(NULL));
    tk_frame inputs[INPUTS];
    for (int k = 0; k < INPUTS; k++) {
        if (!tk_alloc(&inputs[k], width, height, motion)) exit(1);
        tk_fill(&inputs[k], 1000u * width + (uint64_t)k);
    }
    size_t pixels = (size_t)width * height, mb = tk_motion_bytes(motion);
    device_source dev = {NULL, NULL, NULL, width * 4 + 256, width * 4 + 256, width * mb + 256};
    CUDA_OK(cudaMalloc((void**)&dev.color, dev.cs * height));
    CUDA_OK(cudaMalloc((void**)&dev.depth, dev.ds * height));
    CUDA_OK(cudaMalloc((void**)&dev.motion, dev.ms * height));
    uint8_t *expected = malloc(pixels * 4), *out = malloc(pixels * 4);
    int exact = 0;
    for (int i = 0; i < count || linger; i++) {
        if (linger && i == count) {
            lingering = 1;
            printf("PHASE streaming\n");
            fflush(stdout);
        }
        tk_frame* f = &inputs[i % INPUTS];
        int reset = i % 50 == 0;
        uint64_t id = submit(rv, f, i, reset, &dev);
        if (id == 0 || i >= count) continue; /* lingering: submit only, as fast as it goes */
        if (identity)
            memcpy(expected, f->color, pixels * 4);
        else
            tk_expected(f, id, reset, expected);
        exact += check_output(rv, f, id, i, expected, out);
    }
    cudaFree(dev.color);
    cudaFree(dev.depth);
    cudaFree(dev.motion);
    for (int k = 0; k < INPUTS; k++) tk_free(&inputs[k]);
    free(expected);
    free(out);
    return exact;
}

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: cuda_client CONTROL_ENDPOINT [--frames N] [--linger] [--identity]\n");
        return 2;
    }
    int frames = 300, only_first = 0, linger = 0;
    for (int a = 2; a < argc; a++) {
        if (strcmp(argv[a], "--frames") == 0 && a + 1 < argc) {
            frames = atoi(argv[++a]);
            only_first = 1;
        } else if (strcmp(argv[a], "--linger") == 0) {
            linger = 1;
        } else if (strcmp(argv[a], "--identity") == 0) {
            identity = 1;
        }
    }
    CUDA_OK(cudaSetDevice(0));
    CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    reverie_config cfg;
    reverie_config_init(&cfg);
    cfg.control = argv[1];
    cfg.client_name = "cuda_client";
    cfg.timeout_ms = 10000; /* the daemon opens a 1080p device ring and its events */
    reverie_client* rv = NULL;
    reverie_result r = reverie_connect(&cfg, &rv);
    if (r != REVERIE_OK) {
        printf("FAIL connect: %s %s\n", reverie_result_name(r), reverie_last_error(NULL));
        return 1;
    }
    r = reverie_set_transport(rv, REVERIE_TRANSPORT_CUDA, 0, stream);
    if (r != REVERIE_OK) {
        printf("FAIL set_transport: %s %s\n", reverie_result_name(r), reverie_last_error(NULL));
        return 1;
    }
    double t0 = tk_now_ms();
    int exact = stream_frames(rv, 1920, 1080, REVERIE_MOTION_F32, frames, linger && only_first);
    double ms = tk_now_ms() - t0;
    int exact_f16 = only_first ? 0 : stream_frames(rv, 1280, 720, REVERIE_MOTION_F16, 20, linger);
    reverie_status st;
    r = reverie_get_status(rv, &st);
    CHECK(r == REVERIE_OK && st.connected && st.ring_width == (only_first ? 1920u : 1280u), "status after streaming");
    reverie_close(rv); /* bye: the daemon lets go of the ring, then the library frees it */
    CUDA_OK(cudaStreamDestroy(stream));
    printf("SUMMARY exact=%d exact_f16=%d failures=%d ms_per_frame=%.2f\n", exact, exact_f16, failures, ms / (frames ? frames : 1));
    return failures == 0 ? 0 : 1;
}
