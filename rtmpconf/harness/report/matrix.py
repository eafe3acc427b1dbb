"""``rtmpconf matrix``: the suite against several servers, side by side (like Autobahn's index).

Each target runs in its own pytest process (``--target-server NAME``, with its manifest when
``targets/NAME.toml`` exists) and gets its own summary, JUnit and Allure report under
``reports/targets/NAME/``. Then ``reports/matrix.json`` and ``reports/matrix.html`` put every
case in a row and every server in a column.
"""

from __future__ import annotations

import html
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rtmpconf.paths import CASES, reports_dir

REPORTS = reports_dir()
COLOURS = {
    "PASS": "#2e7d32", "INFORMATIONAL": "#1565c0", "UNIMPLEMENTED": "#757575", "NON-STRICT": "#f9a825",
    "FAIL": "#c62828", "ERROR": "#6a1b9a", "EXPECTED": "#ef6c00", "NOT RUN": "#bdbdbd",
}


def run_target(name: str, extra: list[str], build_html: bool) -> dict[str, Any]:
    out = REPORTS / "targets" / name
    out.mkdir(parents=True, exist_ok=True)
    summary = out / "summary.json"
    if summary.exists():
        summary.unlink()
    cmd = [sys.executable, "-m", "pytest", str(CASES), "-q", "-p", "no:cacheprovider", "--no-header",
           "--target-server", name, "--summary", str(summary), "--junitxml", str(out / "junit.xml"),
           "--alluredir", str(out / "allure-results"), "--clean-alluredir", *extra]
    t0 = time.monotonic()
    print(f"== {name}", flush=True)
    proc = subprocess.run(cmd)
    result: dict[str, Any] = {"name": name, "returncode": proc.returncode, "seconds": round(time.monotonic() - t0, 1),
                              "report": None, "cases": []}
    if summary.exists():
        result.update(json.loads(summary.read_text()))
    if build_html and (out / "allure-results").is_dir():
        from rtmpconf.harness.runner import find_allure, install_allure

        try:
            allure = find_allure() or install_allure()
            gen = subprocess.run([*allure, "generate", str(out / "allure-results"), "-o", str(out / "html"),
                                  "--name", f"RTMP conformance: {name}",
                                  "--config", str(Path(__file__).resolve().parent / "allurerc.json")],
                                 capture_output=True, text=True, timeout=600)
            if gen.returncode == 0 and (out / "html" / "index.html").exists():
                result["report"] = f"targets/{name}/html/index.html"
        except Exception as exc:  # noqa: BLE001 - the matrix is still useful without the Allure links
            print(f"warning: no Allure report for {name}: {exc}", file=sys.stderr)
    return result


def build(results: list[dict[str, Any]]) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {}
    for r in results:
        for c in r.get("cases", []):
            row = rows.setdefault(c["id"], {"id": c["id"], "rule": c["rule"], "level": c["level"],
                                            "section": c.get("section") or c["rule"].split("-")[0], "results": {}})
            verdict = c["verdict"]
            row["results"][r["name"]] = {
                "verdict": verdict, "shown": "EXPECTED" if c.get("expected_deviation") else verdict,
                "message": c.get("message", ""), "expected": c.get("expected_deviation"),
                "stale": c.get("stale_manifest_entry"),
            }
    targets = [{"name": r["name"], "returncode": r["returncode"], "seconds": r["seconds"], "report": r["report"],
                "counts": r.get("counts", {}), "manifest": r.get("manifest")} for r in results]
    return {"generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "targets": targets,
            "cases": sorted(rows.values(), key=lambda x: _sort_key(x["id"]))}


def _sort_key(case_id: str) -> tuple[tuple[int, int, str], str]:
    """Catalogue order of the rule, then the case ID."""
    from rtmpconf.harness.catalogue import catalogue

    return (catalogue().order_key(case_id), case_id)


