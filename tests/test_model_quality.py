"""The picture-quality figures and pictures: the detail ratio (`reverie eval`'s "detail"),
the evaluation at the game's size through the stylizer stage (`reverie eval --game-size`)
and the contact sheets (`python -m reverie.model.sheets`). A tiny random network and a
stand-in prompt encoder: these tests are about the measurements, not the network."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from model_fixtures import fake_encoder, save_tiny_weights, tiny_model

from reverie.cli import main as reverie
from reverie.model.backends.torch_backend import TorchBackend
from reverie.model.evaluate import (
    DETAIL_HISTORY,
    detail_energy,
    detail_ratio,
    edge_energy,
    evaluate_game_size,
    evaluate_style,
    grid_energy,
    rollout,
)
from reverie.model.stylize import ModelStylizer
from reverie.model.world.images import read_png
from reverie.model.world.looks import STYLES
from reverie.model.world.sequence import SequenceSpec, render_sequence


def textured(seed: int = 0, size: int = 96) -> np.ndarray:
    """A frame with edges at several scales: blocks, stripes and a disc."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size]
    image = np.zeros((size, size, 3), np.float32)
    image[..., 0] = 120 + 100 * ((x // 8 + y // 8) % 2)
    image[..., 1] = 128 + 90 * np.sin(x / 2.5)
    image[..., 2] = np.where((x - 40) ** 2 + (y - 50) ** 2 < 25**2, 220, 30)
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def test_detail_ratio_is_below_one_when_blurred_one_on_the_truth_above_one_when_noisy():
    truth = [textured(s) for s in range(3)]
    blurred = [cv2.GaussianBlur(t, (0, 0), 1.5) for t in truth]
    rng = np.random.default_rng(1)
    noisy = [np.clip(t + rng.normal(0, 25, t.shape), 0, 255).astype(np.uint8) for t in truth]
    assert detail_ratio(truth, truth) == 1.0
    assert detail_ratio(blurred, truth) < 0.5
    assert detail_ratio(noisy, truth) > 1.3
    flat = np.full((32, 32, 3), 90, np.uint8)
    assert detail_energy(flat) == 0.0
    # luminance: a pure-blue edge weighs 0.114 of a white one; alpha is ignored
    edge = np.zeros((32, 32, 4), np.uint8)
    edge[:, 16:, 2] = 200
    white = edge.copy()
    white[:, 16:, :3] = 200
    edge[..., 3] = np.arange(32, dtype=np.uint8)[None] * 8
    assert detail_energy(edge) == pytest.approx(0.114 * detail_energy(white), rel=1e-4)


def test_grid_energy_sees_a_cell_locked_lattice_and_not_the_content_nor_noise():
    """A 4x4-periodic pattern of 3 levels on a textured frame reads near its own amplitude;
    the frame alone, the frame shifted by a pixel and independent noise of 25 levels (more
    detail energy than the lattice adds) read far less."""
    frame = textured(size=128)
    rng = np.random.default_rng(2)
    cell = rng.normal(0, 1, (4, 4))
    cell = 3.0 * (cell - cell.mean()) / cell.std()  # the phases' spread: 3 levels
    lattice = np.tile(cell, (32, 32))[..., None]
    locked = np.clip(frame + lattice, 0, 255).astype(np.uint8)
    noisy = np.clip(frame + rng.normal(0, 25, frame.shape), 0, 255).astype(np.uint8)
    base = grid_energy(frame, 4)
    assert 2.0 < grid_energy(locked, 4) < 3.5, grid_energy(locked, 4)
    assert base < 0.6 and grid_energy(np.roll(frame, 1, axis=1), 4) < 0.6 and grid_energy(noisy, 4) < 0.8
    assert detail_energy(noisy) > detail_energy(locked)
    assert grid_energy(np.full((64, 64, 3), 77, np.uint8), 4) == 0.0


def test_edge_energy_sees_a_dotted_line_along_the_frames_edges_and_not_the_content():
    """A textured frame reads near 1 and the same frame cropped anywhere too; a dotted line
    of 20 levels in the last two columns and rows reads well above."""
    frame = textured(size=128)
    assert 0.7 < edge_energy(frame) < 1.4 and 0.7 < edge_energy(frame[7:100, 19:120]) < 1.4
    dotted = frame.astype(np.float32)
    dots = np.where(np.arange(128) % 2 == 0, 20.0, -20.0)
    dotted[:, -2:] += dots[:, None, None]
    dotted[-2:, :] += dots[None, :, None]
    assert edge_energy(np.clip(dotted, 0, 255).astype(np.uint8)) > 1.5 > 1.3 > edge_energy(frame)
    assert edge_energy(np.full((64, 64, 3), 77, np.uint8)) == 0.0


def test_rollout_reports_the_detail_ratio_from_the_tenth_frame_after_each_reset():
    """On the "cuts" path (a cut every 45 frames) only frames 10..44 and 55..59 count; the
    figure is the mean energy of those outputs over that of their ground truth."""
    model = tiny_model()
    prompt = fake_encoder("winter night")
    figures = evaluate_style(model, "winter", prompt, seed=1002, frames=60, width=32, height=32, path="cuts")
    frames = list(rollout(model, "winter", prompt, seed=1002, frames=60, width=32, height=32, path="cuts"))
    assert [i for i, f in enumerate(frames) if f.reset] == [0, 45]
    counted = [f for i, f in enumerate(frames) if (i % 45) >= DETAIL_HISTORY]
    assert figures["detail_frames"] == len(counted) == 35 + 5
    assert figures["detail_out"] == pytest.approx(np.mean([detail_energy(f.output) for f in counted]), rel=1e-6)
    assert figures["detail_gt"] == pytest.approx(np.mean([detail_energy(f.target) for f in counted]), rel=1e-6)
    assert figures["detail"] == pytest.approx(figures["detail_out"] / figures["detail_gt"], rel=1e-9)
    assert figures["grid_out"] == pytest.approx(np.mean([grid_energy(f.output, 4) for f in counted]), rel=1e-6)
    assert figures["grid_gt"] == pytest.approx(np.mean([grid_energy(f.target, 4) for f in counted]), rel=1e-6)
    short = evaluate_style(model, "winter", prompt, seed=1002, frames=DETAIL_HISTORY, width=32, height=32, path="walk")
    assert "detail" not in short and short["detail_frames"] == 0  # no frame has had 10 frames of history


def test_eval_json_carries_the_detail_ratio_per_style_and_in_the_mean(tmp_path, capsys):
    weights = save_tiny_weights(tmp_path / "w")
    code = reverie(
        [
            "eval",
            "--weights",
            str(weights),
            "--json",
            "--size",
            "32x32",
            "--frames",
            "13",
            "--path",
            "walk",
            "--style",
            "toon",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    toon = result["styles"]["toon"]
    assert toon["detail_frames"] == 3 and toon["detail"] == pytest.approx(toon["detail_out"] / toon["detail_gt"])
    assert result["mean"]["detail"] == pytest.approx(toon["detail"]) and len(result["weights_sha256"]) == 64


def tiny_stylizers(model, work_height: int, trust: float = 0.0, seen: list | None = None):
    """stylizer_for(prompt) for evaluate_game_size: the tiny network through the real stage."""

    class Backend(TorchBackend):
        def denoise(self, inputs):
            if seen is not None:
                seen.append(tuple(inputs["game"].shape[-2:]))
            return super().denoise(inputs)

    backend = Backend(model)
    return lambda text: ModelStylizer(
        backend, encoder=fake_encoder, stride=8, work_height=work_height, prompt=text, history_trust=trust
    )


def test_game_size_eval_is_the_rollout_when_the_game_runs_at_the_working_size():
    """Nothing to resize: the stage's figures are `evaluate_style`'s, exactly the same frames."""
    model = tiny_model()
    styles = ["oil", "noir"]
    got = evaluate_game_size(tiny_stylizers(model, 64, trust=3.0), styles, seed=1003, frames=14, width=64, height=64)
    for name in styles:
        want = evaluate_style(
            model,
            name,
            fake_encoder(STYLES[name].train_prompts[0]),
            seed=1003,
            frames=14,
            width=64,
            height=64,
            history_trust=3.0,
        )
        for key in ("psnr", "ssim", "ewarp", "ewarp_gt", "detail", "detail_out", "detail_gt", "detail_frames"):
            assert got["styles"][name][key] == pytest.approx(want[key], rel=1e-6, abs=1e-9), (name, key)
    assert got["game_size"] == "64x64" and got["mean"]["detail"] == pytest.approx(
        np.mean([got["styles"][n]["detail"] for n in styles])
    )


def test_game_size_eval_resizes_through_the_stage_and_scores_at_the_game_size():
    seen: list = []
    model = tiny_model()
    result = evaluate_game_size(
        tiny_stylizers(model, 64, seen=seen), ["toon", "pencil"], seed=1000, frames=12, width=192, height=128
    )
    assert seen == [(64, 96)] * (2 * 12)  # 192x128 works at 96x64
    for figures in result["styles"].values():
        assert figures["detail_frames"] == 2 and len(figures["psnr_curve"]) == 12
        for key in ("psnr", "ssim", "ewarp", "ewarp_gt", "detail", "detail_out", "detail_gt"):
            assert np.isfinite(figures[key]) and figures[key] > 0, key
    assert result["seconds"] > 0 and result["stylize_ms"] > 0
    # the ground truth it scores against is the world rendered at the game's size
    frames = list(render_sequence(SequenceSpec(1000, 12, 192, 128, "mixed", ("toon",))))
    gt = np.mean([detail_energy(f.styles["toon"]) for f in frames[DETAIL_HISTORY:]])
    assert result["styles"]["toon"]["detail_gt"] == pytest.approx(gt, rel=1e-6)
    with pytest.raises(ValueError, match="held-out"):
        evaluate_game_size(tiny_stylizers(model, 64), ["toon"], seed=3, frames=2, width=64, height=64)


def test_reverie_eval_game_size_runs_the_stage_at_its_working_size(tmp_path, capsys):
    weights = save_tiny_weights(tmp_path / "w")
    code = reverie(
        [
            "eval",
            "--weights",
            str(weights),
            "--json",
            "--game-size",
            "96x64",
            "--work-height",
            "32",
            "--backend",
            "torch",
            "--frames",
            "11",
            "--style",
            "thermal",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (
        result["game_size"] == "96x64"
        and result["work_size"] == "48x32"
        and result["stylizer"].startswith("model/torch/cpu")
    )
    assert (
        result["styles"]["thermal"]["detail_frames"] == 1
        and "detail" in result["mean"]
        and len(result["weights_sha256"]) == 64
    )
    assert reverie(["eval", "--weights", str(weights), "--game-size", "96x64", "--jobs", "2"]) == 2


def test_sheet_shows_the_stage_output_after_the_history_beside_game_and_truth():
    """At a size that fits a tile: game | model | ground truth, the model tile being the
    evaluation rollout's frame `history` (the stage reproduces it), no crop columns."""
    from reverie.model.sheets import capture_rows, compose

    model = tiny_model()
    styles = ["watercolor", "mosaic"]
    rows, frame, since = capture_rows(
        tiny_stylizers(model, 64), styles, seed=1004, width=64, height=64, history=4, path="walk"
    )
    assert (frame, since) == (4, 4)
    sheet = compose(rows, frame, since)
    assert {c for _, c in sheet.boxes} == {"game", "model", "ground truth"}
    for r, name in enumerate(styles):
        want = list(rollout(model, name, fake_encoder(STYLES[name].train_prompts[0]), 1004, 5, 64, 64, path="walk"))[4]
        for column, image in (("model", want.output), ("ground truth", want.target), ("game", want.color[..., :3])):
            y, x, h, w = sheet.boxes[(r, column)]
            np.testing.assert_array_equal(sheet.image[y : y + h, x : x + w], image, err_msg=f"{name} {column}")


def test_sheet_of_a_large_frame_scales_tiles_and_adds_full_resolution_crops(tmp_path):
    from reverie.model.sheets import main

    weights = save_tiny_weights(tmp_path / "w")
    out = tmp_path / "sheet.png"
    assert (
        main(
            [
                "--size",
                "96x64",
                "--tile",
                "48x32",
                "--work-height",
                "32",
                "--backend",
                "torch",
                "--weights",
                str(weights),
                "--styles",
                "oil,thermal",
                "--history",
                "3",
                "--path",
                "walk",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    image = read_png(out)
    # 5 columns: 3 tiles of 48 and 2 crops of 24, gaps of 4; 2 rows of label 20 + tile 32, the title and gaps
    assert image.shape == (26 + 2 * (20 + 32 + 4) + 4, 3 * 48 + 2 * 24 + 6 * 4, 3)

    from reverie.model.sheets import capture_rows, center_crop, compose

    frames = list(render_sequence(SequenceSpec(1000, 4, 96, 64, "walk", ("oil",))))
    rows, frame, since = capture_rows(
        tiny_stylizers(tiny_model(), 32), ["oil"], seed=1000, width=96, height=64, history=3, path="walk"
    )
    sheet = compose(rows, frame, since, tile=(48, 32))
    np.testing.assert_array_equal(rows[0].truth, frames[3].styles["oil"][..., :3])
    for column, full in (("model 1:1", rows[0].output), ("ground truth 1:1", rows[0].truth)):
        y, x, h, w = sheet.boxes[(0, column)]
        assert (h, w) == (32, 24)
        np.testing.assert_array_equal(sheet.image[y : y + h, x : x + w], full[16:48, 36:60])
        np.testing.assert_array_equal(center_crop(full, 24, 32), full[16:48, 36:60])
    y, x, h, w = sheet.boxes[(0, "game")]
    np.testing.assert_array_equal(
        sheet.image[y : y + h, x : x + w], cv2.resize(frames[3].color[..., :3], (48, 32), interpolation=cv2.INTER_AREA)
    )
