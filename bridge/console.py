"""`reverie console`: steer a running daemon by typing, for players and streamers.

A plain line sets the prompt; slash commands change settings (`/help` lists them). At a
terminal the console has line editing, history and tab completion (readline) and keeps a
live stats line above the input; fed from a script (stdin not a terminal) it just runs
the lines in order and prints the replies, which is also how the tests drive it.

The daemon may be down or restart at any time: every command simply tries again, and a
failure is printed, never raised.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable

import zmq

from . import control as C
from . import protocol as P
from .cli import CLIENT_FAILURES as FAILURES, format_stats, format_status
from .client import ControlClient

PROMPT = "reverie> "
LOCAL_COMMANDS = frozenset({"/transition", "/help"})  # never talk to the daemon
COMMANDS = ("/preset", "/steps", "/strength", "/seed", "/transition", "/reset", "/status", "/help", "/quit")
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



class UsageError(Exception):
    """A command typed wrong; the message says how to type it."""


class Screen:
    """All terminal output goes through here, under one lock, so the event thread and the
    main thread never interleave. With `live`, a stats line is kept just above the input
    line and redrawn in place while the user types, without touching what they typed."""

    def __init__(self, live: bool):
        self.live = live
        self._lock = threading.Lock()
        self._editing = False  # the prompt is on screen and readline owns the input line
        self._live_text = "stats   waiting for the daemon's event stream..."

    def say(self, text: str) -> None:
        """A reply on the main thread (never while the user is typing)."""
        with self._lock:
            print(text, flush=True)

    def before_input(self) -> None:
        """Print the live line; the prompt goes right under it."""
        if self.live:
            with self._lock:
                sys.stdout.write(self._fit(self._live_text) + "\n")
                sys.stdout.flush()

    def input_shown(self) -> None:
        """The prompt is displayed (readline's pre-input hook): redraws may start."""
        with self._lock:
            self._editing = True

    def input_done(self) -> None:
        """The line was entered: the cursor left the input line, so redraws must stop."""
        with self._lock:
            self._editing = False

    def set_live(self, text: str) -> None:
        """New stats: rewrite the line above the input. Save the cursor, go up, clear,
        write, restore, so the user's typing and cursor position stay as they were."""
        with self._lock:
            self._live_text = text
            if self._editing:
                up = 1 + self._input_rows()
                sys.stdout.write(f"\0337\033[{up}A\r\033[2K{self._fit(text)}\0338")
                sys.stdout.flush()

    def notice(self, text: str) -> None:
        """Something happened elsewhere (another console, the daemon): print it above the
        live line, then redraw the live line, the prompt and the text typed so far."""
        with self._lock:
            if not self._editing:
                print(text, flush=True)
                return
            clear = "\r\033[2K" + "\033[1A\033[2K" * (self._input_rows() + 1)
            sys.stdout.write(f"{clear}{text}\n{self._fit(self._live_text)}\n{PROMPT}{_line_buffer()}")
            sys.stdout.flush()

    @staticmethod
    def _fit(text: str) -> str:
        """Cut to the terminal width: a wrapped live line would break the cursor arithmetic."""
        return text[: max(shutil.get_terminal_size().columns - 1, 10)]

    @staticmethod
    def _input_rows() -> int:
        """Extra screen rows the prompt and typed text wrap onto (cursor assumed at the end)."""
        return (len(PROMPT) + len(_line_buffer())) // max(shutil.get_terminal_size().columns, 1)


def _line_buffer() -> str:
    """What the user has typed so far, or "" without readline."""
    readline = sys.modules.get("readline")
    return readline.get_line_buffer() if readline is not None else ""


class Console:
    """What each typed line does. Talks to the daemon through `ctl`, on the main thread only."""

    def __init__(self, ctl: ControlClient, screen: Screen):
        self.ctl = ctl
        self.screen = screen
        self.transition = 0  # frames; like `reverie prompt`, switch at once unless asked
        self.presets: dict[str, str] = {}  # name -> prompt: completion and echo suppression
        self._own_prompts: deque[str] = deque(maxlen=8)
        self._own_lock = threading.Lock()
        self._commands: dict[str, Callable[[str], None]] = {
            "/preset": self.cmd_preset,
            "/steps": self.cmd_steps,
            "/strength": self.cmd_strength,
            "/seed": self.cmd_seed,
            "/transition": self.cmd_transition,
            "/reset": self.cmd_reset,
            "/status": self.cmd_status,
            "/help": self.cmd_help,
        }

    def greet(self) -> None:
        """Say whom we talk to, or that nobody answers yet (not fatal: commands retry)."""
        try:
            status = self.ctl.status()
        except FAILURES as exc:
            self.screen.say(f"error: {exc}")
            self.screen.say("the console keeps running; commands retry, so the daemon may start later")
        else:
            prompt = status["settings"]["prompt"]
            self.screen.say(f"connected to the Reverie daemon pid {status['daemon_pid']} (stylizer {status['stylizer']}), prompt {prompt!r}")
            self._refresh_presets_quietly()
        self.screen.say("type a prompt, or /help")

    def handle(self, line: str) -> bool:
        """Run one typed line; False when the console should exit."""
        line = line.strip()
        if not line:
            return True
        name, _, arg = line.partition(" ") if line.startswith("/") else ("", "", line)
        if name == "/quit":
            return False
        command = self._commands.get(name) if name else self.set_prompt
        if command is None:
            self.screen.say(f"error: unknown command {name} (try /help)")
        elif self._run(command, arg.strip()) and name not in LOCAL_COMMANDS and not self.presets:
            self._refresh_presets_quietly()  # the daemon came up after we started
        return True

    def _run(self, command: Callable[[str], None], arg: str) -> bool:
        """One command, with every failure reported as one line; True if it worked."""
        try:
            command(arg)
        except (UsageError, *FAILURES) as exc:
            self.screen.say(f"error: {exc}")
            return False
        return True

    # ------------------------------------------------------------ commands
    def set_prompt(self, text: str) -> None:
        self._expect_echo(text)
        try:
            self.ctl.set_prompt(text, self.transition)
        except FAILURES:
            self._forget_echo(text)
            raise
        self.screen.say(f"prompt set: {text!r} (transition {self.transition} frames)")

    def cmd_preset(self, name: str) -> None:
        if not name:
            presets = self._refresh_presets()
            for p in presets:
                self.screen.say(f"  {p['name']:<12} {p['prompt']!r}  steps {p['steps']}  strength {p['strength']}  seed {p['seed']}{pack_extras(p)}")
            return
        if name in self.presets:
            self._expect_echo(self.presets[name])
        p = self.ctl.load_preset(name)
        self.screen.say(f"preset {p['name']}: prompt {p['prompt']!r}  steps {p['steps']}  strength {p['strength']}  seed {p['seed']}  (transition {p['transition_frames']} frames){pack_extras(p)}")

    def cmd_steps(self, arg: str) -> None:
        steps = _number(arg, int, "/steps N")
        self.ctl.set_params(steps=steps)
        self.screen.say(f"steps set to {steps}")

    def cmd_strength(self, arg: str) -> None:
        strength = _number(arg, float, "/strength X")
        self.ctl.set_params(strength=strength)
        self.screen.say(f"strength set to {strength}")

    def cmd_seed(self, arg: str) -> None:
        seed = _number(arg, int, "/seed N")
        self.ctl.set_params(seed=seed)
        self.screen.say(f"seed set to {seed}")

    def cmd_transition(self, arg: str) -> None:
        if arg:
            frames = _number(arg, int, "/transition N")
            if not 0 <= frames <= P.MAX_TRANSITION_FRAMES:
                raise UsageError(f"/transition takes 0 to {P.MAX_TRANSITION_FRAMES} frames")
            self.transition = frames
        self.screen.say(f"transition {self.transition} frames for the next prompts")

    def cmd_reset(self, arg: str) -> None:
        self.ctl.reset_history()
        self.screen.say("history reset")

    def cmd_status(self, arg: str) -> None:
        self.screen.say(format_status(self.ctl.status()))
        self.screen.say(f"console transition {self.transition} frames")

    def cmd_help(self, arg: str) -> None:
        self.screen.say(HELP)

    # ------------------------------------------------------------ helpers
    def _refresh_presets(self) -> list[dict[str, Any]]:
        """Fetch the preset list (for `/preset` and for tab completion)."""
        presets = self.ctl.list_presets()
        self.presets = {p["name"]: p["prompt"] for p in presets}
        return presets

    def _refresh_presets_quietly(self) -> None:
        """Only completion needs it, so a failure here is not worth a message."""
        try:
            self._refresh_presets()
        except FAILURES:
            pass

    def _expect_echo(self, text: str) -> None:
        """Our own prompt change comes back as an event: note it so the event thread
        does not announce it as a change made elsewhere. Noted before the request,
        since the event can arrive before the reply."""
        with self._own_lock:
            self._own_prompts.append(text)

    def _forget_echo(self, text: str) -> None:
        with self._own_lock:
            if text in self._own_prompts:
                self._own_prompts.remove(text)

    def is_own_echo(self, text: str) -> bool:
        """True (once) if this prompt change was made by this console."""
        with self._own_lock:
            if text in self._own_prompts:
                self._own_prompts.remove(text)
                return True
            return False


def _number(arg: str, kind: type, usage: str) -> Any:
    try:
        return kind(arg)
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise UsageError(f"{usage.split()[0]} needs {noun}, got {arg!r} (usage: {usage})") from None


def pack_extras(pack: dict[str, Any]) -> str:
    """What a style pack adds to a preset's line: its author, and whether it switches the
    model's weights (a daemon before style packs sends neither). The native console
    (bridge/native/src/console.c, say_preset) prints the same."""
    author = pack.get("author") or ""
    return (f"  by {author}" if author else "") + ("  [fine-tuned weights]" if pack.get("has_weights") else "")


def completions(before: str, text: str, presets: list[str]) -> list[str]:
    """Tab candidates for the word `text`, given the line `before` it: command names
    at the start of the line, preset names after `/preset`."""
    if not before.strip():
        return [c + " " for c in COMMANDS if c.startswith(text)] if text.startswith("/") or not text else []
    if before.split() == ["/preset"]:
        return [name for name in sorted(presets) if name.startswith(text)]
    return []


class EventListener(threading.Thread):
    """Follows the daemon's event stream and feeds the screen: the live stats line and
    notices of changes made elsewhere. Uses its own ZeroMQ context and sockets (sockets
    are not thread-safe) and asks the daemon for the events endpoint again whenever the
    stream goes quiet, so a daemon that starts or restarts later is picked up."""

    SILENCE_S = 3.0  # stats come every second; this much quiet means the daemon is gone

    def __init__(self, args: argparse.Namespace, screen: Screen, console: Console):
        super().__init__(name="reverie-console-events", daemon=True)
        self.args = args
        self.screen = screen
        self.console = console
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=1.0)  # a status request to a dead daemon may still be waiting; it is a daemon thread

    def run(self) -> None:
        context = zmq.Context()
        try:
            with ControlClient(self.args.control, timeout_s=self.args.timeout, curve_keys=self.args.curve_keys) as ctl:
                while not self._halt.is_set():
                    endpoint = self._events_endpoint(ctl)
                    if endpoint is None:
                        self._halt.wait(1.0)
                    else:
                        self._follow(context, endpoint)
        finally:
            context.term()

    def _events_endpoint(self, ctl: ControlClient) -> str | None:
        try:
            return ctl.events_endpoint()
        except FAILURES:
            self.screen.set_live("stats   the daemon is not answering; retrying")
            return None

    def _follow(self, context: zmq.Context, endpoint: str) -> None:
        """Handle events until asked to stop or until SILENCE_S without any."""
        sub = context.socket(zmq.SUB)
        sub.linger = 0
        if self.args.curve_keys is not None:
            C.secure_client(sub, self.args.curve_keys)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(endpoint)
        try:
            last = time.monotonic()
            while not self._halt.is_set():
                if sub.poll(200):
                    last = time.monotonic()
                    self._on_event(sub.recv_multipart())
                elif time.monotonic() - last > self.SILENCE_S:
                    self.screen.set_live("stats   no events from the daemon; reconnecting")
                    return
        finally:
            sub.close(linger=0)

    def _on_event(self, frames: list[bytes]) -> None:
        """One event; a malformed one is skipped, it must not kill the thread."""
        try:
            event = C.unpack(frames)
            kind = event.get("type")
            if kind == "stats":
                self.screen.set_live(f"stats   {format_stats(event)}")
            elif kind == "prompt_changed" and not self.console.is_own_echo(event["text"]):
                self.screen.notice(f"* prompt changed elsewhere: {event['text']!r} (transition {event['transition_frames']} frames)")
            elif kind == "error":
                self.screen.notice(f"* daemon error: {event['message']}")
        except (P.ProtocolError, AttributeError, KeyError, TypeError, ValueError):
            pass


