"""Play a capture into a daemon as the game did (`reverie replay`, docs/capture.md).

Lockstep: each frame is submitted and its output awaited before the next one, so the
daemon stylizes every recorded frame (none is replaced by a newer one), and each control
event is sent between the frames it was recorded between. The capture's first events
(the settings in force and a full `reset_history`, written by `record_start`) put the
replaying stylizer in the state the recording started from, so on the same machine,
backend, weights and seed the outputs are the recorded ones, bit for bit; `check`
compares them.

A style pack that switched the model's weights while recording (`use_weights`) is
loaded on the replaying daemon by name (`load_preset`): the same pack must be installed
there, and replay warns when its weights hash differs.

What is replayed: frames the stylizer was given ("done", and "failed" ones, which must
fail again), with the reset flag it saw. Frames the daemon dropped in favour of newer
ones never reached the stylizer and are not sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reverie.bridge.capture import STATUS_DONE, STATUS_DROPPED, STATUS_FAILED, CaptureEvent, CaptureFrame, CaptureReader
from reverie.bridge.client import Client, FrameRejected

REPLAYED_OPS = ("set_prompt", "set_params", "reset_history")


@dataclass
class ReplayResult:
    frames: int = 0  # submitted
    compared: int = 0  # outputs compared with the recorded ones
    mismatches: int = 0
    first_mismatch: str | None = None
    gaps: int = 0  # places where the recorder left frames out
    not_sent: int = 0  # recorded as dropped by the daemon
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return self.mismatches == 0 and self.compared > 0


def identity_warnings(header: dict[str, Any], status: dict[str, Any]) -> list[str]:
    """Why a replay on this daemon may not reproduce the capture (another stylizer,
    other weights or backend): replay goes on, but says so."""
    warnings = []
    if header.get("stylizer") != status.get("stylizer"):
        warnings.append(f"recorded with stylizer {header.get('stylizer')!r}, replaying on {status.get('stylizer')!r}")
    recorded, here = header.get("stylizer_identity") or {}, status.get("stylizer_identity") or {}
    for key in sorted(set(recorded) | set(here)):
        if recorded.get(key) != here.get(key):
            warnings.append(f"stylizer {key}: recorded {recorded.get(key)!r}, here {here.get(key)!r}")
    machine = header.get("machine") or {}
    if machine.get("arch") not in (None, _arch()):
        warnings.append(f"recorded on {machine.get('arch')}, replaying on {_arch()}: floating point may differ")
    return warnings


def _arch() -> str:
    import platform

    return platform.machine()


def describe_mismatch(index: int, frame: CaptureFrame, got: np.ndarray) -> str:
    if got.shape != frame.output.shape:
        return (
            f"frame {index} (game frame id {frame.frame_id}): output shape {got.shape}, recorded {frame.output.shape}"
        )
    differ = np.any(got != frame.output, axis=-1)
    worst = int(np.abs(got.astype(np.int16) - frame.output).max())
    y, x = np.argwhere(differ)[0]
    return (
        f"frame {index} (game frame id {frame.frame_id}): {int(differ.sum())} of {differ.size} pixels differ, "
        f"up to {worst} levels, first at row {y}, column {x}"
    )


def send_event(client: Client, event: CaptureEvent) -> bool:
    """Send one recorded control event; False for one that is not replayed (markers)."""
    f = event.fields
    if event.op == "set_prompt":
        client.set_prompt(f["text"], f.get("transition_frames", 0))
    elif event.op == "set_params":
        client.set_params(f.get("steps"), f.get("strength"), f.get("seed"))
    elif event.op == "reset_history":
        client.reset_history(full=bool(f.get("full")))
    else:
        return False
    return True


def replay(
    reader: CaptureReader,
    client: Client,
    *,
    check: bool = False,
    timeout_s: float = 60.0,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    """Play `reader` into the daemon behind `client`; see the module docstring."""
    result = ReplayResult()
    result.warnings += identity_warnings(reader.header, client.status())
    if reader.truncated:
        result.warnings.append(
            f"the capture is truncated ({reader.problem}); replaying its {len(reader)} complete frames"
        )
    gap_open = False
    skip_pack_settings = 0  # the set_params + set_prompt a replayed load_preset has sent already
    start = time.perf_counter()
    for item in reader.timeline():
        if isinstance(item, CaptureEvent):
            if skip_pack_settings and item.op in ("set_params", "set_prompt"):
                skip_pack_settings -= 1
                continue
            skip_pack_settings = 0
            if item.op == "use_weights":
                # A style pack switched weights: the replaying daemon loads the same pack
                # (its weights, then the pack's settings and prompt, as recorded next).
                client.load_preset(item.fields["preset"])
                skip_pack_settings = 2
                here = (client.status().get("stylizer_identity") or {}).get("weights_sha256")
                if here != item.fields.get("weights_sha256"):
                    result.warnings.append(
                        f"style pack {item.fields['preset']!r}: recorded weights "
                        f"{item.fields.get('weights_sha256')}, here {here}"
                    )
            elif item.op == "capture_gap":
                result.gaps += 1
                gap_open = True
                result.warnings.append(
                    f"{item.fields.get('frames')} frame(s) missing before capture frame {item.after_frames} "
                    "(the recorder fell behind): later outputs are not expected to match"
                )
            else:
                send_event(client, item)
            continue
        frame = item
        if frame.status == STATUS_DROPPED:
            result.not_sent += 1
            continue
        frame_id = client.submit(
            frame.color,
            frame.depth,
            frame.motion,
            reset=frame.reset,
            jitter=tuple(frame.jitter),
            near=frame.near,
            far=frame.far,
            fov_y=frame.fov_y,
        )
        result.frames += 1
        try:
            got = client.wait_output(frame_id, timeout_s=timeout_s).image
        except FrameRejected as exc:
            got, rejected = None, str(exc)
        if check and not gap_open:
            mismatch = None
            if frame.status == STATUS_FAILED and got is not None:
                mismatch = (
                    f"frame {frame.index} (game frame id {frame.frame_id}):"
                    f" recorded as failed ({frame.error}), stylized now"
                )
            elif frame.status == STATUS_DONE and got is None:
                mismatch = f"frame {frame.index} (game frame id {frame.frame_id}): recorded output, now {rejected}"
            elif frame.status == STATUS_DONE and not np.array_equal(got, frame.output):
                mismatch = describe_mismatch(frame.index, frame, got)
            result.compared += 1
            if mismatch is not None:
                result.mismatches += 1
                result.first_mismatch = result.first_mismatch or mismatch
        if progress is not None:
            progress(frame.index + 1, len(reader))
    result.seconds = time.perf_counter() - start
    return result
