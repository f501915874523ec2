"""The daemon and its collaborators (see `daemon.py` for how they fit together)."""

from .daemon import Daemon, DaemonConfig, DaemonSockets

__all__ = ["Daemon", "DaemonConfig", "DaemonSockets"]
