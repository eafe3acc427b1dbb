"""Regression vectors: every failure the session fuzzer found, shrunk, as explicit client input.

Each test replays the shrunk session against the in-process server of ``tests/fuzz/model.py``
(the reference server's ServerSession and registry, glued like server.py) and then applies the
fuzzer's checks: no exception, a legal chunk stream out, nothing left in the registry once every
connection is gone, and a fresh client still answered.
"""

from __future__ import annotations

from rtmpconf.rtmp.handshake import DigestScheme, HandshakeMode
from rtmpconf.rtmp.messages import Command
from tests.fuzz.model import FuzzClient, FuzzServer, InProcessLink, check_fresh_client


def connected_client(server: FuzzServer) -> FuzzClient:
    client = FuzzClient(InProcessLink(server), mode=HandshakeMode.SIMPLE, scheme=DigestScheme.SCHEME1, version=3, seed=7)
    client.handshake(c2="echo", glue=b"", cuts=[])
    client.deliver(client.encode(Command("connect", 1.0, {"app": "live"}, ())))
    client.deliver(client.encode(Command("createStream", 2.0, None, ())))
    assert client.replies == {1.0: "_result", 2.0: "_result"} and client.stream_ids == [1]
    return client


def assert_server_clean(server: FuzzServer) -> None:
    server.check_registry()
    assert not server.registry.streams, sorted(server.registry.streams)
    check_fresh_client(lambda: InProcessLink(server))
    assert not server.registry.streams


def test_refused_second_publish_on_one_stream_leaves_no_stream_behind() -> None:
    """Fuzzer, shrunk: publish "live1" on stream 1, then publish "live2" on the same stream 1.
    The second is refused (BadName), but "live2" had already been created in the registry and
    stayed there with neither publisher nor player after the connection closed: one leaked
    stream object per refused name, for the server's lifetime."""
    server = FuzzServer()
    client = connected_client(server)
    client.deliver(client.encode(Command("publish", 0.0, None, ("live1", "live")), msid=1))
    client.deliver(client.encode(Command("publish", 0.0, None, ("live2", "live")), msid=1))
    assert client.statuses == ["NetStream.Publish.Start", "NetStream.Publish.BadName"]
    assert set(server.registry.streams) == {("live", "live1")}
    client.close()
    assert_server_clean(server)
