"""Kernel-mode impairment: real TCP over a veth pair into a network namespace (root only).

Topology (one ``KernelLink``)::

    root namespace                         namespace rtmpconf-imp-<pid>-<n>
    client ── 10.200.N.2 [veth rci…] ══ tbf + nftables loss ══ [veth0] 10.200.N.1 ── server / listener

* ``tbf`` on the root-side end caps client -> server, on the namespace end server -> client;
  packets that would queue longer than ``queue_ms`` are dropped (a real bottleneck's tail drop).
* More paths (``add_path``: another veth pair on another subnet) reach the same namespace with
  different impairments, e.g. a fast path for a publisher and a 500 kbit/s one for a player.
* nftables in the namespace drops ``loss_pct`` % of TCP packets on input and on output
  (``numgen random mod 100 < N drop``), so both directions lose packets and TCP retransmits for real.
* There is no netem on this kernel: delay and jitter come from the userspace proxy, which can sit
  on top (a profile may have both).

What can live in the namespace: a server process (``popen``/``NetnsReferenceServer``, through
``ip netns exec``), or just a listening socket created there by this process (``listen_socket``:
a thread enters the namespace with setns(2), creates the socket and leaves; the socket stays in
the namespace). The latter lets the in-process proxy put *any* target behind a kernel link.

Cleanup is not optional: every link is removed by its context manager, by ``atexit`` (also after
SIGTERM, which is turned into SystemExit while a link exists), and links left behind by a process
that died (SIGKILL) are removed by the next ``KernelLink`` created on the machine: names carry the
creating pid, and only names of dead pids are touched. Whatever a namespace lists, clean-up never
signals this process or one of its ancestors (``protected_pids``), and the setns thread refuses to
run on the main thread, so the process itself never enters a namespace.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import logging
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from rtmpconf.harness.client import Target
from rtmpconf.harness.impair.profiles import KernelImpairment

log = logging.getLogger("rtmpconf.rtmp.impair.kernel")

NS_PREFIX = "rtmpconf-imp-"
#: Root-side veth names: "rci" + creator pid (hex) + "x" + link counter (hex) + "k" + path, <= 15 bytes.
VETH_PREFIX = "rci"
#: 10.200.N.0/24 per link, N = 1..254 (the first N with no address on this machine).
SUBNET = "10.200"
LOCK_PATH = Path("/tmp/rtmpconf-impair.lock")
NFT_TABLE = "rtmpconf_impair"
CLONE_NEWNET = 0x40000000
COMMAND_TIMEOUT_S = 15.0
#: Set to switch kernel mode off even as root (kernel profiles then report UNIMPLEMENTED).
NO_KERNEL_ENV = "RTMPCONF_IMPAIR_NO_KERNEL"

_NS_RE = re.compile(rf"^{re.escape(NS_PREFIX)}(\d+)-(\d+)$")
_VETH_RE = re.compile(rf"^{VETH_PREFIX}([0-9a-f]+)x")
_LISTEN_RE = re.compile(r"listening on rtmp://([^:\s]+):(\d+)")


class KernelLinkError(RuntimeError):
    """A kernel link could not be set up (not root, missing tools, kernel refused)."""


def _on_main_os_thread() -> bool:
    """Whether the calling code runs on the process's main OS thread (thread id == pid), asked of
    the kernel: a monkey-patched ``threading`` cannot answer for it. Unknown counts as yes."""
    try:
        tid = int(os.readlink("/proc/thread-self").rsplit("/", 1)[1])
    except (OSError, ValueError, IndexError):
        return True
    return tid == os.getpid()


def _process_netns() -> int | None:
    """Inode of the network namespace of the process's main thread (None: cannot tell)."""
    try:
        return os.stat(f"/proc/{os.getpid()}/ns/net").st_ino
    except OSError:
        return None


