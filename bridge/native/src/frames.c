/* The FRAME group: the game session (hello, open_ring, bye), liveness both ways through
 * the ring's header (the daemon's heartbeat_ns read, the game's game_beat_ns written), and
 * the slot hand-over of docs/protocol.md section 3, as bridge/client.py does it. Nothing
 * here waits for the model; only hello/open_ring wait for the daemon.
 * A CUDA ring (protocol 1.2) differs only in where the planes are: f->cuda holds them,
 * cuda_ring.c orders the GPU work, transport.c decides when the planes may be freed. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "client_internal.h"
#include "error.h"
#include "msg.h"

#define MS (1000000ull)

void rv_frames_init(reverie_client* c) {
    rv_frames* f = &c->fr;
    memset(f, 0, sizeof *f);
    rv_control_init(&f->ctl, c->zmq, c->control, &c->curve, c->timeout_ms);
    f->newest_slot = -1;
    f->begun_slot = -1;
    f->session_timeout_s = RV_DEFAULT_SESSION_TIMEOUT_S;
}

static void publish_view(reverie_client* c) {
    rv_frames* f = &c->fr;
    pthread_mutex_lock(&c->shared_lock);
    c->shared.connected = f->has_session;
    c->shared.ring_width = f->ring.base ? f->ring.layout.width : 0;
    c->shared.ring_height = f->ring.base ? f->ring.layout.height : 0;
    c->shared.ring_slots = f->ring.base ? f->ring.layout.slot_count : 0;
    pthread_mutex_unlock(&c->shared_lock);
}

static void forget_slots(rv_frames* f) {
    memset(f->owned, 0, sizeof f->owned);
    memset(f->in_flight, 0, sizeof f->in_flight);
    memset(f->slot_seq, 0, sizeof f->slot_seq);
    for (uint32_t s = 0; f->ring.base && s < f->ring.layout.slot_count; s++) f->owned[s] = true;
    f->newest_slot = -1;
    if (f->begun_slot >= 0) f->begun_lost = true; /* its planes are gone with the ring */
    f->begun_slot = -1;
}

/* Let go of the device planes of the current ring: freed when the daemon has closed them
 * (daemon_closed), else retired until it has or is dead (transport.c). */
static void release_device_ring(rv_frames* f, bool daemon_closed) {
    if (daemon_closed)
        rv_cuda_ring_free(&f->cuda);
    else
        rv_transport_retire(&f->device_rings, &f->cuda);
}

/* Forget the daemon's session and ring (daemon gone, restarted, or we said bye).
 * daemon_closed: the daemon is known to have closed this session's device rings. */
static void drop_session(reverie_client* c, bool daemon_closed) {
    rv_frames* f = &c->fr;
    rv_ring_detach(&f->ring);
    release_device_ring(f, daemon_closed);
    if (daemon_closed && f->has_session) rv_transport_release_session(&f->device_rings, f->session, f->daemon_pid);
    if (f->dealer != NULL) {
        zmq_close(f->dealer);
        f->dealer = NULL;
    }
    if (f->has_session) memcpy(f->previous_session, f->session, sizeof f->session);
    f->has_session = false;
    f->session[0] = '\0';
    forget_slots(f);
    publish_view(c);
}

static void record(rv_frames* f, uint64_t frame_id, int outcome, const char* error) {
    rv_frame_result* r = &f->results[frame_id % RV_RESULTS];
    r->frame_id = frame_id;
    r->outcome = outcome;
    rv_copy_text(r->error, sizeof r->error, error ? error : "", error ? strlen(error) : 0);
}

/* ------------------------------------------------------------------ hello */

static void build_hello(reverie_client* c, rv_request* req) {
    rv_frames* f = &c->fr;
    bool replaces = f->previous_session[0] != '\0';
    rv_request_begin(req, "hello", 3 + (replaces ? 1 : 0));
    rv_put_str(req, "client", c->name);
    rv_put_int(req, "pid", (int64_t)getpid());
    rv_put_bool(req, "takeover", (c->flags & REVERIE_CONNECT_TAKEOVER) != 0);
    if (replaces) rv_put_str(req, "replaces", f->previous_session); /* the daemon may still hold it */
}

