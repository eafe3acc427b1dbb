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
import ctypes
import fnmatch
import gc
import inspect
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from rtmpconf.harness.client import PeerClosed, RoleUnavailable, RtmpClient, StepTimeout, Target, TargetError
from rtmpconf.rtmp.errors import RemoteProtocolError
from rtmpconf.harness.catalogue import CatalogueError, Rule, catalogue
from rtmpconf.harness import timing as link_timing
from rtmpconf.harness.timing import Timing
from rtmpconf.harness.verdict import Finding, Verdict, cap, not_run, worst
from rtmpconf.harness.wirelog import WireLog

#: Per-step deadline default (s) (--rtmp-timeout).
STEP_TIMEOUT_S = 5.0
#: Per-case watchdog default (s) (--case-timeout).
CASE_TIMEOUT_S = 30.0
#: Whole-run budget default (s) (--run-budget).
RUN_BUDGET_S = 900.0
#: A case whose wire logs hold more than this is followed by a full garbage collection.
GC_AFTER_BYTES = 4 * 1024 * 1024

#: Idle timeout of the embedded reference server (its default is 60 s; ROB-9 waits for it).
EMBEDDED_IDLE_TIMEOUT_S = 10.0
#: Longest wait before a case for the emulated link to carry what earlier cases left in it.
LINK_SETTLE_LIMIT_S = 60.0
#: Idle timeouts of the servers --target-server starts, from their defaults: nginx-rtmp `timeout 60s`
#: (ngx_rtmp_core_module.c); node-media-server 4 has none for a silent publisher that we know of.
KNOWN_IDLE_TIMEOUTS: dict[str, float] = {"nginx-rtmp": 60.0}

#: Client mode (the suite plays the server, an agent is judged) lives in its own plugin module;
#: -j N (concurrent runs over pytest-xdist) in harness/parallel.py.
pytest_plugins = ["rtmpconf.harness.clients.plugin", "rtmpconf.harness.parallel"]

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
    expected_link: str | None = None  #: the manifest entry's link
    stale: str | None = None  #: manifest entry that no longer applies (the case now passes)
    restart_note: str | None = None  #: the target-server was restarted before this case
    crashed_target: str | None = None  #: the target-server was found dead after this case


