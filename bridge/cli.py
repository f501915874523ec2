"""`reverie serve | prompt | status | console | styles | keys | bench bridge`: the bridge's commands."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import zmq

from . import control as C
from .client import ControlClient, ReverieError

# What a command-line client may meet: no daemon, a refusal, a bad endpoint, missing keys.
CLIENT_FAILURES = (ReverieError, zmq.ZMQError, OSError)
# The model's backends, devices and precisions (reverie.model.backends), named here so that
# parsing the command line does not import the model.
BACKENDS = ("onnxruntime", "openvino", "torch", "tensorrt")
DEVICES = ("cpu", "cuda", "intel-gpu")
PRECISIONS = ("auto", "bf16", "f16", "f32", "fp16", "fp32")
DEFAULT_BACKEND_HELP = "openvino on a CPU with bf16 arithmetic (AMX, AVX-512 BF16) where openvino is installed, else onnxruntime"


def register(commands: argparse._SubParsersAction, benches: argparse._SubParsersAction) -> None:
    """Add the bridge's subcommands to the `reverie` parser."""
    serve = commands.add_parser("serve", help="run the daemon (prints its endpoints)")
    serve.add_argument("--control", help="control endpoint (REQ/REP); default: a private ipc:// socket")
    serve.add_argument("--events", help="event endpoint (PUB)")
    serve.add_argument("--frames", help="frame-notice endpoint (ROUTER); always local")
    serve.add_argument("--curve-keys", type=Path, help="folder from `reverie keys`; required for non-local binds")
    serve.add_argument("--stylizer", default="model", help="model (the denoiser, default), identity, module:Class or file.py:Class")
    model = serve.add_argument_group("the model stylizer (--stylizer model)")
    model.add_argument("--backend", choices=BACKENDS, help=f"inference backend (default: {DEFAULT_BACKEND_HELP})")
    model.add_argument("--device", choices=DEVICES, help="where the model runs (default cpu; intel-gpu: OpenVINO's Intel GPU)")
    model.add_argument("--precision", choices=PRECISIONS,
                       help="force the backend's arithmetic: openvino auto (bf16 where the CPU has it), bf16, f32 (f16 on intel-gpu); tensorrt fp16, fp32")
    model.add_argument("--weights", type=Path, help="folder with model.safetensors and config.json (default: the shipped weights)")
    model.add_argument("--work-height", type=int, help="the model's working height in pixels (default 256; width follows the game's aspect)")
    model.add_argument("--trt-profile", metavar="MIN:OPT:MAX", help="TensorRT frame sizes, each WxH of the working size (default around --work-height)")
    serve.add_argument("--styles", type=Path, action="append", default=[], metavar="DIR",
                       help="a folder of style packs (or one pack), after the shipped ones and $REVERIE_STYLES; repeatable")
    serve.add_argument("--log-level", default="INFO")
    serve.set_defaults(func=cmd_serve)

    prompt = commands.add_parser("prompt", help="set the prompt of a running daemon")
    prompt.add_argument("text")
    prompt.add_argument("--transition", type=int, default=0, metavar="FRAMES", help="blend over this many frames")
    _client_options(prompt)
    prompt.set_defaults(func=cmd_prompt)

    status = commands.add_parser("status", help="show a running daemon's state")
    status.add_argument("--json", action="store_true", help="print the raw status map as JSON")
    _client_options(status)
    status.set_defaults(func=cmd_status)

    console = commands.add_parser("console", help="interactive prompt console with live stats")
    _client_options(console)
    console.set_defaults(func=cmd_console)

    from .styles_cli import register as register_styles

    register_styles(commands)

    from .capture_cli import register as register_captures

    register_captures(commands, _client_options)

    keys = commands.add_parser("keys", help="generate CURVE keys for serving beyond localhost")
    keys.add_argument("directory", type=Path)
    keys.set_defaults(func=cmd_keys)

    bench = benches.add_parser("bridge", help="transport round trip in two processes vs. a memcpy floor")
    bench.add_argument("--json", action="store_true", help="print only the JSON summary line")
    bench.add_argument("--size", default="1920x1080", help="WxH")
    bench.add_argument("--frames", type=int, default=500)
    bench.add_argument("--warmup", type=int, default=20)
    bench.add_argument("--transport", choices=("shm", "cuda"), default="shm",
                       help="shm: planes in shared memory (default); cuda: planes on the GPU, the CUDA IPC ring (needs cupy and a GPU)")
    bench.set_defaults(func=cmd_bench_bridge)

    model = benches.add_parser("model", help="game submit to stylized output, through the daemon with the model")
    model.add_argument("--json", action="store_true", help="print only the JSON summary line")
    model.add_argument("--size", default="256x256", help="the game's frame size, WxH")
    model.add_argument("--steps", default="1", help="sampler steps; several (1,2,4) are measured interleaved")
    model.add_argument("--backend", help=f"{', '.join(BACKENDS)}; several (onnxruntime,openvino) interleaved, each optionally "
                       f"on other weights (onnxruntime@DIR: another network in the same run) (default: {DEFAULT_BACKEND_HELP})")
    model.add_argument("--device", choices=DEVICES, default="cpu")
    model.add_argument("--precision", choices=PRECISIONS, help="as for reverie serve (given to every backend: onnxruntime and torch take only f32)")
    model.add_argument("--frames", type=int, default=200, help="measured frames per configuration")
    model.add_argument("--warmup", type=int, default=10)
    model.add_argument("--weights", help="weights folder (default: the shipped weights)")
    model.add_argument("--work-height", type=int, help="the model's working height (default 256)")
    model.set_defaults(func=cmd_bench_model)


