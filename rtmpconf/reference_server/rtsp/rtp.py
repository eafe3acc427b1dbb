"""RTP packetisation and RTCP sender reports (pure functions and small state objects, no I/O).

* RTP header: RFC 3550 §5.1 (V=2, no padding/extension/CSRC).
* H.264: RFC 6184 §5.6 single NAL unit packets, §5.8 FU-A for NAL units larger than the MTU; the
  marker bit is set on the last packet of an access unit (§5.1).
* HEVC: RFC 7798 §4.4.1 single NAL unit packets, §4.4.3 fragmentation units (type 49).
* AAC: RFC 3640 §3.3.6 AAC-hbr: AU-headers-length, one 16-bit AU header (13-bit size, 3-bit
  index) per access unit; one AU per packet, marker set (§3.2.3.1 last fragment of an AU).
* RTCP SR: RFC 3550 §6.4.1.
"""

from __future__ import annotations

import struct
import time

#: Payload budget of one RTP packet (bytes after the RTP header): fits a 1500-byte Ethernet MTU
#: with IP/UDP headers and the 4-byte interleaving prefix of RTSP over TCP.
MAX_PAYLOAD = 1400
#: Seconds between 1900-01-01 (NTP epoch) and 1970-01-01 (Unix epoch).
NTP_EPOCH_OFFSET = 2_208_988_800


def rtp_header(payload_type: int, seq: int, timestamp: int, ssrc: int, marker: bool) -> bytes:
    """RFC 3550 §5.1: V=2 P=0 X=0 CC=0 | M PT | sequence | timestamp | SSRC."""
    return struct.pack(">BBHII", 0x80, (0x80 if marker else 0) | payload_type, seq & 0xFFFF,
                       timestamp & 0xFFFFFFFF, ssrc)


def h264_payloads(nalus: list[bytes], mtu: int = MAX_PAYLOAD) -> list[bytes]:
    """RTP payloads for one H.264 access unit: single NAL unit packets, FU-A above ``mtu``."""
    out: list[bytes] = []
    for nal in nalus:
        if len(nal) <= mtu:
            out.append(nal)
            continue
        # RFC 6184 §5.8: FU indicator = F|NRI of the NAL + type 28; FU header = S|E|R|type.
        indicator = (nal[0] & 0xE0) | 28
        nal_type = nal[0] & 0x1F
        body = memoryview(nal)[1:]
        step = mtu - 2
        for off in range(0, len(body), step):
            start = off == 0
            end = off + step >= len(body)
            header = (0x80 if start else 0) | (0x40 if end else 0) | nal_type
            out.append(bytes((indicator, header)) + bytes(body[off:off + step]))
    return out


def hevc_payloads(nalus: list[bytes], mtu: int = MAX_PAYLOAD) -> list[bytes]:
    """RTP payloads for one HEVC access unit: single NAL unit packets, FUs (type 49) above ``mtu``."""
    out: list[bytes] = []
    for nal in nalus:
        if len(nal) <= mtu:
            out.append(nal)
            continue
        # RFC 7798 §4.4.3: PayloadHdr = NAL header with Type 49; FU header = S|E|FuType(6).
        nal_type = (nal[0] >> 1) & 0x3F
        hdr = bytes(((nal[0] & 0x81) | (49 << 1), nal[1]))
        body = memoryview(nal)[2:]
        step = mtu - 3
        for off in range(0, len(body), step):
            start = off == 0
            end = off + step >= len(body)
            out.append(hdr + bytes(((0x80 if start else 0) | (0x40 if end else 0) | nal_type,))
                       + bytes(body[off:off + step]))
    return out


def aac_payload(frame: bytes) -> bytes:
    """RFC 3640 AAC-hbr payload for one access unit: AU-headers-length (16 bits, in bits) and one
    AU header (sizelength 13, indexlength 3, index 0)."""
    return struct.pack(">HH", 16, (len(frame) << 3) & 0xFFF8) + frame


class RtpStream:
    """One RTP stream (a track): sequence numbers, SSRC and the counters an SR reports."""

    def __init__(self, payload_type: int, clock_rate: int, ssrc: int, seq: int, ts_offset: int) -> None:
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.ssrc = ssrc
        self.seq = seq & 0xFFFF
        self.ts_offset = ts_offset & 0xFFFFFFFF
        self.packets = 0
        self.octets = 0
        self.last_rtp: int | None = None  #: RTP timestamp of the last packet
        self.last_wall = 0.0  #: time.time() when it was sent

    def packets_for(self, payloads: list[bytes], media_ts: int, *, marker_last: bool = True) -> list[bytes]:
        """RTP packets for ``payloads`` at media clock ``media_ts`` (before the random offset)."""
        ts = (media_ts + self.ts_offset) & 0xFFFFFFFF
        out = []
        for i, p in enumerate(payloads):
            out.append(rtp_header(self.payload_type, self.seq, ts, self.ssrc,
                                  marker_last and i == len(payloads) - 1) + p)
            self.seq = (self.seq + 1) & 0xFFFF
            self.packets += 1
            self.octets += len(p)
        self.last_rtp = ts
        self.last_wall = time.time()
        return out

    def sender_report(self, media_now: int, now: float | None = None) -> bytes:
        """RFC 3550 §6.4.1 SR for this stream (no report blocks): wall clock ``now`` is media clock
        ``media_now`` (before the random offset)."""
        now = time.time() if now is None else now
        rtp_now = (media_now + self.ts_offset) & 0xFFFFFFFF
        ntp = now + NTP_EPOCH_OFFSET
        sec = int(ntp)
        frac = int((ntp - sec) * (1 << 32)) & 0xFFFFFFFF
        # V=2, RC=0, PT=200 (SR), length = 6 32-bit words after the first.
        return struct.pack(">BBHIIIIII", 0x80, 200, 6, self.ssrc, sec & 0xFFFFFFFF, frac, rtp_now,
                           self.packets & 0xFFFFFFFF, self.octets & 0xFFFFFFFF)
