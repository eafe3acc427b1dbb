"""AMF0 decoding as a server shows it (catalogue AMF-1..6).

A server's AMF decoder is only visible through what it does with the values: whether it
answers ``connect``, and what a player receives when it relays metadata. These checkers read
both. Raw AMF vectors for the cases are built here too (:func:`raw_string` & co.), so a unit
test and a case use the very same bytes.
"""

from __future__ import annotations

import struct
from typing import Any

from rtmpconf.harness.checks.commands import metadata_seen
from rtmpconf.harness.checks.session import (
    ALIVE,
    CLOSED,
    RESET,
    connect_reply,
    server_down,
    session_outcome,
)
from rtmpconf.harness.verdict import Finding, Verdict, failed, not_run, passed
from rtmpconf.harness.wirelog import WireLog
from rtmpconf.rtmp import amf0

# -- raw AMF0 builders (for bytes the encoder will not produce) --------------------------------------


def raw_key(name: str) -> bytes:
    """An object property name: U16 length + UTF-8 (AMF0 §2.11), no marker."""
    data = name.encode()
    return struct.pack(">H", len(data)) + data


def raw_string(text: str) -> bytes:
    """0x02 string: U16 length + UTF-8."""
    return b"\x02" + raw_key(text)


def raw_long_string(text: str) -> bytes:
    """0x0C long string: U32 length + UTF-8, whatever the length (AMF-3)."""
    data = text.encode()
    return b"\x0c" + struct.pack(">I", len(data)) + data


def raw_object(pairs: list[tuple[str, bytes]]) -> bytes:
    """0x03 object from (key, already-encoded value) pairs, ended by 00 00 09."""
    return b"\x03" + b"".join(raw_key(k) + v for k, v in pairs) + b"\x00\x00\x09"


def raw_ecma(pairs: list[tuple[str, bytes]], count: int) -> bytes:
    """0x08 ECMA array with an explicit (possibly wrong) U32 count (AMF-2), ended by 00 00 09."""
    return b"\x08" + struct.pack(">I", count) + b"".join(raw_key(k) + v for k, v in pairs) + b"\x00\x00\x09"


def raw_value(value: Any) -> bytes:
    """A value the encoder can write, as bytes."""
    return amf0.encode_value(value)


# -- checkers -------------------------------------------------------------------------------------------


def _short(value: Any) -> str:
    if isinstance(value, str) and len(value) > 40:
        return f"str of {len(value)} chars ({value[:12]!r}...)"
    return repr(value)


def check_metadata_values(pub: WireLog, player: WireLog, expected: dict[str, Any], *, rule: str,
                          control_key: str = "control") -> list[Finding]:
    """The player receives the publisher's metadata values exactly (AMF-2/3/4).

    The publisher sends the vector under test, then a well-formed onMetaData carrying
    ``control_key``. The vector's keys with the same values PASS; missing keys or different
    values FAIL (the decoder stopped early or misread); the control arriving without the vector
    FAILs (the server dropped what it could not parse); a server that regenerates metadata never
    shows how it decoded the vector (NOT-RUN); one that relays none at all is NON_STRICT.
    """
    outcome = session_outcome(pub)
    if outcome in (CLOSED, RESET):
        return [failed(rule, "the publisher's connection was dropped after well-formed AMF0 metadata",
                       expected="publisher session goes on", actual=f"server {outcome} it")]
    seen = metadata_seen(player)
    vector = [(m, obj) for m, obj in seen if isinstance(obj, dict) and any(k in obj for k in expected)]
    control = [(m, obj) for m, obj in seen if isinstance(obj, dict) and control_key in obj]
    if vector:
        m, obj = vector[0]
        missing = [k for k in expected if k not in obj]
        wrong = [k for k in expected if k in obj and obj[k] != expected[k]]
        if missing:
            return [failed(rule, "metadata reached the player with properties missing",
                           expected=f"{len(expected)} properties ({', '.join(expected)})",
                           actual=f"missing {missing}", message_index=m.index)]
        if wrong:
            k = wrong[0]
            return [failed(rule, f"metadata property {k!r} changed on the way",
                           expected=_short(expected[k]), actual=_short(obj[k]), message_index=m.index)]
        return [passed(rule, f"all {len(expected)} metadata properties relayed intact", message_index=m.index)]
    if control:
        return [failed(rule, "the server dropped the metadata under test but relayed the well-formed one "
                       "after it", expected=f"properties {list(expected)}", actual="only the control metadata",
                       message_index=control[0][0].index)]
    if seen:
        return [not_run(rule, "the server relays metadata it generated itself (neither the vector's nor the "
                        "control's properties came through): how it decoded the vector is not visible")]
    if outcome != ALIVE:
        return [failed(rule, "publisher session stopped answering after the metadata", expected="session alive",
                       actual=outcome, verdict=Verdict.NON_STRICT)]
    return [failed(rule, "the player got no metadata at all, so the server's decoding cannot be judged",
                   expected="onMetaData relayed", actual="none", verdict=Verdict.NON_STRICT)]


def check_malformed_rejected(log: WireLog, fresh: WireLog | None, what: str, *, invalid: bool = True,
                             rule: str = "AMF-5") -> list[Finding]:
    """AMF-5: a malformed AMF0 ``connect`` is refused (``_error`` or close) without crashing.

    The server must still accept a fresh connection afterwards (FAIL otherwise). Accepting the
    payload is NON_STRICT when it is truly invalid and fine when ``invalid`` is False (a fuzzed
    payload may still be legal AMF0).
    """
    down = server_down(rule, fresh)
    if down is not None:
        return [down]
    reply = connect_reply(log)
    outcome = session_outcome(log)
    if reply is not None and reply.message.name == "_result":  # type: ignore[union-attr]
        if invalid:
            return [failed(rule, f"{what}: accepted", expected="_error or a close",
                           actual="_result NetConnection.Connect.Success", verdict=Verdict.NON_STRICT,
                           message_index=reply.index)]
        return [passed(rule, f"{what}: accepted (still legal AMF0); server stays up")]
    if reply is not None:
        return [passed(rule, f"{what}: refused with _error; server stays up")]
    if outcome in (CLOSED, RESET):
        return [passed(rule, f"{what}: connection {outcome}; server stays up")]
    if outcome == ALIVE:
        return [passed(rule, f"{what}: message ignored (no reply, pings answered); server stays up")]
    return [failed(rule, f"{what}: the connection hangs (no reply, no close, no PingResponse)",
                   expected="_error or a close", actual="silence", verdict=Verdict.NON_STRICT)]
