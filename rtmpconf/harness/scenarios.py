"""Reusable scenario steps for cases (publish real media, join as a player, settle, fresh session ...).

Each step here is used by more than one case module; a step only one module needs stays there.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from rtmpconf.harness.client import PeerClosed, RtmpClient, StepTimeout, Target
from rtmpconf.harness.testmedia import MediaTag, TestStream, make_h264_aac
from rtmpconf.harness.wirelog import S2C, WireLog
from rtmpconf.rtmp import amf0
from rtmpconf.rtmp.errors import ProtocolError
from rtmpconf.rtmp.handshake import ClientHandshake
from rtmpconf.rtmp.messages import Audio, Data, UserControl, UserControlEvent, Video, status_info

T = TypeVar("T")

#: Deadline for answers that should come at once from a local target (s).
ANSWER_S = 2.0
#: Probe deadline: the reference answers within milliseconds; a silent target costs 1 s, not 5.
PROBE_S = 1.0
#: How long a player waits for the last published message once the target answered a ping.
LAST_WAIT_S = 2.0
#: Every way a scenario step can end that is a legal outcome for the checker to judge: a
#: deadline, a close, bytes our decoder refuses, a failed write.
STEP_ERRORS = (PeerClosed, StepTimeout, ProtocolError, OSError)
#: The onMetaData object the relay scenarios publish unless a case asks for another.
DEFAULT_METADATA: Mapping[str, float] = {"width": 320.0}


# -- handshake --------------------------------------------------------------------------------------


class ScriptedHandshake(ClientHandshake):
    """A client handshake whose C1 can be altered and whose C2 can be held back.

    With ``hold_c2`` the C2 the core computes is kept in ``held_c2`` instead of being sent, so a
    case writes it itself: whole, split, altered or late.
    """

    def __init__(self, *, hold_c2: bool = False, c1_tamper: Callable[[bytes], bytes] | None = None,
                 **kw: Any) -> None:
        self.hold_c2 = hold_c2
        self.held_c2: bytes | None = None
        self._c1_tamper = c1_tamper
        super().__init__(**kw)

    def initial_bytes(self) -> bytes:
        data = super().initial_bytes()
        return self._c1_tamper(data) if self._c1_tamper is not None else data

    def data_to_send(self) -> bytes:
        out = super().data_to_send()
        if self.hold_c2 and out and self.held_c2 is None and self.c2 is not None and out.endswith(self.c2):
            self.held_c2 = self.c2
            out = out[:-len(self.c2)]
        return out


# -- connect ----------------------------------------------------------------------------------------


def connect_object(target: Target, app: str | None = None, **changes: Any) -> dict[str, Any]:
    """The connect command object the harness client sends; a key changed to None is left out."""
    app = target.app if app is None else app
    obj: dict[str, Any] = {
        "app": app, "flashVer": "FMLE/3.0 (compatible; rtmp-conformance)",
        "tcUrl": f"{target.scheme}://{target.host}:{target.port}/{app}", "fpad": False, "capabilities": 15.0,
        "audioCodecs": 4071.0, "videoCodecs": 252.0, "videoFunction": 1.0, "objectEncoding": 0.0,
    }
    for k, v in changes.items():
        if v is None:
            obj.pop(k, None)
        else:
            obj[k] = v
    return obj


# -- steps whose failure is a legal outcome ---------------------------------------------------------


async def attempt(aw: Awaitable[T]) -> T | None:
    """Await a step whose failure (timeout, close, garbage) is a legal outcome the checker judges."""
    try:
        return await aw
    except STEP_ERRORS:
        return None


def record_write_close(c: RtmpClient) -> None:
    """A failed write (EPIPE/ECONNRESET) marks the client closed but not the wire log; on a
    socket only the server can have caused it, so record it as the server's close."""
    if c.closed and c.log.closed_by is None:
        c.log.mark_closed(S2C, time.monotonic(), reset=True)
        c.log.note("a write failed: the server had already closed the connection")


@contextlib.asynccontextmanager
async def session(rtmp: Any, label: str = "", **kw: Any) -> AsyncIterator[RtmpClient]:
    """``rtmp.client`` as a context that also records a close only seen as a failed write."""
    c = rtmp.client(label=label, **kw)
    async with c:
        try:
            yield c
        finally:
            record_write_close(c)


