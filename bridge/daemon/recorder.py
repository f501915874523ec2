"""The capture tap's place in the daemon: `record_start` / `record_stop` (docs/capture.md).

A capture is fed by the frame loop: each stylizer command carries the (op, fields) it is,
recorded when the frame loop applies it, so events sit exactly between the frames they
came between; frames are copied before the hand-over and compressed on the capture's own
writer thread (`capture_tap`). The recorder also tracks the settings the stylizer has
actually had (the frame loop's view), which every captured frame carries.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from reverie.common.stylizer import Frame, Stylizer

from .. import protocol as P
from .capture_tap import CaptureTap
from .inbox import Inbox
from .looks import StyleSettings

log = logging.getLogger("reverie.daemon")


class Recorder:
    """`start`/`stop`/`describe` run on the I/O thread; `applied`, `frame` and `dropped` on
    the frame loop, which alone feeds the capture once it has started it."""

    def __init__(self, stylizer: Stylizer, inbox: Inbox, header_fields: Callable[[], dict[str, Any]]):
        self.stylizer = stylizer
        self._inbox = inbox
        self._header_fields = header_fields  # what the daemon knows of the stream: size, motion, settings
        self._tap: CaptureTap | None = None  # the latest capture (I/O thread)
        self._recording: CaptureTap | None = None  # the capture the frame loop feeds, once started there
        self.applied = StyleSettings()  # the settings the stylizer has had (frame loop)

    # ------------------------------------------------------------ ops (I/O thread)
    def start(self, path: str, max_frames: int | None = None) -> dict[str, Any]:
        if self._tap is not None and self._tap.state in ("recording", "finishing"):
            raise P.ProtocolError(
                P.ERR_INVALID, f"already recording to {self._tap.path} ({self._tap.state}): record_stop first"
            )
        target = Path(path)
        if not target.is_absolute() or "\x00" in path:
            raise P.ProtocolError(
                P.ERR_INVALID,
                "record_start.path must be an absolute path (the daemon's working "
                f"directory is not yours), got {path[:200]!r}",
            )
        try:
            exists, folder = target.exists(), target.parent.is_dir()
        except OSError as exc:  # a name too long, a folder not searchable
            raise P.ProtocolError(P.ERR_INVALID, f"cannot write {path[:200]}: {exc.strerror or exc}") from None
        if exists:
            raise P.ProtocolError(P.ERR_INVALID, f"{path[:200]} exists: a capture never overwrites a file")
        if not folder:
            raise P.ProtocolError(P.ERR_INVALID, f"no folder {str(target.parent)[:200]} to write the capture in")
        try:
            tap = CaptureTap(target, self._header(), max_frames=max_frames)
        except OSError as exc:
            raise P.ProtocolError(P.ERR_INVALID, f"cannot write {path[:200]}: {exc.strerror or exc}") from None
        self._tap = tap
        self._inbox.put_command(lambda s: self._begin(s, tap))
        return {"capture": tap.status()}

    def stop(self) -> dict[str, Any]:
        tap = self._tap
        if tap is None or tap.state != "recording":
            last = f" (the last capture, {tap.path}, is {tap.state})" if tap else ""
            raise P.ProtocolError(P.ERR_INVALID, "not recording" + last)
        self._inbox.put_command(lambda s: tap.stop())  # after the frames the frame loop has taken
        return {"capture": tap.status()}

    def describe(self) -> dict[str, Any] | None:
        return None if self._tap is None else self._tap.status()

    def finish(self, timeout_s: float = 30.0) -> None:
        """At shutdown: a capture still open gets its index, so the file stays seekable."""
        if self._tap is not None:
            self._tap.stop()
            if not self._tap.wait(timeout_s):
                log.warning("capture %s not finished at shutdown", self._tap.path)

    def _header(self) -> dict[str, Any]:
        """What a capture says about where it was recorded (docs/capture.md, "Header")."""
        return {
            "stylizer": self.stylizer.name,
            "stylizer_identity": dict(self.stylizer.identity),
            **self._header_fields(),
            "protocol": [P.PROTOCOL_MAJOR, P.PROTOCOL_MINOR],
            "created_unix": time.time(),
            "machine": {
                "host": platform.node(),
                "arch": platform.machine(),
                "system": platform.system(),
                "python": platform.python_version(),
            },
        }

    # ------------------------------------------------------------ the frame loop
    def _begin(self, stylizer: Stylizer, tap: CaptureTap) -> None:
        """A capture starts from a state a replay can reproduce: the settings in force
        applied afresh (a prompt transition under way ends at its target) and the
        stylizer restarted (history, blends and schedules dropped, the seed restarted);
        these three are the capture's first events, so a replay sends the same calls."""
        a = self.applied
        stylizer.set_prompt(a.prompt, 0)
        stylizer.set_params(a.steps, a.strength, a.seed)
        stylizer.restart()
        a.transition_frames = 0
        self._recording = tap
        tap.event("set_prompt", {"text": a.prompt, "transition_frames": 0})
        tap.event("set_params", {"steps": a.steps, "strength": a.strength, "seed": a.seed})
        tap.event("reset_history", {"full": True})

    @property
    def recording(self) -> bool:
        """True while the frame loop feeds a capture."""
        if self._recording is not None and not self._recording.active:
            self._recording = None
        return self._recording is not None

    def applied_change(self, op: str, fields: dict[str, Any]) -> None:
        """Track the settings the stylizer now has, and record the change in a capture."""
        if op == "set_prompt":
            self.applied.prompt, self.applied.transition_frames = fields["text"], fields["transition_frames"]
        elif op == "set_params":
            for name in ("steps", "strength", "seed"):
                if fields.get(name) is not None:
                    setattr(self.applied, name, fields[name])
        if self.recording:
            if op == "use_weights":  # a pack's weights: which ones, for the replay's check
                fields = {**fields, "weights_sha256": self.stylizer.identity.get("weights_sha256")}
            self._recording.event(op, {k: v for k, v in fields.items() if v is not None})

    def frame(self, frame: Frame, output: Any, t_submit_ns: int, error: str | None, static_skip: bool) -> None:
        """A stylized (or failed) frame, while `recording` (the frame loop asks first, so a
        stream that is not recorded pays for nothing here)."""
        self._recording.frame(
            frame,
            output,
            status="failed" if error else "done",
            settings=asdict(self.applied),
            t_submit_ns=t_submit_ns,
            t_done_ns=time.monotonic_ns(),
            error=error,
            static_skip=static_skip,
        )

    def dropped(self, frame: Frame, t_submit_ns: int) -> None:
        """A frame replaced by a newer one before it was stylized, while `recording`: its
        inputs, no output."""
        self._recording.frame(
            frame,
            None,
            status="dropped",
            settings=asdict(self.applied),
            t_submit_ns=t_submit_ns,
            t_done_ns=time.monotonic_ns(),
            error="replaced by a newer frame before the daemon took it",
        )
