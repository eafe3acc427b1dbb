"""HTTP-FLV: the live stream as an FLV file body (FLV v10.1 Annex E), encoded once per tag.

A viewer gets the FLV header, onMetaData, the sequence headers and the cached GOP from its
keyframe (GOP-1's order, header timestamps never after the first frame: GOP-6), then live tags.
Tag timestamps are the stream's corrected RTMP timestamps, unchanged: a frame has the same time
over RTMP and HTTP-FLV (the cross-protocol identity check relies on it).
"""

from __future__ import annotations

import struct
from typing import Any

from rtmpconf.reference_server.http.viewers import HttpViewer, ViewerSet
from rtmpconf.reference_server.streams import CachedMessage, LiveStream, MediaTap
from rtmpconf.rtmp import amf0

#: FLV v10.1 E.2: "FLV", version 1, TypeFlags (bit 2 audio, bit 0 video), DataOffset 9.
FLAG_AUDIO = 0x04
FLAG_VIDEO = 0x01
_TAG_HEADER = struct.Struct(">BHBHBBHB")  # type, size (24: 16 + 8), ts low 24 (16 + 8), ts ext, stream id 24


def flv_header(audio: bool, video: bool) -> bytes:
    """The 9-byte FLV header plus PreviousTagSize0 (always 0, E.3)."""
    flags = (FLAG_AUDIO if audio else 0) | (FLAG_VIDEO if video else 0)
    return b"FLV\x01" + bytes([flags]) + b"\x00\x00\x00\x09" + b"\x00\x00\x00\x00"


def flv_tag(type_id: int, timestamp: int, payload: bytes) -> bytes:
    """One FLV tag (E.4.1) followed by its PreviousTagSize: 11 + data bytes.

    Timestamp: lower 24 bits, then TimestampExtended as the upper 8 bits; StreamID always 0.
    """
    size = len(payload)
    ts = timestamp & 0xFFFFFFFF
    head = _TAG_HEADER.pack(type_id, size >> 8, size & 0xFF, ts >> 8 & 0xFFFF, ts & 0xFF, ts >> 24 & 0xFF, 0, 0)
    return b"".join((head, payload, (11 + size).to_bytes(4, "big")))


def header_flags(snapshot_audio: bool, snapshot_video: bool, metadata: CachedMessage | None) -> tuple[bool, bool]:
    """Which tracks the header announces: those with a sequence header or declared in onMetaData."""
    audio, video = snapshot_audio, snapshot_video
    if metadata is not None:
        try:
            values = amf0.decode_all(metadata.payload)
            obj: Any = values[1] if len(values) > 1 else {}
            if isinstance(obj, dict):
                audio = audio or "audiocodecid" in obj
                video = video or "videocodecid" in obj
        except Exception:  # noqa: BLE001, S110 - a bad metadata object only loses the hint
            pass
    return audio, video


class FlvOutput(MediaTap):
    """HTTP-FLV viewers of one live stream: each tag encoded once, the same bytes to all."""

    holds_stream = False  # set per instance: True while a viewer waits

    def __init__(self, stream: LiveStream, queue_bytes: int, resume_bytes: int) -> None:
        self.stream = stream
        self.viewers = ViewerSet(queue_bytes, resume_bytes)
        self.holds_stream = False

    # -- viewers ---------------------------------------------------------------------------

    def add_viewer(self, viewer: HttpViewer) -> None:
        viewer.protocol = "http-flv"
        self.viewers.add(viewer)
        self.holds_stream = True
        snap = self.stream.snapshot()
        if snap.publishing and (snap.gop or (snap.video_sh is None and snap.audio_sh is not None)):
            self._start(viewer, list(snap.gop))

    def remove_viewer(self, viewer: HttpViewer) -> None:
        self.viewers.remove(viewer)
        self.holds_stream = bool(self.viewers.viewers)

    def _start(self, viewer: HttpViewer, gop: list[CachedMessage]) -> None:
        """FLV header, metadata, sequence headers, then ``gop`` (which starts at a keyframe)."""
        s = self.stream
        audio, video = header_flags(s.audio_sh is not None, s.video_sh is not None, s.metadata)
        first_ts = gop[0].timestamp if gop else None
        parts = [flv_header(audio, video)]
        for h in (s.metadata, s.video_sh, s.audio_sh):
            if h is None:
                continue
            ts = h.timestamp
            if first_ts is not None and _serial_lt(first_ts, ts):
                ts = first_ts  # GOP-6: a header never carries a time after the first frame
            parts.append(flv_tag(h.type_id, ts, h.payload))
        parts.extend(flv_tag(m.type_id, m.timestamp, m.payload) for m in gop)
        viewer.started = True
        self.viewers.send_to(viewer, b"".join(parts))

    # -- MediaTap --------------------------------------------------------------------------

    def on_publish_end(self, stream: LiveStream) -> None:
        # The FLV body ends with the publish: a republish may change codecs and restart time.
        self.viewers.end_all()
        self.holds_stream = False

    def on_metadata(self, stream: LiveStream, msg: CachedMessage) -> None:
        self.viewers.fanout(flv_tag(18, msg.timestamp, msg.payload), False)

    def on_sequence_header(self, stream: LiveStream, msg: CachedMessage) -> None:
        self.viewers.fanout(flv_tag(msg.type_id, msg.timestamp, msg.payload), False)

    def on_media(self, stream: LiveStream, msg: CachedMessage, keyframe: bool) -> None:
        viewers = self.viewers
        if not viewers.viewers:
            return
        if keyframe or (msg.type_id == 8 and stream.video_sh is None):
            for v in viewers.viewers:
                if not v.started:
                    # A viewer that arrived before the publisher (or before the first keyframe)
                    # starts here, with the headers; the keyframe itself follows in the fan-out.
                    self._start(v, [])
        viewers.fanout(flv_tag(msg.type_id, msg.timestamp, msg.payload), keyframe)


def _serial_lt(a: int, b: int) -> bool:
    return a != b and ((b - a) & 0xFFFFFFFF) < 0x80000000
