"""The capture tap's place in the daemon: `record_start` / `record_stop` (docs/capture.md).

A capture is fed by the frame loop: each stylizer command carries the (op, fields) it is,
recorded when the frame loop applies it, so events sit exactly between the frames they
came between; frames are copied before the hand-over and compressed on the capture's own
writer thread (`capture_tap`). The recorder also tracks the settings the stylizer has
actually had (the frame loop's view), which every captured frame carries.

Where a capture may go (docs/capture.md, "Path rules"): a bare file name goes into the
captures folder (`user_captures_dir`), an absolute path only into that folder or one
the serving user allowed (`reverie serve --capture-dir`); the file is created new
(O_EXCL, never through a link: O_NOFOLLOW), 0600, relative to the checked folder's fd.
"""

from __future__ import annotations

import logging
import os
import platform
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO

from reverie.common.paths import user_data_dir
from reverie.common.stylizer import Frame, Stylizer

from .. import protocol as P
from .capture_tap import CaptureTap
from .inbox import Inbox
from .looks import StyleSettings

log = logging.getLogger("reverie.daemon")

# A new file only: never an existing one, never through a link at the name.
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def user_captures_dir() -> Path:
    """Where a bare `record_start` file name goes: `$REVERIE_CAPTURES`, else
    `$XDG_DATA_HOME/reverie/captures`, else `~/.local/share/reverie/captures` (the rule of
    packs.user_styles_dir)."""
    return user_data_dir("captures", "REVERIE_CAPTURES")


def _invalid(message: str) -> P.ProtocolError:
    return P.ProtocolError(P.ERR_INVALID, message)


def _is_link(name: str, folder_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=folder_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


class Recorder:
    """`start`/`stop`/`describe` run on the I/O thread; `applied`, `frame` and `dropped` on
    the frame loop, which alone feeds the capture once it has started it."""

    def __init__(
        self,
        stylizer: Stylizer,
        inbox: Inbox,
        header_fields: Callable[[], dict[str, Any]],
        capture_dirs: Sequence[str | Path] = (),
    ):
        self.stylizer = stylizer
        # Where record_start may write: the captures folder, and those the serving user named.
        self.default_dir = Path(os.path.realpath(user_captures_dir()))
        self.folders = list(dict.fromkeys([self.default_dir, *(Path(os.path.realpath(d)) for d in capture_dirs)]))
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
        target, file = self._open(path)
        try:
            tap = CaptureTap(target, self._header(), max_frames=max_frames, file=file)
        except (OSError, ValueError) as exc:  # a full disk; a header too big
            file.close()
            target.unlink(missing_ok=True)  # the empty file this request made
            raise _invalid(f"cannot write {target}: {getattr(exc, 'strerror', None) or exc}") from None
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

    # ------------------------------------------------------------ where captures go
    def _open(self, path: str) -> tuple[Path, BinaryIO]:
        """Create the capture file `path` names, under the path rules (docs/capture.md,
        "Path rules"): a new file, 0600, in an allowed folder, never through a link."""
        folder, name = self._place(path)
        try:
            folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise _invalid(f"cannot write in {folder}: {exc.strerror or exc}") from None
        try:
            if not self._is_allowed(os.fstat(folder_fd)):  # the folder opened is the one checked
                raise _invalid(f"{path[:200]}: {self._allowed_text()}")
            try:
                fd = os.open(name, _CREATE_FLAGS, 0o600, dir_fd=folder_fd)
            except FileExistsError:
                if _is_link(name, folder_fd):
                    raise _invalid(f"{folder / name} is a symbolic link: a capture never follows one") from None
                raise _invalid(f"{folder / name} exists: a capture never overwrites a file") from None
            except OSError as exc:  # a name too long, a folder not writable
                raise _invalid(f"cannot write {folder / name}: {exc.strerror or exc}") from None
            os.fchmod(fd, 0o600)  # exactly: the umask may have taken bits away
        finally:
            os.close(folder_fd)
        return folder / name, os.fdopen(fd, "wb")

    def _place(self, path: str) -> tuple[Path, str]:
        """(the folder, resolved and allowed; the file name) of `record_start.path`."""
        if "\x00" in path:
            raise _invalid("record_start.path holds a NUL character")
        if "/" not in path:  # a bare file name: the captures folder
            if path in ("", ".", ".."):
                raise _invalid(f"record_start.path {path!r} is not a file name")
            self._make_default_dir()
            return self.default_dir, path
        if not os.path.isabs(path):
            raise _invalid(
                "record_start.path must be a bare file name (it goes into the captures folder) or an absolute"
                f" path (the daemon's working directory is not yours), got {path[:200]!r}"
            )
        parent, name = os.path.split(path)
        if name in ("", ".", ".."):
            raise _invalid(f"record_start.path {path[:200]!r} names a folder, not a file")
        try:
            folder = Path(os.path.realpath(parent))
        except OSError as exc:  # a link loop
            raise _invalid(f"cannot resolve {parent[:200]}: {exc.strerror or exc}") from None
        if folder not in self.folders:
            raise _invalid(f"{path[:200]}: {self._allowed_text()}")
        if folder == self.default_dir:
            self._make_default_dir()
        if not folder.is_dir():
            raise _invalid(f"no folder {folder} to write the capture in")
        return folder, name

    def _make_default_dir(self) -> None:
        """The captures folder, made 0700 the first time a capture goes there."""
        if self.default_dir.is_dir():
            return
        try:
            self.default_dir.parent.mkdir(parents=True, exist_ok=True)
            self.default_dir.mkdir(mode=0o700)
            os.chmod(self.default_dir, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise _invalid(f"cannot make the captures folder {self.default_dir}: {exc.strerror or exc}") from None

    def _is_allowed(self, folder: os.stat_result) -> bool:
        for allowed in self.folders:
            try:
                info = os.stat(allowed)
            except OSError:
                continue
            if (info.st_dev, info.st_ino) == (folder.st_dev, folder.st_ino):
                return True
        return False

    def _allowed_text(self) -> str:
        return (
            f"captures go into {', '.join(map(str, self.folders))} only (a bare file name goes into"
            f" {self.default_dir}; `reverie serve --capture-dir DIR` allows another folder)"
        )

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
