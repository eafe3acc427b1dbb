"""Audio/video payload checkers and synthetic media (harness/checks/media.py), against good and
deliberately broken servers' traffic."""

from __future__ import annotations

import itertools

from rtmpconf import records
from rtmpconf.harness.checks import media as mc
from rtmpconf.harness.testmedia import MediaTag
from rtmpconf.harness.verdict import Verdict
from rtmpconf.rtmp import media
from tests.unit.checks.fakes import player_builder, player_log, send, v

# -- synthetic media --------------------------------------------------------------------------------


def test_synthetic_payloads_are_unique_and_well_formed() -> None:
    tags = mc.synthetic_stream(seconds=1.0)
    payloads = [t.payload for t in tags]
    assert len(set(payloads)) == len(payloads)
    assert media.is_video_sequence_header(tags[0].payload) and media.is_audio_sequence_header(tags[1].payload)
    keys = [t for t in tags if t.keyframe]
    assert keys and all(media.is_video_keyframe(t.payload) for t in keys)
    audio = [t.timestamp for t in tags if t.type_id == 8 and not t.sequence_header]
    assert [b - a for a, b in itertools.pairwise(audio)][:6] == [21, 22, 21, 21, 22, 21]


def test_aac_ms_is_the_exact_rounded_clock() -> None:
    assert [mc.aac_ms(n, 48000) for n in range(4)] == [0, 21, 43, 64]
    assert mc.aac_ms(3000, 48000) == 64000


def test_relength_nalus_round_trips() -> None:
    body = (3).to_bytes(4, "big") + b"abc" + (2).to_bytes(4, "big") + b"de"
    two = mc.relength_nalus(body, 4, 2)
    assert two == b"\x00\x03abc\x00\x02de"
    assert mc.relength_nalus(two, 2, 4) == body


def test_aac_header_flags_are_as_asked() -> None:
    sh = mc.aac_sequence_header(48000, 1, rate_bits=0, stereo=False)
    assert sh[0] == 0xA2  # AAC, rate 0, 16-bit, mono
    tag = media.parse_audio_tag(sh)
    assert media.AudioSpecificConfig.parse(bytes(tag.body)).sample_rate == 48000


# -- check_payloads_intact ----------------------------------------------------------------------------

STREAM = mc.synthetic_stream(start_ms=500, seconds=0.6, gop=5)


def test_intact_passes() -> None:
    assert v(mc.check_payloads_intact(player_log(STREAM), STREAM, rule="AV-1")) is Verdict.PASS


def test_rewritten_tag_header_fails() -> None:
    # A server that "normalises" byte 0 (e.g. disposable inter 0x37 -> 0x27) corrupts the tag.
    tags = [records.replace(t, payload=b"\x37" + t.payload[1:]) if i == 5 else t for i, t in enumerate(STREAM)]
    b = player_builder()
    for i, t in enumerate(tags):
        send(b, t, payload=(b"\x27" + t.payload[1:]) if i == 5 else None)
    assert v(mc.check_payloads_intact(b.log, tags, rule="AV-1")) is Verdict.FAIL


def test_late_joiner_starting_on_inter_frame_fails_av6() -> None:
    first_key = next(i for i, t in enumerate(STREAM) if t.keyframe)
    drop = list(range(2, first_key + 2))  # the joiner's first video is the frame after the keyframe
    f = mc.check_payloads_intact(player_log(STREAM, drop=drop), STREAM, rule="AV-2", expect_all=False,
                                 first_keyframe=True)
    assert v(f) is Verdict.FAIL and any(x.rule == "AV-6" for x in f if x.verdict is Verdict.FAIL)


def test_lost_frames_fail() -> None:
    assert v(mc.check_payloads_intact(player_log(STREAM, drop=[9]), STREAM, rule="AV-2")) is Verdict.FAIL


# -- check_composition_times --------------------------------------------------------------------------

CTS = [MediaTag(9, 0, mc.avc_sequence_header(), False, True)] + [
    mc.video_tag(i, 40 * i, key=i == 0, cts=[80, -40, 40, 0][i % 4], size=100) for i in range(12)]


