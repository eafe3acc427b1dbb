"""The load generator's players and publisher as Locust users, for runs bigger than one machine.

    locust -f rtmpconf/harness/load/locustfile.py --host rtmp://HOST:1935/live -u 500 -r 50   # web UI
    locust -f rtmpconf/harness/load/locustfile.py --master --expect-workers 4 ...              # distributed
    locust -f rtmpconf/harness/load/locustfile.py --worker --master-host MASTER                # on each worker

Same sans-IO logic as ``rtmpconf load`` (:class:`harness.load.scanner.ChunkScanner` for players,
:class:`harness.load.publisher.PublisherSession` for the publisher), driven by gevent sockets
instead of asyncio, because Locust users are greenlets.

Users:

* ``RtmpPublisher`` (``fixed_count = 1``): publishes ``--rtmp-stream`` with the looped 2.5 Mbit/s
  H.264/AAC and its latency markers. ``--rtmp-publishers 0`` leaves publishing to someone else.
* ``RtmpPlayer``: plays the stream and reports to Locust, as request events of type ``RTMP``:
  ``play`` (time from TCP connect to NetStream.Play.Start), ``first_frame`` (play to the first
  marked video frame), ``frame`` (one per marked video frame: response time = publish→play
  latency, length = frame bytes), and ``frame`` *failures* for frames the server skipped.
  Locust's charts then show frames/s as RPS and latency as response time.

Latency needs the publisher's and the players' clocks to agree: one machine, or NTP-synchronised
ones (the result is then only as good as the synchronisation).

Per-worker report: each worker adds its frame/byte/user counts to its reports to the master; a
master started with ``--rtmp-summary FILE`` writes them per worker to FILE when it quits
(tests/load checks that both workers of a local run reported).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.lock
from locust import User, constant, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from rtmpconf.harness.load.player import HANDSHAKE, play_request
from rtmpconf.harness.load.scanner import ChunkScanner

READ_SIZE = 64 * 1024

#: Worker side: counters sent to the master with every report (totals since the worker started).
_worker_totals: dict[str, int] = {"frames": 0, "dropped": 0, "bytes": 0, "players": 0, "publishers": 0,
                                  "players_started": 0, "publishers_started": 0}
#: Master side: client id -> the latest totals that worker reported.
_per_worker: dict[str, dict[str, Any]] = {}


class FrameDropped(Exception):
    """The server skipped marked frames (their sequence numbers never arrived)."""


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--rtmp-stream", default="locust", help="stream name to publish and play")
    parser.add_argument("--rtmp-publishers", type=int, default=1, help="1 = a publisher user, 0 = none")
    parser.add_argument("--rtmp-bitrate", type=int, default=2_500_000, help="publisher bitrate (bit/s)")
    parser.add_argument("--rtmp-summary", default="", help="master: write per-worker totals to this JSON file")


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    opts = environment.parsed_options
    if opts is not None and getattr(opts, "rtmp_publishers", 1) == 0:
        RtmpPublisher.fixed_count = 0
        RtmpPublisher.weight = 0
    elif not isinstance(environment.runner, MasterRunner):
        # Encode the loop now, on a native thread: about a second of CPU (several on a busy
        # machine) run in a greenlet stops the worker's heartbeats, and the master drops a worker
        # that missed 3 s of them. The publisher waits for it (``_media``).
        from rtmpconf.harness.load.media import load_media

        global _media_ready
        _media_ready = gevent.get_hub().threadpool.spawn(
            load_media, getattr(opts, "rtmp_bitrate", 2_500_000) if opts is not None else 2_500_000)


#: The worker's media loop being encoded on gevent's native thread pool (None: not started).
_media_ready: Any = None
#: How long a publisher waits for that encoding.
MEDIA_TIMEOUT_S = 120.0


def _media(bitrate: int) -> Any:
    """The looped media, cooperatively waiting for the encoding ``_on_init`` started."""
    from rtmpconf.harness.load.media import load_media

    if _media_ready is not None:
        _media_ready.get(timeout=MEDIA_TIMEOUT_S)
    return load_media(bitrate)  # cached by then (same arguments)


@events.report_to_master.add_listener
def _report(client_id: str, data: dict[str, Any]) -> None:
    data["rtmp"] = dict(_worker_totals, pid=os.getpid())


@events.worker_report.add_listener
def _collect(client_id: str, data: dict[str, Any]) -> None:
    if "rtmp" in data:
        _per_worker[client_id] = data["rtmp"]


@events.quitting.add_listener
def _write_summary(environment: Environment, **_: Any) -> None:
    opts = environment.parsed_options
    path = getattr(opts, "rtmp_summary", "") if opts is not None else ""
    if not path or isinstance(environment.runner, WorkerRunner):
        return
    stats = environment.stats
    summary: dict[str, Any] = {
        "workers": _per_worker if isinstance(environment.runner, MasterRunner) else {"local": dict(_worker_totals)},
        "requests": {f"{e.method} {e.name}": {"count": e.num_requests, "failures": e.num_failures,
                                              "p50_ms": e.get_response_time_percentile(0.5),
                                              "p99_ms": e.get_response_time_percentile(0.99)}
                     for e in stats.entries.values()},
        "total_requests": stats.total.num_requests,
        "total_failures": stats.total.num_failures,
    }
    with open(path, "w") as fh:
        json.dump(summary, fh, indent=2)


def _target(host: str) -> tuple[str, int, str]:
    from rtmpconf.harness.client import Target

    t = Target.parse(host)
    return t.host, t.port, t.app


def _fire(env: Environment, name: str, ms: float, length: int = 0, exc: Exception | None = None) -> None:
    env.events.request.fire(request_type="RTMP", name=name, response_time=ms, response_length=length,
                            exception=exc, context={})


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        part = sock.recv(n - len(buf))
        if not part:
            raise ConnectionError("server closed the connection during the handshake")
        buf += part
    return bytes(buf)


class RtmpPlayer(User):
    """One player for the whole life of the user (one long task)."""

    wait_time = constant(1)
    weight = 10

    def on_start(self) -> None:
        self.sock: socket.socket | None = None
        _worker_totals["players"] += 1
        _worker_totals["players_started"] += 1

    def on_stop(self) -> None:
        _worker_totals["players"] -= 1
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    @task
    def play(self) -> None:
        env = self.environment
        host, port, app = _target(self.host or "rtmp://127.0.0.1:1935/live")
        stream = env.parsed_options.rtmp_stream if env.parsed_options else "locust"
        t0 = time.perf_counter()
        try:
            sock = self.sock = socket.create_connection((host, port), timeout=10)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(b"\x03" + bytes(8) + os.urandom(HANDSHAKE - 8))
            s0s1s2 = _recv_exact(sock, 1 + 2 * HANDSHAKE)
            sock.sendall(s0s1s2[1:1 + HANDSHAKE] + play_request(app, f"rtmp://{host}:{port}/{app}", stream))
            sock.settimeout(None)
        except (OSError, ConnectionError) as exc:
            _fire(env, "play", (time.perf_counter() - t0) * 1000, 0, exc)
            gevent.sleep(1)
            return
        play_sent = time.perf_counter()
        sc = ChunkScanner()
        sc.frame_log = []
        buf = bytearray(READ_SIZE)
        mv = memoryview(buf)
        reported_play = reported_first = False
        gaps = 0
        while True:
            k = sc.load_carry(buf)
            n = sock.recv_into(mv[k:])
            if not n:
                _fire(env, "play", (time.perf_counter() - t0) * 1000, 0, ConnectionError("server closed"))
                return
            sc.scan(buf, k + n, time.time_ns())
            _worker_totals["bytes"] += n
            if sc.out:
                sock.sendall(bytes(sc.out))
                sc.out.clear()
            if not reported_play and sc.play_started:
                reported_play = True
                _fire(env, "play", (time.perf_counter() - t0) * 1000)
            log = sc.frame_log
            if log:
                if not reported_first:
                    reported_first = True
                    _fire(env, "first_frame", (time.perf_counter() - play_sent) * 1000)
                for us, length in log:
                    _fire(env, "frame", us / 1000.0, length)
                _worker_totals["frames"] += len(log)
                log.clear()
            if sc.seq_gaps != gaps:
                _fire(env, "frame", 0.0, 0, FrameDropped(f"{sc.seq_gaps - gaps} frame(s) skipped by the server"))
                _worker_totals["dropped"] += sc.seq_gaps - gaps
                gaps = sc.seq_gaps


class RtmpPublisher(User):
    """Publishes the looped stream at real rate until the user is stopped."""

    fixed_count = 1
    weight = 1
    wait_time = constant(1)

    def on_start(self) -> None:
        self.sock: socket.socket | None = None
        _worker_totals["publishers"] += 1
        _worker_totals["publishers_started"] += 1

    def on_stop(self) -> None:
        _worker_totals["publishers"] -= 1
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    @task
    def publish(self) -> None:
        from rtmpconf.harness.load.publisher import PublisherSession

        env = self.environment
        opts = env.parsed_options
        host, port, app = _target(self.host or "rtmp://127.0.0.1:1935/live")
        media = _media(opts.rtmp_bitrate if opts else 2_500_000)
        session = PublisherSession(app, f"rtmp://{host}:{port}/{app}", opts.rtmp_stream if opts else "locust",
                                   media)
        t0 = time.perf_counter()
        try:
            sock = self.sock = socket.create_connection((host, port), timeout=10)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(session.take_output())
            while not session.publishing:
                data = sock.recv(READ_SIZE)
                if not data or session.failed:
                    raise ConnectionError(session.stats.error or "closed before Publish.Start")
                session.receive(data)
                sock.sendall(session.take_output())
            sock.settimeout(None)
        except (OSError, ConnectionError) as exc:
            _fire(env, "publish", (time.perf_counter() - t0) * 1000, 0, exc)
            gevent.sleep(1)
            return
        _fire(env, "publish", (time.perf_counter() - t0) * 1000)
        sock.sendall(session.take_output())  # metadata and sequence headers
        # The reply reader and the pacer share the socket: one writer at a time, taking the
        # session's bytes under the lock, so they leave whole and in encoding order.
        send_lock = gevent.lock.Semaphore()

        def write(take: Callable[[], bytes]) -> None:
            with send_lock:
                out = take()
                if out:
                    sock.sendall(out)

        def read_replies() -> None:
            # Acks, pings: the Connection answers; nothing else is expected.
            while True:
                data = sock.recv(READ_SIZE)
                if not data:
                    return
                session.receive(data)
                write(session.take_output)

        reader = gevent.spawn(read_replies)
        try:
            while session.publishing and not reader.dead:
                delay = session.next_due() - time.monotonic()
                if delay > 0:
                    gevent.sleep(delay)
                write(lambda: session.due(time.monotonic()))
        finally:
            reader.kill(block=False)
