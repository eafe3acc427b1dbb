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

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rtmpconf.rtmp import media

#: FourCcInfoMask (ERTMPv2 "Enhancing NetConnection connect Command").
CAN_DECODE, CAN_ENCODE, CAN_FORWARD = 0x01, 0x02, 0x04
#: CapsExMask bits (same section).
CAPS_RECONNECT, CAPS_MULTITRACK, CAPS_MODEX, CAPS_NANO = 0x01, 0x02, 0x04, 0x08
#: What the reference server advertises in its connect ``_result``: it forwards any codec ("*":
#: CanForward), sends Reconnect Requests, relays multitrack, parses ModEx and keeps nano offsets.
SERVER_CAPS_EX = CAPS_RECONNECT | CAPS_MULTITRACK | CAPS_MODEX | CAPS_NANO
WILDCARD = "*"

#: Header kinds, in the order a late joiner gets them per track (GOP-1 / ERTMP-19/20).
CONFIG, COLOR, CHANNELS = "config", "color", "channels"
_KIND_ORDER = {CONFIG: 0, CHANNELS: 1, COLOR: 2}

_VPT_SEQUENCE_START = int(media.VideoPacketType.SEQUENCE_START)
_VPT_MPEG2TS = int(media.VideoPacketType.MPEG2TS_SEQUENCE_START)
_VPT_METADATA = int(media.VideoPacketType.METADATA)
_APT_SEQUENCE_START = int(media.AudioPacketType.SEQUENCE_START)
_APT_MULTICHANNEL = int(media.AudioPacketType.MULTICHANNEL_CONFIG)


def _fourcc_set(values: Any) -> tuple[frozenset[bytes], bool]:
    """FourCCs of an AMF strict array (list) or ECMA array (dict of index -> value); (set, wildcard)."""
    items = values.values() if isinstance(values, Mapping) else values if isinstance(values, (list, tuple)) else ()
    out: set[bytes] = set()
    wildcard = False
    for item in items:
        if not isinstance(item, str):
            continue
        if item == WILDCARD:
            wildcard = True
        elif len(item) == 4:
            out.add(item.encode("latin-1", "replace"))
    return frozenset(out), wildcard


def _info_map(values: Any) -> tuple[frozenset[bytes], bool] | None:
    """FourCCs an info map lets a player receive (CanDecode or CanForward); None when absent."""
    if not isinstance(values, Mapping):
        return None
    usable = CAN_DECODE | CAN_FORWARD

    def ok(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and bool(int(v) & usable)

    if WILDCARD in values:
        # ERTMPv2: the "*" key "overrides the flags set on properties for specific codecs".
        return frozenset(), ok(values[WILDCARD])
    return frozenset(k.encode("latin-1", "replace") for k, v in values.items()
                     if isinstance(k, str) and len(k) == 4 and ok(v)), False


@dataclass(frozen=True, slots=True)
class ClientCaps:
    """What a client said it can take, from its connect command object."""

    declared: bool  #: it sent a fourCcList or an info map (E-RTMP aware)
    video: frozenset[bytes] | None  #: video FourCCs it takes; None = any
    audio: frozenset[bytes] | None  #: audio FourCCs it takes; None = any
    caps_ex: int  #: CapsExMask bits

    LEGACY: ClassVar[ClientCaps]

    @classmethod
    def from_connect(cls, obj: Any) -> ClientCaps:
        if not isinstance(obj, Mapping):
            return cls.LEGACY
        raw_caps = obj.get("capsEx")
        caps_ex = int(raw_caps) & 0xFF if isinstance(raw_caps, (int, float)) and not isinstance(raw_caps, bool) \
            and 0 <= raw_caps < 2**31 else 0
        declared = False
        kinds: dict[str, frozenset[bytes] | None] = {}
        listed: tuple[frozenset[bytes], bool] | None = None
        if "fourCcList" in obj:
            listed = _fourcc_set(obj["fourCcList"])
            declared = True
        for kind, key in (("video", "videoFourCcInfoMap"), ("audio", "audioFourCcInfoMap")):
            mapped = _info_map(obj.get(key))
            declared = declared or mapped is not None
            sets = [s for s in (listed, mapped) if s is not None]
            if any(wild for _, wild in sets):
                kinds[kind] = None
            else:
                kinds[kind] = frozenset().union(*(s for s, _ in sets)) if sets else frozenset()
        return cls(declared, kinds["video"], kinds["audio"], caps_ex)

    def takes(self, video: bool, fourcc: bytes) -> bool:
        """Can this client receive ``fourcc`` in an ExHeader message?"""
        if not self.declared:
            return False
        allowed = self.video if video else self.audio
        return allowed is None or fourcc in allowed

    @property
    def reconnect(self) -> bool:
        return bool(self.caps_ex & CAPS_RECONNECT)

    @property
    def multitrack(self) -> bool:
        return bool(self.caps_ex & CAPS_MULTITRACK)

    @property
    def modex(self) -> bool:
        return bool(self.caps_ex & CAPS_MODEX)

    @property
    def full(self) -> bool:
        """Takes every published message as it is."""
        return self.declared and self.video is None and self.audio is None and self.multitrack and self.modex

    def describe(self) -> str:
        def names(s: frozenset[bytes] | None) -> str:
            return "*" if s is None else ",".join(sorted(x.decode("latin-1") for x in s)) or "-"
        if not self.declared:
            return f"legacy (capsEx {self.caps_ex:#x})"
        return f"video {names(self.video)} audio {names(self.audio)} capsEx {self.caps_ex:#x}"


ClientCaps.LEGACY = ClientCaps(False, frozenset(), frozenset(), 0)


def server_capabilities() -> dict[str, Any]:
    """Properties the server adds to its connect ``_result`` (ERTMP-18): it forwards any codec."""
    return {
        "fourCcList": [WILDCARD],
        "videoFourCcInfoMap": {WILDCARD: float(CAN_FORWARD)},
        "audioFourCcInfoMap": {WILDCARD: float(CAN_FORWARD)},
        "capsEx": float(SERVER_CAPS_EX),
    }


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
