"""Protocol and user control cases (catalogue section 4, Adobe RTMP 1.0 §5.4, §6.2, §7.1.7)."""

from __future__ import annotations

import struct

import pytest

from rtmpconf.harness.checks.control import (
    check_ack_sequence,
    check_acknowledgements,
    check_aggregate_delivery,
    check_peer_bandwidth_replies,
    check_ping_echo,
    check_rejected_or_ignored,
    check_stream_begin,
    check_tolerated,
    check_user_control_channel,
    check_window_reply_not_required,
)
from rtmpconf.harness.client import PeerClosed, RtmpClient, StepTimeout
from rtmpconf.harness.scenarios import PROBE_S, fresh_session, publish_stream, settle, start_playing
from rtmpconf.harness.testmedia import make_h264_aac
from rtmpconf.harness.verdict import Verdict
from rtmpconf.rtmp import media
from rtmpconf.rtmp.errors import ProtocolError
from rtmpconf.rtmp.messages import (
    Aggregate,
    SetChunkSize,
    SetPeerBandwidth,
    UnknownMessage,
    UserControl,
    Video,
    WindowAckSize,
)

# -- scenario helpers ------------------------------------------------------------------------------


async def wait_pong(c: RtmpClient, value: bytes, timeout: float = PROBE_S) -> None:
    """Read until a PingResponse echoing ``value`` (or any answer / close / deadline)."""
    try:
        await c.wait_for(lambda e: isinstance(e.message, UserControl) and e.message.event == 7
                         and e.message.data[:4] == value, "ping response", timeout)
    except (PeerClosed, ProtocolError, StepTimeout):
        pass


def filler_keyframe(size: int) -> bytes:
    """An AVC keyframe message of ``size`` bytes: FLV video header + one IDR NAL of filler.

    Every frame a keyframe keeps the target's GOP cache at one frame while megabytes pass.
    """
    nal_len = size - 5 - 4  # 5-byte AVC video header, 4-byte NAL length prefix
    # NAL header 0x65 = forbidden 0, nal_ref_idc 3, type 5 (IDR slice); 0xAA filler never
    # forms a 00 00 0x start-code pattern.
    nal = b"\x65" + b"\xaa" * (nal_len - 1)
    return media.build_avc_video(media.VideoFrameType.KEY, media.AvcPacketType.NALU, 0,
                                 struct.pack(">I", nal_len) + nal)


async def start_publishing(c: RtmpClient, name: str) -> int:
    """Handshake, connect, publish ``name`` (FMLE order); returns the stream id."""
    await c.handshake()
    await c.connect()
    await c.publish(name)
    assert c.stream_id is not None
    return c.stream_id


# -- CTRL-1 / CTRL-2 -----------------------------------------------------------------------------


