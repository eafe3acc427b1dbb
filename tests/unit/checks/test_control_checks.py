"""CTRL checkers: each FAILs (or gives the right non-pass verdict) on a broken server's traffic."""

from __future__ import annotations

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
    expected_window_replies,
)
from rtmpconf.harness.checks.session import ALIVE, CLOSED, RESET, SILENT, session_outcome
from rtmpconf.harness.verdict import Verdict
from rtmpconf.harness.wirelog import WireLog
from rtmpconf.rtmp import media
from rtmpconf.rtmp.messages import (
    Acknowledgement,
    Aggregate,
    Command,
    SetPeerBandwidth,
    UserControl,
    Video,
    WindowAckSize,
)
from tests.unit.checks.fakes import (
    LogBuilder,
    closed,
    connected,
    create_stream,
    fresh_dead,
    fresh_ok,
    on_status,
    ping,
    playing,
    publishing,
    v,
)

# -- session outcome, tolerated / rejected --------------------------------------------------------------


def test_session_outcome_states() -> None:
    assert session_outcome(ping(connected()).log) == ALIVE
    assert session_outcome(ping(connected(), answer=False).log) == SILENT
    assert session_outcome(closed(connected()).log) == CLOSED
    assert session_outcome(closed(ping(connected()), reset=True).log) == RESET


def test_tolerated_passes_when_alive() -> None:
    assert v(check_tolerated("CTRL-9", ping(connected()).log, "x", fresh=fresh_ok())) is Verdict.PASS


def test_tolerated_fails_when_server_closes() -> None:
    log = closed(connected()).log
    assert v(check_tolerated("CTRL-9", log, "SetBufferLength")) is Verdict.FAIL
    assert v(check_tolerated("CTRL-11", log, "event 99", close_verdict=Verdict.NON_STRICT)) is Verdict.NON_STRICT


def test_tolerated_non_strict_when_silent_and_fails_when_server_dies() -> None:
    assert v(check_tolerated("CTRL-9", ping(connected(), answer=False).log, "x")) is Verdict.NON_STRICT
    assert v(check_tolerated("CTRL-9", ping(connected()).log, "x", fresh=fresh_dead())) is Verdict.FAIL


def test_rejected_or_ignored_accepts_close_and_ignore() -> None:
    assert v(check_rejected_or_ignored("CTRL-5", closed(connected(), reset=True).log, "x",
                                       fresh=fresh_ok())) is Verdict.PASS
    assert v(check_rejected_or_ignored("CTRL-5", ping(connected()).log, "x", fresh=fresh_ok())) is Verdict.PASS


def test_rejected_or_ignored_fails_when_server_dies() -> None:
    # A server that read past a 2-byte Set Chunk Size and crashed: the fresh connection fails.
    findings = check_rejected_or_ignored("CTRL-5", closed(connected()).log, "x", fresh=fresh_dead())
    assert v(findings) is Verdict.FAIL
    assert findings[0].rule == "CTRL-5"


def test_rejected_or_ignored_flags_a_stuck_session() -> None:
    assert v(check_rejected_or_ignored("CTRL-5", ping(connected(), answer=False).log, "x")) is Verdict.NON_STRICT


# -- CTRL-10 / CTRL-6 ----------------------------------------------------------------------------------


def test_ping_echo_pass_and_fail() -> None:
    good = ping(connected(), 0xDEADBEEF).log
    assert v(check_ping_echo(good, b"\xde\xad\xbe\xef")) is Verdict.PASS
    b = connected()
    b.client_msg(UserControl.ping_request(0xDEADBEEF))
    b.server_msg(UserControl.ping_response(b"\x00\x00\x00\x00"))  # broken: echoes a fresh timestamp
    assert v(check_ping_echo(b.log, b"\xde\xad\xbe\xef")) is Verdict.FAIL
    silent = ping(connected(), 0xDEADBEEF, answer=False).log  # Node-Media-Server: never answers
    assert v(check_ping_echo(silent, b"\xde\xad\xbe\xef")) is Verdict.FAIL


def test_user_control_channel() -> None:
    assert v(check_user_control_channel(ping(connected()).log)) is Verdict.PASS
    b = connected(stream_begin=False)
    b.server_msg(UserControl.stream_begin(1), msid=1, csid=3)  # broken: on the stream, csid 3
    assert v(check_user_control_channel(b.log)) is Verdict.NON_STRICT
    b = connected(stream_begin=False)
    assert v(check_user_control_channel(b.log)) is Verdict.NON_STRICT  # none at all


