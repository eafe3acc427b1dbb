"""Timestamp checkers (catalogue TS-1..16, GOP-9): what a player receives against what was sent.

All arithmetic is on the 32-bit serial line (RFC 1982, TS-7): ``serial_delta(a, b)`` is the signed
distance from b to a, so 0x100 comes 0x200 ms after 0xFFFFFF00.

Matching: the publisher's audio/video payloads are found again, byte for byte and in order, in what a
player received (``match_relayed``, :mod:`harness.checks.relay`). Timing is then judged on the matched pairs, which tolerates a
server that rebases (constant offset), drops headers it already sent, or starts a late joiner at a
keyframe. Metadata (type 18) is never matched: servers rewrite it (``@setDataFrame`` is stripped).

The extended-timestamp dialect on fmt-3 chunks (TS-4/TS-5) is decided by decoding the player's byte
stream three ways (peek-and-compare, always present, always omitted); see ``check_fmt3_ext_dialect``.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping, Sequence

from rtmpconf.harness.checks.relay import (
    HALF,
    KIND,
    MASK,
    RelayMatch,
    SentLike,
    is_coded,
    match_messages,
    match_relayed,
    play_start_index,
    player_media,
    received_media,
    serial_delta,
)
from rtmpconf.harness.verdict import Finding, Verdict, failed, info, not_run, passed
from rtmpconf.harness.wirelog import S2C, DecodedMessage, DirectionDecode, WireLog
from rtmpconf.records import record
from rtmpconf.rtmp.chunk import ChunkRecord, ExtTsDialect

#: A 24-bit timestamp/delta field holding this value announces the 4-byte extended field (§5.3.1.3).
EXT_MARKER = 0xFFFFFF
#: AAC-LC frame length in samples (ISO 14496-3, frameLengthFlag 0).
AAC_FRAME_SAMPLES = 1024
#: A per-step timing change up to this many ms is a policy adjustment (cadence, clamping), beyond it
#: the server mis-decoded or invented a timestamp. Mis-decoded extended timestamps are off by 2**24 ms
#: or more; a delta taken from the wrong chunk is off by at least one frame (40 ms at 25 fps).
DEFAULT_MAX_ADJUST_MS = 30
#: Output steps beyond these are jumps worth naming (the reference server's rebase thresholds).
JUMP_BACK_MS = 1000
JUMP_FORWARD_MS = 10_000

def _describe_sent(sent: Sequence[SentLike], i: int) -> str:
    s = sent[i]
    return f"sent #{i} {KIND.get(s.type_id, s.type_id)} ts {s.timestamp & MASK} ({len(s.payload)} bytes)"


def _describe_got(m: DecodedMessage) -> str:
    r = m.raw
    return (f"message #{m.index} {KIND.get(r.type_id, r.type_id)} csid {r.csid} ts {r.timestamp} "
            f"{len(r.payload)} bytes starting {bytes(r.payload[:6]).hex(' ')}")


def relay_integrity(match: RelayMatch, sent: Sequence[SentLike], *, rule: str, violation: Verdict,
                    expect_all: bool, closed: bool = False) -> list[Finding]:
    """Findings on corrupted and missing messages (shared by the timing and payload checkers)."""
    out: list[Finding] = []
    relayable = sum(1 for s in sent if s.type_id in (8, 9))
    if not match.pairs:
        got = f"{len(match.unknown)} unrecognisable A/V messages" if match.unknown else "no audio/video"
        return [failed(rule, "none of the publisher's audio/video reached the player intact",
                       expected=f"the {relayable} messages sent", actual=got + (" (connection closed)" if closed else ""),
                       verdict=violation)]
    if match.unknown:
        m = match.unknown[0]
        out.append(failed(rule, f"{len(match.unknown)} audio/video messages reached the player with a payload "
                          "the publisher never sent (corrupted in transit)",
                          expected="byte-identical payloads", actual=_describe_got(m),
                          verdict=violation, message_index=m.index, end_offset=m.end_offset))
    missing = list(match.missing) + (list(match.skipped_before_join) if expect_all else [])
    if missing:
        missing.sort()
        out.append(failed(rule, f"{len(missing)} of the publisher's audio/video messages never reached the player",
                          expected=f"all {relayable} messages, in order", actual=f"first missing: {_describe_sent(sent, missing[0])}"
                          + (" (connection closed)" if closed else ""), verdict=violation, sent_index=missing[0]))
    return out


# -- relayed timing ------------------------------------------------------------------------------


def timing_findings(match: RelayMatch, sent: Sequence[SentLike], *, rule: str, violation: Verdict,
                    max_adjust_ms: int = DEFAULT_MAX_ADJUST_MS, types: Collection[int] = (8, 9)) -> list[Finding]:
    """Per track: the received deltas against the sent deltas of the same frames."""
    out: list[Finding] = []
    for t in types:
        pairs = match.pairs_of(t, sent)
        if not pairs:
            continue
        kind = KIND[t]
        offsets = [serial_delta(m.raw.timestamp, sent[i].timestamp & MASK) for i, m in pairs]
        worst_dev, worst_at = 0, 0
        for k in range(1, len(pairs)):
            dev = offsets[k] - offsets[k - 1]
            if abs(dev) > abs(worst_dev):
                worst_dev, worst_at = dev, k
        first_i, first_m = pairs[0]
        if worst_dev == 0:
            out.append(passed(rule, f"{kind}: {len(pairs)} frames, every delta as sent "
                              f"(first sent ts {sent[first_i].timestamp & MASK}, received {first_m.raw.timestamp})"))
        else:
            (ia, ma), (ib, mb) = pairs[worst_at - 1], pairs[worst_at]
            sd = serial_delta(sent[ib].timestamp & MASK, sent[ia].timestamp & MASK)
            rd = serial_delta(mb.raw.timestamp, ma.raw.timestamp)
            text = (f"{kind}: delta from {_describe_sent(sent, ia)} to sent #{ib} (ts {sent[ib].timestamp & MASK}) "
                    f"is {sd} ms as sent, {rd} ms at the player")
            if abs(worst_dev) <= max_adjust_ms:
                out.append(info(rule, f"{kind}: the server adjusted deltas by up to {abs(worst_dev)} ms "
                                f"(cadence correction or clamping); largest: {text}", message_index=mb.index))
            else:
                out.append(failed(rule, f"{kind} timing disturbed: {text}",
                                  expected=f"delta {sd} ms (+-{max_adjust_ms} ms)", actual=f"{rd} ms "
                                  f"(player ts {ma.raw.timestamp} -> {mb.raw.timestamp})",
                                  verdict=violation, message_index=mb.index))
        if offsets[0] != 0:
            out.append(info(rule, f"{kind} timestamps reach the player shifted by {offsets[0]} ms "
                            f"(sent {sent[first_i].timestamp & MASK}, received {first_m.raw.timestamp})"))
    return out


def check_relayed_timing(log: WireLog, sent: Sequence[SentLike], *, rule: str,
                         violation: Verdict = Verdict.FAIL, expect_all: bool = True,
                         max_adjust_ms: int = DEFAULT_MAX_ADJUST_MS, ext_checks: bool = False) -> list[Finding]:
    """TS-1/2/3/6/7/10/GOP-9: every sent A/V payload reaches the player intact, with the sent deltas.

    ``expect_all``: the player was there before the first frame (else only a late joiner's tail is
    judged). A constant offset (rebasing) is recorded, not judged. ``ext_checks`` adds the
    extended-timestamp form (TS-2) and fmt-3 dialect (TS-4) findings on the player's stream.
    """
    match = match_relayed(log, sent)
    closed = log.closed_by == S2C
    out = relay_integrity(match, sent, rule=rule, violation=violation, expect_all=expect_all, closed=closed)
    if match.pairs:
        out += timing_findings(match, sent, rule=rule, violation=violation, max_adjust_ms=max_adjust_ms)
    if ext_checks:
        out += check_extended_form(log, quiet_if_unobserved=True)
        out += check_fmt3_ext_dialect(log, sent, quiet_if_unobserved=True)
    dec = log.decode(S2C)
    if dec.error:
        out.append(failed(rule, "the player's byte stream stopped decoding", expected="well-formed chunks",
                          actual=dec.error, verdict=violation, offset=dec.error_offset))
    return out


# -- per-csid deltas -----------------------------------------------------------------------------


def csid_deltas(log: WireLog) -> dict[tuple[int, int], list[tuple[DecodedMessage, int]]]:
    """(csid, type) -> [(message, delta from the previous coded message of that csid and type)]."""
    out: dict[tuple[int, int], list[tuple[DecodedMessage, int]]] = {}
    last: dict[tuple[int, int], int] = {}
    for m in player_media(log):
        if not is_coded(m):
            continue
        key = (m.raw.csid, m.raw.type_id)
        if key in last:
            out.setdefault(key, []).append((m, serial_delta(m.raw.timestamp, last[key])))
        else:
            out.setdefault(key, [])
        last[key] = m.raw.timestamp
    return out


def check_csid_deltas(log: WireLog, allowed: Mapping[int, Collection[int]], *, rule: str,
                      violation: Verdict = Verdict.FAIL, min_frames: int = 3) -> list[Finding]:
    """TS-9/TS-11: the deltas a player sees between coded frames on each chunk stream.

    ``allowed`` maps a message type (8, 9) to the deltas the publisher used; any other delta means
    the server mixed chunk streams' state or advanced the timestamp per chunk.
    """
    out: list[Finding] = []
    per = csid_deltas(log)
    for t, ok in allowed.items():
        keys = [k for k in per if k[1] == t]
        frames = sum(len(per[k]) + 1 for k in keys)
        if frames < min_frames:
            out.append(failed(rule, f"only {frames} {KIND[t]} frames reached the player",
                              expected=f">= {min_frames}", actual=str(frames), verdict=violation))
            continue
        bad = [(m, d) for k in keys for m, d in per[k] if d not in ok]
        if bad:
            m, d = bad[0]
            out.append(failed(rule, f"{len(bad)} {KIND[t]} deltas at the player are not the sent ones "
                              f"(first: csid {m.raw.csid} message #{m.index} ts {m.raw.timestamp})",
                              expected=f"deltas in {sorted(ok)}", actual=f"{d} ms", verdict=violation,
                              message_index=m.index))
        else:
            seen = sorted({d for k in keys for _, d in per[k]})
            out.append(passed(rule, f"{KIND[t]}: {frames} frames on csid {', '.join(str(k[0]) for k in keys)}, "
                              f"deltas {seen}"))
    return out


# -- header encoding -----------------------------------------------------------------------------


def check_extended_form(log: WireLog, *, quiet_if_unobserved: bool = False) -> list[Finding]:
    """TS-2: the server's fmt 0/1/2 headers use the extended field for values >= 0xFFFFFF only.

    A value >= 0xFFFFFF cannot be written in 24 bits, so a server that truncates it shows up as a
    wrong timestamp (judged by the relay checkers); here the remaining question is the converse.
    """
    dec = log.decode(S2C)
    ext = [c for c in dec.chunks if c.fmt != 3 and c.ts_field == EXT_MARKER]
    small = [c for c in ext if c.extended is not None and c.extended < EXT_MARKER]
    if small:
        c = small[0]
        return [failed("TS-2", f"{len(small)} headers use the extended field for a value below 0xFFFFFF",
                       expected="24-bit field for values < 16777215", actual=f"fmt {c.fmt} csid {c.csid} "
                       f"extended {c.extended:#x} at offset {c.offset}", verdict=Verdict.NON_STRICT, offset=c.offset)]
    if ext:
        c = ext[0]
        return [passed("TS-2", f"{len(ext)} headers carry a value >= 0xFFFFFF as 0xFFFFFF + extended field "
                       f"(first: fmt {c.fmt} csid {c.csid} value {c.extended})")]
    return [] if quiet_if_unobserved else [not_run("TS-2", "no header the server wrote needed the extended "
                                                   "field; the extended form was not observed")]


def _fmt3_after_ext(dec: DirectionDecode) -> list[ChunkRecord]:
    return [c for c in dec.chunks if c.fmt == 3 and c.ext_on_fmt3 is not None]


def _wrong_ext_values(dec: DirectionDecode) -> list[tuple[ChunkRecord, int]]:
    """fmt-3 chunks (decoded with the 4 bytes always present) whose value is neither the header's
    extended value nor the message timestamp: (chunk, header extended value)."""
    last_ext: dict[int, int] = {}
    bad = []
    for c in dec.chunks:
        if c.fmt != 3:
            if c.extended is not None:
                last_ext[c.csid] = c.extended
            else:
                last_ext.pop(c.csid, None)
            continue
        if c.ext_on_fmt3 and c.extended is not None:
            want = last_ext.get(c.csid)
            if want is not None and c.extended not in (want, c.timestamp):
                bad.append((c, want))
    return bad


def _unobserved_fmt3(dec: DirectionDecode) -> str:
    """Why no fmt-3 chunk followed an extended header: what the server wrote instead."""
    ext = [c for c in dec.chunks if c.fmt != 3 and c.ts_field == EXT_MARKER]
    sizes = [s for _, s in dec.chunk_size_changes]
    size = f"chunk size {sizes[-1] if sizes else 128}"
    if not ext:
        return (f"no fmt-3 chunk followed an extended-timestamp header: the server wrote no header with the "
                f"extended field at all ({len(dec.chunks)} chunks, {size}); the dialect was not observed")
    longest = max(c.message_length for c in ext)
    return (f"no fmt-3 chunk followed an extended-timestamp header: the {len(ext)} extended headers the server "
            f"wrote opened messages of at most {longest} bytes, each in one chunk ({size}), and the next header "
            "on their chunk streams was not fmt 3; the dialect was not observed")


def _clean(dec: DirectionDecode, sent: Sequence[SentLike] | None) -> bool:
    if dec.error is not None:
        return False
    if sent is None:
        return True
    return not match_messages(received_media(dec), sent).unknown


def check_fmt3_ext_dialect(log: WireLog, sent: Sequence[SentLike] | None = None, *,
                           quiet_if_unobserved: bool = False) -> list[Finding]:
    """TS-4: does the server repeat the extended timestamp on fmt-3 chunks, and consistently?

    Decision (§5.3.1.3 of the 2012 text, catalogue TS-4, a MUST):

    * every fmt-3 chunk after an extended header carries the 4 bytes, equal to the header's extended
      value (or the message timestamp): PASS (2012 text, FFmpeg, nginx);
    * none carries them: FAIL at TS-4's level — the pre-2012 dialect (old librtmp): consistent, so
      a reader configured for it (or peeking, TS-5) decodes it, but §5.3.1.3 requires the field;
    * some do and some do not, or the 4 bytes are there with another value: FAIL. No reader can
      decode that: it contradicts §5.3.1.3 in either reading;
    * no fmt-3 chunk followed an extended header: NOT-RUN (``quiet_if_unobserved``: nothing), the
      requirement was never exercised — never a PASS.

    The stream is decoded three ways: peek-and-compare (AUTO) says per chunk whether the expected
    value was there; a payload that happens to start with the expected value would look "present",
    so a mixed result is re-checked with the always-omitted decoding. When AUTO cannot decode, the
    always-present decoding tells "present but wrong value" apart. With ``sent`` the payloads must
    also come out byte-identical.
    """
    auto = log.decode(S2C)
    recs = _fmt3_after_ext(auto)
    present = [c for c in recs if c.ext_on_fmt3]
    omitted = [c for c in recs if not c.ext_on_fmt3]
    cont = sum(1 for c in recs if not c.starts_message)
    where = f"{len(recs)} fmt-3 chunks after an extended header ({cont} continuations, {len(recs) - cont} new messages)"
    if _clean(auto, sent):
        if not recs:
            return [] if quiet_if_unobserved else [not_run("TS-4", _unobserved_fmt3(auto))]
        if present and not omitted:
            return [passed("TS-4", f"dialect: extended timestamp repeated on fmt-3 chunks (2012 §5.3.1.3, "
                           f"FFmpeg/nginx); {where}", first_offset=present[0].offset)]
        if omitted and not present:
            return [_omitted(f"{where}", omitted[0].offset)]
        alt = log.decode(S2C, dialect=ExtTsDialect.OMITTED)
        if _clean(alt, sent) and len(alt.messages) == len(auto.messages):
            return [_omitted(f"{len(present)} payloads merely began with the timestamp value; {where}",
                             omitted[0].offset)]
        p, o = present[0], omitted[0]
        return [failed("TS-4", "the server mixes both fmt-3 extended-timestamp dialects on one connection; "
                       "no reader can follow it (§5.3.1.3)", expected="the 4 bytes on every fmt-3 chunk "
                       "after an extended header, or on none", actual=f"present at offset {p.offset} (csid {p.csid}), "
                       f"absent at offset {o.offset} (csid {o.csid}); {len(present)} present, {len(omitted)} absent",
                       offset=o.offset)]
    pres = log.decode(S2C, dialect=ExtTsDialect.PRESENT)
    if _clean(pres, sent):
        wrong = _wrong_ext_values(pres)
        if wrong:
            c, want = wrong[0]
            return [failed("TS-4", f"fmt-3 chunks carry 4 bytes where the extended timestamp goes, but with "
                           f"another value ({len(wrong)} chunks)", expected=f"{want:#010x} (the header's extended "
                           f"timestamp) or the message timestamp {c.timestamp:#010x}",
                           actual=f"{c.extended:#010x} at offset {c.offset} (csid {c.csid})", offset=c.offset)]
        return [passed("TS-4", f"dialect: extended timestamp repeated on fmt-3 chunks; {where}")]
    alt = log.decode(S2C, dialect=ExtTsDialect.OMITTED)
    if _clean(alt, sent):
        return [_omitted("some payloads began with the timestamp value, which only the omitted reading "
                         "decodes", None)]
    why = auto.error or "payloads differ from what the publisher sent"
    return [failed("TS-4", "the player's stream decodes in no fmt-3 extended-timestamp dialect",
                   expected="a consistent dialect (present or omitted)", actual=why,
                   offset=auto.error_offset)]


def _omitted(detail: str, offset: int | None) -> Finding:
    return failed("TS-4", "the server omits the extended timestamp on fmt-3 chunks after an extended header "
                  f"(pre-2012 dialect, old librtmp); {detail}", expected="the 4-byte extended timestamp on "
                  "every fmt-3 chunk whose chunk stream's last fmt 0/1/2 header carried one (§5.3.1.3)",
                  actual="absent", **({"offset": offset} if offset is not None else {}))


# -- fmt 1/2 extended deltas (server side) ---------------------------------------------------------


def check_server_extended_delta(log: WireLog, sent: Sequence[SentLike], *, rule: str = "TS-3",
                                max_adjust_ms: int = DEFAULT_MAX_ADJUST_MS) -> list[Finding]:
    """TS-3, server side: a fmt 1/2 header whose delta needs the extended field holds the delta.

    The player's stream is decoded the spec's way (the extended field of a fmt 1/2 header is the
    delta, §5.3.1.2.2/3); each such header's value is compared with the step the publisher made
    between the two messages it separates (within ``max_adjust_ms``). A server that writes the
    message's absolute timestamp there instead (lal's writer) is named as such. No fmt 1/2 header
    with the extended field: NOT-RUN, with what the server wrote at the publisher's big step.
    """
    dec = log.decode(S2C)
    match = match_relayed(log, sent)
    out = relay_integrity(match, sent, rule=rule, violation=Verdict.FAIL, expect_all=False,
                          closed=log.closed_by == S2C)
    if dec.error:
        out.append(failed(rule, "the player's byte stream stopped decoding", expected="well-formed chunks",
                          actual=dec.error, offset=dec.error_offset))
    sent_of = {m.index: i for i, m in match.pairs}
    last_on_csid: dict[int, DecodedMessage] = {}
    judged: list[str] = []
    bad: list[Finding] = []
    big_steps: list[str] = []
    for m in dec.messages:
        first = dec.chunks[m.first_chunk] if m.first_chunk < len(dec.chunks) else None
        prev = last_on_csid.get(m.raw.csid)
        last_on_csid[m.raw.csid] = m
        if first is None or prev is None:
            continue
        i, j = sent_of.get(m.index), sent_of.get(prev.index)
        want = (serial_delta(sent[i].timestamp & MASK, sent[j].timestamp & MASK)
                if i is not None and j is not None else None)
        ext_delta = first.fmt in (1, 2) and first.ts_field == EXT_MARKER and first.extended is not None
        if want is not None and want >= EXT_MARKER and not ext_delta:
            big_steps.append(f"the publisher's step of {want} ms reached the player as a fmt-{first.fmt} header, "
                             f"step {serial_delta(m.raw.timestamp, prev.raw.timestamp)} ms (message #{m.index})")
        if not ext_delta:
            continue
        assert first.extended is not None
        where = f"message #{m.index} (fmt {first.fmt}, csid {first.csid}, offset {first.offset})"
        if want is None:
            judged.append(f"{where}: extended delta {first.extended:#x} (not matched to a published message)")
            continue
        if abs(first.extended - want) <= max_adjust_ms:
            judged.append(f"{where}: extended delta {first.extended:#x} = the publisher's step")
            continue
        absolute = (prev.raw.timestamp + want) & MASK
        if first.extended == absolute or (i is not None and first.extended == sent[i].timestamp & MASK):
            bad.append(failed(rule, f"{where}: the extended field of a fmt {first.fmt} header holds the message's "
                              "absolute timestamp, not the delta; a reader adds it to the previous timestamp",
                              expected=f"delta {want:#x} ({want} ms)", actual=f"{first.extended:#x}",
                              message_index=m.index, offset=first.offset))
        else:
            bad.append(failed(rule, f"{where}: the extended delta is not the publisher's step",
                              expected=f"delta {want:#x} (+-{max_adjust_ms} ms)", actual=f"{first.extended:#x}",
                              message_index=m.index, offset=first.offset))
    if bad:
        return out + bad
    if not judged:
        what = "; ".join(big_steps[:3]) or "no published step of 0xFFFFFF ms or more reached the player"
        return out + [not_run(rule, "the server wrote no fmt 1/2 header whose delta needed the extended field "
                              f"(it used fmt 0 or re-timed the step): {what}")]
    return out + [passed(rule, f"{len(judged)} fmt 1/2 headers carry a delta >= 0xFFFFFF in the extended field, "
                         f"each the publisher's step; first: {judged[0]}")]


# -- monotonic output ----------------------------------------------------------------------------


def check_monotonic(log: WireLog, sent: Sequence[SentLike] | None = None, *, rule: str = "TS-12") -> list[Finding]:
    """TS-12: per track, the timestamps a player receives never go backwards.

    A backward step the publisher itself made and the server passed through unchanged is
    INFORMATIONAL (lal, Node-Media-Server policy). A backward *video* step the publisher did not make
    is FAIL: the server invented a DTS regression that breaks every muxer downstream; for audio that
    is NON-STRICT. Forward jumps are recorded; one the publisher did not make is NON-STRICT.
    """
    out: list[Finding] = []
    frames = [m for m in player_media(log) if is_coded(m)]
    sent_of: dict[int, int] = {}
    if sent is not None:
        for i, m in match_relayed(log, sent).pairs:
            sent_of[m.index] = i
    for t in (9, 8):
        track = [m for m in frames if m.raw.type_id == t]
        kind = KIND[t]
        if len(track) < 2:
            out.append(failed(rule, f"fewer than 2 {kind} frames reached the player", expected=">= 2",
                              actual=str(len(track)), verdict=Verdict.NON_STRICT))
            continue
        passthrough: list[str] = []
        problems: list[Finding] = []
        corrected: list[str] = []
        for a, b in itertools.pairwise(track):
            step = serial_delta(b.raw.timestamp, a.raw.timestamp)
            ia, ib = sent_of.get(a.index), sent_of.get(b.index)
            in_step = (serial_delta(sent[ib].timestamp & MASK, sent[ia].timestamp & MASK)  # type: ignore[index]
                       if ia is not None and ib is not None else None)
            jump_in = in_step is not None and (in_step < 0 or in_step > JUMP_FORWARD_MS)
            if step < 0:
                if in_step == step:
                    passthrough.append(f"{step} ms at message #{b.index}")
                else:
                    problems.append(failed(
                        rule, f"{kind} timestamp goes backwards at the player by {-step} ms, a step the publisher "
                        "did not make" if in_step is not None else f"{kind} timestamp goes backwards at the player",
                        expected="non-decreasing timestamps" + (f" (publisher step {in_step} ms)" if in_step is not None else ""),
                        actual=f"message #{a.index} ts {a.raw.timestamp} -> #{b.index} ts {b.raw.timestamp}",
                        verdict=Verdict.FAIL if t == 9 else Verdict.NON_STRICT, message_index=b.index))
            elif step > JUMP_FORWARD_MS:
                if in_step == step:
                    passthrough.append(f"+{step} ms at message #{b.index}")
                elif in_step is not None and step - in_step > JUMP_BACK_MS:
                    problems.append(failed(rule, f"{kind} jumps forward {step} ms at the player; the publisher "
                                           f"stepped {in_step} ms", expected=f"about {in_step} ms",
                                           actual=f"{step} ms", verdict=Verdict.NON_STRICT, message_index=b.index))
            elif jump_in:
                corrected.append(f"{in_step} -> {step} ms")
        out.extend(problems)
        if passthrough:
            out.append(info(rule, f"{kind}: the publisher's jumps reach the player unchanged (pass-through "
                            f"policy): {', '.join(passthrough[:4])}"))
        if not problems and not passthrough:
            extra = f"; publisher jumps corrected: {', '.join(corrected[:4])}" if corrected else ""
            out.append(passed(rule, f"{kind}: {len(track)} frames, timestamps monotonic at the player{extra}"))
    return out


def check_backward_delta(log: WireLog, sent: Sequence[SentLike], *, publisher_log: WireLog | None = None,
                         rule: str = "TS-8") -> list[Finding]:
    """TS-8: after a publisher's fmt-1 delta of 0xFFFFFFF0 the stream goes on as jitter or a reset.

    FAIL if the server closed the publisher for it, wrote a backward step to a player as an unsigned
    delta >= 2**31 in a fmt 1/2 header (§5.3.1.2.1 needs fmt 0 to go back), lost frames, or moved the
    player's timeline by more than a jitter's worth (49-day jump, or the following frames displaced).
    """
    out: list[Finding] = []
    if publisher_log is not None and publisher_log.closed_by == S2C:
        out.append(failed(rule, "the server closed the publisher after a fmt-1 delta of 0xFFFFFFF0",
                          expected="treat as jitter or a reset and keep the session", actual="connection closed"))
    dec = log.decode(S2C)
    huge = []
    for c in dec.chunks:
        if c.fmt in (1, 2) and c.ts_field is not None:
            value = c.extended if c.ts_field == EXT_MARKER and c.extended is not None else c.ts_field
            if value >= HALF:
                huge.append((c, value))
    if huge:
        c, value = huge[0]
        out.append(failed(rule, "the server sent a backward step as an unsigned fmt 1/2 delta",
                          expected="fmt 0 with the absolute timestamp for a step back (§5.3.1.2.1)",
                          actual=f"fmt {c.fmt} csid {c.csid} delta {value:#010x} at offset {c.offset}", offset=c.offset))
    else:
        back = any(serial_delta(b.raw.timestamp, a.raw.timestamp) < 0
                   for a, b in itertools.pairwise([m for m in player_media(log, (9,)) if is_coded(m)]))
        how = ("the backward step reached the player with an absolute header" if back else
               "the server took the step as jitter: no backward step reached the player")
        out.append(passed(rule, f"no fmt 1/2 header to the player carries a delta >= 2**31 ({how})"))
    # Jitter correction may move the odd frame itself by its 16 ms; a 49-day (or any large) jump fails.
    out += check_relayed_timing(log, sent, rule=rule, max_adjust_ms=1000)
    return out


# -- AAC cadence -----------------------------------------------------------------------------------


@record(frozen=True, slots=True)
class CadenceReport:
    """A player's AAC timestamps against the exact ``n * 1024 * 1000 / rate`` clock."""

    frames: int
    frame_ms: float
    max_error_ms: float  #: largest |error| between resyncs, against the best-fitting clock phase
    drift_ms: float  #: the error's linear trend over the longest run, in ms (sign = direction)
    run_frames: int  #: frames in the longest run
    resyncs: tuple[tuple[int, float], ...]  #: (message index, error that forced the re-anchor, ms)


