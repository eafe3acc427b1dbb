"""Determinism: run the suite N times against one target and list every case whose verdict changed.

``python -m bench.determinism`` runs 5 times against the embedded reference server and 3 times
against nginx-rtmp (the trust issue's goal: identical verdicts); ``--target-server NAME``,
``--target URL``, ``--runs N`` and extra suite options after ``--`` (``-- --impair lan``, ``-- -j 2``)
choose other runs; ``--jobs 1,2`` alternates the runs between serial and two workers (run i uses the
i-th value, cyclically), so a parallel run is compared with a serial one. Writes ``reports/bench/determinism.json``: per target, the verdict counts and wall
time of every run and each case whose verdict differed between runs, with the verdict of each run
and the message of the first differing one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import write_result
from rtmpconf.paths import CASES

#: One whole suite run must end in this time, or the run is recorded as killed.
RUN_TIMEOUT_S = 1800
DEFAULT_PLAN = (("reference", 5), ("nginx-rtmp", 3))


def run_once(target_args: list[str], extra: list[str], out: Path) -> dict[str, Any]:
    """One suite run; returns its summary (or a record of why there is none)."""
    from rtmpconf.harness.runner import CASE_RUN_ARGS

    cmd = [sys.executable, "-m", "pytest", str(CASES), "-q", *CASE_RUN_ARGS,
           "--summary", str(out), *target_args, *extra]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
        rc: int | None = proc.returncode
        tail = "\n".join(proc.stdout.strip().splitlines()[-3:])
    except subprocess.TimeoutExpired:
        rc, tail = None, f"killed after {RUN_TIMEOUT_S} s"
    wall = time.monotonic() - t0
    if not out.exists():
        return {"exit_code": rc, "wall_s": round(wall, 1), "error": tail or "no summary written", "cases": {}}
    data = json.loads(out.read_text())
    return {"exit_code": rc, "wall_s": round(wall, 1), "counts": data.get("counts", {}),
            "cases": {c["id"]: (c["verdict"], c.get("message", "")) for c in data.get("cases", [])}}


def compare(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cases whose verdict is not the same in every run (a case missing from a run counts as a change)."""
    ids: set[str] = set()
    for r in runs:
        ids.update(r["cases"])
    changed = []
    for cid in sorted(ids):
        verdicts = [r["cases"].get(cid, ("MISSING", ""))[0] for r in runs]
        if len(set(verdicts)) > 1:
            first = next(i for i, v in enumerate(verdicts) if v != verdicts[0])
            changed.append({"id": cid, "verdicts": verdicts,
                            "message_of_first_change": runs[first]["cases"].get(cid, ("", ""))[1][:500]})
    return changed


def measure(label: str, target_args: list[str], runs: int, extra: list[str],
            jobs: list[int] | None = None) -> dict[str, Any]:
    results = []
    with tempfile.TemporaryDirectory(prefix="rtmpconf-determinism-") as tmp:
        for i in range(runs):
            j = jobs[i % len(jobs)] if jobs else None
            r = run_once(target_args, extra + (["-j", str(j)] if j else []), Path(tmp) / f"run-{i}.json")
            r["jobs"] = j
            print(f"  {label} run {i + 1}/{runs}{f' (-j {j})' if j else ''}: {r['wall_s']} s, "
                  f"{r.get('counts') or r.get('error')}", flush=True)
            results.append(r)
    changed = compare(results)
    for c in changed:
        print(f"  CHANGED {c['id']}: {' / '.join(c['verdicts'])}", flush=True)
    return {"target": label, "runs": runs, "extra_args": extra, "identical": not changed and all(r["cases"] for r in results),
            "changed": changed, "per_run": [{k: v for k, v in r.items() if k != "cases"} for r in results],
            "cases_per_run": [len(r["cases"]) for r in results]}


def _jobs_list(value: str) -> list[int]:
    try:
        jobs = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers of workers like 1,2, got {value!r}") from None
    if not jobs or min(jobs) < 1:
        raise argparse.ArgumentTypeError(f"expected numbers of workers >= 1, got {value!r}")
    return jobs


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m bench.determinism", description=__doc__.split("\n\n")[0])
    p.add_argument("--target-server", action="append", default=[], help="server to start (repeatable)")
    p.add_argument("--target", help="rtmp:// URL of a running server")
    p.add_argument("--runs", type=int, default=None, help="runs per target (default 5 reference, 3 others)")
    p.add_argument("--jobs", type=_jobs_list, default=None, metavar="N,M",
                   help="workers per run, cyclically (e.g. 1,2: serial, two workers, serial ...)")
    p.add_argument("extra", nargs="*", help="suite options after --")
    args = p.parse_args(argv if argv is not None else [])
    if args.runs is not None and args.runs < 2:
        p.error("--runs: at least 2 runs are needed to compare")
    plan: list[tuple[str, list[str], int]] = []
    if args.target:
        plan.append((args.target, ["--target", args.target], args.runs or 3))
    for name in args.target_server:
        plan.append((name, ["--target-server", name], args.runs or (5 if name == "reference" else 3)))
    if not plan:
        plan = [(n, ["--target-server", n], args.runs or k) for n, k in DEFAULT_PLAN]
    targets = [measure(label, targs, runs, args.extra, args.jobs) for label, targs, runs in plan]
    headline = {f"determinism_identical_{t['target']}": t["identical"] for t in targets}
    headline.update({f"determinism_changed_{t['target']}": len(t["changed"]) for t in targets})
    write_result("determinism", {"targets": targets}, headline)
    return headline


if __name__ == "__main__":
    result = main(sys.argv[1:])
    print(json.dumps(result, indent=2))
    sys.exit(0 if all(v for k, v in result.items() if k.startswith("determinism_identical_")) else 1)
