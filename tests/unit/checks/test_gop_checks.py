"""GOP-cache checkers (harness/checks/gop.py) against good and deliberately broken servers' traffic."""

from __future__ import annotations

from collections.abc import Sequence

from rtmpconf.harness.checks import gop
from rtmpconf.harness.checks.media import avc_sequence_header, synthetic_stream, video_tag
from rtmpconf.harness.testmedia import MediaTag
from rtmpconf.harness.verdict import Verdict
from rtmpconf.harness.wirelog import S2C, WireLog
from rtmpconf.rtmp import amf0
from rtmpconf.rtmp.messages import Audio, Data
from tests.unit.checks.fakes import LogBuilder, player_builder, send, v

STREAM = synthetic_stream(start_ms=0, seconds=2.4, gop=25)  # keyframes at 0, 1000, 2000 ms
KEYS = [i for i, t in enumerate(STREAM) if t.keyframe]


def from_index(start: int, tags: Sequence[MediaTag] = STREAM, *, metadata: bool = True) -> WireLog:
    """A late joiner's view: metadata, both sequence headers, then ``tags[start:]``."""
    b = player_builder()
    if metadata:
        b.server_msg(Data(("onMetaData", amf0.EcmaArray({"width": 320.0}))), msid=1)
    for t in list(tags[:2]) + list(tags[start:]):
        send(b, t)
    return b.log


# -- check_gop_start (GOP-1, AV-4) -----------------------------------------------------------------


def test_gop_start_at_keyframe_passes() -> None:
    assert v(gop.check_gop_start(from_index(KEYS[1]))) is Verdict.PASS


def test_gop_start_at_inter_frame_fails() -> None:
    assert v(gop.check_gop_start(from_index(KEYS[1] + 3))) is Verdict.FAIL


def test_gop_start_without_video_header_fails() -> None:
    b = player_builder()
    for t in STREAM[1:2] + STREAM[KEYS[1]:]:
        send(b, t)
    assert v(gop.check_gop_start(b.log, expect_metadata=False)) is Verdict.FAIL


# -- check_keyframe_start (AV-6) --------------------------------------------------------------------


def test_keyframe_start_passes() -> None:
    assert v(gop.check_keyframe_start(from_index(KEYS[1]))) is Verdict.PASS


def test_sequence_header_taken_as_gop_start_fails() -> None:
    # A server that restarted its cache at a (FrameType 1) sequence header: inter frames follow it.
    assert v(gop.check_keyframe_start(from_index(KEYS[1] + 4))) is Verdict.FAIL


def test_keyframe_not_among_allowed_fails() -> None:
    allowed = {STREAM[KEYS[2]].payload}
    assert v(gop.check_keyframe_start(from_index(KEYS[1]), keyframes=allowed)) is Verdict.FAIL


def test_keyframe_start_no_video_fails() -> None:
    assert v(gop.check_keyframe_start(player_builder().log)) is Verdict.FAIL


# -- check_cache_from_latest_keyframe (GOP-2) ---------------------------------------------------------


def test_cache_from_latest_keyframe_passes() -> None:
    f = gop.check_cache_from_latest_keyframe(from_index(KEYS[2]), STREAM, KEYS[2])
    assert v(f) is Verdict.PASS


def test_cache_with_older_gop_is_non_strict() -> None:
    # A server that never clears its cache: the joiner starts two GOPs back.
    f = gop.check_cache_from_latest_keyframe(from_index(KEYS[1]), STREAM, KEYS[2])
    assert v(f) is Verdict.NON_STRICT


def test_no_cache_later_keyframe_is_informational() -> None:
    later = STREAM + [video_tag(9999, 3000, key=True)]
    f = gop.check_cache_from_latest_keyframe(from_index(len(STREAM), later), later, KEYS[2])
    assert v(f) is Verdict.INFORMATIONAL


def test_stale_audio_before_keyframe_is_non_strict() -> None:
    # The cache kept the audio published just before the keyframe.
    b = player_builder()
    for t in STREAM[:2] + [STREAM[KEYS[2] - 1]] + STREAM[KEYS[2]:]:
        send(b, t)
    assert STREAM[KEYS[2] - 1].type_id == 8
    assert v(gop.check_cache_from_latest_keyframe(b.log, STREAM, KEYS[2])) is Verdict.NON_STRICT


# -- check_audio_only_join (GOP-4) --------------------------------------------------------------------

AUDIO = [t for t in STREAM if t.type_id == 8]


