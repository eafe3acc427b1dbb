"""Capture analysis throughput: ``rtmpconf analyze`` against ``tshark -T fields`` and pyshark.

All three decode the same file, the largest of the corpus (captures/manifest.toml), in one run:

* analyzer, in process: ``analyze_file`` (read, reassemble, decode, run the checkers);
* analyzer, end to end: ``python -m harness.cli analyze FILE --json`` (what ``rtmpconf analyze``
  runs) as a subprocess, interpreter start and imports included like tshark's own start-up; and
  ``python -m harness.capture analyze`` (the same code without harness/cli.py loading the
  reference server and the runner first);
* ``tshark -T fields`` with RTMP dissection (decode-as the server port, raised reassembly limit);
* pyshark over the same tshark dissection (PDML parsed in Python, one rtmpt tree per message).

Headline ratios are speed ratios, > 1 meaning the analyzer is faster:
``analyze_over_tshark`` = tshark seconds / analyzer end-to-end seconds, ``analyze_over_pyshark``
likewise for pyshark; ``analyze_over_tshark_cpu`` the same ratio of CPU seconds (user + system of
each child process), which a busy machine disturbs less than wall time. The analyzer's subprocess
runs with its bytecode cached, as an installed one does.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import ROOT, write_result

CAPTURES = ROOT / "captures"
MAX_PACKET_SIZE = 1 << 20
REPEAT = 5


def largest_capture() -> tuple[Path, int]:
    entries = tomllib.loads((CAPTURES / "manifest.toml").read_text())["capture"]
    entry = max(entries, key=lambda e: (CAPTURES / e["file"]).stat().st_size)
    return CAPTURES / entry["file"], int(entry["port"])


def best_of(fn: Callable[[], Any], repeat: int = REPEAT) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def child_cpu_of(fn: Callable[[], Any], repeat: int = REPEAT) -> float:
    """Least CPU time (user + system) a subprocess run by ``fn`` took: steadier than wall time
    on a machine shared with other work, and what the user pays when the machine is idle."""
    best = float("inf")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        fn()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return best


#: The analyzer runs as a user's installation does: with its bytecode cached (pip compiles a
#: wheel's modules when it installs them; an interpreter told not to write bytecode would time
#: the compiler instead of the analyzer).
CLI_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run_analyzer(path: Path) -> int:
    from rtmpconf.harness.capture.analyze import analyze_file

    report = analyze_file(path)
    return sum(c.directions[d].messages for c in report.connections for d in ("c2s", "s2c"))


def run_cli(path: Path, module: str = "rtmpconf.harness.cli") -> int:
    proc = subprocess.run([sys.executable, "-m", module, "analyze", str(path), "--json"], cwd=ROOT,
                          check=False, capture_output=True, timeout=120, env=CLI_ENV)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode(errors="replace")[-500:])
    return len(proc.stdout)


def tshark_args(path: Path, port: int) -> list[str]:
    tshark = shutil.which("tshark")
    if tshark is None:
        raise RuntimeError("tshark not found (apt-get install tshark)")
    return [tshark, "-r", str(path), "-d", f"tcp.port=={port},rtmpt", "-o", f"rtmpt.max_packet_size:{MAX_PACKET_SIZE}",
            "-Y", "rtmpt"]


def run_tshark_fields(path: Path, port: int) -> int:
    out = subprocess.run(tshark_args(path, port) + [
        "-T", "fields", "-e", "frame.number", "-e", "rtmpt.header.csid", "-e", "rtmpt.header.typeid",
        "-e", "rtmpt.header.timestamp", "-E", "occurrence=a"], check=False, capture_output=True, timeout=300).stdout
    return sum(len(line.split(b"\t")[1].split(b",")) for line in out.splitlines() if b"\t" in line)


def run_pyshark(path: Path, port: int) -> int:
    import pyshark

    cap = pyshark.FileCapture(str(path), decode_as={f"tcp.port=={port}": "rtmpt"},
                              override_prefs={"rtmpt.max_packet_size": str(MAX_PACKET_SIZE)},
                              display_filter="rtmpt", keep_packets=False)
    n = 0
    try:
        for pkt in cap:
            n += sum(1 for layer in pkt.get_multiple_layers("rtmpt") if "header_csid" in layer.field_names)
    finally:
        cap.close()
    return n


def main() -> dict[str, Any]:
    path, port = largest_capture()
    size = path.stat().st_size
    t_inproc, messages = best_of(lambda: run_analyzer(path))
    t_cli, _ = best_of(lambda: run_cli(path))
    t_direct, _ = best_of(lambda: run_cli(path, "rtmpconf.harness.capture"))
    t_tshark, ts_msgs = best_of(lambda: run_tshark_fields(path, port))
    t_pyshark, py_msgs = best_of(lambda: run_pyshark(path, port), repeat=1)
    cpu_cli = child_cpu_of(lambda: run_cli(path))
    cpu_tshark = child_cpu_of(lambda: run_tshark_fields(path, port))

    def figures(seconds: float, msgs: int) -> dict[str, float]:
        return {"seconds": round(seconds, 4), "mb_s": round(size / seconds / 1e6, 2),
                "messages_s": round(msgs / seconds)}

    results = {
        "analyzer_in_process": figures(t_inproc, messages),
        "analyzer_cli": figures(t_cli, messages),
        "analyzer_cli_direct": figures(t_direct, messages),
        "tshark_fields": figures(t_tshark, ts_msgs),
        "pyshark": figures(t_pyshark, py_msgs),
        "cpu_seconds": {"analyzer_cli": round(cpu_cli, 4), "tshark_fields": round(cpu_tshark, 4)},
    }
    headline = {
        "analyze_over_tshark": round(t_tshark / t_cli, 2),
        "analyze_over_pyshark": round(t_pyshark / t_cli, 2),
        "analyze_direct_over_tshark": round(t_tshark / t_direct, 2),
        "analyze_over_tshark_cpu": round(cpu_tshark / cpu_cli, 2) if cpu_cli > 0 else None,
        "analyze_in_process_over_tshark": round(t_tshark / t_inproc, 2),
        "analyze_mb_s": results["analyzer_in_process"]["mb_s"],
        "analyze_messages_s": results["analyzer_in_process"]["messages_s"],
        "tshark_fields_mb_s": results["tshark_fields"]["mb_s"],
        "pyshark_mb_s": results["pyshark"]["mb_s"],
    }
    write_result("analyze", {"file": path.name, "bytes": size, "messages": messages,
                             "messages_tshark": ts_msgs, "messages_pyshark": py_msgs, "repeat": REPEAT,
                             "results": results}, headline)
    return headline


if __name__ == "__main__":
    print(main())
