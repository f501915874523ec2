"""Inference backends: one interface, the same numbers from each, the ONNX cache, clear
errors, and TensorRT's profile and cache key (its engine test needs TensorRT and a GPU)."""

from __future__ import annotations

import os

import pytest
import torch
from model_fixtures import SHIPPED, save_tiny_weights, tiny_model

from reverie.model.backends import BackendError, load_backend
from reverie.model.backends.cache import cache_dir
from reverie.model.backends.trt_backend import ShapeProfile, engine_key
from reverie.model.export import INPUTS, example_inputs
from reverie.model.weights import weights_stride

PARITY = 1e-3  # largest |onnxruntime - torch| relative to the largest |torch| output


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-12))


def test_onnxruntime_matches_torch_on_the_same_inputs_with_the_shipped_weights(tmp_path):
    stride = weights_stride(SHIPPED)
    ort = load_backend("onnxruntime", "cpu", SHIPPED, cache=tmp_path)
    ref = load_backend("torch", "cpu", SHIPPED)
    for i, (height, width) in enumerate([(4 * stride, 6 * stride), (2 * stride, 2 * stride)]):
        inputs = example_inputs(1, height, width, seed=i)
        got, expected = ort.denoise(inputs).clone(), ref.denoise(inputs)
        assert got.shape == (1, 3, height, width)
        assert _relative_error(got, expected) < PARITY


def test_onnx_is_exported_once_per_weights_and_again_for_new_weights(tmp_path):
    weights = save_tiny_weights(tmp_path / "w0", seed=0)
    cache = tmp_path / "cache"
    load_backend("onnxruntime", "cpu", weights, cache=cache)
    (first,) = (cache / "onnx").glob("*.onnx")
    stamp = first.stat().st_mtime_ns
    load_backend("onnxruntime", "cpu", weights, cache=cache)
    assert [p.name for p in (cache / "onnx").glob("*.onnx")] == [first.name] and first.stat().st_mtime_ns == stamp
    load_backend("onnxruntime", "cpu", save_tiny_weights(tmp_path / "w1", seed=1), cache=cache)
    assert len(list((cache / "onnx").glob("*.onnx"))) == 2


def test_onnxruntime_binds_inputs_in_place_and_reuses_its_output_buffer(tmp_path):
    weights = save_tiny_weights(tmp_path / "w")
    ort = load_backend("onnxruntime", "cpu", weights, cache=tmp_path / "cache")
    ref = load_backend("torch", "cpu", weights)
    a, b = example_inputs(1, 32, 48, seed=1), example_inputs(1, 32, 48, seed=2)
    out_a = ort.denoise(a)
    assert _relative_error(out_a, ref.denoise(a)) < PARITY
    pointer = out_a.data_ptr()
    out_b = ort.denoise(b)
    assert out_b.data_ptr() == pointer, "the output buffer of a known shape is reused"
    assert _relative_error(out_b, ref.denoise(b)) < PARITY
    c = example_inputs(1, 16, 24, seed=3)  # a new size: a new buffer, right answers
    assert _relative_error(ort.denoise(c), ref.denoise(c)) < PARITY
    noncontiguous = {n: v.transpose(-1, -2).contiguous().transpose(-1, -2) if v.dim() == 4 else v for n, v in a.items()}
    assert _relative_error(ort.denoise(noncontiguous), ref.denoise(a)) < PARITY


def test_torch_backend_is_the_module_itself(tmp_path):
    model = tiny_model()
    backend = load_backend("torch", "cpu", save_tiny_weights(tmp_path / "w"))
    inputs = example_inputs(1, 16, 16)
    with torch.no_grad():
        assert torch.equal(backend.denoise(inputs), model(*(inputs[n] for n in INPUTS)))


def test_bad_inputs_and_options_get_clear_errors(tmp_path):
    weights = save_tiny_weights(tmp_path / "w")
    backend = load_backend("torch", "cpu", weights)
    inputs = example_inputs(1, 16, 16)
    with pytest.raises(ValueError, match="missing: prompt"):
        backend.denoise({n: v for n, v in inputs.items() if n != "prompt"})
    with pytest.raises(ValueError, match="mask must be"):
        backend.denoise({**inputs, "mask": inputs["mask"][:, :, :8]})
    with pytest.raises(BackendError, match="backend must be one of"):
        load_backend("tflite", "cpu", weights)
    with pytest.raises(BackendError, match="device must be one of"):
        load_backend("torch", "tpu", weights)
    with pytest.raises(BackendError, match="holds no weights"):
        load_backend("onnxruntime", "cpu", tmp_path)
    with pytest.raises(BackendError, match="cuda only"):
        load_backend("tensorrt", "cpu", weights)
    with pytest.raises(BackendError, match="runs f32 only"):
        load_backend("onnxruntime", "cpu", weights, precision="bf16")
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match="no CUDA GPU"):
            load_backend("torch", "cuda", weights)


