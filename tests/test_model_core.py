"""Noise levels, the sampler, the network's shape contract, and the history warp."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reverie.model.diffusion import HISTORY_SIGMA, SIGMA_MAX, karras_sigmas, precondition, sample
from reverie.model.history import backward_warp, validity_mask, warp
from reverie.model.network import GATE_INIT, Denoiser, NetworkConfig, game_planes


def test_karras_sigmas_run_from_max_down_to_zero():
    for steps in (1, 2, 4, 8):
        s = karras_sigmas(steps)
        assert len(s) == steps + 1 and s[0] == pytest.approx(SIGMA_MAX) and s[-1] == 0
        assert torch.all(s[:-1] > s[1:])
    with pytest.raises(ValueError, match="steps must be 1..8"):
        karras_sigmas(0)


def test_preconditioning_passes_the_input_through_at_zero_noise():
    c_skip, c_out, c_in, _ = precondition(torch.tensor([1e-6, 1.0, 20.0]))
    assert c_skip[0] == pytest.approx(1.0) and c_out[0] == pytest.approx(0.0, abs=1e-5)
    assert torch.all(c_skip[:-1] > c_skip[1:]) and torch.all(c_in[:-1] > c_in[1:])


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_sampler_lands_on_what_the_denoiser_says(steps):
    """A denoiser that always answers `target` must take the sampler exactly there."""
    target = torch.linspace(-1, 1, 2 * 3 * 8 * 8).reshape(2, 3, 8, 8)
    seen = []

    def denoise(x, sigma):
        seen.append(float(sigma[0]))
        return target

    out = sample(denoise, target.shape, steps, torch.Generator().manual_seed(0))
    assert torch.allclose(out, target)
    assert seen == pytest.approx(karras_sigmas(steps)[:-1].tolist())


def test_sampler_started_from_an_image_uses_it_and_still_lands_on_the_answer():
    target, init = torch.full((1, 3, 4, 4), 0.5), torch.full((1, 3, 4, 4), -0.25)
    first_inputs = []

    def denoise(x, sigma):
        first_inputs.append(x.clone())
        return target

    out = sample(denoise, target.shape, 2, torch.Generator().manual_seed(0), sigma_max=1e-6, init=init, start_noise=1.0)
    assert torch.allclose(first_inputs[0], init, atol=1e-4) and torch.allclose(out, target)


def test_sampler_starts_at_the_prior_mean_unless_asked_for_noise():
    """The default start is deterministic (zeros at sigma_max): the same frame gives the same
    output whatever the generator; start_noise=1 draws the usual N(0, sigma_max^2) start."""
    starts = []

    def denoise(x, sigma):
        starts.append(x.clone())
        return torch.zeros_like(x)

    sample(denoise, (1, 3, 32, 32), 1, torch.Generator().manual_seed(0))
    sample(denoise, (1, 3, 32, 32), 1, torch.Generator().manual_seed(1))
    sample(denoise, (1, 3, 32, 32), 1, torch.Generator().manual_seed(0), start_noise=1.0)
    assert torch.equal(starts[0], torch.zeros(1, 3, 32, 32)) and torch.equal(starts[0], starts[1])
    assert float(starts[2].std()) == pytest.approx(SIGMA_MAX, rel=0.1)


@pytest.mark.parametrize("steps", [1, 4])
def test_sampler_runs_the_real_network_at_any_stride_multiple(steps):
    torch.manual_seed(0)
    model = Denoiser(NetworkConfig(widths=(16, 32), blocks=1, cond_dim=32)).eval()
    stride = model.config.stride
    height, width = 2 * stride, 3 * stride
    game = game_planes(
        torch.rand(1, 3, height, width), torch.rand(1, 1, height, width) * 50, torch.randn(1, 2, height, width)
    )
    history, mask = torch.zeros(1, 3, height, width), torch.ones(1, 1, height, width)
    prompt = torch.nn.functional.normalize(torch.randn(1, 384), dim=1)

    def denoise(x, sigma):
        return model(
            x,
            sigma,
            game,
            history,
            mask,
            torch.full_like(sigma, HISTORY_SIGMA),
            torch.randn_like(history),
            prompt,
            torch.zeros_like(sigma),
        )

    a = sample(denoise, (1, 3, height, width), steps, torch.Generator().manual_seed(1))
    b = sample(denoise, (1, 3, height, width), steps, torch.Generator().manual_seed(1))
    assert a.shape == (1, 3, height, width) and torch.isfinite(a).all() and torch.equal(a, b)
    with pytest.raises(ValueError, match=f"multiples of {stride}, got {stride + 4}x{stride}"):
        model(
            torch.zeros(1, 3, stride + 4, stride),
            torch.ones(1),
            game[..., : stride + 4, :stride],
            history[..., : stride + 4, :stride],
            mask[..., : stride + 4, :stride],
            torch.ones(1),
            history[..., : stride + 4, :stride],
            prompt,
            torch.zeros(1),
        )


@pytest.mark.parametrize("trust", [0.0, -1.0, 2.0])
def test_untrained_network_is_the_skip_connection_blended_with_valid_history_by_the_gate(trust):
    """The output layer starts at zero, so D(x) = c_skip * x where there is no valid history
    and the gate's initial share of the history where there is: training starts sane.
    history_trust is added to the gate's logit: the share on valid pixels becomes
    sigmoid(GATE_INIT + trust), invalid pixels still ignore the history."""
    model = Denoiser(NetworkConfig(widths=(16, 32), blocks=1, cond_dim=32))
    x, sigma = torch.randn(1, 3, 16, 16), torch.tensor([2.0])
    history = torch.rand(1, 3, 16, 16) * 2 - 1
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., :8] = 1
    out = model(
        x,
        sigma,
        torch.zeros(1, 6, 16, 16),
        history,
        mask,
        torch.ones(1),
        torch.randn(1, 3, 16, 16),
        torch.zeros(1, 384),
        torch.tensor([trust]),
    )
    skip = precondition(sigma)[0] * x
    share = torch.sigmoid(torch.tensor(GATE_INIT + trust))
    assert torch.allclose(out[..., 8:], skip[..., 8:])
    assert torch.allclose(out[..., :8], skip[..., :8] + share * (history[..., :8] - skip[..., :8]), atol=1e-6)


def test_warp_and_mask_on_a_synthetic_shift_are_exact_on_valid_pixels():
    rng = np.random.default_rng(0)
    height, width, dx, dy = 24, 32, 3, -2
    previous = rng.uniform(0, 255, (height, width, 3)).astype(np.float32)
    # The scene moved by (-dx, -dy): each pixel's previous position is current + (dx, dy).
    motion = np.zeros((height, width, 2), np.float32)
    motion[..., 0], motion[..., 1] = dx, dy
    current = np.zeros_like(previous)
    current[max(0, -dy) : height - max(0, dy), : width - dx] = previous[max(0, dy) : height + min(0, dy), dx:]
    depth = np.full((height, width), 5.0, np.float32)
    valid = validity_mask(depth, motion, depth, tolerance=0.01)
    warped = backward_warp(previous, motion)
    assert valid.sum() == (height - abs(dy)) * (width - dx)
    np.testing.assert_allclose(warped[valid], current[valid], rtol=0, atol=1e-3)  # exact to float32 precision
    # An occluder: where the previous frame saw something nearer, the history is not trusted.
    occluded = depth.copy()
    occluded[5:9, 10:14] = 1.0
    assert not validity_mask(occluded, motion, depth, tolerance=0.01)[5 - dy : 9 - dy, 10 - dx : 14 - dx].any()


def test_invalid_history_never_reaches_the_network():
    """Where the mask says the history is invalid (off screen, disoccluded), its pixels are
    zeroed before the network sees them: whatever they hold (a clamped edge, a stale
    surface) cannot change the output anywhere, not even through the network's receptive
    field. Valid history still does."""
    torch.manual_seed(0)
    model = Denoiser(NetworkConfig(widths=(16, 32), blocks=1, cond_dim=32, full_res=8)).eval()
    for p in model.net.head[-1].parameters():
        torch.nn.init.normal_(p, std=0.05)
    g = torch.Generator().manual_seed(1)
    x, game, noise = (
        torch.randn(1, 3, 32, 32, generator=g),
        torch.rand(1, 6, 32, 32, generator=g),
        torch.randn(1, 3, 32, 32, generator=g),
    )
    history = torch.rand(1, 3, 32, 32, generator=g) * 2 - 1
    mask = torch.ones(1, 1, 32, 32)
    mask[..., 24:] = 0  # a band revealed by a pan

    def run(h):
        return model(
            x, torch.tensor([20.0]), game, h, mask, torch.full((1,), 0.05), noise, torch.zeros(1, 384), torch.zeros(1)
        )

    streaks = history.clone()
    streaks[..., 24:] = history[..., 23:24]  # the border pixel stretched over the band, as a clamped warp gave it
    with torch.no_grad():
        assert torch.equal(run(history), run(streaks))
        changed = history.clone()
        changed[..., :8] = -history[..., :8]
        assert not torch.allclose(run(history), run(changed))


def test_warp_reads_zeros_off_screen():
    previous = torch.ones(1, 3, 8, 8)
    motion = torch.zeros(1, 2, 8, 8)
    motion[:, 0] = 3.0  # every pixel's previous position is 3 px to the right
    warped = warp(previous, motion)
    assert torch.equal(warped[..., :5], torch.ones(1, 3, 8, 5)) and torch.equal(
        warped[..., 5:], torch.zeros(1, 3, 8, 3)
    )


def test_the_shipped_network_is_sized_for_the_matrix_units():
    """At least 4x the FLOPs of the first network (32, 64, 96 without a full-resolution
    path) per 256x256 step, channel counts in multiples of 32, a full-resolution path."""
    from reverie.model.network import flops
    from reverie.model.train import PRESETS

    config = PRESETS["cpu"].network
    assert flops(config) >= 4 * flops(NetworkConfig(widths=(32, 64, 96))) >= 7.5e9
    assert all(w % 32 == 0 for w in config.widths) and config.full_res > 0
    assert PRESETS["gpu"].network == config


def test_presets_train_whole_frames_and_autocast_bf16_only_where_the_cpu_has_it():
    """Windows taught the network where their borders are (lines fixed on a whole frame);
    emulated bf16 is slower than float32, so the kernel's flags decide."""
    from reverie.model.cpu_features import kernel_reports_bf16, linux_cpu_flags
    from reverie.model.train import PRESETS, autocast_bf16, with_overrides

    assert PRESETS["cpu"].crop == 0 and PRESETS["gpu"].crop == 0
    cpu = PRESETS["cpu"]
    assert cpu.bf16
    assert autocast_bf16(cpu, flags={"avx2", "fma", "amx_bf16"}) and autocast_bf16(cpu, flags={"avx512_bf16"})
    assert not autocast_bf16(cpu, flags={"avx2", "fma", "avx512f"})
    assert not autocast_bf16(with_overrides(cpu, bf16=False), flags={"amx_bf16"})
    flags = linux_cpu_flags()
    assert autocast_bf16(cpu) == bool(flags and {"amx_bf16", "avx512_bf16"} & flags)
    assert kernel_reports_bf16(set()) is False


def test_the_sky_depth_is_one_number_for_the_protocol_the_world_and_the_network():
    """Engines write the sky as the protocol's SKY_DEPTH_METERS; the training world renders
    its sky there and the network reads depth up to it, so a sky from any engine is the
    sky the model learned, and anything farther reads the same."""
    import torch

    from reverie.bridge import protocol as P
    from reverie.model import network
    from reverie.model.world import renderer

    assert P.SKY_DEPTH_METERS == network.DEPTH_FAR == renderer.SKY_DEPTH
    depth = torch.tensor([[[[P.SKY_DEPTH_METERS, 1.0e6, float(2**30)]]]])
    planes = network.game_planes(torch.zeros(1, 3, 1, 3), depth, torch.zeros(1, 2, 1, 3))
    assert torch.equal(planes[0, 3, 0], torch.ones(3))
