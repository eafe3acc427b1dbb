"""Command cases (catalogue section 5, Adobe RTMP 1.0 §7.2)."""

from __future__ import annotations

from typing import Any

import pytest

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
from rtmpconf.harness.checks.control import check_tolerated
from rtmpconf.harness.client import RtmpClient
from rtmpconf.harness.scenarios import (
    PROBE_S,
    STEP_ERRORS,
    connect_object,
    fresh_session,
    join_player,
    publish_stream,
    settle,
)
from rtmpconf.harness.testmedia import TestStream, make_h264_aac
from rtmpconf.harness.verdict import Verdict
from rtmpconf.rtmp import amf0, amf3
from rtmpconf.rtmp.messages import Command, Data, UnknownMessage

#: How long a player waits for something the publisher already sent (local target: milliseconds).
RELAY_S = 1.0
#: Media after a late player's play runs up to here: past the test stream's keyframe at 1000 ms,
#: where a server without a GOP cache (nginx ``wait_key``, GOP-3) starts a new player's video.
NEXT_GOP_MS = 1100


# -- scenario helpers ------------------------------------------------------------------------------


async def try_connect(c: RtmpClient, message: Any) -> None:
    """Send a connect (any form) and wait for its reply or a close; never raises."""
    try:
        await c.send(message)
        await c.wait_reply(1.0, "connect", PROBE_S)
    except STEP_ERRORS:
        pass
    await settle(c)


async def wait_metadata(c: RtmpClient, timeout: float = RELAY_S) -> None:
    try:
        await c.wait_for(lambda e: isinstance(e.message, Data) and "onMetaData" in e.message.values[:2],
                         "onMetaData", timeout)
    except STEP_ERRORS:
        pass


async def wait_video(c: RtmpClient, timeout: float = RELAY_S) -> None:
    try:
        await c.wait_for(lambda e: e.raw.type_id == 9 and len(e.raw.payload) > 1 and e.raw.payload[1] == 1,
                         "coded video", timeout)
    except STEP_ERRORS:
        pass


async def wait_status_quietly(c: RtmpClient, codes: tuple[str, ...], timeout: float = RELAY_S) -> None:
    try:
        await c.wait_status("status", codes, timeout)
    except STEP_ERRORS:
        pass


def media_between(stream: TestStream, start_ms: int, end_ms: int) -> list:
    return [t for t in stream.tags if start_ms <= t.timestamp < end_ms]


# -- CMD-2 / CMD-3: connect forms --------------------------------------------------------------------


@pytest.mark.rule("CMD-2")
@pytest.mark.parametrize("form", ["amf0-body", "avmplus-argument"])
async def test_connect_as_amf3_command(rtmp, form):
    """Sends connect as message type 17: the 0x00 format selector, then AMF0 "connect", 1, the
    command object — and for "avmplus-argument" one more argument as 0x11 + AMF3 string.

    Requirement (CMD-2): types 17/15 start with a 1-byte format selector (0x00 = AMF0);
    "AMF3 values appear only after the 0x11 avmplus marker, which applies to that one value".
    A fresh connection afterwards shows the server survived.
    """
    # 0x00 selector, then the AMF0 body; 0x11 switches the one following value to AMF3.
    payload = b"\x00" + amf0.encode_all("connect", 1.0, connect_object(rtmp.target))
    if form == "avmplus-argument":
        payload += b"\x11" + amf3.encode_value("amf3-user-argument")
    async with rtmp.client() as c:
        await c.handshake()
        await try_connect(c, UnknownMessage(17, payload))
    # A server that crashed on the payload is caught here, not by the next case's connect.
    fresh = await fresh_session(rtmp, label="fresh", handshake_timeout=None)
    rtmp.judge(check_connect_tolerated("CMD-2", c.log, f"type 17 ({form})", fresh=fresh))


CONNECT_FORMS = {
    "ffmpeg-nonprivate": {"type": "nonprivate"},  # FFmpeg adds it when publishing (gen_connect)
    "flashver-lowercase": {"flashVer": None, "flashver": "FMLE/3.0"},  # spelling of the spec table
    "minimal": {"fpad": None, "capabilities": None, "audioCodecs": None, "videoCodecs": None,
                "videoFunction": None, "objectEncoding": None, "flashVer": None},
}


