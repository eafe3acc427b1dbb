"""``python -m bench``: run every benchmark; JSON in reports/bench/, headlines in summary.json.

``python -m bench NAME ...`` runs only the named ones (chunk_decode, analyze, compare, latency, http_outputs,
suite_time, determinism, hostile, fuzz, plot; profiles only when named).
"""

from __future__ import annotations

import importlib
import json
import sys
import time

from bench.common import OUT

#: In order: cheap ones first; plot last (it draws what compare and latency wrote).
BENCHMARKS = ("chunk_decode", "analyze", "compare", "latency", "http_outputs", "suite_time", "determinism",
              "relay_reconnect", "hostile", "fuzz", "plot")


#: Run only when named: the whole suite once per impairment profile takes over an hour.
ON_REQUEST = ("profiles",)


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS + ON_REQUEST]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS + ON_REQUEST)}",
              file=sys.stderr)
        return 2
    headline: dict[str, object] = {}
    for name in names:
        t0 = time.monotonic()
        print(f"== {name}", flush=True)
        headline.update(importlib.import_module(f"bench.{name}").main())
        print(f"   {name}: {time.monotonic() - t0:.0f} s", flush=True)
    print(json.dumps(headline, indent=2, default=str))
    print(f"results in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
