"""Relay: push published streams to other servers, pull unknown streams from an origin.

Configured by the ``[relay]`` table (README, "Relay")::

    [relay]
    server_id = ""                     # this server's name in loop protection (default: random)
    [[relay.push]]                     # on publish of a matching app/name, forward it upstream
    app = "live"                       # "*" = any app
    name = "*"                         # glob on the stream name
    urls = ["rtmp://10.0.0.2/live"]    # the stream name is appended ("{name}" in a URL is replaced)
    [[relay.pull]]                     # a play of a name nobody publishes here opens it at an origin
    apps = ["live"]                    # empty = any app (the first matching [[relay.pull]] applies)
    origins = ["rtmp://origin/live"]   # tried in order; the stream name is appended
    idle_close_s = 5.0                 # close the origin connection this long after the last player left

Push is a :class:`~streams.MediaTap` per matching stream: on publish it opens an RTMP client
connection to every URL and forwards metadata, sequence headers, the cached GOP and then every
message, with the timestamps RTMP players get. It never blocks the local stream: a slow or dead
upstream is skipped to the next keyframe (bounded buffer) and reconnected with backoff.

Pull makes the origin connection the stream's publisher: the edge's players share it, and it
is closed ``idle_close_s`` after the last player leaves. When the origin's publisher goes away
the edge's players are told (UnpublishNotify) and the pull keeps waiting for a republish.

Loop protection: every relay connection carries the chain of server ids it went through in
its connect object (``rtmpconfRelay``, comma-separated). A server refuses a relay publish or play
whose chain already holds its own id, and refuses chains longer than ``MAX_HOPS``: a push or
pull that comes back to a server it left is stopped at the first repeat.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import secrets
import ssl
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rtmpconf.reference_server.streams import CachedMessage, LiveStream, MediaTap
from rtmpconf.rtmp import amf0
from rtmpconf.rtmp.errors import ProtocolError
from rtmpconf.rtmp.handshake import ClientHandshake
from rtmpconf.rtmp.messages import Audio, Command, Data, Message, UserControl, UserControlEvent, Video, status_info
from rtmpconf.rtmp.session import (
    CSID_AUDIO,
    CSID_COMMAND,
    CSID_DATA,
    CSID_VIDEO,
    NEED_DATA,
    Connection,
    MessageReceived,
    Role,
)

if TYPE_CHECKING:
    from rtmpconf.reference_server.streams import StreamRegistry

log = logging.getLogger("rtmpconf.rtmp.server.relay")

#: The connect-object property carrying the relay chain (server ids, comma-separated).
CHAIN_KEY = "rtmpconfRelay"
#: Longest relay chain accepted (origin -> edge -> edge -> edge -> players is 3 hops).
MAX_HOPS = 8
#: Deadline for one upstream step (TCP/TLS connect, handshake, a command's answer), s.
STEP_TIMEOUT_S = 5.0
#: Reconnect backoff: first delay, factor, ceiling (s).
BACKOFF_MIN_S = 0.5
BACKOFF_FACTOR = 2.0
BACKOFF_MAX_S = 10.0
#: An upstream whose unsent bytes pass this skips to the next keyframe (the local stream never waits).
PUSH_QUEUE_BYTES = 8 * 1024 * 1024
#: Default delay before an unused origin pull is closed (s).
IDLE_CLOSE_S = 5.0
READ_SIZE = 256 * 1024
CSID = {8: CSID_AUDIO, 9: CSID_VIDEO, 18: CSID_DATA}


@dataclass(frozen=True, slots=True)
class PushRule:
    app: str
    name: str
    urls: tuple[str, ...]

    def matches(self, app: str, name: str) -> bool:
        return (self.app in ("*", app)) and fnmatch.fnmatchcase(name, self.name)


@dataclass(frozen=True, slots=True)
class PullRule:
    apps: tuple[str, ...]  #: empty = any app
    origins: tuple[str, ...]
    idle_close_s: float = IDLE_CLOSE_S

    def matches(self, app: str) -> bool:
        return not self.apps or app in self.apps


@dataclass(frozen=True, slots=True)
class RelayConfig:
    server_id: str = ""
    push: tuple[PushRule, ...] = ()
    pull: tuple[PullRule, ...] = ()

    def pull_rule(self, app: str) -> PullRule | None:
        return next((r for r in self.pull if r.matches(app) and r.origins), None)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> RelayConfig:
        """Parse the ``[relay]`` table; ValueError with one clear line on bad input."""
        unknown = set(raw) - {"server_id", "push", "pull"}
        if unknown:
            raise ValueError(f"unknown [relay] keys: {', '.join(sorted(unknown))}")
        rules = []
        for i, p in enumerate(raw.get("push", [])):
            if not isinstance(p, Mapping):
                raise ValueError(f"[[relay.push]] #{i + 1} must be a table")
            bad = set(p) - {"app", "name", "urls"}
            if bad:
                raise ValueError(f"unknown [[relay.push]] keys: {', '.join(sorted(bad))}")
            urls = tuple(str(u) for u in p.get("urls", []))
            if not urls:
                raise ValueError(f"[[relay.push]] #{i + 1} needs urls")
            for u in urls:
                _check_url(u, "[[relay.push]] urls")
            rules.append(PushRule(str(p.get("app", "*")), str(p.get("name", "*")), urls))
        pulls_raw = raw.get("pull", [])
        pulls = []
        for pull in [pulls_raw] if isinstance(pulls_raw, Mapping) else list(pulls_raw):
            if not isinstance(pull, Mapping):
                raise ValueError("[[relay.pull]] must be a table")
            bad = set(pull) - {"apps", "origins", "idle_close_s"}
            if bad:
                raise ValueError(f"unknown [relay.pull] keys: {', '.join(sorted(bad))}")
            origins = tuple(str(u) for u in pull.get("origins", []))
            if not origins:
                raise ValueError("[relay.pull] needs origins")
            for u in origins:
                _check_url(u, "[relay.pull] origins")
            idle = float(pull.get("idle_close_s", IDLE_CLOSE_S))
            if idle < 0:
                raise ValueError("[relay.pull] idle_close_s must not be negative")
            pulls.append(PullRule(tuple(str(a) for a in pull.get("apps", [])), origins, idle))
        return cls(str(raw.get("server_id", "")), tuple(rules), tuple(pulls))


def _check_url(url: str, where: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("rtmp", "rtmps") or not parts.hostname or not parts.path.strip("/"):
        raise ValueError(f"{where}: {url!r} is not rtmp[s]://host[:port]/app")
    try:
        _ = parts.port  # raises ValueError for a bad port
    except ValueError:
        raise ValueError(f"{where}: {url!r} has a bad port") from None


def parse_chain(value: Any) -> tuple[str, ...]:
    """The relay chain from a connect object's ``rtmpconfRelay`` property."""
    if not isinstance(value, str) or not value:
        return ()
    return tuple(p for p in value.split(",") if p)


