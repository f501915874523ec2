/* Control requests over a REQ socket (docs/protocol.md 5.1). A REQ socket cannot send
 * again before it has its reply, so a request that timed out throws the socket away
 * and the next request makes a new one. */
#include "control.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "error.h"
#include "protocol.h"

uint64_t rv_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void rv_control_init(rv_control* c, void* ctx, const char* endpoint, const rv_curve* curve, int timeout_ms) {
    memset(c, 0, sizeof *c);
    c->ctx = ctx;
    c->endpoint = endpoint;
    c->curve = curve;
    c->timeout_ms = timeout_ms;
}

void rv_control_reset(rv_control* c) {
    if (c->req != NULL) {
        int linger = 0;
        zmq_setsockopt(c->req, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(c->req);
        c->req = NULL;
    }
    c->pending = false;
}

void rv_control_close(rv_control* c) { rv_control_reset(c); }

reverie_result rv_control_unavailable(const rv_control* c) {
    return rv_fail(REVERIE_UNAVAILABLE, "no reply from the Reverie daemon at %s (is `reverie serve` running?)", c->endpoint);
}

static reverie_result open_socket(rv_control* c) {
    if (c->req != NULL) return REVERIE_OK;
    c->req = zmq_socket(c->ctx, ZMQ_REQ);
    if (c->req == NULL) return rv_fail(REVERIE_SYSTEM, "zmq_socket(REQ): %s", zmq_strerror(zmq_errno()));
    int linger = 0;
    zmq_setsockopt(c->req, ZMQ_LINGER, &linger, sizeof linger);
    reverie_result r = rv_curve_apply(c->req, c->curve);
    if (r == REVERIE_OK && zmq_connect(c->req, c->endpoint) != 0)
        r = rv_fail(REVERIE_INVALID_ARGUMENT, "cannot connect to control endpoint %s: %s", c->endpoint, zmq_strerror(zmq_errno()));
    if (r != REVERIE_OK) rv_control_reset(c);
    return r;
}

reverie_result rv_control_send(rv_control* c, rv_request* req) {
    if (c->pending) rv_control_reset(c); /* one request at a time: abandon the old one */
    reverie_result r = open_socket(c);
    if (r != REVERIE_OK) return r;
    if (zmq_send(c->req, req->buf.data, req->buf.size, ZMQ_DONTWAIT) < 0) {
        rv_control_reset(c);
        return rv_control_unavailable(c);
    }
    c->pending = true;
    c->sent_at_ns = rv_now_ns();
    return REVERIE_OK;
}

/* Decode one reply message into *reply; OK, REJECTED/BUSY for refusals, PROTOCOL if garbled. */
static reverie_result decode(zmq_msg_t* msg, bool more, rv_reply* reply) {
    size_t size = zmq_msg_size(msg);
    if (more) return rv_fail(REVERIE_PROTOCOL, "garbled reply: malformed: a message is one frame");
    if (size > RV_MAX_SOCKET_BYTES)
        return rv_fail(REVERIE_PROTOCOL, "garbled reply: too_large: message of %zu bytes exceeds the limit", size);
    reply->data = malloc(size ? size : 1);
    if (reply->data == NULL) return rv_fail(REVERIE_OUT_OF_MEMORY, "out of memory for a %zu-byte reply", size);
    memcpy(reply->data, zmq_msg_data(msg), size);
    size_t offset = 0;
    if (msgpack_unpack_next(&reply->unpacked, reply->data, size, &offset) != MSGPACK_UNPACK_SUCCESS || offset != size)
        return rv_fail(REVERIE_PROTOCOL, "garbled reply: malformed: undecodable msgpack");
    const msgpack_object* root = &reply->unpacked.data;
    bool ok = false;
    if (root->type == MSGPACK_OBJECT_MAP && rv_get_bool(root, "ok", &ok) && ok) {
        reply->map = root;
        return REVERIE_OK;
    }
    const msgpack_object* err = rv_get(root, "error");
    char message[768] = "?";
    strcpy(reply->error_code, "?");
    rv_get_str(err, "code", reply->error_code, sizeof reply->error_code);
    rv_get_str(err, "message", message, sizeof message);
    reverie_result code = strcmp(reply->error_code, RV_ERR_BUSY) == 0 ? REVERIE_BUSY : REVERIE_REJECTED;
    return rv_fail(code, "%s: %s", reply->error_code, message);
}

reverie_result rv_control_collect(rv_control* c, int wait_ms, rv_reply* reply) {
    memset(reply, 0, sizeof *reply);
    msgpack_unpacked_init(&reply->unpacked);
    if (!c->pending || c->req == NULL) return rv_fail(REVERIE_INVALID_ARGUMENT, "no control request is waiting for a reply");
    zmq_pollitem_t item = {c->req, 0, ZMQ_POLLIN, 0};
    int n = zmq_poll(&item, 1, wait_ms);
    if (n < 0) {
        rv_control_reset(c);
        return rv_fail(REVERIE_SYSTEM, "zmq_poll: %s", zmq_strerror(zmq_errno()));
    }
    if (n == 0) return rv_fail(REVERIE_NONE_YET, "the daemon has not answered yet");
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, c->req, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        rv_control_reset(c);
        return rv_control_unavailable(c);
    }
    int more = zmq_msg_more(&msg);
    c->pending = false;
    reverie_result r = decode(&msg, more, reply);
    zmq_msg_close(&msg);
    if (more) rv_control_reset(c); /* leftover parts would confuse the next request */
    return r;
}

reverie_result rv_control_request(rv_control* c, rv_request* req, rv_reply* reply, int timeout_ms) {
    memset(reply, 0, sizeof *reply);
    msgpack_unpacked_init(&reply->unpacked);
    reverie_result r = rv_control_send(c, req);
    if (r != REVERIE_OK) return r;
    r = rv_control_collect(c, timeout_ms > 0 ? timeout_ms : c->timeout_ms, reply);
    if (r == REVERIE_NONE_YET) {
        rv_control_reset(c);
        return rv_control_unavailable(c);
    }
    return r;
}

void rv_reply_free(rv_reply* reply) {
    msgpack_unpacked_destroy(&reply->unpacked);
    free(reply->data);
    memset(reply, 0, sizeof *reply);
}
