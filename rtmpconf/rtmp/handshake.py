"""Sans-IO RTMP handshake (catalogue section 1, rules HS-1..HS-16), both roles.

Two flavours are spoken:

* the **simple** handshake of Adobe RTMP 1.0 §5.2 (C0/S0 version byte, C1/S1 time + zero + random,
  C2/S2 echo), and
* the **digest** ("complex", Flash Player 9) handshake that every major server and FFmpeg speak: an
  HMAC-SHA256 digest hidden in C1/S1 at an offset derived from the block itself, and C2/S2 signed with a key
  derived from the peer's digest (HS-11..HS-13). No spec describes it; the constants are public facts shared
  by FFmpeg, nginx-rtmp, SRS, lal and librtmp.

Both machines are fed with ``receive_data`` and drained with ``data_to_send``; they never touch a socket or a
clock. Time (``time_ms``, ``now_ms``) and randomness (``random_bytes``) are injected so tests are exact.
Once ``done`` is true, ``take_leftover()`` hands the bytes that followed the handshake (librtmp sends C2 and
``connect`` in one write, HS-6) to the chunk layer.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
import struct
from collections.abc import Callable

from rtmpconf.records import record
from rtmpconf.rtmp.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "C0_SIZE",
    "CLIENT_KEY",
    "CLIENT_KEY_PARTIAL",
    "DEFAULT_FLASH_VERSION",
    "DEFAULT_SERVER_VERSION",
    "DIGEST_OFFSET_MODULUS",
    "DIGEST_REPLY_RANDOM_SIZE",
    "DIGEST_SIZE",
    "HANDSHAKE_SIZE",
    "RTMP_VERSION",
    "S0S1S2_SIZE",
    "SERVER_KEY",
    "SERVER_KEY_PARTIAL",
    "ClientHandshake",
    "DigestScheme",
    "HandshakeInfo",
    "HandshakeMode",
    "ServerHandshake",
    "compute_digest",
    "digest_offset",
    "find_digest_scheme",
    "imprint_digest",
    "reply_digest",
    "validate_digest",
]

# ---------------------------------------------------------------------------------------------------------
# Sizes and versions (Adobe RTMP 1.0 §5.2.2-§5.2.4)
# ---------------------------------------------------------------------------------------------------------

C0_SIZE = 1
"""C0/S0 is a single version octet (§5.2.2)."""
HANDSHAKE_SIZE = 1536
"""C1, S1, C2 and S2 are each 1536 octets long (§5.2.3, §5.2.4)."""
S0S1S2_SIZE = C0_SIZE + 2 * HANDSHAKE_SIZE
"""3073: what servers write in one go once C0C1 is in (HS-5)."""
C0C1_SIZE = C0_SIZE + HANDSHAKE_SIZE
"""1537: what clients write in one go (HS-6)."""
RTMP_VERSION = 3
"""The only plain-RTMP version; we always answer S0 = 3 (§5.2.2)."""
RTMPE_VERSION = 6
"""C0 = 6 asks for RTMPE (DH + RC4, HS-15), which this core does not speak and must never treat as plain."""
FIRST_RESERVED_VERSION = 4
"""Versions 4..31 are reserved for future use (§5.2.2)."""
FIRST_FORBIDDEN_VERSION = 32
"""Versions 32..255 are forbidden so RTMP can be told apart from text protocols (§5.2.2)."""
TIME_OFFSET = 0
"""The 4-byte time field opens every C1/S1/C2/S2 block (§5.2.3, §5.2.4)."""
ZERO_OFFSET = 4
"""Bytes 4..7: 'zero' in C1/S1 (the Flash/server version in the digest handshake), 'time2' in C2/S2."""
RANDOM_OFFSET = 8
"""Bytes 8..1535 are the random data (C1/S1) or its echo (C2/S2)."""
MAX_U32 = 0xFFFFFFFF
"""The time fields are unsigned 32-bit big-endian integers (§4)."""

# ---------------------------------------------------------------------------------------------------------
# Digest handshake constants (HS-11..HS-13; public values shared by FFmpeg, nginx-rtmp, SRS, lal, librtmp)
# ---------------------------------------------------------------------------------------------------------

KEY_SUFFIX = bytes.fromhex("f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae")
"""The 32-byte constant appended to both 'Genuine Adobe ...' strings to form the full HMAC keys."""
CLIENT_KEY = b"Genuine Adobe Flash Player 001" + KEY_SUFFIX
"""Full 62-byte client key: keys the HMAC that derives the C2 signing key from the S1 digest."""
CLIENT_KEY_PARTIAL = CLIENT_KEY[:30]
"""The first 30 bytes (the text only) sign the digest inside C1."""
SERVER_KEY = b"Genuine Adobe Flash Media Server 001" + KEY_SUFFIX
"""Full 68-byte server key: keys the HMAC that derives the S2 signing key from the C1 digest."""
SERVER_KEY_PARTIAL = SERVER_KEY[:36]
"""The first 36 bytes (the text only) sign the digest inside S1."""
DIGEST_SIZE = 32
"""An HMAC-SHA256 output."""
DIGEST_OFFSET_MODULUS = 728
"""A 764-byte digest block holds 4 offset bytes and a 32-byte digest: 764 - 4 - 32 = 728 possible places."""
DIGEST_REPLY_RANDOM_SIZE = HANDSHAKE_SIZE - DIGEST_SIZE
"""1504: a digest-mode C2/S2 is this many random bytes followed by their 32-byte signature."""
DEFAULT_SERVER_VERSION = bytes([0x0D, 0x0E, 0x0A, 0x0D])
"""S1 bytes 4..7 in digest mode; any non-zero value tells the client 'I answered with a digest' (nginx's)."""
DEFAULT_FLASH_VERSION = bytes([9, 0, 124, 2])
"""C1 bytes 4..7 in digest mode: Flash Player 9.0.124.2, as FFmpeg sends."""


class HandshakeMode(enum.Enum):
    """Which handshake flavour was used.

    SIMPLE is Adobe RTMP 1.0 §5.2.3/§5.2.4; DIGEST is the unpublished Flash Player 9 scheme (catalogue HS-11).
    """

    SIMPLE = "simple"
    DIGEST = "digest"


class DigestScheme(enum.IntEnum):
    """Where the digest sits in a digest-mode C1/S1 (catalogue HS-12; SRS calls these schema0/schema1)."""

    SCHEME0 = 0
    """Key block at 8..771, digest block at 772..1535: offset = sum(bytes 772..775) % 728 + 776."""
    SCHEME1 = 1
    """Digest block at 8..771, key block after it: offset = sum(bytes 8..11) % 728 + 12."""


_SCHEME_OFFSET_BYTES: dict[DigestScheme, int] = {DigestScheme.SCHEME0: 772, DigestScheme.SCHEME1: 8}
"""Position of the 4 bytes whose sum picks the digest offset; the digest block starts 4 bytes later."""

_SCHEMES_IN_TRIAL_ORDER = (DigestScheme.SCHEME0, DigestScheme.SCHEME1)
"""nginx, SRS, lal and FFmpeg all try the 772 base first, then 8 (HS-12)."""


@record(frozen=True, slots=True)
class HandshakeInfo:
    """What one side learned from its peer's C0/C1 (server) or S0/S1 (client), for logs and checkers."""

    peer_version: int
    """The peer's C0 (or S0) version byte."""
    peer_time: int
    """The time field of the peer's C1 (or S1)."""
    peer_zero: int
    """Bytes 4..7 of the peer's C1 (or S1) as a big-endian u32; non-zero marks a digest attempt."""
    mode: HandshakeMode
    """The flavour actually used for our reply."""
    scheme: DigestScheme | None
    """The scheme whose digest validated in the peer's block, if any."""
    peer_digest_valid: bool
    """True when the peer's C1 (or S1) carried a valid digest."""


# ---------------------------------------------------------------------------------------------------------
# Digest primitives (pure functions, also used by wire-log checkers)
# ---------------------------------------------------------------------------------------------------------


def _check_block(block: bytes | bytearray | memoryview) -> None:
    if len(block) != HANDSHAKE_SIZE:
        raise LocalProtocolError(f"a handshake block is {HANDSHAKE_SIZE} bytes, got {len(block)}")


def digest_offset(block: bytes | bytearray | memoryview, scheme: DigestScheme) -> int:
    """Return where the 32-byte digest sits in a 1536-byte C1/S1 under ``scheme``."""
    _check_block(block)
    base = _SCHEME_OFFSET_BYTES[scheme]
    return sum(bytes(block[base : base + 4])) % DIGEST_OFFSET_MODULUS + base + 4


def compute_digest(block: bytes | bytearray | memoryview, offset: int, key: bytes) -> bytes:
    """HMAC-SHA256 of ``block`` with the 32 bytes at ``offset`` left out."""
    _check_block(block)
    view = memoryview(block)
    mac = hmac.new(key, digestmod=hashlib.sha256)
    mac.update(view[:offset])
    mac.update(view[offset + DIGEST_SIZE :])
    return mac.digest()


def validate_digest(block: bytes | bytearray | memoryview, scheme: DigestScheme, key: bytes) -> bool:
    """True when ``block`` carries a digest keyed with ``key`` at the place ``scheme`` says."""
    offset = digest_offset(block, scheme)
    found = bytes(block[offset : offset + DIGEST_SIZE])
    return hmac.compare_digest(found, compute_digest(block, offset, key))


def find_digest_scheme(block: bytes | bytearray | memoryview, key: bytes) -> DigestScheme | None:
    """The first scheme (SCHEME0, then SCHEME1, as every server tries them; HS-12) whose digest validates."""
    for scheme in _SCHEMES_IN_TRIAL_ORDER:
        if validate_digest(block, scheme, key):
            return scheme
    return None


def imprint_digest(block: bytearray, scheme: DigestScheme, key: bytes) -> bytes:
    """Write the digest of ``block`` into its slot for ``scheme`` (in place) and return it."""
    offset = digest_offset(block, scheme)
    digest = compute_digest(block, offset, key)
    block[offset : offset + DIGEST_SIZE] = digest
    return digest


def reply_digest(peer_digest: bytes, full_key: bytes, block: bytes | bytearray | memoryview) -> bytes:
    """Signature of a digest-mode C2/S2: HMAC(HMAC(full_key, peer_digest), block[:1504]) (HS-13)."""
    signing_key = hmac.digest(full_key, peer_digest, hashlib.sha256)
    return hmac.digest(signing_key, bytes(block[:DIGEST_REPLY_RANDOM_SIZE]), hashlib.sha256)


def _peer_digest(block: bytes, scheme: DigestScheme) -> bytes:
    offset = digest_offset(block, scheme)
    return block[offset : offset + DIGEST_SIZE]


# ---------------------------------------------------------------------------------------------------------
# Argument checks shared by both roles (caller misuse => LocalProtocolError)
# ---------------------------------------------------------------------------------------------------------


def _check_u32(name: str, value: int) -> int:
    if not 0 <= value <= MAX_U32:
        raise LocalProtocolError(f"{name} must fit an unsigned 32-bit field, got {value}")
    return value


def _check_version_field(name: str, value: bytes) -> bytes:
    if len(value) != 4:
        raise LocalProtocolError(f"{name} must be 4 bytes, got {len(value)}")
    if value == bytes(4):
        # A zero field would tell the peer "simple handshake" while we send a digest (HS-7, HS-10).
        raise LocalProtocolError(f"{name} must be non-zero for a digest handshake")
    return bytes(value)


def _draw_random(random_bytes: Callable[[int], bytes], size: int) -> bytes:
    data = random_bytes(size)
    if len(data) != size:
        raise LocalProtocolError(f"random_bytes({size}) returned {len(data)} bytes")
    return bytes(data)


def _describe_version(version: int) -> str:
    if version == RTMP_VERSION:
        return "3 is plain RTMP but not among the accepted versions"
    if version == RTMPE_VERSION:
        return "6 asks for RTMPE (encrypted), which is not plain RTMP (HS-15)"
    if version < RTMP_VERSION:
        return f"{version} is a deprecated pre-RTMP-1.0 version"
    if version < FIRST_FORBIDDEN_VERSION:
        return f"{version} is a reserved version"
    return (
        f"{version} (0x{version:02x}) cannot be RTMP: 32-255 are forbidden, this looks like a text protocol"
    )


def _simple_echo(peer_block: bytes, now_ms: int) -> bytes:
    """A simple-mode C2/S2 answering ``peer_block``."""
    # §5.2.4: "Time (4 bytes): This field MUST contain the timestamp sent by the peer in S1 (for C2) or
    # C1 (for S2)." "Time2 (4 bytes): This field MUST contain the timestamp at which the previous packet
    # (s1 or c1) sent by the peer was read." "Random echo (1528 bytes): This field MUST contain the random
    # data field sent by the peer in S1 (for C2) or S2 (for C1)." (the last word is a typo for C1, HS-8)
    return peer_block[TIME_OFFSET:ZERO_OFFSET] + struct.pack(">I", now_ms) + peer_block[RANDOM_OFFSET:]


class _Phase(enum.Enum):
    """Internal progress of one handshake machine."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class _HandshakeMachine:
    """What both roles share: buffering, failure state, leftover bytes and the four blocks seen."""

    #: "client" or "server": who is on the other end (used in error messages).
    _peer = "peer"

    def __init__(self, time_ms: int, random_bytes: Callable[[int], bytes]) -> None:
        self._time_ms = _check_u32("time_ms", time_ms)
        self._random_bytes = random_bytes
        self._buffer = bytearray()
        self._outgoing = bytearray()
        self._phase = _Phase.RUNNING
        self._peer_closed = False
        self._c1: bytes | None = None
        self._s1: bytes | None = None
        self._s2: bytes | None = None
        self._c2: bytes | None = None
        self._info: HandshakeInfo | None = None

    def receive_data(self, data: bytes | bytearray | memoryview, *, now_ms: int | None = None) -> None:
        """Feed bytes from the peer, split anywhere; ``b""`` means the peer closed the connection.

        ``now_ms`` is the time the peer's C1/S1 was read, used for our S2/C2 time2 field; it
        defaults to ``time_ms``. Raises RemoteProtocolError (HS-2) for an unacceptable version
        byte, (HS-1) on a close mid-handshake.
        """
        if self._phase is _Phase.FAILED:
            raise LocalProtocolError("the handshake already failed; close the connection")
        if not data:
            self._peer_closed = True
            if self._phase is _Phase.RUNNING:
                self._phase = _Phase.FAILED
                raise RemoteProtocolError(
                    f"{self._peer} closed the connection during the handshake "
                    f"({len(self._buffer)} bytes of the current block buffered)",
                    rule="HS-1",
                )
            return
        self._buffer += data
        if self._phase is _Phase.DONE:
            return
        try:
            self._advance(self._time_ms if now_ms is None else _check_u32("now_ms", now_ms))
        except RemoteProtocolError:
            self._phase = _Phase.FAILED
            raise

    def _advance(self, now_ms: int) -> None:
        raise NotImplementedError

    def data_to_send(self) -> bytes:
        """Drain pending output."""
        out = bytes(self._outgoing)
        self._outgoing.clear()
        return out

    def take_leftover(self) -> bytes:
        """Bytes received after the handshake (e.g. librtmp's C2 + ``connect`` in one write, HS-6)."""
        if self._phase is not _Phase.DONE:
            raise LocalProtocolError("take_leftover() is only valid once the handshake is done")
        out = bytes(self._buffer)
        self._buffer.clear()
        return out

    @property
    def done(self) -> bool:
        """True once the peer's last block (C2 for a server, S2 for a client) is in."""
        return self._phase is _Phase.DONE

    @property
    def peer_closed(self) -> bool:
        """True once ``receive_data(b"")`` has been called."""
        return self._peer_closed

    @property
    def info(self) -> HandshakeInfo | None:
        """What the peer's first block told us and how we answered; None until it was parsed."""
        return self._info

    @property
    def c1(self) -> bytes | None:
        """The raw 1536-byte C1 (sent by a client, received by a server)."""
        return self._c1

    @property
    def s1(self) -> bytes | None:
        """The raw 1536-byte S1."""
        return self._s1

    @property
    def s2(self) -> bytes | None:
        """The raw 1536-byte S2."""
        return self._s2

    @property
    def c2(self) -> bytes | None:
        """The raw 1536-byte C2."""
        return self._c2


# ---------------------------------------------------------------------------------------------------------
# Server role
# ---------------------------------------------------------------------------------------------------------


class ServerHandshake(_HandshakeMachine):
    """Server side: reads C0 C1 C2, writes S0 S1 S2 as one 3073-byte chunk (HS-5).

    Speaks the digest handshake when the client's C1 carries a valid digest (and ``allow_digest``), falls
    back to the simple handshake otherwise (HS-14). Never validates C2 (HS-9) but records what it held.
    """

    _peer = "client"

    def __init__(
        self,
        *,
        time_ms: int = 0,
        random_bytes: Callable[[int], bytes] = os.urandom,
        accept_versions: frozenset[int] = frozenset({RTMP_VERSION}),
        allow_digest: bool = True,
        server_version: bytes = DEFAULT_SERVER_VERSION,
    ) -> None:
        super().__init__(time_ms, random_bytes)
        if any(not 0 <= v <= 255 for v in accept_versions):
            raise LocalProtocolError(f"accept_versions must be octets, got {sorted(accept_versions)}")
        self._accept_versions = frozenset(accept_versions)
        self._allow_digest = allow_digest
        self._server_version = _check_version_field("server_version", server_version)
        self._c0: int | None = None
        self._c1_digest: bytes | None = None
        self._s1_digest: bytes | None = None
        self._c2_echoes_s1 = False
        self._c2_digest_valid: bool | None = None

    # -- input -------------------------------------------------------------------------------------------

    def _advance(self, now_ms: int) -> None:
        if self._c0 is None and self._buffer:
            self._c0 = self._buffer[0]
            # §5.2.2: "The version defined by this specification is 3. Values 0-2 are deprecated values used
            # by earlier proprietary products; 4-31 are reserved for future implementations; and 32-255 are
            # not allowed (to allow distinguishing RTMP from text-based protocols, which always start with a
            # printable character)."
            if self._c0 not in self._accept_versions:
                raise RemoteProtocolError(
                    f"unsupported C0 version: {_describe_version(self._c0)}", rule="HS-2"
                )
        if self._c1 is None:
            # §5.2.1: "The server MUST wait until C1 has been received before sending S2." We also hold S0
            # and S1 until then (the spec allows it) so all three leave in one write (HS-5).
            if len(self._buffer) < C0C1_SIZE:
                return
            self._c1 = bytes(self._buffer[C0_SIZE:C0C1_SIZE])
            del self._buffer[:C0C1_SIZE]
            self._answer_c1(self._c1, now_ms)
        if self._c2 is None:
            if len(self._buffer) < HANDSHAKE_SIZE:
                return
            self._c2 = bytes(self._buffer[:HANDSHAKE_SIZE])
            del self._buffer[:HANDSHAKE_SIZE]
            self._record_c2(self._c2)
            self._phase = _Phase.DONE

    def _answer_c1(self, c1: bytes, now_ms: int) -> None:
        peer_time, peer_zero = struct.unpack_from(">II", c1, TIME_OFFSET)
        scheme: DigestScheme | None = None
        # A non-zero "zero" field is how a Flash-9-style client announces the digest handshake (HS-7, HS-11).
        if peer_zero != 0 and self._allow_digest:
            scheme = find_digest_scheme(c1, CLIENT_KEY_PARTIAL)
        if scheme is None:
            # HS-14: a missing or broken digest falls back to the simple handshake, never to a close.
            mode = HandshakeMode.SIMPLE
            s1 = self._simple_s1()
            s2 = _simple_echo(c1, now_ms)
        else:
            mode = HandshakeMode.DIGEST
            self._c1_digest = _peer_digest(c1, scheme)
            s1 = self._digest_s1(scheme)
            s2 = self._digest_s2(self._c1_digest)
        self._s1, self._s2 = s1, s2
        self._info = HandshakeInfo(
            peer_version=self._c0 if self._c0 is not None else RTMP_VERSION,
            peer_time=peer_time,
            peer_zero=peer_zero,
            mode=mode,
            scheme=scheme,
            peer_digest_valid=scheme is not None,
        )
        self._outgoing += bytes([RTMP_VERSION]) + s1 + s2

    def _simple_s1(self) -> bytes:
        # §5.2.3: "Zero (4 bytes): This field MUST be all 0s." FFmpeg as a player reads a non-zero S1 byte 4
        # as "digest reply" and then fails on the missing digest (HS-10).
        random = _draw_random(self._random_bytes, HANDSHAKE_SIZE - RANDOM_OFFSET)
        return struct.pack(">II", self._time_ms, 0) + random

    def _digest_s1(self, scheme: DigestScheme) -> bytes:
        random = _draw_random(self._random_bytes, HANDSHAKE_SIZE - RANDOM_OFFSET)
        block = bytearray(struct.pack(">I", self._time_ms) + self._server_version + random)
        # Same scheme as the client's, as nginx, SRS and lal answer (HS-12).
        self._s1_digest = imprint_digest(block, scheme, SERVER_KEY_PARTIAL)
        return bytes(block)

    def _digest_s2(self, c1_digest: bytes) -> bytes:
        random = _draw_random(self._random_bytes, DIGEST_REPLY_RANDOM_SIZE)
        return random + reply_digest(c1_digest, SERVER_KEY, random)

    def _record_c2(self, c2: bytes) -> None:
        # HS-9: C2 is never judged (SRS: "never verify c2, for ffmpeg will failed"); we only note what it held.
        assert self._s1 is not None
        self._c2_echoes_s1 = c2[RANDOM_OFFSET:] == self._s1[RANDOM_OFFSET:]
        if self._s1_digest is not None:
            expected = reply_digest(self._s1_digest, CLIENT_KEY, c2)
            self._c2_digest_valid = hmac.compare_digest(expected, c2[DIGEST_REPLY_RANDOM_SIZE:])

    # -- output ------------------------------------------------------------------------------------------

    # -- state -------------------------------------------------------------------------------------------

    @property
    def c0(self) -> int | None:
        """The client's version byte, as soon as it arrives (even when refused)."""
        return self._c0

    @property
    def c2_echoes_s1(self) -> bool:
        """True when C2[8:] equals S1[8:] (the simple-mode echo); False until C2 has arrived."""
        return self._c2_echoes_s1

    @property
    def c2_digest_valid(self) -> bool | None:
        """In digest mode, whether C2 carried the expected signature; None in simple mode or before C2."""
        return self._c2_digest_valid


# ---------------------------------------------------------------------------------------------------------
# Client role
# ---------------------------------------------------------------------------------------------------------


class ClientHandshake(_HandshakeMachine):
    """Client side: writes C0 C1, reads S0 S1 S2, writes C2 as soon as S1 is complete (like librtmp).

    In DIGEST mode C1 carries ``flash_version`` and a digest at ``scheme``; a digest-mode S1 is answered
    with a signed C2, anything else with the simple echo. With ``strict_s2`` a wrong S2 raises (HS-8/HS-13);
    either way ``s2_echoes_c1`` and ``s2_digest_valid`` record it.
    """

    _peer = "server"

    def __init__(
        self,
        *,
        mode: HandshakeMode = HandshakeMode.SIMPLE,
        scheme: DigestScheme = DigestScheme.SCHEME1,
        version: int = RTMP_VERSION,
        time_ms: int = 0,
        random_bytes: Callable[[int], bytes] = os.urandom,
        flash_version: bytes = DEFAULT_FLASH_VERSION,
        strict_s2: bool = False,
    ) -> None:
        if not 0 <= version <= 255:
            raise LocalProtocolError(f"version must be an octet, got {version}")
        self._version = version
        self._mode = HandshakeMode(mode)
        self._scheme = DigestScheme(scheme)
        super().__init__(time_ms, random_bytes)
        self._strict_s2 = strict_s2
        self._initial_taken = False
        self._c1_digest: bytes | None = None
        self._own_c1 = self._build_c1(flash_version)
        self._c1 = self._own_c1
        self._s0: int | None = None
        self._s1_digest: bytes | None = None
        self._s2_echoes_c1 = False
        self._s2_digest_valid: bool | None = None

    def _build_c1(self, flash_version: bytes) -> bytes:
        random = _draw_random(self._random_bytes, HANDSHAKE_SIZE - RANDOM_OFFSET)
        if self._mode is HandshakeMode.SIMPLE:
            # §5.2.3: "Zero (4 bytes): This field MUST be all 0s."
            return struct.pack(">II", self._time_ms, 0) + random
        version_field = _check_version_field("flash_version", flash_version)
        block = bytearray(struct.pack(">I", self._time_ms) + version_field + random)
        self._c1_digest = imprint_digest(block, self._scheme, CLIENT_KEY_PARTIAL)
        return bytes(block)

    # -- output ------------------------------------------------------------------------------------------

    def initial_bytes(self) -> bytes:
        """C0+C1 (1537 bytes, one write as HS-6 describes). May be taken once, here or via data_to_send."""
        if self._initial_taken:
            raise LocalProtocolError("C0+C1 were already handed out")
        self._initial_taken = True
        return bytes([self._version]) + self._own_c1

    def data_to_send(self) -> bytes:
        """Drain pending output: C0+C1 if ``initial_bytes()`` was not called, then C2 once S1 is in."""
        out = b"" if self._initial_taken else self.initial_bytes()
        out += bytes(self._outgoing)
        self._outgoing.clear()
        return out

    # -- input -------------------------------------------------------------------------------------------

    def _advance(self, now_ms: int) -> None:
        if self._s0 is None and self._buffer:
            self._s0 = self._buffer[0]
            # §5.2.2: "In S0, this field identifies the RTMP version selected by the server. The version
            # defined by this specification is 3." Anything else (RTMPE's 6 included, HS-15) is not plain RTMP.
            if self._s0 != RTMP_VERSION:
                raise RemoteProtocolError(
                    f"unsupported S0 version: {_describe_version(self._s0)}", rule="HS-2"
                )
        if self._s1 is None:
            if len(self._buffer) < C0C1_SIZE:
                return
            self._s1 = bytes(self._buffer[C0_SIZE:C0C1_SIZE])
            del self._buffer[:C0C1_SIZE]
            # §5.2.1: "The client MUST wait until S1 has been received before sending C2." It need not wait
            # for S2 (librtmp does not), so C2 is queued right now.
            self._answer_s1(self._s1, now_ms)
        if self._s2 is None:
            if len(self._buffer) < HANDSHAKE_SIZE:
                return
            self._s2 = bytes(self._buffer[:HANDSHAKE_SIZE])
            del self._buffer[:HANDSHAKE_SIZE]
            self._check_s2(self._s2)
            self._phase = _Phase.DONE

    def _answer_s1(self, s1: bytes, now_ms: int) -> None:
        peer_time, peer_zero = struct.unpack_from(">II", s1, TIME_OFFSET)
        scheme: DigestScheme | None = None
        # A zero S1 version field means a simple reply (librtmp and FFmpeg decide the same way, HS-10).
        if self._mode is HandshakeMode.DIGEST and peer_zero != 0:
            scheme = find_digest_scheme(s1, SERVER_KEY_PARTIAL)
        if scheme is None:
            mode = HandshakeMode.SIMPLE
            c2 = _simple_echo(s1, now_ms)
        else:
            mode = HandshakeMode.DIGEST
            self._s1_digest = _peer_digest(s1, scheme)
            random = _draw_random(self._random_bytes, DIGEST_REPLY_RANDOM_SIZE)
            c2 = random + reply_digest(self._s1_digest, CLIENT_KEY, random)
        self._c2 = c2
        self._info = HandshakeInfo(
            peer_version=self._s0 if self._s0 is not None else RTMP_VERSION,
            peer_time=peer_time,
            peer_zero=peer_zero,
            mode=mode,
            scheme=scheme,
            peer_digest_valid=scheme is not None,
        )
        self._outgoing += c2

    def _check_s2(self, s2: bytes) -> None:
        assert self._info is not None
        self._s2_echoes_c1 = s2[RANDOM_OFFSET:] == self._own_c1[RANDOM_OFFSET:]
        if self._info.mode is HandshakeMode.DIGEST:
            assert self._c1_digest is not None
            expected = reply_digest(self._c1_digest, SERVER_KEY, s2)
            self._s2_digest_valid = hmac.compare_digest(expected, s2[DIGEST_REPLY_RANDOM_SIZE:])
            # HS-13: FFmpeg as a player rejects a digest-mode S2 whose signature is wrong.
            if self._strict_s2 and not self._s2_digest_valid:
                raise RemoteProtocolError("S2 does not carry the signature of our C1 digest", rule="HS-13")
        # §5.2.4: "Random echo (1528 bytes): This field MUST contain the random data field sent by the peer
        # in S1 (for C2) or S2 (for C1)." (read: C1, for S2; HS-8)
        elif self._strict_s2 and not self._s2_echoes_c1:
            raise RemoteProtocolError("S2 bytes 8..1535 do not echo C1's random data", rule="HS-8")

    # -- state -------------------------------------------------------------------------------------------

    @property
    def s0(self) -> int | None:
        """The server's version byte, as soon as it arrives (even when refused)."""
        return self._s0

    @property
    def s2_echoes_c1(self) -> bool:
        """True when S2[8:] equals C1[8:] (the simple-mode echo); False until S2 has arrived."""
        return self._s2_echoes_c1

    @property
    def s2_digest_valid(self) -> bool | None:
        """In digest mode, whether S2 carried the expected signature; None in simple mode or before S2."""
        return self._s2_digest_valid
