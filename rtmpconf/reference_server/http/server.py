"""asyncio glue for the HTTP outputs: h11 parses requests, this module routes and writes.

Why h11 (a sans-IO HTTP/1.1 parser) rather than a framework: the live outputs fan the same bytes
out to every viewer synchronously from the publisher's read, exactly like the RTMP fan-out
(streams.py): one ``transport.write`` per viewer, its write buffer as the bounded queue. A
framework's per-response ``await write()`` would cost a task switch per viewer per frame and hide
the queue. h11 gives us request parsing, keep-alive and response framing; streaming bodies are
framed by viewers.py (chunked once per piece for every HTTP/1.1 viewer, close-delimited for
HTTP/1.0).

Routes (GET and HEAD; OPTIONS answers CORS pre-flight; every response allows any origin):

    /{app}/{name}.flv                  HTTP-FLV
    /{app}/{name}.ts                   HTTP-TS
    /hls/{name}.m3u8, /hls/{name}-{n}.ts            HLS (app "live", else any app with that name)
    /{app}/{name}/index.m3u8, /{app}/{name}/{n}.ts  HLS by app
    /api/streams, /api/sessions        JSON stats
    /metrics                           Prometheus text format
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any, cast

import h11

from rtmpconf.reference_server.http.outputs import HttpOutputs
from rtmpconf.reference_server.http.viewers import LAST_CHUNK, HttpViewer

log = logging.getLogger("rtmpconf.rtmp.server.http")

#: A request's head must arrive within this long of the connection or the previous response (s).
REQUEST_TIMEOUT_S = 15.0
#: Largest request head accepted (bytes); h11 answers nothing past it, we send 431.
MAX_REQUEST_HEAD = 16 * 1024
SERVER_NAME = b"rtmpconf-reference"

_NAME = r"[A-Za-z0-9_.~%+-]+"
_ROUTES = [
    ("flv", re.compile(rf"^/(?P<app>{_NAME})/(?P<name>{_NAME})\.flv$")),
    ("hls_playlist", re.compile(rf"^/hls/(?P<name>{_NAME})\.m3u8$")),
    ("hls_segment", re.compile(rf"^/hls/(?P<name>{_NAME})-(?P<seq>\d+)\.ts$")),
    ("hls_playlist_app", re.compile(rf"^/(?P<app>{_NAME})/(?P<name>{_NAME})/index\.m3u8$")),
    ("hls_segment_app", re.compile(rf"^/(?P<app>{_NAME})/(?P<name>{_NAME})/(?P<seq>\d+)\.ts$")),
    ("ts", re.compile(rf"^/(?P<app>{_NAME})/(?P<name>{_NAME})\.ts$")),
]
_CORS = [(b"access-control-allow-origin", b"*")]


class _HttpConnection(asyncio.Protocol):
    """One HTTP connection: requests in through h11, responses (or a live body) out."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_HEAD)
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.viewer: HttpViewer | None = None
        self._release: Any = None  # how to detach the viewer
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False

    # -- asyncio -----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it: no isinstance check.
        self.transport = transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.server.connections.add(self)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        self._detach()
        self.server.connections.discard(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        if self.viewer is not None:
            return  # a live body is being sent: nothing more is read from the client
        try:
            self.h11.receive_data(data)
            self._drain()
        except h11.RemoteProtocolError as exc:
            self._error(exc.error_status_hint, str(exc))

    def eof_received(self) -> bool | None:
        if self.viewer is None:
            try:
                self.h11.receive_data(b"")
                self._drain()
            except h11.RemoteProtocolError:
                pass
        return False

    # -- request handling --------------------------------------------------------------------

    def _drain(self) -> None:
        while not self.closed:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                if len(self.h11.trailing_data[0]) > MAX_REQUEST_HEAD:
                    self._error(431, "request head too large")
                return
            if event is h11.PAUSED:
                if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
                    self.h11.start_next_cycle()
                    self._arm()
                    continue
                return
            if isinstance(event, h11.Request):
                self._handle(event)
            elif isinstance(event, h11.ConnectionClosed):
                self.close()
                return

    def _handle(self, req: h11.Request) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if len(req.target) + sum(len(k) + len(v) + 4 for k, v in req.headers) > MAX_REQUEST_HEAD:
            self._error(431, "request head too large")
            return
        method = req.method.decode("ascii", "replace")
        target = req.target.decode("ascii", "replace").split("?", 1)[0]
        self.server.requests += 1
        if method == "OPTIONS":
            self._respond(204, b"", extra=[(b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
                                           (b"access-control-allow-headers", b"*"),
                                           (b"access-control-max-age", b"86400")])
            return
        if method not in ("GET", "HEAD"):
            self._respond(405, b"method not allowed\n", extra=[(b"allow", b"GET, HEAD, OPTIONS")])
            return
        head = method == "HEAD"
        outputs = self.server.outputs
        if target in ("/api/streams", "/api/sessions"):
            from rtmpconf.reference_server.http.stats import sessions_json, streams_json

            doc = streams_json(self.server) if target == "/api/streams" else sessions_json(self.server)
            self._respond(200, json.dumps(doc, indent=1).encode(), b"application/json", head=head)
            return
        if target == "/metrics":
            from rtmpconf.reference_server.http.stats import metrics_text

            body, ctype = metrics_text(self.server)
            self._respond(200, body, ctype.encode(), head=head)
            return
        for kind, rx in _ROUTES:
            m = rx.match(target)
            if m is None:
                continue
            g = m.groupdict()
            if kind in ("hls_playlist", "hls_playlist_app", "hls_segment", "hls_segment_app"):
                hls = outputs.find_hls(g["name"], g.get("app"))
                if hls is None:
                    break
                if kind.startswith("hls_playlist"):
                    hls.playlist_requests += 1
                    tmpl = f"{g['name']}-{{seq}}.ts" if kind == "hls_playlist" else "{seq}.ts"
                    text = hls.playlist(tmpl)
                    if text is None:
                        break
                    self._respond(200, text.encode(), b"application/vnd.apple.mpegurl", head=head,
                                  extra=[(b"cache-control", b"no-cache")])
                else:
                    hls.segment_requests += 1
                    data = hls.segment(int(g["seq"]))
                    if data is None:
                        break
                    self._respond(200, data, b"video/mp2t", head=head,
                                  extra=[(b"cache-control", b"max-age=60")])
                return
            self._stream(kind, g["app"], g["name"], head)
            return
        self._respond(404, b"not found\n")

    def _stream(self, kind: str, app: str, name: str, head: bool) -> None:
        """Start a live body: HTTP-FLV or HTTP-TS."""
        registry = self.server.outputs.registry
        stream = registry.get(app, name)
        publishing = stream is not None and stream.publisher is not None
        ctype = b"video/x-flv" if kind == "flv" else b"video/mp2t"
        if head:
            self._respond(200 if publishing else 404, b"", ctype if publishing else b"text/plain", head=True,
                          length=False)
            return
        if not publishing and self.server.outputs.config.play_unknown == "not_found":
            self._respond(404, b"stream not published\n")
            return
        headers = [(b"content-type", ctype), (b"server", SERVER_NAME), (b"cache-control", b"no-cache"),
                   (b"connection", b"close"), *_CORS]
        assert self.transport is not None
        self.transport.write(self.h11.send(h11.Response(status_code=200, headers=headers)))
        chunked = self.h11.their_http_version == b"1.1"
        transport = self.transport
        viewer = HttpViewer(self._write_live, transport.get_write_buffer_size, self.close, chunked, self.peer)
        self.viewer = viewer
        outs = self.server.outputs.get(app, name)
        if kind == "flv":
            outs.flv.add_viewer(viewer)
            self._release = (outs.stream, outs.flv.remove_viewer)
        else:
            outs.ts.add_viewer(viewer)
            self._release = (outs.stream, outs.ts.remove_viewer)
        log.info("http %s: %s of %s/%s (publisher %s)", self.peer, kind, app, name,
                 "present" if publishing else "awaited")

    def _write_live(self, data: bytes) -> None:
        t = self.transport
        if t is not None and not self.closed:
            t.write(data)

    def _detach(self) -> None:
        if self._release is not None:
            stream, remove = self._release
            self._release = None
            remove(self.viewer)
            self.server.outputs.registry.release_if_unused(stream)

    def _respond(self, status: int, body: bytes, ctype: bytes = b"text/plain; charset=utf-8", *,
                 head: bool = False, extra: list[tuple[bytes, bytes]] | None = None,
                 length: bool = True) -> None:
        headers = [(b"content-type", ctype), (b"server", SERVER_NAME), *_CORS, *(extra or [])]
        if length:
            headers.append((b"content-length", str(len(body)).encode()))
        t = self.transport
        if t is None or self.closed:
            return
        try:
            out = self.h11.send(h11.Response(status_code=status, headers=headers))
            if body and not head:
                out += self.h11.send(h11.Data(data=body))
            out += self.h11.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            log.info("http %s: cannot respond: %s", self.peer, exc)
            self.close()
            return
        t.write(out)
        if self.h11.our_state is h11.MUST_CLOSE:
            self.close()
            return
        self._arm()

    def _error(self, status: int, text: str) -> None:
        t = self.transport
        if t is not None and self.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            body = f"{text}\n".encode()
            try:
                t.write(self.h11.send(h11.Response(status_code=status, headers=[
                    (b"content-length", str(len(body)).encode()), (b"connection", b"close"), *_CORS])))
                t.write(self.h11.send(h11.Data(data=body)))
            except h11.LocalProtocolError:
                pass
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._detach()
        if self.transport is not None:
            self.transport.close()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(REQUEST_TIMEOUT_S, self._on_timeout)

    def _on_timeout(self) -> None:
        self._timer = None
        if self.viewer is None and not self.closed:
            if self.h11.their_state is h11.SEND_BODY or (self.h11.trailing_data[0] and self.h11.our_state is h11.SEND_RESPONSE):
                self._error(408, "request timeout")
            else:
                self.close()


class HttpListenError(OSError):
    """The HTTP port could not be bound (the message names it)."""


class HttpServer:
    """The HTTP listener sharing an RtmpServer's registry."""

    def __init__(self, rtmp: Any) -> None:
        self.rtmp = rtmp
        self.config = rtmp.config
        self.outputs = HttpOutputs(rtmp.registry, rtmp.config)
        self.connections: set[_HttpConnection] = set()
        self.requests = 0
        self.started_at = time.monotonic()
        self._server: asyncio.base_events.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(lambda: _HttpConnection(self), self.config.host,
                                                    self.config.http_port, reuse_address=True, backlog=1024)
        except OSError as exc:
            raise HttpListenError(exc.errno, f"cannot listen on http://{self.config.host}:{self.config.http_port}: "
                                             f"{exc.strerror or exc}") from exc
        log.info("listening on http://%s:%d", self.config.host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for c in list(self.connections):
                if c.viewer is not None and c.viewer.chunked and c.transport is not None:
                    c.transport.write(LAST_CHUNK)
                c.close()
            await self._server.wait_closed()
            self._server = None
