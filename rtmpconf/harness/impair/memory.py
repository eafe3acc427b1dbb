"""Server memory while a case runs: find the local process behind a port, sample its RSS.

Generic helpers (harness/impair owns them because the slow-consumer case needs them; nothing
here is impairment-specific).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Self


def rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` in KiB (0 if the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != "0A":  # 0A = TCP_LISTEN
                continue
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def pid_listening_on(port: int) -> int | None:
    """The pid of the local process listening on TCP ``port`` (this network namespace), if visible."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    wanted = {f"socket:[{i}]" for i in inodes}
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            for fd in os.scandir(f"/proc/{entry.name}/fd"):
                try:
                    if os.readlink(fd.path) in wanted:
                        return int(entry.name)
                except OSError:
                    continue
        except OSError:
            continue
    return None


class RssSampler:
    """Samples a process's RSS in a thread; ``peak_growth_mib`` = peak - baseline (first sample)."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.baseline_kib = rss_kib(pid)
        self.peak_kib = self.baseline_kib
        self.last_kib = self.baseline_kib
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"rss-{pid}")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            value = rss_kib(self.pid)
            if value:
                self.last_kib = value
                self.peak_kib = max(self.peak_kib, value)
                self.samples += 1

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> Self:
        self._stop.set()
        self._thread.join(2)
        return self

    @property
    def peak_growth_mib(self) -> float:
        return (self.peak_kib - self.baseline_kib) / 1024.0

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
