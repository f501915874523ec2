"""A 5x7 bitmap font (the classic character-LCD shapes) for captions on demo frames:
no font files, no imaging library. Upper case, digits and common punctuation; lower case
is drawn as upper case and anything else as '?'."""

from __future__ import annotations

import numpy as np

_ROWS = {  # 7 rows of 5 bits each, top to bottom, most significant bit on the left
    "A": "0E 11 11 11 1F 11 11",
    "B": "1E 11 11 1E 11 11 1E",
    "C": "0E 11 10 10 10 11 0E",
    "D": "1C 12 11 11 11 12 1C",
    "E": "1F 10 10 1E 10 10 1F",
    "F": "1F 10 10 1E 10 10 10",
    "G": "0E 11 10 17 11 11 0F",
    "H": "11 11 11 1F 11 11 11",
    "I": "0E 04 04 04 04 04 0E",
    "J": "07 02 02 02 02 12 0C",
    "K": "11 12 14 18 14 12 11",
    "L": "10 10 10 10 10 10 1F",
    "M": "11 1B 15 15 11 11 11",
    "N": "11 11 19 15 13 11 11",
    "O": "0E 11 11 11 11 11 0E",
    "P": "1E 11 11 1E 10 10 10",
    "Q": "0E 11 11 11 15 12 0D",
    "R": "1E 11 11 1E 14 12 11",
    "S": "0F 10 10 0E 01 01 1E",
    "T": "1F 04 04 04 04 04 04",
    "U": "11 11 11 11 11 11 0E",
    "V": "11 11 11 11 11 0A 04",
    "W": "11 11 11 15 15 15 0A",
    "X": "11 11 0A 04 0A 11 11",
    "Y": "11 11 11 0A 04 04 04",
    "Z": "1F 01 02 04 08 10 1F",
    "0": "0E 11 13 15 19 11 0E",
    "1": "04 0C 04 04 04 04 0E",
    "2": "0E 11 01 02 04 08 1F",
    "3": "1F 02 04 02 01 11 0E",
    "4": "02 06 0A 12 1F 02 02",
    "5": "1F 10 1E 01 01 11 0E",
    "6": "06 08 10 1E 11 11 0E",
    "7": "1F 01 02 04 08 08 08",
    "8": "0E 11 11 0E 11 11 0E",
    "9": "0E 11 11 0F 01 02 0C",
    " ": "00 00 00 00 00 00 00",
    ".": "00 00 00 00 00 0C 0C",
    ",": "00 00 00 00 0C 04 08",
    ":": "00 0C 0C 00 0C 0C 00",
    "-": "00 00 00 1F 00 00 00",
    "'": "0C 04 08 00 00 00 00",
    "/": "00 01 02 04 08 10 00",
    "|": "04 04 04 04 04 04 04",
    "(": "02 04 08 08 08 04 02",
    ")": "08 04 02 02 02 04 08",
    "%": "18 19 02 04 08 13 03",
    "+": "00 04 04 1F 04 04 00",
    ">": "08 04 02 01 02 04 08",
    "<": "02 04 08 10 08 04 02",
    "_": "00 00 00 00 00 00 1F",
    "!": "04 04 04 04 00 00 04",
    "?": "0E 11 01 02 04 00 04",
    "&": "0C 12 14 08 15 12 0D",
    "=": "00 00 1F 00 1F 00 00",
    '"': "0A 0A 0A 00 00 00 00",
}
GLYPHS = {
    ch: np.array([[(int(v, 16) >> (4 - b)) & 1 for b in range(5)] for v in rows.split()], bool)
    for ch, rows in _ROWS.items()
}
ADVANCE = 6  # glyph width plus one column of space
HEIGHT = 7


def text_mask(text: str, scale: int = 1) -> np.ndarray:
    """(7 * scale, 6 * len(text) * scale) bool mask of `text`."""
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    mask = np.zeros((HEIGHT, max(1, ADVANCE * len(text))), bool)
    for i, ch in enumerate(text.upper()):
        mask[:, i * ADVANCE : i * ADVANCE + 5] = GLYPHS.get(ch, GLYPHS["?"])
    return mask.repeat(scale, axis=0).repeat(scale, axis=1)


def draw_text(
    image: np.ndarray, text: str, x: int, y: int, scale: int = 1, color: tuple[int, ...] = (255, 255, 255)
) -> None:
    """Draw `text` into `image` (H, W, C) uint8 with its top-left corner at (x, y); what does
    not fit is clipped."""
    mask = text_mask(text, scale)
    height, width = image.shape[:2]
    mask = mask[: max(0, height - y), : max(0, width - x)]
    if mask.size:
        image[y : y + mask.shape[0], x : x + mask.shape[1]][mask] = color[: image.shape[2]]


def fit_text(text: str, width_px: int, scale: int = 1) -> str:
    """`text`, shortened with '...' to fit `width_px` at `scale`."""
    room = width_px // (ADVANCE * scale)
    return text if len(text) <= room else text[: max(0, room - 3)] + "..."