def pytest_addoption(parser: pytest.Parser) -> None:
    # Every option carries the --rtmp- prefix (the short unprefixed spellings of earlier releases
    # are kept as aliases); `rtmpconf run` offers the same options without the prefix.
    from rtmpconf.cliutil import positive_float

    g = parser.getgroup("rtmp-conformance")
    g.addoption("--rtmp-target", "--target", dest="rtmp_target", default=os.environ.get("RTMP_TARGET"),
                help="rtmp://[user:pass@]host[:port]/app[?query] of the server under test (env RTMP_TARGET); "
                     "default: the embedded reference server")
    g.addoption("--rtmp-target-server", "--target-server", dest="rtmp_target_server", default=None,
                help="start this server as the target: reference, nginx-rtmp, node-media-server, ffmpeg-listen")
    g.addoption("--rtmp-app", dest="rtmp_app", default=None, help="the app to connect to (overrides the URL's)")
    g.addoption("--rtmp-publish-name", dest="rtmp_publish_name", default=None,
                help="what publish sends for a case's stream name {name}, e.g. '{name}?key=SECRET'")
    g.addoption("--rtmp-play-name", dest="rtmp_play_name", default=None,
                help="what play sends for a case's stream name {name}, e.g. 'edge_{name}'")
    g.addoption("--rtmp-role", dest="rtmp_role", choices=("auto", "full", "ingest", "edge"), default="auto",
                help="what the target serves: full (publish and play), ingest (publish only), edge (play "
                     "only); auto: a capability probe finds out")
    g.addoption("--rtmp-no-preflight", dest="rtmp_no_preflight", action="store_true",
                help="skip the preflight check (TCP, handshake, connect to the app) before the first case")
    g.addoption("--rtmp-case", "--case", dest="rtmp_case", action="append", default=[],
                help="run only case IDs (or rule IDs) matching this glob")
    g.addoption("--rtmp-strict", dest="rtmp_strict", action="store_true", help="NON-STRICT verdicts fail the run")
    g.addoption("--rtmp-timeout", dest="rtmp_timeout", type=positive_float, default=STEP_TIMEOUT_S,
                help="per-step deadline (s)")
    g.addoption("--rtmp-case-timeout", "--case-timeout", dest="rtmp_case_timeout", type=positive_float,
                default=CASE_TIMEOUT_S, help="per-case watchdog (s)")
    g.addoption("--rtmp-run-budget", "--run-budget", dest="rtmp_run_budget", type=positive_float,
                default=RUN_BUDGET_S,
                help="whole-run budget (s) on a direct link; --rtmp-impair/--rtmp-time-scale stretch it per case")
    g.addoption("--rtmp-dry-run", dest="rtmp_dry_run", action="store_true",
                help="list case IDs, levels and requirements")
    g.addoption("--rtmp-summary", "--summary", dest="rtmp_summary", default=None,
                help="write the per-case summary JSON here")
    g.addoption("--rtmp-junit", dest="rtmp_junit", default=None,
                help="write JUnit XML here: one testsuite per catalogue section, test name = case ID")
    g.addoption("--rtmp-interop", "--interop", dest="rtmp_interop", action="store_true",
                help="also run the interop cases that drive real programs (ffmpeg, VLC ...) in real time")
    g.addoption("--rtmp-interop-only", "--interop-only", dest="rtmp_interop_only", action="store_true",
                help="run only the interop cases")
    g.addoption("--rtmp-impair", "--impair", dest="rtmp_impair", default=None,
                help="run every case through this impairment profile (rtmpconf impair --list)")
    g.addoption("--rtmp-drain", dest="rtmp_drain", default=os.environ.get("RTMPCONF_DRAIN"),
                help="how Reconnect Request cases make the target drain: token:SECRET (the reference server's "
                     "rtmpconf.drain) or a shell command (harness/drain.py); env RTMPCONF_DRAIN")
    g.addoption("--rtmp-time-scale", "--time-scale", dest="rtmp_time_scale", type=positive_float, default=None,
                help="stretch every deadline of a case this many times (a slow or far-away target; "
                     "env RTMPCONF_TIME_SCALE); --rtmp-impair stretches them for its profile on its own")
    g.addoption("--rtmp-manifest", "--manifest", dest="rtmp_manifest", default=None,
                help="expected-deviation manifest (default with --rtmp-target-server NAME: the bundled one)")
    g.addoption("--rtmp-http-target", "--http-target", dest="rtmp_http_target", default=os.environ.get("HTTP_TARGET"),
                help="http://host:port of the target's HTTP outputs (env HTTP_TARGET); default: the embedded "
                     "reference server's, or the one --rtmp-target-server starts")
    from rtmpconf.harness.report.allure import ATTACH_POLICIES

    g.addoption("--rtmp-attach", dest="rtmp_attach", choices=ATTACH_POLICIES, default="failures",
                help="evidence in the Allure report: failures (default: findings, full decoded log and pcapng "
                     "for FAIL/NON-STRICT/ERROR, findings and a compact log for the rest), all (full evidence "
                     "and hex dumps for every case) or none")
    g.addoption("--rtmp-attach-hex", dest="rtmp_attach_hex", action="store_true",
                help="add hex dumps to the cases that carry full evidence")
    for kind, label in (("flv", "HTTP-FLV"), ("ts", "HTTP-TS"), ("hls", "HLS")):
        opt = "hls-url" if kind == "hls" else f"http-{kind}-url"
        g.addoption(f"--rtmp-{opt}", f"--{opt}", default=None, dest=f"rtmp_http_{kind}_url",
                    help=f"{label} URL template with {{base}}, {{app}}, {{name}} ('none' = no such output)")
    g.addoption("--rtmp-tls", "--tls", dest="rtmp_tls", action="store_true",
                help="run every case over RTMPS (the embedded reference server's TLS listener, or an rtmps:// target)")
    g.addoption("--rtmp-tls-target", "--tls-target", dest="rtmp_tls_target", default=os.environ.get("RTMPS_TARGET"),
                help="rtmps://host:port/app of the target's TLS listener, for the TLS cases (env RTMPS_TARGET)")
    g.addoption("--rtmp-tls-ca", "--tls-ca", dest="rtmp_tls_ca", default=None,
                help="PEM file of CAs to trust for rtmps:// targets (default: the system store)")
    g.addoption("--rtmp-tls-no-verify", "--tls-no-verify", dest="rtmp_tls_no_verify", action="store_true",
                help="do not verify rtmps:// certificates")
    g.addoption("--rtmp-tls-sni", "--tls-sni", dest="rtmp_tls_sni", default=None,
                help="TLS server name to send and verify (default: the URL's host)")
    g.addoption("--rtmp-rtsp-url", "--rtsp-url", dest="rtmp_rtsp_url", default=os.environ.get("RTSP_URL"),
                help="the target's RTSP output as a template, e.g. rtsp://host:5544/{app}/{name}, for the RTSP cases")
    g.addoption("--rtmp-auth-target", "--auth-target", dest="rtmp_auth_target",
                default=os.environ.get("RTMP_AUTH_TARGET"),
                help="rtmp://host/app/name?<credential>: an app of the target that requires a credential and one "
                     "it accepts, for the AUTH cases (env RTMP_AUTH_TARGET)")
    g.addoption("--rtmp-idle-timeout", "--idle-timeout", dest="rtmp_idle_timeout", type=positive_float, default=None,
                help="the target's idle timeout for a silent publisher, in seconds (ROB-9); default: known for "
                     "servers the run starts")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rule(rule_id, level, section, id=None): catalogue rule of a case")
    config.addinivalue_line("markers", "interop: drives real programs; runs only with --interop")
    config._rtmp_start = time.monotonic()  # type: ignore[attr-defined]
    config._rtmp_cases = []  # type: ignore[attr-defined]
    config._rtmp_manifest = None  # type: ignore[attr-defined]
    config._rtmp_timing = _run_timing(config)  # type: ignore[attr-defined]
    from rtmpconf.harness.manifest import Manifest

    config._rtmp_target_parsed = None  # type: ignore[attr-defined]
    url = config.getoption("--rtmp-target", None)
    if url and config.getoption("--rtmp-target-server", None):
        raise pytest.UsageError("give --rtmp-target or --rtmp-target-server, not both")
    try:
        parsed = Target.parse(url or "rtmp://127.0.0.1/live", app=config.getoption("--rtmp-app", None),
                              publish_name=config.getoption("--rtmp-publish-name", None),
                              play_name=config.getoption("--rtmp-play-name", None))
    except TargetError as exc:
        raise pytest.UsageError(str(exc)) from exc
    #: The user's URL with app and name templates applied; for a started server, the templates only.
    config._rtmp_target_parsed = parsed  # type: ignore[attr-defined]
    # RTMPS options: one clear line before anything runs.
    ca = config.getoption("--rtmp-tls-ca", None)
    if ca and not Path(ca).is_file():
        raise pytest.UsageError(f"--tls-ca {ca}: no such file")
    tls_url = config.getoption("--rtmp-tls-target", None)
    if tls_url:
        try:
            if not Target.parse(tls_url).tls:
                raise pytest.UsageError(f"--tls-target must be an rtmps:// URL, got {tls_url!r}")
        except TargetError as exc:
            raise pytest.UsageError(f"--tls-target: {exc}") from exc
    auth_url = config.getoption("--rtmp-auth-target", None)
    if auth_url:
        from rtmpconf.harness.auth import static_setup

        try:
            static_setup(auth_url)
        except (TargetError, ValueError) as exc:
            raise pytest.UsageError(str(exc)) from exc
    if config.getoption("--rtmp-tls", None) and url and not parsed.tls and not tls_url:
        raise pytest.UsageError("--tls with a plain rtmp:// target needs --tls-target rtmps://...")
    path = config.getoption("--rtmp-manifest", None)
    server = config.getoption("--rtmp-target-server", None)
    try:
        if path:
            config._rtmp_manifest = Manifest.load(path)  # type: ignore[attr-defined]
        elif server:
            config._rtmp_manifest = Manifest.for_server(server)  # type: ignore[attr-defined]
    except (OSError, ValueError) as exc:
        raise pytest.UsageError(f"bad manifest: {exc}") from exc


