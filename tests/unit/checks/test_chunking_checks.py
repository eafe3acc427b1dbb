"""Chunking checkers: each must FAIL (or give the right non-pass verdict) on a deliberately
broken server's traffic and pass on good traffic."""

from __future__ import annotations

import pytest

from rtmpconf.harness.checks.chunking import (
    SentMedia,
    check_answered,
    check_chunk_headers,
    check_chunk_size_announcement,
    check_glued_trigger,
    check_header_efficiency,
    check_msid,
    check_not_answered,
    check_relayed,
    check_survived_or_closed,
)
from rtmpconf.harness.checks.session import check_still_serving
from rtmpconf.harness.verdict import Finding, Verdict, worst
from rtmpconf.harness.wirelog import S2C
from rtmpconf.rtmp.chunk import MessagePlan
from rtmpconf.rtmp.messages import (
    Audio,
    Command,
    SetChunkSize,
    UserControl,
    Video,
    WindowAckSize,
    encode_message,
)
from tests.unit.checks import fakes
from tests.unit.checks.fakes import LogBuilder, verdicts


def apay(i: int, size: int = 24) -> bytes:
    return (b"\x2f" + i.to_bytes(2, "big") * size)[:size]


def connected(chunk_size: int | None = 4096) -> LogBuilder:
    """Handshake, then the usual connect replies; the server really switches to ``chunk_size``."""
    return fakes.connected(connect_obj={"app": "live"}, chunk_size=chunk_size, reply=Command(
        "_result", 1.0, {"fmsVer": "FMS/3,0,1,123"}, ({"code": "NetConnection.Connect.Success"},)))


def reply(b: LogBuilder, tid: float) -> LogBuilder:
    return b.server_msg(Command("_result", tid, None, (1.0,)))


# -- check_chunk_headers -------------------------------------------------------------------------


def test_headers_pass_on_good_server() -> None:
    b = connected()
    b.server_msg(Command("onStatus", 0.0, None, ({"code": "NetStream.Play.Start"},)), msid=1)
    sent = [SentMedia(8, 1000 + 20 * i, apay(i)) for i in range(4)] + [SentMedia(9, 1000, bytes(5000))]
    for s in sent:
        b.server_msg(Audio(s.payload) if s.type_id == 8 else Video(s.payload), msid=1, timestamp=s.timestamp)
    found = check_chunk_headers(b.log, sent=sent)
    assert worst(found) is Verdict.PASS, found
    assert {"CH-5", "CH-10", "CH-20", "CH-7"} <= set(verdicts(found))


def test_headers_fail_when_chunk_stream_starts_with_fmt1() -> None:
    b = connected()
    b.server_msg(Audio(apay(1)), msid=1, timestamp=1000, plan=MessagePlan(fmt=1))
    assert verdicts(check_chunk_headers(b.log))["CH-5"] is Verdict.FAIL


def test_headers_fail_when_chunk_stream_starts_with_fmt3() -> None:
    b = connected()
    b.server_msg(Audio(apay(1)), msid=1, timestamp=1000, plan=MessagePlan(fmt=3))
    found = check_chunk_headers(b.log)
    assert verdicts(found)["CH-5"] is Verdict.FAIL
    assert any("starts with fmt 3" in f.message for f in found)


def test_headers_fail_on_backward_step_without_fmt0() -> None:
    b = connected()
    b.server_msg(Audio(apay(1)), msid=1, timestamp=1000)
    # fmt 2 whose (extended) delta is 2**32 - 100: "100 ms back" written as a delta.
    b.server_msg(Audio(apay(2)), msid=1, timestamp=900, plan=MessagePlan(fmt=2, ts_field=0xFFFFFF9C))
    found = check_chunk_headers(b.log)
    assert verdicts(found)["CH-5"] is Verdict.FAIL
    assert any("steps back 100 ms" in f.message for f in found)


def test_headers_fail_when_message_abandoned_midway() -> None:
    b = connected(chunk_size=None)
    type_id, payload = encode_message(Video(bytes(300)))
    chunks = b.server.encode_planned(6, type_id, 1, 1000, payload, MessagePlan())
    b.s2c(chunks[0])  # 128 of 300 bytes, then a new header on csid 6
    b.server_msg(Video(bytes(50)), msid=1, timestamp=1040, csid=6, plan=MessagePlan(fmt=0))
    assert verdicts(check_chunk_headers(b.log))["CH-10"] is Verdict.FAIL


