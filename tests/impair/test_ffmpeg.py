"""Done-when (a): real ffmpeg publishes through 1-byte segments + 80 ms delay + 20 ms jitter to the
reference server; a player (80 +- 20 ms away) plays; the GOP-start and timestamp checks pass."""

from __future__ import annotations

import time

import pytest

from rtmpconf.harness.checks.gop import check_gop_start
from rtmpconf.harness.checks.timestamps import check_first_fmt0_per_csid, check_monotonic, check_relayed_timing
from rtmpconf.harness.client import RtmpClient, Target
from rtmpconf.harness.impair import DirectionImpairment, Profile, ProxyThread
from rtmpconf.harness.peers import PeerMissing, in_ci, require
from rtmpconf.harness.peers.ffmpeg import FfmpegPublisher
from rtmpconf.harness.testmedia import MediaTag
from rtmpconf.harness.verdict import Verdict
from rtmpconf.harness.wirelog import C2S, WireLog
from rtmpconf.reference_server.server import ServerThread
from rtmpconf.rtmp import media
from tests.integration.conftest import run, wait_published

DRIBBLE = DirectionImpairment(segment_bytes=1, delay_ms=80, jitter_ms=20)
#: The player's own path: the same delay and jitter, whole segments.
DELAYED = DirectionImpairment(delay_ms=80, jitter_ms=20)
#: Keep ffmpeg's stream near 400 kbit/s: every byte is its own send() through the proxy.
LOW_RATE = ["-b:v", "300k", "-maxrate", "300k", "-bufsize", "600k", "-b:a", "64k"]


@pytest.fixture(autouse=True)
def _need_ffmpeg() -> None:
    try:
        require("ffmpeg")
    except PeerMissing as exc:
        if in_ci():
            pytest.fail(f"CI=true and a real peer is missing: {exc}")
        pytest.skip(str(exc))


def published_tags(log: WireLog, player: WireLog) -> list[MediaTag]:
    """What ffmpeg sent (as the proxy recorded it before impairing it), up to the last message the
    player got: the player stopped reading while ffmpeg went on."""
    out = []
    for m in log.decode(C2S).messages:
        if m.raw.type_id in (8, 9):
            p = bytes(m.raw.payload)
            sh = (media.is_video_sequence_header(p) if m.raw.type_id == 9 else media.is_audio_sequence_header(p))
            key = m.raw.type_id == 9 and media.is_video_keyframe(p)
            out.append(MediaTag(m.raw.type_id, m.raw.timestamp, p, key, sh))
    last = next(bytes(m.raw.payload) for m in reversed(player.decode("s2c").messages) if m.raw.type_id in (8, 9))
    end = max(i for i, t in enumerate(out) if t.payload == last)
    return out[:end + 1]




def test_ffmpeg_through_one_byte_segments_and_jitter(server: ServerThread) -> None:
    upstream = Target("127.0.0.1", server.port)
    pub_path = Profile("ffmpeg-dribble", "1 B segments + 80+-20 ms", DRIBBLE, DRIBBLE, seed=11)
    play_path = Profile("player-delay", "80+-20 ms", DELAYED, DELAYED, seed=12)
    with ProxyThread(upstream, pub_path, record=True) as pub_proxy, ProxyThread(upstream, play_path) as play_proxy:
        url = f"rtmp://{pub_proxy.target.host}:{pub_proxy.target.port}/live/dribble"
        with FfmpegPublisher(url, seconds=14, extra_output=LOW_RATE) as ffmpeg:
            wait_published(server, "dribble", timeout=15)
            time.sleep(2.5)  # join in the middle of the second GOP (ffmpeg -g 50: 2 s)

            async def play() -> RtmpClient:
                c = RtmpClient(play_proxy.target, label="player", timeout=10)
                async with c:
                    await c.handshake()
                    await c.connect()
                    await c.play("dribble")
                    await c.collect(5.0)
                return c

            player = run(play(), timeout=40)
            assert ffmpeg.proc is not None and ffmpeg.proc.poll() is None, "ffmpeg gave up on the dribbling link"
        up = pub_proxy.connections[0].up.stats
        published = published_tags(pub_proxy.logs[0], player.log)
    assert up.bytes_out > 100_000 and max(up.drawn_ms) > 80, "the publisher's link was not impaired"
    findings = (check_gop_start(player.log) + check_monotonic(player.log, published)
                + check_first_fmt0_per_csid(player.log)
                + check_relayed_timing(player.log, published, rule="TS-1", expect_all=False))
    bad = [f.line() for f in findings if f.verdict.rank >= Verdict.NON_STRICT.rank]
    print("\n".join(f.line() for f in findings))
    assert not bad, "\n".join(bad)
    frames = [m for m in player.log.decode("s2c").messages if m.raw.type_id == 9]
    assert len(frames) >= 50, f"only {len(frames)} video messages in 5 s"