def _run_timing(config: pytest.Config) -> Timing:
    """The run's Timing (harness.timing): the --rtmp-impair profile's link, times --rtmp-time-scale."""
    raw = config.getoption("--rtmp-time-scale", None)
    if raw is None:
        env = os.environ.get("RTMPCONF_TIME_SCALE", "").strip()
        try:
            raw = float(env) if env else 1.0
        except ValueError:
            raise pytest.UsageError(f"RTMPCONF_TIME_SCALE={env!r}: a number > 0, e.g. 3") from None
    if not 0 < raw < float("inf"):  # also refuses NaN
        raise pytest.UsageError(f"--rtmp-time-scale {raw:g}: a number > 0, e.g. 3")
    profile = None
    name = config.getoption("--rtmp-impair", None)
    if name:
        from rtmpconf.harness.impair import get_profile

        try:
            profile = get_profile(name)
        except KeyError as exc:
            raise pytest.UsageError(str(exc.args[0])) from None
    return Timing.for_profile(profile, scale=raw)


def run_timing(config: pytest.Config) -> Timing:
    """The Timing every case of this run waits by (also for code outside a case's ``rtmp``)."""
    found = getattr(config, "_rtmp_timing", None)
    return found if found is not None else _run_timing(config)


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
    globs = config.getoption("--rtmp-case")
    interop_only = config.getoption("--rtmp-interop-only")
    with_interop = config.getoption("--rtmp-interop") or interop_only
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
    selected = _catalogue_order(selected)
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
    config._rtmp_case_count = sum(1 for i in items if _CASE_KEY in i.stash)  # type: ignore[attr-defined]


def _catalogue_order(items: list[pytest.Item]) -> list[pytest.Item]:
    """Cases in catalogue order (section, rule; a rule's cases as written), so the report, the
    terminal and JUnit list them as the catalogue does. Other test items keep their places."""
    slots = [i for i, item in enumerate(items) if _CASE_KEY in item.stash]
    cat = catalogue()
    ordered = sorted((items[i] for i in slots), key=lambda it: cat.order_key(it.stash[_CASE_KEY].rule))
    out = list(items)
    for slot, item in zip(slots, ordered):
        out[slot] = item
    return out


# -- targets -----------------------------------------------------------------------------------


def _accepts(target: Target, timeout: float = 0.5) -> bool:
    import socket

    try:
        with socket.create_connection((target.host, target.port), timeout=timeout):
            return True
    except OSError:
        return False


def _still_there(target: Target, timing: Timing) -> bool:
    """Two more looks before a remote target is declared gone, each long enough for the SYN to be
    sent again twice (Linux retransmits after 1 s and 3 s): a lost packet on a lossy link is not a
    target gone. A refused connection answers at once, so a target really gone costs ~1 s."""
    for _ in range(2):
        time.sleep(0.5)
        if _accepts(target, timing.deadline(3.5)):
            return True
    return False


