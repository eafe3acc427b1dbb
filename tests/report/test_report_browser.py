"""The report as a reader sees it, in Debian's Chromium (Selenium, headless): a run against a double
that FAILs, NON-STRICTs, NOT-RUNs (and has every other verdict), built with `rtmpconf report`,
served over HTTP on 127.0.0.1.

Asserted on the page: the overview shows the count of each verdict and they match summary.json; no
NON-STRICT or FAIL row is green and every verdict has its own badge; a FAIL case is shown failed
with its findings (expected vs actual) and its pcapng in the test body; the expected FAIL is still
red and marked expected; sections in catalogue order; the report contacts no other host; the
matrix page uses the same verdict names and colours, gives each server a score and links to
its report.
"""

from __future__ import annotations

import shutil
import urllib.request
from collections.abc import Iterator

import pytest

from rtmpconf.harness.peers import PeerMissing, in_ci
from rtmpconf.harness.report.verdicts import ORDER, STYLES
from rtmpconf.harness.runner import find_allure
from tests.report.pages import ReportBrowser, Run, build_matrix, double_run, reference_run, rgb


def _need_tools() -> None:
    from rtmpconf.harness.peers.browser import require_browser

    try:
        require_browser()
        # `rtmpconf report` installs the Allure CLI with npm the first time (the only network use).
        if find_allure() is None and shutil.which("npm") is None:
            raise PeerMissing("neither the Allure CLI nor npm to install it is there (apt-get install npm)")
    except PeerMissing as exc:
        if in_ci():
            pytest.fail(f"CI=true and a tool is missing: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    _need_tools()
    reports = tmp_path_factory.mktemp("reports")
    return {"broken double": double_run(reports / "double"), "reference": reference_run(reports / "reference")}


@pytest.fixture(scope="module")
def browser(runs: dict[str, Run]) -> Iterator[ReportBrowser]:
    root = runs["broken double"].out.parent
    b = ReportBrowser(root)
    try:
        yield b
    finally:
        b.close()


def test_the_double_run_has_every_verdict(runs: dict[str, Run]) -> None:
    counts = runs["broken double"].summary["counts"]
    assert set(counts) == set(ORDER), (counts, runs["broken double"].output)
    assert runs["broken double"].returncode == 1  # the FAIL and the ERROR; the expected FAIL is forgiven
    assert runs["reference"].summary["counts"].get("FAIL", 0) == 0, runs["reference"].output


def test_overview_counts_match_summary(runs: dict[str, Run], browser: ReportBrowser) -> None:
    summary = runs["broken double"].summary
    browser.open("double/html/index.html", '[data-testid="report-variables"] [data-testid="metadata-item"]')
    shown = browser.variables()
    for verdict in ORDER:
        assert shown[verdict].split(" ")[0] == str(summary["counts"].get(verdict, 0)), (verdict, shown)
    assert shown["Score"] == summary["compliance"]["score"]["line"]
    assert "(1 expected by the manifest)" in shown["FAIL"] and "CTRL-1/ack-at-window" in shown["FAIL"]
    # Allure's own status counts agree with the documented mapping.
    text = browser.js("return document.body.innerText")
    assert "Unknown" in text and "Broken" in text
    assert not browser.external_requests()


def test_tree_rows_carry_their_verdict(runs: dict[str, Run], browser: ReportBrowser) -> None:
    summary = runs["broken double"].summary
    browser.open("double/html/index.html", '[data-testid="tree-section"]')
    assert browser.expand_tree() == len(summary["cases"])
    leaves = browser.leaves()
    by_case = {c["id"]: c for c in summary["cases"]}
    green = {rgb(STYLES["PASS"].colour)}
    seen = set()
    for leaf in leaves:
        case_id = leaf["title"].split(" · ")[0]
        case = by_case[case_id]
        verdict = case["verdict"]
        expected = bool(case["expected_deviation"])
        assert leaf["badge"] == (f"{verdict} (expected)" if expected else verdict), leaf
        assert leaf["status"] == STYLES[verdict].status, leaf
        if expected:
            assert leaf["background"] == "rgb(255, 255, 255)" and leaf["color"] == rgb(STYLES[verdict].colour)
        else:
            assert leaf["background"] == rgb(STYLES[verdict].colour), leaf
        if verdict in ("FAIL", "NON-STRICT"):
            assert leaf["status"] != "passed" and leaf["background"] not in green, leaf
        seen.add(leaf["badge"])
    assert seen == {*ORDER, "FAIL (expected)"}
    # Sections in catalogue order.
    sections = browser.js("""return [...document.querySelectorAll('[data-testid="tree-section"]')]
        .map(s => s.textContent.trim()).filter(t => /^\\d\\d /.test(t))""")
    numbers = [int(s[:2]) for s in sections]
    assert numbers == sorted(numbers) and len(numbers) >= 5, sections


def _open_case(browser: ReportBrowser, case_id: str) -> None:
    browser.open("double/html/index.html", '[data-testid="tree-section"]')
    browser.expand_tree()
    leaf = next(lf for lf in browser.leaves() if lf["title"].startswith(case_id + " · "))
    browser.js("document.getElementById(arguments[0]).click()", leaf["id"])
    browser.wait_for('[data-testid="test-result-steps-root"] [data-testid="test-result-attachment-header"]')


def test_fail_case_page_shows_findings_and_pcapng(runs: dict[str, Run], browser: ReportBrowser) -> None:
    _open_case(browser, "CTRL-1/ack-at-window")
    assert browser.js('return !!document.querySelector(\'[data-testid="test-result-status-failed"]\')')
    body = browser.js("""return [...document.querySelectorAll(
        '[data-testid="test-result-steps-root"] [data-testid="test-result-attachment-header"]')]
        .map(h => h.textContent)""")
    assert any(t.startswith("1findings") or "findings" in t for t in body), body
    # 6 MiB were published: whole packets for the first 4 MiB, the rest snapped (pcap.py).
    assert any(t.startswith("3traffic 1") and ".pcapng" in t for t in body), body
    error = browser.js('return document.querySelector(\'[data-testid="test-result-error-message"]\').textContent')
    assert error.startswith("FAIL [CTRL-1]") and "expected:" in error and "actual:" in error, error
    # The attachments themselves are in the report: the findings text and a real pcapng.
    html = runs["broken double"].html
    files = sorted((html / "data" / "attachments").iterdir())
    pcaps = [f for f in files if f.suffix == ".pcapng"]
    assert pcaps and pcaps[0].read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    with urllib.request.urlopen(browser.base + f"double/html/data/attachments/{pcaps[0].name}", timeout=10) as r:
        assert r.read(4) == b"\x0a\x0d\x0d\x0a"
    findings = [f.read_text() for f in files if f.suffix == ".txt" and f.read_text().startswith("FAIL  CTRL-1/ack")]
    assert findings and "expected: >= 5 acks" in findings[0] and "actual:   no Acknowledgement" in findings[0]


def test_expected_fail_stays_a_fail(browser: ReportBrowser) -> None:
    _open_case(browser, "CTRL-2/ack-sequence-counts-bytes")
    assert browser.js('return !!document.querySelector(\'[data-testid="test-result-status-failed"]\')')
    text = browser.js("return document.body.innerText")
    assert "expected by the target's manifest" in text and "the double never acknowledges" in text
    assert "https://example.org/known-issue/1" in browser.js(
        "return [...document.querySelectorAll('a')].map(a => a.href).join(' ')")


def test_matrix_page(runs: dict[str, Run], browser: ReportBrowser) -> None:
    root = runs["broken double"].out.parent
    build_matrix(root, runs)
    browser.open("matrix.html", "td.v")
    cells = browser.js("""return [...document.querySelectorAll('td.v')].map(td => ({
        verdict: td.dataset.verdict, expected: td.dataset.expected, text: td.textContent,
        background: getComputedStyle(td).backgroundColor, color: getComputedStyle(td).color}))""")
    seen = set()
    for cell in cells:
        if cell["verdict"] == "absent":
            continue
        st = STYLES[cell["verdict"]]
        if cell["expected"]:
            assert cell["text"].startswith(f"{cell['verdict']} (expected)") and cell["color"] == rgb(st.colour)
        else:
            assert cell["text"] == cell["verdict"] and cell["background"] == rgb(st.colour), cell
        seen.add(cell["verdict"])
    assert seen == set(ORDER)
    heads = browser.js("return [...document.querySelectorAll('th.target')].map(t => t.innerText)")
    for name, run in runs.items():
        head = next(h for h in heads if h.startswith(name))
        assert run.summary["compliance"]["score"]["line"] in head
    # Each server's column links to its Allure report, which opens.
    link = browser.js("return document.querySelector('th.target a').getAttribute('href')")
    browser.open(link, '[data-testid="report-variables"]')
    assert "RTMP conformance" in browser.driver.title


def test_report_says_what_changed_since_a_baseline(runs: dict[str, Run], browser: ReportBrowser) -> None:
    """`rtmpconf report --baseline`: the reference run as the earlier run of the same selection."""
    import subprocess
    import sys

    double = runs["broken double"].out
    proc = subprocess.run([sys.executable, "-m", "rtmpconf.harness.cli", "report", "--results",
                           str(double / "allure-results"), "--out", str(double / "html-baseline"), "--summary",
                           str(double / "summary.json"), "--baseline", str(runs["reference"].out / "summary.json")],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    md = (double / "compliance.md").read_text()
    assert "### Since baseline" in md and "- `CTRL-1/ack-at-window` PASS → FAIL" in md
    browser.open("double/html-baseline/index.html", '[data-testid="report-variables"] [data-testid="metadata-item"]')
    browser.js("""for (const b of document.querySelectorAll('[data-testid="report-variables"] button'))
                    if (b.textContent.includes('Show more')) b.click();""")
    shown = browser.variables()
    assert shown["Since baseline"].startswith("2 new FAIL, 0 fixed, 1 flipped"), shown
