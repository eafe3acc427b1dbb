"""Kernel-mode clean-up never hurts the process that runs it (no root needed: the namespace
listing and the signals are stand-ins).

* ``ip netns pids`` may list this process or an ancestor (its main thread entered the namespace
  by mistake): ``_kill_namespace_processes`` refuses those pids, and pids that name a group.
* ``listen_socket``'s setns "thread" refuses to run on the main thread (what a monkey-patched
  ``threading`` does), so the process never moves into a namespace.
* A link's exit hooks (atexit, SIGTERM) live only as long as links do.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from typing import Any

import pytest

from rtmpconf.harness.impair import kernel
from rtmpconf.harness.impair.kernel import KernelLink, KernelLinkError, protected_pids


def _ancestors() -> list[int]:
    """The PPid chain of this process, read independently of the code under test."""
    chain, pid = [], os.getpid()
    while pid > 0 and pid not in chain:
        chain.append(pid)
        status = open(f"/proc/{pid}/status").read()  # noqa: SIM115
        pid = int(next(line for line in status.splitlines() if line.startswith("PPid:")).split()[1])
    return chain


def test_protected_pids_are_this_process_and_every_ancestor() -> None:
    chain = _ancestors()
    assert os.getpid() in chain and os.getppid() in chain
    assert protected_pids() == frozenset(chain)


#: Above the largest pid_max Linux allows (2**22): listed pids that are certainly not us.
NOT_US = 5_000_000


def test_parent_of_a_process_that_does_not_exist_is_none() -> None:
    assert kernel._parent_pid(NOT_US) == 0


@pytest.fixture
def netns_pids(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], list[tuple[int, int]]]:
    """Feeds ``text`` as the output of ``ip netns pids NS`` and records os.kill calls instead of
    sending them."""
    sent: list[tuple[int, int]] = []

    def install(text: str) -> list[tuple[int, int]]:
        def fake_run(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
            assert args[:3] == ("ip", "netns", "pids"), args
            return subprocess.CompletedProcess(list(args), 0, stdout=text, stderr="")

        monkeypatch.setattr(kernel, "_run", fake_run)
        monkeypatch.setattr(kernel.os, "kill", lambda pid, sig: sent.append((pid, sig)))
        return sent

    return install


def test_cleanup_refuses_this_process_and_its_ancestors(netns_pids: Callable[[str], list[tuple[int, int]]]) -> None:
    server_pid = NOT_US  # a listed server that is not us
    listed = [*_ancestors(), server_pid]
    sent = netns_pids("\n".join(str(p) for p in listed) + "\n")
    killed = kernel._kill_namespace_processes("rtmpconf-imp-1-1")
    assert killed == [server_pid]
    assert sent == [(server_pid, signal.SIGKILL)]


def test_cleanup_refuses_group_pids_and_garbage(netns_pids: Callable[[str], list[tuple[int, int]]]) -> None:
    # kill(0) signals our own process group, kill(-1) every process we may signal.
    sent = netns_pids(f"0\n-1\n-{os.getpid()}\nnot-a-pid\n{os.getpid()}\n")
    assert kernel._kill_namespace_processes("rtmpconf-imp-1-1") == []
    assert sent == []


def test_cleanup_signals_every_other_listed_process(netns_pids: Callable[[str], list[tuple[int, int]]]) -> None:
    sent = netns_pids(f"{NOT_US + 1}\n{NOT_US + 2}\n")
    assert kernel._kill_namespace_processes("rtmpconf-imp-1-1") == [NOT_US + 1, NOT_US + 2]
    assert sent == [(NOT_US + 1, signal.SIGKILL), (NOT_US + 2, signal.SIGKILL)]


class InlineThread:
    """What gevent's patched ``threading.Thread`` amounts to here: the target runs on the
    calling (main) OS thread."""

    def __init__(self, target: Callable[[], None], **_: Any) -> None:
        self.target = target

    def start(self) -> None:
        self.target()

    def join(self, timeout: float | None = None) -> None:
        return None


def test_setns_refused_on_the_main_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    class Libc:
        def setns(self, fd: int, flags: int) -> int:
            calls.append("setns")
            return 0

    monkeypatch.setattr(kernel.ctypes, "CDLL", lambda *a, **kw: Libc())
    monkeypatch.setattr(kernel.threading, "Thread", InlineThread)
    link = KernelLink()
    link.ns = "rtmpconf-imp-guard-test"
    assert threading.current_thread() is threading.main_thread()
    with pytest.raises(KernelLinkError, match="not on a thread of its own"):
        link.listen_socket(host="127.0.0.1")
    assert calls == []


def test_main_os_thread_is_told_apart_from_a_real_thread() -> None:
    seen: list[bool] = []
    t = threading.Thread(target=lambda: seen.append(kernel._on_main_os_thread()))
    t.start()
    t.join(10)
    assert seen == [False]
    assert kernel._on_main_os_thread() is True


def test_exit_hooks_live_only_as_long_as_links(monkeypatch: pytest.MonkeyPatch) -> None:
    """A link registers the atexit clean-up and turns SIGTERM into SystemExit; removing the last
    link puts both back (the pytest process keeps no handler of ours)."""
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    monkeypatch.setattr(kernel, "_atexit_installed", False)
    monkeypatch.setattr(kernel, "_sigterm_installed", False)
    registered: list[Callable[[], None]] = []
    monkeypatch.setattr(atexit, "register", registered.append)
    monkeypatch.setattr(atexit, "unregister", registered.remove)
    link = KernelLink()
    link.ns = "rtmpconf-imp-hooks-test"
    monkeypatch.setitem(kernel._LIVE_LINKS, link.ns, link)
    kernel._install_exit_hooks()
    try:
        assert registered == [kernel.destroy_all]
        assert signal.getsignal(signal.SIGTERM) is kernel._exit_on_sigterm
        kernel._LIVE_LINKS.pop(link.ns)
        kernel._remove_exit_hooks()
        assert registered == []
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
