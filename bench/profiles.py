"""The whole suite through each impairment profile, against the embedded reference server.

The trust issue's goal: 0 FAIL under every profile (lan, wifi, 4g, 3g-lossy, satellite, byte-dribble,
kernel-lossy; kernel-lossy needs root and is recorded as skipped without it), and every profile's
run completes. ``python -m bench.profiles`` runs them one after another (serial runs: a profile's
deadlines are stretched for its link, not for a shared CPU); ``--profiles a,b`` chooses some, extra
suite options go after ``--``; profiles not run keep their earlier record. Writes ``reports/bench/profiles.json``: per profile the verdict
counts, the wall time, the exit code and every FAIL or ERROR with its message.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import write_result
from bench.determinism import run_once

PROFILES = ("lan", "wifi", "4g", "3g-lossy", "satellite", "byte-dribble", "kernel-lossy")


def measure(profile: str, extra: list[str], tmp: Path) -> dict[str, Any]:
    if profile == "kernel-lossy" and os.geteuid() != 0:
        return {"profile": profile, "skipped": "needs root (network namespaces and nftables)"}
    r = run_once(["--target-server", "reference", "--rtmp-impair", profile], ["-j", "1", *extra],
                 tmp / f"{profile}.json")
    bad = [{"id": cid, "verdict": v, "message": msg[:400]} for cid, (v, msg) in sorted(r["cases"].items())
           if v in ("FAIL", "ERROR")]
    # Every verdict other than PASS/INFORMATIONAL, so profiles can be compared case by case (a
    # NON-STRICT or NOT-RUN that appears only on a slow link is worth a look).
    others = {cid: v for cid, (v, _) in sorted(r["cases"].items()) if v not in ("PASS", "INFORMATIONAL")}
    out = {"profile": profile, "wall_s": r["wall_s"], "exit_code": r["exit_code"],
           "counts": r.get("counts", {}), "cases": len(r["cases"]), "fail_or_error": bad,
           "other_verdicts": others}
    if r.get("error"):
        out["error"] = r["error"]
    print(f"  {profile}: {r['wall_s']} s, {r.get('counts') or r.get('error')}", flush=True)
    for b in bad:
        print(f"    {b['verdict']} {b['id']}: {b['message'][:160]}", flush=True)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m bench.profiles", description=__doc__.split("\n\n")[0])
    p.add_argument("--profiles", default=",".join(PROFILES), help="comma list (default: all)")
    p.add_argument("--run-timeout", type=float, default=None,
                   help="kill one profile's run after this many seconds (default: bench.determinism's, 1800)")
    p.add_argument("extra", nargs="*", help="suite options after -- (e.g. -- -j 2: two workers)")
    args = p.parse_args(argv if argv is not None else [])
    if args.run_timeout is not None:
        import bench.determinism

        bench.determinism.RUN_TIMEOUT_S = args.run_timeout
    chosen = [x.strip() for x in args.profiles.split(",") if x.strip()]
    unknown = [x for x in chosen if x not in PROFILES]
    if unknown:
        p.error(f"unknown profile(s) {', '.join(unknown)}; choose from {', '.join(PROFILES)}")
    with tempfile.TemporaryDirectory(prefix="rtmpconf-profiles-") as tmp:
        results = [measure(x, args.extra, Path(tmp)) for x in chosen]
    # Profiles measured earlier and not run now stay in the file (runs of a few profiles at a time).
    from bench.common import OUT

    try:
        earlier = json.loads((OUT / "profiles.json").read_text()).get("profiles", [])
    except (OSError, ValueError):
        earlier = []
    ran = {r["profile"] for r in results}
    results = [r for r in earlier if r.get("profile") not in ran] + results
    results.sort(key=lambda r: PROFILES.index(r["profile"]) if r["profile"] in PROFILES else len(PROFILES))
    headline: dict[str, Any] = {}
    for r in results:
        key = r["profile"].replace("-", "_")
        if "skipped" in r:
            headline[f"profile_{key}_skipped"] = r["skipped"]
            continue
        headline[f"profile_{key}_fail"] = r["counts"].get("FAIL", 0) + r["counts"].get("ERROR", 0)
        headline[f"profile_{key}_wall_s"] = r["wall_s"]
    write_result("profiles", {"profiles": results}, headline)
    return headline


if __name__ == "__main__":
    result = main(sys.argv[1:])
    print(json.dumps(result, indent=2))
    sys.exit(0 if all(v == 0 for k, v in result.items() if k.endswith("_fail")) else 1)
