"""Scriptable asyncio RTMP client over the ``rtmp`` core, recording a wire log.

Every step that waits on the network has a deadline; a missed deadline raises
:class:`StepTimeout` naming the step, so a silent target never hangs a run. The client can
send anything the core's writer can produce, including illegal encodings (``send_raw``,
``send_planned``).

Every byte goes through the connection's one outgoing buffer (``rtmp.session``), so messages,
raw and planned bytes and the automatic replies (acks, ping responses) reach the socket in
the order they were encoded. ``queue``/``queue_raw`` add to the buffer without writing;
``flush`` writes everything queued as one TCP write: that is how a case glues several
messages (or a trigger of an automatic reply and a command) into one segment.

Every timeout a caller gives (and the default step timeout) is what a direct local link needs;
the client stretches it for the link it runs over with its :class:`~rtmpconf.harness.timing.Timing`
(``timing=``, default: the current case's, harness.timing): deadlines (``wait_for``, ``probe``,
``handshake``, ``read_until``) by ``Timing.deadline``, watch windows (``collect``,
``wait_closed``, ``handshake(c2_delay=)``) by ``Timing.quiet``, and a write's drain by the time
its bytes need through the uplink.
"""

from __future__ import annotations

import dataclasses

import asyncio
import socket
import ssl
import time
import weakref
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar

from rtmpconf.rtmp.chunk import ExtTsDialect, MessagePlan
from rtmpconf.rtmp.errors import ProtocolError
from rtmpconf.rtmp.handshake import ClientHandshake, DigestScheme, HandshakeMode
from rtmpconf.rtmp.messages import (
    Audio, Command, Data, Message, UserControl, Video, status_info,
)
from rtmpconf.rtmp.session import (
    CSID_COMMAND, Connection, ConnectionClosed, HandshakeComplete, MessageReceived, NEED_DATA, Role,
)
from rtmpconf.harness import timing as link_timing
from rtmpconf.harness.timing import Timing
from rtmpconf.harness.wirelog import C2S, S2C, WireLog

T = TypeVar("T")

#: Default per-step deadline (s); cases and the CLI's --timeout override it.
DEFAULT_STEP_TIMEOUT = 5.0
#: While the emulated link still holds bytes a wait may go on this many times its own length.
BUSY_EXTENSION_CAP = 4.0
#: How long probe() waits for a first PingResponse before deciding a target does not answer pings.
PING_DISCOVERY_S = 1.0
#: (host, port) -> whether the target answers PingRequest; learned by probe().
_PING_ANSWERED: dict[tuple[str, int], bool] = {}
READ_SIZE = 256 * 1024
#: Bytes one connection may receive from the target; past this the harness stops reading it. The
#: heaviest case receives 12 MB (GOP-8's stalled player, from nginx-rtmp); every received byte stays
#: in the wire log and in the decoded messages until the case ends, so a flooding target would
#: otherwise grow the harness without bound (hostile targets, tests/doubles/hostile.py).
MAX_RECEIVE_BYTES = 24 * 1024 * 1024
#: Chunks one connection may receive. A decoded chunk costs ~200 bytes (the checkers' ChunkRecord),
#: so 24 MiB of legal 1-byte chunks would cost 2.4 GiB; the heaviest case receives ~3000 chunks (of
#: 4096 bytes), and 12 MB in the 128-byte default size would be ~100 000.
MAX_RECEIVE_CHUNKS = 192 * 1024
#: Bytes and chunks all connections of one case may receive together. A case opens up to six
#: connections (direct and impaired, publishers and players); a flood on each must not multiply
#: the per-connection bound. The heaviest case receives 12 MB in all. Each received byte costs the
#: harness about three (wire log, decoded messages, the checkers' decoding).
MAX_CASE_RECEIVE_BYTES = 32 * 1024 * 1024
MAX_CASE_RECEIVE_CHUNKS = 256 * 1024


