"""AMF0 cases (catalogue section 6, Adobe AMF0 specification).

A server's AMF decoder shows through ``connect`` (answered or refused) and through metadata
relayed to a player. Raw AMF bytes are built by hand (harness.checks.amf builders) wherever the
encoder would not produce them; each vector says what its bytes are.
"""

from __future__ import annotations

import random

import pytest

from rtmpconf.harness.checks.amf import (
    check_malformed_rejected,
    check_metadata_values,
    raw_ecma,
    raw_key,
    raw_long_string,
    raw_object,
    raw_string,
    raw_value,
)
from rtmpconf.harness.checks.commands import check_connect_tolerated, check_pause_notify
from rtmpconf.harness.checks.media import avc_sequence_header
from rtmpconf.harness.client import RtmpClient
from rtmpconf.harness.scenarios import (
    PROBE_S,
    STEP_ERRORS,
    connect_object,
    fresh_session,
    join_player,
    publish_stream,
    settle,
    start_playing,
)
from rtmpconf.harness.verdict import Verdict
from rtmpconf.harness.wirelog import WireLog
from rtmpconf.rtmp import amf0, amf3
from rtmpconf.rtmp.messages import Data, UnknownMessage, Video

# -- scenario helpers ------------------------------------------------------------------------------


async def send_connect(rtmp, payload: bytes, *, type_id: int = 20) -> RtmpClient:
    """Handshake, then a connect message with exactly ``payload``; waits for a reply or close."""
    async with rtmp.client() as c:
        await c.handshake()
        try:
            await c.send(UnknownMessage(type_id, payload))  # raw AMF0 body as message type 20
            await c.wait_reply(1.0, "connect", PROBE_S)
        except STEP_ERRORS:
            pass
        await settle(c)
    return c


def connect_pairs(rtmp, app: str | None = None) -> list[tuple[str, bytes]]:
    """The harness's connect object as (key, encoded value) pairs, to splice raw values into."""
    return [(k, raw_value(v)) for k, v in connect_object(rtmp.target, app).items()]


def connect_head() -> bytes:
    """02 00 07 "connect", 00 <double 1.0>: command name and transaction id 1."""
    return raw_string("connect") + raw_value(1.0)


async def relay_metadata(rtmp, vector: bytes) -> tuple[WireLog, WireLog]:
    """A player waits for a name; the publisher publishes it and sends the data message
    ``vector`` (raw AMF0, type 18), then a well-formed control onMetaData {control: true}, then
    an AVC sequence header (nginx sends metadata to a player only ahead of audio/video).
    Returns (publisher log, player log)."""
    name = rtmp.stream_name()
    async with rtmp.client(label="player") as player, rtmp.client(label="publisher") as pub:
        await join_player(player, name)
        await pub.handshake()
        await pub.connect()
        await pub.publish(name)
        sid = pub.stream_id or 1
        try:
            await pub.send(UnknownMessage(18, vector), msid=sid)  # raw data message body
            await pub.send(Data(("@setDataFrame", "onMetaData", amf0.EcmaArray(control=True))), msid=sid)
            await pub.send(Video(avc_sequence_header()), msid=sid)
        except STEP_ERRORS:
            pass
        await settle(pub)
        try:
            await player.wait_for(lambda e: isinstance(e.message, Data) and any(
                isinstance(v, dict) and "control" in v for v in e.message.values), "control metadata", PROBE_S)
        except STEP_ERRORS:
            pass
    return pub.log, player.log


def metadata_vector(body: bytes) -> bytes:
    """02 "@setDataFrame" 02 "onMetaData" + ``body`` (the metadata argument, raw)."""
    return raw_string("@setDataFrame") + raw_string("onMetaData") + body


# -- AMF-1: every marker ------------------------------------------------------------------------------

MARKER_ARGUMENTS: dict[str, bytes] = {
    "number": raw_value(1.5),  # 00 3F F8 00 00 00 00 00 00
    "boolean": raw_value(True),  # 01 01
    "string": raw_value("str"),  # 02 00 03 "str"
    "object": raw_value({"k": 1.0}),  # 03 00 01 "k" 00 <1.0> 00 00 09
    "null": raw_value(None),  # 05
    "undefined": raw_value(amf0.UNDEFINED),  # 06
    "ecma-array": raw_value(amf0.EcmaArray(k="v")),  # 08 00000001 00 01 "k" 02 00 01 "v" 00 00 09
    "strict-array": raw_value([1.0, "two"]),  # 0A 00000002 00 <1.0> 02 00 03 "two"
    "date": raw_value(amf0.Date(1.7e12, 0)),  # 0B <double ms> 00 00 (time zone)
    "long-string": raw_long_string("long"),  # 0C 00000004 "long" (long form of a short text)
    "xml-document": raw_value(amf0.XmlDocument("<a/>")),  # 0F 00000004 "<a/>"
    "typed-object": raw_value(amf0.TypedObject("org.example.T", {"x": 1.0})),  # 10 class name, pairs, 00 00 09
    "valid-reference": b"\x07\x00\x00",  # 07 index 0: the command object decoded before it
}
#: What refusing a legal vector costs: a valid 0x07 reference is legal but few peers resolve it.
_REFUSAL = {"valid-reference": Verdict.NON_STRICT}


