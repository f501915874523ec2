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
    uint64_t total_bytes;
} rv_layout;

/* The one layout rule (protocol 2.4): slot header, then color, depth, motion, output,
 * each on a 4096-byte boundary. */
void rv_layout_compute(rv_layout* out, uint32_t width, uint32_t height, uint32_t slot_count, uint32_t motion_format);

typedef struct rv_ring {
    uint8_t* base;      /* NULL when no ring is mapped */
    uint64_t size;
    rv_layout layout;
    char name[128];
} rv_ring;

/* shm_open("/" + name), map all of it (pre-faulted), check magic, version and layout. */
reverie_result rv_ring_attach(rv_ring* ring, const char* name);

/* Unmap; when the daemon that made the segment is dead, unlink it too (it cannot). */
void rv_ring_detach(rv_ring* ring);

static inline rv_segment_header* rv_ring_header(const rv_ring* ring) { return (rv_segment_header*)ring->base; }

static inline rv_slot_header* rv_ring_slot(const rv_ring* ring, uint32_t slot) {
    return (rv_slot_header*)(ring->base + RV_SEGMENT_HEADER_BYTES + (uint64_t)slot * ring->layout.slot_stride);
}

static inline uint8_t* rv_ring_plane(const rv_ring* ring, uint32_t slot, uint64_t plane_offset) {
    return (uint8_t*)rv_ring_slot(ring, slot) + plane_offset;
}

/* The daemon's heartbeat word, read atomically. */
uint64_t rv_ring_heartbeat(const rv_ring* ring);

/* True if a process with this pid exists and is not a zombie. */
bool rv_pid_alive(uint32_t pid);

#endif
