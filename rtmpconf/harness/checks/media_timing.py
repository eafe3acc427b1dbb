"""Frame-by-frame comparison of what a protocol delivered with what was published.

Shared by HTTP-FLV (HFLV-5), HTTP-TS (HTS-6/7) and the cross-protocol identity check (XPROTO):
frames are matched by their coded payload (harness/http/frames.py), so the comparison is immune
to framing and to where the viewer joined.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from rtmpconf.harness.http.frames import Frame
from rtmpconf.harness.verdict import Finding, failed, not_run, passed

#: Rounding allowance when a protocol's clock is not in whole ms (90 kHz -> ms) or a server
#: rounds AAC cadence (ms).
TOLERANCE_MS = 1.5


@dataclass(frozen=True, slots=True)
class Pair:
    sent: Frame
    got: Frame

    @property
    def offset(self) -> float:
        return self.got.time_ms - self.sent.time_ms


def align(sent: Sequence[Frame], got: Sequence[Frame], track: str) -> tuple[list[Pair], list[Frame]]:
    """(matched pairs in received order, received frames of ``track`` that match nothing sent)."""
    index: dict[bytes, list[Frame]] = {}
    for f in sent:
        if f.track == track:
            index.setdefault(f.key, []).append(f)
    pairs: list[Pair] = []
    unknown: list[Frame] = []
    for g in got:
        if g.track != track:
            continue
        cands = index.get(g.key)
        if not cands:
            unknown.append(g)
            continue
        # The same payload may repeat (silence, a static picture): take the first not yet used
        # after the previous match.
        prev = pairs[-1].sent.index if pairs else -1
        pick = next((c for c in cands if c.index > prev), cands[0])
        pairs.append(Pair(pick, g))
    return pairs, unknown


def check_same_timing(rule: str, protocol: str, sent: Sequence[Frame], got: Sequence[Frame], *,
                      check_cts: bool = True, presentation: bool = False) -> list[Finding]:
    """Every delivered frame keeps its published time up to one constant offset per protocol
    (both tracks the same offset), and video keeps its CompositionTime.

    ``presentation``: the protocol carries presentation times only, each track on a clock of its
    own (RTP: RFC 3550 §5.1, a random base per stream): presentation times (decode time +
    CompositionTime) are compared, one constant offset per track, no CompositionTime to check."""
    out: list[Finding] = []
    offsets: dict[str, float] = {}

    def at(f: Frame) -> float:
        return f.time_ms + f.cts_ms if presentation else f.time_ms

    def offset(p: Pair) -> float:
        return at(p.got) - at(p.sent)

    def ms(t: float) -> str:  # an RTP clock keeps its random base: too many digits for :g
        return f"{t:.1f}" if presentation else f"{t:g}"

    what = "published presentation deltas" if presentation else "published deltas"
    for track in ("video", "audio"):
        pairs, _unknown = align(sent, got, track)
        if not pairs:
            continue
        off = median(offset(p) for p in pairs)
        offsets[track] = off
        scope = f"{track} track" if presentation else "stream"
        bad = next((p for p in pairs if abs(offset(p) - off) > TOLERANCE_MS), None)
        if bad is not None:
            k = pairs.index(bad)
            prev = pairs[k - 1] if k else None
            arrived = f"(presentation {at(bad.sent):g} ms) arrived presented at" if presentation else "arrived at"
            out.append(failed(
                rule, f"{protocol}: {track} frame published at {bad.sent.time_ms:g} ms {arrived} {ms(at(bad.got))} ms: "
                f"its time moved against the other frames "
                f"(the offset is {offset(bad):+.1f} ms, the {scope}'s is {off:+.1f} ms)",
                expected=f"{what} kept (previous frame {at(prev.sent):g} -> {ms(at(prev.got))} ms)"
                if prev else f"{what} kept",
                actual=f"{at(bad.got) - at(prev.got):+.1f} ms after the previous frame instead of "
                       f"{at(bad.sent) - at(prev.sent):+.1f} ms" if prev else f"offset {offset(bad):+.1f} ms",
                frame_index=bad.got.index))
        else:
            out.append(passed(rule, f"{protocol}: {len(pairs)} {track} frames keep the {what} "
                                    f"(offset {off:+.1f} ms)"))
        if track == "video" and check_cts and not presentation:
            cts_bad = next((p for p in pairs if abs(p.got.cts_ms - p.sent.cts_ms) > TOLERANCE_MS), None)
            if cts_bad is not None:
                out.append(failed(rule, f"{protocol}: video frame published at {cts_bad.sent.time_ms:g} ms has "
                                        f"presentation - decode = {cts_bad.got.cts_ms:g} ms",
                                  expected=f"CompositionTime {cts_bad.sent.cts_ms:g} ms",
                                  actual=f"{cts_bad.got.cts_ms:g} ms", frame_index=cts_bad.got.index))
            elif any(p.sent.cts_ms for p in pairs):
                out.append(passed(rule, f"{protocol}: CompositionTime honoured on {len(pairs)} video frames"))
    if not offsets:
        return [not_run(rule, f"{protocol}: no delivered frame matched a published one")]
    if len(offsets) == 2 and not presentation and abs(offsets["audio"] - offsets["video"]) > TOLERANCE_MS:
        out.append(failed(rule, f"{protocol}: audio and video were shifted by different offsets",
                          expected="one offset for both tracks",
                          actual=f"video {offsets['video']:+.1f} ms, audio {offsets['audio']:+.1f} ms"))
    return out


def check_av_offset(rule: str, protocol: str, sent: Sequence[Frame], got: Sequence[Frame]) -> list[Finding]:
    """Audio and video keep their published relation: their offsets differ by at most one frame."""
    offs: dict[str, float] = {}
    step: dict[str, float] = {}
    for track in ("video", "audio"):
        pairs, _ = align(sent, got, track)
        if pairs:
            offs[track] = median(p.offset for p in pairs)
            times = sorted(f.time_ms for f in sent if f.track == track)
            deltas = [b - a for a, b in itertools.pairwise(times) if b > a]
            step[track] = median(deltas) if deltas else 0.0
    if len(offs) < 2:
        return [not_run(rule, f"{protocol}: needs matched audio and video frames")]
    drift = offs["audio"] - offs["video"]
    limit = max(step["video"], step["audio"], TOLERANCE_MS)
    if abs(drift) > limit:
        return [failed(rule, f"{protocol}: audio moved {drift:+.1f} ms against video in the remux",
                       expected=f"within one frame ({limit:.1f} ms)", actual=f"{drift:+.1f} ms")]
    return [passed(rule, f"{protocol}: audio/video offset {drift:+.1f} ms (limit {limit:.1f} ms)")]


def check_same_frames(rule: str, protocol: str, sent: Sequence[Frame], got: Sequence[Frame]) -> list[Finding]:
    """The same coded frames in the same order: from the first delivered frame of each track,
    every published frame of that track, none altered, none reordered, none missing."""
    out: list[Finding] = []
    for track in ("video", "audio"):
        mine = [g for g in got if g.track == track]
        if not mine:
            continue
        pairs, unknown = align(sent, got, track)
        if unknown:
            u = unknown[0]
            out.append(failed(rule, f"{protocol}: {track} frame #{u.index} at {u.time_ms:g} ms matches no published "
                                    f"frame (payload altered)", expected="the published coded bytes",
                              actual=f"{len(unknown)} altered {track} frame(s)", frame_index=u.index))
            continue
        sent_track = [f for f in sent if f.track == track]
        start = sent_track.index(pairs[0].sent)
        last = sent_track.index(pairs[-1].sent)
        want = sent_track[start:last + 1]
        got_sent = [p.sent for p in pairs]
        if got_sent != want:
            k = next((i for i, (a, b) in enumerate(zip(got_sent, want)) if a != b), min(len(got_sent), len(want)))
            exp = want[k] if k < len(want) else None
            act = got_sent[k] if k < len(got_sent) else None
            out.append(failed(rule, f"{protocol}: {track} frames differ from the published sequence at position {k}",
                              expected=f"frame published at {exp.time_ms:g} ms" if exp else "no more frames",
                              actual=f"frame published at {act.time_ms:g} ms" if act else "missing",
                              frame_index=k))
        else:
            out.append(passed(rule, f"{protocol}: {len(pairs)} {track} frames identical and in order"))
    if not out:
        return [not_run(rule, f"{protocol}: no frame delivered")]
    return out
