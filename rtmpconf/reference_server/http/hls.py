"""HLS (RFC 8216): a live Media Playlist over segments cut from the stream's TS output.

Policy (README, "HTTP outputs"):

* Segments are cut at video keyframes (each starts with PAT/PMT and an IDR, RFC 8216 §3.2) once
  the open segment is at least ``hls_fragment_s`` long; audio-only streams cut at their PAT/PMT
  repeats. Segments live in memory.
* EXT-X-TARGETDURATION is ``hls_target_duration_s`` and never changes (§6.2.1); a GOP longer than
  it makes a segment whose EXTINF exceeds it (logged: the encoder's keyframe interval is too
  long for the configured target).
* The playlist lists the latest ``hls_playlist_segments`` segments; EXT-X-MEDIA-SEQUENCE is the
  sequence number of the first one (§4.3.3.2) and only grows. A segment leaving the playlist is
  still served for ``hls_keep_removed`` more segments (§6.2.2: "the server MUST NOT remove a
  Media Segment ... for a period of time equal to the duration of the segment plus the duration
  of the longest Playlist file ...").
* A republish starts a new segment with EXT-X-DISCONTINUITY (§4.3.2.3; the TS clock restarts);
  EXT-X-DISCONTINUITY-SEQUENCE counts the discontinuities that left the window (§4.3.3.3).
* After the publisher leaves, the open segment is closed and the playlist is kept (without
  EXT-X-ENDLIST, so a republish can continue it) for ``hls_linger_s`` seconds.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field

from rtmpconf.reference_server.http.tsout import TsPiece

log = logging.getLogger("rtmpconf.rtmp.server.http")


@dataclass(slots=True)
class Segment:
    seq: int
    start_ms: int  #: unwrapped RTMP ms of its first frame
    discontinuity: bool
    parts: list[bytes] = field(default_factory=list)
    size: int = 0
    duration_s: float = 0.0
    data: bytes = b""  #: the whole segment once closed
    closed_at: float = 0.0  #: monotonic time it was listed


class HlsStream:
    """The playlist and segments of one stream name (lives across republishes)."""

    def __init__(self, app: str, name: str, *, fragment_s: float, target_s: int, window: int,
                 keep_removed: int) -> None:
        self.app = app
        self.name = name
        self.fragment_ms = int(fragment_s * 1000)
        self.target_s = target_s
        self.window = window
        self.keep_removed = keep_removed
        self.segments: deque[Segment] = deque()  #: listed ones, oldest first
        self.removed: deque[Segment] = deque()  #: left the playlist, still served
        self.current: Segment | None = None
        self.next_seq = 0
        self.discontinuity_sequence = 0
        self.pending_discontinuity = False
        self.last_ms: int | None = None
        self.step_ms = 40
        self.publishing = False
        self.unpublished_at: float | None = None
        self.playlist_requests = 0
        self.segment_requests = 0
        self.first_listed_at: float | None = None
        #: Monotonic time of each segment's keyframe arrival, for the availability benchmark.
        self.keyframe_seen: dict[int, float] = {}

    # -- input -----------------------------------------------------------------------------

    def on_publish(self, started: bool) -> None:
        if started:
            self.publishing = True
            self.unpublished_at = None
            if self.segments or self.current is not None:
                self.pending_discontinuity = True
            self.last_ms = None
        else:
            self._close_current(final=True)
            self.publishing = False
            self.unpublished_at = time.monotonic()

    def on_piece(self, piece: TsPiece) -> None:
        cur = self.current
        if piece.keyframe:
            if cur is None or self.pending_discontinuity or piece.ms - cur.start_ms >= self.fragment_ms:
                if cur is not None:
                    self._close_current(end_ms=piece.ms)
                cur = self.current = Segment(self.next_seq, piece.ms, self.pending_discontinuity)
                self.keyframe_seen[cur.seq] = time.monotonic()
                self.next_seq += 1
                self.pending_discontinuity = False
        if cur is None:
            return  # nothing before the first keyframe
        if piece.video and self.last_ms is not None and 0 < piece.ms - self.last_ms <= 1000:
            self.step_ms = piece.ms - self.last_ms
        if piece.video or self.last_ms is None or piece.ms > self.last_ms:
            self.last_ms = piece.ms
        cur.parts.append(piece.data)
        cur.size += len(piece.data)

    def _close_current(self, end_ms: int | None = None, final: bool = False) -> None:
        cur = self.current
        if cur is None:
            return
        self.current = None
        if end_ms is None:
            end_ms = (self.last_ms if self.last_ms is not None else cur.start_ms) + self.step_ms
        cur.duration_s = max(0.001, (end_ms - cur.start_ms) / 1000.0)
        cur.data = b"".join(cur.parts)
        cur.parts = []
        cur.closed_at = time.monotonic()
        if round(cur.duration_s) > self.target_s:
            log.warning("%s/%s: HLS segment %d is %.3f s, over the %d s target duration (keyframe interval "
                        "too long)", self.app, self.name, cur.seq, cur.duration_s, self.target_s)
        self.segments.append(cur)
        if self.first_listed_at is None:
            self.first_listed_at = cur.closed_at
        while len(self.segments) > self.window:
            old = self.segments.popleft()
            if old.discontinuity:
                self.discontinuity_sequence += 1
            self.removed.append(old)
            self.keyframe_seen.pop(old.seq, None)
        while len(self.removed) > self.keep_removed:
            self.removed.popleft()

    # -- output ----------------------------------------------------------------------------

    def playlist(self, uri_template: str) -> str | None:
        """The Media Playlist, segment URIs from ``uri_template`` ({seq}); None before any segment."""
        if not self.segments:
            return None
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{self.target_s}",
            f"#EXT-X-MEDIA-SEQUENCE:{self.segments[0].seq}",
        ]
        if self.discontinuity_sequence:
            lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{self.discontinuity_sequence}")
        for seg in self.segments:
            if seg.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            lines.append(f"#EXTINF:{seg.duration_s:.3f},")
            lines.append(uri_template.format(seq=seg.seq))
        return "\n".join(lines) + "\n"

    def segment(self, seq: int) -> bytes | None:
        for seg in (*self.segments, *self.removed):
            if seg.seq == seq:
                return seg.data
        return None

    def expired(self, linger_s: float, now: float) -> bool:
        return not self.publishing and self.unpublished_at is not None and now - self.unpublished_at > linger_s


def target_for(fragment_s: float, target_s: int) -> int:
    """The declared target: at least the fragment length rounded up."""
    return max(target_s, math.ceil(fragment_s))
