"""Build libreverie (bridge/native) and its test programs once per test session.

CMake configures and builds into build/native under the repository (ignored by git), so
later sessions only rebuild what changed. Other tests (the Unity helper's mono test)
import `build_libreverie` to get the library: keep the name.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "bridge" / "native"
BUILD = REPO / "build" / "native"
CUDA_BUILD = REPO / "build" / "native-cuda"  # GPU mode: -DREVERIE_CUDA=ON
# Where CMake's FindCUDAToolkit looks when nvcc is not on PATH (and CUDA_PATH is unset).
DEFAULT_CUDA_ROOT = Path("/usr/local/cuda")

_built: Path | None = None
_cuda_built: Path | None = None


class NativeBuildError(RuntimeError):
    """CMake or the compiler failed; the message carries their output."""


def build_libreverie() -> Path:
    """Configure (first time) and build; return the build dir. There: libreverie.so,
    libreverie.a and tests/<program> (c_client, cpp_client, console_exec, bad_input,
    burst, protocol_constants, transport_check, segment_check)."""
    global _built
    if _built is not None:
        return _built
    if shutil.which("cmake") is None:
        raise NativeBuildError(
            "cmake is not installed: run .ci/system-deps (it installs the native build dependencies)"
        )
    _configure_and_build(BUILD, "native.lock", [])
    _built = BUILD
    return BUILD


def _configure_and_build(build: Path, lock_name: str, options: list[str], targets: list[str] | None = None) -> None:
    """CMake configure (once per build folder, from scratch if it was configured elsewhere)
    and build, one at a time also across pytest processes (xdist workers, parallel runs)."""
    build.mkdir(parents=True, exist_ok=True)
    with open(build.parent / lock_name, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _configured_here(build):
            shutil.rmtree(build, ignore_errors=True)
            build.mkdir(parents=True)
            _run(
                [
                    "cmake",
                    "-S",
                    str(SOURCE),
                    "-B",
                    str(build),
                    "-DREVERIE_BUILD_TESTS=ON",
                    *options,
                    "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                ]
            )
        _run(
            [
                "cmake",
                "--build",
                str(build),
                "--parallel",
                str(min(os.cpu_count() or 1, 4)),
                *(["--target", *targets] if targets else []),
            ]
        )


def cuda_toolkit() -> Path | None:
    """The CUDA toolkit's nvcc as CMake's FindCUDAToolkit would find it, or None."""
    for candidate in (
        shutil.which("nvcc"),
        os.environ.get("CUDA_PATH") and Path(os.environ["CUDA_PATH"]) / "bin" / "nvcc",
        DEFAULT_CUDA_ROOT / "bin" / "nvcc",
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def build_libreverie_cuda() -> Path:
    """The GPU-mode build (REVERIE_CUDA=ON) into build/native-cuda: only libreverie.so and
    the two programs the CUDA tests run (transport_check, cuda_client), to stay cheap."""
    global _cuda_built
    if _cuda_built is not None:
        return _cuda_built
    nvcc = cuda_toolkit()
    if nvcc is None:
        raise NativeBuildError("no CUDA toolkit (nvcc) found")
    _configure_and_build(
        CUDA_BUILD,
        "native-cuda.lock",
        ["-DREVERIE_CUDA=ON", f"-DCUDAToolkit_ROOT={nvcc.parent.parent}"],
        ["reverie", "transport_check", "cuda_client"],
    )
    _cuda_built = CUDA_BUILD
    return CUDA_BUILD


def program(name: str) -> Path:
    """A test program of the native build."""
    return build_libreverie() / "tests" / name


def _configured_here(build: Path) -> bool:
    """A cache made for this checkout (a copied or moved tree has another source dir)."""
    cache = build / "CMakeCache.txt"
    if not cache.is_file():
        return False
    for line in cache.read_text(errors="replace").splitlines():
        if line.startswith("CMAKE_HOME_DIRECTORY:INTERNAL="):
            return Path(line.split("=", 1)[1]).resolve() == SOURCE.resolve()
    return False


def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise NativeBuildError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
