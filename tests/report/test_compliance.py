"""The compliance summary, compliance.md, the run diff and `rtmpconf diff`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rtmpconf.harness.report.compliance import case_passed, compute, render_markdown, write_compliance
from rtmpconf.harness.report.history import SummaryError, diff, load_summary, render_text


def case(cid: str, level: str, verdict: str, expected: str | None = None, message: str = "") -> dict[str, Any]:
    return {"id": cid, "rule": cid.split("/")[0], "level": level, "section": "?", "verdict": verdict,
            "message": message or f"{verdict} [{cid.split('/')[0]}] something", "expected_deviation": expected,
            "findings": []}


def summary(cases: list[dict[str, Any]], **facts: Any) -> dict[str, Any]:
    return {"target": "rtmp://h/live", "target_url": "rtmp://h:1935/live",
            "server": {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0}, "roles": "publish+play",
            "suite_version": "0.1.0", "catalogue_version": "abc", "date": "2026-01-01 00:00:00 UTC",
            "duration_s": 12.0, "options": {"rtmp_timeout": 5.0, "rtmp_case": ["CH-*"]}, "cases": cases, **facts}


SAMPLE = summary([
    case("HS-8/a", "MUST", "PASS"),
    case("CH-1/a", "MUST", "PASS"),
    case("CH-1/b", "MUST", "FAIL", message="FAIL [CH-1] csid 64 refused"),
    case("CH-1/c", "MUST", "FAIL", expected="known nginx limit (https://x/1)"),
    case("CH-2/a", "MUST", "NON-STRICT"),     # a SHOULD finding in a MUST case: the MUST is met
    case("CH-2a/a", "SHOULD", "NON-STRICT"),  # a SHOULD case not followed
    case("CH-2a/b", "SHOULD", "PASS"),
    case("CH-4/a", "CONV", "INFORMATIONAL"),
    case("CH-3/a", "MUST", "NOT-RUN"),
    case("CH-3/b", "MUST", "ERROR"),
    case("HS-15/a", "OBS", "UNIMPLEMENTED"),
    case("GOP-1/a", "CONV", "FAIL"),           # a MUST finding in a CONV case: counted under MUST
])


def test_passed_depends_on_level() -> None:
    assert case_passed("MUST", "NON-STRICT") and not case_passed("MUST", "FAIL")
    assert not case_passed("SHOULD", "NON-STRICT") and not case_passed("CONV", "FAIL")
    assert case_passed("CONV", "INFORMATIONAL")


def test_compute_sections_levels_and_score() -> None:
    comp = compute(SAMPLE)
    # MUST judged: HS-8/a, CH-1/a,b,c, CH-2/a, GOP-1/a -> passed 3 (the expected FAIL still counts).
    assert comp["score"]["passed"] == 3 and comp["score"]["judged"] == 6
    assert comp["score"]["line"] == "MUST 3/6 (50.0 %)"
    sections = {s["title"]: s for s in comp["sections"]}
    assert [s["number"] for s in comp["sections"]] == sorted(s["number"] for s in comp["sections"])
    chunking = sections["Chunking"]["levels"]
    assert chunking["MUST"] == {"passed": 2, "judged": 4, "not_judged": 2}
    assert chunking["SHOULD"] == {"passed": 1, "judged": 2, "not_judged": 0}
    assert chunking["CONV"] == {"passed": 1, "judged": 1, "not_judged": 0}
    assert sections["Handshake"]["levels"]["OBS"] == {"passed": 0, "judged": 0, "not_judged": 1}
    assert sections["GOP cache and late joiners"]["levels"] == {"MUST": {"passed": 0, "judged": 1, "not_judged": 0}}
    assert [f["id"] for f in comp["fails"]] == ["CH-1/b", "CH-1/c", "GOP-1/a"] and comp["expected_fails"] == 1
    assert [f["id"] for f in comp["errors"]] == ["CH-3/b"]
    assert comp["counts"] == {"FAIL": 3, "ERROR": 1, "NON-STRICT": 2, "NOT-RUN": 1, "UNIMPLEMENTED": 1,
                              "INFORMATIONAL": 1, "PASS": 3}


def test_no_must_judged() -> None:
    assert compute(summary([case("CH-3/a", "MUST", "NOT-RUN")]))["score"]["line"] == "MUST: no MUST case judged"


def test_markdown_for_a_job_summary() -> None:
    md = render_markdown(SAMPLE)
    assert md.startswith("## RTMP conformance: rtmp://h:1935/live")
    assert "**MUST 3/6 (50.0 %)** · gate: **FAIL** · FAIL 3 · ERROR 1 · NON-STRICT 2" in md
    assert "| Server identity | FMS/3,0,1,123 (capabilities 31) |" in md
    assert "| Options | case=CH-* timeout=5 |" in md
    assert "- `CH-1/b` (MUST, 2. Chunking): FAIL [CH-1] csid 64 refused" in md
    assert "*expected by the manifest: known nginx limit (https://x/1)*" in md
    assert "| 2. Chunking | **2/4** | **1/2** | 1/1 |  |  | 2 |" in md
    assert "### ERROR (harness could not judge) (1)" in md
    # Only expected FAILs: the gate passes.
    only_expected = summary([case("CH-1/c", "MUST", "FAIL", expected="known")])
    assert "gate: **pass**" in render_markdown(only_expected)


def test_diff_new_fail_fixed_flipped_added_removed() -> None:
    old = summary([case("A-1/x", "MUST", "PASS"), case("A-2/x", "MUST", "FAIL"), case("A-3/x", "SHOULD", "PASS"),
                   case("A-4/x", "MUST", "PASS"), case("A-5/x", "MUST", "PASS")])
    new = summary([case("A-1/x", "MUST", "FAIL"), case("A-2/x", "MUST", "PASS"),
                   case("A-3/x", "SHOULD", "NON-STRICT"), case("A-4/x", "MUST", "PASS"),
                   case("A-6/x", "MUST", "FAIL")])
    d = diff(old, new)
    assert [e["id"] for e in d["new_fail"]] == ["A-1/x", "A-6/x"]
    assert d["new_fail"][1]["old"] is None
    assert [e["id"] for e in d["fixed"]] == ["A-2/x"]
    assert [(e["id"], e["old"], e["new"]) for e in d["flipped"]] == [("A-3/x", "PASS", "NON-STRICT")]
    assert d["added"] == ["A-6/x"] and d["removed"] == ["A-5/x"]
    text = render_text(d)
    assert "2 new FAIL, 1 fixed, 1 flipped, 1 new cases, 1 removed" in text
    assert "NEW FAIL  A-1/x: PASS -> FAIL" in text and "NEW FAIL  A-6/x: (new case) -> FAIL" in text
    assert diff(old, old)["new_fail"] == [] and not diff(old, old)["flipped"]


def test_write_compliance_with_a_baseline(tmp_path: Path) -> None:
    old = summary([case("CH-1/a", "MUST", "PASS"), case("CH-1/b", "MUST", "FAIL")])
    new = summary([case("CH-1/a", "MUST", "FAIL"), case("CH-1/b", "MUST", "PASS")])
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(new))
    _, changes, md = write_compliance(path, old)
    assert changes is not None and md == tmp_path / "compliance.md"
    text = md.read_text()
    assert "### Since baseline (2026-01-01 00:00:00 UTC)" in text
    assert "- `CH-1/a` PASS → FAIL" in text and "- `CH-1/b` FAIL → PASS" in text
    # Stored, so a later report without --baseline says the same.
    stored = json.loads(path.read_text())
    assert stored["since_baseline"]["new_fail"][0]["id"] == "CH-1/a"
    _, again, _ = write_compliance(path)
    assert again == stored["since_baseline"]


def test_load_summary_refuses_what_is_not_one(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    for text, why in (("{", "not JSON"), ("[]", "not an rtmpconf summary.json"),
                      ('{"cases": [{"id": "a"}]}', "not an rtmpconf summary.json")):
        bad.write_text(text)
        with pytest.raises(SummaryError, match=why):
            load_summary(bad)
    with pytest.raises(SummaryError, match="no such file"):
        load_summary(tmp_path / "missing.json")


def rtmpconf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtmpconf.harness.cli", *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_diff_command(tmp_path: Path) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(summary([case("CH-1/a", "MUST", "PASS")])))
    new.write_text(json.dumps(summary([case("CH-1/a", "MUST", "FAIL", message="FAIL [CH-1] broke")])))
    p = rtmpconf("diff", str(old), str(new))
    assert p.returncode == 1, p.stderr  # a new FAIL
    assert "NEW FAIL  CH-1/a: PASS -> FAIL — FAIL [CH-1] broke" in p.stdout
    p = rtmpconf("diff", str(new), str(old))
    assert p.returncode == 0 and "FIXED     CH-1/a: FAIL -> PASS" in p.stdout
    p = rtmpconf("diff", "--json", str(old), str(new))
    assert json.loads(p.stdout)["new_fail"][0]["id"] == "CH-1/a"
    p = rtmpconf("diff", "--markdown", str(old), str(new))
    assert "**New FAIL**" in p.stdout
    p = rtmpconf("diff", str(old), str(tmp_path / "nope.json"))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "no such file" in p.stderr
    assert "Traceback" not in p.stderr


def test_run_with_a_baseline_writes_the_changes(tmp_path: Path) -> None:
    """`rtmpconf run --baseline`: read before the run overwrites it, even when it is the output."""
    out = tmp_path / "reports"
    out.mkdir()
    old = summary([case("HS-8/s2-echoes-c1", "MUST", "FAIL", message="FAIL [HS-8] bad echo"),
                   case("HS-99/gone", "MUST", "PASS")])
    (out / "summary.json").write_text(json.dumps(old))
    p = rtmpconf("run", "--case", "HS-8/s2-echoes-c1", "--out", str(out), "--baseline", str(out / "summary.json"))
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert "since baseline: 0 new FAIL, 1 fixed" in p.stdout
    new = json.loads((out / "summary.json").read_text())
    assert [e["id"] for e in new["since_baseline"]["fixed"]] == ["HS-8/s2-echoes-c1"]
    assert new["since_baseline"]["removed"] == ["HS-99/gone"]
    md = (out / "compliance.md").read_text()
    assert "- `HS-8/s2-echoes-c1` FAIL → PASS" in md and md.startswith("## RTMP conformance: rtmp://127.0.0.1:")
    assert "| Server identity | FMS/3,0,1,123 (capabilities 31, mode 1) |" in md