class TargetHandle:
    """The server under test. A server the run started is restarted if it died (crash or, for
    ``ffmpeg -listen``, its one connection ended), and the crash is recorded."""

    def __init__(self, target: Target, driver: Any = None, name: str = "", tls_target: Target | None = None,
                 over_tls: bool = False) -> None:
        self.target = target
        self.driver = driver
        self.name = name
        self.restarts: list[str] = []
        #: Set by the preflight when S0/S1/S2 are malformed: only handshake cases can judge it.
        self.handshake_broken: str | None = None
        #: Roles the target serves ("publish", "play") -> None, or the reason it does not.
        self.roles: dict[str, str | None] | None = None
        self.roles_line = "publish+play"
        #: A --target that stopped accepting connections: the case it died in.
        self.gone_after: str | None = None
        #: How cases make the target drain (ERTMP-11 Reconnect Request; harness/drain.py), or None.
        self.drain: Any = None
        #: The target's RTMPS listener (TLS cases); with ``over_tls`` every case uses it.
        self.tls_target = tls_target
        self.over_tls = over_tls
        #: How long the target keeps a silent publisher (s), when known (ROB-9).
        self.idle_timeout: float | None = None
        #: The target's RTSP output, ``rtsp://host:port/{app}/{name}``, when known (RTSP cases).
        self.rtsp_template: str | None = None
        #: A started server that failed its preflight in a -j worker (no pytest.exit there): why.
        self.unusable: str | None = None

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
        self.tls_target = getattr(self.driver, "tls_target", self.tls_target)
        self.rtsp_template = getattr(self.driver, "rtsp_template", None) or self.rtsp_template
        if self.over_tls and self.tls_target is not None:
            self.target = self.tls_target
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
    url = config.getoption("--rtmp-target")
    server_name = config.getoption("--rtmp-target-server")
    parsed: Target = config._rtmp_target_parsed  # type: ignore[attr-defined]
    from rtmpconf.harness.drain import hook_from, new_token

    over_tls = bool(config.getoption("--rtmp-tls"))
    if url:
        handle = url_target_handle(config, parsed)
        handle.drain = hook_from(config.getoption("--rtmp-drain"))
        config._rtmp_target_handle = handle  # type: ignore[attr-defined]
        from rtmpconf.harness.parallel import apply_controller_preflight

        if not apply_controller_preflight(config, handle):  # a -j worker: the controller did it once
            _preflight(config, handle, started=False)
        yield from _impaired(config, handle)
        return
    from rtmpconf.harness.peers.servers import SERVER_NAMES, make_server

    name = server_name or "reference"
    if name not in SERVER_NAMES:
        raise pytest.UsageError(f"--target-server {name!r}: choose one of {', '.join(SERVER_NAMES)}")
    if name == "reference":
        from rtmpconf.harness.targets import ReferenceServerProcess

        from rtmpconf.paths import reports_dir

        reports = reports_dir()
        reports.mkdir(parents=True, exist_ok=True)
        # A fresh admin token lets the Reconnect Request cases drain it (harness/drain.py).
        drain_spec = config.getoption("--rtmp-drain") or f"token:{new_token()}"
        token_args = ("--admin-token", drain_spec[len("token:"):]) if drain_spec.startswith("token:") else ()
        # The embedded server always has an RTMPS listener (throw-away certificates) for the TLS cases,
        # and a short idle timeout so ROB-9 (a silent publisher frees its name) runs in the default suite.
        import tempfile

        fd, conf = tempfile.mkstemp(prefix="rtmpconf-embedded-", suffix=".toml")
        os.write(fd, f"idle_timeout_s = {EMBEDDED_IDLE_TIMEOUT_S}\n".encode())
        os.close(fd)
        driver: Any = ReferenceServerProcess(log_path=reports / "reference-server.log", extra_args=token_args,
                                             tls=True, config=conf, rtsp=True)
    else:
        drain_spec = config.getoption("--rtmp-drain")
        driver = make_server(name)
    try:
        target = driver.start()
    except Exception as exc:  # noqa: BLE001 - a target that cannot start ends the run with a reason
        raise pytest.UsageError(f"cannot start --target-server {name}: {exc}") from exc
    import dataclasses

    target = dataclasses.replace(target, publish_template=parsed.publish_template,
                                 play_template=parsed.play_template,
                                 app=config.getoption("--rtmp-app") or target.app)
    tls_target = getattr(driver, "tls_target", None)
    if over_tls and tls_target is None:
        driver.stop()
        raise pytest.UsageError(f"--tls: --target-server {name} has no RTMPS listener here; "
                                "use --target rtmps://... for a server you run")
    handle = TargetHandle(tls_target if over_tls and tls_target else target, driver, name, tls_target, over_tls)
    handle.idle_timeout = config.getoption("--rtmp-idle-timeout") or (
        EMBEDDED_IDLE_TIMEOUT_S if name == "reference" else KNOWN_IDLE_TIMEOUTS.get(name))
    handle.rtsp_template = config.getoption("--rtmp-rtsp-url") or getattr(driver, "rtsp_template", None)
    handle.drain = hook_from(drain_spec)
    config._rtmp_target_handle = handle  # type: ignore[attr-defined]
    try:
        _preflight(config, handle, started=True)
        yield from _impaired(config, handle)
    finally:
        handle.stop()


def time_scale(config: pytest.Config) -> float:
    """How much slower than a local link the path to the target is (1.0 = local): --rtmp-time-scale
    (or RTMPCONF_TIME_SCALE); the preflight runs before any impairment proxy, so only this."""
    return run_timing(config).scale


def _preflight(config: pytest.Config, handle: TargetHandle, *, started: bool) -> None:
    """Before the first case: is the target an RTMP server we can connect to, and what does it
    serve? A wrong target ends the run at once with exit status 3 and one line saying what was
    found; a malformed handshake leaves only the handshake cases to run."""
    from rtmpconf.harness import preflight as pf

    config._rtmp_preflight = None  # type: ignore[attr-defined]
    role = config.getoption("--rtmp-role")
    if not config.getoption("--rtmp-no-preflight"):
        # A -j controller may have run it already (harness/parallel.py): once is enough.
        result = getattr(config, "_rtmp_preflight_result", None) or asyncio.run(
            pf.preflight(handle.target, scale=time_scale(config)))
        config._rtmp_preflight = result  # type: ignore[attr-defined]
        if result.outcome in (pf.Outcome.UNREACHABLE, pf.Outcome.NOT_RTMP, pf.Outcome.CONNECT_REFUSED):
            from rtmpconf.harness.parallel import is_worker

            if is_worker(config):
                # An xdist worker cannot end the run: its cases end at once and the controller
                # exits with EXIT_TARGET (harness/parallel.py).
                handle.unusable = f"target not usable ({result.outcome.value}): {result.line}"
                return
            handle.stop()
            pytest.exit(f"target not usable ({result.outcome.value}, after {result.seconds:g} s): {result.line}",
                        returncode=EXIT_TARGET)
        if result.outcome is pf.Outcome.HANDSHAKE_BROKEN:
            handle.handshake_broken = result.line
            return
    if role == "auto" and (started or config.getoption("--rtmp-no-preflight")):
        # The servers the suite starts serve both; without a preflight nothing is assumed missing.
        handle.roles_line = "publish+play (" + ("a server the suite started" if started else "not probed") + ")"
        return
    if role != "auto":
        roles = pf.ROLE_SETS[role]
        handle.roles = {r.value: (None if r in roles else f"--rtmp-role {role}") for r in pf.Role}
        handle.roles_line = f"{'+'.join(sorted(r.value for r in roles))} (declared: --rtmp-role {role})"
        return
    probe = asyncio.run(pf.probe_roles(handle.target, scale=time_scale(config)))
    if not probe.roles:
        # Neither role works: do not guess a partial target; every case judges on its own.
        handle.roles_line = f"unknown (capability probe: {'; '.join(probe.reasons.values())})"
        return
    handle.roles = {r.value: (None if r in probe.roles else f"capability probe: {probe.reasons.get(r.value)}")
                    for r in pf.Role}
    handle.roles_line = probe.describe()


