"""-j N (harness/parallel.py): one summary, identical verdicts, the preflight once, exclusive cases alone."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtmpconf.reference_server.config import ServerConfig
from rtmpconf.reference_server.server import ServerThread

pytest.importorskip("xdist")

# Each case records when it ran (start, end, pid) so the test can see what overlapped.
CASES = '''
import json, os, time, asyncio
from pathlib import Path
import pytest
from rtmpconf.harness.verdict import Verdict, failed, info, passed, not_run

LOG = Path(os.environ.get("RTMPCONF_TEST_TIMELINE", os.devnull))

def mark(name, t0):
    with LOG.open("a") as fh:
        fh.write(json.dumps({"case": name, "start": t0, "end": time.time(), "pid": os.getpid()}) + "\\n")

@pytest.mark.rule("HS-8")
@pytest.mark.parametrize("n", range(6))
async def test_ordinary(rtmp, n):
    """Requirement: a handshake, then passes."""
    t0 = time.time()
    async with rtmp.client() as c:
        await c.handshake()
    await asyncio.sleep(0.3)
    mark(f"ordinary-{n}", t0)
    rtmp.judge(passed("HS-8", "fine"))

@pytest.mark.rule("CTRL-1")
async def test_fails(rtmp):
    """Requirement: a MUST violated."""
    rtmp.judge(failed("CTRL-1", "no ack", expected="ack", actual="none"))

@pytest.mark.rule("CMD-14")
async def test_non_strict(rtmp):
    """Requirement: a SHOULD not followed."""
    rtmp.judge(failed("CMD-14", "not followed", verdict=Verdict.NON_STRICT))

@pytest.mark.rule("TS-3")
async def test_not_run(rtmp):
    """Requirement: the condition never happened."""
    rtmp.judge(not_run("TS-3", "never happened"))

@pytest.mark.rule("TS-1")
async def test_harness_bug(rtmp):
    """Requirement: the scenario breaks."""
    raise KeyError("oops")

@pytest.mark.exclusive
@pytest.mark.rule("GOP-8")
@pytest.mark.parametrize("n", range(2))
async def test_alone(rtmp, n):
    """Requirement: runs with nothing else running."""
    t0 = time.time()
    await asyncio.sleep(0.3)
    mark(f"alone-{n}", t0)
    rtmp.judge(info("GOP-8", "alone"))

@pytest.mark.exclusive("target")
@pytest.mark.rule("ERTMP-11")
async def test_drains(rtmp):
    """Requirement: alone only when the target is shared."""
    t0 = time.time()
    await asyncio.sleep(0.3)
    mark("drain", t0)
    rtmp.judge(passed("ERTMP-11", "drained"))
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


def run(pytester: pytest.Pytester, cases_dir: Path, tag: str, *args: str) -> tuple[pytest.RunResult, dict, list]:
    timeline = pytester.path / f"timeline-{tag}.jsonl"
    summary = pytester.path / f"summary-{tag}.json"
    pytester._monkeypatch.setenv("RTMPCONF_TEST_TIMELINE", str(timeline))  # type: ignore[attr-defined]
    res = pytester.runpytest_subprocess(str(cases_dir), "-p", "no:cacheprovider", "--assert=plain",
                                        "--rtmp-summary", str(summary), "--rtmp-junit",
                                        str(pytester.path / f"junit-{tag}.xml"), *args, timeout=180)
    events = [json.loads(line) for line in timeline.read_text().splitlines()] if timeline.exists() else []
    return res, json.loads(summary.read_text()), events


def verdicts(summary: dict) -> dict[str, str]:
    return {c["id"]: c["verdict"] for c in summary["cases"]}


def test_parallel_verdicts_equal_serial(pytester: pytest.Pytester, cases_dir: Path, target_url: str) -> None:
    serial, s_sum, _ = run(pytester, cases_dir, "serial", "--target", target_url, "-j", "1")
    par, p_sum, events = run(pytester, cases_dir, "par", "--target", target_url, "-j", "3")
    assert serial.ret == par.ret == 1  # a FAIL in both
    assert verdicts(s_sum) == verdicts(p_sum)
    assert len(p_sum["cases"]) == 13
    assert p_sum["jobs"] == 3 and s_sum["jobs"] == 1
    # One summary in collection order, with findings and messages carried from the workers.
    assert [c["id"] for c in p_sum["cases"]] == [c["id"] for c in s_sum["cases"]]
    fails = next(c for c in p_sum["cases"] if c["id"] == "CTRL-1/fails")
    assert fails["findings"][0]["expected"] == "ack" and "no ack" in fails["message"]
    assert p_sum["counts"] == s_sum["counts"]
    # The workers really ran concurrently: more than one process ran ordinary cases.
    assert len({e["pid"] for e in events if e["case"].startswith("ordinary")}) > 1
    # The terminal summary comes once, from the controller.
    out = par.stdout.str()
    assert out.count("RTMP conformance verdicts") == 1
    assert "workers        3" in out
    # JUnit: one file with every case, failure vs error as in a serial run.
    root = ET.parse(pytester.path / "junit-par.xml").getroot()
    assert len(root.findall(".//testcase")) == 13
    assert len(root.findall(".//failure")) == 1 and len(root.findall(".//error")) == 1


def test_exclusive_cases_run_alone(pytester: pytest.Pytester, cases_dir: Path, target_url: str) -> None:
    _, summary, events = run(pytester, cases_dir, "alone", "--target", target_url, "-j", "3")
    assert summary["counts"]
    alone = [e for e in events if e["case"].startswith("alone") or e["case"] == "drain"]
    others = [e for e in events if e not in alone]
    assert len(alone) == 3 and others
    for a in alone:
        # Nothing else was running while an exclusive case ran (a shared --target: "target" scope too).
        for o in events:
            if o is not a:
                assert o["end"] <= a["start"] or o["start"] >= a["end"], (a, o)


def test_target_scope_not_alone_with_own_servers(pytester: pytest.Pytester, cases_dir: Path) -> None:
    """With a server per worker (the embedded reference server), a drain case need not wait."""
    _, summary, _ = run(pytester, cases_dir, "own", "-j", "2")
    assert verdicts(summary)["ERTMP-11/drains"] == "PASS"
    assert len(summary["worker_targets"]) == 2
    assert len({w["target_url"] for w in summary["worker_targets"]}) == 2  # a server each


def test_preflight_runs_once_on_the_controller(pytester: pytest.Pytester, cases_dir: Path) -> None:
    """A --target nothing listens on ends a parallel run at once with exit status 3 and a summary,
    as a serial one does; no worker is started."""
    summary = pytester.path / "s.json"
    res = pytester.runpytest_subprocess(str(cases_dir), "-p", "no:cacheprovider", "--target",
                                        "rtmp://127.0.0.1:9/live", "-j", "2", "--rtmp-summary", str(summary),
                                        timeout=120)
    assert res.ret == 3
    assert "target not usable" in res.stdout.str() + res.stderr.str()
    assert "created: 2/2 workers" not in res.stdout.str()
    data = json.loads(summary.read_text())
    assert data["preflight"]["outcome"] == "unreachable" and not data["cases"]


def test_bad_jobs_value_is_a_usage_error(pytester: pytest.Pytester, cases_dir: Path) -> None:
    res = pytester.runpytest_subprocess(str(cases_dir), "-p", "no:cacheprovider", "-j", "0", timeout=60)
    assert res.ret == 4
    assert "at least 1 worker" in res.stderr.str()


def test_default_workers_follow_what_the_run_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three workers per core (at most eight) for cases that wait; one per core for interop cases and
    slow links; -j always wins."""
    import argparse

    from rtmpconf.harness import parallel, runner

    def args(**kw: object) -> argparse.Namespace:
        base = {"dry_run": False, "jobs": None, "impair": None, "time_scale": None, "interop": False,
                "interop_only": False}
        return argparse.Namespace(**(base | kw))

    monkeypatch.setattr(parallel, "cores", lambda: 2)
    assert runner.jobs_for(args()) == 6
    assert runner.jobs_for(args(interop=True)) == 2
    assert runner.jobs_for(args(interop_only=True)) == 2
    assert runner.jobs_for(args(impair="4g")) == 2
    assert runner.jobs_for(args(time_scale=3.0)) == 2
    assert runner.jobs_for(args(time_scale=1.0)) == 6
    assert runner.jobs_for(args(jobs=1)) == 1
    assert runner.jobs_for(args(impair="4g", jobs=5)) == 5
    assert runner.jobs_for(args(dry_run=True)) == 1
    monkeypatch.setattr(parallel, "cores", lambda: 16)
    assert runner.jobs_for(args()) == parallel.MAX_DEFAULT_JOBS == 8
    assert runner.jobs_for(args(interop=True)) == 16
