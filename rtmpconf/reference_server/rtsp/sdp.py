"""SDP (RFC 8866) of a live stream for DESCRIBE, from its RTMP sequence headers.

* H.264: ``H264/90000``, fmtp ``packetization-mode=1``, ``profile-level-id`` and
  ``sprop-parameter-sets`` (base64 SPS,PPS) from the AVCDecoderConfigurationRecord (RFC 6184 §8.1).
* HEVC: ``H265/90000``, fmtp ``sprop-vps``/``sprop-sps``/``sprop-pps`` from the
  HEVCDecoderConfigurationRecord (RFC 7798 §7.1).
* AAC: ``MPEG4-GENERIC/<rate>/<channels>``, fmtp ``mode=AAC-hbr`` with the AudioSpecificConfig as
  ``config`` hex and sizelength 13 / indexlength 3 / indexdeltalength 3 (RFC 3640 §4.1, §3.3.6).
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass

from rtmpconf.rtmp import media

VIDEO_PT = 96
AUDIO_PT = 97


@dataclass(frozen=True, slots=True)
class VideoConfig:
    codec: str  #: "h264" or "hevc"
    length_size: int
    parameter_sets: tuple[bytes, ...]  #: SPS, PPS (H.264) or VPS, SPS, PPS (HEVC), NAL headers included
    fmtp: str


@dataclass(frozen=True, slots=True)
class AudioConfig:
    sample_rate: int
    channels: int
    asc: bytes


def hevc_config(record: bytes) -> tuple[int, dict[int, list[bytes]]]:
    """(NALU length size, NAL type -> NAL units) of an HEVCDecoderConfigurationRecord (ISO/IEC
    14496-15 §8.3.3.1: 22 fixed bytes, numOfArrays, then arrays of type + count + u16-prefixed NALs)."""
    if len(record) < 23:
        raise ValueError("HEVCDecoderConfigurationRecord too short")
    length_size = (record[21] & 0x03) + 1
    arrays: dict[int, list[bytes]] = {}
    off = 23
    for _ in range(record[22]):
        nal_type = record[off] & 0x3F
        (count,) = struct.unpack_from(">H", record, off + 1)
        off += 3
        for _ in range(count):
            (size,) = struct.unpack_from(">H", record, off)
            arrays.setdefault(nal_type, []).append(bytes(record[off + 2:off + 2 + size]))
            off += 2 + size
    return length_size, arrays


def video_config(sequence_header: bytes) -> VideoConfig | None:
    """The RTP/SDP view of a video sequence header; None for codecs RTSP output does not carry."""
    tag = media.parse_video_tag(sequence_header)
    body = bytes(tag.body)
    if tag.codec == "avc":
        cfg = media.AvcDecoderConfig.parse(body)
        sets = (*cfg.sps, *cfg.pps)
        sps = cfg.sps[0] if cfg.sps else b"\x00\x00\x00\x00"
        fmtp = (f"packetization-mode=1;profile-level-id={sps[1:4].hex().upper()};sprop-parameter-sets="
                + ",".join(base64.b64encode(p).decode() for p in sets))
        return VideoConfig("h264", cfg.length_size, sets, fmtp)
    if tag.codec == "hevc":
        length_size, arrays = hevc_config(body)
        vps, sps, pps = arrays.get(32, []), arrays.get(33, []), arrays.get(34, [])
        fmtp = ";".join(f"{k}={','.join(base64.b64encode(p).decode() for p in v)}"
                        for k, v in (("sprop-vps", vps), ("sprop-sps", sps), ("sprop-pps", pps)) if v)
        return VideoConfig("hevc", length_size, (*vps, *sps, *pps), fmtp)
    return None


def audio_config(sequence_header: bytes) -> AudioConfig | None:
    tag = media.parse_audio_tag(sequence_header)
    if tag.codec != "aac":
        return None
    asc = bytes(tag.body)
    parsed = media.AudioSpecificConfig.parse(asc)
    return AudioConfig(parsed.sample_rate, parsed.channels or 2, asc)


def describe(name: str, host: str, video: VideoConfig | None, audio: AudioConfig | None, session_id: int) -> str:
    lines = ["v=0", f"o=- {session_id} 1 IN IP4 {host}", f"s={name}", "c=IN IP4 0.0.0.0", "t=0 0",
             "a=tool:rtmp-conformance reference server", "a=control:*", "a=range:npt=now-"]
    if video is not None:
        enc = "H264" if video.codec == "h264" else "H265"
        lines += [f"m=video 0 RTP/AVP {VIDEO_PT}", f"a=rtpmap:{VIDEO_PT} {enc}/90000",
                  f"a=fmtp:{VIDEO_PT} {video.fmtp}", "a=control:trackID=0"]
    if audio is not None:
        lines += [f"m=audio 0 RTP/AVP {AUDIO_PT}",
                  f"a=rtpmap:{AUDIO_PT} MPEG4-GENERIC/{audio.sample_rate}/{audio.channels}",
                  f"a=fmtp:{AUDIO_PT} streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;"
                  f"indexlength=3;indexdeltalength=3;config={audio.asc.hex()}",
                  "a=control:trackID=1"]
    return "\r\n".join(lines) + "\r\n"
