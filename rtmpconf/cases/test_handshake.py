"""Handshake cases (catalogue section 1, Adobe RTMP 1.0 §5.2)."""

from __future__ import annotations

import os

import pytest

from rtmpconf.harness.checks.handshake import (
    check_c2_boundary,
    check_digest_fallback,
    check_digest_handshake,
    check_handshake_completes,
    check_handshake_layout,
    check_handshake_order,
    check_handshake_split,
    check_s1_zero_field,
    check_s2_after_c1,
    check_stall,
    check_version_reply,
)
from rtmpconf.harness.client import RtmpClient
from rtmpconf.harness.scenarios import (
    ANSWER_S,
    ScriptedHandshake,
    attempt,
    connect_object,
    fresh_session,
    session,
)
from rtmpconf.harness.verdict import Verdict
from rtmpconf.harness.wirelog import S2C
from rtmpconf.rtmp.handshake import (
    HANDSHAKE_SIZE,
    S0S1S2_SIZE,
    ClientHandshake,
    DigestScheme,
    HandshakeMode,
    digest_offset,
)
from rtmpconf.rtmp.messages import Command

#: How long a case watches for something that must NOT happen (s); a correct server is usually
#: done much sooner (it closes).
QUIET_S = 0.3


# -- scenario helpers ------------------------------------------------------------------------------


def queue_connect(c: RtmpClient) -> None:
    """Queue the connect command (tid 1) the harness client sends; the next write carries it."""
    c.queue(Command("connect", 1.0, connect_object(c.target)))


async def read_until(c: RtmpClient, nbytes: int, timeout: float) -> None:
    """Read until the server sent ``nbytes`` in total, closed, or ``timeout`` (a direct link's,
    stretched by the client's timing) passed."""
    await c.read_until(lambda: c.log.total(S2C) >= nbytes, "handshake reply", timeout)


# -- existing cases ----------------------------------------------------------------------------


@pytest.mark.rule("HS-8")
async def test_s2_echoes_c1(rtmp):
    """Sends C0+C1 (simple, zero version field) and C2.

    Requirement (§5.2.4): "Random echo (1528 bytes): This field MUST contain the random data
    field sent by the peer in S1 (for C2) or S2 (for C1)" — read: S2 echoes C1.
    """
    async with session(rtmp) as c:
        await c.handshake()
    rtmp.judge(check_handshake_layout(c.log))


@pytest.mark.rule("HS-4")
async def test_nothing_before_c2(rtmp):
    """Sends C0+C1, holds C2 back for 300 ms, then sends C2 + connect.

    Requirement (§5.2.1): "The server MUST wait until C2 has been received before sending any
    other data."
    """
    async with session(rtmp) as c:
        await c.handshake(c2_delay=0.3)
        await c.connect()
    rtmp.judge(check_handshake_order(c.log))


@pytest.mark.rule("HS-5")
async def test_s0s1s2_write_split(rtmp):
    """Sends C0+C1 in one write and records how S0, S1 and S2 arrive (informational)."""
    async with session(rtmp) as c:
        await c.handshake()
    rtmp.judge(check_handshake_split(c.log))


# -- HS-1: exact byte counts ---------------------------------------------------------------------


@pytest.mark.rule("HS-1")
async def test_last_c2_byte_glued_to_connect(rtmp):
    """Sends C0+C1, then C2's first 1535 bytes alone, then C2's last byte and connect in one write.

    Requirement (§5.2): C0 is 1 byte and C1/C2 are 1536 bytes each, with no chunk framing: the
    chunk stream starts exactly after byte 1536 of C2, whatever the TCP segmentation.
    """
    async with session(rtmp, handshake=ScriptedHandshake(hold_c2=True)) as c:
        await c.handshake()
        c2 = c.conn.handshake.held_c2
        await c.send_raw(c2[:HANDSHAKE_SIZE - 1])
        c.queue_raw(c2[HANDSHAKE_SIZE - 1:])
        queue_connect(c)
        await c.flush()
        await attempt(c.wait_reply(1.0, "connect", timeout=ANSWER_S))
    rtmp.judge(check_c2_boundary(c.log, expect_connect=True, what="C2's last byte came with the connect"))


