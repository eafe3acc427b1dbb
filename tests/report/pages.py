"""Reports built from real runs against a test double, and a real browser to read them.

Used by tests/report/test_report_browser.py and scripts/report_screenshots.py:

* :func:`double_run` runs a handful of real cases against the reference server with faults patched
  in (tests/doubles/broken_servers.py) plus one case whose scenario breaks, so one report holds
  every verdict: PASS, INFORMATIONAL, UNIMPLEMENTED (no HTTP-FLV output), NOT-RUN (a gated case),
  NON-STRICT (timestamps going back at the player, a convention), FAIL (no acknowledgements), an
  expected FAIL (listed in a manifest) and ERROR;
* :func:`reference_run` runs the same selection against the unpatched server (the matrix's other
  column);
* :class:`ReportBrowser` serves a directory on 127.0.0.1 and drives Debian's Chromium through
  Selenium (no browser download; headless, no sandbox as root, a fresh profile, no network).
"""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CASES_DIR = ROOT / "rtmpconf" / "cases"
#: Not named test_*: collected only when a run names it (make test must not run it).
EXTRA_CASES = Path(__file__).resolve().parent / "extra_cases" / "harness_error_case.py"
FAULTS = "non-monotonic-video+no-acknowledgement"

#: One case per verdict (the double's faults decide which): the selection of both runs.
SELECTION = [
    "HS-1/last-c2-byte-glued-to-connect",                     # PASS
    "CMD-6/unknown-app",                                       # INFORMATIONAL
    "HFLV-1/flv-header",                                       # UNIMPLEMENTED (--rtmp-http-flv-url none)
    "GOP-1/publish-to-play-latency*",                          # NOT-RUN (gated)
    "TS-12/player-timestamps-monotonic[[]video-step-back-20ms[]]",  # NON-STRICT on the double
    "CTRL-1/ack-at-window",                                    # FAIL on the double
    "CTRL-2/ack-sequence-counts-bytes",                        # FAIL, expected by the manifest
    "CMD-1/scenario-breaks",                                   # ERROR (extra_cases)
]

MANIFEST = """server = "broken double"
[[expected]]
case = "CTRL-2/ack-sequence-counts-bytes"
verdict = "FAIL"
reason = "the double never acknowledges (fault no-acknowledgement)"
link = "https://example.org/known-issue/1"
"""


@dataclass
class Run:
    out: Path
    summary: dict[str, Any]
    html: Path
    returncode: int
    output: str


def _run(out: Path, rtmp_port: int, http_port: int, *, manifest: bool, name: str) -> Run:
    out.mkdir(parents=True, exist_ok=True)
    man = out / "manifest.toml"
    man.write_text(MANIFEST)
    # A copy outside tests/: the project's tests/conftest.py is no part of a user's run.
    extra = out / "extra_cases" / EXTRA_CASES.name
    extra.parent.mkdir(exist_ok=True)
    extra.write_text(EXTRA_CASES.read_text())
    cmd = [sys.executable, "-m", "pytest", str(CASES_DIR), str(extra), "-q", "-p", "no:cacheprovider",
           "-p", "no:locust", "--rootdir", str(out), "--rtmp-target", f"rtmp://127.0.0.1:{rtmp_port}/live",
           "--rtmp-http-target", f"http://127.0.0.1:{http_port}", "--rtmp-http-flv-url", "none",
           "--alluredir", str(out / "allure-results"), "--clean-alluredir",
           "--rtmp-summary", str(out / "summary.json"), "--rtmp-junit", str(out / "junit.xml")]
    if manifest:
        cmd += ["--rtmp-manifest", str(man)]
    for glob in SELECTION:
        cmd += ["--rtmp-case", glob]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=out, check=False)
    summary_path = out / "summary.json"
    assert summary_path.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    rep = subprocess.run([sys.executable, "-m", "rtmpconf.harness.cli", "report", "--results",
                          str(out / "allure-results"), "--out", str(out / "html"), "--summary", str(summary_path)],
                         capture_output=True, text=True, timeout=600, check=False)
    assert rep.returncode == 0, rep.stdout[-2000:] + rep.stderr[-2000:]
    return Run(out, json.loads(summary_path.read_text()), out / "html", proc.returncode,
               proc.stdout[-4000:] + rep.stdout)


def double_run(out: Path) -> Run:
    """The selection against the reference server with FAULTS patched in."""
    from tests.doubles.broken_servers import broken_server

    with broken_server(FAULTS, http_port=0) as srv:
        return _run(out, srv.port, srv.http_port, manifest=True, name="double")


def reference_run(out: Path) -> Run:
    """The same selection against the unpatched reference server."""
    from rtmpconf.reference_server.config import ServerConfig
    from rtmpconf.reference_server.server import ServerThread

    srv = ServerThread(ServerConfig(port=0, http_port=0)).start()
    try:
        return _run(out, srv.port, srv.http_port, manifest=False, name="reference")
    finally:
        srv.stop()