#: With a malformed handshake only these rules can still be judged: the layout of S0, S1 and S2
#: and the byte counts (§5.2.2-5.2.4). Every other case needs a working handshake first.
HANDSHAKE_LAYOUT_RULES = frozenset({"HS-1", "HS-2", "HS-7", "HS-8", "HS-10"})

#: Exit status of a run whose target is unreachable or does not speak RTMP (README, "Exit codes").
EXIT_TARGET = 3


def _impaired(config: pytest.Config, handle: TargetHandle) -> Iterator[TargetHandle]:
    """With --impair PROFILE, cases reach the target through the impairment proxy."""
    profile = config.getoption("--rtmp-impair")
    if not profile:
        yield handle
        return
    from rtmpconf.harness.impair import start_proxy_for

    proxy = start_proxy_for(handle.target, profile)
    # Waits go on while the emulated link still carries bytes (harness.timing.Backlog.busy).
    run_timing(config).backlog.in_flight = proxy.queued_bytes
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
        run_timing(config).backlog.in_flight = None
        proxy.stop()


def url_target_handle(config: pytest.Config, parsed: Target) -> TargetHandle:
    """The handle of a ``--target URL`` run (TLS options applied); also built by a -j controller
    for its one preflight (harness/parallel.py)."""
    over_tls = bool(config.getoption("--rtmp-tls"))
    tls_url = config.getoption("--rtmp-tls-target")
    try:
        target = _with_tls_options(config, parsed)
        tls_target = target if target.tls else (
            _with_tls_options(config, Target.parse(tls_url, app=parsed.app)) if tls_url else None)
    except (TargetError, ValueError) as exc:
        raise pytest.UsageError(str(exc)) from None
    if tls_target is not None and not tls_target.tls:
        raise pytest.UsageError(f"--tls-target must be an rtmps:// URL, got {tls_url!r}")
    if over_tls and not target.tls:
        if tls_target is None:
            raise pytest.UsageError("--tls with a plain rtmp:// target needs --tls-target rtmps://...")
        target = tls_target
    handle = TargetHandle(target, tls_target=tls_target, over_tls=over_tls)
    handle.idle_timeout = config.getoption("--rtmp-idle-timeout")
    handle.rtsp_template = config.getoption("--rtmp-rtsp-url")
    return handle


def _with_tls_options(config: pytest.Config, target: Target) -> Target:
    """--tls-ca, --tls-no-verify and --tls-sni applied to an rtmps:// target."""
    import dataclasses

    if not target.tls:
        return target
    ca = config.getoption("--rtmp-tls-ca")
    if ca and not Path(ca).is_file():
        raise ValueError(f"--tls-ca {ca}: no such file")
    return dataclasses.replace(target, ca_file=ca or None, verify=not config.getoption("--rtmp-tls-no-verify"),
                               sni=config.getoption("--rtmp-tls-sni") or None)


class CaseContext:
    """Handed to every case as the ``rtmp`` fixture."""

    def __init__(self, item: pytest.Item, target: Target, timeout: float, info: CaseInfo,
                 tls_target: Target | None = None, timing: Timing | None = None) -> None:
        self.item = item
        self.target = target
        #: The target's RTMPS listener, if it has one the run knows of (TLS cases).
        self.tls_target = tls_target
        #: The target's idle timeout for a silent publisher (s), when known (ROB-9).
        self.idle_timeout: float | None = None
        #: The target's RTSP output URL template (``{app}``, ``{name}``), when known (RTSP cases).
        self.rtsp_template: str | None = None
        self.timeout = timeout  #: per-step deadline on a direct link (clients stretch it by ``timing``)
        self.info = info
        #: How the link stretches this case's waits (--impair, --time-scale): harness.timing.
        self.timing = timing or Timing()
        self.clients: list[RtmpClient] = []
        self._n = 0
        #: What the target serves (from the preflight's capability probe or --rtmp-role).
        self.roles: dict[str, str | None] | None = None
        #: How to make the target drain (harness/drain.py DrainHook), None when the run was not told.
        self.drain: Any = None

    def deadline(self, seconds: float) -> float:
        """A wait for something a direct local target does within ``seconds``, on this link."""
        return self.timing.deadline(seconds)

    def quiet(self, seconds: float) -> float:
        """A window watched for something that must not happen, on this link."""
        return self.timing.quiet(seconds)

    def transfer_s(self, nbytes: int, *, up: bool = True, down: bool = True) -> float:
        """Seconds ``nbytes`` need through this link's rate caps (publisher up, player down)."""
        return self.timing.transfer_s(nbytes, up=up, down=down)

    def transfer_deadline(self, nbytes: int, seconds: float, *, up: bool = True, down: bool = True) -> float:
        """A wait behind ``nbytes`` of transfer that takes ``seconds`` on a direct link."""
        return self.timing.transfer_deadline(nbytes, seconds, up=up, down=down)

    def too_slow(self, nbytes: int, *, up: bool = True, down: bool = True, share: float = 1.0) -> bool:
        """True (after judging the case NOT-RUN with the reason) when moving ``nbytes`` over this
        link would take more than ``share`` of the case watchdog: a slow link is no verdict."""
        budget = share * self.timing.watchdog(self.item.config.getoption("--rtmp-case-timeout"))
        reason = self.timing.too_slow(nbytes, budget, up=up, down=down)
        if reason is None:
            return False
        from rtmpconf.harness.verdict import not_run

        self.judge(not_run(self.info.rule, reason))
        return True

    @property
    def rule(self) -> str:
        return self.info.rule

    def stream_name(self, hint: str = "s") -> str:
        """A stream name unique to this case, so cases never collide on a shared target."""
        self._n += 1
        base = self.info.case_id.replace("/", "-").replace("[", "-").replace("]", "")
        return f"{base}-{hint}{self._n}-{os.getpid()}-{int(time.time() * 1000) % 100000}"

    def client(self, label: str = "", *, target: Target | None = None, **kw: Any) -> RtmpClient:
        kw.setdefault("timing", self.timing)
        c = RtmpClient(target or self.target, timeout=kw.pop("timeout", self.timeout),
                       label=label or f"{self.info.case_id} #{len(self.clients) + 1}", **kw)
        c.roles = self.roles
        c.side_logs = self.info.logs  # an authmod side connection's log joins the case's
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