@pytest.mark.rule("HS-1")
@pytest.mark.parametrize("variant", ["c2-one-byte-short", "c2-one-byte-long"])
async def test_wrong_c2_length_not_parsed(rtmp, variant):
    """Sends C0+C1, then a C2 of 1535 bytes (short) or of 1536 bytes plus 0x03 (long) in one
    write, then connect in a separate write.

    Requirement (§5.2): C2 is exactly 1536 bytes, so the connect now sits one byte off the
    chunk boundary and must not be understood. A server that reads "one segment" as C2 would
    answer it. (0x03 = fmt 0, csid 3: read right, it makes the next 11 bytes, the connect's own
    header shifted by one, a message header, so the connect cannot be parsed. A byte that could
    be a whole chunk on its own — 0xFF, fmt 3 on a fresh csid, which CH-8 lets a server take as
    an empty message — would let a server that counts C2 right answer the connect as well.)
    """
    async with session(rtmp, handshake=ScriptedHandshake(hold_c2=True)) as c:
        await c.handshake()
        c2 = c.conn.handshake.held_c2
        await c.send_raw(c2[:-1] if variant == "c2-one-byte-short" else c2 + b"\x03")
        queue_connect(c)
        await attempt(c.flush())
        await attempt(c.wait_reply(1.0, "connect", timeout=QUIET_S))
    after = await fresh_session(rtmp)
    what = "C2 one byte short" if variant == "c2-one-byte-short" else "C2 one byte long (+0x03)"
    rtmp.judge(check_c2_boundary(c.log, expect_connect=False, what=what, after=after))


# -- HS-2/HS-3/HS-15: versions ----------------------------------------------------------------------


@pytest.mark.rule("HS-3")
@pytest.mark.parametrize("version", [0, 4, 0x47, 0xFF], ids=["v0", "v4", "v0x47-G", "v0xFF"])
async def test_unknown_c0_version(rtmp, version):
    """Sends C0 = 0 (deprecated), 4 (reserved), 0x47 ('G' of an HTTP GET) or 0xFF, plus C1.

    Requirement (§5.2.2): "If the server does not recognize the client's requested version, it
    SHOULD respond with 3." §5.2.5 instead terminates the connection. Either is legal; a crash,
    a hang or echoing the unknown version is not.
    """
    async with session(rtmp, handshake=ClientHandshake(version=version)) as c:
        await c.flush()  # C0 (the version under test) + simple C1
        await read_until(c, S0S1S2_SIZE, ANSWER_S / 2)
    after = await fresh_session(rtmp)
    rtmp.judge(check_version_reply(c.log, version, after=after))


@pytest.mark.rule("HS-15")
async def test_rtmpe_c0_not_plain(rtmp):
    """Sends C0 = 6 (RTMPE, as FFmpeg's rtmpe:// does) with a digest C1 (scheme 0).

    Requirement (HS-15): a server either completes RTMPE (S0 = 6) or closes cleanly; it must
    never answer as if the connection were plain RTMP.
    """
    hs = ClientHandshake(version=6, mode=HandshakeMode.DIGEST, scheme=DigestScheme.SCHEME0)
    async with session(rtmp, handshake=hs) as c:
        await c.flush()  # C0 = 6 + digest C1
        await read_until(c, S0S1S2_SIZE, ANSWER_S / 2)
    after = await fresh_session(rtmp)
    rtmp.judge(check_version_reply(c.log, 6, after=after))


# -- HS-4: ordering ------------------------------------------------------------------------------


@pytest.mark.rule("HS-4")
async def test_s2_waits_for_whole_c1(rtmp):
    """Sends C0 alone, waits 80 ms, sends C1 but its last byte, waits 80 ms, sends the last byte,
    then C2 and connect.

    Requirement (§5.2.1): "The server MUST wait until C1 has been received before sending S2"
    (it may send S0 and S1 after C0 alone).
    """
    async with session(rtmp, handshake=ScriptedHandshake(hold_c2=True)) as c:
        c0c1 = c.conn.data_to_send()
        await c.send_raw(c0c1[:1])
        await c.collect(0.08)
        await c.send_raw(c0c1[1:-1])
        await c.collect(0.08)
        await c.send_raw(c0c1[-1:])
        await c.handshake()
        c.queue_raw(c.conn.handshake.held_c2)
        queue_connect(c)
        await c.flush()
        await attempt(c.wait_reply(1.0, "connect", timeout=ANSWER_S))
    rtmp.judge(check_s2_after_c1(c.log))


