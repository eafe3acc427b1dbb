"""The side-by-side matrix: rows per case in catalogue order, a column per server with its score
and report links, the report's verdict names and colours, expected deviations marked."""

from __future__ import annotations

from rtmpconf.harness.report.matrix import build, render_html
from rtmpconf.harness.report.verdicts import STYLES


def result(name: str, rc: int, cases: list[tuple[str, str, str | None]]) -> dict:
    return {"name": name, "returncode": rc, "seconds": 1.0, "report": f"targets/{name}/html/index.html",
            "compliance_md": f"targets/{name}/compliance.md",
            "cases": [{"id": cid, "rule": cid.split("/")[0], "level": "MUST", "verdict": v,
                       "message": f"{v} msg", "expected_deviation": exp, "expected_link": "https://x/1" if exp else None,
                       "stale_manifest_entry": None} for cid, v, exp in cases]}


def test_matrix_rows_and_html() -> None:
    m = build([
        result("reference", 0, [("CTRL-1/acks", "PASS", None), ("HS-8/echo", "PASS", None),
                                ("CH-10/x", "PASS", None), ("CH-2/x", "NON-STRICT", None)]),
        result("node-media-server", 0, [("CTRL-1/acks", "FAIL", "never acks"), ("HS-8/echo", "PASS", None)]),
        result("broken", 1, [("CTRL-1/acks", "FAIL", None)]),
    ])
    # Catalogue order: sections by number, rules by number (CH-2 before CH-10).
    assert [c["id"] for c in m["cases"]] == ["HS-8/echo", "CH-2/x", "CH-10/x", "CTRL-1/acks"]
    row = m["cases"][3]["results"]
    assert row["node-media-server"]["shown"] == "FAIL (expected)"
    assert row["broken"]["shown"] == "FAIL"
    scores = {t["name"]: t["score"]["line"] for t in m["targets"]}
    assert scores == {"reference": "MUST 4/4 (100.0 %)", "node-media-server": "MUST 1/2 (50.0 %)",
                      "broken": "MUST 0/1 (0.0 %)"}
    page = render_html(m)
    assert "targets/reference/html/index.html" in page and "targets/reference/compliance.md" in page
    assert "MUST 1/2 (50.0 %)" in page
    assert "not in this run" in page  # HS-8 did not run on "broken"
    assert "gate: FAIL" in page and "FAIL (expected)" in page and "(1 expected by the manifest)" in page
    assert f"data-verdict='NON-STRICT' data-expected='' style='background:{STYLES['NON-STRICT'].colour}" in page
    # Section rows and the filter list in catalogue order.
    assert page.index("<option value='1. Handshake'>") < page.index("<option value='2. Chunking'>") \
        < page.index("<option value='4. Protocol control and user control'>")
    assert "data-section='2. Chunking'" in page
