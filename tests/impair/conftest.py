"""Fixtures for the impairment tests: a recording TCP peer, kernel-mode gating."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from rtmpconf.harness.peers import in_ci
from tests.integration.conftest import server, server_factory  # noqa: F401 - the reference server fixtures


@dataclass
class PeerConn:
    """One connection the peer accepted: what arrived, when, and how it ended."""

    sock: socket.socket
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    ended: str | None = None  #: "eof" or "rst"
    ended_at: float | None = None

    @property
    def data(self) -> bytes:
        return b"".join(c for _, c in self.chunks)


class TcpPeer:
    """A threaded TCP server on 127.0.0.1 that records every connection; echoes when ``echo``;
    never reads when ``read`` is False (a stuck receiver)."""

    def __init__(self, *, echo: bool = True, read: bool = True) -> None:
        self.echo = echo
        self.read = read
        self.conns: list[PeerConn] = []
        self._lsock = socket.socket()
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind(("127.0.0.1", 0))
        self._lsock.listen(16)
        self.port = self._lsock.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def _accept(self) -> None:
        while not self._stop:
            try:
                sock, _ = self._lsock.accept()
            except OSError:
                return
            conn = PeerConn(sock)
            self.conns.append(conn)
            if self.read:
                threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: PeerConn) -> None:
        while True:
            try:
                data = conn.sock.recv(65536)
            except ConnectionResetError:
                conn.ended, conn.ended_at = "rst", time.monotonic()
                return
            except OSError:
                return
            if not data:
                conn.ended, conn.ended_at = "eof", time.monotonic()
                return
            conn.chunks.append((time.monotonic(), data))
            if self.echo:
                try:
                    conn.sock.sendall(data)
                except (ConnectionResetError, BrokenPipeError):
                    # The reset can land between the read and the echo (a loaded machine): this
                    # side never shuts its writes down, so a failed write means the peer reset.
                    conn.ended, conn.ended_at = "rst", time.monotonic()
                    return
                except OSError:
                    return

    def wait_conn(self, n: int = 1, timeout: float = 5.0) -> PeerConn:
        deadline = time.monotonic() + timeout
        while len(self.conns) < n:
            assert time.monotonic() < deadline, f"only {len(self.conns)} connections"
            time.sleep(0.005)
        return self.conns[n - 1]

    def wait_ended(self, conn: PeerConn, timeout: float = 5.0) -> str | None:
        deadline = time.monotonic() + timeout
        while conn.ended is None and time.monotonic() < deadline:
            time.sleep(0.005)
        return conn.ended

    def close(self) -> None:
        self._stop = True
        self._lsock.close()
        for c in self.conns:
            c.sock.close()


@pytest.fixture
def peer() -> Iterator[TcpPeer]:
    p = TcpPeer()
    yield p
    p.close()


@pytest.fixture
def peer_factory() -> Iterator[type[TcpPeer]]:
    made: list[TcpPeer] = []

    class Factory(TcpPeer):
        def __init__(self, **kw: bool) -> None:
            super().__init__(**kw)
            made.append(self)

    yield Factory
    for p in made:
        p.close()


def recv_exactly(sock: socket.socket, n: int, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)


@pytest.fixture
def kernel_mode() -> None:
    """Kernel mode must work where the tests run as root (CI); elsewhere the test is skipped."""
    from rtmpconf.harness.impair.kernel import kernel_unavailable_reason

    reason = kernel_unavailable_reason()
    if reason:
        if in_ci():
            pytest.fail(f"CI=true and kernel mode is unavailable: {reason}")
        pytest.skip(reason)
