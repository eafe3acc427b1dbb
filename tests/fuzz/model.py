"""Whole-session fuzzing of the reference server (issue 10, "fuzz the reference server").

A hypothesis ``RuleBasedStateMachine`` plays up to ``MAX_CONNECTIONS`` clients against one
in-process server: the reference server's session logic (``ServerSession``) and stream registry,
driven exactly as the asyncio glue in ``server.py`` drives them (``data_received`` per read,
``cleanup`` on connection loss, ``close`` when a timer fires) through a fake transport. Rules
generate handshake variants (C0 versions, simple/digest C1, echoed or random C2, odd splits, bytes
glued after C2), chunk sequences with every fmt, csid form, extended-timestamp form and chunk size,
commands, media (legacy and E-RTMP), control messages, Abort, garbage, abrupt closes and timers.

Checked after every step:

- nothing but ``ProtocolError`` ever escapes the session (an uncaught exception is a crash);
- every byte the server wrote to a client decodes as a legal chunk stream (CH-5/CH-8);
- the registry holds only streams with a live publisher or player.

Checked after every session (the machine's teardown): every connection is closed abruptly, the
registry is empty again (nothing leaked), and a fresh client still gets connect, createStream,
publish and play answered.

The same machine backs ``tests/fuzz`` (a few seconds in ``make test``) and ``bench/fuzz.py``
(10^5 sessions). Shrunk failures are kept as explicit regression vectors in
``tests/fuzz/test_regressions.py``.
"""

from __future__ import annotations

import random
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from rtmpconf.reference_server.config import ServerConfig
from rtmpconf.reference_server.session import ServerSession
from rtmpconf.reference_server.streams import StreamRegistry
from rtmpconf.rtmp import amf0, media
from rtmpconf.rtmp.chunk import ChunkReader, ChunkWriter, MessagePlan, RawMessage
from rtmpconf.rtmp.errors import ProtocolError
from rtmpconf.rtmp.handshake import ClientHandshake, DigestScheme, HandshakeMode
from rtmpconf.rtmp.messages import (
    Abort,
    Acknowledgement,
    Aggregate,
    Audio,
    Command,
    Data,
    SetChunkSize,
    SetPeerBandwidth,
    UnknownMessage,
    UserControl,
    Video,
    WindowAckSize,
    decode_message,
    encode_message,
    status_info,
)

#: Client connections open at once in one fuzzed session.
MAX_CONNECTIONS = 4
#: Stream names the clients pick from: few, so publishers and players meet (and some unsafe).
NAMES = ("live1", "live2", "live1?token=x", "", "../etc", "a/b", "x" * 300)
#: A small server: tight limits reach the limit paths quickly (GOP bounds, queues, streams).
FUZZ_CONFIG: dict[str, Any] = {
    "port": 0, "gop_max_frames": 8, "gop_max_bytes": 64 * 1024, "player_queue_bytes": 32 * 1024,
    "player_resume_bytes": 4 * 1024, "max_streams_per_connection": 4, "max_open_messages": 8,
    "max_partial_bytes": 1 << 20, "max_chunk_streams": 64,
}


#: Message types a server sends: protocol and user control, media, data, shared objects,
#: commands, aggregates (§5.4, §7.1).
SERVER_TYPES = frozenset({1, 2, 3, 4, 5, 6, 8, 9, 15, 16, 17, 18, 19, 20, 22})


class Crash(AssertionError):
    """The server did something the fuzzer treats as a bug."""


