/* libreverie: the game-side client of the Reverie daemon, in C.
 *
 * The game writes its color, depth and motion planes into a slot of a shared-memory
 * ring, the daemon stylizes the newest frame and the game shows the newest output it
 * has; nothing here ever waits for the model. Wire and shared-memory protocol 2.0:
 * docs/protocol.md. Build, threading and engine notes: docs/native.md.
 *
 * Typical frame loop (render thread):
 *
 *     reverie_config cfg;
 *     reverie_config_init(&cfg);
 *     cfg.client_name = "mygame";
 *     cfg.flags = REVERIE_CONNECT_LAZY;          // start even if the daemon is not up yet
 *     reverie_client* rv = NULL;
 *     if (reverie_connect(&cfg, &rv) != REVERIE_OK) { puts(reverie_last_error(NULL)); ... }
 *     reverie_set_frame_format(rv, 1280, 720, REVERIE_MOTION_F32);
 *     each frame:
 *         reverie_frame_planes p;
 *         if (reverie_begin_frame(rv, &p) == REVERIE_OK) {
 *             write p.color / p.depth / p.motion (rows p.*_pitch bytes apart, row 0 = top)
 *             reverie_frame_info info = {0};   // frame_id 0: numbered by the library
 *             info.flags = camera_cut ? REVERIE_FRAME_RESET : 0;
 *             reverie_submit_frame(rv, &info, NULL);
 *         }
 *         reverie_output_info out;
 *         if (reverie_latest_output(rv, pixels, pitch, size, 0, &out) == REVERIE_OK) show(pixels);
 *     reverie_close(rv);
 *
 * Return values: every function returns a reverie_result. Codes >= 0 are outcomes
 * (OK, NONE_YET, SKIPPED, ...), codes < 0 are errors; after any code other than
 * REVERIE_OK, reverie_last_error() says what happened in words.
 *
 * Threads. A client has three independent groups of calls; each group is serialized by
 * its own lock, so a group may be called from any thread, but one thread per group is
 * what the library is built for, and a call of one group never waits for another group:
 *   - FRAME group (the render thread): reverie_set_frame_format, reverie_set_transport,
 *     reverie_begin_frame,
 *     reverie_submit_frame, reverie_cancel_frame, reverie_submit_copy,
 *     reverie_latest_output, reverie_map_output, reverie_wait_output. These own the
 *     game session (hello, open_ring, bye) and the shared-memory ring; they use their
 *     own control socket, so a slow steering request never stalls a frame.
 *   - STEER group (the game thread): reverie_set_prompt, reverie_set_params,
 *     reverie_load_preset, reverie_list_presets, reverie_reset_history,
 *     reverie_get_status, reverie_console_exec. Blocking: each waits for the daemon's
 *     reply, at most reverie_config.timeout_ms.
 *   - EVENT group (any one thread, typically the game thread): reverie_poll_event.
 *     Never blocks.
 *   - Any thread, any time: reverie_last_error, reverie_result_name, reverie_version, reverie_abi_version,
 *     reverie_set_log_callback,
 *     reverie_config_init, reverie_default_control_endpoint.
 *   - reverie_connect and reverie_close: no other call on that client may be running.
 * reverie_last_error() is per calling thread (thread-local): it describes the last
 * call made on *this* thread that did not return REVERIE_OK.
 *
 * Daemon death and restarts. When the daemon dies, frame calls notice within
 * liveness_timeout_ms (1 s) from the ring's heartbeat and return REVERIE_UNAVAILABLE;
 * steering calls return REVERIE_UNAVAILABLE after timeout_ms. The next
 * reverie_begin_frame / reverie_submit_copy says hello again on its own (with
 * "replaces" = the old session), at most once per reconnect_interval_ms and without
 * blocking the render thread, then re-opens the ring at the current frame format.
 * The other way round, reverie_begin_frame, reverie_submit_copy, reverie_latest_output,
 * reverie_map_output and reverie_wait_output write the game's heartbeat into the ring
 * (game_beat_ns); the daemon closes a session silent for its session timeout (the hello
 * reply's session_timeout_s, 10 s by default). A game that makes none of these calls for
 * that long finds its session gone at the next one (REVERIE_UNAVAILABLE) and says hello
 * again, as after a restart.
 *
 * GPU mode (protocol 1.2, docs/native.md "GPU mode"): a library built with
 * -DREVERIE_CUDA=ON can put the planes in the game's CUDA memory instead of shared memory:
 * reverie_set_transport(rv, REVERIE_TRANSPORT_CUDA, device, stream). Planes then come as
 * device pointers (reverie_frame_planes.memory == REVERIE_MEMORY_CUDA) and every GPU
 * access is ordered on the given stream. A CPU build answers REVERIE_UNSUPPORTED.
 */
