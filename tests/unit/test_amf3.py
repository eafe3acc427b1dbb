"""Unit tests for rtmp.amf3 (AMF3 values after the AMF0 0x11 switch; catalogue AMF-5, CMD-2)."""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtmpconf.rtmp import amf0, amf3
from rtmpconf.rtmp.amf0 import UNDEFINED, Date, XmlDocument
from rtmpconf.rtmp.amf3 import (
    Amf3Array,
    Amf3Decoder,
    Amf3Dictionary,
    Amf3Object,
    Amf3Vector,
    VectorKind,
    decode_value,
    encode_value,
)
from rtmpconf.rtmp.errors import LimitExceeded, LocalProtocolError, RemoteProtocolError


def assert_same(actual: Any, expected: Any) -> None:
    """Equality that also insists on identical types, key order and float bit patterns."""
    assert type(actual) is type(expected), f"{type(actual).__name__} != {type(expected).__name__}"
    if isinstance(actual, float):
        assert struct.pack(">d", actual) == struct.pack(">d", expected), f"{actual!r} != {expected!r}"
    elif isinstance(actual, dict):
        assert list(actual) == list(expected)
        for key in actual:
            assert_same(actual[key], expected[key])
    elif isinstance(actual, (list, tuple)):
        assert len(actual) == len(expected)
        for left, right in zip(actual, expected):
            assert_same(left, right)
    elif dataclasses.is_dataclass(actual):
        for field in dataclasses.fields(actual):
            assert_same(getattr(actual, field.name), getattr(expected, field.name))
    else:
        assert actual == expected


def decode_hex(wire: str) -> Any:
    data = bytes.fromhex(wire)
    value, end = decode_value(data)
    assert end == len(data), "decoder stopped early"
    return value


# -- U29 (AMF3 §1.3.1) -------------------------------------------------------------------------

U29_INTEGERS = [
    # (value, hex after the 04 integer marker)
    (0, "00"),  # 0xxxxxxx
    (0x7F, "7f"),  # largest 1-byte form
    (0x80, "81 00"),  # smallest 2-byte form: 1 0000001, 0 0000000
    (0x3FFF, "ff 7f"),  # largest 2-byte form
    (0x4000, "81 80 00"),  # smallest 3-byte form
    (0x1FFFFF, "ff ff 7f"),  # largest 3-byte form
    (0x200000, "80 c0 80 00"),  # smallest 4-byte form: 7+7+7 bits then a full byte
    (0x0FFFFFFF, "bf ff ff ff"),  # largest positive signed 29-bit value
    (-1, "ff ff ff ff"),  # 0x1FFFFFFF, sign bit (bit 28) set
    (-(2**28), "c0 80 80 00"),  # 0x10000000: most negative
]


@pytest.mark.parametrize(("value", "wire"), U29_INTEGERS, ids=[hex(v) for v, _ in U29_INTEGERS])
def test_u29_integer_edges(value: int, wire: str) -> None:
    data = bytes.fromhex("04" + wire)  # 04 integer marker + U29
    assert encode_value(value) == data
    assert decode_value(data) == (value, len(data))


def test_u29_non_minimal_forms_still_decode() -> None:
    assert decode_hex("04 80 05") == 5  # 2-byte form of 5
    assert decode_hex("04 80 80 80 05") == 5  # 4-byte form of 5


@pytest.mark.parametrize("value", [2**28, -(2**28) - 1, 2**31, -(2**40)])
def test_integers_outside_29_bits_go_as_double(value: int) -> None:
    data = encode_value(value)
    assert data == b"\x05" + struct.pack(">d", value)  # 05 double
    assert decode_value(data) == (float(value), 9)


# -- one vector per marker ----------------------------------------------------------------------

