"""The stream: frame after frame through the denoiser, each one's history the previous
output. One `Stream` serves the daemon's stylizer (`stylize.ModelStylizer`), evaluation
(`evaluate.rollout`) and the prompt-switch measurement (`prompt_switch.stream`), so what
is evaluated is what ships.

Per frame (`Stream.step`, on the engine buffers at the model's working size):

1. the prompt embedding of this frame: a `text.PromptBlend` moving to the newest prompt;
2. the history: the previous output warped by the engine motion and masked by the depth
   test against the previous depth (none after a reset or at the start);
3. the history trust of this frame (`HistoryTrust`: the look's steady trust, lowered
   while a new prompt comes in);
4. `steps` sampler steps through the given denoise callable (a backend's, or the torch
   module's); the result is kept as the next frame's history.

The order of random draws is part of the contract (a seed, a prompt and the frames since a
reset reproduce a stream): the history noise first, then whatever the sampler draws.
`reset_history` restarts the noise at the seed; `drop_history` leaves it running (an
evaluation rollout drops the history at a cut and keeps drawing).

Static skip: when a host frame is exactly the last processed one (all motion zero, the
same color and depth bytes), with no reset, the same prompt embedding and the same
settings, the last output can be shown again without a model call (StreamDiffusion's
similarity filter, made exact with the engine's own buffers): `is_static_repeat` decides,
`remember` keeps what the next frame is compared with. The caller skips on host frames
only: on device frames the comparison would make the CPU wait for the GPU every frame,
which costs more than the model call it saves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .diffusion import HISTORY_SIGMA, SIGMA_MAX, START_NOISE, sample
from .history import MODEL_TOLERANCE, valid_history, warp
from .look_trust import LookTrust
from .network import game_planes
from .text import PromptBlend

Denoise = Callable[[dict[str, torch.Tensor]], torch.Tensor]  # the network's named inputs -> the clean estimate

SKIP_PROBE_ROWS = 8  # the skip check compares every 8th row first: a changed frame exits early
TRUST_RECOVERY_FRAMES = 4  # frames after a prompt transition over which the history trust returns


class HistoryTrust:
    """The history gate's trust, frame by frame: `steady` while the prompt holds; 0 while a
    new prompt blends in; then back to `steady` in TRUST_RECOVERY_FRAMES equal steps.

    Why: trust makes the stream steady by copying the warped history, but right after a
    prompt change the history is the old prompt's picture. On the shipped weights (steady
    trust 4, `python -m reverie.model.prompt_switch`), a constant trust kept the old look
    for 26 of the 35 frames measured after a 5-frame transition (mean over 8 style
    changes); with this schedule the new look was there within 0.5 frames
    (docs/model.md, "Prompt changes")."""

    def __init__(self, steady: float = 0.0):
        self.steady = float(steady)
        self._frame: int | None = None  # frames since the prompt change; None: no change under way
        self._transition = 0

    def prompt_changed(self, transition_frames: int, steady: float | None = None) -> None:
        """A new prompt from now on, blended in over `transition_frames`; `steady`: the new
        look's own trust (None: the same as the old one's)."""
        if steady is not None:
            self.steady = float(steady)
        if self.steady:  # at 0 there is nothing to lower (and the static skip need not wait)
            self._frame, self._transition = 0, int(transition_frames)

    @property
    def settled(self) -> bool:
        """True when the next frame runs at the steady trust (no change under way)."""
        return self._frame is None

    def advance(self) -> float:
        """This frame's trust; then one frame further."""
        if self._frame is None:
            return self.steady
        after = self._frame - self._transition + 1  # 1 on the first frame at the new prompt
        self._frame += 1
        if after >= TRUST_RECOVERY_FRAMES:
            self._frame = None
        return self.steady * max(0, after) / TRUST_RECOVERY_FRAMES


