"""Capture figures for docs/benchmarks.md: `python -m reverie.demos.capture_bench [--json]`.

Synthetic-world frames (the demo's world, a walking camera) stream through a model
daemon in lockstep, first without and then with `record_start`, so the per-frame cost of
the tap shows in the game's latency; the capture is then replayed with `--check`
semantics (speed, and that it is bit-exact), and its frames are compressed again with
and without the byte shuffle and at zlib levels 1 and 6 (why the format is what it is).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np


def _latencies(game, frames) -> list[float]:
    out = []
    for f in frames:
        start = time.perf_counter()
        game.wait_output(game.submit(f.color, f.depth, f.motion, reset=f.reset), timeout_s=60)
        out.append((time.perf_counter() - start) * 1e3)
    return out


def compression_table(reader) -> dict[str, float]:
    """Ratio raw/stored of each plane over the capture, by filter and level."""
    from reverie.bridge.capture import shuffle

    sums: dict[str, list[int]] = {}
    for frame in reader:
        planes = {"color": frame.color, "depth": frame.depth, "motion": frame.motion, "output": frame.output}
        for name, plane in planes.items():
            raw = plane.tobytes()
            for label, data in (("plain", raw), ("shuffled", shuffle(plane))):
                if name in ("color", "output") and label == "shuffled":
                    continue
                for level in (1, 6):
                    key = f"{name}_{label}_l{level}"
                    total = sums.setdefault(key, [0, 0])
                    total[0] += len(raw)
                    total[1] += len(zlib.compress(data, level))
    return {k: round(v[0] / v[1], 2) for k, v in sums.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--size", default="256x256")
    parser.add_argument(
        "--backend", help="the model's backend (default: reverie.model.backends.default_backend, as reverie serve)"
    )
    parser.add_argument("--stylizer", default="model", help="model, or identity (the tap's cost alone, at any size)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    width, height = map(int, args.size.split("x"))

    from reverie.bridge import Client
    from reverie.bridge.capture import CaptureReader, CaptureWriter
    from reverie.bridge.local_daemon import LocalDaemon
    from reverie.modding.replay import replay
    from reverie.model.world.sequence import SequenceSpec, render_sequence

    frames = list(render_sequence(SequenceSpec(7, args.frames, width, height, "walk")))
    folder = Path(tempfile.mkdtemp(prefix="rv-capture-bench-"))
    path = folder / "bench.rvcap"
    result: dict = {"frames": args.frames, "size": args.size, "stylizer": args.stylizer}
    extra = ["--capture-dir", str(folder)]
    if args.stylizer == "model":
        from reverie.model.backends import default_backend

        result["backend"] = args.backend or default_backend("cpu")
        extra += ["--backend", result["backend"]]
    with LocalDaemon(stylizer=args.stylizer, extra=extra, ready_timeout_s=300.0) as daemon:
        with Client(daemon.endpoints.control, name="bench", timeout_s=60.0) as game:
            game.set_prompt("oil painting", 0)
            _latencies(game, frames[:10])  # warm-up
            plain = _latencies(game, frames)
            game.record_start(path)
            start = time.perf_counter()
            recorded = _latencies(game, frames)
            record_s = time.perf_counter() - start
            capture = game.record_stop()
        result["latency_p50_ms"] = round(float(np.median(plain)), 2)
        result["latency_p50_ms_recording"] = round(float(np.median(recorded)), 2)
        result["record_fps"] = round(args.frames / record_s, 1)
        result["capture_dropped"] = capture["dropped"]
        result["capture_written"] = capture["written"]
        result["capture_bytes"] = path.stat().st_size
        result["bytes_per_frame"] = round(path.stat().st_size / max(capture["written"], 1))
        result["compression_ratio"] = round(capture["bytes_raw"] / capture["bytes_stored"], 2)
        with CaptureReader(path) as reader, Client(daemon.endpoints.control, name="replay", timeout_s=60.0) as game:
            replayed = replay(reader, game, check=True)
            result["replay_fps"] = round(replayed.frames / replayed.seconds, 1)
            result["replay_bit_exact"] = replayed.exact
            start = time.perf_counter()
            for _ in reader:
                pass
            result["read_fps"] = round(len(reader) / (time.perf_counter() - start), 1)
            again = folder / "again.rvcap"  # the writer alone (what the tap's thread does per frame)
            records = list(reader)
            start = time.perf_counter()
            with CaptureWriter(again, reader.header) as writer:
                for record in records:
                    writer.write_frame(record)
            result["write_fps"] = round(len(records) / (time.perf_counter() - start), 1)
            again.unlink()
            result["compression_by_plane"] = compression_table(reader)
    path.unlink()
    folder.rmdir()
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
