"""RTMP chunk stream: the reader (chunks -> messages) and the writer (messages -> chunks).

Adobe RTMP 1.0 §5.3. Everything here is sans-IO: ``ChunkReader.feed(bytes)`` and
``ChunkWriter.encode(...) -> bytes``. Timestamps are 32-bit millisecond values; arithmetic is
modulo 2**32 (RFC 1982 serial arithmetic for "backwards", TS-7).

Hot-path notes: the reader never loops per byte; it slices a memoryview of the current read
buffer and joins a message's pieces once, when the message is complete.
"""

from __future__ import annotations

import enum
import struct
from collections import deque
from typing import NamedTuple

from rtmpconf.records import record
from rtmpconf.rtmp.errors import LimitExceeded, LocalProtocolError, RemoteProtocolError

# -- constants ---------------------------------------------------------------------------------

#: §5.4.1: "The maximum chunk size defaults to 128 bytes".
DEFAULT_CHUNK_SIZE = 128
#: §5.4.1: valid Set Chunk Size values are 1..0x7FFFFFFF (bit 31 must be zero).
MIN_CHUNK_SIZE = 1
MAX_CHUNK_SIZE = 0x7FFFFFFF
#: The message length field is 24 bits, so no message can be longer (CH-19).
MAX_MESSAGE_LENGTH = 0xFFFFFF
#: A 24-bit timestamp field holding this value means "read the 4-byte extended field" (§5.3.1.3).
EXTENDED_TIMESTAMP_MARKER = 0xFFFFFF
#: Chunk stream ids 64..65599 are reachable with the 3-byte basic header (§5.3.1.1).
MAX_CSID = 65599
#: Known chunk streams kept at once; each costs a small state object (ROB-3: bounded memory).
MAX_CHUNK_STREAMS = 4096
#: Chunk streams that may hold a half-assembled message at once (ROB-1, ROB-3).
MAX_OPEN_MESSAGES = 256
#: Total payload bytes parked in half-assembled messages across all chunk streams (ROB-1).
MAX_PARTIAL_BYTES = 64 * 1024 * 1024
#: Pieces of a half-assembled message shorter than this are copied into one growing buffer
#: instead of kept as views: a view costs ~200 bytes, so a 16 MiB message in 1-byte chunks
#: (legal, CH-15) would otherwise hold 3 GiB of views for 16 MiB of payload (ROB-1).
SMALL_PIECE = 512
#: Chunks at least this long are taken in pieces as their bytes arrive instead of waiting for the
#: whole chunk: with a chunk size up to 16 MiB (CH-15), waiting would copy the read buffer again
#: on every read (quadratic) and hold a huge chunk twice.
SPLIT_CHUNK = 64 * 1024

TIMESTAMP_MASK = 0xFFFFFFFF
#: Serial arithmetic: a delta at or above this value is a step backwards (RFC 1982, TS-7/TS-8).
HALF_RANGE = 0x80000000

#: Message type ids handled by the chunk layer itself.
TYPE_SET_CHUNK_SIZE = 1
TYPE_ABORT = 2

_HBHBB = struct.Struct(">HBHBB")  # 24-bit ts/delta, 24-bit length, type id (fmt 0 and fmt 1)
_HB = struct.Struct(">HB")  # 24-bit delta (fmt 2)
_U32BE = struct.Struct(">I")
_U32LE = struct.Struct("<I")


class ExtTsDialect(enum.Enum):
    """How a reader treats the extended timestamp on fmt-3 chunks (§5.3.1.3, TS-4/TS-5)."""

    AUTO = "auto"  #: peek the 4 bytes and consume them only if they equal the expected value
    PRESENT = "present"  #: always present (2012 spec text, FFmpeg, nginx with time fix)
    OMITTED = "omitted"  #: never present (pre-2024 OBS librtmp, rtmpdump)


# -- data --------------------------------------------------------------------------------------


@record(frozen=True, slots=True)
class RawMessage:
    """One complete RTMP message as the chunk layer sees it (header fields + payload bytes)."""

    csid: int  #: chunk stream id the message arrived on (or is to be sent on)
    type_id: int  #: message type id (§5.4, §7.1)
    msid: int  #: message stream id (little-endian on the wire, §5.3.1.2.1)
    timestamp: int  #: absolute 32-bit timestamp in ms, after delta accumulation
    payload: bytes  #: the whole message payload


