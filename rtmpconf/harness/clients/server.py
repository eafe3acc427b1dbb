"""The scripted test server: the suite plays the server and the client under test talks to it.

One :class:`ScriptedServer` per case listens on a free loopback port; every connection it accepts
becomes a :class:`ServerSession` with its own :class:`WireLog` (client to server = ``c2s``, as in
every other log of the harness). A case drives the session step by step: the normal replies of a
live server (:meth:`ServerSession.accept`, :meth:`ServerSession.stream`), or any deviation the core
can encode -- a chosen handshake split, Set Chunk Size values, csid forms, both fmt-3 extended
timestamp dialects, pings, aborts, user control events, refusals, AMF3 replies, E-RTMP
capabilities and Reconnect Requests.

Everything that waits has a deadline and returns ``None``/``False`` when it passes: a client that
does nothing is a finding for the checker, never a hung case.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rtmpconf.harness.wirelog import C2S, S2C, WireLog
from rtmpconf.rtmp import amf0
from rtmpconf.rtmp.chunk import MessagePlan
from rtmpconf.rtmp.errors import ProtocolError
from rtmpconf.rtmp.handshake import ServerHandshake
from rtmpconf.rtmp.messages import (
    Aggregate,
    Audio,
    Command,
    Data,
    LimitType,
    Message,
    SetChunkSize,
    SetPeerBandwidth,
    UserControl,
    Video,
    WindowAckSize,
)
from rtmpconf.rtmp.session import (
    CSID_AUDIO,
    CSID_COMMAND,
    CSID_VIDEO,
    NEED_DATA,
    Connection,
    HandshakeComplete,
    MessageReceived,
    Role,
)

log = logging.getLogger("rtmp.clients.server")

READ_SIZE = 256 * 1024
#: Default deadline for one step of a session (waiting for the client's next command).
STEP_TIMEOUT_S = 8.0
#: How long :meth:`ServerSession.finish` waits for the client to close after the end of a stream.
CLOSE_GRACE_S = 1.0
#: Handshake size S0 + S1 + S2.
S0S1S2 = 1 + 2 * 1536

#: The csid the server sends stream commands (onStatus) on, as nginx-rtmp and SRS do.
CSID_STREAM_COMMAND = 5
#: The csid for data messages to players (onMetaData, |RtmpSampleAccess).
CSID_PLAYER_DATA = 5


@dataclass
class Replies:
    """How the scripted server answers a normal session. Every field is a knob a case may turn."""

    window_ack: int | None = 2_500_000  #: Window Acknowledgement Size sent before the connect reply
    peer_bandwidth: int | None = 2_500_000  #: Set Peer Bandwidth (Dynamic) sent before the connect reply
    #: Set Chunk Size sent before the connect reply, as nginx-rtmp (4096) and SRS do (None: stay at 128).
    chunk_size: int | None = 4096
    connect_delay_s: float = 0.0  #: hold the connect _result this long
    connect_properties: dict[str, Any] | None = None  #: _result properties (default: FMS-like)
    connect_extra_info: dict[str, Any] = field(default_factory=dict)  #: merged into the information object
    connect_error: dict[str, Any] | None = None  #: answer connect with _error carrying this info object
    stream_id: int = 1  #: what createStream returns
    publish_delay_s: float = 0.0  #: hold NetStream.Publish.Start this long
    publish_status: tuple[str, str] = ("NetStream.Publish.Start", "status")
    play_status: tuple[str, str] = ("NetStream.Play.Start", "status")
    stream_begin: bool = True  #: StreamBegin before the publish/play status
    onbwdone: bool = False  #: send onBWDone after the connect _result (FMS habit)
    amf3: bool | None = None  #: answer with type-17 commands: None = iff the client asked objectEncoding 3
    replies_stream_first: bool = False  #: answer createStream before the releaseStream/FCPublish before it
    command_csid: int = CSID_COMMAND  #: chunk stream of the connection-level replies
    stream_command_csid: int = CSID_STREAM_COMMAND  #: chunk stream of onStatus replies
    command_plan: MessagePlan | None = None  #: encode every command reply with this plan (csid forms...)


@dataclass(frozen=True)
class SentMedia:
    """One media message the server sent to a player."""

    index: int  #: position among the media messages sent
    type_id: int  #: 8 audio, 9 video
    timestamp: int  #: message timestamp as sent (32-bit)
    time: float  #: monotonic send time
    keyframe: bool  #: a video key coded frame
    coded: bool  #: a coded frame (not a sequence header)


@dataclass(frozen=True)
class Mark:
    """A scripted event the checkers relate the client's behaviour to."""

    name: str  #: what was done ("set-chunk-size 4096")
    time: float  #: monotonic time it was sent
    media_sent: int  #: media messages sent before it
    video_sent: int  #: coded video frames sent before it
    s2c_offset: int  #: server-to-client stream offset just after it


