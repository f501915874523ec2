"""Training with Diffusion Forcing and History Augmentation, on sequences the world
renders on the fly.

Each step takes a batch of short sequences. Frame by frame, the history is the previous
frame's ground truth or (History Augmentation) the model's own output for it, rolled out
without gradients, warped by the engine motion and often corrupted; its noise level is
drawn independently of the current frame's (Diffusion Forcing). The loss is EDM's
weighted denoising loss on every frame of the sequence.

Written for `torchrun` data parallelism: under torchrun each rank renders its own worlds
(seeded by rank) and DistributedDataParallel averages the gradients.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch.nn import functional as F

from .adversarial import Critic
from .augment import corrupt_history, misregister
from .cpu_features import kernel_reports_bf16
from .diffusion import HISTORY_SIGMA, SIGMA_MAX, loss_weight, training_sigmas
from .history import MODEL_TOLERANCE, valid_history, warp
from .network import Denoiser, NetworkConfig, game_planes
from .weights import MODEL_FILE, read_config, write_config

ABLATIONS = ("full", "no_augment", "no_history")
TRAIN_WORLD_SEEDS = range(0, 1000)  # evaluation uses seeds from 1000 up: never trained on


@dataclass(frozen=True)
class TrainConfig:
    preset: str = "cpu"
    steps: int = 3000
    batch: int = 8
    size: int = 64  # frames are rendered at size x size (fully convolutional: any size runs later)
    sequence: int = 4  # frames per sequence; the history chain is this long
    lr: float = 1e-3
    weight_decay: float = 0.01
    self_history: float = 0.5  # probability that the history is the model's own output
    corrupt: float = 0.5  # probability of each corruption (History Augmentation)
    history_clean: float = 0.5  # probability the history is fed at HISTORY_SIGMA; else a random level
    drop_history: float = 0.1  # probability of no history at all (a cut)
    prompt_jitter: float = 1.2  # largest norm of the random direction added to a prompt embedding
    ablation: str = "full"  # full | no_augment (history = clean ground truth) | no_history
    runtime_weight: float = 0.0  # loss on the run-time output itself (one step from the prior's mean, own history)
    temporal_weight: float = 0.0  # loss on its frame-to-frame change against the ground truth's (E_warp's residual)
    # loss on the run-time output's consistency under 1-3 px shifts of the frame (grid aliasing)
    shift_weight: float = 0.0
    adversarial_weight: float = 0.0  # the patch critic's hinge loss on the run-time output (model/adversarial.py)
    # step from which the critic trains; its weight on the denoiser ramps up over ADVERSARIAL_RAMP steps
    adversarial_start: int = 0
    # train on crop x crop windows of frames rendered at size x size (the pixel scale of a big frame); 0: whole frames
    crop: int = 0
    # bfloat16 autocast where the CPU has bf16 units (AMX, AVX-512 BF16; `autocast_bf16`); weights, optimizer: float32
    bf16: bool = False
    init: str = ""  # a weights folder to start from (fine-tuning); "" starts from scratch
    worlds: int = 4  # worlds kept loaded; one is replaced every `world_every` steps
    world_every: int = 50
    seed: int = 0
    checkpoint_every: int = 250
    network: NetworkConfig = field(default_factory=NetworkConfig)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["network"] = self.network.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return cls(**{**d, "network": NetworkConfig.from_dict(d.get("network", {}))})


ADVERSARIAL_RAMP = 250

# The presets' recipe (docs/model.md, "The network for the matrix units"). Whole 256x256
# frames, never windows: a network trained on 64x64 windows learned where a window's borders
# are and drew their correction into the interior of a whole frame (lines fixed on the screen).
# The shift term keeps the network's 4x4 cells from printing a lattice under the critic.
SHIPPED_NETWORK = NetworkConfig(widths=(64, 128, 192), blocks=2, cond_dim=256, full_res=16)
PRESETS = {
    "cpu": TrainConfig(
        steps=4000,
        batch=4,
        size=256,
        crop=0,
        sequence=3,
        lr=1e-3,
        runtime_weight=1.0,
        temporal_weight=2.0,
        shift_weight=3.0,
        adversarial_weight=0.1,
        adversarial_start=1000,
        bf16=True,
        checkpoint_every=100,
        network=SHIPPED_NETWORK,
    ),
    "gpu": TrainConfig(
        preset="gpu",
        steps=20000,
        batch=32,
        size=256,
        crop=0,
        sequence=6,
        lr=5e-4,
        worlds=8,
        runtime_weight=1.0,
        temporal_weight=2.0,
        shift_weight=3.0,
        adversarial_weight=0.1,
        adversarial_start=4000,
        network=SHIPPED_NETWORK,
    ),
}


@dataclass
class Batch:
    """A batch of sequences as tensors: frames along dim 1."""

    color: torch.Tensor  # (B, T, 3, H, W) in 0..1
    depth: torch.Tensor  # (B, T, 1, H, W) meters
    motion: torch.Tensor  # (B, T, 2, H, W) pixels
    target: torch.Tensor  # (B, T, 3, H, W) in -1..1, the style's ground truth
    prompt: torch.Tensor  # (B, 384)


class WorldBatches:
    """Batches of short sequences rendered on the fly from a rotating set of worlds, random
    camera paths, start frames, styles and training prompts."""

    def __init__(self, config: TrainConfig, prompt_table: dict[str, np.ndarray], rank: int = 0):
        from .world.camera import PATH_KINDS
        from .world.looks import STYLES

        self.config = config
        self.rng = np.random.default_rng([config.seed, rank])
        self.kinds = PATH_KINDS
        self.styles = list(STYLES)
        self.prompts = {name: [p for p in STYLES[name].train_prompts] for name in self.styles}
        self.prompt_table = prompt_table
        self.worlds: list = []
        self.steps = 0
        while len(self.worlds) < config.worlds:
            self.worlds.append(self._new_world())

    def _new_world(self, seed: int | None = None):
        from .world.renderer import WorldRenderer
        from .world.scene import build_scene

        seed = int(self.rng.choice(TRAIN_WORLD_SEEDS)) if seed is None else seed
        return WorldRenderer(build_scene(seed), self.config.size, self.config.size)

    def state(self) -> dict:
        """What a resumed run needs to draw the same data: the RNG and the loaded worlds."""
        return {
            "rng": self.rng.bit_generator.state,
            "steps": self.steps,
            "world_seeds": [w.scene.seed for w in self.worlds],
        }

    def restore(self, state: dict) -> None:
        for renderer in self.worlds:
            renderer.release()
        self.worlds = [self._new_world(seed) for seed in state["world_seeds"]]
        self.rng.bit_generator.state = state["rng"]
        self.steps = state["steps"]

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        from .world.camera import CameraPath

        c = self.config
        self.steps += 1
        if self.steps % c.world_every == 0:  # keep the data fresh: swap one world
            i = int(self.rng.integers(len(self.worlds)))
            self.worlds[i].release()
            self.worlds[i] = self._new_world()
        arrays = {k: [] for k in ("color", "depth", "motion", "target")}
        prompts = []
        window = min(c.crop or c.size, c.size)  # a crop no smaller than the frame is the whole frame
        for _ in range(c.batch):
            renderer = self.worlds[int(self.rng.integers(len(self.worlds)))]
            path = CameraPath(
                self.kinds[int(self.rng.integers(len(self.kinds)))], renderer.scene, int(self.rng.integers(1 << 30))
            )
            style = self.styles[int(self.rng.integers(len(self.styles)))]
            start = int(self.rng.integers(1, 2000))
            frames = []
            for t in range(start, start + c.sequence):
                frames.append(renderer.render(path.pose(t), path.pose(t - 1), t, styles=(style,)))
            # One window for the whole sequence (motion is in pixels: a crop leaves it as it
            # is); what moves in across the window's edge is history the mask marks invalid.
            y, x = (int(v) for v in self.rng.integers(0, c.size - window + 1, 2))
            rows, cols = slice(y, y + window), slice(x, x + window)
            arrays["color"].append(np.stack([f.color[rows, cols, :3] for f in frames]))
            arrays["depth"].append(np.stack([f.depth[rows, cols] for f in frames]))
            arrays["motion"].append(np.stack([f.motion[rows, cols] for f in frames]))
            arrays["target"].append(np.stack([f.styles[style][rows, cols, :3] for f in frames]))
            table = np.stack([self.prompt_table[p] for p in self.prompts[style]])
            prompts.append(jittered_prompt(table, self.rng, c.prompt_jitter))
        color = torch.from_numpy(np.stack(arrays["color"])).permute(0, 1, 4, 2, 3).float() / 255
        target = torch.from_numpy(np.stack(arrays["target"])).permute(0, 1, 4, 2, 3).float() / 127.5 - 1
        depth = torch.from_numpy(np.stack(arrays["depth"]))[:, :, None]
        motion = torch.from_numpy(np.stack(arrays["motion"])).permute(0, 1, 4, 2, 3)
        return Batch(color, depth, motion, target, torch.from_numpy(np.stack(prompts)))


def jittered_prompt(embeddings: np.ndarray, rng: np.random.Generator, jitter: float) -> np.ndarray:
    """A training prompt embedding near a style's training prompts (k, D): a sparse random
    blend of them, pushed a random distance up to `jitter` in a random direction, unit norm.
    Six prompts per style are too few points to learn a style's region of embedding space
    from; the jitter teaches the model to read the directions that name the style and not
    memorize six vectors, which is what carries it to prompts it never saw."""
    weights = rng.dirichlet(np.full(len(embeddings), 0.3))
    v = weights @ embeddings
    v = v / max(float(np.linalg.norm(v)), 1e-6)
    direction = rng.standard_normal(v.shape[0])
    v = v + jitter * rng.random() * direction / np.linalg.norm(direction)
    return (v / np.linalg.norm(v)).astype(np.float32)


@dataclass
class Adversary:
    """The critic and this step's weight of its term; `seen` collects the run-time outputs
    (detached) with their ground truths and game planes for the critic's own step."""

    critic: Critic
    weight: float
    seen: list[tuple[torch.Tensor, ...]] = field(default_factory=list)  # (output, target, game, prompt) per frame


