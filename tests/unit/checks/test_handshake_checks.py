"""Handshake checkers: each must FAIL (or give the right non-pass verdict) on a deliberately
broken server's traffic and pass on good traffic."""

from __future__ import annotations

import os

import pytest

from rtmpconf.harness.checks.handshake import (
    check_c2_boundary,
    check_digest_fallback,
    check_digest_handshake,
    check_handshake_completes,
    check_handshake_layout,
    check_handshake_order,
    check_handshake_split,
    check_s1_zero_field,
    check_s2_after_c1,
    check_stall,
    check_version_reply,
)
from rtmpconf.harness.verdict import Verdict, worst
from rtmpconf.harness.wirelog import C2S, S2C, WireLog
from rtmpconf.rtmp.handshake import (
    HANDSHAKE_SIZE,
    ClientHandshake,
    DigestScheme,
    HandshakeMode,
    ServerHandshake,
)
from rtmpconf.rtmp.messages import Command
from tests.unit.checks.fakes import LogBuilder, verdicts


def connect_result(b: LogBuilder) -> LogBuilder:
    """The client's connect (tid 1) and the server's _result."""
    b.client_msg(Command("connect", 1.0, {"app": "live"}))
    return b.server_msg(Command("_result", 1.0, None, ({"code": "NetConnection.Connect.Success"},)))


def raw_log(*events: tuple[str, bytes]) -> WireLog:
    log = WireLog("hand-made")
    for i, (direction, data) in enumerate(events):
        log.add(direction, data, 100.0 + i * 0.01)  # type: ignore[arg-type]
    return log


# -- layout, order, split (existing checkers) ------------------------------------------------------


def test_layout_pass_and_broken_servers() -> None:
    assert worst(check_handshake_layout(LogBuilder().handshake().log)) is Verdict.PASS
    assert verdicts(check_handshake_layout(LogBuilder().handshake(s2=os.urandom(HANDSHAKE_SIZE)).log))["HS-8"] \
        is Verdict.FAIL
    assert verdicts(check_handshake_layout(LogBuilder().handshake(version=4).log))["HS-2"] is Verdict.FAIL
    s1 = bytes(4) + b"\x01\x02\x03\x04" + os.urandom(1528)  # SRS-style non-zero "zero" field
    assert verdicts(check_handshake_layout(LogBuilder().handshake(s1=s1).log))["HS-10"] is Verdict.NON_STRICT
    short = raw_log((C2S, b"\x03" + bytes(HANDSHAKE_SIZE)), (S2C, b"\x03" + bytes(100)))
    assert verdicts(check_handshake_layout(short))["HS-1"] is Verdict.FAIL


def test_order_fails_on_data_before_c2() -> None:
    assert worst(check_handshake_order(LogBuilder().handshake().log)) is Verdict.PASS
    early = LogBuilder().handshake(data_before_c2=b"\x02\x00\x00\x00\x00\x00\x04\x05\x00\x00\x00\x00\x00\x26\x25\xa0")
    assert worst(check_handshake_order(early.log)) is Verdict.FAIL


def test_split_is_recorded() -> None:
    assert worst(check_handshake_split(LogBuilder().handshake().log)) is Verdict.INFORMATIONAL


# -- completion and C2 boundary ------------------------------------------------------------------


def test_completes_needs_handshake_and_connect_answer() -> None:
    assert worst(check_handshake_completes(connect_result(LogBuilder().handshake()).log,
                                           rule="HS-6", what="x")) is Verdict.PASS
    no_answer = LogBuilder().handshake()
    assert worst(check_handshake_completes(no_answer.log, rule="HS-6", what="x")) is Verdict.FAIL
    assert worst(check_handshake_completes(no_answer.log, rule="HS-9", what="x",
                                           verdict=Verdict.NON_STRICT)) is Verdict.NON_STRICT
    cut = raw_log((C2S, b"\x03" + bytes(HANDSHAKE_SIZE)), (S2C, b"\x03" + bytes(HANDSHAKE_SIZE)))
    assert worst(check_handshake_completes(cut, rule="HS-16", what="x")) is Verdict.FAIL


