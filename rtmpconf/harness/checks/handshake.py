"""Handshake checkers (catalogue HS-1..HS-16, Adobe RTMP 1.0 §5.2)."""

from __future__ import annotations

from rtmpconf.harness.checks.chunking import check_not_answered
from rtmpconf.harness.checks.session import check_still_serving, close_state, finding_with, replies, server_closed
from rtmpconf.harness.verdict import Finding, Verdict, failed, info, passed
from rtmpconf.harness.wirelog import C2S, S2C, WireLog
from rtmpconf.rtmp.handshake import (
    CLIENT_KEY_PARTIAL,
    DIGEST_REPLY_RANDOM_SIZE,
    DIGEST_SIZE,
    HANDSHAKE_SIZE,
    SERVER_KEY,
    SERVER_KEY_PARTIAL,
    DigestScheme,
    digest_offset,
    find_digest_scheme,
    reply_digest,
)

S0S1S2 = 1 + 2 * HANDSHAKE_SIZE


def _u32(b: bytes, off: int) -> int:
    return int.from_bytes(b[off:off + 4], "big")


def check_handshake_layout(log: WireLog, *, simple: bool = True) -> list[Finding]:
    """HS-1, HS-2, HS-7, HS-8, HS-10: sizes, version, S1 zero field, S2 echo of C1."""
    c2s, s2c = log.bytes(C2S), log.bytes(S2C)
    out: list[Finding] = []
    if len(s2c) < S0S1S2:
        return [failed("HS-1", f"server sent {len(s2c)} handshake bytes before "
                       f"{'closing' if log.closed_by else 'the deadline'}",
                       expected=f"S0+S1+S2 = {S0S1S2} bytes", actual=f"{len(s2c)} bytes")]
    out.append(passed("HS-1", "S0+S1+S2 complete (3073 bytes)"))
    s0, s1, s2 = s2c[0], s2c[1:1 + HANDSHAKE_SIZE], s2c[1 + HANDSHAKE_SIZE:S0S1S2]
    c1 = c2s[1:1 + HANDSHAKE_SIZE]
    # §5.2.2: "In S0, this field identifies the RTMP version selected by the server ... 3".
    out.append(passed("HS-2", "S0 = 3") if s0 == 3 else
               failed("HS-2", "S0 is not version 3", expected="3", actual=str(s0), offset=0))
    if simple:
        zero = _u32(s1, 4)
        # HS-10: FFmpeg as a player reads a non-zero S1[4] >= 3 as "complex" and then fails.
        out.append(passed("HS-10", "S1 bytes 4..7 are zero") if zero == 0 else
                   failed("HS-10", "S1 'zero' field is not zero after a simple C1 (FFmpeg players may "
                          "then try the digest handshake and fail)", expected="00 00 00 00",
                          actual=s1[4:8].hex(" "), verdict=Verdict.NON_STRICT, offset=5))
        if len(c1) == HANDSHAKE_SIZE:
            # §5.2.4: S2 echoes C1's time and random bytes.
            if s2[8:] != c1[8:]:
                first = next(i for i in range(8, HANDSHAKE_SIZE) if s2[i] != c1[i])
                out.append(failed("HS-8", "S2 random echo does not match C1",
                                  expected="S2[8:1536] == C1[8:1536]",
                                  actual=f"first difference at S2 byte {first}",
                                  offset=1 + HANDSHAKE_SIZE + first))
            else:
                out.append(passed("HS-8", "S2 echoes C1's random bytes"))
            if _u32(s2, 0) != _u32(c1, 0):
                out.append(failed("HS-8", "S2 time field is not C1's time", expected=str(_u32(c1, 0)),
                                  actual=str(_u32(s2, 0)), verdict=Verdict.NON_STRICT, offset=1 + HANDSHAKE_SIZE))
    return out


def check_handshake_order(log: WireLog) -> list[Finding]:
    """HS-4: S2 not before C1 is complete; nothing after S2 before C2 has arrived (§5.2.1)."""
    out: list[Finding] = []
    c1_done = _time_of_byte(log, C2S, 1 + HANDSHAKE_SIZE - 1)
    c2_done = _time_of_byte(log, C2S, 1 + 2 * HANDSHAKE_SIZE - 1)
    s2_start = _time_of_byte(log, S2C, 1 + HANDSHAKE_SIZE)
    first_chunk = _time_of_byte(log, S2C, S0S1S2)
    if s2_start is not None and c1_done is not None and s2_start < c1_done:
        out.append(failed("HS-4", "server sent S2 before C1 was complete", offset=1 + HANDSHAKE_SIZE))
    if first_chunk is not None and (c2_done is None or first_chunk < c2_done):
        out.append(failed("HS-4", "server sent protocol data before C2 arrived",
                          expected="no bytes after S2 until C2 is received",
                          actual=f"{log.total(S2C) - S0S1S2} bytes after S2 before C2",
                          offset=S0S1S2))
    if not out:
        out.append(passed("HS-4", "server waited for C1 before S2 and for C2 before chunk data"))
    return out


