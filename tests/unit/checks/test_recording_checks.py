"""REC checkers against broken FLV files (the reference recorder's tag writer builds the good ones)."""

from __future__ import annotations

import struct

from rtmpconf.harness.checks.recording import check_metadata_totals, check_recording, check_rotation, read_flv
from rtmpconf.harness.scenarios import tags_with_headers
from rtmpconf.harness.testmedia import make_h264_aac
from rtmpconf.harness.verdict import Verdict
from rtmpconf.reference_server.record import FLV_HEADER, tag
from rtmpconf.rtmp import amf0
from tests.unit.checks.fakes import v

STREAM = make_h264_aac(seconds=0.6, gop=6)
SENT = tags_with_headers(STREAM)


def flv(tags, *, meta: dict | None = None) -> bytes:
    out = FLV_HEADER
    if meta is not None:
        out += tag(18, 0, amf0.encode_all("onMetaData", amf0.EcmaArray(meta)))
    t0 = tags[0].timestamp
    for t in tags:
        out += tag(t.type_id, t.timestamp - t0, t.payload)
    return out


def test_complete_file_passes() -> None:
    assert v(check_recording(read_flv(flv(SENT)), SENT, rule="REC-1")) is Verdict.PASS


def test_broken_files_fail() -> None:
    good = flv(SENT)
    # Cut inside the last tag (a crash): FAIL for a clean ending, PASS when one tag may be lost.
    cut = good[:-10]
    assert v(check_recording(read_flv(cut), SENT, rule="REC-1")) is Verdict.FAIL
    assert v(check_recording(read_flv(cut), SENT, rule="REC-4", lost_tail_allowed=1)) is Verdict.PASS
    # A wrong PreviousTagSize.
    bad_back = good[:-4] + struct.pack(">I", 1)
    assert v(check_recording(read_flv(bad_back), SENT, rule="REC-1")) is Verdict.FAIL
    # Frames missing in the middle, or a frame altered.
    assert v(check_recording(read_flv(flv(SENT[:5] + SENT[8:])), SENT, rule="REC-1")) is Verdict.FAIL
    # Not FLV at all; ffprobe disagreeing with the file.
    assert v(check_recording(read_flv(b"garbage"), SENT, rule="REC-1")) is Verdict.FAIL
    assert v(check_recording(read_flv(good), SENT, rule="REC-1", ffprobe_video_frames=3)) is Verdict.FAIL


def test_metadata_totals() -> None:
    body = flv(SENT, meta={"duration": 0.0, "filesize": 0.0})
    stamps = [t.timestamp for t in SENT if t.type_id in (8, 9)]
    dur = (max(stamps) - min(stamps)) / 1000
    fixed = flv(SENT, meta={"duration": dur, "filesize": float(len(body))})
    assert len(fixed) == len(body)
    assert v(check_metadata_totals(read_flv(fixed), rule="REC-2")) is Verdict.PASS
    assert v(check_metadata_totals(read_flv(body), rule="REC-2")) is Verdict.FAIL  # never patched
    assert v(check_metadata_totals(read_flv(flv(SENT)), rule="REC-2")) is Verdict.FAIL  # no metadata


def test_rotation() -> None:
    head = SENT[:2]
    frames = SENT[2:]
    keys = [i for i, t in enumerate(frames) if t.type_id == 9 and t.keyframe]
    split = keys[1]
    files = [read_flv(flv(head + frames[:split])), read_flv(flv(head + frames[split:]))]
    assert v(check_rotation(files, SENT, rule="REC-5")) in (Verdict.PASS, Verdict.INFORMATIONAL)
    # Broken: the second file starts mid-GOP without headers.
    bad = [read_flv(flv(head + frames[:split + 2])), read_flv(flv(frames[split + 2:]))]
    assert v(check_rotation(bad, SENT, rule="REC-5")) is Verdict.FAIL
    assert v(check_rotation(files[:1], SENT, rule="REC-5")) is Verdict.FAIL
