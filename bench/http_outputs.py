"""HTTP outputs: HTTP-FLV fan-out of one 2.5 Mbit/s stream (reference vs node-media-server, one
run, the same generator), and HLS segment availability delay (reference vs nginx-rtmp).

HTTP-FLV fan-out: one real-rate publisher (harness.load: 720p25 H.264 + AAC padded to 2.5 Mbit/s,
keyframe every 2.4 s) publishes; N light HTTP-FLV players (HTTP/1.0 GET, close-delimited body;
only FLV tag headers are walked) join once the stream runs. After a settle second, every player's
video frames are counted over a measuring window against the publish rate; a step is *sustained*
when every player got at least 99.9 % of the frames published in the window (one frame of slack
at each edge). Steps: 25, 50, 100, 200, 400 ... players, stopping at the first step not sustained.
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
import time
from statistics import median
from typing import Any

from bench.common import cpu_seconds, raise_fd_limit, write_result

STEPS = (25, 50, 100, 200, 400, 800)
WINDOW_S = 6.0
SETTLE_S = 1.5
SUSTAIN_FRACTION = 0.999
HLS_SECONDS = 16.0
POLL_S = 0.05


class FlvCounter:
    """Walks an FLV body's tag headers (skipping data by arithmetic): video frames with arrival times."""

    __slots__ = ("buf", "skip", "started", "video_times", "bytes", "error")

    def __init__(self) -> None:
        self.buf = b""
        self.skip = 0
        self.started = False
        self.video_times: list[float] = []
        self.bytes = 0
        self.error: str | None = None

    def feed(self, data: bytes, now: float) -> None:
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
        while len(data) - pos >= 11:
            size = int.from_bytes(data[pos + 1:pos + 4], "big")
            if data[pos] & 0x1F == 9 and len(data) > pos + 12 and data[pos + 12] == 1:  # AVC NALU (not the SH)
                self.video_times.append(now)
            end = pos + 11 + size + 4
            if end > len(data):
                self.skip = end - len(data)
                pos = len(data)
                break
            pos = end
        self.buf = data[pos:]


async def flv_player(host: str, port: int, path: str, counter: FlvCounter, stop: asyncio.Event) -> None:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    except (OSError, asyncio.TimeoutError) as exc:
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
            counter.feed(rest, loop.time())
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
            counter.feed(data, loop.time())
    except (OSError, asyncio.TimeoutError) as exc:
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
        t0, cpu0 = loop.time(), cpu_seconds(pid)
        await asyncio.sleep(WINDOW_S)
        t1, cpu1 = loop.time(), cpu_seconds(pid)
        stop.set()
        await asyncio.wait(tasks, timeout=10)
    finally:
        await pub.stop()
    fps = media.frames_per_second
    expected = fps * (t1 - t0)
    got = [sum(1 for t in c.video_times if t0 <= t < t1) for c in counters]
    errors = [c.error for c in counters if c.error and "closed the body" not in c.error]
    worst = min(got) if got else 0
    sustained = not errors and worst >= expected * SUSTAIN_FRACTION - 2
    cpu = cpu1 - cpu0
    return {"players": players, "sustained": sustained, "frames_expected": round(expected, 1),
            "frames_worst_player": worst, "frames_median_player": median(got) if got else 0,
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
                  f"worst={r['frames_worst_player']}/{r['frames_expected']}", flush=True)
            if not r["sustained"]:
                break
    finally:
        driver.stop()
    best = max((s["players"] for s in steps if s["sustained"]), default=0)
    return {"steps": steps, "max_players_sustained": best}


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
