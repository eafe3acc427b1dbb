"""One client connection of the reference server: commands, publish and play.

Transport-agnostic: the asyncio glue in server.py feeds bytes in and gives us ``write``,
``backlog`` and ``close`` through a small transport object.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from rtmpconf.reference_server.streams import LiveStream, StreamRegistry
from rtmpconf.reference_server.tracks import ClientCaps, server_capabilities
from rtmpconf.rtmp import amf0
from rtmpconf.rtmp.chunk import ChunkReader
from rtmpconf.rtmp.errors import ProtocolError
from rtmpconf.rtmp.handshake import ServerHandshake
from rtmpconf.rtmp.messages import (
    Aggregate,
    Audio,
    Command,
    Data,
    LimitType,
    SetChunkSize,
    SetPeerBandwidth,
    UserControl,
    Video,
    WindowAckSize,
)
from rtmpconf.rtmp.session import (
    CSID_COMMAND,
    NEED_DATA,
    Connection,
    ConnectionClosed,
    HandshakeComplete,
    MessageReceived,
    Role,
)

if TYPE_CHECKING:
    from rtmpconf.reference_server.auth import AccessControl, Refusal, StreamRequest
    from rtmpconf.reference_server.relay import RelayManager
    from rtmpconf.reference_server.config import ServerConfig

log = logging.getLogger("rtmpconf.rtmp.server")
_ids = itertools.count(1)

#: §7.2.1.1 reply properties, as FMS and most servers send them (CMD-5).
FMS_VERSION = "FMS/3,0,1,123"
CAPABILITIES = 31.0
#: Aux commands from FMLE/FFmpeg/OBS that get an empty ``_result`` (CMD-11, CMD-20, CMD-21).
AUX_COMMANDS = frozenset({
    "releaseStream", "FCPublish", "FCUnpublish", "FCSubscribe", "FCUnsubscribe", "_checkbw",
    "getStreamLength", "checkBandwidth", "setPeerInfo",
})
_UNSAFE_NAME_CHARS = frozenset("/\\") | {chr(c) for c in range(32)} | {"\x7f"}
#: ERTMPv2 "Reconnect Request": the onStatus code asking a client to reconnect (ERTMP-11).
RECONNECT_REQUEST = "NetConnection.Connect.ReconnectRequest"
#: The reference server's own admin command (drain with Reconnect Requests); needs ``admin_token``.
ADMIN_DRAIN = "rtmpconf.drain"


class Transport(Protocol):
    def write(self, data: bytes) -> None: ...
    def backlog(self) -> int: ...
    def close(self) -> None: ...


def status(code: str, level: str, description: str, **extra: Any) -> dict[str, Any]:
    """An onStatus info object (CMD-18)."""
    info: dict[str, Any] = {"level": level, "code": code, "description": description}
    info.update(extra)
    return info


class ServerSession:
    """Protocol logic for one connection."""

    def __init__(self, config: ServerConfig, registry: StreamRegistry, transport: Transport,
                 peer: str = "?", drain: Callable[..., dict[str, Any]] | None = None,
                 access: AccessControl | None = None, relay: RelayManager | None = None) -> None:
        self.id = next(_ids)
        #: Push/pull relay and loop protection (relay.py); None = no relay configured.
        self.relay = relay
        #: Server ids a relay connection went through (its connect's ``rtmpconfRelay``); () = a client.
        self.relay_chain: tuple[str, ...] = ()
        #: Tokens, authmod and webhooks (auth.py); None = everything is allowed.
        self.access = access
        self.config = config
        self.registry = registry
        self.transport = transport
        self.peer = peer
        #: the server's drain (admin command ``rtmpconf.drain``); None: not available
        self.drain = drain
        #: what the client said it can take (fourCcList, info maps, capsEx; tracks.py)
        self.caps = ClientCaps.LEGACY
        reader = ChunkReader(
            max_message_length=config.max_message_length,
            max_chunk_streams=config.max_chunk_streams,
            max_open_messages=config.max_open_messages,
            max_partial_bytes=config.max_partial_bytes,
            min_chunk_size=config.min_in_chunk_size,
            max_chunk_size=config.max_in_chunk_size,
        )
        self.conn = Connection(
            Role.SERVER,
            handshake=ServerHandshake(time_ms=int(time.monotonic() * 1000) & 0xFFFFFFFF),
            reader=reader,
            ext_ts_on_fmt3=config.ext_ts_on_fmt3,
            max_amf_depth=config.max_amf_depth,
        )
        self.handshake_done = False
        self.connected = False
        self.app: str | None = None
        self.app_raw = ""  #: connect's app as sent (may carry a query: tokens, authmod)
        self.tc_url = ""
        self.flash_ver = ""
        #: msid -> the publish request that was allowed (for the unpublish webhook).
        self.publish_requests: dict[int, StreamRequest] = {}
        self.object_encoding = 0.0
        self.next_stream_id = 1
        self.created: set[int] = set()
        self.publishing: dict[int, LiveStream] = {}
        self.playing: dict[int, LiveStream] = {}
        self.closed = False
        self.close_reason: str | None = None
        self.ignored_media = 0

    def __repr__(self) -> str:
        return f"<conn {self.id} {self.peer}>"

    # -- I/O ---------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if not self.closed and data:
            self.transport.write(data)

    def backlog(self) -> int:
        return self.transport.backlog()

    def _flush(self) -> None:
        """Write what the connection encoded (replies, automatic replies), in encoding order.

        Called after every read and every send, so the connection's buffer is empty whenever
        control leaves this session: media fanned out to this player later never overtakes it.
        """
        if self.conn.pending:
            self.write(self.conn.data_to_send())

    def _send(self, msg: Any, *, msid: int = 0, csid: int | None = None) -> None:
        self.conn.send(msg, msid=msid, csid=csid)
        self._flush()

    def _command(self, name: str, tid: float, obj: Any, *args: Any, msid: int = 0) -> None:
        self._send(Command(name, tid, obj, args), msid=msid, csid=CSID_COMMAND)

    def _on_status(self, msid: int, code: str, level: str, description: str, **extra: Any) -> None:
        self._command("onStatus", 0.0, None, status(code, level, description, **extra), msid=msid)

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.close_reason = reason
        log.info("%r closing: %s", self, reason)
        self.closed = True
        self.transport.close()
        self.cleanup()

    @property
    def is_player(self) -> bool:
        return bool(self.playing)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.conn.receive_data(data)
        # Handshake replies and acknowledgements were encoded during the read: they go first.
        # Ping responses and window replies are encoded as their events are taken below, so
        # they follow the replies to the commands that arrived before them.
        self._flush()
        try:
            while True:
                ev = self.conn.next_event()
                if ev is NEED_DATA:
                    break
                if isinstance(ev, MessageReceived):
                    self._on_message(ev)
                elif isinstance(ev, HandshakeComplete):
                    self.handshake_done = True
                    log.debug("%r handshake complete: %s", self, ev.info)
                elif isinstance(ev, ConnectionClosed):
                    break
                if self.closed:
                    return
        except ProtocolError as exc:
            self.close(f"protocol error: {exc}")
            return
        self._flush()

    def cleanup(self) -> None:
        """Leave every stream: a publisher's players are notified, the name is freed (ROB-5)."""
        for msid, stream in list(self.publishing.items()):
            self._unpublish(msid, stream)
        for msid, stream in list(self.playing.items()):
            self._stop_play(msid, stream)

    # -- messages ------------------------------------------------------------------------------

    def _on_message(self, ev: MessageReceived) -> None:
        msg = ev.message
        raw = ev.raw
        if isinstance(msg, (Audio, Video)):
            stream = self.publishing.get(raw.msid)
            if stream is None:
                # ROB-6: media before publish or on a stream never created is ignored.
                self.ignored_media += 1
                if self.ignored_media == 1:
                    log.info("%r ignoring media on msid %d: not publishing there", self, raw.msid)
                return
            stream.on_media(raw.type_id, raw.timestamp, msg.payload)
        elif isinstance(msg, Command):
            # Media this read carried ahead of the command goes out first (server.py).
            flush_batch = getattr(self.transport, "flush_batch", None)
            if flush_batch is not None:
                flush_batch()
            self._on_command(msg, raw.msid)
        elif isinstance(msg, Data):
            stream = self.publishing.get(raw.msid)
            if stream is not None:
                stream.on_metadata(msg.values, raw.timestamp)
        elif isinstance(msg, Aggregate):
            stream = self.publishing.get(raw.msid)
            if stream is None:
                return
            for sub in msg.sub_messages(raw.msid, raw.timestamp):
                if sub.type_id in (8, 9):
                    stream.on_media(sub.type_id, sub.timestamp, sub.payload)
                elif sub.type_id == 18:
                    stream.on_metadata(tuple(amf0.decode_all(sub.payload)), sub.timestamp)
        # Control messages were handled by the Connection (chunk size, acks, pings); unknown
        # types are ignored (CTRL-12).

    def _on_command(self, cmd: Command, msid: int) -> None:
        name = cmd.name
        if not self.connected:
            if name == "connect":
                self._connect(cmd)
            else:
                # CMD-8: the first command must be connect.
                if cmd.transaction_id:
                    self._command("_error", cmd.transaction_id, None,
                                  status("NetConnection.Call.Failed", "error", "connect first"))
                self.close(f"command {name!r} before connect")
            return
        if name == "connect":
            self._command("_error", cmd.transaction_id, None,
                          status("NetConnection.Connect.Rejected", "error", "already connected"))
            self.close("second connect on one connection (CMD-8)")
        elif name == "createStream":
            self._create_stream(cmd)
        elif name == "publish":
            self._publish(cmd, msid)
        elif name in ("play", "play2"):
            self._play(cmd, msid)
        elif name in ("deleteStream", "closeStream"):
            target = msid if name == "closeStream" else _number(cmd.arguments[0] if cmd.arguments else msid)
            self._delete_stream(int(target))
        elif name == "pause":
            self._pause(cmd, msid)
        elif name in ("receiveAudio", "receiveVideo"):
            stream = self.playing.get(msid)
            if stream is not None and stream.players.get(self) is not None and cmd.arguments:
                player = stream.players[self]
                player.loosen()  # it may now miss messages the group sends
                setattr(player, "receive_audio" if name == "receiveAudio" else "receive_video",
                        bool(cmd.arguments[0]))
        elif name in AUX_COMMANDS:
            if name == "FCPublish" and cmd.arguments:
                self._command("onFCPublish", 0.0, None,
                              status("NetStream.Publish.Start", "status", f"FCPublish {cmd.arguments[0]}"))
            if cmd.transaction_id:
                # FFmpeg reads getStreamLength's reply as a number (rtmpproto.c); 0 = live.
                value = 0.0 if name == "getStreamLength" else amf0.UNDEFINED
                self._command("_result", cmd.transaction_id, None, value)
        elif name in ("_result", "_error", "onStatus", "onBWDone"):
            pass  # replies to nothing we asked; ignore (CMD-10)
        elif name == ADMIN_DRAIN and self.config.admin_token and self.drain is not None:
            self._admin_drain(cmd)
        else:
            # CMD-20: unknown commands get an _error on the same transaction id, never a close.
            if cmd.transaction_id:
                self._command("_error", cmd.transaction_id, None,
                              status("NetConnection.Call.Failed", "error", f"unknown command {name!r}"))

    def _connect(self, cmd: Command) -> None:
        obj = cmd.command_object if isinstance(cmd.command_object, dict) else {}
        app = str(obj.get("app", "") or "")
        self.app_raw = app
        self.tc_url = str(obj.get("tcUrl", "") or "")
        self.flash_ver = str(obj.get("flashVer", "") or "")
        if self.relay is not None:
            from rtmpconf.reference_server.relay import CHAIN_KEY, parse_chain

            self.relay_chain = parse_chain(obj.get(CHAIN_KEY))
        app = app.split("?", 1)[0].rstrip("/")
        if app.endswith("/_definst_"):
            app = app[: -len("/_definst_")]
        app = app.rstrip("/")  # CMD-7: "live/", "live/_definst_", "live?token=x" are all "live"
        if self.config.apps and app not in self.config.apps:
            self._command("_error", cmd.transaction_id, None,
                          status("NetConnection.Connect.Rejected", "error", f"unknown app {app!r}"))
            self.close(f"connect to unknown app {app!r} (CMD-6)")
            return
        if self.access is not None:
            refusal = self.access.check_connect(app, self.app_raw, self.tc_url)
            if refusal is not None:
                # AUTH: the refusal is visible to the client (an _error with a description that
                # authmod clients parse) before the close.
                self._command("_error", cmd.transaction_id, None,
                              status(refusal.code, "error", refusal.description))
                self.close(f"connect to {app!r} refused: {refusal.description}")
                return
        enc = obj.get("objectEncoding", 0)
        # CMD-5: objectEncoding 3 is echoed, anything else comes back as 0.
        self.object_encoding = 3.0 if enc == 3 else 0.0
        self.app = app
        self.connected = True
        self.caps = ClientCaps.from_connect(obj)
        # CMD-4: WinAck, SetPeerBW(Dynamic), SetChunkSize, StreamBegin(0), then _result.
        self._send(WindowAckSize(self.config.window_ack_size))
        self._send(SetPeerBandwidth(self.config.peer_bandwidth, LimitType.DYNAMIC))
        self._send(SetChunkSize(self.config.out_chunk_size))
        self._send(UserControl.stream_begin(0))
        self._command(
            "_result", cmd.transaction_id,
            # ERTMP-18: "The server SHOULD state its support via attributes such as
            # videoFourCcInfoMap, capsEx, and similar properties" (ERTMPv2, connect).
            {"fmsVer": FMS_VERSION, "capabilities": CAPABILITIES, "mode": 1.0, **server_capabilities()},
            status("NetConnection.Connect.Success", "status", "Connection succeeded.",
                   objectEncoding=self.object_encoding),
        )
        log.info("%r connected to app %r (%s)", self, app, self.caps.describe())

    def _create_stream(self, cmd: Command) -> None:
        if len(self.created) >= self.config.max_streams_per_connection:
            self._command("_error", cmd.transaction_id, None,
                          status("NetConnection.Call.Failed", "error", "too many streams"))
            return
        sid = self.next_stream_id
        self.next_stream_id += 1
        self.created.add(sid)
        # CMD-9: _result [tid, null, streamId].
        self._command("_result", cmd.transaction_id, None, float(sid))

    def _stream_name(self, cmd: Command) -> str | None:
        raw = cmd.arguments[0] if cmd.arguments else None
        if not isinstance(raw, str):
            return None
        # CMD-13: the name may carry "?query"; it is not part of the name.
        return raw.split("?", 1)[0]

    def _name_problem(self, name: str | None) -> str | None:
        # ROB-7: empty and path-unsafe names are refused.
        if not name:
            return "empty stream name"
        if len(name) > self.config.max_stream_name:
            return "stream name too long"
        if ".." in name or any(c in _UNSAFE_NAME_CHARS for c in name):
            return "unsafe stream name"
        return None

    def _publish(self, cmd: Command, msid: int) -> None:
        if cmd.arguments and cmd.arguments[0] is False:
            # Flash NetStream.publish(false) (Wirecast sends it to stop, Node-Media-Server #67): stop
            # publishing on this stream; the name is freed and players are told (ERTMP quirk case).
            stream = self.publishing.get(msid)
            if stream is not None:
                self._unpublish(msid, stream)
            return
        name = self._stream_name(cmd)
        problem = self._name_problem(name)
        if msid not in self.created:
            problem = problem or f"publish on message stream {msid}, which was never created"
        if problem is None and self.relay is not None and self.relay_chain:
            problem = self.relay.loop_problem(self.relay_chain)  # a push that came back here
        if problem is not None or name is None:
            self._on_status(msid, "NetStream.Publish.BadName", "error", problem or "bad name")
            return
        if self.access is None:
            self._start_publish(msid, name)
            return
        req = self._stream_request("publish", cmd, name)
        # The name is not reserved while the decision is pending: a refused publisher never holds it.
        self.access.authorize(req, lambda refusal: self._decided(req, msid, refusal))

    def _stream_request(self, action: str, cmd: Command, name: str) -> StreamRequest:
        from rtmpconf.reference_server.auth import StreamRequest

        raw = cmd.arguments[0] if cmd.arguments and isinstance(cmd.arguments[0], str) else name
        assert self.app is not None
        return StreamRequest(action, self.app, name, raw.partition("?")[2], self.tc_url, self.app_raw,
                             self.peer, self.id, self.flash_ver)

    def _decided(self, req: StreamRequest, msid: int, refusal: Refusal | None) -> None:
        """The access decision on a publish or play arrived (maybe later, from a webhook)."""
        if self.closed or msid not in self.created:
            return
        if refusal is not None:
            # AUTH: onStatus with level error before the close, so the client can tell the user.
            self._on_status(msid, refusal.code, "error", refusal.description)
            self.close(f"{req.action} of {req.app}/{req.name} refused: {refusal.description}")
            return
        if req.action == "publish":
            if self._start_publish(msid, req.name):
                self.publish_requests[msid] = req
        else:
            self._start_play(msid, req.name)

    def _start_publish(self, msid: int, name: str) -> bool:
        assert self.app is not None
        stream = self.registry.get_or_create(self.app, name)
        if stream.publisher is not None or msid in self.publishing or msid in self.playing:
            # CMD-14: BadName, level error, the connection is kept.
            self._on_status(msid, "NetStream.Publish.BadName", "error", f"{name} is already published")
            log.info("%r duplicate publish of %s/%s refused", self, self.app, name)
            self.registry.release_if_unused(stream)
            return False
        stream.start_publish(self)
        self.publishing[msid] = stream
        self._send(UserControl.stream_begin(msid))
        self._on_status(msid, "NetStream.Publish.Start", "status", f"{name} is now published",
                        details=name)
        log.info("%r publishing %s/%s", self, self.app, name)
        return True

    def _play(self, cmd: Command, msid: int) -> None:
        name = self._stream_name(cmd)
        problem = self._name_problem(name)
        if problem is not None or name is None or msid not in self.created or msid in self.playing:
            self._on_status(msid, "NetStream.Play.StreamNotFound", "error", problem or "bad play request")
            return
        assert self.app is not None
        stream = self.registry.get(self.app, name)
        pulls = self.relay is not None and self.relay.wants_pull(self.app)
        if (stream is None or stream.publisher is None) and self.config.play_unknown == "not_found" and not pulls:
            # §7.2.2.1 step 5 / CMD-17.
            self._on_status(msid, "NetStream.Play.StreamNotFound", "error", f"{name} is not published")
            if stream is not None:
                self.registry.release_if_unused(stream)
            return
        if self.access is None:
            self._start_play(msid, name)
        else:
            req = self._stream_request("play", cmd, name)
            self.access.authorize(req, lambda refusal: self._decided(req, msid, refusal))

    def _start_play(self, msid: int, name: str) -> None:
        if msid in self.playing:
            return
        assert self.app is not None
        stream = self.registry.get_or_create(self.app, name)
        if any(s is stream for s in self.playing.values()):
            # A stream keeps one player per connection (LiveStream.players): refuse a second play.
            self._on_status(msid, "NetStream.Play.StreamNotFound", "error", f"{name} is already playing here")
            return
        # CMD-16 (spec order): StreamBegin, Play.Reset, Play.Start, |RtmpSampleAccess, media.
        self._send(UserControl.stream_begin(msid))
        self._on_status(msid, "NetStream.Play.Reset", "status", f"Playing and resetting {name}", details=name)
        self._on_status(msid, "NetStream.Play.Start", "status", f"Started playing {name}", details=name)
        self._send(Data(("|RtmpSampleAccess", True, True)), msid=msid, csid=CSID_COMMAND)
        self.playing[msid] = stream
        stream.add_player(self, msid, self.conn.writer.chunk_size, self.caps)
        if len(self.playing) > 1:
            # Several streams' fan-outs now write to this connection's media chunk streams: none
            # may compress a header against "its" last message there (CH-8).
            for other in self.playing.values():
                player = other.players.get(self)
                if player is not None:
                    player.shared = True
                    player.desync()
        if self.relay is not None:
            self.relay.on_play(stream, self.relay_chain)  # an edge opens an unknown name at its origin
        log.info("%r playing %s/%s (publisher %s)", self, self.app, name,
                 "present" if stream.publisher is not None else "awaited")

    def _pause(self, cmd: Command, msid: int) -> None:
        stream = self.playing.get(msid)
        player = stream.players.get(self) if stream is not None else None
        if stream is None or player is None:
            return
        pause = bool(cmd.arguments[0]) if cmd.arguments else True
        if pause:
            player.loosen()
            player.paused = True
            self._on_status(msid, "NetStream.Pause.Notify", "status", "Paused")
        else:
            player.paused = False
            player.desync()
            player.waiting_keyframe = True
            self._send(UserControl.stream_begin(msid))
            self._on_status(msid, "NetStream.Unpause.Notify", "status", "Unpaused")

    def _delete_stream(self, msid: int) -> None:
        # §7.2.2.3: deleteStream gets no reply.
        stream = self.publishing.get(msid)
        if stream is not None:
            self._unpublish(msid, stream)
        stream = self.playing.get(msid)
        if stream is not None:
            self._stop_play(msid, stream)
        self.created.discard(msid)

    def _unpublish(self, msid: int, stream: LiveStream) -> None:
        self.publishing.pop(msid, None)
        req = self.publish_requests.pop(msid, None)
        if req is not None and self.access is not None:
            self.access.notify_unpublish(req)
        if stream.publisher is self:
            stream.end_publish()
            log.info("%r unpublished %s/%s", self, stream.app, stream.name)
            if not self.closed:
                self._on_status(msid, "NetStream.Unpublish.Success", "status", f"{stream.name} unpublished")
        self.registry.release_if_unused(stream)

    def _stop_play(self, msid: int, stream: LiveStream) -> None:
        self.playing.pop(msid, None)
        stream.remove_player(self)
        if self.relay is not None:
            self.relay.on_player_left(stream)
        self.registry.release_if_unused(stream)

    # -- E-RTMP Reconnect Request and drain ----------------------------------------------------

    def request_reconnect(self, tc_url: str | None = None, description: str = "") -> bool:
        """Send a Reconnect Request if the client advertised capsEx Reconnect (ERTMP-11); True if sent.

        ERTMPv2 "Reconnect Request": onStatus (transaction id 0, null command object) on the
        NetConnection with code NetConnection.Connect.ReconnectRequest, level "status", an
        optional tcUrl (absolute or relative) and an optional description.
        """
        if self.closed or not self.connected or not self.caps.reconnect:
            return False
        extra: dict[str, Any] = {}
        if tc_url:
            extra["tcUrl"] = tc_url
        self._on_status(0, RECONNECT_REQUEST, "status", description or "The server asks you to reconnect.", **extra)
        log.info("%r sent Reconnect Request (tcUrl %r)", self, tc_url)
        return True

    def close_gracefully(self, description: str) -> None:
        """Tell the client the connection ends (onStatus NetConnection.Connect.Closed), then close
        with a FIN after everything written so far (a drain's end for clients that cannot reconnect)."""
        if self.closed:
            return
        if self.connected:
            self._on_status(0, "NetConnection.Connect.Closed", "status", description)
        self.close(description)

    def _admin_drain(self, cmd: Command) -> None:
        args = cmd.arguments
        token = args[0] if args else None
        opts = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        if token != self.config.admin_token:
            # Same answer as an unknown command: the command's existence is not disclosed.
            if cmd.transaction_id:
                self._command("_error", cmd.transaction_id, None,
                              status("NetConnection.Call.Failed", "error", f"unknown command {cmd.name!r}"))
            return
        tc_url = opts.get("tcUrl")
        grace = opts.get("graceSeconds")
        assert self.drain is not None
        result = self.drain(
            tc_url=tc_url if isinstance(tc_url, str) and tc_url else None,
            description=str(opts.get("description") or "The server is being drained."),
            grace_s=float(grace) if isinstance(grace, (int, float)) and not isinstance(grace, bool) else None,
            exclude=self,
        )
        if cmd.transaction_id:
            self._command("_result", cmd.transaction_id, None, result)

    # -- Sink callbacks from the stream ------------------------------------------------------

    def _msid_of(self, stream: LiveStream) -> int | None:
        for msid, s in self.playing.items():
            if s is stream:
                return msid
        return None

    def notify_unpublish(self, stream: LiveStream) -> None:
        msid = self._msid_of(stream)
        if msid is None:
            return
        # CMD-19: StreamEOF and Play.UnpublishNotify.
        self._send(UserControl.stream_eof(msid))
        self._on_status(msid, "NetStream.Play.UnpublishNotify", "status", f"{stream.name} is now unpublished")

    def notify_publish(self, stream: LiveStream) -> None:
        msid = self._msid_of(stream)
        if msid is None:
            return
        self._send(UserControl.stream_begin(msid))
        self._on_status(msid, "NetStream.Play.PublishNotify", "status", f"{stream.name} is now published")


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0
