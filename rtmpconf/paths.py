"""Where the suite finds its own files and where it writes.

Everything the suite reads (cases, catalogue, manifests, report config) ships inside the package,
so an installed ``rtmpconf`` finds it from any directory. Output goes to ``./reports`` of the
working directory unless told otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The installed (or checked-out) package directory.
PACKAGE = Path(__file__).resolve().parent
CASES = PACKAGE / "cases"
TARGETS = PACKAGE / "targets"
CATALOGUE = PACKAGE / "catalogue"
#: Recorded real-program sessions for the replay cases (the checkout's captures/, linked in and
#: shipped in the wheel).
CAPTURES = PACKAGE / "captures"


def source_root() -> Path | None:
    """The repository checkout this package runs from, or None for an installed wheel."""
    root = PACKAGE.parent
    return root if (root / "pyproject.toml").is_file() and (root / "tests").is_dir() else None


def reports_dir() -> Path:
    """Default output directory: ``$RTMPCONF_REPORTS`` or ``./reports``."""
    return Path(os.environ.get("RTMPCONF_REPORTS") or "reports").resolve()


def tools_dir() -> Path:
    """Where npm-installed helpers (Allure CLI, node-media-server) live: ``$RTMPCONF_TOOLS``, the
    checkout's ``.tools/``, or a per-user cache for an installed wheel."""
    env = os.environ.get("RTMPCONF_TOOLS")
    if env:
        return Path(env).resolve()
    root = source_root()
    if root is not None:
        return root / ".tools"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "rtmpconf" / "tools"


def cache_dir() -> Path:
    """Where derived data that is expensive to make (encoded test media) is kept between runs:
    ``$RTMPCONF_CACHE``, or ``$XDG_CACHE_HOME/rtmpconf`` (``~/.cache/rtmpconf``)."""
    env = os.environ.get("RTMPCONF_CACHE")
    if env:
        return Path(env).resolve()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rtmpconf"
