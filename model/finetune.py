"""Fine-tuning the shipped model on one game's captures and target frames: the training
half of `reverie finetune` (modding/finetune_cli.py reads the capture files and writes the
style pack).

Nothing here is a second training recipe. The run is `train.train` with its loop, loss
(`train.sequence_loss`: Diffusion Forcing, History Augmentation with the model's own
rollouts, and the base's run-time terms), checkpoints and resume; only the batches differ
(`pairs.CapturePairs` instead of the world's). The config is the base weights' own
(network, batch, sequence length, crop size, run-time, temporal and shift weights), with
the steps, learning rate and seed of this run, so the fine-tune trains exactly the way
the base was last trained.

Prompt conditioning: every batch carries the embedding the daemon will compute for the
pack's prompt (`text.runtime_embedder`, through the prompt bank). The network learns the
new look at that point of embedding space. The bank maps a new prompt onto a blend of the
training prompts nearest to it, so those styles' own prompts land at or near the same
point and take on the new look too; nothing trains the other styles, so they drift. That
is acceptable for a pack (its weights serve its own prompt); docs/model.md measures it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch loads with the training, not with `reverie --help` (the CLI reads the defaults below)
    from .pairs import Capture
    from .train import TrainConfig

DEFAULT_STEPS = 300
DEFAULT_LR = 3e-4  # the run-time fine-tune's rate (docs/model.md lineage (2)): the base is already trained
CHECKPOINT_EVERY = 100


def finetune_config(
    base: Path, steps: int, lr: float, seed: int, checkpoint_every: int = CHECKPOINT_EVERY, batch: int | None = None
) -> TrainConfig:
    """The base weights' training config with this run's steps, rate and seed, starting
    from the base (`init`, which also gives the run its lineage)."""
    from .train import training_config

    config = training_config(Path(base))
    return replace(
        config,
        init=str(base),
        steps=steps,
        lr=lr,
        seed=seed,
        checkpoint_every=min(checkpoint_every, steps),
        batch=batch or config.batch,
    )


def finetune(
    captures: Iterable[Capture],
    targets: Path,
    prompt: str,
    base: Path,
    work: Path,
    *,
    steps: int = DEFAULT_STEPS,
    lr: float = DEFAULT_LR,
    seed: int = 0,
    batch: int | None = None,
    resume: bool = False,
    progress: bool = True,
    embed: Callable[[str], np.ndarray] | None = None,
    work_height: int = 256,
) -> Path:
    """Train `base` further on the captures' frames against their targets under `prompt`;
    checkpoints go to WORK/latest (resumable), the result to WORK/weights: model.safetensors
    and a config.json with the lineage, the base's inference settings (history trust) and
    what it was fine-tuned on. Returns WORK/weights."""
    if embed is None:
        from .text import runtime_embedder

        embed = runtime_embedder()
    config = finetune_config(base, steps, lr, seed, batch=batch)
    captures = list(captures)
    from .pairs import CapturePairs
    from .train import train
    from .weights import look_trust, publish_weights, read_config, write_config

    data = CapturePairs(
        captures,
        targets,
        embed(prompt),
        config.batch,
        config.sequence,
        config.size,
        config.network.stride,
        seed,
        work_height,
    )
    latest = train(config, Path(work), resume=resume, progress=progress, data=data)
    weights = publish_weights(latest, Path(work) / "weights", look_trust(Path(base)))
    meta = read_config(weights)
    meta["finetune"] = {
        "prompt": prompt,
        "base": str(base),
        "captures": [c.name for c in captures],
        "frames": data.frames,
        "targets": str(targets),
        "crop": list(data.crop),
    }
    write_config(weights, meta)
    return weights
