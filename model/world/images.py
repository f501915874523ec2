"""Small image helpers for contact sheets and demos: a PNG writer (zlib + struct, so no
imaging library is needed) and false-color views of depth and motion."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np


def write_png(path: Path, image: np.ndarray) -> None:
    """Write an (H, W, 3|4) uint8 image as PNG."""
    height, width, channels = image.shape
    rows = np.ascontiguousarray(image, np.uint8).reshape(height, width * channels)
    raw = b"".join(b"\x00" + rows[y].tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    color_type = {3: 2, 4: 6}[channels]
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0))
    Path(path).write_bytes(png + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def depth_to_rgb(depth: np.ndarray, far: float = 300.0) -> np.ndarray:
    """Near is bright, far is dark, on a log scale; (H, W, 4) uint8."""
    v = 1.0 - np.clip(np.log1p(depth) / np.log1p(far), 0, 1)
    gray = (v * 255).astype(np.uint8)
    return np.dstack([gray, gray, gray, np.full_like(gray, 255)])


def motion_to_rgb(motion: np.ndarray, scale: float = 8.0) -> np.ndarray:
    """Direction as hue-like red/green, magnitude as brightness; (H, W, 4) uint8."""
    mx, my = motion[..., 0] / scale, motion[..., 1] / scale
    r = np.clip(0.5 + 0.5 * mx, 0, 1)
    g = np.clip(0.5 + 0.5 * my, 0, 1)
    b = np.clip(1.0 - np.hypot(mx, my), 0, 1)
    return (np.dstack([r, g, b, np.ones_like(r)]) * 255).astype(np.uint8)


PLOT_COLORS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14)]


def plot_curves(curves: list[list[float]], path: Path, width: int = 720, height: int = 300, y_range: tuple[float, float] | None = None) -> tuple[float, float]:
    """Line plot of several curves (colors in PLOT_COLORS order) on a white canvas with a
    light grid every 1/4; returns the y range drawn (labels live in the text beside it)."""
    values = np.concatenate([np.asarray(c, float) for c in curves])
    low, high = y_range or (float(values.min()), float(values.max()))
    high = high if high > low else low + 1
    canvas = np.full((height, width, 3), 255, np.uint8)
    for k in range(5):
        canvas[int((height - 1) * k / 4), :] = 225
        canvas[:, int((width - 1) * k / 4)] = 225
    for curve, color in zip(curves, PLOT_COLORS):
        y = np.asarray(curve, float)
        xs = np.linspace(0, width - 1, len(y))
        ys = (1 - (y - low) / (high - low)) * (height - 1)
        for i in range(len(y) - 1):  # draw each segment densely
            n = int(max(abs(xs[i + 1] - xs[i]), abs(ys[i + 1] - ys[i]), 1)) + 1
            px = np.clip(np.rint(np.linspace(xs[i], xs[i + 1], n)), 0, width - 1).astype(int)
            py = np.clip(np.rint(np.linspace(ys[i], ys[i + 1], n)), 0, height - 1).astype(int)
            canvas[py, px] = color
            canvas[np.clip(py + 1, 0, height - 1), px] = color
    write_png(path, canvas)
    return low, high
