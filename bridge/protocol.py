"""The wire and shared-memory protocol: the one source of truth.

Everything two processes must agree on lives here: the byte layout of the shared-memory
ring (segment header, slot header, planes), the slot states and how ownership passes,
the control operations with their fields, and the limits. `docs/protocol.md` explains
it in prose; the C header of `bridge/native` is checked against these numbers by a test.

All integers and floats are little-endian. Offsets are bytes from the start of the
segment (segment header) or of the slot (slot header, planes).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

PROTOCOL_MAJOR = 2  # 2.0: rings are sealed memfds opened by path (open_ring.segment), the game's heartbeat
PROTOCOL_MINOR = 0

MAGIC = 0x42525652  # b"RVRB" read as a little-endian u32
PAGE = 4096
SEGMENT_HEADER_BYTES = PAGE  # the segment header is padded to one page
SLOT_HEADER_BYTES = 256
PLANE_ALIGN = PAGE  # every plane starts on a page boundary
ERROR_TEXT_BYTES = 128
SHM_PREFIX = "reverie"  # memfd names (shown in /proc/<pid>/fd): reverie.<daemon pid>.<generation>

# ---------------------------------------------------------------- slot ownership
# Ownership passes with a notification on the frames socket; the state word mirrors it
# in shared memory for inspection and crash recovery.
SLOT_EMPTY = 0  # game owns: free to write
SLOT_SUBMITTED = 1  # daemon owns: inputs written, waiting
SLOT_PROCESSING = 2  # daemon owns: the stylizer is reading inputs / writing output
SLOT_DONE = 3  # game owns: output valid
SLOT_DROPPED = 4  # game owns: a newer frame arrived before this one was taken
SLOT_FAILED = 5  # game owns: rejected (error code + text in the slot header)
SLOT_STATE_NAMES = {
    SLOT_EMPTY: "empty",
    SLOT_SUBMITTED: "submitted",
    SLOT_PROCESSING: "processing",
    SLOT_DONE: "done",
    SLOT_DROPPED: "dropped",
    SLOT_FAILED: "failed",
}
GAME_OWNED_STATES = frozenset({SLOT_EMPTY, SLOT_DONE, SLOT_DROPPED, SLOT_FAILED})

# Slot header flags.
FLAG_RESET = 1 << 0  # camera cut: the stylizer must drop its history

# Segment header flags.
RING_FLAG_DEVICE_PLANES = 1 << 0  # the planes live in the game's CUDA allocation, not here

# Transports for the planes (open_ring.transport).
TRANSPORT_SHM = "shm"  # planes in the host segment (the default)
TRANSPORT_CUDA = "cuda"  # planes in one cudaMalloc of the game's, opened by IPC handle
TRANSPORTS = (TRANSPORT_SHM, TRANSPORT_CUDA)
CUDA_HANDLE_BYTES = 64  # sizeof(cudaIpcMemHandle_t) == sizeof(cudaIpcEventHandle_t)

# Motion plane formats (ring-wide, chosen when the ring is opened).
MOTION_F32 = 0
MOTION_F16 = 1
MOTION_FORMATS = {"f32": MOTION_F32, "f16": MOTION_F16}
MOTION_DTYPES = {MOTION_F32: np.dtype("<f4"), MOTION_F16: np.dtype("<f2")}

# Depth: the sky, and anything at or beyond this distance, is written as this many meters (a
# finite value: NaN and inf fail the frame). The model reads depth up to it (model/network.py
# DEPTH_FAR) and the training world puts its sky there (model/world/renderer.py SKY_DEPTH).
SKY_DEPTH_METERS = 1000

# Frame error codes written into a FAILED slot's header.
FRAME_OK = 0
FRAME_ERR_NONFINITE = 1  # NaN or inf in depth or motion
FRAME_ERR_STYLIZER = 2  # the stylizer raised
FRAME_ERR_HEADER = 3  # the slot header is inconsistent (sequence, state)

SEGMENT_HEADER = np.dtype(
    {
        "names": [
            "magic",
            "version_major",
            "version_minor",
            "header_bytes",
            "slot_count",
            "width",
            "height",
            "motion_format",
            "flags",
            "slot_stride",
            "slot_header_bytes",
            "color_offset",
            "depth_offset",
            "motion_offset",
            "output_offset",
            "color_pitch",
            "depth_pitch",
            "motion_pitch",
            "output_pitch",
            "generation",
            "daemon_pid",
            "session",
            "heartbeat_ns",
            "created_ns",
            "game_beat_ns",
        ],
        "formats": [
            "<u4",
            "<u2",
            "<u2",
            "<u4",
            "<u4",
            "<u4",
            "<u4",
            "<u4",
            "<u4",
            "<u8",
            "<u4",
            "<u8",
            "<u8",
            "<u8",
            "<u8",
            "<u4",
            "<u4",
            "<u4",
            "<u4",
            "<u4",
            "<u4",
            "<u8",
            "<u8",
            "<u8",
            "<u8",
        ],
        "offsets": [
            0,
            4,
            6,
            8,
            12,
            16,
            20,
            24,
            28,
            32,
            40,
            48,
            56,
            64,
            72,
            80,
            84,
            88,
            92,
            96,
            100,
            104,
            112,
            120,
            128,
        ],
        "itemsize": 136,
    }
)

SLOT_HEADER = np.dtype(
    {
        "names": [
            "state",
            "flags",
            "seq",
            "frame_id",
            "t_submit_ns",
            "t_start_ns",
            "t_done_ns",
            "jitter_x",
            "jitter_y",
            "near",
            "far",
            "fov_y",
            "error_code",
            "error_text",
        ],
        "formats": [
            "<u4",
            "<u4",
            "<u8",
            "<u8",
            "<u8",
            "<u8",
            "<u8",
            "<f4",
            "<f4",
            "<f4",
            "<f4",
            "<f4",
            "<u4",
            f"S{ERROR_TEXT_BYTES}",
        ],
        "offsets": [0, 4, 8, 16, 24, 32, 40, 48, 52, 56, 60, 64, 68, 72],
        "itemsize": SLOT_HEADER_BYTES,
    }
)

# ---------------------------------------------------------------- control plane
MAX_CONTROL_BYTES = 64 * 1024  # larger requests get an error reply
MAX_SOCKET_BYTES = 1024 * 1024  # ZeroMQ drops (and disconnects) anything larger
MAX_PROMPT_CHARS = 1000
MAX_CAPTURE_PATH_CHARS = 4096
MAX_TRANSITION_FRAMES = 10_000
MAX_CONSOLE_LINE_CHARS = 2000
MAX_STEPS = 8
MAX_SIDE = 8192
MAX_RING_BYTES = 4 << 30  # one ring's segment, all slots: 4 GiB
MIN_SLOTS, MAX_SLOTS, DEFAULT_SLOTS = 3, 16, 6
DEFAULT_SESSION_TIMEOUT_S = 10.0  # a session without a sign of life this long is closed (hello.session_timeout_s)

# Error codes in control replies: {"ok": False, "error": {"code": ..., "message": ...}}.
ERR_MALFORMED = "malformed"  # not a msgpack map, multipart, undecodable
ERR_TOO_LARGE = "too_large"
ERR_VERSION = "version"
ERR_UNKNOWN_OP = "unknown_op"
ERR_INVALID = "invalid"  # a field is missing, of the wrong type or out of range
ERR_BUSY = "busy"  # another live game session holds the daemon
ERR_SESSION = "session"  # unknown or expired session token
ERR_FORBIDDEN = "forbidden"  # the connection's peer is another local user
ERR_INTERNAL = "internal"


class ProtocolError(Exception):
    """A control request that cannot be served; carries the reply's error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Field:
    """One field of a control request: its Python type(s), whether required, its range.

    `length` is the exact size of a bin (bytes) value; a list field (an msgpack array)
    holds at most `max_items` values, each checked against `items`."""

    types: tuple[type, ...]
    required: bool = True
    low: float | None = None
    high: float | None = None
    max_len: int | None = None
    length: int | None = None
    items: Field | None = None
    max_items: int | None = None


