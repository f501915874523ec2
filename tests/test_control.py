"""The control plane under abuse, against a real daemon in a child process: malformed and
hostile requests get one error reply with the right code and a useful message, the daemon
stays up, non-local binds need CURVE, and the CLI and event stream do what they say.

Raw pyzmq sockets carry the malformed traffic; every receive has a timeout, so a daemon
that stops answering fails a test instead of hanging it."""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shlex
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgpack
import pytest
import zmq
import zmq.auth
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reverie.bridge import ControlClient, ControlError
from reverie.bridge import control as C
from reverie.bridge import protocol as P
from reverie.bridge.control import Endpoints
from reverie.bridge.local_daemon import LocalDaemon
from reverie.bridge.packs import shipped_packs

REPLY_TIMEOUT_MS = 2000
ERROR_CODES = {
    P.ERR_MALFORMED,
    P.ERR_TOO_LARGE,
    P.ERR_VERSION,
    P.ERR_UNKNOWN_OP,
    P.ERR_INVALID,
    P.ERR_BUSY,
    P.ERR_SESSION,
    P.ERR_INTERNAL,
}


# ------------------------------------------------------------------------ helpers
def cli(*args: str, timeout: float = 20.0) -> subprocess.CompletedProcess:
    """`reverie ARGS` in a child process."""
    return subprocess.run([sys.executable, "-m", "reverie", *args], capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def private_endpoints() -> tuple[str, Endpoints]:
    base = tempfile.mkdtemp(prefix="rv-", dir="/tmp")
    return base, Endpoints(
        control=f"ipc://{base}/control", events=f"ipc://{base}/events", frames=f"ipc://{base}/frames"
    )


def req(msg: dict) -> bytes:
    """A request with the protocol version filled in."""
    return C.pack({"v": P.PROTOCOL_MAJOR, **msg})


class RawReq:
    """A bare REQ socket: sends any frames, returns the raw reply frames or None on timeout."""

    def __init__(self, endpoint: str, setup=None):
        self.context = zmq.Context()
        self.endpoint = endpoint
        self.setup = setup
        self.sock: zmq.Socket | None = None

    def _socket(self) -> zmq.Socket:
        if self.sock is None:
            self.sock = self.context.socket(zmq.REQ)
            self.sock.linger = 0
            if self.setup is not None:
                self.setup(self.sock)
            self.sock.connect(self.endpoint)
        return self.sock

    def ask(self, frames: bytes | list[bytes], timeout_ms: int = REPLY_TIMEOUT_MS) -> list[bytes] | None:
        sock = self._socket()
        sock.send_multipart([frames] if isinstance(frames, bytes) else frames)
        if not sock.poll(timeout_ms):
            sock.close(linger=0)  # a REQ socket without its reply is stuck: start a new one
            self.sock = None
            return None
        return sock.recv_multipart()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close(linger=0)
        self.context.term()

    def __enter__(self) -> RawReq:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_reply(frames: list[bytes] | None) -> dict:
    """The reply contract: one frame, a msgpack map, boolean "ok", and on failure an
    "error" map with a known code and a non-empty, bounded message."""
    assert frames is not None, "no reply within the timeout"
    assert len(frames) == 1, f"a reply is one frame, got {len(frames)}"
    reply = msgpack.unpackb(frames[0], raw=False)
    assert isinstance(reply, dict), reply
    assert isinstance(reply.get("ok"), bool), reply
    if not reply["ok"]:
        error = reply.get("error")
        assert isinstance(error, dict) and set(error) == {"code", "message"}, reply
        assert error["code"] in ERROR_CODES, reply
        assert isinstance(error["message"], str) and error["message"].strip(), reply
        assert len(error["message"]) < 600, f"the message echoes too much: {len(error['message'])} chars"
    return reply


def assert_alive(endpoint: str, pid: int | None = None) -> None:
    """The daemon still answers a normal client (and is the same process)."""
    with ControlClient(endpoint, timeout_s=2.0) as ctl:
        pong = ctl.request("ping")
    assert pong["ok"] is True and pong["pong"] is True
    if pid is not None:
        assert pong["pid"] == pid, "the daemon was replaced"


@pytest.fixture(scope="module")
def shared_daemon():
    """One daemon for the malformed-request table and the fuzz: abuse accumulates on it."""
    base, eps = private_endpoints()
    daemon = LocalDaemon(eps).start()
    yield daemon
    try:
        assert daemon.proc.poll() is None, f"the shared daemon died: {''.join(daemon.output)}"
    finally:
        daemon.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def spawn():
    """Factory: spawn(LocalDaemon(...)) starts it; all stopped at teardown."""
    started: list[LocalDaemon] = []

    def start(daemon: LocalDaemon) -> LocalDaemon:
        started.append(daemon)
        return daemon.start()

    yield start
    for daemon in started:
        daemon.stop()


# ------------------------------------------------------------------------ 1. malformed requests
def _nested_list(depth: int) -> bytes:
    return b"\x91" * depth + b"\xc0"  # [[[...[nil]...]]]


def _nested_map_value(depth: int) -> bytes:
    """{"v": 2, "op": "set_prompt", "text": {"a": {"a": ... nil}}}"""
    head = C.pack({"v": P.PROTOCOL_MAJOR, "op": "set_prompt"})
    body = (b"\x81\xa1a" * depth) + b"\xc0"
    return bytes([head[0] + 1]) + head[1:] + C.pack("text") + body


_rng = random.Random(20240611)
_GARBAGE = [_rng.randbytes(n) for n in (1, 7, 64, 1000)]

MALFORMED = [
    # not msgpack at all
    pytest.param(b"", P.ERR_MALFORMED, ["msgpack"], id="empty-frame"),
    pytest.param(b"\xc1", P.ERR_MALFORMED, ["msgpack"], id="reserved-byte"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", P.ERR_MALFORMED, ["msgpack"], id="http"),
    pytest.param(b"\x82\xa1v\x01\xa2o", P.ERR_MALFORMED, ["msgpack"], id="truncated-map"),
    pytest.param(b"\x81\xa1v\xa2\xff\xfe", P.ERR_MALFORMED, ["msgpack"], id="bad-utf8"),
    pytest.param(b"\xdd\xff\xff\xff\xff", P.ERR_MALFORMED, ["msgpack"], id="huge-array-header"),
    *[pytest.param(g, P.ERR_MALFORMED, ["msgpack"], id=f"random-{len(g)}-bytes") for g in _GARBAGE],
    # msgpack, but not a map
    pytest.param(C.pack([1, 2, 3]), P.ERR_MALFORMED, ["map", "list"], id="list"),
    pytest.param(C.pack(42), P.ERR_MALFORMED, ["map", "int"], id="int"),
    pytest.param(C.pack("ping"), P.ERR_MALFORMED, ["map", "str"], id="string"),
    pytest.param(C.pack(None), P.ERR_MALFORMED, ["map", "NoneType"], id="nil"),
    pytest.param(C.pack(True), P.ERR_MALFORMED, ["map", "bool"], id="bool"),
    pytest.param(C.pack(1.5), P.ERR_MALFORMED, ["map", "float"], id="float"),
    pytest.param(C.pack(b"\x00" * 8), P.ERR_MALFORMED, ["map", "bytes"], id="bin"),
    pytest.param(C.pack(msgpack.ExtType(5, b"xyz")), P.ERR_MALFORMED, ["map"], id="ext"),
    pytest.param(
        C.pack({"v": P.PROTOCOL_MAJOR, "op": "ping"}) + b"\x00", P.ERR_MALFORMED, ["extra data"], id="trailing-bytes"
    ),
    # nesting
    pytest.param(_nested_list(60_000), P.ERR_MALFORMED, ["deep"], id="nested-60000"),
    pytest.param(_nested_list(1000), P.ERR_MALFORMED, ["map", "list"], id="nested-1000"),
    pytest.param(_nested_map_value(1000), P.ERR_INVALID, ["set_prompt.text", "str", "dict"], id="nested-map-field"),
    # keys that are not strings
    pytest.param(C.pack({1: 2}), P.ERR_MALFORMED, ["key"], id="int-key"),
    pytest.param(
        C.pack({"v": P.PROTOCOL_MAJOR, "op": "ping", 7: "x"}), P.ERR_MALFORMED, ["key"], id="int-key-in-request"
    ),
    pytest.param(C.pack({b"v": P.PROTOCOL_MAJOR, b"op": b"ping"}), P.ERR_MALFORMED, ["key", "str"], id="bin-keys"),
    pytest.param(
        C.pack({"v": P.PROTOCOL_MAJOR, "op": "ping", b"x": 1}), P.ERR_MALFORMED, ["key", "str"], id="bin-key-in-request"
    ),
    # versions
    pytest.param(C.pack({"op": "ping"}), P.ERR_VERSION, ["'v'"], id="missing-v"),
    pytest.param(
        C.pack({"v": P.PROTOCOL_MAJOR + 1, "op": "ping"}),
        P.ERR_VERSION,
        [str(P.PROTOCOL_MAJOR + 1), str(P.PROTOCOL_MAJOR)],
        id="next-major",
    ),
    pytest.param(C.pack({"v": 0, "op": "ping"}), P.ERR_VERSION, ["0"], id="v0"),
    pytest.param(C.pack({"v": "1", "op": "ping"}), P.ERR_VERSION, ["'v'", "int"], id="v-string"),
    pytest.param(C.pack({"v": True, "op": "ping"}), P.ERR_VERSION, ["'v'", "int"], id="v-bool"),
    pytest.param(C.pack({"v": 1.0, "op": "ping"}), P.ERR_VERSION, ["'v'", "int"], id="v-float"),
    # ops
    pytest.param(req({}), P.ERR_INVALID, ["'op'"], id="missing-op"),
    pytest.param(req({"op": 5}), P.ERR_INVALID, ["'op'", "string"], id="op-int"),
    pytest.param(req({"op": "frobnicate"}), P.ERR_UNKNOWN_OP, ["frobnicate", "ping", "set_prompt"], id="unknown-op"),
    pytest.param(req({"op": "PING"}), P.ERR_UNKNOWN_OP, ["PING"], id="op-case"),
    pytest.param(req({"op": "_on_control"}), P.ERR_UNKNOWN_OP, ["_on_control"], id="op-internal-name"),
    pytest.param(req({"op": "z" * 20_000}), P.ERR_UNKNOWN_OP, ["zzzz"], id="op-20k-chars"),
    pytest.param(req({"op": "ping", "extra": 1}), P.ERR_INVALID, ["ping", "extra"], id="extra-field"),
    pytest.param(req({"op": "shutdown", "now": True}), P.ERR_INVALID, ["shutdown", "now"], id="shutdown-extra-field"),
    pytest.param(req({"op": "set_prompt"}), P.ERR_INVALID, ["set_prompt", "'text'"], id="missing-field"),
    # field types and ranges
    pytest.param(
        req({"op": "set_prompt", "text": 123}), P.ERR_INVALID, ["set_prompt.text", "str", "int"], id="text-int"
    ),
    pytest.param(
        req({"op": "set_prompt", "text": None}), P.ERR_INVALID, ["set_prompt.text", "NoneType"], id="text-nil"
    ),
    pytest.param(
        req({"op": "set_prompt", "text": b"bytes"}), P.ERR_INVALID, ["set_prompt.text", "bytes"], id="text-bin"
    ),
    pytest.param(
        req({"op": "set_prompt", "text": "x" * 1001}), P.ERR_INVALID, ["set_prompt.text", "1000"], id="text-too-long"
    ),
    pytest.param(
        req({"op": "set_prompt", "text": "x", "transition_frames": -1}),
        P.ERR_INVALID,
        ["transition_frames", "-1"],
        id="transition-negative",
    ),
    pytest.param(
        req({"op": "set_prompt", "text": "x", "transition_frames": 10_001}),
        P.ERR_INVALID,
        ["transition_frames", "10001"],
        id="transition-too-big",
    ),
    pytest.param(
        req({"op": "set_params", "steps": "3"}), P.ERR_INVALID, ["set_params.steps", "int", "str"], id="steps-string"
    ),
    pytest.param(
        req({"op": "set_params", "steps": True}), P.ERR_INVALID, ["set_params.steps", "bool"], id="steps-bool"
    ),
    pytest.param(
        req({"op": "set_params", "steps": 2.0}), P.ERR_INVALID, ["set_params.steps", "float"], id="steps-float"
    ),
    pytest.param(
        req({"op": "set_params", "steps": 0}), P.ERR_INVALID, ["set_params.steps", "outside"], id="steps-zero"
    ),
    pytest.param(
        req({"op": "set_params", "steps": 9}), P.ERR_INVALID, ["set_params.steps", "outside"], id="steps-too-many"
    ),
    pytest.param(
        req({"op": "set_params", "strength": float("nan")}),
        P.ERR_INVALID,
        ["set_params.strength", "finite"],
        id="strength-nan",
    ),
    pytest.param(
        req({"op": "set_params", "strength": float("inf")}),
        P.ERR_INVALID,
        ["set_params.strength", "finite"],
        id="strength-inf",
    ),
    pytest.param(
        req({"op": "set_params", "strength": 2.0}),
        P.ERR_INVALID,
        ["set_params.strength", "2.0", "outside"],
        id="strength-2",
    ),
    pytest.param(
        req({"op": "set_params", "strength": -0.5}),
        P.ERR_INVALID,
        ["set_params.strength", "outside"],
        id="strength-negative",
    ),
    pytest.param(
        req({"op": "set_params", "strength": False}), P.ERR_INVALID, ["set_params.strength", "bool"], id="strength-bool"
    ),
    pytest.param(
        req({"op": "set_params", "seed": -1}), P.ERR_INVALID, ["set_params.seed", "-1", "outside"], id="seed-negative"
    ),
    pytest.param(
        req({"op": "set_params", "seed": 2**63}), P.ERR_INVALID, ["set_params.seed", "outside"], id="seed-2^63"
    ),
    pytest.param(
        req({"op": "set_params", "seed": None}), P.ERR_INVALID, ["set_params.seed", "NoneType"], id="seed-nil"
    ),
    pytest.param(
        req({"op": "hello", "client": "x", "pid": 0}), P.ERR_INVALID, ["hello.pid", "outside"], id="hello-pid-zero"
    ),
    pytest.param(
        req({"op": "hello", "client": "x", "pid": 1, "takeover": 1}),
        P.ERR_INVALID,
        ["hello.takeover", "bool"],
        id="hello-takeover-int",
    ),
    pytest.param(
        req({"op": "open_ring", "session": "nope", "width": 64, "height": 64}),
        P.ERR_SESSION,
        ["session"],
        id="open-ring-bad-session",
    ),
    pytest.param(
        req({"op": "open_ring", "session": "nope", "width": 7, "height": 64}),
        P.ERR_INVALID,
        ["open_ring.width"],
        id="open-ring-too-narrow",
    ),
    pytest.param(
        req({"op": "open_ring", "session": "nope", "width": 64, "height": 64, "motion": "f64"}),
        P.ERR_INVALID,
        ["motion", "f16"],
        id="open-ring-motion",
    ),
    pytest.param(req({"op": "bye", "session": "nope"}), P.ERR_SESSION, ["session"], id="bye-bad-session"),
    pytest.param(
        req({"op": "load_preset", "name": 3}), P.ERR_INVALID, ["load_preset.name", "str"], id="preset-name-int"
    ),
    # size limits
    pytest.param(
        req({"op": "set_prompt", "text": "x" * 200_000}), P.ERR_TOO_LARGE, [str(P.MAX_CONTROL_BYTES), "200"], id="200kB"
    ),
    # several frames
    pytest.param([req({"op": "ping"}), req({"op": "ping"})], P.ERR_MALFORMED, ["one frame", "2"], id="multipart-2"),
    pytest.param([b"", b"", b""], P.ERR_MALFORMED, ["one frame", "3"], id="multipart-3-empty"),
]


@pytest.mark.parametrize("frames, code, words", MALFORMED)
def test_malformed_request_gets_error_reply_and_daemon_stays_up(shared_daemon, frames, code, words):
    endpoint = shared_daemon.endpoints.control
    with RawReq(endpoint) as raw:
        reply = check_reply(raw.ask(frames))
        assert reply["ok"] is False
        assert reply["error"]["code"] == code, reply
        message = reply["error"]["message"]
        for word in words:
            assert word.lower() in message.lower(), f"{word!r} not in {message!r}"
        # The same REQ socket goes on: the daemon answers its next request as any other.
        assert check_reply(raw.ask(req({"op": "ping"})))["pong"] is True
    assert_alive(endpoint, shared_daemon.pid)


def _request_of_size(size: int) -> bytes:
    """A set_prompt request of exactly `size` bytes."""
    overhead = len(req({"op": "set_prompt", "text": ""}))
    text_len = size - (overhead - 1) - 3  # fixstr header out, str16 header in
    data = req({"op": "set_prompt", "text": "y" * text_len})
    assert len(data) == size
    return data


def test_size_limit_is_exact(shared_daemon):
    """MAX_CONTROL_BYTES is accepted for decoding (then rejected for the long text); one
    byte more is too_large."""
    with RawReq(shared_daemon.endpoints.control) as raw:
        at_limit = check_reply(raw.ask(_request_of_size(P.MAX_CONTROL_BYTES)))
        assert at_limit["error"]["code"] == P.ERR_INVALID, at_limit
        over = check_reply(raw.ask(_request_of_size(P.MAX_CONTROL_BYTES + 1)))
        assert over["error"]["code"] == P.ERR_TOO_LARGE, over
        assert str(P.MAX_CONTROL_BYTES + 1) in over["error"]["message"]
    assert_alive(shared_daemon.endpoints.control, shared_daemon.pid)


def test_message_over_socket_limit_is_dropped_not_answered(shared_daemon):
    """Above MAX_SOCKET_BYTES ZeroMQ drops the peer: no reply, and the daemon goes on."""
    with RawReq(shared_daemon.endpoints.control) as raw:
        assert raw.ask(b"\x00" * (2 * P.MAX_SOCKET_BYTES), timeout_ms=1000) is None
        assert check_reply(raw.ask(req({"op": "ping"})))["pong"] is True  # a new socket is served
    assert_alive(shared_daemon.endpoints.control, shared_daemon.pid)


def test_settings_unchanged_by_rejected_requests(shared_daemon):
    """A rejected request has no effect: status shows the last accepted values."""
    endpoint = shared_daemon.endpoints.control
    with ControlClient(endpoint) as ctl:
        ctl.set_prompt("kept", 5)
        ctl.set_params(steps=3, strength=0.5, seed=7)
        for bad in (
            {"op": "set_params", "steps": 3, "strength": 2.0},
            {"op": "set_params", "seed": -1, "steps": 4},
            {"op": "set_prompt", "text": "lost", "transition_frames": -1},
            {"op": "set_prompt", "text": "lost", "bogus": 1},
        ):
            with pytest.raises(ControlError) as info:
                ctl.request(**bad)
            assert info.value.code == P.ERR_INVALID
        settings_now = ctl.status()["settings"]
    assert settings_now["prompt"] == "kept" and settings_now["transition_frames"] == 5
    assert (settings_now["steps"], settings_now["strength"], settings_now["seed"]) == (3, 0.5, 7)


def test_many_clients_interleaved_with_garbage(shared_daemon):
    """Good and bad requests from several sockets at once: every one answered correctly."""
    endpoint = shared_daemon.endpoints.control
    context = zmq.Context()
    try:
        socks = []
        for _ in range(12):
            s = context.socket(zmq.REQ)
            s.linger = 0
            s.connect(endpoint)
            socks.append(s)
        for round_ in range(5):
            for i, s in enumerate(socks):
                s.send(req({"op": "ping"}) if i % 2 else _GARBAGE[(i + round_) % len(_GARBAGE)])
            for i, s in enumerate(socks):
                assert s.poll(REPLY_TIMEOUT_MS), f"socket {i} got no reply"
                reply = check_reply(s.recv_multipart())
                assert reply["ok"] is bool(i % 2), reply
    finally:
        context.destroy(linger=0)
    assert_alive(endpoint, shared_daemon.pid)


# ------------------------------------------------------------------------ 2. property-based fuzz
FUZZ_OPS = sorted(set(P.OPS) - {"shutdown"})  # a valid shutdown would end the daemon
FIELD_NAMES = sorted({name for fields in P.OPS.values() for name in fields})

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(),
    st.text(max_size=30),
    st.binary(max_size=30),
)
_map_keys = st.one_of(st.text(max_size=8), st.integers(-3, 3), st.binary(max_size=4))
msgpack_values = st.recursive(
    _scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(_map_keys, children, max_size=4)),
    max_leaves=10,
)
field_values = st.one_of(
    st.integers(-3, 12),
    st.sampled_from(
        [0, 1, 7, 8, 9, 64, 8192, 8193, 10_000, 10_001, 2**31 - 1, 2**31, 2**63 - 1, 2**63, -(2**63), 2**64 - 1]
    ),
    st.floats(),
    st.sampled_from([0.0, -0.0, 0.5, 1.0, 1.0000001, math.nan, math.inf, -math.inf]),
    st.text(max_size=70),
    st.integers(995, 1005).map(lambda n: "p" * n),
    st.sampled_from(["", "f32", "f16", "f64", "anime", "winter", "nope", "python"]),
    st.booleans(),
    st.none(),
    msgpack_values,
)


