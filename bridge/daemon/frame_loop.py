"""The per-frame path: newest frame first, never a queue.

Wait for submissions, keep only the newest (older ones are marked dropped at once), then
read slot, check, stylize, write slot, notify, top to bottom in `process`. Between frames
it runs the stylizer commands the I/O thread queued (`Inbox`) and closes retired rings.
On a CUDA ring the planes are the game's GPU memory; the path is the same, only the views
and the NaN/inf check differ.
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import zmq

from reverie.common.stylizer import Frame, Stylizer, StylizeResult

from .. import control as C
from .. import protocol as P
from ..stylizer import frame_nonfinite
from .inbox import Command, Inbox, Record
from .recorder import Recorder
from .sessions import Ring, Sessions
from .stats import Events, Stats

log = logging.getLogger("reverie.daemon")


@dataclass
class Job:
    identity: bytes
    ring: Ring
    generation: int
    slot: int
    seq: int
    session_started_ns: int  # a submit time before this is not the session's


def slot_frame(header: Any, planes: Any, reset_pending: bool = False) -> Frame:
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


class FrameLoop:
    """Owns the stylizer and the frames socket; runs on the daemon's calling thread."""

    def __init__(
        self,
        stylizer: Stylizer,
        frames: zmq.Socket,
        inbox: Inbox,
        sessions: Sessions,
        recorder: Recorder,
        stats: Stats,
        events: Events,
    ):
        self.stylizer = stylizer
        self._frames = frames
        self._inbox = inbox
        self._sessions = sessions
        self._recorder = recorder
        self._stats = stats
        self._events = events
        self._reset_pending = False  # a dropped or failed frame carried a camera cut

    def run(self) -> None:
        """Until shutdown: apply commands, then process the newest frame, then close rings."""
        poller = zmq.Poller()
        poller.register(self._frames, zmq.POLLIN)
        poller.register(self._inbox.wake_rx, zmq.POLLIN)
        while not self._inbox.stopped:
            ready = dict(poller.poll(timeout=100))
            commands, retired = self._inbox.take()
            for command, record in commands:
                self._apply(command, record)
            if self._frames in ready:
                job = self._newest_submission()
                if job is not None:
                    self.process(job)
            for ring in retired:  # after the frame: it may belong to a retired ring
                ring.close()

    def _apply(self, command: Command, record: Record | None) -> None:
        try:
            command(self.stylizer)
        except Exception as exc:
            log.exception("stylizer command failed")
            self._events.publish({"type": "error", "message": f"{type(exc).__name__}: {exc}"})
            return
        if record is not None:
            self._recorder.applied_change(*record)

    # ------------------------------------------------------------ submissions
    def _newest_submission(self) -> Job | None:
        """Drain every waiting submission; keep the newest, mark the others dropped."""
        newest: Job | None = None
        while self._frames.poll(0):
            job = self._validate_submission(self._frames.recv_multipart())
            if job is None:
                continue
            if newest is not None:
                if (job.slot, job.seq) == (newest.slot, newest.seq):
                    continue  # the same notice twice
                older, newest = (newest, job) if job.seq > newest.seq else (job, newest)
                self._drop(older)
            else:
                newest = job
        if newest is not None:
            newest.ring.slots[newest.slot].header["state"] = P.SLOT_PROCESSING
        return newest

    def _validate_submission(self, parts: list[bytes]) -> Job | None:
        """A game announced a written slot: check it belongs to the live ring and is submitted."""
        identity = parts[0]
        live = self._sessions.live_ring()
        if live is None or identity != live.token:
            return None  # a game whose session ended: it learns from the heartbeat
        self._sessions.saw_notice()
        try:
            notice = C.unpack(parts[1:])
            gen, slot, seq = notice["gen"], notice["slot"], notice["seq"]
            skipped = notice.get("skipped", 0)
        except (P.ProtocolError, KeyError, TypeError, AttributeError):
            gen = slot = seq = skipped = None
        if not all(type(v) is int and 0 <= v < 2**64 for v in (gen, slot, seq, skipped)):
            self._events.publish({"type": "error", "message": "malformed frame notice ignored"})
            return None
        if gen != live.generation:
            return None  # for a ring that has since been replaced
        if skipped > 0:
            self._stats.count(dropped=skipped)  # frames the game skipped: no slot was free
        ring = live.ring
        if not 0 <= slot < ring.layout.slot_count:
            self._events.publish({"type": "error", "message": f"frame notice for slot {slot} out of range"})
            return None
        header = ring.slots[slot].header
        if int(header["state"]) != P.SLOT_SUBMITTED or int(header["seq"]) != seq:
            # Not ours to write: only tell the game (it ignores a notice it did not expect).
            state = P.SLOT_STATE_NAMES.get(int(header["state"]), "?")
            error = f"slot {slot} is {state} with seq {int(header['seq'])}, notice said submitted seq {seq}"
            notice = {"ev": "failed", "gen": gen, "slot": slot, "seq": seq, "error": error}
            self._frames.send_multipart([identity, C.pack(notice)])
            self._stats.count(failed=1)
            return None
        return Job(identity, ring, gen, slot, seq, live.started_ns)

    def _drop(self, job: Job) -> None:
        """A frame replaced by a newer one: recorded (host rings only: a CUDA ring's planes
        would cost a device sync to copy here), its camera cut carried, handed back."""
        header = job.ring.slots[job.slot].header
        if job.ring.device is None and self._recorder.recording:
            self._recorder.dropped(slot_frame(header, job.ring.slots[job.slot]), int(header["t_submit_ns"]))
        if int(header["flags"]) & P.FLAG_RESET:
            self._reset_pending = True  # a camera cut must reach the next frame that is stylized
        self._stats.count(dropped=1)
        self._notify(job, P.SLOT_DROPPED, "dropped")

    # ------------------------------------------------------------ the frame
    def process(self, job: Job) -> None:
        """Read slot, check, stylize, write slot, notify. On a CUDA ring the work runs on the
        ring's stream between the game's "inputs written" event and the daemon's "output
        written" one."""
        header = job.ring.slots[job.slot].header
        t_start = time.monotonic_ns()
        header["t_start_ns"] = t_start
        device = job.ring.device
        with device.frame(job.slot) if device is not None else nullcontext(job.ring.slots[job.slot]) as planes:
            frame = slot_frame(header, planes, self._reset_pending)
            self._reset_pending = False
            error = frame_nonfinite(frame)
            code = P.FRAME_ERR_NONFINITE if error else P.FRAME_OK
            result = None
            if error is None:
                try:
                    result = self.stylizer.stylize(frame, planes.output)
                    if not isinstance(result, StylizeResult):
                        raise TypeError(f"stylize returned {type(result).__name__}, not a StylizeResult")
                except Exception as exc:  # a stylizer bug must not stop the daemon
                    log.exception("stylizer failed on frame %d", frame.frame_id)
                    code = P.FRAME_ERR_STYLIZER
                    error = f"stylizer {self.stylizer.name} failed: {type(exc).__name__}: {exc}"
            if self._recorder.recording:  # before the hand-over: then the slot is the game's again
                self._recorder.frame(
                    frame,
                    None if error else planes.output,
                    int(header["t_submit_ns"]),
                    error,
                    static_skip=error is None and result.static_skip,
                )
            frame_reset = frame.reset
            del frame, planes
        t_done = time.monotonic_ns()
        header["t_done_ns"] = t_done
        header["error_code"] = code
        # Counted before the hand-over: a game that sees its frame back and asks for status
        # at once must find it counted.
        if error is None:
            t_submit = int(header["t_submit_ns"])  # the game's word: believed only inside the session
            latency_ms = (t_done - t_submit) / 1e6 if job.session_started_ns <= t_submit <= t_done else None
            self._stats.add(latency_ms, (t_done - t_start) / 1e6)
            self._notify(job, P.SLOT_DONE, "done")
        else:
            self._reset_pending = frame_reset
            self._stats.count(failed=1)
            self._notify(job, P.SLOT_FAILED, "failed", error)

    def _notify(self, job: Job, state: int, event: str, error: str | None = None) -> None:
        """Hand the slot back: state word last in shared memory, then the notice."""
        header = job.ring.slots[job.slot].header
        if error is not None:
            header["error_text"] = error.encode()[: P.ERROR_TEXT_BYTES]
        header["state"] = state
        notice: dict[str, Any] = {"ev": event, "gen": job.generation, "slot": job.slot, "seq": job.seq}
        if error is not None:
            notice["error"] = error
        self._frames.send_multipart([job.identity, C.pack(notice)])