class ReceiveBudget:
    """What the connections of one case have received together.

    One per event loop: the plugin runs every case in its own ``asyncio.run``, so the loop is the
    case (and a CLI command or a test, elsewhere).
    """

    _per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ReceiveBudget] = weakref.WeakKeyDictionary()

    def __init__(self) -> None:
        self.bytes = 0
        self.chunks = 0

    @classmethod
    def current(cls) -> ReceiveBudget:
        loop = asyncio.get_running_loop()
        budget = cls._per_loop.get(loop)
        if budget is None:
            budget = cls._per_loop[loop] = cls()
        return budget

    def charge(self, log: WireLog, conn: Connection, data: int, chunks: int, *,
               max_bytes: int = MAX_RECEIVE_BYTES, what: str = "client.MAX_RECEIVE_BYTES") -> str | None:
        """Count a read on the connection behind ``log``/``conn``; why reading must stop, or None."""
        self.bytes += data
        self.chunks += chunks
        received = log.total(S2C)
        if received > max_bytes:
            return (f"the target sent {received} bytes on one connection, more than the "
                    f"{max_bytes / (1024 * 1024):g} MiB the harness reads ({what})")
        if conn.reader.chunks_read > MAX_RECEIVE_CHUNKS:
            return (f"the target sent {conn.reader.chunks_read} chunks on one connection, more than the "
                    f"{MAX_RECEIVE_CHUNKS} the harness reads (client.MAX_RECEIVE_CHUNKS)")
        if self.bytes > MAX_CASE_RECEIVE_BYTES:
            return (f"the target sent {self.bytes} bytes on this case's connections, more than the "
                    f"{MAX_CASE_RECEIVE_BYTES // (1024 * 1024)} MiB the harness reads (client.MAX_CASE_RECEIVE_BYTES)")
        if self.chunks > MAX_CASE_RECEIVE_CHUNKS:
            return (f"the target sent {self.chunks} chunks on this case's connections, more than the "
                    f"{MAX_CASE_RECEIVE_CHUNKS} the harness reads (client.MAX_CASE_RECEIVE_CHUNKS)")
        return None


class StepTimeout(Exception):
    """A step did not complete within its deadline."""

    def __init__(self, step: str, seconds: float, detail: str = "") -> None:
        super().__init__(f"step '{step}' got no answer within {seconds:g} s" + (f": {detail}" if detail else ""))
        self.step = step
        self.seconds = seconds


class ReceiveBudgetExceeded(StepTimeout):
    """The target sent more than the harness reads (``MAX_RECEIVE_BYTES`` and friends) while a step
    was waiting: the answer the step waited for did not come within the budget, and the connection
    is not read any more."""

    def __init__(self, step: str, detail: str) -> None:
        Exception.__init__(self, f"step '{step}' got no answer within the harness's receive budget: {detail}")
        self.step = step
        self.seconds = 0.0


class PeerClosed(Exception):
    """The target closed the connection while a step was waiting."""

    def __init__(self, step: str, reset: bool = False) -> None:
        super().__init__(f"target {'reset' if reset else 'closed'} the connection during '{step}'")
        self.step = step
        self.reset = reset


class RoleUnavailable(Exception):
    """The target does not serve this role (publish or play), as the capability probe found or
    ``--role`` declared: cases that need it are UNIMPLEMENTED, not FAILed one by one."""

    def __init__(self, role: str, reason: str) -> None:
        super().__init__(f"the target does not serve {role}: {reason}")
        self.role = role
        self.reason = reason


