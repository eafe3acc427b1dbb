"""Handshake ordering and layout (catalogue HS-1..14, §5.2)."""

from __future__ import annotations

from harness.verdict import Finding, Verdict, failed, info, passed
from harness.wirelog import C2S, S2C, WireLog
from rtmp.handshake import HANDSHAKE_SIZE

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
    if first_chunk is not None:
        if c2_done is None or first_chunk < c2_done:
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
