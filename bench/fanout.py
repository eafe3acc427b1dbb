"""Fan-out of one 2.5 Mbit/s stream to N players on the reference server only.

The measurement is ``bench.compare``'s (same generator, same steps, same criteria: fewer than
0.1 % of frames missing), restricted to the reference server; run ``bench.compare`` for the
side-by-side figures with nginx-rtmp and node-media-server (it writes the same headline keys).
"""

from __future__ import annotations

from typing import Any

from bench.common import write_result
from bench.compare import STEP_SECONDS, STEPS, sweep
from rtmpconf.cliutil import raise_fd_limit


def main(steps: tuple[int, ...] = STEPS) -> dict[str, Any]:
    raise_fd_limit()
    r = sweep("reference", steps, STEP_SECONDS)
    ok = [s for s in r["steps"] if s.get("sustained")]
    last_ok = ok[-1] if ok else (r["steps"][0] if r["steps"] else {})
    headline = {
        "fanout_players_reference": r["max_players_sustained"],
        "cpu_s_per_player_s_reference": last_ok.get("cpu_s_per_player_s"),
        "idle_kib_per_connection_reference": r["idle"]["kib_per_idle_connection"],
        "playing_kib_per_connection_reference": last_ok.get("kib_per_connection_playing"),
    }
    write_result("fanout_reference", {"stream_bitrate": 2_500_000, "step_seconds": STEP_SECONDS, **r}, headline)
    return headline


if __name__ == "__main__":
    print(main())
