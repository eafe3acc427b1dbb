"""Timestamp checkers against good and deliberately broken servers' traffic (harness/checks/timestamps.py).

Each broken server is a wire log a real bug would produce: a 24-bit truncated timestamp, a delta
advanced per chunk, a mixed fmt-3 dialect, a backward step written as an unsigned delta, ...
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Sequence

from rtmpconf.harness.checks import relay
from rtmpconf.harness.checks import timestamps as ts
from rtmpconf.harness.checks.media import audio_tag, synthetic_stream, video_tag
from rtmpconf.harness.testmedia import MediaTag
from rtmpconf.harness.verdict import Verdict
from rtmpconf.harness.wirelog import S2C, WireLog
from rtmpconf.rtmp.chunk import MessagePlan
from rtmpconf.rtmp.messages import SetChunkSize
from tests.unit.checks.fakes import MSID, LogBuilder, play_start, player_builder, player_log, send, v

STREAM = synthetic_stream(start_ms=3_600_000, seconds=0.6)


# -- helpers ----------------------------------------------------------------------------------------


def test_serial_delta_wraps() -> None:
    assert relay.serial_delta(0x100, 0xFFFFFF00) == 0x200
    assert relay.serial_delta(0x80000100, 0x7FFFFF00) == 0x200
    assert relay.serial_delta(0, 0xFFFFFFF0) == 16


def test_match_tolerates_a_cached_header_sent_twice() -> None:
    log = player_log(STREAM[:2] + STREAM)
    m = relay.match_relayed(log, STREAM)
    assert not m.unknown and not m.missing


# -- check_relayed_timing ---------------------------------------------------------------------------


def test_relay_exact_passes() -> None:
    f = ts.check_relayed_timing(player_log(STREAM), STREAM, rule="TS-1")
    assert v(f) is Verdict.PASS


def test_relay_truncated_to_24_bits_fails() -> None:
    # A server that keeps only the 24-bit field: 16777215 + 40 ms comes out near 0.
    tags = synthetic_stream(start_ms=0xFFFFFF - 200, seconds=0.5)
    log = player_log(tags, ts_map=lambda i, t: t & 0xFFFFFF)
    f = ts.check_relayed_timing(log, tags, rule="TS-6")
    assert v(f) is Verdict.FAIL
    assert any("timing disturbed" in x.message for x in f)


def test_relay_rebase_is_only_recorded() -> None:
    log = player_log(STREAM, ts_map=lambda i, t: t - 3_600_000)
    f = ts.check_relayed_timing(log, STREAM, rule="TS-1")
    assert v(f) is Verdict.INFORMATIONAL
    assert any("shifted by -3600000" in x.message for x in f)


def test_relay_small_adjustment_is_informational() -> None:
    log = player_log(STREAM, ts_map=lambda i, t: t + (1 if i == 9 else 0))
    assert v(ts.check_relayed_timing(log, STREAM, rule="TS-1")) is Verdict.INFORMATIONAL


def test_relay_corrupted_payload_fails() -> None:
    f = ts.check_relayed_timing(player_log(STREAM, corrupt=[7]), STREAM, rule="TS-5")
    assert v(f) is Verdict.FAIL
    assert any("never sent" in x.message for x in f)


def test_relay_corruption_verdict_follows_the_level() -> None:
    f = ts.check_relayed_timing(player_log(STREAM, corrupt=[7]), STREAM, rule="TS-5", violation=Verdict.NON_STRICT)
    assert v(f) is Verdict.NON_STRICT


def test_relay_missing_frame_fails_for_an_early_player() -> None:
    f = ts.check_relayed_timing(player_log(STREAM, drop=[10]), STREAM, rule="TS-1")
    assert v(f) is Verdict.FAIL


def test_relay_late_joiner_tail_passes() -> None:
    first_key = next(i for i, t in enumerate(STREAM) if t.keyframe)
    later = [i for i in range(2, len(STREAM)) if i < first_key + 8]
    f = ts.check_relayed_timing(player_log(STREAM, drop=later), STREAM, rule="TS-1", expect_all=False)
    assert v(f) is Verdict.PASS


def test_relay_nothing_received_fails() -> None:
    log = player_builder().log
    assert v(ts.check_relayed_timing(log, STREAM, rule="TS-1")) is Verdict.FAIL


# -- check_csid_deltas ------------------------------------------------------------------------------


def deltas_log(video_deltas: Sequence[int], audio_deltas: Sequence[int] = ()) -> WireLog:
    b = player_builder()
    t = 1000
    for i, d in enumerate(video_deltas):
        t += d
        send(b, video_tag(i, t))
    t = 1000
    for i, d in enumerate(audio_deltas):
        t += d
        send(b, audio_tag(i, t))
    return b.log


def test_csid_deltas_pass() -> None:
    f = ts.check_csid_deltas(deltas_log([40] * 10, [21, 21, 22] * 4), {9: {40}, 8: {21, 22}}, rule="TS-11")
    assert v(f) is Verdict.PASS


def test_csid_deltas_advanced_per_chunk_fails() -> None:
    # A server that adds the delta for each of the 4 chunks: 160 ms instead of 40.
    f = ts.check_csid_deltas(deltas_log([160] * 10), {9: {40}}, rule="TS-9")
    assert v(f) is Verdict.FAIL
    assert f[0].actual == "160 ms"


def test_csid_deltas_shared_state_fails() -> None:
    # Audio's 21 ms delta leaking onto video (one timestamp state for both chunk streams).
    f = ts.check_csid_deltas(deltas_log([40, 40, 21, 40, 40], [21] * 6), {9: {40}, 8: {21, 22}}, rule="TS-11")
    assert v(f) is Verdict.FAIL


def test_csid_deltas_too_few_frames_fails() -> None:
    assert v(ts.check_csid_deltas(deltas_log([40]), {9: {40}}, rule="TS-9")) is Verdict.FAIL


# -- check_extended_form ----------------------------------------------------------------------------


def test_extended_form_for_large_values_passes() -> None:
    log = player_log([video_tag(1, 0xFFFFFF, key=True)])
    assert v(ts.check_extended_form(log)) is Verdict.PASS


def test_extended_form_for_small_value_is_non_strict() -> None:
    b = player_builder()
    payload = video_tag(1, 100, key=True, size=50).payload
    b.s2c(b"\x06"  # fmt 0, csid 6
          + b"\xff\xff\xff"  # timestamp field 0xFFFFFF: extended field follows
          + len(payload).to_bytes(3, "big") + b"\x09" + struct.pack("<I", MSID)  # length, video, msid 1 (LE)
          + struct.pack(">I", 100)  # extended timestamp 100: would fit the 24-bit field
          + payload)
    assert v(ts.check_extended_form(b.log)) is Verdict.NON_STRICT


def test_extended_form_unobserved_is_not_run() -> None:
    log = player_log(STREAM)
    assert v(ts.check_extended_form(log)) is Verdict.NOT_RUN
    assert ts.check_extended_form(log, quiet_if_unobserved=True) == []


# -- check_fmt3_ext_dialect -------------------------------------------------------------------------

BIG = [video_tag(i, 0x01000000 + 40 * i, key=i == 0, size=9000) for i in range(3)]


def fmt0_each(tags: Sequence[MediaTag], ext_flags: Sequence[bool]) -> WireLog:
    """Every message fmt 0 (so each carries the extended field), fmt-3 ext on or off per message."""
    b = player_builder()
    for t, flag in zip(tags, ext_flags):
        send(b, t, plan=MessagePlan(fmt=0, ext_ts_on_fmt3=flag))
    return b.log


def test_dialect_present_passes() -> None:
    f = ts.check_fmt3_ext_dialect(fmt0_each(BIG, [True] * 3), BIG)
    assert v(f) is Verdict.PASS and "repeated" in f[0].message


def test_dialect_omitted_fails() -> None:
    # §5.3.1.3 (2012): the 4 bytes are required; the old dialect is consistent but breaks the MUST.
    f = ts.check_fmt3_ext_dialect(fmt0_each(BIG, [False] * 3), BIG)
    assert v(f) is Verdict.FAIL and "omits" in f[0].message


def test_dialect_mixed_fails() -> None:
    f = ts.check_fmt3_ext_dialect(fmt0_each(BIG, [True, False, True]), BIG)
    assert v(f) is Verdict.FAIL


def test_dialect_wrong_value_fails() -> None:
    # 4 bytes are there on the continuation chunk, but hold 0x12345678 instead of the timestamp.
    b = player_builder()
    payload = BIG[0].payload
    first = payload[:4096]
    b.s2c(b"\x06" + b"\xff\xff\xff" + len(payload).to_bytes(3, "big") + b"\x09" + struct.pack("<I", MSID)
          + struct.pack(">I", 0x01000000) + first  # fmt 0 csid 6, extended ts 0x01000000, first 4096 bytes
          + b"\xc6" + b"\x12\x34\x56\x78" + payload[4096:8192]  # fmt 3 csid 6 + 4 wrong bytes
          + b"\xc6" + b"\x12\x34\x56\x78" + payload[8192:])
    f = ts.check_fmt3_ext_dialect(b.log, BIG[:1])
    assert v(f) is Verdict.FAIL and "another value" in f[0].message


def test_dialect_coincidence_is_not_mixing() -> None:
    # Omitted dialect, but one continuation chunk's payload happens to start with the timestamp.
    ext = 0x01000000
    body = bytearray(BIG[0].payload)
    body[4096:4100] = struct.pack(">I", ext)
    tag = MediaTag(9, ext, bytes(body), True, False)
    f = ts.check_fmt3_ext_dialect(fmt0_each([tag], [False]), [tag])
    assert v(f) is Verdict.FAIL and "omits" in f[0].message and "mix" not in f[0].message


def test_dialect_unobserved_is_not_run() -> None:
    # Never a PASS (nor INFORMATIONAL) for a rule whose trigger did not happen.
    log = player_log(STREAM)
    f = ts.check_fmt3_ext_dialect(log)
    assert v(f) is Verdict.NOT_RUN and "no header with the extended field" in f[0].message
    assert ts.check_fmt3_ext_dialect(log, quiet_if_unobserved=True) == []


def test_dialect_unobserved_names_the_one_chunk_messages() -> None:
    # Extended headers, but each opens a message that fits one chunk and the next header is fmt 1.
    tags = [video_tag(i, 0x01000000 + 40 * i, key=i == 0, size=300 + i) for i in range(3)]
    f = ts.check_fmt3_ext_dialect(player_log(tags), tags)
    assert v(f) is Verdict.NOT_RUN and "each in one chunk" in f[0].message


# -- check_server_extended_delta ----------------------------------------------------------------------

#: Sequence headers at 1000, frames from 1000 + 0x01000000: each csid sees a step of 0x01000000,
#: which is not the frame's absolute timestamp.
FAR = [dataclasses.replace(t, timestamp=1000) if t.sequence_header else t
       for t in synthetic_stream(start_ms=1000 + 0x01000000, seconds=0.3)]


def test_extended_delta_holding_the_step_passes() -> None:
    f = ts.check_server_extended_delta(player_log(FAR), FAR)
    assert v(f) is Verdict.PASS and "each the publisher's step" in f[-1].message


def absolute_in_extended(tags: Sequence[MediaTag]) -> WireLog:
    """A server (lal's writer) that puts the absolute timestamp in a fmt 1/2 extended field."""
    b = player_builder()
    for t in tags:
        csid = 4 if t.type_id == 8 else 6
        fmt, field = b.server.choose(csid, t.type_id, MSID, t.timestamp, len(t.payload))
        if fmt in (1, 2) and field >= 0xFFFFFF:
            plan = MessagePlan(fmt=fmt, ts_field=t.timestamp, update_state=False)
            b.s2c(b"".join(b.server.encode_planned(csid, t.type_id, MSID, t.timestamp, t.payload, plan)))
            b.server._remember(csid, fmt, field, t.type_id, MSID, len(t.payload))
        else:
            send(b, t)
    return b.log


def test_extended_field_holding_the_absolute_timestamp_fails() -> None:
    f = ts.check_server_extended_delta(absolute_in_extended(FAR), FAR)
    assert v(f) is Verdict.FAIL
    assert any("absolute timestamp, not the delta" in x.message for x in f)


def test_no_extended_delta_is_not_run() -> None:
    # A server that rebases the step (or writes fmt 0) never exercises TS-3: no verdict.
    log = player_log(FAR, ts_map=lambda i, t: t - 0x01000000 + 40 if t >= 0x01000000 else t)
    f = ts.check_server_extended_delta(log, FAR)
    assert v(f) is Verdict.NOT_RUN and "reached the player as a fmt-1 header" in f[-1].message


# -- check_monotonic --------------------------------------------------------------------------------

JUMPY = synthetic_stream(start_ms=10_000, seconds=0.4) + synthetic_stream(start_ms=5_000, seconds=0.4, headers=False,
                                                                          seq_base=1000)


def monotonic_map(i: int, t: int) -> int:
    return t if t >= 10_000 else t + 5_400


def test_monotonic_rebased_passes() -> None:
    log = player_log(JUMPY, ts_map=monotonic_map)
    assert v(ts.check_monotonic(log, JUMPY)) is Verdict.PASS


def test_monotonic_pass_through_is_informational() -> None:
    log = player_log(JUMPY)
    f = ts.check_monotonic(log, JUMPY)
    assert v(f) is Verdict.INFORMATIONAL and any("pass-through" in x.message for x in f)


def test_monotonic_server_invented_video_regression_fails() -> None:
    # The publisher's stream is regular; the server sends one video frame 100 ms early.
    tags = STREAM
    k = next(i for i in range(12, len(tags)) if tags[i].type_id == 9)
    log = player_log(tags, ts_map=lambda i, t: t - 100 if i == k else t)
    f = ts.check_monotonic(log, tags)
    assert v(f) is Verdict.FAIL


def test_monotonic_audio_regression_is_non_strict() -> None:
    k = next(i for i in range(12, len(STREAM)) if STREAM[i].type_id == 8)
    log = player_log(STREAM, ts_map=lambda i, t: t - 50 if i == k else t)
    assert v(ts.check_monotonic(log, STREAM)) is Verdict.NON_STRICT


# -- check_backward_delta ---------------------------------------------------------------------------

STEP = [video_tag(i, 1344 if i == 10 else 1000 + 40 * i, key=i == 0, size=100) for i in range(20)]


def test_backward_delta_clamped_passes() -> None:
    log = player_log(STEP, ts_map=lambda i, t: 1360 if i == 10 else t)
    assert v(ts.check_backward_delta(log, STEP)) is not Verdict.FAIL


def test_backward_delta_written_unsigned_fails() -> None:
    b = player_builder()
    for i, t in enumerate(STEP):
        plan = MessagePlan(fmt=1, ts_field=0xFFFFFFF0) if i == 10 else None
        send(b, t, plan=plan)
    f = ts.check_backward_delta(b.log, STEP)
    assert v(f) is Verdict.FAIL and any("unsigned" in x.message for x in f)


def test_backward_delta_as_49_day_jump_fails() -> None:
    # A server that moved everything after the odd delta far away (it believed the unsigned value).
    log = player_log(STEP, ts_map=lambda i, t: t + 0x7FFF0000 if i >= 10 else t)
    assert v(ts.check_backward_delta(log, STEP)) is Verdict.FAIL


def test_backward_delta_closing_the_publisher_fails() -> None:
    pub = LogBuilder().handshake()
    pub.log.mark_closed(S2C, pub.t)
    log = player_log(STEP, ts_map=lambda i, t: 1360 if i == 10 else t)
    assert v(ts.check_backward_delta(log, STEP, publisher_log=pub.log)) is Verdict.FAIL


# -- check_aac_cadence ------------------------------------------------------------------------------


def aac_log(stamps: Sequence[int]) -> WireLog:
    b = player_builder()
    for n, t in enumerate(stamps):
        send(b, audio_tag(n, t))
    return b.log


def exact(n: int, rate: int = 48000, start: int = 0) -> list[int]:
    return [start + (2 * k * 1024 * 1000 + rate) // (2 * rate) for k in range(n)]


def test_cadence_exact_passes() -> None:
    assert v(ts.check_aac_cadence(aac_log(exact(100)), 48000)) is Verdict.PASS
    assert v(ts.check_aac_cadence(aac_log(exact(100, 44100)), 44100)) is Verdict.PASS


def test_cadence_drift_is_non_strict() -> None:
    # A server that re-stamps with accumulated rounded deltas (21 ms each): -0.333 ms per frame.
    f = ts.check_aac_cadence(aac_log([21 * k for k in range(100)]), 48000)
    assert v(f) is Verdict.NON_STRICT


def test_cadence_drift_only_recorded_without_judgement() -> None:
    f = ts.check_aac_cadence(aac_log([21 * k for k in range(100)]), 48000, gaps_ms=None)
    assert v(f) is Verdict.INFORMATIONAL


def test_cadence_jitter_passed_through_is_informational() -> None:
    stamps = [t + (k * 7919) % 9 - 4 for k, t in enumerate(exact(100))]
    assert v(ts.check_aac_cadence(aac_log(stamps), 48000)) is Verdict.INFORMATIONAL


def test_resync_on_gap_passes() -> None:
    stamps = [t + (50 if k >= 30 else 0) for k, t in enumerate(exact(70))]
    assert v(ts.check_aac_cadence(aac_log(stamps), 48000, rule="TS-16", gaps_ms=[50])) is Verdict.PASS


def test_gap_smoothed_over_is_non_strict() -> None:
    # The server kept counting samples through a real 50 ms gap.
    f = ts.check_aac_cadence(aac_log(exact(70)), 48000, rule="TS-16", gaps_ms=[50])
    assert v(f) is Verdict.NON_STRICT and "smoothed" in f[0].message


def test_resync_of_wrong_size_is_non_strict() -> None:
    stamps = [t + (200 if k >= 30 else 0) for k, t in enumerate(exact(70))]
    assert v(ts.check_aac_cadence(aac_log(stamps), 48000, rule="TS-16", gaps_ms=[50])) is Verdict.NON_STRICT


def test_cadence_too_few_frames() -> None:
    assert v(ts.check_aac_cadence(aac_log(exact(5)), 48000)) is Verdict.NON_STRICT


# -- check_first_fmt0_per_csid ----------------------------------------------------------------------


def test_first_message_fmt0_passes() -> None:
    f = ts.check_first_fmt0_per_csid(player_log(STREAM))
    assert v(f) is Verdict.INFORMATIONAL  # sequence-header timestamps recorded
    assert not [x for x in f if x.verdict is Verdict.NON_STRICT]


def test_first_message_relative_is_non_strict() -> None:
    # The server used csid 6 before Play.Start and continues with a fmt-1 delta afterwards.
    b = LogBuilder(server_chunk_size=4096).handshake()
    b.server_msg(SetChunkSize(4096))
    send(b, video_tag(99, 0, size=40))
    play_start(b)
    for t in STREAM:
        send(b, t)
    f = ts.check_first_fmt0_per_csid(b.log)
    assert v(f) is Verdict.NON_STRICT
