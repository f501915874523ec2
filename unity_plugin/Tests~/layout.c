/* Prints the size and field offsets of every struct in reverie.h, in declaration order, in
 * the format LayoutTest.cs prints for the C# mirrors: tests/test_unity_client.py compares
 * the two outputs line by line. */
#include <stddef.h>
#include <stdio.h>
#include "reverie.h"

#define STRUCT(T) printf("struct %s %zu\n", #T, sizeof(T))
#define FIELD(T, f) printf("field %s %zu %s\n", #T, offsetof(T, f), #f)

int main(void) {
    STRUCT(reverie_config);
    FIELD(reverie_config, control); FIELD(reverie_config, events); FIELD(reverie_config, frames);
    FIELD(reverie_config, client_name); FIELD(reverie_config, curve_keys_dir); FIELD(reverie_config, timeout_ms);
    FIELD(reverie_config, liveness_timeout_ms); FIELD(reverie_config, reconnect_interval_ms);
    FIELD(reverie_config, slots); FIELD(reverie_config, flags); FIELD(reverie_config, _reserved0);

    STRUCT(reverie_frame_planes);
    FIELD(reverie_frame_planes, width); FIELD(reverie_frame_planes, height); FIELD(reverie_frame_planes, motion_format);
    FIELD(reverie_frame_planes, memory); FIELD(reverie_frame_planes, color); FIELD(reverie_frame_planes, depth);
    FIELD(reverie_frame_planes, motion); FIELD(reverie_frame_planes, color_pitch); FIELD(reverie_frame_planes, depth_pitch);
    FIELD(reverie_frame_planes, motion_pitch);

    STRUCT(reverie_frame_info);
    FIELD(reverie_frame_info, frame_id); FIELD(reverie_frame_info, flags); FIELD(reverie_frame_info, jitter_x);
    FIELD(reverie_frame_info, jitter_y); FIELD(reverie_frame_info, near_m); FIELD(reverie_frame_info, far_m);
    FIELD(reverie_frame_info, fov_y);

    STRUCT(reverie_frame_source);
    FIELD(reverie_frame_source, width); FIELD(reverie_frame_source, height); FIELD(reverie_frame_source, motion_format);
    FIELD(reverie_frame_source, flags); FIELD(reverie_frame_source, color); FIELD(reverie_frame_source, depth);
    FIELD(reverie_frame_source, motion); FIELD(reverie_frame_source, color_stride);
    FIELD(reverie_frame_source, depth_stride); FIELD(reverie_frame_source, motion_stride);

    STRUCT(reverie_output_info);
    FIELD(reverie_output_info, frame_id); FIELD(reverie_output_info, width); FIELD(reverie_output_info, height);
    FIELD(reverie_output_info, t_submit_ns); FIELD(reverie_output_info, t_done_ns); FIELD(reverie_output_info, latency_ms);

    STRUCT(reverie_preset);
    FIELD(reverie_preset, steps); FIELD(reverie_preset, transition_frames); FIELD(reverie_preset, strength);
    FIELD(reverie_preset, seed); FIELD(reverie_preset, name); FIELD(reverie_preset, prompt);

    STRUCT(reverie_status);
    FIELD(reverie_status, daemon_pid); FIELD(reverie_status, version_major); FIELD(reverie_status, version_minor);
    FIELD(reverie_status, has_session); FIELD(reverie_status, uptime_s); FIELD(reverie_status, stylizer);
    FIELD(reverie_status, events); FIELD(reverie_status, session_client); FIELD(reverie_status, session_pid);
    FIELD(reverie_status, session_width); FIELD(reverie_status, session_height); FIELD(reverie_status, steps);
    FIELD(reverie_status, transition_frames); FIELD(reverie_status, _reserved0); FIELD(reverie_status, strength);
    FIELD(reverie_status, seed); FIELD(reverie_status, prompt); FIELD(reverie_status, frames);
    FIELD(reverie_status, dropped); FIELD(reverie_status, failed); FIELD(reverie_status, fps);
    FIELD(reverie_status, latency_p50_ms); FIELD(reverie_status, latency_p95_ms); FIELD(reverie_status, process_p50_ms);
    FIELD(reverie_status, counter_count); FIELD(reverie_status, _reserved1); FIELD(reverie_status, counter_names);
    FIELD(reverie_status, counter_values); FIELD(reverie_status, connected); FIELD(reverie_status, ring_width);
    FIELD(reverie_status, ring_height); FIELD(reverie_status, ring_slots); FIELD(reverie_status, frames_submitted);
    FIELD(reverie_status, frames_skipped);

    STRUCT(reverie_event);
    FIELD(reverie_event, type); FIELD(reverie_event, transition_frames); FIELD(reverie_event, steps);
    FIELD(reverie_event, pid); FIELD(reverie_event, strength); FIELD(reverie_event, seed);
    FIELD(reverie_event, frame_id); FIELD(reverie_event, frames); FIELD(reverie_event, dropped);
    FIELD(reverie_event, failed); FIELD(reverie_event, fps); FIELD(reverie_event, latency_p50_ms);
    FIELD(reverie_event, latency_p95_ms); FIELD(reverie_event, process_p50_ms); FIELD(reverie_event, client);
    FIELD(reverie_event, text);

    /* Enum values, as "enum GROUP C_NAME value"; the test maps C_NAME to the C# name. */
#define ENUM(group, prefix, name) printf("enum %s %s %d\n", group, #name + sizeof(prefix) - 1, (int)(name))
    ENUM("ReverieResult", "REVERIE_", REVERIE_OK); ENUM("ReverieResult", "REVERIE_", REVERIE_NONE_YET);
    ENUM("ReverieResult", "REVERIE_", REVERIE_SKIPPED); ENUM("ReverieResult", "REVERIE_", REVERIE_DROPPED);
    ENUM("ReverieResult", "REVERIE_", REVERIE_QUIT); ENUM("ReverieResult", "REVERIE_", REVERIE_INVALID_ARGUMENT);
    ENUM("ReverieResult", "REVERIE_", REVERIE_UNAVAILABLE); ENUM("ReverieResult", "REVERIE_", REVERIE_REJECTED);
    ENUM("ReverieResult", "REVERIE_", REVERIE_BUSY); ENUM("ReverieResult", "REVERIE_", REVERIE_PROTOCOL);
    ENUM("ReverieResult", "REVERIE_", REVERIE_TIMEOUT); ENUM("ReverieResult", "REVERIE_", REVERIE_OUT_OF_MEMORY);
    ENUM("ReverieResult", "REVERIE_", REVERIE_SYSTEM); ENUM("ReverieResult", "REVERIE_", REVERIE_UNSUPPORTED);
    ENUM("ConnectFlags", "REVERIE_CONNECT_", REVERIE_CONNECT_LAZY);
    ENUM("ConnectFlags", "REVERIE_CONNECT_", REVERIE_CONNECT_TAKEOVER);
    ENUM("MotionFormat", "REVERIE_MOTION_", REVERIE_MOTION_F32); ENUM("MotionFormat", "REVERIE_MOTION_", REVERIE_MOTION_F16);
    ENUM("FrameFlags", "REVERIE_FRAME_", REVERIE_FRAME_RESET);
    ENUM("CopyFlags", "REVERIE_", REVERIE_ROWS_BOTTOM_UP);
    ENUM("ReverieLogLevel", "REVERIE_LOG_", REVERIE_LOG_INFO); ENUM("ReverieLogLevel", "REVERIE_LOG_", REVERIE_LOG_WARNING);
    ENUM("ReverieEventType", "REVERIE_EVENT_", REVERIE_EVENT_NONE);
    ENUM("ReverieEventType", "REVERIE_EVENT_", REVERIE_EVENT_STATS);
    ENUM("ReverieEventType", "REVERIE_EVENT_", REVERIE_EVENT_PROMPT_CHANGED);
    ENUM("ReverieEventType", "REVERIE_EVENT_", REVERIE_EVENT_PARAMS_CHANGED);
    ENUM("ReverieEventType", "REVERIE_EVENT_", REVERIE_EVENT_SESSION_OPENED);
    ENUM("ReverieEventType", "REVERIE_EVENT_", REVERIE_EVENT_SESSION_CLOSED);
    ENUM("ReverieEventType", "REVERIE_EVENT_", REVERIE_EVENT_ERROR);
    ENUM("ReverieEventType", "REVERIE_EVENT_", REVERIE_EVENT_FRAME_FAILED);
    ENUM("ReverieEventType", "REVERIE_EVENT_", REVERIE_EVENT_DISCONNECTED);
    ENUM("ReverieEventType", "REVERIE_EVENT_", REVERIE_EVENT_CONNECTED);

    /* Constants the C# side repeats. */
    printf("const TextCap %d\n", REVERIE_TEXT_CAP);
    printf("const NameCap %d\n", REVERIE_NAME_CAP);
    printf("const MaxCounters %d\n", REVERIE_MAX_COUNTERS);
    printf("const ConsoleReplyCap %d\n", REVERIE_CONSOLE_REPLY_CAP);
    printf("const Keep %d\n", REVERIE_KEEP);
    printf("const ProtocolMajor %d\n", REVERIE_PROTOCOL_MAJOR);
    printf("const ProtocolMinor %d\n", REVERIE_PROTOCOL_MINOR);
    printf("const AbiVersion %d\n", REVERIE_ABI_VERSION);
    printf("const SkyDepthMeters %d\n", REVERIE_SKY_DEPTH_METERS);
    return 0;
}
