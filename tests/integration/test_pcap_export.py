"""The pcapng attached to a case opens in tshark and dissects as RTMP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


from rtmpconf.harness.peers import require_or_skip

ROOT = Path(__file__).resolve().parents[2]


def test_case_pcapng_attachment_is_dissected_by_tshark(tmp_path: Path) -> None:
    [tshark] = require_or_skip("tshark")
    results = tmp_path / "allure"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "rtmpconf" / "cases"), "-q", "-p", "no:cacheprovider",
         "--case", "CMD-14/duplicate-publish-refused", "--alluredir", str(results),
         "--rtmp-attach", "all"],  # a passing case carries its pcapng only with --attach all
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]
    pcaps = sorted(results.glob("*.pcapng"))
    assert pcaps, list(results.iterdir())
    out = subprocess.run([tshark, "-r", str(pcaps[0]), "-Y", "rtmpt", "-T", "fields", "-e", "amf.string"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "connect" in text and "publish" in text, text[:2000]
