"""The replay diff (harness.capture.diff) passes what the tolerances allow and fails real changes."""

from __future__ import annotations

from rtmpconf.harness.capture.diff import diff_sessions, render_diff
from rtmpconf.harness.verdict import Verdict
from rtmpconf.harness.wirelog import WireLog
from rtmpconf.rtmp.chunk import ChunkWriter
from rtmpconf.rtmp.messages import (
    Audio,
    Command,
    Data,
    SetChunkSize,
    SetPeerBandwidth,
    UserControl,
    Video,
    WindowAckSize,
    encode_message,
)

KEY = Video(b"\x17\x01\x00\x00\x00" + bytes(20))
INTER = Video(b"\x27\x01\x00\x00\x00" + bytes(20))
SH = Video(b"\x17\x00\x00\x00\x00" + bytes(10))


def status(code: str, level: str = "status") -> Command:
    return Command("onStatus", 0.0, None, ({"level": level, "code": code},))


def client_msgs(tids: tuple[float, float, float] = (1.0, 2.0, 3.0)) -> list[tuple[object, int]]:
    return [(Command("connect", tids[0], {"app": "live"}), 0), (Command("createStream", tids[1], None), 0),
            (Command("getStreamLength", tids[2], None, ("s",)), 0), (Command("play", 0.0, None, ("s",)), 1)]


def server_msgs(tids: tuple[float, float, float] = (1.0, 2.0, 3.0), *, play: str = "NetStream.Play.Start",
                level: str = "status", media: tuple[object, ...] = (SH, KEY, INTER), create: str = "_result",
                order: str = "nginx", extra: tuple[object, ...] = ()) -> list[tuple[object, int]]:
    welcome = [WindowAckSize(2500000), SetPeerBandwidth(2500000, 2), SetChunkSize(4096)]
    if order == "reference":
        welcome = [WindowAckSize(2500000), SetChunkSize(4096), SetPeerBandwidth(2500000, 2)]
    out: list[tuple[object, int]] = [(m, 0) for m in welcome]
    out.append((Command("_result", tids[0], {"fmsVer": "FMS/3,0,1,123"},
                        ({"level": "status", "code": "NetConnection.Connect.Success"},)), 0))
    out.append((Command(create, tids[1], None, (1.0,)), 0))
    out.append((Command("_result", tids[2], None, (0.0,)), 0))
    out.append((UserControl.stream_begin(1), 0))
    out.append((status(play, level), 1))
    out.append((Data(("onMetaData", {"width": 1.0})), 1))
    out.extend((m, 1) for m in media)
    out.append((Audio(b"\xaf\x01" + bytes(10)), 1))
    out.extend((m, 1) for m in extra)
    return out


def make_log(c2s: list[tuple[object, int]], s2c: list[tuple[object, int]], *, server_closes: bool = False,
             close_after: float = 1.0) -> WireLog:
    log = WireLog("test")
    t = 100.0
    log.add("c2s", b"\x03" + bytes(1536), t)
    log.add("s2c", b"\x03" + bytes(3072), t + 0.001)
    log.add("c2s", bytes(1536), t + 0.002)
    cw, sw = ChunkWriter(128), ChunkWriter(128)
    for i, (m, msid) in enumerate(c2s):
        type_id, payload = encode_message(m)  # type: ignore[arg-type]
        log.add("c2s", cw.encode(3 if type_id == 20 else 2, type_id, msid, 0, payload), t + 0.01 + i * 0.001)
    for i, (m, msid) in enumerate(s2c):
        type_id, payload = encode_message(m)  # type: ignore[arg-type]
        csid = {20: 3, 9: 6, 8: 4, 18: 5}.get(type_id, 2)
        log.add("s2c", sw.encode(csid, type_id, msid, 40 * i, payload), t + 0.02 + i * 0.001)
        if isinstance(m, SetChunkSize):
            sw.set_chunk_size(m.size)
    if server_closes:
        log.mark_closed("s2c", t + close_after)
    else:
        log.mark_closed("c2s", t + close_after)
    return log


RECORDED = make_log(client_msgs(), server_msgs())


def verdicts(d):
    return {f.rule: f.verdict for f in d.findings if f.verdict in (Verdict.FAIL, Verdict.NON_STRICT, Verdict.ERROR)}


def test_identical_replay_passes():
    d = diff_sessions(RECORDED, make_log(client_msgs(), server_msgs()), rule="CMD-16")
    assert d.verdict is Verdict.PASS and not d.diverged
    assert any(f.rule == "CMD-16" and f.verdict is Verdict.PASS for f in d.findings)


def test_consistent_tid_renumbering_is_tolerated():
    tids = (1.0, 7.0, 9.0)
    d = diff_sessions(RECORDED, make_log(client_msgs(tids), server_msgs(tids)))
    assert not d.diverged, render_diff(d)


