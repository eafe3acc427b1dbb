"""Each client profile matches a recorded session of the real program on the wire."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

import pytest

from rtmpconf.harness.client import RtmpClient, Target
from rtmpconf.harness.peers import require_or_skip
from rtmpconf.harness.peers.ffmpeg import FfmpegPublisher, ffprobe
from rtmpconf.harness.peers.players import rtmpdump_play, vlc_play
from rtmpconf.harness.peers.recorder import RecordingProxy
from rtmpconf.harness.profiles import FFMPEG, RTMPDUMP, VLC, ClientProfile
from rtmpconf.harness.profiles.features import SessionFeatures, session_features
from rtmpconf.harness.testmedia import make_h264_aac
from rtmpconf.reference_server.server import ServerThread


def commands_until(f: SessionFeatures, last: str) -> list[str]:
    out = []
    for c in f.commands:
        out.append(c)
        if c == last:
            break
    return out


def compare(real: SessionFeatures, sim: SessionFeatures, fields: tuple[str, ...]) -> list[str]:
    diffs = []
    for name in fields:
        a, b = getattr(real, name), getattr(sim, name)
        if name == "c2_coalesced" and not a:
            # The proxy sees reads, not writes: two quick writes may arrive as one read, so only a
            # program that *does* coalesce (librtmp) gives a comparable fact.
            continue
        if name == "connect_keys":
            a, b = sorted(a), sorted(b)
        if a != b:
            diffs.append(f"{name}: real={a!r} simulated={b!r}")
    return diffs


def simulate(profile: ClientProfile, port: int, name: str, *, publish: bool, start_ms: int = 0) -> None:
    async def run() -> None:
        c = profile.client(Target("127.0.0.1", port))
        await profile.open(c, publish=publish)
        if publish:
            await profile.publish(c, name)
            # Large enough keyframes to span several 4096-byte chunks (as the real program's do).
            stream = make_h264_aac(seconds=2.0, width=640, height=360, bitrate=2_000_000, start_ms=start_ms)
            await profile.send_media(c, stream, until_ms=1500)
        else:
            await profile.play(c, name)
            await c.collect(0.5)
        await c.close()
    asyncio.run(asyncio.wait_for(run(), 30))


def record(server: ServerThread, action: Callable[[str], Any]) -> SessionFeatures:
    with RecordingProxy("127.0.0.1", server.port) as px:
        action(f"rtmp://127.0.0.1:{px.port}/live")
        time.sleep(0.3)
    assert px.logs, "nothing was recorded"
    return session_features(px.logs[0])


PLAYER_FIELDS = ("c0c1_writes", "c2_coalesced", "version", "flash_ver", "connect_keys", "window_ack", "buffer_ms")


def test_ffmpeg_publisher_profile(server: ServerThread) -> None:
    require_or_skip("ffmpeg")
    real = record(server, lambda base: FfmpegPublisher(f"{base}/p1", seconds=2, realtime=False).start().wait(30))
    sim = record(server, lambda base: simulate(FFMPEG, int(base.split(":")[2].split("/")[0]), "p2", publish=True))
    diffs = compare(real, sim, ("c0c1_writes", "c2_coalesced", "version", "flash_ver", "connect_keys",
                                "chunk_sizes", "data_names"))
    if commands_until(real, "publish") != commands_until(sim, "publish"):
        diffs.append(f"commands: real={real.commands} simulated={sim.commands}")
    for kind in ("command", "video", "audio", "data"):
        if sorted(real.csids.get(kind, [])) != sorted(sim.csids.get(kind, [])):
            diffs.append(f"csids[{kind}]: real={real.csids.get(kind)} simulated={sim.csids.get(kind)}")
    assert not diffs, diffs


def test_ffmpeg_publisher_extended_timestamp_dialect(server: ServerThread) -> None:
    """FFmpeg writes the fmt-3 extended timestamp (TS-4); the profile does too.

    With -output_ts_offset 16778 s the first keyframe's fmt-1 delta from the sequence header
    (stamped 0) is 16 778 000 ms >= 0xFFFFFF, so its header and continuation chunks carry it.
    """
    require_or_skip("ffmpeg")
    real = record(server, lambda base: FfmpegPublisher(
        f"{base}/e1", seconds=3, realtime=False, extra_output=["-output_ts_offset", "16778"]).start().wait(30))
    sim = record(server, lambda base: simulate(FFMPEG, int(base.split(":")[2].split("/")[0]), "e2",
                                               publish=True, start_ms=16_778_000))
    assert real.ext_dialect == "present", real
    assert sim.ext_dialect == real.ext_dialect


@pytest.mark.parametrize("program,profile,play,last", [
    ("ffprobe", FFMPEG, lambda url: ffprobe(url, timeout=15), "play"),
    ("rtmpdump", RTMPDUMP, lambda url: rtmpdump_play(url, 1.5), "play"),
    ("cvlc", VLC, lambda url: vlc_play(url, 1.5), "play"),
], ids=["ffprobe", "rtmpdump", "vlc"])
def test_player_profiles(server: ServerThread, program: str, profile: ClientProfile, play: Any, last: str) -> None:
    require_or_skip("ffmpeg", program)
    port = server.port
    with FfmpegPublisher(f"rtmp://127.0.0.1:{port}/live/src", seconds=15):
        time.sleep(1.5)
        real = record(server, lambda base: play(f"{base}/src"))
        sim = record(server, lambda base: simulate(profile, int(base.split(":")[2].split("/")[0]), "src",
                                                   publish=False))
    diffs = compare(real, sim, PLAYER_FIELDS)
    if commands_until(real, last) != commands_until(sim, last):
        diffs.append(f"commands: real={real.commands} simulated={sim.commands}")
    if sorted(real.csids.get("command", [])) != sorted(sim.csids.get("command", [])):
        diffs.append(f"csids[command]: real={real.csids.get('command')} simulated={sim.csids.get('command')}")
    assert not diffs, diffs
