"""Helpers for the runtime tests: a tiny random denoiser saved like shipped weights (for
tests where the network's quality does not matter), a fast deterministic stand-in for the
prompt encoder, world frames as the bridge hands them to a stylizer, and where the
shipped weights are."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from reverie.common.stylizer import Frame
from reverie.model.network import Denoiser, NetworkConfig
from reverie.model.text import EMBED_DIM
from reverie.model.train import TrainConfig, save_checkpoint
from reverie.model.world.sequence import SequenceSpec, render_sequence

ROOT = Path(__file__).resolve().parent.parent
# The weights `make demo` ships; REVERIE_TEST_WEIGHTS points the tests at another folder.
SHIPPED = Path(os.environ.get("REVERIE_TEST_WEIGHTS", ROOT / "model" / "weights"))
TINY = NetworkConfig(widths=(16, 32), blocks=1, cond_dim=32)  # stride 8


def tiny_model(seed: int = 0) -> Denoiser:
    """A small random denoiser whose output depends on every input (its zero-initialized
    output layer is randomized, as training would)."""
    torch.manual_seed(seed)
    model = Denoiser(TINY)
    for p in model.net.out.parameters():
        torch.nn.init.normal_(p, std=0.05)
    return model.eval()


def save_tiny_weights(folder: Path, seed: int = 0) -> Path:
    """A weights folder (model.safetensors + config.json) holding `tiny_model(seed)`."""
    model = tiny_model(seed)
    save_checkpoint(
        folder, 0, model, torch.optim.AdamW(model.parameters()), TrainConfig(network=TINY), torch.Generator()
    )
    return folder


def fake_encoder(text: str) -> np.ndarray:
    """A unit vector per text, fixed by the text's hash: prompts differ, nothing loads."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(EMBED_DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def random_prompt_table(seed: int = 0) -> dict[str, np.ndarray]:
    """Every style's training prompts mapped to random unit vectors: training tests need
    the table's shape, not the sentence encoder (90 MB, seconds to load)."""
    from reverie.model.world.looks import STYLES

    rng = np.random.default_rng(seed)
    table = {}
    for s in STYLES.values():
        for p in s.train_prompts:
            v = rng.normal(size=EMBED_DIM).astype(np.float32)
            table[p] = v / np.linalg.norm(v)
    return table


def world_frames(path: str, count: int, width: int = 64, height: int = 64, seed: int = 1001) -> list[Frame]:
    """`count` frames of the synthetic world on camera path `path`, as the daemon hands them
    to a stylizer (`reverie.common.stylizer.Frame`)."""
    spec = SequenceSpec(seed, count, width, height, path)
    return [Frame(i, f.color, f.depth, f.motion, f.reset) for i, f in enumerate(render_sequence(spec))]


def stylize_all(stylizer, frames: list[Frame]) -> list[np.ndarray]:
    """Each frame's (H, W, 4) output, in order."""
    outputs = []
    for frame in frames:
        out = np.zeros(frame.color.shape, np.uint8)
        stylizer.stylize(frame, out)
        outputs.append(out)
    return outputs