def test_c2_boundary_fails_when_misaligned_connect_is_answered() -> None:
    answered = connect_result(LogBuilder().handshake()).log
    assert worst(check_c2_boundary(answered, expect_connect=False, what="x")) is Verdict.FAIL
    assert worst(check_c2_boundary(answered, expect_connect=True, what="x")) is Verdict.PASS
    closed = LogBuilder().handshake()
    closed.log.mark_closed(S2C, closed.t + 1)
    assert worst(check_c2_boundary(closed.log, expect_connect=False, what="x")) is Verdict.PASS


# -- versions -------------------------------------------------------------------------------------


def _version_log(version: int, reply: bytes | None, *, closed: bool) -> WireLog:
    log = raw_log((C2S, bytes([version]) + bytes(HANDSHAKE_SIZE)), *([(S2C, reply)] if reply else []))
    if closed:
        log.mark_closed(S2C, 101.0)
    return log


@pytest.mark.parametrize("version,reply,closed,rule,verdict", [
    (4, None, True, "HS-3", Verdict.PASS),  # SRS/nginx/FFmpeg: close
    (4, b"\x03" + bytes(2 * HANDSHAKE_SIZE), False, "HS-3", Verdict.PASS),  # §5.2.2: answer 3
    (0x47, b"\x47" + bytes(2 * HANDSHAKE_SIZE), False, "HS-2", Verdict.FAIL),  # echoes 'G'
    (0, None, False, "HS-3", Verdict.NON_STRICT),  # hangs
    (6, b"\x03" + bytes(2 * HANDSHAKE_SIZE), False, "HS-15", Verdict.NON_STRICT),  # RTMPE as plain
    (6, b"\x06" + bytes(2 * HANDSHAKE_SIZE), False, "HS-15", Verdict.INFORMATIONAL),  # speaks RTMPE
])
def test_version_reply(version: int, reply: bytes | None, closed: bool, rule: str, verdict: Verdict) -> None:
    found = check_version_reply(_version_log(version, reply, closed=closed), version)
    assert verdicts(found)[rule] is verdict


def test_version_reply_fails_when_server_dies() -> None:
    found = check_version_reply(_version_log(4, None, closed=True), 4, after=WireLog("dead"))
    assert worst(found) is Verdict.FAIL


# -- HS-4 with S0 timing; HS-10 ---------------------------------------------------------------------


def test_s2_after_c1() -> None:
    c1, s1, s2 = os.urandom(HANDSHAKE_SIZE), os.urandom(HANDSHAKE_SIZE), os.urandom(HANDSHAKE_SIZE)
    good = raw_log((C2S, b"\x03"), (S2C, b"\x03" + s1), (C2S, c1), (S2C, s2), (C2S, s1))
    found = check_s2_after_c1(good)
    assert verdicts(found) == {"HS-4": Verdict.PASS, "HS-5": Verdict.INFORMATIONAL}
    assert "S0 before C1 was complete" in found[-1].message
    # A server that answers S0S1S2 to C0 alone cannot have echoed C1 in S2.
    bad = raw_log((C2S, b"\x03" + c1[:100]), (S2C, b"\x03" + s1 + s2), (C2S, c1[100:]), (C2S, s1))
    assert verdicts(check_s2_after_c1(bad))["HS-4"] is Verdict.FAIL


def test_s1_zero_field() -> None:
    assert worst(check_s1_zero_field(LogBuilder().handshake().log)) is Verdict.PASS
    s1 = b"\x00\x00\x00\x10" + b"\x00\x00\x00\x10" + os.urandom(1528)  # SRS: S1 = [time, C1.time]
    assert worst(check_s1_zero_field(LogBuilder().handshake(s1=s1).log)) is Verdict.NON_STRICT


# -- digest handshake -------------------------------------------------------------------------------


