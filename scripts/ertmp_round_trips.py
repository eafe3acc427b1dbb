#!/usr/bin/env python3
"""Real E-RTMP round trips through three servers, with a per-frame decode table.

FFmpeg 8.1 (the PyAV wheel) encodes and publishes HEVC / AV1 / VP9 with Opus / AC-3 over E-RTMP
in real time (and OBS-style multitrack: 3 video + 2 audio tracks) to the reference server,
nginx-rtmp and node-media-server (started as ``rtmpconf run --target-server`` starts them); a
second FFmpeg 8.1 joins after 1.2 s, declares the codecs (rtmp_enhanced_codecs; none for the
legacy multitrack player) and decodes every packet for 3 s. Output: reports/ertmp/round-trips.json
and round-trips.md (one row per server and publish: packets published, packets received, frames
decoded and decode errors per stream).

    python scripts/ertmp_round_trips.py [--servers reference,nginx-rtmp,node-media-server]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rtmpconf.harness.peers.pyav_ertmp import FOURCC, Player, Publisher
from rtmpconf.harness.peers.servers import make_server
from rtmpconf.paths import reports_dir

PUBLISHES = [
    ("hevc+opus", ["hevc"], ["opus"], True),
    ("av1+ac3", ["av1"], ["ac3"], True),
    ("vp9+opus", ["vp9"], ["opus"], True),
    ("hevc+ac3", ["hevc"], ["ac3"], True),
    ("obs-multitrack 3v+2a, legacy player", ["h264", "h264", "hevc"], ["aac", "aac"], False),
]
PUBLISH_S, JOIN_S, WATCH_S = 5.0, 1.2, 3.0


def one(url: str, video: list[str], audio: list[str], declare: bool) -> dict[str, object]:
    pub = Publisher(url, video=video, audio=audio, seconds=PUBLISH_S, gop=25)
    time.sleep(JOIN_S)
    fourccs = [FOURCC[c] for c in (*video[:1], *audio[:1])] if declare else None
    player = Player(url, seconds=WATCH_S, fourccs=fourccs)
    played = player.result()
    published = pub.result()
    return {"published": published.__dict__, "played": played.__dict__, "declared": fourccs}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--servers", default="reference,nginx-rtmp,node-media-server")
    args = p.parse_args()
    rows = []
    for server in args.servers.split(","):
        driver = make_server(server)
        target = driver.start()
        try:
            for n, (label, video, audio, declare) in enumerate(PUBLISHES):
                url = f"{target.tc_url}/rt{n}-{int(time.time()) % 100000}"
                print(f"{server}: {label} ...", file=sys.stderr, flush=True)
                rows.append({"server": server, "publish": label, **one(url, video, audio, declare)})
        finally:
            driver.stop()
    out = reports_dir() / "ertmp"
    out.mkdir(parents=True, exist_ok=True)
    (out / "round-trips.json").write_text(json.dumps(rows, indent=2))
    (out / "round-trips.md").write_text(render(rows))
    print(render(rows))
    return 0


def render(rows: list[dict]) -> str:
    lines = [("| server | publish (FFmpeg 8.1) | player declared | stream (track) | published pkts | received pkts "
             "| decoded frames | decode errors | first frame key |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        pub = {s["index"]: s for s in r["published"]["streams"]}
        played = r["played"]["streams"]
        declared = ",".join(r["declared"]) if r["declared"] else "nothing (legacy)"
        if not played:
            err = r["played"].get("error") or r["published"].get("error") or "no stream"
            lines.append(f"| {r['server']} | {r['publish']} | {declared} | - | "
                         f"{sum(s['packets'] for s in pub.values())} | 0 | 0 | - | - ({err[:60]}) |")
            continue
        for s in played:
            same = [x for x in pub.values() if x["type"] == s["type"]]
            sent = same[s["id"]]["packets"] if s["id"] is not None and s["id"] < len(same) else "?"
            key = "" if s["first_key"] is None else ("yes" if s["first_key"] else "no")
            lines.append(f"| {r['server']} | {r['publish']} | {declared} | {s['type']} {s['codec']} ({s['id']}) | {sent} "
                         f"| {s['packets']} | {s['frames']} | {s['errors']} | {key} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
