"""``rtmpconf load`` end to end against the reference server: counts, latency, JSON, exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rtmpconf.harness.load.media import LATENCY_WARMUP_FRAMES
from rtmpconf.harness.targets import ReferenceServerProcess

ROOT = Path(__file__).resolve().parents[2]


def test_load_command_players_and_publishers(tmp_path: Path) -> None:
    server = ReferenceServerProcess(extra_args=("--log-level", "WARNING"))
    target = server.start()
    assert server.proc is not None
    out = tmp_path / "load.json"
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "rtmpconf.harness.cli", "load", "--target", f"rtmp://{target.host}:{target.port}/live",
             "--players", "6", "--publishers", "2", "--duration", "2.5", "--procs", "2",
             "--server-pid", str(server.proc.pid), "--json", str(out), "--per-player"],
            cwd=ROOT, capture_output=True, text=True, timeout=90, check=False)
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "players 6/6" in proc.stderr  # the progress line
    assert f"(each publish's first {LATENCY_WARMUP_FRAMES} frames untimed)" in proc.stderr  # the last line
    result = json.loads(out.read_text())
    assert json.loads(proc.stdout) == result
    assert result["sustained"] is True
    assert result["players"]["connected"] == 6 and result["players"]["failed"] == 0
    assert result["generator"]["procs"] == 2
    frames = result["frames"]
    assert frames["expected"] > 0 and frames["missing"] == 0 and frames["received"] == frames["expected"]
    assert result["messages"]["received"] == result["messages"]["expected"]
    # Every frame timed but each publish's first frames (6 players, one publish each).
    assert result["latency_warmup_frames"] == LATENCY_WARMUP_FRAMES > 0
    assert result["latency_ms"]["count"] == frames["received"] - 6 * LATENCY_WARMUP_FRAMES
    assert result["latency_ms"]["p50"] is not None
    assert result["server"]["cpu_s"] >= 0 and result["server"]["rss_kib_during"] > 0
    assert 2_400_000 <= result["media"]["bitrate"] <= 2_600_000
    # Players were spread over both streams, and each got its own stream's every frame.
    streams = {p["stream"] for p in result["per_player"]}
    assert streams == {"load-0", "load-1"}
    for p in result["per_player"]:
        assert p["frames"] == p["frames_expected"] and p["seq_gaps"] == 0 and p["keyframes"] >= 1


def test_idle_connections(tmp_path: Path) -> None:
    server = ReferenceServerProcess(extra_args=("--log-level", "WARNING"))
    target = server.start()
    assert server.proc is not None
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "rtmpconf.harness.cli", "load", "--target", f"rtmp://{target.host}:{target.port}/live",
             "--players", "20", "--idle", "--duration", "0.5", "--server-pid", str(server.proc.pid), "--quiet"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["players"]["connected"] == 20 and result["players"]["closed_early"] == 0
    assert "kib_per_connection_joined" in result["server"]
