"""Unit tests for rtmp.amf0 (catalogue rules AMF-1..AMF-6, CMD-1/CMD-2)."""

from __future__ import annotations

import dataclasses
import math
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtmpconf import records
from rtmpconf.rtmp import amf0, amf3
from rtmpconf.rtmp.amf0 import (
    UNDEFINED,
    UNSUPPORTED,
    Amf0Decoder,
    Amf3Value,
    Date,
    EcmaArray,
    TypedObject,
    XmlDocument,
    decode_all,
    decode_value,
    encode_all,
    encode_value,
)
from rtmpconf.rtmp.errors import LimitExceeded, LocalProtocolError, RemoteProtocolError


def assert_same(actual: Any, expected: Any) -> None:
    """Equality that also insists on identical types, key order and NaN/-0.0 bit patterns.

    Plain ``==`` would accept a dict for an EcmaArray or a str for an XmlDocument.
    """
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
    elif dataclasses.is_dataclass(actual) or hasattr(actual, "__record_fields__"):
        assert type(actual) is type(expected)
        names = records.fields(actual) if hasattr(actual, "__record_fields__") else [
            f.name for f in dataclasses.fields(actual)]
        for name in names:
            assert_same(getattr(actual, name), getattr(expected, name))
    else:
        assert actual == expected


def name(text: str) -> bytes:
    """A UTF-8 property name: U16 length + bytes (written by hand, independent of the encoder)."""
    raw = text.encode()
    return struct.pack(">H", len(raw)) + raw


def string(text: str) -> bytes:
    """AMF0 string value: marker 02 + U16 length + bytes."""
    return b"\x02" + name(text)


def number(value: float) -> bytes:
    """AMF0 number value: marker 00 + big-endian IEEE-754 double."""
    return b"\x00" + struct.pack(">d", value)


OBJECT_END = bytes.fromhex("00 00 09")  # empty name + object-end marker


# -- one vector per marker (AMF-1) ---------------------------------------------------------------

MARKER_VECTORS: list[tuple[str, str, Any]] = [
    # (id, hex, expected value)
    ("number-1.5", "00 3ff8000000000000", 1.5),  # 00 number, 1.5 as a double
    ("number-neg-zero", "00 8000000000000000", -0.0),  # 00 number, -0.0 (sign bit only)
    ("boolean-false", "01 00", False),  # 01 boolean, 00 = false
    ("boolean-true", "01 01", True),  # 01 boolean, 01 = true
    ("string", "02 0003 616263", "abc"),  # 02 string, U16 len 3, "abc"
    ("string-empty", "02 0000", ""),  # 02 string, U16 len 0
    ("string-utf8", "02 0002 c3a9", "\u00e9"),  # 02 string, len 2, "é" in UTF-8
    ("object-empty", "03 000009", {}),  # 03 object, 00 00 09 end
    ("object", "03 0001 61 00 3ff0000000000000 000009", {"a": 1.0}),  # 03, "a": 1.0, end
    ("null", "05", None),  # 05 null
    ("undefined", "06", UNDEFINED),  # 06 undefined
    ("ecma-empty", "08 00000000 000009", EcmaArray()),  # 08 ECMA array, count 0, end
    ("ecma", "08 00000001 0001 30 02 0001 78 000009", EcmaArray({"0": "x"})),  # count 1, "0": "x", end
    ("strict-empty", "0a 00000000", []),  # 0A strict array, count 0
    ("strict", "0a 00000002 05 01 01", [None, True]),  # 0A, count 2, null, true
    ("date", "0b 4076800000000000 0000", Date(360.0, 0)),  # 0B date, 360.0 ms, tz 0
    ("date-tz", "0b 0000000000000000 fe20", Date(0.0, -480)),  # 0B date, 0 ms, tz S16 -480
    ("long-string", "0c 00000003 616263", "abc"),  # 0C long string, U32 len 3, "abc"
    ("unsupported", "0d", UNSUPPORTED),  # 0D unsupported marker
    ("xml", "0f 00000004 3c612f3e", XmlDocument("<a/>")),  # 0F XML document, U32 len 4, "<a/>"
    (
        "typed-object",
        "10 0003 466f6f 0001 78 01 01 000009",  # 10 typed object, class "Foo", "x": true, end
        TypedObject("Foo", {"x": True}),
    ),
    ("avmplus-int", "11 04 05", Amf3Value(5)),  # 11 switch to AMF3, 04 integer 5
    ("avmplus-string", "11 06 07 616263", Amf3Value("abc")),  # 11, 06 string, U29 (3<<1|1), "abc"
]