def history_path() -> Path:
    """$XDG_STATE_HOME/reverie/console_history (XDG default: ~/.local/state)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "reverie" / "console_history"


def setup_readline(console: Console, screen: Screen) -> Callable[[], None]:
    """Line editing, persisted history and tab completion; returns the function that
    saves the history at exit (a no-op where readline is missing)."""
    try:
        import readline
    except ImportError:
        return lambda: None
    path = history_path()
    try:
        readline.read_history_file(path)
    except OSError:
        pass  # first run
    readline.set_history_length(1000)

    def complete(text: str, state: int) -> str | None:
        before = readline.get_line_buffer()[: readline.get_begidx()]
        matches = completions(before, text, list(console.presets))
        return matches[state] if state < len(matches) else None

    readline.set_completer(complete)
    readline.set_completer_delims(" \t")
    readline.parse_and_bind("bind ^I rl_complete" if "libedit" in (readline.__doc__ or "") else "tab: complete")
    readline.set_pre_input_hook(screen.input_shown)

    def save() -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            readline.write_history_file(path)
        except OSError as exc:
            print(f"(console history not saved: {exc})", file=sys.stderr)

    return save


def _read_line(interactive: bool, screen: Screen) -> str | None:
    """The next line, or None at end of input (EOF, Ctrl-D)."""
    if not interactive:
        line = sys.stdin.readline()
        return line if line else None
    screen.before_input()
    if "readline" not in sys.modules:
        screen.input_shown()
    try:
        return input(PROMPT)
    except EOFError:
        screen.input_done()
        screen.say("")
        return None
    except KeyboardInterrupt:  # Ctrl-C drops the line being typed, as in a shell
        screen.input_done()
        screen.say("^C  (/quit or Ctrl-D to leave)")
        return ""
    finally:
        screen.input_done()


def run_console(args: argparse.Namespace) -> int:
    """`reverie console`: read lines until /quit or end of input; always exits 0 there."""
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    screen = Screen(live=interactive)
    with ControlClient(args.control, timeout_s=args.timeout, curve_keys=args.curve_keys) as ctl:
        console = Console(ctl, screen)
        console.greet()
        save_history = setup_readline(console, screen) if interactive else (lambda: None)
        listener = EventListener(args, screen, console) if interactive else None
        if listener is not None:
            listener.start()
        try:
            while (line := _read_line(interactive, screen)) is not None:
                if not console.handle(line):
                    break
        finally:
            if listener is not None:
                listener.stop()
            save_history()
    return 0