/* A hello reply: take the session, connect the frames DEALER with the token as its id. */
static reverie_result take_session(reverie_client* c, const rv_reply* reply) {
    rv_frames* f = &c->fr;
    char session[72], frames[RV_ENDPOINT_CAP], events[RV_ENDPOINT_CAP];
    const msgpack_object* version = rv_get(reply->map, "version");
    int64_t major = -1;
    if (!rv_get_str(reply->map, "session", session, sizeof session) || session[0] == '\0' ||
        !rv_get_str(reply->map, "frames", frames, sizeof frames) || !rv_get_str(reply->map, "events", events, sizeof events))
        return rv_fail(REVERIE_PROTOCOL, "garbled hello reply: session, frames or events missing");
    if (version != NULL && version->type == MSGPACK_OBJECT_ARRAY && version->via.array.size >= 1)
        rv_obj_i64(&version->via.array.ptr[0], &major);
    if (major != RV_PROTOCOL_MAJOR)
        return rv_fail(REVERIE_PROTOCOL, "the daemon speaks protocol major %lld, this library %d", (long long)major, RV_PROTOCOL_MAJOR);
    char dial[RV_ENDPOINT_CAP];
    rv_connectable(dial, sizeof dial, c->frames_override[0] ? c->frames_override : frames, c->control);
    void* dealer = zmq_socket(c->zmq, ZMQ_DEALER);
    if (dealer == NULL) return rv_fail(REVERIE_SYSTEM, "zmq_socket(DEALER): %s", zmq_strerror(zmq_errno()));
    int linger = 0, hwm = 64;
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(dealer, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(dealer, ZMQ_ROUTING_ID, session, strlen(session)); /* before connect */
    if (zmq_connect(dealer, dial) != 0) {
        reverie_result r = rv_fail(REVERIE_PROTOCOL, "cannot connect to the frames endpoint %s: %s", dial, zmq_strerror(zmq_errno()));
        zmq_close(dealer);
        return r;
    }
    f->dealer = dealer;
    uint64_t daemon_pid = 0;
    f->daemon_pid = rv_get_u64(reply->map, "daemon_pid", &daemon_pid) && daemon_pid <= UINT32_MAX ? (uint32_t)daemon_pid : 0;
    double timeout_s = 0;
    f->session_timeout_s = rv_get_f64(reply->map, "session_timeout_s", &timeout_s) && timeout_s > 0 ? timeout_s
                                                                                                     : RV_DEFAULT_SESSION_TIMEOUT_S;
    memcpy(f->session, session, sizeof session);
    f->has_session = true;
    /* This daemon ended the session we named in "replaces" and closed its rings before
     * answering (protocol 11.5): rings of it we retired may go now. */
    if (f->previous_session[0] != '\0') rv_transport_release_session(&f->device_rings, f->previous_session, f->daemon_pid);
    rv_events_learn_endpoint(c, events);
    publish_view(c);
    rv_events_push_local(c, REVERIE_EVENT_CONNECTED, 0, session);
    return REVERIE_OK;
}

reverie_result rv_frames_hello_now(reverie_client* c) {
    rv_request req;
    rv_reply reply;
    build_hello(c, &req);
    reverie_result r = rv_control_request(&c->fr.ctl, &req, &reply, 0);
    rv_request_free(&req);
    if (r == REVERIE_OK) r = take_session(c, &reply);
    rv_reply_free(&reply);
    c->fr.attempted = true;
    c->fr.last_attempt_ns = rv_now_ns();
    return r;
}

/* Reconnect without blocking the render thread: send hello at most once per
 * reconnect interval and pick its reply up on a later call (protocol 4.6). */
static reverie_result hello_async(reverie_client* c) {
    rv_frames* f = &c->fr;
    uint64_t now = rv_now_ns();
    if (!f->ctl.pending) {
        if (f->attempted && now - f->last_attempt_ns < (uint64_t)c->reconnect_ms * MS)
            return rv_fail(REVERIE_UNAVAILABLE, "the Reverie daemon at %s is unavailable; retrying", c->control);
        f->attempted = true;
        f->last_attempt_ns = now;
        rv_request req;
        build_hello(c, &req);
        reverie_result r = rv_control_send(&f->ctl, &req);
        rv_request_free(&req);
        if (r != REVERIE_OK) return r;
    }
    rv_reply reply;
    reverie_result r = rv_control_collect(&f->ctl, 0, &reply);
    if (r == REVERIE_NONE_YET) {
        if (rv_now_ns() - f->ctl.sent_at_ns > (uint64_t)c->timeout_ms * MS) rv_control_reset(&f->ctl); /* give up on it */
        r = rv_control_unavailable(&f->ctl);
    } else if (r == REVERIE_OK) {
        r = take_session(c, &reply);
    }
    rv_reply_free(&reply);
    return r;
}

/* ------------------------------------------------------------------ ring */

/* The game's heartbeat: game_beat_ns = now in the ring's header (when there is a ring). */
static void game_beat(rv_frames* f, uint64_t now) {
    if (f->ring.base == NULL) return;
    rv_ring_game_beat(&f->ring, now);
    f->game_beat_ns = now;
}

static reverie_result open_ring(reverie_client* c) {
    rv_frames* f = &c->fr;
    bool cuda = f->want_transport == REVERIE_TRANSPORT_CUDA;
    rv_cuda_ring fresh;
    memset(&fresh, 0, sizeof fresh);
    rv_cuda_offer offer;
    reverie_result r;
    if (cuda) { /* the game allocates a CUDA ring and offers its handles */
        rv_layout L;
        rv_layout_compute(&L, f->want_width, f->want_height, c->slots, f->want_motion);
        if ((r = rv_transport_prepare(&fresh, &offer, f->want_device, L.total_bytes, c->slots)) != REVERIE_OK) return r;
        fresh.daemon_pid = f->daemon_pid;
        memcpy(fresh.session, f->session, sizeof fresh.session);
    }
    rv_request req;
    rv_reply reply;
    rv_request_begin(&req, "open_ring", 5 + (cuda ? RV_CUDA_OPEN_RING_FIELDS : 0));
    rv_put_str(&req, "session", f->session);
    rv_put_uint(&req, "width", f->want_width);
    rv_put_uint(&req, "height", f->want_height);
    rv_put_str(&req, "motion", f->want_motion == RV_MOTION_F16 ? "f16" : "f32");
    rv_put_uint(&req, "slots", c->slots);
    if (cuda) rv_transport_put(&req, &fresh, &offer); /* a host ring sends what protocol 1.1 did */
    r = rv_control_request(&f->ctl, &req, &reply, 0);
    rv_request_free(&req);
    uint64_t generation = 0;
    bool refused = r != REVERIE_OK && reply.error_code[0] != '\0'; /* the daemon answered no */
    const msgpack_object* segment = r == REVERIE_OK ? rv_get(reply.map, "segment") : NULL;
    if (r == REVERIE_OK && (segment == NULL || segment->type != MSGPACK_OBJECT_STR || !rv_get_u64(reply.map, "generation", &generation)))
        r = rv_fail(REVERIE_PROTOCOL, "garbled open_ring reply: segment or generation missing");
    bool session_gone = r == REVERIE_REJECTED && strcmp(reply.error_code, RV_ERR_SESSION) == 0;
    rv_ring ring;
    memset(&ring, 0, sizeof ring);
    /* The path's exact bytes: ring.c refuses anything but /proc/<pid>/fd/<n>. */
    if (r == REVERIE_OK) r = rv_ring_attach(&ring, segment->via.str.ptr, segment->via.str.size, cuda);
    if (r == REVERIE_OK && cuda && (r = rv_transport_accept(&fresh, reply.map)) != REVERIE_OK) rv_ring_detach(&ring);
    rv_reply_free(&reply);
    if (r != REVERIE_OK) {
        /* A refused open_ring left the daemon holding nothing of the new ring; any other
         * failure may have come after the daemon opened it. */
        if (refused)
            rv_cuda_ring_free(&fresh);
        else
            rv_transport_retire(&f->device_rings, &fresh);
        /* A refused size keeps the old ring; a lost daemon or session means hello again. */
        if (session_gone || r == REVERIE_UNAVAILABLE || r == REVERIE_PROTOCOL || r == REVERIE_SYSTEM) {
            drop_session(c, session_gone); /* an ended session: the daemon closed its rings */
            if (session_gone) f->attempted = false; /* the daemon answered: say hello at once */
        }
        return r;
    }
    /* The daemon closed the old ring (device planes included) before this reply. */
    rv_ring_detach(&f->ring);
    rv_cuda_ring_free(&f->cuda);
    f->cuda = fresh;
    f->ring = ring;
    f->generation = generation;
    forget_slots(f);
    f->last_beat = rv_ring_heartbeat(&f->ring);
    f->last_beat_change_ns = rv_now_ns();
    game_beat(f, f->last_beat_change_ns);
    publish_view(c);
    return REVERIE_OK;
}

/* Section 4.6, both ways. The game's beat: game_beat_ns = now, so the daemon sees this
 * game is alive (it closes a session silent for session_timeout_s, section 4.7). The
 * daemon's: a heartbeat_ns unchanged for longer than the liveness limit means the daemon
 * died or stopped; drop the session so the next frame reconnects. */
static reverie_result check_daemon(reverie_client* c) {
    rv_frames* f = &c->fr;
    if (f->ring.base == NULL) return REVERIE_OK;
    uint64_t beat = rv_ring_heartbeat(&f->ring), now = rv_now_ns(), liveness = (uint64_t)c->liveness_ms * MS;
    double game_silent_s = (double)(now - f->game_beat_ns) / 1e9; /* since this game's last beat */
    game_beat(f, now);
    /* After a silence past the session timeout the daemon has closed the session and
     * stopped beating its ring, maybe only just: that the heartbeat changed since the last
     * look proves nothing then, its age does (heartbeat_ns is CLOCK_MONOTONIC too). */
    bool closed = game_silent_s > f->session_timeout_s && now > beat && now - beat > liveness;
    if (beat != f->last_beat && !closed) {
        f->last_beat = beat;
        f->last_beat_change_ns = now;
        return REVERIE_OK;
    }
    uint64_t silent = now - f->last_beat_change_ns;
    if (!closed && silent <= liveness) return REVERIE_OK;
    uint32_t pid = rv_ring_header(&f->ring)->daemon_pid;
    char why[224];
    if (!rv_pid_alive(pid))
        snprintf(why, sizeof why, "the Reverie daemon (pid %u) exited; will reconnect", pid);
    else if (game_silent_s > f->session_timeout_s) /* it closed the session, and its ring with it */
        snprintf(why, sizeof why,
                 "no frame call for %.1f s, past the daemon's session timeout (%.1f s): the session was closed; will reconnect",
                 game_silent_s, f->session_timeout_s);
    else
        snprintf(why, sizeof why, "the Reverie daemon (pid %u) silent for %.1f s; will reconnect", pid, silent / 1e9);
    drop_session(c, false); /* a silent daemon may still map our device ring */
    f->last_attempt_ns = now;
    f->attempted = true;
    rv_events_push_local(c, REVERIE_EVENT_DISCONNECTED, 0, why);
    return rv_fail(REVERIE_UNAVAILABLE, "%s", why);
}

static bool ring_matches(const rv_frames* f) {
    bool cuda = f->want_transport == REVERIE_TRANSPORT_CUDA;
    return f->ring.base != NULL && f->ring.layout.width == f->want_width && f->ring.layout.height == f->want_height &&
           f->ring.layout.motion_format == f->want_motion && f->ring.device_planes == cuda &&
           (!cuda || f->cuda.device == f->want_device);
}

/* A session and a ring of the wanted format, (re)connecting when needed. */
static reverie_result ensure_ring(reverie_client* c) {
    rv_frames* f = &c->fr;
    reverie_result r;
    rv_transport_sweep(&f->device_rings, rv_now_ns(), false);
    if (f->has_session && f->ring.base != NULL && (r = check_daemon(c)) != REVERIE_OK) return r;
    if (!f->has_session && (r = hello_async(c)) != REVERIE_OK) return r;
    if (!ring_matches(f)) return open_ring(c);
    return REVERIE_OK;
}

/* ------------------------------------------------------------------ notices */

/* Apply the daemon's done/dropped/failed notices waiting on the DEALER. */
static void drain(reverie_client* c, int wait_ms) {
    rv_frames* f = &c->fr;
    while (f->dealer != NULL) {
        zmq_pollitem_t item = {f->dealer, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, wait_ms) <= 0) return;
        wait_ms = 0;
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, f->dealer, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            return;
        }
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        size_t off = 0;
        uint64_t gen, slot, seq;
        char ev[16], error[256] = "";
        bool ok = !zmq_msg_more(&msg) &&
                  msgpack_unpack_next(&up, zmq_msg_data(&msg), zmq_msg_size(&msg), &off) == MSGPACK_UNPACK_SUCCESS &&
                  rv_get_u64(&up.data, "gen", &gen) && rv_get_u64(&up.data, "slot", &slot) &&
                  rv_get_u64(&up.data, "seq", &seq) && rv_get_str(&up.data, "ev", ev, sizeof ev);
        if (ok) rv_get_str(&up.data, "error", error, sizeof error);
        msgpack_unpacked_destroy(&up);
        zmq_msg_close(&msg);
        /* A ring since replaced, or a stale or repeated notice: not ours to act on. */
        if (!ok || gen != f->generation || slot >= RV_MAX_SLOTS || !f->in_flight[slot] || f->flight_seq[slot] != seq) continue;
        uint64_t frame_id = f->flight_frame_id[slot];
        f->in_flight[slot] = false;
        f->owned[slot] = true;
        if (strcmp(ev, "done") == 0) {
            record(f, frame_id, RV_OUTCOME_DONE, NULL);
            if (f->newest_slot < 0 || seq > f->newest_seq) {
                f->newest_slot = (int)slot;
                f->newest_seq = seq;
                f->newest_frame_id = frame_id;
            }
        } else if (strcmp(ev, "failed") == 0) {
            record(f, frame_id, RV_OUTCOME_FAILED, error);
            rv_events_push_local(c, REVERIE_EVENT_FRAME_FAILED, frame_id, error);
        } else {
            record(f, frame_id, RV_OUTCOME_DROPPED, "replaced by a newer frame before the daemon took it");
        }
    }
}

