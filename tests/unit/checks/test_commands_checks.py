"""CMD checkers: each FAILs (or gives the right non-pass verdict) on a broken server's traffic."""

from __future__ import annotations

from rtmpconf.harness.checks.commands import (
    check_app_variant,
    check_aux_command,
    check_checkbw,
    check_connect_result_fields,
    check_connect_sequence,
    check_connect_tolerated,
    check_delete_stream_no_reply,
    check_fmle_calls,
    check_metadata_accepted,
    check_metadata_first,
    check_metadata_rewrite,
    check_pause_notify,
    check_play_before_publish,
    check_play_reply,
    check_play_start_value,
    check_publish_started,
    check_query_name,
    check_refused_or_closed,
    check_reply_tids,
    check_sample_access_ignored,
    check_status,
    check_status_messages,
    check_stream_id_used,
    check_unknown_app,
    check_unpublish_cleanup,
)
from rtmpconf.harness.verdict import Verdict
from rtmpconf.rtmp import amf0, media
from rtmpconf.rtmp.messages import Audio, Command, Data, UserControl, Video
from tests.unit.checks.fakes import (
    CONNECT_OK,
    FMS_PROPS,
    LogBuilder,
    closed,
    connected,
    create_stream,
    fresh_dead,
    fresh_ok,
    info_obj,
    on_status,
    ping,
    playing,
    publishing,
    v,
    video,
)

REJECTED = Command("_error", 1.0, None, (info_obj("NetConnection.Connect.Rejected", "error"),))
META = amf0.EcmaArray(width=320.0, videocodecid=7.0, audiocodecid=10.0, duration=0.0)


# -- CMD-14 / CMD-18 check_status ----------------------------------------------------------------------


def test_check_status() -> None:
    good = info_obj("NetStream.Publish.BadName", "error")
    assert v(check_status(good, rule="CMD-14", expected_codes=("NetStream.Publish.BadName",))) is Verdict.PASS
    wrong_level = info_obj("NetStream.Publish.BadName", "status")
    assert v(check_status(wrong_level, rule="CMD-14", expected_codes=("NetStream.Publish.BadName",))) is Verdict.FAIL
    started = info_obj("NetStream.Publish.Start")  # Node-Media-Server: Start, then a close
    assert v(check_status(started, rule="CMD-14", expected_codes=("NetStream.Publish.BadName",),
                          verdict=Verdict.NON_STRICT)) is Verdict.NON_STRICT


# -- connect --------------------------------------------------------------------------------------------


def test_connect_tolerated() -> None:
    assert v(check_connect_tolerated("CMD-3", connected().log, "x", fresh=fresh_ok())) is Verdict.PASS
    refused = connected(reply=REJECTED).log
    assert v(check_connect_tolerated("CMD-3", refused, "x")) is Verdict.FAIL
    assert v(check_connect_tolerated("CMD-7", refused, "x", reject_verdict=Verdict.INFORMATIONAL)) \
        is Verdict.INFORMATIONAL
    # No reply, no close: a client would hang.
    b = LogBuilder().handshake()
    b.client_msg(Command("connect", 1.0, {"app": "live"}))
    ping(b, answer=False)
    assert v(check_connect_tolerated("CMD-7", b.log, "x", reject_verdict=Verdict.INFORMATIONAL)) \
        is Verdict.NON_STRICT
    # Accepted, but the server died afterwards (Node-Media-Server's `new URL()` throw).
    assert v(check_connect_tolerated("CMD-7", connected().log, "x", fresh=fresh_dead())) is Verdict.FAIL


def test_connect_sequence() -> None:
    assert v(check_connect_sequence(connected().log)) is Verdict.INFORMATIONAL
    assert v(check_connect_sequence(connected(reply=REJECTED).log)) is Verdict.FAIL
    assert v(check_connect_sequence(closed(LogBuilder().handshake()).log)) is Verdict.FAIL


