"""Hostile servers: targets that attack the harness itself (issue 10, "hostile targets").

Each double completes (or, for ``dribble-handshake``, starts) a normal handshake and then does one
nasty thing a broken or malicious server could do to a conformance client:

``garbage``            random bytes after the handshake (seeded per connection), without end;
``huge-chunks``        Set Chunk Size 0x7FFFFFFF, then 16 MiB video messages on csids 3..102, each
                       one 16 MiB chunk, back to back;
``deep-amf``           answers every command, and greets after connect, with AMF nested 100 000
                       deep: AMF0 objects, AMF0 strict arrays, AMF3 arrays behind the avmplus marker;
``one-byte-chunks``    a working server (the reference session logic) whose every chunk carries one
                       payload byte, interleaved with an endless 16 MiB audio message in 1-byte chunks;
``dribble-handshake``  S0 S1 S2 at one byte per second;
``flood-no-read``      stops reading after the handshake, asks for an acknowledgement every 4096
                       bytes and floods video messages and ping requests.

Every double is bounded so it can never outlive or outgrow the test that started it: at most
``MAX_CONNECTIONS`` at once, each closed after ``CONNECTION_LIFETIME_S`` or ``MAX_BYTES_PER_CONNECTION``
written, every write awaited (``drain``) so the double's own buffers stay small. It listens on
127.0.0.1 on a free port and runs its own event loop in a daemon thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from rtmpconf.rtmp.chunk import ChunkWriter, basic_header, message_header
from rtmpconf.rtmp.errors import ProtocolError
from rtmpconf.rtmp.handshake import ServerHandshake
from rtmpconf.rtmp.messages import (
    Command,
    SetChunkSize,
    UserControl,
    WindowAckSize,
    decode_message,
    encode_message,
)

#: Connections served at once; more are closed on accept (a case opens at most a handful).
MAX_CONNECTIONS = 64
#: A connection is closed after this long whatever it is doing.
CONNECTION_LIFETIME_S = 90.0
#: ... or once this many bytes were written to it (100 x 16 MiB fits: huge-chunks' whole plan).
MAX_BYTES_PER_CONNECTION = 1700 * 1024 * 1024
#: Size of one write of a flooding double.
WRITE_PIECE = 256 * 1024
#: AMF nesting depth of deep-amf's values.
AMF_DEPTH = 100_000
#: Length of huge-chunks' messages and one-byte-chunks' endless message: the 24-bit maximum.
HUGE_MESSAGE = 0xFFFFFF

KINDS = ("garbage", "huge-chunks", "deep-amf", "one-byte-chunks", "dribble-handshake", "flood-no-read")


class _Closed(Exception):
    """The client went away."""


class _Conn:
    """One accepted connection: reads, bounded writes, the byte count."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.written = 0

    async def read(self) -> bytes:
        data = await self.reader.read(65536)
        if not data:
            raise _Closed()
        return data

    async def write(self, data: bytes) -> None:
        if self.written + len(data) > MAX_BYTES_PER_CONNECTION:
            raise _Closed()
        self.written += len(data)
        self.writer.write(data)
        await self.writer.drain()

    async def handshake(self) -> bytes:
        """Play the server side of a plain handshake; returns the bytes that followed C2."""
        hs = ServerHandshake()
        while not hs.done:
            hs.receive_data(await self.read())
            out = hs.data_to_send()
            if out:
                await self.write(out)
        return hs.take_leftover()

    async def discard_input(self) -> None:
        """Read and drop whatever the client sends until it closes."""
        try:
            while True:
                await self.read()
        except (_Closed, ConnectionError, OSError):
            return


# -- the behaviours ----------------------------------------------------------------------------


