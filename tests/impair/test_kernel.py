"""Kernel mode (root): namespaces + veth + tbf + nftables loss — real retransmissions, cleanup in
every exit path, and the core conformance cases over a 4 Mbit/s link with 5% packet loss."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from rtmpconf.harness.impair import kernel
from rtmpconf.harness.impair.kernel import (
    NS_PREFIX,
    KernelLink,
    NetnsReferenceServer,
    _link_names,
    _netns_names,
    cleanup_stale,
)
from rtmpconf.harness.impair.profiles import KernelImpairment
from rtmpconf.harness.peers import in_ci
from tests.impair.conftest import recv_exactly

ROOT = Path(__file__).resolve().parents[2]
#: The representative core cases (b): handshake, chunking, GOP start, timestamps. Chosen to run in
#: about 35 s over the lossy link; the slow-link-sensitive ones (GOP-8's 12 MB, GOP-4's 100 ms
#: budget) are left out on purpose (see the README's impairment results).
CORE_CASES = ["HS-1/*", "HS-4/*", "HS-6/*", "HS-16/*", "CH-5/*", "CH-7/*", "CH-13/*",
              "GOP-1/late-joiner*", "TS-1/*", "TS-12/*", "TS-13/*"]

pytestmark = pytest.mark.usefixtures("kernel_mode")


def ns_retransmissions(ns: str) -> int:
    """TCP RetransSegs of the sockets in namespace ``ns``."""
    out = subprocess.run(["ip", "netns", "exec", ns, "cat", "/proc/net/snmp"], capture_output=True, text=True,
                         check=False,
                         timeout=10).stdout
    rows = [line.split() for line in out.splitlines() if line.startswith("Tcp:")]
    return int(rows[1][rows[0].index("RetransSegs")])


def test_link_exists_only_inside_its_context() -> None:
    with KernelLink(KernelImpairment.symmetric(1000, 1)) as link:
        assert link.exists and link.veth_host in _link_names()
        assert link.ns.startswith(f"{NS_PREFIX}{os.getpid()}-")
        qdisc = subprocess.run(["tc", "qdisc", "show", "dev", link.veth_host], capture_output=True, text=True,
                               check=False).stdout
        assert "tbf" in qdisc and "1Mbit" in qdisc
        rules = subprocess.run(["ip", "netns", "exec", link.ns, "nft", "list", "ruleset"], capture_output=True,
                               text=True, check=False).stdout
        assert "numgen random mod 100 < 1 drop" in rules
        ns, dev = link.ns, link.veth_host
    assert ns not in _netns_names() and dev not in _link_names()


def test_link_removed_when_the_body_raises() -> None:
    with pytest.raises(RuntimeError), KernelLink() as link:
        ns = link.ns
        raise RuntimeError("case failed")
    assert ns not in _netns_names()


def test_real_rate_cap_and_real_retransmissions() -> None:
    """400 kB from a listener in the namespace over 4 Mbit/s with 5% loss: at least 0.8 s, and the
    namespace's TCP stack retransmitted."""
    with KernelLink(KernelImpairment.symmetric(4000, 5)) as link:
        lsock = link.listen_socket()
        lsock.listen(1)
        payload = os.urandom(400_000)

        def serve() -> None:
            conn, _ = lsock.accept()
            conn.sendall(payload)
            conn.close()

        threading.Thread(target=serve, daemon=True).start()
        before = ns_retransmissions(link.ns)
        t = time.monotonic()
        with socket.create_connection(lsock.getsockname(), timeout=20) as s:
            got = recv_exactly(s, len(payload), timeout=20)
        elapsed = time.monotonic() - t
        lsock.close()
        retrans = ns_retransmissions(link.ns) - before
    assert got == payload
    assert elapsed >= 0.75, elapsed  # 400 kB at 500 kB/s = 0.8 s
    assert retrans > 0


def test_stale_link_of_a_killed_process_is_removed() -> None:
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import os, sys, time
        from rtmpconf.harness.impair.kernel import KernelLink
        link = KernelLink().create()
        print(link.ns, link.veth_host, flush=True)
        time.sleep(60)
        """)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    ns, dev = child.stdout.readline().split()
    assert ns in _netns_names()
    child.kill()  # SIGKILL: no atexit, no context manager
    child.wait(10)
    assert ns in _netns_names(), "a SIGKILLed process cannot clean up"
    removed = cleanup_stale()
    assert ns in removed and ns not in _netns_names() and dev not in _link_names()


def test_sigterm_cleans_up() -> None:
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import time
        from rtmpconf.harness.impair.kernel import KernelLink
        with KernelLink() as link:
            print(link.ns, flush=True)
            time.sleep(60)
        """)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    ns = child.stdout.readline().strip()
    assert ns in _netns_names()
    child.send_signal(signal.SIGTERM)
    child.wait(15)
    assert ns not in _netns_names()


