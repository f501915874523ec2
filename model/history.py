"""Carrying the previous frame forward: backward warp by the engine's motion vectors and
the validity mask (off-screen and depth occlusion tests).

Motion is in pixels with previous position = current + motion, so pixel p of frame t
reads frame t - 1 at p + motion[p]. One implementation in torch (the model trains and
runs on it); numpy callers (the world's checks, E_warp) go through the same code.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch.nn import functional as F

from .nchw import to_nchw

# The depth test's relative tolerance with the current depth (what the model has, in training and at
# run time): it covers the camera's motion between two frames (`valid_history`).
MODEL_TOLERANCE = 0.1


@lru_cache(maxsize=8)
def _pixel_coordinates(
    height: int, width: int, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(ys, xs), each (H, W): built once per size, since every frame warps at the same size."""
    return torch.meshgrid(
        torch.arange(height, dtype=dtype, device=device), torch.arange(width, dtype=dtype, device=device), indexing="ij"
    )


def _grid(motion: torch.Tensor) -> torch.Tensor:
    """Sampling grid (N, H, W, 2) in grid_sample's [-1, 1] units for motion (N, 2, H, W)."""
    height, width = motion.shape[-2:]
    ys, xs = _pixel_coordinates(height, width, motion.dtype, motion.device)
    x = (xs + motion[:, 0]) / max(width - 1, 1) * 2 - 1
    y = (ys + motion[:, 1]) / max(height - 1, 1) * 2 - 1
    return torch.stack([x, y], dim=-1)


def warp(previous: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """Bilinear sample of `previous` (N, C, H, W) at p + motion (N, 2, H, W); off screen
    reads zeros (what `valid_history` marks invalid), never a stretched edge pixel."""
    return F.grid_sample(previous, _grid(motion), mode="bilinear", padding_mode="zeros", align_corners=True)


def valid_history(
    previous_depth: torch.Tensor, motion: torch.Tensor, expected_depth: torch.Tensor, tolerance: float
) -> torch.Tensor:
    """(N, 1, H, W) float mask: p + motion is on screen, and the previous depth there
    (nearest sample) matches `expected_depth` within a relative `tolerance`. With the exact
    previous depth of each surface point the test is tight (1 %); with the current depth,
    as the model has it, give a tolerance that covers the camera's motion (10 %)."""
    grid = _grid(motion)
    on_screen = (grid.abs() <= 1 + 1e-6).all(dim=-1).unsqueeze(1)
    seen = F.grid_sample(previous_depth, grid, mode="nearest", padding_mode="border", align_corners=True)
    agree = (seen - expected_depth).abs() <= tolerance * expected_depth
    return (on_screen & agree).float()


# ---------------------------------------------------------------- numpy (H, W[, C]) views
def backward_warp(previous: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """numpy: `warp` of an (H, W[, C]) image by (H, W, 2) motion."""
    out = warp(to_nchw(previous), to_nchw(motion))[0]
    return out.permute(1, 2, 0).numpy() if previous.ndim == 3 else out[0].numpy()


def sample_positions(motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) in the previous frame for every pixel, as float arrays of shape (H, W)."""
    height, width = motion.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return xs + motion[..., 0], ys + motion[..., 1]


def validity_mask(
    previous_depth: np.ndarray, motion: np.ndarray, expected_depth: np.ndarray, tolerance: float = 0.02
) -> np.ndarray:
    """numpy: `valid_history` as an (H, W) bool mask."""
    return (
        valid_history(to_nchw(previous_depth), to_nchw(motion), to_nchw(expected_depth), tolerance)[0, 0].numpy() > 0.5
    )


def warp_error(previous: np.ndarray, current: np.ndarray, motion: np.ndarray, valid: np.ndarray) -> float:
    """Mean absolute difference (RGB, 0..1) between `current` and `previous` warped to it,
    over valid pixels: the E_warp of one frame pair."""
    warped = backward_warp(previous[..., :3].astype(np.float32), motion)
    diff = np.abs(warped - current[..., :3].astype(np.float32)).mean(axis=-1) / 255.0
    return float(diff[valid].mean()) if valid.any() else 0.0
