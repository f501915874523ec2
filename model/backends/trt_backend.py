"""TensorRT (NVIDIA GPUs), written against TensorRT 10's API.

The engine is built from the same ONNX file the other backends use, with one
optimization profile over the frame sizes the user configures (`ShapeProfile`), FP16
where the GPU and the TensorRT version allow it, and a timing cache on disk so rebuilds
skip the kernel timing. Engines are cached under a key of everything that makes an
engine invalid elsewhere: the ONNX file's hash, the profile, the precision, the GPU's
name and compute capability, and the CUDA and TensorRT versions.

At run time inputs and the output are bound by address (`set_tensor_address`) and the
engine runs with `execute_async_v3` on the caller's current CUDA stream: inputs already
on the GPU (the CUDA IPC path) are read in place; CPU inputs go through one staging
buffer each. This module imports `tensorrt` only when a backend is built, so the key and
profile helpers work (and are tested) anywhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from ..export import INPUTS, OUTPUT
from ..text import EMBED_DIM
from .base import BackendError, check_inputs
from .cache import cache_dir, sha256_file, write_atomically

WORKSPACE_BYTES = 1 << 30
SPATIAL = ("x", "game", "history", "mask", "history_noise")
PLANES = {"x": 3, "game": 6, "history": 3, "mask": 1, "history_noise": 3}
FP16_MIN_CAPABILITY = (5, 3)  # the first compute capability with native FP16 arithmetic


@dataclass(frozen=True)
class ShapeProfile:
    """Frame sizes (height, width) the engine accepts: min <= size <= max, tuned for opt."""

    min: tuple[int, int]
    opt: tuple[int, int]
    max: tuple[int, int]
    batch: int = 1

    @classmethod
    def parse(cls, text: str, stride: int) -> ShapeProfile:
        """ "WxH" (one size) or "MINWxMINH:OPTWxOPTH:MAXWxMAXH"; every side a multiple of stride."""
        parts = text.split(":")
        if len(parts) not in (1, 3):
            raise ValueError(f"TensorRT profile must be WxH or MIN:OPT:MAX (each WxH), got {text!r}")
        sizes = []
        for part in parts:
            try:
                width, height = (int(v) for v in part.lower().split("x"))
            except ValueError:
                raise ValueError(f"TensorRT profile: {part!r} is not WxH") from None
            if width <= 0 or height <= 0 or width % stride or height % stride:
                raise ValueError(f"TensorRT profile: {part} must be positive multiples of {stride}")
            sizes.append((height, width))
        low, opt, high = sizes * 3 if len(sizes) == 1 else sizes
        if not (low[0] <= opt[0] <= high[0] and low[1] <= opt[1] <= high[1]):
            raise ValueError(f"TensorRT profile: need min <= opt <= max in both sides, got {text!r}")
        return cls(low, opt, high)

    def shapes(self, name: str) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(min, opt, max) shape of input `name`."""
        n = self.batch
        if name in SPATIAL:
            sizes = (self.min, self.opt, self.max)
            return tuple((n, PLANES[name], h, w) for h, w in sizes)  # type: ignore[return-value]
        if name == "prompt":
            return ((n, EMBED_DIM),) * 3
        return ((n,),) * 3  # sigma, history_sigma, history_trust

    def admits(self, height: int, width: int) -> bool:
        return self.min[0] <= height <= self.max[0] and self.min[1] <= width <= self.max[1]

    def describe(self) -> str:
        return ":".join(f"{w}x{h}" for h, w in (self.min, self.opt, self.max))


def engine_key(
    onnx_sha256: str,
    profile: ShapeProfile,
    precision: str,
    gpu_name: str,
    capability: tuple[int, int],
    cuda_version: str,
    trt_version: str,
) -> str:
    """The cache key of an engine: any change to one of these makes a cached engine unusable."""
    fields = {
        "onnx": onnx_sha256,
        "profile": [profile.min, profile.opt, profile.max, profile.batch],
        "precision": precision,
        "gpu": gpu_name,
        "capability": list(capability),
        "cuda": cuda_version,
        "tensorrt": trt_version,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]


def choose_precision(requested: str, trt, capability: tuple[int, int]) -> str:
    """fp16 when asked for, the GPU computes in FP16 natively and this TensorRT still has the
    FP16 builder flag (newer releases prefer strongly typed networks); else fp32."""
    if requested not in ("fp16", "fp32"):
        raise BackendError(f"precision must be fp16 or fp32, got {requested!r}")
    if requested == "fp16" and capability >= FP16_MIN_CAPABILITY and hasattr(trt.BuilderFlag, "FP16"):
        return "fp16"
    return "fp32"