@pytest.mark.rule("CMD-3")
@pytest.mark.parametrize("form", list(CONNECT_FORMS) + ["user-arguments"])
async def test_connect_fields(rtmp, form):
    """Sends connect (tid 1) with a real-world command object: FFmpeg's extra type
    "nonprivate", the spec table's "flashver" spelling, only app + tcUrl, or user arguments
    (string and number) after the object, as librtmp's conn= options add.

    Requirement (§7.2.1.1): connect = name, transaction id 1, command object with app,
    flashVer, tcUrl ...; "Optional User Arguments: Any optional information" follow it.
    """
    obj = connect_object(rtmp.target, **CONNECT_FORMS.get(form, {}))
    args = ("user", 42.0) if form == "user-arguments" else ()
    async with rtmp.client() as c:
        await c.handshake()
        await try_connect(c, Command("connect", 1.0, obj, args))
    rtmp.judge(check_connect_tolerated("CMD-3", c.log, form))


@pytest.mark.rule("CMD-4")
async def test_connect_reply_sequence(rtmp):
    """Connects and records everything the server sends up to and just after ``_result``.

    Requirement (CMD-4): reply sequences vary (WinAck, SetPeerBW, SetChunkSize, StreamBegin,
    onBWDone in different orders); clients accept any order, so it is recorded — but a
    ``_result`` must come.
    """
    async with rtmp.client() as c:
        await c.handshake()
        await try_connect(c, Command("connect", 1.0, connect_object(rtmp.target)))
    rtmp.judge(check_connect_sequence(c.log))


@pytest.mark.rule("CMD-5")
@pytest.mark.parametrize("encoding", [0.0, 3.0, 5.0], ids=["amf0", "amf3", "bogus-5"])
async def test_connect_result_object_encoding(rtmp, encoding):
    """Connects with objectEncoding 0, 3 or 5.

    Requirement (CMD-5): ``_result`` carries properties (fmsVer, capabilities, mode) and an
    information object {level "status", code "NetConnection.Connect.Success", objectEncoding =
    the client's 0 or 3}; any other value comes back as 0 (lal).
    """
    async with rtmp.client() as c:
        await c.handshake()
        await try_connect(c, Command("connect", 1.0, connect_object(rtmp.target, objectEncoding=encoding)))
    rtmp.judge(check_connect_result_fields(c.log, encoding))


@pytest.mark.rule("CMD-6")
async def test_unknown_app(rtmp):
    """Connects to app "no-such-app-<case>".

    Requirement (CMD-6): an unknown app gets ``_error`` {level "error", code
    "NetConnection.Connect.Rejected"} or a documented close (nginx); a server that accepts
    every app (the reference server's default) is recorded.
    """
    app = "no-such-app-" + rtmp.stream_name("app")
    async with rtmp.client() as c:
        await c.handshake()
        await try_connect(c, Command("connect", 1.0, connect_object(rtmp.target, app=app)))
    rtmp.judge(check_unknown_app(c.log))


@pytest.mark.rule("CMD-7")
@pytest.mark.parametrize("suffix", ["/", "/_definst_", "?token=x"], ids=["trailing-slash", "definst", "query"])
async def test_app_decorations(rtmp, suffix):
    """A publisher connects with app "<app>/", "<app>/_definst_" or "<app>?token=x" and
    publishes a name with metadata; a player connects with the plain app and plays it.

    Requirement (CMD-7): nginx strips a trailing "/_definst_" and "/" from app and splits
    "?args"; the decorated app is then the same app (recorded when it is not).
    """
    app = rtmp.target.app + suffix
    name = rtmp.stream_name()
    async with rtmp.client(label="publisher") as pub:
        await pub.handshake()
        await try_connect(pub, Command("connect", 1.0, connect_object(rtmp.target, app=app)))
        try:
            await publish_stream(pub, name, until_ms=100, handshake=False)
        except (*STEP_ERRORS, RuntimeError):
            pass
        async with rtmp.client(label="player") as player:
            await join_player(player, name)
            await wait_metadata(player, 0.5)
    rtmp.judge(check_app_variant(pub.log, player.log, app))


