"""Robustness: abuse that must leave the server bounded, responsive and available (catalogue ROB-1..8).

A remote server's memory cannot be seen from the wire, so these checkers judge what can be seen:
whether the abusive connection was closed (the catalogue's expected outcome for a blown limit),
whether it still answers pings, and above all whether a *fresh* connection made right after the
abuse completes its handshake and ``connect`` promptly (the server is up and not busy-looping).

``open_fresh_session`` is a scenario step, not a checker; it lives here because every robustness
case (and the E-RTMP cases that send unknown data) ends with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rtmpconf.harness.checks.session import connect_reply, server_closed
from rtmpconf.harness.verdict import Finding, Verdict, failed, info, not_run, passed
from rtmpconf.harness.wirelog import C2S, S2C, DecodedMessage, WireLog
from rtmpconf.rtmp.messages import Acknowledgement, Command, UserControl, UserControlEvent, WindowAckSize, status_info

if TYPE_CHECKING:
    from rtmpconf.harness.client import RtmpClient

#: A fresh handshake + connect on loopback takes a few ms; a server that needs longer than this
#: after an abuse is stuck (busy loop, blocked event loop) even if it answers eventually.
FRESH_CONNECT_BUDGET_S = 2.0
#: Bytes of a complete simple handshake in one direction (C0+C1+C2 or S0+S1+S2).
HANDSHAKE_BYTES = 1 + 2 * 1536


# -- scenario step -------------------------------------------------------------------------------


async def open_fresh_session(ctx: Any, label: str = "fresh", timeout: float = FRESH_CONNECT_BUDGET_S) -> WireLog:
    """Open a new connection, handshake and ``connect``; return its wire log whatever happens.

    ``ctx`` is the case's ``rtmp`` fixture (anything with ``client(label=..., timeout=...)``).
    Every failure (refused TCP connect, timeout, close) is left for ``check_server_alive`` to judge
    from the log, so the calling case never dies on an exception here. The log carries the time
    budget for the link in use as ``time_budget_s``: two exchanges (handshake, connect), what the
    link still carried, and the time an emulated link spent holding bytes meanwhile.
    """
    from rtmpconf.harness.client import PeerClosed, StepTimeout  # scenario-only import
    from rtmpconf.harness.timing import busy_meter

    c: RtmpClient = ctx.client(label=label, timeout=timeout)
    budget = c.timing.within(timeout, exchanges=2)
    async with busy_meter(c.timing) as busy:
        try:
            async with c:
                await c.handshake()
                await c.connect()
        except (StepTimeout, PeerClosed, OSError) as exc:
            c.log.note(f"fresh session failed: {exc}")
        except Exception as exc:  # noqa: BLE001 - a protocol error from a broken server is a finding too
            c.log.note(f"fresh session failed: {type(exc).__name__}: {exc}")
    c.log.time_budget_s = budget + busy[0]
    return c.log


# -- shared helpers ------------------------------------------------------------------------------


def is_connect_success(reply: DecodedMessage | None) -> bool:
    """True for a ``_result`` carrying NetConnection.Connect.Success (or no info object at all);
    stricter than :func:`harness.checks.session.connect_succeeded`, which takes any ``_result``."""
    if reply is None or not isinstance(reply.message, Command) or reply.message.name != "_result":
        return False
    for arg in reply.message.arguments:
        if isinstance(arg, dict) and "code" in arg:
            return arg.get("code") == "NetConnection.Connect.Success"
    return True


def ping_answered_after(log: WireLog, offset: int) -> bool:
    """A PingResponse arrived after the client had sent its first ``offset`` bytes, answering a ping
    that was not sent before them.

    The client's own bytes after ``offset`` are not decoded: after an abuse (Set Chunk Size 0, a
    flood) our decoder may be unable to follow them, while the server may well have coped.
    """
    if offset <= 0 or log.total(C2S) < offset:
        return False
    sent_at = log.time_at(C2S, offset - 1)
    earlier = {bytes(m.message.data[:4]) for m in log.decode(C2S).messages
               if m.end_offset <= offset and isinstance(m.message, UserControl)
               and m.message.event == UserControlEvent.PING_REQUEST}
    return any(m.time >= sent_at and isinstance(m.message, UserControl)
               and m.message.event == UserControlEvent.PING_RESPONSE and bytes(m.message.data[:4]) not in earlier
               for m in log.decode(S2C).messages)


def command_answered_after(log: WireLog, offset: int) -> bool:
    """A ``_result``/``_error`` arrived after the client had sent its first ``offset`` bytes: a
    command sent after them was processed. The liveness proof for a server that never answers
    PingRequest (Node-Media-Server, CTRL-10)."""
    if offset <= 0 or log.total(C2S) < offset:
        return False
    sent_at = log.time_at(C2S, offset - 1)
    return any(m.time >= sent_at and isinstance(m.message, Command) and m.message.name in ("_result", "_error")
               for m in log.decode(S2C).messages)


def _fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


# -- checkers ------------------------------------------------------------------------------------


def check_server_alive(fresh: WireLog, *, rule: str, budget_s: float | None = None,
                       after: str = "the abuse") -> list[Finding]:
    """A fresh connection completes S0S1S2 and gets connect ``_result`` within ``budget_s`` (by
    default the budget the scenario gave the session for its link, else FRESH_CONNECT_BUDGET_S).

    Failing this after an abuse means the server crashed, stopped accepting or is busy-looping:
    a MUST-level failure for every robustness rule.
    """
    if budget_s is None:
        budget_s = fresh.time_budget_s or FRESH_CONNECT_BUDGET_S
    s2c = fresh.total(S2C)
    start = fresh.first_time(C2S)
    notes = "; ".join(fresh.notes[-2:])
    if s2c < HANDSHAKE_BYTES:
        return [failed(rule, f"a new connection after {after} did not complete the handshake "
                       "(server crashed, stopped accepting, or is stuck)",
                       expected=f"S0+S1+S2 ({HANDSHAKE_BYTES} bytes) within {budget_s:g} s",
                       actual=f"{s2c} bytes" + (f"; {notes}" if notes else ""))]
    reply = connect_reply(fresh)
    if reply is None:
        return [failed(rule, f"a new connection after {after} got no reply to connect",
                       expected=f"connect _result within {budget_s:g} s",
                       actual=("connection closed" if server_closed(fresh) else "no reply") +
                       (f"; {notes}" if notes else ""))]
    if not is_connect_success(reply):
        return [failed(rule, f"a new connection after {after} was refused",
                       expected="_result NetConnection.Connect.Success",
                       actual=f"{reply.message.name} {reply.message.arguments!r}"[:200],  # type: ignore[union-attr]
                       message_index=reply.index)]
    elapsed = reply.time - start if start is not None else 0.0
    if elapsed > budget_s:
        return [failed(rule, f"a new connection after {after} was served only after {_fmt_s(elapsed)} "
                       "(the server is busy or blocked)", expected=f"under {budget_s:g} s",
                       actual=_fmt_s(elapsed))]
    return [passed(rule, f"a new connection after {after} completed handshake + connect in {_fmt_s(elapsed)}",
                   connect_ms=round(elapsed * 1000, 1))]


def _abuse_outcome(log: WireLog, *, rule: str, abuse_end: int, what: str,
                   open_verdict: Verdict = Verdict.INFORMATIONAL) -> Finding:
    """How the server treated the abusive connection: closed, or kept and still answering."""
    if server_closed(log):
        how = "reset" if log.reset else "closed"
        return passed(rule, f"the server {how} the connection after {what}",
                      close_after_ms=round(((log.close_time or 0) - (log.first_time(C2S) or 0)) * 1000, 1))
    if ping_answered_after(log, abuse_end):
        f = info(rule, f"the server kept the connection after {what} and still answers pings "
                 "(memory use is not observable from the wire)")
        return f if open_verdict is Verdict.INFORMATIONAL else \
            failed(rule, f.message, expected="a close", actual="connection kept", verdict=open_verdict)
    return failed(rule, f"after {what} the connection stayed open but the server stopped answering pings "
                  "(stuck parser or busy loop)", expected="a close, or a PingResponse",
                  actual="open and silent", verdict=Verdict.NON_STRICT)


def check_partial_flood(abuse: WireLog, fresh: WireLog, *, abuse_end: int, streams: int) -> list[Finding]:
    """ROB-1: ``streams`` chunk streams each start a 0xFFFFFF-byte message and send a byte of it.

    Expected: the server bounds the parked bytes and closes the connection; either way it stays
    available. Keeping the connection is recorded (memory is not visible from the wire).
    """
    out = [_abuse_outcome(abuse, rule="ROB-1", abuse_end=abuse_end,
                          what=f"{streams} chunk streams each announced a 16 MiB message")]
    out += check_server_alive(fresh, rule="ROB-1", after="the partial-message flood")
    return out


def check_bad_chunk_size(abuse: WireLog, fresh: WireLog, *, abuse_end: int, value: int) -> list[Finding]:
    """ROB-2 / CH-15: Set Chunk Size ``value`` (0 or bit 31 set) is refused without a busy loop.

    Legal outcomes: a close, or the value ignored (the connection keeps answering pings, or a
    one-chunk command, sent after it). A connection that goes silent, or a slow fresh connection,
    means a loop.
    """
    what = f"Set Chunk Size 0x{value:08X}"
    out: list[Finding] = []
    if server_closed(abuse):
        out.append(passed("ROB-2", f"the server closed the connection after {what}"))
    elif ping_answered_after(abuse, abuse_end):
        out.append(passed("ROB-2", f"the server ignored {what} and still answers pings at the old chunk size"))
    elif command_answered_after(abuse, abuse_end):
        out.append(passed("ROB-2", f"after {what} the server still answers a command (it never answers pings)"))
    else:
        out.append(failed("ROB-2", f"after {what} the connection stayed open but the server stopped "
                          "answering (it may be looping on a zero or negative chunk size)",
                          expected="a close, or a PingResponse", actual="open and silent"))
    out += check_server_alive(fresh, rule="ROB-2", after=what)
    return out


def check_csid_flood(abuse: WireLog, fresh: WireLog, *, abuse_end: int, streams: int) -> list[Finding]:
    """ROB-3: small complete messages on ``streams`` distinct chunk stream ids stay bounded.

    Both a close (a chunk-stream limit) and accepting them all are legal; the server must stay up.
    """
    out: list[Finding] = []
    if server_closed(abuse):
        out.append(passed("ROB-3", f"the server closed the connection while {streams} chunk streams were "
                          "opened (a chunk-stream limit)"))
    elif ping_answered_after(abuse, abuse_end):
        out.append(passed("ROB-3", f"the server accepted {streams} chunk streams and still answers pings"))
    else:
        out.append(failed("ROB-3", f"after {streams} chunk streams the connection stayed open but the "
                          "server stopped answering", expected="a close, or a PingResponse",
                          actual="open and silent", verdict=Verdict.NON_STRICT))
    out += check_server_alive(fresh, rule="ROB-3", after=f"opening {streams} chunk streams")
    return out


def check_stalled_socket(stalled: WireLog, fresh: WireLog, *, window_s: float, what: str) -> list[Finding]:
    """ROB-4: a stalled connection must not block others; whether it is closed soon is recorded.

    The catalogue asks for a timeout (nginx 60 s, SRS 30 s, the reference 10 s); waiting that long
    would break the suite's budget, so only the short window is observed and reported.
    """
    out = check_server_alive(fresh, rule="ROB-4", after=f"{what} (still open)")
    if server_closed(stalled):
        t0 = stalled.first_time(C2S) or stalled.close_time or 0.0
        after = (stalled.close_time or t0) - t0
        out.append(info("ROB-4", f"the server closed the stalled connection ({what}) after {_fmt_s(after)}"))
    else:
        out.append(info("ROB-4", f"the stalled connection ({what}) was still open after {window_s:g} s "
                        "(a longer timeout is allowed; not waited for)"))
    return out


UNPUBLISH_CODES = ("NetStream.Play.UnpublishNotify", "NetStream.Play.Stop", "NetStream.Play.Complete")


def player_end_notice(player: WireLog, after: float) -> DecodedMessage | None:
    """The first StreamEOF / UnpublishNotify / Play.Stop the player got at or after time ``after``."""
    for m in player.decode(S2C).messages:
        if m.time < after:
            continue
        msg = m.message
        if isinstance(msg, UserControl) and msg.event == UserControlEvent.STREAM_EOF:
            return m
        st = status_info(msg) if msg is not None else None
        if st is not None and st.get("code") in UNPUBLISH_CODES:
            return m
    return None


def check_publisher_reset(player: WireLog, republish: dict[str, Any] | None, *, reset_time: float,
                          republish_log: WireLog | None = None) -> list[Finding]:
    """ROB-5 / CMD-19: after the publisher's RST mid-chunk the player is told and the name is free."""
    out: list[Finding] = []
    notice = player_end_notice(player, reset_time)
    if notice is None:
        out.append(failed("ROB-5", "the player was not told that the publisher vanished",
                          expected="StreamEOF and/or onStatus NetStream.Play.UnpublishNotify (or Play.Stop)",
                          actual="nothing" + (" (player connection closed)" if server_closed(player) else "")))
    else:
        delay = notice.time - reset_time
        out.append(passed("ROB-5", f"player notified {_fmt_s(delay)} after the publisher's reset",
                          message_index=notice.index, delay_ms=round(delay * 1000, 1)))
    code = (republish or {}).get("code")
    if code == "NetStream.Publish.Start":
        out.append(passed("ROB-5", "an immediate republish of the same name was accepted"))
    else:
        closed = republish_log is not None and server_closed(republish_log)
        out.append(failed("ROB-5", "the name was not freed for an immediate republish after the reset",
                          expected="NetStream.Publish.Start",
                          actual=str(code) if code else ("connection closed" if closed else "no onStatus")))
    return out


