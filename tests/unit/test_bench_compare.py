"""bench.compare's headline and bench.servers' socket-option shim (the comparison's fairness)."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.compare import headline_from
from bench.servers import nodelay_shim


def _sweep(cpu_750: float) -> dict[str, object]:
    return {"steps": [{"players": 750, "sustained": True, "cpu_s_per_player_s": cpu_750, "server_cores": 0.5,
                       "generator_saturated": False, "latency_ms": {"p99": 1.0, "p50": 0.5}}],
            "max_players_sustained": 750}


def test_servers_are_also_compared_with_their_sockets_alike() -> None:
    head = headline_from({"reference": _sweep(6e-4), "nginx-rtmp": _sweep(5e-4), "reference-nodelay": _sweep(7.5e-4),
                          "nginx-rtmp-nodelay": _sweep(9e-4), "reference-nagle": _sweep(4e-4)})
    assert head["players_per_core_ratio_750_reference_vs_nginx_rtmp"] == round(5 / 6, 3)
    assert head["players_per_core_ratio_750_reference_nodelay_vs_nginx_rtmp_nodelay"] == 1.2
    assert head["players_per_core_ratio_750_reference_nagle_vs_nginx_rtmp"] == 1.25
    only = headline_from({"reference": _sweep(6e-4), "nginx-rtmp": _sweep(5e-4)})
    assert not any("nodelay" in k or "nagle" in k for k in only)


def test_the_shim_gives_accepted_connections_tcp_nodelay() -> None:
    code = ("import socket; l = socket.create_server(('127.0.0.1', 0)); "
            "c = socket.create_connection(l.getsockname()); s, _ = l.accept(); "
            "print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))")
    plain = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    shimmed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
                             env={**os.environ, "LD_PRELOAD": str(nodelay_shim())})
    assert plain.stdout.strip() == "0"
    assert shimmed.stdout.strip() == "1"
