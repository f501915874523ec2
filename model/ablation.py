"""The drift ablation in one command: train every variant with the same budget, evaluate
each on the same held-out world and camera path, write the table (JSON) and the plot of
PSNR over the rollout.

    python -m reverie.model.ablation --steps 1500 --frames 1000 --size 128x128 --path orbit --out runs/ablation

Variants (train.ABLATIONS): full (Diffusion Forcing + History Augmentation), no_augment
(the history is always the clean ground truth), no_history (each frame on its own). An
uninterrupted path is the default because a cut drops the history: drift can only build
up over a long history chain. On the orbit, drift is also reported with the content held
still (`evaluate.psnr_same_view`): the first 100 frames against the last window showing the same view.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .evaluate import FIGURES, psnr_same_view
from .train import ABLATIONS, PRESETS, train, with_overrides
from .weights import load_model

SMOOTHING = 9  # frames in the plot's moving average


def run_variant(
    variant: str, steps: int, seed: int, out: Path, frames: int, width: int, height: int, path: str, world: int
) -> dict:
    """Train one variant (resuming if its folder has a checkpoint) and evaluate it."""
    from .evaluate import evaluate
    from .world.looks import STYLES

    config = with_overrides(PRESETS["cpu"], steps=steps, seed=seed, ablation=variant)
    folder = train(config, out / variant, resume=True)
    model = load_model(folder)
    result = evaluate(
        model, "train", list(STYLES), world, frames, width, height, history=variant != "no_history", path=path
    )
    (out / f"{variant}.json").write_text(json.dumps(result))
    return result


def mean_curve(result: dict) -> np.ndarray:
    """PSNR per rollout frame, averaged over the styles."""
    return np.mean([v["psnr_curve"] for v in result["styles"].values()], axis=0)


def smooth(curve: np.ndarray, frames: int = SMOOTHING) -> np.ndarray:
    return np.convolve(curve, np.ones(frames) / frames, mode="valid")


def summarize(results: dict[str, dict], plot: Path) -> dict:
    """The table (means over styles, and per style) and the plot of PSNR over the rollout."""
    from .world.images import plot_curves

    low, high = plot_curves([smooth(mean_curve(r)).tolist() for r in results.values()], plot)
    table = {}
    for variant, r in results.items():
        row = {k: round(r["mean"][k], 4) for k in FIGURES}
        per_style = {s: {k: round(f[k], 4) for k in FIGURES} for s, f in r["styles"].items()}
        same_view = {s: psnr_same_view(f["psnr_curve"], r["path"]) for s, f in r["styles"].items()}
        if all(v is not None for v in same_view.values()):
            for s, f in r["styles"].items():
                per_style[s]["drift_same_view"] = round(same_view[s] - f["psnr_first100"], 3)
            row["drift_same_view"] = round(float(np.mean([v["drift_same_view"] for v in per_style.values()])), 3)
        table[variant] = {**row, "per_style": per_style}
    return {"plot": str(plot), "plot_y_range": [round(low, 2), round(high, 2)], "variants": table}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--size", default="128x128")
    parser.add_argument("--path", default="orbit")
    parser.add_argument("--world", type=int, default=1000, help="held-out world seed")
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--plot", type=Path, default=Path("docs/model_ablation.png"))
    args = parser.parse_args(argv)
    from reverie.common.cli_args import parse_size

    width, height = parse_size(args.size)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for variant in ABLATIONS:
        print(f"ablation: {variant}", file=sys.stderr)
        results[variant] = run_variant(
            variant, args.steps, args.seed, args.out, args.frames, width, height, args.path, args.world
        )
    summary = summarize(results, args.plot)
    summary.update(
        {
            "steps": args.steps,
            "seed": args.seed,
            "world": args.world,
            "frames": args.frames,
            "size": args.size,
            "path": args.path,
        }
    )
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    for variant, row in summary["variants"].items():
        same = f", same view one lap later {row['drift_same_view']:+.2f} dB" if "drift_same_view" in row else ""
        print(
            f"  {variant:<11} psnr {row['psnr']:.2f}  ewarp {row['ewarp']:.4f} (gt {row['ewarp_gt']:.4f})  "
            f"drift {row['psnr_last100'] - row['psnr_first100']:+.2f} dB{same}"
        )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