def test_connect_result_fields() -> None:
    def reply(enc: float, props: dict | None = None) -> Command:
        return Command("_result", 1.0, FMS_PROPS if props is None else props, ({**CONNECT_OK, "objectEncoding": enc},))

    assert v(check_connect_result_fields(connected(reply=reply(3.0)).log, 3.0)) is Verdict.PASS
    assert v(check_connect_result_fields(connected(reply=reply(0.0)).log, 5.0)) is Verdict.PASS
    assert v(check_connect_result_fields(connected(reply=reply(5.0)).log, 5.0)) is Verdict.NON_STRICT
    assert v(check_connect_result_fields(connected(reply=reply(0.0)).log, 3.0)) is Verdict.NON_STRICT
    assert v(check_connect_result_fields(connected(reply=reply(0.0, {})).log, 0.0)) is Verdict.NON_STRICT
    assert v(check_connect_result_fields(connected(reply=REJECTED).log, 0.0)) is Verdict.FAIL


def test_unknown_app() -> None:
    assert v(check_unknown_app(connected(reply=REJECTED).log)) is Verdict.PASS
    assert v(check_unknown_app(connected().log)) is Verdict.INFORMATIONAL  # accepts any app
    b = LogBuilder().handshake()
    b.client_msg(Command("connect", 1.0, {"app": "nope"}))
    assert v(check_unknown_app(closed(b).log)) is Verdict.INFORMATIONAL  # nginx: close, no _error
    odd = Command("_error", 1.0, None, (info_obj("NetConnection.Call.Failed", "status"),))
    assert v(check_unknown_app(connected(reply=odd).log)) is Verdict.NON_STRICT
    b = LogBuilder().handshake()
    b.client_msg(Command("connect", 1.0, {"app": "nope"}))
    assert v(check_unknown_app(ping(b, answer=False).log)) is Verdict.NON_STRICT


def test_app_variant() -> None:
    player = publishing().log
    pb = playing()
    pb.server_msg(on_status("NetStream.Play.Start"), msid=1)
    pb.server_msg(Data(("onMetaData", META)), msid=1)
    assert v(check_app_variant(publishing().log, pb.log, "live/")) is Verdict.PASS
    assert v(check_app_variant(publishing().log, player, "live/")) is Verdict.INFORMATIONAL  # another app
    assert v(check_app_variant(connected(reply=REJECTED).log, pb.log, "live/")) is Verdict.INFORMATIONAL
    assert v(check_app_variant(publishing().log, fresh_dead(), "live/")) is Verdict.FAIL  # server died


def test_refused_or_closed() -> None:
    b = connected()
    b.client_msg(Command("connect", 5.0, {"app": "live"}))
    b.server_msg(Command("_error", 5.0, None, (info_obj("NetConnection.Connect.Rejected", "error"),)))
    assert v(check_refused_or_closed("CMD-8", closed(b).log, 5.0, "x", fresh=fresh_ok())) is Verdict.PASS
    b = connected()
    b.client_msg(Command("connect", 5.0, {"app": "live"}))
    assert v(check_refused_or_closed("CMD-8", closed(b, reset=True).log, 5.0, "x")) is Verdict.PASS
    # Broken: a second connect accepted / silently ignored / server crashes.
    b = connected()
    b.client_msg(Command("connect", 5.0, {"app": "live"}))
    b.server_msg(Command("_result", 5.0, FMS_PROPS, (CONNECT_OK,)))
    assert v(check_refused_or_closed("CMD-8", b.log, 5.0, "x")) is Verdict.NON_STRICT
    b = connected()
    b.client_msg(Command("connect", 5.0, {"app": "live"}))
    assert v(check_refused_or_closed("CMD-8", ping(b).log, 5.0, "x")) is Verdict.NON_STRICT
    assert v(check_refused_or_closed("CMD-8", closed(connected()).log, 5.0, "x", fresh=fresh_dead())) \
        is Verdict.FAIL


