"""AMF0 codec: Python values <-> Action Message Format version 0 (Adobe "AMF 0 Specification").

Value mapping (decode direction; ``encode_value`` accepts the same types, plus ``int`` for numbers
and ``tuple`` for strict arrays):

=====================  ===========================================================
marker                 Python
=====================  ===========================================================
0x00 number            ``float``
0x01 boolean           ``bool``
0x02 string            ``str`` (``encode_value`` picks 0x0C when the UTF-8 form > 65535 bytes)
0x03 object            ``dict[str, Any]`` (insertion order = wire order)
0x05 null              ``None``
0x06 undefined         ``UNDEFINED``
0x07 reference         the referenced object itself (same Python object; cycles are possible)
0x08 ECMA array        ``EcmaArray`` (a ``dict`` subclass)
0x0A strict array      ``list``
0x0B date              ``Date``
0x0C long string       ``str``
0x0D unsupported       ``UNSUPPORTED``
0x0F XML document      ``XmlDocument`` (a ``str`` subclass)
0x10 typed object      ``TypedObject``
0x11 avmplus object    ``Amf3Value`` wrapping the decoded AMF3 value (see ``rtmp.amf3``)
=====================  ===========================================================

Strings are decoded with ``errors="surrogateescape"``: invalid UTF-8 from a peer never raises, and
re-encoding the decoded ``str`` gives back the exact bytes.

The encoder never emits 0x07 references (few RTMP peers resolve them); the decoder resolves them.
"""

from __future__ import annotations

import enum
import struct
from typing import Any, Final

from rtmpconf.records import record
from rtmpconf.rtmp.errors import LimitExceeded, LocalProtocolError, RemoteProtocolError

__all__ = [
    "MAX_AMF_DEPTH",
    "UNDEFINED",
    "UNSUPPORTED",
    "Amf0Decoder",
    "Amf3Value",
    "Date",
    "EcmaArray",
    "Marker",
    "TypedObject",
    "Undefined",
    "Unsupported",
    "XmlDocument",
    "decode_all",
    "decode_value",
    "encode_all",
    "encode_value",
]

# Real commands and metadata nest 2-3 levels; deeper input is hostile and each level costs stack frames.
MAX_AMF_DEPTH: Final = 64

# AMF0 §2.4: the standard UTF-8 byte-length header is a U16, so longer strings need the long form.
_MAX_SHORT_STRING: Final = 0xFFFF

_U16: Final = struct.Struct(">H")
_U32: Final = struct.Struct(">I")
_DOUBLE: Final = struct.Struct(">d")
_DATE: Final = struct.Struct(">dh")


class Marker(enum.IntEnum):
    """AMF0 type markers (AMF0 §2.1)."""

    NUMBER = 0x00
    BOOLEAN = 0x01
    STRING = 0x02
    OBJECT = 0x03
    MOVIECLIP = 0x04  # reserved, not supported
    NULL = 0x05
    UNDEFINED = 0x06
    REFERENCE = 0x07
    ECMA_ARRAY = 0x08
    OBJECT_END = 0x09
    STRICT_ARRAY = 0x0A
    DATE = 0x0B
    LONG_STRING = 0x0C
    UNSUPPORTED = 0x0D
    RECORDSET = 0x0E  # reserved, not supported
    XML_DOCUMENT = 0x0F
    TYPED_OBJECT = 0x10
    AVMPLUS_OBJECT = 0x11


class Undefined(enum.Enum):
    """ActionScript ``undefined`` (AMF0 §2.8, AMF3 §3.2). Use the singleton ``UNDEFINED``."""

    UNDEFINED = "undefined"

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


class Unsupported(enum.Enum):
    """The AMF0 unsupported marker (AMF0 §2.15). Use the singleton ``UNSUPPORTED``."""

    UNSUPPORTED = "unsupported"

    def __repr__(self) -> str:
        return "UNSUPPORTED"


UNDEFINED: Final = Undefined.UNDEFINED
UNSUPPORTED: Final = Unsupported.UNSUPPORTED


