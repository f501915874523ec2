"""Attacks from the session holder, a liar and another local user, each on a real daemon
in its own process: the daemon refuses or absorbs them and keeps serving a well-behaved
game (a status request and a frame round trip after each)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import zmq
from conftest import random_frame, stylizer_spec
from stylizers import expected_mix

from reverie.bridge import Client
from reverie.bridge import client as client_module
from reverie.bridge import control as C
from reverie.bridge import protocol as P
from reverie.bridge.daemon.stats import COUNTER_MAX

NOBODY = 65534
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="acting as another local user needs root")


def still_serving(daemon, endpoints, rng, name: str = "well-behaved") -> None:
    """The daemon lives, answers status and stylizes a frame for a new game."""
    assert daemon.proc.poll() is None, "".join(daemon.output)
    with Client(endpoints.control, name=name, takeover=True) as game:
        color, depth, motion = random_frame(rng, 64, 48)
        frame_id = game.submit(color, depth, motion)
        np.testing.assert_array_equal(
            game.wait_output(frame_id, timeout_s=5).image, expected_mix(frame_id, color, depth, motion, False)
        )
        assert game.status()["session"]["client"] == name


def wait_for(predicate, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def spawn_game(control: str, name: str, stated_pid: int | None = None) -> subprocess.Popen:
    """A game in its own process that streams one frame, prints 'ready' and waits: to be
    killed or stopped by the test. `stated_pid`: the pid its hello states, if not its own."""
    script = textwrap.dedent(
        f"""
        import os, time
        import numpy as np
        from reverie.bridge import Client
        if {stated_pid!r} is not None:
            os.getpid = lambda: {stated_pid!r}
        color = np.full((48, 64, 4), 7, np.uint8)
        depth = np.ones((48, 64), np.float32)
        motion = np.ones((48, 64, 2), np.float32)
        game = Client({control!r}, name={name!r})
        game.wait_output(game.submit(color, depth, motion))
        print("ready", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


# ---------------------------------------------------------------- 1. client-fed counters
def test_skipped_counts_that_add_past_u64_do_not_kill_the_daemon(start_daemon, endpoints, rng):
    daemon = start_daemon(stylizer_spec("Mix"), ["--log-level", "ERROR"])
    with Client(endpoints.control, name="overflow") as game:
        color, depth, motion = random_frame(rng, 64, 48)
        game.wait_output(game.submit(color, depth, motion))
        for _ in range(2):  # each a valid u64; together past 2^64 - 1
            game._skipped = 2**64 - 1
            game.wait_output(game.submit(color, depth, motion))
        stats_events = []
        for event in game.events(timeout_s=3.0):
            if event.get("type") == "stats":
                stats_events.append(event)
                break
        assert stats_events, "no stats event after the notices"
        stats = game.status()["stats"]
        assert stats["frames"] == 3 and 0 < stats["dropped"] <= COUNTER_MAX
    still_serving(daemon, endpoints, rng)


# ---------------------------------------------------------------- 5. liveness
def test_a_game_that_lies_about_its_pid_and_crashes_is_reaped(start_daemon, endpoints, rng):
    """pid 1 is alive forever: the session's process comes from the connection instead."""
    daemon = start_daemon(stylizer_spec("Mix"))
    liar = spawn_game(endpoints.control, "liar", stated_pid=1)
    with client_module.ControlClient(endpoints.control) as ctl:
        session = ctl.status()["session"]
        assert session["client"] == "liar" and session["pid"] == liar.pid and session["stated_pid"] == 1
        assert session["pid_verified"] is True
    liar.kill()
    liar.wait()
    with client_module.ControlClient(endpoints.control) as ctl:
        assert wait_for(lambda: ctl.status()["session"] is None, 3.0), "the liar's session was not reaped"
    with Client(endpoints.control, name="next") as game:  # no takeover needed
        color, depth, motion = random_frame(rng, 64, 48)
        game.wait_output(game.submit(color, depth, motion))
    still_serving(daemon, endpoints, rng)


def test_a_silent_game_loses_its_session_after_the_timeout(start_daemon, endpoints, rng):
    daemon = start_daemon(stylizer_spec("Mix"), ["--session-timeout", "1"])
    frozen = spawn_game(endpoints.control, "frozen")
    try:
        os.kill(frozen.pid, signal.SIGSTOP)  # alive, but no sign of life
        with client_module.ControlClient(endpoints.control) as ctl:
            assert ctl.status()["session"]["client"] == "frozen"
            assert wait_for(lambda: ctl.status()["session"] is None, 4.0), "a silent session was kept"
        with Client(endpoints.control, name="next") as game:  # no busy, no takeover
            color, depth, motion = random_frame(rng, 64, 48)
            game.wait_output(game.submit(color, depth, motion))
    finally:
        frozen.kill()
        frozen.wait()
    still_serving(daemon, endpoints, rng)


def test_a_game_that_beats_keeps_its_session_without_frames(start_daemon, endpoints, rng):
    """A game in a menu submits nothing but polls for output: its heartbeat keeps the session."""
    daemon = start_daemon(stylizer_spec("Mix"), ["--session-timeout", "1"])
    with Client(endpoints.control, name="in-a-menu") as game:
        color, depth, motion = random_frame(rng, 64, 48)
        game.wait_output(game.submit(color, depth, motion))
        hello_reply_timeout = game.status()  # any request works; the beat is what is tested below
        assert hello_reply_timeout["session"]["client"] == "in-a-menu"
        before = int(game._ring.header["game_beat_ns"])
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            game.latest_output()
            time.sleep(0.2)
        assert int(game._ring.header["game_beat_ns"]) > before
        with client_module.ControlClient(endpoints.control) as ctl:
            assert ctl.status()["session"]["client"] == "in-a-menu"
        game.wait_output(game.submit(color, depth, motion))
    still_serving(daemon, endpoints, rng)


def _as_nobody(control: str, results: multiprocessing.Queue) -> None:
    """Forked (pyzmq and msgpack already loaded), then another user: ask for status."""
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    context = zmq.Context()
    sock = context.socket(zmq.REQ)
    sock.linger = 0
    sock.connect(control)
    sock.send(C.pack({"v": P.PROTOCOL_MAJOR, "op": "status"}))
    results.put(C.unpack([sock.recv()]) if sock.poll(3000) else None)
    context.destroy(linger=0)


@needs_root
def test_another_user_is_refused_even_through_an_open_socket(start_daemon, endpoints, rng):
    daemon = start_daemon(stylizer_spec("Mix"))
    control_path = endpoints.control[len("ipc://") :]
    assert stat.S_IMODE(os.stat(control_path).st_mode) == 0o600
    os.chmod(os.path.dirname(control_path), 0o755)  # an owner who opened the door wide
    os.chmod(control_path, 0o666)
    results: multiprocessing.Queue = multiprocessing.get_context("fork").Queue()
    intruder = multiprocessing.get_context("fork").Process(target=_as_nobody, args=(endpoints.control, results))
    intruder.start()
    reply = results.get(timeout=10)
    intruder.join(10)
    assert reply is not None and reply["ok"] is False and reply["error"]["code"] == P.ERR_FORBIDDEN, reply
    assert "user 65534" in reply["error"]["message"]
    still_serving(daemon, endpoints, rng)


# ---------------------------------------------------------------- 6. lesser
def test_client_names_cannot_forge_log_lines(endpoints, rng):
    from reverie.bridge.local_daemon import LocalDaemon

    evil = "evil\nFAKE 2026-01-01 reverie.daemon CRITICAL owned\x1b[2J"
    daemon = LocalDaemon(endpoints, stylizer_spec("Mix")).start()
    try:
        doomed = spawn_game(endpoints.control, evil)
        doomed.kill()  # the daemon logs the death, with the name
        doomed.wait()
        with client_module.ControlClient(endpoints.control) as ctl:
            assert wait_for(lambda: ctl.status()["session"] is None)
        still_serving(daemon, endpoints, rng)
    finally:
        daemon.stop()
    log = "".join(daemon.output)
    assert "evil\\nFAKE 2026-01-01 reverie.daemon CRITICAL owned\\x1b[2J" in log, log
    assert not any(line.startswith("FAKE") for line in log.splitlines())
    assert "\x1b" not in log


def test_submit_times_outside_the_session_are_not_latencies(start_daemon, endpoints, rng, monkeypatch):
    daemon = start_daemon(stylizer_spec("Mix"))
    with Client(endpoints.control, name="clockless") as game:
        color, depth, motion = random_frame(rng, 64, 48)
        game.wait_output(game.submit(color, depth, motion))  # the ring exists: only submit's clock is faked
        assert game.status()["stats"]["latency_p50_ms"] < 1000
        for fake in (0, 2**64 - 1):
            with monkeypatch.context() as m:
                m.setattr(client_module.time, "monotonic_ns", lambda fake=fake: fake)
                frame_id = game.submit(color, depth, motion)
            game.wait_output(frame_id)
        stats = game.status()["stats"]
        assert stats["frames"] == 3
        assert stats["latency_p95_ms"] < 1000, stats  # the faked frames counted, not their latency
    still_serving(daemon, endpoints, rng)
