"""What the CPU computes natively, read from the kernel: the one place that decides bf16.

Why: bf16 is fast only on a CPU with bf16 units (Intel AMX, AVX-512 BF16 on Intel and AMD
Zen 4/5). Elsewhere (an AVX2-only EPYC, for one) torch's bf16 autocast and OpenVINO's bf16
are emulated: a whole-frame training step of the presets' network took 13-15 s in float32
and over a minute under bf16 autocast on a 2-core AVX2 EPYC (docs/benchmarks.md). Training
(`train.train`) and the OpenVINO backend (`backends.ov_backend.cpu_bf16`) both ask here.
"""

from __future__ import annotations

import sys
from pathlib import Path

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def linux_cpu_flags() -> set[str] | None:
    """The CPU's feature flags from /proc/cpuinfo; None where there is no such file (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return None


def kernel_reports_bf16(flags: set[str] | None = None) -> bool | None:
    """True or False from the kernel's flags (AMX or AVX-512 BF16); None where the kernel
    says nothing (not Linux)."""
    flags = linux_cpu_flags() if flags is None else flags
    return None if flags is None else any(f in flags for f in BF16_CPU_FLAGS)
