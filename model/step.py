"""One frame through the model: the step the daemon runs and evaluation measures.

Both `ModelStylizer` (the daemon) and `evaluate.rollout` call `next_output`, so what is
evaluated is what ships. The order of random draws is part of the contract (a seed, a
prompt and the frames since a reset reproduce a stream): the history noise first, then
whatever the sampler draws.
"""

from __future__ import annotations

from typing import Callable

import torch

from .diffusion import HISTORY_SIGMA, SIGMA_MAX, START_NOISE, sample
from .history import valid_history, warp
from .train import MODEL_TOLERANCE

Denoise = Callable[[dict[str, torch.Tensor]], torch.Tensor]  # the network's named inputs -> the clean estimate


def next_output(denoise: Denoise, game: torch.Tensor, depth: torch.Tensor, motion: torch.Tensor, prompt: torch.Tensor,
                previous: torch.Tensor | None, previous_depth: torch.Tensor | None, steps: int, generator: torch.Generator,
                history_trust: float = 0.0, start_sigma: float | None = None) -> torch.Tensor:
    """The stylized frame (1, 3, H, W) in [-1, 1].

    `game` is `network.game_planes(...)`, `depth` (1, 1, H, W) and `motion` (1, 2, H, W) the
    engine buffers at the model's size, `prompt` (1, 384), all on one device, where
    `generator` draws too. `previous` is the last output
    (None after a cut or at the start), warped here by the engine motion and masked by the
    depth test against `previous_depth`. `history_trust` is added to the history gate's
    logit (`network.Denoiser`). `start_sigma` starts the sampler from that
    history noised to this level (SDEdit; an evaluation option, not the default)."""
    height, width = game.shape[-2:]
    shape = (1, 3, height, width)
    device = game.device  # everything is made where the frame is: no host round trip on a GPU
    if previous is not None:
        history = warp(previous, motion)
        mask = valid_history(previous_depth, motion, depth, MODEL_TOLERANCE)
    else:
        history, mask = torch.zeros(shape, device=device), torch.zeros(1, 1, height, width, device=device)
    inputs = {"game": game, "history": history, "mask": mask, "history_sigma": torch.full((1,), HISTORY_SIGMA, device=device),
              "history_noise": torch.randn(shape, generator=generator, device=device), "prompt": prompt,
              "history_trust": torch.full((1,), float(history_trust), device=device)}
    start = start_sigma if (start_sigma is not None and bool(mask.any())) else None
    return sample(lambda x, sigma: denoise({"x": x, "sigma": sigma, **inputs}), shape, steps, generator,
                  sigma_max=start or SIGMA_MAX, device=device, init=history if start else None,
                  start_noise=1.0 if start else START_NOISE).clamp(-1, 1)
