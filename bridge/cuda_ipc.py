"""A CUDA ring's device memory and events across two processes (the CUDA IPC transport).

On a CUDA ring (protocol 1.2, docs/protocol.md section 11) the planes never touch host
memory: the game allocates them on its GPU, and the daemon maps that allocation into its
own address space by handle, so the stylizer reads and writes the game's memory in place.
Everything else of the ring (slot states, slot headers, heartbeat, the frame notices)
stays in the host control segment (`shm_ring`, `RING_FLAG_DEVICE_PLANES`).

* Game side, `DeviceRingExport`: one `cudaMalloc` of `layout.total_bytes` (the one layout
  rule of `protocol.ring_layout`: plane p of slot s at `base + slot_offset(s) + p_offset`),
  one interprocess event per slot ("inputs written"), and their 64-byte IPC handles for
  `open_ring`.
* Daemon side, `DeviceRingImport`: opens the allocation (`cudaIpcOpenMemHandle`) and the
  game's events, creates and exports its own per-slot events ("output written"), and gives
  torch CUDA tensors that view each slot's planes (cupy `UnownedMemory` -> DLPack -> torch,
  no copy). A frame runs inside `frame(slot)`: its stream waits for the game's event
  before the first read and records the daemon's event after the last write.

Handle lifetime rules (the same for any client, C or Python):

1. The game (exporter) owns the allocation and its events. It frees them only after the
   daemon has closed its mapping: after the reply to `bye`, to a later `open_ring` (a new
   ring replaces this one), or to the `hello` that replaces its old session, or once the
   daemon is known dead (a dead importer's mappings die with its process).
2. The daemon (importer) closes its mapping (`cudaIpcCloseMemHandle`) and destroys the
   events it opened and created when the session ends for any reason (bye, takeover,
   death of the game, a new `open_ring`) and at shutdown; for bye, open_ring and hello it
   does so before replying. It stops launching work on a dead game's memory at once.
3. A handle is valid only for the allocation (or event) it was taken from; a resize is a
   new allocation with new handles, never a reuse.
4. Before rewriting a slot's inputs the game's stream waits on the daemon's event of that
   slot (the daemon may still be reading the slot's previous inputs); before reading a
   slot's output it waits on the same event.

cupy (the `cuda` extra, `pip install 'reverie[cuda]'`) and torch are imported on first
use, so `reverie.bridge` imports and serves the CPU transport without either on a GPU.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import protocol as P

if TYPE_CHECKING:
    import torch

log = logging.getLogger("reverie.cuda_ipc")

CUPY_HINT = "pip install 'reverie[cuda]' (cupy-cuda13x)"


class CudaUnavailable(RuntimeError):
    """No cupy, no GPU, or no CUDA build of torch: the CUDA transport cannot run here."""


def _cupy() -> Any:
    try:
        import cupy
    except ImportError as exc:
        raise CudaUnavailable(f"cupy is not installed: {CUPY_HINT}") from exc
    return cupy


def cuda_unavailable_reason() -> str | None:
    """Why this process cannot use the CUDA transport (no cupy, no GPU, a CPU build of
    torch), or None when it can."""
    try:
        cupy = _cupy()
    except CudaUnavailable as exc:
        return str(exc)
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # cupy's CUDARuntimeError, e.g. cudaErrorInsufficientDriver without a driver
        return f"cupy finds no CUDA GPU ({type(exc).__name__}: {exc})"
    if count == 0:
        return "cupy finds no CUDA GPU"
    import torch

    if not torch.cuda.is_available():
        return f"torch {torch.__version__} has no CUDA (a CPU build)"
    return None


def require_cuda() -> None:
    """Raise CudaUnavailable with the reason, if there is one."""
    reason = cuda_unavailable_reason()
    if reason is not None:
        raise CudaUnavailable(reason)


def format_uuid(raw: bytes) -> str:
    """16 UUID bytes as nvidia-smi prints them: GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx."""
    if len(raw) != 16:
        raise ValueError(f"a GPU UUID is 16 bytes, got {len(raw)}")
    h = raw.hex()
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def gpu_uuid(device: int) -> str:
    """The GPU's UUID (cudaDeviceProp.uuid), the way open_ring.cuda_device carries it."""
    raw = _cupy().cuda.runtime.getDeviceProperties(device).get("uuid")
    if isinstance(raw, (bytes, bytearray)) and len(raw) == 16:
        return format_uuid(bytes(raw))
    # A char[16] converted as a C string stops at its first zero byte: ask torch instead.
    import torch

    return "GPU-" + str(torch.cuda.get_device_properties(device).uuid).removeprefix("GPU-")


