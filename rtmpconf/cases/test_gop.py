"""GOP cache and late-joiner cases (catalogue section 8)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from rtmpconf import records
from rtmpconf.harness.checks.gop import (
    check_audio_only_join,
    check_cache_from_latest_keyframe,
    check_cached_timestamps,
    check_gop_start,
    check_long_gop_join,
    check_republish,
    check_slow_reader,
)
from rtmpconf.harness.checks.media import avc_sequence_header, synthetic_stream, video_tag
from rtmpconf.harness.checks.timestamps import check_relayed_timing
from rtmpconf.harness.client import PeerClosed, RtmpClient, StepTimeout
from rtmpconf.harness.scenarios import (
    index_at,
    open_player,
    open_publisher,
    publish_stream,
    relay_tags,
    send_metadata,
    settle_relay,
    tags_with_headers,
)
from rtmpconf.harness.testmedia import MediaTag, make_h264_aac
from rtmpconf.harness.timing import TRANSFER_MARGIN
from rtmpconf.harness.verdict import Verdict
from rtmpconf.rtmp.messages import SetChunkSize


@pytest.mark.rule("GOP-1")
async def test_late_joiner_starts_at_keyframe(rtmp):
    """Publishes real H.264/AAC (PyAV) for 1.5 GOPs, then a player joins mid-GOP.

    Requirement (GOP-1/AV-4): a late joiner receives onMetaData, the video and audio sequence
    headers, then coded video starting at a keyframe; never an inter frame first.
    """
    name = rtmp.stream_name()
    async with rtmp.client(label="publisher") as pub:
        stream = await publish_stream(pub, name, until_ms=1500)
        async with rtmp.client(label="player") as player:
            await player.handshake()
            await player.connect()
            t0 = time.monotonic()
            await player.play(name)
            await publish_more(pub, stream, 1500, 2400)
            await settle_relay(pub, player, last=[t for t in stream.tags if t.timestamp < 2400][-1].payload)
    rtmp.judge(check_gop_start(player.log, play_time=t0))


async def publish_more(pub, stream, from_ms: int, to_ms: int) -> None:
    await pub.publish_media([t for t in stream.tags if from_ms <= t.timestamp < to_ms])
    await asyncio.sleep(0)


# -- GOP-1 variants ---------------------------------------------------------------------------------


@pytest.mark.rule("GOP-1")
@pytest.mark.parametrize("join", ["right-after-keyframe", "before-first-keyframe"])
async def test_late_joiner_first_frame(rtmp, join):
    """Publishes real H.264/AAC; a player joins right after the keyframe at 1000 ms was sent (the
    cache holds just that keyframe), or joins a stream that started mid-GOP (inter frames from
    200 ms, first keyframe at 1000 ms) before any keyframe was published. The publisher goes on
    past the next keyframe (2000 ms): a server without a GOP cache (GOP-3) starts there.

    Requirement (GOP-1): "The first coded video message must be FrameType 1 with AVCPacketType 1,
    after both SHs" — even when the cache is a single frame, or empty.
    """
    s = make_h264_aac(seconds=4.0)
    tags = tags_with_headers(s)
    if join == "right-after-keyframe":
        cut = index_at(tags, 1000) + 1  # up to and including the keyframe at 1000 (video first on ties)
    else:
        start = index_at(tags, 200)
        tags = tags[:2] + tags[start:]
        cut = index_at(tags, 400)
    tags = tags[:index_at(tags, 2200)]
    player = await relay_tags(rtmp, tags, join_after=cut)
    rtmp.judge(check_gop_start(player.log, expect_metadata=True))


# -- GOP-2 ------------------------------------------------------------------------------------------


@pytest.mark.rule("GOP-2")
async def test_cache_holds_only_latest_gop(rtmp):
    """Publishes 2.3 s of real H.264/AAC (keyframes at 0, 1000, 2000 ms); a player joins, then
    0.9 s more is published (through the keyframe at 3000 ms).

    Requirement (GOP-2): "The cache holds everything from the most recent keyframe, audio included,
    and is cleared on each new keyframe" — the joiner starts at the keyframe of 2000 ms and gets
    no frame published before it (a server without a cache starts at 3000 ms: recorded, GOP-3).
    """
    tags = tags_with_headers(make_h264_aac(seconds=4.0))
    cut = index_at(tags, 2300)
    latest = max(i for i, t in enumerate(tags[:cut]) if t.keyframe)
    player = await relay_tags(rtmp, tags[:index_at(tags, 3200)], join_after=cut)
    rtmp.judge(check_cache_from_latest_keyframe(player.log, tags, latest))


# -- GOP-4 ------------------------------------------------------------------------------------------


@pytest.mark.rule("GOP-4")
@pytest.mark.parametrize("join", ["late-joiner", "before-audio-header"])
async def test_audio_only_joiner(rtmp, join):
    """Publishes an audio-only stream (AAC sequence header and real AAC frames, no video at all); a
    player joins after 0.5 s of audio, or before the publisher sent anything but onMetaData; the
    publisher then sends 0.5 s more at once.

    Requirement (GOP-4): "an audio-only joiner gets the AAC SH and live audio within 100 ms" — no
    waiting for a video keyframe that never comes.
    """
    s = make_h264_aac(seconds=2.0)
    tags = [MediaTag(8, 0, s.audio_sequence_header or b"", False, True)] + [t for t in s.tags if t.type_id == 8]
    cut = index_at(tags, 500) if join == "late-joiner" else 0
    player = await relay_tags(rtmp, tags[:index_at(tags, 1000)], join_after=cut)
    # 100 ms on a direct link; over an impaired one, plus the way up and down and the transfer
    # time of what crossed the link meanwhile (harness.timing).
    t = rtmp.timing
    rates = (t.up_bytes_s / t.scale / TRANSFER_MARGIN, t.down_bytes_s / t.scale / TRANSFER_MARGIN)
    rtmp.judge(check_audio_only_join(player.log, publisher_log=rtmp.clients[0].log,
                                     limit_ms=1000 * t.within(0.1), link_rates=rates))


# -- GOP-5 ------------------------------------------------------------------------------------------


@pytest.mark.rule("GOP-5")
async def test_long_gop_joiner_served(rtmp):
    """Publishes a keyframe followed by 1100 small inter frames (a 44 s GOP, sent at once), then a
    player joins and the next keyframe and a few frames follow.

    Requirement (GOP-5, robustness): "The cache must be bounded ... joiners are still served, at
    worst from the next keyframe" — which keyframe the joiner starts at is recorded; an inter frame
    first, or nothing, is NON-STRICT.
    """
    n = 1100
    tags = [MediaTag(9, 0, avc_sequence_header(), False, True)]
    tags += [video_tag(i, 40 * i, key=i == 0, size=120) for i in range(n)]
    tail = [video_tag(n + i, 40 * (n + i), key=i == 0, size=120) for i in range(5)]
    player = await relay_tags(rtmp, tags + tail, join_after=len(tags))
    rtmp.judge(check_long_gop_join(player.log, [tags[1].payload, tail[0].payload], gop_frames=n))


# -- GOP-6 ------------------------------------------------------------------------------------------


@pytest.mark.rule("GOP-6")
@pytest.mark.parametrize("headers", ["sent-at-start", "resent-mid-gop"])
async def test_cached_header_timestamps(rtmp, headers):
    """Publishes real H.264/AAC from ts 60,000 with the sequence headers at the start, or sent again
    (same bytes) at +1200 ms, i.e. after the keyframe of +1000 ms; a player joins at +1400 ms.

    Requirement (GOP-6): "SH timestamp ≤ first frame timestamp, and timestamps are non-decreasing on
    each csid" at the late joiner.
    """
    tags = tags_with_headers(make_h264_aac(seconds=2.0, start_ms=60_000))
    if headers == "resent-mid-gop":
        at = index_at(tags, 1200)
        tags = tags[:at] + [records.replace(t, timestamp=tags[at].timestamp) for t in tags[:2]] + tags[at:]
    player = await relay_tags(rtmp, tags[:index_at(tags, 1700)], join_after=index_at(tags, 1400))
    rtmp.judge(check_cached_timestamps(player.log))


# -- GOP-7 ------------------------------------------------------------------------------------------


async def publish_when_free(pub: RtmpClient, name: str, attempts: int = 10) -> None:
    """The previous publisher just left; the target may need a moment to free the name."""
    for _ in range(attempts):
        status = await pub.publish(name, fmle=False)
        if status.get("code") == "NetStream.Publish.Start":
            await send_metadata(pub)
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"republish of {name} refused {attempts} times: {status}")


@pytest.mark.rule("GOP-7")
@pytest.mark.parametrize("case", ["publisher-closes", "publisher-reset", "joiner-after-republish"])
async def test_republish_no_stale_frames(rtmp, case):
    """Publisher A sends 1.4 s of real 320x180 H.264/AAC (mid-GOP at the end) and closes the TCP
    connection (or resets it); publisher B republishes the name with 256x144 (another SPS) from
    ts 0. A player watches throughout, or joins after B's first 0.4 s (B then goes on past its
    keyframe at 1000 ms, where a server without a GOP cache starts the joiner).

    Requirement (GOP-7): "On republish, existing players must get the new SHs and a keyframe before
    any frame ... No stale frames may leak out."
    """
    a = tags_with_headers(make_h264_aac(seconds=2.0))
    b_stream = make_h264_aac(seconds=2.0, width=256, height=144)
    b = tags_with_headers(b_stream)
    late = case == "joiner-after-republish"
    a, b = a[:index_at(a, 1400)], b[:index_at(b, 1200 if late else 800)]
    name = rtmp.stream_name()
    async with contextlib.AsyncExitStack() as stack:
        pub_a = await open_publisher(stack, rtmp, name, label="publisher A")
        await send_metadata(pub_a)
        player = None if late else await open_player(stack, rtmp, name)
        await pub_a.publish_media(a)
        await settle_relay(pub_a, *([player] if player else []))
        if case == "publisher-reset":
            pub_a.abort()
        else:
            await pub_a.close()
        if player is not None:
            with contextlib.suppress(StepTimeout):
                await player.wait_status("unpublish notify", ("NetStream.Play.UnpublishNotify",), timeout=1.0)
        pub_b = await stack.enter_async_context(rtmp.client(label="publisher B"))
        await pub_b.handshake()
        await pub_b.connect()
        await publish_when_free(pub_b, name)
        cut = index_at(b, 400) if late else len(b)
        await pub_b.publish_media(b[:cut])
        if late:
            await pub_b.probe("publisher B before join", timeout=3.0)
            player = await open_player(stack, rtmp, name)
            await pub_b.publish_media(b[cut:])
        assert player is not None
        await settle_relay(pub_b, player, last=b[-1].payload)
    rtmp.judge(check_republish(
        player.log, old_sh=a[0].payload, old_frames={t.payload for t in a if t.type_id == 9 and not t.sequence_header},
        new_sh=b_stream.video_sequence_header,
        new_frames={t.payload for t in b if t.type_id == 9 and not t.sequence_header}))


# -- GOP-8 ------------------------------------------------------------------------------------------

BIG_FRAME = 100_000
#: 12 MB: past the reference server's 4 MiB player queue plus what the kernel buffers on loopback
#: (the target's send buffer grows to tcp_wmem max, 4 MB by default, ~8 MB absorbed in all).
BULK_FRAMES = 120


@pytest.mark.exclusive  # 12 MB through one player's buffers as fast as it goes: alone, like a memory case
@pytest.mark.rule("GOP-8")
async def test_stalled_player(rtmp):
    """A player plays, then stops reading its socket; the publisher (chunk size 64 kB) sends 12 MB
    of video (100 kB frames, a keyframe every 20) as fast as it can; the player reads again, and a
    keyframe and 4 frames follow.

    Requirement (GOP-8, convention): "Slow readers are handled by dropping, not unbounded buffering
    ... it restarts cleanly from an SH plus a keyframe, or is disconnected" — and the publisher is
    not slowed down. The reference server queues at most 4 MiB per player.
    """
    head = [MediaTag(9, 0, avc_sequence_header(), False, True)]
    head += [video_tag(i, 40 * i, key=i == 0, size=2000) for i in range(3)]
    bulk = [video_tag(10 + i, 40 * (3 + i), key=i % 20 == 0, size=BIG_FRAME) for i in range(BULK_FRAMES)]
    t_end = 40 * (3 + BULK_FRAMES)
    tail = [video_tag(10_000 + i, t_end + 40 * i, key=i == 0, size=2000) for i in range(5)]
    tags = head + bulk + tail
    bulk_bytes = sum(len(t.payload) for t in bulk)
    if rtmp.too_slow(bulk_bytes):
        return
    name = rtmp.stream_name()
    async with contextlib.AsyncExitStack() as stack:
        pub = await open_publisher(stack, rtmp, name)
        await send_metadata(pub)
        await pub.send(SetChunkSize(65536))
        player = await open_player(stack, rtmp, name)
        assert player.writer is not None
        await pub.publish_media(head)
        await settle_relay(pub, player)
        # Stop reading at the socket (not a smaller SO_RCVBUF: Linux keeps the shrunk window clamp
        # for the rest of the connection, and the catch-up would then crawl at a few kB/s).
        player.writer.transport.pause_reading()  # type: ignore[attr-defined]
        t0 = time.monotonic()
        # What accepting 12 MB may take: 5 s on a direct link, plus the uplink's transfer time.
        publish_budget = rtmp.timing.within(5.0) + rtmp.transfer_s(bulk_bytes, down=False)
        await pub.publish_media(bulk)
        publisher_ok = await pub.probe("publisher during stall", timeout=5.0)
        publish_s = time.monotonic() - t0
        player.writer.transport.resume_reading()  # type: ignore[attr-defined]
        with contextlib.suppress(PeerClosed):
            await player.probe("stalled player drains", timeout=10.0)
            await pub.publish_media(tail)
            await settle_relay(pub, player, last=tail[-1].payload, timeout=5.0)
    rtmp.judge(check_slow_reader(player.log, tags, publish_seconds=publish_s,
                                 publish_bytes=bulk_bytes, publisher_ok=publisher_ok,
                                 tail_from=len(head) + len(bulk), slow_publish_s=publish_budget))


# -- GOP-9 ------------------------------------------------------------------------------------------


@pytest.mark.rule("GOP-9")
@pytest.mark.parametrize("lag", ["audio-60ms-behind-video", "video-60ms-behind-audio"])
async def test_small_av_disorder_tolerated(rtmp, lag):
    """Publishes 1.2 s of video and AAC where every audio message is sent after the video up to
    60 ms later than it (audio ts 1000 after video ts 1040), or the other way round.

    Requirement (GOP-9): "Players must tolerate small cross-stream disorder, for example audio ts
    1000 arriving after video ts 1040" — so must a server: every frame is relayed with its
    track's deltas (nothing dropped or clamped because the other track is ahead).
    """
    tags = synthetic_stream(start_ms=1000, seconds=1.2)
    late_type = 8 if lag.startswith("audio") else 9
    tags = tags[:2] + sorted(tags[2:], key=lambda t: t.timestamp + (60 if t.type_id == late_type else 0))
    player = await relay_tags(rtmp, tags)
    rtmp.judge(check_relayed_timing(player.log, tags, rule="GOP-9", violation=Verdict.NON_STRICT))
