"""How each verdict looks in every report: the Allure status, category and badge colour, and the
matrix cell colour (one table, so the Allure report, the matrix page and compliance.md agree).

Allure has five statuses for seven verdicts, so a verdict is the *combination* of status,
category and badge (README, "Reading the report"):

=============  ===============  ==============  ==========================================
verdict        Allure status    category        badge (tree row, matrix cell)
=============  ===============  ==============  ==========================================
PASS           passed (green)   PASS            green
INFORMATIONAL  passed (green)   INFORMATIONAL   blue
UNIMPLEMENTED  skipped (grey)   UNIMPLEMENTED   slate
NOT-RUN        skipped (grey)   NOT-RUN         light grey, dark text
NON-STRICT     unknown (purple) NON-STRICT      purple   (``failed`` under ``--strict``)
FAIL           failed (red)     FAIL            red
ERROR          broken (yellow)  ERROR           amber, dark text
=============  ===============  ==============  ==========================================

A FAIL (or NON-STRICT) the target's manifest expects keeps its status and category; it is marked
"expected" (Allure resolution *accepted*, with the manifest's reason and link; ``FAIL (expected)``
in the matrix). FAIL and NON-STRICT are never green.
"""

from __future__ import annotations

from dataclasses import dataclass

from rtmpconf.harness.verdict import Verdict


@dataclass(frozen=True, slots=True)
class VerdictStyle:
    """The appearance of one verdict."""

    verdict: str  #: "NON-STRICT"
    status: str  #: Allure status: passed | failed | broken | skipped | unknown
    colour: str  #: badge / matrix cell background
    text: str  #: badge / matrix cell text colour
    meaning: str  #: one line for legends


STYLES: dict[str, VerdictStyle] = {s.verdict: s for s in (
    VerdictStyle("PASS", "passed", "#2e7d32", "#ffffff", "the requirement is met"),
    VerdictStyle("INFORMATIONAL", "passed", "#1565c0", "#ffffff", "behaviour recorded, no judgement"),
    VerdictStyle("UNIMPLEMENTED", "skipped", "#546e7a", "#ffffff", "optional feature or role the target lacks"),
    VerdictStyle("NOT-RUN", "skipped", "#cfd8dc", "#263238",
                 "no verdict: could not run, or the condition never occurred"),
    VerdictStyle("NON-STRICT", "unknown", "#7b1fa2", "#ffffff",
                 "a SHOULD or convention not followed (FAIL only with --strict)"),
    VerdictStyle("FAIL", "failed", "#c62828", "#ffffff", "a MUST violated"),
    VerdictStyle("ERROR", "broken", "#f9a825", "#212121", "the harness could not judge (not a verdict on the target)"),
)}

#: Verdicts in report order: worst first.
ORDER = ("FAIL", "ERROR", "NON-STRICT", "NOT-RUN", "UNIMPLEMENTED", "INFORMATIONAL", "PASS")

assert set(STYLES) == {v.value for v in Verdict}, "every verdict needs a style"


def style(verdict: str) -> VerdictStyle:
    return STYLES.get(verdict, STYLES["ERROR"])


def allure_status(verdict: str, *, strict: bool = False) -> str:
    """The Allure status a verdict is shown with (NON-STRICT fails the run only with --strict)."""
    if verdict == "NON-STRICT" and strict:
        return "failed"
    return style(verdict).status


def label(verdict: str, expected: bool = False) -> str:
    """What a badge or matrix cell says."""
    return f"{verdict} (expected)" if expected else verdict
