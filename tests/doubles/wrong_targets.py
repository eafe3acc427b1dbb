"""Targets that are not (good) RTMP servers, for the gate's preflight and role tests.

Each runs in a daemon thread on 127.0.0.1 with a free port and stops when its context exits:
a silent TCP listener, an HTTP server, a TLS server, a server whose handshake is malformed, and
the reference server made publish-only (an ingest endpoint).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from rtmpconf.reference_server.config import ServerConfig
from rtmpconf.reference_server.server import ServerThread


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _tcp_server(handle: Callable[[socket.socket], None]) -> Iterator[int]:
    """Accept connections in a thread; ``handle`` owns each connection."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            conns.append(conn)
            threading.Thread(target=_guarded, args=(handle, conn), daemon=True).start()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(2)
        listener.close()
        for c in conns:
            with contextlib.suppress(OSError):
                c.close()


def _guarded(handle: Callable[[socket.socket], None], conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        handle(conn)


def _read_some(conn: socket.socket, n: int, timeout: float = 5.0) -> bytes:
    conn.settimeout(timeout)
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """Accepts TCP and never says a word (until the test ends)."""
    def handle(conn: socket.socket) -> None:
        conn.settimeout(60)
        while conn.recv(4096):
            pass
    with _tcp_server(handle) as port:
        yield port


@contextlib.contextmanager
def http_server() -> Iterator[int]:
    """Answers whatever arrives with an HTTP 400, as a web server on the wrong port would."""
    def handle(conn: socket.socket) -> None:
        _read_some(conn, 1, 5.0)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        conn.close()
    with _tcp_server(handle) as port:
        yield port


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@contextlib.contextmanager
def tls_server(tmp: Path) -> Iterator[int]:
    """A TLS server (an RTMPS port reached with rtmp://): the client's C0 is not a ClientHello."""
    cert, key = _self_signed(tmp)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    def handle(conn: socket.socket) -> None:
        conn.settimeout(5)
        with contextlib.suppress(ssl.SSLError, OSError):
            ctx.wrap_socket(conn, server_side=True).close()
    with _tcp_server(handle) as port:
        yield port


@contextlib.contextmanager
def malformed_handshake(kind: str) -> Iterator[int]:
    """``s0``: S0 = 6 (not 3) then 3072 bytes; ``short``: S0 = 3 and 100 bytes of S1, then a close."""
    def handle(conn: socket.socket) -> None:
        _read_some(conn, 1537)
        if kind == "s0":
            conn.sendall(b"\x06" + bytes(3072))
            _read_some(conn, 1536, 10.0)
        else:
            conn.sendall(b"\x03" + bytes(100))
        conn.close()
    with _tcp_server(handle) as port:
        yield port


@contextlib.contextmanager
def publish_only(mp: pytest.MonkeyPatch) -> Iterator[int]:
    """The reference server as an ingest endpoint: publish works, play is refused with
    NetStream.Play.Failed (level error) and the connection is closed."""
    from rtmpconf.reference_server.session import ServerSession

    def refuse_play(self: Any, cmd: Any, msid: int) -> None:
        self._on_status(msid, "NetStream.Play.Failed", "error", "this endpoint accepts publishing only")
        self.close("play refused: publish-only endpoint")

    mp.setattr(ServerSession, "_play", refuse_play)
    server = ServerThread(ServerConfig(port=0, http_port=0)).start()
    try:
        yield server.port
    finally:
        server.stop()
