"""Steady sets (streams.py, server.py ``SteadySet``) change how the reference server sends, never
what a player receives: the same scenario with them on and off gives every player the same media
messages, while players pause, drop a track, probe the server and the publisher sends metadata
mid-stream."""

from __future__ import annotations

from typing import Any

import pytest

from rtmpconf.harness.client import RtmpClient, Target
from rtmpconf.reference_server import fanout_core
from rtmpconf.reference_server.server import ServerThread
from rtmpconf.rtmp.messages import Data
from tests.integration.conftest import connected, run
from tests.integration.test_reference_server import media_events, start_publisher

pytestmark = pytest.mark.skipif(not fanout_core.available(), reason="needs the compiled fan-out core "
                                "(tests/unit/reference_server/test_fanout_core.py fails under CI=true without it)")

Received = list[tuple[int, int, bytes]]


def _members(srv: ServerThread, name: str) -> int:
    def count() -> int:
        stream = srv.server.registry.get("live", name)
        assert stream is not None
        return sum(len(g.steady.members) for g in stream.groups.values() if g.steady is not None)
    return int(srv.call(count))


def _scenario(srv: ServerThread) -> tuple[list[Received], list[int], list[Any]]:
    target = Target("127.0.0.1", srv.port, "live")
    members_seen: list[int] = []

    async def scenario() -> tuple[list[Received], list[Any]]:
        pub, stream = await start_publisher(target, "steady", seconds=3.0)
        players: list[RtmpClient] = [await connected(target, f"p{i}") for i in range(4)]
        for p in players:
            await p.play("steady")
        tags = stream.tags
        third = len(tags) // 3
        await pub.publish_media(tags[:third])
        await pub.probe()
        members_seen.append(_members(srv, "steady"))
        # p1 drops audio, p2 pauses; p3 probes (the server's reply is a write of its own).
        await players[1].command("receiveAudio", False, msid=players[1].stream_id)
        await players[2].command("pause", True, 0.0, msid=players[2].stream_id)
        for p in players[1:]:
            await p.probe()
        # Metadata on a chunk stream no set is in step on.
        await pub.send(Data(("@setDataFrame", "onMetaData", {"width": 320.0, "height": 180.0, "x": 1.0})),
                       msid=pub.stream_id, timestamp=tags[third].timestamp)
        await pub.publish_media(tags[third:2 * third])
        await pub.probe()
        members_seen.append(_members(srv, "steady"))
        await players[1].command("receiveAudio", True, msid=players[1].stream_id)
        await players[2].command("pause", False, 0.0, msid=players[2].stream_id)
        for p in players[1:3]:
            await p.probe()
        await pub.publish_media(tags[2 * third:])
        await pub.probe()
        members_seen.append(_members(srv, "steady"))
        for p in players:
            await p.probe()  # everything written before the reply has arrived
        got = [[(e.raw.type_id, e.raw.timestamp, e.raw.payload) for e in media_events(p.received)]
               for p in players]
        for c in [*players, pub]:
            await c.close()
        return got, list(tags)

    got, tags = run(scenario(), timeout=60)
    return got, members_seen, tags


def test_players_get_the_same_messages_with_and_without_steady_sets(server_factory: Any) -> None:
    on, members_on, tags = _scenario(server_factory(fanout_steady=True))
    off, members_off, _ = _scenario(server_factory(fanout_steady=False))
    # The sets were in use (all four players in step after the first third, until the changes),
    # and not at all when turned off.
    assert members_on[0] == 4, members_on
    assert max(members_on[1:]) >= 1, members_on
    assert members_off == [0, 0, 0]
    for i, (a, b) in enumerate(zip(on, off)):
        assert a == b, f"player {i}: {len(a)} messages with steady sets, {len(b)} without"
    # The players that changed nothing got every published frame, in order.
    published = [t.payload for t in tags]
    for i in (0, 3):
        frames = [payload for type_id, _, payload in on[i] if type_id in (8, 9)]
        assert frames[-len(published):] == published, f"player {i}"
    # p1 missed audio while it asked not to receive it; p2 missed frames while paused.
    assert len(on[1]) < len(on[0]) and len(on[2]) < len(on[0])


def _nodelay_by_role(srv: ServerThread) -> dict[str, list[int]]:
    """TCP_NODELAY of the server's sockets: steady-set members and every other connection."""
    import socket

    def read() -> dict[str, list[int]]:
        out: dict[str, list[int]] = {"member": [], "other": []}
        for session in srv.server.sessions:
            conn = session.transport
            sock = getattr(conn, "_sock", None)
            if sock is None:
                continue
            role = "member" if conn.steady is not None else "other"
            out[role].append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        return out
    return srv.call(read)  # type: ignore[no-any-return]


@pytest.mark.parametrize("steady_nagle", [True, False])
def test_steady_members_stream_with_nagle_and_the_rest_send_at_once(server_factory: Any, steady_nagle: bool) -> None:
    """steady_nagle (the default): a player in a steady set has Nagle's algorithm on; the
    publisher, and a player that left the set (paused), send at once again."""
    srv = server_factory(steady_nagle=steady_nagle)
    target = Target("127.0.0.1", srv.port, "live")

    async def scenario() -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        pub, stream = await start_publisher(target, "nagle", seconds=2.0)
        players = [await connected(target, f"p{i}") for i in range(2)]
        for p in players:
            await p.play("nagle")
        tags = stream.tags
        await pub.publish_media(tags[: len(tags) // 2])
        await pub.probe()
        streaming = _nodelay_by_role(srv)
        await players[1].command("pause", True, 0.0, msid=players[1].stream_id)
        await players[1].probe()
        await pub.publish_media(tags[len(tags) // 2:])
        await pub.probe()
        paused = _nodelay_by_role(srv)
        for c in [*players, pub]:
            await c.close()
        return streaming, paused

    streaming, paused = run(scenario(), timeout=30)
    assert len(streaming["member"]) == 2, streaming
    assert len(paused["member"]) == 1, paused
    held = 0 if steady_nagle else 1
    assert streaming["member"] == [held, held] and paused["member"] == [held], (streaming, paused)
    assert paused["other"] and all(v == 1 for v in streaming["other"] + paused["other"]), (streaming, paused)
