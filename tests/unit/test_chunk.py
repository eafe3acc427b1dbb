"""Chunk reader/writer: byte vectors per catalogue rule, every-offset splits, round-trip properties."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings, strategies as st

from rtmpconf.rtmp.chunk import (
    SPLIT_CHUNK, ChunkReader, ChunkWriter, ExtTsDialect, MessagePlan, RawMessage, basic_header, chunk_message,
)
from rtmpconf.rtmp.errors import LimitExceeded, RemoteProtocolError


def decode(data: bytes, **kw: object) -> list[RawMessage]:
    r = ChunkReader(**kw)  # type: ignore[arg-type]
    r.feed(data)
    return r.messages()


def decode_split(data: bytes, cut: int, **kw: object) -> list[RawMessage]:
    r = ChunkReader(**kw)  # type: ignore[arg-type]
    r.feed(data[:cut])
    out = r.messages()
    r.feed(data[cut:])
    return out + r.messages()


def assert_every_split(data: bytes, expected: list[RawMessage], **kw: object) -> None:
    for cut in range(len(data) + 1):
        assert decode_split(data, cut, **kw) == expected, f"split at {cut}"


# -- basic header (CH-1..3) --------------------------------------------------------------------

def test_fmt0_vector() -> None:
    # 03            fmt 0, csid 3
    # 00 03 E8      timestamp 1000
    # 00 00 05      length 5
    # 14            type 20 (AMF0 command)
    # 01 00 00 00   msid 1, little-endian (CH-9)
    data = bytes.fromhex("03 0003E8 000005 14 01000000") + b"hello"
    assert decode(data) == [RawMessage(3, 20, 1, 1000, b"hello")]


@pytest.mark.parametrize("csid,header", [
    (63, "3F"),  # 1-byte form, largest
    (64, "00 00"),  # 2-byte form: 64 + 0
    (319, "00 FF"),  # 2-byte form: 64 + 255
    (320, "01 00 01"),  # 3-byte form: 320-64 = 256 = low 0x00, high 0x01
    (365, "01 2D 01"),  # CH-3 example: 365-64 = 301 = 0x012D, low byte first
    (65599, "01 FF FF"),  # largest id
])
def test_basic_header_forms(csid: int, header: str) -> None:
    assert basic_header(0, csid) == bytes.fromhex(header)
    data = bytes.fromhex(header) + bytes.fromhex("000000 000001 08 00000000") + b"x"
    assert decode(data) == [RawMessage(csid, 8, 0, 0, b"x")]


def test_csid_100_in_three_byte_form_accepted() -> None:
    # CH-2: receivers must accept 64..319 in either form. 01 24 00 = 3-byte form, 36+64 = 100.
    data = bytes.fromhex("01 24 00") + bytes.fromhex("000000 000001 08 00000000") + b"x"
    assert decode(data)[0].csid == 100


# -- header compression (CH-5..7) --------------------------------------------------------------

def test_fmt3_new_message_reuses_fmt0_timestamp_as_delta() -> None:
    # CH-7: fmt0 ts=1000, then a fmt-3 chunk starting a new message: ts = 1000 + 1000.
    data = bytes.fromhex("04 0003E8 000002 08 01000000") + b"ab" + bytes.fromhex("C4") + b"cd"
    msgs = decode(data)
    assert [m.timestamp for m in msgs] == [1000, 2000]
    assert msgs[1] == RawMessage(4, 8, 1, 2000, b"cd")


def test_fmt1_and_fmt2_inherit() -> None:
    data = (
        bytes.fromhex("06 000064 000001 09 05000000") + b"a"  # fmt0 ts 100, msid 5
        + bytes.fromhex("46 000028 000002 09") + b"bc"  # fmt1 delta 40, len 2
        + bytes.fromhex("86 000021") + b"de"  # fmt2 delta 33, inherits len 2
        + bytes.fromhex("C6") + b"fg"  # fmt3 new message: delta 33 again
    )
    msgs = decode(data)
    assert [(m.timestamp, m.payload, m.msid) for m in msgs] == [
        (100, b"a", 5), (140, b"bc", 5), (173, b"de", 5), (206, b"fg", 5)]
    assert_every_split(data, msgs)


def test_ts9_continuations_do_not_advance_timestamp() -> None:
    # TS-9: fmt1 delta 40 with three fmt-3 continuations advances the timestamp by 40 only.
    payload = bytes(range(256)) + bytes(256)
    w = ChunkWriter(128)
    first = w.encode(6, 9, 1, 1000, b"k")
    second = w.encode(6, 9, 1, 1040, payload)
    msgs = decode(first + second)
    assert [m.timestamp for m in msgs] == [1000, 1040]
    assert second[0] >> 6 == 1  # fmt 1: the length changed


def test_lengths_around_chunk_size() -> None:
    # CH-10: exactly k*chunk_size (no trailing empty chunk), chunk_size+1 and 1.
    w = ChunkWriter(128)
    for size in (256, 129, 1, 128):
        data = w.encode(5, 8, 1, 0, bytes(size))
        chunks = -(-size // 128)
        # one 12-byte fmt-0 header, then a 1-byte fmt-3 header per further chunk
        assert len(data) == 12 + size + (chunks - 1)
        assert decode(data)[0].payload == bytes(size)
        w.forget()


def test_zero_length_message_then_normal() -> None:
    # CH-11: an audio message of length 0 is legal and causes no desync.
    data = bytes.fromhex("04 000010 000000 08 01000000") + bytes.fromhex("44 000015 000003 08") + b"abc"
    msgs = decode(data)
    assert msgs == [RawMessage(4, 8, 1, 16, b""), RawMessage(4, 8, 1, 37, b"abc")]
    assert_every_split(data, msgs)


def test_interleaved_chunk_streams() -> None:
    # CH-13: 128-byte audio chunks (csid 4) inside a 20 KB video message (csid 6).
    w = ChunkWriter(128)
    video = bytes((i * 7) & 0xFF for i in range(20000))
    vchunks = chunk_message(6, 0, 0, 9, 1, video, 128)
    audio = [w.encode(4, 8, 1, 21 * i, bytes([i]) * 100) for i in range(len(vchunks))]
    stream = b"".join(v + a for v, a in zip(vchunks, audio))
    msgs = decode(stream)
    assert [m for m in msgs if m.type_id == 9][0].payload == video
    assert [m.payload for m in msgs if m.type_id == 8] == [bytes([i]) * 100 for i in range(len(vchunks))]
    assert [m.timestamp for m in msgs if m.type_id == 8] == [21 * i for i in range(len(vchunks))]


def test_each_chunk_stream_keeps_its_own_timestamp() -> None:
    # TS-11: fmt2 audio deltas 21/22 interleaved with fmt1 video deltas of 40.
    w = ChunkWriter()
    out = b""
    expected = []
    a_ts = v_ts = 0
    for i in range(12):
        out += w.encode(4, 8, 1, a_ts, b"A" * 10)
        expected.append((8, a_ts))
        a_ts += 21 if i % 3 else 22
        if i % 2 == 0:
            out += w.encode(6, 9, 1, v_ts, b"V" * (20 + i))
            expected.append((9, v_ts))
            v_ts += 40
    assert [(m.type_id, m.timestamp) for m in decode(out)] == expected


# -- extended timestamps (TS-2..7) -------------------------------------------------------------

def test_ts2_boundary() -> None:
    # 16777214 fits the 24-bit field; 16777215 (0xFFFFFF) must use the extended form.
    small = chunk_message(3, 0, 16777214, 8, 1, b"x", 128)[0]
    big = chunk_message(3, 0, 16777215, 8, 1, b"x", 128)[0]
    assert small[1:4] == bytes.fromhex("FFFFFE") and len(small) == 1 + 11 + 1
    assert big[1:4] == bytes.fromhex("FFFFFF") and big[12:16] == bytes.fromhex("00FFFFFF")
    assert decode(big)[0].timestamp == 16777215


def test_ts3_fmt1_extended_field_is_a_delta() -> None:
    # TS-3: fmt0 ts=11000, then fmt1 with ext delta 0x00FFFC18 -> 11000 + 16776216 = 16787216.
    data = (
        bytes.fromhex("04 002AF8 000001 08 01000000") + b"a"
        + bytes.fromhex("44 FFFFFF 000001 08 00FFFC18") + b"b"
    )
    assert [m.timestamp for m in decode(data)] == [11000, 16787216]


def _ext_message(include_on_fmt3: bool) -> bytes:
    # fmt0 at ts 0x01000000 (extended) with a 300-byte payload at chunk size 128: three chunks.
    payload = bytes([0xAB]) * 300  # never equal to 01 00 00 00, so peeking is unambiguous
    return b"".join(chunk_message(6, 0, 0x01000000, 9, 1, payload, 128, ext_ts_on_fmt3=include_on_fmt3))


def test_ts5_fmt3_extended_field_present_or_omitted_decode_identically() -> None:
    with_ext, without_ext = _ext_message(True), _ext_message(False)
    assert len(with_ext) == len(without_ext) + 8
    a, b = decode(with_ext), decode(without_ext)
    assert a == b == [RawMessage(6, 9, 1, 0x01000000, bytes([0xAB]) * 300)]
    assert_every_split(with_ext, a)
    assert_every_split(without_ext, b)
    r = ChunkReader()
    r.feed(with_ext)
    assert (r.fmt3_ext_present, r.fmt3_ext_omitted) == (2, 0)
    r = ChunkReader()
    r.feed(without_ext)
    assert (r.fmt3_ext_present, r.fmt3_ext_omitted) == (0, 2)


def test_forced_dialects() -> None:
    assert decode(_ext_message(True), ext_ts_dialect=ExtTsDialect.PRESENT)[0].payload == b"\xab" * 300
    assert decode(_ext_message(False), ext_ts_dialect=ExtTsDialect.OMITTED)[0].payload == b"\xab" * 300


def test_ts6_crossing_0xffffff_with_continuations() -> None:
    w = ChunkWriter(128)
    stamps = [0xFFFF00 + 40 * i for i in range(20)]
    data = b"".join(w.encode(6, 9, 1, t, bytes([i]) * 300) for i, t in enumerate(stamps))
    for dialect in (True, False):
        w2 = ChunkWriter(128, ext_ts_on_fmt3=dialect)
        data = b"".join(w2.encode(6, 9, 1, t, bytes([i + 1]) * 300) for i, t in enumerate(stamps))
        msgs = decode(data)
        assert [m.timestamp for m in msgs] == stamps
        assert [m.payload for m in msgs] == [bytes([i + 1]) * 300 for i in range(20)]


def test_ts7_wrap_with_serial_arithmetic() -> None:
    w = ChunkWriter()
    data = w.encode(4, 8, 1, 0xFFFFFF00, b"a") + w.encode(4, 8, 1, 0x00000100, b"b")
    # The second header is a delta (fmt 2/3 with 0x200), not a backwards fmt 0.
    assert [m.timestamp for m in decode(data)] == [0xFFFFFF00, 0x100]
    assert data[len(data) - 5] >> 6 in (2, 3)
    w = ChunkWriter()
    data = w.encode(4, 8, 1, 0x7FFFFF00, b"a") + w.encode(4, 8, 1, 0x80000100, b"b")
    assert [m.timestamp for m in decode(data)] == [0x7FFFFF00, 0x80000100]


def test_backwards_timestamp_uses_fmt0() -> None:
    # TS-8 / §5.3.1.2.1: deltas are unsigned, so going back needs fmt 0.
    w = ChunkWriter()
    w.encode(4, 8, 1, 5000, b"a")
    data = w.encode(4, 8, 1, 1000, b"b")
    assert data[0] >> 6 == 0


# -- chunk size, abort, control (CH-14..18) ----------------------------------------------------

def test_set_chunk_size_applies_to_the_very_next_chunk() -> None:
    # CH-16: Set Chunk Size and a message chunked at the new size in one buffer.
    payload = bytes(range(200)) * 20
    scs = chunk_message(2, 0, 0, 1, 0, struct.pack(">I", 4096), 128)[0]
    big = b"".join(chunk_message(6, 0, 0, 9, 1, payload, 4096))
    data = scs + big
    msgs = decode(data)
    assert msgs[1].payload == payload
    assert_every_split(data, msgs)


@pytest.mark.parametrize("value", [0, 0x80000000, 0xFFFFFFFF])
def test_illegal_chunk_sizes_refused(value: int) -> None:
    data = chunk_message(2, 0, 0, 1, 0, struct.pack(">I", value), 128)[0]
    with pytest.raises(RemoteProtocolError) as err:
        decode(data)
    assert err.value.rule == "CH-15"


@pytest.mark.parametrize("value", [1, 64, 0x01000000, 0x7FFFFFFF])
def test_legal_chunk_sizes_accepted(value: int) -> None:
    r = ChunkReader()
    r.feed(chunk_message(2, 0, 0, 1, 0, struct.pack(">I", value), 128)[0])
    assert r.chunk_size == min(value, 0xFFFFFF)


def test_short_set_chunk_size_refused() -> None:
    with pytest.raises(RemoteProtocolError) as err:
        decode(chunk_message(2, 0, 0, 1, 0, b"\x00\x10", 128)[0])
    assert err.value.rule == "CTRL-5"


def test_abort_discards_partial_message() -> None:
    # CH-18: half a message, Abort for its csid, then a fresh fmt0 message on that csid.
    half = chunk_message(6, 0, 0, 9, 1, bytes(300), 128)[0]
    abort = chunk_message(2, 0, 0, 2, 0, struct.pack(">I", 6), 128)[0]
    fresh = chunk_message(6, 0, 40, 9, 1, b"fresh", 128)[0]
    msgs = decode(half + abort + fresh)
    assert [(m.type_id, m.payload) for m in msgs] == [(2, b"\x00\x00\x00\x06"), (9, b"fresh")]


def test_fmt0_mid_message_discards_partial_with_notice() -> None:
    # CH-12: documented policy: discard the partial message and restart.
    half = chunk_message(6, 0, 0, 9, 1, bytes(300), 128)[0]
    fresh = chunk_message(6, 0, 40, 9, 1, b"fresh", 128)[0]
    r = ChunkReader()
    r.feed(half + fresh)
    assert [m.payload for m in r.messages()] == [b"fresh"]
    assert [n.rule for n in r.notices] == ["CH-12"]


def test_fresh_chunk_stream_rules() -> None:
    # CH-8: fmt 2/3 cannot start a chunk stream; fmt 1 is tolerated (librtmp pings) with a notice.
    for head in ("89 000000", "C9"):
        with pytest.raises(RemoteProtocolError) as err:
            decode(bytes.fromhex(head) + b"x")
        assert err.value.rule == "CH-8"
    r = ChunkReader()
    r.feed(bytes.fromhex("42 000000 000006 04") + bytes.fromhex("0006 00000001"))
    assert r.messages()[0] == RawMessage(2, 4, 0, 0, bytes.fromhex("000600000001"))
    assert r.notices[0].rule == "CH-8"


def test_many_csids_announcing_16mb_stay_bounded() -> None:
    # ROB-1: 1000 csids each announcing 0xFFFFFF bytes and sending one: bounded, then refused.
    data = b"".join(
        basic_header(0, 100 + i) + bytes.fromhex("000000 FFFFFF 09 01000000") + b"\x00" * 128
        for i in range(1000)
    )
    r = ChunkReader()
    with pytest.raises(LimitExceeded) as err:
        r.feed(data)
    assert err.value.limit == "MAX_OPEN_MESSAGES"


def test_max_message_length_limit() -> None:
    with pytest.raises(LimitExceeded) as err:
        decode(bytes.fromhex("06 000000 200000 09 01000000"), max_message_length=1 << 20)
    assert err.value.rule == "CH-19"


def test_two_megabyte_keyframe_accepted() -> None:
    payload = bytes(2 * 1024 * 1024)
    data = b"".join(chunk_message(6, 0, 0, 9, 1, payload, 4096))
    assert decode(data, chunk_size=4096)[0].payload == payload


def test_chunk_records() -> None:
    r = ChunkReader(record_chunks=True)
    r.feed(_ext_message(True))
    assert r.chunks is not None
    assert [c.fmt for c in r.chunks] == [0, 3, 3]
    assert [c.ext_on_fmt3 for c in r.chunks] == [None, True, True]
    assert r.chunks[0].header_len == 1 + 11 + 4 and r.chunks[-1].completes_message


# -- writer ------------------------------------------------------------------------------------

def test_writer_picks_smallest_header() -> None:
    w = ChunkWriter()
    fmts = []
    for ts, size, type_id in [(0, 10, 9), (40, 12, 9), (80, 12, 9), (120, 12, 9), (153, 12, 9), (200, 5, 8)]:
        fmts.append(w.encode(6, type_id, 1, ts, bytes(size))[0] >> 6)
    # new stream -> 0; length changed -> 1; same delta 40 -> 3, 3; delta 33 -> 2; type -> 1
    assert fmts == [0, 1, 3, 3, 2, 1]


def test_writer_msid_change_forces_fmt0() -> None:
    w = ChunkWriter()
    w.encode(3, 20, 0, 0, b"a")
    assert w.encode(3, 20, 1, 0, b"a")[0] >> 6 == 0


def test_planned_encoding_can_force_illegal_headers() -> None:
    w = ChunkWriter()
    chunks = w.encode_planned(9, 8, 1, 0, b"x" * 10, MessagePlan(fmt=3))
    assert chunks[0][0] >> 6 == 3
    with pytest.raises(RemoteProtocolError):
        decode(b"".join(chunks))
    chunks = ChunkWriter().encode_planned(100, 8, 1, 0, b"x", MessagePlan(csid_form=3))
    assert chunks[0][:3] == bytes.fromhex("01 24 00")


# -- properties --------------------------------------------------------------------------------

message_st = st.builds(
    lambda csid, type_id, msid, ts, payload: (csid, type_id, msid, ts, payload),
    st.sampled_from([3, 4, 5, 6, 8, 63, 64, 200, 319, 320, 1000, 65599]),
    st.sampled_from([8, 9, 18, 20]),
    st.sampled_from([0, 1, 5, 0x01000000]),
    st.one_of(st.integers(0, 2000), st.integers(0xFFFF00, 0x1000100), st.integers(0, 0xFFFFFFFF)),
    st.binary(max_size=700),
)


@settings(max_examples=300, deadline=None)
@given(
    msgs=st.lists(message_st, max_size=12),
    chunk_size=st.sampled_from([1, 2, 7, 128, 129, 4096, 65536]),
    ext_fmt3=st.booleans(),
    interleave=st.booleans(),
    cuts=st.lists(st.integers(0, 20000), max_size=4),
)
def test_roundtrip_property(msgs: list[tuple[int, int, int, int, bytes]], chunk_size: int, ext_fmt3: bool,
                            interleave: bool, cuts: list[int]) -> None:
    """decode(encode(x)) == x for any messages, chunk size, legal fmt choice and interleave."""
    w = ChunkWriter(chunk_size, ext_ts_on_fmt3=ext_fmt3)
    per_message: list[list[bytes]] = []
    for csid, type_id, msid, ts, payload in msgs:
        enc = w.encode_shared(csid, type_id, msid, ts, payload)
        chunks = chunk_message(csid, enc.fmt, enc.ts_field, type_id, msid, payload, chunk_size,
                               ext_ts_on_fmt3=ext_fmt3)
        assert b"".join(chunks) == enc.data  # the shared encoding names the header it used
        per_message.append(chunks)
    if interleave:
        # Round-robin chunks of consecutive messages on *different* chunk streams; order within
        # a chunk stream is kept, so the result is a legal interleave (CH-13).
        stream = _interleave(per_message, [m[0] for m in msgs])
    else:
        stream = b"".join(b"".join(c) for c in per_message)
    reader = ChunkReader(chunk_size=chunk_size, ext_ts_dialect=ExtTsDialect.PRESENT if ext_fmt3 else ExtTsDialect.OMITTED)
    got: list[RawMessage] = []
    prev = 0
    for cut in sorted(c % (len(stream) + 1) for c in cuts) + [len(stream)]:
        reader.feed(stream[prev:cut])
        prev = cut
        got += reader.messages()
    expected = [RawMessage(c, t, m, ts & 0xFFFFFFFF, p) for c, t, m, ts, p in msgs]
    if interleave:
        key = lambda m: (m.csid, m.timestamp, m.payload)  # noqa: E731
        assert sorted(got, key=key) == sorted(expected, key=key)
        for csid in {m.csid for m in expected}:
            assert [m for m in got if m.csid == csid] == [m for m in expected if m.csid == csid]
    else:
        assert got == expected


def _interleave(per_message: list[list[bytes]], csids: list[int]) -> bytes:
    out: list[bytes] = []
    pending: list[tuple[int, list[bytes]]] = []
    for csid, chunks in zip(csids, per_message):
        # A message may only start after the previous message on its csid is fully out.
        while any(c == csid for c, _ in pending):
            _round(pending, out)
        pending.append((csid, list(chunks)))
    while pending:
        _round(pending, out)
    return b"".join(out)


def _round(pending: list[tuple[int, list[bytes]]], out: list[bytes]) -> None:
    for _, chunks in pending:
        out.append(chunks.pop(0))
    pending[:] = [(c, ch) for c, ch in pending if ch]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_reader_fuzz_raises_only_protocol_errors(data: bytes) -> None:
    r = ChunkReader()
    try:
        r.feed(data)
        r.feed(b"")
    except RemoteProtocolError:
        pass


# -- hostile peers: huge chunks, 1-byte chunks (issue 10, tests/doubles/hostile.py) ------------

def _huge_chunk_stream() -> tuple[bytes, list[RawMessage]]:
    # Set Chunk Size 0x7FFFFFFF (chunk size becomes 0xFFFFFF: no message is longer), then a 200 000
    # byte video message (one chunk), a 5-byte command, a 70 000-byte audio message (one chunk) and
    # a second video message on the first csid (fmt 3: same length, type and delta).
    scs = chunk_message(2, 0, 0, 1, 0, struct.pack(">I", 0x7FFFFFFF), 128)[0]
    video = bytes(range(256)) * 781 + bytes(64)
    audio = b"\xaf" * 70_000
    data = (scs + b"".join(chunk_message(6, 0, 10, 9, 1, video, 0xFFFFFF))
            + b"".join(chunk_message(3, 0, 0, 20, 0, b"hello", 0xFFFFFF))
            + b"".join(chunk_message(4, 0, 20, 8, 1, audio, 0xFFFFFF))
            + b"".join(chunk_message(6, 3, 10, 9, 1, video[::-1], 0xFFFFFF)))
    expected = [RawMessage(2, 1, 0, 0, struct.pack(">I", 0x7FFFFFFF)), RawMessage(6, 9, 1, 10, video),
                RawMessage(3, 20, 0, 0, b"hello"), RawMessage(4, 8, 1, 20, audio),
                RawMessage(6, 9, 1, 20, video[::-1])]
    return data, expected


@pytest.mark.parametrize("piece", [7, 4096, 65_535, 65_536, 262_144, 1 << 30])
def test_huge_chunks_taken_in_pieces(piece: int) -> None:
    """A chunk of 64 KiB or more is taken as its bytes arrive: same messages and chunk records
    whatever the read size, and nothing re-copied per read (no quadratic buffer growth)."""
    data, expected = _huge_chunk_stream()
    whole = ChunkReader(record_chunks=True)
    whole.feed(data)
    r = ChunkReader(record_chunks=True)
    got: list[RawMessage] = []
    for off in range(0, len(data), piece):
        r.feed(data[off:off + piece])
        got += r.messages()
        assert len(r._buf) < SPLIT_CHUNK + 64  # never a whole huge chunk parked in the buffer
    assert got == expected == whole.messages()
    assert r.chunks == whole.chunks and r.chunks_read == 5 and r.consumed == len(data) and r.buffered == 0


def test_huge_chunk_in_progress_counts_as_buffered() -> None:
    """A chunk taken in pieces is not a whole chunk yet: a close now is not clean (Connection)."""
    data, _ = _huge_chunk_stream()
    start = len(chunk_message(2, 0, 0, 1, 0, struct.pack(">I", 0x7FFFFFFF), 128)[0])
    r = ChunkReader()
    r.feed(data[:start + 100_000])
    assert [m.type_id for m in r.messages()] == [1]
    assert r.buffered == 100_000  # the video chunk's 12-byte header and first 99 988 payload bytes
    r.feed(data[start + 100_000:start + 12 + 200_000])
    assert r.buffered == 0 and r.messages()[0].type_id == 9


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(0, 600_000), max_size=6))
def test_huge_chunks_any_cut(cuts: list[int]) -> None:
    data, expected = _huge_chunk_stream()
    r = ChunkReader()
    prev = 0
    got: list[RawMessage] = []
    for cut in sorted(c % (len(data) + 1) for c in cuts) + [len(data)]:
        r.feed(data[prev:cut])
        prev = cut
        got += r.messages()
    assert got == expected


def test_one_byte_chunks_cost_their_payload_not_a_view_each() -> None:
    """ROB-1: a 16 MiB message in 1-byte chunks is legal; its partial payload must cost about its
    own size, not ~200 bytes of view object per byte (3 GiB for the whole message)."""
    import sys

    scs = chunk_message(2, 0, 0, 1, 0, struct.pack(">I", 1), 128)[0]
    # fmt 0 on csid 40: ts 0, length 0xFFFFFF, audio, msid 0, first payload byte; then 199 999
    # chunks of 0xE8 (fmt 3, csid 40) + one payload byte.
    start = basic_header(0, 40) + bytes.fromhex("000000 FFFFFF 08 00000000") + b"\xaf"
    body = b"\xe8\xaf" * 199_999
    r = ChunkReader()
    r.feed(scs + start)
    for off in range(0, len(body), 65_536):
        r.feed(body[off:off + 65_536])
    assert r.chunks_read == 1 + 1 + 199_999
    parts = r._streams[40].parts
    held = sum(sys.getsizeof(p) for p in parts)
    assert held < 2 * 200_000, (len(parts), held)  # ~ the 200 000 payload bytes, not 40 MB of views
