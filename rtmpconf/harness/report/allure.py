"""The Allure side of the report: labels, evidence, result post-processing and the HTML build.

The pytest plugin calls three functions at three moments of a case:

* :func:`label_case` in setup: the tree (catalogue section > rule > case), severity, spec links,
  and the ``rtmp.case`` label that ties the result file to its case ID;
* :func:`attach_evidence` at the end of the call phase, so findings, the decoded wire log and the
  pcapng are attachments of the test body (policy ``--rtmp-attach none|failures|all``);
* :func:`finalize_results` once per session: allure-pytest only knows passed/failed/skipped, so
  each result file is rewritten from the case's verdict (status, message, category label, title,
  history ID = a hash of the case ID) and ``environment.properties`` gets the run's facts.

:func:`build_html` runs the Allure 3 CLI with a configuration made for the run (one category per
verdict, the compliance summary as report variables, expected deviations as accepted
resolutions) and then marks every tree row with its verdict badge (verdicts.py).
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtmpconf.harness.report.verdicts import ORDER, STYLES, allure_status, label

if TYPE_CHECKING:  # pragma: no cover
    from rtmpconf.harness.pytest_plugin import CaseInfo

log = logging.getLogger("rtmp.report")

try:  # allure-pytest is a dependency, but keep this importable without it
    import allure
except ImportError:  # pragma: no cover
    allure = None

#: The label that names the case in a result file (also the key of :func:`finalize_results`).
CASE_LABEL = "rtmp.case"
#: The label carrying the verdict (categories match on it).
VERDICT_LABEL = "verdict"
SEVERITY = {"MUST": "critical", "SHOULD": "normal", "CONV": "minor", "MAY": "trivial", "OBS": "trivial"}

#: Attachment policies (``--rtmp-attach``): what each case carries.
ATTACH_POLICIES = ("none", "failures", "all")
#: Verdicts that get the full evidence (findings, full decoded log, pcapng) under ``failures``.
FULL_EVIDENCE = frozenset({"FAIL", "NON-STRICT", "ERROR"})
#: Rows of a compact decoded log (the rest of the case's verdicts under ``failures``): enough for
#: the handshake, connect and the first media messages; the close and notes are always kept.
COMPACT_ROWS = 40
#: A pcapng keeps whole packets for this much payload, then only their first bytes (pcap.py): a
#: case that pushed 12 MB of media does not put 12 MB into every copy of the report.
PCAP_WHOLE_BYTES = 4 << 20
#: A short human title longer than this falls back to the rule title.
TITLE_MAX = 100

ALLURERC = Path(__file__).resolve().parent / "allurerc.json"


def case_hash(case_id: str) -> str:
    """History and test-case ID of a case: stable across runs, one per case ID."""
    return hashlib.md5(case_id.encode("utf-8")).hexdigest()


def section_label(number: int, title: str) -> str:
    """``02 Chunking``: zero-padded so sorting by name keeps the catalogue order too."""
    return f"{number:02d} {title}"


def short_title(doc: str, rule_title: str) -> str:
    """The case's short human title: its docstring's first sentence when that is short and
    complete, else the rule's title."""
    first = " ".join(doc.strip().split("\n\n")[0].split())
    sentence = re.split(r"(?<=[.;:])\s", first, maxsplit=1)[0].strip()
    if sentence.endswith(".") and 10 <= len(sentence) <= TITLE_MAX and "``" not in sentence:
        return sentence[:-1]
    return rule_title


def case_title(case_id: str, doc: str, rule_title: str) -> str:
    return f"{case_id} · {short_title(doc, rule_title)}"


# -- setup: labels ---------------------------------------------------------------------------------


def label_case(info: CaseInfo) -> None:
    """Allure labels and links of a case (its title and status are set by finalize_results)."""
    if allure is None or info.rule_info is None:
        return
    rule = info.rule_info
    section = section_label(rule.section.number, rule.section.title)
    allure.dynamic.epic(section)
    allure.dynamic.parent_suite(section)
    allure.dynamic.feature(rule.label)
    allure.dynamic.suite(rule.label)
    allure.dynamic.severity(SEVERITY.get(rule.level.value, "normal"))
    allure.dynamic.tag(rule.level.value)
    allure.dynamic.label(CASE_LABEL, info.case_id)
    allure.dynamic.label("rule", rule.id)
    allure.dynamic.label("level", rule.level.value)
    for link in rule.spec:
        allure.dynamic.link(link.url, name=link.name)


