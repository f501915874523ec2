"""How fast a prompt change reaches the picture, with the history trust following the
prompt (`stream.HistoryTrust`, what the daemon runs) and held constant (the weights'
steady trust throughout), on a held-out world.

    python -m reverie.model.prompt_switch --frames 60 --switch 20 --transition 5 --size 128x128 --json

For each pair of styles (each style to the next one in `STYLES`), three rollouts on the
same camera path: the new style's prompt from the start (the reference), and the old
prompt switched to the new one at frame `switch` over `transition` frames, once with each
trust policy. Per frame after the switch: PSNR against the new style's ground truth.
Figures per policy, averaged over the pairs:
- `lag`: frames from the end of the transition until the output stays within 1 dB of the
  reference's PSNR for the rest of the rollout;
- `deficit`: mean PSNR below the reference over the `window` frames after the transition.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .evaluate import EVAL_WORLD_SEEDS_FROM, psnr
from .look_trust import LookTrust
from .nchw import output_image
from .network import Denoiser
from .resize import game_to_model
from .stream import Stream
from .world.looks import STYLES
from .world.sequence import SequenceSpec, WorldFrame, render_sequence

SETTLED_DB = 1.0  # "reached the new look": within this of the reference's PSNR
POLICIES = ("follows_prompt", "constant")


def stream(
    model: Denoiser,
    frames: list[WorldFrame],
    first: np.ndarray,
    second: np.ndarray,
    switch: int,
    transition: int,
    look_trust: LookTrust,
    follow_prompt: bool,
    seed: int,
) -> list[np.ndarray]:
    """The outputs (H, W, 3) uint8 of one rollout: prompt `first`, blended to `second` from
    frame `switch` over `transition` frames, as the stylizer does; the history trust is
    told of the change only with `follow_prompt` (untold, it stays at `first`'s steady trust)."""
    stream = Stream(first, look_trust, seed=seed, trust_follows_prompt=follow_prompt)
    denoise = lambda inputs: model(**inputs)  # noqa: E731
    outputs = []
    for i, frame in enumerate(frames):
        if i == switch and not np.array_equal(first, second):
            stream.set_prompt(second, transition)
        if frame.reset:
            stream.drop_history()
        height, width = frame.depth.shape
        out = stream.step(*game_to_model(frame.color, frame.depth, frame.motion, (width, height)), denoise)
        outputs.append(output_image(out))
    return outputs


def lag_and_deficit(got: list[float], reference: list[float], start: int, window: int) -> tuple[int, float]:
    """Frames from `start` until `got` stays within SETTLED_DB of `reference`, and the mean
    shortfall over `window` frames from `start`."""
    below = [r - g > SETTLED_DB for g, r in zip(got[start:], reference[start:])]
    lag = max((i + 1 for i, b in enumerate(below) if b), default=0)
    deficit = float(np.mean([r - g for g, r in zip(got[start : start + window], reference[start : start + window])]))
    return lag, deficit


def measure(
    model: Denoiser,
    look_trust: LookTrust,
    embed,
    world: int,
    frames: int,
    width: int,
    height: int,
    path: str,
    switch: int,
    transition: int,
    window: int,
) -> dict:
    """Per pair and per policy: lag and deficit (see the module's docstring)."""
    if world < EVAL_WORLD_SEEDS_FROM:
        raise ValueError(f"measure on held-out worlds: world must be >= {EVAL_WORLD_SEEDS_FROM}")
    if not 0 < switch < switch + transition + window <= frames:
        raise ValueError("need 0 < switch and switch + transition + window <= frames")
    names = list(STYLES)
    rendered = list(render_sequence(SequenceSpec(world, frames, width, height, path, tuple(names))))
    prompts = {name: embed(STYLES[name].train_prompts[0]) for name in names}
    settled_from = switch + transition
    pairs = {}
    for old, new in zip(names, names[1:] + names[:1]):
        truth = [f.styles[new][..., :3] for f in rendered]
        reference = [
            psnr(o, t)
            for o, t in zip(
                stream(model, rendered, prompts[new], prompts[new], switch, transition, look_trust, True, world), truth
            )
        ]
        row = {}
        for policy in POLICIES:
            outputs = stream(
                model,
                rendered,
                prompts[old],
                prompts[new],
                switch,
                transition,
                look_trust,
                policy == "follows_prompt",
                world,
            )
            lag, deficit = lag_and_deficit(
                [psnr(o, t) for o, t in zip(outputs, truth)], reference, settled_from, window
            )
            row[policy] = {"lag": lag, "deficit": round(deficit, 3)}
        pairs[f"{old}->{new}"] = row
    mean = {
        p: {k: round(float(np.mean([r[p][k] for r in pairs.values()])), 3) for k in ("lag", "deficit")}
        for p in POLICIES
    }
    return {
        "world": world,
        "frames": frames,
        "size": f"{width}x{height}",
        "path": path,
        "switch": switch,
        "transition": transition,
        "window": window,
        "history_trust": look_trust.to_json(),
        "pairs": pairs,
        "mean": mean,
    }


def main(argv: list[str] | None = None) -> int:
    from reverie.common.cli_args import parse_size

    from .text import runtime_embedder
    from .weights import DEFAULT_WEIGHTS, load_model, look_trust

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--world", type=int, default=1000, help="held-out world seed")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--switch", type=int, default=20, help="the frame the new prompt is sent on")
    parser.add_argument("--transition", type=int, default=5, help="frames the prompt blend takes")
    parser.add_argument(
        "--window", type=int, default=10, help="frames after the transition the deficit is averaged over"
    )
    parser.add_argument("--size", default="128x128")
    parser.add_argument("--path", default="walk", help="camera path (one without cuts)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    width, height = parse_size(args.size)
    model = load_model(args.weights)
    result = measure(
        model,
        look_trust(args.weights),
        runtime_embedder(),
        args.world,
        args.frames,
        width,
        height,
        args.path,
        args.switch,
        args.transition,
        args.window,
    )
    if not args.json:
        for pair, row in result["pairs"].items():
            print(
                f"  {pair:<22} "
                + "  ".join(f"{p}: lag {r['lag']:>2} deficit {r['deficit']:+.2f} dB" for p, r in row.items()),
                file=sys.stderr,
            )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
