"""The reference server process's own set-up (python -m rtmpconf.reference_server)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from rtmpconf.reference_server.config import ServerConfig
from rtmpconf.reference_server.server import ServerThread


def test_the_server_process_freezes_its_start_up_heap() -> None:
    code = ("import gc; from rtmpconf.reference_server.__main__ import settle_heap; "
            "before = gc.get_freeze_count(); settle_heap(); print(before, gc.get_freeze_count())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    before, after = map(int, out.stdout.split())
    assert before == 0 and after > 1000


def test_the_server_process_takes_the_hard_descriptor_limit() -> None:
    # What the server process calls before it starts (reference_server/__main__.py: serve).
    code = ("import resource; from rtmpconf.cliutil import raise_fd_limit; "
            "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE); "
            "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)); "
            "print(*raise_fd_limit(None), resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    before, after, now, hard = map(int, out.stdout.split())
    assert before == 256 and after == now == hard


@pytest.mark.parametrize("nodelay", [True, False])
def test_tcp_nodelay_follows_the_config(nodelay: bool) -> None:
    """Accepted connections send at once (TCP_NODELAY, the default) or leave Nagle on (tcp_nodelay = false)."""
    with (ServerThread(ServerConfig(port=0, http=False, tcp_nodelay=nodelay)) as srv,
          socket.create_connection(("127.0.0.1", srv.port), timeout=5)):
        deadline = time.monotonic() + 5
        while not srv.server.sessions and time.monotonic() < deadline:
            time.sleep(0.01)

        def option() -> int:
            session = next(iter(srv.server.sessions))
            sock = session.transport.transport.get_extra_info("socket")
            return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        assert bool(srv.call(option)) is nodelay
