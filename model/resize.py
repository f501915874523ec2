"""Game frames to the model's working size and back: resizing the engine's buffers in,
the stylized image out.

The working size keeps the game's aspect: the height is `work_height` (256 by default)
or the game's own height if that is smaller (a small frame is never upscaled), rounded to
a multiple of the network's stride; the width follows the aspect, rounded to the stride
too. 1920x1080 works at 448x256, 1280x720 at 448x256, 256x256 at 256x256 (no resize).

In (`game_to_model`). Host frames (numpy views of the ring) are resized with OpenCV's
SIMD kernels on their own types, and converted to float once, at the working size:

- color (uint8): INTER_LINEAR to the largest power-of-two multiple of the working size
  that fits in the frame (a factor below 2: every game pixel counts), then exact
  INTER_AREA halvings (2x2 means, OpenCV's vectorized path). 1920x1080 -> 1792x1024 ->
  896x512 -> 448x256: the PSNR of its bilinear upsampling against the 1080p ground truth
  equals a one-step INTER_AREA's to 0.01 dB (mean difference 0.12 levels), in 10 ms
  against 35 ms for the one-step INTER_AREA (OpenCV's generic fractional path) and
  107 ms for torch's antialiased bilinear (2 cores beside a training run, one thread).
  Halving first and finishing with one fractional step costs 2 ms but blurs: -0.65 dB;
- depth and motion: INTER_NEAREST_EXACT, the same samples as torch's "nearest-exact":
  averaging across an object's edge would invent depths and motions that belong to
  neither side. Motion is in pixels, so each axis is scaled by its own resize factor.

CUDA tensors (a device ring) keep the torch path: antialiased bilinear color, nearest-
exact depth and motion, nothing crosses to the host. CPU tensors are viewed as numpy
arrays and take the host path, so both rings give the same numbers.

Out (`model_to_game`). The model's output is written back at the game's size as RGBA,
alpha 255, in place into `out`, optionally blended with the game's color (`strength`).
When the sizes differ it is upsampled `"guided"` (the default) or `"bilinear"`:

Guided upsampling (HDRNet's idea, with He & Sun's fast guided filter, 2015): at the
working size, fit in every (2r+1)^2 window a linear map from the guide I (the game's
luminance, downsampled like the model's color input) to the output p, a = cov(I, p) /
(var(I) + eps) per output channel; average a over the windows; set b = p - a * I, so
that the fit reproduces the model's output exactly at working-size samples; upsample a
and b bilinearly to the game's size and apply q = a * I_full + b with I_full the game's
full-resolution luminance. The edges and texture the game renders at full resolution
come through wherever the model's output follows the game's shading locally; where it
does not (pencil hatching, mosaic tiles) a is small and the result is close to bilinear.

Measured choices (`python -m reverie.model.upsample_eval [--model]`, docs/benchmarks.md,
"Resizing at the game's size": 1080p world frames of 2 scenes in the 8 trained styles; the
1080p ground truth shrunk to 448x256 stands in for the model's output, or with --model
the shipped model's real outputs):

- b = p - a * I rather than He's window mean of b: He's b blurs the output by the box
  filter twice more, which in the prototype lost 3 dB against plain bilinear on pencil
  (15.6 against 18.8 dB); with this b the guided result is on average 2.8 dB above
  bilinear and at worst 0.04 dB below it (toon, one scene);
- guide: the luminance (3 slopes, 3 offsets a pixel) against the color (a 3x3 matrix and
  3 offsets): the color guide is 0.7 dB better on the shrunk ground truth (31.25 against
  30.54 dB) but equal on the model's real outputs (20.06 against 20.05), and it has twice
  the planes to upsample at full resolution (and a 3x3 solve per working-size pixel):
  the luminance guide;
- r = 1, eps = 1e-4 (guide in 0..1): the best PSNR of r in {1, 2, 4} x eps in
  {1e-5 .. 1e-2} on the ground truth, 30.54 against bilinear's 27.76 dB, detail (mean
  |Laplacian| over the truth's) 0.45 against 0.18; on the model's outputs +0.27 dB over
  bilinear, 0.03 dB short of the luminance grid's best (r = 4);
- a is clamped to +-8: it bounds how much game detail the map can amplify (the largest
  slope seen on model outputs was 20, in a single window); the figures above are
  unchanged by it.

The full-resolution part runs in bands of `BAND_ROWS` rows, so that the float planes of a
band stay in the core's cache (a whole 1080p float plane is 25 MB: each pass over one
costs more than the arithmetic).

Threads: OpenCV runs on `CV_THREADS` threads while this module resizes (set and restored
per call, as `backends.torch_threads` does for torch; see `CV_THREADS`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from .nchw import to_255, to_nchw, to_uint8

UPSAMPLES = ("guided", "bilinear")
# model_to_game's default; the variable: ablations through the daemon
UPSAMPLE = os.environ.get("REVERIE_UPSAMPLE", "guided")
GUIDES = ("luma", "color")
GUIDED_RADIUS = 1  # box radius at the working size (a 3x3 window)
GUIDED_EPS = 1e-4  # regularization of the fit, for a guide in 0..1
GUIDED_MAX_SLOPE = 8.0
BAND_ROWS = 32  # rows of the game's size processed at a time on the host
# OpenCV threads for the host path (docs/benchmarks.md, "Resizing at the game's size");
# REVERIE_CV_THREADS overrides it for measurements.
CV_THREADS = int(os.environ.get("REVERIE_CV_THREADS", "1"))
_NEAREST = getattr(cv2, "INTER_NEAREST_EXACT", cv2.INTER_NEAREST)


def working_size(width: int, height: int, work_height: int, stride: int) -> tuple[int, int]:
    """(width, height) the model runs at for a width x height game frame."""
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    if work_height < stride:
        raise ValueError(f"the working height must be at least {stride}, got {work_height}")
    h = max(stride, round(min(work_height, height) / stride) * stride)
    w = max(stride, round(width * h / height / stride) * stride)
    return w, h


@contextmanager
def cv_threads(count: int) -> Iterator[None]:
    """Run the block with `count` OpenCV threads; only switches when the count differs
    (a switch restarts OpenCV's pool: about 0.1 ms)."""
    previous = cv2.getNumThreads()
    if previous == count:
        yield
        return
    cv2.setNumThreads(count)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


def _is_device(x: object) -> bool:
    return isinstance(x, torch.Tensor) and x.device.type != "cpu"


def _host(x: np.ndarray | torch.Tensor) -> np.ndarray:
    """A host plane as numpy, without a copy (a CPU tensor is viewed)."""
    return x.numpy() if isinstance(x, torch.Tensor) else x


def shrink_color(color: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Host color (H, W, C) uint8 at `size` (width, height): INTER_LINEAR to the largest
    power-of-two multiple of the size that fits in the frame (a factor below 2), then
    exact INTER_AREA halvings (module docstring). A frame smaller than the size in an
    axis is resized INTER_LINEAR in one step."""
    width, height = size
    k = 1
    while 2 * k * width <= color.shape[1] and 2 * k * height <= color.shape[0]:
        k *= 2
    image = color
    if image.shape[:2] != (k * height, k * width):
        image = cv2.resize(image, (k * width, k * height), interpolation=cv2.INTER_LINEAR)
    while k > 1:
        k //= 2
        image = cv2.resize(image, (k * width, k * height), interpolation=cv2.INTER_AREA)
    return image


def game_to_model(
    color: np.ndarray | torch.Tensor,
    depth: np.ndarray | torch.Tensor,
    motion: np.ndarray | torch.Tensor,
    size: tuple[int, int],
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The engine buffers at working size `size` (width, height) on `device` (default: where
    they are): color in 0..1 (1, 3, h, w), depth in meters (1, 1, h, w), motion in
    working-size pixels (1, 2, h, w). Tensors on a GPU stay there: nothing crosses to the host."""
    if _is_device(color):
        return _game_to_model_torch(color, depth, motion, size, device)
    color, depth, motion = _host(color), _host(depth), _host(motion)
    width, height = size
    game_h, game_w = depth.shape
    if (game_w, game_h) != (width, height):
        with cv_threads(CV_THREADS):
            color = shrink_color(np.ascontiguousarray(color), size)
            depth = _nearest(depth, size)
            motion = _nearest(motion, size).astype(np.float32, copy=False)
        motion *= np.array([width / game_w, height / game_h], np.float32)  # a fresh array: the ring is untouched
    color01 = to_nchw(color[..., :3], device)
    color01.div_(255.0)
    return color01, to_nchw(depth, device), to_nchw(motion, device)


def _nearest(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """INTER_NEAREST_EXACT (torch's "nearest-exact": the source pixel under each output
    pixel's center). float16 (the ring's f16 motion) is moved as its bits: nearest copies."""
    plane = np.ascontiguousarray(plane)
    if plane.dtype == np.float16:
        return cv2.resize(plane.view(np.uint16), size, interpolation=_NEAREST).view(np.float16)
    return cv2.resize(plane, size, interpolation=_NEAREST)


def _game_to_model_torch(
    color: torch.Tensor,
    depth: torch.Tensor,
    motion: torch.Tensor,
    size: tuple[int, int],
    device: torch.device | str | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width, height = size
    game_h, game_w = depth.shape
    color01 = to_nchw(color[..., :3], device) / 255.0
    depth_t = to_nchw(depth, device)
    motion_t = to_nchw(motion, device)
    if (game_w, game_h) != (width, height):
        shrinking = width < game_w
        color01 = F.interpolate(
            color01, size=(height, width), mode="bilinear", align_corners=False, antialias=shrinking
        )
        depth_t = F.interpolate(depth_t, size=(height, width), mode="nearest-exact")
        motion_t = F.interpolate(motion_t, size=(height, width), mode="nearest-exact")
        motion_t[:, 0] *= width / game_w
        motion_t[:, 1] *= height / game_h
    return color01, depth_t, motion_t


def model_to_game(
    image: torch.Tensor,
    out: np.ndarray | torch.Tensor,
    strength: float = 1.0,
    color: np.ndarray | torch.Tensor | None = None,
    *,
    upsample: str | None = None,
) -> None:
    """Write `image` (1, 3, h, w) in [-1, 1] into `out` (H, W, 4) uint8 at the game's size;
    with strength < 1, blend it with the game's `color` (H, W, 4) at full resolution. `out`
    may be a numpy view (the host ring) or a tensor (a device ring): written in place.

    `upsample` (when the sizes differ): "guided" by the game's `color` (module docstring;
    without `color` it is bilinear) or "bilinear"; None: `UPSAMPLE` ("guided" unless
    $REVERIE_UPSAMPLE says otherwise). Sizes that match are written as they are."""
    upsample = UPSAMPLE if upsample is None else upsample
    if upsample not in UPSAMPLES:
        raise ValueError(f"upsample must be one of {', '.join(UPSAMPLES)}, got {upsample!r}")
    if strength < 1.0 and color is None:
        raise ValueError("strength below 1 blends with the game's color: pass it")
    if _is_device(out):
        _model_to_game_torch(image, out, strength, color, upsample)
        return
    if color is not None and _is_device(color):
        color = color.cpu()
    pixels = image[0].detach().to("cpu", torch.float32).permute(1, 2, 0).numpy()  # a view: the history keeps it
    p255 = np.empty(pixels.shape, np.float32)  # (h, w, 3), 0..255
    np.add(pixels, 1.0, out=p255)
    p255 *= 127.5
    with cv_threads(CV_THREADS):
        write_upsampled(p255, _host(out), strength, None if color is None else _host(color), upsample=upsample)


# ---------------------------------------------------------------- the host path
def guided_coefficients(
    p: np.ndarray, guide_low: np.ndarray, radius: int = GUIDED_RADIUS, eps: float = GUIDED_EPS
) -> tuple[list[np.ndarray], np.ndarray]:
    """The working-size maps of the guided upsampling: `p` (h, w, 3) float32 in 0..255 (the
    model's output) and `guide_low` uint8 at the working size: (h, w) the game's luminance,
    or (h, w, 3|4) its color (the color guide). Returns (slopes, b): slopes[k] (h, w, 3)
    multiplies guide plane k (the luminance; R, G, B), b (h, w, 3) is in 0..255, and the
    output is q = sum_k slopes[k] * I_k + b."""
    ones = np.full(2 * radius + 1, 1 / (2 * radius + 1), np.float32)
    box = lambda x: cv2.sepFilter2D(x, -1, ones, ones, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    if guide_low.ndim == 2:  # in 0..255 units throughout: a does not depend on the scale, eps does
        i = guide_low.astype(np.float32)
        mean_i = box(i)
        var = box(i * i) - mean_i * mean_i + np.float32(eps * 255.0**2)
        i3, mean_i3, var3 = (cv2.merge([x, x, x]) for x in (i, mean_i, var))
        mean_p = box(p)
        cov = box(cv2.multiply(p, i3)) - cv2.multiply(mean_p, mean_i3)
        a = box(cv2.divide(cov, var3))
        np.clip(a, -GUIDED_MAX_SLOPE, GUIDED_MAX_SLOPE, out=a)
        return [a], p - cv2.multiply(a, i3)
    p01 = p * np.float32(1 / 255)
    mean_p = box(p01)
    i01 = guide_low[..., :3].astype(np.float32) * np.float32(1 / 255)
    h, w = p.shape[:2]
    mean_i = box(i01)
    sigma = np.empty((h, w, 3, 3), np.float32)
    for m in range(3):
        for n in range(m, 3):
            sigma[..., m, n] = sigma[..., n, m] = box(i01[..., m] * i01[..., n]) - mean_i[..., m] * mean_i[..., n]
    sigma += np.float32(eps) * np.eye(3, dtype=np.float32)
    cov = np.empty((h, w, 3, 3), np.float32)  # cov[..., c, m] = cov(p_c, I_m)
    for m in range(3):
        cov[..., :, m] = box(p01 * i01[..., m : m + 1]) - mean_p * mean_i[..., m : m + 1]
    a = cov @ np.linalg.inv(sigma)  # a[..., c, m]: output channel c per unit of guide channel m
    a = box(a.reshape(h, w, 9)).reshape(h, w, 3, 3)
    np.clip(a, -GUIDED_MAX_SLOPE, GUIDED_MAX_SLOPE, out=a)
    b = p - np.einsum("hwcm,hwm->hwc", a, i01) * np.float32(255)
    return [np.ascontiguousarray(a[..., m]) for m in range(3)], b


def write_upsampled(
    p: np.ndarray,
    out: np.ndarray,
    strength: float = 1.0,
    color: np.ndarray | None = None,
    *,
    upsample: str = "guided",
    radius: int = GUIDED_RADIUS,
    eps: float = GUIDED_EPS,
    guide: str = "luma",
    band_rows: int = BAND_ROWS,
) -> None:
    """Host path of `model_to_game`: `p` (h, w, 3) float32 in 0..255 written into `out`
    (H, W, 4) uint8 at the game's size (alpha 255), blended by `strength` with the game's
    `color` (H, W, 4) uint8. `radius`, `eps`, `guide` ("luma" or "color") and `band_rows`
    are there for measurements (`reverie.model.upsample_eval`)."""
    if guide not in GUIDES:
        raise ValueError(f"guide must be one of {', '.join(GUIDES)}, got {guide!r}")
    height, width = out.shape[:2]
    h, w = p.shape[:2]
    same = (h, w) == (height, width)
    slopes: list[np.ndarray] = []
    b = np.ascontiguousarray(p, np.float32)
    if upsample == "guided" and color is not None and not same:
        color = np.ascontiguousarray(color)
        if guide == "luma":  # the luminance is shrunk (1 channel), not the color: the same up to rounding
            planes = cv2.cvtColor(color, cv2.COLOR_RGBA2GRAY)
            slopes, b = guided_coefficients(b, shrink_color(planes, (w, h)), radius, eps)
        else:
            planes = color
            slopes, b = guided_coefficients(b, shrink_color(color, (w, h)), radius, eps)
    # the vertical pass of the bilinear upsampling, on the narrow planes (the horizontal one runs per band)
    if not same:
        slopes = [cv2.resize(s, (w, height), interpolation=cv2.INTER_LINEAR) for s in slopes]
        b = cv2.resize(b, (w, height), interpolation=cv2.INTER_LINEAR)
    contiguous = out.flags.c_contiguous
    rgb = np.empty((min(band_rows, height), width, 3), np.uint8)
    for y0 in range(0, height, band_rows):
        y1 = min(height, y0 + band_rows)
        rows = (width, y1 - y0)
        q = b[y0:y1].copy() if same else cv2.resize(b[y0:y1], rows, interpolation=cv2.INTER_LINEAR)
        if slopes:
            guides = [planes[y0:y1]] if guide == "luma" else [cv2.extractChannel(planes[y0:y1], m) for m in range(3)]
            for slope, plane in zip(slopes, guides):
                plane3 = cv2.cvtColor(plane.astype(np.float32), cv2.COLOR_GRAY2RGB)
                cv2.accumulateProduct(cv2.resize(slope[y0:y1], rows, interpolation=cv2.INTER_LINEAR), plane3, q)
        cv2.threshold(q, 0.0, 0.0, cv2.THRESH_TOZERO, dst=q)
        if strength < 1.0:  # the stylized image as shown (0..255) over the game's color
            cv2.threshold(q, 255.0, 255.0, cv2.THRESH_TRUNC, dst=q)
            cv2.accumulateWeighted(cv2.cvtColor(color[y0:y1], cv2.COLOR_RGBA2RGB), q, 1.0 - strength)
        band = rgb[: y1 - y0]
        cv2.convertScaleAbs(q, dst=band)  # rounds half to even, saturates at 255 (q >= 0 now)
        if contiguous:
            cv2.cvtColor(band, cv2.COLOR_RGB2RGBA, dst=out[y0:y1])
        else:
            out[y0:y1] = cv2.cvtColor(band, cv2.COLOR_RGB2RGBA)


# ---------------------------------------------------------------- the device path
def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over (2r+1)^2 windows, borders mirrored with the edge repeated (cv2.BORDER_REFLECT)."""
    r = radius
    x = torch.cat([x[..., :r].flip(-1), x, x[..., -r:].flip(-1)], -1)
    x = torch.cat([x[..., :r, :].flip(-2), x, x[..., -r:, :].flip(-2)], -2)
    return F.avg_pool2d(x, 2 * r + 1, stride=1)


def guided_upsample_torch(
    p255: torch.Tensor, color: torch.Tensor, radius: int = GUIDED_RADIUS, eps: float = GUIDED_EPS
) -> torch.Tensor:
    """The luminance-guided upsampling in torch (device rings): `p255` (1, 3, h, w) in
    0..255, `color` (H, W, 4) uint8 on the same device -> (1, 3, H, W) float in 0..255.
    The same maps as the host path; the guide is downsampled with antialiased bilinear
    (as the device path's `game_to_model`) instead of OpenCV's chain."""
    h, w = p255.shape[-2:]
    rgb = color[..., :3].permute(2, 0, 1)[None].to(torch.float32)
    weights = torch.tensor([0.299, 0.587, 0.114], device=rgb.device).view(1, 3, 1, 1)
    luma = (rgb * weights).sum(1, keepdim=True)  # (1, 1, H, W) 0..255
    i01 = F.interpolate(luma, size=(h, w), mode="bilinear", align_corners=False, antialias=True) / 255
    p01 = p255 / 255
    mean_i, mean_p = _box(i01, radius), _box(p01, radius)
    var = _box(i01 * i01, radius) - mean_i * mean_i
    cov = _box(i01 * p01, radius) - mean_i * mean_p
    a = _box(cov / (var + eps), radius).clamp(-GUIDED_MAX_SLOPE, GUIDED_MAX_SLOPE)
    b = p255 - a * i01 * 255
    size = tuple(color.shape[:2])
    a = F.interpolate(a, size=size, mode="bilinear", align_corners=False)
    b = F.interpolate(b, size=size, mode="bilinear", align_corners=False)
    return a * luma + b


def _model_to_game_torch(
    image: torch.Tensor, out: torch.Tensor, strength: float, color: torch.Tensor | None, upsample: str
) -> None:
    height, width = out.shape[:2]
    p255 = to_255(image)
    if tuple(image.shape[-2:]) != (height, width):
        if upsample == "guided" and color is not None:
            p255 = guided_upsample_torch(p255, color.to(image.device))
        else:
            p255 = F.interpolate(p255, size=(height, width), mode="bilinear", align_corners=False)
    if strength < 1.0:  # the stylized image as shown (0..255) over the game's color
        game = to_nchw(color[..., :3], image.device)
        p255 = strength * p255.clamp(0, 255) + (1.0 - strength) * game
    pixels = to_uint8(p255)
    out[..., :3].copy_(pixels)
    out[..., 3].fill_(255)
