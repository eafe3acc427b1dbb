"""The rule catalogue: the one source of truth for rule IDs, levels, titles and spec links.

The catalogue is data (``rtmpconf/catalogue/NN-*.toml``, one file per section; ``bugs.toml``
lists the real interop bugs behind the rules). Cases name a rule by ID only; everything else --
level, section, title, requirement, spec link -- comes from here, and so does the verdict cap
(``Level.verdict_when_violated``). ``docs/catalogue.md`` is generated from it
(``rtmpconf catalogue --markdown``).
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from rtmpconf.harness.verdict import Level
from rtmpconf.paths import CATALOGUE

#: A rule ID: section prefix, number, optional lowercase letter for a part split off a rule.
RULE_ID = re.compile(r"^([A-Z][A-Z0-9]*(?:-[A-Z][A-Z0-9]*)*)-(\d+)([a-z]?)$")
LEVELS = {lv.value for lv in Level}


class CatalogueError(ValueError):
    """The catalogue files are malformed, or a rule ID is unknown."""


@dataclass(frozen=True, slots=True)
class SpecLink:
    """Where a requirement is written down."""

    name: str  #: e.g. "RTMP 1.0 §5.4.1"
    url: str  #: a page or anchor link where the source allows one


@dataclass(frozen=True, slots=True)
class Section:
    """A catalogue section (HS, CH, ...)."""

    id: str  #: rule ID prefix
    number: int  #: order in the catalogue and the report
    title: str
    spec: SpecLink | None
    side: str = "server"  #: whose behaviour the section's rules judge: server, client or both

    @property
    def label(self) -> str:
        return f"{self.number}. {self.title}"


@dataclass(frozen=True, slots=True)
class Rule:
    """One testable requirement."""

    id: str
    level: Level
    title: str
    requirement: str  #: the requirement, in the project's words or a short quote
    section: Section
    spec: tuple[SpecLink, ...] = ()
    level_reason: str = ""  #: why this level, where it needed a decision
    test: str = ""  #: how a case provokes and judges it
    notes: tuple[str, ...] = ()  #: what implementations do; sources
    bugs: tuple[str, ...] = field(default=())  #: BUG-N entries of bugs.toml behind this rule

    @property
    def label(self) -> str:
        return f"{self.id} {self.title}"

    def sort_key(self) -> tuple[int, int, str]:
        m = RULE_ID.match(self.id)
        return (self.section.number, int(m.group(2)) if m else 0, m.group(3) if m else self.id)


@dataclass(frozen=True, slots=True)
class Bug:
    """A real interop bug from a public tracker, and the rules that would have caught it."""

    id: str
    area: str
    text: str
    rules: tuple[str, ...]


class Catalogue:
    """All sections and rules, in catalogue order."""

    def __init__(self, sections: list[Section], rules: list[Rule], bugs: list[Bug]) -> None:
        self.sections = sorted(sections, key=lambda s: s.number)
        self.rules: dict[str, Rule] = {r.id: r for r in sorted(rules, key=Rule.sort_key)}
        self.bugs = bugs
        self._by_prefix = {s.id: s for s in self.sections}

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self.rules

    def __len__(self) -> int:
        return len(self.rules)

    def rule(self, rule_id: str) -> Rule:
        try:
            return self.rules[rule_id]
        except KeyError:
            near = [r for r in self.rules if r.split("-")[0] == rule_id.split("-")[0]][:8]
            hint = f" (rules of that section: {', '.join(near)} ...)" if near else ""
            raise CatalogueError(f"unknown rule {rule_id!r}: not in the catalogue{hint}") from None

    def section_of(self, rule_id: str) -> Section:
        m = RULE_ID.match(rule_id)
        if m is None or m.group(1) not in self._by_prefix:
            raise CatalogueError(f"no catalogue section for {rule_id!r}")
        return self._by_prefix[m.group(1)]

    def match(self, pattern: str) -> list[Rule]:
        """Rules whose ID equals ``pattern`` or starts a part of it (``CH-2`` gives CH-2, CH-2a);
        a section prefix (``CH``) gives the whole section; globs are allowed."""
        import fnmatch

        if pattern in self._by_prefix:
            return [r for r in self.rules.values() if r.section.id == pattern]
        exact = [r for r in self.rules.values()
                 if r.id == pattern or re.fullmatch(re.escape(pattern) + r"[a-z]", r.id)]
        return exact or [r for r in self.rules.values() if fnmatch.fnmatchcase(r.id, pattern)]

    def order_key(self, rule_id: str) -> tuple[int, int, str]:
        """Sort key putting rule IDs (and case IDs that start with one) in catalogue order."""
        head = rule_id.split("/")[0]
        if head in self.rules:
            return self.rules[head].sort_key()
        m = RULE_ID.match(head)
        sec = self._by_prefix.get(m.group(1)) if m else None
        return (sec.number if sec else 999, int(m.group(2)) if m else 0, head)


def _link(raw: object, where: str) -> SpecLink:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not isinstance(raw.get("url"), str):
        raise CatalogueError(f"{where}: spec entries need a name and a url")
    return SpecLink(raw["name"], raw["url"])


def _text(raw: dict[str, object], key: str, where: str, required: bool = False) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise CatalogueError(f"{where}: {key!r} must be a {'non-empty ' if required else ''}string")
    return value.strip()


_SECTION_KEYS = {"id", "number", "title", "spec", "side"}
_RULE_KEYS = {"id", "level", "title", "requirement", "level_reason", "spec", "test", "notes"}


def load(directory: Path = CATALOGUE) -> Catalogue:
    """Read and validate every catalogue file (errors name the file and the rule)."""
    sections: list[Section] = []
    rules: list[Rule] = []
    bugs: list[Bug] = []
    seen: set[str] = set()
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise CatalogueError(f"no catalogue files in {directory}")
    for path in files:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise CatalogueError(f"{path.name}: {exc}") from exc
        for raw in data.get("bug", []):
            bugs.append(Bug(str(raw["id"]), str(raw.get("area", "")), str(raw["text"]).strip(),
                            tuple(str(r) for r in raw.get("rules", []))))
        if "section" not in data:
            continue
        sraw = data["section"]
        unknown = set(sraw) - _SECTION_KEYS
        if unknown:
            raise CatalogueError(f"{path.name}: unknown [section] keys {sorted(unknown)}")
        side = sraw.get("side", "server")
        if side not in ("server", "client", "both"):
            raise CatalogueError(f"{path.name}: side must be server, client or both")
        section = Section(_text(sraw, "id", path.name, True), int(sraw["number"]),
                          _text(sraw, "title", path.name, True),
                          _link(sraw["spec"], path.name) if "spec" in sraw else None, side)
        if any(s.id == section.id or s.number == section.number for s in sections):
            raise CatalogueError(f"{path.name}: section {section.id} / number {section.number} is used twice")
        sections.append(section)
        for raw in data.get("rule", []):
            where = f"{path.name} rule {raw.get('id', '?')}"
            unknown = set(raw) - _RULE_KEYS
            if unknown:
                raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
            rid = _text(raw, "id", where, True)
            m = RULE_ID.match(rid)
            if m is None or m.group(1) != section.id:
                raise CatalogueError(f"{where}: the ID must look like {section.id}-N")
            if rid in seen:
                raise CatalogueError(f"{where}: duplicate rule ID")
            seen.add(rid)
            level = _text(raw, "level", where, True)
            if level not in LEVELS:
                raise CatalogueError(f"{where}: level {level!r} is not one of {sorted(LEVELS)}")
            spec = raw.get("spec", [])
            if not isinstance(spec, list):
                raise CatalogueError(f"{where}: spec must be a list")
            notes = raw.get("notes", [])
            if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
                raise CatalogueError(f"{where}: notes must be a list of strings")
            rules.append(Rule(rid, Level(level), _text(raw, "title", where, True),
                              _text(raw, "requirement", where, True), section,
                              tuple(_link(s, where) for s in spec), _text(raw, "level_reason", where),
                              _text(raw, "test", where), tuple(n.strip() for n in notes)))
    by_id = {r.id: r for r in rules}
    for bug in bugs:
        for rid in bug.rules:
            if rid not in by_id:
                raise CatalogueError(f"bugs.toml {bug.id}: unknown rule {rid}")
    linked: dict[str, list[str]] = {}
    for bug in bugs:
        for rid in bug.rules:
            linked.setdefault(rid, []).append(bug.id)
    rules = [Rule(r.id, r.level, r.title, r.requirement, r.section, r.spec, r.level_reason, r.test, r.notes,
                  tuple(linked.get(r.id, ()))) for r in rules]
    return Catalogue(sections, rules, bugs)


@functools.lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """The package's catalogue, read once per process."""
    return load()


