"""`reverie bench bridge`: the transport's cost against the memcpy floor, in one run;
`reverie bench model`: the product's latency, game submit to stylized output, with the
model in the daemon.

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
from pathlib import Path
from typing import Any, Callable

import numpy as np

from reverie.cli_args import parse_size

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


def bench_bridge(width: int, height: int, frames: int, warmup: int = 20, progress: bool = False,
                 transport: str = P.TRANSPORT_SHM) -> dict[str, Any]:
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
        test_frames = [tuple(torch.from_numpy(p).to(device) for p in frame) for frame in test_frames]  # uploaded once, not timed
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
        "machine": _machine(cuda),
    }


def _machine(cuda: bool) -> str:
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


# ---------------------------------------------------------------- reverie bench model
MODEL_BENCH_BYTES = 256 << 20  # distinct frames held in memory; the sequence loops (with a cut) beyond


def _world_frames(width: int, height: int, count: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, bool]]:
    """A walking camera through the synthetic world: real engine buffers, every frame moves
    (so the static skip never answers for the model)."""
    from reverie.model.world.sequence import SequenceSpec, render_sequence  # the bench's game, loaded lazily

    per_frame = width * height * (4 + 4 + 8)
    count = max(8, min(count, MODEL_BENCH_BYTES // per_frame))
    return [(f.color, f.depth, f.motion, f.reset) for f in render_sequence(SequenceSpec(1, count, width, height, "walk"))]


def bench_model(width: int, height: int, steps: list[int], backends: list[str], device: str, frames: int, warmup: int = 10,
                weights: str | None = None, work_height: int | None = None, rounds: int = 4,
                progress: Callable[[int, int], None] | None = None, precision: str | None = None) -> dict[str, Any]:
    """Lockstep frames (submit, wait for the output) through real daemons running the model,
    one daemon per backend, all configurations interleaved in `rounds` chunks so that they
    share the machine's state. Latency is the game's view: submit to output available.

    On `device` "cuda" the game uses the CUDA transport: the world's frames are uploaded
    once (not timed), submitted as CUDA tensors, and a frame counts as done once its output
    is in the game's CUDA tensor. `host_copies_per_frame` adds what the game's client and
    the daemon's stylizer moved between host and device (or, on the host transport, the
    client's plane copies through shared memory)."""
    cuda = device == "cuda"
    if cuda:
        from .cuda_ipc import require_cuda

        require_cuda()  # before daemons start: a clear reason, not a refused open_ring
    world = _world_frames(width, height, warmup + frames)
    configs = [(b, k) for k in steps for b in backends]
    latencies: dict[tuple[str, int], list[float]] = {c: [] for c in configs}
    daemons: dict[str, LocalDaemon] = {}
    clients: dict[str, Client] = {}
    out: Any = np.empty((height, width, 4), np.uint8)
    finish: Callable[[], None] = lambda: None  # noqa: E731
    if cuda:
        import torch

        gpu = torch.device("cuda", torch.cuda.current_device())
        world = [(*(torch.from_numpy(p).to(gpu) for p in (color, depth, motion)), reset) for color, depth, motion, reset in world]
        out = torch.empty((height, width, 4), dtype=torch.uint8, device=gpu)
        finish = torch.cuda.current_stream().synchronize
    transport = P.TRANSPORT_CUDA if cuda else P.TRANSPORT_SHM
    total, done, position = len(configs) * (warmup + frames), 0, {c: 0 for c in configs}
    try:
        for backend in backends:  # "name" or "name@WEIGHTS": that backend on other weights (a network against another)
            name, _, own_weights = backend.partition("@")
            extra = ["--backend", name, "--device", device]
            extra += ["--precision", precision] if precision else []
            extra += ["--weights", own_weights or weights] if (own_weights or weights) else []
            extra += ["--work-height", str(work_height)] if work_height else []
            daemons[backend] = LocalDaemon(stylizer="model", extra=extra).start(timeout_s=120.0)
            clients[backend] = Client(daemons[backend].endpoints.control, name="bench-model", timeout_s=30.0, transport=transport)
        chunk = -(-(warmup + frames) // rounds)
        for _ in range(rounds):
            for backend, k in configs:
                game = clients[backend]
                game.set_params(steps=k)
                for _ in range(min(chunk, warmup + frames - position[(backend, k)])):
                    i = position[(backend, k)]
                    color, depth, motion, reset = world[i % len(world)]
                    t0 = time.perf_counter()
                    frame_id = game.submit(color, depth, motion, reset=reset or i % len(world) == 0)
                    game.wait_output(frame_id, timeout_s=30.0, out=out)
                    finish()  # on the GPU: the output is in `out`
                    elapsed = time.perf_counter() - t0
                    if i >= warmup:
                        latencies[(backend, k)].append(elapsed * 1e3)
                    position[(backend, k)] += 1
                    done += 1
                    if progress is not None:
                        progress(done, total)
        status = {b: c.status() for b, c in clients.items()}
        host_copies = sum(c.copies["host"] for c in clients.values())
        host_copies += sum(int(s["stylizer_counters"].get("host_device_copies", 0)) for s in status.values())
    finally:
        for client in clients.values():
            client.close()
        for daemon in daemons.values():
            daemon.stop()
    runs = []
    for backend, k in configs:
        ms = np.array(latencies[(backend, k)])
        runs.append({"backend": backend, "steps": k, "p50_ms": round(float(np.percentile(ms, 50)), 3),
                     "p95_ms": round(float(np.percentile(ms, 95)), 3), "fps": round(1000.0 / float(ms.mean()), 2),
                     "stylizer": status[backend]["stylizer"]})  # with the precision it ran in
    first = runs[0]
    result: dict[str, Any] = {
        "size": f"{width}x{height}", "steps": first["steps"], "backend": first["backend"], "device": device, "frames": frames,
        "p50_ms": first["p50_ms"], "p95_ms": first["p95_ms"], "fps": first["fps"],
        "stylizer": status[first["backend"]]["stylizer"],
        "skipped": sum(int(s["stylizer_counters"].get("skipped", 0)) for s in status.values()),
        "dropped": sum(int(s["stats"]["dropped"]) for s in status.values()),
        "failed": sum(int(s["stats"]["failed"]) for s in status.values()),
        "host_copies_per_frame": round(host_copies / total, 3),
        "machine": _machine(cuda),
    }
    first_name, _, first_weights = first["backend"].partition("@")
    split = _stage_split(world, out, finish, first_name, device, first["steps"], first_weights or weights, work_height)
    result["split_ms"] = {**split, "bridge": bench_bridge(width, height, 50, 10, transport=transport)["p50_ms"]}
    if len(runs) > 1:
        result["runs"] = runs
        by = {(r["backend"], r["steps"]): r["p50_ms"] for r in runs}
        for other in backends:  # each other backend's p50 over onnxruntime's, per step count
            if other != "onnxruntime" and "onnxruntime" in backends:
                result[f"{other}_over_onnxruntime_p50"] = {str(k): round(by[(other, k)] / by[("onnxruntime", k)], 3) for k in steps}
            elif "@" in other:  # the first backend on the shipped weights over this one on its own weights
                result[f"{first['backend']}_over_{other}_p50"] = {str(k): round(by[(first["backend"], k)] / by[(other, k)], 3)
                                                                 for k in steps}
    return result


def _stage_split(world: list[Any], out: Any, finish: Callable[[], None], backend: str, device: str, steps: int,
                 weights: str | None, work_height: int | None, frames: int = 24, warmup: int = 3) -> dict[str, float]:
    """Per-frame p50 milliseconds of the first configuration's stages at the game's size,
    timed in this process on the same frames with the daemon's stylizer (`ModelStylizer`,
    same options): `network` (the backend's denoise calls), `resize_in`
    (`frames.game_to_model`), `resize_out` (`frames.model_to_game`: upsampling, strength
    blend, RGBA write), `other` (the rest of `stylize`: history warp, noise, planes) and
    `stylize` (all of it). The caller adds `bridge`: `bench_bridge`'s p50 at this size
    (the round trip with the identity stylizer: transport, frame loop, copies)."""
    from reverie.model import stylize as stylize_module

    from .stylizer import Frame

    options: dict[str, Any] = {"weights": weights} if weights else {}
    options.update({"work_height": work_height} if work_height else {})
    stylizer = stylize_module.ModelStylizer(backend, device, **options)
    stylizer.set_params(steps=steps, strength=None, seed=None)
    spent = {"network": 0.0, "resize_in": 0.0, "resize_out": 0.0}

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            result = fn(*args, **kwargs)
            finish()
            spent[name] += time.perf_counter() - t0
            return result
        return run

    stages = {"game_to_model": "resize_in", "model_to_game": "resize_out"}
    originals = {name: getattr(stylize_module, name) for name in stages}
    stylizer.backend.denoise = timed("network", stylizer.backend.denoise)
    samples: list[dict[str, float]] = []
    try:
        for name, stage in stages.items():
            setattr(stylize_module, name, timed(stage, originals[name]))
        for i in range(warmup + frames):
            color, depth, motion, reset = world[i % len(world)]
            spent.update(dict.fromkeys(spent, 0.0))
            t0 = time.perf_counter()
            stylizer.stylize(Frame(i, color, depth, motion, reset or i == 0), out)
            finish()
            if i >= warmup:
                samples.append({"stylize": time.perf_counter() - t0, **spent})
    finally:
        for name, fn in originals.items():
            setattr(stylize_module, name, fn)
    for sample in samples:
        sample["other"] = sample["stylize"] - sample["network"] - sample["resize_in"] - sample["resize_out"]
    keys = ("network", "resize_in", "resize_out", "other", "stylize")
    return {key: round(float(np.median([s[key] for s in samples])) * 1e3, 3) for key in keys} | {"frames": len(samples)}


def _int_list(text: str, name: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise SystemExit(f"--{name} must be integers separated by commas, got {text!r}") from None
    return values


def run_model_bench(args: argparse.Namespace) -> int:
    from reverie.cli_args import print_progress

    width, height = parse_size(args.size)
    steps = _int_list(args.steps, "steps")
    if not all(1 <= k <= 8 for k in steps):
        raise SystemExit(f"--steps must each be 1..8, got {args.steps!r}")
    from reverie.model.backends import BACKENDS, default_backend  # the bench runs the model: its names are the truth

    backends = [b.strip() for b in (args.backend or default_backend(args.device)).split(",")]
    for backend in backends:
        name, _, own_weights = backend.partition("@")
        if name not in BACKENDS:
            raise SystemExit(f"--backend must be {', '.join(BACKENDS)} (comma-separated, each optionally @WEIGHTS), got {backend!r}")
        if own_weights and not Path(own_weights, "config.json").is_file():
            raise SystemExit(f"--backend {backend}: {own_weights} holds no weights (config.json)")
    if len(set(backends)) != len(backends):
        raise SystemExit(f"--backend names each backend once, got {args.backend!r}")
    if args.frames < 1:
        raise SystemExit("--frames must be at least 1")
    from .cuda_ipc import CudaUnavailable

    try:
        result = bench_model(width, height, steps, backends, args.device, args.frames, args.warmup, args.weights, args.work_height,
                             progress=None if args.json else print_progress, precision=getattr(args, "precision", None))
    except CudaUnavailable as exc:
        print(f"reverie bench model --device cuda: no CUDA here: {exc}", file=sys.stderr)
        return 2
    if not args.json:
        for run in result.get("runs", [result]):
            print(f"{run['backend']:<12} {run['steps']} step(s) at {result['size']}: p50 {run['p50_ms']:.1f} ms  "
                  f"p95 {run['p95_ms']:.1f} ms  {run['fps']:.1f} fps")
    print(json.dumps(result))
    return 0 if result["failed"] == 0 else 1
