"""TCP reassembly (harness.capture.reassembly): order, retransmissions, gaps, wrap, port reuse."""

from __future__ import annotations

import random

import pytest

from rtmpconf.harness.capture.pcap import TcpSegment
from rtmpconf.harness.capture.reassembly import reassemble
from tests.capture.builders import CLIENT, SERVER, Segment, conversation


def _tcp(segs: list[Segment]) -> list[TcpSegment]:
    return [TcpSegment(i + 1, s.time, s.src[0], s.src[1], s.dst[0], s.dst[1], s.seq, s.ack, s.flags, s.payload)
            for i, s in enumerate(segs)]


C2S_DATA = [bytes(range(256)) * 20, b"tail" * 100]
S2C_DATA = [b"S" * 3000]


def _conv(**kw):
    return conversation(C2S_DATA, S2C_DATA, mss=500, **kw)


def test_in_order():
    (conn,) = reassemble(_tcp(_conv()))
    assert (conn.client, conn.server) == (CLIENT, SERVER)
    assert conn.c2s.data == b"".join(C2S_DATA) and conn.s2c.data == b"".join(S2C_DATA)
    assert conn.syn_seen and conn.closed
    assert not conn.c2s.gaps and conn.c2s.retransmitted == 0


def test_out_of_order_is_reordered_and_times_never_go_back():
    segs = _conv()
    data_idx = [i for i, s in enumerate(segs) if s.payload and s.src == CLIENT]
    a, b = data_idx[2], data_idx[3]
    segs[a], segs[b] = segs[b], segs[a]
    (conn,) = reassemble(_tcp(segs))
    assert conn.c2s.data == b"".join(C2S_DATA)
    assert conn.c2s.out_of_order == 1
    times = [p.time for p in conn.c2s.pieces]
    assert times == sorted(times)


def test_retransmissions_are_dropped_and_counted():
    segs = _conv()
    dup = next(s for s in segs if s.payload and s.src == CLIENT)
    segs.append(Segment(dup.time + 1, dup.src, dup.dst, dup.seq, dup.ack, dup.flags, dup.payload))
    # a retransmission that overlaps two original segments
    segs.append(Segment(dup.time + 2, dup.src, dup.dst, dup.seq + 250, dup.ack, dup.flags,
                        b"".join(C2S_DATA)[250:750]))
    (conn,) = reassemble(_tcp(segs))
    assert conn.c2s.data == b"".join(C2S_DATA)
    assert conn.c2s.retransmitted == len(dup.payload) + 500 and conn.c2s.conflicting == 0


def test_conflicting_retransmission_keeps_first_copy():
    segs = _conv()
    first = next(s for s in segs if s.payload and s.src == CLIENT)
    segs.append(Segment(first.time + 1, first.src, first.dst, first.seq, first.ack, first.flags,
                        b"X" * len(first.payload)))
    (conn,) = reassemble(_tcp(segs))
    assert conn.c2s.data == b"".join(C2S_DATA)
    assert conn.c2s.conflicting == len(first.payload)


def test_gap_is_reported_never_glued():
    segs = _conv()
    data_idx = [i for i, s in enumerate(segs) if s.payload and s.src == CLIENT]
    lost = segs.pop(data_idx[3])
    (conn,) = reassemble(_tcp(segs))
    total = len(b"".join(C2S_DATA))
    assert conn.c2s.length == 1500 and conn.c2s.data == b"".join(C2S_DATA)[:1500]
    (gap,) = conn.c2s.gaps
    assert (gap.offset, gap.length, gap.reason) == (1500, len(lost.payload), "hole")
    assert conn.c2s.bytes_after_gap == total - 1500 - len(lost.payload)


def test_snaplen_cut_is_a_gap():
    segs = _tcp(_conv())
    i = next(k for k, s in enumerate(segs) if s.payload and s.sport == CLIENT[1])
    s = segs[i]
    segs[i] = TcpSegment(s.frame, s.time, s.src, s.sport, s.dst, s.dport, s.seq, s.ack, s.flags,
                         s.payload[:100], missing=len(s.payload) - 100)
    (conn,) = reassemble(segs)
    assert conn.c2s.length == 100
    assert conn.c2s.gaps[0].reason == "snaplen" and conn.c2s.gaps[0].offset == 100


def test_no_syn_starts_at_earliest_sequence():
    segs = [s for s in _conv(handshake=False)]
    data_idx = [i for i, s in enumerate(segs) if s.payload and s.src == CLIENT]
    segs[data_idx[0]], segs[data_idx[1]] = segs[data_idx[1]], segs[data_idx[0]]
    (conn,) = reassemble(_tcp(segs))
    assert not conn.syn_seen
    assert conn.c2s.data == b"".join(C2S_DATA)


def test_sequence_wraparound():
    (conn,) = reassemble(_tcp(_conv(isn_c=0xFFFFFFFF - 700)))
    assert conn.c2s.data == b"".join(C2S_DATA) and not conn.c2s.gaps


def test_port_reuse_makes_two_connections():
    first = _conv()
    second = conversation([b"again"], [b"ok"], isn_c=90000, t0=1_700_000_100.0)
    conns = reassemble(_tcp(first + second))
    assert [c.c2s.data for c in conns] == [b"".join(C2S_DATA), b"again"]


@pytest.mark.parametrize("seed", range(20))
def test_any_arrival_order_with_duplicates_reassembles_exactly(seed):
    rnd = random.Random(seed)
    segs = _conv()
    body = [s for s in segs if s.payload]
    extra = [Segment(s.time, s.src, s.dst, s.seq, s.ack, s.flags, s.payload) for s in rnd.sample(body, 4)]
    mixed = body + extra
    rnd.shuffle(mixed)
    ctrl = [s for s in segs if not s.payload]
    (conn,) = reassemble(_tcp(ctrl[:3] + mixed + ctrl[3:]))
    assert conn.c2s.data == b"".join(C2S_DATA) and conn.s2c.data == b"".join(S2C_DATA)
    assert not conn.c2s.gaps and not conn.s2c.gaps


def test_fin_and_rst_are_recorded():
    (conn,) = reassemble(_tcp(_conv(close="rst")))
    assert conn.c2s.rst_time is not None and conn.closed
    (conn,) = reassemble(_tcp(_conv()))
    assert conn.c2s.fin_time is not None and conn.s2c.fin_time is not None
