"""RTSP output cases (catalogue section 15): a stream published over RTMP, watched over RTSP.

They need the target's RTSP output: the embedded reference server serves it (``--rtsp-port``);
for another server give ``--rtsp-url rtsp://host:port/{app}/{name}`` (lal: port 5544). A target
without one gets UNIMPLEMENTED. The publisher sends H.264/AAC (25 fps, 48 kHz) in real time over
RTMP; the harness's RTSP client (harness/rtsp.py) records every response and RTP packet.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import pytest

from rtmpconf.harness.checks.rtsp import (
    check_cseq_echo,
    check_describe,
    check_idr_start,
    check_keepalive,
    check_markers,
    check_media_intact,
    check_options,
    check_rtp_continuity,
    check_sdp_parameter_sets,
    check_sender_reports,
    check_session,
    check_transport,
    split_tracks,
)
from rtmpconf.harness.rtsp import RtspClient, RtspError, depacketize_h26x, parse_sdp
from rtmpconf.harness.scenarios import publish_stream
from rtmpconf.harness.testmedia import make_h264_aac
from rtmpconf.harness.verdict import Finding, Verdict

#: Media the cases watch after PLAY (s).
WATCH_S = 2.5
#: Media published before the RTSP client joins (s): the player joins mid-GOP (GOP 1 s).
HEAD_MS = 1300


def rtsp_url_or_judge(rtmp: Any, name: str) -> str | None:
    template = getattr(rtmp, "rtsp_template", None)
    if not template:
        rtmp.judge(Finding(rtmp.rule, Verdict.UNIMPLEMENTED,
                           "the target has no RTSP output the run knows of (give --rtsp-url rtsp://host:port/{app}/{name})"))
        return None
    return template.replace("{app}", rtmp.target.app).replace("{name}", name)


def rtsp_client(url: str, timeout: float) -> RtspClient:
    hostport = url.split("://", 1)[1].split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    return RtspClient(host or hostport, int(port or 554), timeout=timeout)


@dataclass
class Watch:
    """What one RTSP viewing recorded."""

    client: RtspClient
    stream: Any
    describe: Any = None
    setups: list[Any] = field(default_factory=list)
    channels: dict[str, int] = field(default_factory=dict)  #: track name -> RTP channel


@contextlib.asynccontextmanager
async def publishing(rtmp: Any, name: str, stream: Any) -> Any:
    """An RTMP publisher that has sent HEAD_MS of ``stream``; yields the task feeding the rest."""
    async with rtmp.client(label="RTMP publisher") as pub:
        await publish_stream(pub, name, stream=stream, until_ms=HEAD_MS)
        await pub.probe()
        rest = [t for t in stream.tags if t.timestamp - stream.start_ms >= HEAD_MS]
        feeder = asyncio.create_task(pub.publish_media(rest, realtime=True))
        try:
            yield feeder
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await feeder


async def watch(rtmp: Any, url: str, stream: Any, transport: str = "tcp") -> Watch:
    """DESCRIBE, SETUP every track (TCP interleaved or UDP), PLAY, receive WATCH_S, TEARDOWN."""
    c = rtsp_client(url, rtmp.timeout)
    w = Watch(c, stream)
    async with c:
        w.describe = await c.request("DESCRIBE", url, {"Accept": "application/sdp"})
        if w.describe.status != 200:
            return w
        base = (w.describe.headers.get("content-base") or url).rstrip("/")
        for i, m in enumerate(parse_sdp(w.describe.body.decode("utf-8", "replace"))):
            if transport == "tcp":
                offer = f"RTP/AVP/TCP;unicast;interleaved={2 * i}-{2 * i + 1}"
            else:
                a, b = await c.udp_ports_for(i)
                offer = f"RTP/AVP;unicast;client_port={a}-{b}"
            control = m.control if "://" in m.control else f"{base}/{m.control}"
            w.setups.append((offer, await c.request("SETUP", control, {"Transport": offer})))
            w.channels[m.kind] = 2 * i
        await c.request("PLAY", url, {"Range": "npt=0.000-"})
        await c.receive(WATCH_S)
        with contextlib.suppress(RtspError):
            await c.request("TEARDOWN", url)
    return w


def video_packets(w: Watch) -> list[Any]:
    ch = w.channels.get("video")
    return [p for p in w.client.packets if p.channel == ch and not p.is_rtcp]


# -- RTSP-1 / 2 / 3 / 4 / 5 / 12: requests and responses -------------------------------------------


@pytest.mark.rule("RTSP-1")
async def test_cseq_echoed(rtmp):
    """OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER and TEARDOWN with CSeq 41, 42, ... on a live
    H.264/AAC stream.

    Requirement (RTSP-1, RFC 2326 §12.17): CSeq "MUST be present in all requests and responses".
    """
    name = rtmp.stream_name()
    url = rtsp_url_or_judge(rtmp, name)
    if url is None:
        return
    stream = make_h264_aac(seconds=3.0)
    async with publishing(rtmp, name, stream):
        c = rtsp_client(url, rtmp.timeout)
        async with c:
            c.cseq = 40
            with contextlib.suppress(RtspError):
                await c.request("OPTIONS", url)
                d = await c.request("DESCRIBE", url)
                if d.status == 200:
                    await c.request("SETUP", f"{url}/trackID=0", {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
                    await c.request("PLAY", url)
                    await c.request("GET_PARAMETER", url)
                    await c.request("TEARDOWN", url)
    rtmp.judge(check_cseq_echo(c.sent, c.responses))


@pytest.mark.rule("RTSP-2")
async def test_options_and_unknown_method(rtmp):
    """OPTIONS on the stream URL, then a made-up method FROBNICATE on the same connection.

    Requirement (RTSP-2): OPTIONS "answered 200 with a Public header"; an unknown method "gets 501
    Not Implemented (or 405 with Allow), never a close".
    """
    name = rtmp.stream_name()
    url = rtsp_url_or_judge(rtmp, name)
    if url is None:
        return
    c = rtsp_client(url, rtmp.timeout)
    options = unknown = None
    async with c:
        with contextlib.suppress(RtspError):
            options = await c.request("OPTIONS", url)
            unknown = await c.request("FROBNICATE", url)
    rtmp.judge(check_options(options, unknown, c.closed and unknown is None))


@pytest.mark.rule("RTSP-3")
async def test_describe_gives_sdp(rtmp):
    """DESCRIBE of a name published over RTMP (H.264 + AAC, live).

    Requirement (RTSP-3): "200 with Content-Type application/sdp, a Content-Base ... and one m=
    line per track with rtpmap and control attributes".
    """
    name = rtmp.stream_name()
    url = rtsp_url_or_judge(rtmp, name)
    if url is None:
        return
    resp = None
    async with publishing(rtmp, name, make_h264_aac(seconds=2.0)):
        async with rtsp_client(url, rtmp.timeout) as c:
            with contextlib.suppress(RtspError):
                resp = await c.request("DESCRIBE", url, {"Accept": "application/sdp"})
    rtmp.judge(check_describe(resp))


@pytest.mark.rule("RTSP-4")
async def test_sdp_parameter_sets(rtmp):
    """DESCRIBE of an H.264/AAC stream; the SDP's sprop-parameter-sets and AAC config are compared
    with the AVC and AAC sequence headers published over RTMP.

    Requirement (RTSP-4): the SDP parameter sets are "equal to the SPS/PPS ... of the AVC sequence
    header, and the AAC config ... equal to its AudioSpecificConfig".
    """
    name = rtmp.stream_name()
    url = rtsp_url_or_judge(rtmp, name)
    if url is None:
        return
    stream = make_h264_aac(seconds=2.0)
    resp = None
    async with publishing(rtmp, name, stream):
        async with rtsp_client(url, rtmp.timeout) as c:
            with contextlib.suppress(RtspError):
                resp = await c.request("DESCRIBE", url, {"Accept": "application/sdp"})
    if resp is None or resp.status != 200:
        rtmp.judge(check_describe(resp, rule="RTSP-4"))
        return
    medias = parse_sdp(resp.body.decode("utf-8", "replace"))
    rtmp.judge(check_sdp_parameter_sets(medias, stream.video_sequence_header, stream.audio_sequence_header))


@pytest.mark.rule("RTSP-5")
async def test_session_created_and_unknown_refused(rtmp):
    """SETUP of the video track over TCP; then PLAY naming a session id the server never issued.

    Requirement (RTSP-5): SETUP "is answered with a Session header"; an unknown session gets "454
    Session Not Found".
    """
    name = rtmp.stream_name()
    url = rtsp_url_or_judge(rtmp, name)
    if url is None:
        return
    setup = bogus = None
    async with publishing(rtmp, name, make_h264_aac(seconds=2.0)):
        async with rtsp_client(url, rtmp.timeout) as c:
            with contextlib.suppress(RtspError):
                await c.request("DESCRIBE", url)
                setup = await c.request("SETUP", f"{url}/trackID=0", {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
                bogus = await c.request("PLAY", url, {"Session": "00000000deadbeef"}, session=False)
    rtmp.judge(check_session(setup, bogus))


@pytest.mark.rule("RTSP-12")
async def test_get_parameter_keepalive(rtmp):
    """SETUP of the video track, then GET_PARAMETER with the session and no body.

    Requirement (RTSP-12): "GET_PARAMETER without a body, in a session, is answered 200".
    """
    name = rtmp.stream_name()
    url = rtsp_url_or_judge(rtmp, name)
    if url is None:
        return
    resp = None
    async with publishing(rtmp, name, make_h264_aac(seconds=2.0)):
        async with rtsp_client(url, rtmp.timeout) as c:
            with contextlib.suppress(RtspError):
                await c.request("DESCRIBE", url)
                await c.request("SETUP", f"{url}/trackID=0", {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
                resp = await c.request("GET_PARAMETER", url)
    rtmp.judge(check_keepalive(resp))


# -- RTSP-6: transports --------------------------------------------------------------------------------


@pytest.mark.slow_case  # real-time media or a server timeout: scheduled first with -j
@pytest.mark.rule("RTSP-6")
@pytest.mark.parametrize("transport", ["tcp", "udp"])
async def test_transport_negotiation(rtmp, transport):
    """SETUP of the video track offering RTP/AVP/TCP;interleaved=0-1 (or RTP/AVP;client_port=even-odd),
    then SETUP of the audio track offering RAW/RAW/UDP.

    Requirement (RTSP-6): the reply matches the offer (channels, or client and server ports); "a
    transport the server cannot do gets 461 Unsupported Transport".
    """
    name = rtmp.stream_name()
    url = rtsp_url_or_judge(rtmp, name)
    if url is None:
        return
    setup = bad = None
    offer = ""
    async with publishing(rtmp, name, make_h264_aac(seconds=2.0)):
        async with rtsp_client(url, rtmp.timeout) as c:
            with contextlib.suppress(RtspError):
                await c.request("DESCRIBE", url)
                if transport == "tcp":
                    offer = "RTP/AVP/TCP;unicast;interleaved=0-1"
                else:
                    a, b = await c.udp_ports_for(0)
                    offer = f"RTP/AVP;unicast;client_port={a}-{b}"
                setup = await c.request("SETUP", f"{url}/trackID=0", {"Transport": offer})
                bad = await c.request("SETUP", f"{url}/trackID=1", {"Transport": "RAW/RAW/UDP;unicast"})
    rtmp.judge(check_transport(transport, offer, setup, bad))


# -- RTSP-7 .. 11: the RTP stream ------------------------------------------------------------------------


async def watched(rtmp: Any, transport: str = "tcp") -> Watch | None:
    name = rtmp.stream_name()
    url = rtsp_url_or_judge(rtmp, name)
    if url is None:
        return None
    stream = make_h264_aac(seconds=HEAD_MS / 1000 + WATCH_S + 1.0, gop=25)
    async with publishing(rtmp, name, stream):
        try:
            return await watch(rtmp, url, stream, transport)
        except RtspError as exc:
            rtmp.judge(Finding(rtmp.rule, Verdict.FAIL, f"the RTSP session failed: {exc}"))
            return None


@pytest.mark.slow_case  # real-time media or a server timeout: scheduled first with -j
@pytest.mark.rule("RTSP-7")
async def test_rtp_continuity(rtmp):
    """PLAY (TCP interleaved) of a 25 fps H.264 + 48 kHz AAC publish for 2.5 s.

    Requirement (RTSP-7): sequence numbers "increment by one for each packet", one SSRC, video
    access units 3600 ticks apart at 90 kHz, AAC frames 1024 samples apart.
    """
    w = await watched(rtmp)
    if w is None:
        return
    tracks = split_tracks(w.client.packets, w.channels)
    rtmp.judge(check_rtp_continuity(tracks, {"video": {3600}, "audio": {1024}}))


@pytest.mark.slow_case  # real-time media or a server timeout: scheduled first with -j
@pytest.mark.rule("RTSP-8")
async def test_marker_bits(rtmp):
    """PLAY (TCP interleaved) for 2.5 s; video packets grouped by RTP timestamp.

    Requirement (RTSP-8, RFC 6184 §5.1): M is "set for the very last packet of the access unit".
    """
    w = await watched(rtmp)
    if w is None:
        return
    rtmp.judge(check_markers(video_packets(w)))


@pytest.mark.slow_case  # real-time media or a server timeout: scheduled first with -j
@pytest.mark.rule("RTSP-9")
async def test_starts_at_idr(rtmp):
    """The RTSP player joins 1.3 s into a stream with a keyframe every second (mid-GOP).

    Requirement (RTSP-9): "the first video access unit a new RTSP player receives is an IDR".
    """
    w = await watched(rtmp)
    if w is None:
        return
    units, _ = depacketize_h26x(video_packets(w), hevc=False)
    rtmp.judge(check_idr_start(units, hevc=False))


@pytest.mark.slow_case  # real-time media or a server timeout: scheduled first with -j
@pytest.mark.rule("RTSP-10")
async def test_sender_reports(rtmp):
    """PLAY (TCP interleaved) for 2.5 s; RTCP on each track's RTCP channel is recorded.

    Requirement (RTSP-10): "each track sends RTCP sender reports ... the first within a few seconds".
    """
    w = await watched(rtmp)
    if w is None:
        return
    rtmp.judge(check_sender_reports(w.client.packets, {k: v + 1 for k, v in w.channels.items()}))


@pytest.mark.slow_case  # real-time media or a server timeout: scheduled first with -j
@pytest.mark.rule("RTSP-11")
@pytest.mark.parametrize("transport", ["tcp", "udp"])
async def test_media_intact(rtmp, transport):
    """PLAY over TCP interleaved (or UDP) for 2.5 s; the RTP payloads are depacketised (FU-A
    reassembled, RFC 3640 AUs split) and matched with the published frames.

    Requirement (RTSP-11): "the NAL units of every published video frame ... and every AAC frame
    arrive in the RTP payloads, byte for byte and in order".
    """
    w = await watched(rtmp, transport)
    if w is None:
        return
    units, problems = depacketize_h26x(video_packets(w), hevc=False)
    aac = [p for p in w.client.packets if p.channel == w.channels.get("audio") and not p.is_rtcp]
    from rtmpconf.rtmp import media

    sent_video = [t.payload for t in w.stream.tags if t.type_id == 9]
    sent_audio = [bytes(media.parse_audio_tag(t.payload).body) for t in w.stream.tags if t.type_id == 8]
    findings = check_media_intact(units, aac, sent_video, sent_audio, length_size=4, hevc=False)
    findings += [Finding("RTSP-11", Verdict.FAIL, p) for p in problems[:3]]
    rtmp.judge(findings)
