"""Captured game frames paired with target frames, as training batches (`train.Batch`).

What `reverie finetune` learns from: a game's own captures (the frames it submitted to
the daemon: color, depth, motion, reset) and, for every captured frame, a target image of
the look it should have, made by any tool. Batches are short runs of consecutive frames
that never cross a cut, at the model's working size (what the daemon would run them at),
randomly cropped to the training size, all under one prompt embedding: the pack's.

Captures arrive as `Capture`s (a name and its frames in recorded order): `reverie
finetune` (modding/finetune_cli.py) reads them from the daemon's capture files
(`bridge/capture.py`, docs/capture.md), since this package knows nothing of the bridge.
Targets are PNG files named by capture and frame number:

    TARGETS/<capture file name without .rvcap>/<frame number, 6 digits>.png
    e.g. captures/level1.rvcap, frame 42  ->  targets/level1/000042.png

where the frame number is the frame's position in its capture file, from 0 (every
recorded frame, dropped ones too: they are frames the game submitted). Each target is at
the captured frame's own size (the game's resolution). A missing or wrong-size target
is an error naming the file, raised before any training starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .resize import game_to_model, working_size
from .train import Batch
from .world.images import read_png


class TargetError(ValueError):
    """A target frame that is missing or does not fit its captured frame."""


@dataclass(frozen=True)
class CapturedFrame:
    """One frame as the game submitted it (the engine's conventions, docs/protocol.md)."""

    number: int  # the frame's number within its capture: names its target
    color: np.ndarray  # (H, W, 4) or (H, W, 3) uint8 sRGB
    depth: np.ndarray  # (H, W) float32 meters
    motion: np.ndarray  # (H, W, 2) float pixels, previous position = current + motion
    reset: bool  # a cut: no history from the frame before


@dataclass(frozen=True)
class Capture:
    name: str
    frames: list[CapturedFrame]


def target_path(targets: Path, capture: str, number: int) -> Path:
    """Where the target of frame `number` of capture `capture` lives."""
    return Path(targets) / capture / f"{number:06d}.png"


def read_target(targets: Path, capture: str, frame: CapturedFrame) -> np.ndarray:
    """The (H, W, 3) uint8 target of one captured frame; TargetError if it is missing or
    not the captured frame's size."""
    path = target_path(targets, capture, frame.number)
    if not path.is_file():
        raise TargetError(
            f"missing target {path} for frame {frame.number} of capture {capture!r} "
            f"(targets are TARGETS/<capture>/<frame:06d>.png)"
        )
    image = read_png(path)
    height, width = frame.depth.shape
    if image.shape[:2] != (height, width):
        raise TargetError(
            f"target {path} is {image.shape[1]}x{image.shape[0]}, but frame {frame.number} "
            f"of capture {capture!r} is {width}x{height}"
        )
    return image


@dataclass
class _Clip:
    """One capture at the working size, as tensors along the frame axis."""

    color: torch.Tensor  # (N, 3, h, w) 0..1
    depth: torch.Tensor  # (N, 1, h, w)
    motion: torch.Tensor  # (N, 2, h, w) working-size pixels
    target: torch.Tensor  # (N, 3, h, w) -1..1
    starts: np.ndarray  # frame indices a sequence may start at (no cut inside it)


def _to_working_size(frame: CapturedFrame, target: np.ndarray, size: tuple[int, int]) -> tuple[torch.Tensor, ...]:
    """The frame as the daemon would feed it (`resize.game_to_model`), the target resized
    like the color (antialiased bilinear), in -1..1."""
    color, depth, motion = game_to_model(frame.color, frame.depth, np.asarray(frame.motion, np.float32), size)
    target_t, _, _ = game_to_model(target, frame.depth, np.asarray(frame.motion, np.float32), size)
    return color[0], depth[0], motion[0], target_t[0] * 2 - 1


class CapturePairs:
    """An endless source of `train.Batch`es from captures and their targets, with the
    state a resumed run needs (`state`/`restore`, as `train.WorldBatches`)."""

    def __init__(
        self,
        captures: Iterable[Capture],
        targets: Path,
        prompt: np.ndarray,
        batch: int,
        sequence: int,
        crop: int,
        stride: int,
        seed: int = 0,
        work_height: int = 256,
    ):
        self.batch, self.sequence = batch, sequence
        self.prompt = torch.from_numpy(np.array(prompt, np.float32))
        self.rng = np.random.default_rng([seed, 77])
        self.steps = 0
        self.clips: list[_Clip] = []
        self.frames = 0
        for capture in captures:
            clip = self._load(capture, Path(targets), work_height, stride)
            if clip is not None:
                self.clips.append(clip)
                self.frames += clip.color.shape[0]
        if not self.clips:
            raise ValueError(f"no capture holds {sequence} consecutive frames without a cut: nothing to train on")
        height, width = self.clips[0].color.shape[-2:]
        if any(c.color.shape[-2:] != (height, width) for c in self.clips):
            raise ValueError("every capture must have the same frame size (batches stack them)")
        self.crop = (min(crop, height) // stride * stride, min(crop, width) // stride * stride)
        self._weights = np.array([len(c.starts) for c in self.clips], np.float64)
        self._weights /= self._weights.sum()

    def _load(self, capture: Capture, targets: Path, work_height: int, stride: int) -> _Clip | None:
        """Every frame and target of one capture at the working size; None if it has no run
        of `sequence` frames without a cut."""
        frames = capture.frames
        if not frames:
            return None
        height, width = frames[0].depth.shape
        size = working_size(width, height, work_height, stride)
        # every target checked
        planes = [_to_working_size(f, read_target(targets, capture.name, f), size) for f in frames]
        color, depth, motion, target = (torch.stack([p[i] for p in planes]) for i in range(4))
        resets = np.array([f.reset for f in frames], bool)
        # A sequence starting at s uses frames s..s+T-1; a cut at s is fine (its first frame
        # has no history anyway), a cut at s+1..s+T-1 would chain history across it.
        cuts = np.concatenate([np.cumsum(resets), [0]])
        starts = np.array(
            [s for s in range(len(frames) - self.sequence + 1) if cuts[s + self.sequence - 1] - cuts[s] == 0], np.int64
        )
        if not len(starts):
            return None
        return _Clip(color, depth, motion, target, starts)

    def state(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "steps": self.steps}

    def restore(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.steps = state["steps"]

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        self.steps += 1
        crop_h, crop_w = self.crop
        parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("color", "depth", "motion", "target")}
        for _ in range(self.batch):
            clip = self.clips[int(self.rng.choice(len(self.clips), p=self._weights))]
            start = int(clip.starts[int(self.rng.integers(len(clip.starts)))])
            height, width = clip.color.shape[-2:]
            y, x = int(self.rng.integers(height - crop_h + 1)), int(self.rng.integers(width - crop_w + 1))
            window = (slice(start, start + self.sequence), slice(None), slice(y, y + crop_h), slice(x, x + crop_w))
            for key in parts:
                parts[key].append(getattr(clip, key)[window])
        stacked = {key: torch.stack(value) for key, value in parts.items()}
        return Batch(
            stacked["color"],
            stacked["depth"],
            stacked["motion"],
            stacked["target"],
            self.prompt.expand(self.batch, -1).clone(),
        )