@record(frozen=True, slots=True)
class ChunkRecord:
    """One decoded chunk, kept for wire-log checkers when the reader records chunks."""

    offset: int  #: stream offset of the chunk's first byte (counted from the reader's start)
    fmt: int  #: header format 0..3
    csid: int  #: chunk stream id
    basic_header_len: int  #: 1, 2 or 3 bytes
    header_len: int  #: basic + message header + extended timestamp bytes
    ts_field: int | None  #: the 24-bit timestamp/delta field (None for fmt 3)
    extended: int | None  #: the extended timestamp value read with this chunk, if any
    ext_on_fmt3: bool | None  #: for fmt 3 after an extended header: whether the 4 bytes were there
    payload_len: int  #: payload bytes in this chunk
    message_length: int  #: the message length in force
    type_id: int  #: the message type in force
    msid: int  #: the message stream id in force
    timestamp: int  #: absolute timestamp of the message this chunk belongs to
    delta: int  #: the delta in force after this chunk's header
    starts_message: bool  #: first chunk of a message
    completes_message: bool  #: last chunk of a message


@record(frozen=True, slots=True)
class ReaderNotice:
    """Something the reader tolerated instead of failing; reported so checkers can see it."""

    offset: int  #: stream offset of the chunk that caused it
    csid: int  #: chunk stream concerned
    rule: str  #: catalogue rule ID
    text: str  #: what happened


class _InStream:
    """Receive state of one chunk stream (§5.3.1.2: what later headers inherit)."""

    __slots__ = (
        "timestamp", "delta", "length", "type_id", "msid", "ext", "ext_value",
        "parts", "received", "msg_ts",
    )

    def __init__(self) -> None:
        self.timestamp = 0
        self.delta = 0
        self.length = 0
        self.type_id = 0
        self.msid = 0
        self.ext = False  # the last fmt 0/1/2 header carried an extended timestamp
        self.ext_value = 0
        self.parts: list[memoryview | bytes | bytearray] = []
        self.received = 0  # bytes of the message being assembled; 0 = none in progress
        self.msg_ts = 0


# -- reader ------------------------------------------------------------------------------------