@pytest.mark.parametrize(
    ("wire", "expected"), [(h, v) for _, h, v in MARKER_VECTORS], ids=[i for i, _, _ in MARKER_VECTORS]
)
def test_decode_marker_vectors(wire: str, expected: Any) -> None:
    data = bytes.fromhex(wire)
    value, end = decode_value(data)
    assert_same(value, expected)
    assert end == len(data)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [(h, v) for i, h, v in MARKER_VECTORS if i not in ("long-string",)],
    ids=[i for i, _, _ in MARKER_VECTORS if i not in ("long-string",)],
)
def test_encode_marker_vectors(wire: str, expected: Any) -> None:
    """The encoder produces the canonical bytes (a short string never goes out as 0x0C)."""
    assert encode_value(expected) == bytes.fromhex(wire)


def test_decode_accepts_bytearray_memoryview_and_offset() -> None:
    data = bytes.fromhex("ffff 02 0002 6869")  # two junk bytes, then string "hi"
    for form in (data, bytearray(data), memoryview(data)):
        assert decode_value(form, 2) == ("hi", len(data))
    with pytest.raises(ValueError):
        decode_value(data, len(data) + 1)


# -- AMF-2: object end and ECMA count as a hint -------------------------------------------------


def test_ecma_count_zero_with_twelve_properties() -> None:
    """Catalogue AMF-2 test: count 0 but 12 properties; the terminator decides."""
    names = [f"k{i}" for i in range(12)]
    data = bytes.fromhex("08 00000000") + b"".join(name(n) + number(i) for i, n in enumerate(names))
    data += OBJECT_END
    value, end = decode_value(data)
    assert_same(value, EcmaArray({n: float(i) for i, n in enumerate(names)}))
    assert end == len(data)


def test_ecma_count_hundred_with_three_properties() -> None:
    """Catalogue AMF-2 test: count 100 but only 3 properties, then the terminator."""
    data = b"".join(
        [
            bytes.fromhex("08 00000064"),  # ECMA array, count 100 (a lie)
            name("a") + number(1.0),
            name("b") + string("two"),
            name("c") + bytes.fromhex("01 01"),  # boolean true
            OBJECT_END,
            string("after"),  # the next value must still be found
        ]
    )
    assert decode_all(data) == [EcmaArray(a=1.0, b="two", c=True), "after"]


def test_object_end_marker_where_value_expected_is_rejected() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_value(bytes.fromhex("09"))  # bare object-end marker as a value
    assert info.value.rule == "AMF-5"
    with pytest.raises(RemoteProtocolError):
        decode_value(bytes.fromhex("03 0001 61 09"))  # "a": <object-end> — not a value


@pytest.mark.parametrize(
    "wire",
    [
        "03 0001 61 05",  # object, "a": null, then end of data (no 00 00 09)
        "03 0001 61 05 0000",  # ... empty name but no 09
        "08 00000001 0001 61 05",  # ECMA array without terminator
        "10 0001 43 0001 61 05",  # typed object "C" without terminator
    ],
)
def test_missing_terminator_is_truncation(wire: str) -> None:
    with pytest.raises(RemoteProtocolError, match="truncated"):
        decode_value(bytes.fromhex(wire))


def test_empty_property_name_with_a_value_is_a_property() -> None:
    """An empty name is only the end when 0x09 follows (AMF0 §2.11); otherwise it names a property."""
    data = bytes.fromhex("03 0000 05 000009")  # object, "": null, end
    assert decode_value(data) == ({"": None}, len(data))
    assert encode_value({"": None}) == data


# -- AMF-3: long strings ------------------------------------------------------------------------


def test_long_string_accepted_as_object_property_value() -> None:
    data = b"".join(
        [
            bytes.fromhex("03"),  # object
            name("tcUrl") + bytes.fromhex("0c 00000004") + b"rtmp",  # "tcUrl": long string "rtmp"
            OBJECT_END,
        ]
    )
    assert decode_value(data) == ({"tcUrl": "rtmp"}, len(data))


def test_long_string_accepted_as_command_name() -> None:
    data = bytes.fromhex("0c 00000007") + b"connect" + number(1.0) + bytes.fromhex("05")
    assert decode_all(data) == ["connect", 1.0, None]


