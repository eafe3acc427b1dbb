"""E-RTMP message layout and rewriting (rtmp/media.py: ex_layout, strip_modex, ex_to_legacy,
MultichannelConfig): what the reference server uses to serve players that cannot take a message as sent."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtmpconf.rtmp import media
from rtmpconf.rtmp.errors import LocalProtocolError, RemoteProtocolError

VPT = media.VideoPacketType
APT = media.AudioPacketType
MT = media.AvMultitrackType
HVC1, AVC1, MP4A, OPUS, MP3 = (media.FourCC.HVC1, media.FourCC.AVC1, media.FourCC.MP4A, media.FourCC.OPUS,
                               media.FourCC.MP3)


def test_single_track_layout_and_rebuild_identity() -> None:
    # 0x91: ExHeader, key frame, CodedFrames; 'hvc1'; SI24 CTS 40; data.
    msg = media.build_ex_video(1, VPT.CODED_FRAMES, HVC1, b"nal", cts=40)
    lay = media.ex_layout(msg, video=True)
    assert lay is not None and lay.video and lay.frame_type == 1 and lay.packet_type == VPT.CODED_FRAMES
    assert lay.multitrack_type is None and lay.tracks == (media.ExTrackData(0, HVC1, b"\x00\x00\x28nal"),)
    assert lay.rebuild(lay.tracks) == msg


@pytest.mark.parametrize("mt", [MT.ONE_TRACK, MT.MANY_TRACKS, MT.MANY_TRACKS_MANY_CODECS])
def test_multitrack_split_is_byte_exact(mt: int) -> None:
    if mt == MT.ONE_TRACK:
        tracks = [(2, HVC1, b"\x00\x00\x00two")]
    elif mt == MT.MANY_TRACKS:
        tracks = [(0, HVC1, b"\x00\x00\x00zero"), (1, HVC1, b"\x00\x00\x10one")]
    else:
        tracks = [(0, AVC1, b"\x00\x00\x00zero"), (1, HVC1, b"\x00\x00\x10one")]
    msg = media.build_ex_video_multitrack(2, VPT.CODED_FRAMES, mt, tracks)
    lay = media.ex_layout(msg, video=True)
    assert lay is not None and lay.multitrack_type == mt
    assert [(t.track_id, t.fourcc, t.data) for t in lay.tracks] == tracks
    assert lay.rebuild(lay.tracks) == msg
    # One track alone equals what a publisher would send as a single-track message.
    first = lay.tracks[0]
    assert lay.single(first) == media.build_ex_video(2, VPT.CODED_FRAMES, first.fourcc, first.data[3:],
                                                     cts=int.from_bytes(first.data[:3], "big", signed=True))


def test_multitrack_subset_rebuild() -> None:
    msg = media.build_ex_audio_multitrack(APT.CODED_FRAMES, MT.MANY_TRACKS_MANY_CODECS,
                                          [(0, MP4A, b"aac"), (1, OPUS, b"opus")])
    lay = media.ex_layout(msg, video=False)
    assert lay is not None
    kept = lay.rebuild([lay.tracks[1]])
    again = media.parse_audio_tag(kept)
    assert [(t.track_id, t.fourcc, bytes(t.body)) for t in again.tracks] == [(1, OPUS, b"opus")]


def test_modex_kept_or_stripped() -> None:
    plain = media.build_ex_video(1, VPT.CODED_FRAMES, HVC1, b"nal")
    wrapped = media.add_modex_nano_offset(plain, 500_000)
    lay = media.ex_layout(wrapped, video=True)
    assert lay is not None and lay.nano_offset == 500_000 and len(lay.modex) == 1
    assert lay.rebuild(lay.tracks) == wrapped
    assert media.strip_modex(wrapped, video=True) == plain
    assert media.strip_modex(plain, video=True) == plain
    # The 16-bit size form survives a round trip too.
    big = media.add_modex_nano_offset(plain, 1, data_size=300)
    lay = media.ex_layout(big, video=True)
    assert lay is not None and lay.rebuild(lay.tracks) == big and media.strip_modex(big, video=True) == plain


def test_modex_around_multitrack_kept_per_track() -> None:
    mt = media.build_ex_video_multitrack(1, VPT.CODED_FRAMES, MT.MANY_TRACKS,
                                         [(0, HVC1, b"\x00\x00\x00a"), (1, HVC1, b"\x00\x00\x00b")])
    wrapped = media.add_modex_nano_offset(mt, 123)
    lay = media.ex_layout(wrapped, video=True)
    assert lay is not None and lay.multitrack_type == MT.MANY_TRACKS and lay.nano_offset == 123
    one = media.parse_video_tag(lay.single(lay.tracks[1]))
    assert one.nano_offset == 123 and one.multitrack_type is None and bytes(one.body) == b"b"


def test_layout_none_for_what_cannot_be_rewritten() -> None:
    assert media.ex_layout(b"", video=True) is None
    assert media.ex_layout(media.build_avc_video(1, 1, 0, b"x"), video=True) is None  # legacy
    assert media.ex_layout(media.build_aac_audio(1, b"x"), video=False) is None
    assert media.ex_layout(media.build_video_command(0), video=True) is None  # command frame, no FourCC
    assert media.ex_layout(bytes([0x9A]) + b"hvc1xx", video=True) is None  # reserved packet type 0xA
    assert media.ex_layout(bytes([0x96, 0x31]) + b"hvc1", video=True) is None  # multitrack type 3 (reserved)
    assert media.ex_layout(bytes([0x93]) + b"hvc1", video=False) is None  # audio packet type 3 (reserved)
    # A Metadata packet keeps its FourCC even with FrameType 5 (ERTMPv2: frameType ignored for Metadata).
    meta = media.ex_layout(bytes([0xD4]) + b"hvc1" + b"\x02\x00\x09colorInfo", video=True)
    assert meta is not None and meta.packet_type == VPT.METADATA


@given(st.binary(max_size=40))
@settings(max_examples=300)
def test_layout_never_raises(data: bytes) -> None:
    for prefix, video in ((b"\x90", True), (b"\x96", True), (b"\x97", True), (b"\x95", False),
                          (b"\x97\x02", False)):
        lay = media.ex_layout(prefix + data, video=video)
        if lay is not None:
            # Whatever could be laid out rebuilds to the same bytes.
            assert lay.rebuild(lay.tracks) == prefix + data


def test_every_cut_of_a_multitrack_message_is_none_or_consistent() -> None:
    msg = media.add_modex_nano_offset(media.build_ex_video_multitrack(
        1, VPT.CODED_FRAMES, MT.MANY_TRACKS, [(0, HVC1, b"\x00\x00\x00aa"), (1, HVC1, b"\x00\x00\x00bb")]), 7)
    for cut in range(len(msg)):
        lay = media.ex_layout(msg[:cut], video=True)
        assert lay is None or lay.rebuild(lay.tracks) == msg[:cut]


@pytest.mark.parametrize(("ptype", "data", "legacy"), [
    # SequenceStart -> AVCPacketType 0 with CompositionTime 0.
    (VPT.SEQUENCE_START, b"\x01avcC", b"\x17\x00\x00\x00\x00\x01avcC"),
    # CodedFrames: the SI24 CTS is already in the track data.
    (VPT.CODED_FRAMES, b"\x00\x00\x28nal", b"\x17\x01\x00\x00\x28nal"),
    # CodedFramesX: CTS 0 written explicitly.
    (VPT.CODED_FRAMES_X, b"nal", b"\x17\x01\x00\x00\x00nal"),
    (VPT.SEQUENCE_END, b"", b"\x17\x02\x00\x00\x00"),
])
def test_avc1_to_legacy(ptype: int, data: bytes, legacy: bytes) -> None:
    msg = bytes([0x80 | 0x10 | ptype]) + AVC1 + data
    lay = media.ex_layout(msg, video=True)
    assert lay is not None
    assert media.ex_to_legacy(lay, lay.tracks[0]) == legacy
    tag = media.parse_video_tag(legacy)
    assert tag.codec_id == 7 and not tag.is_enhanced


def test_audio_to_legacy() -> None:
    sh = media.ex_layout(media.build_ex_audio(APT.SEQUENCE_START, MP4A, b"\x11\x90"), video=False)
    fr = media.ex_layout(media.build_ex_audio(APT.CODED_FRAMES, MP4A, b"raw"), video=False)
    mp3 = media.ex_layout(media.build_ex_audio(APT.CODED_FRAMES, MP3, b"\xff\xfbframe"), video=False)
    opus = media.ex_layout(media.build_ex_audio(APT.CODED_FRAMES, OPUS, b"\xfc"), video=False)
    assert sh and fr and mp3 and opus
    assert media.ex_to_legacy(sh, sh.tracks[0]) == b"\xaf\x00\x11\x90"
    assert media.ex_to_legacy(fr, fr.tracks[0]) == b"\xaf\x01raw"
    assert media.ex_to_legacy(mp3, mp3.tracks[0]) == b"\x2f\xff\xfbframe"
    assert media.ex_to_legacy(opus, opus.tracks[0]) is None  # Opus has no legacy SoundFormat
    hevc = media.ex_layout(media.build_ex_video(1, VPT.CODED_FRAMES, HVC1, b"x"), video=True)
    assert hevc is not None and media.ex_to_legacy(hevc, hevc.tracks[0]) is None


def test_multichannel_config_native_and_custom() -> None:
    # Native order, 2 channels, FrontLeft|FrontRight (what FFmpeg 8.1's FLV muxer writes for stereo).
    native = media.MultichannelConfig.parse(b"\x01\x02\x00\x00\x00\x03")
    assert native == media.MultichannelConfig(1, 2, (), 3) and native.build() == b"\x01\x02\x00\x00\x00\x03"
    # Custom order: 3 channels mapped FrontRight, FrontLeft, LowFrequency1.
    custom = media.MultichannelConfig.parse(b"\x02\x03\x01\x00\x03")
    assert custom.mapping == (1, 0, 3) and custom.flags is None and custom.build() == b"\x02\x03\x01\x00\x03"
    assert media.MultichannelConfig.parse(b"\x00\x06") == media.MultichannelConfig(0, 6, (), None)
    for cut in (b"", b"\x01", b"\x01\x02\x00", b"\x02\x03\x01"):
        with pytest.raises(RemoteProtocolError):
            media.MultichannelConfig.parse(cut)
    with pytest.raises(LocalProtocolError):
        media.MultichannelConfig(2, 3, (1,), None).build()
