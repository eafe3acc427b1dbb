"""Pure parts of the report: the verdict appearance table, titles, the evidence plan, result
rewriting, the report configuration and the HTML decoration."""

from __future__ import annotations

import json
from pathlib import Path

from rtmpconf.harness.report import allure as ar
from rtmpconf.harness.report.verdicts import ORDER, STYLES, allure_status
from rtmpconf.harness.verdict import Verdict


def test_every_verdict_has_a_distinct_look_and_fail_is_never_green() -> None:
    assert set(STYLES) == {v.value for v in Verdict}
    combos = {(s.status, s.colour) for s in STYLES.values()}
    assert len(combos) == len(STYLES)  # status + colour tell every verdict apart
    assert len({s.colour for s in STYLES.values()}) == len(STYLES)
    for v in ("FAIL", "NON-STRICT"):
        assert STYLES[v].status not in ("passed", "skipped")
        assert allure_status(v, strict=True) == "failed"
    assert allure_status("NON-STRICT") == "unknown"
    assert {s.status for s in STYLES.values()} == {"passed", "failed", "broken", "skipped", "unknown"}
    assert list(ORDER) == ["FAIL", "ERROR", "NON-STRICT", "NOT-RUN", "UNIMPLEMENTED", "INFORMATIONAL", "PASS"]


def test_short_titles() -> None:
    assert ar.short_title("Sends connect twice. Requirement: ...", "Rule") == "Sends connect twice"
    assert ar.short_title("Publishes audio on one csid:\n  a, b", "Rule title") == "Rule title"
    assert ar.short_title("x" * 200 + ".", "Rule title") == "Rule title"
    assert ar.case_title("CH-2/x[64]", "", "Low csid") == "CH-2/x[64] · Low csid"
    assert ar.section_label(2, "Chunking") == "02 Chunking"


def test_evidence_plan() -> None:
    full = ar.evidence_plan("FAIL", "failures", False)
    assert full == {"findings": True, "full_log": True, "compact_log": False, "pcapng": True, "hex": False}
    assert ar.evidence_plan("NON-STRICT", "failures", True)["hex"]
    assert ar.evidence_plan(None, "failures", False)["pcapng"]  # no verdict: treat as an error
    ok = ar.evidence_plan("PASS", "failures", True)
    assert ok == {"findings": True, "full_log": False, "compact_log": True, "pcapng": False, "hex": False}
    assert ar.evidence_plan("PASS", "all", False)["hex"]
    assert not any(ar.evidence_plan("FAIL", "none", True).values())


def result_for(params: list[dict[str, str]] | None = None) -> dict:
    return {"name": "test_x", "status": "passed", "labels": [{"name": "tag", "value": "verdict:PASS"},
                                                            {"name": "rtmp.case", "value": "CH-1/x"}],
            "parameters": params or [], "links": [{"type": "link", "url": "https://spec#page=3", "name": "s"}]}


def test_rewrite_result() -> None:
    case = {"id": "CH-1/x", "title": "CH-1/x · t", "verdict": "FAIL", "message": "FAIL [CH-1] bad",
            "rule": "CH-1", "level": "MUST", "rule_requirement": "Do it.", "requirement": "Sends x.",
            "expected_deviation": "known (https://x/1)", "expected_link": "https://x/1",
            "findings": [{"rule": "CH-1", "verdict": "FAIL", "message": "bad", "expected": "a", "actual": "b"}]}
    r = ar.rewrite_result(result_for([{"name": "raw", "value": "<class 'bytes'>"}]), case, strict=False,
                          manifest="m.toml")
    assert r["status"] == "failed" and r["name"] == "CH-1/x · t"
    assert r["historyId"] == r["testCaseId"] == ar.case_hash("CH-1/x")
    assert r["parameters"] == [{"name": "raw", "value": "<class 'bytes'>", "excluded": True}]
    tags = [lb["value"] for lb in r["labels"] if lb["name"] == "tag"]
    assert "verdict:PASS" not in tags and "FAIL" in tags and "expected deviation" in tags
    assert [lb["value"] for lb in r["labels"] if lb["name"] == "verdict"] == ["FAIL"]
    assert r["statusDetails"]["message"].startswith("FAIL (expected by the target's manifest: known")
    assert "expected: a" in r["statusDetails"]["trace"]
    assert {"type": "issue", "url": "https://x/1", "name": "expected deviation (m.toml)"} in r["links"]
    assert "**Requirement (CH-1, MUST):** Do it." in r["description"]
    again = ar.rewrite_result(r, {**case, "verdict": "PASS", "expected_deviation": None, "message": "fine"},
                              strict=False)
    assert [lb["value"] for lb in again["labels"] if lb["name"] in ("tag", "verdict")] == ["PASS", "PASS"]
    assert again["statusDetails"]["message"] == "PASS: fine" and again["status"] == "passed"


