"""Guided against bilinear upsampling of the model's output, on world frames with ground
truth: `python -m reverie.model.upsample_eval` (docs/benchmarks.md, "Resizing at the game's size").

The stand-in for the model's output is a style's ground truth rendered at the game's size
and shrunk to the working size the way the model's color input is (`resize.shrink_color`):
what a perfect model would give at the working size. Each method writes it back at the
game's size with the daemon's own code (`resize.write_upsampled`), and is compared with the
full-size ground truth:

- PSNR in dB;
- detail: the mean |Laplacian| of the result's luminance over the ground truth's (1: as
  much fine detail as the truth; bilinear upsampling from 448x256 keeps about a fifth).

`--model` takes the shipped model's real outputs instead (`ModelStylizer`, each style's
first training prompt, one frame from a fresh history): its own errors dominate the
PSNR, so the figures say whether upsampling them by the guide helps or harms.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable
from typing import Any

import cv2
import numpy as np

from .resize import shrink_color, working_size, write_upsampled
from .world.looks import STYLES
from .world.sequence import SequenceSpec, render_sequence

DEFAULT_SEEDS = (3, 5)


def render_frame(seed: int, width: int, height: int, styles: Iterable[str], path: str = "walk"):
    """The first frame of world `seed` on camera path `path`, with the styles' ground truth."""
    return next(iter(render_sequence(SequenceSpec(seed, 1, width, height, path, tuple(styles)))))


def detail(image: np.ndarray) -> float:
    """Mean |Laplacian| of an (H, W, 3|4) uint8 image's luminance (float, 3x3 kernel)."""
    luma = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(luma, cv2.CV_32F)).mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a[..., :3].astype(np.float32) - b[..., :3].astype(np.float32)) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


def shrunk_truth(truth: np.ndarray, work: tuple[int, int]) -> np.ndarray:
    """The stand-in for the model's output: (h, w, 3) float32 in 0..255."""
    return shrink_color(np.ascontiguousarray(truth), work)[..., :3].astype(np.float32)


def model_outputs(frame, styles: Iterable[str], work_height: int) -> dict[str, np.ndarray]:
    """The shipped model's working-size output for `frame` per style, (h, w, 3) float32 in
    0..255, as the stylizer hands it to `resize.model_to_game`."""
    from types import SimpleNamespace

    from . import stylize

    captured: list[np.ndarray] = []
    write = stylize.model_to_game

    def capture(image, out, *args, **kwargs):
        captured.append(((image[0].permute(1, 2, 0).cpu().numpy() + 1) * 127.5).astype(np.float32))
        return write(image, out, *args, **kwargs)

    stylizer = stylize.ModelStylizer(work_height=work_height)
    out = np.empty(frame.color.shape, np.uint8)
    outputs = {}
    stylize.model_to_game = capture
    try:
        for style in styles:
            stylizer.set_prompt(STYLES[style].train_prompts[0], 0)
            stylizer.restart()
            stylizer.stylize(
                SimpleNamespace(color=frame.color, depth=frame.depth, motion=frame.motion, reset=True), out
            )
            outputs[style] = captured[-1]
    finally:
        stylize.model_to_game = write
    return outputs


def upsample_truth(
    truth: np.ndarray, color: np.ndarray, work: tuple[int, int], p: np.ndarray | None = None, **options: Any
) -> np.ndarray:
    """`p` (default: the ground truth shrunk to `work`, width x height) written back at the
    truth's size by `resize.write_upsampled(**options)` under the guidance of the game's `color`."""
    p = shrunk_truth(truth, work) if p is None else p
    out = np.empty(truth.shape[:2] + (4,), np.uint8)
    write_upsampled(p, out, 1.0, color, **options)
    return out


def compare(
    truth: np.ndarray, color: np.ndarray, work: tuple[int, int], p: np.ndarray | None = None, **options: Any
) -> dict[str, float]:
    """PSNR and detail ratio of one method against the ground truth."""
    out = upsample_truth(truth, color, work, p, **options)
    return {"psnr": psnr(out, truth), "detail": detail(out) / detail(truth)}


