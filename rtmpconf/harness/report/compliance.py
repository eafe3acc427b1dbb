"""The compliance summary of a run: pass rate per catalogue section and level, the headline score,
the FAILs one line each (summary.json ``compliance``, ``compliance.md``, the report's variables).

Counting (README, "Compliance score"): every case counts once, under its rule's section and level
-- except a FAIL, which only a violated MUST can cause (verdicts are capped by level): it counts
under MUST even in a case whose own rule is a SHOULD or a convention.

* **judged** -- the case has a verdict on the target: PASS, INFORMATIONAL, NON-STRICT or FAIL.
  NOT-RUN, UNIMPLEMENTED and ERROR say nothing about the requirement and are counted apart.
* **passed** -- a judged case whose verdict is not a violation at its rule's level: a MUST case
  passes unless it is FAIL; any other case passes unless it is FAIL or NON-STRICT.
* **headline score** -- MUST cases passed / MUST cases judged, in percent. A FAIL the target's
  manifest expects still counts as a FAIL: the manifest changes the exit code, not the score.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rtmpconf.harness.report.verdicts import ORDER

LEVELS = ("MUST", "SHOULD", "CONV", "MAY", "OBS")
JUDGED = frozenset({"PASS", "INFORMATIONAL", "NON-STRICT", "FAIL"})
NOT_JUDGED = ("NOT-RUN", "UNIMPLEMENTED", "ERROR")

SCORE_DEFINITION = ("MUST cases passed / MUST cases judged (NOT-RUN, UNIMPLEMENTED and ERROR excluded; "
                    "every FAIL counts as a failed MUST case; a FAIL the manifest expects still counts)")


def case_passed(level: str, verdict: str) -> bool:
    if level == "MUST":
        return verdict != "FAIL"
    return verdict not in ("FAIL", "NON-STRICT")


def section_of(case: Mapping[str, Any]) -> tuple[int, str]:
    """(number, title) of a case's catalogue section (from the catalogue; the summary's label
    for a rule this catalogue no longer has)."""
    from rtmpconf.harness.catalogue import CatalogueError, catalogue

    try:
        sec = catalogue().section_of(case["rule"])
        return sec.number, sec.title
    except (CatalogueError, KeyError):
        label = str(case.get("section") or "?")
        num, _, title = label.partition(". ")
        return (int(num), title) if num.isdigit() else (999, label)


def _cell() -> dict[str, int]:
    return {"passed": 0, "judged": 0, "not_judged": 0}


def _rate(passed: int, judged: int) -> str:
    return f"{passed}/{judged}" if judged else "–"


def compute(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The ``compliance`` block of summary.json from its ``cases``."""
    sections: dict[tuple[int, str], dict[str, Any]] = {}
    levels = {lv: _cell() for lv in LEVELS}
    fails, non_strict, errors = [], [], []
    for c in summary.get("cases", []):
        verdict = c["verdict"]
        level = "MUST" if verdict == "FAIL" else c.get("level", "MUST")
        key = section_of(c)
        sec = sections.setdefault(key, {"number": key[0], "title": key[1], "levels": {},
                                        "counts": {}})
        cell = sec["levels"].setdefault(level, _cell())
        sec["counts"][verdict] = sec["counts"].get(verdict, 0) + 1
        for target in (cell, levels.setdefault(level, _cell())):
            if verdict in JUDGED:
                target["judged"] += 1
                target["passed"] += case_passed(level, verdict)
            else:
                target["not_judged"] += 1
        line = {"id": c["id"], "rule": c["rule"], "level": level, "section": f"{key[0]}. {key[1]}",
                "message": _one_line(c.get("message", "")), "expected": c.get("expected_deviation")}
        if verdict == "FAIL":
            fails.append(line)
        elif verdict == "NON-STRICT":
            non_strict.append(line)
        elif verdict == "ERROR":
            errors.append(line)
    must = levels["MUST"]
    percent = round(100.0 * must["passed"] / must["judged"], 1) if must["judged"] else None
    counts = {v: sum(1 for c in summary.get("cases", []) if c["verdict"] == v) for v in ORDER}
    return {
        "score": {"passed": must["passed"], "judged": must["judged"], "percent": percent,
                  "line": headline(must["passed"], must["judged"], percent), "definition": SCORE_DEFINITION},
        "levels": levels,
        "sections": [sections[k] for k in sorted(sections)],
        "counts": {v: n for v, n in counts.items() if n},
        "fails": fails,
        "expected_fails": sum(1 for f in fails if f["expected"]),
        "non_strict": non_strict,
        "errors": errors,
    }


def headline(passed: int, judged: int, percent: float | None) -> str:
    if not judged:
        return "MUST: no MUST case judged"
    return f"MUST {passed}/{judged} ({percent:.1f} %)"


def _one_line(text: str, limit: int = 220) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def counts_line(counts: Mapping[str, int]) -> str:
    return " · ".join(f"{v} {counts.get(v, 0)}" for v in ORDER)


