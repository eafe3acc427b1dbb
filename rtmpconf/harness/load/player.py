"""Light RTMP players for load tests: handshake, pipelined connect/createStream/play, then count.

A player decodes nothing but chunk headers (:class:`harness.load.scanner.ChunkScanner`), so one
process carries hundreds of them. It is an ``asyncio.BufferedProtocol``: the event loop receives
straight into one buffer shared by every player of the process (the scanner consumes a read
before the next ``recv_into``), so a read allocates nothing.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import socket
import time
from dataclasses import dataclass, field
from typing import cast

from rtmpconf.harness.load.scanner import ChunkScanner, LatencyHistogram
from rtmpconf.rtmp.chunk import ChunkWriter
from rtmpconf.rtmp.messages import Command, UserControl, encode_message

HANDSHAKE = 1536
READ_BUFFER = 256 * 1024  # what asyncio's selector transport reads at most, too
_SHARED = bytearray(READ_BUFFER)
_SHARED_MV = memoryview(_SHARED)


class ArrivalSelector(selectors.EpollSelector if hasattr(selectors, "EpollSelector")  # type: ignore[misc]
                      else selectors.DefaultSelector):
    """The event loop's selector, noting ``time.time_ns()`` when each poll returns.

    Players stamp a read with the time the OS reported their socket readable, not the time the
    loop got round to them: with hundreds of sockets ready at once, the last one would otherwise
    carry the generator's own processing of all the others as "latency".
    """

    arrival_ns = 0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(timeout)
        self.arrival_ns = time.time_ns()
        return ready


def arrival_loop() -> tuple[asyncio.AbstractEventLoop, ArrivalSelector]:
    """A selector event loop whose players stamp reads with poll-return time."""
    sel = ArrivalSelector()
    return asyncio.SelectorEventLoop(sel), sel


def play_request(app: str, tc_url: str, name: str, stream_id: int = 1) -> bytes:
    """connect + createStream + play + SetBufferLength, pipelined (servers answer in order).

    createStream on a fresh connection returns 1 on every server we know, so play goes out on
    msid 1 without waiting for the reply.
    """
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


def connect_request(app: str, tc_url: str) -> bytes:
    """connect only: an idle, connected session (memory-per-connection measurements)."""
    type_id, payload = encode_message(Command("connect", 1.0, {"app": app, "tcUrl": tc_url}))
    return ChunkWriter(128).encode(3, type_id, 0, 0, payload)


@dataclass
class PlayerStats:
    """Snapshot of one player (kept for callers of the first version of this module)."""

    connected_at: float = 0.0
    first_byte_after_play: float | None = None
    bytes: int = 0
    reads: int = 0
    closed: bool = False
    error: str | None = None


class LightPlayer(asyncio.BufferedProtocol):
    """One player connection; ``request`` is sent right after C2 (see :func:`play_request`)."""

    def __init__(self, request: bytes, histogram: LatencyHistogram | None = None,
                 arrival: ArrivalSelector | None = None) -> None:
        self.request = request
        self._arrival = arrival
        self.stream = ""  #: the stream name it plays (set by the pool)
        self.scanner = ChunkScanner(histogram)
        self.transport: asyncio.Transport | None = None
        self._hs: bytearray | None = bytearray()  # S0+S1+S2 while handshaking; None after
        self._k = 0  # carry bytes at the start of the shared buffer for the current read
        self.connected_at = 0.0
        self.play_sent_ns = 0
        self.first_byte_ns = 0
        self.bytes = 0  #: every byte received, handshake included
        self.reads = 0
        self.closed = False
        self.error: str | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.handshaken: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @property
    def stats(self) -> PlayerStats:
        return PlayerStats(self.connected_at, self.first_byte_ns / 1e9 if self.first_byte_ns else None,
                           self.bytes, self.reads, self.closed, self.error)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it: no isinstance check.
        self.transport = transport = cast(asyncio.Transport, transport)
        self.connected_at = time.monotonic()
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # C0 (version 3) + C1: time 0, zero field 0 (simple handshake, §5.2.3), random bytes.
        transport.write(b"\x03" + bytes(8) + os.urandom(HANDSHAKE - 8))

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._hs is not None:
            self._k = 0
            return _SHARED_MV
        k = self._k = self.scanner.load_carry(_SHARED)
        return _SHARED_MV[k:] if k else _SHARED_MV

    def buffer_updated(self, nbytes: int) -> None:
        arrival = self._arrival
        now = arrival.arrival_ns if arrival is not None else time.time_ns()
        self.bytes += nbytes
        self.reads += 1
        hs = self._hs
        if hs is not None:
            hs += _SHARED_MV[:nbytes]
            if len(hs) < 1 + 2 * HANDSHAKE:
                return
            s1 = bytes(hs[1:1 + HANDSHAKE])
            rest = bytes(hs[1 + 2 * HANDSHAKE:])
            self._hs = None
            assert self.transport is not None
            self.transport.write(s1 + self.request)  # C2 (echo of S1) + commands
            self.play_sent_ns = time.time_ns()
            if not self.handshaken.done():
                self.handshaken.set_result(None)
            if not rest:
                return
            _SHARED[:len(rest)] = rest
            nbytes = len(rest)
            self._k = 0
        if not self.first_byte_ns:
            self.first_byte_ns = now
        sc = self.scanner
        try:
            sc.scan(_SHARED, self._k + nbytes, now)
        except ValueError as exc:
            self.error = f"unparseable stream: {exc}"
            if self.transport is not None:
                self.transport.abort()
            return
        if sc.out and self.transport is not None:
            self.transport.write(bytes(sc.out))
            sc.out.clear()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is not None and self.error is None:
            self.error = str(exc)
        if not self.handshaken.done():
            self.handshaken.set_exception(ConnectionError(self.error or "closed during the handshake"))
            self.handshaken.exception()  # retrieved: nobody may be waiting any more
        if not self.done.done():
            self.done.set_result(None)
        self.transport = None

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def summary(self, publish_start_ns: int = 0) -> dict[str, object]:
        """Per-player figures for the result JSON."""
        sc = self.scanner
        ff = None
        if sc.first_frame_ns:
            since = max(self.play_sent_ns, publish_start_ns)
            ff = round((sc.first_frame_ns - since) / 1e6, 3) if since else None
        return {
            "bytes": self.bytes, "media_bytes": sc.media_bytes, "video": sc.video, "audio": sc.audio,
            "data": sc.data, "other": sc.other, "frames": sc.frames, "keyframes": sc.keyframes,
            "seq_first": sc.seq_first, "seq_last": sc.seq_last, "seq_gaps": sc.seq_gaps,
            "latency_mean_ms": round(sc.lat_sum_us / sc.lat_n / 1000, 3) if sc.lat_n else None,
            "latency_max_ms": round(sc.lat_max_us / 1000, 3) if sc.lat_n else None,
            "first_frame_ms": ff, "play_started": sc.play_started, "not_found": sc.not_found,
            "closed": self.closed, "error": self.error,
        }


@dataclass
class PlayerPool:
    """Many players of one (or several) stream names on the running loop."""

    host: str
    port: int
    app: str
    name: str
    players: list[LightPlayer] = field(default_factory=list)
    histogram: LatencyHistogram = field(default_factory=LatencyHistogram)
    failures: list[str] = field(default_factory=list)
    #: The loop's ArrivalSelector, if it runs on one (see arrival_loop).
    arrival: ArrivalSelector | None = None

    async def open(self, count: int, *, concurrency: int = 50, timeout: float = 10.0,
                   names: list[str] | None = None, idle: bool = False, handshake: bool = True) -> None:
        """Open ``count`` players (round-robin over ``names``); failures are recorded, not raised
        unless every connection failed."""
        loop = asyncio.get_running_loop()
        tc_url = f"rtmp://{self.host}:{self.port}/{self.app}"
        names = names or [self.name]
        if idle:
            requests = [connect_request(self.app, tc_url)]
        else:
            requests = [play_request(self.app, tc_url, n) for n in names]
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            req = requests[i % len(requests)]
            async with sem:
                try:
                    _, proto = await asyncio.wait_for(
                        loop.create_connection(lambda: LightPlayer(req, self.histogram, self.arrival),
                                              self.host, self.port),
                        timeout)
                    proto.stream = names[i % len(names)]
                    self.players.append(proto)
                    if handshake:
                        # Holding the slot until the handshake is done bounds the SYN/accept burst.
                        await asyncio.wait_for(asyncio.shield(proto.handshaken), timeout)
                except (TimeoutError, OSError, ConnectionError) as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")

        await asyncio.gather(*(one(i) for i in range(count)))
        if count and len(self.failures) == count:
            raise ConnectionError(f"no player could connect: {self.failures[0]}")

    def close(self) -> None:
        for p in self.players:
            p.close()
