"""Deterministic real test media, encoded in-process with PyAV (no ffmpeg binary needed).

``make_h264_aac`` / ``make_hevc`` / ``make_av1`` return a ``TestStream``: the onMetaData payload, the
video and audio sequence headers and the coded frames, each already shaped as the payload of the RTMP
message a publisher would send (FLV tag bodies, built with ``rtmp.media``).

What the content is, so a checker knows what to expect:

* Video: a diagonal luma ramp scrolling 4 px per frame, a bright 32x32 square sliding right 8 px per frame,
  and chroma bands; frame *i* depends on *i* only. Encoded with one thread so the bytes never change for
  the same arguments (within one PyAV/codec-library build).
* Audio: a 440 Hz sine, stereo AAC LC at 128 kb/s, 1024-sample frames. Audio frame *n* has timestamp
  ``start_ms + round(n * 1024 * 1000 / sample_rate)`` exactly (TS-15), counting every packet the encoder
  emits (the first one carries the encoder's priming). Rounding is half-up in integer arithmetic, which
  equals Python's ``round`` for every AAC sampling rate (none of them produces an exact half).
* Video timestamps are DTS in ms (``start_ms`` for the first frame, ``frame * 1000 / fps`` rounded half-up
  after, so 30 fps gives deltas of 33 and 34 ms), CompositionTime = PTS - DTS in ms. With B-frames the
  encoder's negative start DTS is shifted so the first video DTS is ``start_ms``; video presentation then
  starts the encoder's reorder delay (a frame or two) after the audio. Harmless for conformance tests, but do not use these
  streams to measure A/V sync.
* Timestamps are plain ints and are not wrapped at 2**32; the caller masks if it goes that far.

Codec layouts:

* H.264: legacy FLV (CodecID 7): AVCDecoderConfigurationRecord sequence header, AVCC NAL units with
  4-byte lengths (the encoder's Annex-B output is converted here).
* HEVC: E-RTMP ``hvc1``: SequenceStart with an HEVCDecoderConfigurationRecord built from the encoder's
  VPS/SPS/PPS; CodedFrames with the SI24 CompositionTime (or CodedFramesX for CTS 0 frames when
  ``coded_frames_x=True``, ERTMP-2).
* AV1: E-RTMP ``av01``: SequenceStart with an AV1CodecConfigurationRecord holding the sequence header OBU;
  CodedFrames without a CompositionTime; temporal delimiter OBUs are dropped as ISOBMFF does.
* Audio is legacy AAC (SoundFormat 10) unless ``ex_audio=True``, which sends E-RTMP ``mp4a``.

Results are cached per argument set (``functools.lru_cache``); the objects are immutable, share freely.
They are also kept on disk (``paths.cache_dir()/testmedia``, keyed by the arguments, the PyAV/FFmpeg
build and this module's source): encoding costs about 0.3 s of CPU per stream, and every process of a
run (each ``-j`` worker, each run of a CI job) would pay it again. ``RTMPCONF_CACHE=off`` turns the
disk cache off.
"""

from __future__ import annotations

import array
import functools
import hashlib
import importlib
import logging
import math
import os
import pickle
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

from rtmpconf.rtmp import media

__all__ = ["MediaTag", "TestStream", "make_av1", "make_h264_aac", "make_hevc"]

AUDIO_TYPE_ID = 8
VIDEO_TYPE_ID = 9
DATA_TYPE_ID = 18

ENCODER_NAME = "rtmp-conformance testmedia"
AUDIO_FRAME_SAMPLES = 1024  # AAC LC frame length (frameLengthFlag 0)
AUDIO_BITRATE = 128_000
TONE_HZ = 440.0
TONE_AMPLITUDE = 0.25


