"""Protocol control and user control (catalogue CTRL-*).

Besides the CTRL checkers this module holds the tolerated / rejected-or-ignored checkers the
command and AMF cases share; the session readers they use live in :mod:`harness.checks.session`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from rtmpconf.harness.checks.relay import serial_delta
from rtmpconf.harness.checks.session import (
    ALIVE,
    CLOSED,
    RESET,
    SILENT,
    connect_reply,
    down_findings,
    is_user_control,
    messages,
    ping_requests,
    ping_response_for,
    session_outcome,
    statuses,
)
from rtmpconf.harness.verdict import Finding, Verdict, failed, info, not_run, passed
from rtmpconf.harness.wirelog import C2S, HANDSHAKE_BYTES, DecodedMessage, WireLog
from rtmpconf.rtmp import media
from rtmpconf.rtmp.messages import (
    Acknowledgement,
    Aggregate,
    LimitType,
    SetPeerBandwidth,
    UserControl,
    UserControlEvent,
    WindowAckSize,
)

#: CTRL-2: the handshake is 3073 bytes each way; whether a peer counts it varies.
ACK_SLACK = HANDSHAKE_BYTES


def _outcome_text(outcome: str) -> str:
    return {ALIVE: "session alive (PingRequest answered)", CLOSED: "server closed the connection",
            RESET: "server reset the connection", SILENT: "no answer to a PingRequest, connection open"}[outcome]


def check_tolerated(rule: str, log: WireLog, what: str, *, close_verdict: Verdict = Verdict.FAIL,
                    fresh: WireLog | None = None) -> list[Finding]:
    """``what`` must be tolerated: the session goes on (its PingRequest is answered).

    A close costs ``close_verdict`` (FAIL for MUST-accept rules, NON_STRICT for SHOULD-ignore);
    a session that stays open but stops answering pings is NON_STRICT (cannot tell whether the
    server hung or never answers pings); a server that no longer accepts connections FAILs.
    """
    out = down_findings(rule, fresh)
    outcome = session_outcome(log)
    if outcome == ALIVE:
        out.append(passed(rule, f"{what}: tolerated, the session went on"))
    elif outcome in (CLOSED, RESET):
        out.append(failed(rule, f"{what}: the server dropped the connection instead of ignoring it",
                          expected="ignored; session continues", actual=_outcome_text(outcome),
                          verdict=close_verdict, c2s_bytes=log.total(C2S)))
    else:
        out.append(failed(rule, f"{what}: the session stopped answering PingRequest afterwards",
                          expected="PingResponse to the probe", actual=_outcome_text(outcome),
                          verdict=Verdict.NON_STRICT))
    return out


def check_rejected_or_ignored(rule: str, log: WireLog, what: str, *,
                              fresh: WireLog | None = None) -> list[Finding]:
    """Robustness: ``what`` may be refused (close) or ignored; the server must stay up."""
    out = down_findings(rule, fresh)
    outcome = session_outcome(log)
    if outcome == SILENT:
        out.append(failed(rule, f"{what}: the session neither closed nor answered a PingRequest "
                          "afterwards (stuck reading past the payload?)",
                          expected="close, or ignore and keep answering", actual=_outcome_text(outcome),
                          verdict=Verdict.NON_STRICT))
    elif not out:
        out.append(passed(rule, f"{what}: {_outcome_text(outcome)}; the server stays up"))
    return out


# -- CTRL-10 / CTRL-6: pings ---------------------------------------------------------------------


def check_ping_echo(log: WireLog, sent: bytes, *, rule: str = "CTRL-10") -> list[Finding]:
    """CTRL-10: a PingResponse echoing the request's 4 bytes exactly."""
    responses = [m for m in messages(log) if is_user_control(m, UserControlEvent.PING_RESPONSE)]
    if not responses:
        return [failed(rule, "no PingResponse to a PingRequest", expected=f"PingResponse {sent.hex()}",
                       actual=_outcome_text(session_outcome(log)) if log.closed_by else "none within the wait")]
    exact = [m for m in responses if m.message.data[:4] == sent]  # type: ignore[union-attr]
    if not exact:
        data = responses[0].message.data  # type: ignore[union-attr]
        return [failed(rule, "PingResponse does not echo the request", expected=sent.hex(" "),
                       actual=data.hex(" "), message_index=responses[0].index)]
    return [passed(rule, "PingResponse echoes the request", message_index=exact[0].index)]


