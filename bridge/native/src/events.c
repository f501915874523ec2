/* The EVENT group: the daemon's PUB stream (protocol 6) on a SUB socket, plus events this
 * client makes itself (frame failures, disconnects), merged into one non-blocking poll. */
#include <math.h>
#include <string.h>
#include <zmq.h>

#include "client_internal.h"
#include "control.h"
#include "error.h"
#include "log.h"
#include "msg.h"

/* The client-made events are what the log callback hears of: a frame refusal once a second
 * at most (a game sending NaN every frame must not flood the engine's log). */
static void log_local(rv_shared* s, int type, uint64_t frame_id, const char* text) {
    if (type == REVERIE_EVENT_CONNECTED) {
        rv_log(REVERIE_LOG_INFO, "reverie: connected to the daemon");
    } else if (type == REVERIE_EVENT_DISCONNECTED) {
        rv_log(REVERIE_LOG_WARNING, "reverie: disconnected: %s", text);
    } else if (type == REVERIE_EVENT_FRAME_FAILED) {
        uint64_t now = rv_now_ns();
        if (s->refusal_logged_ns != 0 && now - s->refusal_logged_ns < 1000000000ull) {
            s->refusals_unlogged++;
            return;
        }
        if (s->refusals_unlogged > 0)
            rv_log(REVERIE_LOG_WARNING, "reverie: frame %llu refused: %s (%llu more refused in the last second)",
                   (unsigned long long)frame_id, text, (unsigned long long)s->refusals_unlogged);
        else
            rv_log(REVERIE_LOG_WARNING, "reverie: frame %llu refused: %s", (unsigned long long)frame_id, text);
        s->refusal_logged_ns = now;
        s->refusals_unlogged = 0;
    }
}

void rv_events_push_local(reverie_client* c, int type, uint64_t frame_id, const char* text) {
    pthread_mutex_lock(&c->shared_lock);
    rv_shared* s = &c->shared;
    log_local(s, type, frame_id, text ? text : "");
    if (s->local_count == RV_LOCAL_EVENTS) { /* full: the oldest goes */
        s->local_head = (s->local_head + 1) % RV_LOCAL_EVENTS;
        s->local_count--;
    }
    reverie_event* e = &s->local[(s->local_head + s->local_count) % RV_LOCAL_EVENTS];
    memset(e, 0, sizeof *e);
    e->type = type;
    e->frame_id = frame_id;
    e->latency_p50_ms = e->latency_p95_ms = e->process_p50_ms = -1;
    rv_copy_text(e->text, sizeof e->text, text ? text : "", text ? strlen(text) : 0);
    s->local_count++;
    pthread_mutex_unlock(&c->shared_lock);
}

void rv_events_learn_endpoint(reverie_client* c, const char* bound) {
    char dial[RV_ENDPOINT_CAP];
    rv_connectable(dial, sizeof dial, bound, c->control);
    pthread_mutex_lock(&c->shared_lock);
    memcpy(c->shared.learned_events, dial, sizeof dial);
    pthread_mutex_unlock(&c->shared_lock);
}

static bool pop_local(reverie_client* c, reverie_event* out) {
    pthread_mutex_lock(&c->shared_lock);
    rv_shared* s = &c->shared;
    bool any = s->local_count > 0;
    if (any) {
        *out = s->local[s->local_head];
        s->local_head = (s->local_head + 1) % RV_LOCAL_EVENTS;
        s->local_count--;
    }
    pthread_mutex_unlock(&c->shared_lock);
    return any;
}

/* The events endpoint to follow: the configured one, else the one the daemon named,
 * else the default ($REVERIE_EVENTS or the ipc path). */
static void wanted_endpoint(reverie_client* c, char* out) {
    if (c->events_override[0] != '\0') {
        memcpy(out, c->events_override, RV_ENDPOINT_CAP);
        return;
    }
    pthread_mutex_lock(&c->shared_lock);
    memcpy(out, c->shared.learned_events, RV_ENDPOINT_CAP);
    pthread_mutex_unlock(&c->shared_lock);
    if (out[0] == '\0' && rv_default_endpoint(out, RV_ENDPOINT_CAP, "REVERIE_EVENTS", "events") != REVERIE_OK) out[0] = '\0';
}

static void close_sub(reverie_client* c) {
    if (c->sub != NULL) zmq_close(c->sub);
    c->sub = NULL;
    c->sub_endpoint[0] = '\0';
}

