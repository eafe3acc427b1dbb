"""Verdicts and findings (DESIGN.md, "Verdicts").

A checker returns :class:`Finding` objects; a case's verdict is the worst of its findings.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Iterable


class Verdict(enum.Enum):
    """Outcome of one check or case, best to worst."""

    PASS = "PASS"
    INFORMATIONAL = "INFORMATIONAL"  #: behaviour recorded, no judgement (e.g. ext-ts dialect)
    UNIMPLEMENTED = "UNIMPLEMENTED"  #: optional feature absent
    NON_STRICT = "NON-STRICT"  #: SHOULD or convention not followed; a pass unless --strict
    FAIL = "FAIL"  #: a MUST violated
    ERROR = "ERROR"  #: the harness could not judge (scenario broke, budget exhausted)

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {
    Verdict.PASS: 0, Verdict.INFORMATIONAL: 1, Verdict.UNIMPLEMENTED: 2, Verdict.NON_STRICT: 3,
    Verdict.FAIL: 4, Verdict.ERROR: 5,
}


class Level(enum.Enum):
    """Requirement levels of the catalogue."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"
    CONV = "CONV"  #: interop convention, no spec requires it
    OBS = "OBS"  #: seen in one implementation

    @classmethod
    def parse(cls, text: str) -> Level:
        head = text.strip().upper().split()[0].split("/")[0] if text.strip() else "MUST"
        return cls(head) if head in cls.__members__ else cls.MUST

    def verdict_when_violated(self) -> Verdict:
        """What breaking a rule of this level costs."""
        return Verdict.FAIL if self is Level.MUST else Verdict.NON_STRICT


@dataclass(frozen=True, slots=True)
class Finding:
    """One judgement by a checker."""

    rule: str  #: catalogue rule ID ("CH-7")
    verdict: Verdict
    message: str  #: what was seen, phrased so a server author can act on it
    expected: str | None = None
    actual: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)  #: byte offsets, message indexes...

    def line(self) -> str:
        text = f"{self.verdict.value} [{self.rule}] {self.message}"
        if self.expected is not None or self.actual is not None:
            text += f" (expected: {self.expected}; actual: {self.actual})"
        return text


def passed(rule: str, message: str, **evidence: Any) -> Finding:
    return Finding(rule, Verdict.PASS, message, evidence=evidence)


def failed(rule: str, message: str, *, expected: str | None = None, actual: str | None = None,
           verdict: Verdict = Verdict.FAIL, **evidence: Any) -> Finding:
    return Finding(rule, verdict, message, expected, actual, evidence)


def info(rule: str, message: str, **evidence: Any) -> Finding:
    return Finding(rule, Verdict.INFORMATIONAL, message, evidence=evidence)


def worst(findings: Iterable[Finding]) -> Verdict:
    """The case verdict: the worst finding (no findings is a harness error, never a pass)."""
    items = list(findings)
    if not items:
        return Verdict.ERROR
    return max((f.verdict for f in items), key=lambda v: v.rank)


def exit_code(verdicts: Iterable[Verdict], strict: bool = False) -> int:
    """0 iff no FAIL/ERROR (and, with strict, no NON-STRICT)."""
    bad = {Verdict.FAIL, Verdict.ERROR} | ({Verdict.NON_STRICT} if strict else set())
    return 1 if any(v in bad for v in verdicts) else 0
