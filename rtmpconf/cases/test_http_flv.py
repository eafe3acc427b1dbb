"""HTTP-FLV output cases (catalogue section 11, HFLV).

Each case publishes real H.264 (B-frames) + AAC over RTMP, opens GET {app}/{name}.flv on the
target's HTTP side (--http-target; URL template --http-flv-url) mid-GOP, publishes on, and judges
the body. A target without HTTP-FLV gets UNIMPLEMENTED.
"""

from __future__ import annotations

import pytest

from rtmpconf.harness.checks.http_flv import (
    check_cors,
    check_flv_flags,
    check_flv_header,
    check_flv_start,
    check_flv_tags,
)
from rtmpconf.harness.checks.media_timing import check_same_timing
from rtmpconf.harness.http.flv import parse_flv
from rtmpconf.harness.http.frames import flv_frames
from rtmpconf.harness.http.scenarios import live_pull, sent_frames
from rtmpconf.harness.testmedia import make_h264_aac
from rtmpconf.harness.verdict import Finding, Verdict


async def pull_flv(rtmp, http, rule: str, stream=None):
    """The live pull, or the finding that says why there is none."""
    missing = http.missing("flv", rule)
    if missing is not None:
        return None, missing
    got = await live_pull(rtmp, http, ["flv"], stream=stream)
    pull = got["flv"]
    if pull.error is not None:
        return None, Finding(rule, Verdict.FAIL, f"HTTP-FLV request failed: {pull.error}")
    absent = http.absent("flv", rule, pull.resp)
    if absent is not None:
        return None, absent
    if pull.resp.status != 200:
        return None, Finding(rule, Verdict.FAIL, f"HTTP-FLV answered {pull.resp.status} for a published stream")
    return got, None


@pytest.mark.rule("HFLV-1")
async def test_flv_header(rtmp, http):
    """GET /{app}/{name}.flv of a live stream.

    Requirement (FLV §E.2/E.3): the body starts "FLV", version 1, DataOffset 9, PreviousTagSize0 0.
    """
    got, why = await pull_flv(rtmp, http, "HFLV-1")
    rtmp.judge(why if why else check_flv_header(parse_flv(got["flv"].resp.body)))


@pytest.mark.rule("HFLV-2")
async def test_flv_tag_framing(rtmp, http):
    """Reads the live body for a few seconds.

    Requirement (FLV §E.4.1/E.3): TagType 8/9/18, StreamID 0, PreviousTagSize = 11 + DataSize.
    """
    got, why = await pull_flv(rtmp, http, "HFLV-2")
    rtmp.judge(why if why else check_flv_tags(parse_flv(got["flv"].resp.body)))


@pytest.mark.rule("HFLV-3")
async def test_flv_header_flags(rtmp, http):
    """Publishes audio and video; reads the header flags and the tag types.

    Requirement (FLV §E.2): TypeFlagsAudio/TypeFlagsVideo "audio/video tags are present".
    """
    got, why = await pull_flv(rtmp, http, "HFLV-3")
    rtmp.judge(why if why else check_flv_flags(parse_flv(got["flv"].resp.body)))


@pytest.mark.rule("HFLV-3", id="video-only-stream")
async def test_flv_header_flags_video_only(rtmp, http):
    """Publishes H.264 without any audio (no audio sequence header, no audio frame).

    Requirement (FLV §E.2): TypeFlagsAudio means "audio tags are present": a video-only stream
    must not announce audio (flv.js / mpegts.js wait for an audio track the header announces).
    """
    got, why = await pull_flv(rtmp, http, "HFLV-3", stream=make_h264_aac(seconds=4.0, audio=False, gop=25))
    rtmp.judge(why if why else check_flv_flags(parse_flv(got["flv"].resp.body)))


@pytest.mark.rule("HFLV-4")
async def test_flv_viewer_starts_at_keyframe(rtmp, http):
    """Joins 1.5 s into the publish (mid-GOP: keyframes every second).

    Requirement (HFLV-4, like GOP-1): onMetaData, sequence headers, then a keyframe first.
    """
    got, why = await pull_flv(rtmp, http, "HFLV-4")
    rtmp.judge(why if why else check_flv_start(parse_flv(got["flv"].resp.body)))


@pytest.mark.rule("HFLV-5")
async def test_flv_timestamps_follow_rtmp(rtmp, http):
    """Matches every delivered frame to the published one by its coded bytes.

    Requirement (HFLV-5): FLV time = RTMP time + one constant; CompositionTime kept.
    """
    got, why = await pull_flv(rtmp, http, "HFLV-5")
    if why:
        rtmp.judge(why)
        return
    tags = parse_flv(got["flv"].resp.body).tags
    rtmp.judge(check_same_timing("HFLV-5", "HTTP-FLV", sent_frames(got["_stream"], got["_sent"]), flv_frames(tags)))


@pytest.mark.rule("HFLV-6")
async def test_flv_cors(rtmp, http):
    """Checks the response headers of the live body.

    Requirement (HFLV-6): Access-Control-Allow-Origin for browser players.
    """
    got, why = await pull_flv(rtmp, http, "HFLV-6")
    rtmp.judge(why if why else check_cors("HFLV-6", got["flv"].resp))
