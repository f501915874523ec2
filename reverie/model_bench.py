"""`reverie bench model`: the product's latency, game submit to stylized output, with the
model in the daemon. It runs both wings (a real daemon of the bridge, the model's
stylizer), so it lives on the roof that assembles them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from reverie.bridge import protocol as P
from reverie.bridge.bench import bench_bridge, machine_description
from reverie.bridge.client import Client
from reverie.bridge.local_daemon import LocalDaemon
from reverie.common.cli_args import BACKENDS, DEFAULT_BACKEND_HELP, DEVICES, PRECISIONS, parse_size


def register(benches: argparse._SubParsersAction) -> None:
    model = benches.add_parser("model", help="game submit to stylized output, through the daemon with the model")
    model.add_argument("--json", action="store_true", help="print only the JSON summary line")
    model.add_argument("--size", default="256x256", help="the game's frame size, WxH")
    model.add_argument("--steps", default="1", help="sampler steps; several (1,2,4) are measured interleaved")
    model.add_argument(
        "--backend",
        help=f"{', '.join(BACKENDS)}; several (onnxruntime,openvino) interleaved, each "
        "optionally on other weights (onnxruntime@DIR: another network in the same run) "
        f"(default: {DEFAULT_BACKEND_HELP})",
    )
    model.add_argument("--device", choices=DEVICES, default="cpu")
    model.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="as for reverie serve (given to every backend: onnxruntime and torch take only f32)",
    )
    model.add_argument("--frames", type=int, default=200, help="measured frames per configuration")
    model.add_argument("--warmup", type=int, default=10)
    model.add_argument("--weights", help="weights folder (default: the shipped weights)")
    model.add_argument("--work-height", type=int, help="the model's working height (default 256)")
    model.set_defaults(func=run_model_bench)


# ---------------------------------------------------------------- reverie bench model
MODEL_BENCH_BYTES = 256 << 20  # distinct frames held in memory; the sequence loops (with a cut) beyond


def _world_frames(width: int, height: int, count: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, bool]]:
    """A walking camera through the synthetic world: real engine buffers, every frame moves
    (so the static skip never answers for the model)."""
    from reverie.model.world.sequence import SequenceSpec, render_sequence  # the bench's game, loaded lazily

    per_frame = width * height * (4 + 4 + 8)
    count = max(8, min(count, MODEL_BENCH_BYTES // per_frame))
    return [
        (f.color, f.depth, f.motion, f.reset) for f in render_sequence(SequenceSpec(1, count, width, height, "walk"))
    ]


def bench_model(
    width: int,
    height: int,
    steps: list[int],
    backends: list[str],
    device: str,
    frames: int,
    warmup: int = 10,
    weights: str | None = None,
    work_height: int | None = None,
    rounds: int = 4,
    progress: Callable[[int, int], None] | None = None,
    precision: str | None = None,
) -> dict[str, Any]:
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
        from reverie.bridge.cuda_ipc import require_cuda

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
        world = [
            (*(torch.from_numpy(p).to(gpu) for p in (color, depth, motion)), reset)
            for color, depth, motion, reset in world
        ]
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
            clients[backend] = Client(
                daemons[backend].endpoints.control, name="bench-model", timeout_s=30.0, transport=transport
            )
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
        runs.append(
            {
                "backend": backend,
                "steps": k,
                "p50_ms": round(float(np.percentile(ms, 50)), 3),
                "p95_ms": round(float(np.percentile(ms, 95)), 3),
                "fps": round(1000.0 / float(ms.mean()), 2),
                "stylizer": status[backend]["stylizer"],
            }
        )  # with the precision it ran in
    first = runs[0]
    result: dict[str, Any] = {
        "size": f"{width}x{height}",
        "steps": first["steps"],
        "backend": first["backend"],
        "device": device,
        "frames": frames,
        "p50_ms": first["p50_ms"],
        "p95_ms": first["p95_ms"],
        "fps": first["fps"],
        "stylizer": status[first["backend"]]["stylizer"],
        "skipped": sum(int(s["stylizer_counters"].get("skipped", 0)) for s in status.values()),
        "dropped": sum(int(s["stats"]["dropped"]) for s in status.values()),
        "failed": sum(int(s["stats"]["failed"]) for s in status.values()),
        "host_copies_per_frame": round(host_copies / total, 3),
        "machine": machine_description(cuda),
    }
    first_name, _, first_weights = first["backend"].partition("@")
    split = _stage_split(world, out, finish, first_name, device, first["steps"], first_weights or weights, work_height)
    result["split_ms"] = {**split, "bridge": bench_bridge(width, height, 50, 10, transport=transport)["p50_ms"]}
    if len(runs) > 1:
        result["runs"] = runs
        by = {(r["backend"], r["steps"]): r["p50_ms"] for r in runs}
        for other in backends:  # each other backend's p50 over onnxruntime's, per step count
            if other != "onnxruntime" and "onnxruntime" in backends:
                result[f"{other}_over_onnxruntime_p50"] = {
                    str(k): round(by[(other, k)] / by[("onnxruntime", k)], 3) for k in steps
                }
            elif "@" in other:  # the first backend on the shipped weights over this one on its own weights
                result[f"{first['backend']}_over_{other}_p50"] = {
                    str(k): round(by[(first["backend"], k)] / by[(other, k)], 3) for k in steps
                }
    return result


def _stage_split(
    world: list[Any],
    out: Any,
    finish: Callable[[], None],
    backend: str,
    device: str,
    steps: int,
    weights: str | None,
    work_height: int | None,
    frames: int = 24,
    warmup: int = 3,
) -> dict[str, float]:
    """Per-frame p50 milliseconds of the first configuration's stages at the game's size,
    timed in this process on the same frames with the daemon's stylizer (`ModelStylizer`,
    same options): `network` (the backend's denoise calls), `resize_in`
    (`resize.game_to_model`), `resize_out` (`resize.model_to_game`: upsampling, strength
    blend, RGBA write), `other` (the rest of `stylize`: history warp, noise, planes) and
    `stylize` (all of it). The caller adds `bridge`: `bench_bridge`'s p50 at this size
    (the round trip with the identity stylizer: transport, frame loop, copies)."""
    from reverie.common.stylizer import Frame
    from reverie.model import stylize as stylize_module

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
    from reverie.common.cli_args import print_progress

    width, height = parse_size(args.size)
    steps = _int_list(args.steps, "steps")
    if not all(1 <= k <= 8 for k in steps):
        raise SystemExit(f"--steps must each be 1..8, got {args.steps!r}")
    from reverie.model.backends import BACKENDS, default_backend  # the bench runs the model: its names are the truth

    backends = [b.strip() for b in (args.backend or default_backend(args.device)).split(",")]
    for backend in backends:
        name, _, own_weights = backend.partition("@")
        if name not in BACKENDS:
            raise SystemExit(
                f"--backend must be {', '.join(BACKENDS)} (comma-separated, each optionally @WEIGHTS), got {backend!r}"
            )
        if own_weights and not Path(own_weights, "config.json").is_file():
            raise SystemExit(f"--backend {backend}: {own_weights} holds no weights (config.json)")
    if len(set(backends)) != len(backends):
        raise SystemExit(f"--backend names each backend once, got {args.backend!r}")
    if args.frames < 1:
        raise SystemExit("--frames must be at least 1")
    from reverie.bridge.cuda_ipc import CudaUnavailable

    try:
        result = bench_model(
            width,
            height,
            steps,
            backends,
            args.device,
            args.frames,
            args.warmup,
            args.weights,
            args.work_height,
            progress=None if args.json else print_progress,
            precision=getattr(args, "precision", None),
        )
    except CudaUnavailable as exc:
        print(f"reverie bench model --device cuda: no CUDA here: {exc}", file=sys.stderr)
        return 2
    if not args.json:
        for run in result.get("runs", [result]):
            print(
                f"{run['backend']:<12} {run['steps']} step(s) at {result['size']}: p50 {run['p50_ms']:.1f} ms  "
                f"p95 {run['p95_ms']:.1f} ms  {run['fps']:.1f} fps"
            )
    print(json.dumps(result))
    return 0 if result["failed"] == 0 else 1