async def settle(c: RtmpClient, timeout: float = PROBE_S) -> None:
    """Wait until the target has processed everything sent (PingRequest answered) or closed;
    a close seen only as a failed write is recorded in the wire log."""
    await attempt(c.probe(timeout=timeout))
    record_write_close(c)


async def probe_all(*clients: RtmpClient, timeout: float = 2.0) -> None:
    """Ping each open client in turn: once the publisher's ping is answered the server has processed
    (and fanned out) everything it sent; a player's answer then arrives after all of that media."""
    for c in clients:
        if c.closed or not c.handshake_done:
            continue
        try:
            await c.probe(timeout=timeout)
        except (PeerClosed, StepTimeout):
            pass


async def fresh_session(rtmp: Any, *, label: str = "fresh session afterwards",
                        handshake_timeout: float | None = ANSWER_S) -> WireLog:
    """A new connection's handshake + connect, to tell a refusal from a crash (proof the server is
    still up after a hostile scenario). ``handshake_timeout`` None: the client's own deadline."""
    c = rtmp.client(label=label)
    try:
        async with c:
            await c.handshake(timeout=handshake_timeout)
            await attempt(c.connect())
    except STEP_ERRORS:
        pass
    return c.log


# -- publish and play -------------------------------------------------------------------------------


async def publish_stream(pub: RtmpClient, name: str, *, until_ms: int | None = None,
                         stream: TestStream | None = None, handshake: bool = True) -> TestStream:
    """Connect, publish ``name`` and send metadata, sequence headers and frames up to ``until_ms``."""
    stream = stream or make_h264_aac(seconds=4.0)
    if handshake:
        await pub.handshake()
        await pub.connect()
    info = await pub.publish(name)
    if info.get("code") != "NetStream.Publish.Start":
        raise RuntimeError(f"publish of {name} refused: {info}")
    msid = pub.stream_id
    await pub.send(Data(tuple(amf0.decode_all(stream.metadata))), msid=msid)
    await pub.send(Video(stream.video_sequence_header), msid=msid, timestamp=stream.start_ms)
    if stream.audio_sequence_header is not None:
        await pub.send(Audio(stream.audio_sequence_header), msid=msid, timestamp=stream.start_ms)
    tags = [t for t in stream.tags if until_ms is None or t.timestamp - stream.start_ms < until_ms]
    await pub.publish_media(tags)
    return stream


async def start_playing(player: RtmpClient, name: str) -> RtmpClient:
    """Handshake, connect and play ``name``."""
    await player.handshake()
    await player.connect()
    await player.play(name)
    return player


async def join_player(player: RtmpClient, name: str, *, start: float = -2.0) -> None:
    """Handshake, connect, play ``name`` (waits for Play.Start or StreamNotFound); a failed play is
    left for the checker."""
    await player.handshake()
    await player.connect()
    try:
        await player.play(name, start=start)
    except STEP_ERRORS:
        pass


async def open_publisher(stack: contextlib.AsyncExitStack, rtmp: Any, name: str, *, label: str = "publisher",
                         **client_kw: Any) -> RtmpClient:
    """A client on ``stack`` that connected and published ``name`` (raises if refused)."""
    pub = await stack.enter_async_context(rtmp.client(label=label, **client_kw))
    await pub.handshake()
    await pub.connect()
    status = await pub.publish(name)
    if status.get("code") != "NetStream.Publish.Start":
        raise RuntimeError(f"publish of {name} refused: {status}")
    return pub


async def open_player(stack: contextlib.AsyncExitStack, rtmp: Any, name: str, label: str = "player") -> RtmpClient:
    """A client on ``stack`` that connected and plays ``name``."""
    return await start_playing(await stack.enter_async_context(rtmp.client(label=label)), name)


async def send_metadata(pub: RtmpClient, values: Mapping[str, float] = DEFAULT_METADATA, *, timestamp: int = 0,
                        csid: int | None = None) -> None:
    """@setDataFrame onMetaData with ``values`` on the publisher's stream."""
    await pub.send(Data(("@setDataFrame", "onMetaData", amf0.EcmaArray(dict(values)))),
                   msid=pub.stream_id or 1, timestamp=timestamp, csid=csid)


