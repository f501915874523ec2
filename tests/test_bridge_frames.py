"""Frames across two real processes: byte-exact round trips, size changes, header fields,
bad planes, and the newest-frame-first rule."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import random_frame, stylizer_spec
from stylizers import expected_mix

from reverie.bridge import Client, FrameDropped, FrameFormatError, FrameRejected


def test_thousand_frames_round_trip_byte_exact(start_daemon, endpoints, rng):
    start_daemon(stylizer_spec("Mix"))
    frames = [random_frame(rng, 640, 360) for _ in range(8)]
    with Client(endpoints.control) as game:
        for i in range(1000):
            color, depth, motion = frames[i % len(frames)]
            color = color.copy()
            color[i % 360, :, 0] = (i % 255) + 1  # every frame differs from every other
            frame_id = game.submit(color, depth, motion)
            out = game.wait_output(frame_id, timeout_s=5)
            assert out.frame_id == frame_id
            np.testing.assert_array_equal(out.image, expected_mix(frame_id, color, depth, motion, False))
        assert game.status()["stats"]["frames"] == 1000


def test_size_and_motion_format_change_mid_stream(start_daemon, endpoints, rng):
    start_daemon(stylizer_spec("Mix"))
    sizes = [
        (640, 360, np.float32),
        (320, 180, np.float32),
        (1280, 720, np.float16),
        (640, 360, np.float16),
        (64, 48, np.float32),
    ]
    with Client(endpoints.control) as game:
        for width, height, motion_dtype in sizes:
            for _ in range(3):
                color, depth, motion = random_frame(rng, width, height, motion_dtype)
                frame_id = game.submit(color, depth, motion)
                out = game.wait_output(frame_id, timeout_s=5)
                assert out.image.shape == (height, width, 4)
                np.testing.assert_array_equal(out.image, expected_mix(frame_id, color, depth, motion, False))
            assert game.status()["session"]["size"] == [width, height]


def test_reset_flag_and_camera_fields_reach_the_stylizer(start_daemon, endpoints, rng):
    start_daemon(stylizer_spec("Camera"))
    color, depth, motion = random_frame(rng, 64, 64)
    with Client(endpoints.control) as game:
        for reset in (False, True, False, True):
            frame_id = game.submit(
                color, depth, motion, reset=reset, jitter=(0.25, -0.5), near=0.1, far=500.0, fov_y=1.2
            )
            out = game.wait_output(frame_id).image
            assert out[0, 0, 0] == int(reset)
            camera = out[1, :5].copy().view(np.float32).ravel()
            np.testing.assert_allclose(camera, [0.25, -0.5, 0.1, 500.0, 1.2], rtol=1e-6)


@pytest.mark.parametrize(
    "plane, value",
    [("depth", np.nan), ("depth", np.inf), ("motion", np.nan), ("motion", -np.inf)],
)
def test_non_finite_depth_or_motion_rejected_and_daemon_keeps_serving(start_daemon, endpoints, rng, plane, value):
    start_daemon(stylizer_spec("Mix"))
    color, depth, motion = random_frame(rng, 96, 64)
    bad_depth, bad_motion = depth.copy(), motion.copy()
    if plane == "depth":
        bad_depth[10, 20] = value
    else:
        bad_motion[10, 20, 1] = value
    with Client(endpoints.control) as game:
        frame_id = game.submit(color, bad_depth, bad_motion)
        with pytest.raises(FrameRejected, match=rf"{plane} has 1 non-finite value.*row 10, column 20"):
            game.wait_output(frame_id)
        assert "non-finite" in game.last_error
        frame_id = game.submit(color, depth, motion)
        np.testing.assert_array_equal(
            game.wait_output(frame_id).image, expected_mix(frame_id, color, depth, motion, False)
        )
        assert game.status()["stats"]["failed"] == 1


def test_stylizer_exception_fails_the_frame_not_the_daemon(start_daemon, endpoints, rng):
    start_daemon(stylizer_spec("Broken"))
    color, depth, motion = random_frame(rng, 64, 64)
    with Client(endpoints.control) as game:
        outcomes = []
        for _ in range(6):
            frame_id = game.submit(color, depth, motion)
            try:
                game.wait_output(frame_id)
                outcomes.append("ok")
            except FrameRejected as exc:
                assert "RuntimeError: boom" in str(exc)
                outcomes.append("failed")
        assert outcomes == ["ok", "ok", "failed", "ok", "ok", "failed"]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c, d, m: (c[..., :3], d, m), r"color must be \(H, W, 4\) uint8"),
        (lambda c, d, m: (c.astype(np.float32), d, m), r"color must be .* uint8"),
        (lambda c, d, m: (c, d.astype(np.float64), m), r"depth must be \(64, 96\) float32"),
        (lambda c, d, m: (c, d[:10], m), r"depth must be \(64, 96\)"),
        (lambda c, d, m: (c, d, m[..., :1]), r"motion must be \(64, 96, 2\)"),
        (lambda c, d, m: (c, d, m.astype(np.int16)), r"motion must be .* float32 or float16"),
        (lambda c, d, m: (c, d, m.tolist()), r"motion must be a numpy array"),
        (lambda c, d, m: (c[:4, :4], d[:4, :4], m[:4, :4]), r"frame size 4x4 is outside"),
    ],
)
def test_wrong_plane_shapes_or_dtypes_get_clear_errors(start_daemon, endpoints, rng, change, message):
    start_daemon(stylizer_spec("Mix"))
    color, depth, motion = random_frame(rng, 96, 64)
    with Client(endpoints.control) as game:
        with pytest.raises(FrameFormatError, match=message):
            game.submit(*change(color, depth, motion))
        frame_id = game.submit(color, depth, motion)  # the session is intact
        game.wait_output(frame_id)


def test_stale_frames_dropped_latency_does_not_build_up(start_daemon, endpoints, rng):
    """A game at ~200 fps against a 50 ms stylizer: waiting frames are replaced, never queued."""
    start_daemon(stylizer_spec("Slow"))
    frames = [random_frame(rng, 128, 96) for _ in range(4)]
    with Client(endpoints.control) as game:
        submitted = []
        for i in range(120):
            submitted.append(game.submit(*frames[i % 4]))
            game.latest_output()
            time.sleep(0.005)
        time.sleep(0.12)  # the daemon finishes what it holds; the game's slots come back
        last = game.submit(*frames[0])  # also reports any frames the game skipped
        submitted.append(last)
        t0 = time.monotonic()
        out = game.wait_output(last, timeout_s=2)
        assert out.frame_id == last
        assert time.monotonic() - t0 < 0.12, "the newest frame waited behind a queue"
        stats = game.status()["stats"]
    assert stats["dropped"] >= 60
    assert stats["frames"] + stats["dropped"] == len(submitted)
    assert stats["latency_p95_ms"] < 3 * 50 + 50  # one frame waiting + one in progress, never a queue


def test_dropped_frame_reported(start_daemon, endpoints, rng):
    start_daemon(stylizer_spec("Slow"))
    color, depth, motion = random_frame(rng, 64, 64)
    with Client(endpoints.control) as game:
        first = game.submit(color, depth, motion)
        time.sleep(0.01)  # the daemon takes `first`; the next two compete for one waiting place
        second = game.submit(color, depth, motion)
        third = game.submit(color, depth, motion)
        with pytest.raises(FrameDropped):
            game.wait_output(second, timeout_s=2)
        assert game.wait_output(third, timeout_s=2).frame_id == third
        assert first < second
