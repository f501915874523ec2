"""Real photographs panned through the daemon: does the history carry stretched edge
pixels across the picture? `python -m reverie.demos.photo_pan --out DIR [--json]`.

The game. For each photograph (scikit-image's astronaut, coffee, rocket, chelsea, bundled
with the package: nothing is downloaded) and each pan direction, a window of the game's
size slides over the photo by whole pixels per frame (`--speed`, 3 by default). The
direction names where the window (the camera) goes: `right` moves it right, so the
picture moves left on screen and new content comes in at the right edge; `down-right`
moves it by (speed, speed). The photo is scaled up (cubic) just enough that the whole pan
stays inside it (at most 2x); past that the window wraps around the photo's mirrored
tiling, which keeps the content continuous and the motion exact. The engine buffers are
exact: depth a constant (`--depth`, 5 m), motion the window's velocity (vx, vy) at every
pixel, in the project's convention (pixels, previous position = current + motion,
docs/protocol.md): the pixel at (x, y) showed photo point o_t + (x, y), which was at
(x, y) + (o_t - o_{t-1}) in frame t - 1. Warping frame t - 1 by the motion gives frame t
exactly wherever (x, y) + motion is on screen (tests/test_photo_pan.py checks it with
model/history.py's warp). Only the first frame of a pan has `reset`.

The runs. One daemon (`reverie serve` with the model, LocalDaemon) serves the whole run.
Per style (model/world/looks.py STYLES; the prompt is the style's first training
prompt, so `--styles anime,pencil` and `--styles toon,pencil` are the same) the client
sets the prompt, steps 1, strength 1, seed 0 and restarts the stylizer
(`reset_history full`); then every pan is streamed twice, each frame awaited before the
next is sent: once as a stream (reset on frame 0 only) and once "alone" (reset on every
frame: each output depends on its own frame only, the same seed).

The figures, per style, photo and direction (frames t = 0..T-1; "late" frames are
t >= N, N = `--band` frames, 16 by default, or t >= 1 if the pan is shorter):

- revealed band of frame t: the pixels that were off screen N frames earlier, i.e. that
  the pan uncovered in the last N frames (a strip N * speed pixels wide at the leading
  edge, an L for the diagonal). A pixel entered through a vertical edge (left/right) when
  it needs fewer frames to leave the screen backwards in x than in y, else through a
  horizontal edge; exact ties (the diagonal's corner) belong to neither.
- `ssim_*`: SSIM(output, photo frame), mean over frames 1..T-1 (frame 0 is the same in
  both runs): RGB, 11x11 Gaussian window sigma 1.5, Wang et al. constants, as
  model/evaluate.py's `ssim`. `ssim_band_*`: the same SSIM map averaged over the
  revealed band of the late frames (windows wholly inside the frame). `*_ratio` =
  stream / alone: near 1 or above when the history costs no fidelity.
- `ewarp_*`: E_warp, mean over t = 1..T-1 of mean |warp(output_{t-1}) - output_t| (RGB,
  0..1) over the pixels visible in frame t - 1 (model/history.py's `warp_error` with the
  validity mask of the exact motion and depth). `ewarp_ratio` = stream / alone: below 1
  when the stream is steadier (alone frames are independent pictures). `ewarp_photo` is
  the photo frames' own E_warp: 0 when the motion is exact.
- `streak_*`: the streak score of the revealed band, pooled over the late frames. A
  stretched edge pixel makes a line perpendicular to the edge it came through: pixels
  that entered through a left/right edge are constant along x (horizontal lines), through
  the top/bottom edge constant along y. On luminance Y (0..255), with forward differences
  between two pixels of the same part of the band, streak = (mean(across^2) + 1) /
  (mean(along^2) + 1), where along is the difference along that line direction (x for
  horizontal lines, y for vertical) and across the other one (the +1, one grey level
  squared, keeps a perfect stretch finite). About 1 for natural content (0.3-3 by its
  own anisotropy), large for stretched lines, and small for lines the other way,
  parallel to the edge (e.g. seams between the strips the pan reveals frame by frame,
  one every `speed` pixels). `streak_photo` is the photo's own.
- `streak_ratio` = stream / alone: 1 when the stream's band has the alone frames' own
  balance of directions; far above 1: stretched lines, far below 1: lines parallel to
  the edge. `lines_ratio` = max(streak_ratio, 1 / streak_ratio): lines of either kind
  (1 at best).

Aggregates (per style and direction over photos, per style over photos and directions):
the mean of each figure over the pans, and each ratio as the ratio of those means, but
`lines_ratio`, the geometric mean of the pans' (lines of both kinds must not cancel).

Writes DIR/photo_pan.json (the settings, every pan's figures with per-frame SSIM curves,
the aggregates) and DIR/photo_pan.png (rows: directions of the first photo; columns: the
photo frame, then stream | alone for each of a few styles, at the last frame, when the
pan has brought (T - 1) * speed pixels of new content in); prints a table (or the JSON
with --json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PHOTOS = ("astronaut", "coffee", "rocket", "chelsea")
DIRECTIONS: dict[str, tuple[int, int]] = {
    "left": (-1, 0),
    "right": (1, 0),
    "up": (0, -1),
    "down": (0, 1),
    "down-right": (1, 1),
}
SHEET_STYLES = ("toon", "pencil")  # two 256x256 rows of five tiles: about 1 MB of PNG
SHEET_DIRECTIONS = ("right", "down-right")
MAX_SCALE = 2.0  # the photo is scaled up at most this much to hold the whole pan
STREAK_FLOOR = 1.0  # grey levels squared added to both mean energies of the streak score
SSIM_WINDOW, SSIM_SIGMA = 11, 1.5
FIGURES = ("ssim", "ssim_band", "ewarp", "streak")  # each with _stream, _alone, _ratio; and lines_ratio
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


# ---------------------------------------------------------------- the pan
@dataclass
class Pan:
    """A looped pan over one photo: `colors` (T, H, W, 3) uint8 photo frames, the exact
    `depth` (H, W) and `motion` (H, W, 2) (the same every frame), the window's `origins`."""

    photo: str
    direction: str
    velocity: tuple[int, int]  # (vx, vy): the window's move per frame = the motion vector
    colors: np.ndarray
    depth: np.ndarray
    motion: np.ndarray
    origins: list[tuple[int, int]]

    def rgba(self, t: int) -> np.ndarray:
        frame = np.empty(self.colors.shape[1:3] + (4,), np.uint8)
        frame[..., :3] = self.colors[t]
        frame[..., 3] = 255
        return frame


