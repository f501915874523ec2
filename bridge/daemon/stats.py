"""The daemon's frame counters and recent latencies, and the events queue the I/O thread
publishes: written from both threads, so each is behind a lock or a thread-safe queue.

Clients feed some of these numbers (a notice's `skipped`, a slot's `t_submit_ns`): each is
bounded here, so no client can make a counter unencodable or a latency meaningless."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from typing import Any

import numpy as np
import zmq

from .. import control as C

log = logging.getLogger("reverie.daemon")

COUNTER_MAX = 2**63 - 1  # counters saturate here: still an int64 and a msgpack int for every reader
MAX_SKIPPED_PER_NOTICE = 2**32  # one notice cannot stand for more skipped frames than this


class Stats:
    """Counters and recent latencies, written by the frame loop, read by the I/O thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.frames = 0
        self.dropped = 0
        self.failed = 0
        self.window: deque[tuple[float, float, float]] = deque(maxlen=4096)  # (t_done, latency_ms, process_ms)

    def add(self, latency_ms: float | None, process_ms: float) -> None:
        """A stylized frame; `latency_ms` None when the game's submit time is not believable."""
        with self.lock:
            self.frames = min(self.frames + 1, COUNTER_MAX)
            self.window.append((time.monotonic(), latency_ms, process_ms))

    def count(self, dropped: int = 0, failed: int = 0) -> None:
        with self.lock:
            self.dropped = min(self.dropped + min(dropped, MAX_SKIPPED_PER_NOTICE), COUNTER_MAX)
            self.failed = min(self.failed + failed, COUNTER_MAX)

    def snapshot(self, seconds: float) -> dict[str, Any]:
        now = time.monotonic()
        with self.lock:
            recent = [(lat, proc) for t, lat, proc in self.window if now - t <= seconds]
            counts = {"frames": self.frames, "dropped": self.dropped, "failed": self.failed}
        lat = np.array([r[0] for r in recent if r[0] is not None], np.float64)
        proc = np.array([r[1] for r in recent]) if recent else np.zeros(0)
        return {
            **counts,
            "fps": len(recent) / seconds,
            "latency_p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
            "latency_p95_ms": float(np.percentile(lat, 95)) if lat.size else None,
            "process_p50_ms": float(np.percentile(proc, 50)) if proc.size else None,
        }


class Events:
    """Events from any thread, sent by the I/O thread only (a PUB socket belongs to one)."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()

    def publish(self, event: dict[str, Any]) -> None:
        self._queue.put(event)

    def send_all(self, socket: zmq.Socket) -> None:
        """Send what is queued; an event that cannot be encoded is logged and dropped."""
        while not self._queue.empty():
            event = self._queue.get_nowait()
            try:
                payload = C.pack(event)
            except (TypeError, ValueError, OverflowError) as exc:
                log.error("an event of type %r could not be encoded and was dropped: %s", event.get("type"), exc)
                continue
            socket.send(payload)
