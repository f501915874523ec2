"""The daemon's state in a few human lines: `reverie status`, the console's `/status` and
its live stats line all print these."""

from __future__ import annotations

import unicodedata
from typing import Any


def escape(text: str) -> str:
    """`text` with every control or format character written as a Python escape (\\n,
    \\x1b...): what a client sent cannot forge a line or repaint a terminal."""
    if all(unicodedata.category(ch)[0] != "C" for ch in text):
        return text
    return "".join(ch if unicodedata.category(ch)[0] != "C" else ascii(ch)[1:-1] for ch in text)


def format_status(status: dict[str, Any]) -> str:
    """A few human lines from the status map."""
    settings, stats, game = status["settings"], status["stats"], status["session"]
    who = "none" if game is None else f"{escape(game['client'])} (pid {game['pid']}) size {game['size']}"
    version = ".".join(map(str, status["version"]))
    lines = [
        f"daemon pid {status['daemon_pid']}  protocol {version}  up {status['uptime_s']:.0f} s  "
        f"stylizer {status['stylizer']}",
        f"game    {who}",
        f"prompt  {settings['prompt']!r}  steps {settings['steps']}  strength {settings['strength']}  "
        f"seed {settings['seed']}",
        f"stats   {format_stats(stats)}",
    ]
    counters = status.get("stylizer_counters")
    if counters:
        lines.append("model   " + "  ".join(f"{k.replace('_', ' ')} {v}" for k, v in counters.items()))
    return "\n".join(lines)


def format_stats(stats: dict[str, Any]) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} ms"

    return (
        f"{stats['fps']:.1f} fps  latency p50 {ms(stats['latency_p50_ms'])} p95 {ms(stats['latency_p95_ms'])}  "
        f"frames {stats['frames']}  dropped {stats['dropped']}  failed {stats['failed']}"
    )


def pack_extras(pack: dict[str, Any]) -> str:
    """What a style pack adds to a preset's line: its author, and whether it switches the
    model's weights."""
    author = pack.get("author") or ""
    return (f"  by {author}" if author else "") + ("  [fine-tuned weights]" if pack.get("has_weights") else "")
