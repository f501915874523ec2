/* Misuse of the API gives a code and a clear last error, never a crash or a hang:
 * NULL pointers, calls before connect or out of order, bad sizes and flags, a daemon
 * that is not there. With a control endpoint argument it also checks the cases that
 * need a live daemon (buffer sizes against a real output, refusals by the daemon).
 * Prints "ok N" or "FAIL ..." lines and a SUMMARY; exit status 0 when all held. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reverie.h"

static int checks = 0, failures = 0;

/* The call returned `want` and its last error mentions `phrase`. */
static void expect(const char* what, reverie_result got, reverie_result want, const char* phrase) {
    checks++;
    const char* error = reverie_last_error(NULL);
    if (got != want || (phrase != NULL && strstr(error, phrase) == NULL)) {
        failures++;
        printf("FAIL %s: got %s (%s), wanted %s mentioning '%s'\n", what, reverie_result_name(got), error,
               reverie_result_name(want), phrase ? phrase : "");
    }
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void without_a_client(void) {
    reverie_frame_planes planes;
    reverie_frame_info info = {0};
    reverie_status status;
    reverie_event event;
    char reply[64];
    expect("connect out NULL", reverie_connect(NULL, NULL), REVERIE_INVALID_ARGUMENT, "out is NULL");
    expect("begin NULL client", reverie_begin_frame(NULL, &planes), REVERIE_INVALID_ARGUMENT, "client is NULL");
    expect("submit NULL client", reverie_submit_frame(NULL, &info, NULL), REVERIE_INVALID_ARGUMENT, "client is NULL");
    expect("cancel NULL client", reverie_cancel_frame(NULL), REVERIE_INVALID_ARGUMENT, "client is NULL");
    expect("format NULL client", reverie_set_frame_format(NULL, 64, 64, 0), REVERIE_INVALID_ARGUMENT, "client is NULL");
    expect("latest NULL client", reverie_latest_output(NULL, NULL, 0, 0, 0, NULL), REVERIE_INVALID_ARGUMENT, "client is NULL");
    expect("wait NULL client", reverie_wait_output(NULL, 1, 10, NULL, 0, 0, 0, NULL), REVERIE_INVALID_ARGUMENT, "client is NULL");
    expect("prompt NULL client", reverie_set_prompt(NULL, "x", 0), REVERIE_INVALID_ARGUMENT, "client is NULL");
    expect("params NULL client", reverie_set_params(NULL, 1, 0.5, 0), REVERIE_INVALID_ARGUMENT, "client is NULL");
    expect("status NULL client", reverie_get_status(NULL, &status), REVERIE_INVALID_ARGUMENT, "client is NULL");
    expect("reset NULL client", reverie_reset_history(NULL), REVERIE_INVALID_ARGUMENT, "client is NULL");
    expect("preset NULL client", reverie_load_preset(NULL, "anime", NULL), REVERIE_INVALID_ARGUMENT, "client is NULL");
    expect("poll NULL client", reverie_poll_event(NULL, &event), REVERIE_INVALID_ARGUMENT, "must not be NULL");
    expect("console NULL client", reverie_console_exec(NULL, "/help", reply, sizeof reply), REVERIE_INVALID_ARGUMENT, "must not be NULL");
    reverie_close(NULL); /* accepted, does nothing */
    expect("default endpoint NULL", reverie_default_control_endpoint(NULL, 10), REVERIE_INVALID_ARGUMENT, "out is NULL");
    checks++;
    if (strcmp(reverie_result_name(12345), "REVERIE_UNKNOWN_RESULT") != 0 || strcmp(reverie_result_name(REVERIE_BUSY), "REVERIE_BUSY") != 0)
        failures++, printf("FAIL result names\n");

    reverie_config cfg;
    reverie_client* c = (reverie_client*)&cfg; /* must be overwritten with NULL on failure */
    reverie_config_init(&cfg);
    cfg.slots = 2;
    expect("2 slots", reverie_connect(&cfg, &c), REVERIE_INVALID_ARGUMENT, "slots 2 is outside 3..16");
    checks++;
    if (c != NULL) failures++, printf("FAIL *out not NULL after a failed connect\n");
    reverie_config_init(&cfg);
    cfg.flags = 0x80;
    expect("unknown connect flag", reverie_connect(&cfg, &c), REVERIE_INVALID_ARGUMENT, "unknown flags");
    reverie_config_init(&cfg);
    cfg.timeout_ms = -5;
    expect("negative timeout", reverie_connect(&cfg, &c), REVERIE_INVALID_ARGUMENT, "must not be negative");
}

/* No daemon at the endpoint: connect answers UNAVAILABLE within its timeout; a lazy
 * client's frame calls answer at once. */
static void without_a_daemon(void) {
    reverie_config cfg;
    reverie_config_init(&cfg);
    cfg.control = "ipc:///tmp/reverie-no-daemon-here/control";
    cfg.timeout_ms = 300;
    reverie_client* c = NULL;
    double t0 = now_ms();
    expect("connect to nobody", reverie_connect(&cfg, &c), REVERIE_UNAVAILABLE, "no reply from the Reverie daemon at ipc:///tmp/reverie-no-daemon-here/control");
    double took = now_ms() - t0;
    checks++;
    if (took > 1500 || c != NULL) failures++, printf("FAIL connect to nobody took %.0f ms\n", took);

    cfg.flags = REVERIE_CONNECT_LAZY;
    expect("lazy connect", reverie_connect(&cfg, &c), REVERIE_OK, NULL);
    reverie_frame_planes planes;
    reverie_frame_info info = {0};
    expect("begin before a format", reverie_begin_frame(c, &planes), REVERIE_INVALID_ARGUMENT, "call reverie_set_frame_format first");
    expect("format too small", reverie_set_frame_format(c, 7, 64, REVERIE_MOTION_F32), REVERIE_INVALID_ARGUMENT, "frame size 7x64 is outside 8..8192");
    expect("format too large", reverie_set_frame_format(c, 64, 8193, REVERIE_MOTION_F32), REVERIE_INVALID_ARGUMENT, "outside 8..8192");
    expect("motion format", reverie_set_frame_format(c, 64, 64, 2), REVERIE_INVALID_ARGUMENT, "motion_format 2");
    expect("format", reverie_set_frame_format(c, 64, 64, REVERIE_MOTION_F16), REVERIE_OK, NULL);
    expect("begin out NULL", reverie_begin_frame(c, NULL), REVERIE_INVALID_ARGUMENT, "out is NULL");
    t0 = now_ms();
    for (int i = 0; i < 20; i++) expect("begin with no daemon", reverie_begin_frame(c, &planes), REVERIE_UNAVAILABLE, "daemon");
    took = now_ms() - t0;
    checks++;
    if (took > 200) failures++, printf("FAIL 20 begin_frame calls with no daemon took %.0f ms\n", took);
    expect("submit without begin", reverie_submit_frame(c, &info, NULL), REVERIE_INVALID_ARGUMENT, "no frame begun");
    expect("submit info NULL", reverie_submit_frame(c, NULL, NULL), REVERIE_INVALID_ARGUMENT, "info is NULL");
    expect("cancel without begin", reverie_cancel_frame(c), REVERIE_INVALID_ARGUMENT, "no frame begun");
    uint8_t pixels[64];
    reverie_output_info out;
    expect("no output yet", reverie_latest_output(c, pixels, 0, sizeof pixels, 0, &out), REVERIE_NONE_YET, "no stylized frame yet");
    expect("wait frame 0", reverie_wait_output(c, 0, 10, NULL, 0, 0, 0, NULL), REVERIE_INVALID_ARGUMENT, "frame ids start at 1");
    expect("wait unknown frame", reverie_wait_output(c, 5, 50, NULL, 0, 0, 0, NULL), REVERIE_TIMEOUT, "no output within 50 ms");
    expect("map NULL", reverie_map_output(c, NULL, NULL, NULL), REVERIE_INVALID_ARGUMENT, "must not be NULL");

    reverie_frame_source src = {64, 64, REVERIE_MOTION_F32, 0, pixels, NULL, pixels, 0, 0, 0};
    expect("copy missing plane", reverie_submit_copy(c, &src, &info, NULL), REVERIE_INVALID_ARGUMENT, "must all be given");
    src.depth = pixels;
    src.color_stride = 10;
    expect("copy short stride", reverie_submit_copy(c, &src, &info, NULL), REVERIE_INVALID_ARGUMENT, "shorter than a row");
    src.color_stride = 0;
    src.flags = 0x10;
    expect("copy unknown flag", reverie_submit_copy(c, &src, &info, NULL), REVERIE_INVALID_ARGUMENT, "unknown flags");
    expect("copy NULL source", reverie_submit_copy(c, NULL, &info, NULL), REVERIE_INVALID_ARGUMENT, "must not be NULL");

    expect("prompt NULL", reverie_set_prompt(c, NULL, 0), REVERIE_INVALID_ARGUMENT, "text is NULL");
    expect("preset NULL", reverie_load_preset(c, NULL, NULL), REVERIE_INVALID_ARGUMENT, "name is NULL");
    expect("status NULL", reverie_get_status(c, NULL), REVERIE_INVALID_ARGUMENT, "out is NULL");
    size_t count;
    expect("presets NULL out", reverie_list_presets(c, NULL, 3, &count), REVERIE_INVALID_ARGUMENT, "out is NULL with cap > 0");
    char reply[8];
    expect("console cap 0", reverie_console_exec(c, "/help", reply, 0), REVERIE_INVALID_ARGUMENT, "cap not 0");
    expect("console with no daemon", reverie_console_exec(c, "/bogus", reply, sizeof reply), REVERIE_UNAVAILABLE,
           "is `reverie serve` running?");
    checks++;
    if (strcmp(reply, "error: ") != 0) failures++, printf("FAIL console reply not cut to its cap: '%s'\n", reply);
    t0 = now_ms();
    expect("prompt with no daemon", reverie_set_prompt(c, "x", 0), REVERIE_UNAVAILABLE, "is `reverie serve` running?");
    took = now_ms() - t0;
    checks++;
    if (took > 1500) failures++, printf("FAIL set_prompt with no daemon took %.0f ms\n", took);
    reverie_close(c);
}

/* The last error belongs to the thread that made the call. */
static void* other_thread(void* arg) {
    (void)arg;
    reverie_set_frame_format(NULL, 1, 1, 0);
    return (void*)(strstr(reverie_last_error(NULL), "client is NULL") != NULL ? (void*)1 : NULL);
}

static void last_error_is_per_thread(void) {
    reverie_cancel_frame(NULL);
    char mine[256];
    snprintf(mine, sizeof mine, "%s", reverie_last_error(NULL));
    pthread_t t;
    void* theirs_ok = NULL;
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, &theirs_ok);
    checks++;
    if (!theirs_ok || strcmp(mine, reverie_last_error(NULL)) != 0 || strstr(mine, "reverie_cancel_frame") == NULL)
        failures++, printf("FAIL last error crossed threads: '%s'\n", reverie_last_error(NULL));
}

