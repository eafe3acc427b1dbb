"""rtmpconf.harness.testmedia: generated streams are well-formed, deterministic and decode back with PyAV."""

from __future__ import annotations

import inspect
import itertools
import time
from pathlib import Path

import pytest

from rtmpconf.harness import testmedia
from rtmpconf.rtmp import media

av = pytest.importorskip("av")


def video_tags(stream: testmedia.TestStream) -> list[testmedia.MediaTag]:
    return list(stream.video_tags())


def audio_tags(stream: testmedia.TestStream) -> list[testmedia.MediaTag]:
    return list(stream.audio_tags())


def stream_bytes(stream: testmedia.TestStream) -> bytes:
    return b"".join(
        t.type_id.to_bytes(1, "big") + t.timestamp.to_bytes(8, "big") + t.payload
        for t in stream.publish_sequence()
    )


def decode_video(stream: testmedia.TestStream, decoder: str) -> list[tuple[int, int]]:
    """Feed the sequence header record as extradata and every coded frame body to a PyAV decoder."""
    ctx = av.CodecContext.create(decoder, "r")
    ctx.extradata = bytes(media.parse_video_tag(stream.video_sequence_header).body)
    sizes = []
    for tag in video_tags(stream):
        for frame in ctx.decode(av.Packet(bytes(media.parse_video_tag(tag.payload).body))):
            sizes.append((frame.width, frame.height))
    for frame in ctx.decode(None):
        sizes.append((frame.width, frame.height))
    return sizes


# -- H.264 + AAC ----------------------------------------------------------------------------------


def test_h264_layout_and_flags() -> None:
    stream = testmedia.make_h264_aac()
    assert stream.video_codec == "avc" and (stream.width, stream.height, stream.fps) == (320, 180, 25)
    first = stream.tags[0]
    assert first.type_id == 9 and first.keyframe and first.timestamp == 0  # opens on a keyframe
    assert not any(t.sequence_header for t in stream.tags)
    video = video_tags(stream)
    assert len(video) == 50 and len(audio_tags(stream)) > 0
    for tag in video:
        assert tag.keyframe == media.is_video_keyframe(tag.payload)
        assert not media.is_video_sequence_header(tag.payload)
        assert media.video_codec(tag.payload) == "avc"
    # publish order is by timestamp
    stamps = [t.timestamp for t in stream.tags]
    assert stamps == sorted(stamps)


def test_h264_keyframe_every_gop() -> None:
    stream = testmedia.make_h264_aac(gop=10)
    video = video_tags(stream)
    assert [i for i, t in enumerate(video) if t.keyframe] == [0, 10, 20, 30, 40]
    assert [t.timestamp for t in video if t.keyframe] == [0, 400, 800, 1200, 1600]


def test_h264_sequence_headers_parse() -> None:
    stream = testmedia.make_h264_aac(sample_rate=44100)
    sh = media.parse_video_tag(stream.video_sequence_header)
    assert sh.sequence_header and sh.codec_id == 7
    record = media.AvcDecoderConfig.parse(sh.body)
    assert len(record.sps) >= 1 and len(record.pps) >= 1 and record.length_size == 4
    assert stream.audio_sequence_header is not None
    ash = media.parse_audio_tag(stream.audio_sequence_header)
    assert ash.sequence_header and ash.sound_format == 10
    asc = media.AudioSpecificConfig.parse(ash.body)
    assert asc.sample_rate == 44100 and asc.channels == 2 and asc.object_type == 2


def test_h264_frames_are_length_prefixed_nalus() -> None:
    stream = testmedia.make_h264_aac(seconds=0.4)
    for tag in video_tags(stream):
        nalus = media.split_nalus(media.parse_video_tag(tag.payload).body, 4)
        types = {n[0] & 0x1F for n in nalus}
        assert types & {1, 5}  # a coded slice in every tag (full frames, AV-2)
        assert (5 in types) == tag.keyframe  # IDR slices exactly on keyframes


@pytest.mark.parametrize("rate", [48000, 44100])
def test_audio_timestamps_follow_the_exact_clock(rate: int) -> None:
    # TS-15: round(n * 1024 * 1000 / rate) from a sample counter, never accumulated rounded deltas
    stream = testmedia.make_h264_aac(sample_rate=rate, start_ms=1000)
    stamps = [t.timestamp for t in audio_tags(stream)]
    assert stamps == [1000 + round(n * 1024 * 1000 / rate) for n in range(len(stamps))]
    deltas = {b - a for a, b in itertools.pairwise(stamps)}
    assert deltas == ({21, 22} if rate == 48000 else {23, 24})


