"""Concurrent conformance runs: ``-j N`` (``rtmpconf run -j N``) over pytest-xdist.

Cases are independent connections with stream names unique per case (``rtmp.stream_name()``), and
most of a case's time is spent waiting on the target, so N workers finish a run in a fraction of
the serial time. What this module adds to xdist so that a parallel run says exactly what a serial
run says:

* **One result.** Every worker attaches each case's :class:`CaseInfo` (verdict, findings,
  messages, duration, manifest match) to the case's teardown report; the controller rebuilds them
  in collection order, so ``summary.json``, the JUnit file, the terminal summary and the exit
  status come out once, from the controller, as in a serial run. Allure results are written by the
  workers into the one results directory (allure-pytest supports xdist; only the controller cleans
  it).
* **Targets.** With ``--target URL`` (one server for everyone) the preflight and the capability
  probe run once, on the controller, and the workers take its result. A server the run starts
  (the embedded reference server, ``--target-server NAME``) is started *per worker*: a crash is
  then attributed to the case that caused it and restarted by the worker that saw it, without
  breaking cases running meanwhile on other workers (node-media-server exits on some inputs), and a
  case that drains or measures its server has that server to itself. Each worker checks its own
  server with the preflight's first step (a handshake and a connect, a few milliseconds).
* **Cases that need the whole target** carry ``@pytest.mark.exclusive`` (drains, memory and
  slow-consumer cases, timing measurements, kernel-mode impairment): the scheduler holds them back
  until every other case is done and every other worker has exited, then runs them one after
  another on one worker. So they run alone, as in a serial run.
* **Longest first.** Workers order the collection the same way: cases known to take seconds
  (``@pytest.mark.slow_case``) first, so the run does not end waiting on one long case.

pytest-xdist is optional at run time: without it ``-j`` falls back to a serial run with a warning.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from rtmpconf.cliutil import workers

log = logging.getLogger("rtmp.parallel")

#: Marker of a case that needs the target to itself.
EXCLUSIVE = "exclusive"
#: Marker of a case that takes seconds (scheduled first).
SLOW = "slow_case"
#: user_properties key carrying a worker's CaseInfo to the controller.
CASE_PROPERTY = "rtmpconf_case"
#: workerinput keys.
_PREFLIGHT_KEY = "rtmpconf_preflight"
_SIDECHANNEL_KEY = "rtmpconf_schedule_file"
#: The config of this process (logreport hooks get no config argument).
_CONFIG: dict[str, pytest.Config] = {}


#: Workers per core by default. A case spends most of its time waiting on the target (handshake
#: and probe round trips, quiet windows, idle timeouts): measured on 2 cores against the embedded
#: reference server, 6 workers kept 1.5 cores busy and ended the run in 19 s where 2 took 38 s,
#: with the same verdicts.
WORKERS_PER_CORE = 3
#: Each worker is a process (with its own server when the run starts one): a ceiling for big machines.
MAX_DEFAULT_JOBS = 8


def cores() -> int:
    """The number of cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def default_jobs(waiting: bool = True) -> int:
    """The default of ``-j``: three workers per core, at most eight, for cases that mostly wait;
    one per core (``waiting=False``) where the run computes or its link does: interop cases
    encode and decode with real programs, and on an emulated or declared-slow link (``--impair``,
    ``--time-scale``) each worker's impairment proxy competes for the CPU (its profiles were
    measured with one worker per core)."""
    if not waiting:
        return cores()
    return min(MAX_DEFAULT_JOBS, WORKERS_PER_CORE * cores())


def xdist_available() -> bool:
    try:
        import xdist  # noqa: F401
    except ImportError:
        return False
    return True


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    """This process hands cases to workers and runs none itself."""
    return not is_worker(config) and config.pluginmanager.getplugin("dsession") is not None


# -- options ------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("rtmp-conformance")
    # A lowercase short option needs the private spelling (pytest reserves the public one for
    # itself; pytest-xdist registers -n the same way).
    g._addoption("-j", "--rtmp-jobs", dest="rtmp_jobs", default=None, type=workers,
                 help="run cases on N concurrent workers (pytest-xdist); 1 = serial (the default for a bare "
                      "pytest run; `rtmpconf run` defaults to three per core, at most eight)")


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Iterator[None]:
    # A wrapper runs before every plain implementation, so xdist's own pytest_cmdline_main sees
    # -n as if the user had given it.
    jobs = config.getoption("rtmp_jobs", None)
    if jobs and jobs > 1 and not is_worker(config):
        if config.getoption("rtmp_dry_run", False) or config.getoption("collectonly", False):
            pass  # listing cases: nothing to run concurrently
        elif not xdist_available():
            config.issue_config_time_warning(pytest.PytestConfigWarning(
                f"-j {jobs}: pytest-xdist is not installed; running serially"), stacklevel=2)
        elif getattr(config.option, "numprocesses", None):
            pass  # the user drives xdist directly (-n): leave it alone
        elif _target_usable(config):
            config.option.numprocesses = jobs
            config.option.dist = "load"
    return (yield)