# -- call: evidence --------------------------------------------------------------------------------


def render_findings(info: CaseInfo) -> str:
    """The findings as a reader wants them: verdict, rule, what was expected and what was seen."""
    rule = info.rule_info
    lines = [f"{(info.verdict.value if info.verdict else 'ERROR')}  {info.case_id}"]
    if rule is not None:
        lines.append(f"rule     {rule.id} ({rule.level.value}) {rule.title}")
        lines += [f"spec     {s.name} <{s.url}>" for s in rule.spec]
    if info.expected:
        lines.append(f"expected deviation (manifest): {info.expected}")
    lines.append("")
    for f in info.findings:
        lines.append(f"{f.verdict.value} [{f.rule}] {f.message}")
        if f.expected is not None:
            lines.append(f"    expected: {f.expected}")
        if f.actual is not None:
            lines.append(f"    actual:   {f.actual}")
        for key, value in f.evidence.items():
            lines.append(f"    {key}: {_short(value)}")
    if not info.findings:
        lines.append(info.message or info.error or "(no findings)")
    return "\n".join(lines) + "\n"


def _short(value: Any, limit: int = 400) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def evidence_plan(verdict: str | None, policy: str, hex_dumps: bool) -> dict[str, bool]:
    """What a case carries: findings, the decoded log (full or compact), pcapng, hex dumps."""
    if policy == "none":
        return {"findings": False, "full_log": False, "compact_log": False, "pcapng": False, "hex": False}
    full = policy == "all" or (verdict or "ERROR") in FULL_EVIDENCE
    return {"findings": True, "full_log": full, "compact_log": not full, "pcapng": full,
            "hex": full and (hex_dumps or policy == "all")}


def attach_evidence(info: CaseInfo, policy: str = "failures", hex_dumps: bool = False) -> None:
    """Attach the case's evidence to the running test body (the call phase)."""
    if allure is None:
        return
    plan = evidence_plan(info.verdict.value if info.verdict else None, policy, hex_dumps)
    logs = [lg for lg in info.logs if getattr(lg, "events", None)]
    if plan["compact_log"]:
        # One attachment for a case that passed: a report keeps hundreds of them, and every file
        # costs a disk block twice (results and HTML).
        parts = [render_findings(info)]
        for i, wl in enumerate(logs, 1):
            try:
                parts.append(f"--- wire log {i} (compact: the first {COMPACT_ROWS} rows) ---\n"
                             + wl.render(limit=COMPACT_ROWS))
            except Exception as exc:  # noqa: BLE001 - evidence is an extra; the verdict stands without it
                parts.append(f"--- wire log {i}: could not render it: {type(exc).__name__}: {exc}")
        parts.append("(the full log and the pcapng come with FAIL, NON-STRICT and ERROR, or with --attach all)")
        allure.attach("\n".join(parts) + "\n", name="findings and wire log (compact)",
                      attachment_type=allure.attachment_type.TEXT)
        return
    if plan["findings"]:
        allure.attach(render_findings(info), name="findings", attachment_type=allure.attachment_type.TEXT)
    for i, wl in enumerate(logs, 1):
        what = f" ({wl.label})" if getattr(wl, "label", "") else ""
        try:
            if plan["full_log"]:
                allure.attach(wl.render(), name=f"wire log {i}{what}", attachment_type=allure.attachment_type.TEXT)
            if plan["hex"]:
                allure.attach(f"client -> server\n{wl.hexdump('c2s')}\n\nserver -> client\n{wl.hexdump('s2c')}",
                              name=f"hex dump {i}", attachment_type=allure.attachment_type.TEXT)
            if plan["pcapng"]:
                from rtmpconf.harness.report.pcap import wirelog_to_pcapng

                big = sum(len(e.data) for e in wl.events) > PCAP_WHOLE_BYTES
                name = f"traffic {i}.pcapng" if not big else \
                    f"traffic {i} (packets after the first {PCAP_WHOLE_BYTES >> 20} MiB snapped).pcapng"
                allure.attach(wirelog_to_pcapng(wl, whole_bytes=PCAP_WHOLE_BYTES), name=name, extension="pcapng",
                              attachment_type="application/vnd.tcpdump.pcap")
        except Exception as exc:  # noqa: BLE001 - evidence is an extra; the verdict stands without it
            log.warning("%s: could not render evidence of log %d: %s", info.case_id, i, exc)
            allure.attach(f"could not render this wire log: {type(exc).__name__}: {exc}\n", name=f"wire log {i}",
                          attachment_type=allure.attachment_type.TEXT)


