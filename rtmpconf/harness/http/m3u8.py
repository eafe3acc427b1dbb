"""Sans-IO M3U8 Media Playlist parser (RFC 8216 §4). Records syntax problems, never raises."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_FLOAT = re.compile(r"^\d+(\.\d+)?$")
_INT = re.compile(r"^\d+$")


@dataclass(frozen=True, slots=True)
class PlaylistSegment:
    seq: int  #: Media Sequence Number (§6.3.5: EXT-X-MEDIA-SEQUENCE + position)
    uri: str
    duration: float  #: EXTINF duration (s)
    discontinuity: bool  #: preceded by EXT-X-DISCONTINUITY
    line: int


@dataclass(slots=True)
class MediaPlaylist:
    text: str
    segments: list[PlaylistSegment] = field(default_factory=list)
    target_duration: int | None = None
    target_duration_count: int = 0
    media_sequence: int = 0
    media_sequence_tag: bool = False
    discontinuity_sequence: int = 0
    version: int | None = None
    endlist: bool = False
    is_master: bool = False
    errors: list[str] = field(default_factory=list)  #: RFC 8216 §4 syntax violations, with line numbers


def parse_m3u8(text: str | bytes) -> MediaPlaylist:
    early: list[str] = []
    if isinstance(text, bytes):
        if text.startswith(b"\xef\xbb\xbf"):
            early.append("line 1: byte order mark (§4.1: MUST NOT contain a BOM)")
            text = text[3:]
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            pl = MediaPlaylist(text.decode("utf-8", "replace"))
            pl.errors.append(f"not UTF-8 (§4.1): {exc}")
            return pl
    pl = MediaPlaylist(text)
    pl.errors.extend(early)
    lines = text.splitlines()
    if not lines or lines[0].rstrip() != "#EXTM3U":
        pl.errors.append("line 1: the first line is not #EXTM3U (§4.3.1.1)")
    pending: float | None = None
    pending_line = 0
    disc = False
    position = 0
    for no, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#EXT"):
            tag, _, value = line.partition(":")
            if tag == "#EXTINF":
                dur = value.split(",", 1)[0].strip()
                if not (_FLOAT.match(dur)):
                    pl.errors.append(f"line {no}: EXTINF duration {dur!r} is not a decimal number (§4.3.2.1)")
                    pending = 0.0
                else:
                    pending = float(dur)
                if "," not in value:
                    pl.errors.append(f"line {no}: EXTINF without the comma (§4.3.2.1: #EXTINF:<duration>,[<title>])")
                pending_line = no
            elif tag == "#EXT-X-TARGETDURATION":
                pl.target_duration_count += 1
                if _INT.match(value):
                    pl.target_duration = int(value)
                else:
                    pl.errors.append(f"line {no}: EXT-X-TARGETDURATION {value!r} is not a decimal-integer (§4.3.3.1)")
            elif tag == "#EXT-X-MEDIA-SEQUENCE":
                if position or pl.media_sequence_tag:
                    pl.errors.append(f"line {no}: EXT-X-MEDIA-SEQUENCE after the first segment or repeated (§4.3.3.2)")
                pl.media_sequence_tag = True
                if _INT.match(value):
                    pl.media_sequence = int(value)
                else:
                    pl.errors.append(f"line {no}: EXT-X-MEDIA-SEQUENCE {value!r} is not a decimal-integer")
            elif tag == "#EXT-X-DISCONTINUITY-SEQUENCE":
                if _INT.match(value):
                    pl.discontinuity_sequence = int(value)
                else:
                    pl.errors.append(f"line {no}: EXT-X-DISCONTINUITY-SEQUENCE {value!r} is not a decimal-integer")
            elif tag == "#EXT-X-DISCONTINUITY":
                disc = True
            elif tag == "#EXT-X-ENDLIST":
                pl.endlist = True
            elif tag == "#EXT-X-VERSION":
                pl.version = int(value) if _INT.match(value) else None
            elif tag in ("#EXT-X-STREAM-INF", "#EXT-X-MEDIA"):
                pl.is_master = True
            continue
        if line.startswith("#"):
            continue  # comment
        if pl.is_master:
            continue
        if pending is None:
            pl.errors.append(f"line {no}: segment URI {line!r} without a preceding EXTINF (§4.3.2.1: REQUIRED)")
            pending = 0.0
        pl.segments.append(PlaylistSegment(pl.media_sequence + position, line, pending, disc, pending_line or no))
        position += 1
        pending = None
        disc = False
    if pending is not None:
        pl.errors.append(f"line {pending_line}: EXTINF not followed by a URI")
    if not pl.is_master:
        if pl.target_duration_count == 0:
            pl.errors.append("EXT-X-TARGETDURATION missing (§4.3.3.1: REQUIRED)")
        elif pl.target_duration_count > 1:
            pl.errors.append("EXT-X-TARGETDURATION appears more than once (§4.3.3: MUST NOT appear more than once)")
    return pl
