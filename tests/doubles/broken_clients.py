"""Deliberately broken RTMP clients: a simulated profile with one fault each.

Run as an agent command (``python tests/doubles/broken_clients.py --fault NAME --profile P --role R
URL``), so ``tests/clients/test_broken_clients.py`` can show that the matching client case FAILs
(or is NON-STRICT, by its rule's level) on each one. Every fault is the smallest change that breaks
one rule.
"""

from __future__ import annotations

import asyncio
import os
import struct
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from rtmpconf.harness.client import RtmpClient  # noqa: E402
from rtmpconf.harness.peers import simulated  # noqa: E402
from rtmpconf.harness.peers.simulated import SessionFailed, SimulatedClient  # noqa: E402
from rtmpconf.rtmp import amf0, media  # noqa: E402
from rtmpconf.rtmp.chunk import ChunkReader, ExtTsDialect, MessagePlan  # noqa: E402
from rtmpconf.rtmp.errors import RemoteProtocolError  # noqa: E402
from rtmpconf.rtmp.messages import (  # noqa: E402
    Audio, Command, Data, SetChunkSize, UserControl, Video, encode_message,
)

FAULTS: dict[str, str] = {}


def fault(name: str, what: str) -> Any:
    def deco(fn: Any) -> Any:
        FAULTS[name] = what
        return fn
    return deco


