"""Unit tests for rtmp.handshake (catalogue section 1, HS-1..HS-16)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import random
import struct
from collections.abc import Callable, Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtmpconf.rtmp.errors import LocalProtocolError, RemoteProtocolError
from rtmpconf.rtmp.handshake import (
    CLIENT_KEY_PARTIAL,
    ClientHandshake,
    DigestScheme,
    HandshakeInfo,
    HandshakeMode,
    ServerHandshake,
    digest_offset,
    find_digest_scheme,
    imprint_digest,
)

# Written out here rather than imported, so the known-answer tests do not trust the module's constants.
GENUINE_SUFFIX = bytes.fromhex("f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae")
PLAYER_TEXT = b"Genuine Adobe Flash Player 001"  # 30 bytes: signs C1
FMS_TEXT = b"Genuine Adobe Flash Media Server 001"  # 36 bytes: signs S1

# A fake connect chunk following C2 in the same write, as librtmp does (HS-6):
# 03 = fmt 0, csid 3; 000000 = timestamp; 00000a = length 10; 14 = AMF0 command; 00000000 = stream 0;
# then the 10-byte payload 02 0007 "connect" (an AMF0 string marker, length 7, the command name).
FAKE_CONNECT = bytes.fromhex("0300000000000a1400000000") + b"\x02\x00\x07connect"


def rng(seed: int) -> Callable[[int], bytes]:
    """Deterministic stand-in for os.urandom."""
    return random.Random(seed).randbytes


def feed(machine: ServerHandshake | ClientHandshake, pieces: Iterable[bytes]) -> bytes:
    """Feed each non-empty piece (b"" means EOF), draining output after each; return all output."""
    out = b""
    for piece in pieces:
        if not piece:
            continue
        machine.receive_data(piece)
        out += machine.data_to_send()
    return out


def one_byte_pieces(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def run_pair(
    client: ClientHandshake, server: ServerHandshake, tail: bytes = b""
) -> tuple[bytes, bytes, bytes]:
    """Run a whole handshake in memory; return (c0c1, s0s1s2, c2)."""
    c0c1 = client.initial_bytes()
    server.receive_data(c0c1)
    s0s1s2 = server.data_to_send()
    client.receive_data(s0s1s2)
    c2 = client.data_to_send()
    server.receive_data(c2 + tail)
    assert server.data_to_send() == b""
    return c0c1, s0s1s2, c2


# --------------------------------------------------------------------------------------------------------
# Simple handshake
# --------------------------------------------------------------------------------------------------------


def test_simple_handshake_end_to_end() -> None:
    client = ClientHandshake(time_ms=1000, random_bytes=rng(1))
    server = ServerHandshake(time_ms=5000, random_bytes=rng(2))
    c0c1, s0s1s2, c2 = run_pair(client, server, tail=FAKE_CONNECT)

    # HS-1 / HS-6: C0+C1 is 1537 bytes; HS-5: S0+S1+S2 leave as one 3073-byte chunk.
    assert len(c0c1) == 1537 and c0c1[0] == 3
    assert len(s0s1s2) == 3073 and s0s1s2[0] == 3
    c1, s1, s2 = c0c1[1:], s0s1s2[1:1537], s0s1s2[1537:]
    assert (server.c1, server.s1, server.s2) == (c1, s1, s2)
    assert (client.c1, client.s1, client.s2) == (c1, s1, s2)
    # HS-7: C1 = time, zero, random.
    assert struct.unpack_from(">II", c1) == (1000, 0)
    # HS-10: after a zero-version C1, S1 bytes 4..7 are zero; its time is ours.
    assert struct.unpack_from(">II", s1) == (5000, 0)
    # HS-8: S2 = C1 time, time2 = when C1 was read, then C1's random echoed byte for byte.
    assert struct.unpack_from(">II", s2) == (1000, 5000)
    assert s2[8:] == c1[8:]
    # And the client answers the same way.
    assert len(c2) == 1536
    assert struct.unpack_from(">II", c2) == (5000, 1000)
    assert c2[8:] == s1[8:]
    assert client.c2 == c2 == server.c2

    assert client.done and server.done
    assert client.s2_echoes_c1 and client.s2_digest_valid is None
    assert server.c2_echoes_s1 and server.c2_digest_valid is None
    # HS-6: the bytes after C2 are returned exactly, once.
    assert server.take_leftover() == FAKE_CONNECT
    assert server.take_leftover() == b""
    assert client.take_leftover() == b""

    expected_server_info = HandshakeInfo(
        peer_version=3,
        peer_time=1000,
        peer_zero=0,
        mode=HandshakeMode.SIMPLE,
        scheme=None,
        peer_digest_valid=False,
    )
    assert server.info == expected_server_info
    assert client.info == HandshakeInfo(
        peer_version=3,
        peer_time=5000,
        peer_zero=0,
        mode=HandshakeMode.SIMPLE,
        scheme=None,
        peer_digest_valid=False,
    )


def test_server_sends_nothing_before_c0_c1_complete() -> None:
    """HS-4: S0/S1/S2 only once C0 and the whole of C1 are in."""
    c0c1 = ClientHandshake(random_bytes=rng(3)).initial_bytes()
    server = ServerHandshake(random_bytes=rng(4))
    server.receive_data(c0c1[:-1])
    assert server.data_to_send() == b""
    assert server.info is None and server.s1 is None and not server.done
    server.receive_data(c0c1[-1:])
    assert len(server.data_to_send()) == 3073
    assert server.info is not None and not server.done
    assert server.data_to_send() == b""


def test_server_not_done_until_last_c2_byte() -> None:
    client = ClientHandshake(random_bytes=rng(5))
    server = ServerHandshake(random_bytes=rng(6))
    server.receive_data(client.initial_bytes())
    client.receive_data(server.data_to_send())
    c2 = client.data_to_send()
    server.receive_data(c2[:-1])
    assert not server.done and server.c2 is None
    with pytest.raises(LocalProtocolError):
        server.take_leftover()
    server.receive_data(c2[-1:])
    assert server.done and server.take_leftover() == b""


def test_s2_time2_uses_now_ms() -> None:
    client = ClientHandshake(time_ms=7, random_bytes=rng(7))
    server = ServerHandshake(time_ms=100, random_bytes=rng(8))
    server.receive_data(client.initial_bytes(), now_ms=123456)
    s2 = server.data_to_send()[1537:]
    assert struct.unpack_from(">II", s2) == (7, 123456)


def test_data_after_done_goes_to_leftover() -> None:
    client = ClientHandshake(random_bytes=rng(9))
    server = ServerHandshake(random_bytes=rng(10))
    run_pair(client, server, tail=b"ab")
    server.receive_data(b"cd")
    assert server.take_leftover() == b"abcd"


# --------------------------------------------------------------------------------------------------------
# Splitting at every byte offset (HS-5, HS-6, HS-16)
# --------------------------------------------------------------------------------------------------------


def _reference_server_run() -> tuple[bytes, bytes, bytes]:
    """(client wire incl. C2 and a connect chunk, expected server output, expected C2)."""
    client = ClientHandshake(time_ms=11, random_bytes=rng(20))
    server = ServerHandshake(time_ms=22, random_bytes=rng(21))
    c0c1, s0s1s2, c2 = run_pair(client, server)
    return c0c1 + c2 + FAKE_CONNECT, s0s1s2, c2


def test_server_accepts_every_two_way_split() -> None:
    wire, expected_out, c2 = _reference_server_run()
    for cut in range(len(wire) + 1):
        server = ServerHandshake(time_ms=22, random_bytes=rng(21))
        out = feed(server, [wire[:cut], wire[cut:]])
        assert out == expected_out, cut
        assert server.done and server.c2 == c2, cut
        assert server.take_leftover() == FAKE_CONNECT, cut


def test_server_accepts_one_byte_feeds() -> None:
    wire, expected_out, _ = _reference_server_run()
    server = ServerHandshake(time_ms=22, random_bytes=rng(21))
    outputs = []
    for piece in one_byte_pieces(wire):
        server.receive_data(piece)
        outputs.append(server.data_to_send())
    # Exactly one non-empty output, at the moment the 1537th byte arrived (HS-4, HS-5).
    assert [i for i, o in enumerate(outputs) if o] == [1536]
    assert outputs[1536] == expected_out
    assert server.done and server.take_leftover() == FAKE_CONNECT


def _reference_client_run() -> tuple[bytes, bytes]:
    """(server wire incl. a first server chunk, expected C2)."""
    client = ClientHandshake(time_ms=33, random_bytes=rng(30))
    server = ServerHandshake(time_ms=44, random_bytes=rng(31))
    _, s0s1s2, c2 = run_pair(client, server)
    return s0s1s2 + FAKE_CONNECT, c2


def _fresh_client() -> ClientHandshake:
    client = ClientHandshake(time_ms=33, random_bytes=rng(30))
    client.initial_bytes()
    return client


def test_client_accepts_every_two_way_split() -> None:
    wire, c2 = _reference_client_run()
    for cut in range(len(wire) + 1):
        client = _fresh_client()
        assert feed(client, [wire[:cut], wire[cut:]]) == c2, cut
        assert client.done and client.s2_echoes_c1, cut
        assert client.take_leftover() == FAKE_CONNECT, cut


def test_client_one_byte_feeds_send_c2_as_soon_as_s1_is_in() -> None:
    wire, c2 = _reference_client_run()
    client = _fresh_client()
    outputs = []
    for piece in one_byte_pieces(wire):
        client.receive_data(piece)
        outputs.append(client.data_to_send())
        # HS-4: done only after the whole S2.
        assert client.done == (len(outputs) >= 3073)
    # §5.2.1: C2 only after S1; like librtmp we do not wait for S2.
    assert [i for i, o in enumerate(outputs) if o] == [1536]
    assert outputs[1536] == c2
    assert client.take_leftover() == FAKE_CONNECT


@settings(max_examples=40, deadline=None)
@given(
    scheme=st.sampled_from(list(DigestScheme)),
    cuts=st.lists(st.integers(min_value=0, max_value=3073 + 1536 + len(FAKE_CONNECT)), max_size=8),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_digest_handshake_any_split(scheme: DigestScheme, cuts: list[int], seed: int) -> None:
    client = ClientHandshake(mode=HandshakeMode.DIGEST, scheme=scheme, random_bytes=rng(seed), strict_s2=True)
    server = ServerHandshake(random_bytes=rng(seed + 1))

    def pieces(wire: bytes) -> list[bytes]:
        points = sorted({0, len(wire), *(c for c in cuts if c <= len(wire))})
        return [wire[a:b] for a, b in itertools.pairwise(points)]

    c0c1 = client.initial_bytes()
    s0s1s2 = feed(server, pieces(c0c1))
    c2 = feed(client, pieces(s0s1s2 + FAKE_CONNECT))
    assert feed(server, pieces(c2 + FAKE_CONNECT)) == b""
    assert server.done and client.done
    assert server.info is not None and server.info.mode is HandshakeMode.DIGEST
    assert server.info.scheme is scheme
    assert server.take_leftover() == FAKE_CONNECT
    assert client.take_leftover() == FAKE_CONNECT


# --------------------------------------------------------------------------------------------------------
# Version byte (HS-2, HS-3, HS-15)
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [0, 1, 2, 4, 6, 31, 32, 0x47, 255])
def test_server_refuses_bad_c0(version: int) -> None:
    server = ServerHandshake(random_bytes=rng(40))
    # Refused on the version byte alone: no need to wait for 1536 bytes of an HTTP request.
    with pytest.raises(RemoteProtocolError) as caught:
        server.receive_data(bytes([version]))
    assert caught.value.rule == "HS-2"
    assert server.c0 == version
    assert server.data_to_send() == b"" and not server.done
    # The machine stays failed: further input is caller misuse.
    with pytest.raises(LocalProtocolError):
        server.receive_data(b"\x00" * 1536)


def test_server_refuses_bad_c0_inside_a_full_c0c1() -> None:
    server = ServerHandshake(random_bytes=rng(41))
    with pytest.raises(RemoteProtocolError) as caught:
        server.receive_data(b"GET / HTTP/1.1\r\n" + bytes(1521))
    assert caught.value.rule == "HS-2"
    assert "32-255" in str(caught.value)


def test_server_accepts_version_3() -> None:
    server = ServerHandshake(random_bytes=rng(42))
    server.receive_data(b"\x03")
    server.receive_data(bytes(1536))
    out = server.data_to_send()
    assert len(out) == 3073 and out[0] == 3
    assert server.info is not None and server.info.peer_version == 3


def test_server_extra_accepted_versions_still_answer_3() -> None:
    """§5.2.2: a server that does not recognise the requested version SHOULD respond with 3 (HS-3)."""
    server = ServerHandshake(random_bytes=rng(43), accept_versions=frozenset({3, 6}))
    server.receive_data(b"\x06" + bytes(1536))
    out = server.data_to_send()
    assert out[0] == 3
    assert server.info is not None and server.info.peer_version == 6


@pytest.mark.parametrize("version", [0, 6, 0x47])
def test_client_refuses_bad_s0(version: int) -> None:
    client = ClientHandshake(random_bytes=rng(44))
    client.initial_bytes()
    with pytest.raises(RemoteProtocolError) as caught:
        client.receive_data(bytes([version]) + bytes(3072))
    assert caught.value.rule == "HS-2"
    assert client.s0 == version and client.data_to_send() == b""


def test_client_can_send_any_version_byte() -> None:
    """The test client must be able to send C0 = 6 or 'G' to probe servers (HS-3, HS-15)."""
    assert ClientHandshake(version=0x47, random_bytes=rng(45)).initial_bytes()[0] == 0x47


# --------------------------------------------------------------------------------------------------------
# Digest handshake (HS-11..HS-14)
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", list(DigestScheme))
def test_digest_handshake_end_to_end(scheme: DigestScheme) -> None:
    client = ClientHandshake(
        mode=HandshakeMode.DIGEST, scheme=scheme, time_ms=1, random_bytes=rng(50), strict_s2=True
    )
    server = ServerHandshake(time_ms=2, random_bytes=rng(51), server_version=bytes([5, 0, 3, 1]))
    c0c1, s0s1s2, _c2 = run_pair(client, server, tail=FAKE_CONNECT)

    assert len(s0s1s2) == 3073
    assert c0c1[5:9] == bytes([9, 0, 124, 2])  # FFmpeg's Flash version in C1 bytes 4..7
    assert s0s1s2[5:9] == bytes([5, 0, 3, 1])  # our server version in S1 bytes 4..7
    assert server.info == HandshakeInfo(
        peer_version=3,
        peer_time=1,
        peer_zero=0x09007C02,
        mode=HandshakeMode.DIGEST,
        scheme=scheme,
        peer_digest_valid=True,
    )
    assert client.info is not None
    assert client.info.mode is HandshakeMode.DIGEST
    assert client.info.scheme is scheme  # the server answers in the client's scheme
    assert client.info.peer_digest_valid and client.info.peer_zero == 0x05000301
    assert client.s2_digest_valid is True
    assert server.c2_digest_valid is True and not server.c2_echoes_s1
    assert not client.s2_echoes_c1
    assert server.take_leftover() == FAKE_CONNECT


def test_garbage_digest_falls_back_to_simple() -> None:
    """HS-14: a non-zero version field with no valid digest still completes, simple style."""
    c1 = struct.pack(">I", 77) + bytes([9, 0, 124, 2]) + rng(60)(1528)
    server = ServerHandshake(time_ms=88, random_bytes=rng(61))
    server.receive_data(b"\x03" + c1)
    out = server.data_to_send()
    s1, s2 = out[1:1537], out[1537:]
    assert server.info == HandshakeInfo(
        peer_version=3,
        peer_time=77,
        peer_zero=0x09007C02,
        mode=HandshakeMode.SIMPLE,
        scheme=None,
        peer_digest_valid=False,
    )
    assert s1[4:8] == bytes(4)  # HS-10
    assert s2[8:] == c1[8:] and struct.unpack_from(">II", s2) == (77, 88)
    server.receive_data(rng(62)(1536))
    assert server.done


def test_digest_disabled_answers_simple_and_digest_client_follows() -> None:
    client = ClientHandshake(mode=HandshakeMode.DIGEST, random_bytes=rng(63), strict_s2=True)
    server = ServerHandshake(random_bytes=rng(64), allow_digest=False)
    _c0c1, s0s1s2, c2 = run_pair(client, server)
    assert server.info is not None and server.info.mode is HandshakeMode.SIMPLE
    assert s0s1s2[5:9] == bytes(4)
    # The client sees a zero S1 version, falls back, and its strict S2 check uses the simple echo rule.
    assert client.info is not None and client.info.mode is HandshakeMode.SIMPLE
    assert client.done and client.s2_echoes_c1 and c2[8:] == s0s1s2[9:1537]
    assert server.done and server.c2_echoes_s1


def test_simple_client_ignores_a_digest_capable_server() -> None:
    client = ClientHandshake(random_bytes=rng(65), strict_s2=True)
    server = ServerHandshake(random_bytes=rng(66))
    run_pair(client, server)
    assert server.info is not None and server.info.mode is HandshakeMode.SIMPLE
    assert client.done and server.done


def test_known_answer_client_digest_detected_per_scheme() -> None:
    """Build C1 digests by hand (independently of the module) and check the server's reply by hand."""
    for scheme, base in ((DigestScheme.SCHEME0, 772), (DigestScheme.SCHEME1, 8)):
        c1 = bytearray(struct.pack(">I", 0) + bytes([0x80, 0x00, 0x07, 0x02]) + rng(70 + base)(1528))
        offset = sum(c1[base : base + 4]) % 728 + base + 4
        c1[offset : offset + 32] = hmac.new(
            PLAYER_TEXT, bytes(c1[:offset] + c1[offset + 32 :]), hashlib.sha256
        ).digest()
        client_digest = bytes(c1[offset : offset + 32])

        server = ServerHandshake(random_bytes=rng(71))
        server.receive_data(b"\x03" + bytes(c1))
        out = server.data_to_send()
        assert server.info is not None
        assert server.info.mode is HandshakeMode.DIGEST and server.info.scheme is scheme

        # S1: server digest at the same scheme's offset, keyed with the 36-byte server text.
        s1 = out[1:1537]
        s_off = sum(s1[base : base + 4]) % 728 + base + 4
        expected_s1_digest = hmac.new(FMS_TEXT, s1[:s_off] + s1[s_off + 32 :], hashlib.sha256).digest()
        assert s1[s_off : s_off + 32] == expected_s1_digest
        # S2: 1504 random bytes signed with HMAC(full server key, client digest).
        s2 = out[1537:]
        s2_key = hmac.new(FMS_TEXT + GENUINE_SUFFIX, client_digest, hashlib.sha256).digest()
        assert s2[1504:] == hmac.new(s2_key, s2[:1504], hashlib.sha256).digest()


