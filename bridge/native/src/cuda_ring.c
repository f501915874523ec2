/* The CUDA runtime calls of a CUDA ring (cuda_ring.h): allocate and export the planes and
 * events, import the daemon's events, order the two processes' streams, copy rows. Built
 * only with REVERIE_CUDA=ON. Every call first makes the ring's device current (and puts
 * the caller's back after), because the render thread may have another device current. */
#include "cuda_ring.h"

#include <cuda_runtime_api.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

bool rv_cuda_built(void) { return true; }

/* Make `device` current for the length of one call. */
typedef struct device_scope {
    int previous;
    bool switched;
} device_scope;

static cudaError_t enter(device_scope* scope, int device) {
    scope->switched = false;
    cudaError_t e = cudaGetDevice(&scope->previous);
    if (e != cudaSuccess) return e;
    if (scope->previous == device) return cudaSuccess;
    scope->switched = true;
    return cudaSetDevice(device);
}

static void leave(const device_scope* scope) {
    if (scope->switched) cudaSetDevice(scope->previous);
}

static reverie_result cuda_fail(reverie_result code, const char* what, cudaError_t e) {
    return rv_fail(code, "%s failed: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

reverie_result rv_cuda_device_check(int device, char* uuid, size_t cap) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess)
        return rv_fail(REVERIE_UNSUPPORTED, "no usable CUDA device: cudaGetDeviceCount: %s (%s)", cudaGetErrorString(e),
                       cudaGetErrorName(e));
    if (device < 0 || device >= count)
        return rv_fail(REVERIE_INVALID_ARGUMENT, "CUDA device %d does not exist (this process sees %d)", device, count);
    int ipc = 0;
    e = cudaDeviceGetAttribute(&ipc, cudaDevAttrIpcEventSupport, device);
    if (e != cudaSuccess) return cuda_fail(REVERIE_UNSUPPORTED, "cudaDeviceGetAttribute(IpcEventSupport)", e);
    if (!ipc) return rv_fail(REVERIE_UNSUPPORTED, "CUDA device %d cannot share memory and events with another process (no CUDA IPC)", device);
    if (cap == 0) return REVERIE_OK;
    struct cudaDeviceProp prop;
    e = cudaGetDeviceProperties(&prop, device);
    if (e != cudaSuccess) return cuda_fail(REVERIE_SYSTEM, "cudaGetDeviceProperties", e);
    const unsigned char* b = (const unsigned char*)prop.uuid.bytes;
    snprintf(uuid, cap, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return REVERIE_OK;
}

/* Release what create made; the caller has made the device current. */
static void release(rv_cuda_ring* ring) {
    for (uint32_t s = 0; s < RV_MAX_SLOTS; s++)
        if (ring->game_events[s] != NULL) cudaEventDestroy((cudaEvent_t)ring->game_events[s]);
    if (ring->copy_stream != NULL) cudaStreamDestroy((cudaStream_t)ring->copy_stream);
    if (ring->base != NULL) cudaFree(ring->base);
}

reverie_result rv_cuda_ring_create(rv_cuda_ring* ring, int device, uint64_t bytes, uint32_t slots) {
    memset(ring, 0, sizeof *ring);
    if (slots > RV_MAX_SLOTS) return rv_fail(REVERIE_INVALID_ARGUMENT, "a CUDA ring of %u slots", slots);
    device_scope scope;
    cudaError_t e = enter(&scope, device);
    if (e != cudaSuccess) return cuda_fail(REVERIE_UNSUPPORTED, "cudaSetDevice", e);
    ring->device = device;
    ring->bytes = bytes;
    ring->slots = slots;
    reverie_result r = REVERIE_OK;
    void* base = NULL;
    e = cudaMalloc(&base, bytes);
    if (e != cudaSuccess) {
        r = rv_fail(REVERIE_OUT_OF_MEMORY, "cudaMalloc of a %llu-byte CUDA ring on device %d: %s", (unsigned long long)bytes,
                    device, cudaGetErrorString(e));
        cudaGetLastError(); /* an allocation failure is not sticky: clear it */
    }
    ring->base = base;
    for (uint32_t s = 0; r == REVERIE_OK && s < slots; s++) {
        cudaEvent_t ev = NULL;
        /* The only flags CUDA accepts for an event another process may open. */
        e = cudaEventCreateWithFlags(&ev, cudaEventInterprocess | cudaEventDisableTiming);
        if (e != cudaSuccess) r = cuda_fail(REVERIE_SYSTEM, "cudaEventCreateWithFlags(Interprocess | DisableTiming)", e);
        ring->game_events[s] = ev;
    }
    cudaStream_t copy = NULL;
    /* Non-blocking: the output copies wait for the daemon's event only, never for the
     * engine's work on the legacy default stream. */
    if (r == REVERIE_OK && (e = cudaStreamCreateWithFlags(&copy, cudaStreamNonBlocking)) != cudaSuccess)
        r = cuda_fail(REVERIE_SYSTEM, "cudaStreamCreateWithFlags", e);
    ring->copy_stream = copy;
    if (r != REVERIE_OK) {
        release(ring);
        memset(ring, 0, sizeof *ring);
    }
    leave(&scope);
    return r;
}

reverie_result rv_cuda_ring_handles(const rv_cuda_ring* ring, uint8_t memory[RV_CUDA_HANDLE_BYTES],
                                    uint8_t events[][RV_CUDA_HANDLE_BYTES]) {
    _Static_assert(sizeof(cudaIpcMemHandle_t) == RV_CUDA_HANDLE_BYTES, "cudaIpcMemHandle_t is 64 bytes");
    _Static_assert(sizeof(cudaIpcEventHandle_t) == RV_CUDA_HANDLE_BYTES, "cudaIpcEventHandle_t is 64 bytes");
    device_scope scope;
    cudaError_t e = enter(&scope, ring->device);
    if (e != cudaSuccess) return cuda_fail(REVERIE_SYSTEM, "cudaSetDevice", e);
    reverie_result r = REVERIE_OK;
    cudaIpcMemHandle_t mh;
    if ((e = cudaIpcGetMemHandle(&mh, ring->base)) != cudaSuccess) r = cuda_fail(REVERIE_SYSTEM, "cudaIpcGetMemHandle", e);
    else memcpy(memory, &mh, sizeof mh);
    for (uint32_t s = 0; r == REVERIE_OK && s < ring->slots; s++) {
        cudaIpcEventHandle_t eh;
        if ((e = cudaIpcGetEventHandle(&eh, (cudaEvent_t)ring->game_events[s])) != cudaSuccess)
            r = cuda_fail(REVERIE_SYSTEM, "cudaIpcGetEventHandle", e);
        else
            memcpy(events[s], &eh, sizeof eh);
    }
    leave(&scope);
    return r;
}

reverie_result rv_cuda_ring_import_events(rv_cuda_ring* ring, const uint8_t (*handles)[RV_CUDA_HANDLE_BYTES], uint32_t count) {
    if (count != ring->slots)
        return rv_fail(REVERIE_PROTOCOL, "the daemon sent %u CUDA events for a ring of %u slots", count, ring->slots);
    device_scope scope;
    cudaError_t e = enter(&scope, ring->device);
    if (e != cudaSuccess) return cuda_fail(REVERIE_SYSTEM, "cudaSetDevice", e);
    reverie_result r = REVERIE_OK;
    for (uint32_t s = 0; r == REVERIE_OK && s < count; s++) {
        cudaIpcEventHandle_t h;
        memcpy(&h, handles[s], sizeof h);
        cudaEvent_t ev = NULL;
        if ((e = cudaIpcOpenEventHandle(&ev, h)) != cudaSuccess)
            r = cuda_fail(REVERIE_PROTOCOL, "cudaIpcOpenEventHandle on the daemon's event", e);
        ring->daemon_events[s] = ev;
    }
    leave(&scope);
    if (r != REVERIE_OK) rv_cuda_ring_close_imports(ring);
    return r;
}

void rv_cuda_ring_close_imports(rv_cuda_ring* ring) {
    device_scope scope;
    bool entered = enter(&scope, ring->device) == cudaSuccess;
    for (uint32_t s = 0; s < RV_MAX_SLOTS; s++) {
        if (ring->daemon_events[s] != NULL) cudaEventDestroy((cudaEvent_t)ring->daemon_events[s]);
        ring->daemon_events[s] = NULL;
    }
    if (entered) leave(&scope);
}

void rv_cuda_ring_free(rv_cuda_ring* ring) {
    if (ring->base == NULL && ring->copy_stream == NULL) return;
    rv_cuda_ring_close_imports(ring);
    device_scope scope;
    bool entered = enter(&scope, ring->device) == cudaSuccess;
    /* Our readbacks are synchronous and the daemon is done with the memory (the caller
     * checked): what may still run is the engine's own work on the planes, which cudaFree
     * waits for (it synchronizes the device). */
    release(ring);
    if (entered) leave(&scope);
    memset(ring, 0, sizeof *ring);
}

reverie_result rv_cuda_record_inputs(rv_cuda_ring* ring, uint32_t slot, void* stream) {
    device_scope scope;
    cudaError_t e = enter(&scope, ring->device);
    if (e == cudaSuccess) e = cudaEventRecord((cudaEvent_t)ring->game_events[slot], (cudaStream_t)stream);
    leave(&scope);
    return e == cudaSuccess ? REVERIE_OK : cuda_fail(REVERIE_SYSTEM, "cudaEventRecord on the session's stream", e);
}

reverie_result rv_cuda_wait_daemon(rv_cuda_ring* ring, uint32_t slot, void* stream) {
    device_scope scope;
    cudaError_t e = enter(&scope, ring->device);
    if (e == cudaSuccess) e = cudaStreamWaitEvent((cudaStream_t)stream, (cudaEvent_t)ring->daemon_events[slot], 0);
    leave(&scope);
    return e == cudaSuccess ? REVERIE_OK : cuda_fail(REVERIE_SYSTEM, "cudaStreamWaitEvent on the daemon's event", e);
}

reverie_result rv_cuda_copy_rows(rv_cuda_ring* ring, void* dst, uint64_t dst_pitch, const void* src, uint64_t src_pitch,
                                 uint32_t rows, uint64_t row_bytes, bool flip, void* stream, bool sync) {
    device_scope scope;
    cudaError_t e = enter(&scope, ring->device);
    cudaStream_t st = (cudaStream_t)stream;
    if (e == cudaSuccess && !flip) {
        e = cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, row_bytes, rows, cudaMemcpyDefault, st);
    } else {
        /* Pitches are unsigned in CUDA, so a flip cannot be one 2D copy: one copy per row,
         * all queued before any runs. */
        for (uint32_t y = 0; e == cudaSuccess && y < rows; y++)
            e = cudaMemcpyAsync((uint8_t*)dst + (uint64_t)y * dst_pitch, (const uint8_t*)src + (uint64_t)(rows - 1 - y) * src_pitch,
                                row_bytes, cudaMemcpyDefault, st);
    }
    if (e == cudaSuccess && sync) e = cudaStreamSynchronize(st);
    leave(&scope);
    return e == cudaSuccess ? REVERIE_OK : cuda_fail(REVERIE_SYSTEM, "copying rows with cudaMemcpy", e);
}