def test_report_config() -> None:
    summary = {"target_url": "rtmp://h/live", "cases": [
        {"id": "CH-1/x", "rule": "CH-1", "level": "MUST", "verdict": "FAIL", "message": "m",
         "expected_deviation": "known (https://x/1)"},
        {"id": "CH-1/y", "rule": "CH-1", "level": "MUST", "verdict": "PASS", "message": ""}]}
    cfg = ar.report_config(summary, name="RTMP conformance: h", global_attachments=["/nonexistent.md"])
    assert cfg["plugins"]["awesome"]["options"]["reportName"] == "RTMP conformance: h"
    assert cfg["plugins"]["awesome"]["options"]["groupBy"] == ["parentSuite", "suite"]
    assert [c["matchers"]["labels"]["verdict"] for c in cfg["categories"]] == [f"^{v}$".replace("-", "\\-")
                                                                             for v in ORDER]
    assert list(cfg["variables"])[:8] == ["Score", *ORDER]
    assert cfg["variables"]["FAIL"] == "1 (1 expected by the manifest): CH-1/x"
    assert cfg["resolutions"]["rules"] == [{"resolution": "accepted", "testCaseId": [ar.case_hash("CH-1/x")],
                                            "comment": "expected by the manifest: known (https://x/1)"}]
    assert "globalAttachments" not in cfg  # a missing file is not attached


INDEX = """<html><head><title>x</title></head><body><div id="app"></div>
    <script   src="app.js"></script>
    <script async src="https://www.googletagmanager.com/gtag/js?id=G-X"></script>
    <script>
        window.dataLayer = window.dataLayer || [];
        function gtag(){dataLayer.push(arguments);}
        gtag('js', new Date());
    </script>
    <script async>window.allureReportDataReady = true;</script>
</body></html>"""


def test_decorate_html(tmp_path: Path) -> None:
    (tmp_path / "data" / "test-results").mkdir(parents=True)
    (tmp_path / "index.html").write_text(INDEX)
    for tid, verdict, expected in (("a1", "FAIL", False), ("b2", "FAIL", True), ("c3", "INFORMATIONAL", False)):
        labels = [{"name": "verdict", "value": verdict}] + (
            [{"name": "tag", "value": "expected deviation"}] if expected else [])
        (tmp_path / "data" / "test-results" / f"{tid}.json").write_text(json.dumps({"id": tid, "labels": labels}))
    assert ar.decorate_html(tmp_path) == 3
    page = (tmp_path / "index.html").read_text()
    assert "googletagmanager" not in page and "gtag(" not in page
    assert 'src="app.js"' in page and "allureReportDataReady" in page
    assert 'button[id="a1"] [data-testid="tree-leaf-title"]::after{content:"FAIL";' \
           f'background:{STYLES["FAIL"].colour}' in page
    assert 'content:"FAIL (expected)"' in page and 'content:"INFORMATIONAL"' in page
    ar.decorate_html(tmp_path)  # idempotent: one style block
    assert (tmp_path / "index.html").read_text().count('id="rtmpconf-verdicts"') == 1


def test_environment_properties() -> None:
    facts = {"target": "nginx-rtmp", "target_url": "rtmp://127.0.0.1:1/live", "server": {"fmsVer": "FMS/3,0,1,123"},
             "roles": "publish+play", "suite_version": "0.1.0", "catalogue_version": "abc", "date": "d",
             "duration_s": 3.4, "strict": True, "options": {"rtmp_impair": "wifi"}, "manifest": "/x/nginx-rtmp.toml"}
    block = ar.environment_block(facts)
    assert block["Target"] == "rtmp://127.0.0.1:1/live" and block["Target kind"] == "nginx-rtmp"
    assert block["Manifest"] == "nginx-rtmp.toml" and block["Options"] == "impair=wifi" and block["Strict"] == "yes"
    text = ar.environment_properties(facts)
    assert "Target=rtmp\\://127.0.0.1\\:1/live\n" in text and "Server\\ identity=FMS/3,0,1,123\n" in text


def test_pcapng_snaps_packets_past_the_whole_bytes() -> None:
    from scapy.utils import PcapNgReader

    from rtmpconf.harness.report.pcap import MSS, SNAP_PAYLOAD, wirelog_to_pcapng
    from rtmpconf.harness.wirelog import WireLog

    log = WireLog("big")
    for i in range(40):  # 40 x 64 KiB = 2.5 MiB of "media"
        log.add("c2s", bytes([i]) * 65536, 1.0 + i * 0.01)
    log.add("s2c", b"\x03" * 100, 2.0)
    whole = wirelog_to_pcapng(log)
    cut = wirelog_to_pcapng(log, whole_bytes=1 << 20)
    assert len(cut) < len(whole) / 2
    import io
    packets = list(PcapNgReader(io.BytesIO(cut)))
    data = [p for p in packets if p.wirelen > 100]
    kept = [p for p in data if len(bytes(p)) == p.wirelen]
    snapped = [p for p in data if len(bytes(p)) < p.wirelen]
    assert sum(p.wirelen for p in kept) <= (1 << 20) + 200 * len(kept)
    assert snapped and all(len(bytes(p)) == p.wirelen - MSS + SNAP_PAYLOAD for p in snapped if p.wirelen > MSS)
    # Every segment is still there with its true length, in order: TCP sequence numbers stay whole.
    assert len(packets) == len(list(PcapNgReader(io.BytesIO(whole))))


def test_rule_spec_links_point_at_the_section() -> None:
    """Report links go to the section: a page of a PDF, an anchor of an RFC or a Markdown spec.
    (ITU-T H.222.0 is sold per edition: its landing page is the finest link there is.)"""
    from rtmpconf.harness.catalogue import catalogue

    whole = []
    for rule in catalogue().rules.values():
        for link in rule.spec:
            url = link.url
            if url.startswith("https://www.itu.int/rec/T-REC-H.222.0"):
                continue
            if (".pdf" in url and "#page=" not in url) or ("rfc-editor.org" in url and "#section-" not in url) \
                    or (url.endswith(".md") and "#" not in url):
                whole.append(f"{rule.id}: {url}")
    assert not whole, whole
