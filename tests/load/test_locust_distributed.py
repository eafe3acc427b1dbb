"""Locust scale-out: a local master and two workers against the reference server (headless, bounded)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rtmpconf.harness.targets import ReferenceServerProcess

if not os.environ.get("CI"):
    pytest.importorskip("locust")  # with CI=true a missing locust is an error, not a skip

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "harness" / "load" / "locustfile.py"
RUN_SECONDS = 8
DEADLINE_S = 90


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _locust() -> list[str]:
    exe = shutil.which("locust", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    return [exe] if exe else [sys.executable, "-m", "locust"]


def test_master_with_two_workers_reports_from_both(tmp_path: Path) -> None:
    server = ReferenceServerProcess(extra_args=("--log-level", "WARNING"))
    target = server.start()
    url = f"rtmp://{target.host}:{target.port}/{target.app}"
    port = _free_port()
    summary = tmp_path / "summary.json"
    common = ["-f", str(LOCUSTFILE), "--host", url, "--rtmp-stream", "locust-test"]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        master = subprocess.Popen(
            [*_locust(), *common, "--master", "--headless", "--expect-workers", "2",
             "--expect-workers-max-wait", "30", "--master-bind-host", "127.0.0.1",
             "--master-bind-port", str(port), "-u", "5", "-r", "5", "-t", f"{RUN_SECONDS}s",
             "--rtmp-summary", str(summary), "--only-summary"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs.append(master)
        for _ in range(2):
            procs.append(subprocess.Popen(
                [*_locust(), *common, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        out, _ = master.communicate(timeout=DEADLINE_S)
        text = out.decode(errors="replace")
        assert master.returncode == 0, text[-3000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(10)
        server.stop()

    data = json.loads(summary.read_text())
    workers = data["workers"]
    assert len(workers) == 2, workers
    for client_id, totals in workers.items():
        # Both workers ran player users that received marked frames and reported them.
        assert totals["players_started"] >= 1, (client_id, totals)
        assert totals["frames"] > 0, (client_id, totals)
    assert sum(t["publishers_started"] for t in workers.values()) == 1
    frames = data["requests"]["RTMP frame"]
    assert frames["count"] > 0 and frames["failures"] == 0
    assert data["requests"]["RTMP play"]["count"] == 4
    assert data["requests"]["RTMP publish"]["failures"] == 0