/* With a daemon: wrong output buffer sizes and what the daemon refuses. */
/* What the log callback heard: its lines, one after another. */
static char logged[8192];
static int logged_lines = 0;

static void collect_log(void* user, int level, const char* message) {
    size_t used = strlen(logged);
    snprintf(logged + used, sizeof logged - used, "%d %s|%s\n", level, (const char*)user, message);
    logged_lines++;
}

static void with_a_daemon(const char* control) {
    reverie_config cfg;
    reverie_config_init(&cfg);
    cfg.control = control;
    reverie_client* c = NULL;
    reverie_set_log_callback(collect_log, "game");
    expect("connect", reverie_connect(&cfg, &c), REVERIE_OK, NULL);
    if (c == NULL) return;
    reverie_frame_planes p;
    reverie_frame_info info = {0};
    uint64_t id = 0;
    expect("format", reverie_set_frame_format(c, 16, 8, REVERIE_MOTION_F32), REVERIE_OK, NULL);
    expect("begin", reverie_begin_frame(c, &p), REVERIE_OK, NULL);
    expect("begin twice", reverie_begin_frame(c, &p), REVERIE_INVALID_ARGUMENT, "already begun");
    expect("format while begun", reverie_set_frame_format(c, 32, 8, REVERIE_MOTION_F32), REVERIE_INVALID_ARGUMENT, "a frame is begun");
    memset(p.color, 7, 16 * 8 * 4);
    memset(p.depth, 0, 16 * 8 * 4);
    memset(p.motion, 0, 16 * 8 * 8);
    expect("submit", reverie_submit_frame(c, &info, &id), REVERIE_OK, NULL);
    uint8_t small[16 * 8 * 4];
    reverie_output_info out;
    expect("wait", reverie_wait_output(c, id, 5000, small, 0, sizeof small, 0, &out), REVERIE_OK, NULL);
    expect("dst too small", reverie_latest_output(c, small, 0, sizeof small - 1, 0, &out), REVERIE_INVALID_ARGUMENT,
           "a 16x8 output needs 512 bytes at stride 64, dst_size is 511");
    expect("stride too short", reverie_latest_output(c, small, 60, sizeof small, 0, &out), REVERIE_INVALID_ARGUMENT, "shorter than a 64-byte row");
    expect("padded stride too big for dst", reverie_latest_output(c, small, 80, sizeof small, 0, &out), REVERIE_INVALID_ARGUMENT, "needs 624 bytes");
    expect("dst NULL with a size", reverie_latest_output(c, NULL, 0, 100, 0, &out), REVERIE_INVALID_ARGUMENT, "dst is NULL");
    expect("info only", reverie_latest_output(c, NULL, 0, 0, 0, &out), REVERIE_OK, NULL);
    checks++;
    if (out.frame_id != id || out.width != 16 || out.height != 8) failures++, printf("FAIL info-only output\n");

    /* NaN depth: the daemon fails the frame, the client reports it and keeps going. */
    expect("begin nan", reverie_begin_frame(c, &p), REVERIE_OK, NULL);
    ((float*)p.depth)[20] = NAN;
    expect("submit nan", reverie_submit_frame(c, &info, &id), REVERIE_OK, NULL);
    expect("nan frame fails", reverie_wait_output(c, id, 5000, NULL, 0, 0, 0, NULL), REVERIE_REJECTED, "depth has 1 non-finite value(s)");
    reverie_event ev;
    int failed_event = 0;
    for (int i = 0; i < 100 && !failed_event; i++)
        failed_event = reverie_poll_event(c, &ev) == REVERIE_OK && ev.type == REVERIE_EVENT_FRAME_FAILED && ev.frame_id == id;
    checks++;
    if (!failed_event) failures++, printf("FAIL no REVERIE_EVENT_FRAME_FAILED for the NaN frame\n");
    for (int i = 0; i < 3; i++) { /* refused again within the second: not logged one by one */
        expect("begin nan again", reverie_begin_frame(c, &p), REVERIE_OK, NULL);
        ((float*)p.depth)[20] = NAN;
        expect("submit nan again", reverie_submit_frame(c, &info, &id), REVERIE_OK, NULL);
        expect("nan frame fails again", reverie_wait_output(c, id, 5000, NULL, 0, 0, 0, NULL), REVERIE_REJECTED, "non-finite");
    }
    checks++;
    if (strstr(logged, "0 game|reverie: connected to the daemon\n") == NULL ||
        strstr(logged, "1 game|reverie: frame ") == NULL || strstr(logged, "depth has 1 non-finite value(s)") == NULL ||
        logged_lines != 2)
        failures++, printf("FAIL the log callback heard %d line(s):\n%s", logged_lines, logged);
    reverie_set_log_callback(NULL, NULL);

    expect("transition too long", reverie_set_prompt(c, "", 10001), REVERIE_REJECTED, "invalid: set_prompt.transition_frames=10001 is outside [0, 10000]");
    expect("strength 2", reverie_set_params(c, REVERIE_KEEP, 2.0, REVERIE_KEEP), REVERIE_REJECTED, "invalid: set_params.strength=2.0 is outside [0.0, 1.0]");
    expect("bad utf-8 prompt", reverie_set_prompt(c, "\xff\xfe", 0), REVERIE_REJECTED, "malformed");
    expect("huge ring", reverie_set_frame_format(c, 8192, 8192, REVERIE_MOTION_F32), REVERIE_REJECTED, "more than the limit of 4096 MiB");
    expect("still serving", reverie_set_frame_format(c, 16, 8, REVERIE_MOTION_F32), REVERIE_OK, NULL);
    expect("begin after refusal", reverie_begin_frame(c, &p), REVERIE_OK, NULL);
    expect("cancel", reverie_cancel_frame(c), REVERIE_OK, NULL);
    reverie_close(c);
}

