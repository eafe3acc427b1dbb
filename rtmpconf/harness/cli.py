"""``rtmpconf``: the command-line entry point (DESIGN.md, "CLI contract")."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any


def main(argv: list[str] | None = None) -> int:
    """Entry point: no traceback reaches a user (RTMPCONF_DEBUG=1 shows one for a bug report)."""
    import os

    try:
        status = _main(argv)
        sys.stdout.flush()  # a reader that went away shows here, not as an error at exit
        return status
    except KeyboardInterrupt:
        print("rtmpconf: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`rtmpconf analyze FILE | head -1`): stop quietly, as a CLI killed
        # by SIGPIPE would.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 141
    except Exception as exc:  # noqa: BLE001 - the last guard: one line, not a traceback
        if os.environ.get("RTMPCONF_DEBUG"):
            raise
        print(f"rtmpconf: internal error: {type(exc).__name__}: {exc} (run with RTMPCONF_DEBUG=1 for the "
              "traceback, and please report it)", file=sys.stderr)
        return 1


class _VersionAction(argparse.Action):
    """``--version``, with the version looked up only when asked (importlib.metadata is slow to load)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kw: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        from rtmpconf import __version__

        print(f"rtmpconf {__version__}")
        parser.exit()


#: Subcommands owned by other harness packages, which register themselves.
OWNERS = {"analyze": "rtmpconf.harness.capture.cli", "replay": "rtmpconf.harness.capture.cli",
          "impair": "rtmpconf.harness.impair.cli", "load": "rtmpconf.harness.load.cli",
          "clients": "rtmpconf.harness.clients.cli"}


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rtmpconf", description="RTMP conformance suite and reference server")
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    argv_list = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv_list if not a.startswith("-")), None)
    if first in OWNERS:
        # A command of another package (``rtmpconf analyze``): only its parser, none of the
        # server's or the runner's imports (start-up time is most of a short analyze).
        return _owned(parser, sub, first, argv_list)

    from rtmpconf.reference_server.__main__ import build_parser, serve

    p_serve = sub.add_parser("serve", help="run the reference live server")
    build_parser(p_serve)

    p_run = sub.add_parser("run", help="run the conformance suite against a target")
    from rtmpconf import cliutil
    from rtmpconf.harness import runner

    runner.add_run_arguments(p_run)
    p_report = sub.add_parser("report", help="build the Allure HTML report and summary")
    runner.add_report_arguments(p_report)

    p_matrix = sub.add_parser("matrix", help="run the suite against several servers; side-by-side matrix")
    p_matrix.add_argument("--targets", required=True,
                          help="comma-separated: reference, nginx-rtmp, node-media-server, ffmpeg-listen")
    p_matrix.add_argument("--interop", action="store_true", help="include the interop cases")
    p_matrix.add_argument("--case", action="append", default=[], help="only case IDs matching this glob")
    p_matrix.add_argument("--no-html", action="store_true", help="skip the per-server Allure reports")
    p_matrix.add_argument("-j", "--jobs", type=cliutil.workers, default=None, metavar="N",
                          help="workers per server run, each with its own server (default: three per core, at "
                               "most eight; one per core with --interop; 1 = serial)")

    p_diff = sub.add_parser("diff", help="what changed between two runs (two summary.json files)")
    p_diff.add_argument("old", metavar="OLD", help="the earlier run's summary.json")
    p_diff.add_argument("new", metavar="NEW", help="the later run's summary.json")
    p_diff.add_argument("--json", action="store_true", help="print the changes as JSON")
    p_diff.add_argument("--markdown", action="store_true", help="print the changes as Markdown")

    p_cat = sub.add_parser("catalogue", help="print catalogue rules (levels, requirements, spec links)")
    p_cat.add_argument("rules", nargs="*", metavar="ID",
                       help="rule IDs, section prefixes (CH) or globs ('TS-*'); none: one line per rule")
    p_cat.add_argument("--markdown", action="store_true", help="print the whole catalogue as Markdown (docs/catalogue.md)")
    p_cat.add_argument("--json", action="store_true", help="print the selected rules as JSON")
    p_cat.add_argument("--bugs", action="store_true", help="list the real interop bugs behind the rules")

    # Subcommands owned by other harness packages register themselves (analyze, replay, impair, load).
    handlers = _register_owned(sub, list(dict.fromkeys(OWNERS.values())))
    args = parser.parse_args(argv_list)
    if args.command in handlers:
        return int(handlers[args.command](args))
    if args.command == "serve":
        return serve(args)
    if args.command == "run":
        return runner.run(args)
    if args.command == "report":
        return runner.report(args)
    if args.command == "catalogue":
        return catalogue_command(args)
    if args.command == "diff":
        return diff_command(args)
    if args.command == "matrix":
        from rtmpconf.harness.peers.servers import SERVER_NAMES
        from rtmpconf.harness.report.matrix import matrix

        names = [t.strip() for t in args.targets.split(",") if t.strip()]
        unknown = [n for n in names if n not in SERVER_NAMES]
        if unknown or not names:
            p_matrix.error(f"argument --targets: unknown target(s) {', '.join(unknown) or '(none given)'}; "
                           f"choose from {', '.join(SERVER_NAMES)}")
        extra = (["--interop"] if args.interop else []) + [f"--case={g}" for g in args.case]
        return matrix(names, extra, build_html=not args.no_html, jobs=args.jobs)
    parser.error(f"unknown command {args.command}")
    return 2


