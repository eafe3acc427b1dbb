"""What characterises a client's session on the wire, extracted from a wire log.

Used to compare a simulated client profile with a recording of the real program.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from rtmpconf.harness.wirelog import C2S, WireLog
from rtmpconf.rtmp.handshake import HANDSHAKE_SIZE
from rtmpconf.rtmp.messages import Command, Data, SetChunkSize, UserControl, WindowAckSize

C0C1 = 1 + HANDSHAKE_SIZE
C0C1C2 = 1 + 2 * HANDSHAKE_SIZE


def _kind(type_id: int) -> str:
    return {8: "audio", 9: "video", 18: "data", 15: "data", 20: "command", 17: "command",
            4: "user-control"}.get(type_id, "control")


@dataclass
class SessionFeatures:
    c0c1_writes: list[int] = field(default_factory=list)  #: sizes of the writes that carried C0+C1
    c2_coalesced: bool = False  #: C2 and the first chunk bytes in one write (librtmp)
    version: int | None = None  #: C0
    commands: list[str] = field(default_factory=list)  #: command names in order
    csids: dict[str, list[int]] = field(default_factory=dict)  #: message kind -> csids used
    chunk_sizes: list[int] = field(default_factory=list)  #: Set Chunk Size values sent
    window_ack: list[int] = field(default_factory=list)  #: Window Ack Size values sent
    buffer_ms: list[int] = field(default_factory=list)  #: SetBufferLength values sent
    ext_dialect: str | None = None  #: "present" / "omitted" when fmt-3 ext timestamps occurred
    flash_ver: str | None = None  #: connect's flashVer
    connect_keys: list[str] = field(default_factory=list)  #: connect command object keys
    data_names: list[str] = field(default_factory=list)  #: data message handler names

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def session_features(log: WireLog) -> SessionFeatures:
    f = SessionFeatures()
    sent = 0
    for e in log.events:
        if e.direction != C2S:
            continue
        if sent < C0C1:
            f.c0c1_writes.append(min(len(e.data), C0C1 - sent))
        if sent < C0C1C2 <= sent + len(e.data) and sent + len(e.data) > C0C1C2:
            f.c2_coalesced = True
        sent += len(e.data)
    data = log.bytes(C2S)
    f.version = data[0] if data else None
    dec = log.decode(C2S)
    for m in dec.messages:
        msg = m.message
        f.csids.setdefault(_kind(m.raw.type_id), [])
        if m.raw.csid not in f.csids[_kind(m.raw.type_id)]:
            f.csids[_kind(m.raw.type_id)].append(m.raw.csid)
        if isinstance(msg, Command):
            f.commands.append(msg.name)
            if msg.name == "connect" and isinstance(msg.command_object, dict):
                f.flash_ver = msg.command_object.get("flashVer") or msg.command_object.get("flashver")
                f.connect_keys = list(msg.command_object)
        elif isinstance(msg, SetChunkSize):
            f.chunk_sizes.append(msg.size)
        elif isinstance(msg, WindowAckSize):
            f.window_ack.append(msg.size)
        elif isinstance(msg, UserControl) and msg.event == 3 and msg.buffer_ms is not None:
            f.buffer_ms.append(msg.buffer_ms)
        elif isinstance(msg, Data) and msg.name:
            if msg.name not in f.data_names:
                f.data_names.append(msg.name)
    if dec.fmt3_ext_present or dec.fmt3_ext_omitted:
        f.ext_dialect = "present" if dec.fmt3_ext_present >= dec.fmt3_ext_omitted else "omitted"
    return f