def test_reply_order_and_optional_extras_are_informational():
    replay = make_log(client_msgs(), server_msgs(order="reference", extra=(status("NetStream.Play.Reset"),)))
    d = diff_sessions(RECORDED, replay)
    assert d.verdict is Verdict.INFORMATIONAL, render_diff(d)
    assert any("another order" in f.message for f in d.findings)


def test_missing_play_start_fails():
    d = diff_sessions(RECORDED, make_log(client_msgs(), server_msgs(play="NetStream.Play.Reset")))
    assert d.diverged and verdicts(d)["CMD-18"] is Verdict.FAIL
    assert "- status:NetStream.Play.Start [status]" in render_diff(d)


def test_changed_level_fails():
    d = diff_sessions(RECORDED, make_log(client_msgs(), server_msgs(level="warning")))
    assert verdicts(d)["CMD-18"] is Verdict.FAIL


def test_extra_error_status_fails():
    replay = make_log(client_msgs(), server_msgs(extra=(status("NetStream.Play.Failed", "error"),)))
    assert verdicts(diff_sessions(RECORDED, replay))["CMD-18"] is Verdict.FAIL


def test_create_stream_refused_fails():
    d = diff_sessions(RECORDED, make_log(client_msgs(), server_msgs(create="_error")))
    assert verdicts(d)["CMD-10"] is Verdict.FAIL
    assert any("answered with _error" in f.message for f in d.findings)


def test_no_video_for_player_fails():
    d = diff_sessions(RECORDED, make_log(client_msgs(), server_msgs(media=())))
    assert verdicts(d)["GOP-1"] is Verdict.NON_STRICT  # CONV: a GOP cache is a convention


def test_inter_frame_first_fails():
    d = diff_sessions(RECORDED, make_log(client_msgs(), server_msgs(media=(SH, INTER, KEY))))
    assert verdicts(d)["AV-6"] is Verdict.FAIL


def test_target_closing_fails():
    d = diff_sessions(RECORDED, make_log(client_msgs(), server_msgs(), server_closes=True))
    assert verdicts(d)["CMD-20"] is Verdict.NON_STRICT


def test_target_closing_an_idle_replay_is_its_idle_limit():
    """A replay held open (a slow link stretches it) past the target's idle timeout: the close is
    the limit at work (INFORMATIONAL); a close well before the limit is still CMD-20."""
    idle = make_log(client_msgs(), server_msgs(), server_closes=True, close_after=12.0)
    d = diff_sessions(RECORDED, idle, idle_timeout=10.0)
    assert "CMD-20" not in verdicts(d)
    assert any(f.rule == "CMD-20" and f.verdict is Verdict.INFORMATIONAL and "idle" in f.message for f in d.findings)
    early = make_log(client_msgs(), server_msgs(), server_closes=True, close_after=3.0)
    assert verdicts(diff_sessions(RECORDED, early, idle_timeout=10.0))["CMD-20"] is Verdict.NON_STRICT
    assert verdicts(diff_sessions(RECORDED, idle))["CMD-20"] is Verdict.NON_STRICT  # limit unknown


def test_missing_stream_begin_is_non_strict():
    s2c = [m for m in server_msgs() if not isinstance(m[0], UserControl)]
    d = diff_sessions(RECORDED, make_log(client_msgs(), s2c))
    assert verdicts(d) == {"CTRL-7": Verdict.NON_STRICT}


def test_incomplete_handshake_fails():
    log = WireLog("short")
    log.add("c2s", b"\x03" + bytes(1536), 1.0)
    log.add("s2c", b"\x03" + bytes(100), 1.1)
    assert verdicts(diff_sessions(RECORDED, log))["HS-1"] is Verdict.FAIL


def test_end_of_sequence_is_not_a_first_frame():
    # FFmpeg ends an AVC stream with FrameType 1 + AVCPacketType 2 (end of sequence): not a picture.
    eos = Video(b"\x17\x02\x00\x00\x00")
    d = diff_sessions(RECORDED, make_log(client_msgs(), server_msgs(media=(SH, eos, KEY, INTER))))
    assert "AV-6" not in verdicts(d) and d.replayed_media.first_coded_video_key is True


def test_is_coded_video():
    from rtmpconf.harness.capture.analyze import is_coded_video

    assert is_coded_video(KEY.payload) and is_coded_video(INTER.payload)
    assert not is_coded_video(SH.payload) and not is_coded_video(b"\x17\x02\x00\x00\x00")
    assert is_coded_video(b"\x91hvc1\x00\x00\x00") and not is_coded_video(b"\x90hvc1")  # ex CodedFrames / SequenceStart
    assert is_coded_video(b"\x22" + bytes(10))  # Sorenson H.263 inter frame: no packet type byte
    assert not is_coded_video(b"\x57\x00") and not is_coded_video(b"")