@dataclass(frozen=True, slots=True)
class MediaTag:
    """One RTMP audio/video/data message, as a publisher sends it."""

    __test__: ClassVar[bool] = False

    type_id: int  # RTMP message type: 8 audio, 9 video, 18 data (AMF0)
    timestamp: int  # ms; the decode timestamp for video
    payload: bytes  # FLV tag body, i.e. the RTMP message payload
    keyframe: bool  # video key coded frame (can start a GOP)
    sequence_header: bool  # decoder configuration (AVC/HEVC/AV1 or AAC sequence header)


@dataclass(frozen=True, slots=True)
class TestStream:
    """A complete short publish: metadata, sequence headers and interleaved coded frames."""

    __test__: ClassVar[bool] = False

    metadata: bytes  # AMF0 payload of ["@setDataFrame", "onMetaData", ECMA array]
    video_sequence_header: bytes  # video message payload of the sequence header / SequenceStart
    audio_sequence_header: bytes | None  # audio message payload of the AAC sequence header, or None
    tags: tuple[MediaTag, ...]  # coded frames only, publish order (by timestamp, video first on ties)
    width: int  # picture width in pixels
    height: int  # picture height in pixels
    fps: int  # frames per second
    sample_rate: int  # audio sample rate in Hz (as requested, also when audio is off)
    gop: int  # frames per GOP: a keyframe every ``gop`` frames in presentation order
    video_codec: str  # 'avc', 'hevc' or 'av1' (rtmp.media.video_codec names)

    @property
    def start_ms(self) -> int:
        """Timestamp of the first coded frame (the sequence headers and metadata carry it too)."""
        return self.tags[0].timestamp if self.tags else 0

    def publish_sequence(self) -> tuple[MediaTag, ...]:
        """Everything in publisher order (AV-4): onMetaData, video SH, audio SH, then the coded frames."""
        ts = self.start_ms
        head = [
            MediaTag(DATA_TYPE_ID, ts, self.metadata, False, False),
            MediaTag(VIDEO_TYPE_ID, ts, self.video_sequence_header, False, True),
        ]
        if self.audio_sequence_header is not None:
            head.append(MediaTag(AUDIO_TYPE_ID, ts, self.audio_sequence_header, False, True))
        return (*head, *self.tags)

    def video_tags(self) -> Iterator[MediaTag]:
        """The coded video frames, in decode order."""
        return (t for t in self.tags if t.type_id == VIDEO_TYPE_ID)

    def audio_tags(self) -> Iterator[MediaTag]:
        """The coded audio frames, in order."""
        return (t for t in self.tags if t.type_id == AUDIO_TYPE_ID)


# --------------------------------------------------------------------------------------------------
# Disk cache
# --------------------------------------------------------------------------------------------------

_log = logging.getLogger("rtmp.testmedia")
_T = TypeVar("_T")


@functools.lru_cache(maxsize=1)
def _cache_root() -> Path | None:
    """The disk cache directory for this module's source and this PyAV build, None when off."""
    if os.environ.get("RTMPCONF_CACHE", "").lower() in ("off", "0", "no"):
        return None
    from rtmpconf import paths
    from rtmpconf.rtmp import media as media_module

    digest = hashlib.sha256()
    for module_file in (__file__, media_module.__file__):
        digest.update(Path(module_file).read_bytes())
    try:
        import av

        digest.update(f"{av.__version__} {av.library_versions}".encode())
    except ImportError:
        return None
    return paths.cache_dir() / "testmedia" / digest.hexdigest()[:16]


def _disk_cached(fn: Callable[..., _T]) -> Callable[..., _T]:
    """Keep ``fn``'s results on disk, keyed by its keyword arguments (see the module doc)."""

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> _T:
        root = _cache_root()
        if root is None:
            return fn(**kwargs)
        key = hashlib.sha256(repr((fn.__name__, sorted(kwargs.items()))).encode()).hexdigest()[:24]
        path = root / f"{fn.__name__}-{key}.pickle"
        try:
            with path.open("rb") as fh:
                # Our own files, written below by this module (a per-user directory).
                return cast(_T, pickle.load(fh))
        except FileNotFoundError:
            pass
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError) as exc:
            _log.debug("test media cache entry %s unusable (%s); encoding again", path, exc)
        result = fn(**kwargs)
        try:
            root.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
            os.replace(tmp, path)  # atomic: concurrent workers never read half a file
        except OSError as exc:
            _log.debug("test media cache not written (%s)", exc)
        return result

    return wrapper


