"""``rtmpconf load``: players and publishers against a target, a progress line, a JSON result."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from rtmpconf.cliutil import non_negative_int, positive_float, rtmp_url

from rtmpconf.harness.load.media import DEFAULT_BITRATE


def register(subparsers: argparse._SubParsersAction) -> dict[str, Callable[[argparse.Namespace], int]]:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "load", help="load test: N light players, M real-rate publishers, JSON result",
        description="N players (minimal RTMP play, counting bytes, messages, keyframes and latency "
                    "markers) and M publishers (real H.264/AAC looped at real rate) against a target. "
                    "Prints a progress line each second on stderr and the JSON result on stdout. "
                    "Exit code 0 iff the load was sustained (fewer than 0.1% of frames missing).")
    p.add_argument("--target", required=True, type=rtmp_url, help="rtmp://host[:port]/app")
    p.add_argument("--players", type=non_negative_int, default=10, help="players (default 10)")
    p.add_argument("--publishers", type=non_negative_int, default=1,
                   help="publishers, each its own stream; players are spread round-robin (default 1; "
                        "0 = play a stream someone else publishes, no latency/expected counts)")
    p.add_argument("--duration", type=positive_float, default=10.0, help="seconds of publishing (default 10)")
    p.add_argument("--stream", default="load", help="stream name, or prefix with several publishers")
    p.add_argument("--procs", type=int, default=0, help="player processes (default: auto from cores)")
    p.add_argument("--bitrate", type=int, default=DEFAULT_BITRATE, help="stream bitrate, bit/s (default 2.5M)")
    p.add_argument("--concurrency", type=int, default=64, help="connections being set up at once")
    p.add_argument("--drain", type=float, default=1.0, help="seconds to wait after the publishers stop")
    p.add_argument("--idle", action="store_true", help="players only connect (no play, no publishers)")
    p.add_argument("--server-pid", type=int, default=None, help="also measure this server process's CPU/RSS")
    p.add_argument("--json", dest="json_out", default=None, help="also write the result to this file")
    p.add_argument("--per-player", action="store_true", help="include every player's figures")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    return {"load": run_command}


def run_command(args: argparse.Namespace) -> int:
    from rtmpconf.harness.load.runner import LoadConfig, run, stderr_progress

    cfg = LoadConfig(
        target=args.target, players=args.players, publishers=args.publishers, duration=args.duration,
        stream=args.stream, procs=args.procs, bitrate=args.bitrate, connect_concurrency=args.concurrency,
        drain=args.drain, idle=args.idle, server_pid=args.server_pid, per_player=args.per_player,
    )
    try:
        result = run(cfg, None if args.quiet else stderr_progress)
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"error: load run failed: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(result, indent=2)
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(text)
    print(text)
    if not args.quiet:
        f, lat = result["frames"], result["latency_ms"]
        warmup = result.get("latency_warmup_frames", 0)
        timed = (f"latency p50 {lat['p50']} p99 {lat['p99']} ms" if lat.get("p50") is not None
                 else "no frame timed")
        if warmup:
            timed += f" (each publish's first {warmup} frames untimed)"
        print(f"[load] frames {f['received']}/{f['expected']} missing {f['missing']} "
              f"({f['drop_fraction'] * 100:.3f}%) | {timed} | sustained={result['sustained']}", file=sys.stderr)
    if cfg.idle or cfg.publishers == 0:
        return 0 if not result["players"]["failed"] else 1
    return 0 if result["sustained"] else 1
