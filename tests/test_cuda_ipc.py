"""The CUDA IPC transport (protocol 1.2): what runs on any machine, and what needs a GPU.

Everywhere: the new open_ring fields and their rules, the device ring's host control
segment, a real daemon refusing CUDA rings with the reason (and serving the host
transport right after), the package importing without cupy, the device-side NaN/inf
check and the test stylizers' torch path giving the host path's bytes (on CPU tensors).

On a GPU (`pytest -m gpu`, skipped where cupy or a GPU is missing): a game in this
process and a real `reverie serve` in another, 1,000 frames at 1920x1080 byte-exact,
zero host copies in the bench, a game killed mid-frame, a ring re-opened at new sizes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import msgpack
import numpy as np
import pytest
import zmq
from conftest import random_frame, stylizer_spec
from stylizers import expected_mix, mix_torch

from reverie.bridge import protocol as P
from reverie.bridge.client import Client, FrameRejected
from reverie.bridge.cuda_ipc import cuda_unavailable_reason, format_uuid
from reverie.bridge.shm_ring import FrameRing, RingError, segments_of
from reverie.bridge.stylizer import IdentityStylizer, find_nonfinite, find_nonfinite_device, frame_nonfinite
from reverie.common.stylizer import Frame

NO_CUDA = cuda_unavailable_reason()  # None on a machine with cupy, a GPU and CUDA torch
HANDLE = bytes(range(64))
F32_BYTES = P.ring_layout(64, 48, 3, P.MOTION_F32).total_bytes  # the allocation _cuda_request's ring needs: 200704
F16_BYTES = P.ring_layout(64, 48, 3, P.MOTION_F16).total_bytes


def _cuda_request(width: int = 64, height: int = 48, slots: int = 3, motion: str = "f32", **changes) -> dict:
    """A well-formed open_ring request for a CUDA ring (handles are placeholders)."""
    layout = P.ring_layout(width, height, slots, P.MOTION_FORMATS[motion])
    msg = {
        "v": P.PROTOCOL_MAJOR,
        "op": "open_ring",
        "session": "0123456789abcdef",
        "width": width,
        "height": height,
        "motion": motion,
        "slots": slots,
        "transport": "cuda",
        "cuda_device": "GPU-00000000-0000-0000-0000-000000000000",
        "cuda_memory": HANDLE,
        "cuda_bytes": layout.total_bytes,
        "cuda_events": [HANDLE] * slots,
    }
    msg.update(changes)
    return {k: v for k, v in msg.items() if v is not None}


def _refusal(msg: dict) -> str:
    """The ERR_INVALID message validation and the open_ring rules give this request."""
    with pytest.raises(P.ProtocolError) as info:
        _, fields = P.validate_request(msg)
        P.check_open_ring(fields)
    assert info.value.code == P.ERR_INVALID
    return info.value.message


# ---------------------------------------------------------------- protocol: the new fields
def test_a_well_formed_cuda_request_passes():
    _, fields = P.validate_request(_cuda_request(1920, 1080, 6, "f16"))
    layout = P.check_open_ring(fields)
    assert layout == P.ring_layout(1920, 1080, 6, P.MOTION_F16)
    assert fields["cuda_events"] == [HANDLE] * 6
    # The host transport, said or left out, needs none of them.
    for transport in ("shm", None):
        plain = {
            "v": P.PROTOCOL_MAJOR,
            "op": "open_ring",
            "session": "s",
            "width": 64,
            "height": 48,
            "transport": transport,
        }
        _, fields = P.validate_request({k: v for k, v in plain.items() if v is not None})
        assert P.check_open_ring(fields) == P.ring_layout(64, 48)


@pytest.mark.parametrize(
    "changes, says",
    [
        ({"cuda_memory": HANDLE[:63]}, "open_ring.cuda_memory must be exactly 64 bytes, got 63"),
        ({"cuda_memory": HANDLE + b"\0"}, "open_ring.cuda_memory must be exactly 64 bytes, got 65"),
        ({"cuda_memory": HANDLE.hex()[:64]}, "open_ring.cuda_memory must be bin, got str"),
        ({"cuda_events": [HANDLE, HANDLE, HANDLE[:10]]}, "open_ring.cuda_events[2] must be exactly 64 bytes, got 10"),
        ({"cuda_events": [HANDLE, HANDLE, "x" * 64]}, "open_ring.cuda_events[2] must be bin, got str"),
        ({"cuda_events": HANDLE}, "open_ring.cuda_events must be array of bin, got bytes"),
        ({"cuda_events": [HANDLE] * 17}, "open_ring.cuda_events has 17 items, more than 16"),
        ({"cuda_events": [HANDLE] * 4}, "open_ring.cuda_events has 4 handles; the ring has 3 slots, one event each"),
        ({"cuda_events": [HANDLE] * 2}, "open_ring.cuda_events has 2 handles; the ring has 3 slots, one event each"),
        (
            {"cuda_bytes": F32_BYTES + 4096},
            f"open_ring.cuda_bytes is {F32_BYTES + 4096}; a ring of this size, slot count and motion format"
            f" takes {F32_BYTES}",
        ),
        (
            {"cuda_bytes": F16_BYTES},
            f"open_ring.cuda_bytes is {F16_BYTES}; a ring of this size, slot count and motion format takes {F32_BYTES}",
        ),
        ({"cuda_bytes": 1}, "open_ring.cuda_bytes=1 is outside [4096, 4294967296]"),
        ({"cuda_bytes": True}, "open_ring.cuda_bytes must be int, got bool"),
        ({"transport": "gpu"}, "open_ring.transport must be one of ['cuda', 'shm'], got 'gpu'"),
        ({"transport": "cuda-ipc-x"}, "open_ring.transport is longer than 8 characters"),
        ({"cuda_memory": None}, "open_ring with transport 'cuda' needs field 'cuda_memory'"),
        ({"cuda_device": None}, "open_ring with transport 'cuda' needs field 'cuda_device'"),
        ({"cuda_events": None}, "open_ring with transport 'cuda' needs field 'cuda_events'"),
        ({"cuda_bytes": None}, "open_ring with transport 'cuda' needs field 'cuda_bytes'"),
        ({"transport": "shm"}, "open_ring.cuda_device needs transport 'cuda'"),
        ({"transport": None}, "open_ring.cuda_device needs transport 'cuda'"),
        ({"cuda_device": "GPU-" + "0" * 61}, "open_ring.cuda_device is longer than 64 characters"),
    ],
)
def test_bad_cuda_fields_are_refused_with_a_clear_message(changes, says):
    assert _refusal(_cuda_request(**changes)).startswith(says)


def test_version_and_constants():
    assert (P.PROTOCOL_MAJOR, P.PROTOCOL_MINOR) >= (1, 2)
    assert P.RING_FLAG_DEVICE_PLANES == 1 and P.CUDA_HANDLE_BYTES == 64
    assert format_uuid(bytes(range(16))) == "GPU-00010203-0405-0607-0809-0a0b0c0d0e0f"
    with pytest.raises(ValueError):
        format_uuid(bytes(15))


# ---------------------------------------------------------------- the host control segment
def test_control_segment_layout():
    layout = P.ring_layout(1920, 1080, 6, P.MOTION_F32)
    assert layout.control_bytes == 4096 + 6 * 256 == 5632
    assert [layout.header_offset(s, device=True) for s in range(3)] == [4096, 4352, 4608]
    assert [layout.header_offset(s) for s in range(3)] == [layout.slot_offset(s) for s in range(3)]
    daemon_side = FrameRing.create(layout, daemon_pid=os.getpid(), session=0xC1, generation=1, device=True)
    game_side = None
    try:
        assert daemon_side.nbytes == layout.control_bytes == os.path.getsize(daemon_side.path) == 5632
        assert int(daemon_side.header["flags"]) == P.RING_FLAG_DEVICE_PLANES
        # The other header fields describe the device allocation's layout.
        for field in ("slot_stride", "color_offset", "depth_offset", "motion_offset", "output_offset", "motion_pitch"):
            assert int(daemon_side.header[field]) == getattr(layout, field)
        game_side = FrameRing.attach(daemon_side.path)
        assert game_side.device and game_side.layout == layout
        assert game_side.slots[0].color is None and game_side.slots[5].output is None
        # Slot states work as on a host ring: the game writes slot 5, the daemon sees it,
        # at the packed header offset in the segment's bytes.
        game_side.slots[5].header["seq"] = 77
        game_side.slots[5].header["state"] = P.SLOT_SUBMITTED
        assert int(daemon_side.slots[5].header["state"]) == P.SLOT_SUBMITTED
        raw = bytes(daemon_side._mmap[layout.header_offset(5, True) : layout.header_offset(5, True) + 16])
        assert int.from_bytes(raw[0:4], "little") == P.SLOT_SUBMITTED and int.from_bytes(raw[8:16], "little") == 77
    finally:
        if game_side is not None:
            game_side.close()
        daemon_side.close()
    assert f"reverie.{os.getpid()}.1" not in segments_of(os.getpid())


def test_host_ring_keeps_flags_zero_and_unknown_flags_are_refused():
    layout = P.ring_layout(16, 16, 3)
    ring = FrameRing.create(layout, daemon_pid=os.getpid(), session=0xC2, generation=1)
    try:
        assert int(ring.header["flags"]) == 0 and not ring.device
        assert ring.slots[0].color.shape == (16, 16, 4)
        ring.header["flags"] = 1 << 1  # a bit this protocol does not know
        with pytest.raises(RingError, match="unknown flags 0x2"):
            FrameRing.attach(ring.path)
    finally:
        ring.close()


# ---------------------------------------------------------------- a real daemon refusing CUDA
def _wire_request(endpoint: str, msg: dict) -> dict:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    sock.linger = 0
    try:
        sock.connect(endpoint)
        sock.send(msgpack.packb(msg, use_bin_type=True))
        assert sock.poll(10_000), f"no reply to {msg['op']}"
        return msgpack.unpackb(sock.recv(), raw=False)
    finally:
        sock.close(linger=0)
        ctx.term()


def _refuse_then_serve(daemon, rng, says: str) -> None:
    """open_ring transport cuda is refused with `says`; nothing is created; the same daemon
    then serves a host-ring game byte-exact."""
    control = daemon.endpoints.control
    hello = _wire_request(control, {"v": P.PROTOCOL_MAJOR, "op": "hello", "client": "cuda-test", "pid": os.getpid()})
    before = set(segments_of(daemon.pid))
    reply = _wire_request(control, _cuda_request(session=hello["session"]))
    assert reply["ok"] is False and reply["error"]["code"] == P.ERR_INVALID, reply
    assert says in reply["error"]["message"], reply["error"]["message"]
    assert set(segments_of(daemon.pid)) == before
    assert _wire_request(control, {"v": P.PROTOCOL_MAJOR, "op": "status"})["session"]["size"] is None  # no ring taken
    with Client(control, name="after-refusal") as game:  # same pid: replaces the session
        color, depth, motion = random_frame(rng, 40, 24)
        frame_id = game.submit(color, depth, motion)
        out = game.wait_output(frame_id, timeout_s=5.0)
        np.testing.assert_array_equal(out.image, expected_mix(frame_id, color, depth, motion, False))
    assert daemon.proc.poll() is None


@pytest.mark.skipif(NO_CUDA is None, reason="this machine has CUDA: the daemon serves CUDA rings here")
def test_daemon_without_cuda_refuses_with_the_reason_and_keeps_serving(start_daemon, rng):
    daemon = start_daemon(stylizer_spec("Mix"))
    _refuse_then_serve(daemon, rng, f"this daemon has no CUDA device: {NO_CUDA}")


def test_daemon_refuses_cuda_for_a_host_only_stylizer(start_daemon, rng):
    daemon = start_daemon(stylizer_spec("HostMix"))
    _refuse_then_serve(
        daemon,
        rng,
        "this daemon has no CUDA device for its stylizer: 'host-mix' takes host frames only (its device is 'cpu')",
    )


def test_daemon_refuses_bad_cuda_fields_over_the_wire(start_daemon):
    daemon = start_daemon(stylizer_spec("Mix"))
    control = daemon.endpoints.control
    hello = _wire_request(control, {"v": P.PROTOCOL_MAJOR, "op": "hello", "client": "cuda-test", "pid": os.getpid()})
    for changes, says in [
        ({"cuda_memory": HANDLE[:32]}, "exactly 64 bytes, got 32"),
        ({"cuda_events": [HANDLE]}, "has 1 handles; the ring has 3 slots"),
        ({"transport": "vulkan"}, "open_ring.transport must be one of"),
    ]:
        reply = _wire_request(control, _cuda_request(session=hello["session"], **changes))
        assert reply["error"]["code"] == P.ERR_INVALID and says in reply["error"]["message"], reply
    assert _wire_request(control, {"v": P.PROTOCOL_MAJOR, "op": "ping"})["pong"] is True


# ---------------------------------------------------------------- without cupy
def test_the_package_imports_and_says_why_without_cupy(tmp_path):
    """cupy blocked as if not installed: everything imports, the CUDA parts say why."""
    script = textwrap.dedent(f"""
        import sys
        sys.modules["cupy"] = None  # import cupy -> ImportError, as without the package
        import reverie.bridge, reverie.bridge.client, reverie.bridge.daemon
        import reverie.bridge.bench, reverie.bridge.cuda_ipc as ci
        from reverie.bridge import protocol as P
        assert "torch" not in sys.modules, "importing the bridge must not load torch"
        reason = ci.cuda_unavailable_reason()
        assert reason.startswith("cupy is not installed"), reason
        try:
            ci.DeviceRingExport(P.ring_layout(64, 48))
        except ci.CudaUnavailable as exc:
            assert "cupy is not installed" in str(exc)
        else:
            raise AssertionError("DeviceRingExport without cupy")
        from reverie.bridge.client import Client, TransportUnavailable
        try:
            Client("ipc://{tmp_path}/nobody", transport="cuda")
        except TransportUnavailable as exc:
            print(exc)
        else:
            raise AssertionError("Client(transport='cuda') without cupy")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.strip() == "the cuda transport cannot run in this process: cupy is not installed:"
        " pip install 'reverie[cuda]' (cupy-cuda13x)"
    )