# -- HS-6: client write patterns -----------------------------------------------------------------


@pytest.mark.rule("HS-6")
async def test_c0c1_one_byte_writes(rtmp):
    """Sends C0+C1 as 1537 one-byte writes, then C2 and connect as usual.

    Requirement (HS-6): servers must buffer partial handshake reads; a client's write pattern
    (one 1537-byte write is usual) is not a protocol element.
    """
    async with session(rtmp) as c:
        await c.handshake(c0c1_split=1)
        await attempt(c.connect())
    rtmp.judge(check_handshake_completes(c.log, rule="HS-6", what="C0+C1 came one byte per write"))


@pytest.mark.rule("HS-6")
async def test_c2_connect_create_stream_one_write(rtmp):
    """Sends C2 + connect + createStream (tid 2) in a single write, as librtmp does with C2 + connect.

    Requirement (HS-6): no byte after C2 may be lost: both commands must be answered.
    """
    async with session(rtmp, handshake=ScriptedHandshake(hold_c2=True)) as c:
        await c.handshake()
        c.queue_raw(c.conn.handshake.held_c2)
        queue_connect(c)
        c.queue(Command("createStream", 2.0, None))
        await c.flush()
        await attempt(c.wait_reply(2.0, "createStream", timeout=ANSWER_S))
    rtmp.judge(check_handshake_completes(c.log, rule="HS-6", what="C2, connect and createStream shared a write"))


# -- HS-7/HS-8/HS-9/HS-10: simple handshake fields -------------------------------------------------


@pytest.mark.rule("HS-7")
async def test_c1_nonzero_time(rtmp):
    """Sends a simple C1 whose time field is 0x01020304 (the epoch may be anything).

    Requirement (§5.2.3/§5.2.4): C1 time is the sender's epoch; S2 "MUST contain the timestamp
    sent by the peer in ... C1" and echo its random bytes; S1's zero field "MUST be all 0s".
    """
    async with session(rtmp, handshake=ClientHandshake(time_ms=0x01020304)) as c:
        await c.handshake()
    rtmp.judge(check_handshake_layout(c.log))


@pytest.mark.rule("HS-9")
async def test_random_c2_accepted(rtmp):
    """Sends a C2 of 1536 random bytes (not an echo of S1), then connect.

    Requirement (HS-9): servers do not validate C2 (SRS: "never verify c2, for ffmpeg will
    failed"); a wrong echo must not stop the session.
    """
    async with session(rtmp, handshake=ScriptedHandshake(hold_c2=True)) as c:
        await c.handshake()
        c.queue_raw(os.urandom(HANDSHAKE_SIZE))  # a C2 that echoes nothing
        queue_connect(c)
        await c.flush()
        await attempt(c.wait_reply(1.0, "connect", timeout=ANSWER_S))
    rtmp.judge(check_handshake_completes(c.log, rule="HS-9", what="C2 was random bytes",
                                         verdict=Verdict.NON_STRICT))


@pytest.mark.rule("HS-10")
async def test_s1_zero_field_after_simple_c1(rtmp):
    """Sends a simple C1 (bytes 4..7 zero) with a non-zero time, as librtmp does.

    Requirement (HS-10, §5.2.3 "Zero (4 bytes): This field MUST be all 0s"): S1[4..7] stays
    zero, else FFmpeg players mistake the reply for a digest one and fail.
    """
    async with session(rtmp, handshake=ClientHandshake(time_ms=123456)) as c:
        await c.handshake()
    rtmp.judge(check_s1_zero_field(c.log))


# -- HS-11..HS-14: digest handshake --------------------------------------------------------------


@pytest.mark.rule("HS-11")
async def test_digest_c1_srs_client_version(rtmp):
    """Sends a digest C1 (scheme 0) with version bytes 80 00 07 02 (the SRS client's), then connect.

    Requirement (HS-11): the digest is HMAC-SHA256 keyed with "Genuine Adobe Flash Player 001";
    a digest reply's S1 carries HMAC keyed with "Genuine Adobe Flash Media Server 001".
    """
    hs = ClientHandshake(mode=HandshakeMode.DIGEST, scheme=DigestScheme.SCHEME0,
                         flash_version=bytes([0x80, 0x00, 0x07, 0x02]))
    async with session(rtmp, handshake=hs) as c:
        await c.handshake()
        await attempt(c.connect())
    rtmp.judge(check_digest_handshake(c.log, scheme=DigestScheme.SCHEME0))


