"""RTMP sessions in a capture, on any port, as WireLogs.

A TCP connection is an RTMP session when one side's stream starts with C0 = 3 followed by at
least the 1536 bytes of C1 (§5.2.2, §5.2.3); that side is the client. Wireshark only tries
RTMP on port 1935 unless told otherwise; here the port does not matter. Everything else is
reported as skipped with the reason.
"""

from __future__ import annotations

from pathlib import Path

from rtmpconf.harness.capture.pcap import FrameStats, detect_format, read_segments
from rtmpconf.harness.capture.reassembly import HalfStream, TcpConnection, format_endpoint, reassemble
from rtmpconf.harness.wirelog import C2S, S2C, Direction, WireLog
from rtmpconf.records import field, record
from rtmpconf.rtmp.handshake import HANDSHAKE_SIZE, RTMP_VERSION, RTMPE_VERSION

#: C0 + C1: what a client must have sent before we call a connection RTMP.
C0C1 = 1 + HANDSHAKE_SIZE


@record
class RtmpSession:
    """One RTMP session of a capture, decoded into the wire log type the checkers read."""

    index: int  #: 0-based among the capture's RTMP sessions
    connection: TcpConnection
    log: WireLog
    notes: list[str] = field(default_factory=list)  #: gaps, missing SYN, retransmissions ...

    @property
    def client(self) -> str:
        return format_endpoint(self.connection.client)

    @property
    def server(self) -> str:
        return format_endpoint(self.connection.server)

    def half(self, direction: Direction) -> HalfStream:
        return self.connection.c2s if direction == C2S else self.connection.s2c


@record
class SkippedConnection:
    """A TCP connection that is not (decodable) RTMP, and why."""

    client: str
    server: str
    first_frame: int
    reason: str
    bytes_c2s: int
    bytes_s2c: int


@record
class CaptureSessions:
    """Everything found in one capture file."""

    path: str
    format: str
    stats: FrameStats
    connections: int
    sessions: list[RtmpSession]
    skipped: list[SkippedConnection]


def _looks_like_client(half: HalfStream) -> bool:
    data = half.pieces[0].data if half.pieces else b""
    return half.length >= C0C1 and data[:1] == bytes([RTMP_VERSION])


def _first_byte(half: HalfStream) -> int | None:
    return half.pieces[0].data[0] if half.pieces and half.pieces[0].data else None


def classify(conn: TcpConnection) -> str | None:
    """None when ``conn`` is an RTMP session (swapping client/server if needed), else the reason."""
    if not conn.syn_seen:
        # No SYN in the capture: the client is the side that sent C0+C1 first.
        a, b = conn.c2s, conn.s2c
        a_ok, b_ok = _looks_like_client(a), _looks_like_client(b)
        if b_ok and (not a_ok or (b.pieces[0].time, b.pieces[0].frame) < (a.pieces[0].time, a.pieces[0].frame)):
            conn.swap()
    c2s = conn.c2s
    first = _first_byte(c2s)
    if first is None:
        if c2s.gaps:
            return "the client's first bytes are missing from the capture (gap at offset 0)"
        return "no payload from the client"
    if first == RTMPE_VERSION:
        return "C0 = 6: RTMPE (encrypted), not decodable"
    if first != RTMP_VERSION:
        return f"first client byte 0x{first:02x} is not C0 = 3: not RTMP"
    if c2s.length < C0C1:
        more = f" (then a gap of {c2s.gaps[0].length} bytes)" if c2s.gaps else ""
        return f"C0 = 3 but only {c2s.length} of the {C0C1} bytes of C0+C1{more}"
    return None


def session_log(conn: TcpConnection, label: str) -> WireLog:
    """Both directions' contiguous bytes as WireLog events, in capture order."""
    log = WireLog(label)
    items: list[tuple[float, int, int, Direction, bytes]] = []
    for direction, half in ((C2S, conn.c2s), (S2C, conn.s2c)):
        for p in half.pieces:
            items.append((p.time, p.frame, 0 if direction == C2S else 1, direction, p.data))
    items.sort(key=lambda it: (it[0], it[1], it[2]))
    log.wall_start = items[0][0] if items else conn.first_time
    for t, _frame, _k, direction, data in items:
        log.add(direction, data, t)
    log.client_port = conn.client[1]
    _mark_close(log, conn)
    return log


def _mark_close(log: WireLog, conn: TcpConnection) -> None:
    # WireLog.closed_by names the direction of the side that closed first.
    ends: list[tuple[float, Direction, bool]] = []
    for direction, half in ((C2S, conn.c2s), (S2C, conn.s2c)):
        if half.rst_time is not None:
            ends.append((half.rst_time, direction, True))
        if half.fin_time is not None:
            ends.append((half.fin_time, direction, False))
    if ends:
        t, direction, reset = min(ends, key=lambda e: e[0])
        log.mark_closed(direction, t, reset=reset)


def session_notes(conn: TcpConnection) -> list[str]:
    notes: list[str] = []
    if not conn.syn_seen:
        notes.append("no SYN captured: the connection was already open when the capture started")
    for name, half in (("c2s", conn.c2s), ("s2c", conn.s2c)):
        for g in half.gaps:
            notes.append(f"{name}: {g.length} bytes missing at stream offset {g.offset} "
                         f"({'frames cut at the snap length' if g.reason == 'snaplen' else 'segments not captured'}, "
                         f"before frame {g.frame}); {half.bytes_after_gap} captured bytes after it not decoded")
        if half.retransmitted:
            notes.append(f"{name}: {half.retransmitted} retransmitted bytes dropped"
                         + (f", {half.conflicting} of them differed from the first copy (first copy kept)"
                            if half.conflicting else ""))
        if half.out_of_order:
            notes.append(f"{name}: {half.out_of_order} segments arrived out of order (reordered)")
        if half.before_start:
            notes.append(f"{name}: {half.before_start} bytes before the stream's first byte ignored")
    if not conn.closed:
        notes.append("the capture ends before the connection closed")
    return notes


def read_capture(path: str | Path) -> CaptureSessions:
    """Every RTMP session of ``path``, in order of the connections' first packets."""
    fmt = detect_format(path)
    stats = FrameStats()
    conns = reassemble(read_segments(path, stats))
    sessions: list[RtmpSession] = []
    skipped: list[SkippedConnection] = []
    for conn in conns:
        reason = classify(conn)
        client, server = format_endpoint(conn.client), format_endpoint(conn.server)
        if reason is not None:
            skipped.append(SkippedConnection(client, server, conn.first_frame, reason,
                                             conn.c2s.length, conn.s2c.length))
            continue
        log = session_log(conn, f"{client} -> {server}")
        sessions.append(RtmpSession(len(sessions), conn, log, session_notes(conn)))
    return CaptureSessions(str(path), fmt, stats, len(conns), sessions, skipped)
