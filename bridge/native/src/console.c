/* reverie_console_exec: one line of the console language, run by the daemon (the
 * `console` op, docs/protocol.md). The library keeps only what belongs to this client's
 * console, its /transition, sent with every line and taken back from every reply; the
 * reply's text is the daemon's, the same an in-game console and `reverie console` show. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "msg.h"
#include "steer.h"

#define RV_PRESET_WAIT_MS 120000 /* a /preset line waits while a pack's weights load, as load_preset does */

static bool loads_a_preset(const char* line) {
    while (*line == ' ' || *line == '\t') line++;
    return strncmp(line, "/preset ", 8) == 0;
}

/* The reply's outcome as a result: "usage" (typed wrong) and "refused" (the daemon said no). */
static reverie_result outcome_result(const msgpack_object* map) {
    char outcome[16] = "";
    rv_get_str(map, "outcome", outcome, sizeof outcome);
    if (strcmp(outcome, "usage") == 0) return REVERIE_INVALID_ARGUMENT;
    if (strcmp(outcome, "refused") == 0) return REVERIE_REJECTED;
    return REVERIE_OK;
}

reverie_result reverie_console_exec(reverie_client* c, const char* line, char* reply, size_t cap) {
    if (c == NULL || line == NULL || reply == NULL || cap == 0)
        return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_console_exec: client, line and reply must not be NULL, cap not 0");
    reply[0] = '\0';
    size_t len = strlen(line);
    if (len > RV_MAX_CONSOLE_LINE_CHARS * 4) /* the daemon counts characters; this bounds the bytes */
        return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_console_exec: a line is at most %d characters",
                       RV_MAX_CONSOLE_LINE_CHARS);
    pthread_mutex_lock(&c->steer_lock);
    rv_request req;
    rv_reply answer;
    rv_request_begin(&req, "console", 2);
    rv_put_str(&req, "line", line);
    rv_put_int(&req, "transition_frames", c->console_transition);
    reverie_result r = rv_control_request(&c->steer, &req, &answer, loads_a_preset(line) ? RV_PRESET_WAIT_MS : 0);
    rv_request_free(&req);
    if (r == REVERIE_OK) {
        const msgpack_object* text = rv_get(answer.map, "text");
        int64_t transition;
        bool quit = false;
        if (text == NULL || text->type != MSGPACK_OBJECT_STR || !rv_get_i64(answer.map, "transition_frames", &transition)) {
            r = rv_fail(REVERIE_PROTOCOL, "garbled console reply: no text or transition_frames");
        } else {
            rv_copy_text(reply, cap, text->via.str.ptr, text->via.str.size);
            c->console_transition = (int32_t)transition;
            rv_get_bool(answer.map, "quit", &quit);
            r = quit ? REVERIE_QUIT : outcome_result(answer.map);
            if (r != REVERIE_OK && r != REVERIE_QUIT) /* last_error: the text, without its "error: " */
                rv_fail(r, "%.*s", (int)text->via.str.size - (strncmp(reply, "error: ", 7) == 0 ? 7 : 0),
                        text->via.str.ptr + (strncmp(reply, "error: ", 7) == 0 ? 7 : 0));
        }
    } else {
        rv_copy_text(reply, cap, "error: ", 7);
        size_t used = strlen(reply);
        const char* why = rv_error_text();
        if (used < cap) rv_copy_text(reply + used, cap - used, why, strlen(why));
    }
    rv_reply_free(&answer);
    pthread_mutex_unlock(&c->steer_lock);
    return r;
}