FUZZ_SESSION: dict[str, str] = {}  # the token of the last session the fuzz opened
FUZZ_STALLED: list[list[bytes]] = []  # the request the daemon did not answer, if any


def _good_value(op: str, name: str, spec: P.Field) -> st.SearchStrategy:
    """Values this field accepts (sizes kept small: a fuzzed ring must not eat the RAM)."""
    if spec.types == (bool,):
        return st.booleans()
    if name == "session" or name == "replaces":
        return st.one_of(st.builds(lambda: FUZZ_SESSION.get("token", "none")), st.text(max_size=spec.max_len))
    if name == "pid":
        return st.one_of(st.just(os.getpid()), st.integers(int(spec.low), int(spec.high)))
    if name == "path":  # relative only: a fuzzer must never have the daemon write files anywhere
        return st.text(max_size=40).filter(lambda t: not t.startswith("/"))
    if name in ("width", "height"):
        return st.integers(int(spec.low), 96)
    if name == "motion":
        return st.sampled_from(sorted(P.MOTION_FORMATS) + ["f64"])
    if name == "name":
        return st.one_of(st.sampled_from(sorted(shipped_packs())), st.text(max_size=spec.max_len))
    if name == "transport":
        return st.sampled_from([*P.TRANSPORTS, "gpu"])
    if spec.types == (str,):
        return st.one_of(st.text(max_size=40), st.just("q" * spec.max_len))
    if spec.types == (bytes,):  # a CUDA IPC handle: right size, or not
        return st.one_of(st.binary(min_size=spec.length, max_size=spec.length), st.binary(max_size=80))
    if spec.items is not None:
        return st.lists(_good_value(op, name, spec.items), max_size=spec.max_items + 1)
    low, high = int(spec.low), int(spec.high)
    ints = st.one_of(st.integers(low, high), st.sampled_from([low, high]))
    if float in spec.types:
        return st.one_of(ints, st.floats(spec.low, spec.high))
    return ints


