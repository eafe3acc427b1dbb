#!/usr/bin/env python3
"""Write the E-FLV test vectors (rtmpconf/vectors/eflv/*.flv) and their manifest.

Real encoder output (PyAV's FFmpeg 8.1: libx264, libx265, libsvtav1, libvpx, libopus, ac3, eac3,
libmp3lame, flac, aac), packaged with the project's own E-RTMP builders (rtmp/media.py) into FLV
files (rtmp/flv.py). Run from the repository root: ``python scripts/make_eflv_vectors.py``. The
manifest records what each file contains (from harness.eflv.summarize), the encoder library
versions and a SHA-256 of the file; tests/unit/test_eflv_vectors.py checks files against it.
"""

from __future__ import annotations

import array
import hashlib
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import av

from rtmpconf.harness import eflv, testmedia
from rtmpconf.rtmp import amf0, flv, media

VPT, APT, MT, FC = media.VideoPacketType, media.AudioPacketType, media.AvMultitrackType, media.FourCC
FPS, SECONDS, GOP = 25, 1.0, 10
RATE = 48000


@dataclass
class VFrame:
    dts: int  # ms
    cts: int  # ms
    key: bool
    data: bytes  # encoder output


def encode_video(encoder: str, width: int, height: int, *, bframes: int = 0, bitrate: int = 150_000,
                 seed: int = 0) -> tuple[list[VFrame], bytes]:
    os.environ.setdefault("SVT_LOG", "1")
    ctx: Any = av.CodecContext.create(encoder, "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base, ctx.framerate = Fraction(1, FPS), Fraction(FPS, 1)
    ctx.gop_size, ctx.max_b_frames, ctx.bit_rate, ctx.thread_count = GOP, bframes, bitrate, 1
    if encoder in ("libx264", "libx265", "libsvtav1"):
        ctx.options = testmedia._video_options(encoder, GOP, bframes)
    else:  # libvpx / libvpx-vp9: one thread, realtime, fixed keyframe interval
        ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "auto-alt-ref": "0",
                       "keyint_min": str(GOP)}
    if encoder != "libvpx" and encoder != "libvpx-vp9":
        from av.codec.context import Flags
        ctx.flags |= Flags.global_header
    ctx.open()
    raw = []
    for i in range(round(SECONDS * FPS)):
        pic = av.VideoFrame(width, height, "yuv420p")
        testmedia._pattern_planes(i + seed, pic.planes)
        pic.pts = i
        raw.extend(ctx.encode(pic))
    raw.extend(ctx.encode(None))
    first = min(p.dts if p.dts is not None else p.pts for p in raw)
    frames = []
    for p in raw:
        dts = p.dts if p.dts is not None else p.pts
        d = testmedia._frame_ms(dts - first, FPS)
        frames.append(VFrame(d, testmedia._frame_ms(p.pts - first, FPS) - d, bool(p.is_keyframe), bytes(p)))
    return frames, bytes(ctx.extradata or b"")


