"""FLV ms -> 90 kHz PTS/DTS, the mapping every output shares."""

from __future__ import annotations

import itertools

from rtmpconf.reference_server.mediatime import (
    PTS_MASK,
    FlvTimeline,
    composition_time,
    pts_delta,
    serial_step,
    ticks_to_ms,
)
from rtmpconf.rtmp import media


def test_dts_and_pts_from_timestamp_and_composition_time() -> None:
    tl = FlvTimeline()
    assert tl.pts_dts(0, 0) == (0, 0)
    assert tl.pts_dts(40, 80) == (120 * 90, 40 * 90)
    assert tl.dts(1000) == 90_000
    assert ticks_to_ms(90_000) == 1000.0


def test_constant_offset() -> None:
    tl = FlvTimeline(offset_ms=1400)
    assert tl.pts_dts(100, 40) == ((1540) * 90, 1500 * 90)


def test_unwrap_across_the_32_bit_boundary_keeps_increasing() -> None:
    tl = FlvTimeline()
    values = [0xFFFFFF00, 0xFFFFFFF0, 0x10, 0x50]
    ext = [tl.unwrap(v) for v in values]
    assert ext == [0xFFFFFF00, 0xFFFFFFF0, 0x100000010, 0x100000050]
    assert all(b > a for a, b in itertools.pairwise(ext))
    # And on the 90 kHz line the step is the real step, wrap of 33 bits included.
    tl2 = FlvTimeline()
    d1 = tl2.dts(0xFFFFFFF0)
    d2 = tl2.dts(0x10)
    assert pts_delta(d2, d1) == 0x20 * 90


def test_small_backward_step_stays_backward() -> None:
    tl = FlvTimeline()
    assert tl.unwrap(1000) == 1000
    assert tl.unwrap(990) == 990
    assert tl.peek(5) == 5 and tl.unwrap(995) == 995


def test_pts_is_33_bits() -> None:
    tl = FlvTimeline(offset_ms=(PTS_MASK // 90) + 10)
    pts, dts = tl.pts_dts(0)
    assert 0 <= pts <= PTS_MASK and pts == dts


def test_serial_step_and_pts_delta_signs() -> None:
    assert serial_step(5, 0xFFFFFFFB) == 10
    assert serial_step(0xFFFFFFFB, 5) == -10
    assert pts_delta(5, PTS_MASK - 4) == 10
    assert pts_delta(PTS_MASK - 4, 5) == -10


def test_composition_time_legacy_and_enhanced() -> None:
    assert composition_time(media.build_avc_video(1, 1, 80, b"\x00\x00\x00\x01\x65")) == 80
    assert composition_time(media.build_avc_video(2, 1, -40, b"\x00\x00\x00\x01\x41")) == -40
    assert composition_time(media.build_avc_video(1, 0, 0, b"\x01\x42")) == 0  # sequence header
    ex = media.build_ex_video(1, media.VideoPacketType.CODED_FRAMES, "hvc1", b"\x00\x00\x00\x01\x26",
                              cts=33)
    assert composition_time(ex) == 33
    assert composition_time(b"") == 0
