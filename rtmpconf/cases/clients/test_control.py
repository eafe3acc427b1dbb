"""Client cases, catalogue section 23 (CL-CTRL): acknowledgements, pings and control events."""

from __future__ import annotations

import pytest

from rtmpconf.harness.checks import clients as ck
from rtmpconf.harness.clients.scenarios import EVENT_FRAME, not_connected, session, shared
from rtmpconf.harness.clients.server import Replies, ServerSession
from rtmpconf.rtmp.messages import (
    Aggregate,
    Data,
    LimitType,
    SetPeerBandwidth,
    SharedObject,
    UnknownMessage,
    UserControl,
)

WINDOW_PLAYER = 32_000
WINDOW_PUBLISHER = 100_000
PING_VALUE = 0x5EED1234


async def _ack_run(cc):
    async def make():
        if cc.publisher:
            async def pad(s: ServerSession) -> None:
                # 8 x 50 kB of a data message nobody asked for: 4 windows the publisher must ack.
                s.mark("padding")
                for i in range(8):
                    await s.send(Data(("onPadding", "x" * 50_000)), csid=5)
            return await session(cc, replies=Replies(window_ack=WINDOW_PUBLISHER), after_publish=pad)
        return await session(cc, replies=Replies(window_ack=WINDOW_PLAYER))
    return await shared(cc, "acks", make)


@pytest.mark.rule("CL-CTRL-1")
async def test_acknowledges_at_window(client_case):
    """Window Acknowledgement Size, then several windows of bytes (media to a player, 400 kB of data
    to a publisher). Requirement: an Acknowledgement after each window (§5.4.3)."""
    run = await _ack_run(client_case)
    client_case.judge(ck.check_acks(run.log) if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-CTRL-2")
async def test_ack_sequence_counts_bytes(client_case):
    """As CL-CTRL-1. Requirement: sequence numbers count bytes received (never more than sent)."""
    run = await _ack_run(client_case)
    client_case.judge(ck.check_ack_sequence(run.log) if run.connected else not_connected(client_case, run))


async def _ping(s: ServerSession) -> None:
    s.mark("ping")
    await s.send(UserControl.ping_request(PING_VALUE))


@pytest.mark.rule("CL-CTRL-3")
async def test_ping_after_connect(client_case):
    """PingRequest right after the connect _result. Requirement: PingResponse with the same 4 bytes."""
    run = await session(client_case, after_connect=_ping, end_wait=0.5)
    client_case.judge(ck.check_ping_answered(run.log, PING_VALUE if run.mark("ping") else None)
                      if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-CTRL-3")
async def test_ping_mid_stream(client_case):
    """PingRequest while media flows (after 10 frames / after publish). Requirement: echoed exactly."""
    if client_case.publisher:
        run = await session(client_case, after_publish=_ping)
    else:
        run = await session(client_case, hooks={EVENT_FRAME: _ping})
    client_case.judge(ck.check_ping_answered(run.log, PING_VALUE if run.mark("ping") else None)
                      if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-CTRL-4")
async def test_peer_bandwidth_answered(client_case):
    """Set Peer Bandwidth 3 000 000 (Hard) after the connect _result. Requirement: the client answers
    with Window Acknowledgement Size 3 000 000 (§5.4.5)."""
    async def spb(s: ServerSession) -> None:
        s.mark("set-peer-bandwidth")
        await s.send(SetPeerBandwidth(3_000_000, LimitType.HARD))
    run = await session(client_case, replies=Replies(peer_bandwidth=None), after_connect=spb, end_wait=0.5)
    client_case.judge(ck.check_window_reply(run.log, 3_000_000, after=run.mark_time("set-peer-bandwidth"))
                      if run.connected else not_connected(client_case, run))


def _event(name: str, *msgs):
    async def hook(s: ServerSession) -> None:
        s.mark(name)
        for m in msgs:
            await s.send(m(s) if callable(m) else m, msid=0)
    return hook


async def _went_on(cc, hook, what: str, rule: str):
    run = await session(cc, hooks={EVENT_FRAME: hook})
    if not run.connected:
        return not_connected(cc, run)
    m = run.mark(what)
    return ck.check_player_went_on(run.player_output, video_sent=run.video_sent,
                                   video_before=m.video_sent if m else run.video_sent, rule=rule, what=what, log=run.log)


@pytest.mark.rule("CL-CTRL-5")
@pytest.mark.client_role("play")
async def test_stream_dry_and_recorded(client_case):
    """StreamDry and StreamIsRecorded after 10 frames. Requirement: the player goes on."""
    hook = _event("stream-dry", lambda s: UserControl.stream_dry(s.replies.stream_id),
                  lambda s: UserControl.stream_is_recorded(s.replies.stream_id))
    client_case.judge(await _went_on(client_case, hook, "stream-dry", "CL-CTRL-5"))


@pytest.mark.rule("CL-CTRL-5")
@pytest.mark.client_role("play")
async def test_second_stream_begin(client_case):
    """A second StreamBegin after 10 frames. Requirement: the player goes on."""
    hook = _event("stream-begin", lambda s: UserControl.stream_begin(s.replies.stream_id))
    client_case.judge(await _went_on(client_case, hook, "stream-begin", "CL-CTRL-5"))


@pytest.mark.rule("CL-CTRL-6")
@pytest.mark.client_role("play")
async def test_unknown_user_control(client_case):
    """User control event 0x63 (unassigned) after 10 frames. Requirement: ignored."""
    hook = _event("unknown user control", UserControl(0x63, b"\x00\x00\x00\x01"))
    client_case.judge(await _went_on(client_case, hook, "unknown user control", "CL-CTRL-6"))


@pytest.mark.rule("CL-CTRL-7")
@pytest.mark.client_role("play")
async def test_unknown_message_types(client_case):
    """A type-19 shared object message and a type-0x7F message after 10 frames. Requirement: skipped."""
    hook = _event("unknown message types", SharedObject(b"\x00\x04test" + bytes(8)), UnknownMessage(0x7F, b"\x01\x02\x03"))
    client_case.judge(await _went_on(client_case, hook, "unknown message types", "CL-CTRL-7"))


@pytest.mark.rule("CL-CTRL-8")
@pytest.mark.client_role("play")
async def test_aggregate_media(client_case):
    """Every video frame, with the audio before it, in one Aggregate message (§7.1.6).
    Requirement: the player splits aggregates and delivers the frames."""
    run = await session(client_case, stream_kw={"aggregate": True})
    client_case.judge(ck.check_player_decoded(run.player_output, video_sent=run.video_sent, rule="CL-CTRL-8",
                                              what="media in aggregate messages", log=run.log)
                      if run.connected else not_connected(client_case, run))


_ = Aggregate