def check_handshake_split(log: WireLog) -> list[Finding]:
    """HS-5: how the server split S0/S1/S2 into writes (informational)."""
    sizes = []
    for e in log.events:
        if e.direction == S2C and e.offset < S0S1S2:
            sizes.append(min(len(e.data), S0S1S2 - e.offset))
    return [info("HS-5", f"S0S1S2 arrived in {len(sizes)} read(s): {sizes[:8]}")]


def _time_of_byte(log: WireLog, direction: str, offset: int) -> float | None:
    if log.total(direction) <= offset:  # type: ignore[arg-type]
        return None
    return log.time_at(direction, offset)  # type: ignore[arg-type]


# -- further handshake checkers (HS-1..HS-16) ----------------------------------------------------

#: The connect a case sends right after the handshake always uses transaction id 1.
CONNECT_TID = 1.0


def _blocks(log: WireLog) -> tuple[bytes, bytes, bytes, bytes]:
    """(C1, S0+S1+S2 bytes, S1, S2) as far as they arrived."""
    c2s, s2c = log.bytes(C2S), log.bytes(S2C)
    return (c2s[1:1 + HANDSHAKE_SIZE], s2c[:S0S1S2], s2c[1:1 + HANDSHAKE_SIZE],
            s2c[1 + HANDSHAKE_SIZE:S0S1S2])


def _connect_answered(log: WireLog) -> bool:
    return bool(replies(log, CONNECT_TID))


def check_handshake_completes(log: WireLog, *, rule: str, what: str,
                              verdict: Verdict = Verdict.FAIL) -> list[Finding]:
    """The handshake finished (S0=3, S1, S2: 3073 bytes) and the connect after it was answered.

    Used where the client varied only the write pattern (split, dribbled, glued to connect):
    a server that loses or mis-counts bytes shows up as a missing connect answer.
    """
    _, hs, _, _ = _blocks(log)
    if len(hs) < S0S1S2 or hs[0] != 3:
        return [finding_with(rule, verdict, f"the handshake did not complete when {what}",
                             expected="S0=3 + S1 + S2 (3073 bytes)",
                             actual=f"{len(hs)} bytes" + (f", S0={hs[0]}" if hs else "") + f"; {close_state(log)}")]
    if not _connect_answered(log):
        return [finding_with(rule, verdict, "the handshake completed but the connect that followed was not "
                             f"answered when {what}: bytes after C2 were lost or mis-counted",
                             expected="connect _result/_error", actual=close_state(log))]
    return [passed(rule, f"handshake and connect complete when {what}")]


def check_c2_boundary(log: WireLog, *, expect_connect: bool, what: str,
                      after: WireLog | None = None) -> list[Finding]:
    """HS-1: chunking starts exactly 1536 bytes after C1.

    With ``expect_connect`` the client sent a correct C2 in unusual pieces and the connect must
    be understood; otherwise C2 was a byte short or long, so the connect sits at the wrong
    offset and must not be understood.
    """
    if expect_connect:
        return check_handshake_completes(log, rule="HS-1", what=what)
    return check_not_answered(log, CONNECT_TID, rule="HS-1", what=f"a connect after {what}", after=after)


