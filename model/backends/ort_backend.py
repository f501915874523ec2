"""ONNX Runtime: the embedded default, on the CPU (or CUDA with onnxruntime-gpu).

Tuned for a small machine: as many intra-op threads as the cores this process may use,
one inter-op thread, sequential execution (the graph is a chain of convolutions: there is
nothing to run side by side), every graph optimization. Inputs and the output are bound
by address (I/O binding): ONNX Runtime reads the caller's tensors in place and writes
into a preallocated output buffer per shape, so no array is copied on the way in or out.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from ..export import INPUTS, OUTPUT
from .base import BackendError, available_cores, check_inputs

# Idle worker threads spinning for more work burn the cores the game and the daemon's
# own pre- and post-processing need; measured faster end to end with spinning off on a
# 2-core machine (docs/benchmarks.md, "Model").
ALLOW_SPINNING = os.environ.get("REVERIE_ORT_SPINNING", "0")


class OnnxRuntimeBackend:
    name = "onnxruntime"
    precision = "f32"

    def __init__(self, onnx_path: Path, device: str = "cpu", threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendError("backend onnxruntime needs the onnxruntime package: pip install onnxruntime") from exc
        self.device = device
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or available_cores()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", ALLOW_SPINNING)
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise BackendError(
                    "backend onnxruntime on cuda needs onnxruntime-gpu (CUDAExecutionProvider is not available)"
                )
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(onnx_path), options, providers=providers)
        self.threads = options.intra_op_num_threads
        self._binding = self.session.io_binding()
        self._outputs: dict[tuple[int, ...], torch.Tensor] = {}
        self._device_id = torch.cuda.current_device() if device == "cuda" else 0

    def _output(self, shape: tuple[int, ...]) -> torch.Tensor:
        out = self._outputs.get(shape)
        if out is None:
            if len(self._outputs) >= 4:  # a game that keeps resizing must not grow memory
                self._outputs.clear()
            out = self._outputs[shape] = torch.empty(shape, dtype=torch.float32, device=self.device)
        return out

    def denoise(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        check_inputs(inputs)
        # Contiguous float32 on our device: a no-op (the same tensor) when it already is.
        ready = {n: inputs[n].to(device=self.device, dtype=torch.float32).contiguous() for n in INPUTS}
        out = self._output(tuple(ready["x"].shape))
        binding = self._binding
        for name, tensor in ready.items():
            binding.bind_input(name, self.device, self._device_id, np.float32, tuple(tensor.shape), tensor.data_ptr())
        binding.bind_output(OUTPUT, self.device, self._device_id, np.float32, tuple(out.shape), out.data_ptr())
        if self.device == "cuda":
            # ONNX Runtime reads the bound addresses on its own stream, which knows nothing of
            # the torch work that wrote them (and it refuses torch's default stream, handle 0,
            # as a user compute stream): wait for that work first. Run returns when ORT's own
            # work is done, so the output is ready for any torch stream after it.
            torch.cuda.current_stream().synchronize()
        self.session.run_with_iobinding(binding)
        return out.to(inputs["x"].device)