def load_photo(name: str) -> np.ndarray:
    """One of scikit-image's bundled photographs as (H, W, 3) uint8."""
    from skimage import data

    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}; known: {', '.join(PHOTOS)}")
    image = np.asarray(getattr(data, name)())
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    return np.ascontiguousarray(image[..., :3], np.uint8)


def fit_photo(photo: np.ndarray, width: int, height: int, frames: int, speed: int) -> np.ndarray:
    """The photo scaled up (cubic, at most MAX_SCALE) until a pan of `frames` frames at
    `speed` in any direction stays inside it."""
    from skimage.transform import resize

    travel = (frames - 1) * speed
    ph, pw = photo.shape[:2]
    scale = min(MAX_SCALE, max(1.0, (height + travel) / ph, (width + travel) / pw))
    if scale == 1.0:
        return photo
    shape = (int(np.ceil(ph * scale)), int(np.ceil(pw * scale)), 3)
    scaled = resize(photo, shape, order=3, mode="reflect", anti_aliasing=False, preserve_range=True)
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def _mirror_index(start: int, count: int, size: int) -> np.ndarray:
    """Indices start..start+count-1 into the photo's mirrored tiling (period 2 * size)."""
    i = np.mod(np.arange(start, start + count), 2 * size)
    return np.where(i < size, i, 2 * size - 1 - i)