def build_matrix(reports: Path, runs: dict[str, Run]) -> Path:
    """matrix.html over the runs (their folders must be under ``reports``)."""
    from rtmpconf.harness.report.matrix import write

    results = []
    for name, run in runs.items():
        rel = run.out.relative_to(reports)
        results.append({**run.summary, "name": name, "returncode": run.returncode, "seconds": 0.0,
                        "report": f"{rel}/html/index.html", "compliance_md": f"{rel}/compliance.md"})
    write(results, reports)
    return reports / "matrix.html"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class ReportBrowser:
    """A directory served on 127.0.0.1 and a headless Chromium pointed at it."""

    def __init__(self, root: Path, width: int = 1400, height: int = 1600) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        from rtmpconf.harness.peers.browser import require_browser

        chromium, driver_path = require_browser()
        handler = functools.partial(_Quiet, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.httpd.serve_forever, name="report-pages", daemon=True).start()
        self.profile = tempfile.TemporaryDirectory(prefix="rtmpconf-chromium-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--no-first-run",
                    "--disable-sync", "--disable-extensions", f"--user-data-dir={self.profile.name}",
                    f"--window-size={width},{height}"):
            opts.add_argument(arg)
        try:
            self.driver = webdriver.Chrome(options=opts, service=Service(driver_path))
        except Exception:
            self.close()
            raise
        self.driver.set_page_load_timeout(30)
        self.driver.set_script_timeout(30)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def open(self, path: str, ready: str = "[data-testid]", timeout: float = 20.0) -> None:
        """Open ``path`` and wait until an element matching ``ready`` exists."""
        self.driver.get(self.base + path)
        self.wait_for(ready, timeout)

    def wait_for(self, css: str, timeout: float = 20.0) -> Any:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def expand_tree(self, timeout: float = 20.0) -> int:
        """Open every collapsed section of the report's tree; the number of leaves shown."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            opened = self.js("""
                let n = 0;
                for (const s of document.querySelectorAll('[data-testid="tree-section"]')) {
                  const arrow = s.querySelector('[data-testid="tree-arrow"]');
                  const open = arrow && /opened/.test(arrow.innerHTML + ' ' + arrow.className);
                  if (!open && !s.dataset.rtmpconfOpened) { s.dataset.rtmpconfOpened = '1'; s.click(); n++; }
                }
                return n;""")
            if not opened:
                break
            time.sleep(0.3)
        return int(self.js('return document.querySelectorAll(\'[data-testid="tree-leaf"]\').length'))

    def leaves(self) -> list[dict[str, str]]:
        """Every tree row: title, status icon, the verdict badge and its colours."""
        return list(self.js("""
            return [...document.querySelectorAll('[data-testid="tree-leaf"]')].map(b => {
              const t = b.querySelector('[data-testid="tree-leaf-title"]');
              const after = getComputedStyle(t, '::after');
              const icon = b.querySelector('[data-testid^="tree-leaf-status-"]');
              return {id: b.id, title: t.textContent, badge: after.content.replace(/^"|"$/g, ''),
                      background: after.backgroundColor, color: after.color,
                      status: icon ? icon.dataset.testid.replace('tree-leaf-status-', '') : ''};
            });"""))

    def variables(self) -> dict[str, str]:
        """The overview's "Variables" block (the compliance summary) as shown."""
        return dict(self.js("""
            return [...document.querySelectorAll('[data-testid="report-variables"] [data-testid="metadata-item"]')]
              .map(i => [i.querySelector('[data-testid="metadata-item-key"]').textContent,
                         i.querySelector('[data-testid="metadata-item-value"]').textContent]);"""))

    def screenshot(self, path: Path, full_page: bool = True) -> None:
        if full_page:
            # The report scrolls inside its own container: grow the window to the tallest one.
            height = int(self.js("""return Math.max(800, ...[...document.querySelectorAll('*')]
                .map(e => e.scrollHeight - e.clientHeight + window.innerHeight))"""))
            width = int(self.js("return window.outerWidth"))
            self.driver.set_window_size(width, min(height + 140, 8000))
            time.sleep(0.5)
            self.js("for (const e of document.querySelectorAll('*')) if (e.scrollTop) e.scrollTop = 0; "
                    "window.scrollTo(0, 0)")
            time.sleep(0.3)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))

    def external_requests(self) -> list[str]:
        """Resources the page loaded from anywhere but our server."""
        entries = self.js("return performance.getEntriesByType('resource').map(e => e.name)")
        return [e for e in entries if not e.startswith(self.base)]

    def close(self) -> None:
        driver = getattr(self, "driver", None)
        if driver is not None:
            driver.quit()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.profile.cleanup()


@contextmanager
def report_browser(root: Path, **kw: Any) -> Iterator[ReportBrowser]:
    b = ReportBrowser(root, **kw)
    try:
        yield b
    finally:
        b.close()


def rgb(hex_colour: str) -> str:
    """'#c62828' -> 'rgb(198, 40, 40)' (how the browser reports a computed colour)."""
    h = hex_colour.lstrip("#")
    return f"rgb({int(h[0:2], 16)}, {int(h[2:4], 16)}, {int(h[4:6], 16)})"