def check_version_reply(log: WireLog, version: int, *, after: WireLog | None = None) -> list[Finding]:
    """HS-2/HS-3/HS-15: the answer to C0=``version`` (not 3).

    Legal: S0=3 (§5.2.2 SHOULD) or a close (§5.2.5; what SRS, nginx and FFmpeg do). For C0=6
    (RTMPE) an S0=6 answer is RTMPE support; a plain S0=3 answer treats RTMPE as plain RTMP.
    """
    rule = "HS-15" if version == 6 else "HS-3"
    s2c = log.bytes(S2C)
    out: list[Finding] = []
    if not s2c:
        if server_closed(log):
            out.append(passed(rule, f"C0={version}: the server closed without answering (§5.2.5)"))
        else:
            out.append(failed(rule, f"C0={version}: the server neither answered nor closed; the connection "
                              "hangs until some timeout", expected="S0=3 or a close", actual="silence",
                              verdict=Verdict.NON_STRICT))
    else:
        s0 = s2c[0]
        if version == 6 and s0 == 6:
            out.append(info(rule, "C0=6: the server answered S0=6, i.e. it speaks RTMPE"))
        elif version == 6 and s0 == 3:
            out.append(failed(rule, "C0=6 (RTMPE) was answered as plain RTMP (S0=3): the encrypted handshake "
                              "is treated as plain", expected="S0=6 (RTMPE) or a close", actual="S0=3",
                              verdict=Verdict.NON_STRICT, offset=0))
        elif s0 == 3:
            out.append(passed(rule, f"C0={version}: the server answered S0=3 (§5.2.2)"))
        else:
            out.append(failed("HS-2", f"C0={version}: the server answered version {s0}; a server can only "
                              "select version 3", expected="S0=3 or a close", actual=f"S0={s0}", offset=0))
    out.extend(check_still_serving(after, rule, f"a C0 of {version}"))
    return out


def check_s2_after_c1(log: WireLog) -> list[Finding]:
    """HS-4 plus HS-5 facts: S2 only once C1 is complete; records when S0/S1 left."""
    c0_time = _time_of_byte(log, C2S, 0)
    c1_done = _time_of_byte(log, C2S, 1 + HANDSHAKE_SIZE - 1)
    s0_time = _time_of_byte(log, S2C, 0)
    s1_done = _time_of_byte(log, S2C, HANDSHAKE_SIZE)
    facts = []
    if s0_time is not None and c1_done is not None:
        facts.append("S0 before C1 was complete" if s0_time < c1_done else "S0 only after all of C1")
    if s1_done is not None and c1_done is not None and s1_done < c1_done:
        facts.append("S1 complete before C1 was")
    out = check_handshake_order(log)
    if c0_time is None or s0_time is None:
        out.append(failed("HS-4", "no S0 arrived", expected="S0+S1+S2", actual=close_state(log)))
    out.append(info("HS-5", "with C0 and C1 sent in separate, delayed writes: " + (", ".join(facts) or "n/a")))
    return out


def check_s1_zero_field(log: WireLog) -> list[Finding]:
    """HS-10 (and HS-7's S1 layout) after a simple (zero version field) C1."""
    c1, hs, s1, _ = _blocks(log)
    if len(hs) < 1 + HANDSHAKE_SIZE:
        return [failed("HS-10", "no complete S1 arrived", expected="S1 (1536 bytes)",
                       actual=f"{len(hs)} handshake bytes; {close_state(log)}")]
    if _u32(c1, 4) != 0:
        return [failed("HS-10", "harness error: the C1 sent was not a simple one", verdict=Verdict.ERROR)]
    zero = s1[4:8]
    if zero != bytes(4):
        # §5.2.3 "Zero (4 bytes): This field MUST be all 0s" — the catalogue files the common
        # deviation (SRS) as the HS-10 pitfall: FFmpeg players then try the digest check and fail.
        return [failed("HS-10", "S1 bytes 4..7 are not zero after a simple C1; FFmpeg as a player treats "
                       "S1[4] >= 3 as a digest reply and fails to validate it", expected="00 00 00 00",
                       actual=zero.hex(" "), verdict=Verdict.NON_STRICT, offset=5)]
    return [passed("HS-10", f"S1 bytes 4..7 are zero (S1 time field {_u32(s1, 0)})")]


def _c1_digest(c1: bytes) -> tuple[DigestScheme | None, bytes | None]:
    scheme = find_digest_scheme(c1, CLIENT_KEY_PARTIAL) if len(c1) == HANDSHAKE_SIZE else None
    if scheme is None:
        return None, None
    off = digest_offset(c1, scheme)
    return scheme, c1[off:off + DIGEST_SIZE]


