"""The daemon's processing stage as an interface: a frame in, a stylized frame out.

The daemon owns transport, timing and validation; a `Stylizer` only turns one validated
`Frame` into pixels. The model package provides the real one (`model`, loaded by name so
the bridge never imports the model); tests and `reverie bench bridge` use small
deterministic ones. Calls come from one thread (the daemon's frame loop), never
concurrently. A stylizer may also carry `counters`, a dict of ints that only its own
calls change; `status` reports it (read from the I/O thread, so ints only).

A stylizer declares with `device` where its frames may live: "cpu" (the default when the
attribute is missing) takes numpy frames only, so the daemon refuses CUDA rings for it;
"cuda" also takes frames of a CUDA ring, whose planes and `out` are torch CUDA tensors
viewing the game's GPU memory (work on the current torch stream: the daemon has made it
wait for the game's inputs and records the output's event after `stylize` returns). A
"cuda" stylizer still gets numpy frames from games on the host transport.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

DEVICE_CPU = "cpu"
DEVICE_CUDA = "cuda"


@dataclass
class Frame:
    """One submitted game frame. The arrays are views into shared memory (numpy), or into
    the game's GPU memory on a CUDA ring (torch CUDA tensors): read them during `stylize`
    only, never keep them."""

    frame_id: int
    color: Any  # (H, W, 4) uint8, sRGB, row 0 = top
    depth: Any  # (H, W) float32, linear view depth in meters
    motion: Any  # (H, W, 2) float32 or float16, pixels; previous = current + motion
    reset: bool = False  # camera cut: drop history before this frame
    jitter: tuple[float, float] = (0.0, 0.0)  # subpixel projection jitter, pixels
    near: float = 0.0  # camera near plane, meters (0 = unknown)
    far: float = 0.0  # camera far plane, meters (0 = unknown)
    fov_y: float = 0.0  # vertical field of view, radians (0 = unknown)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.color.shape[1], self.color.shape[0]


@dataclass
class StyleSettings:
    """What the control plane can change; the daemon keeps the current values."""

    prompt: str = ""
    transition_frames: int = 0
    steps: int = 1
    strength: float = 1.0
    seed: int = 0


@runtime_checkable
class Stylizer(Protocol):
    """What the daemon runs. `stylize` writes into `out`, an (H, W, 4) uint8 view of the
    ring's output plane (numpy in shared memory, or a torch CUDA tensor on a CUDA ring,
    see `device`) of the same size as `frame.color`."""

    name: str

    def stylize(self, frame: Frame, out: Any) -> None: ...

    def set_prompt(self, text: str, transition_frames: int) -> None: ...

    def set_params(self, steps: int | None, strength: float | None, seed: int | None) -> None: ...

    def reset_history(self) -> None: ...


def stylizer_device(stylizer: object) -> str:
    """Where a stylizer takes frames: "cpu" (numpy only, the default) or "cuda"."""
    return getattr(stylizer, "device", DEVICE_CPU)


class IdentityStylizer:
    """Copies the color plane to the output: the transport's own cost, for benchmarks.
    On a CUDA ring the copy is one device-to-device copy on the frame's stream."""

    name = "identity"
    device = DEVICE_CUDA

    def stylize(self, frame: Frame, out: Any) -> None:
        if isinstance(out, np.ndarray):
            np.copyto(out, frame.color)
        else:
            out.copy_(frame.color)

    def set_prompt(self, text: str, transition_frames: int) -> None:
        pass

    def set_params(self, steps: int | None, strength: float | None, seed: int | None) -> None:
        pass

    def reset_history(self) -> None:
        pass


BUILTIN_STYLIZERS = {"identity": IdentityStylizer}
# The model's stylizer, named by a string: the bridge never imports the model itself.
MODEL_STYLIZER = "reverie.model.stylize:ModelStylizer"
NAMED_STYLIZERS = {"model": MODEL_STYLIZER}


def load_stylizer(spec: str, **options: object) -> Stylizer:
    """Build a stylizer from a name in BUILTIN_STYLIZERS or NAMED_STYLIZERS,
    `package.module:Class`, or `path/to/file.py:Class` (a class or factory, called with
    `options` as keyword arguments)."""
    if spec in BUILTIN_STYLIZERS:
        if options:
            raise ValueError(f"stylizer {spec!r} takes no options (got {', '.join(sorted(options))})")
        return BUILTIN_STYLIZERS[spec]()
    spec = NAMED_STYLIZERS.get(spec, spec)
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise ValueError(f"stylizer {spec!r}: expected one of {sorted({**BUILTIN_STYLIZERS, **NAMED_STYLIZERS})} or 'module:Class'")
    if target.endswith(".py"):
        path = Path(target)
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        if module_spec is None or module_spec.loader is None or not path.is_file():
            raise ValueError(f"stylizer {spec!r}: no such file {path}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    stylizer = getattr(module, attr)(**options)
    if not isinstance(stylizer, Stylizer):
        raise TypeError(f"stylizer {spec!r} does not implement the Stylizer interface")
    return stylizer


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