/* A slot the game owns, never the one holding the newest output; oldest first. */
static int free_slot(const rv_frames* f) {
    int best = -1;
    for (uint32_t s = 0; s < f->ring.layout.slot_count; s++) {
        if (!f->owned[s] || (int)s == f->newest_slot) continue;
        if (best < 0 || f->slot_seq[s] < f->slot_seq[best]) best = (int)s;
    }
    return best;
}

/* ------------------------------------------------------------------ public: format, begin, submit */

static reverie_result check_format(const char* fn, uint32_t width, uint32_t height, uint32_t motion) {
    if (width < RV_MIN_SIDE || width > RV_MAX_SIDE || height < RV_MIN_SIDE || height > RV_MAX_SIDE)
        return rv_fail(REVERIE_INVALID_ARGUMENT, "%s: frame size %ux%u is outside 8..%u per side", fn, width, height, RV_MAX_SIDE);
    if (motion != RV_MOTION_F32 && motion != RV_MOTION_F16)
        return rv_fail(REVERIE_INVALID_ARGUMENT, "%s: motion_format %u is neither REVERIE_MOTION_F32 (0) nor REVERIE_MOTION_F16 (1)", fn, motion);
    return REVERIE_OK;
}

static reverie_result set_format_locked(reverie_client* c, uint32_t width, uint32_t height, uint32_t motion) {
    rv_frames* f = &c->fr;
    if (f->begun_slot >= 0)
        return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_set_frame_format: a frame is begun; submit or cancel it first");
    f->want_width = width;
    f->want_height = height;
    f->want_motion = motion;
    f->have_format = true;
    if (!f->has_session || f->ring.base == NULL || ring_matches(f)) return REVERIE_OK;
    reverie_result r = check_daemon(c); /* re-negotiate now: the session is there */
    return r == REVERIE_OK && f->has_session ? open_ring(c) : r;
}

