"""Timestamp policy of the reference server (documented in README, "Timestamp policy").

Applied once per published message, before fan-out, so every player sees the same times:

1. **Monotonic per track** (TS-12): small backward steps (B-frame muxers, cross-track
   disorder of a few ms) are clamped to the last output time of that track.
2. **Discontinuities are rebased** (TS-12): a step of more than ``max_backward_jump_ms``
   back or ``max_forward_jump_ms`` forward on a track shifts the whole stream's offset so the
   output continues one nominal frame after the last output. Both tracks share the offset,
   so A/V stay aligned.
3. **Headers do not count**: metadata and sequence headers take the stream offset and are kept
   monotonic, but never trigger a rebase (muxers stamp them 0 ahead of frames at any time).
4. **AAC cadence** (TS-15/16, seed 003): AAC frames are re-stamped on the exact clock
   ``anchor + n * 1024 * 1000 / rate``. The error between the publisher's time and that clock
   is tracked; when it exceeds half a frame (10.67 ms at 48 kHz) the clock resyncs to the
   publisher's time (a real gap), and the error is cleared.

All arithmetic is modulo 2**32 with serial comparison (TS-7, RFC 1982).
"""

from __future__ import annotations

MASK = 0xFFFFFFFF
HALF = 0x80000000
#: The step used after a discontinuity when the track has no better estimate (ms).
DEFAULT_STEP_MS = 1
#: AAC frames carry 1024 samples (ISO 14496-3 AAC-LC frame length).
AAC_FRAME_SAMPLES = 1024


def serial_delta(a: int, b: int) -> int:
    """Signed difference a - b of two 32-bit timestamps (RFC 1982)."""
    d = (a - b) & MASK
    return d - 0x100000000 if d >= HALF else d


class _Track:
    __slots__ = ("last_out", "last_in", "step")

    def __init__(self) -> None:
        self.last_out: int | None = None
        self.last_in: int | None = None
        self.step = DEFAULT_STEP_MS


class StreamClock:
    """Corrects one published stream's timestamps (all tracks share one offset)."""

    def __init__(self, *, max_forward_jump_ms: int = 10_000, max_backward_jump_ms: int = 1_000,
                 aac_cadence: bool = True) -> None:
        self.max_forward = max_forward_jump_ms
        self.max_backward = max_backward_jump_ms
        self.aac_cadence = aac_cadence
        self.offset = 0
        self.rebases = 0  #: discontinuities handled
        self.clamps = 0  #: small backward steps clamped
        self.aac_resyncs = 0  #: AAC clock resyncs
        self._tracks: dict[int, _Track] = {}
        self._aac_rate: int | None = None
        self._aac_anchor: float | None = None
        self._aac_n = 0

    def set_aac_rate(self, rate: int | None) -> None:
        """Sample rate from the AudioSpecificConfig; a change restarts the cadence clock."""
        if rate != self._aac_rate:
            self._aac_rate = rate
            self._aac_anchor = None

    def correct(self, track: int, ts: int, *, aac_frame: bool = False, header: bool = False) -> int:
        """Output timestamp for an input timestamp on ``track`` (8 audio, 9 video, 18 data).

        ``header`` marks metadata and sequence headers: muxers stamp them 0 or the stream start
        (FFmpeg's FLV muxer writes them at 0 even with -output_ts_offset), so they neither set
        nor move a track's baseline; they are only kept monotonic.
        """
        tr = self._tracks.get(track)
        if tr is None:
            tr = self._tracks[track] = _Track()
        if header:
            out = (ts + self.offset) & MASK
            if tr.last_out is not None and serial_delta(out, tr.last_out) < 0:
                out = tr.last_out
            return out
        if tr.last_in is not None:
            d = serial_delta(ts, tr.last_in)
            if 0 < d <= 1000:
                tr.step = d
        tr.last_in = ts
        out = (ts + self.offset) & MASK
        if tr.last_out is not None:
            d = serial_delta(out, tr.last_out)
            if d > self.max_forward or d < -self.max_backward:
                # A discontinuity: continue one step after the last output.
                target = (tr.last_out + tr.step) & MASK
                self.offset = (self.offset + serial_delta(target, out)) & MASK
                out = target
                self.rebases += 1
                self._aac_anchor = None
            elif d < 0:
                out = tr.last_out
                self.clamps += 1
        if aac_frame and self.aac_cadence and self._aac_rate:
            out = self._aac(out, tr)
        tr.last_out = out
        return out

    def _aac(self, out: int, tr: _Track) -> int:
        frame_ms = AAC_FRAME_SAMPLES * 1000.0 / float(self._aac_rate or 1)
        if self._aac_anchor is None:
            self._aac_anchor = float(out)
            self._aac_n = 0
        expected = self._aac_anchor + self._aac_n * frame_ms
        # Compare on the serial line so a 32-bit wrap is not mistaken for a gap.
        err = serial_delta(out, int(round(expected)) & MASK)
        if abs(err) > frame_ms / 2:
            self._aac_anchor = float(self._aac_anchor + self._aac_n * frame_ms + err)
            self._aac_n = 0
            self.aac_resyncs += 1
            expected = self._aac_anchor
        self._aac_n += 1
        result = int(round(expected)) & MASK
        if tr.last_out is not None and serial_delta(result, tr.last_out) < 0:
            result = tr.last_out
        return result
