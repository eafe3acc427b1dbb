"""Hostile targets never hurt the harness (issue 10): each double of tests/doubles/hostile.py against
a subset of the suite, run as a user runs it, in a subprocess whose peak RSS is measured.

The subset covers every way the harness reads a target: the handshake alone (HS-8), command round
trips (CMD-10), a publisher and a player with chunk checkers decoding the wire log (CH-5), probes
and a fresh session after abuse (ROB-2), the continuously reading replay client (CH-13 replay), and
the impairment proxy in between (HS-6 under the lan profile). The whole suite against every double
is bench/hostile.py (reports/bench/hostile.json).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.doubles.hostile import KINDS, hostile_server, run_suite

CASES = (
    "HS-8/s2-echoes-c1",
    "CMD-10/reply-transaction-ids",
    "CH-5/server-headers-live-player",
    "ROB-2/bad-chunk-size-refused[[]zero]",
    "CH-13/replay-capture[[]reference-large-interleaved]",
    "HS-6/handshake-write-patterns-under-profile[[]lan]",
)
#: The harness's memory bound whatever the target does.
RSS_LIMIT_MIB = 256
#: Outcomes that carry a reason and are not a harness failure.
JUDGED = {"PASS", "INFORMATIONAL", "UNIMPLEMENTED", "NOT-RUN", "NON-STRICT", "FAIL"}


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_double_gets_a_verdict_per_case(kind: str, tmp_path: Path) -> None:
    # Past the preflight, which would end most of these runs at once (see the next test).
    args = ["--rtmp-timeout", "2", "--rtmp-no-preflight"]
    for glob in CASES:
        args += ["--case", glob]
    with hostile_server(kind) as srv:
        run = run_suite(f"rtmp://127.0.0.1:{srv.port}/live", tmp_path / "summary.json", *args, deadline_s=300)
    assert not run.killed, f"{kind}: the harness had to be killed\n{run.output[-3000:]}"
    cases = run.summary.get("cases", [])
    assert len(cases) == len(CASES), run.output[-3000:]
    for c in cases:
        assert c["verdict"] in JUDGED and c["message"], (kind, c["id"], c["verdict"], c["message"])
    assert "Traceback (most recent call last)" not in run.output, run.output[-3000:]
    assert run.peak_rss_kib / 1024 <= RSS_LIMIT_MIB, f"{kind}: harness peak RSS {run.peak_rss_kib / 1024:.0f} MiB"


@pytest.mark.parametrize("kind", KINDS)
def test_preflight_against_a_hostile_double_is_bounded(kind: str, tmp_path: Path) -> None:
    """With the preflight: either the run ends at once with exit status 3 and one line saying what
    was found, or the cases run; never a traceback, never past the memory bound."""
    with hostile_server(kind) as srv:
        run = run_suite(f"rtmp://127.0.0.1:{srv.port}/live", tmp_path / "summary.json",
                        "--case", "HS-8/s2-echoes-c1", "--rtmp-timeout", "2", deadline_s=300)
    assert not run.killed and "Traceback (most recent call last)" not in run.output, run.output[-3000:]
    if run.returncode == 3:
        assert "target not usable" in run.output and not run.summary.get("cases"), run.output[-3000:]
    else:
        assert [c["verdict"] for c in run.summary["cases"]] and all(c["message"] for c in run.summary["cases"])
    assert run.peak_rss_kib / 1024 <= RSS_LIMIT_MIB


def test_reference_server_passes_the_subset(tmp_path: Path) -> None:
    """Control: the subset judges a well-behaved server PASS (the doubles' verdicts come from them)."""
    from rtmpconf.reference_server.config import ServerConfig
    from rtmpconf.reference_server.server import ServerThread

    args: list[str] = []
    for glob in CASES:
        args += ["--case", glob]
    srv = ServerThread(ServerConfig(port=0, http_port=0)).start()
    try:
        run = run_suite(f"rtmp://127.0.0.1:{srv.port}/live", tmp_path / "summary.json", *args, deadline_s=300)
    finally:
        srv.stop()
    verdicts = {c["id"]: c["verdict"] for c in run.summary.get("cases", [])}
    assert len(verdicts) == len(CASES) and all(v in ("PASS", "INFORMATIONAL") for v in verdicts.values()), verdicts
