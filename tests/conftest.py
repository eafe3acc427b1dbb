"""Process hygiene for the project's own tests: the pytest process stays as it started.

* No monkey-patching library may be loaded in the pytest process. Locust runs gevent's
  ``monkey.patch_all()`` on import; with ``threading.Thread`` turned into a greenlet on the main
  thread, the kernel-mode ``setns()`` "in a thread" moves the whole process into a test namespace
  and its clean-up then kills pytest. Such tools run in subprocesses only. The guard stops the
  session if collection loaded one, fails the test during which one was loaded, and fails the
  run if one is loaded at its end.
* ``restore_process_state`` (autouse) undoes what a test leaves behind in the process: signal
  handlers, environment variables, the asyncio event loop policy, root logger handlers, the
  harness's module caches and registries (which targets answer pings, kernel-mode availability,
  live impairment proxies and kernel links).

This file is copied as it is into a pytester run by ``tests/plugin/test_process_guards.py``:
keep it self-contained (no imports from ``tests``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import sys
from collections.abc import Generator, Iterator
from typing import Any

import pytest

#: Top-level packages that patch the standard library in place (sockets, threads, select): gevent
#: (``gevent.monkey``), eventlet (``eventlet.monkey_patch``) and locust (patches when imported).
MONKEY_PATCHERS = ("gevent", "eventlet", "locust")

#: Signals whose handlers a test could leave installed in the pytest process.
WATCHED_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGCHLD", "SIGUSR1",
                                       "SIGUSR2", "SIGALRM", "SIGPIPE")
    if hasattr(signal, name)
)


def loaded_monkey_patchers() -> set[str]:
    """The monkey-patching packages present in ``sys.modules`` (top-level names)."""
    names = list(sys.modules)  # one C-level copy: other threads may import meanwhile
    return {name.partition(".")[0] for name in names} & set(MONKEY_PATCHERS)


def _monkey_patcher_message(loaded: set[str], when: str) -> str:
    return (f"{', '.join(sorted(loaded))} loaded in the pytest process {when}: monkey-patching libraries "
            "(gevent, eventlet, locust) may run only in subprocesses (tests/conftest.py)")


def pytest_collection_finish(session: pytest.Session) -> None:
    loaded = loaded_monkey_patchers()
    if loaded:
        # The process is patched already: running any test now could take pytest down with it.
        raise pytest.UsageError(_monkey_patcher_message(loaded, "during collection"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    before = loaded_monkey_patchers()
    try:
        return (yield)
    finally:
        new = loaded_monkey_patchers() - before
        if new:
            pytest.fail(_monkey_patcher_message(new, f"by {item.nodeid}"), pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    loaded = loaded_monkey_patchers()
    if loaded:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(_monkey_patcher_message(loaded, "at the end of the session"), red=True)
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


#: Module-level state of the harness that tests fill, by (module, attribute). Looked up by name so
#: that a rename fails one test (tests/plugin/test_process_guards.py), not every test.
HARNESS_STATE = {
    "pings": ("rtmpconf.harness.client", "_PING_ANSWERED"),  # target (host, port) -> answers pings
    "kernel_cache": ("rtmpconf.harness.impair.kernel", "_UNAVAILABLE"),  # kernel mode available?
    "kernel_links": ("rtmpconf.harness.impair.kernel", "_LIVE_LINKS"),  # namespace name -> live link
    "proxies": ("rtmpconf.harness.impair.proxy", "_LIVE"),  # id -> running impairment proxy thread
}


def harness_state(key: str) -> Any:
    """The object behind ``HARNESS_STATE[key]`` (None if the module no longer has it)."""
    module, attr = HARNESS_STATE[key]
    return getattr(importlib.import_module(module), attr, None)


@contextlib.contextmanager
def process_state_restored() -> Iterator[None]:
    """Snapshot process-wide state, run the body, put the state back; a signal handler or event
    loop policy left behind also fails (pytest.fail), since nothing a test does should need one
    to outlive it."""
    handlers = {sig: signal.getsignal(sig) for sig in WATCHED_SIGNALS}
    environ = dict(os.environ)
    policy = asyncio.get_event_loop_policy()
    root_logger = logging.getLogger()
    log_handlers, log_level = list(root_logger.handlers), root_logger.level
    pings = harness_state("pings")
    pings_before = dict(pings or {})
    kernel_module = importlib.import_module(HARNESS_STATE["kernel_cache"][0])
    kernel_cache = harness_state("kernel_cache")
    kernel_cached = list(kernel_cache or [])
    links_before = set(harness_state("kernel_links") or {})
    proxies_before = set(harness_state("proxies") or {})

    yield

    leaked: list[str] = []
    for sig, handler in handlers.items():
        if signal.getsignal(sig) is not handler:
            leaked.append(f"a {signal.Signals(sig).name} handler")
            signal.signal(sig, handler)
    if asyncio.get_event_loop_policy() is not policy:
        leaked.append("an event loop policy")
        asyncio.set_event_loop_policy(policy)
    if os.environ != environ:
        os.environ.clear()
        os.environ.update(environ)
    for handler in set(root_logger.handlers) - set(log_handlers):
        root_logger.removeHandler(handler)
        handler.close()
    root_logger.setLevel(log_level)
    # What the test learned about its own targets' ports must not answer for the next test's
    # targets that reuse those ports.
    if pings is not None:
        pings.clear()
        pings.update(pings_before)
    # Kernel-mode availability is a fact about the machine, learned once; a test may not replace
    # or rewrite an answer that was already cached.
    if kernel_cache is not None:
        setattr(kernel_module, HARNESS_STATE["kernel_cache"][1], kernel_cache)
        if kernel_cached and kernel_cache != kernel_cached:
            kernel_cache[:] = kernel_cached
    # Proxies and kernel links the test left running (each stops within its own deadline).
    for key, before, stop in (("proxies", proxies_before, "stop"), ("kernel_links", links_before, "destroy")):
        live = harness_state(key) or {}
        for name in [k for k in live if k not in before]:
            getattr(live[name], stop)()
    if leaked:
        pytest.fail(f"the test left {', '.join(leaked)} installed in the pytest process (restored now)",
                    pytrace=False)


@pytest.fixture(autouse=True)
def restore_process_state() -> Iterator[None]:
    """Every test runs inside ``process_state_restored`` (a leak fails it at teardown)."""
    with process_state_restored():
        yield