def make_pan(
    photo: np.ndarray,
    direction: str,
    frames: int,
    width: int,
    height: int,
    speed: int = 3,
    depth_m: float = 5.0,
    name: str = "photo",
) -> Pan:
    """The window's path over `photo` (already fitted) and the exact engine buffers. The
    window starts at the side it moves away from (so the pan goes into the photo), centered
    across; origin_t = origin_0 + t * velocity."""
    ux, uy = DIRECTIONS[direction]
    vx, vy = ux * speed, uy * speed
    ph, pw = photo.shape[:2]

    def start(u: int, photo_side: int, window: int) -> int:
        if u > 0:
            return 0
        if u < 0:
            return max(photo_side - window, 0)
        return max((photo_side - window) // 2, 0)

    x0, y0 = start(ux, pw, width), start(uy, ph, height)
    colors = np.empty((frames, height, width, 3), np.uint8)
    origins = []
    for t in range(frames):
        ox, oy = x0 + t * vx, y0 + t * vy
        origins.append((ox, oy))
        colors[t] = photo[np.ix_(_mirror_index(oy, height, ph), _mirror_index(ox, width, pw))]
    depth = np.full((height, width), depth_m, np.float32)
    motion = np.empty((height, width, 2), np.float32)
    motion[..., 0], motion[..., 1] = vx, vy
    return Pan(name, direction, (vx, vy), colors, depth, motion, origins)


def revealed(
    width: int, height: int, velocity: tuple[int, int], within: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The revealed band of a frame: pixels that were off screen `within` frames earlier,
    as three (H, W) bool masks: (band, horizontal_lines, vertical_lines), the band split by
    the edge its pixels came through. Through a left/right edge a stretched edge pixel
    makes a horizontal line; through the top/bottom edge a vertical one. Exact ties (a
    diagonal's corner) are in the band but in neither part."""
    vx, vy = velocity
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    # frames back until the pixel (x, y) + k * v leaves the screen in x, in y
    tx = (width - 1 - xs) / vx if vx > 0 else xs / -vx if vx < 0 else np.full_like(xs, np.inf)
    ty = (height - 1 - ys) / vy if vy > 0 else ys / -vy if vy < 0 else np.full_like(ys, np.inf)
    band = np.minimum(tx, ty) < within  # off screen at some k <= within  <=>  k > t for k = within
    return band, band & (tx < ty), band & (ty < tx)


def luminance(image: np.ndarray) -> np.ndarray:
    """(H, W) float32 luma (0..255) of an (H, W, 3|4) uint8 image, or a 2-D image as is."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image.astype(np.float32)
    return image[..., :3].astype(np.float32) @ LUMA


def streak_energies(image: np.ndarray, horizontal: np.ndarray, vertical: np.ndarray) -> np.ndarray:
    """[sum across^2, count across, sum along^2, count along] over the band (see the module
    docstring): differences between neighbours both in the same part of the band."""
    y = luminance(image)
    dx, dy = np.diff(y, axis=1) ** 2, np.diff(y, axis=0) ** 2
    totals = np.zeros(4)
    for mask, along, across in ((horizontal, (dx, 1), (dy, 0)), (vertical, (dy, 0), (dx, 1))):
        for slot, (energy, axis) in ((2, along), (0, across)):
            pair = mask[:, 1:] & mask[:, :-1] if axis == 1 else mask[1:] & mask[:-1]
            totals[slot] += float(energy[pair].sum())
            totals[slot + 1] += int(pair.sum())
    return totals


def streak_score(totals: np.ndarray) -> float:
    """(mean(across^2) + STREAK_FLOOR) / (mean(along^2) + STREAK_FLOOR) from
    `streak_energies` (pooled)."""
    across = totals[0] / max(totals[1], 1)
    along = totals[2] / max(totals[3], 1)
    return float((across + STREAK_FLOOR) / (along + STREAK_FLOOR))


def streak(image: np.ndarray, horizontal: np.ndarray, vertical: np.ndarray) -> float:
    """The streak score of one image's band."""
    return streak_score(streak_energies(image, horizontal, vertical))


def ssim_maps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SSIM maps (N, H - 10, W - 10) of uint8 image stacks (N, H, W, 3): model/evaluate.py's
    `ssim` before its mean (channels averaged); map[i, j] is the window centered at pixel
    (i + 5, j + 5)."""
    import torch
    from torch.nn import functional as F

    x = torch.from_numpy(np.ascontiguousarray(a[..., :3], np.float32) / 255).permute(0, 3, 1, 2)
    y = torch.from_numpy(np.ascontiguousarray(b[..., :3], np.float32) / 255).permute(0, 3, 1, 2)
    coords = torch.arange(SSIM_WINDOW, dtype=torch.float32) - SSIM_WINDOW // 2
    g = torch.exp(-(coords**2) / (2 * SSIM_SIGMA**2))
    window = (g[:, None] * g[None, :] / g.sum() ** 2).expand(3, 1, SSIM_WINDOW, SSIM_WINDOW)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=3)

    with torch.no_grad():
        mx, my = blur(x), blur(y)
        vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
        c1, c2 = 0.01**2, 0.03**2
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return s.mean(dim=1).numpy()


# ---------------------------------------------------------------- the figures
def late_frames(frames: int, band: int) -> range:
    """The frames the band figures pool: t >= band, or t >= 1 for a shorter pan."""
    return range(band if frames > band else 1, frames)


def ewarp(outputs: np.ndarray, pan: Pan) -> float:
    """Mean E_warp of consecutive outputs (T, H, W, 3) under the pan's exact motion."""
    from reverie.model.history import validity_mask, warp_error

    valid = validity_mask(pan.depth, pan.motion, pan.depth)
    return float(np.mean([warp_error(outputs[t - 1], outputs[t], pan.motion, valid) for t in range(1, len(outputs))]))


def measure(pan: Pan, stream: np.ndarray, alone: np.ndarray, band: int = 16) -> dict:
    """Every figure of one pan (module docstring) from the stream's and the alone outputs,
    (T, H, W, 3) uint8 each."""
    frames, height, width = pan.colors.shape[:3]
    half = SSIM_WINDOW // 2
    fig: dict = {"photo": pan.photo, "direction": pan.direction, "velocity": list(pan.velocity)}
    late = late_frames(frames, band)
    pooled = {"stream": np.zeros(4), "alone": np.zeros(4), "photo": np.zeros(4)}
    for name, outputs in (("stream", stream), ("alone", alone)):
        maps = ssim_maps(outputs, pan.colors)
        per_frame = maps.mean(axis=(1, 2))
        fig[f"ssim_{name}"] = float(per_frame[1:].mean())
        band_values = []
        for t in late:
            strip, h_lines, v_lines = revealed(width, height, pan.velocity, min(band, t))
            region = strip[half : height - half, half : width - half]
            if region.any():
                band_values.append(maps[t][region])
            pooled[name] += streak_energies(outputs[t], h_lines, v_lines)
            if name == "stream":
                pooled["photo"] += streak_energies(pan.colors[t], h_lines, v_lines)
        fig[f"ssim_band_{name}"] = float(np.concatenate(band_values).mean()) if band_values else float("nan")
        fig[f"ewarp_{name}"] = ewarp(outputs, pan)
        fig[f"streak_{name}"] = streak_score(pooled[name])
        fig[f"ssim_curve_{name}"] = [round(float(v), 4) for v in per_frame]
    fig["streak_photo"] = streak_score(pooled["photo"])
    fig["ewarp_photo"] = ewarp(pan.colors, pan)
    for key in FIGURES:
        fig[f"{key}_ratio"] = _ratio(fig[f"{key}_stream"], fig[f"{key}_alone"])
    fig["lines_ratio"] = lines_ratio(fig["streak_ratio"])
    return fig


def lines_ratio(streak_ratio: float) -> float:
    """max(r, 1 / r): how far the stream's band is from the alone frames' balance of
    directions, lines along or across the entry direction alike."""
    return max(streak_ratio, 1.0 / streak_ratio)


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def aggregate(pans: list[dict]) -> dict:
    """Means over pans; each ratio as the ratio of the means."""
    out: dict = {"pans": len(pans)}
    for key in FIGURES:
        for run in ("stream", "alone"):
            out[f"{key}_{run}"] = float(np.mean([p[f"{key}_{run}"] for p in pans]))
        out[f"{key}_ratio"] = _ratio(out[f"{key}_stream"], out[f"{key}_alone"])
    out["lines_ratio"] = float(np.exp(np.mean([np.log(p["lines_ratio"]) for p in pans])))
    for key in ("streak_photo", "ewarp_photo"):
        out[key] = float(np.mean([p[key] for p in pans]))
    return out


# ---------------------------------------------------------------- running it
def resolve_styles(names: str | None) -> list[tuple[str, str]]:
    """[(style, prompt)]: style names or any of a style's training prompts; the prompt
    sent is the style's first training prompt."""
    from reverie.model.world.looks import STYLES

    if not names:
        return [(s.name, s.train_prompts[0]) for s in STYLES.values()]
    out = []
    for raw in names.split(","):
        key = raw.strip()
        match = STYLES.get(key) or next((s for s in STYLES.values() if key in s.train_prompts), None)
        if match is None:
            raise SystemExit(
                f"photo_pan: unknown style {key!r}; styles: {', '.join(STYLES)} (or one of their training prompts)"
            )
        if match.name not in (n for n, _ in out):
            out.append((match.name, match.train_prompts[0]))
    return out


def _stream(game, pan: Pan, alone: bool) -> np.ndarray:
    """The outputs (T, H, W, 3) of the pan through the daemon, each frame awaited."""
    outputs = np.empty_like(pan.colors)
    for t in range(len(pan.colors)):
        frame_id = game.submit(pan.rgba(t), pan.depth, pan.motion, reset=alone or t == 0)
        outputs[t] = game.wait_output(frame_id, timeout_s=120.0).image[..., :3]
    return outputs


@dataclass
class SheetCell:
    style: str
    direction: str
    photo: np.ndarray
    stream: np.ndarray
    alone: np.ndarray


def run(args: argparse.Namespace) -> tuple[dict, list[SheetCell]]:
    from reverie.bridge import Client
    from reverie.bridge.local_daemon import LocalDaemon

    width, height = map(int, args.size.lower().split("x"))
    styles = resolve_styles(args.styles)
    photos = [p.strip() for p in args.photos.split(",")]
    directions = [d.strip() for d in args.directions.split(",")]
    for d in directions:
        if d not in DIRECTIONS:
            raise SystemExit(f"photo_pan: unknown direction {d!r}; known: {', '.join(DIRECTIONS)}")
    sheet_styles = [
        s for s in (args.sheet_styles.split(",") if args.sheet_styles else SHEET_STYLES) if s in dict(styles)
    ]
    sheet_styles = sheet_styles or [styles[0][0]]
    sheet_dirs = [
        d for d in (args.sheet_directions.split(",") if args.sheet_directions else SHEET_DIRECTIONS) if d in directions
    ]
    sheet_dirs = sheet_dirs or directions[:1]
    pans = {}
    for photo in photos:
        fitted = fit_photo(load_photo(photo), width, height, args.frames, args.speed)
        for d in directions:
            pans[photo, d] = make_pan(fitted, d, args.frames, width, height, args.speed, args.depth, photo)
    weights = args.weights
    if weights is None:
        from reverie.model.weights import DEFAULT_WEIGHTS

        weights = DEFAULT_WEIGHTS
    extra = ["--backend", args.backend, "--weights", str(weights)]
    result: dict = {
        "settings": {
            "frames": args.frames,
            "size": f"{width}x{height}",
            "speed": args.speed,
            "band": args.band,
            "depth_m": args.depth,
            "photos": photos,
            "directions": directions,
            "weights": str(weights),
            "backend": args.backend,
            "steps": args.steps,
            "seed": args.seed,
            "prompts": dict(styles),
        },
        "pans": {},
        "by_style_direction": {},
        "by_style": {},
    }
    cells: list[SheetCell] = []
    start = time.perf_counter()
    sent = 0
    with LocalDaemon(stylizer="model", extra=extra, ready_timeout_s=300.0) as daemon:
        with Client(daemon.endpoints.control, name="photo-pan", timeout_s=60.0) as game:
            ready = time.perf_counter()
            game.set_params(steps=args.steps, strength=1.0, seed=args.seed)
            for style, prompt in styles:
                game.set_prompt(prompt, 0)
                game.reset_history(full=True)  # no prompt transition or trust recovery carried over
                figures = result["pans"][style] = {}
                for (photo, d), pan in pans.items():
                    stream = _stream(game, pan, alone=False)
                    alone = _stream(game, pan, alone=True)
                    sent += 2 * args.frames
                    figures[f"{photo}/{d}"] = measure(pan, stream, alone, args.band)
                    if style in sheet_styles and photo == photos[0] and d in sheet_dirs:
                        cells.append(SheetCell(style, d, pan.colors[-1], stream[-1], alone[-1]))
                print(f"photo_pan: {style} done ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
                for d in directions:
                    result["by_style_direction"].setdefault(style, {})[d] = aggregate(
                        [figures[f"{p}/{d}"] for p in photos]
                    )
                result["by_style"][style] = aggregate(list(figures.values()))
            result["stylizer"] = game.status().get("stylizer")
    seconds = time.perf_counter() - start
    result["seconds"] = round(seconds, 1)  # with the daemon's start
    result["frames"] = sent
    result["frames_per_second"] = round(sent / (time.perf_counter() - ready), 2)  # frames and figures, after the start
    return result, cells


# ---------------------------------------------------------------- the outputs
def sheet(
    cells: list[SheetCell], styles: list[str], directions: list[str], photo: str, frame: int, gap: int = 4
) -> np.ndarray:
    """Rows: directions; columns: the photo frame, then stream | alone per style; labelled."""
    from reverie.modding.font import draw_text

    height, width = cells[0].photo.shape[:2]
    label = 12
    columns = 1 + 2 * len(styles)
    image = np.full(
        (len(directions) * (height + label + gap) + label + 2, columns * (width + gap) - gap, 3), 18, np.uint8
    )
    draw_text(image, f"{photo}, frame {frame}: photo | stream | alone (reset every frame)", 2, 2, color=(255, 236, 160))
    by_key = {(c.style, c.direction): c for c in cells}
    for r, d in enumerate(directions):
        y = label + 2 + r * (height + label + gap)
        tiles = [(f"photo, pan {d}", next(c for c in cells if c.direction == d).photo)]
        for s in styles:
            cell = by_key[s, d]
            tiles += [(f"{s} stream", cell.stream), (f"{s} alone", cell.alone)]
        for c, (text, tile) in enumerate(tiles):
            x = c * (width + gap)
            draw_text(image, text, x + 2, y + 2, color=(255, 255, 255))
            image[y + label : y + label + height, x : x + width] = tile
    return image


def write_sheet(path: Path, image: np.ndarray) -> None:
    """PNG with Pillow's filters when it is there (it comes with scikit-image): photographs
    take about 2/3 of the bytes of the project's unfiltered writer."""
    try:
        from PIL import Image
    except ImportError:
        from reverie.model.world.images import write_png

        write_png(path, image)
    else:
        Image.fromarray(image).save(path, optimize=True)


def table(result: dict) -> str:
    """Per style and direction (means over the photos), then per style: SSIM to the photo
    (stream, alone, ratio; the ratio in the revealed band), E_warp (stream, alone, ratio),
    streak (stream, alone, the photo's own, ratio) and the lines ratio."""
    head = (
        f"{'style':<11}{'direction':<11}{'ssim str':>9}{'alone':>7}{'ratio':>7}{'band':>6}"
        f"{'ewarp str':>10}{'alone':>8}{'ratio':>7}{'streak str':>11}{'alone':>7}{'photo':>7}{'ratio':>7}{'lines':>7}"
    )
    lines = [head, "-" * len(head)]
    for style, by_dir in result["by_style_direction"].items():
        for d, f in [*by_dir.items(), ("all", result["by_style"][style])]:
            lines.append(
                f"{style:<11}{d:<11}{f['ssim_stream']:>9.3f}{f['ssim_alone']:>7.3f}{f['ssim_ratio']:>7.2f}"
                f"{f['ssim_band_ratio']:>6.2f}{f['ewarp_stream']:>10.4f}{f['ewarp_alone']:>8.4f}"
                f"{f['ewarp_ratio']:>7.3f}{f['streak_stream']:>11.2f}{f['streak_alone']:>7.2f}"
                f"{f['streak_photo']:>7.2f}{f['streak_ratio']:>7.2f}{f['lines_ratio']:>7.2f}"
            )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reverie.demos.photo_pan", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for photo_pan.json and photo_pan.png")
    parser.add_argument("--json", action="store_true", help="print the JSON instead of the table")
    parser.add_argument("--frames", type=int, default=48, help="frames per pan")
    parser.add_argument("--size", default="256x256", help="the game's frame size, WxH")
    parser.add_argument("--styles", help="comma-separated styles or training prompts (default: all 8)")
    parser.add_argument("--photos", default=",".join(PHOTOS), help=f"comma-separated, of {', '.join(PHOTOS)}")
    parser.add_argument(
        "--directions", default=",".join(DIRECTIONS), help=f"comma-separated, of {', '.join(DIRECTIONS)}"
    )
    parser.add_argument("--speed", type=int, default=3, help="whole pixels per frame")
    parser.add_argument("--band", type=int, default=16, help="the revealed band: pixels uncovered in the last N frames")
    parser.add_argument("--depth", type=float, default=5.0, help="the constant depth, meters")
    parser.add_argument("--weights", help="weights folder (default: the shipped weights)")
    parser.add_argument("--backend", default="onnxruntime", help="the daemon's --backend")
    parser.add_argument("--steps", type=int, default=1, choices=range(1, 9), metavar="1..8")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sheet-styles", help=f"styles on the sheet (default: {','.join(SHEET_STYLES)}, those run)")
    parser.add_argument(
        "--sheet-directions", help=f"rows of the sheet (default: {','.join(SHEET_DIRECTIONS)}, those run)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.frames < 2 or args.speed < 1 or args.band < 1:
        raise SystemExit("photo_pan: --frames must be >= 2, --speed and --band >= 1")
    result, cells = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "photo_pan.json").write_text(json.dumps(result, indent=1) + "\n")
    styles = list(dict.fromkeys(c.style for c in cells))
    directions = list(dict.fromkeys(c.direction for c in cells))
    write_sheet(
        args.out / "photo_pan.png", sheet(cells, styles, directions, result["settings"]["photos"][0], args.frames - 1)
    )
    print(json.dumps(result) if args.json else table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
