"""Small HTTP-output doubles: a published stream, and the bytes a correct (or deliberately broken)
server would send for it over HTTP-FLV, HTTP-TS and HLS (and RTP, for the cross-protocol check)."""

from __future__ import annotations

import struct
from collections.abc import Callable

from rtmpconf.harness.rtsp import RtpPacket
from rtmpconf.harness.testmedia import MediaTag
from rtmpconf.reference_server.http.flv import flv_header, flv_tag
from rtmpconf.reference_server.http.mpegts import AudioConfig, TsMuxer, VideoConfig
from rtmpconf.reference_server.mediatime import FlvTimeline, composition_time
from rtmpconf.reference_server.rtsp.rtp import RtpStream, aac_payload, h264_payloads
from rtmpconf.rtmp import amf0, media

SPS = bytes.fromhex("6742c01e95a0501e80")
PPS = bytes.fromhex("68ce3c80")
ASC = media.AudioSpecificConfig.build(2, 48000, 2)
VSH = media.build_avc_video(1, 0, 0, media.AvcDecoderConfig.build([SPS], [PPS]))
ASH = media.build_aac_audio(0, ASC)
META = amf0.encode_all("onMetaData", {"width": 320.0, "height": 180.0, "videocodecid": 7.0, "audiocodecid": 10.0})


def nal(kind: int, i: int) -> bytes:
    """A NAL unit with no 00 00 0x inside (a real encoder would add emulation prevention)."""
    return bytes([kind]) + f"frame {i:06d}".encode() + b"\x55" * 40


def video(i: int) -> MediaTag:
    key = i % 25 == 0
    body = nal(0x65 if key else 0x41, i)
    cts = 0 if key else (80 if i % 3 == 1 else 0)  # a B-frame-like reordering offset
    payload = media.build_avc_video(1 if key else 2, 1, cts, struct.pack(">I", len(body)) + body)
    return MediaTag(9, i * 40, payload, key, False)


def audio(n: int) -> MediaTag:
    return MediaTag(8, round(n * 1024 * 1000 / 48000), media.build_aac_audio(1, b"\x21" + struct.pack(">I", n) * 8),
                    False, False)


def published(seconds: float = 3.0, start_frame: int = 0) -> list[MediaTag]:
    """Video 25 fps (keyframe every second) and AAC 48 kHz interleaved by time."""
    frames = [video(i) for i in range(start_frame, start_frame + int(seconds * 25))]
    t0, t1 = frames[0].timestamp, frames[-1].timestamp
    auds = [audio(n) for n in range(int(t0 * 48 / 1024), int(t1 * 48 / 1024) + 1)]
    auds = [a for a in auds if a.timestamp >= t0]
    return sorted(frames + auds, key=lambda t: (t.timestamp, t.type_id))


def headers() -> list[MediaTag]:
    return [MediaTag(9, 0, VSH, True, True), MediaTag(8, 0, ASH, False, True)]


def flv_body(tags: list[MediaTag], *, flags: tuple[bool, bool] = (True, True), meta: bool = True,
             retime: Callable[[MediaTag], int] | None = None, hdrs: list[MediaTag] | None = None) -> bytes:
    parts = [flv_header(*flags)]
    if meta:
        parts.append(flv_tag(18, 0, META))
    parts += [flv_tag(t.type_id, 0, t.payload) for t in (headers() if hdrs is None else hdrs)]
    parts += [flv_tag(t.type_id, retime(t) if retime else t.timestamp, t.payload) for t in tags]
    return b"".join(parts)


class BrokenMuxer(TsMuxer):
    """TsMuxer with switchable faults."""

    def __init__(self, *, skip_cc_at: int | None = None, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.skip_cc_at = skip_cc_at
        self.n = 0

    def _next_cc(self, pid: int) -> int:
        self.n += 1
        if self.skip_cc_at is not None and self.n == self.skip_cc_at:
            super()._next_cc(pid)  # a counter value is lost
        return super()._next_cc(pid)


def ts_body(tags: list[MediaTag], *, mux: TsMuxer | None = None, psi: bool = True,
            video_shift: Callable[[MediaTag], int] | None = None, audio_shift_ms: int = 0,
            drop_cts: bool = False) -> bytes:
    m = mux or TsMuxer()
    m.set_video(VideoConfig("h264", 4, (SPS, PPS)))
    m.set_audio(AudioConfig(1, 3, 2))
    tl = FlvTimeline(offset_ms=1000)
    out = [m.psi()] if psi and tags and not tags[0].keyframe else []
    for t in tags:
        if t.type_id == 9:
            tag = media.parse_video_tag(t.payload)
            nalus = media.split_nalus(tag.body, 4)
            ts = t.timestamp + (video_shift(t) if video_shift else 0)
            pts, dts = tl.pts_dts(ts, 0 if drop_cts else composition_time(t.payload))
            data = m.video_frame(pts, dts, nalus, t.keyframe)
            if not psi and t.keyframe:
                data = data[2 * 188:]  # PAT/PMT cut away
            out.append(data)
        else:
            pts = tl.dts(t.timestamp + audio_shift_ms)
            out.append(m.audio_frame(pts, bytes(media.parse_audio_tag(t.payload).body)))
    return b"".join(out)


def rtp_packets(tags: list[MediaTag], *, mtu: int = 24, video_base: int = (1 << 32) - 135000, audio_base: int = 0x1234,
                video_shift: Callable[[MediaTag], int] | None = None, drop_cts: bool = False,
                ) -> tuple[list[RtpPacket], list[RtpPacket]]:
    """Video and audio RTP of ``tags`` as an RTSP server sends them (the reference packetiser: an
    AUD and SPS/PPS in band before each IDR, FU-A above ``mtu``, RFC 3640 AAC), each track on its
    own base (video wraps 32 bits 0.5 s after a start at 1 s); ``video_shift`` moves a frame (90 kHz ticks), ``drop_cts``
    stamps decode instead of presentation times."""
    vs = RtpStream(96, 90000, 1, 100, video_base)
    aus = RtpStream(97, 48000, 2, 200, audio_base)
    video: list[RtpPacket] = []
    audio: list[RtpPacket] = []
    for t in tags:
        if t.type_id == 9:
            nalus = [bytes(n) for n in media.split_nalus(media.parse_video_tag(t.payload).body, 4)]
            if t.keyframe:
                nalus = [b"\x09\xf0", SPS, PPS, *nalus]
            pts = (t.timestamp + (0 if drop_cts else composition_time(t.payload))) * 90
            pts += video_shift(t) if video_shift else 0
            video += [RtpPacket(0, p, 0.0) for p in vs.packets_for(h264_payloads(nalus, mtu), pts)]
        else:
            body = bytes(media.parse_audio_tag(t.payload).body)
            audio += [RtpPacket(2, p, 0.0) for p in aus.packets_for([aac_payload(body)], len(audio) * 1024)]
    return video, audio