def _run(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), input=stdin, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
                          check=False)
    if check and proc.returncode != 0:
        raise KernelLinkError(f"{' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _machine_lock() -> Iterator[None]:
    """Serialise link creation and stale cleanup between processes (subnet choice, names)."""
    with open(LOCK_PATH, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _delete_netns(ns: str, attempts: int = 3) -> bool:
    """``ip netns del`` until the name is gone (a failure used to pass unnoticed and leave the
    namespace until another process's ``cleanup_stale``); logs an error when it stays."""
    proc = None
    for attempt in range(attempts):
        proc = _run("ip", "netns", "del", ns, check=False)
        if ns not in _netns_names():
            return True
        time.sleep(0.1 * (attempt + 1))
    log.error("namespace %s is still there after %d deletions: %s", ns, attempts,
              (proc.stderr.strip() if proc is not None else "") or "no error from ip")
    return False


def _netns_names() -> list[str]:
    out = _run("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _link_names() -> list[str]:
    out = _run("ip", "-o", "link", "show", check=False).stdout
    names = []
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            names.append(parts[1].strip().split("@")[0])
    return names


def _parent_pid(pid: int) -> int:
    """``pid``'s parent from /proc/<pid>/status (0: no parent, or the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("PPid:"):
            with contextlib.suppress(ValueError, IndexError):
                return int(line.split()[1])
    return 0


def protected_pids() -> frozenset[int]:
    """This process and every ancestor of it (the PPid chain up to init).

    Clean-up never signals these, whatever a namespace lists: a process whose main thread entered
    a test namespace (a monkey-patched ``threading`` runs "threads" on the main thread) shows up in
    ``ip netns pids`` of that namespace, and killing it would kill the harness or the test runner.
    """
    pids: set[int] = set()
    pid = os.getpid()
    while pid > 0 and pid not in pids:
        pids.add(pid)
        pid = _parent_pid(pid)
    return frozenset(pids)


def _kill_namespace_processes(ns: str) -> list[int]:
    """SIGKILL what still runs in one of *our* namespaces (servers this harness started there),
    never this process nor its ancestors; returns the pids signalled."""
    out = _run("ip", "netns", "pids", ns, check=False).stdout
    protected = protected_pids()
    killed = []
    for word in out.split():
        try:
            pid = int(word)
        except ValueError:
            continue
        # 0 and negative pids are process groups (or every process) for kill(2), never one server.
        if pid <= 0 or pid in protected:
            log.error("namespace %s lists pid %d (a process group, this process or an ancestor): not signalled",
                      ns, pid)
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


def cleanup_stale() -> list[str]:
    """Remove namespaces and veths left by harness processes that no longer exist; returns names."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return []
    removed = []
    with _machine_lock():
        for ns in _netns_names():
            m = _NS_RE.match(ns)
            if m and not _pid_alive(int(m.group(1))):
                _kill_namespace_processes(ns)
                _run("ip", "netns", "del", ns, check=False)
                removed.append(ns)
        for name in _link_names():
            m = _VETH_RE.match(name)
            if m and not _pid_alive(int(m.group(1), 16)):
                _run("ip", "link", "del", name, check=False)
                removed.append(name)
    if removed:
        log.info("removed stale impairment links: %s", ", ".join(removed))
    return removed


_UNAVAILABLE: list[str | None] = []


def kernel_unavailable_reason() -> str | None:
    """None when kernel mode works here; else why not (checked once, by building a real link)."""
    if _UNAVAILABLE:
        return _UNAVAILABLE[0]
    reason: str | None = None
    if os.environ.get(NO_KERNEL_ENV, "").strip() not in ("", "0"):
        reason = f"kernel mode switched off ({NO_KERNEL_ENV} is set)"
    elif sys.platform != "linux":
        reason = "kernel mode needs Linux network namespaces"
    elif os.geteuid() != 0:
        reason = "kernel mode needs root (network namespaces, veth, tc tbf, nftables)"
    else:
        missing = [p for p in ("ip", "tc", "nft") if shutil.which(p) is None]
        if missing:
            reason = (f"{', '.join(missing)} not installed (apt-get install iproute2 nftables; "
                      "scripts/install-system-deps.sh does it)")
    if reason is None:
        try:
            with KernelLink(KernelImpairment.symmetric(rate_kbit=1000, loss_pct=1)) as link:
                link.listen_socket().close()
        except (KernelLinkError, OSError, subprocess.SubprocessError) as exc:
            reason = f"the kernel refused a namespace/veth/tbf/nftables link: {exc}"
    _UNAVAILABLE.append(reason)
    return reason


_counter = 0
_counter_lock = threading.Lock()
_LIVE_LINKS: dict[str, KernelLink] = {}
_atexit_installed = False
_sigterm_installed = False
_exiting = False


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _install_exit_hooks() -> None:
    """While a link exists: ``destroy_all`` at exit, and SIGTERM as SystemExit (its default
    action skips atexit; as SystemExit it unwinds context managers too)."""
    global _atexit_installed, _sigterm_installed
    if not _atexit_installed:
        _atexit_installed = True
        atexit.register(destroy_all)
    if (not _sigterm_installed and threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL):
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        _sigterm_installed = True


def _remove_exit_hooks() -> None:
    """Undo ``_install_exit_hooks`` once no link is left, so the process is as it was before."""
    global _atexit_installed, _sigterm_installed
    if _LIVE_LINKS:
        return
    if _atexit_installed and not _exiting:
        atexit.unregister(destroy_all)
        _atexit_installed = False
    # Only the main thread may set handlers; elsewhere the handler stays until the next chance.
    if _sigterm_installed and threading.current_thread() is threading.main_thread():
        if signal.getsignal(signal.SIGTERM) is _exit_on_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _sigterm_installed = False


def destroy_all() -> None:
    """Remove every link this process still has (atexit)."""
    global _exiting
    _exiting = True
    for link in list(_LIVE_LINKS.values()):
        link.destroy()


@dataclass
class VethPath:
    """One veth pair between the root namespace and the link's namespace, with its own subnet."""

    index: int  #: 0 for the link's first path
    host_dev: str  #: root-side device
    ns_dev: str  #: namespace-side device
    host_addr: str  #: root-side address (clients' source address)
    ns_addr: str  #: namespace-side address (where servers/listeners are reached)
    impairment: KernelImpairment


class KernelLink:
    """A namespace joined to the root namespace by veth pairs ("paths"), each with its own tbf
    rate caps and nftables loss. Path 0 exists once created; ``add_path`` adds more, e.g. a fast
    path for a publisher and a slow one for a player of the same server."""

    def __init__(self, impairment: KernelImpairment | None = None) -> None:
        self.impairment = impairment or KernelImpairment()
        self.ns = ""
        self.paths: list[VethPath] = []
        self._n = 0
        self._procs: list[subprocess.Popen[bytes]] = []
        self._created = False

    # Path 0's addresses, the common case.
    @property
    def host_addr(self) -> str:
        return self.paths[0].host_addr

    @property
    def ns_addr(self) -> str:
        return self.paths[0].ns_addr

    @property
    def veth_host(self) -> str:
        return self.paths[0].host_dev

    # -- lifecycle ----------------------------------------------------------------------------

    def create(self) -> Self:
        global _counter
        if os.geteuid() != 0:
            raise KernelLinkError("kernel mode needs root")
        cleanup_stale()
        with _counter_lock:
            _counter += 1
            self._n = _counter
        self.ns = f"{NS_PREFIX}{os.getpid()}-{self._n}"
        _install_exit_hooks()
        _LIVE_LINKS[self.ns] = self
        self._created = True
        try:
            _run("ip", "netns", "add", self.ns)
            # tbf on a 64 KiB loopback packet stalls; keep the namespace's lo at Ethernet size.
            _run("ip", "-n", self.ns, "link", "set", "lo", "mtu", "1500", "up")
            self.add_path(self.impairment)
        except BaseException:
            self.destroy()
            raise
        log.info("kernel link %s: %s <-> %s (%s)", self.ns, self.host_addr, self.ns_addr, self.impairment.describe())
        return self

    def add_path(self, impairment: KernelImpairment | None = None) -> VethPath:
        """Another veth pair into the namespace, on its own subnet, impaired on its own."""
        k = len(self.paths)
        host_dev = f"{VETH_PREFIX}{os.getpid():x}x{self._n:x}k{k}"
        ns_dev = f"veth{k}"
        tmp_peer = host_dev + "p"
        with _machine_lock():
            index = self._free_subnet()
            path = VethPath(k, host_dev, ns_dev, f"{SUBNET}.{index}.2", f"{SUBNET}.{index}.1",
                            impairment or KernelImpairment())
            self.paths.append(path)
            _run("ip", "link", "add", host_dev, "type", "veth", "peer", "name", tmp_peer)
            _run("ip", "link", "set", tmp_peer, "netns", self.ns)
            _run("ip", "-n", self.ns, "link", "set", tmp_peer, "name", ns_dev)
            _run("ip", "addr", "add", f"{path.host_addr}/24", "dev", host_dev)
            _run("ip", "-n", self.ns, "addr", "add", f"{path.ns_addr}/24", "dev", ns_dev)
            _run("ip", "link", "set", host_dev, "up")
            _run("ip", "-n", self.ns, "link", "set", ns_dev, "up")
        self.set_impairment(path.impairment, path=k)
        return path

    @staticmethod
    def _free_subnet() -> int:
        used = set()
        for line in _run("ip", "-o", "-4", "addr", "show", check=False).stdout.splitlines():
            m = re.search(rf"inet {re.escape(SUBNET)}\.(\d+)\.", line)
            if m:
                used.add(int(m.group(1)))
        for i in range(1, 255):
            if i not in used:
                return i
        raise KernelLinkError(f"no free {SUBNET}.N.0/24 subnet")

    def set_impairment(self, imp: KernelImpairment, path: int = 0) -> None:
        """Apply (or change, on a live link) one path's rate caps and loss."""
        p = self.paths[path]
        p.impairment = imp
        if path == 0:
            self.impairment = imp
        # Egress shaping: up (client -> server) leaves the root-side device, down the namespace side.
        for ns_args, dev, kbit in (((), p.host_dev, imp.up_kbit), (("-n", self.ns), p.ns_dev, imp.down_kbit)):
            if kbit:
                # burst: at least 32 kB, so a GSO super-packet never exceeds the bucket.
                burst = max(32 * 1024, int(kbit * 1000 / 8 * 0.005))
                _run("tc", *ns_args, "qdisc", "replace", "dev", dev, "root", "tbf", "rate", f"{kbit:g}kbit",
                     "burst", str(burst), "latency", f"{imp.queue_ms:g}ms")
            else:
                _run("tc", *ns_args, "qdisc", "del", "dev", dev, "root", check=False)
        self._apply_loss()

    def _apply_loss(self) -> None:
        """The namespace's nftables table: per path, drop loss_pct % of TCP packets each way."""
        rules_in, rules_out = [], []
        for p in self.paths:
            n = int(p.impairment.loss_pct)
            if n:
                rules_in.append(f'    iifname "{p.ns_dev}" meta l4proto tcp numgen random mod 100 < {n} drop')
                rules_out.append(f'    oifname "{p.ns_dev}" meta l4proto tcp numgen random mod 100 < {n} drop')
        # Declaring then deleting the table makes the batch work whether or not it exists yet.
        text = f"table inet {NFT_TABLE}\ndelete table inet {NFT_TABLE}\n"
        if rules_in:
            text += (f"table inet {NFT_TABLE} {{\n"
                     f"  chain input {{\n    type filter hook input priority 0; policy accept;\n"
                     + "\n".join(rules_in) + "\n  }\n"
                     "  chain output {\n    type filter hook output priority 0; policy accept;\n"
                     + "\n".join(rules_out) + "\n  }\n}\n")
        _run("ip", "netns", "exec", self.ns, "nft", "-f", "-", stdin=text)

    def destroy(self) -> None:
        """Kill what runs in the namespace, delete it and the veth pairs. Idempotent."""
        if not self._created:
            return
        self._created = False
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
        self._procs.clear()
        _kill_namespace_processes(self.ns)
        _delete_netns(self.ns)
        # Sockets created in the namespace keep it alive after "netns del"; deleting one end of
        # a veth removes the pair (and its tbf) at once regardless.
        for p in self.paths:
            _run("ip", "link", "del", p.host_dev, check=False)
        _LIVE_LINKS.pop(self.ns, None)
        _remove_exit_hooks()
        log.info("kernel link %s removed", self.ns)

    def __enter__(self) -> Self:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    @property
    def exists(self) -> bool:
        return self.ns in _netns_names()

    # -- using the namespace -----------------------------------------------------------------

    def listen_socket(self, port: int = 0, host: str | None = None) -> socket.socket:
        """A TCP socket bound in the namespace (not yet listening); usable by this process."""
        result: dict[str, Any] = {}
        home_ns = _process_netns()

        def enter_and_bind() -> None:
            # setns(2) changes only this OS thread's namespace, and the thread ends right after.
            try:
                if _on_main_os_thread():
                    # A monkey-patched threading module (gevent) runs this "thread" as a greenlet
                    # on the main thread: setns would move the whole process into the namespace.
                    raise KernelLinkError(f"refusing setns into {self.ns}: not on a thread of its own "
                                          "(threading is monkey-patched?); the process would move")
                libc = ctypes.CDLL(None, use_errno=True)
                fd = os.open(f"/run/netns/{self.ns}", os.O_RDONLY)
                try:
                    if libc.setns(fd, CLONE_NEWNET) != 0:
                        err = ctypes.get_errno()
                        raise OSError(err, f"setns into {self.ns}: {os.strerror(err)}")
                finally:
                    os.close(fd)
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host or self.ns_addr, port))
                result["sock"] = s
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                result["error"] = exc

        t = threading.Thread(target=enter_and_bind, name=f"setns-{self.ns}", daemon=True)
        t.start()
        t.join(10)
        if _process_netns() != home_ns:
            raise KernelLinkError(f"the process's main thread left its network namespace while binding in {self.ns}")
        if "error" in result:
            raise result["error"]
        if "sock" not in result:
            raise KernelLinkError(f"could not create a socket in {self.ns}")
        sock: socket.socket = result["sock"]
        return sock

    def popen(self, args: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        """Start a program inside the namespace (killed when the link is destroyed)."""
        proc: subprocess.Popen[bytes] = subprocess.Popen(["ip", "netns", "exec", self.ns, *args], **kw)
        self._procs.append(proc)
        return proc


class NetnsReferenceServer:
    """The reference server inside a link's namespace, listening on the namespace address."""

    def __init__(self, link: KernelLink, extra_args: tuple[str, ...] = (), log_path: Path | None = None,
                 host: str | None = None) -> None:
        self.link = link
        self.host = host  #: bind address (default: path 0's address; "0.0.0.0" = every path)
        self.extra_args = extra_args
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self, timeout: float = 15.0) -> Target:
        args = [sys.executable, "-m", "rtmpconf.reference_server", "--host", self.host or self.link.ns_addr, "--port", "0",
                "--log-level", "INFO", *self.extra_args]
        self.proc = self.link.popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        seen = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                seen += chunk
                m = _LISTEN_RE.search(seen.decode(errors="replace"))
                if m:
                    self.port = int(m.group(2))
                    self._drain(seen)
                    return Target(self.link.ns_addr, self.port, "live")
        self.stop()
        raise KernelLinkError(f"reference server in {self.link.ns} did not start: "
                              f"{seen.decode(errors='replace')[-1000:]}")

    def _drain(self, initial: bytes) -> None:
        """Keep reading its log so the server never blocks on a full stderr pipe."""
        assert self.proc is not None and self.proc.stderr is not None
        stream = self.proc.stderr
        path = self.log_path

        def run() -> None:
            fh = open(path, "wb") if path else None  # noqa: SIM115
            try:
                if fh:
                    fh.write(initial)
                for line in iter(stream.readline, b""):
                    if fh:
                        fh.write(line)
            finally:
                if fh:
                    fh.close()

        threading.Thread(target=run, daemon=True, name="netns-server-log").start()

    @property
    def pid(self) -> int | None:
        # "ip netns exec" execs the program after setns, so this is the server's own pid.
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


class NetnsNginxRtmp:
    """nginx + RTMP module (harness.peers.servers.NginxRtmp's config) inside a link's namespace,
    listening on every address there (so every path reaches it). One process (master_process
    off), so ``proc.pid`` is the server whose memory is measured."""

    def __init__(self, link: KernelLink) -> None:
        self.link = link
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.workdir: Path | None = None

    def start(self, timeout: float = 20.0) -> Target:
        import tempfile

        from rtmpconf.harness.peers import require
        from rtmpconf.harness.peers.servers import NginxRtmp

        nginx = require("nginx")
        self.workdir = Path(tempfile.mkdtemp(prefix="rtmpconf-netns-nginx-"))
        self.port = 19350
        driver = NginxRtmp(workdir=self.workdir, port=self.port)
        conf_text = driver.config().replace(f"listen 127.0.0.1:{self.port};", f"listen {self.port};")
        conf = self.workdir / "nginx.conf"
        conf.write_text(conf_text)
        self.proc = self.link.popen([nginx, "-p", str(self.workdir), "-e", str(self.workdir / "error.log"),
                                     "-c", str(conf)], stdout=subprocess.DEVNULL,
                                    stderr=open(self.workdir / "stderr.log", "wb"))  # noqa: SIM115
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise KernelLinkError(f"nginx in {self.link.ns} exited: "
                                      f"{(self.workdir / 'error.log').read_text(errors='replace')[-1000:]}")
            try:
                with socket.create_connection((self.link.ns_addr, self.port), timeout=0.3):
                    return Target(self.link.ns_addr, self.port, "live")
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise KernelLinkError(f"nginx in {self.link.ns} did not listen within {timeout:g} s")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
