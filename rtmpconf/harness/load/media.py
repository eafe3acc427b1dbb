"""Pre-encoded real H.264/AAC for load publishers: a short loop at a real bitrate, plus the latency marker.

The stream
----------
``load_media()`` encodes a 4.8 s loop once per process with :func:`harness.testmedia.make_h264_aac`
(1280x720, 25 fps, a keyframe every 2.4 s, AAC LC 48 kHz stereo 128 kb/s). 4.8 s is a whole
number of AAC frames (225 x 1024 samples), so the loop repeats without an audio gap. libx264's
rate control on the synthetic picture lands below the requested total (2.5 Mbit/s by default),
so every video frame is padded with an H.264 *filler data* NAL unit (type 12, ISO/IEC 14496-10
§7.3.2.7: the standard's own way to pad a stream to a constant rate) up to the exact budget.
Decoders skip filler NALs; servers relay them like any other bytes. The loop's real bitrate is
reported in ``LoopedMedia.bitrate`` (payload bits per second, audio included).

The latency marker
------------------
Every coded video frame starts with one more NAL unit: an SEI ``user_data_unregistered``
message (payload type 5) whose UUID is ``b"rtmpconf-latency"`` and whose 24 bytes of user data
are ASCII hex: the publisher's ``time.time_ns()`` at send (16 digits), then publisher id (2
digits) and frame sequence number (6 digits). ASCII hex never contains ``00 00``, so no emulation
prevention bytes are needed and the SEI stays a valid NAL a real player ignores. Players find
it at a fixed offset (after the 5-byte FLV AVC tag header), so they read 53 bytes per frame and
nothing else. Publisher and players must share a clock: the same machine, or NTP-synchronised
machines (then latency is only as good as the synchronisation).
"""

from __future__ import annotations

import functools
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass

DEFAULT_BITRATE = 2_500_000
LOOP_SECONDS = 4.8  # 225 AAC frames at 48 kHz, 120 video frames at 25 fps
FPS = 25
GOP = 60  # frames: a keyframe every 2.4 s
#: libx264 ABR target that lands just under 2.5 Mbit/s total on the synthetic 720p picture.
X264_TARGET_FRACTION = 0.76

MARKER_UUID = b"rtmpconf-latency"  # 16 bytes: uuid_iso_iec_11578 of the SEI
_SEI_PAYLOAD = 16 + 24
_MARKER_NAL_LEN = 1 + 1 + 1 + _SEI_PAYLOAD + 1  # NAL header, type, size, uuid+data, rbsp trailing bits
#: 4-byte AVCC length, NAL header 0x06 (SEI), payloadType 5, payloadSize 40, UUID.
MARKER_PREFIX = struct.pack(">I", _MARKER_NAL_LEN) + bytes((0x06, 0x05, _SEI_PAYLOAD)) + MARKER_UUID
MARKER_PREFIX_AT = 5  # after FrameType/CodecID, AVCPacketType, CompositionTime
MARKER_TIME_AT = MARKER_PREFIX_AT + len(MARKER_PREFIX)  # 28: 16 hex digits of time_ns
MARKER_SEQ_AT = MARKER_TIME_AT + 16  # 44: 8 hex digits: publisher id (2) + sequence (6)
MARKER_PEEK = MARKER_SEQ_AT + 8 + 1  # 53: payload bytes a player reads per video frame
MARKER_BYTES = 4 + _MARKER_NAL_LEN  # 48 bytes added to every coded frame
#: Marked frames at the start of a publish (sequence numbers below this) that load players count
#: but do not time: 0.48 s at 25 fps. They carry start-up, not fan-out: measured at 100 players,
#: the first frame reached the reference server 4.7 ms after the publisher stamped it (the
#: publisher's own start), and one generator worker read frames 1-2 23-45 ms late with both the
#: reference server and nginx-rtmp (a player's read then carries the timestamp of its latest
#: segment). Those 2 % of a 6 s step's samples were its whole p99.
LATENCY_WARMUP_FRAMES = 12


@dataclass(frozen=True, slots=True)
class LoopFrame:
    """One message of the loop; video frames are split where the marker goes."""

    type_id: int  # 8 audio, 9 video
    timestamp: int  # ms within the loop
    head: bytes  # video: the 5-byte FLV AVC header; audio: the whole payload
    body: bytes  # video: NAL units after the marker (filler included); audio: b""
    keyframe: bool


