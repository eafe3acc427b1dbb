"""The reference server end to end, driven by the harness client over loopback."""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Any

from rtmpconf.harness.client import RtmpClient, Target
from rtmpconf.harness.testmedia import MediaTag, make_h264_aac
from rtmpconf.rtmp import media
from rtmpconf.rtmp.chunk import basic_header
from rtmpconf.rtmp.messages import (
    Acknowledgement, Command, Data, SetChunkSize, SetPeerBandwidth, UserControl, UserControlEvent, Video,
    WindowAckSize,
)
from rtmpconf.rtmp.session import MessageReceived
from rtmpconf.reference_server.server import ServerThread
from tests.integration.conftest import connected, run


def media_events(events: list[MessageReceived]) -> list[MessageReceived]:
    return [e for e in events if e.raw.type_id in (8, 9)
            or (isinstance(e.message, Data) and e.message.name == "onMetaData")]


async def start_publisher(target: Target, name: str, seconds: float = 2.0, **kw: Any) -> tuple[RtmpClient, Any]:
    stream = make_h264_aac(seconds=seconds, **kw)
    pub = await connected(target, "publisher")
    info = await pub.publish(name)
    assert info["code"] == "NetStream.Publish.Start", info
    msid = pub.stream_id
    await pub.send(Data(("@setDataFrame", "onMetaData", {"width": 320.0, "height": 180.0})), msid=msid)
    await pub.send(Video(stream.video_sequence_header), msid=msid, timestamp=stream.tags[0].timestamp)
    assert stream.audio_sequence_header is not None
    from rtmpconf.rtmp.messages import Audio
    await pub.send(Audio(stream.audio_sequence_header), msid=msid, timestamp=stream.tags[0].timestamp)
    return pub, stream


def test_connect_reply_sequence(target: Target) -> None:
    async def scenario() -> None:
        c = RtmpClient(target)
        await c.open()
        await c.handshake()
        reply = await c.connect()
        assert reply.name == "_result"
        info = reply.arguments[0]
        assert info["code"] == "NetConnection.Connect.Success" and info["level"] == "status"
        kinds = [type(e.message).__name__ for e in c.received]
        # CMD-4: WinAck, SetPeerBW, SetChunkSize, StreamBegin(0), _result
        assert kinds == ["WindowAckSize", "SetPeerBandwidth", "SetChunkSize", "UserControl", "Command"]
        spb = c.received[1].message
        assert isinstance(spb, SetPeerBandwidth) and spb.limit_type == 2
        assert all(e.raw.csid == 2 and e.raw.msid == 0 for e in c.received[:4])  # CH-20
        await c.close()
    run(scenario())


def test_late_joiner_gets_metadata_headers_then_keyframe_on_the_wire(target: Target) -> None:
    """GOP-1: onMetaData, video SH, audio SH, then a keyframe; first message per csid is fmt 0."""
    async def scenario() -> None:
        pub, stream = await start_publisher(target, "gop1")
        # Publish 1.3 GOPs so the player joins mid-GOP.
        tags = [t for t in stream.tags if t.timestamp < 1300]
        await pub.publish_media(tags)
        assert await pub.probe()  # the server has taken in every frame
        player = await connected(target, "player")
        await player.play("gop1")
        assert await player.probe()  # the catch-up was written before the PingResponse
        msgs = media_events(player.received)
        assert len(msgs) >= 4
        first = msgs[0].message
        assert isinstance(first, Data) and first.values[0] == "onMetaData"
        assert msgs[1].raw.type_id == 9 and media.is_video_sequence_header(msgs[1].raw.payload)
        assert msgs[2].raw.type_id == 8 and media.is_audio_sequence_header(msgs[2].raw.payload)
        first_frame = next(m for m in msgs[3:] if m.raw.type_id == 9)
        assert media.is_video_keyframe(first_frame.raw.payload)
        assert first_frame.raw.timestamp == 1000  # the GOP that started at 1000 ms
        # No inter frame before the first keyframe, and the first chunk per csid is fmt 0.
        dec = player.log.decode("s2c")
        seen: set[int] = set()
        for ch in dec.chunks:
            if ch.csid not in seen:
                seen.add(ch.csid)
                assert ch.fmt == 0, ch
        await pub.close()
        await player.close()
    run(scenario())