_INT = (int,)
_NUM = (int, float)
_STR = (str,)
_BOOL = (bool,)
_BIN = (bytes,)
_LIST = (list,)
_CUDA_HANDLE = Field(_BIN, length=CUDA_HANDLE_BYTES)

# Every control operation and its fields (beyond "v" and "op", present on all).
OPS: dict[str, dict[str, Field]] = {
    "hello": {
        "client": Field(_STR, max_len=64),
        "pid": Field(_INT, low=1, high=2**31 - 1),
        "takeover": Field(_BOOL, required=False),
        "replaces": Field(_STR, required=False, max_len=64),
    },
    "open_ring": {
        "session": Field(_STR, max_len=64),
        "width": Field(_INT, low=8, high=MAX_SIDE),
        "height": Field(_INT, low=8, high=MAX_SIDE),
        "motion": Field(_STR, required=False, max_len=8),
        "slots": Field(_INT, required=False, low=MIN_SLOTS, high=MAX_SLOTS),
        # 1.2, the CUDA IPC transport (check_open_ring has the rules across fields).
        "transport": Field(_STR, required=False, max_len=8),
        "cuda_device": Field(_STR, required=False, max_len=64),
        "cuda_memory": Field(_BIN, required=False, length=CUDA_HANDLE_BYTES),
        "cuda_bytes": Field(_INT, required=False, low=PAGE, high=MAX_RING_BYTES),
        "cuda_events": Field(_LIST, required=False, items=_CUDA_HANDLE, max_items=MAX_SLOTS),
    },
    "bye": {"session": Field(_STR, max_len=64)},
    "set_prompt": {
        "text": Field(_STR, max_len=MAX_PROMPT_CHARS),
        "transition_frames": Field(_INT, required=False, low=0, high=MAX_TRANSITION_FRAMES),
    },
    "set_params": {
        "steps": Field(_INT, required=False, low=1, high=MAX_STEPS),
        "strength": Field(_NUM, required=False, low=0.0, high=1.0),
        "seed": Field(_INT, required=False, low=0, high=2**63 - 1),
    },
    "load_preset": {"name": Field(_STR, max_len=64)},
    "list_presets": {},
    "status": {},
    "reset_history": {"full": Field(_BOOL, required=False)},  # 1.3: full, the stylizer restarted
    # 1.3: captures (docs/capture.md): the daemon records the session into a file of its own
    "record_start": {
        "path": Field(_STR, max_len=MAX_CAPTURE_PATH_CHARS),
        "max_frames": Field(_INT, required=False, low=1, high=2**31 - 1),
    },
    "record_stop": {},
    # 1.4: one line of the console language, run by the daemon (docs/protocol.md, console)
    "console": {
        "line": Field(_STR, max_len=MAX_CONSOLE_LINE_CHARS),
        "transition_frames": Field(_INT, required=False, low=0, high=MAX_TRANSITION_FRAMES),
    },
    "ping": {},
    "shutdown": {},
}


