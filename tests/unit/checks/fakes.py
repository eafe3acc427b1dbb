"""Build wire logs of fake (often deliberately broken) servers for checker unit tests, and the
session builders (connect, publish, play, relayed media) the checker tests share."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from rtmpconf.harness.testmedia import MediaTag
from rtmpconf.harness.verdict import Finding, Verdict, worst
from rtmpconf.harness.wirelog import C2S, S2C, WireLog
from rtmpconf.rtmp import media
from rtmpconf.rtmp.chunk import ChunkWriter, MessagePlan
from rtmpconf.rtmp.messages import (
    Audio,
    Command,
    Message,
    SetChunkSize,
    SetPeerBandwidth,
    UserControl,
    Video,
    WindowAckSize,
    encode_message,
)
from rtmpconf.rtmp.session import default_csid


class LogBuilder:
    """Appends client and server bytes to a WireLog with advancing fake times."""

    def __init__(self, label: str = "fake", server_chunk_size: int = 128) -> None:
        self.log = WireLog(label)
        self.t = 1000.0
        self.server = ChunkWriter(server_chunk_size)
        self.client = ChunkWriter(128)
        self.c1 = b""

    def _tick(self, dt: float) -> float:
        self.t += dt
        return self.t

    def c2s(self, data: bytes, dt: float = 0.001) -> LogBuilder:
        self.log.add(C2S, data, self._tick(dt))
        return self

    def s2c(self, data: bytes, dt: float = 0.001) -> LogBuilder:
        self.log.add(S2C, data, self._tick(dt))
        return self

    def handshake(self, *, s2: bytes | None = None, s1: bytes | None = None, version: int = 3,
                  data_before_c2: bytes = b"") -> LogBuilder:
        """A simple handshake; override S1/S2 or slip bytes in before C2 to break it."""
        self.c1 = bytes(8) + os.urandom(1528)
        self.c2s(b"\x03" + self.c1)
        s1 = s1 if s1 is not None else bytes(8) + os.urandom(1528)
        s2 = s2 if s2 is not None else self.c1[:4] + bytes(4) + self.c1[8:]
        self.s2c(bytes([version]) + s1 + s2 + data_before_c2)
        self.c2s(s1)
        return self

    def server_msg(self, msg: Message, *, msid: int = 0, timestamp: int = 0, csid: int | None = None,
                   plan: MessagePlan | None = None) -> LogBuilder:
        type_id, payload = encode_message(msg)
        cs = csid or default_csid(type_id)
        if plan is None:
            data = self.server.encode(cs, type_id, msid, timestamp, payload)
        else:
            data = b"".join(self.server.encode_planned(cs, type_id, msid, timestamp, payload, plan))
        return self.s2c(data)

    def client_msg(self, msg: Message, *, msid: int = 0, timestamp: int = 0, csid: int | None = None) -> LogBuilder:
        type_id, payload = encode_message(msg)
        return self.c2s(self.client.encode(csid or default_csid(type_id), type_id, msid, timestamp, payload))


# -- verdicts -------------------------------------------------------------------------------------------


def v(findings: list[Finding]) -> Verdict:
    """The worst verdict; a checker must never return no findings."""
    assert findings, "a checker must never return no findings"
    return worst(findings)


def verdicts(findings: list[Finding]) -> dict[str, Verdict]:
    """Worst verdict per rule."""
    out: dict[str, Verdict] = {}
    for f in findings:
        if f.rule not in out or f.verdict.rank > out[f.rule].rank:
            out[f.rule] = f.verdict
    return out


# -- sessions as a fake server answers them ---------------------------------------------------------------

CONNECT_OK = {"level": "status", "code": "NetConnection.Connect.Success", "description": "ok",
              "objectEncoding": 0.0}
FMS_PROPS = {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0, "mode": 1.0}


def info_obj(code: str, level: str = "status", **extra: Any) -> dict[str, Any]:
    """An onStatus / _result info object."""
    return {"level": level, "code": code, "description": code, **extra}


def on_status(code: str, level: str = "status", tid: float = 0.0) -> Command:
    return Command("onStatus", tid, None, (info_obj(code, level),))


def connected(b: LogBuilder | None = None, *, connect_obj: dict[str, Any] | None = None,
              reply: Message | None = None, stream_begin: bool = True, chunk_size: int | None = None) -> LogBuilder:
    """Handshake, connect (tid 1) and a usual server reply sequence ending in ``reply``; with
    ``chunk_size`` the server announces (and really switches to) that chunk size first."""
    b = b or LogBuilder()
    b.handshake()
    b.client_msg(Command("connect", 1.0, connect_obj or {"app": "live", "tcUrl": "rtmp://h/live"}))
    b.server_msg(WindowAckSize(2_500_000)).server_msg(SetPeerBandwidth(2_500_000, 2))
    if chunk_size is not None:
        b.server_msg(SetChunkSize(chunk_size))
        b.server.set_chunk_size(chunk_size)
    if stream_begin:
        b.server_msg(UserControl.stream_begin(0))
    b.server_msg(reply or Command("_result", 1.0, FMS_PROPS, (CONNECT_OK,)))
    return b


def create_stream(b: LogBuilder, tid: float = 2.0, sid: float | None = 1.0) -> LogBuilder:
    b.client_msg(Command("createStream", tid, None))
    if sid is not None:
        b.server_msg(Command("_result", tid, None, (sid,)))
    return b


def publishing(b: LogBuilder | None = None, *, status: str = "NetStream.Publish.Start",
               level: str = "status", status_msid: int = 1, name: str = "s") -> LogBuilder:
    b = create_stream(connected(b))
    b.client_msg(Command("publish", 0.0, None, (name, "live")), msid=1)
    b.server_msg(UserControl.stream_begin(1))
    b.server_msg(on_status(status, level), msid=status_msid)
    return b


def playing(b: LogBuilder | None = None, name: str = "s", start: float = -2.0) -> LogBuilder:
    b = create_stream(connected(b))
    b.client_msg(Command("play", 0.0, None, (name, start)), msid=1)
    return b


def ping(b: LogBuilder, value: int = 0x5EED0001, *, answer: bool = True) -> LogBuilder:
    """The harness probe: PingRequest, and (if ``answer``) the echo."""
    b.client_msg(UserControl.ping_request(value))
    if answer:
        b.server_msg(UserControl.ping_response(value.to_bytes(4, "big")))
    return b


def closed(b: LogBuilder, *, reset: bool = False) -> LogBuilder:
    b.log.mark_closed(S2C, b.t + 0.001, reset=reset)
    return b


def fresh_ok() -> WireLog:
    return connected().log


def fresh_dead() -> WireLog:
    return closed(LogBuilder().handshake()).log


def fresh(*, reply: str | None = "_result", delay: float = 0.001, handshake: bool = True) -> WireLog:
    """A fresh connection after a scenario: connect answered by ``reply`` after ``delay`` s (no
    answer unless "_result" or "_error"), or without ``handshake`` a server that is gone (TCP
    connected, no handshake reply, closed)."""
    if not handshake:
        b = LogBuilder()
        b.c2s(b"\x03" + bytes(1536))
        b.log.mark_closed(S2C, b.t)
        return b.log
    b = LogBuilder().handshake()
    b.client_msg(Command("connect", 1.0, {"app": "live"}))
    b.t += delay
    if reply == "_result":
        b.server_msg(Command("_result", 1.0, {}, (info_obj("NetConnection.Connect.Success"),)), csid=3)
    elif reply == "_error":
        b.server_msg(Command("_error", 1.0, None, (info_obj("NetConnection.Connect.Rejected", "error"),)), csid=3)
    return b.log


# -- a player's media, as a fake server relays it -----------------------------------------------------------

#: The message stream id the fake server plays on.
MSID = 1


def play_start(b: LogBuilder) -> LogBuilder:
    b.server_msg(Command("onStatus", 0.0, None, ({"level": "status", "code": "NetStream.Play.Start"},)),
                 msid=MSID)
    return b


def player_builder(chunk_size: int = 4096, *, ext_on_fmt3: bool = True) -> LogBuilder:
    """A fake server's player connection up to NetStream.Play.Start."""
    b = LogBuilder(server_chunk_size=chunk_size).handshake()
    b.server.ext_ts_on_fmt3 = ext_on_fmt3
    if chunk_size != 128:
        b.server_msg(SetChunkSize(chunk_size))
    return play_start(b)


