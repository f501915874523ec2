"""The benchmark and the demo run end to end (speed itself is measured, not asserted:
figures live in docs/benchmarks.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_bridge_prints_json_summary_last():
    proc = subprocess.run(
        [sys.executable, "-m", "reverie", "bench", "bridge", "--json", "--size", "320x180", "--frames", "40", "--warmup", "5"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("size", "frames", "p50_ms", "p95_ms", "p99_ms", "memcpy_floor_ms", "overhead_ratio", "dropped"):
        assert key in result
    assert result["size"] == "320x180" and result["frames"] == 40
    assert result["mismatched_frames"] == 0 and result["failed"] == 0 and result["dropped"] == 0
    assert 0 < result["memcpy_floor_ms"] and 0 < result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]
    assert abs(result["overhead_ratio"] / (result["p50_ms"] / result["memcpy_floor_ms"]) - 1) < 0.01  # figures are rounded


def test_bridge_demo_streams_and_writes_contact_sheet(tmp_path):
    out = tmp_path / "demo.png"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "demos" / "bridge_demo.py"), "--frames", "60", "--size", "160x96", "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "prompt -> 'winter night'" in proc.stdout and "0 failed" in proc.stdout
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
