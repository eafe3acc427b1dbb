"""Robustness cases (catalogue section 10): abuse must leave the server bounded and available.

Each abusive case ends by opening a *fresh* connection (handshake + connect) and judging how fast
it is served: a crashed, stuck or busy-looping server fails there even if the abusive connection
itself was handled "correctly". Nothing waits for the server's long timeouts; ROB-4 records what
happens within a short window instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import Any

import pytest

from rtmpconf.harness.checks.robustness import (
    check_bad_chunk_size,
    check_csid_flood,
    check_partial_flood,
    check_player_without_acks,
    check_publisher_acked,
    check_publisher_reset,
    check_stalled_socket,
    check_stray_media_not_relayed,
    check_unsafe_name_refused,
    open_fresh_session,
)
from rtmpconf.harness.client import PeerClosed, RtmpClient, StepTimeout
from rtmpconf.harness.scenarios import end_notice_then_republish, probe_all, start_playing
from rtmpconf.harness.testmedia import MediaTag, make_h264_aac
from rtmpconf.harness.wirelog import C2S
from rtmpconf.rtmp.chunk import basic_header, message_header
from rtmpconf.rtmp.messages import (
    Audio,
    Command,
    SetChunkSize,
    Video,
    WindowAckSize,
    status_info,
)

SHORT = {"seconds": 0.8, "gop": 8}


async def publish_head(pub: RtmpClient, name: str, tags: list[MediaTag]) -> None:
    """Connect, publish ``name`` and send ``tags`` (metadata, sequence headers, frames)."""
    await pub.handshake()
    await pub.connect()
    info = await pub.publish(name)
    assert info.get("code") == "NetStream.Publish.Start", f"setup: publish refused: {info}"
    await pub.publish_media(tags)


# -- ROB-1 partial-message flood -----------------------------------------------------------------


@pytest.mark.rule("ROB-1")
@pytest.mark.parametrize("chunk_size", [1, 128], ids=["one-byte-chunks", "full-128-byte-chunks"])
async def test_partial_message_flood(rtmp, chunk_size):
    """After connect, (optionally Set Chunk Size 1, then) 1000 chunk streams (csid 3..1002, all three
    basic-header forms) each send a fmt-0 header announcing a 0xFFFFFF-byte video message followed by
    one chunk of it (1 byte, or a full 128-byte chunk); then a ping, then a fresh connection.

    Requirement (ROB-1): this "must not trigger 1000 × 16 MB allocations ... Expected result:
    bounded memory, then a close" — the server closes (or keeps answering) and stays available.
    """
    streams = 1000
    async with rtmp.client(label="abuser") as c:
        await c.handshake()
        await c.connect()
        if chunk_size == 1:
            await c.send(SetChunkSize(1))  # from here every chunk carries one payload byte
        # Per csid: basic header (fmt 0) + message header (ts 0, length 0xFFFFFF, type 9, msid 1) +
        # the first chunk's payload (chunk_size bytes of 0x00).
        body = bytes(chunk_size)
        flood = b"".join(basic_header(0, cs) + message_header(0, 0, 0xFFFFFF, 9, 1) + body
                         for cs in range(3, 3 + streams))
        await c.send_raw(flood)
        end = c.log.total(C2S)
        await probe_all(c, timeout=1.0)
    fresh = await open_fresh_session(rtmp)
    rtmp.judge(check_partial_flood(c.log, fresh, abuse_end=end, streams=streams))


# -- ROB-2 bad Set Chunk Size --------------------------------------------------------------------


@pytest.mark.rule("ROB-2")
@pytest.mark.parametrize("value", [0, 0x80000000], ids=["zero", "high-bit"])
async def test_bad_chunk_size_refused(rtmp, value):
    """After connect, sends Set Chunk Size 0 or 0x80000000, then a ping and (if the ping is not
    answered: some servers never answer pings) a one-chunk createStream; then a fresh connection.

    Requirement (ROB-2, CH-15): Set Chunk Size 0 must not cause a busy loop, and "a high-bit value
    must be refused, not read as a negative size" — a close or the value ignored, and the server
    answers a new connection promptly.
    """
    async with rtmp.client(label="abuser") as c:
        await c.handshake()
        await c.connect()
        # 02: fmt 0 csid 2 | 00 00 00: ts 0 | 00 00 04: length 4 | 01: Set Chunk Size | 00 00 00 00: msid 0
        # then the 4-byte chunk size value (big-endian).
        await c.send_raw(bytes.fromhex("02 000000 000004 01 00000000") + value.to_bytes(4, "big"))
        end = c.log.total(C2S)
        answered = False
        if not c.closed:
            try:
                answered = await c.probe(timeout=1.0)
            except (PeerClosed, StepTimeout):
                pass
        if not answered and not c.closed:
            try:
                tid = await c.command("createStream")  # < 128 bytes: one chunk at any chunk size
                await c.wait_reply(tid, "createStream after the bad chunk size", 1.0)
            except (PeerClosed, StepTimeout, OSError):
                pass
    fresh = await open_fresh_session(rtmp)
    rtmp.judge(check_bad_chunk_size(c.log, fresh, abuse_end=end, value=value))


# -- ROB-3 many chunk streams --------------------------------------------------------------------


@pytest.mark.rule("ROB-3")
@pytest.mark.parametrize("streams", [5000, 65597], ids=["5000-csids", "all-65597-csids"])
async def test_many_chunk_streams_bounded(rtmp, streams):
    """After connect, sends one small complete video message on each of ``streams`` chunk stream ids
    from csid 3 up (65597 = every id 3..65599), then a ping; then a fresh connection.

    Requirement (ROB-3): "Opening all 65599 csids must stay bounded (compare nginx max_streams)" —
    a close at a chunk-stream limit or acceptance are both fine; the server stays available.
    """
    async with rtmp.client(label="abuser") as c:
        await c.handshake()
        await c.connect()
        # Per csid: fmt 0 header (ts 0, length 5, type 9 video, msid 7, a stream never created) and the
        # payload 17 02 00 00 00 (AVC key frame, end of sequence, CTS 0): ignored as ROB-6 media.
        payload = bytes.fromhex("17 02 000000")
        head = message_header(0, 0, len(payload), 9, 7) + payload
        flood = b"".join(basic_header(0, cs) + head for cs in range(3, 3 + streams))
        await c.send_raw(flood)
        end = c.log.total(C2S)
        await probe_all(c, timeout=1.0)
    fresh = await open_fresh_session(rtmp)
    rtmp.judge(check_csid_flood(c.log, fresh, abuse_end=end, streams=streams))


# -- ROB-4 stalled sockets -----------------------------------------------------------------------

STALL_WINDOW_S = 0.3


@pytest.mark.rule("ROB-4")
@pytest.mark.parametrize("stall", ["truncated-handshake", "idle-socket", "idle-after-handshake"])
async def test_stalled_socket_isolated(rtmp, stall):
    """Opens a connection that stalls: C0 + 700 of C1's 1536 bytes, or nothing at all, or a complete
    handshake and no connect. While it hangs, a fresh connection does handshake + connect; then the
    stalled one is watched for 0.3 s.

    Requirement (ROB-4): "Truncated handshake or an idle socket must time out with no fd or memory
    leak" — other connections are unaffected (judged); whether the stalled socket is closed within
    the short window is recorded (servers time out after 10-60 s, not waited for).
    """
    async with rtmp.client(label="stalled") as stalled:
        if stall == "truncated-handshake":
            # 03: C0 version 3 | 700 bytes of C1 (time 0, zero field 0, then random-ish filler).
            await stalled.send_raw(b"\x03" + bytes(8) + bytes(range(256)) * 2 + bytes(692 - 512))
        elif stall == "idle-after-handshake":
            await stalled.handshake()
        fresh = await open_fresh_session(rtmp)
        await stalled.wait_closed(STALL_WINDOW_S)
    what = stall.replace("-", " ")
    rtmp.judge(check_stalled_socket(stalled.log, fresh, window_s=STALL_WINDOW_S, what=what))


# -- ROB-5 publisher reset mid-chunk -------------------------------------------------------------


@pytest.mark.rule("ROB-5")
@pytest.mark.parametrize("cut", ["mid-chunk", "between-messages"])
async def test_publisher_reset_frees_name(rtmp, cut):
    """A publisher sends 0.3 s of H.264/AAC to a player, starts a keyframe message and stops inside
    its second chunk (or after a complete message), then resets the TCP connection (RST). A new
    connection republishes the same name at once.

    Requirement (ROB-5, CMD-19): "clean up, notify players (CMD-19), and free the name for an
    immediate republish" — the player gets StreamEOF / UnpublishNotify, the republish gets
    NetStream.Publish.Start.
    """
    stream = make_h264_aac(**SHORT)
    tags = list(stream.publish_sequence())
    head = [t for t in tags if t.timestamp < 300]
    key = next(t for t in stream.tags if t.keyframe and t.timestamp >= 300)
    name = rtmp.stream_name()
    pub = rtmp.client(label="publisher")
    player = rtmp.client(label="player")
    again = rtmp.client(label="republisher")
    # Each connection opens when it is used: an idle TCP connection waiting for the others' setup
    # on a slow link would meet the server's handshake timeout.
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(again.close)
        await stack.enter_async_context(pub)
        await publish_head(pub, name, head[:3])
        await stack.enter_async_context(player)
        await start_playing(player, name)
        await pub.publish_media(head[3:])
        await probe_all(pub)
        if cut == "mid-chunk":
            data = await pub.prepare(Video(key.payload), msid=pub.stream_id or 1, timestamp=key.timestamp)
            # First chunk = 1-byte basic header + 11/7/3-byte message header (fmt 0/1/2) + 128 payload
            # bytes; then a 1-byte fmt-3 header; stop 60 bytes into the second chunk's payload.
            first_header = 1 + (11, 7, 3, 0)[data[0] >> 6]
            await pub.send_raw(data[:first_header + 128 + 1 + 60])
        reset_at = time.monotonic()
        pub.abort()
        republish = await end_notice_then_republish(player, again, name)
    rtmp.judge(check_publisher_reset(player.log, republish, reset_time=reset_at, republish_log=again.log))



# -- ROB-6 stray media ---------------------------------------------------------------------------

#: Marker media that must never reach a player: an AVC inter frame and an AAC raw frame whose bodies
#: are ASCII text (27 01 000000 = inter, NALU, CTS 0; af 01 = AAC 44k/16/stereo raw).
STRAY = [Video(bytes.fromhex("27 01 000000") + b"ROB-6 stray video"),
         Audio(bytes.fromhex("af 01") + b"ROB-6 stray audio")]


STRAY_WHERE = {"before-publish": "by a connection that never published",
               "never-created-msid": "on message stream 7, never created",
               "after-refused-publish": "after a refused publish"}


@pytest.mark.rule("ROB-6")
@pytest.mark.parametrize("where", ["before-publish", "never-created-msid", "after-refused-publish"])
async def test_stray_media_not_relayed(rtmp, where):
    """A publisher streams H.264/AAC to a player. Stray media is then sent: by a second connection that
    did releaseStream/FCPublish and createStream but never publish; by the publisher itself on msid 7,
    never created; or by a second connection whose publish of the same name got BadName.

    Requirement (ROB-6): "Media before publish, or on an msid that was never created, must be
    ignored or rejected" — none of the stray messages reaches the player.
    """
    stream = make_h264_aac(**SHORT)
    tags = list(stream.publish_sequence())
    head = [t for t in tags if t.timestamp < 300]
    tail = [t for t in tags if t.timestamp >= 300]
    name = rtmp.stream_name()
    pub = rtmp.client(label="publisher")
    player = rtmp.client(label="player")
    rogue = rtmp.client(label="rogue")
    async with contextlib.AsyncExitStack() as stack:  # each connection opens when it is used
        await stack.enter_async_context(pub)
        await publish_head(pub, name, head)
        await stack.enter_async_context(player)
        await start_playing(player, name)
        sender, msid = rogue, 7
        if where == "never-created-msid":
            sender = pub
        else:
            await stack.enter_async_context(rogue)
            await rogue.handshake()
            await rogue.connect()
            if where == "before-publish":
                await rogue.command("releaseStream", name)
                await rogue.command("FCPublish", name)
                msid = await rogue.create_stream()
            else:
                await rogue.publish(name)  # refused: the name is live (CMD-14)
                msid = rogue.stream_id or 1
        for i, msg in enumerate(STRAY):
            await sender.send(msg, msid=msid, timestamp=300 + i)
        await pub.publish_media(tail)
        await probe_all(rogue, pub, player)
    rtmp.judge(check_stray_media_not_relayed(player.log, [m.payload for m in STRAY], where=STRAY_WHERE[where]))


# -- ROB-7 unsafe stream names -------------------------------------------------------------------


@pytest.mark.rule("ROB-7")
@pytest.mark.parametrize("name", ["", "../x", "a/b", "a\\b"], ids=["empty", "dotdot", "slash", "backslash"])
async def test_unsafe_name_refused(rtmp, name):
    """createStream, then publish with an empty name, "../x", "a/b" or "a\\\\b".

    Requirement (ROB-7): "An empty stream name must be refused ... Path-unsafe names must be
    refused" — NetStream.Publish.BadName (or any error status, _error, or a close); never
    NetStream.Publish.Start.
    """
    async with rtmp.client() as c:
        await c.handshake()
        await c.connect()
        msid = await c.create_stream()
        offset = c.log.total(C2S)
        await c.command("publish", name, "live", msid=msid, tid=0.0)
        try:
            await c.wait_for(_publish_answer, "publish reply", timeout=2.0)
        except (PeerClosed, StepTimeout):
            pass
    rtmp.judge(check_unsafe_name_refused(c.log, name=name, publish_offset=offset))


def _publish_answer(ev: Any) -> bool:
    msg = ev.message
    return status_info(msg) is not None or (isinstance(msg, Command) and msg.name == "_error")


# -- ROB-8 acknowledgements ----------------------------------------------------------------------

FRAME_BYTES = 100_000


def big_keyframes(total: int) -> tuple[bytes, list[bytes]]:
    """(AVC sequence header, keyframes) of about ``total`` bytes: a real IDR padded with a filler NAL
    unit (type 12), so every frame is a legal keyframe a dropping server would still deliver. Each
    filler ends with the frame's index, so every payload is distinct."""
    stream = make_h264_aac(**SHORT)
    idr = next(t.payload for t in stream.tags if t.keyframe)
    pad = FRAME_BYTES - len(idr)
    frames = []
    for i in range(math.ceil(total / FRAME_BYTES)):
        # 4-byte NALU length, NAL header 0x0C (filler data), 0xFF filler bytes, then 4 index bytes
        # (H.264 7.3.2.7 wants 0xFF bytes; receivers skip filler NAL units without reading them).
        frames.append(idr + (pad - 4).to_bytes(4, "big") + b"\x0c" + b"\xff" * (pad - 9) + i.to_bytes(4, "big"))
    return stream.video_sequence_header, frames


