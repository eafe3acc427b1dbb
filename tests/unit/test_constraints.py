"""requirements/constraints.txt pins every package pyproject.toml asks for, and the environment
running the tests was installed through it (make, tox and .ci/run all install with it)."""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"
REGENERATE = "regenerate it as requirements/README.md says"
REINSTALL = "pip install -c requirements/constraints.txt -e '.[dev]' (make test does it)"


def pins() -> dict[str, str]:
    """Package name (canonical) -> pinned version."""
    out = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            out[canonicalize_name(req.name)] = spec.version
    return out


def direct_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in [*project["dependencies"], *project["optional-dependencies"]["dev"]]]


def test_every_dependency_and_dev_extra_is_pinned_within_its_range() -> None:
    pinned = pins()
    for req in direct_requirements():
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} is not in {CONSTRAINTS.name}: {REGENERATE}"
        assert req.specifier.contains(pinned[name], prereleases=True), \
            f"{req.name}=={pinned[name]} is outside pyproject's {req.specifier}: {REGENERATE}"


def test_constraints_carry_no_index_or_local_paths() -> None:
    text = CONSTRAINTS.read_text()
    for word in ("--index-url", "--extra-index-url", "--find-links", "--trusted-host", "file:", "://"):
        assert word not in text, word


@pytest.mark.parametrize("req", direct_requirements(), ids=lambda r: r.name)
def test_installed_version_is_the_pinned_one(req: Requirement) -> None:
    pinned = pins()[canonicalize_name(req.name)]
    try:
        installed = version(req.name)
    except PackageNotFoundError:
        pytest.fail(f"{req.name} is not installed: {REINSTALL}")
    assert installed == pinned, f"{req.name} {installed} installed, {pinned} pinned: {REINSTALL}"
