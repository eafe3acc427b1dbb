"""Fan-out of one 2.5 Mbit/s stream to N players on loopback, and memory per idle connection.

Three processes share the 2 cores: the server under test, one load-generator process with all
players (bench/loadgen.py), and the publisher (this process). Every player joins before the
publisher starts, so each must receive exactly the same bytes; a player with fewer bytes than
the best one lost messages (the server dropped it to a keyframe, GOP-8). A step "sustains" N
players when at most 0.1 % of them show a deficit.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from bench.common import ROOT, cpu_seconds, raise_fd_limit, rss_kib, write_result
from harness.client import RtmpClient, Target
from harness.targets import ReferenceServerProcess
from rtmp import media
from rtmp.messages import Audio, Video

STEPS = (50, 100, 200, 350, 500, 700, 1000, 1500, 2000)
STEP_SECONDS = 6.0
BITRATE = 2_500_000


@dataclass(frozen=True)
class Frame:
    type_id: int
    timestamp: int
    payload: bytes


def synthetic_stream(seconds: float, fps: int = 25) -> tuple[bytes, bytes, list[Frame]]:
    """Real sequence headers (PyAV H.264/AAC) plus frames padded to a 2.5 Mbit/s budget."""
    from harness.testmedia import make_h264_aac

    real = make_h264_aac(seconds=1.0)
    assert real.audio_sequence_header is not None
    video_budget = (BITRATE - 128_000) // 8 // fps  # bytes per frame on average
    frames: list[Frame] = []
    blob = os.urandom(200_000)
    n = int(seconds * fps)
    for i in range(n):
        key = i % (2 * fps) == 0
        size = video_budget * 5 if key else int(video_budget * (2 * fps - 5) / (2 * fps - 1))
        frames.append(Frame(9, i * 40, media.build_avc_video(1 if key else 2, 1, 0, blob[:size])))
        for j in range(2 if i % 3 else 1):
            frames.append(Frame(8, i * 40 + 21 * j, media.build_aac_audio(1, blob[:340])))
    return real.video_sequence_header, real.audio_sequence_header, frames


async def publish(target: Target, name: str, seconds: float) -> int:
    vsh, ash, frames = synthetic_stream(seconds)
    sent = 0
    async with RtmpClient(target, label="bench-publisher", timeout=10) as pub:
        await pub.handshake()
        await pub.connect()
        await pub.publish(name)
        await pub.send(Video(vsh), msid=pub.stream_id)
        await pub.send(Audio(ash), msid=pub.stream_id)
        start = time.monotonic()
        for f in frames:
            delay = start + f.timestamp / 1000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await pub.send(Video(f.payload) if f.type_id == 9 else Audio(f.payload), msid=pub.stream_id,
                           timestamp=f.timestamp)
            sent += len(f.payload)
        await pub.command("deleteStream", float(pub.stream_id or 1))
        await asyncio.sleep(0.2)
    return sent


def start_loadgen(port: int, players: int, name: str, idle: bool = False) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "bench.loadgen", "--port", str(port), "--players", str(players), "--name", name]
    if idle:
        args.append("--idle")
    proc = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "READY":
        proc.kill()
        raise RuntimeError(f"load generator failed to start: {line!r}")
    return proc


def finish_loadgen(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate("", timeout=60)
    return json.loads(out.strip().splitlines()[-1])


def fanout_step(server: ReferenceServerProcess, players: int) -> dict[str, Any]:
    assert server.proc is not None
    pid = server.proc.pid
    name = f"fan{players}"
    rss_before = rss_kib(pid)
    lg = start_loadgen(server.port, players, name)
    cpu0 = cpu_seconds(pid)
    t0 = time.monotonic()
    sent = asyncio.run(publish(Target("127.0.0.1", server.port), name, STEP_SECONDS))
    wall = time.monotonic() - t0
    cpu1 = cpu_seconds(pid)
    rss_during = rss_kib(pid)
    time.sleep(1.0)  # let queues drain
    result = finish_loadgen(lg)
    counts = result["bytes"]
    best = max(counts) if counts else 0
    short = [c for c in counts if c < best * 0.999]
    return {
        "players": players, "publish_seconds": round(wall, 2), "payload_bytes_sent": sent,
        "bytes_per_player_max": best, "bytes_per_player_min": min(counts) if counts else 0,
        "players_with_deficit": len(short), "deficit_fraction": round(len(short) / max(1, players), 4),
        "server_cpu_s": round(cpu1 - cpu0, 3),
        "cpu_s_per_player_s": round((cpu1 - cpu0) / (players * wall), 7),
        "server_rss_kib_before": rss_before, "server_rss_kib_during": rss_during,
        "rss_kib_per_playing_connection": round((rss_during - rss_before) / players, 1) if players else 0,
        "sustained": len(short) <= players * 0.001 and best >= sent,
    }


def idle_memory(server: ReferenceServerProcess, conns: int = 500) -> dict[str, Any]:
    assert server.proc is not None
    pid = server.proc.pid
    base = rss_kib(pid)
    lg = start_loadgen(server.port, conns, "idle", idle=True)
    time.sleep(0.5)
    loaded = rss_kib(pid)
    finish_loadgen(lg)
    return {"connections": conns, "rss_kib_before": base, "rss_kib_after": loaded,
            "kib_per_idle_connection": round((loaded - base) / conns, 1)}


def main(steps: tuple[int, ...] = STEPS) -> dict[str, Any]:
    raise_fd_limit()
    server = ReferenceServerProcess(extra_args=())
    server.start()
    try:
        assert server.proc is not None
        idle = idle_memory(server)
        results = []
        best = 0
        for n in steps:
            r = fanout_step(server, n)
            results.append(r)
            print(f"fan-out {n:5d} players: sustained={r['sustained']} deficit={r['players_with_deficit']} "
                  f"cpu/player-s={r['cpu_s_per_player_s']:.2e}", flush=True)
            if not r["sustained"]:
                break
            best = n
    finally:
        server.stop()
    last_ok = next((r for r in reversed(results) if r["sustained"]), results[0])
    headline = {
        "fanout_players_reference": best,
        "cpu_s_per_player_s_reference": last_ok["cpu_s_per_player_s"],
        "idle_kib_per_connection_reference": idle["kib_per_idle_connection"],
        "playing_kib_per_connection_reference": last_ok["rss_kib_per_playing_connection"],
    }
    write_result("fanout_reference", {"stream_bitrate": BITRATE, "step_seconds": STEP_SECONDS,
                                      "idle": idle, "steps": results}, headline)
    return headline


if __name__ == "__main__":
    print(main())