def check_digest_handshake(log: WireLog, *, scheme: DigestScheme) -> list[Finding]:
    """HS-11/12/13: a digest C1 in ``scheme`` is accepted; a digest reply is well signed.

    A simple reply is legal (the digest handshake is optional: UNIMPLEMENTED); closing on a
    digest C1 breaks Flash/FFmpeg clients (NON-STRICT, a convention); a digest S1/S2 that does
    not validate breaks FFmpeg players (NON-STRICT).
    """
    c1, hs, s1, s2 = _blocks(log)
    found, c1_digest = _c1_digest(c1)
    if found is None or c1_digest is None:
        return [failed("HS-12", "harness error: the C1 sent carries no valid client digest",
                       verdict=Verdict.ERROR)]
    if len(hs) < S0S1S2:
        return [failed("HS-12", f"no complete S0S1S2 for a digest C1 (scheme {int(scheme)}): servers are "
                       "expected to accept both digest schemes", expected="3073 handshake bytes",
                       actual=f"{len(hs)} bytes; {close_state(log)}", verdict=Verdict.NON_STRICT)]
    out: list[Finding] = []
    if _u32(s1, 4) == 0:
        out.append(Finding("HS-12", Verdict.UNIMPLEMENTED,
                           f"digest C1 (scheme {int(scheme)}) answered with the simple handshake (S1 version "
                           "field zero): no digest handshake, clients fall back"))
        if s2[8:] != c1[8:]:
            out.append(failed("HS-8", "simple reply, yet S2 does not echo C1's random bytes",
                              expected="S2[8:] == C1[8:]", actual="different", verdict=Verdict.NON_STRICT,
                              offset=1 + HANDSHAKE_SIZE + 8))
    else:
        server_scheme = find_digest_scheme(s1, SERVER_KEY_PARTIAL)
        if server_scheme is None:
            out.append(failed("HS-11", "S1 announces a digest reply (non-zero version field) but carries no "
                              "valid server digest in either scheme; FFmpeg players fail with 'Server response "
                              "validating failed'", expected="HMAC-SHA256 with the 36-byte server key",
                              actual=f"version field {s1[4:8].hex(' ')}, no digest", verdict=Verdict.NON_STRICT))
        else:
            out.append(passed("HS-11", f"S1 carries a valid server digest (scheme {int(server_scheme)})"))
        want = reply_digest(c1_digest, SERVER_KEY, s2)
        if s2[DIGEST_REPLY_RANDOM_SIZE:] == want:
            out.append(passed("HS-13", "S2 is signed with the key derived from C1's digest"))
        else:
            out.append(failed("HS-13", "S2's last 32 bytes are not the HMAC keyed from C1's digest; FFmpeg players "
                              "fail with 'Signature mismatch'", expected=want.hex()[:16] + "...",
                              actual=s2[DIGEST_REPLY_RANDOM_SIZE:].hex()[:16] + "...", verdict=Verdict.NON_STRICT,
                              offset=1 + HANDSHAKE_SIZE + DIGEST_REPLY_RANDOM_SIZE))
    if _connect_answered(log):
        out.append(passed("HS-12", f"digest C1 in scheme {int(scheme)} accepted; the session works"))
    else:
        out.append(failed("HS-12", f"after a digest C1 (scheme {int(scheme)}) the connect was not answered",
                          expected="connect _result", actual=close_state(log), verdict=Verdict.NON_STRICT))
    return out


def check_digest_fallback(log: WireLog) -> list[Finding]:
    """HS-14: a C1 that claims a digest (non-zero version) but has none still gets a session."""
    c1, hs, s1, s2 = _blocks(log)
    if _u32(c1, 4) == 0 or _c1_digest(c1)[0] is not None:
        return [failed("HS-14", "harness error: the C1 sent was not a broken digest C1", verdict=Verdict.ERROR)]
    if len(hs) < S0S1S2 or not _connect_answered(log):
        return [failed("HS-14", "a C1 with a non-zero version field and no valid digest did not lead to a "
                       "session; servers should fall back to the simple handshake",
                       expected="S0S1S2 and a connect answer",
                       actual=f"{len(hs)} handshake bytes; {close_state(log)}", verdict=Verdict.NON_STRICT)]
    mode = "simple" if _u32(s1, 4) == 0 else "digest-looking"
    echo = "S2 echoes C1" if s2[8:] == c1[8:] else "S2 does not echo C1"
    return [passed("HS-14", f"fell back and the session works ({mode} S1, {echo})")]


def check_stall(log: WireLog, *, window: float, stalled_at: str) -> list[Finding]:
    """HS-16 (recorded): did the server drop a peer that stalled, within a short window?"""
    if server_closed(log):
        last_c2s = max((e.time for e in log.events if e.direction == C2S), default=None)
        took = (log.close_time - last_c2s) if (log.close_time is not None and last_c2s is not None) else None
        when = f" {took:.2f} s after the client's last byte" if took is not None else ""
        return [info("HS-16", f"stalled {stalled_at}: the server closed{when}")]
    return [info("HS-16", f"stalled {stalled_at}: no close within {window:g} s (a longer handshake timeout; "
                 "ROB-4 covers the full timeout)")]

