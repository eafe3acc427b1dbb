"""Relay between reference servers (and nginx-rtmp): push, pull on demand, release, loop protection."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from rtmpconf.harness.client import RtmpClient, Target
from rtmpconf.harness.testmedia import make_h264_aac
from rtmpconf.reference_server.server import ServerThread
from tests.integration.conftest import connected, run


def url(srv: Any, app: str = "live") -> str:
    port = srv.port if isinstance(srv, ServerThread) else srv
    return f"rtmp://127.0.0.1:{port}/{app}"


async def publish(target: Target, name: str, seconds: float = 1.0, realtime: bool = False) -> tuple[RtmpClient, list]:
    from rtmpconf.harness.scenarios import publish_stream

    stream = make_h264_aac(seconds=seconds)
    pub = RtmpClient(target, label="publisher")
    await pub.open()
    await publish_stream(pub, name, stream=stream)
    return pub, stream


async def frames_at(target: Target, name: str, want: int, timeout: float = 10.0) -> RtmpClient:
    """A player of ``name`` on ``target`` that has received ``want`` coded video frames."""
    p = await connected(target, "player")
    await p.play(name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = [e for e in p.received if e.raw.type_id == 9 and e.raw.payload[1:2] == b"\x01"]
        if len(got) >= want:
            return p
        await p.collect(0.1)
    raise AssertionError(f"{name}: {len(got)} video frames on {target.port}, wanted {want}")


def video_payloads(c: RtmpClient) -> list[bytes]:
    return [bytes(e.raw.payload) for e in c.received if e.raw.type_id == 9]


def test_pull_on_demand_two_and_three_servers(server_factory: Any) -> None:
    origin = server_factory()
    edge1 = server_factory(relay={"pull": {"origins": [url(origin)], "idle_close_s": 0.5}})
    edge2 = server_factory(relay={"pull": {"origins": [url(edge1)], "idle_close_s": 0.5}})

    async def scenario() -> None:
        pub, _stream = await publish(Target("127.0.0.1", origin.port), "cam")
        # Keep publishing in real time so the edges see live frames after they join.
        more = make_h264_aac(seconds=3.0)
        feeder = asyncio.create_task(pub.publish_media(
            [t for t in more.tags], realtime=True))
        p1 = await frames_at(Target("127.0.0.1", edge1.port), "cam", 10)
        p2 = await frames_at(Target("127.0.0.1", edge2.port), "cam", 10)
        # Every edge player starts with the sequence header, then a keyframe.
        for p in (p1, p2):
            vids = [e for e in p.received if e.raw.type_id == 9]
            assert vids[0].raw.payload[1] == 0, "video sequence header first"
            assert vids[1].raw.payload[0] >> 4 == 1, "then a keyframe"
        # One origin connection per edge, shared by its players.
        p1b = await frames_at(Target("127.0.0.1", edge1.port), "cam", 3)
        assert origin.call(lambda: len(origin.server.registry.get("live", "cam").players)) == 1
        for p in (p1, p1b, p2):
            await p.close()
        # Released once the last player is gone (idle_close_s = 0.5 at each edge).
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and origin.call(
                lambda: len(origin.server.registry.get("live", "cam").players)) > 0:
            await asyncio.sleep(0.1)
        assert origin.call(lambda: len(origin.server.registry.get("live", "cam").players)) == 0
        feeder.cancel()
        await pub.close()

    run(scenario(), timeout=40)


def test_push_to_another_server_and_loop_is_stopped(server_factory: Any) -> None:
    b = server_factory()
    a = server_factory(relay={"server_id": "A", "push": [{"app": "live", "name": "*", "urls": [url(b)]}]})

    async def scenario() -> None:
        player = await connected(Target("127.0.0.1", b.port), "player at B")
        await player.play("pushed")
        pub, stream = await publish(Target("127.0.0.1", a.port), "pushed", seconds=1.0)
        deadline = time.monotonic() + 10
        want = {bytes(t.payload) for t in stream.tags if t.type_id == 9}
        while time.monotonic() < deadline and not want <= set(video_payloads(player)):
            await player.collect(0.1)
        assert want <= set(video_payloads(player)), "every frame pushed from A reached B's player"
        await pub.close()
        await player.close()

    run(scenario(), timeout=30)


def test_push_loop_between_two_servers_ends_at_the_first_repeat(server_factory: Any) -> None:
    from rtmpconf.harness.peers.servers import free_port

    port_b = free_port()
    a = server_factory(relay={"server_id": "A", "push": [{"app": "live", "name": "*",
                                                            "urls": [f"rtmp://127.0.0.1:{port_b}/live"]}]})
    b = server_factory(port=port_b, relay={"server_id": "B", "push": [{"app": "live", "name": "*", "urls": [url(a)]}]})

    async def scenario() -> None:
        pub, _ = await publish(Target("127.0.0.1", a.port), "loop")
        await asyncio.sleep(1.5)  # let B's push to A be attempted (and refused) a few times
        a_stream = a.call(lambda: a.server.registry.get("live", "loop"))
        assert a_stream is not None and a_stream.publisher is not None
        b_stream = b.call(lambda: b.server.registry.get("live", "loop"))
        assert b_stream is not None and b_stream.publisher is not None, "A's push reached B"
        # B's push back to A was refused: A's publisher is still the original client.
        assert a.call(lambda: type(a.server.registry.get("live", "loop").publisher).__name__) == "ServerSession"
        taps = b.call(lambda: [t for t in b.server.relay.push_taps if t.stream.name == "loop"])
        assert taps and all(t.connects == 0 and t.failures >= 1 for t in taps)
        await pub.close()

    run(scenario(), timeout=30)


def test_edge_never_pulls_from_itself(server_factory: Any) -> None:
    from rtmpconf.harness.peers.servers import free_port

    port = free_port()
    edge = server_factory(port=port, relay={"pull": {"origins": [f"rtmp://127.0.0.1:{port}/live"]}})

    async def scenario() -> None:
        p = await connected(Target("127.0.0.1", edge.port), "player")
        await p.play("nothing")
        await p.collect(1.0)
        sessions = edge.call(lambda: len(edge.server.sessions))
        assert sessions == 1, f"the edge opened {sessions - 1} connection(s) to itself"
        await p.close()

    run(scenario(), timeout=20)


@pytest.mark.parametrize("role", ["origin", "push-target"])
def test_nginx_as_origin_and_push_target(server_factory: Any, role: str) -> None:
    from rtmpconf.harness.peers import require_or_skip
    from rtmpconf.harness.peers.servers import NginxRtmp

    require_or_skip("nginx")
    nginx = NginxRtmp()
    nt = nginx.start()
    try:
        if role == "origin":
            edge = server_factory(relay={"pull": {"origins": [f"rtmp://127.0.0.1:{nt.port}/live"]}})
            pub_target, play_target = nt, Target("127.0.0.1", edge.port)
        else:
            a = server_factory(relay={"push": [{"urls": [f"rtmp://127.0.0.1:{nt.port}/live"]}]})
            pub_target, play_target = Target("127.0.0.1", a.port), nt

        async def scenario() -> None:
            pub, _ = await publish(pub_target, "n")
            more = make_h264_aac(seconds=4.0)
            feeder = asyncio.create_task(pub.publish_media(list(more.tags), realtime=True))
            p = await frames_at(play_target, "n", 10, timeout=15)
            vids = [e for e in p.received if e.raw.type_id == 9]
            assert vids[0].raw.payload[1] == 0 and vids[1].raw.payload[0] >> 4 == 1
            feeder.cancel()
            await p.close()
            await pub.close()

        run(scenario(), timeout=40)
    finally:
        nginx.stop()