def test_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("REVERIE_CACHE", str(tmp_path / "a"))
    assert cache_dir() == tmp_path / "a" and (tmp_path / "a").is_dir()
    monkeypatch.delenv("REVERIE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "reverie"
    assert cache_dir(tmp_path / "explicit") == tmp_path / "explicit"


def test_tensorrt_profile_parsing():
    one = ShapeProfile.parse("448x256", 16)
    assert one.min == one.opt == one.max == (256, 448)
    three = ShapeProfile.parse("128x128:256x256:592x256", 16)
    assert (three.min, three.opt, three.max) == ((128, 128), (256, 256), (256, 592))
    assert three.shapes("x") == ((1, 3, 128, 128), (1, 3, 256, 256), (1, 3, 256, 592))
    assert three.shapes("prompt")[2] == (1, 384) and three.shapes("sigma")[0] == (1,)
    assert three.admits(256, 448) and not three.admits(512, 448)
    assert three.describe() == "128x128:256x256:592x256"
    for bad in ("256", "250x256", "256x256:128x128", "512x512:256x256:1024x1024"):
        with pytest.raises(ValueError):
            ShapeProfile.parse(bad, 16)


def test_tensorrt_engine_key_changes_with_everything_that_invalidates_an_engine():
    profile = ShapeProfile.parse("256x256", 16)
    base = dict(
        onnx_sha256="a" * 64,
        profile=profile,
        precision="fp16",
        gpu_name="NVIDIA H100",
        capability=(9, 0),
        cuda_version="12.8",
        trt_version="10.9.0",
    )
    key = engine_key(**base)
    assert key == engine_key(**base)
    changes = dict(
        onnx_sha256="b" * 64,
        profile=ShapeProfile.parse("448x256", 16),
        precision="fp32",
        gpu_name="NVIDIA A100",
        capability=(8, 0),
        cuda_version="13.0",
        trt_version="10.10.0",
    )
    for field, value in changes.items():
        assert engine_key(**{**base, field: value}) != key, field


@pytest.mark.gpu
def test_tensorrt_engine_matches_torch_and_is_built_once(tmp_path):
    pytest.importorskip("tensorrt")
    if not torch.cuda.is_available():
        pytest.skip("TensorRT needs a CUDA GPU")
    weights = save_tiny_weights(tmp_path / "w")
    first = load_backend("tensorrt", "cuda", weights, cache=tmp_path / "cache", trt_profile="16x16:32x32:64x64")
    assert first.built
    again = load_backend("tensorrt", "cuda", weights, cache=tmp_path / "cache", trt_profile="16x16:32x32:64x64")
    assert not again.built and again.engine_path == first.engine_path
    ref = load_backend("torch", "cpu", weights)
    for size in ((32, 32), (16, 48)):
        inputs = example_inputs(1, *size)
        tolerance = 2e-2 if first.precision == "fp16" else PARITY
        assert _relative_error(first.denoise(inputs), ref.denoise(inputs)) < tolerance
        on_gpu = {n: v.cuda() for n, v in inputs.items()}  # read in place from device memory
        assert _relative_error(first.denoise(on_gpu).cpu(), ref.denoise(inputs)) < tolerance
    with pytest.raises(BackendError, match="outside the TensorRT profile"):
        first.denoise(example_inputs(1, 128, 128))


@pytest.mark.gpu
def test_torch_cuda_graphs_match_eager(tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    weights = save_tiny_weights(tmp_path / "w")
    graphs = load_backend("torch", "cuda", weights)
    ref = load_backend("torch", "cpu", weights)
    for seed in range(3):  # replays of one captured graph with new inputs
        inputs = example_inputs(1, 32, 48, seed=seed)
        assert _relative_error(graphs.denoise(inputs), ref.denoise(inputs)) < 1e-3
    assert len(graphs._graphs) == 1


def test_onnxruntime_uses_the_cores_it_may_run_on(tmp_path):
    backend = load_backend("onnxruntime", "cpu", save_tiny_weights(tmp_path / "w"), cache=tmp_path / "cache")
    assert backend.threads == len(os.sched_getaffinity(0))


def test_the_command_line_names_every_backend_and_device():
    """common/cli_args.py spells the names out (parsing must not import the model): they must
    stay the model's own."""
    from reverie.common import cli_args as cli
    from reverie.model import backends
    from reverie.model.backends import ov_backend

    assert cli.BACKENDS == backends.BACKENDS and cli.DEVICES == backends.DEVICES
    assert set(ov_backend.PRECISIONS) | {"fp16", "fp32"} == set(cli.PRECISIONS)