@pytest.mark.rule("AMF-1")
@pytest.mark.parametrize("marker", list(MARKER_ARGUMENTS))
async def test_marker_in_connect_argument(rtmp, marker):
    """Sends connect with one optional user argument of the given AMF0 type after the command
    object (see MARKER_ARGUMENTS for the bytes), then opens a fresh connection.

    Requirement (AMF0 §2): the markers 0x00-0x0C, 0x0F and 0x10 are defined value types; a
    decoder reads each of them, so connect is accepted.
    """
    payload = connect_head() + raw_object(connect_pairs(rtmp)) + MARKER_ARGUMENTS[marker]
    c = await send_connect(rtmp, payload)
    fresh = await fresh_session(rtmp, label="fresh", handshake_timeout=None)
    rtmp.judge(check_connect_tolerated("AMF-1", c.log, f"a user argument of type {marker}",
                                       reject_verdict=_REFUSAL.get(marker, Verdict.FAIL), fresh=fresh))


# -- AMF-2: ECMA array counts ---------------------------------------------------------------------------

ECMA_COUNTS = {
    "count-0-with-12": (0, 12),  # associative-count 0, 12 properties follow
    "count-100-with-3": (100, 3),  # count 100, only 3 properties before 00 00 09
    "count-max-with-2": (0xFFFFFFFF, 2),  # count 0xFFFFFFFF, 2 properties
}


@pytest.mark.rule("AMF-2")
@pytest.mark.parametrize("vector", list(ECMA_COUNTS))
async def test_ecma_count_is_a_hint(rtmp, vector):
    """A player waits; the publisher sends ["@setDataFrame", "onMetaData", ECMA array] whose
    U32 count disagrees with the properties that follow (p0 = 0.0, p1 = 1.0, ...; see
    ECMA_COUNTS), then a well-formed control onMetaData.

    Requirement (AMF-2): objects and ECMA arrays end with 00 00 09; "the ECMA count is only a
    hint: parse until the terminator" — the player gets every property.
    """
    count, n = ECMA_COUNTS[vector]
    props = {f"p{i}": float(i) for i in range(n)}
    body = raw_ecma([(k, raw_value(v)) for k, v in props.items()], count)
    pub, player = await relay_metadata(rtmp, metadata_vector(body))
    rtmp.judge(check_metadata_values(pub, player, props, rule="AMF-2"))


# -- AMF-3: long strings --------------------------------------------------------------------------------


@pytest.mark.rule("AMF-3")
async def test_long_string_app_in_connect(rtmp):
    """Sends connect whose "app" value is a 0x0C long string (U32 length) holding the plain app
    name; the rest of the command object is the usual one.

    Requirement (AMF-3): "Decoders must accept 0x0C anywhere a string is allowed" — connect
    succeeds.
    """
    pairs = [("app", raw_long_string(rtmp.target.app))] + connect_pairs(rtmp)[1:]
    c = await send_connect(rtmp, connect_head() + raw_object(pairs))
    rtmp.judge(check_connect_tolerated("AMF-3", c.log, "app as a 0x0C long string"))


LONG_STRINGS = {
    "short-text-long-form": ("title", "long form of a short title"),  # 0x0C for 26 bytes
    "70000-bytes": ("comment", "x" * 70_000),  # must be 0x0C: over 65535 bytes
}


@pytest.mark.rule("AMF-3")
@pytest.mark.parametrize("vector", list(LONG_STRINGS))
async def test_long_string_in_metadata(rtmp, vector):
    """A player waits; the publisher sends onMetaData {<key>: 0x0C long string} — a short text in
    the long form, or a 70 000-byte string (which needs it) — then a control onMetaData.

    Requirement (AMF-3): "Strings over 65535 bytes use 0x0C. Decoders must accept 0x0C anywhere
    a string is allowed" — the player gets the exact value.
    """
    key, text = LONG_STRINGS[vector]
    body = raw_ecma([(key, raw_long_string(text))], 1)  # 08 00000001, key, 0C <U32 len> text, 00 00 09
    pub, player = await relay_metadata(rtmp, metadata_vector(body))
    rtmp.judge(check_metadata_values(pub, player, {key: text}, rule="AMF-3"))


