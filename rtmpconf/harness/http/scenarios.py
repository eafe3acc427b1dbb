"""Scenario steps of the HTTP-output cases: publish over RTMP, pull over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from rtmpconf.harness.checks.hls import FetchedSegment
from rtmpconf.harness.http.client import HttpError, HttpResponse
from rtmpconf.harness.http.frames import Frame, flv_frames
from rtmpconf.harness.http.m3u8 import MediaPlaylist, parse_m3u8
from rtmpconf.harness.http.mpegts import parse_ts
from rtmpconf.harness.scenarios import publish_stream
from rtmpconf.harness.testmedia import MediaTag, TestStream, make_h264_aac

#: How long a live body may stay silent once the publisher stopped before we stop reading (s).
LIVE_IDLE_S = 0.8
#: Longest a live pull reads (s).
LIVE_MAX_S = 6.0
#: Playlist polling: interval and how long to wait for a change (s).
POLL_S = 0.2
PLAYLIST_WAIT_S = 6.0


@functools.lru_cache(maxsize=4)
def media(seconds: float = 8.0, bframes: int = 2, gop: int = 25) -> TestStream:
    """H.264 (1 s GOPs by default, B-frames: CompositionTime matters) + 48 kHz AAC, 25 fps."""
    return make_h264_aac(seconds=seconds, bframes=bframes, gop=gop)


def published(stream: TestStream, until_ms: int | None = None, from_ms: int = 0, *, shift: int = 0) -> list[MediaTag]:
    tags = [t for t in stream.tags if from_ms <= t.timestamp - stream.start_ms and
            (until_ms is None or t.timestamp - stream.start_ms < until_ms)]
    if shift:
        tags = [MediaTag(t.type_id, (t.timestamp + shift) & 0xFFFFFFFF, t.payload, t.keyframe, t.sequence_header)
                for t in tags]
    return tags


def sent_frames(stream: TestStream, tags: Sequence[MediaTag]) -> list[Frame]:
    """Published coded frames (with their sequence headers first so the NALU length size is known)."""
    head = [MediaTag(9, stream.start_ms, stream.video_sequence_header, True, True)]
    return flv_frames([*head, *tags])


def flv_body_complete(sent: Sequence[MediaTag]) -> Callable[[bytes], bool] | None:
    """An ``until`` for a live HTTP-FLV pull: true once the body holds the last published video
    frame and every message after it, in order, each followed by its PreviousTagSize. An FLV tag
    body is the RTMP message payload unchanged, so this needs no parsing; a server that rewrites
    payloads never matches and the pull ends on ``LIVE_IDLE_S`` of silence as before. Waiting for
    silence costs every pull that long; this ends it as soon as everything is there."""
    last_video = max((i for i, t in enumerate(sent) if t.type_id == 9), default=None)
    if last_video is None:
        return None
    tail = [t.payload for t in sent[last_video:]]

    def complete(body: bytes) -> bool:
        pos = body.rfind(tail[0])  # a coded video frame: unique in the stream
        if pos < 0:
            return False
        pos += len(tail[0])
        for payload in tail[1:]:
            pos = body.find(payload, pos)
            if pos < 0:
                return False
            pos += len(payload)
        return len(body) >= pos + 4
    return complete


@dataclass
class LivePull:
    name: str
    stream: TestStream
    sent: list[MediaTag]  #: everything published, in order
    resp: HttpResponse | None = None
    error: str | None = None
    player_messages: list[Any] = field(default_factory=list)  #: RawMessage of an RTMP player, when asked


async def live_pull(rtmp: Any, http: Any, kinds: Sequence[str], *, join_after_ms: int = 1500,
                    until_ms: int = 4000, rtmp_player: bool = False,
                    stream: TestStream | None = None,
                    viewers: Mapping[str, Callable[[str], Awaitable[Awaitable[Any]]]] | None = None,
                    ) -> dict[str, LivePull | Any]:
    """Publish ``join_after_ms`` of media, open one live HTTP pull per kind ("flv", "ts") (and an
    RTMP player), publish up to ``until_ms``, read until the bodies go quiet.

    ``viewers``: more players (e.g. RTSP), by key: each is called with the stream name once the
    others joined and returns, when it is watching, an awaitable of what it saw; that is awaited
    after the publish and stored under its key."""
    st = stream or media()
    name = rtmp.stream_name()
    sent = published(st, until_ms)
    out: dict[str, Any] = {}
    async with contextlib.AsyncExitStack() as stack:
        pub = await stack.enter_async_context(rtmp.client(label="publisher"))
        await publish_stream(pub, name, until_ms=join_after_ms, stream=st)
        tasks: dict[str, asyncio.Task[HttpResponse]] = {}
        heads: list[asyncio.Event] = []
        for kind in kinds:
            url = http.url(kind, name)
            head = asyncio.Event()
            heads.append(head)
            until = flv_body_complete(published(st, until_ms, join_after_ms)) if kind == "flv" else None
            tasks[kind] = asyncio.create_task(http.get(url, head_seen=head, idle=LIVE_IDLE_S, read_for=LIVE_MAX_S,
                                                       until=until, label=f"{kind} viewer"))
        player = None
        if rtmp_player:
            player = await stack.enter_async_context(rtmp.client(label="rtmp player"))
            await player.handshake()
            await player.connect()
            await player.play(name)
        for kind, head in zip(kinds, heads):
            waiter = asyncio.ensure_future(head.wait())
            await asyncio.wait([waiter, tasks[kind]], timeout=rtmp.timeout, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
        watching = {key: await start(name) for key, start in (viewers or {}).items()}
        rest = published(st, until_ms, join_after_ms)
        await pub.publish_media(rest)
        if player is not None:
            await _until_last_relayed(player, rest)
        for key, seen in watching.items():
            out[key] = await seen
        for kind, task in tasks.items():
            pull = LivePull(name, st, sent)
            try:
                pull.resp = await task
            except HttpError as exc:
                pull.error = str(exc)
            out[kind] = pull
        if player is not None:
            from rtmpconf.harness.wirelog import S2C

            out["rtmp"] = [m.raw for m in player.log.decode(S2C).messages if m.raw.type_id in (8, 9)]
    out["_name"] = name
    out["_sent"] = sent
    out["_stream"] = st
    return out


async def _until_last_relayed(player: Any, sent: Sequence[MediaTag]) -> None:
    """Read until the player got the last published message (its payload, unchanged as RTMP relays
    it), or for ``LIVE_IDLE_S`` when it never comes."""
    from rtmpconf.harness.client import PeerClosed, StepTimeout

    if not sent:
        await player.read_for(LIVE_IDLE_S)
        return
    last = sent[-1]
    try:
        await player.wait_for(lambda e: e.raw.type_id == last.type_id and e.raw.payload == last.payload,
                              "last published message relayed", timeout=LIVE_IDLE_S)
    except (StepTimeout, PeerClosed):
        pass


async def poll_playlist(http: Any, url: str, *, newer_than: MediaPlaylist | None = None,
                        wait: float = PLAYLIST_WAIT_S) -> tuple[MediaPlaylist | None, HttpResponse | None]:
    """Fetch the playlist until it lists a segment (after ``newer_than``'s last one, if given)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    last: tuple[MediaPlaylist | None, HttpResponse | None] = (None, None)
    want = newer_than.segments[-1].seq if newer_than is not None and newer_than.segments else -1
    while True:
        resp = await http.get(url, label="playlist")
        pl = parse_m3u8(resp.body) if resp.status == 200 else None
        last = (pl, resp)
        if pl is not None and pl.segments and pl.segments[-1].seq > want:
            return last
        if resp.status in (404, 405, 501) and newer_than is None and loop.time() > deadline - wait / 2:
            return last
        if loop.time() >= deadline:
            return last
        await asyncio.sleep(POLL_S)


async def fetch_segments(http: Any, playlist_url: str, pl: MediaPlaylist,
                         only: Sequence[int] | None = None) -> list[FetchedSegment]:
    out = []
    for seg in pl.segments:
        if only is not None and seg.seq not in only:
            continue
        resp = await http.get(urljoin(playlist_url, seg.uri), label=f"segment {seg.seq}")
        if resp.status == 200:
            out.append(FetchedSegment(seg, parse_ts(resp.body)))
    return out


@dataclass
class HlsRun:
    name: str
    url: str
    playlists: list[MediaPlaylist] = field(default_factory=list)
    segments: list[FetchedSegment] = field(default_factory=list)
    first: HttpResponse | None = None  #: the first playlist response
    settled: bool = True  #: the server answered the probe after the last step published
    sent: list[MediaTag] = field(default_factory=list)
    stream: TestStream | None = None


async def hls_run(rtmp: Any, http: Any, *, steps: Sequence[int] = (6000, 10000, 14000),
                  stream: TestStream | None = None, download: bool = True) -> HlsRun:
    """Publish in steps (ms of media each time, as fast as the link goes), reloading the playlist
    after each step until it grows; then download the segments of the last playlist."""
    st = stream or media(seconds=max(steps) / 1000 + 1)
    name = rtmp.stream_name()
    url = http.url("hls", name)
    run = HlsRun(name, url, stream=st)
    async with rtmp.client(label="publisher") as pub:
        prev = 0
        await publish_stream(pub, name, until_ms=steps[0], stream=st)
        run.sent = published(st, steps[-1])
        for i, step in enumerate(steps):
            if i:
                await pub.publish_media(published(st, step, prev))
            prev = step
            # The playlist is read once the server holds the step's media (a ping round trip,
            # CTRL-10): on a slow link the bytes may still be on their way.
            run.settled = await pub.probe(f"media to {step} ms processed")
            pl, resp = await poll_playlist(http, url, newer_than=run.playlists[-1] if run.playlists else None)
            if run.first is None:
                run.first = resp
            if pl is None:
                break
            run.playlists.append(pl)
        if download and run.playlists:
            run.segments = await fetch_segments(http, url, run.playlists[-1])
    return run
