"""The one console command, `reverie`, with subcommands. Each package registers its own;
this file only assembles them, so it stays thin and imports nothing heavy."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from reverie import model_bench
    from reverie.bridge import cli as bridge_cli
    from reverie.modding import capture_cli, finetune_cli, packs_cli
    from reverie.model import cli as model_cli
    from reverie.model.world import cli as world_cli

    parser = argparse.ArgumentParser(prog="reverie", description="Live-stream diffusion for games.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    bench = commands.add_parser("bench", help="benchmarks; the last line of output is one JSON object")
    benches = bench.add_subparsers(dest="bench", required=True, metavar="WHAT")
    bridge_cli.register(commands, benches)
    model_bench.register(benches)
    packs_cli.register(commands)
    capture_cli.register(commands)
    world_cli.register(commands, benches)
    model_cli.register(commands, benches)
    finetune_cli.register(commands)
    demo = commands.add_parser(
        "demo",
        add_help=False,
        help="stream the synthetic world through the daemon with the model; "
        "writes demo.mp4 and demo.png (see `reverie demo --help`)",
    )
    demo.add_argument("args", nargs=argparse.REMAINDER)
    demo.set_defaults(func=cmd_demo)
    render = commands.add_parser(
        "render", add_help=False, help="restyle a capture offline into an mp4 (see `reverie render --help`)"
    )
    render.add_argument("args", nargs=argparse.REMAINDER)
    render.set_defaults(func=cmd_render)
    return parser


def cmd_demo(args: argparse.Namespace) -> int:
    """Load the demo only when it runs: nothing but this roof imports `reverie.demos`."""
    from reverie.demos.demo import main as demo_main

    return demo_main(args.args)


def cmd_render(args: argparse.Namespace) -> int:
    """`reverie render`, the modding tool's offline renderer: loaded only when it runs."""
    from reverie.modding.render import main as render_main

    return render_main(args.args)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if args.command in ("demo", "render"):  # these parse their own options
        args.args = unknown + args.args
    elif unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
