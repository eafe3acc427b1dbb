"""Processes the harness stops with SIGINT stop on it even when started from a background job.

A shell starts a background job with SIGINT ignored and Python keeps that disposition, so a
reference server or simulated client started from ``rtmpconf run ... &`` used to ignore the
harness's SIGINT and was killed only after its grace period (every worker's server stop cost 5 s).
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

from rtmpconf.harness.targets import ReferenceServerProcess


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """Children started inside inherit SIGINT ignored, as from a background job."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def test_reference_server_started_with_sigint_ignored_stops_on_sigint() -> None:
    server = ReferenceServerProcess()
    with sigint_ignored():
        server.start()
    proc = server.proc
    assert proc is not None
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        rc = proc.wait(4)
    finally:
        server.stop()
    assert rc == 0, f"exit status {rc}"
    assert time.monotonic() - t0 < 4


def test_simulated_client_started_with_sigint_ignored_stops_on_sigint() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers the handshake
        silent.settimeout(20)
        url = f"rtmp://127.0.0.1:{silent.getsockname()[1]}/live/x"
        with sigint_ignored():
            proc = subprocess.Popen([sys.executable, "-m", "rtmpconf.harness.peers.simulated", "--profile", "ffmpeg",
                                     "--role", "play", url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            conn, _ = silent.accept()  # the client is up and waiting for S0S1
            with conn:
                proc.send_signal(signal.SIGINT)
                rc = proc.wait(4)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)
    assert rc == 130, f"exit status {rc}"
