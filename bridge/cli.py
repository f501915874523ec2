"""`reverie serve | prompt | status | console | keys | bench bridge`: the bridge's commands."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

import zmq

from reverie.common.cli_args import BACKENDS, DEFAULT_BACKEND_HELP, DEVICES, PRECISIONS

from . import control as C
from . import protocol as P
from .cli_client import CLIENT_FAILURES, client_options, control_client
from .texts import format_status


def register(commands: argparse._SubParsersAction, benches: argparse._SubParsersAction) -> None:
    """Add the bridge's subcommands to the `reverie` parser."""
    serve = commands.add_parser("serve", help="run the daemon (prints its endpoints)")
    serve.add_argument(
        "--control", help="control endpoint (clients REQ, the daemon a ROUTER); default: a private ipc:// socket"
    )
    serve.add_argument("--events", help="event endpoint (PUB)")
    serve.add_argument("--frames", help="frame-notice endpoint (ROUTER); always local")
    serve.add_argument("--curve-keys", type=Path, help="folder from `reverie keys`; required for non-local binds")
    serve.add_argument(
        "--session-timeout",
        type=float,
        default=P.DEFAULT_SESSION_TIMEOUT_S,
        metavar="S",
        help="close a game's session after S seconds without a sign of life (default 10; docs/protocol.md)",
    )
    serve.add_argument(
        "--stylizer", default="model", help="model (the denoiser, default), identity, module:Class or file.py:Class"
    )
    model = serve.add_argument_group("the model stylizer (--stylizer model)")
    model.add_argument("--backend", choices=BACKENDS, help=f"inference backend (default: {DEFAULT_BACKEND_HELP})")
    model.add_argument(
        "--device", choices=DEVICES, help="where the model runs (default cpu; intel-gpu: OpenVINO's Intel GPU)"
    )
    model.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="force the backend's arithmetic: openvino auto (bf16 where the CPU has it), bf16, f32 (f16 on intel-gpu);"
        " tensorrt fp16, fp32",
    )
    model.add_argument(
        "--weights", type=Path, help="folder with model.safetensors and config.json (default: the shipped weights)"
    )
    model.add_argument(
        "--work-height",
        type=int,
        help="the model's working height in pixels (default 256; width follows the game's aspect)",
    )
    model.add_argument(
        "--trt-profile",
        metavar="MIN:OPT:MAX",
        help="TensorRT frame sizes, each WxH of the working size (default around --work-height)",
    )
    serve.add_argument(
        "--styles",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of style packs (or one pack), after the shipped ones and $REVERIE_STYLES; repeatable",
    )
    serve.add_argument(
        "--capture-dir",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="a folder record_start may write captures in, besides $REVERIE_CAPTURES"
        " (default ~/.local/share/reverie/captures); repeatable",
    )
    serve.add_argument("--log-level", default="INFO")
    serve.set_defaults(func=cmd_serve)

    prompt = commands.add_parser("prompt", help="set the prompt of a running daemon")
    prompt.add_argument("text")
    prompt.add_argument("--transition", type=int, default=0, metavar="FRAMES", help="blend over this many frames")
    client_options(prompt)
    prompt.set_defaults(func=cmd_prompt)

    status = commands.add_parser("status", help="show a running daemon's state")
    status.add_argument("--json", action="store_true", help="print the raw status map as JSON")
    client_options(status)
    status.set_defaults(func=cmd_status)

    console = commands.add_parser("console", help="interactive prompt console with live stats")
    client_options(console)
    console.set_defaults(func=cmd_console)

    keys = commands.add_parser("keys", help="generate CURVE keys for serving beyond localhost")
    keys.add_argument("directory", type=Path)
    keys.set_defaults(func=cmd_keys)

    bench = benches.add_parser("bridge", help="transport round trip in two processes vs. a memcpy floor")
    bench.add_argument("--json", action="store_true", help="print only the JSON summary line")
    bench.add_argument("--size", default="1920x1080", help="WxH")
    bench.add_argument("--frames", type=int, default=500)
    bench.add_argument("--warmup", type=int, default=20)
    bench.add_argument(
        "--transport",
        choices=("shm", "cuda"),
        default="shm",
        help="shm: planes in shared memory (default); cuda: planes on the GPU, the CUDA IPC ring"
        " (needs cupy and a GPU)",
    )
    bench.set_defaults(func=cmd_bench_bridge)


