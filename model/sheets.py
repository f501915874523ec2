"""Contact sheets that show the picture quality: for every trained style one row of
game frame | model output | ground truth, each tile labelled, on a held-out world after
`history` frames of history, through the daemon's stylizer stage at the game's size.

    python -m reverie.model.sheets --size 256x256 --out docs/images/sheet-256.png
    python -m reverie.model.sheets --size 1920x1080 --out docs/images/sheet-1080.png

Frames larger than a tile (`--tile`, 640x360 by default) are scaled down for the sheet
(area filter) and two more columns show the model output and the ground truth 1:1 at
full resolution (a half-tile-wide crop from the frame's center), so that edges, blur
and stripes can be judged at the pixels a player sees. Each row's label also gives that
frame's detail ratio (`evaluate.detail_energy` of the output over the ground truth's).

Text is drawn with OpenCV's Hershey font (already a dependency for the resizing), so the
sheets need no imaging library.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .evaluate import EVAL_WORLD_SEEDS_FROM, _prompt_texts, detail_energy, stream_styles
from .world.sequence import MIXED, SequenceSpec

DEFAULT_TILE = (640, 360)
HISTORY = 10
LABEL_H = 20  # the strip above each row's tiles, one label per tile
HEADER_H = 26  # the sheet's title strip
GAP = 4
BACKGROUND = (18, 18, 22)
TEXT = (235, 235, 235)
TITLE = (255, 236, 160)
FONT_SCALE = 0.42
SEARCH_FRAMES = 200  # how far into the sequence a frame with `history` frames since its reset is looked for


@dataclass
class SheetRow:
    style: str
    prompt: str
    game: np.ndarray  # (H, W, 3) uint8 at the game's size
    output: np.ndarray
    truth: np.ndarray

    @property
    def detail(self) -> float:
        return detail_energy(self.output) / max(detail_energy(self.truth), 1e-12)


@dataclass
class Sheet:
    image: np.ndarray  # (H, W, 3) uint8
    rows: list[SheetRow]
    frame: int  # the world frame shown
    since_reset: int  # frames of history the output had
    boxes: dict[tuple[int, str], tuple[int, int, int, int]] = field(default_factory=dict)  # (row, column) -> y, x, h, w


def capture_rows(
    stylizer_for: Callable[[str], Any],
    styles: list[str],
    seed: int,
    width: int,
    height: int,
    history: int = HISTORY,
    path: str = MIXED,
    steps: int = 1,
    prompts: str = "train",
) -> tuple[list[SheetRow], int, int]:
    """Stream the held-out world through one stylizer per style until a frame has had
    `history` frames since the last reset (frame `history` unless a cut comes first);
    that frame's rows, its index and its frames since the reset."""
    if seed < EVAL_WORLD_SEEDS_FROM:
        raise ValueError(f"sheets show held-out worlds: seed must be >= {EVAL_WORLD_SEEDS_FROM}")
    texts = _prompt_texts(styles, prompts)
    since = 0
    stream = stream_styles(
        stylizer_for, styles, SequenceSpec(seed, history + SEARCH_FRAMES, width, height, path), seed, steps, prompts
    )
    try:
        for index, (frame, outputs) in enumerate(stream):
            since = 0 if frame.reset else since + 1
            if since >= history:
                rows = [
                    SheetRow(
                        name,
                        texts[name],
                        frame.color[..., :3].copy(),
                        outputs[name][..., :3].copy(),
                        frame.styles[name][..., :3].copy(),
                    )
                    for name in styles
                ]
                return rows, index, since
    finally:
        stream.close()
    raise RuntimeError(f"no frame with {history} frames since a reset in the first {history + SEARCH_FRAMES} frames")