#ifndef REVERIE_H
#define REVERIE_H

#include <stddef.h>
#include <stdint.h>

#define REVERIE_VERSION_MAJOR 0
#define REVERIE_VERSION_MINOR 1
#define REVERIE_VERSION_PATCH 0
#define REVERIE_VERSION_STRING "0.1.0"

/* The wire protocol this library speaks (docs/protocol.md section 7): the daemon's
 * major must equal REVERIE_PROTOCOL_MAJOR. */
#define REVERIE_PROTOCOL_MAJOR 2
#define REVERIE_PROTOCOL_MINOR 0

/* The binary interface: the soname's number (libreverie.so.1). It changes when a
 * function's signature or a public struct's layout changes incompatibly; a program
 * compares reverie_abi_version() with the REVERIE_ABI_VERSION it was built with before
 * any other call (a plugin that loads the library at run time especially). */
#define REVERIE_ABI_VERSION 1

/* Depth in meters for the sky and anything at or beyond it (docs/protocol.md 2.3): one
 * convention for every engine, the distance the model reads depth up to. */
#define REVERIE_SKY_DEPTH_METERS 1000

/* The export macro is named so that no engine's own macros collide with it (Unreal
 * defines <MODULE>_API for every module, REVERIE_API for a module named Reverie). */

#if defined(_WIN32)
#  if defined(REVERIE_BUILDING)
#    define LIBREVERIE_EXPORT __declspec(dllexport)
#  elif defined(REVERIE_STATIC)
#    define LIBREVERIE_EXPORT
#  else
#    define LIBREVERIE_EXPORT __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define LIBREVERIE_EXPORT __attribute__((visibility("default")))
#else
#  define LIBREVERIE_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* One connection to the daemon; opaque. */
typedef struct reverie_client reverie_client;

/* ------------------------------------------------------------------ results */

typedef enum reverie_result {
    REVERIE_OK = 0,
    /* Outcomes that are not errors. */
    REVERIE_NONE_YET = 1,         /* no output yet (latest_output), no event waiting (poll_event) */
    REVERIE_SKIPPED = 2,          /* no free slot: this frame is skipped, not queued (protocol 10.1) */
    REVERIE_DROPPED = 3,          /* wait_output: a newer frame replaced this one before it was stylized */
    REVERIE_QUIT = 4,             /* console_exec: the line was /quit; the caller closes its console */
    /* Errors. */
    REVERIE_INVALID_ARGUMENT = -1, /* NULL pointer, bad size, call out of order, bad console input */
    REVERIE_UNAVAILABLE = -2,      /* the daemon is not running or not answering; retried later */
    REVERIE_REJECTED = -3,         /* the daemon refused the request (its code: last_error), or a frame failed */
    REVERIE_BUSY = -4,             /* hello: another live game holds the daemon (set REVERIE_CONNECT_TAKEOVER) */
    REVERIE_PROTOCOL = -5,         /* a garbled reply, or a ring segment that fails the attach checks */
    REVERIE_TIMEOUT = -6,          /* wait_output: no answer for this frame within the time given */
    REVERIE_OUT_OF_MEMORY = -7,
    REVERIE_SYSTEM = -8,           /* an OS, ZeroMQ or CUDA call failed (mmap, zmq_socket, cudaEventRecord...) */
    REVERIE_UNSUPPORTED = -9       /* not in this build or on this machine: the CUDA transport without CUDA or a GPU */
} reverie_result;

/* "REVERIE_OK", "REVERIE_UNAVAILABLE", ...; "REVERIE_UNKNOWN_RESULT" for other values. */
LIBREVERIE_EXPORT const char* reverie_result_name(int result);

/* What went wrong in the last call on this thread that did not return REVERIE_OK,
 * for example "invalid: set_params.steps=99 is outside [1, 8]" (the daemon's error code
 * and message) or "reverie_begin_frame: out is NULL". Never NULL; valid until the next
 * libreverie call on this thread. The client argument is accepted for symmetry and may
 * be NULL. */
