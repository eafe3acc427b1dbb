"""pytest plugin: conformance cases, targets, verdicts, watchdogs and reports.

Registered through the ``pytest11`` entry point. It only acts on test items that carry the
``rule`` marker (the conformance cases); the project's own unit tests are untouched.

Case anatomy (DESIGN.md)::

    @pytest.mark.rule("CH-7")          # level, section, title and spec link: the catalogue
    async def test_fmt3_new_message_delta(rtmp):
        '''Sends ... Requirement: "..."'''
        async with rtmp.client() as c: ...
        rtmp.judge(check_something(c.log))
"""

from __future__ import annotations

import asyncio
import fnmatch
import inspect
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from rtmpconf.harness.client import PeerClosed, RtmpClient, StepTimeout, Target
from rtmpconf.rtmp.errors import RemoteProtocolError
from rtmpconf.harness.catalogue import CatalogueError, Rule, catalogue
from rtmpconf.harness.verdict import Finding, Verdict, cap, worst
from rtmpconf.harness.wirelog import WireLog

try:  # allure-pytest is a dependency, but keep the plugin importable without it
    import allure
except ImportError:  # pragma: no cover
    allure = None

#: Per-step deadline default (s) (--rtmp-timeout).
STEP_TIMEOUT_S = 5.0
#: Per-case watchdog default (s) (--case-timeout).
CASE_TIMEOUT_S = 30.0
#: Whole-run budget default (s) (--run-budget).
RUN_BUDGET_S = 900.0

SEVERITY = {"MUST": "critical", "SHOULD": "normal", "CONV": "minor", "MAY": "trivial", "OBS": "trivial"}

_CASE_KEY = pytest.StashKey["CaseInfo"]()


@dataclass
class CaseInfo:
    """What the plugin knows about one conformance case."""

    case_id: str
    rule: str
    level: str  #: the rule's level, from the catalogue
    section: str  #: the catalogue section label ("2. Chunking")
    requirement: str  #: the case's docstring: what it sends, what it expects
    rule_info: Rule | None = None
    findings: list[Finding] = field(default_factory=list)
    verdict: Verdict | None = None
    message: str = ""
    duration: float = 0.0
    logs: list[WireLog] = field(default_factory=list)
    error: str | None = None
    expected: str | None = None  #: reason from the manifest when this verdict is a known deviation
    stale: str | None = None  #: manifest entry that no longer applies (the case now passes)
    restart_note: str | None = None  #: the target-server was restarted before this case
    crashed_target: str | None = None  #: the target-server was found dead after this case


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("rtmp-conformance")
    g.addoption("--target", default=os.environ.get("RTMP_TARGET"),
                help="rtmp://host:port/app of the server under test (env RTMP_TARGET); "
                     "default: the embedded reference server")
    g.addoption("--target-server", default=None,
                help="start this server as the target: reference, nginx-rtmp, node-media-server, ffmpeg-listen")
    g.addoption("--case", action="append", default=[], help="run only case IDs matching this glob")
    g.addoption("--rtmp-strict", action="store_true", help="NON-STRICT verdicts fail the run")
    g.addoption("--rtmp-timeout", type=float, default=STEP_TIMEOUT_S, help="per-step deadline (s)")
    g.addoption("--case-timeout", type=float, default=CASE_TIMEOUT_S, help="per-case watchdog (s)")
    g.addoption("--run-budget", type=float, default=RUN_BUDGET_S, help="whole-run budget (s)")
    g.addoption("--rtmp-dry-run", action="store_true", help="list case IDs, levels and requirements")
    g.addoption("--summary", default=None, help="write the per-case summary JSON here")
    g.addoption("--interop", action="store_true",
                help="also run the interop cases that drive real programs (ffmpeg, VLC ...) in real time")
    g.addoption("--interop-only", action="store_true", help="run only the interop cases")
    g.addoption("--impair", default=None,
                help="run every case through this impairment profile (harness/impair; rtmpconf impair --list)")
    g.addoption("--manifest", default=None,
                help="expected-deviation manifest (default with --target-server NAME: targets/NAME.toml)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rule(rule_id, level, section, id=None): catalogue rule of a case")
    config.addinivalue_line("markers", "interop: drives real programs; runs only with --interop")
    config._rtmp_start = time.monotonic()  # type: ignore[attr-defined]
    config._rtmp_cases = []  # type: ignore[attr-defined]
    config._rtmp_manifest = None  # type: ignore[attr-defined]
    from rtmpconf.harness.manifest import Manifest

    path = config.getoption("--manifest", None)
    server = config.getoption("--target-server", None)
    try:
        if path:
            config._rtmp_manifest = Manifest.load(path)  # type: ignore[attr-defined]
        elif server:
            config._rtmp_manifest = Manifest.for_server(server)  # type: ignore[attr-defined]
    except (OSError, ValueError) as exc:
        raise pytest.UsageError(f"bad manifest: {exc}") from exc


