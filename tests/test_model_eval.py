"""Evaluation: the metrics are right on known cases, and a rollout reports every figure."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_fixtures import fake_encoder, tiny_model

from reverie.model.evaluate import evaluate, evaluate_style, psnr, ssim
from reverie.model.network import Denoiser, NetworkConfig


def test_metrics_on_known_cases():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-5) and psnr(a, a) > 90
    b = np.clip(a.astype(int) + 16, 0, 255).astype(np.uint8)
    assert 20 < psnr(a, b) < 30 and ssim(a, b) < 1.0
    assert ssim(a, 255 - a) < 0.2


def test_rollout_reports_every_figure_and_refuses_training_worlds():
    torch.manual_seed(0)
    model = Denoiser(NetworkConfig(widths=(16, 32), blocks=1, cond_dim=32)).eval()
    prompt = np.ones(384, np.float32) / np.sqrt(384)
    figures = evaluate_style(model, "winter", prompt, seed=1001, frames=6, width=32, height=32)
    for key in ("psnr", "ssim", "ewarp", "ewarp_gt", "psnr_first100", "psnr_last100"):
        assert np.isfinite(figures[key]), key
    assert len(figures["psnr_curve"]) == 6
    with pytest.raises(ValueError, match="held-out worlds"):
        evaluate(model, "train", ["toon"], seed=5, frames=2, width=32, height=32)


def test_curve_plot_draws_each_curve_in_its_color(tmp_path):
    import zlib

    from reverie.model.world.images import PLOT_COLORS, plot_curves

    low, high = plot_curves([[0, 1, 2], [2, 1, 0]], tmp_path / "p.png", width=60, height=30)
    assert (low, high) == (0.0, 2.0)
    data = (tmp_path / "p.png").read_bytes()
    idat = data[data.index(b"IDAT") + 4 : data.index(b"IEND") - 8]
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(30, 1 + 60 * 3)[:, 1:].reshape(30, 60, 3)
    for color in PLOT_COLORS[:2]:
        assert (rows == color).all(axis=-1).sum() > 30
    assert (rows[-1, 0] == PLOT_COLORS[0]).all()  # the first curve starts at the bottom left


def test_same_view_psnr_is_the_last_window_that_sees_the_first_frames_view_again():
    from reverie.model.evaluate import psnr_same_view
    from reverie.model.world.camera import orbit_lap_frames

    lap = orbit_lap_frames()
    assert lap == 754  # 2 pi / 0.25 rad/s at 30 fps
    curve = np.full(2 * lap + 150, 20.0)
    curve[lap : lap + 100] = 25.0  # an earlier lap does not enter: the last one that fits does
    curve[2 * lap : 2 * lap + 100] = 19.0  # two laps later, the same view is 1 dB worse than the first 100 frames
    curve[-50:] = 30.0  # what the last frames happen to look at does not enter
    assert psnr_same_view(curve.tolist(), "orbit") == 19.0
    assert psnr_same_view([20.0] * (lap + 99), "orbit") is None
    assert psnr_same_view(curve.tolist(), "mixed") is None  # other paths have no repeating view


def test_styles_in_worker_processes_give_the_figures_of_one_process():
    """`reverie eval --jobs 2`: each style's rollout in its own single-threaded process;
    the figures are the single process's (seeded per rollout; float rounding aside) and
    the progress callback sees every frame."""
    torch.manual_seed(0)
    model = Denoiser(NetworkConfig(widths=(16, 32), blocks=1, cond_dim=32)).eval()
    styles, frames = ["winter", "toon", "thermal"], 5
    one = evaluate(model, "train", styles, seed=1001, frames=frames, width=32, height=32)
    ticks = []
    two = evaluate(
        model, "train", styles, seed=1001, frames=frames, width=32, height=32, progress=lambda: ticks.append(1), jobs=2
    )
    assert len(ticks) == len(styles) * frames
    assert list(two["styles"]) == styles
    for name in styles:
        for key in ("psnr", "ssim", "ewarp", "ewarp_gt"):
            assert two["styles"][name][key] == pytest.approx(one["styles"][name][key], rel=1e-3, abs=1e-6), (name, key)


def test_prompt_switch_lag_counts_frames_until_the_output_stays_near_the_reference():
    from reverie.model.prompt_switch import lag_and_deficit

    reference = [20.0] * 10
    got = [20.0, 20.0, 12.0, 18.5, 19.5, 17.0, 19.8, 20.0, 20.0, 20.0]  # last frame more than 1 dB below: index 5
    lag, deficit = lag_and_deficit(got, reference, 2, 4)
    assert lag == 4 and deficit == pytest.approx((8.0 + 1.5 + 0.5 + 3.0) / 4)
    assert lag_and_deficit(reference, reference, 2, 4) == (0, 0.0)


def test_prompt_switch_policies_only_differ_where_there_is_trust_to_lower():
    """At steady trust 0 the trust schedule has nothing to lower: both policies are the same
    rollout. At a positive trust they differ after the switch and only there."""
    from reverie.model.look_trust import LookTrust
    from reverie.model.prompt_switch import stream
    from reverie.model.world.sequence import SequenceSpec, render_sequence

    model = tiny_model()
    frames = list(render_sequence(SequenceSpec(1000, 8, 32, 32, "walk", ())))
    old, new = fake_encoder("oil painting"), fake_encoder("film noir")
    runs = {
        (trust, follow): stream(model, frames, old, new, 3, 2, LookTrust(trust), follow, 1000)
        for trust in (0.0, 3.0)
        for follow in (True, False)
    }
    assert all(np.array_equal(a, b) for a, b in zip(runs[0.0, True], runs[0.0, False]))
    follows, constant = runs[3.0, True], runs[3.0, False]
    assert all(np.array_equal(a, b) for a, b in zip(follows[:3], constant[:3]))
    assert not np.array_equal(follows[3], constant[3])
