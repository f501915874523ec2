"""The POSIX shared-memory frame ring: one segment, a header page, N slots of planes.

The daemon creates a ring for a game session (`FrameRing.create`); the game attaches to
it by name (`FrameRing.attach`). Both sides get numpy views of every plane, made once, so
the per-frame path allocates nothing. Layout and states come from `protocol`.

A CUDA ring (`device=True`) keeps its planes in the game's device allocation
(`cuda_ipc`); its host segment is only the control part, the header page and the slot
headers, with `RING_FLAG_DEVICE_PLANES` set. Slot states, headers and heartbeat work the
same on both, through the same code here: only where a slot header sits differs, and a
device ring's `SlotViews` have no host planes.
"""

from __future__ import annotations

import os
import time
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory

import numpy as np

from . import protocol as P

SHM_DIR = "/dev/shm"  # Linux: where POSIX shared-memory segments are listed


class RingError(Exception):
    """The segment is missing, not ours, or of another protocol version."""


class SlotViews:
    """Numpy views of one slot: its header (a structured scalar) and its four planes (None
    on a device ring: the planes are in GPU memory, see cuda_ipc)."""

    color: np.ndarray | None
    depth: np.ndarray | None
    motion: np.ndarray | None
    output: np.ndarray | None

    def __init__(self, buf: memoryview, layout: P.RingLayout, slot: int, device: bool = False):
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

    def __init__(self, shm: SharedMemory, layout: P.RingLayout, owner: bool, device: bool = False):
        self.shm = shm
        self.layout = layout
        self.owner = owner
        self.device = device  # planes in a CUDA allocation; this segment is the control part
        self.header = np.ndarray((), P.SEGMENT_HEADER, shm.buf, 0)
        self.slots = [SlotViews(shm.buf, layout, i, device) for i in range(layout.slot_count)]

    @property
    def name(self) -> str:
        return self.shm.name

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of every plane in this ring."""
        return self.layout.width, self.layout.height

    @classmethod
    def create(
        cls, name: str, layout: P.RingLayout, *, daemon_pid: int, session: int, generation: int, device: bool = False
    ) -> FrameRing:
        """Create the segment (mode 0600), fill its header and fault every page in now.
        With `device` it is a CUDA ring's control segment: headers only, flag set."""
        size = layout.control_bytes if device else layout.total_bytes
        shm = SharedMemory(name=name, create=True, size=size)
        try:
            # Allocate every page now: a full /dev/shm fails here with ENOSPC instead of
            # killing whichever process writes the missing page later with SIGBUS.
            os.posix_fallocate(shm._fd, 0, size)  # type: ignore[attr-defined]
        except OSError:
            shm.close()
            shm.unlink()
            raise
        ring = cls(shm, layout, owner=True, device=device)
        _map_pages(shm.buf, 0)
        hdr = ring.header
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
            "heartbeat_ns": time.monotonic_ns(),
            "created_ns": time.monotonic_ns(),
        }.items():
            hdr[key] = value
        return ring

    @classmethod
    def attach(cls, name: str) -> FrameRing:
        """Map an existing segment, check it is a ring of our protocol, fault its pages in."""
        try:
            shm = SharedMemory(name=name)
        except FileNotFoundError as exc:
            raise RingError(f"shared-memory segment {name!r} does not exist") from exc
        # Python 3.11: an attaching process must not let its resource tracker unlink the
        # daemon's segment when it exits.
        resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
        try:
            layout, device = _layout_from_header(shm)
        except RingError:
            shm.close()
            raise
        ring = cls(shm, layout, owner=False, device=device)
        _map_pages(shm.buf, P.SEGMENT_HEADER_BYTES)
        return ring

    def close(self) -> None:
        """Unmap. Views handed out earlier must be gone; the owner also unlinks the name."""
        self.slots = []
        self.header = None  # type: ignore[assignment]
        try:
            self.shm.close()
        except BufferError:
            # Someone still holds a view; the mapping goes when the last view does.
            pass
        if self.owner:
            self.unlink()

    def unlink(self) -> None:
        """Remove the segment's name (idempotent); mappings stay valid until closed."""
        try:
            self.shm.unlink()
        except FileNotFoundError:
            pass


def _map_pages(buf: memoryview, start: int) -> None:
    """Read one byte of every page so this process maps them all now, and the first
    frames do not pay for page faults (the pages themselves exist: see create)."""
    int(np.frombuffer(buf, np.uint8)[start :: P.PAGE].sum())


def _layout_from_header(shm: SharedMemory) -> tuple[P.RingLayout, bool]:
    """The ring's layout and whether its planes are on a device, from a checked header."""
    if shm.size < P.SEGMENT_HEADER_BYTES:
        raise RingError(f"segment {shm.name!r} is too small to be a ring")
    hdr = np.ndarray((), P.SEGMENT_HEADER, shm.buf, 0).copy()
    if int(hdr["magic"]) != P.MAGIC:
        raise RingError(f"segment {shm.name!r} is not a Reverie ring (bad magic)")
    if int(hdr["version_major"]) != P.PROTOCOL_MAJOR:
        raise RingError(f"segment {shm.name!r} has protocol {int(hdr['version_major'])}, expected {P.PROTOCOL_MAJOR}")
    layout = P.ring_layout(int(hdr["width"]), int(hdr["height"]), int(hdr["slot_count"]), int(hdr["motion_format"]))
    for field in ("slot_stride", "color_offset", "depth_offset", "motion_offset", "output_offset"):
        if int(hdr[field]) != getattr(layout, field):
            raise RingError(f"segment {shm.name!r}: {field} {int(hdr[field])} disagrees with the layout rule")
    flags = int(hdr["flags"])
    if flags & ~P.RING_FLAG_DEVICE_PLANES:
        raise RingError(f"segment {shm.name!r} has unknown flags {flags:#x} (a newer protocol?)")
    device = bool(flags & P.RING_FLAG_DEVICE_PLANES)
    needed = layout.control_bytes if device else layout.total_bytes
    if shm.size < needed:
        raise RingError(f"segment {shm.name!r} is {shm.size} bytes, layout needs {needed}")
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


def list_segments() -> list[str]:
    """Names of Reverie ring segments present on this machine."""
    try:
        names = os.listdir(SHM_DIR)
    except OSError:
        return []
    return sorted(n for n in names if P.parse_segment_name(n) is not None)


def reclaim_stale_segments() -> list[str]:
    """Unlink segments whose daemon is dead (a crash left them); return their names."""
    reclaimed = []
    for name in list_segments():
        pid = P.parse_segment_name(name)
        if pid is not None and pid != os.getpid() and not pid_alive(pid):
            try:
                os.unlink(os.path.join(SHM_DIR, name))
                reclaimed.append(name)
            except OSError:
                pass
    return reclaimed
