// libreverie for C++17: RAII over reverie.h, no exceptions. Every call returns a
// reverie::Result (the C code plus the message of the moment); the client and the frame
// scope are movable, not copyable. Threading rules are those of reverie.h. GPU mode:
// set_transport / use_cuda, then the Frame's planes() are device pointers.
//
//     reverie::Client rv;
//     reverie::Config cfg;
//     cfg.client_name = "mygame";
//     if (auto r = rv.connect(cfg); !r) std::puts(r.message.c_str());
//     rv.set_frame_format(1280, 720);
//     if (auto frame = rv.begin_frame()) {          // a slot of the ring, zero copy
//         fill(frame.planes());
//         frame.submit(info);                       // or let it go out of scope: cancelled
//     }
#ifndef REVERIE_HPP
#define REVERIE_HPP

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "reverie.h"

namespace reverie {

// A result code and, when it is not OK, the library's words for it.
struct Result {
    reverie_result code = REVERIE_OK;
    std::string message;

    Result() = default;
    explicit Result(reverie_result c) : code(c) {
        if (c != REVERIE_OK) message = reverie_last_error(nullptr);  // this thread's, right now
    }
    bool ok() const { return code == REVERIE_OK; }
    explicit operator bool() const { return ok(); }
    const char* name() const { return reverie_result_name(code); }
};

// reverie_config with its defaults; the strings must outlive connect().
struct Config : reverie_config {
    Config() { reverie_config_init(this); }
};

class Client;

// A begun frame: its planes are writable until submit() or cancel(); a frame left
// unsubmitted is cancelled when the scope ends. False when no slot was reserved:
// result() says why (REVERIE_SKIPPED, REVERIE_UNAVAILABLE, ...).
class Frame {
public:
    Frame() = default;
    Frame(const Frame&) = delete;
    Frame& operator=(const Frame&) = delete;
    Frame(Frame&& other) noexcept { *this = std::move(other); }
    Frame& operator=(Frame&& other) noexcept {
        if (this != &other) {
            cancel();
            client_ = std::exchange(other.client_, nullptr);
            planes_ = other.planes_;
            result_ = std::move(other.result_);
            open_ = std::exchange(other.open_, false);
        }
        return *this;
    }
    ~Frame() { cancel(); }

    explicit operator bool() const { return open_; }
    const reverie_frame_planes& planes() const { return planes_; }
    const Result& result() const { return result_; }

    // Hand the slot to the daemon; *frame_id gets its id. A skipped frame may be submitted
    // too (REVERIE_SKIPPED): that carries its REVERIE_FRAME_RESET to the next frame.
    Result submit(const reverie_frame_info& info, uint64_t* frame_id = nullptr) {
        if (client_ == nullptr) return Result(reverie_submit_frame(nullptr, &info, frame_id));
        open_ = false;
        reverie_client* c = std::exchange(client_, nullptr);
        return Result(reverie_submit_frame(c, &info, frame_id));
    }

    void cancel() {
        if (open_ && client_ != nullptr) reverie_cancel_frame(client_);
        open_ = false;
        client_ = nullptr;
    }

private:
    friend class Client;
    reverie_client* client_ = nullptr;
    reverie_frame_planes planes_{};
    Result result_;
    bool open_ = false;
};

class Client {
public:
    Client() = default;
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    Client(Client&& other) noexcept : c_(std::exchange(other.c_, nullptr)) {}
    Client& operator=(Client&& other) noexcept {
        if (this != &other) {
            close();
            c_ = std::exchange(other.c_, nullptr);
        }
        return *this;
    }
    ~Client() { close(); }

    Result connect(const Config& config = Config()) {
        close();
        return Result(reverie_connect(&config, &c_));
    }
    void close() {
        reverie_close(c_);
        c_ = nullptr;
    }
    bool connected() const { return c_ != nullptr; }
    reverie_client* get() const { return c_; }

    // Frames (render thread).
    Result set_frame_format(uint32_t width, uint32_t height, uint32_t motion_format = REVERIE_MOTION_F32) {
        return Result(reverie_set_frame_format(c_, width, height, motion_format));
    }
    // The transport of the next rings (reverie_set_transport). GPU mode: the planes in CUDA
    // memory of `cuda_device`, ordered on `cuda_stream` (a cudaStream_t; nullptr: the legacy
    // default stream). A build without CUDA answers REVERIE_UNSUPPORTED.
    Result set_transport(uint32_t transport, int32_t cuda_device = 0, void* cuda_stream = nullptr) {
        return Result(reverie_set_transport(c_, transport, cuda_device, cuda_stream));
    }
    Result use_cuda(int32_t cuda_device, void* cuda_stream) {
        return set_transport(REVERIE_TRANSPORT_CUDA, cuda_device, cuda_stream);
    }
    // Zero-copy output: host memory, or a device pointer under the CUDA transport.
    Result map_output(const void** pixels, uint64_t* pitch, reverie_output_info* info = nullptr) {
        return Result(reverie_map_output(c_, pixels, pitch, info));
    }
    Frame begin_frame() {
        Frame f;
        f.result_ = Result(reverie_begin_frame(c_, &f.planes_));
        if (f.result_.ok()) {
            f.client_ = c_;
            f.open_ = true;
        } else if (f.result_.code == REVERIE_SKIPPED) {
            f.client_ = c_;  // submit() still records the skip and carries a reset
        }
        return f;
    }
    Result submit_copy(const reverie_frame_source& source, const reverie_frame_info& info, uint64_t* frame_id = nullptr) {
        return Result(reverie_submit_copy(c_, &source, &info, frame_id));
    }
    Result latest_output(void* dst, size_t stride, size_t size, uint32_t flags = 0, reverie_output_info* info = nullptr) {
        return Result(reverie_latest_output(c_, dst, stride, size, flags, info));
    }
    Result wait_output(uint64_t frame_id, int32_t timeout_ms, void* dst, size_t stride, size_t size, uint32_t flags = 0,
                       reverie_output_info* info = nullptr) {
        return Result(reverie_wait_output(c_, frame_id, timeout_ms, dst, stride, size, flags, info));
    }

    // Steering (game thread).
    Result set_prompt(const std::string& text, int32_t transition_frames = 0) {
        return Result(reverie_set_prompt(c_, text.c_str(), transition_frames));
    }
    // REVERIE_KEEP leaves a value unchanged.
    Result set_params(int32_t steps, double strength = REVERIE_KEEP, int64_t seed = REVERIE_KEEP) {
        return Result(reverie_set_params(c_, steps, strength, seed));
    }
    Result load_preset(const std::string& name, reverie_preset* applied = nullptr) {
        return Result(reverie_load_preset(c_, name.c_str(), applied));
    }
    Result reset_history() { return Result(reverie_reset_history(c_)); }
    Result status(reverie_status& out) { return Result(reverie_get_status(c_, &out)); }
    Result poll_event(reverie_event& out) { return Result(reverie_poll_event(c_, &out)); }

    // One console line; the reply text goes to *reply.
    Result console(const std::string& line, std::string* reply) {
        std::string buf(REVERIE_CONSOLE_REPLY_CAP, '\0');
        Result r(reverie_console_exec(c_, line.c_str(), &buf[0], buf.size()));
        if (reply != nullptr) *reply = buf.c_str();
        return r;
    }

private:
    reverie_client* c_ = nullptr;
};

}  // namespace reverie

#endif  // REVERIE_HPP
