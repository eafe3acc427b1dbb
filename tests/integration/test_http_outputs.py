"""The reference server's HTTP side against real programs and raw HTTP: ffprobe reads HTTP-FLV,
HTTP-TS and HLS of a live ffmpeg publish; stats, metrics; bad requests get one clear answer."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest

from rtmpconf.harness.http.client import http_get
from rtmpconf.harness.http.flv import parse_flv
from rtmpconf.harness.http.m3u8 import parse_m3u8
from rtmpconf.harness.peers import require_or_skip
from rtmpconf.harness.peers.ffmpeg import FfmpegPublisher, ffprobe
from rtmpconf.reference_server.server import ServerThread
from rtmpconf.rtmp import media
from tests.integration.conftest import http_get_sync as get
from tests.integration.conftest import wait_published


def raw(port: int, request: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            out += chunk
    return out


def test_ffprobe_reads_all_three_outputs_of_a_live_ffmpeg_publish(server: ServerThread) -> None:
    require_or_skip("ffmpeg", "ffprobe")
    http = f"http://127.0.0.1:{server.http_port}"
    with FfmpegPublisher(f"rtmp://127.0.0.1:{server.port}/live/probe", seconds=30):
        wait_published(server, "probe")
        time.sleep(4.5)  # at least two 2 s HLS segments
        results = {u: ffprobe(f"{http}/{u}", timeout=15) for u in ("live/probe.flv", "live/probe.ts", "hls/probe.m3u8",
                                                                    "live/probe/index.m3u8")}
    for url, p in results.items():
        assert p.returncode == 0, (url, p.stderr)
        assert p.codecs == {"video": "h264", "audio": "aac"}, (url, p.codecs)


def test_late_http_flv_viewer_starts_with_a_keyframe_of_real_ffmpeg(server: ServerThread) -> None:
    require_or_skip("ffmpeg")
    url = f"http://127.0.0.1:{server.http_port}/live/late.flv"
    with FfmpegPublisher(f"rtmp://127.0.0.1:{server.port}/live/late", seconds=20):
        wait_published(server, "late")
        time.sleep(1.3)  # mid-GOP (GOP 2 s)
        resp = get(url, read_for=1.0)
    p = parse_flv(resp.body)  # type: ignore[attr-defined]
    video = [t for t in p.tags if t.type_id == 9 and not media.is_video_sequence_header(t.data)]
    assert video and media.is_video_keyframe(video[0].data)
    assert resp.header("content-type") == "video/x-flv"  # type: ignore[attr-defined]


def test_stats_and_metrics_describe_a_live_stream(server: ServerThread) -> None:
    require_or_skip("ffmpeg")
    base = f"http://127.0.0.1:{server.http_port}"
    with FfmpegPublisher(f"rtmp://127.0.0.1:{server.port}/live/stats", seconds=20):
        wait_published(server, "stats")
        time.sleep(1.0)

        async def scenario() -> tuple[object, object, object]:
            viewer = asyncio.create_task(http_get(f"{base}/live/stats.flv", read_for=2.0))
            await asyncio.sleep(1.0)
            streams = await http_get(f"{base}/api/streams")
            sessions = await http_get(f"{base}/api/sessions")
            metrics = await http_get(f"{base}/metrics")
            await viewer
            return streams, sessions, metrics

        streams, sessions, metrics = asyncio.run(asyncio.wait_for(scenario(), 30))
    doc = json.loads(streams.body)  # type: ignore[attr-defined]
    st = next(s for s in doc["streams"] if s["name"] == "stats")
    assert st["publishing"] and st["video"]["codec"] == "avc" and st["video"]["width"] == 426
    assert st["audio"]["codec"] == "aac" and st["audio"]["sample_rate"] == 48000
    assert st["players"]["http-flv"] == 1 and st["bitrate_in_bps"] > 10_000 and st["uptime_s"] > 0
    sess = json.loads(sessions.body)["sessions"]  # type: ignore[attr-defined]
    assert {s["protocol"] for s in sess} >= {"rtmp", "http-flv"}
    text = metrics.body.decode()  # type: ignore[attr-defined]
    assert 'rtmpconf_stream_players{app="live",name="stats",protocol="http-flv"} 1.0' in text
    assert "rtmpconf_stream_bitrate_in_bps" in text and "rtmpconf_hls_segments" in text


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"POST /live/x.flv HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", b"405"),
    (b"GET /nothing/here HTTP/1.1\r\nHost: x\r\n\r\n", b"404"),
    (b"GET /hls/unknown.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n", b"404"),
    (b"GARBAGE\r\n\r\n", b"400"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 20000 + b"\r\n\r\n", b"431"),
])
def test_bad_requests_get_one_clear_answer(server: ServerThread, request_bytes: bytes, status: bytes) -> None:
    reply = raw(server.http_port or 0, request_bytes)
    assert reply.split(b" ", 2)[1] == status, reply[:200]


def test_options_and_cors(server: ServerThread) -> None:
    reply = raw(server.http_port or 0, b"OPTIONS /live/x.flv HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 204") and b"access-control-allow-origin: *" in reply.lower()


def test_http_10_viewer_gets_a_close_delimited_body_and_keep_alive_works(server: ServerThread) -> None:
    reply = raw(server.http_port or 0, b"GET /api/streams HTTP/1.1\r\nHost: x\r\n\r\n"
                                       b"GET /api/sessions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert reply.count(b"HTTP/1.1 200") == 2


def test_stalled_request_head_is_closed(server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that never finishes its request head does not hold a connection forever."""
    from rtmpconf.reference_server.http import server as http_server

    assert http_server.REQUEST_TIMEOUT_S <= 30
    with socket.create_connection(("127.0.0.1", server.http_port or 0), timeout=http_server.REQUEST_TIMEOUT_S + 5) as s:
        s.sendall(b"GET /api/streams HTTP/1.1\r\nHost")
        start = time.monotonic()
        data = s.recv(1000)
        while data and not data.endswith(b"\n"):
            more = s.recv(1000)
            if not more:
                break
            data += more
    assert time.monotonic() - start < http_server.REQUEST_TIMEOUT_S + 3


