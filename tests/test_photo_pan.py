"""The panned-photograph check (demos/photo_pan.py) is right: its pans have exact motion
vectors, its revealed band is what the warp cannot fill, its streak measure tells
stretched edge pixels and seams from natural content, its SSIM is model/evaluate.py's,
and the real thing (a model daemon, small) runs and gives consistent figures.

Nothing here asks the model to pass a quality bar (it is being retrained): only that the
tool measures what it says."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from model_fixtures import SHIPPED
from torch.nn import functional as F

from reverie.demos import photo_pan as pp
from reverie.model.evaluate import ssim
from reverie.model.history import backward_warp, validity_mask

W = H = 96
FRAMES, SPEED, BAND = 24, 3, 8


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return pp.fit_photo(pp.load_photo("astronaut"), W, H, FRAMES, SPEED)


def border_warp(image: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """The history warp as the shipped model has it (edges clamp), kept here so the test
    does not depend on what model/history.py does off screen."""
    height, width = motion.shape[:2]
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij"
    )
    m = torch.from_numpy(motion)
    grid = torch.stack([(xs + m[..., 0]) / (width - 1) * 2 - 1, (ys + m[..., 1]) / (height - 1) * 2 - 1], dim=-1)[None]
    x = torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1)[None]
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out[0].permute(1, 2, 0).numpy().round().clip(0, 255).astype(np.uint8)


def carried(pan: pp.Pan, seam: bool = False) -> np.ndarray:
    """What a history that only copies itself shows: frame 0, then each frame the previous
    one warped with clamped edges (stretched edge pixels come in and are carried along).
    `seam` (horizontal and vertical pans): the strip revealed each frame is the photo's,
    with its innermost column (or row) darkened: a seam parallel to the edge every
    `speed` pixels, as when each new strip is drawn apart from the old picture."""
    out = [pan.colors[0]]
    _, height, width, _ = pan.colors.shape
    vx, vy = pan.velocity
    for t in range(1, len(pan.colors)):
        frame = border_warp(out[-1], pan.motion)
        if seam:
            new, _, _ = pp.revealed(width, height, pan.velocity, 1)
            frame[new] = pan.colors[t][new]
            axis, shift = (1, int(np.sign(vx))) if vx else (0, int(np.sign(vy)))
            inner = new & ~np.roll(new, shift, axis=axis)
            frame[inner] = frame[inner] // 3
        out.append(frame)
    return np.stack(out)


def stretch(image: np.ndarray, velocity: tuple[int, int], horizontal: np.ndarray, vertical: np.ndarray) -> np.ndarray:
    """`image` with its band's pixels replaced by the pixel just inside the band in their
    row (horizontal part) or column (vertical part): edge pixels stretched out."""
    out = image.copy()
    vx, vy = velocity
    for y in range(image.shape[0]):
        xs = np.flatnonzero(horizontal[y])
        if xs.size:
            out[y, xs] = image[y, xs.min() - 1 if vx > 0 else xs.max() + 1]
    for x in range(image.shape[1]):
        ys = np.flatnonzero(vertical[:, x])
        if ys.size:
            out[ys, x] = image[ys.min() - 1 if vy > 0 else ys.max() + 1, x]
    return out


@pytest.mark.parametrize("direction", list(pp.DIRECTIONS))
def test_pan_motion_is_exact_under_the_warp(photo, direction):
    """Warping frame t-1 by the motion gives frame t on every valid pixel; the invalid ones
    are exactly the strip revealed this frame; depth is constant; the window moves by the
    velocity, which is the motion."""
    pan = pp.make_pan(photo, direction, FRAMES, W, H, SPEED)
    assert pan.colors.shape == (FRAMES, H, W, 3) and pan.colors.dtype == np.uint8
    assert (pan.depth == 5.0).all() and pan.depth.dtype == np.float32
    assert (pan.motion[..., 0] == pan.velocity[0]).all() and (pan.motion[..., 1] == pan.velocity[1]).all()
    assert all(np.subtract(b, a).tolist() == list(pan.velocity) for a, b in zip(pan.origins, pan.origins[1:]))
    valid = validity_mask(pan.depth, pan.motion, pan.depth)
    band, _, _ = pp.revealed(W, H, pan.velocity, 1)
    np.testing.assert_array_equal(~valid, band)
    assert band.sum() == W * H - (W - abs(pan.velocity[0])) * (H - abs(pan.velocity[1]))
    for t in range(1, FRAMES):
        warped = backward_warp(pan.colors[t - 1].astype(np.float32), pan.motion)
        assert np.abs(warped - pan.colors[t])[valid].max() < 0.01, f"frame {t}"
        assert not np.array_equal(pan.colors[t], pan.colors[t - 1])


def test_pan_past_the_photo_wraps_and_stays_exact():
    """A pan longer than the photo allows goes on over its mirrored tiling: still exact."""
    small = pp.load_photo("coffee")[::10, ::10]  # 40 x 60
    pan = pp.make_pan(small, "down-right", 30, 32, 32, 4)
    assert pan.origins[-1][0] + 32 > small.shape[1]  # it did go past the photo
    valid = validity_mask(pan.depth, pan.motion, pan.depth)
    for t in range(1, 30):
        warped = backward_warp(pan.colors[t - 1].astype(np.float32), pan.motion)
        assert np.abs(warped - pan.colors[t])[valid].max() < 0.01


def test_fit_photo_holds_the_whole_pan():
    chelsea = pp.load_photo("chelsea")  # 300 x 451: too short for 256 + 47 * 3
    fitted = pp.fit_photo(chelsea, 256, 256, 48, 3)
    assert fitted.shape[0] >= 256 + 47 * 3 and fitted.shape[1] >= 256 + 47 * 3
    assert pp.fit_photo(chelsea, 64, 64, 10, 3) is chelsea  # big enough: untouched


@pytest.mark.parametrize("direction", list(pp.DIRECTIONS))
@pytest.mark.parametrize("within", [1, 5, 16])
def test_revealed_band_is_what_was_off_screen(direction, within):
    """The band is the pixels whose position `within` frames back is off screen; its parts
    are those that came in through a vertical edge (horizontal lines) or a horizontal one."""
    ux, uy = pp.DIRECTIONS[direction]
    motion = np.empty((H, W, 2), np.float32)
    motion[..., 0], motion[..., 1] = ux * SPEED * within, uy * SPEED * within
    depth = np.full((H, W), 5.0, np.float32)
    band, horizontal, vertical = pp.revealed(W, H, (ux * SPEED, uy * SPEED), within)
    np.testing.assert_array_equal(band, ~validity_mask(depth, motion, depth))
    assert not (horizontal & vertical).any() and ((horizontal | vertical) <= band).all()
    strip = SPEED * within
    if uy == 0:
        assert not vertical.any() and (horizontal == band).all()
        assert (band[:, -strip:] if ux > 0 else band[:, :strip]).all() and band.sum() == strip * H
    if ux == 0:
        assert not horizontal.any() and (vertical == band).all()
        assert (band[-strip:] if uy > 0 else band[:strip]).all() and band.sum() == strip * W
    if ux and uy:  # the L of the diagonal: the right strip comes in sideways, the bottom one from below
        assert horizontal[H // 2, -1] and vertical[-1, W // 2] and (band & ~(horizontal | vertical)).sum() == strip


def test_streak_separates_stretched_lines_and_seams_from_natural_content(photo):
    """Natural photo content scores near 1; edge pixels stretched in by a clamping warp and
    carried score high on streak; seams parallel to the edge score low on streak, and both
    high on lines."""
    for direction in pp.DIRECTIONS:
        pan = pp.make_pan(photo, direction, FRAMES, W, H, SPEED)
        _, h_lines, v_lines = pp.revealed(W, H, pan.velocity, BAND)
        natural = pp.streak(pan.colors[-1], h_lines, v_lines)
        assert 1 / 4 < natural < 4, (direction, natural)
        stretched = [pp.streak_energies(stretch(pan.colors[-1], pan.velocity, h_lines, v_lines), h_lines, v_lines)]
        if (
            direction != "down-right"
        ):  # a clamping warp carries a stretched edge along (on the diagonal it smears a corner)
            stretched.append(pp.streak_energies(carried(pan)[-1], h_lines, v_lines))
            seams = pp.streak(carried(pan, seam=True)[-1], h_lines, v_lines)
            assert seams < 1 / 10, direction
            assert pp.lines_ratio(seams / natural) > 5 and pp.lines_ratio(seams / natural) == pytest.approx(
                natural / seams
            )
        for totals in stretched:
            assert pp.streak_score(totals) > 20 and pp.streak_score(totals) > 10 * max(natural, 1 / natural), direction
            assert pp.lines_ratio(pp.streak_score(totals) / natural) > 5
        assert pp.lines_ratio(1.0) == 1.0
    flat = np.full((H, W, 3), 128, np.uint8)
    band, h_lines, v_lines = pp.revealed(W, H, (SPEED, 0), BAND)
    assert pp.streak(flat, h_lines, v_lines) == 1.0  # no structure: neither way
    assert (
        pp.streak(np.tile(np.arange(W, dtype=np.uint8)[None, :, None] * 2, (H, 1, 3)), h_lines, v_lines) < 0.5
    )  # a ramp along x


def test_ssim_maps_are_model_evaluate_ssim(photo):
    pan = pp.make_pan(photo, "right", 4, W, H, SPEED)
    maps = pp.ssim_maps(pan.colors[1:], pan.colors[:-1])
    assert maps.shape == (3, H - 10, W - 10)
    for i in range(3):
        assert maps[i].mean() == pytest.approx(ssim(pan.colors[i + 1], pan.colors[i]), abs=1e-5)
    assert np.allclose(pp.ssim_maps(pan.colors, pan.colors), 1.0, atol=1e-4)


def test_measure_on_known_outputs(photo):
    """Outputs equal to the photo: every ratio 1, SSIM 1, E_warp 0; a history that carries
    stretched edges: the stream's band SSIM falls, its streak rises, its E_warp is 0."""
    pan = pp.make_pan(photo, "left", FRAMES, W, H, SPEED)
    same = pp.measure(pan, pan.colors, pan.colors, BAND)
    assert same["ssim_stream"] == pytest.approx(1.0, abs=1e-4) and same["ssim_ratio"] == pytest.approx(1.0)
    assert same["ewarp_stream"] < 1e-4 and same["ewarp_photo"] < 1e-4
    assert same["streak_ratio"] == pytest.approx(1.0) and same["streak_stream"] == pytest.approx(same["streak_photo"])
    assert len(same["ssim_curve_stream"]) == FRAMES
    stuck = pp.measure(pan, carried(pan), pan.colors, BAND)
    assert stuck["ewarp_stream"] < 1e-4  # a history that copies itself is perfectly steady ...
    assert stuck["ssim_band_ratio"] < 0.8 and stuck["streak_ratio"] > 10 and stuck["lines_ratio"] > 10  # ... and wrong
    for key in pp.FIGURES:
        assert stuck[f"{key}_ratio"] == pytest.approx(stuck[f"{key}_stream"] / stuck[f"{key}_alone"])
    assert same["lines_ratio"] == pytest.approx(1.0) and stuck["lines_ratio"] == stuck["streak_ratio"]
    agg = pp.aggregate([same, stuck])
    assert agg["pans"] == 2 and agg["ssim_ratio"] == pytest.approx(agg["ssim_stream"] / agg["ssim_alone"])
    assert agg["lines_ratio"] == pytest.approx(math.sqrt(stuck["lines_ratio"]))  # geometric mean with 1
    seams = dict(stuck, streak_ratio=1 / stuck["streak_ratio"], lines_ratio=stuck["lines_ratio"])
    assert pp.aggregate([stuck, seams])["lines_ratio"] == pytest.approx(stuck["lines_ratio"])  # the two kinds add up


