"""Published vs relayed media: what a player received against what a publisher sent.

Shared by the timestamp, GOP, media and E-RTMP checkers. Timestamps are compared on the 32-bit
serial line (RFC 1982, TS-7): ``serial_delta(a, b)`` is the signed distance from b to a.
Matching finds the publisher's audio/video payloads again, byte for byte and in order, in what a
player received after NetStream.Play.Start (``match_relayed``).
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Sequence
from typing import Protocol

from rtmpconf.harness.wirelog import S2C, DecodedMessage, DirectionDecode, WireLog
from rtmpconf.records import record
from rtmpconf.rtmp import media
from rtmpconf.rtmp.messages import status_info

MASK = 0xFFFFFFFF
HALF = 0x80000000

KIND = {8: "audio", 9: "video", 18: "data"}


class SentLike(Protocol):
    """What a publisher sent: ``harness.testmedia.MediaTag`` satisfies it."""

    @property
    def type_id(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def payload(self) -> bytes: ...


def serial_delta(a: int, b: int) -> int:
    """Signed a - b on the 32-bit serial line (RFC 1982)."""
    d = (a - b) & MASK
    return d - 0x100000000 if d >= HALF else d


def is_sequence_header(type_id: int, payload: bytes) -> bool:
    """An AVC/HEVC/... video or AAC audio sequence header (decoder configuration)."""
    if type_id == 9:
        return media.is_video_sequence_header(payload)
    if type_id == 8:
        return media.is_audio_sequence_header(payload)
    return False


def is_coded(m: DecodedMessage) -> bool:
    """An audio or video message that carries media (not a sequence header)."""
    return m.raw.type_id in (8, 9) and not is_sequence_header(m.raw.type_id, m.raw.payload)


def play_start_index(dec: DirectionDecode) -> int:
    """Index of the first message after NetStream.Play.Start (0 if none seen)."""
    for m in dec.messages:
        st = status_info(m.message) if m.message is not None else None
        if st is not None and st.get("code") == "NetStream.Play.Start":
            return m.index + 1
    return 0


def received_media(dec: DirectionDecode, types: Collection[int] = (8, 9)) -> list[DecodedMessage]:
    """Messages of ``types`` the server sent after NetStream.Play.Start (all of them if none seen)."""
    return [m for m in dec.messages[play_start_index(dec):] if m.raw.type_id in types]


def player_media(log: WireLog, types: Collection[int] = (8, 9)) -> list[DecodedMessage]:
    """:func:`received_media` of the server-to-client direction."""
    return received_media(log.decode(S2C), types)


# -- matching ------------------------------------------------------------------------------------


@record(slots=True)
class RelayMatch:
    """The publisher's messages found again at a player."""

    pairs: list[tuple[int, DecodedMessage]]  #: (index into sent, received message), in arrival order
    unknown: list[DecodedMessage]  #: received A/V messages whose payload was never sent (corrupted)
    missing: list[int]  #: sent indices never received, from the first coded frame of their type on
    skipped_before_join: list[int]  #: sent indices never received, before that first coded frame

    def pairs_of(self, type_id: int, sent: Sequence[SentLike], *, coded_only: bool = True) -> list[tuple[int, DecodedMessage]]:
        return [(i, m) for i, m in self.pairs if m.raw.type_id == type_id
                and not (coded_only and is_sequence_header(type_id, sent[i].payload))]


def match_messages(received: Sequence[DecodedMessage], sent: Sequence[SentLike],
                   types: Collection[int] = (8, 9)) -> RelayMatch:
    """Greedy in-order match of received payloads against sent ones, per message type.

    Each received message matches the next sent message of its type (at or after the previous match)
    with an identical payload, so repeated payloads (a re-sent sequence header) pair up in order.
    """
    out = RelayMatch([], [], [], [])
    for t in types:
        idx = [i for i, s in enumerate(sent) if s.type_id == t]
        where: dict[bytes, list[int]] = {}
        for pos, i in enumerate(idx):
            where.setdefault(bytes(sent[i].payload), []).append(pos)
        nxt = 0
        matched_pos: list[int] = []
        for m in received:
            if m.raw.type_id != t:
                continue
            cands = where.get(bytes(m.raw.payload))
            k = bisect.bisect_left(cands, nxt) if cands else 0
            if not cands or k >= len(cands):
                # An earlier copy (a cached header re-sent to this player) is not corruption.
                if cands and is_sequence_header(t, m.raw.payload):
                    out.pairs.append((idx[cands[-1]], m))
                    continue
                out.unknown.append(m)
                continue
            pos = cands[k]
            matched_pos.append(pos)
            out.pairs.append((idx[pos], m))
            nxt = pos + 1
        # A late joiner's tail starts at its first coded frame; cached headers sent before that
        # frame do not make the frames in between "missing".
        coded = [p for p in matched_pos if not is_sequence_header(t, sent[idx[p]].payload)]
        first = coded[0] if coded else len(idx)
        got = set(matched_pos)
        out.skipped_before_join.extend(idx[p] for p in range(first) if p not in got)
        out.missing.extend(idx[p] for p in range(first, len(idx)) if p not in got)
    out.pairs.sort(key=lambda p: p[1].index)
    out.unknown.sort(key=lambda m: m.index)
    return out


def match_relayed(log: WireLog, sent: Sequence[SentLike], types: Collection[int] = (8, 9)) -> RelayMatch:
    """:func:`match_messages` of what a player received after NetStream.Play.Start."""
    return match_messages(player_media(log, types), sent, types)
