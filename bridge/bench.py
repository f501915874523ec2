"""`reverie bench bridge`: the transport's cost against the memcpy floor, in one run.

A real daemon runs in a child process with the identity stylizer; this process plays the
game: submit color + depth + motion, wait for the output, copy it out. Between frames it
moves the same bytes with plain copies (inputs in, color to output, output out), so the
floor and the bridge see the same machine state. The last line printed is one JSON object.

`--transport cuda` does the same with the planes on the GPU (the CUDA IPC ring): frames
are CUDA tensors, the floor is device-to-device copies, and a frame counts as done once
its output copy has finished on the GPU. `host_copies_per_frame` is what the client
counted crossing host memory per frame (`Client.copies`): 4 on the host transport (three
planes into shared memory, the output out of it), 0 expected on CUDA, where
`device_copies_per_frame` counts the device-to-device copies instead. The daemon's side
copies no plane on either transport (the stylizer works on views of the ring); on CUDA it
reads back one bool per frame, the NaN/inf verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any

import numpy as np

from reverie.common.cli_args import parse_size

from . import protocol as P
from .client import Client
from .local_daemon import LocalDaemon


def _test_frames(width: int, height: int, count: int = 4) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Random frames with no zero bytes, so a stale or blank output cannot pass for a real one."""
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(count):
        color = rng.integers(1, 256, (height, width, 4), dtype=np.uint8)
        depth = rng.uniform(0.1, 500.0, (height, width)).astype(np.float32)
        motion = rng.uniform(-32.0, 32.0, (height, width, 2)).astype(np.float32)
        frames.append((color, depth, motion))
    return frames


class _MemcpyFloor:
    """The same bytes as one bridge round trip, moved by plain copies in one process."""

    def __init__(self, width: int, height: int):
        self.color = np.empty((height, width, 4), np.uint8)
        self.depth = np.empty((height, width), np.float32)
        self.motion = np.empty((height, width, 2), np.float32)
        self.output = np.empty((height, width, 4), np.uint8)
        self.result = np.empty((height, width, 4), np.uint8)

    def time_one(self, color: np.ndarray, depth: np.ndarray, motion: np.ndarray) -> float:
        t0 = time.perf_counter()
        np.copyto(self.color, color)  # game writes the inputs
        np.copyto(self.depth, depth)
        np.copyto(self.motion, motion)
        np.copyto(self.output, self.color)  # the processor writes the output
        np.copyto(self.result, self.output)  # the game reads it
        return time.perf_counter() - t0


class _DeviceFloor:
    """The same bytes as one CUDA-ring round trip, moved by device-to-device copies."""

    def __init__(self, width: int, height: int, device: Any):
        import torch

        self.torch = torch
        self.color = torch.empty((height, width, 4), dtype=torch.uint8, device=device)
        self.depth = torch.empty((height, width), dtype=torch.float32, device=device)
        self.motion = torch.empty((height, width, 2), dtype=torch.float32, device=device)
        self.output = torch.empty_like(self.color)
        self.result = torch.empty_like(self.color)

    def time_one(self, color: Any, depth: Any, motion: Any) -> float:
        t0 = time.perf_counter()
        self.color.copy_(color)
        self.depth.copy_(depth)
        self.motion.copy_(motion)
        self.output.copy_(self.color)
        self.result.copy_(self.output)
        self.torch.cuda.current_stream().synchronize()
        return time.perf_counter() - t0