@st.composite
def request_maps(draw) -> dict:
    """Mostly well-formed requests for a real op, some fields wrong, with now and then a
    corruption of the envelope."""
    op = draw(st.sampled_from(FUZZ_OPS))
    msg: dict = {"v": P.PROTOCOL_MAJOR, "op": op}
    for name, spec in P.OPS[op].items():
        choice = draw(st.integers(0, 11))
        if choice == 5:
            msg[name] = draw(field_values)  # 1 in 12: anything
        elif choice != 6 or spec.required:  # 1 in 12: an optional field left out
            msg[name] = draw(_good_value(op, name, spec))
    corruption = draw(st.integers(0, 5)) if draw(st.integers(0, 7)) == 5 else None  # 1 in 8
    if corruption == 0:
        del msg["v"]
    elif corruption == 1:
        msg["v"] = draw(st.sampled_from([2, 0, -1, "1", 1.0, True, None, [1]]))
    elif corruption == 2:
        del msg["op"]
    elif corruption == 3:
        msg["op"] = draw(st.one_of(st.text(max_size=12), msgpack_values).filter(lambda o: o != "shutdown"))
    elif corruption == 4:
        msg[draw(st.sampled_from([*FIELD_NAMES, "extra", "V", "op ", ""]))] = draw(field_values)
    elif corruption == 5:
        msg[draw(st.one_of(st.integers(-(2**63), 2**64 - 1), st.binary(max_size=3)))] = draw(_scalars)
    return msg


