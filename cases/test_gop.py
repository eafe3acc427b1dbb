"""GOP cache and late-joiner cases (catalogue section 8)."""

from __future__ import annotations

import asyncio
import time

import pytest

from harness.checks.gop import check_gop_start
from harness.scenarios import publish_stream


@pytest.mark.rule("GOP-1", level="CONV", section="FLV E.4.3.1")
async def test_late_joiner_starts_at_keyframe(rtmp):
    """Publishes real H.264/AAC (PyAV) for 1.5 GOPs, then a player joins mid-GOP.

    Requirement (GOP-1/AV-4): a late joiner receives onMetaData, the video and audio sequence
    headers, then coded video starting at a keyframe; never an inter frame first.
    """
    name = rtmp.stream_name()
    async with rtmp.client(label="publisher") as pub:
        stream = await publish_stream(pub, name, until_ms=1500)
        async with rtmp.client(label="player") as player:
            await player.handshake()
            await player.connect()
            t0 = time.monotonic()
            await player.play(name)
            await publish_more(pub, stream, 1500, 2400)
            await player.collect(0.6)
    rtmp.judge(check_gop_start(player.log, play_time=t0))


async def publish_more(pub, stream, from_ms: int, to_ms: int) -> None:
    await pub.publish_media([t for t in stream.tags if from_ms <= t.timestamp < to_ms])
    await asyncio.sleep(0)