# --------------------------------------------------------------------------------------------------
# Public generators
# --------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
@_disk_cached
def make_h264_aac(
    *,
    seconds: float = 2.0,
    width: int = 320,
    height: int = 180,
    fps: int = 25,
    gop: int = 25,
    sample_rate: int = 48000,
    bframes: int = 0,
    bitrate: int = 500_000,
    audio: bool = True,
    start_ms: int = 0,
    ex_audio: bool = False,
) -> TestStream:
    """Legacy FLV H.264 (CodecID 7) + AAC publish."""
    packets, extradata = _encode_video("libx264", seconds, width, height, fps, gop, bframes, bitrate)
    to_avcc: Callable[[bytes], bytes]
    if extradata[:1] == b"\x01":
        # Already an avcC record: the packets are length-prefixed to match it.
        config, to_avcc = extradata, bytes
    else:
        sps, pps = _avc_parameter_sets(extradata)
        config, to_avcc = media.AvcDecoderConfig.build(sps, pps, length_size=4), _annexb_to_avcc
    sh = media.build_avc_video(media.VideoFrameType.KEY, media.AvcPacketType.SEQUENCE_HEADER, 0, config)

    def frame(pkt: _VideoPacket) -> bytes:
        ftype = media.VideoFrameType.KEY if pkt.keyframe else media.VideoFrameType.INTER
        return media.build_avc_video(ftype, media.AvcPacketType.NALU, pkt.cts, to_avcc(pkt.data))

    return _assemble(
        packets, frame, sh, "avc", media.VideoCodecId.AVC,
        seconds=seconds, width=width, height=height, fps=fps, gop=gop, sample_rate=sample_rate,
        bitrate=bitrate, audio=audio, start_ms=start_ms, ex_audio=ex_audio,
    )


@functools.lru_cache(maxsize=32)
@_disk_cached
def make_hevc(
    *,
    seconds: float = 2.0,
    width: int = 320,
    height: int = 180,
    fps: int = 25,
    gop: int = 25,
    sample_rate: int = 48000,
    bframes: int = 0,
    bitrate: int = 500_000,
    audio: bool = True,
    start_ms: int = 0,
    ex_audio: bool = False,
    coded_frames_x: bool = False,
) -> TestStream:
    """E-RTMP ``hvc1`` (libx265) + AAC publish. ``coded_frames_x`` sends CTS-0 frames as CodedFramesX."""
    packets, extradata = _encode_video("libx265", seconds, width, height, fps, gop, bframes, bitrate)
    config = _hevc_decoder_config(extradata)
    to_hvcc: Callable[[bytes], bytes] = _annexb_to_avcc if extradata[:1] != b"\x01" else bytes
    sh = media.build_ex_video(
        media.VideoFrameType.KEY, media.VideoPacketType.SEQUENCE_START, media.FourCC.HVC1, config
    )

    def frame(pkt: _VideoPacket) -> bytes:
        ftype = media.VideoFrameType.KEY if pkt.keyframe else media.VideoFrameType.INTER
        body = to_hvcc(pkt.data)
        if coded_frames_x and pkt.cts == 0:
            return media.build_ex_video(ftype, media.VideoPacketType.CODED_FRAMES_X, media.FourCC.HVC1, body)
        return media.build_ex_video(
            ftype, media.VideoPacketType.CODED_FRAMES, media.FourCC.HVC1, body, cts=pkt.cts
        )

    return _assemble(
        packets, frame, sh, "hevc", media.FourCC.as_number(media.FourCC.HVC1),
        seconds=seconds, width=width, height=height, fps=fps, gop=gop, sample_rate=sample_rate,
        bitrate=bitrate, audio=audio, start_ms=start_ms, ex_audio=ex_audio,
    )


