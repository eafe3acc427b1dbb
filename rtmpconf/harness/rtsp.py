"""A small RTSP client for the RTSP cases: requests and responses as they were on the wire, and the
RTP/RTCP packets received (TCP-interleaved or UDP), with depacketisers to compare media.

Written from the RFCs (RTSP 1.0 RFC 2326, RTP RFC 3550, H.264 RFC 6184, HEVC RFC 7798, AAC
RFC 3640), independently of the reference server's packetiser, so the cases judge any server.
Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any


class RtspError(Exception):
    """The server answered with something that is not RTSP, or a step timed out."""


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str]  #: lower-case names
    body: bytes
    raw: bytes
    time: float


@dataclass(frozen=True, slots=True)
class RtpPacket:
    channel: int  #: interleaved channel, or for UDP the track index * 2 (+1 for RTCP)
    data: bytes
    time: float

    @property
    def is_rtcp(self) -> bool:
        return len(self.data) > 1 and 192 <= self.data[1] <= 223

    @property
    def payload_type(self) -> int:
        return self.data[1] & 0x7F

    @property
    def marker(self) -> bool:
        return bool(self.data[1] & 0x80)

    @property
    def seq(self) -> int:
        return int(struct.unpack_from(">H", self.data, 2)[0])

    @property
    def timestamp(self) -> int:
        return int(struct.unpack_from(">I", self.data, 4)[0])

    @property
    def ssrc(self) -> int:
        return int(struct.unpack_from(">I", self.data, 8)[0])

    @property
    def payload(self) -> bytes:
        """Payload after the fixed header, CSRCs and extension (padding removed)."""
        d = self.data
        cc = d[0] & 0x0F
        off = 12 + 4 * cc
        if d[0] & 0x10 and len(d) >= off + 4:
            off += 4 + 4 * struct.unpack_from(">H", d, off + 2)[0]
        end = len(d) - (d[-1] if d[0] & 0x20 and d else 0)
        return d[off:end]


@dataclass
class SdpMedia:
    kind: str  #: "video" / "audio"
    payload_type: int
    encoding: str  #: e.g. "H264", "H265", "MPEG4-GENERIC"
    clock_rate: int
    fmtp: dict[str, str]
    control: str


def parse_sdp(text: str) -> list[SdpMedia]:
    medias: list[SdpMedia] = []
    cur: SdpMedia | None = None
    for line in text.splitlines():
        if line.startswith("m="):
            kind, _, _, pt = (line[2:].split() + ["", "", "", ""])[:4]
            cur = SdpMedia(kind, int(pt) if pt.isdigit() else -1, "", 0, {}, "")
            medias.append(cur)
        elif cur is not None and line.startswith("a=rtpmap:"):
            enc = line.split(" ", 1)[1] if " " in line else ""
            parts = enc.split("/")
            cur.encoding = parts[0].upper()
            cur.clock_rate = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        elif cur is not None and line.startswith("a=fmtp:"):
            params = line.split(" ", 1)[1] if " " in line else ""
            for p in params.split(";"):
                k, _, v = p.strip().partition("=")
                if k:
                    cur.fmtp[k.strip().lower()] = v.strip()
        elif cur is not None and line.startswith("a=control:"):
            cur.control = line[len("a=control:"):].strip()
    return medias


def sprop_parameter_sets(media: SdpMedia) -> list[bytes]:
    """H.264 sprop-parameter-sets, or HEVC sprop-vps/sps/pps, decoded (NAL headers included)."""
    keys = ("sprop-parameter-sets",) if media.encoding == "H264" else ("sprop-vps", "sprop-sps", "sprop-pps")
    out = []
    for k in keys:
        for b64 in media.fmtp.get(k, "").split(","):
            if b64:
                out.append(base64.b64decode(b64 + "=" * (-len(b64) % 4)))
    return out


class RtspClient:
    """One RTSP control connection; media arrive interleaved on it or on UDP sockets."""

    def __init__(self, host: str, port: int, *, timeout: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.cseq = 0
        self.responses: list[Response] = []
        self.sent: list[tuple[str, dict[str, str]]] = []  #: (request line, headers) as sent
        self.packets: list[RtpPacket] = []
        self.session: str | None = None
        self.closed = False
        self._buf = bytearray()
        self._udp: list[asyncio.DatagramTransport] = []
        self.udp_ports: dict[int, tuple[int, int]] = {}  #: track index -> our (RTP, RTCP) ports

    async def open(self) -> None:
        try:
            self.reader, self.writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port),
                                                              self.timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            raise RtspError(f"cannot connect to {self.host}:{self.port}: {exc or 'timeout'}") from None

    async def close(self) -> None:
        for t in self._udp:
            t.close()
        if self.writer is not None and not self.writer.is_closing():
            self.writer.close()
            try:
                await asyncio.wait_for(self.writer.wait_closed(), 1.0)
            except (asyncio.TimeoutError, OSError):
                pass

    async def __aenter__(self) -> RtspClient:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- requests ---------------------------------------------------------------------------------

    async def request(self, method: str, url: str, headers: dict[str, str] | None = None, *,
                      cseq: int | None | bool = True, session: bool = True, raw: bytes | None = None) -> Response:
        """Send a request and wait for its response. ``cseq=False`` sends none (to test a server);
        ``raw`` sends those bytes instead of building a request."""
        assert self.writer is not None
        hdrs: dict[str, str] = {}
        if cseq is not False:
            self.cseq += 1
            hdrs["CSeq"] = str(self.cseq if cseq is True or cseq is None else cseq)
        hdrs["User-Agent"] = "rtmp-conformance"
        if session and self.session:
            hdrs["Session"] = self.session
        hdrs.update(headers or {})
        line = f"{method} {url} RTSP/1.0"
        data = raw if raw is not None else ("\r\n".join([line, *(f"{k}: {v}" for k, v in hdrs.items())])
                                            + "\r\n\r\n").encode()
        self.sent.append((line, hdrs))
        self.writer.write(data)
        resp = await self._read_response()
        self.responses.append(resp)
        sid = resp.headers.get("session")
        if sid and resp.status == 200:
            self.session = sid.split(";", 1)[0].strip()
        return resp

    async def _fill(self, deadline: float) -> None:
        assert self.reader is not None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RtspError("no answer in time")
        try:
            data = await asyncio.wait_for(self.reader.read(65536), remaining)
        except asyncio.TimeoutError:
            raise RtspError("no answer in time") from None
        except OSError as exc:
            self.closed = True
            raise RtspError(f"connection lost: {exc}") from None
        if not data:
            self.closed = True
            raise RtspError("the server closed the connection")
        self._buf += data

    def _take_interleaved(self) -> bool:
        """Move one complete interleaved frame from the buffer into ``packets``; False if none."""
        if len(self._buf) >= 4 and self._buf[0] == 0x24:
            size = struct.unpack_from(">H", self._buf, 2)[0]
            if len(self._buf) >= 4 + size:
                self.packets.append(RtpPacket(self._buf[1], bytes(self._buf[4:4 + size]), time.monotonic()))
                del self._buf[:4 + size]
                return True
        return False

    async def _read_response(self) -> Response:
        deadline = time.monotonic() + self.timeout
        while True:
            while self._take_interleaved():
                pass
            if self._buf and self._buf[0] != 0x24:
                end = self._buf.find(b"\r\n\r\n")
                if end >= 0:
                    head = bytes(self._buf[:end]).decode("utf-8", "replace").split("\r\n")
                    parts = head[0].split(" ", 2)
                    if len(parts) < 2 or not parts[0].startswith("RTSP/") or not parts[1].isdigit():
                        raise RtspError(f"not an RTSP response: {head[0][:80]!r}")
                    headers = {}
                    for line in head[1:]:
                        k, _, v = line.partition(":")
                        headers[k.strip().lower()] = v.strip()
                    length = int(headers.get("content-length", "0") or 0)
                    if len(self._buf) >= end + 4 + length:
                        body = bytes(self._buf[end + 4:end + 4 + length])
                        raw = bytes(self._buf[:end + 4 + length])
                        del self._buf[:end + 4 + length]
                        return Response(int(parts[1]), parts[2] if len(parts) > 2 else "", headers, body, raw,
                                        time.monotonic())
            await self._fill(deadline)

    # -- transports --------------------------------------------------------------------------------

    async def udp_ports_for(self, track: int) -> tuple[int, int]:
        """Open an even/odd pair of local UDP sockets for ``track``; received packets are recorded."""
        loop = asyncio.get_running_loop()
        client = self

        class Rx(asyncio.DatagramProtocol):
            def __init__(self, channel: int) -> None:
                self.channel = channel

            def datagram_received(self, data: bytes, addr: Any) -> None:
                client.packets.append(RtpPacket(self.channel, data, time.monotonic()))

        for _ in range(50):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            if port % 2:
                continue
            try:
                a, _ = await loop.create_datagram_endpoint(lambda: Rx(track * 2), local_addr=("127.0.0.1", port))
                b, _ = await loop.create_datagram_endpoint(lambda: Rx(track * 2 + 1), local_addr=("127.0.0.1", port + 1))
            except OSError:
                continue
            self._udp += [a, b]
            self.udp_ports[track] = (port, port + 1)
            return port, port + 1
        raise RtspError("no free even/odd UDP port pair")

    async def receive(self, seconds: float) -> None:
        """Collect interleaved (and UDP) packets for ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.closed:
            while self._take_interleaved():
                pass
            try:
                await self._fill(deadline)
            except RtspError:
                break
        while self._take_interleaved():
            pass