def check_user_control_channel(log: WireLog) -> list[Finding]:
    """CTRL-6: the server's User Control messages travel on msid 0, chunk stream 2."""
    ucs = [m for m in messages(log) if isinstance(m.message, UserControl)]
    if not ucs:
        return [failed("CTRL-6", "the server sent no User Control message at all (not even a "
                       "PingResponse or StreamBegin)", expected="User Control messages", actual="none",
                       verdict=Verdict.NON_STRICT)]
    bad = [m for m in ucs if m.raw.msid != 0 or m.raw.csid != 2]
    if bad:
        m = bad[0]
        return [failed("CTRL-6", f"{len(bad)} of {len(ucs)} User Control messages are not on msid 0 / csid 2",
                       expected="msid 0, csid 2", actual=f"msid {m.raw.msid}, csid {m.raw.csid}",
                       verdict=Verdict.NON_STRICT, message_index=m.index)]
    return [passed("CTRL-6", f"all {len(ucs)} User Control messages on msid 0 / csid 2")]


# -- CTRL-1 / CTRL-2: acknowledgements ---------------------------------------------------------


def _acks(log: WireLog) -> list[DecodedMessage]:
    return [m for m in messages(log) if isinstance(m.message, Acknowledgement)]


#: CTRL-1: an ack may come up to this fraction of a window late: a server can only count bytes
#: once it has read them, and one read can be large (asyncio reads up to 256 KiB at a time).
ACK_READ_SLACK = 0.25


