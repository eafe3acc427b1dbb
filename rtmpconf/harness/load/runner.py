"""Load run: N players over K worker processes, M publishers, one JSON result.

Layout
------
* The coordinator (the calling process) runs the publishers on its event loop and prints the
  progress line. Publishers are cheap (a few dozen messages a second each) and stamp their
  latency marker right before each write, so sharing a loop with the coordinator costs nothing.
* K worker processes (``multiprocessing`` spawn) each run one event loop with their share of the
  players. K defaults to the cores left once a loopback server has one, and never more than one
  process per 250 players: more processes than cores only add scheduling noise.

Timeline: players connect (bounded concurrency, each waits for its handshake) and wait for
the stream; the publishers start; media flows for ``duration`` seconds; the publishers send
deleteStream; after ``drain`` seconds the workers report. Every player joined before its
publisher started, so it must receive every frame: *missing* frames (expected minus received,
which covers both frames the server dropped and frames still queued when the run ended) are
the drops. With ``server_pid`` the coordinator also reads the server's CPU time over the
publishing window and its RSS (``/proc``; Linux only).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rtmpconf.cliutil import raise_fd_limit
from rtmpconf.harness.load.media import DEFAULT_BITRATE, LATENCY_WARMUP_FRAMES, load_media
from rtmpconf.harness.load.player import ArrivalSelector, PlayerPool, arrival_loop
from rtmpconf.harness.load.publisher import AsyncPublisher, open_publisher
from rtmpconf.harness.load.scanner import LatencyHistogram

#: A run sustains its load when fewer than this fraction of expected frames went missing.
MAX_DROP_FRACTION = 0.001
PLAYERS_PER_PROCESS = 250


@dataclass
class LoadConfig:
    target: str  #: rtmp://host[:port]/app
    players: int
    publishers: int = 1
    duration: float = 10.0
    stream: str = "load"  #: stream name, or name prefix ("load-0", "load-1", ...) with several publishers
    procs: int = 0  #: player processes; 0 = auto
    bitrate: int = DEFAULT_BITRATE
    connect_concurrency: int = 64
    connect_timeout: float = 10.0
    settle: float = 0.3  #: pause between the last player joining and the first publish
    drain: float = 1.0  #: wait after the publishers stop before counting
    idle: bool = False  #: players only connect (no play): memory per idle connection
    progress_interval: float = 1.0
    server_pid: int | None = None
    per_player: bool = False


@dataclass
class _Worker:
    proc: asyncio.subprocess.Process
    count: int
    inbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    latest: dict[str, Any] = field(default_factory=dict)
    ready: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    reader: asyncio.Task[None] | None = None
    previous: tuple[float, int] | None = None  # (t, rx) of the snapshot before ``latest``

    def send(self, msg: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(msg).encode() + b"\n")

    async def pump(self) -> None:
        assert self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                self.inbox.put_nowait({"type": "dead"})
                return
            msg = json.loads(line)
            if msg.get("type") == "progress":
                self.previous = (self.latest.get("t", 0.0), self.latest.get("rx", 0)) if self.latest else None
                self.latest = msg
            else:
                self.inbox.put_nowait(msg)


def auto_procs(players: int, host: str) -> int:
    cores = os.cpu_count() or 1
    local = host in ("localhost", "::1") or host.startswith("127.")
    avail = max(1, cores - (1 if local else 0))  # leave the server a core on loopback
    return max(1, min(avail, math.ceil(players / PLAYERS_PER_PROCESS)))


def _split(n: int, k: int) -> list[int]:
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# -- worker process --------------------------------------------------------------------------
#
# A worker is ``python -m harness.load.runner`` (not multiprocessing: spawn would re-import the
# caller's main module, which breaks scripts without a main guard). It reads its spec as the
# first JSON line on stdin, then commands ("mark", "stop") as JSON lines, and writes JSON lines
# ("ready", "progress", "result") on stdout.


async def _worker(spec: dict[str, Any], arrival: ArrivalSelector | None = None) -> None:
    raise_fd_limit()
    loop = asyncio.get_running_loop()
    out = sys.stdout

    def send(msg: dict[str, Any]) -> None:
        out.write(json.dumps(msg) + "\n")
        out.flush()

    pool = PlayerPool(spec["host"], spec["port"], spec["app"], spec["names"][0], arrival=arrival)
    names = [spec["names"][(spec["offset"] + i) % len(spec["names"])] for i in range(len(spec["names"]))]
    error = None
    try:
        await pool.open(spec["count"], concurrency=spec["concurrency"], timeout=spec["timeout"],
                        names=names, idle=spec["idle"])
    except ConnectionError as exc:
        error = str(exc)
    send({"type": "ready", "ok": len(pool.players), "failed": len(pool.failures),
          "failures": pool.failures[:5], "error": error})
    commands: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def read_commands() -> None:
        while True:
            line = await reader.readline()
            if not line:
                commands.put_nowait({"type": "stop"})  # the coordinator went away
                return
            commands.put_nowait(json.loads(line))

    reader_task = loop.create_task(read_commands())
    cpu_mark = time.process_time()
    wall_mark = time.monotonic()
    publish_start_ns = 0
    while True:
        try:
            cmd = await asyncio.wait_for(commands.get(), spec["interval"])
        except TimeoutError:
            cmd = None
        if cmd is None:
            players = pool.players
            send({"type": "progress", "t": time.monotonic(), "rx": sum(p.bytes for p in players),
                  "frames": sum(p.scanner.frames for p in players),
                  "gaps": sum(p.scanner.seq_gaps for p in players),
                  "closed": sum(1 for p in players if p.closed),
                  "hist": pool.histogram.counts})
            continue
        if cmd["type"] == "mark":
            cpu_mark = time.process_time()
            wall_mark = time.monotonic()
            publish_start_ns = cmd["publish_start_ns"]
        elif cmd["type"] == "stop":
            publish_start_ns = cmd.get("publish_start_ns") or publish_start_ns
            break
    cpu = time.process_time() - cpu_mark
    wall = time.monotonic() - wall_mark
    summaries = [p.summary(publish_start_ns) for p in pool.players]
    names_of = [p.stream for p in pool.players]
    pool.close()
    reader_task.cancel()
    await asyncio.sleep(0.05)
    send({"type": "result", "players": summaries, "names": names_of,
          "hist": pool.histogram.counts, "cpu_s": round(cpu, 3), "wall_s": round(wall, 3)})


# -- coordinator -----------------------------------------------------------------------------


async def run_load(cfg: LoadConfig, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run one load test; returns the result (see the module doc and ``rtmpconf load --help``)."""
    from rtmpconf.harness.client import Target

    raise_fd_limit()
    target = Target.parse(cfg.target)
    loop = asyncio.get_running_loop()
    k = cfg.procs or auto_procs(cfg.players, target.host)
    k = max(1, min(k, cfg.players)) if cfg.players else 0
    n_pub = 0 if cfg.idle else cfg.publishers
    names = [cfg.stream] if n_pub <= 1 else [f"{cfg.stream}-{i}" for i in range(n_pub)]
    media = load_media(cfg.bitrate) if n_pub else None
    server: dict[str, Any] = {}
    if cfg.server_pid:
        server["rss_kib_start"] = proc_rss_kib(cfg.server_pid)

    workers: list[_Worker] = []
    offset = 0
    for count in _split(cfg.players, k) if k else []:
        spec = {"host": target.host, "port": target.port, "app": target.app, "names": names,
                "offset": offset, "count": count, "concurrency": max(1, cfg.connect_concurrency // k),
                "timeout": cfg.connect_timeout, "idle": cfg.idle, "interval": cfg.progress_interval}
        offset += count
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rtmpconf.harness.load.runner", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, limit=64 * 1024 * 1024)
        w = _Worker(proc, count)
        w.send(spec)
        w.reader = loop.create_task(w.pump())
        workers.append(w)

    publishers: list[AsyncPublisher] = []
    t_start = time.monotonic()
    publish_start_ns = 0
    publish_wall = 0.0
    errors: list[str] = []
    try:
        # 1. Players join.
        deadline = cfg.connect_timeout + 30 + cfg.players / 50
        for w in workers:
            w.ready = await _expect(w, "ready", deadline)
        connected = sum(w.ready["ok"] for w in workers if w.ready)
        connect_s = time.monotonic() - t_start
        if progress:
            progress(f"[load] {connected}/{cfg.players} players connected in {connect_s:.1f} s")
        if cfg.server_pid:
            server["rss_kib_players_joined"] = proc_rss_kib(cfg.server_pid)
        await asyncio.sleep(cfg.settle)

        # 2. Publishers start; the publishing window is what the figures are per second of.
        if n_pub:
            assert media is not None
            results = await asyncio.gather(
                *(open_publisher(target.host, target.port, target.app, names[i % len(names)], media,
                                 timeout=cfg.connect_timeout, publisher_id=i + 1) for i in range(n_pub)),
                return_exceptions=True)
            for r in results:
                if isinstance(r, BaseException):
                    errors.append(f"publisher: {type(r).__name__}: {r}")
                else:
                    publishers.append(r)
            if not publishers:
                raise RuntimeError(f"no publisher could start: {errors[0] if errors else '?'}")
            publish_start_ns = min(p.session.stats.publishing_since_ns for p in publishers)
        else:
            publish_start_ns = time.time_ns()
        cpu0 = proc_cpu_seconds(cfg.server_pid) if cfg.server_pid else 0.0
        own0 = time.process_time()
        t0 = time.monotonic()
        for w in workers:
            w.send({"type": "mark", "publish_start_ns": publish_start_ns})

        # 3. Media flows; progress every interval.
        rss_max = 0
        while True:
            left = cfg.duration - (time.monotonic() - t0)
            if left <= 0:
                break
            await asyncio.sleep(min(cfg.progress_interval, left))
            if cfg.server_pid:
                rss_max = max(rss_max, proc_rss_kib(cfg.server_pid))
            if progress:
                progress(_progress_line(time.monotonic() - t0, cfg, workers, publishers))
        publish_wall = time.monotonic() - t0
        if cfg.server_pid:
            server["cpu_s"] = round(proc_cpu_seconds(cfg.server_pid) - cpu0, 3)
            server["rss_kib_during"] = max(rss_max, proc_rss_kib(cfg.server_pid))
        own_cpu = time.process_time() - own0

        # 4. Stop, drain, collect.
        await asyncio.gather(*(p.stop() for p in publishers), return_exceptions=True)
        await asyncio.sleep(cfg.drain)
        for w in workers:
            w.send({"type": "stop", "publish_start_ns": publish_start_ns})
        for w in workers:
            w.result = await _expect(w, "result", 60 + cfg.players / 100)
    finally:
        for p in publishers:
            if p.transport is not None:
                p.transport.abort()
        for w in workers:
            await _reap(w)
    return _aggregate(cfg, k, names, media, workers, publishers, errors, publish_wall, own_cpu, server,
                      connect_s)


async def _reap(w: _Worker) -> None:
    """Close the worker's stdin (it stops), wait a little, kill if it hangs."""
    try:
        if w.proc.stdin is not None and not w.proc.stdin.is_closing():
            w.proc.stdin.close()
        await asyncio.wait_for(w.proc.wait(), 10)
    except TimeoutError:
        w.proc.kill()
        await w.proc.wait()
    if w.reader is not None:
        w.reader.cancel()


async def _expect(w: _Worker, kind: str, timeout: float) -> dict[str, Any]:
    try:
        msg = await asyncio.wait_for(w.inbox.get(), timeout)
    except TimeoutError:
        raise RuntimeError(f"load worker gave no '{kind}' within {timeout:.0f} s") from None
    if msg.get("type") != kind:
        raise RuntimeError(f"load worker died (expected '{kind}', got {msg.get('type')!r}, "
                           f"exit code {w.proc.returncode})")
    return msg


def _progress_line(t: float, cfg: LoadConfig, workers: list[_Worker], publishers: list[AsyncPublisher]) -> str:
    rate = 0.0
    for w in workers:
        # Receive rate between the worker's last two snapshots, on the worker's own clock.
        now = (w.latest.get("t", 0.0), w.latest.get("rx", 0))
        before = w.previous or now
        if now[0] > before[0]:
            rate += (now[1] - before[1]) * 8 / 1e6 / (now[0] - before[0])
    frames = sum(w.latest.get("frames", 0) for w in workers)
    gaps = sum(w.latest.get("gaps", 0) for w in workers)
    closed = sum(w.latest.get("closed", 0) for w in workers)
    up = sum(w.ready["ok"] for w in workers if w.ready) - closed
    hist = LatencyHistogram()
    for w in workers:
        hist.merge(w.latest.get("hist", {}))
    pct = hist.percentiles((50.0, 99.0))
    sent = sum(p.session.stats.frames for p in publishers)
    lat = (f"lat p50 {pct['p50']:.2f} p99 {pct['p99']:.2f} ms" if pct["p50"] is not None else "lat -")
    return (f"[{t:5.1f}s] players {up}/{cfg.players} | rx {rate:7.1f} Mbit/s | "
            f"frames rx {frames} (pub {sent}) | gaps {gaps} | {lat}")


def _pct(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "max": None}
    v = sorted(values)
    return {"p50": round(v[(len(v) - 1) // 2], 3), "p99": round(v[max(0, math.ceil(len(v) * 0.99) - 1)], 3),
            "max": round(v[-1], 3)}


def _aggregate(cfg: LoadConfig, k: int, names: list[str], media: Any, workers: list[_Worker],
               publishers: list[AsyncPublisher], errors: list[str], wall: float, own_cpu: float,
               server: dict[str, Any], connect_s: float) -> dict[str, Any]:
    by_name = {p.session.name: p.session.stats for p in publishers}
    hist = LatencyHistogram()
    players: list[dict[str, Any]] = []
    exp_frames = rx_frames = missing = gaps = exp_msgs = rx_msgs = 0
    with_drops = closed = 0
    first_frames: list[float] = []
    failed = sum(w.ready["failed"] for w in workers if w.ready)
    failures = [f for w in workers if w.ready for f in w.ready.get("failures", [])]
    worker_cpu = []
    for w in workers:
        assert w.result is not None
        hist.merge(w.result["hist"])
        worker_cpu.append({"cpu_s": w.result["cpu_s"], "wall_s": w.result["wall_s"]})
        for summary, name in zip(w.result["players"], w.result["names"]):
            st = by_name.get(name)
            summary["stream"] = name
            if st is not None and not cfg.idle:
                e_frames = st.frames
                e_msgs = st.video + st.audio
                got = summary["frames"]
                miss = max(0, e_frames - got)
                summary["frames_expected"] = e_frames
                summary["missing"] = miss
                exp_frames += e_frames
                rx_frames += got
                missing += miss
                exp_msgs += e_msgs
                rx_msgs += summary["video"] + summary["audio"]
                with_drops += 1 if miss or summary["seq_gaps"] else 0
            gaps += summary["seq_gaps"]
            closed += 1 if summary["closed"] else 0
            if summary["first_frame_ms"] is not None:
                first_frames.append(summary["first_frame_ms"])
            players.append(summary)
    # Players that never connected lost every frame of their stream.
    if failed and publishers and not cfg.idle:
        per_stream = sum(s.frames for s in by_name.values()) / max(1, len(by_name))
        exp_frames += int(per_stream * failed)
        missing += int(per_stream * failed)
        with_drops += failed
    drop_fraction = missing / exp_frames if exp_frames else 0.0
    rx_bytes = sum(p["bytes"] for p in players)
    gen_cpu = sum(c["cpu_s"] for c in worker_cpu)
    busiest = max((c["cpu_s"] / c["wall_s"] for c in worker_cpu if c["wall_s"] > 0), default=0.0)
    result: dict[str, Any] = {
        "config": asdict(cfg),
        "media": ({"bitrate": media.bitrate, "width": media.width, "height": media.height,
                   "fps": media.frames_per_second, "loop_ms": media.loop_ms} if media else None),
        "duration_s": round(wall, 3),
        "connect_s": round(connect_s, 3),
        "publishers": [p.session.stats.as_dict() for p in publishers],
        "players": {"requested": cfg.players, "connected": len(players), "failed": failed,
                    "closed_early": closed, "with_drops": with_drops, "failures": failures[:5]},
        "frames": {"expected": exp_frames, "received": rx_frames, "missing": missing, "seq_gaps": gaps,
                   "drop_fraction": round(drop_fraction, 6)},
        "messages": {"expected": exp_msgs, "received": rx_msgs},
        "bytes": {"received": rx_bytes, "media": sum(p["media_bytes"] for p in players),
                  "mbit_s": round(rx_bytes * 8 / 1e6 / wall, 1) if wall else None},
        "latency_ms": hist.percentiles(),
        # Each publish's first frames are counted but not timed (start-up, not fan-out).
        "latency_warmup_frames": LATENCY_WARMUP_FRAMES,
        "first_frame_ms": _pct(first_frames),
        "generator": {"procs": k, "worker_cpu": worker_cpu, "cpu_s": round(gen_cpu + own_cpu, 3),
                      "busiest_worker_utilisation": round(busiest, 3),
                      # A worker near a full core measures itself as much as the server.
                      "saturated": busiest > 0.9},
        "errors": errors,
    }
    if server:
        cpu = server.get("cpu_s")
        if cpu is not None and wall and cfg.players:
            server["cpu_s_per_player_s"] = round(cpu / (cfg.players * wall), 9)
            server["utilisation"] = round(cpu / wall, 3)
        if cfg.players and "rss_kib_players_joined" in server:
            server["kib_per_connection_joined"] = round(
                (server["rss_kib_players_joined"] - server["rss_kib_start"]) / cfg.players, 2)
            if "rss_kib_during" in server:
                server["kib_per_connection_playing"] = round(
                    (server["rss_kib_during"] - server["rss_kib_start"]) / cfg.players, 2)
        result["server"] = server
    result["sustained"] = (not cfg.idle and bool(publishers) and failed == 0 and not errors
                           and drop_fraction < MAX_DROP_FRACTION)
    if cfg.per_player:
        result["per_player"] = players
    return result


def run(cfg: LoadConfig, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Synchronous wrapper (own event loop)."""
    return asyncio.run(run_load(cfg, progress))


def stderr_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _worker_main() -> None:
    # Unbuffered, byte by byte: the event loop reads the same fd for commands afterwards.
    spec = json.loads(sys.stdin.buffer.raw.readline())
    loop, sel = arrival_loop()
    try:
        with asyncio.Runner(loop_factory=lambda: loop) as runner:
            runner.run(_worker(spec, sel))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    _worker_main()
