"""`reverie render FILE --style PACK --out video.mp4`: restyle a capture offline.

The capture's game frames (color, depth, motion, camera cuts) go through the model's
stylizer in this process, under a style pack's prompt, settings and weights (or
`--prompt`), and into an mp4 with the demo's writer: the stylized stream, or with
`--side-by-side` the game | the new look with the prompt underneath. No daemon: the frames run
as fast as the model allows, none is dropped. Frames the daemon had dropped in the
recording were never shown and are left out here too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from reverie.common.cli_args import BACKENDS, DEFAULT_BACKEND_HELP, DEVICES

DEFAULT_FPS = 24.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reverie render", description="restyle a capture offline into an mp4")
    parser.add_argument("file", type=Path, help="a capture (reverie record)")
    parser.add_argument("--out", type=Path, required=True, help="the mp4 to write")
    look = parser.add_mutually_exclusive_group(required=True)
    look.add_argument("--style", help="a style pack: its name (reverie styles list) or its folder")
    look.add_argument("--prompt", help="a prompt instead of a pack (steps 1, strength 1, seed 0 unless given)")
    parser.add_argument("--steps", type=int, help="override the pack's steps")
    parser.add_argument("--seed", type=int, help="override the pack's seed")
    parser.add_argument("--side-by-side", action="store_true", help="the game | the new look, the prompt underneath")
    parser.add_argument("--fps", type=float, help="video frame rate (default: the capture's, else 24)")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help=f"onnxruntime, openvino or torch (cpu), tensorrt (cuda) (default: {DEFAULT_BACKEND_HELP})",
    )
    parser.add_argument("--device", default="cpu", choices=DEVICES)
    parser.add_argument("--frames", type=int, help="render only the first N frames")
    return parser


def resolve_style(args: argparse.Namespace):
    """(prompt, steps, strength, seed, weights folder or None) from --style or --prompt."""
    if args.prompt is not None:
        return args.prompt, args.steps or 1, 1.0, args.seed or 0, None
    from reverie.bridge.packs import StylePackError, load_catalog, load_pack, style_dirs

    folder = Path(args.style)
    if folder.is_dir() or folder.suffix == ".toml":
        try:
            pack = load_pack(folder)
        except StylePackError as exc:
            raise SystemExit(f"reverie render: {exc}") from None
    else:
        catalog = load_catalog(style_dirs())
        if args.style not in catalog.packs:
            raise SystemExit(f"reverie render: no style pack {args.style!r}; known: {', '.join(sorted(catalog.packs))}")
        pack = catalog.packs[args.style]
    steps = args.steps if args.steps is not None else pack.steps
    seed = args.seed if args.seed is not None else pack.seed
    return pack.prompt, steps, pack.strength, seed, pack.weights


def capture_fps(reader) -> float:
    """The capture's frame rate from its submit times (median interval), else DEFAULT_FPS."""
    times = [reader.frame(i).t_submit_ns for i in range(min(len(reader), 50))]
    steps = np.diff(np.array(times, np.float64))
    steps = steps[steps > 0]
    return float(np.clip(1e9 / np.median(steps), 1.0, 240.0)) if steps.size else DEFAULT_FPS


def render(
    reader, stylizer, out: Path, *, prompt: str, fps: float, side_by_side: bool = False, limit: int | None = None
) -> int:
    """Stylize the capture's frames with `stylizer` into `out`; frames written."""
    from reverie.bridge.capture import STATUS_DROPPED
    from reverie.common.stylizer import Frame

    from .compose import pair
    from .video import Mp4Writer

    writer = None
    written = 0
    try:
        for record in reader:
            if limit is not None and written >= limit:
                break
            if record.status == STATUS_DROPPED:
                continue
            frame = Frame(
                record.frame_id,
                record.color,
                record.depth,
                record.motion,
                reset=record.reset,
                jitter=tuple(record.jitter),
                near=record.near,
                far=record.far,
                fov_y=record.fov_y,
            )
            stylized = np.empty_like(record.color)
            stylizer.stylize(frame, stylized)
            image = pair(record.color, stylized, prompt) if side_by_side else stylized[..., :3]
            h, w = image.shape[:2]
            image = image[: h - h % 2, : w - w % 2]  # H.264 4:2:0 wants even sides
            if writer is None or writer.size != (image.shape[1], image.shape[0]):
                if writer is not None:
                    raise SystemExit(
                        "reverie render: the capture changes frame size; render one size at a time (--frames)"
                    )
                writer = Mp4Writer(out, image.shape[1], image.shape[0], fps)
            writer.write(np.ascontiguousarray(image))
            written += 1
    finally:
        if writer is not None:
            writer.close()
    return written


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from reverie.bridge.capture import CaptureError, CaptureReader

    try:
        reader = CaptureReader(args.file)
    except (CaptureError, OSError) as exc:
        print(f"reverie render: {exc}", file=sys.stderr)
        return 2
    if reader.truncated:
        print(f"warning: {args.file} is truncated ({reader.problem}); rendering its {len(reader)} complete frames")
    prompt, steps, strength, seed, weights = resolve_style(args)
    from reverie.model.stylize import ModelStylizer
    from reverie.model.weights import DEFAULT_WEIGHTS

    stylizer = ModelStylizer(args.backend, args.device, weights=weights or DEFAULT_WEIGHTS, prompt=prompt)
    stylizer.set_params(steps, strength, seed)
    stylizer.restart()
    start = time.perf_counter()
    try:
        written = render(
            reader,
            stylizer,
            args.out,
            prompt=prompt,
            fps=args.fps or capture_fps(reader),
            side_by_side=args.side_by_side,
            limit=args.frames,
        )
    except CaptureError as exc:
        print(f"reverie render: {exc}", file=sys.stderr)
        return 1
    finally:
        reader.close()
    seconds = time.perf_counter() - start
    print(
        f"wrote {args.out}: {written} frames, {prompt!r}, steps {steps}, {seconds:.1f} s"
        f" ({written / max(seconds, 1e-9):.1f} fps)"
    )
    return 0
