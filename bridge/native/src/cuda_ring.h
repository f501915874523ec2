/* The game's side of a CUDA ring (protocol 1.2, the CUDA IPC transport): one device
 * allocation holding every slot's planes, laid out by the host ring's rule, and the
 * per-slot events that order the game's and the daemon's GPU work.
 *
 * This header names no CUDA type, so the rest of the library (and the CPU build) can
 * hold an rv_cuda_ring: CUDA handles are kept as void*. cuda_ring.c implements it with the
 * CUDA runtime (REVERIE_CUDA=ON); cuda_none.c is the CPU build's stand-in, whose every
 * call says the library was built without CUDA. */
#ifndef RV_CUDA_RING_H
#define RV_CUDA_RING_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol.h"
#include "reverie.h"

typedef struct rv_cuda_ring {
    uint8_t* base;                        /* the device allocation; NULL: none */
    uint64_t bytes;                       /* ring_layout(...).total_bytes */
    int device;                           /* CUDA device ordinal it lives on */
    uint32_t slots;
    void* game_events[RV_MAX_SLOTS];      /* ours, exported: "inputs written" */
    void* daemon_events[RV_MAX_SLOTS];    /* the daemon's, imported: "output written" */
    void* copy_stream;                    /* private stream for the blocking output copies */
    /* Who may have it mapped, for the lifetime rules (transport.c). */
    uint32_t daemon_pid;
    char session[72];
} rv_cuda_ring;

/* True when the library was built with CUDA (REVERIE_CUDA=ON). */
bool rv_cuda_built(void);

/* Check that `device` is a usable CUDA device that can share memory and events with
 * another process; uuid gets its "GPU-xxxxxxxx-..." name (nvidia-smi's form) when cap > 0.
 * REVERIE_UNSUPPORTED: no CUDA (built without it, no driver, no device, no IPC);
 * REVERIE_INVALID_ARGUMENT: no such device ordinal. */
reverie_result rv_cuda_device_check(int device, char* uuid, size_t cap);

/* cudaMalloc `bytes` on `device` and create `slots` interprocess events and the copy
 * stream. On failure nothing is left allocated. */
reverie_result rv_cuda_ring_create(rv_cuda_ring* ring, int device, uint64_t bytes, uint32_t slots);

/* The 64-byte IPC handles for open_ring: the allocation's and each event's. */
reverie_result rv_cuda_ring_handles(const rv_cuda_ring* ring, uint8_t memory[RV_CUDA_HANDLE_BYTES],
                                    uint8_t events[][RV_CUDA_HANDLE_BYTES]);

/* Open the daemon's per-slot events from the open_ring reply (cudaIpcOpenEventHandle). */
reverie_result rv_cuda_ring_import_events(rv_cuda_ring* ring, const uint8_t (*handles)[RV_CUDA_HANDLE_BYTES], uint32_t count);

/* Destroy the imported daemon events (always safe: we are their importer). */
void rv_cuda_ring_close_imports(rv_cuda_ring* ring);

/* cudaFree the allocation and destroy our events and stream. Only once the daemon has
 * closed them or is dead (transport.c decides); freeing memory another process still has
 * open is undefined behaviour in CUDA. Leaves *ring zeroed. */
void rv_cuda_ring_free(rv_cuda_ring* ring);

/* cudaEventRecord(game_events[slot], stream): the inputs written on `stream` so far are
 * what the daemon will read. */
reverie_result rv_cuda_record_inputs(rv_cuda_ring* ring, uint32_t slot, void* stream);

/* cudaStreamWaitEvent(stream, daemon_events[slot]): work queued on `stream` afterwards
 * runs after the daemon's last work on the slot (its output written, its inputs read).
 * A daemon event never recorded yet makes this a no-op, as CUDA defines it. */
reverie_result rv_cuda_wait_daemon(rv_cuda_ring* ring, uint32_t slot, void* stream);

/* Copy `rows` rows of `row_bytes` between any two pointers CUDA can address (host or
 * device: cudaMemcpyDefault), on the ring's device, reversing the row order when flip.
 * Queued on `stream`;
 * with `sync` the call returns once the copy is done. */
reverie_result rv_cuda_copy_rows(rv_cuda_ring* ring, void* dst, uint64_t dst_pitch, const void* src, uint64_t src_pitch, uint32_t rows,
                                 uint64_t row_bytes, bool flip, void* stream, bool sync);

#endif