class ServerSession:
    """One accepted client connection, driven by a case."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int, *,
                 label: str, timeout: float, handshake: ServerHandshake | None = None) -> None:
        self.reader = reader
        self.writer = writer
        self.index = index
        self.timeout = timeout
        self.log = WireLog(label)
        peer = writer.get_extra_info("peername")
        self.log.client_port = peer[1] if peer else None
        self.conn = Connection(Role.SERVER, handshake=handshake or ServerHandshake(), auto_ack=True,
                               auto_pong=True, auto_window_reply=False)
        self.received: list[MessageReceived] = []
        self.closed = False
        self.protocol_error: ProtocolError | None = None
        self.handshake_done = False
        #: Write the core's own output (acks, pong) as soon as it appears; off during the handshake.
        self.auto_flush = False
        self.replies = Replies()
        self.role: str | None = None  #: "publish" or "play" once the client asked for one
        self.stream_name: str | None = None
        self.connect_object: dict[str, Any] | None = None
        self.amf3 = False
        self.sent_media: list[SentMedia] = []
        #: A stream hook sets this to end :meth:`stream` after it (it sent the rest itself).
        self.stop_stream = False
        self.marks: list[Mark] = []
        self._changed = asyncio.Event()
        self._cursor = 0
        self._pending_reply_tids: list[tuple[float, Message]] = []
        self._task = asyncio.ensure_future(self._read_loop())

    # -- reading ---------------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            while True:
                try:
                    data = await self.reader.read(READ_SIZE)
                except (ConnectionError, OSError):
                    self.log.mark_closed(C2S, time.monotonic(), reset=True)
                    break
                now = time.monotonic()
                if not data:
                    self.log.mark_closed(C2S, now)
                    break
                self.log.add(C2S, data, now)
                if self.protocol_error is None:
                    self.conn.receive_data(data)
                    self._drain()
                    if self.auto_flush:
                        self._write(self.conn.data_to_send())
                self._changed.set()
        finally:
            self.closed = True
            self._changed.set()

    def _drain(self) -> None:
        while True:
            try:
                ev = self.conn.next_event()
            except ProtocolError as exc:
                self.protocol_error = exc
                self.log.note(f"server could not decode the client's bytes: {exc}")
                return
            if ev is NEED_DATA:
                return
            if isinstance(ev, MessageReceived):
                self.received.append(ev)
            elif isinstance(ev, HandshakeComplete):
                self.handshake_done = True

    async def _wait_change(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self._changed.clear()
        try:
            await asyncio.wait_for(self._changed.wait(), remaining)
        except TimeoutError:
            return False
        return True

    async def expect(self, predicate: Callable[[MessageReceived], bool], timeout: float | None = None,
                     *, rewind: bool = False) -> MessageReceived | None:
        """The next message (after earlier expects) matching ``predicate``; None at the deadline or close."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        if rewind:
            self._cursor = 0
        while True:
            while self._cursor < len(self.received):
                ev = self.received[self._cursor]
                self._cursor += 1
                if predicate(ev):
                    return ev
            if self.closed or self.protocol_error is not None:
                return None
            if not await self._wait_change(deadline):
                if self._cursor >= len(self.received):
                    return None

    async def expect_command(self, *names: str, timeout: float | None = None) -> Command | None:
        ev = await self.expect(lambda e: isinstance(e.message, Command) and (not names or e.message.name in names),
                               timeout)
        return ev.message if ev is not None and isinstance(ev.message, Command) else None

    async def collect(self, seconds: float) -> None:
        """Keep reading (and answering automatically) for ``seconds`` or until the client closes."""
        deadline = time.monotonic() + seconds
        while not self.closed and time.monotonic() < deadline:
            await self._wait_change(deadline)

    async def wait_closed(self, timeout: float) -> bool:
        """True if the client closed the connection within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            if not await self._wait_change(deadline) and time.monotonic() >= deadline:
                return self.closed
        return True

    async def wait_bytes(self, count: int, timeout: float) -> bool:
        """True once the client has sent ``count`` bytes in total."""
        deadline = time.monotonic() + timeout
        while self.log.total(C2S) < count:
            if self.closed or not await self._wait_change(deadline):
                return self.log.total(C2S) >= count
        return True

    # -- writing ---------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if not data or self.writer.is_closing():
            return
        self.log.add(S2C, data, time.monotonic())
        try:
            self.writer.write(data)
        except (ConnectionError, OSError):
            self.closed = True

    async def drain(self) -> None:
        try:
            await asyncio.wait_for(self.writer.drain(), self.timeout)
        except (TimeoutError, ConnectionError, OSError):
            pass

    def flush(self) -> None:
        """Write everything the connection has queued, in encoding order (one output path)."""
        self._write(self.conn.data_to_send())

    async def send_raw(self, data: bytes) -> None:
        """Write bytes exactly as given (recorded in the wire log), after whatever is queued."""
        self.conn.send_raw(data)
        self.flush()
        await self.drain()

    async def send(self, msg: Message, *, msid: int = 0, timestamp: int = 0, csid: int | None = None) -> None:
        """Encode with the smallest legal headers and write."""
        if self.closed:
            return
        self.conn.send(msg, msid=msid, timestamp=timestamp, csid=csid)
        self.flush()
        await self.drain()

    async def send_planned(self, msg: Message, plan: MessagePlan, *, msid: int = 0, timestamp: int = 0,
                           csid: int | None = None) -> list[bytes]:
        """Encode with an explicit plan (csid form, chunk size, ext-ts dialect...) and write."""
        chunks = self.conn.send_planned(msg, plan, msid=msid, timestamp=timestamp, csid=csid)
        self.flush()
        await self.drain()
        if isinstance(msg, SetChunkSize):
            self.conn.writer.set_chunk_size(msg.size)
        return chunks

    async def set_chunk_size(self, size: int) -> None:
        """Set Chunk Size on csid 2 (applies to every chunk after it, §5.4.1)."""
        await self.send(SetChunkSize(size))

    def mark(self, name: str) -> Mark:
        """Remember that the scripted event ``name`` was sent now (for the checkers)."""
        m = Mark(name, time.monotonic(), len(self.sent_media), sum(1 for s in self.sent_media if s.coded and s.type_id == 9),
                 self.log.total(S2C))
        self.marks.append(m)
        self.log.note(f"server event: {name}")
        return m

    async def close(self) -> None:
        if not self.writer.is_closing():
            self.log.mark_closed(S2C, time.monotonic())
            self.writer.close()
            try:
                await asyncio.wait_for(self.writer.wait_closed(), 1.0)
            except (TimeoutError, ConnectionError, OSError):
                pass
        self._task.cancel()

    # -- handshake ---------------------------------------------------------------------------------

    async def handshake(self, *, split: int | Sequence[int] | None = None, hold_s2: float = 0.0,
                        s0: int | None = None, delay: float = 0.0, timeout: float | None = None) -> bool:
        """Wait for C0+C1, answer S0+S1+S2 (in one write unless ``split``; S2 held ``hold_s2`` s),
        then wait for C2. False if the client stopped first."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        out = b""
        while len(out) < S0S1S2:
            out += self.conn.data_to_send()
            if len(out) >= S0S1S2:
                break
            if self.closed or self.protocol_error is not None or not await self._wait_change(deadline):
                if len(out) < S0S1S2:
                    return False
        if s0 is not None:
            # S0 (byte 0) replaced: a version the client did not ask for.
            out = bytes([s0]) + out[1:]
        if delay:
            await asyncio.sleep(delay)
        if hold_s2:
            # Marked before the write: a quick client answers before drain() returns.
            self.mark("S0+S1 sent, S2 held")
            self._write(out[:1 + 1536])
            await self.drain()
            await self.collect(hold_s2)
            self.mark("S2 sent")
            out = out[1 + 1536:]
        if split is None:
            self._write(out)
        else:
            pieces = [out[i:i + split] for i in range(0, len(out), split)] if isinstance(split, int) else _cut(out, split)
            for p in pieces:
                self._write(p)
                await self.drain()
        await self.drain()
        while not self.handshake_done:
            if self.closed or self.protocol_error is not None or not await self._wait_change(deadline):
                if not self.handshake_done:
                    return False
        self.auto_flush = True
        self.flush()
        return True

    # -- the normal server side ----------------------------------------------------------------------

    def _reply_cmd(self, name: str, tid: float, obj: Any, *args: Any) -> Command:
        return Command(name, tid, obj, tuple(args), amf3=self.amf3)

    async def send_command(self, cmd: Command, *, msid: int = 0, csid: int | None = None) -> None:
        plan = self.replies.command_plan
        csid = csid or (self.replies.stream_command_csid if msid else self.replies.command_csid)
        if plan is not None:
            await self.send_planned(cmd, plan, msid=msid, csid=csid)
        else:
            await self.send(cmd, msid=msid, csid=csid)

    async def status(self, code: str, level: str = "status", *, msid: int | None = None,
                     description: str = "", extra: dict[str, Any] | None = None) -> None:
        """onStatus(code, level) on the stream (§7.2.2)."""
        info: dict[str, Any] = {"level": level, "code": code, "description": description or code}
        info.update(extra or {})
        sid = self.replies.stream_id if msid is None else msid
        await self.send_command(self._reply_cmd("onStatus", 0.0, None, info), msid=sid)

    async def answer_connect(self, cmd: Command) -> None:
        r = self.replies
        obj = cmd.command_object if isinstance(cmd.command_object, dict) else {}
        self.connect_object = obj
        if r.amf3 is None:
            self.amf3 = obj.get("objectEncoding") == 3
        else:
            self.amf3 = r.amf3
        if r.connect_error is not None:
            self.mark("connect _error")
            await self.send_command(self._reply_cmd("_error", cmd.transaction_id, None, r.connect_error))
            return
        if r.window_ack is not None:
            await self.send(WindowAckSize(r.window_ack))
        if r.peer_bandwidth is not None:
            await self.send(SetPeerBandwidth(r.peer_bandwidth, LimitType.DYNAMIC))
        if r.chunk_size is not None:
            self.mark(f"set-chunk-size {r.chunk_size}")
            await self.set_chunk_size(r.chunk_size)
        if r.connect_delay_s:
            self.mark("connect reply held")
            await self.collect(r.connect_delay_s)
        props = r.connect_properties if r.connect_properties is not None else {
            "fmsVer": "FMS/3,5,7,7009", "capabilities": 31.0, "mode": 1.0}
        info: dict[str, Any] = {"level": "status", "code": "NetConnection.Connect.Success",
                                "description": "Connection succeeded.",
                                "objectEncoding": 3.0 if self.amf3 else 0.0}
        info.update(r.connect_extra_info)
        self.mark("connect _result")
        await self.send_command(self._reply_cmd("_result", cmd.transaction_id, props, info))
        if r.onbwdone:
            await self.send_command(self._reply_cmd("onBWDone", 0.0, None))

    async def answer(self, cmd: Command, msid: int) -> str | None:
        """The normal reply to one command; returns "publish"/"play" when the client asked for one."""
        r = self.replies
        name, tid = cmd.name, cmd.transaction_id
        if name == "connect":
            await self.answer_connect(cmd)
        elif name == "createStream":
            reply = self._reply_cmd("_result", tid, None, float(r.stream_id))
            if r.replies_stream_first:
                await self.send_command(reply)
                for held_tid, held in self._pending_reply_tids:
                    await self.send_command(held)  # type: ignore[arg-type]
                self._pending_reply_tids.clear()
            else:
                await self.send_command(reply)
        elif name in ("releaseStream", "FCPublish", "FCSubscribe", "getStreamLength", "_checkbw", "FCUnpublish"):
            if name == "FCPublish":
                await self.send_command(self._reply_cmd("onFCPublish", 0.0, None, {
                    "code": "NetStream.Publish.Start", "description": str(cmd.arguments[:1])}))
            if tid:
                value: Any = 0.0 if name == "getStreamLength" else amf0.UNDEFINED
                reply = self._reply_cmd("_result", tid, None, value)
                if r.replies_stream_first and name in ("releaseStream", "FCPublish"):
                    self._pending_reply_tids.append((tid, reply))
                else:
                    await self.send_command(reply)
        elif name == "publish":
            self.role = "publish"
            self.stream_name = str(cmd.arguments[0]) if cmd.arguments else ""
            if r.publish_delay_s:
                self.mark("publish status held")
                await self.collect(r.publish_delay_s)
            if r.stream_begin:
                await self.send(UserControl.stream_begin(msid or r.stream_id))
            code, level = r.publish_status
            self.mark(f"onStatus {code}")
            await self.status(code, level, msid=msid or r.stream_id)
            return "publish"
        elif name == "play":
            self.role = "play"
            self.stream_name = str(cmd.arguments[0]) if cmd.arguments else ""
            code, level = r.play_status
            if level != "error":
                if r.stream_begin:
                    await self.send(UserControl.stream_begin(msid or r.stream_id))
                await self.status("NetStream.Play.Reset", msid=msid or r.stream_id)
            self.mark(f"onStatus {code}")
            await self.status(code, level, msid=msid or r.stream_id)
            if level != "error":
                await self.send(Data(("|RtmpSampleAccess", False, False)), msid=msid or r.stream_id,
                                csid=CSID_PLAYER_DATA)
            return "play"
        elif tid:
            # CMD-20: an unknown call with a transaction id gets an answer, never a hang.
            await self.send_command(self._reply_cmd("_result", tid, None, amf0.UNDEFINED))
        return None

    async def accept(self, replies: Replies | None = None, *, handshake: dict[str, Any] | None = None,
                     timeout: float | None = None) -> str | None:
        """Handshake, then the normal replies up to publish or play. Returns the client's role, or
        None when it stopped (closed, refused, went silent) before asking for one."""
        if replies is not None:
            self.replies = replies
        if not self.handshake_done and not await self.handshake(**(handshake or {})):
            return None
        return await self.serve_commands(timeout=timeout)

    async def serve_commands(self, until: Sequence[str] = ("publish", "play"), timeout: float | None = None) -> str | None:
        """Answer commands normally until one of ``until`` was answered."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            ev = await self.expect(lambda e: isinstance(e.message, Command), max(0.0, deadline - time.monotonic()))
            if ev is None:
                return None
            assert isinstance(ev.message, Command)
            role = await self.answer(ev.message, ev.raw.msid)
            if ev.message.name == "connect" and self.replies.connect_error is not None:
                return None
            if ev.message.name in until:
                return role or ev.message.name

    # -- players -------------------------------------------------------------------------------------

    async def stream(self, media: Any, *, msid: int | None = None, speed: float = 1.0, ts_offset: int = 0,
                     hooks: dict[int, Callable[[ServerSession], Awaitable[None]]] | None = None,
                     metadata: bytes | None = None, force_fmt0: bool = False, aggregate: bool = False,
                     video_csid: int = CSID_VIDEO, audio_csid: int = CSID_AUDIO, max_s: float | None = None,
                     interleave: bool = False, pad_video: bool = False) -> None:
        """Send a TestStream to a player: onMetaData, sequence headers, then the coded frames paced
        at ``speed`` x real time. ``hooks[i]`` runs before coded frame ``i``. ``force_fmt0`` gives
        every media message an absolute header (so timestamps above 0xFFFFFF put the extended field
        on fmt-3 continuation chunks); ``aggregate`` packs each video frame with the audio before it
        into one Aggregate message (§7.1.6); ``interleave`` alternates each video frame's chunks with
        those of the audio message after it; ``pad_video`` pads every coded video frame with an H.264
        filler NAL to one size, so at a fixed delta every frame after the second gets a fmt-3 header."""
        sid = self.replies.stream_id if msid is None else msid
        hooks = hooks or {}
        base = media.start_ms
        meta = metadata if metadata is not None else _player_metadata(media.metadata)
        await self.send(Data(tuple(amf0.decode_all(meta))), msid=sid, timestamp=ts_offset & 0xFFFFFFFF,
                        csid=CSID_PLAYER_DATA)
        head_ts = ts_offset & 0xFFFFFFFF
        await self._media(9, media.video_sequence_header, head_ts, sid, video_csid, force_fmt0, coded=False)
        if media.audio_sequence_header is not None:
            await self._media(8, media.audio_sequence_header, head_ts, sid, audio_csid, force_fmt0, coded=False)
        start = time.monotonic()
        pending_audio: list[tuple[int, bytes]] = []
        pad_to = max((len(t.payload) for t in media.tags if t.type_id == 9), default=0) + 8
        skip: set[int] = set()
        tags = media.tags
        for i, tag in enumerate(tags):
            if i in skip:
                continue
            if self.closed:
                break
            if max_s is not None and time.monotonic() - start > max_s:
                break
            if i in hooks:
                await hooks[i](self)
                if self.stop_stream:
                    break
            rel = tag.timestamp - base
            due = start + rel / 1000.0 / speed
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            ts = (tag.timestamp + ts_offset) & 0xFFFFFFFF
            if aggregate:
                if tag.type_id == 8:
                    pending_audio.append((ts, tag.payload))
                    continue
                subs = [(8, t, p) for t, p in pending_audio] + [(9, ts, tag.payload)]
                pending_audio.clear()
                agg = Aggregate.build(subs)
                first_ts = subs[0][1]
                await self.send(agg, msid=sid, timestamp=first_ts, csid=video_csid)
                for type_id, t, p in subs:
                    self._record_media(type_id, t, p, True)
                continue
            payload = tag.payload
            if pad_video and tag.type_id == 9:
                payload = _pad_avc(payload, pad_to)
            if interleave and tag.type_id == 9 and i + 1 < len(tags) and tags[i + 1].type_id == 8:
                nxt = tags[i + 1]
                skip.add(i + 1)
                await self._interleaved(payload, ts, (nxt.timestamp + ts_offset) & 0xFFFFFFFF, nxt.payload, sid,
                                        video_csid, audio_csid)
                continue
            await self._media(tag.type_id, payload, ts, sid, video_csid if tag.type_id == 9 else audio_csid,
                              force_fmt0, coded=True)

    async def _interleaved(self, video: bytes, vts: int, ats: int, audio: bytes, msid: int, vcsid: int,
                           acsid: int) -> None:
        w = self.conn.writer
        vchunks = w.encode_planned(vcsid, 9, msid, vts, video, MessagePlan())
        achunks = w.encode_planned(acsid, 8, msid, ats, audio, MessagePlan())
        out = []
        for k in range(max(len(vchunks), len(achunks))):
            if k < len(vchunks):
                out.append(vchunks[k])
            if k < len(achunks):
                out.append(achunks[k])
        self.conn.send_raw(b"".join(out))
        self.flush()
        await self.drain()
        self._record_media(9, vts, video, True)
        self._record_media(8, ats, audio, True)

    async def _media(self, type_id: int, payload: bytes, ts: int, msid: int, csid: int, force_fmt0: bool,
                     *, coded: bool) -> None:
        if self.closed:
            return
        msg: Message = Video(payload) if type_id == 9 else Audio(payload)
        if force_fmt0:
            self.conn.writer.forget(csid)
        await self.send(msg, msid=msid, timestamp=ts, csid=csid)
        self._record_media(type_id, ts, payload, coded)

    def _record_media(self, type_id: int, ts: int, payload: bytes, coded: bool) -> None:
        from rtmpconf.rtmp import media

        key = type_id == 9 and coded and media.is_video_keyframe(payload)
        self.sent_media.append(SentMedia(len(self.sent_media), type_id, ts, time.monotonic(), key, coded))

    async def finish(self, *, eof: bool = True, grace: float = CLOSE_GRACE_S) -> None:
        """End of the stream: StreamEOF and Play.Stop, wait ``grace`` s for the client, then close."""
        if eof and not self.closed:
            sid = self.replies.stream_id
            await self.send(UserControl.stream_eof(sid))
            await self.status("NetStream.Play.Stop", msid=sid)
            await self.wait_closed(grace)
        await self.close()

    # -- publishers ----------------------------------------------------------------------------------

    def media_received(self, *, coded_video_only: bool = False) -> list[MessageReceived]:
        from rtmpconf.rtmp import media

        out = []
        for e in self.received:
            if e.raw.type_id not in (8, 9):
                continue
            if coded_video_only and (e.raw.type_id != 9 or media.is_video_sequence_header(e.raw.payload)):
                continue
            out.append(e)
        return out

    async def receive_media(self, *, video_frames: int = 25, seconds: float = 6.0) -> int:
        """Read a publisher's media until ``video_frames`` coded video frames arrived, the client
        closed, or ``seconds`` passed; returns the coded video frames seen."""
        deadline = time.monotonic() + seconds
        while True:
            n = len(self.media_received(coded_video_only=True))
            if n >= video_frames or self.closed or self.protocol_error is not None:
                return n
            if not await self._wait_change(deadline) and time.monotonic() >= deadline:
                return len(self.media_received(coded_video_only=True))


def _pad_avc(payload: bytes, size: int) -> bytes:
    """An AVC NALU video tag padded to ``size`` bytes with a filler-data NAL unit (type 12, H.264
    §7.3.2.7: 0xFF bytes, then the RBSP trailing bits 0x80), 4-byte length prefix."""
    extra = size - len(payload)
    if extra < 6:
        return payload
    body = b"\x0c" + b"\xff" * (extra - 6) + b"\x80"
    return payload + len(body).to_bytes(4, "big") + body


def _cut(data: bytes, sizes: Sequence[int]) -> list[bytes]:
    out, pos = [], 0
    for s in sizes:
        out.append(data[pos:pos + s])
        pos += s
    if pos < len(data):
        out.append(data[pos:])
    return [p for p in out if p]


def _player_metadata(publisher_metadata: bytes) -> bytes:
    """A publisher's ``@setDataFrame`` payload as a player receives it: ``onMetaData`` + the array."""
    values = amf0.decode_all(publisher_metadata)
    if values and values[0] == "@setDataFrame":
        values = values[1:]
    return amf0.encode_all(*values)