# -- an upstream RTMP client connection ------------------------------------------------------------


class UpstreamError(Exception):
    """An upstream connection failed (connect, handshake, refusal, close)."""


class Upstream:
    """One outgoing RTMP connection over the core: connect, then publish or play one name."""

    def __init__(self, url: str, name: str, chain: tuple[str, ...]) -> None:
        parts = urllib.parse.urlsplit(url.replace("{name}", name))
        self.tls = parts.scheme == "rtmps"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.tls else 1935)
        path = parts.path.strip("/")
        if "{name}" in url:
            app, _, self.name = path.rpartition("/")
            self.app = app or path
        else:
            self.app, self.name = path, name
        if parts.query:
            self.app += "?" + parts.query
        self.url = url
        self.chain = chain
        self.conn = Connection(Role.CLIENT, handshake=ClientHandshake(time_ms=0))
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.msid = 0
        self._tid = 1.0
        self._pending: list[MessageReceived] = []
        self.closed = False

    def __repr__(self) -> str:
        return f"<upstream {self.host}:{self.port}/{self.app}/{self.name}>"

    @property
    def tc_url(self) -> str:
        return f"{'rtmps' if self.tls else 'rtmp'}://{self.host}:{self.port}/{self.app}"

    async def open(self) -> None:
        ctx = ssl.create_default_context() if self.tls else None
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, ssl=ctx, limit=READ_SIZE), STEP_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError) as exc:
            raise UpstreamError(f"cannot reach {self.host}:{self.port}: {exc or 'timeout'}") from None
        self._write(self.conn.data_to_send())
        while not self.conn.handshake.done:
            await self._read()
        self._write(self.conn.data_to_send())
        obj = {"app": self.app, "type": "nonprivate", "flashVer": "FMLE/3.0 (compatible; rtmpconf relay)",
               "tcUrl": self.tc_url, CHAIN_KEY: ",".join(self.chain)}
        reply = await self._call("connect", obj)
        if reply.name != "_result":
            raise UpstreamError(f"connect refused: {_info_text(reply)}")

    async def publish(self) -> None:
        self._send_cmd("releaseStream", 0.0 + self._next(), None, self.name)
        self._send_cmd("FCPublish", self._next(), None, self.name)
        reply = await self._call("createStream", None)
        self.msid = int(reply.arguments[0]) if reply.name == "_result" and reply.arguments else 1
        self._send_cmd("publish", 0.0, None, self.name, "live", msid=self.msid)
        info = await self._status(("NetStream.Publish.Start",))
        if info.get("code") != "NetStream.Publish.Start":
            raise UpstreamError(f"publish refused: {info.get('code')} {info.get('description', '')}")

    async def play(self) -> None:
        reply = await self._call("createStream", None)
        self.msid = int(reply.arguments[0]) if reply.name == "_result" and reply.arguments else 1
        self._send_cmd("play", 0.0, None, self.name, -2.0, msid=self.msid)
        self.conn.send(UserControl.set_buffer_length(self.msid, 1000))
        self._write(self.conn.data_to_send())

    def send_media(self, msg: CachedMessage) -> None:
        """Write one message now (never awaits: the transport buffers; see ``backlog``)."""
        out: Message
        if msg.type_id == 18:
            out = Data(("@setDataFrame", *amf0.decode_all(msg.payload)))
        elif msg.type_id == 8:
            out = Audio(msg.payload)
        else:
            out = Video(msg.payload)
        # The connection's one output path: acknowledgements it owes go out in order with the media.
        self.conn.send(out, msid=self.msid, timestamp=msg.timestamp, csid=CSID[msg.type_id])
        self._write(self.conn.data_to_send())

    def backlog(self) -> int:
        t = self.writer.transport if self.writer is not None else None
        return t.get_write_buffer_size() if t is not None else 0

    async def messages(self) -> Any:
        """Every message received from now on (an async iterator; ends when the upstream closes)."""
        while True:
            while self._pending:
                yield self._pending.pop(0)
            await self._read(deadline=None)

    def close(self) -> None:
        self.closed = True
        if self.writer is not None and not self.writer.is_closing():
            self.writer.close()

    # -- internals --------------------------------------------------------------------------

    def _next(self) -> float:
        self._tid += 1.0
        return self._tid

    def _write(self, data: bytes) -> None:
        if data and self.writer is not None and not self.writer.is_closing():
            self.writer.write(data)

    def _send_cmd(self, name: str, tid: float, obj: Any, *args: Any, msid: int = 0) -> None:
        self.conn.send(Command(name, tid, obj, args), msid=msid, csid=CSID_COMMAND)
        self._write(self.conn.data_to_send())

    async def _read(self, deadline: float | None = STEP_TIMEOUT_S) -> None:
        assert self.reader is not None
        try:
            data = await (asyncio.wait_for(self.reader.read(READ_SIZE), deadline) if deadline
                          else self.reader.read(READ_SIZE))
        except asyncio.TimeoutError:
            raise UpstreamError("no answer from upstream") from None
        except OSError as exc:
            raise UpstreamError(f"upstream connection lost: {exc}") from None
        if not data:
            self.closed = True
            raise UpstreamError("upstream closed the connection")
        self.conn.receive_data(data)
        try:
            while True:
                ev = self.conn.next_event()
                if ev is NEED_DATA:
                    break
                if isinstance(ev, MessageReceived):
                    self._pending.append(ev)
        except ProtocolError as exc:
            raise UpstreamError(f"upstream sent malformed data: {exc}") from None
        self._write(self.conn.data_to_send())  # acknowledgements, ping responses

    async def _call(self, name: str, obj: Any, *args: Any) -> Command:
        tid = self._next()
        self._send_cmd(name, tid, obj, *args)
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while True:
            for i, ev in enumerate(self._pending):
                m = ev.message
                if isinstance(m, Command) and m.name in ("_result", "_error") and m.transaction_id == tid:
                    del self._pending[i]
                    return m
            if time.monotonic() > deadline:
                raise UpstreamError(f"no answer to {name}")
            await self._read()

    async def _status(self, codes: tuple[str, ...]) -> dict[str, Any]:
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while True:
            for i, ev in enumerate(self._pending):
                info = status_info(ev.message)
                if info is not None and (info.get("code") in codes or info.get("level") == "error"):
                    del self._pending[i]
                    return info
            if time.monotonic() > deadline:
                raise UpstreamError("no onStatus answer")
            await self._read()