def version() -> str:
    """A short content hash of the catalogue files: it changes whenever a rule does."""
    import hashlib

    h = hashlib.sha256()
    for path in sorted(CATALOGUE.glob("*.toml")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


# -- rendering -----------------------------------------------------------------------------------


def render_rule(rule: Rule, *, full: bool = True) -> str:
    """A rule as plain text for the terminal (``rtmpconf catalogue ID``)."""
    lines = [f"{rule.id} ({rule.level.value}) {rule.title}",
             f"  section: {rule.section.label}"]
    lines += [f"  spec:    {s.name} <{s.url}>" for s in rule.spec]
    lines.append("  requirement:")
    lines += ["    " + ln for ln in rule.requirement.splitlines()]
    if full and rule.level_reason:
        lines.append(f"  level:   {rule.level_reason}")
        lines.append(f"           (a violation is {rule.level.verdict_when_violated().value})")
    if full and rule.test:
        lines.append("  test:")
        lines += ["    " + ln for ln in rule.test.splitlines()]
    if full and rule.notes:
        lines.append("  notes:")
        for n in rule.notes:
            first, *rest = n.splitlines()
            lines.append(f"    - {first}")
            lines += ["      " + ln for ln in rest]
    if full and rule.bugs:
        lines.append(f"  bugs:    {', '.join(rule.bugs)} (rtmpconf catalogue --bugs)")
    return "\n".join(lines)


def _md_anchor(rule_id: str) -> str:
    return rule_id.lower()


def render_markdown(cat: Catalogue) -> str:
    """docs/catalogue.md: every section and rule, generated (do not edit by hand)."""
    out = ["# Rule catalogue", "",
           "<!-- Generated from rtmpconf/catalogue/*.toml by `rtmpconf catalogue --markdown`; do not edit. -->", "",
           "Levels decide verdicts: a violated **MUST** is FAIL; **SHOULD** and **CONV** (an interop "
           "convention no spec requires) are NON-STRICT (FAIL only with `--strict`); **MAY** and **OBS** "
           "(seen in one implementation) are INFORMATIONAL.", "",
           f"{len(cat.rules)} rules in {len(cat.sections)} sections.", ""]
    for sec in cat.sections:
        rules = [r for r in cat.rules.values() if r.section is sec]
        out.append(f"- [{sec.label} ({sec.id})](#{sec.number}-{re.sub(r'[^a-z0-9]+', '-', sec.title.lower()).strip('-')}"
                   f"-{sec.id.lower()}) — {len(rules)} rules")
    out.append("")
    for sec in cat.sections:
        out += [f"## {sec.label} ({sec.id})", ""]
        if sec.spec:
            out += [f"Spec: [{sec.spec.name}]({sec.spec.url})" + ("" if sec.side == "server" else
                    f" · rules judge the {sec.side}"), ""]
        for r in (r for r in cat.rules.values() if r.section is sec):
            out.append(f"### {r.id} ({r.level.value}) {r.title}")
            out.append("")
            out.append(r.requirement)
            out.append("")
            if r.spec:
                out.append("Spec: " + ", ".join(f"[{s.name}]({s.url})" for s in r.spec))
                out.append("")
            if r.level_reason:
                out += [f"*Level:* {r.level_reason}", ""]
            if r.test:
                out += [f"*Test:* {r.test}", ""]
            for n in r.notes:
                out.append("- " + n.replace("\n", "\n  "))
            if r.notes:
                out.append("")
            if r.bugs:
                out += ["Bugs: " + ", ".join(f"[{b}](#{b.lower()})" for b in r.bugs), ""]
    if cat.bugs:
        out += ["## Real interop bugs", ""]
        area = None
        for b in cat.bugs:
            if b.area != area:
                area = b.area
                out += [f"### {area}", ""]
            out.append(f"- <a id=\"{b.id.lower()}\"></a>**{b.id}** ({', '.join(b.rules)}) {b.text}")
        out.append("")
    return "\n".join(out)
