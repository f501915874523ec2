/* A game written against reverie.h, driven by tests/test_native_client.py with a real
 * daemon serving the Mix test stylizer:
 *   1. 300 frames of 64x48 (f32 motion), each waited for and checked byte-exact; even
 *      frames through the zero-copy path, odd ones through reverie_submit_copy with
 *      padded rows (every third bottom-up), outputs read back with and without padding;
 *   2. a new size and f16 motion re-negotiate the ring: 30 more frames;
 *   3. set_prompt / set_params show in status and arrive as events;
 *   4. prints "PHASE restart" and keeps streaming; the test kills the daemon: the client
 *      must see REVERIE_UNAVAILABLE quickly, never block, then reconnect on its own when
 *      the test starts a new daemon, and round-trip 30 frames again.
 * With --curve DIR the control and events sockets use CURVE keys (frames stay on ipc).
 * Prints one SUMMARY line; the exit status is 0 only if every check held. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "reverie.h"
#include "testkit.h"

static int failures = 0;

#define CHECK(cond, ...)                              \
    do {                                              \
        if (!(cond)) {                                \
            failures++;                               \
            printf("FAIL %s:%d: ", __FILE__, __LINE__); \
            printf(__VA_ARGS__);                      \
            printf("\n");                             \
            fflush(stdout);                           \
        }                                             \
    } while (0)

/* One frame out and back. Returns the reverie_result of the first step that failed. */
static int round_trip(reverie_client* rv, tk_frame* f, uint64_t seed, int use_copy, int bottom_up, int reset) {
    tk_fill(f, seed);
    reverie_frame_info info;
    memset(&info, 0, sizeof info);
    info.flags = reset ? REVERIE_FRAME_RESET : 0;
    info.near_m = 0.1f;
    info.far_m = 1000.0f;
    uint64_t frame_id = 0;
    size_t pixels = (size_t)f->width * f->height, mb = tk_motion_bytes(f->motion_format);
    reverie_result r;
    if (!use_copy) {
        reverie_frame_planes p;
        r = reverie_set_frame_format(rv, f->width, f->height, f->motion_format);
        if (r != REVERIE_OK) return r;
        r = reverie_begin_frame(rv, &p);
        if (r != REVERIE_OK) return r;
        CHECK(p.width == f->width && p.height == f->height && p.motion_format == f->motion_format, "planes format");
        CHECK(p.memory == REVERIE_MEMORY_HOST && p.color_pitch == f->width * 4u && p.motion_pitch == f->width * mb, "planes pitch");
        memcpy(p.color, f->color, pixels * 4);
        memcpy(p.depth, f->depth, pixels * 4);
        memcpy(p.motion, f->motion, pixels * mb);
        r = reverie_submit_frame(rv, &info, &frame_id);
    } else {
        /* Padded rows, optionally bottom-up, as an engine's readback gives them. */
        size_t pad = 64, cs = f->width * 4 + pad, ds = f->width * 4 + pad, ms = f->width * mb + pad;
        uint8_t *color = malloc(cs * f->height), *depth = malloc(ds * f->height), *motion = malloc(ms * f->height);
        for (uint32_t y = 0; y < f->height; y++) {
            uint32_t dst = bottom_up ? f->height - 1 - y : y;
            memcpy(color + dst * cs, f->color + (size_t)y * f->width * 4, f->width * 4);
            memcpy(depth + dst * ds, (uint8_t*)f->depth + (size_t)y * f->width * 4, f->width * 4);
            memcpy(motion + dst * ms, f->motion + (size_t)y * f->width * mb, f->width * mb);
        }
        reverie_frame_source src = {f->width, f->height, f->motion_format, bottom_up ? REVERIE_ROWS_BOTTOM_UP : 0u,
                                    color, depth, motion, cs, ds, ms};
        r = reverie_submit_copy(rv, &src, &info, &frame_id);
        free(color);
        free(depth);
        free(motion);
    }
    if (r != REVERIE_OK) return r;
    uint8_t* expected = malloc(pixels * 4);
    tk_expected(f, frame_id, reset, expected);
    /* Read back padded and bottom-up for copy frames, tightly packed for the others. */
    size_t stride = use_copy ? f->width * 4 + 16 : f->width * 4;
    uint8_t* out = malloc(stride * f->height);
    reverie_output_info oi;
    r = reverie_wait_output(rv, frame_id, 5000, out, stride, stride * f->height, use_copy && bottom_up ? REVERIE_ROWS_BOTTOM_UP : 0u, &oi);
    if (r == REVERIE_OK) {
        CHECK(oi.frame_id == frame_id && oi.width == f->width && oi.height == f->height, "output info of frame %llu", (unsigned long long)frame_id);
        CHECK(oi.t_done_ns >= oi.t_submit_ns && oi.latency_ms >= 0, "output times");
        CHECK(tk_matches(f, expected, out, stride, use_copy && bottom_up), "frame %llu (%s%s) is not byte-exact",
              (unsigned long long)frame_id, use_copy ? "copy" : "zero-copy", bottom_up ? ", bottom-up" : "");
        /* latest_output and map_output give the same newest frame without waiting. */
        const void* mapped = NULL;
        uint64_t pitch = 0;
        CHECK(reverie_map_output(rv, &mapped, &pitch, &oi) == REVERIE_OK && oi.frame_id == frame_id &&
                  tk_matches(f, expected, mapped, pitch, 0), "map_output of frame %llu", (unsigned long long)frame_id);
    }
    free(expected);
    free(out);
    return r;
}

