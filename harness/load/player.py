"""A light RTMP player for load tests: handshake, connect, createStream, play, count bytes.

It decodes nothing after the handshake (so one process can carry hundreds of players); drops
show up as byte-count differences between players that received the same fan-out.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field

from rtmp.chunk import ChunkWriter
from rtmp.messages import Command, UserControl, encode_message

HANDSHAKE = 1536


def play_request(app: str, tc_url: str, name: str, stream_id: int = 1) -> bytes:
    """connect + createStream + play + SetBufferLength, pipelined (the server answers in order)."""
    w = ChunkWriter(128)
    out = b""
    for msg, msid, csid in (
        (Command("connect", 1.0, {"app": app, "tcUrl": tc_url, "flashVer": "LNX 9,0,124,2",
                                  "objectEncoding": 0.0}), 0, 3),
        (Command("createStream", 2.0, None), 0, 3),
        (Command("play", 0.0, None, (name, -2.0)), stream_id, 8),
        (UserControl.set_buffer_length(stream_id, 1000), 0, 2),
    ):
        type_id, payload = encode_message(msg)
        out += w.encode(csid, type_id, msid, 0, payload)
    return out


@dataclass
class PlayerStats:
    connected_at: float = 0.0
    first_byte_after_play: float | None = None
    bytes: int = 0
    reads: int = 0
    closed: bool = False
    error: str | None = None


class LightPlayer(asyncio.Protocol):
    def __init__(self, request: bytes) -> None:
        self.request = request
        self.stats = PlayerStats()
        self.transport: asyncio.Transport | None = None
        self._hs = bytearray()
        self._in_handshake = True
        self.done = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.stats.connected_at = time.monotonic()
        transport.write(b"\x03" + bytes(8) + os.urandom(HANDSHAKE - 8))

    def data_received(self, data: bytes) -> None:
        if self._in_handshake:
            self._hs += data
            if len(self._hs) < 1 + 2 * HANDSHAKE:
                return
            s1 = bytes(self._hs[1:1 + HANDSHAKE])
            rest = bytes(self._hs[1 + 2 * HANDSHAKE:])
            self._in_handshake = False
            self._hs = bytearray()
            assert self.transport is not None
            self.transport.write(s1 + self.request)  # C2 (echo of S1) + commands
            data = rest
            if not data:
                return
        self.stats.bytes += len(data)
        self.stats.reads += 1
        if self.stats.first_byte_after_play is None:
            self.stats.first_byte_after_play = time.monotonic()

    def connection_lost(self, exc: Exception | None) -> None:
        self.stats.closed = True
        if exc is not None:
            self.stats.error = str(exc)
        if not self.done.done():
            self.done.set_result(None)


@dataclass
class PlayerPool:
    host: str
    port: int
    app: str
    name: str
    players: list[LightPlayer] = field(default_factory=list)

    async def open(self, count: int, *, concurrency: int = 50, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        request = play_request(self.app, f"rtmp://{self.host}:{self.port}/{self.app}", self.name)
        sem = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with sem:
                _, proto = await asyncio.wait_for(
                    loop.create_connection(lambda: LightPlayer(request), self.host, self.port), timeout)
                self.players.append(proto)

        await asyncio.gather(*(one() for _ in range(count)))

    def close(self) -> None:
        for p in self.players:
            if p.transport is not None:
                p.transport.close()
