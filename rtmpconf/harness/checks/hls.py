"""HLS checkers (catalogue section 13, HLS): playlist syntax and reloads (RFC 8216 §4, §6.2), and
the segments themselves (PAT/PMT, IDR start, timestamps across segments)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from rtmpconf.harness.checks.mpegts import check_ts_starts_with_keyframe
from rtmpconf.harness.http.m3u8 import MediaPlaylist, PlaylistSegment
from rtmpconf.harness.http.mpegts import VIDEO_TYPES, TsReader
from rtmpconf.harness.verdict import Finding, failed, not_run, passed

_MASK33 = (1 << 33) - 1


@dataclass(frozen=True, slots=True)
class FetchedSegment:
    """A segment as listed and as downloaded."""

    entry: PlaylistSegment
    ts: TsReader


def check_playlist_syntax(pl: MediaPlaylist) -> list[Finding]:
    """HLS-1: #EXTM3U first, one EXT-X-TARGETDURATION, every URI after an EXTINF."""
    if pl.is_master:
        return [not_run("HLS-1", "a Master Playlist came back; the Media Playlist checks need a media playlist")]
    if pl.errors:
        return [failed("HLS-1", f"playlist syntax: {e}") for e in pl.errors[:3]]
    return [passed("HLS-1", f"Media Playlist well-formed ({len(pl.segments)} segments)")]


def check_extinf_within_target(playlists: Sequence[MediaPlaylist]) -> list[Finding]:
    """HLS-2 (§4.3.3.1): each EXTINF rounded to the nearest integer <= EXT-X-TARGETDURATION."""
    seen = 0
    for pl in playlists:
        if pl.target_duration is None:
            continue
        for seg in pl.segments:
            seen += 1
            if int(seg.duration + 0.5) > pl.target_duration:
                return [failed("HLS-2", f"segment {seg.seq} ({seg.uri}) lasts {seg.duration:g} s, over the "
                                        f"target duration", expected=f"round(EXTINF) <= {pl.target_duration}",
                               actual=f"EXTINF {seg.duration:g}", line=seg.line)]
    if not seen:
        return [not_run("HLS-2", "no segment listed")]
    return [passed("HLS-2", f"{seen} EXTINF values within the target duration")]


def check_reloads(playlists: Sequence[MediaPlaylist]) -> list[Finding]:
    """HLS-3 (§6.2.1, §6.2.2): across reloads a sequence number keeps its URI, the media sequence
    never decreases, segments leave only from the front, and the playlist grows while live."""
    pls = [p for p in playlists if p.segments]
    if len(pls) < 2:
        return [not_run("HLS-3", "fewer than two playlists with segments were fetched")]
    known: dict[int, str] = {}
    for i, (a, b) in enumerate(itertools.pairwise(pls), 1):
        if b.media_sequence < a.media_sequence:
            return [failed("HLS-3", f"EXT-X-MEDIA-SEQUENCE went down on reload {i}",
                           expected=f">= {a.media_sequence}", actual=str(b.media_sequence))]
        for seg in a.segments:
            known.setdefault(seg.seq, seg.uri)
        for seg in b.segments:
            if seg.seq in known and known[seg.seq] != seg.uri:
                return [failed("HLS-3", f"media sequence number {seg.seq} names another segment on reload {i}",
                               expected=known[seg.seq], actual=seg.uri)]
        # Segments are removed in order from the front: what stays of a is a prefix of b.
        kept = [s.uri for s in a.segments if s.seq >= b.media_sequence]
        if [s.uri for s in b.segments[:len(kept)]] != kept:
            return [failed("HLS-3", f"reload {i} changed segments in the middle of the playlist",
                           expected=", ".join(kept[:4]), actual=", ".join(s.uri for s in b.segments[:4]))]
    first, last = pls[0], pls[-1]
    if last.segments[-1].seq <= first.segments[-1].seq and not last.endlist:
        return [failed("HLS-3", "the live playlist did not grow while the publisher went on",
                       expected=f"a segment after {first.segments[-1].seq}", actual=f"last {last.segments[-1].seq}")]
    return [passed("HLS-3", f"{len(pls)} reloads consistent (media sequence {first.media_sequence} -> "
                            f"{last.media_sequence})")]


def check_target_constant(playlists: Sequence[MediaPlaylist]) -> list[Finding]:
    """HLS-4 (§6.2.1): "The EXT-X-TARGETDURATION value MUST NOT change"."""
    values = [p.target_duration for p in playlists if p.target_duration is not None]
    if len(values) < 2:
        return [not_run("HLS-4", "fewer than two playlists were fetched")]
    if len(set(values)) > 1:
        return [failed("HLS-4", "EXT-X-TARGETDURATION changed between reloads", expected=str(values[0]),
                       actual=" -> ".join(str(v) for v in dict.fromkeys(values)))]
    return [passed("HLS-4", f"EXT-X-TARGETDURATION stays {values[0]} over {len(values)} reloads")]


