"""Light RTMP players for load tests: handshake, pipelined connect/createStream/play, then count.

A player decodes nothing but chunk headers (:class:`harness.load.scanner.ChunkScanner`), so one
process carries hundreds of them. It is an ``asyncio.BufferedProtocol``: the event loop receives
straight into one buffer shared by every player of the process (the scanner consumes a read
before the next ``recv_into``), so a read allocates nothing. On Linux each read also carries the
kernel's receive time of its data (:class:`StampedSocket`), which latency figures use.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import cast

from rtmpconf.harness.load.media import LATENCY_WARMUP_FRAMES
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


#: SO_TIMESTAMPNS / SCM_TIMESTAMPNS (Linux asm-generic/socket.h; Python's socket module lacks the name).
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")
_ANC_SIZE = socket.CMSG_SPACE(_TIMESPEC.size)


class StampedSocket(socket.socket):
    """A TCP socket whose reads carry the kernel's receive time of their data (``SO_TIMESTAMPNS``).

    The event loop's transport reads through ``recv_into``; here that is a ``recvmsg_into`` whose
    ancillary data holds the time (``CLOCK_REALTIME``, the clock of ``time.time_ns()``) the last
    segment of the read reached the socket. On loopback that is the instant the server's send
    returned, so a player's latency no longer includes the generator's own scheduling: with a
    hundred sockets readable at once, the generator reaches the last of them a millisecond or more
    after its data arrived. When a read spans several segments the stamp is the latest one, so a
    frame that arrived earlier in the same read is charged more, never less. ``stamp_ns`` is 0
    when the kernel gave no stamp (the caller then falls back to the poll's return time).
    """

    stamp_ns = 0

    def enable(self) -> bool:
        """Ask the kernel for receive timestamps; False where the option does not exist."""
        if not sys.platform.startswith("linux"):
            return False
        try:
            self.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        except OSError:
            return False
        return True

    def recv_into(self, buffer, nbytes: int = 0, flags: int = 0) -> int:  # type: ignore[no-untyped-def, override]
        view = memoryview(buffer)
        if nbytes:
            view = view[:nbytes]
        n, ancdata, _flags, _addr = self.recvmsg_into([view], _ANC_SIZE, flags)
        stamp = 0
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
                sec, nsec = _TIMESPEC.unpack_from(data)
                stamp = sec * 1_000_000_000 + nsec
        self.stamp_ns = stamp
        return n


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
        # A publish's first frames are counted, not timed (media.LATENCY_WARMUP_FRAMES).
        self.scanner = ChunkScanner(histogram, warmup_frames=LATENCY_WARMUP_FRAMES)
        self.transport: asyncio.Transport | None = None
        self._hs: bytearray | None = bytearray()  # S0+S1+S2 while handshaking; None after
        self._k = 0  # carry bytes at the start of the shared buffer for the current read
        self._stamped: StampedSocket | None = None  # set when reads carry kernel receive times
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
        sock = self._stamped
        now = sock.stamp_ns if sock is not None else 0
        if not now:
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
    #: Stamp reads with the kernel's receive time (StampedSocket) where the loop reads through the
    #: socket object (asyncio's selector loop; uvloop reads the descriptor itself and gets none).
    kernel_stamps: bool = True

    async def open(self, count: int, *, concurrency: int = 50, timeout: float = 10.0,
                   names: list[str] | None = None, idle: bool = False, handshake: bool = True) -> None:
        """Open ``count`` players (round-robin over ``names``); failures are recorded, not raised
        unless every connection failed."""
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
                    _, proto = await asyncio.wait_for(self._connect(req), timeout)
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

    async def _connect(self, req: bytes) -> tuple[asyncio.BaseTransport, LightPlayer]:
        loop = asyncio.get_running_loop()

        def factory() -> LightPlayer:
            return LightPlayer(req, self.histogram, self.arrival)

        if not self.kernel_stamps:
            return await loop.create_connection(factory, self.host, self.port)
        infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        if not infos:
            raise OSError(f"cannot resolve {self.host}")
        family, kind, proto, _, addr = infos[0]
        sock = StampedSocket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.enable()
            await loop.sock_connect(sock, addr)
            transport, player = await loop.create_connection(factory, sock=sock)
            # The selector transport reads through this very object; its reads carry the stamps.
            player._stamped = sock
            return transport, player
        except BaseException:
            sock.close()
            raise

    def close(self) -> None:
        for p in self.players:
            p.close()
