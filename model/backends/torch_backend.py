"""torch: the reference backend, on the CPU or on CUDA.

On CUDA the denoiser is captured once per input shape into a CUDA graph (static input
buffers, one replay per call): a step of this small network is a few hundred short
kernels, and launching them one by one from Python costs more than running them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import torch

from ..export import INPUTS
from ..network import Denoiser
from .base import available_cores, check_device, check_inputs, torch_threads

MAX_GRAPHS = 4  # captured shapes kept (a game that keeps resizing must not grow memory)
WARMUP_RUNS = 3  # eager runs on a side stream before capture (cuDNN picks its kernels)


class _Graph:
    """One captured shape: static inputs, the graph, its output buffer."""

    def __init__(self, model: Denoiser, inputs: Mapping[str, torch.Tensor]):
        self.inputs = {n: inputs[n].to("cuda", torch.float32).clone() for n in INPUTS}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.no_grad():
            for _ in range(WARMUP_RUNS):
                model(*(self.inputs[n] for n in INPUTS))
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.no_grad():
            self.output = model(*(self.inputs[n] for n in INPUTS))

    def run(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        for name in INPUTS:
            self.inputs[name].copy_(inputs[name], non_blocking=True)
        self.graph.replay()
        return self.output


class TorchBackend:
    name = "torch"
    precision = "f32"

    def __init__(self, model: Denoiser, device: str = "cpu", cuda_graphs: bool = True, threads: int | None = None):
        check_device(device)
        self.device = device
        self.threads = threads or available_cores()  # CPU threads for the forward pass
        self.model = model.to(device).eval()
        self.cuda_graphs = cuda_graphs and device == "cuda"
        self._graphs: OrderedDict[tuple, _Graph] = OrderedDict()

    def denoise(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        check_inputs(inputs)
        if self.cuda_graphs:
            key = tuple(tuple(inputs[n].shape) for n in INPUTS)
            graph = self._graphs.get(key)
            if graph is None:
                if len(self._graphs) >= MAX_GRAPHS:
                    self._graphs.popitem(last=False)
                graph = self._graphs[key] = _Graph(self.model, inputs)
            self._graphs.move_to_end(key)
            out = graph.run(inputs)
        else:
            with torch.no_grad(), torch_threads(self.threads):
                out = self.model(*(inputs[n].to(self.device, torch.float32) for n in INPUTS))
        return out.to(inputs["x"].device)
