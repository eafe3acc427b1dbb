"""``rtmpconf run`` and ``rtmpconf report``: the conformance suite and its reports."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from rtmpconf.paths import CASES, reports_dir, tools_dir

REPORTS = reports_dir()
#: Where ``rtmpconf report`` installs the Allure 3 CLI from npm when it is not on PATH.
TOOLS = tools_dir()
#: Pinned: the report's verdict badges rely on this version's page markup (tests/report checks them).
ALLURE_NPM = "allure@3.18.0"


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    from rtmpconf.cliutil import positive_float, workers

    t = p.add_argument_group("target")
    t.add_argument("--target", help="rtmp://[user:pass@]host[:port]/app[?query] of the server under test "
                                    "(env RTMP_TARGET; IPv6 literals in brackets)")
    t.add_argument("--target-server", choices=SERVER_CHOICES,
                   help="start this server on a free local port as the target")
    t.add_argument("--app", help="app to connect to (overrides the URL's)")
    t.add_argument("--publish-name", metavar="TEMPLATE",
                   help="what publish sends for a case's stream name {name}, e.g. '{name}?key=SECRET'")
    t.add_argument("--play-name", metavar="TEMPLATE", help="what play sends for {name}, e.g. 'edge_{name}'")
    t.add_argument("--role", choices=("auto", "full", "ingest", "edge"), default="auto",
                   help="what the target serves: full, ingest (publish only), edge (play only); "
                        "auto (default): a capability probe finds out")
    t.add_argument("--manifest", help="expected-deviation manifest (TOML; default with --target-server: the "
                                      "bundled one for that server)")
    t.add_argument("--drain", metavar="HOOK",
                   help="how the Reconnect Request cases make the target drain: token:SECRET (reference server "
                        "started with --admin-token) or a shell command (README, 'E-RTMP')")
    t.add_argument("--no-preflight", action="store_true",
                   help="skip the check (TCP, handshake, connect) that ends a run against a wrong target at once")
    x = p.add_argument_group("RTMPS, authentication, timeouts of the target")
    x.add_argument("--tls", action="store_true",
                   help="every case over RTMPS (the embedded server's TLS listener, or an rtmps:// target)")
    x.add_argument("--tls-target", metavar="URL", help="rtmps://host:port/app of the target's TLS listener (TLS cases)")
    x.add_argument("--tls-ca", metavar="PEM", help="CAs to trust for rtmps:// (default: the system store)")
    x.add_argument("--tls-no-verify", action="store_true", help="do not verify rtmps:// certificates")
    x.add_argument("--tls-sni", metavar="NAME", help="TLS server name to send and verify (default: the URL's host)")
    x.add_argument("--rtsp-url", metavar="TEMPLATE",
                   help="the target's RTSP output, e.g. rtsp://host:5544/{app}/{name} (RTSP cases)")
    x.add_argument("--auth-target", metavar="URL",
                   help="rtmp://host/app/name?<credential> the target accepts, for the AUTH cases")
    x.add_argument("--idle-timeout", type=positive_float, metavar="S",
                   help="the target's idle timeout for a silent publisher (ROB-9)")
    s = p.add_argument_group("selection and verdicts")
    s.add_argument("--case", action="append", default=[], metavar="GLOB",
                   help="only case IDs (or rule IDs) matching this glob; repeatable")
    s.add_argument("-k", dest="keyword", help="pytest -k expression over case names")
    s.add_argument("--strict", action="store_true", help="NON-STRICT verdicts fail the run")
    s.add_argument("--interop", action="store_true", help="also run interop cases (real programs, real time)")
    s.add_argument("--interop-only", action="store_true", help="run only the interop cases")
    s.add_argument("--dry-run", action="store_true", help="list case IDs, levels and requirements, run nothing")
    s.add_argument("-j", "--jobs", type=workers, default=None, metavar="N",
                   help="run cases on N concurrent workers (default: three per core, at most eight; one per core "
                        "with --interop, --impair or --time-scale; 1 = serial). Cases "
                        "that need the whole target run alone at the end (README, 'Parallel runs')")
    w = p.add_argument_group("time")
    w.add_argument("--impair", metavar="PROFILE", help="run the suite through an impairment profile "
                                                      "(rtmpconf impair --list)")
    w.add_argument("--timeout", type=positive_float, help="per-step deadline in seconds (default 5)")
    w.add_argument("--case-timeout", type=positive_float, help="per-case watchdog in seconds (default 30)")
    w.add_argument("--run-budget", type=positive_float, help="whole-run budget in seconds (default 900)")
    w.add_argument("--time-scale", type=positive_float, metavar="X",
                   help="stretch every deadline X times, for a slow or far-away target (default 1; "
                        "--impair stretches them for its profile on its own)")
    o = p.add_argument_group("output")
    o.add_argument("--out", metavar="DIR", help="output directory (default ./reports): summary.json, junit.xml, "
                                                "allure-results/")
    o.add_argument("--junit", help="JUnit XML (default OUT/junit.xml)")
    o.add_argument("--alluredir", help="Allure results directory (default OUT/allure-results)")
    o.add_argument("--summary", help="per-case summary JSON (default OUT/summary.json)")
    add_evidence_arguments(o)
    h = p.add_argument_group("HTTP outputs (HTTP-FLV, HTTP-TS, HLS cases)")
    h.add_argument("--http-target", type=_http_base,
                   help="http://host:port of the target's HTTP outputs (env HTTP_TARGET; default: the embedded "
                        "reference server's, or the one --target-server starts)")
    for opt, label in (("--http-flv-url", "HTTP-FLV"), ("--http-ts-url", "HTTP-TS"), ("--hls-url", "HLS")):
        h.add_argument(opt, type=_url_template, metavar="TEMPLATE",
                       help=f"{label} URL template with {{base}}, {{app}}, {{name}}, or 'none' (no such output)")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")


def add_evidence_arguments(o: argparse._ArgumentGroup) -> None:
    """--attach, --attach-hex, --baseline (harness/report/: what the report carries and compares)."""
    from rtmpconf.harness.report.allure import ATTACH_POLICIES

    o.add_argument("--attach", choices=ATTACH_POLICIES, default="failures",
                   help="evidence on each case's report page: failures (default: findings, full decoded log and "
                        "pcapng for FAIL/NON-STRICT/ERROR; findings and a compact log for the rest), all (full "
                        "evidence and hex dumps for every case), none")
    o.add_argument("--attach-hex", action="store_true", help="add hex dumps where the full evidence is attached")
    o.add_argument("--baseline", metavar="SUMMARY",
                   help="a previous run's summary.json: compliance.md and the report say what changed")


def _load_baseline(path: str | None, command: str) -> tuple[dict | None, bool]:
    """The --baseline summary, read before anything overwrites it; (None, False) on an error
    already printed."""
    if not path:
        return None, True
    from rtmpconf.harness.report.history import SummaryError, load_summary

    try:
        return load_summary(path), True
    except SummaryError as exc:
        print(f"rtmpconf {command}: error: --baseline {exc}", file=sys.stderr)
        return None, False


def jobs_for(args: argparse.Namespace) -> int:
    """Workers of a run: -j, else three per core (one per core with interop cases or on a slow
    link); 1 for a dry run or without pytest-xdist."""
    from rtmpconf.harness.parallel import default_jobs, xdist_available

    if args.dry_run:
        return 1
    computes = (bool(getattr(args, "impair", None)) or (getattr(args, "time_scale", None) or 1.0) != 1.0
                or bool(getattr(args, "interop", False)) or bool(getattr(args, "interop_only", False)))
    n = args.jobs if getattr(args, "jobs", None) else default_jobs(waiting=not computes)
    if n > 1 and not xdist_available():
        print(f"rtmpconf run: pytest-xdist is not installed: running serially instead of -j {n}", file=sys.stderr)
        return 1
    return n


def _http_base(value: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme != "http" or not parts.hostname:
        raise argparse.ArgumentTypeError(f"expected http://host:port, got {value!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad port in {value!r}: {exc}") from None
    return value


def _url_template(value: str) -> str:
    if value != "none" and "{name}" not in value:
        raise argparse.ArgumentTypeError(f"the template must contain {{name}} (or be 'none'), got {value!r}")
    return value


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", default=str(REPORTS / "allure-results"), help="Allure results directory")
    p.add_argument("--out", default=str(REPORTS / "html"), help="HTML report directory")
    p.add_argument("--summary", default=str(REPORTS / "summary.json"), help="summary written by run")
    p.add_argument("--no-install", action="store_true",
                   help="never install the Allure CLI with npm; fail with instructions when it is missing")
    p.add_argument("--baseline", metavar="SUMMARY",
                   help="a previous run's summary.json: the report and compliance.md say what changed "
                        "(default: the baseline `rtmpconf run --baseline` was given)")


#: Servers `--target-server` can start (kept in step with harness.peers.servers.SERVER_NAMES by a test).
SERVER_CHOICES = ("reference", "nginx-rtmp", "node-media-server", "ffmpeg-listen")


def _outputs(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    out = Path(args.out) if args.out else REPORTS
    return (Path(args.junit) if args.junit else out / "junit.xml",
            Path(args.alluredir) if args.alluredir else out / "allure-results",
            Path(args.summary) if args.summary else out / "summary.json")


def pytest_command(args: argparse.Namespace) -> list[str]:
    # Start-up of every process (each -j worker): --assert=plain, as cases judge through findings
    # and rewriting every module of the package costs a second or more; no hypothesis plugin (the
    # cases do not use it; loading it costs ~0.4 s).
    cmd = [sys.executable, "-m", "pytest", str(CASES), *CASE_RUN_ARGS, "-q", "-rfE", "--no-header",
           "--rootdir", str(CASES)]
    selection = [f"--rtmp-case={g}" for g in args.case] + (["-k", args.keyword] if args.keyword else [])
    selection += ["--rtmp-interop"] if args.interop else []
    selection += ["--rtmp-interop-only"] if args.interop_only else []
    if args.dry_run:
        return cmd + ["--rtmp-dry-run"] + _target_args(args) + selection
    junit, alluredir, summary = _outputs(args)
    cmd += ["--rtmp-junit", str(junit), "--alluredir", str(alluredir), "--clean-alluredir",
            "--rtmp-summary", str(summary)]
    cmd += _target_args(args) + selection
    cmd += ["--rtmp-jobs", str(jobs_for(args))]
    if args.strict:
        cmd.append("--rtmp-strict")
    cmd += ["--rtmp-attach", getattr(args, "attach", None) or "failures"]
    if getattr(args, "attach_hex", False):
        cmd.append("--rtmp-attach-hex")
    for flag, value in (("--rtmp-impair", args.impair), ("--rtmp-timeout", args.timeout),
                        ("--rtmp-case-timeout", args.case_timeout), ("--rtmp-run-budget", args.run_budget),
                        ("--rtmp-time-scale", args.time_scale)):
        if value:
            cmd += [flag, str(value)]
    return cmd + list(args.pytest_args)


def _target_args(args: argparse.Namespace) -> list[str]:
    out = []
    for flag, value in (("--rtmp-target", args.target), ("--rtmp-target-server", args.target_server),
                        ("--rtmp-app", args.app), ("--rtmp-publish-name", args.publish_name),
                        ("--rtmp-play-name", args.play_name), ("--rtmp-manifest", args.manifest),
                        ("--rtmp-drain", getattr(args, "drain", None))):
        if value:
            out += [flag, value]
    for flag, value in (("--rtmp-tls-target", getattr(args, "tls_target", None)),
                        ("--rtmp-tls-ca", getattr(args, "tls_ca", None)), ("--rtmp-tls-sni", getattr(args, "tls_sni", None)),
                        ("--rtmp-auth-target", getattr(args, "auth_target", None)),
                        ("--rtmp-rtsp-url", getattr(args, "rtsp_url", None)),
                        ("--rtmp-idle-timeout", getattr(args, "idle_timeout", None))):
        if value:
            out += [flag, str(value)]
    out += ["--rtmp-tls"] if getattr(args, "tls", False) else []
    out += ["--rtmp-tls-no-verify"] if getattr(args, "tls_no_verify", False) else []
    if args.role and args.role != "auto":
        out += ["--rtmp-role", args.role]
    if args.no_preflight:
        out.append("--rtmp-no-preflight")
    for opt in ("http_target", "http_flv_url", "http_ts_url", "hls_url"):
        value = getattr(args, opt, None)
        if value:
            out += ["--rtmp-" + opt.replace("_", "-"), value]
    return out


#: pytest options of every conformance run (`rtmpconf run`, bench/determinism.py, bench/suite_time.py).
CASE_RUN_ARGS = ("-p", "no:cacheprovider", "-p", "no:locust", "-p", "no:hypothesispytest", "--assert=plain")

#: pytest's exit statuses -> ours (README, "Exit codes"): 0 no FAIL, 1 a FAIL (or ERROR, or
#: NON-STRICT with --strict), 2 usage or configuration error, 3 target unreachable / not RTMP.
_EXIT = {0: 0, 1: 1, 2: 2, 3: 3, 4: 2}


def run(args: argparse.Namespace) -> int:
    from rtmpconf.harness.client import Target, TargetError

    if args.target and args.target_server:
        print("rtmpconf run: error: give --target or --target-server, not both", file=sys.stderr)
        return 2
    url = args.target or os.environ.get("RTMP_TARGET")
    try:
        Target.parse(url or "rtmp://127.0.0.1/live", app=args.app, publish_name=args.publish_name,
                     play_name=args.play_name)
    except TargetError as exc:
        print(f"rtmpconf run: error: {'--target: ' if 'template' not in str(exc) and '{name}' not in str(exc) else ''}"
              f"{exc}", file=sys.stderr)
        return 2
    if args.impair:
        from rtmpconf.harness.impair.profiles import PROFILES

        if args.impair not in PROFILES:
            print(f"rtmpconf run: error: --impair {args.impair!r}: choose one of {', '.join(PROFILES)}",
                  file=sys.stderr)
            return 2
    if args.manifest and not Path(args.manifest).is_file():
        print(f"rtmpconf run: error: --manifest {args.manifest}: no such file", file=sys.stderr)
        return 2
    if not CASES.is_dir():
        print(f"rtmpconf run: error: no cases directory at {CASES} (broken installation?)", file=sys.stderr)
        return 2
    baseline, ok = _load_baseline(getattr(args, "baseline", None), "run")
    if not ok:
        return 2
    if not args.dry_run:
        for path in _outputs(args):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                print(f"rtmpconf run: error: cannot write to {path.parent}: {exc.strerror or exc}", file=sys.stderr)
                return 2
    cmd = pytest_command(args)
    try:
        proc = subprocess.run(cmd)
    except KeyboardInterrupt:
        return 130
    if args.dry_run:
        return 0 if proc.returncode in (0, 5) else _EXIT.get(proc.returncode, 1)
    if proc.returncode == 5:
        print("rtmpconf run: error: no case matched the selection", file=sys.stderr)
        return 2
    summary = _outputs(args)[2]
    if summary.is_file():
        from rtmpconf.harness.report.compliance import write_compliance
        from rtmpconf.harness.report.history import SummaryError

        try:
            data, changes, md = write_compliance(summary, baseline)
        except SummaryError as exc:
            print(f"rtmpconf run: warning: no compliance.md: {exc}", file=sys.stderr)
            return _EXIT.get(proc.returncode, 1)
        print(f"compliance: {md} ({data['compliance']['score']['line']}"
              + (f"; since baseline: {len(changes['new_fail'])} new FAIL, {len(changes['fixed'])} fixed"
                 if changes else "") + ")")
    return _EXIT.get(proc.returncode, 1)


def find_allure() -> list[str] | None:
    local = TOOLS / "node_modules" / ".bin" / "allure"
    if local.exists():
        return [str(local)]
    on_path = shutil.which("allure")
    if on_path:
        return [on_path]
    return None


def install_allure() -> list[str]:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed (apt-get install npm) and the Allure CLI is not on PATH")
    TOOLS.mkdir(parents=True, exist_ok=True)
    print(f"installing the Allure CLI ({ALLURE_NPM}) into {TOOLS} ...", file=sys.stderr)
    subprocess.run([npm, "install", "--prefix", str(TOOLS), "--no-audit", "--no-fund", "--loglevel=error",
                    ALLURE_NPM], check=True, timeout=600)
    found = find_allure()
    if found is None:
        raise RuntimeError("npm install allure finished but no allure binary was found")
    return found


def report(args: argparse.Namespace) -> int:
    results = Path(args.results)
    if not results.is_dir() or not any(results.iterdir()):
        print(f"error: no Allure results in {results}; run `rtmpconf run` first", file=sys.stderr)
        return 2
    allure = find_allure()
    if allure is None and not args.no_install and shutil.which("npm"):
        try:
            allure = install_allure()
        except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
            print(f"rtmpconf report: error: installing the Allure CLI with npm failed: {exc}", file=sys.stderr)
            allure = None
    if allure is None:
        print("rtmpconf report: error: the Allure 3 CLI is not installed. Install Node.js and run "
              f"`npm install -g {ALLURE_NPM}` (or let rtmpconf install it into {TOOLS}: run again without "
              "--no-install once npm is on PATH). summary.json and junit.xml need no Allure.", file=sys.stderr)
        return 2
    baseline, ok = _load_baseline(args.baseline, "report")
    if not ok:
        return 2
    out = Path(args.out)
    from rtmpconf.harness.report.allure import build_html
    from rtmpconf.harness.report.compliance import write_compliance

    summary_path = Path(args.summary)
    data: dict = {"cases": []}
    changes = None
    md = None
    if summary_path.is_file():
        from rtmpconf.harness.report.history import SummaryError

        try:
            data, changes, md = write_compliance(summary_path, baseline)
        except SummaryError as exc:
            print(f"rtmpconf report: error: --summary {exc}", file=sys.stderr)
            return 2
    elif baseline is not None:
        print(f"rtmpconf report: error: --baseline needs this run's summary ({summary_path}: no such file)",
              file=sys.stderr)
        return 2
    target = data.get("target_url") or data.get("target")
    name = f"RTMP conformance: {target}" if target else "RTMP conformance"
    if out.exists():
        shutil.rmtree(out)
    proc = build_html(allure, results, out, data, name=name, global_attachments=[str(md)] if md else [],
                      diff=changes)
    if proc.returncode != 0 or not (out / "index.html").exists():
        print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n", file=sys.stderr)
        print("error: allure generate failed", file=sys.stderr)
        return 1
    if data.get("cases"):
        comp = data["compliance"]
        counts = ", ".join(f"{k} {v}" for k, v in comp["counts"].items())
        print(f"summary: {summary_path} ({len(data['cases'])} cases: {counts}; {comp['score']['line']})")
    if md is not None:
        print(f"compliance: {md}")
    print(f"report: {out / 'index.html'}")
    return 0
