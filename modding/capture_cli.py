"""`reverie record` and `reverie replay`: the capture commands (docs/capture.md).

`record` is a control client: it asks the daemon to record (`record_start`), shows the
progress from `status`, and on Ctrl-C, `--frames` or `--seconds` stops it and waits for
the index. `replay` plays a capture into a running daemon, or into one it starts."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

from reverie.bridge.capture import CaptureError, CaptureReader
from reverie.bridge.cli_client import client_options


def register(commands: argparse._SubParsersAction) -> None:
    record = commands.add_parser(
        "record", help="record the live session into a capture file (frames, prompts, outputs)"
    )
    record.add_argument(
        "--out",
        required=True,
        help="the capture file to write (must not exist): a bare name goes into the daemon's captures folder"
        " ($REVERIE_CAPTURES, default ~/.local/share/reverie/captures); a path must be in that folder or one"
        " the daemon allows (reverie serve --capture-dir)",
    )
    limit = record.add_mutually_exclusive_group()
    limit.add_argument("--frames", type=int, help="stop after this many frames")
    limit.add_argument("--seconds", type=float, help="stop after this many seconds")
    client_options(record)
    record.set_defaults(func=cmd_record)

    replay = commands.add_parser(
        "replay", help="play a capture into a daemon as the game did; --check compares outputs"
    )
    replay.add_argument("file", type=Path)
    replay.add_argument(
        "--check", action="store_true", help="compare each output with the recorded one; exit 1 on a mismatch"
    )
    replay.add_argument(
        "--stylizer", help="when no daemon runs: start one with this stylizer (default: model, the capture's backend)"
    )
    replay.add_argument("--frame-timeout", type=float, default=60.0, help="seconds to wait for one output")
    client_options(replay)
    replay.set_defaults(func=cmd_replay)


def _print_capture(capture: dict[str, Any]) -> str:
    ratio = capture["bytes_raw"] / capture["bytes_stored"] if capture["bytes_stored"] else 0.0
    return (
        f"{capture['path']}: {capture['state']}, {capture['written']} frames, {capture['events']} events, "
        f"{capture['dropped']} left out (writer behind), {capture['bytes_stored'] / 2**20:.1f} MiB "
        f"({ratio:.2f}x compression), {capture['seconds']:.1f} s"
    )


def cmd_record(args: argparse.Namespace) -> int:
    from reverie.bridge.cli_client import CLIENT_FAILURES, control_client

    # A bare name is the daemon's to place (its captures folder); a path is made absolute
    # here (the daemon's working directory is not ours).
    out = args.out if "/" not in args.out else str(Path(args.out).absolute())
    if "/" in out and Path(out).exists():
        print(f"reverie record: {out} exists; a capture never overwrites a file", file=sys.stderr)
        return 2
    if (args.frames is not None and args.frames < 1) or (args.seconds is not None and args.seconds <= 0):
        print("reverie record: --frames and --seconds must be positive", file=sys.stderr)
        return 2
    stop = {"asked": False}
    previous = signal.signal(
        signal.SIGINT, lambda *_: stop.update(asked=True)
    )  # Ctrl-C: stop cleanly, finish the index
    try:
        with control_client(args) as ctl:
            fields = {} if args.frames is None else {"max_frames": args.frames}
            capture = ctl.request("record_start", path=out, **fields)["capture"]
            print(f"recording to {capture['path']} (Ctrl-C stops)", flush=True)
            deadline = None if args.seconds is None else time.monotonic() + args.seconds
            while not stop["asked"] and (deadline is None or time.monotonic() < deadline):
                capture = ctl.status()["capture"]
                if capture["state"] != "recording":
                    break  # --frames reached, or the writer failed
                print(f"\r  {capture['frames']} frames, {capture['dropped']} left out", end="", flush=True)
                time.sleep(0.2)
            print()
            if capture["state"] == "recording":
                capture = ctl.record_stop()
            else:
                capture = ctl.wait_capture()
    except CLIENT_FAILURES as exc:
        print(f"\nreverie record: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, previous)
    print(_print_capture(capture))
    if capture["state"] != "finished":
        print(
            f"reverie record: the capture is {capture['state']}: {capture.get('error') or 'not finished in time'}",
            file=sys.stderr,
        )
        return 1
    return 0


def _daemon_for(args: argparse.Namespace, header: dict[str, Any]):
    """(control endpoint, LocalDaemon or None): the running daemon, else one started here."""
    from reverie.bridge.client import ControlClient, DaemonUnavailable
    from reverie.bridge.local_daemon import LocalDaemon

    try:
        with ControlClient(args.control, timeout_s=1.0, curve_keys=args.curve_keys) as ctl:
            ctl.request("ping")
        return args.control, None
    except DaemonUnavailable:
        if args.control:
            raise
    stylizer = args.stylizer or "model"
    extra = []
    identity = header.get("stylizer_identity") or {}
    if stylizer == "model" and identity.get("backend"):
        extra = ["--backend", identity["backend"], "--device", identity.get("device") or "cpu"]
    print(f"no daemon running: starting one (stylizer {stylizer} {' '.join(extra)})", flush=True)
    daemon = LocalDaemon(stylizer=stylizer, extra=extra).start(timeout_s=300.0)
    return daemon.endpoints.control, daemon


def cmd_replay(args: argparse.Namespace) -> int:
    from reverie.bridge.cli_client import CLIENT_FAILURES
    from reverie.bridge.client import Client

    from .replay import replay

    try:
        reader = CaptureReader(args.file)
    except (CaptureError, OSError) as exc:
        print(f"reverie replay: {exc}", file=sys.stderr)
        return 2
    daemon = None
    try:
        control, daemon = _daemon_for(args, reader.header)
        with Client(
            control, name="reverie-replay", timeout_s=max(args.timeout, 5.0), curve_keys=args.curve_keys
        ) as game:
            result = replay(
                reader,
                game,
                check=args.check,
                timeout_s=args.frame_timeout,
                progress=lambda i, n: print(f"\r  frame {i}/{n}", end="", flush=True),
            )
        print()
    except CaptureError as exc:
        print(f"\nreverie replay: {exc}", file=sys.stderr)
        return 1
    except CLIENT_FAILURES as exc:
        print(f"\nreverie replay: {exc}", file=sys.stderr)
        return 1
    finally:
        reader.close()
        if daemon is not None:
            daemon.stop()
    for warning in result.warnings:
        print(f"warning: {warning}")
    fps = result.frames / result.seconds if result.seconds else 0.0
    print(
        f"replayed {result.frames} frames in {result.seconds:.2f} s ({fps:.1f} fps)"
        + (f", {result.not_sent} dropped ones not sent" if result.not_sent else "")
    )
    if args.check:
        if result.mismatches:
            print(f"MISMATCH: {result.mismatches} of {result.compared} outputs differ; first: {result.first_mismatch}")
            return 1
        if result.compared == 0:
            print("nothing compared: the capture holds no frame with an output")
            return 1
        print(f"bit-exact: all {result.compared} outputs equal the recorded ones")
    return 0
