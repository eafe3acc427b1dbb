"""Every client-side checker FAILs (or is NON-STRICT, by its rule's level) on a small deliberately
broken client: tests/doubles/broken_clients.py run as an agent command against the client case that
judges the rule it breaks. The unbroken profile passes the same cases (test_simulated_profiles_pass)."""

from __future__ import annotations

import fnmatch
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOUBLE = ROOT / "tests" / "doubles" / "broken_clients.py"
CASES = ROOT / "rtmpconf" / "cases" / "clients"

#: (fault, profile, role, case glob, verdict the case must give)
DOUBLES = [
    ("c0-version-6", "ffmpeg", "publish", "CL-HS-1/*", "FAIL"),
    ("c2-garbage", "ffmpeg", "publish", "CL-HS-2/*", "FAIL"),
    ("no-wait-s2", "ffmpeg", "publish", "CL-HS-3/*", "FAIL"),
    ("needs-one-read-handshake", "ffmpeg", "play", "CL-HS-5/*byte-by-byte*", "FAIL"),
    ("patient", "ffmpeg", "play", "CL-HS-6/*", "NON-STRICT"),  # waits 60 s on a silent server
    ("fmt2-first", "ffmpeg", "publish", "CL-CH-1/*", "FAIL"),
    ("big-basic-header", "ffmpeg", "publish", "CL-CH-2/*", "NON-STRICT"),
    ("control-on-csid-3", "ffmpeg", "publish", "CL-CH-3/*", "FAIL"),
    ("ignores-set-chunk-size", "ffmpeg", "play", "CL-CH-4/*[[]65536[]]", "FAIL"),
    ("ignores-set-chunk-size", "ffmpeg", "play", "CL-CH-5/set-chunk-size-mid-stream[[]4096[]]", "FAIL"),
    ("drops-high-csid", "ffmpeg", "play", "CL-CH-6/reply-on-high-csid[[]csid-320[]]", "FAIL"),
    ("one-message-at-a-time", "ffmpeg", "play", "CL-CH-7/*", "FAIL"),
    ("strict-partial", "ffmpeg", "play", "CL-CH-8/abort-before-connect-reply", "FAIL"),
    ("none", "flash", "publish", "CL-CH-9/*", "NON-STRICT"),
    ("no-fmt3-starts", "ffmpeg", "play", "CL-CH-10/*", "FAIL"),
    ("fragile-player", "ffmpeg", "play", "CL-CH-11/*", "FAIL"),
    ("omits-ext-ts", "ffmpeg", "publish", "CL-TS-2/*", "FAIL"),
    ("reads-ext-ts-present-only", "ffmpeg", "play", "CL-TS-4/*", "NON-STRICT"),
    ("reads-ext-ts-omitted-only", "ffmpeg", "play", "CL-TS-3/*", "FAIL"),
    ("backwards-timestamps", "ffmpeg", "publish", "CL-TS-5/*", "NON-STRICT"),
    ("dies-on-24-bit", "ffmpeg", "play", "CL-TS-6/*", "FAIL"),
    ("dies-on-wrap", "ffmpeg", "play", "CL-TS-7/*", "NON-STRICT"),
    ("aac-drift", "ffmpeg", "publish", "CL-TS-8/*", "NON-STRICT"),
    ("negative-delta", "ffmpeg", "publish", "CL-TS-9/*", "FAIL"),
    ("wraps-24-bit", "obs", "publish", "CL-TS-10/*", "FAIL"),
    ("no-ack", "ffmpeg", "play", "CL-CTRL-1/*", "FAIL"),
    ("ack-too-high", "ffmpeg", "play", "CL-CTRL-2/*", "NON-STRICT"),
    ("no-pong", "ffmpeg", "play", "CL-CTRL-3/ping-after-connect", "FAIL"),
    ("wrong-pong", "ffmpeg", "publish", "CL-CTRL-3/ping-mid-stream", "FAIL"),
    ("none", "ffmpeg", "play", "CL-CTRL-4/*", "NON-STRICT"),
    ("fragile-player", "ffmpeg", "play", "CL-CTRL-5/second-stream-begin", "FAIL"),
    ("fragile-player", "ffmpeg", "play", "CL-CTRL-6/*", "NON-STRICT"),
    ("fragile-player", "ffmpeg", "play", "CL-CTRL-7/*", "NON-STRICT"),
    ("fragile-player", "ffmpeg", "play", "CL-CTRL-8/*", "FAIL"),
    ("connect-wrong-app", "ffmpeg", "publish", "CL-CMD-1/*", "FAIL"),
    ("connect-tid-2", "ffmpeg", "publish", "CL-CMD-2/*", "FAIL"),
    ("pipelines-create-stream", "ffmpeg", "publish", "CL-CMD-3/*", "NON-STRICT"),
    ("wrong-stream-id", "ffmpeg", "publish", "CL-CMD-4/*", "FAIL"),
    ("publish-wrong-type", "ffmpeg", "publish", "CL-CMD-5/*", "FAIL"),
    ("media-before-publish-start", "ffmpeg", "publish", "CL-CMD-6/*", "NON-STRICT"),
    ("keeps-publishing", "ffmpeg", "publish", "CL-CMD-7/*", "NON-STRICT"),
    ("ignores-error-status", "ffmpeg", "play", "CL-CMD-7/play-stream-not-found", "NON-STRICT"),
    ("ignores-connect-error", "ffmpeg", "play", "CL-CMD-8/*", "NON-STRICT"),
    ("first-result-is-stream-id", "ffmpeg", "publish", "CL-CMD-9/*", "FAIL"),
    ("dies-on-unexpected-command", "ffmpeg", "play", "CL-CMD-10/*", "NON-STRICT"),
    ("no-unpublish", "ffmpeg", "publish", "CL-CMD-11/*", "NON-STRICT"),
    ("play-wrong-name", "ffmpeg", "play", "CL-CMD-12/*", "FAIL"),
    ("none", "ffmpeg", "play", "CL-CMD-13/*", "NON-STRICT"),
    ("needs-stream-begin", "ffmpeg", "play", "CL-CMD-14/*", "NON-STRICT"),
    ("bad-amf", "ffmpeg", "publish", "CL-AMF-1/*", "FAIL"),
    ("codec-ids-as-strings", "ffmpeg", "publish", "CL-AMF-2/*", "FAIL"),
    ("metadata-object", "ffmpeg", "publish", "CL-AMF-3/*", "NON-STRICT"),
    ("metadata-wrong-rate", "ffmpeg", "publish", "CL-AMF-4/*", "NON-STRICT"),
    ("dies-on-long-string", "ffmpeg", "play", "CL-AMF-5/*", "FAIL"),
    ("amf3-deaf", "ffmpeg", "play", "CL-AMF-6/*", "FAIL"),
    ("no-sequence-header", "ffmpeg", "publish", "CL-AV-1/*", "FAIL"),
    ("inter-frame-first", "ffmpeg", "publish", "CL-AV-2/*", "FAIL"),
    ("inband-sps-differs", "ffmpeg", "publish", "CL-AV-3/*", "FAIL"),
    ("hevc-inband-differs", "ffmpeg", "publish", "CL-AV-3/*", "FAIL"),
    ("bad-nal-length", "ffmpeg", "publish", "CL-AV-4/*", "FAIL"),
    ("bad-aac-config", "ffmpeg", "publish", "CL-AV-5/*", "FAIL"),
    ("wrong-key-flags", "ffmpeg", "publish", "CL-AV-6/*", "NON-STRICT"),
    ("aac-header-mono-22k", "ffmpeg", "publish", "CL-AV-7/*", "NON-STRICT"),
    ("one-sequence-header", "ffmpeg", "play", "CL-AV-8/*", "FAIL"),
    ("caps-wrong-types", "ffmpeg", "publish", "CL-ERTMP-1/*", "FAIL"),
    ("advertises-reconnect", "ffmpeg", "publish", "CL-ERTMP-3/reconnect-absolute-tcurl", "FAIL"),
    ("announces-hvc1", "ffmpeg", "play", "CL-ERTMP-4/*", "FAIL"),
]