@st.composite
def payloads(draw) -> list[bytes]:
    """The frames of one request: mostly request maps, else any msgpack, bytes or multipart."""
    kind = draw(st.integers(0, 9))
    if kind < 7:
        return [C.pack(draw(request_maps()))]
    if kind == 7:
        return [C.pack(draw(msgpack_values))]
    if kind == 8:
        return [draw(st.binary(max_size=300))]
    return draw(st.lists(st.binary(max_size=20), min_size=2, max_size=3))


# What a well-formed request may still be refused with, by op; any other refusal is a bug.
OP_REFUSALS = {
    "hello": {P.ERR_BUSY},
    "open_ring": {P.ERR_SESSION, P.ERR_INVALID},  # unknown session; motion format, no room
    "bye": {P.ERR_SESSION},
    "load_preset": {P.ERR_INVALID},  # unknown preset
    "record_start": {P.ERR_INVALID},  # a relative path (the only kind fuzzed), already recording
    "record_stop": {P.ERR_INVALID},  # not recording
}


def _expected(frames: list[bytes]) -> tuple[str | None, str | None]:
    """What validation alone says: (error code, None) or (None, op) for a valid request."""
    try:
        op, _ = P.validate_request(C.unpack(frames))
    except P.ProtocolError as exc:
        return exc.code, None
    return None, op


