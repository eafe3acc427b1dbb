"""Typed RTMP messages: protocol control, user control, commands, data, media, aggregate.

``decode_message(type_id, payload)`` turns a chunk-layer payload into one of these;
``encode_message(msg)`` gives back ``(type_id, payload)``. Header fields (timestamp, message
stream id, chunk stream) live in :class:`rtmp.chunk.RawMessage`, not here.
"""

from __future__ import annotations

import enum
import struct
from typing import Any, Union

from rtmpconf.records import field, record
from rtmpconf.rtmp import amf0
from rtmpconf.rtmp.chunk import RawMessage
from rtmpconf.rtmp.errors import LocalProtocolError, RemoteProtocolError

_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")

#: AMF nesting allowed in commands and data messages (AMF-5: deep nesting must not crash us).
MAX_COMMAND_AMF_DEPTH = 32


class MessageType(enum.IntEnum):
    """Message type ids (§5.4 protocol control, §6.2 user control, §7.1 RTMP messages)."""

    SET_CHUNK_SIZE = 1
    ABORT = 2
    ACKNOWLEDGEMENT = 3
    USER_CONTROL = 4
    WINDOW_ACK_SIZE = 5
    SET_PEER_BANDWIDTH = 6
    AUDIO = 8
    VIDEO = 9
    DATA_AMF3 = 15
    SHARED_OBJECT_AMF3 = 16
    COMMAND_AMF3 = 17
    DATA_AMF0 = 18
    SHARED_OBJECT_AMF0 = 19
    COMMAND_AMF0 = 20
    AGGREGATE = 22


#: Types that are protocol control messages: msid 0 and chunk stream 2 (§5.4, CH-20).
PROTOCOL_CONTROL_TYPES = frozenset({1, 2, 3, 5, 6})


class LimitType(enum.IntEnum):
    """Set Peer Bandwidth limit types (§5.4.5)."""

    HARD = 0
    SOFT = 1
    DYNAMIC = 2


class UserControlEvent(enum.IntEnum):
    """User control event types (§7.1.7)."""

    STREAM_BEGIN = 0
    STREAM_EOF = 1
    STREAM_DRY = 2
    SET_BUFFER_LENGTH = 3
    STREAM_IS_RECORDED = 4
    PING_REQUEST = 6
    PING_RESPONSE = 7
    #: Undocumented but common (CTRL-11): FMS/nginx buffer notifications.
    BUFFER_EMPTY = 31
    BUFFER_READY = 32


@record(frozen=True, slots=True)
class SetChunkSize:
    """Protocol control 1: the sender's new maximum chunk size (§5.4.1)."""

    size: int  #: new chunk size, 1..0x7FFFFFFF


@record(frozen=True, slots=True)
class Abort:
    """Protocol control 2: discard the partial message on a chunk stream (§5.4.2)."""

    csid: int  #: chunk stream whose partial message is dropped


@record(frozen=True, slots=True)
class Acknowledgement:
    """Protocol control 3: bytes received so far (§5.4.3)."""

    sequence: int  #: total bytes received, modulo 2**32


@record(frozen=True, slots=True)
class WindowAckSize:
    """Protocol control 5: ack after this many bytes (§5.4.4)."""

    size: int  #: window in bytes


@record(frozen=True, slots=True)
class SetPeerBandwidth:
    """Protocol control 6: limit the peer's output bandwidth (§5.4.5)."""

    size: int  #: window in bytes
    limit_type: int  #: LimitType value (kept as int so unknown values survive)