/* Wait for an event of this type (and text, when given); others are skipped. */
static int wait_event(reverie_client* rv, int type, const char* text, reverie_event* ev, double timeout_ms) {
    double end = tk_now_ms() + timeout_ms;
    while (tk_now_ms() < end) {
        reverie_result r = reverie_poll_event(rv, ev);
        if (r == REVERIE_OK && ev->type == type && (text == NULL || strcmp(ev->text, text) == 0)) return 1;
        if (r == REVERIE_NONE_YET) {
            struct timespec pause = {0, 5000000};
            nanosleep(&pause, NULL);
        }
    }
    return 0;
}

static void phase_steering(reverie_client* rv) {
    const char* prompt = "neon rain, \xE2\x9C\x93 native";
    reverie_status st;
    reverie_event ev;
    CHECK(reverie_set_prompt(rv, prompt, 7) == REVERIE_OK, "set_prompt: %s", reverie_last_error(rv));
    CHECK(reverie_get_status(rv, &st) == REVERIE_OK, "status: %s", reverie_last_error(rv));
    CHECK(strcmp(st.prompt, prompt) == 0 && st.transition_frames == 7, "status prompt '%s' transition %d", st.prompt, st.transition_frames);
    CHECK(strcmp(st.stylizer, "mix") == 0 && st.version_major == REVERIE_PROTOCOL_MAJOR && st.connected == 1, "status stylizer/version/connected");
    CHECK(st.has_session && strcmp(st.session_client, "c_client") == 0 && st.ring_width == 40, "status session");
    CHECK(st.frames >= 330 && st.frames_submitted == 330, "status frames %llu submitted %llu", (unsigned long long)st.frames,
          (unsigned long long)st.frames_submitted);
    int seen = wait_event(rv, REVERIE_EVENT_PROMPT_CHANGED, prompt, &ev, 3000);
    CHECK(seen && ev.transition_frames == 7, "prompt_changed event");

    CHECK(reverie_set_params(rv, 3, REVERIE_KEEP, 42) == REVERIE_OK, "set_params: %s", reverie_last_error(rv));
    CHECK(reverie_set_params(rv, REVERIE_KEEP, 0.25, REVERIE_KEEP) == REVERIE_OK, "set_params strength");
    CHECK(reverie_get_status(rv, &st) == REVERIE_OK && st.steps == 3 && st.seed == 42 && st.strength == 0.25, "params in status");
    CHECK(wait_event(rv, REVERIE_EVENT_PARAMS_CHANGED, NULL, &ev, 3000) && ev.steps == 3 && ev.seed == 42, "params_changed event");
    reverie_result r = reverie_set_params(rv, 99, REVERIE_KEEP, REVERIE_KEEP);
    CHECK(r == REVERIE_REJECTED && strstr(reverie_last_error(rv), "invalid: set_params.steps=99") != NULL,
          "steps 99 refused: %s %s", reverie_result_name(r), reverie_last_error(rv));
    reverie_preset preset;
    CHECK(reverie_load_preset(rv, "anime", &preset) == REVERIE_OK && strcmp(preset.name, "anime") == 0, "load_preset");
    CHECK(reverie_load_preset(rv, "nosuch", NULL) == REVERIE_REJECTED, "unknown preset refused");
    CHECK(reverie_reset_history(rv) == REVERIE_OK, "reset_history");
    printf("PHASE steering ok\n");
    fflush(stdout);
}