# -- CTRL-1 / CTRL-2 -------------------------------------------------------------------------------------


def _publish_bytes(b: LogBuilder, window: int, frames: int, size: int, *, ack: str = "good") -> LogBuilder:
    """Client announces ``window``, sends ``frames`` video messages; the server acks per ``ack``."""
    b.client_msg(WindowAckSize(window))
    last = 0
    for i in range(frames):
        b.client_msg(Video(b"\x17\x01" + bytes(size)), msid=1, timestamp=i * 40)
        total = b.log.total("c2s")
        if ack == "good" and total - last >= window:
            b.server_msg(Acknowledgement(total))
            last = total
        elif ack == "decreasing" and total - last >= window:
            b.server_msg(Acknowledgement(1_000_000 - total))
            last = total
    return b


def test_acknowledgements_pass_for_an_acking_server() -> None:
    log = _publish_bytes(publishing(), 10_000, 60, 1000).log
    assert v(check_acknowledgements(log)) is Verdict.PASS


def test_acknowledgements_fail_when_server_never_acks() -> None:
    findings = check_acknowledgements(_publish_bytes(publishing(), 10_000, 60, 1000, ack="none").log)
    assert v(findings) is Verdict.FAIL
    assert "never" in findings[0].message


def test_acknowledgements_fail_when_too_few_or_decreasing() -> None:
    b = _publish_bytes(publishing(), 10_000, 60, 1000, ack="none")
    b.server_msg(Acknowledgement(b.log.total("c2s")))  # one ack for ~60 KB at a 10 KB window
    assert v(check_acknowledgements(b.log)) is Verdict.FAIL
    dec = _publish_bytes(publishing(), 10_000, 60, 1000, ack="decreasing").log
    assert any(f.verdict is Verdict.FAIL and "increase" in f.message for f in check_acknowledgements(dec))


def test_ack_sequence_within_slack() -> None:
    log = _publish_bytes(publishing(), 10_000, 40, 1000).log
    assert v(check_ack_sequence(log)) is Verdict.PASS


def test_ack_sequence_wrong_count_is_non_strict() -> None:
    b = _publish_bytes(publishing(), 10_000, 20, 1000, ack="none")
    ping(b)
    b.server_msg(Acknowledgement(100))  # broken: counts something else (e.g. messages)
    findings = check_ack_sequence(b.log)
    assert v(findings) is Verdict.NON_STRICT
    assert findings[0].rule == "CTRL-2"


def test_ack_sequence_without_acks_fails() -> None:
    assert v(check_ack_sequence(_publish_bytes(publishing(), 10_000, 20, 1000, ack="none").log)) is Verdict.FAIL


# -- CTRL-3 / CTRL-4 ------------------------------------------------------------------------------------------


def test_window_reply_not_required() -> None:
    assert v(check_window_reply_not_required(publishing().log)) is Verdict.PASS
    # A server that never sends Set Peer Bandwidth leaves nothing to leave unanswered: no verdict.
    quiet = LogBuilder().handshake()
    quiet.client_msg(Command("connect", 1.0, {"app": "live"}))
    quiet.server_msg(Command("_result", 1.0, {}, ({"code": "NetConnection.Connect.Success"},)), csid=3)
    assert v(check_window_reply_not_required(quiet.log)) is Verdict.NOT_RUN
    # Broken: the server waits for the client's Window Ack Size and never answers createStream.
    b = connected()
    b.client_msg(Command("createStream", 2.0, None))
    ping(b, answer=False)
    assert v(check_window_reply_not_required(b.log)) is Verdict.NON_STRICT
    # Scenario error: the client did answer.
    b = connected()
    b.client_msg(WindowAckSize(2_500_000))
    assert v(check_window_reply_not_required(b.log)) is Verdict.ERROR


def test_expected_window_replies() -> None:
    series = [(1_000_000, 0), (2_000_000, 2), (500_000, 1), (9_000_000, 2)]
    assert expected_window_replies(2_500_000, series) == [1_000_000, 2_000_000, 500_000, None]
    assert expected_window_replies(1_000_000, [(1_000_000, 0)]) == [None]  # same as announced
    assert expected_window_replies(None, [(5, 7)]) == [None]  # unknown limit type


def _spb_log(replies: list[int | None]) -> LogBuilder:
    b = connected()
    ping(b, 1)
    for i, (size, kind) in enumerate([(1_000_000, 0), (2_000_000, 2), (500_000, 1), (9_000_000, 2)]):
        b.client_msg(SetPeerBandwidth(size, kind))
        if replies[i] is not None:
            b.server_msg(WindowAckSize(replies[i]))  # type: ignore[arg-type]
        ping(b, 2 + i)
    return b


