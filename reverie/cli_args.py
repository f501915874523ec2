"""Argument parsing shared by every package's subcommands (the packages may not import
each other, so it lives at the namespace root)."""

from __future__ import annotations


def parse_size(text: str) -> tuple[int, int]:
    """'1920x1080' -> (1920, 1080); a clear exit for anything else."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"--size must look like 1920x1080, got {text!r}") from None
    if width <= 0 or height <= 0:
        raise SystemExit(f"--size must be positive, got {text!r}")
    return width, height
