"""The game side in Python: connect, submit frames, read the newest output, steer the style.

    with Client() as game:
        game.set_prompt("winter night", transition_frames=30)
        while running:
            game.submit(color, depth, motion, reset=camera_cut)
            shown = game.latest_output()  # newest stylized frame, or None at first

`submit` never waits for the model: it writes into a free slot and returns. When the
daemon goes away, calls raise `DaemonUnavailable` quickly; the next `submit` after it
is back reconnects on its own. One client is used from one thread.

`Client(transport="cuda")` keeps the planes on the GPU (protocol 1.2, `cuda_ipc`): the
ring is one allocation of the game's that the daemon maps by handle; `submit` takes torch
or cupy CUDA tensors and copies them device to device on the current stream, and outputs
are CUDA tensors. `copies` counts the plane copies the client makes, by kind.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import zmq

from . import control as C
from . import protocol as P
from .shm_ring import FrameRing, RingError, pid_alive

if TYPE_CHECKING:
    import torch

    from .cuda_ipc import DeviceRingExport

log = logging.getLogger(__name__)
_KEPT_UNTIL_EXIT: list = []  # CUDA rings a live daemon may still map: never freed by this process (see Client.close)


LOAD_PRESET_TIMEOUT_S = 120.0  # a pack with weights builds a backend before the reply (docs/protocol.md, load_preset)


class ReverieError(Exception):
    """Base of everything the client raises on purpose."""


class DaemonUnavailable(ReverieError):
    """The daemon is not running or not answering; the call did not take effect."""


class ControlError(ReverieError):
    """The daemon refused a request; `code` is one of protocol.ERR_*."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


class FrameFormatError(ReverieError, ValueError):
    """A plane has the wrong shape or dtype."""


class FrameRejected(ReverieError):
    """The daemon rejected a frame (NaN/inf in depth or motion, or the stylizer failed)."""


class FrameDropped(ReverieError):
    """A newer frame replaced this one before the daemon took it."""


class TransportUnavailable(ReverieError):
    """The CUDA transport cannot run in this process (no cupy, no GPU, a CPU torch)."""


@dataclass
class Output:
    frame_id: int
    image: Any  # (H, W, 4) uint8, a copy the caller owns: numpy, or a torch CUDA tensor on a CUDA ring
    latency_ms: float  # game submit to output written, by the daemon's clock (same host)