@pytest.mark.rule("CMD-7")
@pytest.mark.parametrize("variant", ["tcurl-missing", "tcurl-quoted"])
async def test_tcurl_variants(rtmp, variant):
    """Connects without tcUrl, or with tcUrl wrapped in double quotes ("\\"rtmp://h:p/app\\""),
    then opens a fresh connection.

    Requirement (CMD-7): servers parse tcUrl differently (Node-Media-Server throws when it is
    missing, gortmplib strips quotes, SRS requires it): accepting or refusing is recorded; the
    server must stay up.
    """
    t = rtmp.target
    tc = None if variant == "tcurl-missing" else f'"rtmp://{t.host}:{t.port}/{t.app}"'
    obj = connect_object(rtmp.target, tcUrl=tc)
    async with rtmp.client() as c:
        await c.handshake()
        await try_connect(c, Command("connect", 1.0, obj))
    fresh = await fresh_session(rtmp, label="fresh", handshake_timeout=None)
    rtmp.judge(check_connect_tolerated("CMD-7", c.log, variant, reject_verdict=Verdict.INFORMATIONAL,
                                       fresh=fresh))


@pytest.mark.rule("CMD-8")
@pytest.mark.parametrize("variant", ["second-connect", "create-stream-first"])
async def test_connect_out_of_order(rtmp, variant):
    """Sends a second connect (tid 5) on a connected session, or createStream (tid 5) before
    any connect; then probes and opens a fresh connection.

    Requirement (CMD-8, robustness): both get a clean ``_error`` or a close (nginx closes on a
    duplicate connect; gortmplib requires connect first); the server stays up.
    """
    async with rtmp.client() as c:
        await c.handshake()
        try:
            if variant == "second-connect":
                await c.connect()
                await c.send(Command("connect", 5.0, connect_object(rtmp.target)))
            else:
                await c.command("createStream", tid=5.0)
        except STEP_ERRORS:
            pass
        await settle(c)
    fresh = await fresh_session(rtmp, label="fresh", handshake_timeout=None)
    rtmp.judge(check_refused_or_closed("CMD-8", c.log, 5.0, variant, fresh=fresh))


# -- CMD-9 .. CMD-13: streams and publishing ---------------------------------------------------------------


@pytest.mark.rule("CMD-9")
async def test_publish_on_returned_stream_id(rtmp):
    """Calls createStream three times and publishes on the id the third call returned.

    Requirement (§7.2.1.3, CMD-9): createStream -> ``_result`` [tid, null, streamId]; the
    client uses that id as the msid, and the Publish.Start onStatus comes on it.
    """
    async with rtmp.client() as c:
        await c.handshake()
        await c.connect()
        for _ in range(3):
            sid = await c.create_stream()
        await c.command("publish", rtmp.stream_name(), "live", msid=sid, tid=0.0)
        await wait_status_quietly(c, ("NetStream.Publish.Start", "NetStream.Publish.BadName"))
    rtmp.judge(check_stream_id_used(c.log))


@pytest.mark.rule("CMD-10")
async def test_reply_transaction_ids(rtmp):
    """After connect, sends createStream (tid 7), releaseStream (12), FCPublish (13),
    getStreamLength (21), an unknown "noSuchCall" (42) and createStream (100), then probes.

    Requirement (CMD-10): ``_result``/``_error`` carry the request's transaction id (clients
    match replies by it); connect and createStream are answered.
    """
    name = rtmp.stream_name()
    async with rtmp.client() as c:
        await c.handshake()
        await c.connect()
        await c.command("createStream", tid=7.0)
        await c.command("releaseStream", name, tid=12.0)
        await c.command("FCPublish", name, tid=13.0)
        await c.command("getStreamLength", name, tid=21.0)
        await c.command("noSuchCall", "x", tid=42.0)
        await c.command("createStream", tid=100.0)
        await settle(c)
    rtmp.judge(check_reply_tids(c.log))


@pytest.mark.rule("CMD-10")
async def test_reply_with_unknown_tid_ignored(rtmp):
    """After connect, the client sends ``_result`` (tid 999, null, 1), ``_error`` (tid 998) and
    onBWDone (tid 0) — replies to nothing the server asked — then probes.

    Requirement (CMD-10): "a reply with an unknown tid is ignored without crashing".
    """
    async with rtmp.client() as c:
        await c.handshake()
        await c.connect()
        await c.command("_result", 1.0, tid=999.0)
        await c.command("_error", {"level": "error", "code": "NetConnection.Call.Failed"}, tid=998.0)
        await c.command("onBWDone", tid=0.0)
        await settle(c)
    rtmp.judge(check_tolerated("CMD-10", c.log, "_result/_error with unknown transaction ids"))


