"""Robustness checkers against good and deliberately broken servers' traffic (harness/checks/robustness.py)."""

from __future__ import annotations

from rtmpconf.harness.checks import robustness as rob
from rtmpconf.harness.verdict import Verdict
from rtmpconf.harness.wirelog import C2S, S2C, WireLog
from rtmpconf.rtmp.messages import Acknowledgement, Audio, Command, UserControl, Video, WindowAckSize
from tests.unit.checks.fakes import LogBuilder, fresh, info_obj, v


def connected() -> LogBuilder:
    b = LogBuilder().handshake()
    b.client_msg(Command("connect", 1.0, {"app": "live"}))
    b.server_msg(WindowAckSize(2_500_000))
    b.server_msg(Command("_result", 1.0, {}, (info_obj("NetConnection.Connect.Success"),)), csid=3)
    return b


def abused(outcome: str) -> tuple[WireLog, int]:
    """A connection that sent abuse then a ping: 'closed', 'pinged' (answered) or 'silent'."""
    b = connected()
    b.c2s(b"\x42" + bytes(16))  # stand-in for the abusive bytes (only the outcome matters here)
    end = b.log.total(C2S)
    if outcome == "closed":
        b.log.mark_closed(S2C, b.t)
    else:
        b.client_msg(UserControl.ping_request(9))
        if outcome == "pinged":
            b.server_msg(UserControl.ping_response((9).to_bytes(4, "big")))
    return b.log, end


# -- check_server_alive --------------------------------------------------------------------------


def test_server_alive_good() -> None:
    assert v(rob.check_server_alive(fresh(), rule="ROB-1")) is Verdict.PASS


def test_server_alive_crashed_fails() -> None:
    assert v(rob.check_server_alive(fresh(handshake=False), rule="ROB-1")) is Verdict.FAIL


def test_server_alive_no_connect_reply_fails() -> None:
    assert v(rob.check_server_alive(fresh(reply="none"), rule="ROB-1")) is Verdict.FAIL


def test_server_alive_refused_fails() -> None:
    assert v(rob.check_server_alive(fresh(reply="_error"), rule="ROB-1")) is Verdict.FAIL


def test_server_alive_too_slow_fails() -> None:
    """A busy-looping server answers eventually, but seconds late."""
    found = rob.check_server_alive(fresh(delay=3.0), rule="ROB-2")
    assert v(found) is Verdict.FAIL and "busy" in found[0].message


# -- ROB-1/2/3 -----------------------------------------------------------------------------------


def test_partial_flood_outcomes() -> None:
    log, end = abused("closed")
    assert v(rob.check_partial_flood(log, fresh(), abuse_end=end, streams=1000)) is Verdict.PASS
    log, end = abused("pinged")
    assert v(rob.check_partial_flood(log, fresh(), abuse_end=end, streams=1000)) is Verdict.INFORMATIONAL
    log, end = abused("silent")
    assert v(rob.check_partial_flood(log, fresh(), abuse_end=end, streams=1000)) is Verdict.NON_STRICT
    log, end = abused("closed")
    assert v(rob.check_partial_flood(log, fresh(handshake=False), abuse_end=end, streams=1000)) is Verdict.FAIL


def test_bad_chunk_size_outcomes() -> None:
    for outcome in ("closed", "pinged"):
        log, end = abused(outcome)
        assert v(rob.check_bad_chunk_size(log, fresh(), abuse_end=end, value=0)) is Verdict.PASS
    # Stuck in a zero-size chunk loop: the connection never answers again, new ones are slow.
    log, end = abused("silent")
    assert v(rob.check_bad_chunk_size(log, fresh(), abuse_end=end, value=0)) is Verdict.FAIL
    log, end = abused("closed")
    assert v(rob.check_bad_chunk_size(log, fresh(delay=5.0), abuse_end=end, value=0x80000000)) is Verdict.FAIL


def test_bad_chunk_size_command_answered_without_pings() -> None:
    """A server that never answers pings (Node-Media-Server) proves it is alive with a _result."""
    b = connected()
    b.c2s(bytes.fromhex("02 000000 000004 01 00000000 80000000"))
    end = b.log.total(C2S)
    b.client_msg(UserControl.ping_request(7))
    b.client_msg(Command("createStream", 2.0, None))
    b.server_msg(Command("_result", 2.0, None, (1.0,)), csid=3)
    assert rob.command_answered_after(b.log, end)
    assert v(rob.check_bad_chunk_size(b.log, fresh(), abuse_end=end, value=0x80000000)) is Verdict.PASS
    # The _result of a command sent before the abuse does not count.
    b = connected()
    b.client_msg(Command("createStream", 2.0, None))
    b.server_msg(Command("_result", 2.0, None, (1.0,)), csid=3)
    b.c2s(bytes.fromhex("02 000000 000004 01 00000000 00000000"))
    end = b.log.total(C2S)
    assert not rob.command_answered_after(b.log, end)
    assert v(rob.check_bad_chunk_size(b.log, fresh(), abuse_end=end, value=0)) is Verdict.FAIL


