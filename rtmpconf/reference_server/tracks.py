"""E-RTMP v2 per-track state and per-player views of a published stream.

A published E-RTMP stream can carry several audio and video tracks (Multitrack, ERTMP-8), codecs
named by FourCC, and ModEx extensions (ERTMP-7). Players differ in what they can take, which they
say in ``connect`` (ERTMPv2 "Enhancing NetConnection connect Command"): a ``fourCcList`` and/or
``videoFourCcInfoMap``/``audioFourCcInfoMap`` (``"*"`` = any codec), and ``capsEx`` bits
(Reconnect, Multitrack, ModEx, TimestampNanoOffset). A player that declares none of them is a
*legacy* player.

Policy (README, "E-RTMP"):

* A player that declared every codec of a message, Multitrack and ModEx gets the published bytes.
* A player without Multitrack gets the default track (trackId 0) only, as a single-track message;
  other tracks are not sent to it.
* A FourCC the player did not declare is sent in its legacy FLV form when there is one (avc1 ->
  CodecID 7, mp4a -> AAC, .mp3 -> MP3), otherwise not at all: a legacy player never receives bytes
  it cannot parse (ERTMP-21/22).
* ModEx entries are removed for a player without capsEx ModEx (its TimestampOffsetNano is lost,
  the content is not).

Per-track configuration (ERTMP-19/20): the latest SequenceStart (or legacy sequence header),
MultichannelConfig and video Metadata (colorInfo) of *each* track are kept, and a late joiner gets
every track's configuration before that track's first coded frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rtmpconf.rtmp import media
from rtmpconf.rtmp.ertmp import ClientCaps, server_capabilities

__all__ = ["CHANNELS", "COLOR", "CONFIG", "ClientCaps", "HeaderCache", "HeaderEntry", "MediaInfo",
           "server_capabilities"]

#: Header kinds, in the order a late joiner gets them per track (GOP-1 / ERTMP-19/20).
CONFIG, COLOR, CHANNELS = "config", "color", "channels"
_KIND_ORDER = {CONFIG: 0, CHANNELS: 1, COLOR: 2}

_VPT_SEQUENCE_START = int(media.VideoPacketType.SEQUENCE_START)
_VPT_MPEG2TS = int(media.VideoPacketType.MPEG2TS_SEQUENCE_START)
_VPT_METADATA = int(media.VideoPacketType.METADATA)
_APT_SEQUENCE_START = int(media.AudioPacketType.SEQUENCE_START)
_APT_MULTICHANNEL = int(media.AudioPacketType.MULTICHANNEL_CONFIG)


# -- one published message ----------------------------------------------------------------------


class MediaInfo:
    """One published audio/video message, classified once, rendered at most once per view."""

    __slots__ = ("_rendered", "header_kind", "layout", "legacy", "payload", "tracks", "type_id")

    def __init__(self, type_id: int, payload: bytes) -> None:
        self.type_id = type_id
        self.payload = payload
        video = type_id == 9
        b0 = payload[0] if payload else 0
        #: No ExHeader: every player can parse it as it is (also the empty "silence" message).
        self.legacy = not payload or (not b0 & 0x80 if video else b0 >> 4 != 9)
        self.layout = None if self.legacy else media.ex_layout(payload, video=video)
        #: Track ids the message carries (0 for single-track and legacy messages).
        self.tracks: tuple[int, ...] = tuple(t.track_id for t in self.layout.tracks) if self.layout else (0,)
        self.header_kind = _header_kind(type_id, payload, self.layout)
        self._rendered: dict[ClientCaps, tuple[bytes, tuple[int, ...]] | None] = {}

    def render(self, caps: ClientCaps) -> tuple[bytes, tuple[int, ...]] | None:
        """(payload, track ids) as a player with ``caps`` gets it; None when it gets nothing."""
        if self.legacy or caps.full:
            return self.payload, self.tracks
        try:
            return self._rendered[caps]
        except KeyError:
            out = self._rendered[caps] = self._render(caps)
            return out

    def _render(self, caps: ClientCaps) -> tuple[bytes, tuple[int, ...]] | None:
        lay = self.layout
        if lay is None:
            # An ExHeader message this server cannot lay out (command frame, unknown packet type):
            # forwarded as it is to players that speak E-RTMP, never to legacy players (ERTMP-21).
            return (self.payload, self.tracks) if caps.declared else None
        keep_modex = caps.modex or not lay.modex
        if lay.multitrack_type is not None and caps.multitrack:
            taken = [t for t in lay.tracks if caps.takes(lay.video, t.fourcc)]
            if taken:
                if len(taken) == len(lay.tracks) and keep_modex:
                    return self.payload, self.tracks
                return lay.rebuild(taken, keep_modex=caps.modex), tuple(t.track_id for t in taken)
        # One track only: the message's own, or trackId 0 out of a Multitrack message (ERTMP-22).
        if lay.multitrack_type is None:
            track = lay.tracks[0]
        else:
            track = next((t for t in lay.tracks if t.track_id == 0), None)
            if track is None:
                return None
        if caps.takes(lay.video, track.fourcc):
            if lay.multitrack_type is None and keep_modex:
                return self.payload, (0,)
            return lay.single(track, keep_modex=caps.modex), (0,)
        legacy = media.ex_to_legacy(lay, track)
        return (legacy, (0,)) if legacy is not None else None


def _header_kind(type_id: int, payload: bytes, layout: media.ExLayout | None) -> str | None:
    """Which configuration a message is (sequence header, channel config, colorInfo), if any."""
    if type_id == 9:
        if layout is None:
            return CONFIG if media.is_video_sequence_header(payload) else None
        if layout.packet_type in (_VPT_SEQUENCE_START, _VPT_MPEG2TS):
            return CONFIG
        return COLOR if layout.packet_type == _VPT_METADATA else None
    if layout is None:
        return CONFIG if media.is_audio_sequence_header(payload) else None
    if layout.packet_type == _APT_SEQUENCE_START:
        return CONFIG
    return CHANNELS if layout.packet_type == _APT_MULTICHANNEL else None


# -- configuration cache --------------------------------------------------------------------------


@dataclass(slots=True)
class HeaderEntry:
    """A configuration message kept for late joiners."""

    info: MediaInfo
    timestamp: int
    kind: str
    tracks: frozenset[int]  #: tracks it is still the latest configuration of
    seq: int  #: arrival order

    @property
    def key(self) -> tuple[int, str, frozenset[int]]:
        return (self.info.type_id, self.kind, frozenset(self.info.tracks))


@dataclass
class HeaderCache:
    """The latest configuration of every track (ERTMP-19/20), in late-joiner order."""

    entries: list[HeaderEntry] = field(default_factory=list)
    _seq: int = 0

    def clear(self) -> None:
        self.entries = []

    def store(self, info: MediaInfo, timestamp: int) -> set[int]:
        """Keep ``info`` (a header); returns the track ids whose previous configuration of this kind
        differed from it (a change: their cached frames no longer decode, AV-5)."""
        assert info.header_kind is not None
        tracks = frozenset(info.tracks)
        changed: set[int] = set(tracks)
        kept: list[HeaderEntry] = []
        for e in self.entries:
            if e.info.type_id == info.type_id and e.kind == info.header_kind and e.tracks & tracks:
                if e.info.payload == info.payload:
                    changed -= e.tracks & tracks
                e.tracks = e.tracks - tracks
                if not e.tracks:
                    continue
            kept.append(e)
        self._seq += 1
        kept.append(HeaderEntry(info, timestamp, info.header_kind, tracks, self._seq))
        self.entries = kept
        return changed

    def ordered(self) -> list[HeaderEntry]:
        """Video before audio (GOP-1), then by track, kind and arrival (a newer one after an older)."""
        return sorted(self.entries, key=lambda e: (e.info.type_id != 9, min(e.tracks),
                                                   _KIND_ORDER[e.kind], e.seq))

    def latest(self, type_id: int, track: int = 0, kind: str = CONFIG) -> HeaderEntry | None:
        for e in reversed(self.entries):
            if e.info.type_id == type_id and e.kind == kind and track in e.tracks:
                return e
        return None
