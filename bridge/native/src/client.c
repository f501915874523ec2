/* Creating and destroying a client: settle the configuration, make the ZeroMQ context
 * and the per-group locks, and (unless lazy) say hello at once. */
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "client_internal.h"
#include "error.h"

void reverie_config_init(reverie_config* config) {
    if (config != NULL) memset(config, 0, sizeof *config);
}

static reverie_result copy_string(char* out, size_t cap, const char* value, const char* what) {
    size_t len = strlen(value);
    if (len >= cap) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_connect: %s is longer than %zu bytes", what, cap - 1);
    memcpy(out, value, len + 1);
    return REVERIE_OK;
}

static reverie_result configure(reverie_client* c, const reverie_config* cfg) {
    reverie_result r = REVERIE_OK;
    if (cfg->control != NULL && cfg->control[0] != '\0')
        r = copy_string(c->control, sizeof c->control, cfg->control, "control");
    else
        r = rv_default_endpoint(c->control, sizeof c->control, "REVERIE_CONTROL", "control");
    if (r == REVERIE_OK && cfg->events != NULL) r = copy_string(c->events_override, sizeof c->events_override, cfg->events, "events");
    if (r == REVERIE_OK && cfg->frames != NULL) r = copy_string(c->frames_override, sizeof c->frames_override, cfg->frames, "frames");
    if (r == REVERIE_OK) r = copy_string(c->name, sizeof c->name, cfg->client_name ? cfg->client_name : "native", "client_name");
    if (r != REVERIE_OK) return r;
    if (cfg->timeout_ms < 0 || cfg->liveness_timeout_ms < 0 || cfg->reconnect_interval_ms < 0)
        return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_connect: timeouts must not be negative");
    if (cfg->slots != 0 && (cfg->slots < RV_MIN_SLOTS || cfg->slots > RV_MAX_SLOTS))
        return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_connect: slots %u is outside %u..%u", cfg->slots, RV_MIN_SLOTS, RV_MAX_SLOTS);
    if (cfg->flags & ~(uint32_t)(REVERIE_CONNECT_LAZY | REVERIE_CONNECT_TAKEOVER))
        return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_connect: unknown flags 0x%x", cfg->flags);
    c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : RV_DEFAULT_TIMEOUT_MS;
    c->liveness_ms = cfg->liveness_timeout_ms ? cfg->liveness_timeout_ms : RV_DEFAULT_LIVENESS_MS;
    c->reconnect_ms = cfg->reconnect_interval_ms ? cfg->reconnect_interval_ms : RV_DEFAULT_RECONNECT_MS;
    c->slots = cfg->slots ? cfg->slots : RV_DEFAULT_SLOTS;
    c->flags = cfg->flags;
    if (cfg->curve_keys_dir != NULL && cfg->curve_keys_dir[0] != '\0') return rv_curve_load(&c->curve, cfg->curve_keys_dir);
    return REVERIE_OK;
}

static void destroy(reverie_client* c) {
    rv_events_close(c);
    rv_control_close(&c->steer);
    rv_frames_close(c);
    if (c->zmq != NULL) zmq_ctx_term(c->zmq); /* every socket is closed with linger 0 */
    pthread_mutex_destroy(&c->frame_lock);
    pthread_mutex_destroy(&c->steer_lock);
    pthread_mutex_destroy(&c->event_lock);
    pthread_mutex_destroy(&c->shared_lock);
    free(c);
}

reverie_result reverie_connect(const reverie_config* config, reverie_client** out) {
    if (out == NULL) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_connect: out is NULL");
    *out = NULL;
    reverie_config defaults;
    reverie_config_init(&defaults);
    reverie_client* c = calloc(1, sizeof *c);
    if (c == NULL) return rv_fail(REVERIE_OUT_OF_MEMORY, "reverie_connect: out of memory");
    pthread_mutex_init(&c->frame_lock, NULL);
    pthread_mutex_init(&c->steer_lock, NULL);
    pthread_mutex_init(&c->event_lock, NULL);
    pthread_mutex_init(&c->shared_lock, NULL);
    reverie_result r = configure(c, config ? config : &defaults);
    if (r == REVERIE_OK && (c->zmq = zmq_ctx_new()) == NULL) r = rv_fail(REVERIE_SYSTEM, "zmq_ctx_new failed");
    rv_frames_init(c); /* safe to close even when configuration failed */
    rv_control_init(&c->steer, c->zmq, c->control, &c->curve, c->timeout_ms);
    if (r == REVERIE_OK && !(c->flags & REVERIE_CONNECT_LAZY)) {
        pthread_mutex_lock(&c->frame_lock);
        r = rv_frames_hello_now(c);
        pthread_mutex_unlock(&c->frame_lock);
    }
    if (r != REVERIE_OK) {
        char why[RV_ERROR_CAP];
        memcpy(why, rv_error_text(), sizeof why); /* closing may overwrite the message */
        destroy(c);
        return rv_fail(r, "%s", why);
    }
    rv_events_start(c);
    *out = c;
    return REVERIE_OK;
}

void reverie_close(reverie_client* c) {
    if (c != NULL) destroy(c);
}