def case_info(item: pytest.Item) -> CaseInfo:
    """The case's CaseInfo from the item's stash (made at collection; a placeholder if it is not a
    catalogued case), shared by the server-side and client-side case fixtures."""
    info = item.stash.get(_CASE_KEY, None)
    if info is None:
        info = CaseInfo(item.name, "?", "MUST", "", "")
        item.stash[_CASE_KEY] = info
    return info


@pytest.fixture
def rtmp(request: pytest.FixtureRequest, rtmp_target: TargetHandle) -> Iterator[CaseContext]:
    item = request.node
    info = case_info(item)
    cases: list[CaseInfo] = request.config._rtmp_cases  # type: ignore[attr-defined]
    if rtmp_target.unusable is not None:
        info.verdict = Verdict.ERROR
        info.error = info.message = rtmp_target.unusable
        raise RuntimeError(info.error)
    if rtmp_target.gone_after is not None:
        # A --target that died cannot be restarted: the rest of the run ends at once, each case
        # saying why, instead of each waiting for its own watchdog.
        info.verdict = Verdict.ERROR
        info.error = info.message = f"target gone after case {rtmp_target.gone_after}"
        raise RuntimeError(info.error)
    if rtmp_target.handshake_broken and info.rule not in HANDSHAKE_LAYOUT_RULES:
        info.findings.append(not_run(info.rule, "needs a working handshake; only the handshake layout cases "
                                                f"ran: {rtmp_target.handshake_broken}"))
        info.verdict = Verdict.NOT_RUN
        info.message = info.findings[-1].message
        pytest.skip(f"NOT-RUN: {info.message}")
    note = rtmp_target.ensure(cases[-1].case_id if cases else None)
    if note:
        info.restart_note = note
        if cases and not cases[-1].crashed_target:
            cases[-1].crashed_target = note
    ctx = CaseContext(item, rtmp_target.target, request.config.getoption("--rtmp-timeout"), info,
                      rtmp_target.tls_target, run_timing(request.config))
    ctx.roles = rtmp_target.roles
    ctx.drain = rtmp_target.drain
    ctx.idle_timeout = rtmp_target.idle_timeout
    ctx.rtsp_template = rtmp_target.rtsp_template
    yield ctx
    if rtmp_target.driver is not None and rtmp_target.name not in ("reference", "ffmpeg-listen") \
            and not _accepts(rtmp_target.target):
        # Found dead right after this case: the crash belongs to this case, not the next one.
        info.crashed_target = f"{rtmp_target.name} stopped accepting connections during this case"
        info.findings.append(Finding(info.rule, Verdict.INFORMATIONAL, info.crashed_target))
    elif rtmp_target.driver is None and not _accepts(rtmp_target.target) \
            and not _still_there(rtmp_target.target, run_timing(request.config)):
            rtmp_target.gone_after = info.case_id
            info.crashed_target = "the target stopped accepting connections during this case"
            info.findings.append(Finding(info.rule, Verdict.INFORMATIONAL, info.crashed_target))
    # The case info outlives the case (summary, terminal report); its wire logs must not, or the
    # run's memory grows with every byte of every case.
    heavy = sum(_log_bytes(log) for log in info.logs) > GC_AFTER_BYTES
    info.logs = []
    if heavy:
        # A failed case's exception keeps its frames (clients, logs) in reference cycles (pluggy's
        # outcome, asyncio tasks) until the cyclic GC runs, and bytes never trigger it; then give
        # the freed heap back, or fragmentation keeps the run at its worst case's size.
        gc.collect()
        _malloc_trim()
    if info.error:
        # A harness error is reported as a JUnit <error>, not a <failure>.
        raise RuntimeError(f"harness error: {info.error}")


@pytest.fixture
def http(rtmp: CaseContext, rtmp_target: TargetHandle, request: pytest.FixtureRequest) -> Any:
    """The HTTP side of the target for HTTP-output cases (harness/http/target.py)."""
    from rtmpconf.harness.http.target import http_case

    return http_case(request.config, rtmp, rtmp_target)


