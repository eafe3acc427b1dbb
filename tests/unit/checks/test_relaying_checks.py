"""RELAY checkers against fake relays that lose, alter or retime messages, hold the origin, or loop."""

from __future__ import annotations

from rtmpconf.harness.checks.relaying import (
    check_edge_start,
    check_no_relay_loop,
    check_origin_released,
    check_relayed_unchanged,
)
from rtmpconf.harness.scenarios import tags_with_headers
from rtmpconf.harness.testmedia import make_h264_aac
from rtmpconf.harness.verdict import Verdict
from tests.unit.checks.fakes import player_log, v

TAGS = tags_with_headers(make_h264_aac(seconds=0.5, gop=6))


def test_relayed_unchanged() -> None:
    assert v(check_relayed_unchanged(player_log(TAGS), TAGS)) is Verdict.PASS
    # A constant offset for the whole stream is fine.
    assert v(check_relayed_unchanged(player_log(TAGS, ts_map=lambda i, ts: ts + 5000), TAGS)) is Verdict.PASS
    # Broken relays: one frame lost, one altered, the spacing stretched after the 10th message.
    assert v(check_relayed_unchanged(player_log(TAGS, drop=[8]), TAGS)) is Verdict.FAIL
    assert v(check_relayed_unchanged(player_log(TAGS, corrupt=[9]), TAGS)) is Verdict.FAIL
    stretched = player_log(TAGS, ts_map=lambda i, ts: ts + (40 if i > 10 else 0))
    assert v(check_relayed_unchanged(stretched, TAGS)) is Verdict.FAIL
    assert v(check_relayed_unchanged(player_log([]), TAGS)) is Verdict.FAIL


def test_edge_start() -> None:
    assert v(check_edge_start(player_log(TAGS), TAGS, expect_metadata=False)) in (Verdict.PASS, Verdict.INFORMATIONAL)
    # Broken edge: starts at an inter frame (the keyframe and headers were not sent).
    first_inter = next(i for i, t in enumerate(TAGS) if t.type_id == 9 and not t.keyframe and i > 2)
    broken = player_log(TAGS[first_inter:])
    verdict = v(check_edge_start(broken, TAGS, expect_metadata=False))
    assert verdict is Verdict.FAIL
    assert all(f.rule == "RELAY-2" for f in check_edge_start(broken, TAGS, expect_metadata=False))


def test_origin_released() -> None:
    assert v(check_origin_released([(0.0, 1), (0.2, 1), (2.1, 0)], bound_s=10)) is Verdict.PASS
    assert v(check_origin_released([(0.0, 1), (10.2, 1)], bound_s=10)) is Verdict.FAIL
    assert v(check_origin_released([(0.0, 0)], bound_s=10)) is Verdict.NOT_RUN
    # Seen connected just before the player left, gone at the first look: released at once.
    assert v(check_origin_released([(0.3, 0)], bound_s=10, connected_before=True)) is Verdict.PASS
    # Seen connected and still there past the bound: FAIL whatever was seen before.
    assert v(check_origin_released([(0.0, 1), (10.2, 1)], bound_s=10, connected_before=True)) is Verdict.FAIL


def test_no_relay_loop() -> None:
    assert v(check_no_relay_loop([1, 1, 2], allowed=3)) in (Verdict.PASS, Verdict.INFORMATIONAL)
    assert v(check_no_relay_loop([1, 5, 40, 200], allowed=3)) is Verdict.FAIL
    assert v(check_no_relay_loop([], allowed=3)) is Verdict.NOT_RUN