def run_cases(tmp: Path, fault: str, profile: str, role: str, glob: str, timeout: float = 240) -> list[dict]:
    summary = tmp / "summary.json"
    cmd = f"{shlex.quote(sys.executable)} {shlex.quote(str(DOUBLE))} --fault {fault} --profile {profile} --role {role} --ts-offset-ms {{ts_offset_ms}} {{url}}"
    proc = subprocess.run([sys.executable, "-m", "pytest", str(CASES), "-p", "no:cacheprovider", "-p", "no:locust",
                           "-q", "--agent-command", cmd, "--agent-role", role, "--agent-name", f"double-{fault}",
                           f"--case={glob}", "--summary", str(summary), "--case-timeout", "60"],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert summary.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    cases = [c for c in json.loads(summary.read_text())["cases"] if fnmatch.fnmatchcase(c["id"], glob)]
    assert cases, f"no case matched {glob}: {proc.stdout[-2000:]}"
    return cases


#: Runs at once: each run waits mostly on real time (held replies, media pacing), not on the CPU.
PARALLEL = 4


@pytest.fixture(scope="module")
def double_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, ...], list[dict]]:
    """Every double's run, four at a time (each test then judges its own)."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = [(d[0], d[1], d[2], d[3]) for d in DOUBLES] + [("none", g[0], g[1], g[2]) for g in GOOD]

    def one(job: tuple[str, ...]) -> tuple[tuple[str, ...], list[dict] | str]:
        try:
            return job, run_cases(tmp_path_factory.mktemp("double"), *job, timeout=600)
        except (AssertionError, subprocess.SubprocessError) as exc:
            return job, f"{type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(PARALLEL) as pool:
        return dict(pool.map(one, jobs))  # type: ignore[arg-type]


@pytest.mark.parametrize("fault,profile,role,glob,verdict", DOUBLES,
                         ids=[f"{d[0]}-{d[3].split('/')[0]}" for d in DOUBLES])
def test_broken_client_fails_its_case(double_runs: dict, fault: str, profile: str, role: str, glob: str,
                                      verdict: str) -> None:
    cases = double_runs[(fault, profile, role, glob)]  # two doubles may judge one glob: keyed by fault too
    assert not isinstance(cases, str), cases
    got = {c["id"]: (c["verdict"], c["message"]) for c in cases}
    assert all(v == verdict for v, _ in got.values()), got
    rule = glob.split("/")[0]
    for c in cases:
        assert any(f["rule"] == rule and f["verdict"] == verdict for f in c["findings"]), c


#: The unbroken profiles run every case of their role: no FAIL, and NON-STRICT only where the profile
#: imitates a program's known SHOULD deviation (the checkers do not fail everything).
GOOD = [("ffmpeg", "publish", "CL-*"), ("ffmpeg", "play", "CL-*")]
PROFILE_NON_STRICT = {"CL-CTRL-4", "CL-HS-6", "CL-CMD-13"}


@pytest.mark.parametrize("profile,role,glob", GOOD, ids=[f"{g[0]}-{g[1]}" for g in GOOD])
def test_simulated_profiles_pass(double_runs: dict, profile: str, role: str, glob: str) -> None:
    cases = double_runs[("none", profile, role, glob)]
    assert not isinstance(cases, str), cases
    assert len(cases) >= 55
    bad = {c["id"]: c["message"] for c in cases if c["verdict"] in ("FAIL", "ERROR")
           or (c["verdict"] == "NON-STRICT" and c["rule"] not in PROFILE_NON_STRICT)}
    assert not bad, bad