@pytest.mark.rule("CMD-11")
async def test_publish_without_fmle_calls(rtmp):
    """Publishes in the Flash order: createStream then publish, without releaseStream/FCPublish.

    Requirement (CMD-11): releaseStream / FCPublish are FMLE artefacts outside the Adobe spec;
    a server must not require them.
    """
    async with rtmp.client() as c:
        await c.handshake()
        await c.connect()
        try:
            await c.publish(rtmp.stream_name(), fmle=False)
        except STEP_ERRORS:
            pass
    rtmp.judge(check_publish_started(c.log, rule="CMD-11", verdict=Verdict.NON_STRICT))


@pytest.mark.rule("CMD-11")
async def test_fmle_call_replies(rtmp):
    """Publishes in the FMLE/OBS/FFmpeg order (releaseStream, FCPublish, createStream,
    publish) without waiting for the first two, and records what the server answers to them.

    Requirement (CMD-11): SRS answers ``_result`` and onFCPublish, nginx/lal ignore them;
    clients must not block on these replies, and publishing works either way.
    """
    async with rtmp.client() as c:
        await c.handshake()
        await c.connect()
        try:
            await c.publish(rtmp.stream_name())
        except STEP_ERRORS:
            pass
        await settle(c)
    rtmp.judge(check_fmle_calls(c.log))


PUBLISH_ORDERS = {
    "fmle": ["releaseStream", "FCPublish", "_checkbw", "createStream", "publish"],
    "flash": ["createStream", "_checkbw", "publish"],
    "haivision": ["createStream", "FCPublish", "_checkbw", "publish"],
}


@pytest.mark.rule("CMD-12")
@pytest.mark.parametrize("order", list(PUBLISH_ORDERS))
async def test_publish_call_orders(rtmp, order):
    """Publishes with one of the three call orders servers must recognise, each with a
    ``_checkbw`` call injected (see PUBLISH_ORDERS).

    Requirement (CMD-12): FMLE (releaseStream, FCPublish, createStream, publish), Flash
    (createStream, publish) and Haivision (createStream, FCPublish, publish + _checkbw) all
    publish.
    """
    name = rtmp.stream_name()
    async with rtmp.client() as c:
        await c.handshake()
        await c.connect()
        sid = 0
        try:
            for step in PUBLISH_ORDERS[order]:
                if step == "createStream":
                    sid = await c.create_stream()
                elif step == "publish":
                    await c.command("publish", name, "live", msid=sid, tid=0.0)
                elif step == "_checkbw":
                    await c.command("_checkbw")
                else:
                    await c.command(step, name)
            await c.wait_status("publish", ("NetStream.Publish.Start", "NetStream.Publish.BadName"), PROBE_S)
        except STEP_ERRORS:
            pass
    rtmp.judge(check_publish_started(c.log, rule="CMD-12", verdict=Verdict.NON_STRICT))


@pytest.mark.rule("CMD-13")
@pytest.mark.parametrize("variant", ["no-type", "nonzero-tid"])
async def test_publish_forms(rtmp, variant):
    """Sends publish without the publishing type (["publish", 0, null, name]), or with
    transaction id 5 (FFmpeg increments it) and type "live".

    Requirement (§7.2.2.6, CMD-13): the server answers onStatus NetStream.Publish.Start (level
    status) on the stream's msid; lal accepts a missing type (lal #280).
    """
    name = rtmp.stream_name()
    async with rtmp.client() as c:
        await c.handshake()
        await c.connect()
        sid = await c.create_stream()
        if variant == "no-type":
            await c.command("publish", name, msid=sid, tid=0.0)
        else:
            await c.command("publish", name, "live", msid=sid, tid=5.0)
        await wait_status_quietly(c, ("NetStream.Publish.Start", "NetStream.Publish.BadName"))
    rtmp.judge(check_publish_started(c.log, rule="CMD-13"))


