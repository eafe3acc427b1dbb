"""Only the Locust file may load a monkey-patching library: every other module of the project
(rtmpconf and bench) imports without gevent, eventlet or locust. Checked in a child process, so
a failure cannot patch the pytest process itself."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Run by Locust in its own processes only (tests/load/test_locust_distributed.py).
ALLOWED = (".locustfile",)

PROBE = textwrap.dedent("""
    import importlib, json, pkgutil, sys
    import bench, rtmpconf

    imported, patchers = [], {}
    for pkg in (rtmpconf, bench):
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            # __main__ modules run their program when imported; the allowed ones patch by design.
            if info.name.endswith(("__main__", *ALLOWED)):
                continue
            importlib.import_module(info.name)
            imported.append(info.name)
            loaded = {n.partition(".")[0] for n in list(sys.modules)} & {"gevent", "eventlet", "locust"}
            if loaded and not patchers:
                patchers = {"first_module": info.name, "loaded": sorted(loaded)}
    print(json.dumps({"imported": imported, "patchers": patchers}))
    """)


def test_no_module_but_the_locustfile_loads_a_monkey_patcher() -> None:
    proc = subprocess.run([sys.executable, "-c", f"ALLOWED = {ALLOWED!r}\n{PROBE}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["patchers"] == {}, result["patchers"]
    # The walk really covered the project (not an empty package path).
    assert {"rtmpconf.harness.impair.kernel", "rtmpconf.harness.load.runner", "bench.compare"} \
        <= set(result["imported"])
