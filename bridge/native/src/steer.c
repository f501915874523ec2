/* The STEER group: prompts, params, presets, history reset, status and console lines, on
 * a REQ socket of their own so a slow or dead daemon never stalls the render thread.
 * Values are sent as given; the daemon validates them and its refusal comes back as
 * REVERIE_REJECTED with its own words (the Python client does the same). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "client_internal.h"
#include "error.h"
#include "msg.h"
#include "protocol.h"

#define RV_PRESET_WAIT_MS 120000 /* a /preset NAME line waits while a pack's weights load */

static reverie_result steer_request(reverie_client* c, rv_request* req, rv_reply* reply) {
    return rv_control_request(&c->steer, req, reply, 0);
}

static reverie_result simple(reverie_client* c, rv_request* req) {
    rv_reply reply;
    reverie_result r = steer_request(c, req, &reply);
    rv_request_free(req);
    rv_reply_free(&reply);
    return r;
}

static reverie_result set_prompt(reverie_client* c, const char* text, int64_t transition_frames) {
    rv_request req;
    rv_request_begin(&req, "set_prompt", 2);
    rv_put_str(&req, "text", text);
    rv_put_int(&req, "transition_frames", transition_frames);
    return simple(c, &req);
}

static reverie_result set_params(reverie_client* c, const int64_t* steps, const double* strength, const int64_t* seed) {
    rv_request req;
    rv_request_begin(&req, "set_params", (steps != NULL) + (strength != NULL) + (seed != NULL));
    if (steps) rv_put_int(&req, "steps", *steps);
    if (strength) rv_put_double(&req, "strength", *strength);
    if (seed) rv_put_int(&req, "seed", *seed);
    return simple(c, &req);
}

#define STEER_BEGIN(fn)                                                                         \
    if (c == NULL) return rv_fail(REVERIE_INVALID_ARGUMENT, fn ": client is NULL");            \
    pthread_mutex_lock(&c->steer_lock)
#define STEER_END(r)                       \
    pthread_mutex_unlock(&c->steer_lock); \
    return r

reverie_result reverie_set_prompt(reverie_client* c, const char* text, int32_t transition_frames) {
    if (text == NULL) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_set_prompt: text is NULL");
    STEER_BEGIN("reverie_set_prompt");
    reverie_result r = set_prompt(c, text, transition_frames);
    STEER_END(r);
}

reverie_result reverie_set_params(reverie_client* c, int32_t steps, double strength, int64_t seed) {
    STEER_BEGIN("reverie_set_params");
    int64_t steps64 = steps;
    bool keep_strength = isnan(strength) || strength < 0;
    reverie_result r = set_params(c, steps < 0 ? NULL : &steps64, keep_strength ? NULL : &strength, seed < 0 ? NULL : &seed);
    STEER_END(r);
}

reverie_result reverie_reset_history(reverie_client* c) {
    STEER_BEGIN("reverie_reset_history");
    rv_request req;
    rv_request_begin(&req, "reset_history", 0);
    reverie_result r = simple(c, &req);
    STEER_END(r);
}

static void preset_from(const msgpack_object* m, reverie_preset* out) {
    int64_t i;
    memset(out, 0, sizeof *out);
    rv_get_str(m, "name", out->name, sizeof out->name);
    rv_get_str(m, "prompt", out->prompt, sizeof out->prompt);
    if (rv_get_i64(m, "steps", &i)) out->steps = (int32_t)i;
    if (rv_get_i64(m, "transition_frames", &i)) out->transition_frames = (int32_t)i;
    rv_get_f64(m, "strength", &out->strength);
    rv_get_i64(m, "seed", &out->seed);
}

reverie_result reverie_load_preset(reverie_client* c, const char* name, reverie_preset* applied) {
    if (name == NULL) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_load_preset: name is NULL");
    STEER_BEGIN("reverie_load_preset");
    rv_request req;
    rv_reply reply;
    rv_request_begin(&req, "load_preset", 1);
    rv_put_str(&req, "name", name);
    reverie_result r = steer_request(c, &req, &reply);
    rv_request_free(&req);
    if (r == REVERIE_OK && applied != NULL) preset_from(rv_get(reply.map, "preset"), applied);
    rv_reply_free(&reply);
    STEER_END(r);
}

