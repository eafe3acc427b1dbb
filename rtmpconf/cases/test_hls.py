"""HLS output cases (catalogue section 13, HLS).

Each case publishes real H.264 + AAC over RTMP in steps (as fast as the link goes: HLS servers cut
segments on media time), reloads the target's playlist (--http-target; --hls-url, default
/hls/{name}.m3u8) after each step until it grows, and downloads the listed segments. A target
without HLS gets UNIMPLEMENTED.
"""

from __future__ import annotations

import pytest

from rtmpconf.harness.checks.hls import (
    check_discontinuity_marked,
    check_extinf_within_target,
    check_playlist_syntax,
    check_reloads,
    check_segment_timeline,
    check_segments_psi,
    check_segments_start_idr,
    check_target_constant,
)
from rtmpconf.harness.http.scenarios import (
    fetch_segments,
    hls_run,
    media,
    poll_playlist,
    published,
)
from rtmpconf.harness.scenarios import publish_stream
from rtmpconf.harness.verdict import Finding, Verdict


async def run_hls(rtmp, http, rule: str, **kw):
    missing = http.missing("hls", rule)
    if missing is not None:
        return None, missing
    run = await hls_run(rtmp, http, **kw)
    if not run.playlists:
        resp = run.first
        if not run.settled and not rtmp.timing.is_direct:
            return None, Finding(rule, Verdict.NOT_RUN, f"the media had not reached the server over "
                                                        f"{rtmp.timing.describe()} when the playlist was read")
        if resp is not None:
            absent = http.absent("hls", rule, resp)
            if absent is not None:
                return None, absent
        return None, Finding(rule, Verdict.FAIL, f"no Media Playlist with a segment at {run.url} after publishing "
                                                 f"{max(kw.get('steps', (14000,))) / 1000:g} s of media "
                                                 f"(last answer {resp.status if resp else 'none'})")
    return run, None


@pytest.mark.rule("HLS-1")
async def test_playlist_syntax(rtmp, http):
    """Publishes 6 s of media, fetches the playlist.

    Requirement (RFC 8216 §4.3.1.1, §4.3.2.1, §4.3.3.1): #EXTM3U first, one EXT-X-TARGETDURATION,
    an EXTINF before every URI.
    """
    run, why = await run_hls(rtmp, http, "HLS-1", steps=(6000,), download=False)
    rtmp.judge(why if why else [f for pl in run.playlists for f in check_playlist_syntax(pl)])


@pytest.mark.rule("HLS-2")
async def test_extinf_within_target_duration(rtmp, http):
    """Publishes 14 s in three steps, reloading the playlist after each.

    Requirement (RFC 8216 §4.3.3.1): "The EXTINF duration of each Media Segment ..., when rounded
    to the nearest integer, MUST be less than or equal to the target duration."
    """
    run, why = await run_hls(rtmp, http, "HLS-2", download=False)
    rtmp.judge(why if why else check_extinf_within_target(run.playlists))


@pytest.mark.rule("HLS-3")
async def test_reloads_consistent(rtmp, http):
    """Publishes 14 s in three steps, reloading the playlist after each until it grows.

    Requirement (RFC 8216 §6.2.1/§6.2.2): only append, remove from the front, media sequence grows.
    """
    run, why = await run_hls(rtmp, http, "HLS-3", download=False)
    rtmp.judge(why if why else check_reloads(run.playlists))


@pytest.mark.rule("HLS-4")
async def test_target_duration_constant(rtmp, http):
    """Publishes 14 s in three steps, reloading the playlist after each.

    Requirement (RFC 8216 §6.2.1): "The EXT-X-TARGETDURATION value MUST NOT change."
    """
    run, why = await run_hls(rtmp, http, "HLS-4", download=False)
    rtmp.judge(why if why else check_target_constant(run.playlists))


@pytest.mark.rule("HLS-4", id="gop-longer-than-fragment")
async def test_target_duration_constant_with_long_gop(rtmp, http):
    """Publishes 15 s with a keyframe every 3 s in three steps, reloading the playlist after each
    (servers that size the target from the longest segment seen are tempted to raise it).

    Requirement (RFC 8216 §6.2.1): "The EXT-X-TARGETDURATION value MUST NOT change."
    """
    run, why = await run_hls(rtmp, http, "HLS-4", steps=(6000, 10000, 15000), download=False,
                             stream=media(seconds=16.0, bframes=0, gop=75))
    rtmp.judge(why if why else check_target_constant(run.playlists))


@pytest.mark.rule("HLS-5")
async def test_segments_carry_pat_pmt(rtmp, http):
    """Downloads every segment listed after 14 s of media.

    Requirement (RFC 8216 §3.2): "Each Transport Stream segment MUST contain a PAT and a PMT".
    """
    run, why = await run_hls(rtmp, http, "HLS-5")
    rtmp.judge(why if why else check_segments_psi(run.segments))