MARKER_VECTORS: list[tuple[str, str, Any]] = [
    ("undefined", "00", UNDEFINED),
    ("null", "01", None),
    ("false", "02", False),
    ("true", "03", True),
    ("integer", "04 05", 5),
    ("double", "05 3ff8000000000000", 1.5),  # 05 double 1.5
    ("string", "06 07 616263", "abc"),  # 06 string, U29 (3<<1|1)=07, "abc"
    ("string-empty", "06 01", ""),  # UTF-8-empty
    ("xml-doc", "07 09 3c612f3e", XmlDocument("<a/>")),  # 07 XMLDocument, U29 (4<<1|1), "<a/>"
    ("date", "08 01 4076800000000000", Date(360.0)),  # 08 date, U29D-value 01, 360.0 ms
    ("array-empty", "09 01 01", []),  # 09 array, dense count 0, assoc UTF-8-empty
    ("array", "09 05 01 04 01 06 03 78", [1, "x"]),  # dense count 2, no assoc, int 1, string "x"
    (
        "array-assoc",
        "09 03 03 6b 03 01 02",  # dense 1; assoc "k": true; empty name; dense[0] = false
        Amf3Array([False], {"k": True}),
    ),
    ("object-anon", "0a 0b 01 03 61 04 01 01", {"a": 1}),  # 0A, traits 0b1011 dyn 0 sealed, "", a:1, end
    (
        "object-sealed",
        "0a 13 07 466f6f 03 78 04 02",  # traits (1<<4|0b011) not dynamic, class "Foo", sealed "x"; x=2
        Amf3Object("Foo", {"x": 2}, {}, is_dynamic=False),
    ),
    (
        "object-sealed-dynamic",
        "0a 1b 01 03 78 04 02 03 79 01 01",  # (1<<4|0b1011) dynamic, class "", sealed x=2, y=null, end
        Amf3Object("", {"x": 2}, {"y": None}, is_dynamic=True),
    ),
    (
        "object-typed-empty",
        "0a 03 07 466f6f",  # traits 0b0011: not dynamic, 0 sealed, class "Foo"
        Amf3Object("Foo", {}, {}, is_dynamic=False),
    ),
    ("xml", "0b 09 3c622f3e", XmlDocument("<b/>")),  # 0B XML (E4X), 4 bytes
    ("bytearray", "0c 07 00ff10", b"\x00\xff\x10"),  # 0C ByteArray, U29 (3<<1|1), 3 bytes
    (
        "vector-int",
        "0d 05 00 ffffffff 7fffffff",  # 0D, count 2, not fixed, S32 -1, S32 2147483647
        Amf3Vector(VectorKind.INT, False, [-1, 2**31 - 1]),
    ),
    (
        "vector-uint",
        "0e 03 01 ffffffff",  # 0E, count 1, fixed, U32 4294967295
        Amf3Vector(VectorKind.UINT, True, [2**32 - 1]),
    ),
    (
        "vector-double",
        "0f 03 00 bff0000000000000",  # 0F, count 1, not fixed, -1.0
        Amf3Vector(VectorKind.DOUBLE, False, [-1.0]),
    ),
    (
        "vector-object",
        "10 05 00 0d537472696e67 06 03 61 01",  # 10, count 2, not fixed, type "String", "a", null
        Amf3Vector(VectorKind.OBJECT, False, ["a", None], "String"),
    ),
    (
        "dictionary",
        "11 05 01 04 01 06 03 61 06 03 62 03",  # 11, 2 entries, weak; 1 -> "a"; "b" -> true
        Amf3Dictionary(True, [(1, "a"), ("b", True)]),
    ),
]


@pytest.mark.parametrize(
    ("wire", "expected"), [(h, v) for _, h, v in MARKER_VECTORS], ids=[i for i, _, _ in MARKER_VECTORS]
)
def test_decode_marker_vectors(wire: str, expected: Any) -> None:
    assert_same(decode_hex(wire), expected)


ENCODER_CANONICAL = [v for v in MARKER_VECTORS if v[0] != "xml"]  # XML decodes to XmlDocument -> 0x07


@pytest.mark.parametrize(
    ("wire", "expected"), [(h, v) for _, h, v in ENCODER_CANONICAL], ids=[i for i, _, _ in ENCODER_CANONICAL]
)
def test_encode_marker_vectors(wire: str, expected: Any) -> None:
    assert encode_value(expected) == bytes.fromhex(wire)


def test_undefined_is_the_amf0_singleton() -> None:
    assert decode_hex("00") is amf0.UNDEFINED


# -- reference tables (AMF3 §1.3.2, §3.12) --------------------------------------------------------