def test_encoder_switches_to_long_string_above_65535_bytes() -> None:
    short = "x" * 0xFFFF
    assert encode_value(short)[:3] == bytes.fromhex("02 ffff")  # fits the U16 header
    long = "x" * 0x10000
    wire = encode_value(long)
    assert wire[:5] == bytes.fromhex("0c 00010000")  # U32 header, 65536
    assert decode_value(wire) == (long, len(wire))
    # The limit is on UTF-8 bytes, not characters: 32768 two-byte characters need 65536 bytes.
    assert encode_value("\u00e9" * 0x8000)[:1] == b"\x0c"


# -- AMF-4: booleans ----------------------------------------------------------------------------


@pytest.mark.parametrize("byte", [0x02, 0x7F, 0x80, 0xFF])
def test_any_non_zero_boolean_is_true(byte: int) -> None:
    assert decode_value(bytes([0x01, byte])) == (True, 2)  # 01 boolean, non-zero byte


# -- AMF-5: references, reserved markers, truncation, limits -------------------------------------


def test_reference_to_prior_object() -> None:
    data = b"".join(
        [
            bytes.fromhex("0a 00000002"),  # strict array (complex #0), count 2
            bytes.fromhex("03") + name("a") + number(1.0) + OBJECT_END,  # object (complex #1) {"a": 1.0}
            bytes.fromhex("07 0001"),  # reference to complex #1
        ]
    )
    (value, end) = decode_value(data)
    assert value == [{"a": 1.0}, {"a": 1.0}]
    assert value[0] is value[1]
    assert end == len(data)


def test_reference_shared_across_values_of_one_payload() -> None:
    data = b"".join(
        [
            bytes.fromhex("03") + name("k") + string("v") + OBJECT_END,  # object #0 as first value
            bytes.fromhex("07 0000"),  # second value: reference to #0
        ]
    )
    first, second = decode_all(data)
    assert first is second
    # A fresh decode_value has an empty table: the same reference alone is unknown.
    with pytest.raises(RemoteProtocolError):
        decode_value(bytes.fromhex("07 0000"))


def test_reference_table_counts_every_complex_kind_in_start_order() -> None:
    data = bytes.fromhex(
        "0a 00000004"  # #0 strict array, 4 items
        "08 00000000 000009"  # #1 empty ECMA array
        "10 0001 43 000009"  # #2 typed object "C"
        "07 0002"  # -> #2
        "07 0000"  # -> #0 (itself: a cycle)
    )
    decoder = Amf0Decoder()
    value, _ = decoder.decode_value(data)
    assert value[2] is value[1]
    assert isinstance(value[1], TypedObject)
    assert value[3] is value
    assert len(decoder.references) == 3


def test_self_reference_inside_object_makes_a_cycle() -> None:
    data = bytes.fromhex("03") + name("self") + bytes.fromhex("07 0000") + OBJECT_END
    value, _ = decode_value(data)
    assert value["self"] is value


@pytest.mark.parametrize(
    "wire",
    [
        "07 0000",  # reference #0 with an empty table
        "0a 00000001 07 0001",  # strict array #0, reference #1 does not exist yet
        "07 ffff",  # the largest index
    ],
)
def test_reference_to_unknown_index_is_rejected(wire: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_value(bytes.fromhex(wire))
    assert info.value.rule == "AMF-5"


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        ("04", "reserved"),  # 04 movieclip: reserved, not supported
        ("0e", "reserved"),  # 0E recordset: reserved, not supported
        ("12", "unknown"),  # first marker past avmplus
        ("ff", "unknown"),
    ],
)
def test_reserved_and_unknown_markers_are_rejected(wire: str, reason: str) -> None:
    with pytest.raises(RemoteProtocolError, match=reason) as info:
        decode_value(bytes.fromhex(wire))
    assert info.value.rule == "AMF-5"


def test_unsupported_marker_decodes_to_singleton_and_round_trips() -> None:
    """0x0D is a defined marker (AMF0 §2.15): no crash, a value the caller may reject."""
    data = bytes.fromhex("03") + name("x") + bytes.fromhex("0d") + OBJECT_END  # {"x": unsupported}
    value, _ = decode_value(data)
    assert value["x"] is UNSUPPORTED
    assert encode_value(value) == data


