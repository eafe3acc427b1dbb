"""One timestamp mapping for every output: FLV/RTMP milliseconds -> MPEG 90 kHz PTS/DTS.

RTMP carries a 32-bit millisecond decode timestamp per message (§5.3.1.1, wrapping at 2**32,
compared serially, TS-7) and, for AVC/HEVC, a signed 24-bit CompositionTime offset in the video
tag (FLV v10.1 E.4.3.1: "PTS = DTS + CompositionTime"). MPEG-TS PES headers carry 33-bit 90 kHz
PTS/DTS (ISO/IEC 13818-1 §2.4.3.7), which wrap at 2**33; HLS segment durations and RTSP/RTP
times derive from the same clock.

Every output (HTTP-TS, HLS, RTSP, recording) maps through :class:`FlvTimeline` so that a frame
published at RTMP time t has the same presentation time on every protocol, up to one constant
offset per output (the cross-protocol identity check relies on it):

    dts_90k = (unwrap(t) + offset_ms) * 90   mod 2**33
    pts_90k = (unwrap(t) + cts + offset_ms) * 90   mod 2**33

``unwrap`` turns the wrapping 32-bit ms into a continuous integer by serial steps from the
previous timestamp, so a publish that crosses 0xFFFFFFFF keeps increasing on the 90 kHz line.
"""

from __future__ import annotations

from typing import Final

from rtmpconf.rtmp import media

#: MPEG system clock for PTS/DTS (ISO/IEC 13818-1 §2.4.3.7: "in units of the period of the system
#: clock frequency divided by 300", i.e. 90 kHz).
MPEG_CLOCK_HZ: Final = 90_000
TICKS_PER_MS: Final = MPEG_CLOCK_HZ // 1000
#: PTS/DTS are 33-bit fields.
PTS_BITS: Final = 33
PTS_MASK: Final = (1 << PTS_BITS) - 1
#: PCR base runs on the same 90 kHz clock, plus a 27 MHz extension (0..299).
PCR_EXT_PER_TICK: Final = 300

_MS_MASK: Final = 0xFFFFFFFF
_MS_HALF: Final = 0x80000000
_AVC_LIKE: Final = (7, 12)  # legacy CodecID: AVC, HEVC (the non-standard 12 used by many servers)


def serial_step(new: int, old: int) -> int:
    """Signed distance new - old between two 32-bit ms timestamps (RFC 1982 serial arithmetic)."""
    d = (new - old) & _MS_MASK
    return d - 0x100000000 if d >= _MS_HALF else d


def composition_time(payload: bytes) -> int:
    """The video tag's CompositionTime (ms, signed); 0 for audio-less codecs, commands or errors.

    Legacy AVC/HEVC NALU packets are read in place (the hot path); enhanced (E-RTMP) tags go
    through the core's parser, which knows which packet types carry the field.
    """
    if len(payload) >= 5 and not payload[0] & 0x80:
        if (payload[0] & 0x0F) in _AVC_LIKE and payload[1] == 1:
            ct = (payload[2] << 16) | (payload[3] << 8) | payload[4]
            return ct - 0x1000000 if ct & 0x800000 else ct
        return 0
    try:
        return media.parse_video_tag(payload).composition_time
    except Exception:  # noqa: BLE001 - a malformed tag carries no usable offset
        return 0


class FlvTimeline:
    """Maps one stream's RTMP timestamps onto a continuous ms line and onto 90 kHz PTS/DTS.

    One instance per output per publish (a republish may restart the RTMP clock; the output
    decides whether that is a discontinuity). ``offset_ms`` is the output's constant offset.
    """

    __slots__ = ("_last_ext", "_last_in", "offset_ms")

    def __init__(self, offset_ms: int = 0) -> None:
        self.offset_ms = offset_ms
        self._last_in: int | None = None
        self._last_ext = 0

    def unwrap(self, ms: int) -> int:
        """A continuous ms value for the 32-bit timestamp ``ms`` (serial step from the last one)."""
        ms &= _MS_MASK
        if self._last_in is None:
            ext = ms
        else:
            ext = self._last_ext + serial_step(ms, self._last_in)
        self._last_in = ms
        self._last_ext = ext
        return ext

    def peek(self, ms: int) -> int:
        """What :meth:`unwrap` would return, without moving the reference point."""
        ms &= _MS_MASK
        if self._last_in is None:
            return ms
        return self._last_ext + serial_step(ms, self._last_in)

    def dts(self, ms: int) -> int:
        """90 kHz DTS (33 bits) for RTMP timestamp ``ms``; advances the unwrap reference."""
        return ((self.unwrap(ms) + self.offset_ms) * TICKS_PER_MS) & PTS_MASK

    def pts_dts(self, ms: int, cts: int = 0) -> tuple[int, int]:
        """(PTS, DTS) at 90 kHz for a frame with RTMP timestamp ``ms`` and CompositionTime ``cts``."""
        ext = self.unwrap(ms) + self.offset_ms
        return ((ext + cts) * TICKS_PER_MS) & PTS_MASK, (ext * TICKS_PER_MS) & PTS_MASK


def ticks_to_ms(ticks: int) -> float:
    """90 kHz ticks as milliseconds."""
    return ticks / TICKS_PER_MS


def pts_delta(new: int, old: int) -> int:
    """Signed distance new - old between two 33-bit 90 kHz values (wrap-aware)."""
    d = (new - old) & PTS_MASK
    return d - (1 << PTS_BITS) if d >= (1 << (PTS_BITS - 1)) else d