class FakeTransport:
    """What ``server.py``'s connection gives a session: write, backlog, close."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.closed = False
        self.backlog_bytes = 0  #: what ``backlog()`` reports (a slow player has a big one)

    def write(self, data: bytes) -> None:
        if not self.closed:  # the glue drops writes after close() (server.py, _closed)
            self.out += data

    def backlog(self) -> int:
        return self.backlog_bytes

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data = bytes(self.out)
        self.out.clear()
        return data


class FuzzServer:
    """One in-process server: the registry and the sessions, glued like ``server.py``."""

    _default_config: ServerConfig | None = None

    def __init__(self, **overrides: Any) -> None:
        if overrides:
            self.config = ServerConfig.from_mapping({**FUZZ_CONFIG, **overrides})
        else:
            # Sessions never change their config: build it once (it is a measurable part of a session).
            if FuzzServer._default_config is None:
                FuzzServer._default_config = ServerConfig.from_mapping(dict(FUZZ_CONFIG))
            self.config = FuzzServer._default_config
        self.registry = StreamRegistry(self.config)

    def accept(self) -> tuple[ServerSession, FakeTransport]:
        transport = FakeTransport()
        return ServerSession(self.config, self.registry, transport, "fuzz"), transport

    @staticmethod
    def connection_lost(session: ServerSession) -> None:
        # server.py _ConnectionProtocol.connection_lost
        if not session.closed:
            session.closed = True
            session.close_reason = "peer closed (fuzz)"
            session.cleanup()

    def check_registry(self) -> None:
        for key, stream in self.registry.streams.items():
            if stream.publisher is None and not stream.players:
                raise Crash(f"registry keeps {key} with neither publisher nor players")
            if stream.publisher is not None and stream.publisher.closed:
                raise Crash(f"{key} is published by a closed session")
            for sink in stream.players:
                if getattr(sink, "closed", False):
                    raise Crash(f"{key} has a closed session as a player")


class InProcessLink:
    """A connection to the in-process server: each write is one ``data_received``."""

    def __init__(self, server: FuzzServer) -> None:
        self.server = server
        self.session, self.transport = server.accept()

    @property
    def closed(self) -> bool:
        """The server closed the connection."""
        return self.session.closed

    def send(self, piece: bytes) -> bytes:
        """Deliver one read; the bytes the server wrote in answer."""
        try:
            self.session.data_received(piece)
        except ProtocolError as exc:
            # ServerSession handles these itself: one escaping is a crash like any other.
            raise Crash(f"ProtocolError escaped data_received: {exc}") from exc
        return self.transport.take()

    def poll(self, timeout: float) -> bytes:
        return self.transport.take()

    def lose(self) -> None:
        self.server.connection_lost(self.session)

    def fire_timer(self) -> bytes:
        """The handshake or idle timer (server.py _on_timer) closes the session."""
        if not self.session.closed:
            self.session.close("timer (fuzz)")
        return self.transport.take()

    def set_backlog(self, size: int) -> None:
        self.transport.backlog_bytes = size


class SocketLink:
    """A TCP connection to a real server process: a write is one ``send``; its answer is what
    arrives until the server has been quiet for ``QUIET_S``."""

    #: Silence that ends a read of the server's answer, and the longest any answer is awaited.
    QUIET_S = 0.02
    ANSWER_S = 1.0

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=5.0)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.closed = False

    def send(self, piece: bytes) -> bytes:
        try:
            self.sock.settimeout(5.0)
            self.sock.sendall(piece)
        except OSError:
            self.closed = True
            return b""
        return self.poll(self.QUIET_S)

    def poll(self, timeout: float) -> bytes:
        """What the server sends within ``timeout`` and then until it is quiet."""
        out = bytearray()
        deadline = time.monotonic() + min(timeout, self.ANSWER_S)
        wait = timeout
        while not self.closed:
            ready, _, _ = select.select([self.sock], [], [], max(0.0, min(wait, deadline - time.monotonic())))
            if not ready:
                break
            try:
                data = self.sock.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                self.closed = True
                break
            out += data
            wait = self.QUIET_S
        return bytes(out)

    def lose(self) -> None:
        # An abrupt close: RST (SO_LINGER 0), as a crashed client leaves.
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.sock.close()
        self.closed = True

    def fire_timer(self) -> bytes:
        return b""  # the real server's timers run on their own

    def set_backlog(self, size: int) -> None:
        pass  # a real slow consumer would stop reading; the socket runs keep reading


Link = InProcessLink | SocketLink


class FuzzClient:
    """The client side of one connection: handshake, chunk writer, a decoder of the server's bytes."""

    def __init__(self, link: Link, *, mode: HandshakeMode, scheme: DigestScheme, version: int,
                 seed: int) -> None:
        self.link = link
        counter = [seed]

        def random_bytes(n: int) -> bytes:
            counter[0] += 1
            return (counter[0].to_bytes(4, "big") * (n // 4 + 1))[:n]

        self.hs = ClientHandshake(mode=mode, scheme=scheme, version=version, random_bytes=random_bytes)
        self.writer = ChunkWriter()
        self.server_out = bytearray()  #: server bytes before the handshake completes
        self.reader: ChunkReader | None = None  #: decodes the server's chunk stream
        self.handshake_done = False
        self.closed = False
        self.tid = 1.0
        self.stream_ids: list[int] = []
        self.replies: dict[float, str] = {}  #: transaction id -> "_result"/"_error"
        self.statuses: list[str] = []
        self.connect_tids: set[float] = set()
        self.connected = False
        self.media: list[RawMessage] = []  #: the first audio/video messages received
        self.publishing: set[int] = set()  #: message streams the server confirmed a publish on
        self.playing: set[int] = set()
        self.c2_sent = False

    # -- I/O -----------------------------------------------------------------------------------

    def deliver(self, data: bytes, cuts: list[int] | None = None) -> None:
        """Hand ``data`` to the server as one or more reads (split at ``cuts``)."""
        if self.closed or self.link.closed or not data:
            return
        pieces = [data]
        if cuts:
            points = sorted({c % len(data) for c in cuts} - {0})
            pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]
        for piece in pieces:
            self.read_server(self.link.send(piece))
            if self.link.closed:
                break

    def wait_until(self, done: Callable[[FuzzClient], bool], timeout: float = 5.0) -> None:
        """Read the server until ``done(self)`` or ``timeout`` (at once for the in-process link)."""
        deadline = time.monotonic() + timeout
        while not done(self) and not self.link.closed and time.monotonic() < deadline:
            self.wait_server(min(1.0, deadline - time.monotonic()))
            if isinstance(self.link, InProcessLink):
                return

    def wait_server(self, timeout: float = 1.0) -> None:
        """Take what else the server sends (over a socket its answer may come later)."""
        if not self.closed:
            self.read_server(self.link.poll(timeout))

    def read_server(self, out: bytes) -> None:
        if not out:
            return
        if self.reader is None:
            self.server_out += out
            # S0 S1 S2 = 3073 bytes; everything after is chunks.
            if len(self.server_out) < 3073:
                return
            out = bytes(self.server_out[3073:])
            self.reader = ChunkReader(max_open_messages=1 << 16, max_partial_bytes=1 << 30)
        try:
            self.reader.feed(out)
        except ProtocolError as exc:
            raise Crash(f"the server wrote an illegal chunk stream: {exc}") from exc
        if self.reader.notices:
            # Tolerated by our reader, illegal from a server: a chunk stream started without fmt 0
            # (CH-8) or a message cut short by a new header (CH-12).
            raise Crash(f"the server wrote an illegal chunk stream: {self.reader.notices[0]}")
        for raw in self.reader.messages():
            if raw.type_id not in SERVER_TYPES:
                # A type no server sends: the stream is out of step (a wrong header compression
                # parses payload bytes as headers, and zeros parse as type-0 messages).
                raise Crash(f"the server sent a message of type {raw.type_id} on csid {raw.csid}: "
                            "its chunk stream is out of step")
            if raw.type_id in (8, 9):
                if len(self.media) < 1000:
                    self.media.append(raw)
                continue
            if raw.type_id not in (17, 20):
                continue
            try:
                msg = decode_message(raw.type_id, raw.payload)
            except ProtocolError as exc:
                raise Crash(f"the server wrote a command that does not decode: {exc}") from exc
            if not isinstance(msg, Command):
                continue
            if msg.name in ("_result", "_error"):
                self.replies[msg.transaction_id] = msg.name
                if msg.name == "_result" and msg.transaction_id in self.connect_tids:
                    self.connected = True
                if msg.name == "_result" and msg.arguments and isinstance(msg.arguments[0], float):
                    self.stream_ids.append(int(msg.arguments[0]))
            info = status_info(msg)
            if info is not None:
                code = str(info.get("code"))
                self.statuses.append(code)
                if code == "NetStream.Publish.Start":
                    self.publishing.add(raw.msid)
                elif code == "NetStream.Play.Start":
                    self.playing.add(raw.msid)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.link.lose()

    # -- handshake -----------------------------------------------------------------------------

    def handshake(self, *, c2: str, glue: bytes, cuts: list[int]) -> None:
        """C0 C1 (split at ``cuts``), then C2 (``echo`` as the core writes it, ``random`` or
        ``short`` by one byte) with ``glue`` in the same write."""
        self.deliver(self.hs.initial_bytes(), cuts)
        while not self.link.closed and len(self.server_out) < 3073:
            before = len(self.server_out)
            self.wait_server()
            if len(self.server_out) == before:
                break
        if self.link.closed:
            return
        s012 = bytes(self.server_out[:3073])
        if len(s012) < 3073:
            return
        try:
            self.hs.receive_data(s012)
        except ProtocolError:
            return  # the server's S0..S2 did not suit our variant; nothing more to send
        c2_bytes = self.hs.data_to_send()
        if c2 == "random":
            c2_bytes = bytes((i * 7) & 0xFF for i in range(len(c2_bytes)))
        elif c2 == "short":
            c2_bytes = c2_bytes[:-1]
        self.c2_sent = True
        self.handshake_done = self.hs.done
        self.deliver(c2_bytes + glue, cuts[1:])

    # -- messages ------------------------------------------------------------------------------

    def next_tid(self) -> float:
        self.tid += 1.0
        return self.tid

    def encode(self, msg: Any, *, msid: int = 0, timestamp: int = 0, csid: int | None = None,
               plan: MessagePlan | None = None) -> bytes:
        type_id, payload = encode_message(msg)
        if csid is None:
            csid = 2 if type_id in (1, 2, 3, 4, 5, 6) else {8: 4, 9: 6, 15: 5, 18: 5}.get(type_id, 3)
        if plan is None:
            data = self.writer.encode(csid, type_id, msid, timestamp, payload)
        else:
            data = b"".join(self.writer.encode_planned(csid, type_id, msid, timestamp, payload, plan))
        if isinstance(msg, SetChunkSize) and 1 <= msg.size <= 0x7FFFFFFF and (plan is None or plan.update_state):
            self.writer.set_chunk_size(msg.size)
        return data

    def stream_id(self, pick: int) -> int:
        """Mostly a stream the server gave us (publishing or playing first), sometimes any id."""
        if pick < 0:
            return -pick
        live = sorted(self.publishing | self.playing)
        if live and pick % 4 != 3:
            return live[pick % len(live)]
        ids = self.stream_ids or [1]
        return ids[pick % len(ids)]

    def media_stream(self, pick: int) -> int:
        """Where media goes: mostly the stream we publish on."""
        if self.publishing and pick % 5:
            return sorted(self.publishing)[pick % len(self.publishing)]
        return self.stream_id(pick)


# -- generation ------------------------------------------------------------------------------------
#
# Each rule draws only a connection pick and a 32-bit seed from hypothesis; the rule's arguments
# (messages, plans, payloads, splits) come from ``Gen(seed)``. Hypothesis thus shrinks a failing
# session to its fewest steps, and a step costs two draws instead of dozens, which is what makes
# 10^5 sessions affordable (bench/fuzz.py). Every choice list leads with the edge values.

TIMESTAMPS = (0, 1, 40, 1000, 0xFFFFFE, 0xFFFFFF, 0x1000000, 0x7FFFFFFF, 0x80000000, 0xFFFFFF00, 0xFFFFFFFF)
CSIDS = (2, 3, 4, 5, 6, 8, 63, 64, 65, 319, 320, 365, 65599)
CHUNK_SIZES = (1, 2, 127, 128, 129, 4096, 65536, 0xFFFFFF, 0x7FFFFFFF)
U32_EDGES = (0, 1, 2, 127, 128, 129, 4096, 65536, 0xFFFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
# Media payloads: legacy AVC/AAC, E-RTMP, and junk.
AVC_SEQUENCE_HEADER = bytes.fromhex("1700000000 0142c01effe1000a6742c01e95a0280f6440 01000468ce3c80")
AAC_SEQUENCE_HEADER = bytes.fromhex("af00 1210")
MEDIA = (
    AVC_SEQUENCE_HEADER,
    bytes.fromhex("1701000000") + bytes(40),  # AVC keyframe
    bytes.fromhex("2701000000") + bytes(30),  # AVC inter frame
    bytes.fromhex("1702000000"),  # AVC end of sequence
    AAC_SEQUENCE_HEADER,
    bytes.fromhex("af01") + bytes(20),  # AAC raw
    bytes.fromhex("af00 1190"),  # AAC header, another rate
    b"\x90hvc1" + bytes(20),  # E-RTMP SequenceStart hvc1
    b"\x91hvc1" + bytes(33),  # E-RTMP CodedFrames keyframe
    b"\xa3hvc1" + bytes(20),  # E-RTMP CodedFramesX inter frame
    b"\x96av01" + bytes(10),  # E-RTMP multitrack wrapper, truncated
    b"\x97vp09",  # ModEx with nothing behind it
    b"\x90Opus" + bytes(19),  # E-RTMP audio SequenceStart Opus
    b"",  # ERTMP-15: zero-length audio/video
    b"\x57\x00",  # video command frame
)
#: Payload filler: not zeros, so a receiver out of step reads headers no server writes.
FILL = b"\x5a"
APPS = ("live", "live/", "live/_definst_", "live?x=1", "", "other")
SIMPLE_COMMANDS = ("createStream", "releaseStream", "FCPublish", "FCUnpublish", "getStreamLength", "_checkbw",
                   "FCSubscribe", "noSuchCommand", "onStatus", "_result", "connect")
STREAM_COMMANDS = ("publish", "play", "play2", "deleteStream", "closeStream", "pause", "receiveAudio",
                   "receiveVideo", "seek")


class Gen:
    """Deterministic choices from one seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def choice(self, items: Any) -> Any:
        return items[self.rng.randrange(len(items))]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def int(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def u32(self) -> int:
        return self.choice(U32_EDGES) if self.chance(0.6) else self.rng.getrandbits(32)

    def timestamp(self) -> int:
        return self.choice(TIMESTAMPS) if self.chance(0.6) else self.rng.getrandbits(32)

    def csid(self) -> int:
        return self.choice(CSIDS) if self.chance(0.7) else self.int(2, 65599)

    def binary(self, hi: int) -> bytes:
        return self.rng.randbytes(self.int(0, hi))

    def cuts(self) -> list[int]:
        return [self.int(0, 1 << 16) for _ in range(self.choice((0, 0, 1, 2, 3)))]

    def plan(self) -> MessagePlan | None:
        if self.chance(0.6):
            return None
        return MessagePlan(
            fmt=self.choice((None, None, 0, 1, 2, 3)),
            ts_field=self.choice((None, None, 0, 1, 0xFFFFFE, 0xFFFFFF, 0x1000000, 0xFFFFFFFF)),
            csid_form=self.choice((None, None, 1, 2, 3)),
            ext_ts_on_fmt3=self.choice((None, True, False)),
            chunk_size=self.choice((None, None, 1, 7, 128, 4096)),
            continuation_fmt=self.choice((3, 3, 3, 0, 1, 2)),
            length_field=None if self.chance(0.8) else self.int(0, 300),
            update_state=self.chance(0.8),
        )

    def amf(self, depth: int = 0) -> Any:
        kind = self.int(0, 9 if depth < 3 else 6)
        if kind == 0:
            return None
        if kind == 1:
            return self.chance(0.5)
        if kind == 2:
            return self.choice((0.0, -1.0, 1e308, float("inf"), float("nan"), 3.0))
        if kind in (3, 4):
            return self.choice(("", "live1", "x" * 70000, "\u00e9\u4e2d", "a\x00b"))
        if kind == 5:
            return amf0.UNDEFINED
        if kind == 6:
            return float(self.int(0, 10))
        if kind == 7:
            return [self.amf(depth + 1) for _ in range(self.int(0, 3))]
        return {self.choice(("app", "code", "", "k", "tcUrl")): self.amf(depth + 1) for _ in range(self.int(0, 3))}

    def media(self) -> bytes:
        return self.choice(MEDIA) if self.chance(0.8) else self.binary(64)


def build_command(g: Gen, client: FuzzClient) -> tuple[Command, int]:
    """A command and the message stream it goes on, mostly what the session's state calls for
    (connect first, then createStream, then publish or play), sometimes anything."""
    extra = tuple(g.amf() for _ in range(g.choice((0, 0, 0, 1, 2))))
    wanted = None
    if not client.connected and g.chance(0.9):
        wanted = "connect"  # anything else before connect ends the session (CMD-8): keep it rare
    elif not client.stream_ids and g.chance(0.7):
        wanted = "createStream"
    if wanted is not None or g.chance(0.4):
        name = wanted or g.choice(SIMPLE_COMMANDS)
        tid = client.next_tid()
        if name == "connect":
            obj: dict[str, Any] = {"app": g.choice(APPS), "tcUrl": "rtmp://127.0.0.1/live",
                                   "objectEncoding": g.choice((0.0, 3.0, 5.0))}
            if g.chance(0.3):
                obj["fourCcList"] = ["hvc1", "av01", "*"][: g.int(0, 3)]
            client.connect_tids.add(tid)
            return Command(name, tid, obj, extra), 0
        return Command(name, tid, None, (g.choice(NAMES), *extra)), 0
    name = g.choice(STREAM_COMMANDS[:2]) if g.chance(0.5) else g.choice(STREAM_COMMANDS)
    tid = 0.0 if name in ("publish", "play", "play2") and g.chance(0.7) else client.next_tid()
    msid = client.stream_id(g.int(-3, 7))
    if name == "publish":
        return Command(name, tid, None, (g.choice(NAMES), g.choice(("live", "record", "append")), *extra)), msid
    if name in ("play", "play2"):
        return Command(name, tid, None, (g.choice(NAMES), g.choice((-2.0, -1.0, 0.0, -2000.0)), *extra)), msid
    if name == "deleteStream":
        return Command(name, tid, None, (float(msid), *extra)), 0
    return Command(name, tid, None, (g.chance(0.5), *extra)), msid


def build_control(g: Gen) -> Any:
    kind = g.choice((0, 1, 2, 3, 4, 5, 5, 5, 3, 4, 6, 7, 8))
    value = g.u32()
    if kind == 0:
        if not 1 <= value <= 0x7FFFFFFF:
            return UnknownMessage(1, struct.pack(">I", value))  # illegal sizes: raw payload
        return SetChunkSize(min(value, 1 << 20))  # past 1 MiB a larger size changes nothing here
    if kind == 1:
        return Abort(value % 70000)
    if kind == 2:
        return Acknowledgement(value)
    if kind == 3:
        return WindowAckSize(value)
    if kind == 4:
        return SetPeerBandwidth(value, value % 4)
    if kind == 5:
        return UserControl.ping_request(value)
    if kind == 6:
        return UserControl.set_buffer_length(value % 8, value)
    if kind == 7:
        return UserControl(value % 40, struct.pack(">I", value)[: value % 5])
    return UnknownMessage((7, 16, 19, 0x30, 0xFF)[value % 5], struct.pack(">I", value)[: g.int(0, 4)])


def ertmp_sequence(g: Gen, n: int) -> list[tuple[Any, int]]:
    """An E-RTMP stream (our own builders, rtmp/media.py): HEVC or AV1 single-track or two-track
    multitrack video, Opus audio, some frames wrapped in a ModEx nano offset."""
    ts = g.timestamp()
    multi = g.chance(0.4)
    fourcc = g.choice(("hvc1", "av01", "vp09"))

    def video(frame_type: int, ptype: int, size: int) -> bytes:
        if multi:
            tracks = [(t, fourcc, FILL * size) for t in (0, g.choice((1, 2, 7)))]
            return media.build_ex_video_multitrack(frame_type, ptype, g.choice((1, 1, 2)), tracks)
        return media.build_ex_video(frame_type, ptype, fourcc, FILL * size)

    def maybe_modex(payload: bytes) -> bytes:
        return media.add_modex_nano_offset(payload, g.int(0, 999_999)) if g.chance(0.15) else payload

    meta = {"width": 640.0, "videocodecid": fourcc, "audiocodecid": "Opus"}
    out: list[tuple[Any, int]] = [
        (Data(("@setDataFrame", "onMetaData", meta)), ts),
        (Video(video(1, 0, 20)), ts), (Audio(media.build_ex_audio(0, "Opus", FILL * 19)), ts),
        (Video(maybe_modex(video(1, 1, g.int(10, 2000)))), ts),
    ]
    for _ in range(n):
        ts = (ts + g.choice((0, 20, 33, 33, -33, 1000))) & 0xFFFFFFFF
        kind = g.int(0, 9)
        if kind < 4:
            out.append((Video(maybe_modex(video(2, 3, g.int(5, 1500)))), ts))
        elif kind < 7:
            out.append((Audio(maybe_modex(media.build_ex_audio(1, "Opus", FILL * g.int(5, 200)))), ts))
        elif kind == 7:
            out.append((Video(video(1, 1, g.int(10, 2000))), ts))
        elif kind == 8:
            out.append((Video(video(1, g.choice((0, 2, 4)), 12)), ts))  # new header, end, metadata
        else:
            out.append((Video(g.media()), ts))
    return out


def media_sequence(g: Gen, n: int) -> list[tuple[Any, int]]:
    """A plausible stream: metadata, sequence headers, a keyframe, then frames (sometimes a new
    keyframe, a changed header, an E-RTMP frame, a timestamp jump), from an edge-case start time."""
    if g.chance(0.3):
        return ertmp_sequence(g, n)
    ts = g.timestamp()
    out: list[tuple[Any, int]] = [
        (Data(("@setDataFrame", "onMetaData", {"width": 640.0, "audiocodecid": 10.0})), ts),
        (Video(AVC_SEQUENCE_HEADER), ts), (Audio(AAC_SEQUENCE_HEADER), ts),
        (Video(bytes.fromhex("1701000000") + FILL * g.int(10, 3000)), ts),
    ]
    for _ in range(n):
        kind = g.int(0, 19)
        ts = (ts + g.choice((0, 21, 23, 40, 40, 40, -40, 1000, 0xFFFFFF))) & 0xFFFFFFFF
        if kind < 8:
            out.append((Video(bytes.fromhex("2701000000") + FILL * g.int(5, 2000)), ts))
        elif kind < 15:
            out.append((Audio(bytes.fromhex("af01") + FILL * g.int(5, 300)), ts))
        elif kind == 15:
            out.append((Video(bytes.fromhex("1701000000") + FILL * g.int(10, 3000)), ts))
        elif kind == 16:
            out.append((Video(AVC_SEQUENCE_HEADER[:-1] + b"\x81"), ts))  # a changed sequence header (AV-5)
        elif kind == 17:
            out.append((Video(g.choice(MEDIA[7:12])), ts))
        elif kind == 18:
            out.append((Audio(b""), ts))  # ERTMP-15 silence
        else:
            out.append((Video(g.media()), ts))
    return out


picks = st.integers(0, 7)
seeds = st.integers(0, 2**32 - 1)


class ServerSessionMachine(RuleBasedStateMachine):
    """Whole sessions against one in-process reference server."""

    #: Sessions (machine runs) completed, for the benchmark's counters.
    sessions_run = 0

    def __init__(self) -> None:
        super().__init__()
        self.server = FuzzServer()
        self.clients: list[FuzzClient] = []

    # -- opening connections ---------------------------------------------------------------------

    @initialize(seed=seeds)
    def first_client(self, seed: int) -> None:
        g = Gen(seed)
        client = self._open(g, version=3)
        client.handshake(c2="echo", glue=b"", cuts=g.cuts())

    @precondition(lambda self: len(self.clients) < MAX_CONNECTIONS)
    @rule(seed=seeds)
    def open_client(self, seed: int) -> None:
        g = Gen(seed)
        client = self._open(g, version=g.choice((3, 3, 3, 3, 0, 4, 6, 31, 0x47, 0xFF)))
        kind = g.int(0, 5)
        if kind == 0:
            # A client that sends part of (or garbage instead of) C0 C1 and stays.
            data = client.hs.initial_bytes()[: g.int(1, 1536)] if g.chance(0.5) else g.binary(1600) or b"\x03"
            client.deliver(data, g.cuts())
            return
        extra = b""
        if kind == 1:
            # HS-6: C2 and connect in one write, as librtmp does.
            extra = client.encode(Command("connect", 1.0, {"app": "live", "tcUrl": "rtmp://h/live"}, ()))
        client.handshake(c2=g.choice(("echo", "echo", "random", "short")), glue=extra, cuts=g.cuts())

    def link(self) -> Link:
        return InProcessLink(self.server)

    def _open(self, g: Gen, version: int) -> FuzzClient:
        client = FuzzClient(self.link(), mode=g.choice((HandshakeMode.SIMPLE, HandshakeMode.DIGEST)),
                            scheme=g.choice((DigestScheme.SCHEME0, DigestScheme.SCHEME1)), version=version,
                            seed=g.rng.getrandbits(32))
        self.clients.append(client)
        return client

    def _client(self, pick: int) -> FuzzClient | None:
        live = [c for c in self.clients if not c.closed]
        return live[pick % len(live)] if live else None

    # -- traffic -------------------------------------------------------------------------------

    @rule(pick=picks, seed=seeds)
    def send_command(self, pick: int, seed: int) -> None:
        client = self._client(pick)
        if client is None:
            return
        g = Gen(seed)
        msg, msid = build_command(g, client)
        self._send(client, msg, msid=msid, plan=g.plan(), cuts=g.cuts())

    @rule(pick=picks, seed=seeds, verb=st.sampled_from(["publish", "play"]))
    def flow(self, pick: int, seed: int, verb: str) -> None:
        """connect + createStream + publish or play: reaches the publishing and playing states."""
        client = self._client(pick)
        if client is None:
            return
        g = Gen(seed)
        tid = client.next_tid()
        client.connect_tids.add(tid)
        data = client.encode(Command("connect", tid, {"app": "live"}, ())) if not client.connected else b""
        if g.chance(0.5):
            # Something that makes the server answer on its own (a ping, a window size) in the same
            # write as the commands: the replies must still leave in encoding order (CH-8).
            data += client.encode(build_control(g))
        data += client.encode(Command("createStream", client.next_tid(), None, ()))
        before = len(client.stream_ids)
        client.deliver(data, g.cuts())
        client.wait_until(lambda c: len(c.stream_ids) > before, timeout=0.5)
        msid = client.stream_ids[-1] if client.stream_ids else 1
        args = (g.choice(NAMES[:3]), "live") if verb == "publish" else (g.choice(NAMES[:3]), -2.0)
        data = client.encode(build_control(g)) if g.chance(0.3) else b""
        client.deliver(data + client.encode(Command(verb, 0.0, None, args), msid=msid), g.cuts())

    @rule(pick=picks, seed=seeds)
    def send_media(self, pick: int, seed: int) -> None:
        client = self._client(pick)
        if client is None:
            return
        g = Gen(seed)
        msid = client.media_stream(g.int(-2, 7))
        type_id = g.choice((8, 9, 9, 18, 15, 22))
        ts = g.timestamp()
        step = g.choice((0, 1, 23, 40, 1000, 0xFFFFFF, 0x7FFFFFFF, 0xFFFFFFF0))
        plan = g.plan()
        data = bytearray()
        for i in range(g.int(1, 12)):
            payload = g.media()
            msg: Any
            if type_id == 8:
                msg = Audio(payload)
            elif type_id == 9:
                msg = Video(payload)
            elif type_id == 22:
                # Aggregate: video sub-message header (type, 3-byte length, 3+1-byte timestamp, 3-byte
                # stream id), body, 4-byte back pointer; then maybe a truncated second one.
                body = payload or b"\x27\x01"
                sub = (bytes([9]) + len(body).to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(3, "big")
                       + bytes([ts >> 24 & 0xFF]) + bytes(3) + body + struct.pack(">I", 11 + len(body)))
                msg = Aggregate(sub + payload[: g.int(0, 12)])
            else:
                msg = Data(("@setDataFrame", "onMetaData", {"width": 640.0, "videocodecid": g.amf()}),
                           amf3=type_id == 15)
            try:
                data += client.encode(msg, msid=msid, timestamp=(ts + i * step) & 0xFFFFFFFF,
                                      plan=plan if i == 0 else None)
            except ProtocolError:
                break
        client.deliver(bytes(data), g.cuts())

    @rule(seed=seeds, late=st.booleans())
    def relay(self, seed: int, late: bool) -> None:
        """A publisher (new or existing) sends headers, a keyframe and frames; a player joins before
        (early) or after (late: from the GOP cache); more frames follow. Reaches the fan-out: GOP
        catch-up, header variants, keyframe waits, drops for slow players."""
        g = Gen(seed)
        name = g.choice(NAMES[:3])
        pub = self._fresh_or_existing(g)
        if pub is None:
            return
        self._flow_on(pub, g, "publish", name)
        player = None
        if not late:
            player = self._fresh_or_existing(g)
            if player is not None:
                self._flow_on(player, g, "play", name)
        msid = pub.media_stream(g.int(0, 7))
        frames = media_sequence(g, g.int(3, 30))
        half = len(frames) // 2
        pub.deliver(b"".join(pub.encode(m, msid=msid, timestamp=ts) for m, ts in frames[:half]), g.cuts())
        if late:
            player = self._fresh_or_existing(g)
            if player is not None:
                self._flow_on(player, g, "play", name)
        if player is not None and g.chance(0.3):
            player.link.set_backlog(g.choice((40_000, 1 << 30)))  # a slow player (GOP-8)
        pub.deliver(b"".join(pub.encode(m, msid=msid, timestamp=ts) for m, ts in frames[half:]), g.cuts())
        if player is not None:
            player.link.set_backlog(0)

    def _fresh_or_existing(self, g: Gen) -> FuzzClient | None:
        if len(self.clients) < MAX_CONNECTIONS and g.chance(0.6):
            client = self._open(g, version=3)
            client.handshake(c2="echo", glue=b"", cuts=g.cuts())
            return client
        return self._client(g.int(0, 7))

    def _flow_on(self, client: FuzzClient, g: Gen, verb: str, name: str) -> None:
        data = b""
        if not client.connected:
            tid = client.next_tid()
            client.connect_tids.add(tid)
            obj: dict[str, Any] = {"app": "live"}
            if g.chance(0.4):
                # An E-RTMP client (ERTMP-10): the server then sends it E-RTMP, others legacy views.
                obj["fourCcList"] = g.choice((["*"], ["hvc1", "av01"], ["avc1"]))
                obj["capsEx"] = float(g.int(0, 15))
            data += client.encode(Command("connect", tid, obj, ()))
        data += client.encode(Command("createStream", client.next_tid(), None, ()))
        before = len(client.stream_ids)
        client.deliver(data, g.cuts())
        client.wait_until(lambda c: len(c.stream_ids) > before, timeout=0.5)
        msid = client.stream_ids[-1] if client.stream_ids else 1
        args = (name, "live") if verb == "publish" else (name, g.choice((-2.0, -1.0, 0.0)))
        client.deliver(client.encode(Command(verb, 0.0, None, args), msid=msid), g.cuts())
        client.wait_until(lambda c: msid in c.publishing or msid in c.playing, timeout=0.5)

    @rule(pick=picks, seed=seeds)
    def send_control(self, pick: int, seed: int) -> None:
        client = self._client(pick)
        if client is None:
            return
        g = Gen(seed)
        self._send(client, build_control(g), msid=0, plan=g.plan(), cuts=g.cuts())

    @rule(pick=picks, seed=seeds, then=st.sampled_from(["abort", "fmt0", "close", "nothing"]))
    def partial_message(self, pick: int, seed: int, then: str) -> None:
        """The first chunk of a longer message, then an Abort, a new fmt-0 header (CH-12), a close
        mid-message (ROB-5) or nothing."""
        client = self._client(pick)
        if client is None:
            return
        g = Gen(seed)
        csid = g.csid()
        chunks = client.writer.encode_planned(csid, 9, 1, 0, bytes(g.int(2, 5000)), MessagePlan(update_state=False))
        client.deliver(chunks[0], g.cuts())
        if then == "abort":
            client.deliver(client.encode(Abort(csid)))
        elif then == "fmt0":
            client.writer.forget(csid)
            client.deliver(client.encode(Video(b"\x27\x01"), csid=csid, msid=1))
        elif then == "close":
            client.close()

    @rule(pick=picks, seed=seeds)
    def burst(self, pick: int, seed: int) -> None:
        """Several messages in one write: commands, control (pings, window sizes that trigger
        automatic replies) and media glued together, as a real client's socket delivers them."""
        client = self._client(pick)
        if client is None:
            return
        g = Gen(seed)
        data = bytearray()
        for _ in range(g.int(2, 6)):
            kind = g.int(0, 2)
            try:
                if kind == 0:
                    msg, msid = build_command(g, client)
                    data += client.encode(msg, msid=msid)
                elif kind == 1:
                    data += client.encode(build_control(g))
                else:
                    data += client.encode(g.choice((Audio, Video))(g.media()), msid=client.media_stream(g.int(0, 7)),
                                          timestamp=g.timestamp())
            except ProtocolError:
                break
        client.deliver(bytes(data), g.cuts())

    @rule(pick=picks, seed=seeds)
    def garbage(self, pick: int, seed: int) -> None:
        """Random bytes (rarely: they usually end the session) or a well-formed message of a random
        type with a random payload."""
        client = self._client(pick)
        if client is None:
            return
        g = Gen(seed)
        if g.chance(0.25):
            client.deliver(g.binary(300) or b"\x00", g.cuts())
            return
        msg = UnknownMessage(g.choice((1, 2, 3, 4, 5, 6, 8, 9, 15, 16, 17, 18, 19, 20, 22, g.int(0, 255))),
                             g.binary(40))
        self._send(client, msg, msid=client.stream_id(g.int(-1, 7)), plan=g.plan(), cuts=g.cuts())

    @rule(pick=picks, backlog=st.sampled_from([0, 10_000, 40_000, 1 << 30]))
    def slow_consumer(self, pick: int, backlog: int) -> None:
        """The connection's send queue (what the fan-out sees as backlog) grows or drains (GOP-8)."""
        client = self._client(pick)
        if client is not None:
            client.link.set_backlog(backlog)

    @rule(pick=picks, how=st.sampled_from(["reset", "reset", "timer"]))
    def end_connection(self, pick: int, how: str) -> None:
        """An abrupt close by the client, or the server's handshake/idle timer (server.py _on_timer)."""
        client = self._client(pick)
        if client is None:
            return
        if how == "timer":
            client.read_server(client.link.fire_timer())
        else:
            client.close()

    def _send(self, client: FuzzClient, msg: Any, *, msid: int, plan: MessagePlan | None,
              cuts: list[int]) -> None:
        try:
            data = client.encode(msg, msid=msid, plan=plan)
        except ProtocolError:
            return  # the plan asked the writer for something it refuses to build
        client.deliver(data, cuts)

    # -- checks --------------------------------------------------------------------------------

    @invariant()
    def registry_consistent(self) -> None:
        self.server.check_registry()

    def teardown(self) -> None:
        type(self).sessions_run += 1
        for client in self.clients:
            client.close()
        self.server.check_registry()
        if self.server.registry.streams:
            raise Crash(f"streams left after every connection closed: {sorted(self.server.registry.streams)}")
        check_fresh_client(self.link)
        if self.server.registry.streams:
            raise Crash("the fresh clients' stream was not released")


class SocketSessionMachine(ServerSessionMachine):
    """The same sessions over TCP against a real server process (``SERVER`` is set by the runner).

    Between steps only what the wire shows can be checked; after each session the process must be
    alive, answer a fresh client, and stay within its memory bound.
    """

    #: The running server: a ReferenceServerProcess (tests/fuzz/test_socket.py, bench/fuzz.py).
    server_process: Any = None
    #: Called after each session with the server process (memory checks); set by the runner.
    after_session: Callable[[Any], None] | None = None

    def link(self) -> Link:
        proc = type(self).server_process
        return SocketLink(proc.host, proc.port)

    @invariant()
    def registry_consistent(self) -> None:
        pass  # the registry lives in the other process

    def teardown(self) -> None:
        type(self).sessions_run += 1
        for client in self.clients:
            client.close()
        proc = type(self).server_process
        if not proc.alive():
            raise Crash(f"the server process exited (code {proc.proc.returncode if proc.proc else '?'})")
        check_fresh_client(self.link)
        hook = type(self).after_session
        if hook is not None:
            hook(proc)


def check_fresh_client(link: Callable[[], Link]) -> None:
    """A new publisher and a new player still get every command answered (the server is not wedged)."""
    pub = FuzzClient(link(), mode=HandshakeMode.SIMPLE, scheme=DigestScheme.SCHEME1, version=3, seed=1 << 20)
    pub.handshake(c2="echo", glue=b"", cuts=[])
    play = FuzzClient(link(), mode=HandshakeMode.SIMPLE, scheme=DigestScheme.SCHEME1, version=3, seed=2 << 20)
    play.handshake(c2="echo", glue=b"", cuts=[])
    try:
        for client, verb in ((pub, "publish"), (play, "play")):
            if not client.handshake_done:
                raise Crash(f"fresh {verb}er: handshake did not complete")
            client.deliver(client.encode(Command("connect", 1.0, {"app": "live"}, ())))
            client.deliver(client.encode(Command("createStream", 2.0, None, ())))
            client.wait_until(lambda c: 2.0 in c.replies)
            if client.replies.get(1.0) != "_result" or client.replies.get(2.0) != "_result" or not client.stream_ids:
                raise Crash(f"fresh {verb}er: connect/createStream not answered: {client.replies}")
            args = ("fresh", "live") if verb == "publish" else ("fresh", -2.0)
            client.deliver(client.encode(Command(verb, 0.0, None, args), msid=client.stream_ids[-1]))
            code = "NetStream.Publish.Start" if verb == "publish" else "NetStream.Play.Start"
            client.wait_until(lambda c, code=code: code in c.statuses)
            if code not in client.statuses:
                raise Crash(f"fresh {verb}er: {verb} not started: {client.statuses}")
    finally:
        pub.close()
        play.close()


# -- the TCP runner -----------------------------------------------------------------------------


@dataclass
class SocketRunReport:
    """What a run of SocketSessionMachine against a real server process showed."""

    sessions: int
    peak_rss_mib: float  #: the server process's VmHWM at the end of the run
    server_errors: list[str]  #: tracebacks and "Exception in ..." lines from the server's log


def run_socket_sessions(hypothesis_settings: Any, log_path: Path) -> SocketRunReport:
    """Run SocketSessionMachine against ``python -m rtmpconf.reference_server`` (default config)."""
    from hypothesis.stateful import run_state_machine_as_test

    from rtmpconf.harness.targets import ReferenceServerProcess

    proc = ReferenceServerProcess(log_path=log_path)
    proc.start()
    SocketSessionMachine.server_process = proc
    before = SocketSessionMachine.sessions_run
    try:
        run_state_machine_as_test(SocketSessionMachine, settings=hypothesis_settings)
        peak = process_peak_rss_mib(proc.proc.pid) if proc.proc is not None else 0.0
    finally:
        SocketSessionMachine.server_process = None
        proc.stop()
    return SocketRunReport(SocketSessionMachine.sessions_run - before, peak, server_errors(log_path))


def process_peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def server_errors(log_path: Path) -> list[str]:
    """Uncaught exceptions in a server log: asyncio reports them with a traceback."""
    if not log_path.exists():
        return []
    lines = log_path.read_text(errors="replace").splitlines()
    return [line for line in lines if "Traceback (most recent call last)" in line or "Exception in" in line
            or "Error in" in line]
