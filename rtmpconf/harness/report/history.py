"""What changed between two runs: ``rtmpconf diff OLD NEW`` on two summary.json files, and the
"Since baseline" part of compliance.md and the report (``--baseline OLD/summary.json``).

* **new FAIL** -- FAIL now, not FAIL before (including a case that did not exist before);
* **fixed** -- FAIL, NON-STRICT or ERROR before, PASS or INFORMATIONAL now;
* **flipped** -- any other verdict change of a case present in both runs;
* **new / removed** -- case IDs only one run has (the suite or the selection changed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

GOOD = frozenset({"PASS", "INFORMATIONAL"})
BAD = frozenset({"FAIL", "NON-STRICT", "ERROR"})


class SummaryError(ValueError):
    """Not a readable summary.json."""


def load_summary(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SummaryError(f"{p}: no such file") from None
    except OSError as exc:
        raise SummaryError(f"{p}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise SummaryError(f"{p}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list) or not all(
            isinstance(c, dict) and "id" in c and "verdict" in c for c in data["cases"]):
        raise SummaryError(f"{p}: not an rtmpconf summary.json (no 'cases' list with id and verdict)")
    return data


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The changes from ``old`` to ``new`` (two summary.json documents)."""
    before = {c["id"]: c for c in old.get("cases", [])}
    after = {c["id"]: c for c in new.get("cases", [])}
    new_fail, fixed, flipped = [], [], []
    for cid, c in after.items():
        o = before.get(cid)
        v = c["verdict"]
        was = o["verdict"] if o is not None else None
        entry = {"id": cid, "old": was, "new": v, "level": c.get("level"), "message": c.get("message", "")}
        if v == "FAIL" and was != "FAIL":
            new_fail.append(entry)
        elif o is None or was == v:
            continue
        elif was in BAD and v in GOOD:
            fixed.append(entry)
        else:
            flipped.append(entry)
    from rtmpconf.harness.report.compliance import compute

    def score(doc: Mapping[str, Any]) -> str:
        comp = doc.get("compliance") or compute(doc)
        return str(comp["score"]["line"])

    return {
        "old": {"date": old.get("date"), "target": old.get("target_url") or old.get("target"),
                "suite_version": old.get("suite_version"), "catalogue_version": old.get("catalogue_version"),
                "score": score(old)},
        "new": {"date": new.get("date"), "target": new.get("target_url") or new.get("target"),
                "suite_version": new.get("suite_version"), "catalogue_version": new.get("catalogue_version"),
                "score": score(new)},
        "new_fail": new_fail,
        "fixed": fixed,
        "flipped": flipped,
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
    }


def headline(d: Mapping[str, Any]) -> str:
    parts = [f"{len(d['new_fail'])} new FAIL", f"{len(d['fixed'])} fixed", f"{len(d['flipped'])} flipped",
             f"{len(d['added'])} new cases", f"{len(d['removed'])} removed"]
    return ", ".join(parts) + f" (score {d['old']['score']} → {d['new']['score']})"


def _one(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def render_text(d: Mapping[str, Any]) -> str:
    """What ``rtmpconf diff`` prints."""
    lines = [f"{when}: {d[when]['date'] or '?'} {d[when]['target'] or ''} suite {d[when]['suite_version']} "
             f"catalogue {d[when]['catalogue_version']}" for when in ("old", "new")]
    lines.append(headline(d))
    for title, key in (("NEW FAIL", "new_fail"), ("FIXED", "fixed"), ("FLIPPED", "flipped")):
        for e in d[key]:
            lines.append(f"  {title:9s} {e['id']}: {e['old'] or '(new case)'} -> {e['new']}"
                         + (f" — {_one(e['message'])}" if e["new"] not in GOOD and e["message"] else ""))
    for cid in d["added"]:
        lines.append(f"  {'NEW CASE':9s} {cid}")
    for cid in d["removed"]:
        lines.append(f"  {'REMOVED':9s} {cid}")
    return "\n".join(lines)


def render_markdown(d: Mapping[str, Any]) -> str:
    """The "Since baseline" section of compliance.md."""
    out = [f"### Since baseline ({d['old']['date'] or 'earlier run'})", "", f"{headline(d)}", ""]
    for title, key in (("New FAIL", "new_fail"), ("Fixed", "fixed"), ("Flipped", "flipped")):
        if d[key]:
            out.append(f"**{title}**")
            out.append("")
            for e in d[key]:
                msg = f": {_one(e['message'])}" if e["new"] not in GOOD and e["message"] else ""
                out.append(f"- `{e['id']}` {e['old'] or '(new case)'} → {e['new']}{msg}")
            out.append("")
    if d["added"] or d["removed"]:
        out.append(f"Cases added: {len(d['added'])}, removed: {len(d['removed'])}"
                   + (f" (removed: {', '.join('`' + c + '`' for c in d['removed'][:10])})" if d["removed"] else ""))
        out.append("")
    return "\n".join(out).rstrip()
