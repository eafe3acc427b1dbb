"""HTTP outputs: HTTP-FLV fan-out of one 2.5 Mbit/s stream (reference vs node-media-server, one
run, the same generator), and HLS segment availability delay (reference vs nginx-rtmp).

HTTP-FLV fan-out: one real-rate publisher (harness.load: 720p25 H.264 + AAC padded to 2.5 Mbit/s,
keyframe every 2.4 s) publishes; N light HTTP-FLV players (HTTP/1.0 GET, close-delimited body;
only FLV tag headers and each video frame's latency marker are read) join once the stream runs.
After a settle time, the frames each player receives in a measuring window are checked by the
sequence numbers of the load publisher's markers; a step is *sustained* when less than 0.1 % are
missing and the players together received at least 95 % of what was published in the window
(they keep up); publish->play latency comes from the markers' send times. Steps: 25, 50, 100, 200, 400 ... players, stopping at the first step not sustained
or when the player process itself used most of a core (then the count is the generator's limit,
reported as such, and a floor for the server).
Server CPU seconds over the window / (players x window) = CPU per player-second, compared at the
largest step both servers sustained.

HLS availability delay: the publisher sends at real rate; the playlist is polled every 50 ms; a
segment is available when it is first listed. Its end in media time is the sum of the EXTINF
values before it plus its own (segment 0 starts at the first keyframe, media time 0), so
``listed - (publish start + segment end)`` is how long after the keyframe that closed the segment
it became available (the cut waits for that keyframe; everything after is the server's delay).

Server, players and publisher share this machine's cores: loopback figures of one run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from statistics import median
from typing import Any

from bench.common import cpu_seconds, write_result
from rtmpconf.cliutil import raise_fd_limit

STEPS = (25, 50, 100, 200, 400, 800)
WINDOW_S = 6.0
SETTLE_S = 1.5
SUSTAIN_FRACTION = 0.999
#: Players together must receive this share of the frames published in the window.
KEEP_UP_FRACTION = 0.95
#: The player process at this many cores is the bottleneck: the sweep stops, the figure is a floor.
GENERATOR_SATURATED = 0.85
HLS_SECONDS = 16.0
POLL_S = 0.05


class FlvCounter:
    """Walks an FLV body's tag headers, reading only each video frame's latency marker (the load
    publisher's SEI: send time and sequence number) and skipping the rest by arithmetic."""

    __slots__ = ("buf", "bytes", "error", "latencies_ms", "seqs", "skip", "started", "times")

    def __init__(self) -> None:
        self.buf = b""
        self.skip = 0
        self.started = False
        self.seqs: list[int] = []
        self.times: list[float] = []
        self.latencies_ms: list[float] = []
        self.bytes = 0
        self.error: str | None = None

    def feed(self, data: bytes, now: float, wall_ns: int) -> None:
        from rtmpconf.harness.load.media import (
            MARKER_PEEK,
            MARKER_PREFIX,
            MARKER_PREFIX_AT,
            MARKER_SEQ_AT,
            MARKER_TIME_AT,
        )

        self.bytes += len(data)
        if self.skip >= len(data):
            self.skip -= len(data)
            return
        data = self.buf + data[self.skip:]
        self.skip = 0
        pos = 0
        if not self.started:
            if len(data) < 13:
                self.buf = data
                return
            pos = 13
            self.started = True
        n = len(data)
        while n - pos >= 11:
            size = int.from_bytes(data[pos + 1:pos + 4], "big")
            body = pos + 11
            if data[pos] & 0x1F == 9 and size >= MARKER_PEEK:
                if n - body < MARKER_PEEK:
                    break  # wait for the marker bytes
                if data[body + 1] == 1 and data[body + MARKER_PREFIX_AT:body + MARKER_TIME_AT] == MARKER_PREFIX:
                    self.seqs.append(int(data[body + MARKER_SEQ_AT + 2:body + MARKER_SEQ_AT + 8], 16))
                    self.times.append(now)
                    sent = int(data[body + MARKER_TIME_AT:body + MARKER_TIME_AT + 16], 16)
                    self.latencies_ms.append((wall_ns - sent) / 1e6)
            end = body + size + 4
            if end > n:
                self.skip = end - n
                pos = n
                break
            pos = end
        self.buf = data[pos:]

    def missing(self, t0: float, t1: float) -> tuple[int, int]:
        """(frames expected, frames missing) by sequence number over frames that arrived in [t0, t1)."""
        seqs = sorted({s for s, t in zip(self.seqs, self.times) if t0 <= t < t1})
        if not seqs:
            return 0, 0
        want = seqs[-1] - seqs[0] + 1
        return want, want - len(seqs)


async def flv_player(host: str, port: int, path: str, counter: FlvCounter, stop: asyncio.Event) -> None:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    except (TimeoutError, OSError) as exc:
        counter.error = f"connect: {exc}"
        return
    writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
    head = b""
    try:
        while b"\r\n\r\n" not in head:
            chunk = await asyncio.wait_for(reader.read(4096), 10)
            if not chunk:
                counter.error = "closed before the response head"
                return
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
            counter.error = head.split(b"\r\n", 1)[0].decode(errors="replace")
            return
        loop = asyncio.get_running_loop()
        if rest:
            counter.feed(rest, loop.time(), time.time_ns())
        while not stop.is_set():
            read = asyncio.ensure_future(reader.read(262144))
            waiter = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({read, waiter}, timeout=WINDOW_S + 10, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if read not in done:
                read.cancel()
                break
            data = read.result()
            if not data:
                counter.error = counter.error or "server closed the body"
                break
            counter.feed(data, loop.time(), time.time_ns())
    except (TimeoutError, OSError) as exc:
        counter.error = f"{type(exc).__name__}: {exc}"
    finally:
        writer.close()


async def flv_step(rtmp_port: int, http_port: int, pid: int, players: int, path_of: Any) -> dict[str, Any]:
    from rtmpconf.harness.load.media import load_media
    from rtmpconf.harness.load.publisher import open_publisher

    media = load_media()
    name = f"fan{players}"
    pub = await open_publisher("127.0.0.1", rtmp_port, "live", name, media)
    stop = asyncio.Event()
    counters = [FlvCounter() for _ in range(players)]
    try:
        await asyncio.sleep(0.5)
        tasks = [asyncio.create_task(flv_player("127.0.0.1", http_port, path_of(name), c, stop)) for c in counters]
        loop = asyncio.get_running_loop()
        await asyncio.sleep(SETTLE_S)
        t0, cpu0, gen0 = loop.time(), cpu_seconds(pid), cpu_seconds(os.getpid())
        await asyncio.sleep(WINDOW_S)
        t1, cpu1, gen1 = loop.time(), cpu_seconds(pid), cpu_seconds(os.getpid())
        stop.set()
        await asyncio.wait(tasks, timeout=10)
    finally:
        await pub.stop()
    fps = media.frames_per_second
    expected = fps * (t1 - t0)
    per_player = [c.missing(t0, t1) for c in counters]
    want = sum(w for w, _ in per_player)
    lost = sum(m for _, m in per_player)
    errors = [c.error for c in counters if c.error and "closed the body" not in c.error]
    starved = sum(1 for w, _ in per_player if w < expected * 0.5)  # got far fewer frames than published
    # Keeping up: no frame lost (by sequence number) and the players together received what was
    # published in the window (a generator or server that falls behind shows up here first).
    keeps_up = want >= KEEP_UP_FRACTION * expected * players
    sustained = not errors and not starved and keeps_up and want > 0 and lost / want < 1 - SUSTAIN_FRACTION
    lat = sorted(x for c in counters for x, t in zip(c.latencies_ms, c.times) if t0 <= t < t1)
    cpu = cpu1 - cpu0
    gen = (gen1 - gen0) / (t1 - t0)
    return {"players": players, "sustained": sustained, "generator_cores": round(gen, 3),
            "generator_saturated": gen >= GENERATOR_SATURATED, "frames_expected": round(expected, 1),
            "frames_in_window": want, "frames_missing": lost, "players_starved": starved,
            "latency_ms_p50": round(lat[len(lat) // 2], 1) if lat else None,
            "latency_ms_p99": round(lat[int(len(lat) * 0.99)], 1) if lat else None,
            "server_cpu_s": round(cpu, 3), "server_cores": round(cpu / (t1 - t0), 3),
            "cpu_s_per_player_s": round(cpu / (players * (t1 - t0)), 6),
            "received_mbit_s": round(sum(c.bytes for c in counters) * 8 / 1e6 / (t1 - t0 + SETTLE_S), 1),
            "errors": errors[:3]}


def flv_sweep(server: str) -> dict[str, Any]:
    from rtmpconf.harness.peers.servers import NodeMediaServer
    from rtmpconf.harness.targets import ReferenceServerProcess

    driver: Any = (ReferenceServerProcess(extra_args=("--log-level", "WARNING")) if server == "reference"
                   else NodeMediaServer())
    target = driver.start()
    steps = []
    try:
        for n in STEPS:
            r = asyncio.run(flv_step(target.port, driver.http_port, driver.proc.pid, n,
                                     lambda name: f"/live/{name}.flv"))
            steps.append(r)
            print(f"   {server} http-flv {n:4d} players: sustained={r['sustained']} cores={r['server_cores']} "
                  f"generator={r['generator_cores']} missing={r['frames_missing']}/{r['frames_in_window']} "
                  f"latency p50={r['latency_ms_p50']} ms",
                  flush=True)
            if not r["sustained"] or r["generator_saturated"]:
                break
    finally:
        driver.stop()
    best = max((s["players"] for s in steps if s["sustained"]), default=0)
    last = steps[-1] if steps else {}
    if last.get("generator_saturated"):
        limit = "generator (one process reading every player's body)"
    elif last.get("server_cores", 0) >= GENERATOR_SATURATED:
        limit = "server (a core busy)"
    else:
        limit = "neither process reached a core: CPU shared with other work on this machine"
    return {"steps": steps, "max_players_sustained": best, "limit": limit,
            "load_average": os.getloadavg()[0]}


async def hls_delay(rtmp_port: int, playlist_url: str) -> dict[str, Any]:
    from rtmpconf.harness.http.client import http_get
    from rtmpconf.harness.http.m3u8 import parse_m3u8
    from rtmpconf.harness.load.media import load_media
    from rtmpconf.harness.load.publisher import open_publisher

    media = load_media()
    name = playlist_url.rsplit("/", 1)[1].split(".")[0]
    pub = await open_publisher("127.0.0.1", rtmp_port, "live", name, media)
    start = pub.session.stats.publishing_since_ns / 1e9
    listed: dict[int, float] = {}
    durations: dict[int, float] = {}
    try:
        end = time.time() + HLS_SECONDS
        while time.time() < end:
            with contextlib.suppress(Exception):
                resp = await http_get(playlist_url, timeout=2.0)
                now = time.time()
                if resp.status == 200:
                    pl = parse_m3u8(resp.body)
                    for seg in pl.segments:
                        durations.setdefault(seg.seq, seg.duration)
                        listed.setdefault(seg.seq, now)
            await asyncio.sleep(POLL_S)
    finally:
        await pub.stop()
    delays = []
    seqs = sorted(durations)
    acc = 0.0
    for s in seqs:
        acc += durations[s]
        if s == seqs[0]:
            continue  # listed at the first poll, maybe long after it was cut
        delays.append(round((listed[s] - (start + acc)) * 1000, 1))
    return {"segments": len(seqs), "delay_ms": delays,
            "delay_ms_p50": median(delays) if delays else None, "delay_ms_max": max(delays) if delays else None,
            "extinf": [durations[s] for s in seqs]}


def hls_run(server: str) -> dict[str, Any]:
    from rtmpconf.harness.peers.servers import NginxRtmp
    from rtmpconf.harness.targets import ReferenceServerProcess

    driver: Any = (ReferenceServerProcess(extra_args=("--log-level", "WARNING")) if server == "reference"
                   else NginxRtmp(hls=True))
    target = driver.start()
    try:
        return asyncio.run(hls_delay(target.port, f"http://127.0.0.1:{driver.http_port}/hls/avail.m3u8"))
    finally:
        driver.stop()


def main() -> dict[str, Any]:
    raise_fd_limit()
    fanout = {s: flv_sweep(s) for s in ("reference", "node-media-server")}
    both = [n for n in STEPS if all(any(st["players"] == n and st["sustained"] for st in r["steps"])
                                    for r in fanout.values())]
    at = max(both) if both else None
    cost = {s: next((st["cpu_s_per_player_s"] for st in r["steps"] if st["players"] == at), None)
            for s, r in fanout.items()}
    hls = {s: hls_run(s) for s in ("reference", "nginx-rtmp")}
    for s, r in hls.items():
        print(f"   {s} hls: segments {r['segments']}, availability delay p50 {r['delay_ms_p50']} ms, "
              f"max {r['delay_ms_max']} ms", flush=True)
    headline = {
        "http_flv_max_players_reference": fanout["reference"]["max_players_sustained"],
        "http_flv_max_players_node_media_server": fanout["node-media-server"]["max_players_sustained"],
        "http_flv_limit_reference": fanout["reference"]["limit"],
        "http_flv_limit_node_media_server": fanout["node-media-server"]["limit"],
        "http_flv_cpu_s_per_player_s_compared_at": at,
        "http_flv_cpu_s_per_player_s_reference": cost["reference"],
        "http_flv_cpu_s_per_player_s_node_media_server": cost["node-media-server"],
        "hls_availability_delay_ms_p50_reference": hls["reference"]["delay_ms_p50"],
        "hls_availability_delay_ms_p50_nginx_rtmp": hls["nginx-rtmp"]["delay_ms_p50"],
    }
    write_result("http_outputs", {"http_flv_fanout": fanout, "compared_at_players": at, "hls_availability": hls},
                 headline)
    return headline


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
