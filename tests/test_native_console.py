"""reverie_console_exec sends each line to the daemon, which runs the console language
for every console (the `console` op, protocol 1.4). Through a real daemon: each kind of
line gets the daemon's own text, byte for byte what a direct `console` request and the
Python terminal console (piped, as tests/test_console.py drives it) get; the daemon's
state changes as the line says; `/transition` belongs to one client; a reply longer than
the caller's buffer is cut at a UTF-8 boundary; and the library turns each reply's outcome
into the documented result (usage mistakes INVALID_ARGUMENT, refusals REJECTED)."""

from __future__ import annotations

import re
import subprocess

from conftest import stylizer_spec
from native_build import program
from test_console import run_script

from reverie.bridge import ControlClient
from reverie.bridge import protocol as P

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
    "OK",
    "OK",
    "OK",
    "OK",
    "OK",
    "INVALID_ARGUMENT",
    "INVALID_ARGUMENT",
    "REJECTED",
    "INVALID_ARGUMENT",
    "INVALID_ARGUMENT",
    "OK",
    "REJECTED",
    "REJECTED",
    "OK",
    "OK",
    "OK",
    "INVALID_ARGUMENT",
    "INVALID_ARGUMENT",
    "OK",
    "OK",
    "OK",
    "REJECTED",
    "OK",
    "OK",
    "OK",
    "OK",
    "OK",
    "OK",
    "OK",
    "OK",
    "QUIT",
]

# The result reverie_console_exec gives for a reply's outcome (and quit).
RESULT_OF_OUTCOME = {"ok": "OK", "usage": "INVALID_ARGUMENT", "refused": "REJECTED"}


def settings(control: str) -> dict:
    with ControlClient(control) as ctl:
        return ctl.status()["settings"]


def normalized(text: str) -> list[str]:
    """Lines, without what legitimately differs between two runs: the daemon's uptime."""
    return [re.sub(r"  up \d+ s  ", "  up N s  ", line) for line in text.splitlines()]


def run_native(control: str, lines: list[str], cap: int | None = None) -> list[tuple[str, bytes]]:
    """Each line through one C client's reverie_console_exec (a line "@2 ..." through a
    second client of the same process): (result name, reply bytes) per line run."""
    native = subprocess.run(
        [program("console_exec"), control, *([str(cap)] if cap else [])],
        input="".join(line + "\n" for line in lines).encode(),
        capture_output=True,
        timeout=30,
    )
    assert native.returncode == 0, native.stderr.decode(errors="replace")
    replies, at = [], 0
    for entry in native.stderr.decode().splitlines():
        name, length = entry.split()
        size = int(length)
        replies.append((name.removeprefix("REVERIE_"), native.stdout[at : at + size]))
        at += size + (1 if size else 0)  # console_exec prints a non-empty reply and "\n"
    assert at == len(native.stdout)
    return replies


def test_native_console_matches_the_python_console(start_daemon, endpoints, tmp_path):
    start_daemon(stylizer_spec("Echo"))
    python = run_script(endpoints.control, SCRIPT, tmp_path)
    assert python.returncode == 0, python.stderr
    python_lines = normalized(python.stdout)
    assert (
        python_lines[0].startswith("connected to the Reverie daemon") and python_lines[1] == "type a prompt, or /help"
    )
    after_python = settings(endpoints.control)

    # Move the daemon away from that state, so the native run has to bring it back.
    with ControlClient(endpoints.control) as ctl:
        ctl.set_prompt("something else", 99)
        ctl.set_params(steps=7, strength=0.9, seed=7)
    assert settings(endpoints.control) != after_python

    native = subprocess.run(
        [program("console_exec"), endpoints.control], input=SCRIPT, capture_output=True, text=True, timeout=30
    )
    assert native.returncode == 0, native.stderr
    assert settings(endpoints.control) == after_python
    assert normalized(native.stdout) == python_lines[2:]  # the Python console greets first
    assert [entry.split()[0] for entry in native.stderr.splitlines()] == ["REVERIE_" + n for n in EXPECTED_RESULTS]


def test_each_kind_of_line_is_the_daemons_console_reply(start_daemon, endpoints):
    """The C reply is byte for byte the `text` of a direct `console` request for the same
    line and transition, with the result its outcome names."""
    start_daemon(stylizer_spec("Echo"))
    lines = [
        "oil painting",
        "/steps 3",
        "/steps abc",
        "/bogus",
        "/steps 99",
        "/transition 12",
        "misty harbor \u2713",
        "/status",
        "/preset",
        "/preset nosuch",
        "/help",
        "",
        "/quit",
    ]
    native = run_native(endpoints.control, lines)
    assert [name for name, _ in native][-1] == "QUIT" and len(native) == len(lines)

    with ControlClient(endpoints.control) as ctl:
        ctl.set_prompt("something else")
        ctl.set_params(steps=7)
        transition = 0
        for line, (result, text) in zip(lines, native):
            reply = ctl.request("console", line=line, transition_frames=transition)
            transition = reply["transition_frames"]
            assert normalized(text.decode()) == normalized(reply["text"]), line
            assert text.decode() == reply["text"] or line == "/status", line  # uptime aside, to the byte
            assert result == ("QUIT" if reply["quit"] else RESULT_OF_OUTCOME[reply["outcome"]]), line


