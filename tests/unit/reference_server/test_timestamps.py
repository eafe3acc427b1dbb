"""Timestamp policy of the reference server (README "Timestamp policy")."""

from __future__ import annotations

from rtmpconf.reference_server.timestamps import StreamClock, serial_delta


def test_serial_delta_wraps() -> None:
    assert serial_delta(0x100, 0xFFFFFF00) == 0x200
    assert serial_delta(0xFFFFFF00, 0x100) == -0x200


def test_passthrough_when_regular() -> None:
    c = StreamClock(aac_cadence=False)
    assert [c.correct(9, t) for t in (3_600_000, 3_600_040, 3_600_080)] == [3_600_000, 3_600_040, 3_600_080]


def test_small_backward_step_is_clamped() -> None:
    c = StreamClock()
    assert [c.correct(9, t) for t in (1000, 1040, 1030, 1080)] == [1000, 1040, 1040, 1080]
    assert c.clamps == 1


def test_jump_back_and_forward_rebases_and_stays_monotonic() -> None:
    # TS-12: the publisher jumps back 5 s and then forward 1 h.
    c = StreamClock(aac_cadence=False)
    out = [c.correct(9, t) for t in (10_000, 10_040, 5_080, 5_120, 3_605_160, 3_605_200)]
    assert out == sorted(out)
    assert all(0 < b - a <= 40 for a, b in zip(out, out[1:]))
    assert c.rebases == 2


def test_tracks_share_the_offset() -> None:
    c = StreamClock(aac_cadence=False)
    c.correct(9, 10_000)
    c.correct(8, 10_010)
    v = c.correct(9, 100_000)  # jump forward 90 s on video: rebase
    a = c.correct(8, 100_011)  # audio jumped the same way: follows without its own rebase
    assert v == 10_040 or v == 10_001 or 10_000 < v <= 10_040
    assert 0 < a - v < 40
    assert c.rebases == 1


def test_headers_do_not_move_the_baseline() -> None:
    c = StreamClock(aac_cadence=False)
    assert c.correct(9, 0, header=True) == 0
    assert c.correct(9, 16_775_000) == 16_775_000
    assert c.correct(9, 16_775_040) == 16_775_040
    assert c.rebases == 0


def test_aac_cadence_exact_and_no_drift() -> None:
    # TS-16: 21/21/22 input gives the exact 1024/48000 clock, no drift after 10^5 frames.
    c = StreamClock()
    c.set_aac_rate(48000)
    out = []
    for n in range(100_000):
        ts = round(n * 1024 * 1000 / 48000)
        out.append(c.correct(8, ts, aac_frame=True))
    assert out[-1] == round(99_999 * 1024 * 1000 / 48000)
    assert all(o == round(n * 1024 * 1000 / 48000) for n, o in enumerate(out))
    assert c.aac_resyncs == 0


def test_aac_rounded_delta_publisher_is_corrected_with_resyncs() -> None:
    # A sender adding a rounded 21 ms per frame drifts -1/3 ms per frame (TS-15); the clock
    # stays exact and resyncs whenever the error passes half a frame.
    c = StreamClock()
    c.set_aac_rate(48000)
    out = [c.correct(8, 21 * n, aac_frame=True) for n in range(200)]
    assert out == sorted(out)
    assert c.aac_resyncs >= 1
    assert all(abs(o - 21 * n) <= 11 for n, o in enumerate(out))


def test_aac_real_gap_resyncs_exactly_once() -> None:
    c = StreamClock()
    c.set_aac_rate(48000)
    stamps = [round(n * 1024 * 1000 / 48000) for n in range(50)]
    stamps += [s + 50 + stamps[-1] + 21 for s in stamps]  # a 50 ms gap, then regular again
    out = [c.correct(8, t, aac_frame=True) for t in stamps]
    assert c.aac_resyncs == 1
    assert out[50] == stamps[50]


def test_wrap_of_32_bits_is_continuous() -> None:
    c = StreamClock(aac_cadence=False)
    out = [c.correct(9, t & 0xFFFFFFFF) for t in range(0xFFFFFF00, 0x100000100, 40)]
    assert c.rebases == 0 and c.clamps == 0
    assert out[-1] < 0x1000
