"""Publish→play latency added by each server at 1, 10 and 100 players, one run, same generator.

The load publisher stamps every video frame with its ``time.time_ns()`` right before the write
(an SEI NAL, harness/load/media.py); a player takes the kernel's receive time of the read that
completes the frame (SO_TIMESTAMPNS, harness/load/player.py StampedSocket; the poll's return time
where the kernel gives none). On loopback the network adds microseconds, so the difference is the
latency the server adds, plus scheduling noise of this shared 2-core machine, and none of the
generator's own time reading a hundred sockets. Figures: p50 and p99 over every frame of every player.
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import write_result
from bench.servers import SERVERS, key, running
from rtmpconf.cliutil import raise_fd_limit
from rtmpconf.harness.load.runner import LoadConfig, run

PLAYER_COUNTS = (1, 10, 100)
SECONDS = 10.0


def main(servers: tuple[str, ...] = tuple(SERVERS), counts: tuple[int, ...] = PLAYER_COUNTS,
         seconds: float = SECONDS) -> dict[str, Any]:
    raise_fd_limit()
    t0 = time.monotonic()
    results: dict[str, list[dict[str, Any]]] = {}
    headline: dict[str, Any] = {}
    for name in servers:
        print(f"== latency: {name}", flush=True)
        rows: list[dict[str, Any]] = []
        try:
            with running(name) as srv:
                for n in counts:
                    r = run(LoadConfig(target=srv.url, players=n, duration=seconds, stream=f"lat{n}",
                                       server_pid=srv.pid))
                    lat = r["latency_ms"]
                    row = {"players": n, "latency_ms": lat, "first_frame_ms": r["first_frame_ms"],
                           "drop_fraction": r["frames"]["drop_fraction"], "sustained": r["sustained"],
                           "server_cores": r.get("server", {}).get("utilisation"),
                           "publisher_max_lateness_ms": max((p["max_lateness_ms"] for p in r["publishers"]),
                                                            default=None)}
                    rows.append(row)
                    print(f"  {name}: {n:4d} players p50 {lat['p50']} ms p99 {lat['p99']} ms "
                          f"max {lat['max']} ms ({lat['count']} frames)", flush=True)
                    headline[f"latency_p50_ms_{n}_players_{key(name)}"] = lat["p50"]
                    headline[f"latency_p99_ms_{n}_players_{key(name)}"] = lat["p99"]
        except Exception as exc:  # noqa: BLE001 - one server failing must not lose the others
            print(f"  {name}: not measured: {exc}", flush=True)
            rows.append({"error": str(exc)})
        results[name] = rows
    write_result("latency", {"seconds_per_point": seconds, "wall_seconds": round(time.monotonic() - t0, 1),
                             "servers": results}, headline)
    try:
        from bench.plot import plot

        plot()
    except Exception as exc:  # noqa: BLE001
        print(f"no plot: {exc}", flush=True)
    return headline


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