def test_client_refuses_an_unknown_transport():
    with pytest.raises(ValueError, match="transport must be one of shm, cuda"):
        Client("ipc:///nonexistent", transport="rdma")


@pytest.mark.skipif(NO_CUDA is None, reason="this machine has CUDA")
@pytest.mark.parametrize("bench", [["bridge", "--transport", "cuda"], ["model", "--device", "cuda"]])
def test_bench_cuda_without_a_gpu_exits_with_one_clear_line(bench):
    done = subprocess.run(
        [sys.executable, "-m", "reverie", "bench", *bench, "--json", "--frames", "5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [f"reverie bench {' '.join(bench)}: no CUDA here: {NO_CUDA}"]


# ---------------------------------------------------------------- the device code paths, on CPU tensors
@pytest.mark.parametrize("motion_dtype", [np.float32, np.float16])
def test_device_nonfinite_check_says_what_the_host_check_says(rng, motion_dtype):
    torch = pytest.importorskip("torch")
    color, depth, motion = random_frame(rng, 33, 17, motion_dtype)
    cases = [(None, None)]
    cases += [
        ("depth", (5, 9, np.nan)),
        ("depth", (16, 32, np.inf)),
        ("motion", (3, 4, 1, -np.inf)),
        ("motion", (0, 0, 0, np.nan)),
    ]
    for plane, where in cases:
        d, m = depth.copy(), motion.copy()
        if plane == "depth":
            d[where[:2]] = where[2]
            d[10, 1] = np.nan  # a second, later one: count 2, first stays the first
        elif plane == "motion":
            m[where[:3]] = where[3]
        host = frame_nonfinite(Frame(1, color, d, m))
        device = frame_nonfinite(Frame(1, torch.from_numpy(color), torch.from_numpy(d), torch.from_numpy(m)))
        assert device == host, (plane, where)
        assert (host is None) == (plane is None)
        if plane is not None:
            assert host == find_nonfinite(plane, d if plane == "depth" else m)
    assert find_nonfinite_device([("depth", torch.from_numpy(depth))]) is None


@pytest.mark.parametrize("motion_dtype", [np.float32, np.float16])
def test_torch_paths_of_the_test_stylizers_give_the_host_bytes(rng, motion_dtype):
    torch = pytest.importorskip("torch")
    color, depth, motion = random_frame(rng, 31, 19, motion_dtype)
    out = torch.zeros((19, 31, 4), dtype=torch.uint8)
    mix_torch(0x1A2B, torch.from_numpy(color), torch.from_numpy(depth), torch.from_numpy(motion), True, out)
    np.testing.assert_array_equal(out.numpy(), expected_mix(0x1A2B, color, depth, motion, True))
    identity = torch.zeros_like(out)
    IdentityStylizer().stylize(
        Frame(1, torch.from_numpy(color), torch.from_numpy(depth), torch.from_numpy(motion)), identity
    )
    np.testing.assert_array_equal(identity.numpy(), color)


# ---------------------------------------------------------------- on a GPU
def gpu(test):
    """The project's GPU convention: marked `gpu`, skipped where CUDA is missing."""
    return pytest.mark.gpu(pytest.mark.skipif(NO_CUDA is not None, reason=f"needs CUDA: {NO_CUDA}")(test))


def _device_frame(rng, width, height, motion_dtype=np.float32):
    import torch

    host = random_frame(rng, width, height, motion_dtype)
    return host, tuple(torch.from_numpy(p).cuda() for p in host)


def _stamped(base: np.ndarray, frame_id: int, reset: bool = False) -> np.ndarray:
    """expected_mix of a frame differs from another with the same planes only at (0, 0)."""
    out = base.copy()
    out[0, 0] = [int(reset), frame_id & 0xFF, (frame_id >> 8) & 0xFF, 0xA5]
    return out


@gpu
def test_gpu_round_trip_1080p_byte_exact_1000_frames(start_daemon, rng):
    import torch

    daemon = start_daemon(stylizer_spec("Mix"))
    frames = [_device_frame(rng, 1920, 1080) for _ in range(4)]
    bases = [expected_mix(0, *host, False) for host, _ in frames]  # computed on the host, by numpy
    out = torch.empty((1080, 1920, 4), dtype=torch.uint8, device="cuda")
    with Client(daemon.endpoints.control, name="gpu-1080p", timeout_s=5.0, transport="cuda") as game:
        for i in range(1000):
            _, planes = frames[i % 4]
            frame_id = game.submit(*planes)
            game.wait_output(frame_id, timeout_s=5.0, out=out)
            np.testing.assert_array_equal(out.cpu().numpy(), _stamped(bases[i % 4], frame_id), err_msg=f"frame {i}")
        assert game.copies == {"host": 0, "device": 4000}
        status = game.status()
    assert status["stats"]["frames"] == 1000 and status["stats"]["failed"] == 0
    assert status["session"]["size"] == [1920, 1080]


@gpu
def test_gpu_bench_counts_no_host_copy():
    from reverie.bridge.bench import bench_bridge

    result = bench_bridge(1920, 1080, frames=100, warmup=5, transport="cuda")
    assert result["host_copies_per_frame"] == 0 and result["device_copies_per_frame"] == 4
    assert result["mismatched_frames"] == 0 and result["failed"] == 0 and result["transport"] == "cuda"


@gpu
def test_gpu_nonfinite_frame_fails_as_on_the_host(start_daemon, rng):
    daemon = start_daemon(stylizer_spec("Mix"))
    (color, depth, motion), planes = _device_frame(rng, 64, 48, np.float16)
    bad_host = depth.copy()
    bad_host[7, 3] = np.inf
    bad_device = planes[1].clone()
    bad_device[7, 3] = float("inf")
    with Client(daemon.endpoints.control, name="gpu-nan", timeout_s=5.0, transport="cuda") as game:
        frame_id = game.submit(planes[0], bad_device, planes[2])
        with pytest.raises(FrameRejected) as info:
            game.wait_output(frame_id, timeout_s=5.0)
        assert str(info.value) == f"frame {frame_id}: {find_nonfinite('depth', bad_host)}"
        frame_id = game.submit(*planes)  # and the next good frame goes through
        out = game.wait_output(frame_id, timeout_s=5.0)
        assert out.image.is_cuda
        np.testing.assert_array_equal(out.image.cpu().numpy(), expected_mix(frame_id, color, depth, motion, False))
        assert game.status()["stats"]["failed"] == 1


@gpu
def test_gpu_reopen_at_new_sizes(start_daemon, rng):
    daemon = start_daemon(stylizer_spec("Mix"))
    with Client(daemon.endpoints.control, name="gpu-resize", timeout_s=5.0, transport="cuda") as game:
        for generation, (width, height, motion_dtype) in enumerate(
            [(64, 48, np.float32), (1920, 1080, np.float16), (256, 256, np.float32)], 1
        ):
            host, planes = _device_frame(rng, width, height, motion_dtype)
            for _ in range(3):
                frame_id = game.submit(*planes)
                out = game.wait_output(frame_id, timeout_s=5.0)
                np.testing.assert_array_equal(out.image.cpu().numpy(), expected_mix(frame_id, *host, False))
            assert game._generation == generation
            assert game.status()["session"]["size"] == [width, height]
            mine = segments_of(daemon.pid)
            assert mine == [P.segment_name(daemon.pid, generation)], mine  # the old ring is gone


@gpu
def test_gpu_game_killed_mid_frame_and_the_daemon_keeps_serving(start_daemon, rng):
    daemon = start_daemon(stylizer_spec("Slow"))  # 50 ms a frame: a kill lands mid-frame
    game_script = textwrap.dedent(f"""
        import sys, torch
        from reverie.bridge.client import Client
        game = Client({daemon.endpoints.control!r}, name="doomed", timeout_s=5.0, transport="cuda")
        color = torch.full((1080, 1920, 4), 7, dtype=torch.uint8, device="cuda")
        depth = torch.ones((1080, 1920), device="cuda")
        motion = torch.zeros((1080, 1920, 2), device="cuda")
        first = game.submit(color, depth, motion)
        game.wait_output(first, timeout_s=10.0)
        print("serving", flush=True)
        while True:
            game.submit(color, depth, motion)
    """)
    doomed = subprocess.Popen([sys.executable, "-c", game_script], stdout=subprocess.PIPE, text=True)
    try:
        assert doomed.stdout.readline().strip() == "serving"
        time.sleep(0.12)
        doomed.kill()
        doomed.wait(10)
    finally:
        if doomed.poll() is None:
            doomed.kill()
    with daemon.client(5.0) as ctl:
        deadline = time.monotonic() + 5
        while ctl.status()["session"] is not None:
            assert time.monotonic() < deadline, "the daemon did not notice the dead game"
            time.sleep(0.05)
    assert daemon.proc.poll() is None
    assert not segments_of(daemon.pid)
    host, planes = _device_frame(rng, 320, 200)
    with Client(daemon.endpoints.control, name="next", timeout_s=5.0, transport="cuda") as game:
        frame_id = game.submit(*planes)
        out = game.wait_output(frame_id, timeout_s=5.0)
        np.testing.assert_array_equal(out.image.cpu().numpy(), expected_mix(frame_id, *host, False))


@gpu
def test_gpu_uuid_check(start_daemon):
    import shutil

    from reverie.bridge.cuda_ipc import current_device, gpu_uuid

    ours = gpu_uuid(current_device())
    if shutil.which("nvidia-smi"):
        assert ours in subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout
    daemon = start_daemon(stylizer_spec("Mix"))
    control = daemon.endpoints.control
    hello = _wire_request(control, {"v": P.PROTOCOL_MAJOR, "op": "hello", "client": "uuid-test", "pid": os.getpid()})
    other = "GPU-00000000-0000-0000-0000-000000000000"
    reply = _wire_request(control, _cuda_request(session=hello["session"], cuda_device=other))
    assert reply["error"] == {
        "code": P.ERR_INVALID,
        "message": f"the ring is on GPU {other}, this daemon runs on GPU {ours}; CUDA IPC needs one GPU for both",
    }
