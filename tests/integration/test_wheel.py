"""The suite as an outside user gets it: the wheel installed into a fresh venv (Debian's own
python3), in an empty directory, as an unprivileged user, with no system programs on PATH, runs the
README's third-party recipe (docs/ci/conformance.sh) against a reference server started from that
same install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "docs" / "ci" / "conformance.sh"
SYSTEM_PYTHON = "/usr/bin/python3"
#: Building, downloading dependencies (pip cache), installing and one suite run.
DEADLINE_S = 900


def _as_user(cmd: list[str]) -> list[str]:
    """Run as 'nobody' when we are root (the point of the test); as ourselves otherwise."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "nobody", "--", *cmd]
    return cmd


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Path]:
    if not Path(SYSTEM_PYTHON).exists() or shutil.which("runuser") is None and os.geteuid() == 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {SYSTEM_PYTHON} and runuser are needed for the wheel test")
        pytest.skip(f"needs {SYSTEM_PYTHON} (Debian python3-venv) and runuser")
    top = Path(tempfile.mkdtemp(prefix="rtmpconf-wheel-", dir="/tmp"))
    top.chmod(0o755)
    try:
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=DEADLINE_S, **kw)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{cmd}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    return proc


def test_wheel_recipe_as_unprivileged_user(sandbox: Path) -> None:
    dist, wheelhouse, work, tools = (sandbox / d for d in ("dist", "wheelhouse", "work", "bin"))
    for d in (dist, wheelhouse, work, tools):
        d.mkdir()
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), str(ROOT)])
    (wheel,) = dist.glob("rtmp_conformance-*.whl")
    constraints = ROOT / "requirements" / "constraints.txt"
    extra = ["-c", str(constraints)] if constraints.exists() else []
    _run([sys.executable, "-m", "pip", "download", "--quiet", "-d", str(wheelhouse), str(wheel), *extra])
    # A PATH with python3, bash and coreutils only: no ffmpeg, tshark, nginx, VLC, node.
    for prog in ("bash", "cat", "python3", "env"):
        found = SYSTEM_PYTHON if prog == "python3" else shutil.which(prog)
        assert found, prog
        (tools / prog).symlink_to(found)
    shutil.copy(RECIPE, work / "conformance.sh")
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "nobody", str(work)], check=True)
    subprocess.run(["chmod", "-R", "a+rX", str(sandbox)], check=True)
    env = {"HOME": str(work), "PATH": str(tools), "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse),
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "LANG": "C.UTF-8"}
    # The server under test, started from the same install the recipe makes (first install it).
    _run(_as_user(["/usr/bin/env", "-i", *[f"{k}={v}" for k, v in env.items()], "bash", "-c",
                   f"cd {work} && python3 -m venv server-venv && server-venv/bin/pip install --quiet "
                   "rtmp-conformance"]))
    server = subprocess.Popen(_as_user(["/usr/bin/env", "-i", *[f"{k}={v}" for k, v in env.items()],
                                        str(work / "server-venv" / "bin" / "rtmpconf"), "serve", "--port", "0",
                                        "--http-port", "0", "--log-level", "WARNING"]),
                              stderr=subprocess.PIPE, text=True, cwd=work)
    try:
        assert server.stderr is not None
        seen = []
        line = ""
        while "listening on rtmp://" not in line:  # other listeners (HTTP) may announce themselves first
            line = server.stderr.readline()
            assert line, f"the server exited: {seen}"
            seen.append(line)
            assert len(seen) < 20, seen
        url = line.strip().split("listening on ")[1] + "/live"
        t0 = time.monotonic()
        run_env = {**env, "RTMP_TARGET": url, "RTMPCONF_PIP_SPEC": "rtmp-conformance",
                   "GITHUB_STEP_SUMMARY": str(work / "step-summary.md")}
        proc = subprocess.run(_as_user(["/usr/bin/env", "-i", *[f"{k}={v}" for k, v in run_env.items()],
                                        "bash", str(work / "conformance.sh")]),
                              capture_output=True, text=True, timeout=DEADLINE_S, cwd=work)
        seconds = time.monotonic() - t0
    finally:
        server.terminate()
        server.wait(10)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "Traceback" not in out
    summary = json.loads((work / "rtmpconf-reports" / "summary.json").read_text())
    junit = ET.parse(work / "rtmpconf-reports" / "junit.xml").getroot()
    assert int(junit.get("tests", "0")) == len(summary["cases"]) > 300
    assert "FAIL" not in summary["counts"] and "ERROR" not in summary["counts"]
    not_run = summary["counts"].get("NOT-RUN", 0)
    replay = [c for c in summary["cases"] if "replay-capture" in c["id"]]
    assert replay and all(c["verdict"] != "NOT-RUN" for c in replay), "the captures ship in the wheel"
    # The job summary: compliance.md, appended by the recipe (the GitHub step summary).
    compliance = (work / "rtmpconf-reports" / "compliance.md").read_text()
    assert compliance.startswith("## RTMP conformance: rtmp://") and "### Compliance by section" in compliance
    assert (work / "step-summary.md").read_text() == compliance
    print(f"wheel recipe: {len(summary['cases'])} cases in {seconds:.0f} s as {'nobody' if os.geteuid() == 0 else 'me'}; "
          f"counts {summary['counts']}; NOT-RUN {not_run}")


def test_readme_shows_the_recipe_the_test_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    assert RECIPE.read_text() in readme, "README's CI recipe differs from docs/ci/conformance.sh"
    assert "bash .ci/conformance.sh" in (ROOT / "docs" / "ci" / "github-actions.yml").read_text()