def test_live_frames_arrive_in_order_with_monotonic_timestamps(target: Target) -> None:
    async def scenario() -> None:
        pub, stream = await start_publisher(target, "live1")
        player = await connected(target, "player")
        await player.play("live1")
        await pub.publish_media(stream.tags)
        await player.collect(0.8)
        got = [e for e in media_events(player.received) if e.raw.type_id in (8, 9)]
        sent = [t for t in stream.tags]
        payloads = [e.raw.payload for e in got
                    if not media.is_video_sequence_header(e.raw.payload)
                    and not media.is_audio_sequence_header(e.raw.payload)]
        assert payloads == [t.payload for t in sent]
        for type_id in (8, 9):
            ts = [e.raw.timestamp for e in got if e.raw.type_id == type_id]
            assert ts == sorted(ts)
        await pub.close()
        await player.close()
    run(scenario())


def test_duplicate_publish_gets_badname_and_keeps_connection(target: Target) -> None:
    async def scenario() -> None:
        pub, _ = await start_publisher(target, "dup")
        second = await connected(target, "second")
        info = await second.publish("dup")
        assert info["code"] == "NetStream.Publish.BadName" and info["level"] == "error"
        # CMD-14: the connection is kept: another call still gets its reply.
        sid = await second.create_stream()
        assert sid >= 1 and not second.closed
        await pub.close()
        await second.close()
    run(scenario())


def test_publisher_reset_mid_chunk_notifies_players_and_frees_name(target: Target) -> None:
    """ROB-5 / CMD-19 / GOP-7."""
    async def scenario() -> None:
        pub, stream = await start_publisher(target, "rst")
        player = await connected(target, "player")
        await player.play("rst")
        await pub.publish_media(stream.tags[:30])
        # Half of a large video message, then a TCP reset.
        big = stream.tags[0].payload * 3
        head = basic_header(0, 6) + struct.pack(">I", 0)[1:] + len(big).to_bytes(3, "big") + b"\x09" + \
            struct.pack("<I", pub.stream_id or 1)
        await pub.send_raw(head + big[:1000])
        pub.abort()
        info = await player.wait_status("unpublish notify", ("NetStream.Play.UnpublishNotify",))
        assert info["level"] == "status"
        assert any(isinstance(e.message, UserControl) and e.message.event == UserControlEvent.STREAM_EOF
                   for e in player.received)
        # The name is free at once; a republish with new headers reaches the player before frames.
        pub2 = await connected(target, "publisher2")
        info = await pub2.publish("rst")
        assert info["code"] == "NetStream.Publish.Start"
        stream2 = make_h264_aac(seconds=1.0, width=256, height=144)
        mark = len(player.received)
        await pub2.send(Video(stream2.video_sequence_header), msid=pub2.stream_id)
        await pub2.publish_media(stream2.tags[:10])
        await player.collect(0.5)
        after = [e for e in player.received[mark:] if e.raw.type_id == 9]
        assert after and after[0].raw.payload == stream2.video_sequence_header
        assert media.is_video_keyframe(after[1].raw.payload)
        await pub2.close()
        await player.close()
    run(scenario())


def test_timestamps_cross_0xffffff_continuously(target: Target) -> None:
    """TS-6: a publisher starting just before 0xFFFFFF ms; one player before, one after."""
    async def scenario() -> None:
        start = 0xFFFFFF - 1000
        pub, stream = await start_publisher(target, "wrap", seconds=3.0, start_ms=start)
        early = await connected(target, "early")
        await early.play("wrap")
        await pub.publish_media(stream.tags[:75])  # up to ~1.5 s, crossing the boundary
        late = await connected(target, "late")
        await late.play("wrap")
        await pub.publish_media(stream.tags[75:])
        await early.collect(0.8)
        await late.collect(0.3)
        for p in (early, late):
            video = [e.raw.timestamp for e in media_events(p.received) if e.raw.type_id == 9][1:]
            assert video, p.log.label
            assert all(0 <= b - a <= 80 for a, b in zip(video, video[1:])), video
        assert max(e.raw.timestamp for e in early.received) > 0xFFFFFF
        late_video = [e.raw.timestamp for e in media_events(late.received) if e.raw.type_id == 9]
        assert late_video[-1] > 0xFFFFFF
        await pub.close()
        await early.close()
        await late.close()
    run(scenario())


