"""The contact sheet in docs/world.md: one frame as base color, depth, motion and every
style, labelled by position (the order is written next to it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .camera import CameraPath
from .images import depth_to_rgb, motion_to_rgb, write_png
from .looks import STYLES
from .renderer import WorldRenderer
from .scene import build_scene

COLUMNS = 4


def contact_sheet(seed: int, width: int, height: int, path: str, frame: int, out: Path) -> list[str]:
    """Write the sheet; return the tile names in reading order."""
    scene = build_scene(seed)
    renderer = WorldRenderer(scene, width, height)
    camera = CameraPath(path, scene, seed)
    f = renderer.render(camera.pose(frame), camera.pose(frame - 1), frame, styles=tuple(STYLES))
    renderer.release()
    tiles = [("base color", f.color), ("depth", depth_to_rgb(f.depth)), ("motion", motion_to_rgb(f.motion))]
    tiles += [(name, f.styles[name]) for name in STYLES]
    while len(tiles) % COLUMNS:
        tiles.append(("", np.zeros_like(f.color)))
    gap = np.full((height, 4, 4), 255, np.uint8)
    rows = [
        np.concatenate([part for _, image in tiles[r : r + COLUMNS] for part in (gap, image)][1:], axis=1)
        for r in range(0, len(tiles), COLUMNS)
    ]
    spacer = np.full((4, rows[0].shape[1], 4), 255, np.uint8)
    sheet = np.concatenate([part for row in rows for part in (spacer, row)][1:], axis=0)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_png(out, sheet)
    return [name for name, _ in tiles if name]
