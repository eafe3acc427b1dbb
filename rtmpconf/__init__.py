"""rtmp-conformance: a conformance suite for RTMP servers and clients, and a reference live server.

Subpackages: ``rtmpconf.rtmp`` (sans-IO core), ``rtmpconf.reference_server``, ``rtmpconf.harness``,
``rtmpconf.cases`` (the conformance cases) and the data they need (catalogue, manifests).
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # ``__version__`` on first use: importlib.metadata costs ~40 ms of start-up, which a short
    # command (``rtmpconf analyze``) would otherwise pay for nothing.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("rtmp-conformance")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
            value = "0+unknown"
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
