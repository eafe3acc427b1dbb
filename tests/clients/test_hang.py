"""A whole client matrix run ends within a bounded time even when an agent hangs: every case has a
deadline, every agent is killed by its PID, and an agent's whole run has a deadline of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HANG = ROOT / "tests" / "doubles" / "hanging_client.py"


def _leftovers(marker: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if marker in line and "ps -eo" not in line]


def _run(tmp: Path, marker: str, *extra: str, timeout: float) -> tuple[int, float, dict]:
    cmd = f"{sys.executable} {HANG} --{marker} {{url}}"
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "rtmpconf.harness.cli", "clients", "--agent-command", cmd,
                           "--agent-role", "play", "--agent-name", "hanging", "--no-html", "--out", str(tmp),
                           "--case-timeout", "20", *extra],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    elapsed = time.monotonic() - t0
    matrix = json.loads((tmp / "matrix.json").read_text())
    assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.returncode, elapsed, matrix


def test_hanging_agent_every_case_ends(tmp_path: Path) -> None:
    """An agent that stops after C0+C1 and ignores SIGINT: each case ends at its own deadline with a
    verdict or NOT-RUN, the agent is SIGKILLed by PID, and nothing is left running."""
    marker = f"hang-{os.getpid()}"
    rc, elapsed, matrix = _run(tmp_path, marker, "--case", "CL-HS-[1236]/*", "--case", "CL-CH-4/*[[]1[]]",
                               "--agent-timeout", "300", timeout=400)
    assert elapsed < 200, elapsed
    summary = json.loads((tmp_path / "hanging" / "summary.json").read_text())
    ids = {c["id"]: c for c in summary["cases"]}
    assert len(ids) >= 5, ids.keys()
    for c in summary["cases"]:
        runs = c["agent_runs"]
        assert runs and all(r["killed"] and r["signal"] == "SIGKILL" for r in runs), c
    # CL-HS-2 has no C2 to judge (NOT-RUN), never a PASS for something that did not happen.
    assert ids["CL-HS-2/c2-echoes-s1"]["verdict"] == "NOT-RUN"
    # It never gives up on a silent server: judged before the harness's own SIGKILL closed it.
    assert ids["CL-HS-6/silent-server"]["verdict"] == "NON-STRICT"
    assert not _leftovers(marker)
    assert matrix["targets"][0]["name"] == "hanging"


def test_agent_run_deadline(tmp_path: Path) -> None:
    """With every case selected and a 25 s deadline for the agent's whole run, the run ends by then:
    its run budget (deadline - 15 s) turns the remaining cases into NOT-RUN, or the run is killed at
    the deadline; the matrix is still written and the agent's processes are gone."""
    marker = f"silent-{os.getpid()}"
    rc, elapsed, matrix = _run(tmp_path, marker, "--agent-timeout", "25", timeout=120)
    assert elapsed < 60, elapsed
    target = matrix["targets"][0]
    budget = [c for c in matrix["cases"] if "run budget" in c["results"]["hanging"]["message"]]
    assert (target["note"] and "deadline" in target["note"]) or budget, target
    time.sleep(0.5)
    assert not _leftovers(marker)