def current_device() -> int:
    """The CUDA device this thread works on (0 unless changed, or CUDA_VISIBLE_DEVICES)."""
    return int(_cupy().cuda.runtime.getDevice())


@dataclass
class SlotPlanes:
    """torch CUDA tensors viewing one slot's planes in the ring's device allocation. Valid
    until the ring is closed; never keep them beyond a frame."""

    color: torch.Tensor  # (H, W, 4) uint8
    depth: torch.Tensor  # (H, W) float32
    motion: torch.Tensor  # (H, W, 2) float32 or float16
    output: torch.Tensor  # (H, W, 4) uint8


def _plane_views(base: int, layout: P.RingLayout, device: int) -> list[SlotPlanes]:
    """No-copy views of every plane: cupy arrays over the raw pointer, handed to torch by
    DLPack. The memory is not owned by the views: the ring's close() ends it."""
    import torch

    cupy = _cupy()
    h, w = layout.height, layout.width
    motion_dtype = P.MOTION_DTYPES[layout.motion_format]

    def view(offset: int, shape: tuple[int, ...], dtype: Any) -> torch.Tensor:
        memory = cupy.cuda.UnownedMemory(base + offset, _nbytes(shape, dtype), None, device)
        array = cupy.ndarray(shape, dtype, cupy.cuda.MemoryPointer(memory, 0))
        return torch.from_dlpack(array)

    slots = []
    with cupy.cuda.Device(device):
        for s in range(layout.slot_count):
            start = layout.slot_offset(s)
            slots.append(
                SlotPlanes(
                    color=view(start + layout.color_offset, (h, w, 4), "uint8"),
                    depth=view(start + layout.depth_offset, (h, w), "<f4"),
                    motion=view(start + layout.motion_offset, (h, w, 2), motion_dtype.str),
                    output=view(start + layout.output_offset, (h, w, 4), "uint8"),
                )
            )
    return slots


def _nbytes(shape: tuple[int, ...], dtype: Any) -> int:
    import numpy as np

    return int(np.prod(shape)) * np.dtype(dtype).itemsize


class _Events:
    """One ring's per-slot events: ours (created interprocess, exported as handles) and
    the other side's (opened from its handles). Both kinds are destroyed by close()."""

    def __init__(self, slots: int, device: int):
        rt = _cupy().cuda.runtime
        self.device = device
        self.own: list[int] = []
        self.peer: list[int] = []
        flags = rt.eventInterprocess | rt.eventDisableTiming
        with _cupy().cuda.Device(device):
            try:
                for _ in range(slots):
                    self.own.append(rt.eventCreateWithFlags(flags))
                self.handles = [bytes(rt.ipcGetEventHandle(e)) for e in self.own]
            except BaseException:
                self.close()
                raise

    def open_peer(self, handles: list[bytes]) -> None:
        """Open the other side's per-slot events from their 64-byte handles."""
        rt = _cupy().cuda.runtime
        if len(handles) != len(self.own) or any(len(h) != P.CUDA_HANDLE_BYTES for h in handles):
            raise ValueError(f"expected {len(self.own)} event handles of {P.CUDA_HANDLE_BYTES} bytes")
        with _cupy().cuda.Device(self.device):
            for handle in handles:
                self.peer.append(rt.ipcOpenEventHandle(bytes(handle)))

    def record(self, slot: int, stream: int) -> None:
        _cupy().cuda.runtime.eventRecord(self.own[slot], stream)

    def wait_peer(self, slot: int, stream: int) -> None:
        """The stream waits for the other side's latest record of this slot's event (a
        never-recorded event is complete)."""
        if self.peer:
            _cupy().cuda.runtime.streamWaitEvent(stream, self.peer[slot], 0)

    def close(self) -> None:
        rt = _cupy().cuda.runtime
        events, self.own, self.peer = self.own + self.peer, [], []
        with _cupy().cuda.Device(self.device):
            for event in events:
                try:
                    rt.eventDestroy(event)
                except Exception:
                    log.exception("cudaEventDestroy failed")