def test_ping_before_abuse_does_not_count() -> None:
    """Only a ping sent after the abuse shows the connection still works."""
    b = connected()
    b.client_msg(UserControl.ping_request(1))
    b.server_msg(UserControl.ping_response((1).to_bytes(4, "big")))
    b.c2s(b"\x02" + bytes(15))
    end = b.log.total(C2S)
    assert not rob.ping_answered_after(b.log, end)
    assert v(rob.check_bad_chunk_size(b.log, fresh(), abuse_end=end, value=0)) is Verdict.FAIL


def test_csid_flood_outcomes() -> None:
    log, end = abused("closed")
    assert v(rob.check_csid_flood(log, fresh(), abuse_end=end, streams=5000)) is Verdict.PASS
    log, end = abused("pinged")
    assert v(rob.check_csid_flood(log, fresh(), abuse_end=end, streams=5000)) is Verdict.PASS
    log, end = abused("silent")
    assert v(rob.check_csid_flood(log, fresh(), abuse_end=end, streams=5000)) is Verdict.NON_STRICT
    assert v(rob.check_csid_flood(log, fresh(handshake=False), abuse_end=end, streams=5000)) is Verdict.FAIL


# -- ROB-4 ---------------------------------------------------------------------------------------


def test_stalled_socket() -> None:
    stalled = LogBuilder()
    stalled.c2s(b"\x03" + bytes(700))
    assert v(rob.check_stalled_socket(stalled.log, fresh(), window_s=0.3, what="truncated handshake")) \
        is Verdict.INFORMATIONAL
    # One stalled handshake blocks the accept loop: the fresh connection never gets S0S1S2.
    assert v(rob.check_stalled_socket(stalled.log, fresh(handshake=False), window_s=0.3, what="x")) is Verdict.FAIL
    stalled.log.mark_closed(S2C, stalled.t + 0.1)
    found = rob.check_stalled_socket(stalled.log, fresh(), window_s=0.3, what="truncated handshake")
    assert any("closed" in f.message for f in found)


# -- ROB-5 ---------------------------------------------------------------------------------------


def _player(notice: str | None) -> tuple[WireLog, float]:
    b = connected()
    b.server_msg(Command("onStatus", 0.0, None, (info_obj("NetStream.Play.Start"),)), msid=1, csid=3)
    b.server_msg(Video(b"\x17\x01\x00\x00\x00abc"), msid=1)
    reset_at = b.t + 0.0005
    if notice == "eof":
        b.server_msg(UserControl.stream_eof(1))
    elif notice == "status":
        b.server_msg(Command("onStatus", 0.0, None, (info_obj("NetStream.Play.UnpublishNotify"),)), msid=1, csid=3)
    return b.log, reset_at


def test_publisher_reset_good() -> None:
    for notice in ("eof", "status"):
        player, t = _player(notice)
        found = rob.check_publisher_reset(player, info_obj("NetStream.Publish.Start"), reset_time=t)
        assert v(found) is Verdict.PASS


def test_publisher_reset_no_notice_fails() -> None:
    player, t = _player(None)
    assert v(rob.check_publisher_reset(player, info_obj("NetStream.Publish.Start"), reset_time=t)) is Verdict.FAIL


def test_publisher_reset_name_not_freed_fails() -> None:
    """A half-open publisher still holds the name: the republish gets BadName."""
    player, t = _player("eof")
    found = rob.check_publisher_reset(player, info_obj("NetStream.Publish.BadName", "error"), reset_time=t)
    assert v(found) is Verdict.FAIL
    assert v(rob.check_publisher_reset(player, None, reset_time=t)) is Verdict.FAIL


# -- ROB-6 ---------------------------------------------------------------------------------------


def test_stray_media() -> None:
    stray = [b"\x27\x01\x00\x00\x00ROB-6 stray video", b"\xaf\x01ROB-6 stray audio"]
    b = connected()
    # A player that got no media at all cannot show stray media was held back: no verdict.
    assert v(rob.check_stray_media_not_relayed(b.log, stray, where="before publish")) is Verdict.NOT_RUN
    b.server_msg(Video(b"\x17\x01\x00\x00\x00legit"), msid=1)
    clean = b.log
    assert v(rob.check_stray_media_not_relayed(clean, stray, where="before publish")) is Verdict.PASS
    # A server that routes media by connection, ignoring the message stream id.
    b.server_msg(Audio(stray[1]), msid=1, timestamp=301)
    assert v(rob.check_stray_media_not_relayed(b.log, stray, where="before publish")) is Verdict.FAIL


