"""GOP-start playback for late joiners (catalogue GOP-1..9, AV-4..6)."""

from __future__ import annotations

from harness.verdict import Finding, Verdict, failed, info, passed
from harness.wirelog import S2C, DecodedMessage, WireLog
from rtmp import media
from rtmp.messages import Data, status_info


def play_start_index(log: WireLog) -> int:
    """Index of the first s2c message after NetStream.Play.Start (0 if none seen)."""
    for m in log.decode(S2C).messages:
        st = status_info(m.message) if m.message is not None else None
        if st is not None and st.get("code") == "NetStream.Play.Start":
            return m.index + 1
    return 0


def av_messages(log: WireLog, start: int = 0) -> list[DecodedMessage]:
    """Audio, video and onMetaData messages the server sent from ``start``."""
    out = []
    for m in log.decode(S2C).messages[start:]:
        if m.raw.type_id in (8, 9):
            out.append(m)
        elif isinstance(m.message, Data) and m.message.name == "onMetaData":
            out.append(m)
    return out


def _kind(m: DecodedMessage) -> str:
    p = m.raw.payload
    if m.raw.type_id == 18:
        return "metadata"
    if m.raw.type_id == 9:
        if media.is_video_sequence_header(p):
            return "video-sh"
        return "keyframe" if media.is_video_keyframe(p) else "inter"
    return "audio-sh" if media.is_audio_sequence_header(p) else "audio"


def check_gop_start(log: WireLog, *, expect_metadata: bool = True, expect_audio: bool = True,
                    play_time: float | None = None) -> list[Finding]:
    """GOP-1 / AV-4: metadata, video SH, audio SH, then a keyframe; no inter frame first."""
    msgs = av_messages(log, play_start_index(log))
    kinds = [_kind(m) for m in msgs]
    out: list[Finding] = []
    if not msgs:
        return [failed("GOP-1", "no audio/video reached the late joiner",
                       expected="onMetaData, sequence headers, keyframe", actual="nothing")]
    coded_video = [i for i, k in enumerate(kinds) if k in ("keyframe", "inter")]
    if not coded_video:
        return [failed("GOP-1", "no coded video frame reached the player", actual=", ".join(kinds[:10]))]
    first_v = coded_video[0]
    m = msgs[first_v]
    if kinds[first_v] != "keyframe":
        out.append(failed("GOP-1", "the first video frame a late joiner receives is not a keyframe "
                          "(it cannot be decoded)", expected="FrameType 1 (keyframe)",
                          actual=f"frame type {m.raw.payload[0] >> 4} at ts {m.raw.timestamp}",
                          message_index=m.index))
    else:
        out.append(passed("GOP-1", f"first video frame is a keyframe (ts {m.raw.timestamp})",
                          message_index=m.index))
    # AV-4: sequence headers before coded frames.
    if "video-sh" not in kinds[:first_v]:
        out.append(failed("AV-4", "no AVC sequence header before the first video frame",
                          expected="video sequence header first", actual=", ".join(kinds[:first_v + 1]),
                          message_index=m.index))
    else:
        out.append(passed("AV-4", "video sequence header precedes coded video"))
    first_audio = next((i for i, k in enumerate(kinds) if k == "audio"), None)
    if expect_audio:
        if first_audio is not None and "audio-sh" not in kinds[:first_audio]:
            out.append(failed("AV-4", "AAC frames before the AAC sequence header",
                              actual=", ".join(kinds[:first_audio + 1]), message_index=msgs[first_audio].index))
    # Order convention: metadata first, then the two sequence headers (GOP-1 CONV).
    head = [k for k in kinds[:first_v] if k in ("metadata", "video-sh", "audio-sh")]
    want = (["metadata"] if expect_metadata else []) + ["video-sh"] + (["audio-sh"] if expect_audio else [])
    if sorted(head) != sorted(want):
        out.append(failed("GOP-1", "late joiner did not get onMetaData and both sequence headers "
                          "before the first frame", expected=", ".join(want), actual=", ".join(head) or "none",
                          verdict=Verdict.NON_STRICT))
    elif head[0] != "metadata" and expect_metadata:
        out.append(info("GOP-1", f"header order: {', '.join(head)}"))
    # Inter frames (or audio) from before the keyframe must not leak (GOP-2).
    if kinds[first_v] == "keyframe":
        kts = m.raw.timestamp
        stale = [x for x in msgs[first_v + 1:] if _kind(x) == "audio" and (kts - x.raw.timestamp) & 0xFFFFFFFF < 0x80000000 and kts - x.raw.timestamp > 1000]
        if stale:
            out.append(failed("GOP-2", "audio from more than 1 s before the first keyframe followed it",
                              verdict=Verdict.NON_STRICT, message_index=stale[0].index))
    if play_time is not None and kinds[first_v] == "keyframe":
        delay = (m.time - play_time) * 1000
        out.append(info("GOP-1", f"time from play to first keyframe: {delay:.0f} ms", delay_ms=round(delay, 1)))
    return out
