"""rtmpdump and VLC as real players, with deadlines; their output is checked as FLV / by ffprobe."""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rtmpconf.harness.peers import require


@dataclass(frozen=True)
class FlvSummary:
    """What an FLV file holds, read with a tiny tag walker (no third-party parser)."""

    ok: bool
    tags: int
    video: int
    audio: int
    first_video_keyframe: bool | None
    video_timestamps: tuple[int, ...]
    error: str | None = None


def summarize_flv(data: bytes) -> FlvSummary:
    # FLV v10.1 §E.2/E.3: 9-byte header ("FLV", version, flags, header size), then
    # PreviousTagSize0 and tags of 11-byte headers + body + 4-byte back pointer.
    if len(data) < 13 or data[:3] != b"FLV":
        return FlvSummary(False, 0, 0, 0, None, (), "not an FLV file")
    pos = struct.unpack_from(">I", data, 5)[0] + 4
    tags = video = audio = 0
    first_key: bool | None = None
    stamps: list[int] = []
    while pos + 11 <= len(data):
        tag_type = data[pos] & 0x1F
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        ts = int.from_bytes(data[pos + 4:pos + 7], "big") | (data[pos + 7] << 24)
        body = data[pos + 11:pos + 11 + size]
        if len(body) < size:
            break
        tags += 1
        if tag_type == 9 and body:
            from rtmpconf.rtmp import media

            if not media.is_video_sequence_header(body):
                video += 1
                stamps.append(ts)
                if first_key is None:
                    first_key = media.is_video_keyframe(body)
        elif tag_type == 8:
            audio += 1
        pos += 11 + size + 4
    return FlvSummary(True, tags, video, audio, first_key, tuple(stamps))


@dataclass
class PlayResult:
    returncode: int | None
    stderr: str
    flv: FlvSummary
    elapsed: float


def rtmpdump_play(url: str, seconds: float = 3.0, timeout: float = 20.0) -> PlayResult:
    """``rtmpdump --live -r URL -o file.flv`` for ``seconds``, then SIGINT (it closes the file).

    rtmpdump's own ``--stop`` counts stream time, which a live stream joined mid-way does not
    start at 0, so the run is bounded by wall time instead.
    """
    rtmpdump = require("rtmpdump")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.flv"
        t0 = time.monotonic()
        proc = subprocess.Popen([rtmpdump, "--live", "--quiet", "--timeout", "10", "-r", url, "-o", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            proc.wait(seconds)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
        try:
            _, err_b = proc.communicate(timeout=max(1.0, timeout - seconds))
            rc, err = proc.returncode, err_b.decode(errors="replace")
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            rc, err = None, f"rtmpdump did not stop within {timeout:g} s"
        data = out.read_bytes() if out.exists() else b""
    return PlayResult(rc, err, summarize_flv(data), time.monotonic() - t0)


def vlc_play(url: str, seconds: float = 3.0, timeout: float = 30.0, extra: list[str] | None = None) -> PlayResult:
    """``cvlc`` (as the unprivileged user nobody: VLC refuses root) remuxing to an FLV file;
    ``extra`` options go before the URL (e.g. ``--rtsp-tcp``)."""
    cvlc = require("cvlc")
    tmp = tempfile.mkdtemp(prefix="rtmpconf-vlc-")
    os.chmod(tmp, 0o777)
    out = Path(tmp) / "out.flv"
    cmd = [cvlc, "-q", "--no-video-title-show", "--play-and-exit", f"--run-time={seconds:g}", *(extra or []), url,
           f"--sout=#std{{access=file,mux=flv,dst={out}}}", "vlc://quit"]
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            raise RuntimeError("VLC refuses to run as root and runuser is not available")
        cmd = [runuser, "-u", "nobody", "--", *cmd]
    t0 = time.monotonic()
    env = {**os.environ, "HOME": tmp}
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, cwd=tmp, env=env)
        rc, err = proc.returncode, proc.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired as exc:
        rc, err = None, f"VLC did not finish within {timeout:g} s: {exc}"
    data = out.read_bytes() if out.exists() else b""
    shutil.rmtree(tmp, ignore_errors=True)
    return PlayResult(rc, err[-3000:], summarize_flv(data), time.monotonic() - t0)