def test_string_references() -> None:
    value = decode_hex(
        "09 0b 01"  # array, dense count 5, no assoc
        "06 07 616263"  # "abc" inline -> string #0
        "06 00"  # reference string #0
        "06 01"  # "" inline: never enters the table
        "06 07 78797a"  # "xyz" inline -> string #1 (not #2: "" took no slot)
        "06 02"  # reference string #1
    )
    assert value == ["abc", "abc", "", "xyz", "xyz"]


def test_strings_are_shared_between_values_member_names_and_class_names() -> None:
    value = decode_hex(
        "09 05 01"  # array of 2
        "0a 13 07 466f6f 03 78 06 00"  # object: traits class "Foo" (#0), sealed name "x" (#1); x = ref #0
        "06 02"  # string ref #1 -> "x"
    )
    assert value == [Amf3Object("Foo", {"x": "Foo"}, {}, False), "x"]


def test_encoder_sends_repeated_strings_and_traits_by_reference() -> None:
    wire = encode_value([Amf3Object("P", {"n": "n"}, {}, False), Amf3Object("P", {"n": "z"}, {}, False)])
    assert wire == bytes.fromhex(
        "09 05 01"  # array of 2, no assoc
        "0a 13 03 50 03 6e 06 02"  # object, inline traits "P" (#0 str) sealed "n" (#1 str); n = str ref #1
        "0a 01 06 03 7a"  # object, traits ref #0 (0<<2|01); n = "z" inline
    )


def test_object_references_keep_identity() -> None:
    value = decode_hex(
        "09 07 01"  # array (object #0), dense 3
        "0a 0b 01 03 61 04 01 01"  # object #1 {"a": 1}
        "0a 02"  # object reference #1
        "09 00"  # array marker with object reference #0: the outer array itself
    )
    assert value[0] == {"a": 1}
    assert value[1] is value[0]
    assert value[2] is value


def test_object_table_holds_every_complex_type() -> None:
    decoder = Amf3Decoder()
    value, _ = decoder.decode_value(
        bytes.fromhex(
            "09 0f 01"  # #0 array, dense 7
            "08 01 0000000000000000"  # #1 date 0
            "07 03 41"  # #2 XMLDocument "A"
            "0c 03 00"  # #3 ByteArray 00
            "0d 03 00 00000001"  # #4 vector<int> [1]
            "11 01 00"  # #5 empty dictionary
            "08 02"  # date marker, reference #1
            "0c 06"  # ByteArray marker, reference #3
        )
    )
    assert value[5] is value[0] and value[6] is value[2]
    assert len(decoder.objects) == 6


def test_traits_reference() -> None:
    value = decode_hex(
        "09 05 01"  # array of 2
        "0a 13 07 466f6f 03 78 04 01"  # object, inline traits #0: class "Foo", sealed "x"; x = 1
        "0a 01 04 02"  # object, traits reference #0 (0<<2|01); x = 2
    )
    assert value == [Amf3Object("Foo", {"x": 1}, {}, False), Amf3Object("Foo", {"x": 2}, {}, False)]


def test_tables_persist_across_calls_on_one_decoder() -> None:
    decoder = Amf3Decoder()
    data = bytes.fromhex("06 07 616263 06 00")  # "abc" inline, then a reference to it
    first, offset = decoder.decode_value(data)
    second, _ = decoder.decode_value(data, offset)
    assert (first, second) == ("abc", "abc")
    with pytest.raises(RemoteProtocolError):
        decode_value(data, offset)  # a fresh decoder has an empty string table


def test_array_self_reference_from_associative_part() -> None:
    value = decode_hex("09 01 03 73 09 00 01")  # dense 0; "s" -> array ref #0 (itself); end
    assert isinstance(value, Amf3Array)
    assert value.assoc["s"] is value


