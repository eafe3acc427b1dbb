"""The servers the comparison benchmarks measure, started the same way for every benchmark."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: Display name -> summary.json key suffix.
SERVERS = {"reference": "reference", "nginx-rtmp": "nginx_rtmp", "node-media-server": "node_media_server"}


@dataclass
class RunningServer:
    name: str
    url: str
    pid: int
    driver: Any


@contextlib.contextmanager
def running(name: str) -> Iterator[RunningServer]:
    """Start ``name`` on a free loopback port; stop it afterwards.

    reference: ``python -m rtmpconf.reference_server`` (stdlib event loop, logging at WARNING so a
    thousand joins do not measure the logger); nginx-rtmp: one worker, no master process, so
    its pid is the process doing the work; node-media-server 4.x: one node process.
    """
    from rtmpconf.harness.peers.servers import NginxRtmp, NodeMediaServer
    from rtmpconf.harness.targets import ReferenceServerProcess

    driver: Any
    if name == "reference":
        driver = ReferenceServerProcess(extra_args=("--log-level", "WARNING"))
    elif name == "nginx-rtmp":
        driver = NginxRtmp()
    elif name == "node-media-server":
        driver = NodeMediaServer()
    else:
        raise ValueError(f"unknown server {name!r}")
    target = driver.start()
    try:
        assert driver.proc is not None
        yield RunningServer(name, f"rtmp://{target.host}:{target.port}/{target.app}", driver.proc.pid, driver)
    finally:
        driver.stop()


def key(name: str) -> str:
    return SERVERS[name]