def sequence_loss(
    model: torch.nn.Module,
    batch: Batch,
    config: TrainConfig,
    generator: torch.Generator,
    adversary: Adversary | None = None,
) -> torch.Tensor:
    """The Diffusion Forcing + History Augmentation loss over one batch of sequences (and,
    with an `adversary`, the critic's verdict on the run-time output)."""
    b, frames = batch.color.shape[:2]
    height, width = batch.color.shape[-2:]
    previous_output: torch.Tensor | None = None
    total = torch.zeros(())
    for t in range(frames):
        game = game_planes(batch.color[:, t], batch.depth[:, t], batch.motion[:, t])
        target = batch.target[:, t]
        history, mask = torch.zeros(b, 3, height, width), torch.zeros(b, 1, height, width)
        if t > 0 and config.ablation != "no_history":
            source = batch.target[:, t - 1]
            motion = batch.motion[:, t]
            if config.ablation == "full":
                own = (torch.rand(b, generator=generator) < config.self_history).reshape(-1, 1, 1, 1)
                source = torch.where(own, previous_output, source)
                bad_warp = (torch.rand(b, generator=generator) < config.corrupt).reshape(-1, 1, 1, 1)
                motion = torch.where(bad_warp, misregister(motion, generator), motion)
            history = warp(source, motion)
            if config.ablation == "full":
                history = corrupt_history(history, generator, config.corrupt)
            mask = valid_history(batch.depth[:, t - 1], batch.motion[:, t], batch.depth[:, t], MODEL_TOLERANCE)
            keep = (torch.rand(b, generator=generator) >= config.drop_history).float().reshape(-1, 1, 1, 1)
            history, mask = history * keep, mask * keep
        # Diffusion Forcing: the history's noise level is drawn independently.
        clean = torch.rand(b, generator=generator) < config.history_clean
        history_sigma = torch.where(
            clean, torch.full((b,), HISTORY_SIGMA), training_sigmas(b, generator).clamp(max=2.0)
        )
        history_noise = torch.randn(history.shape, generator=generator)
        sigma = training_sigmas(b, generator)
        noisy = target + sigma.reshape(-1, 1, 1, 1) * torch.randn(target.shape, generator=generator)
        estimate = model(noisy, sigma, game, history, mask, history_sigma, history_noise, batch.prompt, torch.zeros(b))
        per_sample = F.mse_loss(estimate, target, reduction="none").mean(dim=(1, 2, 3))
        total = total + (loss_weight(sigma) * per_sample).mean() / frames
        runtime_terms = (
            config.runtime_weight > 0
            or config.temporal_weight > 0
            or config.shift_weight > 0
            or (adversary is not None and adversary.weight > 0)
        )
        if config.ablation == "full" and (t + 1 < frames or runtime_terms):
            # The model's own output for this frame as the daemon computes it (one sampler
            # step from the prior's mean is D(0, SIGMA_MAX)): tomorrow's history, and with
            # the run-time terms a training target itself. It sees this frame's training
            # history, augmented as above: trained on the daemon's clean own-history chain
            # instead, the model learned to freeze and drift (docs/model.md, "Tried").
            inference_history_sigma = torch.full((b,), HISTORY_SIGMA)
            inference_noise = torch.randn(history.shape, generator=generator)
            with torch.set_grad_enabled(runtime_terms and torch.is_grad_enabled()):
                output = model(
                    torch.zeros_like(target),
                    torch.full((b,), SIGMA_MAX),
                    game,
                    history,
                    mask,
                    inference_history_sigma,
                    inference_noise,
                    batch.prompt,
                    torch.zeros(b),
                )
            if runtime_terms:
                total = total + runtime_loss(output, previous_output, batch, t, mask, config) / frames
            if adversary is not None and torch.is_grad_enabled():
                adversary.seen.append((output.detach(), target, game, batch.prompt))
                if adversary.weight > 0:
                    total = (
                        total + adversary.weight * adversary.critic.generator_loss(output, game, batch.prompt) / frames
                    )
            if config.shift_weight > 0 and torch.is_grad_enabled():
                inputs = (game, history, mask, inference_noise)
                total = (
                    total
                    + config.shift_weight * shift_inconsistency(model, output, inputs, batch.prompt, generator) / frames
                )
            previous_output = output.detach().clamp(-1, 1)
    return total