def _slug(name: str) -> str:
    base = name[5:] if name.startswith("test_") else name
    return base.replace("_", "-")


def case_info_for(item: pytest.Item) -> CaseInfo | None:
    """The case's identity; its rule must be in the catalogue, and the marker names only the rule
    (and optionally the case slug): level and section come from the catalogue, never the marker."""
    marker = item.get_closest_marker("rule")
    if marker is None:
        return None
    rule_id = marker.args[0] if marker.args else marker.kwargs.get("rule_id", "?")
    extra = (set(marker.kwargs) - {"rule_id", "id"}) | ({"level/section"} if len(marker.args) > 1 else set())
    if extra:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.rule takes the rule ID only (and id=); "
                                f"{', '.join(sorted(extra))} come from the catalogue")
    try:
        rule = catalogue().rule(rule_id)
    except CatalogueError as exc:
        raise pytest.UsageError(f"{item.nodeid}: {exc}") from exc
    func = getattr(item, "function", None)
    slug = marker.kwargs.get("id") or _slug(getattr(func, "__name__", item.name))
    callspec = getattr(item, "callspec", None)
    case_id = f"{rule_id}/{slug}" + (f"[{callspec.id}]" if callspec is not None else "")
    doc = inspect.getdoc(func) or ""
    return CaseInfo(case_id, rule_id, rule.level.value, rule.section.label, doc, rule)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    globs = config.getoption("--case")
    interop_only = config.getoption("--interop-only")
    with_interop = config.getoption("--interop") or interop_only
    selected: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    for item in items:
        info = case_info_for(item)
        if info is None:
            if "cases" in Path(str(item.fspath)).parts:
                raise pytest.UsageError(f"{item.nodeid}: conformance case without @pytest.mark.rule")
            selected.append(item)
            continue
        item.stash[_CASE_KEY] = info
        is_interop = item.get_closest_marker("interop") is not None
        if (is_interop and not with_interop) or (interop_only and not is_interop):
            deselected.append(item)
        elif globs and not any(fnmatch.fnmatch(info.case_id, g) or fnmatch.fnmatch(info.rule, g) for g in globs):
            deselected.append(item)
        else:
            selected.append(item)
    if config.getoption("--rtmp-dry-run"):
        tw = config.get_terminal_writer()
        for item in selected:
            info = item.stash.get(_CASE_KEY, None)
            if info is None:
                continue
            req = " ".join(info.requirement.split())
            title = info.rule_info.title if info.rule_info else ""
            tw.line(f"{info.case_id:60s} {info.level:6s} {title[:60]:60s} {req[:100]}")
        tw.line(f"{sum(1 for i in selected if _CASE_KEY in i.stash)} cases")
        deselected.extend(selected)
        selected = []
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


# -- targets -----------------------------------------------------------------------------------


def _accepts(target: Target) -> bool:
    import socket

    try:
        with socket.create_connection((target.host, target.port), timeout=0.5):
            return True
    except OSError:
        return False


class TargetHandle:
    """The server under test. A server the run started is restarted if it died (crash or, for
    ``ffmpeg -listen``, its one connection ended), and the crash is recorded."""

    def __init__(self, target: Target, driver: Any = None, name: str = "") -> None:
        self.target = target
        self.driver = driver
        self.name = name
        self.restarts: list[str] = []

    def ensure(self, previous_case: str | None) -> str | None:
        if self.driver is None:
            return None
        if self.driver.alive() and self.name != "ffmpeg-listen" and not _accepts(self.target):
            # Refusing connections while the process still exists: it is on its way down.
            proc = getattr(self.driver, "proc", None)
            if proc is not None:
                try:
                    proc.wait(2.0)
                except Exception:  # noqa: BLE001 - still alive: restart it anyway
                    pass
            self.driver.stop()
        if self.driver.alive():
            return None
        code = getattr(getattr(self.driver, "proc", None), "returncode", None)
        self.driver.stop()
        self.target = self.driver.start()
        note = f"{self.name} had exited (code {code}) after case {previous_case or '(start)'}; restarted"
        self.restarts.append(note)
        return note

    def stop(self) -> None:
        if self.driver is not None:
            self.driver.stop()


