"""Argument parsing shared by every package's subcommands."""

from __future__ import annotations

import sys


def parse_size(text: str) -> tuple[int, int]:
    """'1920x1080' -> (1920, 1080); a clear exit for anything else."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"--size must look like 1920x1080, got {text!r}") from None
    if width <= 0 or height <= 0:
        raise SystemExit(f"--size must be positive, got {text!r}")
    return width, height


def print_progress(done: int, total: int, unit: str = "frames") -> None:
    """A progress bar on stderr, redrawn about 50 times over the run."""
    if done == total or done % max(1, total // 50) == 0:
        bar = "#" * (30 * done // total)
        print(f"\r  [{bar:<30}] {done}/{total} {unit}", end="\n" if done == total else "", file=sys.stderr, flush=True)


# The model's backends, devices and precisions (reverie.model.backends, whose names are the
# truth: a test checks that they agree), named here so that parsing a command line does not
# import the model.
BACKENDS = ("onnxruntime", "openvino", "torch", "tensorrt")
DEVICES = ("cpu", "cuda", "intel-gpu")
PRECISIONS = ("auto", "bf16", "f16", "f32", "fp16", "fp32")
DEFAULT_BACKEND_HELP = (
    "openvino on a CPU with bf16 arithmetic (AMX, AVX-512 BF16) where openvino is installed, else onnxruntime"
)