/* Stream until the daemon dies, then until a new one serves us again. */
static void phase_restart(reverie_client* rv, tk_frame* f, uint64_t* seed) {
    printf("PHASE restart\n");
    fflush(stdout);
    double last_ok = tk_now_ms(), deadline = tk_now_ms() + 60000, slowest_ms = 0;
    int unavailable = 0, after = 0;
    while (after < 30 && tk_now_ms() < deadline) {
        double t0 = tk_now_ms();
        ++*seed;
        int r = round_trip(rv, f, *seed, *seed % 2, 0, 0);
        double took = tk_now_ms() - t0;
        if (r == REVERIE_OK) {
            if (unavailable) after++;
            last_ok = tk_now_ms();
        } else if (r == REVERIE_UNAVAILABLE) {
            if (!unavailable) {
                printf("UNAVAILABLE %.0f ms after the last round trip: %s\n", tk_now_ms() - last_ok, reverie_last_error(rv));
                fflush(stdout);
            } else if (took > slowest_ms) {
                slowest_ms = took; /* calls while the daemon is down must stay fast */
            }
            unavailable++;
            struct timespec pause = {0, 10000000};
            nanosleep(&pause, NULL);
        } else if (r != REVERIE_TIMEOUT) {
            CHECK(0, "restart: unexpected %s: %s", reverie_result_name(r), reverie_last_error(rv));
        }
    }
    CHECK(unavailable > 0, "never saw REVERIE_UNAVAILABLE");
    CHECK(after == 30, "only %d round trips after the restart", after);
    CHECK(slowest_ms < 250, "a call took %.0f ms while the daemon was down", slowest_ms);
    printf("PHASE restart done: %d unavailable calls, slowest %.1f ms, %d round trips after\n", unavailable, slowest_ms, after);
}

/* The game thread steering and polling events while the render thread streams frames:
 * the two groups of calls must not disturb each other (reverie.h "Threads"). */
typedef struct game_thread {
    reverie_client* rv;
    volatile int stop;
    int requests, events, errors;
} game_thread;

static void* steer_while_streaming(void* arg) {
    game_thread* g = arg;
    char prompt[64];
    while (!g->stop) {
        snprintf(prompt, sizeof prompt, "streaming prompt %d", g->requests);
        reverie_status st;
        reverie_event ev;
        if (reverie_set_prompt(g->rv, prompt, 0) != REVERIE_OK) g->errors++;
        if (reverie_get_status(g->rv, &st) != REVERIE_OK || strcmp(st.prompt, prompt) != 0) g->errors++;
        while (reverie_poll_event(g->rv, &ev) == REVERIE_OK) g->events++;
        g->requests++;
    }
    return NULL;
}

int main(int argc, char** argv) {
    /* c_client CONTROL [--restart] [--curve KEYS_DIR] */
    int restart = 0;
    reverie_config cfg;
    reverie_config_init(&cfg);
    cfg.control = argc > 1 ? argv[1] : NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--restart") == 0) restart = 1;
        if (strcmp(argv[i], "--curve") == 0 && i + 1 < argc) cfg.curve_keys_dir = argv[++i];
    }
    cfg.client_name = "c_client";
    cfg.timeout_ms = 1000;
    reverie_client* rv = NULL;
    reverie_result r = reverie_connect(&cfg, &rv);
    if (r != REVERIE_OK) {
        printf("FAIL connect: %s %s\n", reverie_result_name(r), reverie_last_error(NULL));
        return 1;
    }
    double t0 = tk_now_ms();
    tk_frame f;
    tk_alloc(&f, 64, 48, REVERIE_MOTION_F32);
    int zero_copy = 0, copies = 0, exact = 0;
    uint64_t seed = 0;
    game_thread game = {rv, 0, 0, 0, 0};
    pthread_t game_tid;
    pthread_create(&game_tid, NULL, steer_while_streaming, &game);
    for (int i = 0; i < 300; i++) {
        int use_copy = i % 2, bottom_up = use_copy && i % 3 == 0, reset = i % 50 == 7;
        r = round_trip(rv, &f, ++seed, use_copy, bottom_up, reset);
        CHECK(r == REVERIE_OK, "frame %d: %s %s", i, reverie_result_name(r), reverie_last_error(rv));
        if (r == REVERIE_OK) exact++, use_copy ? copies++ : zero_copy++;
    }
    double ms_300 = tk_now_ms() - t0;
    game.stop = 1;
    pthread_join(game_tid, NULL);
    CHECK(game.requests > 0 && game.errors == 0, "game thread: %d requests, %d errors", game.requests, game.errors);
    printf("PHASE threads: %d steering rounds, %d events beside the frames\n", game.requests, game.events);
    tk_free(&f);
    tk_alloc(&f, 40, 32, REVERIE_MOTION_F16); /* new size and motion format: a new ring */
    int f16 = 0;
    for (int i = 0; i < 30; i++) {
        r = round_trip(rv, &f, ++seed, i % 2, i % 4 == 1, 0);
        CHECK(r == REVERIE_OK, "f16 frame %d: %s %s", i, reverie_result_name(r), reverie_last_error(rv));
        f16 += r == REVERIE_OK;
    }
    phase_steering(rv);
    if (restart) phase_restart(rv, &f, &seed);
    tk_free(&f);
    reverie_close(rv);
    printf("SUMMARY exact=%d zero_copy=%d copy=%d f16=%d ms_300=%.0f failures=%d\n", exact, zero_copy, copies, f16, ms_300, failures);
    return failures == 0 ? 0 : 1;
}
