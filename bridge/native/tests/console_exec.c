/* Feeds stdin, line by line, to reverie_console_exec and prints each reply as
 * `reverie console` prints it (nothing for an empty reply), stopping at /quit. The
 * result name of every line goes to stderr, one per line, for the test to check. */
#include <stdio.h>
#include <string.h>

#include "reverie.h"

int main(int argc, char** argv) {
    reverie_config cfg;
    reverie_config_init(&cfg);
    cfg.control = argc > 1 ? argv[1] : NULL;
    cfg.flags = REVERIE_CONNECT_LAZY; /* a console needs no game session */
    cfg.timeout_ms = 1000;
    reverie_client* rv = NULL;
    if (reverie_connect(&cfg, &rv) != REVERIE_OK) {
        fprintf(stderr, "connect: %s\n", reverie_last_error(NULL));
        return 1;
    }
    static char line[70000], reply[REVERIE_CONSOLE_REPLY_CAP];
    while (fgets(line, sizeof line, stdin) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        reverie_result r = reverie_console_exec(rv, line, reply, sizeof reply);
        if (reply[0] != '\0') printf("%s\n", reply);
        fprintf(stderr, "%s\n", reverie_result_name(r));
        if (r == REVERIE_QUIT) break;
    }
    reverie_close(rv);
    return 0;
}
