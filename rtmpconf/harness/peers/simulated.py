"""A simulated client profile as an agent process: ``python -m rtmpconf.harness.peers.simulated``.

Runs one profile of ``harness/profiles`` (ffmpeg, obs, obs-legacy, vlc, rtmpdump, flash) as a
publisher or a player against a URL, in its own process, so ``rtmpconf clients`` judges it exactly
like the real program it imitates (same deadline, same kill by PID, same output format). A player
prints one line per coded frame it received (``v <ms> <key>`` / ``a <ms>``, after ``demuxed``: it
does not decode); both print ``error <text>`` and exit 1 when the session fails.

:class:`SimulatedClient` is also the base of the deliberately broken client doubles of the tests
(``tests/doubles/broken_clients.py``), which override one step each.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rtmpconf.cliutil import stop_on_sigint
from rtmpconf.harness.client import PeerClosed, RtmpClient, StepTimeout, Target
from rtmpconf.harness.profiles import PROFILES, ClientProfile
from rtmpconf.rtmp import amf0, media
from rtmpconf.rtmp.errors import ProtocolError
from rtmpconf.rtmp.messages import Aggregate, Audio, Command, Data, Video

#: Deadline of one step of the simulated session (matches the real programs' network timeouts).
STEP_TIMEOUT_S = 15.0


class SessionFailed(Exception):
    """The server refused or ended the session; the message is what the program would report."""


def split_url(url: str) -> tuple[Target, str]:
    """``rtmp://host:port/app/stream`` -> (Target(host, port, app), stream)."""
    if not url.startswith("rtmp://"):
        raise ValueError(f"not an rtmp:// URL: {url!r}")
    hostport, _, path = url[len("rtmp://"):].partition("/")
    host, _, port = hostport.partition(":")
    app, _, stream = path.partition("/")
    return Target(host, int(port or 1935), app or "live"), stream or "stream"


