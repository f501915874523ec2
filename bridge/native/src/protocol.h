/* Protocol 2.0 constants and byte layouts (docs/protocol.md; the source of truth is
 * bridge/protocol.py, and tests/test_native_protocol.py compares every value here with it). */
#ifndef RV_PROTOCOL_H
#define RV_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define RV_PROTOCOL_MAJOR 2 /* 2.0: rings are sealed memfds opened by path (open_ring.segment), the game's heartbeat */
#define RV_PROTOCOL_MINOR 0

#define RV_MAGIC 0x42525652u /* "RVRB" as a little-endian u32 */
#define RV_PAGE 4096u
#define RV_SEGMENT_HEADER_BYTES 4096u
#define RV_SLOT_HEADER_BYTES 256u
#define RV_PLANE_ALIGN 4096u
#define RV_ERROR_TEXT_BYTES 128u
#define RV_SHM_PREFIX "reverie" /* memfd names, as /proc/<pid>/fd shows them: reverie.<daemon pid>.<generation> */

#define RV_SLOT_EMPTY 0u
#define RV_SLOT_SUBMITTED 1u
#define RV_SLOT_PROCESSING 2u
#define RV_SLOT_DONE 3u
#define RV_SLOT_DROPPED 4u
#define RV_SLOT_FAILED 5u

#define RV_FLAG_RESET 1u

/* Segment header flags. DEVICE_PLANES: a CUDA ring's control segment: the header page and
 * the slot headers only; the planes are in the game's device allocation. */
#define RV_RING_FLAG_DEVICE_PLANES (1u << 0)

/* cudaIpcMemHandle_t / cudaIpcEventHandle_t, sent as msgpack bin of exactly this size. */
#define RV_CUDA_HANDLE_BYTES 64u

#define RV_MOTION_F32 0u
#define RV_MOTION_F16 1u

#define RV_FRAME_OK 0u
#define RV_FRAME_ERR_NONFINITE 1u
#define RV_FRAME_ERR_STYLIZER 2u
#define RV_FRAME_ERR_HEADER 3u

#define RV_MAX_CONTROL_BYTES 65536u
#define RV_MAX_SOCKET_BYTES 1048576u
#define RV_MAX_PROMPT_CHARS 1000
#define RV_MAX_TRANSITION_FRAMES 10000
#define RV_MAX_CONSOLE_LINE_CHARS 2000
#define RV_MAX_STEPS 8
#define RV_MAX_SIDE 8192u
#define RV_MIN_SIDE 8u
#define RV_MAX_RING_BYTES 4294967296ull
#define RV_MIN_SLOTS 3u
#define RV_MAX_SLOTS 16u
#define RV_DEFAULT_SLOTS 6u

/* Control reply error codes. */
#define RV_ERR_MALFORMED "malformed"
#define RV_ERR_TOO_LARGE "too_large"
#define RV_ERR_VERSION "version"
#define RV_ERR_UNKNOWN_OP "unknown_op"
#define RV_ERR_INVALID "invalid"
#define RV_ERR_BUSY "busy"
#define RV_ERR_SESSION "session"
#define RV_ERR_FORBIDDEN "forbidden" /* the connection's peer is another local user */
#define RV_ERR_INTERNAL "internal"

/* Python client defaults (protocol section 8). */
#define RV_DEFAULT_TIMEOUT_MS 2000
#define RV_DEFAULT_LIVENESS_MS 1000
#define RV_DEFAULT_RECONNECT_MS 500
/* The daemon closes a session silent this long unless its hello reply says otherwise. */
#define RV_DEFAULT_SESSION_TIMEOUT_S 10.0

typedef struct rv_segment_header {
    uint32_t magic;
    uint16_t version_major;
    uint16_t version_minor;
    uint32_t header_bytes;
    uint32_t slot_count;
    uint32_t width;
    uint32_t height;
    uint32_t motion_format;
    uint32_t flags;
    uint64_t slot_stride;
    uint32_t slot_header_bytes;
    uint32_t _pad0;
    uint64_t color_offset;
    uint64_t depth_offset;
    uint64_t motion_offset;
    uint64_t output_offset;
    uint32_t color_pitch;
    uint32_t depth_pitch;
    uint32_t motion_pitch;
    uint32_t output_pitch;
    uint32_t generation;
    uint32_t daemon_pid;
    uint64_t session;
    uint64_t heartbeat_ns; /* rewritten by the daemon: read it with an atomic load */
    uint64_t created_ns;
    uint64_t game_beat_ns; /* rewritten by the game (CLOCK_MONOTONIC ns): an atomic store */
} rv_segment_header;

typedef struct rv_slot_header {
    uint32_t state; /* written last by each side: release store / acquire load */
    uint32_t flags;
    uint64_t seq;
    uint64_t frame_id;
    uint64_t t_submit_ns;
    uint64_t t_start_ns;
    uint64_t t_done_ns;
    float jitter_x;
    float jitter_y;
    float near_m;
    float far_m;
    float fov_y;
    uint32_t error_code;
    char error_text[RV_ERROR_TEXT_BYTES];
    uint8_t _reserved[56];
} rv_slot_header;

_Static_assert(sizeof(rv_segment_header) == 136, "segment header is 136 bytes (padded to one page in the segment)");
_Static_assert(offsetof(rv_segment_header, slot_stride) == 32, "slot_stride at 32");
_Static_assert(offsetof(rv_segment_header, color_offset) == 48, "color_offset at 48");
_Static_assert(offsetof(rv_segment_header, generation) == 96, "generation at 96");
_Static_assert(offsetof(rv_segment_header, heartbeat_ns) == 112, "heartbeat_ns at 112");
_Static_assert(offsetof(rv_segment_header, game_beat_ns) == 128, "game_beat_ns at 128");
_Static_assert(sizeof(rv_slot_header) == RV_SLOT_HEADER_BYTES, "slot header is 256 bytes");
_Static_assert(offsetof(rv_slot_header, jitter_x) == 48, "jitter_x at 48");
_Static_assert(offsetof(rv_slot_header, error_code) == 68, "error_code at 68");
_Static_assert(offsetof(rv_slot_header, error_text) == 72, "error_text at 72");

#endif
