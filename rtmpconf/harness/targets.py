"""Targets: the embedded reference server (a subprocess via its public entry) or a URL."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rtmpconf.harness.client import Target

#: How long the reference server may take to start listening.
START_TIMEOUT_S = 15.0
_LISTEN_RE = re.compile(r"listening on rtmp://([^:\s]+):(\d+)")
_HTTP_LISTEN_RE = re.compile(r"listening on http://([^:\s]+):(\d+)")
_TLS_LISTEN_RE = re.compile(r"listening on rtmps://([^:\s]+):(\d+)")
_RTSP_LISTEN_RE = re.compile(r"listening on rtsp://([^:\s]+):(\d+)")


class TargetError(RuntimeError):
    """The target could not be started or reached."""


@dataclass
class ReferenceServerProcess:
    """``python -m rtmpconf.reference_server --port 0`` in a subprocess; the port is read from stderr."""

    host: str = "127.0.0.1"
    config: str | None = None
    log_path: Path | None = None
    extra_args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    #: Also listen for RTMPS, with a throw-away CA and certificate made at start (harness/tls.py).
    tls: bool = False
    tls_port: int = 0
    pki: object = None  #: harness.tls.TestPki once made
    #: Also serve RTSP (on a free port): ``rtsp_template`` is then its URL template.
    rtsp: bool = False
    rtsp_port: int = 0

    @property
    def rtsp_template(self) -> str | None:
        return f"rtsp://{self.host}:{self.rtsp_port}/{{app}}/{{name}}" if self.rtsp and self.rtsp_port else None

    @property
    def tls_target(self) -> Target | None:
        """The RTMPS listener as a target that trusts the throw-away CA (None without ``tls``)."""
        if not self.tls or not self.tls_port or self.pki is None:
            return None
        return Target(self.host, self.tls_port, "live", scheme="rtmps", sni="localhost",
                      ca_file=str(self.pki.ca_file))  # type: ignore[attr-defined]

    http_port: int | None = None  #: its HTTP outputs (started on a free port), None if off

    def start(self, timeout: float = START_TIMEOUT_S) -> Target:
        args = [sys.executable, "-m", "rtmpconf.reference_server", "--host", self.host, "--port", "0",
                "--log-level", "INFO", "--http-port", "0", *self.extra_args]
        if self.tls:
            if self.pki is None:
                import tempfile

                from rtmpconf.harness.tls import make_test_pki

                self.pki = make_test_pki(tempfile.mkdtemp(prefix="rtmpconf-pki-"))
            args += ["--tls-port", "0", "--tls-cert", str(self.pki.cert_file),  # type: ignore[attr-defined]
                     "--tls-key", str(self.pki.key_file)]  # type: ignore[attr-defined]
        if self.rtsp:
            args += ["--rtsp-port", "0"]
        if self.config:
            args += ["--config", self.config]
        log_fh = open(self.log_path, "wb") if self.log_path else None  # noqa: SIM115
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        seen = b""
        fd = self.proc.stderr.fileno()
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                seen += chunk
                m = _LISTEN_RE.search(seen.decode(errors="replace"))
                m_tls = _TLS_LISTEN_RE.search(seen.decode(errors="replace"))
                m_rtsp = _RTSP_LISTEN_RE.search(seen.decode(errors="replace"))
                if m and (m_tls or not self.tls) and (m_rtsp or not self.rtsp):
                    self.port = int(m.group(2))
                    hm = _HTTP_LISTEN_RE.search(seen.decode(errors="replace"))
                    self.http_port = int(hm.group(2)) if hm else None
                    self.tls_port = int(m_tls.group(2)) if m_tls else 0
                    self.rtsp_port = int(m_rtsp.group(2)) if m_rtsp else 0
                    self._pump(log_fh, seen)
                    return Target(self.host, self.port, "live")
            if self.proc.poll() is not None:
                break
        self.stop()
        raise TargetError(f"reference server did not start within {timeout:g} s: "
                          f"{seen.decode(errors='replace')[-2000:]}")

    def _pump(self, log_fh: object, initial: bytes) -> None:
        """Keep draining stderr (into the log file) so the server never blocks on it."""
        import threading

        assert self.proc is not None and self.proc.stderr is not None
        stream = self.proc.stderr

        def run() -> None:
            if log_fh is not None:
                log_fh.write(initial)  # type: ignore[attr-defined]
            for line in iter(stream.readline, b""):
                if log_fh is not None:
                    log_fh.write(line)  # type: ignore[attr-defined]
                    log_fh.flush()  # type: ignore[attr-defined]
            if log_fh is not None:
                log_fh.close()  # type: ignore[attr-defined]

        threading.Thread(target=run, daemon=True, name="reference-server-log").start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self.proc = None