class ChunkReader:
    """Turns a byte stream (after the handshake) into complete RawMessages.

    Set Chunk Size (type 1) and Abort (type 2) are applied by the reader itself the moment
    they complete, so the new chunk size governs the very next chunk even when it is already
    buffered (CH-16). They are still delivered as messages.
    """

    def __init__(
        self,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        ext_ts_dialect: ExtTsDialect = ExtTsDialect.AUTO,
        max_message_length: int = MAX_MESSAGE_LENGTH,
        max_chunk_streams: int = MAX_CHUNK_STREAMS,
        max_open_messages: int = MAX_OPEN_MESSAGES,
        max_partial_bytes: int = MAX_PARTIAL_BYTES,
        min_chunk_size: int = MIN_CHUNK_SIZE,
        max_chunk_size: int = MAX_CHUNK_SIZE,
        record_chunks: bool = False,
    ) -> None:
        self.chunk_size = chunk_size
        self.ext_ts_dialect = ext_ts_dialect
        self.max_message_length = max_message_length
        self.max_chunk_streams = max_chunk_streams
        self.max_open_messages = max_open_messages
        self.max_partial_bytes = max_partial_bytes
        self.min_chunk_size = min_chunk_size
        self.max_chunk_size = max_chunk_size
        self.consumed = 0  #: bytes consumed as whole chunks so far
        self.chunks_read = 0  #: whole chunks consumed so far
        self.chunks: list[ChunkRecord] | None = [] if record_chunks else None
        self.notices: list[ReaderNotice] = []
        #: fmt-3 chunks after an extended header that carried / omitted the 4 bytes (TS-4).
        self.fmt3_ext_present = 0
        self.fmt3_ext_omitted = 0
        self._streams: dict[int, _InStream] = {}
        self._open = 0  # chunk streams with a message in progress
        self._partial_bytes = 0
        self._messages: deque[RawMessage] = deque()
        self._buf: bytes = b""
        self._eof = False
        #: A chunk whose header is committed and whose payload is still arriving:
        #: (stream, csid, payload bytes still to come, whether it completes its message).
        self._split: tuple[_InStream, int, int, bool] | None = None
        self._split_bytes = 0  # header and payload bytes of that chunk taken so far

    # public API

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Add received bytes and decode every complete chunk they finish."""
        if not data:
            self._eof = True
            self._parse()
            return
        self._buf = self._buf + bytes(data) if self._buf else bytes(data)
        self._parse()

    def next_message(self) -> RawMessage | None:
        """The next complete message, or None when more bytes are needed."""
        return self._messages.popleft() if self._messages else None

    def messages(self) -> list[RawMessage]:
        """Drain every complete message decoded so far."""
        out = list(self._messages)
        self._messages.clear()
        return out

    @property
    def buffered(self) -> int:
        """Bytes received but not yet consumed as whole chunks."""
        return len(self._buf) + self._split_bytes

    def set_chunk_size(self, size: int) -> None:
        """Apply an incoming chunk size (normally done automatically on type 1)."""
        self.chunk_size = size

    # internals

    def _parse(self) -> None:
        data = self._buf
        end = len(data)
        pos = 0
        mv = memoryview(data)
        streams = self._streams
        chunks = self.chunks
        count = 0
        try:
            if self._split is not None:
                pos = self._continue_split(mv, end)
                if self._split is not None:
                    return
            while pos < end:
                b0 = data[pos]
                fmt = b0 >> 6
                csid = b0 & 0x3F
                p = pos + 1
                # §5.3.1.1: "Value 0 indicates the 2 byte form and an ID in the range of
                # 64-319 (the second byte + 64). Value 1 indicates the 3 byte form and an ID
                # in the range of 64-65599 ((the third byte)*256 + the second byte + 64)."
                if csid == 0:
                    if end - p < 1:
                        break
                    csid = data[p] + 64
                    p += 1
                elif csid == 1:
                    if end - p < 2:
                        break
                    csid = data[p] + (data[p + 1] << 8) + 64
                    p += 2
                basic_len = p - pos
                st = streams.get(csid)
                ts_field: int | None = None
                ext_read: int | None = None
                ext_on_fmt3: bool | None = None
                if fmt == 0:
                    if end - p < 11:
                        break
                    hi, lo, lhi, llo, type_id = _HBHBB.unpack_from(data, p)
                    msid = _U32LE.unpack_from(data, p + 7)[0]
                    ts_field = (hi << 8) | lo
                    length = (lhi << 8) | llo
                    p += 11
                elif fmt == 1:
                    if end - p < 7:
                        break
                    hi, lo, lhi, llo, type_id = _HBHBB.unpack_from(data, p)
                    ts_field = (hi << 8) | lo
                    length = (lhi << 8) | llo
                    p += 7
                    msid = st.msid if st is not None else 0
                elif fmt == 2:
                    if end - p < 3:
                        break
                    hi, lo = _HB.unpack_from(data, p)
                    ts_field = (hi << 8) | lo
                    p += 3
                    if st is None:
                        raise RemoteProtocolError(
                            f"chunk stream {csid} starts with fmt 2: no length or type to inherit",
                            rule="CH-8",
                        )
                    length, type_id, msid = st.length, st.type_id, st.msid
                else:
                    if st is None:
                        raise RemoteProtocolError(
                            f"chunk stream {csid} starts with fmt 3: nothing to inherit", rule="CH-8"
                        )
                    length, type_id, msid = st.length, st.type_id, st.msid

                if ts_field == EXTENDED_TIMESTAMP_MARKER:
                    # §5.3.1.3: the 24-bit field set to 0xFFFFFF means a 4-byte extended
                    # timestamp follows the message header.
                    if end - p < 4:
                        break
                    ext_read = _U32BE.unpack_from(data, p)[0]
                    p += 4
                elif fmt == 3 and st is not None and st.ext:
                    # §5.3.1.3 (2012): a type-3 chunk carries the extended field whenever the
                    # last type 0/1/2 header on the stream did. Older writers omit it (TS-4);
                    # in AUTO mode peek and consume only an exact match (TS-5).
                    dialect = self.ext_ts_dialect
                    if dialect is ExtTsDialect.PRESENT:
                        if end - p < 4:
                            break
                        ext_read = _U32BE.unpack_from(data, p)[0]
                        p += 4
                        ext_on_fmt3 = True
                    elif dialect is ExtTsDialect.OMITTED:
                        ext_on_fmt3 = False
                    else:
                        if end - p < 4 and not self._eof:
                            break
                        peek = _U32BE.unpack_from(data, p)[0] if end - p >= 4 else None
                        if st.received:
                            expected = (st.ext_value, st.msg_ts)
                        else:
                            expected = (st.ext_value, (st.timestamp + st.delta) & TIMESTAMP_MASK)
                        if peek is not None and peek in expected:
                            ext_read = peek
                            p += 4
                            ext_on_fmt3 = True
                        else:
                            ext_on_fmt3 = False

                # Resolve the message this chunk belongs to.
                if st is None:
                    if len(streams) >= self.max_chunk_streams:
                        raise LimitExceeded(
                            f"more than {self.max_chunk_streams} chunk streams in use",
                            limit="MAX_CHUNK_STREAMS", rule="ROB-3",
                        )
                    if fmt == 1:
                        self.notices.append(ReaderNotice(
                            self.consumed + pos, csid, "CH-8",
                            "chunk stream started with fmt 1; message stream id taken as 0",
                        ))
                    st = _InStream()
                    new_stream = True
                else:
                    new_stream = False

                continuing = st.received > 0 and fmt == 3
                if st.received > 0 and fmt != 3:
                    # CH-12: a half-received message may only be continued with fmt 3. We
                    # discard the partial message and start afresh (documented policy).
                    self.notices.append(ReaderNotice(
                        self.consumed + pos, csid, "CH-12",
                        f"fmt {fmt} header while a {st.length}-byte message had {st.received} bytes;"
                        " partial message discarded",
                    ))
                    self._drop_partial(st)

                if continuing:
                    ts = st.msg_ts
                    delta = st.delta
                else:
                    if length > self.max_message_length:
                        raise LimitExceeded(
                            f"message length {length} exceeds limit {self.max_message_length}",
                            limit="max_message_length", rule="CH-19",
                        )
                    if fmt == 0:
                        ts = ext_read if ext_read is not None else ts_field  # type: ignore[assignment]
                        delta = ts  # §5.3.1.2.4 Example 1: a later fmt 3 reuses this as delta
                    elif fmt == 3:
                        delta = st.delta
                        ts = (st.timestamp + delta) & TIMESTAMP_MASK
                    else:
                        # §5.3.1.2.5 / TS-3: for fmt 1/2 the extended field holds the delta.
                        delta = ext_read if ext_read is not None else ts_field  # type: ignore[assignment]
                        ts = ((st.timestamp if not new_stream else 0) + delta) & TIMESTAMP_MASK

                remaining = length - st.received if continuing else length
                n = remaining if remaining < self.chunk_size else self.chunk_size
                split = end - p < n
                if split and (n < SPLIT_CHUNK or end == p):
                    break  # wait for the whole chunk; nothing committed yet

                # Commit the chunk.
                count += 1
                if new_stream:
                    streams[csid] = st
                if fmt != 3:
                    st.ext = ext_read is not None
                    if ext_read is not None:
                        st.ext_value = ext_read
                elif ext_on_fmt3 is not None:
                    if ext_on_fmt3:
                        self.fmt3_ext_present += 1
                    else:
                        self.fmt3_ext_omitted += 1
                starts = not continuing
                if starts:
                    st.length = length
                    st.type_id = type_id
                    st.msid = msid
                    st.delta = delta
                    st.timestamp = ts
                    st.msg_ts = ts
                chunk_end = p + n
                complete = (st.received + n) == length if continuing else n == length
                if chunks is not None:
                    chunks.append(ChunkRecord(
                        self.consumed + pos, fmt, csid, basic_len, p - pos, ts_field, ext_read,
                        ext_on_fmt3, n, length, type_id, msid, ts, st.delta, starts, complete,
                    ))
                if split:
                    # A big chunk, partly here: keep what arrived, the rest follows in later feeds.
                    self._add_piece(st, mv[p:end])
                    self._split = (st, csid, chunk_end - end, complete)
                    self._split_bytes = end - pos
                    pos = end
                    break
                if complete:
                    if st.parts:
                        st.parts.append(mv[p:chunk_end])
                        payload = b"".join(st.parts)
                        self._partial_bytes -= st.received
                        self._open -= 1
                        st.parts = []
                        st.received = 0
                    else:
                        payload = bytes(mv[p:chunk_end])
                    msg = RawMessage(csid, type_id, msid, ts, payload)
                    self._messages.append(msg)
                    pos = chunk_end
                    if type_id == TYPE_SET_CHUNK_SIZE or type_id == TYPE_ABORT:
                        self._apply_control(msg, pos)
                else:
                    self._add_piece(st, mv[p:chunk_end])
                    pos = chunk_end
        finally:
            self.consumed += pos
            self.chunks_read += count
            if pos:
                # Keep only the unconsumed tail; partial payload views keep their own buffer.
                self._buf = data[pos:]

    def _add_piece(self, st: _InStream, piece: memoryview) -> None:
        """Park a piece of a message that is not complete yet (bounded: ROB-1)."""
        parts = st.parts
        if not parts:
            if self._open >= self.max_open_messages:
                raise LimitExceeded(
                    f"more than {self.max_open_messages} chunk streams hold partial messages",
                    limit="MAX_OPEN_MESSAGES", rule="ROB-1",
                )
            self._open += 1
        n = len(piece)
        if n >= SMALL_PIECE:
            parts.append(piece)
        elif parts and parts[-1].__class__ is bytearray:
            parts[-1] += piece
        else:
            parts.append(bytearray(piece))
        st.received += n
        self._partial_bytes += n
        if self._partial_bytes > self.max_partial_bytes:
            raise LimitExceeded(
                f"{self._partial_bytes} bytes parked in partial messages",
                limit="MAX_PARTIAL_BYTES", rule="ROB-1",
            )

    def _continue_split(self, mv: memoryview, end: int) -> int:
        """Take the next bytes of a chunk taken in pieces; returns the position after them."""
        assert self._split is not None
        st, csid, left, completes = self._split
        take = left if left < end else end
        if take:
            self._add_piece(st, mv[:take])
        left -= take
        if left:
            self._split = (st, csid, left, completes)
            self._split_bytes += take
            return take
        self._split = None
        self._split_bytes = 0
        if completes:
            payload = b"".join(st.parts)
            self._partial_bytes -= st.received
            self._open -= 1
            st.parts = []
            st.received = 0
            msg = RawMessage(csid, st.type_id, st.msid, st.msg_ts, payload)
            self._messages.append(msg)
            if msg.type_id == TYPE_SET_CHUNK_SIZE or msg.type_id == TYPE_ABORT:
                self._apply_control(msg, take)
        return take

    def _drop_partial(self, st: _InStream) -> None:
        if st.received:
            self._partial_bytes -= st.received
            self._open -= 1
        st.parts = []
        st.received = 0

    def _apply_control(self, msg: RawMessage, pos: int) -> None:
        payload = msg.payload
        if msg.type_id == TYPE_SET_CHUNK_SIZE:
            if len(payload) < 4:
                raise RemoteProtocolError(
                    f"Set Chunk Size payload is {len(payload)} bytes, needs 4", rule="CTRL-5"
                )
            value = _U32BE.unpack_from(payload, 0)[0]
            # §5.4.1: "The first bit of the data field MUST be zero."
            if value & 0x80000000:
                raise RemoteProtocolError(f"Set Chunk Size 0x{value:08X} has bit 31 set", rule="CH-15")
            # §5.4.1: "This field holds the new maximum chunk size, which MUST be at least 1".
            if value < max(1, self.min_chunk_size):
                raise RemoteProtocolError(
                    f"Set Chunk Size {value} below the minimum {max(1, self.min_chunk_size)}", rule="CH-15"
                )
            if value > self.max_chunk_size:
                raise LimitExceeded(
                    f"Set Chunk Size {value} above the limit {self.max_chunk_size}",
                    limit="max_chunk_size", rule="CH-15",
                )
            # Values above 0xFFFFFF are equivalent: no message is longer than that.
            self.chunk_size = min(value, MAX_MESSAGE_LENGTH)
        elif msg.type_id == TYPE_ABORT:
            if len(payload) < 4:
                raise RemoteProtocolError(f"Abort payload is {len(payload)} bytes, needs 4", rule="CTRL-5")
            target = _U32BE.unpack_from(payload, 0)[0]
            st = self._streams.get(target)
            # §5.4.2: the receiver "discard[s] the partially received message over a chunk stream".
            if st is not None:
                self._drop_partial(st)


# -- writer ------------------------------------------------------------------------------------


def basic_header(fmt: int, csid: int, form: int | None = None) -> bytes:
    """Encode a chunk basic header; ``form`` forces the 1/2/3-byte form (may be illegal)."""
    if form is None:
        form = 1 if csid < 64 else (2 if csid < 320 else 3)
    if form == 1:
        return bytes(((fmt << 6) | (csid & 0x3F),))
    if form == 2:
        return bytes(((fmt << 6), (csid - 64) & 0xFF))
    v = (csid - 64) & 0xFFFF
    # CH-3: in the 3-byte form the third byte is the high byte.
    return bytes(((fmt << 6) | 1, v & 0xFF, v >> 8))


def _validate_csid(csid: int) -> None:
    if not 2 <= csid <= MAX_CSID:
        raise LocalProtocolError(f"chunk stream id {csid} outside 2..{MAX_CSID}", rule="CH-1")


def message_header(fmt: int, ts_field: int, length: int, type_id: int, msid: int) -> bytes:
    """The fmt 0/1/2 message header followed by the extended timestamp when needed (TS-2)."""
    wire_ts = EXTENDED_TIMESTAMP_MARKER if ts_field >= EXTENDED_TIMESTAMP_MARKER else ts_field
    if fmt == 0:
        head = _HBHBB.pack(wire_ts >> 8, wire_ts & 0xFF, length >> 8, length & 0xFF, type_id) + _U32LE.pack(msid)
    elif fmt == 1:
        head = _HBHBB.pack(wire_ts >> 8, wire_ts & 0xFF, length >> 8, length & 0xFF, type_id)
    elif fmt == 2:
        head = _HB.pack(wire_ts >> 8, wire_ts & 0xFF)
    else:
        head = b""
    if ts_field >= EXTENDED_TIMESTAMP_MARKER:
        head += _U32BE.pack(ts_field & TIMESTAMP_MASK)
    return head


def chunk_message(
    csid: int,
    fmt: int,
    ts_field: int,
    type_id: int,
    msid: int,
    payload: bytes | memoryview,
    chunk_size: int,
    *,
    ext_ts_on_fmt3: bool = True,
    csid_form: int | None = None,
    continuation_fmt: int = 3,
    length_field: int | None = None,
) -> list[bytes]:
    """Split one message into chunks: the first with a ``fmt`` header, the rest fmt 3.

    ``ts_field`` is the absolute timestamp for fmt 0 and the delta for fmt 1/2; for fmt 3 it is
    the inherited delta, used only to decide whether the extended field is written.
    Returns the chunks separately so a caller can interleave them with other chunk streams.
    """
    length = len(payload) if length_field is None else length_field
    first = basic_header(fmt, csid, csid_form) + (
        message_header(fmt, ts_field, length, type_id, msid)
        if fmt != 3
        else (_U32BE.pack(ts_field & TIMESTAMP_MASK) if ts_field >= EXTENDED_TIMESTAMP_MARKER and ext_ts_on_fmt3 else b"")
    )
    size = len(payload)
    if size <= chunk_size:
        return [first + bytes(payload)]
    cont = basic_header(continuation_fmt, csid, csid_form)
    if ts_field >= EXTENDED_TIMESTAMP_MARKER and ext_ts_on_fmt3 and continuation_fmt == 3:
        # §5.3.1.3 (2012 text): type-3 continuation chunks repeat the extended field.
        cont += _U32BE.pack(ts_field & TIMESTAMP_MASK)
    mv = memoryview(payload) if not isinstance(payload, memoryview) else payload
    out = [first + bytes(mv[:chunk_size])]
    for off in range(chunk_size, size, chunk_size):
        out.append(cont + bytes(mv[off:off + chunk_size]))
    return out


def encode_chunks_joined(
    csid: int, fmt: int, ts_field: int, type_id: int, msid: int, payload: bytes, chunk_size: int,
    ext_ts_on_fmt3: bool = True,
) -> bytes:
    """Like :func:`chunk_message` with legal defaults, as one bytes object (fan-out hot path)."""
    size = len(payload)
    first = basic_header(fmt, csid) + (
        message_header(fmt, ts_field, size, type_id, msid)
        if fmt != 3
        else (_U32BE.pack(ts_field) if ts_field >= EXTENDED_TIMESTAMP_MARKER and ext_ts_on_fmt3 else b"")
    )
    if size <= chunk_size:
        return first + payload
    cont = basic_header(3, csid)
    if ts_field >= EXTENDED_TIMESTAMP_MARKER and ext_ts_on_fmt3:
        cont += _U32BE.pack(ts_field & TIMESTAMP_MASK)
    mv = memoryview(payload)
    parts: list[bytes | memoryview] = [first, mv[:chunk_size]]
    for off in range(chunk_size, size, chunk_size):
        parts.append(cont)
        parts.append(mv[off:off + chunk_size])
    return b"".join(parts)


@record(frozen=True, slots=True)
class MessagePlan:
    """An explicit encoding for one message, for the harness (may produce illegal bytes).

    Every field left as None takes the writer's normal, smallest legal choice.
    """

    fmt: int | None = None  #: force the first chunk's header format
    ts_field: int | None = None  #: raw value for the timestamp/delta field (with ext if >= 0xFFFFFF)
    csid_form: int | None = None  #: force a 1-, 2- or 3-byte basic header
    ext_ts_on_fmt3: bool | None = None  #: write (True) or omit (False) ext ts on fmt-3 chunks
    chunk_size: int | None = None  #: split at this size instead of the writer's chunk size
    continuation_fmt: int = 3  #: header format of continuation chunks (3 is the only legal one)
    length_field: int | None = None  #: lie about the message length
    update_state: bool = True  #: remember this header for later compression


class SharedEncoding(NamedTuple):
    """One message encoded once by :meth:`ChunkWriter.encode_shared`, with the header it got.

    A named tuple rather than a dataclass: the fan-out creates one per published message per
    group, and a tuple is the cheapest immutable record to create.
    """

    data: bytes  #: the chunks, headers included
    fmt: int  #: header format of the first chunk (0..3)
    ts_field: int  #: timestamp (fmt 0) or delta (fmt 1, 2, and the delta fmt 3 inherits)


class _OutStream:
    __slots__ = ("timestamp", "delta", "length", "type_id", "msid")

    def __init__(self, timestamp: int, delta: int, length: int, type_id: int, msid: int) -> None:
        self.timestamp = timestamp
        self.delta = delta
        self.length = length
        self.type_id = type_id
        self.msid = msid


class ChunkWriter:
    """Encodes messages as chunks with the smallest legal header by default (§5.3.1.2)."""

    def __init__(
        self, chunk_size: int = DEFAULT_CHUNK_SIZE, *, ext_ts_on_fmt3: bool = True
    ) -> None:
        self.chunk_size = chunk_size
        #: Whether fmt-3 chunks after an extended header repeat the 4 bytes (TS-4).
        self.ext_ts_on_fmt3 = ext_ts_on_fmt3
        self._streams: dict[int, _OutStream] = {}

    def set_chunk_size(self, size: int) -> None:
        """Use ``size`` for every chunk written after this call (send Set Chunk Size first)."""
        if not MIN_CHUNK_SIZE <= size <= MAX_CHUNK_SIZE:
            raise LocalProtocolError(f"chunk size {size} outside 1..0x7FFFFFFF", rule="CH-15")
        self.chunk_size = size

    def forget(self, csid: int | None = None) -> None:
        """Drop header state so the next message on ``csid`` (or every csid) uses fmt 0."""
        if csid is None:
            self._streams.clear()
        else:
            self._streams.pop(csid, None)

    def choose(self, csid: int, type_id: int, msid: int, timestamp: int, length: int) -> tuple[int, int]:
        """The smallest legal (fmt, ts_field) for this message given the previous header."""
        st = self._streams.get(csid)
        if st is None or st.msid != msid:
            # §5.3.1.2.1: type 0 "MUST be used at the start of a chunk stream".
            return 0, timestamp
        delta = (timestamp - st.timestamp) & TIMESTAMP_MASK
        if delta >= HALF_RANGE:
            # §5.3.1.2.1 / TS-8: deltas are unsigned; going backwards needs an absolute header.
            return 0, timestamp
        if length != st.length or type_id != st.type_id:
            return 1, delta
        if delta != st.delta:
            return 2, delta
        return 3, delta

    def _remember(self, csid: int, fmt: int, ts_field: int, type_id: int, msid: int, length: int) -> None:
        st = self._streams.get(csid)
        if fmt == 0:
            self._streams[csid] = _OutStream(ts_field, ts_field, length, type_id, msid)
            return
        assert st is not None
        st.timestamp = (st.timestamp + ts_field) & TIMESTAMP_MASK
        st.delta = ts_field
        st.length = length
        st.type_id = type_id

    def _encode(self, csid: int, type_id: int, msid: int, timestamp: int, payload: bytes) -> tuple[bytes, int, int]:
        _validate_csid(csid)
        timestamp &= TIMESTAMP_MASK
        fmt, field = self.choose(csid, type_id, msid, timestamp, len(payload))
        if fmt == 3 and field >= EXTENDED_TIMESTAMP_MARKER and not self.ext_ts_on_fmt3:
            # Without the ext field on fmt 3 a reader cannot tell a huge delta; be explicit.
            fmt = 2
        data = encode_chunks_joined(csid, fmt, field, type_id, msid, payload, self.chunk_size, self.ext_ts_on_fmt3)
        self._remember(csid, fmt, field, type_id, msid, len(payload))
        return data, fmt, field

    def encode(self, csid: int, type_id: int, msid: int, timestamp: int, payload: bytes) -> bytes:
        """The message as chunks with the smallest legal headers."""
        return self._encode(csid, type_id, msid, timestamp, payload)[0]

    def encode_shared(self, csid: int, type_id: int, msid: int, timestamp: int, payload: bytes) -> SharedEncoding:
        """Encode once for many receivers that share this writer's header state (fan-out).

        Exactly :meth:`encode` — same header choice, same state update — but the result also
        names the header it chose, so a caller that writes these bytes to every receiver in
        step can derive what receivers out of step need instead (a fmt 0 header for one that
        joined late or missed a message, an explicit delta where the receiver's stored delta
        differs). The caller is then responsible for each receiver's state, which is why this
        writer must be used for nothing but the shared encoding.
        """
        return SharedEncoding(*self._encode(csid, type_id, msid, timestamp, payload))

    def encode_planned(
        self, csid: int, type_id: int, msid: int, timestamp: int, payload: bytes, plan: MessagePlan
    ) -> list[bytes]:
        """The message as separate chunks following ``plan`` (anything, including illegal bytes)."""
        timestamp &= TIMESTAMP_MASK
        fmt, field = self.choose(csid, type_id, msid, timestamp, len(payload))
        if plan.fmt is not None and plan.fmt != fmt:
            fmt = plan.fmt
            st = self._streams.get(csid)
            if fmt == 0 or st is None:
                field = timestamp
            elif fmt in (1, 2):
                field = (timestamp - st.timestamp) & TIMESTAMP_MASK
            else:
                field = st.delta
        if plan.ts_field is not None:
            field = plan.ts_field
        ext = self.ext_ts_on_fmt3 if plan.ext_ts_on_fmt3 is None else plan.ext_ts_on_fmt3
        chunks = chunk_message(
            csid, fmt, field, type_id, msid, payload, plan.chunk_size or self.chunk_size,
            ext_ts_on_fmt3=ext, csid_form=plan.csid_form, continuation_fmt=plan.continuation_fmt,
            length_field=plan.length_field,
        )
        if plan.update_state:
            if fmt != 0 and csid not in self._streams:
                self._streams[csid] = _OutStream(0, 0, len(payload), type_id, msid)
            self._remember(csid, fmt, field, type_id, msid, len(payload))
        return chunks
