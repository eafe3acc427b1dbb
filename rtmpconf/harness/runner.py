"""``rtmpconf run`` and ``rtmpconf report``: the conformance suite and its reports."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from rtmpconf.paths import CASES, reports_dir, tools_dir

REPORTS = reports_dir()
#: Where ``rtmpconf report`` installs the Allure 3 CLI from npm when it is not on PATH.
TOOLS = tools_dir()
ALLURE_NPM = "allure@3"


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", help="rtmp://host:port/app of the server under test (env RTMP_TARGET)")
    p.add_argument("--target-server", help="start this server as the target: reference")
    p.add_argument("--case", action="append", default=[], help="only case IDs (or rule IDs) matching this glob")
    p.add_argument("--strict", action="store_true", help="NON-STRICT verdicts fail the run")
    p.add_argument("--impair", help="run the suite through an impairment profile")
    p.add_argument("--timeout", type=float, help="per-step deadline in seconds (default 5)")
    p.add_argument("--case-timeout", type=float, help="per-case watchdog in seconds (default 30)")
    p.add_argument("--run-budget", type=float, help="whole-run budget in seconds (default 900)")
    p.add_argument("--dry-run", action="store_true", help="list case IDs, levels and requirements")
    p.add_argument("--junit", default=str(REPORTS / "junit.xml"), help="JUnit XML output")
    p.add_argument("--alluredir", default=str(REPORTS / "allure-results"), help="Allure results directory")
    p.add_argument("--summary", default=str(REPORTS / "summary.json"), help="per-case summary JSON")
    p.add_argument("-k", dest="keyword", help="pytest -k expression over case names")
    p.add_argument("--interop", action="store_true", help="also run interop cases (real programs, real time)")
    p.add_argument("--interop-only", action="store_true", help="run only the interop cases")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", default=str(REPORTS / "allure-results"), help="Allure results directory")
    p.add_argument("--out", default=str(REPORTS / "html"), help="HTML report directory")
    p.add_argument("--summary", default=str(REPORTS / "summary.json"), help="summary written by run")


def pytest_command(args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, "-m", "pytest", str(CASES), "-p", "no:cacheprovider", "-q", "-rfE",
           "--no-header"]
    if args.dry_run:
        return cmd + ["--rtmp-dry-run"] + _target_args(args) + [
            f"--case={g}" for g in args.case] + (["-k", args.keyword] if args.keyword else [])
    cmd += ["--junitxml", args.junit, "--alluredir", args.alluredir, "--clean-alluredir",
            "--summary", args.summary]
    cmd += _target_args(args)
    cmd += [f"--case={g}" for g in args.case]
    if args.strict:
        cmd.append("--rtmp-strict")
    if args.impair:
        cmd += ["--impair", args.impair]
    if args.interop:
        cmd.append("--interop")
    if args.interop_only:
        cmd.append("--interop-only")
    if args.timeout:
        cmd += ["--rtmp-timeout", str(args.timeout)]
    if args.case_timeout:
        cmd += ["--case-timeout", str(args.case_timeout)]
    if args.run_budget:
        cmd += ["--run-budget", str(args.run_budget)]
    if args.keyword:
        cmd += ["-k", args.keyword]
    return cmd + list(args.pytest_args)


def _target_args(args: argparse.Namespace) -> list[str]:
    out = []
    if args.target:
        out += ["--target", args.target]
    if args.target_server:
        out += ["--target-server", args.target_server]
    return out


def run(args: argparse.Namespace) -> int:
    if args.target and args.target_server:
        print("error: give --target or --target-server, not both", file=sys.stderr)
        return 2
    if not CASES.is_dir():
        print(f"error: no cases directory at {CASES}", file=sys.stderr)
        return 2
    REPORTS.mkdir(exist_ok=True)
    cmd = pytest_command(args)
    proc = subprocess.run(cmd)
    if args.dry_run:
        return 0 if proc.returncode in (0, 5) else proc.returncode
    if proc.returncode == 5:
        print("error: no case matched the selection", file=sys.stderr)
        return 2
    return proc.returncode


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
    try:
        allure = find_allure() or install_allure()
    except (RuntimeError, subprocess.SubprocessError) as exc:
        print(f"error: cannot build the HTML report: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    config = Path(__file__).resolve().parent / "report" / "allurerc.json"
    proc = subprocess.run([*allure, "generate", str(results), "-o", str(out), "--name", "RTMP conformance",
                           "--config", str(config)],
                          env={**os.environ, "NO_COLOR": "1"}, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not (out / "index.html").exists():
        print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n", file=sys.stderr)
        print("error: allure generate failed", file=sys.stderr)
        return 1
    summary = Path(args.summary)
    if summary.exists():
        data = json.loads(summary.read_text())
        counts = ", ".join(f"{k} {v}" for k, v in sorted(data.get("counts", {}).items()))
        print(f"summary: {summary} ({len(data.get('cases', []))} cases: {counts})")
    print(f"report: {out / 'index.html'}")
    return 0
