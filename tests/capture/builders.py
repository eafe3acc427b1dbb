"""Hand-built captures for the capture tests: link/IP/TCP framing with struct, pcap and pcapng
writers, and a small RTMP session made with the rtmp core."""

from __future__ import annotations

import os
import random
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

from rtmpconf.rtmp.chunk import ChunkWriter
from rtmpconf.rtmp.messages import (
    Audio,
    Command,
    Data,
    SetChunkSize,
    SetPeerBandwidth,
    UserControl,
    Video,
    WindowAckSize,
    encode_message,
)

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
CLIENT = ("10.0.0.1", 40000)
SERVER = ("10.0.0.2", 8080)  # deliberately not 1935: detection must not depend on the port


def ip_tcp(src: tuple[str, int], dst: tuple[str, int], seq: int, ack: int, flags: int, payload: bytes,
           *, ipv6: bool = False, frag: int = 0, proto: int = 6) -> bytes:
    """IPv4 or IPv6 + TCP header + payload (checksums left 0: nothing here verifies them)."""
    tcp = struct.pack(">HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags,
                      65535, 0, 0) + payload
    if ipv6:
        return struct.pack(">IHBB", 6 << 28, len(tcp), proto, 64) + socket.inet_pton(
            socket.AF_INET6, src[0]) + socket.inet_pton(socket.AF_INET6, dst[0]) + tcp
    return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, frag, 64, proto, 0,
                       socket.inet_aton(src[0]), socket.inet_aton(dst[0])) + tcp


def link(linktype: int, ip: bytes, *, vlan: bool = False) -> bytes:
    """Wrap an IP packet in the link header of ``linktype``."""
    v6 = ip[0] >> 4 == 6
    etype = 0x86DD if v6 else 0x0800
    if linktype == 1:
        tag = struct.pack(">HH", 0x8100, 7) if vlan else b""
        return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01" + tag + struct.pack(">H", etype) + ip
    if linktype == 113:  # SLL: packet type, ARPHRD_LOOPBACK, addr len, addr(8), protocol
        return struct.pack(">HHH8sH", 0, 772, 0, b"", etype) + ip
    if linktype == 276:  # SLL2: protocol, reserved, ifindex, ARPHRD, packet type, addr len, addr(8)
        return struct.pack(">HHIHBB8s", etype, 0, 1, 772, 0, 0, b"") + ip
    if linktype in (101, 228, 229):
        return ip
    if linktype == 0:  # BSD loopback, host byte order family
        return struct.pack("<I", 30 if v6 else 2) + ip
    raise ValueError(linktype)


