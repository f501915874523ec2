"""The bridge end to end, before the model lands: the synthetic world, played by a
scripted camera (reverie.model.world, mixed path), streams its frames (color, depth,
motion, cuts) to a real daemon in another process; the prompt changes on a script; fps
and latency are reported. The daemon runs `ToonShade`, a few lines of
numpy that use depth for outlines and the prompt for the palette, so what crosses the
bridge is visible in `demo_bridge.png` (game | daemon output, one row per prompt).

    python demos/bridge_demo.py [--frames 300] [--size 640x360] [--out demo_bridge.png]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from reverie.bridge import Client, FrameDropped
from reverie.bridge.local_daemon import LocalDaemon
from reverie.model.world.images import write_png
from reverie.model.world.renderer import FAR, NEAR
from reverie.model.world.sequence import SequenceSpec, render_sequence

PALETTES = {  # prompt keyword -> (shadow, mid, light) RGB
    "winter": ((20, 30, 70), (120, 150, 200), (235, 245, 255)),
    "anime": ((40, 20, 60), (230, 120, 140), (255, 230, 180)),
    "oil": ((60, 30, 10), (170, 110, 40), (250, 210, 120)),
}
SCRIPT = [(0, "anime"), (0.33, "winter night"), (0.66, "oil painting")]  # (fraction of run, prompt)


class ToonShade:
    """Posterize luminance into the prompt's palette; outline depth discontinuities."""

    name = "toon-shade"

    def __init__(self) -> None:
        self.palette = np.array(PALETTES["anime"], np.float32)

    def set_prompt(self, text: str, transition_frames: int) -> None:
        key = next((k for k in PALETTES if k in text.lower()), "anime")
        self.palette = np.array(PALETTES[key], np.float32)

    def set_params(self, steps, strength, seed) -> None:
        pass

    def reset_history(self) -> None:
        pass

    def stylize(self, frame, out: np.ndarray) -> None:
        rgb = frame.color[..., :3].astype(np.float32)
        luma = rgb @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0
        level = np.digitize(luma, [0.3, 0.5])
        shaded = self.palette[level]
        log_depth = np.log(frame.depth)
        edges = (np.abs(np.diff(log_depth, axis=0, append=log_depth[-1:])) + np.abs(np.diff(log_depth, axis=1, append=log_depth[:, -1:]))) > 0.05
        shaded[edges] = 0
        out[..., :3] = shaded.astype(np.uint8)
        out[..., 3] = 255


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--fps", type=float, default=60.0, help="the game's frame rate")
    parser.add_argument("--out", type=Path, default=Path("demo_bridge.png"))
    parser.add_argument("--seed", type=int, default=3, help="the world's seed")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))

    daemon = LocalDaemon(stylizer=f"{Path(__file__).resolve()}:ToonShade").start()
    print(daemon.output[0].strip())
    latencies, rows, shown = [], [], 0
    try:
        game = Client(daemon.endpoints.control, name="bridge-demo", timeout_s=1.0)
        script = list(SCRIPT)
        period = 1.0 / args.fps
        started = time.monotonic()
        world = render_sequence(SequenceSpec(args.seed, args.frames + 1, width, height, "mixed"))
        for i in range(args.frames):
            if script and i >= script[0][0] * args.frames:
                prompt = script.pop(0)[1]
                game.set_prompt(prompt, transition_frames=12)
                print(f"  frame {i:4d}: prompt -> {prompt!r}")
            world_frame = next(world)
            frame = (world_frame.color, world_frame.depth, world_frame.motion)
            game.submit(*frame, reset=world_frame.reset, near=NEAR, far=FAR, fov_y=math.radians(60))
            output = game.latest_output()
            if output is not None and output.frame_id != shown:
                shown = output.frame_id  # count each stylized frame once
                latencies.append(output.latency_ms)
            if output is not None and i in (args.frames // 6, args.frames // 2, args.frames * 5 // 6):
                rows.append(np.concatenate([frame[0], output.image], axis=1))
            time.sleep(max(0.0, started + (i + 1) * period - time.monotonic()))
        elapsed = time.monotonic() - started
        final = next(world)
        last = game.submit(final.color, final.depth, final.motion, reset=final.reset)
        try:
            game.wait_output(last, timeout_s=2)
        except FrameDropped:
            pass
        stats = game.status()["stats"]
        game.close()
    finally:
        daemon.stop()
    if rows:
        write_png(args.out, np.concatenate(rows, axis=0))
    lat = np.array(latencies)
    print(
        f"{args.frames} frames at {width}x{height} in {elapsed:.1f} s: game {args.frames / elapsed:.1f} fps, "
        f"daemon stylized {stats['frames']} ({stats['dropped']} dropped, {stats['failed']} failed); "
        f"latency p50 {np.percentile(lat, 50):.2f} ms p95 {np.percentile(lat, 95):.2f} ms; wrote {args.out}"
    )
    return 0 if stats["failed"] == 0 and shown > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