class DeviceRingExport:
    """Game side: the ring's planes in one device allocation, and its per-slot events.

    Send `uuid`, `memory_handle`, `layout.total_bytes` and `event_handles` in `open_ring`,
    then `connect` the daemon's event handles from the reply. Free with `close()` only
    under the lifetime rules of the module docstring."""

    def __init__(self, layout: P.RingLayout, device: int | None = None):
        require_cuda()
        cupy = _cupy()
        rt = cupy.cuda.runtime
        self.layout = layout
        self.device = current_device() if device is None else device
        self._closed = False
        self.uuid = gpu_uuid(self.device)
        with cupy.cuda.Device(self.device):
            self.ptr = rt.malloc(layout.total_bytes)  # not cupy's pool: the handle must name a whole allocation
        try:
            self.memory_handle = bytes(rt.ipcGetMemHandle(self.ptr))
            self._events = _Events(layout.slot_count, self.device)
            try:
                self.slots = _plane_views(self.ptr, layout, self.device)
            except BaseException:
                self._events.close()
                raise
        except BaseException:
            with cupy.cuda.Device(self.device):
                rt.free(self.ptr)
            raise

    @property
    def event_handles(self) -> list[bytes]:
        return list(self._events.handles)

    def connect(self, daemon_event_handles: list[bytes]) -> None:
        """Open the daemon's per-slot "output written" events (from the open_ring reply)."""
        self._events.open_peer(daemon_event_handles)

    def write_inputs(self, slot: int, color: torch.Tensor, depth: torch.Tensor, motion: torch.Tensor) -> None:
        """Copy a frame into the slot on the caller's current stream, after the daemon's
        last use of the slot, then record the slot's event for the daemon to wait on."""
        import torch

        with torch.cuda.device(self.device):
            stream = torch.cuda.current_stream().cuda_stream
            self._events.wait_peer(slot, stream)
            planes = self.slots[slot]
            planes.color.copy_(color, non_blocking=True)
            planes.depth.copy_(depth, non_blocking=True)
            planes.motion.copy_(motion, non_blocking=True)
            self._events.record(slot, stream)

    def output(self, slot: int) -> torch.Tensor:
        """The slot's output plane, readable in order on the caller's current stream (it
        waits for the daemon's event). A view: copy it before the slot is reused."""
        import torch

        with torch.cuda.device(self.device):
            self._events.wait_peer(slot, torch.cuda.current_stream().cuda_stream)
        return self.slots[slot].output

    def close(self) -> None:
        """Destroy the events and free the allocation (once). cudaFree waits for work
        still queued on it."""
        if self._closed:
            return
        self._closed = True
        self.slots = []
        self._events.close()
        cupy = _cupy()
        with cupy.cuda.Device(self.device):
            cupy.cuda.runtime.free(self.ptr)


class DeviceRingImport:
    """Daemon side: the game's allocation and events, opened by handle, and the daemon's
    own per-slot events. Run each frame inside `frame(slot)`; `close()` once at the end."""

    def __init__(self, layout: P.RingLayout, memory_handle: bytes, event_handles: list[bytes], device: int):
        require_cuda()
        import torch

        cupy = _cupy()
        rt = cupy.cuda.runtime
        self.layout = layout
        self.device = device
        self._closed = False
        with cupy.cuda.Device(device):
            self.ptr = rt.ipcOpenMemHandle(bytes(memory_handle), rt.cudaIpcMemLazyEnablePeerAccess)
        try:
            self._events = _Events(layout.slot_count, device)
            try:
                self._events.open_peer(event_handles)
                self.stream = torch.cuda.Stream(device=device)
                self.slots = _plane_views(self.ptr, layout, device)
            except BaseException:
                self._events.close()
                raise
        except BaseException:
            with cupy.cuda.Device(device):
                rt.ipcCloseMemHandle(self.ptr)
            raise

    @property
    def event_handles(self) -> list[bytes]:
        """The daemon's per-slot "output written" events, for the open_ring reply."""
        return list(self._events.handles)

    @contextmanager
    def frame(self, slot: int) -> Iterator[SlotPlanes]:
        """Work on one slot: torch runs on this ring's stream, which first waits for the
        game's "inputs written" event; the daemon's event is recorded on the way out, also
        when the stylizer raised."""
        import torch

        with torch.cuda.device(self.device), torch.cuda.stream(self.stream):
            stream = self.stream.cuda_stream
            self._events.wait_peer(slot, stream)
            try:
                yield self.slots[slot]
            finally:
                self._events.record(slot, stream)

    def close(self) -> None:
        """Wait for the ring's work, destroy the events, close the mapping (once)."""
        if self._closed:
            return
        self._closed = True
        self.slots = []
        try:
            self.stream.synchronize()
        finally:
            self._events.close()
            cupy = _cupy()
            with cupy.cuda.Device(self.device):
                cupy.cuda.runtime.ipcCloseMemHandle(self.ptr)
