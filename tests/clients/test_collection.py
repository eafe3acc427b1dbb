"""Client cases are collected only in client mode, and then only they are."""

from __future__ import annotations

import re
import subprocess
import sys

from rtmpconf.paths import CASES


def _dry_run(*extra: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "pytest", str(CASES), "-p", "no:cacheprovider", "-p", "no:locust",
                           "--rtmp-dry-run", "-q", *extra], capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 5), proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


def test_server_run_never_sees_client_cases() -> None:
    out = _dry_run()
    assert "CL-" not in out and int(re.search(r"(\d+) cases", out).group(1)) > 300  # type: ignore[union-attr]


def test_client_mode_collects_only_client_cases_of_the_agent_role() -> None:
    pub = _dry_run("--agent", "sim-obs")
    play = _dry_run("--agent", "sim-vlc")
    ids_pub = set(re.findall(r"^(CL-\S+)", pub, re.M))
    ids_play = set(re.findall(r"^(CL-\S+)", play, re.M))
    assert not re.search(r"^(?!CL-)[A-Z]+-\d+/", pub + play, re.M)
    assert "CL-CMD-5/publish-command" in ids_pub and "CL-CMD-5/publish-command" not in ids_play
    assert "CL-CMD-12/play-command" in ids_play and "CL-CMD-12/play-command" not in ids_pub
    assert len(ids_pub | ids_play) >= 80


def test_unknown_agent_is_a_usage_error() -> None:
    proc = subprocess.run([sys.executable, "-m", "pytest", str(CASES / "clients"), "-p", "no:cacheprovider",
                           "-p", "no:locust", "--agent", "nope", "-q"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 4 and "unknown agent 'nope'" in proc.stderr + proc.stdout
