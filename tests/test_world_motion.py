"""The world's engine buffers are right: motion vectors reproduce the next frame (camera
and object motion), renders are deterministic, prompts are split cleanly."""

from __future__ import annotations

import numpy as np
import pytest

from reverie.model.history import sample_positions, validity_mask, warp_error
from reverie.model.world.camera import CameraPath
from reverie.model.world.looks import STYLES, TRAIN_PROMPTS
from reverie.model.world.renderer import WorldRenderer
from reverie.model.world.scene import BOUNCER, VEHICLE, WALKER, build_scene

SIZE = 192
# Documented in docs/world.md: E_warp of the game look with the engine's motion, on pixels
# that pass the depth occlusion test (1 % relative), stays under these.
CAMERA_EWARP_MAX = 0.005
OBJECT_EWARP_MAX = 0.05


@pytest.fixture(scope="module", params=[1, 2])
def world(request):
    scene = build_scene(request.param)
    renderer = WorldRenderer(scene, SIZE, SIZE)
    yield request.param, scene, renderer
    renderer.release()


def _pairs(renderer, path, frames):
    prev = renderer.render(path.pose(frames[0] - 1), path.pose(frames[0] - 2), frames[0] - 1, internal=True)
    for t in frames:
        cur = renderer.render(path.pose(t), path.pose(t - 1), t, internal=True)
        yield prev, cur
        prev = cur


def _same_point_fraction(prev, cur, mask) -> float:
    """Of the masked pixels, the fraction whose object-space surface coordinates, looked up
    through the motion vector in the previous frame, are the same point within a pixel."""
    x, y = sample_positions(cur.motion)
    xi, yi = np.clip(np.rint(x), 0, SIZE - 1).astype(int), np.clip(np.rint(y), 0, SIZE - 1).astype(int)
    surface = cur.internal["surface"]
    drift = np.linalg.norm(prev.internal["surface"][yi, xi] - surface, axis=-1)
    # How far the surface coordinates move per pixel here (stretched at grazing angles).
    step_x = np.linalg.norm(np.diff(surface, axis=1, append=surface[:, -1:]), axis=-1)
    step_y = np.linalg.norm(np.diff(surface, axis=0, append=surface[-1:]), axis=-1)
    footprint = np.maximum(np.maximum(step_x, step_y), 1e-4)
    return float(np.mean((drift / footprint)[mask] < 1.0))


@pytest.mark.parametrize("kind", ["walk", "run", "strafe", "orbit", "fast_turn"])
def test_camera_motion_vectors_reproduce_the_next_frame(world, kind):
    seed, scene, renderer = world
    path = CameraPath(kind, scene, seed)
    errors, same = [], []
    for prev, cur in _pairs(renderer, path, range(30, 36)):
        valid = validity_mask(prev.depth, cur.motion, cur.prev_depth, tolerance=0.01)
        assert valid.mean() > 0.75, "most pixels must be visible in both frames"
        errors.append(warp_error(prev.color, cur.color, cur.motion, valid))
        ground = valid & (cur.depth < 900)  # the sky has no surface point to follow
        same.append(_same_point_fraction(prev, cur, ground))
        if np.abs(cur.motion[ground]).mean() > 2.0:  # the check itself catches wrong vectors
            frozen = type(cur)(**{**cur.__dict__, "motion": np.zeros_like(cur.motion)})
            assert _same_point_fraction(prev, frozen, ground) < 0.6
    assert max(errors) < CAMERA_EWARP_MAX, errors
    assert min(same) > 0.9, same


def test_object_motion_vectors_follow_the_objects(world):
    """Static camera, moving objects: the motion vectors follow the objects' own motion."""
    seed, scene, renderer = world
    path = CameraPath("static", scene, seed)
    same, errors, pixels = [], [], 0
    for prev, cur in _pairs(renderer, path, range(2, 40)):
        valid = validity_mask(prev.depth, cur.motion, cur.prev_depth, tolerance=0.01)
        moving = (
            valid & np.isin(cur.internal["material"], [WALKER, VEHICLE, BOUNCER]) & (np.abs(cur.motion).sum(-1) > 0.5)
        )
        if moving.sum() < 10:
            continue
        same.append(_same_point_fraction(prev, cur, moving))
        errors.append(warp_error(prev.color, cur.color, cur.motion, moving))
        pixels += int(moving.sum())
    assert pixels > 200, "the static camera should watch moving objects"
    assert np.mean(same) > 0.85, same
    assert np.mean(errors) < OBJECT_EWARP_MAX, errors


