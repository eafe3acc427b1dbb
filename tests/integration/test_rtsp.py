"""RTSP out of the reference server: real players (ffprobe, ffmpeg, GStreamer) over TCP and UDP,
the harness's RTSP client against the published media, HEVC, session handling."""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

import pytest

from rtmpconf.harness.client import RtmpClient, Target
from rtmpconf.harness.peers import require_or_skip
from rtmpconf.harness.peers.ffmpeg import FfmpegPublisher
from rtmpconf.harness.rtsp import (
    RtspClient,
    depacketize_aac,
    depacketize_h26x,
    parse_sdp,
    sprop_parameter_sets,
)
from rtmpconf.harness.scenarios import publish_stream
from rtmpconf.harness.testmedia import make_h264_aac, make_hevc
from rtmpconf.rtmp import media
from tests.integration.conftest import run, wait_published


@pytest.fixture
def rtsp_server(server_factory: Any) -> Any:
    return server_factory(rtsp_port=0)


@pytest.mark.ffmpeg
@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_real_players_over_tcp_and_udp(rtsp_server: Any, transport: str) -> None:
    ffmpeg, ffprobe, gst = require_or_skip("ffmpeg", "ffprobe", "gst-launch-1.0")
    port = rtsp_server.server.rtsp.port
    url = f"rtsp://127.0.0.1:{port}/live/cam"
    with FfmpegPublisher(f"rtmp://127.0.0.1:{rtsp_server.port}/live/cam", seconds=30) as pub:
        wait_published(rtsp_server, "cam", timeout=15)
        probe = subprocess.run([ffprobe, "-v", "error", "-rtsp_transport", transport, "-show_streams", "-of", "json", url],
                               capture_output=True, timeout=30)
        streams = {s["codec_type"]: s for s in json.loads(probe.stdout or b"{}").get("streams", [])}
        assert streams.get("video", {}).get("codec_name") == "h264", probe.stderr
        assert streams.get("audio", {}).get("codec_name") == "aac", probe.stderr
        play = subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "warning", "-rtsp_transport", transport, "-i", url,
                               "-t", "3", "-f", "null", "-"], capture_output=True, timeout=40)
        assert play.returncode == 0, play.stderr.decode(errors="replace")
        assert b"non monotonically" not in play.stderr and b"error" not in play.stderr.lower(), play.stderr
        gst_run = subprocess.run(
            [gst, "-q", "rtspsrc", f"location={url}", f"protocols={transport}", "name=s",
             "s.", "!", "application/x-rtp,media=video", "!", "rtph264depay", "!", "h264parse", "!",
             "fakesink", "num-buffers=50", "sync=false",
             "s.", "!", "application/x-rtp,media=audio", "!", "rtpmp4gdepay", "!", "aacparse", "!",
             "fakesink", "num-buffers=50", "sync=false"], capture_output=True, timeout=40)
        assert gst_run.returncode == 0, gst_run.stderr.decode(errors="replace")[-2000:]
        assert pub.proc is not None and pub.proc.poll() is None


