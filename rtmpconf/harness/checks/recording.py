"""REC checkers: an FLV recording read back and compared with what was published.

``read_flv`` walks an FLV file (FLV 10.1 Annex E: 9-byte header, PreviousTagSize0, then tags of
an 11-byte header, the body and a 4-byte PreviousTagSize) and records every structural problem;
the checkers judge a :class:`FlvReport` against the published messages (and, where the case ran
it, ffprobe's frame count).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rtmpconf.harness.checks.relay import SentLike, is_sequence_header
from rtmpconf.harness.verdict import Finding, failed, info, passed
from rtmpconf.rtmp import amf0


@dataclass(frozen=True, slots=True)
class FlvTag:
    type_id: int
    timestamp: int
    payload: bytes
    offset: int


@dataclass
class FlvReport:
    """What an FLV file holds and what is wrong with its structure."""

    size: int
    header_ok: bool
    tags: list[FlvTag] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  #: structural errors (bad back pointer ...)
    truncated_tail: int = 0  #: bytes after the last whole tag (a tag cut by a crash)
    metadata: dict[str, Any] | None = None  #: the first onMetaData object

    def coded(self, type_id: int) -> list[FlvTag]:
        return [t for t in self.tags if t.type_id == type_id and not is_sequence_header(type_id, t.payload)]


def read_flv(data: bytes) -> FlvReport:
    rep = FlvReport(size=len(data), header_ok=len(data) >= 13 and data[:3] == b"FLV")
    if not rep.header_ok:
        rep.problems.append("no FLV header")
        return rep
    header_size = struct.unpack_from(">I", data, 5)[0]
    if header_size < 9 or struct.unpack_from(">I", data, header_size)[0] != 0:
        rep.problems.append(f"bad header size {header_size} or PreviousTagSize0 not 0")
    pos = header_size + 4
    while pos < len(data):
        if pos + 11 > len(data):
            rep.truncated_tail = len(data) - pos
            break
        type_id = data[pos] & 0x1F
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        ts = int.from_bytes(data[pos + 4:pos + 7], "big") | (data[pos + 7] << 24)
        end = pos + 11 + size
        if end + 4 > len(data):
            rep.truncated_tail = len(data) - pos
            break
        if type_id not in (8, 9, 18):
            rep.problems.append(f"tag at {pos} has type {type_id}")
            break
        back = struct.unpack_from(">I", data, end)[0]
        if back != 11 + size:
            rep.problems.append(f"PreviousTagSize after the tag at {pos} is {back}, not {11 + size}")
        payload = bytes(data[pos + 11:end])
        rep.tags.append(FlvTag(type_id, ts, payload, pos))
        if type_id == 18 and rep.metadata is None:
            try:
                values = amf0.decode_all(payload)
                if values and values[0] == "onMetaData" and len(values) > 1 and isinstance(values[1], dict):
                    rep.metadata = dict(values[1])
            except Exception as exc:  # noqa: BLE001 - a broken metadata tag is a finding, not a crash
                rep.problems.append(f"onMetaData at {pos} does not decode: {exc}")
        pos = end + 4
    return rep


def _coded_sent(sent: Sequence[SentLike], type_id: int) -> list[bytes]:
    return [bytes(s.payload) for s in sent if s.type_id == type_id and not is_sequence_header(type_id, s.payload)]


def check_recording(rep: FlvReport, sent: Sequence[SentLike], *, rule: str, lost_tail_allowed: int = 0,
                    ffprobe_video_frames: int | None = None, what: str = "the recording") -> list[Finding]:
    """The file is structurally valid FLV; every published coded frame is in it, in order, byte for
    byte (the last ``lost_tail_allowed`` may be missing, for a crash); video timestamps do not go back;
    ffprobe counted as many video frames as the file holds."""
    out: list[Finding] = []
    if not rep.header_ok:
        return [failed(rule, f"{what} is not an FLV file", actual=f"{rep.size} bytes")]
    for p in rep.problems[:3]:
        out.append(failed(rule, f"{what} is malformed: {p}"))
    if rep.truncated_tail and lost_tail_allowed == 0:
        out.append(failed(rule, f"{what} ends inside a tag ({rep.truncated_tail} bytes of a cut tag)",
                          expected="a file that ends after a whole tag"))
    for type_id, kind in ((9, "video"), (8, "audio")):
        want = _coded_sent(sent, type_id)
        got = [t.payload for t in rep.coded(type_id)]
        if got != want[:len(got)]:
            first = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b) if any(
                a != b for a, b in zip(got, want)) else len(want)
            out.append(failed(rule, f"{what}'s {kind} frames differ from the published ones",
                              expected=f"{len(want)} frames as published", actual=f"first difference at frame {first}"))
        elif len(want) - len(got) > lost_tail_allowed:
            out.append(failed(rule, f"{what} lacks {len(want) - len(got)} of {len(want)} published {kind} frames",
                              expected=f"at most {lost_tail_allowed} missing", actual=f"{len(got)} recorded"))
    stamps = [t.timestamp for t in rep.coded(9)]
    back = next((i for i in range(1, len(stamps)) if stamps[i] < stamps[i - 1]), None)
    if back is not None:
        out.append(failed(rule, f"{what}'s video timestamps go back at frame {back}",
                          actual=f"{stamps[back - 1]} -> {stamps[back]}"))
    if ffprobe_video_frames is not None and ffprobe_video_frames != len(rep.coded(9)):
        out.append(failed(rule, f"ffprobe read {ffprobe_video_frames} video frames from {what}",
                          expected=f"{len(rep.coded(9))} (the frames in the file)", actual=str(ffprobe_video_frames)))
    if not out:
        extra = f"; ffprobe counts {ffprobe_video_frames} video frames" if ffprobe_video_frames is not None else ""
        out.append(passed(rule, f"{what}: valid FLV, {len(rep.coded(9))} video and {len(rep.coded(8))} audio frames "
                          f"as published{extra}"))
    return out


def check_metadata_totals(rep: FlvReport, *, rule: str, what: str = "the recording") -> list[Finding]:
    """onMetaData ``duration`` (s) matches the last frame's time (± one 40 ms frame) and ``filesize``
    the file's size, as written when the file was closed."""
    if rep.metadata is None:
        return [failed(rule, f"{what} has no onMetaData", expected="onMetaData with duration and filesize")]
    stamps = [t.timestamp for t in rep.tags if t.type_id in (8, 9)]
    last = (max(stamps) - min(stamps)) / 1000 if stamps else 0.0
    out: list[Finding] = []
    dur = rep.metadata.get("duration")
    if not isinstance(dur, (int, float)) or abs(float(dur) - last) > 0.05:
        out.append(failed(rule, f"{what}'s onMetaData duration does not match its content",
                          expected=f"{last:.3f} s", actual=repr(dur)))
    size = rep.metadata.get("filesize")
    if not isinstance(size, (int, float)) or int(size) != rep.size:
        out.append(failed(rule, f"{what}'s onMetaData filesize does not match the file",
                          expected=str(rep.size), actual=repr(size)))
    if not out:
        out.append(passed(rule, f"onMetaData duration {float(dur):.3f} s and filesize {int(size)} match"))  # type: ignore[arg-type]
    return out


