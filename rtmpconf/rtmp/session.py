"""The front object: handshake first, then the chunk layer, plus the automatic replies.

``Connection`` is what an asyncio server or the harness client wraps::

    conn = Connection(Role.SERVER)
    conn.receive_data(data)            # b"" = the peer closed
    while (ev := conn.next_event()) is not NEED_DATA:
        ...
        conn.send(Command(...), msid=0)    # appended to the outgoing buffer
    transport.write(conn.data_to_send())   # everything, in the order it was encoded

One output path
---------------
Every byte the connection produces goes into **one outgoing buffer**, in the order it was
encoded: handshake replies, automatic replies made while receiving, and whatever the caller
``send()``\\ s. ``data_to_send()`` drains it. This is h11's and h2's model (one buffer that
``send`` appends to and ``data_to_send`` drains), chosen over wsproto's (automatic replies
surfaced as events the caller answers) because:

* the order holds by construction, whatever the caller does: header compression (§5.3.1.2)
  makes every chunk depend on the previous one on its chunk stream, so a reply written ahead
  of a message encoded before it opens a chunk stream with fmt 1/2/3 (CH-5) or makes the peer
  inherit the wrong length and type; with two queues that is exactly what happened when one
  read carried both a trigger of an automatic reply and a command;
* the protocol's own obligations (acknowledgements, ping responses, window replies) stay in
  the core instead of being re-implemented by the reference server, the harness client, the
  load generator and the replayer;
* the harness's raw, planned and illegal bytes (``send_raw``, ``send_planned``) join the same
  buffer, so they keep their place relative to automatic replies too.

``send()`` therefore returns nothing: a caller writes ``data_to_send()`` when it wants the
bytes on the wire (the reference server after every send and after every read, the harness
client likewise, or after queueing several messages it wants in one TCP write).

Automatic behaviour (each can be turned off for the harness):
- Acknowledgement once a window's worth of bytes has arrived (§5.4.3, CTRL-1), while receiving;
- PingResponse echoing a PingRequest byte for byte (§7.1.7, CTRL-10), and
- Window Acknowledgement Size in answer to a Set Peer Bandwidth that changes the window (CTRL-3/4):
  these two when the caller takes the message's event (``next_event``), so they follow the
  caller's answers to the messages that arrived before them.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from typing import Union

from rtmpconf.rtmp.chunk import ChunkReader, ChunkWriter, ExtTsDialect, MessagePlan, RawMessage, DEFAULT_CHUNK_SIZE
from rtmpconf.rtmp.errors import LocalProtocolError, ProtocolError
from rtmpconf.rtmp.handshake import ClientHandshake, HandshakeInfo, ServerHandshake
from rtmpconf.rtmp.messages import (
    Acknowledgement, Command, Data, LimitType, Message, SetChunkSize, SetPeerBandwidth, UserControl,
    UserControlEvent, WindowAckSize, decode_message, encode_message, Audio, Video,
    MAX_COMMAND_AMF_DEPTH,
)

#: Chunk stream ids we send on. Control must be 2 (§5.4); the rest follow common practice.
CSID_CONTROL = 2
CSID_COMMAND = 3
CSID_AUDIO = 4
CSID_DATA = 5
CSID_VIDEO = 6

#: Byte counters (acks) wrap like the 32-bit sequence number they feed (CTRL-2).
SEQUENCE_MASK = 0xFFFFFFFF


class Role(enum.Enum):
    """Which side of the handshake we play (§5.2)."""

    CLIENT = "client"
    SERVER = "server"


class State(enum.Enum):
    HANDSHAKE = "handshake"
    OPEN = "open"
    CLOSED = "closed"


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


#: Returned by :meth:`Connection.next_event` when more bytes are needed.
NEED_DATA = _NeedData()


@dataclass(frozen=True, slots=True)
class HandshakeComplete:
    """The handshake finished; chunk traffic may flow."""

    info: HandshakeInfo | None  #: what the handshake learned about the peer


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A complete message arrived."""

    raw: RawMessage  #: header fields and payload bytes
    message: Message  #: the typed decoding of ``raw``


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed its side (``receive_data(b"")``)."""

    clean: bool  #: True if no message or handshake was cut short


Event = Union[HandshakeComplete, MessageReceived, ConnectionClosed]


def default_csid(type_id: int) -> int:
    """The chunk stream we send a message type on."""
    if type_id in (1, 2, 3, 4, 5, 6):
        return CSID_CONTROL
    if type_id == 8:
        return CSID_AUDIO
    if type_id == 9:
        return CSID_VIDEO
    if type_id in (15, 18):
        return CSID_DATA
    return CSID_COMMAND


class Connection:
    """One RTMP connection, either role, sans-IO."""

    def __init__(
        self,
        role: Role,
        *,
        handshake: ServerHandshake | ClientHandshake | None = None,
        reader: ChunkReader | None = None,
        out_chunk_size: int = DEFAULT_CHUNK_SIZE,
        ext_ts_on_fmt3: bool = True,
        ext_ts_dialect: ExtTsDialect = ExtTsDialect.AUTO,
        auto_ack: bool = True,
        auto_pong: bool = True,
        auto_window_reply: bool = True,
        record_chunks: bool = False,
        max_amf_depth: int = MAX_COMMAND_AMF_DEPTH,
    ) -> None:
        self.role = role
        if handshake is None:
            handshake = ServerHandshake() if role is Role.SERVER else ClientHandshake()
        self.handshake = handshake
        self.reader = reader or ChunkReader(ext_ts_dialect=ext_ts_dialect, record_chunks=record_chunks)
        self.writer = ChunkWriter(out_chunk_size, ext_ts_on_fmt3=ext_ts_on_fmt3)
        self.auto_ack = auto_ack
        self.auto_pong = auto_pong
        self.auto_window_reply = auto_window_reply
        self.max_amf_depth = max_amf_depth
        self.state = State.HANDSHAKE
        #: Every byte received, handshake included (CTRL-2: the harness allows +-3073).
        self.bytes_received = 0
        self.bytes_sent = 0
        #: The peer's Window Acknowledgement Size: we ack after this many bytes.
        self.ack_window: int | None = None
        self._last_ack_at = 0
        #: Our outgoing window as set by the peer's Set Peer Bandwidth (CTRL-4).
        self.peer_bandwidth: int | None = None
        self._peer_limit_type: int | None = None
        self._announced_window: int | None = None
        self._events: deque[Event] = deque()
        #: The one outgoing buffer: encoded pieces in encoding order (joined when drained, so
        #: a single large piece, e.g. a video frame, is handed out without a copy).
        self._out: list[bytes] = []
        self._out_len = 0
        self._error: ProtocolError | None = None
        if isinstance(handshake, ClientHandshake):
            self._queue(handshake.initial_bytes())

    # -- receiving ---------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes from the peer; ``b""`` means the peer closed."""
        if self.state is State.CLOSED:
            return
        if not data:
            clean = self.state is State.OPEN and self.reader.buffered == 0
            self.state = State.CLOSED
            self._events.append(ConnectionClosed(clean))
            return
        self.bytes_received += len(data)
        try:
            if self.state is State.HANDSHAKE:
                self.handshake.receive_data(data)
                self._queue(self.handshake.data_to_send())
                if not self.handshake.done:
                    return
                self.state = State.OPEN
                self._events.append(HandshakeComplete(self.handshake.info))
                data = self.handshake.take_leftover()
                if not data:
                    return
            self.reader.feed(data)
        except ProtocolError as exc:
            self._error = exc
        self._drain_reader()
        self._maybe_ack()

    def _drain_reader(self) -> None:
        reader = self.reader
        while True:
            raw = reader.next_message()
            if raw is None:
                return
            try:
                msg = decode_message(raw.type_id, raw.payload, max_amf_depth=self.max_amf_depth)
            except ProtocolError as exc:
                if self._error is None:
                    self._error = exc
                return
            self._react(msg)
            self._events.append(MessageReceived(raw, msg))

    def _react(self, msg: Message) -> None:
        """What a message changes at once, while receiving (acknowledgements count bytes)."""
        if isinstance(msg, WindowAckSize):
            self.ack_window = msg.size or None

    def _answer(self, msg: Message) -> None:
        """Automatic replies to ``msg``, encoded when its event is delivered (``next_event``):
        after whatever the caller sent in answer to the messages before it, so a PingResponse
        never overtakes the replies to commands that arrived ahead of the ping in the same read
        (a peer takes the PingResponse as proof that everything before it was handled)."""
        if isinstance(msg, (Audio, Video)):
            return
        if isinstance(msg, UserControl):
            if msg.event == UserControlEvent.PING_REQUEST and self.auto_pong:
                # §7.1.7: PingResponse carries the timestamp received with the request.
                self._auto_reply(UserControl.ping_response(msg.data[:4]))
        elif isinstance(msg, SetPeerBandwidth):
            self._apply_peer_bandwidth(msg)

    def _apply_peer_bandwidth(self, msg: SetPeerBandwidth) -> None:
        # §5.4.5 / CTRL-4: Hard = use the value; Soft = min(current, new); Dynamic = treat as
        # Hard only if the previous limit was Hard, otherwise ignore.
        prev_type = self._peer_limit_type
        if msg.limit_type == LimitType.HARD:
            new = msg.size
        elif msg.limit_type == LimitType.SOFT:
            new = msg.size if self.peer_bandwidth is None else min(self.peer_bandwidth, msg.size)
        elif msg.limit_type == LimitType.DYNAMIC:
            if prev_type == LimitType.HARD or prev_type is None:
                new = msg.size
            else:
                return
        else:
            return
        self.peer_bandwidth = new
        self._peer_limit_type = msg.limit_type if msg.limit_type != LimitType.DYNAMIC else LimitType.HARD
        # §5.4.5: "If the Window Acknowledgement Size ... is different from the last one sent
        # to the sender of this message, then respond with a Window Acknowledgement Size".
        if self.auto_window_reply and new != self._announced_window:
            self._auto_reply(WindowAckSize(new))

    def _maybe_ack(self) -> None:
        if not self.auto_ack or self.ack_window is None or self.state is not State.OPEN:
            return
        # §5.4.4: the receiver sends an Acknowledgement after receiving window-size bytes.
        due = self.bytes_received - self._last_ack_at
        if due >= self.ack_window:
            # Keep the ack points on window multiples, so a read that ends past a boundary does
            # not push every later ack later (one ack per read, carrying the total so far).
            self._last_ack_at += self.ack_window * (due // self.ack_window)
            self._auto_reply(Acknowledgement(self.bytes_received & SEQUENCE_MASK))

    def next_event(self) -> Event | _NeedData:
        """The next event, or NEED_DATA. A protocol error is raised after earlier events.

        Delivering a message's event encodes its automatic reply (PingResponse, a window reply)
        into the outgoing buffer: replies leave in the order their requests arrived."""
        if self._events:
            ev = self._events.popleft()
            if isinstance(ev, MessageReceived):
                self._answer(ev.message)
            return ev
        if self._error is not None:
            err, self._error = self._error, None
            self.state = State.CLOSED
            raise err
        return NEED_DATA

    def events(self) -> list[Event]:
        """Drain every pending event (raises a pending protocol error after the last one)."""
        out: list[Event] = []
        while True:
            ev = self.next_event()
            if isinstance(ev, _NeedData):
                return out
            out.append(ev)

    # -- sending -----------------------------------------------------------------------------

    def _queue(self, data: bytes) -> None:
        if data:
            self._out.append(data)
            self._out_len += len(data)

    def _auto_reply(self, msg: Message) -> None:
        """A reply the connection makes on its own while receiving: it joins the one buffer at
        the point it was encoded, ahead of anything the caller sends afterwards."""
        self.send(msg)

    @property
    def pending(self) -> int:
        """Bytes encoded and not yet taken by :meth:`data_to_send`."""
        return self._out_len

    def data_to_send(self) -> bytes:
        """Every byte produced since the last call, in encoding order: handshake, automatic
        replies, and everything sent with :meth:`send`, :meth:`send_planned` or :meth:`send_raw`."""
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        self._out_len = 0
        self.bytes_sent += len(data)
        return data

    def send(self, msg: Message, *, msid: int = 0, timestamp: int = 0, csid: int | None = None) -> None:
        """Encode a message with the smallest legal chunk headers into the outgoing buffer.

        A Set Chunk Size changes our chunk size for every chunk after its own (§5.4.1).
        """
        if self.state is State.HANDSHAKE and not self.handshake.done:
            # §5.2.1: "The client MUST wait until S2 has been received before sending any other
            # data"; the server likewise waits for C2 (HS-4).
            raise LocalProtocolError("cannot send messages before the handshake completes", rule="HS-4")
        type_id, payload = encode_message(msg)
        data = self.writer.encode(csid or default_csid(type_id), type_id, msid, timestamp, payload)
        self._out.append(data)
        self._out_len += len(data)
        if isinstance(msg, SetChunkSize):
            self.writer.set_chunk_size(msg.size)
        elif isinstance(msg, WindowAckSize):
            self._announced_window = msg.size

    def send_command(
        self, name: str, transaction_id: float, command_object: object = None, *args: object,
        msid: int = 0, csid: int | None = None,
    ) -> None:
        """Shorthand for ``send(Command(...))``."""
        self.send(Command(name, transaction_id, command_object, tuple(args)), msid=msid, csid=csid)

    def send_data(self, *values: object, msid: int = 0, timestamp: int = 0) -> None:
        self.send(Data(tuple(values)), msid=msid, timestamp=timestamp)

    def send_planned(
        self, msg: Message, plan: MessagePlan, *, msid: int = 0, timestamp: int = 0, csid: int | None = None,
    ) -> list[bytes]:
        """Encode with an explicit plan (forced fmt, csid form, chunk size...: possibly illegal
        bytes, for the harness) into the outgoing buffer; returns the chunks for inspection.

        No handshake guard and no side effects on our chunk size: a plan says exactly what to write.
        """
        type_id, payload = encode_message(msg)
        chunks = self.writer.encode_planned(csid or default_csid(type_id), type_id, msid, timestamp, payload, plan)
        self._queue(b"".join(chunks))
        return chunks

    def send_raw(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes exactly as given (harness: a held C2, chunks encoded earlier with the
        writer's plan face, garbage). They keep their place relative to automatic replies."""
        self._queue(bytes(data))