def _target_usable(config: pytest.Config) -> bool:
    """With ``--target URL``, the preflight's first part, once, before any worker exists. A target
    that is unreachable or not RTMP gets no workers: the run stays serial and its session fixture
    ends it at once with exit status 3 and the usual summary, from this very result."""
    url = config.getoption("rtmp_target", None)
    if not url or config.getoption("rtmp_no_preflight", False):
        return True
    from rtmpconf.harness import preflight as pf
    from rtmpconf.harness.client import Target, TargetError
    from rtmpconf.harness.pytest_plugin import time_scale, url_target_handle

    try:
        parsed = Target.parse(url, app=config.getoption("rtmp_app", None),
                              publish_name=config.getoption("rtmp_publish_name", None),
                              play_name=config.getoption("rtmp_play_name", None))
        target = url_target_handle(config, parsed).target
    except (TargetError, pytest.UsageError):
        return True  # the serial path reports a bad URL or TLS option as usual
    result = asyncio.run(pf.preflight(target, scale=time_scale(config)))
    config._rtmp_preflight_result = result  # type: ignore[attr-defined]
    return result.outcome not in (pf.Outcome.UNREACHABLE, pf.Outcome.NOT_RTMP, pf.Outcome.CONNECT_REFUSED)


def jobs_in_use(config: pytest.Config) -> int:
    """How many workers this run uses (1 = serial)."""
    if is_worker(config):
        return int(config.workerinput.get("workercount", 1))  # type: ignore[attr-defined]
    n = getattr(config.option, "numprocesses", None)
    return int(n) if is_controller(config) and n else 1


# -- controller: preflight once, workers' results -------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{EXCLUSIVE}(scope='machine'): runs alone after the concurrent cases; "
                                       "'machine' (default): it measures time, memory or CPU; 'target': it acts "
                                       "on the whole target (a drain), alone only when the workers share one")
    config.addinivalue_line("markers", f"{SLOW}: takes seconds; scheduled first in a concurrent run")
    if is_worker(config) and getattr(config.option, "clean_alluredir", False):
        # Only the controller cleans the Allure results directory: a worker cleaning it could
        # remove what a faster worker already wrote.
        config.option.clean_alluredir = False
    config._rtmp_worker_outputs = []  # type: ignore[attr-defined]
    _CONFIG["config"] = config


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Controller of a run against ``--target URL``: the rest of the preflight (the capability
    probe), once, before the workers start; they take its result (``apply_controller_preflight``)."""
    config = session.config
    if not is_controller(config) or not config.getoption("rtmp_target", None):
        return
    from rtmpconf.harness.pytest_plugin import _preflight, url_target_handle

    handle = url_target_handle(config, config._rtmp_target_parsed)  # type: ignore[attr-defined]
    _preflight(config, handle, started=False)  # the capability probe; the preflight ran already
    config._rtmp_target_handle = handle  # type: ignore[attr-defined]
    pre = getattr(config, "_rtmp_preflight", None)
    config._rtmp_controller_preflight = {  # type: ignore[attr-defined]
        "roles": handle.roles, "roles_line": handle.roles_line, "handshake_broken": handle.handshake_broken,
        "preflight": None if pre is None else {"outcome": pre.outcome.value, "line": pre.line,
                                               "seconds": pre.seconds, "server": _plain(pre.server)},
    }


def pytest_configure_node(node: Any) -> None:
    """xdist hook (controller): what each worker needs to know before it starts."""
    config = node.config
    pre = getattr(config, "_rtmp_controller_preflight", None)
    if pre is not None:
        node.workerinput[_PREFLIGHT_KEY] = pre
    node.workerinput[_SIDECHANNEL_KEY] = str(_schedule_file(config))


def apply_controller_preflight(config: pytest.Config, handle: Any) -> bool:
    """Worker: take the controller's preflight instead of running one. False when there is none
    (not a worker, or the target is a server this worker starts)."""
    if not is_worker(config):
        return False
    pre = config.workerinput.get(_PREFLIGHT_KEY)  # type: ignore[attr-defined]
    if pre is None:
        return False
    from rtmpconf.harness import preflight as pf

    handle.roles = pre["roles"]
    handle.roles_line = pre["roles_line"]
    handle.handshake_broken = pre["handshake_broken"]
    p = pre["preflight"]
    config._rtmp_preflight = None if p is None else pf.PreflightResult(  # type: ignore[attr-defined]
        pf.Outcome(p["outcome"]), p["line"], p["seconds"], p["server"])
    return True


def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist hook (controller): a worker ended; keep what it reported about its target."""
    out = getattr(node, "workeroutput", None) or {}
    facts = out.get("rtmpconf_target")
    if facts:
        node.config._rtmp_worker_outputs.append(json.loads(facts))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if is_worker(config):
        handle = getattr(config, "_rtmp_target_handle", None)
        pre = getattr(config, "_rtmp_preflight", None)
        if handle is not None:
            config.workeroutput["rtmpconf_target"] = json.dumps({  # type: ignore[attr-defined]
                "worker": config.workerinput.get("workerid"),  # type: ignore[attr-defined]
                "target_url": handle.target.display, "name": handle.name, "roles_line": handle.roles_line,
                "restarts": handle.restarts, "gone_after": handle.gone_after,
                "handshake_broken": handle.handshake_broken, "unusable": getattr(handle, "unusable", None),
                "preflight": None if pre is None else {"outcome": pre.outcome.value, "line": pre.line,
                                                       "seconds": pre.seconds, "server": _plain(pre.server)},
            }, default=str)
        return
    if is_controller(config):
        _merge_worker_targets(config, session)


