"""Build wire logs of fake (often deliberately broken) servers for checker unit tests."""

from __future__ import annotations

import os

from harness.wirelog import C2S, S2C, WireLog
from rtmp.chunk import ChunkWriter, MessagePlan
from rtmp.messages import Message, encode_message
from rtmp.session import default_csid


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
