"""`reverie finetune --captures DIR --targets DIR --out PACK`: train the shipped model
further on a game's captured frames and their target frames, and write a style pack
holding the new weights.

This module is the glue and lives at the namespace root because it joins both packages,
which never import each other: it reads the daemon's capture files (reverie.bridge.capture),
hands the frames to the training (reverie.model.finetune, which reuses `reverie train`'s
loop, loss, checkpoints and resume), and writes the pack (reverie.bridge.packs.write_pack).
Target naming, data and what happens to the other styles: model/pairs.py, model/finetune.py,
docs/model.md ("Fine-tuning a style").
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reverie.model.pairs import Capture

CAPTURE_SUFFIX = ".rvcap"


def read_captures(path: Path) -> list[Capture]:
    """Every capture in folder `path` (its `*.rvcap` files, by name) or the one capture file
    `path`, as `model.pairs.Capture`s: frames in recorded order, numbered by position."""
    from reverie.bridge.capture import CaptureReader
    from reverie.model.pairs import Capture, CapturedFrame  # noqa: F811 (the run-time name of the hint)

    path = Path(path)
    files = sorted(path.glob(f"*{CAPTURE_SUFFIX}")) if path.is_dir() else [path]
    if not files or not files[0].is_file():
        raise FileNotFoundError(f"no capture files (*{CAPTURE_SUFFIX}) in {path}")
    captures = []
    for file in files:
        with CaptureReader(file) as reader:
            if reader.truncated:
                print(
                    f"reverie finetune: {file} is truncated ({reader.problem});"
                    f" using its {len(reader)} complete frames",
                    file=sys.stderr,
                )
            frames = [CapturedFrame(f.index, f.color, f.depth, f.motion, bool(f.reset)) for f in reader]
        name = file.name[: -len(CAPTURE_SUFFIX)] if file.name.endswith(CAPTURE_SUFFIX) else file.stem
        captures.append(Capture(name, frames))
    return captures


def register(commands: argparse._SubParsersAction) -> None:
    from reverie.model.finetune import DEFAULT_LR, DEFAULT_STEPS

    p = commands.add_parser(
        "finetune", help="train the model further on captured frames + target frames; writes a style pack"
    )
    p.add_argument("--captures", type=Path, required=True, help="a folder of capture files (*.rvcap) or one file")
    p.add_argument(
        "--targets",
        type=Path,
        required=True,
        help="target PNGs: TARGETS/<capture name>/<frame:06d>.png, at the frame's size",
    )
    p.add_argument("--out", type=Path, required=True, help="the style pack folder to write")
    p.add_argument("--prompt", required=True, help="the pack's prompt: the model learns the targets' look under it")
    p.add_argument("--name", help="the pack's name (default: the --out folder's name)")
    p.add_argument("--author", default="")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"training steps (default {DEFAULT_STEPS})")
    p.add_argument(
        "--lr", type=float, default=DEFAULT_LR, help=f"peak learning rate, cosine decay (default {DEFAULT_LR:g})"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, help="sequences per step (default: the base's)")
    p.add_argument("--base", type=Path, help="weights to start from (default: the shipped model/weights)")
    p.add_argument("--work", type=Path, help="checkpoints (default runs/finetune/<name>)")
    p.add_argument("--resume", action="store_true", help="continue from WORK/latest")
    p.add_argument("--overwrite", action="store_true", help="replace an existing pack in --out")
    p.set_defaults(func=cmd_finetune)


def cmd_finetune(args: argparse.Namespace) -> int:
    from reverie.bridge.packs import STYLE_FILE, StylePackError, write_pack
    from reverie.model.finetune import finetune
    from reverie.model.pairs import TargetError
    from reverie.model.weights import DEFAULT_WEIGHTS

    name = args.name or args.out.resolve().name
    base = args.base or DEFAULT_WEIGHTS
    work = args.work or Path("runs/finetune") / name
    if (args.out / STYLE_FILE).exists() and not args.overwrite:
        print(
            f"reverie finetune: {args.out / STYLE_FILE} exists; pass --overwrite to replace the pack", file=sys.stderr
        )
        return 2
    # One sampler step at full strength: what the model was trained and measured at.
    pack_settings = dict(name=name, author=args.author, prompt=args.prompt, steps=1, strength=1.0, seed=args.seed)
    try:  # a bad name or prompt is refused now, not after the training
        with tempfile.TemporaryDirectory() as scratch:
            write_pack(Path(scratch), **pack_settings)
    except StylePackError as e:
        print(f"reverie finetune: {e}", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        captures = read_captures(args.captures)
        frames = sum(len(c.frames) for c in captures)
        print(
            f"fine-tuning {base} on {frames} frames of {len(captures)} capture(s) under {args.prompt!r}"
            f" for {args.steps} steps "
            f"(checkpoints in {work})",
            file=sys.stderr,
        )
        weights = finetune(
            captures,
            args.targets,
            args.prompt,
            base,
            work,
            steps=args.steps,
            lr=args.lr,
            seed=args.seed,
            batch=args.batch,
            resume=args.resume,
        )
    except (FileNotFoundError, TargetError, ValueError) as e:
        print(f"reverie finetune: {e}", file=sys.stderr)
        return 2
    pack = write_pack(args.out, **pack_settings, weights=weights, overwrite=args.overwrite)
    print(
        f"wrote style pack {pack.name!r} in {args.out} (weights {args.out / 'weights'})"
        f" in {(time.monotonic() - started) / 60:.1f} min"
    )
    return 0
