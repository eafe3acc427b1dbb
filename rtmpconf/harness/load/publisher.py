"""Load publisher: connect, publish, then the looped stream at real rate with latency markers.

``PublisherSession`` is sans-IO (bytes in, bytes out; time is an argument), so the asyncio
driver here and the gevent driver of the Locust file share it. Everything — handshake,
commands, media and the connection's automatic replies (acks, ping responses) — goes through
one ``rtmp.session.Connection`` and leaves through its one outgoing buffer, in encoding order.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from rtmpconf.harness.load.media import LoopedMedia, LoopFrame, marked_payload
from rtmpconf.rtmp.errors import ProtocolError
from rtmpconf.rtmp.handshake import ClientHandshake
from rtmpconf.rtmp.messages import Audio, Command, SetChunkSize, UnknownMessage, Video, status_info
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

#: Chunk size the publisher announces (OBS and FFmpeg use 4096).
PUBLISH_CHUNK_SIZE = 4096
_ids = itertools.count(1)


@dataclass
class PublisherStats:
    """What one publisher sent; players compare their counts against it."""

    name: str
    publisher_id: int
    publishing_since_ns: int = 0  #: time.time_ns() when Publish.Start arrived
    stopped_ns: int = 0
    messages: int = 0  #: media + data messages sent (metadata and sequence headers included)
    video: int = 0
    audio: int = 0
    frames: int = 0  #: video frames carrying a marker (= video - 1 sequence header)
    keyframes: int = 0
    payload_bytes: int = 0  #: audio + video payload bytes
    bytes: int = 0  #: everything written, handshake included
    max_lateness_ms: float = 0.0  #: worst send delay behind the real-rate schedule
    error: str | None = None
    status: str | None = None  #: the publish onStatus code

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


class PublisherSession:
    """Sans-IO publisher: feed ``receive()``, send what ``take_output()`` returns, call ``due()``."""

    def __init__(self, app: str, tc_url: str, name: str, media: LoopedMedia, *, publisher_id: int | None = None,
                 chunk_size: int = PUBLISH_CHUNK_SIZE) -> None:
        self.app = app
        self.tc_url = tc_url
        self.name = name
        self.media = media
        self.chunk_size = chunk_size
        pid = next(_ids) if publisher_id is None else publisher_id
        self.stats = PublisherStats(name, pid & 0xFF)
        self.conn = Connection(Role.CLIENT, handshake=ClientHandshake(time_ms=0))  # C0 + C1 queued
        self.state = "handshake"
        self.stream_id = 0
        self._schedule: Iterator[tuple[int, LoopFrame]] = media.schedule()
        self._next: tuple[int, LoopFrame] | None = None
        self._seq = 0
        self._start_s = 0.0  # monotonic time of media timestamp 0

    @property
    def publishing(self) -> bool:
        return self.state == "publishing"

    @property
    def failed(self) -> bool:
        return self.state == "failed"

    def take_output(self) -> bytes:
        """Everything encoded since the last call, in encoding order."""
        out = self.conn.data_to_send()
        self.stats.bytes += len(out)
        return out

    def receive(self, data: bytes) -> None:
        """Bytes from the server: drives handshake → connect → createStream → publish."""
        self.conn.receive_data(data)
        try:
            while True:
                ev = self.conn.next_event()
                if ev is NEED_DATA:
                    break
                if isinstance(ev, MessageReceived):
                    self._on_message(ev)
                elif self.state == "handshake" and self.conn.handshake.done:
                    self._send_connect()
        except ProtocolError as exc:
            self._fail(f"protocol error: {exc}")
        if self.state == "handshake" and self.conn.handshake.done:
            self._send_connect()

    def _send_connect(self) -> None:
        self.state = "connect"
        obj = {"app": self.app, "type": "nonprivate", "flashVer": "FMLE/3.0 (compatible; rtmpconf-load)",
               "tcUrl": self.tc_url}
        self.conn.send(SetChunkSize(self.chunk_size))
        self.conn.send(Command("connect", 1.0, obj))

    def _on_message(self, ev: MessageReceived) -> None:
        msg = ev.message
        if not isinstance(msg, Command):
            return
        if self.state == "connect" and msg.transaction_id == 1.0 and msg.name in ("_result", "_error"):
            if msg.name == "_error":
                self._fail(f"connect refused: {status_info(msg)}")
                return
            self.state = "create"
            # FMLE/OBS/FFmpeg order (CMD-12); some servers want FCPublish before publish.
            self.conn.send(Command("releaseStream", 2.0, None, (self.name,)), csid=CSID_COMMAND)
            self.conn.send(Command("FCPublish", 3.0, None, (self.name,)), csid=CSID_COMMAND)
            self.conn.send(Command("createStream", 4.0, None), csid=CSID_COMMAND)
        elif self.state == "create" and msg.transaction_id == 4.0 and msg.name in ("_result", "_error"):
            if msg.name == "_error" or not msg.arguments:
                self._fail("createStream refused")
                return
            self.stream_id = int(msg.arguments[0])  # type: ignore[arg-type]
            self.state = "publish"
            self.conn.send(Command("publish", 0.0, None, (self.name, "live")),
                           msid=self.stream_id, csid=CSID_COMMAND)
        elif self.state == "publish":
            info = status_info(msg)
            code = str(info.get("code")) if info else ""
            if code == "NetStream.Publish.Start":
                self.stats.status = code
                self._start_publishing()
            elif info is not None and info.get("level") == "error":
                self.stats.status = code
                self._fail(f"publish refused: {code}")

    def _fail(self, why: str) -> None:
        self.state = "failed"
        self.stats.error = why

    def _start_publishing(self) -> None:
        self.state = "publishing"
        self.stats.publishing_since_ns = time.time_ns()
        m = self.media
        msid = self.stream_id
        send = self.conn.send
        # Metadata and sequence headers at timestamp 0 (taken by the next take_output), then
        # frames on the real-rate clock.
        send(UnknownMessage(18, m.metadata), msid=msid, csid=CSID_DATA)  # an AMF0 body, sent as is
        send(Video(m.video_sequence_header), msid=msid, csid=CSID_VIDEO)
        send(Audio(m.audio_sequence_header), msid=msid, csid=CSID_AUDIO)
        st = self.stats
        st.messages += 3
        st.video += 1
        st.audio += 1
        st.payload_bytes += len(m.video_sequence_header) + len(m.audio_sequence_header)
        self._start_s = time.monotonic()
        self._next = next(self._schedule)

    def next_due(self) -> float:
        """Monotonic time the next frame is due (inf when not publishing)."""
        if self._next is None or self.state != "publishing":
            return float("inf")
        return self._start_s + self._next[0] / 1000.0

    def due(self, now: float) -> bytes:
        """Chunks of every frame due by ``now`` (monotonic), markers stamped at this instant,
        after anything the connection encoded before (acks, ping responses)."""
        if self._next is None or self.state != "publishing":
            return b""
        st = self.stats
        msid = self.stream_id
        send = self.conn.send
        start = self._start_s
        while self._next is not None:
            ts, frame = self._next
            due_at = start + ts / 1000.0
            if due_at > now:
                break
            late = (now - due_at) * 1000.0
            if late > st.max_lateness_ms:
                st.max_lateness_ms = late
            if frame.type_id == 9:
                payload = marked_payload(frame, st.publisher_id, self._seq)
                self._seq += 1
                send(Video(payload), msid=msid, timestamp=ts, csid=CSID_VIDEO)
                st.video += 1
                st.frames += 1
                if frame.keyframe:
                    st.keyframes += 1
            else:
                payload = frame.head
                send(Audio(payload), msid=msid, timestamp=ts, csid=CSID_AUDIO)
                st.audio += 1
            st.messages += 1
            st.payload_bytes += len(payload)
            self._next = next(self._schedule)
        return self.take_output()

    def stop(self) -> bytes:
        """deleteStream (the server tells players the stream ended)."""
        self.stats.stopped_ns = time.time_ns()
        if self.state != "publishing":
            self.state = "stopped"
            return b""
        self.state = "stopped"
        self.conn.send(Command("FCUnpublish", 5.0, None, (self.name,)), csid=CSID_COMMAND)
        self.conn.send(Command("deleteStream", 6.0, None, (float(self.stream_id),)), csid=CSID_COMMAND)
        return self.take_output()


class AsyncPublisher(asyncio.Protocol):
    """asyncio driver of a PublisherSession: a protocol plus a pacing task."""

    def __init__(self, session: PublisherSession) -> None:
        self.session = session
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pacer: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it: no isinstance check.
        self.transport = transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.write(self.session.take_output())

    def data_received(self, data: bytes) -> None:
        s = self.session
        s.receive(data)
        out = s.take_output()
        if out and self.transport is not None:
            self.transport.write(out)
        if not self.ready.done():
            if s.publishing:
                self.ready.set_result(None)
                self._pacer = asyncio.get_running_loop().create_task(self._pace())
            elif s.failed:
                self.ready.set_exception(RuntimeError(s.stats.error or "publish failed"))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.session.state not in ("stopped", "failed"):
            self.session._fail(f"server closed the connection ({exc or 'EOF'})")
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(self.session.stats.error or "closed"))
        if self._pacer is not None:
            self._pacer.cancel()
        if not self.closed.done():
            self.closed.set_result(None)
        self.transport = None

    async def _pace(self) -> None:
        s = self.session
        while s.publishing and self.transport is not None:
            delay = s.next_due() - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            # Stamp and write in one go: the marker time is taken right before the write.
            out = s.due(time.monotonic())
            if out and self.transport is not None:
                self.transport.write(out)

    async def stop(self, linger: float = 0.2) -> None:
        if self._pacer is not None:
            self._pacer.cancel()
        out = self.session.stop()
        if self.transport is not None:
            if out:
                self.transport.write(out)
            await asyncio.sleep(linger)
            if self.transport is not None:
                self.transport.close()


async def open_publisher(host: str, port: int, app: str, name: str, media: LoopedMedia, *,
                         timeout: float = 10.0, publisher_id: int | None = None) -> AsyncPublisher:
    """Connect and publish ``name``; returns once media flows (raises on refusal or timeout)."""
    loop = asyncio.get_running_loop()
    session = PublisherSession(app, f"rtmp://{host}:{port}/{app}", name, media, publisher_id=publisher_id)
    _, proto = await asyncio.wait_for(
        loop.create_connection(lambda: AsyncPublisher(session), host, port), timeout)
    try:
        await asyncio.wait_for(asyncio.shield(proto.ready), timeout)
    except BaseException:
        if proto.transport is not None:
            proto.transport.close()
        raise
    return proto


@dataclass
class PublisherGroup:
    """M publishers of distinct names (used by the runner)."""

    publishers: list[AsyncPublisher] = field(default_factory=list)

    async def stop(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.publishers), return_exceptions=True)