@pytest.mark.rule("CMD-13a")
async def test_publish_name_with_query(rtmp):
    """Publishes "<name>?token=abc" with metadata and media; a player plays "<name>".

    Requirement (CMD-13): the name may carry "?query"; lal, Node-Media-Server and nginx split it
    off, so the player of the bare name gets the stream.
    """
    name = rtmp.stream_name()
    stream: TestStream | None = None
    async with rtmp.client(label="publisher") as pub:
        try:
            stream = await publish_stream(pub, name + "?token=abc", until_ms=100)
        except (*STEP_ERRORS, RuntimeError):
            pass
        async with rtmp.client(label="player") as player:
            await join_player(player, name)
            if stream is not None:
                # A server without a GOP cache (nginx) sends metadata to a new player only ahead
                # of the next audio/video message, and video from the next keyframe (GOP-3).
                try:
                    await pub.publish_media(media_between(stream, 100, NEXT_GOP_MS))
                except STEP_ERRORS:
                    pass
            await wait_metadata(player)
    rtmp.judge(check_query_name(pub.log, player.log, name))


@pytest.mark.rule("CMD-14")
async def test_duplicate_publish_refused(rtmp):
    """A second connection publishes a name that is already live.

    Requirement (CMD-14): the second publisher gets NetStream.Publish.BadName with level
    "error"; the first stream is not disturbed.
    """
    name = rtmp.stream_name()
    async with rtmp.client(label="first") as first:
        await publish_stream(first, name, until_ms=200)
        async with rtmp.client(label="second") as second:
            await second.handshake()
            await second.connect()
            info = await second.publish(name)
    rtmp.judge(check_status(info, rule="CMD-14", expected_codes=("NetStream.Publish.BadName",)))


# -- CMD-15 .. CMD-17: play -----------------------------------------------------------------------------------


@pytest.mark.rule("CMD-15")
@pytest.mark.parametrize("start", [-2.0, -1.0, -2000.0, -1000.0, 0.0],
                         ids=["minus-2", "minus-1", "ffmpeg-minus-2000", "ffmpeg-minus-1000", "zero"])
async def test_play_start_values(rtmp, start):
    """A publisher is live; a player plays it with start -2 (live, else recorded), -1 (live
    only), FFmpeg's -2000/-1000 (live x 1000) or 0 (recorded from 0 s); the publisher sends more
    media, up to and including the next keyframe (a server without a GOP cache starts there).

    Requirement (§7.2.2.1, CMD-15): negative start values mean live and must play the live
    stream; 0 asks for a recording (a live-only server may answer StreamNotFound).
    """
    name = rtmp.stream_name()
    async with rtmp.client(label="publisher") as pub:
        stream = await publish_stream(pub, name, until_ms=200)
        async with rtmp.client(label="player") as player:
            await join_player(player, name, start=start)
            await pub.publish_media(media_between(stream, 200, NEXT_GOP_MS))
            await wait_video(player)
    rtmp.judge(check_play_start_value(player.log, start))


@pytest.mark.rule("CMD-16")
async def test_play_reply_recorded(rtmp):
    """A publisher is live; a player plays it; everything between play and the first media
    message is recorded.

    Requirement (CMD-16): replies vary (StreamIsRecorded, StreamBegin, Play.Reset, Play.Start,
    |RtmpSampleAccess, Data.Start); players accept any subset, and FFmpeg switches to playing
    on NetStream.Play.Start.
    """
    name = rtmp.stream_name()
    async with rtmp.client(label="publisher") as pub:
        stream = await publish_stream(pub, name, until_ms=200)
        async with rtmp.client(label="player") as player:
            await join_player(player, name)
            await pub.publish_media(media_between(stream, 200, 400))
            await wait_video(player)
    rtmp.judge(check_play_reply(player.log))


@pytest.mark.rule("CMD-17")
async def test_play_before_publish(rtmp):
    """A player plays a name nobody publishes; then a publisher publishes it (metadata,
    sequence headers, 600 ms of media).

    Requirement (CMD-17): the spec answers NetStream.Play.StreamNotFound (§7.2.2.1 step 5);
    most servers wait for a publisher instead — then the player starts with onMetaData, the
    sequence headers and a keyframe (GOP-1).
    """
    name = rtmp.stream_name()
    async with rtmp.client(label="player") as player:
        await join_player(player, name)
        async with rtmp.client(label="publisher") as pub:
            await publish_stream(pub, name, until_ms=600)
            await wait_video(player)
            await player.collect(0.05)
    rtmp.judge(check_play_before_publish(player.log))