class ControlClient:
    """Requests to a daemon without a game session: prompts, settings, status, events.
    What `reverie prompt`, `reverie status` and the console use; works over CURVE too."""

    def __init__(self, control: str | None = None, *, timeout_s: float = 2.0, curve_keys: Path | None = None):
        self.control_endpoint = control or C.Endpoints.default().control
        self.timeout_s = timeout_s
        self.curve_keys = curve_keys
        self._context = zmq.Context()
        self._req: zmq.Socket | None = None
        self._events_endpoint: str | None = None

    def close(self) -> None:
        self._reset_socket()
        self._context.destroy(linger=0)  # also closes an events() stream still open

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _socket(self) -> zmq.Socket:
        """The REQ socket, made on first use and after every timeout."""
        if self._req is None:
            self._req = self._context.socket(zmq.REQ)
            self._req.linger = 0
            if self.curve_keys is not None:
                C.secure_client(self._req, self.curve_keys)
            self._req.connect(self.control_endpoint)
        return self._req

    def _reset_socket(self) -> None:
        """Drop a REQ socket whose reply never came (the lazy-pirate pattern)."""
        if self._req is not None:
            self._req.close(linger=0)
            self._req = None

    def _unavailable(self) -> DaemonUnavailable:
        return DaemonUnavailable(
            f"no reply from the Reverie daemon at {self.control_endpoint} (is `reverie serve` running?)"
        )

    def _read_reply(self) -> dict[str, Any]:
        try:
            reply = C.unpack(self._req.recv_multipart(), limit=P.MAX_SOCKET_BYTES)
        except P.ProtocolError as exc:
            raise ControlError(exc.code, f"garbled reply: {exc.message}") from None
        if not isinstance(reply, dict) or not reply.get("ok"):
            err = reply.get("error", {}) if isinstance(reply, dict) else {}
            raise ControlError(err.get("code", "?"), err.get("message", "?"))
        return reply

    def _request(self, msg: dict[str, Any], timeout_s: float | None = None) -> dict[str, Any]:
        """One request/reply, or DaemonUnavailable after the timeout: a dead daemon never
        wedges the client."""
        sock = self._socket()
        sock.send(C.pack({"v": P.PROTOCOL_MAJOR, **msg}))
        try:
            answered = sock.poll(int(1000 * (timeout_s or self.timeout_s)))
        except BaseException:  # e.g. Ctrl-C: a REQ socket left mid-request refuses all later sends
            self._reset_socket()
            raise
        if not answered:
            self._reset_socket()
            raise self._unavailable()
        return self._read_reply()

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        """Any control op by name (see protocol.OPS); returns the reply map."""
        return self._request({"op": op, **fields})

    def set_prompt(self, text: str, transition_frames: int = 0) -> None:
        self._request({"op": "set_prompt", "text": text, "transition_frames": transition_frames})

    def set_params(self, steps: int | None = None, strength: float | None = None, seed: int | None = None) -> None:
        fields = {k: v for k, v in (("steps", steps), ("strength", strength), ("seed", seed)) if v is not None}
        self._request({"op": "set_params", **fields})

    def load_preset(self, name: str, timeout_s: float | None = None) -> dict[str, Any]:
        """Load a style pack; the reply waits while a pack's fine-tuned weights load (the
        first time, an ONNX export: seconds), so the wait is at least LOAD_PRESET_TIMEOUT_S."""
        return self._request(
            {"op": "load_preset", "name": name}, timeout_s or max(self.timeout_s, LOAD_PRESET_TIMEOUT_S)
        )["preset"]

    def list_presets(self) -> list[dict[str, Any]]:
        return self._request({"op": "list_presets"})["presets"]

    def reset_history(self, full: bool = False) -> None:
        """Drop the stylizer's history; `full` restarts it (protocol 1.3, what a capture starts with)."""
        self._request({"op": "reset_history", **({"full": True} if full else {})})

    def record_start(self, path: str | Path, max_frames: int | None = None) -> dict[str, Any]:
        """Have the daemon record the session into `path` (docs/capture.md): a bare file name
        goes into the daemon's captures folder, a path must be in a folder it allows. The
        capture's status."""
        text = str(path)
        fields = {"path": text if "/" not in text else str(Path(text).absolute())}
        if max_frames is not None:
            fields["max_frames"] = max_frames
        return self._request({"op": "record_start", **fields})["capture"]

    def record_stop(self, wait_s: float = 60.0) -> dict[str, Any]:
        """Stop recording and wait (up to `wait_s`) until the daemon has written the index:
        the capture's status, `state` "finished" when the file is complete."""
        self._request({"op": "record_stop"})
        return self.wait_capture(wait_s)

    def wait_capture(self, wait_s: float = 60.0) -> dict[str, Any]:
        """Poll status until the latest capture is finished or failed, or `wait_s` passed."""
        deadline = time.monotonic() + wait_s
        while True:
            capture = self.status()["capture"]
            if capture is None or capture["state"] in ("finished", "failed") or time.monotonic() > deadline:
                return capture
            time.sleep(0.05)

    def status(self) -> dict[str, Any]:
        return self._request({"op": "status"})

    def console(self, line: str, transition_frames: int = 0) -> dict[str, Any]:
        """One console line run by the daemon (protocol 1.4): {"text", "quit",
        "transition_frames"}; a `/preset NAME` line waits like `load_preset`."""
        slow = line.strip().startswith("/preset ")
        timeout = max(self.timeout_s, LOAD_PRESET_TIMEOUT_S) if slow else None
        return self._request({"op": "console", "line": line, "transition_frames": transition_frames}, timeout)

    def events_endpoint(self) -> str:
        """Where to subscribe to the daemon's events (asks the daemon if no handshake told)."""
        bound = self._events_endpoint or self._request({"op": "status"})["events"]
        return _connectable(bound, self.control_endpoint)

    def events(self, timeout_s: float = 1.0) -> Iterator[dict[str, Any]]:
        """Subscribe to the daemon's event stream; yields events until `timeout_s` of silence.
        Without a handshake the events endpoint is taken from the daemon's status."""
        endpoint = self.events_endpoint()
        sub = self._context.socket(zmq.SUB)
        sub.linger = 0
        if self.curve_keys is not None:
            C.secure_client(sub, self.curve_keys)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(endpoint)
        try:
            while sub.poll(int(timeout_s * 1000)):
                try:
                    event = C.unpack(sub.recv_multipart())
                except P.ProtocolError:
                    continue  # one bad event must not end the stream
                yield event
        finally:
            sub.close(linger=0)