@pytest.mark.parametrize("with_command", [True, False], ids=["command-breaks", "audio-only"])
def test_headers_fail_when_server_ignores_its_own_set_chunk_size(with_command: bool) -> None:
    b = connected(chunk_size=None)
    b.server_msg(SetChunkSize(4096))  # announced, but the writer keeps 128
    if with_command:
        b.server_msg(Command("onStatus", 0.0, None, ({"code": "NetStream.Play.Start", "pad": "x" * 600},)),
                     msid=1)
    # Audio alone decodes "fine" at 4096 (continuation headers swallowed into the payload); only
    # the 7 bytes left over at the end give it away.
    b.server_msg(Audio(apay(1, 900)), msid=1, timestamp=1000)
    found = check_chunk_headers(b.log)
    assert [f.rule for f in found] == ["CH-16"] and found[0].verdict is Verdict.FAIL, found


def test_headers_fail_when_server_uses_size_before_announcing() -> None:
    b = connected(chunk_size=None)
    b.server.set_chunk_size(4096)  # never announced
    b.server_msg(Command("onStatus", 0.0, None, ({"code": "NetStream.Play.Start", "pad": "x" * 600},)), msid=1)
    b.server_msg(Audio(apay(1, 900)), msid=1, timestamp=1000)
    found = check_chunk_headers(b.log)
    assert verdicts(found).get("CH-14") is Verdict.FAIL, found
    assert "4096" in found[0].message


def test_headers_fail_when_server_adopts_client_chunk_size() -> None:
    b = connected()
    b.client_msg(SetChunkSize(150))
    b.server.set_chunk_size(150)  # the Red5-client mistake, mirrored: peer's size used for output
    b.server_msg(Command("onStatus", 0.0, None, ({"code": "NetStream.Play.Start", "pad": "x" * 600},)), msid=1)
    b.server_msg(Audio(apay(1, 900)), msid=1, timestamp=1000)
    found = check_chunk_headers(b.log)
    assert verdicts(found).get("CH-14") is Verdict.FAIL, found
    assert "peer's 150" in found[0].message


def test_headers_fail_on_control_off_csid2() -> None:
    b = connected()
    b.server_msg(WindowAckSize(1_000_000), csid=3)
    b.server_msg(UserControl.stream_begin(1), csid=5)
    b.server_msg(Audio(apay(1)), msid=1, timestamp=0, csid=2)
    v = verdicts(check_chunk_headers(b.log))
    assert v["CH-20"] is Verdict.FAIL
    assert v["CH-1"] is Verdict.NON_STRICT


def test_headers_user_control_off_csid2_is_non_strict() -> None:
    b = connected()
    b.server_msg(UserControl.stream_begin(1), msid=1)
    assert verdicts(check_chunk_headers(b.log))["CH-20"] is Verdict.NON_STRICT


def test_headers_fail_on_fmt3_with_changed_delta() -> None:
    sent = [SentMedia(8, 1000, apay(1)), SentMedia(8, 1020, apay(2)), SentMedia(8, 1080, apay(3))]
    good = connected()
    bad = connected()
    for b, last_fmt in ((good, 2), (bad, 3)):
        b.server_msg(Audio(apay(1)), msid=1, timestamp=1000)
        b.server_msg(Audio(apay(2)), msid=1, timestamp=1020, plan=MessagePlan(fmt=2))
        # bad: fmt 3 reuses delta 20 (lands at 1040), though the message belongs at 1080.
        b.server_msg(Audio(apay(3)), msid=1, timestamp=1080, plan=MessagePlan(fmt=last_fmt))
    assert verdicts(check_chunk_headers(good.log, sent=sent))["CH-7"] is Verdict.PASS
    found = check_chunk_headers(bad.log, sent=sent)
    assert verdicts(found)["CH-7"] is Verdict.FAIL
    assert any("offset" in f.message and "fmt 3" in f.message for f in found)


def test_headers_fail_on_fmt3_right_after_fmt0() -> None:
    # After fmt 0 at ts 1000 the inherited "delta" is 1000: fmt 3 means ts 2000, not 1020.
    sent = [SentMedia(8, 1000, apay(1)), SentMedia(8, 1020, apay(2))]
    b = connected()
    b.server_msg(Audio(apay(1)), msid=1, timestamp=1000)
    b.server_msg(Audio(apay(2)), msid=1, timestamp=1020, plan=MessagePlan(fmt=3))
    assert verdicts(check_chunk_headers(b.log, sent=sent))["CH-7"] is Verdict.FAIL