reverie_result reverie_set_frame_format(reverie_client* c, uint32_t width, uint32_t height, uint32_t motion_format) {
    if (c == NULL) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_set_frame_format: client is NULL");
    reverie_result r = check_format("reverie_set_frame_format", width, height, motion_format);
    if (r != REVERIE_OK) return r;
    pthread_mutex_lock(&c->frame_lock);
    r = set_format_locked(c, width, height, motion_format);
    pthread_mutex_unlock(&c->frame_lock);
    return r;
}

reverie_result reverie_set_transport(reverie_client* c, uint32_t transport, int32_t cuda_device, void* cuda_stream) {
    if (c == NULL) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_set_transport: client is NULL");
    if (transport != REVERIE_TRANSPORT_SHM && transport != REVERIE_TRANSPORT_CUDA)
        return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_set_transport: transport %u is neither REVERIE_TRANSPORT_SHM (0) nor REVERIE_TRANSPORT_CUDA (1)", transport);
    if (transport == REVERIE_TRANSPORT_CUDA) {
        /* Refuse now, in words, rather than at the next frame: no CUDA in this build or on
         * this machine, or a device that cannot share memory with the daemon. */
        reverie_result r = rv_cuda_device_check(cuda_device, NULL, 0);
        if (r != REVERIE_OK) {
            char why[RV_ERROR_CAP];
            snprintf(why, sizeof why, "%s", rv_error_text()); /* rv_fail writes over it */
            return rv_fail(r, "reverie_set_transport: %s", why);
        }
    } else {
        cuda_device = 0;
        cuda_stream = NULL;
    }
    pthread_mutex_lock(&c->frame_lock);
    rv_frames* f = &c->fr;
    reverie_result r = REVERIE_OK;
    if (f->begun_slot >= 0) {
        r = rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_set_transport: a frame is begun; submit or cancel it first");
    } else {
        f->want_transport = transport;
        f->want_device = cuda_device;
        f->stream = cuda_stream; /* a new stream alone keeps the ring */
        if (f->has_session && f->ring.base != NULL && f->have_format && !ring_matches(f)) {
            r = check_daemon(c); /* re-negotiate now, as set_frame_format does */
            if (r == REVERIE_OK && f->has_session) r = open_ring(c);
        }
    }
    pthread_mutex_unlock(&c->frame_lock);
    return r;
}

