"""Timestamp cases (catalogue section 3, Adobe RTMP 1.0 §4, §5.3.1.2-5.3.1.3, FLV E.4.3.1).

Every case publishes through the target and judges what a player receives. Media is short and sent
as fast as possible; ``settle`` (a ping on the publisher, then on each player) replaces sleeps: once
the publisher's PingResponse is back the target has taken in everything, and a player's
PingResponse arrives behind whatever the target had queued for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import pytest

from rtmpconf import records
from rtmpconf.harness.checks.media import (
    avc_sequence_header,
    check_composition_times,
    filler,
    synthetic_stream,
    video_tag,
)
from rtmpconf.harness.checks.timestamps import (
    check_aac_cadence,
    check_backward_delta,
    check_csid_deltas,
    check_extended_form,
    check_first_fmt0_per_csid,
    check_fmt3_ext_dialect,
    check_monotonic,
    check_relayed_timing,
    check_server_extended_delta,
)
from rtmpconf.harness.client import PeerClosed, RtmpClient, StepTimeout
from rtmpconf.harness.scenarios import (
    index_at,
    open_player,
    open_publisher,
    relay_tags,
    send_metadata,
    settle_relay,
    tags_with_headers,
)
from rtmpconf.harness.testmedia import MediaTag, make_h264_aac
from rtmpconf.harness.verdict import Verdict, failed, not_run
from rtmpconf.rtmp.chunk import MessagePlan
from rtmpconf.rtmp.errors import ProtocolError
from rtmpconf.rtmp.messages import Audio, SetChunkSize, UserControl, Video

MASK = 0xFFFFFFFF


#: The onMetaData object these cases publish.
METADATA = {"width": 320.0, "height": 180.0}


# -- scenario steps ------------------------------------------------------------------------------


async def send_tags(pub: RtmpClient, tags: Sequence[MediaTag], *, fmt0: bool = False,
                    ext_on_fmt3: bool | None = None) -> None:
    """Publish tags; ``fmt0`` forces an absolute header on every message (a boundary timestamp then
    appears in the header itself, TS-2/TS-5)."""
    if not fmt0:
        await pub.publish_media(tags)
        return
    for t in tags:
        msg = Audio(t.payload) if t.type_id == 8 else Video(t.payload)
        await pub.send_planned(msg, MessagePlan(fmt=0, ext_ts_on_fmt3=ext_on_fmt3), msid=pub.stream_id or 1,
                               timestamp=t.timestamp & MASK)


def shifted(tags: Sequence[MediaTag], offset: int) -> list[MediaTag]:
    return [records.replace(t, timestamp=t.timestamp + offset) for t in tags]


def avc_sh_tag(ts: int, **kw) -> MediaTag:
    return MediaTag(9, ts, avc_sequence_header(**kw), False, True)


async def relay(rtmp, tags: Sequence[MediaTag], *, join_after: int | None = None, fmt0: bool = False,
                ext_on_fmt3: bool | None = None, pub_kw: dict | None = None) -> RtmpClient:
    """Publish ``tags`` with ``send_tags(fmt0=, ext_on_fmt3=)`` after onMetaData at the first tag's
    timestamp; the player joins before the first one, or after ``tags[:join_after]``."""
    async def send(pub: RtmpClient, part: Sequence[MediaTag]) -> None:
        await send_tags(pub, part, fmt0=fmt0, ext_on_fmt3=ext_on_fmt3)

    return await relay_tags(rtmp, tags, join_after=join_after, metadata=METADATA,
                            metadata_ts=tags[0].timestamp & MASK, send=send, **(pub_kw or {}))


def stream_seconds(join: str) -> float:
    """Real test streams are 2 s; one a late joiner plays at 1.2 s runs on past the keyframe at
    2 s, where a server without a GOP cache (nginx ``wait_key``, GOP-3) starts its video."""
    return 2.0 if join == "early-player" else 2.4


# -- TS-1 ------------------------------------------------------------------------------------------


@pytest.mark.rule("TS-1")
@pytest.mark.parametrize("join", ["early-player", "late-joiner"])
async def test_stream_starting_at_one_hour(rtmp, join):
    """Publishes real H.264/AAC whose first timestamp is 3,600,000 ms (1 h); the player joins before
    the first frame or mid-GOP (after 1.2 s; the stream goes on past the keyframe at +2 s, where a
    server without a GOP cache starts the joiner's video).

    Requirement (§4): timestamps are "milliseconds relative to an unspecified epoch. Typically, each
    stream will start with a timestamp of 0, but this is not required" — every frame reaches the
    player intact with the sent deltas (a rebase is only recorded).
    """
    tags = tags_with_headers(make_h264_aac(seconds=stream_seconds(join), start_ms=3_600_000))
    player = await relay(rtmp, tags, join_after=None if join == "early-player" else index_at(tags, 1200))
    rtmp.judge(check_relayed_timing(player.log, tags, rule="TS-1", expect_all=join == "early-player"))


# -- TS-2 ------------------------------------------------------------------------------------------


def boundary_video() -> list[MediaTag]:
    """Video around the 24-bit boundary: the keyframe that a late joiner starts at sits at
    16777215 exactly, so its absolute header needs the extended field; 16777214 does not. The
    keyframe at 16777335 is where a server without a GOP cache (GOP-3) starts the late joiner."""
    stamps = [16777134, 16777174, 16777214, 16777215, 16777216, 16777255, 16777295, 16777335, 16777375]
    keys = {16777134, 16777215, 16777335}
    return [avc_sh_tag(16777134)] + [video_tag(i, ts, key=ts in keys, size=300) for i, ts in enumerate(stamps)]


@pytest.mark.rule("TS-2")
@pytest.mark.parametrize("join", ["early-player", "late-joiner"])
async def test_extended_timestamp_boundary(rtmp, join):
    """Publishes video with every message as fmt 0 at 16777134, 16777174, 16777214 (24-bit field),
    16777215 (keyframe; field 0xFFFFFF + extended 0x00FFFFFF), 16777216, 16777255, 16777295,
    16777335 (keyframe), 16777375. The late joiner plays after 16777216, so its first frame has an
    absolute timestamp of 16777215 (GOP cache) or 16777335 (no cache: the next keyframe).

    Requirement (§5.3.1.2.1): "if the timestamp is greater than or equal to 16777215 (hexadecimal
    0xFFFFFF), this field MUST be 16777215, indicating the presence of the Extended Timestamp field"
    — the target decodes both forms and writes 16777215 in the extended form.
    """
    tags = boundary_video()
    player = await relay(rtmp, tags, join_after=None if join == "early-player" else 6, fmt0=True)
    rtmp.judge(check_relayed_timing(player.log, tags, rule="TS-2", expect_all=join == "early-player",
                                    ext_checks=True))


# -- TS-3 ------------------------------------------------------------------------------------------


async def send_ext_delta(pub: RtmpClient, tag: MediaTag, delta: int, forced: bool) -> None:
    """Video on csid 7: onMetaData at ts 11000 (fmt 0), then ``tag`` as fmt 1 with ``delta``."""
    await send_metadata(pub, METADATA, timestamp=11000, csid=7)
    if not forced:
        await pub.send_planned(Video(tag.payload), MessagePlan(fmt=1, ts_field=delta), msid=pub.stream_id or 1,
                               timestamp=tag.timestamp, csid=7)
        return
    assert len(tag.payload) <= 128
    await pub.send_raw(
        b"\x47"  # fmt 1, csid 7
        + b"\xff\xff\xff"  # timestamp delta field 0xFFFFFF: extended field follows
        + len(tag.payload).to_bytes(3, "big")  # message length
        + b"\x09"  # type 9 (video)
        + delta.to_bytes(4, "big")  # extended timestamp: the full 32-bit *delta* (0x00FFFC18)
        + tag.payload)  # <= 128 bytes: a single chunk


@pytest.mark.rule("TS-3")
@pytest.mark.parametrize("variant", ["delta-0x01000000", "forced-ext-0x00FFFC18"])
async def test_fmt1_extended_delta(rtmp, variant):
    """Video at 40 ms steps around 16787216; one frame goes on csid 7 right after an onMetaData at
    ts 11000 on that csid, as fmt 1 whose extended field holds the delta: 0x01000000 (a delta that
    needs it) or 0x00FFFC18 written in the extended form (the catalogue's vector, raw bytes). Decoded
    right, the frame lands exactly in the 40 ms cadence; read as an absolute value it is 11 s off.

    Requirement (§5.3.1.2.2 / TS-3): a fmt-1 delta of 0xFFFFFF or more is "16777215, indicating the
    presence of the Extended Timestamp field to encode the full 32 bit delta" — the extended field
    holds the delta, not an absolute time: 11000 + 0x00FFFC18 = 16787216.
    """
    delta = 0x01000000 if variant == "delta-0x01000000" else 0x00FFFC18
    target = 11000 + delta
    frames = [video_tag(i, target + 40 * (i - 12), key=i % 25 == 0, size=100) for i in range(20)]
    tags = [avc_sh_tag(frames[0].timestamp)] + frames
    name = rtmp.stream_name()
    async with contextlib.AsyncExitStack() as stack:
        pub = await open_publisher(stack, rtmp, name)
        player = await open_player(stack, rtmp, name)
        await send_tags(pub, tags[:13])
        await send_ext_delta(pub, tags[13], delta, forced=variant != "delta-0x01000000")
        await send_tags(pub, tags[14:])
        await settle_relay(pub, player, last=tags[-1].payload)
    rtmp.judge(check_relayed_timing(player.log, tags, rule="TS-3"))


# -- TS-3 (server side) ----------------------------------------------------------------------------


def offset_after_headers_stream() -> list[MediaTag]:
    """Sequence headers at the stream's start (ts 1000), frames from 1000 + 0x01000000: a muxer
    that applies a timestamp offset to frames but not to headers (FFmpeg stamps headers 0 with
    -output_ts_offset). A player already there sees a step of >= 0xFFFFFF ms on each chunk
    stream; the step (0x01000000) differs from the frame's absolute timestamp, so a server that
    writes the latter shows."""
    tags = synthetic_stream(start_ms=1000 + 0x01000000, seconds=0.8)
    return [records.replace(t, timestamp=1000) if t.sequence_header else t for t in tags]


def mid_stream_jump_stream() -> list[MediaTag]:
    """0.8 s of video and AAC from ts 1000, then both tracks go on 0x01000000 ms later (an encoder
    whose clock jumped, or a ts offset applied mid-stream)."""
    first = synthetic_stream(start_ms=1000, seconds=0.8)
    return first + synthetic_stream(start_ms=1800 + 0x01000000, seconds=0.8, headers=False, seq_base=1000)


@pytest.mark.rule("TS-3")
@pytest.mark.parametrize("step", ["offset-after-headers", "jump-mid-stream"])
async def test_server_extended_delta(rtmp, step):
    """A player plays before the first frame; the publisher sends the video and AAC sequence
    headers at ts 1000 and 0.8 s of frames from 1000 + 0x01000000 (an offset applied to frames
    only), or 0.8 s from ts 1000 and then 0.8 s more from 1800 + 0x01000000 (a forward jump
    mid-stream).
    Either way the player's chunk streams see a step of 0xFFFFFF ms or more: a server that relays
    it with a fmt 1/2 header must write the delta in the extended field.

    Requirement (§5.3.1.2.2/.3 / TS-3): a fmt 1/2 delta of 0xFFFFFF or more is "16777215,
    indicating the presence of the Extended Timestamp field to encode the full 32 bit delta" —
    the delta, never the absolute timestamp. A server that writes fmt 0 there, or re-times the
    step (rebasing, TS-12), never exercises the rule: NOT-RUN.
    """
    tags = offset_after_headers_stream() if step == "offset-after-headers" else mid_stream_jump_stream()
    player = await relay(rtmp, tags)
    rtmp.judge(check_server_extended_delta(player.log, tags))


# -- TS-4 ------------------------------------------------------------------------------------------

#: Linear PCM, little endian (SoundFormat 3), 44 kHz, 16-bit, stereo: FLV audio tag byte 0x3F. PCM
#: has no sequence header, so the first audio message any player gets (early or late) is a frame.
PCM_FLAGS = 0x3F
#: Above this the server's chunk size would make each message of this case megabytes long.
MAX_TS4_MESSAGE = 4 * 1024 * 1024


def big_ext_stream(start_ms: int, size: int, seconds: float = 1.0) -> list[MediaTag]:
    """An AVC sequence header, then video (keyframe every 400 ms) and PCM audio every 40 ms, every
    frame exactly ``size`` bytes (unique through its index): each one spans several chunks."""
    tags = [avc_sh_tag(start_ms)]
    for i in range(round(seconds * 25)):
        ts = start_ms + 40 * i
        tags.append(video_tag(i, ts, key=i % 10 == 0, size=size))
        body = i.to_bytes(4, "big") + filler(7000 + i, size - 5)
        tags.append(MediaTag(8, ts + 20, bytes((PCM_FLAGS,)) + body, False, False))
    return tags


@pytest.mark.rule("TS-4")
@pytest.mark.parametrize("join", ["early-player", "late-joiner"])
async def test_server_fmt3_extended_dialect(rtmp, join):
    """Publishes 1 s of video and linear-PCM audio from 0x01000000 ms, every frame twice the chunk
    size the server announced plus 100 bytes; a player joins before the first frame, or after
    0.5 s. Whatever a server sends first on a player's chunk stream at these timestamps (a PCM
    frame on the audio one: PCM has no sequence header) has an absolute header with the extended
    field and fmt-3 continuation chunks after it — on any server, whatever its chunk size.

    Requirement (§5.3.1.3, 2012 text): the extended field "is present in Type 3 chunks when the most
    recent Type 0, 1, or 2 chunk for the same chunk stream ID indicated the presence of an extended
    timestamp field" — omitting it (the pre-2012 dialect) fails the MUST; a mix of both (or other
    bytes there) no reader can follow.
    """
    name = rtmp.stream_name()
    async with contextlib.AsyncExitStack() as stack:
        pub = await open_publisher(stack, rtmp, name)
        await pub.probe("publisher settle")  # reads a Set Chunk Size the server sent after publish
        chunk_size = pub.conn.reader.chunk_size
        size = 2 * chunk_size + 100
        if size > MAX_TS4_MESSAGE:
            rtmp.judge(not_run("TS-4", f"the server's chunk size {chunk_size} would need messages of {size} bytes "
                               "to produce fmt-3 continuation chunks"))
            return
        tags = big_ext_stream(0x01000000, size)
        if rtmp.too_slow(sum(len(t.payload) for t in tags)):
            return
        await send_metadata(pub, METADATA, timestamp=tags[0].timestamp)
        cut = index_at(tags, 500) if join == "late-joiner" else 0
        await send_tags(pub, tags[:cut])
        if cut:
            await pub.probe("publisher before join", timeout=3.0)
        player = await open_player(stack, rtmp, name)
        await send_tags(pub, tags[cut:])
        await settle_relay(pub, player, last=tags[-1].payload)
    rtmp.judge(check_fmt3_ext_dialect(player.log, tags))


# -- TS-5 ------------------------------------------------------------------------------------------


@pytest.mark.rule("TS-5")
@pytest.mark.parametrize("dialect", ["ext-present", "ext-omitted"])
async def test_publisher_fmt3_extended_dialects(rtmp, dialect):
    """Publishes 1 s of video and audio from 0xFFFFFF - 500 ms, every message fmt 0 and longer than
    the 128-byte chunk size, so every message past the boundary has fmt-3 continuations after an
    extended header; the publisher (a) writes or (b) omits the 4 bytes there. Payload bytes are runs
    of consecutive values, never equal to the timestamp.

    Requirement (TS-5, robust reader): "peek the 4 bytes on each fmt3 continuation chunk. Consume them
    only if they equal the expected extended value" — the payloads reach a player byte-identical in
    both dialects (a corruption is FAIL for the 2012 dialect, NON-STRICT for the omitted one).
    """
    present = dialect == "ext-present"
    violation = Verdict.FAIL if present else Verdict.NON_STRICT
    tags = synthetic_stream(start_ms=0xFFFFFF - 500, seconds=1.0, video_size=700, audio_size=300, key_size=1500)
    broke = []
    try:
        player = await relay(rtmp, tags, fmt0=True, ext_on_fmt3=present,
                             pub_kw={} if present else {"ext_ts_on_fmt3": False})
    except (PeerClosed, StepTimeout, ProtocolError) as exc:
        if present:
            raise
        # A reader that always expects the 4 bytes (the 2012 dialect only) takes payload for them
        # and loses the chunk stream: it closes the publisher or relays garbage. That is the
        # omitted dialect's NON-STRICT outcome, judged with whatever reached the player.
        player = next((c for c in rtmp.clients if c.log.label == "player"), None)
        if player is None:
            raise  # it broke before any media was relayed: not this rule's condition
        broke = [failed("TS-5", "the target lost the publisher's chunk stream once fmt-3 chunks came without "
                        "the extended field (it always reads the 4 bytes)", expected="both dialects decoded",
                        actual=f"{type(exc).__name__}: {exc}"[:300], verdict=violation)]
    found = check_relayed_timing(player.log, tags, rule="TS-5", ext_checks=present, violation=violation)
    if not present:
        # The server's own output dialect is judged on decodability alone: payloads it already
        # mis-read from this publisher are reported above, at the omitted dialect's verdict.
        found += check_extended_form(player.log, quiet_if_unobserved=True)
        found += check_fmt3_ext_dialect(player.log, None, quiet_if_unobserved=True)
    rtmp.judge(broke, found)


# -- TS-6 ------------------------------------------------------------------------------------------


@pytest.mark.rule("TS-6")
@pytest.mark.parametrize("join", ["early-player", "late-joiner"])
async def test_crossing_24bit_boundary(rtmp, join):
    """Publishes 2 s of real H.264/AAC (1.5 Mbit/s: keyframes of 5-11 kB) from 0xFFFFFF - 500 ms.
    The early player sees the boundary crossed live (as deltas); the late joiner plays after 1.2 s,
    so the cached GOP starts at a keyframe past 0xFFFFFF: an extended fmt-0 header and fmt-3
    continuation chunks (for the late joiner the stream runs 2.4 s: a server without a GOP cache
    starts it at the keyframe of +2 s, just as far past the boundary).

    Requirement (TS-6): "Streams must survive crossing 0xFFFFFF ms (≈4 h 39 m 37 s)" — every frame
    arrives intact and the deltas across the boundary are the sent ones.
    """
    tags = tags_with_headers(make_h264_aac(seconds=stream_seconds(join), start_ms=0xFFFFFF - 500, bitrate=1_500_000))
    player = await relay(rtmp, tags, join_after=None if join == "early-player" else index_at(tags, 1200))
    rtmp.judge(check_relayed_timing(player.log, tags, rule="TS-6", expect_all=join == "early-player",
                                    ext_checks=True))


# -- TS-7 ------------------------------------------------------------------------------------------


def wrap_stream(before: int, after: int) -> list[MediaTag]:
    """Video every 40 ms and AAC (48 kHz cadence) up to ``before``, then from ``after`` on."""
    first = synthetic_stream(start_ms=before - 400, seconds=0.44)
    second = synthetic_stream(start_ms=after, seconds=0.44, headers=False, seq_base=1000)
    return [records.replace(t, timestamp=t.timestamp & MASK) for t in first + second]


@pytest.mark.rule("TS-7")
@pytest.mark.parametrize("wrap", ["0xFFFFFF00-to-0x100", "0x7FFFFF00-to-0x80000100"])
async def test_32bit_wrap(rtmp, wrap):
    """Publishes video (40 ms) and AAC up to 0xFFFFFF00, then from 0x00000100 (32-bit wrap, a
    512 ms step); or up to 0x7FFFFF00 then from 0x80000100 (crossing the sign bit).

    Requirement (§4): an RTMP application "SHOULD use serial number arithmetic [RFC1982] when
    processing timestamps, and SHOULD be capable of handling wraparound" (adjacent timestamps are
    within 2^31 - 1 ms) — the player sees the same steps across both points.
    """
    before, after = (0xFFFFFF00, 0x100) if wrap.startswith("0xFFFFFF00") else (0x7FFFFF00, 0x80000100)
    tags = wrap_stream(before, after)
    player = await relay(rtmp, tags)
    rtmp.judge(check_relayed_timing(player.log, tags, rule="TS-7", violation=Verdict.NON_STRICT))


# -- TS-8 ------------------------------------------------------------------------------------------


@pytest.mark.rule("TS-8")
async def test_huge_delta_is_jitter(rtmp):
    """Publishes video at 40 ms steps from 1000; frame 10 is sent as fmt 1 with an extended delta of
    0xFFFFFFF0 (16 ms back on the serial line, or +49.7 days read as unsigned), then the stream
    continues at 40 ms steps from the previous frame.

    Requirement (TS-8): "Deltas are unsigned. A backwards jump needs fmt0" — the target treats the
    delta as jitter or a reset, never as a 49-day jump; it keeps the publisher, relays every frame,
    and does not repeat the unsigned backward delta to players.
    """
    # Frame i at 1000 + 40 i, except frame 10: 16 ms before frame 9 (1360 - 16 = 1344).
    frames = [video_tag(i, 1344 if i == 10 else 1000 + 40 * i, key=i == 0, size=100) for i in range(20)]
    tags = [avc_sh_tag(1000)] + frames
    name = rtmp.stream_name()
    async with contextlib.AsyncExitStack() as stack:
        pub = await open_publisher(stack, rtmp, name)
        player = await open_player(stack, rtmp, name)
        await send_tags(pub, tags[:11])
        await pub.send_planned(Video(tags[11].payload), MessagePlan(fmt=1, ts_field=0xFFFFFFF0),
                               msid=pub.stream_id or 1, timestamp=tags[11].timestamp)
        await send_tags(pub, tags[12:])
        await settle_relay(pub, player, last=tags[-1].payload)
    rtmp.judge(check_backward_delta(player.log, tags, publisher_log=pub.log))


# -- TS-9 ------------------------------------------------------------------------------------------


@pytest.mark.rule("TS-9")
@pytest.mark.parametrize("headers", ["fmt1-with-continuations", "fmt3-new-messages"])
async def test_continuation_chunks_do_not_advance(rtmp, headers):
    """Publishes 25 video messages of 385-512 bytes 40 ms apart at chunk size 128: each is a first
    chunk plus three fmt-3 continuations. Lengths vary (every first chunk is fmt 1, delta 40) or are
    all equal (from the third message on the first chunk is itself fmt 3, reusing delta 40).

    Requirement (TS-9): "A message's timestamp comes from its first chunk. Continuation chunks do not
    advance it" — every delta at the player is 40.
    """
    vary = headers == "fmt1-with-continuations"
    tags = [avc_sh_tag(2000)] + [video_tag(i, 2000 + 40 * i, key=i == 0, size=(420 + (i % 7) * 12) if vary else 500)
                                 for i in range(25)]
    player = await relay(rtmp, tags)
    rtmp.judge(check_csid_deltas(player.log, {9: {40}}, rule="TS-9"))


# -- TS-10 -----------------------------------------------------------------------------------------


@pytest.mark.rule("TS-10")
@pytest.mark.parametrize("control", ["set-chunk-size", "ping-request"])
async def test_control_message_timestamp_ignored(rtmp, control):
    """Publishes 1 s of video and AAC; half-way the publisher sends a protocol control message (Set
    Chunk Size 4096) or a user control message (PingRequest) with timestamp 0xFFFFFFFF on csid 2.

    Requirement (§5.4, §6.2 / TS-10): timestamps of protocol and user control messages are ignored —
    media timing at the player is unchanged.
    """
    tags = synthetic_stream(start_ms=5000, seconds=1.0)
    half = index_at(tags, 500)
    name = rtmp.stream_name()
    async with contextlib.AsyncExitStack() as stack:
        pub = await open_publisher(stack, rtmp, name)
        player = await open_player(stack, rtmp, name)
        await send_tags(pub, tags[:half])
        if control == "set-chunk-size":
            await pub.send(SetChunkSize(4096), timestamp=0xFFFFFFFF)
        else:
            await pub.send(UserControl.ping_request(0x1234), timestamp=0xFFFFFFFF)
        await send_tags(pub, tags[half:])
        await settle_relay(pub, player, last=tags[-1].payload)
    rtmp.judge(check_relayed_timing(player.log, tags, rule="TS-10"))


# -- TS-11 -----------------------------------------------------------------------------------------


async def send_interleaved_chunks(pub: RtmpClient, tags: Sequence[MediaTag]) -> None:
    """Each video message's chunks alternate with the next audio message's chunks on the wire."""
    msid = pub.stream_id or 1
    i = 0
    while i < len(tags):
        group = [tags[i]]
        if i + 1 < len(tags) and tags[i + 1].type_id != tags[i].type_id:
            group.append(tags[i + 1])
        lists = []
        for t in group:
            csid = 4 if t.type_id == 8 else 6
            lists.append(pub.conn.writer.encode_planned(csid, t.type_id, msid, t.timestamp & MASK, t.payload,
                                                        MessagePlan()))
        out = []
        for k in range(max(len(x) for x in lists)):
            out.extend(x[k] for x in lists if k < len(x))
        await pub.send_raw(b"".join(out))
        i += len(group)


@pytest.mark.rule("TS-11")
@pytest.mark.parametrize("interleave", ["messages", "chunks"])
async def test_per_csid_timestamp_state(rtmp, interleave):
    """Publishes 1.2 s of AAC (same-length messages: fmt 2 deltas 21/21/22) on csid 4 and video
    (varying lengths: fmt 1 deltas 40) on csid 6, interleaved message by message, or chunk by chunk
    (600-byte video and 300-byte audio messages, 128-byte chunks alternating between the two).

    Requirement (§5.3.1.2 / TS-11): "Each chunk stream has its own timestamp/delta state" — the
    player sees only audio deltas 21/22 and video deltas 40.
    """
    chunks = interleave == "chunks"
    tags = synthetic_stream(start_ms=20_000, seconds=1.2, audio_size=300 if chunks else 150,
                            video_size=600 if chunks else 120)
    # Vary video lengths so every video header is fmt 1 (new length + delta).
    tags = [records.replace(t, payload=t.payload + bytes(i % 5)) if t.type_id == 9 and not t.sequence_header
            else t for i, t in enumerate(tags)]
    name = rtmp.stream_name()
    async with contextlib.AsyncExitStack() as stack:
        pub = await open_publisher(stack, rtmp, name)
        player = await open_player(stack, rtmp, name)
        if chunks:
            await send_interleaved_chunks(pub, tags)
        else:
            await send_tags(pub, tags)
        await settle_relay(pub, player, last=tags[-1].payload)
    rtmp.judge(check_csid_deltas(player.log, {8: {21, 22}, 9: {40}}, rule="TS-11"))


# -- TS-12 -----------------------------------------------------------------------------------------


def jumping_stream(kind: str) -> list[MediaTag]:
    if kind == "back-5s-forward-1h":
        parts = [(10_000, 0), (5_000, 1000), (3_605_000, 2000)]  # (start, seq base): 0.4 s each
        out: list[MediaTag] = []
        for start, base in parts:
            out += synthetic_stream(start_ms=start, seconds=0.4, headers=not out, seq_base=base)
        return out
    # Small step back: one video frame 20 ms before its predecessor (a muxer's jitter).
    tags = synthetic_stream(start_ms=10_000, seconds=0.8)
    vids = [i for i, t in enumerate(tags) if t.type_id == 9 and not t.sequence_header]
    k = vids[10]
    tags[k] = records.replace(tags[k], timestamp=tags[vids[9]].timestamp - 20)
    return tags


@pytest.mark.rule("TS-12")
@pytest.mark.parametrize("jump", ["back-5s-forward-1h", "video-step-back-20ms"])
async def test_player_timestamps_monotonic(rtmp, jump):
    """Publishes video and AAC that jump back 5 s and then forward 1 h (0.4 s of media per part), or
    whose video steps back 20 ms once.

    Requirement (TS-12, convention; reference server: "monotonic per track"): players get
    non-decreasing timestamps per track. A server that passes the publisher's jumps through unchanged
    (lal, Node-Media-Server) is recorded; one that makes video go back on its own is FAIL.
    """
    tags = jumping_stream(jump)
    player = await relay(rtmp, tags)
    rtmp.judge(check_monotonic(player.log, tags, rule="TS-12"))


# -- TS-13 -----------------------------------------------------------------------------------------


@pytest.mark.rule("TS-13")
@pytest.mark.parametrize("join", ["early-player", "late-joiner"])
async def test_first_message_per_csid_is_fmt0(rtmp, join):
    """Publishes real H.264/AAC from ts 7,000,000; a player joins before the first frame or mid-GOP
    (after 1.2 s; the stream then goes on past the keyframe at +2 s, for servers without a GOP cache).

    Requirement (TS-13): "the first message a player receives on each csid must be fmt0 with an
    absolute timestamp" (sequence-header timestamps are recorded: 0, the GOP start or the original).
    """
    tags = tags_with_headers(make_h264_aac(seconds=stream_seconds(join), start_ms=7_000_000))
    player = await relay(rtmp, tags, join_after=None if join == "early-player" else index_at(tags, 1200))
    rtmp.judge(check_first_fmt0_per_csid(player.log))


# -- TS-14 -----------------------------------------------------------------------------------------


def cts_stream() -> list[MediaTag]:
    """AVC with B-frame composition times +80, -40 (0xFFFFD8), +40, 0 in a repeating pattern."""
    pattern = [80, -40, 40, 0]
    frames = [video_tag(i, 3000 + 40 * i, key=i % 25 == 0, size=200, cts=pattern[i % 4]) for i in range(30)]
    return [avc_sh_tag(3000, sps=bytes.fromhex("6764001facd9414f9f9e10"))] + frames


@pytest.mark.rule("TS-14")
@pytest.mark.parametrize("source", ["synthetic-cts-80-minus40", "x264-bframes"])
async def test_composition_time_preserved(rtmp, source):
    """Publishes AVC whose CompositionTime is +80, -40 (SI24 0xFFFFD8), +40 and 0, or real x264
    output with 2 B-frames (CTS 40/80/160).

    Requirement (FLV E.4.3.1 / TS-14): "CompositionTime ... SI24 ... signed", PTS = DTS + CTS — the
    3 CTS bytes reach the player bit-exact.
    """
    tags = cts_stream() if source.startswith("synthetic") else tags_with_headers(make_h264_aac(seconds=1.5, bframes=2))
    player = await relay(rtmp, tags)
    rtmp.judge(check_composition_times(player.log, tags))


# -- TS-15 / TS-16 ---------------------------------------------------------------------------------


def cadence_stream(rate: int, mode: str, gaps: Sequence[tuple[int, int]] = ()) -> list[MediaTag]:
    """1.5 s of video (40 ms) and AAC at ``rate``: exact cadence, +-4 ms jitter, a naive sender's
    constant rounded delta ("drifting"), or exact with real gaps (frame index, ms) added."""
    tags = synthetic_stream(start_ms=50_000, seconds=1.5, sample_rate=rate)
    out = []
    n = 0
    for t in tags:
        if t.type_id == 8 and not t.sequence_header:
            if mode == "jitter":
                t = records.replace(t, timestamp=t.timestamp + (n * 7919) % 9 - 4)
            elif mode == "drifting":
                t = records.replace(t, timestamp=50_000 + n * (1024000 // rate))
            shift = sum(ms for at, ms in gaps if n >= at)
            t = records.replace(t, timestamp=t.timestamp + shift)
            n += 1
        out.append(t)
    return out


@pytest.mark.rule("TS-15")
@pytest.mark.parametrize("case", ["exact-48k", "exact-44k1", "jitter-4ms-48k", "drifting-publisher-48k"])
async def test_aac_cadence(rtmp, case):
    """Publishes 1.5 s of video and AAC (70/65 frames). The AAC timestamps are the exact
    round(n*1024*1000/rate) clock (21/21/22 ms at 48 kHz, 23/23/23/24 at 44.1 kHz), that clock with
    +-4 ms jitter, or a naive sender's constant 21 ms (drifts -0.333 ms per frame).

    Requirement (TS-15, convention): "derive ms as round(n·1024·1000/fs) from a sample counter instead
    of adding rounded deltas" — the player's AAC timestamps stay on the exact clock (max error and
    drift recorded; drift is NON-STRICT; for the drifting publisher only recorded).
    """
    rate = 44100 if "44k1" in case else 48000
    mode = "jitter" if case.startswith("jitter") else "drifting" if case.startswith("drifting") else "exact"
    tags = cadence_stream(rate, mode)
    player = await relay(rtmp, tags)
    rtmp.judge(check_aac_cadence(player.log, rate, rule="TS-15", gaps_ms=None if mode == "drifting" else ()))


@pytest.mark.rule("TS-16")
@pytest.mark.parametrize("gaps", ["one-gap-50ms", "two-gaps-50ms-120ms"])
async def test_aac_resync_after_gap(rtmp, gaps):
    """Publishes 1.5 s of video and exact-cadence 48 kHz AAC with a real gap: 50 ms missing before
    frame 30 (and 120 ms before frame 50).

    Requirement (TS-16, convention): "A 50 ms gap must trigger exactly one resync" — the player's AAC
    clock jumps once per gap by about its size, and stays exact between gaps.
    """
    plan = [(30, 50)] if gaps == "one-gap-50ms" else [(30, 50), (50, 120)]
    tags = cadence_stream(48000, "exact", plan)
    player = await relay(rtmp, tags)
    rtmp.judge(check_aac_cadence(player.log, 48000, rule="TS-16", gaps_ms=[ms for _, ms in plan]))