def _info_text(cmd: Command) -> str:
    for a in (*cmd.arguments, cmd.command_object):
        if isinstance(a, dict) and "code" in a:
            return f"{a.get('code')} {a.get('description', '')}"
    return cmd.name


# -- push ----------------------------------------------------------------------------------------------


class PushTap(MediaTap):
    """Forwards one stream to one upstream URL while it is published here."""

    def __init__(self, relay: RelayManager, stream: LiveStream, url: str) -> None:
        self.relay = relay
        self.stream = stream
        self.url = url
        self.upstream: Upstream | None = None
        self.ready = False
        self.skipping = False  #: over the queue bound: wait for the next keyframe
        self.task: asyncio.Task[None] | None = None
        self.connects = 0  #: successful upstream publishes (1 + reconnects)
        self.failures = 0
        self.chain: tuple[str, ...] = ()

    def on_publish_start(self, stream: LiveStream) -> None:
        publisher = stream.publisher
        self.chain = tuple(getattr(publisher, "relay_chain", ()) or ()) + (self.relay.server_id,)
        self.stop()
        self.task = asyncio.get_running_loop().create_task(self._run())

    def on_publish_end(self, stream: LiveStream) -> None:
        self.stop()

    def on_released(self, stream: LiveStream) -> None:
        self.stop()
        self.relay.push_taps.discard(self)

    def on_metadata(self, stream: LiveStream, msg: CachedMessage) -> None:
        self._forward(msg, header=True)

    def on_sequence_header(self, stream: LiveStream, msg: CachedMessage) -> None:
        self._forward(msg, header=True)

    def on_media(self, stream: LiveStream, msg: CachedMessage, keyframe: bool) -> None:
        if self.skipping:
            if not keyframe:
                return
            self.skipping = False
        self._forward(msg, header=False)

    def _forward(self, msg: CachedMessage, *, header: bool) -> None:
        up = self.upstream
        if not self.ready or up is None or up.closed:
            return
        if not header and up.backlog() > PUSH_QUEUE_BYTES:
            # Never wait for a slow upstream: drop to the next keyframe.
            self.skipping = True
            log.info("push %s: upstream %d bytes behind; skipping to the next keyframe", self.url, up.backlog())
            return
        up.send_media(msg)

    def stop(self) -> None:
        self.ready = False
        if self.task is not None:
            self.task.cancel()
            self.task = None
        if self.upstream is not None:
            self.upstream.close()
            self.upstream = None

    async def _run(self) -> None:
        delay = BACKOFF_MIN_S
        stream = self.stream
        while stream.publisher is not None:
            up = Upstream(self.url, stream.name, self.chain)
            self.upstream = up
            try:
                await up.open()
                await up.publish()
            except UpstreamError as exc:
                self.failures += 1
                log.info("push %s/%s -> %s failed: %s; retry in %.1f s", stream.app, stream.name, self.url, exc, delay)
                up.close()
                self.upstream = None
                await asyncio.sleep(delay)
                delay = min(delay * BACKOFF_FACTOR, BACKOFF_MAX_S)
                continue
            delay = BACKOFF_MIN_S
            self.connects += 1
            log.info("push %s/%s -> %s started", stream.app, stream.name, self.url)
            # Start the upstream where a late joiner starts: headers, then the GOP from its keyframe.
            snap = stream.snapshot()
            for m in (*snap.headers, *snap.gop):
                up.send_media(m)
            self.skipping = not snap.gop and snap.video_sh is not None
            self.ready = True
            try:
                async for _ in up.messages():
                    pass  # acks and pings are answered by the connection; nothing else is expected
            except UpstreamError as exc:
                log.info("push %s/%s -> %s lost: %s", stream.app, stream.name, self.url, exc)
            self.ready = False
            up.close()
            self.upstream = None
            if stream.publisher is not None:
                await asyncio.sleep(delay)