def test_playlist_window_slides_and_serves_removed_segments(server_factory: object) -> None:
    srv = server_factory(hls_fragment_s=1.0, hls_playlist_segments=3, hls_keep_removed=2)  # type: ignore[operator]
    from rtmpconf.harness.client import RtmpClient, Target
    from rtmpconf.harness.http.scenarios import media as test_media
    from rtmpconf.harness.scenarios import publish_stream

    async def scenario() -> tuple[object, object, object]:
        st = test_media(seconds=8.0)
        async with RtmpClient(Target("127.0.0.1", srv.port, "live"), timeout=5) as pub:
            await publish_stream(pub, "win", until_ms=8000, stream=st)
            await asyncio.sleep(0.2)
            base = f"http://127.0.0.1:{srv.http_port}/hls/"
            pl = await http_get(base + "win.m3u8")
            first = parse_m3u8(pl.body).media_sequence
            old = await http_get(base + f"win-{first - 2}.ts")  # left the list, still kept (2)
            gone = await http_get(base + f"win-{first - 3}.ts")
        return pl, old, gone

    pl, old, gone = asyncio.run(asyncio.wait_for(scenario(), 30))
    playlist = parse_m3u8(pl.body)  # type: ignore[attr-defined]
    assert len(playlist.segments) == 3 and playlist.media_sequence >= 3
    assert playlist.target_duration == 6 and not playlist.errors
    # Segments that left the playlist are still served for a while (RFC 8216 §6.2.2), then dropped.
    assert old.status == 200 and gone.status == 404  # type: ignore[attr-defined]
