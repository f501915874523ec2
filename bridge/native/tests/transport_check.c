/* reverie_set_transport without a daemon (a lazy client), built in both the CPU and the
 * CUDA build: tests/test_native_cuda.py reads what the CUDA transport got. Prints
 * KEY=VALUE lines; the exit status is 0 only if the checks that hold in every build held:
 * bad arguments are refused, the host transport is always accepted. */
#include <stdio.h>
#include <string.h>

#include "reverie.h"

static int failures = 0;

#define CHECK(cond, what)                      \
    do {                                       \
        if (!(cond)) {                         \
            failures++;                        \
            printf("FAIL %s: %s\n", what, reverie_last_error(NULL)); \
        }                                      \
    } while (0)

int main(void) {
    reverie_config cfg;
    reverie_config_init(&cfg);
    cfg.flags = REVERIE_CONNECT_LAZY;
    cfg.control = "ipc:///nonexistent/reverie-transport-check";
    reverie_client* rv = NULL;
    if (reverie_connect(&cfg, &rv) != REVERIE_OK) {
        printf("FAIL connect: %s\n", reverie_last_error(NULL));
        return 1;
    }
    CHECK(reverie_set_transport(NULL, REVERIE_TRANSPORT_SHM, 0, NULL) == REVERIE_INVALID_ARGUMENT, "NULL client");
    CHECK(reverie_set_transport(rv, 7, 0, NULL) == REVERIE_INVALID_ARGUMENT, "unknown transport");
    CHECK(strstr(reverie_last_error(NULL), "transport 7") != NULL, "unknown transport named");
    CHECK(reverie_set_transport(rv, REVERIE_TRANSPORT_SHM, 0, NULL) == REVERIE_OK, "host transport");
    CHECK(strcmp(reverie_result_name(REVERIE_UNSUPPORTED), "REVERIE_UNSUPPORTED") == 0, "result name");
    CHECK(REVERIE_MEMORY_CUDA == 1 && REVERIE_TRANSPORT_CUDA == 1, "enum values");

    /* What this build and machine say to the CUDA transport: the test judges it. */
    reverie_result r = reverie_set_transport(rv, REVERIE_TRANSPORT_CUDA, 0, NULL);
    printf("CUDA_RESULT=%s\n", reverie_result_name(r));
    printf("CUDA_MESSAGE=%s\n", r == REVERIE_OK ? "" : reverie_last_error(NULL));
    r = reverie_set_transport(rv, REVERIE_TRANSPORT_CUDA, 9999, NULL);
    printf("CUDA_BAD_DEVICE=%s\n", reverie_result_name(r));
    printf("CUDA_BAD_DEVICE_MESSAGE=%s\n", reverie_last_error(NULL));
    /* Back to the host transport: always possible, whatever the CUDA answer was. */
    CHECK(reverie_set_transport(rv, REVERIE_TRANSPORT_SHM, 0, NULL) == REVERIE_OK, "host transport again");
    reverie_close(rv);
    printf("SUMMARY failures=%d\n", failures);
    return failures == 0 ? 0 : 1;
}