LIBREVERIE_EXPORT const char* reverie_last_error(const reverie_client* client);

/* The library version, "0.1.0". */
LIBREVERIE_EXPORT const char* reverie_version(void);

/* The library's REVERIE_ABI_VERSION: a program built against another one must not call
 * anything else. */
LIBREVERIE_EXPORT int reverie_abi_version(void);

/* ------------------------------------------------------------------ logging */

enum reverie_log_level {
    REVERIE_LOG_INFO = 0,    /* connected to a daemon */
    REVERIE_LOG_WARNING = 1, /* disconnected (and why), frames the daemon refused */
};

/* Called with one line (UTF-8, no newline), from whichever thread the library was on:
 * it must be thread-safe and quick, and must not call back into the library. */
typedef void (*reverie_log_fn)(void* user, int level, const char* message);

/* Send the library's log lines to `fn` (NULL: nowhere, the default); process-wide. Frame
 * refusals are logged once a second at most, with the count of those not logged. Setting
 * NULL returns once no call to the previous callback is running. Any thread, any time. */
LIBREVERIE_EXPORT void reverie_set_log_callback(reverie_log_fn fn, void* user);

/* ------------------------------------------------------------------ connecting */

enum reverie_connect_flags {
    /* Do not talk to the daemon in reverie_connect; the first frame call says hello.
     * An engine uses this so the game starts whether or not the daemon is running. */
    REVERIE_CONNECT_LAZY = 1u << 0,
    /* hello with takeover: replace another live game's session instead of REVERIE_BUSY. */
    REVERIE_CONNECT_TAKEOVER = 1u << 1
};

enum reverie_motion_format {
    REVERIE_MOTION_F32 = 0, /* (dx, dy) as two float32 per pixel */
    REVERIE_MOTION_F16 = 1  /* (dx, dy) as two IEEE half floats per pixel */
};

typedef struct reverie_config {
    /* Control endpoint. NULL or "": $REVERIE_CONTROL, else the default
     * ipc://<runtime dir>/reverie-<uid>/control (docs/protocol.md 1.2). */
    const char* control;
    /* Events endpoint. NULL or "": the one the daemon names in its hello/status reply;
     * before any reply, $REVERIE_EVENTS, else the default ipc path. */
    const char* events;
    /* Frames endpoint. NULL or "": the one the daemon names in its hello reply. */
    const char* frames;
    /* A name for the daemon's logs and status, at most 64 characters. NULL: "native". */
    const char* client_name;
    /* CURVE keys folder from `reverie keys DIR` (server.key and client.key_secret), for a
     * non-local control/events endpoint. NULL: no CURVE. */
    const char* curve_keys_dir;
    int32_t timeout_ms;            /* control reply timeout; 0: 2000 */
    int32_t liveness_timeout_ms;   /* heartbeat staleness limit; 0: 1000 */
    int32_t reconnect_interval_ms; /* at most one hello per interval; 0: 500 */
    uint32_t slots;                /* ring slots, 3..16; 0: 6 (protocol 3.4 slot budget) */
    uint32_t flags;                /* reverie_connect_flags */
    uint32_t _reserved0;           /* 0 */
} reverie_config;

/* Fill *config with the defaults (every field 0/NULL). Call it before setting fields,
 * so fields added in later versions start at their defaults. */
LIBREVERIE_EXPORT void reverie_config_init(reverie_config* config);

/* Create a client. Without REVERIE_CONNECT_LAZY it says hello now (waiting at most
 * timeout_ms): REVERIE_UNAVAILABLE, REVERIE_BUSY or REVERIE_REJECTED then leave
 * *out NULL. With REVERIE_CONNECT_LAZY it only checks the arguments. *out is set only
 * on REVERIE_OK. config may be NULL (all defaults). */
LIBREVERIE_EXPORT reverie_result reverie_connect(const reverie_config* config, reverie_client** out);

/* Say bye (best effort, at most 500 ms), unmap the ring, close the sockets, free the
 * client. NULL is accepted and does nothing. */
LIBREVERIE_EXPORT void reverie_close(reverie_client* client);

/* The control endpoint a client with config.control == NULL uses: $REVERIE_CONTROL or
 * the default ipc path (creating its 0700 folder, as the daemon does). */
LIBREVERIE_EXPORT reverie_result reverie_default_control_endpoint(char* out, size_t cap);

