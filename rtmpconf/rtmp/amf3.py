"""AMF3 codec: Python values <-> Action Message Format version 3 (Adobe "AMF 3 Specification", 2013).

In RTMP, AMF3 values appear only after the AMF0 avmplus-object marker 0x11 (catalogue CMD-2);
``rtmp.amf0`` calls into this module for them.

Value mapping (decode direction; ``encode_value`` accepts the same types):

===================  ==============================================================================
marker               Python
===================  ==============================================================================
0x00 undefined       ``rtmp.amf0.UNDEFINED`` (the very same object)
0x01 null            ``None``
0x02/0x03 false/true ``bool``
0x04 integer         ``int`` (signed 29-bit); ``encode_value`` sends ints outside that range as double
0x05 double          ``float``
0x06 string          ``str``
0x07 XMLDocument     ``rtmp.amf0.XmlDocument`` (the encoder writes every ``XmlDocument`` as 0x07)
0x08 date            ``rtmp.amf0.Date`` (``tz`` is always 0: AMF3 has no time-zone field)
0x09 array           ``list`` when the associative part is empty, else ``Amf3Array``
0x0A object          ``dict`` for an anonymous dynamic object without sealed members, else ``Amf3Object``
0x0B XML             ``rtmp.amf0.XmlDocument``
0x0C ByteArray       ``bytes`` (encode also accepts ``bytearray`` and ``memoryview``)
0x0D-0x10 Vector     ``Amf3Vector``
0x11 Dictionary      ``Amf3Dictionary``
===================  ==============================================================================

Externalizable objects (traits flag 0b111) are refused: their body format is private to the class.
The decoder resolves every reference form (strings, objects, traits). The encoder sends repeated
strings and traits by reference and never sends object references.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from typing import Any, Final

from rtmpconf.rtmp.amf0 import UNDEFINED, Date, XmlDocument
from rtmpconf.rtmp.errors import LimitExceeded, LocalProtocolError, RemoteProtocolError

__all__ = [
    "MAX_AMF_DEPTH",
    "Amf3Array",
    "Amf3Decoder",
    "Amf3Dictionary",
    "Amf3Object",
    "Amf3Vector",
    "Marker",
    "VectorKind",
    "decode_value",
    "encode_value",
]

# Real commands nest 2-3 levels; deeper input is hostile and each level costs stack frames.
MAX_AMF_DEPTH: Final = 64

# AMF3 §1.3.1: U29 holds 29 bits; a length or count shares it with a 1-bit flag.
_U29_MAX: Final = 0x1FFFFFFF
# AMF3 §3.6: ints in [-2**28, 2**28) travel as integer, everything else as double.
_INT_MIN: Final = -(1 << 28)
_INT_MAX: Final = (1 << 28) - 1

_DOUBLE: Final = struct.Struct(">d")


class Marker(enum.IntEnum):
    """AMF3 type markers (AMF3 §3.1)."""

    UNDEFINED = 0x00
    NULL = 0x01
    FALSE = 0x02
    TRUE = 0x03
    INTEGER = 0x04
    DOUBLE = 0x05
    STRING = 0x06
    XML_DOC = 0x07
    DATE = 0x08
    ARRAY = 0x09
    OBJECT = 0x0A
    XML = 0x0B
    BYTE_ARRAY = 0x0C
    VECTOR_INT = 0x0D
    VECTOR_UINT = 0x0E
    VECTOR_DOUBLE = 0x0F
    VECTOR_OBJECT = 0x10
    DICTIONARY = 0x11


class VectorKind(enum.IntEnum):
    """The four Vector flavours (AMF3 §3.15); the value is the type marker."""

    INT = 0x0D
    UINT = 0x0E
    DOUBLE = 0x0F
    OBJECT = 0x10


# AMF3 §3.15: vector-int items are S32, vector-uint items U32, vector-double items DOUBLE.
_VECTOR_ITEM_FORMAT: Final = {VectorKind.INT: "i", VectorKind.UINT: "I", VectorKind.DOUBLE: "d"}
_VECTOR_ITEM_SIZE: Final = {VectorKind.INT: 4, VectorKind.UINT: 4, VectorKind.DOUBLE: 8}


@dataclass(slots=True)
class Amf3Array:
    """An AMF3 array with an associative part (AMF3 §3.11); without one it decodes as ``list``."""

    dense: list[Any]
    """The ordinal part, index 0 upwards."""
    assoc: dict[str, Any]
    """The name/value part, in wire order; names are non-empty."""


@dataclass(slots=True)
class Amf3Object:
    """An AMF3 object that is typed or has sealed members (AMF3 §3.12).

    An anonymous dynamic object without sealed members decodes as a plain ``dict`` instead.
    """

    class_name: str
    """The registered class alias; "" for an anonymous object."""
    sealed: dict[str, Any]
    """Sealed (traits) members in traits order."""
    dynamic: dict[str, Any]
    """Dynamic members in wire order; always empty when ``is_dynamic`` is false."""
    is_dynamic: bool = True
    """The traits' dynamic flag: whether dynamic members may follow the sealed ones."""


