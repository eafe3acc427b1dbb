#!/usr/bin/env python3
"""Regenerate docs/screenshots/: the report overview, a FAIL case and the matrix page.

Builds the same reports as the browser test (tests/report/pages.py: a run against a broken double
that has every verdict, and one against the reference server), opens them in Debian's Chromium
and saves PNGs. Run from the checkout: ``.venv/bin/python scripts/report_screenshots.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    from tests.report.pages import ReportBrowser, build_matrix, double_run, reference_run

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "screenshots"), help="where the PNGs go")
    args = p.parse_args()
    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="rtmpconf-shots-") as tmp:
        reports = Path(tmp)
        runs = {"broken double": double_run(reports / "double"), "reference": reference_run(reports / "reference")}
        build_matrix(reports, runs)
        b = ReportBrowser(reports, width=1400, height=1000)
        try:
            b.open("double/html/index.html", '[data-testid="tree-section"]')
            b.expand_tree()
            b.screenshot(out / "report-overview.png")
            b.driver.set_window_size(1400, 1000)
            b.open("double/html/index.html", '[data-testid="tree-section"]')
            b.expand_tree()
            leaf = next(lf for lf in b.leaves() if lf["title"].startswith("CTRL-1/ack-at-window · "))
            b.js("document.getElementById(arguments[0]).click()", leaf["id"])
            b.wait_for('[data-testid="test-result-steps-root"] [data-testid="test-result-attachment-header"]')
            # Open the findings attachment so the picture shows expected vs actual.
            b.js("""const h = [...document.querySelectorAll(
                      '[data-testid="test-result-steps-root"] [data-testid="test-result-attachment-header"]')]
                      .find(x => x.textContent.includes('findings'));
                    if (h) h.querySelector('button').click();""")
            time.sleep(1.0)
            b.screenshot(out / "report-fail-case.png")
            b.driver.set_window_size(1400, 1000)
            b.open("matrix.html", "td.v")
            b.screenshot(out / "matrix.png")
        finally:
            b.close()
    for name in ("report-overview.png", "report-fail-case.png", "matrix.png"):
        print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
