"""Chunk stream checkers (catalogue CH-1..CH-20, Adobe RTMP 1.0 §5.3, §5.4).

Two kinds of checker live here:

* **Sender checkers** judge every chunk one side (normally the server) wrote:
  :func:`check_chunk_headers` (is each header legal given the previous header on its chunk
  stream, is the announced chunk size honoured, do control messages travel on csid 2 / msid 0)
  and :func:`check_header_efficiency` (header bytes used against the smallest legal encoding).
* **Receiver checkers** judge how the server reacted to what a case sent: answered commands
  (:func:`check_answered`, :func:`check_not_answered`), media relayed intact to a player
  (:func:`check_relayed`), message stream ids (:func:`check_msid`).

All are pure functions of wire logs plus the facts a case knows (transaction ids, what was
published). Offsets in evidence are byte offsets in that direction's stream, handshake
included, so they match ``WireLog.hexdump``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise

from rtmpconf.harness.checks.relay import serial_delta
from rtmpconf.harness.checks.session import (
    check_still_serving,
    close_state,
    finding_with,
    replies,
    server_closed,
)
from rtmpconf.harness.verdict import Finding, Verdict, failed, info, not_run, passed
from rtmpconf.harness.wirelog import (
    C2S,
    HANDSHAKE_BYTES,
    S2C,
    DecodedMessage,
    Direction,
    DirectionDecode,
    WireLog,
)
from rtmpconf.records import record
from rtmpconf.rtmp.chunk import (
    DEFAULT_CHUNK_SIZE,
    EXTENDED_TIMESTAMP_MARKER,
    HALF_RANGE,
    TIMESTAMP_MASK,
    ChunkReader,
    ChunkRecord,
    RawMessage,
)
from rtmpconf.rtmp.errors import ProtocolError
from rtmpconf.rtmp.messages import Command, UserControl, UserControlEvent, decode_message, status_info

#: Protocol control messages (§5.4): Set Chunk Size, Abort, Ack, Window Ack Size, Set Peer BW.
PROTOCOL_CONTROL_TYPES = frozenset({1, 2, 3, 5, 6})
#: User control (§6.2): SHOULD travel like protocol control (CH-20).
USER_CONTROL_TYPE = 4
#: Types §5.3.1.1 lets csid 2 carry: "low-level protocol control messages and commands".
CSID2_TYPES = PROTOCOL_CONTROL_TYPES | {USER_CONTROL_TYPE, 17, 20}
#: Every message type id RTMP 1.0 defines (§5.4, §6.2, §7.1). Anything else in a server's
#: output is more likely a framing slip than a real message.
KNOWN_TYPE_IDS = frozenset({1, 2, 3, 4, 5, 6, 8, 9, 15, 16, 17, 18, 19, 20, 22})
#: Size of the fmt 0/1/2/3 message headers (§5.3.1.2).
MESSAGE_HEADER_SIZE = (11, 7, 3, 0)
#: How far (ms) a relayed message may drift from the publisher's timing before a fmt-3 header
#: that produced the drift is blamed. 1 ms absorbs rounding by servers that re-time AAC on
#: its exact 1024-sample cadence; the fmt-3-after-fmt-0 slip it targets is a whole frame or more.
RETIME_TOLERANCE_MS = 1
#: Examples quoted per kind of violation (the count says how many there were).
MAX_EXAMPLES = 3
#: Chunk sizes tried when a direction fails to decode, besides those announced in the log.
COMMON_CHUNK_SIZES = (128, 4096, 60000, 65536)


@record(frozen=True, slots=True)
class SentMedia:
    """One media message a case published, to compare with what a player receives."""

    type_id: int  #: 8 audio, 9 video
    timestamp: int  #: the timestamp the publisher's headers encoded
    payload: bytes  #: the message payload
    optional: bool = False  #: a server may legitimately drop it (e.g. an empty audio message)


# -- small helpers -----------------------------------------------------------------------------


def _stream_offset(rec: ChunkRecord) -> int:
    """Chunk record offsets count from the end of the handshake; evidence uses stream offsets."""
    return HANDSHAKE_BYTES + rec.offset


def _examples(items: Sequence[str]) -> str:
    more = f" (+{len(items) - MAX_EXAMPLES} more)" if len(items) > MAX_EXAMPLES else ""
    return "; ".join(items[:MAX_EXAMPLES]) + more


# -- receiver checkers: answers, closes, relays ------------------------------------------------


def check_answered(log: WireLog, tids: Iterable[float], *, rule: str, what: str,
                   close_verdict: Verdict = Verdict.FAIL, silent_verdict: Verdict = Verdict.FAIL,
                   forbidden: Iterable[float] = (), after: WireLog | None = None) -> list[Finding]:
    """Every transaction in ``tids`` answered (``_result`` or ``_error``); none in ``forbidden``.

    A close instead of answers costs ``close_verdict`` (PASS where closing is a legal refusal),
    an open but silent connection ``silent_verdict``. ``after`` is a fresh session's log, to
    tell a refusal from a crash.
    """
    wanted = list(tids)
    out: list[Finding] = []
    missing = [t for t in wanted if not replies(log, t)]
    if not missing:
        idx = [replies(log, t)[0].index for t in wanted]
        out.append(passed(rule, f"the server understood {what}: every request answered",
                          message_indexes=idx))
    elif server_closed(log):
        out.append(finding_with(rule, close_verdict, f"{close_state(log)} instead of answering {what}",
                                    expected=f"answers to transactions {missing}",
                                    actual=close_state(log)))
    else:
        out.append(finding_with(rule, silent_verdict,
                                    f"no answer to {what} and no close: the request was lost or the "
                                    "session is stuck", expected=f"answers to transactions {missing}",
                                    actual=close_state(log)))
    for t in forbidden:
        got = replies(log, t)
        if got:
            out.append(failed(rule, f"the server answered transaction {t:g}, whose message was cut "
                              "short and must have been discarded", expected="no answer",
                              actual=f"{got[0].message.name} as s2c message #{got[0].index}",  # type: ignore[union-attr]
                              message_index=got[0].index))
    out.extend(check_still_serving(after, rule, what))
    return out


def check_not_answered(log: WireLog, tid: float, *, rule: str, what: str,
                       after: WireLog | None = None) -> list[Finding]:
    """Transaction ``tid`` must NOT be answered: its bytes were not a valid message at that offset."""
    got = replies(log, tid)
    out: list[Finding]
    if got:
        out = [failed(rule, f"the server answered {what}, so it parsed chunks at the wrong byte offset",
                      expected="no answer (a close or silence)",
                      actual=f"{got[0].message.name} as s2c message #{got[0].index}",  # type: ignore[union-attr]
                      message_index=got[0].index)]
    else:
        out = [passed(rule, f"{what} was not taken as a valid message ({close_state(log)})")]
    out.extend(check_still_serving(after, rule, what))
    return out


def _match_sent(messages: Sequence[DecodedMessage], sent: Sequence[SentMedia],
                types: Iterable[int] = (8, 9)) -> dict[int, list[tuple[DecodedMessage, int]]]:
    """Received media matched to ``sent`` by payload, in order, per type: type -> [(msg, sent index)].

    A server may drop messages (a player waiting for a keyframe), so received messages match
    an ordered subsequence of what was sent.
    """
    out: dict[int, list[tuple[DecodedMessage, int]]] = {}
    for t in types:
        idx = [i for i, s in enumerate(sent) if s.type_id == t]
        pos = 0
        pairs: list[tuple[DecodedMessage, int]] = []
        for m in messages:
            if m.raw.type_id != t:
                continue
            for j in range(pos, len(idx)):
                if sent[idx[j]].payload == m.raw.payload:
                    pairs.append((m, idx[j]))
                    pos = j + 1
                    break
        out[t] = pairs
    return out


def check_relayed(player: WireLog, sent: Sequence[SentMedia], *, rule: str,
                  publisher: WireLog | None = None, refusal_verdict: Verdict = Verdict.FAIL,
                  check_timing: bool = True) -> list[Finding]:
    """What a publisher sent reached a player intact, in order, with the same timestamp steps.

    This is how a case sees that the server parsed its chunks right: a mis-assembled message
    arrives corrupted or not at all, a mis-inherited timestamp arrives with the wrong step.
    ``refusal_verdict`` applies when the server closed the publisher instead (a refusal).
    """
    out: list[Finding] = []
    msgs = [m for m in player.decode(S2C).messages if m.raw.type_id in (8, 9)]
    matched = _match_sent(msgs, sent)
    got = {j for pairs in matched.values() for _, j in pairs}
    lost = [j for j, s in enumerate(sent) if j not in got and not s.optional]
    if lost:
        details = []
        # A corrupted copy is a received message that matched nothing sent, of the same size.
        used = {m.index for pairs in matched.values() for m, _ in pairs}
        strays = [m for m in msgs if m.index not in used]
        for j in lost[:MAX_EXAMPLES]:
            s = sent[j]
            twin = next((m for m in strays if m.raw.type_id == s.type_id and len(m.raw.payload) == len(s.payload)),
                        None)
            if twin is not None:
                strays.remove(twin)
                diff = next(i for i in range(len(s.payload)) if twin.raw.payload[i] != s.payload[i])
                details.append(f"sent #{j} (type {s.type_id}, {len(s.payload)} bytes) arrived corrupted as "
                               f"player message #{twin.index}, first wrong byte at payload offset {diff}")
            else:
                details.append(f"sent #{j} (type {s.type_id}, {len(s.payload)} bytes, ts {s.timestamp}) "
                               "never reached the player")
        refused = publisher is not None and server_closed(publisher)
        out.append(finding_with(
            rule, refusal_verdict if refused else Verdict.FAIL,
            ("the server closed the publisher's connection instead of accepting it: " if refused else
             "published messages did not reach the player intact: ") + _examples(details),
            expected=f"{sum(not s.optional for s in sent)} messages relayed byte for byte",
            actual=f"{len(sent) - len(lost)} relayed" + ("; publisher closed by the server" if refused else ""),
            lost=lost[:20]))
    else:
        out.append(passed(rule, f"all {len(got)} published messages reached the player byte for byte"))
        if publisher is not None and server_closed(publisher):
            out.append(finding_with(rule, refusal_verdict,
                                        "the server relayed the messages but then closed the publisher",
                                        expected="publisher connection kept", actual=close_state(publisher)))
    if check_timing:
        bad = []
        for pairs in matched.values():
            for (m0, j0), (m1, j1) in pairwise(pairs):
                want = serial_delta(sent[j1].timestamp, sent[j0].timestamp)
                have = serial_delta(m1.raw.timestamp, m0.raw.timestamp)
                if want != have:
                    bad.append(f"player messages #{m0.index}->#{m1.index} step {have} ms, published step {want} ms")
        if bad:
            out.append(failed(rule, "timestamps reached the player with the wrong steps, so the server "
                              "mis-read the inherited timestamp deltas: " + _examples(bad),
                              expected="the publisher's timestamp steps", actual=f"{len(bad)} wrong steps"))
        elif sum(len(p) for p in matched.values()) > 1:
            out.append(passed(rule, "relayed timestamps keep the publisher's steps"))
    return out


def check_msid(log: WireLog, stream_id: int, *, rule: str = "CH-9") -> list[Finding]:
    """NetStream traffic for ``stream_id`` carries that msid (4 bytes, little-endian, §5.3.1.2.1).

    Looks at onStatus "NetStream.*" replies, media and data on the stream, and StreamBegin's
    event data (big-endian like every field but the msid).
    """
    dec = log.decode(S2C)
    swapped = int.from_bytes(stream_id.to_bytes(4, "little"), "big")
    seen = 0
    problems: list[Finding] = []
    for m in dec.messages:
        st = status_info(m.message) if m.message is not None else None
        addressed = (st is not None and str(st.get("code", "")).startswith("NetStream.")) or m.raw.type_id in (8, 9, 18)
        if isinstance(m.message, UserControl) and m.message.event == UserControlEvent.STREAM_BEGIN:
            sid = m.message.stream_id
            if sid not in (None, 0):
                seen += 1
                if sid != stream_id:
                    problems.append(failed(
                        rule, "StreamBegin names the wrong stream" +
                        (": its event data is little-endian" if sid == swapped else ""),
                        expected=f"{stream_id} ({stream_id.to_bytes(4, 'big').hex(' ')})",
                        actual=f"{sid} ({m.message.data[:4].hex(' ')})", message_index=m.index))
            continue
        if not addressed:
            continue
        seen += 1
        if m.raw.msid == stream_id:
            continue
        first = dec.chunks[m.first_chunk] if m.first_chunk < len(dec.chunks) else None
        where = {"message_index": m.index}
        if first is not None:
            where["offset"] = _stream_offset(first)
        if m.raw.msid == swapped:
            problems.append(failed(rule, "message stream id written big-endian", expected=
                                   f"msid bytes {stream_id.to_bytes(4, 'little').hex(' ')} (little-endian {stream_id})",
                                   actual=f"msid bytes {stream_id.to_bytes(4, 'big').hex(' ')} (read as {m.raw.msid})",
                                   **where))
        elif first is not None and first.fmt != 0:
            problems.append(failed("CH-6", f"a fmt {first.fmt} header made message #{m.index} inherit msid "
                                   f"{m.raw.msid} from the previous message on csid {first.csid}; a fmt 0 header is "
                                   "needed to change stream", expected=f"msid {stream_id}",
                                   actual=f"msid {m.raw.msid}", **where))
        else:
            problems.append(failed(rule, "message addressed to the wrong message stream",
                                   expected=f"msid {stream_id}", actual=f"msid {m.raw.msid}", **where))
    if not seen:
        return [failed(rule, f"no NetStream message, media or StreamBegin for stream {stream_id} was received",
                       expected="onStatus/media on the created stream", actual=close_state(log))]
    if problems:
        return problems[:MAX_EXAMPLES + 1]
    return [passed(rule, f"{seen} messages for stream {stream_id} carry msid bytes "
                   f"{stream_id.to_bytes(4, 'little').hex(' ')} (little-endian)")]


# -- sender checker: header legality -----------------------------------------------------------


class _ScheduledReader(ChunkReader):
    """A reader that ignores Set Chunk Size messages: the chunk size follows a given schedule.

    Used only to diagnose a direction that does not decode with its announced chunk sizes.
    """

    def _apply_control(self, msg: RawMessage, pos: int) -> None:
        if msg.type_id != 1:
            super()._apply_control(msg, pos)


def _decode_problems(messages: Sequence[RawMessage], error: str | None) -> int:
    """How badly a decode went: 0 = clean (every message known and decodable, no error)."""
    bad = 1 if error else 0
    for raw in messages:
        if raw.type_id not in KNOWN_TYPE_IDS:
            bad += 1
            continue
        try:
            decode_message(raw.type_id, raw.payload)
        except ProtocolError:
            bad += 1
    return bad


def _decode_scheduled(body: bytes, schedule: Sequence[tuple[int, int]]) -> tuple[int, int, int]:
    """Decode ``body`` with chunk size schedule [(body offset, size)]: (problems, messages,
    bytes left over that form no complete chunk)."""
    reader = _ScheduledReader(record_chunks=False, max_open_messages=1 << 16, max_partial_bytes=1 << 31)
    msgs: list[RawMessage] = []
    error: str | None = None
    points = sorted(schedule) + [(len(body), 0)]
    try:
        for (start, size), (end, _) in pairwise(points):
            reader.set_chunk_size(size)
            reader.feed(body[start:end])
            msgs.extend(reader.messages())
        if reader.notices:
            error = reader.notices[0].text
    except ProtocolError as exc:
        error = str(exc)
    return _decode_problems(msgs, error), len(msgs), reader.buffered


def _diagnose_chunk_size(log: WireLog, direction: Direction) -> Finding | None:
    """Find the chunk-size story under which a badly decoding direction decodes cleanly.

    Hypotheses: the sender ignored its own Set Chunk Size (CH-16), used its announced size
    before announcing it (CH-14), or adopted the peer's announced size (CH-14).
    """
    dec = log.decode(direction)
    body = dec.data[HANDSHAKE_BYTES:]
    own = [(m.end_offset - HANDSHAKE_BYTES, getattr(m.message, "size", 0)) for m in dec.messages
           if m.raw.type_id == 1 and m.message is not None]
    other_dir: Direction = C2S if direction == S2C else S2C
    peer_dec = log.decode(other_dir)
    peer_sizes = [(m.time, getattr(m.message, "size", 0)) for m in peer_dec.messages
                  if m.raw.type_id == 1 and m.message is not None]
    hypotheses: list[tuple[str, str, list[tuple[int, int]]]] = []
    announced = [s for _, s in own]
    if own:
        hypotheses.append(("CH-16", f"the sender announced chunk size {announced} but kept writing 128-byte chunks",
                           [(0, DEFAULT_CHUNK_SIZE)]))
        for size in dict.fromkeys(announced):
            hypotheses.append(("CH-14", (f"the sender wrote {size}-byte chunks before announcing that size "
                                         "(the default is 128 until Set Chunk Size)"), [(0, size)]))
    for t, size in peer_sizes:
        # The sender adopted the peer's size from its next write after the peer's announcement.
        switch = next((e.offset - HANDSHAKE_BYTES for e in log.events
                       if e.direction == direction and e.time >= t and e.offset >= HANDSHAKE_BYTES), None)
        if switch is None:
            continue
        base = [(0, DEFAULT_CHUNK_SIZE)] + [(o, s) for o, s in own if o <= switch]
        current = base[-1][1]
        sched = [(o, s) for o, s in base if o < switch] + [(switch, size)]
        if size != current:
            hypotheses.append(("CH-14", (f"the sender switched its own chunk size to the peer's {size} "
                                         "(chunk size is kept separately per direction)"), sched))
    for size in COMMON_CHUNK_SIZES:
        if size not in announced:
            hypotheses.append(("CH-14", f"the sender wrote {size}-byte chunks without announcing them",
                               [(0, size)]))
    normal_problems = _decode_problems([m.raw for m in dec.messages], dec.error) + len(dec.notices)
    for rule, story, sched in hypotheses:
        problems, count, left = _decode_scheduled(body, sched)
        # A story counts only if it explains the bytes better than the announced sizes do: no
        # problems, and no more bytes left waiting for a chunk that never completes (strictly
        # fewer when the announced sizes' only symptom was such leftover bytes).
        better = left < dec.trailing or (left == dec.trailing and normal_problems > 0)
        if problems == 0 and count >= 1 and better:
            symptom = (f"decode error at offset {dec.error_offset}: {dec.error}" if dec.error else
                       f"{normal_problems} undecodable/unknown messages, {dec.trailing} bytes completing no chunk")
            return failed(rule, f"the {direction} stream does not decode with the announced chunk sizes but "
                          f"decodes cleanly if {story}", expected="chunks no longer than the chunk size in force, "
                          "which changes only with the sender's own Set Chunk Size",
                          actual=symptom, error_offset=dec.error_offset)
    return None


@record(slots=True)
class _CsidState:
    partial: bool = False  #: a message is half sent on this chunk stream
    last_type: int = 0


def check_chunk_headers(log: WireLog, *, direction: Direction = S2C,
                        sent: Sequence[SentMedia] | None = None) -> list[Finding]:
    """Legality of every chunk header one side wrote (default: the server's).

    * CH-5: each chunk stream starts with fmt 0; a step back in time uses fmt 0 (a fmt 1/2/3
      delta of 2**31 or more is a step back).
    * CH-10: a message is sent whole (its announced length) before the next header on its csid.
    * CH-14/CH-16: the direction decodes with the chunk sizes its own Set Chunk Size announced;
      if not, the chunk-size story that does decode is named.
    * CH-20: protocol control (types 1,2,3,5,6) on csid 2 and msid 0 (MUST); user control
      likewise (SHOULD); csid 2 carries nothing else (§5.3.1.1 reserves it).
    * CH-7/CH-6 (with ``sent``, what the publisher sent): a fmt-3 header that starts a message
      reuses the previous delta; if that puts the message off the publisher's timeline, fmt 3
      was the wrong choice. A fmt 1/2 delta computed against a message this receiver never got
      is the same mistake.
    """
    dec = log.decode(direction)
    who = "server" if direction == S2C else "client"
    out: list[Finding] = []
    # Symptoms of chunks framed at another size than the one in force: undecodable or unknown
    # messages, reader notices, or bytes left over that never complete a chunk.
    hard = (_decode_problems([m.raw for m in dec.messages], dec.error) > 0 or bool(dec.notices)
            or dec.trailing > 0)
    if hard:
        diagnosis = _diagnose_chunk_size(log, direction)
        if diagnosis is not None:
            return [diagnosis]
    if not dec.chunks and not dec.error:
        return [failed("CH-5", f"the {who} sent no chunks to judge", expected="at least one message",
                       actual=f"{len(dec.data)} bytes in total")]

    fresh_bad: list[str] = []
    interrupted: list[str] = []
    backwards: list[str] = []
    states: dict[int, _CsidState] = {}
    fmt3_starts = 0
    for i, ch in enumerate(dec.chunks):
        st = states.get(ch.csid)
        where = f"chunk #{i} at offset {_stream_offset(ch)} on csid {ch.csid}"
        if st is None:
            st = states[ch.csid] = _CsidState()
            if ch.fmt != 0:
                fresh_bad.append(f"{where} is fmt {ch.fmt} but nothing was sent on that chunk stream before")
        if st.partial and ch.fmt != 3:
            interrupted.append(f"{where}: fmt {ch.fmt} header while a message on that csid was incomplete")
        if ch.starts_message and ch.fmt != 0 and ch.delta >= HALF_RANGE:
            backwards.append(f"{where}: fmt {ch.fmt} delta {ch.delta} steps back {(1 << 32) - ch.delta} ms")
        if ch.starts_message and ch.fmt == 3:
            fmt3_starts += 1
        st.partial = not ch.completes_message
        st.last_type = ch.type_id
    if dec.error and dec.error_rule == "CH-8":
        fresh_bad.append(f"offset {dec.error_offset}: {dec.error}")

    if fresh_bad or backwards:
        out.append(failed("CH-5", "fmt 0 is required at the start of a chunk stream and when time goes "
                          "back: " + _examples(fresh_bad + backwards), expected="fmt 0",
                          actual=f"{len(fresh_bad)} chunk streams not opened with fmt 0, "
                          f"{len(backwards)} backward steps without fmt 0"))
    else:
        out.append(passed("CH-5", f"all {len(states)} chunk streams open with fmt 0 and no header steps back "
                          "in time without fmt 0"))
    if interrupted:
        out.append(failed("CH-10", "a message was abandoned before its announced length was sent: "
                          + _examples(interrupted), expected="only fmt 3 continuation chunks until the "
                          "message length is reached", actual=f"{len(interrupted)} interrupted messages"))
    elif dec.error and dec.error_rule != "CH-8":
        out.append(failed(dec.error_rule or "CH-10", f"the {who}'s chunk stream stops decoding: {dec.error}",
                          expected="a decodable chunk stream", actual=dec.error, offset=dec.error_offset))
    else:
        sizes = [s for _, s in dec.chunk_size_changes]
        out.append(passed("CH-10", f"{len(dec.messages)} messages in {len(dec.chunks)} chunks decode with the "
                          f"announced chunk sizes {[DEFAULT_CHUNK_SIZE] + sizes}"))
    odd = [f"message #{m.index} type {m.raw.type_id}" for m in dec.messages
           if m.raw.type_id not in KNOWN_TYPE_IDS or m.decode_error]
    if odd:
        out.append(info("CH-10", "messages of unknown type or that do not decode (a framing slip would "
                        "look like this): " + _examples(odd)))
    out.extend(_control_placement(dec))
    if sent is not None:
        out.extend(_timing_against_sent(dec, sent, fmt3_starts))
    return out


def _control_placement(dec: DirectionDecode) -> list[Finding]:
    """CH-20 and the csid-2 reservation of §5.3.1.1."""
    must: list[str] = []
    should: list[str] = []
    misuse: list[str] = []
    controls = 0
    for m in dec.messages:
        raw = m.raw
        where = f"message #{m.index} (type {raw.type_id}) on csid {raw.csid} msid {raw.msid}"
        if raw.type_id in PROTOCOL_CONTROL_TYPES:
            controls += 1
            if raw.csid != 2 or raw.msid != 0:
                must.append(where)
        elif raw.type_id == USER_CONTROL_TYPE:
            controls += 1
            if raw.csid != 2 or raw.msid != 0:
                should.append(where)
        elif raw.csid == 2:
            misuse.append(where)
    out: list[Finding] = []
    if must:
        out.append(failed("CH-20", "protocol control messages MUST use csid 2 and msid 0: " + _examples(must),
                          expected="csid 2, msid 0", actual=f"{len(must)} misplaced"))
    if should:
        out.append(failed("CH-20", "user control messages SHOULD use csid 2 and msid 0: " + _examples(should),
                          expected="csid 2, msid 0", actual=f"{len(should)} misplaced", verdict=Verdict.NON_STRICT))
    if misuse:
        out.append(failed("CH-1", "csid 2 is reserved for control messages and commands: " + _examples(misuse),
                          expected="other csids for media and data", actual=f"{len(misuse)} messages",
                          verdict=Verdict.NON_STRICT))
    if not (must or should or misuse):
        out.append(passed("CH-20", f"{controls} control messages, all on csid 2 / msid 0; csid 2 carries "
                          "nothing else"))
    return out


def _timing_against_sent(dec: DirectionDecode, sent: Sequence[SentMedia], fmt3_starts: int) -> list[Finding]:
    """CH-7/CH-6: compare relayed timing with the publisher's, blaming inheriting headers."""
    matched = _match_sent(dec.messages, sent)
    wrong_fmt3: list[str] = []
    wrong_delta: list[str] = []
    retimed: list[str] = []
    pairs_checked = 0
    for pairs in matched.values():
        for (m0, j0), (m1, j1) in pairwise(pairs):
            pairs_checked += 1
            drift = serial_delta(m1.raw.timestamp, m0.raw.timestamp) - serial_delta(sent[j1].timestamp, sent[j0].timestamp)
            if abs(drift) <= RETIME_TOLERANCE_MS:
                continue
            first = dec.chunks[m1.first_chunk]
            where = f"message #{m1.index} (chunk #{m1.first_chunk}, offset {_stream_offset(first)}, csid {first.csid})"
            if first.fmt == 3:
                wrong_fmt3.append(f"{where} starts with fmt 3, inheriting delta {first.delta}, so it lands at "
                                  f"ts {m1.raw.timestamp}; the publisher's timing puts it {drift:+d} ms away")
            elif first.fmt in (1, 2) and j1 - 1 > j0 and sent[j1 - 1].type_id == sent[j1].type_id and \
                    first.delta == (sent[j1].timestamp - sent[j1 - 1].timestamp) & TIMESTAMP_MASK:
                wrong_delta.append(f"{where} is fmt {first.fmt} with delta {first.delta}, measured from a message "
                                   "this receiver never got")
            else:
                retimed.append(f"{where}: {drift:+d} ms against the publisher (fmt {first.fmt})")
    out: list[Finding] = []
    if wrong_fmt3:
        out.append(failed("CH-7", "a fmt-3 header started a message whose delta differs from the previous "
                          "one: " + _examples(wrong_fmt3), expected="fmt 2 (or 1/0) whenever the delta changes",
                          actual=f"{len(wrong_fmt3)} messages off their timeline"))
    if wrong_delta:
        out.append(failed("CH-6", "a fmt 1/2 delta was computed against a message the receiver did not get: "
                          + _examples(wrong_delta), expected="fmt 0 after skipping messages on a csid",
                          actual=f"{len(wrong_delta)} messages off their timeline"))
    if retimed:
        out.append(info("CH-7", "the server re-timed messages with explicit headers (a timestamp policy, "
                        "not a chunking error): " + _examples(retimed)))
    if not (wrong_fmt3 or wrong_delta):
        if pairs_checked:
            out.append(passed("CH-7", f"{fmt3_starts} messages start with fmt 3; relayed timing matches the "
                              f"publisher's over {pairs_checked} consecutive pairs"))
        else:
            out.append(failed("CH-7", "none of the published media reached this receiver; timing cannot be "
                              "judged", expected="relayed media", actual="none matched"))
    return out


# -- sender checker: automatic replies glued to commands ----------------------------------------


def check_glued_trigger(log: WireLog, tids: Sequence[float], *, trigger: str, reply: str,
                        is_reply: Callable[[DecodedMessage], bool], refusal: str | None = None) -> list[Finding]:
    """A trigger of an automatic reply and commands reached the server in one write.

    A server that queues its automatic replies (acknowledgements, ping responses, window
    replies) apart from its command replies writes them in another order than it encoded
    them; header compression (§5.3.1.2) then makes the peer decode a chunk against the wrong
    previous header, or see a chunk stream open with fmt 1/2/3. So: every chunk the server wrote
    is judged (:func:`check_chunk_headers`: CH-5 fmt 0 first on each chunk stream, CH-10 the
    stream decodes, CH-20), every transaction in ``tids`` must be answered (CMD-10), and whether
    the automatic reply (``is_reply``) came at all is checked: without it the write exercised
    no reply ordering, and the case is NOT-RUN (unless an answer was illegal).

    ``refusal``: when the glued write holds something the spec leaves undefined (media before
    connect), a server may refuse it; one that closed the connection without writing a single
    chunk is then NOT-RUN with this reason (the ordering was not exercised, and refusing is
    judged by the rule that covers it), not a FAIL of the rules this case exists for.
    """
    if refusal is not None and log.closed_by == S2C and not log.decode(S2C).chunks:
        how = "reset" if log.reset else "closed"
        return [not_run("CH-5", f"the server {how} the connection on {trigger} without writing a chunk: "
                                f"{refusal}; the order of automatic and command replies was not exercised")]
    out = check_chunk_headers(log)
    out.extend(check_answered(log, tids, rule="CMD-10", what=f"the commands glued to {trigger}"))
    dec = log.decode(S2C)
    seen = next((m for m in dec.messages if is_reply(m)), None)
    if seen is not None:
        out.append(passed("CH-5", f"the server sent its {reply} (s2c message #{seen.index}) for {trigger}: "
                          "the order of automatic and command replies was exercised", message_index=seen.index))
    elif dec.error:
        out.append(info("CH-5", f"whether the server sent its {reply} cannot be told: its chunk stream stops "
                        f"decoding at offset {dec.error_offset}"))
    else:
        # The condition this case exists for never happened: no verdict on the ordering.
        out.append(not_run("CH-5", f"the server sent no {reply} for {trigger}, so the order of automatic and "
                           "command replies was not exercised (the legality of its answers was judged)"))
    return out


# -- sender checker: compression ----------------------------------------------------------------


def _smallest_basic(csid: int) -> int:
    return 1 if csid < 64 else (2 if csid < 320 else 3)


def check_header_efficiency(log: WireLog, *, direction: Direction = S2C) -> list[Finding]:
    """Header bytes the sender used against the smallest legal encoding (INFORMATIONAL), and
    CH-2a: basic headers in their smallest form (SHOULD).

    The smallest encoding is that of a writer that keeps the same chunk streams, chunk size and
    extended-timestamp dialect and picks fmt 3/2/1 whenever inheriting is correct (fmt 0 at
    the start of a chunk stream, on a new msid or a backward step; §5.3.1.2).
    """
    dec = log.decode(direction)
    if not dec.chunks:
        return [failed("CH-2a", "no chunks to judge", expected="at least one message", actual="none")]
    # Minimal writer state per csid: timestamp, delta, length, type, msid.
    state: dict[int, tuple[int, int, int, int, int]] = {}
    actual = minimal = 0
    fmt_actual: Counter[int] = Counter()
    fmt_min: Counter[int] = Counter()
    wide: list[str] = []
    for i, ch in enumerate(dec.chunks):
        actual += ch.header_len
        basic = _smallest_basic(ch.csid)
        if ch.basic_header_len > basic:
            wide.append(f"chunk #{i} at offset {_stream_offset(ch)}: csid {ch.csid} in a "
                        f"{ch.basic_header_len}-byte basic header")
        if not ch.starts_message:
            minimal += basic + (4 if ch.extended is not None else 0)
            continue
        fmt_actual[ch.fmt] += 1
        prev = state.get(ch.csid)
        ts = ch.timestamp
        if prev is None or prev[4] != ch.msid or ((ts - prev[0]) & TIMESTAMP_MASK) >= HALF_RANGE:
            fmt, field = 0, ts
        else:
            field = (ts - prev[0]) & TIMESTAMP_MASK
            if ch.message_length != prev[2] or ch.type_id != prev[3]:
                fmt = 1
            elif field != prev[1]:
                fmt = 2
            else:
                fmt = 3
        fmt_min[fmt] += 1
        minimal += basic + MESSAGE_HEADER_SIZE[fmt] + (4 if field >= EXTENDED_TIMESTAMP_MARKER else 0)
        # §5.3.1.2.4: after a fmt 0 header the delta a later fmt 3 reuses is the timestamp itself.
        state[ch.csid] = (ts, field, ch.message_length, ch.type_id, ch.msid)
    extra = actual - minimal
    pct = 100.0 * extra / minimal if minimal else 0.0
    out = [info("CH-6", f"{direction} header bytes: {actual} used, {minimal} in the smallest legal encoding "
                f"({extra:+d}, {pct:+.1f}%); message-start fmts used {dict(sorted(fmt_actual.items()))}, "
                f"smallest {dict(sorted(fmt_min.items()))}", actual=actual, minimal=minimal)]
    if wide:
        out.append(failed("CH-2a", "basic headers SHOULD use the smallest form for their csid: " + _examples(wide),
                          expected="1 byte for csid 2..63, 2 bytes for 64..319",
                          actual=f"{len(wide)} wider basic headers", verdict=Verdict.NON_STRICT))
    else:
        out.append(passed("CH-2a", f"all {len(dec.chunks)} basic headers use the smallest form"))
    return out


# -- CH-17 ---------------------------------------------------------------------------------------


def check_chunk_size_announcement(log: WireLog) -> list[Finding]:
    """CH-17 (CONV): whether and when the server raises its chunk size; tiny sizes are a pitfall."""
    dec = log.decode(S2C)
    result = next((m.index for m in dec.messages if isinstance(m.message, Command)
                   and m.message.name == "_result" and m.message.transaction_id == 1.0), None)
    if not dec.chunk_size_changes:
        return [info("CH-17", "the server never announced a chunk size: it writes 128-byte chunks (legal; "
                     "FFmpeg does the same, most servers raise it)")]
    index, size = dec.chunk_size_changes[0]
    when = ("before" if result is None or index < result else "after") + " the connect _result"
    if size < DEFAULT_CHUNK_SIZE:
        return [failed("CH-17", f"the server announced a chunk size of {size}, below 128, {when}: peers that "
                       "assume one command per chunk break", expected=">= 128", actual=str(size),
                       verdict=Verdict.NON_STRICT, message_index=index)]
    return [info("CH-17", f"the server announced chunk size {size} {when} (s2c message #{index}); "
                 f"all changes: {[s for _, s in dec.chunk_size_changes]}", message_index=index)]


# -- robustness outcome --------------------------------------------------------------------------


def check_survived_or_closed(log: WireLog, *, rule: str, what: str, after: WireLog | None = None) -> list[Finding]:
    """After a resource-hungry burst: a close (a limit hit) or a live session; not a hang or crash.

    Memory cannot be measured from outside: a session that survives is recorded, not judged.
    """
    pongs = [m for m in log.decode(S2C).messages if isinstance(m.message, UserControl)
             and m.message.event == UserControlEvent.PING_RESPONSE]
    out: list[Finding]
    if server_closed(log):
        out = [passed(rule, f"the server closed the connection after {what} (a limit was enforced)")]
    elif pongs:
        out = [info(rule, f"the server survived {what} and still answers pings; whether its memory stayed "
                    "bounded cannot be seen from the wire", message_index=pongs[-1].index)]
    else:
        out = [failed(rule, f"after {what} the server neither closed nor answered a ping", expected=
                      "a close or a PingResponse", actual=close_state(log), verdict=Verdict.NON_STRICT)]
    out.extend(check_still_serving(after, rule, what))
    return out
