"""`reverie demo` (what `make demo` runs): the product end to end on this machine.

Starts the daemon with the model (its own process) and the demo game (another process,
`reverie.demos.game`), which talk through the real bridge: shared memory for frames,
ZeroMQ for control. The game changes the prompt on a script and records `demo.mp4` (game
| stylized, the prompt underneath) and `demo.png` (a contact sheet). This process shows a
progress bar and prints the summary: fps, latency p50/p95, frames dropped.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from reverie.bridge import ControlClient
from reverie.bridge.local_daemon import LocalDaemon
from reverie.common.cli_args import BACKENDS, DEFAULT_BACKEND_HELP, DEVICES, print_progress


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reverie demo", description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=480, help="game frames (at --fps: 20 s by default)")
    parser.add_argument("--size", default="256x256", help="the game's frame size, WxH")
    parser.add_argument("--fps", type=float, default=24.0, help="the game's frame rate")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for demo.mp4 and demo.png")
    parser.add_argument("--backend", choices=BACKENDS, help=f"inference backend (default: {DEFAULT_BACKEND_HELP})")
    parser.add_argument("--device", default="cpu", choices=DEVICES)
    parser.add_argument("--weights", help="weights folder (default: the shipped weights)")
    parser.add_argument(
        "--steps", type=int, default=1, choices=range(1, 9), metavar="1..8", help="sampler steps per frame"
    )
    parser.add_argument("--seed", type=int, default=3, help="the world's seed")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    extra = (["--backend", args.backend] if args.backend else []) + ["--device", args.device]
    extra += ["--weights", args.weights] if args.weights else []
    print(
        f"starting the daemon ({args.backend or 'the default backend'} on {args.device})"
        f" and the demo game ({args.size}, {args.frames} frames at {args.fps:g} fps)"
    )
    summary = None
    with LocalDaemon(stylizer="model", extra=extra, ready_timeout_s=120.0) as daemon:
        with ControlClient(daemon.endpoints.control, timeout_s=5.0) as ctl:
            ctl.set_params(steps=args.steps)
        command = [
            sys.executable,
            "-m",
            "reverie.demos.game",
            "--control",
            daemon.endpoints.control,
            "--frames",
            str(args.frames),
            "--size",
            args.size,
            "--fps",
            str(args.fps),
            "--seed",
            str(args.seed),
            "--out",
            str(args.out),
        ]
        game = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        try:
            for line in game.stdout:
                message = json.loads(line)
                if message["type"] == "progress":
                    print_progress(message["done"], message["total"])
                elif message["type"] == "summary":
                    summary = message
        finally:
            if game.poll() is None:
                game.terminate()
            game.wait(30)
    if game.returncode != 0 or summary is None:
        print(f"reverie demo: the game exited with status {game.returncode}", file=sys.stderr)
        return 1
    print(
        f"{summary['frames']} frames at {summary['size']} in {summary['seconds']:.1f} s:"
        f" game {summary['game_fps']:.1f} fps, "
        f"model {summary['model_fps']:.1f} fps"
        f" ({summary['stylizer']}, {args.steps} step{'s' if args.steps > 1 else ''})"
    )
    print(
        f"latency (game submit to stylized output) p50 {summary['latency_p50_ms']:.1f} ms,"
        f" p95 {summary['latency_p95_ms']:.1f} ms; "
        f"frames dropped {summary['dropped']} (the daemon always takes the newest), failed {summary['failed']}"
    )
    print(f"prompts: {' -> '.join(summary['prompts'])}")
    print(f"wrote {summary['video']} and {summary['contact_sheet']}")
    return 0 if summary["failed"] == 0 else 1