@record(frozen=True, slots=True)
class UserControl:
    """User control message (type 4): event type + event data (§6.2, §7.1.7)."""

    event: int  #: UserControlEvent value (unknown values are kept, CTRL-11)
    data: bytes = b""  #: event data as sent

    @property
    def stream_id(self) -> int | None:
        """The 4-byte stream id of StreamBegin/EOF/Dry/IsRecorded/SetBufferLength."""
        return _U32.unpack_from(self.data, 0)[0] if len(self.data) >= 4 else None

    @property
    def buffer_ms(self) -> int | None:
        """SetBufferLength's buffer length in ms."""
        if self.event == UserControlEvent.SET_BUFFER_LENGTH and len(self.data) >= 8:
            return int(_U32.unpack_from(self.data, 4)[0])
        return None

    @property
    def ping_time(self) -> int | None:
        """PingRequest/PingResponse timestamp."""
        return _U32.unpack_from(self.data, 0)[0] if len(self.data) >= 4 else None

    @classmethod
    def stream_begin(cls, stream_id: int) -> UserControl:
        return cls(UserControlEvent.STREAM_BEGIN, _U32.pack(stream_id))

    @classmethod
    def stream_eof(cls, stream_id: int) -> UserControl:
        return cls(UserControlEvent.STREAM_EOF, _U32.pack(stream_id))

    @classmethod
    def stream_dry(cls, stream_id: int) -> UserControl:
        return cls(UserControlEvent.STREAM_DRY, _U32.pack(stream_id))

    @classmethod
    def stream_is_recorded(cls, stream_id: int) -> UserControl:
        return cls(UserControlEvent.STREAM_IS_RECORDED, _U32.pack(stream_id))

    @classmethod
    def set_buffer_length(cls, stream_id: int, ms: int) -> UserControl:
        return cls(UserControlEvent.SET_BUFFER_LENGTH, _U32.pack(stream_id) + _U32.pack(ms))

    @classmethod
    def ping_request(cls, time_ms: int) -> UserControl:
        return cls(UserControlEvent.PING_REQUEST, _U32.pack(time_ms & 0xFFFFFFFF))

    @classmethod
    def ping_response(cls, data: bytes) -> UserControl:
        """CTRL-10: the response echoes the request's 4 bytes exactly."""
        return cls(UserControlEvent.PING_RESPONSE, bytes(data))


@record(frozen=True, slots=True)
class Command:
    """Command message, type 20 (AMF0) or 17 (AMF3 with a 0x00 selector) (§7.1.1, §7.2)."""

    name: str  #: procedure name ("connect", "publish", "_result", "onStatus", ...)
    transaction_id: float  #: transaction id (0 when no reply is expected)
    command_object: Any = None  #: command object (dict) or None (AMF null)
    arguments: tuple[Any, ...] = ()  #: optional arguments after the command object
    amf3: bool = False  #: sent as type 17


@record(frozen=True, slots=True)
class Data:
    """Data message, type 18 (AMF0) or 15 (AMF3): metadata, @setDataFrame, |RtmpSampleAccess."""

    values: tuple[Any, ...]  #: the AMF values, handler name first
    amf3: bool = False  #: sent as type 15

    @property
    def name(self) -> str | None:
        """The handler name (first value) if it is a string."""
        return self.values[0] if self.values and isinstance(self.values[0], str) else None


@record(frozen=True, slots=True)
class Audio:
    """Audio message (type 8): an FLV audio tag body (FLV E.4.2); see rtmp.media."""

    payload: bytes  #: tag body


@record(frozen=True, slots=True)
class Video:
    """Video message (type 9): an FLV video tag body (FLV E.4.3); see rtmp.media."""

    payload: bytes  #: tag body


@record(frozen=True, slots=True)
class SharedObject:
    """Shared object message (19 AMF0 / 16 AMF3): kept opaque, we implement none (CTRL-12)."""

    payload: bytes  #: raw body
    amf3: bool = False  #: sent as type 16