def test_known_answer_zero_block_offsets() -> None:
    """All-zero offset bytes put the digest at the start of each digest block."""
    block = bytes(1536)
    assert digest_offset(block, DigestScheme.SCHEME0) == 776
    assert digest_offset(block, DigestScheme.SCHEME1) == 12
    block2 = bytearray(1536)
    block2[8:12] = b"\xff\xff\xff\xff"  # 1020 % 728 = 292
    assert digest_offset(block2, DigestScheme.SCHEME1) == 292 + 12


@settings(max_examples=60, deadline=None)
@given(block=st.binary(min_size=1536, max_size=1536), scheme=st.sampled_from(list(DigestScheme)))
def test_digest_slot_stays_inside_its_block(block: bytes, scheme: DigestScheme) -> None:
    offset = digest_offset(block, scheme)
    if scheme is DigestScheme.SCHEME0:
        assert 776 <= offset and offset + 32 <= 1536
    else:
        assert 12 <= offset and offset + 32 <= 772
    signed = bytearray(block)
    imprint_digest(signed, scheme, CLIENT_KEY_PARTIAL)
    assert find_digest_scheme(signed, CLIENT_KEY_PARTIAL) is scheme


# --------------------------------------------------------------------------------------------------------
# C2 leniency (HS-9) and client strictness (HS-8, HS-13)
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("digest_client", [False, True])
def test_server_accepts_random_c2(digest_client: bool) -> None:
    mode = HandshakeMode.DIGEST if digest_client else HandshakeMode.SIMPLE
    client = ClientHandshake(mode=mode, random_bytes=rng(80))
    server = ServerHandshake(random_bytes=rng(81))
    server.receive_data(client.initial_bytes())
    server.data_to_send()
    server.receive_data(rng(82)(1536) + b"tail")
    assert server.done and not server.c2_echoes_s1
    assert server.c2_digest_valid is (False if digest_client else None)
    assert server.take_leftover() == b"tail"