def test_media(seconds: float, start_ms: int) -> Any:
    """The H.264/AAC TestStream a simulated publisher sends, cached on disk across processes (encoding
    it costs about a second of CPU)."""
    from rtmpconf.harness.testmedia import make_h264_aac

    key = hashlib.sha1(f"{seconds}-{start_ms}-v2".encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"rtmpconf-sim-media-{key}.pickle"
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except (OSError, pickle.PickleError, EOFError):
        pass
    stream = make_h264_aac(seconds=seconds, width=640, height=360, fps=25, gop=25, sample_rate=44100, bitrate=1_500_000,
                           start_ms=start_ms)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(stream, fh)
    os.replace(tmp, path)
    return stream


class SimulatedClient:
    """One profile's session as publisher or player; each step can be overridden by a double."""

    def __init__(self, profile: ClientProfile, url: str, *, seconds: float = 2.0, ts_offset_ms: int = 0) -> None:
        self.profile = profile
        self.target, self.stream_name = split_url(url)
        self.seconds = seconds
        self.ts_offset_ms = ts_offset_ms
        self.client: RtmpClient | None = None

    def make_client(self) -> RtmpClient:
        return self.profile.client(self.target, timeout=STEP_TIMEOUT_S)

    async def open(self) -> RtmpClient:
        c = self.client = self.make_client()
        reply = await self.profile.open(c, publish=self.publishing)
        if reply.name != "_result":
            raise SessionFailed(f"connect refused: {_describe(reply)}")
        return c

    publishing = True

    # -- publisher -------------------------------------------------------------------------------

    async def publish(self) -> None:
        c = await self.open()
        status = await self.profile.publish(c, self.stream_name)
        if status.get("code") != "NetStream.Publish.Start":
            raise SessionFailed(f"publish refused: {status.get('code')} {status.get('description', '')}")
        await self.send_media(c)
        await self.unpublish(c)

    def metadata(self, stream: Any) -> tuple[Any, ...]:
        return tuple(amf0.decode_all(stream.metadata))

    def media_tags(self, stream: Any) -> list[Any]:
        """(type_id, timestamp, payload) of every message after the metadata, in send order."""
        head_ts = 0 if self.profile.headers_at_zero else stream.start_ms
        tags: list[Any] = [(9, head_ts, stream.video_sequence_header)]
        if stream.audio_sequence_header is not None:
            tags.append((8, head_ts, stream.audio_sequence_header))
        tags += [(t.type_id, t.timestamp, t.payload) for t in stream.tags]
        return tags

    async def send_media(self, c: RtmpClient) -> None:
        stream = test_media(self.seconds, self.ts_offset_ms)
        msid = c.stream_id or 1
        p = self.profile
        await c.send(Data(self.metadata(stream)), msid=msid, csid=p.csid_data)
        start = time.monotonic()
        # Paced from the first coded frame: headers stamped 0 (FFmpeg) go out at once.
        first = stream.start_ms
        for type_id, ts, payload in self.media_tags(stream):
            due = start + max(0, ts - first) / 1000.0
            delay = due - time.monotonic()
            if delay > 0:
                # Read meanwhile: pings and acknowledgement windows are answered as they come.
                await c.collect(delay)
            if c.closed:
                raise SessionFailed("the server closed the connection while publishing")
            msg = Video(payload) if type_id == 9 else Audio(payload)
            await c.send(msg, msid=msid, timestamp=ts, csid=p.csid_video if type_id == 9 else p.csid_audio)

    async def unpublish(self, c: RtmpClient) -> None:
        # FFmpeg and librtmp end with FCUnpublish + deleteStream (rtmp_close / RTMP_Close).
        await c.command("FCUnpublish", self.stream_name)
        await c.send(Command("deleteStream", 0.0, None, (float(c.stream_id or 1),)))
        await c.collect(0.2)

    # -- player ------------------------------------------------------------------------------------

    async def play(self) -> None:
        c = await self.open()
        plain = c.wait_status

        async def wait_status(step: str, codes: tuple[str, ...] | None = None, timeout: float | None = None) -> Any:
            # Like the programs: an error-level status ends the wait as well as the awaited codes.
            def match(e: Any) -> bool:
                from rtmpconf.rtmp.messages import status_info

                info = status_info(e.message)
                return info is not None and (codes is None or info.get("code") in codes or info.get("level") == "error")
            ev = await c.wait_for(match, step, timeout)
            from rtmpconf.rtmp.messages import status_info

            return status_info(ev.message) or {}
        c.wait_status = wait_status  # type: ignore[method-assign]
        try:
            status = await self.profile.play(c, self.stream_name)
        finally:
            c.wait_status = plain  # type: ignore[method-assign]
        if status.get("code") != "NetStream.Play.Start":
            raise SessionFailed(f"play refused: {status.get('code')} {status.get('description', '')}")
        await self.read_frames(c)

    async def read_frames(self, c: RtmpClient) -> None:
        print("demuxed", flush=True)
        shown = 0
        while not c.closed:
            await c.collect(0.2)
            if c.protocol_error is not None:
                raise SessionFailed(f"undecodable data from the server: {c.protocol_error}")
            for ev in c.received[shown:]:
                self.on_message(ev.raw.type_id, ev.raw.timestamp, ev.raw.payload, ev.message)
            shown = len(c.received)

    def on_message(self, type_id: int, timestamp: int, payload: bytes, message: Any) -> None:
        if isinstance(message, Aggregate):
            # FFmpeg and librtmp split aggregates into their FLV-tagged sub-messages (§7.1.6).
            for sub in message.sub_messages(0, timestamp):
                self.on_message(sub.type_id, sub.timestamp, sub.payload, None)
            return
        if type_id == 9 and payload and not media.is_video_sequence_header(payload):
            print(f"v {timestamp} {1 if media.is_video_keyframe(payload) else 0}", flush=True)
        elif type_id == 8 and payload and not media.is_audio_sequence_header(payload):
            print(f"a {timestamp}", flush=True)
        elif isinstance(message, Command) and message.name == "onStatus":
            info = next((a for a in message.arguments if isinstance(a, dict)), {})
            if info.get("level") == "error":
                raise SessionFailed(f"{info.get('code')}: {info.get('description', '')}")

    async def run(self, role: str) -> None:
        self.publishing = role == "publish"
        try:
            if self.publishing:
                await self.publish()
            else:
                await self.play()
        finally:
            if self.client is not None:
                await self.client.close()


def _describe(cmd: Command) -> str:
    info = next((a for a in cmd.arguments if isinstance(a, dict)), {})
    return f"{cmd.name} {info.get('code', '')} {info.get('description', '')}".strip()


def main(argv: list[str] | None = None, client_class: type[SimulatedClient] = SimulatedClient) -> int:
    p = argparse.ArgumentParser(prog="python -m rtmpconf.harness.peers.simulated",
                                description="run a simulated client profile against an RTMP URL")
    p.add_argument("--profile", required=True, choices=sorted(PROFILES))
    p.add_argument("--role", required=True, choices=("publish", "play"))
    p.add_argument("--seconds", type=float, default=2.0, help="publisher: seconds of media")
    p.add_argument("--ts-offset-ms", type=int, default=0, help="publisher: first timestamp")
    p.add_argument("url")
    args = p.parse_args(argv)
    stop_on_sigint()  # the harness stops an agent with SIGINT, also from a background job
    try:
        sim = client_class(PROFILES[args.profile], args.url, seconds=args.seconds, ts_offset_ms=args.ts_offset_ms)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(sim.run(args.role))
    except (SessionFailed, StepTimeout, PeerClosed, ProtocolError, ConnectionError, OSError) as exc:
        print(f"error {exc}", flush=True)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
