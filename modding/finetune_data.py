"""World captures and target frames for `reverie finetune`: the test's and the demo's data.

A game would record its captures through the daemon and paint or generate the targets.
Here the synthetic world plays the game: a capture file holds the frames it would
submit (color, depth, motion, reset on cuts; the output is the game's own color, as
recorded with `reverie serve --stylizer identity`), and the targets are the world's
ground truth of one style, written as PNGs named the way `reverie finetune` reads them
(`model/pairs.py`, `target_path`). It lives at the namespace root because it joins the
world (reverie.model) and the capture format (reverie.bridge), which never import each
other. Use a style the shipped model was not trained on
(`world.looks.EXTRA_STYLES`, e.g. blueprint) to test fine-tuning honestly.

    python -m reverie.modding.finetune_data --world 7 --frames 240 --size 128x128 --style blueprint --out runs/bp-data

writes runs/bp-data/captures/world7.rvcap and runs/bp-data/targets/world7/000000.png ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reverie.bridge.capture import CaptureFrame, CaptureWriter
from reverie.modding.finetune_cli import CAPTURE_SUFFIX
from reverie.model.pairs import target_path
from reverie.model.world.images import write_png
from reverie.model.world.sequence import MIXED, SequenceSpec, render_sequence


def write_world_capture(
    out: Path, seed: int, frames: int, width: int, height: int, style: str, path: str = MIXED, progress=None
) -> tuple[Path, Path]:
    """Render `frames` frames of world `seed` into OUT/captures/world<seed>.rvcap and the
    style's ground truth into OUT/targets/world<seed>/; returns (captures, targets) folders."""
    captures, targets = Path(out) / "captures", Path(out) / "targets"
    captures.mkdir(parents=True, exist_ok=True)
    name = f"world{seed}"
    header = {
        "stylizer": "identity",
        "source": "reverie.modding.finetune_data",
        "world_seed": seed,
        "path": path,
        "width": width,
        "height": height,
        "motion": "f32",
        "target_style": style,
    }
    spec = SequenceSpec(seed, frames, width, height, path, (style,))
    with CaptureWriter(captures / f"{name}{CAPTURE_SUFFIX}", header) as writer:
        for i, frame in enumerate(render_sequence(spec)):
            writer.write_frame(
                CaptureFrame(
                    frame_id=i,
                    color=frame.color.copy(),
                    depth=frame.depth.copy(),
                    motion=frame.motion.copy(),
                    output=frame.color.copy(),
                    reset=frame.reset,
                )
            )
            file = target_path(targets, name, i)
            file.parent.mkdir(parents=True, exist_ok=True)
            write_png(file, frame.styles[style][..., :3])
            if progress is not None:
                progress(i + 1, frames)
    return captures, targets


def main(argv: list[str] | None = None) -> int:
    from reverie.common.cli_args import parse_size, print_progress
    from reverie.model.world.looks import ALL_STYLES

    parser = argparse.ArgumentParser(description="world captures + target PNGs of one style, for reverie finetune")
    parser.add_argument(
        "--world", type=int, required=True, help="world seed (training uses 0-999; evaluation 1000 and up)"
    )
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--size", default="128x128")
    parser.add_argument("--style", default="blueprint", choices=list(ALL_STYLES))
    parser.add_argument("--path", default=MIXED, help="camera path: mixed (every movement, cuts between) or one kind")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    width, height = parse_size(args.size)
    captures, targets = write_world_capture(
        args.out,
        args.world,
        args.frames,
        width,
        height,
        args.style,
        args.path,
        lambda done, total: print_progress(done, total),
    )
    print(file=sys.stderr)
    print(f"captures: {captures}  targets: {targets}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