/* The default socket folder must be ours and private: one another user made (here: mode
 * 0777) or a link would let them answer the game's hello. */
static void default_endpoint_folder(void) {
    char base[] = "/tmp/rv-native-runtime-XXXXXX", folder[128], link_target[160], out[256];
    if (mkdtemp(base) == NULL) {
        failures++, printf("FAIL mkdtemp\n");
        return;
    }
    const char* saved = getenv("REVERIE_CONTROL");
    char* saved_copy = saved ? strdup(saved) : NULL;
    unsetenv("REVERIE_CONTROL");
    setenv("XDG_RUNTIME_DIR", base, 1);
    snprintf(folder, sizeof folder, "%s/reverie-%u", base, (unsigned)geteuid());
    mkdir(folder, 0700);
    chmod(folder, 0777);
    expect("squatted socket folder", reverie_default_control_endpoint(out, sizeof out), REVERIE_SYSTEM, "not private");
    rmdir(folder);
    snprintf(link_target, sizeof link_target, "%s/elsewhere", base);
    mkdir(link_target, 0700);
    symlink(link_target, folder);
    expect("linked socket folder", reverie_default_control_endpoint(out, sizeof out), REVERIE_SYSTEM, "symbolic link");
    unlink(folder);
    expect("private socket folder", reverie_default_control_endpoint(out, sizeof out), REVERIE_OK, NULL);
    checks++;
    if (strstr(out, folder) == NULL) failures++, printf("FAIL default endpoint %s is not in %s\n", out, folder);
    rmdir(folder);
    rmdir(link_target);
    rmdir(base);
    if (saved_copy) setenv("REVERIE_CONTROL", saved_copy, 1), free(saved_copy);
}

int main(int argc, char** argv) {
    without_a_client();
    default_endpoint_folder();
    without_a_daemon();
    last_error_is_per_thread();
    if (argc > 1) with_a_daemon(argv[1]);
    printf("SUMMARY checks=%d failures=%d\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