class TargetError(ValueError):
    """A target URL or name template that cannot be used; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a client connects: host, port, app and the tcUrl to announce, plus what users put in
    their URLs (a query with a stream key or token, credentials) and name templates for servers
    that map stream names; RTMPS when the scheme is rtmps."""

    host: str
    port: int
    app: str = "live"
    scheme: str = "rtmp"
    #: ``?token=...`` of the URL, without the "?": carried into connect's app and tcUrl (as FFmpeg does).
    query: str = ""
    user: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    #: What publish and play send for a case's stream name ``{name}`` (e.g. ``{name}?key=SECRET``).
    publish_template: str = "{name}"
    play_template: str = "{name}"
    sni: str | None = None  #: TLS server name to send and verify (default: host)
    verify: bool = True  #: verify the server's certificate chain and name (rtmps)
    ca_file: str | None = None  #: PEM bundle of trusted CAs (default: the system store)

    @property
    def tls(self) -> bool:
        """RTMP over TLS (rtmps://)."""
        return self.scheme == "rtmps"

    @property
    def url_host(self) -> str:
        """The host as it appears in a URL (IPv6 literals in brackets)."""
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def app_with_query(self) -> str:
        return f"{self.app}?{self.query}" if self.query else self.app

    @property
    def tc_url(self) -> str:
        return f"{self.scheme}://{self.url_host}:{self.port}/{self.app_with_query}"

    @property
    def display(self) -> str:
        """The URL without credentials, for logs and reports."""
        return self.tc_url

    def publish_name(self, name: str) -> str:
        return self.publish_template.replace("{name}", name)

    def play_name(self, name: str) -> str:
        return self.play_template.replace("{name}", name)

    def moved(self, host: str, port: int) -> Target:
        """The same target reached at another address (a proxy in front of it)."""
        return dataclasses.replace(self, host=host, port=port)

    @classmethod
    def parse(cls, url: str, *, app: str | None = None, publish_name: str | None = None,
              play_name: str | None = None) -> Target:
        """``rtmp://[user:pass@]host[:port][/app][?query]`` -> Target (port 1935, app "live");
        IPv6 literals in brackets. Raises TargetError with a one-line reason."""
        from urllib.parse import unquote, urlsplit

        scheme, sep, _ = url.partition("://")
        if not sep or scheme.lower() not in ("rtmp", "rtmps"):
            raise TargetError(f"target must look like rtmp://host[:port]/app, got {url!r}")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise TargetError(f"bad target URL {url!r}: {exc}") from None
        if not parts.hostname:
            raise TargetError(f"target URL {url!r} has no host")
        path_app = parts.path.strip("/")
        chosen_app = app if app is not None else (path_app or "live")
        for label, template in (("--publish-name", publish_name), ("--play-name", play_name)):
            if template is not None and "{name}" not in template:
                raise TargetError(f"{label} {template!r} must contain {{name}} (the case's stream name)")
        default_port = 443 if scheme.lower() == "rtmps" else 1935
        return cls(parts.hostname, port if port is not None else default_port,
                   chosen_app, scheme.lower(), parts.query,
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None,
                   publish_name or "{name}", play_name or "{name}")

    def tls_kwargs(self, timeout: float) -> dict[str, Any]:
        """Extra ``asyncio.open_connection`` arguments: TLS context, server name, handshake deadline."""
        if not self.tls:
            return {}
        return {"ssl": self.ssl_context(), "server_hostname": self.sni or self.host,
                "ssl_handshake_timeout": timeout}

    def ssl_context(self) -> ssl.SSLContext | None:
        """The client TLS context for this target (None for plain RTMP)."""
        if not self.tls:
            return None
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if not self.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


