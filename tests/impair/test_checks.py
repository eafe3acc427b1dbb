"""The impairment checkers pass a well-behaved server and FAIL (or NON-STRICT) deliberately broken ones."""

from __future__ import annotations

from rtmpconf.harness.checks.media import synthetic_stream
from rtmpconf.harness.impair.checks import (
    SlowConsumerFigures,
    check_latency,
    check_slow_consumer,
    compare_verdicts,
    frame_latencies,
    percentile,
)
from rtmpconf.harness.testmedia import MediaTag
from rtmpconf.harness.verdict import Verdict, failed, info, passed, worst
from rtmpconf.rtmp.messages import Audio, Command, Video
from tests.unit.checks.fakes import LogBuilder


def player_log(tags: list[MediaTag], *, keep: set[int] | None = None, dt: float = 0.04,
               corrupt: int | None = None) -> LogBuilder:
    """A player that got ``tags`` (only indices in ``keep`` when given) after Play.Start."""
    b = LogBuilder("player")
    b.handshake()
    b.server_msg(Command("onStatus", 0.0, None, ({"level": "status", "code": "NetStream.Play.Start"},)), msid=1)
    for i, t in enumerate(tags):
        if keep is not None and i not in keep:
            continue
        payload = t.payload if i != corrupt else b"\xaf\x01garbage"
        msg = Audio(payload) if t.type_id == 8 else Video(payload)
        b.t += dt
        b.server_msg(msg, msid=1, timestamp=t.timestamp)
    return b


def figures(**kw: object) -> SlowConsumerFigures:
    base = {"slow_seconds": 10.0, "publish_lag_s": 0.05, "publisher_probe_ok": True, "rss_growth_mib": 3.0,
            "recover_from": 0, "backlog_bytes": 1_000_000}
    base.update(kw)
    return SlowConsumerFigures(**base)  # type: ignore[arg-type]


# -- compare_verdicts ----------------------------------------------------------------------------


def test_same_verdicts_pass_and_a_network_dependent_one_fails() -> None:
    direct = {"a": [passed("HS-6", "ok")], "b": [passed("GOP-1", "ok")], "c": [failed("TS-1", "x")]}
    impaired = {"a": [passed("HS-6", "ok")], "b": [failed("GOP-1", "inter frame first")], "c": [passed("TS-1", "ok")]}
    out = compare_verdicts(direct, impaired, rule="GOP-1", profile="4g")
    assert [f.verdict for f in out] == [Verdict.PASS, Verdict.FAIL, Verdict.INFORMATIONAL]
    assert "depends on the network" in out[1].message and "inter frame first" in out[1].message


def test_informational_differences_are_not_failures() -> None:
    out = compare_verdicts({"a": [passed("TS-1", "ok")]}, {"a": [info("TS-1", "shifted")]}, rule="TS-1", profile="lan")
    assert worst(out) is Verdict.INFORMATIONAL
    mild = compare_verdicts({"a": [passed("TS-1", "ok")]}, {"a": [failed("TS-1", "x", verdict=Verdict.NON_STRICT)]},
                            rule="TS-1", profile="lan")
    assert worst(mild) is Verdict.NON_STRICT


# -- latency -----------------------------------------------------------------------------------------


def test_frame_latencies_match_payloads_across_logs() -> None:
    tags = synthetic_stream(seconds=0.2)[2:]
    pub = LogBuilder("publisher")
    pub.handshake()
    for t in tags:
        pub.client_msg(Audio(t.payload) if t.type_id == 8 else Video(t.payload), msid=1, timestamp=t.timestamp)
    player = player_log(tags)
    lat = frame_latencies(pub.log, player.log)
    assert len(lat) == len(tags) and all(x > 0 for x in lat)


def test_percentile_is_nearest_rank() -> None:
    assert percentile([5, 1, 3, 2, 4], 50) == 3
    assert percentile(list(range(1, 101)), 99) == 99


def test_latency_report_and_its_failures() -> None:
    ok = check_latency([50, 60, 70], [1, 2, 3], rule="GOP-1", profile="4g", expected_added_ms=66, sent=3)
    assert worst(ok) is Verdict.INFORMATIONAL
    assert "p50 60.0 ms" in ok[0].message and ok[0].evidence["added_p50_ms"] == 58
    buffering = check_latency([2000, 2100, 2200], [1, 2, 3], rule="GOP-1", profile="lan", expected_added_ms=1, sent=3)
    assert worst(buffering) is Verdict.NON_STRICT and "the server buffers" in buffering[-1].message
    lost = check_latency([50], [1], rule="GOP-1", profile="lan", expected_added_ms=60, sent=3)
    assert any("never reached" in f.message for f in lost)
    assert worst(check_latency([], [1], rule="GOP-1", profile="lan", expected_added_ms=1, sent=3)) is Verdict.FAIL


# -- slow consumer -----------------------------------------------------------------------------------


def stream() -> list[MediaTag]:
    return [t for t in synthetic_stream(seconds=4.0, audio=False) if not t.sequence_header]


def test_dropping_to_keyframes_and_recovering_passes() -> None:
    tags = stream()
    # Frames 0..29 arrive, 30..49 are dropped, the player resumes at the keyframe 50 (25-frame GOP).
    keep = set(range(30)) | set(range(50, len(tags)))
    out = check_slow_consumer(player_log(tags, keep=keep).log, tags, figures(recover_from=60))
    assert worst(out) is Verdict.PASS, [f.line() for f in out]
    assert any(f.evidence.get("dropped") == 20 for f in out)


def test_resuming_mid_gop_is_non_strict() -> None:
    tags = stream()
    keep = set(range(30)) | set(range(40, len(tags)))
    out = check_slow_consumer(player_log(tags, keep=keep).log, tags, figures(recover_from=60))
    assert worst(out) is Verdict.NON_STRICT and any("not a keyframe" in f.message for f in out)


def test_memory_growth_slowed_publisher_and_no_recovery_are_flagged() -> None:
    tags = stream()
    out = check_slow_consumer(player_log(tags, keep=set(range(30))).log, tags,
                              figures(rss_growth_mib=100.0, publish_lag_s=3.0, recover_from=60))
    text = " ".join(f.message for f in out if f.verdict is Verdict.NON_STRICT)
    assert "server memory grew 100.0 MiB" in text and "publisher was slowed" in text and "did not recover" in text


def test_unbounded_queueing_is_flagged_only_past_any_buffer() -> None:
    tags = stream()
    log = player_log(tags).log
    small = check_slow_consumer(log, tags, figures(backlog_bytes=3_000_000))
    assert worst(small) is Verdict.NOT_RUN  # the server never had to drop: no verdict
    huge = check_slow_consumer(log, tags, figures(backlog_bytes=200_000_000))
    assert worst(huge) is Verdict.NON_STRICT


def test_corrupted_frames_fail() -> None:
    tags = stream()
    out = check_slow_consumer(player_log(tags, corrupt=10).log, tags, figures())
    assert worst(out) is Verdict.FAIL
