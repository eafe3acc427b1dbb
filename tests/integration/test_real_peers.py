"""Real programs through the reference server: Debian ffmpeg publishes, ffprobe and PyAV play."""

from __future__ import annotations

import asyncio
import time

import pytest

from rtmpconf.harness.client import Target
from rtmpconf.harness.peers import require_or_skip
from rtmpconf.harness.peers.ffmpeg import FfmpegPublisher, ffprobe
from rtmpconf.harness.peers.pyav import play
from rtmpconf.rtmp import media
from rtmpconf.rtmp.messages import Data
from rtmpconf.reference_server.server import ServerThread
from tests.integration.conftest import connected, run, wait_published


@pytest.fixture(autouse=True)
def _need_ffmpeg() -> None:
    require_or_skip("ffmpeg", "ffprobe")




def test_ffmpeg_publish_ffprobe_mid_stream_under_a_second(server: ServerThread) -> None:
    url = f"rtmp://127.0.0.1:{server.port}/live/x"
    with FfmpegPublisher(url, seconds=20):
        wait_published(server, "x")
        time.sleep(1.3)  # join mid-GOP (GOP is 2 s)
        probes = [ffprobe(url, timeout=10) for _ in range(3)]
    for p in probes:
        assert p.returncode == 0, p.stderr
        assert p.codecs == {"video": "h264", "audio": "aac"}, p.codecs
    best = min(p.elapsed for p in probes)
    # Done-when: ffprobe started mid-stream reports h264 + aac in under 1 s.
    assert best < 1.0, [round(p.elapsed, 3) for p in probes]


def test_pyav_late_joiner_first_decoded_frame_is_keyframe(server: ServerThread) -> None:
    url = f"rtmp://127.0.0.1:{server.port}/live/pyav"
    with FfmpegPublisher(url, seconds=20):
        wait_published(server, "pyav")
        time.sleep(1.1)
        result = play(url, seconds=3.0, max_video_frames=30)
    assert result.error is None, result.error
    assert result.video_codec == "h264" and result.audio_codec == "aac"
    assert result.first_video_keyframe is True
    assert result.video_frames >= 10


def test_wire_order_for_mid_gop_joiner_behind_real_ffmpeg(server: ServerThread) -> None:
    """GOP-1 asserted on the wire with a real publisher: metadata, AVC SH, AAC SH, keyframe."""
    url = f"rtmp://127.0.0.1:{server.port}/live/wire"
    target = Target("127.0.0.1", server.port)

    async def scenario() -> list:
        c = await connected(target, "wire-player")
        await c.play("wire")
        await c.collect(1.0)
        await c.close()
        return c.received

    with FfmpegPublisher(url, seconds=20):
        wait_published(server, "wire")
        time.sleep(0.9)
        received = run(scenario())
    av = [e for e in received if e.raw.type_id in (8, 9)
          or (isinstance(e.message, Data) and e.message.name == "onMetaData")]
    assert isinstance(av[0].message, Data) and av[0].message.name == "onMetaData"
    assert av[1].raw.type_id == 9 and media.is_video_sequence_header(av[1].raw.payload)
    assert av[2].raw.type_id == 8 and media.is_audio_sequence_header(av[2].raw.payload)
    first_video = next(e for e in av[3:] if e.raw.type_id == 9)
    assert media.is_video_keyframe(first_video.raw.payload)
    # Nothing from before the keyframe: no audio older than the keyframe either.
    assert all(e.raw.timestamp >= first_video.raw.timestamp - 50 for e in av[3:])


def test_ffmpeg_timestamps_cross_0xffffff(server: ServerThread) -> None:
    """TS-6 with real ffmpeg: -output_ts_offset 16775 s crosses 0xFFFFFF ms after ~2.2 s."""
    url = f"rtmp://127.0.0.1:{server.port}/live/wrap"
    target = Target("127.0.0.1", server.port)

    async def watch(seconds: float) -> list:
        c = await connected(target, "watcher")
        await c.play("wrap")
        await c.collect(seconds)
        await c.close()
        return c.received

    async def both() -> tuple[list, list]:
        early = asyncio.ensure_future(watch(6.0))
        # Join once the GOP that starts after the crossing (keyframe at 16779 s) is cached.
        await asyncio.sleep(4.3)
        late = await watch(1.5)
        return await early, late

    with FfmpegPublisher(url, seconds=8, extra_output=["-output_ts_offset", "16775"]):
        wait_published(server, "wrap")
        early, late = run(both(), timeout=30)
    for label, received in (("early", early), ("late", late)):
        for type_id, max_step in ((9, 200), (8, 200)):
            # Sequence headers keep their publish-time timestamp (GOP-6 allows SH ts <= frames).
            ts = [e.raw.timestamp for e in received if e.raw.type_id == type_id
                  and not media.is_video_sequence_header(e.raw.payload)
                  and not media.is_audio_sequence_header(e.raw.payload)]
            assert len(ts) > 10, label
            steps = [b - a for a, b in zip(ts, ts[1:])]
            assert all(0 <= s <= max_step for s in steps), (label, type_id, steps)
    def frames(received: list) -> list[int]:
        return [e.raw.timestamp for e in received
                if e.raw.type_id == 9 and not media.is_video_sequence_header(e.raw.payload)]

    assert min(frames(early)) < 0xFFFFFF < max(frames(early))
    assert min(frames(late)) > 0xFFFFFF


def test_pyav_plays_after_the_0xffffff_crossing(server: ServerThread) -> None:
    url = f"rtmp://127.0.0.1:{server.port}/live/wrap2"
    with FfmpegPublisher(url, seconds=10, extra_output=["-output_ts_offset", "16776"]):
        wait_published(server, "wrap2")
        time.sleep(1.8)
        result = play(url, seconds=3.0, max_video_frames=40)
    assert result.error is None, result.error
    assert result.first_video_keyframe is True
    pts = result.video_pts
    assert pts and pts[-1] > 0xFFFFFF, pts[-3:]
    assert all(0 <= b - a <= 200 for a, b in zip(pts, pts[1:])), pts