def _endpoints(args: argparse.Namespace) -> C.Endpoints:
    """The endpoints given, the defaults for the others (the default socket folder is
    only made, and checked, when one is not given: control.runtime_dir)."""
    return C.Endpoints.default(control=args.control, events=args.events, frames=args.frames)


def cmd_serve(args: argparse.Namespace) -> int:
    from .daemon import Daemon, DaemonConfig, DaemonSockets, logs
    from .packs import style_dirs
    from .stylizer import load_stylizer

    logs.configure(args.log_level)
    for folder in args.styles:
        if not folder.is_dir():
            print(f"reverie serve: --styles {folder}: no such folder", file=sys.stderr)
            return 2
    for folder in args.capture_dir:
        if not folder.is_dir():
            print(f"reverie serve: --capture-dir {folder}: no such folder", file=sys.stderr)
            return 2
    if not 0.5 <= args.session_timeout <= 86400:
        print("reverie serve: --session-timeout must be between 0.5 and 86400 seconds", file=sys.stderr)
        return 2
    try:
        endpoints = _endpoints(args)
    except OSError as exc:  # the default socket folder is not private (control.UnsafeRuntimeDir)
        print(f"reverie serve: {exc}", file=sys.stderr)
        return 2
    config = DaemonConfig(
        endpoints=endpoints,
        capture_dirs=args.capture_dir,
        curve_keys=args.curve_keys,
        styles=style_dirs(args.styles),
        session_timeout_s=args.session_timeout,
    )
    options = _model_options(args)
    try:  # bind first: an endpoint mistake fails at once, not after a model has loaded
        sockets = DaemonSockets(config)
    except (OSError, RuntimeError, ValueError, TypeError, zmq.ZMQError) as exc:
        print(f"reverie serve: {exc}", file=sys.stderr)
        return 2
    try:  # nothing is served until run()
        daemon = Daemon(load_stylizer(args.stylizer, **options), config, sockets)
    except (OSError, RuntimeError, ValueError, TypeError, KeyError, ImportError, AttributeError) as exc:
        sockets.close()
        sockets.context.term()
        sockets.unlink()
        print(f"reverie serve: {exc}", file=sys.stderr)
        return 2
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: daemon.stop())
    eps = config.endpoints
    print(f"reverie daemon pid {daemon.pid}, stylizer {daemon.stylizer.name}", flush=True)
    print(f"  control {eps.control}\n  events  {eps.events}\n  frames  {eps.frames}", flush=True)
    daemon.run()
    return 0


MODEL_OPTIONS = {
    "backend": "backend",
    "device": "device",
    "weights": "weights",
    "work_height": "work_height",
    "trt_profile": "trt_profile",
    "precision": "precision",
}


def _model_options(args: argparse.Namespace) -> dict[str, Any]:
    """The model stylizer's keyword arguments from the command line (only those given)."""
    given = {key: getattr(args, attr) for attr, key in MODEL_OPTIONS.items() if getattr(args, attr) is not None}
    if given and args.stylizer != "model":
        raise SystemExit(
            f"reverie serve: --{'/--'.join(k.replace('_', '-') for k in given)} apply to --stylizer model only"
        )
    return given


def cmd_prompt(args: argparse.Namespace) -> int:
    try:
        with control_client(args) as ctl:
            ctl.set_prompt(args.text, args.transition)
    except CLIENT_FAILURES as exc:
        print(f"reverie prompt: {exc}", file=sys.stderr)
        return 1
    print(f"prompt set: {args.text!r} (transition {args.transition} frames)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    try:
        with control_client(args) as ctl:
            status = ctl.status()
    except CLIENT_FAILURES as exc:
        print(f"reverie status: {exc}", file=sys.stderr)
        return 1
    status.pop("ok", None)
    print(json.dumps(status, indent=None if args.json else 2) if args.json else format_status(status))
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    from .console import run_console

    return run_console(args)


def cmd_keys(args: argparse.Namespace) -> int:
    C.generate_keys(args.directory)
    print(f"CURVE keys written to {args.directory}:")
    print(f"  daemon:  reverie serve --control tcp://0.0.0.0:5555 --curve-keys {args.directory}")
    print(f"  clients: copy {args.directory}/server.key and client.key_secret; pass --curve-keys")
    return 0


def cmd_bench_bridge(args: argparse.Namespace) -> int:
    from .bench import run_bridge_bench

    return run_bridge_bench(args)
