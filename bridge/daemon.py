"""The Reverie daemon: one game session, newest frame first, never a queue.

Two threads with one job each:

* the I/O thread owns every ZeroMQ socket. It answers control requests, takes frame
  submissions (a newer submission replaces a waiting one, which is marked dropped at
  once: at most one frame ever waits), sends the per-frame notices, publishes events,
  writes the ring heartbeat and notices a game that died;
* the frame loop (`run`, the caller's thread) owns the stylizer: read slot, stylize,
  write slot, notify, top to bottom in `_process`.

They meet in `_Inbox` (the one waiting frame plus stylizer commands) and in an inproc
socket that carries finished-frame notices back to the I/O thread.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import zmq

from . import control as C
from . import protocol as P
from .presets import Preset, builtin_presets
from .shm_ring import FrameRing, pid_alive, reclaim_stale_segments
from .stylizer import Frame, StyleSettings, Stylizer, find_nonfinite

log = logging.getLogger("reverie.daemon")

_NOTICE_ENDPOINT = "inproc://reverie-notices"


@dataclass
class DaemonConfig:
    endpoints: C.Endpoints = field(default_factory=C.Endpoints.default)
    curve_keys: Path | None = None  # required when any endpoint is not local
    presets: dict[str, Preset] = field(default_factory=builtin_presets)
    stats_interval_s: float = 1.0
    heartbeat_interval_s: float = 0.1
    liveness_interval_s: float = 0.25


@dataclass
class _Session:
    token: str
    client: str
    pid: int
    ring: FrameRing | None = None
    generation: int = 0


@dataclass
class _Job:
    session: _Session
    ring: FrameRing
    generation: int
    slot: int
    seq: int


class _Inbox:
    """Hand-over point between the threads: at most one waiting frame, plus commands for
    the stylizer, so that the stylizer is only ever touched by the frame loop."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._job: _Job | None = None
        self._commands: list[Callable[[Stylizer], None]] = []
        self._retired: list[FrameRing] = []
        self.stopped = False

    def put_job(self, job: _Job) -> _Job | None:
        """Make `job` the waiting frame; return the one it replaced (now dropped)."""
        with self._cond:
            replaced, self._job = self._job, job
            self._cond.notify()
        return replaced

    def drop_job_of(self, ring: FrameRing) -> _Job | None:
        with self._cond:
            if self._job is not None and self._job.ring is ring:
                job, self._job = self._job, None
                return job
        return None

    def put_command(self, command: Callable[[Stylizer], None]) -> None:
        with self._cond:
            self._commands.append(command)
            self._cond.notify()

    def retire(self, ring: FrameRing) -> None:
        """Unmap this ring from the frame loop's thread, once no frame of it is in flight."""
        with self._cond:
            self._retired.append(ring)
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self.stopped = True
            self._cond.notify()

    def wait(self, timeout: float) -> tuple[list[Callable[[Stylizer], None]], list[FrameRing], _Job | None]:
        with self._cond:
            if not (self._job or self._commands or self._retired or self.stopped):
                self._cond.wait(timeout)
            commands, self._commands = self._commands, []
            retired, self._retired = self._retired, []
            job, self._job = self._job, None
            if job is not None:
                # Ownership check and hand-over under the lock: the I/O thread can no
                # longer mark this slot dropped.
                job.ring.slots[job.slot].header["state"] = P.SLOT_PROCESSING
            return commands, retired, job


class _Stats:
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