def test_bframes_give_composition_times() -> None:
    stream = testmedia.make_h264_aac(bframes=2)
    video = video_tags(stream)
    cts = [media.parse_video_tag(t.payload).composition_time for t in video]
    assert any(c != 0 for c in cts) and min(cts) >= 0
    # PTS = DTS + CTS lands exactly on the 40 ms frame grid, every frame once
    pts = sorted(t.timestamp + c for t, c in zip(video, cts))
    assert pts == [pts[0] + 40 * i for i in range(len(video))]
    assert video[0].keyframe and video[0].timestamp == 0


@pytest.mark.parametrize("bframes", [0, 2])
def test_h264_decode_round_trip(bframes: int) -> None:
    stream = testmedia.make_h264_aac(seconds=1.0, bframes=bframes)
    sizes = decode_video(stream, "h264")
    assert len(sizes) == len(video_tags(stream)) == 25
    assert set(sizes) == {(320, 180)}


def test_aac_decode_round_trip() -> None:
    stream = testmedia.make_h264_aac(seconds=1.0)
    assert stream.audio_sequence_header is not None
    ctx = av.CodecContext.create("aac", "r")
    ctx.extradata = bytes(media.parse_audio_tag(stream.audio_sequence_header).body)
    samples = 0
    for tag in audio_tags(stream):
        for frame in ctx.decode(av.Packet(bytes(media.parse_audio_tag(tag.payload).body))):
            assert frame.sample_rate == 48000
            samples += frame.samples
    assert samples == 1024 * len(audio_tags(stream))


# -- metadata and publish order -------------------------------------------------------------------


def test_metadata_fields() -> None:
    amf0 = pytest.importorskip("rtmpconf.rtmp.amf0")
    stream = testmedia.make_h264_aac()
    command, name, fields = amf0.decode_all(stream.metadata)
    assert (command, name) == ("@setDataFrame", "onMetaData")
    assert fields["width"] == 320 and fields["height"] == 180 and fields["framerate"] == 25
    assert fields["videocodecid"] == 7 and fields["audiocodecid"] == 10 and fields["stereo"] is True
    assert fields["audiosamplerate"] == 48000 and fields["audiosamplesize"] == 16
    assert fields["encoder"] == testmedia.ENCODER_NAME and fields["duration"] == 0


def test_fallback_amf0_encoder_matches_rtmp_amf0() -> None:
    amf0 = pytest.importorskip("rtmpconf.rtmp.amf0")
    fields: dict[str, float | bool | str] = {"width": 320.0, "stereo": True, "encoder": "x"}
    expected = amf0.encode_all("@setDataFrame", "onMetaData", amf0.EcmaArray(fields))
    assert testmedia._amf0_fallback("@setDataFrame", "onMetaData", fields) == expected


def test_publish_sequence_order() -> None:
    stream = testmedia.make_h264_aac(seconds=0.2, start_ms=5000)
    seq = stream.publish_sequence()
    assert [t.type_id for t in seq[:3]] == [18, 9, 8]
    assert seq[1].sequence_header and seq[2].sequence_header
    assert all(t.timestamp == 5000 for t in seq[:3])
    assert seq[3:] == stream.tags


def test_video_only() -> None:
    stream = testmedia.make_h264_aac(seconds=0.4, audio=False)
    assert stream.audio_sequence_header is None and not audio_tags(stream)
    assert b"audiocodecid" not in stream.metadata


def test_start_ms_crosses_the_24_bit_boundary() -> None:
    # TS-6: start just below 0xFFFFFF ms so the stream runs across the extended-timestamp boundary
    start = 0xFFFFFF - 200
    stream = testmedia.make_h264_aac(seconds=0.5, start_ms=start)
    assert stream.tags[0].timestamp == start == stream.start_ms
    assert max(t.timestamp for t in stream.tags) > 0xFFFFFF


# -- determinism, caching, speed ----------------------------------------------------------------------


def test_deterministic_and_cached() -> None:
    args = {"seconds": 1.0, "bframes": 2}
    encode = inspect.unwrap(testmedia.make_h264_aac)  # neither the memory nor the disk cache
    a = encode(**args)
    b = encode(**args)
    assert stream_bytes(a) == stream_bytes(b)
    assert testmedia.make_h264_aac(**args) is testmedia.make_h264_aac(**args)
    assert stream_bytes(testmedia.make_h264_aac(**args)) == stream_bytes(a)


