"""The OpenVINO backend with real OpenVINO: bf16 and f32 against torch on the shipped
weights, the precision the CPU decides, compiled models cached on disk and in memory,
non-finite output refused (in the backend, and as a failed frame from a real daemon that
keeps serving), a 100-frame stream against ONNX Runtime, and the Intel GPU device (on a
machine that has one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

openvino = pytest.importorskip("openvino")

from model_fixtures import SHIPPED, save_tiny_weights, world_frames  # noqa: E402

from reverie.model.backends import (  # noqa: E402
    BackendError,
    NonFiniteOutput,
    check_device,
    default_backend,
    load_backend,
)
from reverie.model.backends import ov_backend as OV  # noqa: E402
from reverie.model.backends.cache import cached_onnx  # noqa: E402
from reverie.model.cpu_features import linux_cpu_flags  # noqa: E402
from reverie.model.export import example_inputs  # noqa: E402
from reverie.model.weights import load_model, weights_stride  # noqa: E402

CORE = openvino.Core()
HAS_BF16 = OV.cpu_bf16(CORE)
HAS_INTEL_GPU = "GPU" in CORE.available_devices
needs_bf16 = pytest.mark.skipif(not HAS_BF16, reason="this CPU reports no bf16 arithmetic (AMX / AVX-512 BF16)")

# bf16 keeps float32's exponent but only an 8-bit significand (7 bits stored): each rounding
# is off by up to 2^-8 = 0.4% relative, and a step of the network rounds at every layer
# (activations and weights). Measured on the shipped weights (widths 32, 64, 96) on this
# file's inputs and others from 32x32 to 256x256: 0.010-0.025 max abs on outputs up to
# ~1.8 (the [-1, 1] picture plus what the preconditioning adds at high noise). The bound leaves 2x margin for wider
# networks and other CPUs' kernels; a broken graph (a wrong input, a dropped layer) is off by ~1.
BF16_MAX_ABS = 0.05
F32_RELATIVE = 1e-3  # as ONNX Runtime against torch (test_model_backends.py)
STREAM_PSNR_DB = 35.0  # measured minimum over the 100 frames: 56 dB (bf16 against f32, both through the whole stylizer)


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-12))


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def reference():
    return load_backend("torch", "cpu", SHIPPED)


@pytest.fixture(scope="module")
def ov_auto(cache):
    return load_backend("openvino", "cpu", SHIPPED, cache=cache)


def test_precision_follows_the_cpu(ov_auto):
    """bf16 exactly when OpenVINO and (on Linux) the kernel's flags both say the CPU has it."""
    flags = linux_cpu_flags()
    capabilities = CORE.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    expected = "BF16" in capabilities and (flags is None or bool({"amx_bf16", "avx512_bf16"} & flags))
    assert HAS_BF16 == expected
    assert ov_auto.precision == ("bf16" if expected else "f32")
    assert OV.cpu_bf16(CORE, flags={"avx2", "fma"}) is False, "the kernel's flags veto bf16"
    assert default_backend("cpu") == ("openvino" if expected else "onnxruntime")
    assert default_backend("intel-gpu") == "openvino" and default_backend("cuda") == "onnxruntime"
    with pytest.raises(BackendError, match="precision must be one of"):
        OV.choose_precision("int8", "cpu", CORE)
    with pytest.raises(BackendError, match="precision f16 is for --device intel-gpu"):
        OV.choose_precision("f16", "cpu", CORE)
    if not expected:
        with pytest.raises(BackendError, match="does not compute in bf16 natively"):
            OV.choose_precision("bf16", "cpu", CORE)


@needs_bf16
def test_bf16_matches_torch_f32_on_the_shipped_weights(ov_auto, reference):
    stride = weights_stride(SHIPPED)
    assert ov_auto.precision == "bf16"
    for i, (height, width) in enumerate([(4 * stride, 6 * stride), (2 * stride, 2 * stride)]):
        inputs = example_inputs(1, height, width, seed=i)
        got, expected = ov_auto.denoise(inputs).clone(), reference.denoise(inputs)
        assert got.shape == (1, 3, height, width)
        error = float((got - expected).abs().max())
        assert error < BF16_MAX_ABS, f"bf16 max abs error {error:.4f}"
        assert error > 0, "bf16 arithmetic rounds: an exact match would mean f32 ran"


def test_f32_matches_torch_within_1e_3(cache, reference):
    backend = load_backend("openvino", "cpu", SHIPPED, cache=cache, precision="f32")
    assert backend.precision == "f32"
    stride = weights_stride(SHIPPED)
    inputs = example_inputs(1, 4 * stride, 6 * stride, seed=3)
    assert _relative_error(backend.denoise(inputs), reference.denoise(inputs)) < F32_RELATIVE