@dataclass(frozen=True, slots=True)
class LoopedMedia:
    """Metadata, sequence headers and one loop of frames; see the module doc."""

    metadata: bytes  # AMF0 ["@setDataFrame", "onMetaData", {...}]
    video_sequence_header: bytes
    audio_sequence_header: bytes
    frames: tuple[LoopFrame, ...]
    loop_ms: int
    bitrate: int  # payload bits per second of one loop, markers and audio included
    width: int
    height: int

    def schedule(self) -> Iterator[tuple[int, LoopFrame]]:
        """Endless (timestamp ms, frame): the loop repeated, timestamps continuing."""
        base = 0
        while True:
            for f in self.frames:
                yield base + f.timestamp, f
            base += self.loop_ms

    @property
    def frames_per_second(self) -> float:
        return sum(1 for f in self.frames if f.type_id == 9) * 1000.0 / self.loop_ms


def marked_payload(frame: LoopFrame, publisher_id: int, seq: int, now_ns: int | None = None) -> bytes:
    """The video payload with the marker stamped with ``now_ns`` (default: now)."""
    t = time.time_ns() if now_ns is None else now_ns
    stamp = b"%016x%02x%06x\x80" % (t, publisher_id & 0xFF, seq & 0xFFFFFF)
    return b"".join((frame.head, MARKER_PREFIX, stamp, frame.body))


def filler_nal(size: int) -> bytes:
    """An AVCC filler data NAL unit of exactly ``size`` bytes including its 4-byte length (>= 6)."""
    nal_len = size - 4
    # nal_unit_type 12, then 0xFF bytes, then rbsp_trailing_bits (§7.3.2.7).
    return struct.pack(">I", nal_len) + b"\x0c" + b"\xff" * (nal_len - 2) + b"\x80"


@functools.lru_cache(maxsize=8)
def load_media(bitrate: int = DEFAULT_BITRATE, width: int = 1280, height: int = 720) -> LoopedMedia:
    """Encode (once per process and arguments) the loop; see the module doc."""
    from rtmpconf.harness.testmedia import make_h264_aac
    from rtmpconf.rtmp import media

    src = make_h264_aac(seconds=LOOP_SECONDS, width=width, height=height, fps=FPS, gop=GOP,
                        bitrate=max(100_000, int(bitrate * X264_TARGET_FRACTION)))
    assert src.audio_sequence_header is not None
    avcc = media.AvcDecoderConfig.parse(media.parse_video_tag(src.video_sequence_header).body)
    if avcc.length_size != 4:
        raise RuntimeError("the encoder's avcC does not use 4-byte NAL lengths; the marker assumes it")
    loop_ms = int(LOOP_SECONDS * 1000)
    tags = [t for t in src.tags if t.timestamp < loop_ms]
    video = [t for t in tags if t.type_id == 9]
    audio_bytes = sum(len(t.payload) for t in tags if t.type_id == 8)
    video_bytes = sum(len(t.payload) + MARKER_BYTES for t in video)
    budget = bitrate * loop_ms // 8000 - audio_bytes  # video payload bytes per loop
    pad_total = max(0, budget - video_bytes)
    frames: list[LoopFrame] = []
    vi = 0
    for t in tags:
        if t.type_id != 9:
            frames.append(LoopFrame(8, t.timestamp, t.payload, b"", False))
            continue
        # Spread the padding evenly; the first frames take the remainder.
        pad = pad_total // len(video) + (1 if vi < pad_total % len(video) else 0)
        vi += 1
        filler = filler_nal(pad) if pad >= 6 else b""
        frames.append(LoopFrame(9, t.timestamp, t.payload[:5], t.payload[5:] + filler, t.keyframe))
    total = sum(len(f.head) + len(f.body) + (MARKER_BYTES if f.type_id == 9 else 0) for f in frames)
    return LoopedMedia(
        metadata=src.metadata, video_sequence_header=src.video_sequence_header,
        audio_sequence_header=src.audio_sequence_header, frames=tuple(frames), loop_ms=loop_ms,
        bitrate=total * 8000 // loop_ms, width=width, height=height,
    )