# -- running -----------------------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    info = pyfuncitem.stash.get(_CASE_KEY, None)
    if info is None or not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    config = pyfuncitem.config
    budget = run_timing(config).run_budget(config.getoption("--rtmp-run-budget"),
                                           getattr(config, "_rtmp_case_count", 1))
    elapsed = time.monotonic() - config._rtmp_start  # type: ignore[attr-defined]
    if elapsed > budget:
        info.findings.append(Finding(info.rule, Verdict.NOT_RUN, f"the run budget of {budget:.0f} s was used up"))
        conclude(info, config)
        return True
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    timing = run_timing(config)
    # Each case starts on an empty link: bytes earlier cases left in the impairment proxy would
    # otherwise stretch this case's waits (bounded: a link that never drains is the proxy's affair).
    elapsed += timing.backlog.settle(min(LINK_SETTLE_LIMIT_S, max(0.0, budget - elapsed)))
    watchdog = timing.watchdog(config.getoption("--rtmp-case-timeout"))
    hard_limit = max(1.0, budget - elapsed)
    started = time.monotonic()
    try:
        with link_timing.using(timing):
            asyncio.run(_watched(pyfuncitem.obj(**kwargs), timing, watchdog, hard_limit))
    except _WatchdogFired as fired:
        if fired.budget:
            # The run budget ran out while this case was still going: no verdict on the target.
            info.findings.append(Finding(info.rule, Verdict.NOT_RUN, f"the run budget ran out during this case "
                                         f"(after {fired.seconds:.3g} s of it)"))
            conclude(info, config)
        elif not timing.is_direct:
            # On an emulated or declared-slow link a case that outlives even its stretched watchdog
            # says more about the link than the target (a direct run judges a hung target).
            info.findings.append(Finding(info.rule, Verdict.NOT_RUN, f"the case did not finish within its "
                                         f"watchdog ({fired.seconds:.3g} s, stretched for {timing.describe()}): "
                                         "no verdict on this link"))
            conclude(info, config)
        else:
            _fail(info, f"case watchdog: no verdict within {fired.seconds:.3g} s (target too slow or hung)",
                  config)
    except asyncio.TimeoutError:
        _fail(info, "a step of the case timed out (target too slow or hung)", config)
    except StepTimeout as exc:
        _fail(info, f"no answer from the target: {exc}", config)
    except PeerClosed as exc:
        _fail(info, f"{exc}", config)
    except (pytest.fail.Exception, pytest.skip.Exception):
        raise
    except RoleUnavailable as exc:
        # Decided at once and with one shared reason: the target does not serve this role.
        info.findings.append(Finding(info.rule, Verdict.UNIMPLEMENTED, str(exc)))
        conclude(info, config)
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


class _WatchdogFired(Exception):
    def __init__(self, seconds: float, budget: bool) -> None:
        super().__init__(seconds)
        self.seconds = seconds
        self.budget = budget  #: the run budget, not the case's own watchdog, ran out


def _log_bytes(log: Any) -> int:
    """Bytes a case's log holds both ways (RTMP and HTTP wire logs; other logs by their events)."""
    total = getattr(log, "total", None)
    if total is not None:
        return int(total("c2s") + total("s2c"))
    return sum(len(getattr(e, "data", b"")) for e in getattr(log, "events", ()))


async def _watched(case: Any, timing: Timing, watchdog: float, hard_limit: float) -> None:
    """Run ``case`` under its watchdog: ``watchdog`` seconds, extended by the transfer time of
    what the case writes on a rate-limited link and, up to ``watchdog`` more, while the emulated
    link still holds bytes (harness.timing.Backlog); never past ``hard_limit`` (the rest of the
    run budget)."""
    task = asyncio.ensure_future(case)
    start = time.monotonic()
    carried0 = timing.backlog.carried_s
    busy_extra = 0.0
    while True:
        own = watchdog + link_timing.TRANSFER_MARGIN * (timing.backlog.carried_s - carried0) + busy_extra
        limit = min(hard_limit, own)
        left = start + limit - time.monotonic()
        if left <= 0 and limit < hard_limit and busy_extra < watchdog and timing.backlog.busy():
            busy_extra += link_timing.BUSY_SLICE_S
            timing.backlog.extend(link_timing.BUSY_SLICE_S)
            continue
        if left > 0:
            done, _ = await asyncio.wait({task}, timeout=left)
            if done:
                return task.result()
            continue
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception:  # noqa: BLE001 - the case failed while being cancelled: the watchdog is the news
            pass
        raise _WatchdogFired(limit, budget=limit >= hard_limit and own > hard_limit)


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


def _malloc_trim() -> None:
    try:
        ctypes.CDLL(None).malloc_trim(0)  # glibc; elsewhere there is nothing to do
    except (AttributeError, OSError):
        pass


