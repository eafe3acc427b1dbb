"""Player-side process for ad-hoc fan-out experiments (the benchmarks use harness.load.runner).

``python -m bench.loadgen --port P --players N --name S [--idle]``: opens N light players (or
N idle connected sessions), prints ``READY`` once all are connected, then runs until standard
input closes and prints one JSON line with per-player byte counts (and frame/latency figures).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from rtmpconf.cliutil import raise_fd_limit
from rtmpconf.harness.load.player import PlayerPool


async def main(args: argparse.Namespace) -> None:
    raise_fd_limit()
    pool = PlayerPool(args.host, args.port, "live", args.name)
    await pool.open(args.players, idle=args.idle)
    await asyncio.sleep(0.5)
    print("READY", flush=True)
    await loop_until_stdin_closes()
    counts = [p.stats.bytes for p in pool.players]
    closed = sum(1 for p in pool.players if p.stats.closed)
    frames = [p.scanner.frames for p in pool.players]
    pool.close()
    print(json.dumps({"bytes": counts, "closed": closed, "frames": frames,
                      "latency_ms": pool.histogram.percentiles()}), flush=True)


async def loop_until_stdin_closes() -> None:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--players", type=int, required=True)
    p.add_argument("--name", default="bench")
    p.add_argument("--idle", action="store_true")
    asyncio.run(main(p.parse_args()))
