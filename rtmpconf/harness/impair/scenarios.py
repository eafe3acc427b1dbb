"""Scenarios the impairment cases and tests run, each on any target (direct or impaired).

A scenario takes ``make(target, label) -> RtmpClient`` (not yet opened) so the caller decides
step deadlines and where the wire logs go (a case adds them to its report). The "groups"
scenarios return ``{group name: findings}`` so the same checks can be compared between a direct
and an impaired run (harness.impair.checks.compare_verdicts).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from rtmpconf.harness.checks.gop import check_gop_start
from rtmpconf.harness.checks.handshake import check_handshake_completes
from rtmpconf.harness.checks.media import synthetic_stream
from rtmpconf.harness.checks.timestamps import check_first_fmt0_per_csid, check_monotonic, check_relayed_timing
from rtmpconf.harness.client import PeerClosed, RtmpClient, StepTimeout, Target
from rtmpconf.harness.impair.checks import SlowConsumerFigures, frame_latencies
from rtmpconf.harness.impair.memory import RssSampler
from rtmpconf.harness.scenarios import publish_stream
from rtmpconf.harness.testmedia import MediaTag, TestStream, make_h264_aac
from rtmpconf.harness.verdict import Finding, failed, passed
from rtmpconf.rtmp import amf0
from rtmpconf.rtmp.errors import ProtocolError
from rtmpconf.rtmp.messages import Audio, Command, Data, Message, Video, encode_message
from rtmpconf.rtmp.session import CSID_COMMAND

T = TypeVar("T")
MakeClient = Callable[[Target, str], RtmpClient]
Groups = dict[str, list[Finding]]

#: Write sizes cycled over a message's bytes: with a 12-byte fmt-0 header and 1-byte fmt-3 headers
#: every few cuts lands inside a chunk header (basic header alone, message header in two parts ...).
SPLIT_PATTERN = (1, 2, 5, 4, 64, 3, 130, 7)
#: How long a player waits for the last published message once the target answered a ping.
LAST_WAIT_S = 3.0
SCENARIO_ERRORS = (StepTimeout, PeerClosed, ProtocolError, ConnectionError, OSError, RuntimeError)


async def attempt(aw: Awaitable[T]) -> T | None:
    """Await a step whose failure is an outcome the checker judges from the wire log."""
    try:
        return await aw
    except SCENARIO_ERRORS:
        return None


def encode_before_c2(c: RtmpClient, msg: Message, *, csid: int | None = None) -> bytes:
    """``msg`` as chunks on ``c``'s writer before the handshake completed, to glue it to C2
    (``handshake(c2_with=...)``): the connection's ``send`` refuses that (HS-4), and nothing else
    can be encoded before C2 goes out, so the bytes keep their encoding order."""
    type_id, payload = encode_message(msg)
    from rtmpconf.rtmp.session import default_csid

    return c.conn.writer.encode(csid or default_csid(type_id), type_id, 0, 0, payload)


def split_sizes(n: int, pattern: Sequence[int] = SPLIT_PATTERN) -> list[int]:
    out, total = [], 0
    for size in itertools.cycle(pattern):
        if total >= n:
            return out
        out.append(min(size, n - total))
        total += out[-1]
    return out


async def split_write(c: RtmpClient, data: bytes) -> None:
    await c.send_split(data, split_sizes(len(data)))


def connect_object(c: RtmpClient) -> dict[str, Any]:
    t = c.target
    return {"app": t.app, "flashVer": "FMLE/3.0 (compatible; rtmp-conformance)", "tcUrl": t.tc_url, "fpad": False,
            "capabilities": 15.0, "audioCodecs": 4071.0, "videoCodecs": 252.0, "videoFunction": 1.0,
            "objectEncoding": 0.0}


def media_message(tag: MediaTag) -> Message:
    if tag.type_id == 8:
        return Audio(tag.payload)
    if tag.type_id == 9:
        return Video(tag.payload)
    return Data(tuple(amf0.decode_all(tag.payload)))


async def settle(pub: RtmpClient, *players: RtmpClient, last: bytes | None = None, timeout: float = 5.0) -> None:
    """The target processed all the publisher sent and each player has read up to ``last``."""
    with contextlib.suppress(*SCENARIO_ERRORS):
        await pub.probe("publisher settle", timeout=timeout)
    for p in players:
        if p.closed:
            continue
        with contextlib.suppress(*SCENARIO_ERRORS):
            await p.probe("player settle", timeout=timeout)
            if last is not None and not any(e.raw.payload == last for e in p.received):
                await p.wait_for(lambda e: e.raw.payload == last, "last published message", timeout=LAST_WAIT_S)


# -- handshake write patterns (HS-6) ----------------------------------------------------------------


async def handshake_groups(make: MakeClient, target: Target) -> Groups:
    """C0+C1 in 1-byte writes; C2 + connect + createStream in one write (librtmp's C2 + connect)."""
    out: Groups = {}
    c = make(target, "C0+C1 one byte per write")
    try:
        async with c:
            await attempt(c.handshake(c0c1_split=1))
            if c.handshake_done:
                await attempt(c.connect())
    except SCENARIO_ERRORS:
        pass
    out["C0+C1 in 1-byte writes"] = check_handshake_completes(c.log, rule="HS-6",
                                                              what="C0+C1 came one byte per write")
    c = make(target, "C2 + connect + createStream in one write")
    try:
        async with c:
            glued = (encode_before_c2(c, Command("connect", 1.0, connect_object(c)))
                     + encode_before_c2(c, Command("createStream", 2.0)))
            await attempt(c.handshake(c2_with=glued))
            if c.handshake_done:
                await attempt(c.wait_reply(1.0, "connect"))
                await attempt(c.wait_reply(2.0, "createStream"))
    except SCENARIO_ERRORS:
        pass
    out["C2 + connect + createStream in one write"] = check_handshake_completes(
        c.log, rule="HS-6", what="C2, connect and createStream shared a write")
    return out


# -- chunk headers split across writes (CH-5) -------------------------------------------------------


async def split_header_groups(make: MakeClient, target: Target, name: str) -> Groups:
    """Publishes 1 s of synthetic audio/video with every chunk (commands too) written in pieces that
    cut through chunk headers; a player (normal writes) must get every frame with its timing."""
    out: Groups = {}
    tags = synthetic_stream(seconds=1.0)
    pub = make(target, "publisher, chunk headers split")
    player = make(target, "player")
    answered: list[str] = []
    try:
        async with pub, player:
            await pub.handshake()
            await split_write(pub, await pub.prepare(Command("connect", 1.0, connect_object(pub))))
            if (await attempt(pub.wait_reply(1.0, "connect"))) is not None:
                answered.append("connect")
            tid = pub.next_tid()
            await split_write(pub, await pub.prepare(Command("createStream", tid)))
            reply = await attempt(pub.wait_reply(tid, "createStream"))
            if reply is not None and reply.name == "_result" and reply.arguments:
                answered.append("createStream")
                msid = int(reply.arguments[0])
                pub.stream_id = msid
                await split_write(pub, await pub.prepare(Command("publish", 0.0, None, (name, "live")), msid=msid,
                                                         csid=CSID_COMMAND))
                status = await attempt(pub.wait_status("publish", ("NetStream.Publish.Start",
                                                                   "NetStream.Publish.BadName")))
                if status is not None and status.get("code") == "NetStream.Publish.Start":
                    answered.append("publish")
                    await player.handshake()
                    await player.connect()
                    await player.play(name)
                    for tag in tags:
                        await split_write(pub, await pub.prepare(media_message(tag), msid=msid,
                                                                 timestamp=tag.timestamp))
                    await settle(pub, player, last=tags[-1].payload)
    except SCENARIO_ERRORS as exc:
        answered.append(f"(scenario stopped: {exc})")
    want = ["connect", "createStream", "publish"]
    if all(w in answered for w in want):
        out["commands with split chunk headers"] = [passed("CH-5", "connect, createStream and publish were "
                                                           "answered with their chunk headers split across writes")]
    else:
        out["commands with split chunk headers"] = [failed(
            "CH-5", "commands whose chunk headers were split across writes were not all answered",
            expected=", ".join(want), actual=", ".join(answered) or "none")]
    out["media with split chunk headers"] = check_relayed_timing(player.log, tags, rule="CH-5")
    return out


# -- GOP start and timestamps (GOP-1, AV-4, TS-1, TS-12, TS-13) ----------------------------------------


def stream_tags(stream: TestStream) -> list[MediaTag]:
    head = [MediaTag(9, stream.start_ms, stream.video_sequence_header, False, True)]
    if stream.audio_sequence_header is not None:
        head.append(MediaTag(8, stream.start_ms, stream.audio_sequence_header, False, True))
    return head + list(stream.tags)


async def gop_timestamp_groups(make: MakeClient, target: Target, name: str) -> Groups:
    """Real H.264/AAC (PyAV): 1.5 s published, a late joiner plays, 0.9 s more; the joiner's stream
    is checked for GOP start, header order, monotonic timestamps, fmt-0 starts and relayed deltas.
    100 kbit/s of video: the checks judge GOP structure and timing, not bitrate, and under
    byte-dribble every byte is a send of its own (80 KB instead of 228 KB at the default 500 kbit/s
    cut this case's CPU from ~6 s, a quarter of a default run's)."""
    stream = make_h264_aac(seconds=4.0, bitrate=100_000)
    pub = make(target, "publisher")
    player = make(target, "late joiner")
    try:
        async with pub, player:
            await publish_stream(pub, name, until_ms=1500, stream=stream)
            await player.handshake()
            await player.connect()
            await player.play(name)
            more = [t for t in stream.tags if 1500 <= t.timestamp - stream.start_ms < 2400]
            await pub.publish_media(more)
            await settle(pub, player, last=more[-1].payload)
    except SCENARIO_ERRORS:
        pass
    sent = [t for t in stream_tags(stream) if t.timestamp - stream.start_ms < 2400]
    return {
        "GOP start and sequence headers (GOP-1, AV-4)": check_gop_start(player.log),
        "monotonic timestamps (TS-12)": check_monotonic(player.log, sent),
        "fmt 0 first per chunk stream (TS-13)": check_first_fmt0_per_csid(player.log),
        "relayed deltas (TS-1)": check_relayed_timing(player.log, sent, rule="TS-1", expect_all=False),
    }


# -- publish -> play latency ---------------------------------------------------------------------------


def latency_stream(seconds: float = 3.0) -> list[MediaTag]:
    """About 0.6 Mbit/s: fits every profile's uplink and downlink."""
    return synthetic_stream(seconds=seconds, video_size=2500, key_size=12000)


async def publish_play_latency(make: MakeClient, pub_target: Target, play_target: Target, name: str, *,
                               seconds: float = 3.0) -> tuple[list[float], int, RtmpClient, RtmpClient]:
    """A player joins, then the publisher sends ``seconds`` of media in real time. Returns the
    per-frame publish->play latencies (ms), how many A/V messages were sent, and both clients."""
    tags = latency_stream(seconds)
    pub = make(pub_target, "publisher")
    player = make(play_target, "player")
    async with pub, player:
        await pub.handshake()
        await pub.connect()
        status = await pub.publish(name)
        if status.get("code") != "NetStream.Publish.Start":
            raise RuntimeError(f"publish of {name} refused: {status}")
        await player.handshake()
        await player.connect()
        await player.play(name)
        reader = asyncio.create_task(_keep_reading(player))
        try:
            await pub.publish_media(tags, realtime=True)
            await settle(pub, last=None)
            deadline = time.monotonic() + player.timing.deadline(LAST_WAIT_S + 2.0)
            while time.monotonic() < deadline and not player.closed and not any(
                    e.raw.payload == tags[-1].payload for e in player.received):
                await asyncio.sleep(0.05)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, *SCENARIO_ERRORS):
                await reader
    return frame_latencies(pub.log, player.log), len(tags), pub, player