def aac_cadence(frames: Sequence[DecodedMessage], sample_rate: int) -> CadenceReport:
    """Walk the timestamps against an exact clock whose phase is fitted per run.

    e_k = t_k - k * frame_ms is constant up to rounding on an exact clock (spread <= 1 ms, so the
    error against the best phase is <= 0.5 ms). A frame more than half a frame from the run's
    centre re-anchors the clock: a resync.
    """
    f = AAC_FRAME_SAMPLES * 1000.0 / sample_rate
    resyncs: list[tuple[int, float]] = []
    runs: list[list[float]] = []
    base = frames[0].raw.timestamp if frames else 0
    k = 0
    lo = hi = 0.0
    for m in frames:
        e = serial_delta(m.raw.timestamp, base) - k * f
        if runs and abs(e - (lo + hi) / 2) > f / 2:
            resyncs.append((m.index, round(e - (lo + hi) / 2, 3)))
            base, k, e = m.raw.timestamp, 0, 0.0
            runs.append([])
        elif not runs:
            runs.append([])
        if not runs[-1]:
            lo = hi = e
        lo, hi = min(lo, e), max(hi, e)
        runs[-1].append(e)
        k += 1
    max_err = max(((max(r) - min(r)) / 2 for r in runs if r), default=0.0)
    longest = max(runs, key=len) if runs else []
    drift = _trend(longest) * max(len(longest) - 1, 0)
    return CadenceReport(len(frames), f, round(max_err, 3), round(drift, 3), len(longest), tuple(resyncs))


