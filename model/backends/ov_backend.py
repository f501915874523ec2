"""OpenVINO: the CPU backend that uses the CPU's matrix units, and Intel integrated GPUs.

Why: on a CPU with bf16 arithmetic (Intel AMX, AVX-512 BF16 on Intel and AMD Zen 4/5),
OpenVINO runs the same exported ONNX's forward pass in bf16 in about half the time ONNX
Runtime takes in f32 (docs/benchmarks.md, "OpenVINO"); the output differs from f32 by
~0.02 at most on the [-1, 1] scale (56 dB PSNR or better on the shown picture). Where the
CPU reports no bf16 it runs f32. The choice comes from the CPU itself: OpenVINO's
`OPTIMIZATION_CAPABILITIES` must list BF16 and, on Linux, /proc/cpuinfo must show
`amx_bf16` or `avx512_bf16` (two independent answers: a plugin that misreads a CPU must
not put a gamer's machine on an emulated path). `precision` forces "bf16" or "f32".

One compiled model per frame size: OpenVINO's CPU plugin runs a model compiled for one
static shape about three times faster than the same model with dynamic height and width
(measured 15 against 44 ms a step at 256x256 in bf16 on 2 cores). The working size
changes only when the game's aspect does, so the backend reshapes and compiles on a new
size, keeps the last MAX_SHAPES compiled models (a game that keeps resizing must not grow
memory), and OpenVINO's model cache keeps every compiled blob on disk, under a folder
keyed like the TensorRT engines (`compile_key`: ONNX hash, precision, device, OpenVINO
version, the device's name and capabilities). A size seen before, in this run or an
earlier one, loads in ~0.15 s instead of compiling in ~0.4 s; the folder keeps the newest
MAX_BLOBS of them, so a game that tries many sizes does not fill the disk either.

Per call the caller's contiguous float32 CPU tensors are shared with OpenVINO (no copy)
and the output lands in a torch buffer the backend owns for that size. The output is
checked for NaN and inf (one dot product, ~0.1 ms at 256x256): reduced precision must
never put garbage on screen, so a non-finite result raises `NonFiniteOutput` (the daemon
fails that frame and keeps serving) instead of being returned.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..cpu_features import kernel_reports_bf16
from ..export import INPUTS, OUTPUT
from .base import BackendError, NonFiniteOutput, available_cores, check_inputs, import_openvino
from .cache import cache_dir, sha256_file

MAX_SHAPES = 4  # compiled frame sizes kept in memory (each holds its own buffers)
MAX_BLOBS = 16  # compiled frame sizes kept on disk per cache key (~6 MB each for the shipped network)
PRECISIONS = ("auto", "bf16", "f16", "f32")
OV_DEVICES = {"cpu": "CPU", "intel-gpu": "GPU"}  # our device names -> OpenVINO's


def cpu_bf16(core: Any, flags: set[str] | None = None) -> bool:
    """True when this CPU computes in bf16 natively: OpenVINO reports BF16 among the CPU's
    optimization capabilities and (on Linux) the kernel's flags show AMX or AVX-512 BF16."""
    if "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        return False
    return kernel_reports_bf16(flags) is not False


def choose_precision(requested: str, device: str, core: Any) -> str:
    """auto: bf16 on a CPU with bf16 arithmetic, f16 on an Intel GPU that has it, else f32.
    A forced precision the device cannot compute natively is refused with the reason."""
    if requested not in PRECISIONS:
        raise BackendError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    ov_device = OV_DEVICES[device]
    if ov_device == "CPU":
        native = "bf16" if cpu_bf16(core) else "f32"
        if requested == "f16":
            raise BackendError("precision f16 is for --device intel-gpu; on the CPU use bf16 or f32")
    else:
        native = "f16" if "FP16" in core.get_property(ov_device, "OPTIMIZATION_CAPABILITIES") else "f32"
        if requested == "bf16":
            raise BackendError("precision bf16 is for the CPU; on intel-gpu use f16 or f32")
    if requested == "auto":
        return native
    if requested != "f32" and requested != native:
        raise BackendError(
            f"precision {requested}: this {device} does not compute in {requested} natively "
            f"(OpenVINO reports {core.get_property(ov_device, 'OPTIMIZATION_CAPABILITIES')}); use f32 or auto"
        )
    return requested


def compile_key(
    onnx_sha256: str, precision: str, device: str, openvino_version: str, device_name: str, capabilities: list[str]
) -> str:
    """The cache folder of compiled models: any change to one of these makes a blob unusable
    (the device's name alone is not enough: many CPUs call themselves "Intel(R) Xeon(R)
    Processor", so its capabilities are part of the key too)."""
    fields = {
        "onnx": onnx_sha256,
        "precision": precision,
        "device": device,
        "openvino": openvino_version,
        "device_name": device_name,
        "capabilities": sorted(capabilities),
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]


