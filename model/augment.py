"""History Augmentation: corrupt the history the way a model's own mistakes would, so it
learns to correct errors rather than carry them forward (blur, color drift, noise,
misregistered warps, compression-like blocks). All on (N, 3, H, W) tensors in [-1, 1]."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def blur(x: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Mix each image with its 3x3 box blur by `amount` (N,) in [0, 1]."""
    blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    a = amount.reshape(-1, 1, 1, 1)
    return x * (1 - a) + blurred * a


def color_drift(x: torch.Tensor, generator: torch.Generator, strength: float = 0.1) -> torch.Tensor:
    """A random per-image gain and offset per channel."""
    n = x.shape[0]
    gain = 1 + strength * torch.randn(n, 3, 1, 1, generator=generator)
    offset = strength * torch.randn(n, 3, 1, 1, generator=generator)
    return (x * gain + offset).clamp(-1, 1)


def block_artifacts(x: torch.Tensor, amount: torch.Tensor, block: int = 8) -> torch.Tensor:
    """Mix with the image's block means, as a heavy compression would leave it."""
    h, w = x.shape[-2:]
    means = F.interpolate(F.avg_pool2d(x, block, ceil_mode=True), scale_factor=block, mode="nearest")[..., :h, :w]
    a = amount.reshape(-1, 1, 1, 1)
    return x * (1 - a) + means * a


def misregister(motion: torch.Tensor, generator: torch.Generator, pixels: float = 1.5) -> torch.Tensor:
    """Motion vectors off by a random sub-pixel to pixel offset per image (a bad warp)."""
    offset = pixels * torch.randn(motion.shape[0], 2, 1, 1, generator=generator)
    return motion + offset


def corrupt_history(history: torch.Tensor, generator: torch.Generator, probability: float = 0.5) -> torch.Tensor:
    """Apply each corruption to a random subset of the batch (each with `probability`)."""
    n = history.shape[0]

    def pick() -> torch.Tensor:
        return (torch.rand(n, generator=generator) < probability).float()

    out = blur(history, pick() * torch.rand(n, generator=generator))
    drifted = color_drift(out, generator)
    chosen = pick().reshape(-1, 1, 1, 1)
    out = drifted * chosen + out * (1 - chosen)
    out = block_artifacts(out, pick() * 0.7 * torch.rand(n, generator=generator))
    noise = pick().reshape(-1, 1, 1, 1) * 0.05 * torch.randn(history.shape, generator=generator)
    return (out + noise).clamp(-1, 1)
