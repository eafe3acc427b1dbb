"""Write a wire log as pcapng with synthesised Ethernet/IPv4/TCP framing (scapy).

The server side is given port 1935 so Wireshark/tshark dissect the stream as RTMP without a
decode-as rule; the client keeps its real port when known. Sequence and acknowledgement
numbers are consistent, so TCP reassembly in Wireshark sees one clean connection:
SYN, SYN-ACK, ACK, the data both ways in time order (segments of at most ``MSS`` bytes),
then FIN (or RST when the log says the connection was reset).
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

from rtmpconf.harness.wirelog import C2S, WireLog

#: Segment size for synthesised data packets (loopback-like, keeps frames small enough).
MSS = 16384
SERVER_PORT = 1935
CLIENT_IP = "127.0.0.1"
SERVER_IP = "127.0.0.2"


#: Above this many reads, consecutive same-direction reads within ``MERGE_GAP_S`` become one
#: segment: a 1-byte dribble would otherwise write thousands of packets (seconds of scapy time)
#: for an attachment nobody reads packet by packet. The wire log keeps every read.
MAX_SEGMENTS = 1500
MERGE_GAP_S = 0.002


def _segments(log: WireLog) -> list[Any]:
    events = log.events
    if len(events) <= MAX_SEGMENTS:
        return list(events)
    merged: list[Any] = []
    for e in events:
        last = merged[-1] if merged else None
        if (last is not None and last.direction == e.direction and e.time - last.time <= MERGE_GAP_S
                and len(last.data) + len(e.data) <= MSS):
            merged[-1] = type(e)(e.direction, last.time, last.offset, last.data + e.data)
        else:
            merged.append(e)
    return merged


#: With ``whole_bytes``, packets past that much TCP payload keep this many payload bytes (the chunk
#: header and a little more); the pcapng records their full length, as a capture with a snap length.
SNAP_PAYLOAD = 64


def wirelog_to_pcapng(log: WireLog, *, client_port: int | None = None, whole_bytes: int | None = None) -> bytes:
    """The log as pcapng bytes. ``whole_bytes``: keep whole packets only until that much payload
    (both directions, in time order) and snap the rest to SNAP_PAYLOAD bytes, so a case that moved
    megabytes of media still gives a small, readable capture (the wire log keeps every byte)."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.utils import PcapNgWriter

    cport = client_port or log.client_port or 50000
    sport = getattr(log, "server_port", None) or SERVER_PORT  # HTTP wire logs name their own port
    # Map monotonic event times onto wall-clock time.
    t_mono0 = log.events[0].time if log.events else time.monotonic()
    t_wall0 = log.wall_start or time.time()
    seq = {C2S: 1000, "s2c": 5000}
    packets = []
    payload_seen = 0

    def pkt(direction: str, flags: str, payload: bytes, t: float) -> None:
        if direction == C2S:
            ip = IP(src=CLIENT_IP, dst=SERVER_IP)
            tcp = TCP(sport=cport, dport=sport, flags=flags, seq=seq[C2S], ack=seq["s2c"], window=65535)
        else:
            ip = IP(src=SERVER_IP, dst=CLIENT_IP)
            tcp = TCP(sport=sport, dport=cport, flags=flags, seq=seq["s2c"], ack=seq[C2S], window=65535)
        nonlocal payload_seen
        p = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / ip / tcp
        if payload:
            p = p / payload
        if payload and whole_bytes is not None and payload_seen + len(payload) > whole_bytes:
            full = bytes(p)
            keep = len(full) - len(payload) + SNAP_PAYLOAD
            if keep < len(full):
                p = Ether(full[:keep])
                p.wirelen = len(full)
        payload_seen += len(payload)
        p.time = t_wall0 + (t - t_mono0)
        packets.append(p)

    start = t_mono0
    pkt(C2S, "S", b"", start)
    seq[C2S] += 1
    pkt("s2c", "SA", b"", start)
    seq["s2c"] += 1
    pkt(C2S, "A", b"", start)
    for e in _segments(log):
        for off in range(0, len(e.data), MSS):
            part = e.data[off:off + MSS]
            pkt(e.direction, "PA", part, e.time)
            seq[e.direction] += len(part)
    end = log.close_time or (log.events[-1].time if log.events else start)
    closer = log.closed_by or C2S
    if log.reset:
        pkt(closer, "R", b"", end)
    else:
        pkt(closer, "FA", b"", end)
        seq[closer] += 1
        other = "s2c" if closer == C2S else C2S
        pkt(other, "FA", b"", end)
        seq[other] += 1
        pkt(closer, "A", b"", end)
    # scapy's writer wants a path; a temporary file keeps this independent of its internals.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "log.pcapng")
        writer = PcapNgWriter(path)
        for p in packets:
            writer.write(p)
        writer.close()
        with open(path, "rb") as fh:
            return fh.read()