def section_line(sec: Mapping[str, Any]) -> str:
    """``MUST 58/59 · SHOULD 3/3 · not judged 1`` for one section."""
    parts = [f"{lv} {_rate(c['passed'], c['judged'])}" for lv in LEVELS
             if (c := sec["levels"].get(lv)) and (c["judged"] or c["not_judged"])]
    nj = sum(c["not_judged"] for c in sec["levels"].values())
    if nj:
        parts.append(f"not judged {nj}")
    return " · ".join(parts)


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def render_markdown(summary: Mapping[str, Any], diff: Mapping[str, Any] | None = None) -> str:
    """compliance.md: a GitHub job summary a server author can act on."""
    from rtmpconf.harness.report.allure import environment_block

    comp = summary.get("compliance") or compute(summary)
    env = environment_block(summary)
    gate = "FAIL" if any(not f["expected"] for f in comp["fails"]) else "pass"
    out = [f"## RTMP conformance: {_md(env['Target'])}", "",
           f"**{comp['score']['line']}** · gate: **{gate}** · {counts_line(comp['counts'])}", ""]
    out += ["| Run | |", "|---|---|"]
    out += [f"| {k} | {_md(v)} |" for k, v in env.items()]
    out.append("")
    if diff is not None:
        from rtmpconf.harness.report.history import render_markdown as diff_md

        out += [diff_md(diff), ""]
    out += [f"### FAIL ({len(comp['fails'])})", ""]
    if comp["fails"]:
        for f in comp["fails"]:
            exp = f" — *expected by the manifest: {_md(_one_line(f['expected'], 160))}*" if f["expected"] else ""
            out.append(f"- `{f['id']}` ({f['level']}, {_md(f['section'])}): {_md(f['message'])}{exp}")
    else:
        out.append("No MUST requirement was violated.")
    out.append("")
    for title, items in (("NON-STRICT", comp["non_strict"]), ("ERROR (harness could not judge)", comp["errors"])):
        if items:
            out += [f"### {title} ({len(items)})", ""]
            out += [f"- `{f['id']}` ({f['level']}): {_md(f['message'])}" for f in items]
            out.append("")
    out += ["### Compliance by section", "",
            "| Section | " + " | ".join(LEVELS) + " | not judged |",
            "|---|" + "---:|" * (len(LEVELS) + 1)]
    for sec in comp["sections"]:
        cells = []
        for lv in LEVELS:
            c = sec["levels"].get(lv)
            text = _rate(c["passed"], c["judged"]) if c else ""
            if c and c["judged"] and c["passed"] < c["judged"]:
                text = f"**{text}**"
            cells.append(text)
        nj = sum(c["not_judged"] for c in sec["levels"].values())
        out.append(f"| {sec['number']}. {_md(sec['title'])} | " + " | ".join(cells) + f" | {nj or ''} |")
    lv = comp["levels"]
    out.append("| **all** | " + " | ".join(_rate(lv[x]["passed"], lv[x]["judged"]) for x in LEVELS)
               + f" | {sum(lv[x]['not_judged'] for x in LEVELS) or ''} |")
    out += ["", f"Score: {comp['score']['definition']}. A cell is passed/judged cases of that level.", ""]
    return "\n".join(out)


def write_compliance(summary_path: Path, baseline: Mapping[str, Any] | None = None,
                     out: Path | None = None) -> tuple[dict[str, Any], dict[str, Any] | None, Path]:
    """compliance.md next to summary.json (or at ``out``). With a baseline summary, the diff is
    stored in summary.json (``since_baseline``) so a later ``rtmpconf report`` shows it too."""
    from rtmpconf.harness.report.history import diff as make_diff
    from rtmpconf.harness.report.history import load_summary

    summary = load_summary(summary_path)  # SummaryError: one line for the CLI
    if "compliance" not in summary:
        summary["compliance"] = compute(summary)
    changes = None
    if baseline is not None:
        changes = make_diff(baseline, summary)
        summary["since_baseline"] = changes
        summary_path.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    elif summary.get("since_baseline"):
        changes = summary["since_baseline"]
    target = out or summary_path.parent / "compliance.md"
    target.write_text(render_markdown(summary, changes), encoding="utf-8")
    return summary, changes, target


def compliance_variables(summary: Mapping[str, Any], diff: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The compliance summary as Allure report variables (the overview's "Variables" block)."""
    comp = summary.get("compliance") or compute(summary)
    # The first eight show without "Show more": the score and the count of every verdict.
    out = {"Score": comp["score"]["line"]}
    out.update({v: str(comp["counts"].get(v, 0)) for v in ORDER})
    if comp["fails"]:
        exp = comp["expected_fails"]
        out["FAIL"] += (f" ({exp} expected by the manifest)" if exp else "") + ": " + ", ".join(
            f["id"] for f in comp["fails"][:10]) + (f" … (+{len(comp['fails']) - 10})" if len(comp["fails"]) > 10 else "")
    if diff is not None:
        from rtmpconf.harness.report.history import headline as diff_headline

        out["Since baseline"] = diff_headline(diff)
    for sec in comp["sections"]:
        out[f"{sec['number']:02d} {sec['title']}"] = section_line(sec)
    return out
