"""ChunkScanner: the load players' header walker counts exactly what a full decoder sees."""

from __future__ import annotations

import pytest

from rtmpconf.harness.load.media import MARKER_PEEK, LoopFrame, marked_payload
from rtmpconf.harness.load.scanner import ChunkScanner, LatencyHistogram
from rtmpconf.rtmp import media
from rtmpconf.rtmp.chunk import ChunkReader, ChunkWriter
from rtmpconf.rtmp.messages import Command, SetChunkSize, UserControl, WindowAckSize, encode_message

SENT_NS = 1_000_000_000_000


def _frame(i: int, size: int) -> bytes:
    head = media.build_avc_video(1 if i == 0 else 2, 1, 0, b"")[:5]
    nal = size.to_bytes(4, "big") + b"\x41" + bytes([i]) * (size - 1)  # one AVCC slice NAL
    return marked_payload(LoopFrame(9, 40 * i, head, nal, i == 0), 3, i, SENT_NS + i)


def server_stream(skip: int | None = None, big_ts: bool = False) -> tuple[bytes, int]:
    """A server's output to a player: control, commands, media; returns (bytes, marked frames)."""
    w = ChunkWriter(128)
    parts = []

    def send(csid: int, msg: object, msid: int = 0, ts: int = 0) -> None:
        type_id, payload = encode_message(msg)  # type: ignore[arg-type]
        parts.append(w.encode(csid, type_id, msid, ts, payload))

    send(2, WindowAckSize(5000))
    send(2, SetChunkSize(4096))
    w.set_chunk_size(4096)
    send(3, Command("_result", 1.0, {"fmsVer": "x"}, ({"code": "NetConnection.Connect.Success"},)))
    send(3, Command("onStatus", 0.0, None, ({"level": "status", "code": "NetStream.Play.Start"},)), msid=1)
    send(2, UserControl.ping_request(0x01020304))
    base = 0xFFFFF0 if big_ts else 0  # crosses into extended timestamps (§5.3.1.3)
    marked = 0
    for i in range(12):
        if i == skip:
            continue
        parts.append(w.encode(6, 9, 1, base + 40 * i, _frame(i, 9000 if i % 3 else 300)))
        marked += 1
        parts.append(w.encode(4, 8, 1, base + 40 * i + 5, media.build_aac_audio(1, b"\x21" * 200)))
    # A chunk stream id in the 2-byte and the 3-byte basic header forms.
    parts.append(w.encode(100, 18, 1, base + 500, b"\x02\x00\x03abc"))
    parts.append(w.encode(400, 18, 1, base + 500, b"\x02\x00\x03abc"))
    return b"".join(parts), marked


def scan_in_pieces(data: bytes, cuts: list[int], warmup_frames: int = 0) -> ChunkScanner:
    sc = ChunkScanner(LatencyHistogram(), handshake_bytes=0, warmup_frames=warmup_frames)
    buf = bytearray(len(data) + 8192)
    prev = 0
    for cut in [*cuts, len(data)]:
        k = sc.load_carry(buf)
        piece = data[prev:cut]
        buf[k:k + len(piece)] = piece
        sc.scan(buf, k + len(piece), SENT_NS + 5_000_000)
        prev = cut
    return sc


def check(sc: ChunkScanner, data: bytes, marked: int) -> None:
    reader = ChunkReader(chunk_size=128)
    reader.feed(data)
    msgs = reader.messages()
    assert sc.video == sum(1 for m in msgs if m.type_id == 9) == marked
    assert sc.audio == sum(1 for m in msgs if m.type_id == 8)
    assert sc.data == 2
    assert sc.frames == marked and sc.histogram is not None and sc.histogram.total == marked
    assert sc.media_bytes == sum(len(m.payload) for m in msgs if m.type_id in (8, 9))
    assert sc.play_started and sc.chunk_size == 4096 and sc.window == 5000
    assert sc.lat_max_us <= 5000 and sc.lat_n == marked
    # The ping was answered (PingResponse, event 7, same 4 bytes) and acks went out.
    assert b"\x00\x07\x01\x02\x03\x04" in sc.out
    assert sc.rx == len(data)


@pytest.mark.parametrize("big_ts", [False, True])
def test_every_split_point_counts_the_same(big_ts: bool) -> None:
    data, marked = server_stream(big_ts=big_ts)
    check(scan_in_pieces(data, []), data, marked)
    step = 1 if len(data) < 20_000 else 7
    for cut in range(1, len(data), step):
        check(scan_in_pieces(data, [cut]), data, marked)


def test_byte_by_byte() -> None:
    data, marked = server_stream()
    check(scan_in_pieces(data, list(range(1, len(data)))), data, marked)


def test_warmup_frames_are_counted_not_timed() -> None:
    """A publish's first frames (sequence numbers below warmup_frames) count as received frames
    and for the first-frame time, never as latency samples."""
    data, marked = server_stream()
    sc = scan_in_pieces(data, [len(data) // 3], warmup_frames=5)
    assert sc.frames == marked == 12 and sc.seq_first == 0 and sc.seq_gaps == 0
    assert sc.first_frame_ns == SENT_NS + 5_000_000
    assert sc.lat_n == 7 and sc.histogram is not None and sc.histogram.total == 7
    # Every frame of this stream is a warm-up frame: nothing is timed, everything counted.
    sc = scan_in_pieces(data, [], warmup_frames=100)
    assert sc.frames == 12 and sc.lat_n == 0 and sc.histogram is not None and sc.histogram.total == 0


def test_skipped_frame_is_a_gap() -> None:
    data, marked = server_stream(skip=5)
    sc = scan_in_pieces(data, [len(data) // 2])
    assert sc.seq_gaps == 1 and sc.frames == marked == 11
    assert sc.seq_first == 0 and sc.seq_last == 11


def test_marker_layout() -> None:
    p = _frame(2, 50)
    assert len(p) >= MARKER_PEEK
    tag = media.parse_video_tag(p)
    nals = media.split_nalus(tag.body, 4)
    # The marker is a well-formed SEI NAL (type 6) before the picture data.
    assert bytes(nals[0][:1]) == b"\x06" and bytes(nals[0][-1:]) == b"\x80"


def test_histogram_percentiles() -> None:
    h = LatencyHistogram()
    for us in range(1, 1001):
        h.add(us)
    p = h.percentiles()
    assert p["p50"] == 0.5 and p["p99"] == 0.99 and p["max"] == 1.0 and p["count"] == 1000