@pytest.mark.parametrize(
    "wire",
    [
        "06 00",  # string reference #0, empty table
        "0a 00",  # object reference #0, empty table
        "0a 05",  # traits reference #1 (1<<2|01), empty traits table
        "09 03 01 09 02",  # array #0 holding array ref #1
        "08 02",  # date reference #1
        "0b 00",  # XML reference #0
        "07 00",  # XMLDocument reference #0
        "0c 00",  # ByteArray reference #0
        "0d 00",  # vector<int> reference #0
        "10 00",  # vector<object> reference #0
        "11 00",  # dictionary reference #0
    ],
)
def test_unknown_references_are_rejected(wire: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_value(bytes.fromhex(wire))
    assert info.value.rule == "AMF-5"


def test_externalizable_objects_are_rejected() -> None:
    # 0A object, traits 0b0111 (externalizable), class "flex.messaging.io.ArrayCollection", then data
    data = bytes.fromhex("0a 07 43") + b"flex.messaging.io.ArrayCollection" + bytes.fromhex("09 01 01")
    with pytest.raises(RemoteProtocolError, match="externalizable"):
        decode_value(data)


@pytest.mark.parametrize("wire", ["12", "ff"])
def test_unknown_markers_are_rejected(wire: str) -> None:
    with pytest.raises(RemoteProtocolError, match="unknown"):
        decode_value(bytes.fromhex(wire))


# -- bounded allocation and depth (AMF-5) -------------------------------------------------------


@pytest.mark.parametrize(
    "wire",
    [
        "09 ffffffff 01 01",  # array with 2**28-1 dense items claimed, 1 byte left
        "0d ffffffff 00",  # vector<int> of 2**28-1 items, nothing left
        "0f ffffffff 00 00",  # vector<double> of 2**28-1 items
        "10 ffffffff 00 01",  # vector<object> of 2**28-1 items
        "11 ffffffff 00 01",  # dictionary of 2**28-1 entries
        "0a ffffff f3 01",  # object traits with 2**25-1 sealed names
        "06 ffffffff",  # string of 2**28-1 bytes
        "0c ffffffff",  # ByteArray of 2**28-1 bytes
        "0b 09 3c",  # XML claims 4 bytes, 1 present
        "05 00",  # double cut short
        "04 80",  # U29 continuation bit but no next byte
    ],
)
def test_counts_and_lengths_past_the_end_are_rejected(wire: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_value(bytes.fromhex(wire))
    assert info.value.rule == "AMF-5"


def test_thousand_nested_arrays_raise_limit_exceeded() -> None:
    data = bytes.fromhex("09 03 01") * 1000 + bytes.fromhex("01")  # [[[...[null]...]]]
    with pytest.raises(LimitExceeded) as info:
        decode_value(data)
    assert info.value.limit == "MAX_AMF_DEPTH"


def test_thousand_nested_objects_raise_limit_exceeded() -> None:
    # outer: object, inline anonymous dynamic traits (#0), member "a" (string #0) -> next object;
    # each next object: traits reference #0, member name = string reference #0 ("a") -> next ...
    data = bytes.fromhex("0a 0b 01 03 61") + bytes.fromhex("0a 01 00") * 999 + bytes.fromhex("01")
    with pytest.raises(LimitExceeded):
        decode_value(data)


def test_depth_limit_is_exact_and_overridable() -> None:
    def nested(depth: int) -> bytes:
        return bytes.fromhex("09 03 01") * depth + bytes.fromhex("01")

    decode_value(nested(amf3.MAX_AMF_DEPTH))
    with pytest.raises(LimitExceeded):
        decode_value(nested(amf3.MAX_AMF_DEPTH + 1))
    decode_value(nested(amf3.MAX_AMF_DEPTH + 1), max_depth=amf3.MAX_AMF_DEPTH + 1)
    with pytest.raises(LimitExceeded):
        decode_value(nested(5000), max_depth=10**6)  # Python stack runs out first: still LimitExceeded


# -- the connect command after the 0x11 switch (CMD-2) --------------------------------------------


def test_connect_amf3_command_object() -> None:
    """A type-17 connect: 00 selector, AMF0 name and tid, then 0x11 and the AMF3 command object."""
    body = b"".join(
        [
            bytes.fromhex("00"),  # format selector: AMF0
            bytes.fromhex("02 0007") + b"connect",  # AMF0 string "connect"
            bytes.fromhex("00 3ff0000000000000"),  # AMF0 number 1.0
            bytes.fromhex("11"),  # avmplus-object marker
            bytes.fromhex("0a 0b 01"),  # AMF3 object: inline traits, dynamic, 0 sealed, anonymous
            bytes.fromhex("07") + b"app" + bytes.fromhex("06 09") + b"live",  # app = "live"
            bytes.fromhex("11") + b"flashVer" + bytes.fromhex("06 1d") + b"WIN 32,0,0,465",  # 14 chars
            bytes.fromhex("0b") + b"tcUrl" + bytes.fromhex("06 2f") + b"rtmp://example.com/live",  # 23
            bytes.fromhex("09") + b"fpad" + bytes.fromhex("02"),  # fpad = false
            bytes.fromhex("19") + b"capabilities" + bytes.fromhex("04 81 6f"),  # int 239
            bytes.fromhex("17") + b"audioCodecs" + bytes.fromhex("05 40abee0000000000"),  # 3575.0
            bytes.fromhex("17") + b"videoCodecs" + bytes.fromhex("04 81 7c"),  # int 252
            bytes.fromhex("1b") + b"videoFunction" + bytes.fromhex("04 01"),  # int 1
            bytes.fromhex("0f") + b"pageUrl" + bytes.fromhex("00"),  # undefined
            bytes.fromhex("1d") + b"objectEncoding" + bytes.fromhex("04 03"),  # int 3
            bytes.fromhex("01"),  # end of dynamic members
        ]
    )
    name, tid, command = amf0.decode_all(body[1:])
    assert (name, tid) == ("connect", 1.0)
    assert isinstance(command, amf0.Amf3Value)
    assert_same(
        command.value,
        {
            "app": "live",
            "flashVer": "WIN 32,0,0,465",
            "tcUrl": "rtmp://example.com/live",
            "fpad": False,
            "capabilities": 239,
            "audioCodecs": 3575.0,
            "videoCodecs": 252,
            "videoFunction": 1,
            "pageUrl": UNDEFINED,
            "objectEncoding": 3,
        },
    )
    assert amf0.encode_all(name, tid, command) == body[1:]  # the encoder writes the same bytes


# -- truncation ---------------------------------------------------------------------------------

SINGLE_VALUES = [
    encode_value(
        {
            "a": [1, 2.5, "s", "s", Date(3.0), XmlDocument("<x/>"), b"\x01\x02"],
            "o": Amf3Object("C", {"p": None}, {"q": True}),
            "v": Amf3Vector(VectorKind.OBJECT, False, [{"z": -1}], "Obj"),
            "w": Amf3Vector(VectorKind.DOUBLE, True, [1.0, 2.0]),
            "d": Amf3Dictionary(False, [(UNDEFINED, Amf3Array([1], {"k": 2}))]),
        }
    ),
    bytes.fromhex("04 80 c0 80 00"),  # 4-byte U29
    bytes.fromhex("09 05 01 0a 13 07 466f6f 03 78 04 01 0a 01 04 02"),  # traits reference
]


@pytest.mark.parametrize("data", SINGLE_VALUES, ids=["mixed", "u29", "traits-ref"])
def test_every_truncation_of_a_value_is_rejected(data: bytes) -> None:
    decode_value(data)
    for cut in range(len(data)):
        with pytest.raises(RemoteProtocolError):
            decode_value(data[:cut])


# -- encoding errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        object(),
        {"": 1},  # the empty name ends the dynamic members
        {1: "x"},  # names must be str
        Amf3Array([], {"": 1}),
        Amf3Object("C", {}, {"x": 1}, is_dynamic=False),  # dynamic members on sealed traits
        Amf3Vector(VectorKind.INT, False, [2**31]),  # out of S32
        Amf3Vector(VectorKind.UINT, False, [-1]),  # out of U32
        Amf3Vector(VectorKind.INT, False, ["x"]),
        amf0.UNSUPPORTED,
        amf0.TypedObject("C", {}),
        "\ud800",
        10**400,
    ],
    ids=[
        "object",
        "empty-key",
        "int-key",
        "assoc-empty-key",
        "sealed-dynamic",
        "int-range",
        "uint-range",
        "int-type",
        "unsupported",
        "typed-object",
        "surrogate",
        "huge-int",
    ],
)
def test_unencodable_values_raise_local_protocol_error(value: Any) -> None:
    with pytest.raises(LocalProtocolError):
        encode_value(value)