def validate_request(msg: Any) -> tuple[str, dict[str, Any]]:
    """Check a decoded control request against OPS; return (op, fields) or raise."""
    if not isinstance(msg, dict):
        raise ProtocolError(ERR_MALFORMED, f"a request is a msgpack map, got {type(msg).__name__}")
    for key in msg:  # bin keys get past the decoder; "v" sent as bin would read as missing
        if not isinstance(key, str):
            raise ProtocolError(
                ERR_MALFORMED, f"map keys must be strings, got {type(key).__name__} key {str(key)[:40]!r}"
            )
    version = msg.get("v")
    if type(version) is not int:
        raise ProtocolError(ERR_VERSION, "field 'v' (protocol major version, int) is required")
    if version != PROTOCOL_MAJOR:
        raise ProtocolError(ERR_VERSION, f"protocol version {version} not served; this daemon speaks {PROTOCOL_MAJOR}")
    op = msg.get("op")
    if not isinstance(op, str):
        raise ProtocolError(ERR_INVALID, "field 'op' (string) is required")
    schema = OPS.get(op)
    if schema is None:
        raise ProtocolError(ERR_UNKNOWN_OP, f"unknown op {op[:40]!r}; known: {', '.join(sorted(OPS))}")
    fields: dict[str, Any] = {}
    for key in msg:
        if key not in ("v", "op") and key not in schema:
            raise ProtocolError(ERR_INVALID, f"op {op!r} has no field {str(key)[:40]!r}")
    for name, spec in schema.items():
        if name not in msg:
            if spec.required:
                raise ProtocolError(ERR_INVALID, f"op {op!r} needs field {name!r}")
            continue
        fields[name] = _check_field(op, name, spec, msg[name])
    return op, fields


