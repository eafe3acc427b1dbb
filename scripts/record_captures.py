#!/usr/bin/env python3
"""Re-record the capture corpus (captures/*.pcapng) with a real tshark capture on loopback.

Each recording starts a server (reference, nginx-rtmp or node-media-server) on a free port,
starts ``tshark -i lo -f "tcp port N" -w FILE`` with a hard deadline, waits until tshark says it
is capturing, then runs the real programs (ffmpeg publishing, a real player joining), stops
tshark and finally writes captures/manifest.toml with the program versions, command lines and
the facts ``rtmpconf analyze`` finds in each file.

    python scripts/record_captures.py                 # every recording + manifest
    python scripts/record_captures.py --only NAME     # one recording (+ manifest)
    python scripts/record_captures.py --manifest-only # re-analyse the existing files
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rtmpconf.harness.peers import require
from rtmpconf.harness.peers.ffmpeg import ffprobe
from rtmpconf.harness.peers.players import rtmpdump_play, vlc_play
from rtmpconf.harness.peers.servers import NginxRtmp, NodeMediaServer, free_port, stop_process

CAPTURES = ROOT / "captures"
MANIFEST = CAPTURES / "manifest.toml"
#: tshark's own stop condition: no recording may run longer than this (seconds).
TSHARK_DEADLINE_S = 40
#: How long to wait for tshark to report that it is capturing.
TSHARK_START_S = 15.0
#: Each corpus file must stay small (issue #5: <= 3 MB each).
MAX_FILE_BYTES = 3 * 1024 * 1024

SMALL_VIDEO = ["-f", "lavfi", "-i", "testsrc2=size=426x240:rate=25"]
SINE_48K = ["-f", "lavfi", "-i", "sine=sample_rate=48000"]
X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "50"]


@dataclass
class Recording:
    """One corpus file: a server, a real publisher and (optionally) a real player."""

    name: str  #: file stem
    server: str  #: reference | nginx-rtmp | node-media-server
    rule: str  #: catalogue rule the capture exercises (its replay case is tied to it)
    level: str  #: that rule's level
    section: str  #: spec section of the rule
    description: str
    publish_seconds: float = 4.0
    inputs: list[str] = field(default_factory=lambda: SMALL_VIDEO + SINE_48K)
    output: list[str] = field(default_factory=lambda: X264 + ["-c:a", "aac"])
    player: str | None = "ffprobe"  #: ffprobe | ffmpeg | rtmpdump | vlc | None
    player_delay: float = 2.2  #: seconds after the publisher starts (past the first GOP)
    player_seconds: float = 1.5


RECORDINGS = [
    Recording("reference-ffmpeg-publish-ffprobe-play", "reference", "CMD-12", "CONV", "7.2.2.6",
              "ffmpeg publishes H.264/AAC (FMLE command order); ffprobe plays mid-GOP"),
    Recording("reference-ffmpeg-play", "reference", "CMD-16", "CONV", "7.2.2.1",
              "ffmpeg publishes; a second ffmpeg plays the stream and remuxes to null", player="ffmpeg"),
    Recording("reference-rtmpdump-play", "reference", "GOP-1", "CONV", "7.2.2.1",
              "ffmpeg publishes; rtmpdump (librtmp) plays a live stream", player="rtmpdump"),
    Recording("reference-vlc-play", "reference", "GOP-1", "CONV", "7.2.2.1",
              "ffmpeg publishes; VLC (librtmp-free access module) plays", player="vlc",
              player_seconds=2.0, publish_seconds=5.0),
    Recording("nginx-ffmpeg-publish-play", "nginx-rtmp", "CMD-4", "CONV", "7.2.1.1",
              "ffmpeg publishes to nginx-rtmp; ffmpeg plays (nginx reply order, chunk size 4096; "
              "nginx keeps no GOP cache, so the player joins before the second keyframe)",
              player="ffmpeg", player_delay=1.0),
    Recording("nms-ffmpeg-publish-ffprobe-play", "node-media-server", "CH-17", "CONV", "5.4.1",
              "ffmpeg publishes to node-media-server 4 (announces chunk size 65535); ffprobe plays"),
    Recording("reference-ts-boundary", "reference", "TS-6", "MUST", "5.3.1.3",
              "ffmpeg -output_ts_offset 16776: media crosses 0xFFFFFF ms (extended timestamps, "
              "fmt-3 continuation chunks with the 4-byte field); ffprobe joins after the boundary",
              publish_seconds=3.5, output=X264 + ["-c:a", "aac", "-output_ts_offset", "16776"]),
    Recording("reference-bframes-44k", "reference", "TS-14", "MUST", "FLV E.4.3.1",
              "x264 with -bf 2 (non-zero and negative composition times) and 44.1 kHz AAC",
              inputs=SMALL_VIDEO + ["-f", "lavfi", "-i", "sine=sample_rate=44100"],
              output=["-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "50",
                      "-c:a", "aac", "-ar", "44100"]),
    Recording("reference-large-interleaved", "reference", "CH-13", "MUST", "5.3",
              "720p keyframes of ~100 KB every 10 frames at chunk size 4096 (ffmpeg echoes the "
              "server's size), small AAC messages interleaved between their chunks",
              publish_seconds=2.0, player=None,
              inputs=["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25"] + SINE_48K,
              output=["-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-c:a", "aac"]),
]


# -- servers -----------------------------------------------------------------------------------


class ReferenceOnPort:
    """``python -m rtmpconf.reference_server --port N`` (the harness's own driver picks port 0)."""

    name = "reference"

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "rtmpconf.reference_server", "--port", str(self.port),
                                      "--log-level", "WARNING"], cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, 15.0)

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGINT)


