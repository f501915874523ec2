"""The ablation runner trains every variant, evaluates each the way it was trained, and
writes the table and the plot (a tiny network and budget: the plumbing, not the figures)."""

from __future__ import annotations

import json

import numpy as np

from reverie.model import ablation, train
from reverie.model.network import NetworkConfig


def test_ablation_trains_and_evaluates_every_variant(tmp_path, monkeypatch):
    tiny = train.with_overrides(
        train.PRESETS["cpu"],
        batch=2,
        size=32,
        sequence=3,
        worlds=1,
        checkpoint_every=1,
        network=NetworkConfig(widths=(16, 32), blocks=1, cond_dim=32),
    )
    monkeypatch.setitem(ablation.PRESETS, "cpu", tiny)
    seen_history = {}
    real_evaluate = __import__("reverie.model.evaluate", fromlist=["evaluate"]).evaluate

    def spy(model, prompts, styles, seed, frames, width, height, **kw):
        seen_history[len(seen_history)] = kw["history"]
        return real_evaluate(model, prompts, styles[:2], seed, frames, width, height, **kw)

    monkeypatch.setattr("reverie.model.evaluate.evaluate", spy)
    plot = tmp_path / "plot.png"
    assert (
        ablation.main(
            ["--steps", "1", "--frames", "12", "--size", "32x32", "--out", str(tmp_path / "abl"), "--plot", str(plot)]
        )
        == 0
    )
    summary = json.loads((tmp_path / "abl" / "summary.json").read_text())
    assert list(summary["variants"]) == list(train.ABLATIONS) and summary["path"] == "orbit"
    assert list(seen_history.values()) == [True, True, False]  # the per-frame variant runs without history
    for variant, row in summary["variants"].items():
        assert all(np.isfinite(row[k]) for k in ablation.FIGURES), variant
        config = json.loads((tmp_path / "abl" / variant / "latest" / "config.json").read_text())
        assert config["config"]["ablation"] == variant and config["step"] == 1
    assert plot.read_bytes().startswith(b"\x89PNG")