def write_pcap(path: Path, frames: list[tuple[float, bytes]], linktype: int = 1, *, snaplen: int = 262144,
               cut_last: int | None = None) -> Path:
    """Classic pcap (microseconds). ``cut_last``: truncate the file this many bytes before its end."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype))
    for t, data in frames:
        cap = data[:snaplen]
        out += struct.pack("<IIII", int(t), int(round((t % 1) * 1e6)), len(cap), len(data)) + cap
    if cut_last:
        out = out[:-cut_last]
    path.write_bytes(bytes(out))
    return path


def write_pcapng(path: Path, frames: list[tuple[float, bytes]], linktype: int = 1, *, snaplen: int = 262144) -> Path:
    """pcapng: section header, one interface (microsecond resolution), enhanced packet blocks."""
    def block(btype: int, body: bytes) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        n = len(body) + 12
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)

    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", linktype, 0, snaplen))
    for t, data in frames:
        us = int(round(t * 1e6))
        cap = data[:snaplen]
        out += block(6, struct.pack("<IIIII", 0, us >> 32, us & 0xFFFFFFFF, len(cap), len(data)) + cap)
    path.write_bytes(out)
    return path


@dataclass
class Segment:
    """One TCP segment of a conversation, before framing."""

    time: float
    src: tuple[str, int]
    dst: tuple[str, int]
    seq: int
    ack: int
    flags: int
    payload: bytes


def conversation(c2s: list[bytes], s2c: list[bytes], *, client: tuple[str, int] = CLIENT,
                 server: tuple[str, int] = SERVER, isn_c: int = 1000, isn_s: int = 5000, mss: int = 1400,
                 handshake: bool = True, close: str = "fin", t0: float = 1_700_000_000.0) -> list[Segment]:
    """A TCP conversation: SYN handshake, then the writes alternating c2s[i], s2c[i], then FIN/RST.

    Each write is cut into segments of at most ``mss`` bytes.
    """
    segs: list[Segment] = []
    seq = {"c": isn_c, "s": isn_s}
    t = t0

    def emit(side: str, flags: int, payload: bytes = b"") -> None:
        nonlocal t
        src, dst = (client, server) if side == "c" else (server, client)
        other = "s" if side == "c" else "c"
        segs.append(Segment(t, src, dst, seq[side], seq[other], flags, payload))
        seq[side] += len(payload) + (1 if flags & (SYN | FIN) else 0)
        t += 0.001

    if handshake:
        emit("c", SYN)
        emit("s", SYN | ACK)
        emit("c", ACK)
    else:
        seq["c"] += 1
        seq["s"] += 1
    for i in range(max(len(c2s), len(s2c))):
        for side, writes in (("c", c2s), ("s", s2c)):
            if i < len(writes):
                data = writes[i]
                for off in range(0, len(data), mss):
                    emit(side, PSH | ACK, data[off:off + mss])
    if close == "fin":
        emit("c", FIN | ACK)
        emit("s", FIN | ACK)
        emit("c", ACK)
    elif close == "rst":
        emit("c", RST)
    return segs


def frames_of(segs: list[Segment], linktype: int = 1, **kw: object) -> list[tuple[float, bytes]]:
    return [(s.time, link(linktype, ip_tcp(s.src, s.dst, s.seq, s.ack, s.flags, s.payload,
                                           ipv6=":" in s.src[0]), **kw)) for s in segs]  # type: ignore[arg-type]


# -- a small RTMP session ----------------------------------------------------------------------


def _encode(w: ChunkWriter, csid: int, msg: object, msid: int = 0, ts: int = 0) -> bytes:
    type_id, payload = encode_message(msg)  # type: ignore[arg-type]
    return w.encode(csid, type_id, msid, ts, payload)


@dataclass
class RtmpExchange:
    """A publisher session: the client's and the server's writes, and what they contain."""

    c2s: list[bytes]
    s2c: list[bytes]
    c2s_types: dict[int, int]
    s2c_types: dict[int, int]


def publisher_session(*, frames: int = 20, seed: int = 1, start_ts: int = 0, chunk: int = 128) -> RtmpExchange:
    """C0C1 / S0S1S2 / C2 + connect ... publish + media, like FFmpeg against a server."""
    rnd = random.Random(seed)
    c0c1 = b"\x03" + bytes(8) + bytes(rnd.getrandbits(8) for _ in range(1528))
    s0s1s2 = b"\x03" + bytes(8) + bytes(rnd.getrandbits(8) for _ in range(1528)) + c0c1[1:]
    c2 = s0s1s2[1:1537]
    cw, sw = ChunkWriter(128), ChunkWriter(128)
    c_types: dict[int, int] = {}
    s_types: dict[int, int] = {}

    def c(csid: int, msg: object, msid: int = 0, ts: int = 0) -> bytes:
        t = encode_message(msg)[0]  # type: ignore[arg-type]
        c_types[t] = c_types.get(t, 0) + 1
        return _encode(cw, csid, msg, msid, ts)

    def s(csid: int, msg: object, msid: int = 0) -> bytes:
        t = encode_message(msg)[0]  # type: ignore[arg-type]
        s_types[t] = s_types.get(t, 0) + 1
        return _encode(sw, csid, msg, msid)

    connect = c(3, Command("connect", 1.0, {"app": "live", "tcUrl": "rtmp://10.0.0.2:8080/live",
                                             "flashVer": "FMLE/3.0"}))
    welcome = (s(2, WindowAckSize(2500000)) + s(2, SetPeerBandwidth(2500000, 2)) + s(2, SetChunkSize(4096)))
    sw.set_chunk_size(4096)
    welcome += s(3, Command("_result", 1.0, {"fmsVer": "FMS/3,0,1,123"},
                            ({"level": "status", "code": "NetConnection.Connect.Success"},)))
    create = c(3, Command("createStream", 2.0, None))
    created = s(3, Command("_result", 2.0, None, (1.0,)))
    publish = c(8, Command("publish", 0.0, None, ("cam", "live")), msid=1)
    started = s(2, UserControl.stream_begin(1)) + s(3, Command(
        "onStatus", 0.0, None, ({"level": "status", "code": "NetStream.Publish.Start"},)), msid=1)
    if chunk != 128:
        media = c(2, SetChunkSize(chunk))
        cw.set_chunk_size(chunk)
    else:
        media = b""
    media += c(4, Data(("@setDataFrame", "onMetaData", {"width": 320.0})), msid=1, ts=start_ts)
    media += c(6, Video(b"\x17\x00\x00\x00\x00" + bytes(30)), msid=1, ts=start_ts)
    for i in range(frames):
        key = i % 10 == 0
        body = bytes([0x17 if key else 0x27, 1, 0, 0, 0]) + bytes(rnd.getrandbits(8) for _ in range(300 + 40 * (i % 3)))
        media += c(6, Video(body), msid=1, ts=start_ts + 40 * i)
        media += c(4, Audio(b"\xaf\x01" + bytes(rnd.getrandbits(8) for _ in range(180))), msid=1, ts=start_ts + 40 * i + 3)
    return RtmpExchange([c0c1, c2 + connect, create, publish, media], [s0s1s2, welcome, created, started],
                        c_types, s_types)


def rtmp_capture(path: Path, *, linktype: int = 1, fmt: str = "pcapng", mutate: object = None,
                 **kw: object) -> tuple[Path, RtmpExchange]:
    """A capture file holding one publisher session (``mutate(segments)`` may edit the segments)."""
    ex = publisher_session()
    segs = conversation(ex.c2s, ex.s2c, **kw)  # type: ignore[arg-type]
    if mutate is not None:
        segs = mutate(segs)  # type: ignore[operator]
    frames = frames_of(segs, linktype)
    writer = write_pcapng if fmt == "pcapng" else write_pcap
    return writer(path, frames, linktype), ex


def garbage_connection(client: tuple[str, int] = ("10.0.0.3", 40001), server: tuple[str, int] = SERVER) -> list[Segment]:
    """An HTTP request on the same server port: not RTMP."""
    return conversation([b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"], [b"HTTP/1.1 404 Not Found\r\n\r\n"],
                        client=client, server=server, t0=1_700_000_000.5)


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


def run_cli(argv: list[str]) -> int:
    """``rtmpconf analyze|replay ...`` through harness.capture.cli.register, the hook harness/cli.py calls
    (kept independent of the other packages' subcommands)."""
    import argparse

    from rtmpconf.harness.capture.cli import register

    parser = argparse.ArgumentParser(prog="rtmpconf")
    handlers = register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(handlers[args.command](args))
