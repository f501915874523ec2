/* The client object. Three groups of calls (reverie.h "Threads") each own their part of
 * it under their own lock; `shared` is the little they exchange. */
#ifndef RV_CLIENT_INTERNAL_H
#define RV_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "control.h"
#include "curve.h"
#include "protocol.h"
#include "reverie.h"
#include "ring.h"
#include "transport.h"

#define RV_ENDPOINT_CAP 1024
#define RV_RESULTS 256      /* how many recent frame outcomes wait_output can look up */
#define RV_LOCAL_EVENTS 32  /* client-made events waiting for reverie_poll_event */

enum rv_frame_outcome { RV_OUTCOME_NONE = 0, RV_OUTCOME_DONE, RV_OUTCOME_DROPPED, RV_OUTCOME_FAILED };

typedef struct rv_frame_result {
    uint64_t frame_id;
    int outcome;             /* rv_frame_outcome */
    char error[256];
} rv_frame_result;

/* FRAME group state: the game session, the ring and its slots. */
typedef struct rv_frames {
    rv_control ctl;                 /* hello, open_ring, bye: never shared with steering */
    void* dealer;                   /* frames socket, routing id = session token */
    bool has_session;
    char session[72];
    char previous_session[72];      /* sent as "replaces" on the next hello */
    uint64_t last_attempt_ns;       /* last hello sent, for reconnect_interval_ms */
    bool attempted;
    rv_ring ring;
    uint64_t generation;
    uint32_t daemon_pid;            /* from the hello reply: who maps our device rings */
    double session_timeout_s;       /* from the hello reply: how long the daemon keeps a silent session */
    /* The transport (reverie_set_transport): for a CUDA ring, `cuda` holds its planes and
     * `ring` maps only its control segment. */
    uint32_t want_transport;
    int want_device;
    void* stream;                   /* the engine's cudaStream_t */
    rv_cuda_ring cuda;
    rv_device_rings device_rings;   /* device rings the daemon may still hold */
    /* Slot ownership (protocol 3): the notice is the hand-over. */
    bool owned[RV_MAX_SLOTS];
    bool in_flight[RV_MAX_SLOTS];
    uint64_t flight_seq[RV_MAX_SLOTS];
    uint64_t flight_frame_id[RV_MAX_SLOTS];
    uint64_t slot_seq[RV_MAX_SLOTS];  /* seq last written into each slot */
    int newest_slot;                  /* slot holding the newest done output, -1 if none */
    uint64_t newest_seq;
    uint64_t newest_frame_id;
    uint64_t seq;                     /* strictly increasing for the client's lifetime */
    uint64_t last_frame_id;
    uint64_t skipped;                 /* frames skipped since the last notice */
    bool pending_reset;               /* a skipped frame's camera cut, carried to the next */
    int begun_slot;                   /* slot reserved by begin_frame, -1 if none */
    bool begun_skipped;               /* begin_frame said SKIPPED; submit_frame may follow */
    bool begun_lost;                  /* the session dropped while a frame was begun */
    bool have_format;
    uint32_t want_width, want_height, want_motion;
    uint64_t last_beat;               /* the daemon's heartbeat_ns last seen, and when it changed */
    uint64_t last_beat_change_ns;
    uint64_t game_beat_ns;            /* the game_beat_ns this game last wrote */
    rv_frame_result results[RV_RESULTS];
} rv_frames;

/* What the groups exchange, under shared_lock. */
typedef struct rv_shared {
    char learned_events[RV_ENDPOINT_CAP]; /* events endpoint from the last hello/status reply */
    reverie_event local[RV_LOCAL_EVENTS]; /* client-made events, a ring buffer */
    unsigned local_head, local_count;
    /* This client's view for reverie_get_status. */
    int connected;
    uint32_t ring_width, ring_height, ring_slots;
    uint64_t frames_submitted, frames_skipped;
    uint64_t refusal_logged_ns; /* when a frame refusal was last logged (once a second at most) */
    uint64_t refusals_unlogged; /* refusals since then, not logged */
} rv_shared;

struct reverie_client {
    void* zmq;
    char control[RV_ENDPOINT_CAP];
    char events_override[RV_ENDPOINT_CAP];  /* "" unless reverie_config.events */
    char frames_override[RV_ENDPOINT_CAP];  /* "" unless reverie_config.frames */
    char name[REVERIE_NAME_CAP];
    rv_curve curve;
    int timeout_ms, liveness_ms, reconnect_ms;
    uint32_t slots, flags;

    pthread_mutex_t frame_lock;
    rv_frames fr;

    pthread_mutex_t steer_lock;
    rv_control steer;
    int32_t console_transition;  /* /transition N: this client's console only */

    pthread_mutex_t event_lock;
    void* sub;
    char sub_endpoint[RV_ENDPOINT_CAP];

    pthread_mutex_t shared_lock;
    rv_shared shared;
};

/* frames.c */
void rv_frames_init(reverie_client* c);
reverie_result rv_frames_hello_now(reverie_client* c); /* blocking hello for reverie_connect */
void rv_frames_close(reverie_client* c);               /* bye, unmap, close */

/* events.c */
void rv_events_push_local(reverie_client* c, int type, uint64_t frame_id, const char* text);
void rv_events_learn_endpoint(reverie_client* c, const char* bound);
void rv_events_close(reverie_client* c);
void rv_events_start(reverie_client* c);

/* endpoints.c */
/* A bound endpoint as a client can dial it: a wildcard tcp host becomes control's host. */
void rv_connectable(char* out, size_t cap, const char* bound, const char* control);
/* ipc://<runtime dir>/reverie-<uid>/<name>, creating the 0700 folder. */
reverie_result rv_default_endpoint(char* out, size_t cap, const char* env, const char* name);

#endif