@pytest.fixture(scope="session")
def rtmp_target(request: pytest.FixtureRequest) -> Iterator[TargetHandle]:
    """The server under test: --target URL, --target-server NAME, or the embedded reference server."""
    config = request.config
    url = config.getoption("--target")
    server_name = config.getoption("--target-server")
    if url:
        yield from _impaired(config, TargetHandle(Target.parse(url)))
        return
    from rtmpconf.harness.peers.servers import SERVER_NAMES, make_server

    name = server_name or "reference"
    if name not in SERVER_NAMES:
        raise pytest.UsageError(f"--target-server {name!r}: choose one of {', '.join(SERVER_NAMES)}")
    if name == "reference":
        from rtmpconf.harness.targets import ReferenceServerProcess

        reports = Path(config.rootpath) / "reports"
        reports.mkdir(exist_ok=True)
        driver: Any = ReferenceServerProcess(log_path=reports / "reference-server.log")
    else:
        driver = make_server(name)
    try:
        target = driver.start()
    except Exception as exc:  # noqa: BLE001 - a target that cannot start ends the run with a reason
        raise pytest.UsageError(f"cannot start --target-server {name}: {exc}") from exc
    handle = TargetHandle(target, driver, name)
    config._rtmp_target_handle = handle  # type: ignore[attr-defined]
    try:
        yield from _impaired(config, handle)
    finally:
        handle.stop()


def _impaired(config: pytest.Config, handle: TargetHandle) -> Iterator[TargetHandle]:
    """With --impair PROFILE, cases reach the target through the impairment proxy."""
    profile = config.getoption("--impair")
    if not profile:
        yield handle
        return
    from rtmpconf.harness.impair import start_proxy_for

    proxy = start_proxy_for(handle.target, profile)
    real_ensure = handle.ensure

    def ensure(previous_case: str | None) -> str | None:
        note = real_ensure(previous_case)
        handle.target = proxy.retarget(handle.target) if note else proxy.target
        return note

    handle.ensure = ensure  # type: ignore[method-assign]
    handle.target = proxy.target
    try:
        yield handle
    finally:
        proxy.stop()


class CaseContext:
    """Handed to every case as the ``rtmp`` fixture."""

    def __init__(self, item: pytest.Item, target: Target, timeout: float, info: CaseInfo) -> None:
        self.item = item
        self.target = target
        self.timeout = timeout
        self.info = info
        self.clients: list[RtmpClient] = []
        self._n = 0

    @property
    def rule(self) -> str:
        return self.info.rule

    def stream_name(self, hint: str = "s") -> str:
        """A stream name unique to this case, so cases never collide on a shared target."""
        self._n += 1
        base = self.info.case_id.replace("/", "-").replace("[", "-").replace("]", "")
        return f"{base}-{hint}{self._n}-{os.getpid()}-{int(time.time() * 1000) % 100000}"

    def client(self, label: str = "", **kw: Any) -> RtmpClient:
        c = RtmpClient(self.target, timeout=kw.pop("timeout", self.timeout),
                       label=label or f"{self.info.case_id} #{len(self.clients) + 1}", **kw)
        self.clients.append(c)
        self.info.logs.append(c.log)
        return c

    def judge(self, *findings: Finding | list[Finding]) -> Verdict:
        """Record findings (each capped by its rule's level) and turn the verdict into the pytest
        outcome."""
        flat: list[Finding] = []
        for f in findings:
            flat.extend(f if isinstance(f, list) else [f])
        self.info.findings.extend(capped(self.info, f) for f in flat)
        if not self.info.findings:
            self.info.verdict = Verdict.ERROR
            self.info.error = self.info.message = "the checker produced no findings"
            return Verdict.ERROR
        return conclude(self.info, self.item.config)