@dataclass(slots=True)
class Amf3Vector:
    """A Flash Player 10 Vector (AMF3 §3.15)."""

    kind: VectorKind
    """Which of the four vector types."""
    fixed: bool
    """Whether the vector has a fixed length."""
    items: list[Any]
    """int for INT/UINT, float for DOUBLE, any AMF3 value for OBJECT."""
    type_name: str = ""
    """Item class name of an OBJECT vector ("" for untyped); always "" for the numeric kinds."""


@dataclass(slots=True)
class Amf3Dictionary:
    """A Flash Player 10 Dictionary (AMF3 §3.16); keys may be any value, hence a list of pairs."""

    weak_keys: bool
    """Whether the dictionary holds its keys weakly."""
    items: list[tuple[Any, Any]] = field(default_factory=list)
    """(key, value) pairs in wire order."""


@dataclass(frozen=True, slots=True)
class _Traits:
    class_name: str
    sealed_names: tuple[str, ...]
    dynamic: bool


def _malformed(message: str) -> RemoteProtocolError:
    return RemoteProtocolError(message, rule="AMF-5")


class Amf3Decoder:
    """Decodes AMF3 values, keeping the string, object and traits reference tables (AMF3 §2.1).

    Tables persist across ``decode_value`` calls on the same decoder.
    """

    def __init__(self, *, max_depth: int = MAX_AMF_DEPTH) -> None:
        self.max_depth = max_depth
        """Deepest container nesting accepted (see ``MAX_AMF_DEPTH``)."""
        self.strings: list[str] = []
        """Non-empty strings sent inline, in order (AMF3 §1.3.2)."""
        self.objects: list[Any] = []
        """Complex values (objects, arrays, dates, XML, ByteArrays, vectors, dictionaries), in order."""
        self.traits: list[_Traits] = []
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
                "AMF3 nesting exhausted the Python stack", limit="MAX_AMF_DEPTH", rule="AMF-5"
            ) from None
        finally:
            self._view = memoryview(b"")

    # -- primitives ---------------------------------------------------------------------------

    def _need(self, pos: int, size: int, what: str) -> None:
        if self._end - pos < size:
            raise _malformed(
                f"truncated {what}: needs {size} bytes at offset {pos}, only {self._end - pos} left"
            )

    def _enter(self, level: int, what: str) -> None:
        if level >= self._limit:
            raise LimitExceeded(
                f"{what} nested deeper than {self._limit} levels", limit="MAX_AMF_DEPTH", rule="AMF-5"
            )

    def _u29(self, pos: int) -> tuple[int, int]:
        # AMF3 §1.3.1: "the high bit of the first 3 bytes are used as flags to determine whether the
        # next byte is part of the integer"; a fourth byte contributes all 8 bits.
        view = self._view
        result = 0
        for _ in range(3):
            self._need(pos, 1, "U29 integer")
            byte = view[pos]
            pos += 1
            if byte < 0x80:
                return (result << 7) | byte, pos
            result = (result << 7) | (byte & 0x7F)
        self._need(pos, 1, "U29 integer")
        return (result << 8) | view[pos], pos + 1

    def _string(self, pos: int, what: str) -> tuple[str, int]:
        """Read a UTF-8-vr (AMF3 §1.3.2): an inline string or a string-table reference."""
        header, pos = self._u29(pos)
        if not header & 1:
            # AMF3 §1.3.2: U29S-ref = U29 ; "The first (low) bit is a flag with value 0. The remaining
            # 1 to 28 significant bits are used to encode a string reference table index".
            index = header >> 1
            if index >= len(self.strings):
                raise _malformed(
                    f"{what}: reference to string #{index}, only {len(self.strings)} in the table"
                )
            return self.strings[index], pos
        size = header >> 1
        self._need(pos, size, what)
        text = str(self._view[pos : pos + size], "utf-8", "surrogateescape")
        # AMF3 §1.3.2: "The empty String is never sent by reference", so it never enters the table.
        if size:
            self.strings.append(text)
        return text, pos + size

    def _object_reference(self, header: int, what: str) -> Any:
        # AMF3 §3.12 (and every other complex type): U29O-ref = U29 ; "The first (low) bit is a flag
        # with value 0. The remaining 1 to 28 significant bits are used to encode an object reference
        # index".
        index = header >> 1
        if index >= len(self.objects):
            raise _malformed(f"{what}: reference to object #{index}, only {len(self.objects)} in the table")
        return self.objects[index]

    def _utf8_body(self, pos: int, size: int, what: str) -> tuple[str, int]:
        self._need(pos, size, what)
        return str(self._view[pos : pos + size], "utf-8", "surrogateescape"), pos + size

    # -- values -------------------------------------------------------------------------------

    def _value(self, pos: int, level: int) -> tuple[Any, int]:
        """Decode one value at ``pos``; ``level`` counts the containers enclosing it."""
        self._need(pos, 1, "type marker")
        view = self._view
        marker = view[pos]
        pos += 1

        if marker == Marker.STRING:
            return self._string(pos, "string")

        if marker == Marker.INTEGER:
            # AMF3 §3.6: integers are U29 on the wire; AVM+ reads them as signed 29-bit values.
            raw, pos = self._u29(pos)
            return (raw - (1 << 29) if raw & (1 << 28) else raw), pos

        if marker == Marker.DOUBLE:
            self._need(pos, 8, "double")
            return _DOUBLE.unpack_from(view, pos)[0], pos + 8

        if marker == Marker.NULL:
            return None, pos
        if marker == Marker.FALSE:
            return False, pos
        if marker == Marker.TRUE:
            return True, pos
        if marker == Marker.UNDEFINED:
            return UNDEFINED, pos

        if marker == Marker.OBJECT:
            return self._object(pos, level)
        if marker == Marker.ARRAY:
            return self._array(pos, level)

        if marker in (Marker.XML_DOC, Marker.XML):
            # AMF3 §3.9/§3.13: U29X-value = U29 ; "The first (low) bit is a flag with value 1. The
            # remaining 1 to 28 significant bits are used to encode the byte-length of the UTF-8
            # encoded representation of the XML". No string table: these go in the object table.
            header, pos = self._u29(pos)
            if not header & 1:
                return self._object_reference(header, "XML"), pos
            text, pos = self._utf8_body(pos, header >> 1, "XML")
            xml = XmlDocument(text)
            self.objects.append(xml)
            return xml, pos

        if marker == Marker.DATE:
            # AMF3 §3.10: date-type = date-marker (U29O-ref | (U29D-value date-time)); the low bit of
            # U29D-value is 1 and "The remaining bits are not used."
            header, pos = self._u29(pos)
            if not header & 1:
                return self._object_reference(header, "date"), pos
            self._need(pos, 8, "date")
            date = Date(_DOUBLE.unpack_from(view, pos)[0])
            self.objects.append(date)
            return date, pos + 8

        if marker == Marker.BYTE_ARRAY:
            # AMF3 §3.14: bytearray-type = bytearray-marker (U29O-ref | U29B-value *(U8)).
            header, pos = self._u29(pos)
            if not header & 1:
                return self._object_reference(header, "ByteArray"), pos
            size = header >> 1
            self._need(pos, size, "ByteArray")
            blob = bytes(view[pos : pos + size])
            self.objects.append(blob)
            return blob, pos + size

        if Marker.VECTOR_INT <= marker <= Marker.VECTOR_OBJECT:
            return self._vector(VectorKind(marker), pos, level)

        if marker == Marker.DICTIONARY:
            return self._dictionary(pos, level)

        raise _malformed(f"unknown AMF3 type marker 0x{marker:02x} at offset {pos - 1}")

    def _array(self, pos: int, level: int) -> tuple[Any, int]:
        # AMF3 §3.11: array-type = array-marker (U29O-ref | (U29A-value (UTF-8-empty | *(assoc-value)
        # UTF-8-empty) *(value-type))); U29A-value carries the dense count.
        header, pos = self._u29(pos)
        if not header & 1:
            return self._object_reference(header, "array"), pos
        dense_count = header >> 1
        self._enter(level, "array")
        dense: list[Any] = []
        assoc: dict[str, Any] = {}
        # The table slot is taken before any member is read so members can refer back to the array.
        # It holds the Amf3Array while associative members are read; if there are none it becomes
        # the plain list before any dense member (the only other possible referrer) is read.
        slot = len(self.objects)
        self.objects.append(Amf3Array(dense, assoc))
        while True:
            key, pos = self._string(pos, "array member name")
            if not key:
                break
            assoc[key], pos = self._value(pos, level + 1)
        result: Any = self.objects[slot]
        if not assoc:
            result = self.objects[slot] = dense
        # Each value is at least one marker byte: refuse a count the remaining bytes cannot hold.
        self._need(pos, dense_count, f"array of {dense_count} values")
        for _ in range(dense_count):
            item, pos = self._value(pos, level + 1)
            dense.append(item)
        return result, pos

    def _object(self, pos: int, level: int) -> tuple[Any, int]:
        header, pos = self._u29(pos)
        if not header & 1:
            return self._object_reference(header, "object"), pos
        self._enter(level, "object")
        if not header & 2:
            # AMF3 §3.12: U29O-traits-ref: low bits 01, "The remaining 1 to 27 significant bits are
            # used to encode a trait reference index".
            index = header >> 2
            if index >= len(self.traits):
                raise _malformed(f"reference to traits #{index}, only {len(self.traits)} in the table")
            traits = self.traits[index]
        elif header & 4:
            # AMF3 §3.12: U29O-traits-ext (low bits 111): the members are written by the class's own
            # IExternalizable code, a format only that class knows. We cannot skip or decode it.
            class_name, _ = self._string(pos, "externalizable class name")
            raise _malformed(f"externalizable AMF3 object of class {class_name!r} cannot be decoded")
        else:
            # AMF3 §3.12: U29O-traits: low bits 011, then the dynamic flag, then "the number of sealed
            # traits member names that follow after the class name".
            sealed_count = header >> 4
            class_name, pos = self._string(pos, "class name")
            # Each name is at least one byte (a reference or an empty string).
            self._need(pos, sealed_count, f"{sealed_count} sealed member names")
            names: list[str] = []
            for _ in range(sealed_count):
                name, pos = self._string(pos, "sealed member name")
                names.append(name)
            traits = _Traits(class_name, tuple(names), bool(header & 8))
            self.traits.append(traits)

        members: dict[str, Any]
        result: Any
        if not traits.class_name and traits.dynamic and not traits.sealed_names:
            result = members = {}
        else:
            result = Amf3Object(traits.class_name, {}, {}, traits.dynamic)
            members = result.dynamic
        self.objects.append(result)

        if traits.sealed_names:
            sealed = result.sealed
            for name in traits.sealed_names:
                sealed[name], pos = self._value(pos, level + 1)
        if traits.dynamic:
            # AMF3 §3.12: dynamic members are name/value pairs ended by UTF-8-empty.
            while True:
                key, pos = self._string(pos, "dynamic member name")
                if not key:
                    break
                members[key], pos = self._value(pos, level + 1)
        return result, pos

    def _vector(self, kind: VectorKind, pos: int, level: int) -> tuple[Any, int]:
        # AMF3 §3.15: U29V-value carries the item count, then fixed-vector = U8 (0x00 not fixed).
        header, pos = self._u29(pos)
        if not header & 1:
            return self._object_reference(header, "vector"), pos
        count = header >> 1
        self._need(pos, 1, "vector fixed flag")
        fixed = self._view[pos] != 0
        pos += 1
        if kind is not VectorKind.OBJECT:
            size = count * _VECTOR_ITEM_SIZE[kind]
            self._need(pos, size, f"{kind.name} vector of {count} items")
            items = list(struct.unpack_from(f">{count}{_VECTOR_ITEM_FORMAT[kind]}", self._view, pos))
            vector = Amf3Vector(kind, fixed, items)
            self.objects.append(vector)
            return vector, pos + size
        self._enter(level, "object vector")
        vector = Amf3Vector(kind, fixed, [])
        self.objects.append(vector)
        # AMF3 §3.15: object-type-name = UTF-8-vr, then *(value-type).
        vector.type_name, pos = self._string(pos, "vector item type name")
        self._need(pos, count, f"object vector of {count} items")
        for _ in range(count):
            item, pos = self._value(pos, level + 1)
            vector.items.append(item)
        return vector, pos

    def _dictionary(self, pos: int, level: int) -> tuple[Any, int]:
        # AMF3 §3.16: U29Dict-value carries the entry count, then weak-keys = U8, then
        # *(entry-key entry-value), both value-type.
        header, pos = self._u29(pos)
        if not header & 1:
            return self._object_reference(header, "dictionary"), pos
        count = header >> 1
        self._need(pos, 1, "dictionary weak-keys flag")
        weak = self._view[pos] != 0
        pos += 1
        self._need(pos, 2 * count, f"dictionary of {count} entries")
        self._enter(level, "dictionary")
        dictionary = Amf3Dictionary(weak)
        self.objects.append(dictionary)
        for _ in range(count):
            key, pos = self._value(pos, level + 1)
            value, pos = self._value(pos, level + 1)
            dictionary.items.append((key, value))
        return dictionary, pos


