"""The servers the comparison benchmarks measure, started the same way for every benchmark."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Display name -> summary.json key suffix.
SERVERS = {"reference": "reference", "nginx-rtmp": "nginx_rtmp", "node-media-server": "node_media_server"}
#: Variants measured on request (``--servers``): the reference server on asyncio's own event loop
#: (the default is uvloop when installed), to show what the loop is worth.
VARIANTS = {"reference-asyncio": "reference_asyncio", "reference-coalesce-1ms": "reference_coalesce_1ms",
            "reference-coalesce-5ms": "reference_coalesce_5ms",
            # The compiled fan-out core off (pure-Python flush), or on one thread only.
            "reference-python-fanout": "reference_python_fanout", "reference-core-1thread": "reference_core_1thread",
            # The core without steady sets: every player through the per-player loop.
            "reference-no-steady": "reference_no_steady",
            # Nagle's algorithm left on (tcp_nodelay = false), as nginx-rtmp leaves it.
            "reference-nagle": "reference_nagle",
            # Every connection with TCP_NODELAY, steady players too (steady_nagle = false).
            "reference-nodelay": "reference_nodelay",
            # nginx-rtmp with TCP_NODELAY on its connections (bench/shims/nodelay.c), as the reference sends.
            "nginx-rtmp-nodelay": "nginx_rtmp_nodelay"}
#: Config of each reference variant that needs one (TOML lines).
_VARIANT_CONF = {"reference-coalesce-1ms": "write_coalesce_ms = 1.0\n", "reference-coalesce-5ms": "write_coalesce_ms = 5.0\n",
                 "reference-python-fanout": 'fanout_core = "python"\n', "reference-core-1thread": "fanout_threads = 1\n",
                 "reference-no-steady": "fanout_steady = false\n", "reference-nagle": "tcp_nodelay = false\n",
                 "reference-nodelay": "steady_nagle = false\n"}


@dataclass
class RunningServer:
    name: str
    url: str
    pid: int
    driver: Any


@contextlib.contextmanager
def running(name: str) -> Iterator[RunningServer]:
    """Start ``name`` on a free loopback port; stop it afterwards.

    reference: ``python -m rtmpconf.reference_server`` (its default event loop: uvloop when installed;
    ``reference-asyncio``: asyncio's own; logging at WARNING so a thousand joins do not measure the
    logger); nginx-rtmp: one worker, no master process, so
    its pid is the process doing the work; node-media-server 4.x: one node process.
    """
    from rtmpconf.harness.peers.servers import NginxRtmp, NodeMediaServer
    from rtmpconf.harness.targets import ReferenceServerProcess

    driver: Any
    if name == "reference":
        driver = ReferenceServerProcess(extra_args=("--log-level", "WARNING"))
    elif name == "reference-asyncio":
        driver = ReferenceServerProcess(extra_args=("--log-level", "WARNING", "--event-loop", "asyncio"))
    elif name in _VARIANT_CONF:
        # A config variant: a write-coalescing window (fewer sends, up to that much latency), or
        # the compiled fan-out core off or on one thread.
        import tempfile

        conf = Path(tempfile.mkdtemp(prefix="rtmpconf-bench-")) / "server.toml"
        conf.write_text(_VARIANT_CONF[name])
        driver = ReferenceServerProcess(config=str(conf), extra_args=("--log-level", "WARNING"))
    elif name == "nginx-rtmp":
        driver = NginxRtmp()
    elif name == "nginx-rtmp-nodelay":
        driver = NginxRtmp(env={"LD_PRELOAD": str(nodelay_shim())})
    elif name == "node-media-server":
        driver = NodeMediaServer()
    else:
        raise ValueError(f"unknown server {name!r}")
    target = driver.start()
    try:
        assert driver.proc is not None
        yield RunningServer(name, f"rtmp://{target.host}:{target.port}/{target.app}", driver.proc.pid, driver)
    finally:
        driver.stop()


def nodelay_shim() -> Path:
    """bench/shims/nodelay.c built as a shared object (once per source change), for LD_PRELOAD."""
    import hashlib
    import shutil
    import subprocess
    import tempfile

    src = Path(__file__).parent / "shims" / "nodelay.c"
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
    out = Path(tempfile.gettempdir()) / f"rtmpconf-nodelay-{digest}.so"
    if not out.exists():
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            raise RuntimeError("nginx-rtmp-nodelay needs a C compiler for bench/shims/nodelay.c")
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(tmp), str(src), "-ldl"], check=True,
                       capture_output=True, timeout=120)
        tmp.replace(out)
    return out


def key(name: str) -> str:
    return {**SERVERS, **VARIANTS}[name]
