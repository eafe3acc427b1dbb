"""``python -m harness.capture analyze|replay ...``: the same subcommands as ``rtmpconf``, without
loading the other subcommands' modules (the reference server and the suite runner) first."""

from __future__ import annotations

import argparse
import sys

from rtmpconf.harness.capture.cli import register


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.capture")
    handlers = register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(handlers[args.command](args))


if __name__ == "__main__":
    from rtmpconf.harness.cli import run_program

    run_program(main, sys.argv[1:])
