"""The model as the daemon's stylizer stage: one game frame in, one stylized frame out.

`ModelStylizer` fits the bridge's `Stylizer` interface by shape (name, stylize,
set_prompt, set_params, reset_history) without importing the bridge. Per frame:

1. the engine buffers at the working size (`reverie.model.frames`), as network planes;
2. the prompt embedding of this frame (a `PromptBlend` moving to the newest prompt);
3. `step.next_output`, the same function evaluation measures: the previous output
   warped by the engine motion and masked by the depth test (none after a reset, a size
   change or at the start), `steps` sampler steps through the backend;
4. the result is kept as the next frame's history, blended with the game's color by
   `strength` and written at the game's size.

History trust: the weights' steady-state trust for the prompt's look (config.json,
"inference"; `look_trust.LookTrust`) is what the stream runs at; a prompt change lowers it
to 0 for the transition and brings it back, to the new look's, over `TRUST_RECOVERY_FRAMES`
frames (`HistoryTrust`), so the new look replaces the old one instead of being held off by
a history that still shows the old prompt.

Settings:
- `steps` (1..8): sampler steps per frame.
- `strength` (0..1): how much of the stylized image is shown; the rest is the game's own
  color (a display blend: the history always holds the full model output, so strength
  never feeds back into the model).
- `seed`: seeds the noise generator. The generator restarts from the seed whenever the
  seed changes and on every history reset, so a given seed, prompt and sequence of
  frames since a reset always gives the same output.

Weights: `prepare_weights(folder)` builds a backend for other weights (a style pack's
fine-tuned ones) without touching the stream, so the daemon runs it on a worker thread
while frames keep flowing; `use_weights` swaps it in between two frames and resets the
history (the old network's output is no history for the new one). `None` returns to the
weights the stylizer was built with, kept ready, so going back costs nothing.

Static skip: when a frame is exactly the last processed one (all motion zero, the same
color and depth bytes), no reset, the same prompt embedding and the same settings, the
last output is written again without a model call (StreamDiffusion's similarity filter,
made exact with the engine's own buffers). `counters["skipped"]` counts them. Host
frames only: on device frames the comparison would make the CPU wait for the GPU every
frame, which costs more than the model call it saves.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .backends import DEFAULT_WEIGHTS, Backend, backend_precision, default_backend, load_backend, torch_threads, weights_stride
from .backends.cache import sha256_file
from .diffusion import MAX_STEPS
from .frames import game_to_model, model_to_game, working_size
from .look_trust import LookTrust
from .network import game_planes
from .step import next_output
from .text import PromptBlend

DEFAULT_PROMPT = "oil painting"  # what is shown before the first prompt arrives (or for an empty one)
DEFAULT_WORK_HEIGHT = 256
PREPROCESS_THREADS = 1  # see backends.torch_threads
SKIP_PROBE_ROWS = 8  # the skip check compares every 8th row first: a changed frame exits early
TRUST_RECOVERY_FRAMES = 4  # frames after a prompt transition over which the history trust returns


@functools.lru_cache(maxsize=16)
def _weights_hash(weights: Path) -> str | None:
    """sha256 of a weights folder's model.safetensors (5 MB: a few ms, once per folder)."""
    path = Path(weights) / "model.safetensors"
    return sha256_file(path) if path.is_file() else None


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


def default_trt_profile(work_height: int) -> str:
    """TensorRT's sizes when none are given: square at half the working height (small games)
    up to 21:9 at the working height, tuned for a square frame; "128x128:256x256:592x256"
    for 256."""
    h = work_height
    return f"{h // 32 * 16}x{h // 32 * 16}:{h}x{h}:{h * 7 // 3 // 16 * 16}x{h}"


@dataclass(frozen=True)
class PreparedWeights:
    """A backend ready for `ModelStylizer.use_weights`, with what its weights need."""

    backend: Backend
    stride: int
    look_trust: LookTrust
    folder: Path | None  # None: the weights the stylizer was built with


