"""E_warp, the temporal coherence measure: how much a video changes between frames where
the engine's motion says it should not. Measured here on the world's ground truth, it is
the bar the model's output must meet."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..history import validity_mask, warp_error
from .looks import STYLES
from .sequence import SequenceSpec, render_sequence

OCCLUSION_TOLERANCE = 0.01  # relative depth difference for "the same surface point"


def occlusion_valid(previous_depth: np.ndarray, motion: np.ndarray, expected_depth: np.ndarray) -> np.ndarray:
    """The pixels E_warp counts: on screen in the previous frame and the same surface point
    there (exact previous depth, OCCLUSION_TOLERANCE)."""
    return validity_mask(previous_depth, motion, expected_depth, OCCLUSION_TOLERANCE)


def measure_ewarp(
    seeds: list[int], frames: int, width: int, height: int, progress: Callable[[int, int], None] | None = None
) -> dict:
    """Mean E_warp over consecutive frame pairs (no cut between them) of mixed-path
    sequences, for the game look ("color") and every style."""
    names = tuple(STYLES)
    totals: dict[str, list[float]] = {"color": [], **{n: [] for n in names}}
    done, total = 0, len(seeds) * frames
    for seed in seeds:
        prev = None
        for frame in render_sequence(SequenceSpec(seed, frames, width, height, "mixed", names)):
            if prev is not None and not frame.reset:
                valid = occlusion_valid(prev.depth, frame.motion, frame.prev_depth)
                totals["color"].append(warp_error(prev.color, frame.color, frame.motion, valid))
                for name in names:
                    totals[name].append(warp_error(prev.styles[name], frame.styles[name], frame.motion, valid))
            prev = frame
            done += 1
            if progress is not None:
                progress(done, total)
    return {
        "seeds": seeds,
        "frames": frames,
        "size": f"{width}x{height}",
        "pairs": len(totals["color"]),
        "ewarp": {name: round(float(np.mean(values)), 5) for name, values in totals.items()},
    }
