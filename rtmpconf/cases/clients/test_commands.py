"""Client cases, catalogue section 24 (CL-CMD): NetConnection and NetStream commands."""

from __future__ import annotations

import pytest

from rtmpconf.harness.checks import clients as ck
from rtmpconf.harness.clients.scenarios import normal, not_connected, session
from rtmpconf.harness.clients.server import Replies, ServerSession
from rtmpconf.rtmp.messages import Command

STOP_WINDOW_S = 5.0


@pytest.mark.rule("CL-CMD-1")
async def test_connect_object(client_case):
    """A normal session. Requirement: connect names app "live" and a tcUrl for it (§7.2.1.1)."""
    run = await normal(client_case)
    client_case.judge(ck.check_connect_object(run.log, app="live") if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-CMD-2")
async def test_connect_transaction_id(client_case):
    """A normal session. Requirement: connect's transaction id is 1."""
    run = await normal(client_case)
    client_case.judge(ck.check_connect_tid(run.log) if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-CMD-3")
async def test_waits_for_connect_result(client_case):
    """The connect _result held for 0.6 s. Requirement: createStream/publish/play only after it."""
    run = await session(client_case, replies=Replies(connect_delay_s=0.6), end_wait=0.5)
    client_case.judge(ck.check_waited(run.log, held_from=run.mark_time("connect reply held"),
                                      released=run.mark_time("connect _result"), rule="CL-CMD-3",
                                      what="the connect _result")
                      if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-CMD-4")
async def test_uses_returned_stream_id(client_case):
    """createStream answered with stream id 7. Requirement: publish/play and media on msid 7."""
    run = await session(client_case, replies=Replies(stream_id=7))
    client_case.judge(ck.check_stream_id(run.log, 7) if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-CMD-9")
@pytest.mark.client_role("publish")
async def test_replies_out_of_order(client_case):
    """createStream (id 7) answered before the releaseStream/FCPublish sent before it. Requirement:
    replies are matched by transaction id: publish on msid 7."""
    run = await session(client_case, replies=Replies(stream_id=7, replies_stream_first=True))
    client_case.judge(ck.check_stream_id(run.log, 7, rule="CL-CMD-9") if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-CMD-5")
@pytest.mark.client_role("publish")
async def test_publish_command(client_case):
    """A normal publish to .../live/stream. Requirement: publish(0, null, "stream", "live")."""
    run = await normal(client_case)
    client_case.judge(ck.check_publish_command(run.log, name="stream") if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-CMD-6")
@pytest.mark.client_role("publish")
async def test_waits_for_publish_start(client_case):
    """onStatus NetStream.Publish.Start held 0.6 s. Requirement: no media before it."""
    run = await session(client_case, replies=Replies(publish_delay_s=0.6))
    client_case.judge(ck.check_waited(run.log, held_from=run.mark_time("publish status held"),
                                      released=run.mark_time("onStatus NetStream.Publish.Start"), rule="CL-CMD-6",
                                      what="NetStream.Publish.Start", forbidden=(), media_too=True)
                      if run.connected else not_connected(client_case, run))


async def _error_status(cc, replies: Replies, code: str, rule: str):
    run = await session(cc, replies=replies, publish_s=STOP_WINDOW_S + 0.5, video_frames=10_000, end_wait=0.2)
    if not run.connected:
        return not_connected(cc, run)
    return ck.check_stopped(run.log, run.outcome, after=run.mark_time(f"onStatus {code}"), window=STOP_WINDOW_S,
                            rule=rule, what=code)


@pytest.mark.rule("CL-CMD-7")
@pytest.mark.client_role("publish")
async def test_publish_bad_name(client_case):
    """publish answered with onStatus NetStream.Publish.BadName (level error), connection kept open.
    Requirement: no media after it; the client ends the session within 5 s and reports the error."""
    client_case.judge(await _error_status(
        client_case, Replies(publish_status=("NetStream.Publish.BadName", "error"), stream_begin=False),
        "NetStream.Publish.BadName", "CL-CMD-7"))


async def _play_error(cc, code: str):
    s = await cc.start()
    if s is None:
        return [cc.never_connected()]
    s.replies = Replies(play_status=(code, "error"), stream_begin=False)
    role = await s.accept()
    after = next((m.time for m in s.marks if m.name == f"onStatus {code}"), None) if role else None
    if after is not None:
        await s.wait_closed(STOP_WINDOW_S)
        await cc.wait_agent(0.5)
    outcome = await cc.finish(0.2)
    return ck.check_stopped(s.log, outcome, after=after, window=STOP_WINDOW_S, rule="CL-CMD-7", what=code)


@pytest.mark.rule("CL-CMD-7")
@pytest.mark.client_role("play")
async def test_play_stream_not_found(client_case):
    """play answered with onStatus NetStream.Play.StreamNotFound (error). Requirement: the player ends
    the session within 5 s and reports it."""
    client_case.judge(await _play_error(client_case, "NetStream.Play.StreamNotFound"))


@pytest.mark.rule("CL-CMD-7")
@pytest.mark.client_role("play")
async def test_play_failed(client_case):
    """play answered with onStatus NetStream.Play.Failed (error). Requirement: as StreamNotFound."""
    client_case.judge(await _play_error(client_case, "NetStream.Play.Failed"))


@pytest.mark.rule("CL-CMD-8")
async def test_connect_rejected(client_case):
    """connect answered with _error NetConnection.Connect.Rejected ("Unauthorized"); the connection
    stays open. Requirement: no stream commands after it; the client ends within 5 s and reports it."""
    s = await client_case.start()
    if s is None:
        client_case.judge(client_case.never_connected())
        return
    s.replies = Replies(connect_error={"level": "error", "code": "NetConnection.Connect.Rejected",
                                       "description": "Unauthorized"})
    await s.accept()
    after = next((m.time for m in s.marks if m.name == "connect _error"), None)
    if after is not None:
        await s.wait_closed(STOP_WINDOW_S)
        await client_case.wait_agent(0.5)
    outcome = await client_case.finish(0.2)
    findings = ck.check_stopped(s.log, outcome, after=after, window=STOP_WINDOW_S, rule="CL-CMD-8",
                                what="NetConnection.Connect.Rejected")
    late = [c for m, c in ck._commands(s.log, "createStream", "publish", "play") if after and m.time > after]
    if late and findings and findings[0].verdict.value == "PASS":
        findings = [ck.failed("CL-CMD-8", "stream commands after the refused connect", actual=late[0].name)]
    client_case.judge(findings)


@pytest.mark.rule("CL-CMD-10")
async def test_unexpected_server_commands(client_case):
    """onBWDone, an unknown call with a transaction id and a _result for no request, right after the
    connect _result. Requirement: the session goes on."""
    async def extra(s: ServerSession) -> None:
        s.mark("unexpected commands")
        await s.send_command(Command("onBWDone", 0.0, None, (8192.0,)))
        await s.send_command(Command("onServerTest", 42.0, None, ("hello",)))
        await s.send_command(Command("_result", 77.0, None, ()))
    run = await session(client_case, after_connect=extra, end_wait=0.5)
    # Only play or publish prove the client read past the three commands: they need the
    # createStream _result, which follows them on the wire. A createStream alone may have been
    # sent on the connect _result before the client read what came next.
    client_case.judge(ck.check_progressed(run.log, run.mark_time("unexpected"), rule="CL-CMD-10",
                                          what="unexpected server commands", names=("publish", "play"))
                      if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-CMD-11")
@pytest.mark.client_role("publish")
async def test_publisher_unpublishes(client_case):
    """A normal publish that ends by itself. Convention: FCUnpublish/deleteStream before closing."""
    run = await normal(client_case)
    client_case.judge(ck.check_unpublish(run.log, run.outcome) if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-CMD-12")
@pytest.mark.client_role("play")
async def test_play_command(client_case):
    """A normal play of .../live/stream. Requirement: play(0, null, "stream"[, start])."""
    run = await normal(client_case)
    client_case.judge(ck.check_play_command(run.log, name="stream") if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-CMD-13")
@pytest.mark.client_role("play")
async def test_play_start_value(client_case):
    """A normal play. Requirement: start is -2, -1 or >= 0 (§7.2.2.1)."""
    run = await normal(client_case)
    client_case.judge(ck.check_play_start(run.log) if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-CMD-14")
@pytest.mark.client_role("play")
async def test_play_without_stream_begin(client_case):
    """NetStream.Play.Start without a StreamBegin before it. Convention: the player plays."""
    run = await session(client_case, replies=Replies(stream_begin=False))
    client_case.judge(ck.check_player_decoded(run.player_output, video_sent=run.video_sent, rule="CL-CMD-14",
                                              what="no StreamBegin", log=run.log) if run.connected else not_connected(client_case, run))

