/* Attach to the daemon's ring segment. The daemon creates and sizes it; the game only
 * maps it and checks it is what the layout rule says, refusing anything else. */
#include "ring.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

static uint64_t align_up(uint64_t n) { return (n + RV_PLANE_ALIGN - 1) / RV_PLANE_ALIGN * RV_PLANE_ALIGN; }

void rv_layout_compute(rv_layout* out, uint32_t width, uint32_t height, uint32_t slot_count, uint32_t motion_format) {
    uint64_t pixels = (uint64_t)width * height;
    uint64_t motion_bytes = motion_format == RV_MOTION_F16 ? 4 : 8;
    memset(out, 0, sizeof *out);
    out->width = width;
    out->height = height;
    out->slot_count = slot_count;
    out->motion_format = motion_format;
    out->color_offset = align_up(RV_SLOT_HEADER_BYTES);
    out->depth_offset = out->color_offset + align_up(pixels * 4);
    out->motion_offset = out->depth_offset + align_up(pixels * 4);
    out->output_offset = out->motion_offset + align_up(pixels * motion_bytes);
    out->slot_stride = out->output_offset + align_up(pixels * 4);
    out->color_pitch = out->depth_pitch = out->output_pitch = (uint64_t)width * 4;
    out->motion_pitch = (uint64_t)width * motion_bytes;
    out->total_bytes = RV_SEGMENT_HEADER_BYTES + (uint64_t)slot_count * out->slot_stride;
    out->control_bytes = RV_SEGMENT_HEADER_BYTES + (uint64_t)slot_count * RV_SLOT_HEADER_BYTES;
}

static reverie_result refuse(uint8_t* base, uint64_t size, reverie_result code, const char* why, const char* name) {
    munmap(base, size);
    return rv_fail(code, "segment '%s' %s", name, why);
}

reverie_result rv_ring_attach(rv_ring* ring, const char* name, bool device_planes) {
    memset(ring, 0, sizeof *ring);
    char path[160];
    if (snprintf(path, sizeof path, "/%s", name) >= (int)sizeof path || strchr(name, '/') != NULL)
        return rv_fail(REVERIE_PROTOCOL, "the daemon named an unusable segment '%s'", name);
    int fd = shm_open(path, O_RDWR, 0);
    if (fd < 0) return rv_fail(REVERIE_PROTOCOL, "shared-memory segment '%s' cannot be opened: %s", name, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)RV_SEGMENT_HEADER_BYTES) {
        close(fd);
        return rv_fail(REVERIE_PROTOCOL, "segment '%s' is too small to be a ring", name);
    }
    uint64_t size = (uint64_t)st.st_size;
    uint8_t* base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    close(fd);
    if (base == MAP_FAILED) return rv_fail(REVERIE_SYSTEM, "mmap of segment '%s' (%llu bytes): %s", name, (unsigned long long)size, strerror(errno));
    const rv_segment_header* h = (const rv_segment_header*)base;
    if (h->magic != RV_MAGIC) return refuse(base, size, REVERIE_PROTOCOL, "is not a Reverie ring (bad magic)", name);
    if (h->version_major != RV_PROTOCOL_MAJOR) return refuse(base, size, REVERIE_PROTOCOL, "has another protocol major version", name);
    if (h->width < RV_MIN_SIDE || h->width > RV_MAX_SIDE || h->height < RV_MIN_SIDE || h->height > RV_MAX_SIDE ||
        h->slot_count < RV_MIN_SLOTS || h->slot_count > RV_MAX_SLOTS || h->motion_format > RV_MOTION_F16)
        return refuse(base, size, REVERIE_PROTOCOL, "has a header outside the protocol's ranges", name);
    rv_layout layout;
    rv_layout_compute(&layout, h->width, h->height, h->slot_count, h->motion_format);
    if (h->slot_stride != layout.slot_stride || h->color_offset != layout.color_offset ||
        h->depth_offset != layout.depth_offset || h->motion_offset != layout.motion_offset ||
        h->output_offset != layout.output_offset)
        return refuse(base, size, REVERIE_PROTOCOL, "disagrees with the layout rule", name);
    if (h->flags & ~(uint32_t)RV_RING_FLAG_DEVICE_PLANES) /* a newer layout we would misread */
        return refuse(base, size, REVERIE_PROTOCOL, "has segment flags this library does not know", name);
    if (((h->flags & RV_RING_FLAG_DEVICE_PLANES) != 0) != device_planes)
        return refuse(base, size, REVERIE_PROTOCOL,
                      device_planes ? "is a host ring, but a CUDA ring was asked for" : "is a CUDA ring, but a host ring was asked for", name);
    if (size < (device_planes ? layout.control_bytes : layout.total_bytes))
        return refuse(base, size, REVERIE_PROTOCOL, "is smaller than its layout needs", name);
    ring->base = base;
    ring->size = size;
    ring->device_planes = device_planes;
    ring->header_stride = device_planes ? RV_SLOT_HEADER_BYTES : layout.slot_stride;
    ring->layout = layout;
    snprintf(ring->name, sizeof ring->name, "%s", name);
    return REVERIE_OK;
}

bool rv_pid_alive(uint32_t pid) {
    if (pid == 0) return false;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) return false;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    FILE* f = fopen(path, "r");
    if (f == NULL) return true; /* exists (kill said so) but unreadable */
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char* paren = strrchr(buf, ')');
    return paren == NULL || paren[1] == '\0' || paren[2] != 'Z';
}

void rv_ring_detach(rv_ring* ring) {
    if (ring->base == NULL) return;
    uint32_t daemon_pid = rv_ring_header(ring)->daemon_pid;
    if (!rv_pid_alive(daemon_pid)) {
        char path[160];
        snprintf(path, sizeof path, "/%s", ring->name);
        shm_unlink(path); /* a dead daemon cannot remove its own segment */
    }
    munmap(ring->base, ring->size);
    memset(ring, 0, sizeof *ring);
}

uint64_t rv_ring_heartbeat(const rv_ring* ring) {
    return __atomic_load_n(&rv_ring_header(ring)->heartbeat_ns, __ATOMIC_ACQUIRE);
}