def _server_reply_with_bad_s2(mode: HandshakeMode, strict: bool) -> ClientHandshake:
    client = ClientHandshake(mode=mode, random_bytes=rng(90), strict_s2=strict)
    server = ServerHandshake(random_bytes=rng(91))
    server.receive_data(client.initial_bytes())
    out = bytearray(server.data_to_send())
    out[-1] ^= 0xFF  # break the last byte of S2 (echo byte, or signature byte)
    client.receive_data(bytes(out[:1537]))
    assert len(client.data_to_send()) == 1536  # C2 goes out before S2 is judged
    client.receive_data(bytes(out[1537:]))
    return client


@pytest.mark.parametrize(("mode", "rule"), [(HandshakeMode.SIMPLE, "HS-8"), (HandshakeMode.DIGEST, "HS-13")])
def test_strict_client_rejects_bad_s2(mode: HandshakeMode, rule: str) -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        _server_reply_with_bad_s2(mode, strict=True)
    assert caught.value.rule == rule


@pytest.mark.parametrize("mode", list(HandshakeMode))
def test_lenient_client_records_bad_s2(mode: HandshakeMode) -> None:
    client = _server_reply_with_bad_s2(mode, strict=False)
    assert client.done and not client.s2_echoes_c1
    assert client.s2_digest_valid is (False if mode is HandshakeMode.DIGEST else None)


