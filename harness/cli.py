"""``rtmpconf``: the command-line entry point (DESIGN.md, "CLI contract")."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rtmpconf", description="RTMP conformance suite and reference server")
    sub = parser.add_subparsers(dest="command", required=True)

    from reference_server.__main__ import build_parser, serve

    p_serve = sub.add_parser("serve", help="run the reference live server")
    build_parser(p_serve)

    p_run = sub.add_parser("run", help="run the conformance suite against a target")
    from harness import runner

    runner.add_run_arguments(p_run)
    p_report = sub.add_parser("report", help="build the Allure HTML report and summary")
    runner.add_report_arguments(p_report)

    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "run":
        return runner.run(args)
    if args.command == "report":
        return runner.report(args)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