@record(frozen=True, slots=True)
class Aggregate:
    """Aggregate message (type 22): sub-messages with FLV-like headers (§7.1.6, CTRL-13)."""

    payload: bytes  #: raw body

    def sub_messages(self, msid: int, timestamp: int, csid: int = 0) -> list[RawMessage]:
        """Split into sub-messages; timestamps offset so the first equals ``timestamp``.

        §7.1.6: the aggregate's message stream id overrides the sub-messages' ids, and each
        sub-message timestamp is shifted by (aggregate timestamp - first sub timestamp).
        """
        out: list[RawMessage] = []
        data = self.payload
        pos = 0
        offset: int | None = None
        while pos < len(data):
            if len(data) - pos < 11:
                raise RemoteProtocolError("aggregate sub-header truncated", rule="CTRL-13")
            type_id = data[pos]
            length = int.from_bytes(data[pos + 1:pos + 4], "big")
            ts = int.from_bytes(data[pos + 4:pos + 7], "big") | (data[pos + 7] << 24)
            body_start = pos + 11
            body_end = body_start + length
            if body_end + 4 > len(data):
                raise RemoteProtocolError("aggregate sub-message runs past the end", rule="CTRL-13")
            if offset is None:
                offset = (timestamp - ts) & 0xFFFFFFFF
            out.append(RawMessage(csid, type_id, msid, (ts + offset) & 0xFFFFFFFF, data[body_start:body_end]))
            pos = body_end + 4  # skip the back pointer
        return out

    @classmethod
    def build(cls, subs: list[tuple[int, int, bytes]]) -> Aggregate:
        """Build from (type_id, timestamp, body) triples (sub msid written as 0)."""
        parts: list[bytes] = []
        for type_id, ts, body in subs:
            head = bytes((type_id,)) + len(body).to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(3, "big")
            head += bytes(((ts >> 24) & 0xFF,)) + b"\x00\x00\x00"
            parts.append(head + body + _U32.pack(11 + len(body)))
        return cls(b"".join(parts))


@record(frozen=True, slots=True)
class UnknownMessage:
    """A message type we do not implement; kept so it can be ignored, logged or relayed."""

    type_id: int  #: the type id as received
    payload: bytes = field(default=b"")  #: raw body


Message = Union[
    SetChunkSize, Abort, Acknowledgement, WindowAckSize, SetPeerBandwidth, UserControl,
    Command, Data, Audio, Video, SharedObject, Aggregate, UnknownMessage,
]


def _u32(payload: bytes, what: str) -> int:
    if len(payload) < 4:
        # CTRL-5: short control payloads are refused, never read out of bounds.
        raise RemoteProtocolError(f"{what} payload is {len(payload)} bytes, needs 4", rule="CTRL-5")
    return int(_U32.unpack_from(payload, 0)[0])


def _decode_command(payload: bytes, amf3: bool, max_depth: int) -> Command:
    body: bytes | memoryview = payload
    if amf3:
        # CMD-2: type 17 starts with a one-byte format selector (0x00 = AMF0 follows).
        if not payload:
            raise RemoteProtocolError("empty AMF3 command", rule="CMD-2")
        body = memoryview(payload)[1:]
    values = [_unwrap(v) for v in amf0.decode_all(body, max_depth=max_depth)]
    # §7.1.1: command name (string), transaction id (number), command object, arguments.
    if len(values) < 2 or not isinstance(values[0], str):
        raise RemoteProtocolError("command without a string name", rule="CMD-1")
    tid = values[1]
    if isinstance(tid, bool) or not isinstance(tid, (int, float)):
        raise RemoteProtocolError(f"command {values[0]!r} has a non-number transaction id", rule="CMD-1")
    obj = values[2] if len(values) > 2 else None
    return Command(values[0], float(tid), obj, tuple(values[3:]), amf3)


def _unwrap(value: Any) -> Any:
    # CMD-2: after the 0x11 avmplus marker one value is AMF3; hand callers the plain value.
    return value.value if isinstance(value, amf0.Amf3Value) else value