def _client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--control", help="the daemon's control endpoint (default: $REVERIE_CONTROL or the local socket)")
    parser.add_argument("--curve-keys", type=Path, help="folder with server.key and client.key_secret")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for the daemon")


def _endpoints(args: argparse.Namespace) -> C.Endpoints:
    default = C.Endpoints.default()
    return C.Endpoints(
        control=args.control or default.control,
        events=args.events or default.events,
        frames=args.frames or default.frames,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from .daemon import Daemon, DaemonConfig
    from .styles import style_dirs
    from .stylizer import IdentityStylizer, load_stylizer

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for folder in args.styles:
        if not folder.is_dir():
            print(f"reverie serve: --styles {folder}: no such folder", file=sys.stderr)
            return 2
    config = DaemonConfig(endpoints=_endpoints(args), curve_keys=args.curve_keys, styles=style_dirs(args.styles))
    options = _model_options(args)
    try:  # bind first: an endpoint mistake fails at once, not after a model has loaded
        daemon = Daemon(IdentityStylizer(), config)
    except (OSError, RuntimeError, ValueError, TypeError, zmq.ZMQError) as exc:
        print(f"reverie serve: {exc}", file=sys.stderr)
        return 2
    try:  # nothing is served until run(): the stylizer can still be swapped in
        daemon.stylizer = load_stylizer(args.stylizer, **options)
    except (OSError, RuntimeError, ValueError, TypeError, KeyError, ImportError, AttributeError) as exc:
        daemon.close()
        print(f"reverie serve: {exc}", file=sys.stderr)
        return 2
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: daemon.stop())
    eps = config.endpoints
    print(f"reverie daemon pid {daemon.pid}, stylizer {daemon.stylizer.name}", flush=True)
    print(f"  control {eps.control}\n  events  {eps.events}\n  frames  {eps.frames}", flush=True)
    daemon.run()
    return 0


MODEL_OPTIONS = {"backend": "backend", "device": "device", "weights": "weights", "work_height": "work_height", "trt_profile": "trt_profile",
                 "precision": "precision"}


def _model_options(args: argparse.Namespace) -> dict[str, Any]:
    """The model stylizer's keyword arguments from the command line (only those given)."""
    given = {key: getattr(args, attr) for attr, key in MODEL_OPTIONS.items() if getattr(args, attr) is not None}
    if given and args.stylizer != "model":
        raise SystemExit(f"reverie serve: --{'/--'.join(k.replace('_', '-') for k in given)} apply to --stylizer model only")
    return given


def _control_client(args: argparse.Namespace):
    """A control-only connection: no game session, just requests."""
    return ControlClient(args.control, timeout_s=args.timeout, curve_keys=args.curve_keys)


def cmd_prompt(args: argparse.Namespace) -> int:
    try:
        with _control_client(args) as ctl:
            ctl.set_prompt(args.text, args.transition)
    except CLIENT_FAILURES as exc:
        print(f"reverie prompt: {exc}", file=sys.stderr)
        return 1
    print(f"prompt set: {args.text!r} (transition {args.transition} frames)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    try:
        with _control_client(args) as ctl:
            status = ctl.status()
    except CLIENT_FAILURES as exc:
        print(f"reverie status: {exc}", file=sys.stderr)
        return 1
    status.pop("ok", None)
    print(json.dumps(status, indent=None if args.json else 2) if args.json else format_status(status))
    return 0


def format_status(status: dict[str, Any]) -> str:
    """A few human lines from the status map."""
    settings, stats, game = status["settings"], status["stats"], status["session"]
    who = "none" if game is None else f"{game['client']} (pid {game['pid']}) size {game['size']}"
    lines = [
        f"daemon pid {status['daemon_pid']}  protocol {'.'.join(map(str, status['version']))}  up {status['uptime_s']:.0f} s  stylizer {status['stylizer']}",
        f"game    {who}",
        f"prompt  {settings['prompt']!r}  steps {settings['steps']}  strength {settings['strength']}  seed {settings['seed']}",
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


def cmd_bench_model(args: argparse.Namespace) -> int:
    from .bench import run_model_bench

    return run_model_bench(args)