def test_encoding_a_cycle_raises_local_protocol_error() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(LocalProtocolError):
        encode_value(cyclic)


def test_encode_accepts_tuples_bytearray_memoryview_and_ecma_array() -> None:
    assert encode_value((1,)) == bytes.fromhex("09 03 01 04 01")
    assert encode_value(bytearray(b"\x07")) == bytes.fromhex("0c 03 07")
    assert encode_value(memoryview(b"\x07")) == bytes.fromhex("0c 03 07")
    assert encode_value(amf0.EcmaArray(a=1)) == bytes.fromhex("0a 0b 01 03 61 04 01 01")
    assert encode_value(Date(1.0, tz=60)) == encode_value(Date(1.0))  # AMF3 has no time-zone field


# -- properties ---------------------------------------------------------------------------------

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=10)
names = texts.filter(bool)
floats = st.floats(allow_nan=False)
amf3_leaves = st.one_of(
    st.just(UNDEFINED),
    st.none(),
    st.booleans(),
    st.integers(-(2**28), 2**28 - 1),
    floats,
    texts,
    st.builds(XmlDocument, texts),
    st.builds(Date, floats),
    st.binary(max_size=8),
    st.builds(
        Amf3Vector,
        st.just(VectorKind.INT),
        st.booleans(),
        st.lists(st.integers(-(2**31), 2**31 - 1), max_size=4),
    ),
    st.builds(
        Amf3Vector, st.just(VectorKind.UINT), st.booleans(), st.lists(st.integers(0, 2**32 - 1), max_size=4)
    ),
    st.builds(Amf3Vector, st.just(VectorKind.DOUBLE), st.booleans(), st.lists(floats, max_size=4)),
)


