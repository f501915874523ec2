"""The soak: a real model daemon serves a well-behaved game for a long time while a hostile
client beside it attacks every way docs/protocol.md allows; the daemon must neither die,
grow, leak descriptors nor disturb the game.

    .venv/bin/python tests/soak/soak.py --minutes 30 --out /tmp/soak

Three processes besides this one, which watches:

- the daemon: `reverie serve --stylizer model --session-timeout 2` on private ipc://
  endpoints, its log in OUT/daemon.log;
- the game: a `Client` streaming moving 256x256 frames as fast as the daemon serves them
  (one in flight: submit, wait for its output, submit the next), counting frames done,
  dropped, failed, reconnects and the worst gap between two outputs;
- the hostile client: a loop over the attacks in ATTACKS (garbage and wrong types on
  control, 60,000-deep nesting, unknown ops, frame notices with made-up identities and
  `skipped` = 2**64-1, a `hello` without takeover under a name of newlines and ANSI escapes
  and pid 1, `record_start` outside the allowed folders, connections cut off half way,
  `ftruncate` on the game's ring opened through /proc/<daemon pid>/fd/<n>, bursts of
  status requests, events subscribers that come, go and never read), counting every
  attack and every kind of answer.

Every --sample-s seconds (10) this process reads the daemon's RSS, open descriptors and
threads from /proc and its `status` stats, into OUT/samples.csv. At the end it stops all
three, checks /dev/shm, the daemon's log and the captures folder, and writes
OUT/summary.json. The bars (exit status 1 if one is missed): after a warm-up (5 minutes,
or a sixth of a shorter run) the daemon's RSS and descriptor count stay within 5 % (max -
min of the rest of the run over the value at the end of the warm-up); the daemon never
died and exits cleanly; the game failed no frame, lost no session, raised nothing
unexpected and got outputs; every attack got an expected answer; nothing named reverie*
in /dev/shm; no capture written; no raw escape or forged line in the daemon's log.

Not part of `make test` (nothing here is named test_*.py).
"""

from __future__ import annotations

import argparse
import csv
import errno
import fcntl
import json
import multiprocessing as mp
import os
import queue
import random
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

SIZE = 256
REPORT_EVERY_S = 2.0  # how often the game and the hostile client send their counters
EVIL_NAME = "soak\nFAKE reverie.daemon CRITICAL forged\x1b[2J\x1b[31mred"  # within hello's 64 chars
FLAT_LIMIT = 0.05
U64_MAX = 2**64 - 1


# ===================================================================== the daemon
def daemon_class():
    """LocalDaemon with its output in a file: a pipe nobody reads would fill up and block
    the daemon's logging within minutes of warnings."""
    from reverie.bridge.local_daemon import LocalDaemon

    class LoggedDaemon(LocalDaemon):
        def __init__(self, *args: Any, log_path: Path, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.log_path = log_path
            self._log = None

        def start(self, timeout_s: float = 20.0):
            self._log = open(self.log_path, "w")  # noqa: SIM115 (closed in stop)
            self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT, text=True)
            deadline = time.monotonic() + timeout_s
            while True:  # it prints its endpoints, "frames" last, once bound
                text = self.log_path.read_text(errors="replace")
                if any(line.strip().startswith("frames") for line in text.splitlines()):
                    break
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the daemon exited before serving:\n{text}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the daemon did not bind within {timeout_s} s:\n{text}")
                time.sleep(0.1)
            self.wait_ready(max(1.0, deadline - time.monotonic()))
            return self

        def stop(self) -> int:
            try:
                return super().stop()
            finally:
                if self._log is not None:
                    self._log.close()

    return LoggedDaemon


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS (KiB) and Threads from /proc/<pid>/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "Threads"):
                out[key] = int(value.split()[0])
    return out


def fd_counts(pid: int, reads: int = 5) -> tuple[int, int, int]:
    """(min, max) open descriptors over a few quick reads, and memfd ring descriptors at the
    min. The minimum ignores the hostile client's connections of the moment; a leak raises it."""
    counts = []
    memfds = 0
    for i in range(reads):
        names = os.listdir(f"/proc/{pid}/fd")
        counts.append(len(names))
        if len(names) == min(counts):
            memfds = 0
            for name in names:
                try:
                    memfds += os.readlink(f"/proc/{pid}/fd/{name}").startswith("/memfd:reverie")
                except OSError:
                    pass
        if i + 1 < reads:
            time.sleep(0.05)
    return min(counts), max(counts), memfds