def next_output(
    denoise: Denoise,
    game: torch.Tensor,
    depth: torch.Tensor,
    motion: torch.Tensor,
    prompt: torch.Tensor,
    previous: torch.Tensor | None,
    previous_depth: torch.Tensor | None,
    steps: int,
    generator: torch.Generator,
    history_trust: float = 0.0,
    start_sigma: float | None = None,
) -> torch.Tensor:
    """One frame's model output (1, 3, H, W) in [-1, 1].

    `game` is `network.game_planes(...)`, `depth` (1, 1, H, W) and `motion` (1, 2, H, W) the
    engine buffers at the model's size, `prompt` (1, 384), all on one device, where
    `generator` draws too. `previous` is the last output (None after a cut or at the
    start), warped here by the engine motion and masked by the depth test against
    `previous_depth`. `history_trust` is added to the history gate's logit
    (`network.Denoiser`). `start_sigma` starts the sampler from that history noised to
    this level (SDEdit; an evaluation option, not the default)."""
    height, width = game.shape[-2:]
    shape = (1, 3, height, width)
    device = game.device  # everything is made where the frame is: no host round trip on a GPU
    if previous is not None:
        history = warp(previous, motion)
        mask = valid_history(previous_depth, motion, depth, MODEL_TOLERANCE)
    else:
        history, mask = torch.zeros(shape, device=device), torch.zeros(1, 1, height, width, device=device)
    inputs = {
        "game": game,
        "history": history,
        "mask": mask,
        "history_sigma": torch.full((1,), HISTORY_SIGMA, device=device),
        "history_noise": torch.randn(shape, generator=generator, device=device),
        "prompt": prompt,
        "history_trust": torch.full((1,), float(history_trust), device=device),
    }
    start = start_sigma if (start_sigma is not None and bool(mask.any())) else None
    return sample(
        lambda x, sigma: denoise({"x": x, "sigma": sigma, **inputs}),
        shape,
        steps,
        generator,
        sigma_max=start or SIGMA_MAX,
        device=device,
        init=history if start else None,
        start_noise=1.0 if start else START_NOISE,
    ).clamp(-1, 1)