def decode_value(
    data: bytes | bytearray | memoryview, offset: int = 0, *, max_depth: int = MAX_AMF_DEPTH
) -> tuple[Any, int]:
    """Decode one AMF3 value at ``offset`` with fresh reference tables; return (value, new offset)."""
    return Amf3Decoder(max_depth=max_depth).decode_value(data, offset)


# -- encoding ---------------------------------------------------------------------------------


def _unencodable(message: str) -> LocalProtocolError:
    return LocalProtocolError(message, rule="AMF-1")


class _Amf3Encoder:
    """One encode call: owns the string and traits tables the decoder will rebuild."""

    def __init__(self, max_depth: int) -> None:
        self.out = bytearray()
        self.max_depth = max_depth
        self.strings: dict[str, int] = {}
        self.traits: dict[_Traits, int] = {}

    def u29(self, value: int) -> None:
        # AMF3 §1.3.1: 1 to 3 bytes of 7 bits with a continuation bit, then a full fourth byte.
        out = self.out
        if value < 0x80:
            out.append(value)
        elif value < 0x4000:
            out += bytes(((value >> 7) | 0x80, value & 0x7F))
        elif value < 0x200000:
            out += bytes(((value >> 14) | 0x80, ((value >> 7) & 0x7F) | 0x80, value & 0x7F))
        elif value <= _U29_MAX:
            out += bytes(
                (
                    (value >> 22) | 0x80,
                    ((value >> 15) & 0x7F) | 0x80,
                    ((value >> 8) & 0x7F) | 0x80,
                    value & 0xFF,
                )
            )
        else:
            raise _unencodable(f"{value} does not fit a U29")

    def inline_header(self, count: int, what: str) -> None:
        """Write U29 (count << 1 | 1): the 'not a reference' form shared by lengths and counts."""
        if count > _U29_MAX >> 1:
            raise _unencodable(f"{what} of {count} exceeds the 28 bits AMF3 gives it")
        self.u29(count << 1 | 1)

    def string(self, text: str) -> None:
        if not text:
            self.out.append(0x01)  # UTF-8-empty: never by reference, never in the table
            return
        index = self.strings.get(text)
        if index is not None:
            self.u29(index << 1)
            return
        raw = _utf8(text)
        self.inline_header(len(raw), "string")
        self.out += raw
        self.strings[text] = len(self.strings)

    def enter(self, level: int) -> None:
        if level >= self.max_depth:
            raise LocalProtocolError(
                f"refusing to encode containers nested deeper than {self.max_depth} (a cycle?)",
                rule="AMF-5",
            )

    def value(self, value: Any, level: int) -> None:
        out = self.out
        if isinstance(value, str):
            if isinstance(value, XmlDocument):
                raw = _utf8(value)
                out.append(Marker.XML_DOC)
                self.inline_header(len(raw), "XML document")
                out += raw
            else:
                out.append(Marker.STRING)
                self.string(value)
        elif value is None:
            out.append(Marker.NULL)
        elif isinstance(value, bool):
            out.append(Marker.TRUE if value else Marker.FALSE)
        elif isinstance(value, int):
            if _INT_MIN <= value <= _INT_MAX:
                out.append(Marker.INTEGER)
                self.u29(value & _U29_MAX)
            else:
                # AMF3 §3.6: an int outside the 29-bit range "will be represented by AVM+ as a double
                # and thus serialized in using the AMF 3 double type".
                try:
                    number = float(value)
                except OverflowError:
                    raise _unencodable(f"integer {value} does not fit an IEEE-754 double") from None
                out.append(Marker.DOUBLE)
                out += _DOUBLE.pack(number)
        elif isinstance(value, float):
            out.append(Marker.DOUBLE)
            out += _DOUBLE.pack(value)
        elif isinstance(value, dict):
            self.enter(level)
            self.object(_Traits("", (), True), {}, value, level)
        elif isinstance(value, (list, tuple)):
            self.enter(level)
            self.array(value, {}, level)
        elif value is UNDEFINED:
            out.append(Marker.UNDEFINED)
        elif isinstance(value, Amf3Object):
            self.enter(level)
            if value.dynamic and not value.is_dynamic:
                raise _unencodable("Amf3Object has dynamic members but is_dynamic is false")
            traits = _Traits(value.class_name, tuple(value.sealed), value.is_dynamic)
            self.object(traits, value.sealed, value.dynamic, level)
        elif isinstance(value, Amf3Array):
            self.enter(level)
            self.array(value.dense, value.assoc, level)
        elif isinstance(value, Date):
            out.append(Marker.DATE)
            out.append(0x01)  # U29D-value: inline, remaining bits unused
            out += _DOUBLE.pack(value.ms)
        elif isinstance(value, (bytes, bytearray, memoryview)):
            blob = memoryview(value).cast("B")
            out.append(Marker.BYTE_ARRAY)
            self.inline_header(len(blob), "ByteArray")
            out += blob
        elif isinstance(value, Amf3Vector):
            self.vector(value, level)
        elif isinstance(value, Amf3Dictionary):
            self.enter(level)
            out.append(Marker.DICTIONARY)
            self.inline_header(len(value.items), "dictionary")
            out.append(1 if value.weak_keys else 0)
            for key, item in value.items:
                self.value(key, level + 1)
                self.value(item, level + 1)
        else:
            raise _unencodable(f"no AMF3 encoding for {type(value).__name__} value {value!r:.80}")

    def object(self, traits: _Traits, sealed: dict[str, Any], dynamic: dict[Any, Any], level: int) -> None:
        self.out.append(Marker.OBJECT)
        index = self.traits.get(traits)
        if index is not None:
            # U29O-traits-ref: low bits 01, then the traits index.
            if index > _U29_MAX >> 2:
                raise _unencodable("traits table index exceeds 27 bits")
            self.u29(index << 2 | 0b01)
        else:
            count = len(traits.sealed_names)
            if count > _U29_MAX >> 4:
                raise _unencodable(f"{count} sealed members exceed the 25 bits AMF3 gives the count")
            # U29O-traits: low bits 011, dynamic flag, sealed member count.
            self.u29(count << 4 | (0b1000 if traits.dynamic else 0) | 0b011)
            self.string(traits.class_name)
            for name in traits.sealed_names:
                self.string(name)
            self.traits[traits] = len(self.traits)
        for item in sealed.values():
            self.value(item, level + 1)
        if traits.dynamic:
            self.members(dynamic, level)

    def members(self, members: dict[Any, Any], level: int) -> None:
        """Write name/value pairs ended by UTF-8-empty (object dynamic part, array associative part)."""
        for name, item in members.items():
            if not isinstance(name, str):
                raise _unencodable(f"AMF3 member names must be str, not {type(name).__name__}")
            if not name:
                # An empty name is the end-of-members marker, so it cannot name a member.
                raise _unencodable("AMF3 cannot carry a dynamic or associative member named ''")
            self.string(name)
            self.value(item, level + 1)
        self.out.append(0x01)

    def array(self, dense: list[Any] | tuple[Any, ...], assoc: dict[Any, Any], level: int) -> None:
        self.out.append(Marker.ARRAY)
        self.inline_header(len(dense), "array")
        self.members(assoc, level)
        for item in dense:
            self.value(item, level + 1)

    def vector(self, vector: Amf3Vector, level: int) -> None:
        try:
            kind = VectorKind(vector.kind)
        except ValueError:
            raise _unencodable(f"unknown vector kind {vector.kind!r}") from None
        self.out.append(kind)
        self.inline_header(len(vector.items), "vector")
        self.out.append(1 if vector.fixed else 0)
        if kind is VectorKind.OBJECT:
            self.enter(level)
            self.string(vector.type_name)
            for item in vector.items:
                self.value(item, level + 1)
            return
        try:
            self.out += struct.pack(f">{len(vector.items)}{_VECTOR_ITEM_FORMAT[kind]}", *vector.items)
        except struct.error as exc:
            raise _unencodable(f"{kind.name} vector item out of range: {exc}") from None


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise _unencodable(f"string holds a lone surrogate UTF-8 cannot carry: {exc}") from None


def encode_value(value: Any, *, max_depth: int = MAX_AMF_DEPTH) -> bytes:
    """Encode one value as AMF3 with fresh tables. Raises ``LocalProtocolError`` if AMF3 cannot carry it.

    ``max_depth`` bounds container nesting, which also turns a cyclic structure into an error.
    """
    encoder = _Amf3Encoder(max_depth)
    try:
        encoder.value(value, 0)
    except RecursionError:
        raise LocalProtocolError("AMF3 value nests too deeply to encode", rule="AMF-5") from None
    return bytes(encoder.out)