@pytest.mark.rule("ROB-8")
async def test_player_that_never_acks(rtmp):
    """A player with automatic acknowledgements off plays a stream; the publisher sends keyframes
    (a real IDR padded with filler NAL units to 100 kB each) totalling 1.2 × the Window Acknowledgement
    Size the server announced to the player.

    Requirement (ROB-8): "A client that ignores the Window Ack Size (never acks) must not
    deadlock the server's sending" — every frame, the last included, reaches the player.
    """
    name = rtmp.stream_name()
    pub = rtmp.client(label="publisher")
    player = rtmp.client(label="player", auto_ack=False)
    async with contextlib.AsyncExitStack() as stack:  # each connection opens when it is used
        await stack.enter_async_context(pub)
        await pub.handshake()
        await pub.connect()
        await pub.send(SetChunkSize(65536))  # fewer chunks: the test is about bytes, not chunking
        await pub.publish(name)
        await stack.enter_async_context(player)
        await start_playing(player, name)
        window = next((e.message.size for e in player.received if isinstance(e.message, WindowAckSize)), 2_500_000)
        if rtmp.too_slow(int(window * 1.2)):
            return
        sh, payloads = big_keyframes(int(window * 1.2))
        msid = pub.stream_id or 1
        await pub.send(Video(sh), msid=msid)
        for i, p in enumerate(payloads):
            await pub.send(Video(p), msid=msid, timestamp=40 * i)
        await probe_all(pub)
        await probe_all(player, timeout=5.0)
    rtmp.judge(check_player_without_acks(player.log, payloads))


