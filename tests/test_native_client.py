"""libreverie against a real daemon: the C and C++ test clients (bridge/native/tests)
round-trip 300 frames byte-exact through the Mix stylizer, steer the daemon, and live
through the daemon being killed and restarted mid-stream; the burst program runs out of
slots against the Slow stylizer; the bad-input program checks misuse gives codes and
words, never a crash."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest
from conftest import stylizer_spec
from native_build import build_libreverie, program

from reverie.bridge.control import Endpoints
from reverie.bridge.local_daemon import LocalDaemon


@pytest.fixture(scope="module", autouse=True)
def _built():
    build_libreverie()


def segments_of(pid: int) -> list[str]:
    return [name for name in os.listdir("/dev/shm") if name.startswith(f"reverie.{pid}.")]


def summary(lines: list[str]) -> dict[str, str]:
    line = next(line for line in lines if line.startswith("SUMMARY "))
    return dict(item.split("=", 1) for item in line.split()[1:])


@pytest.mark.parametrize("client", ["c_client", "cpp_client"])
def test_round_trips_steering_and_daemon_restart(endpoints, client):
    """The client prints "PHASE restart" when it has passed the first phases; we kill the
    daemon, wait for the client to report REVERIE_UNAVAILABLE, check it removed the dead
    daemon's ring, start a new daemon on the same endpoints and let it reconnect."""
    first = LocalDaemon(endpoints, stylizer_spec("Mix")).start()
    second = None
    proc = subprocess.Popen(
        [program(client), endpoints.control, "--restart"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    watchdog = threading.Timer(90, proc.kill)  # a hung client fails the test, it does not stall the suite
    watchdog.start()
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("PHASE restart") and "done" not in line:
                first.kill()
            elif line.startswith("UNAVAILABLE"):
                assert segments_of(first.pid) == [], "the dead daemon's ring was not removed by the client"
                second = LocalDaemon(endpoints, stylizer_spec("Mix")).start()
        returncode = proc.wait(10)
    finally:
        watchdog.cancel()
        proc.kill()
        first.stop()
        if second is not None:
            second.stop()
    output = "\n".join(lines)
    assert returncode == 0, output
    assert "PHASE steering ok" in output and second is not None, output
    result = summary(lines)
    assert result["exact"] == "300" and result["failures"] == "0", output
    if client == "c_client":
        assert (result["zero_copy"], result["copy"], result["f16"]) == ("150", "150", "30"), output
        # Found dead by the heartbeat: about 1 s after the last frame that made it through.
        unavailable_after_ms = float(next(line for line in lines if line.startswith("UNAVAILABLE")).split()[1])
        assert unavailable_after_ms < 3000, output


def test_bad_input_gives_codes_and_words(start_daemon, endpoints):
    start_daemon(stylizer_spec("Mix"))
    result = subprocess.run([program("bad_input"), endpoints.control], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    counts = summary(result.stdout.splitlines())
    assert int(counts["checks"]) >= 90 and counts["failures"] == "0", result.stdout


def test_skips_when_slots_run_out_and_keeps_the_camera_cut(start_daemon, endpoints):
    """Protocol 10.1/10.3: a game faster than the stylizer skips frames without waiting,
    reports them, and a cut on a skipped frame reaches the next stylized frame."""
    start_daemon(stylizer_spec("Slow"))
    result = subprocess.run([program("burst"), endpoints.control], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    counts = summary(result.stdout.splitlines())
    assert int(counts["skipped"]) > 0 and int(counts["outputs"]) > 0, result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_game_over_curve(endpoints, tmp_path):
    """A daemon on tcp://0.0.0.0 with CURVE: the library's control and events sockets use the
    keys from `reverie keys` (events found through the wildcard rule, protocol 10.8);
    frames stay on ipc. Without the keys the daemon does not answer."""
    keys = tmp_path / "keys"
    subprocess.run([sys.executable, "-m", "reverie", "keys", str(keys)], check=True, capture_output=True)
    port, events_port = free_port(), free_port()
    eps = Endpoints(control=f"tcp://0.0.0.0:{port}", events=f"tcp://0.0.0.0:{events_port}", frames=endpoints.frames)
    control = f"tcp://127.0.0.1:{port}"
    daemon = LocalDaemon(eps, stylizer_spec("Mix"), curve_keys=keys, connect=control).start()
    try:
        keyed = subprocess.run(
            [program("c_client"), control, "--curve", str(keys)], capture_output=True, text=True, timeout=60
        )
        assert keyed.returncode == 0, keyed.stdout + keyed.stderr
        assert summary(keyed.stdout.splitlines())["exact"] == "300"
        keyless = subprocess.run([program("c_client"), control], capture_output=True, text=True, timeout=60)
        assert keyless.returncode == 1 and "FAIL connect: REVERIE_UNAVAILABLE" in keyless.stdout, keyless.stdout
    finally:
        daemon.stop()