# --------------------------------------------------------------------------------------------------------
# Close, misuse
# --------------------------------------------------------------------------------------------------------


def test_close_mid_handshake_is_remote_error() -> None:
    server = ServerHandshake(random_bytes=rng(100))
    server.receive_data(b"\x03" + bytes(100))
    with pytest.raises(RemoteProtocolError) as caught:
        server.receive_data(b"")
    assert caught.value.rule == "HS-1" and server.peer_closed


def test_close_after_done_is_fine() -> None:
    client = ClientHandshake(random_bytes=rng(101))
    server = ServerHandshake(random_bytes=rng(102))
    run_pair(client, server, tail=b"x")
    server.receive_data(b"")
    assert server.peer_closed and server.take_leftover() == b"x"


def test_client_data_to_send_includes_c0c1_when_not_taken() -> None:
    client = ClientHandshake(random_bytes=rng(103))
    first = client.data_to_send()
    assert len(first) == 1537 and first[1:] == client.c1
    assert client.data_to_send() == b""
    with pytest.raises(LocalProtocolError):
        client.initial_bytes()


@pytest.mark.parametrize(
    "make",
    [
        lambda: ServerHandshake(server_version=b"\x01\x02\x03"),
        lambda: ServerHandshake(server_version=bytes(4)),
        lambda: ServerHandshake(time_ms=-1),
        lambda: ServerHandshake(time_ms=2**32),
        lambda: ServerHandshake(accept_versions=frozenset({256})),
        lambda: ClientHandshake(version=256),
        lambda: ClientHandshake(mode=HandshakeMode.DIGEST, flash_version=bytes(4)),
        lambda: ClientHandshake(random_bytes=lambda n: b"short"),
    ],
)
def test_constructor_misuse_is_local_error(make: Callable[[], object]) -> None:
    with pytest.raises(LocalProtocolError):
        make()


def test_server_random_bytes_misuse_is_local_error() -> None:
    server = ServerHandshake(random_bytes=lambda n: b"")
    with pytest.raises(LocalProtocolError):
        server.receive_data(b"\x03" + bytes(1536))
