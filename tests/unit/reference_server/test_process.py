"""The reference server process's own set-up (python -m rtmpconf.reference_server)."""

from __future__ import annotations

import subprocess
import sys


def test_the_server_process_freezes_its_start_up_heap() -> None:
    code = ("import gc; from rtmpconf.reference_server.__main__ import settle_heap; "
            "before = gc.get_freeze_count(); settle_heap(); print(before, gc.get_freeze_count())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    before, after = map(int, out.stdout.split())
    assert before == 0 and after > 1000
