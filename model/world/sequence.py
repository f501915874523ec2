"""Sequences of world frames: rendered on the fly (training, the demo game) or written to
disk in chunks (evaluation sets, bug reports) and read back.

On disk, a sequence is a folder:

    meta.json            {"format": 1, "seed", "frames", "width", "height", "path",
                          "styles": [...], "chunk_frames", "chunks": [...], "fps"}
    chunk_00000.npz      np.savez_compressed of `chunk_frames` consecutive frames:
                         frame (n,) int64, reset (n,) bool, color (n,H,W,4) uint8,
                         depth (n,H,W) float32, motion (n,H,W,2) float32,
                         style_<name> (n,H,W,4) uint8 for each style
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .camera import FPS, PATH_KINDS, CameraPath
from .looks import style as check_style
from .renderer import WorldFrame, WorldRenderer
from .scene import build_scene

FORMAT = 1
MIXED = "mixed"  # segments of every kind of movement, separated by cuts
SEGMENT_FRAMES = (60, 150)  # length range of one segment of a mixed path


@dataclass(frozen=True)
class SequenceSpec:
    seed: int
    frames: int
    width: int
    height: int
    path: str = MIXED
    styles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.path not in (*PATH_KINDS, MIXED):
            raise ValueError(f"unknown camera path {self.path!r}; choose from {', '.join((*PATH_KINDS, MIXED))}")
        for name in self.styles:
            check_style(name)


def _segments(spec: SequenceSpec, scene) -> Iterator[tuple[CameraPath, int]]:
    """(camera path, frames in it) in order; a single path unless the spec is mixed."""
    if spec.path != MIXED:
        yield CameraPath(spec.path, scene, spec.seed), spec.frames
        return
    rng = np.random.default_rng([spec.seed, 7])
    left, index = spec.frames, 0
    while left > 0:
        kind = PATH_KINDS[int(rng.integers(len(PATH_KINDS)))]
        length = min(left, int(rng.integers(*SEGMENT_FRAMES)))
        yield CameraPath(kind, scene, spec.seed * 1000 + index), length
        left -= length
        index += 1


def render_sequence(spec: SequenceSpec, renderer: WorldRenderer | None = None) -> Iterator[WorldFrame]:
    """Frames 0..spec.frames-1. The first frame of the sequence, of every mixed segment and
    every cut has `reset` set and zero camera motion (objects still move: their motion is
    measured from the same world clock)."""
    scene = renderer.scene if renderer is not None else build_scene(spec.seed)
    own = renderer is None
    renderer = renderer or WorldRenderer(scene, spec.width, spec.height)
    try:
        world_frame = 0
        for path, length in _segments(spec, scene):
            for local in range(length):
                reset = local == 0 or path.is_cut(local)
                pose = path.pose(local)
                prev = pose if reset else path.pose(local - 1)
                yield renderer.render(pose, prev, world_frame, reset=reset, styles=spec.styles)
                world_frame += 1
    finally:
        if own:
            renderer.release()


def write_sequence(spec: SequenceSpec, out: Path, chunk_frames: int = 32, progress=None) -> Path:
    """Render `spec` into folder `out` (created); returns the path of meta.json.
    `progress(done, total)` is called after every frame if given."""
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT,
        "seed": spec.seed,
        "frames": spec.frames,
        "width": spec.width,
        "height": spec.height,
        "path": spec.path,
        "styles": list(spec.styles),
        "chunk_frames": chunk_frames,
        "fps": FPS,
        "chunks": [],
    }
    buffer: list[tuple[int, WorldFrame]] = []

    def flush() -> None:
        name = f"chunk_{len(meta['chunks']):05d}.npz"
        arrays = {
            "frame": np.array([i for i, _ in buffer], np.int64),
            "reset": np.array([f.reset for _, f in buffer], bool),
            "color": np.stack([f.color for _, f in buffer]),
            "depth": np.stack([f.depth for _, f in buffer]),
            "motion": np.stack([f.motion for _, f in buffer]),
        }
        for style_name in spec.styles:
            arrays[f"style_{style_name}"] = np.stack([f.styles[style_name] for _, f in buffer])
        np.savez_compressed(out / name, **arrays)
        meta["chunks"].append(name)
        buffer.clear()

    for index, frame in enumerate(render_sequence(spec)):
        buffer.append((index, frame))
        if len(buffer) == chunk_frames:
            flush()
        if progress is not None:
            progress(index + 1, spec.frames)
    if buffer:
        flush()
    path = out / "meta.json"
    path.write_text(json.dumps(meta, indent=2) + "\n")  # last: its presence means complete
    return path


def read_sequence(folder: Path) -> Iterator[dict[str, np.ndarray]]:
    """Frames of a written sequence, in order, as dicts of the chunk's arrays (one frame each)."""
    meta = json.loads((folder / "meta.json").read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{folder}: sequence format {meta.get('format')}, this reader knows {FORMAT}")
    for name in meta["chunks"]:
        with np.load(folder / name) as chunk:
            arrays = {key: chunk[key] for key in chunk.files}
        for i in range(len(arrays["frame"])):
            yield {key: value[i] for key, value in arrays.items()}
