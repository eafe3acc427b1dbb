"""Cross-protocol identity (catalogue section 14, XPROTO).

Publish once over RTMP; pull over RTMP, HTTP-FLV, HTTP-TS and HLS; every protocol must deliver
the same coded frames in the same order, each at its published time plus one constant offset per
protocol. Protocols the target lacks are left out (and said so); a target with no HTTP output at
all gets UNIMPLEMENTED.
"""

from __future__ import annotations

import pytest

from rtmpconf.harness.checks.media_timing import check_same_frames, check_same_timing
from rtmpconf.harness.http.flv import parse_flv
from rtmpconf.harness.http.frames import Frame, flv_frames, ts_frames
from rtmpconf.harness.http.mpegts import parse_ts
from rtmpconf.harness.http.scenarios import fetch_segments, live_pull, media, poll_playlist, sent_frames
from rtmpconf.harness.verdict import Finding, Verdict, info


@pytest.mark.slow_case
@pytest.mark.rule("XPROTO-1")
async def test_same_frames_every_protocol(rtmp, http):
    """Publishes 8 s of H.264 (B-frames) + AAC once; an RTMP player, an HTTP-FLV and an HTTP-TS
    viewer join at 1.5 s; the HLS playlist and its segments are fetched at the end.

    Requirement (XPROTO-1): the same frames, in order, times mapped by one constant per protocol;
    the first differing frame is named.
    """
    kinds = [k for k in ("flv", "ts") if http.missing(k, "XPROTO-1") is None]
    got = await live_pull(rtmp, http, kinds, until_ms=8000, rtmp_player=True, stream=media(seconds=8.0))
    sent = sent_frames(got["_stream"], got["_sent"])
    pulled: dict[str, list[Frame]] = {"RTMP": flv_frames(got.get("rtmp", []))}
    notes: list[Finding] = []
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
    if len(pulled) < 2:
        rtmp.judge(Finding("XPROTO-1", Verdict.UNIMPLEMENTED, "the target offers no HTTP output to compare with RTMP"),
                   notes)
        return
    findings: list[Finding] = list(notes)
    for label, frames in pulled.items():
        findings += check_same_frames("XPROTO-1", label, sent, frames)
        findings += check_same_timing("XPROTO-1", label, sent, frames)
    rtmp.judge(findings)
