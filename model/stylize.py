"""The model as the daemon's stylizer stage: one game frame in, one stylized frame out.

`ModelStylizer` implements the daemon's contract (`reverie.common.stylizer`) around a
`stream.Stream`, which carries the history, the prompt blend and the history trust from
frame to frame. Per frame:

1. a frame that repeats the last one exactly (host frames only) is answered with the last
   output, without a model call (`Stream.is_static_repeat`; `stylize` returns
   `STATIC_SKIP`, `counters["skipped"]` counts them);
2. the engine buffers are resized to the working size (`resize.game_to_model`);
3. `Stream.step`, the step evaluation measures: the previous output warped and masked,
   the prompt blend and the history trust of this frame, `steps` sampler steps through
   the backend;
4. the result is blended with the game's color by `strength` and written at the game's
   size (`resize.model_to_game`).

History trust: the weights' steady-state trust for the prompt's look (config.json,
"inference"; `look_trust.LookTrust`) is what the stream runs at; a prompt change lowers it
to 0 for the transition and brings it back, to the new look's, over
`stream.TRUST_RECOVERY_FRAMES` frames (`stream.HistoryTrust`), so the new look replaces the
old one instead of being held off by a history that still shows the old prompt.

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

Device frames: on a CUDA stylizer the daemon may hand over frames in the device ring
(torch tensors); they are never compared for the static skip, which would make the CPU
wait for the GPU every frame, costing more than the model call it saves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reverie.common.stylizer import (
    DEVICE_CPU,
    DEVICE_CUDA,
    STATIC_SKIP,
    STYLIZED,
    Frame,
    StylizerBase,
    StylizeResult,
    WeightsUnsupported,
)

from .backends import Backend, backend_precision, default_backend, load_backend, torch_threads
from .diffusion import MAX_STEPS
from .look_trust import LookTrust
from .resize import game_to_model, model_to_game, working_size
from .stream import Stream
from .weights import DEFAULT_WEIGHTS, look_trust, weights_sha256, weights_stride

DEFAULT_PROMPT = "oil painting"  # what is shown before the first prompt arrives (or for an empty one)
DEFAULT_WORK_HEIGHT = 256
PREPROCESS_THREADS = 1  # see backends.torch_threads
COUNTERS = ("frames", "model_calls", "skipped", "history_resets", "host_device_copies")


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


class ModelStylizer(StylizerBase):
    """The denoiser behind one of the inference backends, as a stylizer stage."""

    def __init__(
        self,
        backend: str | Backend | None = None,
        device: str = DEVICE_CPU,
        weights: Path | str = DEFAULT_WEIGHTS,
        work_height: int = DEFAULT_WORK_HEIGHT,
        prompt: str = DEFAULT_PROMPT,
        *,
        cache: Path | None = None,
        encoder: Callable[[str], np.ndarray] | None = None,
        stride: int | None = None,
        trt_profile: str | None = None,
        threads: int | None = None,
        history_trust: LookTrust | float | None = None,
        precision: str | None = None,
    ):
        """`backend`: a name (None: `backends.default_backend(device)`, openvino on a CPU with
        bf16, else onnxruntime) or a built backend; `precision` forces the backend's
        arithmetic (openvino: "auto", "bf16" or "f32"; see `backends.load_backend`).
        `history_trust`: None, the weights' own (0 for a built backend: the network as
        trained); a number, that trust for every look."""
        self._backend_options: tuple[str, str, dict[str, Any]] | None = None  # to build a backend for other weights
        from_weights = backend is None or isinstance(backend, str)
        if from_weights:
            backend = backend or default_backend(device)
            options = {
                "cache": cache,
                "threads": threads,
                "trt_profile": trt_profile or default_trt_profile(work_height),
                "precision": precision,
            }
            self._backend_options = (backend, device, options)
            backend = load_backend(backend, device, Path(weights), **options)
            stride = stride or weights_stride(Path(weights))
            if history_trust is None:
                history_trust = look_trust(Path(weights))
        if encoder is None:
            from .text import runtime_embedder

            encoder = runtime_embedder()
        self.backend = backend
        self._own_hash = weights_sha256(Path(weights)) if from_weights else None
        # Where frames are processed: "cuda" (the daemon may hand over device frames) or the
        # host; OpenVINO's intel-gpu takes host tensors.
        self.device = DEVICE_CUDA if backend.device == "cuda" else DEVICE_CPU
        self.name = f"model/{backend.name}/{backend.device}/{backend_precision(backend)}"
        self.stride = stride or 16  # a hand-made backend without a stride: the shipped network's
        if work_height < self.stride:
            raise ValueError(f"work_height must be at least {self.stride}, got {work_height}")
        self.work_height = work_height
        self._encode = encoder
        trust = history_trust if isinstance(history_trust, LookTrust) else LookTrust(float(history_trust or 0.0))
        self._stream = Stream(self._embedding(prompt), trust, device=self.device)
        self._own = PreparedWeights(backend, self.stride, trust, None)
        self.weights: Path | None = None  # other weights in use (use_weights), or None: the stylizer's own
        self.strength = 1.0
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._work: tuple[int, int] | None = None  # the working size of the last frame

    # ------------------------------------------------------------ what the daemon reads
    @property
    def counters(self) -> dict[str, int]:
        """frames, model_calls (sampler steps run), skipped (static repeats), history_resets,
        host_device_copies (planes of host frames crossing to a GPU and back, and prompt
        embeddings when they change). A fresh dict of ints: the daemon's I/O thread reads it
        while the frame loop counts."""
        counts = dict(self._counts)
        counts["host_device_copies"] += self._stream.prompt_copies
        return counts

    @property
    def identity(self) -> dict[str, Any]:
        """What makes two stylizers of this name give the same pixels: a capture stores it
        so that a replay can warn when it runs other weights or another backend."""
        return {
            "weights_sha256": weights_sha256(self.weights) if self.weights is not None else self._own_hash,
            "backend": self.backend.name,
            "device": self.backend.device,
            "precision": backend_precision(self.backend),
            "work_height": self.work_height,
            "history_trust": self._stream.history_trust,
        }

    @property
    def steps(self) -> int:
        return self._stream.steps

    @property
    def seed(self) -> int:
        return self._stream.seed

    # ------------------------------------------------------------ control (between frames)
    def _embedding(self, text: str) -> np.ndarray:
        return np.asarray(self._encode(text.strip() or DEFAULT_PROMPT), np.float32)

    def set_prompt(self, text: str, transition_frames: int) -> None:
        """Blend to `text` over `transition_frames` frames: the embedding moves linearly (and
        re-normalized) and is exactly the new prompt's from the transition_frames-th frame on."""
        if transition_frames < 0:
            raise ValueError(f"transition_frames must be >= 0, got {transition_frames}")
        self._stream.set_prompt(self._embedding(text), transition_frames)

    def set_params(self, steps: int | None, strength: float | None, seed: int | None) -> None:
        """Change the given settings (None: keep); a change is never answered by a static skip."""
        if steps is not None and not 1 <= steps <= MAX_STEPS:
            raise ValueError(f"steps must be 1..{MAX_STEPS}, got {steps}")
        if strength is not None and not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be 0..1, got {strength}")
        if steps is not None:
            self._stream.set_steps(steps)
        if strength is not None and strength != self.strength:
            self.strength = float(strength)
            self._stream.invalidate_repeat()
        if seed is not None:
            self._stream.set_seed(seed)

    def restart(self) -> None:
        """The state of a fresh stylizer with the current prompt and settings: no history,
        no prompt blend or history-trust recovery under way, the generator at the seed.

        Why: `reset_history` keeps a prompt transition going (a camera cut must not end
        one), so after it the outputs still depend on what came before. A capture starts
        with `restart` (the daemon's `reset_history` with `full`), and its replay sends the
        same, so the replay reproduces the recording bit for bit whatever either stylizer
        did before."""
        self._stream.restart()
        self._counts["history_resets"] += 1

    def prepare_weights(self, folder: Path | str | None) -> PreparedWeights:
        """A backend for the weights in `folder` (model.safetensors + config.json), built
        like this stylizer's own (same backend kind, device, cache; the ONNX cache is keyed
        by the weights, so a second load is quick); None: the stylizer's own weights.
        Touches no stream state, so it may run on another thread while frames are stylized.
        Raises (BackendError, OSError, ...) with the reason when the weights do not load;
        WeightsUnsupported for a stylizer built around a given backend."""
        if folder is None:
            return self._own
        if self._backend_options is None:
            raise WeightsUnsupported("this stylizer was built around a given backend: it cannot load other weights")
        name, device, options = self._backend_options
        folder = Path(folder)
        backend = load_backend(name, device, folder, **options)
        stride = weights_stride(folder)
        if self.work_height < stride:
            raise ValueError(
                f"these weights need frames in multiples of {stride}, more than the working height {self.work_height}"
            )
        return PreparedWeights(backend, stride, look_trust(folder), folder)

    def use_weights(self, prepared: PreparedWeights) -> None:
        """Run `prepared` (from `prepare_weights`) from the next frame on, from a fresh
        history; the prompt, its transition and the settings carry over."""
        self.backend, self.stride, self.weights = prepared.backend, prepared.stride, prepared.folder
        self._stream.use_look_trust(prepared.look_trust)
        self._work = None  # the working size follows the new stride
        self.reset_history()

    def reset_history(self) -> None:
        """Forget the previous frames: the next output depends on its own frame only."""
        self._stream.reset_history()
        self._counts["history_resets"] += 1

    # ------------------------------------------------------------ the frame
    def stylize(self, frame: Frame, out: np.ndarray | torch.Tensor) -> StylizeResult:
        """Stylize `frame` (color, depth, motion, reset) into `out` (H, W, 4).

        The planes and `out` are numpy views of the host ring, or (on a CUDA stylizer) torch
        tensors in the device ring: then the frame never leaves the GPU and no step waits
        for it (`counters["host_device_copies"]` counts what does cross: the planes of a host
        frame on a GPU, and a prompt embedding when it changes)."""
        with torch_threads(PREPROCESS_THREADS):  # the backend picks its own for the forward pass
            return self._stylize(frame, out)

    def _stylize(self, frame: Frame, out: np.ndarray | torch.Tensor) -> StylizeResult:
        self._counts["frames"] += 1
        on_device = isinstance(frame.color, torch.Tensor)
        if not on_device and self._stream.is_static_repeat(frame.color, frame.depth, frame.motion, frame.reset):
            np.copyto(out, self._stream.last_output)
            self._counts["skipped"] += 1
            return STATIC_SKIP
        game_h, game_w = frame.depth.shape
        work = working_size(game_w, game_h, self.work_height, self.stride)
        if frame.reset or work != self._work:
            self.reset_history()
            self._work = work
        color01, depth, motion = game_to_model(frame.color, frame.depth, frame.motion, work, self.device)
        result = self._stream.step(color01, depth, motion, self.backend.denoise)
        self._counts["model_calls"] += self._stream.steps
        model_to_game(result, out, self.strength, frame.color)
        if self.device != DEVICE_CPU and not on_device:  # color, depth, motion up; the output down; the color to blend
            self._counts["host_device_copies"] += 4 + (self.strength < 1.0)
        if not on_device:
            self._stream.remember(frame.color, frame.depth, out)
        return STYLIZED
