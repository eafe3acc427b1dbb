"""Cross-protocol identity (catalogue section 14, XPROTO).

Publish once over RTMP; pull over RTMP, HTTP-FLV, HTTP-TS, HLS and RTSP; every protocol must
deliver the same coded frames in the same order, each at its published time plus one constant
offset per protocol. RTP carries presentation times only, each track on its own random base: RTSP
is held to its published presentation times plus one constant offset per track. Protocols the
target lacks are left out (and said so); a target with neither an HTTP nor an RTSP output gets
UNIMPLEMENTED.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from rtmpconf.harness.checks.media_timing import check_same_frames, check_same_timing
from rtmpconf.harness.http.flv import parse_flv
from rtmpconf.harness.http.frames import Frame, flv_frames, rtp_frames, ts_frames
from rtmpconf.harness.http.mpegts import parse_ts
from rtmpconf.harness.http.scenarios import (
    LIVE_IDLE_S,
    LIVE_MAX_S,
    fetch_segments,
    live_pull,
    media,
    poll_playlist,
    published,
    sent_frames,
)
from rtmpconf.harness.rtsp import (
    RtspClient,
    RtspError,
    SdpMedia,
    depacketize_aac,
    depacketize_h26x,
    parse_sdp,
)
from rtmpconf.harness.verdict import Finding, Verdict, info

#: How often the RTSP viewer looks whether the last published frames arrived (s).
RTSP_LOOK_S = 0.2


@dataclass
class RtspView:
    """What the RTSP viewer saw: its coded frames, or why it saw nothing."""

    frames: list[Frame] = field(default_factory=list)
    error: str | None = None


def rtsp_frames(c: RtspClient, medias: dict[str, SdpMedia], channels: dict[str, int]) -> list[Frame]:
    """Depacketised RTP of each SETUP track as comparable frames."""
    def track(kind: str) -> list[Any]:
        return [p for p in c.packets if p.channel == channels.get(kind) and not p.is_rtcp]

    def fmtp(m: SdpMedia, key: str, default: int) -> int:
        value = m.fmtp.get(key, "")
        return int(value) if value.isdigit() else default

    v, a = medias.get("video"), medias.get("audio")
    units = depacketize_h26x(track("video"), hevc=v.encoding == "H265")[0] \
        if v is not None and v.encoding in ("H264", "H265") else []
    aac = depacketize_aac(track("audio"), fmtp(a, "sizelength", 13), fmtp(a, "indexlength", 3)) \
        if a is not None and a.encoding == "MPEG4-GENERIC" else []
    return rtp_frames(units, aac, video_rate=(v.clock_rate if v else 0) or 90000,
                      audio_rate=(a.clock_rate if a else 0) or 48000,
                      codec="hevc" if v is not None and v.encoding == "H265" else "h264")


async def start_rtsp(url: str, timeout: float, last: set[bytes]) -> Awaitable[RtspView]:
    """DESCRIBE, SETUP every track over TCP interleaved, PLAY; then (the awaitable returned) read
    until the frames in ``last`` arrived, the stream goes quiet for LIVE_IDLE_S, or LIVE_MAX_S."""
    parts = urlsplit(url)
    c = RtspClient(parts.hostname or "", parts.port or 554, timeout=timeout)
    medias: dict[str, SdpMedia] = {}
    channels: dict[str, int] = {}
    try:
        await c.open()
        d = await c.request("DESCRIBE", url, {"Accept": "application/sdp"})
        if d.status != 200:
            raise RtspError(f"DESCRIBE answered {d.status}")
        base = (d.headers.get("content-base") or url).rstrip("/")
        for i, m in enumerate(parse_sdp(d.body.decode("utf-8", "replace"))):
            if m.kind not in ("video", "audio"):
                continue
            control = m.control if "://" in m.control else f"{base}/{m.control}"
            r = await c.request("SETUP", control, {"Transport": f"RTP/AVP/TCP;unicast;interleaved={2 * i}-{2 * i + 1}"})
            if r.status != 200:
                raise RtspError(f"SETUP of the {m.kind} track answered {r.status}")
            chan = re.search(r"interleaved=(\d+)", r.headers.get("transport", ""))
            medias[m.kind], channels[m.kind] = m, int(chan.group(1)) if chan else 2 * i
        p = await c.request("PLAY", url, {"Range": "npt=0.000-"})
        if p.status != 200:
            raise RtspError(f"PLAY answered {p.status}")
    except RtspError as exc:
        await c.close()
        done: asyncio.Future[RtspView] = asyncio.get_running_loop().create_future()
        done.set_result(RtspView(error=str(exc)))
        return done

    async def watch() -> RtspView:
        loop = asyncio.get_running_loop()
        end = loop.time() + LIVE_MAX_S
        heard, count = loop.time(), 0
        try:
            while not c.closed and loop.time() < end:
                await c.receive(RTSP_LOOK_S)
                if len(c.packets) != count:
                    heard, count = loop.time(), len(c.packets)
                elif loop.time() - heard >= LIVE_IDLE_S:
                    break
                if last <= {f.key for f in rtsp_frames(c, medias, channels)}:
                    break
            if not c.closed:
                with contextlib.suppress(RtspError):
                    await c.request("TEARDOWN", url)
        finally:
            await c.close()
        return RtspView(rtsp_frames(c, medias, channels))

    return asyncio.create_task(watch())


@pytest.mark.slow_case
@pytest.mark.rule("XPROTO-1")
async def test_same_frames_every_protocol(rtmp, http):
    """Publishes 8 s of H.264 (B-frames) + AAC once; an RTMP player, an HTTP-FLV, an HTTP-TS and
    an RTSP (TCP interleaved) viewer join at 1.5 s; the HLS playlist and its segments are fetched
    at the end.

    Requirement (XPROTO-1): the same frames, in order, times mapped by one constant per protocol
    (RTSP: presentation times, one constant per track); the first differing frame is named.
    """
    kinds = [k for k in ("flv", "ts") if http.missing(k, "XPROTO-1") is None]
    stream = media(seconds=8.0)
    notes: list[Finding] = []
    viewers = {}
    template = getattr(rtmp, "rtsp_template", None)
    if template:
        tail = sent_frames(stream, published(stream, 8000))
        last = {next(f.key for f in reversed(tail) if f.track == t) for t in ("video", "audio")}

        def rtsp_viewer(name: str) -> Awaitable[Awaitable[RtspView]]:
            url = template.replace("{app}", rtmp.target.app).replace("{name}", name)
            return start_rtsp(url, rtmp.timeout, last)

        viewers["rtsp"] = rtsp_viewer
    else:
        notes.append(info("XPROTO-1", "RTSP: the target has no RTSP output the run knows of "
                                      "(give --rtsp-url rtsp://host:port/{app}/{name}), left out"))
    got = await live_pull(rtmp, http, kinds, until_ms=8000, rtmp_player=True, stream=stream, viewers=viewers)
    sent = sent_frames(got["_stream"], got["_sent"])
    pulled: dict[str, list[Frame]] = {"RTMP": flv_frames(got.get("rtmp", []))}
    for kind, label in (("flv", "HTTP-FLV"), ("ts", "HTTP-TS")):
        pull = got.get(kind)
        if pull is None:
            notes.append(info("XPROTO-1", f"{label}: not offered by the target, left out"))
        elif pull.error is not None or pull.resp.status != 200:
            notes.append(info("XPROTO-1", f"{label}: {pull.error or pull.resp.status}, left out"))
        else:
            body = pull.resp.body
            pulled[label] = flv_frames(parse_flv(body).tags) if kind == "flv" else ts_frames(parse_ts(body))
    if http.missing("hls", "XPROTO-1") is None:
        url = http.url("hls", got["_name"])
        pl, resp = await poll_playlist(http, url, wait=3.0)
        if pl is not None and pl.segments:
            frames: list[Frame] = []
            for seg in await fetch_segments(http, url, pl):
                frames.extend(ts_frames(seg.ts))
            pulled["HLS"] = frames
        else:
            notes.append(info("XPROTO-1", f"HLS: no playlist ({resp.status if resp else 'no answer'}), left out"))
    view = got.get("rtsp")
    if view is not None:
        if view.error is not None:
            notes.append(info("XPROTO-1", f"RTSP: {view.error}, left out"))
        else:
            pulled["RTSP"] = view.frames
    if len(pulled) < 2:
        rtmp.judge(Finding("XPROTO-1", Verdict.UNIMPLEMENTED,
                           "the target offers no HTTP or RTSP output to compare with RTMP"), notes)
        return
    findings: list[Finding] = list(notes)
    for label, frames in pulled.items():
        findings += check_same_frames("XPROTO-1", label, sent, frames)
        findings += check_same_timing("XPROTO-1", label, sent, frames, presentation=label == "RTSP")
    rtmp.judge(findings)
