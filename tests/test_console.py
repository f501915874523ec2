"""`reverie console` against a real daemon: piped scripts (how streamers automate it)
and one run under a pseudo-terminal for the live stats line and readline history."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time

import pytest
from conftest import stylizer_spec

from reverie.bridge import ControlClient, ControlError
from reverie.bridge.console import completions


def console_cmd(control: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "reverie", "console", "--control", control, *extra]


def console_env(tmp_path) -> dict[str, str]:
    """Keep history and readline config out of the user's home."""
    return {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "INPUTRC": "/dev/null", "TERM": "xterm"}


def run_script(control: str, script: str, tmp_path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        console_cmd(control, *extra),
        input=script,
        capture_output=True,
        text=True,
        timeout=20,
        env=console_env(tmp_path),
    )


def test_piped_script_sets_the_daemon_state_and_reports_errors(start_daemon, endpoints, tmp_path):
    start_daemon(stylizer_spec("Echo"))
    script = (
        "oil painting\n/steps 3\n/strength 0.5\n/seed 42\n/status\n/bogus\n/steps x\n/steps 99\n/quit\nnever reached\n"
    )
    result = run_script(endpoints.control, script, tmp_path)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in out + result.stderr
    assert "connected to the Reverie daemon" in out and "stylizer echo" in out
    assert "prompt set: 'oil painting' (transition 0 frames)" in out
    assert "steps set to 3" in out and "strength set to 0.5" in out and "seed set to 42" in out
    assert "prompt  'oil painting'  steps 3  strength 0.5  seed 42" in out  # /status, after the changes
    assert "error: unknown command /bogus" in out
    assert "error: /steps needs an integer, got 'x'" in out
    assert "error: invalid: set_params.steps=99" in out  # the daemon's refusal, one line
    with ControlClient(endpoints.control) as ctl:
        settings = ctl.status()["settings"]
    assert settings["prompt"] == "oil painting"  # /quit stopped before "never reached"
    assert (settings["steps"], settings["strength"], settings["seed"]) == (3, 0.5, 42)


def test_presets_transition_and_reset(start_daemon, endpoints, tmp_path):
    start_daemon()
    script = (
        "/preset\n/preset anime\n/preset nosuch\n/transition 12\nmisty harbor\n/transition -1\n/reset\n"  # EOF ends it
    )
    result = run_script(endpoints.control, script, tmp_path)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "winter" in out and "watercolor" in out  # the listing
    assert "preset anime: prompt 'anime, cel-shaded, clean line art'" in out
    assert "error: invalid: no preset 'nosuch'" in out
    assert "prompt set: 'misty harbor' (transition 12 frames)" in out
    assert "error: /transition takes 0 to" in out
    assert "history reset" in out
    with ControlClient(endpoints.control) as ctl:
        settings = ctl.status()["settings"]
    assert (settings["prompt"], settings["transition_frames"]) == ("misty harbor", 12)


def test_preset_sets_prompt_and_params(start_daemon, endpoints, tmp_path):
    start_daemon()
    result = run_script(endpoints.control, "/steps 5\n/preset anime\n", tmp_path)
    assert result.returncode == 0, result.stderr
    with ControlClient(endpoints.control) as ctl:
        settings = ctl.status()["settings"]
    assert settings["prompt"] == "anime, cel-shaded, clean line art"
    assert settings["steps"] == 2  # the preset's, replacing /steps 5


def test_no_daemon_is_reported_and_the_console_keeps_going(endpoints, tmp_path):
    result = run_script(endpoints.control, "hello\n/steps 2\n/help\n/quit\n", tmp_path, "--timeout", "0.2")
    out = result.stdout
    assert result.returncode == 0
    assert "Traceback" not in out + result.stderr
    # greeting, prompt, /steps, /help (the language is the daemon's); /quit needs no daemon
    assert out.count("no reply from the Reverie daemon") == 4