def runtime_loss(
    output: torch.Tensor,
    previous_output: torch.Tensor | None,
    batch: Batch,
    t: int,
    mask: torch.Tensor,
    config: TrainConfig,
) -> torch.Tensor:
    """The run-time output against the ground truth (MSE), and its change since the
    previous frame's run-time output (warped by the engine motion, where the history is
    valid) against the ground truth's own change (squared).

    Why: the denoising loss trains every noise level but the one the daemon runs at
    (sigma 20 from the prior's mean lies far in the log-normal's tail). Fine-tuning the
    shipped weights on the run-time MSE raised PSNR by about 0.4 dB and removed pencil's
    first-lap loss. The temporal term is small at the weight used (2); much larger weights
    made things worse (docs/model.md)."""
    target = batch.target[:, t]
    loss = config.runtime_weight * F.mse_loss(output, target)
    if config.temporal_weight > 0 and t > 0 and previous_output is not None:
        motion = batch.motion[:, t]
        change = output - warp(previous_output, motion)
        truth_change = target - warp(batch.target[:, t - 1], motion)
        residual = ((change - truth_change) ** 2 * mask).sum() / (3 * mask.sum()).clamp(min=1.0)
        loss = loss + config.temporal_weight * residual
    return loss


SHIFT_MARGIN = 8  # pixels at a window's edge left out of the shift comparison (padding reaches in)