# -- AMF-4: boolean -------------------------------------------------------------------------------------


@pytest.mark.rule("AMF-4")
async def test_boolean_two_in_metadata(rtmp):
    """A player waits; the publisher sends onMetaData {stereo: 01 02} (boolean byte 0x02), then a
    control onMetaData.

    Requirement (AMF0 §2.3): "a zero byte value denotes false while a non-zero byte value
    (typically 1) denotes true" — the player sees stereo = true.
    """
    body = raw_ecma([("stereo", b"\x01\x02")], 1)  # boolean marker 01, value byte 02
    pub, player = await relay_metadata(rtmp, metadata_vector(body))
    rtmp.judge(check_metadata_values(pub, player, {"stereo": True}, rule="AMF-4"))


@pytest.mark.rule("AMF-4")
async def test_boolean_two_in_pause(rtmp):
    """A player of a live stream sends pause with the pause flag encoded as boolean 0x02:
    02 "pause" 00 <0.0> 05 01 02 00 <200.0>.

    Requirement (AMF0 §2.3): any non-zero boolean byte is true, so this pauses: the server
    answers NetStream.Pause.Notify, not Unpause.Notify.
    """
    # "pause", tid 0, null, boolean 0x02 (true), milliseconds 200
    payload = raw_string("pause") + raw_value(0.0) + b"\x05" + b"\x01\x02" + raw_value(200.0)
    name = rtmp.stream_name()
    async with rtmp.client(label="publisher") as pub:
        await publish_stream(pub, name, until_ms=200)
        async with rtmp.client(label="player") as player:
            await start_playing(player, name)
            await player.send(UnknownMessage(20, payload), msid=player.stream_id or 1)
            try:
                await player.wait_status("pause", ("NetStream.Pause.Notify", "NetStream.Unpause.Notify"), PROBE_S)
            except STEP_ERRORS:
                pass
    rtmp.judge(check_pause_notify(player.log, rule="AMF-4"))


# -- AMF-5: malformed payloads --------------------------------------------------------------------------


def _nested(depth: int) -> bytes:
    """``depth`` objects each holding the next under key "n": 03 00 01 "n" 03 ... 05 ... 00 00 09."""
    return b"\x03\x00\x01n" * depth + b"\x05" + b"\x00\x00\x09" * depth


