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

The interface, its errors and checks live in `base` (what the backends import); this
package builds backends from a weights folder (`load_backend`) and picks the default.
"""

from __future__ import annotations

import functools
from pathlib import Path

from ..weights import CONFIG_FILE, DEFAULT_WEIGHTS, MODEL_FILE, load_model
from .base import (
    DEVICES,
    Backend,
    BackendError,
    NonFiniteOutput,
    available_cores,
    backend_precision,
    check_device,
    check_inputs,
    torch_threads,
)

__all__ = [
    "BACKENDS",
    "DEVICES",
    "Backend",
    "BackendError",
    "NonFiniteOutput",
    "available_cores",
    "backend_precision",
    "check_device",
    "check_inputs",
    "default_backend",
    "load_backend",
    "torch_threads",
]

BACKENDS = ("onnxruntime", "openvino", "torch", "tensorrt")


# The CPU default where OpenVINO cannot run bf16. Measured on this project's 2-core Xeon
# with OpenVINO forced to f32 (`reverie bench model --backend onnxruntime,openvino
# --precision f32`, docs/benchmarks.md "OpenVINO"): OpenVINO's p50 was 2.2-2.5x ONNX
# Runtime's in three runs, and 1.2-1.4x for the forward pass alone; so ONNX Runtime.
CPU_F32_DEFAULT = "onnxruntime"


@functools.cache
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


def load_backend(
    name: str | None,
    device: str = "cpu",
    weights: Path = DEFAULT_WEIGHTS,
    *,
    cache: Path | None = None,
    threads: int | None = None,
    trt_profile: str | None = None,
    precision: str | None = None,
) -> Backend:
    """The backend `name` (None: `default_backend(device)`) on `device` for the weights in
    folder `weights` (model.safetensors + config.json). ONNX files, TensorRT engines and
    OpenVINO's compiled models are built once and cached under `cache` (default:
    `reverie.model.backends.cache.cache_dir()`). `threads`: CPU threads of the forward pass
    on the CPU (default: the cores this process may use). `trt_profile`: TensorRT's
    optimization profile as "WxH" or "MINWxMINH:OPTWxOPTH:MAXWxMAXH". `precision` (None:
    the backend's choice): openvino "auto" | "bf16" | "f32" (| "f16" on intel-gpu);
    tensorrt "fp16" | "fp32"; onnxruntime and torch run f32 only."""
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
    if not (weights / MODEL_FILE).is_file() or not (weights / CONFIG_FILE).is_file():
        raise BackendError(f"{weights} holds no weights ({MODEL_FILE} and {CONFIG_FILE})")
    try:
        model = load_model(weights)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:  # weights of another architecture, a broken config
        detail = str(exc).strip().splitlines()
        raise BackendError(
            f"the weights in {weights} do not load into this version's network: {' '.join(detail[:3])}"
        ) from exc
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