def pytest_runtest_setup(item: pytest.Item) -> None:
    info = item.stash.get(_CASE_KEY, None)
    if info is None:
        return
    from rtmpconf.harness.report.allure import label_case

    # The report's tree: catalogue section > rule > case (harness/report/allure.py).
    label_case(info)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """The case's evidence, attached to the test body once its verdict is known."""
    yield
    info = item.stash.get(_CASE_KEY, None)
    if info is None or not item.config.getoption("allure_report_dir", None):
        return
    from rtmpconf.harness.report.allure import attach_evidence

    # Rendering logs and pcapng costs time: only when a report is wanted, and as the policy says.
    attach_evidence(info, item.config.getoption("--rtmp-attach"), item.config.getoption("--rtmp-attach-hex"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    info = item.stash.get(_CASE_KEY, None)
    if info is None:
        return
    report = outcome.get_result()
    if report.when == "setup" and info.verdict is None and (report.failed or report.skipped):
        # Never reached the call: a fixture failed (harness error) or decided NOT-RUN.
        info.verdict = Verdict.NOT_RUN if report.skipped else Verdict.ERROR
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        info.message = info.message or str(reason).removeprefix("Skipped: ")[-2000:]
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
                info.expected_link = dev.link
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
    unusable = getattr(config, "_rtmp_unusable", None)
    if unusable:
        terminalreporter.write_line(f"rtmpconf: {unusable}")
    if not cases:
        return
    counts: dict[str, int] = {}
    for c in cases:
        v = (c.verdict or Verdict.ERROR).value
        counts[v] = counts.get(v, 0) + 1
    tw = terminalreporter
    tw.section("RTMP conformance verdicts")
    handle = getattr(config, "_rtmp_target_handle", None)
    pre = getattr(config, "_rtmp_preflight", None)
    if handle is not None:
        tw.line(f"target         {handle.target.display}" + (f" ({pre.line})" if pre is not None else ""))
        tw.line(f"serves         {handle.roles_line}")
        if handle.handshake_broken:
            tw.line(f"handshake      malformed: only handshake cases ran ({handle.handshake_broken})")
    timing = run_timing(config)
    if not timing.is_direct:
        budget = timing.run_budget(config.getoption("--rtmp-run-budget"), getattr(config, "_rtmp_case_count", 1))
        tw.line(f"deadlines      stretched for {timing.describe()}; run budget {budget:.0f} s")
    from rtmpconf.harness.parallel import jobs_in_use

    if jobs_in_use(config) > 1:
        tw.line(f"workers        {jobs_in_use(config)} (-j; each with its own server when the run starts one)")
    for v in Verdict:
        if counts.get(v.value) and v is not Verdict.NOT_RUN:
            tw.line(f"{v.value:14s} {counts[v.value]}")
    not_run = [c for c in cases if c.verdict is Verdict.NOT_RUN]
    if not_run:
        # Apart from the verdicts: these say nothing about the target.
        tw.line(f"not run        {len(not_run)} (no verdict on the target)")
        reasons: dict[str, list[str]] = {}
        for c in not_run:
            why = next((f.message for f in c.findings if f.verdict is Verdict.NOT_RUN), c.message)
            reasons.setdefault(why.removeprefix("NOT-RUN: ")[:160], []).append(c.case_id)
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


def _run_facts(config: pytest.Config) -> dict[str, Any]:
    """What a reader needs to know about the run besides the verdicts: the target, what the
    preflight found, the roles, the suite and catalogue versions and the options."""
    from rtmpconf import __version__
    from rtmpconf.harness.catalogue import version as catalogue_version
    from rtmpconf.harness.parallel import jobs_in_use

    handle = getattr(config, "_rtmp_target_handle", None)
    target = getattr(handle, "target", None) or getattr(config, "_rtmp_target_parsed", None)
    pre = getattr(config, "_rtmp_preflight", None)
    manifest = config._rtmp_manifest  # type: ignore[attr-defined]
    return {
        "target": config.getoption("--rtmp-target-server") or "embedded reference server"
        if not config.getoption("--rtmp-target") else config.getoption("--rtmp-target"),
        "target_url": target.display if target is not None else None,
        "server": pre.server if pre is not None else {},
        "preflight": None if pre is None else {"outcome": pre.outcome.value, "line": pre.line, "seconds": pre.seconds},
        "roles": getattr(handle, "roles_line", None),
        "suite_version": __version__,
        "catalogue_version": catalogue_version(),
        "manifest": str(manifest.path) if manifest is not None else None,
        "target_restarts": list(getattr(handle, "restarts", [])),
        "target_gone_after": getattr(handle, "gone_after", None),
        "strict": bool(config.getoption("--rtmp-strict")),
        "options": {k: v for k, v in vars(config.option).items()
                    if k.startswith("rtmp_") and v not in (None, False, [], "") and k != "rtmp_target"},
        "timing": run_timing(config).describe(),
        "duration_s": round(time.monotonic() - config._rtmp_start, 3),  # type: ignore[attr-defined]
        "jobs": jobs_in_use(config),
        "worker_targets": getattr(handle, "workers", None),
    }


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    from rtmpconf.harness.parallel import is_worker

    if is_worker(config):
        return  # the controller writes the one summary and JUnit file (harness/parallel.py)
    cases: list[CaseInfo] = config._rtmp_cases  # type: ignore[attr-defined]
    path = config.getoption("--rtmp-summary")
    junit = config.getoption("--rtmp-junit")
    pre = getattr(config, "_rtmp_preflight", None)
    if not cases and pre is None:
        return
    out: dict[str, Any] = {**_run_facts(config), "counts": {}, "cases": []}
    for c in cases:
        v = (c.verdict or Verdict.ERROR).value
        out["counts"][v] = out["counts"].get(v, 0) + 1
        out["cases"].append({
            "id": c.case_id, "rule": c.rule, "rule_title": c.rule_info.title if c.rule_info else "",
            "level": c.level, "section": c.section, "verdict": v,
            "duration": round(c.duration, 4), "message": c.message,
            "expected_deviation": c.expected, "stale_manifest_entry": c.stale,
            "target_died_after": c.crashed_target,
            "findings": [{"rule": f.rule, "verdict": f.verdict.value, "message": f.message,
                          "expected": f.expected, "actual": f.actual} for f in c.findings],
        })
    _report_extras(config, cases, out)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(out, indent=2, default=str))
    if junit:
        from rtmpconf.harness.report.junit import JUnitCase, write

        write(junit, [JUnitCase(
            c.case_id, c.section or "unknown section",
            c.rule_info.section.number if c.rule_info else 999, c.rule, c.level,
            (c.verdict or Verdict.ERROR).value, c.message or c.error or "",
            "\n".join(f.line() for f in c.findings) or (c.error or ""), c.duration, c.expected) for c in cases],
            strict=bool(config.getoption("--rtmp-strict")),
            properties={k: out[k] for k in ("target", "target_url", "roles", "suite_version", "catalogue_version")})


def _report_extras(config: pytest.Config, cases: list[CaseInfo], out: dict[str, Any]) -> None:
    """What the reports need beyond the verdicts (harness/report/): each case's title and
    requirement, the run's date, the compliance summary; then the Allure result files are
    rewritten from the verdicts (allure-pytest only knows pytest outcomes)."""
    import datetime

    from rtmpconf.harness.report import allure as allure_report
    from rtmpconf.harness.report.compliance import compute

    for c, entry in zip(cases, out["cases"]):
        rule = c.rule_info
        entry["title"] = allure_report.case_title(c.case_id, c.requirement, rule.title if rule else c.rule)
        entry["requirement"] = c.requirement
        entry["rule_requirement"] = rule.requirement if rule else ""
        entry["expected_link"] = c.expected_link
    started = time.time() - float(out.get("duration_s") or 0)
    out["date"] = datetime.datetime.fromtimestamp(started, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    out["compliance"] = compute(out)
    alluredir = config.getoption("allure_report_dir", None)
    if alluredir:
        allure_report.finalize_results(alluredir, out["cases"], out, strict=bool(config.getoption("--rtmp-strict")))
