/* The CUDA transport's open_ring fields and reply, and the rule for when a device ring
 * may be freed. Freeing memory that another process still has open through CUDA IPC is
 * undefined behaviour, so the library frees a device ring only on proof that the daemon
 * closed it, and otherwise keeps it allocated (the driver frees it with our process). */
#include "transport.h"

#include <string.h>

#include "error.h"
#include "ring.h"

reverie_result rv_transport_prepare(rv_cuda_ring* fresh, rv_cuda_offer* offer, int device, uint64_t bytes, uint32_t slots) {
    memset(offer, 0, sizeof *offer);
    reverie_result r = rv_cuda_device_check(device, offer->uuid, sizeof offer->uuid);
    if (r == REVERIE_OK) r = rv_cuda_ring_create(fresh, device, bytes, slots);
    if (r != REVERIE_OK) return r;
    r = rv_cuda_ring_handles(fresh, offer->memory, offer->events);
    if (r != REVERIE_OK) rv_cuda_ring_free(fresh); /* nobody has seen a handle yet */
    return r;
}

void rv_transport_put(rv_request* req, const rv_cuda_ring* fresh, const rv_cuda_offer* offer) {
    rv_put_str(req, "transport", "cuda");
    rv_put_str(req, "cuda_device", offer->uuid);
    rv_put_bin(req, "cuda_memory", offer->memory, RV_CUDA_HANDLE_BYTES);
    rv_put_uint(req, "cuda_bytes", fresh->bytes);
    rv_put_bin_array(req, "cuda_events", &offer->events[0][0], RV_CUDA_HANDLE_BYTES, fresh->slots);
}

reverie_result rv_transport_accept(rv_cuda_ring* fresh, const msgpack_object* reply) {
    char transport[16] = "";
    if (!rv_get_str(reply, "transport", transport, sizeof transport) || strcmp(transport, "cuda") != 0)
        return rv_fail(REVERIE_PROTOCOL, "the daemon answered a CUDA open_ring with transport '%s'", transport);
    const msgpack_object* events = rv_get(reply, "cuda_events");
    if (events == NULL || events->type != MSGPACK_OBJECT_ARRAY || events->via.array.size != fresh->slots)
        return rv_fail(REVERIE_PROTOCOL, "garbled open_ring reply: cuda_events is not an array of %u handles", fresh->slots);
    uint8_t handles[RV_MAX_SLOTS][RV_CUDA_HANDLE_BYTES];
    for (uint32_t s = 0; s < fresh->slots; s++) {
        const msgpack_object* o = &events->via.array.ptr[s];
        if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != RV_CUDA_HANDLE_BYTES)
            return rv_fail(REVERIE_PROTOCOL, "garbled open_ring reply: cuda_events[%u] is not %u bytes of bin", s, RV_CUDA_HANDLE_BYTES);
        memcpy(handles[s], o->via.bin.ptr, RV_CUDA_HANDLE_BYTES);
    }
    return rv_cuda_ring_import_events(fresh, (const uint8_t(*)[RV_CUDA_HANDLE_BYTES])handles, fresh->slots);
}

/* Never freed: the daemon may still have it mapped and we have no way left to learn when
 * it stops. Its memory returns to the driver when this process exits. */
static void leak(rv_device_rings* d, rv_cuda_ring* ring) {
    d->leaked_bytes += ring->bytes;
    memset(ring, 0, sizeof *ring);
}

void rv_transport_retire(rv_device_rings* d, rv_cuda_ring* ring) {
    if (ring->base == NULL) return;
    rv_cuda_ring_close_imports(ring); /* ours to close at any time */
    if (ring->daemon_pid != 0 && !rv_pid_alive(ring->daemon_pid)) {
        rv_cuda_ring_free(ring); /* a dead importer's mappings died with it */
        return;
    }
    if (d->retired_count == RV_RETIRED_MAX) {
        leak(d, ring);
        return;
    }
    d->retired[d->retired_count++] = *ring;
    memset(ring, 0, sizeof *ring);
}

static void drop_at(rv_device_rings* d, uint32_t i) {
    d->retired[i] = d->retired[--d->retired_count];
    memset(&d->retired[d->retired_count], 0, sizeof d->retired[0]);
}

void rv_transport_release_session(rv_device_rings* d, const char* session, uint32_t daemon_pid) {
    for (uint32_t i = 0; i < d->retired_count;) {
        const rv_cuda_ring* ring = &d->retired[i];
        if (strcmp(ring->session, session) == 0 && (daemon_pid == 0 || ring->daemon_pid == daemon_pid)) {
            rv_cuda_ring_free(&d->retired[i]);
            drop_at(d, i);
        } else {
            i++;
        }
    }
}

void rv_transport_sweep(rv_device_rings* d, uint64_t now_ns, bool force) {
    /* A /proc read per retired ring: at most once a second, not every frame. */
    if (d->retired_count == 0 || (!force && now_ns - d->last_sweep_ns < 1000000000ull)) return;
    d->last_sweep_ns = now_ns;
    for (uint32_t i = 0; i < d->retired_count;) {
        if (d->retired[i].daemon_pid != 0 && !rv_pid_alive(d->retired[i].daemon_pid)) {
            rv_cuda_ring_free(&d->retired[i]);
            drop_at(d, i);
        } else {
            i++;
        }
    }
}

void rv_transport_close(rv_device_rings* d) {
    rv_transport_sweep(d, 0, true);
    while (d->retired_count > 0) {
        leak(d, &d->retired[d->retired_count - 1]);
        d->retired_count--;
    }
}