/* ------------------------------------------------------------------ frames (FRAME group) */

/* Frame size and motion format for the next frames: width and height 8..8192 each. If the
 * client has a session and the ring differs, it is re-opened now (open_ring; blocks up
 * to timeout_ms); otherwise the next reverie_begin_frame opens it. A ring the daemon
 * refuses (over 4 GiB, no memory for it) gives REVERIE_REJECTED and keeps the old one. */
LIBREVERIE_EXPORT reverie_result reverie_set_frame_format(reverie_client* client, uint32_t width, uint32_t height,
                                                    uint32_t motion_format);

/* Where plane pointers point: host shared memory, or (the CUDA transport) device memory
 * of the CUDA device given to reverie_set_transport. */
enum reverie_memory {
    REVERIE_MEMORY_HOST = 0,
    REVERIE_MEMORY_CUDA = 1
};

/* How the planes travel (protocol 1.2, open_ring.transport). */
enum reverie_transport {
    REVERIE_TRANSPORT_SHM = 0, /* POSIX shared memory; the default, in every build */
    REVERIE_TRANSPORT_CUDA = 1 /* CUDA IPC: one device allocation of the game's; needs -DREVERIE_CUDA=ON */
};

/* Choose the transport for the rings opened from now on (FRAME group). For
 * REVERIE_TRANSPORT_CUDA, cuda_device is the CUDA runtime device ordinal the planes are
 * allocated on (the daemon must run on the same GPU) and cuda_stream is the cudaStream_t
 * (NULL: the legacy default stream) the engine writes inputs and reads outputs on:
 *   - reverie_begin_frame makes the stream wait for the daemon's last work on the slot
 *     (cudaStreamWaitEvent), so the engine's writes queued after it are safe;
 *   - reverie_submit_frame records the slot's event on the stream (cudaEventRecord)
 *     before telling the daemon: every write queued on the stream before the call is in;
 *   - reverie_map_output makes the stream wait for the daemon's output first: read it on
 *     that stream (or after an event recorded on it), until the next FRAME-group call;
 *   - reverie_latest_output / reverie_wait_output copy on a private stream and return
 *     once the copy is done (dst may be host or device memory).
 * Calling it again with only another stream changes the stream and keeps the ring; a new
 * transport or device re-opens the ring (now if there is one, else at the next frame).
 * For REVERIE_TRANSPORT_SHM the device and stream are ignored.
 *   REVERIE_UNSUPPORTED      CUDA: built without CUDA, no CUDA driver or device, or no CUDA IPC
 *   REVERIE_INVALID_ARGUMENT no such transport or device, or a frame is begun
 * and what reverie_set_frame_format returns when the ring is re-opened now. */
LIBREVERIE_EXPORT reverie_result reverie_set_transport(reverie_client* client, uint32_t transport, int32_t cuda_device,
                                                 void* cuda_stream);

/* The input planes of the slot reverie_begin_frame reserved; writable until
 * reverie_submit_frame or reverie_cancel_frame. Rows are tightly packed and row 0 is
 * the top of the image (protocol 2.5). */
typedef struct reverie_frame_planes {
    uint32_t width;
    uint32_t height;
    uint32_t motion_format; /* REVERIE_MOTION_F32 / F16 */
    uint32_t memory;        /* REVERIE_MEMORY_HOST, or REVERIE_MEMORY_CUDA: device pointers */
    void* color;            /* RGBA8, sRGB-encoded, bytes R, G, B, A */
    void* depth;            /* float32 linear view depth in meters; finite */
    void* motion;           /* (dx, dy) in pixels: previous position = current + motion; finite */
    uint64_t color_pitch;   /* bytes per row: width * 4 */
    uint64_t depth_pitch;   /* width * 4 */
    uint64_t motion_pitch;  /* width * 8 (f32) or width * 4 (f16) */
} reverie_frame_planes;

enum reverie_frame_flags {
    REVERIE_FRAME_RESET = 1u << 0 /* camera cut: the stylizer drops its history before this frame */
};

/* The slot header fields of one frame (protocol 2.3). Zero means "unknown" for the
 * camera fields and "number it for me" for frame_id. */