class RtmpClient:
    """One client connection. Use ``async with RtmpClient(target) as c:``."""

    def __init__(
        self,
        target: Target,
        *,
        timeout: float = DEFAULT_STEP_TIMEOUT,
        label: str = "",
        ext_ts_on_fmt3: bool = True,
        ext_ts_dialect: ExtTsDialect = ExtTsDialect.AUTO,
        auto_ack: bool = True,
        auto_pong: bool = True,
        auto_window_reply: bool = True,
        handshake: ClientHandshake | None = None,
        timing: Timing | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout  #: the per-step deadline on a direct link (stretched by ``timing``)
        self.timing = timing if timing is not None else link_timing.current()
        self.log = WireLog(label)
        self.conn = Connection(
            Role.CLIENT,
            handshake=handshake or ClientHandshake(time_ms=0),
            ext_ts_on_fmt3=ext_ts_on_fmt3,
            ext_ts_dialect=ext_ts_dialect,
            auto_ack=auto_ack,
            auto_pong=auto_pong,
            auto_window_reply=auto_window_reply,
        )
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.received: list[MessageReceived] = []  #: every message received, in order
        self._cursor = 0
        self.closed = False
        self.close_reset = False
        self.protocol_error: ProtocolError | None = None
        #: Wire logs of side connections this client opened (an authmod challenge).
        self.side_logs: list[WireLog] = []
        self.handshake_done = False
        self._tid = 1.0
        self.stream_id: int | None = None
        #: Roles the target serves ("publish", "play") with the reason for a missing one; None = all.
        self.roles: dict[str, str | None] | None = None
        #: Set once the target exceeded the receive budget: the connection is not read any more.
        self.over_budget: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> RtmpClient:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """TCP connect (deadline: the step timeout)."""
        limit = self.timing.deadline(self.timeout)
        try:
            t = self.target
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancellation that
            # arrives as the connection completes (a SIGINT to a simulated client then went unheard).
            async with asyncio.timeout(limit):
                self.reader, self.writer = await asyncio.open_connection(t.host, t.port, limit=READ_SIZE,
                                                                         **t.tls_kwargs(limit))
        except TimeoutError:
            raise StepTimeout("tls connect" if self.target.tls else "tcp connect", limit) from None
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.log.client_port = sock.getsockname()[1]
        self.log.note(f"connected to {self.target.host}:{self.target.port}"
                      + (f" over {self.writer.get_extra_info('ssl_object').version()}" if self.target.tls else ""))

    async def close(self) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.close()
            try:
                await asyncio.wait_for(self.writer.wait_closed(), 1.0)
            except (asyncio.TimeoutError, OSError):
                pass
        self.closed = True

    def abort(self) -> None:
        """Close with a TCP RST (SO_LINGER 0), as a crashed publisher would (ROB-5)."""
        if self.writer is None:
            return
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            import struct as _s
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _s.pack("ii", 1, 0))
        self.writer.transport.abort()
        self.closed = True
        self.log.note("client aborted the connection (RST)")

    # -- raw I/O -----------------------------------------------------------------------------

    def queue(self, msg: Message, *, msid: int = 0, timestamp: int = 0, csid: int | None = None) -> None:
        """Encode ``msg`` into the connection's buffer without writing it (see :meth:`flush`)."""
        self.conn.send(msg, msid=msid, timestamp=timestamp, csid=csid)

    def queue_raw(self, data: bytes) -> None:
        """Add bytes exactly as given to the connection's buffer without writing them."""
        self.conn.send_raw(data)

    async def flush(self, *, drain: bool = True) -> None:
        """Write everything the connection has queued, in encoding order, as one write."""
        await self._write(self.conn.data_to_send(), drain)

    async def prepare(self, msg: Message, *, msid: int = 0, timestamp: int = 0, csid: int | None = None) -> bytes:
        """``msg``'s bytes, encoded on the connection's writer but handed back instead of written,
        for a case that writes them itself (split, or cut short) with :meth:`send_raw`.

        Anything queued before is written first, so the bytes are ``msg``'s alone. The case must
        write them before it sends anything else, or the peer sees them out of encoding order.
        """
        await self.flush()
        self.conn.send(msg, msid=msid, timestamp=timestamp, csid=csid)
        return self.conn.data_to_send()

    async def send_raw(self, data: bytes, *, drain: bool = True) -> None:
        """Write bytes exactly as given (recorded in the wire log), after whatever the connection
        has queued (so they keep their place relative to automatic replies)."""
        self.conn.send_raw(data)
        await self.flush(drain=drain)

    async def _write(self, data: bytes, drain: bool) -> None:
        assert self.writer is not None, "open() first"
        if not data:
            return
        now = time.monotonic()
        self.log.add(C2S, data, now)
        self.writer.write(data)
        # Later waits allow for these bytes crossing a rate-limited link (harness.timing.Backlog).
        self.timing.backlog.sent(self.timing, len(data), now)
        if drain:
            limit = self.timing.deadline(self.timeout)
            try:
                # asyncio.timeout, not wait_for: no task per write (a case writes thousands).
                async with asyncio.timeout(limit):
                    await self.writer.drain()
            except TimeoutError:
                raise StepTimeout("write", limit, "target stopped reading") from None
            except (ConnectionError, OSError):
                self.closed = True
                self.close_reset = True
                # The target closed first; record it so checkers see a closed session.
                self.log.mark_closed(S2C, time.monotonic(), reset=True)

    async def send_split(self, data: bytes, sizes: int | list[int], delay: float = 0.0) -> None:
        """Write ``data`` in pieces (an int = fixed piece size), with ``delay`` s between them."""
        pieces: list[bytes] = []
        if isinstance(sizes, int):
            pieces = [data[i:i + sizes] for i in range(0, len(data), sizes)]
        else:
            pos = 0
            for s in sizes:
                pieces.append(data[pos:pos + s])
                pos += s
            if pos < len(data):
                pieces.append(data[pos:])
        for p in pieces:
            await self.send_raw(p)
            if delay:
                await asyncio.sleep(delay)

    async def _read_once(self, step: str, deadline: float, auto_send: bool = True,
                         allowed: float | None = None) -> bool:
        """Read what is available (until ``deadline``); False once the peer closed. ``allowed``
        is the step's whole deadline in seconds (for the StepTimeout message and the cap below).

        Past the deadline the step is over (StepTimeout) unless the emulated link still holds
        bytes (``Timing.backlog.busy``, an impairment proxy in front of the target): then the wait
        goes on in short slices, up to BUSY_EXTENSION_CAP times its length, because what the
        target sent, or what it has to answer, is still on the way. A slow link is no verdict.
        """
        assert self.reader is not None
        if self.over_budget is not None:
            raise ReceiveBudgetExceeded(step, self.over_budget)
        allowed = self.timing.deadline(self.timeout) if allowed is None else allowed
        now = time.monotonic()
        remaining = deadline - now
        if remaining <= 0:
            if now - deadline > BUSY_EXTENSION_CAP * allowed or not self.timing.backlog.busy():
                raise StepTimeout(step, allowed)
            remaining = link_timing.BUSY_SLICE_S
            self.timing.backlog.extend(remaining)
        try:
            async with asyncio.timeout(remaining):  # no task per read, unlike wait_for
                data = await self.reader.read(READ_SIZE)
        except TimeoutError:
            return True  # the next call decides: more time while the link is busy, else StepTimeout
        except (ConnectionResetError, BrokenPipeError):
            self.closed = True
            self.close_reset = True
            self.log.mark_closed(S2C, time.monotonic(), reset=True)
            self.conn.receive_data(b"")
            self._drain_events()
            return False
        now = time.monotonic()
        if not data:
            self.closed = True
            self.log.mark_closed(S2C, now)
            self.conn.receive_data(b"")
            self._drain_events()
            return False
        self.log.add(S2C, data, now)
        chunks_before = self.conn.reader.chunks_read
        self.conn.receive_data(data)
        self._drain_events()
        problem = ReceiveBudget.current().charge(self.log, self.conn, len(data),
                                                 self.conn.reader.chunks_read - chunks_before)
        if problem is not None:
            self.over_budget = problem
            self.log.note(f"harness stopped reading: {problem}")
            raise ReceiveBudgetExceeded(step, problem)
        if auto_send:
            await self.flush()  # acks, ping responses, window replies
        return True

    def _drain_events(self) -> None:
        while True:
            try:
                ev = self.conn.next_event()
            except ProtocolError as exc:
                self.protocol_error = exc
                return
            if ev is NEED_DATA:
                return
            if isinstance(ev, MessageReceived):
                self.received.append(ev)
            elif isinstance(ev, HandshakeComplete):
                self.handshake_done = True
            elif isinstance(ev, ConnectionClosed):
                pass

    # -- handshake ---------------------------------------------------------------------------

    async def handshake(self, *, c0c1_split: int | list[int] | None = None, c2_with: bytes = b"",
                        c2_delay: float = 0.0, timeout: float | None = None, c2_with_after_s2: bool = False) -> None:
        """C0+C1, wait for S0+S1 (the client sends C2 as soon as S1 is in), then for S2.

        ``c2_with``: chunk bytes to write together with C2 (librtmp's C2 + connect, HS-6). The
        handshake is not complete yet, so ``send`` refuses to encode them (HS-4): a case encodes
        them on ``conn.writer`` (so later headers follow them) and passes the bytes here.
        ``c2_with_after_s2``: glue them to C2 only when S2 came in the same read, otherwise send
        them once S2 has arrived (librtmp writes C2, reads S2, then writes connect, HS-3).
        """
        hs = self.conn.handshake
        assert isinstance(hs, ClientHandshake)
        if c0c1_split is None:
            await self.flush()
        else:
            await self.send_split(self.conn.data_to_send(), c0c1_split)
        allowed = self.timing.deadline(timeout or self.timeout)
        deadline = time.monotonic() + allowed
        sent_c2 = False
        while not hs.done:
            if not await self._read_once("handshake", deadline, auto_send=False, allowed=allowed):
                raise PeerClosed("handshake", self.close_reset)
            if self.protocol_error is not None:
                # A malformed S0/S1 (e.g. S0 != 3) ends the step at once: waiting adds nothing.
                raise self.protocol_error
            # The Connection moved C2 into its output buffer once S1 was complete.
            out = self.conn.data_to_send()
            if out and not sent_c2:
                sent_c2 = True
                if c2_delay:
                    # HS-4 probe: hold C2 back and see whether the server sends anything meanwhile.
                    await self._read_window(self.timing.quiet(c2_delay))
                if c2_with_after_s2 and not hs.done:
                    await self.send_raw(out)
                else:
                    await self.send_raw(out + c2_with)
                    c2_with = b""
        if self.protocol_error is not None:
            raise self.protocol_error
        # Anything after C2 the caller wanted glued to it (C2 + connect in one write, HS-6).
        if c2_with:
            await self.send_raw(c2_with)

    async def _read_window(self, seconds: float) -> None:
        """Read for ``seconds`` (already stretched by the caller)."""
        deadline = time.monotonic() + seconds
        while not self.closed:
            try:
                await self._read_once("hold", deadline, auto_send=False, allowed=seconds)
            except ReceiveBudgetExceeded:
                raise
            except StepTimeout:
                return

    # -- messages ----------------------------------------------------------------------------

    def next_tid(self) -> float:
        self._tid += 1.0
        return self._tid

    async def send(self, msg: Message, *, msid: int = 0, timestamp: int = 0, csid: int | None = None) -> None:
        self.conn.send(msg, msid=msid, timestamp=timestamp, csid=csid)
        await self.flush()

    async def send_planned(self, msg: Message, plan: MessagePlan, *, msid: int = 0, timestamp: int = 0,
                           csid: int | None = None) -> list[bytes]:
        """Encode with an explicit plan (possibly illegal) and send; returns the chunks."""
        chunks = self.conn.send_planned(msg, plan, msid=msid, timestamp=timestamp, csid=csid)
        await self.flush()
        return chunks

    async def command(self, name: str, *args: Any, obj: Any = None, msid: int = 0,
                      tid: float | None = None, csid: int = CSID_COMMAND) -> float:
        t = self.next_tid() if tid is None else tid
        await self.send(Command(name, t, obj, tuple(args)), msid=msid, csid=csid)
        return t

    async def wait_for(self, predicate: Callable[[MessageReceived], bool], step: str,
                       timeout: float | None = None) -> MessageReceived:
        """The next received message (after earlier waits) matching ``predicate``; ``timeout`` (a
        direct link's, stretched by the client's timing) defaults to the step timeout."""
        allowed = self.timing.deadline(timeout or self.timeout)
        deadline = time.monotonic() + allowed
        while True:
            while self._cursor < len(self.received):
                ev = self.received[self._cursor]
                self._cursor += 1
                if predicate(ev):
                    return ev
            if self.protocol_error is not None:
                raise self.protocol_error
            if self.closed:
                raise PeerClosed(step, self.close_reset)
            if not await self._read_once(step, deadline, allowed=allowed):
                continue

    async def read_until(self, done: Callable[[], bool], step: str, timeout: float | None = None) -> bool:
        """Read until ``done()`` holds (True), the peer closed or the deadline passed (False)."""
        allowed = self.timing.deadline(timeout or self.timeout)
        deadline = time.monotonic() + allowed
        while not done():
            if self.closed:
                return False
            try:
                await self._read_once(step, deadline, allowed=allowed)
            except ReceiveBudgetExceeded:
                raise
            except StepTimeout:
                return False
        return True

    async def collect(self, seconds: float) -> list[MessageReceived]:
        """Read for ``seconds`` (a watch window, stretched by ``Timing.quiet``), or until closed,
        and return what arrived in that time."""
        start = len(self.received)
        window = self.timing.quiet(seconds)
        deadline = time.monotonic() + window
        while not self.closed:
            try:
                await self._read_once("collect", deadline, allowed=window)
            except ReceiveBudgetExceeded:
                raise
            except StepTimeout:
                break
        self._cursor = len(self.received)
        return self.received[start:]

    async def wait_closed(self, timeout: float) -> bool:
        """True if the target closed within ``timeout`` s (a watch window, stretched by
        ``Timing.quiet``)."""
        window = self.timing.quiet(timeout)
        deadline = time.monotonic() + window
        while not self.closed:
            try:
                await self._read_once("wait for close", deadline, allowed=window)
            except ReceiveBudgetExceeded:
                raise
            except StepTimeout:
                return False
        return True

    async def probe(self, step: str = "probe", timeout: float | None = None) -> bool:
        """Is the session alive and has the target processed everything sent so far?

        Sends a PingRequest with a unique value and waits for its PingResponse (CTRL-10). A target
        that never answers pings (learned once per target, within ``PING_DISCOVERY_S``) is probed
        with a createStream round trip instead, which every server answers. True once the answer
        came, False if the deadline passed with the connection still open. Raises PeerClosed if
        the target closed the connection.
        """
        key = (self.target.host, self.target.port)
        answers_pings = _PING_ANSWERED.get(key)
        if answers_pings is not False:
            self._probe_seq = getattr(self, "_probe_seq", 0x5EED0000) + 1
            value = self._probe_seq & 0xFFFFFFFF
            await self.send(UserControl.ping_request(value))
            want = value.to_bytes(4, "big")
            wait = timeout if answers_pings else min(timeout or self.timeout, PING_DISCOVERY_S)
            # (wait_for stretches it for the link: a far target's first pong is not mistaken for none)
            try:
                await self.wait_for(lambda e: isinstance(e.message, UserControl) and e.message.event == 7
                                    and e.message.data[:4] == want, step, wait)
                _PING_ANSWERED[key] = True
                return True
            except ReceiveBudgetExceeded:
                raise
            except StepTimeout:
                if answers_pings:
                    return False
                _PING_ANSWERED[key] = False
        if not self.handshake_done:
            return False
        tid = await self.command("createStream")
        try:
            await self.wait_reply(tid, step, timeout)
        except ReceiveBudgetExceeded:
            raise
        except StepTimeout:
            return False
        return True

    async def wait_reply(self, tid: float, step: str, timeout: float | None = None) -> Command:
        ev = await self.wait_for(
            lambda e: isinstance(e.message, Command) and e.message.name in ("_result", "_error")
            and e.message.transaction_id == tid, step, timeout)
        assert isinstance(ev.message, Command)
        return ev.message

    async def wait_status(self, step: str, codes: tuple[str, ...] | None = None,
                          timeout: float | None = None) -> dict[str, Any]:
        """The next onStatus (optionally one of ``codes``); returns its info object."""
        def match(e: MessageReceived) -> bool:
            info = status_info(e.message)
            return info is not None and (codes is None or info.get("code") in codes)
        ev = await self.wait_for(match, step, timeout)
        info = status_info(ev.message)
        assert info is not None
        return info

    # -- NetConnection / NetStream flows ------------------------------------------------------

    async def connect(self, app: str | None = None, *, extra: dict[str, Any] | None = None,
                      tc_url: str | None = None) -> Command:
        """connect (tid 1) to ``app`` (default: the target's app and query). A target with
        credentials (``rtmp://user:pass@host/app``) first answers the server's Adobe authmod
        challenge on a side connection, as FFmpeg does, then connects with the response."""
        if app is None and self.target.user is not None and "authmod=" not in self.target.query:
            query = await self._authmod_query(extra)
            if query is not None:
                base = self.target.app_with_query
                app = f"{base}{'&' if '?' in base else '?'}{query}"
        app = self.target.app_with_query if app is None else app
        obj: dict[str, Any] = {
            "app": app, "flashVer": "FMLE/3.0 (compatible; rtmp-conformance)",
            "tcUrl": tc_url or (self.target.tc_url if app == self.target.app_with_query else
                                f"{self.target.scheme}://{self.target.url_host}:{self.target.port}/{app}"),
            "fpad": False, "capabilities": 15.0, "audioCodecs": 4071.0, "videoCodecs": 252.0,
            "videoFunction": 1.0, "objectEncoding": 0.0,
        }
        obj.update(extra or {})
        await self.send(Command("connect", 1.0, obj))
        return await self.wait_reply(1.0, "connect")

    async def _authmod_query(self, extra: dict[str, Any] | None) -> str | None:
        """The connect query that answers the target's Adobe authmod challenge (None: the server
        asked for none). The challenge comes on a connection of its own, as FFmpeg gets it."""
        from rtmpconf.harness.auth import adobe_client_query

        user, password = self.target.user or "", self.target.password or ""
        base = self.target.app_with_query
        first = f"{base}{'&' if '?' in base else '?'}authmod=adobe&user={user}"
        side = RtmpClient(dataclasses.replace(self.target, user=None, password=None), timeout=self.timeout,
                          label=f"{self.log.label} (authmod challenge)")
        self.side_logs.append(side.log)
        try:
            async with side:
                await side.handshake()
                reply = await side.connect(first, extra=extra)
        except (StepTimeout, PeerClosed, ProtocolError):
            return None
        info = reply.arguments[0] if reply.arguments and isinstance(reply.arguments[0], dict) else {}
        description = str(info.get("description", ""))
        self.log.note(f"authmod challenge: {reply.name} {description[:200]}")
        return adobe_client_query(description, user, password) if reply.name == "_error" else None

    def _require_role(self, role: str) -> None:
        if self.roles is not None and self.roles.get(role) is not None:
            raise RoleUnavailable(role, str(self.roles[role]))

    async def create_stream(self) -> int:
        tid = await self.command("createStream")
        reply = await self.wait_reply(tid, "createStream")
        if reply.name != "_result" or not reply.arguments:
            raise ProtocolError(f"createStream refused: {reply}", rule="CMD-9")
        self.stream_id = int(reply.arguments[0])
        return self.stream_id

    async def publish(self, name: str, *, kind: str = "live", fmle: bool = True,
                      any_status: bool = False) -> dict[str, Any]:
        """FMLE/OBS/FFmpeg order (CMD-12): releaseStream, FCPublish, createStream, publish.
        ``name`` goes through the target's publish template."""
        self._require_role("publish")
        name = self.target.publish_name(name)
        if fmle:
            await self.command("releaseStream", name)
            await self.command("FCPublish", name)
        msid = await self.create_stream()
        await self.command("publish", name, kind, msid=msid, tid=0.0)
        return await self.wait_status("publish", None if any_status else
                                      ("NetStream.Publish.Start", "NetStream.Publish.BadName"))

    async def play(self, name: str, *, start: float = -2.0, buffer_ms: int = 1000,
                   any_status: bool = False) -> dict[str, Any]:
        """createStream, play (``name`` through the target's play template), SetBufferLength."""
        self._require_role("play")
        name = self.target.play_name(name)
        msid = await self.create_stream()
        await self.command("play", name, start, msid=msid, tid=0.0)
        await self.send(UserControl.set_buffer_length(msid, buffer_ms))
        return await self.wait_status("play", None if any_status else
                                      ("NetStream.Play.Start", "NetStream.Play.StreamNotFound"))

    async def publish_media(self, tags: Any, *, msid: int | None = None, realtime: bool = False,
                            speed: float = 1.0) -> None:
        """Send MediaTag-like objects (type_id, timestamp, payload); paced when ``realtime``."""
        msid = self.stream_id if msid is None else msid
        assert msid is not None
        start = time.monotonic()
        first_ts: int | None = None
        for tag in tags:
            if realtime:
                if first_ts is None:
                    first_ts = tag.timestamp
                due = start + ((tag.timestamp - first_ts) & 0xFFFFFFFF) / 1000.0 / speed
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            msg: Message
            if tag.type_id == 8:
                msg = Audio(tag.payload)
            elif tag.type_id == 9:
                msg = Video(tag.payload)
            else:
                from rtmpconf.rtmp import amf0
                msg = Data(tuple(amf0.decode_all(tag.payload)))
            await self.send(msg, msid=msid, timestamp=tag.timestamp)

    async def read_for(self, seconds: float) -> None:
        await self.collect(seconds)


