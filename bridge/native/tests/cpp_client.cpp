// The C++ wrapper (reverie.hpp) as a game would use it, driven by
// tests/test_native_client.py against a real daemon serving the Mix test stylizer:
// 300 frames checked byte-exact (zero-copy Frame scopes and submit_copy with bottom-up
// padded rows, alternately), a prompt change seen in status and as an event, a frame
// scope that is dropped unsubmitted (cancelled, the slot comes back), and, with
// --restart, a daemon killed and restarted mid-stream. Prints one SUMMARY line.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "reverie.hpp"
#include "testkit.h"

static_assert(!std::is_copy_constructible<reverie::Client>::value, "Client is not copyable");
static_assert(std::is_nothrow_move_constructible<reverie::Client>::value, "Client is movable");
static_assert(!std::is_copy_constructible<reverie::Frame>::value, "Frame is not copyable");
static_assert(std::is_nothrow_move_constructible<reverie::Frame>::value, "Frame is movable");

static int failures = 0;

#define CHECK(cond, ...)                                    \
    do {                                                    \
        if (!(cond)) {                                      \
            failures++;                                     \
            std::printf("FAIL %s:%d: ", __FILE__, __LINE__); \
            std::printf(__VA_ARGS__);                       \
            std::printf("\n");                              \
            std::fflush(stdout);                            \
        }                                                   \
    } while (0)

static reverie::Result round_trip(reverie::Client& rv, tk_frame& f, uint64_t seed, bool use_copy) {
    tk_fill(&f, seed);
    reverie_frame_info info{};
    uint64_t frame_id = 0;
    const size_t pixels = size_t(f.width) * f.height, mb = tk_motion_bytes(f.motion_format);
    reverie::Result r;
    if (!use_copy) {
        if (!(r = rv.set_frame_format(f.width, f.height, f.motion_format))) return r;
        reverie::Frame frame = rv.begin_frame();
        if (!frame) return frame.result();
        std::memcpy(frame.planes().color, f.color, pixels * 4);
        std::memcpy(frame.planes().depth, f.depth, pixels * 4);
        std::memcpy(frame.planes().motion, f.motion, pixels * mb);
        r = frame.submit(info, &frame_id);
    } else {
        const size_t stride = f.width * 4 + 32, mstride = f.width * mb + 32;
        std::vector<uint8_t> color(stride * f.height), depth(stride * f.height), motion(mstride * f.height);
        for (uint32_t y = 0; y < f.height; y++) {  // bottom-up rows
            const uint32_t dst = f.height - 1 - y;
            std::memcpy(&color[dst * stride], f.color + size_t(y) * f.width * 4, f.width * 4);
            std::memcpy(&depth[dst * stride], reinterpret_cast<uint8_t*>(f.depth) + size_t(y) * f.width * 4, f.width * 4);
            std::memcpy(&motion[dst * mstride], f.motion + size_t(y) * f.width * mb, f.width * mb);
        }
        reverie_frame_source src{f.width, f.height, f.motion_format, REVERIE_ROWS_BOTTOM_UP,
                                 color.data(), depth.data(), motion.data(), stride, stride, mstride};
        r = rv.submit_copy(src, info, &frame_id);
    }
    if (!r) return r;
    std::vector<uint8_t> expected(pixels * 4), out(pixels * 4);
    tk_expected(&f, frame_id, 0, expected.data());
    reverie_output_info oi{};
    r = rv.wait_output(frame_id, 5000, out.data(), f.width * 4, out.size(), 0, &oi);
    if (r) {
        CHECK(oi.frame_id == frame_id, "output frame id");
        CHECK(tk_matches(&f, expected.data(), out.data(), f.width * 4, 0), "frame %llu (%s) is not byte-exact",
              (unsigned long long)frame_id, use_copy ? "copy" : "zero-copy");
    }
    return r;
}

