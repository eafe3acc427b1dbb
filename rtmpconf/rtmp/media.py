"""Audio/video payload semantics: FLV tag bodies, AVC/AAC configuration records and Enhanced RTMP.

Catalogue sections 7 (AV) and 9 (ERTMP). Everything here works on the *payload of one RTMP audio (8) or
video (9) message*, which is the same byte string as an FLV tag body.

Two layers:

* Hot-path predicates (``is_video_keyframe``, ``is_video_sequence_header``, ``is_audio_sequence_header``,
  ``video_codec``, ``audio_codec``) look at the first few bytes only, never copy the payload and never
  raise: on a payload too short to answer they return ``False`` / ``""``. A server may call them on every
  media message.
* Full parsers (``parse_video_tag``, ``parse_audio_tag``) decode every header field and return a frozen
  tag whose ``body`` is a ``memoryview`` into the caller's buffer (no copy).

Malformed-input policy of the full parsers (decided once, tested by splitting vectors at every offset):

* A zero-length message is never an error: the tag comes back with ``empty=True`` (ERTMP-15 gives empty
  *audio* the meaning "silence"; empty *video* has no defined meaning and is reported the same way).
* A header cut short (a field the format says must be there is missing) raises ``RemoteProtocolError``
  carrying the rule of the header (AV-1/AV-2/AV-3 legacy, ERTMP-1/2/3/6/7/8 enhanced). There is no
  "truncated" flag: a tag that comes back is always complete as far as its headers go.
* A codec body cannot be checked for truncation at this layer; ``split_nalus`` and the configuration
  record parsers raise when *their* lengths run past the end.
* Values the parser does not know (a reserved CodecID, an unknown FourCC, packet type or multitrack type)
  are not errors (ERTMP-9): the tag comes back with ``known=False`` and whatever could be decoded.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence
from typing import Final, TypeAlias

from rtmpconf.records import record
from rtmpconf.rtmp.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "AacPacketType",
    "AudioChannelOrder",
    "AudioPacketType",
    "AudioSpecificConfig",
    "AudioTag",
    "AudioTrack",
    "AvMultitrackType",
    "AvcDecoderConfig",
    "AvcPacketType",
    "ExLayout",
    "ExTrackData",
    "FourCC",
    "MultichannelConfig",
    "PacketModExType",
    "SoundFormat",
    "VideoCodecId",
    "VideoCommand",
    "VideoFrameType",
    "VideoPacketType",
    "VideoTag",
    "VideoTrack",
    "add_modex_nano_offset",
    "audio_codec",
    "build_aac_audio",
    "build_avc_video",
    "build_ex_audio",
    "build_ex_audio_multitrack",
    "build_ex_video",
    "build_ex_video_multitrack",
    "build_video_command",
    "ex_layout",
    "ex_to_legacy",
    "is_audio_sequence_header",
    "is_video_keyframe",
    "is_video_sequence_header",
    "parse_audio_tag",
    "parse_video_tag",
    "split_nalus",
    "strip_modex",
    "video_codec",
]

BytesLike: TypeAlias = "bytes | bytearray | memoryview"

_U8: Final = struct.Struct(">B")
_U16: Final = struct.Struct(">H")
_U32: Final = struct.Struct(">I")
_BYTE_PAIR: Final = struct.Struct(">BB")
# 24-bit fields as (high byte, low 16 bits); a signed high byte gives SI24 sign extension for free.
_SI24: Final = struct.Struct(">bH")
_UI24: Final = struct.Struct(">BH")


# --------------------------------------------------------------------------------------------------
# Enumerations
# --------------------------------------------------------------------------------------------------


class VideoFrameType(enum.IntEnum):
    """FrameType of a video tag (FLV v10.1 E.4.3.1; ERTMPv2 "Enhanced Video" VideoFrameType)."""

    KEY = 1
    INTER = 2
    DISPOSABLE_INTER = 3
    GENERATED_KEY = 4
    COMMAND = 5


class VideoCodecId(enum.IntEnum):
    """Legacy CodecID nibble (FLV v10.1 E.4.3.1), plus the CDN convention 12/13 of ERTMP-16."""

    SORENSON_H263 = 2
    SCREEN = 3
    ON2_VP6 = 4
    ON2_VP6_ALPHA = 5
    SCREEN_V2 = 6
    AVC = 7
    HEVC_LEGACY = 12
    AV1_LEGACY = 13


class AvcPacketType(enum.IntEnum):
    """AVCPacketType (FLV v10.1 E.4.3.2 AVCVIDEOPACKET)."""

    SEQUENCE_HEADER = 0
    NALU = 1
    END_OF_SEQUENCE = 2


class VideoCommand(enum.IntEnum):
    """UI8 carried by a FrameType 5 video message (FLV v10.1 E.4.3.1; ERTMPv2 VideoCommand)."""

    START_SEEK = 0
    END_SEEK = 1


class SoundFormat(enum.IntEnum):
    """SoundFormat nibble (FLV v10.1 E.4.2.1), with ExHeader = 9 from ERTMPv2 "Enhanced Audio"."""

    PCM_PLATFORM_ENDIAN = 0
    ADPCM = 1
    MP3 = 2
    PCM_LITTLE_ENDIAN = 3
    NELLYMOSER_16K_MONO = 4
    NELLYMOSER_8K_MONO = 5
    NELLYMOSER = 6
    G711_A_LAW = 7
    G711_MU_LAW = 8
    EX_HEADER = 9
    AAC = 10
    SPEEX = 11
    MP3_8K = 14
    DEVICE_SPECIFIC = 15


class AacPacketType(enum.IntEnum):
    """AACPacketType (FLV v10.1 E.4.2.2 AACAUDIODATA)."""

    SEQUENCE_HEADER = 0
    RAW = 1


class VideoPacketType(enum.IntEnum):
    """VideoPacketType of the ExVideoTagHeader (ERTMPv2 "Enhanced Video")."""

    SEQUENCE_START = 0
    CODED_FRAMES = 1
    SEQUENCE_END = 2
    CODED_FRAMES_X = 3
    METADATA = 4
    MPEG2TS_SEQUENCE_START = 5
    MULTITRACK = 6
    MOD_EX = 7


class AudioPacketType(enum.IntEnum):
    """AudioPacketType of the ExAudioTagHeader (ERTMPv2 "Enhanced Audio")."""

    SEQUENCE_START = 0
    CODED_FRAMES = 1
    SEQUENCE_END = 2
    MULTICHANNEL_CONFIG = 4
    MULTITRACK = 5
    MOD_EX = 7


class AvMultitrackType(enum.IntEnum):
    """AvMultitrackType, shared by audio and video (ERTMPv2 "Enhanced Audio" / "Enhanced Video")."""

    ONE_TRACK = 0
    MANY_TRACKS = 1
    MANY_TRACKS_MANY_CODECS = 2


class PacketModExType(enum.IntEnum):
    """Video/AudioPacketModExType of a ModEx entry (ERTMPv2 "Enhanced Video" / "Enhanced Audio")."""

    TIMESTAMP_OFFSET_NANO = 0


class FourCC:
    """E-RTMP codec FourCCs as their four wire bytes (ERTMPv2 VideoFourCc / AudioFourCc)."""

    AVC1: Final = b"avc1"
    HVC1: Final = b"hvc1"
    VVC1: Final = b"vvc1"
    AV01: Final = b"av01"
    VP09: Final = b"vp09"
    VP08: Final = b"vp08"
    MP4A: Final = b"mp4a"
    OPUS: Final = b"Opus"
    FLAC: Final = b"fLaC"
    AC3: Final = b"ac-3"
    EAC3: Final = b"ec-3"
    MP3: Final = b".mp3"

    VIDEO: Final = frozenset({AVC1, HVC1, VVC1, AV01, VP09, VP08})
    AUDIO: Final = frozenset({MP4A, OPUS, FLAC, AC3, EAC3, MP3})
    # ERTMP-2: only these carry an SI24 composition time in CodedFrames.
    WITH_COMPOSITION_TIME: Final = frozenset({AVC1, HVC1, VVC1})

    @staticmethod
    def as_number(fourcc: bytes | str) -> float:
        """The FourCC as the onMetaData number of ERTMP-12 ('av01' -> 1635135537.0)."""
        raw = _fourcc_bytes(fourcc)
        return float(_U32.unpack(raw)[0])


# Plain-int copies of the enum values used on hot paths (enum attribute lookups cost ~100 ns each).
_FT_KEY: Final = int(VideoFrameType.KEY)
_FT_COMMAND: Final = int(VideoFrameType.COMMAND)
_CODEC_AVC: Final = int(VideoCodecId.AVC)
_CODEC_HEVC_LEGACY: Final = int(VideoCodecId.HEVC_LEGACY)
_AVC_SEQUENCE_HEADER: Final = int(AvcPacketType.SEQUENCE_HEADER)
_AVC_NALU: Final = int(AvcPacketType.NALU)
_CMD_START_SEEK: Final = int(VideoCommand.START_SEEK)
_CMD_END_SEEK: Final = int(VideoCommand.END_SEEK)
_SF_EX_HEADER: Final = int(SoundFormat.EX_HEADER)
_SF_AAC: Final = int(SoundFormat.AAC)
_AAC_SEQUENCE_HEADER: Final = int(AacPacketType.SEQUENCE_HEADER)
_VPT_SEQUENCE_START: Final = int(VideoPacketType.SEQUENCE_START)
_VPT_CODED_FRAMES_X: Final = int(VideoPacketType.CODED_FRAMES_X)
_VPT_CODED_FRAMES: Final = int(VideoPacketType.CODED_FRAMES)
_VPT_METADATA: Final = int(VideoPacketType.METADATA)
_VPT_MPEG2TS_SEQUENCE_START: Final = int(VideoPacketType.MPEG2TS_SEQUENCE_START)
_VPT_MULTITRACK: Final = int(VideoPacketType.MULTITRACK)
_VPT_MOD_EX: Final = int(VideoPacketType.MOD_EX)
_APT_SEQUENCE_START: Final = int(AudioPacketType.SEQUENCE_START)
_APT_MULTITRACK: Final = int(AudioPacketType.MULTITRACK)
_APT_MOD_EX: Final = int(AudioPacketType.MOD_EX)
_MT_ONE_TRACK: Final = int(AvMultitrackType.ONE_TRACK)
_MT_MANY_TRACKS_MANY_CODECS: Final = int(AvMultitrackType.MANY_TRACKS_MANY_CODECS)
_MODEX_TIMESTAMP_OFFSET_NANO: Final = int(PacketModExType.TIMESTAMP_OFFSET_NANO)

_VIDEO_FOURCC_NAMES: Final = {
    FourCC.AVC1: "avc",
    FourCC.HVC1: "hevc",
    FourCC.VVC1: "vvc",
    FourCC.AV01: "av1",
    FourCC.VP09: "vp9",
    FourCC.VP08: "vp8",
}
_AUDIO_FOURCC_NAMES: Final = {
    FourCC.MP4A: "aac",
    FourCC.OPUS: "opus",
    FourCC.FLAC: "flac",
    FourCC.AC3: "ac3",
    FourCC.EAC3: "eac3",
    FourCC.MP3: "mp3",
}
_LEGACY_VIDEO_NAMES: Final = {
    2: "h263",
    3: "screen",
    4: "vp6",
    5: "vp6a",
    6: "screen2",
    7: "avc",
    12: "hevc",
    13: "av1",
}
_LEGACY_AUDIO_NAMES: Final = {
    0: "pcm",
    1: "adpcm",
    2: "mp3",
    3: "pcm-le",
    4: "nellymoser-16k",
    5: "nellymoser-8k",
    6: "nellymoser",
    7: "g711a",
    8: "g711u",
    10: "aac",
    11: "speex",
    13: "opus",  # lal's non-standard RtmpSoundFormatOpus (AV-3); not a spec value
    14: "mp3-8k",
    15: "device",
}
# Legacy CodecIDs whose body is AVCPacketType + SI24 CompositionTime + data (AVC, and HEVC as 12: ERTMP-16).
_AVC_LIKE_CODEC_IDS: Final = frozenset({_CODEC_AVC, _CODEC_HEVC_LEGACY})
_KNOWN_SOUND_FORMATS: Final = frozenset(int(f) for f in SoundFormat if f != _SF_EX_HEADER)
_KNOWN_VIDEO_PACKET_TYPES: Final = frozenset(int(t) for t in VideoPacketType)
_KNOWN_AUDIO_PACKET_TYPES: Final = frozenset(int(t) for t in AudioPacketType)
_VIDEO_CODED_TYPES: Final = frozenset({_VPT_CODED_FRAMES, _VPT_CODED_FRAMES_X})
_VIDEO_SEQUENCE_TYPES: Final = frozenset(
    {_VPT_SEQUENCE_START, _VPT_MPEG2TS_SEQUENCE_START}
)
_SAMPLING_FREQUENCIES: Final = (
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
)
_FLV_SOUND_RATES: Final = (5512, 11025, 22050, 44100)


# --------------------------------------------------------------------------------------------------
# Hot-path predicates: first bytes only, never copy, never raise
# --------------------------------------------------------------------------------------------------


def _ex_skip_modex(payload: BytesLike, n: int, modex: int) -> tuple[int, int]:
    """(packet type, offset after it) of an ExHeader message once its ModEx entries are skipped.

    (-1, -1) when the payload ends first. The loop runs once per ModEx entry, not per byte.
    """
    ptype = payload[0] & 0x0F
    off = 1
    while ptype == modex:
        if off >= n:
            return -1, -1
        size = payload[off] + 1
        off += 1
        if size == 256:
            if off + 2 > n:
                return -1, -1
            size = ((payload[off] << 8) | payload[off + 1]) + 1
            off += 2
        off += size
        if off >= n:
            return -1, -1
        ptype = payload[off] & 0x0F
        off += 1
    return ptype, off


def _ex_effective_type(payload: BytesLike, n: int, modex: int, multitrack: int) -> int:
    """Packet type of an ExHeader message looking through ModEx and a Multitrack wrapper; -1 if cut off."""
    ptype, off = _ex_skip_modex(payload, n, modex)
    if ptype == multitrack:
        if off >= n:
            return -1
        ptype = payload[off] & 0x0F
    return ptype


def is_video_keyframe(payload: BytesLike) -> bool:
    """True for a video message that can start a GOP: a key *coded frame*, never a sequence header (AV-6).

    Legacy: FrameType nibble 1 and, for AVC/HEVC-12, AVCPacketType 1. E-RTMP: (byte0 & 0x70) >> 4 == 1 and
    a CodedFrames/CodedFramesX packet type, looking through ModEx and Multitrack wrappers.
    """
    n = len(payload)
    if n == 0:
        return False
    b0 = payload[0]
    if b0 & 0x80:
        # AV-6: E-RTMP frame type is UB3, so mask 0x70 (bit 7 is IsExVideoHeader).
        if b0 & 0x70 != 0x10:
            return False
        # ERTMP-1/2: only CodedFrames and CodedFramesX carry pictures; Sequence*/Metadata never do.
        ptype = b0 & 0x0F
        if ptype == _VPT_MOD_EX or ptype == _VPT_MULTITRACK:
            ptype = _ex_effective_type(payload, n, _VPT_MOD_EX, _VPT_MULTITRACK)
        return ptype == _VPT_CODED_FRAMES or ptype == _VPT_CODED_FRAMES_X
    # FLV E.4.3.1 FrameType: "1 = key frame (for AVC, a seekable frame)".
    if b0 >> 4 != _FT_KEY:
        return False
    if (b0 & 0x0F) in _AVC_LIKE_CODEC_IDS:
        # AV-6: a sequence header also has FrameType 1 but must not start a GOP.
        return n > 1 and payload[1] == _AVC_NALU
    return True


def is_video_sequence_header(payload: BytesLike) -> bool:
    """True for a decoder configuration message (AV-4): legacy AVC/HEVC-12 AVCPacketType 0, or E-RTMP
    SequenceStart / MPEG2TSSequenceStart (the two are mutually exclusive, ERTMP-4)."""
    n = len(payload)
    if n < 2:
        return False
    b0 = payload[0]
    if b0 & 0x80:
        ptype = b0 & 0x0F
        if ptype == _VPT_MOD_EX or ptype == _VPT_MULTITRACK:
            ptype = _ex_effective_type(payload, n, _VPT_MOD_EX, _VPT_MULTITRACK)
        # A Command frame with any packet type other than Metadata carries a VideoCommand, not a header.
        if b0 & 0x70 == 0x50:
            return False
        return ptype in _VIDEO_SEQUENCE_TYPES
    if b0 >> 4 == _FT_COMMAND:
        return False
    return (b0 & 0x0F) in _AVC_LIKE_CODEC_IDS and payload[1] == _AVC_SEQUENCE_HEADER


def is_audio_sequence_header(payload: BytesLike) -> bool:
    """True for AAC AACPacketType 0 or an E-RTMP audio SequenceStart (through ModEx/Multitrack)."""
    n = len(payload)
    if n < 2:
        return False
    fmt = payload[0] >> 4
    if fmt == _SF_AAC:
        return payload[1] == _AAC_SEQUENCE_HEADER
    if fmt == _SF_EX_HEADER:
        ptype = payload[0] & 0x0F
        if ptype == _APT_MOD_EX or ptype == _APT_MULTITRACK:
            ptype = _ex_effective_type(payload, n, _APT_MOD_EX, _APT_MULTITRACK)
        return ptype == _APT_SEQUENCE_START
    return False


def _ex_fourcc_offset(payload: BytesLike, n: int, video: bool) -> int:
    """Offset of the (first) FourCC of an ExHeader message; -1 when it has none, or the parser would not
    read one (unknown packet or multitrack type), or it is cut off. Mirrors parse_video/audio_tag."""
    if video:
        ptype, off = _ex_skip_modex(payload, n, _VPT_MOD_EX)
        if ptype < 0 or ptype not in _KNOWN_VIDEO_PACKET_TYPES:
            return -1
        if payload[0] & 0x70 == 0x50 and ptype != _VPT_METADATA:
            return -1  # command frame: a VideoCommand byte, no FourCC
        multitrack = _VPT_MULTITRACK
        known = _KNOWN_VIDEO_PACKET_TYPES
    else:
        ptype, off = _ex_skip_modex(payload, n, _APT_MOD_EX)
        if ptype < 0 or ptype not in _KNOWN_AUDIO_PACKET_TYPES:
            return -1
        multitrack = _APT_MULTITRACK
        known = _KNOWN_AUDIO_PACKET_TYPES
    if ptype == multitrack:
        # UB4 multitrack type + UB4 inner packet type; then the shared FourCC, or track 1's own FourCC
        # for ManyTracksManyCodecs: either way the first FourCC sits right here.
        if off >= n:
            return -1
        inner = payload[off]
        inner_type = inner & 0x0F
        if inner >> 4 > _MT_MANY_TRACKS_MANY_CODECS or inner_type not in known or inner_type == multitrack:
            return -1
        off += 1
    return off if off + 4 <= n else -1


def _fourcc_name(raw: bytes, names: dict[bytes, str]) -> str:
    name = names.get(raw)
    return name if name is not None else raw.decode("latin-1")


def video_codec(payload: BytesLike) -> str:
    """Codec name of a video message: 'avc', 'hevc', 'av1', 'vp9', 'vp8', 'vvc', legacy names ('h263',
    'vp6', ...), the FourCC text for an unknown FourCC, 'codecid-N' for a reserved CodecID, '' when the
    message names no codec (empty, cut short, or an E-RTMP command frame)."""
    n = len(payload)
    if n == 0:
        return ""
    b0 = payload[0]
    if b0 & 0x80:
        off = _ex_fourcc_offset(payload, n, True)
        if off < 0:
            return ""
        return _fourcc_name(bytes(payload[off : off + 4]), _VIDEO_FOURCC_NAMES)
    codec = b0 & 0x0F
    name = _LEGACY_VIDEO_NAMES.get(codec)
    return name if name is not None else f"codecid-{codec}"


def audio_codec(payload: BytesLike) -> str:
    """Codec name of an audio message: 'aac', 'mp3', 'opus', 'flac', 'ac3', 'eac3', 'speex', 'g711a', ...,
    the FourCC text for an unknown FourCC, 'soundformat-N' for a reserved format, '' when none is named."""
    n = len(payload)
    if n == 0:
        return ""
    fmt = payload[0] >> 4
    if fmt == _SF_EX_HEADER:
        off = _ex_fourcc_offset(payload, n, False)
        if off < 0:
            return ""
        return _fourcc_name(bytes(payload[off : off + 4]), _AUDIO_FOURCC_NAMES)
    name = _LEGACY_AUDIO_NAMES.get(fmt)
    return name if name is not None else f"soundformat-{fmt}"


# --------------------------------------------------------------------------------------------------
# Parsed tags
# --------------------------------------------------------------------------------------------------


@record(frozen=True, slots=True)
class VideoTrack:
    """One track of an E-RTMP multitrack video message (ERTMP-8)."""

    track_id: int  # UI8 trackId (0 is the RECOMMENDED default track)
    fourcc: bytes  # codec of this track (shared FourCC, or the track's own for ManyTracksManyCodecs)
    composition_time: int  # signed ms offset PTS - DTS (SI24); 0 when the packet type/codec carries none
    body: memoryview  # this track's codec data after its header and composition time
    known: bool  # the FourCC is one the parser understands


@record(frozen=True, slots=True)
class VideoTag:
    """A decoded video message payload (FLV v10.1 E.4.3, ERTMPv2 "Enhanced Video")."""

    frame_type: int  # FrameType: UB4 legacy, UB3 with the ExHeader (1 key, 2 inter, 5 command, ...)
    is_enhanced: bool  # IsExVideoHeader (byte 0 bit 7) is set
    codec_id: int | None  # legacy CodecID nibble; None with the ExHeader or an empty message
    fourcc: bytes | None  # E-RTMP FourCC (first track's when multitrack); None for legacy/command/unknown
    packet_type: int | None  # AVCPacketType (legacy 7/12) or VideoPacketType after ModEx/Multitrack
    composition_time: int  # signed ms offset PTS - DTS (SI24, TS-14); 0 when not carried
    body: memoryview  # codec data after every header (first track's when multitrack); a view, not a copy
    command: int | None  # VideoCommand of a FrameType 5 message, else None
    known: bool  # codec, packet type and FourCC were all understood (ERTMP-9: unknown is not an error)
    empty: bool  # zero-length message: no header at all
    multitrack_type: int | None  # AvMultitrackType when the message is Multitrack, else None
    track_id: int  # trackId of the first track (0 when not multitrack)
    tracks: tuple[VideoTrack, ...]  # every track of a multitrack message; () otherwise
    nano_offset: int  # ModEx TimestampOffsetNano in ns (ERTMP-7); 0 when absent

    @property
    def keyframe(self) -> bool:
        """Starts a GOP: key frame type and a coded-frames packet (same answer as is_video_keyframe)."""
        if self.empty or self.frame_type != _FT_KEY or self.command is not None:
            return False
        if self.is_enhanced:
            return self.packet_type in _VIDEO_CODED_TYPES
        if self.codec_id in _AVC_LIKE_CODEC_IDS:
            return self.packet_type == _AVC_NALU
        return True

    @property
    def sequence_header(self) -> bool:
        """Decoder configuration (same answer as is_video_sequence_header)."""
        if self.empty or self.command is not None:
            return False
        if self.is_enhanced:
            return self.packet_type in _VIDEO_SEQUENCE_TYPES
        return self.codec_id in _AVC_LIKE_CODEC_IDS and self.packet_type == _AVC_SEQUENCE_HEADER

    @property
    def codec(self) -> str:
        """Codec name as video_codec() gives it."""
        if self.fourcc is not None:
            return _fourcc_name(self.fourcc, _VIDEO_FOURCC_NAMES)
        if self.codec_id is not None:
            name = _LEGACY_VIDEO_NAMES.get(self.codec_id)
            return name if name is not None else f"codecid-{self.codec_id}"
        return ""


@record(frozen=True, slots=True)
class AudioTrack:
    """One track of an E-RTMP multitrack audio message (ERTMP-8)."""

    track_id: int  # UI8 trackId (0 is the RECOMMENDED default track)
    fourcc: bytes  # codec of this track
    body: memoryview  # this track's codec data after its header
    known: bool  # the FourCC is one the parser understands


@record(frozen=True, slots=True)
class AudioTag:
    """A decoded audio message payload (FLV v10.1 E.4.2, ERTMPv2 "Enhanced Audio")."""

    sound_format: int | None  # SoundFormat nibble (9 = ExHeader); None for an empty message
    is_enhanced: bool  # SoundFormat is ExHeader (9)
    sound_rate: int  # SoundRate bits UB2 (0 5.5k, 1 11k, 2 22k, 3 44k); 0 with the ExHeader
    sound_size: int  # SoundSize bit (0 8-bit, 1 16-bit); 0 with the ExHeader
    sound_type: int  # SoundType bit (0 mono, 1 stereo); 0 with the ExHeader
    packet_type: int | None  # AACPacketType (format 10) or AudioPacketType after ModEx/Multitrack
    fourcc: bytes | None  # E-RTMP FourCC (first track's when multitrack); None for legacy/unknown
    body: memoryview  # codec data after every header (first track's when multitrack); a view, not a copy
    known: bool  # format, packet type and FourCC were all understood (ERTMP-9)
    empty: bool  # zero-length message: "silence" (ERTMP-15), not malformed
    multitrack_type: int | None  # AvMultitrackType when the message is Multitrack, else None
    track_id: int  # trackId of the first track (0 when not multitrack)
    tracks: tuple[AudioTrack, ...]  # every track of a multitrack message; () otherwise
    nano_offset: int  # ModEx TimestampOffsetNano in ns (ERTMP-7); 0 when absent

    @property
    def sequence_header(self) -> bool:
        """AAC sequence header or E-RTMP audio SequenceStart (same answer as is_audio_sequence_header)."""
        if self.sound_format == _SF_AAC:
            return self.packet_type == _AAC_SEQUENCE_HEADER
        return self.is_enhanced and self.packet_type == _APT_SEQUENCE_START

    @property
    def aac_packet_type(self) -> int | None:
        """AACPacketType of a legacy AAC message, else None."""
        return self.packet_type if self.sound_format == _SF_AAC else None

    @property
    def nominal_rate(self) -> int | None:
        """Rate the SoundRate bits claim in Hz; None with the ExHeader. Meaningless for AAC (AV-3)."""
        if self.sound_format is None or self.is_enhanced:
            return None
        return _FLV_SOUND_RATES[self.sound_rate]

    @property
    def codec(self) -> str:
        """Codec name as audio_codec() gives it."""
        if self.fourcc is not None:
            return _fourcc_name(self.fourcc, _AUDIO_FOURCC_NAMES)
        if self.sound_format is None or self.is_enhanced:
            return ""
        name = _LEGACY_AUDIO_NAMES.get(self.sound_format)
        return name if name is not None else f"soundformat-{self.sound_format}"


# --------------------------------------------------------------------------------------------------
# Full parsers
# --------------------------------------------------------------------------------------------------


def _need(view: memoryview, off: int, count: int, what: str, rule: str) -> None:
    if off + count > len(view):
        raise RemoteProtocolError(
            f"{what}: need {count} byte(s) at offset {off}, message has {len(view)}", rule=rule
        )


def _si24(view: memoryview, off: int) -> int:
    high, low = _SI24.unpack_from(view, off)
    return int((high << 16) | low)


def _ui24(view: memoryview, off: int) -> int:
    high, low = _UI24.unpack_from(view, off)
    return int((high << 16) | low)


def _walk_modex(view: memoryview, modex: int, what: str) -> tuple[int, int, int]:
    """Skip the ModEx entries after byte 0; return (packet type, offset after them, nano offset)."""
    ptype = view[0] & 0x0F
    off = 1
    nano = 0
    while ptype == modex:
        # ERTMPv2: "modExDataSize = UI8 + 1" and, when that gives 256, "modExDataSize = UI16 + 1".
        _need(view, off, 1, f"{what} ModEx size", "ERTMP-7")
        size = view[off] + 1
        off += 1
        if size == 256:
            _need(view, off, 2, f"{what} ModEx 16-bit size", "ERTMP-7")
            size = int(_U16.unpack_from(view, off)[0]) + 1
            off += 2
        _need(view, off, size + 1, f"{what} ModEx data and next packet type", "ERTMP-7")
        data_off = off
        off += size
        modex_type = view[off] >> 4
        ptype = view[off] & 0x0F
        off += 1
        if modex_type == _MODEX_TIMESTAMP_OFFSET_NANO:
            # ERTMPv2: "modExData must be at least 3 bytes, storing values up to 999,999 ns."
            if size < 3:
                raise RemoteProtocolError(
                    f"{what} TimestampOffsetNano ModEx data has {size} byte(s), needs 3", rule="ERTMP-7"
                )
            nano = _ui24(view, data_off)
    return ptype, off, nano


def _empty_video(view: memoryview) -> VideoTag:
    return VideoTag(
        frame_type=0, is_enhanced=False, codec_id=None, fourcc=None, packet_type=None,
        composition_time=0, body=view, command=None, known=False, empty=True,
        multitrack_type=None, track_id=0, tracks=(), nano_offset=0,
    )


def parse_video_tag(payload: BytesLike) -> VideoTag:
    """Decode a video message payload. See the module docstring for the malformed-input policy."""
    view = memoryview(payload)
    n = len(view)
    if n == 0:
        return _empty_video(view)
    b0 = view[0]
    if b0 & 0x80:
        return _parse_ex_video(view, b0)

    frame_type = b0 >> 4
    codec_id = b0 & 0x0F
    known = codec_id in _LEGACY_VIDEO_NAMES and frame_type in (1, 2, 3, 4, 5)
    if frame_type == _FT_COMMAND:
        # FLV E.4.3.1: "If FrameType = 5, instead of a video payload, the message stream contains a UI8".
        _need(view, 1, 1, "video command frame VideoCommand", "AV-1")
        command = view[1]
        return VideoTag(
            frame_type=frame_type, is_enhanced=False, codec_id=codec_id, fourcc=None, packet_type=None,
            composition_time=0, body=view[2:], command=command,
            known=known and command in (_CMD_START_SEEK, _CMD_END_SEEK), empty=False,
            multitrack_type=None, track_id=0, tracks=(), nano_offset=0,
        )
    if codec_id not in _AVC_LIKE_CODEC_IDS:
        return VideoTag(
            frame_type=frame_type, is_enhanced=False, codec_id=codec_id, fourcc=None, packet_type=None,
            composition_time=0, body=view[1:], command=None, known=known, empty=False,
            multitrack_type=None, track_id=0, tracks=(), nano_offset=0,
        )
    # FLV E.4.3.2 AVCVIDEOPACKET: AVCPacketType UI8 then CompositionTime SI24, always both present.
    _need(view, 1, 4, "AVC video AVCPacketType + CompositionTime", "AV-2")
    packet_type = view[1]
    # FLV E.4.3.2: CompositionTime is "IF AVCPacketType == 1 Composition time offset ELSE 0" (TS-14).
    cts = _si24(view, 2) if packet_type == _AVC_NALU else 0
    return VideoTag(
        frame_type=frame_type, is_enhanced=False, codec_id=codec_id, fourcc=None, packet_type=packet_type,
        composition_time=cts, body=view[5:], command=None,
        known=known and packet_type in (0, 1, 2), empty=False,
        multitrack_type=None, track_id=0, tracks=(), nano_offset=0,
    )


def _video_track_body(
    view: memoryview, ptype: int, fourcc: bytes, what: str
) -> tuple[int, memoryview, bool]:
    """(composition time, body, known) of one single-track E-RTMP video body."""
    if ptype == _VPT_CODED_FRAMES:
        if fourcc in FourCC.WITH_COMPOSITION_TIME:
            # ERTMPv2 ExVideoTagBody: for avc1/hvc1/vvc1 CodedFrames, "compositionTimeOffset = SI24".
            _need(view, 0, 3, f"{what} CodedFrames compositionTimeOffset", "ERTMP-2")
            return _si24(view, 0), view[3:], True
        # ERTMP-2: AV1/VP8/VP9 CodedFrames carry no composition time. For a FourCC we do not know we
        # cannot tell, so the body is handed back untouched.
        return 0, view, fourcc in FourCC.VIDEO
    return 0, view, fourcc in FourCC.VIDEO


def _parse_ex_video(view: memoryview, b0: int) -> VideoTag:
    n = len(view)
    frame_type = (b0 >> 4) & 0x07
    ptype, off, nano = _walk_modex(view, _VPT_MOD_EX, "E-RTMP video")
    # ERTMPv2: "frameType is ignored if videoPacketType is VideoPacketType.MetaData"; 0, 6, 7 are reserved.
    frame_known = ptype == _VPT_METADATA or frame_type in (1, 2, 3, 4, 5)

    # ERTMPv2: "if (videoPacketType != VideoPacketType.Metadata && videoFrameType == VideoFrameType.Command)"
    # then "videoCommand = UI8 as VideoCommand" and "ExVideoTagBody has no payload if we got here."
    if frame_type == _FT_COMMAND and ptype != _VPT_METADATA:
        _need(view, off, 1, "E-RTMP video command frame VideoCommand", "ERTMP-3")
        command = view[off]
        return VideoTag(
            frame_type=frame_type, is_enhanced=True, codec_id=None, fourcc=None, packet_type=ptype,
            composition_time=0, body=view[off + 1 :], command=command,
            known=command in (_CMD_START_SEEK, _CMD_END_SEEK), empty=False,
            multitrack_type=None, track_id=0, tracks=(), nano_offset=nano,
        )
    if ptype not in _KNOWN_VIDEO_PACKET_TYPES:
        # ERTMP-9: the layout after an unknown packet type is unknown; hand the rest back, do not guess.
        return VideoTag(
            frame_type=frame_type, is_enhanced=True, codec_id=None, fourcc=None, packet_type=ptype,
            composition_time=0, body=view[off:], command=None, known=False, empty=False,
            multitrack_type=None, track_id=0, tracks=(), nano_offset=nano,
        )
    if ptype != _VPT_MULTITRACK:
        _need(view, off, 4, "E-RTMP video FourCC", "ERTMP-1")
        fourcc = bytes(view[off : off + 4])
        cts, body, known = _video_track_body(view[off + 4 :], ptype, fourcc, "E-RTMP video")
        return VideoTag(
            frame_type=frame_type, is_enhanced=True, codec_id=None, fourcc=fourcc, packet_type=ptype,
            composition_time=cts, body=body, command=None, known=known and frame_known, empty=False,
            multitrack_type=None, track_id=0, tracks=(), nano_offset=nano,
        )

    _need(view, off, 1, "E-RTMP video multitrack type", "ERTMP-8")
    mt_type = view[off] >> 4
    ptype = view[off] & 0x0F
    off += 1
    # ERTMPv2: "This fetch MUST not result in a VideoPacketType.Multitrack".
    if ptype == _VPT_MULTITRACK:
        raise RemoteProtocolError("E-RTMP video Multitrack nested inside Multitrack", rule="ERTMP-8")
    if mt_type not in (0, 1, 2) or ptype not in _KNOWN_VIDEO_PACKET_TYPES:
        return VideoTag(
            frame_type=frame_type, is_enhanced=True, codec_id=None, fourcc=None, packet_type=ptype,
            composition_time=0, body=view[off:], command=None, known=False, empty=False,
            multitrack_type=mt_type, track_id=0, tracks=(), nano_offset=nano,
        )
    shared: bytes | None = None
    if mt_type != _MT_MANY_TRACKS_MANY_CODECS:
        _need(view, off, 4, "E-RTMP video multitrack FourCC", "ERTMP-8")
        shared = bytes(view[off : off + 4])
        off += 4
    tracks: list[VideoTrack] = []
    # ERTMPv2: "the bitstream MUST be processed completely"; every track in the message is decoded.
    while True:
        fourcc_t, track_id, data, off = _next_track(view, off, mt_type, shared, "E-RTMP video")
        cts, body, known = _video_track_body(data, ptype, fourcc_t, "E-RTMP video track")
        tracks.append(
            VideoTrack(track_id=track_id, fourcc=fourcc_t, composition_time=cts, body=body, known=known)
        )
        if off >= n:
            break
    first = tracks[0]
    return VideoTag(
        frame_type=frame_type, is_enhanced=True, codec_id=None, fourcc=first.fourcc, packet_type=ptype,
        composition_time=first.composition_time, body=first.body, command=None,
        known=frame_known and all(t.known for t in tracks), empty=False,
        multitrack_type=mt_type, track_id=first.track_id, tracks=tuple(tracks), nano_offset=nano,
    )


def _next_track(
    view: memoryview, off: int, mt_type: int, shared: bytes | None, what: str
) -> tuple[bytes, int, memoryview, int]:
    """Read one multitrack entry at ``off``: (FourCC, trackId, track data, offset after the track)."""
    if shared is None:
        _need(view, off, 4, f"{what} track FourCC", "ERTMP-8")
        fourcc = bytes(view[off : off + 4])
        off += 4
    else:
        fourcc = shared
    _need(view, off, 1, f"{what} trackId", "ERTMP-8")
    track_id = view[off]
    off += 1
    if mt_type == _MT_ONE_TRACK:
        return fourcc, track_id, view[off:], len(view)
    # ERTMPv2: sizeOfVideoTrack / sizeOfAudioTrack = UI24, counted from just after the size field.
    _need(view, off, 3, f"{what} track size", "ERTMP-8")
    size = _ui24(view, off)
    off += 3
    _need(view, off, size, f"{what} track {track_id} data", "ERTMP-8")
    return fourcc, track_id, view[off : off + size], off + size


def parse_audio_tag(payload: BytesLike) -> AudioTag:
    """Decode an audio message payload. See the module docstring for the malformed-input policy."""
    view = memoryview(payload)
    n = len(view)
    if n == 0:
        # ERTMP-15: a zero-length audio message means silence; it is not malformed.
        return AudioTag(
            sound_format=None, is_enhanced=False, sound_rate=0, sound_size=0, sound_type=0,
            packet_type=None, fourcc=None, body=view, known=True, empty=True,
            multitrack_type=None, track_id=0, tracks=(), nano_offset=0,
        )
    b0 = view[0]
    fmt = b0 >> 4
    if fmt == _SF_EX_HEADER:
        return _parse_ex_audio(view)
    rate = (b0 >> 2) & 0x03
    size = (b0 >> 1) & 0x01
    stype = b0 & 0x01
    if fmt != _SF_AAC:
        return AudioTag(
            sound_format=fmt, is_enhanced=False, sound_rate=rate, sound_size=size, sound_type=stype,
            packet_type=None, fourcc=None, body=view[1:], known=fmt in _KNOWN_SOUND_FORMATS, empty=False,
            multitrack_type=None, track_id=0, tracks=(), nano_offset=0,
        )
    # FLV E.4.2.1: "If the SoundFormat indicates AAC, the SoundType should be set to 1 (stereo) and the
    # SoundRate should be set to 3 (44 kHz) ... the Flash Player ignores these values" (AV-3). So the bits
    # are reported as sent and never checked; the AudioSpecificConfig is authoritative.
    _need(view, 1, 1, "AAC AACPacketType", "AV-3")
    packet_type = view[1]
    return AudioTag(
        sound_format=fmt, is_enhanced=False, sound_rate=rate, sound_size=size, sound_type=stype,
        packet_type=packet_type, fourcc=None, body=view[2:], known=packet_type in (0, 1), empty=False,
        multitrack_type=None, track_id=0, tracks=(), nano_offset=0,
    )


def _parse_ex_audio(view: memoryview) -> AudioTag:
    n = len(view)
    ptype, off, nano = _walk_modex(view, _APT_MOD_EX, "E-RTMP audio")
    if ptype not in _KNOWN_AUDIO_PACKET_TYPES:
        # ERTMP-9: unknown AudioPacketType, layout unknown: controlled, predictable, no exception.
        return AudioTag(
            sound_format=_SF_EX_HEADER, is_enhanced=True, sound_rate=0, sound_size=0, sound_type=0,
            packet_type=ptype, fourcc=None, body=view[off:], known=False, empty=False,
            multitrack_type=None, track_id=0, tracks=(), nano_offset=nano,
        )
    if ptype != _APT_MULTITRACK:
        # ERTMPv2 ExAudioTagHeader: outside Multitrack, "audioFourCc = FOURCC as AudioFourCc".
        _need(view, off, 4, "E-RTMP audio FourCC", "ERTMP-6")
        fourcc = bytes(view[off : off + 4])
        return AudioTag(
            sound_format=_SF_EX_HEADER, is_enhanced=True, sound_rate=0, sound_size=0, sound_type=0,
            packet_type=ptype, fourcc=fourcc, body=view[off + 4 :], known=fourcc in FourCC.AUDIO,
            empty=False, multitrack_type=None, track_id=0, tracks=(), nano_offset=nano,
        )
    _need(view, off, 1, "E-RTMP audio multitrack type", "ERTMP-8")
    mt_type = view[off] >> 4
    ptype = view[off] & 0x0F
    off += 1
    # ERTMPv2: "This fetch MUST not result in a AudioPacketType.Multitrack".
    if ptype == _APT_MULTITRACK:
        raise RemoteProtocolError("E-RTMP audio Multitrack nested inside Multitrack", rule="ERTMP-8")
    if mt_type not in (0, 1, 2) or ptype not in _KNOWN_AUDIO_PACKET_TYPES:
        return AudioTag(
            sound_format=_SF_EX_HEADER, is_enhanced=True, sound_rate=0, sound_size=0, sound_type=0,
            packet_type=ptype, fourcc=None, body=view[off:], known=False, empty=False,
            multitrack_type=mt_type, track_id=0, tracks=(), nano_offset=nano,
        )
    shared: bytes | None = None
    if mt_type != _MT_MANY_TRACKS_MANY_CODECS:
        _need(view, off, 4, "E-RTMP audio multitrack FourCC", "ERTMP-8")
        shared = bytes(view[off : off + 4])
        off += 4
    tracks: list[AudioTrack] = []
    while True:
        fourcc_t, track_id, data, off = _next_track(view, off, mt_type, shared, "E-RTMP audio")
        known = fourcc_t in FourCC.AUDIO
        tracks.append(AudioTrack(track_id=track_id, fourcc=fourcc_t, body=data, known=known))
        if off >= n:
            break
    first = tracks[0]
    return AudioTag(
        sound_format=_SF_EX_HEADER, is_enhanced=True, sound_rate=0, sound_size=0, sound_type=0,
        packet_type=ptype, fourcc=first.fourcc, body=first.body, known=all(t.known for t in tracks),
        empty=False, multitrack_type=mt_type, track_id=first.track_id, tracks=tuple(tracks),
        nano_offset=nano,
    )


# --------------------------------------------------------------------------------------------------
# NAL units and configuration records
# --------------------------------------------------------------------------------------------------


def split_nalus(body: BytesLike, length_size: int) -> list[memoryview]:
    """Split length-prefixed NAL units (AVCC/HVCC sample format) into views of ``body`` (AV-2).

    ``length_size`` comes from the decoder configuration record (lengthSizeMinusOne + 1): 1, 2, 3 or 4.
    """
    if length_size not in (1, 2, 3, 4):
        raise ValueError(f"NALU length size must be 1..4, got {length_size}")
    view = memoryview(body)
    n = len(view)
    off = 0
    out: list[memoryview] = []
    if length_size == 4:
        unpack = _U32.unpack_from
    elif length_size == 2:
        unpack = _U16.unpack_from
    elif length_size == 1:
        unpack = _U8.unpack_from
    else:
        unpack = _UI24.unpack_from
    while off < n:
        # AV-2: lengths are lengthSizeMinusOne + 1 bytes; a length or a NALU running past the end is
        # malformed (and so are Annex-B start codes, which read as a huge or zero length).
        if off + length_size > n:
            raise RemoteProtocolError(
                f"NALU length field cut short at offset {off} ({n - off} of {length_size} bytes)", rule="AV-2"
            )
        if length_size == 3:
            high, low = unpack(view, off)
            size = (high << 16) | low
        else:
            size = unpack(view, off)[0]
        off += length_size
        end = off + size
        if end > n:
            raise RemoteProtocolError(
                f"NALU at offset {off} claims {size} bytes, only {n - off} left", rule="AV-2"
            )
        out.append(view[off:end])
        off = end
    return out


_HIGH_PROFILES_WITH_EXT: Final = frozenset({100, 110, 122, 144})


@record(frozen=True, slots=True)
class AvcDecoderConfig:
    """AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.2.4.1), the AVC sequence header body (AV-2)."""

    version: int  # configurationVersion, always 1
    profile: int  # AVCProfileIndication (profile_idc of the SPS)
    compat: int  # profile_compatibility (constraint flags byte of the SPS)
    level: int  # AVCLevelIndication (level_idc of the SPS)
    length_size: int  # NALU length field size in bytes: lengthSizeMinusOne + 1
    sps: tuple[bytes, ...]  # sequenceParameterSetNALUnit list, NAL header included
    pps: tuple[bytes, ...]  # pictureParameterSetNALUnit list, NAL header included
    trailer: bytes  # bytes after the PPS list (High-profile chroma/bit-depth extension), verbatim

    @classmethod
    def parse(cls, data: BytesLike) -> AvcDecoderConfig:
        """Decode a record; RemoteProtocolError(rule AV-2) if it is cut short or not version 1."""
        view = memoryview(data)
        n = len(view)
        _need(view, 0, 6, "AVCDecoderConfigurationRecord header", "AV-2")
        version, profile, compat, level, len_byte, sps_byte = struct.unpack_from(">6B", view, 0)
        # ISO 14496-15: readers "shall not attempt to decode this record" when the version is unrecognised.
        if version != 1:
            raise RemoteProtocolError(f"AVCDecoderConfigurationRecord version {version}, not 1", rule="AV-2")
        length_size = (len_byte & 0x03) + 1
        # ISO 14496-15: lengthSizeMinusOne "shall be one of 0, 1, or 3" (1, 2 or 4 byte lengths).
        if length_size == 3:
            raise RemoteProtocolError("AVCDecoderConfigurationRecord lengthSizeMinusOne is 2", rule="AV-2")
        off = 6
        sps, off = _length_prefixed_list(view, off, sps_byte & 0x1F, "SPS")
        _need(view, off, 1, "AVCDecoderConfigurationRecord numOfPictureParameterSets", "AV-2")
        pps_count = view[off]
        pps, off = _length_prefixed_list(view, off + 1, pps_count, "PPS")
        return cls(
            version=version, profile=profile, compat=compat, level=level, length_size=length_size,
            sps=sps, pps=pps, trailer=bytes(view[off:n]),
        )

    @staticmethod
    def build(
        sps_list: Sequence[BytesLike], pps_list: Sequence[BytesLike], length_size: int = 4
    ) -> bytes:
        """Encode a record. Profile, compatibility and level come from the first SPS (bytes 1..3).

        For the High profiles (100/110/122/144) the 4:2:0 8-bit extension (chroma_format 1, bit depths 8,
        no SPS extensions) is appended, which is what every encoder we feed it from produces.
        """
        if not sps_list:
            raise LocalProtocolError("an AVCDecoderConfigurationRecord needs at least one SPS", rule="AV-2")
        if length_size not in (1, 2, 4):
            raise LocalProtocolError(f"NALU length size {length_size} cannot be signalled", rule="AV-2")
        if len(sps_list) > 31 or len(pps_list) > 255:
            raise LocalProtocolError("too many parameter sets for the record's count fields", rule="AV-2")
        first = bytes(sps_list[0])
        if len(first) < 4:
            raise LocalProtocolError("SPS shorter than its 4-byte header", rule="AV-2")
        profile, compat, level = first[1], first[2], first[3]
        # Reserved bits are all ones: '111111' before lengthSizeMinusOne, '111' before the SPS count.
        size_byte = 0xFC | (length_size - 1)
        parts = [struct.pack(">6B", 1, profile, compat, level, size_byte, 0xE0 | len(sps_list))]
        for sps in sps_list:
            parts.append(_U16.pack(len(sps)))
            parts.append(bytes(sps))
        parts.append(_U8.pack(len(pps_list)))
        for pps in pps_list:
            parts.append(_U16.pack(len(pps)))
            parts.append(bytes(pps))
        if profile in _HIGH_PROFILES_WITH_EXT:
            # '111111' + chroma_format 1; '11111' + bit_depth_luma_minus8 0; '11111' + chroma 0; no SPS ext
            parts.append(b"\xfd\xf8\xf8\x00")
        return b"".join(parts)


def _length_prefixed_list(view: memoryview, off: int, count: int, what: str) -> tuple[tuple[bytes, ...], int]:
    items: list[bytes] = []
    for index in range(count):
        _need(view, off, 2, f"AVCDecoderConfigurationRecord {what} #{index} length", "AV-2")
        size = int(_U16.unpack_from(view, off)[0])
        off += 2
        _need(view, off, size, f"AVCDecoderConfigurationRecord {what} #{index} ({size} bytes)", "AV-2")
        items.append(bytes(view[off : off + size]))
        off += size
    return tuple(items), off


class _BitReader:
    """MSB-first bit reader over a short byte string held as one integer (configuration records only)."""

    __slots__ = ("_bits", "_pos", "_value")

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._bits = len(data) * 8
        self._pos = 0

    def read(self, count: int, what: str) -> int:
        if self._pos + count > self._bits:
            raise RemoteProtocolError(f"AudioSpecificConfig cut short reading {what}", rule="AV-3")
        self._pos += count
        return (self._value >> (self._bits - self._pos)) & ((1 << count) - 1)


def _read_object_type(bits: _BitReader) -> int:
    # ISO 14496-3 1.6.2.1 GetAudioObjectType(): 5 bits; 31 is an escape to 32 + 6 more bits.
    object_type = bits.read(5, "audioObjectType")
    if object_type == 31:
        object_type = 32 + bits.read(6, "audioObjectTypeExt")
    return object_type


def _read_frequency(bits: _BitReader, what: str) -> tuple[int, int]:
    index = bits.read(4, what)
    if index == 0xF:
        # ISO 14496-3: index 0xf is followed by an explicit 24-bit samplingFrequency.
        return index, bits.read(24, f"explicit {what}")
    if index >= len(_SAMPLING_FREQUENCIES):
        raise RemoteProtocolError(f"AudioSpecificConfig {what} {index} is reserved", rule="AV-3")
    return index, _SAMPLING_FREQUENCIES[index]


_CHANNELS_BY_CONFIG: Final = (0, 1, 2, 3, 4, 5, 6, 8, 0, 0, 0, 7, 8, 24, 8, 0)
_SBR_OBJECT_TYPE: Final = 5
_PS_OBJECT_TYPE: Final = 29


@record(frozen=True, slots=True)
class AudioSpecificConfig:
    """AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1), the AAC sequence header body (AV-3).

    Only the fields that describe the stream are decoded; codec-specific tails are ignored.
    """

    object_type: int  # first audioObjectType as written (2 = AAC LC; 5 SBR / 29 PS for explicit HE-AAC)
    frequency_index: int  # samplingFrequencyIndex (0xF = explicit 24-bit frequency)
    sampling_frequency: int  # core sampling frequency in Hz
    channel_config: int  # channelConfiguration (0 = described by a program config element)
    core_object_type: int  # audioObjectType of the core codec (differs from object_type for SBR/PS)
    extension_sampling_frequency: int | None  # SBR output frequency when explicitly signalled, else None

    @property
    def sample_rate(self) -> int:
        """Output sample rate in Hz (the SBR extension rate when one is signalled)."""
        if self.extension_sampling_frequency is not None:
            return self.extension_sampling_frequency
        return self.sampling_frequency

    @property
    def channels(self) -> int:
        """Output channel count (0 when a program config element defines it; PS mono decodes to 2)."""
        if self.object_type == _PS_OBJECT_TYPE and self.channel_config == 1:
            return 2
        return _CHANNELS_BY_CONFIG[self.channel_config]

    @classmethod
    def parse(cls, data: BytesLike) -> AudioSpecificConfig:
        """Decode the leading fields; RemoteProtocolError(rule AV-3) when cut short or reserved."""
        # Never more than 11 bytes are needed for the fields below; the rest is codec-specific.
        bits = _BitReader(bytes(memoryview(data)[:16]))
        object_type = _read_object_type(bits)
        if object_type == 0:
            raise RemoteProtocolError("AudioSpecificConfig audioObjectType 0 (null object)", rule="AV-3")
        index, frequency = _read_frequency(bits, "samplingFrequencyIndex")
        channel_config = bits.read(4, "channelConfiguration")
        core = object_type
        extension: int | None = None
        if object_type in (_SBR_OBJECT_TYPE, _PS_OBJECT_TYPE):
            # ISO 14496-3: explicit hierarchical signalling; extension frequency, then the core object type.
            _, extension = _read_frequency(bits, "extensionSamplingFrequencyIndex")
            core = _read_object_type(bits)
        return cls(
            object_type=object_type, frequency_index=index, sampling_frequency=frequency,
            channel_config=channel_config, core_object_type=core, extension_sampling_frequency=extension,
        )

    @staticmethod
    def build(object_type: int = 2, sample_rate: int = 44100, channels: int = 2) -> bytes:
        """Encode a plain (no SBR/PS) config followed by an all-zero GASpecificConfig
        (frameLengthFlag 0 = 1024 samples, dependsOnCoreCoder 0, extensionFlag 0)."""
        if not 1 <= object_type <= 95:
            raise LocalProtocolError(f"audioObjectType {object_type} cannot be encoded", rule="AV-3")
        channel_config = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 8: 7}.get(channels)
        if channel_config is None:
            raise LocalProtocolError(f"no channelConfiguration for {channels} channels", rule="AV-3")
        value = 0
        width = 0

        def put(field: int, count: int) -> None:
            nonlocal value, width
            value = (value << count) | field
            width += count

        if object_type >= 31:
            put(31, 5)
            put(object_type - 32, 6)
        else:
            put(object_type, 5)
        if sample_rate in _SAMPLING_FREQUENCIES:
            put(_SAMPLING_FREQUENCIES.index(sample_rate), 4)
        else:
            if not 0 < sample_rate < 1 << 24:
                raise LocalProtocolError(f"sample rate {sample_rate} cannot be encoded", rule="AV-3")
            put(0xF, 4)
            put(sample_rate, 24)
        put(channel_config, 4)
        put(0, 3)
        pad = -width % 8
        return (value << pad).to_bytes((width + pad) // 8, "big")


# --------------------------------------------------------------------------------------------------
# Builders (tests, harness publishers). They encode what they are asked, legal or not, as long as it fits.
# --------------------------------------------------------------------------------------------------


def _fourcc_bytes(fourcc: bytes | str) -> bytes:
    raw = fourcc.encode("latin-1") if isinstance(fourcc, str) else bytes(fourcc)
    if len(raw) != 4:
        raise LocalProtocolError(f"a FourCC is 4 bytes, got {raw!r}", rule="ERTMP-1")
    return raw


def _pack_si24(value: int) -> bytes:
    if not -0x800000 <= value <= 0x7FFFFF:
        raise LocalProtocolError(f"composition time {value} ms does not fit SI24", rule="TS-14")
    return _UI24.pack((value >> 16) & 0xFF, value & 0xFFFF)


def _check_field(value: int, bits: int, what: str, rule: str) -> None:
    if not 0 <= value < 1 << bits:
        raise LocalProtocolError(f"{what} {value} does not fit in {bits} bits", rule=rule)


def build_avc_video(
    frame_type: int, packet_type: int, cts: int, body: BytesLike, *, codec_id: int = _CODEC_AVC
) -> bytes:
    """Legacy AVC video payload: FrameType|CodecID, AVCPacketType, SI24 CompositionTime, body (AV-1/AV-2).

    ``codec_id=12`` gives the HEVC-as-12 CDN convention (ERTMP-16). ``cts`` is written as given, even
    when the packet type is not 1 (the spec says it should then be 0).
    """
    _check_field(frame_type, 4, "FrameType", "AV-1")
    _check_field(codec_id, 4, "CodecID", "AV-1")
    _check_field(packet_type, 8, "AVCPacketType", "AV-2")
    header = _BYTE_PAIR.pack((frame_type << 4) | codec_id, packet_type)
    return b"".join((header, _pack_si24(cts), bytes(body)))


def build_aac_audio(
    packet_type: int, body: BytesLike, rate_bits: int = 3, size_bit: int = 1, stereo: bool = True
) -> bytes:
    """Legacy AAC audio payload: SoundFormat 10|rate|size|type, AACPacketType, body (AV-3)."""
    _check_field(rate_bits, 2, "SoundRate", "AV-3")
    _check_field(size_bit, 1, "SoundSize", "AV-3")
    _check_field(packet_type, 8, "AACPacketType", "AV-3")
    b0 = (_SF_AAC << 4) | (rate_bits << 2) | (size_bit << 1) | int(stereo)
    return _BYTE_PAIR.pack(b0, packet_type) + bytes(body)


def build_ex_video(
    frame_type: int, packet_type: int, fourcc: bytes | str, body: BytesLike, cts: int | None = None
) -> bytes:
    """Single-track E-RTMP video payload: 1|FrameType|PacketType, FourCC, [SI24 CTS], body (ERTMP-1/2).

    ``cts=None`` writes the composition time exactly where the spec requires it (CodedFrames with
    avc1/hvc1/vvc1), as 0. An explicit integer is always written, even where the spec has no field,
    so illegal vectors can be made. Multitrack and ModEx have their own builders.
    """
    _check_field(frame_type, 3, "VideoFrameType", "ERTMP-1")
    _check_field(packet_type, 4, "VideoPacketType", "ERTMP-1")
    raw = _fourcc_bytes(fourcc)
    if cts is None and packet_type == _VPT_CODED_FRAMES and raw in FourCC.WITH_COMPOSITION_TIME:
        cts = 0
    parts = [_U8.pack(0x80 | (frame_type << 4) | packet_type), raw]
    if cts is not None:
        parts.append(_pack_si24(cts))
    parts.append(bytes(body))
    return b"".join(parts)


def build_ex_audio(packet_type: int, fourcc: bytes | str, body: BytesLike) -> bytes:
    """Single-track E-RTMP audio payload: 9|AudioPacketType, FourCC, body (ERTMP-6)."""
    _check_field(packet_type, 4, "AudioPacketType", "ERTMP-6")
    header = _U8.pack((_SF_EX_HEADER << 4) | packet_type)
    return b"".join((header, _fourcc_bytes(fourcc), bytes(body)))


def build_video_command(command: int, *, enhanced: bool = True, codec_id: int = _CODEC_AVC) -> bytes:
    """FrameType 5 message carrying one UI8 VideoCommand (ERTMP-3): E-RTMP (packet type CodedFrames,
    no FourCC) or legacy (with ``codec_id``)."""
    _check_field(command, 8, "VideoCommand", "ERTMP-3")
    if enhanced:
        return _BYTE_PAIR.pack(0x80 | (_FT_COMMAND << 4) | _VPT_CODED_FRAMES, command)
    _check_field(codec_id, 4, "CodecID", "AV-1")
    return _BYTE_PAIR.pack((_FT_COMMAND << 4) | codec_id, command)


def _multitrack_tail(
    multitrack_type: int, packet_type: int, tracks: Sequence[tuple[int, bytes | str, BytesLike]]
) -> bytes:
    _check_field(multitrack_type, 4, "AvMultitrackType", "ERTMP-8")
    if not tracks:
        raise LocalProtocolError("a multitrack message needs at least one track", rule="ERTMP-8")
    fourccs = [_fourcc_bytes(f) for _, f, _ in tracks]
    many_codecs = multitrack_type == _MT_MANY_TRACKS_MANY_CODECS
    if not many_codecs and len(set(fourccs)) != 1:
        raise LocalProtocolError("tracks of one codec must share a FourCC", rule="ERTMP-8")
    if multitrack_type == _MT_ONE_TRACK and len(tracks) != 1:
        raise LocalProtocolError("OneTrack carries exactly one track", rule="ERTMP-8")
    parts = [_U8.pack((multitrack_type << 4) | packet_type)]
    if not many_codecs:
        parts.append(fourccs[0])
    for (track_id, _, data), raw in zip(tracks, fourccs):
        _check_field(track_id, 8, "trackId", "ERTMP-8")
        if many_codecs:
            parts.append(raw)
        parts.append(_U8.pack(track_id))
        if multitrack_type != _MT_ONE_TRACK:
            if len(data) >= 1 << 24:
                raise LocalProtocolError("track data does not fit the UI24 size", rule="ERTMP-8")
            parts.append(_UI24.pack(len(data) >> 16, len(data) & 0xFFFF))
        parts.append(bytes(data))
    return b"".join(parts)


def build_ex_video_multitrack(
    frame_type: int,
    packet_type: int,
    multitrack_type: int,
    tracks: Sequence[tuple[int, bytes | str, BytesLike]],
) -> bytes:
    """E-RTMP video Multitrack payload (ERTMP-8). ``tracks`` = (trackId, FourCC, data) where data already
    holds the SI24 composition time when the codec/packet type needs one."""
    _check_field(frame_type, 3, "VideoFrameType", "ERTMP-1")
    _check_field(packet_type, 4, "VideoPacketType", "ERTMP-8")
    b0 = 0x80 | (frame_type << 4) | _VPT_MULTITRACK
    return _U8.pack(b0) + _multitrack_tail(multitrack_type, packet_type, tracks)


def build_ex_audio_multitrack(
    packet_type: int, multitrack_type: int, tracks: Sequence[tuple[int, bytes | str, BytesLike]]
) -> bytes:
    """E-RTMP audio Multitrack payload (ERTMP-8). ``tracks`` = (trackId, FourCC, data)."""
    _check_field(packet_type, 4, "AudioPacketType", "ERTMP-8")
    b0 = (_SF_EX_HEADER << 4) | _APT_MULTITRACK
    return _U8.pack(b0) + _multitrack_tail(multitrack_type, packet_type, tracks)


def add_modex_nano_offset(payload: BytesLike, nano: int, *, data_size: int = 3) -> bytes:
    """Wrap an E-RTMP audio or video payload in one TimestampOffsetNano ModEx entry (ERTMP-7).

    ``data_size`` > 3 pads the ModEx data with zeros; above 255 the UI16 size form is used.
    """
    view = memoryview(payload)
    if len(view) == 0:
        raise LocalProtocolError("cannot add ModEx to an empty message", rule="ERTMP-7")
    b0 = view[0]
    modex: int
    if b0 & 0x80:
        modex = _VPT_MOD_EX
    elif b0 >> 4 == _SF_EX_HEADER:
        modex = _APT_MOD_EX
    else:
        raise LocalProtocolError("ModEx exists only with the E-RTMP ExHeader", rule="ERTMP-7")
    _check_field(nano, 24, "TimestampOffsetNano", "ERTMP-7")
    if not 3 <= data_size <= 0x10000:
        raise LocalProtocolError(f"ModEx data size {data_size} out of range", rule="ERTMP-7")
    if data_size < 256:
        size_field = _U8.pack(data_size - 1)
    else:
        size_field = b"\xff" + _U16.pack(data_size - 1)
    data = _UI24.pack(nano >> 16, nano & 0xFFFF) + bytes(data_size - 3)
    next_type = (_MODEX_TIMESTAMP_OFFSET_NANO << 4) | (b0 & 0x0F)
    return b"".join((_U8.pack((b0 & 0xF0) | modex), size_field, data, _U8.pack(next_type), bytes(view[1:])))


# --------------------------------------------------------------------------------------------------
# MultichannelConfig (ERTMPv2 "Enhanced Audio", AudioPacketType.MultichannelConfig)
# --------------------------------------------------------------------------------------------------


class AudioChannelOrder(enum.IntEnum):
    """AudioChannelOrder of a MultichannelConfig packet (ERTMPv2 "Enhanced Audio")."""

    UNSPECIFIED = 0
    NATIVE = 1
    CUSTOM = 2


@record(frozen=True, slots=True)
class MultichannelConfig:
    """Body of an AudioPacketType.MultichannelConfig packet (after the FourCC)."""

    order: int  # AudioChannelOrder (0 unspecified, 1 native, 2 custom)
    channel_count: int  # UI8 channelCount
    mapping: tuple[int, ...]  # Custom order: one AudioChannel per channel, in bitstream order; () otherwise
    flags: int | None  # Native order: UI32 audioChannelFlags (AudioChannelMask bits); None otherwise

    @classmethod
    def parse(cls, data: BytesLike) -> MultichannelConfig:
        """Decode; RemoteProtocolError(rule ERTMP-6) when a field the order requires is missing."""
        view = memoryview(data)
        # ERTMPv2: "audioChannelOrder = UI8 as AudioChannelOrder", then "channelCount = UI8".
        _need(view, 0, 2, "MultichannelConfig order and channelCount", "ERTMP-6")
        order, count = view[0], view[1]
        if order == AudioChannelOrder.CUSTOM:
            # "audioChannelMapping = UI8[channelCount] as AudioChannel[]"
            _need(view, 2, count, "MultichannelConfig custom channel mapping", "ERTMP-6")
            return cls(order, count, tuple(view[2 : 2 + count]), None)
        if order == AudioChannelOrder.NATIVE:
            # "audioChannelFlags = UI32"
            _need(view, 2, 4, "MultichannelConfig native audioChannelFlags", "ERTMP-6")
            return cls(order, count, (), int(_U32.unpack_from(view, 2)[0]))
        return cls(order, count, (), None)

    def build(self) -> bytes:
        """The packet body (without the ExAudioTagHeader)."""
        _check_field(self.order, 8, "AudioChannelOrder", "ERTMP-6")
        _check_field(self.channel_count, 8, "channelCount", "ERTMP-6")
        head = _BYTE_PAIR.pack(self.order, self.channel_count)
        if self.order == AudioChannelOrder.CUSTOM:
            if len(self.mapping) != self.channel_count:
                raise LocalProtocolError("a custom mapping has one entry per channel", rule="ERTMP-6")
            return head + bytes(self.mapping)
        if self.order == AudioChannelOrder.NATIVE:
            return head + _U32.pack(self.flags or 0)
        return head


# --------------------------------------------------------------------------------------------------
# E-RTMP message layout: what a relay needs to serve players that cannot take a message as sent
# (a legacy player, no Multitrack or no ModEx support: ERTMP-8/17/21). Bytes are sliced, never
# re-encoded, so a track taken out of a Multitrack message is byte-identical to its track data.
# --------------------------------------------------------------------------------------------------


@record(frozen=True, slots=True)
class ExTrackData:
    """One track of an E-RTMP message: its id, FourCC and raw data (composition time included)."""

    track_id: int  # UI8 trackId; 0 for a single-track message
    fourcc: bytes  # the track's codec
    data: bytes  # everything after the trackId/size fields (or after the FourCC when single-track)


@record(frozen=True, slots=True)
class ExLayout:
    """The parts of an E-RTMP audio or video message with a FourCC (not a command frame)."""

    video: bool  # video (ExVideoTagHeader) or audio (ExAudioTagHeader)
    frame_type: int  # VideoFrameType (UB3); 0 for audio
    packet_type: int  # the packet type after ModEx entries and the Multitrack wrapper
    multitrack_type: int | None  # AvMultitrackType when the message is Multitrack, else None
    modex: tuple[tuple[bytes, int], ...]  # ModEx entries: (size field + data, ModExType), in order
    nano_offset: int  # TimestampOffsetNano of the last such entry, 0 when absent
    tracks: tuple[ExTrackData, ...]  # one entry per track (one for a single-track message)

    @property
    def head_nibble(self) -> int:
        """High nibble of byte 0: IsExVideoHeader|FrameType for video, SoundFormat 9 for audio."""
        return (0x8 | self.frame_type) if self.video else _SF_EX_HEADER

    def _header(self, packet_type: int, keep_modex: bool) -> bytes:
        modex_type = _VPT_MOD_EX if self.video else _APT_MOD_EX
        if not keep_modex or not self.modex:
            return _U8.pack((self.head_nibble << 4) | packet_type)
        parts = [_U8.pack((self.head_nibble << 4) | modex_type)]
        last = len(self.modex) - 1
        for i, (entry, kind) in enumerate(self.modex):
            # Every entry ends with UB4 ModExType | UB4 next packet type; the last one names the real type.
            parts.append(entry)
            parts.append(_U8.pack((kind << 4) | (packet_type if i == last else modex_type)))
        return b"".join(parts)

    def single(self, track: ExTrackData, *, keep_modex: bool = True) -> bytes:
        """``track`` as a single-track message (no Multitrack wrapper), ModEx entries kept or not."""
        return b"".join((self._header(self.packet_type, keep_modex), track.fourcc, track.data))

    def rebuild(self, tracks: Sequence[ExTrackData], *, keep_modex: bool = True) -> bytes:
        """The message with only ``tracks`` (same multitrack type), ModEx entries kept or not."""
        if self.multitrack_type is None:
            if len(tracks) != 1:
                raise LocalProtocolError("a single-track message carries one track", rule="ERTMP-8")
            return self.single(tracks[0], keep_modex=keep_modex)
        mt = self.multitrack_type
        if mt == _MT_ONE_TRACK and len(tracks) != 1:
            raise LocalProtocolError("OneTrack carries exactly one track", rule="ERTMP-8")
        multitrack = _VPT_MULTITRACK if self.video else _APT_MULTITRACK
        parts = [self._header(multitrack, keep_modex), _U8.pack((mt << 4) | self.packet_type)]
        if mt != _MT_MANY_TRACKS_MANY_CODECS:
            parts.append(tracks[0].fourcc)
        for t in tracks:
            if mt == _MT_MANY_TRACKS_MANY_CODECS:
                parts.append(t.fourcc)
            parts.append(_U8.pack(t.track_id))
            if mt != _MT_ONE_TRACK:
                parts.append(_UI24.pack(len(t.data) >> 16, len(t.data) & 0xFFFF))
            parts.append(t.data)
        return b"".join(parts)


def ex_layout(payload: BytesLike, *, video: bool) -> ExLayout | None:
    """The layout of an E-RTMP video (``video``) or audio message with a FourCC; None for legacy
    messages, empty messages, command frames, unknown packet or multitrack types, and messages cut short
    (all of which a relay can only forward as they are or drop)."""
    view = memoryview(payload)
    n = len(view)
    if n == 0:
        return None
    b0 = view[0]
    if (video and not b0 & 0x80) or (not video and b0 >> 4 != _SF_EX_HEADER):
        return None
    modex_code = _VPT_MOD_EX if video else _APT_MOD_EX
    multitrack = _VPT_MULTITRACK if video else _APT_MULTITRACK
    known = _KNOWN_VIDEO_PACKET_TYPES if video else _KNOWN_AUDIO_PACKET_TYPES
    frame_type = (b0 >> 4) & 0x07 if video else 0
    try:
        ptype, off, nano = _walk_modex(view, modex_code, "E-RTMP")
    except RemoteProtocolError:
        return None
    entries: list[tuple[bytes, int]] = []
    if b0 & 0x0F == modex_code:
        # Walk the chain again to keep each entry's raw bytes (size field + data) and its ModExType.
        pos = 1
        while True:
            start = pos
            size = view[pos] + 1
            pos += 1
            if size == 256:
                size = int(_U16.unpack_from(view, pos)[0]) + 1
                pos += 2
            pos += size
            entries.append((bytes(view[start:pos]), view[pos] >> 4))
            nxt = view[pos] & 0x0F
            pos += 1
            if nxt != modex_code:
                break
    if ptype not in known:
        return None
    if video and frame_type == _FT_COMMAND and ptype != _VPT_METADATA:
        return None  # a command frame: a VideoCommand byte, no FourCC
    if ptype != multitrack:
        if off + 4 > n:
            return None
        track = ExTrackData(0, bytes(view[off : off + 4]), bytes(view[off + 4 :]))
        return ExLayout(video, frame_type, ptype, None, tuple(entries), nano, (track,))
    if off >= n:
        return None
    mt, ptype = view[off] >> 4, view[off] & 0x0F
    off += 1
    if mt > _MT_MANY_TRACKS_MANY_CODECS or ptype not in known or ptype == multitrack:
        return None
    shared: bytes | None = None
    if mt != _MT_MANY_TRACKS_MANY_CODECS:
        if off + 4 > n:
            return None
        shared = bytes(view[off : off + 4])
        off += 4
    tracks: list[ExTrackData] = []
    try:
        while True:
            fourcc, track_id, data, off = _next_track(view, off, mt, shared, "E-RTMP")
            tracks.append(ExTrackData(track_id, fourcc, bytes(data)))
            if off >= n:
                break
    except RemoteProtocolError:
        return None
    return ExLayout(video, frame_type, ptype, mt, tuple(entries), nano, tuple(tracks))


def strip_modex(payload: BytesLike, *, video: bool) -> bytes:
    """The message without its ModEx entries (for a receiver that cannot parse ModEx, capsEx bit 0x04);
    unchanged when it has none or is not an E-RTMP message this module can lay out."""
    layout = ex_layout(payload, video=video)
    if layout is None or not layout.modex:
        return bytes(payload)
    return layout.rebuild(layout.tracks, keep_modex=False)


_LEGACY_SOUND_MP3_BYTE0: Final = (int(SoundFormat.MP3) << 4) | 0x0F  # MP3, 44 kHz, 16-bit, stereo flags


def ex_to_legacy(layout: ExLayout, track: ExTrackData) -> bytes | None:
    """``track`` of an E-RTMP message in the legacy FLV form a player without E-RTMP can parse, or None
    when no legacy form exists (ERTMP-21): avc1 -> CodecID 7, mp4a -> SoundFormat 10 (AAC), .mp3 ->
    SoundFormat 2. ModEx is dropped (legacy headers cannot carry it)."""
    ptype = layout.packet_type
    if layout.video:
        if track.fourcc != FourCC.AVC1:
            return None
        ft = layout.frame_type if layout.frame_type in (1, 2, 3, 4) else (_FT_KEY if ptype == _VPT_SEQUENCE_START else 2)
        b0 = (ft << 4) | _CODEC_AVC
        if ptype == _VPT_SEQUENCE_START:
            return _BYTE_PAIR.pack(b0, _AVC_SEQUENCE_HEADER) + b"\x00\x00\x00" + track.data
        if ptype == _VPT_CODED_FRAMES:
            # avc1 CodedFrames data starts with the SI24 composition time, exactly as AVCVIDEOPACKET does.
            return _BYTE_PAIR.pack(b0, _AVC_NALU) + track.data
        if ptype == _VPT_CODED_FRAMES_X:
            return _BYTE_PAIR.pack(b0, _AVC_NALU) + b"\x00\x00\x00" + track.data
        if ptype == int(VideoPacketType.SEQUENCE_END):
            return _BYTE_PAIR.pack(b0, int(AvcPacketType.END_OF_SEQUENCE)) + b"\x00\x00\x00"
        return None
    if track.fourcc == FourCC.MP4A:
        # FLV E.4.2.1: for AAC "SoundType should be set to 1 (stereo) and the SoundRate ... to 3".
        b0 = (_SF_AAC << 4) | 0x0F
        if ptype == _APT_SEQUENCE_START:
            return _BYTE_PAIR.pack(b0, _AAC_SEQUENCE_HEADER) + track.data
        if ptype == int(AudioPacketType.CODED_FRAMES):
            return _BYTE_PAIR.pack(b0, int(AacPacketType.RAW)) + track.data
        return None
    if track.fourcc == FourCC.MP3 and ptype == int(AudioPacketType.CODED_FRAMES):
        return _U8.pack(_LEGACY_SOUND_MP3_BYTE0) + track.data
    return None