async def _keep_reading(c: RtmpClient, chunk_s: float = 0.5) -> None:
    """Read continuously (receive times are what latency is measured on)."""
    while not c.closed:
        try:
            await c.collect(chunk_s)
        except SCENARIO_ERRORS:
            return


# -- slow consumer (GOP-8) ------------------------------------------------------------------------------

#: A 2 Mbit/s stream: 25 fps video averaging 10 kB a frame (1 s GOP, 22 kB keyframes) + 75 kbit/s AAC.
SLOW_STREAM = {"video_size": 9500, "key_size": 22000}


def slow_consumer_stream(seconds: float) -> list[MediaTag]:
    return synthetic_stream(seconds=seconds, **SLOW_STREAM)  # type: ignore[arg-type]


def stream_kbps(tags: Sequence[MediaTag]) -> float:
    span = (tags[-1].timestamp - tags[0].timestamp) / 1000.0 or 1.0
    return sum(len(t.payload) for t in tags) * 8 / 1000.0 / span


async def publish_paced(pub: RtmpClient, tags: Sequence[MediaTag], start: float, t0_ms: int) -> float:
    """Send ``tags`` on their media-time schedule from wall time ``start``; returns the worst lag (s)
    between a message's due time and the moment its write completed (a server that stops
    reading its publisher shows up here)."""
    worst = 0.0
    msid = pub.stream_id or 1
    for tag in tags:
        due = start + (tag.timestamp - t0_ms) / 1000.0
        wait = due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        await pub.send(media_message(tag), msid=msid, timestamp=tag.timestamp)
        worst = max(worst, time.monotonic() - due)
    return worst