def check_rotation(reports: Sequence[FlvReport], sent: Sequence[SentLike], *, rule: str) -> list[Finding]:
    """Each rotated file starts with the sequence headers and a keyframe; together they hold every frame."""
    out: list[Finding] = []
    if len(reports) < 2:
        return [failed(rule, "no rotation happened", expected="two or more files", actual=str(len(reports)))]
    for i, rep in enumerate(reports):
        video = [t for t in rep.tags if t.type_id == 9]
        if not video or not is_sequence_header(9, video[0].payload):
            out.append(failed(rule, f"file {i + 1} does not start its video with the sequence header"))
        coded = rep.coded(9)
        if coded and coded[0].payload[0] >> 4 != 1:
            out.append(failed(rule, f"file {i + 1} does not start at a keyframe",
                              actual=f"frame type {coded[0].payload[0] >> 4}"))
    joined = [t.payload for r in reports for t in r.coded(9)]
    want = _coded_sent(sent, 9)
    if joined != want:
        out.append(failed(rule, "the rotated files together do not hold every published video frame once",
                          expected=f"{len(want)} frames", actual=f"{len(joined)}"))
    if not out:
        out.append(passed(rule, f"{len(reports)} files, each from its headers and a keyframe, {len(joined)} frames in all"))
    out.append(info(rule, f"file sizes: {[r.size for r in reports]}"))
    return out
