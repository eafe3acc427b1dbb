"""Steady sets (server.py ``SteadySet``): the members of a fan-out group sent each read's messages by
one call of the compiled core. Connections here are the server's own, over real loopback sockets,
with transport doubles that record what went through the transport instead of the core."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from rtmpconf.reference_server.config import ServerConfig
from rtmpconf.reference_server.server import RtmpServer, SteadySet, _ConnectionProtocol
from rtmpconf.reference_server.streams import (
    CSID_AUDIO,
    CSID_DATA,
    CSID_VIDEO,
    IN_STEP,
    NEED_ABSOLUTE,
    FanoutGroup,
    LiveStream,
    Player,
)
from tests.impair.conftest import recv_exactly
from tests.unit.reference_server.test_fanout_core import _core_built, _RecordingTransport, tcp_pairs

__all__ = ["_core_built"]  # the fixture: fails under CI=true when the core is missing, else skips

AV = frozenset({CSID_AUDIO, CSID_VIDEO})


class _Transport(_RecordingTransport):
    def close(self) -> None:
        self.closing = True


class _Rig:
    """``n`` server connections on real sockets, each with a player in step on audio and video."""

    def __init__(self, n: int, sndbuf: int = 0, **cfg: object) -> None:
        self.server = RtmpServer(ServerConfig(port=0, http=False, **cfg))  # type: ignore[arg-type]
        self.pairs = tcp_pairs(n, sndbuf)
        self.transports = [_Transport() for _ in range(n)]
        self.conns: list[_ConnectionProtocol] = []
        self.players: list[Player] = []
        for (s, _), t in zip(self.pairs, self.transports, strict=True):
            conn = _ConnectionProtocol(self.server)
            conn.transport = t  # type: ignore[assignment]
            conn._fd = s.fileno()
            self.conns.append(conn)
            player = Player(SimpleNamespace(transport=conn), 1, 4096)  # type: ignore[arg-type]
            player.csid_state.update({CSID_AUDIO: IN_STEP, CSID_VIDEO: IN_STEP})
            self.players.append(player)

    def joined(self) -> SteadySet:
        steady = SteadySet(self.server)
        self.server.batching = True
        for p in self.players:
            assert p.port is not None and p.port.steady_ready()
            assert steady.try_join(p, AV)
        return steady

    def end_read(self) -> None:
        self.server.batching = False
        self.server.end_of_read()

    def received(self, i: int, n: int) -> bytes:
        """Exactly ``n`` bytes the core sent peer ``i`` (and nothing more)."""
        c = self.pairs[i][1]
        data = recv_exactly(c, n) if n else b""
        c.setblocking(False)
        with pytest.raises(BlockingIOError):
            c.recv(1)
        c.setblocking(True)
        return data

    def close(self) -> None:
        for s, c in self.pairs:
            s.close()
            c.close()


@pytest.fixture
def rig() -> Iterator[_Rig]:
    r = _Rig(3)
    yield r
    r.close()


def test_members_get_the_batch_in_one_call_per_read(rig: _Rig) -> None:
    steady = rig.joined()
    steady.add(b"m1")
    steady.add(b"m2")
    calls = rig.server.fanout.calls  # type: ignore[union-attr]
    rig.end_read()
    assert rig.server.fanout.calls == calls + 1  # type: ignore[union-attr]
    for i in range(3):
        assert rig.received(i, 4) == b"m1m2"
    assert all(t.writes == [] for t in rig.transports)
    assert [p.delivered_total() for p in rig.players] == [2, 2, 2]


def test_a_write_of_its_own_takes_the_batch_so_far_and_leaves(rig: _Rig) -> None:
    steady = rig.joined()
    steady.add(b"m1")
    rig.conns[1].write(b"own")  # e.g. a PingResponse, in the same read
    steady.add(b"m2")
    rig.end_read()
    assert rig.conns[1].steady is None and rig.players[1].steady is None
    assert rig.transports[1].writes == [b"m1own"]  # the set's m1 first, then its own bytes
    assert rig.received(1, 0) == b""
    for i in (0, 2):
        assert rig.received(i, 4) == b"m1m2"
    assert rig.players[1].delivered_total() == 1
    assert len(steady.members) == 2


def test_dissolve_hands_every_member_the_batch(rig: _Rig) -> None:
    steady = rig.joined()
    steady.add(b"m1")
    steady.dissolve()
    assert steady.members == [] and steady.batch == []
    rig.end_read()
    for i in range(3):
        # Each now has the batch pending on its own; idle, they go out through the core again.
        assert rig.transports[i].writes == []
        assert rig.received(i, 2) == b"m1"
        assert rig.players[i].steady is None and rig.players[i].delivered == 1


def test_state_changes_and_close_leave_the_set(rig: _Rig) -> None:
    steady = rig.joined()
    steady.add(b"m1")
    rig.players[0].desync()  # a pause, a drop, a new publish...
    rig.conns[1].close()  # the batch so far still goes first
    rig.end_read()
    assert len(steady.members) == 1 and steady.conns == [rig.conns[2]]
    assert rig.received(0, 2) == b"m1"  # its own pending, through the core at the end of the read
    assert rig.transports[1].writes == [b"m1"]  # close() flushed it through the transport
    assert rig.received(1, 0) == b""
    assert rig.received(2, 2) == b"m1"
    assert all(v == NEED_ABSOLUTE for v in rig.players[0].csid_state.values())


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_the_core_descriptor_stays_the_connections_own_until_connection_lost(loop_kind: str) -> None:
    """uvloop closes a failed transport's descriptor at once and reports the loss an iteration
    later; a new socket made in between may get the same number. The core sends on the
    connection's duplicate, which still refers to the old socket then, and is closed with it."""
    if loop_kind == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()

    async def scenario() -> None:
        server = RtmpServer(ServerConfig(port=0, http=False))
        conns: list[_ConnectionProtocol] = []
        lsrv = await asyncio.get_running_loop().create_server(
            lambda: conns.append(_ConnectionProtocol(server)) or conns[-1], "127.0.0.1", 0)
        client = socket.create_connection(lsrv.sockets[0].getsockname())
        while not conns:
            await asyncio.sleep(0.005)
        conn = conns[0]
        assert conn.transport is not None
        own = conn.transport.get_extra_info("socket").fileno()
        assert conn._fd >= 0 and conn._fd != own
        inode = os.fstat(conn._fd).st_ino
        conn.transport.abort()  # as on a read error: the transport lets its descriptor go
        with socket.socket() as stranger:  # may take the freed number
            assert conn.transport is not None  # the loss is not reported yet
            assert os.fstat(conn._fd).st_ino == inode
            assert stranger.fileno() != conn._fd
        fd = conn._fd
        while conn.transport is not None:
            await asyncio.sleep(0.005)
        assert conn._fd == -1
        try:  # closed with the connection (the number may be someone else's by now)
            assert os.fstat(fd).st_ino != inode
        except OSError:
            pass
        client.close()
        lsrv.close()

    try:
        loop.run_until_complete(asyncio.wait_for(scenario(), 10))
    finally:
        loop.close()