class Client(ControlClient):
    """A game session with a Reverie daemon. See the module docstring."""

    def __init__(
        self,
        control: str | None = None,
        *,
        name: str = "python",
        timeout_s: float = 2.0,
        slots: int = P.DEFAULT_SLOTS,
        curve_keys: Path | None = None,
        takeover: bool = False,
        liveness_timeout_s: float = 1.0,
        reconnect_interval_s: float = 0.5,
        transport: str = P.TRANSPORT_SHM,
    ):
        if transport not in P.TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(P.TRANSPORTS)}, got {transport!r}")
        if transport == P.TRANSPORT_CUDA:
            from .cuda_ipc import cuda_unavailable_reason  # cupy and torch load here only

            reason = cuda_unavailable_reason()
            if reason is not None:
                raise TransportUnavailable(f"the cuda transport cannot run in this process: {reason}")
        super().__init__(control, timeout_s=timeout_s, curve_keys=curve_keys)
        self.transport = transport
        self.copies = {
            "host": 0,
            "device": 0,
        }  # plane copies made by this client: through host memory, device to device
        self._device: DeviceRingExport | None = None  # a CUDA ring's planes (transport "cuda")
        self._orphans: list[DeviceRingExport] = []  # allocations a live daemon may still map
        self.name = name
        self.slots = slots
        self.takeover = takeover
        self.liveness_timeout_s = liveness_timeout_s
        self.reconnect_interval_s = reconnect_interval_s
        self._frames: zmq.Socket | None = None
        self._session: str | None = None
        self._ring: FrameRing | None = None
        self._generation = 0
        self._owned: set[int] = set()  # slots the game may write
        self._in_flight: dict[int, tuple[int, int]] = {}  # slot -> (seq, frame_id)
        self._newest_done: tuple[int, int] | None = None  # (slot, frame_id) of newest output
        self._results: dict[int, tuple[str, str | None]] = {}  # frame_id -> (event, error), recent
        self._seq = 0
        self._skipped = 0  # frames skipped since the last notice (no free slot)
        self._pending_reset = False  # a skipped frame's reset flag, carried to the next
        self._next_frame_id = 1
        self._last_attempt = -1e9
        self._hello_sent_at: float | None = None  # a hello awaiting its reply
        self._previous_session: str | None = None  # ours before a drop, to be replaced
        self._last_heartbeat = (0, 0.0)  # (heartbeat_ns seen, local time it changed)
        self._last_beat = time.monotonic()  # when this game last wrote its own heartbeat
        self.session_timeout_s = P.DEFAULT_SESSION_TIMEOUT_S  # the daemon's, from its hello reply
        self.last_error: str | None = None
        try:
            self._connect()
        except BaseException:
            super().close()
            raise

    # ------------------------------------------------------------ lifecycle
    def _connect(self, wait: bool = True) -> None:
        """Handshake. With wait=False the hello is sent once and its reply picked up by a
        later call, so a game never blocks while the daemon is down or restarting."""
        now = time.monotonic()
        if self._hello_sent_at is None:
            if not wait and now - self._last_attempt < self.reconnect_interval_s:
                raise DaemonUnavailable(f"the Reverie daemon at {self.control_endpoint} is unavailable; retrying")
            self._last_attempt = now
            hello = {
                "v": P.PROTOCOL_MAJOR,
                "op": "hello",
                "client": self.name,
                "pid": os.getpid(),
                "takeover": self.takeover,
            }
            if self._previous_session is not None:
                hello["replaces"] = self._previous_session  # the daemon may still hold it
            self._socket().send(C.pack(hello))
            self._hello_sent_at = now
        if not self._req.poll(int(1000 * self.timeout_s) if wait else 0):
            if wait or now - self._hello_sent_at > self.timeout_s:
                self._reset_socket()
                self._hello_sent_at = None
            raise self._unavailable()
        self._hello_sent_at = None
        reply = self._read_reply()
        self._free_orphans()  # the daemon closed our old session's CUDA ring before replying
        self._session = reply["session"]
        self._events_endpoint = reply["events"]
        self.session_timeout_s = float(reply.get("session_timeout_s", P.DEFAULT_SESSION_TIMEOUT_S))
        frames = self._context.socket(zmq.DEALER)
        frames.linger = 0
        frames.sndhwm = 64
        frames.setsockopt(zmq.IDENTITY, self._session.encode())
        frames.connect(reply["frames"])
        self._frames = frames

    def _request(self, msg: dict[str, Any], timeout_s: float | None = None) -> dict[str, Any]:
        if self._hello_sent_at is not None:  # a REQ socket allows one request at a time
            self._reset_socket()
            self._hello_sent_at = None
        return super()._request(msg, timeout_s)

    def _drop_session(self) -> None:
        """Forget the daemon's session and ring (daemon gone or restarted)."""
        if self._ring is not None:
            daemon_pid = int(self._ring.header["daemon_pid"])
            daemon_dead = not pid_alive(daemon_pid)
            self._ring.close()
            if self._device is not None:
                self._orphans.append(self._device)  # freed once no daemon can map it
                self._device = None
            if daemon_dead:
                self._free_orphans()  # a dead importer's mappings died with it
        if self._frames is not None:
            self._frames.close(linger=0)
        self._previous_session = self._session or self._previous_session
        self._ring = self._frames = self._session = None
        self._owned, self._in_flight, self._newest_done = set(), {}, None

    def _free_orphans(self) -> None:
        """Free CUDA rings the daemon no longer maps (after a reply that says so, or its death)."""
        orphans, self._orphans = self._orphans, []
        for export in orphans:
            export.close()

    def close(self) -> None:
        """Say bye (best effort) and release everything. A CUDA ring is freed after the
        reply to bye (the daemon has unmapped it then) or once the daemon is dead; a live
        daemon that did not confirm may still map it, and freeing memory another process
        maps is undefined behaviour there, so it is kept until this process exits."""
        confirmed = False
        if self._session is not None:
            try:
                self._request({"op": "bye", "session": self._session}, timeout_s=min(self.timeout_s, 0.5))
                confirmed = True
            except ReverieError:
                pass
        self._drop_session()
        if confirmed:
            self._free_orphans()
        elif self._orphans:
            log.warning(
                "the daemon did not confirm it unmapped %d CUDA ring(s): kept until this process exits",
                len(self._orphans),
            )
            _KEPT_UNTIL_EXIT.extend(self._orphans)
            self._orphans = []
        super().close()

    # ------------------------------------------------------------ frames
    def submit(
        self,
        color: Any,
        depth: Any,
        motion: Any,
        *,
        reset: bool = False,
        jitter: tuple[float, float] = (0.0, 0.0),
        near: float = 0.0,
        far: float = 0.0,
        fov_y: float = 0.0,
    ) -> int:
        """Copy one frame into the ring and hand it to the daemon; return its frame id.

        color (H, W, 4) uint8 sRGB, depth (H, W) float32 meters, motion (H, W, 2)
        float32 or float16 pixels (previous position = current + motion). A new size or
        motion dtype re-opens the ring; NaN/inf are rejected by the daemon (see
        `wait_output`, `last_error`). numpy arrays; on a CUDA ring torch or cupy CUDA
        tensors (numpy is uploaded, one host copy per plane)."""
        if self.transport == P.TRANSPORT_CUDA:
            color, depth, motion = _as_torch(color, depth, motion)
        height, width, motion_format = _check_planes(color, depth, motion, tensors=self.transport == P.TRANSPORT_CUDA)
        ring = self._ensure_ring(width, height, motion_format, _device_index(color))
        frame_id, self._next_frame_id = self._next_frame_id, self._next_frame_id + 1
        slot = self._free_slot()
        if slot is None:
            self._skipped += 1
            self._pending_reset |= reset  # a camera cut must not be lost with the frame
            self._record(frame_id, "dropped", "skipped by the game: every slot was with the daemon")
            return frame_id
        views = ring.slots[slot]
        if self._device is not None:
            self._device.write_inputs(slot, color, depth, motion)  # on the current stream, then the slot's event
            for plane in (color, depth, motion):
                self.copies["device" if plane.is_cuda else "host"] += 1
        else:
            np.copyto(views.color, color)
            np.copyto(views.depth, depth)
            np.copyto(views.motion, motion)
            self.copies["host"] += 3
        self._seq += 1
        header = views.header
        header["flags"] = P.FLAG_RESET if reset or self._pending_reset else 0
        self._pending_reset = False
        header["seq"] = self._seq
        header["frame_id"] = frame_id
        header["jitter_x"], header["jitter_y"] = jitter
        header["near"], header["far"], header["fov_y"] = near, far, fov_y
        header["error_code"] = P.FRAME_OK
        header["t_submit_ns"] = time.monotonic_ns()
        header["state"] = P.SLOT_SUBMITTED  # last: the inputs are complete
        notice = {"gen": self._generation, "slot": slot, "seq": self._seq}
        if self._skipped:
            notice["skipped"] = self._skipped  # counted among the daemon's dropped frames
        try:
            self._frames.send(C.pack(notice), zmq.NOBLOCK)
        except zmq.Again:
            header["state"] = P.SLOT_EMPTY
            raise DaemonUnavailable("the daemon is not taking frames (notice queue full)") from None
        self._skipped = 0
        self._owned.discard(slot)
        self._in_flight[slot] = (self._seq, frame_id)
        return frame_id

    def latest_output(self, out: Any = None) -> Output | None:
        """The newest stylized frame so far (a copy, or written into `out`), or None. On a
        CUDA ring a torch CUDA tensor, ready in order on the current stream (`out` may be
        a CUDA or a host tensor)."""
        self._drain_notices(0)
        if self._ring is not None:
            self._beat()
        if self._newest_done is None or self._ring is None:
            return None
        slot, frame_id = self._newest_done
        views = self._ring.slots[slot]
        if self._device is not None:
            output = self._device.output(slot)  # the current stream waits for the daemon's event
            image = output.clone() if out is None else out.copy_(output)
            self.copies["device" if image.is_cuda else "host"] += 1
        elif out is None:
            image = views.output.copy()
            self.copies["host"] += 1
        else:
            np.copyto(out, views.output)
            image = out
            self.copies["host"] += 1
        header = views.header
        return Output(frame_id, image, (int(header["t_done_ns"]) - int(header["t_submit_ns"])) / 1e6)

    def wait_output(self, frame_id: int, timeout_s: float | None = None, out: Any = None) -> Output:
        """Block until this frame's output is ready (tests, benchmarks, offline tools);
        the image is a copy, or written into `out`."""
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else self.timeout_s)
        while True:
            result = self._results.get(frame_id)
            if result is not None:
                event, error = result
                if event == "done":
                    newest = self.latest_output(out)
                    if newest is not None and newest.frame_id == frame_id:
                        return newest
                    raise FrameDropped(f"frame {frame_id} was done but a newer output replaced it")
                if event == "dropped":
                    raise FrameDropped(
                        f"frame {frame_id}: {error or 'replaced by a newer frame before the daemon took it'}"
                    )
                raise FrameRejected(f"frame {frame_id}: {error}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._check_daemon()
                raise TimeoutError(f"frame {frame_id}: no output within the timeout")
            self._drain_notices(min(remaining, 0.1))
            self._check_daemon()

    # ------------------------------------------------------------ internals
    def _ensure_ring(self, width: int, height: int, motion_format: int, device: int | None = None) -> FrameRing:
        """The session and a ring of this size, (re)connecting if needed."""
        if self._session is not None and self._ring is not None:
            self._check_daemon()
        if self._session is None:
            self._connect(wait=False)
        ring = self._ring
        same_device = self._device is None or device is None or self._device.device == device
        if (
            ring is None
            or ring.size != (width, height)
            or ring.layout.motion_format != motion_format
            or not same_device
        ):
            motion = "f16" if motion_format == P.MOTION_F16 else "f32"
            request = {
                "op": "open_ring",
                "session": self._session,
                "width": width,
                "height": height,
                "motion": motion,
                "slots": self.slots,
            }
            export = None
            if self.transport == P.TRANSPORT_CUDA:
                from .cuda_ipc import DeviceRingExport

                export = DeviceRingExport(P.ring_layout(width, height, self.slots, motion_format), device)
                request.update(
                    transport=P.TRANSPORT_CUDA,
                    cuda_device=export.uuid,
                    cuda_memory=export.memory_handle,
                    cuda_bytes=export.layout.total_bytes,
                    cuda_events=export.event_handles,
                )
            try:
                reply = self._request(request)
                new_ring = FrameRing.attach(reply["segment"])
                if new_ring.device != (export is not None):
                    new_ring.close()
                    raise RingError(f"segment {reply['segment']} is not a {self.transport} ring")
                if export is not None:
                    export.connect(reply["cuda_events"])
            except ControlError as exc:
                if export is not None:
                    export.close()  # refused: the daemon opened nothing, or closed what it opened
                if exc.code == P.ERR_SESSION:  # the daemon restarted between calls
                    self._drop_session()
                raise
            except (RingError, DaemonUnavailable):
                if export is not None:
                    self._orphans.append(export)  # the daemon may have mapped it: freed with the session
                self._drop_session()
                raise
            if self._ring is not None:
                self._ring.close()
            if self._device is not None:
                self._device.close()  # the daemon closed the old ring before this reply
            self._device = export
            self._ring, self._generation = new_ring, reply["generation"]
            self._owned = set(range(new_ring.layout.slot_count))
            self._in_flight, self._newest_done = {}, None
            self._last_heartbeat = (int(new_ring.header["heartbeat_ns"]), time.monotonic())
            self._beat()
            ring = new_ring
        return ring

    def _check_daemon(self) -> None:
        """Raise DaemonUnavailable if the daemon died or stopped beating; forget the session."""
        ring = self._ring
        if ring is None:
            return
        now = time.monotonic()
        if now - self._last_beat > self.session_timeout_s:
            # This game was silent past the daemon's limit: its session is gone (or about
            # to be); the next call says hello again instead of feeding a closed ring.
            self._drop_session()
            return
        self._beat()
        beat = int(ring.header["heartbeat_ns"])
        if beat != self._last_heartbeat[0]:
            self._last_heartbeat = (beat, now)
            return
        if now - self._last_heartbeat[1] > self.liveness_timeout_s:
            pid = int(ring.header["daemon_pid"])
            why = "exited" if not pid_alive(pid) else f"silent for {now - self._last_heartbeat[1]:.1f} s"
            self._drop_session()
            self._last_attempt = now
            raise DaemonUnavailable(f"the Reverie daemon (pid {pid}) {why}; will reconnect")

    def _beat(self) -> None:
        """The game's heartbeat: the daemon closes a session whose beat stops (docs/protocol.md)."""
        self._ring.header["game_beat_ns"] = time.monotonic_ns()
        self._last_beat = time.monotonic()

    def _free_slot(self) -> int | None:
        """A slot the game owns, never the one holding the newest output; oldest first.
        None when every slot is with the daemon: the game skips this frame rather than wait."""
        self._drain_notices(0)
        newest = self._newest_done[0] if self._newest_done else None
        free = [s for s in self._owned if s != newest]
        if not free:
            return None
        return min(free, key=lambda s: int(self._ring.slots[s].header["seq"]))

    def _drain_notices(self, timeout_s: float) -> None:
        """Apply the daemon's per-frame notices (done / dropped / failed)."""
        frames = self._frames
        if frames is None:
            return
        wait_ms = int(timeout_s * 1000)
        while frames.poll(wait_ms):
            wait_ms = 0
            try:
                notice = C.unpack(frames.recv_multipart())
                gen, slot, seq, event = notice["gen"], notice["slot"], notice["seq"], notice["ev"]
            except (P.ProtocolError, KeyError, TypeError):
                continue
            if gen != self._generation or self._in_flight.get(slot, (None,))[0] != seq:
                continue  # a ring since replaced, or a stale notice
            _, frame_id = self._in_flight.pop(slot)
            self._owned.add(slot)
            error = notice.get("error")
            self._record(frame_id, event, error)
            if event == "done" and (self._newest_done is None or frame_id > self._newest_done[1]):
                self._newest_done = (slot, frame_id)
            elif event == "failed":
                self.last_error = f"frame {frame_id}: {error}"

    def _record(self, frame_id: int, event: str, error: str | None = None) -> None:
        """Remember how a recent frame ended, for wait_output."""
        self._results[frame_id] = (event, error)
        if len(self._results) > 256:
            del self._results[min(self._results)]


def _connectable(endpoint: str, control: str) -> str:
    """A bound endpoint as a client can dial it: a wildcard host (tcp://*:N, tcp://0.0.0.0:N)
    becomes the host this client reached the control socket at."""
    scheme, _, rest = endpoint.partition("://")
    host, _, port = rest.rpartition(":")
    if scheme != "tcp" or host not in ("*", "0.0.0.0", "[::]"):
        return endpoint
    control_host = control.partition("://")[2].rpartition(":")[0]
    return f"tcp://{control_host or '127.0.0.1'}:{port}"


def _as_torch(*planes: Any) -> list[torch.Tensor]:
    """The planes as torch tensors without a copy: torch as is, cupy (or any DLPack CUDA
    array) by DLPack, numpy over its memory (uploaded by the copy into the ring)."""
    import torch

    out = []
    for array in planes:
        if isinstance(array, np.ndarray):
            array = torch.from_numpy(array)
        elif not isinstance(array, torch.Tensor) and hasattr(array, "__dlpack__"):
            array = torch.from_dlpack(array)
        out.append(array)
    return out


def _device_index(plane: Any) -> int | None:
    """The CUDA device of a torch tensor, None for host data."""
    device = getattr(plane, "device", None)
    return device.index if getattr(device, "type", None) == "cuda" else None


def _check_planes(color: Any, depth: Any, motion: Any, tensors: bool = False) -> tuple[int, int, int]:
    """(height, width, motion format) or FrameFormatError naming the plane at fault: numpy
    arrays on the host transport, torch tensors (from _as_torch) on a CUDA ring."""
    expected = "a torch or cupy tensor, or a numpy array" if tensors else "a numpy array"
    for name, array in (("color", color), ("depth", depth), ("motion", motion)):
        if not (_is_torch(array) if tensors else isinstance(array, np.ndarray)):
            raise FrameFormatError(f"{name} must be {expected}, got {type(array).__name__}")
    names = _dtype_name
    if color.ndim != 3 or color.shape[2] != 4 or names(color) != "uint8":
        raise FrameFormatError(f"color must be (H, W, 4) uint8 RGBA, got {tuple(color.shape)} {names(color)}")
    height, width = color.shape[:2]
    if not (8 <= width <= P.MAX_SIDE and 8 <= height <= P.MAX_SIDE):
        raise FrameFormatError(f"frame size {width}x{height} is outside 8..{P.MAX_SIDE} per side")
    if tuple(depth.shape) != (height, width) or names(depth) != "float32":
        raise FrameFormatError(
            f"depth must be ({height}, {width}) float32 meters, got {tuple(depth.shape)} {names(depth)}"
        )
    if tuple(motion.shape) != (height, width, 2) or names(motion) not in ("float32", "float16"):
        raise FrameFormatError(
            f"motion must be ({height}, {width}, 2) float32 or float16 pixels,"
            f" got {tuple(motion.shape)} {names(motion)}"
        )
    if tensors:
        devices = {str(plane.device) for plane in (color, depth, motion) if plane.is_cuda}
        if len(devices) > 1:
            raise FrameFormatError(f"color, depth and motion must be on one GPU, got {sorted(devices)}")
    return height, width, P.MOTION_F16 if names(motion) == "float16" else P.MOTION_F32


def _is_torch(array: Any) -> bool:
    return type(array).__module__.split(".")[0] == "torch" and hasattr(array, "is_cuda")


def _dtype_name(plane: Any) -> str:
    """The dtype of a numpy array or a torch tensor by name ("uint8", "float32", ...)."""
    return str(plane.dtype).removeprefix("torch.")
