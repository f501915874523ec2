"""Inference backends: one interface over ONNX Runtime, OpenVINO, torch and TensorRT.

A backend runs the denoiser once: `denoise(inputs)` takes the nine named inputs of
`reverie.model.export.INPUTS` as float32 torch tensors and returns the estimate (the
`OUTPUT`). The sampler and the stylizer never know which backend runs, so the same
per-frame code serves a laptop CPU and a datacenter GPU.

| backend     | devices   | what it runs |
| ----------- | --------- | ------------ |
| onnxruntime | cpu, cuda | the exported ONNX (cached on disk), I/O bound by address |
| openvino    | cpu, intel-gpu | the same ONNX, bf16 where the CPU has it (compiled models cached on disk) |
| torch       | cpu, cuda | the torch module; CUDA graphs on CUDA |
| tensorrt    | cuda      | an engine built from the same ONNX (cached on disk) |

Contract of `denoise`: inputs may live on the CPU or on the backend's device; the result
is on the device of `inputs["x"]` and may be a buffer the backend reuses on its next
call (copy it to keep it).

Each backend has a `precision` ("f32", "bf16", TensorRT's "fp16"...): what its arithmetic
runs in, shown in the stylizer's name (`reverie status`) and identity.
"""

from __future__ import annotations

import functools
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping, Protocol, runtime_checkable

import torch

from ..export import INPUTS

BACKENDS = ("onnxruntime", "openvino", "torch", "tensorrt")
DEVICES = ("cpu", "cuda", "intel-gpu")  # intel-gpu: OpenVINO's "GPU" (an Intel integrated or discrete GPU)
DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "weights"


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


def check_device(device: str) -> None:
    if device not in DEVICES:
        raise BackendError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise BackendError("device cuda: no CUDA GPU is usable here (torch.cuda.is_available() is False); use --device cpu")
    if device == "intel-gpu":
        from .ov_backend import import_openvino

        available = import_openvino().Core().available_devices
        if "GPU" not in available:
            raise BackendError(f"device intel-gpu: OpenVINO sees no Intel GPU here (its devices: {', '.join(available)}); "
                               "use --device cpu")


def backend_precision(backend: Backend) -> str:
    """What the backend's arithmetic runs in ("f32" for one that does not say)."""
    return str(getattr(backend, "precision", "f32"))


# The CPU default where OpenVINO cannot run bf16. Measured on this project's 2-core Xeon
# with OpenVINO forced to f32 (`reverie bench model --backend onnxruntime,openvino
# --precision f32`, docs/benchmarks.md "OpenVINO"): OpenVINO's p50 was 2.2-2.5x ONNX
# Runtime's in three runs, and 1.2-1.4x for the forward pass alone; so ONNX Runtime.
CPU_F32_DEFAULT = "onnxruntime"


@functools.lru_cache(maxsize=None)
def default_backend(device: str = "cpu") -> str:
    """The backend `--backend` means when not given, for `device`.

    cpu: "openvino" where it is installed and the CPU computes in bf16 (AMX or AVX-512
    BF16, as OpenVINO and the kernel both report, `ov_backend.cpu_bf16`): there OpenVINO's
    bf16 runs the network's forward pass in about 0.4-0.6x ONNX Runtime's f32 time, and the
    gap grows with the network's width (docs/benchmarks.md, "OpenVINO"). Elsewhere both
    would run f32, where OpenVINO measured slower (`CPU_F32_DEFAULT`): "onnxruntime", as
    when openvino is not importable. cuda: "onnxruntime" (TensorRT is opt-in: its engine
    build takes minutes). intel-gpu: "openvino", the only backend that runs there."""
    if device == "intel-gpu":
        return "openvino"
    if device != "cpu":
        return "onnxruntime"
    try:
        import openvino
    except ImportError:
        return "onnxruntime"
    from .ov_backend import cpu_bf16

    return "openvino" if cpu_bf16(openvino.Core()) else CPU_F32_DEFAULT


def weights_stride(weights: Path) -> int:
    """The size multiple the weights in folder `weights` need (from their config.json)."""
    from ..train import TrainConfig

    meta = json.loads((Path(weights) / "config.json").read_text())
    return TrainConfig.from_dict(meta["config"]).network.stride


def load_backend(name: str | None, device: str = "cpu", weights: Path = DEFAULT_WEIGHTS, *, cache: Path | None = None,
                 threads: int | None = None, trt_profile: str | None = None, precision: str | None = None) -> Backend:
    """The backend `name` (None: `default_backend(device)`) on `device` for the weights in
    folder `weights` (model.safetensors + config.json). ONNX files, TensorRT engines and
    OpenVINO's compiled models are built once and cached under `cache` (default:
    `reverie.model.backends.cache.cache_dir()`). `threads`: CPU threads of the forward pass
    on the CPU (default: the cores this process may use). `trt_profile`: TensorRT's
    optimization profile as "WxH" or "MINWxMINH:OPTWxOPTH:MAXWxMAXH". `precision` (None:
    the backend's choice): openvino "auto" | "bf16" | "f32" (| "f16" on intel-gpu);
    tensorrt "fp16" | "fp32"; onnxruntime and torch run f32 only."""
    from ..train import load_model

    name = name or default_backend(device)
    if name not in BACKENDS:
        raise BackendError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    if precision not in (None, "auto", "f32", "fp32") and name in ("onnxruntime", "torch"):
        raise BackendError(f"backend {name} runs f32 only, got precision {precision!r}")
    if device == "intel-gpu" and name != "openvino":
        raise BackendError(f"device intel-gpu is OpenVINO's: use --backend openvino (not {name})")
    if device == "cuda" and name == "openvino":
        raise BackendError("backend openvino runs on --device cpu or intel-gpu, not cuda")
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
    if name == "openvino":
        from .ov_backend import OpenVINOBackend

        return OpenVINOBackend(onnx_path, device, threads=threads, precision=precision or "auto", cache=cache)
    if device != "cuda":
        raise BackendError("backend tensorrt runs on --device cuda only")
    from .trt_backend import ShapeProfile, TensorRTBackend

    profile = ShapeProfile.parse(trt_profile or "256x256", model.config.stride)
    return TensorRTBackend(onnx_path, profile, precision=precision or "fp16", cache=cache)