def test_publisher_omitting_fmt3_extended_timestamp(target: Target) -> None:
    """TS-4/5: an OBS-before-2024 publisher leaves out the fmt-3 ext field; payloads survive."""
    async def scenario() -> None:
        c = RtmpClient(target, ext_ts_on_fmt3=False, label="obs-old")
        await c.open()
        await c.handshake()
        await c.connect()
        info = await c.publish("noext")
        assert info["code"] == "NetStream.Publish.Start"
        stream = make_h264_aac(seconds=1.0, start_ms=0x01000000)
        player = await connected(target, "player")
        await player.play("noext")
        await c.send(Video(stream.video_sequence_header), msid=c.stream_id, timestamp=0x01000000)
        await c.publish_media(stream.tags)
        await player.collect(0.5)
        got = [e.raw.payload for e in media_events(player.received) if e.raw.type_id == 9][1:]
        assert got == [t.payload for t in stream.tags if t.type_id == 9]
        await c.close()
        await player.close()
    run(scenario())


def test_acknowledgement_at_window(target: Target) -> None:
    """CTRL-1: window 1 MB, publish 5 MB: five or more acks with increasing sequence numbers."""
    async def scenario() -> None:
        c = await connected(target, "acker")
        await c.send(WindowAckSize(1_000_000))
        await c.publish("acks")
        payload = b"\x27\x01\x00\x00\x00" + bytes(60_000)
        for i in range(90):
            await c.send(Video(payload), msid=c.stream_id, timestamp=40 * i)
        await c.collect(0.5)
        acks = [e.message.sequence for e in c.received if isinstance(e.message, Acknowledgement)]
        assert len(acks) >= 5, acks
        assert acks == sorted(acks)
        await c.close()
    run(scenario())


def test_ping_request_is_echoed(target: Target) -> None:
    async def scenario() -> None:
        c = await connected(target)
        await c.send(UserControl.ping_request(0xDEADBEEF))
        ev = await c.wait_for(lambda e: isinstance(e.message, UserControl)
                              and e.message.event == UserControlEvent.PING_RESPONSE, "ping")
        assert isinstance(ev.message, UserControl) and ev.message.data == struct.pack(">I", 0xDEADBEEF)
        await c.close()
    run(scenario())


def test_unknown_command_answered_never_disconnects(target: Target) -> None:
    async def scenario() -> None:
        c = await connected(target)
        tid = await c.command("noSuchCommand", "x")
        reply = await c.wait_reply(tid, "unknown command")
        assert reply.name == "_error"
        tid = await c.command("_checkbw")
        assert (await c.wait_reply(tid, "_checkbw")).name == "_result"
        assert await c.create_stream() >= 1
        await c.close()
    run(scenario())


def test_stalled_handshake_times_out(server_factory: Any) -> None:
    srv: ServerThread = server_factory(handshake_timeout_s=0.5)
    async def scenario() -> None:
        c = RtmpClient(Target("127.0.0.1", srv.port), timeout=3.0)
        await c.open()
        await c.send_raw(b"\x03" + bytes(700))  # C0 and half of C1, then silence
        t0 = time.monotonic()
        assert await c.wait_closed(3.0)
        assert time.monotonic() - t0 < 2.0
    run(scenario())


def test_many_csids_announcing_16mb_close_cleanly(target: Target) -> None:
    """ROB-1: bounded memory, then a clean close."""
    async def scenario() -> None:
        c = await connected(target)
        data = b"".join(basic_header(0, 100 + i) + bytes.fromhex("000000 FFFFFF 09 01000000") + bytes(128)
                        for i in range(1000))
        await c.send_raw(data)
        assert await c.wait_closed(3.0)
    run(scenario())


