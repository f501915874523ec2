"""The adversarial term: the patch critic learns to tell a look's texture from its blurred
mean, its verdict trains the denoiser's run-time output (and only the denoiser), a
resumed run restores the critic with everything else, and a run started from a checkpoint
(`--init`) starts from its critic."""

from __future__ import annotations

import pytest
import torch
from model_fixtures import random_prompt_table
from torch.nn import functional as F

from reverie.model import train as T
from reverie.model import weights as W
from reverie.model.adversarial import EDGE_CELLS, Critic
from reverie.model.look_trust import LookTrust
from reverie.model.network import Denoiser, NetworkConfig

TINY = T.TrainConfig(
    steps=2,
    batch=2,
    size=32,
    sequence=2,
    worlds=1,
    world_every=1000,
    checkpoint_every=1,
    runtime_weight=1.0,
    adversarial_weight=0.5,
    network=NetworkConfig(widths=(16, 32), blocks=1, cond_dim=32),
)


@pytest.fixture(scope="module")
def prompts():
    return random_prompt_table()


def test_the_critic_learns_to_tell_texture_from_its_blurred_mean():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    critic = Critic(lr=2e-3)
    game = torch.rand(4, 6, 32, 32, generator=g) * 2 - 1
    prompt = F.normalize(torch.randn(4, 384, generator=g), dim=1)
    first = last = None
    for _ in range(60):
        real = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1  # fine grain, like strokes or film grain
        fake = F.avg_pool2d(F.pad(real, (2, 2, 2, 2), mode="replicate"), 5, stride=1)  # its local mean
        figures = critic.update(fake, real, game, prompt)
        first = first or figures
        last = figures
    assert last["critic"] < 0.5 * first["critic"]
    assert last["real"] > last["fake"] + 1.0


def test_the_critic_judges_the_interior_so_the_frames_edges_get_no_adversarial_pull():
    """Patches over the edge see the zero padding; the denoiser once drew a dotted line there
    for them. Pixels near the edge get no gradient from the verdict, the interior does."""
    torch.manual_seed(0)
    critic = Critic()
    fake = torch.zeros(1, 3, 128, 128, requires_grad=True)
    game, prompt = torch.rand(1, 6, 128, 128), F.normalize(torch.randn(1, 384), dim=1)
    critic.generator_loss(fake, game, prompt).backward()
    pull = fake.grad.abs().sum(dim=(0, 1))
    edge = 8 * EDGE_CELLS - 19  # the first kept cell's field (38 px around its centre) starts here
    assert edge >= 4
    for band in (pull[:edge], pull[-edge:], pull[:, :edge], pull[:, -edge:]):
        assert float(band.abs().max()) == 0.0
    assert float(pull[48:80, 48:80].min()) > 0.0
    # the critic's own step takes the same cut
    critic.update(fake.detach(), torch.rand(1, 3, 128, 128) * 2 - 1, game, prompt)
    small = critic.generator_loss(torch.zeros(1, 3, 32, 32), torch.rand(1, 6, 32, 32), prompt)
    assert torch.isfinite(small)  # a 32-px window keeps at least one verdict


def test_the_critic_verdict_trains_the_run_time_output_and_not_the_critic(prompts):
    batch = next(T.WorldBatches(TINY, prompts))
    torch.manual_seed(0)
    model = Denoiser(TINY.network)
    critic = Critic()
    adversary = T.Adversary(critic, 1.0)
    with_term = T.sequence_loss(model, batch, TINY, torch.Generator().manual_seed(3), adversary)
    without = T.sequence_loss(model, batch, TINY, torch.Generator().manual_seed(3))
    assert len(adversary.seen) == TINY.sequence and not torch.equal(with_term, without)
    with_term.backward()
    assert all(p.grad is None for p in critic.net.parameters())
    assert model.net.out.weight.grad.abs().sum() > 0  # the output layer (zero at the start: the first to learn)


def test_a_resumed_adversarial_run_matches_an_uninterrupted_one(tmp_path, prompts, monkeypatch):
    monkeypatch.setattr(T, "prompt_table", lambda: prompts)
    config = T.with_overrides(TINY, steps=2, adversarial_start=0)  # the critic trains from the first step
    T.train(config, tmp_path / "straight", progress=False)
    T.train(T.with_overrides(config, steps=1), tmp_path / "resumed", progress=False)  # the same learning rate at step 0
    T.train(config, tmp_path / "resumed", resume=True, progress=False)
    a = W.load_model(tmp_path / "straight" / "latest")
    b = W.load_model(tmp_path / "resumed" / "latest")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name
    state = torch.load(tmp_path / "resumed" / "latest" / "state.pt", weights_only=False)
    assert state["critic"] is not None


def test_a_run_from_a_checkpoint_starts_from_its_critic(tmp_path, prompts, monkeypatch):
    """The critic's weights are saved beside the denoiser's (state.pt stays out of git) and an
    --init run loads them: the second run's critic before its first update is the first's."""
    from safetensors.torch import load_file

    monkeypatch.setattr(T, "prompt_table", lambda: prompts)
    config = T.with_overrides(TINY, steps=2, adversarial_start=0)
    first = T.train(config, tmp_path / "first", progress=False)
    saved = load_file(str(first / T.CRITIC_WEIGHTS))
    loaded = {}
    original = Critic.update

    def spy(self, *args, **kwargs):
        loaded.setdefault("net", {k: v.clone() for k, v in self.net.state_dict().items()})
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Critic, "update", spy)
    T.train(T.with_overrides(config, init=str(first)), tmp_path / "second", progress=False)
    assert saved.keys() == loaded["net"].keys()
    for name, value in saved.items():
        assert torch.equal(value, loaded["net"][name]), name
    fresh = Critic().net.state_dict()
    assert any(not torch.equal(fresh[k], v) for k, v in saved.items() if v.is_floating_point())
    published = W.publish_weights(first, tmp_path / "shipped", LookTrust(0.0))
    assert not (published / T.CRITIC_WEIGHTS).exists()  # the critic never ships


def test_crops_keep_the_pixel_scale_and_the_motion_of_the_render(prompts):
    config = T.with_overrides(TINY, size=64, crop=32, batch=2, sequence=2)
    batch = next(T.WorldBatches(config, prompts))
    assert batch.color.shape == (2, 2, 3, 32, 32) and batch.motion.shape == (2, 2, 2, 32, 32)
    assert batch.target.shape == (2, 2, 3, 32, 32) and batch.depth.shape == (2, 2, 1, 32, 32)