def encode_audio(encoder: str, *, rate: int = RATE, channels: int = 2, fmt: str | None = None,
                 bitrate: int = 96_000) -> tuple[list[tuple[int, bytes]], bytes, int]:
    """(timestamp ms, packet) list, extradata, samples per frame."""
    ctx: Any = av.CodecContext.create(encoder, "w")
    ctx.sample_rate = rate
    ctx.layout = "stereo" if channels == 2 else "mono"
    ctx.format = fmt or ctx.codec.audio_formats[0].name
    ctx.time_base = Fraction(1, rate)
    ctx.bit_rate = bitrate
    ctx.open()
    size = ctx.frame_size or 1152
    step = 2.0 * math.pi * 440.0 / rate
    out: list[tuple[int, bytes]] = []
    fmt_name = ctx.format.name
    for n in range(math.ceil(SECONDS * rate / size)):
        first = n * size
        values = [0.25 * math.sin(step * (first + j)) for j in range(size)]
        frame = av.AudioFrame(format=fmt_name, layout=ctx.layout.name, samples=size)
        frame.sample_rate, frame.time_base, frame.pts = rate, Fraction(1, rate), first
        if fmt_name.startswith("s16"):
            samples = array.array("h", [int(v * 32767) for v in values])
        elif fmt_name.startswith("s32"):
            samples = array.array("i", [int(v * 2147483647) for v in values])
        else:
            samples = array.array("f", values)
        if fmt_name.endswith("p"):
            for plane in frame.planes:
                plane.update(samples.tobytes())
        else:
            inter = array.array(samples.typecode, [x for v in samples for x in [v] * channels])
            frame.planes[0].update(inter.tobytes())
        for p in ctx.encode(frame):
            out.append((p, bytes(p)))
    for p in ctx.encode(None):
        out.append((p, bytes(p)))
    result = []
    for p, data in out:
        if not data:
            continue  # the FLAC encoder ends with an empty packet carrying only new STREAMINFO side data
        pts = p.pts if p.pts is not None else 0
        result.append((max(0, (2 * pts * 1000 + rate) // (2 * rate)), data))
    return result, bytes(ctx.extradata or b""), size


def vpcc(profile: int = 0, level: int = 10) -> bytes:
    """VPCodecConfigurationRecord: version 1, flags 0, profile, level, bitDepth 8 | chroma 4:2:0
    colocated (1) | limited range, BT.709 primaries/transfer/matrix (1, 1, 1), no init data."""
    return bytes([1, 0, 0, 0, profile, level, (8 << 4) | (1 << 1), 1, 1, 1, 0, 0])


def flac_header(streaminfo: bytes) -> bytes:
    """"fLaC" + a last-metadata-block STREAMINFO header + the 34-byte STREAMINFO (ERTMPv2 FlacSequenceHeader)."""
    return b"fLaC" + bytes([0x80]) + len(streaminfo).to_bytes(3, "big") + streaminfo


def metadata(fields: dict[str, Any]) -> bytes:
    """An FLV file's script tag: ["onMetaData", ECMA array] (a publisher adds "@setDataFrame" in RTMP)."""
    return bytes(amf0.encode_all("onMetaData", amf0.EcmaArray(fields)))


def video_payloads(frames: Sequence[VFrame], fourcc: bytes, *, cts: bool, x: bool = False,
                   to_sample: Callable[[bytes], bytes] = bytes) -> list[tuple[int, bytes, bool]]:
    out = []
    for f in frames:
        ft = 1 if f.key else 2
        body = to_sample(f.data)
        if cts and x and f.cts == 0:
            out.append((f.dts, media.build_ex_video(ft, VPT.CODED_FRAMES_X, fourcc, body), f.key))
        else:
            out.append((f.dts, media.build_ex_video(ft, VPT.CODED_FRAMES, fourcc, body, cts=f.cts if cts else None),
                        f.key))
    return out


def interleave(head: Sequence[tuple[int, int, bytes]], *streams: Sequence[tuple[int, int, bytes]]) -> list[flv.FlvTag]:
    """The header tags first, as given (metadata, sequence headers: AV-4), then the media by
    timestamp, video before audio on a tie (a stream opens on a keyframe)."""
    tags = [t for s in streams for t in s]
    tags.sort(key=lambda t: (t[0], t[1] != 9))
    return [flv.FlvTag(type_id, ts, payload) for ts, type_id, payload in (*head, *tags)]


def hevc_config_and_frames(width: int, height: int, bframes: int = 0, seed: int = 0) -> tuple[bytes, list[VFrame]]:
    frames, extra = encode_video("libx265", width, height, bframes=bframes, seed=seed)
    return testmedia._hevc_decoder_config(extra), frames


def avc_config_and_frames(width: int, height: int, bframes: int = 0, seed: int = 0) -> tuple[bytes, list[VFrame]]:
    frames, extra = encode_video("libx264", width, height, bframes=bframes, seed=seed)
    if extra[:1] == b"\x01":
        return extra, frames
    sps, pps = testmedia._avc_parameter_sets(extra)
    return media.AvcDecoderConfig.build(sps, pps, length_size=4), frames


# -- the vectors ------------------------------------------------------------------------------------


def hvc1_opus() -> tuple[str, list[flv.FlvTag]]:
    config, frames = hevc_config_and_frames(160, 96, bframes=2)
    audio, head, _ = encode_audio("libopus", bitrate=48_000)
    head_tags = [
        (0, 18, metadata({"width": 160.0, "height": 96.0, "framerate": float(FPS),
                          "videocodecid": FC.as_number(FC.HVC1), "audiocodecid": FC.as_number(FC.OPUS),
                          "audiosamplerate": float(RATE), "stereo": True})),
        (0, 9, media.build_ex_video(1, VPT.SEQUENCE_START, FC.HVC1, config)),
        (0, 8, media.build_ex_audio(APT.SEQUENCE_START, FC.OPUS, head)),
        # Native order, 2 channels, FrontLeft | FrontRight.
        (0, 8, media.build_ex_audio(APT.MULTICHANNEL_CONFIG, FC.OPUS, media.MultichannelConfig(1, 2, (), 3).build())),
    ]
    v = [(ts, 9, p) for ts, p, _ in video_payloads(frames, FC.HVC1, cts=True, x=True,
                                                   to_sample=testmedia._annexb_to_avcc)]
    a = [(ts, 8, media.build_ex_audio(APT.CODED_FRAMES, FC.OPUS, d)) for ts, d in audio]
    return (("HEVC (libx265, 2 B-frames: CodedFrames with composition times, CodedFramesX for CTS 0) and Opus "
            "(libopus; SequenceStart = RFC 7845 ID header; MultichannelConfig native order FL|FR)"),
            interleave(head_tags, v, a))


def av01_ac3() -> tuple[str, list[flv.FlvTag]]:
    frames, extra = encode_video("libsvtav1", 160, 96)
    config = testmedia._av1_codec_config(extra)
    audio, _, _ = encode_audio("ac3", bitrate=96_000)
    head_tags = [
        (0, 18, metadata({"width": 160.0, "height": 96.0, "videocodecid": FC.as_number(FC.AV01),
                          "audiocodecid": FC.as_number(FC.AC3)})),
        (0, 9, media.build_ex_video(1, VPT.SEQUENCE_START, FC.AV01, config)),
        # AC-3 has no configuration record in E-RTMP: an empty SequenceStart (as FFmpeg 8.1 writes).
        (0, 8, media.build_ex_audio(APT.SEQUENCE_START, FC.AC3, b"")),
        # Custom order, 2 channels: FrontLeft (0), FrontRight (1).
        (0, 8, media.build_ex_audio(APT.MULTICHANNEL_CONFIG, FC.AC3, media.MultichannelConfig(2, 2, (0, 1), None).build())),
    ]
    v = [(ts, 9, p) for ts, p, _ in video_payloads(
        frames, FC.AV01, cts=False, to_sample=testmedia._strip_temporal_delimiters)]
    a = [(ts, 8, media.build_ex_audio(APT.CODED_FRAMES, FC.AC3, d)) for ts, d in audio]
    return ("AV1 (libsvtav1) and AC-3 (empty SequenceStart; MultichannelConfig custom order FL, FR)",
            interleave(head_tags, v, a))


def vp09_ec3() -> tuple[str, list[flv.FlvTag]]:
    frames, _ = encode_video("libvpx-vp9", 160, 96)
    audio, _, _ = encode_audio("eac3", bitrate=96_000)
    head_tags = [
        (0, 18, metadata({"width": 160.0, "height": 96.0, "videocodecid": FC.as_number(FC.VP09),
                          "audiocodecid": FC.as_number(FC.EAC3)})),
        (0, 9, media.build_ex_video(1, VPT.SEQUENCE_START, FC.VP09, vpcc())),
        (0, 8, media.build_ex_audio(APT.SEQUENCE_START, FC.EAC3, b"")),
    ]
    v = [(ts, 9, p) for ts, p, _ in video_payloads(frames, FC.VP09, cts=False)]
    a = [(ts, 8, media.build_ex_audio(APT.CODED_FRAMES, FC.EAC3, d)) for ts, d in audio]
    return "VP9 (libvpx-vp9, VPCodecConfigurationRecord) and E-AC-3", interleave(head_tags, v, a)


def avc1_mp3() -> tuple[str, list[flv.FlvTag]]:
    config, frames = avc_config_and_frames(160, 96, bframes=2)
    audio, _, _ = encode_audio("libmp3lame", bitrate=64_000)
    head_tags = [
        (0, 18, metadata({"width": 160.0, "height": 96.0, "videocodecid": FC.as_number(FC.AVC1),
                          "audiocodecid": FC.as_number(FC.MP3)})),
        (0, 9, media.build_ex_video(1, VPT.SEQUENCE_START, FC.AVC1, config)),
    ]
    v = [(ts, 9, p) for ts, p, _ in video_payloads(frames, FC.AVC1, cts=True, x=True,
                                                   to_sample=testmedia._annexb_to_avcc)]
    a = [(ts, 8, media.build_ex_audio(APT.CODED_FRAMES, FC.MP3, d)) for ts, d in audio]
    v.append((v[-1][0] + 40, 9, media.build_ex_video(1, VPT.SEQUENCE_END, FC.AVC1, b"")))
    return (("H.264 as FourCC avc1 inside the ExVideoTagHeader (libx264, 2 B-frames; ends with SequenceEnd) "
            "and MP3 as FourCC .mp3 (libmp3lame; no SequenceStart, MP3 has none)"), interleave(head_tags, v, a))


def vp08_flac() -> tuple[str, list[flv.FlvTag]]:
    frames, _ = encode_video("libvpx", 160, 96)
    audio, streaminfo, _ = encode_audio("flac", fmt="s16")
    head_tags = [
        (0, 18, metadata({"width": 160.0, "height": 96.0, "videocodecid": FC.as_number(FC.VP08),
                          "audiocodecid": FC.as_number(FC.FLAC)})),
        (0, 9, media.build_ex_video(1, VPT.SEQUENCE_START, FC.VP08, vpcc(0, 10))),
        (0, 8, media.build_ex_audio(APT.SEQUENCE_START, FC.FLAC, flac_header(streaminfo[-34:]))),
    ]
    v = [(ts, 9, p) for ts, p, _ in video_payloads(frames, FC.VP08, cts=False)]
    a = [(ts, 8, media.build_ex_audio(APT.CODED_FRAMES, FC.FLAC, d)) for ts, d in audio]
    return "VP8 (libvpx) and FLAC (SequenceStart = 'fLaC' + STREAMINFO)", interleave(head_tags, v, a)


def hvc1_mp4a_modex() -> tuple[str, list[flv.FlvTag]]:
    config, frames = hevc_config_and_frames(160, 96)
    audio, asc, _ = encode_audio("aac", fmt="fltp", bitrate=64_000)
    head_tags = [
        (0, 18, metadata({"width": 160.0, "height": 96.0, "videocodecid": FC.as_number(FC.HVC1),
                          "audiocodecid": FC.as_number(FC.MP4A)})),
        (0, 9, media.build_ex_video(1, VPT.SEQUENCE_START, FC.HVC1, config)),
        (0, 8, media.build_ex_audio(APT.SEQUENCE_START, FC.MP4A, asc)),
    ]
    v = []
    for n, (ts, p, _) in enumerate(video_payloads(frames, FC.HVC1, cts=True, to_sample=testmedia._annexb_to_avcc)):
        # Deterministic sub-millisecond offsets; every 5th frame uses the UI16 ModEx size form.
        v.append((ts, 9, media.add_modex_nano_offset(p, (n * 37_000) % 1_000_000, data_size=300 if n % 5 == 4 else 3)))
    a = [(ts, 8, media.add_modex_nano_offset(media.build_ex_audio(APT.CODED_FRAMES, FC.MP4A, d), 333_333))
         for ts, d in audio]
    return (("HEVC and AAC as FourCC mp4a, every coded frame wrapped in a ModEx TimestampOffsetNano entry "
            "(video: n*37000 ns mod 1 ms, every 5th with the UI16 size form; audio: 333333 ns)"),
            interleave(head_tags, v, a))


def obs_multitrack() -> tuple[str, list[flv.FlvTag]]:
    """OBS Enhanced Broadcasting style: track 0 legacy-compatible, tracks >= 1 as OneTrack messages."""
    c0, f0 = avc_config_and_frames(160, 96)
    c1, f1 = avc_config_and_frames(128, 72, seed=3)
    c2, f2 = hevc_config_and_frames(96, 56, seed=5)
    a0, asc, _ = encode_audio("aac", fmt="fltp", bitrate=96_000)
    a1, asc1, _ = encode_audio("aac", fmt="fltp", bitrate=48_000)
    info_v = {"1": {"width": 128.0, "height": 72.0, "videocodecid": FC.as_number(FC.AVC1)},
              "2": {"width": 96.0, "height": 56.0, "videocodecid": FC.as_number(FC.HVC1)}}
    info_a = {"1": {"audiodatarate": 48.0, "audiocodecid": FC.as_number(FC.MP4A)}}
    head_tags = [
        (0, 18, metadata({"width": 160.0, "height": 96.0, "videocodecid": 7.0, "audiocodecid": 10.0,
                          "videoTrackIdInfoMap": info_v, "audioTrackIdInfoMap": info_a})),
        (0, 9, media.build_avc_video(1, media.AvcPacketType.SEQUENCE_HEADER, 0, c0)),
        (0, 9, media.build_ex_video_multitrack(1, VPT.SEQUENCE_START, MT.ONE_TRACK, [(1, FC.AVC1, c1)])),
        (0, 9, media.build_ex_video_multitrack(1, VPT.SEQUENCE_START, MT.ONE_TRACK, [(2, FC.HVC1, c2)])),
        (0, 8, media.build_aac_audio(media.AacPacketType.SEQUENCE_HEADER, asc)),
        (0, 8, media.build_ex_audio_multitrack(APT.SEQUENCE_START, MT.ONE_TRACK, [(1, FC.MP4A, asc1)])),
    ]
    v = []
    for f in f0:
        v.append((f.dts, 9, media.build_avc_video(1 if f.key else 2, media.AvcPacketType.NALU, f.cts,
                                                 testmedia._annexb_to_avcc(f.data))))
    for tid, fourcc, frames in ((1, FC.AVC1, f1), (2, FC.HVC1, f2)):
        for f in frames:
            data = f.cts.to_bytes(3, "big", signed=True) + testmedia._annexb_to_avcc(f.data)
            v.append((f.dts, 9, media.build_ex_video_multitrack(1 if f.key else 2, VPT.CODED_FRAMES, MT.ONE_TRACK,
                                                               [(tid, fourcc, data)])))
    a = [(ts, 8, media.build_aac_audio(media.AacPacketType.RAW, d)) for ts, d in a0]
    a += [(ts, 8, media.build_ex_audio_multitrack(APT.CODED_FRAMES, MT.ONE_TRACK, [(1, FC.MP4A, d)])) for ts, d in a1]
    return (("OBS-style multitrack: video track 0 legacy H.264 (CodecID 7, 160x96), track 1 avc1 (128x72) and "
            "track 2 hvc1 (96x56) as OneTrack messages; audio track 0 legacy AAC, track 1 mp4a OneTrack; each "
            "track with its own SequenceStart; onMetaData with videoTrackIdInfoMap/audioTrackIdInfoMap"),
            interleave(head_tags, v, a))


def many_tracks(*, one_sequence_start: bool = False) -> tuple[str, list[flv.FlvTag]]:
    """Several tracks per message: video ManyTracksManyCodecs (avc1 + hvc1), audio ManyTracks (2 x mp4a).
    Each track's SequenceStart in its own OneTrack message, or (``one_sequence_start``) all of them in
    one ManyTracks message."""
    c0, f0 = avc_config_and_frames(160, 96)
    c1, f1 = hevc_config_and_frames(128, 72, seed=2)
    a0, asc0, _ = encode_audio("aac", fmt="fltp", bitrate=96_000)
    a1, asc1, _ = encode_audio("aac", fmt="fltp", bitrate=48_000)
    assert [f.key for f in f0] == [f.key for f in f1] and [f.dts for f in f0] == [f.dts for f in f1]
    head_tags = [
        (0, 18, metadata({"width": 160.0, "height": 96.0, "videocodecid": FC.as_number(FC.AVC1),
                          "audiocodecid": FC.as_number(FC.MP4A),
                          "videoTrackIdInfoMap": {"1": {"width": 128.0, "height": 72.0,
                                                        "videocodecid": FC.as_number(FC.HVC1)}}})),
    ]
    if one_sequence_start:
        head_tags += [
            (0, 9, media.build_ex_video_multitrack(1, VPT.SEQUENCE_START, MT.MANY_TRACKS_MANY_CODECS,
                                                   [(0, FC.AVC1, c0), (1, FC.HVC1, c1)])),
            (0, 8, media.build_ex_audio_multitrack(APT.SEQUENCE_START, MT.MANY_TRACKS,
                                                   [(0, FC.MP4A, asc0), (1, FC.MP4A, asc1)])),
        ]
    else:
        head_tags += [
            (0, 9, media.build_ex_video_multitrack(1, VPT.SEQUENCE_START, MT.ONE_TRACK, [(0, FC.AVC1, c0)])),
            (0, 9, media.build_ex_video_multitrack(1, VPT.SEQUENCE_START, MT.ONE_TRACK, [(1, FC.HVC1, c1)])),
            (0, 8, media.build_ex_audio_multitrack(APT.SEQUENCE_START, MT.ONE_TRACK, [(0, FC.MP4A, asc0)])),
            (0, 8, media.build_ex_audio_multitrack(APT.SEQUENCE_START, MT.ONE_TRACK, [(1, FC.MP4A, asc1)])),
        ]
    v = []
    for x, y in zip(f0, f1):
        tracks = [(0, FC.AVC1, x.cts.to_bytes(3, "big", signed=True) + testmedia._annexb_to_avcc(x.data)),
                  (1, FC.HVC1, y.cts.to_bytes(3, "big", signed=True) + testmedia._annexb_to_avcc(y.data))]
        v.append((x.dts, 9, media.build_ex_video_multitrack(1 if x.key else 2, VPT.CODED_FRAMES,
                                                           MT.MANY_TRACKS_MANY_CODECS, tracks)))
    a = [(t0, 8, media.build_ex_audio_multitrack(APT.CODED_FRAMES, MT.MANY_TRACKS, [(0, FC.MP4A, d0), (1, FC.MP4A, d1)]))
         for (t0, d0), (_, d1) in zip(a0, a1)]
    how = ("one ManyTracks SequenceStart message per media type for both tracks (FFmpeg 8.1's FLV demuxer "
           "reads only the first track of it)" if one_sequence_start else "each track's SequenceStart in its own "
           "OneTrack message")
    return (("Several tracks per message: video ManyTracksManyCodecs (track 0 avc1 160x96 + track 1 hvc1 128x72), "
            f"audio ManyTracks (two mp4a tracks); {how}"), interleave(head_tags, v, a))


VECTORS: dict[str, Callable[[], tuple[str, list[flv.FlvTag]]]] = {
    "hvc1-opus.flv": hvc1_opus,
    "av01-ac-3.flv": av01_ac3,
    "vp09-ec-3.flv": vp09_ec3,
    "avc1-mp3.flv": avc1_mp3,
    "vp08-flac.flv": vp08_flac,
    "hvc1-mp4a-modex.flv": hvc1_mp4a_modex,
    "obs-multitrack.flv": obs_multitrack,
    "many-tracks.flv": many_tracks,
    "many-tracks-one-sequence-start.flv": lambda: many_tracks(one_sequence_start=True),
}


#: What FFmpeg 8.1's FLV demuxer (PyAV) makes of a vector, where it cannot read all of it.
FFMPEG_DEMUXER_LIMITS = {
    "vp08-flac.flv": "flvdec has no vp08 FourCC: the video track gets no decoder (FLAC decodes)",
    "many-tracks-one-sequence-start.flv": "flvdec stops after the first track of a multitrack SequenceStart "
                                          "message (goto leave), then loses sync: the file does not open",
}


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f'"{k}" = {toml_value(x)}' for k, x in v.items()) + " }"
    if v is None:
        return '""'
    raise TypeError(type(v))


def main() -> int:
    out_dir = eflv.VECTORS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# E-FLV test vectors: written by scripts/make_eflv_vectors.py (do not edit by hand).",
             "# `contents` is harness.eflv.summarize() of the file; tests/unit/test_eflv_vectors.py checks it.",
             f"# Encoders: PyAV {av.__version__}, libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}.",
             ""]
    for name, make in VECTORS.items():
        description, tags = make()
        data = flv.build_flv(tags)
        (out_dir / name).write_bytes(data)
        summary = eflv.summarize((t.type_id, t.timestamp, t.payload) for t in tags)
        lines += ["[[vector]]", f"file = {toml_value(name)}", f"description = {toml_value(description)}",
                  f"bytes = {len(data)}", f"sha256 = {toml_value(hashlib.sha256(data).hexdigest())}",
                  f"contents = {toml_value(_plain(summary))}"]
        if name in FFMPEG_DEMUXER_LIMITS:
            lines.append(f"ffmpeg_demuxer_limit = {toml_value(FFMPEG_DEMUXER_LIMITS[name])}")
        lines.append("")
        print(f"{name}: {len(data)} bytes", file=sys.stderr)
    eflv.MANIFEST.write_text("\n".join(lines))
    return 0


def _plain(v: Any) -> Any:
    """TOML has no null: drop None values."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items() if x is not None}
    return v


if __name__ == "__main__":
    raise SystemExit(main())
