"""libreverie against a real daemon: the C and C++ test clients (bridge/native/tests)
round-trip 300 frames byte-exact through the Mix stylizer, steer the daemon, and live
through the daemon being killed and restarted mid-stream; the burst program runs out of
slots against the Slow stylizer; the bad-input program checks misuse gives codes and
words, never a crash; a session the game leaves silent is closed and the game comes back.
Against a scripted daemon: the ring attach checks (the segment path, the file behind it,
its header) and the game's heartbeat in the segment header."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import msgpack
import pytest
import zmq
from conftest import stylizer_spec
from native_build import build_libreverie, program

from reverie.bridge import protocol as P
from reverie.bridge.control import Endpoints
from reverie.bridge.local_daemon import LocalDaemon
from reverie.bridge.shm_ring import FrameRing, segments_of


@pytest.fixture(scope="module", autouse=True)
def _built():
    build_libreverie()


def named_segments() -> list[str]:
    """Ring segments are memfds: nothing of ours is ever named in /dev/shm."""
    return sorted(name for name in os.listdir("/dev/shm") if name.startswith(f"{P.SHM_PREFIX}."))


def mapped_segments(pid: int) -> list[str]:
    """The ring segments (memfd names) process `pid` has mapped."""
    prefix = f"/memfd:{P.SHM_PREFIX}."
    with open(f"/proc/{pid}/maps") as maps:
        paths = {line.split(None, 5)[5].strip() for line in maps if len(line.split(None, 5)) == 6}
    return sorted(path[len("/memfd:") :].removesuffix(" (deleted)") for path in paths if path.startswith(prefix))


def summary(lines: list[str]) -> dict[str, str]:
    line = next(line for line in lines if line.startswith("SUMMARY "))
    return dict(item.split("=", 1) for item in line.split()[1:])


@pytest.mark.parametrize("client", ["c_client", "cpp_client"])
def test_round_trips_steering_and_daemon_restart(endpoints, client):
    """The client prints "PHASE restart" when it has passed the first phases; we check it
    maps the daemon's ring and keeps no descriptor of it, kill the daemon, wait for the
    client to report REVERIE_UNAVAILABLE, check it let go of the dead daemon's ring and
    nothing is left in /dev/shm, start a new daemon on the same endpoints and let it
    reconnect."""
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
                held = segments_of(first.pid)
                assert held and all(name.startswith(f"{P.SHM_PREFIX}.{first.pid}.") for name in held), held
                mapped = mapped_segments(proc.pid)
                assert mapped and set(mapped) <= set(held), f"the game maps {mapped}, the daemon holds {held}"
                assert segments_of(proc.pid) == [], "the game kept the segment's descriptor open"
                first.kill()
            elif line.startswith("UNAVAILABLE"):
                assert mapped_segments(proc.pid) == [], "the game still maps the dead daemon's ring"
                assert named_segments() == [], "a ring segment has a name in /dev/shm"
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


class SegmentCheck:
    """The segment_check program: one command a line in, one RESULT line out."""

    def __init__(self, control: str):
        self.proc = subprocess.Popen(
            [program("segment_check"), control], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.watchdog = threading.Timer(60, self.proc.kill)  # a hung program fails the test, not the suite
        self.watchdog.start()

    def ask(self, command: str) -> tuple[str, int, str]:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line.startswith("RESULT "), f"{command}: {line!r}"
        name, unavailable, text = (line[len("RESULT ") :].rstrip("\n").split(" ", 2) + [""])[:3]
        return name, int(unavailable), text

    def close(self) -> int:
        """Quit (closing the client) and return the exit status; again: the same status."""
        if self.proc.returncode is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
                self.proc.wait(10)
            finally:
                self.watchdog.cancel()
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class ScriptedDaemon:
    """A control socket that answers hello and bye as a daemon does and each open_ring with
    the next of the replies it is given; no frames socket behind it (a ring it hands out is
    only looked at, never stylized)."""

    def __init__(self, endpoints: Endpoints):
        self.endpoints = endpoints
        self.replies: list[dict] = []
        self.requests: list[dict] = []
        self._stop = threading.Event()
        self._bound = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        assert self._bound.wait(5)

    def _serve(self) -> None:
        with zmq.Context() as context, context.socket(zmq.REP) as sock:
            sock.setsockopt(zmq.LINGER, 0)
            sock.bind(self.endpoints.control)
            self._bound.set()
            while not self._stop.is_set():
                if not sock.poll(20):
                    continue
                request = msgpack.unpackb(sock.recv(), raw=False)
                self.requests.append(request)
                if request.get("op") == "hello":
                    reply = {
                        "ok": True,
                        "session": f"s{len(self.requests)}",
                        "version": [P.PROTOCOL_MAJOR, P.PROTOCOL_MINOR],
                        "daemon_pid": os.getpid(),
                        "frames": self.endpoints.frames,
                        "events": self.endpoints.events,
                        "session_timeout_s": 10.0,
                    }
                elif request.get("op") == "open_ring" and self.replies:
                    reply = self.replies.pop(0)
                else:
                    reply = {"ok": True}
                sock.send(msgpack.packb(reply, use_bin_type=True))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


def open_ring_reply(segment, generation: int = 1) -> dict:
    return {"ok": True, "generation": generation, "segment": segment}


def memfd_with(data: bytes, size: int) -> int:
    """A memfd of `size` bytes starting with `data` (not sealed: the test owns it)."""
    fd = os.memfd_create("reverie.test.0", os.MFD_CLOEXEC)
    os.ftruncate(fd, size)
    os.pwrite(fd, data, 0)
    return fd


@pytest.fixture
def scripted(endpoints):
    daemon = ScriptedDaemon(endpoints)
    game = SegmentCheck(endpoints.control)
    yield daemon, game
    assert game.close() == 0
    daemon.close()


NOT_A_SEGMENT_PATH = [
    "/dev/shm/reverie.1.1",
    "reverie.1.1",
    "/proc/self/fd/3",
    "/proc/1/fd/3/",
    "/proc/1/fd/3\x00",
    "/proc/1/fd/3\n",
    "/proc/1/fd/../../../etc/passwd",
    "/proc/1/cwd/x",
    "/proc/12345678901/fd/3",  # 11 digits
    "/proc/1/fd/12345678901",
    "/proc//fd/3",
    "/proc/1/fd/",
    "proc/1/fd/3",
    "//proc/1/fd/3",
    "/proc/+1/fd/3",
    "",
    "/proc/1/fd/3" + "0" * 200,
]


def test_attach_refuses_any_other_path(scripted):
    """A daemon must not make the game open any file but one of its descriptors: every path
    that is not exactly /proc/<pid>/fd/<n> is refused before anything is opened, and the
    game says hello again; so is a reply without the segment path or with another type."""
    daemon, game = scripted
    daemon.replies = [open_ring_reply(path) for path in NOT_A_SEGMENT_PATH]
    daemon.replies += [{"ok": True, "generation": 1, "shm": "reverie.1.s.1"}, open_ring_reply(7)]  # no segment path
    for path in NOT_A_SEGMENT_PATH:
        name, _, text = game.ask("begin")
        assert name == "REVERIE_PROTOCOL" and "not a /proc/<pid>/fd/<n> path" in text, (path, text)
    for _ in range(2):
        name, _, text = game.ask("begin")
        assert name == "REVERIE_PROTOCOL" and "segment or generation missing" in text, text
    hellos = [request for request in daemon.requests if request.get("op") == "hello"]
    assert len(hellos) == len(NOT_A_SEGMENT_PATH) + 2  # a refused ring ends the session
    assert hellos[-1]["replaces"] == f"s{daemon.requests.index(hellos[-2]) + 1}"


def test_attach_checks_the_file_behind_the_path(scripted, tmp_path):
    """A path of the right shape still has to lead to a ring: an existing descriptor, a
    regular (memfd) file, with this protocol's header, of the asked kind and big enough for
    its layout."""
    daemon, game = scripted
    pid = os.getpid()
    layout = P.ring_layout(64, 48, 6, P.MOTION_F32)
    valid = FrameRing.create(layout, daemon_pid=pid, session=1, generation=1)
    device = FrameRing.create(layout, daemon_pid=pid, session=1, generation=2, device=True)
    old_header = valid.header.copy()
    old_header["version_major"] = 1
    read_end, write_end = os.pipe()
    fds = [
        memfd_with(b"\0" * 16, P.SEGMENT_HEADER_BYTES),  # no magic
        memfd_with(valid.header.tobytes(), P.SEGMENT_HEADER_BYTES + P.PAGE),  # shorter than its layout
        memfd_with(old_header.tobytes(), layout.total_bytes),  # protocol 1
        memfd_with(b"", 100),  # shorter than a header
        memfd_with(valid.header.tobytes(), P.MAX_RING_BYTES + P.PAGE),  # larger than any ring (sparse)
    ]
    closed = max(fds + [read_end, write_end]) + 1000
    cases = [
        (f"/proc/{pid}/fd/{closed}", "cannot be opened"),
        (f"/proc/{pid}/fd/{read_end}", "not a shared-memory file"),
        (f"/proc/{pid}/fd/{fds[0]}", "bad magic"),
        (f"/proc/{pid}/fd/{fds[1]}", "smaller than its layout needs"),
        (f"/proc/{pid}/fd/{fds[2]}", "another protocol major version"),
        (f"/proc/{pid}/fd/{fds[3]}", "100 bytes: too small to be a ring"),
        (f"/proc/{pid}/fd/{fds[4]}", "more than a ring may be (4 GiB)"),
        (device.path, "is a CUDA ring, but a host ring was asked for"),
    ]
    try:
        daemon.replies = [open_ring_reply(path) for path, _ in cases]
        for path, words in cases:
            name, _, text = game.ask("begin")
            assert name == "REVERIE_PROTOCOL" and words in text and path in text, (path, text)
        daemon.replies = [open_ring_reply(valid.path)]
        assert game.ask("begin")[0] == "REVERIE_OK"
    finally:
        for fd in [*fds, read_end, write_end]:
            os.close(fd)
        valid.close()
        device.close()


def test_game_heartbeat_in_the_segment(scripted):
    """The frame calls write CLOCK_MONOTONIC ns into game_beat_ns: opening the ring, every
    begin_frame (with the daemon's heartbeat check) and latest_output. The game maps the
    segment and keeps no descriptor of it."""
    daemon, game = scripted
    layout = P.ring_layout(64, 48, 6, P.MOTION_F32)
    ring = FrameRing.create(layout, daemon_pid=os.getpid(), session=1, generation=1)
    try:
        daemon.replies = [open_ring_reply(ring.path)]
        before = time.monotonic_ns()
        assert game.ask("begin")[0] == "REVERIE_OK"
        beats = [int(ring.header["game_beat_ns"])]
        assert before <= beats[0] <= time.monotonic_ns()
        assert mapped_segments(game.proc.pid) == [P.segment_name(os.getpid(), 1)]
        assert set(segments_of(os.getpid())) == {P.segment_name(os.getpid(), 1)}
        assert segments_of(game.proc.pid) == []
        calls = [("latest", "REVERIE_NONE_YET"), ("begin", "REVERIE_OK"), ("latest", "REVERIE_NONE_YET")]
        for command, result in calls:
            time.sleep(0.01)
            ring.header["heartbeat_ns"] = time.monotonic_ns()  # the daemon's side: alive
            assert game.ask(command)[0] == result, command
            beats.append(int(ring.header["game_beat_ns"]))
        assert beats == sorted(set(beats)), beats
        assert len([request for request in daemon.requests if request.get("op") == "open_ring"]) == 1
    finally:
        assert game.close() == 0
        ring.close()


def test_a_silent_game_loses_its_session_and_comes_back(start_daemon, endpoints):
    """A daemon with a 1 s session timeout keeps a game that calls begin_frame (its beat in
    the segment), closes the session once the game goes quiet for longer, and the game's
    next frame call finds that out at once (its heartbeat changed since the game last
    looked, but is old), says so, and reconnects."""
    daemon = start_daemon(stylizer_spec("Mix"), ["--session-timeout", "1"])
    game = SegmentCheck(endpoints.control)
    try:
        assert game.ask("begin")[0] == "REVERIE_OK"
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:  # beats every 100 ms: the session stays
            time.sleep(0.1)
            assert game.ask("begin")[:2] == ("REVERIE_OK", 0)
        session = daemon.client().request("status")["session"]
        assert session["client"] == "segment_check" and session["silent_s"] < 1.0, session
        time.sleep(3.0)  # silent: the daemon closes the session after 1 s and stops beating
        assert daemon.client().request("status")["session"] is None
        name, unavailable, text = game.ask("begin")
        assert name == "REVERIE_OK" and unavailable > 0, text
        assert "past the daemon's session timeout (1.0 s): the session was closed" in text, text
        assert daemon.client().request("status")["session"]["client"] == "segment_check"
    finally:
        assert game.close() == 0
