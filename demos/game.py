"""The demo game, a process of its own: the synthetic world (reverie.model.world) played
by a scripted camera (every kind of movement, with cuts), streamed to the daemon through
the real bridge at a fixed frame rate. It changes the prompt on a script, shows (and
records) the newest stylized frame beside its own, and keeps moments for a contact sheet.

It never waits for the model: each frame it submits and takes whatever output is newest,
as a game would. Progress and the final summary go to stdout as JSON lines for the
`reverie demo` process that started it.

    python -m reverie.demos.game --control ipc://... --frames 480 --size 256x256 --out .
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import deque
from pathlib import Path

import numpy as np

from reverie.bridge import Client, FrameDropped, FrameRejected
from reverie.common.cli_args import parse_size
from reverie.modding.compose import Sample, contact_sheet, pair
from reverie.modding.video import Mp4Writer
from reverie.model.world.images import write_png
from reverie.model.world.renderer import FAR, NEAR
from reverie.model.world.sequence import SequenceSpec, render_sequence

# (fraction of the run, prompt): each is a style the model was trained on, named as a player would.
SCRIPT = [
    (0.0, "oil painting"),
    (0.2, "winter night"),
    (0.4, "pencil sketch"),
    (0.6, "stained glass"),
    (0.8, "film noir"),
]
PROGRESS_EVERY = 8  # frames between progress lines


def _emit(kind: str, **fields: object) -> None:
    print(json.dumps({"type": kind, **fields}), flush=True)


def play(control: str, frames: int, width: int, height: int, fps: float, seed: int, out: Path, transition: int) -> dict:
    """Run the game; write demo.mp4 and demo.png into `out`; return the summary."""
    out.mkdir(parents=True, exist_ok=True)
    changes = {int(f * frames): text for f, text in SCRIPT}
    ends = sorted(changes) + [frames]
    sample_at = set()
    for start, end in zip(ends, ends[1:]):  # mid-segment and its last frame (the transition long done)
        sample_at |= {start + (end - start) // 2, end - 1}
    samples: list[Sample] = []
    latencies: list[float] = []
    arrivals: deque[float] = deque()  # when new outputs arrived, for the live model fps
    blank = np.zeros((height, width, 4), np.uint8)
    shown, stylized, prompt = 0, blank, ""
    period = 1.0 / fps
    with (
        Client(control, name="reverie-demo-game", timeout_s=10.0) as game,
        Mp4Writer(out / "demo.mp4", 2 * width, height + 32, fps) as video,
    ):
        started = time.monotonic()
        for i, world in enumerate(render_sequence(SequenceSpec(seed, frames, width, height, "mixed"))):
            if i in changes:
                prompt = changes[i]
                game.set_prompt(prompt, transition_frames=0 if i == 0 else transition)
            game.submit(
                world.color, world.depth, world.motion, reset=world.reset, near=NEAR, far=FAR, fov_y=math.radians(60)
            )
            output = game.latest_output()
            now = time.monotonic()
            if output is not None and output.frame_id != shown:
                shown, stylized = output.frame_id, output.image
                latencies.append(output.latency_ms)
                arrivals.append(now)
            while arrivals and now - arrivals[0] > 1.0:
                arrivals.popleft()
            lag = f"{np.median(latencies[-24:]):.0f} ms" if latencies else "-"
            figures = f"frame {i + 1}/{frames}  model {len(arrivals)} fps  latency {lag}  (game {fps:g} fps)"
            video.write(pair(world.color, stylized, prompt, figures))
            if i in sample_at:
                samples.append(Sample(i, prompt, world.color[..., :3].copy(), stylized[..., :3].copy()))
            if (i + 1) % PROGRESS_EVERY == 0 or i + 1 == frames:
                _emit("progress", done=i + 1, total=frames)
            time.sleep(max(0.0, started + (i + 1) * period - time.monotonic()))
        elapsed = time.monotonic() - started
        stylized_in_time = game.status()["stats"][
            "frames"
        ]  # by the daemon (the game sees only the newest of each frame time)
        try:  # the last frame's output, so the daemon's counters are final
            game.wait_output(game.submit(world.color, world.depth, world.motion), timeout_s=10.0)
        except (FrameDropped, FrameRejected):
            pass
        status = game.status()
    write_png(out / "demo.png", contact_sheet(samples))
    stats, counters = status["stats"], status["stylizer_counters"]
    lat = np.array(latencies) if latencies else np.zeros(1)
    return {
        "frames": frames,
        "size": f"{width}x{height}",
        "seconds": round(elapsed, 2),
        "game_fps": round(frames / elapsed, 2),
        "stylized": int(stylized_in_time),
        "model_fps": round(stylized_in_time / elapsed, 2),
        "latency_p50_ms": round(float(np.percentile(lat, 50)), 2),
        "latency_p95_ms": round(float(np.percentile(lat, 95)), 2),
        "dropped": int(stats["dropped"]),
        "failed": int(stats["failed"]),
        "skipped_static": int(counters.get("skipped", 0)),
        "stylizer": status["stylizer"],
        "prompts": [text for _, text in SCRIPT],
        "video": str(out / "demo.mp4"),
        "contact_sheet": str(out / "demo.png"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reverie.demos.game", description=__doc__.splitlines()[0])
    parser.add_argument("--control", required=True, help="the daemon's control endpoint")
    parser.add_argument("--frames", type=int, default=480)
    parser.add_argument("--size", default="256x256")
    parser.add_argument("--fps", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=3, help="the world's seed")
    parser.add_argument("--transition", type=int, default=24, help="frames over which a prompt change blends")
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    width, height = parse_size(args.size)
    if width % 2 or height % 2 or args.frames < len(SCRIPT) * 2:
        parser.error(f"--size needs even sides and --frames at least {len(SCRIPT) * 2}")
    _emit("summary", **play(args.control, args.frames, width, height, args.fps, args.seed, args.out, args.transition))
    return 0


if __name__ == "__main__":
    sys.exit(main())