# -- streams -----------------------------------------------------------------------------------------------


def test_publish_started() -> None:
    assert v(check_publish_started(publishing().log, rule="CMD-13")) is Verdict.PASS
    assert v(check_publish_started(publishing(status_msid=0).log, rule="CMD-13")) is Verdict.FAIL
    bad = publishing(status="NetStream.Publish.BadName", level="error").log
    assert v(check_publish_started(bad, rule="CMD-13")) is Verdict.FAIL
    assert v(check_publish_started(bad, rule="CMD-12", verdict=Verdict.NON_STRICT)) is Verdict.NON_STRICT
    b = create_stream(connected())
    b.client_msg(Command("publish", 0.0, None, ("s",)), msid=1)
    assert v(check_publish_started(closed(b).log, rule="CMD-13")) is Verdict.FAIL  # lal #280 before the fix
    assert v(check_publish_started(connected().log, rule="CMD-13")) is Verdict.ERROR  # no publish sent
    # Broken: createStream never answered, so the client had nothing to publish on.
    unanswered = create_stream(connected(), sid=None).log
    assert v(check_publish_started(unanswered, rule="CMD-11", verdict=Verdict.NON_STRICT)) is Verdict.NON_STRICT
    assert v(check_publish_started(unanswered, rule="CMD-13")) is Verdict.FAIL


def test_stream_id_used() -> None:
    b = connected()
    for tid, sid in ((2.0, 1.0), (3.0, 2.0), (4.0, 3.0)):
        create_stream(b, tid, sid)
    b.client_msg(Command("publish", 0.0, None, ("s", "live")), msid=3)
    b.server_msg(on_status("NetStream.Publish.Start"), msid=3)
    assert v(check_stream_id_used(b.log)) is Verdict.PASS
    b = create_stream(connected(), sid=None)
    b.server_msg(Command("_result", 2.0, None, ("one",)))  # broken: stream id is a string
    assert v(check_stream_id_used(b.log)) is Verdict.FAIL
    # Broken: onStatus on msid 1 although the client published on the returned id 3.
    b = connected()
    create_stream(b, 2.0, 3.0)
    b.client_msg(Command("publish", 0.0, None, ("s", "live")), msid=3)
    b.server_msg(on_status("NetStream.Publish.Start"), msid=1)
    assert v(check_stream_id_used(b.log)) is Verdict.FAIL


def test_reply_tids() -> None:
    b = connected()
    create_stream(b, 7.0, 1.0)
    b.client_msg(Command("noSuchCall", 42.0, None))
    b.server_msg(Command("_error", 42.0, None, (info_obj("NetConnection.Call.Failed", "error"),)))
    assert v(check_reply_tids(b.log)) is Verdict.PASS
    # Broken: the reply to createStream carries tid 0 (cf. onFCPublish without a tx id).
    b = connected()
    b.client_msg(Command("createStream", 7.0, None))
    b.server_msg(Command("_result", 0.0, None, (1.0,)))
    findings = check_reply_tids(b.log)
    assert v(findings) is Verdict.FAIL
    assert any("no request used" in f.message for f in findings)
    assert any("got no _result" in f.message for f in findings)


def test_aux_command() -> None:
    b = playing()
    b.client_msg(Command("getStreamLength", 21.0, None, ("s",)))
    b.server_msg(Command("_result", 21.0, None, (0.0,)))
    assert v(check_aux_command(ping(b).log, "getStreamLength", 21.0)) is Verdict.PASS
    b = playing()
    b.client_msg(Command("seek", 0.0, None, (0.0,)), msid=1)
    assert v(check_aux_command(ping(b).log, "seek", 0.0)) is Verdict.PASS  # ignored
    # Broken: gortmplib-style disconnect on an unknown command.
    b = playing()
    b.client_msg(Command("play2", 0.0, None, ({"streamName": "s"},)), msid=1)
    assert v(check_aux_command(closed(b).log, "play2", 0.0)) is Verdict.NON_STRICT
    b = playing()
    b.client_msg(Command("seek", 0.0, None, (0.0,)), msid=1)
    assert v(check_aux_command(ping(b, answer=False).log, "seek", 0.0)) is Verdict.NON_STRICT