def tile_size(width: int, height: int, tile: tuple[int, int] = DEFAULT_TILE) -> tuple[int, int]:
    """The size a width x height frame is shown at: scaled down to fit `tile`, never up."""
    scale = min(1.0, tile[0] / width, tile[1] / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def center_crop(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The width x height window at the image's center (1:1 pixels)."""
    h, w = image.shape[:2]
    y, x = (h - height) // 2, (w - width) // 2
    return image[y : y + height, x : x + width]


def _fit(text: str, width: int) -> str:
    import cv2

    while text and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, FONT_SCALE, 1)[0][0] > width:
        text = text[:-2] + "~" if len(text) > 2 else ""
    return text


def _label(image: np.ndarray, text: str, x: int, y: int, width: int, color=TEXT) -> None:
    """`text` with its baseline at y, cut to fit `width` pixels."""
    import cv2

    cv2.putText(image, _fit(text, width), (x, y), cv2.FONT_HERSHEY_SIMPLEX, FONT_SCALE, color, 1, cv2.LINE_AA)


def compose(
    rows: list[SheetRow],
    frame: int,
    since_reset: int,
    title: str = "",
    tile: tuple[int, int] = DEFAULT_TILE,
    work_size: tuple[int, int] | None = None,
) -> Sheet:
    """Lay the rows out: game | model | ground truth, scaled to fit `tile`, plus the model
    and ground truth 1:1 (half a tile wide, a tile high) when the frames had to shrink."""
    import cv2

    height, width = rows[0].game.shape[:2]
    tw, th = tile_size(width, height, tile)
    scaled = (tw, th) != (width, height)
    crop = (min(width, max(1, tw // 2)), min(height, th))
    model_label = f"model {work_size[0]}x{work_size[1]} -> {width}x{height}" if work_size else f"model {width}x{height}"
    columns: list[tuple[str, int, Callable[[SheetRow], np.ndarray]]] = [
        ("game", tw, lambda r: r.game),
        ("model", tw, lambda r: r.output),
        ("ground truth", tw, lambda r: r.truth),
    ]
    if scaled:
        columns += [
            ("model 1:1", crop[0], lambda r: center_crop(r.output, *crop)),
            ("ground truth 1:1", crop[0], lambda r: center_crop(r.truth, *crop)),
        ]
    sheet_w = sum(w for _, w, _ in columns) + GAP * (len(columns) + 1)
    row_h = LABEL_H + th
    sheet = np.empty((HEADER_H + len(rows) * (row_h + GAP) + GAP, sheet_w, 3), np.uint8)
    sheet[:] = BACKGROUND
    _label(
        sheet, title or f"frame {frame}, {since_reset} frames of history", GAP, HEADER_H - 8, sheet_w - 2 * GAP, TITLE
    )
    boxes: dict[tuple[int, str], tuple[int, int, int, int]] = {}
    for r, row in enumerate(rows):
        y = HEADER_H + r * (row_h + GAP)
        x = GAP
        for name, w, pick in columns:
            picture = pick(row)
            if name in ("game", "model", "ground truth") and scaled:
                picture = cv2.resize(picture, (tw, th), interpolation=cv2.INTER_AREA)
            h = picture.shape[0]
            sheet[y + LABEL_H : y + LABEL_H + h, x : x + w] = picture
            boxes[(r, name)] = (y + LABEL_H, x, h, w)
            if name == "game":
                text = f"{row.style}: game {width}x{height}"
            elif name == "model":
                text = f'{row.style}: {model_label}, "{row.prompt}"'
            elif name == "ground truth":
                text = f"{row.style}: ground truth (detail ratio {row.detail:.2f})"
            else:
                text = f"{row.style}: {name} crop"
            _label(sheet, text, x + 2, y + LABEL_H - 6, w - 4)
            x += w + GAP
    return Sheet(sheet, rows, frame, since_reset, boxes)


def write_sheet(sheet: Sheet, out: Path) -> None:
    import cv2

    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), cv2.cvtColor(sheet.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"could not write {out}")


def main(argv: list[str] | None = None) -> int:
    from reverie.common.cli_args import parse_size

    from .evaluate import model_stylizers
    from .resize import working_size
    from .weights import DEFAULT_WEIGHTS
    from .world.looks import STYLES

    parser = argparse.ArgumentParser(prog="python -m reverie.model.sheets", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="256x256", help="the game's frame size")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--seed", type=int, default=EVAL_WORLD_SEEDS_FROM, help="a held-out world seed (>= 1000)")
    parser.add_argument("--history", type=int, default=HISTORY, help="frames of history before the frame shown")
    parser.add_argument("--path", default=MIXED, help="camera path (as reverie eval)")
    parser.add_argument("--styles", default="all", help="comma-separated style names, or all (the trained styles)")
    parser.add_argument(
        "--work-height", type=int, default=256, help="the stylizer's working height (the daemon's --work-height)"
    )
    parser.add_argument("--backend", help="the stylizer's inference backend (default: the daemon's)")
    parser.add_argument(
        "--tile",
        default=f"{DEFAULT_TILE[0]}x{DEFAULT_TILE[1]}",
        help="largest tile; bigger frames are scaled down and get 1:1 crops",
    )
    args = parser.parse_args(argv)
    width, height = parse_size(args.size)
    tile = parse_size(args.tile)
    styles = list(STYLES) if args.styles == "all" else [s.strip() for s in args.styles.split(",")]
    stylizer_for = model_stylizers(args.weights, args.work_height, args.backend)
    rows, frame, since = capture_rows(stylizer_for, styles, args.seed, width, height, args.history, args.path)
    stage = stylizer_for.describe()
    work = working_size(width, height, args.work_height, stage["stride"])
    title = (
        f"world {args.seed} ({args.path}), frame {frame} after {since} frames of history; {stage['stylizer']} at "
        f"{work[0]}x{work[1]}; weights {stage['weights_sha256'][:12]}"
    )
    sheet = compose(rows, frame, since, title, tile, work)
    write_sheet(sheet, args.out)
    for row in rows:
        print(f"  {row.style:<11} detail ratio {row.detail:.2f}")
    print(f"wrote {args.out} ({sheet.image.shape[1]}x{sheet.image.shape[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