# -- session end: result post-processing -----------------------------------------------------------


def _status_details(case: Mapping[str, Any]) -> dict[str, str]:
    verdict = case["verdict"]
    message = str(case.get("message") or "")
    head = message if message.startswith(verdict) else f"{verdict}: {message}".strip()
    if case.get("expected_deviation"):
        head = f"{verdict} (expected by the target's manifest: {case['expected_deviation']})\n{head}"
    lines = []
    for f in case.get("findings", []):
        line = f"{f['verdict']} [{f['rule']}] {f['message']}"
        if f.get("expected") is not None or f.get("actual") is not None:
            line += f"\n    expected: {f.get('expected')}\n    actual:   {f.get('actual')}"
        lines.append(line)
    if case.get("stale_manifest_entry"):
        lines.append(f"STALE manifest entry: {case['stale_manifest_entry']}")
    if case.get("target_died_after"):
        lines.append(f"target: {case['target_died_after']}")
    return {"message": head[:4000], "trace": "\n".join(lines)[:20000]}


def rewrite_result(result: dict[str, Any], case: Mapping[str, Any], *, strict: bool,
                   manifest: str | None = None) -> dict[str, Any]:
    """One allure-pytest result rewritten from the case's summary entry (pure; tested alone)."""
    verdict = case["verdict"]
    expected = bool(case.get("expected_deviation"))
    hid = case_hash(case["id"])
    result["name"] = case.get("title") or case["id"]
    result["status"] = allure_status(verdict, strict=strict)
    result["statusDetails"] = _status_details(case)
    result["historyId"] = hid
    result["testCaseId"] = hid
    # Parameters stay visible but out of the history ID: the case ID already names them, and a
    # parameter's repr (bytes, objects) must not make two cases one, or one case two.
    for p in result.get("parameters", []):
        p["excluded"] = True
    keep = [lb for lb in result.get("labels", [])
            if lb.get("name") != VERDICT_LABEL and not (lb.get("name") == "tag" and (
                lb.get("value", "").startswith("verdict:") or lb.get("value") in STYLES
                or lb.get("value") == "expected deviation"))]
    keep.append({"name": VERDICT_LABEL, "value": verdict})
    keep.append({"name": "tag", "value": verdict})
    if expected:
        keep.append({"name": "tag", "value": "expected deviation"})
    result["labels"] = keep
    if case.get("requirement") or case.get("rule_requirement"):
        parts = []
        if case.get("rule_requirement"):
            parts.append(f"**Requirement ({case['rule']}, {case['level']}):** {case['rule_requirement']}")
        if case.get("requirement"):
            parts.append(f"**This case:** {case['requirement']}")
        result["description"] = "\n\n".join(parts)
        result.pop("descriptionHtml", None)
    links = [lk for lk in result.get("links", []) if lk.get("type") != "issue"]
    if expected and case.get("expected_link"):
        links.append({"type": "issue", "url": case["expected_link"],
                      "name": f"expected deviation ({manifest or 'manifest'})"})
    result["links"] = links
    return result