def test_compiled_models_are_cached_on_disk_and_in_memory_within_bounds(tmp_path, monkeypatch):
    """A second backend on the same cache loads the compiled model instead of compiling;
    buffers of a known size are reused; a game that keeps resizing keeps MAX_SHAPES
    compiled sizes in memory and MAX_BLOBS on disk."""
    monkeypatch.setattr(OV, "MAX_SHAPES", 2)
    monkeypatch.setattr(OV, "MAX_BLOBS", 2)
    weights, cache = save_tiny_weights(tmp_path / "w"), tmp_path / "cache"
    reference = load_backend("torch", "cpu", weights)
    first = load_backend("openvino", "cpu", weights, cache=cache, precision="f32")
    a, b = example_inputs(1, 32, 48, seed=1), example_inputs(1, 32, 48, seed=2)
    out_a = first.denoise(a)
    assert _relative_error(out_a, reference.denoise(a)) < F32_RELATIVE
    pointer = out_a.data_ptr()
    assert first.denoise(b).data_ptr() == pointer, "the output buffer of a known size is reused"
    assert _relative_error(first.denoise(b), reference.denoise(b)) < F32_RELATIVE
    noncontiguous = {n: v.transpose(-1, -2).contiguous().transpose(-1, -2) if v.dim() == 4 else v for n, v in a.items()}
    assert _relative_error(first.denoise(noncontiguous), reference.denoise(a)) < F32_RELATIVE
    assert first.counters == {"compiled": 1, "loaded_from_cache": 0}
    assert first.cache_folder.parent == cache / "openvino" and len(list(first.cache_folder.glob("*.blob"))) == 1

    second = load_backend("openvino", "cpu", weights, cache=cache, precision="f32")
    assert second.cache_folder == first.cache_folder, "same ONNX, precision, device, OpenVINO and CPU: same key"
    assert _relative_error(second.denoise(a), reference.denoise(a)) < F32_RELATIVE
    assert second.counters == {"compiled": 0, "loaded_from_cache": 1}, "the second load hits the disk cache"

    for size in ((16, 16), (16, 24)):  # two new sizes: the first one leaves memory and (oldest blob) the disk
        c = example_inputs(1, *size, seed=4)
        assert _relative_error(second.denoise(c), reference.denoise(c)) < F32_RELATIVE
    assert len(second._compiled) == 2 and len(list(second.cache_folder.glob("*.blob"))) == 2
    assert second.counters == {"compiled": 2, "loaded_from_cache": 1}
    second.denoise(example_inputs(1, 16, 16, seed=5))  # still in memory: neither compiled nor loaded
    assert second.counters == {"compiled": 2, "loaded_from_cache": 1}


def test_the_cache_key_changes_with_every_field():
    base = ("0" * 64, "bf16", "cpu", "2026.4", "Intel(R) Xeon(R) Processor", ["BF16", "FP32"])
    keys = {OV.compile_key(*base)}
    for i, value in enumerate(("1" * 64, "f32", "intel-gpu", "2026.5", "AMD Ryzen 9 7950X", ["FP32"])):
        changed = list(base)
        changed[i] = value
        keys.add(OV.compile_key(*changed))
    assert len(keys) == 7
    assert OV.compile_key(*base[:5], ["FP32", "BF16"]) == OV.compile_key(*base), "capabilities in any order"


def test_overflowing_input_raises_non_finite_output(ov_auto):
    inputs = example_inputs(1, 32, 32)
    inputs["x"] = torch.full_like(inputs["x"], 3e38)  # finite, near float32's largest: the network overflows
    with pytest.raises(
        NonFiniteOutput, match=rf"backend openvino \(cpu, {ov_auto.precision}\) gave \d+ non-finite values"
    ):
        ov_auto.denoise(inputs)
    assert isinstance(NonFiniteOutput("x"), BackendError)
    good = example_inputs(1, 32, 32)
    assert torch.isfinite(ov_auto.denoise(good)).all(), "the backend recovers on the next, finite call"


