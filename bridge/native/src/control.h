/* One control REQ socket: request/reply with a timeout, rebuilt after every timeout
 * (the "lazy pirate" pattern, protocol 4.6), so a dead daemon never wedges a caller. */
#ifndef RV_CONTROL_H
#define RV_CONTROL_H

#include <stdbool.h>

#include "curve.h"
#include "msg.h"
#include "reverie.h"

typedef struct rv_reply {
    char* data;                  /* the reply bytes; the objects point into them */
    msgpack_unpacked unpacked;
    const msgpack_object* map;   /* the reply map (ok replies) */
    char error_code[32];         /* the daemon's code when it refused ("invalid", "session", ...) */
} rv_reply;

typedef struct rv_control {
    void* ctx;
    const char* endpoint;
    const rv_curve* curve;
    int timeout_ms;
    void* req;                   /* NULL until first use and after a timeout */
    bool pending;                /* an asynchronous request (hello) awaits its reply */
    uint64_t sent_at_ns;
} rv_control;

void rv_control_init(rv_control* c, void* ctx, const char* endpoint, const rv_curve* curve, int timeout_ms);
void rv_control_close(rv_control* c);

/* Send and wait up to timeout_ms (0: the default) for the reply. OK replies leave the map
 * in reply->map; a refusal gives REVERIE_REJECTED (REVERIE_BUSY for "busy") with
 * "code: message" as the last error. Always rv_reply_free the reply. */
reverie_result rv_control_request(rv_control* c, rv_request* req, rv_reply* reply, int timeout_ms);

/* Asynchronous use (a hello that must not block the render thread): send now, collect
 * later. rv_control_collect gives REVERIE_NONE_YET while the reply has not come. */
reverie_result rv_control_send(rv_control* c, rv_request* req);
reverie_result rv_control_collect(rv_control* c, int wait_ms, rv_reply* reply);

/* Drop the socket (after a timeout, or to abandon a pending request). */
void rv_control_reset(rv_control* c);

void rv_reply_free(rv_reply* reply);

/* The "daemon is not answering" error, worded as the Python client does. */
reverie_result rv_control_unavailable(const rv_control* c);

/* CLOCK_MONOTONIC in nanoseconds (the protocol's clock). */
uint64_t rv_now_ns(void);

#endif