def finalize_results(alluredir: str | Path, cases: Iterable[Mapping[str, Any]], facts: Mapping[str, Any], *,
                     strict: bool) -> int:
    """Rewrite every case's result file in ``alluredir`` from its verdict; write the environment
    block. Returns how many result files were rewritten."""
    root = Path(alluredir)
    if not root.is_dir():
        return 0
    by_id = {c["id"]: c for c in cases}
    manifest = Path(facts["manifest"]).name if facts.get("manifest") else None
    done = 0
    for path in root.glob("*-result.json"):
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        case_id = next((lb.get("value") for lb in result.get("labels", []) if lb.get("name") == CASE_LABEL), None)
        case = by_id.get(case_id) if case_id else None
        if case is None:
            continue
        rewrite_result(result, case, strict=strict, manifest=manifest)
        path.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
        done += 1
    (root / "environment.properties").write_text(environment_properties(facts), encoding="utf-8")
    return done


def environment_block(facts: Mapping[str, Any]) -> dict[str, str]:
    """The run's facts as name -> value (the report's environment block, compliance.md's header)."""
    server = facts.get("server") or {}
    extra = ", ".join(f"{k} {_num(server[k])}" for k in ("capabilities", "mode") if k in server)
    identity = str(server.get("fmsVer") or "no fmsVer") + (f" ({extra})" if extra else "") if server else ""
    options = facts.get("options") or {}
    shown_opts = " ".join(f"{k.removeprefix('rtmp_').replace('_', '-')}={_opt(v)}" for k, v in sorted(options.items())
                          if k not in ("rtmp_summary", "rtmp_junit"))
    url = str(facts.get("target_url") or facts.get("target") or "?")
    out = {"Target": url}
    if facts.get("target") and facts["target"] != url:
        out["Target kind"] = str(facts["target"])
    out.update({
        "Server identity": identity or "(no connect reply recorded)",
        "Roles": str(facts.get("roles") or "?"),
        "Suite version": str(facts.get("suite_version") or "?"),
        "Catalogue version": str(facts.get("catalogue_version") or "?"),
        "Date": str(facts.get("date") or "?"),
        "Duration": f"{float(facts.get('duration_s') or 0):.0f} s",
        "Strict": "yes" if facts.get("strict") else "no",
        "Options": shown_opts or "(defaults)",
    })
    if facts.get("manifest"):
        out["Manifest"] = Path(str(facts["manifest"])).name
    if facts.get("target_restarts"):
        out["Target restarts"] = str(len(facts["target_restarts"]))
    return out


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _opt(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else _num(value)


def environment_properties(facts: Mapping[str, Any]) -> str:
    """Java-properties text Allure shows as the report's environment (its "Metadata" block)."""
    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("\n", " ").replace("=", "\\=").replace(":", "\\:")

    def key(text: str) -> str:
        return esc(text).replace(" ", "\\ ")

    return "".join(f"{key(k)}={esc(v)}\n" for k, v in environment_block(facts).items())


# -- report build ----------------------------------------------------------------------------------


def report_config(summary: Mapping[str, Any], *, name: str, global_attachments: Iterable[str] = (),
                  diff: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The Allure 3 configuration for this run's report (the packaged allurerc.json plus the
    verdict categories, the compliance summary as variables and the expected deviations)."""
    from rtmpconf.harness.report.compliance import compliance_variables

    base = json.loads(ALLURERC.read_text(encoding="utf-8"))
    base["name"] = name
    base.setdefault("plugins", {}).setdefault("awesome", {}).setdefault("options", {})["reportName"] = name
    base["categories"] = [
        {"id": f"verdict-{v.lower()}", "name": f"{v} — {STYLES[v].meaning}",
         "matchers": {"labels": {VERDICT_LABEL: f"^{re.escape(v)}$"}},
         "groupBy": [{"label": "parentSuite"}], "groupByMessage": False, "expand": v in ("FAIL", "ERROR")}
        for v in ORDER]
    if summary.get("cases"):
        # Without a summary.json there are no verdicts to count (a bare `pytest --alluredir` run).
        base["variables"] = compliance_variables(summary, diff)
    rules = []
    for c in summary.get("cases", []):
        if c.get("expected_deviation"):
            rules.append({"resolution": "accepted", "testCaseId": [case_hash(c["id"])],
                          "comment": f"expected by the manifest: {c['expected_deviation']}"[:500]})
    if rules:
        base["resolutions"] = {"rules": rules}
    attachments = [str(Path(p).resolve()) for p in global_attachments if Path(p).is_file()]
    if attachments:
        base["globalAttachments"] = attachments
    return base


def build_html(allure_cmd: list[str], results: Path, out: Path, summary: Mapping[str, Any], *, name: str,
               global_attachments: Iterable[str] = (), diff: Mapping[str, Any] | None = None,
               timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
    """``allure generate`` with this run's configuration, then the verdict badges."""
    config = report_config(summary, name=name, global_attachments=global_attachments, diff=diff)
    with tempfile.TemporaryDirectory(prefix="rtmpconf-allure-") as tmp:
        cfg = Path(tmp) / "allurerc.json"
        cfg.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
        proc = subprocess.run([*allure_cmd, "generate", str(results), "-o", str(out), "--config", str(cfg)],
                              env={**os.environ, "NO_COLOR": "1"}, capture_output=True, text=True,
                              timeout=timeout, cwd=tmp, check=False)
    if proc.returncode == 0 and (out / "index.html").is_file():
        decorate_html(out)
    return proc


_ANALYTICS = re.compile(r'\s*<script async src="https://www\.googletagmanager\.com/[^"]*"></script>\s*<script>'
                        r'.*?gtag\(.*?</script>', re.DOTALL)


def decorate_html(out: Path) -> int:
    """Verdict badges on the tree rows, and no third-party analytics: a report opened from a CI
    artifact contacts nobody. Returns the number of rows badged."""
    index = out / "index.html"
    page = index.read_text(encoding="utf-8")
    page = _ANALYTICS.sub("", page)
    ids: dict[str, list[str]] = {}
    for path in (out / "data" / "test-results").glob("*.json"):
        try:
            tr = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        labels = tr.get("labels") or []
        verdict = next((lb.get("value") for lb in labels if lb.get("name") == VERDICT_LABEL), None)
        if verdict not in STYLES:
            continue
        expected = any(lb.get("name") == "tag" and lb.get("value") == "expected deviation" for lb in labels)
        ids.setdefault(label(verdict, expected), []).append(str(tr.get("id")))
    page = re.sub(r'\s*<style id="rtmpconf-verdicts">.*?</style>', "", page, flags=re.DOTALL)
    page = page.replace("</head>", f'<style id="rtmpconf-verdicts">{badge_css(ids)}</style>\n</head>', 1)
    index.write_text(page, encoding="utf-8")
    return sum(len(v) for v in ids.values())


def badge_css(ids_by_badge: Mapping[str, list[str]]) -> str:
    """CSS giving each tree row (a button whose id is the result's ID) its verdict badge."""
    rules = []
    for badge, ids in sorted(ids_by_badge.items()):
        if not ids:
            continue
        verdict = badge.split(" ")[0]
        st = STYLES[verdict]
        sel = ",".join(f'button[id="{i}"] [data-testid="tree-leaf-title"]::after' for i in ids)
        if badge.endswith("(expected)"):
            # Still the verdict's colour, drawn as an outline: the manifest forgives it in the exit code only.
            look = f"background:#ffffff;color:{st.colour};box-shadow:inset 0 0 0 2px {st.colour}"
        else:
            look = f"background:{st.colour};color:{st.text}"
        rules.append(f'{sel}{{content:"{badge}";{look}}}')
    common = ('[data-testid="tree-leaf-title"]::after{display:inline-block;margin-left:8px;padding:0 6px;'
              'border-radius:8px;font-size:11px;font-weight:600;line-height:18px;vertical-align:1px;'
              'white-space:nowrap}'
              # The compliance summary (report variables) in one column, so its lines are not cut.
              '[data-testid="report-variables"] [data-testid="metadata-list"]'
              '{grid-template-columns:100% !important}')
    return common + "".join(rules)


def legend_html() -> str:
    """The verdict legend (matrix page): the same names and colours as the Allure badges."""
    return " ".join(f"<span class='v' style='background:{STYLES[v].colour};color:{STYLES[v].text}' "
                    f"title='{html.escape(STYLES[v].meaning, quote=True)}'>{v}</span>" for v in ORDER)