def test_peer_bandwidth_replies() -> None:
    assert v(check_peer_bandwidth_replies(_spb_log([1_000_000, 2_000_000, 500_000, None]).log)) is Verdict.PASS
    # A server that ignores limit types (answers every value) is recorded.
    other = _spb_log([1_000_000, 2_000_000, 500_000, 9_000_000]).log
    assert v(check_peer_bandwidth_replies(other)) is Verdict.INFORMATIONAL


def test_peer_bandwidth_close_is_non_strict() -> None:
    b = connected()
    b.client_msg(SetPeerBandwidth(1_000_000, 0))
    closed(b)
    assert v(check_peer_bandwidth_replies(b.log)) is Verdict.NON_STRICT


# -- CTRL-7 --------------------------------------------------------------------------------------------------


def test_stream_begin_after_connect() -> None:
    assert v(check_stream_begin(connected().log, 0, before="_result")) is Verdict.PASS
    assert v(check_stream_begin(connected(stream_begin=False).log, 0, before="_result")) is Verdict.NON_STRICT
    late = connected(stream_begin=False)
    late.server_msg(UserControl.stream_begin(0))
    assert v(check_stream_begin(late.log, 0, before="_result")) is Verdict.INFORMATIONAL


def test_stream_begin_at_publish() -> None:
    assert v(check_stream_begin(publishing().log, 1, before="NetStream.Publish.Start")) is Verdict.PASS
    b = create_stream(connected())
    b.server_msg(on_status("NetStream.Publish.Start"), msid=1)  # broken: no StreamBegin(1)
    assert v(check_stream_begin(b.log, 1, before="NetStream.Publish.Start")) is Verdict.NON_STRICT


# -- CTRL-13 --------------------------------------------------------------------------------------------------

K0 = media.build_avc_video(1, 1, 0, b"K0")
K1 = media.build_avc_video(1, 1, 0, b"K1")
P1 = media.build_avc_video(2, 1, 0, b"P1")
P2 = media.build_avc_video(2, 1, 0, b"P2")
SUBS = [(1000, K1), (1040, P1), (1080, P2)]


def _player_got(frames: list[tuple[int, bytes]], msid: int = 1) -> WireLog:
    b = playing()
    b.server_msg(on_status("NetStream.Play.Start"), msid=1)
    for ts, payload in frames:
        b.server_msg(Video(payload), msid=msid, timestamp=ts)
    return b.log


def test_aggregate_delivery_exact() -> None:
    log = _player_got([(960, K0), *SUBS])
    assert v(check_aggregate_delivery(log, plain=(960, K0), subs=SUBS, msid=1)) is Verdict.PASS


def test_aggregate_delivery_offset_not_applied_fails() -> None:
    # Broken server: relays the sub-messages with their own timestamps.
    log = _player_got([(960, K0), (5000, K1), (5040, P1), (5080, P2)])
    assert v(check_aggregate_delivery(log, plain=(960, K0), subs=SUBS)) is Verdict.FAIL


def test_aggregate_delivery_dropped_is_unimplemented() -> None:
    log = _player_got([(960, K0)])
    assert v(check_aggregate_delivery(log, plain=(960, K0), subs=SUBS)) is Verdict.UNIMPLEMENTED


def test_aggregate_delivery_rebased_and_relayed_forms() -> None:
    rebased = _player_got([(0, K0), (40, K1), (80, P1), (120, P2)])
    f = check_aggregate_delivery(rebased, plain=(960, K0), subs=SUBS)
    assert v(f) is Verdict.INFORMATIONAL and not any(x.verdict is Verdict.FAIL for x in f)
    # The server relays the aggregate itself: the checker splits it like a player would.
    b = playing()
    b.server_msg(on_status("NetStream.Play.Start"), msid=1)
    b.server_msg(Aggregate.build([(9, 5000, K1), (9, 5040, P1), (9, 5080, P2)]), msid=1, timestamp=1000)
    assert v(check_aggregate_delivery(b.log, plain=(960, K0), subs=SUBS, msid=1)) is Verdict.PASS


def test_aggregate_delivery_wrong_msid_fails() -> None:
    log = _player_got([(960, K0), *SUBS], msid=5)
    assert v(check_aggregate_delivery(log, plain=(960, K0), subs=SUBS, msid=1)) is Verdict.FAIL