def _trend(ys: Sequence[float]) -> float:
    """Least-squares slope of ys over 0..n-1."""
    n = len(ys)
    if n < 2:
        return 0.0
    mx = (n - 1) / 2
    my = sum(ys) / n
    num = sum((x - mx) * (y - my) for x, y in enumerate(ys))
    den = sum((x - mx) ** 2 for x in range(n))
    return num / den


def aac_frames(log: WireLog) -> list[DecodedMessage]:
    """The raw AAC frames (SoundFormat 10, AACPacketType 1) a player received, in order."""
    return [m for m in player_media(log, (8,)) if len(m.raw.payload) > 1 and m.raw.payload[0] >> 4 == 10
            and m.raw.payload[1] == 1]


#: Rounding to whole ms keeps an exact clock within half a ms; allow float noise on top.
EXACT_CLOCK_MS = 0.5 + 1e-6
#: Error trend over a run beyond which the stream drifts off the sample clock.
DRIFT_LIMIT_MS = 1.0


def check_aac_cadence(log: WireLog, sample_rate: int, *, rule: str = "TS-15",
                      gaps_ms: Sequence[float] | None = (), violation: Verdict = Verdict.NON_STRICT,
                      min_frames: int = 20) -> list[Finding]:
    """TS-15/TS-16: AAC timestamps at the player against the exact 1024/rate clock.

    Records the largest error (ms) and the drift over the longest run between resyncs. A *resync*
    is a frame more than half a frame off the running clock. ``gaps_ms`` lists the real gaps the
    publisher left (one resync each, of about that size); any other resync, a missing one, or a
    drift over 1 ms is ``violation``. ``gaps_ms=None`` records without judging (e.g. a drifting
    publisher, where following it and counting samples are both defensible).
    """
    frames = aac_frames(log)
    if len(frames) < min_frames:
        return [failed(rule, f"only {len(frames)} AAC frames reached the player", expected=f">= {min_frames}",
                       actual=str(len(frames)), verdict=violation)]
    rep = aac_cadence(frames, sample_rate)
    out: list[Finding] = []
    summary = (f"{rep.frames} AAC frames at {sample_rate} Hz ({rep.frame_ms:.3f} ms): max error {rep.max_error_ms} ms, "
               f"drift {rep.drift_ms:+.2f} ms over {rep.run_frames} frames, {len(rep.resyncs)} resyncs"
               + (f" at {', '.join(f'#{i} ({e:+.1f} ms)' for i, e in rep.resyncs[:4])}" if rep.resyncs else ""))
    ev = {"max_error_ms": rep.max_error_ms, "drift_ms": rep.drift_ms, "resyncs": len(rep.resyncs)}
    if gaps_ms is None:
        return [info(rule, summary, **ev)]
    if len(rep.resyncs) != len(gaps_ms):
        if len(rep.resyncs) < len(gaps_ms):
            why = "a real gap in the publisher's audio was smoothed over (audio now runs early against video)"
        else:
            why = "the audio clock jumped where the publisher's audio had no gap"
        out.append(failed(rule, why, expected=f"{len(gaps_ms)} resyncs" + (f" of {', '.join(f'{g:+g}' for g in gaps_ms)} ms"
                          if gaps_ms else ""), actual=summary, verdict=violation, **ev))
    else:
        off = [(g, e) for g, (_, e) in zip(gaps_ms, rep.resyncs) if abs(e - g) > rep.frame_ms / 2]
        if off:
            out.append(failed(rule, "a resync does not match the publisher's gap", expected=f"{off[0][0]:+g} ms",
                              actual=f"{off[0][1]:+.1f} ms", verdict=violation, **ev))
    if abs(rep.drift_ms) > DRIFT_LIMIT_MS:
        out.append(failed(rule, "AAC timestamps drift off the 1024/rate sample clock",
                          expected=f"|drift| <= {DRIFT_LIMIT_MS} ms", actual=summary, verdict=violation, **ev))
    if not out:
        if rep.max_error_ms <= EXACT_CLOCK_MS:
            out.append(passed(rule, summary + " (exact clock)", **ev))
        else:
            out.append(info(rule, summary + " (publisher jitter passed through)", **ev))
    return out