@pytest.mark.rule("HLS-6")
async def test_segments_start_with_keyframe(rtmp, http):
    """Downloads every segment listed after 14 s of media (keyframes every second).

    Requirement (HLS-6): each segment starts with an IDR.
    """
    run, why = await run_hls(rtmp, http, "HLS-6")
    rtmp.judge(why if why else check_segments_start_idr(run.segments))


@pytest.mark.rule("HLS-7", id="timeline-across-segments")
async def test_timeline_across_segments(rtmp, http):
    """Downloads every segment listed after 14 s of continuous media.

    Requirement (RFC 8216 §4.3.2.3): without EXT-X-DISCONTINUITY the timestamps continue from one
    segment to the next.
    """
    run, why = await run_hls(rtmp, http, "HLS-7")
    rtmp.judge(why if why else check_segment_timeline(run.segments))


@pytest.mark.rule("HLS-7", id="publisher-timestamp-jump")
async def test_publisher_timestamp_jump(rtmp, http):
    """Publishes 6 s, then the publisher's clock jumps back 4 s and goes on for 8 s (an encoder
    restart without a new connection; SRS #2808 gave negative deltas in HLS here).

    Requirement (RFC 8216 §4.3.2.3): the segments continue one timeline, or EXT-X-DISCONTINUITY
    marks the change; never a negative delta without it.
    """
    missing = http.missing("hls", "HLS-7")
    if missing is not None:
        rtmp.judge(missing)
        return
    st = media(seconds=9.0)
    name = rtmp.stream_name()
    url = http.url("hls", name)
    async with rtmp.client(label="publisher") as pub:
        await publish_stream(pub, name, until_ms=6000, stream=st)
        # 6000 ms later in media time, stamped 2000 ms: a 4 s backward jump (the keyframe at 6 s
        # carries it; an AAC/video SH is not repeated).
        await pub.publish_media(published(st, 9000, 1000, shift=1000))
        await pub.publish_media(published(st, 9000, 1000, shift=9000))
        # Every frame processed before the first playlist read, so the segments after the jump
        # are there however busy the machine is (a ping round trip, CTRL-10).
        await pub.probe("publisher's media processed")
        pl, resp = await poll_playlist(http, url)
    if pl is None:
        absent = http.absent("hls", "HLS-7", resp) if resp is not None else None
        rtmp.judge(absent or Finding("HLS-7", Verdict.FAIL, f"no playlist at {url}"))
        return
    segments = await fetch_segments(http, url, pl)
    rtmp.judge(check_segment_timeline(segments, max_gap_s=2.0))


@pytest.mark.rule("HLS-7", id="discontinuity-after-republish")
async def test_discontinuity_after_republish(rtmp, http):
    """Publishes 6 s, unpublishes, publishes the same name again with timestamps from 0 for 6 s.

    Requirement (RFC 8216 §4.3.2.3): "The EXT-X-DISCONTINUITY tag MUST be present if there is a
    change in ... timestamp sequence".
    """
    missing = http.missing("hls", "HLS-7")
    if missing is not None:
        rtmp.judge(missing)
        return
    st = media(seconds=7.0)
    name = rtmp.stream_name()
    url = http.url("hls", name)
    async with rtmp.client(label="publisher 1") as pub:
        await publish_stream(pub, name, until_ms=6000, stream=st)
        # On a slow link the media may still be on its way: hang up only once the server has it
        # all, so the republish below does not meet a publisher that has not left yet.
        await pub.probe("publisher 1 settled")
        first, resp = await poll_playlist(http, url)
    if first is None:
        absent = http.absent("hls", "HLS-7", resp) if resp is not None else None
        rtmp.judge(absent or Finding("HLS-7", Verdict.FAIL, f"no playlist at {url}"))
        return
    # The server may close its open segment when the publisher leaves: wait briefly for it.
    settled, _ = await poll_playlist(http, url, newer_than=first, wait=2.0)
    if settled is not None and settled.segments:
        first = settled
    before = await fetch_segments(http, url, first, only=[first.segments[-1].seq])
    async with rtmp.client(label="publisher 2") as pub2:
        await publish_stream(pub2, name, until_ms=7000, stream=st)
        after_pl, _ = await poll_playlist(http, url, newer_than=first)
    if after_pl is None or not after_pl.segments or after_pl.segments[-1].seq <= first.segments[-1].seq:
        rtmp.judge(Finding("HLS-7", Verdict.NOT_RUN, "no new segment appeared after the republish"))
        return
    new = [s.seq for s in after_pl.segments if s.seq > first.segments[-1].seq]
    after = await fetch_segments(http, url, after_pl, only=new[:1])
    rtmp.judge(check_discontinuity_marked(before, after, after_pl))