def check_segments_psi(segments: Sequence[FetchedSegment]) -> list[Finding]:
    """HLS-5 (§3.2): each TS segment contains a PAT and a PMT (no EXT-X-MAP is used)."""
    if not segments:
        return [not_run("HLS-5", "no segment was downloaded")]
    for s in segments:
        tables = {sec.table_id for sec in s.ts.sections}
        if not {0, 2} <= tables:
            return [failed("HLS-5", f"segment {s.entry.seq} ({s.entry.uri}) lacks "
                                    f"{'a PAT' if 0 not in tables else 'a PMT'}", expected="PAT and PMT",
                           actual=f"tables {sorted(tables)}")]
    return [passed("HLS-5", f"{len(segments)} segments each carry PAT and PMT")]


def check_segments_start_idr(segments: Sequence[FetchedSegment]) -> list[Finding]:
    """HLS-6: each segment starts with a random access point (IDR), so it decodes on its own."""
    if not segments:
        return [not_run("HLS-6", "no segment was downloaded")]
    for s in segments:
        f = check_ts_starts_with_keyframe(s.ts, "HLS-6", f"segment {s.entry.seq} ({s.entry.uri})")
        if any(x.verdict.value == "FAIL" for x in f):
            return f
    return [passed("HLS-6", f"{len(segments)} segments each start with a keyframe")]


def _first_last_dts(ts: TsReader) -> tuple[int, int] | None:
    vals = [p.decode_ts for p in ts.pes if p.decode_ts is not None and ts.streams.get(p.pid) in VIDEO_TYPES]
    if not vals:
        vals = [p.decode_ts for p in ts.pes if p.decode_ts is not None]
    if not vals:
        return None
    return vals[0], vals[-1]  # type: ignore[return-value]


def check_segment_timeline(segments: Sequence[FetchedSegment], *, max_gap_s: float = 2.0) -> list[Finding]:
    """HLS-7 (§4.3.2.3): consecutive segments without EXT-X-DISCONTINUITY continue one timeline: the
    next segment's first DTS follows the previous segment's last DTS, never going back (SRS #2808)
    nor leaping ahead."""
    segs = sorted(segments, key=lambda s: s.entry.seq)
    judged = 0
    for a, b in itertools.pairwise(segs):
        if b.entry.seq != a.entry.seq + 1 or b.entry.discontinuity:
            continue
        ta, tb = _first_last_dts(a.ts), _first_last_dts(b.ts)
        if ta is None or tb is None:
            continue
        judged += 1
        d = (tb[0] - ta[1]) & _MASK33
        if d >= 1 << 32:
            d -= 1 << 33
        if d < 0:
            return [failed("HLS-7", f"segment {b.entry.seq} starts {d / 90:.1f} ms before the end of segment "
                                    f"{a.entry.seq} without EXT-X-DISCONTINUITY (negative timestamp delta)",
                           expected="DTS increasing across segments, or EXT-X-DISCONTINUITY",
                           actual=f"{ta[1]} -> {tb[0]}")]
        if d > max_gap_s * 90000:
            return [failed("HLS-7", f"segment {b.entry.seq} starts {d / 90000:.2f} s after segment {a.entry.seq} "
                                    f"ended, without EXT-X-DISCONTINUITY", expected=f"a gap under {max_gap_s:g} s",
                           actual=f"{d / 90000:.2f} s")]
    if not judged:
        return [not_run("HLS-7", "no two consecutive segments without a discontinuity were downloaded")]
    return [passed("HLS-7", f"{judged} segment boundaries continue the timeline")]


def check_discontinuity_marked(before: Sequence[FetchedSegment], after: Sequence[FetchedSegment],
                               playlist: MediaPlaylist) -> list[Finding]:
    """HLS-7 after a republish whose timestamps restart: the first new segment carries EXT-X-DISCONTINUITY
    (or the timeline continues)."""
    if not before or not after:
        return [not_run("HLS-7", "no segments on one side of the republish")]
    a = max(before, key=lambda s: s.entry.seq)
    b = min(after, key=lambda s: s.entry.seq)
    entry = next((s for s in playlist.segments if s.seq == b.entry.seq), b.entry)
    ta, tb = _first_last_dts(a.ts), _first_last_dts(b.ts)
    if ta is None or tb is None:
        return [not_run("HLS-7", "segments without timestamps")]
    d = (tb[0] - ta[1]) & _MASK33
    if d >= 1 << 32:
        d -= 1 << 33
    between = [s for s in playlist.segments if a.entry.seq < s.seq <= b.entry.seq]
    marked = entry.discontinuity or any(s.discontinuity for s in between)
    if marked:
        return [passed("HLS-7", f"EXT-X-DISCONTINUITY before segment {entry.seq} after the republish")]
    if d < 0 or d > 2 * 90000:
        return [failed("HLS-7", f"after the republish the timeline jumps {d / 90:.0f} ms between segments "
                                f"{a.entry.seq} and {b.entry.seq} with no EXT-X-DISCONTINUITY",
                       expected="EXT-X-DISCONTINUITY", actual="none")]
    return [passed("HLS-7", "the timeline continues across the republish (no discontinuity needed)")]