@pytest.mark.parametrize(
    "wire",
    [
        "02 0005 6869",  # string claims 5 bytes, 2 present
        "0c 7fffffff 00",  # long string claims 2 GiB
        "0f ffffffff",  # XML claims 4 GiB
        "0a ffffffff 05",  # strict array claims 4294967295 values, 1 byte left
        "08 0000",  # ECMA count cut short
        "00 0000",  # number cut short
        "0b 0000000000000000 00",  # date without the second tz byte
        "10 0009 43",  # typed object class name cut short
    ],
)
def test_lengths_past_the_end_are_rejected(wire: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_value(bytes.fromhex(wire))
    assert info.value.rule == "AMF-5"


def test_invalid_utf8_decodes_without_error_and_round_trips_byte_exact() -> None:
    data = bytes.fromhex("02 0004 61ff c328")  # "a", 0xFF (never valid), truncated 2-byte sequence
    value, _ = decode_value(data)
    assert value.startswith("a")
    assert encode_value(value) == data
    key = bytes.fromhex("03 0002 80fe 05 000009")  # object with a key of two invalid bytes
    decoded, _ = decode_value(key)
    assert encode_value(decoded) == key


def test_keys_are_case_sensitive() -> None:
    """AMF-6: "tcUrl" and "tcurl" are two properties."""
    data = bytes.fromhex("03") + name("tcUrl") + string("a") + name("tcurl") + string("b") + OBJECT_END
    value, _ = decode_value(data)
    assert value == {"tcUrl": "a", "tcurl": "b"}


def nested_objects(depth: int) -> bytes:
    """``depth`` objects each holding the next under "a"; innermost is empty."""
    return (bytes.fromhex("03") + name("a")) * (depth - 1) + bytes.fromhex("03") + OBJECT_END * depth


def test_thousand_nested_objects_raise_limit_exceeded() -> None:
    with pytest.raises(LimitExceeded) as info:
        decode_value(nested_objects(1000))
    assert info.value.limit == "MAX_AMF_DEPTH"
    assert info.value.rule == "AMF-5"


def test_thousand_nested_strict_arrays_raise_limit_exceeded() -> None:
    data = bytes.fromhex("0a 00000001") * 1000 + bytes.fromhex("05")  # [[[...[null]...]]]
    with pytest.raises(LimitExceeded):
        decode_all(data)


def test_depth_limit_is_exact_and_overridable() -> None:
    limit = amf0.MAX_AMF_DEPTH
    decode_value(nested_objects(limit))
    with pytest.raises(LimitExceeded):
        decode_value(nested_objects(limit + 1))
    decode_value(nested_objects(limit + 1), max_depth=limit + 1)
    with pytest.raises(LimitExceeded):
        decode_value(nested_objects(3), max_depth=2)
    # A huge override runs into the Python stack, which still surfaces as LimitExceeded.
    with pytest.raises(LimitExceeded):
        decode_value(nested_objects(5000), max_depth=10**6)


def test_depth_limit_continues_into_amf3() -> None:
    inner = bytes.fromhex("09 03 01") * 2 + bytes.fromhex("01")  # AMF3 [[null]]
    data = bytes.fromhex("0a 00000001") + bytes.fromhex("11") + inner  # AMF0 [ <AMF3 [[null]]> ]
    assert decode_value(data, max_depth=3)[0] == [Amf3Value([[None]])]
    with pytest.raises(LimitExceeded):
        decode_value(data, max_depth=2)


def test_amf3_errors_surface_as_remote_protocol_errors() -> None:
    with pytest.raises(RemoteProtocolError):
        decode_value(bytes.fromhex("11"))  # switch to AMF3, then nothing
    with pytest.raises(RemoteProtocolError):
        decode_value(bytes.fromhex("11 06 00"))  # AMF3 string reference #0, empty table


# -- real payloads (CMD-1, CMD-23) --------------------------------------------------------------

FFMPEG_CONNECT = b"".join(
    [
        string("connect"),  # 02 0007 "connect": command name
        number(1.0),  # 00 3ff0000000000000: transaction id 1
        bytes.fromhex("03"),  # command object
        name("app") + string("live"),
        name("type") + string("nonprivate"),  # FFmpeg gen_connect adds this when publishing
        name("flashVer") + string("FMLE/3.0 (compatible; Lavf60.16.100)"),
        name("tcUrl") + string("rtmp://127.0.0.1:1935/live"),
        OBJECT_END,
    ]
)
FFMPEG_CONNECT_VALUES = [
    "connect",
    1.0,
    {
        "app": "live",
        "type": "nonprivate",
        "flashVer": "FMLE/3.0 (compatible; Lavf60.16.100)",
        "tcUrl": "rtmp://127.0.0.1:1935/live",
    },
]

ON_METADATA = b"".join(
    [
        string("@setDataFrame"),
        string("onMetaData"),
        bytes.fromhex("08 0000000d"),  # ECMA array, count 13
        name("duration") + number(0.0),
        name("width") + number(1280.0),
        name("height") + number(720.0),
        name("videodatarate") + number(2500.0),
        name("framerate") + number(30.0),
        name("videocodecid") + number(7.0),  # AVC
        name("audiodatarate") + number(128.0),
        name("audiosamplerate") + number(44100.0),
        name("audiosamplesize") + number(16.0),
        name("stereo") + bytes.fromhex("01 01"),  # boolean true
        name("audiocodecid") + number(10.0),  # AAC
        name("encoder") + string("Lavf60.16.100"),
        name("filesize") + number(0.0),
        OBJECT_END,
    ]
)


def test_ffmpeg_connect_payload_decodes() -> None:
    values = decode_all(FFMPEG_CONNECT)
    assert_same(values, FFMPEG_CONNECT_VALUES)
    assert list(values[2]) == ["app", "type", "flashVer", "tcUrl"]  # wire order kept


def test_ffmpeg_connect_payload_encodes_byte_exact() -> None:
    assert encode_all(*FFMPEG_CONNECT_VALUES) == FFMPEG_CONNECT


def test_on_metadata_ecma_array() -> None:
    frame, event, meta = decode_all(ON_METADATA)
    assert (frame, event) == ("@setDataFrame", "onMetaData")
    assert isinstance(meta, EcmaArray) and isinstance(meta, dict)
    assert meta["width"] == 1280.0 and meta["stereo"] is True and meta["encoder"] == "Lavf60.16.100"
    assert len(meta) == 13
    assert encode_all(frame, event, meta) == ON_METADATA


def test_connect_with_amf3_command_object_after_avmplus_switch() -> None:
    """CMD-2: a type-17 body is 00 + AMF0 values; the object is AMF3 after the 0x11 marker."""
    body = b"".join(
        [
            bytes.fromhex("00"),  # type-17 format selector: AMF0 follows
            string("connect"),
            number(1.0),
            bytes.fromhex("11"),  # avmplus-object marker: one AMF3 value follows
            bytes.fromhex("0a 0b 01"),  # AMF3 object, inline dynamic traits, 0 sealed, class ""
            bytes.fromhex("07") + b"app" + bytes.fromhex("06 09") + b"live",  # "app": "live"
            bytes.fromhex("1d") + b"objectEncoding" + bytes.fromhex("04 03"),  # (14<<1|1): int 3
            bytes.fromhex("01"),  # empty name: end of dynamic members
        ]
    )
    assert decode_all(body[1:]) == ["connect", 1.0, Amf3Value({"app": "live", "objectEncoding": 3})]


# -- truncation of valid encodings (AMF-5) ------------------------------------------------------

SINGLE_VALUES = [
    ON_METADATA[len(string("@setDataFrame") + string("onMetaData")) :],
    bytes.fromhex("10 0003 466f6f 0001 78 01 01 000009"),  # typed object Foo {x: true}
    bytes.fromhex("0b 4076800000000000 0000"),  # date
    bytes.fromhex("0c 00000003 616263"),  # long string
    bytes.fromhex("0f 00000004 3c612f3e"),  # XML
    bytes.fromhex("0a 00000002 05 0a 00000001 01 00"),  # [null, [false]]
    bytes.fromhex("11 0a 0b 01 03 61 04 01 01"),  # AMF3 {a: 1}
    encode_value({"o": {"p": [1.0, "s", UNDEFINED, Date(1.0)], "q": EcmaArray(r=None)}}),
]


@pytest.mark.parametrize("data", SINGLE_VALUES, ids=[d[:1].hex() for d in SINGLE_VALUES])
def test_every_truncation_of_a_value_is_rejected(data: bytes) -> None:
    decode_value(data)  # the whole thing is valid
    for cut in range(len(data)):
        with pytest.raises(RemoteProtocolError):
            decode_value(data[:cut])


def test_every_truncation_of_connect_payload_is_rejected_or_a_prefix() -> None:
    for cut in range(len(FFMPEG_CONNECT)):
        try:
            values = decode_all(FFMPEG_CONNECT[:cut])
        except RemoteProtocolError:
            continue
        # Cutting exactly between two values leaves a valid, shorter payload.
        assert values == FFMPEG_CONNECT_VALUES[: len(values)]


# -- encoding errors (LocalProtocolError) --------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        b"bytes",  # no AMF0 type for raw bytes
        object(),
        {1: "non-str key"},
        {"x" * 0x10000: 1.0},  # property name longer than the U16 length field
        TypedObject("C" * 0x10000, {}),  # class name longer than the U16 length field
        10**400,  # int too large for a double
        Date(0.0, 40000),  # tz outside S16
        "\ud800",  # lone surrogate: not UTF-8, not a surrogateescape byte
        Amf3Value(object()),
    ],
    ids=["bytes", "object", "int-key", "long-key", "long-class", "huge-int", "tz", "surrogate", "amf3"],
)
def test_unencodable_values_raise_local_protocol_error(value: Any) -> None:
    with pytest.raises(LocalProtocolError):
        encode_value(value)