@pytest.mark.rule("HS-12")
@pytest.mark.parametrize("scheme", [DigestScheme.SCHEME0, DigestScheme.SCHEME1], ids=["scheme0", "scheme1"])
async def test_digest_c1_each_scheme(rtmp, scheme):
    """Sends a digest C1 (Flash 9.0.124.2 version bytes) with the digest in scheme 0 (offset base
    772, as RTMPE clients) or scheme 1 (base 8, as FFmpeg's plain client), then connect.

    Requirement (HS-12): servers try both schemes; a valid digest in either is accepted. A
    digest reply must validate (HS-13: S2 signed with the key derived from C1's digest).
    """
    async with session(rtmp, handshake=ClientHandshake(mode=HandshakeMode.DIGEST, scheme=scheme)) as c:
        await c.handshake()
        await attempt(c.connect())
    rtmp.judge(check_digest_handshake(c.log, scheme=scheme))


def _flip_digest_bit(c0c1: bytes) -> bytes:
    """Flip one bit of the scheme-1 digest inside C1 (C1 starts at byte 1 of C0+C1)."""
    c1 = bytearray(c0c1[1:])
    c1[digest_offset(bytes(c1), DigestScheme.SCHEME1)] ^= 0x01
    return c0c1[:1] + bytes(c1)


def _version_without_digest(c0c1: bytes) -> bytes:
    """C0 + a random C1 whose bytes 4..7 claim Flash 9.0.124.2 but which holds no digest."""
    return c0c1[:5] + bytes([9, 0, 124, 2]) + c0c1[9:]


@pytest.mark.rule("HS-14")
@pytest.mark.parametrize("variant", ["version-without-digest", "digest-bit-flipped"])
async def test_broken_digest_falls_back(rtmp, variant):
    """Sends a C1 that claims the digest handshake (non-zero bytes 4..7) but whose digest is
    missing (random bytes) or has one bit flipped, then C2 (echo of S1) and connect.

    Requirement (HS-14): if neither scheme validates, fall back to the simple handshake rather
    than closing (SRS, nginx and lal all do).
    """
    if variant == "version-without-digest":
        hs = ScriptedHandshake(c1_tamper=_version_without_digest)
    else:
        hs = ScriptedHandshake(mode=HandshakeMode.DIGEST, scheme=DigestScheme.SCHEME1, c1_tamper=_flip_digest_bit)
    async with session(rtmp, handshake=hs) as c:
        await attempt(c.handshake(timeout=ANSWER_S))
        if c.handshake_done:
            await attempt(c.connect())
    rtmp.judge(check_digest_fallback(c.log))


# -- HS-16: partial reads and stalls -----------------------------------------------------------------


@pytest.mark.rule("HS-16")
async def test_dribbled_c0c1(rtmp):
    """Sends C0 and C1's first 64 bytes one byte per write, 2 ms apart, then the rest of C1;
    then C2 and connect.

    Requirement (HS-16): the server must buffer partial handshake reads (Node-Media-Server's
    C2 copy bound shows how it goes wrong).
    """
    async with session(rtmp) as c:
        c0c1 = c.conn.data_to_send()
        await c.send_split(c0c1[:65], 1, delay=0.002)
        await c.send_raw(c0c1[65:])
        await c.handshake()  # C0+C1 already sent: this reads S0S1S2 and sends C2
        await attempt(c.connect())
    rtmp.judge(check_handshake_completes(c.log, rule="HS-16", what="C0+C1 were dribbled"))


@pytest.mark.rule("HS-16")
async def test_stall_after_c1(rtmp):
    """Sends C0+C1, reads S0S1S2, then sends nothing (no C2) for 0.5 s.

    Requirement (HS-16): stalled peers are timed out (nginx 60 s, SRS 30 s). Recorded only:
    whether the server closes within this short window (the full timeout is ROB-4's).
    """
    window = 0.5
    async with session(rtmp, handshake=ScriptedHandshake(hold_c2=True)) as c:
        await c.handshake()
        await c.wait_closed(window)
    rtmp.judge(check_stall(c.log, window=window, stalled_at="after C1 (no C2)"))
