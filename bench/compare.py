"""Fan-out of one 2.5 Mbit/s stream on reference, nginx-rtmp and node-media-server, one run.

For each server, with the same generator (``harness.load``: light players in one process per
spare core, one real-rate H.264/AAC publisher carrying latency markers):

* memory per idle connection: 500 connected, non-playing sessions, server RSS delta / 500;
* a player sweep (100, 250, 500, ... players; 6 s of publishing each, players joined before
  the publisher): per step the server's CPU seconds over the publishing window, RSS per playing
  connection, frames missing, publish→play latency. The sweep stops at the first step that loses
  0.1 % of the frames or more (after one bisection step between the last good and the first bad
  count), or when the generator process itself was saturated (then more players would measure
  the generator, and the figure is reported as generator-limited);
* CPU per player-second is compared at the largest step *every* server sustained while no
  server used more than 0.75 core (a saturated server falls behind and coalesces, which lowers
  its cost per player without doing the same work), so each server carries the same load when
  its cost is read; players per core = its inverse.

The headline also names the issue's fixed points, from the same sweep: ``cpu_s_per_player_s_750_players_*``
and ``players_per_core_ratio_750_reference_vs_*`` (the 750-player step), and
``latency_p99_ms_100_players_*`` (the 100-player step: latency measured in the same run as the CPU).

Variants of the reference server (bench/servers.py) measure the design choices: ``reference-asyncio``
(asyncio's own event loop instead of uvloop), ``reference-coalesce-1ms``/``-5ms`` (players' writes held
that long, so one send carries several publisher reads: the coalescing/latency trade-off),
``reference-nagle`` (Nagle's algorithm on for every connection, as nginx-rtmp has it),
``reference-nodelay`` (TCP_NODELAY on every connection, streaming players included) and
``nginx-rtmp-nodelay`` (nginx-rtmp with TCP_NODELAY): ``players_per_core_ratio_750_reference_nodelay_vs_nginx_rtmp_nodelay``
and ``..._reference_nagle_vs_nginx_rtmp`` compare the two servers with their sockets alike. (The
reference's default sits between: Nagle on for players in a steady set, config ``steady_nagle``.)

``python -m bench.compare [--servers a,b,...] [--steps 100,750] [--seconds 6]``.

Server, generator and publisher share this machine's cores: numbers are loopback figures of
one run on a possibly busy machine (other jobs add noise; the load average is recorded), not
capacity planning.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from bench.common import write_result
from bench.servers import SERVERS, key, running
from rtmpconf.cliutil import raise_fd_limit
from rtmpconf.harness.load.runner import MAX_DROP_FRACTION, LoadConfig, run

STEPS = (100, 250, 500, 750, 1000, 1500, 2000, 3000)
STEP_SECONDS = 6.0
IDLE_CONNECTIONS = 500
#: A sweep never spends more than this on one server (steps get longer with more players).
SERVER_BUDGET_S = 150.0


def compact(r: dict[str, Any]) -> dict[str, Any]:
    """The figures of one load run that the comparison keeps."""
    srv = r.get("server", {})
    return {
        "players": r["config"]["players"],
        "sustained": r["sustained"],
        "drop_fraction": r["frames"]["drop_fraction"],
        "frames_expected": r["frames"]["expected"],
        "frames_missing": r["frames"]["missing"],
        "players_failed": r["players"]["failed"],
        "players_closed": r["players"]["closed_early"],
        "latency_ms": {k: r["latency_ms"][k] for k in ("p50", "p90", "p99", "max", "count")},
        "first_frame_ms_p50": r["first_frame_ms"]["p50"],
        "latency_warmup_frames": r.get("latency_warmup_frames", 0),
        "publish_seconds": r["duration_s"],
        "connect_seconds": r["connect_s"],
        "server_cpu_s": srv.get("cpu_s"),
        "server_cores": srv.get("utilisation"),
        "cpu_s_per_player_s": srv.get("cpu_s_per_player_s"),
        "rss_kib_during": srv.get("rss_kib_during"),
        "kib_per_connection_playing": srv.get("kib_per_connection_playing"),
        # The players' processes over the same window: on loopback the kernel work of delivering a
        # segment runs in whichever process transmits it, so a server that leaves Nagle on (its
        # held data leaves when the player's acknowledgement arrives, in the player's process)
        # moves part of its cost here.
        "generator_cpu_s": r["generator"]["cpu_s"],
        "generator_busiest_worker": r["generator"]["busiest_worker_utilisation"],
        "generator_saturated": r["generator"]["saturated"],
        "received_mbit_s": r["bytes"]["mbit_s"],
        "errors": r["errors"][:3],
    }


def load_step(url: str, pid: int, players: int, seconds: float, stream: str) -> dict[str, Any]:
    try:
        return compact(run(LoadConfig(target=url, players=players, duration=seconds, stream=stream,
                                      server_pid=pid)))
    except Exception as exc:  # noqa: BLE001 - a failed step is a result (the server gave up)
        return {"players": players, "sustained": False, "error": f"{type(exc).__name__}: {exc}"}


def idle_memory(url: str, pid: int, conns: int = IDLE_CONNECTIONS) -> dict[str, Any]:
    r = run(LoadConfig(target=url, players=conns, duration=1.0, idle=True, server_pid=pid))
    srv = r["server"]
    return {"connections": conns, "connected": r["players"]["connected"],
            "rss_kib_before": srv["rss_kib_start"], "rss_kib_after": srv["rss_kib_players_joined"],
            "kib_per_idle_connection": srv["kib_per_connection_joined"]}


#: The fixed points of the issue: CPU compared at 750 players, latency at 100.
CPU_POINT, LATENCY_POINT = 750, 100


def sweep(name: str, steps: tuple[int, ...] = STEPS, seconds: float = STEP_SECONDS,
          log: Any = print) -> dict[str, Any]:
    """Idle memory, then players up to the first unsustained step, for one server."""
    with running(name) as srv:
        idle = idle_memory(srv.url, srv.pid)
        log(f"  {name}: {idle['kib_per_idle_connection']} KiB per idle connection")
        results: list[dict[str, Any]] = []
        best, bad, limited = 0, 0, "steps"
        t0 = time.monotonic()

        def one(n: int) -> dict[str, Any]:
            load = os.getloadavg()[0]
            r = load_step(srv.url, srv.pid, n, seconds, f"fan{n}")
            r["load_average_before"] = round(load, 2)
            results.append(r)
            lat = r.get("latency_ms", {})
            log(f"  {name}: {n:5d} players sustained={r['sustained']} drops={r.get('drop_fraction')} "
                f"cpu/player-s={r.get('cpu_s_per_player_s')} cores={r.get('server_cores')} "
                f"lat p50/p99={lat.get('p50')}/{lat.get('p99')} ms gen={r.get('generator_busiest_worker')}"
                + (f" error={r['error']}" if "error" in r else ""))
            return r

        for n in steps:
            r = one(n)
            if not r["sustained"]:
                bad = n
                limited = "drops"
                break
            best = n
            if r.get("generator_saturated"):
                limited = "generator"
                break
            if not srv.driver.alive():
                limited = "server exited"
                break
            if time.monotonic() - t0 > SERVER_BUDGET_S:
                limited = "time budget"
                break
        if bad and best and srv.driver.alive():
            mid = (best + bad) // 2
            if mid not in (best, bad) and bad - best >= 100:
                r = one(mid)
                if r["sustained"]:
                    best = mid
    return {"server": name, "idle": idle, "steps": sorted(results, key=lambda r: r["players"]),
            "max_players_sustained": best, "limited_by": limited}


#: A server busier than this (cores) is near saturation: it falls behind and coalesces, so its
#: CPU per player-second no longer measures the cost of the work.
MAX_COMPARE_CORES = 0.75


def compare_point(per_server: dict[str, dict[str, Any]]) -> int | None:
    """Players at which costs are compared: the largest step that every server sustained with
    neither it nor the generator saturated; failing that, the largest step all sustained."""
    def ok(s: dict[str, Any], strict: bool) -> bool:
        return bool(s.get("sustained")) and (not strict or (
            (s.get("server_cores") or 0) <= MAX_COMPARE_CORES and not s.get("generator_saturated")))

    for strict in (True, False):
        sets = [{s["players"] for s in r["steps"] if ok(s, strict)} for r in per_server.values()]
        if sets and all(sets):
            common = set.intersection(*sets)
            if common:
                return max(common)
    return None


def headline_from(per_server: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """summary.json figures from the per-server sweeps."""
    common_players = compare_point(per_server)
    headline: dict[str, Any] = {"cpu_compare_players": common_players}
    cost: dict[str, float] = {}
    for name, r in per_server.items():
        k = key(name)
        headline[f"fanout_players_{k}"] = r.get("max_players_sustained", 0)
        headline[f"fanout_limited_by_{k}"] = r.get("limited_by")
        if "idle" in r:
            headline[f"idle_kib_per_connection_{k}"] = r["idle"]["kib_per_idle_connection"]
        at = next((s for s in r["steps"] if s["players"] == common_players), None)
        if at is not None and at.get("cpu_s_per_player_s"):
            cost[name] = at["cpu_s_per_player_s"]
            headline[f"cpu_s_per_player_s_{k}"] = at["cpu_s_per_player_s"]
            headline[f"players_per_core_{k}"] = round(1 / at["cpu_s_per_player_s"])
            headline[f"playing_kib_per_connection_{k}"] = at.get("kib_per_connection_playing")
    if "reference" in cost:
        for other in ("nginx-rtmp", "node-media-server"):
            if other in cost:
                # Players per core of the reference relative to the other server (>1 = cheaper).
                headline[f"players_per_core_ratio_reference_vs_{key(other)}"] = round(
                    cost[other] / cost["reference"], 3)
    at_point: dict[str, float] = {}
    for name, r in per_server.items():
        k = key(name)
        for s in r.get("steps", []):
            if s["players"] == CPU_POINT and s.get("sustained") and s.get("cpu_s_per_player_s"):
                at_point[name] = s["cpu_s_per_player_s"]
                headline[f"cpu_s_per_player_s_{CPU_POINT}_players_{k}"] = s["cpu_s_per_player_s"]
            if s["players"] == LATENCY_POINT and s.get("latency_ms", {}).get("p99") is not None:
                headline[f"latency_p99_ms_{LATENCY_POINT}_players_{k}"] = s["latency_ms"]["p99"]
                headline[f"latency_p50_ms_{LATENCY_POINT}_players_{k}"] = s["latency_ms"]["p50"]
    if "reference" in at_point:
        for other in ("nginx-rtmp", "node-media-server", "reference-asyncio"):
            if other in at_point:
                headline[f"players_per_core_ratio_{CPU_POINT}_reference_vs_{key(other)}"] = round(
                    at_point[other] / at_point["reference"], 3)
    # The same comparison with both servers' sockets alike (bench/servers.py): both sending at once
    # (TCP_NODELAY on every connection: the reference with steady_nagle = false, nginx-rtmp through
    # a shim), or both with Nagle on everywhere (nginx-rtmp's default, the reference with
    # tcp_nodelay = false).
    for ours, theirs in (("reference-nodelay", "nginx-rtmp-nodelay"), ("reference-nagle", "nginx-rtmp")):
        if ours in at_point and theirs in at_point:
            headline[f"players_per_core_ratio_{CPU_POINT}_{key(ours)}_vs_{key(theirs)}"] = round(
                at_point[theirs] / at_point[ours], 3)
    return headline


#: What ``python -m bench.compare`` (and ``python -m bench``) measures by default: the three servers and
#: the reference server's event-loop variant.
DEFAULT_SERVERS = (*SERVERS, "reference-asyncio")


def main(servers: tuple[str, ...] = DEFAULT_SERVERS, steps: tuple[int, ...] = STEPS,
         seconds: float = STEP_SECONDS) -> dict[str, Any]:
    raise_fd_limit()
    t0 = time.monotonic()
    per_server: dict[str, dict[str, Any]] = {}
    for name in servers:
        print(f"== fan-out sweep: {name}", flush=True)
        try:
            per_server[name] = sweep(name, steps, seconds)
        except Exception as exc:  # noqa: BLE001 - one server failing to start must not lose the others
            print(f"  {name}: not measured: {exc}", flush=True)
            per_server[name] = {"server": name, "error": str(exc), "steps": [], "max_players_sustained": 0}

    headline = headline_from(per_server)
    data = {"stream_bitrate": 2_500_000, "step_seconds": seconds, "idle_connections": IDLE_CONNECTIONS,
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "max_drop_fraction": MAX_DROP_FRACTION, "wall_seconds": round(time.monotonic() - t0, 1),
            "servers": per_server}
    write_result("compare", data, headline)
    try:
        from bench.plot import plot

        headline_path = plot()
        print(f"plot: {headline_path}", flush=True)
    except Exception as exc:  # noqa: BLE001 - a missing matplotlib must not lose the numbers
        print(f"no plot: {exc}", flush=True)
    return headline


def _cli() -> dict[str, Any]:
    from bench.servers import VARIANTS

    p = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("--servers", default=",".join(DEFAULT_SERVERS),
                   help=f"comma list of {', '.join([*SERVERS, *VARIANTS])}")
    p.add_argument("--steps", default=",".join(map(str, STEPS)), help="player counts, ascending")
    p.add_argument("--seconds", type=float, default=STEP_SECONDS, help="publishing time per step")
    a = p.parse_args()
    names = tuple(n.strip() for n in a.servers.split(",") if n.strip())
    unknown = [n for n in names if n not in SERVERS and n not in VARIANTS]
    if unknown:
        p.error(f"unknown server(s): {', '.join(unknown)}")
    try:
        steps = tuple(int(x) for x in a.steps.split(","))
    except ValueError:
        p.error(f"--steps: expected numbers like 100,750, got {a.steps!r}")
    return main(names, steps, a.seconds)


if __name__ == "__main__":
    import json

    print(json.dumps(_cli(), indent=2))