reverie_result reverie_list_presets(reverie_client* c, reverie_preset* out, size_t cap, size_t* count) {
    if (count == NULL || (out == NULL && cap > 0))
        return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_list_presets: count is NULL, or out is NULL with cap > 0");
    STEER_BEGIN("reverie_list_presets");
    rv_request req;
    rv_reply reply;
    rv_request_begin(&req, "list_presets", 0);
    reverie_result r = steer_request(c, &req, &reply);
    rv_request_free(&req);
    const msgpack_object* list = r == REVERIE_OK ? rv_get(reply.map, "presets") : NULL;
    if (r == REVERIE_OK && (list == NULL || list->type != MSGPACK_OBJECT_ARRAY))
        r = rv_fail(REVERIE_PROTOCOL, "garbled list_presets reply: no presets array");
    if (r == REVERIE_OK) {
        *count = list->via.array.size;
        for (size_t i = 0; i < cap && i < list->via.array.size; i++) preset_from(&list->via.array.ptr[i], &out[i]);
    }
    rv_reply_free(&reply);
    STEER_END(r);
}

static void fill_status(reverie_client* c, const msgpack_object* m, reverie_status* s) {
    int64_t i;
    double d;
    const msgpack_object* version = rv_get(m, "version");
    if (rv_get_i64(m, "daemon_pid", &i)) s->daemon_pid = (int32_t)i;
    if (version && version->type == MSGPACK_OBJECT_ARRAY && version->via.array.size == 2) {
        if (rv_obj_i64(&version->via.array.ptr[0], &i)) s->version_major = (uint32_t)i;
        if (rv_obj_i64(&version->via.array.ptr[1], &i)) s->version_minor = (uint32_t)i;
    }
    rv_get_f64(m, "uptime_s", &s->uptime_s);
    rv_get_str(m, "stylizer", s->stylizer, sizeof s->stylizer);
    if (rv_get_str(m, "events", s->events, sizeof s->events)) rv_events_learn_endpoint(c, s->events);
    const msgpack_object* game = rv_get(m, "session");
    if (game != NULL && game->type == MSGPACK_OBJECT_MAP) {
        s->has_session = 1;
        rv_get_str(game, "client", s->session_client, sizeof s->session_client);
        if (rv_get_i64(game, "pid", &i)) s->session_pid = (int32_t)i;
        const msgpack_object* size = rv_get(game, "size");
        if (size && size->type == MSGPACK_OBJECT_ARRAY && size->via.array.size == 2) {
            if (rv_obj_i64(&size->via.array.ptr[0], &i)) s->session_width = (uint32_t)i;
            if (rv_obj_i64(&size->via.array.ptr[1], &i)) s->session_height = (uint32_t)i;
        }
    }
    const msgpack_object* settings = rv_get(m, "settings");
    rv_get_str(settings, "prompt", s->prompt, sizeof s->prompt);
    if (rv_get_i64(settings, "transition_frames", &i)) s->transition_frames = (int32_t)i;
    if (rv_get_i64(settings, "steps", &i)) s->steps = (int32_t)i;
    rv_get_f64(settings, "strength", &s->strength);
    rv_get_i64(settings, "seed", &s->seed);
    const msgpack_object* stats = rv_get(m, "stats");
    if (rv_get_i64(stats, "frames", &i)) s->frames = (uint64_t)i;
    if (rv_get_i64(stats, "dropped", &i)) s->dropped = (uint64_t)i;
    if (rv_get_i64(stats, "failed", &i)) s->failed = (uint64_t)i;
    rv_get_f64(stats, "fps", &s->fps);
    s->latency_p50_ms = rv_get_f64(stats, "latency_p50_ms", &d) ? d : -1;
    s->latency_p95_ms = rv_get_f64(stats, "latency_p95_ms", &d) ? d : -1;
    s->process_p50_ms = rv_get_f64(stats, "process_p50_ms", &d) ? d : -1;
    const msgpack_object* counters = rv_get(m, "stylizer_counters");
    if (counters && counters->type == MSGPACK_OBJECT_MAP) {
        for (uint32_t k = 0; k < counters->via.map.size && s->counter_count < REVERIE_MAX_COUNTERS; k++) {
            const msgpack_object_kv* kv = &counters->via.map.ptr[k];
            if (!rv_obj_str(&kv->key, s->counter_names[s->counter_count], 64) || !rv_obj_i64(&kv->val, &i)) continue;
            s->counter_values[s->counter_count++] = i;
        }
    }
}

reverie_result reverie_get_status(reverie_client* c, reverie_status* out) {
    if (out == NULL) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_get_status: out is NULL");
    STEER_BEGIN("reverie_get_status");
    memset(out, 0, sizeof *out);
    out->latency_p50_ms = out->latency_p95_ms = out->process_p50_ms = -1;
    pthread_mutex_lock(&c->shared_lock); /* this client's own view, even when the daemon is down */
    out->connected = c->shared.connected;
    out->ring_width = c->shared.ring_width;
    out->ring_height = c->shared.ring_height;
    out->ring_slots = c->shared.ring_slots;
    out->frames_submitted = c->shared.frames_submitted;
    out->frames_skipped = c->shared.frames_skipped;
    pthread_mutex_unlock(&c->shared_lock);
    rv_request req;
    rv_reply reply;
    rv_request_begin(&req, "status", 0);
    reverie_result r = steer_request(c, &req, &reply);
    rv_request_free(&req);
    if (r == REVERIE_OK) fill_status(c, reply.map, out);
    rv_reply_free(&reply);
    STEER_END(r);
}