/* Follow the wanted endpoint; a SUB reconnects by itself across daemon restarts. */
static reverie_result follow(reverie_client* c) {
    char want[RV_ENDPOINT_CAP];
    wanted_endpoint(c, want);
    if (want[0] == '\0') return rv_fail(REVERIE_UNAVAILABLE, "no events endpoint known yet");
    if (c->sub != NULL && strcmp(want, c->sub_endpoint) == 0) return REVERIE_OK;
    close_sub(c);
    void* sub = zmq_socket(c->zmq, ZMQ_SUB);
    if (sub == NULL) return rv_fail(REVERIE_SYSTEM, "zmq_socket(SUB): %s", zmq_strerror(zmq_errno()));
    int linger = 0;
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    reverie_result r = rv_curve_apply(sub, &c->curve);
    if (r == REVERIE_OK && zmq_connect(sub, want) != 0)
        r = rv_fail(REVERIE_INVALID_ARGUMENT, "cannot connect to the events endpoint %s: %s", want, zmq_strerror(zmq_errno()));
    if (r != REVERIE_OK) {
        zmq_close(sub);
        return r;
    }
    c->sub = sub;
    memcpy(c->sub_endpoint, want, RV_ENDPOINT_CAP);
    return REVERIE_OK;
}

static double latency(const msgpack_object* map, const char* key) {
    double v;
    return rv_get_f64(map, key, &v) && isfinite(v) ? v : -1.0; /* nil: no frames in that second */
}

/* Fill *out from one event map; false for unknown types (skipped, protocol 7). */
static bool parse_event(const msgpack_object* m, reverie_event* out) {
    char type[32];
    if (!rv_get_str(m, "type", type, sizeof type)) return false;
    memset(out, 0, sizeof *out);
    out->latency_p50_ms = out->latency_p95_ms = out->process_p50_ms = -1;
    int64_t i;
    double d;
    if (strcmp(type, "stats") == 0) {
        out->type = REVERIE_EVENT_STATS;
        if (rv_get_i64(m, "frames", &i)) out->frames = (uint64_t)i;
        if (rv_get_i64(m, "dropped", &i)) out->dropped = (uint64_t)i;
        if (rv_get_i64(m, "failed", &i)) out->failed = (uint64_t)i;
        if (rv_get_f64(m, "fps", &d)) out->fps = d;
        out->latency_p50_ms = latency(m, "latency_p50_ms");
        out->latency_p95_ms = latency(m, "latency_p95_ms");
        out->process_p50_ms = latency(m, "process_p50_ms");
    } else if (strcmp(type, "prompt_changed") == 0) {
        out->type = REVERIE_EVENT_PROMPT_CHANGED;
        rv_get_str(m, "text", out->text, sizeof out->text);
        if (rv_get_i64(m, "transition_frames", &i)) out->transition_frames = (int32_t)i;
    } else if (strcmp(type, "params_changed") == 0) {
        out->type = REVERIE_EVENT_PARAMS_CHANGED;
        if (rv_get_i64(m, "steps", &i)) out->steps = (int32_t)i;
        if (rv_get_f64(m, "strength", &d)) out->strength = d;
        if (rv_get_i64(m, "seed", &i)) out->seed = i;
    } else if (strcmp(type, "session_opened") == 0 || strcmp(type, "session_closed") == 0) {
        out->type = type[8] == 'o' ? REVERIE_EVENT_SESSION_OPENED : REVERIE_EVENT_SESSION_CLOSED;
        rv_get_str(m, "client", out->client, sizeof out->client);
        if (rv_get_i64(m, "pid", &i)) out->pid = (int32_t)i;
        rv_get_str(m, "reason", out->text, sizeof out->text);
    } else if (strcmp(type, "error") == 0) {
        out->type = REVERIE_EVENT_ERROR;
        rv_get_str(m, "message", out->text, sizeof out->text);
    } else {
        return false;
    }
    return true;
}

static reverie_result poll_locked(reverie_client* c, reverie_event* out) {
    if (pop_local(c, out)) return REVERIE_OK;
    reverie_result r = follow(c);
    if (r != REVERIE_OK) return r == REVERIE_UNAVAILABLE ? rv_fail(REVERIE_NONE_YET, "no event (no events endpoint known yet)") : r;
    for (;;) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, c->sub, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            return rv_fail(REVERIE_NONE_YET, "no event waiting");
        }
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        size_t off = 0;
        bool ok = !zmq_msg_more(&msg) && zmq_msg_size(&msg) <= RV_MAX_SOCKET_BYTES &&
                  msgpack_unpack_next(&up, zmq_msg_data(&msg), zmq_msg_size(&msg), &off) == MSGPACK_UNPACK_SUCCESS &&
                  parse_event(&up.data, out);
        msgpack_unpacked_destroy(&up);
        zmq_msg_close(&msg);
        if (ok) return REVERIE_OK; /* else: one bad or unknown event must not end the stream */
    }
}

reverie_result reverie_poll_event(reverie_client* c, reverie_event* out) {
    if (c == NULL || out == NULL) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_poll_event: client and out must not be NULL");
    pthread_mutex_lock(&c->event_lock);
    reverie_result r = poll_locked(c, out);
    pthread_mutex_unlock(&c->event_lock);
    return r;
}

void rv_events_close(reverie_client* c) { close_sub(c); }

/* Connect the subscription early, so events published from now on are not missed. */
void rv_events_start(reverie_client* c) {
    pthread_mutex_lock(&c->event_lock);
    follow(c);
    pthread_mutex_unlock(&c->event_lock);
}