@pytest.mark.rule("ROB-8")
async def test_publisher_window_acknowledged(rtmp):
    """A publisher announces Window Acknowledgement Size 262144 and publishes about 1 MB of keyframes.

    Requirement (ROB-8): "A server that never acks (Node-Media-Server) must not stall a publisher
    that enforces its window" — whether the server acknowledges is recorded (FFmpeg and OBS do not
    enforce the window, so this is not judged).
    """
    window = 262_144
    if rtmp.too_slow(1_000_000, down=False):
        return
    async with rtmp.client(label="publisher") as pub:
        await pub.handshake()
        await pub.connect()
        await pub.send(WindowAckSize(window))
        await pub.send(SetChunkSize(65536))
        await pub.publish(rtmp.stream_name())
        sh, frames = big_keyframes(1_000_000)
        msid = pub.stream_id or 1
        await pub.send(Video(sh), msid=msid)
        for i, f in enumerate(frames):
            await pub.send(Video(f), msid=msid, timestamp=40 * i)
        await probe_all(pub)
    rtmp.judge(check_publisher_acked(pub.log, window=window))



# -- ROB-9 half-open dead publisher --------------------------------------------------------------

#: ROB-9 waits at most this long by default; longer idle timeouts need RTMPCONF_SLOW=1.
ROB9_DEFAULT_BUDGET_S = 20.0
#: Slack on top of the server's idle timeout (its timer granularity, our retry period).
ROB9_MARGIN_S = 5.0


