"""Relay reconnect figures: how long an edge's players go without media when the origin or the
edge itself is killed (SIGKILL) and restarted.

Three reference server processes' worth of setup on loopback: an origin, an edge pulling from it
(``[[relay.pull]]``), a publisher sending H.264/AAC in real time to the origin, a player at the edge.

* origin killed: the origin is SIGKILLed and restarted on its port; the publisher republishes as
  soon as it accepts. Measured: republish -> first video keyframe at the (still connected) edge
  player (the edge's pull reconnect with backoff), and kill -> that frame (the whole outage).
* edge killed: the edge is SIGKILLed and restarted; a player reconnects as soon as it accepts.
  Measured: edge listening -> first video keyframe at the new player (pull on demand + GOP).

Writes ``reports/bench/relay_reconnect.json``; headline ``relay_origin_kill_gap_s``,
``relay_edge_restart_to_frame_s`` (medians).
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import write_result

ROUNDS = int(os.environ.get("RELAY_BENCH_ROUNDS", "3"))
DEADLINE_S = 30.0


def _server(port: int, config: str | None = None) -> Any:
    from rtmpconf.harness.targets import ReferenceServerProcess

    proc = ReferenceServerProcess(config=config, extra_args=("--port", str(port), "--log-level", "WARNING"))
    proc.start()
    return proc


def _kill(proc: Any) -> None:
    if proc.proc is not None and proc.proc.poll() is None:
        os.kill(proc.proc.pid, signal.SIGKILL)
        proc.proc.wait(5)
    proc.proc = None


async def _publisher(port: int, name: str) -> tuple[Any, asyncio.Task[None]]:
    from rtmpconf.harness.client import RtmpClient, Target
    from rtmpconf.harness.scenarios import publish_stream
    from rtmpconf.harness.testmedia import make_h264_aac

    stream = make_h264_aac(seconds=60.0, gop=25)
    pub = RtmpClient(Target("127.0.0.1", port), label="publisher")
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            await pub.open()
            break
        except (OSError, Exception):  # noqa: BLE001 - the origin is still starting
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)
    await publish_stream(pub, name, stream=stream, until_ms=0)
    task = asyncio.create_task(pub.publish_media(stream.tags, realtime=True))
    return pub, task


async def _first_keyframe(player: Any, after: float) -> float:
    """Monotonic time of the first video keyframe the player receives after ``after``."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        for ev in await player.collect(0.05):
            p = ev.raw.payload
            if ev.raw.type_id == 9 and len(p) > 1 and p[0] >> 4 == 1 and p[1] == 1 and time.monotonic() >= after:
                return time.monotonic()
    raise TimeoutError("no keyframe at the edge player")


async def _player(port: int, name: str) -> Any:
    from rtmpconf.harness.client import RtmpClient, Target

    deadline = time.monotonic() + DEADLINE_S
    while True:
        p = RtmpClient(Target("127.0.0.1", port), label="edge player", timeout=10.0)
        try:
            await p.open()
            await p.handshake()
            await p.connect()
            await p.play(name)
            return p
        except Exception:  # noqa: BLE001 - the edge is still starting
            await p.close()
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)


async def _round(work: Path, i: int) -> dict[str, float]:
    from rtmpconf.harness.peers.servers import free_port

    o_port, e_port = free_port(), free_port()
    conf = work / f"edge{i}.toml"
    conf.write_text(f'[[relay.pull]]\norigins = ["rtmp://127.0.0.1:{o_port}/live"]\nidle_close_s = 5.0\n')
    origin = _server(o_port)
    edge = _server(e_port, str(conf))
    name = f"bench{i}"
    try:
        pub, feeder = await _publisher(o_port, name)
        player = await _player(e_port, name)
        await _first_keyframe(player, 0.0)
        # -- origin killed and restarted
        t_kill = time.monotonic()
        _kill(origin)
        feeder.cancel()
        await pub.close()
        origin = _server(o_port)
        pub, feeder = await _publisher(o_port, name)
        t_pub = time.monotonic()
        t_frame = await _first_keyframe(player, t_pub)
        await player.close()
        # -- edge killed and restarted
        _kill(edge)
        t_edge0 = time.monotonic()
        edge = _server(e_port, str(conf))
        t_edge_up = time.monotonic()
        player = await _player(e_port, name)
        t_edge_frame = await _first_keyframe(player, t_edge_up)
        await player.close()
        feeder.cancel()
        await pub.close()
        return {"origin_republish_to_frame_s": t_frame - t_pub, "origin_kill_to_frame_s": t_frame - t_kill,
                "edge_restart_s": t_edge_up - t_edge0, "edge_up_to_frame_s": t_edge_frame - t_edge_up}
    finally:
        _kill(origin)
        _kill(edge)


def main() -> dict[str, Any]:
    rounds: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="rtmpconf-relay-bench-") as tmp:
        for i in range(ROUNDS):
            rounds.append(asyncio.run(_round(Path(tmp), i)))
    keys = rounds[0].keys()
    med = {k: round(statistics.median(r[k] for r in rounds), 3) for k in keys}
    worst = {k: round(max(r[k] for r in rounds), 3) for k in keys}
    headline = {"relay_origin_kill_gap_s": med["origin_republish_to_frame_s"],
                "relay_edge_restart_to_frame_s": med["edge_up_to_frame_s"]}
    write_result("relay_reconnect", {"rounds": rounds, "median": med, "max": worst,
                                     "note": "GOP 1 s (25 frames at 25 fps); backoff starts at 0.5 s"}, headline)
    return headline


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