async def with_deadline(aw: Awaitable[T], seconds: float, step: str) -> T:
    try:
        return await asyncio.wait_for(aw, seconds)
    except asyncio.TimeoutError:
        raise StepTimeout(step, seconds) from None


#: ERTMPv2 "Reconnect Request": the NetConnection onStatus code asking a client to reconnect.
RECONNECT_REQUEST = "NetConnection.Connect.ReconnectRequest"


def resolve_tc_url(current: str, reference: str | None) -> str:
    """The tcUrl a Reconnect Request points to (ERTMP-11): ERTMPv2 says the optional tcUrl is an
    "absolute or relative URI reference ... resolved relative to the tcUrl for the current
    connection" and, when absent, the client "defaults to the tcUrl for the current connection".

    RFC 3986 §5.2 reference resolution for the forms the spec lists: ``rtmp://host/app``
    (absolute), ``//host/app`` (network-path), ``/app`` (absolute-path) and ``app`` (relative
    path, merged with the current path's directory). A query on the reference replaces the
    current one; a path-only reference drops it. (urllib's urljoin does not resolve rtmp:
    it only knows the schemes in urllib.parse.uses_relative.)
    """
    if not reference:
        return current
    scheme, sep, rest = current.partition("://")
    if not sep:
        raise TargetError(f"current tcUrl {current!r} is not an absolute URL")
    authority, slash, path_query = rest.partition("/")
    current_path = "/" + path_query.split("?", 1)[0] if slash else "/"
    import re

    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", reference):
        return reference  # RFC 3986 §4.3: already absolute (it has a scheme)
    if reference.startswith("//"):
        return f"{scheme}:{reference}"
    if reference.startswith("/"):
        return f"{scheme}://{authority}{reference}"
    if reference.startswith("?"):
        return f"{scheme}://{authority}{current_path}{reference}"
    directory = current_path.rsplit("/", 1)[0]
    merged = f"{directory}/{reference}"
    # RFC 3986 §5.2.4: remove dot segments.
    out: list[str] = []
    for seg in merged.split("?", 1)[0].split("/")[1:]:
        if seg == "..":
            if out:
                out.pop()
        elif seg != ".":
            out.append(seg)
    query = "?" + merged.split("?", 1)[1] if "?" in merged else ""
    return f"{scheme}://{authority}/" + "/".join(out) + query
