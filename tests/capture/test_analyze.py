"""Session detection, analysis, robustness and the ``rtmpconf analyze`` CLI."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from rtmpconf.harness.capture.analyze import analyze_file
from rtmpconf.harness.capture.sessions import read_capture
from rtmpconf.harness.verdict import Verdict
from tests.capture.builders import (
    CLIENT,
    SERVER,
    conversation,
    frames_of,
    garbage_connection,
    publisher_session,
    rtmp_capture,
    write_pcap,
    write_pcapng,
)
from tests.capture.builders import run_cli as cli_main

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"


@pytest.mark.parametrize("linktype", [1, 113, 276, 101])
@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_rtmp_found_on_any_port_and_link_type(tmp_path, linktype, fmt):
    path, ex = rtmp_capture(tmp_path / f"s.{fmt}", linktype=linktype, fmt=fmt)
    report = analyze_file(path)
    (conn,) = report.connections
    assert (conn.client, conn.server) == (f"{CLIENT[0]}:{CLIENT[1]}", f"{SERVER[0]}:{SERVER[1]}")
    assert conn.role == "publisher"
    assert dict(conn.directions["c2s"].messages_by_type) == ex.c2s_types
    assert dict(conn.directions["s2c"].messages_by_type) == ex.s2c_types
    assert conn.directions["c2s"].commands == ["connect", "createStream", "publish"]
    assert conn.directions["s2c"].statuses == [{"code": "NetStream.Publish.Start", "level": "status"}]
    assert conn.directions["s2c"].chunk_sizes_announced == [4096]
    assert conn.directions["c2s"].keyframes == 2
    fv = conn.directions["c2s"].first_video_after_start
    assert fv is not None and fv["sequence_header"] and fv["first_coded_keyframe"]
    assert conn.directions["c2s"].handshake["bytes"] == 3073 and conn.directions["c2s"].handshake["complete"]
    assert not [f for f in conn.findings if f.verdict in (Verdict.FAIL, Verdict.ERROR)], conn.findings


def test_client_found_without_syn(tmp_path):
    ex = publisher_session()
    segs = conversation(ex.c2s, ex.s2c, handshake=False)
    report = analyze_file(write_pcapng(tmp_path / "nosyn.pcapng", frames_of(segs)))
    (conn,) = report.connections
    assert conn.client == f"{CLIENT[0]}:{CLIENT[1]}"
    assert any("no SYN" in n for n in conn.notes)


def test_garbage_connection_is_skipped_with_reason(tmp_path):
    ex = publisher_session()
    segs = conversation(ex.c2s, ex.s2c) + garbage_connection()
    report = analyze_file(write_pcapng(tmp_path / "mixed.pcapng", frames_of(segs)))
    assert len(report.connections) == 1 and report.tcp_connections == 2
    (skipped,) = report.skipped_connections
    assert skipped["reason"] == "first client byte 0x47 is not C0 = 3: not RTMP"
    out = report.to_json()
    assert out["skipped"]["connections"][0]["client"] == "10.0.0.3:40001"


def test_truncated_stream_reports_the_gap_and_decodes_what_is_there(tmp_path):
    def drop_one(segs):
        media = [s for s in segs if s.src == CLIENT and len(s.payload) == 1400]
        segs.remove(media[-3])  # inside the media burst, after publish
        return segs

    path, ex = rtmp_capture(tmp_path / "gap.pcapng", mutate=drop_one)
    report = analyze_file(path)
    (conn,) = report.connections
    c2s = conn.directions["c2s"]
    assert c2s.gaps and c2s.gaps[0]["length"] == 1400 and c2s.gaps[0]["bytes_after_not_decoded"] > 0
    assert c2s.commands == ["connect", "createStream", "publish"]
    assert 0 < c2s.messages < sum(ex.c2s_types.values())
    assert dict(conn.directions["s2c"].messages_by_type) == ex.s2c_types  # the other way is whole
    assert any(f.rule == "ANALYZE" and "not in the capture" in f.message for f in conn.findings)
    assert any("bytes missing at stream offset" in n for n in conn.notes)


def test_capture_cut_mid_file(tmp_path):
    ex = publisher_session()
    frames = frames_of(conversation(ex.c2s, ex.s2c))
    report = analyze_file(write_pcap(tmp_path / "cut.pcap", frames[:-6], cut_last=500))
    assert report.file_error and "ends inside frame" in report.file_error
    (conn,) = report.connections
    assert conn.directions["c2s"].gaps  # the cut frame's missing bytes
    assert any("capture ends before the connection closed" in n for n in conn.notes)


@pytest.mark.parametrize("first, length, reason", [
    (b"\x06", 1537, "C0 = 6: RTMPE (encrypted), not decodable"),
    (b"\x03", 700, "C0 = 3 but only 700 of the 1537 bytes of C0+C1"),
])
def test_not_decodable_sessions_are_skipped(tmp_path, first, length, reason):
    segs = conversation([first + bytes(length - 1)], [b""])
    report = analyze_file(write_pcapng(tmp_path / "x.pcapng", frames_of(segs)))
    assert report.connections == []
    assert report.skipped_connections[0]["reason"] == reason
    assert report.findings[0].message.startswith("no RTMP session")


def test_garbage_after_handshake_is_reported_not_raised(tmp_path):
    ex = publisher_session()
    junk = bytes([0x03]) + bytes(1536) + bytes(1536) + bytes(range(256)) * 8
    segs = conversation([junk[:1537], junk[1537:]], [ex.s2c[0]])
    report = analyze_file(write_pcapng(tmp_path / "junk.pcapng", frames_of(segs)))
    (conn,) = report.connections
    c2s = conn.directions["c2s"]
    assert c2s.decode_error or c2s.trailing_bytes or c2s.notices
    assert json.loads(json.dumps(report.to_json(), default=str))


def test_random_frames_never_crash(tmp_path):
    import random

    rnd = random.Random(5)
    frames = [(1.0 + i, bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 120)))) for i in range(200)]
    for linktype in (1, 113, 276, 101, 0):
        report = analyze_file(write_pcap(tmp_path / f"r{linktype}.pcap", frames, linktype=linktype))
        assert report.packets == 200


def _manifest() -> list[dict]:
    return tomllib.loads((CAPTURES / "manifest.toml").read_text())["capture"]


def test_corpus_facts_match_manifest():
    for entry in _manifest():
        path = CAPTURES / entry["file"]
        assert path.stat().st_size <= 3 * 1024 * 1024
        report = analyze_file(path, checks=False)
        assert report.packets == entry["packets"] and len(report.connections) == entry["rtmp_sessions"]
        for conn, facts in zip(report.connections, entry["connection"]):
            assert conn.role == facts["role"]
            for d in ("c2s", "s2c"):
                got = {str(k): v for k, v in conn.directions[d].messages_by_type.items()}
                assert got == facts[f"{d}_messages_by_type"], (entry["file"], d)
                assert conn.directions[d].commands == facts[f"{d}_commands"]
    assert sum((CAPTURES / e["file"]).stat().st_size for e in _manifest()) < 12 * 1024 * 1024


def test_ts_boundary_capture_shows_extended_timestamps():
    entry = next(e for e in _manifest() if e["rule"] == "TS-6")
    report = analyze_file(CAPTURES / entry["file"])
    player = next(c for c in report.connections if c.role == "player")
    s2c = player.directions["s2c"]
    assert s2c.timestamps[9]["max"] > 0xFFFFFF
    assert s2c.extended_timestamps[0] >= 1 and s2c.ext_ts_dialect == "present"


def test_cli_analyze_json_schema(capsys):
    entry = _manifest()[0]
    assert cli_main(["analyze", str(CAPTURES / entry["file"]), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rtmp_sessions"] == len(out["connections"]) == entry["rtmp_sessions"]
    first = out["connections"][0]
    for key in ("client", "server", "c2s", "s2c", "findings"):
        assert key in first
    for d in ("c2s", "s2c"):
        for key in ("handshake", "messages_by_type", "commands", "chunk_sizes_announced", "timestamps",
                    "extended_timestamps", "keyframes", "first_video_after_start"):
            assert key in first[d], key
    assert first["c2s"]["handshake"]["bytes"] == 3073
    assert all(isinstance(k, str) for k in first["c2s"]["messages_by_type"])
    fv = out["connections"][1]["s2c"]["first_video_after_start"]
    assert set(fv) >= {"keyframe", "sequence_header", "timestamp"}
    assert all({"rule", "verdict", "message"} <= set(f) for f in first["findings"])


def test_cli_analyze_text_and_errors(capsys, tmp_path):
    entry = _manifest()[0]
    assert cli_main(["analyze", str(CAPTURES / entry["file"])]) == 0
    assert "session #0" in capsys.readouterr().out
    bad = tmp_path / "x.pcap"
    bad.write_text("not a capture")
    assert cli_main(["analyze", str(bad)]) == 2
    assert cli_main(["analyze", str(tmp_path / "missing.pcap")]) == 2


def test_read_capture_gives_the_wirelog_checkers_read():
    entry = _manifest()[0]
    found = read_capture(CAPTURES / entry["file"])
    log = found.sessions[0].log
    assert log.decode("c2s").handshake[:1] == b"\x03"
    assert log.closed_by in ("c2s", "s2c")
    assert "connect(1)" in log.render(limit=20)