# -- CMD-18 / CMD-19: onStatus and ending a stream --------------------------------------------------------------


@pytest.mark.rule("CMD-18")
@pytest.mark.parametrize("side", ["publisher", "player", "bad-name"])
async def test_onstatus_levels_and_streams(rtmp, side):
    """Collects every onStatus of one side: a publisher that publishes, calls FCUnpublish and
    deleteStream; a player that sees its publisher leave and a new one arrive; or a second
    publisher refused with BadName.

    Requirement (CMD-18): onStatus = ["onStatus", 0, null, {level status|warning|error, code,
    description}], on the stream's msid (msid 0 for NetConnection codes), with the levels of the
    catalogue table (Publish.Start status, BadName error, UnpublishNotify status ...).
    """
    name = rtmp.stream_name()
    async with rtmp.client(label="publisher") as pub:
        await publish_stream(pub, name, until_ms=100)
        if side == "publisher":
            await pub.command("FCUnpublish", name)
            await pub.command("deleteStream", float(pub.stream_id or 1), tid=0.0)
            await settle(pub)
            judged = pub
        elif side == "bad-name":
            async with rtmp.client(label="second") as judged:
                await judged.handshake()
                await judged.connect()
                await judged.publish(name)
        else:
            async with rtmp.client(label="player") as judged:
                await join_player(judged, name)
                await pub.close()
                await wait_status_quietly(judged, ("NetStream.Play.UnpublishNotify", "NetStream.Play.Stop"))
                async with rtmp.client(label="publisher-2") as pub2:
                    await publish_stream(pub2, name, until_ms=100)
                    await wait_status_quietly(judged, ("NetStream.Play.PublishNotify", "NetStream.Play.Start"))
    rtmp.judge(check_status_messages(judged.log))


@pytest.mark.rule("CMD-19")
async def test_delete_stream_no_reply(rtmp):
    """Publishes, then sends deleteStream(0, null, streamId) and probes.

    Requirement (§7.2.2.3): "The server does not send any response" to deleteStream (an
    onStatus such as Unpublish.Success is recorded, not judged).
    """
    async with rtmp.client() as c:
        await publish_stream(c, rtmp.stream_name(), until_ms=100)
        await c.command("deleteStream", float(c.stream_id or 1), tid=0.0)
        await settle(c)
    rtmp.judge(check_delete_stream_no_reply(c.log))


@pytest.mark.rule("CMD-19")
@pytest.mark.parametrize("how", ["close", "delete-stream", "reset"])
async def test_publisher_leaves(rtmp, how):
    """A player plays a live stream; the publisher leaves by closing the socket, by
    deleteStream, or with a TCP reset; then a new connection publishes the same name.

    Requirement (CMD-19): a publisher leaving, with or without deleteStream, is cleaned up:
    players get StreamEOF and/or Play.UnpublishNotify / Play.Stop, and the name is free for
    republish at once.
    """
    name = rtmp.stream_name()
    async with rtmp.client(label="player") as player:
        async with rtmp.client(label="publisher") as pub:
            await publish_stream(pub, name, until_ms=200)
            await join_player(player, name)
            if how == "delete-stream":
                await pub.command("deleteStream", float(pub.stream_id or 1), tid=0.0)
                await settle(pub)
            elif how == "reset":
                pub.abort()
        await wait_status_quietly(player, ("NetStream.Play.UnpublishNotify", "NetStream.Play.Stop"))
        async with rtmp.client(label="republisher") as again:
            await again.handshake()
            await again.connect()
            try:
                await again.publish(name)
            except STEP_ERRORS:
                pass
    rtmp.judge(check_unpublish_cleanup(player.log, again.log))


# -- CMD-20 .. CMD-22: auxiliary commands ---------------------------------------------------------------------

