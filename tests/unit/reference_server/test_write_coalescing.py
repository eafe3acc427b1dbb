"""server.py write coalescing: one send per connection per publisher read, or per window."""

from __future__ import annotations

import asyncio
from typing import Any

from rtmpconf.reference_server.config import ServerConfig
from rtmpconf.reference_server.server import RtmpServer, _ConnectionProtocol


class FakeTransport:
    """Records each write (one write = one send on a real transport)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def writelines(self, data: list[bytes]) -> None:
        self.writes.append(b"".join(data))  # one vectored send

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False


class FakeSession:
    """A publisher read that makes the server write to two player connections."""

    def __init__(self, conns: list[_ConnectionProtocol], messages: list[bytes]) -> None:
        self.conns = conns
        self.messages = messages
        self.handshake_done = True

    def data_received(self, data: bytes) -> None:
        for m in self.messages:
            for c in self.conns:
                c.write(m + data)


def connection(server: RtmpServer) -> tuple[_ConnectionProtocol, FakeTransport]:
    conn = _ConnectionProtocol(server)
    transport = FakeTransport()
    conn.transport = transport  # type: ignore[assignment]
    return conn, transport


def publisher(server: RtmpServer, players: list[_ConnectionProtocol], messages: list[bytes]) -> _ConnectionProtocol:
    pub = _ConnectionProtocol(server)
    pub.session = FakeSession(players, messages)  # type: ignore[assignment]
    return pub


def test_one_send_per_player_per_read_in_order() -> None:
    server = RtmpServer(ServerConfig(port=0, http=False))
    (a, ta), (b, tb) = connection(server), connection(server)
    pub = publisher(server, [a, b], [b"audio-", b"video-"])
    pub.data_received(b"1")
    assert ta.writes == [b"audio-1video-1"] and tb.writes == [b"audio-1video-1"]
    pub.data_received(b"2")
    assert ta.writes[-1] == b"audio-2video-2" and len(ta.writes) == 2


def test_window_holds_several_reads_for_one_send_in_order() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes], list[bytes]]:
        server = RtmpServer(ServerConfig(port=0, http=False, write_coalesce_ms=20.0))
        (a, ta), (b, tb) = connection(server), connection(server)
        pub = publisher(server, [a, b], [b"m"])
        pub.data_received(b"1")
        pub.data_received(b"2")
        before = list(ta.writes)
        a.write(b"-own")  # a write outside a read keeps its place after the held ones
        await asyncio.sleep(0.05)
        return before, ta.writes, tb.writes

    before, wa, wb = asyncio.run(scenario())
    assert before == []  # held for the window
    assert wa == [b"m1m2-own"]  # one send for both reads, then the connection's own write
    assert wb == [b"m1m2"]


def test_close_sends_what_is_held_first() -> None:
    async def scenario() -> Any:
        server = RtmpServer(ServerConfig(port=0, http=False, write_coalesce_ms=1000.0))
        a, ta = connection(server)
        pub = publisher(server, [a], [b"x"])
        pub.data_received(b"1")
        ta.close = lambda: ta.writes.append(b"<closed>")  # type: ignore[attr-defined]
        a.close()
        if server.flush_timer is not None:
            server.flush_timer.cancel()
        return ta.writes

    assert asyncio.run(scenario()) == [b"x1", b"<closed>"]