@pytest.mark.parametrize("transport", ["tcp", "udp"])
@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_media_arrives_intact_from_a_keyframe(rtsp_server: Any, transport: str, codec: str) -> None:
    stream = make_h264_aac(seconds=3.0, gop=25) if codec == "h264" else make_hevc(seconds=3.0, gop=25)
    port = rtsp_server.server.rtsp.port
    url = f"rtsp://127.0.0.1:{port}/live/{codec}"

    async def scenario() -> None:
        pub = RtmpClient(Target("127.0.0.1", rtsp_server.port), label="publisher")
        await pub.open()
        await publish_stream(pub, codec, stream=stream, until_ms=1000)
        await pub.probe()
        async with RtspClient("127.0.0.1", port) as c:
            d = await c.request("DESCRIBE", url, {"Accept": "application/sdp"})
            assert d.status == 200, d
            medias = parse_sdp(d.body.decode())
            video = next(m for m in medias if m.kind == "video")
            assert video.encoding == ("H264" if codec == "h264" else "H265")
            # The SDP parameter sets are the ones of the RTMP sequence header.
            sets = sprop_parameter_sets(video)
            body = bytes(media.parse_video_tag(stream.video_sequence_header).body)
            for ps in sets:
                assert ps in body
            for i, m in enumerate(medias):
                if transport == "tcp":
                    tr = f"RTP/AVP/TCP;unicast;interleaved={2 * i}-{2 * i + 1}"
                else:
                    a, b = await c.udp_ports_for(i)
                    tr = f"RTP/AVP;unicast;client_port={a}-{b}"
                s = await c.request("SETUP", f"{url}/{m.control}", {"Transport": tr})
                assert s.status == 200 and "session" in s.headers, s
            p = await c.request("PLAY", url, {"Range": "npt=0.000-"})
            assert p.status == 200 and "rtp-info" in p.headers
            feeder = asyncio.create_task(pub.publish_media([t for t in stream.tags if t.timestamp >= 1000],
                                                           realtime=True))
            await c.receive(2.5)
            await feeder
            await c.receive(0.5)
            t = await c.request("TEARDOWN", url)
            assert t.status == 200
        rtp = [pk for pk in c.packets if not pk.is_rtcp]
        rtcp = [pk for pk in c.packets if pk.is_rtcp]
        assert any(pk.data[1] == 200 for pk in rtcp), "RTCP sender reports"
        vid = [pk for pk in rtp if pk.channel == 0]
        aud = [pk for pk in rtp if pk.channel == 2]
        units, problems = depacketize_h26x(vid, hevc=codec == "hevc")
        assert not problems
        # Starts at a keyframe: the first access unit holds an IDR (H.264 type 5 / HEVC 16..21).
        first = units[0].nalus
        kinds = [(n[0] & 0x1F) if codec == "h264" else ((n[0] >> 1) & 0x3F) for n in first]
        assert (5 in kinds) if codec == "h264" else any(16 <= k <= 21 for k in kinds), kinds
        # Every published frame from the GOP start on arrived with its NAL units, in order.
        cfg_len = 4
        sent = [t for t in stream.tags if t.type_id == 9]
        first_key = max(i for i, t in enumerate(sent) if t.keyframe and t.timestamp < 1000)
        want = [[bytes(n) for n in media.split_nalus(media.parse_video_tag(t.payload).body, cfg_len)] for t in sent[first_key:]]
        got = [[n for n in u.nalus if ((n[0] & 0x1F) not in (7, 8, 9) if codec == "h264"
                                        else ((n[0] >> 1) & 0x3F) not in (32, 33, 34, 35))] for u in units]
        want = [[n for n in w if ((n[0] & 0x1F) not in (7, 8, 9) if codec == "h264"
                                  else ((n[0] >> 1) & 0x3F) not in (32, 33, 34, 35))] for w in want]
        assert got == want[:len(got)] and len(got) >= len(want) - 1
        assert all(u.marker for u in units)
        # Sequence numbers continuous, timestamps 90 kHz steps of one frame (40 ms).
        seqs = [pk.seq for pk in vid]
        assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:]))
        steps = {(b.timestamp - a.timestamp) & 0xFFFFFFFF for a, b in zip(units, units[1:])}
        assert steps <= {3600}, steps
        frames = depacketize_aac(aud)
        sent_aac = [bytes(media.parse_audio_tag(t.payload).body) for t in stream.tags if t.type_id == 8]
        got_aac = [f for _, f in frames]
        start = sent_aac.index(got_aac[0])
        assert got_aac == sent_aac[start:start + len(got_aac)]
        ats = [pk.timestamp for pk in aud]
        assert {(b - a) & 0xFFFFFFFF for a, b in zip(ats, ats[1:])} == {1024}
        await pub.close()

    run(scenario(), timeout=40)


def test_session_rules(rtsp_server: Any) -> None:
    port = rtsp_server.server.rtsp.port
    url = f"rtsp://127.0.0.1:{port}/live/s"

    async def scenario() -> None:
        pub = RtmpClient(Target("127.0.0.1", rtsp_server.port), label="publisher")
        await pub.open()
        await publish_stream(pub, "s", stream=make_h264_aac(seconds=1.0))
        async with RtspClient("127.0.0.1", port) as c:
            o = await c.request("OPTIONS", url, cseq=41)
            assert o.status == 200 and o.headers["cseq"] == "41" and "DESCRIBE" in o.headers["public"]
            assert (await c.request("DESCRIBE", f"rtsp://127.0.0.1:{port}/live/nothing")).status == 404
            assert (await c.request("PLAY", url, {"Session": "deadbeef"}, session=False)).status == 454
            s = await c.request("SETUP", f"{url}/trackID=0", {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
            assert s.status == 200
            assert (await c.request("GET_PARAMETER", url)).status == 200
            assert (await c.request("SETUP", f"{url}/trackID=1", {"Transport": "RAW/RAW/UDP;unicast"})).status == 461
            assert (await c.request("FOO", url)).status in (405, 501)
            missing = await c.request("OPTIONS", url, cseq=False)
            assert missing.status == 400
        await pub.close()

    run(scenario(), timeout=30)