def _check_field(op: str, name: str, spec: Field, value: Any) -> Any:
    # bool is an int subclass in Python: only accept it where bool is asked for.
    if isinstance(value, bool) and bool not in spec.types:
        raise ProtocolError(ERR_INVALID, f"{op}.{name} must be {_type_names(spec)}, got bool")
    if not isinstance(value, spec.types):
        raise ProtocolError(ERR_INVALID, f"{op}.{name} must be {_type_names(spec)}, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ProtocolError(ERR_INVALID, f"{op}.{name} must be finite")
    if spec.low is not None and value < spec.low or spec.high is not None and value > spec.high:
        raise ProtocolError(ERR_INVALID, f"{op}.{name}={value} is outside [{spec.low}, {spec.high}]")
    if spec.max_len is not None and len(value) > spec.max_len:
        raise ProtocolError(ERR_INVALID, f"{op}.{name} is longer than {spec.max_len} characters")
    if spec.length is not None and len(value) != spec.length:
        raise ProtocolError(ERR_INVALID, f"{op}.{name} must be exactly {spec.length} bytes, got {len(value)}")
    if spec.items is not None:
        if spec.max_items is not None and len(value) > spec.max_items:
            raise ProtocolError(ERR_INVALID, f"{op}.{name} has {len(value)} items, more than {spec.max_items}")
        return [_check_field(op, f"{name}[{i}]", spec.items, item) for i, item in enumerate(value)]
    return value


def _type_names(spec: Field) -> str:
    names = {bytes: "bin", list: "array"}
    text = " or ".join(names.get(t, t.__name__) for t in spec.types)
    return f"{text} of {_type_names(spec.items)}" if spec.items is not None else text


def check_open_ring(fields: dict[str, Any]) -> RingLayout:
    """The rules of `open_ring` that span fields (after validate_request): motion format,
    ring size, and for transport "cuda" the handles that must come with it. Returns the
    ring's layout (for a CUDA ring, the layout of the game's device allocation)."""
    motion = fields.get("motion", "f32")
    if motion not in MOTION_FORMATS:
        raise ProtocolError(ERR_INVALID, f"open_ring.motion must be one of {sorted(MOTION_FORMATS)}")
    transport = fields.get("transport", TRANSPORT_SHM)
    if transport not in TRANSPORTS:
        raise ProtocolError(
            ERR_INVALID, f"open_ring.transport must be one of {sorted(TRANSPORTS)}, got {transport[:40]!r}"
        )
    slots = fields.get("slots", DEFAULT_SLOTS)
    layout = ring_layout(fields["width"], fields["height"], slots, MOTION_FORMATS[motion])
    cuda_fields = ("cuda_device", "cuda_memory", "cuda_bytes", "cuda_events")
    if transport == TRANSPORT_SHM:
        given = [name for name in cuda_fields if name in fields]
        if given:
            raise ProtocolError(ERR_INVALID, f"open_ring.{given[0]} needs transport {TRANSPORT_CUDA!r}")
        return layout
    for name in cuda_fields:
        if name not in fields:
            raise ProtocolError(ERR_INVALID, f"open_ring with transport {TRANSPORT_CUDA!r} needs field {name!r}")
    if len(fields["cuda_events"]) != slots:
        raise ProtocolError(
            ERR_INVALID,
            f"open_ring.cuda_events has {len(fields['cuda_events'])} handles;"
            f" the ring has {slots} slots, one event each",
        )
    if fields["cuda_bytes"] != layout.total_bytes:
        raise ProtocolError(
            ERR_INVALID,
            f"open_ring.cuda_bytes is {fields['cuda_bytes']}; a ring of this size, slot count and motion format"
            f" takes {layout.total_bytes} (ring_layout(...).total_bytes)",
        )
    return layout


# ---------------------------------------------------------------- ring geometry
@dataclass(frozen=True)
class RingLayout:
    """Where every plane of every slot lives, derived from (width, height, slots, motion)."""

    width: int
    height: int
    slot_count: int
    motion_format: int
    color_offset: int
    depth_offset: int
    motion_offset: int
    output_offset: int
    slot_stride: int

    @property
    def color_pitch(self) -> int:
        return self.width * 4

    @property
    def depth_pitch(self) -> int:
        return self.width * 4

    @property
    def motion_pitch(self) -> int:
        return self.width * 2 * MOTION_DTYPES[self.motion_format].itemsize

    @property
    def output_pitch(self) -> int:
        return self.width * 4

    @property
    def total_bytes(self) -> int:
        """Bytes of a host ring's segment, and of a CUDA ring's device allocation."""
        return SEGMENT_HEADER_BYTES + self.slot_count * self.slot_stride

    @property
    def control_bytes(self) -> int:
        """Bytes of a CUDA ring's host segment: the header page and the slot headers only."""
        return SEGMENT_HEADER_BYTES + self.slot_count * SLOT_HEADER_BYTES

    def slot_offset(self, slot: int) -> int:
        """Where slot `slot` starts (its header, then its planes at the *_offset fields):
        in a host segment, or in a CUDA ring's device allocation."""
        return SEGMENT_HEADER_BYTES + slot * self.slot_stride

    def header_offset(self, slot: int, device: bool = False) -> int:
        """Where slot `slot`'s header is in the host segment: at the start of the slot, or
        for a CUDA ring (device planes) packed after the header page."""
        if device:
            return SEGMENT_HEADER_BYTES + slot * SLOT_HEADER_BYTES
        return self.slot_offset(slot)


def _align(n: int, to: int = PLANE_ALIGN) -> int:
    return (n + to - 1) // to * to


def ring_layout(
    width: int, height: int, slot_count: int = DEFAULT_SLOTS, motion_format: int = MOTION_F32
) -> RingLayout:
    """The one layout rule: slot header, then color, depth, motion, output, each page-aligned."""
    if motion_format not in MOTION_DTYPES:
        raise ValueError(f"unknown motion format {motion_format}")
    pixels = width * height
    color = _align(SLOT_HEADER_BYTES)
    depth = color + _align(pixels * 4)
    motion = depth + _align(pixels * 4)
    output = motion + _align(pixels * 2 * MOTION_DTYPES[motion_format].itemsize)
    stride = output + _align(pixels * 4)
    return RingLayout(width, height, slot_count, motion_format, color, depth, motion, output, stride)


def segment_name(daemon_pid: int, generation: int) -> str:
    """A ring segment's memfd name: a label in /proc/<pid>/fd listings, never opened by name."""
    return f"{SHM_PREFIX}.{daemon_pid}.{generation}"


_SEGMENT_PATH = re.compile(r"/proc/[0-9]{1,10}/fd/[0-9]{1,10}")


def check_segment_path(path: Any) -> str:
    """The `open_ring.segment` path, checked: a daemon must never make a game open any other file."""
    if not isinstance(path, str) or _SEGMENT_PATH.fullmatch(path) is None:
        raise ProtocolError(ERR_MALFORMED, f"open_ring.segment must be /proc/<pid>/fd/<n>, got {str(path)[:80]!r}")
    return path