class Daemon:
    """Serve one stylizer to one game at a time. `run()` blocks until shutdown."""

    def __init__(self, stylizer: Stylizer, config: DaemonConfig | None = None):
        self.stylizer = stylizer
        self.config = config or DaemonConfig()
        self.settings = StyleSettings()
        self.stats = _Stats()
        self.started = time.monotonic()
        self.pid = os.getpid()
        self._inbox = _Inbox()
        self._session: _Session | None = None
        self._session_lock = threading.Lock()
        self._context = zmq.Context()
        self._auth = None
        self._io_thread: threading.Thread | None = None
        self._io_ready = threading.Event()
        self._io_error: BaseException | None = None
        self._bind()

    # ------------------------------------------------------------ set-up / tear-down
    def _bind(self) -> None:
        eps = self.config.endpoints
        remote = [e for e in (eps.control, eps.events) if not C.is_local_endpoint(e)]
        if not C.is_local_endpoint(eps.frames):
            raise ValueError(f"the frames endpoint {eps.frames} must be local: shared memory only works on one machine")
        if remote and self.config.curve_keys is None:
            raise PermissionError(f"binding {', '.join(remote)} (not local) requires CURVE keys: pass --curve-keys DIR")
        self._refuse_if_served(eps.control)
        for ep in (eps.control, eps.events, eps.frames):
            if ep.startswith("ipc://"):
                Path(ep[len("ipc://") :]).parent.mkdir(parents=True, exist_ok=True)
        self._control = self._context.socket(zmq.REP)
        self._events = self._context.socket(zmq.PUB)
        self._frames = self._context.socket(zmq.ROUTER)
        self._notices_in = self._context.socket(zmq.PAIR)
        self._notices_out = self._context.socket(zmq.PAIR)
        for sock in (self._control, self._events, self._frames):
            sock.linger = 0
            sock.setsockopt(zmq.MAXMSGSIZE, P.MAX_SOCKET_BYTES)
        if self.config.curve_keys is not None:
            self._auth = C.secure_server(self._context, [self._control, self._events], self.config.curve_keys)
        self._control.bind(eps.control)
        self._events.bind(eps.events)
        self._frames.bind(eps.frames)
        self._notices_in.bind(_NOTICE_ENDPOINT)
        self._notices_out.connect(_NOTICE_ENDPOINT)
        for name in reclaim_stale_segments():
            log.warning("reclaimed shared-memory segment %s of a dead daemon", name)

    def _refuse_if_served(self, endpoint: str) -> None:
        """ipc:// binds silently steal a live daemon's socket: ask first."""
        if not endpoint.startswith("ipc://") or not Path(endpoint[len("ipc://") :]).exists():
            return
        probe = self._context.socket(zmq.REQ)
        probe.linger = 0
        try:
            probe.connect(endpoint)
            probe.send(C.pack({"v": P.PROTOCOL_MAJOR, "op": "ping"}))
            if probe.poll(300):
                raise RuntimeError(f"another Reverie daemon is serving {endpoint}")
        finally:
            probe.close()

    def close(self) -> None:
        self._inbox.stop()
        if self._io_thread is not None:
            self._io_thread.join(timeout=5)
        with self._session_lock:
            if self._session is not None:
                self._end_session(self._session, "daemon shut down")
        _, retired, _ = self._inbox.wait(0)
        for ring in retired:
            ring.close()
        if self._auth is not None:
            self._auth.stop()
        self._control.close(linger=500)  # let the reply to "shutdown" go out
        for sock in (self._events, self._frames, self._notices_in, self._notices_out):
            sock.close(linger=0)
        self._context.term()
        for ep in (self.config.endpoints.control, self.config.endpoints.events, self.config.endpoints.frames):
            if ep.startswith("ipc://"):
                Path(ep[len("ipc://") :]).unlink(missing_ok=True)

    def start_io(self) -> None:
        """Start the I/O thread (run() does this; tests may call it before run())."""
        if self._io_thread is None:
            self._io_thread = threading.Thread(target=self._io_main, name="reverie-io", daemon=True)
            self._io_thread.start()
            self._io_ready.wait(5)

    def stop(self) -> None:
        self._inbox.stop()

    # ------------------------------------------------------------ the frame loop
    def run(self) -> None:
        """The frame loop: until shutdown, apply commands, then process the newest frame."""
        sys.setswitchinterval(0.0005)  # let the I/O thread answer within half a millisecond
        self.start_io()
        try:
            while True:
                commands, retired, job = self._inbox.wait(timeout=0.2)
                for command in commands:
                    self._apply(command)
                if job is not None:
                    self._process(job)
                for ring in retired:  # after the job: it may belong to a retired ring
                    ring.close()
                if self._inbox.stopped:
                    break
        finally:
            self.close()
        if self._io_error is not None:
            raise RuntimeError("the daemon's I/O thread failed") from self._io_error

    def _process(self, job: _Job) -> None:
        """Read slot, check, stylize, write slot, notify."""
        views = job.ring.slots[job.slot]
        header = views.header
        t_start = time.monotonic_ns()
        header["t_start_ns"] = t_start
        frame = Frame(
            frame_id=int(header["frame_id"]),
            color=views.color,
            depth=views.depth,
            motion=views.motion,
            reset=bool(int(header["flags"]) & P.FLAG_RESET),
            jitter=(float(header["jitter_x"]), float(header["jitter_y"])),
            near=float(header["near"]),
            far=float(header["far"]),
            fov_y=float(header["fov_y"]),
        )
        error = find_nonfinite("depth", frame.depth) or find_nonfinite("motion", frame.motion)
        code = P.FRAME_ERR_NONFINITE if error else P.FRAME_OK
        if error is None:
            try:
                self.stylizer.stylize(frame, views.output)
            except Exception as exc:  # a stylizer bug must not stop the daemon
                log.exception("stylizer failed on frame %d", frame.frame_id)
                code, error = P.FRAME_ERR_STYLIZER, f"stylizer {self.stylizer.name} failed: {type(exc).__name__}: {exc}"
        del frame
        t_done = time.monotonic_ns()
        header["t_done_ns"] = t_done
        if error is None:
            header["error_code"] = P.FRAME_OK
            header["state"] = P.SLOT_DONE
            self.stats.add((t_done - int(header["t_submit_ns"])) / 1e6, (t_done - t_start) / 1e6)
        else:
            header["error_code"] = code
            header["error_text"] = error.encode()[: P.ERROR_TEXT_BYTES]
            header["state"] = P.SLOT_FAILED
            with self.stats.lock:
                self.stats.failed += 1
        notice = {"ev": "done" if error is None else "failed", "gen": job.generation, "slot": job.slot, "seq": job.seq}
        if error is not None:
            notice["error"] = error
        self._notices_out.send_multipart([job.session.token.encode(), C.pack(notice)])

    def _apply(self, command: Callable[[Stylizer], None]) -> None:
        try:
            command(self.stylizer)
        except Exception as exc:
            log.exception("stylizer command failed")
            self._publish({"type": "error", "message": f"{type(exc).__name__}: {exc}"})

    # ------------------------------------------------------------ the I/O thread
    def _io_main(self) -> None:
        poller = zmq.Poller()
        poller.register(self._control, zmq.POLLIN)
        poller.register(self._frames, zmq.POLLIN)
        poller.register(self._notices_in, zmq.POLLIN)
        next_stats = time.monotonic() + self.config.stats_interval_s
        next_heartbeat = next_liveness = 0.0
        self._io_ready.set()
        try:
            while not self._inbox.stopped:
                ready = dict(poller.poll(timeout=50))
                if self._notices_in in ready:
                    while self._notices_in.poll(0):
                        identity, payload = self._notices_in.recv_multipart()
                        # An empty identity marks an event queued by the frame loop.
                        (self._frames.send_multipart([identity, payload]) if identity else self._events.send(payload))
                if self._frames in ready:
                    while self._frames.poll(0):
                        self._on_frame_message(self._frames.recv_multipart())
                if self._control in ready:
                    self._control.send(C.pack(self._on_control(self._control.recv_multipart())))
                now = time.monotonic()
                if now >= next_heartbeat:
                    next_heartbeat = now + self.config.heartbeat_interval_s
                    self._heartbeat()
                if now >= next_liveness:
                    next_liveness = now + self.config.liveness_interval_s
                    self._check_client_alive()
                if now >= next_stats:
                    next_stats = now + self.config.stats_interval_s
                    self._publish({"type": "stats", **self.stats.snapshot(self.config.stats_interval_s)})
        except BaseException as exc:  # surface in run(); never die silently
            log.exception("I/O thread failed")
            self._io_error = exc
            self._inbox.stop()

    def _heartbeat(self) -> None:
        with self._session_lock:
            session = self._session
            if session is not None and session.ring is not None:
                session.ring.header["heartbeat_ns"] = time.monotonic_ns()

    def _check_client_alive(self) -> None:
        with self._session_lock:
            session = self._session
            if session is not None and not pid_alive(session.pid):
                log.warning("game client %s (pid %d) died; session closed", session.client, session.pid)
                self._end_session(session, "client died")

    def _publish(self, event: dict[str, Any]) -> None:
        """Events go out from the I/O thread only (PUB sockets are not thread-safe)."""
        if threading.current_thread() is self._io_thread:
            self._events.send(C.pack(event))
        else:
            self._notices_out.send_multipart([b"", C.pack(event)])

    # ------------------------------------------------------------ frame submissions
    def _on_frame_message(self, parts: list[bytes]) -> None:
        """A game announced a written slot: validate it and make it the waiting frame."""
        identity = parts[0]
        with self._session_lock:
            session = self._session
            if session is None or identity != session.token.encode() or session.ring is None:
                return  # a game whose session ended: it will learn from the heartbeat
            try:
                notice = C.unpack(parts[1:])
                gen, slot, seq = int(notice["gen"]), int(notice["slot"]), int(notice["seq"])
            except (P.ProtocolError, KeyError, TypeError, ValueError):
                self._publish({"type": "error", "message": "malformed frame notice ignored"})
                return
            ring = session.ring
            if gen != session.generation:
                return  # for a ring that has since been replaced
            if not 0 <= slot < ring.layout.slot_count:
                self._publish({"type": "error", "message": f"frame notice for slot {slot} out of range"})
                return
            header = ring.slots[slot].header
            if int(header["state"]) != P.SLOT_SUBMITTED or int(header["seq"]) != seq:
                text = f"slot {slot}: state {P.SLOT_STATE_NAMES.get(int(header['state']), '?')}, seq {int(header['seq'])}"
                header["error_code"] = P.FRAME_ERR_HEADER
                header["state"] = P.SLOT_FAILED
                self._frames.send_multipart([identity, C.pack({"ev": "failed", "gen": gen, "slot": slot, "seq": seq, "error": text})])
                return
            replaced = self._inbox.put_job(_Job(session, ring, gen, slot, seq))
            if replaced is not None:
                replaced.ring.slots[replaced.slot].header["state"] = P.SLOT_DROPPED
                with self.stats.lock:
                    self.stats.dropped += 1
                drop = {"ev": "dropped", "gen": replaced.generation, "slot": replaced.slot, "seq": replaced.seq}
                self._frames.send_multipart([replaced.session.token.encode(), C.pack(drop)])

    # ------------------------------------------------------------ control requests
    def _on_control(self, parts: list[bytes]) -> dict[str, Any]:
        try:
            op, fields = P.validate_request(C.unpack(parts))
            reply = getattr(self, f"_op_{op}")(**fields)
            return {"ok": True, **reply}
        except P.ProtocolError as exc:
            return C.error_reply(exc.code, exc.message)
        except Exception as exc:
            log.exception("control request failed")
            return C.error_reply(P.ERR_INTERNAL, f"{type(exc).__name__}: {exc}")

    def _op_ping(self) -> dict[str, Any]:
        return {"pong": True, "pid": self.pid}

    def _op_hello(self, client: str, pid: int, takeover: bool = False) -> dict[str, Any]:
        with self._session_lock:
            current = self._session
            if current is not None:
                if pid_alive(current.pid) and not takeover:
                    raise P.ProtocolError(P.ERR_BUSY, f"the daemon is serving {current.client} (pid {current.pid}); pass takeover to replace it")
                self._end_session(current, "replaced by a new client")
            session = _Session(token=secrets.token_hex(8), client=client, pid=pid)
            self._session = session
        self._inbox.put_command(lambda s: s.reset_history())
        self._publish({"type": "session_opened", "client": client, "pid": pid})
        eps = self.config.endpoints
        return {
            "session": session.token,
            "version": [P.PROTOCOL_MAJOR, P.PROTOCOL_MINOR],
            "daemon_pid": self.pid,
            "frames": eps.frames,
            "events": eps.events,
            "stylizer": self.stylizer.name,
        }

    def _op_open_ring(self, session: str, width: int, height: int, motion: str = "f32", slots: int = P.DEFAULT_SLOTS) -> dict[str, Any]:
        if motion not in P.MOTION_FORMATS:
            raise P.ProtocolError(P.ERR_INVALID, f"open_ring.motion must be one of {sorted(P.MOTION_FORMATS)}")
        with self._session_lock:
            current = self._require_session(session)
            layout = P.ring_layout(width, height, slots, P.MOTION_FORMATS[motion])
            generation = current.generation + 1
            name = P.segment_name(self.pid, current.token, generation)
            ring = FrameRing.create(name, layout, daemon_pid=self.pid, session=int(current.token, 16), generation=generation)
            self._retire_ring(current)
            current.ring, current.generation = ring, generation
        self._inbox.put_command(lambda s: s.reset_history())
        return {"shm": name, "generation": generation, "width": width, "height": height, "slots": slots, "motion": motion}

    def _op_bye(self, session: str) -> dict[str, Any]:
        with self._session_lock:
            self._end_session(self._require_session(session), "client said bye")
        return {}

    def _op_set_prompt(self, text: str, transition_frames: int = 0) -> dict[str, Any]:
        self.settings.prompt, self.settings.transition_frames = text, transition_frames
        self._inbox.put_command(lambda s: s.set_prompt(text, transition_frames))
        self._publish({"type": "prompt_changed", "text": text, "transition_frames": transition_frames})
        return {}

    def _op_set_params(self, steps: int | None = None, strength: float | None = None, seed: int | None = None) -> dict[str, Any]:
        if steps is not None:
            self.settings.steps = steps
        if strength is not None:
            self.settings.strength = float(strength)
        if seed is not None:
            self.settings.seed = seed
        self._inbox.put_command(lambda s: s.set_params(steps, strength, seed))
        self._publish({"type": "params_changed", "steps": self.settings.steps, "strength": self.settings.strength, "seed": self.settings.seed})
        return {}

    def _op_load_preset(self, name: str) -> dict[str, Any]:
        preset = self.config.presets.get(name)
        if preset is None:
            raise P.ProtocolError(P.ERR_INVALID, f"no preset {name!r}; known: {', '.join(sorted(self.config.presets))}")
        self._op_set_params(preset.steps, preset.strength, preset.seed)
        self._op_set_prompt(preset.prompt, preset.transition_frames)
        return {"preset": asdict(preset)}

    def _op_list_presets(self) -> dict[str, Any]:
        return {"presets": [asdict(p) for p in self.config.presets.values()]}

    def _op_reset_history(self) -> dict[str, Any]:
        self._inbox.put_command(lambda s: s.reset_history())
        return {}

    def _op_status(self) -> dict[str, Any]:
        with self._session_lock:
            session = self._session
            game = None
            if session is not None:
                ring = session.ring
                game = {"client": session.client, "pid": session.pid, "size": list(ring.size) if ring else None}
        return {
            "daemon_pid": self.pid,
            "version": [P.PROTOCOL_MAJOR, P.PROTOCOL_MINOR],
            "uptime_s": time.monotonic() - self.started,
            "stylizer": self.stylizer.name,
            "events": self.config.endpoints.events,
            "session": game,
            "settings": {k: v for k, v in asdict(self.settings).items() if k != "extra"},
            "stats": self.stats.snapshot(self.config.stats_interval_s),
        }

    def _op_shutdown(self) -> dict[str, Any]:
        self._inbox.stop()
        return {}

    # ------------------------------------------------------------ sessions (hold _session_lock)
    def _require_session(self, token: str) -> _Session:
        if self._session is None or self._session.token != token:
            raise P.ProtocolError(P.ERR_SESSION, "unknown or expired session: say hello again")
        return self._session

    def _retire_ring(self, session: _Session) -> None:
        ring = session.ring
        if ring is None:
            return
        ring.unlink()  # the name goes now; the mapping when the frame loop is done with it
        self._inbox.drop_job_of(ring)
        self._inbox.retire(ring)
        session.ring = None

    def _end_session(self, session: _Session, reason: str) -> None:
        self._retire_ring(session)
        if self._session is session:
            self._session = None
        self._publish({"type": "session_closed", "client": session.client, "pid": session.pid, "reason": reason})
