"""libreverie's GPU mode (docs/native.md "GPU mode", protocol 1.2 CUDA IPC transport).

- The CUDA build (-DREVERIE_CUDA=ON) configures, compiles and links wherever a CUDA toolkit
  is installed, GPU or not: the library and its two CUDA test programs. Without a GPU it
  must refuse the CUDA transport in words; with one it must accept it. CI installs no
  toolkit (multi-GB), so there this test is skipped, saying why.
- The CPU build refuses the CUDA transport with REVERIE_UNSUPPORTED and links no CUDA.
- On a GPU (pytest -m gpu on a lent machine): 300 frames of 1920x1080 through a CUDA ring
  against a real daemon, byte-exact, and the daemon survives the game being killed.
"""

from __future__ import annotations

import subprocess
import threading
import time

import pytest
import stylizers
from conftest import stylizer_spec
from native_build import NativeBuildError, build_libreverie, build_libreverie_cuda, cuda_toolkit, program

from reverie.bridge.local_daemon import LocalDaemon


def gpu_present() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.fixture(scope="module")
def cuda_build():
    if cuda_toolkit() is None:
        pytest.skip("no CUDA toolkit (nvcc) on this machine: the CUDA build is checked where one is installed")
    try:
        return build_libreverie_cuda()
    except NativeBuildError as exc:  # a toolkit is there: a broken build is a failure, never a skip
        pytest.fail(str(exc))


def values(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line and not line.startswith("FAIL"))


def needed_libraries(library) -> str:
    return subprocess.run(["readelf", "-d", str(library)], capture_output=True, text=True, check=True).stdout


def test_cuda_build_links_cudart_and_answers_the_cuda_transport(cuda_build):
    assert "libcudart" in needed_libraries(cuda_build / "libreverie.so")
    assert (cuda_build / "tests" / "cuda_client").is_file()  # the GPU test's game compiled against it
    result = subprocess.run([cuda_build / "tests" / "transport_check"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    got = values(result.stdout)
    if gpu_present():
        assert got["CUDA_RESULT"] == "REVERIE_OK", result.stdout
        assert (
            got["CUDA_BAD_DEVICE"] == "REVERIE_INVALID_ARGUMENT" and "does not exist" in got["CUDA_BAD_DEVICE_MESSAGE"]
        ), result.stdout
    else:  # this machine: a toolkit, no GPU (or no driver)
        assert got["CUDA_RESULT"] == "REVERIE_UNSUPPORTED", result.stdout
        assert got["CUDA_MESSAGE"].startswith("reverie_set_transport: no usable CUDA device: cudaGetDeviceCount: "), (
            result.stdout
        )


def test_cpu_build_refuses_the_cuda_transport():
    build = build_libreverie()
    assert "libcudart" not in needed_libraries(build / "libreverie.so")
    result = subprocess.run([program("transport_check")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    got = values(result.stdout)
    assert got["CUDA_RESULT"] == got["CUDA_BAD_DEVICE"] == "REVERIE_UNSUPPORTED", result.stdout
    assert got["CUDA_MESSAGE"] == (
        "reverie_set_transport: this libreverie was built without CUDA "
        "(configure it with -DREVERIE_CUDA=ON and the CUDA toolkit)"
    ), result.stdout


# ------------------------------------------------------------------ GPU only


def device_stylizer() -> tuple[str, list[str]]:
    """The daemon's stylizer for a CUDA ring and the game's matching flag: Mix when the test
    stylizers take device frames (every plane then shapes the output), else the built-in
    identity stylizer (the output is the color plane)."""
    if getattr(stylizers.Mix, "device", "cpu") == "cuda":
        return stylizer_spec("Mix"), []
    return "identity", ["--identity"]


def summary(stdout: str) -> dict[str, str]:
    line = next(line for line in stdout.splitlines() if line.startswith("SUMMARY "))
    return dict(item.split("=", 1) for item in line.split()[1:])


@pytest.mark.gpu
def test_cuda_ring_round_trips_and_the_daemon_survives_a_killed_game(cuda_build, endpoints):
    if not gpu_present():
        pytest.skip("needs a CUDA GPU")
    spec, flags = device_stylizer()
    game = [str(cuda_build / "tests" / "cuda_client"), endpoints.control, *flags]
    with LocalDaemon(endpoints, spec) as daemon:
        full = subprocess.run(game, capture_output=True, text=True, timeout=300)
        assert full.returncode == 0, full.stdout + full.stderr + "".join(daemon.output)
        result = summary(full.stdout)
        assert (result["exact"], result["exact_f16"], result["failures"]) == ("300", "20", "0"), full.stdout

        # A game killed mid-stream: the daemon drops its CUDA ring and keeps serving.
        doomed = subprocess.Popen(
            [*game, "--frames", "30", "--linger"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        watchdog = threading.Timer(120, doomed.kill)
        watchdog.start()
        try:
            lines = []
            for line in doomed.stdout:
                lines.append(line)
                if line.startswith("PHASE streaming"):
                    time.sleep(0.5)  # frames in flight on the GPU when it dies
                    break
            assert any(line.startswith("PHASE streaming") for line in lines), "".join(lines)
            doomed.kill()
            doomed.wait(10)
        finally:
            watchdog.cancel()
            doomed.kill()
        time.sleep(1.5)  # the daemon notices the dead pid and closes the ring
        assert daemon.proc.poll() is None, "".join(daemon.output)
        again = subprocess.run([*game, "--frames", "30"], capture_output=True, text=True, timeout=120)
        assert again.returncode == 0 and summary(again.stdout)["exact"] == "30", again.stdout + again.stderr
        with daemon.client() as ctl:
            assert ctl.request("ping")["pong"]