/* The console language is the daemon's (the `console` op); this client keeps only its
 * console's /transition, sent with every line and taken back from every reply. A blank
 * line and /quit are answered here, as `reverie console` answers them (nothing, and
 * leaving): leaving needs no daemon, and the daemon's reply would be the same. */
static bool blank_or_quit(const char* line, bool* quit) {
    size_t len = strlen(line);
    while (len > 0 && isspace((unsigned char)line[len - 1])) len--;
    while (len > 0 && isspace((unsigned char)*line)) line++, len--;
    *quit = len == 5 && memcmp(line, "/quit", 5) == 0;
    return len == 0 || *quit;
}

static bool loads_a_preset(const char* line) {
    while (isspace((unsigned char)*line)) line++;
    return strncmp(line, "/preset ", 8) == 0;
}

/* A line typed wrong ("usage") or refused by the daemon ("refused"), as a result. */
static reverie_result outcome_result(const msgpack_object* map) {
    char outcome[16] = "";
    rv_get_str(map, "outcome", outcome, sizeof outcome);
    if (strcmp(outcome, "usage") == 0) return REVERIE_INVALID_ARGUMENT;
    if (strcmp(outcome, "refused") == 0) return REVERIE_REJECTED;
    return REVERIE_OK;
}

/* A line with no console reply (no daemon, a refused request): "error: " and the last error. */
static reverie_result say_error(reverie_result r, char* reply, size_t cap) {
    char text[RV_ERROR_CAP + 8]; /* the last error is at most RV_ERROR_CAP bytes */
    snprintf(text, sizeof text, "error: %s", rv_error_text());
    rv_copy_text(reply, cap, text, strlen(text));
    return r;
}

static reverie_result console_line(reverie_client* c, const char* line, char* reply, size_t cap) {
    rv_request req;
    rv_reply answer;
    rv_request_begin(&req, "console", 2);
    rv_put_str(&req, "line", line);
    rv_put_int(&req, "transition_frames", c->console_transition);
    reverie_result r = rv_control_request(&c->steer, &req, &answer, loads_a_preset(line) ? RV_PRESET_WAIT_MS : 0);
    rv_request_free(&req);
    const msgpack_object* text = r == REVERIE_OK ? rv_get(answer.map, "text") : NULL;
    int64_t transition = 0;
    bool quit = false;
    if (r == REVERIE_OK && (text == NULL || text->type != MSGPACK_OBJECT_STR || !rv_get_i64(answer.map, "transition_frames", &transition)))
        r = rv_fail(REVERIE_PROTOCOL, "garbled console reply: no text or transition_frames");
    if (r != REVERIE_OK) {
        rv_reply_free(&answer);
        return say_error(r, reply, cap);
    }
    rv_copy_text(reply, cap, text->via.str.ptr, text->via.str.size);
    c->console_transition = (int32_t)transition;
    rv_get_bool(answer.map, "quit", &quit);
    r = quit ? REVERIE_QUIT : outcome_result(answer.map);
    if (r != REVERIE_OK && r != REVERIE_QUIT) { /* the last error: the text without its "error: " */
        size_t skip = text->via.str.size >= 7 && memcmp(text->via.str.ptr, "error: ", 7) == 0 ? 7 : 0;
        rv_fail(r, "%.*s", (int)(text->via.str.size - skip), text->via.str.ptr + skip);
    }
    rv_reply_free(&answer);
    return r;
}

reverie_result reverie_console_exec(reverie_client* c, const char* line, char* reply, size_t cap) {
    if (c == NULL || line == NULL || reply == NULL || cap == 0)
        return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_console_exec: client, line and reply must not be NULL, cap not 0");
    reply[0] = '\0';
    bool quit;
    if (blank_or_quit(line, &quit)) return quit ? REVERIE_QUIT : REVERIE_OK;
    if (strlen(line) > (size_t)RV_MAX_CONSOLE_LINE_CHARS * 4) /* the daemon counts characters; this bounds the bytes */
        return say_error(rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_console_exec: a line is at most %d characters",
                                 RV_MAX_CONSOLE_LINE_CHARS),
                         reply, cap);
    STEER_BEGIN("reverie_console_exec");
    reverie_result r = console_line(c, line, reply, cap);
    STEER_END(r);
}
