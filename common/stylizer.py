"""The contract between the daemon and what it runs: a frame in, a stylized frame out.

It lives on the ground floor so that the bridge (which runs stylizers) and the model
(which provides the real one) both build on it without importing each other.

Calls come from one thread (the daemon's frame loop), never concurrently, except
`prepare_weights`, which the daemon runs on a worker thread while frames flow, and
`counters` / `identity`, which the I/O thread reads for `status` (so plain ints and
strings only).

`device` says where a stylizer's frames may live: "cpu" takes numpy frames only, so the
daemon refuses CUDA rings for it; "cuda" also takes frames of a CUDA ring, whose planes
and `out` are torch CUDA tensors viewing the game's GPU memory (work on the current torch
stream: the daemon has made it wait for the game's inputs and records the output's event
after `stylize` returns). A "cuda" stylizer still gets numpy frames from games on the
host transport.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

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


@dataclass(frozen=True)
class StylizeResult:
    """What one `stylize` call did. `static_skip`: the frame repeated the last one exactly,
    so the last output was written again without running the model (a capture marks such
    frames, docs/capture.md)."""

    static_skip: bool = False


STYLIZED = StylizeResult()
STATIC_SKIP = StylizeResult(static_skip=True)


class WeightsUnsupported(Exception):
    """This stylizer runs no weights it could swap: a style pack's fine-tuned weights
    cannot be loaded into it."""


@runtime_checkable
class Stylizer(Protocol):
    """Every capability the daemon uses. `stylize` writes into `out`, an (H, W, 4) uint8
    view of the ring's output plane (numpy in shared memory, or a torch CUDA tensor on a
    CUDA ring, see `device`) of the same size as `frame.color`."""

    name: str
    device: str

    @property
    def counters(self) -> dict[str, int]:
        """Counts that only the stylizer's own calls change (frames, model calls, skips...)."""
        ...

    @property
    def identity(self) -> dict[str, Any]:
        """What makes two stylizers of one name give the same pixels (weights hash,
        backend): a capture stores it so that a replay can warn when they differ."""
        ...

    def stylize(self, frame: Frame, out: Any) -> StylizeResult: ...

    def set_prompt(self, text: str, transition_frames: int) -> None: ...

    def set_params(self, steps: int | None, strength: float | None, seed: int | None) -> None: ...

    def reset_history(self) -> None:
        """Forget the previous frames (a camera cut); a prompt transition under way goes on."""
        ...

    def restart(self) -> None:
        """The state of a fresh stylizer with the current prompt and settings: history,
        prompt blends and schedules dropped, the noise at its seed (a capture starts here,
        so its replay reproduces it)."""
        ...

    def prepare_weights(self, folder: Path | None) -> Any:
        """Build what `use_weights` swaps in for the weights in `folder` (None: the
        stylizer's own), touching no stream state; raise with the reason when they do not
        load, WeightsUnsupported when this stylizer runs no weights."""
        ...

    def use_weights(self, prepared: Any) -> None:
        """Run `prepared` (from `prepare_weights`) from the next frame on."""
        ...


class StylizerBase:
    """The defaults of the contract, for stylizers that need only part of it: runs on the
    host, counts nothing, has no identity beyond its name, restarts by resetting its
    history, and runs no weights it could swap."""

    name = "stylizer"
    device = DEVICE_CPU

    @property
    def counters(self) -> dict[str, int]:
        return {}

    @property
    def identity(self) -> dict[str, Any]:
        return {}

    def stylize(self, frame: Frame, out: Any) -> StylizeResult:
        raise NotImplementedError

    def set_prompt(self, text: str, transition_frames: int) -> None:
        pass

    def set_params(self, steps: int | None, strength: float | None, seed: int | None) -> None:
        pass

    def reset_history(self) -> None:
        pass

    def restart(self) -> None:
        self.reset_history()

    def prepare_weights(self, folder: Path | None) -> Any:
        raise WeightsUnsupported(f"the stylizer {self.name!r} cannot load weights")

    def use_weights(self, prepared: Any) -> None:
        raise WeightsUnsupported(f"the stylizer {self.name!r} cannot load weights")