typedef struct reverie_frame_info {
    uint64_t frame_id; /* 0: the library numbers frames 1, 2, 3, ...; else increasing ids of your own */
    uint32_t flags;    /* reverie_frame_flags */
    float jitter_x;    /* sub-pixel projection jitter, pixels */
    float jitter_y;
    float near_m;      /* camera near plane, meters */
    float far_m;       /* camera far plane, meters */
    float fov_y;       /* vertical field of view, radians */
} reverie_frame_info;

/* Reserve the next free slot and point *out at its input planes (zero copy). Needs a
 * format from reverie_set_frame_format. (Re)connects and opens the ring when needed.
 *   REVERIE_OK          *out is valid; finish with submit_frame or cancel_frame
 *   REVERIE_SKIPPED     every slot is with the daemon: skip this frame (do not wait).
 *                       Calling reverie_submit_frame anyway is allowed: it returns
 *                       REVERIE_SKIPPED and carries a REVERIE_FRAME_RESET to the next frame
 *   REVERIE_UNAVAILABLE the daemon is down, restarting, or the reconnect is pending
 *   REVERIE_INVALID_ARGUMENT no format set, out NULL, or a frame already begun */
LIBREVERIE_EXPORT reverie_result reverie_begin_frame(reverie_client* client, reverie_frame_planes* out);

/* Hand the begun slot to the daemon. *frame_id_out (may be NULL) gets the frame id used.
 * REVERIE_UNAVAILABLE if the notice could not be sent (the slot stays ours). */
LIBREVERIE_EXPORT reverie_result reverie_submit_frame(reverie_client* client, const reverie_frame_info* info,
                                                uint64_t* frame_id_out);

/* Give the begun slot back without submitting it (e.g. the GPU readback failed). */
LIBREVERIE_EXPORT reverie_result reverie_cancel_frame(reverie_client* client);

enum reverie_copy_flags {
    /* The caller's rows are bottom-up (row 0 = bottom), as OpenGL/Unity readbacks are:
     * the library flips them into the ring's top-down rows (or out of them, for output). */
    REVERIE_ROWS_BOTTOM_UP = 1u << 0
};

/* Caller-owned input planes for reverie_submit_copy. A stride of 0 means tightly packed;
 * a larger stride skips row padding. */
typedef struct reverie_frame_source {
    uint32_t width;
    uint32_t height;
    uint32_t motion_format;  /* REVERIE_MOTION_F32 / F16 */
    uint32_t flags;          /* reverie_copy_flags */
    const void* color;       /* RGBA8 sRGB */
    const void* depth;       /* float32 meters */
    const void* motion;      /* float32 x2 or float16 x2 pixels */
    uint64_t color_stride;   /* bytes between rows; 0: width * 4 */
    uint64_t depth_stride;   /* 0: width * 4 */
    uint64_t motion_stride;  /* 0: width * 8 (f32) or width * 4 (f16) */
} reverie_frame_source;

/* Copy variant: set the format from *source (re-negotiating the ring when it changed),
 * begin, copy the planes, submit. Same results as begin_frame + submit_frame. With the
 * CUDA transport the sources may be host or device pointers; the copies are queued on
 * the transport's stream, so a device (or pinned host) source must stay unchanged until
 * that stream has passed them. */
LIBREVERIE_EXPORT reverie_result reverie_submit_copy(reverie_client* client, const reverie_frame_source* source,
                                               const reverie_frame_info* info, uint64_t* frame_id_out);

/* The newest output and what it answers. */
typedef struct reverie_output_info {
    uint64_t frame_id;    /* the frame_id of the submission it answers */
    uint32_t width;
    uint32_t height;
    uint64_t t_submit_ns; /* CLOCK_MONOTONIC */
    uint64_t t_done_ns;
    double latency_ms;    /* t_done_ns - t_submit_ns */
} reverie_output_info;

/* Copy the newest stylized frame (RGBA8 sRGB) into dst, rows dst_stride bytes apart
 * (0: width * 4), bottom-up with REVERIE_ROWS_BOTTOM_UP in flags. dst_size is the
 * buffer's size in bytes; it must hold (height - 1) * stride + width * 4. dst NULL with
 * dst_size 0 only fills *info (to learn the size or whether a new frame arrived).
 * Returns REVERIE_NONE_YET when no frame of the current ring is done yet. Never waits. */
LIBREVERIE_EXPORT reverie_result reverie_latest_output(reverie_client* client, void* dst, size_t dst_stride,
                                                 size_t dst_size, uint32_t flags, reverie_output_info* info);