def check_stray_media_not_relayed(player: WireLog, stray: Sequence[bytes], *, where: str) -> list[Finding]:
    """ROB-6: media the server must ignore (``stray`` payloads) never reaches a player."""
    wanted = {bytes(p) for p in stray}
    leaked = [m for m in player.decode(S2C).messages if m.raw.type_id in (8, 9) and bytes(m.raw.payload) in wanted]
    media = sum(1 for m in player.decode(S2C).messages if m.raw.type_id in (8, 9))
    if not leaked and not media:
        # A player that got nothing at all cannot show that stray media was held back.
        return [not_run("ROB-6", f"the player received no media at all, so media sent {where} had no way to "
                        "show up; nothing to judge")]
    if leaked:
        m = leaked[0]
        return [failed("ROB-6", f"media sent {where} was relayed to a player",
                       expected="ignored or rejected", actual=f"{len(leaked)} of {len(wanted)} stray messages "
                       f"relayed (first: type {m.raw.type_id}, ts {m.raw.timestamp})", message_index=m.index)]
    return [passed("ROB-6", f"none of the {len(wanted)} messages sent {where} reached the player "
                   f"({media} legitimate media messages did)")]


def publish_outcome(log: WireLog, publish_offset: int) -> tuple[str, DecodedMessage | None]:
    """What followed a publish command sent at c2s ``publish_offset``.

    Returns ("start" | "refused" | "closed" | "none", message). "refused" is any onStatus with level
    error or a NetStream.Publish.BadName, or an ``_error`` reply.
    """
    t0 = log.time_at(C2S, publish_offset) if log.total(C2S) > publish_offset else 0.0
    for m in log.decode(S2C).messages:
        if m.time < t0:
            continue
        msg = m.message
        st = status_info(msg) if msg is not None else None
        if st is not None:
            code = str(st.get("code", ""))
            if code == "NetStream.Publish.Start":
                return "start", m
            if st.get("level") == "error" or code.endswith("BadName") or "Failed" in code or "Rejected" in code:
                return "refused", m
        elif isinstance(msg, Command) and msg.name == "_error":
            return "refused", m
    if server_closed(log):
        return "closed", None
    return "none", None


