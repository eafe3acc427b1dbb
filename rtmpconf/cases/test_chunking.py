"""Chunking cases (catalogue section 2, Adobe RTMP 1.0 §5.3, §5.4.1, §5.4.2).

How a case sees that the server parsed its chunks: a command round trip (createStream is
answered by every server; its transaction id ties the answer to the request), or media
published on one connection and received byte for byte, with the same timestamp steps, by a
player on another. Server output is judged chunk by chunk with ``check_chunk_headers``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from rtmpconf.harness.checks.chunking import (
    SentMedia,
    check_answered,
    check_chunk_headers,
    check_chunk_size_announcement,
    check_glued_trigger,
    check_header_efficiency,
    check_msid,
    check_relayed,
    check_survived_or_closed,
)
from rtmpconf.harness.client import RtmpClient
from rtmpconf.harness.scenarios import (
    ANSWER_S,
    ScriptedHandshake,
    attempt,
    connect_object,
    fresh_session,
    session,
)
from rtmpconf.harness.testmedia import TestStream, make_h264_aac
from rtmpconf.harness.verdict import Verdict, not_run
from rtmpconf.rtmp import amf0
from rtmpconf.rtmp.chunk import MessagePlan
from rtmpconf.rtmp.messages import (
    Abort,
    Audio,
    Command,
    Data,
    LimitType,
    SetChunkSize,
    SetPeerBandwidth,
    UnknownMessage,
    UserControl,
    UserControlEvent,
    Video,
    WindowAckSize,
    encode_message,
)

#: How long a case waits for a PingResponse that only orders its writes (a server that never
#: answers pings costs this much, nothing else).
SETTLE_S = 0.5
#: A chunk stream id no case has used before on its connection.
FRESH_CSID = 9


# -- scenario helpers ------------------------------------------------------------------------------


def create_stream(tid: float, length: int | None = None) -> Command:
    """createStream with transaction id ``tid``; with ``length``, padded to exactly that many
    payload bytes by a trailing string argument (servers ignore extra arguments)."""
    if length is None:
        return Command("createStream", tid, None)
    base = len(encode_message(Command("createStream", tid, None, ("",)))[1])
    if length < base:
        raise ValueError(f"a createStream is at least {base} bytes")
    return Command("createStream", tid, None, ("x" * (length - base),))


def audio(i: int, size: int = 24) -> bytes:
    """A distinct MP3-flagged audio payload (0x2F: MP3, 44 kHz, 16-bit, stereo): never a sequence
    header and never re-timed on an AAC cadence."""
    if size == 0:
        return b""
    return (b"\x2f" + (i.to_bytes(2, "big") * size))[:size]


def video_keyframe(i: int, size: int) -> bytes:
    """A distinct AVC keyframe payload: 0x17 (keyframe, AVC), 0x01 (NALU), CTS 0, then filler."""
    head = b"\x17\x01\x00\x00\x00"
    return head + (i.to_bytes(3, "big") * size)[:size - len(head)]


async def ready(c: RtmpClient) -> RtmpClient:
    """Handshake + connect."""
    await c.handshake()
    await c.connect()
    return c


SendFn = Callable[[RtmpClient, int], Awaitable[list[SentMedia]]]


async def relay(rtmp: Any, send: SendFn, *, player_setup: Callable[[RtmpClient], Awaitable[None]] | None = None,
                wait: float = ANSWER_S) -> tuple[RtmpClient, RtmpClient, list[SentMedia]]:
    """Publisher publishes, a player plays, then ``send(publisher, msid)`` publishes the media
    under test; waits until every non-optional message reached the player (or ``wait``)."""
    name = rtmp.stream_name()
    async with session(rtmp, label="publisher") as pub, session(rtmp, label="player") as player:
        await ready(pub)
        started = await pub.publish(name)
        if started.get("code") != "NetStream.Publish.Start":
            raise RuntimeError(f"publish refused: {started}")
        await ready(player)
        if player_setup is not None:
            await player_setup(player)
        await player.play(name)
        assert pub.stream_id is not None
        sent = await send(pub, pub.stream_id)
        await attempt(pub.probe(timeout=wait))
        needed = {s.payload for s in sent if not s.optional}

        def arrived(_: Any) -> bool:
            return needed <= {e.raw.payload for e in player.received if e.raw.type_id in (8, 9)}

        if needed:
            await attempt(player.wait_for(arrived, "relay", timeout=wait))
    return pub, player, sent


async def send_planned_media(c: RtmpClient, msid: int, items: list[tuple[int, int, bytes, int | None]],
                             csid: int | None = None) -> list[SentMedia]:
    """Send (type, timestamp, payload, forced fmt or None) messages; returns what was sent."""
    out = []
    for type_id, ts, payload, fmt in items:
        msg = Audio(payload) if type_id == 8 else Video(payload)
        await c.send_planned(msg, MessagePlan(fmt=fmt), msid=msid, timestamp=ts, csid=csid)
        out.append(SentMedia(type_id, ts, payload, optional=not payload))
    return out


# -- CH-1..CH-4: basic header forms --------------------------------------------------------------


@pytest.mark.rule("CH-1")
@pytest.mark.parametrize("csid", [63, 64, 319])
async def test_csid_smallest_forms(rtmp, csid):
    """Sends createStream on csid 63 (largest 1-byte form), 64 (2-byte form 00 00) or 319
    (2-byte form 00 FF).

    Requirement (§5.3.1.1): "Value 0 indicates the 2 byte form and an ID in the range of
    64-319 (the second byte + 64)"; ids 2..63 fit the 1-byte form.
    """
    async with session(rtmp) as c:
        await ready(c)
        tid = await c.command("createStream", csid=csid)
        await attempt(c.wait_reply(tid, "createStream", timeout=ANSWER_S))
    rtmp.judge(check_answered(c.log, [tid], rule="CH-1", what=f"a command on csid {csid}"))


@pytest.mark.rule("CH-2")
@pytest.mark.parametrize("csid", [64, 100, 319])
async def test_low_csid_in_three_byte_form(rtmp, csid):
    """Sends createStream (tid 2) with fmt 0 on csid 64/100/319 in the 3-byte form (e.g. 100 =
    41 24 00), then createStream (tid 3, same length) with fmt 2 on the same csid in the 2-byte
    form (80 24), which inherits length, type and msid from the first.

    Requirement (§5.3.1.1): senders SHOULD use the smallest form, but both encodings name the
    same chunk stream; a receiver must accept ids 64..319 in either.
    """
    async with session(rtmp) as c:
        await ready(c)
        await c.send_planned(create_stream(2.0), MessagePlan(fmt=0, csid_form=3), csid=csid)
        await c.send_planned(create_stream(3.0), MessagePlan(fmt=2, csid_form=2), csid=csid)
        await attempt(c.wait_reply(3.0, "createStream", timeout=ANSWER_S))
    rtmp.judge(check_answered(c.log, [2.0, 3.0], rule="CH-2",
                              what=f"csid {csid} in the 3-byte form, then continued in the 2-byte form"))


@pytest.mark.rule("CH-3")
@pytest.mark.parametrize("csid,partner,partner_form", [
    # A reader taking the 3rd byte as the LOW byte reads 320 (01 00 01) as 65, which is also
    # csid 65 in the 2-byte form (00 01).
    (320, 65, 2),
    # Node-Media-Server's (64 + b2 + b3) << 8 reads 365 (41 2D 01) and 110 in the 3-byte form
    # (41 2E 00) as the same stream: equal byte sums.
    (365, 110, 3),
    # 01 FF FF, the largest id: no other encoding collides under either bug.
    (65599, None, None),
], ids=["320-vs-byte-swap", "365-vs-byte-sum", "65599"])
async def test_three_byte_csid_high_byte_last(rtmp, csid, partner, partner_form):
    """Sends the first 128-byte chunk of a 300-byte createStream (tid 2) on the partner csid; then
    createStream (tid 3) with fmt 0 on csid X in the 3-byte form; then the rest of tid 2 on the
    partner; then createStream (tid 4) with fmt 2 on X (inheriting length and type). For 65599
    there is no partner: tids 3 and 4 only.

    Requirement (§5.3.1.1): in the 3-byte form the id is "(the third byte)*256 + the second
    byte + 64". A reader that computes it otherwise lands X on the partner's chunk stream,
    cuts tid 2 short and loses it.
    """
    async with session(rtmp) as c:
        await ready(c)
        tids = [3.0, 4.0]
        pending: list[bytes] = []
        if partner is not None:
            _, payload = encode_message(create_stream(2.0, 300))
            chunks = c.conn.writer.encode_planned(partner, 20, 0, 0, payload, MessagePlan(csid_form=partner_form))
            await c.send_raw(chunks[0])  # first 128 bytes of tid 2 on the partner csid
            pending = chunks[1:]
            tids.insert(0, 2.0)
        await c.send_planned(create_stream(3.0), MessagePlan(fmt=0, csid_form=3), csid=csid)
        for chunk in pending:
            await c.send_raw(chunk)  # fmt-3 continuations of tid 2
        await c.send_planned(create_stream(4.0), MessagePlan(fmt=2, csid_form=3), csid=csid)
        await attempt(c.wait_reply(4.0, "createStream", timeout=ANSWER_S))
    where = f"commands on csid {csid} (3-byte form)"
    if partner is not None:
        where += f" interleaved with csid {partner} ({partner_form}-byte form)"
    rtmp.judge(check_answered(c.log, tids, rule="CH-3", what=where))


@pytest.mark.rule("CH-4")
async def test_csid_above_nginx_limit(rtmp):
    """Sends createStream on csid 40 (nginx-rtmp's default max_streams is 32: it disconnects).

    Requirement (CH-4): a conforming server accepts csids 3..65599.
    """
    async with session(rtmp) as c:
        await ready(c)
        tid = await c.command("createStream", csid=40)
        await attempt(c.wait_reply(tid, "createStream", timeout=ANSWER_S))
    rtmp.judge(check_answered(c.log, [tid], rule="CH-4", what="a command on csid 40",
                              close_verdict=Verdict.NON_STRICT))


@pytest.mark.rule("CH-4")
async def test_hundred_distinct_csids(rtmp):
    """Sends 100 createStream commands (tids 2..101), each on its own csid 3..102, in one write.

    Requirement (CH-4): every csid 3..65599 is usable; 100 chunk streams is far from any sane
    limit. (Servers may answer later ones with _error for too many streams: still an answer.)
    """
    async with session(rtmp) as c:
        await ready(c)
        tids = [float(i + 2) for i in range(100)]
        for i, t in enumerate(tids):
            c.queue(create_stream(t), csid=3 + i)
        await c.flush()
        await attempt(c.wait_reply(tids[-1], "createStream", timeout=ANSWER_S))
    rtmp.judge(check_answered(c.log, tids, rule="CH-4", what="100 commands on 100 csids",
                              close_verdict=Verdict.NON_STRICT))


# -- CH-5..CH-7: header formats, server output and publisher input -----------------------------------


def _sent_of(stream: TestStream, until_ms: int) -> list[SentMedia]:
    out = [SentMedia(9, stream.start_ms, stream.video_sequence_header)]
    if stream.audio_sequence_header is not None:
        out.append(SentMedia(8, stream.start_ms, stream.audio_sequence_header))
    out += [SentMedia(t.type_id, t.timestamp, t.payload) for t in stream.tags
            if t.type_id in (8, 9) and t.timestamp - stream.start_ms < until_ms]
    return out


async def _live_session(rtmp: Any, until_ms: int = 1000) -> tuple[RtmpClient, list[SentMedia]]:
    """A player plays before a publisher sends ``until_ms`` of real H.264/AAC (as fast as possible)."""
    name = rtmp.stream_name()
    stream = make_h264_aac(seconds=4.0)
    sent = _sent_of(stream, until_ms)
    last = sent[-1].payload
    async with session(rtmp, label="publisher") as pub, session(rtmp, label="player") as player:
        await ready(pub)
        await ready(player)
        await pub.publish(name)
        await player.play(name)
        await _publish_prepared(pub, stream, until_ms)
        await attempt(player.wait_for(lambda e: e.raw.payload == last, "media", timeout=ANSWER_S))
    return player, sent


async def _publish_prepared(pub: RtmpClient, stream: TestStream, until_ms: int) -> None:
    """Metadata, sequence headers and frames on an already published stream."""
    msid = pub.stream_id
    assert msid is not None
    await pub.send(Data(tuple(amf0.decode_all(stream.metadata))), msid=msid)
    await pub.send(Video(stream.video_sequence_header), msid=msid, timestamp=stream.start_ms)
    if stream.audio_sequence_header is not None:
        await pub.send(Audio(stream.audio_sequence_header), msid=msid, timestamp=stream.start_ms)
    await pub.publish_media([t for t in stream.tags if t.timestamp - stream.start_ms < until_ms])


@pytest.mark.rule("CH-5")
async def test_server_headers_live_player(rtmp):
    """A player plays; a publisher then sends 1 s of real H.264/AAC. Every chunk the server
    wrote to the player is judged: fmt 0 opening each chunk stream and on any step back in
    time, whole messages, the announced chunk size, control on csid 2, and whether fmt-3
    headers starting a message keep the publisher's timing.

    Requirement (§5.3.1.2.1): type 0 "MUST be used at the start of a chunk stream, and
    whenever the stream timestamp goes backward".
    """
    player, sent = await _live_session(rtmp)
    rtmp.judge(check_chunk_headers(player.log, sent=sent))


@pytest.mark.rule("CH-2a")
async def test_server_header_compression(rtmp):
    """A player plays while a publisher sends 1 s of real H.264/AAC; counts the header bytes the
    server wrote against the smallest legal encoding (recorded) and checks basic header forms.

    Requirement (§5.3.1.1): "An implementation SHOULD use the smallest representation that
    can hold the ID"; fmt 1/2/3 exist to save bytes (§5.3.1.2).
    """
    player, _ = await _live_session(rtmp)
    rtmp.judge(check_header_efficiency(player.log))


@pytest.mark.rule("CH-5")
async def test_backward_timestamp_with_fmt0(rtmp):
    """Publishes audio at ts 1000 (fmt 0), 1040 (fmt 2), then 500 with fmt 0 (time goes back),
    then 540 (fmt 2); a player must receive all four payloads intact.

    Requirement (§5.3.1.2.1): fmt 0 is how a sender steps back in time; the receiver must
    take the absolute timestamp (a server's timestamp policy may then adjust it).
    """
    async def send(pub: RtmpClient, msid: int) -> list[SentMedia]:
        return await send_planned_media(pub, msid, [
            (8, 1000, audio(1), 0), (8, 1040, audio(2), 2), (8, 500, audio(3), 0), (8, 540, audio(4), 2)])
    pub, player, sent = await relay(rtmp, send)
    rtmp.judge(check_relayed(player.log, sent, rule="CH-5", publisher=pub.log, check_timing=False))


@pytest.mark.rule("CH-6")
async def test_inheritance_chain(rtmp):
    """Publishes audio on one csid: fmt 0 ts 1000 (24 bytes), fmt 1 delta 20 (30 bytes),
    fmt 2 delta 30 (30 bytes), fmt 3 (inherits delta 30), fmt 3 again.

    Requirement (§5.3.1.2.2-.4): fmt 1 inherits the msid; fmt 2 also length and type; fmt 3
    everything including the delta. The player must see ts steps 20, 30, 30, 30.
    """
    async def send(pub: RtmpClient, msid: int) -> list[SentMedia]:
        return await send_planned_media(pub, msid, [
            (8, 1000, audio(1, 24), 0), (8, 1020, audio(2, 30), 1), (8, 1050, audio(3, 30), 2),
            (8, 1080, audio(4, 30), 3), (8, 1110, audio(5, 30), 3)])
    pub, player, sent = await relay(rtmp, send)
    rtmp.judge(check_relayed(player.log, sent, rule="CH-6", publisher=pub.log))


@pytest.mark.rule("CH-7")
@pytest.mark.parametrize("variant", ["after-fmt0", "after-fmt2"])
async def test_fmt3_starts_new_message(rtmp, variant):
    """after-fmt0: audio fmt 0 at ts 1000, then a fmt-3 chunk starting a new message (same
    length): its delta is the fmt-0 timestamp itself, so ts 2000.
    after-fmt2: fmt 0 at ts 1000, fmt 2 delta 40 (ts 1040), then fmt 3 twice (1080, 1120) —
    FMLE's 0xC4 audio headers.

    Requirement (§5.3.1.2.4 and Example 1): a fmt-3 chunk that starts a message reuses the
    previous delta; after a fmt 0 header that "delta" is the absolute timestamp.
    """
    if variant == "after-fmt0":
        items = [(8, 1000, audio(1), 0), (8, 2000, audio(2), 3)]
    else:
        items = [(8, 1000, audio(1), 0), (8, 1040, audio(2), 2), (8, 1080, audio(3), 3), (8, 1120, audio(4), 3)]

    async def send(pub: RtmpClient, msid: int) -> list[SentMedia]:
        return await send_planned_media(pub, msid, items)
    pub, player, sent = await relay(rtmp, send)
    rtmp.judge(check_relayed(player.log, sent, rule="CH-7", publisher=pub.log))


@pytest.mark.rule("CH-7")
async def test_server_headers_late_joiner(rtmp):
    """A publisher sends 1 s of real H.264/AAC; a player then joins (GOP cache catch-up) while
    the publisher sends 0.5 s more. Every chunk the server wrote to the late joiner is judged,
    in particular fmt-3 message starts against the publisher's timing.

    Requirement (§5.3.1.2.4): fmt 3 starting a message means "same delta as before" on that
    chunk stream, as the receiver saw it.
    """
    name = rtmp.stream_name()
    stream = make_h264_aac(seconds=4.0)
    sent = _sent_of(stream, 1500)
    async with session(rtmp, label="publisher") as pub:
        await ready(pub)
        await pub.publish(name)
        await _publish_prepared(pub, stream, 1000)
        await pub.probe()
        async with session(rtmp, label="late player") as player:
            await ready(player)
            await player.play(name)
            await pub.publish_media([t for t in stream.tags if 1000 <= t.timestamp - stream.start_ms < 1500])
            await attempt(player.wait_for(lambda e: e.raw.payload == sent[-1].payload, "media", timeout=ANSWER_S))
    rtmp.judge(check_chunk_headers(player.log, sent=sent))


@pytest.mark.rule("CH-7")
async def test_server_headers_after_receive_audio_off(rtmp):
    """A player plays; the publisher sends audio every 20 ms (ts 1000..); the player sends
    receiveAudio(false), the publisher sends 3 more, the player sends receiveAudio(true), the
    publisher sends 3 more. The server skipped messages for this player only: its next audio
    header must not inherit a delta (fmt 3) or measure one (fmt 1/2) from a message the player
    never got.

    Requirement (§5.3.1.2.4): fmt 3 reuses the delta of the previous message on the chunk
    stream as the receiver saw it.
    """
    name = rtmp.stream_name()
    items = [SentMedia(8, 1000 + 20 * i, audio(i)) for i in range(9)]
    async with session(rtmp, label="publisher") as pub, session(rtmp, label="player") as player:
        await ready(pub)
        await pub.publish(name)
        await ready(player)
        await player.play(name)
        msid = player.stream_id
        for group, switch in ((items[:3], False), (items[3:6], True), (items[6:], None)):
            for s in group:
                await pub.send(Audio(s.payload), msid=pub.stream_id or 1, timestamp=s.timestamp)
            await pub.probe()
            if switch is not None:
                await player.command("receiveAudio", switch, msid=msid or 1, tid=0.0)
                await player.probe()
        await attempt(player.wait_for(lambda e: e.raw.payload == items[-1].payload, "audio", timeout=ANSWER_S))
    got = {bytes(e.raw.payload) for e in player.received if e.raw.type_id == 8}
    skipped = [s for s in items[3:6] if s.payload not in got]
    gap = [] if skipped else [not_run("CH-7", "the server kept sending audio after receiveAudio(false) (all "
                                      f"{len(items)} messages reached the player): no header followed a gap in "
                                      "this player's stream, so the requirement was not exercised")]
    rtmp.judge(check_chunk_headers(player.log, sent=items), gap)


# -- CH-8: fresh chunk stream without fmt 0 ------------------------------------------------------------


@pytest.mark.rule("CH-8")
@pytest.mark.parametrize("fmt", [1, 2, 3], ids=["fmt1", "fmt2", "fmt3"])
async def test_fresh_csid_without_fmt0(rtmp, fmt):
    """Sends createStream (tid 2) as the first chunk ever on csid 9 with fmt 1, 2 or 3 (nothing
    to inherit), then createStream (tid 3) normally on csid 3.

    Requirement (CH-8, §5.3.1.2.1): a chunk stream starts with fmt 0. A server may reject
    (close) or tolerate (SRS accepts fmt 1, as librtmp sends it), but must not end up stuck.
    """
    async with session(rtmp) as c:
        await ready(c)
        await c.send_planned(create_stream(2.0), MessagePlan(fmt=fmt), csid=FRESH_CSID)
        tid = await attempt(c.command("createStream", tid=3.0))
        if tid is not None:
            await attempt(c.wait_reply(3.0, "createStream", timeout=ANSWER_S))
    after = await fresh_session(rtmp)
    rtmp.judge(check_answered(c.log, [3.0], rule="CH-8", what=f"a command after a fresh csid opened with fmt {fmt}",
                              close_verdict=Verdict.PASS, silent_verdict=Verdict.NON_STRICT, after=after))


@pytest.mark.rule("CH-8")
async def test_librtmp_ping_fmt1_on_fresh_csid2(rtmp):
    """Right after the handshake, sends a PingRequest on csid 2 with a fmt 1 header (librtmp
    does this; csid 2 is still fresh), then connect.

    Requirement (CH-8): tolerance (SRS) or a defined reject; a tolerant server answers both
    the ping and the connect.
    """
    async with session(rtmp) as c:
        await c.handshake()
        await c.send_planned(UserControl.ping_request(1234), MessagePlan(fmt=1), csid=2)
        await attempt(c.connect())
    after = await fresh_session(rtmp)
    rtmp.judge(check_answered(c.log, [1.0], rule="CH-8", what="connect after a fmt-1 ping on fresh csid 2",
                              close_verdict=Verdict.PASS, silent_verdict=Verdict.NON_STRICT, after=after))


# -- CH-9: message stream id byte order ----------------------------------------------------------------


@pytest.mark.rule("CH-9")
async def test_msid_little_endian_publisher(rtmp):
    """Calls createStream five times (the last id, 5 on most servers, is used), publishes on it
    (msid bytes 05 00 00 00) and sends one audio message.

    Requirement (§5.3.1.2.1): "Message stream ID is stored in little-endian format." The
    server must read our msid that way (else the publish is on an unknown stream) and address
    onStatus and StreamBegin to it.
    """
    name = rtmp.stream_name()
    async with session(rtmp, label="publisher") as pub:
        await ready(pub)
        for _ in range(4):
            await pub.create_stream()
        await pub.publish(name)
        sid = pub.stream_id or 0
        await pub.send(Audio(audio(1)), msid=sid, timestamp=1000)
        await attempt(pub.probe())
    rtmp.judge(check_msid(pub.log, sid))


@pytest.mark.rule("CH-9")
async def test_msid_little_endian_player(rtmp):
    """A player calls createStream five times and plays on the last id; a publisher sends three
    audio messages. onStatus, StreamBegin and media to the player must carry that msid.

    Requirement (§5.3.1.2.1): the msid is little-endian; every other field is big-endian
    (StreamBegin's event data included).
    """
    async def setup(player: RtmpClient) -> None:
        for _ in range(4):
            await player.create_stream()

    async def send(pub: RtmpClient, msid: int) -> list[SentMedia]:
        return await send_planned_media(pub, msid, [(8, 1000 + 20 * i, audio(i), None) for i in range(3)])
    _, player, _ = await relay(rtmp, send, player_setup=setup)
    rtmp.judge(check_msid(player.log, player.stream_id or 0))


# -- CH-10, CH-11: message lengths ---------------------------------------------------------------------


@pytest.mark.rule("CH-10")
@pytest.mark.parametrize("length", [128, 256, 129])
async def test_command_length_vs_chunk_size(rtmp, length):
    """Sends a createStream padded to exactly 128 (one full chunk), 256 (two full chunks, no
    trailing empty chunk) or 129 bytes (a full chunk + 1 byte), at chunk size 128.

    Requirement (§5.3.1.2.5): the message length is that of the whole payload; each chunk
    carries min(chunk size, bytes left), so no empty chunk follows an exact multiple.
    """
    async with session(rtmp) as c:
        await ready(c)
        await c.send(create_stream(2.0, length), csid=FRESH_CSID)
        await attempt(c.wait_reply(2.0, "createStream", timeout=ANSWER_S))
    rtmp.judge(check_answered(c.log, [2.0], rule="CH-10", what=f"a {length}-byte command at chunk size 128"))


@pytest.mark.rule("CH-10")
async def test_one_byte_audio(rtmp):
    """Publishes audio messages of 1 byte (0x2F), 24 bytes and 1 byte (another csid-4 fmt 1).

    Requirement (§5.3.1.2.5): any length from 0 up is framed the same way.
    """
    async def send(pub: RtmpClient, msid: int) -> list[SentMedia]:
        # 0x2F / 0x2E: a lone audio tag header byte (MP3, 44 kHz, 16-bit, stereo / mono).
        return await send_planned_media(pub, msid, [
            (8, 1000, b"\x2f", 0), (8, 1020, audio(1), 1), (8, 1040, b"\x2e", 1)])
    pub, player, sent = await relay(rtmp, send)
    rtmp.judge(check_relayed(player.log, sent, rule="CH-10", publisher=pub.log))


@pytest.mark.rule("CH-11")
@pytest.mark.parametrize("variant", ["empty-then-audio", "empty-twice-fmt3"])
async def test_zero_length_audio(rtmp, variant):
    """empty-then-audio: audio fmt 0 ts 1000 with length 0, then 24-byte audio fmt 1 (ts 1020)
    and fmt 3 (ts 1040). empty-twice-fmt3: empty fmt 0 at 1000, empty fmt 3 (inherits length 0
    and delta 1000: ts 2000), then 24-byte fmt 1 at 2020 and 2040.

    Requirement (CH-11): zero-length messages are legal (E-RTMP: silence); the normal chunks
    after them must parse with no desync. Relaying the empty ones is optional.
    """
    if variant == "empty-then-audio":
        items = [(8, 1000, b"", 0), (8, 1020, audio(1), 1), (8, 1040, audio(2), 3)]
    else:
        items = [(8, 1000, b"", 0), (8, 2000, b"", 3), (8, 2020, audio(1), 1), (8, 2040, audio(2), 1)]

    async def send(pub: RtmpClient, msid: int) -> list[SentMedia]:
        return await send_planned_media(pub, msid, items)
    pub, player, sent = await relay(rtmp, send)
    rtmp.judge(check_relayed(player.log, sent, rule="CH-11", publisher=pub.log))


# -- CH-12, CH-18: interrupted messages -----------------------------------------------------------------


@pytest.mark.rule("CH-12")
@pytest.mark.parametrize("fmt", [0, 1], ids=["fmt0", "fmt1"])
async def test_partial_message_interrupted(rtmp, fmt):
    """Sends the first 128-byte chunk of a 300-byte createStream (tid 2) on csid 9, then on the
    same csid a complete createStream (tid 3, 25 bytes) with fmt 0 or fmt 1 (new length, as
    ~1% of OBS streams do, SRS #2523), then createStream (tid 4) on csid 3.

    Requirement (CH-12): a partial message may only be continued with fmt 3. A receiver
    either reports an error (close) or discards the partial message and restarts; tid 2 must
    never be answered, and the session must not be stuck.
    """
    async with session(rtmp) as c:
        await ready(c)
        _, payload = encode_message(create_stream(2.0, 300))
        chunks = c.conn.writer.encode_planned(FRESH_CSID, 20, 0, 0, payload, MessagePlan())
        await c.send_raw(chunks[0])  # tid 2: first 128 of 300 bytes
        await c.send_planned(create_stream(3.0), MessagePlan(fmt=fmt), csid=FRESH_CSID)
        if await attempt(c.command("createStream", tid=4.0)) is not None:
            await attempt(c.wait_reply(4.0, "createStream", timeout=ANSWER_S))
    after = await fresh_session(rtmp)
    rtmp.judge(check_answered(c.log, [3.0, 4.0], rule="CH-12", what=f"a fmt-{fmt} message cutting a partial one",
                              close_verdict=Verdict.PASS, silent_verdict=Verdict.NON_STRICT, forbidden=[2.0],
                              after=after))


@pytest.mark.rule("CH-18")
@pytest.mark.parametrize("variant", ["then-fmt0", "then-fmt3"])
async def test_abort_drops_partial_message(rtmp, variant):
    """Sends the first 128-byte chunk of a 300-byte createStream (tid 2) on csid 9, then Abort
    (type 2, csid 9) on csid 2, then a 300-byte createStream (tid 3) on csid 9 starting with
    fmt 0 (then-fmt0), or with fmt 3 (then-fmt3: a new message inheriting length 300 and type
    20 — only correct if the partial message was really dropped), then createStream (tid 4).

    Requirement (§5.4.2): Abort "notif[ies] the peer ... to discard the partially received
    message over a chunk stream".
    """
    async with session(rtmp) as c:
        await ready(c)
        _, payload = encode_message(create_stream(2.0, 300))
        chunks = c.conn.writer.encode_planned(FRESH_CSID, 20, 0, 0, payload, MessagePlan())
        await c.send_raw(chunks[0])  # tid 2: first 128 of 300 bytes
        await c.send(Abort(FRESH_CSID))  # 02 | ts 0 | len 4 | type 2 | msid 0 | 00 00 00 09
        await c.send_planned(create_stream(3.0, 300), MessagePlan(fmt=0 if variant == "then-fmt0" else 3),
                             csid=FRESH_CSID)
        if await attempt(c.command("createStream", tid=4.0)) is not None:
            await attempt(c.wait_reply(4.0, "createStream", timeout=ANSWER_S))
    rtmp.judge(check_answered(c.log, [3.0, 4.0], rule="CH-18", forbidden=[2.0],
                              what=f"a message after Abort ({variant})"))


# -- CH-13: interleaving ---------------------------------------------------------------------------------


@pytest.mark.rule("CH-13")
@pytest.mark.parametrize("variant", ["audio-inside-video", "two-partials-alternating"])
async def test_interleaved_chunk_streams(rtmp, variant):
    """audio-inside-video: a 20 KB video keyframe (csid 6, 160 chunks of 128) with a 100-byte
    audio message (csid 4, one chunk) after every 10th video chunk (16 messages, 20 ms apart).
    two-partials-alternating: the same video and a 600-byte audio message (5 chunks) sent chunk
    by chunk in turn, so both messages are half-received at once; all in one write.

    Requirement (§5.3): chunks of different chunk streams may interleave between the chunks of
    one message; each is reassembled on its own csid.
    """
    async def send(pub: RtmpClient, msid: int) -> list[SentMedia]:
        w = pub.conn.writer
        vpay = video_keyframe(1, 20_000)
        vchunks = w.encode_planned(6, 9, msid, 1000, vpay, MessagePlan())
        sent = [SentMedia(9, 1000, vpay)]
        parts: list[bytes] = []
        if variant == "audio-inside-video":
            n = 0
            for i, ch in enumerate(vchunks):
                parts.append(ch)
                if i % 10 == 9:
                    apay = audio(n, 100)
                    parts.append(w.encode(4, 8, msid, 1000 + 20 * n, apay))
                    sent.append(SentMedia(8, 1000 + 20 * n, apay))
                    n += 1
        else:
            apay = audio(99, 600)
            achunks = w.encode_planned(4, 8, msid, 1000, apay, MessagePlan())
            sent.append(SentMedia(8, 1000, apay))
            for i, ch in enumerate(vchunks):
                parts.append(ch)
                if i < len(achunks):
                    parts.append(achunks[i])
        await pub.send_raw(b"".join(parts))
        return sent
    pub, player, sent = await relay(rtmp, send)
    rtmp.judge(check_relayed(player.log, sent, rule="CH-13", publisher=pub.log))


# -- CH-14..CH-17: chunk size ----------------------------------------------------------------------------


@pytest.mark.rule("CH-14")
async def test_server_reads_client_default_size(rtmp):
    """After connect (the server has usually announced its own, larger chunk size) sends a
    1000-byte createStream in 128-byte chunks, never having sent Set Chunk Size.

    Requirement (§5.4.1): the chunk size is kept per direction; the server's announcement
    changes only what it sends. It must still read the client's chunks at 128.
    """
    async with session(rtmp) as c:
        await ready(c)
        await c.send(create_stream(2.0, 1000), csid=FRESH_CSID)
        await attempt(c.wait_reply(2.0, "createStream", timeout=ANSWER_S))
    rtmp.judge(check_answered(c.log, [2.0], rule="CH-14",
                              what="a 1000-byte command in 128-byte chunks after the server's own Set Chunk Size"))


@pytest.mark.rule("CH-14")
async def test_server_output_ignores_client_chunk_size(rtmp):
    """A player announces Set Chunk Size 150 before playing; a publisher sends three 1000-byte
    audio messages. The player's traffic must decode with the chunk sizes the server itself
    announced (not 150).

    Requirement (§5.4.1): a Set Chunk Size sets the maximum chunk size "for the sender" only
    (Red5's client once applied the peer's value to its own output, red5-client PR #54).
    """
    async def setup(player: RtmpClient) -> None:
        await player.send(SetChunkSize(150))

    async def send(pub: RtmpClient, msid: int) -> list[SentMedia]:
        return await send_planned_media(pub, msid, [(8, 1000 + 20 * i, audio(i, 1000), None) for i in range(3)])
    _, player, sent = await relay(rtmp, send, player_setup=setup)
    rtmp.judge(check_chunk_headers(player.log, sent=sent))


@pytest.mark.rule("CH-15")
@pytest.mark.parametrize("size", [1, 64, 0x01000000, 0x7FFFFFFF], ids=["1", "64", "0x01000000", "0x7FFFFFFF"])
async def test_legal_chunk_sizes(rtmp, size):
    """Sends Set Chunk Size 1, 64, 0x01000000 or 0x7FFFFFFF and a ping (so the command never
    shares a read with the Set Chunk Size: that is CH-16), then a 300-byte createStream chunked
    at that size (300 one-byte chunks for size 1; one chunk for the large sizes).

    Requirement (§5.4.1): valid sizes are 1..0x7FFFFFFF ("SHOULD be at least 128"; values
    above 0xFFFFFF act as 0xFFFFFF). Refusing 1/64 is recorded (SRS refuses < 128); refusing a
    large legal value is NON-STRICT (nginx refuses > 10 MB); misreading it is a FAIL.
    """
    async with session(rtmp) as c:
        await ready(c)
        await c.send(SetChunkSize(size))
        await attempt(c.probe(timeout=SETTLE_S))
        await attempt(c.send(create_stream(2.0, 300), csid=FRESH_CSID))
        await attempt(c.wait_reply(2.0, "createStream", timeout=ANSWER_S))
    refusal = Verdict.INFORMATIONAL if size < 128 else Verdict.NON_STRICT
    rtmp.judge(check_answered(c.log, [2.0], rule="CH-15", what=f"a 300-byte command at chunk size {size}",
                              close_verdict=refusal))


@pytest.mark.rule("CH-15")
@pytest.mark.parametrize("value", [0, 0x80000000, 0xFFFFFFFF], ids=["0", "0x80000000", "0xFFFFFFFF"])
async def test_illegal_chunk_sizes_refused(rtmp, value):
    """Sends Set Chunk Size 0, 0x80000000 or 0xFFFFFFFF (bit 31 set: negative as a signed int),
    then a 300-byte createStream in 128-byte chunks (the client's size is unchanged).

    Requirement (§5.4.1): "The first bit of the data field MUST be zero" and the size "MUST be
    at least 1". The value must be refused: a close, or ignoring it and keeping 128 (then the
    command is answered). Applying it (a busy loop, a negative size) loses the command.
    """
    async with session(rtmp) as c:
        await ready(c)
        # Type 1 on csid 2, raw 4-byte big-endian value; encode via UnknownMessage so our own
        # writer neither validates nor adopts it.
        await c.send(UnknownMessage(1, value.to_bytes(4, "big")), csid=2)
        await attempt(c.send(create_stream(2.0, 300), csid=FRESH_CSID))
        await attempt(c.wait_reply(2.0, "createStream", timeout=ANSWER_S))
    after = await fresh_session(rtmp)
    rtmp.judge(check_answered(c.log, [2.0], rule="CH-15", what=f"a command after Set Chunk Size 0x{value:08X}",
                              close_verdict=Verdict.PASS, after=after))


@pytest.mark.rule("CH-16")
@pytest.mark.parametrize("variant", ["raise", "raise-then-lower"])
async def test_set_chunk_size_and_message_in_one_write(rtmp, variant):
    """raise: Set Chunk Size 4096 and a 3000-byte createStream in one 4096-size chunk, in one
    write. raise-then-lower: the same, then Set Chunk Size 128 and a 1000-byte createStream in
    128-byte chunks, all in the same write.

    Requirement (CH-16): a new chunk size applies to the sender's very next chunk, even when
    it is already in the receiver's read buffer.
    """
    async with session(rtmp) as c:
        await ready(c)
        c.queue(SetChunkSize(4096))
        c.queue(create_stream(2.0, 3000), csid=FRESH_CSID)
        tids = [2.0]
        if variant == "raise-then-lower":
            c.queue(SetChunkSize(128))
            c.queue(create_stream(3.0, 1000), csid=FRESH_CSID)
            tids.append(3.0)
        await c.flush()
        await attempt(c.wait_reply(tids[-1], "createStream", timeout=ANSWER_S))
    rtmp.judge(check_answered(c.log, tids, rule="CH-16", what="messages glued to Set Chunk Size in one write"))


@pytest.mark.rule("CH-17")
async def test_server_chunk_size_announcement(rtmp):
    """Connects and records whether and when the server raises its chunk size (nginx 4096
    and SRS 60000 before the connect _result; FFmpeg keeps 128).

    Requirement (CH-17): senders raise the chunk size early; tiny sizes while commands are
    exchanged break peers that assume one command per chunk.
    """
    async with session(rtmp) as c:
        await ready(c)
        await attempt(c.probe())
    rtmp.judge(check_chunk_size_announcement(c.log))


# -- CH-19: large messages and many open chunk streams ---------------------------------------------------


@pytest.mark.rule("CH-19")
async def test_two_megabyte_keyframe(rtmp):
    """Publisher sets chunk size 4096 and sends a 2 MB video keyframe (AVC NALU), then a 24-byte
    audio message; a player must receive both intact.

    Requirement (CH-19): the message length field allows 0xFFFFFF; nginx's 1 MB default
    rejects real 1080p/4K keyframes ("too big message").
    """
    if rtmp.too_slow(2 * 1024 * 1024):
        return

    async def send(pub: RtmpClient, msid: int) -> list[SentMedia]:
        await pub.send(SetChunkSize(4096))
        big = video_keyframe(7, 2 * 1024 * 1024)
        await pub.send(Video(big), msid=msid, timestamp=1000)
        await pub.send(Audio(audio(1)), msid=msid, timestamp=1000)
        return [SentMedia(9, 1000, big), SentMedia(8, 1000, audio(1))]
    pub, player, sent = await relay(rtmp, send, wait=5.0)
    rtmp.judge(check_relayed(player.log, sent, rule="CH-19", publisher=pub.log,
                             refusal_verdict=Verdict.NON_STRICT))


@pytest.mark.rule("CH-19")
async def test_thousand_csids_announcing_16mb(rtmp):
    """After connect, opens csids 64..1063, each with a fmt 0 header announcing a 0xFFFFFF-byte
    video message followed by its first 128-byte chunk (1000 x 16 MB promised, 128 KB sent),
    then pings.

    Requirement (CH-19/ROB-1): memory must stay bounded (lal pre-allocates the announced
    length); a close when a limit is hit is the expected outcome, surviving is recorded.
    """
    async with session(rtmp) as c:
        await ready(c)
        body = bytes(128)
        parts = []
        for csid in range(64, 1064):
            # fmt 0 basic header (2/3-byte form) | ts 0 | length FF FF FF | type 9 | msid 0 | 128 bytes
            parts.append(c.conn.writer.encode_planned(csid, 9, 0, 0, body, MessagePlan(length_field=0xFFFFFF))[0])
        await attempt(c.send_raw(b"".join(parts)))
        await attempt(c.probe(timeout=ANSWER_S))
    after = await fresh_session(rtmp)
    rtmp.judge(check_survived_or_closed(c.log, rule="CH-19", what="1000 chunk streams each announcing 16 MB",
                                        after=after))


# -- CH-20: classification by type id, control placement -------------------------------------------------


@pytest.mark.rule("CH-20a")
async def test_set_chunk_size_on_csid3(rtmp):
    """Sends Set Chunk Size 4096 on csid 3 (FFmpeg's "system" channel, not 2), then a 3000-byte
    createStream in one 4096-size chunk.

    Requirement (CH-20a): receivers classify messages by type id, not by csid; the new size
    must apply.
    """
    async with session(rtmp) as c:
        await ready(c)
        await c.send(SetChunkSize(4096), csid=3)
        await c.send(create_stream(2.0, 3000), csid=FRESH_CSID)
        await attempt(c.wait_reply(2.0, "createStream", timeout=ANSWER_S))
    rtmp.judge(check_answered(c.log, [2.0], rule="CH-20a", what="Set Chunk Size sent on csid 3"))


@pytest.mark.rule("CH-20a")
async def test_video_on_csid3(rtmp):
    """Publishes a video keyframe and audio on csid 3, the csid commands use.

    Requirement (CH-20a): "Receivers should not depend on the csid to classify a message".
    """
    async def send(pub: RtmpClient, msid: int) -> list[SentMedia]:
        v = video_keyframe(3, 500)
        await pub.send(Video(v), msid=msid, timestamp=1000, csid=3)
        await pub.send(Audio(audio(3)), msid=msid, timestamp=1020, csid=3)
        return [SentMedia(9, 1000, v), SentMedia(8, 1020, audio(3))]
    pub, player, sent = await relay(rtmp, send)
    rtmp.judge(check_relayed(player.log, sent, rule="CH-20a", publisher=pub.log, check_timing=False))


@pytest.mark.rule("CH-20a")
async def test_command_on_csid20(rtmp):
    """Sends createStream on csid 20.

    Requirement (CH-20a): commands are recognised by type id 20 on any csid.
    """
    async with session(rtmp) as c:
        await ready(c)
        tid = await c.command("createStream", csid=20)
        await attempt(c.wait_reply(tid, "createStream", timeout=ANSWER_S))
    rtmp.judge(check_answered(c.log, [tid], rule="CH-20a", what="a command on csid 20"))


@pytest.mark.rule("CH-20")
async def test_server_control_on_csid2(rtmp):
    """Connects, publishes, sends audio and a ping; judges every chunk the server wrote: protocol
    control (types 1,2,3,5,6) on csid 2 / msid 0 (MUST), user control likewise (SHOULD), plus
    the general header legality.

    Requirement (§5.4): protocol control messages "MUST have message stream ID 0 ... and be
    sent in chunk stream ID 2".
    """
    name = rtmp.stream_name()
    async with session(rtmp, label="publisher") as pub:
        await ready(pub)
        await pub.publish(name)
        for i in range(3):
            await pub.send(Audio(audio(i)), msid=pub.stream_id or 1, timestamp=1000 + 20 * i)
        await attempt(pub.probe())
    rtmp.judge(check_chunk_headers(pub.log))



# -- CH-5: automatic replies glued to commands ------------------------------------------------------------
#
# Each case writes a trigger of an automatic reply (Set Peer Bandwidth -> Window Ack Size, PingRequest ->
# PingResponse, crossing the ack window -> Acknowledgement) and commands in ONE write, before connect is
# answered: the automatic reply is then the first message the server encodes on csid 2 and the connect
# answer (Window Ack Size, Set Peer Bandwidth, Set Chunk Size on csid 2) is compressed against it. A
# server that queues automatic replies apart from command replies writes the answer first, so csid 2
# opens with a compressed header its peer cannot decode. (Later in a session the same reordering can
# stay invisible on the wire: both headers may happen to be fmt 1.)

#: Set Peer Bandwidth the glued-write case announces: odd, so no server's own window equals it.
GLUED_PEER_BANDWIDTH = 1_234_567
#: PingRequest value of the glued-write case (the probe's values start at 0x5EED0001).
GLUED_PING = 0x0BADCAFE


def _window_reply(m: Any) -> bool:
    return m.raw.type_id == 5 and int.from_bytes(m.raw.payload[:4], "big") == GLUED_PEER_BANDWIDTH


def _ack(m: Any) -> bool:
    return m.raw.type_id == 3


async def _answers(c: RtmpClient, last_tid: float) -> None:
    """Wait for the last transaction's answer, then a ping round trip: whatever the server wrote
    for the glued read (an automatic reply it held back, too) is in the log by then."""
    await attempt(c.wait_reply(last_tid, "glued commands", timeout=ANSWER_S))
    await attempt(c.probe(timeout=SETTLE_S))


@pytest.mark.rule("CH-5")
async def test_c2_peer_bandwidth_connect_one_write(rtmp):
    """Sends C2 + Set Peer Bandwidth 1 234 567 (Hard) + connect (tid 1) in one write, so the
    server's Window Acknowledgement Size reply and its connect answer come from one read.

    Requirement (§5.3.1.2.1): type 0 "MUST be used at the start of a chunk stream"; the reply
    to Set Peer Bandwidth (§5.4.5: "respond with a Window Acknowledgement Size message") is
    the server's first message on csid 2, so it must also be the first written.
    """
    async with session(rtmp, handshake=ScriptedHandshake(hold_c2=True)) as c:
        await c.handshake()
        c.queue_raw(c.conn.handshake.held_c2)
        c.queue(SetPeerBandwidth(GLUED_PEER_BANDWIDTH, LimitType.HARD))  # 02 | ts 0 | len 5 | type 6 | msid 0
        c.queue(Command("connect", 1.0, connect_object(c.target)))
        await c.flush()
        await _answers(c, 1.0)
    rtmp.judge(check_glued_trigger(c.log, [1.0], trigger="C2 + Set Peer Bandwidth + connect",
                                   reply="Window Acknowledgement Size 1234567", is_reply=_window_reply))


@pytest.mark.rule("CH-5")
async def test_ping_connect_create_stream_one_write(rtmp):
    """After the handshake, sends PingRequest 0x0BADCAFE + connect (tid 1) + createStream (tid 2)
    in one write: the PingResponse and the answers to both commands come from one read.

    Requirement (§5.3.1.2.1): type 0 "MUST be used at the start of a chunk stream"; the
    PingResponse (§7.1.7) is the server's first message on csid 2, so it must be written first.
    """
    async with session(rtmp) as c:
        await c.handshake()
        c.queue(UserControl.ping_request(GLUED_PING))
        c.queue(Command("connect", 1.0, connect_object(c.target)))
        c.queue(create_stream(2.0))
        await c.flush()
        await _answers(c, 2.0)
    want = GLUED_PING.to_bytes(4, "big")
    rtmp.judge(check_glued_trigger(
        c.log, [1.0, 2.0], trigger="PingRequest + connect + createStream", reply="PingResponse",
        is_reply=lambda m: isinstance(m.message, UserControl) and m.message.event == UserControlEvent.PING_RESPONSE
        and m.message.data[:4] == want))


@pytest.mark.rule("CH-5")
async def test_publisher_data_across_ack_window_and_connect_one_write(rtmp):
    """After the handshake, sends Window Acknowledgement Size 4096, three 2000-byte audio messages
    on message stream 1 (6 KB of publisher data: more than a window, whether the server counts
    the handshake bytes or not) and connect (tid 1) in one write.

    Requirement (§5.3.1.2.1): type 0 "MUST be used at the start of a chunk stream"; the
    Acknowledgement due after 4096 bytes (§5.4.4) is the server's first message on csid 2.
    (Media before publish is ignored by a server, ROB-6; only its bytes count here. A server that
    refuses media before connect by closing the connection without a reply is NOT-RUN here.)
    """
    async with session(rtmp) as c:
        await c.handshake()
        c.queue(WindowAckSize(4096))
        for i in range(3):
            c.queue(Audio(audio(i, 2000)), msid=1, timestamp=20 * i)
        c.queue(Command("connect", 1.0, connect_object(c.target)))
        await c.flush()
        await _answers(c, 1.0)
    rtmp.judge(check_glued_trigger(c.log, [1.0], trigger="6 KB of audio across a 4096-byte window + connect",
                                   reply="Acknowledgement", is_reply=_ack,
                                   refusal="media before connect is undefined by the spec (ROB-6 judges how a "
                                           "server treats it)"))


@pytest.mark.rule("CH-5")
async def test_chunk_size_window_connect_one_write(rtmp):
    """After the handshake, sends Set Chunk Size 4096 + Window Acknowledgement Size 2048 + a
    3000-byte connect (tid 1, padded by an extra string property) in one 4096-size chunk, in one
    write: the window is crossed by the very read that announces it.

    Requirement (§5.3.1.2.1): type 0 "MUST be used at the start of a chunk stream"; the
    Acknowledgement due after 2048 bytes (§5.4.4) is the server's first message on csid 2, and
    the connect must be read at the new chunk size (CH-16).
    """
    async with session(rtmp) as c:
        await c.handshake()
        c.queue(SetChunkSize(4096))
        c.queue(WindowAckSize(2048))
        obj = connect_object(c.target)
        base = len(encode_message(Command("connect", 1.0, {**obj, "padding": ""}))[1])
        c.queue(Command("connect", 1.0, {**obj, "padding": "x" * (3000 - base)}))
        await c.flush()
        await _answers(c, 1.0)
    rtmp.judge(check_glued_trigger(c.log, [1.0], trigger="Set Chunk Size + Window Ack Size + connect",
                                   reply="Acknowledgement", is_reply=_ack))
