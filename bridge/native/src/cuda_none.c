/* The CPU build's stand-in for cuda_ring.c (REVERIE_CUDA=OFF): the library links no CUDA,
 * and every call that would need it says so. reverie_set_transport refuses the CUDA
 * transport before any of these could be reached; they exist so the frame path links. */
#include "cuda_ring.h"

#include <string.h>

#include "error.h"

#define WITHOUT_CUDA "this libreverie was built without CUDA (configure it with -DREVERIE_CUDA=ON and the CUDA toolkit)"

bool rv_cuda_built(void) { return false; }

reverie_result rv_cuda_device_check(int device, char* uuid, size_t cap) {
    (void)device;
    if (cap > 0) uuid[0] = '\0';
    return rv_fail(REVERIE_UNSUPPORTED, WITHOUT_CUDA);
}

reverie_result rv_cuda_ring_create(rv_cuda_ring* ring, int device, uint64_t bytes, uint32_t slots) {
    (void)device, (void)bytes, (void)slots;
    memset(ring, 0, sizeof *ring);
    return rv_fail(REVERIE_UNSUPPORTED, WITHOUT_CUDA);
}

reverie_result rv_cuda_ring_handles(const rv_cuda_ring* ring, uint8_t memory[RV_CUDA_HANDLE_BYTES],
                                    uint8_t events[][RV_CUDA_HANDLE_BYTES]) {
    (void)ring, (void)memory, (void)events;
    return rv_fail(REVERIE_UNSUPPORTED, WITHOUT_CUDA);
}

reverie_result rv_cuda_ring_import_events(rv_cuda_ring* ring, const uint8_t (*handles)[RV_CUDA_HANDLE_BYTES], uint32_t count) {
    (void)ring, (void)handles, (void)count;
    return rv_fail(REVERIE_UNSUPPORTED, WITHOUT_CUDA);
}

void rv_cuda_ring_close_imports(rv_cuda_ring* ring) { (void)ring; }

void rv_cuda_ring_free(rv_cuda_ring* ring) { memset(ring, 0, sizeof *ring); }

reverie_result rv_cuda_record_inputs(rv_cuda_ring* ring, uint32_t slot, void* stream) {
    (void)ring, (void)slot, (void)stream;
    return rv_fail(REVERIE_UNSUPPORTED, WITHOUT_CUDA);
}

reverie_result rv_cuda_wait_daemon(rv_cuda_ring* ring, uint32_t slot, void* stream) {
    (void)ring, (void)slot, (void)stream;
    return rv_fail(REVERIE_UNSUPPORTED, WITHOUT_CUDA);
}

reverie_result rv_cuda_copy_rows(rv_cuda_ring* ring, void* dst, uint64_t dst_pitch, const void* src, uint64_t src_pitch,
                                 uint32_t rows, uint64_t row_bytes, bool flip, void* stream, bool sync) {
    (void)ring, (void)dst, (void)dst_pitch, (void)src, (void)src_pitch, (void)rows, (void)row_bytes, (void)flip, (void)stream, (void)sync;
    return rv_fail(REVERIE_UNSUPPORTED, WITHOUT_CUDA);
}
