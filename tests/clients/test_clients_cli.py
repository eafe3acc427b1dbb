"""``rtmpconf clients``: bad input gives one clear line; the matrix and the profile comparison."""

from __future__ import annotations

import pytest

from rtmpconf.harness.cli import main
from rtmpconf.harness.clients.cli import build_matrix, compare_profiles, render


@pytest.mark.parametrize("argv, words", [
    (["clients", "--agents", "nope"], "unknown agent"),
    (["clients", "--agent-command", "x {url}"], "needs --agent-role"),
    (["clients", "--agent-command", "x", "--agent-role", "play"], "must contain {url}"),
    (["clients", "--jobs", "0"], "--jobs"),
    (["clients", "--agent-timeout", "0"], "--agent-timeout"),
])
def test_bad_input_is_one_line(argv: list[str], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0] and "Traceback" not in err[0]


def test_list_names_every_agent(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clients", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("ffmpeg-publish", "ffmpeg-play", "ffprobe", "rtmpdump", "vlc", "pyav", "gstreamer-publish",
                 "gstreamer-play", "sim-obs-legacy"):
        assert name in out


def _result(name: str, verdicts: dict[str, str], imitates: list[str] | None = None) -> dict:
    return {"name": name, "returncode": 0, "seconds": 1.0, "report": None, "note": None,
            "agent": {"role": "play", "imitates": imitates or []},
            "cases": [{"id": k, "rule": k.split("/")[0], "level": "MUST", "section": "x", "verdict": v,
                       "message": v} for k, v in verdicts.items()]}


def test_profile_comparison_lists_differences() -> None:
    real = _result("ffprobe", {"CL-CH-8/a": "FAIL", "CL-HS-1/b": "PASS"})
    sim = _result("sim-ffmpeg-play", {"CL-CH-8/a": "PASS", "CL-HS-1/b": "PASS"}, ["ffprobe"])
    comp = compare_profiles([real, sim])
    assert comp == [{"simulated": "sim-ffmpeg-play", "real": "ffprobe", "cases": 2, "same": 1,
                     "differences": [{"case": "CL-CH-8/a", "simulated": "PASS", "real": "FAIL"}]}]
    page = render(build_matrix([real, sim]))
    assert "sim-ffmpeg-play vs ffprobe: 1 of 2" in page and "CL-CH-8/a" in page
