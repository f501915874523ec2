/* Prints the library's protocol constants and layouts as NAME=VALUE lines;
 * tests/test_native_protocol.py compares each with bridge/protocol.py. */
#include <stddef.h>
#include <stdio.h>

#include "protocol.h"
#include "reverie.h"
#include "ring.h"

#define INT(name, value) printf("%s=%lld\n", name, (long long)(value))
#define STR(name, value) printf("%s=%s\n", name, value)
/* Each header field's offset (SEGMENT_HEADER.<field>) and size (SEGMENT_HEADER.<field>.size). */
#define FIELD(prefix, type, name, member)                        \
    do {                                                         \
        INT(prefix "." name, offsetof(type, member));            \
        INT(prefix "." name ".size", sizeof(((type*)0)->member)); \
    } while (0)
#define SEG(field) FIELD("SEGMENT_HEADER", rv_segment_header, #field, field)
#define SLOT(field) FIELD("SLOT_HEADER", rv_slot_header, #field, field)

int main(void) {
    INT("PROTOCOL_MAJOR", RV_PROTOCOL_MAJOR);
    INT("PROTOCOL_MINOR", RV_PROTOCOL_MINOR);
    INT("REVERIE_PROTOCOL_MAJOR", REVERIE_PROTOCOL_MAJOR); /* the public header's copy */
    INT("REVERIE_PROTOCOL_MINOR", REVERIE_PROTOCOL_MINOR);
    INT("SKY_DEPTH_METERS", REVERIE_SKY_DEPTH_METERS);
    INT("MAGIC", RV_MAGIC);
    INT("PAGE", RV_PAGE);
    INT("SEGMENT_HEADER_BYTES", RV_SEGMENT_HEADER_BYTES);
    INT("SLOT_HEADER_BYTES", RV_SLOT_HEADER_BYTES);
    INT("PLANE_ALIGN", RV_PLANE_ALIGN);
    INT("ERROR_TEXT_BYTES", RV_ERROR_TEXT_BYTES);
    STR("SHM_PREFIX", RV_SHM_PREFIX);
    INT("SLOT_EMPTY", RV_SLOT_EMPTY);
    INT("SLOT_SUBMITTED", RV_SLOT_SUBMITTED);
    INT("SLOT_PROCESSING", RV_SLOT_PROCESSING);
    INT("SLOT_DONE", RV_SLOT_DONE);
    INT("SLOT_DROPPED", RV_SLOT_DROPPED);
    INT("SLOT_FAILED", RV_SLOT_FAILED);
    INT("FLAG_RESET", RV_FLAG_RESET);
    INT("RING_FLAG_DEVICE_PLANES", RV_RING_FLAG_DEVICE_PLANES);
    INT("REVERIE_FRAME_RESET", REVERIE_FRAME_RESET);
    INT("MOTION_F32", RV_MOTION_F32);
    INT("MOTION_F16", RV_MOTION_F16);
    INT("REVERIE_MOTION_F32", REVERIE_MOTION_F32);
    INT("REVERIE_MOTION_F16", REVERIE_MOTION_F16);
    INT("FRAME_OK", RV_FRAME_OK);
    INT("FRAME_ERR_NONFINITE", RV_FRAME_ERR_NONFINITE);
    INT("FRAME_ERR_STYLIZER", RV_FRAME_ERR_STYLIZER);
    INT("FRAME_ERR_HEADER", RV_FRAME_ERR_HEADER);
    INT("MAX_CONTROL_BYTES", RV_MAX_CONTROL_BYTES);
    INT("MAX_SOCKET_BYTES", RV_MAX_SOCKET_BYTES);
    INT("MAX_PROMPT_CHARS", RV_MAX_PROMPT_CHARS);
    INT("MAX_TRANSITION_FRAMES", RV_MAX_TRANSITION_FRAMES);
    INT("MAX_CONSOLE_LINE_CHARS", RV_MAX_CONSOLE_LINE_CHARS);
    INT("MAX_STEPS", RV_MAX_STEPS);
    INT("MAX_SIDE", RV_MAX_SIDE);
    INT("MAX_RING_BYTES", RV_MAX_RING_BYTES);
    INT("MIN_SLOTS", RV_MIN_SLOTS);
    INT("MAX_SLOTS", RV_MAX_SLOTS);
    INT("DEFAULT_SLOTS", RV_DEFAULT_SLOTS);
    STR("ERR_MALFORMED", RV_ERR_MALFORMED);
    STR("ERR_TOO_LARGE", RV_ERR_TOO_LARGE);
    STR("ERR_VERSION", RV_ERR_VERSION);
    STR("ERR_UNKNOWN_OP", RV_ERR_UNKNOWN_OP);
    STR("ERR_INVALID", RV_ERR_INVALID);
    STR("ERR_BUSY", RV_ERR_BUSY);
    STR("ERR_SESSION", RV_ERR_SESSION);
    STR("ERR_FORBIDDEN", RV_ERR_FORBIDDEN);
    STR("ERR_INTERNAL", RV_ERR_INTERNAL);
    INT("SEGMENT_HEADER.itemsize", sizeof(rv_segment_header));
    SEG(magic); SEG(version_major); SEG(version_minor); SEG(header_bytes); SEG(slot_count);
    SEG(width); SEG(height); SEG(motion_format); SEG(flags); SEG(slot_stride); SEG(slot_header_bytes);
    SEG(color_offset); SEG(depth_offset); SEG(motion_offset); SEG(output_offset);
    SEG(color_pitch); SEG(depth_pitch); SEG(motion_pitch); SEG(output_pitch);
    SEG(generation); SEG(daemon_pid); SEG(session); SEG(heartbeat_ns); SEG(created_ns); SEG(game_beat_ns);
    INT("SLOT_HEADER.itemsize", sizeof(rv_slot_header));
    SLOT(state); SLOT(flags); SLOT(seq); SLOT(frame_id); SLOT(t_submit_ns); SLOT(t_start_ns); SLOT(t_done_ns);
    SLOT(jitter_x); SLOT(jitter_y); SLOT(error_code); SLOT(error_text);
    FIELD("SLOT_HEADER", rv_slot_header, "near", near_m); /* named near/far in protocol.py */
    FIELD("SLOT_HEADER", rv_slot_header, "far", far_m);
    SLOT(fov_y);
    /* The layout rule for a few shapes: LAYOUT.<w>x<h>x<slots>.<motion>.<field>. */
    const unsigned shapes[][4] = {{1920, 1080, 4, 0}, {1920, 1080, 6, 1}, {64, 48, 6, 0}, {8, 8, 3, 1}, {8192, 8192, 3, 0}, {1281, 719, 16, 1}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        rv_layout L;
        rv_layout_compute(&L, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3]);
        char prefix[64];
        snprintf(prefix, sizeof prefix, "LAYOUT.%ux%ux%u.%u", shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3]);
        printf("%s.color_offset=%llu\n", prefix, (unsigned long long)L.color_offset);
        printf("%s.depth_offset=%llu\n", prefix, (unsigned long long)L.depth_offset);
        printf("%s.motion_offset=%llu\n", prefix, (unsigned long long)L.motion_offset);
        printf("%s.output_offset=%llu\n", prefix, (unsigned long long)L.output_offset);
        printf("%s.slot_stride=%llu\n", prefix, (unsigned long long)L.slot_stride);
        printf("%s.motion_pitch=%llu\n", prefix, (unsigned long long)L.motion_pitch);
        printf("%s.total_bytes=%llu\n", prefix, (unsigned long long)L.total_bytes);
        printf("%s.control_bytes=%llu\n", prefix, (unsigned long long)L.control_bytes);
    }
    return 0;
}
