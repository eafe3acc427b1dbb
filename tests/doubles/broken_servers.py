"""Deliberately broken servers: the reference server with one fault patched in.

Each fault is the smallest change that breaks one rule, so a test can show that the matching
conformance case FAILs with that rule ID. The server runs in a thread of the test process;
the cases run in a subprocess, so the patches never touch the harness side.
"""

from __future__ import annotations

import contextlib
import struct
from typing import Any, Callable, Iterator

import pytest

from rtmpconf.reference_server.config import ServerConfig
from rtmpconf.reference_server.server import ServerThread


def _s2_not_echoing_c1(mp: pytest.MonkeyPatch) -> None:
    from rtmpconf.rtmp.handshake import ServerHandshake

    orig = ServerHandshake.data_to_send

    def corrupted(self: Any) -> bytes:
        out = orig(self)
        if len(out) == 3073:
            # Flip one byte of S2's random echo (S2 starts at offset 1537).
            out = out[:1537 + 200] + bytes([out[1537 + 200] ^ 0xFF]) + out[1537 + 201:]
        return out

    mp.setattr(ServerHandshake, "data_to_send", corrupted)


def _data_before_c2(mp: pytest.MonkeyPatch) -> None:
    from rtmpconf.rtmp.chunk import chunk_message
    from rtmpconf.rtmp.handshake import ServerHandshake

    orig = ServerHandshake.data_to_send

    def eager(self: Any) -> bytes:
        out = orig(self)
        if len(out) == 3073:
            # Set Chunk Size 4096 on csid 2, sent right after S2 without waiting for C2.
            out += chunk_message(2, 0, 0, 1, 0, struct.pack(">I", 4096), 128)[0]
        return out

    mp.setattr(ServerHandshake, "data_to_send", eager)


def _fmt3_with_changed_delta(mp: pytest.MonkeyPatch) -> None:
    from rtmpconf.rtmp.chunk import ChunkWriter

    orig = ChunkWriter.choose

    def lazy(self: Any, *args: Any) -> tuple[int, int]:
        fmt, field = orig(self, *args)
        # Use fmt 3 ("same delta as before") even though the delta changed.
        return (3, field) if fmt == 2 else (fmt, field)

    mp.setattr(ChunkWriter, "choose", lazy)


def _no_acknowledgement(mp: pytest.MonkeyPatch) -> None:
    from rtmpconf.rtmp.session import Connection

    mp.setattr(Connection, "_maybe_ack", lambda self: None)


def _two_queue_auto_replies(mp: pytest.MonkeyPatch) -> None:
    """The core before it had one output path: automatic replies (acks, ping responses, window
    replies) are encoded when the read arrives but wait in a second queue, written after all
    the session wrote while handling that read, so replies to its commands overtake them."""
    from rtmpconf.reference_server.session import ServerSession
    from rtmpconf.rtmp.session import Connection

    def held_reply(self: Any, msg: Any) -> None:
        before = len(self._out)
        self.send(msg)  # encoded now, header state updated now, as before
        held = self._out[before:]
        del self._out[before:]
        self._out_len -= sum(len(d) for d in held)
        self.__dict__.setdefault("held_replies", []).extend(held)

    orig = ServerSession.data_received

    def data_received(self: Any, data: bytes) -> None:
        orig(self, data)
        held = self.conn.__dict__.pop("held_replies", [])
        if held:
            self.write(b"".join(held))

    mp.setattr(Connection, "_auto_reply", held_reply)
    mp.setattr(ServerSession, "data_received", data_received)


def _late_joiner_mid_gop(mp: pytest.MonkeyPatch) -> None:
    from rtmpconf.reference_server.streams import LiveStream

    def catch_up_mid_gop(self: Any, player: Any) -> None:
        from rtmpconf.rtmp.chunk import ChunkWriter
        from rtmpconf.reference_server.streams import MEDIA_CSID

        writer = ChunkWriter(player.chunk_size)
        parts = self._headers_bytes(player, writer, None)
        # Skip the keyframe that starts the cached GOP: the joiner starts on inter frames.
        for m in self.gop.messages[3:]:
            parts.append(writer.encode(MEDIA_CSID[m.type_id], m.type_id, player.msid, m.timestamp, m.payload))
        player.sink.write(b"".join(parts))
        player.waiting_keyframe = False
        player.desync()

    mp.setattr(LiveStream, "_catch_up", catch_up_mid_gop)


def _non_monotonic_video(mp: pytest.MonkeyPatch) -> None:
    from rtmpconf.reference_server.timestamps import StreamClock

    orig = StreamClock.correct
    count = {"n": 0}

    def jumpy(self: Any, track: int, ts: int, **kw: Any) -> int:
        out = orig(self, track, ts, **kw)
        if track == 9 and not kw.get("header"):
            count["n"] += 1
            if count["n"] % 5 == 0:
                return (out - 200) & 0xFFFFFFFF  # a video frame 200 ms in the past
        return out

    mp.setattr(StreamClock, "correct", jumpy)


def _absolute_ext_delta(mp: pytest.MonkeyPatch) -> None:
    from rtmpconf.reference_server import streams

    orig = streams.FanoutGroup.prepare

    def absolute(self: Any, type_id: int, timestamp: int, payload: bytes, keyframe: bool) -> Any:
        out = orig(self, type_id, timestamp, payload, keyframe)
        if out.relative_fmt in (1, 2) and out.delta >= 0xFFFFFF:
            # lal's writer: the extended field of a fmt 1/2 header holds the absolute timestamp.
            rel = streams.encode_chunks_joined(out.csid, out.relative_fmt, timestamp, type_id, self.msid, payload,
                                               self.chunk_size, self.ext)
            out = streams.OutgoingMessage(out.csid, type_id, self.msid, timestamp, payload, self.chunk_size,
                                          self.ext, rel, out.relative_fmt, out.delta, keyframe)
        return out

    mp.setattr(streams.FanoutGroup, "prepare", absolute)


def _fmt3_ext_omitted(mp: pytest.MonkeyPatch) -> None:
    from rtmpconf.reference_server import streams
    from rtmpconf.rtmp import chunk

    orig = chunk.encode_chunks_joined

    def old_dialect(*args: Any) -> bytes:
        # The pre-2012 writer (old librtmp): fmt-3 chunks never repeat the extended timestamp.
        return orig(*args[:7], False)

    mp.setattr(chunk, "encode_chunks_joined", old_dialect)
    mp.setattr(streams, "encode_chunks_joined", old_dialect)


FAULTS: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "s2-not-echoing-c1": _s2_not_echoing_c1,
    "data-before-c2": _data_before_c2,
    "fmt3-with-changed-delta": _fmt3_with_changed_delta,
    "no-acknowledgement": _no_acknowledgement,
    "two-queue-auto-replies": _two_queue_auto_replies,
    "late-joiner-mid-gop": _late_joiner_mid_gop,
    "non-monotonic-video": _non_monotonic_video,
    "absolute-ext-delta": _absolute_ext_delta,
    "fmt3-ext-omitted": _fmt3_ext_omitted,
}


@contextlib.contextmanager
def broken_server(fault: str, **config: Any) -> Iterator[ServerThread]:
    """The reference server with ``fault`` patched in, listening on a free port (several faults:
    ``"a+b"``)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in fault.split("+"):
            FAULTS[name](mp)
        srv = ServerThread(ServerConfig.from_mapping({"port": 0, **config})).start()
        try:
            yield srv
        finally:
            srv.stop()
