"""Checkers for sessions with real programs (interop cases)."""

from __future__ import annotations

from typing import Any

from rtmpconf.harness.checks.gop import av_messages
from rtmpconf.harness.checks.relay import play_start_index
from rtmpconf.harness.verdict import Finding, Verdict, failed, info, passed
from rtmpconf.harness.wirelog import S2C, WireLog
from rtmpconf.rtmp import media
from rtmpconf.rtmp.messages import status_info


def _frames(log: WireLog, type_id: int) -> list[Any]:
    return [m for m in av_messages(log, play_start_index(log.decode(S2C))) if m.raw.type_id == type_id
            and not media.is_video_sequence_header(m.raw.payload)
            and not media.is_audio_sequence_header(m.raw.payload)]


def check_published_media(log: WireLog) -> list[Finding]:
    """The harness player received the real publisher's H.264 and AAC, starting at a keyframe."""
    video, audio = _frames(log, 9), _frames(log, 8)
    if not video:
        return [failed("HS-1", "the player received no video from the ffmpeg publisher",
                       expected="H.264 frames", actual=f"{len(audio)} audio frames, no video")]
    out = [passed("HS-1", f"relayed {len(video)} video and {len(audio)} audio frames from ffmpeg")]
    if not media.is_video_keyframe(video[0].raw.payload):
        out.append(failed("GOP-1", "first relayed video frame is not a keyframe", verdict=Verdict.NON_STRICT,
                          message_index=video[0].index))
    if not audio:
        out.append(failed("HS-1", "no audio relayed", expected="AAC frames", actual="none"))
    return out


def check_probe(result: Any) -> list[Finding]:
    """ffprobe saw h264 + aac."""
    if result.returncode != 0:
        return [failed("CMD-16", "ffprobe could not read the stream", expected="exit 0",
                       actual=f"exit {result.returncode}: {result.stderr[-300:]}")]
    want = {"video": "h264", "audio": "aac"}
    if result.codecs != want:
        return [failed("CMD-16", "ffprobe reports other streams", expected=str(want), actual=str(result.codecs))]
    return [passed("CMD-16", f"ffprobe reports h264 + aac in {result.elapsed:.2f} s"),
            info("CMD-16", f"ffprobe time to streams: {result.elapsed * 1000:.0f} ms")]


def check_decoded_play(result: Any) -> list[Finding]:
    """PyAV opened, decoded, and its first decoded video frame was a keyframe."""
    if result.error:
        return [failed("CMD-16", "PyAV could not play the stream", actual=result.error)]
    out: list[Finding] = []
    if result.video_codec != "h264" or result.audio_codec != "aac":
        out.append(failed("CMD-16", "PyAV found other streams", expected="h264 + aac",
                          actual=f"{result.video_codec} + {result.audio_codec}"))
    if not result.video_frames:
        out.append(failed("CMD-16", "PyAV decoded no video frame"))
    elif result.first_video_keyframe:
        out.append(passed("GOP-1", f"first decoded frame is a keyframe ({result.video_frames} frames decoded)"))
    else:
        out.append(failed("GOP-1", "the first frame PyAV decoded is not a keyframe",
                          expected="keyframe", actual="inter frame", verdict=Verdict.NON_STRICT))
    return out or [passed("CMD-16", "PyAV played the stream")]


def check_flv_play(result: Any, program: str) -> list[Finding]:
    """rtmpdump / VLC wrote an FLV with video and audio starting at a keyframe."""
    flv = result.flv
    if not flv.ok or flv.video == 0:
        return [failed("CMD-16", f"{program} recorded no video", expected="FLV with H.264 frames",
                       actual=f"{flv.error or ''} video={flv.video} audio={flv.audio}; rc={result.returncode}; "
                              f"{result.stderr[-300:]}")]
    out = [passed("CMD-16", f"{program} recorded {flv.video} video and {flv.audio} audio tags")]
    if flv.first_video_keyframe is False:
        out.append(failed("GOP-1", f"{program}'s first video frame is not a keyframe", verdict=Verdict.NON_STRICT))
    if flv.audio == 0:
        out.append(failed("CMD-16", f"{program} recorded no audio", verdict=Verdict.NON_STRICT))
    return out