def _merge_worker_targets(config: pytest.Config, session: pytest.Session) -> None:
    """Controller: one target description for the summary out of the workers' reports."""
    outs: list[dict[str, Any]] = sorted(config._rtmp_worker_outputs, key=lambda o: str(o.get("worker")))  # type: ignore[attr-defined]
    cases = config._rtmp_cases  # type: ignore[attr-defined]
    order = {nodeid: i for i, nodeid in enumerate(getattr(config, "_rtmp_collection", []))}
    cases.sort(key=lambda c: order.get(getattr(c, "nodeid", ""), len(order)))
    if not outs:
        return
    from rtmpconf.harness import preflight as pf
    from rtmpconf.harness.client import Target
    from rtmpconf.harness.pytest_plugin import EXIT_TARGET, TargetHandle

    handle = getattr(config, "_rtmp_target_handle", None)
    if handle is None:  # a server each worker started
        first = outs[0]
        try:
            target = Target.parse(first["target_url"])
        except Exception:  # noqa: BLE001 - only a label
            target = config._rtmp_target_parsed  # type: ignore[attr-defined]
        handle = TargetHandle(target, None, first.get("name", ""))
        handle.roles_line = first.get("roles_line") or handle.roles_line
        handle.handshake_broken = first.get("handshake_broken")
        config._rtmp_target_handle = handle  # type: ignore[attr-defined]
        if first.get("preflight") and getattr(config, "_rtmp_preflight", None) is None:
            p = first["preflight"]
            config._rtmp_preflight = pf.PreflightResult(  # type: ignore[attr-defined]
                pf.Outcome(p["outcome"]), p["line"], p["seconds"], p["server"])
    handle.restarts = [f"[{o['worker']}] {note}" for o in outs for note in o.get("restarts", [])]
    handle.gone_after = next((o["gone_after"] for o in outs if o.get("gone_after")), None)
    handle.workers = [{"worker": o["worker"], "target_url": o["target_url"]} for o in outs]  # type: ignore[attr-defined]
    unusable = next((o["unusable"] for o in outs if o.get("unusable")), None)
    if unusable:
        config._rtmp_unusable = unusable  # type: ignore[attr-defined]
        session.exitstatus = EXIT_TARGET


def _plain(value: Any) -> Any:
    """``value`` with only JSON types (execnet carries nothing else)."""
    return json.loads(json.dumps(value, default=str))


# -- case results: worker -> controller ------------------------------------------------------------


def case_to_dict(info: Any) -> str:
    return json.dumps({
        "case_id": info.case_id, "rule": info.rule, "level": info.level, "section": info.section,
        "requirement": info.requirement, "verdict": info.verdict.value if info.verdict else None,
        "message": info.message, "duration": info.duration, "error": info.error, "expected": info.expected,
        "stale": info.stale, "restart_note": info.restart_note, "crashed_target": info.crashed_target,
        "findings": [{"rule": f.rule, "verdict": f.verdict.value, "message": f.message, "expected": f.expected,
                      "actual": f.actual, "evidence": _plain(f.evidence)} for f in info.findings],
    })