def test_disk_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Encoded streams are kept on disk (every -j worker and every run would encode them again); a
    damaged entry is encoded again, and RTMPCONF_CACHE=off bypasses the cache."""
    monkeypatch.setenv("RTMPCONF_CACHE", str(tmp_path))
    testmedia._cache_root.cache_clear()
    cached = testmedia.make_h264_aac.__wrapped__  # the disk cache, below the in-memory one
    try:
        first = cached(seconds=0.4, gop=5)
        files = list(tmp_path.rglob("make_h264_aac-*.pickle"))
        assert len(files) == 1
        again = cached(seconds=0.4, gop=5)
        assert again is not first and again == first  # read back from the file, equal
        files[0].write_bytes(b"not a pickle")
        assert cached(seconds=0.4, gop=5) == first  # encoded again, and the entry rewritten
        assert files[0].read_bytes() != b"not a pickle"
        monkeypatch.setenv("RTMPCONF_CACHE", "off")
        testmedia._cache_root.cache_clear()
        files[0].unlink()
        assert cached(seconds=0.4, gop=5) == first
        assert not list(tmp_path.rglob("*.pickle"))
    finally:
        testmedia._cache_root.cache_clear()


def test_generation_is_fast() -> None:
    begin = time.monotonic()
    inspect.unwrap(testmedia.make_h264_aac)(seconds=2.0, width=320, height=180)
    assert time.monotonic() - begin < 2.0


# -- E-RTMP HEVC and AV1 ----------------------------------------------------------------------------


def test_hevc_sequence_start_and_frames() -> None:
    stream = testmedia.make_hevc(bframes=2)
    sh = media.parse_video_tag(stream.video_sequence_header)
    assert sh.is_enhanced and sh.fourcc == media.FourCC.HVC1
    assert sh.packet_type == media.VideoPacketType.SEQUENCE_START and sh.sequence_header
    assert bytes(sh.body[:1]) == b"\x01"  # HEVCDecoderConfigurationRecord configurationVersion
    assert bytes(sh.body[22:23]) == b"\x03"  # numOfArrays: VPS, SPS, PPS
    video = [media.parse_video_tag(t.payload) for t in video_tags(stream)]
    assert all(v.packet_type == media.VideoPacketType.CODED_FRAMES and v.fourcc == b"hvc1" for v in video)
    assert video[0].keyframe and any(v.composition_time != 0 for v in video)
    assert stream.video_codec == "hevc"


def test_hevc_coded_frames_x_option() -> None:
    stream = testmedia.make_hevc(seconds=0.4, coded_frames_x=True)
    types = {media.parse_video_tag(t.payload).packet_type for t in video_tags(stream)}
    assert types == {media.VideoPacketType.CODED_FRAMES_X}  # no B-frames: every CTS is 0 (ERTMP-2)


def test_hevc_decode_round_trip() -> None:
    stream = testmedia.make_hevc(seconds=1.0, bframes=2)
    sizes = decode_video(stream, "hevc")
    assert len(sizes) == 25 and set(sizes) == {(320, 180)}


def test_av1_sequence_start_and_frames() -> None:
    stream = testmedia.make_av1(seconds=1.0, gop=10)
    sh = media.parse_video_tag(stream.video_sequence_header)
    assert sh.fourcc == media.FourCC.AV01 and sh.sequence_header
    assert bytes(sh.body[:1]) == b"\x81"  # AV1CodecConfigurationRecord marker + version 1
    video = video_tags(stream)
    assert [i for i, t in enumerate(video) if t.keyframe] == [0, 10, 20]
    tags = [media.parse_video_tag(t.payload) for t in video]
    assert all(t.composition_time == 0 and t.fourcc == b"av01" for t in tags)
    assert not any(bytes(t.body[:2]) == b"\x12\x00" for t in tags)  # temporal delimiters dropped


def test_av1_decode_round_trip() -> None:
    stream = testmedia.make_av1(seconds=1.0, gop=10)
    decoder = "libdav1d" if "libdav1d" in av.codecs_available else "av1"
    sizes = decode_video(stream, decoder)
    assert len(sizes) == 25 and set(sizes) == {(320, 180)}


def test_ex_audio_option() -> None:
    stream = testmedia.make_av1(seconds=0.4, ex_audio=True)
    assert stream.audio_sequence_header is not None
    ash = media.parse_audio_tag(stream.audio_sequence_header)
    assert ash.is_enhanced and ash.fourcc == media.FourCC.MP4A and ash.sequence_header
    assert media.AudioSpecificConfig.parse(ash.body).sample_rate == 48000
    assert all(media.audio_codec(t.payload) == "aac" for t in audio_tags(stream))


def test_ertmp_metadata_uses_fourcc_numbers() -> None:
    amf0 = pytest.importorskip("rtmpconf.rtmp.amf0")
    _, _, fields = amf0.decode_all(testmedia.make_av1(seconds=0.4, ex_audio=True).metadata)
    assert fields["videocodecid"] == 1635135537.0  # 'av01' (ERTMP-12)
    assert fields["audiocodecid"] == media.FourCC.as_number("mp4a")