def check_continuous(log: WireLog, label: str, *, must_cross: bool = False, max_step: int = 200) -> list[Finding]:
    """TS-6: frame timestamps to the player step forward by at most ``max_step`` ms."""
    out: list[Finding] = []
    for type_id, kind in ((9, "video"), (8, "audio")):
        ts = [m.raw.timestamp for m in _frames(log, type_id)]
        if len(ts) < 5:
            out.append(failed("TS-6", f"{label}: too few {kind} frames to judge", actual=str(len(ts))))
            continue
        bad = [(i, a, b) for i, (a, b) in enumerate(zip(ts, ts[1:])) if not 0 <= ((b - a) & 0xFFFFFFFF) <= max_step]
        if bad:
            i, a, b = bad[0]
            out.append(failed("TS-6", f"{label}: {kind} timestamps jump", expected=f"steps of 0..{max_step} ms",
                              actual=f"{a} -> {b} at frame {i}"))
        else:
            out.append(passed("TS-6", f"{label}: {kind} continuous over {len(ts)} frames ({ts[0]}..{ts[-1]})"))
        if must_cross and type_id == 9 and not (min(ts) < 0xFFFFFF < max(ts)):
            out.append(failed("TS-6", f"{label}: the window did not cross 0xFFFFFF",
                              actual=f"{min(ts)}..{max(ts)}", verdict=Verdict.ERROR))
    return out


def check_duplicate_refused(rc: int | None, err: str, first_alive: bool, watcher: WireLog) -> list[Finding]:
    out: list[Finding] = []
    if rc is None:
        out.append(failed("CMD-14", "the second ffmpeg publisher was neither refused nor ended", actual=err[-300:]))
    elif rc == 0:
        out.append(failed("CMD-14", "the second publisher of a live name was accepted",
                          expected="NetStream.Publish.BadName (ffmpeg exits with an error)", actual="exit 0",
                          verdict=Verdict.NON_STRICT))
    else:
        out.append(passed("CMD-14", f"second publisher refused (ffmpeg exit {rc})"))
    if not first_alive:
        out.append(failed("CMD-14", "the first publisher was disconnected by the duplicate",
                          verdict=Verdict.NON_STRICT))
    if not _frames(watcher, 9):
        out.append(failed("CMD-14", "the stream stopped flowing after the duplicate publish",
                          verdict=Verdict.NON_STRICT))
    return out


def check_republish(log: WireLog, republish_time: float) -> list[Finding]:
    """GOP-7: after the republish the player gets a new video SH before any new frame."""
    msgs = [m for m in log.decode(S2C).messages if m.time >= republish_time and m.raw.type_id == 9]
    if not msgs:
        notes = [status_info(m.message).get("code") for m in log.decode(S2C).messages  # type: ignore[union-attr]
                 if m.message is not None and status_info(m.message)]
        return [failed("GOP-7", "no video reached the subscribed player after the republish",
                       actual=f"status codes seen: {notes}", verdict=Verdict.NON_STRICT)]
    first = msgs[0]
    if not media.is_video_sequence_header(first.raw.payload):
        return [failed("GOP-7", "after the republish a frame arrived before the new sequence header",
                       expected="AVC sequence header first", actual=f"frame type {first.raw.payload[0] >> 4}",
                       message_index=first.index)]
    coded = [m for m in msgs[1:] if not media.is_video_sequence_header(m.raw.payload)]
    if coded and not media.is_video_keyframe(coded[0].raw.payload):
        return [failed("GOP-7", "the first frame after the new sequence header is not a keyframe",
                       message_index=coded[0].index)]
    return [passed("GOP-7", "new sequence header, then a keyframe, after the republish")]
