"""Wireshark (tshark 4.0 via pyshark) as an oracle: every corpus capture decodes to the same
messages, and Wireshark's known limits are shown as limits (captures/README.md), not hidden.

With CI=true a missing tshark/pyshark is a failure, never a skip.
"""

from __future__ import annotations

import subprocess
import time
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from rtmpconf.harness.capture.analyze import analyze_file
from rtmpconf.harness.report.pcap import wirelog_to_pcapng
from rtmpconf.harness.wirelog import WireLog
from rtmpconf.rtmp.chunk import ChunkWriter, chunk_message
from rtmpconf.rtmp.messages import Command, SetChunkSize, encode_message
from tests.capture.wireshark import (
    MAX_PACKET_SIZE,
    analyzer_counts,
    analyzer_messages,
    require_tshark,
    wireshark_counts,
    wireshark_messages,
    wireshark_messages_in_this_process,
)

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"
ENTRIES = tomllib.loads((CAPTURES / "manifest.toml").read_text())["capture"]


@pytest.fixture(scope="module")
def tshark() -> str:
    return require_tshark()


def _decode(entry: dict) -> tuple[str, object]:
    """In a pool worker (a child process): pyshark may set up its event loop there."""
    return entry["file"], wireshark_messages_in_this_process(str(CAPTURES / entry["file"]), entry["port"])


