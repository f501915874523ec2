"""Captures with the shipped model: a recording made while a prompt transition was under
way, with a prompt change, new settings and a camera cut inside it, replays bit for bit on
the same daemon after its stylizer has moved on; `reverie render` restyles the capture
offline into an mp4 with a style pack."""

from __future__ import annotations

import numpy as np
import pytest
from model_fixtures import SHIPPED, world_frames

from reverie.bridge import Client
from reverie.bridge.capture import CaptureReader
from reverie.bridge.local_daemon import LocalDaemon
from reverie.modding.replay import replay

FRAMES = 10


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    """(capture path, the outputs the game saw, the daemon) from one model daemon."""
    folder = tmp_path_factory.mktemp("capture")
    path = folder / "model.rvcap"
    frames = world_frames("walk", FRAMES + 3)
    extra = ["--weights", str(SHIPPED), "--backend", "onnxruntime", "--capture-dir", str(folder)]
    with LocalDaemon(stylizer="model", extra=extra, ready_timeout_s=120.0) as daemon:
        with Client(daemon.endpoints.control, name="game", timeout_s=30.0) as game:
            game.set_prompt("oil painting", 0)
            for f in frames[:3]:
                game.wait_output(game.submit(f.color, f.depth, f.motion), timeout_s=30)
            game.set_prompt("film noir", 6)  # a transition under way when recording starts
            game.wait_output(game.submit(frames[3].color, frames[3].depth, frames[3].motion), timeout_s=30)
            game.record_start(path)
            outputs = []
            for i, f in enumerate(frames[3:]):
                if i == 3:
                    game.set_prompt("oil painting", 2)
                if i == 6:
                    game.set_params(seed=5, strength=0.75)
                frame_id = game.submit(f.color, f.depth, f.motion, reset=f.reset or i == 7)
                outputs.append(game.wait_output(frame_id, timeout_s=30).image)
            assert game.record_stop()["state"] == "finished"
            yield path, outputs, daemon


def test_model_capture_replays_bit_exact(capture):
    path, outputs, daemon = capture
    with CaptureReader(path) as reader:
        assert len(reader) == FRAMES
        assert reader.header["stylizer_identity"]["backend"] == "onnxruntime"
        assert len(reader.header["stylizer_identity"]["weights_sha256"]) == 64
        for frame, got in zip(reader, outputs):
            assert np.array_equal(frame.output, got)
        frames = world_frames("walk", 4)
        with Client(daemon.endpoints.control, name="replay", timeout_s=30.0) as game:
            game.set_prompt("film noir", 9)  # the stylizer is elsewhere now
            game.set_params(seed=3)
            for f in frames:
                game.wait_output(game.submit(f.color, f.depth, f.motion), timeout_s=30)
            result = replay(reader, game, check=True)
        assert result.exact and result.compared == FRAMES and result.warnings == [], result.first_mismatch


def test_render_a_capture_with_a_style_pack(capture, tmp_path):
    import imageio_ffmpeg

    from reverie.bridge.packs import write_pack
    from reverie.modding.render import main as render_main

    path, _, _ = capture
    pack = write_pack(tmp_path / "noir", name="noir", prompt="film noir", steps=1, strength=1.0)
    out = tmp_path / "noir.mp4"
    assert render_main([str(path), "--style", str(pack.folder), "--out", str(out)]) == 0
    assert imageio_ffmpeg.count_frames_and_secs(str(out))[0] == FRAMES
    side = tmp_path / "side.mp4"
    assert (
        render_main([str(path), "--prompt", "oil painting", "--side-by-side", "--frames", "4", "--out", str(side)]) == 0
    )
    assert imageio_ffmpeg.count_frames_and_secs(str(side))[0] == 4
    reader = imageio_ffmpeg.read_frames(str(side))
    meta = next(reader)
    assert meta["size"] == (128, 64 + 32)  # game | stylized, the caption bar underneath
    reader.close()
