"""FLV files (FLV v10.1 annex E.2/E.3; E-RTMP v2 "FLV File Format Overview"): header and tags.

An FLV tag body is exactly the payload of the RTMP audio (8), video (9) or data (18, and 15 for
AMF3 data, ERTMPv2 "Enabling AMF3 in FLV") message with the same type id, so the files of the
E-FLV test vectors (rtmpconf/vectors/eflv) are read into, and written from, the same
(type, timestamp, payload) triples a publisher sends. E-RTMP changes no version number
(ERTMPv2 "Protocol Versioning", ERTMP-13): the header is version 1.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Final

from rtmpconf.records import record
from rtmpconf.rtmp.errors import RemoteProtocolError

__all__ = ["FlvFile", "FlvTag", "build_flv", "is_flv", "parse_flv"]

SIGNATURE: Final = b"FLV"
VERSION: Final = 1
HEADER_SIZE: Final = 9  # FLV E.2: signature, version, flags, UI32 DataOffset (9 for version 1)
TAG_HEADER_SIZE: Final = 11
_FLAG_AUDIO: Final = 0x04
_FLAG_VIDEO: Final = 0x01
_U32: Final = struct.Struct(">I")


@record(frozen=True, slots=True)
class FlvTag:
    """One FLV tag: the RTMP message it carries."""

    type_id: int  # TagType: 8 audio, 9 video, 18 script data (AMF0), 15 script data (AMF3)
    timestamp: int  # ms: UI24 Timestamp + UI8 TimestampExtended (upper 8 bits)
    payload: bytes  # the tag body (= RTMP message payload)


@record(frozen=True, slots=True)
class FlvFile:
    """A parsed FLV file."""

    version: int  # header version (1)
    has_audio: bool  # TypeFlagsAudio
    has_video: bool  # TypeFlagsVideo
    tags: tuple[FlvTag, ...]  # in file order
    trailing: int  # bytes after the last complete tag (a file cut short); 0 for a clean file


def is_flv(data: bytes) -> bool:
    """The first bytes are an FLV header."""
    return len(data) >= HEADER_SIZE and data[:3] == SIGNATURE


def parse_flv(data: bytes | bytearray | memoryview) -> FlvFile:
    """Decode a whole FLV file. A tag cut short at the end is counted in ``trailing``, not an error
    (recordings end mid-tag); a bad header or a tag whose size runs past a later tag is."""
    view = memoryview(data)
    if bytes(view[:3]) != SIGNATURE:
        raise RemoteProtocolError("not an FLV file (no 'FLV' signature)", rule="ERTMP-13")
    if len(view) < HEADER_SIZE:
        raise RemoteProtocolError(f"FLV file cut short: {len(view)} bytes, the header alone is {HEADER_SIZE}",
                                  rule="ERTMP-13")
    version, flags = view[3], view[4]
    offset = int(_U32.unpack_from(view, 5)[0])
    if offset < HEADER_SIZE or offset > len(view):
        raise RemoteProtocolError(f"FLV DataOffset {offset} is outside the file", rule="ERTMP-13")
    # E.3: the body starts with PreviousTagSize0 (always 0), then tag, PreviousTagSize, tag, ...
    pos = offset + 4
    tags: list[FlvTag] = []
    n = len(view)
    while pos + TAG_HEADER_SIZE <= n:
        type_id = view[pos] & 0x1F  # the top bits are Reserved and Filter (encryption)
        size = int.from_bytes(view[pos + 1 : pos + 4], "big")
        ts = int.from_bytes(view[pos + 4 : pos + 7], "big") | (view[pos + 7] << 24)
        end = pos + TAG_HEADER_SIZE + size
        if end > n:
            break
        tags.append(FlvTag(type_id, ts, bytes(view[pos + TAG_HEADER_SIZE : end])))
        pos = end + 4  # PreviousTagSize (not checked: writers disagree on it)
    return FlvFile(version, bool(flags & _FLAG_AUDIO), bool(flags & _FLAG_VIDEO), tuple(tags), max(0, n - pos))


def build_flv(tags: Iterable[FlvTag], *, audio: bool = True, video: bool = True) -> bytes:
    """Encode an FLV file (version 1) with ``tags`` in order."""
    flags = (_FLAG_AUDIO if audio else 0) | (_FLAG_VIDEO if video else 0)
    parts = [SIGNATURE, bytes((VERSION, flags)), _U32.pack(HEADER_SIZE), _U32.pack(0)]
    for tag in tags:
        size = len(tag.payload)
        if size >= 1 << 24:
            raise ValueError(f"tag of {size} bytes does not fit the UI24 DataSize")
        ts = tag.timestamp & 0xFFFFFFFF
        parts.append(bytes((tag.type_id,)) + size.to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(3, "big")
                     + bytes((ts >> 24,)) + b"\x00\x00\x00")
        parts.append(tag.payload)
        parts.append(_U32.pack(TAG_HEADER_SIZE + size))
    return b"".join(parts)