/* Zero copy: point *pixels at the newest output in shared memory, rows *pitch bytes
 * apart, top-down. Valid until the next FRAME-group call on this client. With the CUDA
 * transport *pixels is a device pointer, and the transport's stream has been made to wait
 * for the daemon's output: read it on that stream. */
LIBREVERIE_EXPORT reverie_result reverie_map_output(reverie_client* client, const void** pixels, uint64_t* pitch,
                                              reverie_output_info* info);

/* Block up to timeout_ms for the answer to frame_id, then copy it like latest_output.
 * For tests, benchmarks and offline tools; a game uses latest_output.
 *   REVERIE_OK, REVERIE_DROPPED (a newer frame replaced it; skipped frames too),
 *   REVERIE_REJECTED (the frame failed: NaN/inf or the stylizer raised; last_error has
 *   the daemon's text), REVERIE_TIMEOUT, REVERIE_UNAVAILABLE. */
LIBREVERIE_EXPORT reverie_result reverie_wait_output(reverie_client* client, uint64_t frame_id, int32_t timeout_ms,
                                               void* dst, size_t dst_stride, size_t dst_size, uint32_t flags,
                                               reverie_output_info* info);

/* ------------------------------------------------------------------ steering (STEER group) */

#define REVERIE_TEXT_CAP 4096 /* bytes for a prompt (1000 code points of UTF-8) plus NUL */
#define REVERIE_NAME_CAP 264  /* bytes for a 64-character name (UTF-8) plus NUL, 8-aligned */

/* Pass REVERIE_KEEP for a reverie_set_params argument to leave that setting unchanged:
 * any negative steps or seed, and any negative or NaN strength, is left out of the
 * request. Every other value is sent and checked by the daemon (steps 1..8, strength
 * 0..1, seed 0..2^63-1; steps 0 is refused with REVERIE_REJECTED). */
#define REVERIE_KEEP (-1)

/* Set the style prompt (UTF-8, at most 1000 characters, may be empty), blended over
 * transition_frames (0..10000; 0 = at once). */
LIBREVERIE_EXPORT reverie_result reverie_set_prompt(reverie_client* client, const char* text, int32_t transition_frames);

LIBREVERIE_EXPORT reverie_result reverie_set_params(reverie_client* client, int32_t steps, double strength, int64_t seed);

typedef struct reverie_preset {
    int32_t steps;
    int32_t transition_frames;
    double strength;
    int64_t seed;
    char name[REVERIE_NAME_CAP];
    char prompt[REVERIE_TEXT_CAP];
} reverie_preset;

/* Apply a named preset (prompt, steps, strength, seed, transition); *applied may be NULL. */
LIBREVERIE_EXPORT reverie_result reverie_load_preset(reverie_client* client, const char* name, reverie_preset* applied);

/* Up to cap presets into out; *count gets how many the daemon has (may exceed cap). */
LIBREVERIE_EXPORT reverie_result reverie_list_presets(reverie_client* client, reverie_preset* out, size_t cap,
                                                size_t* count);

/* The stylizer drops its temporal history before the next frame (for a camera cut,
 * prefer REVERIE_FRAME_RESET on the frame itself). */
LIBREVERIE_EXPORT reverie_result reverie_reset_history(reverie_client* client);

#define REVERIE_MAX_COUNTERS 16

/* The daemon's status reply (protocol 5.3 "status"), plus this client's own view.
 * Latencies are -1 when the daemon had no frames in the last second. */
typedef struct reverie_status {
    int32_t daemon_pid;
    uint32_t version_major;
    uint32_t version_minor;
    int32_t has_session;              /* a game session exists (any game, not only this client) */
    double uptime_s;
    char stylizer[REVERIE_NAME_CAP];
    char events[REVERIE_NAME_CAP];    /* the events endpoint as bound */
    /* The current game session (valid when has_session). */
    char session_client[REVERIE_NAME_CAP];
    int32_t session_pid;
    uint32_t session_width;           /* 0 before its open_ring */
    uint32_t session_height;
    /* Settings. */
    int32_t steps;
    int32_t transition_frames;
    int32_t _reserved0;
    double strength;
    int64_t seed;
    char prompt[REVERIE_TEXT_CAP];
    /* Stats over the last second, and totals since the daemon started. */
    uint64_t frames;
    uint64_t dropped;
    uint64_t failed;
    double fps;
    double latency_p50_ms;
    double latency_p95_ms;
    double process_p50_ms;
    /* The stylizer's own counters (protocol 1.1), name to value. */
    uint32_t counter_count;
    int32_t _reserved1;
    char counter_names[REVERIE_MAX_COUNTERS][64];
    int64_t counter_values[REVERIE_MAX_COUNTERS];
    /* This client. */
    int32_t connected;                /* it holds a session with the daemon now */
    uint32_t ring_width;              /* its ring, 0 when none */
    uint32_t ring_height;
    uint32_t ring_slots;
    uint64_t frames_submitted;        /* by this client since reverie_connect */
    uint64_t frames_skipped;          /* no free slot (protocol 10.1) */
} reverie_status;

