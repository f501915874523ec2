"""The Reverie daemon: one game session, newest frame first, never a queue.

Two threads with one job each:

* the frame loop (`run`, the caller's thread) owns the stylizer and the frames socket:
  wait for submissions, keep only the newest (older ones are marked dropped at once),
  then read slot, stylize, write slot, notify, top to bottom in `_process`. No thread
  hand-off sits on the per-frame path;
* the I/O thread owns the control and event sockets: it answers requests while a frame
  is being stylized, publishes stats, writes the ring heartbeat and notices a game that
  died.

Control requests that touch the stylizer become commands the frame loop runs between
frames (`_Inbox`), so the stylizer is only ever called from one thread.

A ring's planes live in the host segment, or on a CUDA ring (transport "cuda") in the
game's GPU memory, opened by IPC handle (`cuda_ipc`); the frame path is the same for
both, only the views and the NaN/inf check differ. A CUDA ring is closed by the frame
loop like any other, and the I/O thread waits for that before replying to the request
that ended it, so a game may free its allocation once it has the reply.

A capture (`record_start`, docs/capture.md) is fed by the frame loop: each stylizer
command carries the (op, fields) it is, recorded when the frame loop applies it, so
events sit exactly between the frames they came between; frames are copied before the
hand-over and compressed on the capture's own writer thread (`capture_tap`).

Style packs (`styles.py`) are the daemon's presets. A pack with fine-tuned weights is
prepared on a worker thread (building a backend takes seconds, and the frame loop keeps
showing the old look meanwhile; the I/O thread keeps the heartbeat going, since a game
counts a daemon silent for a second as dead), then swapped in by the frame loop; the
`load_preset` reply waits for the outcome, so weights that do not load are refused
with the reason and nothing of the pack is applied.
"""

from __future__ import annotations

import logging
import os
import platform
import queue
import secrets
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import zmq

from . import control as C
from . import protocol as P
from .capture_tap import CaptureTap
from . import styles as S
from .shm_ring import FrameRing, SlotViews, pid_alive, reclaim_stale_segments
from .stylizer import DEVICE_CUDA, Frame, StyleSettings, Stylizer, frame_nonfinite, stylizer_device

if TYPE_CHECKING:
    from .cuda_ipc import DeviceRingImport

log = logging.getLogger("reverie.daemon")

_WAKE_ENDPOINT = "inproc://reverie-wake-{}"


@dataclass
class DaemonConfig:
    endpoints: C.Endpoints = field(default_factory=C.Endpoints.default)
    curve_keys: Path | None = None  # required when any endpoint is not local
    styles: list[Path] = field(default_factory=S.style_dirs)  # pack folders, later ones win (styles.style_dirs)
    stats_interval_s: float = 1.0
    heartbeat_interval_s: float = 0.1
    liveness_interval_s: float = 0.25


class _Ring:
    """A session's ring: the host segment (headers, and the planes of a host ring) and,
    for a CUDA ring, the game's device planes opened by handle. Closed once, by the frame
    loop (or at shutdown); `closed` lets the I/O thread wait for that."""

    def __init__(self, host: FrameRing, device: "DeviceRingImport | None" = None):
        self.host = host
        self.device = device
        self.closed = threading.Event()

    @property
    def slots(self) -> list[SlotViews]:
        return self.host.slots

    @property
    def header(self) -> np.ndarray:
        return self.host.header

    @property
    def layout(self) -> P.RingLayout:
        return self.host.layout

    @property
    def size(self) -> tuple[int, int]:
        return self.host.size

    def unlink(self) -> None:
        self.host.unlink()

    def close(self) -> None:
        if self.closed.is_set():
            return
        try:
            if self.device is not None:
                self.device.close()  # waits for the ring's GPU work, then unmaps
        except Exception:  # a broken context must not stop the daemon
            log.exception("closing the CUDA ring failed")
        finally:
            self.host.close()
            self.closed.set()


@dataclass
class _Session:
    token: str
    client: str
    pid: int
    ring: _Ring | None = None
    generation: int = 0


@dataclass
class _Job:
    identity: bytes
    ring: _Ring
    generation: int
    slot: int
    seq: int


_Record = tuple[str, dict[str, Any]]  # a stylizer command as a capture records it: (op, fields)


