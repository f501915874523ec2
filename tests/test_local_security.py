"""Local security between users of one machine (docs/protocol.md, docs/capture.md): the
default socket folder must be private, the daemon's sockets are 0600 whatever the umask,
and captures only go into allowed folders, as new 0600 files, never through a link.

Each attack runs against a real daemon in another process; after it the daemon still
answers `status` and serves a frame round trip. Tests that act as another user run a
subprocess as `nobody` (uid 65534) and need root."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import random_frame, stylizer_spec
from stylizers import expected_mix

from reverie.bridge import Client, ControlClient, ControlError, ReverieError
from reverie.bridge.capture import CaptureReader
from reverie.bridge.control import Endpoints
from reverie.bridge.local_daemon import LocalDaemon

NOBODY = 65534
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="acting as another user (nobody) needs root")


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def socket_file(endpoint: str) -> Path:
    return Path(endpoint[len("ipc://") :])


def as_nobody(probe) -> str:
    """What `probe()` returns when a child process run as user nobody calls it. (A fork:
    the venv's interpreter is under /root, which nobody may not exec.)"""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: nothing of the parent's is used, and it leaves by _exit
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            result = probe()
        except BaseException as exc:
            result = f"FAILED {type(exc).__name__}: {exc}"
        os.write(write, result.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        result = pipe.read().decode()
    os.waitpid(pid, 0)
    return result


def check_serving(control: str, rng) -> None:
    """The daemon answers status and stylizes a frame (the Mix stylizer) round trip."""
    with Client(control, name="game") as game:
        assert game.status()["stylizer"] == "mix"
        color, depth, motion = random_frame(rng, 64, 48)
        frame_id = game.submit(color, depth, motion)
        np.testing.assert_array_equal(
            game.wait_output(frame_id, timeout_s=10).image, expected_mix(frame_id, color, depth, motion, False)
        )


@pytest.fixture
def short_tmp():
    """A fresh folder with a short path (ipc:// paths are limited to ~100 bytes)."""
    base = Path(tempfile.mkdtemp(prefix="rv-", dir="/tmp"))
    yield base
    shutil.rmtree(base, ignore_errors=True)


class Served:
    """`reverie serve ARGS` in a child process (env, preexec_fn as given); `lines` is what
    it printed until it served (its endpoints, "frames" last) or exited."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, preexec_fn=None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reverie", "serve", "--log-level", "WARNING", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            preexec_fn=preexec_fn,
        )
        self.lines: list[str] = []
        self.serving = False
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.strip().startswith("frames"):
                self.serving = True
                break

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def endpoint(self, name: str) -> str:
        return next(line.split()[1] for line in self.lines if line.strip().startswith(name))

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                with ControlClient(self.endpoint("control"), timeout_s=1.0) as ctl:
                    ctl.request("shutdown")
                self.proc.wait(10)
            except Exception:
                self.proc.kill()
                self.proc.wait(10)
        self.proc.stdout.close()


def default_endpoint_env(tmpdir: Path) -> dict[str, str]:
    """An environment whose default socket folder is `tmpdir`/reverie-<uid>: no
    XDG_RUNTIME_DIR, no REVERIE_CONTROL/EVENTS/FRAMES, TMPDIR=tmpdir."""
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "REVERIE_CONTROL")}
    env = {k: v for k, v in env.items() if k not in ("REVERIE_EVENTS", "REVERIE_FRAMES")}
    return {**env, "TMPDIR": str(tmpdir), "OMP_NUM_THREADS": "1"}


# ---------------------------------------------------------------- the default socket folder
def _open_to_all(folder: Path) -> None:
    folder.mkdir()
    os.chmod(folder, 0o777)


def _nobodys(folder: Path) -> None:
    folder.mkdir(mode=0o700)
    os.chown(folder, NOBODY, NOBODY)


def _a_link(folder: Path) -> None:
    target = folder.parent / "elsewhere"
    target.mkdir(mode=0o700)  # private and ours: a link is refused all the same
    folder.symlink_to(target)


@pytest.mark.parametrize(
    "premade, says",
    [
        (_open_to_all, "mode 0777) is open to group or others"),
        pytest.param(_nobodys, f"owner uid {NOBODY}, mode 0700) is not yours", marks=needs_root),
        (_a_link, "is a symbolic link (to "),
    ],
    ids=["mode-0777", "owned-by-nobody", "symlink"],
)
def test_a_default_socket_folder_that_is_not_private_is_refused(short_tmp, rng, premade, says):
    """Another user who made /tmp/reverie-<uid> first would own every socket in it: serve
    and clients refuse it with a message (no traceback) that names the way out, which works."""
    folder = short_tmp / f"reverie-{os.geteuid()}"
    premade(folder)
    env = default_endpoint_env(short_tmp)
    served = Served(["--stylizer", stylizer_spec("Mix")], env=env)
    try:
        assert not served.serving, f"served in an unsafe socket folder: {served.output}"
        assert served.proc.wait(10) == 2, served.output
    finally:
        served.stop()
    for text in (f"reverie serve: the socket folder {folder} (", says, "XDG_RUNTIME_DIR", "--control"):
        assert text in served.output, served.output
    assert "Traceback" not in served.output
    client = subprocess.run(
        [sys.executable, "-m", "reverie", "status"], capture_output=True, text=True, timeout=60, env=env
    )
    assert client.returncode == 1 and f"reverie status: the socket folder {folder} (" in client.stderr, client
    assert "Traceback" not in client.stderr
    # The ways out: named endpoints (the folder is then not used), or a private folder.
    eps = [f"--{name}=ipc://{short_tmp}/{name}" for name in ("control", "events", "frames")]
    served = Served(["--stylizer", stylizer_spec("Mix"), *eps], env=env)
    try:
        assert served.serving, served.output
        check_serving(served.endpoint("control"), rng)
    finally:
        served.stop()
    private = short_tmp / "run"
    private.mkdir(mode=0o700)
    served = Served(["--stylizer", stylizer_spec("Mix")], env={**env, "XDG_RUNTIME_DIR": str(private)})
    try:
        assert served.serving, served.output
        assert served.endpoint("control") == f"ipc://{private}/reverie-{os.geteuid()}/control"
        check_serving(served.endpoint("control"), rng)
    finally:
        served.stop()


def test_the_default_socket_folder_is_made_0700_whatever_the_umask(short_tmp, rng):
    folder = short_tmp / f"reverie-{os.geteuid()}"
    served = Served(
        ["--stylizer", stylizer_spec("Mix")], env=default_endpoint_env(short_tmp), preexec_fn=lambda: os.umask(0)
    )
    try:
        assert served.serving, served.output
        assert served.endpoint("control") == f"ipc://{folder}/control"
        assert mode(folder) == 0o700
        assert {mode(folder / name) for name in ("control", "events", "frames")} == {0o600}
        check_serving(served.endpoint("control"), rng)
    finally:
        served.stop()
    served = Served(["--stylizer", stylizer_spec("Mix")], env=default_endpoint_env(short_tmp))
    try:  # a folder that is private and ours is used as it is
        assert served.serving, served.output
        check_serving(served.endpoint("control"), rng)
    finally:
        served.stop()


# ---------------------------------------------------------------- the sockets
@needs_root
def test_sockets_are_0600_whatever_the_umask_and_other_users_get_no_answer(short_tmp, rng):
    """Under umask 000, in a folder others may enter, the socket files are still 0600 (a
    folder the daemon makes for them is 0700): `nobody` cannot connect, `status` as
    nobody gets no answer."""
    os.chmod(short_tmp, 0o755)
    endpoints = Endpoints(
        control=f"ipc://{short_tmp}/control",
        events=f"ipc://{short_tmp}/new/events",
        frames=f"ipc://{short_tmp}/new/frames",
    )
    daemon = LocalDaemon(endpoints, stylizer_spec("Mix"))
    served = Served(daemon.command()[4:], preexec_fn=lambda: os.umask(0))
    try:
        assert served.serving, served.output
        assert mode(short_tmp / "new") == 0o700
        for endpoint in (endpoints.control, endpoints.events, endpoints.frames):
            assert mode(socket_file(endpoint)) == 0o600, endpoint

        def status() -> str:
            with ControlClient(endpoints.control, timeout_s=1.0) as ctl:
                try:
                    return f"ANSWERED {ctl.status()['daemon_pid']}"
                except ReverieError as exc:
                    return f"NO ANSWER {type(exc).__name__}"

        def connect() -> str:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                try:
                    sock.connect(str(socket_file(endpoints.control)))
                except OSError as exc:
                    return f"REFUSED {errno.errorcode[exc.errno]}"
                return "CONNECTED"

        assert as_nobody(status) == "NO ANSWER DaemonUnavailable"
        assert as_nobody(connect) == "REFUSED EACCES"
        check_serving(endpoints.control, rng)
    finally:
        served.stop()


# ---------------------------------------------------------------- captures
@pytest.fixture
def capture_daemon(short_tmp):
    """A Mix daemon under umask 000 that allows `short_tmp`/allowed (--capture-dir) and has
    `short_tmp`/default (not made yet) as its captures folder: (control, allowed, default)."""
    allowed, default = short_tmp / "allowed", short_tmp / "default"
    allowed.mkdir()
    os.chmod(allowed, 0o777)
    endpoints = Endpoints(*(f"ipc://{short_tmp}/{name}" for name in ("control", "events", "frames")))
    daemon = LocalDaemon(endpoints, stylizer_spec("Mix"), ["--capture-dir", str(allowed)])
    served = Served(
        daemon.command()[4:],
        env={**os.environ, "REVERIE_CAPTURES": str(default)},
        preexec_fn=lambda: os.umask(0),
    )
    try:
        assert served.serving, served.output
        yield endpoints.control, allowed, default
    finally:
        served.stop()


def record_a_frame(control: str, path: str, rng) -> dict:
    """Record one frame into `path`; the finished capture's status."""
    with Client(control, name="game") as game:
        capture = game.request("record_start", path=path)["capture"]
        color, depth, motion = random_frame(rng, 32, 32)
        game.wait_output(game.submit(color, depth, motion), timeout_s=10)
        finished = game.record_stop()
    assert finished["state"] == "finished" and finished["written"] == 1, finished
    return capture


def test_a_capture_outside_the_allowed_folders_is_refused(capture_daemon, short_tmp, rng):
    control, allowed, default = capture_daemon
    elsewhere = short_tmp / "elsewhere"
    elsewhere.mkdir()
    (allowed / "sub").mkdir()
    (allowed / "out").symlink_to(elsewhere)  # a link inside an allowed folder leads out of it
    for path in (
        elsewhere / "x.rvcap",
        allowed / "sub" / "x.rvcap",  # a folder below an allowed one is not allowed
        allowed / ".." / "elsewhere" / "x.rvcap",
        allowed / "out" / "x.rvcap",
        "/etc/reverie-test.rvcap",
    ):
        with ControlClient(control) as ctl, pytest.raises(ControlError) as info:
            ctl.request("record_start", path=str(path))
        assert info.value.code == "invalid"
        message = str(info.value)
        assert f"captures go into {default}, {allowed} only" in message and "--capture-dir" in message, message
        check_serving(control, rng)
    assert list(elsewhere.iterdir()) == [] and list((allowed / "sub").iterdir()) == []
    assert not Path("/etc/reverie-test.rvcap").exists()


def test_a_link_at_the_capture_name_is_refused(capture_daemon, short_tmp, rng):
    """Another user who may write in an allowed folder plants a link where the capture
    goes: the daemon neither follows it (O_NOFOLLOW) nor replaces it (O_EXCL)."""
    control, allowed, _ = capture_daemon
    victim = short_tmp / "victim"
    victim.write_bytes(b"precious")
    (allowed / "existing.rvcap").symlink_to(victim)
    (allowed / "dangling.rvcap").symlink_to(short_tmp / "created-through-the-link")
    for name in ("existing.rvcap", "dangling.rvcap"):
        with ControlClient(control) as ctl, pytest.raises(ControlError, match="is a symbolic link") as info:
            ctl.request("record_start", path=str(allowed / name))
        assert info.value.code == "invalid" and "never follows" in str(info.value)
        check_serving(control, rng)
    assert victim.read_bytes() == b"precious" and not (short_tmp / "created-through-the-link").exists()
    assert (allowed / "existing.rvcap").is_symlink() and (allowed / "dangling.rvcap").is_symlink()


def test_a_capture_file_is_0600_whatever_the_umask(capture_daemon, rng):
    control, allowed, _ = capture_daemon
    capture = record_a_frame(control, str(allowed / "mine.rvcap"), rng)
    assert capture["path"] == str(allowed / "mine.rvcap")
    assert mode(allowed / "mine.rvcap") == 0o600
    with CaptureReader(allowed / "mine.rvcap") as reader:
        assert len(reader) == 1 and not reader.truncated
    check_serving(control, rng)


def test_a_bare_name_goes_into_the_captures_folder(capture_daemon, rng):
    """`record_start {path: "NAME"}` and `reverie record --out NAME`: the daemon's captures
    folder ($REVERIE_CAPTURES here), made 0700 on first use."""
    control, _, default = capture_daemon
    capture = record_a_frame(control, "bare.rvcap", rng)
    assert capture["path"] == str(default / "bare.rvcap")
    assert mode(default) == 0o700 and mode(default / "bare.rvcap") == 0o600
    with CaptureReader(default / "bare.rvcap") as reader:
        assert len(reader) == 1
    cli = subprocess.run(
        [sys.executable, "-m", "reverie", "record", "--out", "cli.rvcap", "--seconds", "0.3", "--control", control],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert f"recording to {default / 'cli.rvcap'}" in cli.stdout
    with CaptureReader(default / "cli.rvcap") as reader:
        assert not reader.truncated
    check_serving(control, rng)


def test_serve_refuses_a_capture_dir_that_does_not_exist(short_tmp):
    served = Served(["--stylizer", "identity", "--capture-dir", str(short_tmp / "none")])
    try:
        assert not served.serving and served.proc.wait(10) == 2, served.output
    finally:
        served.stop()
    assert f"--capture-dir {short_tmp / 'none'}: no such folder" in served.output