def test_encode_int_as_number_and_bool_as_boolean() -> None:
    assert encode_value(3) == number(3.0)
    assert encode_value(True) == bytes.fromhex("01 01")
    assert encode_value((1, 2)) == bytes.fromhex("0a 00000002") + number(1.0) + number(2.0)


def test_encoding_a_cycle_or_deep_nesting_raises_local_protocol_error() -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    with pytest.raises(LocalProtocolError):
        encode_value(cyclic)
    deep: list[Any] = []
    for _ in range(amf0.MAX_AMF_DEPTH):
        deep = [deep]
    with pytest.raises(LocalProtocolError):
        encode_value(deep)
    deeper = amf0.MAX_AMF_DEPTH + 1
    assert decode_value(encode_value(deep, max_depth=deeper), max_depth=deeper)[0] == deep


def test_nan_round_trips() -> None:
    value, _ = decode_value(encode_value(math.nan))
    assert math.isnan(value)


def test_singletons_and_reprs() -> None:
    assert amf3.decode_value(b"\x00")[0] is UNDEFINED  # AMF3 undefined is the same object
    assert repr(UNDEFINED) == "UNDEFINED" and repr(UNSUPPORTED) == "UNSUPPORTED"
    assert not UNDEFINED
    assert repr(EcmaArray(a=1)) == "EcmaArray({'a': 1})"
    assert repr(XmlDocument("<a/>")) == "XmlDocument('<a/>')"