def test_cleanup_never_touches_a_live_process_link() -> None:
    with KernelLink() as link:
        assert link.ns not in cleanup_stale()
        assert link.exists


def test_monkey_patched_threading_neither_moves_nor_kills_the_process() -> None:
    """gevent's patched threads run on the main thread: the setns thread refuses (it would move
    the process into the namespace, whose clean-up then SIGKILLed it). In a child process: the
    pytest process is never patched."""
    if importlib.util.find_spec("gevent") is None:
        if in_ci():
            pytest.fail("CI=true and gevent (installed with locust, a dev extra) is missing")
        pytest.skip("gevent is not installed")
    child = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        from gevent import monkey
        monkey.patch_all()
        from rtmpconf.harness.impair.kernel import KernelLink, KernelLinkError
        with KernelLink() as link:
            print(link.ns, flush=True)
            try:
                link.listen_socket().close()
            except KernelLinkError as exc:
                print("refused:", exc, flush=True)
        print("alive", flush=True)
        """)], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert child.returncode == 0, (child.returncode, child.stdout, child.stderr[-2000:])
    ns, refused, alive = child.stdout.splitlines()
    assert refused.startswith("refused:") and "not on a thread of its own" in refused
    assert alive == "alive"
    assert ns not in _netns_names()


def test_without_kernel_mode_the_reason_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel, "_UNAVAILABLE", [])
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "needs root" in (kernel.kernel_unavailable_reason() or "")
    monkeypatch.setattr(kernel, "_UNAVAILABLE", [])
    monkeypatch.setenv(kernel.NO_KERNEL_ENV, "1")
    assert "switched off" in (kernel.kernel_unavailable_reason() or "")


def run_cases(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> dict:
    summary = ROOT / "reports" / f"impair-kernel-{os.getpid()}.json"
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "rtmpconf/cases", "-q", "-p", "no:cacheprovider",
                               "--summary", str(summary), *args], cwd=ROOT, capture_output=True, text=True, check=False,
                              timeout=timeout, env={**os.environ, **(env or {})})
        assert summary.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
        data: dict = json.loads(summary.read_text())
        data["_stdout"] = proc.stdout
        return data
    finally:
        summary.unlink(missing_ok=True)


def test_core_cases_pass_over_a_lossy_kernel_link() -> None:
    """Done-when (b): 5% random loss each way and a 4 Mbit/s cap; the reference server in the
    namespace, the suite's clients in the root namespace."""
    with KernelLink(KernelImpairment.symmetric(4000, 5)) as link:
        server = NetnsReferenceServer(link)
        target = server.start()
        before = ns_retransmissions(link.ns)
        t = time.monotonic()
        data = run_cases("--target", f"rtmp://{target.host}:{target.port}/live", "-k", "not under_profile",
                         *[f"--case={g}" for g in CORE_CASES])
        elapsed = time.monotonic() - t
        retrans = ns_retransmissions(link.ns) - before
        server.stop()
    counts = data["counts"]
    bad = [f"{c['id']}: {c['verdict']} {c['message'][:200]}" for c in data["cases"]
           if c["verdict"] in ("FAIL", "ERROR")]
    print(f"kernel link 4 Mbit/s + 5% loss: {counts} in {elapsed:.1f} s, {retrans} TCP retransmissions")
    assert not bad, "\n".join(bad)
    assert sum(counts.values()) >= 25, counts
    assert retrans > 0, "no packet was lost: the loss rule did not apply"


def test_kernel_profile_case_without_kernel_mode_is_not_run() -> None:
    data = run_cases("--case=HS-6/handshake-write-patterns-under-profile*",
                     env={"RTMPCONF_IMPAIRMENT": "kernel-lossy", kernel.NO_KERNEL_ENV: "1"})
    (case,) = data["cases"]
    assert case["verdict"] == "NOT-RUN", case  # no verdict on the target: this machine cannot
    assert "kernel mode switched off" in case["message"]


def test_kernel_profile_case_runs_over_the_link() -> None:
    data = run_cases("--case=HS-6/handshake-write-patterns-under-profile*",
                     env={"RTMPCONF_IMPAIRMENT": "kernel-lossy"})
    (case,) = data["cases"]
    assert case["verdict"] == "PASS", case
    assert not [n for n in _netns_names() if n.startswith(NS_PREFIX) and n.split("-")[2] != str(os.getpid())]


def test_namespace_deletion_is_checked() -> None:
    ns = f"{NS_PREFIX}{os.getpid()}-9999"
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=10)
    assert kernel._delete_netns(ns)
    assert ns not in _netns_names()
    assert kernel._delete_netns(ns)  # already gone: nothing to do
