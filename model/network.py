"""The conditional denoiser: a small FiLM U-Net that works on pixel-unshuffled inputs.

Per pixel it sees the noisy current frame, the game's color, depth and motion, and the
previous output warped to this frame with its validity mask; per frame it sees the
prompt embedding and the two noise levels (current frame, history). Pixel-unshuffle by 4
turns a 256x256 frame into 64x64 cells of 16 pixels, where the U-Net does its work.

Around the U-Net, a full-resolution stem and head (`full_res` channels, 3x3 convolutions
at the frame's own resolution) see every pixel and its neighbours: the stem's features go
into the unshuffled cells beside the raw planes, and the head turns the U-Net's output
back into pixels next to the stem's features, so an edge or a stroke can be drawn to the
pixel instead of being painted by one 1x1 convolution per 4x4 cell (which left the grid's
pattern in flat areas). Widths are multiples of 32 for the CPU's matrix units (AMX tiles
take 32 bf16 values a row). The shipped size, widths (64, 128, 192) with a 16-channel
full-resolution path, costs about 9.6 GFLOP per 256x256 step (`flops`).
Fully convolutional: any size that is a multiple of STRIDE runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .diffusion import noise_level_embedding, precondition
from .text import EMBED_DIM

UNSHUFFLE = 4
IN_PLANES = 3 + 3 + 1 + 2 + 3 + 1  # noisy, color, depth, motion, warped history, history mask
OUT_PLANES = 3 + 1  # the image estimate and the history gate's logit
GATE_INIT = -2.0
DEPTH_FAR = 1000.0  # depth is fed as log(1 + d) / log(1 + DEPTH_FAR)
MOTION_SCALE = 32.0  # motion is fed in units of 32 px, clipped to [-1, 1]


@dataclass(frozen=True)
class NetworkConfig:
    widths: tuple[int, ...] = (32, 64, 96)  # channels per level (after unshuffle)
    blocks: int = 2  # residual blocks per level and direction
    cond_dim: int = 256  # the FiLM conditioning vector
    # channels of the full-resolution stem and head; 0: none (planes unshuffled straight in, a 1x1 cell head)
    full_res: int = 0

    @property
    def stride(self) -> int:
        """Sizes must be multiples of this."""
        return UNSHUFFLE * 2 ** (len(self.widths) - 1)

    def to_dict(self) -> dict:
        """As config.json holds it ("network" in the training config)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> NetworkConfig:
        """From config.json's "network" (widths come back from JSON as a list)."""
        return cls(**{**d, "widths": tuple(d.get("widths", cls().widths))})


class FiLMBlock(nn.Module):
    """conv - norm - FiLM(scale, shift from the conditioning) - SiLU - conv, plus skip."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm = nn.GroupNorm(8, channels)
        self.film = nn.Linear(cond_dim, 2 * channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(cond)[:, :, None, None].chunk(2, dim=1)
        h = self.norm(self.conv1(x)) * (1 + scale) + shift
        return x + self.conv2(F.silu(h))


class ReverieUNet(nn.Module):
    """F(inputs, conditioning) -> (N, 4, H, W): 3 planes of the network part of the
    EDM-preconditioned estimate, then the history gate's logit."""

    def __init__(self, config: NetworkConfig = NetworkConfig()):
        super().__init__()
        self.config = config
        w, cond_dim = config.widths, config.cond_dim
        self.cond = nn.Sequential(nn.Linear(EMBED_DIM + 64, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim))
        f = config.full_res
        self.stem = nn.Sequential(nn.Conv2d(IN_PLANES, f, 3, padding=1), nn.SiLU()) if f else None
        self.inp = nn.Conv2d((IN_PLANES + f) * UNSHUFFLE**2, w[0], 1)
        self.down = nn.ModuleList(nn.ModuleList(FiLMBlock(c, cond_dim) for _ in range(config.blocks)) for c in w)
        self.downsample = nn.ModuleList(nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in zip(w, w[1:]))
        self.upsample = nn.ModuleList(nn.Conv2d(b, a, 3, padding=1) for a, b in zip(w, w[1:]))
        self.merge = nn.ModuleList(nn.Conv2d(2 * a, a, 1) for a in w[:-1])
        self.up = nn.ModuleList(nn.ModuleList(FiLMBlock(c, cond_dim) for _ in range(config.blocks)) for c in w[:-1])
        if f:  # cells -> f features per pixel, then two full-resolution convolutions beside the stem's features
            self.out = nn.Conv2d(w[0], f * UNSHUFFLE**2, 3, padding=1)
            self.head = nn.Sequential(
                nn.Conv2d(2 * f, f, 3, padding=1), nn.SiLU(), nn.Conv2d(f, OUT_PLANES, 3, padding=1)
            )
            last, last_bias = self.head[-1], self.head[-1].bias.view(OUT_PLANES, 1)
        else:
            self.out = nn.Conv2d(w[0], OUT_PLANES * UNSHUFFLE**2, 3, padding=1)
            self.head = None
            last, last_bias = self.out, self.out.bias.view(OUT_PLANES, UNSHUFFLE**2)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        with torch.no_grad():  # the history gate starts mostly closed: sigmoid(-2) = 0.12
            last_bias[3].fill_(GATE_INIT)

    def forward(
        self, planes: torch.Tensor, prompt: torch.Tensor, sigma: torch.Tensor, history_sigma: torch.Tensor
    ) -> torch.Tensor:
        cond = self.cond(torch.cat([prompt, noise_level_embedding(sigma), noise_level_embedding(history_sigma)], dim=1))
        stem = self.stem(planes) if self.stem is not None else None
        x = self.inp(F.pixel_unshuffle(planes if stem is None else torch.cat([planes, stem], dim=1), UNSHUFFLE))
        skips = []
        for level, blocks in enumerate(self.down):
            for block in blocks:
                x = block(x, cond)
            if level < len(self.downsample):
                skips.append(x)
                x = self.downsample[level](x)
        for level in reversed(range(len(self.up))):
            x = self.upsample[level](F.interpolate(x, scale_factor=2, mode="nearest"))
            x = self.merge[level](torch.cat([x, skips[level]], dim=1))
            for block in self.up[level]:
                x = block(x, cond)
        pixels = F.pixel_shuffle(self.out(F.silu(x)), UNSHUFFLE)
        return pixels if self.head is None else self.head(torch.cat([F.silu(pixels), stem], dim=1))