def check_unsafe_name_refused(log: WireLog, *, name: str, publish_offset: int) -> list[Finding]:
    """ROB-7: publishing ``name`` (empty or path-unsafe) is refused: an error status, ``_error`` or a close."""
    outcome, m = publish_outcome(log, publish_offset)
    shown = repr(name)
    if outcome == "start":
        return [failed("ROB-7", f"publish of the unsafe name {shown} was accepted",
                       expected="NetStream.Publish.BadName (level error), _error, or a close",
                       actual="NetStream.Publish.Start", message_index=m.index if m else None)]
    if outcome == "refused":
        assert m is not None
        st = status_info(m.message) if m.message is not None else None
        what = st.get("code") if st else getattr(m.message, "name", "?")
        return [passed("ROB-7", f"publish of {shown} refused with {what}", message_index=m.index)]
    if outcome == "closed":
        return [passed("ROB-7", f"publish of {shown} refused by closing the connection")]
    return [failed("ROB-7", f"publish of {shown} got no answer: neither refused nor started",
                   expected="NetStream.Publish.BadName, _error, or a close", actual="silence",
                   verdict=Verdict.NON_STRICT)]


def announced_window(log: WireLog) -> int | None:
    """The Window Acknowledgement Size the server announced to this client, if any."""
    for m in log.decode(S2C).messages:
        if isinstance(m.message, WindowAckSize):
            return int(m.message.size)
    return None


