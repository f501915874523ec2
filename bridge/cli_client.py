"""What every command-line client of a running daemon shares: the connection options, the
control connection, and the failures it may meet."""

from __future__ import annotations

import argparse
from pathlib import Path

import zmq

from .client import ControlClient, ReverieError

# What a command-line client may meet: no daemon, a refusal, a bad endpoint, missing keys.
CLIENT_FAILURES = (ReverieError, zmq.ZMQError, OSError)


def client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--control", help="the daemon's control endpoint (default: $REVERIE_CONTROL or the local socket)"
    )
    parser.add_argument("--curve-keys", type=Path, help="folder with server.key and client.key_secret")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for the daemon")


def control_client(args: argparse.Namespace) -> ControlClient:
    """A control-only connection: no game session, just requests."""
    return ControlClient(args.control, timeout_s=args.timeout, curve_keys=args.curve_keys)
