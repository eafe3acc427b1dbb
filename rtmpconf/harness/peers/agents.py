"""Agents: the RTMP clients under test in client mode (``rtmpconf clients --agents ...``).

An agent is a program started once per case against the scripted test server, as a publisher or a
player: the real programs (ffmpeg, ffprobe, rtmpdump, VLC, PyAV, GStreamer's rtmp2sink/rtmp2src),
the simulated client profiles of ``harness/profiles`` (``sim-*``, run as a subprocess so they are
judged exactly like the programs they imitate), or any command line (``--agent-command``).

Every agent runs in its own process group under a deadline and is stopped by its PID: SIGINT first
(ffmpeg and rtmpdump close their files on it), SIGKILL to the group after a grace period. Its stdout
and stderr go to files in a per-run directory and are attached to the case. A player's output is
parsed into :class:`PlayerOutput` (frames it decoded or demuxed, with timestamps), so a case can
judge what reached the user and not only the wire.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rtmpconf.harness.peers import PeerMissing, require

PUBLISH = "publish"
PLAY = "play"
#: Seconds of media a real publisher sends (long enough for every publisher case, short for CI).
PUBLISH_SECONDS = 2.0
#: SIGINT to SIGKILL: how long a stopped agent may take to flush and exit.
STOP_GRACE_S = 2.0


@dataclass
class AgentOptions:
    """What a case asks of the agent beyond the URL."""

    #: Publisher: start the stream's timestamps at this many ms (None: the program's default, 0).
    ts_offset_ms: int | None = None
    #: Publisher: seconds of media to send.
    seconds: float = PUBLISH_SECONDS


@dataclass
class PlayerOutput:
    """What a player handed to its user: frames decoded (or demuxed into a file)."""

    video_frames: int = 0
    audio_frames: int = 0
    video_ts: list[int] = field(default_factory=list)  #: ms, as the program reported them
    first_video_keyframe: bool | None = None
    decoded: bool = True  #: frames were decoded (False: only demuxed, e.g. rtmpdump's FLV file)
    error: str | None = None


@dataclass
class AgentOutcome:
    """How an agent's run ended."""

    name: str
    pid: int | None
    returncode: int | None  #: None when it had to be killed
    killed: bool  #: still running at the deadline: stopped by signal
    signal_used: str | None  #: "SIGINT" or "SIGKILL" when the harness stopped it
    elapsed: float
    stdout_tail: str
    stderr_tail: str
    command: list[str]
    output: PlayerOutput | None = None  #: players only
    start_error: str | None = None  #: the program could not be started

    @property
    def exited_by_itself(self) -> bool:
        return not self.killed and self.returncode is not None


