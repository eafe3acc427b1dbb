"""TCP reassembly per connection and direction, for offline analysis.

Segments are ordered by sequence number (modulo 2**32, relative to the SYN or to the earliest
data segment when the capture began mid-connection). Retransmitted bytes are dropped (and
counted; a retransmission whose bytes differ from the first copy is counted separately and
the first copy kept, as a receiver's stack would). A hole that no later segment fills is a
**gap**: the stream ends there for decoding, the gap and the bytes after it are reported,
and nothing is ever glued across it, because one missing byte desynchronises the RTMP
chunk stream for good.
"""

from __future__ import annotations

from collections.abc import Iterable

from rtmpconf.harness.capture.pcap import TCP_ACK, TcpSegment
from rtmpconf.records import field, record

SEQ_MOD = 1 << 32
HALF = 1 << 31
Endpoint = tuple[str, int]


def format_endpoint(ep: Endpoint) -> str:
    host, port = ep
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@record(frozen=True, slots=True)
class Gap:
    """Bytes of one direction that are not in the capture."""

    offset: int  #: stream offset of the first missing byte
    length: int  #: how many bytes are missing (up to the next captured segment)
    frame: int  #: frame number of the first segment after the hole (or the cut segment)
    reason: str  #: "hole" (segments missing) or "snaplen" (frame cut by the capture)


@record(frozen=True, slots=True)
class StreamPiece:
    """Contiguous new bytes of a direction, with the time they became readable."""

    offset: int
    time: float
    frame: int
    data: bytes


@record
class HalfStream:
    """One direction of a TCP connection, reassembled."""

    src: Endpoint
    dst: Endpoint
    isn: int | None = None  #: sequence number of the SYN, when seen
    pieces: list[StreamPiece] = field(default_factory=list)
    length: int = 0  #: contiguous bytes from offset 0
    gaps: list[Gap] = field(default_factory=list)
    bytes_after_gap: int = 0  #: captured bytes beyond the first gap (not decoded)
    retransmitted: int = 0  #: duplicate bytes dropped
    conflicting: int = 0  #: duplicate bytes whose content differed from the first copy
    out_of_order: int = 0  #: segments that arrived after a segment with a higher sequence number
    before_start: int = 0  #: bytes of segments older than the stream's first byte
    fin_time: float | None = None
    rst_time: float | None = None
    first_time: float | None = None
    segments: int = 0
    _raw: list[TcpSegment] = field(default_factory=list)

    def add(self, seg: TcpSegment) -> None:
        self.segments += 1
        if self.first_time is None:
            self.first_time = seg.time
        if seg.syn and self.isn is None:
            self.isn = seg.seq
        if seg.fin and self.fin_time is None:
            self.fin_time = seg.time
        if seg.rst and self.rst_time is None:
            self.rst_time = seg.time
        if seg.payload or seg.missing:
            self._raw.append(seg)

    @property
    def data(self) -> bytes:
        return b"".join(p.data for p in self.pieces)

    def finish(self) -> None:
        """Order the segments and build the contiguous pieces (call once, after the last add)."""
        raw, self._raw = self._raw, []
        if not raw:
            return
        if self.isn is not None:
            base = (self.isn + 1) % SEQ_MOD
        else:
            # No SYN: the stream starts at the earliest sequence number seen (serial order).
            ref = raw[0].seq
            base = min((s.seq for s in raw), key=lambda q: _signed(q - ref))
        ordered: list[tuple[int, int, TcpSegment]] = []
        highest = -1
        for i, seg in enumerate(raw):
            rel = (seg.seq - base) % SEQ_MOD
            if rel >= HALF:  # before the stream's first byte (e.g. data on the SYN we did not see)
                self.before_start += len(seg.payload)
                continue
            if rel < highest:
                self.out_of_order += 1
            highest = max(highest, rel)
            ordered.append((rel, i, seg))
        ordered.sort(key=lambda item: (item[0], item[1]))
        self._sweep(ordered)

    def _sweep(self, ordered: list[tuple[int, int, TcpSegment]]) -> None:
        buf = bytearray()
        pos = 0
        ready = float("-inf")
        cut_end = 0  # end of the bytes a snap-length-cut frame announced
        for k, (rel, _i, seg) in enumerate(ordered):
            payload = seg.payload
            end = rel + len(payload)
            if seg.missing:
                cut_end = max(cut_end, end + seg.missing)
            if rel > pos:
                reason = "snaplen" if cut_end > pos else "hole"
                self.gaps.append(Gap(pos, rel - pos, seg.frame, reason))
                self.bytes_after_gap = _unique_bytes(ordered[k:], rel)
                break
            if end <= pos:
                self.retransmitted += len(payload)
                if buf[rel:end] != payload:
                    self.conflicting += len(payload)
                continue
            overlap = pos - rel
            if overlap:
                self.retransmitted += overlap
                if buf[rel:pos] != payload[:overlap]:
                    self.conflicting += overlap
            new = payload[overlap:]
            ready = max(ready, seg.time)
            self.pieces.append(StreamPiece(pos, ready, seg.frame, bytes(new)))
            buf += new
            pos = end
        else:
            if cut_end > pos:
                last = ordered[-1][2]
                self.gaps.append(Gap(pos, cut_end - pos, last.frame, "snaplen"))
        self.length = pos