@pytest.fixture(scope="module")
def fuzz_socket(shared_daemon):
    raw = RawReq(shared_daemon.endpoints.control)
    yield raw
    raw.close()


@settings(
    max_examples=500,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(frames=payloads())
def test_fuzz_every_request_gets_exactly_one_well_formed_reply(shared_daemon, fuzz_socket, frames):
    # After one request went unanswered, fail at once (with that request in the message)
    # rather than wait out a timeout for every example Hypothesis tries while shrinking.
    if FUZZ_STALLED:
        pytest.fail(f"the daemon stopped answering after this request: {FUZZ_STALLED[0]!r}")
    raw_reply = fuzz_socket.ask(frames)
    if raw_reply is None:
        FUZZ_STALLED.append(frames)
        alive = "alive" if shared_daemon.proc.poll() is None else f"dead ({shared_daemon.proc.returncode})"
        pytest.fail(f"no reply within {REPLY_TIMEOUT_MS} ms (daemon {alive}) to {frames!r}")
    reply = check_reply(raw_reply)
    code, op = _expected(frames)
    event(f"{op or 'rejected'}: {'ok' if reply['ok'] else reply['error']['code']}")
    if code is not None:
        assert reply["ok"] is False and reply["error"]["code"] == code, (frames, reply)
        return
    if not reply["ok"]:
        assert reply["error"]["code"] in OP_REFUSALS.get(op, set()), (frames, reply)
    elif op == "hello":
        FUZZ_SESSION["token"] = reply["session"]


def test_daemon_alive_after_fuzz(shared_daemon):
    """Runs after the fuzz (file order): the same daemon process still serves normal clients."""
    assert shared_daemon.proc.poll() is None
    assert_alive(shared_daemon.endpoints.control, shared_daemon.pid)
    with ControlClient(shared_daemon.endpoints.control) as ctl:
        ctl.set_prompt("after the fuzz")
        assert ctl.status()["settings"]["prompt"] == "after the fuzz"


# ------------------------------------------------------------------------ 3. garbage on the TCP port
def _zmtp_greeting() -> bytes:
    """A ZMTP 3.0 greeting for the NULL mechanism, as a client."""
    return b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + b"\x00" + b"\x00" * 31


def _zmtp_ready(socket_type: bytes = b"REQ") -> bytes:
    body = b"\x05READY" + b"\x0bSocket-Type" + struct.pack(">I", len(socket_type)) + socket_type
    return b"\x04" + bytes([len(body)]) + body


def _closed_by_peer(s: socket.socket, timeout_s: float = 3.0) -> bool:
    """Read until EOF/reset; True if the peer closed the connection within the timeout."""
    s.settimeout(timeout_s)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if not s.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return False


def test_tcp_peer_speaking_garbage_does_not_disturb_the_daemon(spawn, endpoints):
    port = free_port()
    control = f"tcp://127.0.0.1:{port}"
    daemon = spawn(LocalDaemon(Endpoints(control=control, events=endpoints.events, frames=endpoints.frames)))
    rng = random.Random(3)
    garbage = [
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        rng.randbytes(4096),
        b"\x00" * 100_000,
        b"\xff" + rng.randbytes(63),  # a ZMTP-looking signature, then nonsense
        _zmtp_greeting()[:11],  # half a greeting, then hang up
    ]
    with ControlClient(control, timeout_s=2.0) as ctl:
        for blob in garbage:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                with contextlib.suppress(OSError):
                    s.sendall(blob)
                assert ctl.request("ping")["pid"] == daemon.pid  # served while the garbage peer is connected
        # A peer that stays connected and silent does not block others either.
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            assert ctl.request("ping")["pid"] == daemon.pid
    # A well-formed ZMTP handshake, then a frame that claims 8 MiB (> MAX_SOCKET_BYTES):
    # MAXMSGSIZE makes the daemon hang up on that peer at once, instead of allocating the
    # body and waiting for it.
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(_zmtp_greeting() + _zmtp_ready() + b"\x02" + struct.pack(">Q", 8 << 20) + b"x" * 100)
        assert _closed_by_peer(s, 2.0), "the daemon kept a peer that announced an 8 MiB message"
    assert daemon.proc.poll() is None
    assert_alive(control, daemon.pid)


# ------------------------------------------------------------------------ 4. security
def _serve_args(control: str, events: str, frames: str, *extra: str) -> list[str]:
    return ["serve", "--control", control, "--events", events, "--frames", frames, "--log-level", "WARNING", *extra]


@pytest.mark.parametrize(
    "which, words",
    [
        ("control", ["CURVE", "--curve-keys", "0.0.0.0"]),
        ("events", ["CURVE", "--curve-keys", "0.0.0.0"]),
        ("frames", ["must be local"]),
        ("missing-keys", ["CURVE keys", "reverie keys"]),
    ],
)
def test_serve_refuses_non_local_binds_without_curve(endpoints, which, words, tmp_path):
    control, events, frames = endpoints.control, endpoints.events, endpoints.frames
    extra: list[str] = []
    if which == "control":
        control = f"tcp://0.0.0.0:{free_port()}"
    elif which == "events":
        events = f"tcp://0.0.0.0:{free_port()}"
    elif which == "frames":
        frames = f"tcp://0.0.0.0:{free_port()}"
    else:
        control = f"tcp://0.0.0.0:{free_port()}"
        extra = ["--curve-keys", str(tmp_path / "no-such-dir")]
    started = time.monotonic()
    result = cli(*_serve_args(control, events, frames, *extra), timeout=20)
    assert result.returncode != 0, result
    assert time.monotonic() - started < 15
    for word in words:
        assert word in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "daemon pid" not in result.stdout  # it never started serving


def _keys(directory: Path) -> Path:
    result = cli("keys", str(directory))
    assert result.returncode == 0, result.stderr
    for name in ("server.key", "server.key_secret", "client.key", "client.key_secret", "authorized_clients/client.key"):
        assert (directory / name).is_file(), name
    assert (directory.stat().st_mode & 0o077) == 0, "the key folder must be private"
    return directory


def test_curve_daemon_serves_keyed_clients_only(spawn, endpoints, tmp_path):
    keys = _keys(tmp_path / "keys")
    other = _keys(tmp_path / "other")  # a valid key pair the daemon has not authorized
    port, events_port = free_port(), free_port()
    eps = Endpoints(control=f"tcp://0.0.0.0:{port}", events=f"tcp://0.0.0.0:{events_port}", frames=endpoints.frames)
    daemon = spawn(LocalDaemon(eps, curve_keys=keys, connect=f"tcp://127.0.0.1:{port}"))
    control = f"tcp://127.0.0.1:{port}"

    with ControlClient(control, curve_keys=keys) as ctl:
        assert ctl.request("ping")["pid"] == daemon.pid
        ctl.set_prompt("over curve", 3)
        assert ctl.status()["settings"]["prompt"] == "over curve"
        with contextlib.closing(ctl.events(timeout_s=3.0)) as stream:
            assert any(ev.get("type") == "stats" for _, ev in zip(range(5), stream)), "no event over CURVE"

    def unauthorized(sock: zmq.Socket) -> None:
        server_public, _ = zmq.auth.load_certificate(str(keys / "server.key"))
        public, secret = zmq.auth.load_certificate(str(other / "client.key_secret"))
        sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = server_public, public, secret

    for setup, who in ((None, "a plain socket"), (unauthorized, "an unauthorized key")):
        with RawReq(control, setup) as raw:
            assert raw.ask(req({"op": "ping"}), timeout_ms=1000) is None, f"{who} got a reply"
            assert raw.ask(req({"op": "set_prompt", "text": "hijack"}), timeout_ms=500) is None
    # A plain subscriber hears nothing either: the prompt stream is private too.
    context = zmq.Context()
    try:
        sub = context.socket(zmq.SUB)
        sub.linger = 0
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(f"tcp://127.0.0.1:{events_port}")
        assert not sub.poll(1500), "a plain SUB socket received an event from a CURVE daemon"
    finally:
        context.destroy(linger=0)

    with ControlClient(control, curve_keys=keys) as ctl:
        assert ctl.status()["settings"]["prompt"] == "over curve"  # the hijack did not land
    assert daemon.proc.poll() is None


# ------------------------------------------------------------------------ 5. CLI
def test_cli_prompt_then_status_json(start_daemon, endpoints):
    start_daemon()
    result = cli("prompt", "winter night", "--transition", "12", "--control", endpoints.control)
    assert result.returncode == 0, result.stderr
    assert "winter night" in result.stdout
    result = cli("status", "--json", "--control", endpoints.control)
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["settings"]["prompt"] == "winter night"
    assert status["settings"]["transition_frames"] == 12
    assert "ok" not in status
    # The human form shows the prompt too.
    human = cli("status", "--control", endpoints.control)
    assert human.returncode == 0 and "'winter night'" in human.stdout, human


def test_cli_prompt_refused_by_daemon_is_a_clear_error(start_daemon, endpoints):
    start_daemon()
    result = cli("prompt", "x", "--transition", "-5", "--control", endpoints.control)
    assert result.returncode != 0
    assert "invalid" in result.stderr and "transition_frames" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("kind", ["ipc", "tcp"])
def test_cli_status_against_dead_endpoint_fails_fast_and_clearly(tmp_path, kind):
    endpoint = f"ipc://{tmp_path}/nobody" if kind == "ipc" else f"tcp://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = cli("status", "--control", endpoint, timeout=10)
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert elapsed < 5, f"took {elapsed:.1f} s"
    assert "Traceback" not in result.stderr, result.stderr
    assert "reverie status" in result.stderr and "no reply" in result.stderr and endpoint in result.stderr, (
        result.stderr
    )
    assert result.stdout == ""


# ------------------------------------------------------------------------ 6. events
def test_events_stats_cadence_and_prompt_changed(start_daemon, endpoints):
    start_daemon()
    stats_at: list[float] = []
    prompt_events = []
    with ControlClient(endpoints.control) as ctl, contextlib.closing(ctl.events(timeout_s=3.0)) as stream:
        deadline = time.monotonic() + 6
        for event in stream:
            now = time.monotonic()
            assert time.monotonic() < deadline, f"gave up: stats at {stats_at}, prompts {prompt_events}"
            if event.get("type") == "stats":
                stats_at.append(now)
                assert {"fps", "frames", "dropped", "failed"} <= set(event)
                if len(stats_at) == 1:  # the subscription is live: now change the prompt
                    ctl.set_prompt("aurora borealis", 7)
            elif event.get("type") == "prompt_changed":
                prompt_events.append(event)
            if prompt_events and len(stats_at) >= 3:
                break
    assert prompt_events, "no prompt_changed event after set_prompt"
    assert prompt_events[0]["text"] == "aurora borealis" and prompt_events[0]["transition_frames"] == 7
    gaps = [b - a for a, b in zip(stats_at, stats_at[1:])]
    assert gaps and all(0.7 <= g <= 1.5 for g in gaps), gaps


def test_load_preset_unknown_name_lists_known_ones(start_daemon, endpoints):
    start_daemon()
    with ControlClient(endpoints.control) as ctl:
        known = [p["name"] for p in ctl.list_presets()]
        assert sorted(known) == sorted(shipped_packs())
        with pytest.raises(ControlError) as info:
            ctl.load_preset("vaporwave")
        assert info.value.code == P.ERR_INVALID
        message = str(info.value)
        assert "vaporwave" in message
        for name in known:
            assert name in message, f"{name!r} missing from {message!r}"
        # A known one loads and takes effect.
        preset = ctl.load_preset("winter")
        settings_now = ctl.status()["settings"]
        assert settings_now["prompt"] == preset["prompt"] == shipped_packs()["winter"].prompt
        assert settings_now["transition_frames"] == preset["transition_frames"]


# ------------------------------------------------------------------------ 7. requests the daemon cannot honour
def _child_memory_cgroup(limit_bytes: int) -> Path | None:
    """A new memory cgroup (v1) below this process's, limited to `limit_bytes`, as a
    container would be; None where one cannot be made (not root, cgroup v2 only...)."""
    try:
        line = next(x for x in Path("/proc/self/cgroup").read_text().splitlines() if ":memory:" in x)
        folder = Path("/sys/fs/cgroup/memory") / line.split(":", 2)[2].lstrip("/") / f"reverie-test-{os.getpid()}"
        folder.mkdir()
        (folder / "memory.limit_in_bytes").write_text(str(limit_bytes))
        return folder
    except (OSError, StopIteration):
        return None


class CgroupDaemon(LocalDaemon):
    """The daemon inside a memory cgroup (`folder`), as in a container with a memory limit."""

    def __init__(self, endpoints, folder: Path):
        super().__init__(endpoints)
        self.folder = folder

    def command(self) -> list[str]:
        script = f"echo $$ > {self.folder}/cgroup.procs && exec {shlex.join(super().command())}"
        return ["sh", "-c", script]


def test_ring_larger_than_the_memory_left_is_refused(spawn, endpoints):
    """A ring that cannot fit the daemon's memory limit would get the daemon OOM-killed
    while it allocates: open_ring must refuse it with the reason, and serve what fits."""
    folder = _child_memory_cgroup(256 << 20)
    if folder is None:
        pytest.skip("needs root and a cgroup v1 memory controller to limit the daemon's memory")
    try:
        daemon = spawn(CgroupDaemon(endpoints, folder))
        with ControlClient(endpoints.control) as ctl:
            token = ctl.request("hello", client="memory-test", pid=os.getpid())["session"]
            with pytest.raises(ControlError) as info:
                ctl.request("open_ring", session=token, width=1920, height=1080, slots=6)
            assert info.value.code == P.ERR_INVALID
            assert "MiB of memory available" in str(info.value) and "1920x1080" in str(info.value)
            ring = ctl.request("open_ring", session=token, width=320, height=240, slots=3)
            assert ring["ok"] and ring["width"] == 320
            ctl.request("bye", session=token)
        assert daemon.proc.poll() is None
        assert_alive(endpoints.control, daemon.pid)
    finally:
        daemon.stop()
        folder.rmdir()


UNENCODABLE_STYLIZER = """
from reverie.common.stylizer import STYLIZED, StylizerBase


class Odd(StylizerBase):
    name = {"a", "set"}  # not encodable as msgpack: every reply that carries it fails to pack

    def stylize(self, frame, out):
        out[...] = frame.color
        return STYLIZED
"""


def test_reply_that_cannot_be_encoded_is_an_internal_error_not_a_dead_daemon(start_daemon, endpoints, tmp_path):
    path = tmp_path / "odd.py"
    path.write_text(UNENCODABLE_STYLIZER)
    daemon = start_daemon(f"{path}:Odd")
    with ControlClient(endpoints.control) as ctl:
        with pytest.raises(ControlError) as info:
            ctl.status()
        assert info.value.code == P.ERR_INTERNAL and "set" in str(info.value)
        assert ctl.request("ping")["pid"] == daemon.pid


def test_events_endpoint_bound_to_a_wildcard_is_dialled_at_the_control_host():
    from reverie.bridge.client import _connectable

    assert _connectable("tcp://*:5556", "tcp://10.1.2.3:5555") == "tcp://10.1.2.3:5556"
    assert _connectable("tcp://0.0.0.0:5556", "tcp://game-pc:5555") == "tcp://game-pc:5556"
    assert _connectable("tcp://127.0.0.1:5556", "tcp://10.1.2.3:5555") == "tcp://127.0.0.1:5556"
    assert _connectable("ipc:///tmp/x/events", "ipc:///tmp/x/control") == "ipc:///tmp/x/events"


def test_serve_refuses_a_stylizer_that_lacks_part_of_the_contract(endpoints, tmp_path):
    """A stylizer without `restart`, `counters`, ... would fail later inside the daemon:
    `reverie serve` refuses it at once, saying so, and leaves no socket behind."""
    path = tmp_path / "bare.py"
    path.write_text("class Bare:\n    name = 'bare'\n\n    def stylize(self, frame, out):\n        pass\n")
    eps = endpoints
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "reverie",
            "serve",
            "--stylizer",
            f"{path}:Bare",
            "--control",
            eps.control,
            "--events",
            eps.events,
            "--frames",
            eps.frames,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "Bare does not implement the Stylizer interface" in result.stderr, result.stderr
    assert not Path(eps.control[len("ipc://") :]).exists()