class EcmaArray(dict[str, Any]):
    """An AMF0 ECMA ("associative") array (AMF0 §2.10): a dict whose wire form carries a count.

    ``onMetaData`` arrives as one of these; it behaves exactly like a ``dict``.
    """

    def __repr__(self) -> str:
        return f"EcmaArray({dict.__repr__(self)})"


class XmlDocument(str):
    """An XML document as text (AMF0 §2.17 0x0F; AMF3 §3.9 XMLDocument and §3.13 XML)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"XmlDocument({str.__repr__(self)})"


@record(frozen=True, slots=True)
class Date:
    """An ActionScript Date (AMF0 §2.13, AMF3 §3.10)."""

    ms: float
    """Milliseconds since 1970-01-01T00:00:00 UTC."""
    tz: int = 0
    """AMF0 time-zone field, S16; the spec reserves it and says it should be 0. AMF3 has no such field."""


@record(slots=True)
class TypedObject:
    """An object whose class has a registered alias (AMF0 §2.18)."""

    class_name: str
    """The alias the sender registered for the class."""
    fields: dict[str, Any]
    """Property name -> value, in wire order."""


@record(frozen=True, slots=True)
class Amf3Value:
    """One value that followed the avmplus-object marker 0x11 and is therefore AMF3-encoded (AMF0 §3.1)."""

    value: Any
    """The decoded AMF3 value (see ``rtmp.amf3`` for its mapping)."""


def _malformed(message: str) -> RemoteProtocolError:
    return RemoteProtocolError(message, rule="AMF-5")


class Amf0Decoder:
    """Decodes AMF0 values, keeping the reference table (AMF0 §2.9) across calls.

    Use one decoder per message payload: a 0x07 reference reaches back to any complex value decoded
    earlier by the same decoder.
    """

    def __init__(self, *, max_depth: int = MAX_AMF_DEPTH) -> None:
        self.max_depth = max_depth
        """Deepest container nesting accepted (see ``MAX_AMF_DEPTH``)."""
        self.references: list[Any] = []
        """Objects, typed objects, ECMA arrays and strict arrays in the order they started."""
        self._view = memoryview(b"")
        self._end = 0
        self._limit = max_depth

    def decode_value(
        self, data: bytes | bytearray | memoryview, offset: int = 0, *, max_depth: int | None = None
    ) -> tuple[Any, int]:
        """Decode the value at ``offset``; return it and the offset just past it.

        Raises ``RemoteProtocolError`` (rule AMF-5) on malformed or truncated input and
        ``LimitExceeded`` (limit ``MAX_AMF_DEPTH``) on nesting deeper than ``max_depth``.
        """
        view = memoryview(data).cast("B")
        if not 0 <= offset <= len(view):
            raise ValueError(f"offset {offset} outside data of length {len(view)}")
        self._view = view
        self._end = len(view)
        self._limit = self.max_depth if max_depth is None else max_depth
        try:
            return self._value(offset, 0)
        except RecursionError:
            # Only reachable when a caller raises max_depth beyond what the Python stack holds.
            raise LimitExceeded(
                "AMF0 nesting exhausted the Python stack", limit="MAX_AMF_DEPTH", rule="AMF-5"
            ) from None
        finally:
            self._view = memoryview(b"")

    # -- primitives ---------------------------------------------------------------------------

    def _need(self, pos: int, size: int, what: str) -> None:
        if self._end - pos < size:
            raise _malformed(
                f"truncated {what}: needs {size} bytes at offset {pos}, only {self._end - pos} left"
            )

    def _short_string(self, pos: int, what: str) -> tuple[str, int]:
        # AMF0 §1.3.1 (UTF-8 = U16 *(UTF8-char)): a U16 byte length, then that many bytes.
        self._need(pos, 2, f"{what} length")
        (size,) = _U16.unpack_from(self._view, pos)
        pos += 2
        self._need(pos, size, what)
        return str(self._view[pos : pos + size], "utf-8", "surrogateescape"), pos + size

    def _long_string(self, pos: int, what: str) -> tuple[str, int]:
        # AMF0 §2.14: "The byte-length header of the UTF-8 encoded string is a 32-bit integer".
        self._need(pos, 4, f"{what} length")
        (size,) = _U32.unpack_from(self._view, pos)
        pos += 4
        self._need(pos, size, what)
        return str(self._view[pos : pos + size], "utf-8", "surrogateescape"), pos + size

    def _enter(self, level: int, what: str) -> None:
        if level >= self._limit:
            raise LimitExceeded(
                f"{what} nested deeper than {self._limit} levels", limit="MAX_AMF_DEPTH", rule="AMF-5"
            )

    def _properties(self, pos: int, level: int, into: dict[str, Any]) -> int:
        """Read ``object-property`` pairs into ``into`` up to and including the object end."""
        view = self._view
        while True:
            key, pos = self._short_string(pos, "property name")
            if not key:
                # AMF0 §2.11: the object-end marker "is always preceded by an empty UTF-8 string and
                # together forms the object end type". An empty name before any other marker is a
                # property whose name happens to be empty.
                self._need(pos, 1, "object-end marker")
                if view[pos] == Marker.OBJECT_END:
                    return pos + 1
            value, pos = self._value(pos, level)
            into[key] = value

    # -- values -------------------------------------------------------------------------------

    def _value(self, pos: int, level: int) -> tuple[Any, int]:
        """Decode one value at ``pos``; ``level`` counts the containers enclosing it."""
        self._need(pos, 1, "type marker")
        view = self._view
        marker = view[pos]
        pos += 1

        if marker == Marker.STRING:
            return self._short_string(pos, "string")

        if marker == Marker.NUMBER:
            # AMF0 §2.2: "an 8 byte IEEE-754 double precision floating point value in network byte order".
            self._need(pos, 8, "number")
            return _DOUBLE.unpack_from(view, pos)[0], pos + 8

        if marker == Marker.OBJECT:
            self._enter(level, "object")
            obj: dict[str, Any] = {}
            self.references.append(obj)
            return obj, self._properties(pos, level + 1, obj)

        if marker == Marker.NULL:
            return None, pos

        if marker == Marker.BOOLEAN:
            # AMF0 §2.3: "a zero byte value denotes false while a non-zero byte value (typically 1)
            # denotes true."
            self._need(pos, 1, "boolean")
            return view[pos] != 0, pos + 1

        if marker == Marker.ECMA_ARRAY:
            # AMF0 §2.10: ecma-array-type = associative-count *(object-property). The count is only a
            # hint (encoders get it wrong both ways), so the 00 00 09 terminator decides (AMF-2).
            self._need(pos, 4, "ECMA array count")
            self._enter(level, "ECMA array")
            array = EcmaArray()
            self.references.append(array)
            return array, self._properties(pos + 4, level + 1, array)

        if marker == Marker.STRICT_ARRAY:
            # AMF0 §2.12: strict-array-type = array-count *(value-type), array-count = U32.
            self._need(pos, 4, "strict array count")
            (count,) = _U32.unpack_from(view, pos)
            pos += 4
            # Every value takes at least its marker byte: a count beyond the bytes left is a lie
            # we refuse before looping on it.
            self._need(pos, count, f"strict array of {count} values")
            self._enter(level, "strict array")
            items: list[Any] = []
            self.references.append(items)
            for _ in range(count):
                item, pos = self._value(pos, level + 1)
                items.append(item)
            return items, pos

        if marker == Marker.UNDEFINED:
            return UNDEFINED, pos

        if marker == Marker.LONG_STRING:
            return self._long_string(pos, "long string")

        if marker == Marker.REFERENCE:
            # AMF0 §2.9: "The reference type uses an unsigned 16-bit integer to point to an index in a
            # table of previously serialized objects. Indices start at 0."
            self._need(pos, 2, "reference index")
            (index,) = _U16.unpack_from(view, pos)
            if index >= len(self.references):
                raise _malformed(
                    f"reference to complex value #{index}, only {len(self.references)} decoded so far"
                )
            return self.references[index], pos + 2

        if marker == Marker.DATE:
            # AMF0 §2.13: date-type = date-marker DOUBLE time-zone, time-zone = S16.
            self._need(pos, 10, "date")
            ms, tz = _DATE.unpack_from(view, pos)
            return Date(ms, tz), pos + 10

        if marker == Marker.TYPED_OBJECT:
            # AMF0 §2.18: object-type = object-marker class-name *(object-property), class-name = UTF-8.
            class_name, pos = self._short_string(pos, "typed object class name")
            self._enter(level, "typed object")
            typed = TypedObject(class_name, {})
            self.references.append(typed)
            return typed, self._properties(pos, level + 1, typed.fields)

        if marker == Marker.XML_DOCUMENT:
            # AMF0 §2.17: xml-document-type = xml-document-marker UTF-8-long.
            text, pos = self._long_string(pos, "XML document")
            return XmlDocument(text), pos

        if marker == Marker.UNSUPPORTED:
            # AMF0 §2.15: "If a type cannot be serialized a special unsupported marker can be used in
            # place of the type." It is a value in its own right, so we surface it instead of failing.
            return UNSUPPORTED, pos

        if marker == Marker.AVMPLUS_OBJECT:
            # AMF0 §3.1: the avmplus-object marker switches to AMF3 for the one value that follows.
            # Each switch gets fresh AMF3 reference tables; AMF0 references never reach into it.
            from rtmpconf.rtmp import amf3

            value, pos = amf3.Amf3Decoder().decode_value(view, pos, max_depth=self._limit - level)
            return Amf3Value(value), pos

        if marker == Marker.OBJECT_END:
            raise _malformed(f"object-end marker 0x09 where a value was expected at offset {pos - 1}")

        if marker in (Marker.MOVIECLIP, Marker.RECORDSET):
            # AMF0 §2.6 and §2.16: "This type is not supported and is reserved for future use."
            raise _malformed(f"reserved AMF0 marker 0x{marker:02x} ({Marker(marker).name.lower()})")

        raise _malformed(f"unknown AMF0 type marker 0x{marker:02x} at offset {pos - 1}")


def decode_value(
    data: bytes | bytearray | memoryview, offset: int = 0, *, max_depth: int = MAX_AMF_DEPTH
) -> tuple[Any, int]:
    """Decode one AMF0 value at ``offset`` with a fresh reference table; return (value, new offset)."""
    return Amf0Decoder(max_depth=max_depth).decode_value(data, offset)


def decode_all(data: bytes | bytearray | memoryview, *, max_depth: int = MAX_AMF_DEPTH) -> list[Any]:
    """Decode consecutive AMF0 values until the end of ``data`` (one shared reference table)."""
    decoder = Amf0Decoder(max_depth=max_depth)
    end = len(memoryview(data).cast("B"))
    values: list[Any] = []
    offset = 0
    while offset < end:
        value, offset = decoder.decode_value(data, offset)
        values.append(value)
    return values


# -- encoding ---------------------------------------------------------------------------------


def _unencodable(message: str) -> LocalProtocolError:
    return LocalProtocolError(message, rule="AMF-1")


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise _unencodable(f"string holds a lone surrogate UTF-8 cannot carry: {exc}") from None


def _put_property_name(out: bytearray, name: object) -> None:
    if not isinstance(name, str):
        raise _unencodable(f"AMF0 property names must be str, not {type(name).__name__}")
    raw = _utf8(name)
    if len(raw) > _MAX_SHORT_STRING:
        raise _unencodable(f"property name of {len(raw)} UTF-8 bytes exceeds the U16 length field")
    out += _U16.pack(len(raw))
    out += raw


def _put_properties(out: bytearray, fields: dict[Any, Any], level: int, max_depth: int) -> None:
    for name, item in fields.items():
        _put_property_name(out, name)
        _put_value(out, item, level, max_depth)
    out += b"\x00\x00\x09"  # AMF0 §2.11: empty UTF-8 name + object-end marker


def _put_value(out: bytearray, value: Any, level: int, max_depth: int) -> None:
    if isinstance(value, str):
        raw = _utf8(value)
        if isinstance(value, XmlDocument):
            out.append(Marker.XML_DOCUMENT)
        elif len(raw) <= _MAX_SHORT_STRING:
            out.append(Marker.STRING)
            out += _U16.pack(len(raw))
            out += raw
            return
        else:
            # AMF0 §2.14: "A long string is used in AMF 0 to encode strings that would occupy more
            # than 65535 bytes when UTF-8 encoded."
            out.append(Marker.LONG_STRING)
        if len(raw) > 0xFFFFFFFF:
            raise _unencodable(f"string of {len(raw)} UTF-8 bytes exceeds the U32 length field")
        out += _U32.pack(len(raw))
        out += raw
    elif value is None:
        out.append(Marker.NULL)
    elif isinstance(value, bool):
        out.append(Marker.BOOLEAN)
        out.append(1 if value else 0)
    elif isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            raise _unencodable(f"integer {value} does not fit an IEEE-754 double") from None
        out.append(Marker.NUMBER)
        out += _DOUBLE.pack(number)
    elif isinstance(value, dict):
        if level >= max_depth:
            raise LocalProtocolError(
                f"refusing to encode containers nested deeper than {max_depth} (a cycle?)", rule="AMF-5"
            )
        if isinstance(value, EcmaArray):
            if len(value) > 0xFFFFFFFF:
                raise _unencodable("ECMA array has more entries than the U32 count holds")
            out.append(Marker.ECMA_ARRAY)
            out += _U32.pack(len(value))
        else:
            out.append(Marker.OBJECT)
        _put_properties(out, value, level + 1, max_depth)
    elif isinstance(value, (list, tuple)):
        if level >= max_depth:
            raise LocalProtocolError(
                f"refusing to encode containers nested deeper than {max_depth} (a cycle?)", rule="AMF-5"
            )
        if len(value) > 0xFFFFFFFF:
            raise _unencodable("strict array has more items than the U32 count holds")
        out.append(Marker.STRICT_ARRAY)
        out += _U32.pack(len(value))
        for item in value:
            _put_value(out, item, level + 1, max_depth)
    elif value is UNDEFINED:
        out.append(Marker.UNDEFINED)
    elif isinstance(value, Date):
        try:
            packed = _DATE.pack(value.ms, value.tz)
        except struct.error as exc:
            raise _unencodable(f"date {value!r} does not fit DOUBLE + S16: {exc}") from None
        out.append(Marker.DATE)
        out += packed
    elif isinstance(value, TypedObject):
        if level >= max_depth:
            raise LocalProtocolError(
                f"refusing to encode containers nested deeper than {max_depth} (a cycle?)", rule="AMF-5"
            )
        out.append(Marker.TYPED_OBJECT)
        _put_property_name(out, value.class_name)
        _put_properties(out, value.fields, level + 1, max_depth)
    elif value is UNSUPPORTED:
        out.append(Marker.UNSUPPORTED)
    elif isinstance(value, Amf3Value):
        from rtmpconf.rtmp import amf3

        out.append(Marker.AVMPLUS_OBJECT)
        out += amf3.encode_value(value.value, max_depth=max_depth - level)
    else:
        raise _unencodable(f"no AMF0 encoding for {type(value).__name__} value {value!r:.80}")


def encode_value(value: Any, *, max_depth: int = MAX_AMF_DEPTH) -> bytes:
    """Encode one value as AMF0. Raises ``LocalProtocolError`` for values AMF0 cannot carry.

    ``max_depth`` bounds container nesting, which also turns a cyclic structure into an error.
    """
    out = bytearray()
    try:
        _put_value(out, value, 0, max_depth)
    except RecursionError:
        raise LocalProtocolError("AMF0 value nests too deeply to encode", rule="AMF-5") from None
    return bytes(out)


def encode_all(*values: Any) -> bytes:
    """Encode several values back to back, as in a command or data message body."""
    return b"".join(encode_value(value) for value in values)