def test_commands_retry_once_the_daemon_starts(start_daemon, endpoints, tmp_path):
    proc = subprocess.Popen(
        console_cmd(endpoints.control, "--timeout", "0.3"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=console_env(tmp_path),
    )
    try:
        proc.stdin.write("too early\n")
        proc.stdin.flush()
        early = [proc.stdout.readline() for _ in range(4)]  # greeting (3 lines), then the failed prompt
        start_daemon()
        proc.stdin.write("just in time\n")
        out, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert "no reply" in early[0] and "no reply" in early[3], early
    assert "prompt set: 'just in time'" in out and "too early" not in out
    with ControlClient(endpoints.control) as ctl:
        assert ctl.status()["settings"]["prompt"] == "just in time"


def test_completion_of_commands_and_preset_names():
    presets = ["anime", "oil", "watercolor", "winter"]
    assert completions("", "/st", presets) == ["/steps ", "/strength ", "/status "]
    assert completions("/preset ", "w", presets) == ["watercolor", "winter"]
    assert completions("/preset ", "", presets) == sorted(presets)
    assert completions("", "snow", presets) == []  # a prompt is not completed
    assert completions("/steps ", "", presets) == []


class Pty:
    """The console's terminal: we type into the master side and read everything it draws."""

    def __init__(self, cmd: list[str], env: dict[str, str]):
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
        self.proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        self.output = b""

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def wait_for(self, predicate, timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while not predicate(self.output):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if select.select([self.master], [], [], min(remaining, 0.1))[0]:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: the console exited and closed the terminal
                    return predicate(self.output)
                if not chunk:
                    return predicate(self.output)
                self.output += chunk
        return True

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        os.close(self.master)


def test_terminal_shows_live_stats_and_keeps_history(start_daemon, endpoints, tmp_path):
    start_daemon()
    term = Pty(console_cmd(endpoints.control), console_env(tmp_path))
    redraw = b"\x1b7\x1b[1A\r\x1b[2Kstats   "  # save cursor, up to the live line, clear, rewrite
    try:
        assert term.wait_for(lambda out: b"reverie> " in out), term.output
        # The stats line is redrawn in place, about once a second, while the prompt waits.
        assert term.wait_for(lambda out: out.count(redraw) >= 2 and b"fps" in out.split(redraw)[-1]), term.output
        term.type("lantern festival\r")  # now that the console follows events, it sees its own change come back
        assert term.wait_for(lambda out: b"prompt set: 'lantern festival'" in out), term.output
        term.type("/h\t\r")  # tab completes /help
        assert term.wait_for(lambda out: b"/transition N" in out), term.output
        term.type("half typed")
        with ControlClient(endpoints.control) as other:  # e.g. a second console
            other.set_prompt("from elsewhere", 5)
        assert term.wait_for(lambda out: b"* prompt changed elsewhere: 'from elsewhere'" in out), term.output
        notice_at = term.output.rindex(b"prompt changed elsewhere")
        assert term.wait_for(lambda out: b"reverie> half typed" in out[notice_at:]), term.output  # input redrawn
        term.type("\x15/quit\r")  # Ctrl-U clears the half-typed line
        assert term.proc.wait(10) == 0, term.output
    finally:
        term.close()
    assert b"Traceback" not in term.output
    # Events arrive in order, so the echo of our own change came before the other one; it is not announced.
    assert b"prompt changed elsewhere: 'lantern festival'" not in term.output
    history = (tmp_path / "state" / "reverie" / "console_history").read_text()
    assert "lantern festival" in history and "/quit" in history
    with ControlClient(endpoints.control) as ctl:
        assert ctl.status()["settings"]["prompt"] == "from elsewhere"


def test_the_console_op_keeps_the_callers_transition_and_says_quit(start_daemon, endpoints):
    """The daemon runs the language; `/transition` belongs to the console that sends it,
    so it comes back in the reply and never changes another console's lines."""
    start_daemon(stylizer_spec("Echo"))
    with ControlClient(endpoints.control) as ctl:
        reply = ctl.console("/transition 12")
        assert reply["transition_frames"] == 12 and reply["text"] == "transition 12 frames for the next prompts"
        assert ctl.console("snow", 12)["text"] == "prompt set: 'snow' (transition 12 frames)"
        assert ctl.status()["settings"]["transition_frames"] == 12
        assert ctl.console("rain")["text"] == "prompt set: 'rain' (transition 0 frames)"  # another console's line
        refused = ctl.console("/steps 99", 5)
        assert refused["outcome"] == "refused" and ctl.console("/steps x")["outcome"] == "usage"
        assert refused["text"].startswith("error: invalid: set_params.steps=99") and refused["transition_frames"] == 5
        assert ctl.console("/quit") == {"ok": True, "text": "", "quit": True, "transition_frames": 0, "outcome": "ok"}
        with pytest.raises(ControlError) as info:
            ctl.console("x" * 2001)
        assert info.value.code == "invalid" and "2000" in str(info.value)
