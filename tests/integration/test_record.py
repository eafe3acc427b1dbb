"""Recording on the reference server: valid FLV after each ending, metadata totals, rotation, ffprobe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from rtmpconf.harness.checks.recording import check_metadata_totals, check_recording, check_rotation, read_flv
from rtmpconf.harness.client import RtmpClient, Target
from rtmpconf.harness.peers import require_or_skip
from rtmpconf.harness.scenarios import publish_stream, tags_with_headers
from rtmpconf.harness.testmedia import make_h264_aac
from rtmpconf.harness.verdict import worst
from tests.integration.conftest import run


def ffprobe_video_frames(path: Path) -> int:
    (ffprobe,) = require_or_skip("ffprobe")
    out = subprocess.run([ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                          "stream=nb_read_frames", "-of", "json", str(path)], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    return int(json.loads(out.stdout)["streams"][0]["nb_read_frames"])


def wait_file(directory: Path, count: int = 1, timeout: float = 10.0) -> list[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = sorted(directory.rglob("*.flv"))
        if len(files) >= count:
            return files
        time.sleep(0.05)
    raise AssertionError(f"no recording in {directory}")


async def publish(port: int, name: str, stream: Any) -> RtmpClient:
    pub = RtmpClient(Target("127.0.0.1", port), label="publisher")
    await pub.open()
    await publish_stream(pub, name, stream=stream)
    await pub.probe()
    return pub


def test_clean_unpublish_gives_a_complete_file_with_totals(server_factory: Any, tmp_path: Path) -> None:
    srv = server_factory(record={"path": str(tmp_path / "{app}" / "{name}.flv")})
    stream = make_h264_aac(seconds=2.0)

    async def scenario() -> None:
        pub = await publish(srv.port, "clean", stream)
        await pub.command("deleteStream", float(pub.stream_id or 1))
        await pub.probe()
        await pub.close()

    run(scenario())
    (path,) = wait_file(tmp_path)
    assert path == tmp_path / "live" / "clean.flv"
    rep = read_flv(path.read_bytes())
    sent = tags_with_headers(stream)
    findings = check_recording(rep, sent, rule="REC-1", ffprobe_video_frames=ffprobe_video_frames(path))
    assert worst(findings).value == "PASS", [f.line() for f in findings]
    totals = check_metadata_totals(rep, rule="REC-2")
    assert worst(totals).value == "PASS", [f.line() for f in totals]
    assert rep.metadata is not None and rep.metadata.get("width") == 320.0  # the publisher's fields survive


def test_publisher_reset_mid_chunk_leaves_a_valid_file(server_factory: Any, tmp_path: Path) -> None:
    from rtmpconf.rtmp.messages import Video

    srv = server_factory(record={"path": str(tmp_path / "{name}.flv")})
    stream = make_h264_aac(seconds=1.0)
    key = next(t for t in reversed(stream.tags) if t.keyframe)

    async def scenario() -> None:
        pub = await publish(srv.port, "rst", stream)
        data = await pub.prepare(Video(key.payload + bytes(2000)), msid=pub.stream_id or 1, timestamp=key.timestamp + 40)
        await pub.send_raw(data[:300])  # stop inside the first chunk of a message
        pub.abort()

    run(scenario())
    (path,) = wait_file(tmp_path)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and srv.call(lambda: bool(srv.server.registry.streams)):
        time.sleep(0.05)
    rep = read_flv(path.read_bytes())
    findings = check_recording(rep, tags_with_headers(stream), rule="REC-3",
                               ffprobe_video_frames=ffprobe_video_frames(path))
    assert worst(findings).value == "PASS", [f.line() for f in findings]
    assert worst(check_metadata_totals(rep, rule="REC-2")).value == "PASS"


def test_sigkill_loses_at_most_the_last_tag(tmp_path: Path) -> None:
    from rtmpconf.harness.targets import ReferenceServerProcess

    conf = tmp_path / "rec.toml"
    conf.write_text(f'[record]\npath = "{tmp_path / "rec" / "{{name}}.flv"}"\n')
    proc = ReferenceServerProcess(config=str(conf))
    target = proc.start()
    stream = make_h264_aac(seconds=2.0)
    try:
        async def scenario() -> None:
            pub = await publish(target.port, "killed", stream)
            assert proc.proc is not None
            os.kill(proc.proc.pid, signal.SIGKILL)
            proc.proc.wait(5)
            await pub.close()

        run(scenario())
    finally:
        proc.stop()
    (path,) = wait_file(tmp_path / "rec")
    rep = read_flv(path.read_bytes())
    findings = check_recording(rep, tags_with_headers(stream), rule="REC-4", lost_tail_allowed=1,
                               ffprobe_video_frames=ffprobe_video_frames(path))
    assert worst(findings).value == "PASS", [f.line() for f in findings]


def test_rotation_by_media_time(server_factory: Any, tmp_path: Path) -> None:
    srv = server_factory(record={"path": str(tmp_path / "{name}-{seq}.flv"), "max_seconds": 1.0})
    stream = make_h264_aac(seconds=3.2, gop=12)

    async def scenario() -> None:
        pub = await publish(srv.port, "rot", stream)
        await pub.close()

    run(scenario())
    files = wait_file(tmp_path, 3)
    time.sleep(0.2)
    files = sorted(tmp_path.glob("rot-*.flv"), key=lambda p: int(p.stem.split("-")[1]))
    reports = [read_flv(p.read_bytes()) for p in files]
    findings = check_rotation(reports, tags_with_headers(stream), rule="REC-5")
    assert worst(findings).value in ("PASS", "INFORMATIONAL"), [f.line() for f in findings]
    for p, rep in zip(files, reports):
        assert ffprobe_video_frames(p) == len(rep.coded(9))


@pytest.mark.parametrize("bad, message", [
    ({"path": "x.flv"}, "must contain {name}"),
    ({"path": "{name}.flv", "max_bytes": -1}, "must not be negative"),
    ({"path": "{name}.flv", "colour": 1}, "unknown [record] keys"),
    ({"path": "{name}-{nme}.flv"}, "bad template"),
])
def test_bad_record_config(bad: dict, message: str) -> None:
    from rtmpconf.reference_server.config import ServerConfig

    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]").replace("{", r"\{").replace("}", r"\}")):
        ServerConfig.from_mapping({"record": bad})
