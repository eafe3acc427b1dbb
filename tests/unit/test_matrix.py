"""The side-by-side matrix: rows per case, a column per server, expected deviations marked."""

from __future__ import annotations

from rtmpconf.harness.report.matrix import build, render_html


def result(name: str, rc: int, cases: list[tuple[str, str, str | None]]) -> dict:
    return {"name": name, "returncode": rc, "seconds": 1.0, "report": f"targets/{name}/html/index.html",
            "counts": {}, "cases": [{"id": cid, "rule": cid.split("/")[0], "level": "MUST", "verdict": v,
                                     "message": f"{v} msg", "expected_deviation": exp,
                                     "stale_manifest_entry": None} for cid, v, exp in cases]}


def test_matrix_rows_and_html() -> None:
    m = build([
        result("reference", 0, [("CTRL-1/acks", "PASS", None), ("HS-8/echo", "PASS", None)]),
        result("node-media-server", 0, [("CTRL-1/acks", "FAIL", "never acks"), ("HS-8/echo", "PASS", None)]),
        result("broken", 1, [("CTRL-1/acks", "FAIL", None)]),
    ])
    assert [c["id"] for c in m["cases"]] == ["HS-8/echo", "CTRL-1/acks"]  # catalogue order
    row = m["cases"][1]["results"]
    assert row["node-media-server"]["shown"] == "EXPECTED"
    assert row["broken"]["shown"] == "FAIL"
    page = render_html(m)
    assert "targets/reference/html/index.html" in page
    assert "not run" in page  # HS-8 did not run on "broken"
    assert "gate: FAIL" in page and "EXPECTED" in page
    assert 'data-section="CTRL"' in page or "data-section='CTRL'" in page
