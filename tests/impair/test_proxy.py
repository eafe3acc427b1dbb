"""The impairment proxy against a plain recording TCP peer: each impairment, seeded determinism,
FIN/RST propagation, cuts, half-close, backpressure, live changes and in-process start/stop."""

from __future__ import annotations

import itertools
import os
import socket
import struct
import threading
import time

import pytest

from rtmpconf.harness.client import Target
from rtmpconf.harness.impair import (
    DOWN,
    UP,
    Profile,
    ProxyThread,
    start_proxy_for,
    upstream_of,
)
from rtmpconf.harness.impair import (
    DirectionImpairment as D,
)
from rtmpconf.harness.impair.proxy import LOSS_MSS
from rtmpconf.harness.wirelog import C2S, S2C
from tests.impair.conftest import TcpPeer, recv_exactly


def profile(up: D | None = None, down: D | None = None, seed: int = 1) -> Profile:
    return Profile("test", "test", up or D(), down or D(), seed=seed)


def connect(proxy: ProxyThread) -> socket.socket:
    s = socket.create_connection((proxy.target.host, proxy.target.port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def rtt(sock: socket.socket) -> float:
    t = time.monotonic()
    sock.sendall(b"x")
    assert recv_exactly(sock, 1) == b"x"
    return time.monotonic() - t


def test_delay_applies_each_way(peer: TcpPeer) -> None:
    with ProxyThread(peer.address, profile(D(delay_ms=40), D(delay_ms=40))) as proxy:
        s = connect(proxy)
        rtt(s)  # the first one also waits for the upstream connect (one up-delay)
        samples = [rtt(s) for _ in range(3)]
        s.close()
    assert all(0.078 <= r < 0.2 for r in samples), samples


def test_jitter_keeps_order_and_draws_are_seeded(peer_factory: type[TcpPeer]) -> None:
    def run(seed: int) -> tuple[bytes, bytes, list[float]]:
        server = peer_factory()
        with ProxyThread(server.address, profile(D(delay_ms=20, jitter_ms=15), seed=seed)) as proxy:
            s = connect(proxy)
            sent = b"".join(struct.pack(">I", i) for i in range(60))
            for i in range(60):
                s.sendall(sent[4 * i:4 * i + 4])
                time.sleep(0.002)
            got = recv_exactly(s, len(sent))
            s.close()
            drawn = list(proxy.connections[0].up.stats.drawn_ms)
        return sent, got, drawn

    sent, got, a = run(7)
    assert got == sent, "jitter must never reorder bytes"
    assert min(a) >= 5 - 1e-9 and max(a) <= 35 + 1e-9 and len(set(a)) > 5, a
    _, _, b = run(7)
    _, _, c = run(8)
    n = min(len(a), len(b), len(c))
    assert n >= 20
    assert a[:n] == b[:n], "same seed, same jitter draws"
    assert a[:n] != c[:n], "another seed, other draws"


def test_rate_cap(peer: TcpPeer) -> None:
    n = 300_000
    with ProxyThread(peer.address, profile(D(rate_kbps=2000))) as proxy:
        s = connect(proxy)
        t = time.monotonic()
        threading.Thread(target=s.sendall, args=(bytes(n),), daemon=True).start()
        assert len(recv_exactly(s, n, timeout=10)) == n
        elapsed = time.monotonic() - t
        s.close()
    # 300 kB at 250 kB/s = 1.2 s, minus the 16 kB burst.
    assert 1.0 < elapsed < 1.8, elapsed


def test_one_byte_segments_arrive_as_separate_reads(peer: TcpPeer) -> None:
    with ProxyThread(peer.address, profile(D(segment_bytes=1, segment_gap_ms=10))) as proxy:
        s = connect(proxy)
        s.sendall(b"0123456789" * 4)
        assert recv_exactly(s, 40) == b"0123456789" * 4
        conn = peer.wait_conn()
        writes = proxy.connections[0].up.stats.writes
        s.close()
    # The proxy's own behaviour: one send per byte. What the receiver reads also depends on how
    # soon its thread runs after each send (a busy machine merges a few): most reads stay 1 byte.
    assert writes == 40
    sizes = [len(c) for _, c in conn.chunks]
    assert sum(sizes) == 40
    assert sizes.count(1) >= 20, sizes


def test_segmentation_keeps_every_byte(peer: TcpPeer) -> None:
    data = os.urandom(200_000)
    with ProxyThread(peer.address, profile(D(segment_bytes=7), D(segment_bytes=3))) as proxy:
        s = connect(proxy)
        threading.Thread(target=s.sendall, args=(data,), daemon=True).start()
        assert recv_exactly(s, len(data), timeout=30) == data
        s.close()


def test_periodic_stalls(peer: TcpPeer) -> None:
    with ProxyThread(peer.address, profile(D(stall_every_ms=300, stall_ms=150))) as proxy:
        s = connect(proxy)
        end = time.monotonic() + 1.3
        while time.monotonic() < end:
            s.sendall(b"y" * 100)
            time.sleep(0.01)
        conn = peer.wait_conn()
        time.sleep(0.3)
        stalls = proxy.connections[0].up.stats.stalls
        s.close()
    times = [t for t, _ in conn.chunks]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert sum(1 for g in gaps if g >= 0.12) >= 3, sorted(gaps)[-5:]
    assert stalls >= 3


def test_loss_is_decided_by_byte_offset(peer_factory: type[TcpPeer]) -> None:
    """The same stream loses the same segments however it was written (one write or many)."""
    data = os.urandom(100 * LOSS_MSS)

    def run(piece: int) -> tuple[list[int], int]:
        server = peer_factory(echo=False)
        imp = D(loss_pct=10, retransmit_ms=30)
        with ProxyThread(server.address, profile(imp, seed=3)) as proxy:
            s = connect(proxy)
            for i in range(0, len(data), piece):
                s.sendall(data[i:i + piece])
                if piece < len(data):
                    time.sleep(0.001)
            conn = server.wait_conn()
            deadline = time.monotonic() + 10
            while len(conn.data) < len(data) and time.monotonic() < deadline:
                time.sleep(0.01)
            stats = proxy.connections[0].up.stats
            s.close()
        assert conn.data == data
        return list(stats.lost_segments), stats.loss_events

    lost_a, events_a = run(len(data))
    lost_b, events_b = run(1000)
    assert lost_a == lost_b and 3 <= len(lost_a) <= 25, lost_a
    assert events_b >= 1 and events_a >= 1


def test_cut_with_rst_at_byte_offset(peer: TcpPeer) -> None:
    with ProxyThread(peer.address, profile(D(cut_at_byte=1000, cut_mode="rst"))) as proxy:
        s = connect(proxy)
        s.sendall(bytes(5000))
        conn = peer.wait_conn()
        assert peer.wait_ended(conn) == "rst"
        with pytest.raises(ConnectionResetError):
            s.settimeout(5)
            while s.recv(65536):
                pass
        s.close()
        assert proxy.connections[0].up.stats.bytes_out == 1000
    # An echo peer may have echoed some of the 1000 bytes before the reset; none beyond them arrived.
    assert len(conn.data) == 1000


def test_cut_with_fin_after_time(peer: TcpPeer) -> None:
    with ProxyThread(peer.address, profile(D(cut_after_s=0.3, cut_mode="fin"))) as proxy:
        s = connect(proxy)
        t = time.monotonic()
        s.sendall(b"hello")
        assert recv_exactly(s, 5) == b"hello"
        s.settimeout(5)
        assert s.recv(100) == b""  # FIN from the proxy
        elapsed = time.monotonic() - t
        conn = peer.wait_conn()
        assert peer.wait_ended(conn) == "eof"
        s.close()
    assert 0.25 < elapsed < 1.0, elapsed


def test_half_close_at_byte_keeps_the_other_direction(peer_factory: type[TcpPeer]) -> None:
    server = peer_factory(echo=False)
    with ProxyThread(server.address, profile(D(half_close_at_byte=100))) as proxy:
        s = connect(proxy)
        s.sendall(bytes(300))
        conn = server.wait_conn()
        assert server.wait_ended(conn) == "eof"
        assert len(conn.data) == 100
        conn.sock.sendall(b"still here")  # server -> client still flows
        assert recv_exactly(s, 10) == b"still here"
        s.sendall(b"dropped")  # the proxy drops it, the client sees no error
        time.sleep(0.1)
        assert proxy.connections[0].up.stats.bytes_dropped >= 200
        s.close()


def test_fin_travels_behind_the_data(peer: TcpPeer) -> None:
    with ProxyThread(peer.address, profile(D(delay_ms=50), D(delay_ms=50))) as proxy:
        s = connect(proxy)
        s.sendall(b"a" * 10_000)
        s.shutdown(socket.SHUT_WR)
        conn = peer.wait_conn()
        assert peer.wait_ended(conn) == "eof"
        assert conn.data == b"a" * 10_000, "EOF must not overtake data"
        assert recv_exactly(s, 10_000) == b"a" * 10_000  # the echo still comes back (half-close)
        conn.sock.close()
        s.settimeout(5)
        assert s.recv(10) == b""
        s.close()


def test_client_reset_reaches_the_server(peer: TcpPeer) -> None:
    with ProxyThread(peer.address, profile(D(delay_ms=20))) as proxy:
        s = connect(proxy)
        s.sendall(b"x")
        conn = peer.wait_conn()
        time.sleep(0.1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        assert peer.wait_ended(conn) == "rst"


def test_backpressure_bounds_what_the_proxy_holds(peer_factory: type[TcpPeer]) -> None:
    server = peer_factory(read=False)
    with ProxyThread(server.address, profile(D(buffer_bytes=64 * 1024))) as proxy:
        s = connect(proxy)
        s.setblocking(False)
        accepted = 0
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                accepted += s.send(bytes(65536))
            except BlockingIOError:
                time.sleep(0.05)
        stats = proxy.connections[0].up.stats
        s.close()
    # The client is blocked: the proxy (64 kB + one read) and a few socket buffers hold the rest.
    assert stats.queued <= 64 * 1024 + 65536
    assert accepted < 8 * 1024 * 1024, accepted


def test_retarget_and_live_profile_change(peer_factory: type[TcpPeer]) -> None:
    first, second = peer_factory(), peer_factory()
    with ProxyThread(Target(*first.address), profile()) as proxy:
        s = connect(proxy)
        assert rtt(s) < 0.05
        proxy.set_profile(profile(D(delay_ms=60)))
        assert rtt(s) >= 0.058  # applies to the open connection too
        new = proxy.retarget(Target(*second.address))
        assert new == proxy.target
        s2 = connect(proxy)
        rtt(s2)
        assert len(second.conns) == 1 and len(first.conns) == 1
        s.close()
        s2.close()


def test_refused_upstream_resets_the_client() -> None:
    with socket.socket() as tmp:
        tmp.bind(("127.0.0.1", 0))
        dead_port = tmp.getsockname()[1]
    with ProxyThread(("127.0.0.1", dead_port), profile()) as proxy, \
            pytest.raises((ConnectionResetError, BrokenPipeError)):
        # The reset can reach the client while connect() is still returning (a loaded machine
        # schedules the proxy's accept-dial-reset first), or on its first write or read.
        s = connect(proxy)
        try:
            s.settimeout(5)
            s.sendall(b"x")
            s.recv(10)
            s.sendall(b"x")
        finally:
            s.close()


def test_recorded_logs(peer: TcpPeer) -> None:
    with ProxyThread(peer.address, profile(), record=True) as proxy:
        s = connect(proxy)
        s.sendall(b"ping")
        assert recv_exactly(s, 4) == b"ping"
        s.close()
        time.sleep(0.1)
        log = proxy.logs[0]
    assert log.bytes(C2S) == b"ping" and log.bytes(S2C) == b"ping"
    assert log.closed_by == C2S


def test_status_line_and_stats(peer: TcpPeer) -> None:
    with ProxyThread(peer.address, profile(D(delay_ms=5), D(delay_ms=5))) as proxy:
        s = connect(proxy)
        s.sendall(bytes(1000))
        recv_exactly(s, 1000)
        stats = proxy.stats()
        s.close()
    assert stats.bytes_out[UP] == 1000 and stats.bytes_out[DOWN] == 1000
    assert "conns 1/1" in stats.line() and "up 1.0 kB" in stats.line()


def test_start_proxy_for_is_the_plugin_hook(peer: TcpPeer) -> None:
    upstream = Target(*peer.address, "live")
    proxy = start_proxy_for(upstream, "lan")
    try:
        assert proxy.target != upstream and proxy.target.app == "live"
        assert upstream_of(proxy.target) == upstream
        s = connect(proxy)
        assert rtt(s) < 0.5
        s.close()
        moved = proxy.retarget(Target(*peer.address, "other"))
        assert moved.app == "other" and moved.port == proxy.target.port
    finally:
        proxy.stop()
    assert upstream_of(proxy.target) == proxy.target  # no longer a live proxy


def test_stop_with_open_connections_ends_the_thread(peer: TcpPeer) -> None:
    before = {t.name for t in threading.enumerate()}
    proxy = ProxyThread(peer.address, profile(D(delay_ms=200))).start()
    s = connect(proxy)
    s.sendall(b"in flight")
    proxy.stop()
    s.settimeout(5)
    assert s.recv(10) in (b"", b"in flight")
    s.close()
    time.sleep(0.1)
    assert not [t for t in threading.enumerate() if t.name.startswith("impair-") and t.name not in before]