def test_cut_sets_reset_and_no_motion(world):
    seed, scene, renderer = world
    path = CameraPath("cuts", scene, seed)
    cuts = [t for t in range(1, 100) if path.is_cut(t)]
    assert cuts, "the cuts path must cut"
    t = cuts[0]
    frame = renderer.render(path.pose(t), path.pose(t), t, reset=True)
    assert frame.reset
    assert np.abs(frame.motion[frame.depth < 900]).max() < 1e-3  # only the sky's own: none


def test_same_seed_same_frames_bit_for_bit():
    def render(seed):
        scene = build_scene(seed)
        renderer = WorldRenderer(scene, 96, 64)
        path = CameraPath("run", scene, seed)
        frames = [renderer.render(path.pose(t), path.pose(t - 1), t, styles=("watercolor", "toon")) for t in (5, 6)]
        renderer.release()
        return frames

    a, b, c = render(7), render(7), render(8)
    for fa, fb in zip(a, b):
        for name in ("color", "depth", "motion"):
            assert np.array_equal(getattr(fa, name), getattr(fb, name)), name
        for style in fa.styles:
            assert np.array_equal(fa.styles[style], fb.styles[style]), style
    assert not np.array_equal(a[0].color, c[0].color), "another seed must give another world"


def test_heldout_prompts_never_appear_among_training_prompts():
    training = {p.strip().lower() for p in TRAIN_PROMPTS}
    for s in STYLES.values():
        assert len(s.train_prompts) >= 6 and len(s.heldout_prompts) >= 2, s.name
        for p in s.heldout_prompts:
            assert p.strip().lower() not in training, (s.name, p)
    assert len(STYLES) >= 8
    assert sum(s.anchored for s in STYLES.values()) >= len(STYLES) / 2


def test_depth_is_linear_meters_and_motion_is_pixels():
    scene = build_scene(3)
    renderer = WorldRenderer(scene, 128, 96)
    path = CameraPath("strafe", scene, 3)
    frame = renderer.render(path.pose(10), path.pose(9), 10, internal=True)
    renderer.release()
    assert frame.color.shape == (96, 128, 4) and frame.color.dtype == np.uint8
    assert frame.depth.shape == (96, 128) and frame.depth.dtype == np.float32
    assert frame.motion.shape == (96, 128, 2) and frame.motion.dtype == np.float32
    ground = frame.depth < 900
    assert ground.any() and (frame.depth[ground] > 0.1).all()
    # Strafing right at 2 m/s: the world slides left, so its previous position is to the
    # right of the current one: motion x > 0 where something is in view, sky excluded.
    assert np.median(frame.motion[..., 0][ground]) > 0
    # Row 0 is the top: the sky is up.
    assert (frame.depth[0] >= 999).mean() > (frame.depth[-1] >= 999).mean()


def test_internal_buffers_agree_with_each_other():
    """World positions (from depth) equal the static world's surface coordinates, and UVs
    are two of the surface coordinates."""
    scene = build_scene(5)
    renderer = WorldRenderer(scene, 128, 128)
    path = CameraPath("walk", scene, 5)
    frame = renderer.render(path.pose(12), path.pose(11), 12, internal=True)
    renderer.release()
    inside = frame.internal
    static = (inside["object_id"] == 0) & (frame.depth < 900)
    assert static.mean() > 0.3
    error = np.linalg.norm(inside["world"] - inside["surface"], axis=-1)[static]
    assert np.median(error / frame.depth[static]) < 1e-3  # the same point, to depth precision
    uv_in_surface = [np.isclose(inside["uv"][..., k][..., None], inside["surface"]).any(-1) for k in (0, 1)]
    assert uv_in_surface[0].all() and uv_in_surface[1].all()
