"""Locust scale-out: a local master and two workers against the reference server (headless, bounded).

Locust runs gevent's ``monkey.patch_all()`` when it is imported: threads become greenlets on the
main thread, so a kernel-mode ``setns()`` "in a thread" would move the whole pytest process into a
namespace. Locust therefore only ever runs in subprocesses here; this module finds it with
``importlib.util.find_spec``, which locates a package without importing it.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import rtmpconf.harness.load
from rtmpconf.harness.peers import in_ci
from rtmpconf.harness.targets import ReferenceServerProcess

#: Next to the load package, wherever it is installed (a path relative to the repository broke
#: when the packages moved under rtmpconf/).
LOCUSTFILE = Path(rtmpconf.harness.load.__file__).with_name("locustfile.py")
#: Locust's run time. Each worker encodes its media loop first (seconds on a busy machine), the
#: publisher then starts, and a worker's totals reach the master every 3 s: 8 s left a worker's
#: players without a reported frame on a loaded machine.
RUN_SECONDS = 15
DEADLINE_S = 90


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_locust() -> None:
    """Locust installed, without importing it: with CI=true a missing locust FAILs, else it skips."""
    if importlib.util.find_spec("locust") is None:
        if in_ci():
            pytest.fail("CI=true and locust is not installed (pip install -e '.[dev]')")
        pytest.skip("locust is not installed")


def _locust() -> list[str]:
    exe = shutil.which("locust", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    return [exe] if exe else [sys.executable, "-m", "locust"]


def test_locustfile_defines_the_user_classes() -> None:
    """Read as source (never imported here): the two users and the options this test passes."""
    assert LOCUSTFILE.is_file(), LOCUSTFILE
    tree = ast.parse(LOCUSTFILE.read_text())
    classes = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    assert {"RtmpPlayer", "RtmpPublisher"} <= classes, classes
    options = {c.args[0].value for c in ast.walk(tree) if isinstance(c, ast.Call) and c.args
               and isinstance(c.args[0], ast.Constant) and c.args[0].value in ("--rtmp-stream", "--rtmp-summary")}
    assert options == {"--rtmp-stream", "--rtmp-summary"}


def test_master_with_two_workers_reports_from_both(tmp_path: Path) -> None:
    require_locust()
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
