"""Training: the loss goes down on a fixed batch, and a resumed run is the same run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from model_fixtures import random_prompt_table

from reverie.model import train as T
from reverie.model import weights as W
from reverie.model.look_trust import LookTrust
from reverie.model.network import Denoiser, NetworkConfig
from reverie.model.world.looks import STYLES

TINY = T.TrainConfig(
    steps=2,
    batch=2,
    size=32,
    sequence=3,
    worlds=2,
    world_every=1,
    checkpoint_every=1,
    network=NetworkConfig(widths=(16, 32), blocks=1, cond_dim=32),
)


@pytest.fixture(scope="module")
def prompts():
    return random_prompt_table()


@pytest.fixture(scope="module")
def batch(prompts):
    return next(T.WorldBatches(TINY, prompts))


@pytest.mark.parametrize("ablation", T.ABLATIONS)
def test_a_training_step_lowers_the_loss_on_a_fixed_batch(batch, ablation):
    config = T.with_overrides(TINY, ablation=ablation)
    torch.manual_seed(0)
    model = Denoiser(config.network)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)

    def loss() -> torch.Tensor:
        return T.sequence_loss(model, batch, config, torch.Generator().manual_seed(5))

    before = loss()
    for _ in range(3):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    with torch.no_grad():
        after = loss()
    assert torch.isfinite(before) and after < before


def test_checkpoint_resume_gives_the_same_next_step(tmp_path, batch):
    torch.manual_seed(0)
    model = Denoiser(TINY.network)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(9)
    loss = T.sequence_loss(model, batch, TINY, generator)
    loss.backward()
    optimizer.step()
    T.save_checkpoint(tmp_path / "ck", 1, model, optimizer, TINY, generator)
    expected = T.sequence_loss(model, batch, TINY, generator)

    restored, config = W.load_model(tmp_path / "ck"), T.training_config(tmp_path / "ck")
    state = torch.load(tmp_path / "ck" / "state.pt", weights_only=False)
    resumed_generator = torch.Generator()
    resumed_generator.set_state(state["generator"])
    assert config == TINY and state["step"] == 1
    assert torch.equal(T.sequence_loss(restored.train(), batch, config, resumed_generator), expected)


def test_the_inference_history_trust_is_read_from_the_weights_config(tmp_path):
    model = Denoiser(TINY.network)
    T.save_checkpoint(tmp_path / "ck", 1, model, torch.optim.AdamW(model.parameters()), TINY, torch.Generator())
    assert W.look_trust(tmp_path / "ck") == LookTrust(0.0)  # a checkpoint is the network as trained
    meta = json.loads((tmp_path / "ck" / "config.json").read_text())
    meta["inference"] = {"history_trust": 1.5, "look_trust": {"thermal": 3}}
    (tmp_path / "ck" / "config.json").write_text(json.dumps(meta))
    assert W.look_trust(tmp_path / "ck") == LookTrust(1.5, (("thermal", 3.0),))


def test_train_interrupted_and_resumed_matches_an_uninterrupted_run(tmp_path, prompts, monkeypatch):
    monkeypatch.setattr(T, "prompt_table", lambda: prompts)
    T.train(T.with_overrides(TINY, steps=2), tmp_path / "straight", progress=False)
    T.train(T.with_overrides(TINY, steps=1), tmp_path / "resumed", progress=False)
    T.train(T.with_overrides(TINY, steps=2), tmp_path / "resumed", resume=True, progress=False)
    a = W.load_model(tmp_path / "straight" / "latest")
    b = W.load_model(tmp_path / "resumed" / "latest")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name
    meta = json.loads((tmp_path / "resumed" / "latest" / "config.json").read_text())
    assert meta["step"] == 2 and meta["config"]["network"]["widths"] == [16, 32]


def test_jittered_prompts_stay_unit_length_and_nearest_their_own_style(prompts):
    """The embedding jitter spreads a style's six prompts into a region without moving it
    onto another style: every jittered prompt stays closest to its own style's centroid."""
    rng = np.random.default_rng(3)
    tables = {name: np.stack([prompts[p] for p in s.train_prompts]) for name, s in STYLES.items()}
    centroids = {name: t.mean(0) / np.linalg.norm(t.mean(0)) for name, t in tables.items()}
    spread = []
    for name, table in tables.items():
        for _ in range(50):
            v = T.jittered_prompt(table, rng, T.TrainConfig().prompt_jitter)
            assert abs(np.linalg.norm(v) - 1) < 1e-5
            scores = {other: float(c @ v) for other, c in centroids.items()}
            assert max(scores, key=scores.get) == name
            spread.append(float((table @ v).max()))
    assert min(spread) < 0.8  # the jitter really leaves the six training points


def test_runtime_loss_is_zero_when_the_output_changes_exactly_like_the_ground_truth(batch):
    """The temporal term compares the output's frame-to-frame change (warped by the engine
    motion) with the ground truth's: an output equal to the ground truth costs nothing, a
    flicker the ground truth does not have costs, and only where the history is valid."""
    config = T.with_overrides(TINY, runtime_weight=1.0, temporal_weight=2.0)
    t = 1
    mask = torch.ones_like(batch.depth[:, t])
    exact = T.runtime_loss(batch.target[:, t], batch.target[:, t - 1], batch, t, mask, config)
    assert float(exact) == pytest.approx(0.0, abs=1e-12)
    flicker = torch.zeros_like(batch.target[:, t])
    flicker[..., ::2, :] = 0.1  # every other row brighter this frame only
    shimmering = T.runtime_loss(batch.target[:, t] + flicker, batch.target[:, t - 1], batch, t, mask, config)
    expected_mse = float((flicker**2).mean())
    assert float(shimmering) == pytest.approx(expected_mse * (1.0 + 2.0), rel=1e-5)
    nothing_valid = T.runtime_loss(
        batch.target[:, t] + flicker, batch.target[:, t - 1], batch, t, torch.zeros_like(mask), config
    )
    assert float(nothing_valid) == pytest.approx(expected_mse, rel=1e-5)  # the run-time MSE alone


