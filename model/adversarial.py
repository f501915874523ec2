"""The adversarial term: a patch discriminator that judges the one-step output against the
look's ground truth, given the game's buffers and the prompt.

Why: the run-time output is one step from the prior's mean, trained on MSE; it is the
conditional mean of the look, so every detail the frame does not fix (strokes, grain,
tesserae) averages to blur. A critic that tells the ground truth's texture from the
model's, patch by patch, trains the output towards the look's distribution instead of
its mean (adversarial diffusion distillation does this for SD-Turbo; pix2pix's patch
critic is the same idea). The critic sees the game planes so it judges "a pencil drawing
of this frame", not "a pencil drawing", and the prompt by projection (Miyato & Koyama
2018), so one critic serves every look. Spectral norm on every layer keeps it Lipschitz
and the hinge loss bounded: no R1 penalty is needed at this size.

Only the generator ships; the critic lives in the training state (state.pt).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from .text import EMBED_DIM

GAME_PLANES = 6  # network.game_planes: color, depth, motion
# Verdicts left out at each edge of the frame: a patch of about 40 px whose field reaches over
# the edge sees the zero padding, and the denoiser answered those verdicts with a dotted line
# along the frame's own edges (docs/model.md). Three cells of 8 px keep every pixel within
# 5 px of an edge out of the adversarial gradient; the denoising terms still cover them.
EDGE_CELLS = 3


class PatchDiscriminator(nn.Module):
    """(image (N, 3, H, W) in [-1, 1], game planes (N, 6, H, W), prompt (N, D)) -> logits
    (N, 1, H/8, W/8): one verdict per patch of about 40x40 pixels."""

    def __init__(self, widths: tuple[int, ...] = (64, 128, 256)):
        super().__init__()
        layers, channels = [], 3 + GAME_PLANES
        for width in widths:
            layers += [spectral_norm(nn.Conv2d(channels, width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            channels = width
        layers += [spectral_norm(nn.Conv2d(channels, channels, 3, padding=1)), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.verdict = spectral_norm(nn.Conv2d(channels, 1, 1))
        self.prompt = spectral_norm(nn.Linear(EMBED_DIM, channels))

    def forward(self, image: torch.Tensor, game: torch.Tensor, prompt: torch.Tensor) -> torch.Tensor:
        h = self.features(torch.cat([image, game], dim=1))
        return self.verdict(h) + (h * self.prompt(prompt)[:, :, None, None]).sum(dim=1, keepdim=True)


def interior(logits: torch.Tensor) -> torch.Tensor:
    """The verdicts whose patches lie inside the frame: EDGE_CELLS left out at each edge,
    fewer on a window too small to keep one cell otherwise."""
    h, w = logits.shape[-2:]
    m = max(0, min(EDGE_CELLS, (h - 1) // 2, (w - 1) // 2))
    return logits[..., m : h - m, m : w - m]


class Critic:
    """The discriminator with its optimizer: `generator_loss` for the denoiser's step,
    `update` for its own (hinge loss), state for checkpoints. Both judge the frame's
    interior only (`interior`)."""

    def __init__(self, lr: float = 2e-4):
        self.net = PatchDiscriminator()
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=lr, betas=(0.0, 0.99))

    def generator_loss(self, fake: torch.Tensor, game: torch.Tensor, prompt: torch.Tensor) -> torch.Tensor:
        """Hinge generator loss: -D(fake), with the critic's weights held still."""
        self.net.requires_grad_(False)
        try:
            return -interior(self.net(fake, game, prompt)).float().mean()
        finally:
            self.net.requires_grad_(True)

    def update(
        self, fake: torch.Tensor, real: torch.Tensor, game: torch.Tensor, prompt: torch.Tensor
    ) -> dict[str, float]:
        """One hinge step on a batch of detached fakes and their ground truths."""
        logits_real = interior(self.net(real, game, prompt)).float()
        logits_fake = interior(self.net(fake.detach(), game, prompt)).float()
        loss = F.relu(1 - logits_real).mean() + F.relu(1 + logits_fake).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {
            "critic": float(loss.detach()),
            "real": float(logits_real.detach().mean()),
            "fake": float(logits_fake.detach().mean()),
        }

    def state_dict(self) -> dict:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
