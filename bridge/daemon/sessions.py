"""The game session: hello, its ring, bye, the heartbeats and noticing a game that is gone.

One game at a time. Whether the game is still there never rests on what it says alone:
on ipc:// the session's process is the hello connection's peer (SO_PEERCRED), watched by
a pidfd that a reused pid cannot fool; and a session from which no sign of life came for
`session_timeout_s` (its `game_beat_ns` in the segment, a frame notice, a control request
from its process or with its token) is closed. A session's ring lives in the host segment, or on a CUDA ring
(transport "cuda") in the game's GPU memory, opened by IPC handle (`cuda_ipc`). A ring is
closed by the frame loop (after a frame of it in progress); a request that ended a CUDA
ring is answered only once it is closed, so the game may free its allocation once it has
the reply (`await_closing`).
"""

from __future__ import annotations

import logging
import os
import secrets
import select
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from reverie.common.stylizer import DEVICE_CUDA, Stylizer

from .. import protocol as P
from ..shm_ring import FrameRing, SlotViews, pid_alive
from . import memory
from .control_server import Peer
from .inbox import Inbox
from .stats import Events

if TYPE_CHECKING:
    from ..cuda_ipc import DeviceRingImport

log = logging.getLogger("reverie.daemon")

_RING_ADVICE = "use fewer slots, a smaller size or f16 motion"


class Ring:
    """A session's ring: the host segment (headers, and the planes of a host ring) and,
    for a CUDA ring, the game's device planes opened by handle. Closed once, by the frame
    loop (or at shutdown); `closed` lets the I/O thread wait for that."""

    def __init__(self, host: FrameRing, device: DeviceRingImport | None = None):
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

    @property
    def motion(self) -> str:
        return "f16" if self.layout.motion_format == P.MOTION_F16 else "f32"

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


class ProcessWatch:
    """A process known by the kernel's word (peer credentials), watched through a pidfd:
    once it exits, a new process given the same pid does not make it look alive."""

    def __init__(self, pid: int):
        self.pid = pid
        self._fd: int | None = None
        self._gone = False
        try:
            self._fd = os.pidfd_open(pid)
        except ProcessLookupError:
            self._gone = True
        except OSError:  # no pidfd on this kernel: the pid probe is the fallback
            pass

    def alive(self) -> bool:
        if self._gone:
            return False
        if self._fd is None:
            return pid_alive(self.pid)
        exited, _, _ = select.select([self._fd], [], [], 0)  # a pidfd is readable once the process exits
        self._gone = bool(exited)
        return not self._gone

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass
class Session:
    token: str
    client: str
    stated_pid: int  # what hello said: reported, never trusted for liveness
    process: ProcessWatch | None  # the hello connection's peer; None without credentials (tcp)
    started_ns: int  # CLOCK_MONOTONIC at hello: frame timestamps before it are not this session's
    last_sign: float  # time.monotonic() of the last sign of life
    game_beat: int = 0  # the segment's game_beat_ns, last seen
    ring: Ring | None = None
    generation: int = 0

    @property
    def pid(self) -> int:
        return self.process.pid if self.process is not None else self.stated_pid


@dataclass(frozen=True)
class LiveRing:
    """What the frame loop checks a frame notice against: the session's ring right now."""

    token: bytes
    ring: Ring
    generation: int
    started_ns: int  # the session's start: frame timestamps before it are not to be believed


_MEMORY_HEADROOM = 64 << 20  # left to everything else when a ring is sized against free memory


def _ring_needs(width: int, height: int, slots: int, motion: str, layout: P.RingLayout) -> str:
    mib = layout.total_bytes / 2**20
    return f"a {width}x{height} ring of {slots} slots ({motion} motion) needs {mib:.0f} MiB of shared memory"


