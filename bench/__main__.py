"""``python -m bench``: run every benchmark; JSON in reports/bench/, headlines in summary.json."""

from __future__ import annotations

import json
import sys

from bench import chunk_decode, fanout
from bench.common import OUT


def main() -> int:
    headline: dict[str, object] = {}
    for name, fn in (("chunk_decode", chunk_decode.main), ("fanout", fanout.main)):
        print(f"== {name}", flush=True)
        headline.update(fn())
    print(json.dumps(headline, indent=2))
    print(f"results in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
