"""HTTP outputs without sockets: viewer queues drop to a keyframe, the HLS segmenter, HTTP wire
logs as pcapng."""

from __future__ import annotations

from rtmpconf.harness.http.m3u8 import parse_m3u8
from rtmpconf.reference_server.http.hls import HlsStream
from rtmpconf.reference_server.http.tsout import TsPiece
from rtmpconf.reference_server.http.viewers import LAST_CHUNK, HttpViewer, ViewerSet, chunk


class FakeConn:
    def __init__(self) -> None:
        self.data = bytearray()
        self.queued = 0
        self.closed = False

    def viewer(self, chunked: bool = False) -> HttpViewer:
        v = HttpViewer(self.data.extend, lambda: self.queued, self.close, chunked)
        v.started = True
        return v

    def close(self) -> None:
        self.closed = True


def test_slow_viewer_drops_to_the_next_keyframe_and_resumes() -> None:
    vs = ViewerSet(queue_bytes=1000, resume_bytes=100)
    fast, slow = FakeConn(), FakeConn()
    vs.add(fast.viewer())
    v = slow.viewer()
    vs.add(v)
    vs.fanout(b"K1", True)
    slow.queued = 5000  # stops reading
    vs.fanout(b"i1", False)  # over the limit: dropped from here
    assert v.dropping and v.drops == 1
    slow.queued = 0  # drained
    vs.fanout(b"i2", False)  # still waiting for a keyframe
    vs.fanout(b"K2", True)
    vs.fanout(b"i3", False)
    assert bytes(slow.data) == b"K1K2i3" and bytes(fast.data) == b"K1i1i2K2i3"


def test_chunked_viewers_share_one_framed_copy_and_end_with_the_last_chunk() -> None:
    vs = ViewerSet(queue_bytes=1 << 20, resume_bytes=1 << 10)
    a, b = FakeConn(), FakeConn()
    vs.add(a.viewer(chunked=True))
    vs.add(b.viewer(chunked=False))
    vs.fanout(b"hello", True)
    assert bytes(a.data) == chunk(b"hello") == b"5\r\nhello\r\n" and bytes(b.data) == b"hello"
    vs.end_all()
    assert bytes(a.data).endswith(LAST_CHUNK) and a.closed and b.closed and not vs.viewers


def piece(ms: int, key: bool) -> TsPiece:
    return TsPiece(b"\x47" + bytes(187), key, True, ms, ms * 90)


def test_hls_segmenter_window_target_and_discontinuity() -> None:
    h = HlsStream("live", "x", fragment_s=2.0, target_s=6, window=3, keep_removed=1)
    h.on_publish(True)
    for ms in range(0, 10_000, 40):
        h.on_piece(piece(ms, ms % 1000 == 0))
    pl = parse_m3u8(h.playlist("x-{seq}.ts") or "")
    assert not pl.errors and pl.target_duration == 6
    assert [s.seq for s in pl.segments] == [1, 2, 3] and [s.duration for s in pl.segments] == [2.0, 2.0, 2.0]
    assert h.segment(0) is not None and h.segment(4) is None  # 0 kept after removal; 4 still open
    # A republish with timestamps from 0: the next segment is marked.
    h.on_publish(False)
    h.on_publish(True)
    for ms in range(0, 5000, 40):
        h.on_piece(piece(ms, ms % 1000 == 0))
    pl = parse_m3u8(h.playlist("x-{seq}.ts") or "")
    disc = [s.seq for s in pl.segments if s.discontinuity]
    assert disc == [5], pl.text
    # When the marked segment leaves the window, EXT-X-DISCONTINUITY-SEQUENCE counts it.
    for ms in range(5000, 14_000, 40):
        h.on_piece(piece(ms, ms % 1000 == 0))
    pl = parse_m3u8(h.playlist("x-{seq}.ts") or "")
    assert pl.discontinuity_sequence == 1 and not any(s.discontinuity for s in pl.segments)


def test_http_wire_log_becomes_pcapng() -> None:
    from rtmpconf.harness.http.client import HttpWireLog
    from rtmpconf.harness.report.pcap import wirelog_to_pcapng

    log = HttpWireLog("t")
    log.server_port = 8080
    log.client_port = 50123
    log.record("c2s", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    log.record("s2c", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    data = wirelog_to_pcapng(log)
    assert data[:4] == b"\x0a\x0d\x0d\x0a" and b"GET / HTTP/1.1" in data
    assert "client->server 27, server->client 38" in log.render()