def check_acknowledgements(log: WireLog) -> list[Finding]:
    """CTRL-1: an Acknowledgement per window of bytes received, with increasing sequence numbers.

    The window is the last Window Acknowledgement Size the client sent. §5.4.4 counts "since
    the last Acknowledgement was sent", and a server notices a crossed window only when its read
    ends, so each ack may be up to ACK_READ_SLACK of a window late. Counting from the end of
    the Window Ack Size message (the most lenient start), the server owes at least
    ``bytes_after // (window * 1.25)`` acks; SRS/lal ack at half the window and send more.
    """
    wins = [m for m in messages(log, C2S) if isinstance(m.message, WindowAckSize)]
    if not wins:
        return [failed("CTRL-1", "scenario error: the client announced no Window Acknowledgement Size",
                       verdict=Verdict.ERROR)]
    window = wins[-1].message.size  # type: ignore[union-attr]
    after = log.total(C2S) - wins[-1].end_offset
    owed = int(after // (window * (1 + ACK_READ_SLACK))) if window else 0
    acks = _acks(log)
    seqs = [a.message.sequence for a in acks]  # type: ignore[union-attr]
    out: list[Finding] = []
    if not acks:
        return [failed("CTRL-1", "the server never sent an Acknowledgement",
                       expected=f">= {owed} acks (window {window}, {after} bytes sent after announcing it)",
                       actual="no Acknowledgement (type 3)", window=window, bytes_after=after)]
    if len(acks) < owed:
        out.append(failed("CTRL-1", "too few Acknowledgements for the bytes sent",
                          expected=f">= {owed} acks (window {window}, {after} bytes after the window was set)",
                          actual=f"{len(acks)} acks: {seqs}", window=window, bytes_after=after))
    else:
        out.append(passed("CTRL-1", f"{len(acks)} acks for {after} bytes at window {window}: {seqs}",
                          sequences=seqs))
    for prev, cur in itertools.pairwise(acks):
        p, c = prev.message.sequence, cur.message.sequence  # type: ignore[union-attr]
        if serial_delta(c, p) <= 0:  # not after p in 32-bit serial arithmetic (counters wrap)
            out.append(failed("CTRL-1", "Acknowledgement sequence numbers do not increase",
                              expected=f"> {p}", actual=str(c), message_index=cur.index))
            break
    return out


def _c2s_bytes_by(log: WireLog, t: float) -> int:
    """Client bytes written at or before time ``t``."""
    total = 0
    for e in log.events:
        if e.direction == C2S and e.time <= t:
            total = e.offset + len(e.data)
    return total


def check_ack_sequence(log: WireLog) -> list[Finding]:
    """CTRL-2: each Acknowledgement counts the bytes received so far, within ±3073 (handshake).

    Bounds per ack: it cannot count more than the client had written when the ack arrived
    (``hi``), and it counts at least everything up to the last PingRequest the server had
    already answered before sending it (``lo``) — the server read that far.
    """
    acks = _acks(log)
    if not acks:
        return [failed("CTRL-1", "the server never sent an Acknowledgement, so its sequence numbers "
                       "cannot be checked", expected="Acknowledgement (type 3) messages", actual="none")]
    answered: list[tuple[int, int]] = []  # (s2c index of the PingResponse, c2s end offset of the request)
    for req in ping_requests(log):
        resp = ping_response_for(log, req)
        if resp is not None:
            answered.append((resp.index, req.end_offset))
    out: list[Finding] = []
    offsets = []
    for a in acks:
        seq = a.message.sequence  # type: ignore[union-attr]
        hi = _c2s_bytes_by(log, a.time)
        lo = max((end for idx, end in answered if idx < a.index), default=0)
        offsets.append(seq - hi)
        if not (lo - ACK_SLACK <= seq <= hi + ACK_SLACK):
            out.append(failed("CTRL-2", "Acknowledgement sequence number is not the byte count received",
                              expected=f"{lo - ACK_SLACK}..{hi + ACK_SLACK} (bytes received so far ±3073)",
                              actual=str(seq), verdict=Verdict.NON_STRICT, message_index=a.index))
            break
    if not out:
        lag = min(offsets)
        counts = "include" if lag > -ACK_SLACK // 2 else "exclude"
        out.append(passed("CTRL-2", f"{len(acks)} ack sequence numbers match the bytes sent (they {counts} "
                          f"the handshake; smallest seq - bytes written: {lag})", seq_minus_sent=offsets))
    return out


# -- CTRL-3 / CTRL-4: Set Peer Bandwidth -------------------------------------------------------


def check_window_reply_not_required(log: WireLog) -> list[Finding]:
    """CTRL-3: the session works although the client never answered Set Peer Bandwidth."""
    sent = [m for m in messages(log, C2S) if isinstance(m.message, WindowAckSize)]
    if sent:
        return [failed("CTRL-3", "scenario error: the client did send a Window Acknowledgement Size",
                       verdict=Verdict.ERROR)]
    spb = [m for m in messages(log) if isinstance(m.message, SetPeerBandwidth)]
    started = [m for m, st in statuses(log) if st.get("code") == "NetStream.Publish.Start"]
    sent_spb = ", ".join(f"{m.message.size}/{m.message.limit_type}" for m in spb)  # type: ignore[union-attr]
    if not spb:
        # Nothing was left unanswered: the requirement was not exercised.
        return [not_run("CTRL-3", "the server sent no Set Peer Bandwidth, so the client had nothing to leave "
                        "unanswered" + (" (publish started)" if started else ""))]
    if started:
        return [passed("CTRL-3", "publish started without a Window Acknowledgement Size from the client "
                       f"(server's Set Peer Bandwidth: {sent_spb})", message_index=started[0].index)]
    outcome = session_outcome(log)
    return [failed("CTRL-3", "the session did not reach NetStream.Publish.Start when the client "
                   "left Set Peer Bandwidth unanswered (FFmpeg/OBS may not answer)",
                   expected="NetStream.Publish.Start", actual=_outcome_text(outcome),
                   verdict=Verdict.NON_STRICT)]


def expected_window_replies(announced: int | None, sent: Sequence[tuple[int, int]]) -> list[int | None]:
    """CTRL-4 semantics: the Window Ack Size each Set Peer Bandwidth should trigger (None = none).

    Hard: use the value. Soft: min(current, new). Dynamic: as Hard if the previous limit was
    Hard (or none yet), else ignored. Unknown limit types are ignored. A reply is due when the
    resulting window differs from the last Window Ack Size the receiver announced (§5.4.5).
    """
    current: int | None = None
    prev: int | None = None
    out: list[int | None] = []
    for size, kind in sent:
        if kind == LimitType.HARD:
            new: int | None = size
        elif kind == LimitType.SOFT:
            new = size if current is None else min(current, size)
        elif kind == LimitType.DYNAMIC and prev in (None, LimitType.HARD):
            new = size
        else:
            new = None
        if new is None:
            out.append(None)
            continue
        current = new
        prev = LimitType.HARD if kind == LimitType.DYNAMIC else kind
        if new != announced:
            announced = new
            out.append(new)
        else:
            out.append(None)
    return out


def check_peer_bandwidth_replies(log: WireLog) -> list[Finding]:
    """CTRL-4: Window Ack Size replies to a series of Set Peer Bandwidth (recorded; SHOULD).

    Replies are attributed by time: a Window Ack Size that arrived after one Set Peer Bandwidth
    was sent and before the next one belongs to it (the scenario probes in between).
    """
    sent = [m for m in messages(log, C2S) if isinstance(m.message, SetPeerBandwidth)]
    if not sent:
        return [failed("CTRL-4", "scenario error: no Set Peer Bandwidth sent", verdict=Verdict.ERROR)]
    wins = [m for m in messages(log) if isinstance(m.message, WindowAckSize)]
    before = [m for m in wins if m.time < sent[0].time]
    announced = before[-1].message.size if before else None  # type: ignore[union-attr]
    pairs = [(m.message.size, m.message.limit_type) for m in sent]  # type: ignore[union-attr]
    want = expected_window_replies(announced, pairs)
    got: list[int | None] = []
    for i, s in enumerate(sent):
        end = sent[i + 1].time if i + 1 < len(sent) else float("inf")
        mine = [m.message.size for m in wins if s.time <= m.time < end]  # type: ignore[union-attr]
        got.append(mine[-1] if mine else None)
    out: list[Finding] = []
    outcome = session_outcome(log)
    if outcome in (CLOSED, RESET):
        out.append(failed("CTRL-4", "the server dropped the connection after a Set Peer Bandwidth",
                          expected="session continues", actual=_outcome_text(outcome),
                          verdict=Verdict.NON_STRICT))
    desc = ", ".join(f"{s}/{k}" for s, k in pairs)
    if want == got:
        out.append(passed("CTRL-4", f"Window Ack Size replies follow the limit-type rules for {desc}: {got}"))
    else:
        out.append(info("CTRL-4", f"Window Ack Size replies to Set Peer Bandwidth {desc} differ from the "
                        f"Hard/Soft/Dynamic rules (expected {want}, got {got}; None = no reply)"))
    return out


# -- CTRL-7: StreamBegin ------------------------------------------------------------------------


def check_stream_begin(log: WireLog, stream_id: int, *, before: str) -> list[Finding]:
    """CTRL-7: StreamBegin(stream_id), ideally before the reply ``before`` (``_result`` or an onStatus code).

    The server SHOULD send it (§7.2.1.1 step 5, §7.2.2.1): absent is NON_STRICT, late is recorded.
    """
    begins = [m for m in messages(log) if is_user_control(m, UserControlEvent.STREAM_BEGIN)
              and m.message.stream_id == stream_id]  # type: ignore[union-attr]
    if before == "_result":
        anchor = connect_reply(log)
    else:
        anchor = next((m for m, st in statuses(log) if st.get("code") == before), None)
    if not begins:
        return [failed("CTRL-7", f"no StreamBegin({stream_id}) from the server",
                       expected=f"User Control StreamBegin {stream_id} (around {before})",
                       actual="none" + ("" if anchor else f"; {before} not seen either"),
                       verdict=Verdict.NON_STRICT)]
    first = begins[0]
    if anchor is not None and first.index > anchor.index:
        return [passed("CTRL-7", f"StreamBegin({stream_id}) sent", message_index=first.index),
                info("CTRL-7", f"StreamBegin({stream_id}) came after {before} (spec order puts it first)")]
    return [passed("CTRL-7", f"StreamBegin({stream_id}) sent before {before}", message_index=first.index)]


# -- CTRL-13: aggregates --------------------------------------------------------------------------


def received_video(log: WireLog) -> list[tuple[int, int, bytes, int]]:
    """Coded (non sequence header) video the player got: (timestamp, msid, payload, message index).

    Aggregates are split (§7.1.6: the aggregate's msid and timestamp offset apply).
    """
    out: list[tuple[int, int, bytes, int]] = []
    for m in messages(log):
        raw = m.raw
        subs = []
        if isinstance(m.message, Aggregate):
            try:
                subs = m.message.sub_messages(raw.msid, raw.timestamp)
            except Exception:  # noqa: BLE001 - a malformed aggregate from the server is just not video
                subs = []
        elif raw.type_id == 9:
            subs = [raw]
        for s in subs:
            if s.type_id == 9 and not media.is_video_sequence_header(s.payload):
                out.append((s.timestamp, s.msid, bytes(s.payload), m.index))
    return out


def check_aggregate_delivery(log: WireLog, *, plain: tuple[int, bytes], subs: Sequence[tuple[int, bytes]],
                             msid: int | None = None) -> list[Finding]:
    """CTRL-13: the sub-messages of an aggregate reach the player shifted by its offset.

    ``plain`` is a frame published normally just before (timestamp, payload); ``subs`` are the
    expected (timestamp after the offset, payload) of the aggregate's video sub-messages.
    Frames are recognised by payload. Exact timestamps PASS; the same spacing from ``plain``
    (a server that rebases per player) passes with a note; no sub frame at all means the
    server drops aggregates (UNIMPLEMENTED); anything else FAILs.
    """
    got = received_video(log)
    by_payload: dict[bytes, tuple[int, int, bytes, int]] = {}
    for g in got:
        by_payload.setdefault(g[2], g)
    found = [by_payload.get(p) for _, p in subs]
    expected = [t for t, _ in subs]
    if not any(found):
        return [failed("CTRL-13", "no frame of the aggregate reached the player (aggregates dropped?)",
                       expected=f"video at {expected}", actual=f"{len(got)} other video frame(s)",
                       verdict=Verdict.UNIMPLEMENTED)]
    if not all(found):
        return [failed("CTRL-13", "only part of the aggregate's sub-messages reached the player",
                       expected=f"{len(subs)} frames at {expected}",
                       actual=f"{sum(1 for f in found if f)} frames")]
    actual = [f[0] for f in found if f]
    out: list[Finding] = []
    if msid is not None and any(f[1] != msid for f in found if f):
        bad = next(f for f in found if f and f[1] != msid)
        out.append(failed("CTRL-13", "aggregate sub-message delivered on the wrong message stream",
                          expected=f"msid {msid}", actual=f"msid {bad[1]}", message_index=bad[3]))
    base = by_payload.get(plain[1])
    if actual == expected:
        out.append(passed("CTRL-13", f"aggregate sub-messages delivered at {actual}"))
    elif base is not None and [a - base[0] for a in actual] == [e - plain[0] for e in expected]:
        out.append(passed("CTRL-13", "aggregate offset applied (player timeline rebased)"))
        out.append(info("CTRL-13", f"player timestamps rebased: {actual} for published {expected}"))
    elif base is None and [a - actual[0] for a in actual] == [e - expected[0] for e in expected]:
        out.append(info("CTRL-13", f"sub-message spacing kept but the timeline was rebased ({actual} for "
                        f"{expected}); the offset cannot be verified without the preceding frame"))
    else:
        out.append(failed("CTRL-13", "aggregate sub-message timestamps not shifted by (aggregate ts - first sub ts)",
                          expected=str(expected), actual=str(actual), message_index=found[0][3] if found[0] else None))
    return out


__all__ = [
    "check_ack_sequence", "check_acknowledgements", "check_aggregate_delivery", "check_peer_bandwidth_replies",
    "check_ping_echo", "check_rejected_or_ignored", "check_stream_begin", "check_tolerated",
    "check_user_control_channel", "check_window_reply_not_required", "expected_window_replies", "received_video",
]
