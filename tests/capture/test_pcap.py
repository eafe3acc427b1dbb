"""pcap/pcapng frames and link/IP/TCP parsing (harness.capture.pcap)."""

from __future__ import annotations

import pytest

from rtmpconf.harness.capture.pcap import CaptureFormatError, FrameStats, detect_format, read_frames, read_segments
from tests.capture.builders import (
    ACK,
    CLIENT,
    PSH,
    SERVER,
    Segment,
    frames_of,
    ip_tcp,
    link,
    write_pcap,
    write_pcapng,
)


def _one(tmp_path, linktype, *, ipv6=False, vlan=False, fmt="pcap"):
    src, dst = (("fd00::1", 40000), ("fd00::2", 8080)) if ipv6 else (CLIENT, SERVER)
    frame = link(linktype, ip_tcp(src, dst, 77, 99, PSH | ACK, b"hello", ipv6=ipv6), vlan=vlan)
    writer = write_pcap if fmt == "pcap" else write_pcapng
    path = writer(tmp_path / f"x.{fmt}", [(1_700_000_000.25, frame)], linktype)
    stats = FrameStats()
    segs = list(read_segments(path, stats))
    return segs, stats


@pytest.mark.parametrize("linktype", [1, 113, 276, 101, 228, 0])
@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_link_types(tmp_path, linktype, fmt):
    segs, stats = _one(tmp_path, linktype, fmt=fmt)
    assert stats.skipped == {}
    (seg,) = segs
    assert (seg.src, seg.sport, seg.dst, seg.dport) == (*CLIENT, *SERVER)
    assert (seg.seq, seg.ack, seg.payload) == (77, 99, b"hello")
    assert seg.time == pytest.approx(1_700_000_000.25)


@pytest.mark.parametrize("linktype", [1, 113, 276, 229])
def test_ipv6(tmp_path, linktype):
    segs, _ = _one(tmp_path, linktype, ipv6=True)
    assert segs[0].src == "fd00::1" and segs[0].payload == b"hello"


def test_vlan_tag(tmp_path):
    segs, _ = _one(tmp_path, 1, vlan=True)
    assert segs[0].payload == b"hello"


def test_ethernet_padding_is_not_payload(tmp_path):
    # A bare ACK is padded to the 60-byte Ethernet minimum: the IP length says there is no payload.
    frame = link(1, ip_tcp(CLIENT, SERVER, 1, 1, ACK, b"")) + b"\x00" * 6
    path = write_pcap(tmp_path / "pad.pcap", [(1.0, frame)])
    (seg,) = read_segments(path)
    assert seg.payload == b""


def test_skipped_frames_are_counted_with_reasons(tmp_path):
    frames = [
        (1.0, link(1, ip_tcp(CLIENT, SERVER, 1, 1, ACK, b"udp", proto=17))),
        (1.1, link(1, ip_tcp(CLIENT, SERVER, 1, 1, ACK, b"frag", frag=0x2000))),
        (1.2, b"\xff" * 12 + b"\x08\x06" + b"\x00" * 28),  # ARP
        (1.3, link(1, ip_tcp(CLIENT, SERVER, 1, 1, ACK, b"ok"))),
    ]
    stats = FrameStats()
    segs = list(read_segments(write_pcap(tmp_path / "mix.pcap", frames), stats))
    assert [s.payload for s in segs] == [b"ok"]
    assert stats.frames == 4 and stats.tcp == 1
    assert stats.skipped == {"IPv4 protocol 17 (not TCP)": 1, "IPv4 fragment (not reassembled)": 1,
                             "ethertype 0x0806 (not IP)": 1}


def test_unsupported_link_type(tmp_path):
    stats = FrameStats()
    path = write_pcap(tmp_path / "odd.pcap", [(1.0, b"\x00" * 40)], linktype=147)
    assert list(read_segments(path, stats)) == []
    assert stats.skipped == {"unsupported link type 147": 1}


def test_snaplen_cut_payload_is_reported_missing(tmp_path):
    frame = link(1, ip_tcp(CLIENT, SERVER, 1, 1, PSH | ACK, b"x" * 100))
    path = write_pcap(tmp_path / "snap.pcap", [(1.0, frame)], snaplen=len(frame) - 40)
    (seg,) = read_segments(path)
    assert len(seg.payload) == 60 and seg.missing == 40


def test_truncated_file_stops_with_a_reason(tmp_path):
    segs = [Segment(1.0 + i, CLIENT, SERVER, 100 * i, 0, PSH | ACK, b"a" * 100) for i in range(3)]
    path = write_pcap(tmp_path / "cut.pcap", frames_of(segs), cut_last=30)
    stats = FrameStats()
    frames = list(read_frames(path, stats))
    assert len(frames) == 3 and len(frames[2].data) == len(frames[1].data) - 30
    assert stats.file_error == "the file ends inside frame 3 (124 of 154 captured bytes present)"


def test_not_a_capture(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("hello world")
    with pytest.raises(CaptureFormatError):
        detect_format(p)


def _scapy_frames(path):
    from scapy.utils import RawPcapNgReader, RawPcapReader

    kind = detect_format(path)
    reader = RawPcapNgReader(str(path)) if kind == "pcapng" else RawPcapReader(str(path))
    out = []
    with reader:
        for data, meta in reader:
            if kind == "pcapng":
                out.append((((meta.tshigh << 32) | meta.tslow) / meta.tsresol, meta.linktype, data))
            else:
                out.append((meta.sec + meta.usec / 1e6, reader.linktype, data))
    return out


def test_reader_agrees_with_scapy_raw_readers(tmp_path):
    from pathlib import Path

    from tests.capture.builders import conversation

    captures = sorted((Path(__file__).resolve().parents[2] / "captures").glob("*.pcapng"))
    segs = conversation([b"a" * 3000], [b"b" * 100])
    captures += [write_pcap(tmp_path / "s.pcap", frames_of(segs), 113),
                 write_pcapng(tmp_path / "s.pcapng", frames_of(segs, 276), 276)]
    for path in captures:
        ours = [(f.time, f.linktype, f.data) for f in read_frames(path)]
        theirs = _scapy_frames(path)
        assert len(ours) == len(theirs) > 0, path
        for (t1, l1, d1), (t2, l2, d2) in zip(ours, theirs):
            assert (l1, d1) == (l2, d2) and t1 == pytest.approx(t2, abs=1e-6), path
