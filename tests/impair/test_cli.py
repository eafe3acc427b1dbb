"""``rtmpconf impair``: the profile list, the standalone proxy with its status line, bad arguments."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time

import pytest

from rtmpconf.harness.cli import main
from rtmpconf.harness.impair import profile_table
from tests.impair.conftest import TcpPeer, recv_exactly


def test_list_prints_the_profile_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["impair", "--list"]) == 0
    assert capsys.readouterr().out.strip() == profile_table()


@pytest.mark.parametrize("argv", [
    ["impair", "--listen", "127.0.0.1:0"],
    ["impair", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--profile", "dial-up"],
    ["impair", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--stall-every-ms", "10", "--stall-ms", "20"],
])
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "error" in capsys.readouterr().err


def start_cli(peer: TcpPeer, *extra: str) -> tuple[subprocess.Popen[str], int, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtmpconf.harness.cli", "impair", "--listen", "127.0.0.1:0",
         "--upstream", f"127.0.0.1:{peer.port}", "--interval", "0.1", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    first = proc.stderr.readline()
    m = re.search(r"impair: ([\d.]+):(\d+) ->", first)
    assert m, first
    return proc, int(m.group(2)), first


def test_standalone_proxy_with_knobs_and_status_line(peer: TcpPeer) -> None:
    proc, port, first = start_cli(peer, "--profile", "lan", "--delay-ms", "30", "--direction", "up",
                                  "--duration", "2.5")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"x")
            recv_exactly(s, 1)
            t = time.monotonic()
            s.sendall(b"y" * 1000)
            recv_exactly(s, 1000)
            rtt = time.monotonic() - t
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert 0.029 < rtt < 0.3, rtt  # 30 ms up, lan's 0.5 ms down
    assert "profile lan+custom: up 30 ms +-0.2; down 0.5 ms +-0.2" in first
    # Not a terminal: periodic status lines, then the final figures.
    status = [line for line in err.splitlines() if line.startswith("conns ")]
    assert status, err
    assert re.search(r"up 1\.0 kB \(queued [\d.]+ kB, delay \d+ ms", err), err
    assert re.search(r"impair: stopped; conns \d/1 \| up 1\.0 kB", err), err


def test_standalone_kernel_profile(peer: TcpPeer, kernel_mode: None) -> None:
    from rtmpconf.harness.impair.kernel import NS_PREFIX, _netns_names

    proc, port, first = start_cli(peer, "--profile", "kernel-lossy", "--duration", "3")
    try:
        mine = [n for n in _netns_names() if n.startswith(f"{NS_PREFIX}{proc.pid}-")]
        assert mine, "the CLI's namespace exists while it runs"
        host = first.split("impair: ")[1].split(":")[0]
        with socket.create_connection((host, port), timeout=5) as s:  # over the veth, then loopback
            s.sendall(b"through the namespace")
            assert recv_exactly(s, 21) == b"through the namespace"
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "clients reach 10.200." in first
    assert not [n for n in _netns_names() if n.startswith(f"{NS_PREFIX}{proc.pid}-")], "namespace left behind"
