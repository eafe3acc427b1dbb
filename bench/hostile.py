"""The conformance suite against each hostile double: verdicts, wall time, the harness's peak RSS.

Each double of ``tests/doubles/hostile.py`` (garbage, huge chunks, 100 000-deep AMF, 1-byte chunks
forever, a handshake dribbled at 1 byte/s, a flood that never reads) listens in this process; the
suite runs against it in a subprocess exactly as a user runs it (``python -m pytest rtmpconf/cases
--target ... --summary ...``), and the subprocess's peak RSS comes from ``wait4``. Goal: every case
ends with a verdict and a reason, no traceback, peak RSS <= 256 MiB.

    python -m bench.hostile [--kinds garbage,deep-amf] [--case GLOB ...] [--rtmp-timeout S]

Writes reports/bench/hostile.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import ROOT, write_result

#: The harness must stay under this whatever the target does (issue 10).
RSS_LIMIT_MIB = 256
#: Per-step deadline for the runs: a hostile target mostly makes steps wait, and 363 cases x 5 s
#: against the dribbling double would take half an hour.
STEP_TIMEOUT_S = 2.0
#: One double's run is killed after this long (a hung harness is a result too).
RUN_DEADLINE_S = 3600.0


def run_double(kind: str, cases: list[str], step_timeout: float) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from tests.doubles.hostile import hostile_server, run_suite

    # The default run budget (900 s) would turn the slow doubles' last cases into NOT-RUN. The
    # preflight would end most runs at once (exit 3, one line): run every case past it, and run
    # the preflight on its own to record what it says.
    args = ["--rtmp-timeout", str(step_timeout), "--run-budget", str(RUN_DEADLINE_S), "--rtmp-no-preflight"]
    for glob in cases:
        args += ["--case", glob]
    with tempfile.TemporaryDirectory() as tmp, hostile_server(kind) as srv:
        url = f"rtmp://127.0.0.1:{srv.port}/live"
        run = run_suite(url, Path(tmp) / "summary.json", *args, deadline_s=RUN_DEADLINE_S)
        connections, written = srv.connections, srv.bytes_written
        pre = run_suite(url, Path(tmp) / "preflight.json", "--case", "HS-8/s2-echoes-c1", deadline_s=300)
    pre_line = next((line.strip(" !") for line in pre.output.splitlines() if "target not usable" in line), None)
    rows = run.summary.get("cases", [])
    counts: dict[str, int] = {}
    for c in rows:
        counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
    unexplained = [c["id"] for c in rows if not c.get("verdict") or not c.get("message")]
    errors = {c["id"]: c["message"][:300] for c in rows if c["verdict"] == "ERROR"}
    return {
        "double": kind,
        "cases_run": len(rows),
        "verdicts": counts,
        "wall_s": round(run.wall_s, 1),
        "peak_rss_mib": round(run.peak_rss_kib / 1024, 1),
        "rss_ok": run.peak_rss_kib / 1024 <= RSS_LIMIT_MIB,
        "exit_code": run.returncode,
        "killed": run.killed,
        "traceback_in_output": "Traceback (most recent call last)" in run.output,
        "cases_without_verdict_or_reason": unexplained,
        "errors": errors,
        # A hostile double passes a case only where the case judges nothing it breaks (the handshake).
        "not_violated": {c["id"]: c["verdict"] for c in rows if c["verdict"] in ("PASS", "INFORMATIONAL")},
        "preflight": {"exit_code": pre.returncode, "line": pre_line, "peak_rss_mib": round(pre.peak_rss_kib / 1024, 1),
                      "traceback_in_output": "Traceback (most recent call last)" in pre.output},
        "double_connections": connections,
        "double_bytes_written": written,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from tests.doubles.hostile import KINDS

    p = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__.split("\n\n")[0])
    p.add_argument("--kinds", default=",".join(KINDS), help=f"comma list of doubles ({', '.join(KINDS)})")
    p.add_argument("--case", action="append", default=[], help="only these case globs (default: the whole suite)")
    p.add_argument("--rtmp-timeout", type=float, default=STEP_TIMEOUT_S, help="per-step deadline (s)")
    args = p.parse_args(argv or [])
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        p.error(f"unknown double(s) {', '.join(unknown)}; choose from {', '.join(KINDS)}")
    rows = []
    for kind in kinds:
        row = run_double(kind, args.case, args.rtmp_timeout)
        rows.append(row)
        print(f"{kind:18s} {row['cases_run']:4d} cases  {row['wall_s']:7.1f} s  peak RSS {row['peak_rss_mib']:6.1f} MiB"
              f"  {row['verdicts']}", flush=True)
    worst = max((r["peak_rss_mib"] for r in rows), default=0.0)
    headline = {"hostile_worst_peak_rss_mib": worst,
                "hostile_all_cases_judged": all(not r["cases_without_verdict_or_reason"] for r in rows)}
    write_result("hostile", {"cases": args.case or ["(whole suite)"], "step_timeout_s": args.rtmp_timeout,
                             "rss_limit_mib": RSS_LIMIT_MIB, "doubles": rows}, headline)
    return headline


if __name__ == "__main__":
    print(main(sys.argv[1:]))
