"""rtmpconf.rtmp.media: byte vectors per catalogue rule (AV, TS-14, ERTMP), every-prefix truncation, fuzzing.

Truncation policy under test (see the rtmp.media docstring): a header cut short raises
RemoteProtocolError with the header's rule; nothing else ever escapes; a zero-length message gives a tag
with empty=True; the hot-path predicates never raise at all.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtmpconf.rtmp import media
from rtmpconf.rtmp.errors import LocalProtocolError, RemoteProtocolError
from rtmpconf.rtmp.media import (
    AudioPacketType,
    AudioSpecificConfig,
    AvcDecoderConfig,
    AvMultitrackType,
    FourCC,
    VideoPacketType,
    audio_codec,
    build_aac_audio,
    build_avc_video,
    build_ex_audio,
    build_ex_video,
    is_audio_sequence_header,
    is_video_keyframe,
    is_video_sequence_header,
    parse_audio_tag,
    parse_video_tag,
    split_nalus,
    video_codec,
)

# A small but real SPS/PPS pair (x264 constrained baseline 320x180) and an IDR slice header stub.
SPS = bytes.fromhex("6742c00cda05067e7840000003004000000ca3c50aa8")
PPS = bytes.fromhex("68ce0f2c80")
IDR = bytes.fromhex("65888400")
AVCC_FRAME = struct.pack(">I", len(IDR)) + IDR
ASC_48K_STEREO = bytes.fromhex("1190")  # AOT 2 (LC), index 3 (48000), channels 2, GASpecificConfig 000


# -- legacy video (AV-1, AV-2, AV-6, TS-14) -----------------------------------------------------


def test_avc_keyframe_vector() -> None:
    # 17        FrameType 1 (key) | CodecID 7 (AVC)
    # 01        AVCPacketType 1 (NALU)
    # 00 00 00  CompositionTime 0
    data = bytes.fromhex("17 01 000000") + AVCC_FRAME
    tag = parse_video_tag(data)
    assert (tag.frame_type, tag.codec_id, tag.packet_type, tag.composition_time) == (1, 7, 1, 0)
    assert bytes(tag.body) == AVCC_FRAME
    assert tag.known and not tag.empty and not tag.is_enhanced
    assert tag.keyframe and is_video_keyframe(data)
    assert not tag.sequence_header and not is_video_sequence_header(data)
    assert video_codec(data) == tag.codec == "avc"


def test_avc_sequence_header_is_not_a_keyframe() -> None:
    # 17 00 000000  key frame, AVCPacketType 0 (sequence header), CTS 0, then the record (AV-6)
    record = AvcDecoderConfig.build([SPS], [PPS])
    data = bytes.fromhex("17 00 000000") + record
    tag = parse_video_tag(data)
    assert tag.sequence_header and is_video_sequence_header(data)
    assert not tag.keyframe and not is_video_keyframe(data)
    cfg = AvcDecoderConfig.parse(tag.body)
    assert cfg.sps == (SPS,) and cfg.pps == (PPS,) and cfg.length_size == 4


def test_avc_inter_frame() -> None:
    # 27 01 000000  inter frame, NALU, CTS 0
    data = bytes.fromhex("27 01 000000") + AVCC_FRAME
    assert not is_video_keyframe(data) and not is_video_sequence_header(data)
    assert parse_video_tag(data).frame_type == 2


@pytest.mark.parametrize("raw,cts", [
    ("FFFFD8", -40),  # TS-14: SI24 0xFFFFD8 must sign-extend to -40
    ("000050", 80),  # B-frame reorder of +80 ms
    ("800000", -0x800000),  # most negative SI24
    ("7FFFFF", 0x7FFFFF),  # most positive SI24
])
def test_composition_time_is_signed_24_bit(raw: str, cts: int) -> None:
    # 27 01 <SI24>  inter frame, NALU, composition time
    data = bytes.fromhex("27 01" + raw) + AVCC_FRAME
    assert parse_video_tag(data).composition_time == cts
    assert build_avc_video(2, 1, cts, AVCC_FRAME) == data


def test_composition_time_is_zero_unless_nalu() -> None:
    # 17 00 000028  sequence header with a stray CTS of 40: FLV E.4.3.2 says the field is 0 (TS-14)
    assert parse_video_tag(bytes.fromhex("17 00 000028")).composition_time == 0


def test_avc_end_of_sequence_as_lal_sees_it() -> None:
    # 27 02 000000  inter frame, AVCPacketType 2 (end of sequence), CTS 0 (AV-2, lal's observation)
    data = bytes.fromhex("27 02 000000")
    tag = parse_video_tag(data)
    assert tag.packet_type == 2 and tag.known and len(tag.body) == 0
    assert not tag.keyframe and not tag.sequence_header


def test_hevc_as_codec_12_is_avc_like() -> None:
    # 1C 01 000000  key frame | CodecID 12 (the HEVC CDN convention, ERTMP-16), NALU, CTS 0
    data = bytes.fromhex("1C 01 000000") + AVCC_FRAME
    assert is_video_keyframe(data) and video_codec(data) == "hevc"
    # 1C 00 000000  same convention, sequence header
    assert is_video_sequence_header(bytes.fromhex("1C 00 000000"))
    assert build_avc_video(1, 1, 0, AVCC_FRAME, codec_id=12) == data


def test_legacy_command_frame_is_neither_key_nor_header() -> None:
    # 57 00  FrameType 5 (command) | AVC, VideoCommand 0 (StartSeek): byte 1 == 0 must not read as a header
    data = bytes.fromhex("57 00")
    tag = parse_video_tag(data)
    assert tag.command == media.VideoCommand.START_SEEK and tag.packet_type is None
    assert not is_video_sequence_header(data) and not is_video_keyframe(data)
    assert media.build_video_command(0, enhanced=False) == data


def test_legacy_non_avc_codec_keyframe_by_frame_type() -> None:
    # 14 00 ...  key frame | CodecID 4 (On2 VP6): no packet type, the nibble alone decides
    data = bytes.fromhex("14 00 1234")
    tag = parse_video_tag(data)
    assert tag.keyframe and is_video_keyframe(data) and tag.packet_type is None
    assert bytes(tag.body) == bytes.fromhex("00 1234") and video_codec(data) == "vp6"


def test_reserved_legacy_codec_is_unknown_not_an_error() -> None:
    # 1F 01  key frame | CodecID 15 (reserved)
    tag = parse_video_tag(bytes.fromhex("1F 01"))
    assert not tag.known and tag.codec == video_codec(bytes.fromhex("1F 01")) == "codecid-15"


# -- E-RTMP video (ERTMP-1..4, 7..9) ------------------------------------------------------------


def test_ex_sequence_start_hvc1() -> None:
    # 90          IsExHeader | FrameType 1 | PacketType 0 (SequenceStart)
    # 68766331    FourCC 'hvc1'
    data = bytes.fromhex("90 68766331") + b"hvcC-record"
    tag = parse_video_tag(data)
    assert tag.is_enhanced and tag.fourcc == FourCC.HVC1 and tag.packet_type == 0
    assert tag.sequence_header and is_video_sequence_header(data)
    assert not tag.keyframe and not is_video_keyframe(data)
    assert bytes(tag.body) == b"hvcC-record" and video_codec(data) == "hevc"
    assert build_ex_video(1, 0, "hvc1", b"hvcC-record") == data


def test_ex_coded_frames_hvc1_carries_cts() -> None:
    # 91 68766331 FFFFD8  key frame, CodedFrames, 'hvc1', SI24 CTS -40 (ERTMP-2)
    data = bytes.fromhex("91 68766331 FFFFD8") + AVCC_FRAME
    tag = parse_video_tag(data)
    assert tag.composition_time == -40 and bytes(tag.body) == AVCC_FRAME
    assert tag.keyframe and is_video_keyframe(data)
    assert build_ex_video(1, 1, b"hvc1", AVCC_FRAME, cts=-40) == data


def test_ex_coded_frames_x_has_no_cts() -> None:
    # 93 68766331  key frame, CodedFramesX, 'hvc1': CTS implied 0, body right after the FourCC
    data = bytes.fromhex("93 68766331") + AVCC_FRAME
    tag = parse_video_tag(data)
    assert tag.composition_time == 0 and bytes(tag.body) == AVCC_FRAME and tag.keyframe


@pytest.mark.parametrize("fourcc", ["av01", "vp09", "vp08"])
def test_ex_coded_frames_without_cts_for_av1_vp8_vp9(fourcc: str) -> None:
    # 91 <fourcc> <OBUs>  CodedFrames: AV1/VP8/VP9 have no composition time field (ERTMP-2)
    data = bytes.fromhex("91") + fourcc.encode() + b"\x0a\x0b\x00"
    tag = parse_video_tag(data)
    assert tag.known and tag.composition_time == 0 and bytes(tag.body) == b"\x0a\x0b\x00"
    assert build_ex_video(1, 1, fourcc, b"\x0a\x0b\x00") == data


def test_build_ex_video_writes_cts_only_where_required() -> None:
    # cts=None: a zero CTS for avc1 CodedFrames, nothing for CodedFramesX or av01
    assert build_ex_video(2, 1, "avc1", b"x") == bytes.fromhex("A1 61766331 000000") + b"x"
    assert build_ex_video(2, 3, "avc1", b"x") == bytes.fromhex("A3 61766331") + b"x"
    assert build_ex_video(2, 1, "av01", b"x") == bytes.fromhex("A1 61763031") + b"x"


def test_ex_inter_and_other_packet_types() -> None:
    # A1 61766331 000000  inter frame, CodedFrames, 'avc1', CTS 0
    assert not is_video_keyframe(bytes.fromhex("A1 61766331 000000"))
    # 92 68766331  SequenceEnd: neither key nor header
    assert not is_video_sequence_header(bytes.fromhex("92 68766331"))
    assert not is_video_keyframe(bytes.fromhex("92 68766331"))
    # 95 68766331  MPEG2TSSequenceStart: a sequence header too (exclusive with SequenceStart, ERTMP-4)
    assert is_video_sequence_header(bytes.fromhex("95 68766331"))
    # 94 68766331 ...  Metadata with FrameType 1: FrameType is ignored for Metadata (ERTMP-14)
    meta = bytes.fromhex("94 68766331 0200096368")
    assert not is_video_keyframe(meta) and not is_video_sequence_header(meta)
    assert parse_video_tag(meta).packet_type == VideoPacketType.METADATA


def test_ex_command_frame() -> None:
    # D1 01  IsExHeader | FrameType 5 (command) | PacketType 1, VideoCommand 1 (EndSeek), no FourCC
    data = bytes.fromhex("D1 01")
    tag = parse_video_tag(data)
    assert tag.command == media.VideoCommand.END_SEEK and tag.fourcc is None and tag.known
    assert not tag.keyframe and not is_video_keyframe(data) and not is_video_sequence_header(data)
    assert video_codec(data) == ""
    assert media.build_video_command(1) == data
    # D4 ...  FrameType 5 with Metadata is *not* a command: a FourCC follows
    assert parse_video_tag(bytes.fromhex("D4 61766331")).command is None


def test_unknown_fourcc_is_handled_gracefully() -> None:
    # 91 61626364 ...  CodedFrames with FourCC 'abcd' (ERTMP-9): known=False, no exception
    data = bytes.fromhex("91 61626364 000000 0102")
    tag = parse_video_tag(data)
    assert not tag.known and tag.fourcc == b"abcd" and tag.composition_time == 0
    assert bytes(tag.body) == bytes.fromhex("000000 0102")  # layout unknown: body untouched
    assert video_codec(data) == "abcd"
    # the same FourCC on audio
    audio = bytes.fromhex("91 61626364 0102")
    assert not parse_audio_tag(audio).known and audio_codec(audio) == "abcd"


def test_unknown_packet_type_is_handled_gracefully() -> None:
    # 98 68766331  PacketType 8 (reserved): nothing after byte 0 is interpreted
    data = bytes.fromhex("98 68766331")
    tag = parse_video_tag(data)
    assert not tag.known and tag.packet_type == 8 and tag.fourcc is None and bytes(tag.body) == b"hvc1"
    assert not is_video_keyframe(data) and not is_video_sequence_header(data) and video_codec(data) == ""


def test_modex_nano_offset() -> None:
    base = build_ex_video(1, 1, "hvc1", AVCC_FRAME, cts=40)
    data = media.add_modex_nano_offset(base, 500_000)
    # 97        key frame | PacketType 7 (ModEx)
    # 02        modExDataSize - 1 = 2 (3 bytes)
    # 07A120    TimestampOffsetNano 500000
    # 01        ModExType 0 | next PacketType 1 (CodedFrames)
    assert data[:6] == bytes.fromhex("97 02 07A120 01")
    tag = parse_video_tag(data)
    assert tag.nano_offset == 500_000 and tag.packet_type == 1 and tag.composition_time == 40
    assert bytes(tag.body) == AVCC_FRAME
    assert is_video_keyframe(data) and video_codec(data) == "hevc"


def test_modex_16_bit_size_path() -> None:
    # 97 FF 012B ...  UI8 255 -> 256 -> read UI16 0x012B + 1 = 300 bytes of ModEx data (ERTMP-7)
    data = media.add_modex_nano_offset(build_ex_video(1, 0, "av01", b"cfg"), 7, data_size=300)
    assert data[:4] == bytes.fromhex("97 FF 012B")
    tag = parse_video_tag(data)
    assert tag.nano_offset == 7 and tag.sequence_header and is_video_sequence_header(data)
    assert bytes(tag.body) == b"cfg"


def test_modex_nano_data_too_short() -> None:
    # 97 01 AAAA 01 68766331 000000  ModEx data of 2 bytes: TimestampOffsetNano needs 3
    with pytest.raises(RemoteProtocolError) as err:
        parse_video_tag(bytes.fromhex("97 01 AAAA 01 68766331 000000"))
    assert err.value.rule == "ERTMP-7"


def test_multitrack_many_tracks() -> None:
    # 96              key frame | PacketType 6 (Multitrack)
    # 11              AvMultitrackType 1 (ManyTracks) | PacketType 1 (CodedFrames)
    # 61766331        shared FourCC 'avc1'
    # 00 000005 000028 7878    track 0, 5 bytes: CTS 40 + "xx"
    # 01 000005 000000 7979    track 1, 5 bytes: CTS 0 + "yy"
    data = bytes.fromhex("96 11 61766331 00 000005 000028 7878 01 000005 000000 7979")
    tag = parse_video_tag(data)
    assert tag.multitrack_type == AvMultitrackType.MANY_TRACKS and tag.packet_type == 1
    assert [(t.track_id, t.composition_time, bytes(t.body)) for t in tag.tracks] == [
        (0, 40, b"xx"), (1, 0, b"yy"),
    ]
    assert tag.track_id == 0 and tag.composition_time == 40 and tag.keyframe and is_video_keyframe(data)
    assert video_codec(data) == "avc"
    built = media.build_ex_video_multitrack(
        1, 1, 1, [(0, "avc1", bytes.fromhex("000028 7878")), (1, "avc1", bytes.fromhex("000000 7979"))]
    )
    assert built == data


def test_multitrack_one_track_and_many_codecs() -> None:
    # 90|6 = 96, 00 = OneTrack | SequenceStart, 'av01', track 2, record to the end
    one = bytes.fromhex("96 00 61763031 02") + b"rec"
    tag = parse_video_tag(one)
    assert tag.track_id == 2 and bytes(tag.body) == b"rec" and tag.sequence_header
    assert is_video_sequence_header(one)
    # 96 23  ManyTracksManyCodecs | CodedFramesX; each track: FourCC, id, UI24 size, data
    many = bytes.fromhex("96 23 61766331 00 000001 41 68766331 01 000001 42")
    tag = parse_video_tag(many)
    assert [(t.fourcc, t.track_id, bytes(t.body)) for t in tag.tracks] == [
        (b"avc1", 0, b"A"), (b"hvc1", 1, b"B"),
    ]
    assert video_codec(many) == "avc"


def test_multitrack_audio() -> None:
    # 95          SoundFormat 9 (ExHeader) | AudioPacketType 5 (Multitrack)
    # 11          ManyTracks | CodedFrames
    # 4F707573    'Opus'
    # 00 000001 41, 01 000001 42
    data = bytes.fromhex("95 11 4F707573 00 000001 41 01 000001 42")
    tag = parse_audio_tag(data)
    assert [(t.track_id, bytes(t.body)) for t in tag.tracks] == [(0, b"A"), (1, b"B")]
    assert tag.fourcc == FourCC.OPUS and audio_codec(data) == "opus" and tag.known
    assert media.build_ex_audio_multitrack(1, 1, [(0, "Opus", b"A"), (1, "Opus", b"B")]) == data


def test_multitrack_track_overrun_and_nesting_are_errors() -> None:
    # 96 11 61766331 00 000009 00  track claims 9 bytes, 1 present
    with pytest.raises(RemoteProtocolError) as err:
        parse_video_tag(bytes.fromhex("96 11 61766331 00 000009 00"))
    assert err.value.rule == "ERTMP-8"
    # 96 16  Multitrack inside Multitrack: "This fetch MUST not result in a VideoPacketType.Multitrack"
    with pytest.raises(RemoteProtocolError) as err:
        parse_video_tag(bytes.fromhex("96 16 61766331 00 000000"))
    assert err.value.rule == "ERTMP-8"


def test_unknown_multitrack_type_is_graceful() -> None:
    # 96 F1 ...  AvMultitrackType 15 (reserved)
    tag = parse_video_tag(bytes.fromhex("96 F1 61766331"))
    assert not tag.known and tag.multitrack_type == 15


def test_empty_video_never_crashes() -> None:
    tag = parse_video_tag(b"")
    assert tag.empty and not tag.keyframe and not tag.sequence_header
    assert not is_video_keyframe(b"") and not is_video_sequence_header(b"") and video_codec(b"") == ""


# -- audio (AV-3, ERTMP-6, ERTMP-15) -------------------------------------------------------------


def test_aac_sequence_header_vector() -> None:
    # AF    SoundFormat 10 (AAC) | rate 3 | 16-bit | stereo
    # 00    AACPacketType 0 (sequence header)
    data = bytes.fromhex("AF 00") + ASC_48K_STEREO
    tag = parse_audio_tag(data)
    assert tag.sequence_header and is_audio_sequence_header(data) and tag.aac_packet_type == 0
    assert audio_codec(data) == tag.codec == "aac"
    asc = AudioSpecificConfig.parse(tag.body)
    assert (asc.object_type, asc.sample_rate, asc.channels) == (2, 48000, 2)
    assert build_aac_audio(0, ASC_48K_STEREO) == data


def test_aac_48k_mono_signalled_as_44k_stereo() -> None:
    # AF 00 1188  header bits claim 44 kHz stereo; ASC says AOT 2, 48000 Hz, 1 channel (AV-3)
    data = bytes.fromhex("AF 00 1188")
    tag = parse_audio_tag(data)
    assert (tag.sound_rate, tag.sound_type, tag.nominal_rate) == (3, 1, 44100)
    asc = AudioSpecificConfig.parse(tag.body)
    assert asc.sample_rate == 48000 and asc.channels == 1  # the ASC is authoritative
    assert AudioSpecificConfig.build(2, 48000, 1) == bytes.fromhex("1188")


def test_aac_raw_frame() -> None:
    # AF 01 ...  AACPacketType 1 (raw frame, no ADTS)
    data = bytes.fromhex("AF 01 2110")
    tag = parse_audio_tag(data)
    assert tag.packet_type == 1 and bytes(tag.body) == bytes.fromhex("2110")
    assert not is_audio_sequence_header(data)


def test_legacy_non_aac_audio() -> None:
    # 2F ...  SoundFormat 2 (MP3), 44 kHz, 16-bit, stereo: no packet type byte
    tag = parse_audio_tag(bytes.fromhex("2F FFFB"))
    assert tag.packet_type is None and bytes(tag.body) == bytes.fromhex("FFFB") and tag.codec == "mp3"
    # CF ...  SoundFormat 12 (reserved)
    tag = parse_audio_tag(bytes.fromhex("CF 00"))
    assert not tag.known and tag.codec == audio_codec(bytes.fromhex("CF 00")) == "soundformat-12"


def test_zero_length_audio_is_silence_not_an_error() -> None:
    # ERTMP-15: an empty audio message means "silence"
    tag = parse_audio_tag(b"")
    assert tag.empty and tag.known and tag.sound_format is None and len(tag.body) == 0
    assert not is_audio_sequence_header(b"") and audio_codec(b"") == ""


def test_ex_audio_sequence_start_and_frames() -> None:
    # 90 6D703461 1190  SoundFormat 9 | AudioPacketType 0 (SequenceStart), 'mp4a', ASC
    data = bytes.fromhex("90 6D703461") + ASC_48K_STEREO
    tag = parse_audio_tag(data)
    assert tag.is_enhanced and tag.sequence_header and is_audio_sequence_header(data)
    assert tag.fourcc == FourCC.MP4A and audio_codec(data) == "aac"
    assert build_ex_audio(0, "mp4a", ASC_48K_STEREO) == data
    # 91 4F707573 ..  CodedFrames 'Opus'
    frames = build_ex_audio(AudioPacketType.CODED_FRAMES, FourCC.OPUS, b"\xfc")
    assert frames == bytes.fromhex("91 4F707573 FC")
    assert not is_audio_sequence_header(frames) and parse_audio_tag(frames).known
    # 92 4F707573  SequenceEnd
    assert parse_audio_tag(bytes.fromhex("92 4F707573")).packet_type == AudioPacketType.SEQUENCE_END


def test_ex_audio_modex() -> None:
    data = media.add_modex_nano_offset(build_ex_audio(0, "fLaC", b"info"), 999_999)
    # 97 02 0F423F 00 ...  ModEx, 3 bytes, 999999 ns, then SequenceStart
    assert data[:6] == bytes.fromhex("97 02 0F423F 00")
    tag = parse_audio_tag(data)
    assert tag.nano_offset == 999_999 and tag.sequence_header and is_audio_sequence_header(data)
    assert audio_codec(data) == "flac"


@pytest.mark.parametrize("fourcc,number", [("av01", 1635135537.0), ("Opus", 1332770163.0)])
def test_fourcc_as_metadata_number(fourcc: str, number: float) -> None:
    # ERTMP-12 examples
    assert FourCC.as_number(fourcc) == number


# -- configuration records -------------------------------------------------------------------------


def test_avc_decoder_config_roundtrip_and_layout() -> None:
    record = AvcDecoderConfig.build([SPS], [PPS], length_size=2)
    # 01 42 C0 0C  version 1, profile/compat/level from the SPS
    # FD           '111111' + lengthSizeMinusOne 1
    # E1           '111' + 1 SPS
    assert record[:6] == bytes.fromhex("01 42C00C FD E1")
    cfg = AvcDecoderConfig.parse(record)
    assert (cfg.version, cfg.profile, cfg.compat, cfg.level) == (1, 0x42, 0xC0, 0x0C)
    assert cfg.length_size == 2 and cfg.sps == (SPS,) and cfg.pps == (PPS,) and cfg.trailer == b""


def test_avc_decoder_config_high_profile_extension() -> None:
    high_sps = bytes.fromhex("67 64001F") + SPS[4:]  # NAL header, profile_idc 100 (High), level 3.1
    record = AvcDecoderConfig.build([high_sps], [PPS])
    assert record.endswith(bytes.fromhex("FDF8F800"))
    assert AvcDecoderConfig.parse(record).trailer == bytes.fromhex("FDF8F800")


def test_avc_decoder_config_rejections() -> None:
    good = AvcDecoderConfig.build([SPS], [PPS])
    with pytest.raises(RemoteProtocolError, match="version"):
        AvcDecoderConfig.parse(b"\x02" + good[1:])
    with pytest.raises(RemoteProtocolError, match="lengthSizeMinusOne"):
        AvcDecoderConfig.parse(good[:4] + b"\xfe" + good[5:])
    for cut in range(len(good)):
        with pytest.raises(RemoteProtocolError) as err:
            AvcDecoderConfig.parse(good[:cut])
        assert err.value.rule == "AV-2"
    with pytest.raises(LocalProtocolError):
        AvcDecoderConfig.build([], [PPS])


def test_audio_specific_config_escapes() -> None:
    # explicit frequency: index 0xF + 24-bit 50000
    asc = AudioSpecificConfig.parse(AudioSpecificConfig.build(2, 50000, 2))
    assert asc.frequency_index == 0xF and asc.sample_rate == 50000
    # object type escape: 31 then 6 bits (42 = 32 + 10)
    asc = AudioSpecificConfig.parse(AudioSpecificConfig.build(42, 44100, 1))
    assert asc.object_type == 42 and asc.sample_rate == 44100 and asc.channels == 1


def test_audio_specific_config_explicit_sbr_and_ps() -> None:
    # 00101 0110 0010 0011 00010 ...: AOT 5 (SBR), 24000 Hz core, 2 channels, ext 48000 Hz, core AOT 2
    asc = AudioSpecificConfig.parse(bytes.fromhex("2B 11 88 00"))
    assert (asc.object_type, asc.core_object_type) == (5, 2)
    assert asc.sampling_frequency == 24000 and asc.sample_rate == 48000 and asc.channels == 2
    # 11101 0110 0001 0011 00010: AOT 29 (PS), mono core decodes to stereo
    asc = AudioSpecificConfig.parse(bytes.fromhex("EB 09 88 00"))
    assert asc.object_type == 29 and asc.channel_config == 1 and asc.channels == 2


@pytest.mark.parametrize("data", [b"", b"\x11", b"\x16\x88", b"\x00\x10"])
def test_audio_specific_config_malformed(data: bytes) -> None:
    # empty, cut short, reserved frequency index 13 (0x16 0x88 = AOT 2, index 13), AOT 0
    with pytest.raises(RemoteProtocolError) as err:
        AudioSpecificConfig.parse(data)
    assert err.value.rule == "AV-3"


# -- split_nalus (AV-2) ---------------------------------------------------------------------------


def test_split_nalus_two_byte_lengths() -> None:
    # lengthSizeMinusOne = 1: 0002 AABB, 0001 CC
    units = split_nalus(bytes.fromhex("0002 AABB 0001 CC"), 2)
    assert [bytes(u) for u in units] == [b"\xaa\xbb", b"\xcc"]
    assert isinstance(units[0], memoryview)


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_split_nalus_every_length_size(size: int) -> None:
    nalus = [b"\x67abc", b"\x68", b"\x65" * 40]
    body = b"".join(len(n).to_bytes(size, "big") + n for n in nalus)
    assert [bytes(u) for u in split_nalus(body, size)] == nalus
    assert split_nalus(b"", size) == []


def test_split_nalus_overrun_is_av2() -> None:
    # 0005 AABB: claims 5 bytes, 2 left
    with pytest.raises(RemoteProtocolError) as err:
        split_nalus(bytes.fromhex("0005 AABB"), 2)
    assert err.value.rule == "AV-2"
    # 0001 CC 00: a length field cut in half
    with pytest.raises(RemoteProtocolError) as err:
        split_nalus(bytes.fromhex("0001 CC 00"), 2)
    assert err.value.rule == "AV-2"


# -- every-prefix truncation and fuzzing -----------------------------------------------------------

VIDEO_VECTORS = [
    bytes.fromhex("17 01 000000") + AVCC_FRAME,
    bytes.fromhex("17 00 000000") + AvcDecoderConfig.build([SPS], [PPS]),
    bytes.fromhex("57 00"),
    build_ex_video(1, 1, "hvc1", AVCC_FRAME, cts=-40),
    build_ex_video(1, 0, "av01", b"cfg"),
    media.build_video_command(0),
    media.add_modex_nano_offset(build_ex_video(1, 1, "hvc1", AVCC_FRAME, cts=40), 123),
    media.add_modex_nano_offset(build_ex_video(1, 3, "hvc1", AVCC_FRAME), 5, data_size=300),
    bytes.fromhex("96 11 61766331 00 000005 000028 7878 01 000005 000000 7979"),
    bytes.fromhex("96 23 61766331 00 000001 41 68766331 01 000001 42"),
    bytes.fromhex("96 00 61763031 02") + b"rec",
]
AUDIO_VECTORS = [
    bytes.fromhex("AF 00") + ASC_48K_STEREO,
    bytes.fromhex("AF 01 2110"),
    build_ex_audio(0, "mp4a", ASC_48K_STEREO),
    media.add_modex_nano_offset(build_ex_audio(1, "Opus", b"\xfc"), 1),
    bytes.fromhex("95 11 4F707573 00 000001 41 01 000001 42"),
]


def check_video_consistency(data: bytes) -> None:
    """Parse raises only RemoteProtocolError; when it succeeds the hot helpers agree with the tag."""
    keyframe, header, codec = is_video_keyframe(data), is_video_sequence_header(data), video_codec(data)
    try:
        tag = parse_video_tag(data)
    except RemoteProtocolError:
        return
    assert (tag.keyframe, tag.sequence_header, tag.codec) == (keyframe, header, codec)
    assert tag.empty == (len(data) == 0)


def check_audio_consistency(data: bytes) -> None:
    header, codec = is_audio_sequence_header(data), audio_codec(data)
    try:
        tag = parse_audio_tag(data)
    except RemoteProtocolError:
        return
    assert (tag.sequence_header, tag.codec) == (header, codec)


@pytest.mark.parametrize("vector", VIDEO_VECTORS, ids=lambda v: v[:6].hex())
def test_video_every_prefix(vector: bytes) -> None:
    for cut in range(len(vector) + 1):
        check_video_consistency(vector[:cut])
    full = parse_video_tag(vector)  # the whole vector parses
    assert full.known


@pytest.mark.parametrize("vector", AUDIO_VECTORS, ids=lambda v: v[:6].hex())
def test_audio_every_prefix(vector: bytes) -> None:
    for cut in range(len(vector) + 1):
        check_audio_consistency(vector[:cut])
    assert parse_audio_tag(vector).known


def test_header_truncation_raises_with_the_header_rule() -> None:
    cases = [
        (bytes.fromhex("17 01 00"), "AV-2"),  # AVC CTS cut short
        (bytes.fromhex("50"), "AV-1"),  # legacy command without its VideoCommand
        (bytes.fromhex("91 6876"), "ERTMP-1"),  # FourCC cut short
        (bytes.fromhex("91 68766331 FF"), "ERTMP-2"),  # hvc1 CodedFrames CTS cut short
        (bytes.fromhex("D0"), "ERTMP-3"),  # E-RTMP command without its VideoCommand
        (bytes.fromhex("97 05 00"), "ERTMP-7"),  # ModEx data cut short
        (bytes.fromhex("96 11 6176"), "ERTMP-8"),  # multitrack FourCC cut short
    ]
    for data, rule in cases:
        with pytest.raises(RemoteProtocolError) as err:
            parse_video_tag(data)
        assert err.value.rule == rule, data.hex()
    for data, rule in [(bytes.fromhex("AF"), "AV-3"), (bytes.fromhex("90 6D70"), "ERTMP-6")]:
        with pytest.raises(RemoteProtocolError) as err:
            parse_audio_tag(data)
        assert err.value.rule == rule, data.hex()


FIRST_BYTES = st.sampled_from([0x17, 0x27, 0x1C, 0x57, 0x14, 0x90, 0x91, 0x93, 0x96, 0x97, 0xD1, 0x9F])


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=40), st.tuples(FIRST_BYTES, st.binary(max_size=40))))
def test_video_fuzz(sample: bytes | tuple[int, bytes]) -> None:
    data = sample if isinstance(sample, bytes) else bytes([sample[0]]) + sample[1]
    check_video_consistency(data)


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.binary(max_size=40),
    st.tuples(st.sampled_from([0xAF, 0x2F, 0x90, 0x91, 0x95, 0x97]), st.binary(max_size=40)),
))
def test_audio_fuzz(sample: bytes | tuple[int, bytes]) -> None:
    data = sample if isinstance(sample, bytes) else bytes([sample[0]]) + sample[1]
    check_audio_consistency(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=24), st.sampled_from([1, 2, 3, 4]))
def test_split_nalus_fuzz(data: bytes, size: int) -> None:
    try:
        units = split_nalus(data, size)
    except RemoteProtocolError:
        return
    assert sum(len(u) + size for u in units) == len(data)


# -- builders ------------------------------------------------------------------------------------


def test_builders_refuse_what_cannot_be_encoded() -> None:
    with pytest.raises(LocalProtocolError):
        build_avc_video(1, 1, 0x800000, b"")  # CTS outside SI24
    with pytest.raises(LocalProtocolError):
        build_ex_video(8, 1, "hvc1", b"")  # FrameType is UB3 with the ExHeader
    with pytest.raises(LocalProtocolError):
        build_ex_video(1, 1, "hvc", b"")  # FourCC must be 4 bytes
    with pytest.raises(LocalProtocolError):
        media.build_ex_video_multitrack(1, 1, 1, [(0, "avc1", b""), (1, "hvc1", b"")])  # codecs differ
    with pytest.raises(LocalProtocolError):
        media.add_modex_nano_offset(bytes.fromhex("17 01 000000"), 1)  # ModEx needs the ExHeader


def test_builders_allow_illegal_but_encodable_values() -> None:
    # FrameType 0 is reserved (ERTMP-3) but cases need to send it
    data = build_ex_video(0, 1, "hvc1", b"")
    assert data[0] == 0x81 and not parse_video_tag(data).known