def methods(radii: Iterable[int], epss: Iterable[float], guides: Iterable[str]) -> list[dict[str, Any]]:
    grid: list[dict[str, Any]] = [{"upsample": "bilinear"}]
    grid += [{"upsample": "guided", "guide": g, "radius": r, "eps": e} for g in guides for r in radii for e in epss]
    return grid


def _label(options: dict[str, Any]) -> str:
    if options["upsample"] == "bilinear":
        return "bilinear"
    return f"guided {options['guide']} r={options['radius']} eps={options['eps']:g}"


def _cpu_ms(
    truth: np.ndarray, color: np.ndarray, work: tuple[int, int], options: dict[str, Any], repeats: int = 5
) -> float:
    p = shrunk_truth(truth, work)
    out = np.empty(truth.shape[:2] + (4,), np.uint8)
    times = []
    for _ in range(repeats):
        t0 = time.thread_time()
        write_upsampled(p, out, 1.0, color, **options)
        times.append(time.thread_time() - t0)
    return float(np.median(times) * 1e3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reverie.model.upsample_eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--work-height", type=int, default=256)
    parser.add_argument("--seeds", default=",".join(map(str, DEFAULT_SEEDS)))
    parser.add_argument("--styles", default=",".join(STYLES))
    parser.add_argument("--radii", default="1,2,4")
    parser.add_argument("--eps", default="1e-5,1e-4,1e-3,1e-2")
    parser.add_argument("--guides", default="luma,color")
    parser.add_argument(
        "--model", action="store_true", help="upsample the shipped model's outputs, not the shrunk truth"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per method and style")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    work = working_size(width, height, args.work_height, 16)
    styles = args.styles.split(",")
    grid = methods(
        [int(r) for r in args.radii.split(",")], [float(e) for e in args.eps.split(",")], args.guides.split(",")
    )
    cv2.setNumThreads(1)
    rows: dict[str, list[dict[str, Any]]] = {_label(m): [] for m in grid}
    cpu: dict[str, float] = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        frame = render_frame(seed, width, height, styles)
        given = model_outputs(frame, styles, args.work_height) if args.model else {}
        for style in styles:
            truth = frame.styles[style]
            for options in grid:
                row = {"seed": seed, "style": style, **compare(truth, frame.color, work, given.get(style), **options)}
                rows[_label(options)].append(row)
                if args.json:
                    print(json.dumps({"method": _label(options), **row}))
        for options in grid:
            cpu.setdefault(_label(options), _cpu_ms(frame.styles[styles[0]], frame.color, work, options))
    source = "the shipped model's outputs" if args.model else "the shrunk ground truth"
    print(
        f"{args.size} from {work[0]}x{work[1]} ({source}), seeds {args.seeds}, styles {', '.join(styles)}; "
        "PSNR dB / detail ratio, mean over styles and seeds; CPU ms per frame (one thread)"
    )
    base = np.mean([r["psnr"] for r in rows["bilinear"]])
    for label, got in rows.items():
        mean_psnr, mean_detail = np.mean([r["psnr"] for r in got]), np.mean([r["detail"] for r in got])
        worst = min(r["psnr"] - b["psnr"] for r, b in zip(got, rows["bilinear"]))
        print(
            f"  {label:34s} {mean_psnr:6.2f} dB ({mean_psnr - base:+.2f}, worst style {worst:+.2f})  "
            f"detail {mean_detail:.3f}  {cpu[label]:6.1f} ms"
        )
    print("  per style (guided, the defaults, against bilinear):")
    default = _label({"upsample": "guided", "guide": "luma", "radius": 1, "eps": 1e-4})
    if default in rows:
        for style in styles:
            g = [r for r in rows[default] if r["style"] == style]
            b = [r for r in rows["bilinear"] if r["style"] == style]
            print(
                f"    {style:10s} PSNR {np.mean([r['psnr'] for r in b]):6.2f} -> "
                f"{np.mean([r['psnr'] for r in g]):6.2f} dB  "
                f"detail {np.mean([r['detail'] for r in b]):.3f} -> {np.mean([r['detail'] for r in g]):.3f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
