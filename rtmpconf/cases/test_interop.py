"""Interop cases: the programs users run (ffmpeg, ffprobe, PyAV, rtmpdump, VLC) against the target.

These drive real programs in real time, so they run only with ``--interop`` (``tox -e interop``,
``rtmpconf run --interop``). With CI=true a missing program is a FAIL, never a skip.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from rtmpconf.harness.checks.interop import (
    check_continuous,
    check_decoded_play,
    check_duplicate_refused,
    check_flv_play,
    check_probe,
    check_published_media,
    check_republish,
)
from rtmpconf.harness.peers import require_or_skip
from rtmpconf.harness.peers.ffmpeg import FfmpegPublisher, ffprobe
from rtmpconf.harness.peers.players import rtmpdump_play, vlc_play
from rtmpconf.harness.peers.pyav import play as pyav_play
from rtmpconf.harness.scenarios import start_playing

pytestmark = pytest.mark.interop

#: How long the real publisher runs before players join (it must be past one GOP of 2 s). Every
#: duration here is a direct link's; ``rtmp.quiet``/``rtmp.deadline`` stretch it for the link.
WARMUP_S = 2.5


def url_of(rtmp, name: str) -> str:
    return f"{rtmp.target.tc_url}/{name}"


async def watch(rtmp, name: str, seconds: float, label: str = "watcher"):
    async with rtmp.client(label=label) as c:
        await start_playing(c, name)
        await c.collect(seconds)
    return c


@pytest.mark.rule("HS-1", id="interop/ffmpeg-publish")
async def test_ffmpeg_publishes(rtmp):
    """Real ffmpeg publishes a lavfi test pattern (x264 + AAC); a harness player watches.

    Requirement: the target accepts FFmpeg's publish sequence and relays its media.
    """
    require_or_skip("ffmpeg")
    name = rtmp.stream_name("ff")
    with FfmpegPublisher(url_of(rtmp, name), seconds=15):
        await asyncio.sleep(rtmp.quiet(WARMUP_S))
        c = await watch(rtmp, name, 1.5)
    rtmp.judge(check_published_media(c.log))


@pytest.mark.rule("CMD-16", id="interop/ffprobe-play")
@pytest.mark.parametrize("player", ["ffprobe", "pyav", "rtmpdump", "vlc"])
async def test_real_player_plays(rtmp, player):
    """ffmpeg publishes; the real player plays the stream mid-GOP.

    Requirement (CMD-16): players accept the target's play reply; the stream decodes as H.264 +
    AAC and (GOP-1) its first video frame is a keyframe.
    """
    require_or_skip("ffmpeg", {"ffprobe": "ffprobe", "pyav": "ffmpeg", "rtmpdump": "rtmpdump", "vlc": "cvlc"}[player])
    name = rtmp.stream_name(player)
    url = url_of(rtmp, name)
    loop = asyncio.get_running_loop()
    with FfmpegPublisher(url, seconds=20):
        await asyncio.sleep(rtmp.quiet(WARMUP_S))
        if player == "ffprobe":
            result = await loop.run_in_executor(None, lambda: ffprobe(url, timeout=rtmp.deadline(15)))
            findings = check_probe(result)
        elif player == "pyav":
            seconds = rtmp.quiet(3.0)
            result = await loop.run_in_executor(None, lambda: pyav_play(url, seconds=seconds, max_video_frames=25))
            findings = check_decoded_play(result)
        elif player == "rtmpdump":
            result = await loop.run_in_executor(None, lambda: rtmpdump_play(url, rtmp.quiet(2.5)))
            findings = check_flv_play(result, "rtmpdump")
        else:
            result = await loop.run_in_executor(None, lambda: vlc_play(url, rtmp.quiet(2.5)))
            findings = check_flv_play(result, "VLC")
    rtmp.judge(findings)


@pytest.mark.rule("TS-6", id="interop/ffmpeg-crossing-0xffffff")
async def test_ffmpeg_crossing_extended_timestamps(rtmp):
    """ffmpeg publishes with -output_ts_offset 16776 s, crossing 0xFFFFFF ms after ~1.2 s; one
    player watches across the crossing and one joins after it.

    Requirement (TS-6): streams survive crossing 0xFFFFFF ms; timestamps stay continuous.
    """
    require_or_skip("ffmpeg")
    name = rtmp.stream_name("wrap")
    with FfmpegPublisher(url_of(rtmp, name), seconds=12, extra_output=["-output_ts_offset", "16776"]):
        await asyncio.sleep(0.5)
        early_task = asyncio.ensure_future(watch(rtmp, name, 3.5, "early"))
        await asyncio.sleep(3.2)  # the GOP starting at 16778 s is after the crossing
        late = await watch(rtmp, name, 1.5, "late")
        early = await early_task
    rtmp.judge(check_continuous(early.log, "early", must_cross=True) + check_continuous(late.log, "late"))


@pytest.mark.rule("CMD-14", id="interop/ffmpeg-duplicate-publish")
async def test_ffmpeg_duplicate_publish(rtmp):
    """Two ffmpeg processes publish the same name; the second must be refused, the first kept.

    Requirement (CMD-14): NetStream.Publish.BadName (FFmpeg then exits with an error); the
    stream of the first publisher is not disturbed.
    """
    require_or_skip("ffmpeg")
    name = rtmp.stream_name("dup")
    url = url_of(rtmp, name)
    with FfmpegPublisher(url, seconds=15) as first:
        await asyncio.sleep(rtmp.quiet(WARMUP_S))
        second = FfmpegPublisher(url, seconds=5).start()
        loop = asyncio.get_running_loop()
        try:
            rc, err = await loop.run_in_executor(None, lambda: second.wait(rtmp.deadline(12)))
        except Exception as exc:  # noqa: BLE001 - a hung second publisher is the finding
            rc, err = None, f"second ffmpeg did not end: {exc}"
        watcher = await watch(rtmp, name, 1.0)
        first_alive = first.proc is not None and first.proc.poll() is None
    rtmp.judge(check_duplicate_refused(rc, err, first_alive, watcher.log))


@pytest.mark.rule("GOP-7", id="interop/ffmpeg-republish")
async def test_ffmpeg_republish(rtmp):
    """ffmpeg publishes 426x240, stops; a second ffmpeg republishes the name at 320x180 while a
    harness player stays subscribed.

    Requirement (GOP-7): existing players get the new sequence headers and a keyframe before any
    frame of the new publisher; nothing stale leaks.
    """
    require_or_skip("ffmpeg")
    name = rtmp.stream_name("rep")
    url = url_of(rtmp, name)
    async with rtmp.client(label="player") as c:
        await c.handshake()
        await c.connect()
        with FfmpegPublisher(url, seconds=3, realtime=True):
            await asyncio.sleep(1.0)
            await c.play(name)
            await c.collect(2.5)
        await asyncio.sleep(0.5)
        second = FfmpegPublisher(url, seconds=3, realtime=True)
        second.extra_output = ["-s", "320x180"]
        t_republish = time.monotonic()
        with second:
            await c.collect(3.0)
    rtmp.judge(check_republish(c.log, t_republish))
