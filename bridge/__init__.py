"""Frames in, frames out: the shared-memory ring, the ZeroMQ control plane, the daemon
and the game-side client. Knows nothing of the model: the daemon runs any `Stylizer`."""

from .client import (
    Client,
    ControlClient,
    ControlError,
    DaemonUnavailable,
    FrameDropped,
    FrameFormatError,
    FrameRejected,
    Output,
    ReverieError,
)
from .daemon import Daemon, DaemonConfig
from .stylizer import Frame, IdentityStylizer, Stylizer, load_stylizer

__all__ = [
    "Client", "ControlClient", "ControlError", "DaemonUnavailable", "FrameDropped", "FrameFormatError", "FrameRejected",
    "Output", "ReverieError", "Daemon", "DaemonConfig", "Frame", "IdentityStylizer", "Stylizer", "load_stylizer",
]