def render_html(matrix: dict[str, Any]) -> str:
    names = [t["name"] for t in matrix["targets"]]
    sections = sorted({c["section"] for c in matrix["cases"]})
    levels = sorted({c["level"] for c in matrix["cases"]})
    head = "".join(
        f"<th>{html.escape(t['name'])}<br><small>"
        + (f"<a href='{html.escape(t['report'])}'>Allure report</a>" if t["report"] else "no report")
        + "<br>" + html.escape(", ".join(f"{k} {v}" for k, v in sorted(t["counts"].items())))
        + f"<br>gate: {'pass' if t['returncode'] == 0 else 'FAIL'}</small></th>" for t in matrix["targets"])
    body = []
    for c in matrix["cases"]:
        cells = []
        for n in names:
            r = c["results"].get(n)
            if r is None:
                cells.append(f"<td style='background:{COLOURS['NOT RUN']}'>not run</td>")
                continue
            shown = r["shown"]
            tip = r["message"] + (f"\nexpected deviation: {r['expected']}" if r["expected"] else "") + (
                f"\nSTALE: {r['stale']}" if r["stale"] else "")
            label = shown + (" (stale)" if r["stale"] else "")
            cells.append(f"<td class='v' style='background:{COLOURS.get(shown, '#999')}' "
                         f"title='{html.escape(tip, quote=True)}'>{html.escape(label)}</td>")
        body.append(f"<tr data-section='{c['section']}' data-level='{c['level']}'><td class='id'>"
                    f"{html.escape(c['id'])}</td><td>{html.escape(c['level'])}</td>{''.join(cells)}</tr>")
    opts = lambda xs: "".join(f"<option>{html.escape(x)}</option>" for x in xs)  # noqa: E731
    legend = " ".join(f"<span class='v' style='background:{v}'>{k}</span>" for k, v in COLOURS.items())
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>RTMP conformance matrix</title>
<style>
body {{ font-family: sans-serif; margin: 1em; }}
table {{ border-collapse: collapse; font-size: 13px; }}
td, th {{ border: 1px solid #ccc; padding: 2px 6px; }}
th {{ position: sticky; top: 0; background: #fafafa; vertical-align: top; }}
.v {{ color: white; text-align: center; padding: 2px 6px; }}
td.id {{ font-family: monospace; }}
</style></head><body>
<h1>RTMP conformance matrix</h1>
<p>Generated {html.escape(matrix['generated'])}. Hover a cell for the finding. {legend}</p>
<p>Section <select id="sec"><option value="">all</option>{opts(sections)}</select>
Level <select id="lvl"><option value="">all</option>{opts(levels)}</select>
<label><input type="checkbox" id="diff"> only rows where servers differ</label></p>
<table><thead><tr><th>case</th><th>level</th>{head}</tr></thead><tbody>
{''.join(body)}
</tbody></table>
<script>
function apply() {{
  const s = document.getElementById('sec').value, l = document.getElementById('lvl').value;
  const d = document.getElementById('diff').checked;
  for (const tr of document.querySelectorAll('tbody tr')) {{
    const cells = [...tr.querySelectorAll('td.v')].map(td => td.textContent);
    const differs = new Set(cells).size > 1;
    tr.style.display = ((!s || tr.dataset.section === s) && (!l || tr.dataset.level === l) && (!d || differs)) ? '' : 'none';
  }}
}}
for (const id of ['sec', 'lvl', 'diff']) document.getElementById(id).addEventListener('change', apply);
</script></body></html>
"""


def matrix(targets: list[str], extra: list[str], build_html: bool = True) -> int:
    REPORTS.mkdir(exist_ok=True)
    results = [run_target(name, extra, build_html) for name in targets]
    m = build(results)
    (REPORTS / "matrix.json").write_text(json.dumps(m, indent=2))
    (REPORTS / "matrix.html").write_text(render_html(m))
    for t in m["targets"]:
        print(f"{t['name']:20s} gate={'pass' if t['returncode'] == 0 else 'FAIL'} {t['counts']}")
    print(f"matrix: {REPORTS / 'matrix.html'} ({len(m['cases'])} cases x {len(targets)} servers)")
    return 0 if all(t["returncode"] == 0 for t in m["targets"]) else 1
