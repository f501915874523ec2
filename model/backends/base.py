"""What every inference backend shares: the `Backend` interface, its errors, the checks of
its inputs and device, and the thread counts it runs with. The backends import this, and
the package (`reverie.model.backends`) builds them."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

import torch

from ..export import INPUTS

DEVICES = ("cpu", "cuda", "intel-gpu")  # intel-gpu: OpenVINO's "GPU" (an Intel integrated or discrete GPU)


class BackendError(RuntimeError):
    """A backend cannot run here (package missing, no GPU, bad option); the message says why."""


class NonFiniteOutput(BackendError):
    """The network's output holds NaN or inf (an overflow, broken weights): the frame fails
    instead of showing garbage. The message names the backend and its precision."""


@runtime_checkable
class Backend(Protocol):
    name: str
    device: str
    # precision: str  (optional: "f32" when absent)

    def denoise(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor: ...


def available_cores() -> int:
    """The cores this process may run on (respects taskset and container limits)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with `count` torch CPU threads (switching costs well under a
    microsecond). The per-frame pre- and post-processing runs on one thread: its ops on a
    256x256 frame are too small to gain from more, and a parallel op waits for its slowest
    thread, which on a busy 2-core machine (the game renders beside us) can lose a whole
    scheduler slice: measured 30 ms a frame with 1 thread against 420 ms with 2."""
    previous = torch.get_num_threads()
    if previous == count:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def check_inputs(inputs: Mapping[str, torch.Tensor]) -> None:
    """Clear errors for missing names and mismatched shapes (what an ONNX or TensorRT
    runtime would otherwise report as an opaque failure deep inside)."""
    missing = [n for n in INPUTS if n not in inputs]
    if missing:
        raise ValueError(f"denoiser inputs missing: {', '.join(missing)}")
    x = inputs["x"]
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"x must be (N, 3, H, W), got {tuple(x.shape)}")
    n, _, h, w = x.shape
    for name, planes in (("game", 6), ("history", 3), ("mask", 1), ("history_noise", 3)):
        if tuple(inputs[name].shape) != (n, planes, h, w):
            raise ValueError(f"{name} must be {(n, planes, h, w)}, got {tuple(inputs[name].shape)}")
    for name in ("sigma", "history_sigma", "history_trust"):
        if tuple(inputs[name].shape) != (n,):
            raise ValueError(f"{name} must be ({n},), got {tuple(inputs[name].shape)}")
    if inputs["prompt"].dim() != 2 or inputs["prompt"].shape[0] != n:
        raise ValueError(f"prompt must be ({n}, D), got {tuple(inputs['prompt'].shape)}")


def import_openvino() -> Any:
    """The openvino package, or a BackendError that says how to install it."""
    try:
        import openvino
    except ImportError as exc:
        raise BackendError("backend openvino needs the openvino package: pip install openvino") from exc
    return openvino


def check_device(device: str) -> None:
    """A BackendError with the reason when `device` cannot run here."""
    if device not in DEVICES:
        raise BackendError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise BackendError(
            "device cuda: no CUDA GPU is usable here (torch.cuda.is_available() is False); use --device cpu"
        )
    if device == "intel-gpu":
        available = import_openvino().Core().available_devices
        if "GPU" not in available:
            raise BackendError(
                f"device intel-gpu: OpenVINO sees no Intel GPU here (its devices: {', '.join(available)}); "
                "use --device cpu"
            )


def backend_precision(backend: Backend) -> str:
    """What the backend's arithmetic runs in ("f32" for one that does not say)."""
    return str(getattr(backend, "precision", "f32"))