def _wait_port(port: int, timeout: float) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:g} s")


def start_server(kind: str, port: int) -> Callable[[], None]:
    """Start ``kind`` on ``port``; returns its stop function.

    The reference server is probed with a TCP connect *before* tshark starts, so that probe
    never shows up in the capture (nginx/NMS drivers probe the same way).
    """
    if kind == "reference":
        ref = ReferenceOnPort(port)
        ref.start()
        return ref.stop
    if kind == "nginx-rtmp":
        ng = NginxRtmp(port=port)
        ng.start()
        return ng.stop
    if kind == "node-media-server":
        nms = NodeMediaServer(port=port)
        nms.start()
        return nms.stop
    raise ValueError(kind)


# -- tshark ------------------------------------------------------------------------------------


class Tshark:
    """``tshark -i lo -f "tcp port N" -w FILE`` with a duration deadline of its own."""

    def __init__(self, port: int, out: Path) -> None:
        self.cmd = [require("tshark"), "-i", "lo", "-f", f"tcp port {port}", "-w", str(out),
                    "-a", f"duration:{TSHARK_DEADLINE_S}", "-q"]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = Path(self.cmd[self.cmd.index("-w") + 1])
        out.unlink(missing_ok=True)
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert self.proc.stderr is not None
        seen = b""
        deadline = time.monotonic() + TSHARK_START_S
        fd = self.proc.stderr.fileno()
        os.set_blocking(fd, False)
        while time.monotonic() < deadline:
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                chunk = b""
            seen += chunk or b""
            # dumpcap prints this once the capture filter is compiled and the socket is open.
            if b"Capturing on" in seen:
                time.sleep(0.5)  # the ring buffer is live a moment after the message
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"tshark did not start capturing: {seen.decode(errors='replace')[-1000:]}")

    def stop(self) -> None:
        time.sleep(0.5)  # let the last FIN/ACK segments reach the capture
        stop_process(self.proc, signal.SIGINT)


# -- programs ----------------------------------------------------------------------------------


def publisher_command(rec: Recording, url: str) -> list[str]:
    return [require("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-re", *rec.inputs,
            *rec.output, "-t", f"{rec.publish_seconds:g}", "-f", "flv", url]


def player_command(rec: Recording, url: str) -> list[str]:
    """The player's command line as run (for the manifest)."""
    if rec.player == "ffprobe":
        return ["ffprobe", "-hide_banner", "-v", "error", "-print_format", "json", "-show_streams", url]
    if rec.player == "ffmpeg":
        return ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-i", url,
                "-t", f"{rec.player_seconds:g}", "-c", "copy", "-f", "null", "-"]
    if rec.player == "rtmpdump":
        return ["rtmpdump", "--live", "--quiet", "--timeout", "10", "-r", url, "-o", "out.flv"]
    if rec.player == "vlc":
        return ["cvlc", "-q", "--no-video-title-show", "--play-and-exit", f"--run-time={rec.player_seconds:g}",
                url, "--sout=#std{access=file,mux=flv,dst=out.flv}", "vlc://quit"]
    return []


