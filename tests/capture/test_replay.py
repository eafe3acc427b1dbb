"""``rtmpconf replay`` against the reference server (and a target that refuses the app)."""

from __future__ import annotations

import asyncio
import json
import tomllib
from pathlib import Path

import pytest

import argparse

from rtmpconf.cliutil import speed as parse_speed
from rtmpconf.harness.capture.replay import Rewriter, build_steps, replay_capture
from rtmpconf.harness.capture.sessions import read_capture
from rtmpconf.harness.client import Target
from rtmpconf.harness.targets import ReferenceServerProcess
from rtmpconf.rtmp.messages import Command
from tests.capture.builders import run_cli as cli_main

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"
ENTRIES = tomllib.loads((CAPTURES / "manifest.toml").read_text())["capture"]
PUBLISH_PLAY = CAPTURES / ENTRIES[0]["file"]


@pytest.fixture(scope="module")
def reference():
    proc = ReferenceServerProcess()
    target = proc.start()
    yield target
    proc.stop()


@pytest.fixture(scope="module")
def refusing(tmp_path_factory):
    conf = tmp_path_factory.mktemp("conf") / "server.toml"
    conf.write_text('apps = ["other"]\n')
    proc = ReferenceServerProcess(config=str(conf))
    target = proc.start()
    yield target
    proc.stop()


def test_rewriter_maps_names_and_tcurl_consistently():
    rw = Rewriter(Target("127.0.0.1", 1234, "app2"), name_prefix="p-")
    c = rw.command(Command("connect", 1.0, {"app": "live", "tcUrl": "rtmp://x/live", "flashVer": "F"}))
    assert c.command_object == {"app": "app2", "tcUrl": "rtmp://127.0.0.1:1234/app2", "flashVer": "F"}
    pub = rw.command(Command("publish", 0.0, None, ("cam?key=1", "live")))
    play = rw.command(Command("play", 0.0, None, ("cam", -2000.0)))
    assert pub.arguments[0] == play.arguments[0] + "?key=1" and play.arguments[0].startswith("p-cam-r")
    assert pub.arguments[1] == "live"


def test_steps_keep_capture_order_and_gates():
    found = read_capture(PUBLISH_PLAY)
    steps = build_steps(found)
    assert [s.kind for s in steps if s.session == 1][0] == "open"
    opens = [i for i, s in enumerate(steps) if s.kind == "open"]
    assert opens[0] == 0 and opens[1] > 10  # the player joins while the publisher streams
    player_sends = [s for s in steps if s.session == 1 and s.kind == "send"]
    create = next(s for s in player_sends if s.raw and s.raw.type_id == 20 and b"play" in s.raw.payload[:8])
    assert create.gate.tid is not None  # play waited for createStream's _result
    close = next(s for s in steps if s.session == 1 and s.kind == "close")
    assert close.gate.video and close.gate.audio and close.gate.statuses >= 1
    assert not [s for s in steps if s.raw is not None and s.raw.type_id == 3]  # acks are regenerated


def test_parse_speed():
    assert parse_speed("max") is None and parse_speed("1") == 1.0
    for bad in ("0", "fast", "-1", "nan"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_speed(bad)


def test_replay_matches_reference(reference):
    found = read_capture(PUBLISH_PLAY)
    result = asyncio.run(replay_capture(found, reference))
    assert not result.diverged, [f.line() for s in result.sessions for f in s.diff.findings]
    assert len(result.sessions) == 2 and result.seconds < 10
    player = result.sessions[1]
    assert player.diff.replayed_media.video > 0 and player.diff.replayed_media.first_coded_video_key


def test_cli_replay_json_and_session_option(reference, capsys):
    url = reference.tc_url
    assert cli_main(["replay", str(PUBLISH_PLAY), "--target", url, "--json", "--session", "0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["diverged"] is False and [s["index"] for s in out["sessions"]] == [0]
    assert "status:NetStream.Publish.Start [status]" in out["sessions"][0]["replayed"]
    assert cli_main(["replay", str(PUBLISH_PLAY), "--target", url, "--session", "9"]) == 2


def test_divergence_gives_nonzero_exit_and_readable_diff(refusing, capsys):
    code = cli_main(["replay", str(PUBLISH_PLAY), "--target", refusing.tc_url.replace("/live", "/live"),
                     "--timeout", "1"])
    text = capsys.readouterr().out
    assert code == 1
    assert "DIVERGED" in text and "FAIL [CMD-10] connect was answered with _error" in text
    assert "- _result(connect)" in text and "+ _error(connect)" in text


def test_unreachable_target_is_reported(capsys):
    from rtmpconf.harness.peers.servers import free_port

    code = cli_main(["replay", str(PUBLISH_PLAY), "--target", f"rtmp://127.0.0.1:{free_port()}/live",
                     "--timeout", "0.5"])
    assert code == 1
    assert "cannot connect" in capsys.readouterr().out