class Sessions:
    """Owns the session and its ring; its ops run on the I/O thread, `live_ring` is read by
    the frame loop (under the lock)."""

    def __init__(
        self, pid: int, stylizer: Stylizer, inbox: Inbox, events: Events, endpoints: Any, session_timeout_s: float
    ):
        self.pid = pid
        self.session_timeout_s = session_timeout_s
        self.stylizer = stylizer
        self._inbox = inbox
        self._events = events
        self._endpoints = endpoints
        self._lock = threading.Lock()
        self._session: Session | None = None
        self._closing: list[Ring] = []  # CUDA rings retired by the request being served
        self._cuda_reason: str | None = None  # why this process cannot serve CUDA rings, once known
        self._cuda_checked = False

    # ------------------------------------------------------------ ops (I/O thread)
    def hello(
        self, client: str, pid: int, takeover: bool = False, replaces: str | None = None, *, peer: Peer | None
    ) -> dict[str, Any]:
        # pid 0: the game is in a pid namespace this daemon cannot see; no credentials then.
        process = ProcessWatch(peer.pid) if peer is not None and peer.pid > 0 else None
        with self._lock:
            current = self._session
            if current is not None:
                # A game re-establishing its own session, or its process starting over
                # (an engine's script reload loses the token but keeps the pid).
                its_own = replaces == current.token
                if process is not None:  # the kernel's word, when there is one
                    its_own |= current.process is not None and process.pid == current.pid
                else:
                    its_own |= current.process is None and pid == current.stated_pid
                if self._gone(current) is None and not takeover and not its_own:
                    if process is not None:
                        process.close()
                    raise P.ProtocolError(
                        P.ERR_BUSY,
                        f"the daemon is serving {current.client[:100]} (pid {current.pid}); "
                        "pass takeover to replace it",
                    )
                self._end(current, "replaced by a new client")
            session = Session(
                token=secrets.token_hex(8),
                client=client,
                stated_pid=pid,
                process=process,
                started_ns=time.monotonic_ns(),
                last_sign=time.monotonic(),
            )
            self._session = session
        self._inbox.put_command(lambda s: s.reset_history(), ("reset_history", {"reason": "hello"}))
        self._events.publish({"type": "session_opened", "client": client, "pid": session.pid})
        return {
            "session": session.token,
            "version": [P.PROTOCOL_MAJOR, P.PROTOCOL_MINOR],
            "daemon_pid": self.pid,
            "frames": self._endpoints.frames,
            "events": self._endpoints.events,
            "stylizer": self.stylizer.name,
            "session_timeout_s": self.session_timeout_s,
        }

    def open_ring(
        self,
        session: str,
        width: int,
        height: int,
        motion: str = "f32",
        slots: int = P.DEFAULT_SLOTS,
        transport: str = P.TRANSPORT_SHM,
        **cuda: Any,
    ) -> dict[str, Any]:
        layout = P.check_open_ring(
            {"width": width, "height": height, "motion": motion, "slots": slots, "transport": transport, **cuda}
        )
        with self._lock:
            current = self._require(session)
            generation = current.generation + 1
        if layout.total_bytes > P.MAX_RING_BYTES:
            raise P.ProtocolError(
                P.ERR_INVALID,
                f"{_ring_needs(width, height, slots, motion, layout)}, more than the "
                f"limit of {P.MAX_RING_BYTES >> 20} MiB: {_RING_ADVICE}",
            )
        available = memory.available_bytes()
        host_bytes = layout.control_bytes if transport == P.TRANSPORT_CUDA else layout.total_bytes
        if available is not None and host_bytes > available - _MEMORY_HEADROOM:
            raise P.ProtocolError(
                P.ERR_INVALID,
                f"{_ring_needs(width, height, slots, motion, layout)}, and this daemon has "
                f"{available >> 20} MiB of memory available: {_RING_ADVICE}",
            )
        # Outside the lock: allocating and mapping a large ring takes a while, and the frame
        # loop keeps serving the old ring meanwhile. Sessions change on this thread only.
        device = self._open_device_ring(layout, **cuda) if transport == P.TRANSPORT_CUDA else None
        try:
            host = FrameRing.create(
                layout,
                daemon_pid=self.pid,
                session=int(current.token, 16),
                generation=generation,
                device=device is not None,
            )
        except OSError as exc:
            if device is not None:
                device.close()
            raise P.ProtocolError(
                P.ERR_INVALID,
                f"{_ring_needs(width, height, slots, motion, layout)} and allocating it "
                f"failed ({exc.strerror}): {_RING_ADVICE}",
            ) from None
        with self._lock:
            self._retire_ring(current)
            current.ring, current.generation = Ring(host, device), generation
        self._inbox.put_command(lambda s: s.reset_history(), ("reset_history", {"reason": "open_ring"}))
        reply = {
            "segment": host.path,
            "generation": generation,
            "width": width,
            "height": height,
            "slots": slots,
            "motion": motion,
            "transport": transport,
        }
        if device is not None:
            reply["cuda_events"] = device.event_handles
        return reply

    def bye(self, session: str) -> dict[str, Any]:
        with self._lock:
            self._end(self._require(session), "client said bye")
        return {}

    def _open_device_ring(
        self, layout: P.RingLayout, cuda_device: str, cuda_memory: bytes, cuda_bytes: int, cuda_events: list[bytes]
    ) -> DeviceRingImport:
        """Map the game's CUDA ring, or refuse (invalid) saying why this daemon cannot."""
        if self.stylizer.device != DEVICE_CUDA:
            raise P.ProtocolError(
                P.ERR_INVALID,
                f"this daemon has no CUDA device for its stylizer: "
                f"{self.stylizer.name!r} takes host frames only (its device is "
                f"{self.stylizer.device!r}); use transport 'shm'",
            )
        from .. import cuda_ipc  # cupy and torch load here, on the first CUDA ring only

        if not self._cuda_checked:
            self._cuda_reason, self._cuda_checked = cuda_ipc.cuda_unavailable_reason(), True
        if self._cuda_reason is not None:
            raise P.ProtocolError(
                P.ERR_INVALID, f"this daemon has no CUDA device: {self._cuda_reason}; use transport 'shm'"
            )
        ordinal = cuda_ipc.current_device()
        ours = cuda_ipc.gpu_uuid(ordinal)
        if cuda_device != ours:
            raise P.ProtocolError(
                P.ERR_INVALID,
                f"the ring is on GPU {cuda_device[:64]}, this daemon runs on GPU "
                f"{ours}; CUDA IPC needs one GPU for both",
            )
        try:
            return cuda_ipc.DeviceRingImport(layout, cuda_memory, cuda_events, ordinal)
        except Exception as exc:  # a stale or foreign handle: cupy's CUDARuntimeError
            message = f"cannot open the game's CUDA ring: {type(exc).__name__}: {exc}"
            raise P.ProtocolError(P.ERR_INVALID, message[:300]) from None

    # ------------------------------------------------------------ duties (I/O thread)
    def heartbeat(self) -> None:
        with self._lock:
            session = self._session
            if session is not None and session.ring is not None:
                session.ring.header["heartbeat_ns"] = time.monotonic_ns()

    def check_liveness(self) -> None:
        """Close the session of a game whose process is gone or that fell silent."""
        with self._lock:
            session = self._session
            reason = None if session is None else self._gone(session)
            if reason is not None:
                log.warning("game client %s (pid %d): %s; session closed", session.client, session.pid, reason)
                self._end(session, reason)

    def saw_request(self, peer: Peer | None, fields: dict[str, Any]) -> None:
        """A control request: a sign of life when it comes from the game's process or
        bears its token."""
        with self._lock:
            session = self._session
            if session is None:
                return
            from_its_process = peer is not None and session.process is not None and peer.pid == session.pid
            if fields.get("session") == session.token or from_its_process:
                session.last_sign = time.monotonic()

    def saw_notice(self) -> None:
        """A frame notice with the live session's token (frame loop; one attribute write)."""
        session = self._session
        if session is not None:
            session.last_sign = time.monotonic()

    def await_closing(self, timeout_s: float = 10.0) -> bool:
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

    def end_all(self, reason: str) -> None:
        with self._lock:
            if self._session is not None:
                self._end(self._session, reason)

    # ------------------------------------------------------------ reads (any thread)
    def live_ring(self) -> LiveRing | None:
        with self._lock:
            session = self._session
            if session is None or session.ring is None:
                return None
            return LiveRing(session.token.encode(), session.ring, session.generation, session.started_ns)

    def describe(self) -> dict[str, Any] | None:
        """The game as `status` shows it: None without a session."""
        with self._lock:
            session = self._session
            if session is None:
                return None
            ring = session.ring
            described = {
                "client": session.client,
                "pid": session.pid,
                "pid_verified": session.process is not None,
                "silent_s": round(time.monotonic() - session.last_sign, 3),
                "size": list(ring.size) if ring else None,
            }
            if session.stated_pid != session.pid:
                described["stated_pid"] = session.stated_pid
            return described

    def ring_format(self) -> tuple[list[int] | None, str | None]:
        """(size, motion format) of the live ring, (None, None) without one: a capture's header."""
        with self._lock:
            ring = self._session.ring if self._session is not None else None
            return (None, None) if ring is None else (list(ring.size), ring.motion)

    # ------------------------------------------------------------ under the lock
    def _require(self, token: str) -> Session:
        if self._session is None or self._session.token != token:
            raise P.ProtocolError(P.ERR_SESSION, "unknown or expired session: say hello again")
        return self._session

    def _retire_ring(self, session: Session) -> None:
        ring = session.ring
        if ring is None:
            return
        self._inbox.retire(ring)  # unmapped by the frame loop, once done with it
        if ring.device is not None:
            self._closing.append(ring)  # the reply waits for it (await_closing)
        session.ring = None

    def _gone(self, session: Session) -> str | None:
        """Why the session's game is gone ("client died", "silent for N s"), None while it
        is there. A change of its `game_beat_ns` since the last look is a sign of life."""
        now = time.monotonic()
        if session.ring is not None:
            beat = int(session.ring.header["game_beat_ns"])
            if beat != session.game_beat:
                session.game_beat, session.last_sign = beat, now
        if session.process is not None and not session.process.alive():
            return "client died"
        silent = now - session.last_sign
        return f"silent for {silent:.0f} s" if silent > self.session_timeout_s else None

    def _end(self, session: Session, reason: str) -> None:
        self._retire_ring(session)
        if session.process is not None:
            session.process.close()
        if self._session is session:
            self._session = None
        self._events.publish({"type": "session_closed", "client": session.client, "pid": session.pid, "reason": reason})