async def _garbage(conn: _Conn, index: int) -> None:
    await conn.handshake()
    rng = random.Random(0x6A5B + index)
    drain_task = asyncio.ensure_future(conn.discard_input())
    try:
        while True:
            await conn.write(rng.randbytes(WRITE_PIECE // 4))
    finally:
        drain_task.cancel()


async def _huge_chunks(conn: _Conn, index: int) -> None:
    await conn.handshake()
    drain_task = asyncio.ensure_future(conn.discard_input())
    try:
        writer = ChunkWriter()
        type_id, payload = encode_message(SetChunkSize(0x7FFFFFFF))
        await conn.write(writer.encode(2, type_id, 0, 0, payload))
        piece = bytes(WRITE_PIECE)
        for csid in range(3, 103):
            # fmt 0: timestamp 0, length 0xFFFFFF, type 9 (video), message stream 1; one chunk.
            await conn.write(basic_header(0, csid) + message_header(0, 0, HUGE_MESSAGE, 9, 1))
            left = HUGE_MESSAGE
            while left:
                n = min(left, WRITE_PIECE)
                await conn.write(piece[:n])
                left -= n
    finally:
        drain_task.cancel()


def _deep_amf0_object(depth: int) -> bytes:
    # 0x03 object; each level holds one property "a" whose value is the next object; the innermost
    # value is null (0x05); every object ends with the empty key + 0x09 end marker (AMF0 §2.5).
    return b"\x03" + b"\x00\x01a\x03" * (depth - 1) + b"\x00\x01a\x05" + b"\x00\x00\x09" * depth


def _deep_amf0_array(depth: int) -> bytes:
    # 0x0A strict array of one element, nested; the innermost element is null (AMF0 §2.12).
    return b"\x0a\x00\x00\x00\x01" * depth + b"\x05"


def _deep_amf3_array(depth: int) -> bytes:
    # 0x11 avmplus marker, then AMF3 arrays (0x09, U29 0x03 = one dense element, 0x01 = no
    # associative part), nested; the innermost element is AMF3 null (0x01) (AMF3 §3.11).
    return b"\x11" + b"\x09\x03\x01" * depth + b"\x01"


def _amf0_string(text: str) -> bytes:
    raw = text.encode()
    return b"\x02" + struct.pack(">H", len(raw)) + raw


def _amf0_number(value: float) -> bytes:
    return b"\x00" + struct.pack(">d", value)


async def _deep_amf(conn: _Conn, index: int) -> None:
    from rtmpconf.rtmp.chunk import ChunkReader

    leftover = await conn.handshake()
    reader = ChunkReader(max_message_length=1 << 20)
    writer = ChunkWriter()
    deep = (_deep_amf0_object(AMF_DEPTH), _deep_amf0_array(AMF_DEPTH), _deep_amf3_array(AMF_DEPTH))
    sent = 0
    data = leftover
    while True:
        if data:
            try:
                reader.feed(data)
            except ProtocolError:
                return
        for raw in reader.messages():
            if raw.type_id not in (17, 20):
                continue
            try:
                cmd = decode_message(raw.type_id, raw.payload)
            except ProtocolError:
                continue
            assert isinstance(cmd, Command)
            value = deep[sent % len(deep)]
            sent += 1
            if cmd.name == "connect" or cmd.transaction_id:
                # _result(tid, <deep command object>, <deep info>)
                body = _amf0_string("_result") + _amf0_number(cmd.transaction_id) + value + value
                await conn.write(writer.encode(3, 20, 0, 0, body))
            else:
                body = _amf0_string("onStatus") + _amf0_number(0) + b"\x05" + value
                await conn.write(writer.encode(3, 20, raw.msid, 0, body))
            if cmd.name == "connect":
                # Unprompted as well: onMetaData-style data and an AMF3 command, both deep.
                await conn.write(writer.encode(5, 18, 0, 0, _amf0_string("onMetaData") + deep[1]))
                await conn.write(writer.encode(3, 17, 0, 0, b"\x00" + _amf0_string("onBWDone")
                                               + _amf0_number(0) + b"\x05" + deep[2]))
        data = await conn.read()


async def _one_byte_chunks(conn: _Conn, index: int) -> None:
    from rtmpconf.reference_server.config import ServerConfig
    from rtmpconf.reference_server.session import ServerSession
    from rtmpconf.reference_server.streams import StreamRegistry

    await_writes: list[bytes] = []

    class _Transport:
        def write(self, data: bytes) -> None:
            await_writes.append(data)

        def backlog(self) -> int:
            return sum(map(len, await_writes))

        def close(self) -> None:
            await_writes.append(b"")

    config = ServerConfig(port=0, out_chunk_size=1)
    session = ServerSession(config, StreamRegistry(config), _Transport(), "hostile")
    # The handshake through the session itself, fed exactly C0 C1 C2 (3073 bytes) so that nothing
    # after C2 is answered before Set Chunk Size 1 is out; from then on the session's writer uses
    # 1-byte chunks and so does the endless message on csid 40.
    fed = 0
    rest = b""
    while fed < 3073:
        data = await conn.read()
        session.data_received(data[:3073 - fed])
        rest = data[3073 - fed:]
        fed += len(data)
        for out in _take(await_writes):
            await conn.write(out)
    session.conn.writer.set_chunk_size(1)
    type_id, payload = encode_message(SetChunkSize(1))
    await conn.write(ChunkWriter().encode(2, type_id, 0, 0, payload))
    if rest:
        session.data_received(rest)

    async def serve_commands() -> None:
        while True:
            session.data_received(await conn.read())
            if session.closed:
                raise _Closed()

    task = asyncio.ensure_future(serve_commands())
    # The endless message: audio (type 8) of 0xFFFFFF bytes on csid 40, message stream 0. The
    # first chunk carries a fmt-0 header; every later chunk is 0xE8 (fmt 3, csid 40) + one byte.
    first = basic_header(0, 40) + message_header(0, 0, HUGE_MESSAGE, 8, 0) + b"\xaf"
    cont = b"\xe8\xaf" * (WRITE_PIECE // 2)
    try:
        while not task.done():
            await conn.write(first)
            left = HUGE_MESSAGE - 1
            while left and not task.done():
                # The session's replies go out between whole chunks of the endless message.
                for out in _take(await_writes):
                    if not out:
                        raise _Closed()
                    await conn.write(out)
                n = min(left, WRITE_PIECE // 2)
                await conn.write(cont[: 2 * n])
                left -= n
    finally:
        task.cancel()


def _take(queue: list[bytes]) -> list[bytes]:
    out = list(queue)
    queue.clear()
    return out


async def _dribble_handshake(conn: _Conn, index: int) -> None:
    hs = ServerHandshake()
    out = b""
    while not out:
        hs.receive_data(await conn.read())
        out = hs.data_to_send()  # S0 S1 S2, once C0 C1 are complete
    for i in range(len(out)):
        await conn.write(out[i:i + 1])
        await asyncio.sleep(1.0)


async def _flood_no_read(conn: _Conn, index: int) -> None:
    await conn.handshake()
    conn.writer.transport.pause_reading()  # type: ignore[attr-defined]
    writer = ChunkWriter()
    out = bytearray()
    for msg in (WindowAckSize(4096), SetChunkSize(4096)):
        type_id, payload = encode_message(msg)
        out += writer.encode(2, type_id, 0, 0, payload)
    writer.set_chunk_size(4096)
    await conn.write(bytes(out))
    frame = b"\x27\x01\x00\x00\x00" + bytes(65536)  # AVC inter frame, NALU, composition time 0
    ts = 0
    n = 0
    while True:
        batch = bytearray()
        while len(batch) < WRITE_PIECE:
            ts += 40
            n += 1
            batch += writer.encode(6, 9, 1, ts, frame)
            if n % 16 == 0:
                type_id, payload = encode_message(UserControl.ping_request(n))
                batch += writer.encode(2, type_id, 0, 0, payload)
        await conn.write(bytes(batch))


_BEHAVIOURS: dict[str, Callable[[_Conn, int], Awaitable[None]]] = {
    "garbage": _garbage,
    "huge-chunks": _huge_chunks,
    "deep-amf": _deep_amf,
    "one-byte-chunks": _one_byte_chunks,
    "dribble-handshake": _dribble_handshake,
    "flood-no-read": _flood_no_read,
}


class HostileServer:
    """One hostile double on 127.0.0.1, on its own event loop in a daemon thread."""

    def __init__(self, kind: str) -> None:
        if kind not in _BEHAVIOURS:
            raise ValueError(f"unknown hostile double {kind!r}; choose from {', '.join(KINDS)}")
        self.kind = kind
        self.port = 0
        self.connections = 0  #: connections accepted so far
        self.bytes_written = 0  #: bytes written to all connections so far
        self._active = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"hostile-{kind}", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, limit=1 << 16))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._server.close()
        for task in asyncio.all_tasks(self._loop):
            task.cancel()
        self._loop.run_until_complete(asyncio.sleep(0))
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._active >= MAX_CONNECTIONS:
            writer.transport.abort()
            return
        self._active += 1
        index = self.connections
        self.connections += 1
        conn = _Conn(reader, writer)
        try:
            await asyncio.wait_for(_BEHAVIOURS[self.kind](conn, index), CONNECTION_LIFETIME_S)
        except (TimeoutError, _Closed, ConnectionError, OSError, ProtocolError, asyncio.CancelledError):
            pass
        finally:
            self._active -= 1
            self.bytes_written += conn.written
            writer.transport.abort()

    def start(self, timeout: float = 10.0) -> HostileServer:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"hostile double {self.kind} did not start")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def hostile_server(kind: str) -> HostileServer:
    """``with hostile_server("garbage") as srv: ... srv.port``."""
    return HostileServer(kind)


# -- running the suite against a double --------------------------------------------------------


@dataclass
class SuiteRun:
    """One ``pytest rtmpconf/cases`` subprocess: its summary and what it cost."""

    summary: dict[str, Any]  #: the --summary JSON ({} when none was written)
    peak_rss_kib: int  #: the subprocess's peak resident set (ru_maxrss of wait4)
    wall_s: float
    returncode: int
    output: str  #: the tail of stdout + stderr
    killed: bool = False  #: the subprocess outlived its deadline and was killed


def run_suite(url: str, summary_path: Path, *args: str, deadline_s: float = 1800.0) -> SuiteRun:
    """Run the conformance cases against ``url`` in a subprocess and measure its peak RSS."""
    root = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "pytest", str(root / "rtmpconf" / "cases"), "-q", "-p", "no:cacheprovider",
           "--target", url, "--summary", str(summary_path), *args]
    started = time.monotonic()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, cwd=root, stdout=out, stderr=subprocess.STDOUT)
        killed = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > deadline_s:
                proc.kill()
                killed = True
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.1)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0, os.SEEK_END)
        size = out.tell()
        out.seek(max(0, size - 20000))
        text = out.read().decode(errors="replace")
    summary: dict[str, Any] = {}
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
    return SuiteRun(summary, usage.ru_maxrss, time.monotonic() - started, proc.returncode, text, killed)
