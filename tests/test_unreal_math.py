"""The Unreal plugin's engine-independent math (unreal_plugin/.../ReverieMath.h), compiled
with the system g++ and run: device depth to meters, camera motion from depth and
ClipToPrevClip, velocity-buffer values to protocol motion, readback row packing. The cases
and their analytic answers are in unreal_plugin/Tests/math_test.cpp."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "unreal_plugin"
HEADER_DIR = PLUGIN / "Reverie" / "Source" / "Reverie" / "Private"
TEST_SOURCE = PLUGIN / "Tests" / "math_test.cpp"

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")


def build(tmp_path: Path, *flags: str) -> Path:
    """Compile math_test.cpp with every warning an error; returns the executable."""
    exe = tmp_path / "math_test"
    cmd = [
        "nice",
        "-n",
        "10",
        "g++",
        "-std=c++17",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        *flags,
        "-I",
        str(HEADER_DIR),
        str(TEST_SOURCE),
        "-o",
        str(exe),
    ]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
    return exe


def test_math_cases_pass(tmp_path):
    exe = build(tmp_path, "-O2")
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    checks, failed = run.stdout.strip().splitlines()[-1].split(" checks, ")
    assert int(checks) >= 90 and failed == "0 failed", run.stdout


def test_header_stands_alone():
    """The header compiles on its own with no Unreal include and no other header first
    (the plugin includes it next to engine headers; the test next to the standard library)."""
    source = HEADER_DIR / "ReverieMath.h"
    assert '#include "' not in source.read_text(), "ReverieMath.h must not include project or engine headers"
    subprocess.run(
        [
            "g++",
            "-std=c++17",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-fsyntax-only",
            "-I",
            str(HEADER_DIR),
            "-x",
            "c++",
            "-",
        ],
        input='#include "ReverieMath.h"\n',
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
