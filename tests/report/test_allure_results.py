"""The Allure results a run writes: every verdict its own status/label, titles a reader
understands, history IDs one per case, evidence in the test body as the policy says, expected
deviations still FAIL (tests/plugin style: the plugin runs in a pytester subprocess)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rtmpconf.harness.report.allure import case_hash
from rtmpconf.reference_server.config import ServerConfig
from rtmpconf.reference_server.server import ServerThread

CASES = '''
import pytest
from rtmpconf.harness.verdict import Verdict, failed, info, not_run, passed

@pytest.mark.rule("HS-8")
async def test_passes(rtmp):
    """Completes a handshake. Requirement: S2 echoes C1."""
    async with rtmp.client() as c:
        await c.handshake()
    rtmp.judge(passed("HS-8", "fine"))

@pytest.mark.rule("CMD-14")
async def test_non_strict(rtmp):
    """Requirement: a SHOULD not followed."""
    async with rtmp.client() as c:
        await c.handshake()
    rtmp.judge(failed("CMD-14", "not followed", verdict=Verdict.NON_STRICT))

@pytest.mark.rule("CTRL-1")
async def test_fails(rtmp):
    """Handshakes, then judges a MUST violated."""
    async with rtmp.client() as c:
        await c.handshake()
    rtmp.judge(failed("CTRL-1", "no ack", expected="an ack", actual="none"))

@pytest.mark.rule("CTRL-2")
async def test_expected_fail(rtmp):
    """A FAIL the manifest lists."""
    async with rtmp.client() as c:
        await c.handshake()
    rtmp.judge(failed("CTRL-1", "never acks"))

@pytest.mark.rule("TS-1")
async def test_harness_bug(rtmp):
    """The scenario itself breaks."""
    raise KeyError("oops")

@pytest.mark.rule("TS-4")
async def test_never_happened(rtmp):
    """The trigger never occurred."""
    rtmp.judge(not_run("TS-4", "no fmt-3 chunk followed an extended header"))

@pytest.mark.rule("TS-3")
@pytest.mark.parametrize("raw", [b"\\x00", b"\\x01"])
async def test_bytes_param(rtmp, raw):
    """Two cases whose parameter is bytes (allure-pytest shows both the same way)."""
    async with rtmp.client() as c:
        await c.handshake()
    rtmp.judge(info("TS-3", repr(raw)))
'''

MANIFEST = '''
server = "double"
[[expected]]
case = "CTRL-2/expected-fail"
verdict = "FAIL"
reason = "the double never acks"
link = "https://example.org/issue/7"
'''


@pytest.fixture(scope="module")
def target_url() -> Iterator[str]:
    srv = ServerThread(ServerConfig(port=0, http_port=0)).start()
    yield f"rtmp://127.0.0.1:{srv.port}/live"
    srv.stop()


def run(pytester: pytest.Pytester, target_url: str, *args: str) -> tuple[pytest.RunResult, Path, dict[str, Any]]:
    d = pytester.mkdir("cases")
    (d / "test_sample.py").write_text(CASES)
    (pytester.path / "manifest.toml").write_text(MANIFEST)
    results = pytester.path / "allure-results"
    summary = pytester.path / "summary.json"
    res = pytester.runpytest_subprocess(str(d), "-p", "no:cacheprovider", "--target", target_url,
                                        "--alluredir", str(results), "--rtmp-summary", str(summary),
                                        "--rtmp-manifest", str(pytester.path / "manifest.toml"), *args, timeout=120)
    return res, results, json.loads(summary.read_text())


def results_by_case(results: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for p in results.glob("*-result.json"):
        r = json.loads(p.read_text())
        case = next(lb["value"] for lb in r["labels"] if lb["name"] == "rtmp.case")
        assert case not in out, f"two result files for {case}"
        out[case] = r
    return out


def labels(r: dict[str, Any], name: str) -> list[str]:
    return [lb["value"] for lb in r["labels"] if lb["name"] == name]


def test_every_verdict_has_its_status_label_and_title(pytester: pytest.Pytester, target_url: str) -> None:
    res, results, summary = run(pytester, target_url)
    assert res.ret == 1  # the FAIL and the ERROR; the expected FAIL is forgiven
    by_case = results_by_case(results)
    want = {"HS-8/passes": ("PASS", "passed"), "CMD-14/non-strict": ("NON-STRICT", "unknown"),
            "CTRL-1/fails": ("FAIL", "failed"), "CTRL-2/expected-fail": ("FAIL", "failed"),
            "TS-1/harness-bug": ("ERROR", "broken"), "TS-4/never-happened": ("NOT-RUN", "skipped"),
            "TS-3/bytes-param[\\x00]": ("INFORMATIONAL", "passed"),
            "TS-3/bytes-param[\\x01]": ("INFORMATIONAL", "passed")}
    assert set(by_case) == set(want)
    for case, (verdict, status) in want.items():
        r = by_case[case]
        assert r["status"] == status, case
        assert labels(r, "verdict") == [verdict], case
        assert verdict in labels(r, "tag"), case
        # Title: case ID + a short human title; the tree: zero-padded section > rule label.
        assert r["name"].startswith(case + " · "), r["name"]
        assert r["historyId"] == r["testCaseId"] == case_hash(case)
        assert r["statusDetails"]["message"].startswith(verdict), (case, r["statusDetails"])
    assert by_case["HS-8/passes"]["name"] == "HS-8/passes · Completes a handshake"
    assert labels(by_case["CTRL-1/fails"], "parentSuite") == ["04 Protocol control and user control"]
    assert labels(by_case["CTRL-1/fails"], "suite")[0].startswith("CTRL-1 ")
    assert any("#page=" in lk["url"] for lk in by_case["CTRL-1/fails"]["links"])
    # The bytes-parametrised pair: one history ID each, parameters shown but out of the ID.
    pair = [by_case["TS-3/bytes-param[\\x00]"], by_case["TS-3/bytes-param[\\x01]"]]
    assert pair[0]["historyId"] != pair[1]["historyId"]
    assert all(p.get("excluded") for r in pair for p in r["parameters"])
    # The expected FAIL stays failed, marked expected with the manifest's reason and link.
    exp = by_case["CTRL-2/expected-fail"]
    assert "expected deviation" in labels(exp, "tag")
    assert "the double never acks" in exp["statusDetails"]["message"]
    assert any(lk["url"] == "https://example.org/issue/7" for lk in exp["links"])
    # Expected vs actual reach the page.
    assert "expected: an ack" in by_case["CTRL-1/fails"]["statusDetails"]["trace"]
    env = (results / "environment.properties").read_text()
    assert "Target=rtmp\\://127.0.0.1" in env and "Server\\ identity=FMS/3,0,1,123" in env
    # MUST cases: HS-8 PASS, the TS-3 pair INFORMATIONAL, CTRL-1 FAIL and the FAIL of the SHOULD case
    # CTRL-2 (a FAIL always counts under MUST); TS-1 ERROR and TS-4 NOT-RUN are not judged.
    assert summary["compliance"]["score"]["line"] == "MUST 3/5 (60.0 %)"


def attachment_names(r: dict[str, Any]) -> list[str]:
    return [a["name"] for a in r.get("attachments", [])]


def test_evidence_is_in_the_test_body_by_policy(pytester: pytest.Pytester, target_url: str) -> None:
    _, results, _ = run(pytester, target_url)
    by_case = results_by_case(results)
    fail = attachment_names(by_case["CTRL-1/fails"])
    assert fail[0] == "findings"
    assert any(n.startswith("wire log 1") and "compact" not in n for n in fail)
    assert "traffic 1.pcapng" in fail and not any(n.startswith("hex dump") for n in fail)
    assert any(n.startswith("wire log 1") for n in attachment_names(by_case["CMD-14/non-strict"]))
    assert "traffic 1.pcapng" in attachment_names(by_case["CMD-14/non-strict"])
    ok = by_case["HS-8/passes"]["attachments"]
    assert [a["name"] for a in ok] == ["findings and wire log (compact)"]
    text = (results / ok[0]["source"]).read_text()
    assert text.startswith("PASS  HS-8/passes") and "--- wire log 1 (compact" in text and "handshake" in text
    # Nothing hangs off a fixture's teardown any more.
    for p in results.glob("*-container.json"):
        for part in json.loads(p.read_text()).get("afters", []) + json.loads(p.read_text()).get("befores", []):
            assert not part.get("attachments"), part
    findings = next(a for a in by_case["CTRL-1/fails"]["attachments"] if a["name"] == "findings")
    text = (results / findings["source"]).read_text()
    assert "expected: an ack" in text and "actual:   none" in text and "rule     CTRL-1 (MUST)" in text


@pytest.mark.parametrize(("policy", "hex_dumps"), [("none", False), ("all", False), ("failures", True)])
def test_attach_policies(pytester: pytest.Pytester, target_url: str, policy: str, hex_dumps: bool) -> None:
    args = ["--rtmp-attach", policy] + (["--rtmp-attach-hex"] if hex_dumps else [])
    _, results, _ = run(pytester, target_url, "--rtmp-case", "HS-8/*", "--rtmp-case", "CTRL-1/*", *args)
    by_case = results_by_case(results)
    ok, fail = attachment_names(by_case["HS-8/passes"]), attachment_names(by_case["CTRL-1/fails"])
    if policy == "none":
        assert ok == [] and fail == []
    elif policy == "all":
        assert "traffic 1.pcapng" in ok and "hex dump 1" in ok and "hex dump 1" in fail and "findings" in ok
    else:
        assert "hex dump 1" in fail and ok == ["findings and wire log (compact)"]


def test_bad_attach_policy_is_a_usage_error(pytester: pytest.Pytester, target_url: str) -> None:
    d = pytester.mkdir("cases")
    (d / "test_sample.py").write_text(CASES)
    res = pytester.runpytest_subprocess(str(d), "--target", target_url, "--rtmp-attach", "some", timeout=60)
    assert res.ret == 4
    assert "invalid choice: 'some'" in res.stderr.str()


def test_strict_shows_non_strict_failed(pytester: pytest.Pytester, target_url: str) -> None:
    _, results, _ = run(pytester, target_url, "--rtmp-case", "CMD-14/*", "--rtmp-strict")
    r = results_by_case(results)["CMD-14/non-strict"]
    assert r["status"] == "failed" and labels(r, "verdict") == ["NON-STRICT"]
