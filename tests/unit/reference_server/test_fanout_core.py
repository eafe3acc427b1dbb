"""The compiled fan-out core (fanout_core.py, _fanout_send.c) and the server's use of it."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import threading
from typing import Any

import pytest

from rtmpconf.reference_server import fanout_core
from rtmpconf.reference_server.config import ConfigError, ServerConfig
from rtmpconf.reference_server.server import RtmpServer, _ConnectionProtocol
from tests.impair.conftest import recv_exactly


@pytest.fixture(autouse=True)
def _core_built() -> None:
    if fanout_core.available():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"the compiled fan-out core is not in use: {fanout_core.unavailable_reason}")
    pytest.skip(f"the compiled fan-out core is not in use here: {fanout_core.unavailable_reason}")


def tcp_pairs(n: int, sndbuf: int = 0) -> list[tuple[socket.socket, socket.socket]]:
    """n connected loopback TCP pairs (sender non-blocking, as under an event loop)."""
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        lsock.listen(n)
        pairs = []
        for _ in range(n):
            c = socket.create_connection(lsock.getsockname())
            s, _ = lsock.accept()
            if sndbuf:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
            s.setblocking(False)
            pairs.append((s, c))
    return pairs


@pytest.mark.parametrize(("threads", "count"), [(1, 1), (1, 7), (2, 3), (2, 40)])
def test_every_socket_gets_all_buffers_in_order(threads: int, count: int) -> None:
    sender = fanout_core.FanoutSender(threads=threads, split_min=2)
    pairs = tcp_pairs(count)
    try:
        bufs = [b"head-", os.urandom(5000), b"-tail"]
        assert sender.send([s.fileno() for s, _ in pairs], bufs) == []
        want = b"".join(bufs)
        for _, c in pairs:
            assert recv_exactly(c, len(want)) == want
    finally:
        for s, c in pairs:
            s.close()
            c.close()


def test_a_full_socket_reports_what_it_took_then_would_block() -> None:
    sender = fanout_core.FanoutSender(threads=1)
    [(s, c), (s2, c2)] = tcp_pairs(2, sndbuf=4096)
    try:
        big = os.urandom(4 * 1024 * 1024)
        short = sender.send([s.fileno(), s2.fileno()], [big])
        assert [i for i, _ in short] == [0, 1]
        assert all(0 < taken < len(big) for _, taken in short)
        # Loopback may still move some of it to the reader's buffer; then the socket is full.
        for _ in range(100):
            again = sender.send([s.fileno()], [b"x" * 65536])
            assert len(again) == 1 and 0 <= again[0][1] < 65536
            if again == [(0, 0)]:
                break  # EAGAIN: nothing taken, not an error
        assert again == [(0, 0)]
    finally:
        for sock in (s, c, s2, c2):
            sock.close()


def test_a_reset_peer_is_reported_as_an_error() -> None:
    sender = fanout_core.FanoutSender(threads=1)
    [(s, c), (s2, c2)] = tcp_pairs(2)
    try:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()  # RST
        result: list[tuple[int, int]] = []
        for _ in range(20):
            result = sender.send([s.fileno(), s2.fileno()], [b"payload"])
            if result:
                break
        assert result and result[0][0] == 0
        assert -result[0][1] in (errno.EPIPE, errno.ECONNRESET)
        assert recv_exactly(c2, 7) == b"payload"
    finally:
        for sock in (s, s2, c2):
            sock.close()


def test_buffer_count_is_bounded() -> None:
    sender = fanout_core.FanoutSender()
    with pytest.raises(ValueError):
        sender.send([0], [])
    with pytest.raises(ValueError):
        sender.send([0], [b"x"] * (fanout_core.MAX_BUFS + 1))


def test_calls_from_two_threads_at_once_deliver_everything() -> None:
    """Two server loops in one process (as tests run them) share the helper thread safely."""
    pairs_a, pairs_b = tcp_pairs(24), tcp_pairs(24)
    rounds = 150
    errors: list[BaseException] = []

    def drive(pairs: list[tuple[socket.socket, socket.socket]], tag: bytes) -> None:
        sender = fanout_core.FanoutSender(threads=2, split_min=2)
        try:
            for i in range(rounds):
                msg = tag + i.to_bytes(4, "big")
                assert sender.send([s.fileno() for s, _ in pairs], [tag, msg[1:]]) == []
                for _, c in pairs:  # read each round, so no socket fills (that would be reported short)
                    assert recv_exactly(c, len(msg)) == msg
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    # Daemons: a thread stuck in the core (the failure this test exists for) must not hang pytest.
    threads = [threading.Thread(target=drive, args=(pairs_a, b"A"), daemon=True),
               threading.Thread(target=drive, args=(pairs_b, b"B"), daemon=True)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        assert not errors, errors[0]
    finally:
        for s, c in pairs_a + pairs_b:
            s.close()
            c.close()


def test_config_names_the_bad_value() -> None:
    with pytest.raises(ConfigError, match="fanout_core"):
        ServerConfig.from_mapping({"fanout_core": "fast"})
    with pytest.raises(ConfigError, match="fanout_threads"):
        ServerConfig.from_mapping({"fanout_threads": 3})
    assert RtmpServer(ServerConfig(port=0, http=False, fanout_core="python")).fanout is None
    assert RtmpServer(ServerConfig(port=0, http=False)).fanout is not None


class _Publisher:
    """A publisher session whose every read writes one numbered message to each player."""

    handshake_done = True

    def __init__(self, players: list[_ConnectionProtocol]) -> None:
        self.players = players

    def data_received(self, data: bytes) -> None:
        for p in self.players:
            p.write(data)


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_order_holds_when_a_player_falls_behind(loop_kind: str) -> None:
    """Players on real sockets, one of them not reading: once its socket fills, the rest of each
    message queues in its transport, later messages follow through the transport (not the core),
    and when it reads again it gets every byte in order. The readers get all of it too."""
    if loop_kind == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        loop_factory: Any = uvloop.new_event_loop
    else:
        loop_factory = asyncio.new_event_loop
    messages = [i.to_bytes(4, "big") + os.urandom(20_000) for i in range(200)]
    want = b"".join(messages)

    async def scenario() -> list[bytes]:
        server = RtmpServer(ServerConfig(port=0, http=False))
        assert server.fanout is not None
        conns: list[_ConnectionProtocol] = []
        lsrv = await asyncio.get_running_loop().create_server(
            lambda: conns.append(_ConnectionProtocol(server)) or conns[-1], "127.0.0.1", 0)
        port = lsrv.sockets[0].getsockname()[1]
        clients = []
        for i in range(4):
            c = socket.socket()
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192 if i == 0 else 1 << 20)
            c.connect(("127.0.0.1", port))
            c.setblocking(False)
            clients.append(c)
        while len(conns) < 4:
            await asyncio.sleep(0.01)
        assert all(conn._fd >= 0 for conn in conns)
        pub = _ConnectionProtocol(server)
        pub.session = _Publisher(conns)  # type: ignore[assignment]
        received = [bytearray() for _ in clients]
        for m in messages:
            pub.data_received(m)
            await asyncio.sleep(0)
            for i, c in enumerate(clients[1:], 1):  # everyone but the first keeps reading
                try:
                    while chunk := c.recv(1 << 20):
                        received[i] += chunk
                except BlockingIOError:
                    pass
        assert conns[0].transport is not None and conns[0].transport.get_write_buffer_size() > 0
        deadline = asyncio.get_running_loop().time() + 20
        while any(len(r) < len(want) for r in received):
            assert asyncio.get_running_loop().time() < deadline, [len(r) for r in received]
            for i, c in enumerate(clients):
                try:
                    while chunk := c.recv(1 << 20):
                        received[i] += chunk
                except BlockingIOError:
                    pass
            await asyncio.sleep(0.005)
        for c in clients:
            c.close()
        lsrv.close()
        return [bytes(r) for r in received]

    loop = loop_factory()
    try:
        got = loop.run_until_complete(asyncio.wait_for(scenario(), 60))
    finally:
        loop.close()
    for r in got:
        assert r == want



class _RecordingTransport:
    """A transport double over a real socket: records writes, reports queued bytes and closing."""

    def __init__(self, queued: int = 0, closing: bool = False) -> None:
        self.writes: list[bytes] = []
        self.queued = queued
        self.closing = closing

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def writelines(self, data: list[bytes]) -> None:
        self.writes.append(b"".join(data))

    def get_write_buffer_size(self) -> int:
        return self.queued

    def is_closing(self) -> bool:
        return self.closing


def test_queued_closing_and_tls_connections_never_get_direct_sends() -> None:
    """Only a plain socket whose transport is idle and open is written by the core; the others
    get the same bytes through their transport (order behind queued bytes; a closing transport
    may have closed its descriptor, whose number a new connection may hold)."""
    server = RtmpServer(ServerConfig(port=0, http=False))
    pairs = tcp_pairs(4)
    kinds = [_RecordingTransport(), _RecordingTransport(queued=10), _RecordingTransport(closing=True),
             _RecordingTransport()]
    conns = []
    try:
        for i, ((s, _), t) in enumerate(zip(pairs, kinds, strict=True)):
            conn = _ConnectionProtocol(server, direct=i != 3)  # the fourth: as under TLS
            conn.transport = t  # type: ignore[assignment]
            if conn.direct:
                conn._fd = s.fileno()
            conns.append(conn)
        pub = _ConnectionProtocol(server)
        pub.session = _Publisher(conns)  # type: ignore[assignment]
        pub.data_received(b"frame")
        assert kinds[0].writes == []
        assert recv_exactly(pairs[0][1], 5) == b"frame"
        for t in kinds[1:]:
            assert t.writes == [b"frame"]
        for _, c in pairs[1:]:
            c.setblocking(False)
            with pytest.raises(BlockingIOError):
                c.recv(16)
    finally:
        for s, c in pairs:
            s.close()
            c.close()
