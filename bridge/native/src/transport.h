/* The CUDA transport's protocol side (protocol 1.2): what open_ring sends and takes back
 * for a CUDA ring, and when a device ring may be freed. Plain C (no CUDA types): the GPU
 * work itself is cuda_ring.c's. */
#ifndef RV_TRANSPORT_H
#define RV_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "cuda_ring.h"
#include "msg.h"
#include "reverie.h"

#define RV_RETIRED_MAX 8 /* device rings waiting for the daemon to let go of them */
#define RV_CUDA_OPEN_RING_FIELDS 5 /* transport, cuda_device, cuda_memory, cuda_bytes, cuda_events */

/* What the game offers the daemon: the device and the IPC handles of a new device ring. */
typedef struct rv_cuda_offer {
    char uuid[48];
    uint8_t memory[RV_CUDA_HANDLE_BYTES];
    uint8_t events[RV_MAX_SLOTS][RV_CUDA_HANDLE_BYTES];
} rv_cuda_offer;

/* The device rings of one client: the one in use and the retired ones. */
typedef struct rv_device_rings {
    rv_cuda_ring retired[RV_RETIRED_MAX];
    uint32_t retired_count;
    uint64_t leaked_bytes;   /* rings never freed: the daemon might still map them (docs/native.md) */
    uint64_t last_sweep_ns;
} rv_device_rings;

/* Allocate a device ring of `bytes` for `slots` on `device` and fill the offer. */
reverie_result rv_transport_prepare(rv_cuda_ring* fresh, rv_cuda_offer* offer, int device, uint64_t bytes, uint32_t slots);

/* The open_ring fields of a CUDA ring (RV_CUDA_OPEN_RING_FIELDS of them). */
void rv_transport_put(rv_request* req, const rv_cuda_ring* fresh, const rv_cuda_offer* offer);

/* Read the reply's transport and cuda_events and open the daemon's events. */
reverie_result rv_transport_accept(rv_cuda_ring* fresh, const msgpack_object* reply);

/* The lifetime rules (docs/native.md "GPU mode", notes of protocol 1.2). A device ring is
 * freed only once the daemon has let go of it: it answered `bye`, a later open_ring of
 * the same session or a hello that replaced the session, refused the session as
 * unknown, or its process is gone (protocol 11.5). Until then it
 * is retired here; rv_transport_sweep frees those whose daemon died. */
void rv_transport_retire(rv_device_rings* d, rv_cuda_ring* ring);
/* Free the retired rings of `session` on daemon `daemon_pid` (0: any daemon). */
void rv_transport_release_session(rv_device_rings* d, const char* session, uint32_t daemon_pid);
void rv_transport_sweep(rv_device_rings* d, uint64_t now_ns, bool force);
/* At reverie_close: free what may be freed, leave the rest allocated (never freed). */
void rv_transport_close(rv_device_rings* d);

#endif