static void steering(reverie::Client& rv) {
    const std::string prompt = "ink wash, from C++";
    CHECK(rv.set_prompt(prompt, 3).ok(), "set_prompt");
    reverie_status st{};
    CHECK(rv.status(st).ok() && prompt == st.prompt, "status prompt '%s'", st.prompt);
    bool seen = false;
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (!seen && std::chrono::steady_clock::now() < end) {
        reverie_event ev{};
        reverie::Result r = rv.poll_event(ev);
        seen = r.ok() && ev.type == REVERIE_EVENT_PROMPT_CHANGED && prompt == ev.text;
        if (r.code == REVERIE_NONE_YET) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    CHECK(seen, "prompt_changed event");
    std::string reply;
    CHECK(rv.console("/steps 4", &reply).ok() && reply == "steps set to 4", "console reply '%s'", reply.c_str());
    reverie::Result bad = rv.console("/steps x", &reply);
    CHECK(bad.code == REVERIE_INVALID_ARGUMENT && reply == "error: /steps needs an integer, got 'x' (usage: /steps N)",
          "console error '%s'", reply.c_str());
    CHECK(bad.message == "/steps needs an integer, got 'x' (usage: /steps N)", "Result message '%s'", bad.message.c_str());
    std::printf("PHASE steering ok\n");
    std::fflush(stdout);
}

// A Frame scope left without submit() gives its slot back: many of them in a row
// never run the ring out of slots.
static void cancelled_scopes(reverie::Client& rv, tk_frame& f) {
    for (int i = 0; i < 20; i++) {
        reverie::Frame frame = rv.begin_frame();
        CHECK(bool(frame), "begin_frame %d: %s", i, frame.result().message.c_str());
        reverie::Frame moved = std::move(frame);  // ownership moves, the slot is cancelled once
        CHECK(!frame && bool(moved), "moved frame");
    }
    CHECK(round_trip(rv, f, 999, false).ok(), "round trip after cancelled scopes");
}

static void restart(reverie::Client& rv, tk_frame& f, uint64_t& seed) {
    std::printf("PHASE restart\n");
    std::fflush(stdout);
    int unavailable = 0, after = 0;
    const double deadline = tk_now_ms() + 60000;
    while (after < 30 && tk_now_ms() < deadline) {
        ++seed;
        reverie::Result r = round_trip(rv, f, seed, seed % 2 == 0);
        if (r.ok()) {
            after += unavailable > 0;
        } else if (r.code == REVERIE_UNAVAILABLE) {
            if (unavailable++ == 0) {
                std::printf("UNAVAILABLE %s\n", r.message.c_str());
                std::fflush(stdout);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        } else {
            CHECK(r.code == REVERIE_TIMEOUT, "restart: unexpected %s: %s", r.name(), r.message.c_str());
        }
    }
    CHECK(unavailable > 0 && after == 30, "unavailable %d, round trips after restart %d", unavailable, after);
}

int main(int argc, char** argv) {
    reverie::Config cfg;
    cfg.control = argc > 1 ? argv[1] : nullptr;
    cfg.client_name = "cpp_client";
    cfg.timeout_ms = 1000;
    reverie::Client rv;
    if (reverie::Result r = rv.connect(cfg); !r) {
        std::printf("FAIL connect: %s %s\n", r.name(), r.message.c_str());
        return 1;
    }
    reverie::Client owner = std::move(rv);  // the connection moves with the object
    CHECK(!rv.connected() && owner.connected(), "moved client");
    tk_frame f{};
    tk_alloc(&f, 48, 32, REVERIE_MOTION_F32);
    int exact = 0;
    uint64_t seed = 0;
    for (int i = 0; i < 300; i++) {
        reverie::Result r = round_trip(owner, f, ++seed, i % 2 == 1);
        CHECK(r.ok(), "frame %d: %s %s", i, r.name(), r.message.c_str());
        exact += r.ok();
    }
    cancelled_scopes(owner, f);
    steering(owner);
    if (argc > 2 && std::strcmp(argv[2], "--restart") == 0) restart(owner, f, seed);
    tk_free(&f);
    owner.close();
    std::printf("SUMMARY exact=%d failures=%d\n", exact, failures);
    return failures == 0 ? 0 : 1;
}
