"""pytest plugin part for client mode: the agent under test and the scripted test server per case.

Registered from ``harness/pytest_plugin.py``; it shares that plugin's machinery (catalogue rules,
level caps, NOT-RUN, Allure labels, summary.json, manifests). Client cases live in
``rtmpconf/cases/clients/`` and are collected only when an agent is named (``--agent NAME`` or
``--agent-command``), so ``rtmpconf run`` never sees them. A case::

    @pytest.mark.rule("CL-CTRL-3")
    @pytest.mark.client_role("play")          # omit: the case applies to publishers and players
    async def test_ping_answered(client_case):
        s = await client_case.start()
        ...
        client_case.judge(check_ping_answered(s.log, ...))
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rtmpconf.harness.clients.server import ScriptedServer, ServerSession
from rtmpconf.harness.peers.agents import (
    PLAY,
    PUBLISH,
    AgentOptions,
    AgentOutcome,
    AgentRun,
    AgentSpec,
    command_agent,
    describe_outcome,
    get_agent,
    missing_program,
)
from rtmpconf.harness.verdict import Finding, Verdict, not_run
from rtmpconf.paths import CASES, TARGETS

try:
    import allure
except ImportError:  # pragma: no cover
    allure = None

CLIENT_CASES = CASES / "clients"
CLIENT_MANIFESTS = TARGETS / "clients"
#: How long a case waits for the agent's first TCP connection (program start-up included: VLC is slow).
CONNECT_WAIT_S = 15.0

_OUTCOMES = pytest.StashKey[list[AgentOutcome]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("rtmp-conformance clients")
    g.addoption("--agent", default=None, help="client mode: the agent under test (rtmpconf clients --list)")
    g.addoption("--agent-command", default=None,
                help="client mode: a command line as the agent; {url} is the case's rtmp:// URL")
    g.addoption("--agent-role", default=None, choices=(PUBLISH, PLAY), help="role of --agent-command")
    g.addoption("--agent-name", default="custom", help="name of --agent-command in the reports")


def client_mode(config: pytest.Config) -> bool:
    return bool(config.getoption("--agent", None) or config.getoption("--agent-command", None))


def agent_spec(config: pytest.Config) -> AgentSpec:
    cmd = config.getoption("--agent-command")
    if cmd:
        role = config.getoption("--agent-role")
        if role is None:
            raise pytest.UsageError("--agent-command needs --agent-role publish|play")
        try:
            return command_agent(config.getoption("--agent-name"), role, cmd)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from exc
    try:
        return get_agent(config.getoption("--agent"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from exc


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    # trylast: after the main plugin's configure, which resets the manifest to --manifest's.
    config.addinivalue_line("markers", "client_role(role): client case for publishers or players only")
    if not client_mode(config):
        return
    spec = agent_spec(config)
    config._rtmp_agent = spec  # type: ignore[attr-defined]
    if not config.getoption("--manifest", None):
        from rtmpconf.harness.manifest import Manifest

        path = CLIENT_MANIFESTS / f"{spec.name}.toml"
        if path.exists():
            try:
                config._rtmp_manifest = Manifest.load(path)  # type: ignore[attr-defined]
            except (OSError, ValueError) as exc:
                raise pytest.UsageError(f"bad manifest: {exc}") from exc


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Client cases only in client mode; in client mode, only client cases."""
    try:
        inside = collection_path.resolve().is_relative_to(CLIENT_CASES)
    except OSError:
        return None
    if inside and not client_mode(config):
        return True
    if client_mode(config) and collection_path.suffix == ".py" and not inside and \
            collection_path.resolve().is_relative_to(CASES):
        return True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not client_mode(config):
        return
    role = config._rtmp_agent.role  # type: ignore[attr-defined]
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("client_role")
        if marker is not None and role not in marker.args:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