# -- first message per chunk stream ------------------------------------------------------------------


def check_first_fmt0_per_csid(log: WireLog, *, rule: str = "TS-13") -> list[Finding]:
    """TS-13: a player's first audio, video or onMetaData message on each chunk stream has a fmt-0
    header (absolute timestamp, its own message stream id); NON-STRICT otherwise (convention).

    Also records each csid's first timestamp (players must accept one != 0) and the sequence
    headers' timestamps (0, the GOP start or the original value are all in use).
    """
    dec = log.decode(S2C)
    start = play_start_index(dec)
    first: dict[int, DecodedMessage] = {}
    for m in dec.messages[start:]:
        media_msg = m.raw.type_id in (8, 9) or (m.raw.type_id == 18 and bytes(m.raw.payload[:13]).endswith(b"onMetaData"))
        if media_msg and m.raw.csid not in first:
            first[m.raw.csid] = m
    if not first:
        return [failed(rule, "no audio, video or metadata reached the player", expected="media after Play.Start",
                       actual="none", verdict=Verdict.NON_STRICT)]
    out: list[Finding] = []
    for csid, m in sorted(first.items()):
        c = dec.chunks[m.first_chunk]
        what = f"csid {csid}: first {KIND.get(m.raw.type_id, m.raw.type_id)} message #{m.index} ts {m.raw.timestamp}"
        if c.fmt != 0:
            out.append(failed(rule, f"{what} has a fmt-{c.fmt} header; its timestamp is relative to state the "
                              "player never saw from this stream", expected="fmt 0 (absolute)", actual=f"fmt {c.fmt} "
                              f"at offset {c.offset}", verdict=Verdict.NON_STRICT, offset=c.offset))
        else:
            out.append(passed(rule, f"{what} is fmt 0"))
    shs = [m for m in dec.messages[start:] if m.raw.type_id in (8, 9) and not is_coded(m)]
    if shs:
        out.append(info(rule, "sequence header timestamps: " + ", ".join(
            f"{KIND[m.raw.type_id]} {m.raw.timestamp}" for m in shs[:4])))
    return out
