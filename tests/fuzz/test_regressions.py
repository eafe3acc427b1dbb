"""Regression vectors: every failure the session fuzzer found, shrunk, as explicit client input.

Each test replays the shrunk session against the in-process server of ``tests/fuzz/model.py``
(the reference server's ServerSession and registry, glued like server.py) and then applies the
fuzzer's checks: no exception, a legal chunk stream out, nothing left in the registry once every
connection is gone, and a fresh client still answered.
"""

from __future__ import annotations

from rtmpconf.rtmp.handshake import DigestScheme, HandshakeMode
from rtmpconf.rtmp.messages import Command, Video
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


def two_publishers_and_a_player(server: FuzzServer, names: tuple[str, str]) -> tuple[FuzzClient, FuzzClient]:
    pub = connected_client(server)
    pub.deliver(pub.encode(Command("createStream", 3.0, None, ())))
    pub.deliver(pub.encode(Command("publish", 0.0, None, ("a", "live")), msid=1))
    pub.deliver(pub.encode(Command("publish", 0.0, None, ("b", "live")), msid=2))
    assert pub.statuses == ["NetStream.Publish.Start"] * 2
    player = connected_client(server)
    player.deliver(player.encode(Command("createStream", 3.0, None, ())))
    player.deliver(player.encode(Command("play", 0.0, None, (names[0], -2.0)), msid=1))
    player.deliver(player.encode(Command("play", 0.0, None, (names[1], -2.0)), msid=2))
    return pub, player


def test_one_connection_playing_two_streams_gets_a_legal_chunk_stream() -> None:
    """Fuzzer, shrunk: one connection plays "a" on stream 1 and "b" on stream 2. Each stream's
    fan-out compressed its headers against its own last message on the media chunk streams (4, 5,
    6), but both write to the same connection: after a 105-byte video of "a" and a 305-byte one of
    "b", "a"'s next frame went out as fmt 2 ("same length as before") and the client read 305
    bytes for it; the rest of the stream was garbage (here: zero-length type-0 messages)."""
    server = FuzzServer()
    pub, player = two_publishers_and_a_player(server, ("a", "b"))
    assert player.statuses == ["NetStream.Play.Reset", "NetStream.Play.Start"] * 2
    for i in range(6):
        for msid, size in ((1, 100), (2, 300)):
            frame = bytes.fromhex("1701000000" if i == 0 else "2701000000") + b"\x5a" * size
            pub.deliver(pub.encode(Video(frame), msid=msid, timestamp=40 * i))
            player.wait_server()  # the fuzzer's reader raises on an illegal chunk stream
    assert player.reader is not None
    frames = player.media
    assert [(m.msid, len(m.payload)) for m in frames] == [(1, 105), (2, 305)] * 6
    pub.close()
    player.close()
    assert_server_clean(server)


def test_second_play_of_the_same_stream_on_one_connection_is_refused() -> None:
    """Fuzzer, shrunk: one connection plays "a" on stream 1 and again on stream 2. The stream keeps
    one player per connection, so the second play replaced the first in its table while the first
    stayed in the fan-out: media for both, and an orphan player that nothing removes."""
    server = FuzzServer()
    pub, player = two_publishers_and_a_player(server, ("a", "a"))
    assert player.statuses == ["NetStream.Play.Reset", "NetStream.Play.Start", "NetStream.Play.StreamNotFound"]
    pub.deliver(pub.encode(Video(bytes.fromhex("1701000000") + b"\x5a" * 10), msid=1))
    player.wait_server()
    assert [(m.msid, len(m.payload)) for m in player.media] == [(1, 15)]
    player.close()
    stream = server.registry.get("live", "a")
    assert stream is not None and not stream.players
    assert all(not g.players for g in stream.groups.values())
    pub.close()
    assert_server_clean(server)
