"""Drivers for real programs (ffmpeg, ffprobe, PyAV ...), each with bounded run time."""

from __future__ import annotations

import os
import shutil


class PeerMissing(RuntimeError):
    """A real program the case needs is not installed."""


def require(program: str) -> str:
    """Path of ``program``; raises PeerMissing (never a silent skip under CI=true)."""
    path = shutil.which(program)
    if path is None:
        hint = {"ffmpeg": "apt-get install ffmpeg", "ffprobe": "apt-get install ffmpeg",
                "tshark": "apt-get install tshark"}.get(program, f"install {program}")
        raise PeerMissing(f"{program} not found on PATH ({hint})")
    return path


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_or_skip(*programs: str) -> list[str]:
    """Paths of ``programs``, for a test: a missing one FAILs it under CI=true and skips it otherwise."""
    import pytest  # only tests call this; the CLI's peers need no pytest

    paths = []
    for program in programs:
        try:
            paths.append(require(program))
        except PeerMissing as exc:
            if in_ci():
                pytest.fail(f"CI=true and a real peer is missing: {exc}")
            pytest.skip(str(exc))
    return paths
