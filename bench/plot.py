"""PNG of the comparison: players vs server CPU and players vs latency, one line per server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.common import OUT


def _load(name: str) -> dict[str, Any]:
    path = OUT / f"{name}.json"
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except (OSError, json.JSONDecodeError):
        return {}


def plot(out: Path | None = None) -> Path:
    """Draw ``reports/bench/compare.png`` from compare.json and latency.json (either may be missing)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a CI machine
    import matplotlib.pyplot as plt

    compare = _load("compare").get("servers", {})
    latency = _load("latency").get("servers", {})
    names = list(dict.fromkeys([*compare, *latency]))
    fig, (ax_cpu, ax_lat) = plt.subplots(1, 2, figsize=(12, 4.8))
    for name in names:
        steps = [s for s in compare.get(name, {}).get("steps", []) if s.get("server_cores") is not None]
        # Latency: the dedicated 1/10/100-player runs, then the sweep's steps above them.
        points = {row["players"]: row["latency_ms"]["p99"] for row in latency.get(name, [])
                  if "latency_ms" in row and row["latency_ms"].get("p99") is not None}
        for s in steps:
            if s["players"] not in points and s["latency_ms"].get("p99") is not None:
                points[s["players"]] = s["latency_ms"]["p99"]
        if steps:
            ax_cpu.plot([s["players"] for s in steps], [s["server_cores"] for s in steps], marker="o", label=name)
        if points:
            xs = sorted(points)
            ax_lat.plot(xs, [points[x] for x in xs], marker="o", label=name)
    ax_cpu.set(xlabel="players (one 2.5 Mbit/s stream)", ylabel="server CPU (cores)",
               title="Server CPU vs players")
    ax_lat.set(xlabel="players", ylabel="publish→play latency p99 (ms)", title="Latency p99 vs players")
    ax_lat.set_xscale("symlog", linthresh=10)
    ax_lat.set_yscale("log")
    for ax in (ax_cpu, ax_lat):
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.suptitle("RTMP fan-out on loopback (server, generator and publisher share the machine)")
    fig.tight_layout()
    out = out or OUT / "compare.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def main() -> dict[str, Any]:
    plot()
    return {}


if __name__ == "__main__":
    print(plot())
