"""The pytest plugin: selection, dry run, verdict mapping, summary, JUnit failure vs error."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterator

import pytest

from rtmpconf.reference_server.config import ServerConfig
from rtmpconf.reference_server.server import ServerThread

CASES = '''
import pytest
from rtmpconf.harness.verdict import Finding, Verdict, passed, failed, info

@pytest.mark.rule("HS-8")
async def test_passes(rtmp):
    """Sends nothing. Requirement: always passes."""
    async with rtmp.client() as c:
        await c.handshake()
    rtmp.judge(passed("HS-8", "fine"))

@pytest.mark.rule("CMD-14")
async def test_non_strict(rtmp):
    """Requirement: a SHOULD not followed."""
    rtmp.judge(failed("CMD-14", "not followed", verdict=Verdict.NON_STRICT))

@pytest.mark.rule("CTRL-1")
async def test_fails(rtmp):
    """Requirement: a MUST violated."""
    rtmp.judge(failed("CTRL-1", "no ack", expected="ack", actual="none"))

@pytest.mark.rule("TS-1")
async def test_harness_bug(rtmp):
    """Requirement: the scenario itself breaks."""
    raise KeyError("oops")

@pytest.mark.rule("TS-2")
async def test_no_judge(rtmp):
    """Requirement: forgets to judge."""

@pytest.mark.rule("TS-3")
@pytest.mark.parametrize("dialect", ["present", "omitted"])
async def test_param(rtmp, dialect):
    """Requirement: parametrised."""
    rtmp.judge(info("TS-3", dialect))
'''


@pytest.fixture(scope="module")
def target_url() -> Iterator[str]:
    srv = ServerThread(ServerConfig(port=0, http_port=0)).start()
    yield f"rtmp://127.0.0.1:{srv.port}/live"
    srv.stop()


@pytest.fixture
def cases_dir(pytester: pytest.Pytester) -> Path:
    d = pytester.mkdir("cases")
    (d / "test_sample.py").write_text(CASES)
    return d


def run(pytester: pytest.Pytester, cases_dir: Path, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(str(cases_dir), "-p", "no:cacheprovider", *args, timeout=120)


def test_dry_run_lists_case_ids(pytester: pytest.Pytester, cases_dir: Path, target_url: str) -> None:
    res = run(pytester, cases_dir, "--rtmp-dry-run", "--target", target_url)
    out = res.stdout.str()
    for cid in ("HS-8/passes", "CMD-14/non-strict", "TS-3/param[present]", "TS-3/param[omitted]"):
        assert cid in out
    assert "7 cases" in out


def test_verdicts_summary_and_junit(pytester: pytest.Pytester, cases_dir: Path, target_url: str) -> None:
    summary = pytester.path / "summary.json"
    junit = pytester.path / "junit.xml"
    res = run(pytester, cases_dir, "--target", target_url, "--summary", str(summary), "--junitxml", str(junit))
    assert res.ret == 1
    data = json.loads(summary.read_text())
    verdicts = {c["id"]: c["verdict"] for c in data["cases"]}
    assert verdicts["HS-8/passes"] == "PASS"
    assert verdicts["CMD-14/non-strict"] == "NON-STRICT"
    assert verdicts["CTRL-1/fails"] == "FAIL"
    assert verdicts["TS-1/harness-bug"] == "ERROR"
    assert verdicts["TS-2/no-judge"] == "ERROR"
    assert verdicts["TS-3/param[present]"] == "INFORMATIONAL"
    fail = next(c for c in data["cases"] if c["id"] == "CTRL-1/fails")
    assert "expected: ack" in fail["message"]
    # JUnit: a FAIL verdict is a <failure>, a harness problem an <error>.
    root = ET.parse(junit).getroot()
    by_name = {tc.get("name"): tc for tc in root.iter("testcase")}
    assert by_name["test_fails"].find("failure") is not None
    assert by_name["test_harness_bug"].find("error") is not None
    assert by_name["test_harness_bug"].find("failure") is None
    assert by_name["test_non_strict"].find("failure") is None


def test_strict_makes_non_strict_fail(pytester: pytest.Pytester, cases_dir: Path, target_url: str) -> None:
    res = run(pytester, cases_dir, "--target", target_url, "--case", "CMD-14/*")
    assert res.ret == 0
    res = run(pytester, cases_dir, "--target", target_url, "--case", "CMD-14/*", "--rtmp-strict")
    assert res.ret == 1


def test_case_selection_by_glob(pytester: pytest.Pytester, cases_dir: Path, target_url: str) -> None:
    summary = pytester.path / "s.json"
    run(pytester, cases_dir, "--target", target_url, "--case", "TS-3/*", "--summary", str(summary))
    ids = [c["id"] for c in json.loads(summary.read_text())["cases"]]
    assert sorted(ids) == ["TS-3/param[omitted]", "TS-3/param[present]"]


def test_case_without_rule_marker_is_refused(pytester: pytest.Pytester, target_url: str) -> None:
    d = pytester.mkdir("cases")
    (d / "test_bad.py").write_text("async def test_unmarked(rtmp):\n    pass\n")
    res = run(pytester, d, "--target", target_url)
    assert res.ret != 0
    assert "without @pytest.mark.rule" in res.stdout.str() + res.stderr.str()


LEVEL_CASES = '''
import pytest
from rtmpconf.harness.verdict import Verdict, failed, not_run, passed

@pytest.mark.rule("GOP-1")
async def test_conv_violation(rtmp):
    """A checker says FAIL on a CONV rule."""
    rtmp.judge(failed("GOP-1", "started mid-GOP"))

@pytest.mark.rule("HS-15")
async def test_obs_violation(rtmp):
    """A checker says FAIL on an OBS rule."""
    rtmp.judge(failed("HS-15", "treated RTMPE as plain"))

@pytest.mark.rule("CTRL-1")
async def test_should_finding_in_must_case(rtmp):
    """A MUST case whose checker also cites a SHOULD rule: each finding capped by its own rule."""
    rtmp.judge(passed("CTRL-1", "acked"), failed("CTRL-2", "sequence number off by 3073"))

@pytest.mark.rule("TS-4")
async def test_condition_never_happened(rtmp):
    """The trigger never occurred on the wire."""
    rtmp.judge(passed("TS-4", "headers fine"), not_run("TS-4", "no fmt-3 chunk followed an extended header"))

@pytest.mark.rule("TS-1")
async def test_program_missing(rtmp):
    """Skips before any verdict."""
    pytest.skip("ffmpeg is not installed")

@pytest.mark.rule("TS-2")
async def test_unknown_rule_in_finding(rtmp):
    """A finding citing a rule the catalogue lacks is a harness bug."""
    rtmp.judge(failed("TS-99", "whatever"))
'''


def test_levels_cap_verdicts_and_not_run(pytester: pytest.Pytester, target_url: str) -> None:
    d = pytester.mkdir("cases")
    (d / "test_levels.py").write_text(LEVEL_CASES)
    summary = pytester.path / "summary.json"
    junit = pytester.path / "junit.xml"
    res = run(pytester, d, "--target", target_url, "--summary", str(summary), "--junitxml", str(junit))
    data = json.loads(summary.read_text())
    by_id = {c["id"]: c for c in data["cases"]}
    assert by_id["GOP-1/conv-violation"]["verdict"] == "NON-STRICT"
    assert by_id["GOP-1/conv-violation"]["level"] == "CONV"
    assert by_id["HS-15/obs-violation"]["verdict"] == "INFORMATIONAL"
    assert by_id["CTRL-1/should-finding-in-must-case"]["verdict"] == "NON-STRICT"
    assert by_id["TS-4/condition-never-happened"]["verdict"] == "NOT-RUN"
    assert "no fmt-3 chunk" in by_id["TS-4/condition-never-happened"]["message"]
    assert by_id["TS-1/program-missing"]["verdict"] == "NOT-RUN"
    assert "ffmpeg is not installed" in by_id["TS-1/program-missing"]["message"]
    assert by_id["TS-2/unknown-rule-in-finding"]["verdict"] == "ERROR"
    assert data["counts"]["NOT-RUN"] == 2
    # No verdict above its rule's level; nothing here is a FAIL, only the harness bug errors.
    assert res.ret == 1 and "FAIL" not in data["counts"]
    out = res.stdout.str()
    assert "not run        2 (no verdict on the target)" in out
    root = ET.parse(junit).getroot()
    by_name = {tc.get("name"): tc for tc in root.iter("testcase")}
    assert by_name["test_condition_never_happened"].find("skipped") is not None
    assert by_name["test_conv_violation"].find("failure") is None
    strict = run(pytester, d, "--target", target_url, "--case", "GOP-1/*", "--rtmp-strict")
    assert strict.ret == 1


@pytest.mark.parametrize("marker", ['"CH-15", level="SHOULD"', '"CH-15", "MUST"', '"XX-1"', '"CH-999"'])
def test_marker_names_a_catalogue_rule_only(pytester: pytest.Pytester, target_url: str, marker: str) -> None:
    d = pytester.mkdir("cases")
    (d / "test_bad.py").write_text(f"import pytest\n\n@pytest.mark.rule({marker})\n"
                                   "async def test_x(rtmp):\n    pass\n")
    res = run(pytester, d, "--target", target_url)
    assert res.ret == 4  # pytest usage error
    text = res.stdout.str() + res.stderr.str()
    assert "catalogue" in text


TIMING_CASES = '''
import asyncio
import pytest
from rtmpconf.harness import timing
from rtmpconf.harness.verdict import passed

@pytest.mark.rule("HS-8")
async def test_reports_timing(rtmp):
    """Records the deadlines this case would use."""
    assert timing.current() is rtmp.timing  # helpers without the fixture see the same link
    c = rtmp.client()
    rtmp.judge(passed("HS-8", f"scale={rtmp.timing.scale:g} deadline={rtmp.deadline(2.0):g} "
                              f"client={c.timing.scale:g}"))

@pytest.mark.rule("HS-1")
async def test_sleeps_past_the_base_watchdog(rtmp):
    """Takes 1.5 s: past a 1 s watchdog on a direct link, inside it at time scale 2."""
    await asyncio.sleep(1.5)
    rtmp.judge(passed("HS-1", "finished"))
'''


def test_time_scale_stretches_deadlines_and_watchdog(pytester: pytest.Pytester, target_url: str) -> None:
    d = pytester.mkdir("cases")
    (d / "test_timing.py").write_text(TIMING_CASES)
    summary = pytester.path / "summary.json"
    run(pytester, d, "--target", target_url, "--summary", str(summary), "--case-timeout", "1")
    by_id = {c["id"]: c for c in json.loads(summary.read_text())["cases"]}
    assert "scale=1 deadline=2 client=1" in by_id["HS-8/reports-timing"]["findings"][0]["message"]
    assert by_id["HS-1/sleeps-past-the-base-watchdog"]["verdict"] == "FAIL"
    assert "watchdog" in by_id["HS-1/sleeps-past-the-base-watchdog"]["message"]
    res = run(pytester, d, "--target", target_url, "--summary", str(summary), "--case-timeout", "1",
              "--time-scale", "2")
    data = json.loads(summary.read_text())
    by_id = {c["id"]: c for c in data["cases"]}
    assert "scale=2 deadline=4 client=2" in by_id["HS-8/reports-timing"]["findings"][0]["message"]
    assert by_id["HS-1/sleeps-past-the-base-watchdog"]["verdict"] == "PASS"
    assert data["timing"].startswith("time scale 2")
    assert "stretched for time scale 2" in res.stdout.str()
    # Past even the stretched watchdog (1 s x 1.2 < 1.5 s) on a declared-slow link: no verdict on
    # the target (NOT-RUN), where a direct link said FAIL above.
    run(pytester, d, "--target", target_url, "--summary", str(summary), "--case-timeout", "1",
        "--time-scale", "1.2")
    case = {c["id"]: c for c in json.loads(summary.read_text())["cases"]}["HS-1/sleeps-past-the-base-watchdog"]
    assert case["verdict"] == "NOT-RUN", case
    assert "no verdict on this link" in case["message"]


@pytest.mark.parametrize("bad", ["0", "-1", "nan"])
def test_bad_time_scale_is_a_usage_error(pytester: pytest.Pytester, target_url: str, bad: str) -> None:
    d = pytester.mkdir("cases")
    (d / "test_timing.py").write_text(TIMING_CASES)
    res = run(pytester, d, "--target", target_url, "--time-scale", bad)
    assert res.ret == 4
    assert "--time-scale" in res.stdout.str() + res.stderr.str()
