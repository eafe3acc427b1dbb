"""Expected-deviation manifests (``targets/<server>.toml``).

A manifest lists the cases a server is known to fail, each with the reason and a link. A known
deviation is reported as expected and does not fail the gate; a failure not listed does; a listed
case that now passes is reported as stale so the manifest can be pruned.

    server = "nginx-rtmp"
    [[expected]]
    case = "CTRL-1/acks-at-window"      # case ID or glob
    verdict = "FAIL"                     # FAIL (default) or NON-STRICT
    reason = "..."
    link = "https://..."
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from rtmpconf.paths import TARGETS


@dataclass(frozen=True)
class Deviation:
    case: str
    verdict: str
    reason: str
    link: str


@dataclass
class Manifest:
    server: str
    path: Path
    deviations: list[Deviation] = field(default_factory=list)
    matched: set[str] = field(default_factory=set)  #: manifest globs that matched a case

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        p = Path(path)
        with open(p, "rb") as fh:
            raw = tomllib.load(fh)
        devs = []
        for i, entry in enumerate(raw.get("expected", [])):
            missing = [k for k in ("case", "reason", "link") if not entry.get(k)]
            if missing:
                raise ValueError(f"{p}: expected[{i}] lacks {', '.join(missing)}")
            verdict = entry.get("verdict", "FAIL")
            if verdict not in ("FAIL", "NON-STRICT"):
                raise ValueError(f"{p}: expected[{i}] verdict must be FAIL or NON-STRICT, not {verdict!r}")
            devs.append(Deviation(entry["case"], verdict, entry["reason"], entry["link"]))
        return cls(raw.get("server", p.stem), p, devs)

    @classmethod
    def for_server(cls, name: str) -> Manifest | None:
        path = TARGETS / f"{name}.toml"
        return cls.load(path) if path.exists() else None

    def find(self, case_id: str) -> Deviation | None:
        for d in self.deviations:
            if d.case == case_id or fnmatch.fnmatchcase(case_id, d.case):
                self.matched.add(d.case)
                return d
        return None

    def unmatched(self) -> list[Deviation]:
        return [d for d in self.deviations if d.case not in self.matched]