@functools.lru_cache(maxsize=32)
@_disk_cached
def make_av1(
    *,
    seconds: float = 2.0,
    width: int = 320,
    height: int = 180,
    fps: int = 25,
    gop: int = 25,
    sample_rate: int = 48000,
    bitrate: int = 500_000,
    audio: bool = True,
    start_ms: int = 0,
    ex_audio: bool = False,
) -> TestStream:
    """E-RTMP ``av01`` (libsvtav1) + AAC publish. AV1 has no CompositionTime (ERTMP-2)."""
    packets, extradata = _encode_video("libsvtav1", seconds, width, height, fps, gop, 0, bitrate)
    config = _av1_codec_config(extradata)
    sh = media.build_ex_video(
        media.VideoFrameType.KEY, media.VideoPacketType.SEQUENCE_START, media.FourCC.AV01, config
    )

    def frame(pkt: _VideoPacket) -> bytes:
        ftype = media.VideoFrameType.KEY if pkt.keyframe else media.VideoFrameType.INTER
        return media.build_ex_video(
            ftype, media.VideoPacketType.CODED_FRAMES, media.FourCC.AV01, _strip_temporal_delimiters(pkt.data)
        )

    return _assemble(
        packets, frame, sh, "av1", media.FourCC.as_number(media.FourCC.AV01),
        seconds=seconds, width=width, height=height, fps=fps, gop=gop, sample_rate=sample_rate,
        bitrate=bitrate, audio=audio, start_ms=start_ms, ex_audio=ex_audio,
    )


# --------------------------------------------------------------------------------------------------
# Assembly
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _VideoPacket:
    """One encoded picture, timestamps already in ms relative to the first DTS."""

    dts: int  # ms from the first decode timestamp
    cts: int  # ms, PTS - DTS
    keyframe: bool  # the encoder marked it as a random access point
    data: bytes  # encoder output as-is (Annex-B for x264/x265, OBUs for SVT-AV1)


def _assemble(
    packets: list[_VideoPacket],
    frame: Callable[[_VideoPacket], bytes],
    video_sh: bytes,
    codec_name: str,
    video_codec_id: float,
    *,
    seconds: float,
    width: int,
    height: int,
    fps: int,
    gop: int,
    sample_rate: int,
    bitrate: int,
    audio: bool,
    start_ms: int,
    ex_audio: bool,
) -> TestStream:
    tags = [
        MediaTag(VIDEO_TYPE_ID, start_ms + pkt.dts, frame(pkt), pkt.keyframe, False) for pkt in packets
    ]
    audio_sh: bytes | None = None
    if audio:
        frames, asc = _encode_audio(seconds, sample_rate)
        if ex_audio:
            audio_sh = media.build_ex_audio(media.AudioPacketType.SEQUENCE_START, media.FourCC.MP4A, asc)
        else:
            audio_sh = media.build_aac_audio(media.AacPacketType.SEQUENCE_HEADER, asc)
        for n, raw in enumerate(frames):
            if ex_audio:
                payload = media.build_ex_audio(media.AudioPacketType.CODED_FRAMES, media.FourCC.MP4A, raw)
            else:
                payload = media.build_aac_audio(media.AacPacketType.RAW, raw)
            tags.append(MediaTag(AUDIO_TYPE_ID, start_ms + _audio_ms(n, sample_rate), payload, False, False))
    # Publish order: by timestamp; on a tie video goes first so the stream opens on a keyframe.
    tags.sort(key=lambda t: (t.timestamp, t.type_id != VIDEO_TYPE_ID))
    fields: dict[str, float | bool | str] = {
        "duration": 0.0,
        "width": float(width),
        "height": float(height),
        "videodatarate": bitrate / 1000.0,
        "framerate": float(fps),
        "videocodecid": float(video_codec_id),
    }
    if audio:
        fields.update(
            {
                "audiodatarate": AUDIO_BITRATE / 1000.0,
                "audiosamplerate": float(sample_rate),
                "audiosamplesize": 16.0,
                "stereo": True,
                "audiocodecid": media.FourCC.as_number(media.FourCC.MP4A) if ex_audio else 10.0,
            }
        )
    fields["encoder"] = ENCODER_NAME
    return TestStream(
        metadata=_metadata_payload(fields),
        video_sequence_header=video_sh,
        audio_sequence_header=audio_sh,
        tags=tuple(tags),
        width=width,
        height=height,
        fps=fps,
        sample_rate=sample_rate,
        gop=gop,
        video_codec=codec_name,
    )


