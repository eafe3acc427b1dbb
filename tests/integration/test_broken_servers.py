"""Each checker FAILs the matching case, with the right rule ID, on a deliberately broken server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rtmpconf.harness.catalogue import catalogue

from tests.doubles.broken_servers import broken_server

ROOT = Path(__file__).resolve().parents[2]

# fault -> (case glob, rule the case must find violated; its catalogue level gives the verdict:
# FAIL for a MUST, NON-STRICT for a SHOULD or CONV such as GOP-1 and TS-12)
MATRIX = {
    "s2-not-echoing-c1": ("HS-8/s2-echoes-c1", "HS-8"),
    "data-before-c2": ("HS-4/nothing-before-c2", "HS-4"),
    "late-joiner-mid-gop": ("GOP-1/late-joiner-starts-at-keyframe", "GOP-1"),
    "fmt3-with-changed-delta": ("CH-7/server-headers-after-receive-audio-off", "CH-7"),
    "no-acknowledgement": ("CTRL-1/ack-at-window", "CTRL-1"),
    "non-monotonic-video": ("TS-12/player-timestamps-monotonic*", "TS-12"),
    "two-queue-auto-replies": ("CH-5/*-one-write", "CH-5"),
    "absolute-ext-delta": ("TS-3/server-extended-delta*", "TS-3"),
    "fmt3-ext-omitted": ("TS-4/server-fmt3-extended-dialect*", "TS-4"),
}
#: Faults every selected case must FAIL on (not just one of them): each glued-write case
#: provokes the two-queue reordering with a different trigger.
EVERY_CASE_FAILS = {"two-queue-auto-replies": 4}


def run_cases(url: str, case_glob: str, tmp_path: Path) -> dict:
    summary = tmp_path / "summary.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "rtmpconf" / "cases"), "-q", "-p", "no:cacheprovider",
         "--target", url, "--case", case_glob, "--summary", str(summary), "--rtmp-timeout", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert summary.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(summary.read_text())
    data["_returncode"] = proc.returncode
    data["_output"] = proc.stdout[-3000:]
    return data


@pytest.mark.parametrize("fault", sorted(MATRIX))
def test_broken_server_fails_matching_case(fault: str, tmp_path: Path) -> None:
    case_glob, rule = MATRIX[fault]
    with broken_server(fault) as srv:
        data = run_cases(f"rtmp://127.0.0.1:{srv.port}/live", case_glob, tmp_path)
    cases = data["cases"]
    assert cases, data["_output"]
    expected = catalogue().rule(rule).level.verdict_when_violated().value
    failing = [c for c in cases if c["verdict"] == expected]
    assert failing, f"{fault}: expected {expected}, got {[(c['id'], c['verdict']) for c in cases]}"
    assert any(f["rule"] == rule and f["verdict"] == expected for c in failing for f in c["findings"]), failing
    if fault in EVERY_CASE_FAILS:
        assert len(cases) == EVERY_CASE_FAILS[fault], [c["id"] for c in cases]
        assert all(c["verdict"] == expected for c in cases), [(c["id"], c["verdict"]) for c in cases]
    # Exit status 1 iff a FAIL; a NON-STRICT fails the run only with --rtmp-strict.
    assert data["_returncode"] == (1 if expected == "FAIL" else 0), data["_output"]


def test_reference_server_passes_the_same_cases(tmp_path: Path) -> None:
    """Control: the unpatched server passes every case the matrix uses."""
    from rtmpconf.reference_server.config import ServerConfig
    from rtmpconf.reference_server.server import ServerThread
    srv = ServerThread(ServerConfig(port=0, http_port=0)).start()
    try:
        for case_glob, _rule in MATRIX.values():
            data = run_cases(f"rtmp://127.0.0.1:{srv.port}/live", case_glob, tmp_path)
            assert all(c["verdict"] != "FAIL" for c in data["cases"]), data["_output"]
    finally:
        srv.stop()