class ModelStylizer:
    """The denoiser behind one of the inference backends, as a stylizer stage."""

    def __init__(self, backend: str | Backend | None = None, device: str = "cpu", weights: Path | str = DEFAULT_WEIGHTS,
                 work_height: int = DEFAULT_WORK_HEIGHT, prompt: str = DEFAULT_PROMPT, *, cache: Path | None = None,
                 encoder: Callable[[str], np.ndarray] | None = None, stride: int | None = None, trt_profile: str | None = None,
                 threads: int | None = None, history_trust: LookTrust | float | None = None, precision: str | None = None):
        """`backend`: a name (None: `backends.default_backend(device)`, openvino on a CPU with
        bf16, else onnxruntime) or a built backend; `precision` forces the backend's
        arithmetic (openvino: "auto", "bf16" or "f32"; see `backends.load_backend`).
        `history_trust`: None, the weights' own (0 for a built backend: the network as
        trained); a number, that trust for every look."""
        self._backend_options: tuple[str, str, dict[str, Any]] | None = None  # to build a backend for other weights
        from_weights = backend is None or isinstance(backend, str)
        if from_weights:
            backend = backend or default_backend(device)
            options = {"cache": cache, "threads": threads, "trt_profile": trt_profile or default_trt_profile(work_height),
                       "precision": precision}
            self._backend_options = (backend, device, options)
            backend = load_backend(backend, device, Path(weights), **options)
            stride = stride or weights_stride(Path(weights))
            if history_trust is None:
                history_trust = LookTrust.of_weights(Path(weights))
        if encoder is None:
            from .text import runtime_embedder

            encoder = runtime_embedder()
        self.backend = backend
        self._own_hash = _weights_hash(Path(weights)) if from_weights else None
        # Where frames are processed: "cuda" (the daemon may hand over device frames) or the
        # host; OpenVINO's intel-gpu takes host tensors.
        self.device = "cuda" if backend.device == "cuda" else "cpu"
        self.name = f"model/{backend.name}/{backend.device}/{backend_precision(backend)}"
        self.stride = stride or 16  # a hand-made backend without a stride: the shipped network's
        if work_height < self.stride:
            raise ValueError(f"work_height must be at least {self.stride}, got {work_height}")
        self.work_height = work_height
        self._encode = encoder
        self._blend = PromptBlend(self._embedding(prompt))
        self._blend_left = 0
        self._look_trust = history_trust if isinstance(history_trust, LookTrust) else LookTrust(float(history_trust or 0.0))
        self._trust = HistoryTrust(self._look_trust(self._blend.target))
        self._own = PreparedWeights(backend, self.stride, self._look_trust, None)
        self.weights: Path | None = None  # other weights in use (use_weights), or None: the stylizer's own
        self.steps, self.strength, self.seed = 1, 1.0, 0
        self._generator = torch.Generator(device=self.device).manual_seed(self.seed)
        self.counters = {"frames": 0, "model_calls": 0, "skipped": 0, "history_resets": 0, "host_device_copies": 0}
        self._prompt: tuple[np.ndarray, torch.Tensor] | None = None  # the last embedding and its copy on the device
        self._previous: torch.Tensor | None = None  # last output (1, 3, h, w) in [-1, 1]: the history
        self._previous_depth: torch.Tensor | None = None
        self._work: tuple[int, int] | None = None
        self._last: dict[str, Any] | None = None  # what the static skip compares with

    # ------------------------------------------------------------ control (between frames)
    def _embedding(self, text: str) -> np.ndarray:
        return np.asarray(self._encode(text.strip() or DEFAULT_PROMPT), np.float32)

    def set_prompt(self, text: str, transition_frames: int) -> None:
        """Blend to `text` over `transition_frames` frames: the embedding moves linearly (and
        re-normalized) and is exactly the new prompt's from the transition_frames-th frame on."""
        if transition_frames < 0:
            raise ValueError(f"transition_frames must be >= 0, got {transition_frames}")
        target = self._embedding(text)
        if not np.array_equal(target, self._blend.target):
            self._trust.prompt_changed(transition_frames, self._look_trust(target))
        self._blend.set(target, transition_frames)
        self._blend_left = transition_frames  # frames until the blend sits on the new prompt

    def set_params(self, steps: int | None, strength: float | None, seed: int | None) -> None:
        if steps is not None and not 1 <= steps <= MAX_STEPS:
            raise ValueError(f"steps must be 1..{MAX_STEPS}, got {steps}")
        if strength is not None and not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be 0..1, got {strength}")
        if steps is not None and steps != self.steps:
            self.steps, self._last = int(steps), None
        if strength is not None and strength != self.strength:
            self.strength, self._last = float(strength), None
        if seed is not None and seed != self.seed:
            self.seed, self._last = int(seed), None
            self._generator.manual_seed(self.seed)

    @property
    def identity(self) -> dict[str, Any]:
        """What makes two stylizers of this name give the same pixels: a capture stores it
        so that a replay can warn when it runs other weights or another backend."""
        return {"weights_sha256": _weights_hash(self.weights) if self.weights is not None else self._own_hash,
                "backend": self.backend.name, "device": self.backend.device, "precision": backend_precision(self.backend),
                "work_height": self.work_height,
                "history_trust": self._trust.steady}

    def restart(self) -> None:
        """The state of a fresh stylizer with the current prompt and settings: no history,
        no prompt blend or history-trust recovery under way, the generator at the seed.

        Why: `reset_history` keeps a prompt transition going (a camera cut must not end
        one), so after it the outputs still depend on what came before. A capture starts
        with `restart` (the daemon's `reset_history` with `full`), and its replay sends the
        same, so the replay reproduces the recording bit for bit whatever either stylizer
        did before."""
        self._blend = PromptBlend(self._blend.target)
        self._blend_left = 0
        self._trust = HistoryTrust(self._trust.steady)
        self.reset_history()

    def prepare_weights(self, folder: Path | str | None) -> PreparedWeights:
        """A backend for the weights in `folder` (model.safetensors + config.json), built
        like this stylizer's own (same backend kind, device, cache; the ONNX cache is keyed
        by the weights, so a second load is quick); None: the stylizer's own weights.
        Touches no stream state, so it may run on another thread while frames are stylized.
        Raises (BackendError, OSError, ...) with the reason when the weights do not load."""
        if folder is None:
            return self._own
        if self._backend_options is None:
            raise ValueError("this stylizer was built around a given backend: it cannot load other weights")
        name, device, options = self._backend_options
        folder = Path(folder)
        backend = load_backend(name, device, folder, **options)
        stride = weights_stride(folder)
        if self.work_height < stride:
            raise ValueError(f"these weights need frames in multiples of {stride}, more than the working height {self.work_height}")
        return PreparedWeights(backend, stride, LookTrust.of_weights(folder), folder)

    def use_weights(self, prepared: PreparedWeights) -> None:
        """Run `prepared` (from `prepare_weights`) from the next frame on, from a fresh
        history; the prompt, its transition and the settings carry over."""
        self.backend, self.stride, self.weights = prepared.backend, prepared.stride, prepared.folder
        self._look_trust = prepared.look_trust
        trust = HistoryTrust(self._look_trust(self._blend.target))
        if not self._trust.settled:  # a prompt transition under way goes on at the new steady trust
            trust.prompt_changed(self._blend_left)
        self._trust = trust
        self._work = None  # the working size follows the new stride
        self.reset_history()

    def reset_history(self) -> None:
        """Forget the previous frames: the next output depends on its own frame only."""
        self._previous = self._previous_depth = None
        self._last = None
        self._generator.manual_seed(self.seed)
        self.counters["history_resets"] += 1

    # ------------------------------------------------------------ the frame
    def stylize(self, frame: Any, out: np.ndarray | torch.Tensor) -> None:
        """Stylize `frame` (a bridge Frame: color, depth, motion, reset) into `out` (H, W, 4).

        The planes and `out` are numpy views of the host ring, or (on a CUDA stylizer) torch
        tensors in the device ring: then the frame never leaves the GPU and no step waits
        for it (`counters["host_device_copies"]` counts what does cross: the planes of a host
        frame on a GPU, and a prompt embedding when it changes)."""
        with torch_threads(PREPROCESS_THREADS):  # the backend picks its own for the forward pass
            self._stylize(frame, out)

    def _stylize(self, frame: Any, out: np.ndarray) -> None:
        self.counters["frames"] += 1
        on_device = isinstance(frame.color, torch.Tensor)
        if not on_device and self._is_static_repeat(frame):
            np.copyto(out, self._last["output"])
            self.counters["skipped"] += 1
            return
        game_h, game_w = frame.depth.shape
        work = working_size(game_w, game_h, self.work_height, self.stride)
        if frame.reset or work != self._work:
            self.reset_history()
            self._work = work
        color01, depth, motion = game_to_model(frame.color, frame.depth, frame.motion, work, self.device)
        game = game_planes(color01, depth, motion)
        embedding = self._blend.advance()
        self._blend_left = max(0, self._blend_left - 1)
        result = next_output(self.backend.denoise, game, depth, motion, self._prompt_tensor(embedding), self._previous,
                             self._previous_depth, self.steps, self._generator, self._trust.advance())
        self.counters["model_calls"] += self.steps
        self._previous, self._previous_depth = result, depth
        model_to_game(result, out, self.strength, frame.color)
        if self.device != "cpu" and not on_device:  # color, depth, motion up; the output down; the color again to blend
            self.counters["host_device_copies"] += 4 + (self.strength < 1.0)
        if not on_device:
            self._remember(frame, out, embedding)

    def _prompt_tensor(self, embedding: np.ndarray) -> torch.Tensor:
        """The embedding as a (1, D) tensor on the device, copied only when it changed."""
        if self._prompt is None or not np.array_equal(self._prompt[0], embedding):
            self._prompt = (embedding, torch.tensor(embedding)[None].to(self.device))
            self.counters["host_device_copies"] += self.device != "cpu"
        return self._prompt[1]

    # ------------------------------------------------------------ the static skip
    def _remember(self, frame: Any, out: np.ndarray, embedding: np.ndarray) -> None:
        """Keep copies of what the next frame's skip check compares with."""
        last = self._last
        if last is None or last["color"].shape != frame.color.shape:
            last = self._last = {"color": np.empty_like(frame.color), "depth": np.empty_like(frame.depth), "output": np.empty_like(out)}
        np.copyto(last["color"], frame.color)
        np.copyto(last["depth"], frame.depth)
        np.copyto(last["output"], out)
        last["embedding"] = embedding

    def _is_static_repeat(self, frame: Any) -> bool:
        """Exactly the last processed frame, with the camera still and nothing else changed."""
        last = self._last
        if last is None or frame.reset or last["color"].shape != frame.color.shape:
            return False
        if self._blend_left > 0 or not self._trust.settled or not np.array_equal(self._blend.current(), last["embedding"]):
            return False  # a prompt transition is under way (its first frame repeats the old embedding)
        step = SKIP_PROBE_ROWS
        motion, color, depth = frame.motion, frame.color, frame.depth
        if motion[::step].any() or not np.array_equal(color[::step], last["color"][::step]):
            return False
        return not motion.any() and np.array_equal(color, last["color"]) and np.array_equal(depth, last["depth"])
