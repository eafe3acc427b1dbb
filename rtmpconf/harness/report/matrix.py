"""``rtmpconf matrix``: the suite against several servers, side by side (like Autobahn's index).

Each target runs in its own pytest process (``--target-server NAME``, with its manifest when
``targets/NAME.toml`` exists) and gets its own summary, compliance.md, JUnit and Allure report
under ``reports/targets/NAME/``. Then ``reports/matrix.json`` and ``reports/matrix.html`` put
every case in a row and every server in a column: the verdict names and colours of the Allure
report (verdicts.py), the compliance score per server, sections in catalogue order. With ``-j N``
(default: three per core, at most eight; one per core with the interop cases) each run uses N
workers, and each worker starts its own server (harness/parallel.py): a crash stays with the case
that caused it, so the verdicts are those of a serial run.
"""

from __future__ import annotations

import html
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rtmpconf.harness.report.verdicts import ORDER, STYLES
from rtmpconf.paths import CASES, reports_dir

REPORTS = reports_dir()
#: A server on which a case did not run at all (not selected, or the run ended early).
ABSENT = "absent"


def run_target(name: str, extra: list[str], build_html: bool, jobs: int = 1) -> dict[str, Any]:
    out = REPORTS / "targets" / name
    out.mkdir(parents=True, exist_ok=True)
    summary = out / "summary.json"
    if summary.exists():
        summary.unlink()
    from rtmpconf.harness.runner import CASE_RUN_ARGS

    cmd = [sys.executable, "-m", "pytest", str(CASES), "-q", *CASE_RUN_ARGS,
           "--no-header", "--rootdir", str(CASES), "--target-server", name, "--summary", str(summary),
           "--rtmp-junit", str(out / "junit.xml"), "--alluredir", str(out / "allure-results"), "--clean-alluredir",
           "--rtmp-jobs", str(jobs), *extra]
    t0 = time.monotonic()
    print(f"== {name}", flush=True)
    proc = subprocess.run(cmd, check=False)
    result: dict[str, Any] = {"name": name, "returncode": proc.returncode, "seconds": round(time.monotonic() - t0, 1),
                              "report": None, "compliance_md": None, "cases": [], "jobs": jobs}
    if summary.exists():
        from rtmpconf.harness.report.compliance import write_compliance

        data, _, _md = write_compliance(summary)
        result.update(data)
        result["compliance_md"] = f"targets/{name}/compliance.md"
    if build_html and (out / "allure-results").is_dir():
        from rtmpconf.harness.report.allure import build_html as build_allure
        from rtmpconf.harness.runner import find_allure, install_allure

        try:
            allure = find_allure() or install_allure()
            gen = build_allure(allure, out / "allure-results", out / "html", result,
                               name=f"RTMP conformance: {name}",
                               global_attachments=[str(out / "compliance.md")] if result["compliance_md"] else [])
            if gen.returncode == 0 and (out / "html" / "index.html").exists():
                result["report"] = f"targets/{name}/html/index.html"
            else:
                print(f"warning: no Allure report for {name}: {gen.stderr[-500:]}", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - the matrix is still useful without the Allure links
            print(f"warning: no Allure report for {name}: {exc}", file=sys.stderr)
    return result


def _section(case: dict[str, Any]) -> tuple[int, str]:
    from rtmpconf.harness.report.compliance import section_of

    return section_of(case)


def build(results: list[dict[str, Any]]) -> dict[str, Any]:
    from rtmpconf.harness.report.compliance import compute

    rows: dict[str, dict[str, Any]] = {}
    for r in results:
        for c in r.get("cases", []):
            number, title = _section(c)
            row = rows.setdefault(c["id"], {"id": c["id"], "rule": c["rule"], "level": c["level"],
                                            "section": f"{number}. {title}", "section_number": number,
                                            "title": c.get("title") or c["id"], "results": {}})
            expected = bool(c.get("expected_deviation"))
            row["results"][r["name"]] = {
                "verdict": c["verdict"], "expected": c.get("expected_deviation"),
                "shown": f"{c['verdict']} (expected)" if expected else c["verdict"],
                "message": c.get("message", ""), "link": c.get("expected_link"),
                "stale": c.get("stale_manifest_entry"),
            }
    targets = []
    for r in results:
        comp = r.get("compliance") or (compute(r) if r.get("cases") else None)
        targets.append({"name": r["name"], "returncode": r["returncode"], "seconds": r["seconds"],
                        "report": r["report"], "compliance_md": r.get("compliance_md"),
                        "counts": {v: n for v in ORDER if (n := sum(1 for c in r.get("cases", [])
                                                                   if c["verdict"] == v))},
                        "expected": sum(1 for c in r.get("cases", []) if c.get("expected_deviation")),
                        "score": comp["score"] if comp else None, "manifest": r.get("manifest"),
                        "server": r.get("server") or {}, "jobs": r.get("jobs", 1)})
    return {"generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "targets": targets,
            "cases": sorted(rows.values(), key=lambda x: _sort_key(x["id"]))}


def _sort_key(case_id: str) -> tuple[tuple[int, int, str], str]:
    """Catalogue order of the rule, then the case ID."""
    from rtmpconf.harness.catalogue import catalogue

    return (catalogue().order_key(case_id), case_id)


def _cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return (f"<td class='v' data-verdict='{ABSENT}' style='background:#ffffff;color:#9e9e9e'>"
                "not in this run</td>")
    verdict = r["verdict"]
    st = STYLES.get(verdict, STYLES["ERROR"])
    tip = r["message"] + (f"\nexpected by the manifest: {r['expected']}" if r["expected"] else "") + (
        f"\nSTALE: {r['stale']}" if r["stale"] else "")
    if r["expected"]:
        look = f"background:#ffffff;color:{st.colour};box-shadow:inset 0 0 0 2px {st.colour}"
    else:
        look = f"background:{st.colour};color:{st.text}"
    text = html.escape(r["shown"] + (" (stale)" if r["stale"] else ""))
    if r["expected"] and r.get("link"):
        text += f" <a href='{html.escape(r['link'], quote=True)}' title='manifest link'>↗</a>"
    return (f"<td class='v' data-verdict='{html.escape(verdict)}' data-expected='{'1' if r['expected'] else ''}' "
            f"style='{look}' title='{html.escape(tip, quote=True)}'>{text}</td>")


def _head(t: dict[str, Any]) -> str:
    score = t["score"]["line"] if t["score"] else "no verdicts"
    links = []
    if t["report"]:
        links.append(f"<a href='{html.escape(t['report'], quote=True)}'>Allure report</a>")
    if t.get("compliance_md"):
        links.append(f"<a href='{html.escape(t['compliance_md'], quote=True)}'>compliance.md</a>")
    counts = " ".join(
        f"<span class='v small' style='background:{STYLES[v].colour};color:{STYLES[v].text}'>{v} {n}</span>"
        for v, n in t["counts"].items())
    fms = t.get("server", {}).get("fmsVer")
    return (f"<th class='target' data-target='{html.escape(t['name'], quote=True)}'>{html.escape(t['name'])}"
            + (f"<br><small>{html.escape(str(fms))}</small>" if fms else "")
            + f"<br><span class='score'>{html.escape(score)}</span>"
            + f"<br><small>{' · '.join(links) or 'no report'}</small>"
            + f"<br><small>gate: {'pass' if t['returncode'] == 0 else 'FAIL'}"
            + (f" ({t['expected']} expected by the manifest)" if t["expected"] else "") + "</small>"
            + f"<div class='counts'>{counts}</div></th>")


def render_html(matrix: dict[str, Any]) -> str:
    names = [t["name"] for t in matrix["targets"]]
    sections = sorted({(c["section_number"], c["section"]) for c in matrix["cases"]})
    levels = [lv for lv in ("MUST", "SHOULD", "CONV", "MAY", "OBS") if any(c["level"] == lv for c in matrix["cases"])]
    head = "".join(_head(t) for t in matrix["targets"])
    body = []
    current = None
    for c in matrix["cases"]:
        if c["section"] != current:
            current = c["section"]
            body.append(f"<tr class='section' data-section='{html.escape(current, quote=True)}'>"
                        f"<th colspan='{len(names) + 2}'>{html.escape(current)}</th></tr>")
        cells = "".join(_cell(c["results"].get(n)) for n in names)
        body.append(f"<tr class='case' data-section='{html.escape(c['section'], quote=True)}' "
                    f"data-rule='{html.escape(c['rule'], quote=True)}' data-level='{c['level']}'>"
                    f"<td class='id' title='{html.escape(c['title'], quote=True)}'>{html.escape(c['id'])}</td>"
                    f"<td>{html.escape(c['level'])}</td>{cells}</tr>")
    opts = "".join(f"<option value='{html.escape(s, quote=True)}'>{html.escape(s)}</option>" for _, s in sections)
    lvl_opts = "".join(f"<option>{lv}</option>" for lv in levels)
    legend = " ".join(
        f"<span class='v' style='background:{STYLES[v].colour};color:{STYLES[v].text}' "
        f"title='{html.escape(STYLES[v].meaning, quote=True)}'>{v}</span>" for v in ORDER)
    legend += (f" <span class='v' style='background:#ffffff;color:{STYLES['FAIL'].colour};"
               f"box-shadow:inset 0 0 0 2px {STYLES['FAIL'].colour}'>FAIL (expected)</span>")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>RTMP conformance matrix</title>
<style>
body {{ font-family: sans-serif; margin: 1em; }}
table {{ border-collapse: collapse; font-size: 13px; }}
td, th {{ border: 1px solid #ccc; padding: 2px 6px; }}
thead th {{ position: sticky; top: 0; background: #fafafa; vertical-align: top; z-index: 1; }}
tr.section th {{ text-align: left; background: #eceff1; padding: 4px 6px; }}
.v {{ text-align: center; padding: 2px 6px; border-radius: 3px; white-space: nowrap; }}
.v a {{ color: inherit; }}
.small {{ font-size: 11px; display: inline-block; margin: 1px; }}
.score {{ font-weight: bold; }}
td.id {{ font-family: monospace; }}
</style></head><body>
<h1>RTMP conformance matrix</h1>
<p>Generated {html.escape(matrix['generated'])}. Hover a cell for the finding; each server's column links to its
Allure report (the same verdict names and colours). Score: MUST cases passed / MUST cases judged.</p>
<p id="legend">{legend}</p>
<p>Section <select id="sec"><option value="">all</option>{opts}</select>
Level <select id="lvl"><option value="">all</option>{lvl_opts}</select>
<label><input type="checkbox" id="diff"> only rows where servers differ</label></p>
<table><thead><tr><th>case</th><th>level</th>{head}</tr></thead><tbody>
{''.join(body)}
</tbody></table>
<script>
function apply() {{
  const s = document.getElementById('sec').value, l = document.getElementById('lvl').value;
  const d = document.getElementById('diff').checked;
  for (const tr of document.querySelectorAll('tbody tr.case')) {{
    const cells = [...tr.querySelectorAll('td.v')].map(td => td.textContent);
    const differs = new Set(cells).size > 1;
    tr.style.display = ((!s || tr.dataset.section === s) && (!l || tr.dataset.level === l) && (!d || differs)) ? '' : 'none';
  }}
  for (const tr of document.querySelectorAll('tbody tr.section'))
    tr.style.display = (!s || tr.dataset.section === s) ? '' : 'none';
}}
for (const id of ['sec', 'lvl', 'diff']) document.getElementById(id).addEventListener('change', apply);
</script></body></html>
"""


def write(results: list[dict[str, Any]], reports: Path | None = None) -> dict[str, Any]:
    """matrix.json and matrix.html from per-target results."""
    where = reports or REPORTS
    where.mkdir(parents=True, exist_ok=True)
    m = build(results)
    (where / "matrix.json").write_text(json.dumps(m, indent=2))
    (where / "matrix.html").write_text(render_html(m))
    return m


def matrix(targets: list[str], extra: list[str], build_html: bool = True, jobs: int | None = None) -> int:
    """Run every target (one after another, each with ``jobs`` workers and a server per worker)."""
    from rtmpconf.harness.parallel import default_jobs, xdist_available

    REPORTS.mkdir(exist_ok=True)
    n = jobs or default_jobs(waiting="--interop" not in extra)
    if n > 1 and not xdist_available():
        print(f"rtmpconf matrix: pytest-xdist is not installed: serial runs instead of -j {n}", file=sys.stderr)
        n = 1
    results = [run_target(name, extra, build_html, n) for name in targets]
    m = write(results)
    for t in m["targets"]:
        score = t["score"]["line"] if t["score"] else "no verdicts"
        print(f"{t['name']:20s} gate={'pass' if t['returncode'] == 0 else 'FAIL'} {score} {t['counts']}")
    print(f"matrix: {REPORTS / 'matrix.html'} ({len(m['cases'])} cases x {len(targets)} servers)")
    return 0 if all(t["returncode"] == 0 for t in m["targets"]) else 1
