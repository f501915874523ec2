"""The exported ONNX model matches torch at several sizes (dynamic height and width)."""

from __future__ import annotations

import torch

from reverie.model.export import export_onnx, parity
from reverie.model.network import Denoiser, NetworkConfig


def test_onnx_export_matches_torch_at_several_sizes(tmp_path):
    """The exported graph is the module, with the history trust an input like the others
    (`parity` draws it at random, 0..5)."""
    torch.manual_seed(0)
    model = Denoiser(NetworkConfig(widths=(16, 32, 48), blocks=1, cond_dim=32))
    for p in model.net.out.parameters():  # the output layer starts at zero: make it speak
        torch.nn.init.normal_(p, std=0.05)
    path = export_onnx(model, tmp_path / "model.onnx")
    stride = model.config.stride
    assert parity(model, path, [(stride, stride), (4 * stride, 2 * stride), (3 * stride, 5 * stride)]) < 1e-3