class TensorRTBackend:
    name = "tensorrt"
    device = "cuda"

    def __init__(self, onnx_path: Path, profile: ShapeProfile, precision: str = "fp16", cache: Path | None = None):
        try:
            import tensorrt as trt
        except ImportError as exc:
            raise BackendError("backend tensorrt needs the tensorrt package (TensorRT 10) and an NVIDIA GPU") from exc
        if not torch.cuda.is_available():
            raise BackendError("backend tensorrt needs a CUDA GPU; none is usable here")
        self._trt = trt
        self.profile = profile
        self.logger = trt.Logger(trt.Logger.WARNING)
        capability = torch.cuda.get_device_capability()
        self.precision = choose_precision(precision, trt, capability)
        folder = cache_dir(cache) / "tensorrt"
        gpu = torch.cuda.get_device_name()
        key = engine_key(
            sha256_file(onnx_path), profile, self.precision, gpu, capability, str(torch.version.cuda), trt.__version__
        )
        self.engine_path = folder / f"{key}.engine"
        self.built = False
        if not self.engine_path.is_file():
            timing = (
                folder
                / f"timing-{hashlib.sha256(f'{gpu}|{capability}|{trt.__version__}'.encode()).hexdigest()[:16]}.cache"
            )
            write_atomically(self.engine_path, self._build(onnx_path, timing))
            self.built = True
        runtime = trt.Runtime(self.logger)
        self.engine = runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if self.engine is None:
            raise BackendError(f"TensorRT could not load the cached engine {self.engine_path}; delete it to rebuild")
        self.context = self.engine.create_execution_context()
        self._shape: tuple[int, ...] | None = None
        self._staging: dict[str, torch.Tensor] = {}
        self._output: torch.Tensor | None = None

    def _build(self, onnx_path: Path, timing_path: Path) -> bytes:
        trt = self._trt
        builder = trt.Builder(self.logger)
        network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
        parser = trt.OnnxParser(network, self.logger)
        if not parser.parse(onnx_path.read_bytes()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise BackendError(f"TensorRT could not parse {onnx_path}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
        if self.precision == "fp16":
            config.set_flag(trt.BuilderFlag.FP16)
        profile = builder.create_optimization_profile()
        for name in INPUTS:
            profile.set_shape(name, *self.profile.shapes(name))
        config.add_optimization_profile(profile)
        timing = config.create_timing_cache(timing_path.read_bytes() if timing_path.is_file() else b"")
        config.set_timing_cache(timing, False)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise BackendError("TensorRT failed to build the engine (see the log above)")
        write_atomically(timing_path, bytes(config.get_timing_cache().serialize()))
        return bytes(serialized)

    def _bind_shape(self, x: torch.Tensor) -> None:
        """A new frame size: set every input's shape and (re)allocate the output."""
        n, _, h, w = x.shape
        if n != self.profile.batch or not self.profile.admits(h, w):
            raise BackendError(
                f"frame {w}x{h} (batch {n}) is outside the TensorRT profile {self.profile.describe()} "
                f"(batch {self.profile.batch}); serve with a profile that covers it"
            )
        for name in INPUTS:
            self.context.set_input_shape(
                name, (n, PLANES[name], h, w) if name in SPATIAL else self.profile.shapes(name)[0]
            )
        self._output = torch.empty((n, 3, h, w), dtype=torch.float32, device="cuda")
        self.context.set_tensor_address(OUTPUT, self._output.data_ptr())
        self._staging.clear()
        self._shape = tuple(x.shape)

    def _address(self, name: str, tensor: torch.Tensor) -> int:
        """The device address TensorRT reads `name` from: the caller's tensor in place when it
        is a contiguous float32 GPU tensor, else a staging copy."""
        if tensor.is_cuda and tensor.dtype == torch.float32 and tensor.is_contiguous():
            return tensor.data_ptr()
        staging = self._staging.get(name)
        if staging is None or staging.shape != tensor.shape:
            staging = self._staging[name] = torch.empty(tensor.shape, dtype=torch.float32, device="cuda")
        staging.copy_(tensor, non_blocking=True)
        return staging.data_ptr()

    def denoise(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        check_inputs(inputs)
        x = inputs["x"]
        if tuple(x.shape) != self._shape:
            self._bind_shape(x)
        for name in INPUTS:
            self.context.set_tensor_address(name, self._address(name, inputs[name]))
        stream = torch.cuda.current_stream()
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise BackendError("TensorRT execute_async_v3 failed (see the log above)")
        return self._output.to(x.device)