def case_from_dict(text: str) -> Any:
    from rtmpconf.harness.catalogue import CatalogueError, catalogue
    from rtmpconf.harness.pytest_plugin import CaseInfo
    from rtmpconf.harness.verdict import Finding, Verdict

    d = json.loads(text)
    try:
        rule = catalogue().rule(d["rule"])
    except CatalogueError:
        rule = None
    info = CaseInfo(d["case_id"], d["rule"], d["level"], d["section"], d["requirement"], rule)
    info.findings = [Finding(f["rule"], Verdict(f["verdict"]), f["message"], f["expected"], f["actual"],
                             f["evidence"]) for f in d["findings"]]
    info.verdict = Verdict(d["verdict"]) if d["verdict"] else None
    for key in ("message", "duration", "error", "expected", "stale", "restart_note", "crashed_target"):
        setattr(info, key, d[key])
    return info


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    if report.when == "teardown" and is_worker(item.config):
        from rtmpconf.harness.pytest_plugin import _CASE_KEY

        info = item.stash.get(_CASE_KEY, None)
        if info is not None:
            report.user_properties.append((CASE_PROPERTY, case_to_dict(info)))
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Controller: a worker's teardown report brings the case's result."""
    if report.when != "teardown":
        return
    config = _CONFIG.get("config")
    if config is None or not is_controller(config):
        return  # a worker: the property must travel to the controller untouched
    props = report.user_properties
    for i, (key, value) in enumerate(props):
        if key == CASE_PROPERTY:
            del props[i]
            info = case_from_dict(value)
            info.nodeid = report.nodeid  # type: ignore[attr-defined]
            manifest = config._rtmp_manifest  # type: ignore[attr-defined]
            if manifest is not None:
                manifest.find(info.case_id)  # marks the entry matched (UNMATCHED lines)
            config._rtmp_cases.append(info)  # type: ignore[attr-defined]
            return


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    _CONFIG.pop("config", None)


def pytest_report_header(config: pytest.Config) -> str | None:
    n = jobs_in_use(config)
    return f"rtmpconf: {n} workers" if n > 1 else None


# -- scheduling ------------------------------------------------------------------------------------


def _schedule_file(config: pytest.Config) -> Path:
    """Where workers leave the collection's scheduling facts for the controller (exclusive and
    slow cases): xdist tells the controller only node IDs."""
    path = getattr(config, "_rtmp_schedule_file", None)
    if path is None:
        import tempfile

        fd, name = tempfile.mkstemp(prefix="rtmpconf-schedule-", suffix=".json")
        os.close(fd)
        os.unlink(name)
        path = Path(name)
        config._rtmp_schedule_file = path  # type: ignore[attr-defined]
        config.add_cleanup(lambda: path.unlink(missing_ok=True))
    return path


def runs_alone(item: pytest.Item, shared_target: bool) -> bool:
    """``@pytest.mark.exclusive`` (scope "machine", the default: it measures time, memory or CPU)
    always runs alone; ``@pytest.mark.exclusive("target")`` (it acts on every connection of the
    target, e.g. a drain) only when the workers share one target (``--target URL``)."""
    marker = item.get_closest_marker(EXCLUSIVE)
    if marker is None:
        return False
    scope = marker.args[0] if marker.args else marker.kwargs.get("scope", "machine")
    if scope not in ("machine", "target"):
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.exclusive scope must be 'machine' or 'target', "
                                f"not {scope!r}")
    return scope == "machine" or shared_target


def _shared_target(config: pytest.Config) -> bool:
    return bool(config.getoption("rtmp_target", None))


def schedule_key(item: pytest.Item, shared_target: bool = False) -> int:
    """Sort key of a concurrent run: slow cases first, those that run alone last, else collection
    order (the sort is stable)."""
    if runs_alone(item, shared_target):
        return 2
    if item.get_closest_marker(SLOW) is not None:
        return 0
    return 1


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    if not is_worker(config):
        return
    # Every worker sorts the same way (a stable sort of the same collection), as xdist requires.
    shared = _shared_target(config)
    items.sort(key=lambda item: schedule_key(item, shared))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Worker: write which node IDs are exclusive before xdist tells the controller the collection
    (the file is complete when the controller reads it)."""
    config = session.config
    if not is_worker(config):
        return
    path = config.workerinput.get(_SIDECHANNEL_KEY)  # type: ignore[attr-defined]
    if not path:
        return
    shared = _shared_target(config)
    exclusive = [i.nodeid for i in session.items if runs_alone(i, shared)]
    tmp = Path(f"{path}.{os.getpid()}")
    tmp.write_text(json.dumps({"exclusive": exclusive}))
    os.replace(tmp, path)


def pytest_xdist_node_collection_finished(node: Any, ids: Sequence[str]) -> None:
    node.config._rtmp_collection = list(ids)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "load":
        return None
    from rtmpconf.harness.parallel_sched import ExclusiveLastScheduling

    return ExclusiveLastScheduling(config, log, _schedule_file(config))


__all__ = ["CASE_PROPERTY", "EXCLUSIVE", "SLOW", "apply_controller_preflight", "default_jobs", "is_controller",
           "is_worker", "jobs_in_use", "xdist_available"]
