"""The capture file format: write and read a recorded session (docs/capture.md).

One job: bytes on disk <-> frame records and control events. Who records (the daemon's
writer thread, `capture_tap`), who replays (`replay`) and who renders offline are
elsewhere; this module knows nothing of sockets or stylizers.

Layout, little-endian (docs/capture.md is the specification, version 1.0):

    file header   magic b"RVCAP\\r\\n\\x1a", u16 major, u16 minor, u32 n, u32 crc32, n bytes of JSON
    chunks        24-byte chunk header + payload, one per frame or control event, in the
                  order they happened
    index chunk   the byte offset of every frame and event chunk
    footer        24 bytes: b"RVCAPEND", u64 index offset, u32 frame count, u32 crc32

Why this shape: a recording process can die at any byte, so every chunk carries its own
length and checksum and can be found by scanning forward from the header; the index and
footer come last (only a clean `close` writes them) and make seeking O(1). A file
without a valid footer is *truncated*: every complete chunk before the tear is still read.

Payloads are zlib-compressed (stdlib, no extra dependency). Depth and motion planes are
byte-shuffled first (all first bytes of the floats, then all second bytes, ...): their
exponent bytes repeat across neighbouring pixels, and zlib finds that only when the
equal bytes are adjacent (measured in docs/benchmarks.md, "Captures").
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

FORMAT_MAJOR = 1
FORMAT_MINOR = 0
MAGIC = b"RVCAP\r\n\x1a"  # a text-mode copy or a wrong file fails at byte 0
FOOTER_MAGIC = b"RVCAPEND"
CHUNK_MAGIC = b"RVCK"

_FILE_HEADER = struct.Struct("<8sHHII")  # magic, major, minor, json length, crc32 of json
_CHUNK_HEADER = struct.Struct("<4sBBHIIII")  # magic, kind, codec, reserved, number, stored, raw, crc32
_FOOTER = struct.Struct("<8sQII")  # magic, index offset, frame count, crc32 of the first 20 bytes
CHUNK_HEADER_BYTES = _CHUNK_HEADER.size  # 24
FOOTER_BYTES = _FOOTER.size  # 24

KIND_FRAME, KIND_EVENT, KIND_INDEX = 1, 2, 3
CODEC_NONE, CODEC_ZLIB = 0, 1
MAX_HEADER_JSON = 1 << 20
MAX_CHUNK_BYTES = 1 << 31  # one 8192x8192 frame with f32 motion and output is 1.3 GiB raw

STATUS_DONE, STATUS_FAILED, STATUS_DROPPED = "done", "failed", "dropped"
MOTION_DTYPES = {"f32": np.dtype("<f4"), "f16": np.dtype("<f2")}


class CaptureError(Exception):
    """A file that is not a capture, of a version this reader does not know, or damaged."""


class CaptureCorrupt(CaptureError):
    """A chunk whose checksum or structure is wrong; the message names the chunk and offset."""


@dataclass
class CaptureFrame:
    """One frame the game submitted and what it got back.

    `reset` is the flag the stylizer saw (the game's own, or a camera cut carried from a
    dropped or failed frame). `settings` are the ones in force when the frame was
    stylized: prompt, transition_frames, steps, strength, seed. `output` is None for a
    frame that got none (status "failed" or "dropped"). `static_skip`: the stylizer
    answered with its previous output (its counters said so)."""

    frame_id: int
    color: np.ndarray  # (H, W, 4) uint8
    depth: np.ndarray  # (H, W) float32
    motion: np.ndarray  # (H, W, 2) float32 or float16
    output: np.ndarray | None  # (H, W, 4) uint8
    status: str = STATUS_DONE
    reset: bool = False
    jitter: tuple[float, float] = (0.0, 0.0)
    near: float = 0.0
    far: float = 0.0
    fov_y: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)
    t_submit_ns: int = 0
    t_done_ns: int = 0
    error: str | None = None
    static_skip: bool = False
    index: int = -1  # position among the capture's frames (set by the writer and the reader)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.color.shape[1]), int(self.color.shape[0])

    @property
    def motion_format(self) -> str:
        return "f16" if self.motion.dtype == np.float16 else "f32"


@dataclass
class CaptureEvent:
    """A control operation as it reached the stylizer: `op` (set_prompt, set_params,
    reset_history, or load_preset as a marker before the set_params/set_prompt it
    expanded to), its `fields`, and `after_frames`, how many frame chunks precede it."""

    op: str
    fields: dict[str, Any]
    after_frames: int = 0
    t_ns: int = 0


# ---------------------------------------------------------------- planes
def shuffle(array: np.ndarray) -> bytes:
    """Bytes of `array` grouped by byte position: byte 0 of every element, then byte 1..."""
    flat = np.ascontiguousarray(array).reshape(-1)
    return flat.view(np.uint8).reshape(-1, flat.dtype.itemsize).T.tobytes()


def unshuffle(data: bytes | memoryview, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    dtype = np.dtype(dtype)
    raw = np.frombuffer(data, np.uint8).reshape(dtype.itemsize, -1).T
    return np.ascontiguousarray(raw).view(dtype).reshape(shape)


def _frame_payload(frame: CaptureFrame) -> bytes:
    h, w = frame.depth.shape
    if frame.color.shape != (h, w, 4) or frame.color.dtype != np.uint8:
        raise ValueError(f"color must be ({h}, {w}, 4) uint8, got {frame.color.shape} {frame.color.dtype}")
    if frame.depth.dtype != np.float32:
        raise ValueError(f"depth must be float32, got {frame.depth.dtype}")
    if frame.motion.shape != (h, w, 2) or frame.motion.dtype not in (np.float32, np.float16):
        raise ValueError(
            f"motion must be ({h}, {w}, 2) float32 or float16, got {frame.motion.shape} {frame.motion.dtype}"
        )
    if frame.output is not None and (frame.output.shape != (h, w, 4) or frame.output.dtype != np.uint8):
        raise ValueError(f"output must be ({h}, {w}, 4) uint8, got {frame.output.shape} {frame.output.dtype}")
    meta = {
        "frame_id": int(frame.frame_id),
        "status": frame.status,
        "width": w,
        "height": h,
        "motion": frame.motion_format,
        "reset": bool(frame.reset),
        "jitter": [float(frame.jitter[0]), float(frame.jitter[1])],
        "near": float(frame.near),
        "far": float(frame.far),
        "fov_y": float(frame.fov_y),
        "settings": frame.settings,
        "t_submit_ns": int(frame.t_submit_ns),
        "t_done_ns": int(frame.t_done_ns),
        "error": frame.error,
        "static_skip": bool(frame.static_skip),
        "output": frame.output is not None,
    }
    meta_bytes = json.dumps(meta, separators=(",", ":")).encode()
    parts = [
        struct.pack("<I", len(meta_bytes)),
        meta_bytes,
        np.ascontiguousarray(frame.color).tobytes(),
        shuffle(frame.depth.astype("<f4", copy=False)),
        shuffle(frame.motion),
    ]
    if frame.output is not None:
        parts.append(np.ascontiguousarray(frame.output).tobytes())
    return b"".join(parts)


def _parse_frame(raw: bytes, where: str) -> CaptureFrame:
    try:
        (meta_len,) = struct.unpack_from("<I", raw, 0)
        meta = json.loads(raw[4 : 4 + meta_len])
        w, h, motion_dtype = int(meta["width"]), int(meta["height"]), MOTION_DTYPES[meta["motion"]]
    except (struct.error, ValueError, KeyError, TypeError) as exc:
        raise CaptureCorrupt(f"{where}: unreadable frame metadata ({exc})") from None
    sizes = [h * w * 4, h * w * 4, h * w * 2 * motion_dtype.itemsize, h * w * 4 if meta["output"] else 0]
    pos = 4 + meta_len
    if len(raw) != pos + sum(sizes):
        raise CaptureCorrupt(f"{where}: a {w}x{h} frame needs {pos + sum(sizes)} bytes, the chunk holds {len(raw)}")
    view = memoryview(raw)
    planes = []
    for size in sizes:
        planes.append(view[pos : pos + size])
        pos += size
    return CaptureFrame(
        frame_id=meta["frame_id"],
        color=np.frombuffer(planes[0], np.uint8).reshape(h, w, 4).copy(),
        depth=unshuffle(planes[1], np.dtype("<f4"), (h, w)).astype(np.float32, copy=False),
        motion=unshuffle(planes[2], motion_dtype, (h, w, 2)),
        output=np.frombuffer(planes[3], np.uint8).reshape(h, w, 4).copy() if meta["output"] else None,
        status=meta["status"],
        reset=meta["reset"],
        jitter=(meta["jitter"][0], meta["jitter"][1]),
        near=meta["near"],
        far=meta["far"],
        fov_y=meta["fov_y"],
        settings=meta["settings"],
        t_submit_ns=meta["t_submit_ns"],
        t_done_ns=meta["t_done_ns"],
        error=meta["error"],
        static_skip=meta["static_skip"],
    )


# ---------------------------------------------------------------- writing
class CaptureWriter:
    """Append frames and events to a new capture file; `close()` writes index and footer.

    `header` is free-form JSON metadata (docs/capture.md lists the keys Reverie writes:
    stylizer, stylizer_identity, settings, width, height, motion, ...). Each chunk is
    flushed to the OS as it is written, so a process that dies loses at most the chunk
    it was writing. `level` is zlib's (1: fastest; docs/benchmarks.md measures 1 and 6).
    `file`: an open, empty binary file to write into (the daemon opens its captures
    itself, under its path rules: `recorder`), else `path` is opened (`exclusive`: only
    if it does not exist). Not thread-safe: one writer thread."""

    def __init__(
        self,
        path: str | Path,
        header: dict[str, Any] | None = None,
        *,
        level: int = 1,
        exclusive: bool = False,
        file: BinaryIO | None = None,
    ):
        self.path = Path(path)
        self.level = level
        self.header = {
            "format": "reverie-capture",
            "compression": "zlib",
            "shuffle": ["depth", "motion"],
            **(header or {}),
        }
        meta = json.dumps(self.header, separators=(",", ":")).encode()
        if len(meta) > MAX_HEADER_JSON:
            raise ValueError(f"capture header metadata is {len(meta)} bytes, more than {MAX_HEADER_JSON}")
        if file is None:
            file = open(self.path, "xb" if exclusive else "wb")  # exclusive: never overwrite
        self._file: BinaryIO | None = file
        self._file.write(_FILE_HEADER.pack(MAGIC, FORMAT_MAJOR, FORMAT_MINOR, len(meta), zlib.crc32(meta)) + meta)
        self._file.flush()
        self._offset = _FILE_HEADER.size + len(meta)
        self._frames: list[int] = []
        self._events: list[int] = []
        self.bytes_raw = 0  # payload bytes before compression, for the ratio
        self.bytes_stored = 0

    @property
    def frames(self) -> int:
        return len(self._frames)

    def write_frame(self, frame: CaptureFrame) -> None:
        frame.index = len(self._frames)
        self._frames.append(self._chunk(KIND_FRAME, frame.index, _frame_payload(frame)))

    def write_event(self, event: CaptureEvent) -> None:
        event.after_frames = len(self._frames)
        payload = json.dumps(asdict(event), separators=(",", ":")).encode()
        self._events.append(self._chunk(KIND_EVENT, len(self._events), payload))

    def _chunk(self, kind: int, number: int, raw: bytes) -> int:
        if self._file is None:
            raise ValueError(f"capture {self.path} is closed")
        stored = zlib.compress(raw, self.level)
        head = _CHUNK_HEADER.pack(CHUNK_MAGIC, kind, CODEC_ZLIB, 0, number, len(stored), len(raw), 0)[:20]
        crc = zlib.crc32(stored, zlib.crc32(head))
        offset = self._offset
        self._file.write(head + struct.pack("<I", crc))
        self._file.write(stored)
        self._file.flush()
        self._offset += CHUNK_HEADER_BYTES + len(stored)
        self.bytes_raw += len(raw)
        self.bytes_stored += len(stored)
        return offset

    def close(self) -> None:
        """Write the index and the footer; the file is complete. Idempotent."""
        if self._file is None:
            return
        index = struct.pack("<II", len(self._frames), len(self._events))
        index += np.asarray(self._frames + self._events, "<u8").tobytes()
        index_offset = self._chunk(KIND_INDEX, 0, index)
        head = _FOOTER.pack(FOOTER_MAGIC, index_offset, len(self._frames), 0)[:20]
        self._file.write(head + struct.pack("<I", zlib.crc32(head)))
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------- reading
class CaptureReader:
    """A capture opened for reading: `len()`, `frame(i)`, iteration over frames,
    `events`, `timeline()` (frames and events in recorded order), `header`.

    A complete file is opened by its index. A file without a valid footer or index
    (the recorder died, the disk filled, a copy stopped early) is scanned chunk by chunk
    from the start: `truncated` is True, `problem` says where and why the scan stopped,
    and every complete chunk before that point is readable. A chunk whose checksum
    fails raises `CaptureCorrupt` naming the chunk when it is read."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file: BinaryIO = open(self.path, "rb")
        try:
            self.size = os.fstat(self._file.fileno()).st_size
            self.header, self.version, self._data_start = self._read_header()
            self.truncated = False
            self.problem: str | None = None
            try:
                frames, events = self._read_index()
            except CaptureError as exc:
                self.truncated, self.problem = True, str(exc)
                frames, events = self._scan()
            self._frame_offsets = frames
            self._event_offsets = events
            self.events: list[CaptureEvent] = [self._event(i) for i in range(len(events))]
        except BaseException:
            self._file.close()
            raise

    # ------------------------------------------------------------ structure
    def _read_header(self) -> tuple[dict[str, Any], tuple[int, int], int]:
        fixed = self._file.read(_FILE_HEADER.size)
        if len(fixed) < _FILE_HEADER.size:
            raise CaptureError(
                f"{self.path}: {len(fixed)} bytes, too short for a capture header (the file is truncated in its header)"
            )
        magic, major, minor, length, crc = _FILE_HEADER.unpack(fixed)
        if magic != MAGIC:
            raise CaptureError(f"{self.path} is not a Reverie capture (magic {magic!r})")
        if major != FORMAT_MAJOR:
            raise CaptureError(f"{self.path}: capture format {major}.{minor}; this reader reads {FORMAT_MAJOR}.x")
        if length > MAX_HEADER_JSON:
            raise CaptureCorrupt(f"{self.path}: header metadata of {length} bytes (corrupt header)")
        meta = self._file.read(length)
        if len(meta) < length:
            raise CaptureError(
                f"{self.path}: the file is truncated in its header ({len(meta)} of {length} metadata bytes)"
            )
        if zlib.crc32(meta) != crc:
            raise CaptureCorrupt(f"{self.path}: header metadata crc32 mismatch")
        return json.loads(meta), (major, minor), _FILE_HEADER.size + length

    def _read_index(self) -> tuple[list[int], list[int]]:
        if self.size < self._data_start + FOOTER_BYTES:
            raise CaptureError("no footer: the file ends before one (the recording did not finish)")
        self._file.seek(self.size - FOOTER_BYTES)
        magic, index_offset, frame_count, crc = _FOOTER.unpack(self._file.read(FOOTER_BYTES))
        if magic != FOOTER_MAGIC or zlib.crc32(_FOOTER.pack(magic, index_offset, frame_count, 0)[:20]) != crc:
            raise CaptureError(
                "no valid footer at the end of the file (the recording did not finish, or the file was cut)"
            )
        kind, _, raw = self._chunk_at(index_offset, "the index")
        if kind != KIND_INDEX:
            raise CaptureCorrupt(f"the footer points at byte {index_offset}, which is no index chunk")
        frames, events = struct.unpack_from("<II", raw, 0)
        offsets = np.frombuffer(raw, "<u8", count=frames + events, offset=8).tolist()
        if frames != frame_count:
            raise CaptureCorrupt(f"the index lists {frames} frames, the footer {frame_count}")
        return offsets[:frames], offsets[frames:]

    def _scan(self) -> tuple[list[int], list[int]]:
        """Walk the chunks from the header on; stop at the first that is not complete and sound."""
        frames: list[int] = []
        events: list[int] = []
        offset = self._data_start
        while offset < self.size:
            try:
                kind, number, _ = self._chunk_at(offset, f"chunk at byte {offset}", decompress=False)
            except CaptureError as exc:
                self.problem = f"{self.problem}; scanning stopped at byte {offset} of {self.size}: {exc}"
                break
            if kind == KIND_INDEX:  # a complete index but a lost footer: what follows is the tear
                self.problem = f"{self.problem}; scanning stopped at the index chunk at byte {offset}"
                break
            (frames if kind == KIND_FRAME else events).append(offset)
            self._file.seek(offset + 12)
            (stored,) = struct.unpack("<I", self._file.read(4))
            offset += CHUNK_HEADER_BYTES + stored
        else:
            self.problem = f"{self.problem}; every chunk up to the end ({self.size} bytes) is complete"
        return frames, events

    def _chunk_at(self, offset: int, what: str, decompress: bool = True) -> tuple[int, int, bytes]:
        """(kind, number, payload) of the chunk at `offset`, its length and crc32 checked."""
        self._file.seek(offset)
        head = self._file.read(CHUNK_HEADER_BYTES)
        if len(head) < CHUNK_HEADER_BYTES:
            raise CaptureError(
                f"{what}: torn chunk header ({len(head)} of {CHUNK_HEADER_BYTES} bytes before the end of the file)"
            )
        magic, kind, codec, _, number, stored, raw_len, crc = _CHUNK_HEADER.unpack(head)
        if (
            magic != CHUNK_MAGIC
            or kind not in (KIND_FRAME, KIND_EVENT, KIND_INDEX)
            or codec not in (CODEC_NONE, CODEC_ZLIB)
        ):
            raise CaptureCorrupt(f"{what}: no chunk header at byte {offset}")
        if offset + CHUNK_HEADER_BYTES + stored > self.size:
            raise CaptureError(
                f"{what}: torn chunk ({self.size - offset - CHUNK_HEADER_BYTES} of {stored} payload bytes"
                " before the end of the file)"
            )
        data = self._file.read(stored)
        if zlib.crc32(data, zlib.crc32(head[:20])) != crc:
            raise CaptureCorrupt(f"{what} at byte {offset}: crc32 mismatch (the chunk is corrupt)")
        if not decompress:
            return kind, number, b""
        try:
            raw = zlib.decompress(data) if codec == CODEC_ZLIB else data
        except zlib.error as exc:
            raise CaptureCorrupt(f"{what} at byte {offset}: {exc}") from None
        if len(raw) != raw_len:
            raise CaptureCorrupt(
                f"{what} at byte {offset}: {len(raw)} bytes after decompression, the header says {raw_len}"
            )
        return kind, number, raw

    # ------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self._frame_offsets)

    def frame(self, i: int) -> CaptureFrame:
        if not -len(self) <= i < len(self):
            raise IndexError(f"frame {i} of a capture of {len(self)} frames")
        i %= len(self)
        offset = self._frame_offsets[i]
        kind, number, raw = self._chunk_at(offset, f"frame {i}")
        if kind != KIND_FRAME or number != i:
            raise CaptureCorrupt(
                f"frame {i}: the index points at byte {offset}, which holds chunk kind {kind} number {number}"
            )
        frame = _parse_frame(raw, f"frame {i} at byte {offset}")
        frame.index = i
        return frame

    def _event(self, i: int) -> CaptureEvent:
        offset = self._event_offsets[i]
        kind, _, raw = self._chunk_at(offset, f"event {i}")
        if kind != KIND_EVENT:
            raise CaptureCorrupt(f"event {i}: byte {offset} holds chunk kind {kind}")
        try:
            return CaptureEvent(**json.loads(raw))
        except (ValueError, TypeError) as exc:
            raise CaptureCorrupt(f"event {i} at byte {offset}: {exc}") from None

    def __iter__(self) -> Iterator[CaptureFrame]:
        for i in range(len(self)):
            yield self.frame(i)

    def timeline(self) -> Iterator[CaptureFrame | CaptureEvent]:
        """Frames and control events in the order they happened."""
        events = iter(self.events)
        pending = next(events, None)
        for i in range(len(self)):
            while pending is not None and pending.after_frames <= i:
                yield pending
                pending = next(events, None)
            yield self.frame(i)
        while pending is not None:
            yield pending
            pending = next(events, None)

    def verify(self) -> None:
        """Read every chunk; raise CaptureCorrupt on the first bad one."""
        for _ in self:
            pass

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
