"""The daemon's frame counters and recent latencies, and the events queue the I/O thread
publishes: written from both threads, so each is behind a lock or a thread-safe queue."""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from typing import Any

import numpy as np
import zmq

from .. import control as C


class Stats:
    """Counters and recent latencies, written by the frame loop, read by the I/O thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.frames = 0
        self.dropped = 0
        self.failed = 0
        self.window: deque[tuple[float, float, float]] = deque(maxlen=4096)  # (t_done, latency_ms, process_ms)

    def add(self, latency_ms: float, process_ms: float) -> None:
        with self.lock:
            self.frames += 1
            self.window.append((time.monotonic(), latency_ms, process_ms))

    def count(self, dropped: int = 0, failed: int = 0) -> None:
        with self.lock:
            self.dropped += dropped
            self.failed += failed

    def snapshot(self, seconds: float) -> dict[str, Any]:
        now = time.monotonic()
        with self.lock:
            recent = [(lat, proc) for t, lat, proc in self.window if now - t <= seconds]
            counts = {"frames": self.frames, "dropped": self.dropped, "failed": self.failed}
        lat = np.array([r[0] for r in recent]) if recent else np.zeros(0)
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
        while not self._queue.empty():
            socket.send(C.pack(self._queue.get_nowait()))
