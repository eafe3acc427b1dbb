"""Commands and onStatus (catalogue CMD-*)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rtmpconf.harness.checks.session import (
    ALIVE,
    CLOSED,
    RESET,
    SILENT,
    connect_reply,
    down_findings,
    messages,
    replies,
    server_down,
    session_outcome,
    statuses,
)
from rtmpconf.harness.verdict import Finding, Verdict, failed, info, not_run, passed
from rtmpconf.harness.wirelog import C2S, S2C, DecodedMessage, Direction, WireLog
from rtmpconf.rtmp.messages import Command, Data, UserControl, UserControlEvent

#: CMD-18: expected levels per onStatus code.
STATUS_LEVELS = {
    "NetStream.Publish.Start": "status", "NetStream.Play.Start": "status", "NetStream.Play.Reset": "status",
    "NetStream.Publish.BadName": "error", "NetStream.Play.StreamNotFound": "error",
    "NetConnection.Connect.Rejected": "error", "NetStream.Unpublish.Success": "status",
    "NetStream.Play.Stop": "status", "NetStream.Play.UnpublishNotify": "status",
    "NetStream.Play.PublishNotify": "status",
}
#: §7.2: the three onStatus levels.
LEVELS = ("status", "warning", "error")
#: The connect _result properties FMS and most servers send (CMD-5).
CONNECT_PROPERTIES = ("fmsVer", "capabilities")


def check_status(info: dict[str, Any] | None, *, rule: str, expected_codes: tuple[str, ...],
                 msid: int | None = None, actual_msid: int | None = None,
                 verdict: Verdict = Verdict.FAIL) -> list[Finding]:
    """An onStatus with one of ``expected_codes`` and the level CMD-18 prescribes.

    ``verdict`` is what a missing or different code costs (NON_STRICT for conventions).
    """
    if info is None:
        return [failed(rule, "no onStatus reply", expected=" or ".join(expected_codes), actual="none",
                       verdict=verdict)]
    code = info.get("code")
    out: list[Finding] = []
    if code not in expected_codes:
        out.append(failed(rule, "unexpected onStatus code", expected=" or ".join(expected_codes),
                          actual=str(code), verdict=verdict))
        return out
    out.append(passed(rule, f"onStatus {code}"))
    want = STATUS_LEVELS.get(str(code))
    level = info.get("level")
    if want is not None and level != want:
        out.append(failed("CMD-18", f"onStatus {code} has the wrong level", expected=want, actual=str(level),
                          verdict=Verdict.FAIL))
    if msid is not None and actual_msid is not None and msid != actual_msid:
        out.append(failed("CMD-18", f"onStatus {code} sent on the wrong message stream",
                          expected=f"msid {msid}", actual=f"msid {actual_msid}"))
    return out


# -- small readers ----------------------------------------------------------------------------------


def _commands(log: WireLog, direction: Direction, name: str | None = None) -> list[DecodedMessage]:
    return [m for m in messages(log, direction) if isinstance(m.message, Command)
            and (name is None or m.message.name == name)]


def _cmd(m: DecodedMessage) -> Command:
    assert isinstance(m.message, Command)
    return m.message


def created_streams(log: WireLog) -> list[int]:
    """Stream ids the server returned to createStream (CMD-9)."""
    out = []
    for req in _commands(log, C2S, "createStream"):
        for r in replies(log, _cmd(req).transaction_id):
            args = _cmd(r).arguments
            if _cmd(r).name == "_result" and args and isinstance(args[0], (int, float)) \
                    and not isinstance(args[0], bool):
                out.append(int(args[0]))
    return out


def _describe(m: DecodedMessage) -> str:
    msg = m.message
    if isinstance(msg, Command):
        st = None
        if msg.name == "onStatus":
            for a in (*msg.arguments, msg.command_object):
                if isinstance(a, dict) and "code" in a:
                    st = a.get("code")
        return f"{msg.name}({st})" if st else msg.name
    if isinstance(msg, UserControl):
        names = {0: "StreamBegin", 1: "StreamEOF", 2: "StreamDry", 3: "SetBufferLength",
                 4: "StreamIsRecorded", 6: "PingRequest", 7: "PingResponse"}
        return f"{names.get(msg.event, f'UserControl{msg.event}')}({msg.stream_id})"
    if isinstance(msg, Data):
        return f"data:{msg.name}"
    if msg is None:
        return f"type{m.raw.type_id}(undecodable)"
    return type(msg).__name__


def _outcome_text(outcome: str) -> str:
    return {ALIVE: "session alive", CLOSED: "server closed the connection",
            RESET: "server reset the connection", SILENT: "no reply, no PingResponse"}[outcome]


def metadata_seen(log: WireLog) -> list[tuple[DecodedMessage, Any]]:
    """onMetaData messages the server sent: (message, its argument or None)."""
    out = []
    for m in messages(log):
        if isinstance(m.message, Data) and m.message.values:
            vals = list(m.message.values)
            if vals[0] == "@setDataFrame":
                vals = vals[1:]
            if vals and vals[0] == "onMetaData":
                out.append((m, vals[1] if len(vals) > 1 else None))
    return out


def _first_after(log: WireLog, t: float) -> list[DecodedMessage]:
    return [m for m in messages(log) if m.time >= t]


# -- connect -----------------------------------------------------------------------------------------


def check_connect_tolerated(rule: str, log: WireLog, what: str, *, reject_verdict: Verdict = Verdict.FAIL,
                            fresh: WireLog | None = None) -> list[Finding]:
    """``connect`` with ``what`` should succeed; a clean refusal costs ``reject_verdict``.

    A server that no longer accepts connections afterwards FAILs whatever happened.
    """
    out = down_findings(rule, fresh)
    reply = connect_reply(log)
    if reply is not None and _cmd(reply).name == "_result":
        out.append(passed(rule, f"connect with {what} accepted", message_index=reply.index))
        return out
    if reply is not None:
        st = next((a for a in (*_cmd(reply).arguments, _cmd(reply).command_object)
                   if isinstance(a, dict)), {})
        actual = f"_error {st.get('code')}"
    else:
        outcome = session_outcome(log)
        actual = _outcome_text(outcome) if outcome != SILENT else "no reply to connect"
    refused = reply is not None or log.closed_by == S2C
    # No reply and no close leaves a client hanging: at least NON_STRICT.
    verdict = reject_verdict if refused or reject_verdict is Verdict.FAIL else Verdict.NON_STRICT
    if verdict is Verdict.INFORMATIONAL:
        out.append(info(rule, f"connect with {what} refused cleanly ({actual})"))
    else:
        out.append(failed(rule, f"connect with {what} was not accepted", expected="_result "
                          "NetConnection.Connect.Success", actual=actual, verdict=verdict))
    return out


def check_connect_sequence(log: WireLog) -> list[Finding]:
    """CMD-4: record what the server sends between connect and its ``_result``; ``_result`` is due."""
    reply = connect_reply(log)
    if reply is None or _cmd(reply).name != "_result":
        return [failed("CMD-4", "no _result for connect", expected="_result (tid 1)",
                       actual=_cmd(reply).name if reply else _outcome_text(session_outcome(log)))]
    seq = [_describe(m) for m in messages(log) if m.index <= reply.index + 1]
    return [passed("CMD-4", "connect answered with _result", message_index=reply.index),
            info("CMD-4", "connect reply sequence: " + " -> ".join(seq))]


def check_connect_result_fields(log: WireLog, object_encoding: float) -> list[Finding]:
    """CMD-5: ``_result`` = properties {fmsVer, capabilities, mode} + info {level status,
    NetConnection.Connect.Success, objectEncoding = the client's 0 or 3 (anything else -> 0)}."""
    reply = connect_reply(log)
    if reply is None or _cmd(reply).name != "_result":
        return [failed("CMD-5", "connect was not answered with _result", expected="_result",
                       actual=_cmd(reply).name if reply else "no reply")]
    cmd = _cmd(reply)
    props = cmd.command_object if isinstance(cmd.command_object, dict) else {}
    inf = next((a for a in cmd.arguments if isinstance(a, dict)), {})
    out: list[Finding] = []
    if inf.get("code") != "NetConnection.Connect.Success" or inf.get("level") != "status":
        out.append(failed("CMD-5", "connect _result info object is not Connect.Success/status",
                          expected="level status, code NetConnection.Connect.Success",
                          actual=f"level {inf.get('level')}, code {inf.get('code')}", verdict=Verdict.NON_STRICT))
    missing = [k for k in CONNECT_PROPERTIES if k not in props]
    if missing:
        out.append(failed("CMD-5", "connect _result properties lack FMS fields", expected=", ".join(CONNECT_PROPERTIES),
                          actual=f"keys {sorted(props)}", verdict=Verdict.NON_STRICT))
    want = object_encoding if object_encoding in (0, 3) else 0.0
    got = inf.get("objectEncoding")
    if got is None:
        out.append(failed("CMD-5", "connect _result has no objectEncoding", expected=f"{want:g}",
                          actual="absent", verdict=Verdict.NON_STRICT))
    elif got != want:
        out.append(failed("CMD-5", f"objectEncoding {object_encoding:g} answered with {got}",
                          expected=f"{want:g}", actual=str(got), verdict=Verdict.NON_STRICT))
    if not out:
        out.append(passed("CMD-5", f"connect _result fields fine; objectEncoding {got}"))
    return out


def check_unknown_app(log: WireLog) -> list[Finding]:
    """CMD-6: an unknown app gets ``_error`` Connect.Rejected (level error) or a close."""
    reply = connect_reply(log)
    if reply is not None and _cmd(reply).name == "_error":
        st = next((a for a in (*_cmd(reply).arguments, _cmd(reply).command_object) if isinstance(a, dict)), {})
        if st.get("code") == "NetConnection.Connect.Rejected" and st.get("level") == "error":
            return [passed("CMD-6", "unknown app rejected with _error NetConnection.Connect.Rejected")]
        return [failed("CMD-6", "unknown app refused with an unusual _error",
                       expected="code NetConnection.Connect.Rejected, level error",
                       actual=f"code {st.get('code')}, level {st.get('level')}", verdict=Verdict.NON_STRICT)]
    if reply is not None:
        return [info("CMD-6", "the server accepts any app name (connect to an unknown app got _result)")]
    outcome = session_outcome(log)
    if outcome in (CLOSED, RESET):
        return [info("CMD-6", f"unknown app: {_outcome_text(outcome)} without _error (nginx style)")]
    return [failed("CMD-6", "connect to an unknown app got neither a reply nor a close",
                   expected="_error Connect.Rejected or a close", actual=_outcome_text(outcome),
                   verdict=Verdict.NON_STRICT)]


def check_app_variant(pub: WireLog, player: WireLog, app: str) -> list[Finding]:
    """CMD-7: connect with app ``app`` (a decorated form of the target's app).

    Accepted and the same stream as the plain app (a player there gets the publisher's
    metadata) -> PASS; accepted but a different app, or refused cleanly -> recorded; a server
    that stops accepting connections FAILs.
    """
    out: list[Finding] = []
    down = server_down("CMD-7", player)
    if down is not None:
        return [down]
    reply = connect_reply(pub)
    if reply is None or _cmd(reply).name != "_result":
        actual = _cmd(reply).name if reply else _outcome_text(session_outcome(pub))
        return [info("CMD-7", f"app {app!r} refused ({actual}); the server does not normalise it")]
    if metadata_seen(player):
        out.append(passed("CMD-7", f"app {app!r} is the same app as the plain name (stream shared)"))
    else:
        out.append(info("CMD-7", f"app {app!r} accepted but treated as a different app "
                        "(a player on the plain app did not get the stream)"))
    return out


def check_refused_or_closed(rule: str, log: WireLog, tid: float, what: str,
                            fresh: WireLog | None = None) -> list[Finding]:
    """CMD-8: an out-of-order command gets ``_error`` on its tid or a clean close."""
    out = down_findings(rule, fresh)
    answer = replies(log, tid)
    outcome = session_outcome(log)
    if answer and _cmd(answer[0]).name == "_error":
        out.append(passed(rule, f"{what}: _error on tid {tid:g}" + (", then closed" if outcome == CLOSED else "")))
    elif answer:
        out.append(failed(rule, f"{what} was accepted", expected=f"_error (tid {tid:g}) or a close",
                          actual=f"_result {_cmd(answer[0]).arguments!r:.80}", verdict=Verdict.NON_STRICT,
                          message_index=answer[0].index))
    elif outcome in (CLOSED, RESET):
        # A close with our unread bytes still queued is a RST on Linux: both are a refusal.
        out.append(passed(rule, f"{what}: connection {outcome}"))
    else:
        out.append(failed(rule, f"{what} was silently ignored (the caller waits forever)",
                          expected=f"_error (tid {tid:g}) or a close", actual=_outcome_text(outcome),
                          verdict=Verdict.NON_STRICT))
    return out


# -- streams ------------------------------------------------------------------------------------------


def check_publish_started(log: WireLog, *, rule: str, verdict: Verdict = Verdict.FAIL) -> list[Finding]:
    """Publish.Start (level status) on the msid the client published on, an id createStream returned.

    ``verdict`` is what no Publish.Start costs (conventional call orders: NON_STRICT).
    """
    pubs = _commands(log, C2S, "publish")
    if not pubs:
        if _commands(log, C2S, "createStream") and not created_streams(log):
            # The target never returned a stream id, so there was nothing to publish on.
            return [failed(rule, "createStream got no stream id, so no publish could follow",
                           expected="_result with a stream id, then NetStream.Publish.Start",
                           actual=_outcome_text(session_outcome(log)), verdict=verdict)]
        return [failed(rule, "scenario error: no publish was sent", verdict=Verdict.ERROR)]
    msid = pubs[-1].raw.msid
    ids = created_streams(log)
    found = [(m, st) for m, st in statuses(log) if str(st.get("code", "")).startswith("NetStream.Publish.")]
    out: list[Finding] = []
    if msid not in ids:
        out.append(info(rule, f"published on msid {msid}, not an id createStream returned ({ids})"))
    if not found:
        outcome = session_outcome(log)
        return out + [failed(rule, "publish got no NetStream.Publish.* onStatus",
                             expected="NetStream.Publish.Start", actual=_outcome_text(outcome), verdict=verdict)]
    m, st = found[0]
    out.extend(check_status(st, rule=rule, expected_codes=("NetStream.Publish.Start",), msid=msid,
                            actual_msid=m.raw.msid, verdict=verdict))
    return out


def check_stream_id_used(log: WireLog) -> list[Finding]:
    """CMD-9: createStream returns numbers; publish on the last one gets its onStatus on that msid."""
    ids = created_streams(log)
    reqs = _commands(log, C2S, "createStream")
    if len(ids) < len(reqs):
        return [failed("CMD-9", "createStream not answered with _result [tid, null, number]",
                       expected=f"{len(reqs)} stream ids", actual=f"{ids}")]
    out = [passed("CMD-9", f"createStream returned {ids}")]
    out.extend(check_publish_started(log, rule="CMD-9"))
    return out


def check_reply_tids(log: WireLog, must_answer: Sequence[str] = ("connect", "createStream")) -> list[Finding]:
    """CMD-10: every ``_result``/``_error`` carries the transaction id of a request; connect and
    createStream are answered on their own tids."""
    reqs = {_cmd(m).transaction_id: _cmd(m).name for m in _commands(log, C2S)
            if _cmd(m).transaction_id and _cmd(m).name not in ("_result", "_error")}
    out: list[Finding] = []
    for m in _commands(log, S2C):
        c = _cmd(m)
        if c.name in ("_result", "_error") and c.transaction_id not in reqs:
            out.append(failed("CMD-10", f"{c.name} with a transaction id no request used",
                              expected=f"one of {sorted(reqs)}", actual=f"{c.transaction_id:g}",
                              message_index=m.index))
    for tid, name in sorted(reqs.items()):
        if name in must_answer and not replies(log, tid):
            out.append(failed("CMD-10", f"{name} (tid {tid:g}) got no _result/_error on its transaction id",
                              expected=f"_result or _error with tid {tid:g}", actual="none"))
    if not out:
        answered = sorted(t for t in reqs if replies(log, t))
        out.append(passed("CMD-10", f"all replies carry their request's tid (answered: {answered})"))
    return out


def check_aux_command(log: WireLog, name: str, tid: float, *, rule: str = "CMD-20",
                      fresh: WireLog | None = None) -> list[Finding]:
    """CMD-20: an auxiliary/unknown command is answered on its tid or ignored, never a disconnect."""
    out = down_findings(rule, fresh)
    outcome = session_outcome(log)
    answer = replies(log, tid) if tid else []
    if outcome in (CLOSED, RESET):
        out.append(failed(rule, f"{name}: the server dropped the connection", expected="a reply or nothing",
                          actual=_outcome_text(outcome), verdict=Verdict.NON_STRICT))
    elif outcome == SILENT:
        out.append(failed(rule, f"{name}: the session stopped answering PingRequest", expected="session alive",
                          actual=_outcome_text(outcome), verdict=Verdict.NON_STRICT))
    elif answer:
        out.append(passed(rule, f"{name} answered with {_cmd(answer[0]).name} on tid {tid:g}"))
    else:
        out.append(passed(rule, f"{name} ignored; session alive"))
    return out


def check_checkbw(log: WireLog) -> list[Finding]:
    """CMD-21: ``_checkbw`` after connect is tolerated; onBWDone is recorded."""
    reqs = _commands(log, C2S, "_checkbw")
    if not reqs:
        return [failed("CMD-21", "scenario error: no _checkbw sent", verdict=Verdict.ERROR)]
    out = check_aux_command(log, "_checkbw", _cmd(reqs[0]).transaction_id, rule="CMD-21")
    if out[-1].verdict is not Verdict.PASS:
        return out
    if not created_streams(log):
        return [failed("CMD-21", "createStream after _checkbw got no stream id", expected="_result [id]",
                       actual="none", verdict=Verdict.NON_STRICT)]
    bw = "sent" if _commands(log, S2C, "onBWDone") else "did not send"
    return [passed("CMD-21", f"{out[-1].message}; createStream works after it (the server {bw} onBWDone)")]


def check_status_messages(log: WireLog) -> list[Finding]:
    """CMD-18: every onStatus: a known level, the level the code calls for, NetStream codes on a
    created stream's msid and NetConnection codes on msid 0, transaction id 0."""
    sts = statuses(log)
    if not sts:
        return [failed("CMD-18", "no onStatus seen", expected="onStatus messages", actual="none")]
    ids = set(created_streams(log))
    out: list[Finding] = []
    for m, st in sts:
        code, level = str(st.get("code")), st.get("level")
        if level not in LEVELS:
            out.append(failed("CMD-18", f"onStatus {code} has level {level!r}", expected="status|warning|error",
                              actual=str(level), message_index=m.index))
        elif code in STATUS_LEVELS and level != STATUS_LEVELS[code]:
            out.append(failed("CMD-18", f"onStatus {code} has the wrong level", expected=STATUS_LEVELS[code],
                              actual=str(level), message_index=m.index))
        if code.startswith("NetStream.") and m.raw.msid not in ids:
            out.append(failed("CMD-18", f"onStatus {code} not on the stream's message stream",
                              expected=f"msid in {sorted(ids)}", actual=f"msid {m.raw.msid}", message_index=m.index))
        if code.startswith("NetConnection.") and m.raw.msid != 0:
            out.append(failed("CMD-18", f"onStatus {code} not on msid 0", expected="msid 0",
                              actual=f"msid {m.raw.msid}", message_index=m.index))
        if _cmd(m).transaction_id != 0:
            out.append(failed("CMD-18", f"onStatus {code} with transaction id {_cmd(m).transaction_id:g}",
                              expected="0", actual=f"{_cmd(m).transaction_id:g}", verdict=Verdict.NON_STRICT,
                              message_index=m.index))
    if not out:
        out.append(passed("CMD-18", "onStatus levels and message streams: "
                          + ", ".join(f"{st.get('code')}/{st.get('level')}@{m.raw.msid}" for m, st in sts)))
    return out


def _play_status(log: WireLog) -> tuple[DecodedMessage, dict[str, Any]] | None:
    for m, st in statuses(log):
        if st.get("code") in ("NetStream.Play.Start", "NetStream.Play.StreamNotFound", "NetStream.Play.Failed"):
            return m, st
    return None


def check_play_start_value(log: WireLog, start: float) -> list[Finding]:
    """CMD-15: play of a live name with ``start``: negative values mean live (FFmpeg sends
    -2000/-1000) and must play it; 0 (recorded only) may play live or say StreamNotFound."""
    found = _play_status(log)
    video = [m for m in messages(log) if m.raw.type_id in (9, 22)]
    if found is None:
        return [failed("CMD-15", f"play with start {start:g} got no Play.Start/StreamNotFound",
                       expected="NetStream.Play.Start", actual=_outcome_text(session_outcome(log)))]
    m, st = found
    code = st.get("code")
    if start >= 0 and code != "NetStream.Play.Start":
        return [info("CMD-15", f"start {start:g} (recorded only) on a live stream: {code}")]
    if code != "NetStream.Play.Start":
        return [failed("CMD-15", f"start {start:g} (live) refused", expected="NetStream.Play.Start",
                       actual=str(code), message_index=m.index)]
    if not video:
        return [failed("CMD-15", f"Play.Start for start {start:g} but no video followed",
                       expected="live video", actual="none within the wait", message_index=m.index)]
    out = [passed("CMD-15", f"start {start:g}: Play.Start and live video")]
    if start >= 0:
        out.append(info("CMD-15", f"start {start:g} (recorded only) played the live stream"))
    return out


def check_play_reply(log: WireLog) -> list[Finding]:
    """CMD-16: record the server's reply to play; Play.Start is what players switch on (CONV)."""
    plays = _commands(log, C2S, "play")
    if not plays:
        return [failed("CMD-16", "scenario error: no play sent", verdict=Verdict.ERROR)]
    after = _first_after(log, plays[-1].time)
    head: list[DecodedMessage] = []
    for m in after:
        if m.raw.type_id in (8, 9, 22):
            break
        head.append(m)
    seq = [_describe(m) for m in head if not (isinstance(m.message, UserControl)
                                             and m.message.event == UserControlEvent.PING_RESPONSE)]
    codes = [st.get("code") for m, st in statuses(log)]
    out: list[Finding] = []
    if "NetStream.Play.Start" in codes:
        out.append(passed("CMD-16", "Play.Start sent"))
    else:
        out.append(failed("CMD-16", "no NetStream.Play.Start (FFmpeg switches to playing on it)",
                          expected="NetStream.Play.Start", actual=", ".join(seq) or "nothing",
                          verdict=Verdict.NON_STRICT))
    note = " (includes NetStream.Data.Start, which FFmpeg shows as an empty data stream)" \
        if "NetStream.Data.Start" in codes else ""
    out.append(info("CMD-16", "play reply: " + " -> ".join(seq) + note))
    return out


def check_delete_stream_no_reply(log: WireLog) -> list[Finding]:
    """CMD-19: deleteStream gets no ``_result``/``_error`` (§7.2.2.3); onStatus is recorded."""
    dels = _commands(log, C2S, "deleteStream")
    if not dels:
        return [failed("CMD-19", "scenario error: no deleteStream sent", verdict=Verdict.ERROR)]
    t = dels[0].time
    tid = _cmd(dels[0]).transaction_id
    after = _first_after(log, t)
    bad = [m for m in after if isinstance(m.message, Command) and m.message.name in ("_result", "_error")
           and m.message.transaction_id == tid]
    notes = [str(st.get("code")) for m, st in statuses(log) if m.time >= t]
    seen = f"onStatus after it: {', '.join(notes) or 'none'}; {_outcome_text(session_outcome(log))}"
    if bad:
        return [failed("CMD-19", "deleteStream was answered", expected="no response (§7.2.2.3)",
                       actual=f"{_cmd(bad[0]).name} tid {tid:g} ({seen})", verdict=Verdict.NON_STRICT,
                       message_index=bad[0].index)]
    return [passed("CMD-19", f"deleteStream got no _result/_error ({seen})")]


def check_unpublish_cleanup(player: WireLog, republisher: WireLog) -> list[Finding]:
    """CMD-19: when the publisher leaves, players are told (StreamEOF / Play.UnpublishNotify /
    Play.Stop) and the name is free for a new publisher at once."""
    out: list[Finding] = []
    started = [m for m, st in statuses(player) if st.get("code") == "NetStream.Play.Start"]
    t0 = started[0].time if started else 0.0
    eof = [m for m in messages(player) if m.time >= t0 and isinstance(m.message, UserControl)
           and m.message.event == UserControlEvent.STREAM_EOF]
    notes = [st.get("code") for m, st in statuses(player) if m.time >= t0
             and st.get("code") in ("NetStream.Play.UnpublishNotify", "NetStream.Play.Stop")]
    if eof or notes:
        out.append(passed("CMD-19", "player told the publisher left: "
                          + ", ".join((["StreamEOF"] if eof else []) + [str(n) for n in notes])))
    else:
        out.append(failed("CMD-19", "player got no StreamEOF, Play.UnpublishNotify or Play.Stop when the "
                          "publisher left", expected="one of them", actual="none within the wait",
                          verdict=Verdict.NON_STRICT))
    found = [st for m, st in statuses(republisher) if str(st.get("code", "")).startswith("NetStream.Publish.")]
    if found and found[0].get("code") == "NetStream.Publish.Start":
        out.append(passed("CMD-19", "the name was free for a new publisher at once"))
    else:
        out.append(failed("CMD-19", "the stream name is still held after its publisher left (ghost publisher)",
                          expected="NetStream.Publish.Start for the new publisher",
                          actual=str(found[0].get("code")) if found else _outcome_text(session_outcome(republisher))))
    return out


def check_play_before_publish(log: WireLog) -> list[Finding]:
    """CMD-17: a player of a name not yet published either gets StreamNotFound (spec) or waits
    and starts with metadata and sequence headers once a publisher comes (GOP-1)."""
    from rtmpconf.harness.checks.gop import check_gop_start

    found = _play_status(log)
    if found is None:
        return [failed("CMD-17", "play of an unpublished name got no Play.Start/StreamNotFound",
                       expected="Play.Start (then media) or Play.StreamNotFound",
                       actual=_outcome_text(session_outcome(log)), verdict=Verdict.NON_STRICT)]
    _, st = found
    if st.get("code") != "NetStream.Play.Start":
        return [*check_status(st, rule="CMD-17", expected_codes=("NetStream.Play.StreamNotFound",),
                              verdict=Verdict.NON_STRICT),
                info("CMD-17", "the server does not wait for a publisher; players must play again later")]
    # GOP-1 is a convention and CMD-17 a SHOULD: cap what the GOP checker found at NON_STRICT.
    gop = [f if f.verdict.rank < Verdict.NON_STRICT.rank else
           failed(f.rule, f.message, expected=f.expected, actual=f.actual, verdict=Verdict.NON_STRICT, **f.evidence)
           for f in check_gop_start(log)]
    if any(f.verdict is Verdict.NON_STRICT for f in gop):
        return [failed("CMD-17", "a waiting player did not start cleanly when the publisher came",
                       expected="onMetaData, sequence headers, keyframe",
                       actual="; ".join(f.line() for f in gop if f.verdict is Verdict.NON_STRICT)[:300],
                       verdict=Verdict.NON_STRICT), *gop]
    return [passed("CMD-17", "player waited and started with the publisher's headers"), *gop]


def check_pause_notify(log: WireLog, *, rule: str = "CMD-22") -> list[Finding]:
    """CMD-22: pause(true) -> NetStream.Pause.Notify, pause(false) -> NetStream.Unpause.Notify.

    Each ``pause`` command's first Pause/Unpause notify after it is matched. The argument is read
    from the client's bytes with the harness decoder (so AMF-4 can send 0x02 for true). A missing
    notify is NON_STRICT; the opposite notify FAILs under ``rule`` (the boolean was misread).
    """
    pauses = _commands(log, C2S, "pause")
    if not pauses:
        return [failed(rule, "scenario error: no pause sent", verdict=Verdict.ERROR)]
    sts = [(m, st) for m, st in statuses(log)
           if st.get("code") in ("NetStream.Pause.Notify", "NetStream.Unpause.Notify")]
    out: list[Finding] = []
    for i, p in enumerate(pauses):
        end = pauses[i + 1].time if i + 1 < len(pauses) else float("inf")
        flag = bool(_cmd(p).arguments[0]) if _cmd(p).arguments else True
        want = "NetStream.Pause.Notify" if flag else "NetStream.Unpause.Notify"
        got = [(m, st) for m, st in sts if p.time <= m.time < end]
        if not got:
            out.append(failed(rule, f"pause({str(flag).lower()}) got no notify", expected=want,
                              actual="no Pause/Unpause.Notify", verdict=Verdict.NON_STRICT))
        elif got[0][1].get("code") != want:
            out.append(failed(rule, f"pause({str(flag).lower()}) answered with the opposite notify",
                              expected=want, actual=str(got[0][1].get("code")), message_index=got[0][0].index))
        else:
            out.append(passed(rule, f"pause({str(flag).lower()}) -> {want}", message_index=got[0][0].index))
    return out


# -- metadata ----------------------------------------------------------------------------------------


def _play_start_time(log: WireLog) -> float:
    found = _play_status(log)
    return found[0].time if found else 0.0


def check_metadata_first(log: WireLog) -> list[Finding]:
    """CMD-23: the player's first data/audio/video message is ["onMetaData", obj] (without
    "@setDataFrame")."""
    t0 = _play_start_time(log)
    av = [m for m in messages(log) if m.time >= t0 and m.raw.type_id in (8, 9, 18, 22)
          and not (isinstance(m.message, Data) and m.message.name == "|RtmpSampleAccess")]
    if not av:
        return [failed("CMD-23", "the player got no metadata or media", expected="onMetaData first",
                       actual="nothing", verdict=Verdict.NON_STRICT)]
    first = av[0]
    msg = first.message
    if isinstance(msg, Data) and msg.name == "onMetaData":
        return [passed("CMD-23", "player got onMetaData first", message_index=first.index)]
    if isinstance(msg, Data) and msg.name == "@setDataFrame":
        return [failed("CMD-23", "@setDataFrame was relayed to the player instead of stripped",
                       expected='["onMetaData", obj]', actual=f"{msg.values[:2]}", verdict=Verdict.NON_STRICT,
                       message_index=first.index)]
    return [failed("CMD-23", "the player's first media message is not onMetaData", expected="onMetaData",
                   actual=_describe(first) if first.raw.type_id == 18 else f"type {first.raw.type_id}",
                   verdict=Verdict.NON_STRICT, message_index=first.index)]


def check_metadata_accepted(pub: WireLog, player: WireLog, form: str,
                            expected: dict[str, Any] | None = None) -> list[Finding]:
    """CMD-24a: a publisher's metadata in ``form`` (Object, no argument...) is accepted: the
    publisher's session goes on (MUST); whether the player got it is recorded."""
    outcome = session_outcome(pub)
    out: list[Finding] = []
    if outcome != ALIVE:
        out.append(failed("CMD-24a", f"metadata as {form} was not accepted", expected="publisher session goes on",
                          actual=_outcome_text(outcome),
                          verdict=Verdict.FAIL if outcome in (CLOSED, RESET) else Verdict.NON_STRICT))
        return out
    seen = metadata_seen(player)
    if not seen:
        return [passed("CMD-24a", f"metadata as {form} accepted"),
                info("CMD-24a", f"metadata as {form} was not relayed to the player")]
    arg = seen[-1][1]
    if expected and isinstance(arg, dict):
        relayed = f"values {({k: arg.get(k) for k in expected})}"
    else:
        relayed = f"{arg!r:.120}"
    return [passed("CMD-24a", f"metadata as {form} accepted; player got {type(arg).__name__} {relayed}")]


def check_sample_access_ignored(pub: WireLog, player: WireLog) -> list[Finding]:
    """CMD-25: ``|RtmpSampleAccess`` from a publisher is accepted (ignored or relayed)."""
    outcome = session_outcome(pub)
    if outcome != ALIVE:
        return [failed("CMD-25", "|RtmpSampleAccess from the publisher was not tolerated",
                       expected="publisher session goes on", actual=_outcome_text(outcome),
                       verdict=Verdict.FAIL if outcome in (CLOSED, RESET) else Verdict.NON_STRICT)]
    n = sum(1 for m in messages(player) if isinstance(m.message, Data) and m.message.name == "|RtmpSampleAccess")
    return [passed("CMD-25", f"|RtmpSampleAccess from the publisher tolerated (player got {n} "
                   "|RtmpSampleAccess message(s) in all)")]


def check_metadata_rewrite(sent: dict[str, Any], player: WireLog) -> list[Finding]:
    """CMD-26: record how the server rewrites metadata; codec ids stay numbers (FourCC as UI32)."""
    seen = metadata_seen(player)
    if not seen:
        return [failed("CMD-26", "the player got no onMetaData", expected="onMetaData", actual="none",
                       verdict=Verdict.NON_STRICT)]
    got = seen[-1][1] if isinstance(seen[-1][1], dict) else {}
    out: list[Finding] = []
    ids = [key for key in ("videocodecid", "audiocodecid") if key in got]
    for key in ids:
        if isinstance(got[key], bool) or not isinstance(got[key], (int, float)):
            out.append(failed("CMD-26", f"{key} is not a number", expected="number (7/10 or FourCC UI32)",
                              actual=repr(got[key]), verdict=Verdict.NON_STRICT, message_index=seen[-1][0].index))
    if not ids:
        # Nothing to judge: the relayed metadata has no codec id at all.
        out.append(not_run("CMD-26", "the relayed onMetaData carries no videocodecid/audiocodecid, so their type "
                           "could not be judged"))
    elif not out:
        out.append(passed("CMD-26", f"codec ids in relayed metadata are numbers ({', '.join(ids)})"))
    removed = sorted(set(sent) - set(got))
    added = sorted(set(got) - set(sent))
    changed = sorted(k for k in set(sent) & set(got) if sent[k] != got[k])
    out.append(info("CMD-26", f"metadata rewrite: removed {removed}, added {added}, changed {changed}"))
    return out


def check_fmle_calls(log: WireLog) -> list[Finding]:
    """CMD-11: releaseStream/FCPublish (FMLE artefacts) do not break the publish; what the
    server answers to them is recorded (``_result``, ``_error``, ``onFCPublish`` or nothing)."""
    calls = [m for m in _commands(log, C2S) if _cmd(m).name in ("releaseStream", "FCPublish")]
    if not calls:
        return [failed("CMD-11", "scenario error: no releaseStream/FCPublish sent", verdict=Verdict.ERROR)]
    out = check_publish_started(log, rule="CMD-11", verdict=Verdict.NON_STRICT)
    answers = []
    for m in calls:
        c = _cmd(m)
        r = replies(log, c.transaction_id) if c.transaction_id else []
        answers.append(f"{c.name}->{_cmd(r[0]).name if r else 'nothing'}")
    fc = _commands(log, S2C, "onFCPublish")
    if fc:
        answers.append(f"onFCPublish(tid {_cmd(fc[0]).transaction_id:g})")
    out.append(info("CMD-11", "FMLE call replies: " + ", ".join(answers)))
    return out


def check_query_name(pub: WireLog, player: WireLog, bare: str) -> list[Finding]:
    """CMD-13a: "name?query" publishes ``bare``: Publish.Start, and a player of ``bare`` gets the
    stream (the query is not part of the name, as lal, nginx and Node-Media-Server split it)."""
    out = check_publish_started(pub, rule="CMD-13a")
    if any(f.verdict.rank >= Verdict.NON_STRICT.rank for f in out):
        return out
    if metadata_seen(player):
        out.append(passed("CMD-13a", f"a player of {bare!r} got the stream published with a ?query"))
    else:
        out.append(failed("CMD-13a", f"a player of {bare!r} got nothing: the ?query stayed part of the name",
                          expected="onMetaData on the bare name", actual="none within the wait",
                          verdict=Verdict.NON_STRICT))
    return out