def shift_inconsistency(
    model: torch.nn.Module,
    output: torch.Tensor,
    inputs: tuple[torch.Tensor, ...],
    prompt: torch.Tensor,
    generator: torch.Generator,
) -> torch.Tensor:
    """Mean absolute difference between the run-time output of a window of the frame that
    starts 1-3 px off the network's grid and the same window of the whole frame's output.

    Why: the network works on 4x4 pixel-unshuffled planes, so content that slides across
    the grid can come out differently at each phase: a shimmer under slow camera motion
    that no history gate removes (thermal's sky, docs/model.md). Integer shifts are exact,
    so the target needs no resampling, and no history trust is learned from it."""
    stride = model.module.config.stride if hasattr(model, "module") else model.config.stride
    height, width = output.shape[-2:]
    size_y, size_x = height - stride, width - stride
    dy, dx = (int(v) for v in torch.randint(1, 4, (2,), generator=generator))
    window = [t[..., dy : dy + size_y, dx : dx + size_x] for t in inputs]
    game, history, mask, noise = window
    b = output.shape[0]
    shifted = model(
        torch.zeros_like(history),
        torch.full((b,), SIGMA_MAX),
        game,
        history,
        mask,
        torch.full((b,), HISTORY_SIGMA),
        noise,
        prompt,
        torch.zeros(b),
    )
    m = SHIFT_MARGIN
    same = output[..., dy + m : dy + size_y - m, dx + m : dx + size_x - m]
    return (shifted[..., m : size_y - m, m : size_x - m] - same).abs().mean()