class BrokenClient(SimulatedClient):
    fault = ""

    # -- the client object: reader/handshake faults --------------------------------------------------

    def make_client(self) -> RtmpClient:
        f = self.fault
        kw: dict[str, Any] = {"timeout": 60.0 if f == "patient" else 6.0}
        if f == "no-ack":
            kw["auto_ack"] = False
        if f in ("no-pong", "wrong-pong"):
            kw["auto_pong"] = False
        if f == "reads-ext-ts-present-only":
            kw["ext_ts_dialect"] = ExtTsDialect.PRESENT
        if f == "reads-ext-ts-omitted-only":
            kw["ext_ts_dialect"] = ExtTsDialect.OMITTED
        c = self.profile.client(self.target, **kw)
        if f == "c0-version-6":
            hs = c.conn.handshake
            # C0 replaced by 6 (RTMPE): the first byte of the client's initial bytes.
            out = c.conn._out  # type: ignore[attr-defined]
            out[0] = b"\x06" + out[0][1:]
            _ = hs
        if f == "ignores-set-chunk-size":
            orig = c.conn.reader._apply_control

            def no_scs(msg: Any, pos: int) -> None:
                if msg.type_id != 1:
                    orig(msg, pos)
            c.conn.reader._apply_control = no_scs  # type: ignore[method-assign]
        if f in ("strict-partial", "one-message-at-a-time", "no-fmt3-starts"):
            c.conn.reader = _StrictReader(f, ext_ts_dialect=ExtTsDialect.AUTO)
        if f == "ack-too-high":
            c.conn.auto_ack = False
        if f == "omits-ext-ts":
            # The pre-2024 librtmp dialect: no extended timestamp on fmt-3 continuation chunks.
            c.conn.writer.ext_ts_on_fmt3 = False
        return _Hooked(c, self)

    # -- publisher faults --------------------------------------------------------------------------

    def metadata(self, stream: Any) -> tuple[Any, ...]:
        values = list(super().metadata(stream))
        arr = values[-1]
        if self.fault == "codec-ids-as-strings":
            arr = amf0.EcmaArray({**arr, "videocodecid": "avc1", "audiocodecid": "mp4a"})
        elif self.fault == "metadata-object":
            arr = dict(arr)
        elif self.fault == "metadata-wrong-rate":
            arr = amf0.EcmaArray({**arr, "audiosamplerate": 22050.0})
        values[-1] = arr
        return tuple(values)

    def media_tags(self, stream: Any) -> list[Any]:
        tags = super().media_tags(stream)
        f = self.fault
        if f == "no-sequence-header":
            tags = [t for t in tags if not (t[0] == 9 and media.is_video_sequence_header(t[2]))]
        elif f == "inter-frame-first":
            first_key = next(i for i, t in enumerate(tags) if t[0] == 9 and media.is_video_keyframe(t[2]))
            tags = tags[:first_key] + tags[first_key + 1:]
        elif f == "backwards-timestamps":
            audio = [i for i, t in enumerate(tags) if t[0] == 8 and not media.is_audio_sequence_header(t[2])]
            i, j = audio[5], audio[6]
            tags[i], tags[j] = (tags[i][0], tags[j][1], tags[i][2]), (tags[j][0], tags[i][1], tags[j][2])
        elif f == "aac-drift":
            n = 0
            for k, t in enumerate(tags):
                if t[0] == 8 and not media.is_audio_sequence_header(t[2]):
                    tags[k] = (8, tags[0][1] + n * 25, t[2])  # 25 ms per 1024 samples: wrong at 44.1 kHz
                    n += 1
            tags.sort(key=lambda t: t[1])
        elif f == "wraps-24-bit":
            tags = [(t[0], t[1] & 0xFFFFFF, t[2]) for t in tags]
        elif f == "wrong-key-flags":
            tags = [(t[0], t[1], bytes([0x17]) + t[2][1:]) if t[0] == 9 and t[2][:1] == b"\x27" else t for t in tags]
        elif f == "aac-header-mono-22k":
            tags = [(t[0], t[1], bytes([0xAA]) + t[2][1:]) if t[0] == 8 else t for t in tags]
        elif f == "inband-sps-differs":
            tags = [(t[0], t[1], _with_inband_sps(t[2])) if t[0] == 9 and media.is_video_keyframe(t[2]) else t
                    for t in tags]
        elif f == "bad-nal-length":
            tags = [(t[0], t[1], t[2][:5] + struct.pack(">I", 0x7FFFFF) + t[2][9:])
                    if t[0] == 9 and not media.is_video_sequence_header(t[2]) else t for t in tags]
        elif f == "bad-aac-config":
            tags = [(t[0], t[1], t[2][:2]) if t[0] == 8 and media.is_audio_sequence_header(t[2]) else t for t in tags]
        return tags

    async def send_media(self, c: RtmpClient) -> None:
        f = self.fault
        if f == "hevc-inband-differs":
            # An E-RTMP hvc1 publish whose keyframes carry an SPS the hvcC record does not hold.
            from rtmpconf.harness.testmedia import make_hevc

            st = make_hevc(seconds=1.0, width=320, height=180, fps=25, gop=25)
            msid = c.stream_id or 1
            await c.send(Video(st.video_sequence_header), msid=msid, timestamp=0, csid=6)
            for t in st.tags:
                p = t.payload
                if t.type_id == 9 and media.is_video_keyframe(p):
                    bogus = b"\x42\x01\xde\xad\xbe\xef"  # NAL header type 33 (SPS), made-up body
                    # ExVideoHeader (1) + FourCC (4) + SI24 CompositionTime (3), then the NAL units.
                    p = p[:8] + len(bogus).to_bytes(4, "big") + bogus + p[8:]
                msg = Video(p) if t.type_id == 9 else Audio(p)
                await c.send(msg, msid=msid, timestamp=t.timestamp, csid=6 if t.type_id == 9 else 4)
            return
        if f == "control-on-csid-3":
            await c.send(SetChunkSize(4096), csid=3)
            c.conn.writer.set_chunk_size(4096)
        if f == "big-basic-header":
            # Metadata on csid 5 in the 3-byte form (01 41 ff would be csid 65599; here 5 - 64 wraps).
            type_id, payload = encode_message(Data(self.metadata(simulated.test_media(self.seconds, self.ts_offset_ms))))
            await c.send_planned(Data(self.metadata(simulated.test_media(self.seconds, self.ts_offset_ms))),
                                 MessagePlan(csid_form=3), msid=c.stream_id or 1, csid=70)
        if f == "negative-delta":
            msid = c.stream_id or 1
            await c.send(Audio(b"\xaf\x01\x21"), msid=msid, timestamp=1000, csid=9)
            # fmt 1 on csid 9 with delta 0xFFFFFFF0 (a step of -16 ms written as a huge unsigned delta).
            await c.send_planned(Audio(b"\xaf\x01\x21\x00"), MessagePlan(fmt=1, ts_field=0xFFFFFFF0), msid=msid,
                                 timestamp=984, csid=9)
        if f == "fmt2-first":
            # A chunk stream (csid 10) opened with a fmt-2 header: 0x8a = fmt 2, csid 10; delta 0.
            await c.send_raw(b"\x8a\x00\x00\x00")
        await super().send_media(c)

    async def publish(self) -> None:
        f = self.fault
        if f in ("media-before-publish-start", "wrong-stream-id", "publish-wrong-type", "keeps-publishing",
                 "first-result-is-stream-id"):
            c = await self.open()
            p = self.profile
            await c.command("releaseStream", self.stream_name, csid=3)
            await c.command("FCPublish", self.stream_name, csid=3)
            tid = await c.command("createStream", csid=3)
            if f == "first-result-is-stream-id":
                # Matches replies by order: the third _result "must be" createStream's.
                for _ in range(3):
                    ev = await c.wait_for(lambda e: isinstance(e.message, Command) and e.message.name == "_result",
                                          "results in order")
                first = ev.message.arguments[0] if ev.message.arguments else 1  # type: ignore[union-attr]
                c.stream_id = int(first) if isinstance(first, (int, float)) else 1
            else:
                reply = await c.wait_reply(tid, "createStream")
                c.stream_id = int(reply.arguments[0]) if reply.arguments else 1
            if f == "wrong-stream-id":
                c.stream_id = 1
            kind = "foo" if f == "publish-wrong-type" else "live"
            await c.command("publish", self.stream_name, kind, msid=c.stream_id, tid=0.0, csid=8)
            if f != "media-before-publish-start":
                await c.wait_status("publish")
            _ = p
            await self.send_media(c)
            if f == "keeps-publishing":
                await self.send_media(c)
            await self.unpublish(c)
            return
        await super().publish()

    async def unpublish(self, c: RtmpClient) -> None:
        if self.fault == "no-unpublish":
            return
        await super().unpublish(c)

    async def open(self) -> RtmpClient:
        f = self.fault
        if f in ("connect-tid-2", "connect-wrong-app", "pipelines-create-stream", "caps-wrong-types",
                 "advertises-reconnect", "bad-amf", "ignores-connect-error", "announces-hvc1", "amf3-deaf",
                 "no-wait-s2"):
            c = self.client = self.make_client()
            await c.open()
            obj: dict[str, Any] = {"app": self.target.app, "flashVer": "LNX 9,0,124,2", "tcUrl": self.target.tc_url}
            if f == "connect-wrong-app":
                obj["app"] = "not-the-app"
            if f == "caps-wrong-types":
                obj["fourCcList"] = "hvc1,avc1"
            if f == "advertises-reconnect":
                obj["capsEx"] = 1.0
            if f == "announces-hvc1":
                obj["fourCcList"] = ["hvc1", "avc1"]
            if f == "amf3-deaf":
                obj["objectEncoding"] = 3.0
            tid = 2.0 if f == "connect-tid-2" else 1.0
            if f == "no-wait-s2":
                await c.send_raw(c.conn.data_to_send())
                # Read S0+S1 only, answer C2 and connect at once, before S2 arrived.
                await c.wait_bytes_s1()  # type: ignore[attr-defined]
                return c
            await c.handshake()
            if f == "bad-amf":
                # connect, then a command whose second value has marker 0x0E (reserved, AMF0 §2.1).
                await c.send(Command("connect", 1.0, obj))
                await c.send_raw(b"\x03\x00\x00\x00\x00\x00\x0d\x14\x00\x00\x00\x00\x02\x00\x04test\x0e\x00\x00\x00\x00\x00")
            else:
                await c.send(Command("connect", tid, obj))
            if f == "pipelines-create-stream":
                await c.command("createStream", csid=3)
            reply = await c.wait_reply(tid, "connect")
            if reply.name != "_result" and f != "ignores-connect-error":
                raise SessionFailed(f"connect refused: {reply.name}")
            return c
        return await super().open()

    # -- player faults --------------------------------------------------------------------------

    async def play(self) -> None:
        f = self.fault
        if f in ("ignores-error-status", "play-wrong-name", "needs-stream-begin"):
            c = await self.open()
            tid = await c.command("createStream", csid=3)
            reply = await c.wait_reply(tid, "createStream")
            c.stream_id = int(reply.arguments[0]) if reply.arguments else 1
            name = "other" if f == "play-wrong-name" else self.stream_name
            await c.command("play", name, -2.0, msid=c.stream_id, tid=0.0, csid=8)
            if f == "needs-stream-begin":
                await c.wait_for(lambda e: isinstance(e.message, UserControl) and e.message.event == 0, "StreamBegin")
            await self.read_frames(c)
            return
        await super().play()

    def on_message(self, type_id: int, timestamp: int, payload: bytes, message: Any) -> None:
        f = self.fault
        if f == "fragile-player":
            if type_id == 4 and message.event not in (0, 1, 6):
                raise SessionFailed(f"unexpected user control event {message.event}")
            if type_id == 4 and message.event == 0:
                self._begins = getattr(self, "_begins", 0) + 1
                if self._begins > 1:
                    raise SessionFailed("second StreamBegin")
            if type_id not in (1, 2, 3, 4, 5, 6, 8, 9, 18, 20):
                raise SessionFailed(f"unexpected message type {type_id}")
            if type_id == 8 and not payload:
                raise SessionFailed("empty audio message")
        if f == "dies-on-24-bit" and timestamp >= 0xFFFFFF:
            raise SessionFailed("timestamp above 24 bits")
        if f == "dies-on-wrap":
            last = getattr(self, "_last", None)
            self._last = timestamp
            if last is not None and type_id in (8, 9) and timestamp < last:
                raise SessionFailed("timestamp went backwards")
        if f == "one-sequence-header" and type_id == 9 and payload and media.is_video_sequence_header(payload):
            self._sh = getattr(self, "_sh", 0) + 1
            if self._sh > 1:
                raise SessionFailed("a second sequence header")
        if f == "announces-hvc1" and type_id == 9 and payload and payload[0] & 0x80:
            return
        if f == "ignores-error-status" and isinstance(message, Command):
            return
        if f == "dies-on-unexpected-command" and isinstance(message, Command) and message.name not in (
                "_result", "_error", "onStatus"):
            raise SessionFailed(f"unexpected command {message.name}")
        super().on_message(type_id, timestamp, payload, message)


