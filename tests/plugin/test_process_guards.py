"""tests/conftest.py's guards, run by pytester in a subprocess: a monkey-patching library loaded in
the pytest process stops or fails the run, and global state a test leaves behind is undone.

Stand-in packages named ``eventlet`` and ``gevent`` (empty modules, found first on the test
directory's path) play the real ones, so nothing here patches anything, not even in the child.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
TIMEOUT_S = 120


def test_this_pytest_process_is_not_patched(pytestconfig: pytest.Config) -> None:
    from tests.conftest import loaded_monkey_patchers

    assert loaded_monkey_patchers() == set()
    # pyproject's addopts block Locust's pytest plugin: its fixtures would import locust.
    assert pytestconfig.pluginmanager.get_plugin("locust") is None


def test_the_harness_state_the_fixture_restores_exists() -> None:
    from tests.conftest import HARNESS_STATE, harness_state

    for key, (module, attr) in HARNESS_STATE.items():
        assert harness_state(key) is not None, f"{module}.{attr} is gone: update HARNESS_STATE in tests/conftest.py"


def test_a_leaked_proxy_is_stopped_and_a_ping_answer_forgotten() -> None:
    from rtmpconf.harness import client
    from rtmpconf.harness.impair.profiles import get_profile
    from rtmpconf.harness.impair.proxy import ProxyThread, live_proxies
    from tests.conftest import process_state_restored

    with process_state_restored():
        # A key no target uses; the proxy's upstream is never dialled (no client connects to it).
        client._PING_ANSWERED[("127.0.0.1", 1)] = False
        proxy = ProxyThread(("127.0.0.1", 9), get_profile("lan")).start()
        assert proxy in live_proxies()
    assert proxy not in live_proxies() and proxy._stopped
    assert ("127.0.0.1", 1) not in client._PING_ANSWERED


def test_a_leaked_signal_handler_fails_and_is_restored() -> None:
    from tests.conftest import process_state_restored

    before = signal.getsignal(signal.SIGUSR2)
    with pytest.raises(pytest.fail.Exception, match="a SIGUSR2 handler"), process_state_restored():
        signal.signal(signal.SIGUSR2, lambda *_: None)
    assert signal.getsignal(signal.SIGUSR2) is before


@pytest.fixture
def guarded(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(eventlet='"""stand-in for eventlet: patches nothing"""')
    pkg = pytester.mkpydir("gevent")
    (pkg / "monkey.py").write_text('"""stand-in for gevent.monkey: patches nothing"""\n')
    return pytester


def test_clean_run_passes(guarded: pytest.Pytester) -> None:
    guarded.makepyfile(test_clean="def test_nothing_patched():\n    assert 1 + 1 == 2\n")
    result = guarded.runpytest_subprocess("-p", "no:cacheprovider", timeout=TIMEOUT_S)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK


def test_a_test_that_loads_a_monkey_patcher_fails(guarded: pytest.Pytester) -> None:
    guarded.makepyfile(test_patching="""
        def test_before():
            assert True

        def test_loads_eventlet():
            import eventlet  # noqa: F401

        def test_after():
            assert True
        """)
    result = guarded.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", timeout=TIMEOUT_S)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*eventlet loaded in the pytest process at the end of the session*",
        "*eventlet loaded in the pytest process by test_patching.py::test_loads_eventlet*",
    ])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_monkey_patcher_loaded_during_collection_stops_the_run(guarded: pytest.Pytester) -> None:
    guarded.makepyfile(test_collect_time="""
        import gevent.monkey  # noqa: F401  (what importing locust does)

        def test_never_runs():
            assert True
        """)
    result = guarded.runpytest_subprocess("-p", "no:cacheprovider", timeout=TIMEOUT_S)
    result.stderr.fnmatch_lines(["*gevent loaded in the pytest process during collection*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.assert_outcomes()  # nothing ran


def test_a_fixture_teardown_import_fails_the_session(guarded: pytest.Pytester) -> None:
    guarded.makepyfile(test_teardown_time="""
        import pytest

        @pytest.fixture(scope="module")
        def late_import():
            yield
            import eventlet  # noqa: F401

        def test_uses_it(late_import):
            assert True
        """)
    result = guarded.runpytest_subprocess("-p", "no:cacheprovider", timeout=TIMEOUT_S)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*eventlet loaded in the pytest process at the end of the session*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_leaked_signal_handler_is_restored_and_fails_the_test(guarded: pytest.Pytester) -> None:
    guarded.makepyfile(test_signals="""
        import os
        import signal

        def test_installs_a_handler():
            signal.signal(signal.SIGUSR1, lambda *_: None)
            os.environ["RTMPCONF_LEAKED_BY_A_TEST"] = "1"

        def test_sees_the_original_state():
            assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL
            assert "RTMPCONF_LEAKED_BY_A_TEST" not in os.environ
        """)
    result = guarded.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", timeout=TIMEOUT_S)
    # The leaking test passes its call and errors at teardown; the next one sees a clean process.
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*the test left a SIGUSR1 handler installed in the pytest process*"])