def test_headers_fail_on_delta_measured_from_skipped_message() -> None:
    sent = [SentMedia(8, 1000 + 20 * i, apay(i)) for i in range(3)] + [SentMedia(8, 1100, apay(3))]
    b = connected()
    b.server_msg(Audio(apay(0)), msid=1, timestamp=1000)
    b.server_msg(Audio(apay(1)), msid=1, timestamp=1020)
    # apay(2) at 1040 is skipped for this player, yet the next delta (60) is measured from it.
    b.server_msg(Audio(apay(3)), msid=1, timestamp=1080, plan=MessagePlan(fmt=2, ts_field=60))
    assert verdicts(check_chunk_headers(b.log, sent=sent))["CH-6"] is Verdict.FAIL


def test_headers_explicit_retiming_is_informational() -> None:
    sent = [SentMedia(8, 1000, apay(1)), SentMedia(8, 1020, apay(2))]
    b = connected()
    b.server_msg(Audio(apay(1)), msid=1, timestamp=0)
    b.server_msg(Audio(apay(2)), msid=1, timestamp=50, plan=MessagePlan(fmt=2))  # explicit delta 50
    found = check_chunk_headers(b.log, sent=sent)
    assert worst(found) is Verdict.INFORMATIONAL


def test_headers_nothing_sent_fails() -> None:
    b = LogBuilder().handshake()
    assert worst(check_chunk_headers(b.log)) is Verdict.FAIL


# -- check_header_efficiency ---------------------------------------------------------------------------


def test_efficiency_minimal_server() -> None:
    b = connected()
    for i in range(5):
        b.server_msg(Audio(apay(i)), msid=1, timestamp=1000 + 20 * i)
    found = check_header_efficiency(b.log)
    assert verdicts(found) == {"CH-6": Verdict.INFORMATIONAL, "CH-2a": Verdict.PASS}
    assert "(+0," in found[0].message


def test_efficiency_records_waste_and_flags_wide_basic_headers() -> None:
    b = connected()
    for i in range(5):
        # Every message fmt 0, and csid 100 in the 3-byte form.
        b.server_msg(Audio(apay(i)), msid=1, timestamp=1000 + 20 * i, csid=100,
                     plan=MessagePlan(fmt=0, csid_form=3))
    found = check_header_efficiency(b.log)
    v = verdicts(found)
    assert v["CH-2a"] is Verdict.NON_STRICT
    assert found[0].evidence["actual"] > found[0].evidence["minimal"]


# -- check_msid ----------------------------------------------------------------------------------------


def _stream_traffic(msid_on_wire: int, begin_data: bytes, plan: MessagePlan | None = None) -> LogBuilder:
    b = connected()
    b.server_msg(UserControl(0, begin_data))
    b.server_msg(Command("onStatus", 0.0, None, ({"code": "NetStream.Publish.Start"},)), msid=msid_on_wire,
                 plan=plan)
    return b


def test_msid_pass_little_endian() -> None:
    b = _stream_traffic(5, (5).to_bytes(4, "big"))
    assert worst(check_msid(b.log, 5)) is Verdict.PASS


def test_msid_fail_big_endian_msid() -> None:
    b = _stream_traffic(0x05000000, (5).to_bytes(4, "big"))  # gortmplib-style: msid bytes 00 00 00 05
    found = check_msid(b.log, 5)
    assert worst(found) is Verdict.FAIL and "big-endian" in found[0].message


def test_msid_fail_little_endian_stream_begin() -> None:
    b = _stream_traffic(5, (5).to_bytes(4, "little"))
    found = check_msid(b.log, 5)
    assert worst(found) is Verdict.FAIL and "StreamBegin" in found[0].message


def test_msid_fail_inherited_by_fmt1() -> None:
    b = connected()
    b.server_msg(Command("_result", 2.0, None, (5.0,)))
    # onStatus for stream 5 on the same csid 3 with fmt 1: it inherits msid 0.
    b.server_msg(Command("onStatus", 0.0, None, ({"code": "NetStream.Publish.Start"},)), msid=5,
                 plan=MessagePlan(fmt=1))
    assert verdicts(check_msid(b.log, 5)).get("CH-6") is Verdict.FAIL


def test_msid_fail_when_nothing_for_stream() -> None:
    assert worst(check_msid(connected().log, 5)) is Verdict.FAIL


# -- check_answered / check_not_answered / check_still_serving ------------------------------------------


