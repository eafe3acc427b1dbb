"""A target that never answers, or closes mid-handshake, never hangs a run (issue: hang protection)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
VERDICTS = ("PASS", "INFORMATIONAL", "UNIMPLEMENTED", "NOT-RUN", "NON-STRICT", "FAIL", "ERROR")


class MuteServer:
    """Accepts TCP connections; then either says nothing, or sends part of S0S1S2 and closes."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            if self.mode == "close-mid-handshake":
                try:
                    conn.settimeout(2)
                    conn.recv(1537)
                    conn.sendall(b"\x03" + bytes(100))  # S0 and 100 bytes of S1, then close
                except OSError:
                    pass
                conn.close()
            else:
                self.conns.append(conn)  # keep it open, never read, never write

    def close(self) -> None:
        self._stop = True
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.fixture
def mute() -> Iterator[MuteServer]:
    srv = MuteServer("silent")
    yield srv
    srv.close()


def run_suite(port: int, tmp_path: Path, *extra: str, timeout: float) -> tuple[dict, float, subprocess.CompletedProcess[str]]:
    summary = tmp_path / "summary.json"
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "rtmpconf" / "cases"), "-q", "-p", "no:cacheprovider",
         "--target", f"rtmp://127.0.0.1:{port}/live", "--summary", str(summary), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    elapsed = time.monotonic() - t0
    assert summary.exists(), proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(summary.read_text()), elapsed, proc


def test_silent_target_ends_within_budget_with_a_verdict_per_case(mute: MuteServer, tmp_path: Path) -> None:
    budget = 15.0
    # Without the preflight (which would end this run at once with exit 3, tests/integration/
    # test_gate.py): every case must still end within its own deadlines and the run budget.
    data, elapsed, proc = run_suite(mute.port, tmp_path, "--rtmp-timeout", "0.3", "--case-timeout", "3",
                                    "--run-budget", str(budget), "--rtmp-no-preflight", timeout=180)
    assert elapsed < budget + 30, elapsed  # budget plus interpreter start-up and collection
    assert proc.returncode == 1
    cases = data["cases"]
    assert len(cases) >= 1
    for c in cases:
        assert c["verdict"] in VERDICTS, c
        assert c["message"], c  # every case says why
    assert any("no answer" in c["message"] or "budget" in c["message"] or "watchdog" in c["message"]
               for c in cases)
    assert not any(c["verdict"] == "PASS" and c["rule"].startswith("HS-8") for c in cases)


def test_target_closing_mid_handshake(tmp_path: Path) -> None:
    srv = MuteServer("close-mid-handshake")
    try:
        data, elapsed, proc = run_suite(srv.port, tmp_path, "--rtmp-timeout", "1", "--case", "HS-*",
                                        "--case", "GOP-*", "--case", "CMD-*", "--rtmp-no-preflight", timeout=120)
    finally:
        srv.close()
    assert proc.returncode == 1
    cases = data["cases"]
    assert cases
    for c in cases:
        assert c["verdict"] in VERDICTS, c
        assert c["message"]
    # A server that closes mid-handshake fails nearly everything (FAIL for MUST rules, NON-STRICT for
    # SHOULD/CONV ones); a few cases accept a close.
    assert sum(c["verdict"] in ("FAIL", "NON-STRICT") for c in cases) > len(cases) // 2
    from rtmpconf.harness.catalogue import catalogue

    # No verdict above its rule's level: every FAIL finding cites a MUST rule.
    assert all(catalogue().rule(f["rule"]).level.value == "MUST"
               for c in cases for f in c["findings"] if f["verdict"] == "FAIL")
    assert any("closed" in c["message"] or "HS-1" in c["message"] for c in cases)