@dataclass(frozen=True)
class AgentSpec:
    """One kind of client program."""

    name: str
    role: str  #: PUBLISH or PLAY
    program: str  #: the executable that must be installed
    description: str
    build: Callable[[str, Path, AgentOptions], list[str]]  #: (url, workdir, options) -> argv
    parse: Callable[[Path, str], PlayerOutput] | None = None  #: (workdir, stdout) -> output, players
    imitates: tuple[str, ...] = ()  #: simulated profiles: the real agents they imitate
    as_nobody: bool = False  #: VLC refuses to run as root
    ts_offset: bool = False  #: the agent can start its timestamps at an offset (publishers)
    version_cmd: tuple[str, ...] = ()

    def version(self) -> str:
        if not self.version_cmd:
            return ""
        try:
            out = subprocess.run(list(self.version_cmd), capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return ""
        text = (out.stdout or out.stderr).strip().splitlines()
        return text[0][:200] if text else ""


# -- output parsers ------------------------------------------------------------------------------


def _parse_flv_file(work: Path, _stdout: str) -> PlayerOutput:
    from rtmpconf.harness.peers.players import summarize_flv

    path = work / "out.flv"
    data = path.read_bytes() if path.exists() else b""
    s = summarize_flv(data)
    return PlayerOutput(s.video, s.audio, list(s.video_timestamps), s.first_video_keyframe, decoded=False,
                        error=None if s.ok or not data else s.error)


_FRAMECRC_TYPE = re.compile(r"^#media_type (\d+): (\w+)", re.MULTILINE)
_FRAMECRC_TB = re.compile(r"^#tb (\d+): (\d+)/(\d+)", re.MULTILINE)


def _parse_framecrc(work: Path, stdout: str) -> PlayerOutput:
    # ffmpeg -f framecrc: "#tb N: num/den", "#media_type N: video", then one line per decoded
    # frame: "stream, dts, pts, duration, size, crc".
    kinds = {int(i): k for i, k in _FRAMECRC_TYPE.findall(stdout)}
    tbs = {int(i): (int(n), int(d)) for i, n, d in _FRAMECRC_TB.findall(stdout)}
    out = PlayerOutput()
    for line in stdout.splitlines():
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 3 or not parts[0].isdigit():
            continue
        idx = int(parts[0])
        if kinds.get(idx) == "video":
            out.video_frames += 1
            n, d = tbs.get(idx, (1, 1000))
            try:
                out.video_ts.append(int(int(parts[2]) * n * 1000 / d))
            except ValueError:
                pass
        elif kinds.get(idx) == "audio":
            out.audio_frames += 1
    return out


_PROBE_FRAME = re.compile(r'"media_type":\s*"(video|audio)"[^}]*?"key_frame":\s*(\d)(?:[^}]*?"pkt_dts_time":\s*"([-\d.]+)")?')


def _parse_ffprobe(work: Path, stdout: str) -> PlayerOutput:
    # ffprobe -show_frames JSON, read with a regex so a run stopped mid-output still counts.
    out = PlayerOutput()
    for kind, key, dts in _PROBE_FRAME.findall(stdout):
        if kind == "video":
            out.video_frames += 1
            if out.first_video_keyframe is None:
                out.first_video_keyframe = key == "1"
            if dts:
                out.video_ts.append(int(float(dts) * 1000))
        else:
            out.audio_frames += 1
    return out


def _parse_frame_lines(work: Path, stdout: str) -> PlayerOutput:
    # Our own players (PyAV, simulated profiles) print one line per frame: "v <ms> <key>" / "a <ms>",
    # and "error <text>" when they stop on an error.
    out = PlayerOutput()
    for line in stdout.splitlines():
        parts = line.split(" ", 2)
        if parts[0] == "v" and len(parts) >= 2:
            out.video_frames += 1
            out.video_ts.append(int(parts[1]))
            if out.first_video_keyframe is None and len(parts) > 2:
                out.first_video_keyframe = parts[2].strip() == "1"
        elif parts[0] == "a":
            out.audio_frames += 1
        elif parts[0] == "error":
            out.error = line[6:].strip()
        elif parts[0] == "demuxed":
            out.decoded = False
    return out


# -- real programs ---------------------------------------------------------------------------------

#: The lavfi source of the real publishers: 640x360@25 (keyframes span several 4096-byte chunks), x264 GOP 25, 44.1 kHz AAC.
_LAVFI = ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
_ENCODE = ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-b:a", "96k"]


def _ffmpeg_publish(url: str, work: Path, opts: AgentOptions) -> list[str]:
    cmd = [require("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "warning", "-re", *_LAVFI, *_ENCODE,
           "-t", f"{opts.seconds:g}"]
    if opts.ts_offset_ms:
        cmd += ["-output_ts_offset", f"{opts.ts_offset_ms / 1000:.3f}"]
    return cmd + ["-f", "flv", url]


def _ffmpeg_play(url: str, work: Path, opts: AgentOptions) -> list[str]:
    return [require("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", url, "-f", "framecrc", "-"]


def _ffprobe(url: str, work: Path, opts: AgentOptions) -> list[str]:
    return [require("ffprobe"), "-hide_banner", "-v", "error", "-print_format", "json",
            "-show_entries", "frame=media_type,key_frame,pkt_dts_time", "-show_frames", url]


def _rtmpdump(url: str, work: Path, opts: AgentOptions) -> list[str]:
    return [require("rtmpdump"), "--live", "--quiet", "-r", url, "-o", str(work / "out.flv")]


def _vlc(url: str, work: Path, opts: AgentOptions) -> list[str]:
    return [require("cvlc"), "-q", "--no-video-title-show", "--play-and-exit", "--network-caching=300", url,
            f"--sout=#std{{access=file,mux=flv,dst={work / 'out.flv'}}}", "vlc://quit"]


def _pyav(url: str, work: Path, opts: AgentOptions) -> list[str]:
    return [sys.executable, "-m", "rtmpconf.harness.peers.pyav_agent", url]


_GST_SRC_FLV: dict[str, Path] = {}


def _gst_source_flv(opts: AgentOptions) -> Path:
    """An H.264/AAC FLV file the GStreamer publisher remuxes (made once per process with ffmpeg)."""
    key = f"{opts.seconds:g}-{opts.ts_offset_ms or 0}"
    if key in _GST_SRC_FLV and _GST_SRC_FLV[key].exists():
        return _GST_SRC_FLV[key]
    path = Path(tempfile.mkdtemp(prefix="rtmpconf-gst-src-")) / "src.flv"
    cmd = [require("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", *_LAVFI, *_ENCODE,
           "-t", f"{opts.seconds:g}"]
    if opts.ts_offset_ms:
        cmd += ["-output_ts_offset", f"{opts.ts_offset_ms / 1000:.3f}"]
    subprocess.run(cmd + ["-f", "flv", "-y", str(path)], check=True, timeout=60, capture_output=True)
    _GST_SRC_FLV[key] = path
    return path


def _gst_publish(url: str, work: Path, opts: AgentOptions) -> list[str]:
    src = _gst_source_flv(opts)
    # flvdemux -> parsers -> flvmux -> rtmp2sink: GStreamer's own RTMP client (gst-plugins-bad,
    # independent of FFmpeg and librtmp); the sink syncs to the clock, so media goes out in real time.
    pipeline = (f"filesrc location={src} ! flvdemux name=d  flvmux name=m streamable=true ! "
                f"rtmp2sink location={url}  d.video ! queue ! h264parse ! m.  d.audio ! queue ! aacparse ! m.")
    return [require("gst-launch-1.0"), "-q", "-e", *shlex.split(pipeline)]


def _gst_play(url: str, work: Path, opts: AgentOptions) -> list[str]:
    pipeline = f"rtmp2src location={url} ! filesink location={work / 'out.flv'}"
    return [require("gst-launch-1.0"), "-q", "-e", *shlex.split(pipeline)]


def _simulated(profile: str, role: str) -> Callable[[str, Path, AgentOptions], list[str]]:
    def build(url: str, work: Path, opts: AgentOptions) -> list[str]:
        cmd = [sys.executable, "-m", "rtmpconf.harness.peers.simulated", "--profile", profile, "--role", role,
               "--seconds", f"{opts.seconds:g}"]
        if opts.ts_offset_ms:
            cmd += ["--ts-offset-ms", str(opts.ts_offset_ms)]
        return cmd + [url]
    return build


_FFMPEG_V = ("ffmpeg", "-hide_banner", "-version")

AGENTS: dict[str, AgentSpec] = {a.name: a for a in (
    AgentSpec("ffmpeg-publish", PUBLISH, "ffmpeg", "ffmpeg -re (lavfi, x264 + AAC) -f flv rtmp://...",
              _ffmpeg_publish, ts_offset=True, version_cmd=_FFMPEG_V),
    AgentSpec("ffmpeg-play", PLAY, "ffmpeg", "ffmpeg -i rtmp://... -f framecrc - (decodes every frame)",
              _ffmpeg_play, _parse_framecrc, version_cmd=_FFMPEG_V),
    AgentSpec("ffprobe", PLAY, "ffprobe", "ffprobe -show_frames rtmp://... (decodes every frame)",
              _ffprobe, _parse_ffprobe, version_cmd=("ffprobe", "-hide_banner", "-version")),
    AgentSpec("rtmpdump", PLAY, "rtmpdump", "rtmpdump --live -r rtmp://... -o out.flv (librtmp)",
              _rtmpdump, _parse_flv_file, version_cmd=("rtmpdump", "--help")),
    AgentSpec("vlc", PLAY, "cvlc", "cvlc rtmp://... --sout file/flv (VLC 3, as user nobody)",
              _vlc, _parse_flv_file, as_nobody=True, version_cmd=("cvlc", "--version")),
    AgentSpec("pyav", PLAY, sys.executable, "PyAV av.open(rtmp://...) decoding every frame (FFmpeg inside PyAV)",
              _pyav, _parse_frame_lines),
    AgentSpec("gstreamer-publish", PUBLISH, "gst-launch-1.0", "gst-launch-1.0 ... flvmux ! rtmp2sink (gst-plugins-bad)",
              # flvmux stamps buffers with running time: a start offset in the source does not reach the wire.
              _gst_publish, version_cmd=("gst-launch-1.0", "--version")),
    AgentSpec("gstreamer-play", PLAY, "gst-launch-1.0", "gst-launch-1.0 rtmp2src ! filesink (gst-plugins-bad)",
              _gst_play, _parse_flv_file, version_cmd=("gst-launch-1.0", "--version")),
    # The simulated profiles (harness/profiles) as agents: a self-check against the real programs.
    AgentSpec("sim-ffmpeg-publish", PUBLISH, sys.executable, "simulated FFmpeg publisher profile",
              _simulated("ffmpeg", PUBLISH), imitates=("ffmpeg-publish",), ts_offset=True),
    AgentSpec("sim-ffmpeg-play", PLAY, sys.executable, "simulated FFmpeg player profile (ffprobe, ffmpeg -i)",
              _simulated("ffmpeg", PLAY), _parse_frame_lines, imitates=("ffprobe", "ffmpeg-play", "pyav")),
    AgentSpec("sim-vlc", PLAY, sys.executable, "simulated VLC player profile", _simulated("vlc", PLAY),
              _parse_frame_lines, imitates=("vlc",)),
    AgentSpec("sim-rtmpdump", PLAY, sys.executable, "simulated rtmpdump (librtmp) player profile",
              _simulated("rtmpdump", PLAY), _parse_frame_lines, imitates=("rtmpdump",)),
    AgentSpec("sim-obs", PUBLISH, sys.executable, "simulated OBS publisher (librtmp after obs-studio PR #10097)",
              _simulated("obs", PUBLISH), ts_offset=True),
    AgentSpec("sim-obs-legacy", PUBLISH, sys.executable, "simulated OBS publisher before PR #10097 (no fmt-3 ext ts)",
              _simulated("obs-legacy", PUBLISH), ts_offset=True),
    AgentSpec("sim-flash-publish", PUBLISH, sys.executable, "simulated Flash Player publisher (objectEncoding 3)",
              _simulated("flash", PUBLISH), ts_offset=True),
    AgentSpec("sim-flash-play", PLAY, sys.executable, "simulated Flash Player player (objectEncoding 3)",
              _simulated("flash", PLAY), _parse_frame_lines),
)}

#: The agents the issue's matrix covers (``rtmpconf clients`` without --agents, and CI).
REAL_AGENTS = ("ffmpeg-publish", "ffmpeg-play", "ffprobe", "rtmpdump", "vlc", "pyav", "gstreamer-publish",
               "gstreamer-play")
SIMULATED_AGENTS = tuple(n for n in AGENTS if n.startswith("sim-"))


def command_agent(name: str, role: str, template: str) -> AgentSpec:
    """An agent from a command line; ``{url}`` is replaced by the case's rtmp:// URL, ``{dir}`` by a
    scratch directory (a player that writes ``{dir}/out.flv`` is judged on that file), ``{ts_offset_ms}`` by
    the first timestamp a publisher case asks for (0 for most cases)."""
    if role not in (PUBLISH, PLAY):
        raise ValueError(f"agent role must be {PUBLISH} or {PLAY}, not {role!r}")
    if "{url}" not in template:
        raise ValueError("the agent command must contain {url}")
    argv = shlex.split(template)

    def build(url: str, work: Path, opts: AgentOptions) -> list[str]:
        offset = str(opts.ts_offset_ms or 0)
        return [a.replace("{url}", url).replace("{dir}", str(work)).replace("{ts_offset_ms}", offset) for a in argv]

    def parse(work: Path, stdout: str) -> PlayerOutput:
        if (work / "out.flv").exists():
            return _parse_flv_file(work, stdout)
        return _parse_frame_lines(work, stdout)

    return AgentSpec(name, role, argv[0], f"command: {template}", build, parse if role == PLAY else None,
                     ts_offset="{ts_offset_ms}" in template)


def get_agent(name: str) -> AgentSpec:
    try:
        return AGENTS[name]
    except KeyError:
        raise ValueError(f"unknown agent {name!r}; choose from {', '.join(AGENTS)}") from None


def missing_program(spec: AgentSpec) -> str | None:
    """Why ``spec`` cannot run here, or None."""
    try:
        require(spec.program) if not os.path.isabs(spec.program) else None
    except PeerMissing as exc:
        return str(exc)
    if spec.name.startswith("gstreamer") and shutil.which("gst-inspect-1.0"):
        probe = subprocess.run(["gst-inspect-1.0", "rtmp2sink" if spec.role == PUBLISH else "rtmp2src"],
                               capture_output=True, timeout=30)
        if probe.returncode != 0:
            return "GStreamer's rtmp2 elements are missing (apt-get install gstreamer1.0-plugins-bad)"
    if spec.name == "pyav":
        try:
            import av  # noqa: F401
        except ImportError:
            return "PyAV is not installed (pip install av)"
    return None


# -- running one agent -------------------------------------------------------------------------------


class AgentRun:
    """One started agent process (its own process group), stopped by PID."""

    def __init__(self, spec: AgentSpec, url: str, options: AgentOptions | None = None,
                 workdir: Path | None = None) -> None:
        self.spec = spec
        self.url = url
        self.options = options or AgentOptions()
        self.work = workdir or Path(tempfile.mkdtemp(prefix=f"rtmpconf-agent-{spec.name}-"))
        self.command: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self.pid: int | None = None
        self.started = 0.0
        self.killed = False
        self.signal_used: str | None = None
        self.start_error: str | None = None
        self._outcome: AgentOutcome | None = None

    async def start(self) -> AgentRun:
        try:
            self.command = self.spec.build(self.url, self.work, self.options)
        except (PeerMissing, subprocess.SubprocessError, OSError) as exc:
            self.start_error = f"{type(exc).__name__}: {exc}"
            return self
        cmd = list(self.command)
        env = {**os.environ, "HOME": str(self.work), "PYTHONUNBUFFERED": "1"}
        if self.spec.as_nobody and os.geteuid() == 0:
            os.chmod(self.work, 0o777)
            runuser = shutil.which("runuser")
            if runuser is None:
                self.start_error = f"{self.spec.name} refuses to run as root and runuser is missing"
                return self
            cmd = [runuser, "-u", "nobody", "--", *cmd]
        self.started = time.monotonic()
        # Output goes to files (no pipe to drain, nothing lost when the agent is killed); the child
        # keeps its own descriptors, ours are closed once it started.
        with open(self.work / "stdout.txt", "wb") as out, open(self.work / "stderr.txt", "wb") as err:
            try:
                self.proc = await asyncio.create_subprocess_exec(
                    *cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=self.work, env=env,
                    start_new_session=True)
            except OSError as exc:
                self.start_error = f"cannot start {cmd[0]}: {exc}"
                return self
        self.pid = self.proc.pid
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def wait(self, timeout: float) -> bool:
        """True if the agent exited by itself within ``timeout`` s."""
        if self.proc is None:
            return True
        try:
            await asyncio.wait_for(self.proc.wait(), max(0.0, timeout))
        except TimeoutError:
            return False
        return True

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.pid is None:
            return
        try:
            # The agent leads its own session (start_new_session): its PID is the group id, so the
            # signal reaches runuser's child and anything the program forked, and nothing else.
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass

    async def stop(self, grace: float = STOP_GRACE_S) -> AgentOutcome:
        """SIGINT, then SIGKILL to its process group after ``grace`` s; collect its output."""
        if self._outcome is not None:
            return self._outcome
        if self.running:
            self.killed = True
            self.signal_used = "SIGINT"
            self._signal_group(signal.SIGINT)
            if not await self.wait(grace):
                self.signal_used = "SIGKILL"
                self._signal_group(signal.SIGKILL)
                await self.wait(5.0)
        elif self.pid is not None:
            # Exited by itself; make sure nothing it forked lingers.
            self._signal_group(signal.SIGKILL)
        self._outcome = self._collect()
        return self._outcome

    def _collect(self) -> AgentOutcome:
        def tail(name: str, limit: int) -> str:
            p = self.work / name
            if not p.exists():
                return ""
            data = p.read_bytes()
            return data[-limit:].decode(errors="replace")

        stdout_full = tail("stdout.txt", 8 * 1024 * 1024)
        output = None
        if self.spec.parse is not None and self.start_error is None:
            try:
                output = self.spec.parse(self.work, stdout_full)
            except Exception as exc:  # noqa: BLE001 - a parser bug is reported, not raised
                output = PlayerOutput(error=f"harness could not read the player's output: {exc}")
        rc = self.proc.returncode if self.proc is not None else None
        return AgentOutcome(self.spec.name, self.pid, rc, self.killed, self.signal_used,
                            time.monotonic() - self.started if self.started else 0.0, stdout_full[-4000:],
                            tail("stderr.txt", 16000), self.command, output, self.start_error)

    def cleanup(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def describe_outcome(o: AgentOutcome) -> str:
    """Several lines for the report: command, PID, how it ended, what a player produced, stderr."""
    lines = [f"agent {o.name} pid {o.pid}", f"command: {shlex.join(o.command) if o.command else '(none)'}"]
    if o.start_error:
        lines.append(f"could not start: {o.start_error}")
    elif o.killed:
        lines.append(f"still running when the case ended: stopped with {o.signal_used} after {o.elapsed:.1f} s"
                     f" (exit status {o.returncode})")
    else:
        lines.append(f"exited by itself with status {o.returncode} after {o.elapsed:.1f} s")
    if o.output is not None:
        out = o.output
        lines.append(f"player output: {out.video_frames} video / {out.audio_frames} audio frames "
                     f"({'decoded' if out.decoded else 'demuxed'})" + (f", error: {out.error}" if out.error else ""))
    lines.append("--- stderr (tail) ---")
    lines.append(o.stderr_tail or "(empty)")
    if o.stdout_tail and o.output is None:
        lines += ["--- stdout (tail) ---", o.stdout_tail]
    return "\n".join(lines)


def outcome_json(o: AgentOutcome) -> str:
    return json.dumps({"name": o.name, "pid": o.pid, "returncode": o.returncode, "killed": o.killed,
                       "elapsed": round(o.elapsed, 3)})