def check_player_without_acks(player: WireLog, sent: Sequence[bytes]) -> list[Finding]:
    """ROB-8: a player that never acknowledges still receives everything past the server's window."""
    out: list[Finding] = []
    acks = [m for m in player.decode(C2S).messages if isinstance(m.message, Acknowledgement)]
    window = announced_window(player)
    received = [bytes(m.raw.payload) for m in player.decode(S2C).messages if m.raw.type_id in (8, 9)]
    got = set(received)
    missing = [i for i, p in enumerate(sent) if bytes(p) not in got]
    s2c = player.total(S2C)
    # The requirement is exercised only when a player that never acks is owed more than the window.
    if acks:
        out.append(not_run("ROB-8", f"the player sent {len(acks)} Acknowledgement(s); the scenario did not "
                           "exercise a non-acking client"))
    if window is None:
        out.append(not_run("ROB-8", "the server announced no Window Acknowledgement Size to the player: a "
                           "client that never acks broke no agreement"))
    elif s2c <= window and not missing:
        out.append(not_run("ROB-8", f"only {s2c} bytes were sent, below the announced window of {window}; the "
                           "window was not exceeded"))
    if missing:
        out.append(failed("ROB-8", "the server stopped sending to a player that never acknowledges",
                          expected=f"all {len(sent)} media messages ({s2c} bytes so far, window {window})",
                          actual=f"{len(sent) - len(missing)} delivered; first missing #{missing[0]}"))
    else:
        out.append(passed("ROB-8", f"all {len(sent)} media messages ({s2c} bytes, window {window}) reached a "
                          "player that never acknowledged", bytes=s2c))
    return out


