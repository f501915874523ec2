"""The daemon's log lines: whatever a client sent is escaped before it is written, so a
name or a prompt with a newline or an ANSI escape cannot forge or repaint a line."""

from __future__ import annotations

import logging

from ..texts import escape

_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


class EscapingFormatter(logging.Formatter):
    """Escapes the message (with its arguments filled in); a traceback stays as it is."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        record.message = escape(record.message)
        return super().formatMessage(record)


def configure(level: str) -> None:
    """The daemon's logging: one stream handler with escaped messages."""
    handler = logging.StreamHandler()
    handler.setFormatter(EscapingFormatter(_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])