def _audio_ms(n: int, sample_rate: int) -> int:
    """round(n * 1024 * 1000 / rate) in exact integer arithmetic (TS-15: never accumulate deltas)."""
    return (2 * n * AUDIO_FRAME_SAMPLES * 1000 + sample_rate) // (2 * sample_rate)


def _frame_ms(frame: int, fps: int) -> int:
    return (2 * frame * 1000 + fps) // (2 * fps)


# --------------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------------


def _pattern_planes(index: int, planes: Any) -> None:
    """Fill a yuv420p frame with the picture of frame ``index`` (a function of ``index`` only)."""
    luma, cb, cr = planes
    width, height, stride = luma.width, luma.height, luma.line_size
    ramp = bytes(range(256)) * (width // 256 + 2)
    pad = bytes(stride - width)
    box = min(32, width, height)
    box_x = (index * 8) % max(1, width - box + 1)
    box_y = (height - box) // 2
    rows = []
    for y in range(height):
        start = (y + index * 4) % 256
        row = ramp[start : start + width]
        if box_y <= y < box_y + box:
            row = row[:box_x] + b"\xeb" * box + row[box_x + box :]
        rows.append(row + pad)
    luma.update(b"".join(rows))
    cw, ch, cstride = cb.width, cb.height, cb.line_size
    cpad = bytes(cstride - cw)
    cb.update(b"".join(bytes((((y * 4 + index) & 0x7F) + 64,)) * cw + cpad for y in range(ch)))
    cr_ramp = bytes(range(64, 192)) * (cw // 128 + 2)
    cr.update(b"".join(cr_ramp[(y + index) % 128 : (y + index) % 128 + cw] + cpad for y in range(ch)))


def _video_options(encoder: str, gop: int, bframes: int) -> dict[str, str]:
    if encoder == "libx264":
        options = {
            "preset": "ultrafast",
            "keyint_min": str(gop),
            "sc_threshold": "0",
            "bf": str(bframes),
            "threads": "1",
        }
        if bframes == 0:
            options["tune"] = "zerolatency"
        return options
    if encoder == "libx265":
        params = (
            f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bframes}:open-gop=0:"
            "log-level=error:info=0:pools=none:frame-threads=1:repeat-headers=0"
        )
        options = {"preset": "ultrafast", "x265-params": params}
        if bframes == 0:
            options["tune"] = "zerolatency"
        return options
    if encoder == "libsvtav1":
        # lp=1: one thread (bit-exact runs); preset 10 is fast enough for 320x180 and not "automation only".
        return {"preset": "10", "svtav1-params": f"keyint={gop}:scd=0:lp=1"}
    raise ValueError(f"no option set for encoder {encoder!r}")


def _encode_video(
    encoder: str, seconds: float, width: int, height: int, fps: int, gop: int, bframes: int, bitrate: int
) -> tuple[list[_VideoPacket], bytes]:
    import av
    from av.codec.context import Flags

    if encoder == "libsvtav1":
        # SVT-AV1 logs its banner to stderr unless told otherwise; 1 = errors only.
        os.environ.setdefault("SVT_LOG", "1")
    ctx: Any = av.CodecContext.create(encoder, "w")
    ctx.width = width
    ctx.height = height
    ctx.pix_fmt = "yuv420p"
    ctx.time_base = Fraction(1, fps)
    ctx.framerate = Fraction(fps, 1)
    ctx.gop_size = gop
    ctx.max_b_frames = bframes
    ctx.bit_rate = bitrate
    ctx.thread_count = 1
    # Global header: parameter sets in extradata (sequence header), not repeated in every keyframe.
    ctx.flags |= Flags.global_header
    ctx.options = _video_options(encoder, gop, bframes)
    ctx.open()
    count = max(1, round(seconds * fps))
    raw: list[Any] = []
    for index in range(count):
        picture = av.VideoFrame(width, height, "yuv420p")
        _pattern_planes(index, picture.planes)
        picture.pts = index
        raw.extend(ctx.encode(picture))
    raw.extend(ctx.encode(None))
    extradata = bytes(ctx.extradata or b"")
    if not raw:
        raise RuntimeError(f"{encoder} produced no packets")
    first_dts = min(p.dts if p.dts is not None else p.pts for p in raw)
    packets = []
    for p in raw:
        dts = p.dts if p.dts is not None else p.pts
        dts_ms = _frame_ms(dts - first_dts, fps)
        pts_ms = _frame_ms(p.pts - first_dts, fps)
        keyframe = bool(p.is_keyframe)
        packets.append(_VideoPacket(dts=dts_ms, cts=pts_ms - dts_ms, keyframe=keyframe, data=bytes(p)))
    return packets, extradata


def _encode_audio(seconds: float, sample_rate: int) -> tuple[list[bytes], bytes]:
    import av

    ctx: Any = av.CodecContext.create("aac", "w")
    ctx.sample_rate = sample_rate
    ctx.layout = "stereo"
    ctx.format = "fltp"
    ctx.time_base = Fraction(1, sample_rate)
    ctx.bit_rate = AUDIO_BITRATE
    ctx.open()
    step = 2.0 * math.pi * TONE_HZ / sample_rate
    count = max(1, math.ceil(seconds * sample_rate / AUDIO_FRAME_SAMPLES))
    raw: list[Any] = []
    for n in range(count):
        first = n * AUDIO_FRAME_SAMPLES
        samples = array.array(
            "f", [TONE_AMPLITUDE * math.sin(step * (first + j)) for j in range(AUDIO_FRAME_SAMPLES)]
        ).tobytes()
        chunk = av.AudioFrame(format="fltp", layout="stereo", samples=AUDIO_FRAME_SAMPLES)
        chunk.sample_rate = sample_rate
        chunk.time_base = Fraction(1, sample_rate)
        chunk.pts = first
        for plane in chunk.planes:
            plane.update(samples)
        raw.extend(ctx.encode(chunk))
    raw.extend(ctx.encode(None))
    asc = bytes(ctx.extradata or b"")
    if not asc:
        asc = media.AudioSpecificConfig.build(2, sample_rate, 2)
    return [bytes(p) for p in raw], asc


# --------------------------------------------------------------------------------------------------
# Bitstream plumbing: Annex-B, parameter sets, configuration records
# --------------------------------------------------------------------------------------------------


def _split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex-B byte stream (3- or 4-byte start codes), one find() per unit."""
    units = []
    pos = data.find(b"\x00\x00\x01")
    while pos >= 0:
        start = pos + 3
        nxt = data.find(b"\x00\x00\x01", start)
        end = len(data) if nxt < 0 else nxt
        unit = data[start:end].rstrip(b"\x00")  # zero bytes before a start code are not NAL data
        if unit:
            units.append(unit)
        pos = nxt
    return units


def _annexb_to_avcc(data: bytes) -> bytes:
    """Annex-B → 4-byte length-prefixed NAL units (AV-2)."""
    return b"".join(struct.pack(">I", len(u)) + u for u in _split_annexb(data))


def _avc_parameter_sets(extradata: bytes) -> tuple[list[bytes], list[bytes]]:
    """SPS and PPS lists from Annex-B H.264 extradata."""
    units = _split_annexb(extradata)
    sps = [u for u in units if u[0] & 0x1F == 7]
    pps = [u for u in units if u[0] & 0x1F == 8]
    if not sps or not pps:
        raise RuntimeError("H.264 extradata holds no SPS/PPS")
    return sps, pps


def _unescape_rbsp(nal: bytes) -> bytes:
    """Drop emulation prevention bytes (00 00 03 -> 00 00)."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


def _hevc_decoder_config(extradata: bytes) -> bytes:
    """HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1) from Annex-B VPS/SPS/PPS extradata.

    Profile/tier/level and the sub-layer fields come from the SPS; chroma format and bit depth are the
    4:2:0 8-bit this module always encodes.
    """
    if extradata[:1] == b"\x01":
        return extradata  # already an hvcC record
    units = _split_annexb(extradata)
    by_type: dict[int, list[bytes]] = {}
    for unit in units:
        by_type.setdefault((unit[0] >> 1) & 0x3F, []).append(unit)
    vps, sps, pps = by_type.get(32, []), by_type.get(33, []), by_type.get(34, [])
    if not (vps and sps and pps):
        raise RuntimeError("HEVC extradata lacks VPS/SPS/PPS")
    rbsp = _unescape_rbsp(sps[0][:40])
    # SPS: 2-byte NAL header, then vps_id(4) max_sub_layers_minus1(3) temporal_id_nesting(1), then the
    # 12-byte general profile_tier_level.
    sub_layers = ((rbsp[2] >> 1) & 0x07) + 1
    nested = rbsp[2] & 0x01
    ptl = rbsp[3:15]
    parts = [
        b"\x01",  # configurationVersion
        ptl,  # profile_space/tier/profile_idc, compatibility flags, constraint flags, level_idc
        b"\xf0\x00",  # reserved 1111 + min_spatial_segmentation_idc 0
        b"\xfc",  # reserved 111111 + parallelismType 0 (unknown)
        b"\xfd",  # reserved 111111 + chroma_format_idc 1 (4:2:0)
        b"\xf8",  # reserved 11111 + bit_depth_luma_minus8 0
        b"\xf8",  # reserved 11111 + bit_depth_chroma_minus8 0
        b"\x00\x00",  # avgFrameRate unspecified
        # constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne 3
        bytes(((sub_layers & 0x07) << 3 | nested << 2 | 0x03,)),
    ]
    arrays = [(32, vps), (33, sps), (34, pps)]
    sei = by_type.get(39, [])
    if sei:
        arrays.append((39, sei))
    parts.append(bytes((len(arrays),)))
    for nal_type, nals in arrays:
        # array_completeness 1 (all parameter sets are here), reserved 0, NAL_unit_type
        parts.append(struct.pack(">BH", 0x80 | nal_type, len(nals)))
        for nal in nals:
            parts.append(struct.pack(">H", len(nal)) + nal)
    return b"".join(parts)


class _Bits:
    """MSB-first reader for the few AV1 sequence header fields needed for av1C."""

    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "big")
        self.size = len(data) * 8
        self.pos = 0

    def read(self, count: int) -> int:
        if self.pos + count > self.size:
            raise RuntimeError("AV1 sequence header shorter than expected")
        self.pos += count
        return (self.value >> (self.size - self.pos)) & ((1 << count) - 1)

    def uvlc(self) -> int:
        zeros = 0
        while self.read(1) == 0:
            zeros += 1
            if zeros >= 32:
                return (1 << 32) - 1
        return self.read(zeros) + (1 << zeros) - 1 if zeros else 0


