"""Captures through a real daemon (docs/capture.md): record a live session, replay it
bit for bit, a cut or damaged file, the recorder falling behind, `reverie record` and
`reverie replay` as commands, and bad requests that leave the daemon serving."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import random_frame, stylizer_spec

from reverie.bridge import Client, ControlClient, ControlError
from reverie.bridge.capture import CHUNK_HEADER_BYTES, CaptureCorrupt, CaptureEvent, CaptureReader
from reverie.bridge.daemon.capture_tap import CaptureTap
from reverie.bridge.local_daemon import LocalDaemon
from reverie.common.stylizer import Frame
from reverie.modding.replay import replay


def play(game: Client, frames, changes: dict | None = None) -> list[np.ndarray]:
    """Submit each frame in lockstep (control changes before the frames they key); outputs."""
    outputs = []
    for i, (color, depth, motion, reset) in enumerate(frames):
        for op, fields in (changes or {}).get(i, []):
            game.request(op, **fields)
        frame_id = game.submit(color, depth, motion, reset=reset, jitter=(0.5, 0.25), near=0.1, far=100.0, fov_y=1.0)
        outputs.append(game.wait_output(frame_id, timeout_s=10).image)
    return outputs


def session_frames(rng, count: int = 12, size=(48, 32)) -> list:
    frames = []
    for i in range(count):
        w, h = size if i < 9 else (size[0] // 2, size[1] // 2)  # a size change at frame 9
        color, depth, motion = random_frame(rng, w, h)
        frames.append((color, depth, motion, i == 5))
    return frames


CHANGES = {
    3: [("set_prompt", {"text": "winter night", "transition_frames": 4})],
    6: [("set_params", {"steps": 2, "seed": 9})],
    8: [("reset_history", {})],
}


def record_session(endpoints, path, rng) -> list[np.ndarray]:
    """A game plays 2 frames, recording starts, 12 more with prompt, params and resets."""
    with Client(endpoints.control, name="game") as game:
        game.set_prompt("oil painting", 10)
        play(game, session_frames(rng, 2))  # before recording: the transition is under way
        game.record_start(path)
        outputs = play(game, session_frames(rng), CHANGES)
        capture = game.record_stop()
    assert capture["state"] == "finished" and capture["written"] == 12 and capture["dropped"] == 0
    return outputs


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    """The folder the module's daemon may write captures in (`--capture-dir`)."""
    return tmp_path_factory.mktemp("capture")


@pytest.fixture(scope="module")
def trail(captures):
    """One daemon with the Trail stylizer for the module, and a capture recorded on it:
    (daemon endpoints, capture path, the outputs the game saw)."""
    path = captures / "session.rvcap"
    with LocalDaemon(stylizer=stylizer_spec("Trail"), extra=["--capture-dir", str(captures)]) as daemon:
        outputs = record_session(daemon.endpoints, path, np.random.default_rng(1234))
        yield daemon.endpoints, path, outputs


def test_record_then_replay_is_bit_exact(trail, rng):
    endpoints, path, outputs = trail
    with CaptureReader(path) as reader:
        assert len(reader) == 12 and not reader.truncated
        assert reader.header["stylizer"] == "trail" and reader.header["size"] == [48, 32]
        for frame, got in zip(reader, outputs):
            assert frame.status == "done" and np.array_equal(frame.output, got)
        assert [f.reset for f in reader] == [i == 5 for i in range(12)]
        assert reader.frame(4).settings["prompt"] == "winter night" and reader.frame(7).settings["seed"] == 9
        timeline = [(x.op, x.fields) if isinstance(x, CaptureEvent) else x.index for x in reader.timeline()]
        assert timeline[:3] == [
            ("set_prompt", {"text": "oil painting", "transition_frames": 0}),
            ("set_params", {"steps": 1, "strength": 1.0, "seed": 0}),
            ("reset_history", {"full": True}),
        ]
        assert timeline.index(("set_prompt", {"text": "winter night", "transition_frames": 4})) == timeline.index(3) - 1
        assert ("reset_history", {"reason": "open_ring"}) in timeline[timeline.index(8) : timeline.index(9) + 1]

        # Replay into the same daemon, whose stylizer has moved on since: the capture's
        # opening events restore the recorded start state.
        with Client(endpoints.control, name="replay") as game:
            game.set_prompt("something else", 50)
            play(game, session_frames(rng, 3))
            result = replay(reader, game, check=True)
        assert result.exact and result.compared == 12 and result.warnings == [], result.first_mismatch
    cli = run_reverie("replay", str(path), "--check", "--control", endpoints.control)
    assert cli.returncode == 0 and "bit-exact: all 12 outputs" in cli.stdout, cli.stdout + cli.stderr