/* A plane of the current ring: in shared memory, or in the CUDA ring's allocation. */
static uint8_t* plane(const rv_frames* f, uint32_t slot, uint64_t plane_offset) {
    if (f->ring.device_planes) return f->cuda.base + rv_plane_offset(&f->ring.layout, slot, plane_offset);
    return rv_ring_plane(&f->ring, slot, plane_offset);
}

static reverie_result begin_locked(reverie_client* c, reverie_frame_planes* out) {
    rv_frames* f = &c->fr;
    if (f->begun_slot >= 0) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_begin_frame: a frame is already begun; submit or cancel it first");
    if (!f->have_format) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_begin_frame: no frame format; call reverie_set_frame_format first");
    f->begun_skipped = f->begun_lost = false;
    reverie_result r = ensure_ring(c);
    if (r != REVERIE_OK) return r;
    drain(c, 0);
    int slot = free_slot(f);
    if (slot < 0) {
        f->skipped++;
        f->begun_skipped = true;
        pthread_mutex_lock(&c->shared_lock);
        c->shared.frames_skipped++;
        pthread_mutex_unlock(&c->shared_lock);
        return rv_fail(REVERIE_SKIPPED, "every slot is with the daemon: this frame is skipped");
    }
    const rv_layout* L = &f->ring.layout;
    /* The engine's writes queued after this wait for the daemon's last use of the slot. */
    if (f->ring.device_planes && (r = rv_cuda_wait_daemon(&f->cuda, (uint32_t)slot, f->stream)) != REVERIE_OK) return r;
    f->begun_slot = slot;
    memset(out, 0, sizeof *out);
    out->width = L->width;
    out->height = L->height;
    out->motion_format = L->motion_format;
    out->memory = f->ring.device_planes ? REVERIE_MEMORY_CUDA : REVERIE_MEMORY_HOST;
    out->color = plane(f, (uint32_t)slot, L->color_offset);
    out->depth = plane(f, (uint32_t)slot, L->depth_offset);
    out->motion = plane(f, (uint32_t)slot, L->motion_offset);
    out->color_pitch = L->color_pitch;
    out->depth_pitch = L->depth_pitch;
    out->motion_pitch = L->motion_pitch;
    return REVERIE_OK;
}

reverie_result reverie_begin_frame(reverie_client* c, reverie_frame_planes* out) {
    if (c == NULL) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_begin_frame: client is NULL");
    if (out == NULL) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_begin_frame: out is NULL");
    pthread_mutex_lock(&c->frame_lock);
    reverie_result r = begin_locked(c, out);
    pthread_mutex_unlock(&c->frame_lock);
    return r;
}

static uint64_t next_frame_id(rv_frames* f, const reverie_frame_info* info) {
    uint64_t id = info->frame_id ? info->frame_id : f->last_frame_id + 1;
    f->last_frame_id = id;
    return id;
}

