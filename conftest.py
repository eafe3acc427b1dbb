"""Wires the rtmp-conformance pytest plugin for in-repo runs; no logic lives here."""

from importlib.metadata import PackageNotFoundError, distribution

try:
    # Installed (pip install -e .): the plugin arrives through the pytest11 entry point.
    distribution("rtmp-conformance")
    pytest_plugins: list[str] = ["pytester"]  # pytester: tests/plugin drive pytest itself
except PackageNotFoundError:
    pytest_plugins = ["pytester", "rtmpconf.harness.pytest_plugin"]
