"""RELAY checkers: a stream relayed by the server under test (push upstream, pull from an origin).

``relay.py`` beside this module matches published against received messages (shared by many
sections); these checkers judge the relay itself: payloads and timing kept, a keyframe start at
an edge, the origin connection released, no relay loop.
"""

from __future__ import annotations

from collections.abc import Sequence

from rtmpconf import records
from rtmpconf.harness.checks.relay import KIND, SentLike, is_sequence_header, match_relayed, serial_delta
from rtmpconf.harness.verdict import Finding, failed, info, not_run, passed
from rtmpconf.harness.wirelog import WireLog

#: Timing slack between hops (ms): AAC timestamps may be re-stamped on the exact 1024/rate
#: cadence (21/21/22 ms -> 21.333 ms), which moves an audio frame by up to 1 ms.
TIMING_SLACK_MS = 1


def check_relayed_unchanged(log: WireLog, sent: Sequence[SentLike], *, rule: str = "RELAY-1",
                            hop: str = "the relay") -> list[Finding]:
    """Every published A/V payload arrives after ``hop``, in order, with the same spacing in time."""
    match = match_relayed(log, sent)
    out: list[Finding] = []
    if not match.pairs:
        return [failed(rule, f"nothing published reached the player after {hop}", expected=f"{len(sent)} messages",
                       actual="none")]
    if match.unknown:
        out.append(failed(rule, f"{len(match.unknown)} message(s) after {hop} match nothing published (altered payloads)",
                          actual=f"first at message #{match.unknown[0].index}"))
    if match.missing:
        kinds = sorted({KIND.get(sent[i].type_id, '?') for i in match.missing})
        out.append(failed(rule, f"{len(match.missing)} published {'/'.join(kinds)} message(s) were lost by {hop}",
                          expected="every message after the first received", actual=f"first lost: #{match.missing[0]}"))
    firsts: dict[int, tuple[int, int]] = {}
    worst: tuple[int, int, int] | None = None  # (error ms, sent index, type)
    for i, m in match.pairs:
        t = sent[i].type_id
        if is_sequence_header(t, sent[i].payload):
            continue  # a header's timestamp carries no timing (servers restamp them, GOP-6)
        if t not in firsts:
            firsts[t] = (sent[i].timestamp, m.raw.timestamp)
            continue
        s0, r0 = firsts[t]
        err = abs(serial_delta(m.raw.timestamp, r0) - serial_delta(sent[i].timestamp, s0))
        if worst is None or err > worst[0]:
            worst = (err, i, t)
    if worst is not None and worst[0] > TIMING_SLACK_MS:
        out.append(failed(rule, f"{hop} changed the spacing of {KIND.get(worst[2], '?')} timestamps",
                          expected=f"the published spacing (±{TIMING_SLACK_MS} ms)",
                          actual=f"{worst[0]} ms off at published message #{worst[1]}"))
    if not out:
        out.append(passed(rule, f"{len(match.pairs)} messages after {hop}: payloads byte-identical, timing kept"
                          + (f" (largest drift {worst[0]} ms)" if worst else "")))
    return out


def check_origin_released(players_after: Sequence[tuple[float, int]], *, bound_s: float,
                          connected_before: bool = False, rule: str = "RELAY-3") -> list[Finding]:
    """``(seconds after the edge's last player left, the origin's player count for the name)``: the
    edge's connection to the origin must be gone within ``bound_s``. ``connected_before``: the
    origin counted the edge's connection just before the player left, so a first look that finds
    none means it was released at once (not that there was nothing to release)."""
    if not players_after:
        return [not_run(rule, "no observation of the origin was made")]
    if players_after[0][1] == 0 and len(players_after) == 1:
        if connected_before:
            return [passed(rule, f"the edge released its origin connection at once: gone at the first look, "
                                 f"{players_after[0][0]:.1f} s after its last player left")]
        return [not_run(rule, "the edge had no connection at the origin to release")]
    gone = next((t for t, n in players_after if n == 0), None)
    if gone is None:
        return [failed(rule, f"the edge still held its origin connection {players_after[-1][0]:.1f} s after its last "
                       "player left", expected=f"released within {bound_s:g} s", actual=f"{players_after[-1][1]} "
                       "connection(s) at the origin")]
    return [passed(rule, f"the edge released its origin connection {gone:.1f} s after its last player left")]


def check_no_relay_loop(connections: Sequence[int], *, allowed: int, rule: str = "RELAY-4") -> list[Finding]:
    """Established connections to the server while one player asked an edge configured to pull from
    itself for an unknown name: a loop opens connection after connection."""
    if not connections:
        return [not_run(rule, "the server's connections could not be counted (not on this machine)")]
    most = max(connections)
    if most > allowed:
        return [failed(rule, "a play of an unknown name made the edge connect to itself again and again",
                       expected=f"at most {allowed} connection(s)", actual=f"{most} established connections")]
    return [passed(rule, f"no relay loop: at most {most} connection(s) while the play waited"),
            info(rule, f"connection counts sampled: {list(connections)[:10]}")]


def check_edge_start(log: WireLog, sent: Sequence[SentLike], *, rule: str = "RELAY-2",
                     expect_metadata: bool = True) -> list[Finding]:
    """RELAY-2: an edge's player starts like a late joiner (GOP-1/AV-4: headers, then a keyframe) and
    gets the origin's payloads unchanged from there; findings are the edge's, under ``rule``."""
    import dataclasses

    from rtmpconf.harness.checks.gop import check_gop_start
    from rtmpconf.harness.checks.media import check_payloads_intact

    found = check_gop_start(log, expect_metadata=expect_metadata) + check_payloads_intact(log, sent, rule=rule, expect_all=False)
    return [records.replace(f, rule=rule, message=f"at the edge: {f.message}") for f in found]