LIBREVERIE_EXPORT reverie_result reverie_get_status(reverie_client* client, reverie_status* out);

/* ------------------------------------------------------------------ events (EVENT group) */

typedef enum reverie_event_type {
    REVERIE_EVENT_NONE = 0,
    /* From the daemon's events socket (protocol 6). */
    REVERIE_EVENT_STATS = 1,          /* frames, dropped, failed, fps, latencies */
    REVERIE_EVENT_PROMPT_CHANGED = 2, /* text, transition_frames */
    REVERIE_EVENT_PARAMS_CHANGED = 3, /* steps, strength, seed */
    REVERIE_EVENT_SESSION_OPENED = 4, /* client, pid */
    REVERIE_EVENT_SESSION_CLOSED = 5, /* client, pid, text = reason */
    REVERIE_EVENT_ERROR = 6,          /* text = the daemon's message */
    /* From this client. */
    REVERIE_EVENT_FRAME_FAILED = 7,   /* frame_id, text = the daemon's error for that frame */
    REVERIE_EVENT_DISCONNECTED = 8,   /* text = why (daemon exited, heartbeat stale, ...) */
    REVERIE_EVENT_CONNECTED = 9       /* this client has a (new) session; text = its token */
} reverie_event_type;

typedef struct reverie_event {
    int32_t type;                     /* reverie_event_type */
    int32_t transition_frames;
    int32_t steps;
    int32_t pid;
    double strength;
    int64_t seed;
    uint64_t frame_id;
    uint64_t frames;
    uint64_t dropped;
    uint64_t failed;
    double fps;
    double latency_p50_ms;            /* -1: none */
    double latency_p95_ms;
    double process_p50_ms;
    char client[REVERIE_NAME_CAP];
    char text[REVERIE_TEXT_CAP];      /* UTF-8, cut at a character boundary if longer */
} reverie_event;

/* The next event, or REVERIE_NONE_YET. Never blocks. Events the daemon published before
 * the subscription connected are lost (as with any PUB/SUB); unknown types are skipped. */
LIBREVERIE_EXPORT reverie_result reverie_poll_event(reverie_client* client, reverie_event* out);

/* ------------------------------------------------------------------ console (STEER group) */

#define REVERIE_CONSOLE_REPLY_CAP 8192 /* enough for /status, /help and a long /preset list */

/* One line of the console language (at most 2000 characters), sent to the daemon, which
 * runs it (the `console` op, protocol 1.4): plain text sets the prompt; /preset [NAME],
 * /steps N, /strength X, /seed N, /transition N, /reset, /status, /help, /quit. The reply
 * (several lines, no trailing newline) is whatever the daemon's console prints for the
 * line, the same text `reverie console` shows, a mistake as "error: ..."; without a reply
 * (no daemon, a line the daemon refused as a request) it is "error: " and the last
 * error. A blank line ("") and /quit ("", REVERIE_QUIT) need no daemon, as in `reverie
 * console`. The reply is cut to cap - 1 bytes, never inside a UTF-8 character. The
 * /transition value belongs to this client's console: the library sends it with every
 * line and keeps the one the daemon returns (0 at first). Results: REVERIE_OK,
 * REVERIE_QUIT (the line was /quit), REVERIE_INVALID_ARGUMENT (a line typed wrong:
 * unknown command, bad number), REVERIE_REJECTED (the daemon refused what the line
 * asked, or the line itself: too long), REVERIE_UNAVAILABLE (no daemon). */
LIBREVERIE_EXPORT reverie_result reverie_console_exec(reverie_client* client, const char* line, char* reply, size_t cap);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* REVERIE_H */
