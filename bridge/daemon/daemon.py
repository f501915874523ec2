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
import stat
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from reverie.common.stylizer import Stylizer

from .. import control as C
from .. import packs as S
from .. import protocol as P
from .console import ConsoleLanguage
from .control_server import ControlServer, Handler, Peer
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
    session_timeout_s: float = P.DEFAULT_SESSION_TIMEOUT_S  # a game silent this long loses its session
    capture_dirs: list[Path] = field(default_factory=list)  # record_start may write here too (--capture-dir)


class DaemonSockets:
    """The three sockets, bound: made before the stylizer, so that an endpoint mistake
    fails at once, not after a model has loaded. ipc:// socket files are 0600 and the
    folders made for them 0700, whatever the umask: only this user may connect."""

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
            self.control = self.context.socket(zmq.ROUTER)
            self.events = self.context.socket(zmq.PUB)
            self.frames = self.context.socket(zmq.ROUTER)
            for sock in (self.control, self.events, self.frames):
                sock.linger = 0
                sock.setsockopt(zmq.MAXMSGSIZE, P.MAX_SOCKET_BYTES)
            self.auth = None
            if config.curve_keys is not None:
                self.auth = C.secure_server(self.context, [self.control, self.events], config.curve_keys)
            socket_files = [p for p in map(self._socket_file, (eps.control, eps.events, eps.frames)) if p is not None]
            umask = os.umask(0o077)  # folders and socket files are born private (bind makes the file)
            try:
                for path in socket_files:
                    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                self.control.bind(eps.control)
                self.events.bind(eps.events)
                self.frames.bind(eps.frames)
            finally:
                os.umask(umask)
            for path in socket_files:
                if stat.S_ISSOCK(os.lstat(path).st_mode):
                    os.chmod(path, 0o600)  # exactly 0600, whatever the umask took away
        except BaseException:
            self.context.destroy(linger=0)
            raise

    @staticmethod
    def _socket_file(endpoint: str) -> Path | None:
        """The file an ipc:// endpoint binds (none for tcp://, or an abstract `ipc://@name`)."""
        if not endpoint.startswith("ipc://") or endpoint.startswith("ipc://@"):
            return None
        return Path(endpoint[len("ipc://") :])

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
        self._uid = os.geteuid()
        self.started = time.monotonic()
        self.stats = Stats()
        self._sockets = sockets or DaemonSockets(self.config)
        self._events = Events()
        self._inbox = Inbox(self._sockets.context)
        self.sessions = Sessions(
            self.pid, stylizer, self._inbox, self._events, self.config.endpoints, self.config.session_timeout_s
        )
        self.looks = Looks(stylizer, self._inbox, self._events, self.config.styles)
        self.recorder = Recorder(stylizer, self._inbox, self._capture_fields, self.config.capture_dirs)
        self.control = ControlServer(
            self._sockets.control,
            self._handlers(),
            self.sessions.await_closing,
            on_request=self._admit,
            peer_ops=("hello",),
        )
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

    def _admit(self, peer: Peer | None, fields: dict[str, Any]) -> None:
        """Every request: another local user is refused whatever the socket's mode; the
        rest may be a sign of the game's life."""
        if peer is not None and peer.uid not in (self._uid, 0):
            raise P.ProtocolError(
                P.ERR_FORBIDDEN, f"this daemon serves user {self._uid}; user {peer.uid} may not use it"
            )
        self.sessions.saw_request(peer, fields)

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
        """Requests, events and the session's duties until shutdown. A duty that fails
        (an event that cannot be built) is logged and tried again next time: it never ends
        this thread; only a failure of the loop itself does, and then the daemon stops."""
        config = self.config
        duties = [
            _Duty("heartbeat", config.heartbeat_interval_s, self.sessions.heartbeat),
            _Duty("liveness", config.liveness_interval_s, self.sessions.check_liveness),
            _Duty("stats", config.stats_interval_s, self._publish_stats, first_after_s=config.stats_interval_s),
        ]
        try:
            while not self._inbox.stopped:
                self.control.serve_ready(timeout_ms=50)
                self._events.send_all(self._sockets.events)
                now = time.monotonic()
                for duty in duties:
                    duty.run_if_due(now)
        except BaseException as exc:  # surface in run(); never die silently
            log.exception("I/O thread failed")
            self._io_error = exc
            self._inbox.stop()

    def _publish_stats(self) -> None:
        self._events.publish({"type": "stats", **self.stats.snapshot(self.config.stats_interval_s)})

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


class _Duty:
    """Something the I/O thread does every `interval_s`; a failure is logged (once a
    minute at most) and the duty runs again at its next time."""

    _LOG_EVERY_S = 60.0

    def __init__(self, name: str, interval_s: float, work: Callable[[], None], first_after_s: float = 0.0):
        self.name, self.interval_s, self._work = name, interval_s, work
        self._next = time.monotonic() + first_after_s
        self._failures = 0
        self._logged_at = float("-inf")

    def run_if_due(self, now: float) -> None:
        if now < self._next:
            return
        self._next = now + self.interval_s
        try:
            self._work()
        except Exception:
            self._failures += 1
            if now - self._logged_at >= self._LOG_EVERY_S:
                self._logged_at = now
                log.exception("the daemon's %s failed (%d times so far); it keeps serving", self.name, self._failures)