@pytest.mark.rule("CTRL-1")
async def test_ack_at_window(rtmp):
    """Announces Window Acknowledgement Size 1 000 000, publishes 6 MiB of video (25 keyframes of
    ~250 KB, chunk size 65536, 1 s of timestamps, as fast as possible), then probes.

    Requirement (§5.4.4): "The receiving peer MUST send an Acknowledgement (Section 5.4.3) after
    receiving the indicated number of bytes since the last Acknowledgement was sent" — at least
    5 acks with increasing sequence numbers (6 MiB rather than 5 leaves each ack a quarter
    window of read granularity); none at all FAILs.
    """
    if rtmp.too_slow(6 * 1024 * 1024, down=False):
        return
    async with rtmp.client() as c:
        sid = await start_publishing(c, rtmp.stream_name())
        await c.send(SetChunkSize(65536))
        await c.send(WindowAckSize(1_000_000))
        frame = filler_keyframe(6 * 1024 * 1024 // 25)
        for i in range(25):
            await c.send(Video(frame), msid=sid, timestamp=i * 40)
        await settle(c, 2.0)
        await c.collect(0.05)  # an ack may trail the PingResponse by one write
    rtmp.judge(check_acknowledgements(c.log))


@pytest.mark.rule("CTRL-2")
async def test_ack_sequence_counts_bytes(rtmp):
    """Announces a 250 000-byte window and publishes ten 100 000-byte video messages, probing
    after each so the server's read position is known.

    Requirement (§5.4.3): the Acknowledgement's sequence number is "the number of bytes received
    so far"; whether the 3073 handshake bytes count varies, so ±3073 is accepted (CTRL-2).
    """
    if rtmp.too_slow(1_000_000, down=False):
        return
    async with rtmp.client() as c:
        sid = await start_publishing(c, rtmp.stream_name())
        await c.send(SetChunkSize(65536))
        await c.send(WindowAckSize(250_000))
        frame = filler_keyframe(100_000)
        for i in range(10):
            await c.send(Video(frame), msid=sid, timestamp=i * 40)
            await settle(c)
        await c.collect(0.05)
    rtmp.judge(check_ack_sequence(c.log))


# -- CTRL-3 / CTRL-4: Set Peer Bandwidth -------------------------------------------------------------


@pytest.mark.rule("CTRL-3")
async def test_window_reply_not_required(rtmp):
    """Connects and publishes with a client that never answers the server's Set Peer Bandwidth
    with a Window Acknowledgement Size (as FFmpeg and OBS may not).

    Requirement (CTRL-3): the receiver SHOULD answer Set Peer Bandwidth, so the server must not
    require that answer before serving connect, createStream and publish.
    """
    c = rtmp.client()
    c.conn.auto_window_reply = False  # never answer Set Peer Bandwidth
    async with c:
        await c.handshake()
        await c.connect()
        try:
            await c.publish(rtmp.stream_name())
        except (PeerClosed, StepTimeout, ProtocolError):
            pass
        await settle(c)
    rtmp.judge(check_window_reply_not_required(c.log))


SPB_SERIES = {
    # (window, limit type): Hard 1e6 -> Dynamic 2e6 (after Hard: applies) -> Soft 5e5 (min:
    # applies) -> Dynamic 9e6 after a Soft (ignored).
    "hard-dynamic-soft-dynamic": [(1_000_000, 0), (2_000_000, 2), (500_000, 1), (9_000_000, 2)],
    # Limit type 7 is undefined (§5.4.5 knows 0, 1, 2): ignore it.
    "unknown-limit-type": [(1_000_000, 0), (3_000_000, 7)],
}


@pytest.mark.rule("CTRL-4")
@pytest.mark.parametrize("series", sorted(SPB_SERIES))
async def test_peer_bandwidth_limit_types(rtmp, series):
    """Sends a series of Set Peer Bandwidth messages after connect, probing after each, and
    records which ones the server answers with a Window Acknowledgement Size (informational).

    Requirement (§5.4.5): Hard = use the value, Soft = min(current, new), Dynamic = Hard only if
    the previous limit was Hard; "The peer receiving this message SHOULD respond with a Window
    Acknowledgement Size message if the window size is different from the last one sent".
    """
    async with rtmp.client() as c:
        await c.handshake()
        await c.connect()
        await settle(c)
        for size, kind in SPB_SERIES[series]:
            try:
                await c.send(SetPeerBandwidth(size, kind))
            except (PeerClosed, OSError):
                break
            await settle(c)
    rtmp.judge(check_peer_bandwidth_replies(c.log))


# -- CTRL-5: short control payloads -------------------------------------------------------------------

SHORT_CONTROL = {
    "set-chunk-size-2-bytes": (1, b"\x00\x80"),  # chunk size needs 4 bytes; 2 given (0x0080)
    "abort-2-bytes": (2, b"\x00\x03"),  # chunk stream id needs 4 bytes
    "ack-2-bytes": (3, b"\x00\x10"),  # sequence number needs 4 bytes
    "window-ack-size-2-bytes": (5, b"\x00\x10"),  # window needs 4 bytes
    "set-peer-bandwidth-4-bytes": (6, b"\x00\x10\x00\x00"),  # 4-byte window, limit type byte missing
    "user-control-1-byte": (4, b"\x00"),  # event type needs 2 bytes
    "ping-request-2-bytes": (4, b"\x00\x06\x00\x01"),  # event 6 (PingRequest) with 2 of its 4 data bytes
}


@pytest.mark.rule("CTRL-5")
@pytest.mark.parametrize("vector", list(SHORT_CONTROL))
async def test_short_control_payload(rtmp, vector):
    """After connect, sends one protocol control / user control message whose payload is shorter
    than its fields (see SHORT_CONTROL), probes, then opens a fresh connection.

    Requirement (CTRL-5, robustness): a short control payload closes the connection or is
    ignored — never an out-of-bounds read; the server stays up for new connections.
    """
    type_id, payload = SHORT_CONTROL[vector]
    async with rtmp.client() as c:
        await c.handshake()
        await c.connect()
        await c.send(UnknownMessage(type_id, payload))  # raw type + payload on csid 2, msid 0
        await settle(c)
    fresh = await fresh_session(rtmp, label="fresh", handshake_timeout=None)
    rtmp.judge(check_rejected_or_ignored("CTRL-5", c.log, f"{vector} (type {type_id}, {payload.hex(' ')})",
                                         fresh=fresh))


# -- CTRL-6 / CTRL-7: User Control, StreamBegin ---------------------------------------------------------


@pytest.mark.rule("CTRL-6")
async def test_user_control_on_stream_zero(rtmp):
    """Connects, creates a stream, plays a name and probes; looks at every User Control message
    the server sent (StreamBegin, PingResponse ...).

    Requirement (§6.2): "User Control messages SHOULD use message stream ID 0 ... and, when
    sent over RTMP Chunk Stream, be sent on chunk stream ID 2."
    """
    async with rtmp.client() as c:
        await c.handshake()
        await c.connect()
        try:
            await c.play(rtmp.stream_name())
        except (PeerClosed, StepTimeout, ProtocolError):
            pass
        await settle(c)
    rtmp.judge(check_user_control_channel(c.log))


@pytest.mark.rule("CTRL-6")
async def test_user_control_timestamp_ignored(rtmp):
    """Sends PingRequest 0x01020304 in a message whose header timestamp is 0x00ABCDEF.

    Requirement (§6.2): User Control events "take effect at the time they are received in the
    stream"; the header timestamp is ignored, so the ping is answered normally.
    """
    async with rtmp.client() as c:
        await c.handshake()
        await c.connect()
        await c.send(UserControl.ping_request(0x01020304), timestamp=0x00ABCDEF)
        await wait_pong(c, b"\x01\x02\x03\x04")
    rtmp.judge(check_ping_echo(c.log, b"\x01\x02\x03\x04", rule="CTRL-6"))


@pytest.mark.rule("CTRL-7")
async def test_stream_begin_after_connect(rtmp):
    """Connects and probes.

    Requirement (§7.2.1.1): "The server sends the user control message (StreamBegin) to the
    client" with stream id 0 after a successful connect (CTRL-7: the server should send it).
    """
    async with rtmp.client() as c:
        await c.handshake()
        await c.connect()
        await settle(c)
    rtmp.judge(check_stream_begin(c.log, 0, before="_result"))


@pytest.mark.rule("CTRL-7")
async def test_stream_begin_at_publish(rtmp):
    """Publishes a name (releaseStream, FCPublish, createStream, publish) and probes.

    Requirement (§7.3.1 / CTRL-7): StreamBegin with the stream's id at publish start.
    """
    async with rtmp.client() as c:
        sid = await start_publishing(c, rtmp.stream_name())
        await settle(c)
    rtmp.judge(check_stream_begin(c.log, sid, before="NetStream.Publish.Start"))


@pytest.mark.rule("CTRL-7")
async def test_stream_begin_at_play(rtmp):
    """A publisher goes live; a player plays the name and probes.

    Requirement (§7.2.2.1): "the server sends a protocol message StreamBegin to the client" with
    the play stream's id before Play.Start (CTRL-7).
    """
    name = rtmp.stream_name()
    async with rtmp.client(label="publisher") as pub:
        await publish_stream(pub, name, until_ms=100)
        async with rtmp.client(label="player") as c:
            await start_playing(c, name)
            await settle(c)
    assert c.stream_id is not None
    rtmp.judge(check_stream_begin(c.log, c.stream_id, before="NetStream.Play.Start"))


# -- CTRL-8 / CTRL-9: stream events and SetBufferLength ----------------------------------------------------

STREAM_EVENTS = {"stream-eof": 1, "stream-dry": 2, "stream-is-recorded": 4}


@pytest.mark.rule("CTRL-8")
@pytest.mark.parametrize("event", list(STREAM_EVENTS))
async def test_server_event_from_client_tolerated(rtmp, event):
    """After connect and createStream, the client sends a server-to-client stream event
    (StreamEOF 1 / StreamDry 2 / StreamIsRecorded 4, stream id 1) and probes.

    Requirement (CTRL-8): these events "each carry a 4-byte stream id" and receivers must
    tolerate them arriving unexpectedly. The MUST binds clients; a server that drops the
    connection on one is recorded as NON-STRICT.
    """
    async with rtmp.client() as c:
        await c.handshake()
        await c.connect()
        sid = await c.create_stream()
        await c.send(UserControl(STREAM_EVENTS[event], struct.pack(">I", sid)))
        await settle(c)
    rtmp.judge(check_tolerated("CTRL-8", c.log, f"client-sent {event}", close_verdict=Verdict.NON_STRICT))


@pytest.mark.rule("CTRL-9")
@pytest.mark.parametrize("when", ["before-connect", "before-create-stream", "stream-id-0", "unknown-stream-id"])
async def test_set_buffer_length_any_time(rtmp, when):
    """Sends SetBufferLength (event 3, stream id + 3000 ms) at an odd moment: before connect,
    after connect but before createStream (for stream 1), with stream id 0, or for stream 77
    that was never created; then continues (connect / createStream) and probes.

    Requirement (CTRL-9): the server must accept SetBufferLength at any time, including before
    createStream, with id 0 or with an unknown id (FFmpeg sends it right after play).
    """
    async with rtmp.client() as c:
        await c.handshake()
        try:
            if when == "before-connect":
                await c.send(UserControl.set_buffer_length(0, 3000))
                await c.connect()
            elif when == "before-create-stream":
                await c.connect()
                await c.send(UserControl.set_buffer_length(1, 3000))
                await c.create_stream()
            else:
                await c.connect()
                await c.create_stream()
                await c.send(UserControl.set_buffer_length(0 if when == "stream-id-0" else 77, 3000))
        except (PeerClosed, StepTimeout, ProtocolError):
            pass
        await settle(c)
    rtmp.judge(check_tolerated("CTRL-9", c.log, f"SetBufferLength {when}"))


# -- CTRL-10: ping ------------------------------------------------------------------------------------------


@pytest.mark.rule("CTRL-10")
async def test_ping_request_echoed(rtmp):
    """Sends PingRequest with timestamp 0xDEADBEEF after connect.

    Requirement (§7.1.7): "PingResponse ... The client sends this event to the server in
    response to the ping request. The event data is a 4-byte timestamp, which was received with
    the PingRequest." — byte-exact echo.
    """
    async with rtmp.client() as c:
        await c.handshake()
        await c.connect()
        await c.send(UserControl.ping_request(0xDEADBEEF))
        await wait_pong(c, b"\xde\xad\xbe\xef")
    rtmp.judge(check_ping_echo(c.log, b"\xde\xad\xbe\xef"))


@pytest.mark.rule("CTRL-10")
@pytest.mark.parametrize("value", [0, 0xFFFFFFFF], ids=["zero", "all-ones"])
async def test_ping_echo_values(rtmp, value):
    """Sends PingRequest with an edge timestamp (0 or 0xFFFFFFFF) after connect.

    Requirement (§7.1.7): the PingResponse carries the 4-byte timestamp received with the
    PingRequest — also for 0 and for values with the top bit set (no signed/zero shortcuts).
    """
    want = struct.pack(">I", value)
    async with rtmp.client() as c:
        await c.handshake()
        await c.connect()
        await c.send(UserControl.ping_request(value))
        await wait_pong(c, want)
    rtmp.judge(check_ping_echo(c.log, want))


@pytest.mark.rule("CTRL-10")
async def test_ping_before_connect(rtmp):
    """Sends PingRequest 0x0BADF00D right after the handshake, before connect.

    Requirement (§7.1.7): a PingRequest is answered with its 4 bytes; nothing in the spec ties
    user control to a connected NetConnection.
    """
    async with rtmp.client() as c:
        await c.handshake()
        await c.send(UserControl.ping_request(0x0BADF00D))
        await wait_pong(c, b"\x0b\xad\xf0\x0d")
    rtmp.judge(check_ping_echo(c.log, b"\x0b\xad\xf0\x0d"))


@pytest.mark.rule("CTRL-10")
async def test_ping_while_publishing(rtmp):
    """Publishes 200 ms of H.264/AAC, sends PingRequest 0x7E57AB1E between media messages, then
    more media.

    Requirement (§7.1.7): the PingResponse echoes the 4 bytes, also mid-stream.
    """
    name = rtmp.stream_name()
    async with rtmp.client() as c:
        stream = await publish_stream(c, name, until_ms=200)
        await c.send(UserControl.ping_request(0x7E57AB1E))
        await c.publish_media([t for t in stream.tags if 200 <= t.timestamp < 400])
        await wait_pong(c, b"\x7e\x57\xab\x1e")
    rtmp.judge(check_ping_echo(c.log, b"\x7e\x57\xab\x1e"))


# -- CTRL-11 / CTRL-12: unknown events and message types -------------------------------------------------------


@pytest.mark.rule("CTRL-11")
@pytest.mark.parametrize("event", [31, 32, 99], ids=["buffer-empty-31", "buffer-ready-32", "unknown-99"])
async def test_undocumented_event_ignored(rtmp, event):
    """After connect and createStream, sends User Control event 31 (BufferEmpty), 32
    (BufferReady) or 99 (undefined), each with a 4-byte stream id, and probes.

    Requirement (CTRL-11): undocumented events should be ignored, not treated as fatal.
    """
    async with rtmp.client() as c:
        await c.handshake()
        await c.connect()
        sid = await c.create_stream()
        await c.send(UserControl(event, struct.pack(">I", sid)))
        await settle(c)
    rtmp.judge(check_tolerated("CTRL-11", c.log, f"User Control event {event}", close_verdict=Verdict.NON_STRICT))


UNKNOWN_TYPES = {
    "type-7": (7, b"\x00\x00\x00\x00"),  # unassigned type id, 4 zero bytes
    # Type 19 AMF0 shared object: name "so" (U16 2), version 0, persistence flag 0, reserved 0,
    # no events.
    "shared-object-19": (19, b"\x00\x02so" + b"\x00\x00\x00\x00" * 3),
    "type-0x30": (0x30, b"\xde\xad"),  # undefined type id, 2 arbitrary bytes
}


@pytest.mark.rule("CTRL-12")
@pytest.mark.parametrize("kind", list(UNKNOWN_TYPES))
async def test_unknown_message_type_mid_stream(rtmp, kind):
    """Publishes 200 ms of media, injects a message of an unknown/unsupported type on the
    stream's msid (see UNKNOWN_TYPES), publishes 200 ms more and probes.

    Requirement (CTRL-12): unknown or unsupported message types should be ignored; the session
    survives.
    """
    type_id, payload = UNKNOWN_TYPES[kind]
    async with rtmp.client() as c:
        stream = await publish_stream(c, rtmp.stream_name(), until_ms=200)
        try:
            await c.send(UnknownMessage(type_id, payload), msid=c.stream_id or 1, timestamp=200)
            await c.publish_media([t for t in stream.tags if 200 <= t.timestamp < 400])
        except (PeerClosed, OSError):
            pass
        await settle(c)
    rtmp.judge(check_tolerated("CTRL-12", c.log, f"message type {type_id}", close_verdict=Verdict.NON_STRICT))


# -- CTRL-13: aggregate ------------------------------------------------------------------------------------------


def aggregate_body(subs: list[tuple[int, int, bytes]], sub_msid: int) -> bytes:
    """Aggregate payload (§7.1.6): per sub-message an 11-byte header — type (1), length (3),
    timestamp (3 + 1 extension byte), stream id (3) — then the body and a 4-byte back pointer
    (11 + body length)."""
    out = b""
    for type_id, ts, body in subs:
        out += (bytes([type_id]) + len(body).to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(3, "big")
                + bytes([(ts >> 24) & 0xFF]) + sub_msid.to_bytes(3, "big") + body
                + (11 + len(body)).to_bytes(4, "big"))
    return out


@pytest.mark.rule("CTRL-13")
@pytest.mark.parametrize("sub_msid", [0, 5], ids=["sub-msid-0", "sub-msid-5"])
async def test_aggregate_timestamps(rtmp, sub_msid):
    """The publisher sends the AVC sequence header and a keyframe at ts 960; a player joins;
    the publisher sends an Aggregate (type 22) with timestamp 1000 holding a keyframe and two
    inter frames at sub-timestamps 5000/5040/5080 (sub-header stream id 0 or 5).

    Requirement (§7.1.6): "The message stream ID of the aggregate message overrides the message
    stream IDs of the sub-messages" and the sub-messages are offset by (aggregate timestamp -
    first sub timestamp): the player gets 1000/1040/1080 on its own stream. A server that drops
    aggregates is UNIMPLEMENTED.
    """
    stream = make_h264_aac(seconds=4.0)
    video = [t for t in stream.tags if t.type_id == 9]
    keys = [t for t in video if t.keyframe]
    k0, k1 = keys[0], keys[1]
    after_k1 = [t for t in video if t.timestamp > k1.timestamp][:2]
    subs = [(9, 5000, k1.payload), (9, 5040, after_k1[0].payload), (9, 5080, after_k1[1].payload)]
    name = rtmp.stream_name()
    async with rtmp.client(label="publisher") as pub:
        sid = await start_publishing(pub, name)
        await pub.send(Video(stream.video_sequence_header), msid=sid, timestamp=0)
        await pub.send(Video(k0.payload), msid=sid, timestamp=960)
        async with rtmp.client(label="player") as player:
            await start_playing(player, name)
            await pub.send(Aggregate(aggregate_body(subs, sub_msid)), msid=sid, timestamp=1000)
            last = subs[-1][2]
            try:
                await player.wait_for(lambda e: (e.raw.type_id == 9 and bytes(e.raw.payload) == last)
                                      or (e.raw.type_id == 22 and last in bytes(e.raw.payload)),
                                      "aggregate frames", PROBE_S)
            except (StepTimeout, PeerClosed, ProtocolError):
                pass
    rtmp.judge(check_aggregate_delivery(player.log, plain=(960, k0.payload),
                                        subs=[(1000, subs[0][2]), (1040, subs[1][2]), (1080, subs[2][2])],
                                        msid=player.stream_id))