static reverie_result submit_locked(reverie_client* c, const reverie_frame_info* info, uint64_t* id_out) {
    rv_frames* f = &c->fr;
    if (f->begun_skipped) { /* the frame begin_frame skipped: remember its camera cut */
        f->begun_skipped = false;
        uint64_t id = next_frame_id(f, info);
        f->pending_reset |= (info->flags & REVERIE_FRAME_RESET) != 0;
        record(f, id, RV_OUTCOME_DROPPED, "skipped by the game: every slot was with the daemon");
        if (id_out) *id_out = id;
        return rv_fail(REVERIE_SKIPPED, "frame %llu skipped: every slot was with the daemon", (unsigned long long)id);
    }
    if (f->begun_lost) {
        f->begun_lost = false;
        return rv_fail(REVERIE_UNAVAILABLE, "the session ended while the frame was being written; it was not submitted");
    }
    if (f->begun_slot < 0) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_submit_frame: no frame begun; call reverie_begin_frame first");
    uint32_t slot = (uint32_t)f->begun_slot;
    if (f->ring.device_planes) { /* what the stream has written so far is the frame */
        reverie_result r = rv_cuda_record_inputs(&f->cuda, slot, f->stream);
        if (r != REVERIE_OK) {
            f->begun_slot = -1; /* not handed over: the slot stays ours */
            return r;
        }
    }
    uint64_t id = next_frame_id(f, info);
    rv_slot_header* h = rv_ring_slot(&f->ring, slot);
    f->seq++;
    h->flags = (info->flags & REVERIE_FRAME_RESET) || f->pending_reset ? RV_FLAG_RESET : 0;
    h->seq = f->seq;
    h->frame_id = id;
    h->jitter_x = info->jitter_x;
    h->jitter_y = info->jitter_y;
    h->near_m = info->near_m;
    h->far_m = info->far_m;
    h->fov_y = info->fov_y;
    h->error_code = RV_FRAME_OK;
    h->t_submit_ns = rv_now_ns();
    __atomic_store_n(&h->state, RV_SLOT_SUBMITTED, __ATOMIC_RELEASE); /* last: the inputs are complete */
    rv_request notice;
    rv_map_begin(&notice, f->skipped ? 4 : 3);
    rv_put_uint(&notice, "gen", f->generation);
    rv_put_uint(&notice, "slot", slot);
    rv_put_uint(&notice, "seq", f->seq);
    if (f->skipped) rv_put_uint(&notice, "skipped", f->skipped); /* counted among the daemon's dropped */
    int sent = zmq_send(f->dealer, notice.buf.data, notice.buf.size, ZMQ_DONTWAIT);
    rv_request_free(&notice);
    f->begun_slot = -1;
    if (sent < 0) {
        __atomic_store_n(&h->state, RV_SLOT_EMPTY, __ATOMIC_RELEASE); /* the slot stays ours */
        return rv_fail(REVERIE_UNAVAILABLE, "the daemon is not taking frames (notice queue full)");
    }
    f->pending_reset = false;
    f->skipped = 0;
    f->owned[slot] = false;
    f->in_flight[slot] = true;
    f->flight_seq[slot] = f->seq;
    f->flight_frame_id[slot] = id;
    f->slot_seq[slot] = f->seq;
    record(f, id, RV_OUTCOME_NONE, NULL);
    pthread_mutex_lock(&c->shared_lock);
    c->shared.frames_submitted++;
    pthread_mutex_unlock(&c->shared_lock);
    if (id_out) *id_out = id;
    return REVERIE_OK;
}

reverie_result reverie_submit_frame(reverie_client* c, const reverie_frame_info* info, uint64_t* frame_id_out) {
    if (c == NULL) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_submit_frame: client is NULL");
    if (info == NULL) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_submit_frame: info is NULL");
    pthread_mutex_lock(&c->frame_lock);
    reverie_result r = submit_locked(c, info, frame_id_out);
    pthread_mutex_unlock(&c->frame_lock);
    return r;
}

reverie_result reverie_cancel_frame(reverie_client* c) {
    if (c == NULL) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_cancel_frame: client is NULL");
    pthread_mutex_lock(&c->frame_lock);
    bool had = c->fr.begun_slot >= 0 || c->fr.begun_skipped || c->fr.begun_lost;
    c->fr.begun_slot = -1; /* still owned: nothing was handed over */
    c->fr.begun_skipped = c->fr.begun_lost = false;
    pthread_mutex_unlock(&c->frame_lock);
    return had ? REVERIE_OK : rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_cancel_frame: no frame begun");
}

/* ------------------------------------------------------------------ copies */

/* Copy `rows` rows of `row_bytes`, flipping when one side is bottom-up. */
static void copy_rows(uint8_t* dst, uint64_t dst_stride, const uint8_t* src, uint64_t src_stride, uint32_t rows,
                      uint64_t row_bytes, bool flip) {
    for (uint32_t y = 0; y < rows; y++) {
        uint32_t from = flip ? rows - 1 - y : y;
        memcpy(dst + (uint64_t)y * dst_stride, src + (uint64_t)from * src_stride, row_bytes);
    }
}

static reverie_result check_source(const reverie_frame_source* s) {
    reverie_result r = check_format("reverie_submit_copy", s->width, s->height, s->motion_format);
    if (r != REVERIE_OK) return r;
    if (s->color == NULL || s->depth == NULL || s->motion == NULL)
        return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_submit_copy: color, depth and motion must all be given");
    uint64_t w = s->width, motion_bytes = s->motion_format == RV_MOTION_F16 ? 4 : 8;
    if ((s->color_stride && s->color_stride < w * 4) || (s->depth_stride && s->depth_stride < w * 4) ||
        (s->motion_stride && s->motion_stride < w * motion_bytes))
        return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_submit_copy: a stride is shorter than a row (%llu bytes color/depth, %llu motion)",
                       (unsigned long long)(w * 4), (unsigned long long)(w * motion_bytes));
    if (s->flags & ~(uint32_t)REVERIE_ROWS_BOTTOM_UP)
        return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_submit_copy: unknown flags 0x%x", s->flags);
    return REVERIE_OK;
}

