"""Debian ffmpeg / ffprobe as real publishers and players, with deadlines."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from rtmpconf.harness.peers import require

#: The lavfi publish command of the Foundation issue (426x240@25, 48 kHz sine, x264 GOP 50).
LAVFI_INPUTS = ["-f", "lavfi", "-i", "testsrc2=size=426x240:rate=25", "-f", "lavfi", "-i", "sine=sample_rate=48000"]
X264_AAC = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-c:a", "aac"]


@dataclass
class FfmpegPublisher:
    """``ffmpeg -re -f lavfi ... -f flv rtmp://...`` running in the background."""

    url: str
    seconds: float | None = None
    extra_output: list[str] = field(default_factory=list)
    realtime: bool = True
    proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        cmd = [require("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "warning"]
        if self.realtime:
            cmd.append("-re")
        cmd += LAVFI_INPUTS + X264_AAC + self.extra_output
        if self.seconds is not None:
            cmd += ["-t", f"{self.seconds:g}"]
        return cmd + ["-f", "flv", self.url]

    def start(self) -> FfmpegPublisher:
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        return self

    def wait(self, timeout: float) -> tuple[int, str]:
        assert self.proc is not None
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise
        return self.proc.returncode, err.decode(errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self) -> FfmpegPublisher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class ProbeResult:
    codecs: dict[str, str]  #: codec_type -> codec_name
    elapsed: float  #: seconds from start to exit
    returncode: int
    stderr: str
    raw: dict[str, Any]


def ffprobe(url: str, timeout: float = 10.0, extra: list[str] | None = None) -> ProbeResult:
    """Run ffprobe on ``url`` (hard deadline) and return the streams it reports."""
    cmd = [require("ffprobe"), "-hide_banner", "-v", "error", "-print_format", "json", "-show_streams",
           *(extra or []), url]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
    elapsed = time.monotonic() - start
    data: dict[str, Any] = {}
    try:
        data = json.loads(proc.stdout or b"{}")
    except json.JSONDecodeError:
        pass
    codecs = {s.get("codec_type", "?"): s.get("codec_name", "?") for s in data.get("streams", [])}
    return ProbeResult(codecs, elapsed, proc.returncode, proc.stderr.decode(errors="replace"), data)