def run_reverie(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "reverie", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_replay_on_another_stylizer_reports_the_first_mismatch(trail, start_daemon, endpoints):
    path = trail[1]
    start_daemon(stylizer_spec("HostMix"))
    cli = run_reverie("replay", str(path), "--check", "--control", endpoints.control)
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert "warning: recorded with stylizer 'trail', replaying on 'host-mix'" in cli.stdout
    assert "MISMATCH: 12 of 12 outputs differ; first: frame 0 (game frame id 3)" in cli.stdout


def test_a_cut_capture_is_detected_and_its_readable_part_replays(trail, tmp_path):
    endpoints, path, _ = trail
    data = path.read_bytes()
    with CaptureReader(path) as reader:
        offsets = reader._frame_offsets
    cut = tmp_path / "cut.rvcap"
    for at, readable in ((offsets[7] + CHUNK_HEADER_BYTES + 10, 7), (len(data) - 30, 12), (offsets[0] - 3, 0)):
        cut.write_bytes(data[:at])
        with CaptureReader(cut) as reader, Client(endpoints.control, name="replay") as game:
            assert reader.truncated and len(reader) == readable
            result = replay(reader, game, check=True)
            assert result.compared == readable and result.mismatches == 0, result.first_mismatch
            assert any("truncated" in w for w in result.warnings)
    cut.write_bytes(data[: offsets[7] + 100])
    cli = run_reverie("replay", str(cut), "--check", "--control", endpoints.control)
    assert cli.returncode == 0 and "warning: the capture is truncated" in cli.stdout and "all 7 outputs" in cli.stdout


def test_replay_starts_a_daemon_when_none_runs(trail, tmp_path):
    path = trail[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "REVERIE_CONTROL": f"ipc://{tmp_path}/none"}
    cli = subprocess.run(
        [sys.executable, "-m", "reverie", "replay", str(path), "--check", "--stylizer", stylizer_spec("Trail")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert cli.returncode == 0 and "no daemon running: starting one" in cli.stdout, cli.stdout + cli.stderr
    assert "bit-exact: all 12 outputs" in cli.stdout


def test_a_damaged_chunk_is_named(trail, tmp_path):
    endpoints = trail[0]
    path = tmp_path / "damaged.rvcap"
    path.write_bytes(trail[1].read_bytes())
    with CaptureReader(path) as reader:
        offset = reader._frame_offsets[4]
    data = bytearray(path.read_bytes())
    data[offset + CHUNK_HEADER_BYTES + 200] ^= 0xFF
    path.write_bytes(bytes(data))
    with CaptureReader(path) as reader:
        with pytest.raises(CaptureCorrupt, match=f"frame 4 at byte {offset}: crc32 mismatch"):
            reader.frame(4)
    cli = run_reverie("replay", str(path), "--check", "--control", endpoints.control)
    assert cli.returncode == 1 and f"frame 4 at byte {offset}: crc32 mismatch" in cli.stderr


def test_bad_record_requests_get_clear_errors_and_the_daemon_keeps_serving(trail, captures, rng, tmp_path):
    endpoints = trail[0]
    existing = captures / "exists.rvcap"
    existing.write_bytes(b"x")
    with ControlClient(endpoints.control) as ctl:
        for path, says in (
            ("sub/relative.rvcap", "must be a bare file name .* or an absolute path"),
            (str(existing), "never overwrites"),
            (str(captures / "no" / "such.rvcap"), "captures go into .* only"),
            (str(tmp_path / "elsewhere.rvcap"), "captures go into .* only"),
            (str(captures) + "/", "names a folder"),
            ("..", "not a file name"),
        ):
            with pytest.raises(ControlError, match=says):
                ctl.request("record_start", path=path)
        with pytest.raises(ControlError, match="not recording"):
            ctl.request("record_stop")
        with pytest.raises(ControlError, match="max_frames"):
            ctl.request("record_start", path=str(captures / "a.rvcap"), max_frames=0)
        ctl.record_start(captures / "a.rvcap")
        with pytest.raises(ControlError, match="already recording"):
            ctl.record_start(captures / "b.rvcap")
        assert ctl.record_stop()["state"] == "finished"
    assert existing.read_bytes() == b"x"
    with Client(endpoints.control) as game:
        color, depth, motion = random_frame(rng, 32, 32)
        game.wait_output(game.submit(color, depth, motion), timeout_s=5)


def test_reverie_record_command_with_a_running_game(trail, captures, rng):
    """`reverie record --frames N` while a game streams: N frames, the file complete; the
    game never waits for the recorder (frames keep flowing)."""
    endpoints = trail[0]
    stop = threading.Event()
    frames = [random_frame(rng, 64, 48) for _ in range(4)]

    def game_loop():
        with Client(endpoints.control, name="game") as game:
            i = 0
            while not stop.is_set():
                game.submit(*frames[i % 4])
                game.latest_output()
                i += 1
                time.sleep(0.005)

    thread = threading.Thread(target=game_loop, daemon=True)
    thread.start()
    try:
        path = captures / "live.rvcap"
        cli = run_reverie("record", "--out", str(path), "--frames", "40", "--control", endpoints.control)
        assert cli.returncode == 0, cli.stdout + cli.stderr
        assert "finished, 40 frames" in cli.stdout
        cli = run_reverie("record", "--out", str(path), "--frames", "5", "--control", endpoints.control)
        assert cli.returncode == 2 and "exists" in cli.stderr
        # No limit: Ctrl-C stops it cleanly, and the file gets its index.
        interrupted = captures / "interrupted.rvcap"
        proc = subprocess.Popen(
            [sys.executable, "-m", "reverie", "record", "--out", str(interrupted), "--control", endpoints.control],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().startswith("recording to")
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "finished" in out, out + err
        with CaptureReader(interrupted) as reader:
            assert not reader.truncated and len(reader) > 0
    finally:
        stop.set()
        thread.join(10)
    with CaptureReader(path) as reader:
        assert not reader.truncated
        frames = list(reader)
        assert len(frames) == 40 and all((f.output is not None) == (f.status == "done") for f in frames)
        assert {f.status for f in frames} <= {"done", "dropped"} and frames[-1].status == "done"


def test_a_slow_writer_leaves_frames_out_and_marks_the_gap(tmp_path, rng):
    """The frame loop never waits for the writer: past the queue, frames are counted as
    left out, and the capture says where."""
    color, depth, motion = random_frame(rng, 16, 16)
    frame_bytes = 2 * color.nbytes + depth.nbytes + motion.nbytes
    tap = CaptureTap(tmp_path / "slow.rvcap", {"stylizer": "test"}, queue_bytes=2 * frame_bytes)
    gate = threading.Event()
    write_frame = tap.writer.write_frame

    def slow_write(frame):
        gate.wait(10)
        write_frame(frame)

    tap.writer.write_frame = slow_write
    start = time.perf_counter()
    for i in range(10):
        tap.frame(Frame(i, color, depth, motion), color, status="done", settings={}, t_submit_ns=i, t_done_ns=i)
    elapsed = time.perf_counter() - start
    tap.frame(Frame(10, color, depth, motion), color, status="done", settings={}, t_submit_ns=10, t_done_ns=10)
    assert elapsed < 0.5 and tap.frames == 2 and tap.dropped == 9
    gate.set()
    time.sleep(0.2)  # the writer catches up: the next frame is taken, after a gap marker
    tap.frame(Frame(11, color, depth, motion), color, status="done", settings={}, t_submit_ns=11, t_done_ns=11)
    tap.stop()
    assert tap.wait(10) and tap.state == "finished"
    with CaptureReader(tmp_path / "slow.rvcap") as reader:
        assert [f.frame_id for f in reader] == [0, 1, 11]
        assert [(e.op, e.fields, e.after_frames) for e in reader.events] == [("capture_gap", {"frames": 9}, 2)]
