"""Real players on the reference server's HTTP outputs: hls.js and mpegts.js in headless Chromium,
VLC on HLS and HTTP-FLV. Each asserts that video time advances (the page samples currentTime) and
reports the time to first frame."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from rtmpconf.harness.http.m3u8 import parse_m3u8
from rtmpconf.harness.peers import PeerMissing, in_ci, require_or_skip
from rtmpconf.harness.peers.ffmpeg import FfmpegPublisher
from rtmpconf.reference_server.config import ServerConfig
from rtmpconf.reference_server.server import ServerThread
from tests.integration.conftest import http_get_sync, wait_published

log = logging.getLogger("rtmp.tests.web")


@pytest.fixture(scope="module")
def live() -> Iterator[str]:
    """One reference server with one live ffmpeg publish (2 s GOP) for the whole module: its HTTP base."""
    require_or_skip("ffmpeg")
    srv = ServerThread(ServerConfig(port=0, http_port=0)).start()
    try:
        with FfmpegPublisher(f"rtmp://127.0.0.1:{srv.port}/live/web", seconds=300):
            wait_published(srv, "web")
            time.sleep(4.5)  # two HLS segments
            yield f"http://127.0.0.1:{srv.http_port}"
    finally:
        srv.stop()


def playlist_segments(url: str, *, want: int, timeout: float) -> int:
    """Poll an HLS playlist until it lists ``want`` segments (or ``timeout``); the count seen last."""
    deadline = time.monotonic() + timeout
    while True:
        resp = http_get_sync(url, timeout=5.0)
        count = len(parse_m3u8(resp.body).segments) if resp.status == 200 else 0
        if count >= want or time.monotonic() >= deadline:
            return count
        time.sleep(0.25)


def browser_play(kind: str, url: str):  # type: ignore[no-untyped-def]
    from rtmpconf.harness.peers.browser import play_in_browser

    try:
        return play_in_browser(kind, url, play_s=2.0, deadline_s=30.0)
    except PeerMissing as exc:
        if in_ci():
            pytest.fail(f"CI=true and a real peer is missing: {exc}")
        pytest.skip(str(exc))


@pytest.mark.parametrize(("kind", "path", "player"), [
    ("hls", "hls/web.m3u8", "hls.js"),
    ("flv", "live/web.flv", "mpegts.js"),
    ("mpegts", "live/web.ts", "mpegts.js"),
])
def test_web_player_plays_in_chromium(live: str, kind: str, path: str, player: str) -> None:
    r = browser_play(kind, f"{live}/{path}")
    assert r.supported, f"{player} reports no MSE/codec support in this Chromium: {r.console[:5]}"
    assert not r.errors, r.errors
    assert r.first_frame_s is not None, f"{player} never showed a frame: {r.console[-5:]}"
    assert r.advanced_s >= 1.5, f"{player}: video time advanced only {r.advanced_s:.2f} s ({r.samples[-5:]})"
    log.warning("%s on %s: first frame after %.3f s", player, path, r.first_frame_s)


@pytest.mark.parametrize("path", ["hls/web.m3u8", "live/web.flv"])
def test_vlc_plays_http_outputs(live: str, path: str) -> None:
    require_or_skip("cvlc")
    from rtmpconf.harness.peers.players import vlc_play

    url = f"{live}/{path}"
    if path.endswith(".m3u8"):
        listed = playlist_segments(url, want=2, timeout=20.0)
        assert listed >= 2, f"the playlist at {url} listed {listed} segments after 20 s"
    r = vlc_play(url, seconds=4.0, timeout=40.0)
    if not r.flv.ok and r.elapsed < 1.0:
        # VLC quits at once, exit 0, when it cannot open the input; the playlist was checked just
        # before, so one more start tells a start-up hiccup from an output it cannot play.
        log.warning("VLC quit after %.2f s without output on %s; starting it once more", r.elapsed, url)
        r = vlc_play(url, seconds=4.0, timeout=40.0)
    assert r.flv.ok, (r.returncode, r.elapsed, r.stderr[-800:], http_get_sync(url, timeout=5.0).body[:400])
    assert r.flv.video >= 25 and r.flv.audio > 0, r.flv
    assert r.flv.first_video_keyframe is True, r.flv
