"""Simulated clients: how FFmpeg, OBS (librtmp), VLC, rtmpdump and Flash talk RTMP.

Each profile reproduces a real program's handshake split, command order, chunk streams,
connect object, chunk size and extended-timestamp dialect with the harness client, so cases can
run "as OBS" or "as rtmpdump" against any target. tests/integration/test_profiles.py compares
every profile whose program is installable here with a recording of the real program
(harness/profiles/features.py); the OBS and Flash profiles rest on their sources' documented
behaviour (catalogue HS-6, TS-4, CMD-3, CMD-12) where no real program can run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rtmpconf.harness.client import RtmpClient, Target, resolve_tc_url
from rtmpconf.rtmp.messages import Audio, Command, Data, SetChunkSize, UserControl, Video, WindowAckSize, encode_message

CSID_NETCONNECTION = 3
CSID_NETSTREAM = 8


@dataclass(frozen=True)
class ClientProfile:
    name: str
    flash_ver_publish: str
    flash_ver_play: str
    #: C2 and connect in one write (librtmp sends C2 before reading S2, HS-6).
    c2_with_connect: bool = False
    #: FMLE-style releaseStream + FCPublish before createStream (CMD-12).
    fmle_publish: bool = True
    #: getStreamLength (FFmpeg when not live-only) / FCSubscribe (librtmp) before play.
    pre_play: tuple[str, ...] = ()
    #: Window Ack Size the client announces after connect (None: none).
    window_ack_on_play: int | None = None
    #: SetBufferLength values: before play / after play.
    buffer_before_play: int | None = None
    buffer_after_play: int | None = None
    #: Chunk size the publisher announces (None: stays at 128).
    publish_chunk_size: int | None = None
    #: Write the 4-byte extended timestamp on fmt-3 chunks (False: pre-2024 OBS librtmp, TS-4).
    ext_ts_on_fmt3: bool = True
    #: csids used for metadata/audio/video by the publisher.
    csid_data: int = 4
    csid_audio: int = 4
    csid_video: int = 6
    connect_publish: dict[str, Any] = field(default_factory=dict)
    connect_play: dict[str, Any] = field(default_factory=dict)
    object_encoding: float | None = None
    play_start: float = -2000.0
    #: Metadata and sequence headers stamped 0 whatever the media's start (FFmpeg's FLV muxer).
    headers_at_zero: bool = False

    def client(self, rtmp_or_target: Any, label: str = "", **kw: Any) -> RtmpClient:
        """A harness client configured with this profile's dialect."""
        # Window Ack Size is sent explicitly where the program sends it, never as an automatic reply.
        kw.setdefault("auto_window_reply", False)
        if hasattr(rtmp_or_target, "client"):
            return rtmp_or_target.client(label=label or self.name, ext_ts_on_fmt3=self.ext_ts_on_fmt3, **kw)
        return RtmpClient(rtmp_or_target, label=label or self.name, ext_ts_on_fmt3=self.ext_ts_on_fmt3, **kw)

    def _connect_object(self, c: RtmpClient, publish: bool) -> dict[str, Any]:
        base = dict(self.connect_publish if publish else self.connect_play)
        obj: dict[str, Any] = {"app": c.target.app}
        if publish and "type" in base:
            obj["type"] = base.pop("type")
        obj["flashVer"] = self.flash_ver_publish if publish else self.flash_ver_play
        obj["tcUrl"] = c.target.tc_url
        obj.update(base)
        if self.object_encoding is not None:
            obj["objectEncoding"] = self.object_encoding
        return obj

    async def open(self, c: RtmpClient, *, publish: bool, connect_extra: dict[str, Any] | None = None) -> Command:
        """TCP, handshake and connect the way the program does (``connect_extra``: more connect
        properties, e.g. E-RTMP's fourCcList and capsEx)."""
        await c.open()
        connect = Command("connect", 1.0, {**self._connect_object(c, publish), **(connect_extra or {})})
        if self.c2_with_connect:
            type_id, payload = encode_message(connect)
            # Encoded on the connection's own writer (its send() refuses before the handshake
            # completes, HS-4), so the commands after it are compressed against it. Glued to C2
            # only when S2 came with S1: librtmp reads S2 before it writes connect (HS-3).
            await c.handshake(c2_with=c.conn.writer.encode(CSID_NETCONNECTION, type_id, 0, 0, payload),
                              c2_with_after_s2=True)
        else:
            await c.handshake()
            await c.send(connect, csid=CSID_NETCONNECTION)
        return await c.wait_reply(1.0, "connect")

    async def follow_reconnect(self, old: RtmpClient, request: dict[str, Any], make_client: Any, *,
                               name: str, publish: bool, connect_extra: dict[str, Any] | None = None,
                               leave_first: bool = False) -> tuple[RtmpClient, str]:
        """Follow an E-RTMP Reconnect Request (ERTMP-11) the way ERTMPv2 describes a client doing it:
        resolve its tcUrl against the current one (absent: the current one), connect there, publish
        or play ``name`` again, then leave the old server. Returns (new client, URL reconnected to).
        ``make_client(target)`` builds the new connection's client (a case's ``rtmp.client``).
        ``leave_first``: close the old connection before publishing again (a publisher coming back
        to the same server would otherwise be a duplicate publish of its own name, CMD-14)."""
        url = resolve_tc_url(old.target.tc_url, request.get("tcUrl") if isinstance(request.get("tcUrl"), str) else None)
        target = Target.parse(url, publish_name=old.target.publish_template, play_name=old.target.play_template)
        new: RtmpClient = make_client(target)
        if leave_first:
            await old.close()
        await self.open(new, publish=publish, connect_extra=connect_extra)
        if publish:
            await self.publish(new, name)
        else:
            await self.play(new, name)
        # "Subsequently, it establishes a connection with a new server and disconnects from the old server."
        await old.close()
        return new, url

    async def publish(self, c: RtmpClient, name: str) -> dict[str, Any]:
        if self.publish_chunk_size:
            await c.send(SetChunkSize(self.publish_chunk_size))
        if self.fmle_publish:
            await c.command("releaseStream", name, csid=CSID_NETCONNECTION)
            await c.command("FCPublish", name, csid=CSID_NETCONNECTION)
        tid = await c.command("createStream", csid=CSID_NETCONNECTION)
        reply = await c.wait_reply(tid, "createStream")
        c.stream_id = int(reply.arguments[0]) if reply.arguments else 1
        await c.command("publish", name, "live", msid=c.stream_id, tid=0.0, csid=CSID_NETSTREAM)
        return await c.wait_status("publish", ("NetStream.Publish.Start", "NetStream.Publish.BadName"))

    async def send_media(self, c: RtmpClient, stream: Any, until_ms: int | None = None) -> None:
        """Metadata, sequence headers and frames on this program's chunk streams."""
        from rtmpconf.rtmp import amf0

        msid = c.stream_id or 1
        head_ts = 0 if self.headers_at_zero else stream.start_ms
        await c.send(Data(tuple(amf0.decode_all(stream.metadata))), msid=msid, csid=self.csid_data)
        await c.send(Video(stream.video_sequence_header), msid=msid, timestamp=head_ts, csid=self.csid_video)
        if stream.audio_sequence_header is not None:
            await c.send(Audio(stream.audio_sequence_header), msid=msid, timestamp=head_ts, csid=self.csid_audio)
        for t in stream.tags:
            if until_ms is not None and t.timestamp - stream.start_ms >= until_ms:
                break
            if t.type_id == 9:
                await c.send(Video(t.payload), msid=msid, timestamp=t.timestamp, csid=self.csid_video)
            else:
                await c.send(Audio(t.payload), msid=msid, timestamp=t.timestamp, csid=self.csid_audio)

    async def play(self, c: RtmpClient, name: str) -> dict[str, Any]:
        if self.window_ack_on_play is not None:
            await c.send(WindowAckSize(self.window_ack_on_play))
        tid = await c.command("createStream", csid=CSID_NETCONNECTION)
        reply = await c.wait_reply(tid, "createStream")
        c.stream_id = int(reply.arguments[0]) if reply.arguments else 1
        for extra in self.pre_play:
            await c.command(extra, name, csid=CSID_NETSTREAM if extra == "getStreamLength" else CSID_NETCONNECTION)
        if self.buffer_before_play is not None:
            await c.send(UserControl.set_buffer_length(c.stream_id, self.buffer_before_play))
        await c.command("play", name, self.play_start, msid=c.stream_id, tid=0.0, csid=CSID_NETSTREAM)
        if self.buffer_after_play is not None:
            await c.send(UserControl.set_buffer_length(c.stream_id, self.buffer_after_play))
        return await c.wait_status("play", ("NetStream.Play.Start", "NetStream.Play.StreamNotFound"))