def check_publisher_acked(pub: WireLog, *, window: int) -> list[Finding]:
    """ROB-8 (other direction, recorded): does the server acknowledge a publisher's announced window?

    A server that never acks stalls publishers that enforce their window; FFmpeg and OBS do not
    enforce it, so this is recorded, not judged.
    """
    c2s_bytes = pub.total(C2S)
    acks = [m for m in pub.decode(S2C).messages if isinstance(m.message, Acknowledgement)]
    if c2s_bytes <= window:
        return [not_run("ROB-8", f"the publisher sent only {c2s_bytes} bytes, not more than its window {window}: "
                        "no acknowledgement was due")]
    if acks:
        last = acks[-1].message.sequence  # type: ignore[union-attr]
        return [info("ROB-8", f"the server sent {len(acks)} Acknowledgement(s) for a {window}-byte window "
                     f"({c2s_bytes} bytes published; last ack at {last})", acks=len(acks))]
    return [info("ROB-8", f"the server sent no Acknowledgement for {c2s_bytes} published bytes with a "
                 f"{window}-byte window (a publisher that enforces its window would stall)")]


def check_dead_publisher_released(attempts: Sequence[tuple[float, str]], *, idle_timeout: float,
                                  margin: float, rule: str = "ROB-9") -> list[Finding]:
    """ROB-9: republish attempts ``(seconds after the publisher went silent, onStatus code or
    "no answer")`` while the first publisher stays silent without closing; the name must come free
    within ``idle_timeout`` (+ ``margin`` for the server's timer granularity)."""
    ok = next(((t, code) for t, code in attempts if code == "NetStream.Publish.Start"), None)
    if ok is not None:
        return [passed(rule, f"the name came free {ok[0]:.1f} s after the publisher went silent "
                       f"(idle timeout {idle_timeout:g} s; {len(attempts)} attempt(s))")]
    last = attempts[-1] if attempts else (0.0, "none made")
    codes = sorted({code for _, code in attempts})
    return [failed(rule, f"a silent publisher that never closed still held its name {last[0]:.1f} s later",
                   expected=f"NetStream.Publish.Start within {idle_timeout:g} s (+{margin:g} s)",
                   actual=f"{len(attempts)} attempts answered {', '.join(codes)}")]