/* The copy path into a CUDA ring: queued on the engine's stream (sources host or device). */
static reverie_result copy_source_to_device(rv_frames* f, const reverie_frame_planes* p, const reverie_frame_source* s, bool flip) {
    uint64_t w = s->width;
    reverie_result r = rv_cuda_copy_rows(&f->cuda, p->color, p->color_pitch, s->color, s->color_stride ? s->color_stride : w * 4,
                                         s->height, w * 4, flip, f->stream, false);
    if (r == REVERIE_OK)
        r = rv_cuda_copy_rows(&f->cuda, p->depth, p->depth_pitch, s->depth, s->depth_stride ? s->depth_stride : w * 4, s->height,
                              w * 4, flip, f->stream, false);
    if (r == REVERIE_OK)
        r = rv_cuda_copy_rows(&f->cuda, p->motion, p->motion_pitch, s->motion, s->motion_stride ? s->motion_stride : p->motion_pitch,
                              s->height, p->motion_pitch, flip, f->stream, false);
    return r;
}

reverie_result reverie_submit_copy(reverie_client* c, const reverie_frame_source* s, const reverie_frame_info* info,
                                   uint64_t* frame_id_out) {
    if (c == NULL) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_submit_copy: client is NULL");
    if (s == NULL || info == NULL) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_submit_copy: source and info must not be NULL");
    reverie_result r = check_source(s);
    if (r != REVERIE_OK) return r;
    pthread_mutex_lock(&c->frame_lock);
    rv_frames* f = &c->fr;
    if (!f->have_format || f->want_width != s->width || f->want_height != s->height || f->want_motion != s->motion_format)
        r = set_format_locked(c, s->width, s->height, s->motion_format);
    reverie_frame_planes p;
    if (r == REVERIE_OK) r = begin_locked(c, &p);
    if (r == REVERIE_SKIPPED) {
        r = submit_locked(c, info, frame_id_out);
    } else if (r == REVERIE_OK) {
        bool flip = (s->flags & REVERIE_ROWS_BOTTOM_UP) != 0;
        uint64_t w = s->width;
        if (f->ring.device_planes) {
            r = copy_source_to_device(f, &p, s, flip);
            if (r != REVERIE_OK) {
                f->begun_slot = -1; /* nothing handed over */
                pthread_mutex_unlock(&c->frame_lock);
                return r;
            }
        } else {
            copy_rows(p.color, p.color_pitch, s->color, s->color_stride ? s->color_stride : w * 4, s->height, w * 4, flip);
            copy_rows(p.depth, p.depth_pitch, s->depth, s->depth_stride ? s->depth_stride : w * 4, s->height, w * 4, flip);
            copy_rows(p.motion, p.motion_pitch, s->motion, s->motion_stride ? s->motion_stride : p.motion_pitch, s->height,
                      p.motion_pitch, flip);
        }
        r = submit_locked(c, info, frame_id_out);
    }
    pthread_mutex_unlock(&c->frame_lock);
    return r;
}

/* ------------------------------------------------------------------ outputs */

static void fill_output_info(const rv_frames* f, reverie_output_info* info) {
    if (info == NULL) return;
    const rv_slot_header* h = rv_ring_slot(&f->ring, (uint32_t)f->newest_slot);
    memset(info, 0, sizeof *info);
    info->frame_id = f->newest_frame_id;
    info->width = f->ring.layout.width;
    info->height = f->ring.layout.height;
    info->t_submit_ns = h->t_submit_ns;
    info->t_done_ns = h->t_done_ns;
    info->latency_ms = ((double)h->t_done_ns - (double)h->t_submit_ns) / 1e6;
}

/* Copy the newest output (the caller holds the frame lock and has drained). */
static reverie_result copy_newest(const char* fn, rv_frames* f, void* dst, size_t dst_stride, size_t dst_size,
                                  uint32_t flags, reverie_output_info* info) {
    if (f->newest_slot < 0 || f->ring.base == NULL) return rv_fail(REVERIE_NONE_YET, "no stylized frame yet");
    fill_output_info(f, info);
    if (dst == NULL && dst_size == 0) return REVERIE_OK;
    const rv_layout* L = &f->ring.layout;
    uint64_t row = L->output_pitch, stride = dst_stride ? dst_stride : row;
    uint64_t need = (uint64_t)(L->height - 1) * stride + row;
    if (dst == NULL) return rv_fail(REVERIE_INVALID_ARGUMENT, "%s: dst is NULL", fn);
    if (stride < row) return rv_fail(REVERIE_INVALID_ARGUMENT, "%s: dst_stride %zu is shorter than a %llu-byte row", fn, dst_stride, (unsigned long long)row);
    if (dst_size < need)
        return rv_fail(REVERIE_INVALID_ARGUMENT, "%s: a %ux%u output needs %llu bytes at stride %llu, dst_size is %zu", fn,
                       L->width, L->height, (unsigned long long)need, (unsigned long long)stride, dst_size);
    if (flags & ~(uint32_t)REVERIE_ROWS_BOTTOM_UP) return rv_fail(REVERIE_INVALID_ARGUMENT, "%s: unknown flags 0x%x", fn, flags);
    uint32_t slot = (uint32_t)f->newest_slot;
    bool flip = (flags & REVERIE_ROWS_BOTTOM_UP) != 0;
    if (f->ring.device_planes) { /* on the private stream, after the daemon's output; done on return */
        reverie_result r = rv_cuda_wait_daemon(&f->cuda, slot, f->cuda.copy_stream);
        if (r == REVERIE_OK)
            r = rv_cuda_copy_rows(&f->cuda, dst, stride, plane(f, slot, L->output_offset), row, L->height, row, flip, f->cuda.copy_stream, true);
        return r;
    }
    copy_rows(dst, stride, rv_ring_plane(&f->ring, slot, L->output_offset), row, L->height, row, flip);
    return REVERIE_OK;
}