async def slow_consumer(make: MakeClient, *, publisher_target: Target, player_target: Target, name: str,
                        set_link: Callable[[float | None], None], link_kbps: float = 500.0,
                        slow_s: float = 20.0, recover_s: float = 4.0, server_pid: int | None = None,
                        ) -> tuple[RtmpClient, list[MediaTag], SlowConsumerFigures, dict[str, Any]]:
    """A player whose link carries ``link_kbps`` plays a 2 Mbit/s stream for ``slow_s`` seconds;
    then its link recovers (``set_link(None)``) for ``recover_s`` seconds. The publisher (a fast
    path) sends in real time throughout. ``set_link(kbps)`` is called first to make the link slow.

    Returns the player, what was sent, the figures for check_slow_consumer, and extra figures.
    """
    loop = asyncio.get_running_loop()
    tags = slow_consumer_stream(slow_s + recover_s)
    heads = [t for t in tags if t.sequence_header]
    frames = [t for t in tags if not t.sequence_header]
    t0_ms = frames[0].timestamp
    slow_part = [t for t in frames if t.timestamp - t0_ms < slow_s * 1000]
    fast_part = frames[len(slow_part):]
    sampler = RssSampler(server_pid).start() if server_pid else None
    await loop.run_in_executor(None, set_link, link_kbps)
    pub = make(publisher_target, "publisher (fast link)")
    player = make(player_target, f"player ({link_kbps:g} kbit/s link)")
    lag = 0.0
    probe_ok = False
    extra: dict[str, Any] = {"stream_kbps": round(stream_kbps(frames), 1), "link_kbps": link_kbps,
                             "slow_s": slow_s, "recover_s": recover_s}
    try:
        async with pub, player:
            await pub.handshake()
            await pub.connect()
            status = await pub.publish(name)
            if status.get("code") != "NetStream.Publish.Start":
                raise RuntimeError(f"publish of {name} refused: {status}")
            msid = pub.stream_id or 1
            await pub.send(Data(("@setDataFrame", "onMetaData", amf0.EcmaArray({"width": 640.0}))), msid=msid)
            for h in heads:
                await pub.send(media_message(h), msid=msid, timestamp=h.timestamp)
            await player.handshake()
            await player.connect()
            await player.play(name)
            reader = asyncio.create_task(_keep_reading(player))
            start = time.monotonic()
            lag = await publish_paced(pub, slow_part, start, t0_ms)
            probe_ok = bool(await attempt(pub.probe("publisher after the slow phase", timeout=2.0)))
            extra["player_bytes_during_slow_phase"] = player.log.total("s2c")
            await loop.run_in_executor(None, set_link, None)
            recovered_at = time.monotonic()
            lag = max(lag, await publish_paced(pub, fast_part, start, t0_ms))
            deadline = time.monotonic() + player.timing.deadline(LAST_WAIT_S + 2.0)
            while time.monotonic() < deadline and not player.closed and not any(
                    e.raw.payload == frames[-1].payload for e in player.received):
                await asyncio.sleep(0.05)
            tail_payloads = {bytes(t.payload) for t in fast_part}
            first_tail = next((m for m in player.log.decode("s2c").messages
                               if m.raw.type_id in (8, 9) and bytes(m.raw.payload) in tail_payloads), None)
            extra["recovery_s"] = round(first_tail.time - recovered_at, 3) if first_tail is not None else None
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, *SCENARIO_ERRORS):
                await reader
    finally:
        if sampler is not None:
            sampler.stop()
        with contextlib.suppress(Exception):
            await loop.run_in_executor(None, set_link, None)
    slow_bytes = sum(len(t.payload) for t in slow_part)
    backlog = max(0, int(slow_bytes - link_kbps * 1000 / 8 * slow_s))
    sent = heads + frames
    figures = SlowConsumerFigures(
        slow_seconds=slow_s, publish_lag_s=lag, publisher_probe_ok=probe_ok,
        rss_growth_mib=sampler.peak_growth_mib if sampler is not None else None,
        recover_from=len(heads) + len(slow_part), backlog_bytes=backlog)
    if sampler is not None:
        extra.update(rss_baseline_mib=round(sampler.baseline_kib / 1024, 2),
                     rss_peak_mib=round(sampler.peak_kib / 1024, 2))
    return player, sent, figures, extra