def test_lines_change_the_daemon_and_mistakes_are_error_text(start_daemon, endpoints):
    start_daemon(stylizer_spec("Echo"))
    control = endpoints.control
    assert run_native(control, ["oil painting"]) == [("OK", b"prompt set: 'oil painting' (transition 0 frames)")]
    assert (settings(control)["prompt"], settings(control)["transition_frames"]) == ("oil painting", 0)
    assert run_native(control, ["/steps 3"]) == [("OK", b"steps set to 3")]
    assert settings(control)["steps"] == 3

    (usage, typo, refused) = run_native(control, ["/steps abc", "/bogus", "/steps 99"])
    assert usage == ("INVALID_ARGUMENT", b"error: /steps needs an integer, got 'abc' (usage: /steps N)")
    assert typo == ("INVALID_ARGUMENT", b"error: unknown command /bogus (try /help)")
    assert refused[0] == "REJECTED" and refused[1].startswith(b"error: invalid: set_params.steps=99")
    assert settings(control)["steps"] == 3  # none of them changed it

    ((result, text),) = run_native(control, ["/help"])
    assert result == "OK" and text.startswith(b"  any text ") and b"\n  /quit " in text and not text.endswith(b"\n")

    # /quit is REVERIE_QUIT with no text, and ends the console: the line after it never runs.
    assert run_native(control, ["/quit", "never reached"]) == [("QUIT", b"")]
    assert settings(control)["prompt"] == "oil painting"


def test_transition_belongs_to_one_client(start_daemon, endpoints):
    """/transition 12 on one client blends its later prompts over 12 frames; another
    client of the same process (and a later console) still switches at once."""
    start_daemon(stylizer_spec("Echo"))
    control = endpoints.control
    replies = run_native(
        control, ["/transition 12", "misty harbor", "@2 harbor at dawn", "/status", "@2 /status", "night harbor"]
    )
    assert replies[0] == ("OK", b"transition 12 frames for the next prompts")
    assert replies[1] == ("OK", b"prompt set: 'misty harbor' (transition 12 frames)")
    assert replies[2] == ("OK", b"prompt set: 'harbor at dawn' (transition 0 frames)")
    assert replies[3][1].endswith(b"\nconsole transition 12 frames")
    assert replies[4][1].endswith(b"\nconsole transition 0 frames")
    assert replies[5] == ("OK", b"prompt set: 'night harbor' (transition 12 frames)")
    assert (settings(control)["prompt"], settings(control)["transition_frames"]) == ("night harbor", 12)

    # A new client starts at 0, whatever another one set.
    assert run_native(control, ["dusk"]) == [("OK", b"prompt set: 'dusk' (transition 0 frames)")]
    assert settings(control)["transition_frames"] == 0


def test_a_reply_longer_than_cap_is_cut_at_a_character_boundary(start_daemon, endpoints):
    start_daemon(stylizer_spec("Echo"))
    line = "ab\u2713\u2713"  # "prompt set: 'ab" is 15 bytes, then two 3-byte characters
    full = f"prompt set: {line!r} (transition 0 frames)".encode()
    for cap, kept in [
        (16, 15),
        (17, 15),
        (18, 15),
        (19, 18),
        (22, 21),
        (len(full), len(full) - 1),
        (len(full) + 1, len(full)),
    ]:
        ((result, text),) = run_native(endpoints.control, [line], cap)
        assert (result, text) == ("OK", full[:kept]), cap
        text.decode()  # whole characters only
        assert settings(endpoints.control)["prompt"] == line  # only the reply is cut
    ((result, text),) = run_native(endpoints.control, ["/help"], 100)  # ASCII: exactly cap - 1
    with ControlClient(endpoints.control) as ctl:
        assert (result, text) == ("OK", ctl.request("console", line="/help")["text"].encode()[:99])


def test_a_line_too_long_is_refused(start_daemon, endpoints, tmp_path):
    """2000 characters reach the language (whose prompt limit then refuses them); 2001
    are refused as a request, in the words the Python console prints; a line far beyond
    any limit never leaves the library."""
    start_daemon(stylizer_spec("Echo"))
    at_limit, over, far_over = "x" * P.MAX_CONSOLE_LINE_CHARS, "x" * (P.MAX_CONSOLE_LINE_CHARS + 1), "x" * 8001
    replies = run_native(endpoints.control, [at_limit, over, "\u2713" * 2001, far_over, "still here"])
    assert replies[0] == (
        "REJECTED",
        f"error: invalid: set_prompt.text is longer than {P.MAX_PROMPT_CHARS} characters".encode(),
    )
    refusal = f"error: invalid: console.line is longer than {P.MAX_CONSOLE_LINE_CHARS} characters".encode()
    assert replies[1] == ("REJECTED", refusal)
    assert replies[2] == ("REJECTED", refusal)  # characters, not bytes
    assert replies[3] == ("INVALID_ARGUMENT", b"error: reverie_console_exec: a line is at most 2000 characters")
    assert replies[4] == ("OK", b"prompt set: 'still here' (transition 0 frames)")

    python = run_script(endpoints.control, over + "\n", tmp_path)
    assert python.returncode == 0, python.stderr
    assert python.stdout.splitlines()[2:] == [refusal.decode()]


def test_native_console_without_a_daemon_says_so(endpoints):
    """Every line is the daemon's to run: without one, each says so. A blank line and
    /quit need no daemon, as in `reverie console`: nothing, and leaving."""
    replies = run_native(endpoints.control, ["/steps 2", "/help", "   ", "/transition 5", " /quit ", "never run"])
    unreachable = f"error: no reply from the Reverie daemon at {endpoints.control} (is `reverie serve` running?)"
    assert replies == [("UNAVAILABLE", unreachable.encode())] * 2 + [
        ("OK", b""),
        ("UNAVAILABLE", unreachable.encode()),
    ] + [("QUIT", b"")]
