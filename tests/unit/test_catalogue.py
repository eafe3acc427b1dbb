"""The rule catalogue inside the project: loading, validation, rule IDs used by cases and checkers,
levels deciding verdicts, the generated page and ``rtmpconf catalogue``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from rtmpconf.harness.catalogue import CatalogueError, catalogue, load, render_markdown
from rtmpconf.harness.cli import main
from rtmpconf.harness.verdict import Finding, Level, Verdict, cap
from rtmpconf.paths import CASES, PACKAGE

ROOT = Path(__file__).resolve().parents[2]
RULE_LITERAL = re.compile(
    r"""["']((?:CL-(?:HS|CH|TS|CTRL|CMD|AMF|AV|ERTMP)-|(?:HS|CH|TS|CTRL|CMD|AMF|AV|GOP|ERTMP|ROB)-)\d+[a-z]?)["']""")


def test_catalogue_loads_every_section_in_order() -> None:
    cat = catalogue()
    numbers = [s.number for s in cat.sections]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert {s.id for s in cat.sections} >= {"HS", "CH", "TS", "CTRL", "CMD", "AMF", "AV", "GOP", "ERTMP", "ROB"}
    assert len(cat) >= 140
    for rule in cat.rules.values():
        assert rule.title and rule.requirement, rule.id
        assert rule.spec, f"{rule.id} has no spec link"
        assert all(s.url.startswith("https://") for s in rule.spec), rule.id


def test_robustness_levels_carry_their_reason() -> None:
    """Every ROB rule was audited: its level says spec MUST or hardening advice, and why."""
    for rule in catalogue().match("ROB"):
        assert rule.level_reason, f"{rule.id}: no level_reason"
        assert rule.level is Level.MUST or "hardening" in rule.level_reason.lower(), rule.id


def test_every_rule_id_in_the_code_is_in_the_catalogue() -> None:
    cat = catalogue()
    missing = {}
    for path in list((PACKAGE / "harness").rglob("*.py")) + list(CASES.rglob("*.py")):
        for m in RULE_LITERAL.finditer(path.read_text()):
            if m.group(1) not in cat:
                missing.setdefault(m.group(1), str(path.relative_to(PACKAGE)))
    assert not missing, missing


def test_every_case_names_a_catalogue_rule() -> None:
    """Collection of the real cases: the plugin refuses a marker with a level or an unknown rule."""
    proc = subprocess.run([sys.executable, "-m", "pytest", str(CASES), "-p", "no:cacheprovider", "-p", "no:locust",
                           "--rtmp-dry-run", "-q", "--interop"], capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 5), proc.stdout[-3000:] + proc.stderr[-3000:]
    m = re.search(r"(\d+) cases", proc.stdout)
    assert m and int(m.group(1)) > 300, proc.stdout[-2000:]


def test_generated_page_is_current() -> None:
    page = ROOT / "docs" / "catalogue.md"
    assert page.read_text() == render_markdown(catalogue()) + "\n", \
        "docs/catalogue.md is stale: rtmpconf catalogue --markdown > docs/catalogue.md"


@pytest.mark.parametrize("level, violated, expected", [
    (Level.MUST, Verdict.FAIL, Verdict.FAIL),
    (Level.MUST, Verdict.NON_STRICT, Verdict.NON_STRICT),
    (Level.SHOULD, Verdict.FAIL, Verdict.NON_STRICT),
    (Level.CONV, Verdict.FAIL, Verdict.NON_STRICT),
    (Level.MAY, Verdict.FAIL, Verdict.INFORMATIONAL),
    (Level.OBS, Verdict.NON_STRICT, Verdict.INFORMATIONAL),
    (Level.OBS, Verdict.PASS, Verdict.PASS),
    (Level.SHOULD, Verdict.UNIMPLEMENTED, Verdict.UNIMPLEMENTED),
    (Level.CONV, Verdict.NOT_RUN, Verdict.NOT_RUN),
    (Level.MAY, Verdict.ERROR, Verdict.ERROR),
])
def test_level_caps_a_finding(level: Level, violated: Verdict, expected: Verdict) -> None:
    out = cap(Finding("X-1", violated, "m"), level)
    assert out.verdict is expected
    if expected is not violated:
        assert "capped_from" in out.evidence


def test_no_level_lets_a_verdict_exceed_it() -> None:
    for rule in catalogue().rules.values():
        for v in Verdict:
            assert cap(Finding(rule.id, v, "m"), rule.level).verdict.rank <= max(
                v.rank if v not in (Verdict.FAIL, Verdict.NON_STRICT) else 0,
                rule.level.verdict_when_violated().rank), (rule.id, v)


def _write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "01-x.toml").write_text(body)
    return tmp_path


@pytest.mark.parametrize("body, words", [
    ('[section]\nid = "XX"\nnumber = 1\ntitle = "X"\n[[rule]]\nid = "XX-1"\nlevel = "MAYBE"\ntitle = "t"\n'
     'requirement = "r"\n', "level"),
    ('[section]\nid = "XX"\nnumber = 1\ntitle = "X"\n[[rule]]\nid = "YY-1"\nlevel = "MUST"\ntitle = "t"\n'
     'requirement = "r"\n', "XX-N"),
    ('[section]\nid = "XX"\nnumber = 1\ntitle = "X"\n[[rule]]\nid = "XX-1"\nlevel = "MUST"\ntitle = "t"\n'
     'requirement = "r"\n[[rule]]\nid = "XX-1"\nlevel = "MUST"\ntitle = "t"\nrequirement = "r"\n', "duplicate"),
    ('[section]\nid = "XX"\nnumber = 1\ntitle = "X"\n[[rule]]\nid = "XX-1"\nlevel = "MUST"\ntitle = "t"\n'
     'requirement = "r"\nlevle = "x"\n', "unknown keys"),
    ('[section\n', "01-x.toml"),
])
def test_malformed_catalogue_named(tmp_path: Path, body: str, words: str) -> None:
    with pytest.raises(CatalogueError, match=re.escape(words)):
        load(_write(tmp_path, body))


def test_cli_prints_a_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalogue", "CH-15"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("CH-15 (MUST) Set Chunk Size")
    assert "rtmp-v1-0-spec.pdf#page=19" in out and "level:" in out
    assert main(["catalogue", "CH-2"]) == 0
    out = capsys.readouterr().out
    assert "CH-2 (MUST)" in out and "CH-2a (SHOULD)" in out
    assert main(["catalogue", "NOPE-1"]) == 2
    assert "no rule matches" in capsys.readouterr().err