class _Compiled:
    """One frame size: the compiled model, its infer request, the output buffer."""

    def __init__(self, compiled: Any, ov: Any, shape: tuple[int, ...]):
        self.compiled = compiled
        self.loaded_from_cache = bool(compiled.get_property("LOADED_FROM_CACHE"))
        self.request = compiled.create_infer_request()
        self.output = torch.empty(shape, dtype=torch.float32)
        self.request.set_output_tensor(0, ov.Tensor(self.output.numpy(), shared_memory=True))


class OpenVINOBackend:
    name = "openvino"

    def __init__(
        self,
        onnx_path: Path,
        device: str = "cpu",
        threads: int | None = None,
        precision: str = "auto",
        cache: Path | None = None,
    ):
        ov = self._ov = import_openvino()
        if device not in OV_DEVICES:
            raise BackendError(f"backend openvino runs on {' or '.join(OV_DEVICES)}, not {device!r}")
        core = self.core = ov.Core()
        ov_device = self.ov_device = OV_DEVICES[device]
        if ov_device not in core.available_devices:
            seen = ", ".join(core.available_devices)
            raise BackendError(f"device {device}: OpenVINO sees no {ov_device} device here (it has {seen})")
        self.device = device
        self.precision = choose_precision(precision, device, core)
        self.threads = threads or available_cores()
        key = compile_key(
            sha256_file(onnx_path),
            self.precision,
            device,
            ov.get_version(),
            str(core.get_property(ov_device, "FULL_DEVICE_NAME")),
            list(core.get_property(ov_device, "OPTIMIZATION_CAPABILITIES")),
        )
        self.cache_folder = cache_dir(cache) / "openvino" / key
        self.cache_folder.mkdir(parents=True, exist_ok=True)
        self._config: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": self.precision,
            "CACHE_DIR": str(self.cache_folder),
        }
        if ov_device == "CPU":
            self._config["INFERENCE_NUM_THREADS"] = self.threads
        self._model = core.read_model(str(onnx_path))
        self._compiled: OrderedDict[tuple[tuple[int, ...], ...], _Compiled] = OrderedDict()
        self.counters = {"compiled": 0, "loaded_from_cache": 0}

    def _for_shapes(self, ready: Mapping[str, torch.Tensor]) -> _Compiled:
        """The compiled model for these input shapes (reshaped and compiled on first sight)."""
        key = tuple(tuple(ready[n].shape) for n in INPUTS)
        entry = self._compiled.get(key)
        if entry is None:
            if len(self._compiled) >= MAX_SHAPES:
                self._compiled.popitem(last=False)
            self._model.reshape({n: list(shape) for n, shape in zip(INPUTS, key)})
            compiled = self.core.compile_model(self._model, self.ov_device, self._config)
            got = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
            if got != self.precision:
                raise BackendError(f"OpenVINO compiled the model in {got}, not the {self.precision} asked for")
            entry = self._compiled[key] = _Compiled(compiled, self._ov, tuple(ready["x"].shape))
            self.counters["loaded_from_cache" if entry.loaded_from_cache else "compiled"] += 1
            if not entry.loaded_from_cache:
                self._prune_blobs()
        self._compiled.move_to_end(key)
        return entry

    def _prune_blobs(self) -> None:
        """Keep the newest MAX_BLOBS compiled blobs of this key on disk."""

        def age(path: Path) -> int:
            try:
                return path.stat().st_mtime_ns
            except OSError:  # removed meanwhile by another daemon
                return 0

        blobs = sorted(self.cache_folder.glob("*.blob"), key=age, reverse=True)
        for old in blobs[MAX_BLOBS:]:
            try:
                old.unlink()
            except OSError:  # in use by another process (Windows), or already gone
                pass

    def denoise(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        check_inputs(inputs)
        # Contiguous float32 on the host: a no-op (the same tensor) when it already is.
        ready = {n: inputs[n].to(device="cpu", dtype=torch.float32).contiguous() for n in INPUTS}
        entry = self._for_shapes(ready)
        request, tensor = entry.request, self._ov.Tensor
        for name in INPUTS:
            request.set_tensor(name, tensor(ready[name].numpy(), shared_memory=True))
        request.start_async()
        request.wait()
        out = entry.output
        flat = out.numpy().reshape(-1)
        # NaN and inf propagate through a dot product of the output with itself: one BLAS
        # pass, cheaper than isfinite (docs/benchmarks.md, bridge round trip); only a
        # non-finite result (or a huge one, whose square overflows) pays for the exact count.
        if not np.isfinite(np.dot(flat, flat)) and (bad := flat.size - int(np.count_nonzero(np.isfinite(flat)))):
            raise NonFiniteOutput(
                f"backend openvino ({self.device}, {self.precision}) gave {bad} non-finite values "
                f"(NaN or inf) in its {OUTPUT} output of shape {tuple(out.shape)}; the frame is not shown"
            )
        return out.to(inputs["x"].device)
