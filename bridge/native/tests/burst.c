/* Protocol 10.1 and 10.3 with the Slow stylizer (50 ms a frame): a game submitting every
 * 2 ms runs out of slots and must skip frames without waiting; the first skipped frame
 * carries a camera cut, which must reach the first frame stylized after it (carried by
 * the client to its next submission, and by the daemon past frames it drops). Prints
 * SUMMARY; exit status 0 when every check held. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "reverie.h"
#include "testkit.h"

int main(int argc, char** argv) {
    reverie_config cfg;
    reverie_config_init(&cfg);
    cfg.control = argc > 1 ? argv[1] : NULL;
    cfg.client_name = "burst";
    reverie_client* rv = NULL;
    if (reverie_connect(&cfg, &rv) != REVERIE_OK) {
        printf("FAIL connect: %s\n", reverie_last_error(NULL));
        return 1;
    }
    int failures = 0, skipped = 0, reported = 0, submitted = 0, seen = 0;
    uint64_t cut_id = 0, last_seen = 0, last_id = 0;
    int first_after_cut = -1, resets_elsewhere = 0;
    double slowest_ms = 0;
    reverie_set_frame_format(rv, 32, 16, REVERIE_MOTION_F32);
    for (int i = 0; i < 150; i++) {
        double t0 = tk_now_ms();
        reverie_frame_planes p;
        reverie_frame_info info;
        memset(&info, 0, sizeof info);
        reverie_result r = reverie_begin_frame(rv, &p);
        uint64_t id = 0;
        if (r == REVERIE_OK) {
            memset(p.color, 1, 32 * 16 * 4);
            memset(p.depth, 0, 32 * 16 * 4);
            memset(p.motion, 0, 32 * 16 * 8);
            r = reverie_submit_frame(rv, &info, &id);
            if (r == REVERIE_OK) submitted++, reported = skipped, last_id = id; /* the notice carried the skips */
        } else if (r == REVERIE_SKIPPED) {
            skipped++;
            if (cut_id == 0) info.flags = REVERIE_FRAME_RESET; /* a camera cut on a frame the game skips */
            r = reverie_submit_frame(rv, &info, &id);
            if (r != REVERIE_SKIPPED) failures++, printf("FAIL submit after SKIPPED gave %s\n", reverie_result_name(r));
            if (cut_id == 0) cut_id = id;
        } else {
            failures++, printf("FAIL frame %d: %s %s\n", i, reverie_result_name(r), reverie_last_error(rv));
        }
        double took = tk_now_ms() - t0;
        if (took > slowest_ms) slowest_ms = took;
        /* Every new output: its frame id and the reset the stylizer saw (pixel 0, byte 0). */
        const void* out;
        uint64_t pitch;
        reverie_output_info oi;
        if (reverie_map_output(rv, &out, &pitch, &oi) == REVERIE_OK && oi.frame_id != last_seen) {
            last_seen = oi.frame_id;
            seen++;
            int reset = ((const uint8_t*)out)[0];
            if (cut_id && oi.frame_id > cut_id && first_after_cut < 0) first_after_cut = reset;
            else if (reset) resets_elsewhere++;
        }
        struct timespec pause = {0, 2000000};
        nanosleep(&pause, NULL);
    }
    reverie_result r = reverie_wait_output(rv, last_id, 3000, NULL, 0, 0, 0, NULL);
    if (r != REVERIE_OK && r != REVERIE_DROPPED) failures++, printf("FAIL last frame: %s\n", reverie_result_name(r));
    if (cut_id) {
        r = reverie_wait_output(rv, cut_id, 10, NULL, 0, 0, 0, NULL);
        if (r != REVERIE_DROPPED) failures++, printf("FAIL skipped frame %llu: %s, not DROPPED\n", (unsigned long long)cut_id, reverie_result_name(r));
    }
    reverie_status st;
    if (reverie_get_status(rv, &st) != REVERIE_OK) failures++, printf("FAIL status: %s\n", reverie_last_error(rv));
    if (skipped == 0 || cut_id == 0) failures++, printf("FAIL the game never ran out of slots\n");
    if (first_after_cut != 1) failures++, printf("FAIL the first output after the cut has reset %d\n", first_after_cut);
    if (resets_elsewhere) failures++, printf("FAIL %d other outputs saw a reset\n", resets_elsewhere);
    if (st.frames_skipped != (uint64_t)skipped) failures++, printf("FAIL status frames_skipped %llu\n", (unsigned long long)st.frames_skipped);
    /* The daemon counts the skips the notices reported among its dropped frames. */
    if (st.dropped < (uint64_t)reported) failures++, printf("FAIL daemon dropped %llu < skips reported %d\n", (unsigned long long)st.dropped, reported);
    if (slowest_ms > 100) failures++, printf("FAIL a frame call took %.0f ms\n", slowest_ms);
    reverie_close(rv);
    printf("SUMMARY submitted=%d skipped=%d outputs=%d dropped=%llu slowest_ms=%.1f failures=%d\n", submitted, skipped, seen,
           (unsigned long long)st.dropped, slowest_ms, failures);
    return failures == 0 ? 0 : 1;
}
