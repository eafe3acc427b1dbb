"""AMF checkers and raw vector builders: broken servers' traffic gets the right non-pass verdict."""

from __future__ import annotations

from rtmpconf.harness.checks.amf import (
    check_malformed_rejected,
    check_metadata_values,
    raw_ecma,
    raw_long_string,
    raw_object,
    raw_string,
    raw_value,
)
from rtmpconf.harness.verdict import Verdict
from rtmpconf.rtmp import amf0
from rtmpconf.rtmp.messages import Command, Data
from tests.unit.checks.fakes import (
    LogBuilder,
    closed,
    connected,
    fresh_dead,
    fresh_ok,
    info_obj,
    on_status,
    ping,
    playing,
    publishing,
    v,
)

PROPS = {f"p{i}": float(i) for i in range(12)}
CONTROL = amf0.EcmaArray(control=True)


# -- builders ----------------------------------------------------------------------------------------


def test_raw_builders_decode_as_intended() -> None:
    # Count 0 with 12 properties and count 100 with 3: a terminator-driven decoder reads them all.
    body = raw_ecma([(k, raw_value(x)) for k, x in PROPS.items()], 0)
    assert dict(amf0.decode_value(body)[0]) == PROPS
    assert dict(amf0.decode_value(raw_ecma([("a", raw_value(1.0))], 100))[0]) == {"a": 1.0}
    assert raw_long_string("ab") == b"\x0c\x00\x00\x00\x02ab"
    assert amf0.decode_value(raw_object([("app", raw_long_string("live"))]))[0] == {"app": "live"}
    assert raw_string("connect") == b"\x02\x00\x07connect"


# -- AMF-2/3/4 metadata relay ---------------------------------------------------------------------------


def _relay(first: object | None, *, control: bool = True, pub_alive: bool = True) -> tuple:
    """Publisher sends a vector + control metadata; the player got ``first`` then the control."""
    pub = publishing()
    pub.client_msg(Data(("@setDataFrame", "onMetaData", amf0.EcmaArray(PROPS))), msid=1)
    pub = ping(pub) if pub_alive else closed(pub)
    player = playing()
    player.server_msg(on_status("NetStream.Play.Start"), msid=1)
    if first is not None:
        player.server_msg(Data(("onMetaData", first)), msid=1)
    if control:
        player.server_msg(Data(("onMetaData", CONTROL)), msid=1)
    return pub.log, player.log


def test_metadata_values_pass() -> None:
    pub, player = _relay(amf0.EcmaArray(PROPS))
    assert v(check_metadata_values(pub, player, PROPS, rule="AMF-2")) is Verdict.PASS


def test_metadata_values_count_trusted_fails() -> None:
    # Broken server: trusted count 3 and kept only p0..p2.
    pub, player = _relay(amf0.EcmaArray({k: PROPS[k] for k in ("p0", "p1", "p2")}))
    findings = check_metadata_values(pub, player, PROPS, rule="AMF-2")
    assert v(findings) is Verdict.FAIL
    assert "missing" in (findings[0].actual or "")


def test_metadata_values_dropped_vector_fails() -> None:
    pub, player = _relay(None)  # the vector vanished, the control came through
    assert v(check_metadata_values(pub, player, PROPS, rule="AMF-2")) is Verdict.FAIL


def test_metadata_values_wrong_value_fails() -> None:
    pub, player = _relay(amf0.EcmaArray(stereo=False))  # boolean 0x02 read as false
    assert v(check_metadata_values(pub, player, {"stereo": True}, rule="AMF-4")) is Verdict.FAIL
    pub, player = _relay(amf0.EcmaArray(comment="x" * 100))  # a 70 000-byte string cut short
    assert v(check_metadata_values(pub, player, {"comment": "x" * 70_000}, rule="AMF-3")) is Verdict.FAIL


def test_metadata_values_publisher_dropped_fails() -> None:
    pub, player = _relay(None, control=False, pub_alive=False)
    assert v(check_metadata_values(pub, player, PROPS, rule="AMF-2")) is Verdict.FAIL


def test_metadata_values_cannot_judge() -> None:
    # nginx regenerates metadata: the vector's decoding never shows, so no verdict (never a pass).
    pub, player = _relay(amf0.EcmaArray(width=320.0), control=False)
    assert v(check_metadata_values(pub, player, PROPS, rule="AMF-2")) is Verdict.NOT_RUN
    pub, player = _relay(None, control=False)  # no relay at all
    assert v(check_metadata_values(pub, player, PROPS, rule="AMF-2")) is Verdict.NON_STRICT


# -- AMF-5 malformed connect ---------------------------------------------------------------------------------


def _bad_connect() -> LogBuilder:
    b = LogBuilder().handshake()
    b.c2s(b"\x03\x00\x00\x00\x00\x00\x05\x14\x00\x00\x00\x00" + b"\x02\x00\x07co")  # fmt-0 type 20, 5-byte body
    return b


def test_malformed_rejected_accepts_refusals() -> None:
    assert v(check_malformed_rejected(closed(_bad_connect(), reset=True).log, fresh_ok(), "x")) is Verdict.PASS
    b = _bad_connect()
    b.server_msg(Command("_error", 1.0, None, (info_obj("NetConnection.Connect.Rejected", "error"),)))
    assert v(check_malformed_rejected(b.log, fresh_ok(), "x")) is Verdict.PASS
    assert v(check_malformed_rejected(ping(_bad_connect()).log, fresh_ok(), "x")) is Verdict.PASS  # ignored


def test_malformed_rejected_fails_when_server_crashes() -> None:
    findings = check_malformed_rejected(closed(_bad_connect()).log, fresh_dead(), "deep-nesting-10000")
    assert v(findings) is Verdict.FAIL
    assert findings[0].rule == "AMF-5"


def test_malformed_rejected_flags_acceptance_and_hangs() -> None:
    accepted = connected().log
    assert v(check_malformed_rejected(accepted, fresh_ok(), "unknown-reference")) is Verdict.NON_STRICT
    assert v(check_malformed_rejected(accepted, fresh_ok(), "fuzz", invalid=False)) is Verdict.PASS
    assert v(check_malformed_rejected(ping(_bad_connect(), answer=False).log, fresh_ok(), "x")) \
        is Verdict.NON_STRICT
