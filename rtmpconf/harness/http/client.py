"""A small HTTP/1.1 client for the cases: h11 over asyncio streams, every byte in a wire log.

Live bodies (HTTP-FLV, HTTP-TS) are read for a while and then closed by us; each read is kept
with its arrival time so checkers can tell when the first keyframe came.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import h11

from rtmpconf.harness.wirelog import C2S, S2C, WireEvent

READ_SIZE = 65536


class HttpError(Exception):
    """No usable HTTP answer (refused, timed out, malformed): the message says which."""


class HttpWireLog:
    """Bytes of one HTTP connection both ways, with times; renders as text for the report."""

    def __init__(self, label: str = "") -> None:
        self.label = label
        self.events: list[WireEvent] = []
        self._offsets = {C2S: 0, S2C: 0}
        self.notes: list[str] = []
        self.closed_by: str | None = None
        self.close_time: float | None = None
        self.reset = False
        self.client_port: int | None = None
        self.server_port: int | None = None
        self.wall_start: float | None = None
        self.request_line = ""
        self.status_line = ""
        self.response_headers: list[tuple[str, str]] = []

    def record(self, direction: str, data: bytes, now: float | None = None) -> None:
        t = time.monotonic() if now is None else now
        if self.wall_start is None:
            self.wall_start = time.time() - (time.monotonic() - t)
        self.events.append(WireEvent(direction, t, self._offsets[direction], data))  # type: ignore[arg-type]
        self._offsets[direction] += len(data)

    def total(self, direction: str) -> int:
        """Bytes seen so far in ``direction`` (as WireLog.total)."""
        return self._offsets[direction]

    def render(self, limit: int = 200) -> str:
        lines = [f"HTTP wire log {self.label}", f"> {self.request_line}", f"< {self.status_line}"]
        lines += [f"< {k}: {v}" for k, v in self.response_headers]
        lines.append(f"bytes: client->server {self._offsets[C2S]}, server->client {self._offsets[S2C]} "
                     f"in {sum(1 for e in self.events if e.direction == S2C)} reads")
        lines += [f"note: {n}" for n in self.notes[:limit]]
        return "\n".join(lines)

    def hexdump(self, direction: str, limit: int = 4096) -> str:
        data = b"".join(e.data for e in self.events if e.direction == direction)[:limit]
        out = []
        for off in range(0, len(data), 16):
            row = data[off:off + 16]
            out.append(f"{off:08x}  {row.hex(' '):47s}  {''.join(chr(b) if 32 <= b < 127 else '.' for b in row)}")
        return "\n".join(out)


@dataclass
class HttpResponse:
    url: str
    status: int
    headers: dict[str, str]  #: lower-case names; repeated headers joined with ", "
    body: bytes
    reads: list[tuple[float, int]] = field(default_factory=list)  #: (arrival time, body bytes so far)
    started: float = 0.0  #: when the request was sent (monotonic)
    first_byte: float | None = None  #: first body byte (monotonic)
    complete: bool = False  #: the body ended as framed (not cut by us)
    log: HttpWireLog | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


async def http_get(url: str, *, timeout: float = 5.0, read_for: float | None = None, max_bytes: int | None = None,
                   method: str = "GET", label: str = "", logs: list[HttpWireLog] | None = None,
                   headers: list[tuple[str, str]] | None = None,
                   until: object = None, idle: float | None = None,
                   head_seen: asyncio.Event | None = None) -> HttpResponse:
    """GET ``url``. A live body is read for ``read_for`` seconds after the response head (or up
    to ``max_bytes``, or until ``until(body_so_far)`` is true), then the connection is closed.
    ``timeout`` bounds the connect and the response head; every wait has a deadline. With
    ``idle``, a body that stays silent that long (after its first byte) is done. ``head_seen`` is
    set when the response head arrived (the server has registered the viewer)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise HttpError(f"not an http:// URL: {url}")
    host, port = parts.hostname, parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    log = HttpWireLog(label or url)
    log.server_port = port
    if logs is not None:
        logs.append(log)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (TimeoutError, OSError) as exc:
        raise HttpError(f"cannot connect to {host}:{port}: {exc or 'timeout'}") from exc
    sock = writer.get_extra_info("sockname")
    log.client_port = sock[1] if sock else None
    conn = h11.Connection(h11.CLIENT)
    hdrs = [("host", f"{host}:{port}"), ("user-agent", "rtmpconf"), ("accept", "*/*"), *(headers or [])]
    req = conn.send(h11.Request(method=method, target=target, headers=hdrs)) + conn.send(h11.EndOfMessage())
    log.request_line = f"{method} {target} HTTP/1.1"
    started = time.monotonic()
    writer.write(req)
    log.record(C2S, req, started)
    resp: h11.Response | None = None
    body: list[bytes] = []
    size = 0
    result = HttpResponse(url, 0, {}, b"", started=started, log=log)
    head_deadline = started + timeout
    body_deadline: float | None = None
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                now = time.monotonic()
                deadline = body_deadline if body_deadline is not None else head_deadline
                if idle is not None and result.first_byte is not None:
                    deadline = min(deadline, (result.reads[-1][0] if result.reads else now) + idle)
                if now >= deadline:
                    if resp is None:
                        raise HttpError(f"no response head from {url} within {timeout:g} s")
                    break
                try:
                    data = await asyncio.wait_for(reader.read(READ_SIZE), deadline - now)
                except TimeoutError:
                    if resp is None:
                        raise HttpError(f"no response head from {url} within {timeout:g} s") from None
                    break
                except OSError as exc:
                    log.reset = True
                    log.notes.append(f"read failed: {exc}")
                    break
                log.record(S2C, data) if data else None
                if not data:
                    log.closed_by = S2C
                    log.close_time = time.monotonic()
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Response):
                resp = event
                result.status = event.status_code
                for k, v in event.headers:
                    key = k.decode("latin-1").lower()
                    val = v.decode("latin-1")
                    result.headers[key] = f"{result.headers[key]}, {val}" if key in result.headers else val
                    log.response_headers.append((key, val))
                log.status_line = f"HTTP/{event.http_version.decode()} {event.status_code} {event.reason.decode('latin-1')}"
                if read_for is not None:
                    body_deadline = time.monotonic() + read_for
                else:
                    body_deadline = time.monotonic() + timeout
                if head_seen is not None:
                    head_seen.set()
            elif isinstance(event, h11.InformationalResponse):
                continue
            elif isinstance(event, h11.Data):
                now = time.monotonic()
                if result.first_byte is None:
                    result.first_byte = now
                body.append(bytes(event.data))
                size += len(event.data)
                result.reads.append((now, size))
                if max_bytes is not None and size >= max_bytes:
                    break
                if until is not None and until(b"".join(body)):  # type: ignore[operator]
                    break
            elif isinstance(event, h11.EndOfMessage):
                result.complete = True
                break
            elif isinstance(event, h11.ConnectionClosed):
                break
    except h11.RemoteProtocolError as exc:
        if resp is None:
            raise HttpError(f"malformed HTTP response from {url}: {exc}") from exc
        log.notes.append(f"malformed HTTP framing after the head: {exc}")
    finally:
        if log.closed_by is None:
            log.closed_by = C2S
            log.close_time = time.monotonic()
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1.0)
    result.body = b"".join(body)
    return result
