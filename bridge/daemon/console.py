"""The console language, served by the daemon (the `console` op): one implementation for
`reverie console` at a terminal and the in-game consoles of Unity and Unreal, which send
the typed line and show the text that comes back.

A plain line sets the prompt; slash commands change settings (HELP lists them). Each line
becomes one control op run through the daemon's own handlers, so a line does exactly what
the request would, and a mistake is a line of text starting "error: ", never a protocol
error. `/transition` belongs to the console that typed it: the caller sends its current
value with every line and keeps the one the reply returns.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from .. import protocol as P
from ..texts import format_status, pack_extras
from .control_server import Deferred

HELP = """\
  any text         set the prompt (blended over the current /transition frames)
  /preset          list the daemon's presets (its style packs)
  /preset NAME     load a preset (prompt, steps, strength, seed)
  /steps N         denoising steps (1-8)
  /strength X      how far to restyle, 0.0-1.0
  /seed N          noise seed
  /transition N    frames to blend over for the prompts typed next (this console only)
  /reset           drop the stylizer's temporal history (e.g. after a camera cut)
  /status          the daemon's state
  /help            this list
  /quit            leave (Ctrl-D works too)"""
COMMANDS = ("/preset", "/steps", "/strength", "/seed", "/transition", "/reset", "/status", "/help", "/quit")

Run = Callable[..., Any]  # run(op, **fields): a request checked and served by the daemon's handlers


class UsageError(Exception):
    """A command typed wrong; the message says how to type it."""


def _number(arg: str, kind: type, usage: str) -> Any:
    try:
        return kind(arg)
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise UsageError(f"{usage.split()[0]} needs {noun}, got {arg!r} (usage: {usage})") from None


def preset_line(p: dict[str, Any]) -> str:
    return (
        f"preset {p['name']}: prompt {p['prompt']!r}  steps {p['steps']}  strength {p['strength']}  "
        f"seed {p['seed']}  (transition {p['transition_frames']} frames){pack_extras(p)}"
    )


class ConsoleLanguage:
    """Turns one console line into a request through `run` and the reply into text."""

    def __init__(self, run: Run):
        self._run = run

    def console(self, line: str, transition_frames: int = 0) -> dict[str, Any] | Deferred:
        """The `console` op for one line: {"text", "quit", "transition_frames", "outcome"},
        where outcome is "ok", "usage" (typed wrong) or "refused" (the daemon said no)."""
        line = line.strip()
        name, _, arg = line.partition(" ") if line.startswith("/") else ("", "", line)
        arg = arg.strip()
        state = {"quit": name == "/quit", "transition_frames": transition_frames}
        if not line or name == "/quit":
            return _reply("", state)
        try:
            if name == "/transition":
                state["transition_frames"] = _transition_frames(arg, transition_frames)
                return _reply(f"transition {state['transition_frames']} frames for the next prompts", state)
            answer = self._command(name, arg, transition_frames)
        except (UsageError, P.ProtocolError) as exc:
            return _refusal(exc, state)
        if isinstance(answer, Deferred):  # a preset whose weights load: its line once they have
            return Deferred(answer.future, lambda done: _finish(answer, done, state))
        return _reply(answer, state)

    def _command(self, name: str, arg: str, transition: int) -> str | Deferred:
        if name == "":
            self._run("set_prompt", text=arg, transition_frames=transition)
            return f"prompt set: {arg!r} (transition {transition} frames)"
        if name == "/preset":
            return self._preset(arg)
        if name in ("/steps", "/seed"):
            value = _number(arg, int, f"{name} N")
            self._run("set_params", **{name[1:]: value})
            return f"{name[1:]} set to {value}"
        if name == "/strength":
            value = _number(arg, float, "/strength X")
            self._run("set_params", strength=value)
            return f"strength set to {value}"
        if name == "/reset":
            self._run("reset_history")
            return "history reset"
        if name == "/status":
            return format_status(self._run("status")) + f"\nconsole transition {transition} frames"
        if name == "/help":
            return HELP
        raise UsageError(f"unknown command {name} (try /help)")

    def _preset(self, name: str) -> str | Deferred:
        if not name:
            presets = self._run("list_presets")["presets"]
            return "\n".join(
                f"  {p['name']:<12} {p['prompt']!r}  steps {p['steps']}  strength {p['strength']}  "
                f"seed {p['seed']}{pack_extras(p)}"
                for p in presets
            )
        answer = self._run("load_preset", name=name)
        if isinstance(answer, Deferred):
            return Deferred(answer.future, lambda done: preset_line(answer.finish(done)["preset"]))
        return preset_line(answer["preset"])


def _transition_frames(arg: str, current: int) -> int:
    """`/transition [N]`: the console's new transition (the current one without N)."""
    if not arg:
        return current
    frames = _number(arg, int, "/transition N")
    if not 0 <= frames <= P.MAX_TRANSITION_FRAMES:
        raise UsageError(f"/transition takes 0 to {P.MAX_TRANSITION_FRAMES} frames")
    return frames


def _reply(text: str, state: dict[str, Any], outcome: str = "ok") -> dict[str, Any]:
    return {"text": text, **state, "outcome": outcome}


def _refusal(exc: Exception, state: dict[str, Any]) -> dict[str, Any]:
    """A line typed wrong, or a request the daemon refused, as the console prints it."""
    if isinstance(exc, P.ProtocolError):  # the daemon's code and message, as a request gets them
        return _reply(f"error: {exc.code}: {exc.message}", state, "refused")
    return _reply(f"error: {exc}", state, "usage")


def _finish(deferred: Deferred, done: Future[Any], state: dict[str, Any]) -> dict[str, Any]:
    try:
        return _reply(deferred.finish(done), state)
    except P.ProtocolError as exc:
        return _refusal(exc, state)