class ScriptedServer:
    """Listens on 127.0.0.1 (free port); each accepted connection becomes a ServerSession."""

    def __init__(self, *, label: str = "", timeout: float = STEP_TIMEOUT_S, app: str = "live",
                 handshake_factory: Callable[[], ServerHandshake] | None = None) -> None:
        self.label = label
        self.timeout = timeout
        self.app = app
        self.sessions: list[ServerSession] = []
        self.port = 0
        self.handshake_factory = handshake_factory
        self._server: asyncio.base_events.Server | None = None
        self._arrived = asyncio.Event()
        self.on_session: Callable[[ServerSession], None] | None = None

    async def start(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, limit=READ_SIZE)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def url(self, stream: str = "stream", app: str | None = None) -> str:
        return f"rtmp://127.0.0.1:{self.port}/{app or self.app}/{stream}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        hs = self.handshake_factory() if self.handshake_factory else None
        s = ServerSession(reader, writer, len(self.sessions), label=f"{self.label} connection {len(self.sessions) + 1}",
                          timeout=self.timeout, handshake=hs)
        self.sessions.append(s)
        if self.on_session is not None:
            self.on_session(s)
        self._arrived.set()

    async def session(self, index: int = 0, timeout: float | None = None) -> ServerSession | None:
        """The ``index``-th connection (waits for it up to ``timeout``); None if it never came."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(self.sessions) <= index:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return None
        return self.sessions[index]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for s in self.sessions:
            await s.close()
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            except TimeoutError:
                pass
