"""Web players in headless Chromium: hls.js plays HLS, mpegts.js plays HTTP-FLV / HTTP-TS.

The system browser (Debian ``chromium`` + ``chromium-driver``) is driven through Selenium; the
players come from npm into .tools/ (no browser or player is downloaded at run time) and are
served, with a one-page harness, by a local static HTTP server on a free port, so the stream is
fetched cross-origin exactly as on a real site (the target must allow it: CORS).

The page reports when the ``<video>`` element's time first advanced (time to first frame, from
the moment the player was created) and samples ``currentTime``; :func:`play_in_browser` waits
until playback advanced ``play_s`` seconds or the deadline passed.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtmpconf.harness.peers import PeerMissing, require
from rtmpconf.paths import tools_dir

#: npm packages of the players (exact versions: a player upgrade is a deliberate change).
PLAYERS_NPM = ("hls.js@1.6.15", "mpegts.js@1.8.0")
PLAYER_FILES = {"hls": "node_modules/hls.js/dist/hls.min.js", "mpegts": "node_modules/mpegts.js/dist/mpegts.js"}
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>rtmpconf web player</title><script src="/{script}"></script></head>
<body><video id="v" muted autoplay playsinline width="320"></video>
<script>
const R = window.__result = {{started: performance.now(), first_frame_ms: null, samples: [], errors: [], supported: null}};
const v = document.getElementById('v');
const url = {url};
function sample() {{
  R.samples.push([performance.now() - R.started, v.currentTime, v.readyState]);
  if (R.first_frame_ms === null && v.currentTime > 0) R.first_frame_ms = performance.now() - R.started;
}}
v.addEventListener('timeupdate', sample);
setInterval(sample, 100);
v.addEventListener('error', () => R.errors.push('video element: ' + (v.error && v.error.message)));
try {{
  if ({kind!r} === 'hls') {{
    R.supported = Hls.isSupported();
    const h = new Hls({{lowLatencyMode: false, liveSyncDurationCount: 1}});
    h.on(Hls.Events.ERROR, (e, d) => {{ if (d.fatal) R.errors.push('hls.js: ' + d.type + ' ' + d.details); }});
    h.loadSource(url); h.attachMedia(v);
  }} else {{
    R.supported = mpegts.isSupported();
    const p = mpegts.createPlayer({{type: {kind!r}, isLive: true, url: url}}, {{enableStashBuffer: false}});
    p.on(mpegts.Events.ERROR, (t, d, i) => R.errors.push('mpegts.js: ' + t + ' ' + d + ' ' + JSON.stringify(i)));
    p.attachMediaElement(v); p.load(); v.play().catch(e => R.errors.push('play(): ' + e));
  }}
}} catch (e) {{ R.errors.push('page: ' + e); }}
</script></body></html>
"""


def player_scripts() -> dict[str, Path]:
    """hls.js and mpegts.js from npm in .tools/ (fetched when missing).

    Only their prebuilt ``dist/`` files are used, so the packages are fetched with ``npm pack`` and
    unpacked, without resolving their dependencies (mpegts.js names a git dependency that a
    registry-only machine cannot fetch, and the browser build does not need it).
    """
    import tarfile
    import tempfile

    tools = tools_dir()
    paths = {k: tools / v for k, v in PLAYER_FILES.items()}
    if all(p.exists() for p in paths.values()):
        return paths
    require("node")
    npm = require("npm")
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([npm, "pack", "--silent", *PLAYERS_NPM], cwd=tmp, timeout=600, capture_output=True,
                              text=True)
        if proc.returncode != 0:
            raise PeerMissing(f"npm pack {' '.join(PLAYERS_NPM)} failed: {proc.stderr.strip()[-500:]}")
        for spec in PLAYERS_NPM:
            name = spec.rsplit("@", 1)[0]
            tgz = next(Path(tmp).glob(f"{name}-*.tgz"), None)
            if tgz is None:
                raise PeerMissing(f"npm pack {spec} produced no tarball")
            dest = tools / "node_modules" / name
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)
            with tarfile.open(tgz) as tar:
                for member in tar.getmembers():
                    # npm tarballs keep everything under package/; nothing may escape dest.
                    rel = Path(member.name).relative_to("package") if member.name.startswith("package/") else None
                    if rel is None or ".." in rel.parts or not (member.isfile() or member.isdir()):
                        continue
                    member.name = str(rel)
                    tar.extract(member, dest, filter="data")
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise PeerMissing(f"npm pack {' '.join(PLAYERS_NPM)} did not produce {missing}")
    return paths