def test_set_chunk_size_then_large_message(target: Target) -> None:
    async def scenario() -> None:
        c = await connected(target)
        await c.send(SetChunkSize(4096))
        await c.publish("chunky")
        player = await connected(target, "player")
        await player.play("chunky")
        stream = make_h264_aac(seconds=0.5)
        await c.send(Video(stream.video_sequence_header), msid=c.stream_id)
        big = media.build_avc_video(1, 1, 0, bytes(range(256)) * 8000)  # a 2 MB keyframe (CH-19)
        await c.send(Video(big), msid=c.stream_id, timestamp=40)
        ev = await player.wait_for(lambda e: e.raw.type_id == 9 and len(e.raw.payload) > 100_000, "big frame")
        assert ev.raw.payload == big
        await c.close()
        await player.close()
    run(scenario())


def test_slow_player_is_dropped_to_keyframes_with_bounded_queue(server_factory: Any) -> None:
    """GOP-8: a player that stops reading does not grow server memory; others are unaffected."""
    srv: ServerThread = server_factory(player_queue_bytes=256 * 1024, player_resume_bytes=32 * 1024)
    target = Target("127.0.0.1", srv.port)

    async def scenario() -> None:
        pub, stream = await start_publisher(target, "slow")
        sleeper = await connected(target, "sleeper")
        await sleeper.play("slow")
        assert sleeper.writer is not None
        # Stop reading at the socket: what the kernel buffers absorb (autotuned, several MB on
        # loopback) varies, so publish 2 MB batches until the server has dropped, within a deadline.
        sleeper.writer.transport.pause_reading()  # type: ignore[attr-defined]

        def inspect() -> tuple[int, int]:
            stream_obj = srv.server.registry.get("live", "slow")
            assert stream_obj is not None
            p = next(iter(stream_obj.players.values()))
            return p.drops, p.sink.backlog()

        drops, backlog, ts, deadline = 0, 0, 0, time.monotonic() + 40
        while drops < 1 and time.monotonic() < deadline:
            batch = [MediaTag(9, ts + 40 * i, media.build_avc_video(1 if i % 25 == 0 else 2, 1, 0, bytes(40_000)),
                              i % 25 == 0, False) for i in range(50)]
            ts += 40 * 50
            await pub.publish_media(batch)
            await pub.probe("publisher during stall", timeout=10.0)  # the server has read the batch
            drops, backlog = srv.call(inspect)
        sleeper.writer.transport.resume_reading()  # type: ignore[attr-defined]
        assert drops >= 1
        # Bounded: the queue limit, plus what one publisher read (the event loop reads up to
        # 256 KiB at a time) fans out before the limit is looked at again, plus a frame.
        assert backlog <= 256 * 1024 + 256 * 1024 + 64 * 1024
        await sleeper.collect(1.0)
        got = [e for e in sleeper.received if e.raw.type_id == 9 and not media.is_video_sequence_header(e.raw.payload)]
        # After the drop the player restarts cleanly at a keyframe.
        assert got
        keyframes_after_gap = [e for e in got if media.is_video_keyframe(e.raw.payload)]
        assert keyframes_after_gap
        await pub.close()
        await sleeper.close()
    run(scenario(), timeout=60)


def test_amf3_connect_is_accepted(target: Target) -> None:
    """CMD-2: connect as type 17 with the leading 0x00 selector."""
    async def scenario() -> None:
        c = RtmpClient(target)
        await c.open()
        await c.handshake()
        await c.send(Command("connect", 1.0, {"app": "live", "tcUrl": target.tc_url, "objectEncoding": 3.0},
                             amf3=True))
        reply = await c.wait_reply(1.0, "connect")
        assert reply.name == "_result"
        assert reply.arguments[0]["code"] == "NetConnection.Connect.Success"
        assert reply.arguments[0]["objectEncoding"] == 3.0
        await c.close()
    run(scenario())