def test_cts_preserved_passes() -> None:
    f = mc.check_composition_times(player_log(CTS), CTS)
    assert v(f) is Verdict.PASS and "-40" in f[-1].message


def test_cts_sign_lost_fails() -> None:
    # A server that clamps negative composition times to 0 (0xFFFFD8 -> 0x000000).
    b = player_builder()
    for t in CTS:
        p = t.payload
        if not t.sequence_header and media.parse_video_tag(p).composition_time < 0:
            p = p[:2] + b"\x00\x00\x00" + p[5:]
        send(b, t, payload=p)
    f = mc.check_composition_times(b.log, CTS)
    assert v(f) is Verdict.FAIL
    assert f[0].expected is not None and "-40" in f[0].expected and "ffffd8" in f[0].expected


# -- check_sequence_headers_first ---------------------------------------------------------------------

VSH, ASH = STREAM[0].payload, STREAM[1].payload


def test_headers_first_passes() -> None:
    f = mc.check_sequence_headers_first(player_log(STREAM), video_sh=VSH, audio_sh=ASH)
    assert v(f) is Verdict.PASS


def test_frames_before_header_fail() -> None:
    log = player_log(STREAM[2:] + STREAM[:2])
    assert v(mc.check_sequence_headers_first(log, video_sh=VSH, audio_sh=ASH)) is Verdict.FAIL


def test_stale_header_fails() -> None:
    old = mc.avc_sequence_header(sps=bytes.fromhex("6742c00dd9410f9f9e10"))
    b = player_builder()
    for t in STREAM:
        send(b, t, payload=old if t.payload == VSH else None)
    assert v(mc.check_sequence_headers_first(b.log, video_sh=VSH, audio_sh=ASH)) is Verdict.FAIL


# -- check_sequence_header_switch ---------------------------------------------------------------------

SH_B = mc.avc_sequence_header(sps=bytes.fromhex("6742c00dd9410f9f9e10"))
A = [t for t in STREAM if t.type_id == 9]
B = [MediaTag(9, 700, SH_B, False, True)] + [mc.video_tag(500 + i, 700 + 40 * i, key=i == 0) for i in range(6)]
OLD = {t.payload for t in A if not t.sequence_header}
NEW = {t.payload for t in B if not t.sequence_header}


def switch(log_tags, role):
    return mc.check_sequence_header_switch(player_log(log_tags), old_sh=VSH, new_sh=SH_B, new_frames=NEW,
                                           old_frames=OLD, role=role)


def test_switch_existing_player_passes() -> None:
    assert v(switch(A + B, "existing")) is Verdict.PASS


def test_switch_frame_before_new_header_is_non_strict() -> None:
    assert v(switch(A + B[1:2] + B[:1] + B[2:], "existing")) is Verdict.NON_STRICT


def test_switch_new_header_missing_is_non_strict() -> None:
    assert v(switch(A + B[1:], "existing")) is Verdict.NON_STRICT


def test_switch_joiner_given_old_header_is_non_strict() -> None:
    # A server that kept the first sequence header for late joiners.
    assert v(switch(A[:1] + B, "joiner")) is Verdict.NON_STRICT
    assert v(switch(B, "joiner")) is Verdict.PASS


# -- check_aac_config_relay ---------------------------------------------------------------------------


def mono48() -> list[MediaTag]:
    tags = [MediaTag(8, 0, mc.aac_sequence_header(48000, 1), False, True)]
    return tags + [mc.audio_tag(n, mc.aac_ms(n, 48000)) for n in range(40)]


def test_aac_config_relay_passes() -> None:
    tags = mono48()
    assert v(mc.check_aac_config_relay(player_log(tags), tags, 48000)) is Verdict.PASS


def test_aac_retimed_with_flag_rate_fails() -> None:
    # A server that trusted SoundRate 3 (44 kHz) and re-stamped at 1024/44100 s per frame.
    tags = mono48()
    log = player_log(tags, ts_map=lambda i, t: t if i == 0 else (2 * (i - 1) * 1024000 + 44100) // 88200)
    f = mc.check_aac_config_relay(log, tags, 48000)
    assert v(f) is Verdict.FAIL and "44.1 kHz" in (f[-1].actual or "")