def poison(onnx_path: Path) -> None:
    """Set one value of the ONNX graph's largest weight to NaN, in place (the network's
    widths do not matter: any weight reaches the output)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    weight = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    values = numpy_helper.to_array(weight).copy()
    values.flat[0] = np.nan
    weight.CopyFrom(numpy_helper.from_array(values, weight.name))
    onnx.save(model, str(onnx_path))


def test_a_nan_weight_raises_non_finite_output_naming_backend_and_precision(tmp_path):
    weights = save_tiny_weights(tmp_path / "w")
    onnx_path = cached_onnx(load_model(weights), weights, tmp_path / "cache")
    poison(onnx_path)
    for precision in ("auto", "f32"):
        backend = OV.OpenVINOBackend(onnx_path, "cpu", precision=precision, cache=tmp_path / "cache")
        with pytest.raises(NonFiniteOutput, match=rf"openvino \(cpu, {backend.precision}\).*non-finite.*not shown"):
            backend.denoise(example_inputs(1, 16, 16))


def test_daemon_fails_a_non_finite_frame_and_keeps_serving(tmp_path, monkeypatch):
    """A real daemon whose network gives NaN: the game gets an error for the frame (naming
    the backend and precision) and no output; the daemon keeps answering, and serves real
    frames once a style pack switches it to weights that work."""
    from reverie.bridge import Client, FrameRejected
    from reverie.bridge.local_daemon import LocalDaemon

    own, cache, packs = save_tiny_weights(tmp_path / "own"), tmp_path / "cache", tmp_path / "packs"
    poison(cached_onnx(load_model(own), own, cache))  # the daemon finds this file under its cache key
    (packs / "good").mkdir(parents=True)
    (packs / "good" / "style.toml").write_text('name = "good"\nprompt = "oil painting"\nweights = "weights"\n')
    save_tiny_weights(packs / "good" / "weights", seed=1)
    monkeypatch.setenv("REVERIE_CACHE", str(cache))
    frames = world_frames("walk", 3, 32, 32)
    extra = ["--weights", str(own), "--backend", "openvino", "--styles", str(packs)]
    with LocalDaemon(stylizer="model", extra=extra, ready_timeout_s=120.0) as daemon:
        with Client(daemon.endpoints.control, name="test-nan", timeout_s=30.0) as game:
            status = game.status()
            precision = status["stylizer"].rsplit("/", 1)[1]
            assert (
                status["stylizer"] == f"model/openvino/cpu/{precision}"
                and status["stylizer_identity"]["precision"] == precision
            )
            for f in frames[:2]:
                with pytest.raises(FrameRejected, match=rf"NonFiniteOutput: backend openvino \(cpu, {precision}\)"):
                    game.wait_output(game.submit(f.color, f.depth, f.motion), timeout_s=30.0)
            assert game.latest_output() is None, "no output was written for a failed frame"
            assert game.status()["stats"]["failed"] == 2 and daemon.proc.poll() is None
            game.load_preset("good")
            out = game.wait_output(
                game.submit(frames[2].color, frames[2].depth, frames[2].motion, reset=True), timeout_s=60.0
            )
            assert out.image.shape == (32, 32, 4) and (out.image[..., 3] == 255).all()
            assert game.status()["stats"]["failed"] == 2


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a[..., :3].astype(np.float64) - b[..., :3]) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_a_100_frame_stream_agrees_with_onnxruntime(cache):
    """The whole stylizer (history, warping, trust) on openvino and onnxruntime over the same
    100 world frames: bf16 rounding must not build up through the history."""
    from reverie.model.stylize import ModelStylizer

    frames = world_frames("walk", 100, 128, 128)
    ov = ModelStylizer(backend="openvino", weights=SHIPPED, work_height=128, cache=cache)
    ort = ModelStylizer(backend="onnxruntime", weights=SHIPPED, work_height=128, cache=cache)
    assert ov.name == f"model/openvino/cpu/{'bf16' if HAS_BF16 else 'f32'}" and ort.name == "model/onnxruntime/cpu/f32"
    assert ov.identity["precision"] == ov.backend.precision and ort.identity["precision"] == "f32"
    worst = float("inf")
    for frame in frames:
        a, b = np.zeros(frame.color.shape, np.uint8), np.zeros(frame.color.shape, np.uint8)
        ov.stylize(frame, a)
        ort.stylize(frame, b)
        worst = min(worst, _psnr(a, b))
    assert ov.counters["model_calls"] == ort.counters["model_calls"] == 100
    assert worst >= STREAM_PSNR_DB, f"minimum PSNR over the stream {worst:.1f} dB"
    print(f"minimum PSNR openvino ({ov.backend.precision}) against onnxruntime over 100 frames: {worst:.2f} dB")


def test_intel_gpu_is_refused_clearly_where_absent(tmp_path):
    weights = save_tiny_weights(tmp_path / "w")
    with pytest.raises(BackendError, match="intel-gpu is OpenVINO's: use --backend openvino"):
        load_backend("onnxruntime", "intel-gpu", weights)
    with pytest.raises(BackendError, match="openvino runs on --device cpu or intel-gpu, not cuda"):
        load_backend("openvino", "cuda", weights)
    if not HAS_INTEL_GPU:
        with pytest.raises(BackendError, match="OpenVINO sees no Intel GPU here"):
            check_device("intel-gpu")
        with pytest.raises(BackendError, match="no Intel GPU"):
            load_backend("openvino", "intel-gpu", weights, cache=tmp_path / "cache")


@pytest.mark.skipif(not HAS_INTEL_GPU, reason='OpenVINO sees no Intel GPU ("GPU" not in available_devices)')
def test_intel_gpu_matches_torch(tmp_path, reference):
    backend = load_backend("openvino", "intel-gpu", SHIPPED, cache=tmp_path)
    assert backend.device == "intel-gpu" and backend.precision in ("f16", "f32")
    stride = weights_stride(SHIPPED)
    inputs = example_inputs(1, 4 * stride, 6 * stride)
    got, expected = backend.denoise(inputs), reference.denoise(inputs)
    if backend.precision == "f16":  # an 11-bit significand: finer than bf16's, so bf16's bound holds
        assert float((got - expected).abs().max()) < BF16_MAX_ABS
    else:
        assert _relative_error(got, expected) < F32_RELATIVE