def run_player(rec: Recording, url: str) -> str:
    if rec.player == "ffprobe":
        res = ffprobe(url, timeout=15)
        return f"ffprobe rc={res.returncode} codecs={res.codecs}"
    if rec.player == "ffmpeg":
        proc = subprocess.run(player_command(rec, url), check=False, capture_output=True, timeout=20)
        return f"ffmpeg rc={proc.returncode}"
    if rec.player == "rtmpdump":
        r = rtmpdump_play(url, seconds=rec.player_seconds)
        return f"rtmpdump rc={r.returncode} video={r.flv.video} first_key={r.flv.first_video_keyframe}"
    if rec.player == "vlc":
        r = vlc_play(url, seconds=rec.player_seconds)
        return f"vlc rc={r.returncode} video={r.flv.video}"
    return "no player"


def record(rec: Recording) -> dict[str, Any]:
    """Run one recording; returns what the manifest needs besides the analysis."""
    port = free_port()
    out = CAPTURES / f"{rec.name}.pcapng"
    stop_server = start_server(rec.server, port)
    tshark = Tshark(port, out)
    url = f"rtmp://127.0.0.1:{port}/live/{rec.name.split('-')[0]}cap"
    pub_cmd = publisher_command(rec, url)
    player_note = ""
    try:
        tshark.start()
        pub = subprocess.Popen(pub_cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
        result: dict[str, str] = {}
        thread = None
        if rec.player:
            def play() -> None:
                time.sleep(rec.player_delay)
                result["player"] = run_player(rec, url)
            thread = threading.Thread(target=play, daemon=True)
            thread.start()
        try:
            _, err = pub.communicate(timeout=rec.publish_seconds + 20)
        except subprocess.TimeoutExpired:
            pub.kill()
            _, err = pub.communicate()
        if thread is not None:
            thread.join(30)
        player_note = result.get("player", "")
        if pub.returncode != 0:
            print(f"  publisher exited {pub.returncode}: {err.decode(errors='replace')[-500:]}", file=sys.stderr)
    finally:
        tshark.stop()
        stop_server()
    size = out.stat().st_size
    print(f"  {out.name}: {size} bytes; {player_note}", file=sys.stderr)
    if size > MAX_FILE_BYTES:
        raise RuntimeError(f"{out.name} is {size} bytes, over the {MAX_FILE_BYTES}-byte budget")
    return {"port": port, "url": url, "publisher": pub_cmd, "player": player_command(rec, url),
            "player_result": player_note}


# -- versions and manifest ---------------------------------------------------------------------


def _first_line(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc})"
    text = (proc.stdout or "") + (proc.stderr or "")
    for line in text.splitlines():
        if line.strip() and "root" not in line:
            return line.strip()
    return "unknown"


def versions() -> dict[str, str]:
    nms_pkg = ROOT / ".tools" / "node_modules" / "node-media-server" / "package.json"
    nms = "unknown"
    if nms_pkg.exists():
        import json
        nms = "node-media-server " + json.loads(nms_pkg.read_text()).get("version", "?")
    git = _first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    return {
        "ffmpeg": _first_line(["ffmpeg", "-version"]),
        "ffprobe": _first_line(["ffprobe", "-version"]),
        "rtmpdump": _first_line(["rtmpdump", "-h"]),
        "vlc": _first_line(["runuser", "-u", "nobody", "--", "cvlc", "--version"]),
        "nginx-rtmp": _first_line(["nginx", "-v"]) + " + libnginx-mod-rtmp (Debian 12)",
        "node-media-server": nms,
        "reference": f"rtmp-conformance reference_server (git {git})",
        "tshark": _first_line(["tshark", "--version"]),
    }


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if value is None:
        return '""'
    raise TypeError(type(value))


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else _toml_str(key)