def test_checkbw() -> None:
    b = connected()
    b.client_msg(Command("_checkbw", 2.0, None))
    create_stream(b, 3.0, 1.0)
    assert v(check_checkbw(ping(b).log)) is Verdict.PASS
    b = connected()
    b.client_msg(Command("_checkbw", 2.0, None))
    assert v(check_checkbw(closed(b).log)) is Verdict.NON_STRICT
    b = connected()
    b.client_msg(Command("_checkbw", 2.0, None))
    create_stream(b, 3.0, None)  # createStream never answered afterwards
    assert v(check_checkbw(ping(b).log)) is Verdict.NON_STRICT


def test_status_messages() -> None:
    b = publishing()
    b.server_msg(on_status("NetStream.Unpublish.Success"), msid=1)
    assert v(check_status_messages(b.log)) is Verdict.PASS
    assert v(check_status_messages(publishing(level="error").log)) is Verdict.FAIL  # Start with level error
    assert v(check_status_messages(publishing(level="info").log)) is Verdict.FAIL  # not a level
    assert v(check_status_messages(publishing(status_msid=0).log)) is Verdict.FAIL  # NetStream on msid 0
    b = create_stream(connected())
    b.server_msg(on_status("NetStream.Publish.Start", tid=5.0), msid=1)
    assert v(check_status_messages(b.log)) is Verdict.NON_STRICT
    assert v(check_status_messages(connected().log)) is Verdict.FAIL  # none at all


# -- play -------------------------------------------------------------------------------------------------


def _play_log(status: str | None, level: str = "status", *, media: bool = True, start: float = -2.0) -> LogBuilder:
    b = playing(start=start)
    b.server_msg(UserControl.stream_begin(1))
    if status:
        b.server_msg(on_status(status, level), msid=1)
    if media:
        b.server_msg(video(), msid=1, timestamp=0)
    return b


def test_play_start_value() -> None:
    assert v(check_play_start_value(_play_log("NetStream.Play.Start").log, -2000.0)) is Verdict.PASS
    nf = _play_log("NetStream.Play.StreamNotFound", "error", media=False)
    assert v(check_play_start_value(nf.log, -2000.0)) is Verdict.FAIL  # -2000 read as "recorded"
    assert v(check_play_start_value(nf.log, 0.0)) is Verdict.INFORMATIONAL
    assert v(check_play_start_value(_play_log("NetStream.Play.Start", media=False).log, -1.0)) is Verdict.FAIL
    assert v(check_play_start_value(_play_log(None, media=False).log, -2.0)) is Verdict.FAIL


def test_play_reply() -> None:
    assert v(check_play_reply(_play_log("NetStream.Play.Start").log)) is Verdict.INFORMATIONAL
    assert v(check_play_reply(_play_log(None).log)) is Verdict.NON_STRICT
    assert v(check_play_reply(connected().log)) is Verdict.ERROR


def _player_with_headers(first_video_type: int = 1) -> LogBuilder:
    b = _play_log("NetStream.Play.Start", media=False)
    b.server_msg(Data(("onMetaData", META)), msid=1)
    b.server_msg(Video(media.build_avc_video(1, 0, 0, b"\x01\x64\x00\x1f")), msid=1)
    b.server_msg(Audio(media.build_aac_audio(0, b"\x11\x90")), msid=1)
    b.server_msg(video(first_video_type), msid=1, timestamp=40)
    return b


