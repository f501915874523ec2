"""Small image helpers for contact sheets, demos and fine-tuning targets: a PNG writer and
reader (zlib + struct, so no imaging library is needed) and false-color views of depth
and motion."""

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


class PngError(ValueError):
    """A file that is not a PNG this reader handles; the message names the file."""


_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # color type -> samples per pixel


def read_png(path: Path) -> np.ndarray:
    """An (H, W, 3) uint8 RGB image from a PNG file: 8 or 16 bits (16 keeps the high
    byte), gray, RGB, palette or with alpha (alpha dropped), every row filter; not
    interlaced. Why here: fine-tuning targets come from any tool (a paint program, an
    offline image model) and the project installs no imaging library."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise PngError(f"{path}: not a PNG file")
    pos, idat, palette, header = 8, [], None, None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = np.frombuffer(body, np.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None or not idat:
        raise PngError(f"{path}: PNG without a header or image data")
    width, height, bits, color_type, _, _, interlace = header
    if interlace or bits not in (8, 16) or color_type not in _PNG_CHANNELS or (color_type == 3 and bits != 8):
        raise PngError(
            f"{path}: unsupported PNG (bit depth {bits}, color type {color_type}, interlace {interlace}); "
            "write 8-bit RGB or RGBA without interlacing"
        )
    channels = _PNG_CHANNELS[color_type]
    bpp = channels * bits // 8  # bytes per pixel: the filters' left neighbour distance
    stride = width * bpp
    try:
        raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8)
    except zlib.error as e:
        raise PngError(f"{path}: corrupt image data ({e})") from None
    if raw.size != height * (stride + 1):
        raise PngError(f"{path}: image data does not match its {width}x{height} header")
    rows = raw.reshape(height, stride + 1)
    out = np.zeros((height, stride), np.uint8)
    previous = np.zeros(stride, np.uint8)
    for y in range(height):
        out[y] = _unfilter(int(rows[y, 0]), rows[y, 1:], previous, bpp, path)
        previous = out[y]
    samples = out.reshape(height, width, channels, bits // 8)[..., 0]  # big-endian: the high byte first
    if color_type == 3:
        if palette is None:
            raise PngError(f"{path}: palette image without a palette")
        return palette[samples[..., 0]]
    return np.repeat(samples[..., :1], 3, axis=2) if channels <= 2 else np.ascontiguousarray(samples[..., :3])


def _unfilter(kind: int, row: np.ndarray, up: np.ndarray, bpp: int, path: Path) -> np.ndarray:
    """One PNG row with its filter undone (None, Sub, Up, Average, Paeth)."""
    if kind == 0:
        return row
    if kind == 2:
        return row + up  # uint8 wraps, as the format wants
    if kind == 1:  # Sub: a running sum per byte lane, modulo 256
        lanes = row.reshape(-1, bpp).astype(np.int64)
        return (np.cumsum(lanes, axis=0) % 256).astype(np.uint8).reshape(-1)
    if kind not in (3, 4):
        raise PngError(f"{path}: unknown PNG row filter {kind}")
    out = bytearray(row.tobytes())
    above = up.tobytes()
    for i in range(len(out)):  # Average and Paeth depend on the byte just decoded: one at a time
        a = out[i - bpp] if i >= bpp else 0
        b = above[i]
        if kind == 3:
            out[i] = (out[i] + (a + b) // 2) & 0xFF
        else:
            c = above[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            out[i] = (out[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
    return np.frombuffer(bytes(out), np.uint8)


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


def plot_curves(
    curves: list[list[float]],
    path: Path,
    width: int = 720,
    height: int = 300,
    y_range: tuple[float, float] | None = None,
) -> tuple[float, float]:
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
