"""Load players stamp reads with the kernel's receive time (player.StampedSocket)."""

from __future__ import annotations

import asyncio
import socket
import sys
import time

import pytest

from rtmpconf.harness.load.player import PlayerPool, StampedSocket, arrival_loop

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_TIMESTAMPNS is Linux's")


def test_stamp_is_the_arrival_not_the_read() -> None:
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        reader = StampedSocket(socket.AF_INET, socket.SOCK_STREAM)
        assert reader.enable()
        reader.connect(lsock.getsockname())
        writer, _ = lsock.accept()
        with reader, writer:
            # The kernel turns receive stamping on for the system a moment after the first socket
            # asks (a deferred static key): until then reads carry none and players use the poll
            # time. Wait for it with a bounded warm-up.
            buf = bytearray(65536)
            for _ in range(200):
                writer.sendall(b"w")
                reader.recv_into(buf)
                if reader.stamp_ns:
                    break
                time.sleep(0.01)
            assert reader.stamp_ns, "no receive stamp within 2 s of enabling SO_TIMESTAMPNS"
            before = time.time_ns()
            writer.sendall(b"x" * 12_500)
            after_send = time.time_ns()
            time.sleep(0.03)  # the "generator" is busy elsewhere before it reads
            n = reader.recv_into(buf)
            read_at = time.time_ns()
            assert n == 12_500
            assert before <= reader.stamp_ns <= after_send + 1_000_000
            assert read_at - reader.stamp_ns >= 25_000_000  # the sleep is not counted


def test_without_the_option_there_is_no_stamp() -> None:
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        reader = StampedSocket(socket.AF_INET, socket.SOCK_STREAM)
        reader.connect(lsock.getsockname())
        writer, _ = lsock.accept()
        with reader, writer:
            writer.sendall(b"abc")
            reader.settimeout(5)
            assert reader.recv_into(bytearray(10), 2) == 2  # nbytes honoured
            assert reader.stamp_ns == 0


def test_pool_players_on_the_selector_loop_read_through_stamped_sockets() -> None:
    async def scenario() -> tuple[bool, bool]:
        accepted: list[asyncio.StreamWriter] = []

        async def on_conn(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            accepted.append(w)

        srv = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        pool = PlayerPool("127.0.0.1", port, "live", "s", arrival=sel)
        await pool.open(1, handshake=False)
        plain = PlayerPool("127.0.0.1", port, "live", "s", kernel_stamps=False)
        await plain.open(1, handshake=False)
        stamped = isinstance(pool.players[0]._stamped, StampedSocket)
        unstamped = plain.players[0]._stamped is None
        pool.close()
        plain.close()
        for w in accepted:
            w.close()
        srv.close()
        return stamped, unstamped

    loop, sel = arrival_loop()
    try:
        stamped, unstamped = loop.run_until_complete(asyncio.wait_for(scenario(), 20))
    finally:
        loop.close()
    assert stamped and unstamped