def decode_message(type_id: int, payload: bytes, *, max_amf_depth: int = MAX_COMMAND_AMF_DEPTH) -> Message:
    """Decode a payload by type id (CH-20: the type decides, never the chunk stream)."""
    if type_id == 8:
        return Audio(payload)
    if type_id == 9:
        return Video(payload)
    if type_id == 20:
        return _decode_command(payload, False, max_amf_depth)
    if type_id == 17:
        return _decode_command(payload, True, max_amf_depth)
    if type_id == 18:
        return Data(tuple(amf0.decode_all(payload, max_depth=max_amf_depth)))
    if type_id == 15:
        if not payload:
            return Data((), True)
        values = amf0.decode_all(memoryview(payload)[1:], max_depth=max_amf_depth)
        return Data(tuple(_unwrap(v) for v in values), True)
    if type_id == 1:
        return SetChunkSize(_u32(payload, "Set Chunk Size"))
    if type_id == 2:
        return Abort(_u32(payload, "Abort"))
    if type_id == 3:
        return Acknowledgement(_u32(payload, "Acknowledgement"))
    if type_id == 5:
        return WindowAckSize(_u32(payload, "Window Acknowledgement Size"))
    if type_id == 6:
        size = _u32(payload, "Set Peer Bandwidth")
        if len(payload) < 5:
            raise RemoteProtocolError("Set Peer Bandwidth without a limit type", rule="CTRL-5")
        return SetPeerBandwidth(size, payload[4])
    if type_id == 4:
        if len(payload) < 2:
            raise RemoteProtocolError("User Control message shorter than its event type", rule="CTRL-5")
        return UserControl(_U16.unpack_from(payload, 0)[0], bytes(payload[2:]))
    if type_id == 22:
        return Aggregate(payload)
    if type_id in (16, 19):
        return SharedObject(payload, type_id == 16)
    return UnknownMessage(type_id, payload)


def encode_message(msg: Message) -> tuple[int, bytes]:
    """(type_id, payload) for a typed message."""
    if isinstance(msg, (Audio, Video)):
        return (8 if isinstance(msg, Audio) else 9), msg.payload
    if isinstance(msg, Command):
        body = amf0.encode_all(msg.name, msg.transaction_id, msg.command_object, *msg.arguments)
        return (17, b"\x00" + body) if msg.amf3 else (20, body)
    if isinstance(msg, Data):
        body = amf0.encode_all(*msg.values)
        return (15, b"\x00" + body) if msg.amf3 else (18, body)
    if isinstance(msg, SetChunkSize):
        if not 1 <= msg.size <= 0x7FFFFFFF:
            raise LocalProtocolError(f"chunk size {msg.size} outside 1..0x7FFFFFFF", rule="CH-15")
        return 1, _U32.pack(msg.size)
    if isinstance(msg, Abort):
        return 2, _U32.pack(msg.csid)
    if isinstance(msg, Acknowledgement):
        return 3, _U32.pack(msg.sequence & 0xFFFFFFFF)
    if isinstance(msg, WindowAckSize):
        return 5, _U32.pack(msg.size)
    if isinstance(msg, SetPeerBandwidth):
        return 6, _U32.pack(msg.size) + bytes((msg.limit_type & 0xFF,))
    if isinstance(msg, UserControl):
        return 4, _U16.pack(msg.event) + msg.data
    if isinstance(msg, Aggregate):
        return 22, msg.payload
    if isinstance(msg, SharedObject):
        return (16 if msg.amf3 else 19), msg.payload
    if isinstance(msg, UnknownMessage):
        return msg.type_id, msg.payload
    raise LocalProtocolError(f"cannot encode {type(msg).__name__}")


def status_info(msg: Message) -> dict[str, Any] | None:
    """The info object of an onStatus command (CMD-18), or None."""
    if isinstance(msg, Command) and msg.name == "onStatus":
        for candidate in (*msg.arguments, msg.command_object):
            if isinstance(candidate, dict) and "code" in candidate:
                return candidate
    return None
