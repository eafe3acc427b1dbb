"""HEVC (E-RTMP hvc1) published over RTMP comes out of HTTP-TS as stream_type 0x24 that ffprobe
decodes, with the same frames as published."""

from __future__ import annotations

import asyncio
import subprocess
import tempfile

from rtmpconf.harness.checks.media_timing import check_same_frames
from rtmpconf.harness.client import RtmpClient, Target
from rtmpconf.harness.http.client import http_get
from rtmpconf.harness.http.frames import flv_frames, ts_frames
from rtmpconf.harness.http.mpegts import parse_ts
from rtmpconf.harness.peers import require_or_skip
from rtmpconf.harness.scenarios import publish_stream
from rtmpconf.harness.testmedia import MediaTag, make_hevc
from rtmpconf.harness.verdict import Verdict
from rtmpconf.reference_server.server import ServerThread


def test_hevc_to_http_ts(server: ServerThread) -> None:
    ffprobe = require_or_skip("ffprobe")[0]
    st = make_hevc(seconds=3.0)

    async def scenario() -> bytes:
        async with RtmpClient(Target("127.0.0.1", server.port, "live"), timeout=5) as pub:
            await publish_stream(pub, "hevc", until_ms=1000, stream=st)
            viewer = asyncio.create_task(http_get(f"http://127.0.0.1:{server.http_port}/live/hevc.ts", idle=0.8,
                                                  read_for=5.0))
            await asyncio.sleep(0.3)
            await pub.publish_media([t for t in st.tags if t.timestamp >= 1000])
            return (await viewer).body

    body = asyncio.run(asyncio.wait_for(scenario(), 30))
    r = parse_ts(body)
    assert 0x24 in r.streams.values(), r.streams
    sent = flv_frames([MediaTag(9, 0, st.video_sequence_header, True, True), *st.tags])
    findings = check_same_frames("XPROTO-1", "HTTP-TS", sent, ts_frames(r))
    assert all(f.verdict is Verdict.PASS for f in findings), [f.line() for f in findings]
    with tempfile.NamedTemporaryFile(suffix=".ts") as fh:
        fh.write(body)
        fh.flush()
        out = subprocess.run([ffprobe, "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
                              fh.name], capture_output=True, text=True, timeout=20)
    assert "hevc" in out.stdout.split(), out.stdout + out.stderr
