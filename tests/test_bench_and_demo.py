"""The benchmark and the demo run end to end (speed itself is measured, not asserted:
figures live in docs/benchmarks.md)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import pytest
from model_fixtures import SHIPPED, save_tiny_weights


def test_bench_bridge_prints_json_summary_last():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "reverie",
            "bench",
            "bridge",
            "--json",
            "--size",
            "320x180",
            "--frames",
            "40",
            "--warmup",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("size", "frames", "p50_ms", "p95_ms", "p99_ms", "memcpy_floor_ms", "overhead_ratio", "dropped"):
        assert key in result
    assert result["size"] == "320x180" and result["frames"] == 40
    assert result["mismatched_frames"] == 0 and result["failed"] == 0 and result["dropped"] == 0
    assert 0 < result["memcpy_floor_ms"] and 0 < result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]
    assert (
        abs(result["overhead_ratio"] / (result["p50_ms"] / result["memcpy_floor_ms"]) - 1) < 0.01
    )  # figures are rounded


def test_bench_model_measures_backends_and_steps_interleaved(tmp_path):
    weights = save_tiny_weights(tmp_path / "w")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "reverie",
            "bench",
            "model",
            "--json",
            "--size",
            "64x48",
            "--frames",
            "6",
            "--warmup",
            "2",
            "--steps",
            "1,2",
            "--backend",
            "onnxruntime,torch,openvino",
            "--weights",
            str(weights),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("size", "steps", "backend", "device", "frames", "p50_ms", "p95_ms", "fps"):
        assert key in result
    assert (result["size"], result["steps"], result["backend"], result["device"], result["frames"]) == (
        "64x48",
        1,
        "onnxruntime",
        "cpu",
        6,
    )
    assert [(r["backend"], r["steps"]) for r in result["runs"]] == [
        (b, k) for k in (1, 2) for b in ("onnxruntime", "torch", "openvino")
    ]
    assert 0 < result["p50_ms"] <= result["p95_ms"] and result["fps"] > 0
    assert result["failed"] == 0 and result["skipped"] == 0, "a moving camera is always stylized"
    assert result["host_copies_per_frame"] == 4, "the host transport: three planes into shared memory, the output out"
    split = result["split_ms"]  # the first configuration's stages, timed in process, and the bridge's round trip
    assert split["frames"] > 0 and all(split[k] >= 0 for k in ("network", "resize_in", "resize_out", "other", "bridge"))
    assert 0 < split["network"] <= split["stylize"]
    runs = {(r["backend"], r["steps"]): r["p50_ms"] for r in result["runs"]}
    for other in ("torch", "openvino"):
        ratio = result[f"{other}_over_onnxruntime_p50"]["2"]
        assert abs(ratio - runs[(other, 2)] / runs[("onnxruntime", 2)]) < 0.01


def test_bench_model_compares_two_networks_in_one_run(tmp_path):
    """`--backend openvino,onnxruntime@DIR`: the shipped (here: given) weights on openvino
    against other weights on onnxruntime, interleaved in one run, as the network's speed
    bar is measured (docs/benchmarks.md)."""
    weights, other = save_tiny_weights(tmp_path / "w"), save_tiny_weights(tmp_path / "other", seed=1)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "reverie",
            "bench",
            "model",
            "--json",
            "--size",
            "64x48",
            "--frames",
            "4",
            "--warmup",
            "1",
            "--backend",
            f"openvino,onnxruntime@{other}",
            "--weights",
            str(weights),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    runs = {r["backend"]: r["p50_ms"] for r in result["runs"]}
    assert set(runs) == {"openvino", f"onnxruntime@{other}"}
    ratio = result[f"openvino_over_onnxruntime@{other}_p50"]["1"]
    assert abs(ratio - runs["openvino"] / runs[f"onnxruntime@{other}"]) < 0.01
    bad = subprocess.run(
        [sys.executable, "-m", "reverie", "bench", "model", "--backend", f"onnxruntime@{tmp_path / 'none'}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0 and "holds no weights" in bad.stderr


@pytest.mark.gpu
def test_bench_model_on_the_gpu_keeps_the_frames_there(tmp_path):
    """The CUDA transport end to end: frames go in and come out as CUDA tensors, and
    nothing crosses to the host but the prompt embedding, once per daemon."""
    from reverie.bridge.cuda_ipc import cuda_unavailable_reason

    if (reason := cuda_unavailable_reason()) is not None:
        pytest.skip(reason)
    weights = save_tiny_weights(tmp_path / "w")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "reverie",
            "bench",
            "model",
            "--json",
            "--device",
            "cuda",
            "--size",
            "160x96",
            "--frames",
            "20",
            "--warmup",
            "2",
            "--steps",
            "1,2",
            "--backend",
            "torch",
            "--weights",
            str(weights),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["device"] == "cuda" and result["stylizer"] == "model/torch/cuda/f32" and result["failed"] == 0
    assert result["host_copies_per_frame"] == round(1 / 44, 3)  # 2 configs x 22 frames, one prompt upload


def test_reverie_demo_writes_video_and_contact_sheet_with_the_shipped_model(tmp_path):
    import imageio_ffmpeg

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "reverie",
            "demo",
            "--frames",
            "30",
            "--size",
            "64x64",
            "--fps",
            "30",
            "--out",
            str(tmp_path),
            "--weights",
            str(SHIPPED),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "30 frames at 64x64" in proc.stdout and "latency" in proc.stdout and "dropped" in proc.stdout
    assert "oil painting -> winter night" in proc.stdout
    assert "30/30 frames" in proc.stderr, "a progress bar"
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "demo.mp4"))
    assert frames == 30
    data = (tmp_path / "demo.png").read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", data[16:24])
    # 5 prompts, 2 moments each, 2 per row: game | stylized pairs of 128x96 with 4-pixel gaps
    assert (width, height) == (2 * 128 + 4, 5 * 96 + 4 * 4)
