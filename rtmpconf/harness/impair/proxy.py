"""An asyncio TCP proxy that impairs each direction of every connection (see profiles.py).

Each direction of a connection is a pipeline: a reader takes what the sender wrote, stamps it
with a release time (arrival + delay + seeded jitter + loss stalls, never earlier than the piece
before it, so order is kept) and queues it; a writer releases each piece at its time, cut into
segments, through a token bucket and the stall schedule. When the queue holds ``buffer_bytes`` the
reader stops reading, so the sender feels backpressure as it would behind a real bottleneck.

FIN and RST travel through the same queue as data: a sender's close reaches the receiver after
the bytes before it, delayed like them. A cut or half-close can be scheduled by byte offset or
time, per profile or at run time (``Connection.schedule_cut``).

``ImpairmentProxy`` is the asyncio core (one event loop); ``ProxyThread`` runs it on its own loop
in a daemon thread, so synchronous code, pytest fixtures and async cases (with their own loop)
can all use it.
"""

from __future__ import annotations

import dataclasses

import asyncio
import collections
import concurrent.futures
import logging
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

from rtmpconf.harness.client import Target
from rtmpconf.harness.impair.profiles import DOWN, UP, DirectionImpairment, Profile
from rtmpconf.harness.wirelog import C2S, S2C, WireLog

log = logging.getLogger("rtmpconf.rtmp.impair")

T = TypeVar("T")

READ_SIZE = 64 * 1024
#: Segment size used to decide emulated loss: a typical Ethernet TCP MSS.
LOSS_MSS = 1448
#: With segmentation but no rate cap, yield to the event loop after this many sends so one
#: dribbling direction cannot starve the others.
SENDS_PER_YIELD = 64
#: Chunk size for rate-capped sends without explicit segmentation (smooth pacing).
PACING_CHUNK = 4096
#: How many per-piece draws and lost segments a direction keeps for inspection (tests, reports).
HISTORY = 10_000
#: SO_SNDBUF/SO_RCVBUF of the proxy's sockets. Left to autotuning, each of the proxy's two
#: sockets can absorb several MB (tcp_rmem/tcp_wmem max), so a slow reader behind the proxy would
#: stay invisible to the server for many more seconds than behind a direct connection. Loopback
#: RTTs are microseconds, so this never limits throughput.
SOCKET_BUFFER = 128 * 1024


@dataclass
class _Piece:
    arrival: float
    release: float
    data: bytes  #: empty for "eof"/"rst"
    kind: str = "data"  #: "data", "eof" (sender closed) or "rst" (sender reset)


@dataclass
class DirectionStats:
    """Counters of one direction of one connection (read by other threads: plain ints/floats)."""

    bytes_in: int = 0  #: read from the sender
    bytes_out: int = 0  #: written to the receiver
    writes: int = 0  #: sends to the receiver (one per segment when the profile segments)
    bytes_dropped: int = 0  #: discarded (after a half-close or cut)
    queued: int = 0  #: bytes held right now
    loss_events: int = 0  #: emulated retransmissions
    stalls: int = 0  #: periodic stalls served
    last_delay: float = 0.0  #: time the last forwarded piece spent in the proxy (s)
    max_delay: float = 0.0
    head_arrival: float | None = None  #: arrival time of the oldest queued piece
    closed: str | None = None  #: "eof", "rst", "cut", "half-close"
    drawn_ms: list[float] = field(default_factory=list)  #: per piece: delay + jitter + loss drawn (ms)
    lost_segments: list[int] = field(default_factory=list)  #: indices of "lost" LOSS_MSS segments

    def queue_delay(self, now: float) -> float:
        """Age of the oldest byte still held (s): the delay the proxy adds right now."""
        return now - self.head_arrival if self.head_arrival is not None else 0.0


