"""bench/determinism.py: which cases changed verdict between runs."""

from __future__ import annotations

from bench.determinism import compare


def test_identical_runs_have_no_change() -> None:
    run = {"cases": {"A/x": ("PASS", ""), "B/y": ("FAIL", "bad")}}
    assert compare([run, dict(run), dict(run)]) == []


def test_flipped_and_missing_cases_are_listed() -> None:
    r1 = {"cases": {"A/x": ("PASS", ""), "B/y": ("FAIL", "bad"), "C/z": ("PASS", "")}}
    r2 = {"cases": {"A/x": ("NON-STRICT", "slow ack"), "B/y": ("FAIL", "bad")}}
    changed = {c["id"]: c for c in compare([r1, r2])}
    assert set(changed) == {"A/x", "C/z"}
    assert changed["A/x"]["verdicts"] == ["PASS", "NON-STRICT"]
    assert changed["A/x"]["message_of_first_change"] == "slow ack"
    assert changed["C/z"]["verdicts"] == ["PASS", "MISSING"]
