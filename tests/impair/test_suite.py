"""The suite through the plugin's ``--impair`` hook, and the impairment cases in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_cases(*args: str, env: dict[str, str] | None = None, timeout: float = 90) -> dict[str, Any]:
    summary = ROOT / "reports" / f"impair-suite-{os.getpid()}.json"
    clean_env = {k: v for k, v in os.environ.items() if k != "RTMPCONF_IMPAIRMENT"}
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "rtmpconf/cases", "-q", "-p", "no:cacheprovider",
                               "--summary", str(summary), *args], cwd=ROOT, capture_output=True, text=True, check=False,
                              timeout=timeout, env={**clean_env, **(env or {})})
        assert summary.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
        data: dict[str, Any] = json.loads(summary.read_text())
        return data
    finally:
        summary.unlink(missing_ok=True)


def by_id(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in data["cases"]}


def test_impair_option_runs_cases_through_a_profile() -> None:
    """``--impair lan``: ordinary cases pass through the plugin's proxy; the profile cases run
    under lan only; the latency case reports p50/p99."""
    data = run_cases("--impair", "lan", "--case=HS-6/*", "--case=CH-5/*", "--case=ROB-5/*",
                     "--case=GOP-1/publish-to-play-latency*")
    cases = by_id(data)
    bad = {k: c["message"] for k, c in cases.items() if c["verdict"] in ("FAIL", "ERROR")}
    assert not bad, bad
    assert "HS-6/c0c1-one-byte-writes" in cases  # an ordinary case, through the hook's proxy
    profiled = [k for k in cases if k.endswith("-under-profile[lan]")]
    assert len(profiled) == 2 and not [k for k in cases if "under-profile[byte-dribble]" in k]
    latency = cases["GOP-1/publish-to-play-latency[lan]"]
    report = next(f["message"] for f in latency["findings"] if f["verdict"] == "INFORMATIONAL")
    assert "p50" in report and "p99" in report and "added p50" in report, report
    assert {"ROB-5/publisher-link-cut-mid-chunk[rst]", "ROB-5/publisher-link-cut-mid-chunk[fin]"} <= set(cases)


def test_default_run_gates_the_slow_cases() -> None:
    data = run_cases("--case=GOP-8/slow-consumer*", "--case=GOP-1/publish-to-play-latency*",
                     "--case=GOP-1/gop-start-and-timestamps-under-profile*")
    cases = by_id(data)
    for gated in ("GOP-8/slow-consumer-on-500kbit-link", "GOP-1/publish-to-play-latency[gated]"):
        assert cases[gated]["verdict"] == "NOT-RUN" and "RTMPCONF_IMPAIRMENT" in cases[gated]["message"]
    for profile in ("lan", "byte-dribble"):
        assert cases[f"GOP-1/gop-start-and-timestamps-under-profile[{profile}]"]["verdict"] in ("PASS", "INFORMATIONAL")