def malformed_connects(rtmp) -> dict[str, tuple[bytes, bool]]:
    """AMF-5 vectors: name -> (connect payload, whether it is invalid AMF0)."""
    head = connect_head()
    good = connect_pairs(rtmp)

    def with_value(raw: bytes) -> bytes:
        # The usual object plus a property "x" whose value is ``raw`` (then 00 00 09, if it parses).
        return head + raw_object(good + [("x", raw)])

    full = head + raw_object(good)
    return {
        "truncated-object": (full[: len(full) // 2], True),  # cut in the middle of the object
        "string-length-past-end": (head + b"\x03" + raw_key("app") + b"\x02\xff\xff" + b"live", True),  # U16 65535, 4 bytes left
        "long-string-length-past-end": (with_value(b"\x0c\x7f\xff\xff\xff" + b"x"), True),  # U32 0x7FFFFFFF, 1 byte + end
        "number-truncated": (raw_string("connect") + b"\x00\x3f\xf0", True),  # tid: 3 of 8 double bytes
        "name-not-a-string": (raw_value(1.0) + raw_value(1.0) + raw_object(good), True),  # 00 <1.0> where "connect" goes
        "unknown-reference": (with_value(b"\x07\x00\x05"), True),  # 07 index 5: only 1 complex value so far
        "marker-0x04-movieclip": (with_value(b"\x04"), True),  # reserved
        "marker-0x0e-recordset": (with_value(b"\x0e"), True),  # reserved
        "marker-0x12-undefined": (with_value(b"\x12"), True),  # beyond 0x11
        "object-end-as-value": (with_value(b"\x09"), True),  # 09 where a value is expected
        "strict-array-count-past-end": (with_value(b"\x0a\xff\xff\xff\xff\x05"), True),  # U32 count 2^32-1, 1 value
        "ecma-array-unterminated": (with_value(b"\x08\x00\x00\x00\x01" + raw_key("k") + b"\x05"), True),  # no 00 00 09
        "marker-0x0d-unsupported": (with_value(b"\x0d"), False),  # defined marker (AMF0 §2.15): may be accepted
        "deep-nesting-64": (with_value(_nested(64)), False),  # legal but hostile
        "deep-nesting-10000": (with_value(_nested(10_000)), False),  # 40 KB of nesting: a recursion bomb
    }


_MALFORMED_NAMES = [
    "truncated-object", "string-length-past-end", "long-string-length-past-end", "number-truncated",
    "name-not-a-string", "unknown-reference", "marker-0x04-movieclip", "marker-0x0e-recordset",
    "marker-0x12-undefined", "object-end-as-value", "strict-array-count-past-end", "ecma-array-unterminated",
    "marker-0x0d-unsupported", "deep-nesting-64", "deep-nesting-10000",
]


@pytest.mark.rule("AMF-5")
@pytest.mark.parametrize("vector", _MALFORMED_NAMES)
async def test_malformed_connect_payload(rtmp, vector):
    """Sends connect (type 20) with one malformed AMF0 payload (see malformed_connects for each
    vector's bytes), probes, then opens a fresh connection.

    Requirement (AMF-5): "Truncated values, a U16/U32 length past the end of the message, deep
    nesting, a 0x07 reference to an unknown index, and 0x04/0x0D/0x0E must all be rejected
    without crashing" — an ``_error`` or a close, and the server still serves new connections.
    """
    payload, invalid = malformed_connects(rtmp)[vector]
    c = await send_connect(rtmp, payload)
    fresh = await fresh_session(rtmp, label="fresh", handshake_timeout=None)
    rtmp.judge(check_malformed_rejected(c.log, fresh, vector, invalid=invalid))


@pytest.mark.rule("AMF-5")
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
async def test_fuzzed_connect_payload(rtmp, seed):
    """Sends connect whose AMF0 payload is the usual one with 6 random bytes overwritten and,
    for even seeds, cut at a random point (seeded, so every run sends the same bytes); probes,
    then opens a fresh connection.

    Requirement (AMF-5): whatever the bytes, the payload is answered, refused or the connection
    closed — the server never crashes (fuzz the connect payload).
    """
    rng = random.Random(seed)
    data = bytearray(connect_head() + raw_object(connect_pairs(rtmp)))
    for _ in range(6):
        data[rng.randrange(len(data))] = rng.randrange(256)
    if seed % 2 == 0:
        data = data[: rng.randrange(12, len(data))]
    c = await send_connect(rtmp, bytes(data))
    fresh = await fresh_session(rtmp, label="fresh", handshake_timeout=None)
    rtmp.judge(check_malformed_rejected(c.log, fresh, f"fuzz seed {seed} ({len(data)} bytes)", invalid=False))


# -- AMF-6: key case and avmplus in AMF0 ------------------------------------------------------------------


def _key_variant(rtmp, variant: str) -> bytes:
    t = rtmp.target
    pairs: list[tuple[str, bytes]] = connect_pairs(rtmp)
    if variant == "tcurl-lowercase-only":
        pairs = [(("tcurl" if k == "tcUrl" else k), v) for k, v in pairs]
    elif variant == "both-cases":
        # The real tcUrl, plus a "tcurl" naming another app: keys are case-sensitive.
        pairs = pairs + [("tcurl", raw_string(f"rtmp://{t.host}:{t.port}/other-app"))]
    body = connect_head() + raw_object(pairs)
    if variant == "avmplus-in-amf0":
        body += b"\x11" + amf3.encode_value({"a": 1})  # 0x11 + AMF3 object, in a type-20 command
    return body


_KEY_VARIANTS: dict[str, Verdict] = {
    "tcurl-lowercase-only": Verdict.INFORMATIONAL,  # no "tcUrl" at all: refusing is fair
    "both-cases": Verdict.NON_STRICT,  # "tcUrl" is right: refusing means "tcurl" was read as it
    "avmplus-in-amf0": Verdict.INFORMATIONAL,  # AMF0-only peers may "throw an unknown type error"
}


@pytest.mark.rule("AMF-6")
@pytest.mark.parametrize("variant", list(_KEY_VARIANTS))
async def test_key_case_and_avmplus(rtmp, variant):
    """Sends connect with "tcurl" instead of "tcUrl", with both (the lowercase one naming another
    app), or with a 0x11 avmplus (AMF3) argument in an AMF0 command; then a fresh connection.

    Requirement (AMF-6): object keys are case-sensitive ("tcUrl" vs "tcurl"); AMF0-only peers
    must not crash on 0x11 (AMF0 §3.1: they should "throw an unknown type error").
    """
    c = await send_connect(rtmp, _key_variant(rtmp, variant))
    fresh = await fresh_session(rtmp, label="fresh", handshake_timeout=None)
    rtmp.judge(check_connect_tolerated("AMF-6", c.log, variant, reject_verdict=_KEY_VARIANTS[variant],
                                       fresh=fresh))
