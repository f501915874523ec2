"""Game frames to the working size and back (model/resize.py): shapes and contracts, and
the guided upsampling's quality against real ground truth: world frames rendered at
1920x1080 with a style, the truth shrunk to 448x256 as if it were the model's output."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from reverie.model import resize
from reverie.model.resize import game_to_model, model_to_game, shrink_color, write_upsampled
from reverie.model.upsample_eval import compare, detail, psnr, render_frame

QUALITY_STYLES = ("toon", "watercolor", "pencil", "noir", "thermal")
WORK = (448, 256)


@pytest.fixture(scope="module")
def world_1080p():
    return render_frame(3, 1920, 1080, QUALITY_STYLES)


def image_of(pixels: np.ndarray) -> torch.Tensor:
    """(h, w, 3) 0..255 -> the model's (1, 3, h, w) output in -1..1."""
    return torch.from_numpy(np.ascontiguousarray(pixels, np.float32) / 127.5 - 1).permute(2, 0, 1)[None].contiguous()


def textured_color(height: int, width: int, seed: int = 0) -> np.ndarray:
    """An RGBA game frame with detail at every scale (smooth gradients plus pixel noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 128 + 60 * np.sin(x / 37.0) * np.cos(y / 23.0)
    rgb = np.stack([base + rng.normal(0, 25, base.shape) for _ in range(3)], -1)
    color = np.full((height, width, 4), 255, np.uint8)
    color[..., :3] = np.clip(rgb, 0, 255).astype(np.uint8)
    return color


# ---------------------------------------------------------------- in
def test_game_to_model_gives_working_size_float_planes(world_1080p):
    f = world_1080p
    color01, depth, motion = game_to_model(f.color, f.depth, f.motion, WORK)
    assert color01.shape == (1, 3, 256, 448) and depth.shape == (1, 1, 256, 448) and motion.shape == (1, 2, 256, 448)
    assert all(t.dtype == torch.float32 for t in (color01, depth, motion))
    assert 0.0 <= float(color01.min()) and float(color01.max()) <= 1.0
    shrunk = shrink_color(np.ascontiguousarray(f.color), WORK)[..., :3].astype(np.float32) / 255
    np.testing.assert_allclose(color01[0].permute(1, 2, 0).numpy(), shrunk, atol=1e-6)


def test_color_shrinks_like_an_area_filter(world_1080p):
    """The fast chain (bilinear to 1792x1024, two exact halvings) against OpenCV's one-step INTER_AREA."""
    color = np.ascontiguousarray(world_1080p.color)
    ours = shrink_color(color, WORK).astype(np.float32)
    area = cv2.resize(color, WORK, interpolation=cv2.INTER_AREA).astype(np.float32)
    assert ours.shape == (256, 448, 4)
    assert float(np.abs(ours - area).mean()) < 0.5


def test_depth_is_nearest_and_motion_scales_per_axis():
    rng = np.random.default_rng(1)
    color = rng.integers(0, 256, (96, 128, 4), dtype=np.uint8)
    depth = rng.choice(np.array([2.0, 50.0], np.float32), (96, 128))
    motion = np.empty((96, 128, 2), np.float32)
    motion[..., 0], motion[..., 1] = 8.0, -4.0
    _, depth_t, motion_t = game_to_model(color, depth, motion, (32, 48))  # x by 1/4, y by 1/2
    assert set(depth_t.unique().tolist()) <= {2.0, 50.0}, "never a depth between two surfaces"
    assert torch.all(motion_t[0, 0] == 2.0) and torch.all(motion_t[0, 1] == -2.0)
    motion[:] = 0  # the model's copies never alias the game's buffers
    assert float(motion_t.abs().min()) == 2.0


@pytest.mark.parametrize("game, size", [((97, 131), (64, 48)), ((33, 33), (16, 16)), ((30, 100), (112, 32))])
def test_nearest_takes_the_samples_of_torch_nearest_exact(game, size):
    depth = np.random.default_rng(2).uniform(0.1, 500, game).astype(np.float32)
    _, ours, _ = game_to_model(np.zeros(game + (4,), np.uint8), depth, np.zeros(game + (2,), np.float32), size)
    theirs = F.interpolate(torch.from_numpy(depth)[None, None], size=size[::-1], mode="nearest-exact")
    assert torch.equal(ours, theirs)


def test_f16_motion_resizes_like_f32():
    rng = np.random.default_rng(3)
    color = rng.integers(0, 256, (540, 960, 4), dtype=np.uint8)
    depth = rng.uniform(1, 100, (540, 960)).astype(np.float32)
    motion = rng.uniform(-20, 20, (540, 960, 2)).astype(np.float16)
    _, _, from_f16 = game_to_model(color, depth, motion, WORK)
    _, _, from_f32 = game_to_model(color, depth, motion.astype(np.float32), WORK)
    assert torch.equal(from_f16, from_f32)