def test_answered_pass_and_failures() -> None:
    good = reply(connected(), 2.0)
    assert worst(check_answered(good.log, [2.0], rule="CH-1", what="x")) is Verdict.PASS
    silent = connected()
    assert worst(check_answered(silent.log, [2.0], rule="CH-1", what="x")) is Verdict.FAIL
    assert worst(check_answered(silent.log, [2.0], rule="CH-8", what="x",
                                silent_verdict=Verdict.NON_STRICT)) is Verdict.NON_STRICT
    closed = connected()
    closed.log.mark_closed(S2C, closed.t + 1)
    assert worst(check_answered(closed.log, [2.0], rule="CH-1", what="x")) is Verdict.FAIL
    assert worst(check_answered(closed.log, [2.0], rule="CH-8", what="x",
                                close_verdict=Verdict.PASS)) is Verdict.PASS


def test_answered_fails_when_discarded_message_is_answered() -> None:
    b = reply(reply(connected(), 2.0), 3.0)
    found = check_answered(b.log, [3.0], rule="CH-18", what="x", forbidden=[2.0])
    assert worst(found) is Verdict.FAIL


def test_answered_fails_when_server_dies() -> None:
    dead = LogBuilder().log  # the fresh session got nothing at all
    found = check_answered(reply(connected(), 2.0).log, [2.0], rule="CH-15", what="x", after=dead)
    assert worst(found) is Verdict.FAIL
    assert worst(check_still_serving(connected().log, "CH-15", "x")) is Verdict.PASS


def test_not_answered() -> None:
    assert worst(check_not_answered(connected().log, 1.0, rule="HS-1", what="x")) is Verdict.FAIL
    b = LogBuilder().handshake()
    assert worst(check_not_answered(b.log, 1.0, rule="HS-1", what="x")) is Verdict.PASS


# -- check_relayed --------------------------------------------------------------------------------------


def _player(sent: list[SentMedia], *, corrupt: int | None = None, drop: int | None = None,
            shift: int | None = None) -> LogBuilder:
    b = connected()
    for i, s in enumerate(sent):
        if i == drop:
            continue
        payload = s.payload
        if i == corrupt:
            payload = payload[:5] + bytes([payload[5] ^ 0xFF]) + payload[6:]
        ts = s.timestamp + (20 if shift is not None and i >= shift else 0)
        b.server_msg(Audio(payload), msid=1, timestamp=ts)
    return b


SENT = [SentMedia(8, 1000 + 20 * i, apay(i)) for i in range(4)]


def test_relayed_pass() -> None:
    assert worst(check_relayed(_player(SENT).log, SENT, rule="CH-6")) is Verdict.PASS


def test_relayed_fail_corrupted() -> None:
    found = check_relayed(_player(SENT, corrupt=2).log, SENT, rule="CH-13")
    assert worst(found) is Verdict.FAIL and "payload offset 5" in found[0].message


def test_relayed_fail_missing() -> None:
    assert worst(check_relayed(_player(SENT, drop=1).log, SENT, rule="CH-10")) is Verdict.FAIL


def test_relayed_optional_may_be_missing() -> None:
    sent = SENT + [SentMedia(8, 1100, b"", optional=True)]
    assert worst(check_relayed(_player(SENT).log, sent, rule="CH-11")) is Verdict.PASS


def test_relayed_fail_wrong_steps() -> None:
    found = check_relayed(_player(SENT, shift=2).log, SENT, rule="CH-7")
    assert worst(found) is Verdict.FAIL and any("step 40 ms, published step 20 ms" in f.message for f in found)


def test_relayed_refusal_verdict() -> None:
    pub = connected()
    pub.log.mark_closed(S2C, pub.t + 1)
    found = check_relayed(connected().log, SENT, rule="CH-19", publisher=pub.log,
                          refusal_verdict=Verdict.NON_STRICT)
    assert worst(found) is Verdict.NON_STRICT
    assert worst(check_relayed(connected().log, SENT, rule="CH-19", publisher=pub.log)) is Verdict.FAIL


# -- CH-17, CH-19 ---------------------------------------------------------------------------------------


def test_chunk_size_announcement() -> None:
    assert worst(check_chunk_size_announcement(connected().log)) is Verdict.INFORMATIONAL
    assert worst(check_chunk_size_announcement(connected(chunk_size=None).log)) is Verdict.INFORMATIONAL
    assert worst(check_chunk_size_announcement(connected(chunk_size=64).log)) is Verdict.NON_STRICT


