/* The shared-memory ring on the game side: the layout rule, attaching to the daemon's
 * segment with the checks of protocol 2.1, pointers to slots and planes, and the two
 * heartbeats (the daemon's, which the game reads, and the game's, which it writes). */
#ifndef RV_RING_H
#define RV_RING_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol.h"
#include "reverie.h"

#define RV_SEGMENT_PATH_CAP 32 /* "/proc/" + 10 digits + "/fd/" + 10 digits, and the NUL */

typedef struct rv_layout {
    uint32_t width, height, slot_count, motion_format;
    uint64_t color_offset, depth_offset, motion_offset, output_offset, slot_stride;
    uint64_t color_pitch, depth_pitch, motion_pitch, output_pitch;
    uint64_t total_bytes;   /* the whole ring: the host segment, or a CUDA ring's device allocation */
    uint64_t control_bytes; /* a CUDA ring's host segment: header page + slot headers */
} rv_layout;

/* The one layout rule (protocol 2.4): slot header, then color, depth, motion, output,
 * each on a 4096-byte boundary. */
void rv_layout_compute(rv_layout* out, uint32_t width, uint32_t height, uint32_t slot_count, uint32_t motion_format);

typedef struct rv_ring {
    uint8_t* base;      /* NULL when no ring is mapped */
    uint64_t size;
    bool device_planes; /* a CUDA ring: this segment holds headers only, no planes */
    uint64_t header_stride; /* bytes from one slot header to the next */
    rv_layout layout;
    char path[RV_SEGMENT_PATH_CAP]; /* the /proc path it was opened by (the open_ring reply's segment) */
} rv_ring;

/* True if the `len` bytes at `path` are exactly /proc/<digits>/fd/<digits> (1 to 10 digits
 * each, as bridge/protocol.py's check_segment_path): the only file a daemon may make the
 * game open. */
bool rv_segment_path_valid(const char* path, size_t len);

/* Attach to the segment the daemon named in open_ring (`len` bytes at `path`, not
 * necessarily NUL-terminated): check the path's shape, open it (the daemon's memfd, through
 * /proc), fstat it (a regular file, from the header page to RV_MAX_RING_BYTES), map all of
 * it (pre-faulted), close the fd, and check magic, version and layout. device_planes: we asked for a CUDA ring, so the segment must carry
 * RV_RING_FLAG_DEVICE_PLANES and be at least control_bytes long (and not carry it otherwise). */
reverie_result rv_ring_attach(rv_ring* ring, const char* path, size_t len, bool device_planes);

/* Unmap. The segment itself goes when the last process holding or mapping it lets go. */
void rv_ring_detach(rv_ring* ring);

static inline rv_segment_header* rv_ring_header(const rv_ring* ring) { return (rv_segment_header*)ring->base; }

/* A slot's header: in front of its planes (host ring), or packed after the header page
 * (CUDA ring: SEGMENT_HEADER_BYTES + slot * SLOT_HEADER_BYTES). */
static inline rv_slot_header* rv_ring_slot(const rv_ring* ring, uint32_t slot) {
    return (rv_slot_header*)(ring->base + RV_SEGMENT_HEADER_BYTES + (uint64_t)slot * ring->header_stride);
}

/* Where plane `plane_offset` of `slot` starts, counted from the ring's base: the host
 * segment's mapping, or a CUDA ring's device allocation (the same rule for both). */
static inline uint64_t rv_plane_offset(const rv_layout* layout, uint32_t slot, uint64_t plane_offset) {
    return RV_SEGMENT_HEADER_BYTES + (uint64_t)slot * layout->slot_stride + plane_offset;
}

/* A host ring's plane (never called for a CUDA ring: its planes are device memory). */
static inline uint8_t* rv_ring_plane(const rv_ring* ring, uint32_t slot, uint64_t plane_offset) {
    return ring->base + rv_plane_offset(&ring->layout, slot, plane_offset);
}

/* The daemon's heartbeat word, read atomically. */
uint64_t rv_ring_heartbeat(const rv_ring* ring);

/* The game's heartbeat: store `now_ns` (CLOCK_MONOTONIC) into game_beat_ns, atomically.
 * The daemon closes a session whose game_beat_ns stops changing (with no frame notice and
 * no control request either) for the hello reply's session_timeout_s. */
void rv_ring_game_beat(const rv_ring* ring, uint64_t now_ns);

/* True if a process with this pid exists and is not a zombie. */
bool rv_pid_alive(uint32_t pid);

#endif
