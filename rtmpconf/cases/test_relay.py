"""Relay cases (catalogue section 16): push upstream, pull from an origin on demand, release, no loop.

The server under test is started a second time with relaying on (module fixture ``relay_setup``),
next to a reference server the harness runs in-process as the upstream/origin and watches: the
reference server with ``[relay]`` push/pull, or nginx-rtmp with ``push`` / ``pull`` directives.
Its apps: ``push`` (pushes to the harness's server, app ``live``), ``edge`` (pulls from it),
``selfpull`` (pulls from itself). Servers the suite cannot configure get NOT-RUN.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from rtmpconf.harness.checks.relaying import (
    check_edge_start,
    check_no_relay_loop,
    check_origin_released,
    check_relayed_unchanged,
)
from rtmpconf.harness.client import Target
from rtmpconf.harness.scenarios import publish_stream, tags_with_headers
from rtmpconf.harness.testmedia import make_h264_aac
from rtmpconf.harness.verdict import not_run

#: How long RELAY-3 waits for the edge to release its origin connection (s).
RELEASE_BOUND_S = 10.0
#: How long media may take to cross a relay hop on loopback (s).
HOP_WAIT_S = 8.0


@dataclass
class RelaySetup:
    sut: Target  #: the server under test (app set per case)
    hub: Any  #: the harness's reference server (ServerThread): push target and origin, app "live"
    kind: str


def _reference(stack: contextlib.ExitStack, hub_port: int) -> Target:
    from rtmpconf.harness.peers.servers import free_port
    from rtmpconf.harness.targets import ReferenceServerProcess

    work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rtmpconf-relay-")))
    own = free_port()
    (work / "relay.toml").write_text(f'''[[relay.pull]]
apps = ["edge"]
origins = ["rtmp://127.0.0.1:{hub_port}/live"]
idle_close_s = 2.0
[[relay.pull]]
apps = ["selfpull"]
origins = ["rtmp://127.0.0.1:{own}/selfpull"]
[[relay.push]]
app = "push"
urls = ["rtmp://127.0.0.1:{hub_port}/live"]
''')
    proc = ReferenceServerProcess(config=str(work / "relay.toml"), log_path=work / "server.log",
                                  extra_args=("--port", str(own)))
    target = proc.start()
    stack.callback(proc.stop)
    return target


def _nginx(stack: contextlib.ExitStack, hub_port: int) -> Target:
    from rtmpconf.harness.peers.servers import NginxRtmp, free_port

    port = free_port()
    hub = f"rtmp://127.0.0.1:{hub_port}/live"
    server = NginxRtmp(port=port, extra_apps={"push": [f"push {hub}"], "edge": [f"pull {hub}"],
                                               "selfpull": [f"pull rtmp://127.0.0.1:{port}/selfpull"]})
    target = server.start()
    stack.callback(server.stop)
    return target


@pytest.fixture(scope="module")
def relay_setup(rtmp_target: Any) -> Iterator[RelaySetup | str]:
    from rtmpconf.reference_server.config import ServerConfig
    from rtmpconf.reference_server.server import ServerThread

    name = rtmp_target.name or ""
    if rtmp_target.driver is None or name not in ("reference", "nginx-rtmp"):
        yield (f"relaying of {name or 'a target given by URL'} is not something this suite can configure "
               "(reference and nginx-rtmp are)")
        return
    with contextlib.ExitStack() as stack:
        hub = stack.enter_context(ServerThread(ServerConfig.from_mapping({"port": 0})))
        sut = _reference(stack, hub.port) if name == "reference" else _nginx(stack, hub.port)
        yield RelaySetup(sut, hub, name)


def setup_or_judge(rtmp: Any, setup: RelaySetup | str) -> RelaySetup | None:
    if isinstance(setup, str):
        rtmp.judge(not_run(rtmp.rule, setup))
        return None
    return setup


def hub_players(setup: RelaySetup, name: str) -> int:
    def count() -> int:
        s = setup.hub.server.registry.get("live", name)
        return len(s.players) if s is not None else 0
    return int(setup.hub.call(count))


async def wait_for_payload(player: Any, payload: bytes, timeout: float) -> None:
    with contextlib.suppress(Exception):
        await player.wait_for(lambda e: bytes(e.raw.payload) == payload, "relayed media", timeout=timeout)


# -- RELAY-1 -------------------------------------------------------------------------------------------


@pytest.mark.slow_case  # real-time media or a server timeout: scheduled first with -j
@pytest.mark.rule("RELAY-1")
async def test_push_keeps_payloads_and_timing(rtmp, relay_setup):
    """A player waits at the upstream (the harness's reference server, app ``live``); a publisher
    sends onMetaData, H.264/AAC sequence headers and 2 s of frames (real time) to app ``push`` of
    the server under test, which pushes it there.

    Requirement (RELAY-1): the push "forwards every audio and video message byte for byte, in order,
    with the published spacing of timestamps".
    """
    setup = setup_or_judge(rtmp, relay_setup)
    if setup is None:
        return
    name = rtmp.stream_name()
    stream = make_h264_aac(seconds=2.0)
    upstream = Target("127.0.0.1", setup.hub.port, "live")
    async with rtmp.client(label="player at the upstream", target=upstream) as player, \
            rtmp.client(label="publisher", target=replace(setup.sut, app="push")) as pub:
        await player.handshake()
        await player.connect()
        await player.play(name)
        await publish_stream(pub, name, stream=stream, until_ms=0)
        await pub.publish_media(stream.tags, realtime=True)
        await wait_for_payload(player, stream.tags[-1].payload, HOP_WAIT_S)
    rtmp.judge(check_relayed_unchanged(player.log, tags_with_headers(stream), hop="the push"))


# -- RELAY-2 / RELAY-3 -------------------------------------------------------------------------------


@pytest.mark.slow_case  # real-time media or a server timeout: scheduled first with -j
@pytest.mark.rule("RELAY-2")
async def test_edge_pulls_on_demand(rtmp, relay_setup):
    """A publisher sends H.264/AAC in real time to the origin (the harness's reference server, app
    ``live``); after 0.5 s a player plays the same name at app ``edge`` of the server under test.

    Requirement (RELAY-2): the edge "opens the stream at the origin; the edge's player gets the
    sequence headers and then a keyframe, and the published payloads after it".
    """
    setup = setup_or_judge(rtmp, relay_setup)
    if setup is None:
        return
    name = rtmp.stream_name()
    stream = make_h264_aac(seconds=3.0, gop=12)
    origin = Target("127.0.0.1", setup.hub.port, "live")
    async with rtmp.client(label="publisher at the origin", target=origin) as pub, \
            rtmp.client(label="player at the edge", target=replace(setup.sut, app="edge")) as player:
        await publish_stream(pub, name, stream=stream, until_ms=0)
        feeder = asyncio.create_task(pub.publish_media(stream.tags, realtime=True))
        await asyncio.sleep(0.5)
        await player.handshake()
        await player.connect()
        await player.play(name)
        await wait_for_payload(player, stream.tags[-1].payload, HOP_WAIT_S)
        await feeder
    rtmp.judge(check_edge_start(player.log, tags_with_headers(stream)))


@pytest.mark.slow_case  # real-time media or a server timeout: scheduled first with -j
@pytest.mark.rule("RELAY-3")
async def test_edge_releases_origin(rtmp, relay_setup):
    """As RELAY-2 (publish at the origin, play at app ``edge``) until media flows; then the edge's
    only player closes, and the origin's player count for the name is sampled every 0.2 s.

    Requirement (RELAY-3): "the edge closes its connection to the origin within its idle time".
    """
    setup = setup_or_judge(rtmp, relay_setup)
    if setup is None:
        return
    name = rtmp.stream_name()
    stream = make_h264_aac(seconds=6.0, gop=12)
    origin = Target("127.0.0.1", setup.hub.port, "live")
    samples: list[tuple[float, int]] = []
    async with rtmp.client(label="publisher at the origin", target=origin) as pub:
        await publish_stream(pub, name, stream=stream, until_ms=0)
        feeder = asyncio.create_task(pub.publish_media(stream.tags, realtime=True))
        async with rtmp.client(label="player at the edge", target=replace(setup.sut, app="edge")) as player:
            await player.handshake()
            await player.connect()
            await player.play(name)
            await wait_for_payload(player, stream.tags[len(stream.tags) // 2].payload, HOP_WAIT_S)
            # The edge's connection at the origin is what is judged: leave only once it is there
            # (a slow edge may still be opening it when its player has seen media from elsewhere).
            until = time.monotonic() + rtmp.deadline(HOP_WAIT_S)
            while hub_players(setup, name) == 0 and time.monotonic() < until:
                await asyncio.sleep(0.1)
            connected_before = hub_players(setup, name) > 0
        left = time.monotonic()
        while True:
            n = hub_players(setup, name)
            samples.append((time.monotonic() - left, n))
            if n == 0 or time.monotonic() - left > RELEASE_BOUND_S:
                break
            await asyncio.sleep(0.2)
        feeder.cancel()
    rtmp.judge(check_origin_released(samples, bound_s=RELEASE_BOUND_S, connected_before=connected_before))


# -- RELAY-4 -----------------------------------------------------------------------------------------


def established(port: int) -> int:
    """Established TCP connections whose local port is ``port`` (server side), from /proc/net/tcp."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "01" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                n += 1
    return n


@pytest.mark.slow_case  # real-time media or a server timeout: scheduled first with -j
@pytest.mark.rule("RELAY-4")
async def test_no_pull_from_itself(rtmp, relay_setup):
    """App ``selfpull`` of the server under test pulls from its own address. One player plays a name
    nobody publishes there; for 2 s the established connections to the server are counted.

    Requirement (RELAY-4): the edge "must not connect to itself again and again for a name nobody
    publishes".
    """
    setup = setup_or_judge(rtmp, relay_setup)
    if setup is None:
        return
    if setup.sut.host not in ("127.0.0.1", "localhost"):
        rtmp.judge(not_run("RELAY-4", "connections can only be counted for a server on this machine"))
        return
    target = replace(setup.sut, app="selfpull")
    counts: list[int] = []
    async with rtmp.client(label="player at selfpull", target=target) as player:
        await player.handshake()
        await player.connect()
        with contextlib.suppress(Exception):
            await player.play(rtmp.stream_name(), )
        for _ in range(10):
            counts.append(established(setup.sut.port))
            await asyncio.sleep(0.2)
    # Our player, plus at most one relay connection that is refused at once.
    rtmp.judge(check_no_relay_loop(counts, allowed=3))
