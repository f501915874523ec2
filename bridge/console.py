"""`reverie console`: steer a running daemon by typing, for players and streamers.

The language (a plain line sets the prompt, slash commands change settings, `/help` lists
them) is the daemon's: each line goes to it as a `console` request and its text comes
back, the same text an in-game console of Unity or Unreal shows for the same line. At a
terminal the console has line editing, history and tab completion (readline) and keeps a
live stats line above the input; fed from a script (stdin not a terminal) it just runs
the lines in order and prints the replies, which is also how the tests drive it.

The daemon may be down or restart at any time: every line simply tries again, and a
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
from collections.abc import Callable
from pathlib import Path

import zmq

from . import control as C
from . import protocol as P
from .cli_client import CLIENT_FAILURES as FAILURES
from .client import ControlClient
from .daemon.console import COMMANDS
from .texts import format_stats

PROMPT = "reverie> "


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
    """Sends each typed line to the daemon and prints its reply; keeps this console's
    `/transition` (the daemon hands it back with every reply). Main thread only."""

    def __init__(self, ctl: ControlClient, screen: Screen):
        self.ctl = ctl
        self.screen = screen
        self.transition = 0  # frames; like `reverie prompt`, switch at once unless asked
        self.presets: dict[str, str] = {}  # name -> prompt: completion and echo suppression
        self._own_prompts: deque[str] = deque(maxlen=8)
        self._own_lock = threading.Lock()

    def greet(self) -> None:
        """Say whom we talk to, or that nobody answers yet (not fatal: commands retry)."""
        try:
            status = self.ctl.status()
        except FAILURES as exc:
            self.screen.say(f"error: {exc}")
            self.screen.say("the console keeps running; commands retry, so the daemon may start later")
        else:
            prompt = status["settings"]["prompt"]
            self.screen.say(
                f"connected to the Reverie daemon pid {status['daemon_pid']} "
                f"(stylizer {status['stylizer']}), prompt {prompt!r}"
            )
            self._refresh_presets()
        self.screen.say("type a prompt, or /help")

    def handle(self, line: str) -> bool:
        """Run one typed line; False when the console should exit."""
        line = line.strip()
        if not line:
            return True
        if line == "/quit":  # leaving needs no daemon
            return False
        expected = self._expected_prompt(line)
        if expected is not None:
            self._expect_echo(expected)
        try:
            reply = self.ctl.console(line, self.transition)
        except FAILURES as exc:
            if expected is not None:
                self._forget_echo(expected)
            self.screen.say(f"error: {exc}")
            return True
        self.transition = reply["transition_frames"]
        if reply["text"]:
            self.screen.say(reply["text"])
        if not self.presets or line.startswith("/preset"):
            self._refresh_presets()  # the daemon came up after we started, or packs were installed
        return not reply["quit"]

    def _expected_prompt(self, line: str) -> str | None:
        """The prompt this line will set, if any: its change comes back as an event."""
        if not line.startswith("/"):
            return line
        name, _, arg = line.partition(" ")
        return self.presets.get(arg.strip()) if name == "/preset" else None

    def _refresh_presets(self) -> None:
        """The preset names, for completion and echo suppression; a failure is not worth a
        message."""
        try:
            self.presets = {p["name"]: p["prompt"] for p in self.ctl.list_presets()}
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
                self.screen.notice(
                    f"* prompt changed elsewhere: {event['text']!r} (transition {event['transition_frames']} frames)"
                )
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