def _signed(delta: int) -> int:
    delta %= SEQ_MOD
    return delta - SEQ_MOD if delta >= HALF else delta


def _unique_bytes(rest: list[tuple[int, int, TcpSegment]], start: int) -> int:
    """Distinct stream bytes covered by ``rest`` (segments from ``start`` on)."""
    covered = 0
    pos = start
    for rel, _i, seg in rest:
        end = rel + len(seg.payload)
        if end > pos:
            covered += end - max(rel, pos)
            pos = end
    return covered


@record
class TcpConnection:
    """One TCP connection: who opened it and both directions."""

    index: int  #: order of the connection's first packet in the capture
    client: Endpoint  #: the side that sent the SYN (or, without one, decided by the caller)
    server: Endpoint
    first_frame: int
    first_time: float
    c2s: HalfStream
    s2c: HalfStream
    syn_seen: bool = False

    def half(self, src: Endpoint) -> HalfStream:
        return self.c2s if src == self.client else self.s2c

    def swap(self) -> None:
        """The other side is the client after all (decided from the payload)."""
        self.client, self.server = self.server, self.client
        self.c2s, self.s2c = self.s2c, self.c2s

    @property
    def closed(self) -> bool:
        return (self.c2s.rst_time is not None or self.s2c.rst_time is not None
                or (self.c2s.fin_time is not None and self.s2c.fin_time is not None))


def reassemble(segments: Iterable[TcpSegment]) -> list[TcpConnection]:
    """Group segments into connections (in order of first packet) and reassemble both ways.

    A SYN (without ACK) with a new initial sequence number on a 4-tuple whose previous
    connection has closed or carried data starts a new connection: ports get reused.
    """
    conns: list[TcpConnection] = []
    current: dict[tuple[Endpoint, Endpoint], TcpConnection] = {}
    for seg in segments:
        src, dst = (seg.src, seg.sport), (seg.dst, seg.dport)
        key = (src, dst) if src <= dst else (dst, src)
        conn = current.get(key)
        pure_syn = seg.syn and not seg.flags & TCP_ACK
        if conn is not None and pure_syn and src == conn.client and conn.c2s.isn not in (None, seg.seq):
            conn = None  # a new connection on a reused 4-tuple
        elif conn is not None and pure_syn and conn.c2s.isn is None and (conn.closed or conn.c2s.segments):
            conn = None
        if conn is None:
            conn = TcpConnection(len(conns), src, dst, seg.frame, seg.time,
                                 HalfStream(src, dst), HalfStream(dst, src), syn_seen=pure_syn)
            conns.append(conn)
            current[key] = conn
        conn.half(src).add(seg)
    for conn in conns:
        conn.c2s.finish()
        conn.s2c.finish()
    return conns