def test_survived_or_closed() -> None:
    closed = connected()
    closed.log.mark_closed(S2C, closed.t + 1)
    assert worst(check_survived_or_closed(closed.log, rule="CH-19", what="x")) is Verdict.PASS
    alive = connected().server_msg(UserControl.ping_response(b"\x00\x00\x00\x01"))
    assert worst(check_survived_or_closed(alive.log, rule="CH-19", what="x")) is Verdict.INFORMATIONAL
    stuck = connected()
    assert worst(check_survived_or_closed(stuck.log, rule="CH-19", what="x")) is Verdict.NON_STRICT
    assert worst(check_survived_or_closed(closed.log, rule="CH-19", what="x",
                                          after=LogBuilder().log)) is Verdict.FAIL


# -- CH-5: automatic replies glued to commands ----------------------------------------------------------

GLUED_PING = b"\x0b\xad\xca\xfe"


def _glued(order: str) -> LogBuilder:
    """A client writes PingRequest + connect in one write; the server's writer encodes the
    PingResponse first, then the connect answer. ``order``: "encoded" writes them that way,
    "two-queue" writes the answer first (the bug), "no-pong" never answers the ping."""
    b = LogBuilder()
    b.handshake()
    _, ping = encode_message(UserControl.ping_request(int.from_bytes(GLUED_PING, "big")))
    _, connect = encode_message(Command("connect", 1.0, {"app": "live"}))
    b.c2s(b.client.encode(2, 4, 0, 0, ping) + b.client.encode(3, 20, 0, 0, connect))
    pong = b"" if order == "no-pong" else b.server.encode(2, 4, 0, 0, encode_message(
        UserControl.ping_response(GLUED_PING))[1])
    answer = b""
    for csid, msg in ((2, WindowAckSize(2_500_000)), (2, UserControl.stream_begin(0)),
                      (3, Command("_result", 1.0, fakes.FMS_PROPS, (fakes.CONNECT_OK,)))):
        type_id, payload = encode_message(msg)
        answer += b.server.encode(csid, type_id, 0, 0, payload)
    b.s2c(answer + pong if order == "two-queue" else pong + answer)
    return b


def _check_glued(b: LogBuilder) -> list[Finding]:
    return check_glued_trigger(b.log, [1.0], trigger="PingRequest + connect", reply="PingResponse",
                               is_reply=lambda m: m.raw.type_id == 4 and m.raw.payload[2:6] == GLUED_PING)


def test_glued_trigger_passes_in_encoding_order() -> None:
    found = _check_glued(_glued("encoded"))
    assert worst(found) is Verdict.PASS, found
    assert any("was exercised" in f.message for f in found)


def test_glued_trigger_fails_when_replies_overtake_the_automatic_reply() -> None:
    found = _check_glued(_glued("two-queue"))
    assert verdicts(found)["CH-5"] is Verdict.FAIL
    assert any("csid 2 is fmt 1" in f.message for f in found)


def test_glued_trigger_without_the_automatic_reply_is_not_run() -> None:
    found = _check_glued(_glued("no-pong"))
    assert worst(found) is Verdict.NOT_RUN
    assert any("not exercised" in f.message for f in found)


def test_glued_trigger_fails_when_a_transaction_is_not_answered() -> None:
    b = LogBuilder()
    b.handshake()
    b.client_msg(UserControl.ping_request(int.from_bytes(GLUED_PING, "big")))
    b.server_msg(UserControl.ping_response(GLUED_PING))
    assert verdicts(_check_glued(b))["CMD-10"] is Verdict.FAIL


def _refused(reset: bool) -> LogBuilder:
    """The client glues media and connect into one write; the server closes without a chunk."""
    b = LogBuilder()
    b.handshake()
    b.client_msg(Command("connect", 1.0, {"app": "live"}))
    b.log.mark_closed(S2C, 1.0, reset=reset)
    return b


@pytest.mark.parametrize("reset", [False, True])
def test_glued_trigger_refused_undefined_input_is_not_run(reset: bool) -> None:
    found = check_glued_trigger(_refused(reset).log, [1.0], trigger="audio + connect", reply="Acknowledgement",
                                is_reply=lambda m: m.raw.type_id == 3, refusal="media before connect")
    assert [f.verdict for f in found] == [Verdict.NOT_RUN], found
    assert "media before connect" in found[0].message


def test_glued_trigger_refusal_of_a_defined_write_still_fails() -> None:
    """Without ``refusal`` (every glued write of defined messages) closing unanswered is CMD-10 FAIL."""
    found = check_glued_trigger(_refused(True).log, [1.0], trigger="ping + connect", reply="PingResponse",
                                is_reply=lambda m: m.raw.type_id == 4)
    assert verdicts(found)["CMD-10"] is Verdict.FAIL
