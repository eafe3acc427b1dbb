"""HTTP-TS: the live stream remuxed once into MPEG-TS, fanned out to viewers and to HLS.

One :class:`TsOutput` per live stream (a MediaTap). It turns FLV video/audio into TS with the
shared timestamp mapping (mediatime.FlvTimeline, offset ``TS_OFFSET_MS``), keeps the TS bytes
since the latest keyframe (PAT/PMT first) for joiners, and hands every piece to its listeners:
HTTP-TS viewers and the HLS segmenter cut the very same bytes.

Only what MPEG-TS carries without transcoding is muxed: H.264 and HEVC video (legacy CodecID
7/12 or E-RTMP avc1/hvc1), AAC audio. Other codecs are left out of the PMT (logged once).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass

from rtmpconf.reference_server.http.mpegts import AudioConfig, TsMuxer, VideoConfig
from rtmpconf.reference_server.http.viewers import HttpViewer, ViewerSet
from rtmpconf.reference_server.mediatime import FlvTimeline, composition_time
from rtmpconf.reference_server.streams import CachedMessage, LiveStream, MediaTap
from rtmpconf.rtmp import media

log = logging.getLogger("rtmpconf.rtmp.server.http")

#: Constant offset of the TS clock over the RTMP clock (ms): room for the PCR to run ahead of
#: the first DTS without going negative (mpegts.PCR_DELAY_TICKS).
TS_OFFSET_MS = 1000
#: Audio-only streams repeat PAT/PMT this often (ms): their join and segment points.
AUDIO_ONLY_PSI_MS = 1000


def _coded_frames(tag: media.VideoTag) -> bool:
    """The tag carries coded NAL units (AVCPacketType 1; E-RTMP CodedFrames / CodedFramesX)."""
    if tag.is_enhanced:
        return tag.packet_type in (media.VideoPacketType.CODED_FRAMES, media.VideoPacketType.CODED_FRAMES_X)
    return tag.packet_type == 1


def parse_hvcc(data: bytes) -> tuple[int, tuple[bytes, ...]]:
    """(NALU length size, VPS/SPS/PPS NAL units) of an HEVCDecoderConfigurationRecord
    (ISO/IEC 14496-15 §8.3.3.1): 22 bytes of fields, then arrays of NAL units."""
    if len(data) < 23:
        raise ValueError("HEVCDecoderConfigurationRecord shorter than 23 bytes")
    length_size = (data[21] & 0x03) + 1
    count = data[22]
    off = 23
    sets: list[bytes] = []
    for _ in range(count):
        if off + 3 > len(data):
            raise ValueError("HEVCDecoderConfigurationRecord array cut short")
        nal_type = data[off] & 0x3F
        (n,) = struct.unpack_from(">H", data, off + 1)
        off += 3
        for _ in range(n):
            (size,) = struct.unpack_from(">H", data, off)
            off += 2
            if off + size > len(data):
                raise ValueError("HEVCDecoderConfigurationRecord NAL unit cut short")
            if nal_type in (32, 33, 34):
                sets.append(bytes(data[off:off + size]))
            off += size
    order = {32: 0, 33: 1, 34: 2}
    sets.sort(key=lambda nal: order.get((nal[0] >> 1) & 0x3F, 3))
    return length_size, tuple(sets)


def video_config(payload: bytes) -> VideoConfig | None:
    """TS video configuration from a video sequence header; None for codecs TS does not carry."""
    tag = media.parse_video_tag(payload)
    if tag.codec == "avc":
        rec = media.AvcDecoderConfig.parse(tag.body)
        return VideoConfig("h264", rec.length_size, (*rec.sps, *rec.pps))
    if tag.codec == "hevc":
        size, sets = parse_hvcc(bytes(tag.body))
        return VideoConfig("hevc", size, sets)
    return None


def audio_config(payload: bytes) -> AudioConfig | None:
    """ADTS parameters from an AAC sequence header; None for other codecs."""
    tag = media.parse_audio_tag(payload)
    if tag.codec != "aac":
        return None
    asc = media.AudioSpecificConfig.parse(tag.body)
    if asc.frequency_index > 12 or asc.core_object_type > 4:
        return None  # ADTS can signal neither an explicit frequency nor object types past 4
    return AudioConfig(asc.core_object_type - 1, asc.frequency_index, asc.channel_config)


@dataclass(slots=True)
class TsPiece:
    """TS bytes for one published frame, as the listeners receive them."""

    data: bytes
    keyframe: bool  #: starts with PAT/PMT and a video keyframe (a place to start or cut)
    video: bool
    ms: int  #: unwrapped RTMP timestamp (ms) of the frame
    pts: int  #: 90 kHz PTS of the frame
    discontinuity: bool = False  #: first piece after a publish restart


class TsOutput(MediaTap):
    """Remuxes one live stream into TS once; HTTP-TS viewers and HLS listen."""

    def __init__(self, stream: LiveStream, queue_bytes: int, resume_bytes: int, max_gop_bytes: int) -> None:
        self.stream = stream
        self.viewers = ViewerSet(queue_bytes, resume_bytes)
        self.listeners: list[Callable[[TsPiece], None]] = []
        self.publish_listeners: list[Callable[[bool], None]] = []  #: told True on start, False on end
        self.holds_stream = False
        self.max_gop_bytes = max_gop_bytes
        self.gop: list[bytes] = []  #: TS since the latest keyframe (PAT/PMT first)
        self.gop_bytes = 0
        self._reset()

    def _reset(self) -> None:
        self.mux = TsMuxer()
        self.timeline = FlvTimeline(offset_ms=TS_OFFSET_MS)
        self.started = False  #: a keyframe (or, audio-only, a first audio frame) went out
        self.gop = []
        self.gop_bytes = 0
        self._warned: set[str] = set()
        self._restart = True
        self._last_psi_ms = 0

    # -- viewers ---------------------------------------------------------------------------

    def add_viewer(self, viewer: HttpViewer) -> None:
        viewer.protocol = "http-ts"
        self.viewers.add(viewer)
        self.holds_stream = True
        if self.gop:
            viewer.started = True
            self.viewers.send_to(viewer, b"".join(self.gop))

    def remove_viewer(self, viewer: HttpViewer) -> None:
        self.viewers.remove(viewer)
        self.holds_stream = bool(self.viewers.viewers)

    # -- MediaTap --------------------------------------------------------------------------

    def on_publish_start(self, stream: LiveStream) -> None:
        self._reset()
        for cb in self.publish_listeners:
            cb(True)

    def on_publish_end(self, stream: LiveStream) -> None:
        self.viewers.end_all()
        self.holds_stream = False
        for cb in self.publish_listeners:
            cb(False)
        self._reset()

    def on_sequence_header(self, stream: LiveStream, msg: CachedMessage) -> None:
        try:
            if msg.type_id == 9:
                self.mux.set_video(video_config(msg.payload))
            else:
                self.mux.set_audio(audio_config(msg.payload))
        except Exception as exc:  # noqa: BLE001 - an unusable header leaves the track out
            log.warning("%s/%s: sequence header not usable for TS: %s", stream.app, stream.name, exc)
            if msg.type_id == 9:
                self.mux.set_video(None)
            else:
                self.mux.set_audio(None)

    def on_media(self, stream: LiveStream, msg: CachedMessage, keyframe: bool) -> None:
        mux = self.mux
        if msg.type_id == 9:
            cfg = mux.video
            if cfg is None:
                return
            if not self.started and not keyframe:
                return
            try:
                tag = media.parse_video_tag(msg.payload)
                if tag.command is not None or tag.empty or not _coded_frames(tag):
                    return  # sequence headers, end-of-sequence, commands: nothing to decode
                nalus = media.split_nalus(tag.body, cfg.length_size)
            except Exception as exc:  # noqa: BLE001 - one bad frame is skipped, not fatal
                self._warn("video", f"frame at {msg.timestamp} ms not muxed: {exc}")
                return
            pts, dts = self.timeline.pts_dts(msg.timestamp, composition_time(msg.payload))
            data = mux.video_frame(pts, dts, nalus, keyframe)
            self._emit(TsPiece(data, keyframe, True, self.timeline.peek(msg.timestamp), pts))
        elif msg.type_id == 8:
            if mux.audio is None:
                return
            audio_only = mux.video is None
            if not self.started and not audio_only:
                return  # start at a video keyframe
            try:
                tag = media.parse_audio_tag(msg.payload)
                if tag.sequence_header or tag.empty:
                    return
            except Exception as exc:  # noqa: BLE001
                self._warn("audio", f"frame at {msg.timestamp} ms not muxed: {exc}")
                return
            pts = self.timeline.dts(msg.timestamp)
            ms = self.timeline.peek(msg.timestamp)
            # Audio only: PAT/PMT about once a second make the places to join and cut.
            start = audio_only and (not self.started or ms - self._last_psi_ms >= AUDIO_ONLY_PSI_MS)
            if start:
                self._last_psi_ms = ms
            data = (mux.psi() if start else b"") + mux.audio_frame(pts, tag.body)
            self._emit(TsPiece(data, start, False, ms, pts))

    def _emit(self, piece: TsPiece) -> None:
        if piece.keyframe:
            self.started = True
            self.gop = []
            self.gop_bytes = 0
            for v in self.viewers.viewers:
                v.started = True
        if self.gop_bytes + len(piece.data) <= self.max_gop_bytes:
            self.gop.append(piece.data)
            self.gop_bytes += len(piece.data)
        else:
            self.gop = []  # GOP-5's bound: joiners wait for the next keyframe
            self.gop_bytes = self.max_gop_bytes + 1
        piece.discontinuity = self._restart
        self._restart = False
        self.viewers.fanout(piece.data, piece.keyframe)
        for cb in self.listeners:
            cb(piece)

    def _warn(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s/%s: %s", self.stream.app, self.stream.name, text)
