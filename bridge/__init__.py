"""Frames in, frames out: the shared-memory ring, the ZeroMQ control plane, the daemon
and its clients. Never imports the model: the daemon runs any `Stylizer`
(`reverie.common.stylizer`) and names the model's by a string."""

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
from .stylizer import IdentityStylizer, load_stylizer

__all__ = [
    "Client",
    "ControlClient",
    "ControlError",
    "DaemonUnavailable",
    "FrameDropped",
    "FrameFormatError",
    "FrameRejected",
    "Output",
    "ReverieError",
    "Daemon",
    "DaemonConfig",
    "IdentityStylizer",
    "load_stylizer",
]
