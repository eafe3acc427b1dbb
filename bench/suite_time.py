"""Wall time of the default conformance run against the embedded reference server, serial and parallel.

Runs ``rtmpconf run`` exactly as a user or CI would (the embedded reference server, the default
attachment policy: ``--alluredir`` into a temporary directory), once with ``-j 1`` and once with the
default number of workers (three per core, at most eight), ``REPEAT`` times each, alternating, and keeps the median of
each. The verdicts of every run are compared: a parallel run must say what a serial one says.

Headline keys: ``suite_wall_s_serial``, ``suite_wall_s_parallel`` (medians), ``suite_jobs_parallel``,
``suite_verdicts_identical``, and ``suite_wall_s`` (= the parallel median, what the gate costs).
The load average before each run is recorded: figures from a busy machine say so.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, write_result

TIMEOUT_S = 900
REPEAT = 3


def run_once(jobs: int, out: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "rtmpconf.harness.cli", "run", "--out", str(out), "-j", str(jobs)]
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
        rc: int | None = proc.returncode
        tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:]
    except subprocess.TimeoutExpired:
        rc, tail = None, f"killed after {TIMEOUT_S} s"
    wall = time.monotonic() - t0
    summary = out / "summary.json"
    cases = {}
    if summary.exists():
        cases = {c["id"]: c["verdict"] for c in json.loads(summary.read_text()).get("cases", [])}
    return {"jobs": jobs, "wall_s": round(wall, 2), "exit_code": rc, "summary_line": tail,
            "load_average_before": round(load, 2), "cases": cases}


def main(repeat: int = REPEAT) -> dict[str, Any]:
    from rtmpconf.harness.parallel import default_jobs

    parallel = default_jobs()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="rtmpconf-suite-time-") as tmp:
        for i in range(repeat):
            for jobs in (1, parallel) if parallel > 1 else (1,):
                r = run_once(jobs, Path(tmp) / f"run-{i}-j{jobs}")
                print(f"conformance suite -j {jobs}: {r['wall_s']} s (load {r['load_average_before']}), "
                      f"{r['summary_line']}", flush=True)
                runs.append(r)
    serial = [r["wall_s"] for r in runs if r["jobs"] == 1]
    par = [r["wall_s"] for r in runs if r["jobs"] == parallel] or serial
    verdict_sets = [r["cases"] for r in runs if r["cases"]]
    identical = bool(verdict_sets) and all(v == verdict_sets[0] for v in verdict_sets) \
        and len(verdict_sets) == len(runs)
    changed = sorted({cid for v in verdict_sets for cid in set(v) | set(verdict_sets[0])
                      if v.get(cid) != verdict_sets[0].get(cid)}) if verdict_sets else []
    headline = {"suite_wall_s_serial": round(statistics.median(serial), 1),
                "suite_wall_s_parallel": round(statistics.median(par), 1),
                "suite_wall_s": round(statistics.median(par), 1),
                "suite_jobs_parallel": parallel, "suite_verdicts_identical": identical}
    write_result("suite_time", {
        "command": "rtmpconf run -j N (embedded reference server, default attachment policy)",
        "repeat": repeat, "cases": len(verdict_sets[0]) if verdict_sets else 0, "changed_verdicts": changed,
        "runs": [{k: v for k, v in r.items() if k != "cases"} for r in runs]}, headline)
    return headline


if __name__ == "__main__":
    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else REPEAT))
