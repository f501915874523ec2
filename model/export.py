"""ONNX export of the denoiser, with dynamic batch, height and width, and a parity check
against torch (what the runtime backends load: ONNX Runtime here, TensorRT on GPUs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .network import Denoiser
from .text import EMBED_DIM

INPUTS = ("x", "sigma", "game", "history", "mask", "history_sigma", "history_noise", "prompt", "history_trust")
OUTPUT = "denoised"


def example_inputs(batch: int, height: int, width: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random inputs of the right shapes and ranges."""
    g = torch.Generator().manual_seed(seed)
    prompt = torch.nn.functional.normalize(torch.randn(batch, EMBED_DIM, generator=g), dim=1)
    return {
        "x": torch.randn(batch, 3, height, width, generator=g) * 2,
        "sigma": torch.rand(batch, generator=g) * 5 + 0.05,
        "game": torch.rand(batch, 6, height, width, generator=g) * 2 - 1,
        "history": torch.rand(batch, 3, height, width, generator=g) * 2 - 1,
        "mask": (torch.rand(batch, 1, height, width, generator=g) > 0.2).float(),
        "history_sigma": torch.full((batch,), 0.05),
        "history_noise": torch.randn(batch, 3, height, width, generator=g),
        "prompt": prompt,
        "history_trust": torch.rand(batch, generator=g) * 5,
    }


def export_onnx(model: Denoiser, path: Path, opset: int = 17) -> Path:
    """Write the model as ONNX (TorchScript exporter: fast, no onnxscript needed)."""
    model = model.eval()
    stride = model.config.stride
    inputs = example_inputs(1, 2 * stride, 2 * stride)
    dynamic = {name: {0: "batch"} for name in INPUTS}
    for name in ("x", "game", "history", "mask", "history_noise"):
        dynamic[name] = {0: "batch", 2: "height", 3: "width"}
    dynamic[OUTPUT] = {0: "batch", 2: "height", 3: "width"}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        tuple(inputs[n] for n in INPUTS),
        str(path),
        input_names=list(INPUTS),
        output_names=[OUTPUT],
        dynamic_axes=dynamic,
        opset_version=opset,
        dynamo=False,
    )
    return path


def parity(model: Denoiser, path: Path, sizes: list[tuple[int, int]], batch: int = 1) -> float:
    """Largest relative error (max |onnx - torch| / max |torch|) over random inputs at `sizes`."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for i, (height, width) in enumerate(sizes):
        inputs = example_inputs(batch, height, width, seed=i)
        with torch.no_grad():
            expected = model.eval()(*(inputs[n] for n in INPUTS)).numpy()
        (got,) = session.run([OUTPUT], {n: v.numpy() for n, v in inputs.items()})
        worst = max(worst, float(np.abs(got - expected).max() / max(np.abs(expected).max(), 1e-12)))
    return worst
