"""``rtmpconf analyze`` reports the E-RTMP fields Wireshark 4.0 cannot show (FourCC, packet types,
track ids, ModEx, nano offsets), for captures and for FLV files (the E-FLV vectors)."""

from __future__ import annotations

import json

from rtmpconf.harness.capture.analyze import analyze_file
from rtmpconf.harness.eflv import load_vector, manifest, vector_path
from rtmpconf.rtmp.chunk import ChunkWriter
from tests.capture.builders import conversation, frames_of, publisher_session, run_cli, write_pcapng


def _ertmp_capture(tmp_path, vector: str):
    ex = publisher_session(frames=0, chunk=4096)
    w = ChunkWriter(4096)
    media = b"".join(w.encode({8: 5, 9: 7, 18: 9}[t.type_id], t.type_id, 1, t.timestamp, t.payload)
                     for t in load_vector(vector))
    segs = conversation([*ex.c2s, media], ex.s2c)
    return write_pcapng(tmp_path / "ertmp.pcapng", frames_of(segs))


def test_capture_reports_tracks_fourccs_and_packet_types(tmp_path):
    report = analyze_file(_ertmp_capture(tmp_path, "obs-multitrack.flv"))
    (conn,) = report.connections
    e = conn.directions["c2s"].ertmp
    assert e is not None
    assert set(e["video"]) == {"0", "1", "2"} and set(e["audio"]) == {"0", "1"}
    assert e["video"]["1"]["codecs"] == ["avc1"] and e["video"]["2"]["codecs"] == ["hvc1"]
    assert e["video"]["2"]["packet_types"] == {"CODED_FRAMES": 25, "SEQUENCE_START": 1}
    assert e["multitrack"] == {"ONE_TRACK": 101}
    assert "videoTrackIdInfoMap" in e["metadata"]
    # The publisher session's own legacy frames before the vector are counted as well.
    assert e["messages"]["ertmp"] == 101


def test_capture_reports_modex(tmp_path, capsys):
    path = _ertmp_capture(tmp_path, "hvc1-mp4a-modex.flv")
    assert run_cli(["analyze", str(path)]) == 0
    text = capsys.readouterr().out
    assert "E-RTMP:" in text and "ModEx: TIMESTAMP_OFFSET_NANO 73" in text
    assert run_cli(["analyze", "--json", str(path)]) == 0
    data = json.loads(capsys.readouterr().out)
    ertmp = data["connections"][0]["c2s"]["ertmp"]
    want = manifest()["hvc1-mp4a-modex.flv"]["contents"]
    assert ertmp["modex"] == want["modex"] == {"TIMESTAMP_OFFSET_NANO": 25 + 48}  # every coded frame
    assert ertmp["nano_offsets"] == want["nano_offsets"]


def test_flv_file_summary_matches_manifest(capsys):
    for name, entry in manifest().items():
        assert run_cli(["analyze", "--json", str(vector_path(name))]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["format"] == "flv"
        assert {k: v for k, v in data["ertmp"].items() if v is not None} == entry["contents"]


def test_bad_flv_is_one_line(tmp_path, capsys):
    cut = tmp_path / "cut.flv"
    cut.write_bytes(b"FLV")
    assert run_cli(["analyze", str(cut)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cut short" in err