@pytest.mark.slow_case  # real-time media or a server timeout: scheduled first with -j
@pytest.mark.rule("ROB-9")
async def test_silent_publisher_frees_name(rtmp):
    """A publisher sends metadata, sequence headers and 0.3 s of H.264/AAC, then neither reads nor
    writes again and never closes (a half-open connection as the server sees it). A second client
    tries to publish the same name on a new connection once a second, until the target's idle
    timeout plus 5 s.

    Requirement (ROB-9): "within the server's idle timeout for publishers the name comes free, so the
    encoder's reconnect can publish again instead of getting BadName".
    """
    import os

    from rtmpconf.harness.checks.robustness import check_dead_publisher_released
    from rtmpconf.harness.verdict import not_run

    idle = rtmp.idle_timeout
    if idle is None:
        rtmp.judge(not_run("ROB-9", "the target's idle timeout is unknown: pass --idle-timeout SECONDS"))
        return
    bound = idle + ROB9_MARGIN_S
    if bound > ROB9_DEFAULT_BUDGET_S and not os.environ.get("RTMPCONF_SLOW"):
        rtmp.judge(not_run("ROB-9", f"gated: waiting for a {idle:g} s idle timeout needs RTMPCONF_SLOW=1"))
        return
    if bound + 10 > rtmp.item.config.getoption("--rtmp-case-timeout"):
        rtmp.judge(not_run("ROB-9", f"--case-timeout is below the {bound + 10:g} s this case needs"))
        return
    stream = make_h264_aac(**SHORT)
    head = [t for t in stream.publish_sequence() if t.timestamp < 300]
    name = rtmp.stream_name()
    attempts: list[tuple[float, str]] = []
    async with rtmp.client(label="silent publisher") as dead:
        await publish_head(dead, name, head)
        await dead.probe()
        silent_since = time.monotonic()  # from here the client neither reads nor writes
        while time.monotonic() - silent_since < bound:
            t0 = time.monotonic()
            again = rtmp.client(label=f"republish after {t0 - silent_since:.0f} s")
            code = "no answer"
            try:
                async with again:
                    await again.handshake()
                    await again.connect()
                    code = str((await again.publish(name)).get("code"))
            except (PeerClosed, StepTimeout, OSError):
                pass
            attempts.append((time.monotonic() - silent_since, code))
            if code == "NetStream.Publish.Start":
                break
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
        dead.abort()
    rtmp.judge(check_dead_publisher_released(attempts, idle_timeout=idle, margin=ROB9_MARGIN_S))
