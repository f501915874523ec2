"""The shared-memory frame ring: one segment, a header page, N slots of planes.

The daemon creates a ring for a game session (`FrameRing.create`) as a sealed memfd: no
process can shrink or grow it, so no access to it can fault, whatever a game does with
its descriptor. The game opens it by the path `/proc/<daemon pid>/fd/<fd>`
(`FrameRing.attach`); nothing is named in /dev/shm, and the kernel frees the memory when
the last process holding it goes, so a crash leaves nothing behind. Both sides get numpy
views of every plane, made once, so the per-frame path allocates nothing. Layout and
states come from `protocol`.

A CUDA ring (`device=True`) keeps its planes in the game's device allocation
(`cuda_ipc`); its segment is only the control part, the header page and the slot
headers, with `RING_FLAG_DEVICE_PLANES` set. Slot states, headers and heartbeats work the
same on both, through the same code here: only where a slot header sits differs, and a
device ring's `SlotViews` have no host planes.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import time

import numpy as np

from . import protocol as P

_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL


class RingError(Exception):
    """The segment is missing, not ours, or of another protocol version."""


class SlotViews:
    """Numpy views of one slot: its header (a structured scalar) and its four planes (None
    on a device ring: the planes are in GPU memory, see cuda_ipc)."""

    color: np.ndarray | None
    depth: np.ndarray | None
    motion: np.ndarray | None
    output: np.ndarray | None

    def __init__(self, buf: mmap.mmap, layout: P.RingLayout, slot: int, device: bool = False):
        self.header = np.ndarray((), P.SLOT_HEADER, buf, layout.header_offset(slot, device))
        if device:
            self.color = self.depth = self.motion = self.output = None
            return
        base = layout.slot_offset(slot)
        h, w = layout.height, layout.width
        self.color = np.ndarray((h, w, 4), np.uint8, buf, base + layout.color_offset)
        self.depth = np.ndarray((h, w), np.dtype("<f4"), buf, base + layout.depth_offset)
        motion_dtype = P.MOTION_DTYPES[layout.motion_format]
        self.motion = np.ndarray((h, w, 2), motion_dtype, buf, base + layout.motion_offset)
        self.output = np.ndarray((h, w, 4), np.uint8, buf, base + layout.output_offset)

    @property
    def state(self) -> int:
        return int(self.header["state"])


class FrameRing:
    """A mapped ring segment. Create with `create` (daemon) or `attach` (game)."""

    def __init__(self, buf: mmap.mmap, layout: P.RingLayout, path: str, fd: int | None, device: bool = False):
        self._mmap = buf
        self.layout = layout
        self.path = path  # what the game opens: /proc/<daemon pid>/fd/<fd>
        self._fd = fd  # the daemon keeps its descriptor: the path names it
        self.device = device  # planes in a CUDA allocation; this segment is the control part
        self.header = np.ndarray((), P.SEGMENT_HEADER, buf, 0)
        self.slots = [SlotViews(buf, layout, i, device) for i in range(layout.slot_count)]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of every plane in this ring."""
        return self.layout.width, self.layout.height

    @property
    def nbytes(self) -> int:
        return len(self._mmap)

    @classmethod
    def create(
        cls, layout: P.RingLayout, *, daemon_pid: int, session: int, generation: int, device: bool = False
    ) -> FrameRing:
        """Create the sealed segment, fill its header and fault every page in now. With
        `device` it is a CUDA ring's control segment: headers only, flag set."""
        size = layout.control_bytes if device else layout.total_bytes
        fd = os.memfd_create(P.segment_name(daemon_pid, generation), os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.ftruncate(fd, size)
            # Allocate every page now: no room fails here with ENOSPC/ENOMEM instead of
            # killing whichever process writes the missing page later.
            os.posix_fallocate(fd, 0, size)
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
            buf = mmap.mmap(fd, size)
        except OSError:
            os.close(fd)
            raise
        ring = cls(buf, layout, f"/proc/{os.getpid()}/fd/{fd}", fd, device=device)
        _map_pages(buf, 0)
        hdr = ring.header
        now = time.monotonic_ns()
        for key, value in {
            "magic": P.MAGIC,
            "version_major": P.PROTOCOL_MAJOR,
            "version_minor": P.PROTOCOL_MINOR,
            "header_bytes": P.SEGMENT_HEADER_BYTES,
            "slot_count": layout.slot_count,
            "width": layout.width,
            "height": layout.height,
            "motion_format": layout.motion_format,
            "flags": P.RING_FLAG_DEVICE_PLANES if device else 0,
            "slot_stride": layout.slot_stride,
            "slot_header_bytes": P.SLOT_HEADER_BYTES,
            "color_offset": layout.color_offset,
            "depth_offset": layout.depth_offset,
            "motion_offset": layout.motion_offset,
            "output_offset": layout.output_offset,
            "color_pitch": layout.color_pitch,
            "depth_pitch": layout.depth_pitch,
            "motion_pitch": layout.motion_pitch,
            "output_pitch": layout.output_pitch,
            "generation": generation,
            "daemon_pid": daemon_pid,
            "session": session,
            "heartbeat_ns": now,
            "created_ns": now,
            "game_beat_ns": 0,
        }.items():
            hdr[key] = value
        return ring

    @classmethod
    def attach(cls, path: str) -> FrameRing:
        """Map the daemon's segment by its /proc path, check it is a ring of our protocol,
        fault its pages in."""
        try:
            path = P.check_segment_path(path)
        except P.ProtocolError as exc:
            raise RingError(exc.message) from None
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise RingError(f"cannot open the ring segment {path}: {exc.strerror}") from None
        try:
            size = os.fstat(fd).st_size
            if size < P.SEGMENT_HEADER_BYTES:
                raise RingError(f"segment {path} is {size} bytes: too small to be a ring")
            buf = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        try:
            layout, device = _layout_from_header(buf, path)
        except RingError:
            buf.close()
            raise
        ring = cls(buf, layout, path, None, device=device)
        _map_pages(buf, P.SEGMENT_HEADER_BYTES)
        return ring

    def close(self) -> None:
        """Unmap, and the daemon closes its descriptor. Views handed out earlier must be gone."""
        self.slots = []
        self.header = None  # type: ignore[assignment]
        try:
            self._mmap.close()
        except BufferError:
            pass  # someone still holds a view; the mapping goes when the last view does
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _map_pages(buf: mmap.mmap, start: int) -> None:
    """Read one byte of every page so this process maps them all now, and the first
    frames do not pay for page faults (the pages themselves exist: see create)."""
    int(np.frombuffer(buf, np.uint8)[start :: P.PAGE].sum())


def _layout_from_header(buf: mmap.mmap, path: str) -> tuple[P.RingLayout, bool]:
    """The ring's layout and whether its planes are on a device, from a checked header."""
    hdr = np.ndarray((), P.SEGMENT_HEADER, buf, 0).copy()
    if int(hdr["magic"]) != P.MAGIC:
        raise RingError(f"segment {path} is not a Reverie ring (bad magic)")
    if int(hdr["version_major"]) != P.PROTOCOL_MAJOR:
        raise RingError(f"segment {path} has protocol {int(hdr['version_major'])}, expected {P.PROTOCOL_MAJOR}")
    layout = P.ring_layout(int(hdr["width"]), int(hdr["height"]), int(hdr["slot_count"]), int(hdr["motion_format"]))
    for field in ("slot_stride", "color_offset", "depth_offset", "motion_offset", "output_offset"):
        if int(hdr[field]) != getattr(layout, field):
            raise RingError(f"segment {path}: {field} {int(hdr[field])} disagrees with the layout rule")
    flags = int(hdr["flags"])
    if flags & ~P.RING_FLAG_DEVICE_PLANES:
        raise RingError(f"segment {path} has unknown flags {flags:#x} (a newer protocol?)")
    device = bool(flags & P.RING_FLAG_DEVICE_PLANES)
    needed = layout.control_bytes if device else layout.total_bytes
    if len(buf) < needed:
        raise RingError(f"segment {path} is {len(buf)} bytes, layout needs {needed}")
    return layout, device


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def segments_of(pid: int) -> list[str]:
    """The ring segments (memfd names) process `pid` holds open, for diagnosis and tests."""
    prefix = f"/memfd:{P.SHM_PREFIX}."
    names = set()  # an mmap holds a duplicate of the descriptor it maps
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return []
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith(prefix):
            names.add(target[len("/memfd:") :].removesuffix(" (deleted)"))
    return sorted(names)