@pytest.fixture
def rtmp(request: pytest.FixtureRequest, rtmp_target: TargetHandle) -> Iterator[CaseContext]:
    item = request.node
    info = item.stash.get(_CASE_KEY, None)
    if info is None:
        info = CaseInfo(item.name, "?", "MUST", "", "")
        item.stash[_CASE_KEY] = info
    cases: list[CaseInfo] = request.config._rtmp_cases  # type: ignore[attr-defined]
    note = rtmp_target.ensure(cases[-1].case_id if cases else None)
    if note:
        info.restart_note = note
        if cases and not cases[-1].crashed_target:
            cases[-1].crashed_target = note
    ctx = CaseContext(item, rtmp_target.target, request.config.getoption("--rtmp-timeout"), info)
    yield ctx
    if rtmp_target.driver is not None and rtmp_target.name not in ("reference", "ffmpeg-listen") \
            and not _accepts(rtmp_target.target):
        # Found dead right after this case: the crash belongs to this case, not the next one.
        info.crashed_target = f"{rtmp_target.name} stopped accepting connections during this case"
        info.findings.append(Finding(info.rule, Verdict.INFORMATIONAL, info.crashed_target))
    if request.config.getoption("allure_report_dir", None):
        # Rendering logs, hex and pcapng costs ~0.2 s a case: only when a report is wanted.
        _attach(info)
    if info.error:
        # A harness error is reported as a JUnit <error>, not a <failure>.
        raise RuntimeError(f"harness error: {info.error}")


# -- running -----------------------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    info = pyfuncitem.stash.get(_CASE_KEY, None)
    if info is None or not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    config = pyfuncitem.config
    budget = config.getoption("--run-budget")
    elapsed = time.monotonic() - config._rtmp_start  # type: ignore[attr-defined]
    if elapsed > budget:
        info.findings.append(Finding(info.rule, Verdict.NOT_RUN, f"the run budget of {budget:g} s was used up"))
        conclude(info, config)
        return True
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    watchdog = min(config.getoption("--case-timeout"), max(1.0, budget - elapsed))
    started = time.monotonic()
    try:
        asyncio.run(asyncio.wait_for(pyfuncitem.obj(**kwargs), watchdog))
    except asyncio.TimeoutError:
        _fail(info, f"case watchdog: no verdict within {watchdog:g} s (target too slow or hung)", config)
    except StepTimeout as exc:
        _fail(info, f"no answer from the target: {exc}", config)
    except PeerClosed as exc:
        _fail(info, f"{exc}", config)
    except (pytest.fail.Exception, pytest.skip.Exception):
        raise
    except ConnectionRefusedError as exc:
        _fail(info, f"target refused the connection: {exc}", config)
    except RemoteProtocolError as exc:
        # The target sent bytes the client could not decode: the target's fault, with a rule.
        rule = exc.rule if exc.rule and exc.rule in catalogue() else info.rule
        info.findings.append(capped(info, Finding(rule, Verdict.FAIL, f"target sent malformed data: {exc}")))
        conclude(info, config)
    except Exception as exc:  # noqa: BLE001 - a harness bug must not look like a target failure
        info.verdict = Verdict.ERROR
        info.error = info.message = f"{type(exc).__name__}: {exc}"
    finally:
        info.duration = time.monotonic() - started
    if info.verdict is None and not info.error:
        info.verdict = Verdict.ERROR
        info.error = info.message = "the case ended without a verdict (no rtmp.judge call)"
    return True


def capped(info: CaseInfo, finding: Finding) -> Finding:
    """``finding`` at most as severe as its rule's level allows (DESIGN.md: the catalogue level
    caps the verdict; a checker never decides severity on its own)."""
    try:
        rule = catalogue().rule(finding.rule)
    except CatalogueError:
        # A checker citing a rule the catalogue lacks is a harness bug: never a verdict on the target.
        return Finding(finding.rule, Verdict.ERROR, f"harness bug: finding cites a rule the catalogue lacks: "
                       f"{finding.line()}")
    return cap(finding, rule.level)


