"""The Reverie daemon: one game session, newest frame first, never a queue.

Two threads with one job each:

* the frame loop (`FrameLoop`, the caller's thread) owns the stylizer and the frames
  socket: the per-frame path, top to bottom, with no thread hand-off on it;
* the I/O thread owns the control and event sockets: it answers requests
  (`ControlServer`, while a frame is being stylized and while a slow request waits),
  publishes stats, writes the ring heartbeat and notices a game that died (`Sessions`).

Control requests that touch the stylizer become commands the frame loop runs between
frames (`Inbox`), so the stylizer is only ever called from one thread. The collaborators:
`Sessions` (hello, rings, liveness), `Looks` (prompt, settings, presets, weights),
`Recorder` (captures), `ConsoleLanguage` (the console op); this module binds the sockets,
wires them together and runs the threads.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from reverie.common.stylizer import Stylizer

from .. import control as C
from .. import packs as S
from .. import protocol as P
from ..shm_ring import reclaim_stale_segments
from .console import ConsoleLanguage
from .control_server import ControlServer, Handler
from .frame_loop import FrameLoop
from .inbox import Inbox
from .looks import Looks
from .recorder import Recorder
from .sessions import Sessions
from .stats import Events, Stats

log = logging.getLogger("reverie.daemon")


@dataclass
class DaemonConfig:
    endpoints: C.Endpoints = field(default_factory=C.Endpoints.default)
    curve_keys: Path | None = None  # required when any endpoint is not local
    styles: list[Path] = field(default_factory=S.style_dirs)  # pack folders, later ones win (packs.style_dirs)
    stats_interval_s: float = 1.0
    heartbeat_interval_s: float = 0.1
    liveness_interval_s: float = 0.25


class DaemonSockets:
    """The three sockets, bound: made before the stylizer, so that an endpoint mistake
    fails at once, not after a model has loaded."""

    def __init__(self, config: DaemonConfig):
        eps = config.endpoints
        remote = [e for e in (eps.control, eps.events) if not C.is_local_endpoint(e)]
        if not C.is_local_endpoint(eps.frames):
            raise ValueError(f"the frames endpoint {eps.frames} must be local: shared memory only works on one machine")
        if remote and config.curve_keys is None:
            raise PermissionError(f"binding {', '.join(remote)} (not local) requires CURVE keys: pass --curve-keys DIR")
        self.endpoints = eps
        self.context = zmq.Context()
        try:
            self._refuse_if_served(eps.control)
            for ep in (eps.control, eps.events, eps.frames):
                if ep.startswith("ipc://"):
                    Path(ep[len("ipc://") :]).parent.mkdir(parents=True, exist_ok=True)
            self.control = self.context.socket(zmq.ROUTER)
            self.events = self.context.socket(zmq.PUB)
            self.frames = self.context.socket(zmq.ROUTER)
            for sock in (self.control, self.events, self.frames):
                sock.linger = 0
                sock.setsockopt(zmq.MAXMSGSIZE, P.MAX_SOCKET_BYTES)
            self.auth = None
            if config.curve_keys is not None:
                self.auth = C.secure_server(self.context, [self.control, self.events], config.curve_keys)
            self.control.bind(eps.control)
            self.events.bind(eps.events)
            self.frames.bind(eps.frames)
        except BaseException:
            self.context.destroy(linger=0)
            raise
        for name in reclaim_stale_segments():
            log.warning("reclaimed shared-memory segment %s of a dead daemon", name)

    def _refuse_if_served(self, endpoint: str) -> None:
        """ipc:// binds silently steal a live daemon's socket: ask first."""
        if not endpoint.startswith("ipc://") or not Path(endpoint[len("ipc://") :]).exists():
            return
        probe = self.context.socket(zmq.REQ)
        probe.linger = 0
        try:
            probe.connect(endpoint)
            probe.send(C.pack({"v": P.PROTOCOL_MAJOR, "op": "ping"}))
            if probe.poll(300):
                raise RuntimeError(f"another Reverie daemon is serving {endpoint}")
        finally:
            probe.close()

    def close(self) -> None:
        if self.auth is not None:
            self.auth.stop()
        self.control.close(linger=500)  # let the reply to "shutdown" go out
        self.events.close(linger=200)
        self.frames.close(linger=0)

    def unlink(self) -> None:
        for ep in (self.endpoints.control, self.endpoints.events, self.endpoints.frames):
            if ep.startswith("ipc://"):
                Path(ep[len("ipc://") :]).unlink(missing_ok=True)