class _Inbox:
    """What the I/O thread hands the frame loop: stylizer commands and rings to unmap.
    Each put wakes the frame loop through an inproc socket it polls beside the frames."""

    def __init__(self, context: zmq.Context):
        self._lock = threading.Lock()
        self._commands: list[tuple[Callable[[Stylizer], None], _Record | None]] = []
        self._retired: list[_Ring] = []
        self.stopped = False
        endpoint = _WAKE_ENDPOINT.format(id(self))
        self.wake_rx = context.socket(zmq.PAIR)  # polled by the frame loop only
        self.wake_rx.bind(endpoint)
        self._wake_tx = context.socket(zmq.PAIR)  # used under self._lock only
        self._wake_tx.connect(endpoint)

    def _wake(self) -> None:
        try:
            self._wake_tx.send(b"", zmq.NOBLOCK)
        except zmq.Again:
            pass  # a wake-up is already pending

    def put_command(self, command: Callable[[Stylizer], None], record: "_Record | None" = None) -> None:
        """`record`: the (op, fields) this command is, for a capture being recorded and the
        settings in force; applied and recorded by the frame loop, in order with frames."""
        with self._lock:
            self._commands.append((command, record))
            self._wake()

    def retire(self, ring: _Ring) -> None:
        """Unmap this ring from the frame loop, after any frame of it in progress."""
        with self._lock:
            self._retired.append(ring)
            self._wake()

    def stop(self) -> None:
        self.stopped = True  # seen by both loops within one poll timeout

    def take(self) -> tuple[list[tuple[Callable[[Stylizer], None], "_Record | None"]], list[_Ring]]:
        while self.wake_rx.poll(0):
            self.wake_rx.recv()
        with self._lock:
            commands, self._commands = self._commands, []
            retired, self._retired = self._retired, []
        return commands, retired

    def close(self) -> None:
        self.wake_rx.close(linger=0)
        self._wake_tx.close(linger=0)


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


def restart_stylizer(stylizer: Stylizer) -> None:
    """`reset_history` with `full`: the stylizer's `restart()` when it has one (history,
    prompt blends and schedules back to a fresh stylizer's), else its `reset_history()`."""
    restart = getattr(stylizer, "restart", None)
    (restart if callable(restart) else stylizer.reset_history)()


def stylizer_identity(stylizer: Stylizer) -> dict[str, Any]:
    """What makes two stylizers of one name give the same pixels (weights hash, backend):
    its optional `identity` map, else nothing beyond the name."""
    identity = getattr(stylizer, "identity", None)
    return dict(identity) if isinstance(identity, dict) else {}


class _Deferred:
    """A control reply that waits for work off the I/O thread (loading a pack's weights):
    the I/O thread keeps its other duties and sends `result()` once `future` is done."""

    def __init__(self, future: "Future[Any]", finish: Callable[[Any], dict[str, Any]], fail: Callable[[BaseException], P.ProtocolError]):
        self.future, self._finish, self._fail = future, finish, fail

    def result(self) -> dict[str, Any]:
        error = self.future.exception()
        if error is not None:
            raise self._fail(error)
        return self._finish(self.future.result())


_KEEP_WEIGHTS = object()  # load_preset: the stylizer's weights stay as they are


_RING_ADVICE = "use fewer slots, a smaller size or f16 motion"


def _ring_needs(width: int, height: int, slots: int, motion: str, layout: P.RingLayout) -> str:
    return f"a {width}x{height} ring of {slots} slots ({motion} motion) needs {layout.total_bytes / 2**20:.0f} MiB of shared memory"


def _slot_frame(header: Any, planes: Any, reset_pending: bool = False) -> Frame:
    """The Frame a slot holds: its header's fields over `planes` (host views or device tensors)."""
    return Frame(
        frame_id=int(header["frame_id"]),
        color=planes.color,
        depth=planes.depth,
        motion=planes.motion,
        reset=bool(int(header["flags"]) & P.FLAG_RESET) or reset_pending,
        jitter=(float(header["jitter_x"]), float(header["jitter_y"])),
        near=float(header["near"]),
        far=float(header["far"]),
        fov_y=float(header["fov_y"]),
    )