# -- depacketisers ------------------------------------------------------------------------------------


@dataclass
class AccessUnit:
    timestamp: int
    nalus: list[bytes] = field(default_factory=list)
    marker: bool = False
    first_seq: int = 0


def depacketize_h26x(packets: list[RtpPacket], hevc: bool) -> tuple[list[AccessUnit], list[str]]:
    """Access units (NAL units grouped by RTP timestamp) from H.264 (RFC 6184: single, STAP-A,
    FU-A) or HEVC (RFC 7798: single, AP, FU) packets, and the problems found (broken FUs)."""
    units: list[AccessUnit] = []
    problems: list[str] = []
    fu: bytearray | None = None
    for p in packets:
        pl = p.payload
        if not pl:
            continue
        if not units or units[-1].timestamp != p.timestamp:
            units.append(AccessUnit(p.timestamp, first_seq=p.seq))
        au = units[-1]
        au.marker = au.marker or p.marker
        if hevc:
            t = (pl[0] >> 1) & 0x3F
            if t == 49 and len(pl) > 3:  # FU
                start, end, ft = pl[2] & 0x80, pl[2] & 0x40, pl[2] & 0x3F
                if start:
                    fu = bytearray(bytes(((pl[0] & 0x81) | (ft << 1), pl[1])))
                elif fu is None:
                    problems.append(f"HEVC FU continuation without a start (seq {p.seq})")
                    continue
                fu += pl[3:]
                if end:
                    au.nalus.append(bytes(fu))
                    fu = None
            elif t == 48:  # aggregation packet
                off = 2
                while off + 2 <= len(pl):
                    size = struct.unpack_from(">H", pl, off)[0]
                    au.nalus.append(bytes(pl[off + 2:off + 2 + size]))
                    off += 2 + size
            else:
                au.nalus.append(bytes(pl))
        else:
            t = pl[0] & 0x1F
            if t == 28 and len(pl) > 2:  # FU-A
                start, end = pl[1] & 0x80, pl[1] & 0x40
                if start:
                    fu = bytearray(bytes(((pl[0] & 0xE0) | (pl[1] & 0x1F),)))
                elif fu is None:
                    problems.append(f"FU-A continuation without a start (seq {p.seq})")
                    continue
                fu += pl[2:]
                if end:
                    au.nalus.append(bytes(fu))
                    fu = None
            elif t == 24:  # STAP-A
                off = 1
                while off + 2 <= len(pl):
                    size = struct.unpack_from(">H", pl, off)[0]
                    au.nalus.append(bytes(pl[off + 2:off + 2 + size]))
                    off += 2 + size
            else:
                au.nalus.append(bytes(pl))
    return units, problems


def depacketize_aac(packets: list[RtpPacket], sizelength: int = 13, indexlength: int = 3) -> list[tuple[int, bytes]]:
    """(RTP timestamp, AAC frame) from RFC 3640 AAC-hbr packets (AU-headers-length + AU headers)."""
    out: list[tuple[int, bytes]] = []
    for p in packets:
        pl = p.payload
        if len(pl) < 2:
            continue
        bits = struct.unpack_from(">H", pl, 0)[0]
        header_bytes = (bits + 7) // 8
        hdr_bits = sizelength + indexlength
        count = bits // hdr_bits if hdr_bits else 0
        data_off = 2 + header_bytes
        value = int.from_bytes(pl[2:2 + header_bytes], "big")
        total = header_bytes * 8
        ts = p.timestamp
        for i in range(count):
            shift = total - (i + 1) * hdr_bits
            size = (value >> (shift + indexlength)) & ((1 << sizelength) - 1)
            out.append((ts, bytes(pl[data_off:data_off + size])))
            data_off += size
            ts += 1024
    return out
