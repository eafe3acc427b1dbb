"""HTTP-TS output cases (catalogue section 12, HTS).

Each case publishes real H.264 (B-frames) + AAC over RTMP, opens GET {app}/{name}.ts on the
target's HTTP side (--http-target; --http-ts-url) mid-GOP, publishes on, and judges the body as
ISO/IEC 13818-1 transport stream. A target without HTTP-TS gets UNIMPLEMENTED.
"""

from __future__ import annotations

import pytest

from rtmpconf.harness.checks.media_timing import check_av_offset, check_same_timing
from rtmpconf.harness.checks.mpegts import (
    check_ts_continuity,
    check_ts_crc,
    check_ts_packets,
    check_ts_pcr,
    check_ts_psi_first,
    check_ts_starts_with_keyframe,
)
from rtmpconf.harness.http.frames import ts_frames
from rtmpconf.harness.http.mpegts import parse_ts
from rtmpconf.harness.http.scenarios import live_pull, sent_frames
from rtmpconf.harness.verdict import Finding, Verdict


async def pull_ts(rtmp, http, rule: str):
    missing = http.missing("ts", rule)
    if missing is not None:
        return None, missing
    got = await live_pull(rtmp, http, ["ts"])
    pull = got["ts"]
    if pull.error is not None:
        return None, Finding(rule, Verdict.FAIL, f"HTTP-TS request failed: {pull.error}")
    absent = http.absent("ts", rule, pull.resp)
    if absent is not None:
        return None, absent
    if pull.resp.status != 200:
        return None, Finding(rule, Verdict.FAIL, f"HTTP-TS answered {pull.resp.status} for a published stream")
    return got, None


@pytest.mark.rule("HTS-1")
async def test_ts_packets(rtmp, http):
    """Reads the live body for a few seconds (we cut it: a partial last packet is ours).

    Requirement (ISO 13818-1 §2.4.3.2): 188-byte packets, sync_byte 0x47.
    """
    got, why = await pull_ts(rtmp, http, "HTS-1")
    if why:
        rtmp.judge(why)
        return
    body = got["ts"].resp.body
    rtmp.judge(check_ts_packets(parse_ts(body), body_len=len(body), cut=not got["ts"].resp.complete))


@pytest.mark.rule("HTS-2")
async def test_ts_pat_pmt_first(rtmp, http):
    """Joins mid-GOP.

    Requirement (§2.4.4): PAT and PMT before any elementary stream packet.
    """
    got, why = await pull_ts(rtmp, http, "HTS-2")
    rtmp.judge(why if why else check_ts_psi_first(parse_ts(got["ts"].resp.body)))


@pytest.mark.rule("HTS-3")
async def test_ts_continuity_counters(rtmp, http):
    """Reads a few seconds of the live body.

    Requirement (§2.4.3.3): continuity_counter +1 mod 16 per PID on packets with payload.
    """
    got, why = await pull_ts(rtmp, http, "HTS-3")
    rtmp.judge(why if why else check_ts_continuity(parse_ts(got["ts"].resp.body)))


@pytest.mark.rule("HTS-4")
async def test_ts_pcr(rtmp, http):
    """Reads a few seconds of the live body.

    Requirement (§2.7.2): PCR on the PCR_PID at most 0.1 s apart, increasing.
    """
    got, why = await pull_ts(rtmp, http, "HTS-4")
    rtmp.judge(why if why else check_ts_pcr(parse_ts(got["ts"].resp.body)))


@pytest.mark.rule("HTS-5")
async def test_ts_psi_crc(rtmp, http):
    """Recomputes the CRC_32 of every PAT/PMT section.

    Requirement (§2.4.4, Annex A): a correct CRC_32 on each section.
    """
    got, why = await pull_ts(rtmp, http, "HTS-5")
    rtmp.judge(why if why else check_ts_crc(parse_ts(got["ts"].resp.body)))


@pytest.mark.rule("HTS-6")
async def test_ts_pts_dts_from_rtmp(rtmp, http):
    """Publishes H.264 with B-frames (CompositionTime > 0) and AAC; matches PES to published frames.

    Requirement (HTS-6): DTS = RTMP time x 90 + constant; PTS - DTS = CompositionTime x 90.
    """
    got, why = await pull_ts(rtmp, http, "HTS-6")
    if why:
        rtmp.judge(why)
        return
    frames = ts_frames(parse_ts(got["ts"].resp.body))
    rtmp.judge(check_same_timing("HTS-6", "HTTP-TS", sent_frames(got["_stream"], got["_sent"]), frames))


@pytest.mark.rule("HTS-7")
async def test_ts_audio_video_offset(rtmp, http):
    """Compares the audio and the video offsets against the published timestamps.

    Requirement (HTS-7): audio/video offset preserved within one frame.
    """
    got, why = await pull_ts(rtmp, http, "HTS-7")
    if why:
        rtmp.judge(why)
        return
    frames = ts_frames(parse_ts(got["ts"].resp.body))
    rtmp.judge(check_av_offset("HTS-7", "HTTP-TS", sent_frames(got["_stream"], got["_sent"]), frames))


@pytest.mark.rule("HTS-8")
async def test_ts_starts_at_keyframe(rtmp, http):
    """Joins 1.5 s into the publish (keyframes every second).

    Requirement (HTS-8): the first video access unit is an IDR.
    """
    got, why = await pull_ts(rtmp, http, "HTS-8")
    rtmp.judge(why if why else check_ts_starts_with_keyframe(parse_ts(got["ts"].resp.body)))