def _leb128(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(8):
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos + i + 1
    raise RuntimeError("leb128 longer than 8 bytes")


def _av1_codec_config(extradata: bytes) -> bytes:
    """AV1CodecConfigurationRecord (AV1-ISOBMFF 2.3.3) around the encoder's sequence header OBU."""
    if extradata[:1] == b"\x81":
        return extradata  # already an av1C record
    header = extradata[0]
    if (header >> 3) & 0x0F != 1:
        raise RuntimeError("AV1 extradata does not start with a sequence header OBU")
    pos = 2 if header & 0x04 else 1  # skip the extension byte when present
    if header & 0x02:
        size, pos = _leb128(extradata, pos)
    else:
        size = len(extradata) - pos
    bits = _Bits(extradata[pos : pos + size])
    seq_profile = bits.read(3)
    bits.read(1)  # still_picture
    reduced = bits.read(1)
    tier = 0
    if reduced:
        level = bits.read(5)
    else:
        decoder_model = 0
        if bits.read(1):  # timing_info_present_flag
            bits.read(32)  # num_units_in_display_tick
            bits.read(32)  # time_scale
            if bits.read(1):  # equal_picture_interval
                bits.uvlc()
            decoder_model = bits.read(1)
            if decoder_model:
                bits.read(5 + 32 + 5 + 5)
        bits.read(1)  # initial_display_delay_present_flag
        bits.read(5)  # operating_points_cnt_minus_1
        bits.read(12)  # operating_point_idc[0]
        level = bits.read(5)
        if level > 7:
            tier = bits.read(1)
    # byte 1: seq_profile, seq_level_idx_0; byte 2: tier, high_bitdepth 0, twelve_bit 0, monochrome 0,
    # subsampling x 1 / y 1 (4:2:0), chroma_sample_position 0; byte 3: no initial presentation delay.
    record = bytes((0x81, seq_profile << 5 | level, tier << 7 | 0x0C, 0x00))
    return record + extradata


def _strip_temporal_delimiters(data: bytes) -> bytes:
    """Drop leading temporal delimiter OBUs (type 2, empty), which the ISOBMFF AV1 binding leaves out."""
    while data.startswith(b"\x12\x00"):
        data = data[2:]
    return data


# --------------------------------------------------------------------------------------------------
# onMetaData
# --------------------------------------------------------------------------------------------------


def _metadata_payload(fields: dict[str, float | bool | str]) -> bytes:
    # rtmp.amf0 (encode_all, EcmaArray) is written separately; until it exists, use the local encoder.
    try:
        amf0 = importlib.import_module("rtmpconf.rtmp.amf0")
        encode_all, ecma_array = amf0.encode_all, amf0.EcmaArray
    except (ImportError, AttributeError):
        return _amf0_fallback("@setDataFrame", "onMetaData", fields)
    return bytes(encode_all("@setDataFrame", "onMetaData", ecma_array(fields)))


def _amf0_value(value: float | bool | str) -> bytes:
    # bool before number: bool is an int subclass.
    if isinstance(value, bool):
        return b"\x01" + (b"\x01" if value else b"\x00")
    if isinstance(value, (int, float)):
        return b"\x00" + struct.pack(">d", float(value))
    raw = value.encode("utf-8")
    return b"\x02" + struct.pack(">H", len(raw)) + raw


def _amf0_fallback(command: str, name: str, fields: dict[str, float | bool | str]) -> bytes:
    """Minimal AMF0 (string, number, boolean, ECMA array) until rtmp.amf0 is available."""
    parts = [_amf0_value(command), _amf0_value(name), b"\x08" + struct.pack(">I", len(fields))]
    for key, value in fields.items():
        raw = key.encode("utf-8")
        parts.append(struct.pack(">H", len(raw)) + raw + _amf0_value(value))
    parts.append(b"\x00\x00\x09")  # empty key + object-end marker
    return b"".join(parts)
