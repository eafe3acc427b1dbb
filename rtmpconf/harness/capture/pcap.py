"""pcap / pcapng frames and the link, IP and TCP headers inside them.

Frames are read raw (bytes and metadata, no dissection) the way scapy's ``RawPcapReader`` /
``RawPcapNgReader`` do; the Ethernet / Linux cooked (SLL, SLL2) / raw-IP / BSD loopback, IPv4,
IPv6 and TCP headers are parsed here with ``struct``, because building scapy packets for every
frame would cost far more than the RTMP decoding itself.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from rtmpconf.records import field, record

# Link-layer header types (tcpdump.org/linktypes.html).
LINKTYPE_NULL = 0  #: BSD loopback: 4-byte address family in host byte order
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101  #: bare IPv4/IPv6 (also written as DLT_RAW 12 or 14 on some systems)
LINKTYPE_LOOP = 108  #: OpenBSD loopback: address family in network byte order
LINKTYPE_LINUX_SLL = 113  #: Linux cooked capture v1 (16-byte header, "tcpdump -i any")
LINKTYPE_LINUX_SLL2 = 276  #: Linux cooked capture v2 (20-byte header)
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
RAW_IP_LINKTYPES = {LINKTYPE_RAW, 12, 14, LINKTYPE_IPV4, LINKTYPE_IPV6}

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_VLAN = {0x8100, 0x88A8, 0x9100}
#: BSD address families that mean IPv6 (NetBSD/OpenBSD 24, FreeBSD 28, Darwin 30).
AF_INET6_VALUES = {24, 28, 30}
#: IPv6 extension headers we step over to find TCP (hop-by-hop, routing, destination options).
IPV6_EXT_HEADERS = {0, 43, 60}
IPPROTO_TCP = 6

PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
PCAP_MAGICS = {b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1"}

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_ACK = 0x10

_TCP = struct.Struct(">HHIIBBH")  # ports, seq, ack, data offset, flags, window
_IPV4 = struct.Struct(">BBHHHBBH4s4s")


class CaptureFormatError(ValueError):
    """The file is not a pcap or pcapng capture."""


@record(frozen=True, slots=True)
class Frame:
    """One captured frame."""

    number: int  #: 1-based, as Wireshark numbers frames
    time: float  #: capture time, seconds since the epoch
    linktype: int
    data: bytes  #: the captured bytes (possibly cut at the snap length)
    wirelen: int  #: length on the wire


@record(frozen=True, slots=True)
class TcpSegment:
    """The TCP part of one frame."""

    frame: int  #: frame number
    time: float
    src: str  #: source address
    sport: int
    dst: str
    dport: int
    seq: int
    ack: int
    flags: int
    payload: bytes  #: captured payload bytes
    missing: int = 0  #: payload bytes the frame announced but the capture cut off (snap length)

    @property
    def syn(self) -> bool:
        return bool(self.flags & TCP_SYN)

    @property
    def fin(self) -> bool:
        return bool(self.flags & TCP_FIN)

    @property
    def rst(self) -> bool:
        return bool(self.flags & TCP_RST)


@record
class FrameStats:
    """What the frame parser skipped and why (reported, never silent)."""

    frames: int = 0
    tcp: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    file_error: str | None = None  #: why reading stopped early (truncated file ...)

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1


def detect_format(path: str | Path) -> str:
    """"pcapng" or "pcap" from the file's magic number."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic == PCAPNG_MAGIC:
        return "pcapng"
    if magic in PCAP_MAGICS:
        return "pcap"
    raise CaptureFormatError(f"{path}: not a pcap or pcapng file (magic {magic.hex() or 'empty'})")


def read_frames(path: str | Path, stats: FrameStats | None = None) -> Iterator[Frame]:
    """Every frame of a pcap or pcapng file, in file order.

    A file that ends in the middle of a record stops the iteration after yielding what is there;
    the reason goes into ``stats.file_error`` instead of an exception (a capture cut by a crash
    is still analysed).
    """
    stats = stats if stats is not None else FrameStats()
    kind = detect_format(path)
    data = Path(path).read_bytes()
    frames = _pcapng_frames(data, stats) if kind == "pcapng" else _pcap_frames(data, stats)
    for frame in frames:
        stats.frames += 1
        yield frame


# The block readers below read exactly what scapy's RawPcapReader / RawPcapNgReader read (the
# tests check them against scapy on the corpus); they exist because importing scapy costs about
# 0.2 s, as long as a whole ``tshark -T fields`` run over a 2 MB capture.


