"""Crashes and restarts on either side: the daemon keeps serving, the game never hangs,
no shared-memory segment outlives its owner."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from conftest import random_frame, stylizer_spec
from stylizers import expected_mix

from reverie.bridge import Client, ControlError, DaemonUnavailable
from reverie.bridge.local_daemon import LocalDaemon
from reverie.bridge.shm_ring import segments_of

NOBODY = 65534


def named_in_dev_shm() -> list[str]:
    """Reverie never names a segment in /dev/shm: rings are memfds."""
    return [name for name in os.listdir("/dev/shm") if name.startswith("reverie")]


def mapped_by_me(daemon_pid: int) -> bool:
    """Whether this process still maps a ring segment of that daemon."""
    with open("/proc/self/maps") as maps:
        return f"memfd:reverie.{daemon_pid}." in maps.read()


def wait_until(predicate, timeout_s: float = 5.0, interval_s: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


def round_trip(game: Client, rng, width: int = 160, height: int = 120) -> None:
    color, depth, motion = random_frame(rng, width, height)
    frame_id = game.submit(color, depth, motion)
    np.testing.assert_array_equal(
        game.wait_output(frame_id, timeout_s=5).image, expected_mix(frame_id, color, depth, motion, False)
    )


def spawn_game(control: str, body: str) -> subprocess.Popen:
    """A game in its own process; it prints 'ready' when it reached the point to kill it."""
    script = textwrap.dedent(
        f"""
        import sys, time
        import numpy as np
        from reverie.bridge import Client
        game = Client({control!r}, name="doomed")
        color = np.full((360, 640, 4), 7, np.uint8)
        depth = np.ones((360, 640), np.float32)
        motion = np.ones((360, 640, 2), np.float32)
        """
    ) + textwrap.dedent(body)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


@pytest.mark.parametrize(
    "body",
    [
        # Killed halfway through writing a frame's planes, holding a slot.
        """
        game.wait_output(game.submit(color, depth, motion))
        ring = game._ensure_ring(640, 360, 0)
        slot = game._free_slot()
        ring.slots[slot].color[:180] = 9
        print("ready", flush=True)
        time.sleep(60)
        """,
        # Killed while submitting frames as fast as it can.
        """
        print("ready", flush=True)
        while True:
            game.submit(color, depth, motion)
            game.latest_output()
        """,
        # Killed while the daemon is stylizing its frame.
        """
        game.submit(color, depth, motion)
        print("ready", flush=True)
        time.sleep(60)
        """,
    ],
    ids=["mid-write", "streaming", "mid-stylize"],
)
def test_game_killed_mid_frame_leaves_daemon_serving_the_next(start_daemon, endpoints, rng, body):
    daemon = start_daemon(stylizer_spec("Slow" if "mid-stylize" in body else "Mix"))
    doomed = spawn_game(endpoints.control, body)
    time.sleep(0.2)
    assert segments_of(daemon.pid), "the doomed game should hold a ring"
    doomed.kill()
    doomed.wait()
    # The daemon notices the dead game (pid check) and frees its ring; a new game gets in.
    assert wait_until(lambda: not segments_of(daemon.pid)), f"leaked: {segments_of(daemon.pid)}"
    with Client(endpoints.control, name="next") as game:
        for _ in range(5):
            round_trip(game, rng)
        assert game.status()["session"]["client"] == "next"
    assert wait_until(lambda: not segments_of(daemon.pid))


def test_second_game_is_refused_while_first_lives_unless_takeover(start_daemon, endpoints, rng):
    start_daemon(stylizer_spec("Mix"))
    first = spawn_game(
        endpoints.control,
        """
        game.wait_output(game.submit(color, depth, motion))
        print("ready", flush=True)
        time.sleep(60)
        """,
    )
    try:
        with pytest.raises(ControlError, match="busy.*doomed"):
            Client(endpoints.control, name="second")
        with Client(endpoints.control, name="second", takeover=True) as second:
            round_trip(second, rng)
            assert second.status()["session"]["client"] == "second"
    finally:
        first.kill()
        first.wait()


def test_same_process_starting_over_replaces_its_own_session(start_daemon, endpoints, rng):
    """An engine script reload drops the client object (and its token) but not the process."""
    start_daemon(stylizer_spec("Mix"))
    with Client(endpoints.control, name="before-reload") as old:
        round_trip(old, rng)
        with Client(endpoints.control, name="after-reload") as new:
            round_trip(new, rng)
            assert new.status()["session"]["client"] == "after-reload"
            # The abandoned client finds out without hanging.
            with pytest.raises((DaemonUnavailable, ControlError)):
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    round_trip(old, rng)


def test_daemon_killed_and_restarted_game_reconnects(endpoints, rng):
    first = LocalDaemon(endpoints, stylizer_spec("Mix")).start()
    second = None
    try:
        with Client(endpoints.control, name="game", timeout_s=1.0) as game:
            round_trip(game, rng)
            first_segments = segments_of(first.pid)
            assert first_segments
            first.kill()

            # While it is down: every call returns fast with a clear error; none hangs.
            color, depth, motion = random_frame(rng, 160, 120)
            errors, started = [], time.monotonic()
            while time.monotonic() - started < 3.0:
                t0 = time.monotonic()
                try:
                    game.submit(color, depth, motion)
                    game.latest_output()
                except DaemonUnavailable as exc:
                    errors.append(str(exc))
                assert time.monotonic() - t0 < 0.1, "a game-side call blocked on a dead daemon"
                time.sleep(0.01)
            assert errors and any("exited" in e or "unavailable" in e or "no reply" in e for e in errors)
            assert named_in_dev_shm() == [], "a crash must leave nothing behind"
            assert not mapped_by_me(first.pid), "the game still maps the dead daemon's ring"

            second = LocalDaemon(endpoints, stylizer_spec("Mix")).start()
            assert wait_until(lambda: _try_round_trip(game, rng), timeout_s=10, interval_s=0.05)
            round_trip(game, rng)
            assert game.status()["daemon_pid"] == second.pid
        assert wait_until(lambda: not segments_of(second.pid))
    finally:
        first.stop()
        if second is not None:
            second.stop()
    assert segments_of(first.pid) == [] and segments_of(second.pid) == []


def _try_round_trip(game: Client, rng) -> bool:
    try:
        round_trip(game, rng)
        return True
    except DaemonUnavailable:
        return False


def test_second_daemon_on_the_same_endpoint_refuses(start_daemon, endpoints):
    start_daemon()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "reverie",
            "serve",
            "--control",
            endpoints.control,
            "--events",
            endpoints.events,
            "--frames",
            endpoints.frames,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "another Reverie daemon is serving" in proc.stderr


def test_segments_are_private_and_closed_on_clean_exit(start_daemon, endpoints, rng):
    daemon = start_daemon(stylizer_spec("Mix"))
    with Client(endpoints.control) as game:
        round_trip(game, rng)
        assert segments_of(daemon.pid) == [f"reverie.{daemon.pid}.1"] and named_in_dev_shm() == []
        if os.geteuid() == 0:  # another local user cannot open the daemon's descriptor
            probe = subprocess.run(
                ["/usr/bin/python3", "-c", f"import os; os.open({game._ring.path!r}, os.O_RDWR)"],
                preexec_fn=lambda: (os.setgid(NOBODY), os.setuid(NOBODY)),
                capture_output=True,
                text=True,
            )
            assert probe.returncode != 0 and "PermissionError" in probe.stderr, probe.stderr
    assert wait_until(lambda: not segments_of(daemon.pid))
    assert daemon.stop() == 0


def test_a_game_cannot_shrink_its_segment_under_the_daemon(start_daemon, endpoints, rng):
    """A game that truncates its ring (to 0, or below header + slots) used to kill the
    daemon by SIGBUS; the segment is sealed, so the truncate fails and nothing faults."""
    daemon = start_daemon(stylizer_spec("Mix"))
    with Client(endpoints.control) as game:
        round_trip(game, rng)
        fd = os.open(game._ring.path, os.O_RDWR)
        try:
            for size in (0, 4096, game._ring.nbytes - 4096):
                with pytest.raises(PermissionError):
                    os.ftruncate(fd, size)
        finally:
            os.close(fd)
        time.sleep(0.3)  # heartbeats written to page 0 meanwhile
        assert daemon.proc.poll() is None
        round_trip(game, rng)
        assert game.status()["stats"]["frames"] == 2


def test_game_that_dropped_its_session_gets_it_back(start_daemon, endpoints, rng):
    """A game that wrongly thought the daemon dead (heartbeat looked stale) reconnects into
    its own session instead of being refused as busy by its own ghost."""
    start_daemon(stylizer_spec("Mix"))
    with Client(endpoints.control, liveness_timeout_s=0.03, reconnect_interval_s=0.0) as game:
        ok_after_drop = drops = 0
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and ok_after_drop < 5:
            try:
                round_trip(game, rng)
                ok_after_drop += drops > 0
            except DaemonUnavailable:
                drops += 1
        assert drops > 0 and ok_after_drop >= 5
