"""The gate for outside users: a wrong target ends the run in seconds with exit status 3 and one
line; a malformed handshake leaves only the handshake cases; an ingest-only target is judged with
its play-side cases UNIMPLEMENTED; a target that dies mid-run ends the rest of the run at once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.doubles import wrong_targets as wt

RUN = [sys.executable, "-m", "rtmpconf.harness.cli", "run"]


def rtmpconf_run(out: Path, *args: str, timeout: float = 300) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    proc = subprocess.run([*RUN, "--out", str(out), *args], capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - t0


@pytest.fixture(params=["closed-port", "silent-listener", "http-server", "tls-server"])
def wrong_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    kind = request.param
    if kind == "closed-port":
        yield kind, f"rtmp://127.0.0.1:{wt.free_port()}/live"
        return
    maker: Any = {"silent-listener": wt.silent_listener, "http-server": wt.http_server,
                  "tls-server": lambda: wt.tls_server(tmp_path)}[kind]
    with maker() as port:
        yield kind, f"rtmp://127.0.0.1:{port}/live"


EXPECT = {"closed-port": "connection refused", "silent-listener": "sent nothing",
          "http-server": "answers HTTP", "tls-server": "TLS"}


def test_wrong_target_ends_in_seconds_with_exit_3(wrong_target: tuple[str, str], tmp_path: Path) -> None:
    kind, url = wrong_target
    proc, seconds = rtmpconf_run(tmp_path / "reports", "--target", url)
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert seconds <= 30, seconds
    text = proc.stdout + proc.stderr
    assert EXPECT[kind] in text
    assert "Traceback" not in text
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    assert summary["preflight"]["outcome"] in ("unreachable", "not-rtmp")
    assert summary["cases"] == []


@pytest.mark.parametrize("kind", ["s0", "short"])
def test_malformed_handshake_runs_only_handshake_cases(kind: str, tmp_path: Path) -> None:
    with wt.malformed_handshake(kind) as port:
        proc, seconds = rtmpconf_run(tmp_path / "r", "--target", f"rtmp://127.0.0.1:{port}/live", timeout=120)
    assert seconds <= 60, seconds
    assert "Traceback" not in proc.stdout + proc.stderr
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["preflight"]["outcome"] == "handshake-broken"
    judged = {c["verdict"] for c in summary["cases"] if c["verdict"] != "NOT-RUN"}
    assert "FAIL" in judged, "the handshake layout cases judge the malformed handshake"
    ran = {c["rule"] for c in summary["cases"] if c["verdict"] != "NOT-RUN"}
    assert ran <= {"HS-1", "HS-2", "HS-7", "HS-8", "HS-10"}, ran
    assert sum(c["verdict"] == "NOT-RUN" for c in summary["cases"]) > 300
    assert proc.returncode == 1  # the handshake FAILs


def test_ingest_only_target_play_cases_unimplemented(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with wt.publish_only(monkeypatch) as port:
        proc, seconds = rtmpconf_run(tmp_path / "r", "--target", f"rtmp://127.0.0.1:{port}/live", timeout=400)
    text = proc.stdout + proc.stderr
    assert seconds <= 180, seconds
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["roles"].startswith("publish (capability probe")
    unimplemented = [c for c in summary["cases"] if c["verdict"] == "UNIMPLEMENTED" and "serve play" in c["message"]]
    assert len(unimplemented) > 50, len(unimplemented)
    play_fails = [c["id"] for c in summary["cases"] if c["verdict"] == "FAIL" and "play" in c["message"].lower()]
    assert not play_fails, play_fails
    assert "Traceback" not in text
    print(f"ingest-only: {seconds:.1f} s, counts {summary['counts']}, exit {proc.returncode}")


def test_target_gone_mid_run_ends_quickly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The target stops after 40 connections, in the middle of the run: the remaining cases end as
    ERROR naming the case after which it went away, without waiting for their watchdogs."""
    import threading

    from rtmpconf.reference_server.config import ServerConfig
    from rtmpconf.reference_server.server import ServerThread
    from rtmpconf.reference_server.session import ServerSession

    seen = threading.Event()
    count = [0]
    original = ServerSession.__init__

    def counting(self: Any, *a: Any, **kw: Any) -> None:
        count[0] += 1
        if count[0] >= 40:
            seen.set()
        original(self, *a, **kw)

    monkeypatch.setattr(ServerSession, "__init__", counting)
    server = ServerThread(ServerConfig(port=0, http_port=0)).start()
    proc = subprocess.Popen([*RUN, "--out", str(tmp_path / "r"), "--target",
                             f"rtmp://127.0.0.1:{server.port}/live", "--case", "CH-*", "--case", "TS-*"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert seen.wait(120), "the run never reached 40 connections"
        server.stop()
        t_kill = time.monotonic()
        out, _ = proc.communicate(timeout=120)
        after_kill = time.monotonic() - t_kill
    finally:
        if proc.poll() is None:
            proc.kill()
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    gone = [c for c in summary["cases"] if c["verdict"] == "ERROR" and "target gone after case" in c["message"]]
    assert gone, out[-3000:]
    assert summary["target_gone_after"]
    assert after_kill < 60, after_kill
    assert proc.returncode == 1


def test_credentials_in_the_url_reach_connect(tmp_path: Path) -> None:
    """rtmp://user:pass@host/app: the harness answers the server's Adobe authmod challenge (as
    FFmpeg does) for the preflight and every case; a wrong password is a refused connect (exit 3)."""
    from rtmpconf.reference_server.config import ServerConfig
    from rtmpconf.reference_server.server import ServerThread

    cfg = ServerConfig.from_mapping({"port": 0, "auth": {"users": {"alice": "wonderland"},
                                                         "apps": {"live": {"connect": "user"}}}})
    server = ServerThread(cfg).start()
    try:
        good, _ = rtmpconf_run(tmp_path / "ok", "--target", f"rtmp://alice:wonderland@127.0.0.1:{server.port}/live",
                               "--case", "CMD-9/*", "--case", "CMD-13/*")
        bad, seconds = rtmpconf_run(tmp_path / "bad", "--target", f"rtmp://alice:wrong@127.0.0.1:{server.port}/live")
    finally:
        server.stop()
    assert good.returncode == 0, good.stdout[-3000:]
    summary = json.loads((tmp_path / "ok" / "summary.json").read_text())
    assert summary["cases"] and {c["verdict"] for c in summary["cases"]} <= {"PASS", "INFORMATIONAL"}
    assert "wrong" not in json.dumps(summary), "the password must not reach the reports"
    assert bad.returncode == 3 and seconds <= 30
    assert "authfailed" in bad.stdout + bad.stderr
