"""Stylizers by name, the built-in one, and the frame checks the daemon runs before any.

The contract itself (`Frame`, `Stylizer`, `StylizeResult`) is `reverie.common.stylizer`.
The model package provides the real stylizer, loaded by name so the bridge never imports
the model; tests and `reverie bench bridge` use small deterministic ones.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np

from reverie.common.stylizer import DEVICE_CUDA, STYLIZED, Frame, Stylizer, StylizerBase, StylizeResult


class IdentityStylizer(StylizerBase):
    """Copies the color plane to the output: the transport's own cost, for benchmarks.
    On a CUDA ring the copy is one device-to-device copy on the frame's stream."""

    name = "identity"
    device = DEVICE_CUDA

    def stylize(self, frame: Frame, out: Any) -> StylizeResult:
        if isinstance(out, np.ndarray):
            np.copyto(out, frame.color)
        else:
            out.copy_(frame.color)
        return STYLIZED


BUILTIN_STYLIZERS = {"identity": IdentityStylizer}
# The model's stylizer, named by a string: the bridge never imports the model itself.
MODEL_STYLIZER = "reverie.model.stylize:ModelStylizer"
NAMED_STYLIZERS = {"model": MODEL_STYLIZER}


def load_stylizer(spec: str, **options: object) -> Stylizer:
    """Build a stylizer from a name in BUILTIN_STYLIZERS or NAMED_STYLIZERS,
    `package.module:Class`, or `path/to/file.py:Class` (a class or factory, called with
    `options` as keyword arguments). The Daemon checks that it implements the contract."""
    if spec in BUILTIN_STYLIZERS:
        if options:
            raise ValueError(f"stylizer {spec!r} takes no options (got {', '.join(sorted(options))})")
        return BUILTIN_STYLIZERS[spec]()
    spec = NAMED_STYLIZERS.get(spec, spec)
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise ValueError(
            f"stylizer {spec!r}: expected one of {sorted({**BUILTIN_STYLIZERS, **NAMED_STYLIZERS})} or 'module:Class'"
        )
    if target.endswith(".py"):
        path = Path(target)
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        if module_spec is None or module_spec.loader is None or not path.is_file():
            raise ValueError(f"stylizer {spec!r}: no such file {path}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    return getattr(module, attr)(**options)


def frame_nonfinite(frame: Frame) -> str | None:
    """The NaN/inf check of a frame's depth and motion, where the planes live: None if all
    are finite, else a message naming the first plane at fault."""
    if isinstance(frame.depth, np.ndarray):
        return find_nonfinite("depth", frame.depth) or find_nonfinite("motion", frame.motion)
    return find_nonfinite_device([("depth", frame.depth), ("motion", frame.motion)])


def find_nonfinite_device(planes: list[tuple[str, Any]]) -> str | None:
    """The same check and message as find_nonfinite, on torch CUDA tensors, on the current
    stream. No plane leaves the GPU: one reduction per plane, then one bool is read back
    (the only host transfer, and the frame's one sync point); the exact search for the
    message runs only when a value is not finite."""
    import torch

    finite = torch.stack([torch.isfinite(values).all() for _, values in planes])
    if bool(finite.all()):
        return None
    for (name, values), ok in zip(planes, finite.tolist()):
        if ok:
            continue
        bad = ~torch.isfinite(values)
        count = int(bad.sum())
        flat = int(torch.argmax(bad.reshape(-1).to(torch.uint8)))
        first = float(values.reshape(-1)[flat])
        per_row = values.shape[1] * (values[0, 0].numel())
        y, x = flat // per_row, (flat % per_row) // values[0, 0].numel()
        return f"{name} has {count} non-finite value(s) (first {_float_text(first)} at row {y}, column {x})"
    return None


def _float_text(value: float) -> str:
    """A float as numpy prints a float32 scalar (nan, inf, -inf, 1.5), for equal messages."""
    return str(np.float32(value))


def find_nonfinite(name: str, values: np.ndarray) -> str | None:
    """None if every value is finite, else a message naming the plane, count and first pixel.

    The fast path is one BLAS dot product of the plane with itself (NaN and inf
    propagate; ~0.1 ms for a 1080p depth plane, ten times cheaper than a sum); only a
    non-finite result pays for the exact search, which also clears a mere overflow."""
    flat = values.reshape(-1)
    total = float(np.dot(flat, flat)) if flat.dtype == np.float32 else float(flat.sum(dtype=np.float32))
    if math.isfinite(total):
        return None
    bad = ~np.isfinite(values)
    count = int(np.count_nonzero(bad))
    if count == 0:
        return None
    index = np.unravel_index(int(np.argmax(bad)), values.shape)
    first = values[index]
    y, x = int(index[0]), int(index[1])
    return f"{name} has {count} non-finite value(s) (first {first} at row {y}, column {x})"
