/* Attach to the daemon's ring segment. The daemon creates, sizes and seals it (a memfd);
 * the game opens it through the /proc/<pid>/fd path the daemon names, maps it and checks
 * it is what the layout rule says, refusing anything else. */
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

static reverie_result refuse(uint8_t* base, uint64_t size, reverie_result code, const char* why, const char* path) {
    munmap(base, size);
    return rv_fail(code, "segment %s %s", path, why);
}

/* `len` bytes at `s` are 1 to 10 decimal digits. */
static bool digits(const char* s, size_t len) {
    if (len == 0 || len > 10) return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

bool rv_segment_path_valid(const char* path, size_t len) {
    static const char proc[] = "/proc/", fd[] = "/fd/";
    if (path == NULL || len <= sizeof proc - 1 || memcmp(path, proc, sizeof proc - 1) != 0) return false;
    const char* pid = path + sizeof proc - 1;
    const char* end = path + len;
    const char* slash = memchr(pid, '/', (size_t)(end - pid));
    if (slash == NULL || !digits(pid, (size_t)(slash - pid))) return false;
    if ((size_t)(end - slash) <= sizeof fd - 1 || memcmp(slash, fd, sizeof fd - 1) != 0) return false;
    const char* n = slash + sizeof fd - 1;
    return digits(n, (size_t)(end - n));
}

/* What a refused path looked like, for the message: at most 60 bytes, unprintables as '?'. */
static void shown(char* out, size_t cap, const char* path, size_t len) {
    size_t n = len < cap - 1 ? len : cap - 1;
    if (n > 60) n = 60;
    for (size_t i = 0; i < n; i++) out[i] = path[i] >= 0x20 && path[i] < 0x7f ? path[i] : '?';
    out[n] = '\0';
}

reverie_result rv_ring_attach(rv_ring* ring, const char* segment, size_t len, bool device_planes) {
    memset(ring, 0, sizeof *ring);
    if (!rv_segment_path_valid(segment, len)) {
        char seen[64];
        shown(seen, sizeof seen, segment ? segment : "", segment ? len : 0);
        return rv_fail(REVERIE_PROTOCOL, "the daemon named segment '%s%s', not a /proc/<pid>/fd/<n> path: refused to open it",
                       seen, len > 60 ? "..." : "");
    }
    char path[RV_SEGMENT_PATH_CAP];
    memcpy(path, segment, len); /* valid: at most 30 bytes */
    path[len] = '\0';
    /* The daemon's memfd, opened anew through its /proc fd link. */
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return rv_fail(REVERIE_PROTOCOL, "segment %s cannot be opened: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return rv_fail(REVERIE_PROTOCOL, "segment %s is not a shared-memory file (a memfd)", path);
    }
    if (st.st_size < (off_t)RV_SEGMENT_HEADER_BYTES || (uint64_t)st.st_size > RV_MAX_RING_BYTES) {
        close(fd); /* checked before mapping: a populated mapping of any size would cost that much memory */
        return rv_fail(REVERIE_PROTOCOL, "segment %s is %lld bytes: %s", path, (long long)st.st_size,
                       st.st_size < (off_t)RV_SEGMENT_HEADER_BYTES ? "too small to be a ring" : "more than a ring may be (4 GiB)");
    }
    uint64_t size = (uint64_t)st.st_size;
    uint8_t* base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    close(fd); /* the mapping keeps the segment */
    if (base == MAP_FAILED) return rv_fail(REVERIE_SYSTEM, "mmap of segment %s (%llu bytes): %s", path, (unsigned long long)size, strerror(errno));
    const rv_segment_header* h = (const rv_segment_header*)base;
    if (h->magic != RV_MAGIC) return refuse(base, size, REVERIE_PROTOCOL, "is not a Reverie ring (bad magic)", path);
    if (h->version_major != RV_PROTOCOL_MAJOR) return refuse(base, size, REVERIE_PROTOCOL, "has another protocol major version", path);
    if (h->width < RV_MIN_SIDE || h->width > RV_MAX_SIDE || h->height < RV_MIN_SIDE || h->height > RV_MAX_SIDE ||
        h->slot_count < RV_MIN_SLOTS || h->slot_count > RV_MAX_SLOTS || h->motion_format > RV_MOTION_F16)
        return refuse(base, size, REVERIE_PROTOCOL, "has a header outside the protocol's ranges", path);
    rv_layout layout;
    rv_layout_compute(&layout, h->width, h->height, h->slot_count, h->motion_format);
    if (h->slot_stride != layout.slot_stride || h->color_offset != layout.color_offset ||
        h->depth_offset != layout.depth_offset || h->motion_offset != layout.motion_offset ||
        h->output_offset != layout.output_offset)
        return refuse(base, size, REVERIE_PROTOCOL, "disagrees with the layout rule", path);
    if (h->flags & ~(uint32_t)RV_RING_FLAG_DEVICE_PLANES) /* a newer layout we would misread */
        return refuse(base, size, REVERIE_PROTOCOL, "has segment flags this library does not know", path);
    if (((h->flags & RV_RING_FLAG_DEVICE_PLANES) != 0) != device_planes)
        return refuse(base, size, REVERIE_PROTOCOL,
                      device_planes ? "is a host ring, but a CUDA ring was asked for" : "is a CUDA ring, but a host ring was asked for", path);
    if (size < (device_planes ? layout.control_bytes : layout.total_bytes))
        return refuse(base, size, REVERIE_PROTOCOL, "is smaller than its layout needs", path);
    ring->base = base;
    ring->size = size;
    ring->device_planes = device_planes;
    ring->header_stride = device_planes ? RV_SLOT_HEADER_BYTES : layout.slot_stride;
    ring->layout = layout;
    memcpy(ring->path, path, len + 1);
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
    munmap(ring->base, ring->size);
    memset(ring, 0, sizeof *ring);
}

uint64_t rv_ring_heartbeat(const rv_ring* ring) {
    return __atomic_load_n(&rv_ring_header(ring)->heartbeat_ns, __ATOMIC_ACQUIRE);
}

void rv_ring_game_beat(const rv_ring* ring, uint64_t now_ns) {
    __atomic_store_n(&rv_ring_header(ring)->game_beat_ns, now_ns, __ATOMIC_RELEASE);
}