_PLAYER_CONNECT = {"fpad": False, "capabilities": 15.0, "audioCodecs": 4071.0, "videoCodecs": 252.0,
                   "videoFunction": 1.0}

#: FFmpeg (libavformat/rtmpproto.c): C0+C1 in one write, C2 alone after S2; publish in FMLE
#: order with connect type "nonprivate"; echoes the server's chunk size; stream commands on csid
#: 8, audio and metadata on 4, video on 6; SetBufferLength 3000 after play; fmt-3 ext ts present.
FFMPEG = ClientProfile(
    name="ffmpeg", flash_ver_publish="FMLE/3.0 (compatible; Lavf59.27.100)", flash_ver_play="LNX 9,0,124,2",
    pre_play=("getStreamLength",), window_ack_on_play=2_500_000, buffer_after_play=3000,
    publish_chunk_size=4096, connect_publish={"type": "nonprivate"}, connect_play=dict(_PLAYER_CONNECT),
    headers_at_zero=True,
)
#: VLC 3 plays RTMP through libavformat, so it speaks FFmpeg's player dialect.
VLC = ClientProfile(
    name="vlc", flash_ver_publish=FFMPEG.flash_ver_publish, flash_ver_play="LNX 9,0,124,2",
    pre_play=("getStreamLength",), window_ack_on_play=2_500_000, buffer_after_play=3000,
    connect_play=dict(_PLAYER_CONNECT),
)
#: rtmpdump (librtmp): C2 and connect in one write; FCSubscribe before play for live; buffer
#: 300 ms before play, then its -b default after.
RTMPDUMP = ClientProfile(
    name="rtmpdump", flash_ver_publish="FMLE/3.0 (compatible; FMSc/1.0)", flash_ver_play="LNX 10,0,32,18",
    c2_with_connect=True, pre_play=("FCSubscribe",), window_ack_on_play=2_500_000, buffer_before_play=300,
    buffer_after_play=36_000_000, connect_play=dict(_PLAYER_CONNECT),
)
#: OBS before obs-studio PR #10097 (2024): librtmp handshake (C2 + connect together), FMLE
#: publish order, chunk size 4096, and **no** extended timestamp on fmt-3 chunks (TS-4).
OBS_LEGACY = ClientProfile(
    name="obs-legacy", flash_ver_publish="FMLE/3.0 (compatible; FMSc/1.0)", flash_ver_play="LNX 10,0,32,18",
    c2_with_connect=True, publish_chunk_size=4096, ext_ts_on_fmt3=False,
    connect_publish={"type": "nonprivate", "swfUrl": ""},
)
#: OBS after PR #10097: the same, with the fmt-3 extended timestamp written.
OBS = ClientProfile(
    name="obs", flash_ver_publish=OBS_LEGACY.flash_ver_publish, flash_ver_play=OBS_LEGACY.flash_ver_play,
    c2_with_connect=True, publish_chunk_size=4096, ext_ts_on_fmt3=True,
    connect_publish={"type": "nonprivate", "swfUrl": ""},
)
#: Flash Player: createStream then publish/play (no FMLE calls), objectEncoding 3 (AMF3 capable).
FLASH = ClientProfile(
    name="flash", flash_ver_publish="WIN 32,0,0,465", flash_ver_play="WIN 32,0,0,465", fmle_publish=False,
    object_encoding=3.0, buffer_after_play=100, play_start=-2.0,
    connect_play={"fpad": False, "capabilities": 239.0, "audioCodecs": 3575.0, "videoCodecs": 252.0,
                  "videoFunction": 1.0, "pageUrl": "", "swfUrl": ""},
    connect_publish={"fpad": False, "capabilities": 239.0, "audioCodecs": 3575.0, "videoCodecs": 252.0,
                     "videoFunction": 1.0, "pageUrl": "", "swfUrl": ""},
)

PROFILES = {p.name: p for p in (FFMPEG, VLC, RTMPDUMP, OBS_LEGACY, OBS, FLASH)}
