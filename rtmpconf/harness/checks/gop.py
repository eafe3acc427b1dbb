"""GOP-start playback for late joiners (catalogue GOP-1..9, AV-4..6)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from rtmpconf.harness.checks.relay import (
    KIND,
    SentLike,
    is_coded,
    match_relayed,
    play_start_index,
    player_media,
    serial_delta,
)
from rtmpconf.harness.verdict import Finding, Verdict, failed, info, not_run, passed
from rtmpconf.harness.wirelog import C2S, S2C, DecodedMessage, WireLog
from rtmpconf.rtmp import media
from rtmpconf.rtmp.messages import Data, status_info


def av_messages(log: WireLog, start: int = 0) -> list[DecodedMessage]:
    """Audio, video and onMetaData messages the server sent from ``start``."""
    out = []
    for m in log.decode(S2C).messages[start:]:
        if m.raw.type_id in (8, 9) or isinstance(m.message, Data) and m.message.name == "onMetaData":
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
    msgs = av_messages(log, play_start_index(log.decode(S2C)))
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
    if expect_audio and first_audio is not None and "audio-sh" not in kinds[:first_audio]:
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


# -- GOP-2..9 and AV-6 -------------------------------------------------------------------------------
# These match the publisher's payloads at the player (harness.checks.timestamps.match_relayed), so
# they say exactly which sent frame a player started on.


def _sent_index_of(sent: Sequence[SentLike]) -> dict[bytes, list[int]]:
    where: dict[bytes, list[int]] = {}
    for i, s in enumerate(sent):
        where.setdefault(bytes(s.payload), []).append(i)
    return where


def _first_coded_video(log: WireLog) -> DecodedMessage | None:
    return next((m for m in player_media(log, (9,)) if is_coded(m)), None)


def check_keyframe_start(log: WireLog, *, rule: str = "AV-6", violation: Verdict = Verdict.FAIL,
                         keyframes: Collection[bytes] | None = None) -> list[Finding]:
    """AV-6: the first coded video a (late) player gets is a key *coded frame*; a sequence header
    (also FrameType 1) must not have been taken for a GOP start. ``keyframes``: the payloads that
    may legally come first (else any FrameType-1 coded frame)."""
    v = _first_coded_video(log)
    if v is None:
        return [failed(rule, "no coded video reached the player", expected="a keyframe", actual="none",
                       verdict=violation)]
    p = bytes(v.raw.payload)
    if not media.is_video_keyframe(p) or (keyframes is not None and p not in keyframes):
        return [failed(rule, "the player's first coded video frame is not a keyframe (a sequence header was "
                       "treated as a GOP start?)", expected="a FrameType 1 coded frame",
                       actual=f"FrameType {p[0] >> 4} packet type {p[1] if len(p) > 1 else '-'} ts {v.raw.timestamp} "
                       f"at message #{v.index}", verdict=violation, message_index=v.index)]
    return [passed(rule, f"the first coded video frame is a keyframe (ts {v.raw.timestamp}, message #{v.index})")]


def check_cache_from_latest_keyframe(log: WireLog, sent: Sequence[SentLike], latest_key: int, *,
                                     rule: str = "GOP-2") -> list[Finding]:
    """GOP-2: a late joiner starts at the latest keyframe ``sent[latest_key]`` (a cache) or a later
    one (no cache, GOP-3); nothing published before that keyframe reaches it."""
    ns = Verdict.NON_STRICT
    v = _first_coded_video(log)
    if v is None:
        return [failed(rule, "no coded video reached the late joiner", expected="the latest keyframe",
                       actual="none", verdict=ns)]
    where = _sent_index_of(sent)
    idx = where.get(bytes(v.raw.payload), [None])[0]
    out: list[Finding] = []
    key_ts = sent[latest_key].timestamp
    if idx == latest_key:
        out.append(passed(rule, f"the late joiner starts at the latest keyframe (sent #{latest_key}, ts {key_ts})"))
    elif idx is not None and idx > latest_key and media.is_video_keyframe(v.raw.payload):
        out.append(info(rule, f"no GOP cache: the late joiner starts at a later keyframe (sent #{idx}, "
                        f"ts {sent[idx].timestamp}) instead of the cached one at ts {key_ts}"))
    else:
        where_from = f"sent #{idx} ts {sent[idx].timestamp}" if idx is not None else "a payload never sent"
        out.append(failed(rule, "the late joiner does not start at the latest keyframe",
                          expected=f"sent #{latest_key} (keyframe, ts {key_ts})", actual=where_from,
                          verdict=ns, message_index=v.index))
    stale = []
    for m in player_media(log):
        if not is_coded(m):
            continue
        i = where.get(bytes(m.raw.payload), [None])[0]
        if i is not None and i < latest_key and sent[i].timestamp < key_ts:
            stale.append((m, i))
    if stale:
        m, i = stale[0]
        out.append(failed(rule, f"{len(stale)} frames from before the latest keyframe reached the late joiner",
                          expected=f"nothing older than ts {key_ts}", actual=f"sent #{i} {sent[i].type_id} ts "
                          f"{sent[i].timestamp} as message #{m.index}", verdict=ns, message_index=m.index))
    else:
        out.append(passed(rule, "no frame from before the latest keyframe reached the late joiner"))
    return out


def _play_start_time(log: WireLog) -> float | None:
    for m in log.decode(S2C).messages:
        st = status_info(m.message) if m.message is not None else None
        if st is not None and st.get("code") == "NetStream.Play.Start":
            return m.time
    return None


def _bytes_between(log: WireLog, direction: str, t0: float, t1: float) -> int:
    return sum(len(e.data) for e in log.events if e.direction == direction and t0 <= e.time <= t1)


def check_audio_only_join(log: WireLog, *, publisher_log: WireLog | None = None, limit_ms: float = 100.0,
                          link_rates: tuple[float, float] = (0.0, 0.0), rule: str = "GOP-4") -> list[Finding]:
    """GOP-4: a player of an audio-only stream gets the AAC sequence header and live audio within
    ``limit_ms`` of NetStream.Play.Start; no waiting for video. With ``publisher_log`` the clock
    starts no earlier than the publisher's first audio frame written after Play.Start (a frame
    cannot be relayed before it was sent).

    ``link_rates`` (up, down) in bytes/s of a rate-limited link (0: not limited): the bytes the
    publisher wrote and the player read in that window had to cross it first, and their transfer
    time is added to the limit (a slow link is no verdict on the server)."""
    ns = Verdict.NON_STRICT
    t0 = _play_start_time(log)
    if t0 is not None and publisher_log is not None:
        # Both logs use the same monotonic clock: the first audio frame the publisher completed
        # after the player's Play.Start.
        sent = [m.time for m in publisher_log.decode(C2S).messages
                if m.raw.type_id == 8 and is_coded(m) and m.time >= t0]
        if sent:
            t0 = min(sent)
    audio = player_media(log, (8,))
    sh = next((m for m in audio if media.is_audio_sequence_header(m.raw.payload)), None)
    frame = next((m for m in audio if is_coded(m)), None)
    if t0 is None:
        return [failed(rule, "no NetStream.Play.Start", expected="Play.Start then audio", actual="none", verdict=ns)]
    if frame is None:
        return [failed(rule, "no audio reached the player of an audio-only stream (waiting for video?)",
                       expected=f"AAC sequence header and frames within {limit_ms:g} ms", actual="none", verdict=ns)]
    out: list[Finding] = []
    if sh is None or sh.index > frame.index:
        out.append(failed(rule, "audio frames before (or without) the AAC sequence header",
                          expected="AAC sequence header first", actual=f"first frame #{frame.index}, header "
                          f"{'#' + str(sh.index) if sh else 'never'}", verdict=ns, message_index=frame.index))
    delay = (frame.time - t0) * 1000
    up, down = link_rates
    if up or down:
        sent = _bytes_between(publisher_log, C2S, t0, frame.time) if publisher_log is not None else 0
        got = _bytes_between(log, S2C, t0, frame.time)
        limit_ms += 1000 * ((sent / up if up else 0.0) + (got / down if down else 0.0))
    if delay > limit_ms:
        out.append(failed(rule, "audio reached the audio-only joiner late",
                          expected=f"<= {limit_ms:g} ms after Play.Start (or after it was published)",
                          actual=f"{delay:.0f} ms", verdict=ns, delay_ms=round(delay, 1)))
    if not out:
        out.append(passed(rule, f"AAC sequence header and audio {delay:.0f} ms after Play.Start (or after it "
                          "was published)", delay_ms=round(delay, 1)))
    return out


def check_long_gop_join(log: WireLog, keyframes: Sequence[bytes], *, gop_frames: int, rule: str = "GOP-5") -> list[Finding]:
    """GOP-5: joining during a very long GOP: served from the cached keyframe ``keyframes[0]`` (cache
    kept ``gop_frames`` frames: recorded) or from the next one ``keyframes[1:]`` (bounded cache); never
    from an inter frame, and served at all."""
    ns = Verdict.NON_STRICT
    v = _first_coded_video(log)
    if v is None:
        return [failed(rule, "the joiner got no video, not even from the next keyframe",
                       expected="a keyframe (cached or next)", actual="none", verdict=ns)]
    p = bytes(v.raw.payload)
    if p == keyframes[0]:
        return [info(rule, f"the whole {gop_frames}-frame GOP was cached and replayed to the joiner "
                     "(no frame bound hit)", message_index=v.index)]
    if p in keyframes[1:]:
        return [passed(rule, f"cache bounded: the joiner starts at the next keyframe (ts {v.raw.timestamp})")]
    return [failed(rule, "the joiner of a long GOP starts at a frame that is not a keyframe",
                   expected="the cached or the next keyframe", actual=f"FrameType {p[0] >> 4} ts {v.raw.timestamp}",
                   verdict=ns, message_index=v.index)]


def check_cached_timestamps(log: WireLog, *, rule: str = "GOP-6") -> list[Finding]:
    """GOP-6: what a late joiner gets: each sequence header's timestamp <= its track's first frame,
    and timestamps non-decreasing on every chunk stream (serial arithmetic). NON-STRICT if not."""
    ns = Verdict.NON_STRICT
    msgs = player_media(log, (8, 9, 18))
    out: list[Finding] = []
    compared = 0
    for t in (9, 8):
        first = next((m for m in msgs if m.raw.type_id == t and is_coded(m)), None)
        sh = [m for m in msgs if m.raw.type_id == t and not is_coded(m) and (first is None or m.index < first.index)]
        if first is None or not sh:
            continue
        compared += 1
        late = [m for m in sh if serial_delta(m.raw.timestamp, first.raw.timestamp) > 0]
        if late:
            m = late[0]
            out.append(failed(rule, f"the {KIND[t]} sequence header is stamped after the first {KIND[t]} frame",
                              expected=f"<= {first.raw.timestamp}", actual=f"{m.raw.timestamp} (message #{m.index})",
                              verdict=ns, message_index=m.index))
        else:
            how = ("0" if sh[-1].raw.timestamp == 0 else "the GOP start" if sh[-1].raw.timestamp == first.raw.timestamp
                   else "an earlier time")
            out.append(passed(rule, f"{KIND[t]} sequence header ts {sh[-1].raw.timestamp} ({how}) <= first frame "
                              f"ts {first.raw.timestamp}"))
    last: dict[int, DecodedMessage] = {}
    back = []
    for m in msgs:
        prev = last.get(m.raw.csid)
        if prev is not None and serial_delta(m.raw.timestamp, prev.raw.timestamp) < 0:
            back.append((prev, m))
        last[m.raw.csid] = m
    if back:
        a, b = back[0]
        out.append(failed(rule, f"timestamps go backwards on chunk stream {b.raw.csid} ({len(back)} times)",
                          expected="non-decreasing per csid", actual=f"#{a.index} {KIND.get(a.raw.type_id)} ts "
                          f"{a.raw.timestamp} -> #{b.index} {KIND.get(b.raw.type_id)} ts {b.raw.timestamp}",
                          verdict=ns, message_index=b.index))
    else:
        out.append(passed(rule, f"timestamps non-decreasing on csid {sorted(last)}"))
    if not compared:
        # The rule is about the cached headers' stamps: without one before a frame it was not exercised.
        out.append(not_run(rule, "no sequence header preceded the joiner's first frame of either track, so "
                           "there was no header timestamp to compare (AV-4 judges the missing headers)"))
    return out


def check_republish(log: WireLog, *, old_sh: bytes, old_frames: Collection[bytes], new_sh: bytes,
                    new_frames: Collection[bytes], rule: str = "GOP-7") -> list[Finding]:
    """GOP-7: after publisher A left and B republished (another SPS): nothing of A after B's first
    message, B's video sequence header before B's first frame, which is a keyframe (FAIL otherwise:
    a stale frame or a frame without its header breaks every decoder). Video only: both publishers'
    AAC bytes are identical, so audio cannot be told apart."""
    video = player_media(log, (9,))
    old_set, new_set = set(old_frames), set(new_frames)
    first_new = next((m for m in video if bytes(m.raw.payload) in new_set or bytes(m.raw.payload) == new_sh), None)
    if first_new is None:
        return [failed(rule, "nothing of the second publisher reached the player", expected="SH-B, keyframe, frames",
                       actual=f"{len(video)} video messages, none from B")]
    out: list[Finding] = []
    after = [m for m in video if m.index >= first_new.index]
    stale = [m for m in after if bytes(m.raw.payload) in old_set or bytes(m.raw.payload) == old_sh]
    if stale:
        m = stale[0]
        out.append(failed(rule, f"{len(stale)} messages of the previous publisher leaked out after the republish",
                          expected="no frame or header of publisher A", actual=f"message #{m.index} ts {m.raw.timestamp}",
                          message_index=m.index))
    else:
        out.append(passed(rule, "no stale frame or header of the previous publisher after the republish"))
    sh = next((m for m in after if bytes(m.raw.payload) == new_sh), None)
    frame = next((m for m in after if bytes(m.raw.payload) in new_set), None)
    if frame is None:
        out.append(failed(rule, "no frame of the new publisher reached the player", expected="a keyframe after SH-B",
                          actual="none"))
    elif sh is None or sh.index > frame.index:
        out.append(failed(rule, "a frame of the new publisher arrived before its sequence header",
                          expected="SH-B first", actual=f"frame #{frame.index}, SH-B {'#' + str(sh.index) if sh else 'never'}",
                          message_index=frame.index))
    elif not media.is_video_keyframe(frame.raw.payload):
        out.append(failed(rule, "the new publisher's first frame at the player is not a keyframe",
                          expected="keyframe", actual=f"FrameType {frame.raw.payload[0] >> 4} at #{frame.index}",
                          message_index=frame.index))
    else:
        out.append(passed(rule, f"SH-B (#{sh.index}) then keyframe (#{frame.index}) after the republish"))
    old_before = [m for m in video if m.index < first_new.index and bytes(m.raw.payload) in old_set]
    if old_before:
        out.append(info(rule, f"{len(old_before)} frames of publisher A reached this player before the republish"))
    return out


def check_slow_reader(log: WireLog, sent: Sequence[SentLike], *, publish_seconds: float, publish_bytes: int,
                      publisher_ok: bool, tail_from: int, rule: str = "GOP-8",
                      slow_publish_s: float = 5.0) -> list[Finding]:
    """GOP-8: a player that stopped reading while ``publish_bytes`` were published.

    Legal outcomes: the server dropped frames for it and resumed at a keyframe (PASS), or
    disconnected it (INFORMATIONAL). Buffering everything (NON-STRICT: memory grows with the
    backlog), resuming mid-GOP (NON-STRICT), never delivering the frames sent after it resumed
    (``sent[tail_from:]``, NON-STRICT) or slowing the publisher (NON-STRICT) are not. Corrupted
    payloads are FAIL (the chunk stream itself broke).
    """
    ns = Verdict.NON_STRICT
    out: list[Finding] = []
    mb = publish_bytes / 1e6
    if not publisher_ok or publish_seconds > slow_publish_s:
        out.append(failed(rule, "the publisher was slowed down by a player that stopped reading",
                          expected=f"{mb:.1f} MB accepted in < {slow_publish_s:g} s", actual=f"{publish_seconds:.2f} s"
                          + ("" if publisher_ok else ", publisher's ping unanswered"), verdict=ns))
    else:
        out.append(passed(rule, f"publisher unaffected: {mb:.1f} MB in {publish_seconds:.2f} s"))
    if log.closed_by == S2C:
        out.append(info(rule, "the server disconnected the stalled player (a legal way to bound memory)"))
        return out
    match = match_relayed(log, sent, types=(9,))
    if match.unknown:
        m = match.unknown[0]
        out.append(failed(rule, "corrupted video reached the player after the stall", expected="byte-identical frames",
                          actual=f"message #{m.index}", message_index=m.index))
    got = {i for i, _ in match.pairs}
    video = [i for i, s in enumerate(sent) if s.type_id == 9 and not media.is_video_sequence_header(s.payload)]
    lost = [i for i in video if i not in got]
    if not lost:
        out.append(failed(rule, f"the server queued all {mb:.1f} MB for a player that stopped reading",
                          expected="drop to a keyframe (bounded queue) or disconnect", actual="nothing dropped",
                          verdict=ns))
    else:
        resumed = [i for k, i in enumerate(video) if k > 0 and i in got and video[k - 1] not in got]
        bad = [i for i in resumed if not media.is_video_keyframe(sent[i].payload)]
        if bad:
            out.append(failed(rule, "after dropping, the player resumed on a frame that is not a keyframe",
                              expected="resume at a keyframe (with sequence headers)", actual=f"sent #{bad[0]} "
                              f"FrameType {sent[bad[0]].payload[0] >> 4}", verdict=ns))
        else:
            out.append(passed(rule, f"{len(lost)} frames dropped for the stalled player; it resumed at a keyframe"))
    tail = [i for i in video if i >= tail_from]
    if tail and not any(i in got for i in tail):
        out.append(failed(rule, "the player never recovered: nothing published after it resumed reading arrived",
                          expected=f"frames from sent #{tail_from}", actual="none", verdict=ns))
    return out
