"""Profiles: validation, the documented table (module and README agree), lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtmpconf.harness.impair import (
    PROFILES,
    DirectionImpairment,
    KernelImpairment,
    get_profile,
    profile_table,
    profiles,
)

README = Path(__file__).resolve().parents[2] / "README.md"
REQUIRED = ("lan", "wifi", "4g", "3g-lossy", "satellite", "byte-dribble")


def test_the_required_profiles_exist() -> None:
    assert set(REQUIRED) <= set(PROFILES)
    assert any(p.kernel is not None for p in PROFILES.values())


def test_table_lists_every_profile_and_matches_the_readme() -> None:
    table = profile_table()
    for name in PROFILES:
        assert f"| {name} |" in table
    # The README's "Network impairment" section and the module's docstring carry the same table.
    assert table in README.read_text(), "README table out of date: paste harness.impair.profile_table()"
    assert table in (profiles.__doc__ or ""), "profiles.py docstring table out of date"


def test_unknown_profile_names_the_choices() -> None:
    with pytest.raises(KeyError, match="lan"):
        get_profile("dial-up")


@pytest.mark.parametrize("kw", [
    {"cut_mode": "explode"}, {"delay_ms": -1}, {"stall_every_ms": 100, "stall_ms": 100},
    {"loss_pct": 101}, {"segment_bytes": -1}, {"buffer_bytes": 0},
])
def test_invalid_direction_impairments_are_refused(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        DirectionImpairment(**kw)  # type: ignore[arg-type]


def test_kernel_loss_is_a_whole_percentage() -> None:
    with pytest.raises(ValueError):
        KernelImpairment(loss_pct=2.5)
    assert "5% real packet loss" in KernelImpairment.symmetric(4000, 5).describe()


def test_describe_and_null() -> None:
    assert DirectionImpairment().is_null
    assert not DirectionImpairment(delay_ms=1).is_null
    text = get_profile("3g-lossy").up.describe()
    assert "100 ms +-30" in text and "1 Mbit/s" in text and "2% loss" in text
    assert get_profile("byte-dribble").down.describe() == "1 B segments"
