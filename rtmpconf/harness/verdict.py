"""Verdicts and findings (DESIGN.md, "Verdicts").

A checker returns :class:`Finding` objects; a case's verdict is the worst of its findings. A
checker says *that* a rule was violated; the rule's level in the catalogue says how much it costs
(:func:`cap`): no finding is ever worse than its rule's level allows.
"""

from __future__ import annotations

import enum
from typing import Any, Iterable

from rtmpconf.records import field, record


class Verdict(enum.Enum):
    """Outcome of one check or case, best to worst."""

    PASS = "PASS"
    INFORMATIONAL = "INFORMATIONAL"  #: behaviour recorded, no judgement (e.g. ext-ts dialect)
    UNIMPLEMENTED = "UNIMPLEMENTED"  #: optional feature absent
    #: Not a verdict on the target: the case did not run (gated, program missing, needs root) or
    #: the condition it judges never occurred on the wire.
    NOT_RUN = "NOT-RUN"
    NON_STRICT = "NON-STRICT"  #: SHOULD or convention not followed; a pass unless --strict
    FAIL = "FAIL"  #: a MUST violated
    ERROR = "ERROR"  #: the harness could not judge (scenario broke, budget exhausted)

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {
    Verdict.PASS: 0, Verdict.INFORMATIONAL: 1, Verdict.UNIMPLEMENTED: 2, Verdict.NOT_RUN: 3,
    Verdict.NON_STRICT: 4, Verdict.FAIL: 5, Verdict.ERROR: 6,
}


class Level(enum.Enum):
    """Requirement levels of the catalogue."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"
    CONV = "CONV"  #: interop convention, no spec requires it
    OBS = "OBS"  #: seen in one implementation: informative

    def verdict_when_violated(self) -> Verdict:
        """What breaking a rule of this level costs: MUST -> FAIL; SHOULD, CONV -> NON-STRICT;
        MAY, OBS -> INFORMATIONAL."""
        if self is Level.MUST:
            return Verdict.FAIL
        if self in (Level.SHOULD, Level.CONV):
            return Verdict.NON_STRICT
        return Verdict.INFORMATIONAL


@record(frozen=True, slots=True)
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


#: Verdicts that say a rule was broken; only these are capped by the rule's level.
VIOLATIONS = frozenset({Verdict.NON_STRICT, Verdict.FAIL})


def cap(finding: Finding, level: Level) -> Finding:
    """``finding`` with its verdict lowered to what ``level`` allows (never raised)."""
    ceiling = level.verdict_when_violated()
    if finding.verdict not in VIOLATIONS or finding.verdict.rank <= ceiling.rank:
        return finding
    evidence = dict(finding.evidence)
    evidence["capped_from"] = f"{finding.verdict.value} (rule level {level.value})"
    return Finding(finding.rule, ceiling, finding.message, finding.expected, finding.actual, evidence)


def not_run(rule: str, reason: str, **evidence: Any) -> Finding:
    """The case's condition never happened (or it could not run here): no verdict on the target."""
    return Finding(rule, Verdict.NOT_RUN, reason, evidence=evidence)


def worst(findings: Iterable[Finding]) -> Verdict:
    """The case verdict: the worst finding (no findings is a harness error, never a pass)."""
    items = list(findings)
    if not items:
        return Verdict.ERROR
    return max((f.verdict for f in items), key=lambda v: v.rank)


def exit_code(verdicts: Iterable[Verdict], strict: bool = False) -> int:
    """0 iff no FAIL/ERROR (and, with strict, no NON-STRICT). NOT-RUN never fails a run."""
    bad = {Verdict.FAIL, Verdict.ERROR} | ({Verdict.NON_STRICT} if strict else set())
    return 1 if any(v in bad for v in verdicts) else 0
