"""Client cases, catalogue section 21 (CL-CH): chunks the client writes and the chunks it must read."""

from __future__ import annotations

import pytest

from rtmpconf.harness.checks import clients as ck
from rtmpconf.harness.clients.scenarios import EVENT_FRAME, normal, not_connected, session
from rtmpconf.harness.clients.server import Replies, ServerSession
from rtmpconf.harness.verdict import not_run
from rtmpconf.rtmp.chunk import MessagePlan
from rtmpconf.rtmp.messages import Abort, Audio, Command, encode_message

SIZES = [1, 128, 4096, 65536, 0x7FFFFFFF]


@pytest.mark.rule("CL-CH-1")
async def test_legal_chunk_stream(client_case):
    """A normal session. Requirement: every chunk the client sends decodes (fmt 0 first, fmt 3
    continues, lengths right) at the chunk sizes it announced."""
    run = await normal(client_case)
    client_case.judge(ck.check_chunk_stream(run.log) if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-CH-2")
async def test_smallest_basic_headers(client_case):
    """A normal session. Requirement: basic headers in their smallest form (§5.3.1.1)."""
    run = await normal(client_case)
    client_case.judge(ck.check_basic_header_form(run.log) if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-CH-3")
async def test_control_on_csid_2(client_case):
    """A normal session. Requirement: protocol control messages on csid 2, message stream 0 (§5.4)."""
    run = await normal(client_case)
    client_case.judge(ck.check_control_channel(run.log) if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-CH-4")
@pytest.mark.parametrize("size", SIZES, ids=[f"{s:#x}" if s > 65536 else str(s) for s in SIZES])
async def test_set_chunk_size_before_connect_reply(client_case, size):
    """Set Chunk Size N, then the connect _result in N-byte chunks. Requirement: the new size applies
    to the very next chunk (§5.4.1); the client goes on with its next command."""
    run = await session(client_case, replies=Replies(chunk_size=size))
    if not run.connected:
        client_case.judge(not_connected(client_case, run))
        return
    client_case.judge(ck.check_progressed(run.log, run.mark_time("set-chunk-size"), rule="CL-CH-4",
                                          what=f"Set Chunk Size {size}"))


def _scs(size: int):
    async def hook(s: ServerSession) -> None:
        s.mark(f"set-chunk-size {size}")
        await s.set_chunk_size(size)
    return hook


@pytest.mark.rule("CL-CH-5")
@pytest.mark.client_role("play")
@pytest.mark.parametrize("size", [1, 4096, 65536, 0x7FFFFFFF], ids=["1", "4096", "65536", "0x7fffffff"])
async def test_set_chunk_size_mid_stream(client_case, size):
    """Set Chunk Size after 10 frames of a playing stream. Requirement: applied to the next chunk;
    the player goes on delivering frames."""
    run = await session(client_case, hooks={EVENT_FRAME: _scs(size)})
    if not run.connected:
        client_case.judge(not_connected(client_case, run))
        return
    m = run.mark("set-chunk-size")
    client_case.judge(ck.check_player_went_on(run.player_output, video_sent=run.video_sent,
                                              video_before=m.video_sent if m else run.video_sent,
                                              rule="CL-CH-5", what=f"Set Chunk Size {size}", log=run.log))


@pytest.mark.rule("CL-CH-5")
@pytest.mark.client_role("publish")
async def test_server_chunk_size_leaves_publisher_size(client_case):
    """The server announces chunk size 64 right after publish starts. Requirement: chunk size is per
    direction; the publisher's later chunks still decode at its own size."""
    async def after(s: ServerSession) -> None:
        s.mark("set-chunk-size 64")
        await s.set_chunk_size(64)
    run = await session(client_case, after_publish=after)
    if not run.connected:
        client_case.judge(not_connected(client_case, run))
        return
    client_case.judge(ck.check_chunk_stream(run.log, rule="CL-CH-5", after=run.mark_time("set-chunk-size")))


@pytest.mark.rule("CL-CH-6")
@pytest.mark.parametrize("csid,form", [(64, 2), (319, 2), (320, 3), (65599, 3), (3, 3)],
                         ids=["csid-64", "csid-319", "csid-320", "csid-65599", "csid-3-in-3-byte-form"])
async def test_reply_on_high_csid(client_case, csid, form):
    """Every connection-level reply (the connect _result included) on chunk stream ``csid`` with a
    ``form``-byte basic header. Requirement: the client reads every csid form (§5.3.1.1)."""
    run = await session(client_case, replies=Replies(command_csid=csid, stream_command_csid=csid,
                                                     command_plan=MessagePlan(csid_form=form)))
    if not run.connected:
        client_case.judge(not_connected(client_case, run))
        return
    client_case.judge(ck.check_progressed(run.log, run.mark_time("connect _result"), rule="CL-CH-6",
                                          what=f"a reply on csid {csid} ({form}-byte header)"))


@pytest.mark.rule("CL-CH-6")
@pytest.mark.client_role("play")
async def test_media_on_csid_320(client_case):
    """Audio and video on chunk streams 320 and 321 (3-byte basic headers). Requirement: read as any csid."""
    run = await session(client_case, stream_kw={"video_csid": 320, "audio_csid": 321})
    if not run.connected:
        client_case.judge(not_connected(client_case, run))
        return
    client_case.judge(ck.check_player_decoded(run.player_output, video_sent=run.video_sent, rule="CL-CH-6",
                                              what="media on csid 320/321", log=run.log))


@pytest.mark.rule("CL-CH-7")
@pytest.mark.client_role("play")
async def test_interleaved_chunk_streams(client_case):
    """Each video frame's chunks alternate with the chunks of the audio message after it (chunk
    size 128). Requirement: chunks of different chunk streams may interleave (§5.3.1)."""
    run = await session(client_case, replies=Replies(chunk_size=None), stream_kw={"interleave": True})
    if not run.connected:
        client_case.judge(not_connected(client_case, run))
        return
    client_case.judge(ck.check_player_decoded(run.player_output, video_sent=run.video_sent, rule="CL-CH-7",
                                              what="audio and video chunks interleaved", log=run.log))


@pytest.mark.rule("CL-CH-8")
async def test_abort_before_connect_reply(client_case):
    """The first chunk of a 400-byte _result on csid 3, Abort(3), then the real connect _result on
    csid 3. Requirement: the partial message is discarded (§5.4.2)."""
    async def before_result(s: ServerSession) -> None:
        # 128 bytes of a _result for no request (transaction 99); the rest never comes.
        _, payload = encode_message(Command("_result", 99.0, None, ("x" * 380,)))
        chunks = s.conn.writer.encode_planned(3, 20, 0, 0, payload, MessagePlan(update_state=False))
        await s.send_raw(chunks[0])
        await s.send(Abort(3))
        s.mark("abort")
    run = await session(client_case, before_connect_reply=before_result)
    if not run.connected:
        client_case.judge(not_connected(client_case, run))
        return
    client_case.judge(ck.check_progressed(run.log, run.mark_time("abort"), rule="CL-CH-8",
                                          what="Abort of a half-sent message"))


@pytest.mark.rule("CL-CH-8")
@pytest.mark.client_role("play")
async def test_abort_mid_stream(client_case):
    """After 10 frames: the first 128-byte chunk of a video frame, Abort on its csid, then the
    stream goes on. Requirement: the partial frame is dropped, the next one read afresh (§5.4.2)."""
    async def abort(s: ServerSession) -> None:
        payload = bytes([0x27, 1, 0, 0, 0]) + bytes(600)
        s.conn.writer.forget(6)
        chunks = s.conn.writer.encode_planned(6, 9, s.replies.stream_id, s.sent_media[-1].timestamp, payload,
                                              MessagePlan(update_state=False))
        await s.send_raw(chunks[0])
        await s.send(Abort(6))
        s.mark("abort")
    run = await session(client_case, hooks={EVENT_FRAME: abort})
    if not run.connected:
        client_case.judge(not_connected(client_case, run))
        return
    m = run.mark("abort")
    client_case.judge(ck.check_player_went_on(run.player_output, video_sent=run.video_sent,
                                              video_before=m.video_sent if m else run.video_sent, rule="CL-CH-8",
                                              what="Abort of a half-sent frame", log=run.log))


@pytest.mark.rule("CL-CH-9")
@pytest.mark.client_role("publish")
async def test_publisher_raises_chunk_size(client_case):
    """A normal publish. Convention: a chunk size above 128 announced before the media (CH-17)."""
    run = await normal(client_case)
    client_case.judge(ck.check_raises_chunk_size(run.log) if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-CH-10")
@pytest.mark.client_role("play")
async def test_fmt3_new_messages(client_case):
    """Every video frame padded (H.264 filler NAL) to one size at a fixed 40 ms delta, so the server
    announces each one after the second with a fmt-3 header. Requirement: fmt 3 starting a message
    reuses length, type, stream and delta (§5.3.1.2.4)."""
    run = await session(client_case, stream_kw={"pad_video": True})
    if not run.connected:
        client_case.judge(not_connected(client_case, run))
        return
    starts = [c for c in run.log.decode("s2c").chunks if c.fmt == 3 and c.starts_message and c.type_id == 9]
    client_case.judge(ck.check_player_decoded(run.player_output, video_sent=run.video_sent, rule="CL-CH-10",
                                              what=f"{len(starts)} video messages started by fmt 3", log=run.log)
                      if starts else not_run("CL-CH-10", "the server sent no fmt-3 message start"))


@pytest.mark.rule("CL-CH-11")
@pytest.mark.client_role("play")
async def test_zero_length_message(client_case):
    """After 10 frames, a zero-length audio message. Requirement: a zero-length message is legal."""
    async def empty(s: ServerSession) -> None:
        s.mark("zero-length audio")
        await s.send(Audio(b""), msid=s.replies.stream_id, timestamp=s.sent_media[-1].timestamp, csid=4)
    run = await session(client_case, hooks={EVENT_FRAME: empty})
    if not run.connected:
        client_case.judge(not_connected(client_case, run))
        return
    m = run.mark("zero-length")
    client_case.judge(ck.check_player_went_on(run.player_output, video_sent=run.video_sent,
                                              video_before=m.video_sent if m else run.video_sent, rule="CL-CH-11",
                                              what="a zero-length message", log=run.log))


