"""Recording cases (catalogue section 17): the FLV a server writes, read back after each ending.

Recordings are files on the server's machine, so these cases start their own instances of the
target with recording on, into a directory the harness chose: the reference server (``[record]``),
nginx-rtmp (``record all``), node-media-server (``record.auto``). For other targets they are
NOT-RUN. ffprobe counts the frames of each file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rtmpconf.harness.checks.recording import (
    check_metadata_totals,
    check_recording,
    check_rotation,
    read_flv,
)
from rtmpconf.harness.client import Target
from rtmpconf.harness.peers import require
from rtmpconf.harness.scenarios import publish_stream, tags_with_headers
from rtmpconf.harness.testmedia import make_h264_aac
from rtmpconf.harness.verdict import Finding, Verdict, not_run
from rtmpconf.rtmp.messages import Video

#: How long a server may take to finish a file after the publisher left (s).
FILE_WAIT_S = 5.0
SERVERS = ("reference", "nginx-rtmp", "node-media-server")


@dataclass
class Recorder:
    """A started instance of the target that records into ``directory``."""

    target: Target
    directory: Path
    driver: Any

    def pid(self) -> int | None:
        proc = getattr(self.driver, "proc", None)
        return proc.pid if proc is not None else None


def start_recorder(kind: str, directory: Path, *, rotate_s: float = 0.0) -> Recorder:
    directory.mkdir(parents=True, exist_ok=True)
    if kind == "reference":
        from rtmpconf.harness.targets import ReferenceServerProcess

        conf = directory.parent / f"{directory.name}.toml"
        rot = f"\nmax_seconds = {rotate_s}" if rotate_s else ""
        conf.write_text(f'[record]\npath = "{directory}/{{name}}-{{seq}}.flv"{rot}\n')
        proc = ReferenceServerProcess(config=str(conf))
        return Recorder(proc.start(), directory, proc)
    if kind == "nginx-rtmp":
        from rtmpconf.harness.peers.servers import NginxRtmp

        extra = ["record all", f"record_path {directory}", "record_unique on"]
        if rotate_s:
            extra.append(f"record_interval {max(1, int(rotate_s))}s")
        server = NginxRtmp(extra_apps={"rec": extra})
        target = server.start()
        return Recorder(Target(target.host, target.port, "rec"), directory, server)
    from rtmpconf.harness.peers.servers import NodeMediaServer

    nms = NodeMediaServer(record_dir=str(directory))
    return Recorder(nms.start(), directory, nms)


@pytest.fixture(scope="module")
def rec_kind(rtmp_target: Any) -> Iterator[str | tuple[str]]:
    name = rtmp_target.name or ""
    if rtmp_target.driver is None or name not in SERVERS:
        yield (f"recordings of {name or 'a target given by URL'} are not on this machine or not configurable here",)
    else:
        yield name


@pytest.fixture
def recorder_factory(rec_kind: Any) -> Iterator[Callable[..., Recorder] | str]:
    if isinstance(rec_kind, tuple):
        yield rec_kind[0]
        return
    started: list[Recorder] = []
    work = Path(tempfile.mkdtemp(prefix="rtmpconf-rec-"))

    def make(**kw: Any) -> Recorder:
        r = start_recorder(rec_kind, work / f"r{len(started)}", **kw)
        started.append(r)
        return r

    yield make
    for r in started:
        with contextlib.suppress(Exception):
            r.driver.stop()
    import shutil

    shutil.rmtree(work, ignore_errors=True)


def factory_or_judge(rtmp: Any, factory: Any) -> Callable[..., Recorder] | None:
    if isinstance(factory, str):
        rtmp.judge(not_run(rtmp.rule, factory))
        return None
    return factory


async def files_of(directory: Path, name: str, count: int = 1, timeout: float = FILE_WAIT_S) -> list[Path]:
    """The recordings of ``name`` once ``count`` exist and their sizes stopped changing."""
    deadline = time.monotonic() + timeout
    last: dict[Path, int] = {}
    while time.monotonic() < deadline:
        found = sorted((p for p in directory.rglob("*.flv") if name in str(p)), key=lambda p: p.stat().st_mtime_ns)
        sizes = {p: p.stat().st_size for p in found}
        if len(found) >= count and sizes == last:
            return found
        last = sizes
        await asyncio.sleep(0.2)
    return sorted((p for p in directory.rglob("*.flv") if name in str(p)), key=lambda p: p.stat().st_mtime_ns)


def ffprobe_frames(path: Path) -> int | None:
    try:
        out = subprocess.run([require("ffprobe"), "-v", "error", "-count_frames", "-select_streams", "v:0",
                              "-show_entries", "stream=nb_read_frames", "-of", "json", str(path)],
                             capture_output=True, timeout=60)
        return int(json.loads(out.stdout or b"{}")["streams"][0]["nb_read_frames"])
    except (OSError, subprocess.SubprocessError, KeyError, IndexError, ValueError):
        return -1  # ffprobe could not read it: the checker reports the mismatch


def no_file(rtmp: Any, directory: Path) -> None:
    rtmp.judge(Finding(rtmp.rule, Verdict.FAIL, f"no recording appeared in {directory} within {FILE_WAIT_S:g} s"))


async def publish_and_end(rtmp: Any, rec: Recorder, name: str, stream: Any) -> None:
    async with rtmp.client(label="publisher", target=rec.target) as pub:
        await publish_stream(pub, name, stream=stream)
        await pub.probe()
        await pub.command("FCUnpublish", name)
        await pub.command("deleteStream", float(pub.stream_id or 1))
        await pub.probe()


# -- REC-1 / REC-2 ---------------------------------------------------------------------------------


@pytest.mark.rule("REC-1")
async def test_clean_unpublish_file_complete(rtmp, recorder_factory):
    """Publishes onMetaData, H.264/AAC sequence headers and 2 s of frames to an instance that records,
    then FCUnpublish + deleteStream; reads the recording and runs ffprobe -count_frames on it.

    Requirement (REC-1): "a valid FLV file ... that holds every published audio and video frame byte
    for byte, in order; ffprobe reads it and counts as many video frames as were published".
    """
    make = factory_or_judge(rtmp, recorder_factory)
    if make is None:
        return
    rec = make()
    name, stream = rtmp.stream_name(), make_h264_aac(seconds=2.0)
    await publish_and_end(rtmp, rec, name, stream)
    files = await files_of(rec.directory, name)
    if not files:
        return no_file(rtmp, rec.directory)
    rep = read_flv(files[-1].read_bytes())
    rtmp.judge(check_recording(rep, tags_with_headers(stream), rule="REC-1", ffprobe_video_frames=ffprobe_frames(files[-1])))


@pytest.mark.rule("REC-2")
async def test_metadata_totals_on_close(rtmp, recorder_factory):
    """As REC-1 (2 s of H.264/AAC, then unpublish); reads onMetaData of the closed file.

    Requirement (REC-2): onMetaData "carries `duration` (seconds, the time of its last frame) and
    `filesize` (bytes)".
    """
    make = factory_or_judge(rtmp, recorder_factory)
    if make is None:
        return
    rec = make()
    name, stream = rtmp.stream_name(), make_h264_aac(seconds=2.0)
    await publish_and_end(rtmp, rec, name, stream)
    files = await files_of(rec.directory, name)
    if not files:
        return no_file(rtmp, rec.directory)
    rtmp.judge(check_metadata_totals(read_flv(files[-1].read_bytes()), rule="REC-2"))


# -- REC-3 -----------------------------------------------------------------------------------------


@pytest.mark.rule("REC-3")
async def test_publisher_reset_file_valid(rtmp, recorder_factory):
    """Publishes 1 s of H.264/AAC, then the first 300 bytes of a keyframe message with 2000 extra
    bytes (so it spans chunks), then resets the TCP connection (RST).

    Requirement (REC-3): "the recording is closed as a valid FLV file holding every frame that
    arrived whole".
    """
    make = factory_or_judge(rtmp, recorder_factory)
    if make is None:
        return
    rec = make()
    name, stream = rtmp.stream_name(), make_h264_aac(seconds=1.0)
    key = next(t for t in reversed(stream.tags) if t.keyframe)
    async with rtmp.client(label="publisher (reset mid-chunk)", target=rec.target) as pub:
        await publish_stream(pub, name, stream=stream)
        await pub.probe()
        data = await pub.prepare(Video(key.payload + bytes(2000)), msid=pub.stream_id or 1, timestamp=key.timestamp + 40)
        await pub.send_raw(data[:300])  # the basic + message header and the start of the first chunk
        pub.abort()
    files = await files_of(rec.directory, name)
    if not files:
        return no_file(rtmp, rec.directory)
    rep = read_flv(files[-1].read_bytes())
    rtmp.judge(check_recording(rep, tags_with_headers(stream), rule="REC-3", ffprobe_video_frames=ffprobe_frames(files[-1])))


# -- REC-4 -----------------------------------------------------------------------------------------


@pytest.mark.rule("REC-4")
async def test_killed_server_file_readable(rtmp, recorder_factory):
    """Publishes 2 s of H.264/AAC to a dedicated recording instance; once the publisher's ping is
    answered, the instance is killed with SIGKILL; its file is read back.

    Requirement (REC-4): "the file on disk is valid FLV up to its last whole tag: at most the tag
    being written is lost".
    """
    make = factory_or_judge(rtmp, recorder_factory)
    if make is None:
        return
    rec = make()
    name, stream = rtmp.stream_name(), make_h264_aac(seconds=2.0)
    async with rtmp.client(label="publisher", target=rec.target) as pub:
        await publish_stream(pub, name, stream=stream)
        await pub.probe()
        pid = rec.pid()
        if pid is None:
            rtmp.judge(not_run("REC-4", "the instance's process id is unknown"))
            return
        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            rec.driver.proc.wait(5)
    files = await files_of(rec.directory, name, timeout=1.0)
    if not files:
        return no_file(rtmp, rec.directory)
    rep = read_flv(files[-1].read_bytes())
    rtmp.judge(check_recording(rep, tags_with_headers(stream), rule="REC-4", lost_tail_allowed=1,
                               ffprobe_video_frames=ffprobe_frames(files[-1]), what="the killed server's recording"))


# -- REC-5 -----------------------------------------------------------------------------------------


@pytest.mark.slow_case  # real-time media or a server timeout: scheduled first with -j
@pytest.mark.rule("REC-5")
async def test_rotated_files_start_at_keyframes(rtmp, recorder_factory, rec_kind):
    """An instance configured to start a new file every second records 3.2 s of H.264/AAC with a
    keyframe every 12 frames (0.48 s); every file is read back.

    Requirement (REC-5): each rotated file starts "with the sequence headers and a keyframe, and
    together the files hold every frame once".
    """
    make = factory_or_judge(rtmp, recorder_factory)
    if make is None:
        return
    if rec_kind == "node-media-server":
        rtmp.judge(Finding("REC-5", Verdict.UNIMPLEMENTED, "node-media-server 4 has no recording rotation setting"))
        return
    rec = make(rotate_s=1.0)
    name, stream = rtmp.stream_name(), make_h264_aac(seconds=3.2, gop=12)
    async with rtmp.client(label="publisher", target=rec.target) as pub:
        await publish_stream(pub, name, stream=stream, until_ms=0)
        await pub.publish_media(stream.tags, realtime=True)  # time-based rotation needs real time
        await pub.probe()
        await pub.command("deleteStream", float(pub.stream_id or 1))
        await pub.probe()
    files = await files_of(rec.directory, name, count=2)
    if not files:
        return no_file(rtmp, rec.directory)
    rtmp.judge(check_rotation([read_flv(p.read_bytes()) for p in files], tags_with_headers(stream), rule="REC-5"))