def bench_bridge(
    width: int, height: int, frames: int, warmup: int = 20, progress: bool = False, transport: str = P.TRANSPORT_SHM
) -> dict[str, Any]:
    """Round-trip the bridge `frames` times; return the summary the CLI prints as JSON.
    With transport "cuda" the frames are CUDA tensors (CudaUnavailable without a GPU)."""
    cuda = transport == P.TRANSPORT_CUDA
    if cuda:
        from .cuda_ipc import require_cuda

        require_cuda()  # before a daemon starts: a clear reason, not a refused open_ring
    test_frames = _test_frames(width, height)
    if cuda:
        import torch

        device = torch.device("cuda", torch.cuda.current_device())
        test_frames = [
            tuple(torch.from_numpy(p).to(device) for p in frame) for frame in test_frames
        ]  # uploaded once, not timed
        floor: Any = _DeviceFloor(width, height, device)
        out: Any = torch.empty((height, width, 4), dtype=torch.uint8, device=device)
        same = lambda a, b: bool(torch.equal(a, b))  # noqa: E731 (on the GPU: one bool read back, after the timing)
        finish = torch.cuda.current_stream().synchronize
    else:
        floor = _MemcpyFloor(width, height)
        out = np.empty((height, width, 4), np.uint8)
        same, finish = np.array_equal, lambda: None
    daemon = LocalDaemon(stylizer="identity").start()
    bridge_s, floor_s, mismatches = [], [], 0
    try:
        with Client(daemon.endpoints.control, name="bench", timeout_s=5.0, transport=transport) as game:
            for i in range(warmup + frames):
                color, depth, motion = test_frames[i % len(test_frames)]
                if i == warmup:
                    copies_before = dict(game.copies)
                t0 = time.perf_counter()
                frame_id = game.submit(color, depth, motion)
                game.wait_output(frame_id, timeout_s=5.0, out=out)
                finish()  # the output is in `out` (a no-op on the host: the copy is done)
                elapsed = time.perf_counter() - t0
                floor_elapsed = floor.time_one(color, depth, motion)
                if i >= warmup:
                    bridge_s.append(elapsed)
                    floor_s.append(floor_elapsed)
                    mismatches += int(not same(out, color))
                if progress and (i + 1) % max(1, (warmup + frames) // 20) == 0:
                    print(f"  {i + 1}/{warmup + frames} frames", file=sys.stderr, flush=True)
            copies = {kind: game.copies[kind] - copies_before[kind] for kind in game.copies}
            stats = game.status()["stats"]
    finally:
        daemon.stop()
    ms = np.array(bridge_s) * 1e3
    p50 = float(np.percentile(ms, 50))
    floor_ms = float(np.median(floor_s) * 1e3)
    return {
        "size": f"{width}x{height}",
        "frames": frames,
        "p50_ms": round(p50, 4),
        "p95_ms": round(float(np.percentile(ms, 95)), 4),
        "p99_ms": round(float(np.percentile(ms, 99)), 4),
        "memcpy_floor_ms": round(floor_ms, 4),
        "overhead_ratio": round(p50 / floor_ms, 3),
        "fps": round(1000.0 / float(np.mean(ms)), 1),
        "dropped": int(stats["dropped"]),
        "failed": int(stats["failed"]),
        "mismatched_frames": mismatches,
        "bytes_per_frame": int(width * height * (4 + 4 + 8 + 4)),
        "transport": transport,
        "host_copies_per_frame": round(copies["host"] / frames, 3),
        "device_copies_per_frame": round(copies["device"] / frames, 3),
        "machine": machine_description(cuda),
    }


def machine_description(cuda: bool) -> str:
    machine = f"{platform.machine()} {os.cpu_count()} cpu"
    if cuda:
        import torch

        machine += f", {torch.cuda.get_device_name()}"
    return machine


def run_bridge_bench(args: argparse.Namespace) -> int:
    from .cuda_ipc import CudaUnavailable

    width, height = parse_size(args.size)
    try:
        result = bench_bridge(width, height, args.frames, args.warmup, progress=not args.json, transport=args.transport)
    except CudaUnavailable as exc:
        print(f"reverie bench bridge --transport cuda: no CUDA here: {exc}", file=sys.stderr)
        return 2
    if not args.json:
        print(f"bridge round trip ({result['transport']}) at {result['size']}, {result['frames']} frames:")
        print(f"  p50 {result['p50_ms']:.3f} ms  p95 {result['p95_ms']:.3f} ms  p99 {result['p99_ms']:.3f} ms")
        print(f"  memcpy floor {result['memcpy_floor_ms']:.3f} ms  overhead ratio {result['overhead_ratio']:.2f}")
    print(json.dumps(result))
    return 0 if result["mismatched_frames"] == 0 and result["failed"] == 0 else 1