def diff_command(args: argparse.Namespace) -> int:
    """``rtmpconf diff OLD NEW``: new FAILs, fixed, flipped, new and removed cases. Exit 1 when
    NEW has a FAIL that OLD did not, 0 otherwise, 2 for an unreadable file."""
    import json

    from rtmpconf.harness.report.history import SummaryError, diff, load_summary, render_markdown, render_text

    try:
        old, new = load_summary(args.old), load_summary(args.new)
    except SummaryError as exc:
        print(f"rtmpconf diff: error: {exc}", file=sys.stderr)
        return 2
    d = diff(old, new)
    if args.json:
        print(json.dumps(d, indent=2, ensure_ascii=False))
    elif args.markdown:
        print(render_markdown(d))
    else:
        print(render_text(d))
    return 1 if d["new_fail"] else 0


def _register_owned(sub: argparse._SubParsersAction, modules: list[str]) -> dict[str, Any]:  # type: ignore[type-arg]
    import importlib

    handlers: dict[str, Any] = {}
    for module in modules:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if not (exc.name and module.startswith(exc.name)):
                raise
            continue
        handlers.update(mod.register(sub))
    return handlers


def _owned(parser: argparse.ArgumentParser, sub: argparse._SubParsersAction, command: str,  # type: ignore[type-arg]
           argv: list[str]) -> int:
    handlers = _register_owned(sub, [OWNERS[command]])
    args = parser.parse_args(argv)
    return int(handlers[args.command](args))


def catalogue_command(args: argparse.Namespace) -> int:
    """``rtmpconf catalogue [ID ...]``: the rules as the suite knows them."""
    import json

    from rtmpconf.harness.catalogue import CatalogueError, catalogue, render_markdown, render_rule

    try:
        cat = catalogue()
    except CatalogueError as exc:
        print(f"error: the catalogue is broken: {exc}", file=sys.stderr)
        return 2
    if args.markdown:
        print(render_markdown(cat))
        return 0
    if args.bugs:
        for bug in cat.bugs:
            print(f"{bug.id:7s} [{', '.join(bug.rules)}] {' '.join(bug.text.split())}")
        return 0
    if not args.rules:
        rules = list(cat.rules.values())
    else:
        rules = []
        for pattern in args.rules:
            found = cat.match(pattern)
            if not found:
                print(f"error: no rule matches {pattern!r} (try `rtmpconf catalogue` for the list)", file=sys.stderr)
                return 2
            rules.extend(r for r in found if r not in rules)
    if args.json:
        print(json.dumps([{"id": r.id, "level": r.level.value, "title": r.title, "section": r.section.label,
                           "requirement": r.requirement, "level_reason": r.level_reason, "test": r.test,
                           "spec": [{"name": s.name, "url": s.url} for s in r.spec], "notes": list(r.notes),
                           "bugs": list(r.bugs)} for r in rules], indent=2, ensure_ascii=False))
    elif not args.rules:
        for r in rules:
            print(f"{r.id:9s} {r.level.value:6s} {r.title}")
        print(f"{len(rules)} rules; `rtmpconf catalogue ID` prints one in full")
    else:
        print("\n\n".join(render_rule(r) for r in rules))
    return 0


#: Commands after which the interpreter's shutdown has nothing to do (no threads, child processes,
#: temporary files or atexit work): the program ends as soon as their output is flushed. Freeing
#: every module and object one by one took 6 ms of a 70 ms ``rtmpconf analyze``.
QUICK_EXIT = frozenset({"analyze"})


def entry() -> None:
    """The ``rtmpconf`` program (console script and ``python -m rtmpconf.harness.cli``)."""
    run_program(main, sys.argv[1:])


def run_program(main_fn: Callable[[list[str]], int], argv: list[str]) -> None:
    """Run a command-line ``main_fn(argv)`` and end the process with its status; the commands in
    QUICK_EXIT end without interpreter shutdown (this entry and ``python -m rtmpconf.harness.capture``)."""
    quick = next((a for a in argv if not a.startswith("-")), None) in QUICK_EXIT
    if quick:
        import gc

        # A short command allocates a few hundred thousand objects and frees them by reference
        # counting: the cyclic collector's young-generation passes (one per 700 allocations by
        # default) find nothing there. Fewer of them: 3 ms of the 70.
        gc.set_threshold(100_000, 20, 20)
    status = main_fn(argv)
    if quick:
        import os

        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:  # the reader went away after main_fn flushed: nothing more to say
            pass
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    entry()
