"""Carrying the previous frame forward: backward warp by the engine's motion vectors and
the validity mask (off-screen and depth occlusion tests).

Motion is in pixels with previous position = current + motion, so pixel p of frame t
reads frame t - 1 at p + motion[p]. Used by the model (history input) and by the world's
checks (E_warp, the temporal coherence measure)."""

from __future__ import annotations

import numpy as np


def sample_positions(motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) in the previous frame for every pixel, as float arrays of shape (H, W)."""
    height, width = motion.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return xs + motion[..., 0], ys + motion[..., 1]


def backward_warp(previous: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """Bilinear sample of `previous` (H, W[, C]) at p + motion; edges clamp."""
    height, width = previous.shape[:2]
    x, y = sample_positions(motion)
    x = np.clip(x, 0, width - 1)
    y = np.clip(y, 0, height - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    fx, fy = x - x0, y - y0
    src = previous.astype(np.float32)
    if src.ndim == 3:
        fx, fy = fx[..., None], fy[..., None]
    top = src[y0, x0] * (1 - fx) + src[y0, x1] * fx
    bottom = src[y1, x0] * (1 - fx) + src[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def on_screen(motion: np.ndarray) -> np.ndarray:
    """True where p + motion lands inside the previous frame."""
    height, width = motion.shape[:2]
    x, y = sample_positions(motion)
    return (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)


def validity_mask(previous_depth: np.ndarray, motion: np.ndarray, expected_depth: np.ndarray, tolerance: float = 0.02) -> np.ndarray:
    """Pixels whose history is trustworthy: on screen in the previous frame, and the
    previous frame's depth there (nearest sample) matches `expected_depth` within a relative
    `tolerance`. With the exact previous depth of each surface point the test is tight; with
    the current depth instead, give a tolerance that covers the camera's motion per frame."""
    height, width = motion.shape[:2]
    x, y = sample_positions(motion)
    xi = np.clip(np.rint(x), 0, width - 1).astype(np.int64)
    yi = np.clip(np.rint(y), 0, height - 1).astype(np.int64)
    seen = previous_depth[yi, xi]
    return on_screen(motion) & (np.abs(seen - expected_depth) <= tolerance * expected_depth)


def warp_error(previous: np.ndarray, current: np.ndarray, motion: np.ndarray, valid: np.ndarray) -> float:
    """Mean absolute difference (RGB, 0..1) between `current` and `previous` warped to it,
    over valid pixels: the E_warp of one frame pair."""
    warped = backward_warp(previous[..., :3], motion)
    diff = np.abs(warped - current[..., :3].astype(np.float32)).mean(axis=-1) / 255.0
    return float(diff[valid].mean()) if valid.any() else 0.0
