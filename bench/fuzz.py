"""Fuzz the reference server with whole sessions; JSON in reports/bench/fuzz.json.

The state machine of ``tests/fuzz/model.py`` (hypothesis): up to four clients per session with
handshake variants, every chunk form, commands, media, control messages, Abort, garbage, bursts,
abrupt closes and timers. In-process sessions drive ``ServerSession`` through a fake transport
(fast; run in batches so hypothesis' own state stays small); TCP sessions drive a real
``python -m rtmpconf.reference_server`` process. A failure is recorded with hypothesis' shrunk steps
and the run goes on with the next batch.

Targets (issue 10): >= 10^5 sessions, 0 uncaught exceptions, server RSS <= 64 MiB + 1 MiB per
connection, a fresh client answered after every session (checked by the machine itself).

    python -m bench.fuzz [--sessions 100000] [--socket-sessions 300] [--batch 2000]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench.common import ROOT, write_result

SESSIONS = 100_000
SOCKET_SESSIONS = 300
BATCH = 2_000
STEPS = 20


def _settings(examples: int, steps: int, *, shrink: bool) -> Any:
    from hypothesis import HealthCheck, Phase, settings

    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else [])
    return settings(max_examples=examples, stateful_step_count=steps, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck), phases=phases, print_blob=True)


def _run_batch(run: Any, crashes: list[dict[str, Any]]) -> None:
    """Run one batch; a failure becomes a crash record with hypothesis' report (the shrunk steps)."""
    from hypothesis.reporting import with_reporter

    lines: list[str] = []
    try:
        with with_reporter(lambda text: lines.append(str(text))):
            run()
    except Exception as exc:  # noqa: BLE001 - every failure is a finding of the benchmark
        # Hypothesis puts the shrunk steps in the exception's notes (each failure of a group has its own).
        failures = list(exc.exceptions) if isinstance(exc, BaseExceptionGroup) else [exc]
        for failure in failures:
            text = "".join(traceback.format_exception(failure))
            steps = [line.strip(" |") for line in text.splitlines() if line.strip(" |").startswith("state.")]
            crashes.append({"error": f"{type(failure).__name__}: {failure}"[:2000], "steps": steps,
                            "report": "\n".join(lines)[-2000:]})
            print(f"   crash: {crashes[-1]['error'][:300]}", flush=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=SESSIONS, help="in-process sessions")
    p.add_argument("--socket-sessions", type=int, default=SOCKET_SESSIONS, help="sessions over TCP")
    p.add_argument("--batch", type=int, default=BATCH, help="sessions per hypothesis run")
    args = p.parse_args(argv or [])
    if min(args.sessions, args.socket_sessions) < 0 or args.batch < 1:
        p.error("session counts must be >= 0 and --batch >= 1")
    sys.path.insert(0, str(ROOT))
    from hypothesis.stateful import run_state_machine_as_test

    from tests.fuzz.model import MAX_CONNECTIONS, ServerSessionMachine, run_socket_sessions

    crashes: list[dict[str, Any]] = []
    t0 = time.monotonic()
    done = ServerSessionMachine.sessions_run
    while ServerSessionMachine.sessions_run - done < args.sessions:
        batch = _settings(min(args.batch, args.sessions - (ServerSessionMachine.sessions_run - done)), STEPS,
                          shrink=True)
        _run_batch(lambda batch=batch: run_state_machine_as_test(ServerSessionMachine, settings=batch), crashes)
        n = ServerSessionMachine.sessions_run - done
        print(f"   in-process: {n} sessions, {n / (time.monotonic() - t0):.0f}/s, {len(crashes)} crashes",
              flush=True)
    in_process = ServerSessionMachine.sessions_run - done
    in_wall = time.monotonic() - t0
    fuzzer_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    socket_report: dict[str, Any] = {"sessions": 0}
    if args.socket_sessions:
        t1 = time.monotonic()
        socket_crashes: list[dict[str, Any]] = []
        with tempfile.TemporaryDirectory() as tmp:
            result: list[Any] = []
            # No shrinking over TCP (each step waits for the server): steps are reported as found.
            _run_batch(lambda: result.append(run_socket_sessions(
                _settings(args.socket_sessions, 8, shrink=False), Path(tmp) / "server.log")), socket_crashes)
        crashes += socket_crashes
        wall = time.monotonic() - t1
        if result:
            rep = result[0]
            socket_report = {"sessions": rep.sessions, "wall_s": round(wall, 1),
                             "sessions_per_s": round(rep.sessions / wall, 1),
                             "server_peak_rss_mib": round(rep.peak_rss_mib, 1),
                             "server_errors": rep.server_errors[:20]}
        else:
            socket_report = {"sessions": "stopped by a crash", "wall_s": round(wall, 1)}
    rss_limit = 64 + MAX_CONNECTIONS + 2  # + the two fresh clients of the after-session check
    server_rss = socket_report.get("server_peak_rss_mib")
    data = {
        "sessions_run": in_process + (socket_report["sessions"] if isinstance(socket_report["sessions"], int) else 0),
        "in_process": {"sessions": in_process, "wall_s": round(in_wall, 1),
                       "sessions_per_s": round(in_process / in_wall, 1) if in_wall else None,
                       "steps_per_session_max": STEPS,
                       "fuzzer_process_peak_rss_mib": round(fuzzer_rss, 1)},
        "tcp": socket_report,
        "crashes_found": len(crashes),
        "crashes": crashes,
        "rss_limit_mib": rss_limit,
        "server_rss_ok": server_rss is not None and server_rss <= rss_limit,
    }
    headline = {"fuzz_sessions": data["sessions_run"], "fuzz_crashes": len(crashes),
                "fuzz_sessions_per_s": data["in_process"]["sessions_per_s"],
                "fuzz_server_peak_rss_mib": server_rss}
    path = write_result("fuzz", data, headline)
    print(f"fuzz: {data['sessions_run']} sessions, {len(crashes)} crashes, server peak RSS {server_rss} MiB; {path}",
          flush=True)
    return headline


if __name__ == "__main__":
    print(main(sys.argv[1:]))
