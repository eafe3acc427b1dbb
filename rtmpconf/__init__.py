"""rtmp-conformance: a conformance suite for RTMP servers and clients, and a reference live server.

Subpackages: ``rtmpconf.rtmp`` (sans-IO core), ``rtmpconf.reference_server``, ``rtmpconf.harness``,
``rtmpconf.cases`` (the conformance cases) and the data they need (catalogue, manifests).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("rtmp-conformance")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"