def facts_of(path: Path) -> dict[str, Any]:
    """Key facts of one capture, from our own analyzer."""
    from rtmpconf.harness.capture.analyze import analyze_file

    report = analyze_file(path)
    conns = []
    for c in report.connections:
        entry: dict[str, Any] = {"client": c.client, "server": c.server, "role": c.role}
        for d in ("c2s", "s2c"):
            side = c.directions[d]
            entry[f"{d}_messages_by_type"] = {str(k): v for k, v in sorted(side.messages_by_type.items())}
            entry[f"{d}_commands"] = side.commands
            entry[f"{d}_chunk_sizes"] = side.chunk_sizes_announced
            entry[f"{d}_keyframes"] = side.keyframes
            ext = {str(k): v for k, v in sorted(side.extended_timestamps.items())}
            if ext:
                entry[f"{d}_extended_timestamps"] = ext
                entry[f"{d}_ext_ts_dialect"] = side.ext_ts_dialect
        conns.append(entry)
    return {"packets": report.packets, "rtmp_sessions": len(report.connections), "connections": conns}


def write_manifest(runs: dict[str, dict[str, Any]]) -> None:
    import tomllib

    old: dict[str, Any] = {}
    if MANIFEST.exists():
        old = tomllib.loads(MANIFEST.read_text())
    vers = versions()
    # [versions]: the programs on the machine that last ran this script; each capture keeps the
    # versions it was recorded with.
    lines = [
        "# Capture corpus: real programs on loopback, recorded by scripts/record_captures.py with",
        "# `tshark -i lo -f \"tcp port N\" -w FILE`. Facts below come from `rtmpconf analyze`.",
        "# rule/level/section: the catalogue rule the capture exercises (cases/test_replay.py).",
        "",
        "[versions]",
        *(f"{_toml_key(k)} = {_toml_str(v)}" for k, v in vers.items()),
        "",
    ]
    for rec in RECORDINGS:
        path = CAPTURES / f"{rec.name}.pcapng"
        if not path.exists():
            continue
        prev = next((c for c in old.get("capture", []) if c.get("file") == path.name), {})
        run = runs.get(rec.name)
        programs = ["ffmpeg"] + ([rec.player] if rec.player else [])
        if run is not None:  # recorded now: today's versions and command lines
            server_version = vers.get(rec.server, "")
            program_versions = [vers.get(p, "") for p in programs]
            port = run["port"]
            pub_cmd, play_cmd = shlex.join(run["publisher"]), shlex.join(run["player"]) if run["player"] else ""
        else:  # kept from the previous manifest: the facts of when the file was recorded
            server_version = prev.get("server_version", vers.get(rec.server, ""))
            program_versions = prev.get("program_versions", [vers.get(p, "") for p in programs])
            port = prev.get("port", 0)
            pub_cmd, play_cmd = prev.get("publisher_command", ""), prev.get("player_command", "")
        lines += [
            "[[capture]]",
            f"file = {_toml_str(path.name)}",
            f"bytes = {path.stat().st_size}",
            f"server = {_toml_str(rec.server)}",
            f"server_version = {_toml_str(server_version)}",
            f"programs = {_toml_value(programs)}",
            f"program_versions = {_toml_value(program_versions)}",
            f"rule = {_toml_str(rec.rule)}",
            f"level = {_toml_str(rec.level)}",
            f"section = {_toml_str(rec.section)}",
            f"description = {_toml_str(rec.description)}",
            f"port = {port}",
            f"publisher_command = {_toml_str(pub_cmd)}",
            f"player_command = {_toml_str(play_cmd)}",
        ]
        facts = facts_of(path)
        lines.append(f"packets = {facts['packets']}")
        lines.append(f"rtmp_sessions = {facts['rtmp_sessions']}")
        for conn in facts["connections"]:
            lines.append("[[capture.connection]]")
            lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in conn.items()]
        lines.append("")
    MANIFEST.write_text("\n".join(lines))
    print(f"wrote {MANIFEST}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", default=[], help="record only this capture (file stem)")
    parser.add_argument("--manifest-only", action="store_true", help="only rewrite captures/manifest.toml")
    args = parser.parse_args(argv)
    CAPTURES.mkdir(exist_ok=True)
    runs: dict[str, dict[str, Any]] = {}
    if not args.manifest_only:
        for rec in RECORDINGS:
            if args.only and rec.name not in args.only:
                continue
            print(f"recording {rec.name} ({rec.server})", file=sys.stderr)
            runs[rec.name] = record(rec)
    write_manifest(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
