/* console_exec CONTROL [CAP]: feeds stdin, line by line, to reverie_console_exec and
 * prints each reply as `reverie console` prints it (nothing for an empty reply), stopping
 * at REVERIE_QUIT. For every line, stderr gets the result's name and the reply's length
 * in bytes, for the test to check (and to split stdout by). CAP is the reply buffer's
 * size (default REVERIE_CONSOLE_REPLY_CAP). A line "@2 TEXT" runs TEXT on a second
 * client of the same process, whose console state is its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reverie.h"

static reverie_client* connect_to(const char* control) {
    reverie_config cfg;
    reverie_config_init(&cfg);
    cfg.control = control;
    cfg.flags = REVERIE_CONNECT_LAZY; /* a console needs no game session */
    cfg.timeout_ms = 1000;
    reverie_client* rv = NULL;
    if (reverie_connect(&cfg, &rv) != REVERIE_OK) {
        fprintf(stderr, "connect: %s\n", reverie_last_error(NULL));
        exit(1);
    }
    return rv;
}

int main(int argc, char** argv) {
    const char* control = argc > 1 ? argv[1] : NULL;
    size_t cap = argc > 2 ? strtoul(argv[2], NULL, 10) : REVERIE_CONSOLE_REPLY_CAP;
    if (cap == 0 || cap > REVERIE_CONSOLE_REPLY_CAP) cap = REVERIE_CONSOLE_REPLY_CAP;
    reverie_client* clients[2] = {connect_to(control), NULL};
    static char line[70000], reply[REVERIE_CONSOLE_REPLY_CAP];
    while (fgets(line, sizeof line, stdin) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        const char* text = line;
        reverie_client* rv = clients[0];
        if (strncmp(line, "@2 ", 3) == 0) {
            if (clients[1] == NULL) clients[1] = connect_to(control);
            rv = clients[1];
            text = line + 3;
        }
        memset(reply, 0x7f, sizeof reply); /* shows bytes written past the terminator */
        reverie_result r = reverie_console_exec(rv, text, reply, cap);
        size_t len = strnlen(reply, cap);
        if (len == cap) return fprintf(stderr, "reply not terminated within cap %zu\n", cap), 1;
        if (cap < sizeof reply && reply[cap] != 0x7f) return fprintf(stderr, "reply written past cap %zu\n", cap), 1;
        if (len > 0) printf("%s\n", reply);
        fprintf(stderr, "%s %zu\n", reverie_result_name(r), len);
        if (r == REVERIE_QUIT) break;
    }
    fflush(stdout);
    reverie_close(clients[0]);
    reverie_close(clients[1]);
    return 0;
}