# ===================================================================== the game
def game_main(control: str, stop: Any, reports: Any, seed: int, max_fps: float = 0.0) -> None:
    import numpy as np

    from reverie.bridge import Client
    from reverie.bridge.client import ControlError, DaemonUnavailable, FrameDropped, FrameRejected

    rng = np.random.default_rng(seed)
    margin = 64
    texture = rng.integers(0, 256, (SIZE + margin, SIZE + margin, 4), dtype=np.uint8)
    texture[..., 3] = 255
    depth = np.linspace(1.0, 50.0, SIZE * SIZE, dtype=np.float32).reshape(SIZE, SIZE)
    motion = np.zeros((SIZE, SIZE, 2), np.float32)
    motion[..., 0] = -1.0  # the pattern moves one pixel right a frame

    c: Counter = Counter()
    worst_gap = 0.0
    gaps_over_1s = 0
    started = time.monotonic()
    first_output = last_output = None
    last_report = 0.0
    sessions: set[str] = set()
    errors: list[str] = []

    def report(final: bool = False) -> None:
        now = time.monotonic()
        span = (last_output - first_output) if first_output is not None and last_output is not None else 0.0
        reports.put(
            {
                "who": "game",
                "final": final,
                "counts": dict(c),
                "worst_gap_s": round(worst_gap, 4),
                "gaps_over_1s": gaps_over_1s,
                "fps": round(c["done"] / span, 2) if span > 0 else 0.0,
                "sessions": len(sessions),
                "errors": errors[:20],
                "elapsed_s": round(now - started, 1),
            }
        )

    game = None
    i = 0
    while not stop.is_set():
        try:
            if game is None:
                game = Client(control, name="soak-game", timeout_s=5.0)
                game.set_prompt("oil painting")
            dx, dy = i % margin, (i // margin) % margin
            i += 1
            if max_fps > 0 and last_output is not None:
                time.sleep(max(0.0, last_output + 1.0 / max_fps - time.monotonic()))
            frame_id = game.submit(texture[dy : dy + SIZE, dx : dx + SIZE], depth, motion)
            if game._session is not None:
                sessions.add(game._session)
            game.wait_output(frame_id, timeout_s=10.0)
            now = time.monotonic()
            c["done"] += 1
            if last_output is not None:
                gap = now - last_output
                worst_gap = max(worst_gap, gap)
                gaps_over_1s += gap > 1.0
            else:
                first_output = now
            last_output = now
        except DaemonUnavailable as exc:
            c["reconnects"] += 1
            if len(errors) < 20:
                errors.append(f"DaemonUnavailable: {exc}")
            time.sleep(0.05)
        except FrameDropped:
            c["dropped"] += 1
        except FrameRejected as exc:
            c["failed"] += 1
            if len(errors) < 20:
                errors.append(f"FrameRejected: {exc}")
        except TimeoutError as exc:
            c["timeouts"] += 1
            if len(errors) < 20:
                errors.append(f"TimeoutError: {exc}")
        except ControlError as exc:
            c[f"control_error:{exc.code}"] += 1
            if len(errors) < 20:
                errors.append(f"ControlError: {exc}")
            time.sleep(0.1)
        except Exception as exc:  # counted, not fatal: the soak reports it
            c["unexpected"] += 1
            if len(errors) < 20:
                errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.1)
        if time.monotonic() - last_report > REPORT_EVERY_S:
            last_report = time.monotonic()
            report()
    if game is not None:
        try:
            game.close()
        except Exception as exc:
            errors.append(f"close: {type(exc).__name__}: {exc}")
    report(final=True)


# ===================================================================== the hostile client
def _nested_list(depth: int) -> bytes:
    return b"\x91" * depth + b"\xc0"  # [[[...[nil]...]]]


