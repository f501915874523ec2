"""The demo's pictures: game | stylized side by side with a caption bar (the prompt, and
live figures in the video), and the contact sheet of such pairs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .font import HEIGHT, draw_text, fit_text

CAPTION = 32  # pixels under the pair: the prompt at 2x, the figures at 1x
BACKGROUND = (18, 18, 22)
PROMPT_COLOR = (255, 236, 160)
FIGURES_COLOR = (170, 170, 180)
LABEL_COLOR = (255, 255, 255)


@dataclass
class Sample:
    """One moment for the contact sheet."""

    frame: int
    prompt: str
    game: np.ndarray  # (H, W, 3) uint8
    stylized: np.ndarray


def pair(game: np.ndarray, stylized: np.ndarray, prompt: str, figures: str = "") -> np.ndarray:
    """(H + CAPTION, 2W, 3) uint8: the game on the left, the stylized frame on the right,
    labelled, with the prompt (and `figures`) underneath."""
    height, width = game.shape[:2]
    image = np.empty((height + CAPTION, 2 * width, 3), np.uint8)
    image[:height, :width] = game[..., :3]
    image[:height, width:] = stylized[..., :3]
    image[height:] = BACKGROUND
    for x, label in ((4, "GAME"), (width + 4, "REVERIE")):
        draw_text(image, label, x + 1, 5, color=(0, 0, 0))  # a shadow keeps it legible on any picture
        draw_text(image, label, x, 4, color=LABEL_COLOR)
    text = fit_text(f'"{prompt}"', 2 * width - 8, scale=2)
    draw_text(image, text, 4, height + 3, scale=2, color=PROMPT_COLOR)
    if figures:
        draw_text(image, fit_text(figures, 2 * width - 8), 4, height + CAPTION - HEIGHT - 3, color=FIGURES_COLOR)
    return image


def contact_sheet(samples: list[Sample], columns: int = 2, gap: int = 4) -> np.ndarray:
    """The samples' pairs in a grid, in order, `columns` pairs per row."""
    if not samples:
        raise ValueError("a contact sheet needs at least one sample")
    cells = [pair(s.game, s.stylized, s.prompt, f"frame {s.frame}") for s in samples]
    cell_h, cell_w = cells[0].shape[:2]
    rows = -(-len(cells) // columns)
    sheet = np.full((rows * cell_h + (rows - 1) * gap, columns * cell_w + (columns - 1) * gap, 3), 255, np.uint8)
    for i, cell in enumerate(cells):
        r, c = divmod(i, columns)
        sheet[r * (cell_h + gap) : r * (cell_h + gap) + cell_h, c * (cell_w + gap) : c * (cell_w + gap) + cell_w] = cell
    return sheet