def amf3_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    small_dicts = st.dictionaries(names, children, max_size=4)
    return st.one_of(
        st.lists(children, max_size=4),
        small_dicts,
        # With an empty associative part an array decodes as a list, so require one entry.
        st.builds(
            Amf3Array,
            st.lists(children, max_size=3),
            st.dictionaries(names, children, min_size=1, max_size=3),
        ),
        # Anonymous, dynamic and sealed-less would decode as a dict: give it a class name.
        st.builds(
            Amf3Object, names, st.dictionaries(texts, children, max_size=3), small_dicts, st.just(True)
        ),
        st.builds(
            Amf3Object,
            texts,
            st.dictionaries(texts, children, min_size=1, max_size=3),
            st.just({}),
            st.just(False),
        ),
        st.builds(
            Amf3Vector, st.just(VectorKind.OBJECT), st.booleans(), st.lists(children, max_size=3), texts
        ),
        st.builds(Amf3Dictionary, st.booleans(), st.lists(st.tuples(children, children), max_size=3)),
    )


amf3_values = st.recursive(amf3_leaves, amf3_containers, max_leaves=16)


@settings(max_examples=150, deadline=None)
@given(amf3_values)
def test_round_trip(value: Any) -> None:
    wire = encode_value(value)
    decoded, end = decode_value(wire)
    assert end == len(wire)
    assert_same(decoded, value)
    # And wrapped in AMF0 behind the 0x11 switch.
    assert_same(amf0.decode_all(amf0.encode_value(amf0.Amf3Value(value))), [amf0.Amf3Value(value)])


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz_arbitrary_bytes_only_raise_remote_protocol_error(data: bytes) -> None:
    decoder = Amf3Decoder()
    offset = 0
    try:
        while offset < len(data):
            _, offset = decoder.decode_value(data, offset)
    except RemoteProtocolError:
        pass


@settings(max_examples=150, deadline=None)
@given(amf3_values, st.data())
def test_fuzz_mutated_encodings_only_raise_remote_protocol_error(value: Any, data: st.DataObject) -> None:
    wire = bytearray(encode_value(value))
    position = data.draw(st.integers(0, len(wire) - 1))
    wire[position] = data.draw(st.integers(0, 255))
    try:
        decode_value(bytes(wire))
    except RemoteProtocolError:
        pass