class _StrictReader(ChunkReader):
    """A reader with one of FFmpeg-like/naive limitations (records chunks to police them)."""

    def __init__(self, mode: str, **kw: Any) -> None:
        super().__init__(record_chunks=True, **kw)
        self.mode = mode
        self._seen = 0

    def feed(self, data: Any) -> None:
        super().feed(data)
        assert self.chunks is not None
        for c in self.chunks[self._seen:]:
            if self.mode == "no-fmt3-starts" and c.fmt == 3 and c.starts_message and c.type_id in (8, 9):
                raise RemoteProtocolError("fmt 3 starting a message", rule="CH-7")
        if self.mode == "one-message-at-a-time":
            open_csid = None
            for c in self.chunks[self._seen:]:
                if open_csid is not None and c.csid != open_csid:
                    raise RemoteProtocolError("chunks of two messages interleaved", rule="CH-13")
                open_csid = None if c.completes_message else c.csid
        self._seen = len(self.chunks)

    def _drop_partial(self, st: Any) -> None:
        if self.mode == "strict-partial" and st.received:
            # A new header while a message is half-read: an error, as FFmpeg's "packet size mismatch".
            raise RemoteProtocolError("packet size mismatch", rule="CH-12")
        super()._drop_partial(st)

    def _apply_control(self, msg: Any, pos: int) -> None:
        if self.mode == "strict-partial" and msg.type_id == 2:
            return  # Abort not implemented
        super()._apply_control(msg, pos)