AUX_COMMANDS: dict[str, tuple[float, bool, tuple[Any, ...]]] = {
    # name: (transaction id, sent on the play stream, arguments after the null command object)
    "getStreamLength": (21.0, False, ("NAME",)),  # FFmpeg, when not live-only
    "FCSubscribe": (22.0, False, ("NAME",)),  # FFmpeg with live = -1
    "_checkbw": (23.0, False, ()),
    "noSuchCommand": (24.0, False, ("x",)),
    "receiveAudio": (0.0, True, (False,)),
    "receiveVideo": (0.0, True, (False,)),
    "seek": (0.0, True, (0.0,)),
    "pause": (0.0, True, (True, 0.0)),
    "play2": (0.0, True, ({"streamName": "NAME", "start": -2.0, "transition": "switch"},)),
}


@pytest.mark.rule("CMD-20")
@pytest.mark.parametrize("name", list(AUX_COMMANDS))
async def test_auxiliary_command(rtmp, name):
    """A player connects, creates a stream and plays a name, then sends one auxiliary or unknown
    command (NetConnection ones with a transaction id on msid 0, NetStream ones with tid 0 on the
    play stream) and probes.

    Requirement (CMD-20): unknown or auxiliary commands "must be ignored or answered with
    _error/_result on the same tid, never with a disconnect".
    """
    tid, on_stream, args = AUX_COMMANDS[name]
    stream_name = rtmp.stream_name()
    args = tuple(stream_name if a == "NAME" else ({**a, "streamName": stream_name} if isinstance(a, dict) else a)
                 for a in args)
    async with rtmp.client() as c:
        await join_player(c, stream_name)
        try:
            await c.command(name, *args, msid=(c.stream_id or 1) if on_stream else 0, tid=tid)
        except STEP_ERRORS:
            pass
        await settle(c)
    rtmp.judge(check_aux_command(c.log, name, tid))


@pytest.mark.rule("CMD-21")
async def test_checkbw_after_connect(rtmp):
    """Connects, answers like FFmpeg does to onBWDone with ``_checkbw`` (next tid, null), then
    calls createStream.

    Requirement (CMD-21): SRS and FFmpeg listen send onBWDone after connect and FFmpeg answers
    with _checkbw; the server must tolerate it (onBWDone itself is recorded).
    """
    async with rtmp.client() as c:
        await c.handshake()
        await c.connect()
        await c.command("_checkbw")
        try:
            await c.create_stream()
        except STEP_ERRORS:
            pass
        await settle(c)
    rtmp.judge(check_checkbw(c.log))


@pytest.mark.rule("CMD-22")
async def test_pause_unpause_notify(rtmp):
    """A player of a live stream sends pause(true, 200 ms), then pause(false, 200 ms).

    Requirement (§7.2.2.8, CMD-22): "The server sends an onStatus message NetStream.Pause.Notify
    when the stream is paused. NetStream.Unpause.Notify is sent when a stream is unpaused."
    """
    name = rtmp.stream_name()
    async with rtmp.client(label="publisher") as pub:
        await publish_stream(pub, name, until_ms=200)
        async with rtmp.client(label="player") as player:
            await join_player(player, name)
            sid = player.stream_id or 1
            await player.command("pause", True, 200.0, msid=sid, tid=0.0)
            await wait_status_quietly(player, ("NetStream.Pause.Notify", "NetStream.Unpause.Notify"))
            await player.command("pause", False, 200.0, msid=sid, tid=0.0)
            await wait_status_quietly(player, ("NetStream.Pause.Notify", "NetStream.Unpause.Notify"))
    rtmp.judge(check_pause_notify(player.log))


# -- CMD-23 .. CMD-26: metadata ---------------------------------------------------------------------------------


@pytest.mark.rule("CMD-23")
@pytest.mark.parametrize("join", ["early", "late"])
@pytest.mark.parametrize("form", ["set-data-frame", "plain"])
async def test_metadata_first(rtmp, form, join):
    """The publisher sends metadata as ["@setDataFrame", "onMetaData", ECMA array] or as
    ["onMetaData", ECMA array], then sequence headers and 200 ms of media; the player joins
    before the publisher (early) or after (late; the publisher then sends media up to and
    including the next keyframe, for servers without a GOP cache).

    Requirement (CMD-23): servers strip "@setDataFrame"; the player always sees
    ["onMetaData", obj] first.
    """
    stream = make_h264_aac(seconds=4.0)
    meta = amf0.decode_all(stream.metadata)
    values = tuple(meta if form == "set-data-frame" else meta[1:])
    name = rtmp.stream_name()

    async def publish(pub: RtmpClient) -> None:
        await pub.handshake()
        await pub.connect()
        await pub.publish(name)
        sid = pub.stream_id
        await pub.send(Data(values), msid=sid)
        await pub.publish_media(stream.publish_sequence()[1:3] + tuple(media_between(stream, 0, 200)), msid=sid)

    async with rtmp.client(label="publisher") as pub, rtmp.client(label="player") as player:
        if join == "early":
            await join_player(player, name)
            await publish(pub)
        else:
            await publish(pub)
            await join_player(player, name)
            await pub.publish_media(media_between(stream, 200, NEXT_GOP_MS), msid=pub.stream_id)
        await wait_video(player)
    rtmp.judge(check_metadata_first(player.log))


