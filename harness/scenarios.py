"""Reusable scenario steps for cases (publish real media, join as a player ...)."""

from __future__ import annotations

from harness.client import RtmpClient
from harness.testmedia import TestStream, make_h264_aac
from rtmp.messages import Audio, Data, Video


async def publish_stream(pub: RtmpClient, name: str, *, until_ms: int | None = None,
                         stream: TestStream | None = None, handshake: bool = True) -> TestStream:
    """Connect, publish ``name`` and send metadata, sequence headers and frames up to ``until_ms``."""
    stream = stream or make_h264_aac(seconds=4.0)
    if handshake:
        await pub.handshake()
        await pub.connect()
    info = await pub.publish(name)
    if info.get("code") != "NetStream.Publish.Start":
        raise RuntimeError(f"publish of {name} refused: {info}")
    msid = pub.stream_id
    from rtmp import amf0
    await pub.send(Data(tuple(amf0.decode_all(stream.metadata))), msid=msid)
    await pub.send(Video(stream.video_sequence_header), msid=msid, timestamp=stream.start_ms)
    if stream.audio_sequence_header is not None:
        await pub.send(Audio(stream.audio_sequence_header), msid=msid, timestamp=stream.start_ms)
    tags = [t for t in stream.tags if until_ms is None or t.timestamp - stream.start_ms < until_ms]
    await pub.publish_media(tags)
    return stream
