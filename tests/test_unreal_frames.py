"""The Unreal plugin's CPU path through the real library and a real daemon: a captured
frame (padded readback rows, device depth, decoded velocity) is converted by the plugin's
ReverieMath::WriteFrameRows straight into a libreverie slot, submitted with the camera
fields the view extension sends, and stylized by the Camera test stylizer, which echoes
every plane and the header back. The expected planes are derived here with numpy from the
scene in unreal_plugin/Tests/frame_test.cpp, not from the plugin's code."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import stylizer_spec
from native_build import build_libreverie
from stylizers import expected_mix

ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = ROOT / "unreal_plugin" / "Tests"
MATH_DIR = ROOT / "unreal_plugin" / "Reverie" / "Source" / "Reverie" / "Private"
INCLUDE_DIR = ROOT / "bridge" / "native" / "include"

pytestmark = pytest.mark.skipif(
    shutil.which("g++") is None or shutil.which("cmake") is None, reason="needs g++ and cmake"
)

W, H = 64, 40
STEP_CM = 20.0  # the camera's step to its right between the two frames
TAN_HALF_FOV_X = math.tan(math.radians(45))


@pytest.fixture(scope="module")
def frame_test(tmp_path_factory) -> Path:
    lib_dir = build_libreverie()
    exe = tmp_path_factory.mktemp("unreal-frames") / "frame_test"
    subprocess.run(
        [
            "nice",
            "-n",
            "10",
            "g++",
            "-std=c++17",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-I",
            str(MATH_DIR),
            "-I",
            str(TESTS_DIR),
            "-I",
            str(INCLUDE_DIR),
            str(TESTS_DIR / "frame_test.cpp"),
            "-o",
            str(exe),
            "-L",
            str(lib_dir),
            "-lreverie",
            f"-Wl,-rpath,{lib_dir}",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return exe


def expected_planes():
    """The scene of frame_test.cpp, worked out by hand."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    z_cm = 300.0 + 7 * x + 11 * y
    sky = (x < 8) & (y < 3)
    moving = (x >= 40) & (x < 50) & (y >= 10) & (y < 20)
    depth = np.where(sky, 1000.0, z_cm / 100.0)
    # A sideways step of d: a static point's view x was larger by d in the previous frame,
    # so its pixel was W/2 * d / (z tan) further right; rows do not change. The sky does not
    # move under translation. The moving object's velocity (0.05, -0.03) is current minus
    # previous screen position, y up: -0.05 * W/2 pixels in x, -0.03 * H/2 in y (y down).
    dx = np.where(sky, 0.0, W / 2 * STEP_CM / (z_cm * TAN_HALF_FOV_X))
    dy = np.zeros_like(dx)
    dx = np.where(moving, -0.05 * W / 2, dx)
    dy = np.where(moving, -0.03 * H / 2, dy)
    c = np.arange(4)
    color = ((3 * x[..., None] + 5 * y[..., None] + 7 * c) % 256).astype(np.uint8)
    return color, depth, np.stack([dx, dy], axis=-1)


def test_captured_frame_reaches_the_daemon_as_the_protocol_says(frame_test, start_daemon, endpoints, tmp_path):
    start_daemon(stylizer_spec("Camera"))
    run = subprocess.run(
        [str(frame_test), endpoints.control, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout + run.stderr
    frame_id = int(run.stdout.split("id=")[1].split()[0])

    color = np.fromfile(tmp_path / "color.bin", np.uint8).reshape(H, W, 4)
    depth = np.fromfile(tmp_path / "depth.bin", np.float32).reshape(H, W)
    motion = np.fromfile(tmp_path / "motion.bin", np.float32).reshape(H, W, 2)
    output = np.fromfile(tmp_path / "output.bin", np.uint8).reshape(H, W, 4)

    want_color, want_depth, want_motion = expected_planes()
    np.testing.assert_array_equal(color, want_color)
    np.testing.assert_allclose(depth, want_depth, rtol=1e-5)
    np.testing.assert_allclose(motion, want_motion, atol=1e-3)
    assert np.isfinite(depth).all() and np.isfinite(motion).all()

    # What the daemon received is exactly what the plugin wrote, with the reset flag.
    mixed = expected_mix(frame_id, color, depth, motion, reset=True)
    mixed[1, :5] = output[1, :5]  # the Camera stylizer's header echo, checked next
    np.testing.assert_array_equal(output, mixed)
    jitter_x, jitter_y, near, far, fov_y = output[1, :5].reshape(-1).view(np.float32)
    assert (jitter_x, jitter_y) == (0.25, -0.375)
    assert near == pytest.approx(0.10, rel=1e-6)  # 10 cm near plane
    assert far == 0.0  # infinite far plane: "unknown"
    assert fov_y == pytest.approx(2 * math.atan(TAN_HALF_FOV_X * H / W), rel=1e-6)