def test_play_before_publish() -> None:
    assert v(check_play_before_publish(_player_with_headers().log)) is Verdict.PASS
    # Broken: the waiting player starts with an inter frame (GOP-1), capped at NON_STRICT.
    assert v(check_play_before_publish(_player_with_headers(2).log)) is Verdict.NON_STRICT
    nf = _play_log("NetStream.Play.StreamNotFound", "error", media=False).log
    assert v(check_play_before_publish(nf)) is Verdict.INFORMATIONAL
    wrong = _play_log("NetStream.Play.StreamNotFound", "status", media=False).log
    assert v(check_play_before_publish(wrong)) is Verdict.FAIL  # CMD-18: StreamNotFound is level error
    assert v(check_play_before_publish(_play_log(None, media=False).log)) is Verdict.NON_STRICT


def test_delete_stream_no_reply() -> None:
    b = publishing()
    b.client_msg(Command("deleteStream", 0.0, None, (1.0,)))
    b.server_msg(on_status("NetStream.Unpublish.Success"), msid=1)
    assert v(check_delete_stream_no_reply(ping(b).log)) is Verdict.PASS
    b = publishing()
    b.client_msg(Command("deleteStream", 0.0, None, (1.0,)))
    b.server_msg(Command("_result", 0.0, None))  # broken: answers deleteStream
    assert v(check_delete_stream_no_reply(b.log)) is Verdict.NON_STRICT
    assert v(check_delete_stream_no_reply(publishing().log)) is Verdict.ERROR


def test_unpublish_cleanup() -> None:
    player = _play_log("NetStream.Play.Start")
    player.server_msg(UserControl.stream_eof(1))
    player.server_msg(on_status("NetStream.Play.UnpublishNotify"), msid=1)
    assert v(check_unpublish_cleanup(player.log, publishing().log)) is Verdict.PASS
    silent = _play_log("NetStream.Play.Start").log  # broken: players never told
    assert v(check_unpublish_cleanup(silent, publishing().log)) is Verdict.NON_STRICT
    ghost = publishing(status="NetStream.Publish.BadName", level="error").log  # nginx #428
    assert v(check_unpublish_cleanup(player.log, ghost)) is Verdict.FAIL


def test_pause_notify() -> None:
    def log(notify: list[str | None], flags: list[object]) -> LogBuilder:
        b = _play_log("NetStream.Play.Start")
        for flag, code in zip(flags, notify, strict=True):
            b.client_msg(Command("pause", 0.0, None, (flag, 200.0)), msid=1)
            if code:
                b.server_msg(on_status(code), msid=1)
        return b

    good = log(["NetStream.Pause.Notify", "NetStream.Unpause.Notify"], [True, False])
    assert v(check_pause_notify(good.log)) is Verdict.PASS
    missing = log([None, None], [True, False])
    assert v(check_pause_notify(missing.log)) is Verdict.NON_STRICT
    # Broken: boolean 0x02 read as false (AMF-4), so the server unpauses.
    misread = log(["NetStream.Unpause.Notify"], [True])
    assert v(check_pause_notify(misread.log, rule="AMF-4")) is Verdict.FAIL
    assert v(check_pause_notify(_play_log("NetStream.Play.Start").log)) is Verdict.ERROR


# -- metadata ----------------------------------------------------------------------------------------------


def test_metadata_first() -> None:
    b = _play_log("NetStream.Play.Start", media=False)
    b.server_msg(Data(("|RtmpSampleAccess", True, True)), msid=1)
    b.server_msg(Data(("onMetaData", META)), msid=1)
    b.server_msg(video(), msid=1)
    assert v(check_metadata_first(b.log)) is Verdict.PASS
    b = _play_log("NetStream.Play.Start", media=False)
    b.server_msg(Data(("@setDataFrame", "onMetaData", META)), msid=1)  # broken: not stripped
    assert v(check_metadata_first(b.log)) is Verdict.NON_STRICT
    assert v(check_metadata_first(_play_log("NetStream.Play.Start").log)) is Verdict.NON_STRICT  # video first
    assert v(check_metadata_first(_play_log("NetStream.Play.Start", media=False).log)) is Verdict.NON_STRICT