def _pcap_frames(data: bytes, stats: FrameStats) -> Iterator[Frame]:
    """libpcap format: 24-byte file header, then 16-byte record headers (tcpdump.org/manpages/pcap-savefile.5)."""
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nano = magic in (b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1")
    if len(data) < 24:
        stats.file_error = "the file ends inside the pcap file header"
        return
    linktype = struct.unpack_from(endian + "I", data, 20)[0] & 0x0FFFFFFF  # upper bits: FCS flags
    rec = struct.Struct(endian + "IIII")
    pos, number, end = 24, 0, len(data)
    div = 1e9 if nano else 1e6
    while pos < end:
        if end - pos < 16:
            stats.file_error = f"the file ends inside the record header after frame {number}"
            return
        sec, frac, caplen, wirelen = rec.unpack_from(data, pos)
        pos += 16
        number += 1
        body = data[pos:pos + caplen]
        yield Frame(number, sec + frac / div, linktype, body, wirelen)
        if len(body) < caplen:
            stats.file_error = (f"the file ends inside frame {number} "
                                f"({len(body)} of {caplen} captured bytes present)")
            return
        pos += caplen


def _pcapng_frames(data: bytes, stats: FrameStats) -> Iterator[Frame]:
    """pcapng blocks (IETF draft-ietf-opsawg-pcapng): SHB, IDB, EPB, SPB and the obsolete PB."""
    endian = "<"
    interfaces: list[tuple[int, int, float, float]] = []  # linktype, snaplen, resolution, offset
    pos, number, end = 0, 0, len(data)
    while pos < end:
        if end - pos < 12:
            stats.file_error = f"the file ends inside a block header after frame {number}"
            return
        btype = struct.unpack_from(endian + "I", data, pos)[0]
        if btype == 0x0A0D0D0A:  # Section Header Block: its byte-order magic sets the endianness
            bom = data[pos + 8:pos + 12]
            endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            interfaces = []
        blen = struct.unpack_from(endian + "I", data, pos + 4)[0]
        if blen < 12 or pos + blen > end:
            stats.file_error = (f"the file ends inside a block after frame {number} "
                                f"(block of {blen} bytes at offset {pos}, {end - pos} left)")
            return
        body = data[pos + 8:pos + blen - 4]
        pos += blen
        if btype == 1:  # Interface Description Block
            linktype, _res, snaplen = struct.unpack_from(endian + "HHI", body, 0)
            resol, offset = _idb_options(body[8:], endian)
            interfaces.append((linktype, snaplen, resol, offset))
        elif btype in (6, 2):  # Enhanced Packet Block / obsolete Packet Block
            if btype == 6:
                ifid, hi, lo, caplen, wirelen = struct.unpack_from(endian + "IIIII", body, 0)
            else:
                ifid, _drops, hi, lo, caplen, wirelen = struct.unpack_from(endian + "HHIIII", body, 0)
            if ifid >= len(interfaces):
                stats.skip("packet on an undeclared pcapng interface")
                continue
            linktype, _snap, resol, offset = interfaces[ifid]
            number += 1
            yield Frame(number, ((hi << 32) | lo) / resol + offset, linktype, body[20:20 + caplen], wirelen)
        elif btype == 3 and interfaces:  # Simple Packet Block: no timestamp, interface 0
            wirelen = struct.unpack_from(endian + "I", body, 0)[0]
            linktype, snaplen, _resol, _offset = interfaces[0]
            caplen = min(wirelen, snaplen) if snaplen else wirelen
            number += 1
            yield Frame(number, 0.0, linktype, body[4:4 + caplen], wirelen)


def _idb_options(opts: bytes, endian: str) -> tuple[float, float]:
    """(ticks per second, seconds offset) from if_tsresol (9) and if_tsoffset (14); default 1e6."""
    resol, offset = 1e6, 0.0
    pos = 0
    while pos + 4 <= len(opts):
        code, length = struct.unpack_from(endian + "HH", opts, pos)
        value = opts[pos + 4:pos + 4 + length]
        if code == 0:
            break
        if code == 9 and value:
            v = value[0]
            resol = float(2 ** (v & 0x7F)) if v & 0x80 else float(10 ** v)
        elif code == 14 and len(value) >= 8:
            offset = float(struct.unpack_from(endian + "q", value)[0])
        pos += 4 + length + (-length % 4)
    return resol, offset


def _network_layer(linktype: int, data: bytes) -> tuple[int, int] | str:
    """(ethertype-like protocol, offset of the IP header) or the reason to skip the frame."""
    if linktype == LINKTYPE_ETHERNET:
        if len(data) < 14:
            return "truncated link header"
        off = 12
        etype = (data[off] << 8) | data[off + 1]
        while etype in ETHERTYPE_VLAN:  # 802.1Q / QinQ tags: 4 bytes each
            off += 4
            if len(data) < off + 2:
                return "truncated link header"
            etype = (data[off] << 8) | data[off + 1]
        return etype, off + 2
    if linktype == LINKTYPE_LINUX_SLL:
        # packet type(2) ARPHRD(2) address length(2) address(8) protocol(2)
        if len(data) < 16:
            return "truncated link header"
        return (data[14] << 8) | data[15], 16
    if linktype == LINKTYPE_LINUX_SLL2:
        # protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1) address length(1) address(8)
        if len(data) < 20:
            return "truncated link header"
        return (data[0] << 8) | data[1], 20
    if linktype in RAW_IP_LINKTYPES:
        if not data:
            return "empty frame"
        version = data[0] >> 4
        return (ETHERTYPE_IPV4 if version == 4 else ETHERTYPE_IPV6 if version == 6 else -1), 0
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if len(data) < 4:
            return "truncated link header"
        fam_le, fam_be = struct.unpack_from("<I", data)[0], struct.unpack_from(">I", data)[0]
        family = fam_be if linktype == LINKTYPE_LOOP else (fam_le if fam_le < 0x10000 else fam_be)
        if family == 2:
            return ETHERTYPE_IPV4, 4
        if family in AF_INET6_VALUES:
            return ETHERTYPE_IPV6, 4
        return f"loopback address family {family}"
    return f"unsupported link type {linktype}"


def parse_tcp(frame: Frame, stats: FrameStats | None = None) -> TcpSegment | None:
    """The TCP segment in ``frame``, or None (the reason is counted in ``stats``)."""
    stats = stats if stats is not None else FrameStats()
    data = frame.data
    layer = _network_layer(frame.linktype, data)
    if isinstance(layer, str):
        stats.skip(layer)
        return None
    etype, off = layer
    if etype == ETHERTYPE_IPV4:
        if len(data) < off + 20:
            stats.skip("truncated IPv4 header")
            return None
        vihl, _tos, total, _ident, frag, _ttl, proto, _csum, src_b, dst_b = _IPV4.unpack_from(data, off)
        ihl = (vihl & 0x0F) * 4
        if proto != IPPROTO_TCP:
            stats.skip(f"IPv4 protocol {proto} (not TCP)")
            return None
        if frag & 0x3FFF:  # more-fragments flag or a fragment offset
            stats.skip("IPv4 fragment (not reassembled)")
            return None
        ip_end = off + total  # Ethernet pads short frames: trust the IP length, not the frame
        tcp_off = off + ihl
        src, dst = "%d.%d.%d.%d" % tuple(src_b), "%d.%d.%d.%d" % tuple(dst_b)  # no socket import: start-up
    elif etype == ETHERTYPE_IPV6:
        if len(data) < off + 40:
            stats.skip("truncated IPv6 header")
            return None
        plen = (data[off + 4] << 8) | data[off + 5]
        nxt = data[off + 6]
        import socket

        src = socket.inet_ntop(socket.AF_INET6, data[off + 8:off + 24])
        dst = socket.inet_ntop(socket.AF_INET6, data[off + 24:off + 40])
        ip_end = off + 40 + plen
        tcp_off = off + 40
        while nxt in IPV6_EXT_HEADERS and len(data) >= tcp_off + 2:
            nxt, hlen = data[tcp_off], (data[tcp_off + 1] + 1) * 8
            tcp_off += hlen
        if nxt != IPPROTO_TCP:
            stats.skip(f"IPv6 next header {nxt} (not TCP)")
            return None
    else:
        stats.skip(f"ethertype 0x{etype & 0xFFFF:04x} (not IP)")
        return None
    if len(data) < tcp_off + 20:
        stats.skip("truncated TCP header")
        return None
    sport, dport, seq, ack, doff, flags, _win = _TCP.unpack_from(data, tcp_off)
    start = tcp_off + (doff >> 4) * 4
    announced = max(0, ip_end - start)
    captured_end = min(ip_end, len(data))
    payload = data[start:captured_end] if captured_end > start else b""
    stats.tcp += 1
    return TcpSegment(frame.number, frame.time, src, sport, dst, dport, seq, ack, flags, payload,
                      announced - len(payload))


def read_segments(path: str | Path, stats: FrameStats | None = None) -> Iterator[TcpSegment]:
    """Every TCP segment of a capture, in file order."""
    stats = stats if stats is not None else FrameStats()
    for frame in read_frames(path, stats):
        seg = parse_tcp(frame, stats)
        if seg is not None:
            yield seg
