"""The bridge end to end, before the model lands: a scripted "game" streams procedural
frames (color, depth, motion) to a real daemon in another process, changes the prompt on
a script, and reports fps and latency. The daemon runs `ToonShade`, a few lines of
numpy that use depth for outlines and the prompt for the palette, so what crosses the
bridge is visible in `demo_bridge.png` (game | daemon output, one row per prompt).

    python demos/bridge_demo.py [--frames 300] [--size 640x360] [--out demo_bridge.png]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from reverie.bridge import Client, FrameDropped
from reverie.bridge.local_daemon import LocalDaemon
from reverie.model.world.images import write_png

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


def render_scene(t: float, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A scrolling ground plane with three spheres: color, linear depth (m), motion (px)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    speed = 2.0  # pixels per frame, camera panning right
    u = x + t * speed
    sky = y < height * 0.4
    depth = np.where(sky, 1000.0, 2.0 + 40.0 / np.maximum(y - height * 0.4 + 1.0, 1.0)).astype(np.float32)
    color = np.empty((height, width, 4), np.uint8)
    checker = ((u // 32 + y // 32) % 2).astype(np.float32)
    color[..., 0] = np.where(sky, 110, 60 + 80 * checker)
    color[..., 1] = np.where(sky, 160, 120 + 60 * checker)
    color[..., 2] = np.where(sky, 230, 50 + 30 * checker)
    color[..., 3] = 255
    for i, (cx0, cy, r) in enumerate([(0.2, 0.6, 0.12), (0.55, 0.7, 0.16), (0.85, 0.55, 0.09)]):
        cx = (cx0 * width - t * speed * (1.5 + i * 0.3)) % (width * 1.2) - width * 0.1
        d2 = (x - cx) ** 2 + (y - cy * height) ** 2
        inside = d2 < (r * height) ** 2
        shade = np.sqrt(np.clip(1 - d2 / (r * height) ** 2, 0, 1))
        color[inside, 0] = (200 * shade[inside]).astype(np.uint8)
        color[inside, 1] = (80 + 100 * shade[inside] * (i == 1)).astype(np.uint8)
        color[inside, 2] = (60 + 150 * shade[inside] * (i == 2)).astype(np.uint8)
        depth[inside] = 4.0 + i
    motion = np.zeros((height, width, 2), np.float32)
    motion[..., 0] = speed  # previous position = current + motion: the world slides left
    return color, depth, motion


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--fps", type=float, default=60.0, help="the game's frame rate")
    parser.add_argument("--out", type=Path, default=Path("demo_bridge.png"))
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
        for i in range(args.frames):
            if script and i >= script[0][0] * args.frames:
                prompt = script.pop(0)[1]
                game.set_prompt(prompt, transition_frames=12)
                print(f"  frame {i:4d}: prompt -> {prompt!r}")
            frame = render_scene(i, width, height)
            game.submit(*frame, reset=(i == 0))
            output = game.latest_output()
            if output is not None and output.frame_id != shown:
                shown = output.frame_id  # count each stylized frame once
                latencies.append(output.latency_ms)
                if i in (args.frames // 6, args.frames // 2, args.frames * 5 // 6):
                    rows.append(np.concatenate([frame[0], output.image], axis=1))
            time.sleep(max(0.0, started + (i + 1) * period - time.monotonic()))
        elapsed = time.monotonic() - started
        last = game.submit(*render_scene(args.frames, width, height))
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