def test_styles_resolve_by_name_or_prompt():
    assert pp.resolve_styles("anime,pencil,toon") == [("toon", "anime"), ("pencil", "pencil sketch")]
    assert len(pp.resolve_styles(None)) == 8
    with pytest.raises(SystemExit):
        pp.resolve_styles("no such look")


def test_the_tool_runs_through_a_model_daemon(tmp_path, capsys):
    """The real thing, small: one daemon, the shipped model, one photo, two directions, two
    styles. The figures are finite and consistent, frame 0 (a reset in both runs) is the
    same output in both, and the sheet and JSON are written."""
    code = pp.main(
        [
            "--out",
            str(tmp_path),
            "--json",
            "--frames",
            str(FRAMES),
            "--size",
            "128x128",
            "--photos",
            "astronaut",
            "--directions",
            "right,down-right",
            "--styles",
            "anime,pencil",
            "--band",
            str(BAND),
            "--weights",
            str(SHIPPED),
        ]
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    result = json.loads((tmp_path / "photo_pan.json").read_text())
    assert printed == result
    assert result["settings"]["prompts"] == {"toon": "anime", "pencil": "pencil sketch"}
    assert result["stylizer"].startswith("model/onnxruntime")
    assert result["frames"] == 2 * 2 * 2 * FRAMES
    for style in ("toon", "pencil"):
        assert set(result["pans"][style]) == {"astronaut/right", "astronaut/down-right"}
        for fig in [
            *result["pans"][style].values(),
            *result["by_style_direction"][style].values(),
            result["by_style"][style],
        ]:
            for key in pp.FIGURES:
                for run in ("stream", "alone", "ratio"):
                    assert math.isfinite(fig[f"{key}_{run}"]), (style, key, run)
                assert fig[f"{key}_ratio"] == pytest.approx(fig[f"{key}_stream"] / fig[f"{key}_alone"])
            assert math.isfinite(fig["lines_ratio"]) and fig["lines_ratio"] >= 1.0
            assert fig["ewarp_photo"] < 1e-4
        for fig in result["pans"][style].values():
            assert (
                fig["ssim_curve_stream"][0] == fig["ssim_curve_alone"][0]
            )  # frame 0: the same reset frame, the same seed
            assert fig["ssim_curve_stream"][1:] != fig["ssim_curve_alone"][1:]  # then the history shapes the stream
            assert 0 < fig["ewarp_stream"] and 0 < fig["ewarp_alone"]
    from PIL import Image

    with Image.open(tmp_path / "photo_pan.png") as sheet:
        width, height = sheet.size
    assert width == 5 * 128 + 4 * 4 and height > 2 * 128  # photo | stream, alone for two styles; two directions