def _with_inband_sps(payload: bytes) -> bytes:
    # An SPS NAL (type 7) with different bytes put in front of the keyframe's NAL units.
    sps = b"\x67\x42\xc0\x0d\xde\xad\xbe\xef"
    return payload[:5] + len(sps).to_bytes(4, "big") + sps + payload[5:]


class _Hooked(RtmpClient):
    """Wraps the profile's client to inject receive-side faults."""

    def __init__(self, inner: RtmpClient, owner: BrokenClient) -> None:  # noqa: D401 - a proxy
        self.__dict__.update(inner.__dict__)
        self._owner = owner

    async def _read_once(self, step: str, deadline: float, auto_send: bool = True,
                         allowed: float | None = None) -> bool:
        f = self._owner.fault
        ok = await RtmpClient._read_once(self, step, deadline, auto_send, allowed)
        if f == "wrong-pong":
            for ev in self.received[getattr(self, "_pong_seen", 0):]:
                m = ev.message
                if isinstance(m, UserControl) and m.event == 6:
                    await self.send(UserControl.ping_response(b"\x00\x00\x00\x00"))
            self._pong_seen = len(self.received)
        if f == "ack-too-high" and self.conn.ack_window and self.conn.bytes_received > self.conn.ack_window and \
                not getattr(self, "_acked", False):
            from rtmpconf.rtmp.messages import Acknowledgement
            self._acked = True
            await self.send(Acknowledgement(self.conn.bytes_received * 4))
        if f == "drops-high-csid":
            self.received[:] = [e for e in self.received if e.raw.csid < 64]
            self._cursor = min(self._cursor, len(self.received))
        if f == "dies-on-long-string":
            for e in self.received:
                if isinstance(e.message, Command) and any(isinstance(a, dict) and any(
                        isinstance(v, str) and len(v) > 0xFFFF for v in a.values()) for a in e.message.arguments):
                    raise SessionFailed("cannot read a long string")
        if f == "dies-on-unexpected-command":
            for e in self.received:
                if isinstance(e.message, Command) and e.message.name not in ("_result", "_error", "onStatus"):
                    raise SessionFailed(f"unexpected command {e.message.name}")
        if f == "amf3-deaf":
            self.received[:] = [e for e in self.received if e.raw.type_id != 17]
            self._cursor = min(self._cursor, len(self.received))
        return ok

    async def handshake(self, **kw: Any) -> None:
        if self._owner.fault == "needs-one-read-handshake":
            first = self.conn.data_to_send()
            await self.send_raw(first)
            assert self.reader is not None
            data = await asyncio.wait_for(self.reader.read(1 << 16), self.timeout)
            if len(data) < 3073:
                raise SessionFailed(f"handshake reply split ({len(data)} bytes in the first read)")
            self.log.add("s2c", data, asyncio.get_event_loop().time())
            self.conn.receive_data(data)
            self._drain_events()
            await self.send_raw(self.conn.data_to_send())
            return
        if self._owner.fault == "c2-garbage":
            first = self.conn.data_to_send()
            await self.send_raw(first)
            import time
            deadline = time.monotonic() + self.timeout
            while not self.conn.handshake.done:
                await RtmpClient._read_once(self, "handshake", deadline, auto_send=False)
                out = self.conn.data_to_send()
                if out:
                    await self.send_raw(os.urandom(len(out)))
            return
        await RtmpClient.handshake(self, **kw)

    async def wait_bytes_s1(self) -> None:
        import time
        deadline = time.monotonic() + self.timeout
        while len(self.log.bytes("s2c")) < 1537:
            await RtmpClient._read_once(self, "S1", deadline, auto_send=False)
        c2 = self.conn.data_to_send()
        obj = {"app": self._owner.target.app, "tcUrl": self._owner.target.tc_url, "flashVer": "LNX 9,0,124,2"}
        from rtmpconf.rtmp.chunk import ChunkWriter
        t, payload = encode_message(Command("connect", 1.0, obj))
        await self.send_raw(c2 + ChunkWriter(128).encode(3, t, 0, 0, payload))
        while not self.conn.handshake.done:
            await RtmpClient._read_once(self, "S2", deadline, auto_send=False)
        self.handshake_done = True
        await self.wait_reply(1.0, "connect")


def main() -> int:
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--fault", required=True)
    rest = sys.argv[1:]
    args, remaining = p.parse_known_args(rest)

    class Client(BrokenClient):
        fault = args.fault

    return simulated.main(remaining, client_class=Client)


if __name__ == "__main__":
    sys.exit(main())

_ = fault