METADATA_FORMS: dict[str, tuple[Any, ...]] = {
    # ["@setDataFrame", "onMetaData", <argument>]
    "object": ("@setDataFrame", "onMetaData", {"width": 320.0, "height": 180.0, "form": "object"}),
    "no-argument": ("@setDataFrame", "onMetaData"),  # SRS "Allows empty body metadata"
    "empty-ecma-array": ("@setDataFrame", "onMetaData", amf0.EcmaArray()),
}


@pytest.mark.rule("CMD-24a")
@pytest.mark.parametrize("form", list(METADATA_FORMS))
async def test_metadata_forms_accepted(rtmp, form):
    """A player waits for a name; the publisher sends metadata whose argument is an AMF0 Object,
    missing, or an empty ECMA array, then the sequence headers; the publisher probes.

    Requirement (CMD-24): onMetaData's argument is an ECMA array, but receivers should also
    accept an Object (SRS) and an empty body; the publisher's session goes on. Relay is recorded.
    """
    stream = make_h264_aac(seconds=4.0)
    values = METADATA_FORMS[form]
    expected = values[2] if len(values) > 2 and values[2] else None
    name = rtmp.stream_name()
    async with rtmp.client(label="player") as player, rtmp.client(label="publisher") as pub:
        await join_player(player, name)
        await pub.handshake()
        await pub.connect()
        await pub.publish(name)
        try:
            await pub.send(Data(values), msid=pub.stream_id or 1)
            await pub.publish_media(stream.publish_sequence()[1:3])
        except STEP_ERRORS:
            pass
        await settle(pub)
        await wait_metadata(player, 0.3)
    rtmp.judge(check_metadata_accepted(pub.log, player.log, form, expected))


@pytest.mark.rule("CMD-25")
async def test_sample_access_from_publisher(rtmp):
    """A player plays a live name; the publisher sends ["|RtmpSampleAccess", true, true] on its
    stream, then 200 ms more media, and probes.

    Requirement (CMD-25): |RtmpSampleAccess is a server-to-player message; servers ignore it
    when a publisher sends it (lal) — the publisher's session goes on.
    """
    name = rtmp.stream_name()
    async with rtmp.client(label="publisher") as pub:
        stream = await publish_stream(pub, name, until_ms=200)
        async with rtmp.client(label="player") as player:
            await join_player(player, name)
            try:
                await pub.send(Data(("|RtmpSampleAccess", True, True)), msid=pub.stream_id or 1)
                await pub.publish_media(media_between(stream, 200, 400))
            except STEP_ERRORS:
                pass
            await settle(pub)
            await wait_video(player, 0.3)
    rtmp.judge(check_sample_access_ignored(pub.log, player.log))


@pytest.mark.rule("CMD-26")
async def test_metadata_rewrite_recorded(rtmp):
    """A player waits; the publisher sends the test stream's metadata (duration, width, height,
    codec ids, encoder ...), sequence headers and 200 ms of media.

    Requirement (CMD-26): SRS drops "duration" and adds server fields, nginx regenerates the
    metadata; what changed is recorded, and codec ids must stay numbers.
    """
    stream = make_h264_aac(seconds=4.0)
    sent = dict(amf0.decode_all(stream.metadata)[2])
    name = rtmp.stream_name()
    async with rtmp.client(label="player") as player:
        await join_player(player, name)
        async with rtmp.client(label="publisher") as pub:
            await publish_stream(pub, name, until_ms=200)
            await wait_metadata(player)
    rtmp.judge(check_metadata_rewrite(sent, player.log))