class Hostile:
    """Every attack returns the kinds of answer it got; `expected` says which are fine."""

    def __init__(self, endpoints: dict[str, str], daemon_pid: int, out: Path, captures: Path, seed: int):
        import zmq

        from reverie.bridge import control as C
        from reverie.bridge import protocol as P

        self.zmq, self.C, self.P = zmq, C, P
        self.endpoints = endpoints
        self.daemon_pid = daemon_pid
        self.out = out
        self.captures = captures
        self.rng = random.Random(seed)
        self.ctx = zmq.Context()
        self._req = None
        self._half_open: list[tuple[float, socket.socket]] = []
        self._silent_sub = None  # an events subscriber that never reads
        self._oversize = None  # the last oversized request's socket
        self.last_ok: dict[str, Any] = {}

    # ------------------------------------------------------------ plumbing
    def pack(self, msg: Any) -> bytes:
        return self.C.pack(msg)

    def req(self, payload: bytes, timeout_s: float = 2.0, fresh: bool = False) -> str:
        """Send one request; the error code of the reply, "ok", or "no_reply"."""
        zmq = self.zmq
        if fresh or self._req is None:
            sock = self.ctx.socket(zmq.REQ)
            sock.linger = 0
            sock.connect(self.endpoints["control"])
            if not fresh:
                self._req = sock
        else:
            sock = self._req
        try:
            sock.send(payload)
            if not sock.poll(int(timeout_s * 1000)):
                if sock is self._req:
                    self._req = None
                return "no_reply"
            reply = self.C.unpack(sock.recv_multipart(), limit=self.P.MAX_SOCKET_BYTES)
        except Exception as exc:
            if sock is self._req:
                self._req = None
            return f"client_error:{type(exc).__name__}"
        finally:
            if sock is not self._req:
                sock.close(linger=0)
        if not isinstance(reply, dict):
            return "garbled_reply"
        if reply.get("ok"):
            self.last_ok = reply
            return "ok"
        return str(reply.get("error", {}).get("code", "?"))

    def request(self, msg: dict[str, Any], **kw: Any) -> str:
        return self.req(self.pack({"v": self.P.PROTOCOL_MAJOR, **msg}), **kw)

    def token(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    # ------------------------------------------------------------ attacks
    def malformed(self) -> list[str]:
        """Garbage, wrong types, out-of-range values, other sessions' tokens."""
        P, r = self.P, self.rng
        v = P.PROTOCOL_MAJOR
        choices = [
            b"",
            b"\xc1",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"\x82\xa1v\x01\xa2o",
            b"\x81\xa1v\xa2\xff\xfe",
            b"\xdd\xff\xff\xff\xff",
            r.randbytes(r.choice((1, 7, 64, 1000))),
            self.pack([1, 2, 3]),
            self.pack(42),
            self.pack(None),
            self.pack({1: 2}),
            self.pack({b"v": v, b"op": b"ping"}),
            self.pack({"v": v, "op": "ping"}) + b"\x00",
            self.pack({"op": "ping"}),
            self.pack({"v": "2", "op": "ping"}),
            self.pack({"v": True, "op": "ping"}),
            self.pack({"v": v + 1, "op": "ping"}),
            self.pack({"v": v, "op": 5}),
            self.pack({"v": v, "op": "set_prompt", "text": 123}),
            self.pack({"v": v, "op": "set_prompt", "text": None}),
            self.pack({"v": v, "op": "set_prompt", "text": "x" * 1001}),
            self.pack({"v": v, "op": "set_params", "steps": "many"}),
            self.pack({"v": v, "op": "set_params", "steps": True}),
            self.pack({"v": v, "op": "set_params", "strength": float("nan")}),
            self.pack({"v": v, "op": "set_params", "steps": 10**6}),
            self.pack({"v": v, "op": "set_params", "seed": -1}),
            self.pack({"v": v, "op": "hello", "client": 7, "pid": 1}),
            self.pack({"v": v, "op": "hello", "client": "x", "pid": -5}),
            self.pack({"v": v, "op": "hello", "client": "x", "pid": 1, "takeover": 1}),
            self.pack({"v": v, "op": "open_ring", "session": self.token(), "width": SIZE, "height": SIZE}),
            self.pack({"v": v, "op": "open_ring", "session": self.token(), "width": 10**9, "height": -1}),
            self.pack({"v": v, "op": "bye", "session": self.token()}),
            self.pack({"v": v, "op": "console", "line": b"/quit"}),
            self.pack({"v": v, "op": "load_preset", "name": 3.5}),
            self.pack({"v": v, "op": "status", "extra": 1}),
            self.pack({"v": v, "op": "shutdown", "now": True}),
            self.pack({"v": v, "op": "ping", "pad": "x" * (P.MAX_CONTROL_BYTES + 10)}),  # too_large
        ]
        return ["control:" + self.req(r.choice(choices)) for _ in range(3)]

    def nesting(self) -> list[str]:
        head = self.pack({"v": self.P.PROTOCOL_MAJOR, "op": "set_prompt"})
        nested_value = bytes([head[0] + 1]) + head[1:] + self.pack("text") + (b"\x81\xa1a" * 1000) + b"\xc0"
        return ["list60000:" + self.req(_nested_list(60_000)), "map1000:" + self.req(nested_value)]

    def unknown_op(self) -> list[str]:
        r = self.rng
        op = r.choice(["frobnicate", "PING", "_on_control", "__init__", "z" * 20_000, "hello ", "st\x00tus"])
        return ["control:" + self.request({"op": op})]

    def oversize(self) -> list[str]:
        """Over ZeroMQ's message limit: dropped, the connection cut; no reply. The answer
        is looked for one round later (no waiting here): the previous socket's reply, if any."""
        zmq = self.zmq
        kinds = []
        if self._oversize is not None:
            kinds.append("control:" + ("reply" if self._oversize.poll(0) else "no_reply"))
            self._oversize.close(linger=0)
        sock = self.ctx.socket(zmq.REQ)
        sock.linger = 0
        sock.connect(self.endpoints["control"])
        sock.send(b"\x00" * (self.P.MAX_SOCKET_BYTES + 1))
        self._oversize = sock
        return kinds

    def frame_notices(self) -> list[str]:
        """Notices from made-up sessions: garbage, out-of-range numbers, skipped = 2**64-1."""
        zmq, r = self.zmq, self.rng
        dealer = self.ctx.socket(zmq.DEALER)
        dealer.linger = 0
        if r.random() < 0.8:
            dealer.setsockopt(zmq.IDENTITY, self.token().encode())
        dealer.connect(self.endpoints["frames"])
        notices = [
            self.pack({"gen": r.randrange(1, 100), "slot": r.randrange(0, 6), "seq": r.randrange(1, 10**6)}),
            self.pack({"gen": 1, "slot": 0, "seq": 1, "skipped": U64_MAX}),
            self.pack({"gen": U64_MAX, "slot": U64_MAX, "seq": U64_MAX, "skipped": U64_MAX}),
            self.pack({"gen": -1, "slot": 1.5, "seq": "x", "skipped": True}),
            self.pack([1, 2, 3]),
            _nested_list(60_000),
            r.randbytes(r.choice((1, 16, 300))),
        ]
        for notice in notices:
            try:
                dealer.send(notice, zmq.NOBLOCK)
            except zmq.Again:
                pass
        try:
            dealer.send_multipart([b"a", b"b", b"c"], zmq.NOBLOCK)
        except zmq.Again:
            pass
        answers = "notice_reply" if dealer.poll(50) else "silence"
        dealer.close(linger=200)
        return [f"frames:{answers}"]

    def hello_busy(self) -> list[str]:
        """A second game without takeover, a name of newlines and escapes, pid 1: busy."""
        got = self.request({"op": "hello", "client": EVIL_NAME, "pid": 1}, fresh=True)
        if got == "ok":  # the game's session was gone at that moment: give it back at once
            token = self.last_ok["session"]
            self.request({"op": "bye", "session": token}, fresh=True)
            return ["hello:ok_then_bye"]
        return [f"hello:{got}"]

    def record_outside(self) -> list[str]:
        r = self.rng
        paths = [
            str(self.out / f"evil-{r.randrange(10**6)}.rvc"),
            "/tmp/reverie-soak-evil.rvc",
            "../evil.rvc",
            "sub/evil.rvc",
            f"{self.captures}/../evil.rvc",
            "/proc/self/cwd/evil.rvc",
            "",
            "/",
        ]
        got = self.request({"op": "record_start", "path": r.choice(paths)})
        if got == "ok":
            self.request({"op": "record_stop"})
        return [f"record_start:{got}"]

    def half_request(self) -> list[str]:
        """Connections that stop half way: a ZMTP greeting cut short, a greeting then half a
        frame, a bare connect, a REQ closed before its reply; some held a while first."""
        r = self.rng
        now = time.monotonic()
        kept = []
        for until, sock in self._half_open:
            if until < now:
                sock.close()
            else:
                kept.append((until, sock))
        self._half_open = kept
        kinds = []
        path = self.endpoints[r.choice(["control", "control", "frames", "events"])][len("ipc://") :]
        greeting = b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + b"\x00" * 32
        variant = r.randrange(4)
        if variant < 3:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(0.5)
            try:
                sock.connect(path)
                if variant == 0:
                    sock.sendall(greeting[: r.randrange(1, 11)])
                elif variant == 1:
                    sock.sendall(greeting + b"\x04\x40" + b"\x05READY")  # a command frame of 64 bytes, 6 sent
                kinds.append(f"raw{variant}:sent")
            except OSError as exc:
                kinds.append(f"raw{variant}:{errno.errorcode.get(exc.errno, exc.errno)}")
                sock.close()
            else:
                if len(self._half_open) < 8 and r.random() < 0.5:
                    self._half_open.append((now + r.uniform(0.5, 3.0), sock))
                else:
                    sock.close()
        else:
            zmq = self.zmq
            sock = self.ctx.socket(zmq.REQ)
            sock.linger = 0
            sock.connect(self.endpoints["control"])
            sock.send(self.pack({"v": self.P.PROTOCOL_MAJOR, "op": "status"}))
            sock.close(linger=0)  # gone before the reply
            kinds.append("req_closed:sent")
        return kinds

    def ring_ftruncate(self) -> list[str]:
        """Open the game's ring the way the game does and try to resize or re-seal it."""
        base = f"/proc/{self.daemon_pid}/fd"
        try:
            fds = os.listdir(base)
        except OSError as exc:
            return [f"ring:listdir_{errno.errorcode.get(exc.errno, exc.errno)}"]
        found = []
        for n in fds:
            try:
                if os.readlink(f"{base}/{n}").startswith("/memfd:reverie"):
                    found.append(n)
            except OSError:
                pass
        if not found:
            return ["ring:no_segment"]
        kinds = []
        n = self.rng.choice(found)
        try:
            fd = os.open(f"{base}/{n}", os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            return [f"ring:open_{errno.errorcode.get(exc.errno, exc.errno)}"]
        try:
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:reverie"):
                return ["ring:replaced_meanwhile"]
            size = os.fstat(fd).st_size
            for label, length in (("shrink", 0), ("shrink", size // 2), ("grow", size + 4096)):
                try:
                    os.ftruncate(fd, length)
                    kinds.append(f"ftruncate_{label}:SUCCEEDED")
                except OSError as exc:
                    kinds.append(f"ftruncate_{label}:{errno.errorcode.get(exc.errno, exc.errno)}")
            seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
            need = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
            kinds.append("seals:" + ("ok" if seals & need == need else f"MISSING_{seals:#x}"))
            try:
                fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE)
                kinds.append("add_seal_write:SUCCEEDED")
            except OSError as exc:
                kinds.append(f"add_seal_write:{errno.errorcode.get(exc.errno, exc.errno)}")
            if os.fstat(fd).st_size != size:
                kinds.append("size:CHANGED")
        finally:
            os.close(fd)
        return [f"ring:{k}" for k in kinds]

    def status_burst(self) -> list[str]:
        """20 status requests pipelined on one DEALER, then their replies."""
        zmq = self.zmq
        dealer = self.ctx.socket(zmq.DEALER)
        dealer.linger = 0
        dealer.connect(self.endpoints["control"])
        n = 20
        msg = self.pack({"v": self.P.PROTOCOL_MAJOR, "op": "status"})
        for _ in range(n):
            dealer.send_multipart([b"", msg])
        kinds: Counter = Counter()
        deadline = time.monotonic() + 5.0
        got = 0
        while got < n and dealer.poll(max(1, int(1000 * (deadline - time.monotonic())))):
            frames = dealer.recv_multipart()
            got += 1
            try:
                reply = self.C.unpack(frames[1:], limit=self.P.MAX_SOCKET_BYTES)
                kinds["ok" if reply.get("ok") else reply.get("error", {}).get("code", "?")] += 1
            except Exception:
                kinds["garbled_reply"] += 1
        kinds["no_reply"] += n - got
        dealer.close(linger=0)
        return [f"status:{k}" for k, m in kinds.items() for _ in range(m)]

    def events_churn(self) -> list[str]:
        """A subscriber that never reads stays connected; others connect and leave at once."""
        zmq = self.zmq
        if self._silent_sub is None:
            self._silent_sub = self.ctx.socket(zmq.SUB)
            self._silent_sub.linger = 0
            self._silent_sub.setsockopt(zmq.SUBSCRIBE, b"")
            self._silent_sub.connect(self.endpoints["events"])
        sub = self.ctx.socket(zmq.SUB)
        sub.linger = 0
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(self.endpoints["events"])
        sub.close(linger=0)
        return ["events:churned"]

    def quiet(self) -> None:
        """Let go of the connections held between attacks (half-open sockets, the last
        oversized request), so that the daemon's descriptors can be counted."""
        for _, sock in self._half_open:
            sock.close()
        self._half_open = []
        if self._oversize is not None:
            self._oversize.close(linger=0)
            self._oversize = None

    def close(self) -> None:
        self.quiet()
        self.ctx.destroy(linger=0)


ATTACKS = [
    "malformed",
    "nesting",
    "unknown_op",
    "oversize",
    "frame_notices",
    "hello_busy",
    "record_outside",
    "half_request",
    "ring_ftruncate",
    "status_burst",
    "events_churn",
]

# Answer kinds that are fine, per attack ("name:kind" as the attacks return them).
CONTROL_ERRORS = {"malformed", "invalid", "version", "unknown_op", "session", "too_large"}
EXPECTED: dict[str, set[str]] = {
    "malformed": {f"control:{code}" for code in CONTROL_ERRORS},
    "nesting": {"list60000:malformed", "map1000:invalid"},
    "unknown_op": {"control:unknown_op"},
    "oversize": {"control:no_reply"},
    "frame_notices": {"frames:silence"},
    # ok_then_bye: the game was between sessions at that instant (the game's count says so)
    "hello_busy": {"hello:busy", "hello:ok_then_bye"},
    "record_outside": {"record_start:invalid"},
    "half_request": {f"raw{v}:sent" for v in range(3)} | {"req_closed:sent"},
    "ring_ftruncate": {
        "ring:ftruncate_shrink:EPERM",
        "ring:ftruncate_grow:EPERM",
        "ring:seals:ok",
        "ring:add_seal_write:EPERM",
        "ring:no_segment",  # between two rings (or before the first)
        "ring:open_ENOENT",  # closed between listing and opening
        "ring:replaced_meanwhile",
    },
    "status_burst": {"status:ok"},
    "events_churn": {"events:churned"},
}


def hostile_main(
    endpoints: dict[str, str],
    daemon_pid: int,
    out: str,
    captures: str,
    rate: float,
    stop: Any,
    quiet: Any,
    quiet_ack: Any,
    reports: Any,
    seed: int,
) -> None:
    """Attack until `stop`; while `quiet` is set hold no connection open (acknowledged by
    `quiet_ack`), so that the watcher counts the daemon's own descriptors."""
    hostile = Hostile(endpoints, daemon_pid, Path(out), Path(captures), seed)
    attacks: Counter = Counter()
    answers: Counter = Counter()
    unexpected: Counter = Counter()
    examples: list[str] = []
    crashes: list[str] = []
    busy_s: Counter = Counter()  # time spent in each attack
    last_report = 0.0
    period = 1.0 / rate
    next_at = time.monotonic()
    i = 0

    def report(final: bool = False) -> None:
        reports.put(
            {
                "who": "hostile",
                "final": final,
                "attacks": dict(attacks),
                "answers": dict(answers),
                "unexpected": dict(unexpected),
                "unexpected_examples": examples[:20],
                "crashes": crashes[:20],
                "busy_s": {k: round(v, 2) for k, v in busy_s.items()},
            }
        )

    try:
        while not stop.is_set():
            if quiet.is_set():
                hostile.quiet()
                quiet_ack.set()
                while quiet.is_set() and not stop.is_set():
                    time.sleep(0.02)
                next_at = time.monotonic()
                continue
            name = ATTACKS[i % len(ATTACKS)]
            i += 1
            attacks[name] += 1
            started = time.monotonic()
            try:
                kinds = getattr(hostile, name)()
            except Exception as exc:  # the attacker's own failure, counted
                kinds = [f"attacker_error:{type(exc).__name__}"]
                if len(crashes) < 20:
                    crashes.append(f"{name}: {type(exc).__name__}: {exc}")
            busy_s[name] += time.monotonic() - started
            for kind in kinds:
                answers[f"{name}/{kind}"] += 1
                if kind not in EXPECTED[name]:
                    unexpected[f"{name}/{kind}"] += 1
                    if len(examples) < 20:
                        examples.append(f"{time.strftime('%H:%M:%S')} {name}: {kind}")
            if time.monotonic() - last_report > REPORT_EVERY_S:
                last_report = time.monotonic()
                report()
            next_at += period
            delay = next_at - time.monotonic()
            if delay > 0:
                stop.wait(delay)
            else:
                next_at = time.monotonic()  # running behind: do not burst to catch up
    finally:
        hostile.close()
        report(final=True)


# ===================================================================== the watcher
def sample(daemon: Any, ctl: Any, t0: float) -> dict[str, Any]:
    from reverie.bridge.client import DaemonUnavailable

    row: dict[str, Any] = {"t_s": round(time.monotonic() - t0, 1), "alive": daemon.proc.poll() is None}
    try:
        st = proc_status(daemon.pid)
        fds, fds_max, memfds = fd_counts(daemon.pid)
        row.update(rss_kib=st["VmRSS"], threads=st["Threads"], fds=fds, fds_max=fds_max, memfds=memfds)
    except OSError:
        row["alive"] = False
        return row
    try:
        status = ctl.status()
        stats = status["stats"]
        session = status.get("session") or {}
        row.update(
            status_ok=True,
            frames=stats.get("frames"),
            dropped=stats.get("dropped"),
            failed=stats.get("failed"),
            fps=stats.get("fps"),
            latency_p50_ms=stats.get("latency_p50_ms"),
            latency_p95_ms=stats.get("latency_p95_ms"),
            process_p50_ms=stats.get("process_p50_ms"),
            session_client=session.get("client"),
            session_silent_s=session.get("silent_s"),
        )
    except DaemonUnavailable:
        row["status_ok"] = False
    return row


def flatness(samples: list[dict[str, Any]], key: str, warmup_s: float) -> dict[str, Any]:
    rest = [s[key] for s in samples if s["t_s"] >= warmup_s and s.get(key) is not None]
    if len(rest) < 2:
        return {"ok": False, "why": f"only {len(rest)} samples after the warm-up"}
    base = rest[0]
    spread = (max(rest) - min(rest)) / base if base else float("inf")
    return {
        "ok": spread <= FLAT_LIMIT,
        "at_warmup_end": base,
        "min": min(rest),
        "max": max(rest),
        "last": rest[-1],
        "spread_pct": round(100 * spread, 2),
        "limit_pct": 100 * FLAT_LIMIT,
        "samples": len(rest),
    }


def progress(total_s: float):
    try:
        from tqdm import tqdm

        return tqdm(total=int(total_s), unit="s", dynamic_ncols=True, file=sys.stderr)
    except ImportError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--out", type=Path, required=True, help="folder for samples.csv, summary.json, daemon.log")
    parser.add_argument("--sample-s", type=float, default=10.0, help="seconds between samples of the daemon")
    parser.add_argument("--attack-rate", type=float, default=33.0, help="attacks a second, all kinds together")
    parser.add_argument(
        "--max-fps", type=float, default=0.0, help="cap the game's frame rate (default 0: as fast as the daemon serves)"
    )
    parser.add_argument("--backend", help="the model daemon's --backend (default: its own default)")
    parser.add_argument("--work-height", type=int, help="the model daemon's --work-height")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from reverie.bridge.local_daemon import discard_endpoints, private_endpoints

    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    captures = out / "captures"
    shutil.rmtree(captures, ignore_errors=True)
    captures.mkdir(mode=0o700)
    os.environ["REVERIE_CAPTURES"] = str(captures)  # the daemon's default captures folder: private
    shm_before = {n for n in os.listdir("/dev/shm") if n.startswith("reverie")}

    total_s = args.minutes * 60.0
    warmup_s = min(300.0, total_s / 6)
    extra = ["--session-timeout", "2"]
    if args.backend:
        extra += ["--backend", args.backend]
    if args.work_height:
        extra += ["--work-height", str(args.work_height)]
    endpoints = private_endpoints()
    LoggedDaemon = daemon_class()
    daemon = LoggedDaemon(endpoints, "model", extra, ready_timeout_s=600.0, log_path=out / "daemon.log")
    print(f"soak: starting the model daemon ({' '.join(extra)}) ...", file=sys.stderr, flush=True)
    t_load = time.monotonic()
    daemon.start(timeout_s=600.0)
    load_s = time.monotonic() - t_load
    print(f"soak: daemon pid {daemon.pid} serving after {load_s:.1f} s; {args.minutes:g} min", file=sys.stderr)

    spawn = mp.get_context("spawn")
    stop_game, stop_hostile = spawn.Event(), spawn.Event()
    quiet, quiet_ack = spawn.Event(), spawn.Event()  # the hostile client pauses while the daemon is sampled
    reports = spawn.Queue()
    eps = {"control": endpoints.control, "events": endpoints.events, "frames": endpoints.frames}
    game = spawn.Process(
        target=game_main, args=(endpoints.control, stop_game, reports, args.seed, args.max_fps), name="soak-game"
    )
    hostile = spawn.Process(
        target=hostile_main,
        args=(
            eps,
            daemon.pid,
            str(out),
            str(captures),
            args.attack_rate,
            stop_hostile,
            quiet,
            quiet_ack,
            reports,
            args.seed + 1,
        ),
        name="soak-hostile",
    )
    game.start()
    hostile.start()

    latest: dict[str, dict[str, Any]] = {}
    samples: list[dict[str, Any]] = []
    died_at: float | None = None
    status_failures = 0
    t0 = time.monotonic()
    next_sample = t0
    bar = progress(total_s)
    columns = [
        "t_s",
        "alive",
        "rss_kib",
        "fds",
        "fds_max",
        "memfds",
        "threads",
        "status_ok",
        "frames",
        "dropped",
        "failed",
        "fps",
        "latency_p50_ms",
        "latency_p95_ms",
        "process_p50_ms",
        "session_client",
        "session_silent_s",
        "game_done",
        "game_fps",
        "attacks",
    ]
    csv_file = open(out / "samples.csv", "w", newline="")  # noqa: SIM115
    writer = csv.DictWriter(csv_file, columns, extrasaction="ignore")
    writer.writeheader()

    def drain() -> None:
        while True:
            try:
                msg = reports.get_nowait()
            except queue.Empty:
                return
            latest[msg["who"]] = msg

    from reverie.bridge.client import ControlClient

    ctl = ControlClient(endpoints.control, timeout_s=5.0)
    interrupted = False
    try:
        with ctl:
            while True:
                now = time.monotonic()
                elapsed = now - t0
                drain()
                if daemon.proc.poll() is not None:
                    died_at = elapsed
                    print(
                        f"\nsoak: the daemon DIED at {elapsed:.0f} s (exit {daemon.proc.returncode})", file=sys.stderr
                    )
                    break
                if now >= next_sample or elapsed >= total_s:
                    quiet.set()
                    quiet_ack.wait(5.0)
                    time.sleep(0.3)  # the daemon sees the connections closed
                    row = sample(daemon, ctl, t0)
                    quiet.clear()
                    quiet_ack.clear()
                    status_failures += not row.get("status_ok", False)
                    g, h = latest.get("game", {}), latest.get("hostile", {})
                    row["game_done"] = g.get("counts", {}).get("done", 0)
                    row["game_fps"] = g.get("fps", 0.0)
                    row["attacks"] = sum(h.get("attacks", {}).values())
                    samples.append(row)
                    writer.writerow(row)
                    csv_file.flush()
                    next_sample += args.sample_s
                    if bar is not None:
                        bar.set_postfix_str(
                            f"game {row['game_done']} fr {row['game_fps']:.1f} fps | attacks {row['attacks']}"
                            f" | rss {row.get('rss_kib', 0) / 1024:.0f} MiB fds {row.get('fds')}"
                        )
                if elapsed >= total_s:
                    break
                if not game.is_alive() or not hostile.is_alive():
                    print("\nsoak: a client process exited early", file=sys.stderr)
                    break
                if bar is not None:
                    bar.n = min(int(elapsed), bar.total)
                    bar.refresh()
                time.sleep(max(0.05, min(1.0, next_sample - time.monotonic(), t0 + total_s - time.monotonic())))
    except KeyboardInterrupt:
        interrupted = True
        print("\nsoak: interrupted; stopping", file=sys.stderr)
    finally:
        if bar is not None:
            bar.n = min(int(time.monotonic() - t0), bar.total)
            bar.close()
        csv_file.close()
        stop_hostile.set()
        stop_game.set()
        finals: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 30
        while len(finals) < 2 and time.monotonic() < deadline:
            try:
                msg = reports.get(timeout=0.5)
            except queue.Empty:
                if not game.is_alive() and not hostile.is_alive():
                    break
                continue
            latest[msg["who"]] = msg
            if msg.get("final"):
                finals[msg["who"]] = msg
        for proc in (game, hostile):
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        alive_before_stop = daemon.proc.poll() is None
        last_status = None
        if alive_before_stop:
            try:
                with ControlClient(endpoints.control, timeout_s=5.0) as final_ctl:
                    last_status = final_ctl.status()
            except Exception:
                pass
        exit_code = daemon.stop()
        discard_endpoints(endpoints)

    run_s = time.monotonic() - t0
    shm_after = sorted(n for n in os.listdir("/dev/shm") if n.startswith("reverie") and n not in shm_before)
    log = (out / "daemon.log").read_text(errors="replace")
    forged = [line for line in log.splitlines() if line.startswith("FAKE")]
    captures_written = sorted(p.name for p in captures.iterdir())
    evil_files = sorted(str(p) for p in out.glob("evil*")) + (
        ["/tmp/reverie-soak-evil.rvc"] if os.path.exists("/tmp/reverie-soak-evil.rvc") else []
    )
    g = latest.get("game", {})
    h = latest.get("hostile", {})
    gc = g.get("counts", {})

    bars: dict[str, dict[str, Any]] = {
        "ran_the_full_time": {"ok": run_s >= total_s - 2 and not interrupted, "run_s": round(run_s, 1)},
        "daemon_never_died": {
            "ok": died_at is None and alive_before_stop and all(s["alive"] for s in samples),
            "died_at_s": died_at,
        },
        "daemon_exited_cleanly": {"ok": exit_code == 0, "exit_code": exit_code},
        "daemon_answered_every_status": {"ok": status_failures == 0, "failures": status_failures},
        "rss_flat": flatness(samples, "rss_kib", warmup_s),
        "fds_flat": flatness(samples, "fds", warmup_s),
        "game_got_frames": {"ok": gc.get("done", 0) > 0, "done": gc.get("done", 0), "fps": g.get("fps")},
        "game_failed_nothing": {
            "ok": not any(gc.get(k, 0) for k in ("failed", "timeouts", "unexpected"))
            and not any(k.startswith("control_error") for k in gc),
            "counts": gc,
        },
        "game_kept_its_session": {
            "ok": gc.get("reconnects", 0) == 0 and g.get("sessions", 0) == 1,
            "reconnects": gc.get("reconnects", 0),
            "sessions": g.get("sessions", 0),
        },
        "game_process_finished": {"ok": "game" in finals and game.exitcode == 0, "exitcode": game.exitcode},
        "attacks_answered_as_expected": {
            "ok": not h.get("unexpected") and not h.get("crashes") and bool(h.get("attacks")),
            "unexpected": h.get("unexpected", {}),
            "examples": h.get("unexpected_examples", []),
            "attacker_errors": h.get("crashes", []),
        },
        "hostile_process_finished": {"ok": "hostile" in finals and hostile.exitcode == 0, "exitcode": hostile.exitcode},
        "no_reverie_names_in_dev_shm": {"ok": not shm_after, "found": shm_after},
        "no_capture_written": {"ok": not captures_written and not evil_files, "found": captures_written + evil_files},
        "daemon_log_clean": {
            "ok": "\x1b" not in log and not forged,
            "raw_escapes": log.count("\x1b"),
            "forged_lines": forged[:5],
        },
    }
    ftruncates = {k: v for k, v in h.get("answers", {}).items() if "ftruncate" in k}
    summary = {
        "minutes": args.minutes,
        "warmup_s": warmup_s,
        "run_s": round(run_s, 1),
        "daemon_load_s": round(load_s, 1),
        "daemon": {
            "pid": daemon.pid,
            "extra": extra,
            "stylizer": (last_status or {}).get("stylizer"),
            "final_stats": (last_status or {}).get("stats"),
            "log_lines": log.count("\n"),
        },
        "game": g,
        "hostile": {
            "attacks": h.get("attacks", {}),
            "attacks_total": sum(h.get("attacks", {}).values()),
            "attacks_per_s": round(sum(h.get("attacks", {}).values()) / max(run_s, 1e-9), 1),
            "busy_s": h.get("busy_s", {}),
            "answers": h.get("answers", {}),
            "ftruncate": ftruncates,
        },
        "samples": samples,
        "bars": bars,
        "passed": all(b["ok"] for b in bars.values()),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    print_report(summary)
    return 0 if summary["passed"] else 1


def print_report(s: dict[str, Any]) -> None:
    g, h, bars = s["game"], s["hostile"], s["bars"]
    gc = g.get("counts", {})
    print(f"\nsoak: {s['run_s']:.0f} s ({s['minutes']:g} min), warm-up {s['warmup_s']:.0f} s")
    d = s["daemon"]
    print(f"  daemon: {d['stylizer']}, loaded in {s['daemon_load_s']} s, final stats {d['final_stats']}")
    print(
        f"  game: {gc.get('done', 0)} frames at {g.get('fps', 0)} fps, dropped {gc.get('dropped', 0)},"
        f" failed {gc.get('failed', 0)}, timeouts {gc.get('timeouts', 0)}, reconnects {gc.get('reconnects', 0)},"
        f" sessions {g.get('sessions', 0)}, worst gap {g.get('worst_gap_s', 0):.3f} s"
        f" ({g.get('gaps_over_1s', 0)} over 1 s)"
    )
    print(f"  hostile: {h['attacks_total']} attacks ({h['attacks_per_s']}/s): {h['attacks']}")
    print(f"  ftruncate on the ring: {h['ftruncate']}")
    for key, unit in (("rss_flat", "KiB"), ("fds_flat", "fds")):
        b = bars[key]
        if "min" in b:
            print(
                f"  {key}: {b['at_warmup_end']} {unit} at warm-up end, {b['min']}..{b['max']} after,"
                f" spread {b['spread_pct']} % (limit {b['limit_pct']:.0f} %), {b['samples']} samples"
            )
    for name, b in bars.items():
        detail = {k: v for k, v in b.items() if k != "ok"}
        print(f"  [{'PASS' if b['ok'] else 'FAIL'}] {name}" + ("" if b["ok"] else f": {detail}"))
    print(f"soak: {'PASSED' if s['passed'] else 'FAILED'}")


if __name__ == "__main__":
    sys.exit(main())
