"""Sequences: written to disk in documented chunks and read back exactly; the on-the-fly
iterator marks cuts; the CLI renders and refuses bad input clearly."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from reverie.model.world.sequence import SequenceSpec, read_sequence, render_sequence, write_sequence


def test_written_sequence_reads_back_identical_to_the_rendered_one(tmp_path):
    spec = SequenceSpec(seed=4, frames=10, width=64, height=48, path="cuts", styles=("pencil", "winter"))
    write_sequence(spec, tmp_path / "seq", chunk_frames=4)
    meta = json.loads((tmp_path / "seq" / "meta.json").read_text())
    assert meta["frames"] == 10 and meta["chunks"] == ["chunk_00000.npz", "chunk_00001.npz", "chunk_00002.npz"]
    rendered = list(render_sequence(spec))
    stored = list(read_sequence(tmp_path / "seq"))
    assert len(stored) == 10
    for i, (a, b) in enumerate(zip(rendered, stored)):
        assert b["frame"] == i and bool(b["reset"]) == a.reset
        for name in ("color", "depth", "motion"):
            assert np.array_equal(getattr(a, name), b[name]), name
        for style in spec.styles:
            assert np.array_equal(a.styles[style], b[f"style_{style}"])
    assert stored[0]["reset"]


def test_mixed_path_has_cuts_between_segments():
    frames = list(render_sequence(SequenceSpec(seed=1, frames=200, width=32, height=32)))
    resets = [i for i, f in enumerate(frames) if f.reset]
    assert resets[0] == 0 and len(resets) >= 2
    for i in resets:
        assert np.abs(frames[i].motion[frames[i].depth > 900]).max() < 1e-3  # no camera motion across a cut


def test_unknown_style_or_path_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="unknown style 'sepia'"):
        SequenceSpec(1, 1, 32, 32, styles=("sepia",))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "reverie",
            "world",
            "render",
            "--path",
            "moonwalk",
            "--frames",
            "2",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "unknown camera path 'moonwalk'" in proc.stderr


def test_cli_renders_a_sequence(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "reverie",
            "world",
            "render",
            "--seed",
            "2",
            "--frames",
            "6",
            "--size",
            "48x32",
            "--style",
            "toon",
            "--style",
            "oil",
            "--path",
            "run",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    frames = list(read_sequence(out))
    assert len(frames) == 6 and frames[0]["color"].shape == (32, 48, 4) and "style_oil" in frames[0]
