"""docs/protocol.md against bridge/protocol.py and a live daemon: these fail when they drift.

The doc is what native clients (C library, Unity, Unreal) are written against, so every
op and field, every header field with its byte offset, every state, error code and
constant must be there with the value the code uses. The live tests check the reply,
event and notice keys a real daemon sends against the doc's tables, and open, check and
beat in a ring segment the way the doc tells a native client to (section 2.1, 4.7).
"""

from __future__ import annotations

import errno
import mmap
import os
import re
import stat
import struct
import time
from pathlib import Path

import msgpack
import pytest
import zmq

from reverie.bridge import protocol as P
from reverie.bridge.shm_ring import FrameRing

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"
DAEMON_SOURCES = sorted((Path(__file__).resolve().parents[1] / "bridge" / "daemon").glob("*.py"))


# ---------------------------------------------------------------- markdown helpers
@pytest.fixture(scope="module")
def doc() -> str:
    assert DOC_PATH.is_file(), f"{DOC_PATH} is missing"
    return DOC_PATH.read_text(encoding="utf-8")


def _lines_outside_fences(text: str) -> list[tuple[str, bool]]:
    """(line, inside a fenced code block) for every line."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            out.append((line, True))
            continue
        out.append((line, fenced))
    return out


def section(text: str, heading: str) -> str:
    """The body under the heading whose title matches `heading` (a regex, matched against
    the title without the leading #'s), up to the next heading of the same or a higher level."""
    lines = _lines_outside_fences(text)
    start = level = None
    for i, (line, fenced) in enumerate(lines):
        m = re.match(r"^(#+)\s+(.*?)\s*$", line)
        if fenced or not m:
            continue
        if start is None:
            if re.fullmatch(heading, m.group(2)):
                start, level = i + 1, len(m.group(1))
        elif len(m.group(1)) <= level:
            return "\n".join(content for content, _ in lines[start:i])
    if start is None:
        raise AssertionError(f"docs/protocol.md has no heading matching {heading!r}")
    return "\n".join(content for content, _ in lines[start:])


def subheadings(text: str, level: int) -> list[str]:
    """Titles of the headings of exactly this level in `text` (outside code blocks)."""
    titles = []
    for line, fenced in _lines_outside_fences(text):
        m = re.match(r"^(#+)\s+(.*?)\s*$", line)
        if m and not fenced and len(m.group(1)) == level:
            titles.append(m.group(2))
    return titles


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every markdown table in `text` as (header cells, body rows), cells stripped."""
    found: list[tuple[list[str], list[list[str]]]] = []
    block: list[str] = []
    for line, fenced in _lines_outside_fences(text) + [("", False)]:
        if not fenced and line.lstrip().startswith("|"):
            block.append(line)
            continue
        if len(block) >= 2:
            header = _cells(block[0])
            rows = [_cells(row) for row in block[1:] if not re.fullmatch(r"[\s|:\-]+", row)]
            found.append((header, rows))
        block = []
    return found


def table_with(text: str, first_header: str) -> list[list[str]] | None:
    """Rows of the one table whose first header cell is `first_header`, or None."""
    matches = [rows for header, rows in tables(text) if header and header[0] == first_header]
    assert len(matches) <= 1, f"more than one table headed {first_header!r}"
    return matches[0] if matches else None


def plain(cell: str) -> str:
    """A cell without backticks and surrounding emphasis."""
    return cell.replace("`", "").strip().strip("*").strip()


def number(cell: str) -> str:
    """A numeric cell as digits only (tolerates 1,234 or 1 234)."""
    return re.sub(r"[,\s_]", "", plain(cell))


def rows_by_name(rows: list[list[str]]) -> dict[str, list[str]]:
    """Rows keyed by their first cell, for rows whose first cell is a `code` name."""
    out: dict[str, list[str]] = {}
    for row in rows:
        if row and re.fullmatch(r"`[^`]+`", row[0]):
            name = plain(row[0])
            assert name not in out, f"{name} has two rows"
            out[name] = row
    return out


# ---------------------------------------------------------------- control operations
TYPE_NAMES = {
    (int,): "int",
    (int, float): "int or float",
    (str,): "str",
    (bool,): "bool",
    (bytes,): "bin",
    (list,): "array of bin",
}


def op_section(doc: str, op: str) -> str:
    return section(section(doc, r"5\.3 Operations"), re.escape(f"`{op}`"))


@pytest.mark.parametrize("op", sorted(P.OPS))
def test_every_op_and_field_is_documented(doc, op):
    body = op_section(doc, op)
    spec = P.OPS[op]
    rows = table_with(body, "field")
    if not spec:
        assert rows is None, f"{op} takes no fields but the doc has a field table"
        assert "No fields" in body, f"{op}: say 'No fields.'"
        return
    assert rows is not None, f"{op}: no request field table"
    documented = rows_by_name(rows)
    assert set(documented) == set(spec), f"{op}: doc fields {sorted(documented)} != protocol {sorted(spec)}"
    for name, field in spec.items():
        _, type_cell, required_cell, range_cell, *_ = documented[name]
        assert plain(type_cell) == TYPE_NAMES[field.types], f"{op}.{name}: type"
        word = plain(required_cell).split(",")[0].strip()
        assert word == ("required" if field.required else "optional"), f"{op}.{name}: required/optional"
        range_text = plain(range_cell)
        if field.low is not None or field.high is not None:
            assert f"{field.low}..{field.high}" in range_text, f"{op}.{name}: range {field.low}..{field.high}"
        if field.max_len is not None:
            assert f"≤ {field.max_len} chars" in range_text, f"{op}.{name}: max length {field.max_len}"
        if field.items is not None:
            assert plain(type_cell) == f"array of {TYPE_NAMES[field.items.types]}", f"{op}.{name}: item type"
            assert f"≤ {field.max_items} items" in range_text, f"{op}.{name}: at most {field.max_items} items"
        size = field.length if field.length is not None else field.items.length if field.items is not None else None
        if size is not None:
            assert f"exactly {size} bytes" in range_text, f"{op}.{name}: exactly {size} bytes"


def test_no_op_documented_that_the_protocol_lacks(doc):
    documented = {plain(t) for t in subheadings(section(doc, r"5\.3 Operations"), 4)}
    assert documented == set(P.OPS)


def test_envelope_and_protocol_major(doc):
    assert f'"v": {P.PROTOCOL_MAJOR}' in doc
    assert doc.splitlines()[0].endswith(f"version {P.PROTOCOL_MAJOR}.{P.PROTOCOL_MINOR}")
    versioning = section(doc, r"7\. Versioning")
    assert f"`PROTOCOL_MAJOR` = {P.PROTOCOL_MAJOR}" in versioning
    assert f"`PROTOCOL_MINOR` = {P.PROTOCOL_MINOR}" in versioning


def test_one_version_everywhere(doc):
    """Every place that names the protocol's version names the one bridge/protocol.py has."""
    major, minor = P.PROTOCOL_MAJOR, P.PROTOCOL_MINOR
    assert f"Scope: protocol {major}.{minor} " in doc
    assert {int(v) for v in re.findall(r'"v":\s*(\d+)', doc)} == {major}, "every request example carries the major"
    header = rows_by_name(table_with(section(doc, r"2\.2 Segment header"), "field"))
    assert plain(header["version_major"][4]).endswith(f", {major}")
    assert plain(header["version_minor"][4]).endswith(f", {minor}")
    assert f"`version_major == {major}`" in section(doc, r"2\.1 The segment")
    envelope = section(doc, r"5\.1 Envelope, framing and limits")
    assert f"must equal {major}." in envelope and f"`v` is not {major}: `version`" in envelope
    hello = _reply_table(doc, "hello")
    assert f"`[{major}, {minor}]`" in hello["version"][2]
    assert f"currently **{major}.{minor}**" in section(doc, r"7\. Versioning")


# ---------------------------------------------------------------- shared-memory layout
def _c_type(dtype) -> str:
    if dtype.kind == "S":
        return f"char[{dtype.itemsize}]"
    return {"u": "u", "i": "i", "f": "f"}[dtype.kind] + str(dtype.itemsize * 8)


@pytest.mark.parametrize(
    "heading, struct",
    [(r"2\.2 Segment header", P.SEGMENT_HEADER), (r"2\.3 Slot header", P.SLOT_HEADER)],
    ids=["segment", "slot"],
)
def test_header_tables_match_the_dtypes(doc, heading, struct):
    rows = table_with(section(doc, heading), "field")
    assert rows is not None, f"{heading}: no field table"
    documented = rows_by_name(rows)
    assert set(documented) == set(struct.names), "header fields differ"
    for name in struct.names:
        dtype, offset = struct.fields[name][:2]
        row = documented[name]
        assert number(row[1]) == str(offset), f"{name}: offset {row[1]} != {offset}"
        assert plain(row[2]) == _c_type(dtype), f"{name}: type {row[2]} != {_c_type(dtype)}"
        assert number(row[3]) == str(dtype.itemsize), f"{name}: size"
    # The reserved tail starts where the last field ends.
    end = max(off + dt.itemsize for dt, off, *_ in struct.fields.values())
    reserved = [r for r in rows if plain(r[0]) == "reserved"]
    assert reserved and number(reserved[-1][1]) == str(end)


def test_header_sizes_and_layout_constants(doc):
    assert f"`SEGMENT_HEADER_BYTES` | {P.SEGMENT_HEADER_BYTES}" in doc
    assert f"`SLOT_HEADER_BYTES` | {P.SLOT_HEADER_BYTES}" in doc
    assert f"sizeof == {P.SEGMENT_HEADER.itemsize}" in doc
    assert f"sizeof == {P.SLOT_HEADER.itemsize}" in doc


def test_worked_example_matches_ring_layout(doc):
    body = section(doc, r"2\.6 Worked example.*")
    assert str(P.ring_layout(1920, 1080, 4)) in " ".join(body.split()), "the RingLayout repr in the example"
    layouts = [P.ring_layout(1920, 1080, 4, P.MOTION_F32), P.ring_layout(1920, 1080, 4, P.MOTION_F16)]
    quantities = rows_by_name(table_with(body, "quantity"))
    for name in (
        "color_offset",
        "depth_offset",
        "motion_offset",
        "output_offset",
        "slot_stride",
        "color_pitch",
        "depth_pitch",
        "motion_pitch",
        "output_pitch",
    ):
        for column, layout in zip((1, 2), layouts):
            assert number(quantities[name][column]) == str(getattr(layout, name)), f"{name} column {column}"
    totals = {plain(r[0]): r for r in table_with(body, "quantity")}
    assert [number(c) for c in totals["total segment bytes"][1:3]] == [str(layout.total_bytes) for layout in layouts]
    defaults = [P.ring_layout(1920, 1080, motion_format=m) for m in (P.MOTION_F32, P.MOTION_F16)]
    row = totals[f"total segment bytes with the default {P.DEFAULT_SLOTS} slots"]
    assert [number(c) for c in row[1:3]] == [str(layout.total_bytes) for layout in defaults]
    absolute = table_with(body, "slot")
    f32 = layouts[0]
    assert len(absolute) == f32.slot_count
    for row in absolute:
        k = int(number(row[0]))
        base = f32.slot_offset(k)
        expected = [
            base,
            base + f32.color_offset,
            base + f32.depth_offset,
            base + f32.motion_offset,
            base + f32.output_offset,
            base + f32.slot_stride,
        ]
        assert [int(number(c)) for c in row[1:7]] == expected, f"slot {k}"


# ---------------------------------------------------------------- states, codes, constants
def test_slot_states(doc):
    rows = table_with(section(doc, r"3\.1 States"), "value")
    documented = {int(number(r[0])): r for r in rows}
    assert set(documented) == set(P.SLOT_STATE_NAMES)
    for value, name in P.SLOT_STATE_NAMES.items():
        row = documented[value]
        assert plain(row[1]) == name
        assert plain(row[2]) == ("game" if value in P.GAME_OWNED_STATES else "daemon"), f"owner of {name}"


def test_error_codes(doc):
    rows = rows_by_name(table_with(section(doc, r"5\.2 Error codes"), "code"))
    codes = {name: value for name, value in vars(P).items() if name.startswith("ERR_")}
    assert set(rows) == set(codes.values()), "documented error codes differ from protocol.ERR_*"
    for name, value in codes.items():
        assert plain(rows[value][1]) == name


def test_frame_error_codes(doc):
    rows = table_with(section(doc, r"3\.6 Frame error codes"), "code")
    documented = {plain(r[1]): int(number(r[0])) for r in rows}
    codes = {name: value for name, value in vars(P).items() if name.startswith("FRAME_")}
    assert documented == codes


def test_constants_table(doc):
    rows = rows_by_name(table_with(section(doc, r"8\. Constants"), "name"))
    wanted = {
        name: value
        for name, value in vars(P).items()
        if name.isupper() and type(value) in (int, str) and not name.startswith("ERR_")
    }
    missing = set(wanted) - set(rows)
    assert not missing, f"constants not in the table: {sorted(missing)}"
    for name, row in rows.items():
        assert name in wanted, f"{name} is not a protocol constant"
        value = wanted[name]
        cell = row[1]
        tokens = set(re.findall(r"[0-9A-Za-z_]+", cell.replace("`", "")))
        ok = str(value) in tokens or (isinstance(value, int) and f"0x{value:08x}" in cell.lower())
        assert ok, f"{name}: table says {cell!r}, protocol has {value!r}"


def test_motion_formats(doc):
    rows = rows_by_name(table_with(section(doc, r"8\. Constants"), "name"))
    for text, value in P.MOTION_FORMATS.items():
        name = {P.MOTION_F32: "MOTION_F32", P.MOTION_F16: "MOTION_F16"}[value]
        assert f'"{text}"' in rows[name][2]


def test_event_types_match_the_daemon_source(doc):
    published = {t for source in DAEMON_SOURCES for t in re.findall(r'"type":\s*"(\w+)"', source.read_text())}
    documented = {plain(t) for t in subheadings(section(doc, r"6\. Events"), 4)}
    assert published == documented


# ---------------------------------------------------------------- live daemon
class _Wire:
    """Raw ZeroMQ + msgpack, as a native client would talk."""

    def __init__(self, endpoints):
        self.endpoints = endpoints
        self.ctx = zmq.Context()
        self.sockets: list[zmq.Socket] = []

    def socket(self, kind: int) -> zmq.Socket:
        sock = self.ctx.socket(kind)
        sock.linger = 0
        self.sockets.append(sock)
        return sock

    def request(self, op: str, **fields) -> dict:
        sock = self.socket(zmq.REQ)
        sock.connect(self.endpoints.control)
        sock.send(msgpack.packb({"v": P.PROTOCOL_MAJOR, "op": op, **fields}, use_bin_type=True))
        assert sock.poll(5000), f"no reply to {op}"
        return msgpack.unpackb(sock.recv(), raw=False)

    def subscribe(self) -> zmq.Socket:
        """A SUB socket on the events endpoint, once its subscription is live: PUB/SUB
        subscriptions take effect after a moment, shown by the first (once a second) stats
        event, which waits to be read."""
        sub = self.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(self.endpoints.events)
        assert sub.poll(3000), "no event within 3 s"
        return sub

    def close(self) -> None:
        for sock in self.sockets:
            sock.close(linger=0)
        self.ctx.term()


def _reply_table(doc: str, op: str) -> dict[str, list[str]]:
    rows = table_with(op_section(doc, op), "reply key")
    return rows_by_name(rows) if rows else {}


def _check_reply(doc: str, op: str, reply: dict) -> None:
    assert reply.get("ok") is True, f"{op}: {reply}"
    documented = _reply_table(doc, op)
    top = {k for k in documented if "." not in k}
    cuda_only = {k for k in top if plain(documented[k][-1]).startswith("only on a CUDA ring")}
    sent = set(reply) - {"ok"}
    assert sent in (top, top - cuda_only), (
        f"{op}: doc reply keys {sorted(top)} (CUDA only: {sorted(cuda_only)}) != daemon {sorted(sent)}"
    )
    if not top:
        assert '{"ok": true}' in op_section(doc, op) and "no other keys" in op_section(doc, op)
    nested: dict[str, set[str]] = {}
    for key in documented:
        if "." in key:
            parent, child = key.split(".", 1)
            nested.setdefault(parent, set()).add(child)
    for parent, children in nested.items():
        if parent.endswith("[]"):
            value = reply[parent[:-2]][0]
        else:
            value = reply[parent]
        assert isinstance(value, dict), f"{op}.{parent} is not a map in the reply"
        optional = {c for c in children if plain(documented[f"{parent}.{c}"][-1]).startswith("only when")}
        assert children - optional <= set(value) <= children, (
            f"{op}.{parent}: doc {sorted(children)} (only when ...: {sorted(optional)}) != daemon {sorted(value)}"
        )


def test_live_reply_keys_match_the_doc(doc, start_daemon, endpoints, tmp_path):
    daemon = start_daemon(extra=["--capture-dir", str(tmp_path)])
    wire = _Wire(endpoints)
    try:
        _check_reply(doc, "ping", wire.request("ping"))
        hello = wire.request("hello", client="doc-test", pid=os.getpid())
        _check_reply(doc, "hello", hello)
        assert re.fullmatch(r"[0-9a-f]{16}", hello["session"])
        assert hello["version"] == [P.PROTOCOL_MAJOR, P.PROTOCOL_MINOR]
        assert hello["session_timeout_s"] == 10.0, "the documented default"
        opened = wire.request("open_ring", session=hello["session"], width=64, height=48)
        _check_reply(doc, "open_ring", opened)
        assert re.fullmatch(rf"/proc/{daemon.pid}/fd/[0-9]+", opened["segment"])
        assert (opened["slots"], opened["motion"]) == (P.DEFAULT_SLOTS, "f32")
        # record_start: an absolute path in a --capture-dir folder, created 0600 (section 5.3).
        capture = tmp_path / "doc.rvcap"
        _check_reply(doc, "record_start", wire.request("record_start", path=str(capture)))
        assert stat.S_IMODE(capture.stat().st_mode) == 0o600
        _check_reply(doc, "record_stop", wire.request("record_stop"))
        status = wire.request("status")
        _check_reply(doc, "status", status)
        assert status["session"]["pid"] == os.getpid() and status["session"]["pid_verified"] is True
        assert "stated_pid" not in status["session"], "stated_pid only when it differs"
        _check_reply(doc, "set_prompt", wire.request("set_prompt", text="doc test"))
        _check_reply(doc, "set_params", wire.request("set_params", steps=2))
        _check_reply(doc, "load_preset", wire.request("load_preset", name="anime"))
        _check_reply(doc, "list_presets", wire.request("list_presets"))
        _check_reply(doc, "reset_history", wire.request("reset_history"))
        _check_reply(doc, "bye", wire.request("bye", session=hello["session"]))
        # Error replies: the documented shape and codes.
        bad = wire.request("bye", session=hello["session"])
        assert bad == {"ok": False, "error": {"code": P.ERR_SESSION, "message": bad["error"]["message"]}}
        assert wire.request("no_such_op")["error"]["code"] == P.ERR_UNKNOWN_OP
        _check_reply(doc, "shutdown", wire.request("shutdown"))
        daemon.proc.wait(10)
    finally:
        wire.close()


def _event_table(doc: str, event: str) -> set[str]:
    body = section(section(doc, r"6\. Events"), re.escape(f"`{event}`"))
    return set(rows_by_name(table_with(body, "key")))


def test_live_events_and_frame_notices_match_the_doc(doc, start_daemon, endpoints):
    start_daemon()
    wire = _Wire(endpoints)
    ring = None
    try:
        sub = wire.subscribe()
        assert msgpack.unpackb(sub.recv(), raw=False)["type"] == "stats"

        hello = wire.request("hello", client="doc-test", pid=os.getpid())
        opened = wire.request("open_ring", session=hello["session"], width=64, height=48)
        dealer = wire.socket(zmq.DEALER)
        dealer.setsockopt(zmq.IDENTITY, hello["session"].encode())
        dealer.connect(hello["frames"])
        ring = FrameRing.attach(opened["segment"])
        assert int(ring.header["generation"]) == opened["generation"]

        # Game -> daemon notice built from the doc's table; the daemon answers "done".
        body = section(doc, r"3\.5 Frame notices")
        notice_tables = [rows for head, rows in tables(body) if head and head[0] == "key"]
        assert len(notice_tables) == 2, "3.5 needs the game->daemon and daemon->game tables"
        game_keys = set(rows_by_name(notice_tables[0]))
        values = {"gen": opened["generation"], "slot": 0, "seq": 1, "skipped": 2}
        header = ring.slots[0].header
        header["seq"], header["frame_id"], header["t_submit_ns"] = 1, 1, time.monotonic_ns()
        header["state"] = P.SLOT_SUBMITTED
        dealer.send(msgpack.packb({k: values[k] for k in game_keys}))
        assert dealer.poll(5000)
        done = msgpack.unpackb(dealer.recv(), raw=False)
        assert done["ev"] == "done" and int(header["state"]) == P.SLOT_DONE
        assert wire.request("status")["stats"]["dropped"] == values["skipped"], "skipped counts as dropped"
        del values["skipped"]
        # The same notice again: the slot is no longer submitted -> a failed notice only;
        # the daemon does not own the slot and writes nothing into it.
        before = header.tobytes()
        dealer.send(msgpack.packb(values))
        assert dealer.poll(5000)
        failed = msgpack.unpackb(dealer.recv(), raw=False)
        assert failed["ev"] == "failed"
        assert failed["error"] == "slot 0 is done with seq 1, notice said submitted seq 1"
        assert header.tobytes() == before and int(header["state"]) == P.SLOT_DONE
        assert int(header["error_code"]) == P.FRAME_OK
        assert game_keys == {"gen", "slot", "seq", "skipped"}
        assert set(rows_by_name(notice_tables[1])) == set(done) | set(failed)

        seen: dict[str, dict] = {}

        def collect(wanted: set[str]) -> None:
            deadline = time.monotonic() + 5
            while not wanted <= set(seen) and time.monotonic() < deadline:
                if sub.poll(200):
                    event = msgpack.unpackb(sub.recv(), raw=False)
                    seen.setdefault(event["type"], event)

        dealer.send(b"\xc1")  # not msgpack -> an "error" event
        # The frame loop reads notices on its own thread: the session must still be open
        # when it reads this one (a notice for an ended session is dropped unread).
        collect({"error"})
        wire.request("set_prompt", text="doc test", transition_frames=3)
        wire.request("set_params", strength=0.5)
        ring.close()
        ring = None
        wire.request("bye", session=hello["session"])

        wanted = {"stats", "prompt_changed", "params_changed", "session_opened", "session_closed", "error"}
        collect(wanted)
        assert wanted <= set(seen), f"events not seen: {sorted(wanted - set(seen))}"
        for kind, event in seen.items():
            assert _event_table(doc, kind) == set(event), f"event {kind}: doc vs daemon keys"
    finally:
        if ring is not None:
            ring.close()
        wire.close()


# ---------------------------------------------------------------- a native client, from the doc
_STRUCT_CODES = {"u16": "<H", "u32": "<I", "u64": "<Q"}


def _header_fields(doc: str) -> dict[str, tuple[int, str]]:
    """Segment header field -> (offset, struct code), read from the doc's table (2.2)."""
    rows = rows_by_name(table_with(section(doc, r"2\.2 Segment header"), "field"))
    return {name: (int(number(row[1])), _STRUCT_CODES[plain(row[2])]) for name, row in rows.items()}


def _segment_rule(doc: str) -> re.Pattern:
    """The path check the doc tells a game to make before it opens `segment` (2.1)."""
    found = set(re.findall(r"`(\^/proc/[^`]+\$)`", section(doc, r"2\.1 The segment")))
    assert len(found) == 1, f"2.1 must give one path rule, found {sorted(found)}"
    return re.compile(found.pop())


def test_live_segment_and_game_heartbeat_as_the_doc_says(doc, start_daemon, endpoints):
    """Open the ring as 2.1 says (path check, open, fstat, mmap, close), find it sealed and
    nowhere in /dev/shm, read the header by the doc's offsets, keep the session by
    game_beat_ns alone (4.7), then fall silent and lose it with the documented reason."""
    timeout_s = 2.0
    daemon = start_daemon(extra=["--session-timeout", str(timeout_s)])
    fields = _header_fields(doc)
    wire = _Wire(endpoints)
    buf = None
    try:
        sub = wire.subscribe()
        hello = wire.request("hello", client="doc-native", pid=os.getpid())
        assert hello["session_timeout_s"] == timeout_s
        opened = wire.request("open_ring", session=hello["session"], width=64, height=48, slots=3)
        path = opened["segment"]
        assert _segment_rule(doc).fullmatch(path), path
        for bad in ("/etc/passwd", "/proc/self/fd/3", f"/proc/{daemon.pid}/fd/3/../../environ", "/dev/shm/reverie"):
            assert not _segment_rule(doc).fullmatch(bad), f"the rule lets {bad} through"

        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        try:
            size = os.fstat(fd).st_size
            assert size == P.ring_layout(64, 48, 3).total_bytes
            buf = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            for new_size in (0, size // 2, size + P.PAGE):
                with pytest.raises(OSError) as refused:
                    os.ftruncate(fd, new_size)
                assert refused.value.errno == errno.EPERM, f"ftruncate to {new_size}: sealed, EPERM"
        finally:
            os.close(fd)
        assert not [n for n in os.listdir("/dev/shm") if n.startswith(f"{P.SHM_PREFIX}.{daemon.pid}.")]

        def read(name: str) -> int:
            offset, code = fields[name]
            return struct.unpack_from(code, buf, offset)[0]

        assert read("magic") == P.MAGIC and read("version_major") == P.PROTOCOL_MAJOR
        assert read("version_minor") == P.PROTOCOL_MINOR and read("daemon_pid") == daemon.pid
        assert read("generation") == opened["generation"] and read("session") == int(hello["session"], 16)
        assert read("game_beat_ns") == 0, "0 at creation"

        # Only the game's heartbeat, for twice the timeout: no request, no notice.
        offset, code = fields["game_beat_ns"]
        beats_until = time.monotonic() + 2 * timeout_s
        daemon_beat = read("heartbeat_ns")
        while time.monotonic() < beats_until:
            struct.pack_into(code, buf, offset, time.monotonic_ns())
            time.sleep(0.05)
        assert read("heartbeat_ns") != daemon_beat, "the daemon beats too"
        session = wire.request("status")["session"]
        assert session is not None, "game_beat_ns alone keeps the session"
        assert session["silent_s"] < timeout_s

        # Silence: the session goes, with the documented reason.
        time.sleep(timeout_s + 1.5)
        assert wire.request("status")["session"] is None
        gone = wire.request("bye", session=hello["session"])
        assert gone["error"]["code"] == P.ERR_SESSION
        reasons = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not reasons:
            if sub.poll(200):
                event = msgpack.unpackb(sub.recv(), raw=False)
                if event["type"] == "session_closed":
                    reasons.append(event["reason"])
        assert reasons and re.fullmatch(r"silent for \d+ s", reasons[0]), reasons
        assert '"silent for N s"' in section(doc, r"4\.7 Session timeout.*")
    finally:
        if buf is not None:
            buf.close()
        wire.close()
