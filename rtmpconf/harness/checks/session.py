"""Wire-log readers about one session, shared by the checkers: how it ended, the server's replies
by transaction id and its onStatus messages, and whether a fresh connection still works (the
server did not crash).
"""

from __future__ import annotations

from typing import Any

from rtmpconf.harness.verdict import Finding, Verdict, failed, passed
from rtmpconf.harness.wirelog import C2S, S2C, DecodedMessage, Direction, WireLog
from rtmpconf.rtmp.messages import Command, UserControl, UserControlEvent, status_info

ALIVE = "alive"  #: the last PingRequest was answered: everything before it was processed
CLOSED = "closed"  #: the server closed the connection (FIN)
RESET = "reset"  #: the server reset the connection (RST)
SILENT = "silent"  #: still open, but the last PingRequest got no answer


def finding_with(rule: str, verdict: Verdict, message: str, *, expected: str | None = None,
                 actual: str | None = None, **evidence: object) -> Finding:
    """A finding whose verdict the caller chose (PASS and INFORMATIONAL included)."""
    return Finding(rule, verdict, message, expected, actual, dict(evidence))


# -- messages, pings, outcome ----------------------------------------------------------------------


def messages(log: WireLog, direction: Direction = S2C) -> list[DecodedMessage]:
    """The decoded messages of one direction (server to client by default)."""
    return log.decode(direction).messages


def is_user_control(m: DecodedMessage, event: int) -> bool:
    """``m`` is a User Control message of type ``event``."""
    return isinstance(m.message, UserControl) and m.message.event == event


def ping_requests(log: WireLog) -> list[DecodedMessage]:
    """PingRequests the client sent (the scenario's probes)."""
    return [m for m in messages(log, C2S) if is_user_control(m, UserControlEvent.PING_REQUEST)]


def ping_response_for(log: WireLog, request: DecodedMessage) -> DecodedMessage | None:
    """The server's PingResponse echoing ``request``'s 4 bytes, if any."""
    want = request.message.data[:4]  # type: ignore[union-attr]
    for m in messages(log):
        if is_user_control(m, UserControlEvent.PING_RESPONSE) and m.message.data[:4] == want:  # type: ignore[union-attr]
            return m
    return None


def session_outcome(log: WireLog) -> str:
    """How the session stands at the end of the scenario: ALIVE, CLOSED, RESET or SILENT.

    A close by the server wins over an answered ping: a target that answers and then hangs up
    did not tolerate what it got.
    """
    if log.closed_by == S2C:
        return RESET if log.reset else CLOSED
    reqs = ping_requests(log)
    if reqs and ping_response_for(log, reqs[-1]) is not None:
        return ALIVE
    return SILENT


def server_closed(log: WireLog) -> bool:
    """True when the server closed (or reset) the connection during the recorded traffic."""
    return log.closed_by == S2C


def close_state(log: WireLog) -> str:
    """How the connection ended, in words for evidence."""
    if server_closed(log):
        return "the server reset the connection" if log.reset else "the server closed the connection"
    return "the connection stayed open with no answer"


# -- replies and statuses --------------------------------------------------------------------------


def replies(log: WireLog, tid: float) -> list[DecodedMessage]:
    """``_result``/``_error`` the server sent with transaction id ``tid``."""
    return [m for m in messages(log) if isinstance(m.message, Command)
            and m.message.name in ("_result", "_error") and m.message.transaction_id == tid]


def statuses(log: WireLog) -> list[tuple[DecodedMessage, dict[str, Any]]]:
    """Every onStatus the server sent, with its info object."""
    out = []
    for m in messages(log):
        st = status_info(m.message) if m.message is not None else None
        if st is not None:
            out.append((m, st))
    return out


def connect_reply(log: WireLog) -> DecodedMessage | None:
    """The reply to ``connect`` (transaction id 1), ``_result`` or ``_error``."""
    found = replies(log, 1.0)
    return found[0] if found else None


def connect_succeeded(log: WireLog) -> bool:
    """``connect`` got a ``_result`` (whatever its info object says)."""
    reply = connect_reply(log)
    return reply is not None and reply.message.name == "_result"  # type: ignore[union-attr]


# -- is the server still up ------------------------------------------------------------------------


def server_down(rule: str, fresh: WireLog | None) -> Finding | None:
    """A FAIL when a connection opened after the scenario could not connect (the server died)."""
    if fresh is None or connect_succeeded(fresh):
        return None
    what = "closed" if fresh.closed_by == S2C else ("refused or timed out" if not fresh.events else "got no reply")
    return failed(rule, "the server no longer accepts a new connection after this scenario (crashed?)",
                  expected="a fresh connection completes connect", actual=f"fresh connection {what}")


def down_findings(rule: str, fresh: WireLog | None) -> list[Finding]:
    """:func:`server_down` as a list to start a checker's findings with (empty: the server is up)."""
    down = server_down(rule, fresh)
    return [] if down is None else [down]


def check_still_serving(after: WireLog | None, rule: str, what: str) -> list[Finding]:
    """A fresh session (handshake + connect, tid 1) after ``what`` must still work: no crash."""
    if after is None:
        return []
    if replies(after, 1.0):
        return [passed(rule, f"a fresh connection after {what} still completes handshake and connect")]
    return [failed(rule, f"after {what} a fresh connection no longer completes handshake + connect: "
                   "the server crashed or stopped serving", expected="connect _result on a new connection",
                   actual=f"{after.total(S2C)} bytes from the server; {close_state(after)}")]
