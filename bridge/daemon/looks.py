"""What is on screen: the prompt and settings, presets (style packs) and weights switching.

Style packs (`packs.py`) are the daemon's presets. A pack with fine-tuned weights is
prepared on a worker thread (building a backend takes seconds, and the frame loop keeps
showing the old look meanwhile), then swapped in by the frame loop; the `load_preset`
reply waits for the outcome (a `Deferred`: the control server answers other requests
meanwhile), so weights that do not load are refused with the reason and nothing of the
pack is applied.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reverie.common.stylizer import Stylizer, WeightsUnsupported

from .. import packs as S
from .. import protocol as P
from .control_server import Deferred
from .inbox import Inbox
from .stats import Events

log = logging.getLogger("reverie.daemon")

_KEEP_WEIGHTS = object()  # load_preset: the stylizer's weights stay as they are


@dataclass
class StyleSettings:
    """What the control plane can change; the daemon keeps the current values."""

    prompt: str = ""
    transition_frames: int = 0
    steps: int = 1
    strength: float = 1.0
    seed: int = 0


class Looks:
    """The look ops, run on the I/O thread; each change reaches the stylizer as a command
    the frame loop runs between frames, and the event stream as an event."""

    def __init__(self, stylizer: Stylizer, inbox: Inbox, events: Events, pack_dirs: list[Path]):
        self.stylizer = stylizer
        self.settings = StyleSettings()  # the settings asked for; the frame loop applies them in order
        self._inbox = inbox
        self._events = events
        self._pack_dirs = pack_dirs
        self._reported: set[str] = set()  # pack problems already logged
        self._preset: str | None = None  # the pack last loaded over control
        self._weights: tuple[str, Path] | None = None  # (pack, folder) of the weights in use; None: the stylizer's own
        self._worker: ThreadPoolExecutor | None = None
        self.packs()

    def close(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=False, cancel_futures=True)

    def packs(self) -> dict[str, S.StylePack]:
        """Read the pack folders again (a pack installed while the daemon runs shows up at
        once); a broken pack is logged once and left out."""
        catalog = S.load_catalog(self._pack_dirs)
        for error in catalog.errors:
            if str(error) not in self._reported:
                self._reported.add(str(error))
                log.warning("style pack skipped: %s", error)
        return catalog.packs

    # ------------------------------------------------------------ ops
    def set_prompt(self, text: str, transition_frames: int = 0) -> dict[str, Any]:
        self.settings.prompt, self.settings.transition_frames = text, transition_frames
        self._inbox.put_command(
            lambda s: s.set_prompt(text, transition_frames),
            ("set_prompt", {"text": text, "transition_frames": transition_frames}),
        )
        self._events.publish({"type": "prompt_changed", "text": text, "transition_frames": transition_frames})
        return {}

    def set_params(
        self, steps: int | None = None, strength: float | None = None, seed: int | None = None
    ) -> dict[str, Any]:
        if steps is not None:
            self.settings.steps = steps
        if strength is not None:
            self.settings.strength = float(strength)
        if seed is not None:
            self.settings.seed = seed
        self._inbox.put_command(
            lambda s: s.set_params(steps, strength, seed),
            ("set_params", {"steps": steps, "strength": strength, "seed": seed}),
        )
        s = self.settings
        self._events.publish({"type": "params_changed", "steps": s.steps, "strength": s.strength, "seed": s.seed})
        return {}

    def reset_history(self, full: bool = False) -> dict[str, Any]:
        if full:
            self._inbox.put_command(lambda s: s.restart(), ("reset_history", {"full": True}))
        else:
            self._inbox.put_command(lambda s: s.reset_history(), ("reset_history", {}))
        return {}

    def list_presets(self) -> dict[str, Any]:
        return {"presets": [p.describe() for p in self.packs().values()]}

    def load_preset(self, name: str) -> dict[str, Any] | Deferred:
        packs = self.packs()
        pack = packs.get(name)
        if pack is None:
            raise P.ProtocolError(P.ERR_INVALID, f"no preset {name!r}; known: {', '.join(sorted(packs))}")
        wanted = None if pack.weights is None else (pack.name, pack.weights)
        if wanted == self._weights:
            return self._apply_pack(pack, _KEEP_WEIGHTS)
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reverie-weights")

        def refused(exc: BaseException) -> P.ProtocolError:
            if isinstance(exc, WeightsUnsupported):
                return P.ProtocolError(
                    P.ERR_INVALID,
                    f"preset {name!r} has fine-tuned weights, but the stylizer "
                    f"{self.stylizer.name!r} cannot load weights",
                )
            log.warning("preset %r refused: its weights do not load: %s", name, exc)
            detail = " ".join(str(exc).split())
            return P.ProtocolError(
                P.ERR_INVALID,
                f"preset {name!r}: its weights ({pack.weights}) do not load, "
                f"the look is unchanged: {type(exc).__name__}: {detail}"[:600],
            )

        def finish(done: Future[Any]) -> dict[str, Any]:
            if (error := done.exception()) is not None:
                raise refused(error)
            return self._apply_pack(pack, done.result())

        return Deferred(self._worker.submit(self.stylizer.prepare_weights, pack.weights), finish)

    def _apply_pack(self, pack: S.StylePack, prepared: Any) -> dict[str, Any]:
        """Weights (once prepared), then settings and prompt: the frame loop runs them in
        this order, between two frames."""
        if prepared is not _KEEP_WEIGHTS:
            weights = None if pack.weights is None else str(pack.weights)
            self._inbox.put_command(
                lambda s: s.use_weights(prepared), ("use_weights", {"preset": pack.name, "weights": weights})
            )
            self._weights = None if pack.weights is None else (pack.name, pack.weights)
        self._preset = pack.name
        self.set_params(pack.steps, pack.strength, pack.seed)
        self.set_prompt(pack.prompt, pack.transition_frames)
        return {"preset": pack.describe()}

    def describe(self) -> dict[str, Any]:
        """The look as `status` shows it."""
        return {
            "settings": asdict(self.settings),
            "preset": self._preset,
            "weights": None if self._weights is None else self._weights[0],
        }