# -- properties ---------------------------------------------------------------------------------

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
amf0_leaves = st.one_of(
    st.floats(allow_nan=False),
    st.booleans(),
    texts,
    st.none(),
    st.just(UNDEFINED),
    st.just(UNSUPPORTED),
    st.builds(Date, st.floats(allow_nan=False), st.integers(-0x8000, 0x7FFF)),
    st.builds(XmlDocument, texts),
    st.builds(Amf3Value, st.one_of(st.integers(-(2**28), 2**28 - 1), texts, st.lists(texts, max_size=3))),
)
amf0_values = st.recursive(
    amf0_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(texts, children, max_size=4),
        st.dictionaries(texts, children, max_size=4).map(EcmaArray),
        st.builds(TypedObject, texts, st.dictionaries(texts, children, max_size=4)),
    ),
    max_leaves=16,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(amf0_values, max_size=4))
def test_round_trip(values: list[Any]) -> None:
    wire = encode_all(*values)
    assert_same(decode_all(wire), values)
    # Same again through a bytearray and at an offset, one value at a time.
    decoder = Amf0Decoder()
    offset = 0
    buffer = bytearray(b"\xaa" + wire)
    for expected in values:
        value, next_offset = decoder.decode_value(buffer, offset + 1)
        assert_same(value, expected)
        offset = next_offset - 1
    assert offset == len(wire)


def decodes_or_rejects(data: bytes) -> None:
    try:
        decode_all(data)
    except RemoteProtocolError:
        pass


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz_arbitrary_bytes_only_raise_remote_protocol_error(data: bytes) -> None:
    decodes_or_rejects(data)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, len(FFMPEG_CONNECT) - 1), st.integers(0, 255)), max_size=4),
    st.integers(0, len(FFMPEG_CONNECT)),
)
def test_fuzz_connect_payload(mutations: list[tuple[int, int]], cut: int) -> None:
    """Catalogue AMF-5 test: mutate and cut the connect payload; decoding never crashes."""
    data = bytearray(FFMPEG_CONNECT)
    for position, byte in mutations:
        data[position] = byte
    decodes_or_rejects(bytes(data[:cut]))