class Daemon:
    """Serve one stylizer to one game at a time. `run()` blocks until shutdown."""

    def __init__(self, stylizer: Stylizer, config: DaemonConfig | None = None):
        self.stylizer = stylizer
        self.config = config or DaemonConfig()
        self.settings = StyleSettings()
        self.stats = _Stats()
        self.started = time.monotonic()
        self.pid = os.getpid()
        self._session: _Session | None = None
        self._session_lock = threading.Lock()
        self._closing: list[_Ring] = []  # CUDA rings retired by the request being served
        self._cuda_reason: str | None = None  # why this process cannot serve CUDA rings, once known
        self._cuda_checked = False
        self._reset_pending = False  # a dropped or failed frame carried a camera cut
        self._applied = StyleSettings()  # the settings the stylizer has had (frame loop); self.settings leads it
        self._tap: CaptureTap | None = None  # the latest capture (I/O thread: start, stop, status)
        self._recording: CaptureTap | None = None  # the capture the frame loop feeds, once started there
        self._context = zmq.Context()
        self._inbox = _Inbox(self._context)
        self._events_out: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()  # published by the I/O thread
        self._auth = None
        self._io_thread: threading.Thread | None = None
        self._io_error: BaseException | None = None
        self._reported: set[str] = set()  # pack problems already logged
        self._refresh_packs()
        self._preset: str | None = None  # the pack last loaded over control
        self._weights: tuple[str, Path] | None = None  # (pack, folder) of the weights the stylizer runs; None: its own
        self._weights_worker: ThreadPoolExecutor | None = None
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
        for sock in (self._control, self._events, self._frames):
            sock.linger = 0
            sock.setsockopt(zmq.MAXMSGSIZE, P.MAX_SOCKET_BYTES)
        if self.config.curve_keys is not None:
            self._auth = C.secure_server(self._context, [self._control, self._events], self.config.curve_keys)
        self._control.bind(eps.control)
        self._events.bind(eps.events)
        self._frames.bind(eps.frames)
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
        if self._weights_worker is not None:
            self._weights_worker.shutdown(wait=False, cancel_futures=True)
        with self._session_lock:
            if self._session is not None:
                self._end_session(self._session, "daemon shut down")
        _, retired = self._inbox.take()
        for ring in retired:
            ring.close()
        if self._tap is not None:  # a capture still open gets its index: the file stays seekable
            self._tap.stop()
            if not self._tap.wait(30):
                log.warning("capture %s not finished at shutdown", self._tap.path)
        while not self._events_out.empty():  # the I/O thread is gone: send what it left
            self._events.send(C.pack(self._events_out.get_nowait()))
        if self._auth is not None:
            self._auth.stop()
        self._control.close(linger=500)  # let the reply to "shutdown" go out
        self._events.close(linger=200)
        self._frames.close(linger=0)
        self._inbox.close()
        self._context.term()
        for ep in (self.config.endpoints.control, self.config.endpoints.events, self.config.endpoints.frames):
            if ep.startswith("ipc://"):
                Path(ep[len("ipc://") :]).unlink(missing_ok=True)

    def stop(self) -> None:
        """Ask both loops to finish (safe from a signal handler)."""
        self._inbox.stop()

    # ------------------------------------------------------------ the frame loop
    def run(self) -> None:
        """The frame loop: until shutdown, apply commands, then process the newest frame."""
        sys.setswitchinterval(0.0005)  # the I/O thread answers within half a millisecond
        self._io_thread = threading.Thread(target=self._io_main, name="reverie-io", daemon=True)
        self._io_thread.start()
        poller = zmq.Poller()
        poller.register(self._frames, zmq.POLLIN)
        poller.register(self._inbox.wake_rx, zmq.POLLIN)
        try:
            while not self._inbox.stopped:
                ready = dict(poller.poll(timeout=100))
                commands, retired = self._inbox.take()
                for command, record in commands:
                    self._apply(command, record)
                if self._frames in ready:
                    job = self._newest_submission()
                    if job is not None:
                        self._process(job)
                for ring in retired:  # after the frame: it may belong to a retired ring
                    ring.close()
        finally:
            self.close()
        if self._io_error is not None:
            raise RuntimeError("the daemon's I/O thread failed") from self._io_error

    def _newest_submission(self) -> _Job | None:
        """Drain every waiting submission; keep the newest, mark the others dropped."""
        newest: _Job | None = None
        while self._frames.poll(0):
            job = self._validate_submission(self._frames.recv_multipart())
            if job is None:
                continue
            if newest is not None:
                if (job.slot, job.seq) == (newest.slot, newest.seq):
                    continue  # the same notice twice
                older, newest = (newest, job) if job.seq > newest.seq else (job, newest)
                self._capture_dropped(older)
                self._carry_reset(older)
                self.stats.count(dropped=1)
                self._notify(older, P.SLOT_DROPPED, "dropped")
            else:
                newest = job
        if newest is not None:
            newest.ring.slots[newest.slot].header["state"] = P.SLOT_PROCESSING
        return newest

    def _validate_submission(self, parts: list[bytes]) -> _Job | None:
        """A game announced a written slot: check it belongs to the live ring and is submitted."""
        identity = parts[0]
        with self._session_lock:
            session = self._session
            if session is None or identity != session.token.encode() or session.ring is None:
                return None  # a game whose session ended: it learns from the heartbeat
            ring, generation = session.ring, session.generation
        try:
            notice = C.unpack(parts[1:])
            gen, slot, seq = notice["gen"], notice["slot"], notice["seq"]
            skipped = notice.get("skipped", 0)
        except (P.ProtocolError, KeyError, TypeError, AttributeError):
            gen = slot = seq = skipped = None
        if not all(type(v) is int and 0 <= v < 2**64 for v in (gen, slot, seq, skipped)):
            self._events_out.put({"type": "error", "message": "malformed frame notice ignored"})
            return None
        if gen != generation:
            return None  # for a ring that has since been replaced
        if skipped > 0:
            self.stats.count(dropped=skipped)  # frames the game skipped: no slot was free
        if not 0 <= slot < ring.layout.slot_count:
            self._events_out.put({"type": "error", "message": f"frame notice for slot {slot} out of range"})
            return None
        job = _Job(identity, ring, gen, slot, seq)
        header = ring.slots[slot].header
        if int(header["state"]) != P.SLOT_SUBMITTED or int(header["seq"]) != seq:
            # Not ours to write: only tell the game (it ignores a notice it did not expect).
            state = P.SLOT_STATE_NAMES.get(int(header["state"]), "?")
            error = f"slot {slot} is {state} with seq {int(header['seq'])}, notice said submitted seq {seq}"
            notice = {"ev": "failed", "gen": gen, "slot": slot, "seq": seq, "error": error}
            self._frames.send_multipart([identity, C.pack(notice)])
            self.stats.count(failed=1)
            return None
        return job

    def _carry_reset(self, job: _Job) -> None:
        """A camera cut on a frame that is not stylized must reach the next one that is."""
        if int(job.ring.slots[job.slot].header["flags"]) & P.FLAG_RESET:
            self._reset_pending = True

    def _process(self, job: _Job) -> None:
        """Read slot, check, stylize, write slot, notify. On a CUDA ring the planes are the
        game's GPU memory, and the work runs on the ring's stream between the game's
        "inputs written" event and the daemon's "output written" one."""
        header = job.ring.slots[job.slot].header
        t_start = time.monotonic_ns()
        header["t_start_ns"] = t_start
        device = job.ring.device
        with device.frame(job.slot) if device is not None else nullcontext(job.ring.slots[job.slot]) as planes:
            frame = _slot_frame(header, planes, self._reset_pending)
            self._reset_pending = False
            error = frame_nonfinite(frame)
            code = P.FRAME_ERR_NONFINITE if error else P.FRAME_OK
            skipped_before = self._skipped_count()
            if error is None:
                try:
                    self.stylizer.stylize(frame, planes.output)
                except Exception as exc:  # a stylizer bug must not stop the daemon
                    log.exception("stylizer failed on frame %d", frame.frame_id)
                    code, error = P.FRAME_ERR_STYLIZER, f"stylizer {self.stylizer.name} failed: {type(exc).__name__}: {exc}"
            if self._recording is not None:  # before the hand-over: then the slot is the game's again
                self._capture_frame(frame, None if error else planes.output, int(header["t_submit_ns"]), error,
                                    skipped_before)
            frame_reset = frame.reset
            del frame, planes
        t_done = time.monotonic_ns()
        header["t_done_ns"] = t_done
        header["error_code"] = code
        # Counted before the hand-over: a game that sees its frame back and asks for status
        # at once must find it counted.
        if error is None:
            self.stats.add((t_done - int(header["t_submit_ns"])) / 1e6, (t_done - t_start) / 1e6)
            self._notify(job, P.SLOT_DONE, "done")
        else:
            self._reset_pending = frame_reset
            self.stats.count(failed=1)
            self._notify(job, P.SLOT_FAILED, "failed", error)

    def _notify(self, job: _Job, state: int, event: str, error: str | None = None) -> None:
        """Hand the slot back: state word last in shared memory, then the notice."""
        header = job.ring.slots[job.slot].header
        if error is not None:
            header["error_text"] = error.encode()[: P.ERROR_TEXT_BYTES]
        header["state"] = state
        notice: dict[str, Any] = {"ev": event, "gen": job.generation, "slot": job.slot, "seq": job.seq}
        if error is not None:
            notice["error"] = error
        self._frames.send_multipart([job.identity, C.pack(notice)])

    def _apply(self, command: Callable[[Stylizer], None], record: _Record | None = None) -> None:
        try:
            command(self.stylizer)
        except Exception as exc:
            log.exception("stylizer command failed")
            self._events_out.put({"type": "error", "message": f"{type(exc).__name__}: {exc}"})
            return
        if record is not None:
            self._applied_change(*record)

    # ------------------------------------------------------------ captures (frame loop)
    def _applied_change(self, op: str, fields: dict[str, Any]) -> None:
        """Track the settings the stylizer now has, and record the change in a capture."""
        if op == "set_prompt":
            self._applied.prompt, self._applied.transition_frames = fields["text"], fields["transition_frames"]
        elif op == "set_params":
            for name in ("steps", "strength", "seed"):
                if fields.get(name) is not None:
                    setattr(self._applied, name, fields[name])
        if self._recording is not None:
            if self._recording.active:
                if op == "use_weights":  # a pack's weights: which ones, for the replay's check
                    fields = {**fields, "weights_sha256": stylizer_identity(self.stylizer).get("weights_sha256")}
                self._recording.event(op, {k: v for k, v in fields.items() if v is not None})
            else:
                self._recording = None

    def _start_capture(self, stylizer: Stylizer, tap: CaptureTap) -> None:
        """A capture starts from a state a replay can reproduce: the settings in force
        applied afresh (a prompt transition under way ends at its target) and the
        stylizer restarted (history, blends and schedules dropped, the seed restarted);
        these three are the capture's first events, so a replay sends the same calls."""
        a = self._applied
        stylizer.set_prompt(a.prompt, 0)
        stylizer.set_params(a.steps, a.strength, a.seed)
        restart_stylizer(stylizer)
        a.transition_frames = 0
        self._recording = tap
        tap.event("set_prompt", {"text": a.prompt, "transition_frames": 0})
        tap.event("set_params", {"steps": a.steps, "strength": a.strength, "seed": a.seed})
        tap.event("reset_history", {"full": True})

    def _skipped_count(self) -> int | None:
        counters = getattr(self.stylizer, "counters", None)
        return counters.get("skipped") if isinstance(counters, dict) else None

    def _capture_frame(self, frame: Frame, output: Any, t_submit_ns: int, error: str | None, skipped_before: int | None) -> None:
        tap = self._recording
        if not tap.active:
            self._recording = None
            return
        skipped = self._skipped_count()
        tap.frame(frame, output, status="failed" if error else "done", settings=asdict(self._applied),
                  t_submit_ns=t_submit_ns, t_done_ns=time.monotonic_ns(), error=error,
                  static_skip=skipped is not None and skipped_before is not None and skipped > skipped_before)

    def _capture_dropped(self, job: _Job) -> None:
        """A frame replaced by a newer one before it was stylized: its inputs, no output
        (host rings only: a CUDA ring's planes would cost a device sync to copy here)."""
        tap = self._recording
        if tap is None or not tap.active or job.ring.device is not None:
            return
        views = job.ring.slots[job.slot]
        header = views.header
        frame = _slot_frame(header, views)
        tap.frame(frame, None, status="dropped", settings=asdict(self._applied), t_submit_ns=int(header["t_submit_ns"]),
                  t_done_ns=time.monotonic_ns(), error="replaced by a newer frame before the daemon took it")

    # ------------------------------------------------------------ the I/O thread
    def _io_main(self) -> None:
        next_stats = time.monotonic() + self.config.stats_interval_s
        next_heartbeat = next_liveness = 0.0
        pending: _Deferred | None = None  # a request whose reply waits for a worker (REP: no other until then)
        try:
            while not self._inbox.stopped:
                if pending is None:
                    if self._control.poll(timeout=50):
                        answer = self._on_control(self._control.recv_multipart())
                        if isinstance(answer, _Deferred):
                            pending = answer
                        else:
                            self._control.send(C.pack(answer))
                elif _wait(pending.future, 0.05):
                    self._control.send(C.pack(self._reply(pending.result)))
                    pending = None
                while not self._events_out.empty():
                    self._events.send(C.pack(self._events_out.get_nowait()))
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
        """Queue an event; the I/O thread sends it (a PUB socket belongs to one thread)."""
        self._events_out.put(event)

    # ------------------------------------------------------------ control requests
    def _on_control(self, parts: list[bytes]) -> dict[str, Any] | _Deferred:
        answer: dict[str, Any] | _Deferred | None = None

        def handle() -> dict[str, Any]:
            nonlocal answer
            op, fields = P.validate_request(C.unpack(parts))
            answer = getattr(self, f"_op_{op}")(**fields)
            return {} if isinstance(answer, _Deferred) else answer

        reply = self._reply(handle)
        return answer if isinstance(answer, _Deferred) else reply

    def _reply(self, handle: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The reply to a request: `handle()`'s fields, or the error it raised."""
        try:
            reply = {"ok": True, **handle()}
            C.pack(reply)  # a reply that cannot be encoded must not reach (and end) the I/O loop
        except P.ProtocolError as exc:
            reply = C.error_reply(exc.code, exc.message)
        except Exception as exc:
            log.exception("control request failed")
            reply = C.error_reply(P.ERR_INTERNAL, f"{type(exc).__name__}: {exc}"[:300])
        if not self._await_closing():
            # A success reply tells the game it may free the ring's memory: only say it when true.
            reply = C.error_reply(P.ERR_INTERNAL, "a CUDA ring this request ended is still in use by the frame loop: "
                                  "keep its memory (free it once this daemon has exited)")
        return reply

    def _await_closing(self, timeout_s: float = 10.0) -> bool:
        """Before a reply goes out: every CUDA ring this request ended is closed (the frame
        loop closes it after a frame in progress), so the game may free its memory. False
        when one is still open after `timeout_s`: the reply must then not say success."""
        closing, self._closing = self._closing, []
        deadline = time.monotonic() + timeout_s
        for ring in closing:
            while not ring.closed.wait(0.05):
                if self._inbox.stopped or time.monotonic() > deadline:
                    log.warning("a CUDA ring was not closed before the reply; the reply says so")
                    return False
        return True

    def _op_ping(self) -> dict[str, Any]:
        return {"pong": True, "pid": self.pid}

    def _op_hello(self, client: str, pid: int, takeover: bool = False, replaces: str | None = None) -> dict[str, Any]:
        with self._session_lock:
            current = self._session
            if current is not None:
                # A game re-establishing its own session, or its process starting over
                # (an engine's script reload loses the token but keeps the pid).
                its_own = replaces == current.token or pid == current.pid
                if pid_alive(current.pid) and not takeover and not its_own:
                    raise P.ProtocolError(P.ERR_BUSY, f"the daemon is serving {current.client} (pid {current.pid}); pass takeover to replace it")
                self._end_session(current, "replaced by a new client")
            session = _Session(token=secrets.token_hex(8), client=client, pid=pid)
            self._session = session
        self._inbox.put_command(lambda s: s.reset_history(), ("reset_history", {"reason": "hello"}))
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

    def _op_open_ring(self, session: str, width: int, height: int, motion: str = "f32", slots: int = P.DEFAULT_SLOTS,
                      transport: str = P.TRANSPORT_SHM, **cuda: Any) -> dict[str, Any]:
        layout = P.check_open_ring({"width": width, "height": height, "motion": motion, "slots": slots, "transport": transport, **cuda})
        with self._session_lock:
            current = self._require_session(session)
            generation = current.generation + 1
        name = P.segment_name(self.pid, current.token, generation)
        if layout.total_bytes > P.MAX_RING_BYTES:
            raise P.ProtocolError(P.ERR_INVALID, f"{_ring_needs(width, height, slots, motion, layout)}, more than the limit of {P.MAX_RING_BYTES >> 20} MiB: {_RING_ADVICE}")
        # Outside the lock: allocating and mapping a large ring takes a while, and the frame
        # loop keeps serving the old ring meanwhile. Sessions change on this thread only.
        device = self._open_device_ring(layout, **cuda) if transport == P.TRANSPORT_CUDA else None
        try:
            host = FrameRing.create(name, layout, daemon_pid=self.pid, session=int(current.token, 16), generation=generation,
                                    device=device is not None)
        except OSError as exc:
            if device is not None:
                device.close()
            raise P.ProtocolError(P.ERR_INVALID, f"{_ring_needs(width, height, slots, motion, layout)} and {exc.strerror}: {_RING_ADVICE}, or give /dev/shm more room") from None
        with self._session_lock:
            self._retire_ring(current)
            current.ring, current.generation = _Ring(host, device), generation
        self._inbox.put_command(lambda s: s.reset_history(), ("reset_history", {"reason": "open_ring"}))
        reply = {"shm": name, "generation": generation, "width": width, "height": height, "slots": slots, "motion": motion,
                 "transport": transport}
        if device is not None:
            reply["cuda_events"] = device.event_handles
        return reply

    def _open_device_ring(self, layout: P.RingLayout, cuda_device: str, cuda_memory: bytes, cuda_bytes: int,
                          cuda_events: list[bytes]) -> "DeviceRingImport":
        """Map the game's CUDA ring, or refuse (invalid) saying why this daemon cannot."""
        if stylizer_device(self.stylizer) != DEVICE_CUDA:
            raise P.ProtocolError(P.ERR_INVALID, f"this daemon has no CUDA device for its stylizer: {self.stylizer.name!r} takes host frames only (its device is {stylizer_device(self.stylizer)!r}); use transport 'shm'")
        from . import cuda_ipc  # cupy and torch load here, on the first CUDA ring only

        if not self._cuda_checked:
            self._cuda_reason, self._cuda_checked = cuda_ipc.cuda_unavailable_reason(), True
        if self._cuda_reason is not None:
            raise P.ProtocolError(P.ERR_INVALID, f"this daemon has no CUDA device: {self._cuda_reason}; use transport 'shm'")
        ordinal = cuda_ipc.current_device()
        ours = cuda_ipc.gpu_uuid(ordinal)
        if cuda_device != ours:
            raise P.ProtocolError(P.ERR_INVALID, f"the ring is on GPU {cuda_device[:64]}, this daemon runs on GPU {ours}; CUDA IPC needs one GPU for both")
        try:
            return cuda_ipc.DeviceRingImport(layout, cuda_memory, cuda_events, ordinal)
        except Exception as exc:  # a stale or foreign handle: cupy's CUDARuntimeError
            raise P.ProtocolError(P.ERR_INVALID, f"cannot open the game's CUDA ring: {type(exc).__name__}: {exc}"[:300]) from None

    def _op_bye(self, session: str) -> dict[str, Any]:
        with self._session_lock:
            self._end_session(self._require_session(session), "client said bye")
        return {}

    def _op_set_prompt(self, text: str, transition_frames: int = 0) -> dict[str, Any]:
        self.settings.prompt, self.settings.transition_frames = text, transition_frames
        self._inbox.put_command(lambda s: s.set_prompt(text, transition_frames),
                                ("set_prompt", {"text": text, "transition_frames": transition_frames}))
        self._publish({"type": "prompt_changed", "text": text, "transition_frames": transition_frames})
        return {}

    def _op_set_params(self, steps: int | None = None, strength: float | None = None, seed: int | None = None) -> dict[str, Any]:
        if steps is not None:
            self.settings.steps = steps
        if strength is not None:
            self.settings.strength = float(strength)
        if seed is not None:
            self.settings.seed = seed
        self._inbox.put_command(lambda s: s.set_params(steps, strength, seed),
                                ("set_params", {"steps": steps, "strength": strength, "seed": seed}))
        self._publish({"type": "params_changed", "steps": self.settings.steps, "strength": self.settings.strength, "seed": self.settings.seed})
        return {}

    def _refresh_packs(self) -> dict[str, S.StylePack]:
        """Read the style folders again (a pack installed while the daemon runs shows up
        at once); a broken pack is logged once and left out."""
        catalog = S.load_catalog(self.config.styles)
        for error in catalog.errors:
            if str(error) not in self._reported:
                self._reported.add(str(error))
                log.warning("style pack skipped: %s", error)
        return catalog.packs

    def _op_load_preset(self, name: str) -> dict[str, Any] | _Deferred:
        packs = self._refresh_packs()
        pack = packs.get(name)
        if pack is None:
            raise P.ProtocolError(P.ERR_INVALID, f"no preset {name!r}; known: {', '.join(sorted(packs))}")
        wanted = None if pack.weights is None else (pack.name, pack.weights)
        if wanted == self._weights:
            return self._apply_pack(pack, _KEEP_WEIGHTS)
        prepare = getattr(self.stylizer, "prepare_weights", None)
        if prepare is None:
            raise P.ProtocolError(P.ERR_INVALID, f"preset {name!r} has fine-tuned weights, but the stylizer {self.stylizer.name!r} cannot load weights")
        if self._weights_worker is None:
            self._weights_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reverie-weights")

        def refused(exc: BaseException) -> P.ProtocolError:
            log.warning("preset %r refused: its weights do not load: %s", name, exc)
            detail = " ".join(str(exc).split())
            return P.ProtocolError(P.ERR_INVALID, f"preset {name!r}: its weights ({pack.weights}) do not load, "
                                   f"the look is unchanged: {type(exc).__name__}: {detail}"[:600])

        return _Deferred(self._weights_worker.submit(prepare, pack.weights), lambda prepared: self._apply_pack(pack, prepared), refused)

    def _apply_pack(self, pack: S.StylePack, prepared: Any) -> dict[str, Any]:
        """Weights (once prepared), then settings and prompt: the frame loop runs them in
        this order, between two frames."""
        if prepared is not _KEEP_WEIGHTS:
            self._inbox.put_command(lambda s: s.use_weights(prepared),
                                    ("use_weights", {"preset": pack.name, "weights": None if pack.weights is None else str(pack.weights)}))
            self._weights = None if pack.weights is None else (pack.name, pack.weights)
        self._preset = pack.name
        self._op_set_params(pack.steps, pack.strength, pack.seed)
        self._op_set_prompt(pack.prompt, pack.transition_frames)
        return {"preset": pack.describe()}

    def _op_list_presets(self) -> dict[str, Any]:
        return {"presets": [p.describe() for p in self._refresh_packs().values()]}

    def _op_reset_history(self, full: bool = False) -> dict[str, Any]:
        if full:
            self._inbox.put_command(restart_stylizer, ("reset_history", {"full": True}))
        else:
            self._inbox.put_command(lambda s: s.reset_history(), ("reset_history", {}))
        return {}

    def _op_record_start(self, path: str, max_frames: int | None = None) -> dict[str, Any]:
        if self._tap is not None and self._tap.state in ("recording", "finishing"):
            raise P.ProtocolError(P.ERR_INVALID, f"already recording to {self._tap.path} ({self._tap.state}): record_stop first")
        target = Path(path)
        if not target.is_absolute() or "\x00" in path:
            raise P.ProtocolError(P.ERR_INVALID, f"record_start.path must be an absolute path (the daemon's working directory is not yours), got {path[:200]!r}")
        try:
            exists, folder = target.exists(), target.parent.is_dir()
        except OSError as exc:  # a name too long, a folder not searchable
            raise P.ProtocolError(P.ERR_INVALID, f"cannot write {path[:200]}: {exc.strerror or exc}") from None
        if exists:
            raise P.ProtocolError(P.ERR_INVALID, f"{path[:200]} exists: a capture never overwrites a file")
        if not folder:
            raise P.ProtocolError(P.ERR_INVALID, f"no folder {str(target.parent)[:200]} to write the capture in")
        try:
            tap = CaptureTap(target, self._capture_header(), max_frames=max_frames)
        except OSError as exc:
            raise P.ProtocolError(P.ERR_INVALID, f"cannot write {path[:200]}: {exc.strerror or exc}") from None
        self._tap = tap
        self._inbox.put_command(lambda s: self._start_capture(s, tap))
        return {"capture": tap.status()}

    def _op_record_stop(self) -> dict[str, Any]:
        tap = self._tap
        if tap is None or tap.state != "recording":
            raise P.ProtocolError(P.ERR_INVALID, "not recording" + (f" (the last capture, {tap.path}, is {tap.state})" if tap else ""))
        self._inbox.put_command(lambda s: tap.stop())  # after the frames the frame loop has taken
        return {"capture": tap.status()}

    def _capture_header(self) -> dict[str, Any]:
        """What a capture says about where it was recorded (docs/capture.md, "Header")."""
        with self._session_lock:
            ring = self._session.ring if self._session is not None else None
            size = list(ring.size) if ring is not None else None
            motion = None if ring is None else ("f16" if ring.layout.motion_format == P.MOTION_F16 else "f32")
        return {
            "stylizer": self.stylizer.name,
            "stylizer_identity": stylizer_identity(self.stylizer),
            "settings": asdict(self.settings),
            "size": size,
            "motion": motion,
            "protocol": [P.PROTOCOL_MAJOR, P.PROTOCOL_MINOR],
            "created_unix": time.time(),
            "machine": {"host": platform.node(), "arch": platform.machine(), "system": platform.system(),
                        "python": platform.python_version()},
        }

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
            "stylizer_counters": dict(getattr(self.stylizer, "counters", None) or {}),
            "stylizer_identity": stylizer_identity(self.stylizer),
            "capture": None if self._tap is None else self._tap.status(),
            "events": self.config.endpoints.events,
            "session": game,
            "settings": asdict(self.settings),
            "preset": self._preset,
            "weights": None if self._weights is None else self._weights[0],
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
        self._inbox.retire(ring)
        if ring.device is not None:
            self._closing.append(ring)  # the reply waits for it (_await_closing)
        session.ring = None

    def _end_session(self, session: _Session, reason: str) -> None:
        self._retire_ring(session)
        if self._session is session:
            self._session = None
        self._publish({"type": "session_closed", "client": session.client, "pid": session.pid, "reason": reason})


def _wait(future: "Future[Any]", timeout_s: float) -> bool:
    """Wait up to `timeout_s` for `future`; True when it is done."""
    try:
        future.exception(timeout=timeout_s)
    except TimeoutError:
        return False
    return True
