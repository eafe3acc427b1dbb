from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Iterator

import pytest

from rtmpconf.harness.client import RtmpClient, Target
from rtmpconf.reference_server.config import ServerConfig
from rtmpconf.reference_server.server import ServerThread


@pytest.fixture
def server_factory() -> Iterator[Callable[..., ServerThread]]:
    started: list[ServerThread] = []

    def make(**overrides: Any) -> ServerThread:
        # Any free ports: the HTTP side's default 8080 may be taken on the machine (or by another run).
        cfg = ServerConfig.from_mapping({"port": 0, "http_port": 0, **overrides})
        srv = ServerThread(cfg).start()
        started.append(srv)
        return srv

    yield make
    for s in started:
        s.stop()


@pytest.fixture
def server(server_factory: Callable[..., ServerThread]) -> ServerThread:
    return server_factory()


@pytest.fixture
def target(server: ServerThread) -> Target:
    return Target("127.0.0.1", server.port, "live")


def run(coro: Awaitable[Any], timeout: float = 30.0) -> Any:
    """Run a scenario with a hard deadline (a hung server must not hang the tests)."""
    async def guarded() -> Any:
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(guarded())


async def connected(target: Target, label: str = "", **kw: Any) -> RtmpClient:
    c = RtmpClient(target, label=label, **kw)
    await c.open()
    await c.handshake()
    await c.connect()
    return c


def wait_published(srv: ServerThread, name: str, timeout: float = 10.0) -> None:
    """Block until ``name`` has a publisher and a cached GOP on the in-process server."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        def check() -> bool:
            s = srv.server.registry.get("live", name)
            return s is not None and s.publisher is not None and bool(s.gop.messages)
        if srv.call(check):
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} was not published within {timeout} s")


def http_get_sync(url: str, **kw: Any) -> Any:
    """One HTTP GET (harness.http.client) from synchronous test code, with a 30 s deadline."""
    from rtmpconf.harness.http.client import http_get

    return asyncio.run(asyncio.wait_for(http_get(url, **kw), 30))
