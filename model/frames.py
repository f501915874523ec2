"""Game frames to the model's working size and back.

The working size keeps the game's aspect: the height is `work_height` (256 by default)
or the game's own height if that is smaller (a small frame is never upscaled), rounded to
a multiple of the network's stride; the width follows the aspect, rounded to the stride
too. 1920x1080 works at 448x256, 1280x720 at 448x256, 256x256 at 256x256 (no resize).

Color is resized with antialiased bilinear filtering (area-like when shrinking). Depth
and motion are resized nearest-neighbour: averaging across an object's edge would invent
depths and motions that belong to neither side. Motion is in pixels, so it is scaled by
the resize factor of its axis. The stylized image is resized back bilinearly and written
as RGBA with alpha 255.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F


def working_size(width: int, height: int, work_height: int, stride: int) -> tuple[int, int]:
    """(width, height) the model runs at for a width x height game frame."""
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    if work_height < stride:
        raise ValueError(f"the working height must be at least {stride}, got {work_height}")
    h = max(stride, round(min(work_height, height) / stride) * stride)
    w = max(stride, round(width * h / height / stride) * stride)
    return w, h


def _planes(image: np.ndarray | torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """(H, W, C) or (H, W) plane -> (1, C, H, W) float32 tensor on `device` (default: where
    the plane is) that owns its memory (the source may be a ring slot the game is about to
    overwrite). A host plane bound for a GPU crosses as its own type (uint8 color: 1 byte a
    channel) and is converted there."""
    tensor = image if isinstance(image, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(image))
    tensor = tensor.permute(2, 0, 1)[None] if tensor.dim() == 3 else tensor[None, None]
    return tensor.to(device or tensor.device).to(torch.float32, copy=True)


def game_to_model(color: np.ndarray | torch.Tensor, depth: np.ndarray | torch.Tensor, motion: np.ndarray | torch.Tensor,
                  size: tuple[int, int], device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The engine buffers at working size `size` (width, height) on `device` (default: where
    they are): color in 0..1 (1, 3, h, w), depth in meters (1, 1, h, w), motion in
    working-size pixels (1, 2, h, w). Tensors on a GPU stay there: nothing crosses to the host."""
    width, height = size
    game_h, game_w = depth.shape
    color01 = _planes(color[..., :3], device) / 255.0
    depth_t = _planes(depth, device)
    motion_t = _planes(motion, device)
    if (game_w, game_h) != (width, height):
        shrinking = width < game_w
        color01 = F.interpolate(color01, size=(height, width), mode="bilinear", align_corners=False, antialias=shrinking)
        depth_t = F.interpolate(depth_t, size=(height, width), mode="nearest-exact")
        motion_t = F.interpolate(motion_t, size=(height, width), mode="nearest-exact")
        motion_t[:, 0] *= width / game_w
        motion_t[:, 1] *= height / game_h
    return color01, depth_t, motion_t


def model_to_game(image: torch.Tensor, out: np.ndarray | torch.Tensor, strength: float = 1.0,
                  color: np.ndarray | torch.Tensor | None = None) -> None:
    """Write `image` (1, 3, h, w) in [-1, 1] into `out` (H, W, 4) uint8 at the game's size;
    with strength < 1, blend it with the game's `color` (H, W, 4) at full resolution. `out`
    may be a numpy view (the host ring) or a tensor (a device ring): written in place."""
    height, width = out.shape[:2]
    if tuple(image.shape[-2:]) != (height, width):
        image = F.interpolate(image, size=(height, width), mode="bilinear", align_corners=False)
    if strength < 1.0:
        if color is None:
            raise ValueError("strength below 1 blends with the game's color: pass it")
        game = _planes(color[..., :3], image.device) / 127.5 - 1.0
        image = strength * image + (1.0 - strength) * game
    pixels = ((image[0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0)
    if isinstance(out, torch.Tensor):
        out[..., :3].copy_(pixels)
        out[..., 3].fill_(255)
    else:
        out[..., :3] = pixels.cpu().numpy()
        out[..., 3] = 255