def audio_join(delay: float, tags: Sequence[MediaTag] = AUDIO) -> WireLog:
    b = player_builder()
    for i, t in enumerate(tags):
        send(b, t, dt=delay if i == 0 else 0.001)
    return b.log


def test_audio_only_prompt_passes() -> None:
    assert v(gop.check_audio_only_join(audio_join(0.005))) is Verdict.PASS


def test_audio_only_late_is_non_strict() -> None:
    # A server that held audio back waiting for a video keyframe (here: 0.8 s).
    assert v(gop.check_audio_only_join(audio_join(0.8))) is Verdict.NON_STRICT


def test_audio_only_starved_is_non_strict() -> None:
    assert v(gop.check_audio_only_join(player_builder().log)) is Verdict.NON_STRICT


def test_audio_only_delay_counts_from_publishing() -> None:
    # The player's audio came 150 ms after Play.Start, but the publisher only sent it at 140 ms.
    player = audio_join(0.15)
    play_t = player.events[-1].time - 0.15 - 0.001 * (len(AUDIO) - 1)
    pub = LogBuilder().handshake()
    pub.t = play_t + 0.14
    pub.client_msg(Audio(AUDIO[1].payload), msid=1, timestamp=AUDIO[1].timestamp)
    assert v(gop.check_audio_only_join(player)) is Verdict.NON_STRICT
    assert v(gop.check_audio_only_join(player, publisher_log=pub.log)) is Verdict.PASS


def test_audio_only_delay_allows_for_a_slow_link() -> None:
    # 300 ms late on a direct link; on a 500 B/s downlink the sequence header and first frame the
    # player read after Play.Start explain it; on a fast link they explain nothing.
    late = audio_join(0.3)
    assert v(gop.check_audio_only_join(late)) is Verdict.NON_STRICT
    assert v(gop.check_audio_only_join(late, link_rates=(0.0, 500.0))) is Verdict.PASS
    assert v(gop.check_audio_only_join(late, link_rates=(0.0, 1e9))) is Verdict.NON_STRICT


def test_audio_before_header_is_non_strict() -> None:
    assert v(gop.check_audio_only_join(audio_join(0.005, AUDIO[1:] + AUDIO[:1]))) is Verdict.NON_STRICT


# -- check_long_gop_join (GOP-5) ----------------------------------------------------------------------

K0 = video_tag(0, 0, key=True)
K1 = video_tag(2000, 80_000, key=True)
INTER = video_tag(5, 200)


def one_video(tag: MediaTag | None) -> WireLog:
    b = player_builder()
    send(b, MediaTag(9, 0, avc_sequence_header(), False, True))
    if tag is not None:
        send(b, tag)
    return b.log


def test_long_gop_next_keyframe_passes() -> None:
    assert v(gop.check_long_gop_join(one_video(K1), [K0.payload, K1.payload], gop_frames=1100)) is Verdict.PASS


def test_long_gop_fully_cached_is_informational() -> None:
    f = gop.check_long_gop_join(one_video(K0), [K0.payload, K1.payload], gop_frames=1100)
    assert v(f) is Verdict.INFORMATIONAL


def test_long_gop_inter_first_is_non_strict() -> None:
    assert v(gop.check_long_gop_join(one_video(INTER), [K0.payload, K1.payload], gop_frames=1100)) is Verdict.NON_STRICT


def test_long_gop_not_served_is_non_strict() -> None:
    assert v(gop.check_long_gop_join(one_video(None), [K0.payload, K1.payload], gop_frames=1100)) is Verdict.NON_STRICT


# -- check_cached_timestamps (GOP-6) ------------------------------------------------------------------


def test_cached_timestamps_pass() -> None:
    assert v(gop.check_cached_timestamps(from_index(KEYS[1]))) is Verdict.PASS


def test_cached_timestamps_without_headers_is_not_run() -> None:
    # No sequence header before the first frame: nothing to compare (AV-4 judges that).
    b = player_builder()
    for t in STREAM[KEYS[1]:]:
        send(b, t)
    assert v(gop.check_cached_timestamps(b.log)) is Verdict.NOT_RUN


def test_header_stamped_after_first_frame_is_non_strict() -> None:
    # A server that stamps the cached sequence headers with the latest publish time.
    b = player_builder()
    for t in STREAM[:2]:
        send(b, t, ts=1400)
    for t in STREAM[KEYS[1]:]:
        send(b, t)
    assert v(gop.check_cached_timestamps(b.log)) is Verdict.NON_STRICT


