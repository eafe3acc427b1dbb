"""AUTH checkers against fake servers: each FAILs (or is capped NON-STRICT by its level) on a broken double."""

from __future__ import annotations

from rtmpconf.harness.checks.auth import (
    ConnectAttempt,
    check_adobe_authmod,
    check_credential_honoured,
    check_name_not_reserved,
    check_refusal_visible,
    check_refused_publish_not_relayed,
)
from rtmpconf.harness.testmedia import make_h264_aac
from rtmpconf.harness.verdict import Verdict
from tests.unit.checks.fakes import closed, player_log, publishing, v


def test_refusal_with_error_status_then_close_passes() -> None:
    log = closed(publishing(status="NetStream.Publish.Unauthorized", level="error")).log
    assert v(check_refusal_visible(log)) is Verdict.PASS


def test_silent_close_fails() -> None:
    from rtmpconf.rtmp.messages import Command
    from tests.unit.checks.fakes import connected, create_stream

    b = create_stream(connected())
    b.client_msg(Command("publish", 0.0, None, ("s?token=bad", "live")), msid=1)
    assert v(check_refusal_visible(closed(b, reset=True).log)) is Verdict.FAIL


def test_start_then_close_fails_and_start_kept_open_is_not_run() -> None:
    assert v(check_refusal_visible(closed(publishing()).log)) is Verdict.FAIL
    assert v(check_refusal_visible(publishing().log)) is Verdict.NOT_RUN


def test_no_answer_at_all_fails() -> None:
    from rtmpconf.rtmp.messages import Command
    from tests.unit.checks.fakes import connected, create_stream

    b = create_stream(connected())
    b.client_msg(Command("publish", 0.0, None, ("s", "live")), msid=1)
    assert v(check_refusal_visible(b.log)) is Verdict.FAIL


def test_refused_publish_not_relayed() -> None:
    stream = make_h264_aac(seconds=0.2, gop=5)
    markers = [t.payload for t in stream.tags]
    refused = closed(publishing(status="NetStream.Publish.Unauthorized", level="error")).log
    clean_player = player_log([])
    assert v(check_refused_publish_not_relayed(refused, clean_player, markers)) is Verdict.PASS
    # Broken: the server relays the refused publisher's frames (node-media-server 4.4.3 does).
    leaky_player = player_log(stream.tags)
    assert v(check_refused_publish_not_relayed(refused, leaky_player, markers)) is Verdict.FAIL
    # Broken: the server says Publish.Start to a wrong credential.
    assert v(check_refused_publish_not_relayed(publishing().log, clean_player, markers)) is Verdict.FAIL


def test_credential_honoured() -> None:
    stream = make_h264_aac(seconds=0.2, gop=5)
    markers = [t.payload for t in stream.tags]
    ok = publishing().log
    assert v(check_credential_honoured(ok, player_log(stream.tags), markers, where="q", rule="AUTH-3")) is Verdict.PASS
    refused = publishing(status="NetStream.Publish.Unauthorized", level="error").log
    assert v(check_credential_honoured(refused, player_log(stream.tags), markers, where="q", rule="AUTH-3")) \
        is Verdict.FAIL
    # Broken: the query became part of the name, so the plain name's player gets nothing.
    assert v(check_credential_honoured(ok, player_log([]), markers, where="q", rule="AUTH-3")) is Verdict.FAIL
    # Broken: Start, then the server drops the publisher.
    assert v(check_credential_honoured(closed(publishing()).log, None, markers, where="q", rule="AUTH-6")) \
        is Verdict.FAIL


def test_name_not_reserved() -> None:
    refused = closed(publishing(status="NetStream.Publish.Unauthorized", level="error")).log
    assert v(check_name_not_reserved(refused, {"code": "NetStream.Publish.Start"})) is Verdict.PASS
    assert v(check_name_not_reserved(refused, {"code": "NetStream.Publish.BadName"})) is Verdict.FAIL
    assert v(check_name_not_reserved(refused, None)) is Verdict.FAIL
    assert v(check_name_not_reserved(publishing().log, {"code": "NetStream.Publish.BadName"})) is Verdict.NOT_RUN


GOOD = [
    ConnectAttempt("app", "_error", "NetConnection.Connect.Rejected", "error",
                   "[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : "),
    ConnectAttempt("app?authmod=adobe&user=u", "_error", "NetConnection.Connect.Rejected", "error",
                   "[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=needauth&user=u&salt=s&challenge=c&opaque=c"),
    ConnectAttempt("app?...response", "_result", "NetConnection.Connect.Success", "status", ""),
    ConnectAttempt("app?...wrong", "_error", "NetConnection.Connect.Rejected", "error",
                   "[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=authfailed"),
]


def test_adobe_authmod() -> None:
    assert v(check_adobe_authmod(GOOD)) is Verdict.PASS
    # Broken: a plain rejection without the authmod hint (clients never start the exchange).
    plain = [ConnectAttempt("app", "_error", "NetConnection.Connect.Rejected", "error", "denied"), *GOOD[1:]]
    assert v(check_adobe_authmod(plain)) is Verdict.FAIL
    # Broken: any response accepted.
    lax = [*GOOD[:3], ConnectAttempt("app?...wrong", "_result", "NetConnection.Connect.Success", "status", "")]
    assert v(check_adobe_authmod(lax)) is Verdict.FAIL
    # A refusal without ?reason=authfailed: recorded, not a violation.
    vague = [*GOOD[:3], ConnectAttempt("app?...wrong", "_error", "NetConnection.Connect.Rejected", "error", "no")]
    assert v(check_adobe_authmod(vague)) is Verdict.INFORMATIONAL
    assert v(check_adobe_authmod(GOOD[:2])) is Verdict.FAIL