def conclude(info: CaseInfo, config: pytest.Config) -> Verdict:
    """The case verdict from its findings, turned into the pytest outcome: FAIL (or NON-STRICT
    with --strict) fails the test, NOT-RUN skips it (JUnit <skipped>), a harness ERROR errors."""
    verdict = worst(info.findings)
    info.verdict = verdict
    bad = [f for f in info.findings if f.verdict.rank >= Verdict.NON_STRICT.rank]
    shown = bad or [f for f in info.findings if f.verdict is Verdict.NOT_RUN] or info.findings
    info.message = "; ".join(f.line() for f in shown)[:2000]
    strict = config.getoption("--rtmp-strict")
    if verdict is Verdict.ERROR:
        info.error = info.message
    elif verdict is Verdict.FAIL or (verdict is Verdict.NON_STRICT and strict):
        pytest.fail(info.message, pytrace=False)
    elif verdict is Verdict.NOT_RUN:
        pytest.skip(f"NOT-RUN: {info.message}")
    return verdict


def _fail(info: CaseInfo, message: str, config: pytest.Config) -> None:
    """The scenario itself showed a violation (no answer, a close, malformed bytes): a finding
    against the case's rule, capped by its level like any other."""
    info.findings.append(capped(info, Finding(info.rule, Verdict.FAIL, message)))
    conclude(info, config)


def pytest_runtest_setup(item: pytest.Item) -> None:
    info = item.stash.get(_CASE_KEY, None)
    if info is None or allure is None:
        return
    rule = info.rule_info
    assert rule is not None
    # The report's tree: catalogue section > rule > case.
    allure.dynamic.epic(rule.section.label)
    allure.dynamic.feature(rule.label)
    allure.dynamic.parent_suite(rule.section.label)
    allure.dynamic.suite(rule.label)
    allure.dynamic.title(info.case_id)
    allure.dynamic.story(info.case_id)
    allure.dynamic.severity(SEVERITY.get(rule.level.value, "normal"))
    allure.dynamic.tag(info.level)
    for link in rule.spec:
        allure.dynamic.link(link.url, name=link.name)
    if info.requirement:
        allure.dynamic.description(info.requirement)


