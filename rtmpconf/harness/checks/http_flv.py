"""HTTP-FLV checkers (catalogue section 11, HFLV): header, tag framing, header flags, first tags."""

from __future__ import annotations

from rtmpconf.harness.http.client import HttpResponse
from rtmpconf.harness.http.flv import FlvParser, FlvTag
from rtmpconf.harness.verdict import Finding, failed, not_run, passed
from rtmpconf.rtmp import media


def check_flv_header(p: FlvParser) -> list[Finding]:
    """HFLV-1: "FLV", version 1, DataOffset 9 (version 1), PreviousTagSize0 = 0."""
    h = p.header
    if h is None:
        return [failed("HFLV-1", "the body ended before a complete FLV header", actual=f"{p.pending} bytes")]
    problems = []
    if h.signature != b"FLV":
        problems.append(f"signature {h.signature!r}")
    if h.version != 1:
        problems.append(f"version {h.version}")
    if h.data_offset != 9:
        problems.append(f"DataOffset {h.data_offset}")
    if h.previous_tag_size0 != 0:
        problems.append(f"PreviousTagSize0 {h.previous_tag_size0}")
    if h.flags & 0xFA:
        problems.append(f"reserved TypeFlags bits set (0x{h.flags:02x})")
    if problems:
        return [failed("HFLV-1", "malformed FLV header: " + ", ".join(problems),
                       expected="'FLV', 1, flags, 9, PreviousTagSize0 0", actual=", ".join(problems))]
    return [passed("HFLV-1", f"FLV header valid (flags 0x{h.flags:02x})")]


def check_flv_tags(p: FlvParser) -> list[Finding]:
    """HFLV-2: every tag's PreviousTagSize is 11 + DataSize, TagType is 8/9/18, StreamID 0."""
    if p.header is None or not p.tags:
        return [not_run("HFLV-2", "no FLV tag was received")]
    out = [failed("HFLV-2", e) for e in p.errors[:3]]
    sid = next((t for t in p.tags if t.stream_id != 0), None)
    if sid is not None:
        out.append(failed("HFLV-2", f"tag {sid.index} has StreamID {sid.stream_id}", expected="0",
                          actual=str(sid.stream_id)))
    return out or [passed("HFLV-2", f"{len(p.tags)} tags framed correctly")]


def check_flv_flags(p: FlvParser) -> list[Finding]:
    """HFLV-3: TypeFlagsAudio/TypeFlagsVideo say which tag types the body carries."""
    if p.header is None:
        return [not_run("HFLV-3", "no FLV header")]
    types = {t.type_id for t in p.tags}
    if not types & {8, 9}:
        return [not_run("HFLV-3", "no audio or video tag was received to compare the flags with")]
    out = []
    for bit, tid, name in ((p.header.audio, 8, "audio"), (p.header.video, 9, "video")):
        if bit and tid not in types:
            out.append(failed("HFLV-3", f"the header announces {name} but no {name} tag came",
                              expected=f"{name} flag clear", actual=f"flag set, {len(p.tags)} tags without {name}"))
        elif not bit and tid in types:
            out.append(failed("HFLV-3", f"{name} tags but the header's {name} flag is clear",
                              expected=f"{name} flag set", actual="flag clear"))
    return out or [passed("HFLV-3", f"header flags match the tags (0x{p.header.flags:02x})")]


def _kind(t: FlvTag) -> str:
    if t.type_id == 18:
        return "metadata"
    if t.type_id == 9:
        if media.is_video_sequence_header(t.data):
            return "video-sh"
        return "keyframe" if media.is_video_keyframe(t.data) else "inter"
    if t.type_id == 8:
        return "audio-sh" if media.is_audio_sequence_header(t.data) else "audio"
    return "other"


def check_flv_start(p: FlvParser, *, expect_metadata: bool = True) -> list[Finding]:
    """HFLV-4: onMetaData and the sequence headers before any frame; the first video frame is a keyframe."""
    kinds = [_kind(t) for t in p.tags]
    vids = [i for i, k in enumerate(kinds) if k in ("keyframe", "inter")]
    if not vids:
        return [not_run("HFLV-4", "no coded video frame was received")]
    first = vids[0]
    t = p.tags[first]
    out = []
    if kinds[first] != "keyframe":
        out.append(failed("HFLV-4", "the first video frame of the HTTP-FLV body is not a keyframe",
                          expected="FrameType 1", actual=f"FrameType {t.data[0] >> 4} at {t.timestamp} ms",
                          tag_index=first))
    if "video-sh" not in kinds[:first]:
        out.append(failed("HFLV-4", "no video sequence header before the first video frame",
                          expected="sequence header first", actual=", ".join(kinds[:first + 1][:8])))
    first_audio = next((i for i, k in enumerate(kinds) if k == "audio"), None)
    if first_audio is not None and "audio-sh" not in kinds[:first_audio]:
        out.append(failed("HFLV-4", "audio frames before the audio sequence header",
                          actual=", ".join(kinds[:first_audio + 1][:8])))
    if expect_metadata and "metadata" not in kinds[:first]:
        out.append(failed("HFLV-4", "no onMetaData before the first frame", expected="onMetaData",
                          actual=", ".join(kinds[:first + 1][:8])))
    return out or [passed("HFLV-4", f"starts with {', '.join(kinds[:first + 1][:6])}")]


def check_cors(rule: str, resp: HttpResponse) -> list[Finding]:
    """Browsers (mpegts.js, hls.js) fetch cross-origin: Access-Control-Allow-Origin must allow them."""
    value = resp.header("access-control-allow-origin")
    if value in ("*",) or (value and value.startswith("http")):
        return [passed(rule, f"Access-Control-Allow-Origin: {value}")]
    return [failed(rule, "no Access-Control-Allow-Origin header: a player on another origin cannot read the stream",
                   expected="Access-Control-Allow-Origin: *", actual=value or "absent")]