class ClientCase:
    """Handed to every client case as the ``client_case`` fixture: one scripted server, one agent."""

    def __init__(self, item: pytest.Item, spec: AgentSpec, timeout: float, info: Any) -> None:
        self.item = item
        self.agent = spec
        self.role = spec.role
        self.timeout = timeout
        self.info = info
        self.server: ScriptedServer | None = None
        self.runs: list[AgentRun] = []
        self.outcomes: list[AgentOutcome] = []

    @property
    def rule(self) -> str:
        return str(self.info.rule)

    @property
    def publisher(self) -> bool:
        return self.role == PUBLISH

    async def start(self, *, options: AgentOptions | None = None, stream: str = "stream",
                    app: str = "live", connect_wait: float = CONNECT_WAIT_S,
                    server: ScriptedServer | None = None) -> ServerSession | None:
        """Start the scripted server and the agent; the agent's first connection, or None when it
        never connected (the case then reports NOT-RUN with the agent's stderr)."""
        self.server = server or ScriptedServer(label=self.info.case_id, timeout=self.timeout, app=app)
        if self.server.port == 0:
            await self.server.start()
        self.server.on_session = lambda s: self.info.logs.append(s.log)
        await self.launch(self.server.url(stream, app), options)
        return await self.server.session(0, connect_wait)

    async def launch(self, url: str, options: AgentOptions | None = None) -> AgentRun:
        run = AgentRun(self.agent, url, options)
        self.runs.append(run)
        await run.start()
        return run

    async def wait_agent(self, timeout: float) -> bool:
        """True if every agent exited by itself within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        ok = True
        for run in self.runs:
            ok = await run.wait(max(0.0, deadline - time.monotonic())) and ok
        return ok

    async def stop_agent(self) -> AgentOutcome | None:
        """Stop every agent (SIGINT, then SIGKILL by PID) and the server; the first agent's outcome."""
        for run in self.runs:
            self.outcomes.append(await run.stop())
        if self.server is not None:
            await self.server.stop()
        return self.outcomes[0] if self.outcomes else None

    async def finish(self, wait: float = 0.0) -> AgentOutcome | None:
        """Give the agent ``wait`` s to end by itself, then stop it."""
        if wait:
            await self.wait_agent(wait)
        return await self.stop_agent()

    def never_connected(self) -> Finding:
        run = self.runs[0] if self.runs else None
        why = run.start_error if run is not None and run.start_error else "the agent never connected to the test server"
        return not_run(self.rule, why)

    def judge(self, *findings: Finding | list[Finding]) -> Verdict:
        from rtmpconf.harness.pytest_plugin import capped, conclude

        flat: list[Finding] = []
        for f in findings:
            flat.extend(f if isinstance(f, list) else [f])
        self.info.findings.extend(capped(self.info, f) for f in flat)
        if not self.info.findings:
            self.info.verdict = Verdict.ERROR
            self.info.error = self.info.message = "the checker produced no findings"
            return Verdict.ERROR
        return conclude(self.info, self.item.config)

    def kill_leftovers(self) -> None:
        """Synchronous last resort (case watchdog fired): SIGKILL every agent group by its PID."""
        for run in self.runs:
            if run.pid is None:
                continue
            try:
                os.killpg(run.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            for _ in range(50):
                try:
                    pid, _status = os.waitpid(run.pid, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid:
                    break
                time.sleep(0.02)


@pytest.fixture(scope="session")
def rtmp_agent_spec(request: pytest.FixtureRequest) -> AgentSpec:
    """The agent under test; a missing program is a NOT-RUN for every case (an error under CI=true)."""
    spec: AgentSpec = request.config._rtmp_agent  # type: ignore[attr-defined]
    return spec


@pytest.fixture
def client_case(request: pytest.FixtureRequest, rtmp_agent_spec: AgentSpec) -> Iterator[ClientCase]:
    from rtmpconf.harness.peers import in_ci
    from rtmpconf.harness.pytest_plugin import case_info

    item = request.node
    info = case_info(item)
    missing = missing_program(rtmp_agent_spec)
    if missing:
        if in_ci():
            pytest.fail(f"CI=true and the agent's program is missing: {missing}")
        pytest.skip(f"NOT-RUN: {missing}")
    if allure is not None:
        allure.dynamic.tag(f"agent:{rtmp_agent_spec.name}")
    ctx = ClientCase(item, rtmp_agent_spec, request.config.getoption("--rtmp-timeout"), info)
    yield ctx
    ctx.kill_leftovers()
    outcomes = ctx.outcomes or [r._collect() for r in ctx.runs]
    item.stash[_OUTCOMES] = outcomes
    if allure is not None and request.config.getoption("allure_report_dir", None):
        for i, o in enumerate(outcomes):
            allure.attach(describe_outcome(o), name=f"agent {o.name} #{i + 1} (pid {o.pid}, stderr)",
                          attachment_type=allure.attachment_type.TEXT)
    for run in ctx.runs:
        run.cleanup()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    if call.when != "teardown" or not client_mode(item.config):
        return
    outcomes = item.stash.get(_OUTCOMES, [])
    from rtmpconf.harness.pytest_plugin import _CASE_KEY

    info = item.stash.get(_CASE_KEY, None)
    if info is not None:
        agents: dict[str, list[dict[str, Any]]] = item.config.__dict__.setdefault("_rtmp_agent_runs", {})
        agents[info.case_id] = [{
            "pid": o.pid, "returncode": o.returncode, "killed": o.killed, "signal": o.signal_used,
            "elapsed": round(o.elapsed, 3), "command": o.command, "start_error": o.start_error,
            "stderr_tail": o.stderr_tail[-2000:],
            "player_output": None if o.output is None else {
                "video_frames": o.output.video_frames, "audio_frames": o.output.audio_frames,
                "decoded": o.output.decoded, "error": o.output.error},
        } for o in outcomes]
    del outcome


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Add the agent and each case's agent runs (PID, exit, stderr) to summary.json."""
    config = session.config
    path = config.getoption("--summary", None)
    if not client_mode(config) or not path or not Path(path).exists():
        return
    spec: AgentSpec = config._rtmp_agent  # type: ignore[attr-defined]
    data = json.loads(Path(path).read_text())
    data["mode"] = "client"
    data["target"] = f"agent {spec.name}"
    data["agent"] = {"name": spec.name, "role": spec.role, "description": spec.description,
                     "version": spec.version(), "imitates": list(spec.imitates)}
    runs = getattr(config, "_rtmp_agent_runs", {})
    for c in data.get("cases", []):
        c["agent_runs"] = runs.get(c["id"], [])
    Path(path).write_text(json.dumps(data, indent=2, default=str))