async def settle_relay(pub: RtmpClient, *players: RtmpClient, last: bytes | None = None,
                       timeout: float = 3.0) -> None:
    """Wait until the target has processed everything sent and the players have read its output.

    The publisher's PingResponse means the target took everything in; a player's PingResponse
    arrives behind whatever the target had already queued for it. A target that fans out
    asynchronously may queue media later, so with ``last`` (the final payload published) each
    player also waits, briefly, until that payload has arrived.
    """
    await pub.probe("publisher settle", timeout=timeout)
    for p in players:
        if p.closed:
            continue
        await p.probe("player settle", timeout=timeout)
        if last is not None and not any(e.raw.payload == last for e in p.received):
            with contextlib.suppress(StepTimeout, PeerClosed):
                await p.wait_for(lambda e: e.raw.payload == last, "last published message", timeout=LAST_WAIT_S)


SendTags = Callable[[RtmpClient, Sequence[MediaTag]], Awaitable[None]]


async def _publish_media(pub: RtmpClient, tags: Sequence[MediaTag]) -> None:
    await pub.publish_media(tags)


async def relay_tags(rtmp: Any, tags: Sequence[MediaTag], *, join_after: int | None = None,
                     metadata: Mapping[str, float] = DEFAULT_METADATA, metadata_ts: int = 0,
                     send: SendTags = _publish_media, **client_kw: Any) -> RtmpClient:
    """Publish onMetaData (``metadata`` at ``metadata_ts``), then ``tags`` with ``send``; the player
    joins before the first tag, or after ``tags[:join_after]``.

    Returns the player; the publisher is ``rtmp.clients[0]`` (its log is in the report too).
    ``client_kw`` goes to the publisher's client.
    """
    name = rtmp.stream_name()
    async with contextlib.AsyncExitStack() as stack:
        pub = await open_publisher(stack, rtmp, name, **client_kw)
        await send_metadata(pub, metadata, timestamp=metadata_ts)
        cut = join_after or 0
        await send(pub, tags[:cut])
        if cut:
            await pub.probe("publisher before join", timeout=3.0)
        player = await open_player(stack, rtmp, name)
        await send(pub, tags[cut:])
        await settle_relay(pub, player, last=tags[-1].payload)
    return player


# -- tag lists --------------------------------------------------------------------------------------


def tags_with_headers(stream: TestStream) -> list[MediaTag]:
    """A testmedia stream as one tag list: sequence headers first, then the frames."""
    head = [MediaTag(9, stream.start_ms, stream.video_sequence_header, False, True)]
    if stream.audio_sequence_header is not None:
        head.append(MediaTag(8, stream.start_ms, stream.audio_sequence_header, False, True))
    return head + list(stream.tags)


def index_at(tags: Sequence[MediaTag], ms: int) -> int:
    """Index of the first tag at or after ``ms`` past the first tag."""
    t0 = tags[0].timestamp
    return next(i for i, t in enumerate(tags) if t.timestamp - t0 >= ms)


def is_end_notice(ev: Any) -> bool:
    """StreamEOF, Play.UnpublishNotify or Play.Stop: a player told its publisher went away (CMD-19)."""
    msg = ev.message
    if isinstance(msg, UserControl) and msg.event == UserControlEvent.STREAM_EOF:
        return True
    st = status_info(msg)
    return st is not None and st.get("code") in ("NetStream.Play.UnpublishNotify", "NetStream.Play.Stop")


async def end_notice_then_republish(player: RtmpClient, again: RtmpClient, name: str,
                                    timeout: float = 3.0) -> dict[str, Any] | None:
    """After a publisher vanished: wait for the player's end notice, then republish ``name`` with
    ``again`` (opened here if it is not open yet); returns the republish onStatus info (None if the
    target closed or stayed silent)."""
    try:
        await player.wait_for(is_end_notice, "end-of-stream notice", timeout=timeout)
    except (PeerClosed, StepTimeout):
        pass
    try:
        if again.writer is None:
            await again.open()
        await again.handshake()
        await again.connect()
        return await again.publish(name)
    except (PeerClosed, StepTimeout):
        return None
