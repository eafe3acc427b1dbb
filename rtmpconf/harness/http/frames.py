"""Frames as every protocol shows them, reduced to comparable form.

Each output carries the same coded frames in its own framing: FLV tags (AVCC length-prefixed
NAL units), TS PES (Annex B with an access unit delimiter and repeated parameter sets, AAC in
ADTS), RTP (NAL units in RTP payloads, parameter sets in band before IDRs; AAC access units).
A :class:`Frame` keeps a track, a time in ms on that protocol's clock, and a *key*: the coded
payload without the framing (video: the NAL units other than AUD and parameter sets; audio: the raw
AAC block), so the same frame compares equal across protocols.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rtmpconf.harness.http.flv import FlvTag
from rtmpconf.harness.http.mpegts import VIDEO_TYPES, Pes, TsReader, annexb_nalus, is_irap, nal_type
from rtmpconf.rtmp import media

if TYPE_CHECKING:
    from rtmpconf.harness.rtsp import AccessUnit

#: NAL unit types that are framing, not picture data: AUD and parameter sets (H.264, HEVC).
_SKIP = {"h264": {7, 8, 9}, "hevc": {32, 33, 34, 35}}


@dataclass(frozen=True, slots=True)
class Frame:
    track: str  #: "video" | "audio"
    time_ms: float  #: decode time on the protocol's clock (ms); RTP has none: its presentation time
    cts_ms: float  #: presentation - decode (ms); 0 for audio and for RTP
    key: bytes  #: digest of the coded payload
    keyframe: bool
    index: int  #: position in the protocol's own sequence (tag / PES index)


def _digest(parts: Sequence[bytes]) -> bytes:
    h = hashlib.blake2b(digest_size=12)
    for p in parts:
        h.update(len(p).to_bytes(4, "big"))
        h.update(p)
    return h.digest()


def video_key(codec: str, nalus: Sequence[bytes]) -> bytes:
    skip = _SKIP.get(codec, set())
    return _digest([bytes(n) for n in nalus if len(n) and nal_type(codec, bytes(n[:2])) not in skip])


def flv_frames(tags: Sequence[FlvTag] | Sequence[object], *, length_size: int = 4) -> list[Frame]:
    """Coded frames of FLV tags or RTMP messages (anything with type_id, timestamp and data/payload)."""
    out: list[Frame] = []
    size = length_size
    for i, t in enumerate(tags):
        type_id = t.type_id  # type: ignore[attr-defined]
        data = getattr(t, "data", None)
        if data is None:
            data = t.payload  # type: ignore[attr-defined]
        ts = t.timestamp  # type: ignore[attr-defined]
        try:
            if type_id == 9:
                tag = media.parse_video_tag(data)
                if tag.sequence_header:
                    if tag.codec == "avc":
                        size = media.AvcDecoderConfig.parse(tag.body).length_size
                    continue
                if tag.command is not None or tag.empty or tag.codec not in ("avc", "hevc"):
                    continue
                if tag.is_enhanced:
                    if tag.packet_type not in (1, 3):
                        continue
                elif tag.packet_type != 1:
                    continue
                codec = "hevc" if tag.codec == "hevc" else "h264"
                nalus = media.split_nalus(tag.body, size)
                out.append(Frame("video", float(ts), float(tag.composition_time), video_key(codec, nalus),
                                 tag.keyframe, i))
            elif type_id == 8:
                atag = media.parse_audio_tag(data)
                if atag.sequence_header or atag.empty or atag.codec != "aac":
                    continue
                out.append(Frame("audio", float(ts), 0.0, _digest([bytes(atag.body)]), False, i))
        except Exception:  # noqa: BLE001, S112 - a frame the parser cannot read is not comparable
            continue
    return out


def adts_frames(data: bytes) -> list[tuple[bytes, int]]:
    """(raw AAC block, sample rate) of each ADTS frame in ``data``."""
    rates = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
    out = []
    pos = 0
    while pos + 7 <= len(data):
        if data[pos] != 0xFF or data[pos + 1] & 0xF0 != 0xF0:
            break
        protection_absent = data[pos + 1] & 1
        idx = (data[pos + 2] >> 2) & 0x0F
        length = ((data[pos + 3] & 3) << 11) | (data[pos + 4] << 3) | (data[pos + 5] >> 5)
        head = 7 if protection_absent else 9
        if length < head or pos + length > len(data):
            break
        out.append((data[pos + head:pos + length], rates[idx] if idx < len(rates) else 0))
        pos += length
    return out


def ts_frames(reader: TsReader, clock_offset_ms: float = 0.0) -> list[Frame]:
    """Coded frames of a TS: one per video PES, one per ADTS frame. Times in ms of the 90 kHz
    clock (wraps of 33 bits unwrapped)."""
    out: list[Frame] = []
    last: dict[str, int] = {}
    ext: dict[str, int] = {}

    def unwrap(track: str, t: int) -> int:
        if track in last:
            d = (t - last[track]) & ((1 << 33) - 1)
            if d >= 1 << 32:
                d -= 1 << 33
            ext[track] += d
        else:
            ext[track] = t
        last[track] = t
        return ext[track]

    for i, pes in enumerate(reader.pes):
        st = reader.streams.get(pes.pid)
        if st in VIDEO_TYPES and pes.pts is not None:
            codec = VIDEO_TYPES[st]
            nalus = annexb_nalus(pes.data)
            dts = pes.decode_ts
            assert dts is not None
            d = unwrap("video", dts)
            out.append(Frame("video", d / 90.0 - clock_offset_ms, ((pes.pts - dts) & ((1 << 33) - 1)) / 90.0,
                             video_key(codec, nalus), is_irap(codec, nalus), i))
        elif st == 0x0F and pes.pts is not None:
            base = unwrap("audio", pes.pts)
            t = 0.0
            for raw, rate in adts_frames(pes.data):
                out.append(Frame("audio", (base / 90.0) + t - clock_offset_ms, 0.0, _digest([raw]), False, i))
                t += 1024 * 1000.0 / rate if rate else 0.0
    return out


def rtp_frames(units: Sequence[AccessUnit], aac: Sequence[tuple[int, bytes]], *, video_rate: int = 90000,
               audio_rate: int = 48000, codec: str = "h264") -> list[Frame]:
    """Coded frames of depacketised RTP (``depacketize_h26x`` access units, ``depacketize_aac``
    frames). RTP carries presentation times only: ``time_ms`` is the presentation time in ms of
    each track's clock (32-bit wraps unwrapped, the random base kept), ``cts_ms`` is 0. Video and
    audio are listed one track after the other, each in arrival order; ``index`` counts per track."""
    out: list[Frame] = []

    def unwrapped(stamps: Sequence[int]) -> list[int]:
        ext: list[int] = []
        for t in stamps:
            if ext:
                d = (t - ext[-1]) & 0xFFFFFFFF
                ext.append(ext[-1] + (d - (1 << 32) if d >= 1 << 31 else d))
            else:
                ext.append(t)
        return ext

    empty = _digest([])
    keyed = [(u, k) for u, k in ((u, video_key(codec, u.nalus)) for u in units) if k != empty]  # not only SPS/PPS
    for i, ((u, key), t) in enumerate(zip(keyed, unwrapped([u.timestamp for u, _ in keyed]))):
        out.append(Frame("video", t * 1000.0 / video_rate, 0.0, key, is_irap(codec, u.nalus), i))
    for i, ((_, raw), t) in enumerate(zip(aac, unwrapped([ts for ts, _ in aac]))):
        out.append(Frame("audio", t * 1000.0 / audio_rate, 0.0, _digest([raw]), False, i))
    return out


def first_video_pes(reader: TsReader) -> Pes | None:
    for pes in reader.pes:
        if reader.streams.get(pes.pid) in VIDEO_TYPES:
            return pes
    return None