class _Pump:
    """One direction of one connection: read -> schedule -> write."""

    def __init__(self, conn: Connection, which: str, imp: DirectionImpairment, seed: str) -> None:
        self.conn = conn
        self.which = which
        self.imp = imp
        self.stats = DirectionStats()
        self.queue: collections.deque[_Piece] = collections.deque()
        self._jitter_rng = random.Random(f"{seed}:jitter")
        self._loss_rng = random.Random(f"{seed}:loss")
        self._loss_next_segment = 0  #: first MSS-segment index not decided yet
        self._last_release = 0.0
        self._tat = 0.0  #: GCRA theoretical arrival time (token bucket)
        self._data = asyncio.Event()
        self._space = asyncio.Event()
        self.half_closed = False
        self.done = False
        self._cut_at: int | None = imp.cut_at_byte
        self._cut_mode = imp.cut_mode
        self._half_close_at: int | None = imp.half_close_at_byte

    # -- reading ----------------------------------------------------------------------------

    async def read_loop(self, src: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while self.stats.queued >= self.imp.buffer_bytes and not self.conn.finished:
                self._space.clear()
                await self._space.wait()
            if self.conn.finished:
                return
            kind = "data"
            try:
                data = await loop.sock_recv(src, READ_SIZE)
            except (ConnectionResetError, BrokenPipeError):
                data, kind = b"", "rst"
            except OSError:
                if self.conn.finished:
                    return
                data, kind = b"", "rst"
            if not data and kind == "data":
                kind = "eof"
            now = loop.time()
            self.conn.record(self.which, data, kind)
            if self.half_closed:
                # The receiver already got our FIN: what the sender still writes goes nowhere.
                self.stats.bytes_dropped += len(data)
                if kind != "data":
                    return
                continue
            self._enqueue(now, data, kind)
            if kind != "data":
                return

    def _enqueue(self, now: float, data: bytes, kind: str) -> None:
        imp = self.imp
        delay = imp.delay_ms / 1000.0
        if imp.jitter_ms:
            delay += self._jitter_rng.uniform(-imp.jitter_ms, imp.jitter_ms) / 1000.0
        delay = max(delay, 0.0)
        if imp.loss_pct and data and self._lost(len(data)):
            delay += imp.retransmit_ms / 1000.0
            self.stats.loss_events += 1
        if data and len(self.stats.drawn_ms) < HISTORY:
            self.stats.drawn_ms.append(round(delay * 1000.0, 3))
        # A piece never overtakes the one before it: TCP delivers in order, so jitter and
        # retransmissions show up as bunching (head-of-line blocking), never reordering.
        release = max(now + delay, self._last_release)
        self._last_release = release
        self.stats.bytes_in += len(data)
        self.stats.queued += len(data)
        if self.stats.head_arrival is None:
            self.stats.head_arrival = now
        self.queue.append(_Piece(now, release, data, kind))
        self._data.set()

    def _lost(self, n: int) -> bool:
        """Is any MSS-sized segment of the next ``n`` bytes lost? Decided per byte offset, so the
        same stream loses the same segments however it was read."""
        end_segment = (self.stats.bytes_in + n - 1) // LOSS_MSS
        lost = False
        p = self.imp.loss_pct / 100.0
        while self._loss_next_segment <= end_segment:
            if self._loss_rng.random() < p:
                lost = True
                if len(self.stats.lost_segments) < HISTORY:
                    self.stats.lost_segments.append(self._loss_next_segment)
            self._loss_next_segment += 1
        return lost

    # -- writing ----------------------------------------------------------------------------

    async def write_loop(self, dst_ready: asyncio.Future[socket.socket]) -> None:
        loop = asyncio.get_running_loop()
        dst = await dst_ready
        while not self.conn.finished and not self.half_closed:
            if not self.queue:
                self._data.clear()
                await self._data.wait()
                continue
            piece = self.queue[0]
            wait = piece.release - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self.queue.popleft()
            try:
                if piece.kind == "data":
                    await self._send(loop, dst, piece)
                elif piece.kind == "eof":
                    self._finish_direction(dst, "eof")
                    return
                else:
                    self.stats.closed = "rst"
                    self.conn.abort("rst", f"{self.which} sender reset the connection")
                    return
            except (ConnectionError, OSError) as exc:
                # The receiver is gone: tell the sender the way a dead peer would (RST).
                self.stats.closed = "rst"
                self.conn.abort("rst", f"{self.which} receiver failed: {exc}")
                return
            finally:
                self._dequeued(piece, loop.time())
            if self.half_closed:
                return

    def _dequeued(self, piece: _Piece, now: float) -> None:
        self.stats.queued -= len(piece.data)
        self.stats.last_delay = now - piece.arrival
        self.stats.max_delay = max(self.stats.max_delay, self.stats.last_delay)
        self.stats.head_arrival = self.queue[0].arrival if self.queue else None
        self._space.set()

    async def _send(self, loop: asyncio.AbstractEventLoop, dst: socket.socket, piece: _Piece) -> None:
        imp = self.imp
        view = memoryview(piece.data)
        pos = 0
        seg = imp.segment_bytes or (min(imp.burst_bytes, PACING_CHUNK) if imp.rate_kbps else len(view))
        paced = bool(imp.rate_kbps or imp.stall_every_ms or imp.segment_gap_ms)
        sends = 0
        while pos < len(view):
            if self.half_closed or self.conn.finished:
                # Half-closed (or cut) by a timer while this piece was on its way: the rest is dropped.
                self.stats.bytes_dropped += len(view) - pos
                return
            end = min(len(view), pos + seg)
            stop_after = None
            for mark, what in ((self._cut_at, "cut"), (self._half_close_at, "half-close")):
                if mark is not None and self.stats.bytes_out + (end - pos) >= mark:
                    end = pos + max(0, mark - self.stats.bytes_out)
                    stop_after = what
                    break
            if end > pos:
                if paced:
                    await self._gate(loop, end - pos)
                    await loop.sock_sendall(dst, view[pos:end])
                    self.stats.writes += 1
                    if imp.segment_gap_ms:
                        await asyncio.sleep(imp.segment_gap_ms / 1000.0)
                else:
                    await _send_now(loop, dst, view[pos:end])
                    sends += 1
                    self.stats.writes += 1
                    if sends % SENDS_PER_YIELD == 0:
                        await asyncio.sleep(0)
                self.stats.bytes_out += end - pos
            if stop_after == "cut":
                self.stats.bytes_dropped += len(view) - end
                self.stats.closed = "cut"
                self.conn.abort(self._cut_mode, f"cut after {self.which} byte {self.stats.bytes_out}")
                return
            if stop_after == "half-close":
                self.stats.bytes_dropped += len(view) - end
                self.half_close(dst)
                return
            pos = end

    async def _gate(self, loop: asyncio.AbstractEventLoop, n: int) -> None:
        """Wait for the stall schedule and the token bucket before sending ``n`` bytes."""
        imp = self.imp
        if imp.stall_every_ms:
            period, stall = imp.stall_every_ms / 1000.0, imp.stall_ms / 1000.0
            rel = loop.time() - self.conn.started
            phase = rel % period
            if phase >= period - stall:
                self.stats.stalls += 1
                await asyncio.sleep(period - phase)
        if imp.rate_kbps:
            rate = imp.rate_kbps * 1000.0 / 8.0  # bytes/s
            tau = imp.burst_bytes / rate  # burst tolerance
            now = loop.time()
            if self._tat - now > tau:
                await asyncio.sleep(self._tat - tau - now)
                now = loop.time()
            self._tat = max(self._tat, now) + n / rate

    def _finish_direction(self, dst: socket.socket, how: str) -> None:
        self.stats.closed = how
        self.done = True
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.conn.direction_done()

    def half_close(self, dst: socket.socket | None = None) -> None:
        """FIN to this direction's receiver; whatever the sender still writes is dropped."""
        if self.half_closed or self.conn.finished:
            return
        self.half_closed = True
        # What is still queued is dropped; a piece being sent right now is accounted by its writer.
        pending = sum(len(p.data) for p in self.queue)
        self.stats.bytes_dropped += pending
        self.stats.queued -= pending
        self.queue.clear()
        self.stats.head_arrival = None
        dst = dst or self.conn.receiver_of(self.which)
        log.info("conn %d: half-close of %s after %d bytes", self.conn.index, self.which, self.stats.bytes_out)
        if dst is not None:
            self._finish_direction(dst, "half-close")
        self._space.set()
        self._data.set()

    def schedule(self, *, cut_at_byte: int | None = None, cut_mode: str | None = None,
                 half_close_at_byte: int | None = None) -> None:
        if cut_at_byte is not None:
            self._cut_at = cut_at_byte
        if cut_mode is not None:
            self._cut_mode = cut_mode
        if half_close_at_byte is not None:
            self._half_close_at = half_close_at_byte

    def wake(self) -> None:
        self._data.set()
        self._space.set()


async def _send_now(loop: asyncio.AbstractEventLoop, sock: socket.socket, data: memoryview) -> None:
    """send() at once when the socket takes it (the common case), else wait for room."""
    try:
        n = sock.send(data)
    except BlockingIOError:
        n = 0
    if n < len(data):
        await loop.sock_sendall(sock, data[n:])


class Connection:
    """One proxied client connection: two pumps and two sockets."""

    def __init__(self, proxy: ImpairmentProxy, index: int, client: socket.socket, peer: Any) -> None:
        self.proxy = proxy
        self.index = index
        self.client = client
        self.peer = peer
        self.server: socket.socket | None = None
        self.started = asyncio.get_running_loop().time()
        seed = f"{proxy.profile.seed}:{index}"
        self.up = _Pump(self, UP, proxy.profile.up, f"{seed}:{UP}")
        self.down = _Pump(self, DOWN, proxy.profile.down, f"{seed}:{DOWN}")
        self.finished = False
        self.end_reason = ""
        self.log: WireLog | None = None
        if proxy.record:
            self.log = WireLog(f"impaired {index}")
            self.log.client_port = peer[1] if isinstance(peer, tuple) and len(peer) > 1 else None
        self._tasks: list[asyncio.Task[Any]] = []
        self._done_directions = 0
        self.closed = asyncio.Event()

    def pump(self, which: str) -> _Pump:
        return self.up if which == UP else self.down

    def receiver_of(self, which: str) -> socket.socket | None:
        return self.server if which == UP else self.client

    def record(self, which: str, data: bytes, kind: str) -> None:
        if self.log is None:
            return
        direction = C2S if which == UP else S2C
        now = time.monotonic()
        if data:
            self.log.add(direction, data, now)
        elif kind in ("eof", "rst"):
            self.log.mark_closed(direction, now, reset=kind == "rst")

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        server_ready: asyncio.Future[socket.socket] = loop.create_future()
        client_ready: asyncio.Future[socket.socket] = loop.create_future()
        client_ready.set_result(self.client)
        self._tasks = [
            asyncio.create_task(self.up.read_loop(self.client)),
            asyncio.create_task(self.up.write_loop(server_ready)),
            asyncio.create_task(self.down.write_loop(client_ready)),
        ]
        for which in (UP, DOWN):
            imp = self.pump(which).imp
            if imp.cut_after_s is not None:
                self._tasks.append(asyncio.create_task(self._later(imp.cut_after_s, self._timed_cut, which)))
            if imp.half_close_after_s is not None:
                self._tasks.append(asyncio.create_task(
                    self._later(imp.half_close_after_s, self.pump(which).half_close)))
        try:
            # The SYN crosses the link too: the upstream connection opens one up-delay later.
            if self.up.imp.delay_ms:
                await asyncio.sleep(self.up.imp.delay_ms / 1000.0)
            host, port = self.proxy.upstream
            try:
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                family, _, _, _, addr = infos[0]
                server = socket.socket(family, socket.SOCK_STREAM)
                server.setblocking(False)
                server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                _set_buffers(server, self.proxy.socket_buffer)
                self.server = server
                await asyncio.wait_for(loop.sock_connect(server, addr), self.proxy.connect_timeout)
            except (TimeoutError, OSError) as exc:
                log.info("conn %d: upstream %s:%d refused: %s", self.index, host, port, exc)
                # A refused connect is a RST on a direct connection: the client sees the same.
                self.abort("rst", f"upstream refused: {exc}")
                server_ready.cancel()
                return
            server_ready.set_result(server)
            self._tasks.append(asyncio.create_task(self.down.read_loop(server)))
            await self.closed.wait()
        finally:
            self._close_sockets("fin")
            for t in self._tasks:
                if not t.done():
                    t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _later(self, seconds: float, fn: Callable[..., None], *args: Any) -> None:
        await asyncio.sleep(seconds)
        if not self.finished:
            fn(*args)

    def _timed_cut(self, which: str) -> None:
        pump = self.pump(which)
        pump.stats.closed = "cut"
        self.abort(pump.imp.cut_mode, f"cut after {pump.imp.cut_after_s:g} s")

    def schedule_cut(self, which: str, *, at_byte: int, mode: str = "rst") -> None:
        """Cut the connection once direction ``which`` forwarded ``at_byte`` bytes (thread: the loop's)."""
        self.pump(which).schedule(cut_at_byte=at_byte, cut_mode=mode)

    def schedule_half_close(self, which: str, *, at_byte: int) -> None:
        self.pump(which).schedule(half_close_at_byte=at_byte)

    def direction_done(self) -> None:
        self._done_directions += 1
        if self._done_directions >= 2:
            self.end_reason = self.end_reason or "both directions closed"
            self._end()

    def abort(self, mode: str, reason: str) -> None:
        """End the connection now: "rst" resets both peers, "fin" closes both normally."""
        if self.finished:
            return
        self.end_reason = reason
        log.info("conn %d: %s (%s)", self.index, reason, mode)
        self._close_sockets(mode)
        self._end()

    def _end(self) -> None:
        if self.finished:
            return
        self.finished = True
        self.up.wake()
        self.down.wake()
        self.closed.set()

    def _close_sockets(self, mode: str) -> None:
        for sock in (self.client, self.server):
            if sock is None or sock.fileno() < 0:
                continue
            if mode == "rst":
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            loop = asyncio.get_running_loop()
            try:
                # Tell the loop first: a socket closed under a pending sock_recv confuses selectors.
                loop.remove_reader(sock.fileno())
                loop.remove_writer(sock.fileno())
            except (ValueError, OSError):
                pass
            sock.close()


@dataclass
class ProxyStats:
    """Totals over all connections, for the status line."""

    connections: int = 0
    active: int = 0
    bytes_in: dict[str, int] = field(default_factory=lambda: {UP: 0, DOWN: 0})
    bytes_out: dict[str, int] = field(default_factory=lambda: {UP: 0, DOWN: 0})
    queued: dict[str, int] = field(default_factory=lambda: {UP: 0, DOWN: 0})
    queue_delay: dict[str, float] = field(default_factory=lambda: {UP: 0.0, DOWN: 0.0})
    loss_events: dict[str, int] = field(default_factory=lambda: {UP: 0, DOWN: 0})

    def line(self) -> str:
        def mb(n: int) -> str:
            return f"{n / 1e6:.2f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"
        parts = [f"conns {self.active}/{self.connections}"]
        for which, label in ((UP, "up"), (DOWN, "down")):
            parts.append(f"{label} {mb(self.bytes_out[which])} (queued {mb(self.queued[which])}, "
                         f"delay {self.queue_delay[which] * 1000:.0f} ms, loss {self.loss_events[which]})")
        return " | ".join(parts)


class ImpairmentProxy:
    """Listens, connects each client to ``upstream`` and impairs both directions per ``profile``."""

    def __init__(self, upstream: tuple[str, int], profile: Profile, *, listen: tuple[str, int] = ("127.0.0.1", 0),
                 listen_sock: socket.socket | None = None, record: bool = False,
                 socket_buffer: int = SOCKET_BUFFER, connect_timeout: float = 5.0) -> None:
        self.upstream = upstream
        self.profile = profile
        self.listen_addr = listen
        self.record = record
        self.socket_buffer = socket_buffer  #: SO_SNDBUF/SO_RCVBUF of every proxy socket (0 = autotuning)
        self.connect_timeout = connect_timeout
        self.connections: list[Connection] = []
        self._lsock = listen_sock
        self._accept_task: asyncio.Task[None] | None = None
        self._conn_tasks: set[asyncio.Task[None]] = set()
        self.address: tuple[str, int] = ("", 0)

    async def start(self) -> ImpairmentProxy:
        if self._lsock is None:
            self._lsock = socket.socket(socket.AF_INET6 if ":" in self.listen_addr[0] else socket.AF_INET,
                                        socket.SOCK_STREAM)
            self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._lsock.bind(self.listen_addr)
        # Set before listen(): accepted sockets inherit them, and the window scale is fixed at SYN.
        _set_buffers(self._lsock, self.socket_buffer)
        self._lsock.listen(128)
        self._lsock.setblocking(False)
        self.address = self._lsock.getsockname()[:2]
        self._accept_task = asyncio.create_task(self._accept_loop())
        log.info("impairment proxy on %s:%d -> %s:%d, profile %s", *self.address, *self.upstream, self.profile.name)
        return self

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._lsock is not None
        while True:
            client, peer = await loop.sock_accept(self._lsock)
            client.setblocking(False)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(self, len(self.connections), client, peer)
            self.connections.append(conn)
            task = asyncio.create_task(conn.run())
            self._conn_tasks.add(task)
            task.add_done_callback(self._conn_tasks.discard)

    async def stop(self) -> None:
        if self._accept_task is not None:
            self._accept_task.cancel()
            await asyncio.gather(self._accept_task, return_exceptions=True)
        if self._lsock is not None:
            try:
                asyncio.get_running_loop().remove_reader(self._lsock.fileno())
            except (ValueError, OSError):
                pass
            self._lsock.close()
        for conn in self.connections:
            if not conn.finished:
                conn.abort("fin", "proxy stopped")
        if self._conn_tasks:
            await asyncio.wait(list(self._conn_tasks), timeout=2.0)

    def set_profile(self, profile: Profile, *, live: bool = True) -> None:
        """Use ``profile`` for new connections, and with ``live`` for the pumps of open ones too
        (a link that gets better or worse mid-stream)."""
        self.profile = profile
        if live:
            for conn in self.connections:
                if conn.finished:
                    continue
                for which in (UP, DOWN):
                    pump = conn.pump(which)
                    pump.imp = profile.direction(which)
                    pump.wake()

    def stats(self) -> ProxyStats:
        now = asyncio.get_running_loop().time() if _in_loop() else time.monotonic()
        out = ProxyStats(connections=len(self.connections))
        for conn in list(self.connections):
            out.active += not conn.finished
            for which in (UP, DOWN):
                s = conn.pump(which).stats
                out.bytes_in[which] += s.bytes_in
                out.bytes_out[which] += s.bytes_out
                out.queued[which] += s.queued
                out.loss_events[which] += s.loss_events
                out.queue_delay[which] = max(out.queue_delay[which], s.queue_delay(now))
        return out


def _set_buffers(sock: socket.socket, size: int) -> None:
    if size:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def _in_loop() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


class ProxyThread:
    """An ImpairmentProxy on its own event loop in a daemon thread (start/stop from any thread).

    ``target`` is where clients connect (a ``harness.client.Target``); ``retarget`` points the
    proxy at a restarted server. Use as a context manager, or start()/stop().
    """

    def __init__(self, upstream: Target | tuple[str, int], profile: Profile, *, listen_host: str = "127.0.0.1",
                 listen_port: int = 0, listen_sock: socket.socket | None = None, record: bool = False,
                 app: str | None = None, socket_buffer: int = SOCKET_BUFFER,
                 on_stop: Callable[[], None] | None = None) -> None:
        if isinstance(upstream, Target):
            self.app = app or upstream.app
            #: The upstream target's other fields (query, templates, credentials) carry over.
            self._template = upstream
            up = (upstream.host, upstream.port)
        else:
            self.app = app or "live"
            self._template = Target(upstream[0], upstream[1], self.app)
            up = upstream
        self.proxy = ImpairmentProxy(up, profile, listen=(listen_host, listen_port), listen_sock=listen_sock,
                                     record=record, socket_buffer=socket_buffer)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._on_stop = on_stop
        self._stopped = False

    @property
    def profile(self) -> Profile:
        return self.proxy.profile

    @property
    def upstream(self) -> Target:
        return dataclasses.replace(self._template.moved(*self.proxy.upstream), app=self.app)

    @property
    def target(self) -> Target:
        host, port = self.proxy.address
        return dataclasses.replace(self._template.moved(host, port), app=self.app)

    @property
    def connections(self) -> list[Connection]:
        return self.proxy.connections

    def queued_bytes(self) -> int:
        """Bytes the proxy holds right now, both directions of every open connection: what the
        emulated link is still carrying (harness.timing waits while it is non-zero)."""
        return sum(c.up.stats.queued + c.down.stats.queued for c in list(self.proxy.connections) if not c.finished)

    @property
    def logs(self) -> list[WireLog]:
        """Recorded wire logs (``record=True``): bytes as each sender wrote them, before impairment."""
        return [c.log for c in self.proxy.connections if c.log is not None]

    def start(self, timeout: float = 5.0) -> Self:
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.proxy.start())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                ready.set_exception(exc)
                loop.close()
                return
            ready.set_result(None)
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.proxy.stop())
                loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name=f"impair-{self.proxy.profile.name}")
        self._thread.start()
        ready.result(timeout)
        _LIVE[id(self)] = self
        return self

    def call(self, fn: Callable[[], T], timeout: float = 5.0) -> T:
        """Run ``fn`` on the proxy's loop and return its result."""
        assert self._loop is not None
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def wrapped() -> None:
            try:
                fut.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                fut.set_exception(exc)

        self._loop.call_soon_threadsafe(wrapped)
        return fut.result(timeout)

    def retarget(self, new_target: Target) -> Target:
        """Point new connections at ``new_target`` (a restarted server); returns the proxy's target."""
        def apply() -> None:
            self.proxy.upstream = (new_target.host, new_target.port)
        self.call(apply)
        self.app = new_target.app
        self._template = new_target
        return self.target

    def set_profile(self, profile: Profile, *, live: bool = True) -> None:
        self.call(lambda: self.proxy.set_profile(profile, live=live))

    def stats(self) -> ProxyStats:
        return self.call(self.proxy.stats)

    def wait_connections(self, n: int, timeout: float = 5.0) -> list[Connection]:
        """Block until ``n`` clients connected (for scheduling run-time cuts)."""
        deadline = time.monotonic() + timeout
        while len(self.proxy.connections) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.proxy.connections)} of {n} connections after {timeout:g} s")
            time.sleep(0.005)
        return self.proxy.connections[:n]

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        _LIVE.pop(id(self), None)
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if self._on_stop is not None:
            self._on_stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


#: Running ProxyThreads, so a case can find the real server behind an impaired target.
_LIVE: dict[int, ProxyThread] = {}


def live_proxies() -> list[ProxyThread]:
    return list(_LIVE.values())