# -- pull ------------------------------------------------------------------------------------------------


class OriginPull:
    """The publisher of an edge stream: plays it from an origin and feeds the local LiveStream."""

    def __init__(self, relay: RelayManager, stream: LiveStream, chain: tuple[str, ...], rule: PullRule) -> None:
        self.relay = relay
        self.rule = rule
        self.stream = stream
        self.chain = chain + (relay.server_id,)
        self.relay_chain = self.chain
        self.task: asyncio.Task[None] = asyncio.get_running_loop().create_task(self._run())
        self.idle_timer: asyncio.TimerHandle | None = None
        self.upstream: Upstream | None = None
        self.connects = 0
        self.closed = False
        self.id = f"pull {stream.app}/{stream.name}"

    def __repr__(self) -> str:
        return f"<origin pull {self.stream.app}/{self.stream.name}>"

    # Sink-ish attributes the session code may look at on a publisher.
    def player_left(self) -> None:
        if self.stream.players or self.closed:
            return
        if self.idle_timer is None:
            self.idle_timer = asyncio.get_running_loop().call_later(self.rule.idle_close_s, self._idle)

    def player_joined(self) -> None:
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None

    def _idle(self) -> None:
        self.idle_timer = None
        if not self.stream.players:
            log.info("%r: no players for %.1f s; closing the origin connection", self, self.rule.idle_close_s)
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.task.cancel()
        if self.upstream is not None:
            self.upstream.close()
        if self.stream.publisher is self:
            self.stream.end_publish()
        self.relay.pulls.pop(self.stream.key, None)
        self.relay.registry.release_if_unused(self.stream)

    async def _run(self) -> None:
        delay = BACKOFF_MIN_S
        stream = self.stream
        try:
            while not self.closed:
                for url in self.rule.origins:
                    up = Upstream(url, stream.name, self.chain)
                    if self.relay.is_self(up):
                        log.warning("%r: origin %s is this server; skipped (loop)", self, url)
                        continue
                    self.upstream = up
                    try:
                        await up.open()
                        await up.play()
                        self.connects += 1
                        delay = BACKOFF_MIN_S
                        log.info("%r: playing from %s", self, url)
                        await self._pump(up)
                    except UpstreamError as exc:
                        log.info("%r: origin %s: %s", self, url, exc)
                    finally:
                        up.close()
                        self.upstream = None
                        if stream.publisher is self:
                            stream.end_publish()
                    if self.closed:
                        return
                await asyncio.sleep(delay)
                delay = min(delay * BACKOFF_FACTOR, BACKOFF_MAX_S)
        except asyncio.CancelledError:
            pass

    async def _pump(self, up: Upstream) -> None:
        stream = self.stream
        async for ev in up.messages():
            raw = ev.raw
            msg = ev.message
            if raw.type_id in (8, 9, 18):
                if stream.publisher is None:
                    stream.start_publish(self)
                elif stream.publisher is not self:
                    continue  # a local publisher took the name; it wins
                if raw.type_id == 18 and isinstance(msg, Data):
                    stream.on_metadata(msg.values, raw.timestamp)
                elif raw.type_id in (8, 9):
                    stream.on_media(raw.type_id, raw.timestamp, bytes(raw.payload))
                continue
            info = status_info(msg) if msg is not None else None
            ended = (info is not None and info.get("code") in ("NetStream.Play.UnpublishNotify", "NetStream.Play.Stop")) \
                or (isinstance(msg, UserControl) and msg.event == UserControlEvent.STREAM_EOF)
            if ended and stream.publisher is self:
                stream.end_publish()  # the edge's players are told; keep waiting for a republish
            elif info is not None and info.get("level") == "error":
                raise UpstreamError(f"origin refused play: {info.get('code')} {info.get('description', '')}")


