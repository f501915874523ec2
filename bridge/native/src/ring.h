/* The shared-memory ring on the game side: the layout rule, attaching to the daemon's
 * segment with the checks of protocol 2.1, and pointers to slots and planes. */
#ifndef RV_RING_H
#define RV_RING_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol.h"
#include "reverie.h"

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
    char name[128];
} rv_ring;

/* shm_open("/" + name), map all of it (pre-faulted), check magic, version and layout.
 * device_planes: we asked for a CUDA ring, so the segment must carry
 * RV_RING_FLAG_DEVICE_PLANES and be at least control_bytes long (and not carry it otherwise). */
reverie_result rv_ring_attach(rv_ring* ring, const char* name, bool device_planes);

/* Unmap; when the daemon that made the segment is dead, unlink it too (it cannot). */
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

/* True if a process with this pid exists and is not a zombie. */
bool rv_pid_alive(uint32_t pid);

#endif
