"""The one console command, `reverie`, with subcommands. Each package registers its own;
this file only assembles them, so it stays thin and imports nothing heavy."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from reverie.bridge import cli as bridge_cli
    from reverie.model import cli as model_cli
    from reverie.model.world import cli as world_cli

    parser = argparse.ArgumentParser(prog="reverie", description="Live-stream diffusion for games.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    bench = commands.add_parser("bench", help="benchmarks; the last line of output is one JSON object")
    benches = bench.add_subparsers(dest="bench", required=True, metavar="WHAT")
    bridge_cli.register(commands, benches)
    world_cli.register(commands, benches)
    model_cli.register(commands, benches)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