# ---------------------------------------------------------------- checkpoints
CRITIC_WEIGHTS = "critic.safetensors"  # beside model.safetensors in a checkpoint folder; never published


def autocast_bf16(config: TrainConfig, flags: set[str] | None = None) -> bool:
    """Whether this run autocasts to bf16: asked for by the config and computed natively by
    this CPU. Emulated bf16 is several times slower than float32 (`cpu_features`)."""
    return config.bf16 and bool(kernel_reports_bf16(flags))


def save_checkpoint(
    folder: Path,
    step: int,
    model: Denoiser,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    generator: torch.Generator,
    data_state: dict | None = None,
    wall_s: float = 0.0,
    lineage: list[dict] | None = None,
    critic: Critic | None = None,
) -> Path:
    """model.safetensors (weights only, what ships) + critic.safetensors (the critic's weights,
    with a critic) + state.pt (optimizer, RNGs, the critic with its optimizer) + config.json.
    `lineage`: the runs these weights were fine-tuned from, oldest first (see `init_lineage`).

    Why the critic twice: state.pt (50 MB) stays out of git, the critic's weights (5 MB) do
    not, so a run that starts from a committed checkpoint with `--init` gets a trained critic
    instead of one that needs hundreds of steps before its verdict means anything."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / MODEL_FILE))
    if critic is not None:
        save_file({k: v.contiguous() for k, v in critic.net.state_dict().items()}, str(folder / CRITIC_WEIGHTS))
    torch.save(
        {
            "step": step,
            "optimizer": optimizer.state_dict(),
            "generator": generator.get_state(),
            "data": data_state,
            "wall_s": wall_s,
            "critic": critic.state_dict() if critic is not None else None,
        },
        folder / "state.pt",
    )
    meta = {
        "step": step,
        "wall_s": round(wall_s, 1),
        "config": config.to_dict(),
        **({"lineage": lineage} if lineage else {}),
    }
    write_config(folder, meta)
    return folder


def training_config(folder: Path) -> TrainConfig:
    """The training config of a checkpoint or shipped weights folder (the network alone:
    `weights.network_config`)."""
    return TrainConfig.from_dict(read_config(folder)["config"])


def init_lineage(init: str) -> list[dict]:
    """The runs behind a fine-tuning start (`TrainConfig.init`), oldest first: each one's
    step, wall time and config, so shipped weights carry their whole recipe even after the
    run folders are gone."""
    if not init:
        return []
    meta = read_config(Path(init))
    return [*meta.get("lineage", []), {k: meta[k] for k in ("step", "wall_s", "config") if k in meta}]


# ---------------------------------------------------------------- the loop
def _distributed() -> tuple[int, int]:
    """(rank, world size); initializes the process group under torchrun."""
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def prompt_table() -> dict[str, np.ndarray]:
    """Embeddings of every training prompt of every style: from the shipped table
    (`model/prompts.npz`), the sentence encoder only for a prompt missing there (loading it
    costs about 17 s of a run's start)."""
    from .text import TableFirstEncoder, load_prompt_table
    from .world.looks import TRAIN_PROMPTS

    encoder = TableFirstEncoder(load_prompt_table())
    return {p: np.array(encoder.encode(p)) for p in TRAIN_PROMPTS}


class BatchSource(Protocol):
    """Where training batches come from: endless, with the state a resumed run restores."""

    def __next__(self) -> Batch: ...
    def state(self) -> dict: ...
    def restore(self, state: dict) -> None: ...


def train(
    config: TrainConfig, out: Path, resume: bool = False, progress: bool = True, data: BatchSource | None = None
) -> Path:
    """Run (or continue) training into `out`; returns the folder of the final weights.
    `data` replaces the world's batches (`WorldBatches`): `reverie finetune` trains on a
    game's captures with this same loop, loss, checkpoints and resume."""
    rank, world_size = _distributed()
    torch.manual_seed(config.seed + rank)
    generator = torch.Generator().manual_seed(config.seed * 1000 + rank)
    model = Denoiser(config.network)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    critic = Critic() if config.adversarial_weight > 0 else None
    step, wall = 0, 0.0
    data = data if data is not None else WorldBatches(config, prompt_table(), rank)
    latest = out / "latest"
    from safetensors.torch import load_file

    # The runs behind an --init start are read once, with its weights: the init folder may be
    # overwritten while this run trains (publishing into model/weights), and a resumed run
    # keeps the lineage it began with.
    if resume and (latest / "state.pt").is_file():
        lineage = read_config(latest).get("lineage", [])
        model.load_state_dict(load_file(str(latest / MODEL_FILE)))
        state = torch.load(latest / "state.pt", weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        if state.get("data") is not None:
            data.restore(state["data"])
        if critic is not None and state.get("critic") is not None:
            critic.load_state_dict(state["critic"])
        step, wall = state["step"], state["wall_s"]
    else:
        lineage = init_lineage(config.init)
        if config.init:
            model.load_state_dict(load_file(str(Path(config.init) / MODEL_FILE)))
            if critic is not None and (Path(config.init) / CRITIC_WEIGHTS).is_file():
                critic.net.load_state_dict(load_file(str(Path(config.init) / CRITIC_WEIGHTS)))
    bf16 = autocast_bf16(config)
    if config.bf16 and not bf16 and rank == 0 and progress:
        print("bf16 autocast off: this CPU has no bf16 units (AMX, AVX-512 BF16); training in float32", file=sys.stderr)
    trained = model
    if world_size > 1:
        trained = torch.nn.parallel.DistributedDataParallel(model)
    schedule = lambda s: 0.5 * (1 + math.cos(math.pi * min(s, config.steps) / config.steps))  # noqa: E731 cosine decay
    started = time.monotonic() - wall
    losses: list[float] = []
    critic_losses: list[float] = []
    while step < config.steps:
        for group in optimizer.param_groups:
            group["lr"] = config.lr * max(schedule(step), 0.05)
        adversary = None
        if critic is not None and step >= config.adversarial_start:
            ramp = min(1.0, (step - config.adversarial_start) / ADVERSARIAL_RAMP)
            adversary = Adversary(critic, config.adversarial_weight * ramp)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = sequence_loss(trained, next(data), config, generator, adversary)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if adversary is not None:
            fake, real, game, prompts = (torch.cat(parts) for parts in zip(*adversary.seen))
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                critic_losses.append(critic.update(fake, real, game, prompts)["critic"])
        step += 1
        losses.append(float(loss.detach()))
        if rank == 0 and progress and (step % 10 == 0 or step == config.steps):
            done = step / config.steps
            elapsed = time.monotonic() - started
            eta = elapsed / max(done, 1e-9) * (1 - done)
            critic_note = f"  critic {np.mean(critic_losses[-50:]):.3f}" if critic_losses else ""
            print(
                f"\r  [{'#' * int(30 * done):<30}] step {step}/{config.steps}  "
                f"loss {np.mean(losses[-50:]):.4f}{critic_note}  "
                f"{elapsed / 60:.1f} min, eta {eta / 60:.1f} min",
                end="",
                file=sys.stderr,
                flush=True,
            )
        if rank == 0 and (step % config.checkpoint_every == 0 or step == config.steps):
            save_checkpoint(
                latest,
                step,
                model,
                optimizer,
                config,
                generator,
                data.state(),
                time.monotonic() - started,
                lineage,
                critic,
            )
    if rank == 0 and progress:
        print(file=sys.stderr)
    return latest


def with_overrides(config: TrainConfig, **overrides) -> TrainConfig:
    """A preset with some fields changed (None means keep)."""
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})