# -- ROB-7 ---------------------------------------------------------------------------------------


def _publish(reply: str) -> tuple[WireLog, int]:
    b = connected()
    b.server_msg(Command("_result", 2.0, None, (1.0,)), csid=3)
    offset = b.log.total(C2S)
    b.client_msg(Command("publish", 0.0, None, ("../x", "live")), msid=1)
    if reply == "start":
        b.server_msg(Command("onStatus", 0.0, None, (info_obj("NetStream.Publish.Start"),)), msid=1, csid=3)
    elif reply == "badname":
        b.server_msg(Command("onStatus", 0.0, None, (info_obj("NetStream.Publish.BadName", "error"),)), msid=1, csid=3)
    elif reply == "_error":
        b.server_msg(Command("_error", 0.0, None, (info_obj("NetStream.Publish.Failed", "error"),)), csid=3)
    elif reply == "close":
        b.log.mark_closed(S2C, b.t)
    return b.log, offset


def test_unsafe_name() -> None:
    for reply in ("badname", "_error", "close"):
        log, off = _publish(reply)
        assert v(rob.check_unsafe_name_refused(log, name="../x", publish_offset=off)) is Verdict.PASS, reply
    log, off = _publish("start")
    assert v(rob.check_unsafe_name_refused(log, name="../x", publish_offset=off)) is Verdict.FAIL
    log, off = _publish("none")
    assert v(rob.check_unsafe_name_refused(log, name="../x", publish_offset=off)) is Verdict.NON_STRICT


def test_connect_success_before_publish_is_not_an_answer() -> None:
    """Only replies after the publish count: the earlier connect _result is not a refusal."""
    log, off = _publish("none")
    outcome, _ = rob.publish_outcome(log, off)
    assert outcome == "none"


# -- ROB-8 ---------------------------------------------------------------------------------------


def _no_ack_player(frames: list[bytes], delivered: int, *, window: int = 1000, acks: int = 0) -> WireLog:
    b = LogBuilder().handshake()
    b.client_msg(Command("connect", 1.0, {"app": "live"}))
    b.server_msg(WindowAckSize(window))
    b.server_msg(Command("_result", 1.0, {}, (info_obj("NetConnection.Connect.Success"),)), csid=3)
    for i, f in enumerate(frames[:delivered]):
        b.server_msg(Video(f), msid=1, timestamp=40 * i)
    for _ in range(acks):
        b.client_msg(Acknowledgement(b.log.total(S2C)))
    return b.log


def test_player_without_acks() -> None:
    frames = [b"\x17\x01\x00\x00\x00" + bytes([i]) * 400 for i in range(6)]
    assert v(rob.check_player_without_acks(_no_ack_player(frames, 6), frames)) is Verdict.PASS
    # The server stops at its window waiting for an Acknowledgement that never comes.
    assert v(rob.check_player_without_acks(_no_ack_player(frames, 2), frames)) is Verdict.FAIL
    found = rob.check_player_without_acks(_no_ack_player(frames, 6, window=10_000_000), frames)
    assert v(found) is Verdict.NOT_RUN and any("not exceeded" in f.message for f in found)
    found = rob.check_player_without_acks(_no_ack_player(frames, 6, acks=2), frames)
    assert v(found) is Verdict.NOT_RUN and any("did not exercise" in f.message for f in found)


def test_publisher_acked_recorded() -> None:
    b = connected()
    b.client_msg(WindowAckSize(1000))
    assert v(rob.check_publisher_acked(b.log, window=100_000)) is Verdict.NOT_RUN  # nothing was due
    b.c2s(bytes(5000))
    quiet = rob.check_publisher_acked(b.log, window=1000)
    assert v(quiet) is Verdict.INFORMATIONAL and "no Acknowledgement" in quiet[0].message
    b.server_msg(Acknowledgement(4000))
    acked = rob.check_publisher_acked(b.log, window=1000)
    assert "1 Acknowledgement" in acked[0].message


def test_dead_publisher_released() -> None:
    from rtmpconf.harness.checks.robustness import check_dead_publisher_released

    freed = [(0.1, "NetStream.Publish.BadName"), (1.1, "NetStream.Publish.Start")]
    assert v(check_dead_publisher_released(freed, idle_timeout=1, margin=5)) is Verdict.PASS
    # Broken double: a server that keeps a silent publisher's name past its idle timeout.
    held = [(float(i), "NetStream.Publish.BadName") for i in range(8)]
    assert v(check_dead_publisher_released(held, idle_timeout=2, margin=5)) is Verdict.FAIL
    assert v(check_dead_publisher_released([], idle_timeout=2, margin=5)) is Verdict.FAIL
