"""Images between the engine's layout, (H, W, C) planes of bytes or floats, and the
network's, (1, C, H, W) float32 tensors; and the model's output, in [-1, 1], back to
(H, W, 3) bytes. One implementation of each, so the stylizer, evaluation and the numpy
helpers see the same numbers.
"""

from __future__ import annotations

import numpy as np
import torch


def to_nchw(image: np.ndarray | torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """(H, W, C) or (H, W) plane -> (1, C, H, W) float32 tensor on `device` (default: where
    the plane is) that owns its memory (the source may be a ring slot the game is about to
    overwrite). A host plane bound for a GPU crosses as its own type (uint8 color: 1 byte a
    channel) and is converted there."""
    tensor = image if isinstance(image, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(image))
    tensor = tensor.permute(2, 0, 1)[None] if tensor.dim() == 3 else tensor[None, None]
    return tensor.to(device or tensor.device).to(torch.float32, copy=True)


def to_255(image: torch.Tensor) -> torch.Tensor:
    """The model's output (1, 3, H, W) in [-1, 1] as float32 in 0..255."""
    return (image.to(torch.float32) + 1) * 127.5


def to_uint8(p255: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W) float in 0..255 -> an (H, W, 3) uint8 view, where the tensor is:
    rounded half to even, saturated at 0 and 255."""
    return p255[0].round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0)


def output_image(image: torch.Tensor) -> np.ndarray:
    """The model's output (1, 3, H, W) in [-1, 1] as a contiguous (H, W, 3) uint8 array."""
    return to_uint8(to_255(image)).contiguous().cpu().numpy()
