"""Bad input through every subcommand: no traceback, one clear line naming what is wrong, the
right exit status (2 for usage and configuration errors, 3 for a target that is not RTMP)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = str(ROOT / "captures" / "reference-ffmpeg-play.pcapng")


def _config(tmp: Path, name: str, text: str) -> str:
    path = tmp / name
    path.write_text(text)
    return str(path)


def _results(tmp: Path) -> str:
    """A non-empty Allure results directory (report checks its other inputs next)."""
    path = tmp / "allure-results"
    path.mkdir(exist_ok=True)
    (path / "x-result.json").write_text("{}")
    return str(path)


def table(tmp: Path) -> list[tuple[list[str], int, str]]:
    """(arguments, exit status, words the last line of stderr must contain)."""
    return [
        # serve
        (["serve", "--port", "99999"], 2, "--port: port 99999 is outside 0..65535"),
        (["serve", "--port", "abc"], 2, "--port: not a port number"),
        (["serve", "--log-level", "LOUD"], 2, "--log-level: 'LOUD' is not one of"),
        (["serve", "--config", str(tmp / "missing.toml")], 2, "missing.toml: no such file"),
        (["serve", "--config", _config(tmp, "bad.toml", "port = \n")], 2, "not valid TOML"),
        (["serve", "--config", _config(tmp, "ten.toml", 'handshake_timeout_s = "ten"\n')], 2,
         "handshake_timeout_s must be a number"),
        (["serve", "--config", _config(tmp, "apps.toml", 'apps = "live"\n')], 2, "apps must be a list"),
        (["serve", "--config", _config(tmp, "key.toml", 'handshake_timeout = 3\n')], 2,
         "unknown config key(s): handshake_timeout"),
        (["serve", "--config", _config(tmp, "neg.toml", '[limits]\nmax_amf_depth = -1\n')], 2,
         "max_amf_depth must not be negative"),
        (["serve", "--config", _config(tmp, "port.toml", 'port = 70000\n')], 2, "port must be a port number"),
        # run
        (["run", "--target", "rtmp://h:abc/x"], 2, "--target: bad target URL"),
        (["run", "--target", "http://example/x"], 2, "target must look like rtmp://"),
        (["run", "--target", "rtmp://[::1/live"], 2, "Invalid IPv6 URL"),
        (["run", "--timeout", "-1"], 2, "--timeout: must be a number > 0"),
        (["run", "--timeout", "soon"], 2, "--timeout: not a number"),
        (["run", "--case-timeout", "0"], 2, "--case-timeout: must be a number > 0"),
        (["run", "--run-budget", "nan"], 2, "--run-budget: must be a number > 0"),
        (["run", "--target", "rtmp://127.0.0.1/live", "--target-server", "reference"], 2, "not both"),
        (["run", "--target-server", "wowza"], 2, "--target-server: invalid choice"),
        (["run", "--role", "origin"], 2, "--role: invalid choice"),
        (["run", "--publish-name", "fixed"], 2, "must contain {name}"),
        (["run", "--manifest", str(tmp / "none.toml")], 2, "none.toml: no such file"),
        (["run", "--impair", "moon"], 2, "--impair 'moon': choose one of"),
        (["run", "--case", "NOPE-*"], 2, "no case matched the selection"),
        (["run", "--out", "/proc/forbidden/reports"], 2, "cannot write to"),
        (["run", "--case", "HS-8/*", "--target", "rtmp://127.0.0.1:1/live"], 3, "connection refused"),
        # report, matrix, catalogue
        (["report", "--results", str(tmp / "nothing")], 2, "no Allure results"),
        (["run", "--attach", "some"], 2, "--attach: invalid choice: 'some'"),
        (["run", "--baseline", str(tmp / "old.json")], 2, "--baseline"),
        (["run", "--baseline", _config(tmp, "notjson.json", "{")], 2, "not JSON"),
        (["report", "--results", _results(tmp), "--summary", _config(tmp, "list.json", "[]")], 2,
         "not an rtmpconf summary.json"),
        (["report", "--results", _results(tmp), "--baseline", str(tmp / "old.json")], 2, "old.json: no such file"),
        (["diff", str(tmp / "old.json"), str(tmp / "new.json")], 2, "old.json: no such file"),
        (["diff", _config(tmp, "a.json", '{"cases": []}')], 2, "the following arguments are required: NEW"),
        (["matrix", "--targets", "foo"], 2, "--targets: unknown target(s) foo"),
        (["matrix"], 2, "the following arguments are required: --targets"),
        (["catalogue", "NOPE-1"], 2, "no rule matches 'NOPE-1'"),
        # analyze, replay
        (["analyze", str(tmp / "missing.pcap")], 2, "missing.pcap: No such file or directory"),
        (["analyze", "/etc/hostname"], 2, "not a pcap or pcapng file"),
        (["analyze", "--fail-on", "x", CAPTURE], 2, "--fail-on: invalid choice"),
        (["replay", CAPTURE, "--target", "rtmp://127.0.0.1/live", "--speed", "fast"], 2,
         "--speed: must be 'max' or a number > 0"),
        (["replay", CAPTURE, "--target", "rtmp://127.0.0.1/live", "--speed", "0"], 2, "--speed"),
        (["replay", CAPTURE, "--target", "rtmp://h:abc/live"], 2, "--target: bad target URL"),
        (["replay", CAPTURE, "--target", "rtmp://127.0.0.1/live", "--session", "-1"], 2, "--session: must be >= 0"),
        (["replay", str(tmp / "missing.pcap"), "--target", "rtmp://127.0.0.1/live"], 2,
         "missing.pcap: No such file or directory"),
        # impair, load
        (["impair", "--listen", "127.0.0.1:99999", "--upstream", "127.0.0.1:1935"], 2, "--listen: port 99999"),
        (["impair", "--listen", "foo", "--upstream", "127.0.0.1:1935"], 2, "--listen: must be HOST:PORT"),
        (["impair", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1935", "--profile", "nope"], 2,
         "unknown impairment profile 'nope'"),
        (["impair", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1935", "--delay-ms", "-5"], 2,
         "--delay-ms: must be >= 0"),
        (["impair", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1935", "--rate-kbps", "x"], 2,
         "--rate-kbps: not a number"),
        (["load", "--target", "rtmp://h:abc/live"], 2, "--target: bad target URL"),
        (["load", "--target", "rtmp://127.0.0.1/live", "--players", "-3"], 2, "--players: must be >= 0"),
        (["load", "--target", "rtmp://127.0.0.1/live", "--duration", "0"], 2, "--duration: must be a number > 0"),
        # top level
        (["bogus"], 2, "invalid choice: 'bogus'"),
        ([], 2, "the following arguments are required: COMMAND"),
    ]


def test_bad_inputs(tmp_path: Path) -> None:
    rows = table(tmp_path)
    problems = []
    env = {**os.environ, "RTMPCONF_REPORTS": str(tmp_path / "reports")}
    env.pop("RTMPCONF_DEBUG", None)
    for args, status, words in rows:
        proc = subprocess.run([sys.executable, "-m", "rtmpconf.harness.cli", *args], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path, env=env)
        text = proc.stdout + proc.stderr
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        last = next((ln for ln in reversed(lines) if "error" in ln or "not usable" in ln), lines[-1] if lines else "")
        if "Traceback" in text:
            problems.append(f"{args}: traceback:\n{text[-1500:]}")
        elif proc.returncode != status:
            problems.append(f"{args}: exit {proc.returncode}, expected {status}: {text[-600:]}")
        elif words not in last and words not in text:
            problems.append(f"{args}: {words!r} not in {last!r}")
    print(f"{len(rows)} bad inputs checked")
    assert not problems, "\n".join(problems)
    assert len(rows) >= 45


def test_version() -> None:
    proc = subprocess.run([sys.executable, "-m", "rtmpconf.harness.cli", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("rtmpconf ")


def test_broken_pipe_is_quiet() -> None:
    proc = subprocess.run(f"{sys.executable} -m rtmpconf.harness.cli analyze {CAPTURE} | head -1",
                          shell=True, capture_output=True, text=True, timeout=120)
    assert proc.stdout.count("\n") == 1
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_analyze_output_is_whole_after_the_quick_exit() -> None:
    """``rtmpconf analyze`` ends without interpreter shutdown (cli.QUICK_EXIT): everything it printed
    still reaches a pipe, the whole JSON document of the largest capture."""
    import json

    from rtmpconf.harness.capture.analyze import analyze_file, render_json

    largest = str(ROOT / "captures" / "reference-large-interleaved.pcapng")
    proc = subprocess.run([sys.executable, "-m", "rtmpconf.harness.cli", "analyze", largest, "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == json.loads(render_json(analyze_file(largest)))
    # Exit statuses other than 0 through the same path: test_bad_inputs (analyze rows, status 2).
