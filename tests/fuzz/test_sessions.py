"""Session fuzzing of the reference server, the small budget that runs in ``make test``.

The same state machine as ``bench/fuzz.py`` (10^5 sessions), with derandomized examples so a run
of the test suite never depends on luck: in-process sessions against ServerSession, then a few
sessions over TCP against a real server process. Failures found by the benchmark are fixed and
kept as vectors in ``test_regressions.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.fuzz.model import MAX_CONNECTIONS, ServerSessionMachine, SocketSessionMachine, run_socket_sessions

#: In-process sessions per test run (~2 s).
IN_PROCESS_SESSIONS = 60
#: Sessions over TCP per test run (each step waits for the server's answer: ~0.5 s a session).
SOCKET_SESSIONS = 8


def test_in_process_sessions() -> None:
    run_state_machine_as_test(ServerSessionMachine, settings=settings(
        max_examples=IN_PROCESS_SESSIONS, stateful_step_count=20, deadline=None, derandomize=True,
        database=None, suppress_health_check=list(HealthCheck), print_blob=True))


def test_socket_sessions(tmp_path: Path) -> None:
    # No shrinking over TCP: every step waits for the server, so shrinking would take minutes; the
    # failing steps are printed as they are, and the in-process machine shrinks the same session.
    report = run_socket_sessions(settings(
        max_examples=SOCKET_SESSIONS, stateful_step_count=8, deadline=None, derandomize=True,
        database=None, suppress_health_check=list(HealthCheck), print_blob=True,
        phases=[Phase.explicit, Phase.generate]), tmp_path / "server.log")
    assert report.sessions >= SOCKET_SESSIONS
    assert not report.server_errors, report.server_errors
    # The server's memory bound: 64 MiB plus 1 MiB per connection it held at once.
    assert report.peak_rss_mib <= 64 + MAX_CONNECTIONS + 2, report


def test_socket_machine_reports_a_dead_server(tmp_path: Path) -> None:
    """The socket runner's checks can fail: a server process that is gone is a crash."""
    from tests.fuzz.model import Crash

    class Gone:
        host, port, proc = "127.0.0.1", 9, None

        def alive(self) -> bool:
            return False

    SocketSessionMachine.server_process = Gone()
    try:
        machine = SocketSessionMachine.__new__(SocketSessionMachine)
        machine.clients = []
        with pytest.raises(Crash, match="exited"):
            machine.teardown()
    finally:
        SocketSessionMachine.server_process = None
