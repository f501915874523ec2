/* The ring attach checks and the game's heartbeat, against the scripted daemon of
 * tests/test_native_client.py (it answers open_ring with the segment paths it wants
 * checked), and a game that goes silent, against a real daemon. Reads one command a line
 * from stdin and answers each with one line "RESULT <result name> <n> <text>":
 *   begin   reverie_begin_frame at 64x48 (f32 motion), again while it says
 *           REVERIE_UNAVAILABLE (n times: saying hello, or reconnecting), at most 5 s;
 *           then cancel the frame if it was begun. text: the last error, or on REVERIE_OK
 *           the first REVERIE_UNAVAILABLE's words
 *   latest  reverie_latest_output with no buffer (writes the game's heartbeat); n = 0
 *   quit    close the client and exit */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "reverie.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void answer(reverie_result r, int unavailable, const char* first) {
    printf("RESULT %s %d %s\n", reverie_result_name(r), unavailable, r == REVERIE_OK ? first : reverie_last_error(NULL));
    fflush(stdout);
}

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: segment_check CONTROL_ENDPOINT\n");
        return 2;
    }
    reverie_config cfg;
    reverie_config_init(&cfg);
    cfg.control = argv[1];
    cfg.client_name = "segment_check";
    cfg.flags = REVERIE_CONNECT_LAZY;
    cfg.reconnect_interval_ms = 1;
    reverie_client* rv = NULL;
    if (reverie_connect(&cfg, &rv) != REVERIE_OK) {
        printf("FAIL connect: %s\n", reverie_last_error(NULL));
        return 1;
    }
    reverie_set_frame_format(rv, 64, 48, REVERIE_MOTION_F32);
    char line[64];
    while (fgets(line, sizeof line, stdin) != NULL) {
        if (strncmp(line, "begin", 5) == 0) {
            reverie_frame_planes p;
            reverie_result r;
            int unavailable = 0;
            char first[512] = "";
            double deadline = now_s() + 5.0;
            while ((r = reverie_begin_frame(rv, &p)) == REVERIE_UNAVAILABLE && now_s() < deadline) {
                if (unavailable++ == 0) snprintf(first, sizeof first, "%s", reverie_last_error(NULL));
                struct timespec pause = {0, 2 * 1000000L};
                nanosleep(&pause, NULL);
            }
            answer(r, unavailable, first);
            if (r == REVERIE_OK) reverie_cancel_frame(rv);
        } else if (strncmp(line, "latest", 6) == 0) {
            answer(reverie_latest_output(rv, NULL, 0, 0, 0, NULL), 0, "");
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        }
    }
    reverie_close(rv);
    return 0;
}