def _digest_exchange(*, server: ServerHandshake | None = None, scheme: DigestScheme = DigestScheme.SCHEME1,
                     mangle: str = "", answer: bool = True) -> WireLog:
    """A digest C1 against a real ServerHandshake (optionally broken), then connect."""
    client = ClientHandshake(mode=HandshakeMode.DIGEST, scheme=scheme)
    c0c1 = client.data_to_send()
    server = server or ServerHandshake()
    server.receive_data(c0c1)
    reply = bytearray(server.data_to_send())
    if mangle == "s2-signature":
        reply[-1] ^= 0xFF
    elif mangle == "s1-digest":
        reply[1 + 8:1 + HANDSHAKE_SIZE] = os.urandom(HANDSHAKE_SIZE - 8)  # version field kept, no digest
    b = LogBuilder()
    b.c2s(c0c1)
    b.s2c(bytes(reply))
    client.receive_data(bytes(reply))
    b.c2s(client.data_to_send())
    if answer:
        connect_result(b)
    return b.log


def test_digest_pass_on_good_server() -> None:
    for scheme in DigestScheme:
        found = check_digest_handshake(_digest_exchange(scheme=scheme), scheme=scheme)
        assert worst(found) is Verdict.PASS
        assert {"HS-11", "HS-12", "HS-13"} <= set(verdicts(found))


def test_digest_bad_s2_signature() -> None:
    found = check_digest_handshake(_digest_exchange(mangle="s2-signature"), scheme=DigestScheme.SCHEME1)
    assert verdicts(found)["HS-13"] is Verdict.NON_STRICT


def test_digest_s1_without_valid_digest() -> None:
    found = check_digest_handshake(_digest_exchange(mangle="s1-digest"), scheme=DigestScheme.SCHEME1)
    assert verdicts(found)["HS-11"] is Verdict.NON_STRICT


def test_digest_simple_reply_is_unimplemented() -> None:
    log = _digest_exchange(server=ServerHandshake(allow_digest=False))
    assert verdicts(check_digest_handshake(log, scheme=DigestScheme.SCHEME1))["HS-12"] is Verdict.UNIMPLEMENTED


def test_digest_close_is_non_strict() -> None:
    client = ClientHandshake(mode=HandshakeMode.DIGEST, scheme=DigestScheme.SCHEME0)
    log = raw_log((C2S, client.data_to_send()))
    log.mark_closed(S2C, 101.0)
    assert worst(check_digest_handshake(log, scheme=DigestScheme.SCHEME0)) is Verdict.NON_STRICT
    no_connect = _digest_exchange(answer=False)
    assert verdicts(check_digest_handshake(no_connect, scheme=DigestScheme.SCHEME1))["HS-12"] is Verdict.NON_STRICT


def test_digest_harness_error_on_plain_c1() -> None:
    assert worst(check_digest_handshake(LogBuilder().handshake().log, scheme=DigestScheme.SCHEME0)) \
        is Verdict.ERROR


def _fallback_log(*, answer: bool) -> WireLog:
    c1 = bytes(4) + bytes([9, 0, 124, 2]) + os.urandom(1528)  # claims a digest, has none
    server = ServerHandshake()
    server.receive_data(b"\x03" + c1)
    b = LogBuilder()
    b.c2s(b"\x03" + c1)
    reply = server.data_to_send()
    b.s2c(reply)
    b.c2s(reply[1:1 + HANDSHAKE_SIZE])
    if answer:
        connect_result(b)
    else:
        b.log.mark_closed(S2C, b.t + 1)
    return b.log


def test_digest_fallback() -> None:
    assert worst(check_digest_fallback(_fallback_log(answer=True))) is Verdict.PASS
    assert worst(check_digest_fallback(_fallback_log(answer=False))) is Verdict.NON_STRICT
    assert worst(check_digest_fallback(_digest_exchange())) is Verdict.ERROR  # a valid digest is no test


# -- HS-16 ---------------------------------------------------------------------------------------


def test_stall_records_close_or_not() -> None:
    b = LogBuilder()
    b.c2s(b"\x03" + bytes(HANDSHAKE_SIZE))
    b.s2c(b"\x03" + bytes(2 * HANDSHAKE_SIZE))
    open_found = check_stall(b.log, window=0.5, stalled_at="after C1")
    assert worst(open_found) is Verdict.INFORMATIONAL and "no close" in open_found[0].message
    b.log.mark_closed(S2C, b.t + 0.25)
    closed_found = check_stall(b.log, window=0.5, stalled_at="after C1")
    assert "closed 0.25 s after" in closed_found[0].message

