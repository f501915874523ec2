"""The daemon's capture tap: what `record_start` turns on (docs/capture.md, "Recording").

The frame loop calls `frame()` and `event()`; they copy what they need and return. A
writer thread of its own compresses and writes (`CaptureWriter`), so compression never
runs on the frame loop. The queue holds at most `queue_bytes` of frames (at least one
frame): when the writer falls behind, a frame is not copied but counted in `dropped`, and a `capture_gap` event
marks the place (a capture with gaps cannot replay bit for bit, and says so). Events
(prompt and settings changes) are tiny and never dropped.

Why a copy at all: the ring's slot belongs to the game again once the frame is handed
back, and the game writes its next frame there. The copy is a memcpy of the planes
(about 0.1 ms at 256x256); the compression it makes room for is 20-50 times that.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..capture import CaptureEvent, CaptureFrame, CaptureWriter

log = logging.getLogger("reverie.capture")

STATE_RECORDING, STATE_FINISHING, STATE_FINISHED, STATE_FAILED = "recording", "finishing", "finished", "failed"
DEFAULT_QUEUE_BYTES = 256 << 20  # ~190 frames at 256x256, 6 at 1920x1080 (f32 motion, with the output)
_STOP = object()


WRITER_NICE = 10  # added to the writer thread's niceness: compression takes the CPU the model leaves


def _lower_priority() -> None:
    """Make this thread yield the CPU to the frame loop and the model's threads (Linux:
    niceness is per thread). Compression is the recorder's only heavy work (zlib at
    level 1 on 1.3 MB a frame at 256x256); on a machine whose cores the model fills, at
    equal priority it would take their time and slow the stream it records."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + WRITER_NICE)
    except (AttributeError, OSError):  # not Linux, or not allowed: equal priority then
        pass


def _host(plane: Any) -> np.ndarray:
    """A copy in host memory (numpy from a host ring, torch CUDA tensors from a CUDA ring)."""
    if isinstance(plane, np.ndarray):
        return plane.copy()
    return plane.detach().cpu().numpy()


class CaptureTap:
    """One recording. Created by the I/O thread (so a bad path is the request's error),
    fed by the frame loop, finished by `stop()` or after `max_frames` frames."""

    def __init__(
        self,
        path: Path,
        header: dict[str, Any],
        *,
        max_frames: int | None = None,
        queue_bytes: int = DEFAULT_QUEUE_BYTES,
        file: BinaryIO | None = None,
    ):
        self.path = Path(path)
        self.writer = CaptureWriter(self.path, header, exclusive=True, file=file)  # file: opened by the recorder
        self.max_frames = max_frames
        self.queue_bytes = queue_bytes
        self.state = STATE_RECORDING
        self.error: str | None = None
        self.frames = 0  # taken into the queue
        self.dropped = 0  # not taken: the writer was behind
        self.events = 0
        self.started = time.monotonic()
        self.finished_at: float | None = None
        self._gap = 0  # frames dropped since the last one taken
        self._pending_lock = threading.Lock()
        self._pending_bytes = 0  # copied, not yet written
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write_loop, name="reverie-capture", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ the frame loop's side
    @property
    def active(self) -> bool:
        return self.state == STATE_RECORDING

    def event(self, op: str, fields: dict[str, Any]) -> None:
        if self.active:
            self.events += 1
            self._queue.put(CaptureEvent(op, dict(fields), t_ns=time.monotonic_ns()))

    def frame(
        self,
        frame: Any,
        output: Any | None,
        *,
        status: str,
        settings: dict[str, Any],
        t_submit_ns: int,
        t_done_ns: int,
        error: str | None = None,
        static_skip: bool = False,
    ) -> None:
        """Copy one frame (a bridge Frame whose planes view the ring) and its output."""
        if not self.active:
            return
        size = sum(int(p.nbytes) for p in (frame.color, frame.depth, frame.motion)) + (
            0 if output is None else int(output.nbytes)
        )
        with self._pending_lock:
            room = self._pending_bytes == 0 or self._pending_bytes + size <= self.queue_bytes
            if room:
                self._pending_bytes += size
        if not room:
            self.dropped += 1
            self._gap += 1
            return
        if self._gap:
            self.event("capture_gap", {"frames": self._gap})
            self._gap = 0
        record = CaptureFrame(
            frame_id=int(frame.frame_id),
            color=_host(frame.color),
            depth=_host(frame.depth),
            motion=_host(frame.motion),
            output=None if output is None else _host(output),
            status=status,
            reset=bool(frame.reset),
            jitter=tuple(frame.jitter),
            near=frame.near,
            far=frame.far,
            fov_y=frame.fov_y,
            settings=dict(settings),
            t_submit_ns=t_submit_ns,
            t_done_ns=t_done_ns,
            error=error,
            static_skip=static_skip,
        )
        self.frames += 1
        self._queue.put((record, size))
        if self.max_frames is not None and self.frames >= self.max_frames:
            self.stop()

    def stop(self) -> None:
        """No more frames; the writer finishes what is queued, then the index and footer."""
        if self.active:
            self.state = STATE_FINISHING
            self._queue.put(_STOP)

    # ------------------------------------------------------------ the writer thread
    def _write_loop(self) -> None:
        _lower_priority()
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    break
                if isinstance(item, tuple):  # (frame, bytes it holds in the queue)
                    try:
                        self.writer.write_frame(item[0])
                    finally:
                        self._release(item[1])
                else:
                    self.writer.write_event(item)
            self.writer.close()
            self.state = STATE_FINISHED
        except Exception as exc:  # a full disk: the stream goes on, the status says why
            log.exception("writing capture %s failed", self.path)
            self.error = f"{type(exc).__name__}: {exc}"
            self.state = STATE_FAILED
            self._drain()
        finally:
            self.finished_at = time.monotonic()

    def _drain(self) -> None:
        """After a failure: release the frame loop's slots and keep taking nothing."""
        self.state = STATE_FAILED
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, tuple):
                self._release(item[1])

    def _release(self, size: int) -> None:
        with self._pending_lock:
            self._pending_bytes -= size

    def wait(self, timeout_s: float) -> bool:
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def status(self) -> dict[str, Any]:
        """What `status.capture` reports."""
        end = self.finished_at or time.monotonic()
        return {
            "path": str(self.path),
            "state": self.state,
            "frames": self.frames,
            "written": self.writer.frames,
            "dropped": self.dropped,
            "events": self.events,
            "bytes_raw": self.writer.bytes_raw,
            "bytes_stored": self.writer.bytes_stored,
            "seconds": round(end - self.started, 3),
            "error": self.error,
        }