def send(b: LogBuilder, tag: MediaTag, *, ts: int | None = None, payload: bytes | None = None,
         dt: float = 0.001, plan: MessagePlan | None = None) -> None:
    """The fake server relays ``tag`` (optionally with another timestamp or payload) to the player."""
    p = tag.payload if payload is None else payload
    msg = Audio(p) if tag.type_id == 8 else Video(p)
    t = (tag.timestamp if ts is None else ts) & 0xFFFFFFFF
    if plan is not None:
        b.server_msg(msg, msid=MSID, timestamp=t, plan=plan)
        return
    csid = 4 if tag.type_id == 8 else 6
    b.s2c(b.server.encode(csid, tag.type_id, MSID, t, p), dt)


def player_log(tags: Sequence[MediaTag], *, chunk_size: int = 4096, ext_on_fmt3: bool = True,
               ts_map=None, drop: Sequence[int] = (), corrupt: Sequence[int] = ()) -> WireLog:
    """What a player gets from a server that relays ``tags``: timestamps through ``ts_map(i, ts)``,
    indices in ``drop`` lost, indices in ``corrupt`` with their last byte flipped."""
    b = player_builder(chunk_size, ext_on_fmt3=ext_on_fmt3)
    for i, t in enumerate(tags):
        if i in drop:
            continue
        payload = t.payload
        if i in corrupt:
            payload = payload[:-1] + bytes((payload[-1] ^ 0xFF,))
        send(b, t, ts=ts_map(i, t.timestamp) if ts_map else None, payload=payload)
    return b.log


def video(frame_type: int = 1, body: bytes = b"\x00\x00\x00\x01\x65") -> Video:
    """An AVC NALU video message (keyframe by default)."""
    return Video(media.build_avc_video(frame_type, 1, 0, body))
