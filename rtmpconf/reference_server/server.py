"""asyncio glue: sockets, timers and the server lifecycle. No protocol decisions here."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from rtmpconf.reference_server import fanout_core
from rtmpconf.reference_server.config import DEFAULT_HTTP_PORT, ServerConfig
from rtmpconf.reference_server.fanout_core import FanoutSender
from rtmpconf.reference_server.session import ServerSession
from rtmpconf.reference_server.streams import IN_STEP, StreamRegistry
from rtmpconf.rtmp.session import CSID_DATA

if TYPE_CHECKING:
    from rtmpconf.reference_server.streams import Player

log = logging.getLogger("rtmpconf.rtmp.server")

#: Read size handed to the protocol; asyncio's selector transport reads up to 256 KiB.
#: Transport write-buffer high-water mark: we never pause reading on it, fan-out decides drops.
WRITE_BUFFER_HIGH = 64 * 1024 * 1024


class _ConnectionProtocol(asyncio.Protocol):
    """Feeds one socket into a ServerSession and enforces the handshake and idle timeouts.

    Write coalescing: while the server handles one read (``data_received``), every write to any
    connection is appended to that connection's pending list; when the read is handled, each
    touched connection gets one ``transport.write`` of everything pending. A publisher read that
    carries several messages (a burst, or a server that fell behind) thus costs each player one
    ``send`` instead of one per message, and a player's play replies plus GOP catch-up go out in
    one segment. Order is kept (all of a connection's writes go through ``write``), nothing
    waits for a later loop iteration, and writes outside a read (timers, connection loss) go
    straight to the transport.
    """

    __slots__ = ("_closed", "_fd", "_pending", "_pending_bytes", "_sock", "_timer", "direct", "last_rx", "server",
                 "session", "steady", "transport")

    def __init__(self, server: RtmpServer, direct: bool = True) -> None:
        self.server = server
        #: May the compiled fan-out core send on this socket itself (plain TCP; never under TLS)?
        self.direct = direct
        #: When ``direct`` and the core is in use: a duplicate of the socket's descriptor, ours
        #: until connection_lost (see connection_made).
        self._fd = -1
        self._sock: Any = None  #: the transport's socket object (``nagle``)
        self.transport: asyncio.Transport | None = None
        self.session: ServerSession | None = None
        self.last_rx = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        #: Writes held until the current read is handled: one bytes object, or a list of them.
        self._pending: bytes | list[bytes] | None = None
        self._pending_bytes = 0
        self._closed = False  # close() was called: drop later writes (the transport may still flush)
        self.steady: SteadySet | None = None  #: the steady set it is a member of (streams.py)

    # Transport facade for the session
    def write(self, data: bytes) -> None:
        if self.steady is not None:
            # A write of its own: the connection leaves its steady set, taking the bytes the set
            # batched in this read as its pending, so they still go out ahead of this one.
            self.steady.leave(self)
        pending = self._pending
        if pending is not None:
            # A second write within the read; most players get exactly one, so the single
            # case keeps the bytes object itself and no list.
            if pending.__class__ is list:
                pending.append(data)  # type: ignore[union-attr]
            else:
                self._pending = [pending, data]  # type: ignore[list-item]
            self._pending_bytes += len(data)
            return
        server = self.server
        if server.batching:
            self._pending = data
            self._pending_bytes = len(data)
            server.dirty.append(self)
            return
        transport = self.transport
        if transport is not None and not self._closed and not transport.is_closing():
            transport.write(data)

    def flush(self) -> None:
        """Hand everything pending to the transport as one buffer (one send when it is empty)."""
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        self._pending_bytes = 0
        transport = self.transport
        # Once the transport fails it reports connection_lost (transport = None) right after;
        # a write in between is dropped by the transport itself, so _closed is the only check.
        if transport is not None and not self._closed:
            if pending.__class__ is list:
                # Vectored: uvloop sends the shared bytes objects with one writev, no copy here.
                transport.writelines(pending)  # type: ignore[arg-type]
            else:
                transport.write(pending)  # type: ignore[arg-type]

    def flush_batch(self) -> None:
        """Send what this read has written so far, before the session does slower work.

        The session calls it before handling a command (session.py): media a read carried ahead
        of, say, deleteStream then leaves before the server notifies every player, instead of
        waiting behind that. Writes after it are batched again; order holds per connection.
        """
        server = self.server
        if server.batching and (server.dirty or server.steady_dirty) and server.coalesce_s <= 0.0:
            server.end_of_read()

    def fanout_io(self) -> tuple[Callable[[bytes], None], Callable[[], int]]:
        """write/backlog for streams.py's fan-out loop (see ``streams._direct_io``).

        The backlog is the transport's buffer alone: it leaves out bytes pending within the
        current read (at most one read's worth, 256 KiB, against a 4 MiB queue limit) and saves
        a Python call per player per message.
        """
        assert self.transport is not None
        return self.write, self.transport.get_write_buffer_size

    def steady_port(self) -> _ConnectionProtocol | None:
        """This connection, when its players may join steady sets (streams.py); else None."""
        server = self.server
        if self._fd < 0 or server.fanout is None or server.coalesce_s > 0.0 or not server.config.fanout_steady:
            return None
        return self

    def steady_ready(self) -> bool:
        """May it join a steady set now: within a read, nothing written to it in this read, nothing
        queued in its transport, open."""
        transport = self.transport
        return (self.steady is None and self._pending is None and not self._closed and self._fd >= 0
                and self.server.batching and transport is not None and not transport.get_write_buffer_size()
                and not transport.is_closing())

    def new_steady_set(self) -> SteadySet:
        return SteadySet(self.server)

    def nagle(self, on: bool) -> None:
        """Nagle's algorithm on (TCP_NODELAY off) or off for this connection's socket. Turning it
        off sends at once whatever it was holding (Linux pushes pending segments on TCP_NODELAY)."""
        sock = self._sock
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0 if on else 1)
            except OSError:  # the connection is going: nothing left to hold or push
                pass

    def take_over(self, batch: list[bytes]) -> None:
        """Leaving a steady set in the middle of a read: the bytes the set batched so far."""
        if not batch or self.transport is None or self._closed:
            return
        if self.server.batching:
            # A member has nothing pending of its own (its writes make it leave first).
            self._pending = batch[0] if len(batch) == 1 else list(batch)
            self._pending_bytes = sum(map(len, batch))
            self.server.dirty.append(self)
        else:
            self.transport.writelines(batch)

    def backlog(self) -> int:
        transport = self.transport
        if transport is None:
            return 0
        return transport.get_write_buffer_size() + self._pending_bytes

    def close(self) -> None:
        if self.steady is not None:
            self.steady.leave(self)  # the batch so far still goes first; no direct send after the close
        self.flush()  # replies written just before the close (e.g. _error, CMD-8) go first
        self._closed = True
        if self.transport is not None:
            self.transport.close()

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it: no isinstance check.
        self.transport = transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH)
        self._sock = sock = transport.get_extra_info("socket")
        if self.direct and self.server.fanout is not None:
            if sock is not None and transport.get_extra_info("sslcontext") is None:
                # The core sends on a duplicate, never on the transport's own descriptor: uvloop
                # closes that one as soon as the transport fails and reports the loss an
                # iteration later, and meanwhile its number may be reused by a new connection.
                # The duplicate keeps referring to this socket until connection_lost closes it,
                # so a send in between reaches this (dying) socket or fails, never a stranger,
                # and the fan-out needs no per-player check before each send.
                try:
                    self._fd = os.dup(sock.fileno())
                except OSError:  # out of descriptors: this connection goes through its transport
                    self._fd = -1
        if not self.server.config.tcp_nodelay:
            self.nagle(True)
        peer = transport.get_extra_info("peername")
        self.session = ServerSession(self.server.config, self.server.registry, self,
                                     f"{peer[0]}:{peer[1]}" if peer else "?", drain=self.server.drain,
                                     access=self.server.access, relay=self.server.relay)
        self.server.sessions.add(self.session)
        self._arm(self.server.config.handshake_timeout_s)

    def data_received(self, data: bytes) -> None:
        self.last_rx = time.monotonic()
        session = self.session
        assert session is not None
        was_done = session.handshake_done
        server = self.server
        server.batching = True
        try:
            session.data_received(data)
        finally:
            server.batching = False
            if server.dirty or server.steady_dirty:
                server.end_of_read()
        if session.handshake_done and not was_done:
            self._arm(self.server.config.idle_timeout_s)

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.steady is not None:
            self.steady.drop(self)  # gone: nothing more to send it
        session = self.session
        if session is not None:
            if not session.closed:
                session.closed = True
                session.close_reason = f"peer closed ({exc or 'EOF'})"
                session.cleanup()
            self.server.session_gone(session)
        self._pending = None
        self._pending_bytes = 0
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
        self.transport = None

    def _arm(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        session = self.session
        if session is None or session.closed:
            return
        cfg = self.server.config
        if not session.handshake_done:
            # ROB-4 / HS-16: a stalled handshake is closed, never kept forever.
            session.close(f"handshake not finished within {cfg.handshake_timeout_s:g} s (HS-16)")
            return
        if session.is_player:
            self._arm(cfg.idle_timeout_s)  # players legitimately send nothing
            return
        idle = time.monotonic() - self.last_rx
        if idle >= cfg.idle_timeout_s:
            session.close(f"idle for {idle:.1f} s (ROB-4)")
        else:
            self._arm(cfg.idle_timeout_s - idle)


class SteadySet:
    """The players of one fan-out group that get every message as the group's shared bytes
    (streams.py, "Steady sets"), with their connections' sockets.

    Per message the set costs O(1) Python (``add``); at the end of the read ``flush`` hands the
    batch to the compiled core once for every member. Members are kept in three parallel lists
    (player, connection, descriptor) so the flush needs no per-member Python. The descriptors
    are the connections' own duplicates (``_ConnectionProtocol.connection_made``), valid until
    connection_lost removes the member, so no member needs checking before a send.
    """

    __slots__ = ("batch", "conns", "count", "csids", "fds", "members", "server")

    def __init__(self, server: RtmpServer) -> None:
        self.server = server
        self.members: list[Player] = []
        self.conns: list[_ConnectionProtocol] = []
        self.fds: list[int] = []
        self.batch: list[bytes] = []  #: the shared bytes of this read's messages, in order
        self.count = 0  #: messages batched so far (Player.delivered_total)
        self.csids: frozenset[int] = frozenset()  #: chunk streams every member is in step on

    def try_join(self, player: Player, need: frozenset[int]) -> bool:
        """Add ``player`` (its connection said ``steady_ready``) when it is in step on ``need`` and on
        every chunk stream of the set."""
        if self.members:
            need = need | self.csids
        if CSID_DATA in need:
            return False
        state = player.csid_state
        for csid in need:
            if state.get(csid) != IN_STEP:
                return False
        conn = player.port
        if not self.members:
            self.csids = need
        self.members.append(player)
        self.conns.append(conn)
        self.fds.append(conn._fd)
        if self.server.steady_nagle:
            conn.nagle(True)
        conn.steady = self
        player.steady = self
        player.steady_mark = self.count
        return True

    def add(self, data: bytes) -> None:
        batch = self.batch
        batch.append(data)
        self.count += 1
        if len(batch) == 1:
            server = self.server
            if server.batching:
                server.steady_dirty.append(self)
            else:
                self.flush()  # a message outside a read (e.g. a relay's pull): at once

    def _remove_at(self, i: int, lost: bool = False) -> _ConnectionProtocol:
        player = self.members.pop(i)
        conn = self.conns.pop(i)
        del self.fds[i]
        if self.server.steady_nagle and not lost:
            conn.nagle(False)  # sends at once again; pushes out what Nagle held
        conn.steady = None
        player.steady = None
        player.delivered += self.count - player.steady_mark
        return conn

    def leave(self, conn: _ConnectionProtocol) -> None:
        """``conn`` leaves; it takes the bytes batched so far in this read (they are its messages)."""
        self._remove_at(self.conns.index(conn)).take_over(self.batch)

    def drop(self, conn: _ConnectionProtocol) -> None:
        """``conn`` leaves without the batch (its connection is lost)."""
        self._remove_at(self.conns.index(conn), lost=True)

    def dissolve(self) -> None:
        """Every member leaves (each taking the batch so far); the batch is then empty."""
        batch = self.batch
        for i in range(len(self.members) - 1, -1, -1):
            self._remove_at(i).take_over(batch)
        self.batch = []

    def flush(self) -> None:
        """Send the batch to every member through the core; a member whose socket did not take
        all of it leaves, and its transport gets the rest."""
        batch = self.batch
        if not batch:
            return
        self.batch = []
        if not self.fds:
            return
        sender = self.server.fanout
        assert sender is not None
        # Indices come in ascending order: remove from the end so the others stay valid.
        for i, rest in reversed(sender.send_rest(self.fds, batch)):
            transport = self._remove_at(i).transport
            if transport is not None:
                transport.write(rest)  # queued behind nothing: this member sent only through the set


class RtmpServer:
    """The reference live server."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.registry = StreamRegistry(self.config)
        self.sessions: set[ServerSession] = set()
        self._server: asyncio.base_events.Server | None = None
        self._tls_server: asyncio.base_events.Server | None = None
        self.access = None
        if self.config.auth:
            from rtmpconf.reference_server.auth import AccessControl, AuthConfig

            self.access = AccessControl(AuthConfig.from_mapping(self.config.auth))
        self.rtsp = None
        self.recorder = None
        if self.config.record:
            from rtmpconf.reference_server.record import RecordConfig, Recorder

            self.recorder = Recorder(RecordConfig.from_mapping(self.config.record), self.registry)
        self.relay = None
        if self.config.relay:
            from rtmpconf.reference_server.relay import RelayConfig, RelayManager

            self.relay = RelayManager(RelayConfig.from_mapping(self.config.relay), self.registry)
        #: True while a read is being handled: connection writes are coalesced (see above).
        self.batching = False
        self.dirty: list[_ConnectionProtocol] = []
        #: Steady sets (streams.py) that batched messages in the current read.
        self.steady_dirty: list[SteadySet] = []
        #: Members of steady sets have Nagle's algorithm on (config ``steady_nagle``).
        self.steady_nagle = self.config.tcp_nodelay and self.config.steady_nagle
        #: write_coalesce_ms in seconds, and the timer that ends the current window.
        self.coalesce_s = max(0.0, self.config.write_coalesce_ms / 1000.0)
        self.flush_timer: asyncio.TimerHandle | None = None
        #: The compiled fan-out core's sender (fanout_core.py), or None: transports only.
        self.fanout: FanoutSender | None = None
        if self.config.fanout_core == "auto" and fanout_core.available():
            threads = self.config.fanout_threads or fanout_core.default_threads()
            self.fanout = FanoutSender(threads, self.config.fanout_split_min)
        #: The HTTP outputs (http/server.py) when ``config.http``; shares ``registry``.
        self.http: Any = None
        self.draining = False
        self._drain_timers: list[asyncio.TimerHandle] = []
        self._all_gone: asyncio.Event | None = None  #: set when the last session left (during a drain)

    def end_of_read(self) -> None:
        """Send what connections were written while a read was handled (see _ConnectionProtocol)."""
        dirty = self.dirty
        if self.coalesce_s > 0.0:
            # A coalescing window: writes stay pending (later writes append to them, so the
            # order holds) until the window ends, and one send may carry several reads.
            if self.flush_timer is None:
                self.flush_timer = asyncio.get_running_loop().call_later(self.coalesce_s, self.flush_dirty)
            return
        self.dirty = []
        steady = self.steady_dirty
        if steady:
            self.steady_dirty = []
            for group in steady:
                group.flush()
        if self.fanout is not None and len(dirty) > 1:
            self.flush_through_core(dirty)
            return
        for conn in dirty:
            # conn.flush(), inlined: this loop runs once per player per published read.
            pending = conn._pending
            conn._pending = None
            conn._pending_bytes = 0
            transport = conn.transport
            if transport is not None and not conn._closed and pending is not None:
                if pending.__class__ is list:
                    transport.writelines(pending)  # type: ignore[arg-type]  # one writev (uvloop)
                else:
                    transport.write(pending)  # type: ignore[arg-type]

    def flush_through_core(self, dirty: list[_ConnectionProtocol]) -> None:
        """The end of a read with the compiled core: connections holding the same bytes (players
        of one group, fed the shared encoding) get them in one GIL-free call (fanout_core.py).

        A connection goes through its transport as before when the core may not touch its
        socket (TLS), when its transport still holds unsent bytes (order) or is closing (its
        descriptor may be gone), or for whatever a
        socket did not take (the transport queues the rest, or meets the error and reports the
        connection lost).
        """
        sender = self.fanout
        assert sender is not None
        # Keyed by the identity of the pending objects: a group's players hold the very same
        # bytes objects (encode-once), and hashing content would cost more than the sends save.
        batches: dict[Any, tuple[Any, list[int], list[asyncio.Transport]]] = {}
        for conn in dirty:
            pending = conn._pending
            conn._pending = None
            conn._pending_bytes = 0
            transport = conn.transport
            if transport is None or conn._closed or pending is None:
                continue
            fd = conn._fd
            # A closing transport may already have closed its descriptor (uvloop closes it at
            # once and reports the loss a loop iteration later), and the number may belong to a
            # new connection by now: only the transport may decide what happens to these bytes.
            if fd < 0 or transport.get_write_buffer_size() or transport.is_closing():
                if pending.__class__ is list:
                    transport.writelines(pending)  # type: ignore[arg-type]
                else:
                    transport.write(pending)  # type: ignore[arg-type]
                continue
            key = id(pending) if pending.__class__ is bytes else tuple(map(id, pending))  # type: ignore[arg-type]
            batch = batches.get(key)
            if batch is None:
                batches[key] = (pending, [fd], [transport])
            else:
                batch[1].append(fd)
                batch[2].append(transport)
        for pending, fds, transports in batches.values():
            bufs = (pending,) if pending.__class__ is bytes else pending
            for i, rest in sender.send_rest(fds, bufs):
                transports[i].write(rest)  # queued until writable, or an error it meets too

    def flush_dirty(self) -> None:
        """End of a coalescing window: every held write goes out, one send per connection."""
        self.flush_timer = None
        dirty, self.dirty = self.dirty, []
        for conn in dirty:
            conn.flush()

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _ConnectionProtocol(self), self.config.host, self.config.port,
            reuse_address=True, backlog=4096,
        )
        if self.config.http:
            from rtmpconf.reference_server.http.server import HttpServer

            self.http = HttpServer(self)
            try:
                await self.http.start()
            except BaseException:
                self.http = None
                await self.close()
                raise
        # Logged after the HTTP side: a starter reading stderr for this line then knows both ports.
        log.info("listening on rtmp://%s:%d", self.config.host, self.port)
        if self.fanout is not None:
            log.info("fan-out: compiled core, %d sending thread(s)", self.fanout.threads)
        else:
            log.info("fan-out: through each player's transport (compiled core %s)",
                     fanout_core.unavailable_reason or "off by config")
        if self.relay is not None:
            self.relay.listen.append((self.config.host, self.port))
        if self.config.rtsp_port is not None:
            from rtmpconf.reference_server.rtsp.server import RtspServer

            self.rtsp = RtspServer(self.registry, self.config.host, self.config.rtsp_port,
                                   self.config.rtsp_session_timeout_s)
            await self.rtsp.start()
        if self.config.tls_port is not None:
            from rtmpconf.reference_server.tls import server_context

            self._tls_server = await loop.create_server(
                lambda: _ConnectionProtocol(self, direct=False), self.config.host, self.config.tls_port,
                reuse_address=True, backlog=4096,
                ssl=server_context(self.config.tls_cert, self.config.tls_key),
                # The TLS handshake counts against the RTMP handshake deadline (ROB-4).
                ssl_handshake_timeout=self.config.handshake_timeout_s,
            )
            log.info("listening on rtmps://%s:%d", self.config.host, self.tls_port)

    @property
    def tls_port(self) -> int | None:
        if self._tls_server is None or not self._tls_server.sockets:
            return None
        return int(self._tls_server.sockets[0].getsockname()[1])

    @property
    def http_port(self) -> int | None:
        return self.http.port if self.http is not None else None

    def drain(self, *, tc_url: str | None = None, description: str = "The server is being drained.",
              grace_s: float | None = None, exclude: ServerSession | None = None) -> dict[str, Any]:
        """Ask every connected client to leave (ERTMP-11): a Reconnect Request to those that advertised
        capsEx Reconnect, served until they leave (closed after ``drain_timeout_s`` at the latest);
        the others are closed cleanly after ``grace_s`` (default ``drain_grace_s``). The listener
        stays open: a relative tcUrl may well point back here. Returns counts."""
        loop = asyncio.get_running_loop()
        cfg = self.config
        grace = cfg.drain_grace_s if grace_s is None else max(0.0, grace_s)
        requested: list[ServerSession] = []
        closing: list[ServerSession] = []
        for session in list(self.sessions):
            if session is exclude or session.closed:
                continue
            if session.request_reconnect(tc_url, description):
                requested.append(session)
            else:
                closing.append(session)

        def close_all(sessions: list[ServerSession], why: str) -> None:
            for sess in sessions:
                if not sess.closed:
                    sess.close_gracefully(why)

        self._drain_timers.append(loop.call_later(grace, close_all, closing, "server drained"))
        self._drain_timers.append(loop.call_later(max(grace, cfg.drain_timeout_s), close_all, requested,
                                                  "server drained (client did not reconnect in time)"))
        log.info("drain: Reconnect Request to %d client(s), %d other(s) closed in %.1f s",
                 len(requested), len(closing), grace)
        return {"reconnectRequested": float(len(requested)), "closing": float(len(closing)),
                "graceSeconds": float(grace)}

    async def drain_and_stop(self) -> None:
        """SIGTERM: stop accepting, drain (``drain_tc_url``), wait until every client left or
        ``drain_timeout_s`` passed, then close."""
        if self.draining:
            return
        self.draining = True
        if self._server is not None:
            self._server.close()  # no new connections; existing ones keep being served
        self.drain(tc_url=self.config.drain_tc_url or None, description="The server is shutting down.")
        self._all_gone = asyncio.Event()
        if not self.sessions:
            self._all_gone.set()
        limit = max(self.config.drain_grace_s, self.config.drain_timeout_s) + 1.0
        try:
            await asyncio.wait_for(self._all_gone.wait(), limit)
        except asyncio.TimeoutError:
            log.info("drain: %d connection(s) still open after %.1f s; closing", len(self.sessions), limit)
        await self.close()

    def session_gone(self, session: ServerSession) -> None:
        self.sessions.discard(session)
        if self._all_gone is not None and not self.sessions:
            self._all_gone.set()

    async def close(self) -> None:
        for timer in self._drain_timers:
            timer.cancel()
        self._drain_timers = []
        if self.http is not None:
            await self.http.close()
            self.http = None
        if self.rtsp is not None:
            await self.rtsp.close()
            self.rtsp = None
        if self.relay is not None:
            self.relay.close()
        if self.recorder is not None:
            self.recorder.close()
        if self._tls_server is not None:
            self._tls_server.close()
            self._tls_server = None
        if self._server is not None:
            self._server.close()
            for s in list(self.sessions):
                s.close("server shutting down")
            await self._server.wait_closed()
            self._server = None

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        try:
            await self._server.serve_forever()
        finally:
            await self.close()


class ServerThread:
    """The server on its own event loop in a daemon thread (tests and the embedded target)."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        cfg = config or ServerConfig(port=0, http_port=0)
        if cfg.port == 0 and cfg.http_port == DEFAULT_HTTP_PORT:
            # An ephemeral RTMP port means a test or embedded server: never take the fixed HTTP port.
            cfg = dataclasses.replace(cfg, http_port=0)
        self.server = RtmpServer(cfg)
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="rtmp-reference-server", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.start())
        except BaseException as exc:  # noqa: BLE001 - reported to the starter
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.server.close())
        self.loop.close()

    def start(self, timeout: float = 10.0) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("reference server did not start in time")
        if self._error is not None:
            raise RuntimeError(f"reference server failed to start: {self._error}") from self._error
        return self

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def http_port(self) -> int | None:
        return self.server.http_port

    def call(self, fn: Any, *args: Any, timeout: float = 5.0) -> Any:
        """Run ``fn(*args)`` on the server's loop and return its result (for inspection)."""
        fut: asyncio.Future[Any] = asyncio.run_coroutine_threadsafe(_call(fn, *args), self.loop)  # type: ignore[arg-type]
        return fut.result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _call(fn: Any, *args: Any) -> Any:
    return fn(*args)
