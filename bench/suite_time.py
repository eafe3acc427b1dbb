"""Wall time of the conformance suite against the embedded reference server.

Runs ``python -m pytest cases -q -p no:cacheprovider`` exactly as a user would (the plugin starts
the reference server on a free port) and times it; the verdict counts come from pytest's closing
line. A run that exceeds ``TIMEOUT_S`` is killed and reported as such.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from typing import Any

from bench.common import ROOT, write_result

TIMEOUT_S = 900
_COUNTS = re.compile(r"(\d+) (passed|failed|skipped|error|errors|xfailed|xpassed)")


def main() -> dict[str, Any]:
    args = [sys.executable, "-m", "pytest", "rtmpconf/cases", "-q", "-p", "no:cacheprovider"]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
        rc: int | None = proc.returncode
        tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    except subprocess.TimeoutExpired:
        rc, tail = None, f"killed after {TIMEOUT_S} s"
    wall = time.monotonic() - t0
    counts = {kind: int(n) for n, kind in _COUNTS.findall(tail)}
    print(f"conformance suite: {wall:.1f} s, {tail}", flush=True)
    headline = {"suite_wall_s": round(wall, 1)}
    write_result("suite_time", {"command": " ".join(args[1:]), "wall_seconds": round(wall, 2),
                                "exit_code": rc, "summary_line": tail, "counts": counts}, headline)
    return headline


if __name__ == "__main__":
    print(main())