def test_runtime_terms_train_the_run_time_output(batch):
    """With the run-time terms on, the sampler's one-step output (D(0, sigma_max)) receives
    gradients through the loss; without them it is only tomorrow's history (no gradients)."""
    torch.manual_seed(0)
    model = Denoiser(TINY.network)
    plain = T.sequence_loss(model, batch, TINY, torch.Generator().manual_seed(5))
    with_terms = T.sequence_loss(
        model, batch, T.with_overrides(TINY, runtime_weight=1.0, temporal_weight=1.0), torch.Generator().manual_seed(5)
    )
    assert float(with_terms.detach()) > float(plain.detach())
    with_terms.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)


def test_fine_tuned_weights_carry_their_lineage_and_publish_with_inference_settings(tmp_path, monkeypatch, prompts):
    """A run started from other weights (--init) records the runs behind it in config.json;
    `reverie publish` copies weights and config with the measured history trust, which
    the stylizer and eval then read."""
    monkeypatch.setattr(T, "prompt_table", lambda: prompts)
    base = T.train(T.with_overrides(TINY, steps=1), tmp_path / "base", progress=False)
    tuned = T.train(
        T.with_overrides(TINY, steps=1, init=str(base), runtime_weight=1.0, temporal_weight=1.0),
        tmp_path / "tuned",
        progress=False,
    )
    lineage = json.loads((tuned / "config.json").read_text())["lineage"]
    assert [entry["config"]["init"] for entry in lineage] == [""] and lineage[0]["step"] == 1
    shipped = W.publish_weights(tuned, tmp_path / "weights", LookTrust.of(2.5, {"noir": 1.0}))
    assert sorted(p.name for p in shipped.iterdir()) == ["config.json", "model.safetensors"]
    config = T.training_config(shipped)
    assert W.look_trust(shipped) == LookTrust(2.5, (("noir", 1.0),)) and config.temporal_weight == 1.0
    assert (shipped / "model.safetensors").read_bytes() == (tuned / "model.safetensors").read_bytes()


class _Pointwise(torch.nn.Module):
    """A stand-in denoiser that treats every pixel alike (no grid): exactly shift-consistent,
    or, with `grid`, one that adds a pattern fixed to the pixel grid, as aliasing does."""

    def __init__(self, grid: bool):
        super().__init__()
        self.config = NetworkConfig(widths=(16,), blocks=1, cond_dim=32)
        self.scale = torch.nn.Parameter(torch.tensor(0.5))
        self.grid = grid

    def forward(self, x, sigma, game, history, mask, history_sigma, noise, prompt, history_trust):
        out = self.scale * game[:, :3] + 0.25 * history * mask
        if self.grid:
            rows = torch.arange(out.shape[-2]).reshape(-1, 1) % 4
            out = out + 0.1 * (rows == 0)
        return out


@pytest.mark.parametrize("grid", [False, True])
def test_shift_inconsistency_is_zero_for_a_model_without_a_grid_only(batch, grid):
    """The shift term compares a window of the frame 1-3 px off the grid with the same
    window of the whole frame's output: nothing for a model that treats every pixel alike,
    something for one whose output depends on the pixel's place in a 4x4 grid."""
    model = _Pointwise(grid)
    t = 1
    game = torch.cat([batch.color[:, t], torch.zeros_like(batch.color[:, t])], dim=1)
    history = batch.target[:, t - 1]
    mask = torch.ones_like(batch.depth[:, t])
    noise = torch.zeros_like(history)
    output = model(None, None, game, history, mask, None, noise, batch.prompt, None)
    inconsistency = T.shift_inconsistency(
        model, output, (game, history, mask, noise), batch.prompt, torch.Generator().manual_seed(3)
    )
    if grid:
        assert float(inconsistency.detach()) > 0.01
    else:
        assert float(inconsistency.detach()) == pytest.approx(0.0, abs=1e-7)


def test_a_resumed_fine_tune_keeps_its_lineage_when_the_init_folder_is_gone(tmp_path, monkeypatch, prompts):
    """The lineage is read once, when the run starts from its --init weights: resuming
    after the init folder was replaced or removed (published over, cleaned up) keeps it."""
    import shutil

    monkeypatch.setattr(T, "prompt_table", lambda: prompts)
    base = T.train(T.with_overrides(TINY, steps=1), tmp_path / "base", progress=False)
    config = T.with_overrides(TINY, steps=1, init=str(base))
    tuned = T.train(config, tmp_path / "tuned", progress=False)
    before = json.loads((tuned / "config.json").read_text())["lineage"]
    shutil.rmtree(base)
    T.train(T.with_overrides(config, steps=2), tmp_path / "tuned", resume=True, progress=False)
    assert json.loads((tuned / "config.json").read_text())["lineage"] == before and before[0]["step"] == 1