@pytest.fixture(scope="module")
def wireshark_corpus(tshark) -> dict[str, object]:
    """pyshark parses ~200 frames/s: decode the corpus once, on both cores."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        return dict(pool.map(_decode, ENTRIES))


@pytest.mark.parametrize("entry", ENTRIES, ids=[Path(e["file"]).stem for e in ENTRIES])
def test_corpus_matches_wireshark_message_by_message(wireshark_corpus, entry):
    path = CAPTURES / entry["file"]
    ours = analyzer_messages(analyze_file(path, checks=False))
    theirs = wireshark_corpus[entry["file"]]
    assert set(theirs) <= set(ours)
    for key, msgs in ours.items():
        assert Counter(t for t, _ in theirs.get(key, [])) == Counter(t for t, _ in msgs), key
        assert theirs.get(key, []) == msgs, f"{key}: (type, timestamp) sequences differ"


# -- synthetic captures for the limits ------------------------------------------------------------


def _session(c2s: bytes, *, split: int = 1 << 20, s2c: bytes = b"", first: bytes = b"") -> bytes:
    """A session on port 1935 (Wireshark's default RTMP port) as pcapng bytes: handshake, then
    ``first`` in one segment, then ``c2s`` in segments of ``split`` bytes."""
    import os

    log = WireLog("synthetic")
    t = time.monotonic()
    log.add("c2s", b"\x03" + os.urandom(1536), t)
    log.add("s2c", b"\x03" + os.urandom(3072), t + 0.001)
    log.add("c2s", os.urandom(1536), t + 0.002)
    if first:
        log.add("c2s", first, t + 0.005)
    for k, off in enumerate(range(0, len(c2s), split)):
        log.add("c2s", c2s[off:off + split], t + 0.01 + k * 1e-4)
    if s2c:
        log.add("s2c", s2c, t + 0.02)
    log.mark_closed("c2s", t + 0.5)
    return wirelog_to_pcapng(log)


def _connect(w: ChunkWriter) -> bytes:
    type_id, payload = encode_message(Command("connect", 1.0, {"app": "live"}))
    return w.encode(3, type_id, 0, 0, payload)


def _video_messages(n: int, size: int, start: int, *, ext_on_fmt3: bool) -> bytes:
    """``n`` 25 fps video messages from ``start`` (>= 0xFFFFFF: extended timestamps), chunk size 128."""
    out = b""
    for i in range(n):
        chunks = chunk_message(6, 0 if i == 0 else 1, start if i == 0 else 40, 9, 1,
                               bytes([0x27, 1, 0, 0, 0]) + bytes((i + j) % 7 + 1 for j in range(size - 5)), 128,
                               ext_ts_on_fmt3=ext_on_fmt3)
        out += b"".join(chunks)
    return out


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _tshark_video_count(tshark: str, path: Path, *prefs: str) -> int:
    args = [tshark, "-r", str(path), "-Y", "rtmpt.video.control", "-T", "fields", "-e", "rtmpt.video.control",
            "-E", "occurrence=a"]
    for p in prefs:
        args += ["-o", p]
    out = subprocess.run(args, check=False, capture_output=True, text=True, timeout=30).stdout
    return sum(len(line.split(",")) for line in out.split() if line)


def test_limit_lost_sync_when_fmt3_extended_timestamp_is_omitted(tshark, tmp_path):
    """Pre-2024 OBS/librtmp omit the 4 bytes on fmt-3 chunks (TS-4); Wireshark 4.0 always expects
    them after an extended header and loses the chunk stream. We peek (TS-5) and decode it."""
    path = _write(tmp_path, "omitted.pcapng", _session(_video_messages(3, 300, 0x1000000, ext_on_fmt3=False),
                                                       first=_connect(ChunkWriter(128))))
    (conn,) = analyze_file(path).connections
    assert conn.directions["c2s"].messages_by_type[9] == 3
    assert conn.directions["c2s"].ext_ts_dialect == "omitted"
    assert _tshark_video_count(tshark, path) < 3  # Wireshark's limit


def test_limit_dissector_assertion_on_split_fmt3_chunk_with_extended_timestamp(tshark, tmp_path):
    """A fmt-3 continuation chunk that carries the extended timestamp, its header split across two
    TCP segments (the first chunk is 1+11+4+128 = 144 bytes; segments of 145 bytes cut the next
    chunk after its basic header): tshark 4.0 reports a dissector bug and drops the rest."""
    path = _write(tmp_path, "assert.pcapng",
                  _session(_video_messages(3, 300, 0x1000000, ext_on_fmt3=True), split=145,
                           first=_connect(ChunkWriter(128))))
    (conn,) = analyze_file(path).connections
    assert conn.directions["c2s"].messages_by_type[9] == 3
    assert conn.directions["c2s"].ext_ts_dialect == "present"
    out = subprocess.run([tshark, "-r", str(path), "-V"], check=False, capture_output=True, text=True, timeout=30).stdout
    assert "Dissector bug, protocol RTMPT" in out and 'failed assertion "length <= 0x7FFFFFFF"' in out
    assert _tshark_video_count(tshark, path) < 3
    # The same bytes in whole segments decode in Wireshark too: the split is what trips it.
    whole = _write(tmp_path, "whole.pcapng", _session(_video_messages(3, 300, 0x1000000, ext_on_fmt3=True),
                                                      first=_connect(ChunkWriter(128))))
    assert _tshark_video_count(tshark, whole) == 3


def test_limit_chunk_size_above_max_packet_size(tshark, tmp_path):
    """node-media-server announces chunk size 65535; with the default rtmpt.max_packet_size
    (32768) Wireshark keeps reading 128-byte chunks and misses the large message."""
    w = ChunkWriter(128)
    t1, p1 = encode_message(SetChunkSize(65535))
    s2c = w.encode(2, t1, 0, 0, p1)
    w.set_chunk_size(65535)
    s2c += w.encode(6, 9, 1, 0, bytes([0x17, 1, 0, 0, 0]) + bytes(40000))
    s2c += w.encode(4, 8, 1, 0, bytes([0xAF, 1]) + bytes(100))
    path = _write(tmp_path, "big.pcapng", _session(_connect(ChunkWriter(128)), s2c=s2c))
    (conn,) = analyze_file(path).connections
    assert conn.directions["s2c"].messages_by_type == Counter({1: 1, 9: 1, 8: 1})
    assert _tshark_video_count(tshark, path) == 0
    assert _tshark_video_count(tshark, path, f"rtmpt.max_packet_size:{MAX_PACKET_SIZE}") == 1


def test_limit_nms_corpus_needs_raised_max_packet_size(wireshark_corpus):
    entry = next(e for e in ENTRIES if e["server"] == "node-media-server")
    path = str(CAPTURES / entry["file"])
    ours = analyzer_counts(analyze_file(path, checks=False))
    default = wireshark_counts(path, entry["port"], max_packet_size=32768)
    assert default != ours  # 65535-byte chunks read as 128-byte ones
    raised = {k: Counter(t for t, _ in v) for k, v in wireshark_corpus[entry["file"]].items()}  # type: ignore[attr-defined]
    assert raised == {k: v for k, v in ours.items() if v}


def test_limit_fields_output_misaligns_messages_of_one_frame(tshark, tmp_path):
    """`-T fields -E occurrence=a` lists each field's values per frame: a field absent from one
    message (no type id in a fmt-2 header) shifts the others, so per-message data needs PDML."""
    w = ChunkWriter(128)
    data = _connect(w)
    data += w.encode(4, 8, 1, 0, b"\xaf\x01" + bytes(20))  # fmt 0: type id 8
    data += w.encode(4, 8, 1, 21, b"\xaf\x01" + bytes(20))  # fmt 2: no type id on the wire
    data += w.encode(6, 9, 1, 0, b"\x17\x01" + bytes(30))  # fmt 0: type id 9
    path = _write(tmp_path, "multi.pcapng", _session(data))
    out = subprocess.run([tshark, "-r", str(path), "-Y", "rtmpt.audio.control", "-T", "fields",
                          "-e", "rtmpt.header.typeid", "-e", "rtmpt.header.csid", "-E", "occurrence=a"],
                         check=False, capture_output=True, text=True, timeout=30).stdout.split()
    typeids, csids = out[0].split(","), out[1].split(",")
    assert len(typeids) == 3 and len(csids) == 4  # zip() would pair type 9 with csid 4
    per_message = wireshark_messages(str(path), 1935)
    assert [t for t, _ in per_message[(50000, "c2s")]] == [20, 8, 8, 9]


def test_limit_no_enhanced_rtmp_fields(tshark, tmp_path):
    """Wireshark 4.0 has no E-RTMP fields: an ExVideoTagHeader (FourCC 'hvc1') is read as a
    legacy FrameType/CodecID byte. Our analyzer counts the E-RTMP keyframe."""
    fields = subprocess.run([tshark, "-G", "fields"], check=False, capture_output=True, text=True, timeout=60).stdout
    rtmpt = [line.split("\t")[2] for line in fields.splitlines() if line.count("\t") >= 4
             and line.split("\t")[4] == "rtmpt"]
    assert rtmpt and not [f for f in rtmpt if "fourcc" in f.lower() or "packettype" in f.lower()]
    w = ChunkWriter(128)
    data = _connect(w)
    # 0x91: IsExHeader | FrameType 1 (key) | PacketType 1 (CodedFrames); FourCC hvc1; SI24 cts 0
    data += w.encode(6, 9, 1, 0, b"\x91hvc1\x00\x00\x00" + bytes(40))
    path = _write(tmp_path, "ertmp.pcapng", _session(data))
    (conn,) = analyze_file(path).connections
    assert conn.directions["c2s"].keyframes == 1
    out = subprocess.run([tshark, "-r", str(path), "-Y", "rtmpt.video.control", "-T", "fields",
                          "-e", "rtmpt.video.type", "-e", "rtmpt.video.format"],
                         check=False, capture_output=True, text=True, timeout=30).stdout.split()
    assert out == ["9", "1"]  # bit 7 read as part of FrameType (9), PacketType read as CodecID 1
