"""reverie_console_exec sends each line to the daemon, which runs the console language
for every console: one script run through the Python console (piped, as
tests/test_console.py drives it) and through the native library leaves the daemon in the
same state with the same replies, errors included, and the library turns each reply's
outcome into the documented result (usage mistakes INVALID_ARGUMENT, refusals REJECTED)."""

from __future__ import annotations

import re
import subprocess

from conftest import stylizer_spec
from native_build import program
from reverie.bridge import ControlClient
from test_console import run_script

SCRIPT = """\
oil painting
/steps 3
/strength 0.5
/seed 42
/status
/bogus
/steps x
/steps 99
/steps
/strength abc
/strength 1e-3
/strength nan
/seed -5
/seed 1_000
/transition 12
misty harbor
/transition -1
/transition x
/transition
/preset
/preset anime
/preset nosuch
/reset
/help

it's "quoted"\ttab
/strength 0.25
/transition 0
final prompt \u2713
/status
/quit
never reached
"""

# What each line returns from reverie_console_exec (the empty line and /quit included).
EXPECTED_RESULTS = [
    "OK", "OK", "OK", "OK", "OK", "INVALID_ARGUMENT", "INVALID_ARGUMENT", "REJECTED", "INVALID_ARGUMENT",
    "INVALID_ARGUMENT", "OK", "REJECTED", "REJECTED", "OK", "OK", "OK", "INVALID_ARGUMENT", "INVALID_ARGUMENT", "OK",
    "OK", "OK", "REJECTED", "OK", "OK", "OK", "OK", "OK", "OK", "OK", "OK", "QUIT",
]


def settings(control: str) -> dict:
    with ControlClient(control) as ctl:
        return ctl.status()["settings"]


def normalized(text: str) -> list[str]:
    """Lines, without what legitimately differs between two runs: the daemon's uptime."""
    return [re.sub(r"  up \d+ s  ", "  up N s  ", line) for line in text.splitlines()]


def test_native_console_matches_the_python_console(start_daemon, endpoints, tmp_path):
    start_daemon(stylizer_spec("Echo"))
    python = run_script(endpoints.control, SCRIPT, tmp_path)
    assert python.returncode == 0, python.stderr
    python_lines = normalized(python.stdout)
    assert python_lines[0].startswith("connected to the Reverie daemon") and python_lines[1] == "type a prompt, or /help"
    after_python = settings(endpoints.control)

    # Move the daemon away from that state, so the native run has to bring it back.
    with ControlClient(endpoints.control) as ctl:
        ctl.set_prompt("something else", 99)
        ctl.set_params(steps=7, strength=0.9, seed=7)
    assert settings(endpoints.control) != after_python

    native = subprocess.run([program("console_exec"), endpoints.control], input=SCRIPT, capture_output=True,
                            text=True, timeout=30)
    assert native.returncode == 0, native.stderr
    assert settings(endpoints.control) == after_python
    assert normalized(native.stdout) == python_lines[2:]  # the Python console greets first
    assert native.stderr.split() == ["REVERIE_" + name for name in EXPECTED_RESULTS]


def test_native_console_without_a_daemon_says_so(endpoints):
    """Every line is the daemon's to run: without one, each says so, and /quit still ends
    the console (the library stops at REVERIE_QUIT only when the daemon says it)."""
    native = subprocess.run([program("console_exec"), endpoints.control], input="/steps 2\n/help\n/transition 5\n",
                            capture_output=True, text=True, timeout=30)
    assert native.returncode == 0, native.stderr
    unreachable = f"error: no reply from the Reverie daemon at {endpoints.control} (is `reverie serve` running?)"
    assert native.stdout.splitlines() == [unreachable] * 3
    assert native.stderr.split() == ["REVERIE_UNAVAILABLE"] * 3