def test_cpu_tensors_give_the_numpy_results(world_1080p):
    f = world_1080p
    planes = [np.array(p) for p in (f.color, f.depth, f.motion)]
    for host, tensor in zip(game_to_model(*planes, WORK), game_to_model(*(torch.from_numpy(p) for p in planes), WORK)):
        assert torch.equal(host, tensor)
    image = image_of(shrink_color(np.ascontiguousarray(f.styles["toon"]), WORK)[..., :3])
    out_np = np.zeros(f.color.shape, np.uint8)
    out_t = torch.zeros(f.color.shape, dtype=torch.uint8)
    model_to_game(image, out_np, 0.8, planes[0])
    model_to_game(image, out_t, 0.8, torch.from_numpy(planes[0]))
    assert np.array_equal(out_np, out_t.numpy())


# ---------------------------------------------------------------- out: contracts
@pytest.mark.parametrize("upsample", resize.UPSAMPLES)
def test_same_size_is_written_as_it_is_with_opaque_alpha(upsample):
    rng = np.random.default_rng(4)
    image = torch.from_numpy(rng.uniform(-1.1, 1.1, (1, 3, 48, 64)).astype(np.float32))  # a little out of range too
    out = np.zeros((48, 64, 4), np.uint8)
    model_to_game(image, out, 1.0, textured_color(48, 64), upsample=upsample)
    expected = ((image[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    assert np.array_equal(out[..., :3], expected)
    assert (out[..., 3] == 255).all()


@pytest.mark.parametrize("upsample", resize.UPSAMPLES)
@pytest.mark.parametrize("size", [(96, 128), (48, 64)])  # resized 2x, and the same size
def test_strength_blends_with_the_game_color(upsample, size):
    color = textured_color(*size, seed=5)
    image = image_of(np.random.default_rng(6).uniform(0, 255, (48, 64, 3)))
    full, none, half = (np.zeros(size + (4,), np.uint8) for _ in range(3))
    model_to_game(image, full, 1.0, color, upsample=upsample)
    model_to_game(image, none, 0.0, color, upsample=upsample)
    model_to_game(image, half, 0.5, color, upsample=upsample)
    assert np.array_equal(none[..., :3], color[..., :3]), "strength 0: the game's own color"
    expected = (full[..., :3].astype(int) + color[..., :3]) / 2
    assert np.abs(half[..., :3] - expected).max() <= 1
    assert all((o[..., 3] == 255).all() for o in (full, none, half))
    with pytest.raises(ValueError, match="strength below 1"):
        model_to_game(image, full, 0.5, None, upsample=upsample)


def test_output_is_written_in_place_into_a_strided_view():
    color = textured_color(96, 128)
    image = image_of(np.random.default_rng(7).uniform(0, 255, (48, 64, 3)))
    ring = np.zeros((96, 256, 4), np.uint8)
    view = ring[:, 64:192]  # not contiguous: rows are 256 pixels apart
    model_to_game(image, view, 1.0, color)
    plain = np.zeros((96, 128, 4), np.uint8)
    model_to_game(image, plain, 1.0, color)
    assert np.array_equal(ring[:, 64:192], plain)
    assert not ring[:, :64].any() and not ring[:, 192:].any()


def test_bilinear_is_opencvs_and_close_to_torchs():
    rng = np.random.default_rng(8)
    pixels = rng.uniform(0, 255, (64, 112, 3)).astype(np.float32)
    out = np.zeros((270, 480, 4), np.uint8)
    model_to_game(image_of(pixels), out, 1.0, textured_color(270, 480), upsample="bilinear")
    ours = out[..., :3].astype(int)
    cv = np.clip(np.rint(cv2.resize(pixels, (480, 270), interpolation=cv2.INTER_LINEAR)), 0, 255)
    assert np.abs(ours - cv).max() <= 1
    planes = torch.from_numpy(pixels).permute(2, 0, 1)[None]
    torch_up = F.interpolate(planes, size=(270, 480), mode="bilinear", align_corners=False)
    assert np.abs(ours - torch_up[0].permute(1, 2, 0).round().numpy()).max() <= 1


def test_a_bad_upsample_is_refused():
    with pytest.raises(ValueError, match="upsample must be one of guided, bilinear"):
        model_to_game(torch.zeros(1, 3, 8, 8), np.zeros((16, 16, 4), np.uint8), upsample="bicubic")


# ---------------------------------------------------------------- out: what the guide does
def affine_of_luma(color: np.ndarray) -> np.ndarray:
    """A 'style' that is a per-channel affine map of the game's luminance (thermal-like:
    blue falls where red rises), at the color's own size, (H, W, 3) float 0..255."""
    luma = cv2.cvtColor(np.ascontiguousarray(color), cv2.COLOR_RGBA2GRAY).astype(np.float32)
    return np.stack([0.9 * luma + 20, 0.5 * luma + 60, 230 - 0.8 * luma], -1)


def test_guided_recovers_full_resolution_detail_of_a_map_of_the_guide():
    """The model's output is a local linear map of the game's shading: the guide brings the
    game's full-resolution detail back through it; bilinear cannot."""
    color = textured_color(540, 960)
    truth = affine_of_luma(color)
    low = affine_of_luma(shrink_color(color, WORK))  # what a perfect model outputs at the working size
    guided, bilinear = np.zeros((540, 960, 4), np.uint8), np.zeros((540, 960, 4), np.uint8)
    write_upsampled(low, guided, 1.0, color, upsample="guided")
    write_upsampled(low, bilinear, 1.0, color, upsample="bilinear")
    target = np.clip(np.rint(truth), 0, 255)
    err_guided = np.abs(guided[..., :3] - target).mean()
    err_bilinear = np.abs(bilinear[..., :3] - target).mean()
    assert err_guided < 2.0 and err_bilinear > 5 * err_guided, (err_guided, err_bilinear)


def test_a_flat_game_frame_guides_to_the_bilinear_result():
    """Nothing to follow in the guide (a = 0): guided upsampling is the bilinear one."""
    color = np.full((270, 480, 4), 90, np.uint8)
    image = image_of(np.random.default_rng(9).uniform(0, 255, (64, 112, 3)))
    guided, bilinear = np.zeros((270, 480, 4), np.uint8), np.zeros((270, 480, 4), np.uint8)
    model_to_game(image, guided, 1.0, color, upsample="guided")
    model_to_game(image, bilinear, 1.0, color, upsample="bilinear")
    assert np.abs(guided.astype(int) - bilinear).max() <= 1


def test_the_device_path_guides_the_same_way():
    """The torch version (device rings), run here on CPU tensors: it recovers the same map."""
    color = textured_color(540, 960)
    target = np.clip(np.rint(affine_of_luma(color)), 0, 255)
    low = affine_of_luma(shrink_color(color, WORK))
    host = np.zeros((540, 960, 4), np.uint8)
    write_upsampled(low, host, 1.0, color)
    device = torch.zeros((540, 960, 4), dtype=torch.uint8)
    resize._model_to_game_torch(image_of(low), device, 1.0, torch.from_numpy(color), "guided")
    assert (device[..., 3] == 255).all()
    err_device = np.abs(device[..., :3].numpy().astype(int) - target).mean()
    assert err_device < 2.5, err_device
    assert np.abs(device[..., :3].numpy().astype(int) - host[..., :3]).mean() < 2.0


# ---------------------------------------------------------------- out: quality on world frames
def test_guided_upsampling_beats_bilinear_on_world_frames(world_1080p):
    """Per style: PSNR against the 1080p ground truth at least bilinear's (within 0.1 dB;
    measured: never more than 0.04 below), detail (mean |Laplacian| over the truth's)
    closer to 1; on average over the styles well above (docs/benchmarks.md)."""
    f = world_1080p
    gains = []
    for style in QUALITY_STYLES:
        truth = f.styles[style]
        guided = compare(truth, f.color, WORK, upsample="guided")
        bilinear = compare(truth, f.color, WORK, upsample="bilinear")
        assert guided["psnr"] > bilinear["psnr"] - 0.1, (style, guided, bilinear)
        assert abs(1 - guided["detail"]) < abs(1 - bilinear["detail"]), (style, guided, bilinear)
        gains.append(guided["psnr"] - bilinear["psnr"])
    assert np.mean(gains) > 1.5, gains


def test_quality_metrics():
    flat = np.full((32, 32, 3), 100, np.uint8)
    noisy = np.random.default_rng(10).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert detail(flat) == 0.0 and detail(noisy) > 10
    assert psnr(flat, flat + 1) == pytest.approx(48.13, abs=0.01) and psnr(flat, flat) > 100


def test_the_models_output_is_left_as_it_was():
    """The output is the next frame's history: writing it out must not touch it, whatever its layout."""
    nhwc = torch.rand(1, 48, 64, 3) * 2 - 1
    for image in (torch.rand(1, 3, 48, 64) * 2 - 1, nhwc.permute(0, 3, 1, 2)):
        before = image.clone()
        for size in ((48, 64), (96, 128)):
            model_to_game(image, np.zeros(size + (4,), np.uint8), 0.5, textured_color(*size))
        assert torch.equal(image, before)