def _attach(info: CaseInfo) -> None:
    if allure is None:
        return
    if info.verdict is not None:
        # Filterable in the report: NON-STRICT and INFORMATIONAL pass, but a reader wants them.
        allure.dynamic.tag(f"verdict:{info.verdict.value}")
        if info.expected:
            allure.dynamic.tag("expected-deviation")
    findings = "\n".join(f.line() + (f"\n    evidence: {f.evidence}" if f.evidence else "") for f in info.findings)
    allure.attach(findings or "(no findings)", name="findings", attachment_type=allure.attachment_type.TEXT)
    for i, log in enumerate(info.logs):
        if not log.events:
            continue
        allure.attach(log.render(), name=f"wire log {i + 1}", attachment_type=allure.attachment_type.TEXT)
        allure.attach(f"client -> server\n{log.hexdump('c2s')}\n\nserver -> client\n{log.hexdump('s2c')}",
                      name=f"hex dump {i + 1}", attachment_type=allure.attachment_type.TEXT)
        try:
            from rtmpconf.harness.report.pcap import wirelog_to_pcapng
        except ImportError:
            continue
        allure.attach(wirelog_to_pcapng(log), name=f"traffic {i + 1}.pcapng", extension="pcapng",
                      attachment_type="application/vnd.tcpdump.pcap")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    info = item.stash.get(_CASE_KEY, None)
    if info is None:
        return
    report = outcome.get_result()
    if report.when == "call":
        if info.verdict is None:
            if report.skipped:
                # Skipped before a verdict (a program is missing, root is needed): not a verdict
                # on the target.
                info.verdict = Verdict.NOT_RUN
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
                info.message = info.message or str(reason).removeprefix("Skipped: ")
            elif report.failed:
                info.verdict = Verdict.ERROR
                info.message = info.message or str(report.longrepr)[-2000:]
        manifest = item.config._rtmp_manifest  # type: ignore[attr-defined]
        dev = manifest.find(info.case_id) if manifest is not None else None
        if dev is not None and info.verdict is not None:
            if info.verdict.value == dev.verdict or (info.verdict is Verdict.FAIL and dev.verdict == "FAIL"):
                info.expected = f"{dev.reason} ({dev.link})"
                if report.failed:
                    # A known deviation: reported, but it does not fail the gate.
                    report.outcome = "skipped"
                    report.wasxfail = f"expected deviation: {dev.reason}"
            elif info.verdict in (Verdict.PASS, Verdict.INFORMATIONAL, Verdict.UNIMPLEMENTED) or (
                    info.verdict is Verdict.NON_STRICT and dev.verdict == "FAIL"):
                info.stale = f"manifest {manifest.path.name} expects {dev.verdict}, got {info.verdict.value}"
        if info.verdict is not None:
            report.user_properties.append(("verdict", info.verdict.value))
    if report.when == "teardown":
        item.config._rtmp_cases.append(info)  # type: ignore[attr-defined]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    cases: list[CaseInfo] = config._rtmp_cases  # type: ignore[attr-defined]
    if not cases:
        return
    counts: dict[str, int] = {}
    for c in cases:
        v = (c.verdict or Verdict.ERROR).value
        counts[v] = counts.get(v, 0) + 1
    tw = terminalreporter
    tw.section("RTMP conformance verdicts")
    for v in Verdict:
        if counts.get(v.value) and v is not Verdict.NOT_RUN:
            tw.line(f"{v.value:14s} {counts[v.value]}")
    not_run = [c for c in cases if c.verdict is Verdict.NOT_RUN]
    if not_run:
        # Apart from the verdicts: these say nothing about the target.
        tw.line(f"not run        {len(not_run)} (no verdict on the target)")
        reasons: dict[str, list[str]] = {}
        for c in not_run:
            reasons.setdefault(c.message.removeprefix("NOT-RUN: ")[:160], []).append(c.case_id)
        for reason, ids in sorted(reasons.items(), key=lambda kv: -len(kv[1]))[:15]:
            tw.line(f"  NOT-RUN     {len(ids):3d} x {reason}" + (f" ({ids[0]})" if len(ids) == 1 else ""))
    for c in cases:
        if c.expected:
            tw.line(f"  EXPECTED    {c.case_id}: {(c.verdict or Verdict.ERROR).value} — {c.expected[:200]}")
        elif c.verdict in (Verdict.FAIL, Verdict.ERROR) or (c.verdict is Verdict.NON_STRICT):
            tw.line(f"  {(c.verdict or Verdict.ERROR).value:11s} {c.case_id}: {c.message[:300]}")
    for c in cases:
        if c.stale:
            tw.line(f"  STALE       {c.case_id}: {c.stale}")
    handle = getattr(config, "_rtmp_target_handle", None)
    if handle is not None and handle.restarts:
        tw.line(f"target-server restarts: {len(handle.restarts)}")
        for note in handle.restarts[:20]:
            tw.line(f"  RESTART     {note}")
    manifest = config._rtmp_manifest  # type: ignore[attr-defined]
    if manifest is not None:
        for d in manifest.unmatched():
            tw.line(f"  UNMATCHED   manifest entry {d.case!r} matched no case that ran")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    cases: list[CaseInfo] = config._rtmp_cases  # type: ignore[attr-defined]
    path = config.getoption("--summary")
    if not cases or not path:
        return
    manifest = config._rtmp_manifest  # type: ignore[attr-defined]
    from rtmpconf import __version__
    from rtmpconf.harness.catalogue import version as catalogue_version

    out = {
        "target": config.getoption("--target") or config.getoption("--target-server") or "embedded reference server",
        "suite_version": __version__,
        "catalogue_version": catalogue_version(),
        "manifest": str(manifest.path) if manifest is not None else None,
        "target_restarts": list(getattr(getattr(config, "_rtmp_target_handle", None), "restarts", [])),
        "strict": bool(config.getoption("--rtmp-strict")),
        "duration_s": round(time.monotonic() - config._rtmp_start, 3),  # type: ignore[attr-defined]
        "counts": {},
        "cases": [],
    }
    for c in cases:
        v = (c.verdict or Verdict.ERROR).value
        out["counts"][v] = out["counts"].get(v, 0) + 1  # type: ignore[index, union-attr]
        out["cases"].append({  # type: ignore[union-attr]
            "id": c.case_id, "rule": c.rule, "rule_title": c.rule_info.title if c.rule_info else "",
            "level": c.level, "section": c.section, "verdict": v,
            "duration": round(c.duration, 4), "message": c.message,
            "expected_deviation": c.expected, "stale_manifest_entry": c.stale,
            "target_died_after": c.crashed_target,
            "findings": [{"rule": f.rule, "verdict": f.verdict.value, "message": f.message,
                          "expected": f.expected, "actual": f.actual} for f in c.findings],
        })
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(out, indent=2, default=str))
