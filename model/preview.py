"""A style pack's thumbnail: the synthetic world through the model with the pack's look.

`reverie styles preview PACK --out PNG` calls `render_preview`: a short walk through a
fixed world (the same seed every time, so thumbnails of different packs compare), each
frame stylized by the daemon's own stage (`ModelStylizer`, with the pack's weights when
it has some, its prompt, steps, strength and seed), and the last frame written as PNG.
The last frame, not the first: by then the stream carries history, as a player sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .stylize import ModelStylizer
from .weights import DEFAULT_WEIGHTS
from .world.images import write_png
from .world.sequence import SequenceSpec, render_sequence

PREVIEW_SEED = 1001  # an evaluation world (never trained on)
PREVIEW_PATH = "walk"


def render_preview(
    pack: Any,
    out: Path,
    width: int = 256,
    height: int = 256,
    frames: int = 8,
    backend: str | None = None,
    encoder: Callable[[str], np.ndarray] | None = None,
) -> np.ndarray:
    """Write the pack's thumbnail to `out` and return it ((H, W, 3) uint8). `pack`: a
    reverie.bridge.packs.StylePack (read by shape, so the model never imports the bridge)."""
    stylizer = ModelStylizer(backend, weights=pack.weights or DEFAULT_WEIGHTS, prompt=pack.prompt, encoder=encoder)
    stylizer.set_params(pack.steps, pack.strength, pack.seed)
    image = None
    for frame in render_sequence(SequenceSpec(PREVIEW_SEED, frames, width, height, PREVIEW_PATH)):
        image = np.zeros(frame.color.shape, np.uint8)
        stylizer.stylize(frame, image)
    assert image is not None, "frames must be at least 1"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_png(out, image[..., :3])
    return image[..., :3]