# -- the manager -----------------------------------------------------------------------------------------


@dataclass
class RelayManager:
    """One per server: push taps on matching streams, origin pulls on demand, loop protection."""

    config: RelayConfig
    registry: StreamRegistry
    listen: list[tuple[str, int]] = field(default_factory=list)  #: our own addresses (self-pull check)
    server_id: str = ""
    push_taps: set[PushTap] = field(default_factory=set)
    pulls: dict[tuple[str, str], OriginPull] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.server_id = self.config.server_id or secrets.token_hex(6)
        if self.config.push:
            self.registry.watch(self._on_new_stream)

    def _on_new_stream(self, stream: LiveStream) -> None:
        for rule in self.config.push:
            if rule.matches(stream.app, stream.name):
                for url in rule.urls:
                    tap = PushTap(self, stream, url)
                    self.push_taps.add(tap)
                    stream.add_tap(tap)

    def is_self(self, up: Upstream) -> bool:
        return any(up.port == port and up.host in (host, "localhost", "127.0.0.1") for host, port in self.listen)

    def loop_problem(self, chain: tuple[str, ...]) -> str | None:
        """Why a relay connection with ``chain`` must be refused here, or None."""
        if self.server_id in chain:
            return f"relay loop: this server ({self.server_id}) is already in the chain {','.join(chain)}"
        if len(chain) >= MAX_HOPS:
            return f"relay chain longer than {MAX_HOPS} hops"
        return None

    def wants_pull(self, app: str) -> bool:
        return self.config.pull_rule(app) is not None

    def on_play(self, stream: LiveStream, chain: tuple[str, ...]) -> None:
        """A player joined ``stream``; open it at the origin if nobody publishes it here."""
        pull = self.pulls.get(stream.key)
        if pull is not None and not pull.closed:
            pull.player_joined()
            return
        rule = self.config.pull_rule(stream.app)
        if stream.publisher is not None or rule is None:
            return
        if self.loop_problem(chain) is not None:
            return
        self.pulls[stream.key] = OriginPull(self, stream, chain, rule)

    def on_player_left(self, stream: LiveStream) -> None:
        pull = self.pulls.get(stream.key)
        if pull is not None:
            pull.player_left()

    def close(self) -> None:
        for tap in list(self.push_taps):
            tap.stop()
        for pull in list(self.pulls.values()):
            pull.close()