class Stream:
    """The state a stream carries from frame to frame (history, prompt blend, history
    trust, noise) and the step that advances it; see the module's docstring.

    `prompt`: the starting embedding; `look_trust`: the steady trust per look (the
    weights' "inference" settings; None: 0, the network as trained); `device`: where the
    frames' tensors, the noise and the prompt tensor live. `trust_follows_prompt=False`
    keeps the starting look's steady trust through prompt changes (the constant policy
    `prompt_switch` compares with)."""

    def __init__(
        self,
        prompt: np.ndarray,
        look_trust: LookTrust | None = None,
        *,
        seed: int = 0,
        steps: int = 1,
        device: str = "cpu",
        trust_follows_prompt: bool = True,
    ):
        self.device = device
        self.steps = int(steps)
        self.seed = int(seed)
        self.generator = torch.Generator(device=device).manual_seed(self.seed)
        self.trust_follows_prompt = trust_follows_prompt
        self._blend = PromptBlend(prompt)
        self._blend_left = 0  # frames until the blend sits on the newest prompt
        self._look_trust = look_trust = look_trust or LookTrust()
        self._trust = HistoryTrust(look_trust(self._blend.target))
        self._previous: torch.Tensor | None = None  # the last output (1, 3, h, w) in [-1, 1]: the history
        self._previous_depth: torch.Tensor | None = None
        self._embedding: np.ndarray | None = None  # the last frame's prompt embedding
        self._prompt: tuple[np.ndarray, torch.Tensor] | None = None  # the last embedding and its tensor on the device
        self.prompt_copies = 0  # prompt embeddings copied to a device other than the CPU
        self._last: dict[str, Any] | None = None  # what the static skip compares with

    # ------------------------------------------------------------ between frames
    @property
    def history_trust(self) -> float:
        """The steady trust of the prompt the stream is at or moving to."""
        return self._trust.steady

    def set_prompt(self, embedding: np.ndarray, transition_frames: int) -> None:
        """Blend to `embedding` over `transition_frames` frames: the embedding moves linearly
        (and re-normalized) and is exactly the new one from the transition_frames-th frame
        on. A new embedding lowers the history trust for the transition (`HistoryTrust`)."""
        target = np.asarray(embedding, np.float32)
        if self.trust_follows_prompt and not np.array_equal(target, self._blend.target):
            self._trust.prompt_changed(transition_frames, self._look_trust(target))
        self._blend.set(target, transition_frames)
        self._blend_left = transition_frames

    def set_steps(self, steps: int) -> None:
        """Sampler steps per frame from the next frame on."""
        if steps != self.steps:
            self.steps, self._last = int(steps), None

    def set_seed(self, seed: int) -> None:
        """A new seed restarts the noise from it at once."""
        if seed != self.seed:
            self.seed, self._last = int(seed), None
            self.generator.manual_seed(self.seed)

    def use_look_trust(self, look_trust: LookTrust) -> None:
        """Other weights' steady trusts from now on; a prompt transition under way goes on
        at the new steady trust."""
        self._look_trust = look_trust
        trust = HistoryTrust(look_trust(self._blend.target))
        if not self._trust.settled:
            trust.prompt_changed(self._blend_left)
        self._trust = trust

    def drop_history(self) -> None:
        """The next output depends on its own frame only; the noise runs on."""
        self._previous = self._previous_depth = None

    def reset_history(self) -> None:
        """Forget the previous frames and restart the noise at the seed, so that the frames
        from here on give what a fresh stream with this prompt state would give them. A
        prompt transition under way goes on (a camera cut must not end one)."""
        self.drop_history()
        self._last = None
        self.generator.manual_seed(self.seed)

    def restart(self) -> None:
        """The state of a fresh stream at the current prompt and settings: no history, no
        prompt blend or history-trust recovery under way, the noise at the seed.

        Why: `reset_history` keeps a prompt transition going, so after it the outputs still
        depend on what came before; after `restart` they depend on the frames alone."""
        self._blend = PromptBlend(self._blend.target)
        self._blend_left = 0
        self._trust = HistoryTrust(self._trust.steady)
        self.reset_history()

    # ------------------------------------------------------------ the frame
    def step(
        self,
        color01: torch.Tensor,
        depth: torch.Tensor,
        motion: torch.Tensor,
        denoise: Denoise,
        start_sigma: float | None = None,
    ) -> torch.Tensor:
        """The next output (1, 3, h, w) in [-1, 1] for the engine buffers at the working size
        (`resize.game_to_model`: color in 0..1, depth in meters, motion in pixels, each
        (1, C, h, w) on the stream's device), kept as the next frame's history."""
        game = game_planes(color01, depth, motion)
        self._embedding = self._blend.advance()
        self._blend_left = max(0, self._blend_left - 1)
        prompt = self._prompt_tensor(self._embedding)
        with torch.no_grad():
            result = next_output(
                denoise,
                game,
                depth,
                motion,
                prompt,
                self._previous,
                self._previous_depth,
                self.steps,
                self.generator,
                self._trust.advance(),
                start_sigma,
            )
        self._previous, self._previous_depth = result, depth
        return result

    def _prompt_tensor(self, embedding: np.ndarray) -> torch.Tensor:
        """The embedding as a (1, D) tensor on the device, copied only when it changed."""
        if self._prompt is None or not np.array_equal(self._prompt[0], embedding):
            self._prompt = (embedding, torch.tensor(embedding)[None].to(self.device))
            self.prompt_copies += self.device != "cpu"
        return self._prompt[1]

    # ------------------------------------------------------------ the static skip
    def invalidate_repeat(self) -> None:
        """A setting outside the stream changed what its output looks like (the display's
        strength): the next frame is stylized even if it repeats the last one."""
        self._last = None

    def is_static_repeat(self, color: np.ndarray, depth: np.ndarray, motion: np.ndarray, reset: bool) -> bool:
        """The host frame (color, depth, motion at any size) is exactly the last remembered
        one, with the camera still, no reset, and no prompt transition under way."""
        last = self._last
        if last is None or reset or last["color"].shape != color.shape:
            return False
        if (
            self._blend_left > 0
            or not self._trust.settled
            or not np.array_equal(self._blend.current(), last["embedding"])
        ):
            return False  # a prompt transition is under way (its first frame repeats the old embedding)
        step = SKIP_PROBE_ROWS
        if motion[::step].any() or not np.array_equal(color[::step], last["color"][::step]):
            return False
        return not motion.any() and np.array_equal(color, last["color"]) and np.array_equal(depth, last["depth"])

    def remember(self, color: np.ndarray, depth: np.ndarray, output: np.ndarray) -> None:
        """Keep copies of the host frame just stylized and what was shown for it: what the
        next frame's `is_static_repeat` compares with, and `last_output` repeats."""
        last = self._last
        if last is None or last["color"].shape != color.shape:
            last = self._last = {
                "color": np.empty_like(color),
                "depth": np.empty_like(depth),
                "output": np.empty_like(output),
            }
        np.copyto(last["color"], color)
        np.copyto(last["depth"], depth)
        np.copyto(last["output"], output)
        last["embedding"] = self._embedding

    @property
    def last_output(self) -> np.ndarray:
        """What was shown for the remembered frame (valid after `is_static_repeat` said yes)."""
        assert self._last is not None
        return self._last["output"]