def test_a_full_socket_leaves_and_its_transport_queues_the_rest() -> None:
    rig = _Rig(2, sndbuf=4096)
    try:
        steady = rig.joined()
        big = bytes(range(256)) * 8192  # 2 MiB: more than the kernel buffers hold
        steady.add(big)
        rig.end_read()
        assert rig.conns[0].steady is None and rig.conns[1].steady is None
        for i in range(2):
            (queued,) = rig.transports[i].writes
            assert 0 < len(queued) < len(big)
            got = recv_exactly(rig.pairs[i][1], len(big) - len(queued))
            assert got + queued == big
    finally:
        rig.close()


def test_joining_needs_every_chunk_stream_of_the_set_in_step(rig: _Rig) -> None:
    steady = SteadySet(rig.server)
    rig.server.batching = True
    a, b, c = rig.players
    assert not steady.try_join(a, AV | {CSID_DATA})  # never on the metadata chunk stream
    b.csid_state[CSID_AUDIO] = NEED_ABSOLUTE
    assert not steady.try_join(b, AV)
    assert steady.try_join(a, frozenset({CSID_VIDEO}))
    assert steady.csids == {CSID_VIDEO}
    assert steady.try_join(c, frozenset({CSID_VIDEO}))
    b.csid_state[CSID_AUDIO] = IN_STEP
    b.csid_state[CSID_VIDEO] = NEED_ABSOLUTE
    assert not steady.try_join(b, frozenset({CSID_AUDIO}))  # not in step on the set's video


def test_a_connection_that_cannot_be_sent_directly_offers_no_port() -> None:
    rig = _Rig(1, fanout_steady=False)
    try:
        assert rig.players[0].port is None
    finally:
        rig.close()
    rig = _Rig(1, write_coalesce_ms=1.0)
    try:
        assert rig.players[0].port is None
    finally:
        rig.close()
    rig = _Rig(1)
    try:
        conn = rig.conns[0]
        assert conn.steady_ready() is False  # outside a read
        rig.server.batching = True
        rig.transports[0].queued = 10
        assert conn.steady_ready() is False  # bytes queued in its transport
        rig.transports[0].queued = 0
        conn.write(b"x")
        assert conn.steady_ready() is False  # written in this read already
    finally:
        rig.close()


def test_a_message_outside_a_read_goes_at_once(rig: _Rig) -> None:
    steady = rig.joined()
    rig.server.batching = False
    steady.add(b"relay")
    for i in range(3):
        assert rig.received(i, 5) == b"relay"
    assert rig.server.steady_dirty == []


def test_a_message_on_a_chunk_stream_the_set_is_not_in_step_on_dissolves_it(rig: _Rig) -> None:
    """Metadata after metadata: the group compresses the second one's header against the first,
    which a member that joined on audio and video may never have had in that form; so the set
    dissolves and each player gets the header its own state needs (here fmt 0), then rejoins."""
    stream = LiveStream("live", "steady", rig.server.config)
    group = FanoutGroup(4096, 1, True)
    group.players = list(rig.players)
    stream.groups[(4096, 1, group.caps)] = group
    group.prepare(18, 0, b"\x02\x00\x0aonMetaData", keyframe=False)  # the group's earlier metadata
    steady = group.steady = rig.joined()
    stream._fanout(18, 40, b"\x02\x00\x0aonMetaData", keyframe=False, is_header=True)
    assert steady.members == []
    rig.end_read()
    for i in range(3):
        first = rig.pairs[i][1].recv(1)
        assert first[0] >> 6 == 0, f"player {i} got a fmt {first[0] >> 6} header"
        rig.pairs[i][1].setblocking(False)
        while True:
            try:
                rig.pairs[i][1].recv(65536)
            except BlockingIOError:
                break
    # A following video message finds them in step on video again: they rejoin.
    rig.server.batching = True
    stream._fanout(9, 80, b"\x27\x01\x00\x00\x00frame", keyframe=False)
    assert len(steady.members) == 3
    rig.end_read()
