"""What the I/O thread hands the frame loop: stylizer commands and rings to unmap.

The stylizer is only ever called from the frame loop, so a control request that changes it
becomes a command run between two frames. Each put wakes the frame loop through an inproc
socket it polls beside the frames socket: no thread hand-off sits on the per-frame path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

import zmq

from reverie.common.stylizer import Stylizer

_WAKE_ENDPOINT = "inproc://reverie-wake-{}"

Command = Callable[[Stylizer], None]
Record = tuple[str, dict[str, Any]]  # a stylizer command as a capture records it: (op, fields)


class Ring(Protocol):
    """A ring the frame loop unmaps once it is done with it (sessions.Ring)."""

    def close(self) -> None: ...


class Inbox:
    """Commands in the order they were put, rings to close, and the stop flag both loops
    watch."""

    def __init__(self, context: zmq.Context):
        self._lock = threading.Lock()
        self._commands: list[tuple[Command, Record | None]] = []
        self._retired: list[Ring] = []
        self.stopped = False
        endpoint = _WAKE_ENDPOINT.format(id(self))
        self.wake_rx = context.socket(zmq.PAIR)  # polled by the frame loop only
        self.wake_rx.bind(endpoint)
        self._wake_tx = context.socket(zmq.PAIR)  # used under self._lock only
        self._wake_tx.connect(endpoint)

    def _wake(self) -> None:
        try:
            self._wake_tx.send(b"", zmq.NOBLOCK)
        except zmq.Again:
            pass  # a wake-up is already pending

    def put_command(self, command: Command, record: Record | None = None) -> None:
        """`record`: the (op, fields) this command is, for a capture being recorded and the
        settings in force; applied and recorded by the frame loop, in order with frames."""
        with self._lock:
            self._commands.append((command, record))
            self._wake()

    def retire(self, ring: Ring) -> None:
        """Unmap this ring from the frame loop, after any frame of it in progress."""
        with self._lock:
            self._retired.append(ring)
            self._wake()

    def stop(self) -> None:
        self.stopped = True  # seen by both loops within one poll timeout

    def take(self) -> tuple[list[tuple[Command, Record | None]], list[Ring]]:
        while self.wake_rx.poll(0):
            self.wake_rx.recv()
        with self._lock:
            commands, self._commands = self._commands, []
            retired, self._retired = self._retired, []
        return commands, retired

    def close(self) -> None:
        self.wake_rx.close(linger=0)
        self._wake_tx.close(linger=0)
