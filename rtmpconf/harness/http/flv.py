"""Sans-IO FLV body parser (FLV v10.1 Annex E): header, tags, PreviousTagSize, with offsets."""

from __future__ import annotations

from dataclasses import dataclass, field

HEADER_SIZE = 9


@dataclass(frozen=True, slots=True)
class FlvHeader:
    """E.2: Signature "FLV", Version, TypeFlags, DataOffset; then PreviousTagSize0 (E.3)."""

    signature: bytes  #: the first three bytes ("FLV" when valid)
    version: int
    flags: int  #: TypeFlags byte: bit 2 audio, bit 0 video; the other bits are reserved (0)
    data_offset: int  #: header length (9 for version 1)
    previous_tag_size0: int  #: must be 0

    @property
    def audio(self) -> bool:
        return bool(self.flags & 0x04)

    @property
    def video(self) -> bool:
        return bool(self.flags & 0x01)


@dataclass(frozen=True, slots=True)
class FlvTag:
    """One tag (E.4.1) and the PreviousTagSize that follows it."""

    index: int
    offset: int  #: byte offset of the tag header in the body
    type_id: int  #: TagType (lower 5 bits): 8 audio, 9 video, 18 script data
    filter: bool  #: Filter bit (encrypted tag)
    timestamp: int  #: Timestamp | TimestampExtended << 24, in ms
    stream_id: int  #: StreamID, always 0
    data: bytes
    previous_tag_size: int | None  #: the UI32 after the tag (None if the body ended first)
    time: float = 0.0  #: when its last byte arrived (monotonic), if known


@dataclass(slots=True)
class FlvParser:
    """Feed body bytes; ``header``, ``tags`` and ``errors`` grow as they are recognised."""

    header: FlvHeader | None = None
    tags: list[FlvTag] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _buf: bytearray = field(default_factory=bytearray)
    _offset: int = 0  #: body offset of _buf[0]
    _dead: bool = False

    def feed(self, data: bytes, now: float = 0.0) -> None:
        if self._dead:
            return
        self._buf += data
        buf = self._buf
        pos = 0
        if self.header is None:
            if len(buf) < HEADER_SIZE + 4:
                return
            sig, ver, flags = bytes(buf[0:3]), buf[3], buf[4]
            off = int.from_bytes(buf[5:9], "big")
            prev0 = int.from_bytes(buf[9:13], "big")
            self.header = FlvHeader(sig, ver, flags, off, prev0)
            if sig != b"FLV":
                self.errors.append(f"signature {sig!r}, not b'FLV'")
                self._dead = True
                return
            if off < HEADER_SIZE:
                self.errors.append(f"DataOffset {off} < 9")
                self._dead = True
                return
            pos = off + 4 if off > HEADER_SIZE else HEADER_SIZE + 4
            if len(buf) < pos:
                return
        while len(buf) - pos >= 11:
            t0 = buf[pos]
            size = int.from_bytes(buf[pos + 1:pos + 4], "big")
            if len(buf) - pos < 11 + size + 4:
                break
            ts = int.from_bytes(buf[pos + 4:pos + 7], "big") | (buf[pos + 7] << 24)
            sid = int.from_bytes(buf[pos + 8:pos + 11], "big")
            data = bytes(buf[pos + 11:pos + 11 + size])
            prev = int.from_bytes(buf[pos + 11 + size:pos + 15 + size], "big")
            self.tags.append(FlvTag(len(self.tags), self._offset + pos, t0 & 0x1F, bool(t0 & 0x20), ts, sid,
                                    data, prev, now))
            if (t0 & 0x1F) not in (8, 9, 18):
                self.errors.append(f"tag {len(self.tags) - 1} at offset {self._offset + pos}: TagType {t0 & 0x1F}")
            if prev != 11 + size:
                self.errors.append(f"tag {len(self.tags) - 1} at offset {self._offset + pos}: PreviousTagSize "
                                   f"{prev}, expected {11 + size}")
                if abs(prev - (11 + size)) > 0:
                    # Framing is lost: stop rather than decode garbage.
                    self._dead = True
                    pos += 15 + size
                    break
            pos += 15 + size
        del buf[:pos]
        self._offset += pos

    @property
    def pending(self) -> int:
        """Bytes of an incomplete tag at the end (the body was cut there)."""
        return len(self._buf)


def parse_flv(body: bytes) -> FlvParser:
    p = FlvParser()
    p.feed(body)
    return p
