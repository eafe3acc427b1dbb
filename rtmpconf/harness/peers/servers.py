"""Real RTMP servers as targets: nginx + RTMP module, node-media-server 4.x, ``ffmpeg -listen 1``.

Each driver starts its program on 127.0.0.1 with its own config in a temporary directory,
waits (with a deadline) until the RTMP port accepts connections, and stops it cleanly.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from rtmpconf.harness.client import Target
from rtmpconf.harness.peers import PeerMissing, require

from rtmpconf.paths import tools_dir

TOOLS = tools_dir()
START_TIMEOUT_S = 20.0
NMS_NPM = "node-media-server@4"


class ServerDriver(Protocol):
    name: str

    def start(self) -> Target: ...
    def stop(self) -> None: ...
    def alive(self) -> bool: ...


def free_port() -> int:
    """A currently free loopback port (the program binds it right after; the race is tiny)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:g} s: {_tail(log)}")


def _tail(path: Path, n: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return "(no log)"


def stop_process(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    """Signal ``proc`` and wait; kill it if it has not exited within 5 s."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def nginx_rtmp_module() -> Path:
    """The RTMP module shipped by Debian's libnginx-mod-rtmp."""
    for candidate in (Path("/usr/lib/nginx/modules/ngx_rtmp_module.so"),
                      Path("/usr/share/nginx/modules/ngx_rtmp_module.so")):
        if candidate.exists():
            return candidate
    try:
        out = subprocess.run(["dpkg", "-L", "libnginx-mod-rtmp"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.endswith("ngx_rtmp_module.so"):
                return Path(line)
    except (OSError, subprocess.SubprocessError):
        pass
    raise PeerMissing("the nginx RTMP module is not installed (apt-get install libnginx-mod-rtmp)")


@dataclass
class NginxRtmp:
    """nginx with the RTMP module, one worker, ``live on`` in application ``live``."""

    name: str = "nginx-rtmp"
    chunk_size: int = 4096
    workdir: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    extra_app_directives: list[str] = field(default_factory=list)
    #: HLS (``hls on``, 2 s fragments) served by nginx's http module on ``http_port`` (a free port
    #: at start). Off unless asked: --target-server nginx-rtmp asks (the HTTP cases judge it).
    http_port: int | None = None
    hls: bool = False
    #: More applications: name -> directives (each also gets ``live on`` and ``record off``).
    extra_apps: dict[str, list[str]] = field(default_factory=dict)
    #: Extra environment of the nginx process (benchmarks preload a socket-option shim).
    env: dict[str, str] = field(default_factory=dict)

    def config(self) -> str:
        module = nginx_rtmp_module()
        assert self.workdir is not None
        hls = ["hls on", f"hls_path {self.workdir}/hls", "hls_fragment 2s", "hls_playlist_length 12s"] \
            if self.hls else []
        app = "\n".join(f"                {d};" for d in ["live on", "record off", *hls, *self.extra_app_directives])
        for name, directives in self.extra_apps.items():
            records = any(d.startswith("record ") for d in directives)
            body = "\n".join(f"                {d};" for d in ["live on", *([] if records else ["record off"]), *directives])
            app += f"\n        }}\n        application {name} {{\n{body}"
        http = f"""http {{
    access_log off;
    server {{
        listen 127.0.0.1:{self.http_port};
        location /hls {{
            types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; }}
            root {self.workdir};
            add_header Cache-Control no-cache;
            add_header Access-Control-Allow-Origin *;
        }}
    }}
}}
""" if self.hls and self.http_port else ""
        return f"""load_module {module};
daemon off;
master_process off;
worker_processes 1;
error_log {self.workdir}/error.log info;
pid {self.workdir}/nginx.pid;
events {{ worker_connections 8192; }}
rtmp {{
    server {{
        listen 127.0.0.1:{self.port};
        chunk_size {self.chunk_size};
        application live {{
{app}
        }}
    }}
}}
{http}"""

    def start(self) -> Target:
        nginx = require("nginx")
        self.workdir = Path(tempfile.mkdtemp(prefix="rtmpconf-nginx-"))
        self.port = self.port or free_port()  # a restart keeps the port
        if self.hls:
            self.http_port = self.http_port or free_port()
            (self.workdir / "hls").mkdir()
        conf = self.workdir / "nginx.conf"
        conf.write_text(self.config())
        log = self.workdir / "stderr.log"
        self.proc = subprocess.Popen([nginx, "-p", str(self.workdir), "-e", str(self.workdir / "error.log"),
                                      "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=open(log, "wb"),
                                     env={**os.environ, **self.env} if self.env else None)
        wait_listening(self.port, self.proc, START_TIMEOUT_S, "nginx", self.workdir / "error.log")
        if self.hls and self.http_port:
            wait_listening(self.http_port, self.proc, START_TIMEOUT_S, "nginx (http)", self.workdir / "error.log")
        return Target("127.0.0.1", self.port, "live")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGQUIT)
        self.proc = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def node_media_server_app() -> Path:
    """bin/app.js of node-media-server 4.x, installed from npm into .tools/ when missing."""
    app = TOOLS / "node_modules" / "node-media-server" / "bin" / "app.js"
    #: Written after a complete install: an interrupted one leaves app.js without its dependencies.
    stamp = TOOLS / ".node-media-server.installed"
    if app.exists() and stamp.exists():
        return app
    require("node")
    npm = require("npm")
    TOOLS.mkdir(parents=True, exist_ok=True)
    import fcntl

    # -j workers each start their own server: one installs, the others wait for it (two npm runs
    # in one prefix fail each other).
    with open(TOOLS / ".node-media-server.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (app.exists() and stamp.exists()):
            subprocess.run([npm, "install", "--prefix", str(TOOLS), "--no-audit", "--no-fund", "--loglevel=error",
                            NMS_NPM], check=True, timeout=600, capture_output=True)
            if app.exists():
                stamp.write_text(NMS_NPM + "\n")
    if not app.exists():
        raise PeerMissing(f"npm install {NMS_NPM} did not produce {app}")
    return app


@dataclass
class NodeMediaServer:
    """node-media-server 4.x: RTMP + HTTP on 127.0.0.1, no webadmin, no notify, no TLS."""

    name: str = "node-media-server"
    #: With a secret, publishing needs node-media-server's ``sign`` query (config ``auth``).
    auth_secret: str = ""
    #: With a directory, every published stream is recorded there (config ``record.auto``).
    record_dir: str = ""
    #: Also listen for RTMPS (config ``rtmps``) with a throw-away CA made at start (harness/tls.py).
    tls: bool = False
    tls_port: int = 0
    pki: object = None
    workdir: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    http_port: int | None = None  #: its HTTP-FLV port (free port at start; a restart keeps it)

    def start(self) -> Target:
        node = require("node")
        app = node_media_server_app()
        self.workdir = Path(tempfile.mkdtemp(prefix="rtmpconf-nms-"))
        self.port = self.port or free_port()  # a restart keeps the port
        self.http_port = http_port = self.http_port or free_port()
        cfg = {
            "bind": "127.0.0.1",
            "notify": {"url": ""},
            "store": {"path": str(self.workdir / "data"), "maxHistory": 100},
            "auth": {"play": False, "publish": bool(self.auth_secret), "secret": self.auth_secret},
            "rtmp": {"port": self.port},
            "http": {"port": http_port},
            "webadmin": {"enable": False},
            "record": {"auto": bool(self.record_dir), "path": self.record_dir or str(self.workdir / "record")},
        }
        if self.tls:
            from rtmpconf.harness.tls import make_test_pki

            if self.pki is None:
                self.pki = make_test_pki(Path(tempfile.mkdtemp(prefix="rtmpconf-nms-pki-")))
            self.tls_port = self.tls_port or free_port()
            cfg["rtmps"] = {"port": self.tls_port, "key": str(self.pki.key_file),  # type: ignore[attr-defined]
                            "cert": str(self.pki.cert_file)}  # type: ignore[attr-defined]
        conf = self.workdir / "config.json"
        conf.write_text(json.dumps(cfg))
        log = self.workdir / "nms.log"
        self.proc = subprocess.Popen([node, str(app), "-c", str(conf), "--no-admin"], cwd=self.workdir,
                                     stdout=open(log, "wb"), stderr=subprocess.STDOUT)
        wait_listening(self.port, self.proc, START_TIMEOUT_S, "node-media-server", log)
        wait_listening(http_port, self.proc, START_TIMEOUT_S, "node-media-server (http)", log)
        if self.tls:
            wait_listening(self.tls_port, self.proc, START_TIMEOUT_S, "node-media-server (RTMPS)", log)
        return Target("127.0.0.1", self.port, "live")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def tls_target(self) -> Target | None:
        """The RTMPS listener, trusting the throw-away CA (None without ``tls``)."""
        if not self.tls or not self.tls_port or self.pki is None:
            return None
        return Target("127.0.0.1", self.tls_port, "live", scheme="rtmps", sni="localhost",
                      ca_file=str(self.pki.ca_file))  # type: ignore[attr-defined]

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class FfmpegListen:
    """``ffmpeg -listen 1``: a one-connection RTMP server that accepts one publisher."""

    name: str = "ffmpeg-listen"
    stream: str = "x"
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    workdir: Path | None = None

    def start(self) -> Target:
        ffmpeg = require("ffmpeg")
        self.workdir = Path(tempfile.mkdtemp(prefix="rtmpconf-ffl-"))
        self.port = self.port or free_port()  # a restart keeps the port
        log = self.workdir / "ffmpeg.log"
        self.proc = subprocess.Popen(
            [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "info", "-listen", "1", "-timeout", "30",
             "-i", f"rtmp://127.0.0.1:{self.port}/live/{self.stream}", "-c", "copy", "-f", "null", "-"],
            stdout=subprocess.DEVNULL, stderr=open(log, "wb"))
        # ffmpeg -listen accepts exactly one connection: do not probe the port with a connect.
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ffmpeg -listen exited: {_tail(log)}")
            if _port_listening(self.port):
                return Target("127.0.0.1", self.port, "live")
            time.sleep(0.05)
        raise RuntimeError(f"ffmpeg -listen did not listen within {START_TIMEOUT_S:g} s: {_tail(log)}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGINT)
        self.proc = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _port_listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port, read from /proc/net/tcp (no connection made)."""
    want = f"0100007F:{port:04X}"
    try:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            parts = line.split()
            if parts[1] == want and parts[3] == "0A":
                return True
    except OSError:
        return False
    return False


def make_server(name: str) -> ServerDriver:
    """Driver by name, as used by --target-server."""
    if name == "nginx-rtmp":
        return NginxRtmp(hls=True)
    if name == "node-media-server":
        # With its RTMPS listener on (throw-away certificates), so the TLS cases judge it too.
        return NodeMediaServer(tls=True)
    if name == "ffmpeg-listen":
        return FfmpegListen()
    if name == "reference":
        from rtmpconf.harness.targets import ReferenceServerProcess

        return _ReferenceDriver(ReferenceServerProcess())
    raise ValueError(f"unknown server {name!r}: reference, nginx-rtmp, node-media-server, ffmpeg-listen")


SERVER_NAMES = ("reference", "nginx-rtmp", "node-media-server", "ffmpeg-listen")


@dataclass
class _ReferenceDriver:
    proc: object
    name: str = "reference"

    def start(self) -> Target:
        return self.proc.start()  # type: ignore[attr-defined, no-any-return]

    def stop(self) -> None:
        self.proc.stop()  # type: ignore[attr-defined]

    def alive(self) -> bool:
        return bool(self.proc.alive())  # type: ignore[attr-defined]

    @property
    def pid(self) -> int | None:
        p = getattr(self.proc, "proc", None)
        return p.pid if p is not None else None

    @property
    def http_port(self) -> int | None:
        return getattr(self.proc, "http_port", None)

