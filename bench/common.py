"""Shared benchmark plumbing: result files, process CPU/RSS from /proc."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "reports" / "bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def write_result(name: str, data: dict[str, Any], headline: dict[str, Any]) -> Path:
    """Write ``reports/bench/<name>.json`` and merge ``headline`` into ``summary.json``."""
    OUT.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": machine(), **data}
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(data, indent=2))
    summary_path = OUT / "summary.json"
    summary: dict[str, Any] = {}
    if summary_path.exists():
        try:
            summary = json.loads(summary_path.read_text())
        except json.JSONDecodeError:
            summary = {}
    summary.update(headline)
    summary_path.write_text(json.dumps(summary, indent=2, sort_keys=True))
    return path


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