def _publisher_sent(values: tuple, *, alive: bool = True) -> LogBuilder:
    b = publishing()
    b.client_msg(Data(values), msid=1)
    return ping(b) if alive else closed(b)


def test_metadata_accepted() -> None:
    player = _player_with_headers().log
    pub = _publisher_sent(("@setDataFrame", "onMetaData", {"width": 320.0}))
    assert v(check_metadata_accepted(pub.log, player, "object", {"width": 320.0})) is Verdict.PASS
    assert v(check_metadata_accepted(pub.log, _play_log("NetStream.Play.Start").log, "object")) \
        is Verdict.INFORMATIONAL  # not relayed
    dropped = _publisher_sent(("@setDataFrame", "onMetaData", {"width": 320.0}), alive=False)
    assert v(check_metadata_accepted(dropped.log, player, "object")) is Verdict.FAIL


def test_sample_access_ignored() -> None:
    player = _player_with_headers().log
    ok = _publisher_sent(("|RtmpSampleAccess", True, True))
    assert v(check_sample_access_ignored(ok.log, player)) is Verdict.PASS
    bad = _publisher_sent(("|RtmpSampleAccess", True, True), alive=False)
    assert v(check_sample_access_ignored(bad.log, player)) is Verdict.FAIL


def test_metadata_rewrite() -> None:
    sent = dict(META)
    assert v(check_metadata_rewrite(sent, _player_with_headers().log)) is Verdict.INFORMATIONAL
    b = _play_log("NetStream.Play.Start", media=False)
    b.server_msg(Data(("onMetaData", amf0.EcmaArray(videocodecid="avc1"))), msid=1)  # broken: a string
    assert v(check_metadata_rewrite(sent, b.log)) is Verdict.NON_STRICT
    assert v(check_metadata_rewrite(sent, _play_log("NetStream.Play.Start").log)) is Verdict.NON_STRICT
    # Regenerated metadata without codec ids: their type cannot be judged (never a PASS).
    b = _play_log("NetStream.Play.Start", media=False)
    b.server_msg(Data(("onMetaData", amf0.EcmaArray(width=320.0))), msid=1)
    assert v(check_metadata_rewrite(sent, b.log)) is Verdict.NOT_RUN


def test_fmle_calls() -> None:
    b = connected()
    b.client_msg(Command("releaseStream", 2.0, None, ("s",)))
    b.client_msg(Command("FCPublish", 3.0, None, ("s",)))
    create_stream(b, 4.0, 1.0)
    b.client_msg(Command("publish", 0.0, None, ("s", "live")), msid=1)
    b.server_msg(on_status("NetStream.Publish.Start"), msid=1)
    assert v(check_fmle_calls(b.log)) is Verdict.INFORMATIONAL
    b = connected()
    b.client_msg(Command("releaseStream", 2.0, None, ("s",)))
    b.client_msg(Command("FCPublish", 3.0, None, ("s",)))
    b.client_msg(Command("publish", 0.0, None, ("s", "live")), msid=1)
    assert v(check_fmle_calls(closed(b).log)) is Verdict.NON_STRICT  # broken: closes on FCPublish


def test_query_name() -> None:
    assert v(check_query_name(publishing().log, _player_with_headers().log, "s")) is Verdict.PASS
    no_stream = _play_log("NetStream.Play.Start", media=False).log  # the ?query stayed in the name
    assert v(check_query_name(publishing().log, no_stream, "s")) is Verdict.NON_STRICT
    bad = publishing(status="NetStream.Publish.BadName", level="error").log
    assert v(check_query_name(bad, _player_with_headers().log, "s")) is Verdict.FAIL