class Daemon:
    """Serve one stylizer to one game at a time. `run()` blocks until shutdown."""

    def __init__(self, stylizer: Stylizer, config: DaemonConfig | None = None, sockets: DaemonSockets | None = None):
        if not isinstance(stylizer, Stylizer):
            raise TypeError(
                f"{type(stylizer).__name__} does not implement the Stylizer interface (reverie.common.stylizer)"
            )
        self.stylizer = stylizer
        self.config = config or DaemonConfig()
        self.pid = os.getpid()
        self.started = time.monotonic()
        self.stats = Stats()
        self._sockets = sockets or DaemonSockets(self.config)
        self._events = Events()
        self._inbox = Inbox(self._sockets.context)
        self.sessions = Sessions(self.pid, stylizer, self._inbox, self._events, self.config.endpoints)
        self.looks = Looks(stylizer, self._inbox, self._events, self.config.styles)
        self.recorder = Recorder(stylizer, self._inbox, self._capture_fields)
        self.control = ControlServer(self._sockets.control, self._handlers(), self.sessions.await_closing)
        self.frame_loop = FrameLoop(
            stylizer, self._sockets.frames, self._inbox, self.sessions, self.recorder, self.stats, self._events
        )
        self._io_thread: threading.Thread | None = None
        self._io_error: BaseException | None = None

    def _handlers(self) -> dict[str, Handler]:
        """Every control op and who serves it."""
        sessions, looks, recorder = self.sessions, self.looks, self.recorder
        console = ConsoleLanguage(lambda op, **fields: self.control.run(op, **fields))
        return {
            "ping": lambda: {"pong": True, "pid": self.pid},
            "hello": sessions.hello,
            "open_ring": sessions.open_ring,
            "bye": sessions.bye,
            "set_prompt": looks.set_prompt,
            "set_params": looks.set_params,
            "load_preset": looks.load_preset,
            "list_presets": looks.list_presets,
            "reset_history": looks.reset_history,
            "record_start": recorder.start,
            "record_stop": recorder.stop,
            "status": self.status,
            "console": console.console,
            "shutdown": self._shutdown,
        }

    def status(self) -> dict[str, Any]:
        """The `status` op: the daemon, the game, the look, the capture, the stats."""
        return {
            "daemon_pid": self.pid,
            "version": [P.PROTOCOL_MAJOR, P.PROTOCOL_MINOR],
            "uptime_s": time.monotonic() - self.started,
            "stylizer": self.stylizer.name,
            "stylizer_counters": dict(self.stylizer.counters),
            "stylizer_identity": dict(self.stylizer.identity),
            "capture": self.recorder.describe(),
            "events": self.config.endpoints.events,
            "session": self.sessions.describe(),
            **self.looks.describe(),
            "stats": self.stats.snapshot(self.config.stats_interval_s),
        }

    def _capture_fields(self) -> dict[str, Any]:
        size, motion = self.sessions.ring_format()
        return {"settings": self.looks.describe()["settings"], "size": size, "motion": motion}

    def _shutdown(self) -> dict[str, Any]:
        self._inbox.stop()
        return {}

    def stop(self) -> None:
        """Ask both loops to finish (safe from a signal handler)."""
        self._inbox.stop()

    # ------------------------------------------------------------ the threads
    def run(self) -> None:
        """The frame loop, on this thread, until shutdown; the I/O thread beside it."""
        sys.setswitchinterval(0.0005)  # the I/O thread answers within half a millisecond
        self._io_thread = threading.Thread(target=self._io_main, name="reverie-io", daemon=True)
        self._io_thread.start()
        try:
            self.frame_loop.run()
        finally:
            self.close()
        if self._io_error is not None:
            raise RuntimeError("the daemon's I/O thread failed") from self._io_error

    def _io_main(self) -> None:
        config = self.config
        next_stats = time.monotonic() + config.stats_interval_s
        next_heartbeat = next_liveness = 0.0
        try:
            while not self._inbox.stopped:
                self.control.serve_ready(timeout_ms=50)
                self._events.send_all(self._sockets.events)
                now = time.monotonic()
                if now >= next_heartbeat:
                    next_heartbeat = now + config.heartbeat_interval_s
                    self.sessions.heartbeat()
                if now >= next_liveness:
                    next_liveness = now + config.liveness_interval_s
                    self.sessions.check_client_alive()
                if now >= next_stats:
                    next_stats = now + config.stats_interval_s
                    self._events.publish({"type": "stats", **self.stats.snapshot(config.stats_interval_s)})
        except BaseException as exc:  # surface in run(); never die silently
            log.exception("I/O thread failed")
            self._io_error = exc
            self._inbox.stop()

    def close(self) -> None:
        self._inbox.stop()
        if self._io_thread is not None:
            self._io_thread.join(timeout=5)
        self.looks.close()
        self.sessions.end_all("daemon shut down")
        _, retired = self._inbox.take()
        for ring in retired:
            ring.close()
        self.recorder.finish()
        self._events.send_all(self._sockets.events)  # the I/O thread is gone: send what it left
        self._sockets.close()
        self._inbox.close()
        self._sockets.context.term()
        self._sockets.unlink()