reverie_result reverie_latest_output(reverie_client* c, void* dst, size_t dst_stride, size_t dst_size, uint32_t flags,
                                     reverie_output_info* info) {
    if (c == NULL) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_latest_output: client is NULL");
    pthread_mutex_lock(&c->frame_lock);
    game_beat(&c->fr, rv_now_ns()); /* a game showing outputs is alive */
    drain(c, 0);
    reverie_result r = copy_newest("reverie_latest_output", &c->fr, dst, dst_stride, dst_size, flags, info);
    pthread_mutex_unlock(&c->frame_lock);
    return r;
}

reverie_result reverie_map_output(reverie_client* c, const void** pixels, uint64_t* pitch, reverie_output_info* info) {
    if (c == NULL || pixels == NULL || pitch == NULL)
        return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_map_output: client, pixels and pitch must not be NULL");
    pthread_mutex_lock(&c->frame_lock);
    rv_frames* f = &c->fr;
    game_beat(f, rv_now_ns());
    drain(c, 0);
    reverie_result r = copy_newest("reverie_map_output", f, NULL, 0, 0, 0, info);
    /* A device output: the engine's stream waits for the daemon's output before reading it. */
    if (r == REVERIE_OK && f->ring.device_planes) r = rv_cuda_wait_daemon(&f->cuda, (uint32_t)f->newest_slot, f->stream);
    if (r == REVERIE_OK) {
        *pixels = plane(f, (uint32_t)f->newest_slot, f->ring.layout.output_offset);
        *pitch = f->ring.layout.output_pitch;
    }
    pthread_mutex_unlock(&c->frame_lock);
    return r;
}

static reverie_result wait_locked(reverie_client* c, uint64_t frame_id, int32_t timeout_ms, void* dst, size_t dst_stride,
                                  size_t dst_size, uint32_t flags, reverie_output_info* info) {
    rv_frames* f = &c->fr;
    uint64_t deadline = rv_now_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * MS;
    for (;;) {
        const rv_frame_result* res = &f->results[frame_id % RV_RESULTS];
        if (res->frame_id == frame_id && res->outcome != RV_OUTCOME_NONE) {
            if (res->outcome == RV_OUTCOME_DROPPED)
                return rv_fail(REVERIE_DROPPED, "frame %llu: %s", (unsigned long long)frame_id, res->error);
            if (res->outcome == RV_OUTCOME_FAILED)
                return rv_fail(REVERIE_REJECTED, "frame %llu: %s", (unsigned long long)frame_id, res->error);
            if (f->newest_slot >= 0 && f->newest_frame_id == frame_id)
                return copy_newest("reverie_wait_output", f, dst, dst_stride, dst_size, flags, info);
            return rv_fail(REVERIE_DROPPED, "frame %llu was done but a newer output replaced it", (unsigned long long)frame_id);
        }
        uint64_t now = rv_now_ns();
        reverie_result r = check_daemon(c);
        if (r != REVERIE_OK) return r;
        if (now >= deadline) return rv_fail(REVERIE_TIMEOUT, "frame %llu: no output within %d ms", (unsigned long long)frame_id, timeout_ms);
        uint64_t left_ms = (deadline - now + MS - 1) / MS;
        if (f->dealer == NULL) {
            struct timespec pause = {0, 10 * 1000000L}; /* nothing to poll: do not spin */
            nanosleep(&pause, NULL);
        } else {
            drain(c, (int)(left_ms < 100 ? left_ms : 100));
        }
    }
}

reverie_result reverie_wait_output(reverie_client* c, uint64_t frame_id, int32_t timeout_ms, void* dst, size_t dst_stride,
                                   size_t dst_size, uint32_t flags, reverie_output_info* info) {
    if (c == NULL) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_wait_output: client is NULL");
    if (frame_id == 0) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_wait_output: frame ids start at 1");
    pthread_mutex_lock(&c->frame_lock);
    reverie_result r = wait_locked(c, frame_id, timeout_ms, dst, dst_stride, dst_size, flags, info);
    pthread_mutex_unlock(&c->frame_lock);
    return r;
}

/* ------------------------------------------------------------------ close */

void rv_frames_close(reverie_client* c) {
    rv_frames* f = &c->fr;
    bool daemon_closed = false;
    if (f->has_session) { /* best effort, briefly: the daemon may be gone */
        rv_request req;
        rv_reply reply;
        rv_request_begin(&req, "bye", 1);
        rv_put_str(&req, "session", f->session);
        /* The daemon closes the session's CUDA mappings and events before it replies. */
        daemon_closed = rv_control_request(&f->ctl, &req, &reply, c->timeout_ms < 500 ? c->timeout_ms : 500) == REVERIE_OK;
        rv_request_free(&req);
        rv_reply_free(&reply);
    }
    drop_session(c, daemon_closed);
    rv_transport_close(&f->device_rings); /* frees what a dead daemon left; keeps the rest allocated */
    rv_control_close(&f->ctl);
}