def require_browser() -> tuple[str, str]:
    """Paths of Chromium and its driver (Debian packages chromium, chromium-driver)."""
    for path, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).exists() and shutil.which(Path(path).name) is None:
            raise PeerMissing(f"{path} not found (apt-get install {pkg})")
    try:
        import selenium  # noqa: F401
    except ImportError as exc:
        raise PeerMissing("selenium is not installed (pip install selenium)") from exc
    return CHROMIUM, CHROMEDRIVER


class _PageServer:
    """Serves the player scripts and one page per (kind, url) on 127.0.0.1:<free port>."""

    def __init__(self, scripts: dict[str, Path]) -> None:
        self.scripts = scripts
        self.pages: dict[str, bytes] = {}
        handler = functools.partial(_Handler, self)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="web-player-pages", daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def page(self, kind: str, url: str) -> str:
        script = "hls.js" if kind == "hls" else "mpegts.js"
        name = f"/play-{len(self.pages)}.html"
        self.pages[name] = _PAGE.format(script=script, url=json.dumps(url), kind=kind).encode()
        return self.base + name

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    def __init__(self, owner: _PageServer, *args: Any) -> None:
        self.owner = owner
        super().__init__(*args)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        body: bytes | None = None
        ctype = "text/html"
        if path in self.owner.pages:
            body = self.owner.pages[path]
        elif path == "/hls.js":
            body, ctype = self.owner.scripts["hls"].read_bytes(), "text/javascript"
        elif path == "/mpegts.js":
            body, ctype = self.owner.scripts["mpegts"].read_bytes(), "text/javascript"
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass
class BrowserPlay:
    """What the page saw."""

    kind: str  #: "hls" | "flv" | "mpegts"
    url: str
    supported: bool | None = None  #: the player's isSupported() (MSE + codecs in this browser)
    first_frame_s: float | None = None  #: from player creation to currentTime > 0
    advanced_s: float = 0.0  #: how far currentTime moved while we watched
    samples: list[list[float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    @property
    def played(self) -> bool:
        return self.first_frame_s is not None and self.advanced_s > 0


def play_in_browser(kind: str, url: str, *, play_s: float = 2.0, deadline_s: float = 25.0) -> BrowserPlay:
    """Open ``url`` with hls.js (``kind="hls"``) or mpegts.js (``"flv"`` / ``"mpegts"``) in headless
    Chromium; return once the video advanced ``play_s`` seconds or ``deadline_s`` passed."""
    chromium, driver_path = require_browser()
    scripts = player_scripts()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio",
                "--autoplay-policy=no-user-gesture-required", "--no-first-run", "--disable-extensions"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    pages = _PageServer(scripts)
    result = BrowserPlay(kind, url)
    driver = None
    try:
        driver = webdriver.Chrome(options=opts, service=Service(driver_path))
        driver.set_page_load_timeout(deadline_s)
        driver.get(pages.page(kind, url))
        end = time.monotonic() + deadline_s
        state: dict[str, Any] = {}
        while time.monotonic() < end:
            state = driver.execute_script("return window.__result") or {}
            samples = state.get("samples") or []
            times = [s[1] for s in samples]
            if state.get("first_frame_ms") is not None and times and max(times) - min(t for t in times if t > 0) >= play_s:
                break
            if state.get("errors"):
                break
            time.sleep(0.2)
        result.supported = state.get("supported")
        ff = state.get("first_frame_ms")
        result.first_frame_s = ff / 1000.0 if ff is not None else None
        result.samples = state.get("samples") or []
        played = [s[1] for s in result.samples if s[1] > 0]
        result.advanced_s = (max(played) - min(played)) if played else 0.0
        result.errors = list(state.get("errors") or [])
        try:
            result.console = [f"{e.get('level')}: {e.get('message')}" for e in driver.get_log("browser")][:50]
        except Exception:  # noqa: BLE001 - logs are a diagnostic extra
            result.console = []
    finally:
        if driver is not None:
            driver.quit()
        pages.close()
    return result