def flops(config: NetworkConfig, height: int = 256, width: int = 256) -> float:
    """Multiply-adds x 2 of one forward pass at height x width (convolutions and linears,
    which are nearly all of it), counted by running the network on the meta device."""
    from torch.utils.flop_counter import FlopCounterMode

    net = Denoiser(config).to("meta")
    inputs = {"x": (3,), "game": (6,), "history": (3,), "mask": (1,), "history_noise": (3,)}
    args = {n: torch.zeros(1, c, height, width, device="meta") for n, (c,) in inputs.items()}
    scalars = {n: torch.zeros(1, device="meta") for n in ("sigma", "history_sigma", "history_trust")}
    with FlopCounterMode(display=False) as counter:
        net(prompt=torch.zeros(1, EMBED_DIM, device="meta"), **args, **scalars)
    return float(counter.get_total_flops())


def game_planes(color: torch.Tensor, depth: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """The engine buffers as network inputs (N, 6, H, W): color in [-1, 1] (from 0..1),
    log depth in [0, 1], motion in units of MOTION_SCALE px, clipped."""
    # Beyond DEPTH_FAR (the protocol's sky depth) is sky: a far plane sent as depth reads as it.
    depth_feature = torch.log1p(depth.clamp(min=0, max=DEPTH_FAR)) / torch.log1p(torch.tensor(DEPTH_FAR))
    return torch.cat([color * 2 - 1, depth_feature, (motion / MOTION_SCALE).clamp(-1, 1)], dim=1)


class Denoiser(nn.Module):
    """D(x, sigma | game, history, prompt): the clean-image estimate, EDM-preconditioned,
    blended per pixel with the warped previous output by a learned gate.

    `game` is `game_planes(...)` (N, 6, H, W); `history` the warped previous output in
    [-1, 1] (N, 3, H, W); `mask` its validity (N, 1, H, W). Diffusion Forcing: the network
    sees the history noised to `history_sigma` with the unit noise `history_noise` (an
    input, so runs are reproducible and the exported graph has no random op). The gate
    lets it copy the clean history where it is valid and trustworthy, which is what keeps
    detail that the game's buffers do not show steady from frame to frame; the gate is
    zero wherever the mask is, and the history itself is zeroed there before the network
    sees it: a warp that reads off screen or across a disocclusion gives no pixels to copy
    (clamped edge pixels, fed unmasked, became streaks that the history carried on).

    `history_trust` (N,) is added to the gate's logit: 0 is the network as trained; a
    positive value makes it copy its history more readily (steadier, at the risk of
    carrying its own errors further, and of holding on to the old look after a prompt
    change). It is a graph input, not a constant, because the right value changes from
    frame to frame: the weights' `config.json` ("inference") holds the steady-state value
    and the stream lowers it while a new prompt comes in (`stream.HistoryTrust`)."""

    def __init__(self, config: NetworkConfig = NetworkConfig()):
        super().__init__()
        self.net = ReverieUNet(config)

    @property
    def config(self) -> NetworkConfig:
        return self.net.config

    def forward(
        self,
        x: torch.Tensor,
        sigma: torch.Tensor,
        game: torch.Tensor,
        history: torch.Tensor,
        mask: torch.Tensor,
        history_sigma: torch.Tensor,
        history_noise: torch.Tensor,
        prompt: torch.Tensor,
        history_trust: torch.Tensor,
    ) -> torch.Tensor:
        stride = self.config.stride
        if x.shape[-2] % stride or x.shape[-1] % stride:
            raise ValueError(f"height and width must be multiples of {stride}, got {x.shape[-2]}x{x.shape[-1]}")
        c_skip, c_out, c_in, _ = (c.reshape(-1, 1, 1, 1) for c in precondition(sigma))
        h_sigma = history_sigma.reshape(-1, 1, 1, 1)
        h_in = precondition(history_sigma)[2].reshape(-1, 1, 1, 1)
        # invalid history (off screen, disoccluded) reaches the network as zeros, never as clamped edges
        history = history * mask
        noisy_history = history + h_sigma * history_noise
        planes = torch.cat([x * c_in, game, noisy_history * h_in, mask * 2 - 1], dim=1)
        out = self.net(planes, prompt, sigma, history_sigma)
        estimate = c_skip * x + c_out * out[:, :3]
        gate = torch.sigmoid(out[:, 3:] + history_trust.reshape(-1, 1, 1, 1)) * mask
        return estimate + gate * (history - estimate)
