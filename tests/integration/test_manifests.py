"""Expected-deviation manifests: known deviations pass the gate, new ones fail it, stale ones show."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.doubles.broken_servers import broken_server

ROOT = Path(__file__).resolve().parents[2]


def run(url: str, manifest: Path, tmp: Path, *cases: str) -> tuple[int, dict, str]:
    summary = tmp / "summary.json"
    args = [sys.executable, "-m", "pytest", str(ROOT / "rtmpconf" / "cases"), "-q", "-p", "no:cacheprovider", "--target", url,
            "--manifest", str(manifest), "--summary", str(summary)]
    for c in cases:
        args += ["--case", c]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    return proc.returncode, json.loads(summary.read_text()), proc.stdout


def write_manifest(tmp: Path, *entries: str) -> Path:
    body = 'server = "double"\n' + "".join(
        f'[[expected]]\ncase = "{e}"\nreason = "known"\nlink = "https://example.invalid/{i}"\n'
        for i, e in enumerate(entries))
    p = tmp / "double.toml"
    p.write_text(body)
    return p


def test_known_deviation_passes_the_gate_and_a_new_one_fails_it(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, "HS-8/s2-echoes-c1")
    with broken_server("s2-not-echoing-c1") as srv:
        rc, data, out = run(f"rtmp://127.0.0.1:{srv.port}/live", manifest, tmp_path, "HS-8/s2-echoes-c1")
    assert rc == 0, out
    case = data["cases"][0]
    assert case["verdict"] == "FAIL" and case["expected_deviation"].startswith("known")
    assert "EXPECTED" in out
    # The same manifest against a server with a different fault: the new FAIL breaks the gate.
    with broken_server("data-before-c2") as srv:
        rc, data, out = run(f"rtmp://127.0.0.1:{srv.port}/live", manifest, tmp_path,
                            "HS-8/s2-echoes-c1", "HS-4/nothing-before-c2")
    assert rc == 1, out
    verdicts = {c["id"]: c for c in data["cases"]}
    assert verdicts["HS-4/nothing-before-c2"]["verdict"] == "FAIL"
    assert verdicts["HS-4/nothing-before-c2"]["expected_deviation"] is None
    # ... and the HS-8 entry no longer applies there: it is reported as stale.
    assert verdicts["HS-8/s2-echoes-c1"]["stale_manifest_entry"]
    assert "STALE" in out
