"""`reverie world render | sheet | ewarp` and `reverie bench world`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from reverie.common.cli_args import parse_size, print_progress


def register(commands: argparse._SubParsersAction, benches: argparse._SubParsersAction) -> None:
    world = commands.add_parser("world", help="the synthetic game world: render sequences, contact sheet, E_warp")
    actions = world.add_subparsers(dest="world", required=True, metavar="ACTION")

    render = actions.add_parser("render", help="render a sequence to a folder of compressed chunks")
    _spec_options(render, frames=300)
    render.add_argument("--out", type=Path, required=True)
    render.add_argument("--chunk", type=int, default=32, help="frames per chunk file")
    render.set_defaults(func=cmd_render)

    sheet = actions.add_parser("sheet", help="a contact sheet: one frame in every buffer and style")
    sheet.add_argument("--seed", type=int, default=3)
    sheet.add_argument("--size", default="256x256")
    sheet.add_argument("--path", default="walk")
    sheet.add_argument("--frame", type=int, default=40)
    sheet.add_argument("--out", type=Path, default=Path("docs/world_contact_sheet.png"))
    sheet.set_defaults(func=cmd_sheet)

    ewarp = actions.add_parser("ewarp", help="E_warp of the game look and of every style's ground truth")
    ewarp.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ewarp.add_argument("--frames", type=int, default=300)
    ewarp.add_argument("--size", default="256x256")
    ewarp.add_argument("--json", action="store_true")
    ewarp.set_defaults(func=cmd_ewarp)

    bench = benches.add_parser("world", help="world rendering + read-back throughput")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--size", default="256x256")
    bench.add_argument("--frames", type=int, default=600)
    bench.add_argument("--style", default="watercolor")
    bench.set_defaults(func=cmd_bench)


def _spec_options(parser: argparse.ArgumentParser, frames: int) -> None:
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frames", type=int, default=frames)
    parser.add_argument("--size", default="256x256", help="WxH")
    parser.add_argument(
        "--style", action="append", default=[], help="a style to render as ground truth (repeat for more)"
    )
    parser.add_argument("--path", default="mixed", help="walk, run, strafe, orbit, fast_turn, static, cuts or mixed")


def cmd_render(args: argparse.Namespace) -> int:
    from .sequence import SequenceSpec, write_sequence

    width, height = parse_size(args.size)
    try:
        spec = SequenceSpec(args.seed, args.frames, width, height, args.path, tuple(args.style))
    except ValueError as exc:
        print(f"reverie world render: {exc}", file=sys.stderr)
        return 2
    meta = write_sequence(spec, args.out, args.chunk, progress=print_progress)
    print(f"wrote {args.frames} frames to {args.out} ({meta.name} describes them)")
    return 0


def cmd_sheet(args: argparse.Namespace) -> int:
    from .contact_sheet import contact_sheet

    width, height = parse_size(args.size)
    contact_sheet(args.seed, width, height, args.path, args.frame, args.out)
    print(f"wrote {args.out}")
    return 0


def cmd_ewarp(args: argparse.Namespace) -> int:
    from .coherence import measure_ewarp

    width, height = parse_size(args.size)
    result = measure_ewarp(args.seeds, args.frames, width, height, progress=print_progress)
    if not args.json:
        for name, value in result["ewarp"].items():
            print(f"  {name:<12} E_warp {value:.5f}")
    print(json.dumps(result))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .camera import CameraPath
    from .renderer import WorldRenderer
    from .scene import build_scene

    width, height = parse_size(args.size)
    scene = build_scene(1)
    renderer = WorldRenderer(scene, width, height)
    path = CameraPath("walk", scene, 1)
    styles = (args.style,) if args.style else ()
    renderer.render(path.pose(1), path.pose(0), 1, styles=styles)  # compile and warm up
    times = []
    for t in range(2, args.frames + 2):
        t0 = time.perf_counter()
        renderer.render(path.pose(t), path.pose(t - 1), t, styles=styles)
        times.append(time.perf_counter() - t0)
    renderer.release()
    times.sort()
    ms = [v * 1e3 for v in times]
    result = {
        "size": f"{width}x{height}",
        "frames": args.frames,
        "style": args.style,
        "fps": round(len(times) / sum(times), 1),
        "p50_ms": round(ms[len(ms) // 2], 3),
        "p95_ms": round(ms[int(len(ms) * 0.95)], 3),
        "buffers": "color+depth+motion+style, read back",
    }
    if not args.json:
        print(f"world at {result['size']} with {args.style}: {result['fps']} fps (p50 {result['p50_ms']} ms)")
    print(json.dumps(result))
    return 0