def test_timestamps_backwards_on_csid_is_non_strict() -> None:
    b = player_builder()
    for t in STREAM[:2] + STREAM[KEYS[1]:KEYS[1] + 6]:
        send(b, t)
    send(b, video_tag(7777, 500))  # a stale frame from the previous GOP appended at the end
    assert v(gop.check_cached_timestamps(b.log)) is Verdict.NON_STRICT


# -- check_republish (GOP-7) --------------------------------------------------------------------------

SH_A = avc_sequence_header()
SH_B = avc_sequence_header(sps=bytes.fromhex("6742c00dd9410f9f9e10"))
A = [video_tag(i, 40 * i, key=i % 25 == 0) for i in range(35)]
B = [video_tag(1000 + i, 40 * i, key=i == 0) for i in range(10)]


def republish(seq: Sequence[MediaTag | bytes]) -> list:
    b = player_builder()
    for x in seq:
        tag = MediaTag(9, 0, x, False, True) if isinstance(x, bytes) else x
        send(b, tag)
    return gop.check_republish(b.log, old_sh=SH_A, old_frames={t.payload for t in A}, new_sh=SH_B,
                               new_frames={t.payload for t in B})


def test_republish_clean_passes() -> None:
    assert v(republish([SH_A, *A, SH_B, *B])) is Verdict.INFORMATIONAL  # A's frames before: recorded


def test_republish_stale_frame_fails() -> None:
    # The old GOP replayed after the new sequence header.
    assert v(republish([SH_A, *A[:5], SH_B, A[30], *B])) is Verdict.FAIL


def test_republish_frame_before_header_fails() -> None:
    assert v(republish([SH_A, *A, B[0], SH_B, *B[1:]])) is Verdict.FAIL


def test_republish_inter_first_fails() -> None:
    assert v(republish([SH_A, *A, SH_B, *B[3:]])) is Verdict.FAIL


def test_republish_nothing_new_fails() -> None:
    assert v(republish([SH_A, *A])) is Verdict.FAIL


# -- check_slow_reader (GOP-8) ------------------------------------------------------------------------

SLOW = [MediaTag(9, 0, avc_sequence_header(), False, True)] + [
    video_tag(i, 40 * i, key=i % 10 == 0, size=300) for i in range(40)]
TAIL = 35  # frames from sent #35 on were published after the player resumed


def slow(received: Sequence[int], **kw) -> list:
    b = player_builder()
    for i in received:
        send(b, SLOW[i])
    args: dict = {"publish_seconds": 0.1, "publish_bytes": 10_000_000, "publisher_ok": True, "tail_from": TAIL}
    args.update(kw)
    return gop.check_slow_reader(b.log, SLOW, **args)


def test_slow_reader_dropped_to_keyframe_passes() -> None:
    assert v(slow(list(range(8)) + list(range(31, 41)))) is Verdict.PASS  # resumes at #31 (keyframe)


def test_slow_reader_everything_queued_is_non_strict() -> None:
    assert v(slow(range(41))) is Verdict.NON_STRICT


def test_slow_reader_resumed_mid_gop_is_non_strict() -> None:
    assert v(slow(list(range(8)) + list(range(25, 41)))) is Verdict.NON_STRICT


def test_slow_reader_never_recovered_is_non_strict() -> None:
    assert v(slow(list(range(8)))) is Verdict.NON_STRICT


def test_slow_reader_publisher_slowed_is_non_strict() -> None:
    assert v(slow(list(range(8)) + list(range(31, 41)), publish_seconds=30.0)) is Verdict.NON_STRICT


def test_slow_reader_disconnect_is_informational() -> None:
    b = player_builder()
    for i in range(8):
        send(b, SLOW[i])
    b.log.mark_closed(S2C, b.t)
    f = gop.check_slow_reader(b.log, SLOW, publish_seconds=0.1, publish_bytes=10_000_000, publisher_ok=True,
                              tail_from=TAIL)
    assert v(f) is Verdict.INFORMATIONAL


def test_slow_reader_corruption_fails() -> None:
    b = player_builder()
    for i in list(range(8)) + list(range(31, 41)):
        send(b, SLOW[i], payload=SLOW[i].payload[:-3] if i == 33 else None)
    f = gop.check_slow_reader(b.log, SLOW, publish_seconds=0.1, publish_bytes=10_000_000, publisher_ok=True,
                              tail_from=TAIL)
    assert v(f) is Verdict.FAIL
