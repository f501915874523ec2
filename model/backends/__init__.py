"""Inference backends: one interface over ONNX Runtime, torch and TensorRT.

A backend runs the denoiser once: `denoise(inputs)` takes the nine named inputs of
`reverie.model.export.INPUTS` as float32 torch tensors and returns the estimate (the
`OUTPUT`). The sampler and the stylizer never know which backend runs, so the same
per-frame code serves a laptop CPU and a datacenter GPU.

| backend     | devices   | what it runs |
| ----------- | --------- | ------------ |
| onnxruntime | cpu, cuda | the exported ONNX (cached on disk), I/O bound by address |
| torch       | cpu, cuda | the torch module; CUDA graphs on CUDA |
| tensorrt    | cuda      | an engine built from the same ONNX (cached on disk) |

Contract of `denoise`: inputs may live on the CPU or on the backend's device; the result
is on the device of `inputs["x"]` and may be a buffer the backend reuses on its next
call (copy it to keep it).
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping, Protocol, runtime_checkable

import torch

from ..export import INPUTS

BACKENDS = ("onnxruntime", "torch", "tensorrt")
DEVICES = ("cpu", "cuda")
DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "weights"


class BackendError(RuntimeError):
    """A backend cannot run here (package missing, no GPU, bad option); the message says why."""


@runtime_checkable
class Backend(Protocol):
    name: str
    device: str

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


def check_device(device: str) -> None:
    if device not in DEVICES:
        raise BackendError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise BackendError("device cuda: no CUDA GPU is usable here (torch.cuda.is_available() is False); use --device cpu")


def weights_stride(weights: Path) -> int:
    """The size multiple the weights in folder `weights` need (from their config.json)."""
    from ..train import TrainConfig

    meta = json.loads((Path(weights) / "config.json").read_text())
    return TrainConfig.from_dict(meta["config"]).network.stride


def load_backend(name: str, device: str = "cpu", weights: Path = DEFAULT_WEIGHTS, *, cache: Path | None = None,
                 threads: int | None = None, trt_profile: str | None = None, precision: str = "fp16") -> Backend:
    """The backend `name` on `device` for the weights in folder `weights` (model.safetensors
    + config.json). ONNX and TensorRT files are built once and cached under `cache`
    (default: `reverie.model.backends.cache.cache_dir()`). `threads`: CPU threads of
    the forward pass on the CPU (default: the cores this process may use). `trt_profile`: TensorRT's
    optimization profile as "WxH" or "MINWxMINH:OPTWxOPTH:MAXWxMAXH"."""
    from ..train import load_model

    if name not in BACKENDS:
        raise BackendError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    check_device(device)
    weights = Path(weights)
    if not (weights / "model.safetensors").is_file() or not (weights / "config.json").is_file():
        raise BackendError(f"{weights} holds no weights (model.safetensors and config.json)")
    try:
        model, _ = load_model(weights)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:  # weights of another architecture, a broken config
        detail = str(exc).strip().splitlines()
        raise BackendError(f"the weights in {weights} do not load into this version's network: {' '.join(detail[:3])}") from exc
    if name == "torch":
        from .torch_backend import TorchBackend

        return TorchBackend(model, device, threads=threads)
    from .cache import cached_onnx

    onnx_path = cached_onnx(model, weights, cache)
    if name == "onnxruntime":
        from .ort_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(onnx_path, device, threads=threads)
    if device != "cuda":
        raise BackendError("backend tensorrt runs on --device cuda only")
    from .trt_backend import ShapeProfile, TensorRTBackend

    profile = ShapeProfile.parse(trt_profile or "256x256", model.config.stride)
    return TensorRTBackend(onnx_path, profile, precision=precision, cache=cache)
