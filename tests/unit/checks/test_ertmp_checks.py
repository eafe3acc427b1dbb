"""E-RTMP checkers against good and deliberately broken servers' traffic (harness/checks/ertmp.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rtmpconf.harness.checks import ertmp
from rtmpconf.harness.testmedia import MediaTag
from rtmpconf.harness.verdict import Finding, Verdict, worst
from rtmpconf.harness.wirelog import C2S, S2C, WireLog
from rtmpconf.rtmp import amf0, media
from rtmpconf.rtmp.messages import Audio, Command, Data, UserControl, Video
from tests.unit.checks.fakes import LogBuilder, fresh, info_obj

HVC1 = media.FourCC.HVC1
VPT = media.VideoPacketType
APT = media.AudioPacketType
HVCC = bytes([1, 1, 0x60]) + bytes(20)  # configurationVersion 1, profile, ... (opaque for checkers)
NALU = (5).to_bytes(4, "big") + b"\x26\x01abc"  # one length-prefixed HEVC NAL unit


def vtag(ts: int, payload: bytes) -> MediaTag:
    return MediaTag(9, ts, payload, media.is_video_keyframe(payload), media.is_video_sequence_header(payload))


def atag(ts: int, payload: bytes) -> MediaTag:
    return MediaTag(8, ts, payload, False, media.is_audio_sequence_header(payload))


def hevc_tags(frames: int = 6, gop: int = 3) -> list[MediaTag]:
    """SequenceStart + CodedFrames with CTS 40 (B-frame style), keyframe every ``gop`` frames."""
    out = [vtag(0, media.build_ex_video(1, VPT.SEQUENCE_START, HVC1, HVCC))]
    for n in range(frames):
        ft = 1 if n % gop == 0 else 2
        out.append(vtag(n * 40, media.build_ex_video(ft, VPT.CODED_FRAMES, HVC1, NALU + bytes([n]), cts=40)))
    return out


def session(*, hs_version: int = 3, connect_reply: str = "_result", play: bool = True,
            result_obj: dict[str, Any] | None = None) -> LogBuilder:
    """Handshake + connect (+ createStream/play with Play.Start on msid 1), as a player sees it."""
    b = LogBuilder().handshake(version=hs_version)
    b.client_msg(Command("connect", 1.0, {"app": "live"}))
    if connect_reply == "_result":
        b.server_msg(Command("_result", 1.0, result_obj or {"fmsVer": "FMS/3,0,1,123"},
                             (info_obj("NetConnection.Connect.Success"),)), csid=3)
    elif connect_reply == "_error":
        b.server_msg(Command("_error", 1.0, None, (info_obj("NetConnection.Connect.Rejected", "error"),)), csid=3)
    if play:
        b.server_msg(Command("onStatus", 0.0, None, (info_obj("NetStream.Play.Start"),)), msid=1, csid=3)
    return b


def player_log(items: Sequence[tuple[int, int, bytes]], *, closed: bool = False) -> WireLog:
    """A player that got these (type, ts, payload) media messages."""
    b = session()
    for type_id, ts, payload in items:
        b.server_msg(Video(payload) if type_id == 9 else Audio(payload), msid=1, timestamp=ts)
    if closed:
        b.log.mark_closed(S2C, b.t)
    return b.log


def relayed(tags: Sequence[MediaTag]) -> WireLog:
    return player_log([(t.type_id, t.timestamp, t.payload) for t in tags])


def publisher_log(*, refused: str | None = None, ping_answered: bool = True, hs_version: int = 3) -> WireLog:
    """A publisher: Publish.Start, media, then a ping that is (or is not) answered, or a refusal."""
    return publisher(refused=refused, ping_answered=ping_answered, hs_version=hs_version)[0]


def publisher(*, refused: str | None = None, ping_answered: bool = True, hs_version: int = 3) -> tuple[WireLog, int]:
    """publisher_log and the c2s offset right before its probe ping."""
    b = session(play=False, hs_version=hs_version)
    b.server_msg(Command("onStatus", 0.0, None, (info_obj("NetStream.Publish.Start"),)), msid=1, csid=3)
    if refused == "error":
        b.server_msg(Command("onStatus", 0.0, None, (info_obj("NetStream.Publish.Failed", "error"),)), msid=1, csid=3)
    b.client_msg(Video(b"\x17\x01\x00\x00\x00frame"), msid=1)
    offset = b.log.total(C2S)
    b.client_msg(UserControl.ping_request(77))
    if refused == "close":
        b.log.mark_closed(S2C, b.t)
    elif ping_answered:
        b.server_msg(UserControl.ping_response((77).to_bytes(4, "big")))
    return b.log, offset


def verdict(findings: list[Finding]) -> Verdict:
    return worst(findings)


def flip(payload: bytes, at: int) -> bytes:
    return payload[:at] + bytes([payload[at] ^ 0xFF]) + payload[at + 1:]


# -- signature / compare_relay -------------------------------------------------------------------


def test_signature_coded_frames_x_equals_coded_frames_cts0() -> None:
    x = media.build_ex_video(2, VPT.CODED_FRAMES_X, HVC1, NALU)
    c = media.build_ex_video(2, VPT.CODED_FRAMES, HVC1, NALU, cts=0)
    assert ertmp.signature(9, x) == ertmp.signature(9, c)
    assert ertmp.signature(9, x) != ertmp.signature(9, media.build_ex_video(2, VPT.CODED_FRAMES, HVC1, NALU, cts=40))


def test_relay_exact_passes() -> None:
    tags = hevc_tags()
    found = ertmp.check_relay(relayed(tags), tags, rule="ERTMP-2")
    assert verdict(found) is Verdict.PASS


def test_relay_altered_cts_fails() -> None:
    tags = hevc_tags()
    broken = list(tags)
    # A relay that rewrites the SI24 CTS (byte 5..7) of frame 2: the PTS a player computes is wrong.
    broken[2] = vtag(broken[2].timestamp, flip(broken[2].payload, 7))
    found = ertmp.check_relay(relayed(broken), tags, rule="ERTMP-2")
    assert verdict(found) is Verdict.FAIL
    assert any("altered" in f.message for f in found if f.verdict is Verdict.FAIL)


def test_relay_dropping_cts_field_fails() -> None:
    """OBS-before-#8650 style: CodedFrames relayed with the CTS bytes removed."""
    tags = hevc_tags()
    broken = [tags[0]] + [vtag(t.timestamp, t.payload[:5] + t.payload[8:]) for t in tags[1:]]
    assert verdict(ertmp.check_relay(relayed(broken), tags, rule="ERTMP-2")) is Verdict.FAIL


def test_relay_reencoded_equivalent_is_informational() -> None:
    tags = [vtag(0, media.build_ex_video(1, VPT.SEQUENCE_START, HVC1, HVCC)),
            vtag(0, media.build_ex_video(1, VPT.CODED_FRAMES_X, HVC1, NALU))]
    got = [tags[0], vtag(0, media.build_ex_video(1, VPT.CODED_FRAMES, HVC1, NALU, cts=0))]
    found = ertmp.check_relay(relayed(got), tags, rule="ERTMP-2")
    assert verdict(found) is Verdict.INFORMATIONAL


def test_relay_missing_frames_non_strict() -> None:
    tags = hevc_tags()
    found = ertmp.check_relay(relayed(tags[:4]), tags, rule="ERTMP-2")
    assert verdict(found) is Verdict.NON_STRICT


def test_relay_nothing_is_unimplemented() -> None:
    tags = hevc_tags()
    assert verdict(ertmp.check_relay(player_log([]), tags, rule="ERTMP-2")) is Verdict.UNIMPLEMENTED


def test_relay_frames_before_sequence_start_fail() -> None:
    tags = hevc_tags()
    found = ertmp.check_relay(relayed([tags[1], tags[0]] + tags[2:]), tags, rule="ERTMP-2")
    assert any(f.rule == "ERTMP-4" and f.verdict is Verdict.FAIL for f in found)


def test_relay_timestamp_spacing_changed_non_strict() -> None:
    tags = hevc_tags()
    got = [(9, t.timestamp * 2, t.payload) for t in tags]  # DTS spacing doubled
    found = ertmp.check_relay(player_log(got), tags, rule="ERTMP-2")
    assert verdict(found) is Verdict.NON_STRICT


def test_relay_modex_stripped_reported() -> None:
    plain = hevc_tags(3)
    sent = [plain[0]] + [vtag(t.timestamp, media.add_modex_nano_offset(t.payload, 500_000)) for t in plain[1:]]
    found = ertmp.check_relay(relayed(plain), sent, rule="ERTMP-7", stripped=Verdict.NON_STRICT)
    assert verdict(found) is Verdict.NON_STRICT
    assert any("ModEx" in f.message for f in found)
    assert verdict(ertmp.check_relay(relayed(sent), sent, rule="ERTMP-7")) is Verdict.PASS


def test_relay_audio_opus_altered_fails() -> None:
    sent = [atag(0, media.build_ex_audio(APT.SEQUENCE_START, media.FourCC.OPUS, b"OpusHead\x01\x02")),
            atag(20, media.build_ex_audio(APT.CODED_FRAMES, media.FourCC.OPUS, b"\xfcabc"))]
    # A legacy server that rewrites the ExHeader byte as "Opus = 13" (lal's non-standard value).
    broken = [sent[0], atag(20, b"\xd0" + sent[1].payload[5:])]
    assert verdict(ertmp.check_relay(relayed(sent), sent, rule="ERTMP-6", type_ids=(8,))) is Verdict.PASS
    assert verdict(ertmp.check_relay(relayed(broken), sent, rule="ERTMP-6", type_ids=(8,))) is Verdict.FAIL


# -- ERTMP-5 -------------------------------------------------------------------------------------


def test_relay_or_refusal_outcomes() -> None:
    tags = hevc_tags()
    good = ertmp.check_relay_or_refusal(publisher_log(), relayed(tags), fresh(), tags)
    assert verdict(good) is Verdict.PASS
    refused = ertmp.check_relay_or_refusal(publisher_log(refused="error"), player_log([]), fresh(), tags)
    assert verdict(refused) is Verdict.UNIMPLEMENTED
    closed = ertmp.check_relay_or_refusal(publisher_log(refused="close"), player_log([]), fresh(), tags)
    assert verdict(closed) is Verdict.UNIMPLEMENTED
    silent = ertmp.check_relay_or_refusal(publisher_log(), player_log([]), fresh(), tags)
    assert verdict(silent) is Verdict.NON_STRICT
    # A legacy parser that forwards "codec 0" garbage (low nibble read as CodecID and rewritten).
    garbage = [(9, t.timestamp, bytes([0x10]) + t.payload[1:]) for t in tags]
    assert verdict(ertmp.check_relay_or_refusal(publisher_log(), player_log(garbage), fresh(), tags)) \
        is Verdict.NON_STRICT


def test_relay_or_refusal_crash_fails() -> None:
    tags = hevc_tags()
    found = ertmp.check_relay_or_refusal(publisher_log(refused="close"), player_log([]), fresh(handshake=False), tags)
    assert verdict(found) is Verdict.FAIL
    assert any(f.rule == "ERTMP-9" and f.verdict is Verdict.FAIL for f in found)


# -- ERTMP-4 -------------------------------------------------------------------------------------


def test_sequence_start_first_good_and_broken() -> None:
    tags = hevc_tags()
    assert verdict(ertmp.check_sequence_start_first(relayed(tags), tags, fourcc=HVC1)) is Verdict.PASS
    # Coded frame first: the player cannot decode.
    assert verdict(ertmp.check_sequence_start_first(relayed(tags[1:]), tags, fourcc=HVC1)) is Verdict.FAIL
    # FourCC rewritten.
    swapped = [vtag(0, media.build_ex_video(1, VPT.SEQUENCE_START, b"avc1", HVCC))] + tags[1:]
    assert verdict(ertmp.check_sequence_start_first(relayed(swapped), tags, fourcc=HVC1)) is Verdict.FAIL
    # Record replaced by something that is not a configuration record (first byte 0).
    bad = [vtag(0, media.build_ex_video(1, VPT.SEQUENCE_START, HVC1, b"\x00" + HVCC[1:]))] + tags[1:]
    assert verdict(ertmp.check_sequence_start_first(relayed(bad), tags, fourcc=HVC1)) is Verdict.FAIL


# -- ERTMP-1 late joiner -------------------------------------------------------------------------


def test_ex_late_joiner_good() -> None:
    tags = hevc_tags(6, 3)
    got = [tags[0]] + tags[4:]  # SequenceStart, then the GOP from frame 3 (a keyframe)
    assert verdict(ertmp.check_ex_late_joiner(relayed(got), tags, fourcc=HVC1)) is Verdict.PASS


def test_ex_late_joiner_inter_first_non_strict() -> None:
    tags = hevc_tags(6, 3)
    got = [tags[0]] + tags[5:]  # starts at an inter frame: a server reading the legacy nibble
    assert verdict(ertmp.check_ex_late_joiner(relayed(got), tags, fourcc=HVC1)) is Verdict.NON_STRICT


def test_ex_late_joiner_lost_exheader_bit_fails() -> None:
    tags = hevc_tags(6, 3)
    # The relay cleared IsExVideoHeader (bit 7) of the keyframe: players read it as legacy video.
    got = [tags[0], vtag(120, bytes([tags[4].payload[0] & 0x7F]) + tags[4].payload[1:])]
    assert verdict(ertmp.check_ex_late_joiner(relayed(got), tags, fourcc=HVC1)) is Verdict.FAIL


def test_ex_late_joiner_nothing_unimplemented() -> None:
    tags = hevc_tags()
    assert verdict(ertmp.check_ex_late_joiner(player_log([]), tags, fourcc=HVC1)) is Verdict.UNIMPLEMENTED


# -- ERTMP-9 -------------------------------------------------------------------------------------


def _unknown_case() -> tuple[list[MediaTag], list[bytes], list[bytes]]:
    tags = hevc_tags(3)
    unknown = [media.build_ex_video(1, VPT.SEQUENCE_START, b"abcd", b"cfg")]
    after = [tags[1].payload]
    return tags + [vtag(200, unknown[0])], unknown, after


def test_unknown_handled_ignored_passes() -> None:
    sent, unknown, after = _unknown_case()
    player = relayed(sent[:4])
    pub, off = publisher()
    found = ertmp.check_unknown_handled(pub, player, fresh(), sent=sent, unknown=unknown,
                                        after=after, probe_offset=off, what="FourCC abcd")
    assert verdict(found) is Verdict.INFORMATIONAL


def test_unknown_handled_crash_fails() -> None:
    sent, unknown, after = _unknown_case()
    pub, off = publisher(refused="close")
    found = ertmp.check_unknown_handled(pub, player_log([]), fresh(handshake=False), sent=sent,
                                        unknown=unknown, after=after, probe_offset=off, what="FourCC abcd")
    assert verdict(found) is Verdict.FAIL


def test_unknown_handled_garbage_to_player_fails() -> None:
    sent, unknown, after = _unknown_case()
    # The server "translated" the unknown SequenceStart into a legacy AVC header.
    player = relayed(sent[:4] + [vtag(200, b"\x17\x00\x00\x00\x00cfg")])
    pub, off = publisher()
    found = ertmp.check_unknown_handled(pub, player, fresh(), sent=sent, unknown=unknown,
                                        after=after, probe_offset=off, what="FourCC abcd")
    assert verdict(found) is Verdict.FAIL


def test_unknown_handled_stuck_publisher_non_strict() -> None:
    sent, unknown, after = _unknown_case()
    pub, off = publisher(ping_answered=False)
    found = ertmp.check_unknown_handled(pub, relayed(sent[:4]), fresh(),
                                        sent=sent, unknown=unknown, after=after, probe_offset=off, what="ModEx")
    assert verdict(found) is Verdict.NON_STRICT


def test_unknown_handled_continuation_per_track() -> None:
    tags = hevc_tags(6)
    unknown = [media.build_ex_video(1, VPT.SEQUENCE_START, b"abcd", b"cfg")]
    sent = tags[:3] + [vtag(200, unknown[0])] + tags[3:]
    after = [t.payload for t in tags[3:]]
    pub, off = publisher()
    # A legacy server relays no E-RTMP video at all: the continuation cannot be judged.
    found = ertmp.check_unknown_handled(pub, player_log([]), fresh(), sent=sent, unknown=unknown,
                                        after=after, probe_offset=off, what="FourCC abcd")
    assert verdict(found) is Verdict.INFORMATIONAL
    assert any("not judged" in f.message for f in found)
    # A server that relayed the video before, and stops after the unknown message: NON-STRICT.
    found = ertmp.check_unknown_handled(pub, relayed(tags[:3]), fresh(), sent=sent, unknown=unknown,
                                        after=after, probe_offset=off, what="FourCC abcd")
    assert verdict(found) is Verdict.NON_STRICT


# -- ERTMP-10 ------------------------------------------------------------------------------------


def test_connect_caps_accepted_and_refused() -> None:
    sent = {"fourCcList": ["hvc1"]}
    ok = ertmp.check_connect_caps(session(play=False).log, sent=sent)
    assert verdict(ok) is Verdict.INFORMATIONAL and any(f.verdict is Verdict.PASS for f in ok)
    echoed = ertmp.check_connect_caps(session(play=False, result_obj={"capsEx": 2.0}).log, sent=sent)
    assert any("capsEx" in f.message for f in echoed)
    assert verdict(ertmp.check_connect_caps(session(play=False, connect_reply="_error").log, sent=sent)) \
        is Verdict.NON_STRICT
    closed = session(play=False, connect_reply="none")
    closed.log.mark_closed(S2C, closed.t)
    assert verdict(ertmp.check_connect_caps(closed.log, sent=sent)) is Verdict.NON_STRICT


def test_player_without_fourcc_list_recorded_and_garbage_fails() -> None:
    tags = hevc_tags()
    assert verdict(ertmp.check_player_without_fourcc_list(relayed(tags), tags)) is Verdict.INFORMATIONAL
    assert verdict(ertmp.check_player_without_fourcc_list(player_log([]), tags)) is Verdict.INFORMATIONAL
    garbage = [(9, t.timestamp, flip(t.payload, 9)) for t in tags]
    assert verdict(ertmp.check_player_without_fourcc_list(player_log(garbage), tags)) is Verdict.FAIL


# -- ERTMP-11 ------------------------------------------------------------------------------------


def _with_reconnect(msid: int = 0, level: str = "status", tc_url: Any = "/newapp") -> WireLog:
    b = session()
    b.server_msg(Command("onStatus", 0.0, None,
                         (info_obj("NetConnection.Connect.ReconnectRequest", level, tcUrl=tc_url),)), msid=msid, csid=3)
    return b.log


def test_reconnect_request_not_advertised() -> None:
    assert verdict(ertmp.check_reconnect_request([session().log], advertised=False)) is Verdict.PASS
    assert verdict(ertmp.check_reconnect_request([session().log, _with_reconnect()], advertised=False)) \
        is Verdict.FAIL


def test_reconnect_request_advertised_validated() -> None:
    assert verdict(ertmp.check_reconnect_request([_with_reconnect()], advertised=True)) is Verdict.PASS
    assert verdict(ertmp.check_reconnect_request([session().log], advertised=True)) is Verdict.INFORMATIONAL
    assert verdict(ertmp.check_reconnect_request([_with_reconnect(msid=1)], advertised=True)) is Verdict.FAIL
    assert verdict(ertmp.check_reconnect_request([_with_reconnect(level="error")], advertised=True)) is Verdict.FAIL
    assert verdict(ertmp.check_reconnect_request([_with_reconnect(tc_url=5.0)], advertised=True)) is Verdict.FAIL


# -- ERTMP-12 ------------------------------------------------------------------------------------


def _metadata_log(obj: dict[str, Any] | None) -> WireLog:
    b = session()
    if obj is not None:
        b.server_msg(Data(("onMetaData", amf0.EcmaArray(obj))), msid=1)
    return b.log


def test_fourcc_metadata() -> None:
    want = {"videocodecid": media.FourCC.as_number(HVC1)}
    assert verdict(ertmp.check_fourcc_metadata(_metadata_log(dict(want)), expected=want)) is Verdict.PASS
    # nginx-style regeneration from a legacy codec table: HEVC becomes 12.
    assert verdict(ertmp.check_fourcc_metadata(_metadata_log({"videocodecid": 12.0}), expected=want)) \
        is Verdict.NON_STRICT
    assert verdict(ertmp.check_fourcc_metadata(_metadata_log(None), expected=want)) is Verdict.NON_STRICT


# -- ERTMP-13 ------------------------------------------------------------------------------------


def test_ertmp_over_handshake() -> None:
    tags = hevc_tags()
    assert verdict(ertmp.check_ertmp_over_handshake(publisher_log(), relayed(tags), tags)) is Verdict.PASS
    # A server that answers an E-RTMP client with a bumped version byte.
    found = ertmp.check_ertmp_over_handshake(publisher_log(hs_version=4), relayed(tags), tags)
    assert verdict(found) is Verdict.FAIL


# -- ERTMP-14 ------------------------------------------------------------------------------------


def _meta_case() -> tuple[list[MediaTag], bytes, bytes]:
    tags = hevc_tags(6, 3)
    meta = media.build_ex_video(1, VPT.METADATA, HVC1, amf0.encode_all("colorInfo", {"colorConfig": {}}))
    key2 = tags[4]
    return tags[:4] + [vtag(key2.timestamp, meta)] + tags[4:], meta, key2.payload


def test_metadata_frame_order() -> None:
    sent, meta, key = _meta_case()
    assert verdict(ertmp.check_metadata_frame_order(relayed(sent), metadata=meta, keyframe=key, sent=sent)) \
        is Verdict.PASS
    late = sent[:4] + sent[5:6] + sent[4:5] + sent[6:]  # Metadata after the keyframe
    assert verdict(ertmp.check_metadata_frame_order(relayed(late), metadata=meta, keyframe=key, sent=sent)) \
        is Verdict.FAIL
    dropped = sent[:4] + sent[5:]
    assert verdict(ertmp.check_metadata_frame_order(relayed(dropped), metadata=meta, keyframe=key, sent=sent)) \
        is Verdict.NON_STRICT


# -- ERTMP-15 ------------------------------------------------------------------------------------


def test_silence_accepted() -> None:
    tags = hevc_tags()
    after = [t.payload for t in tags[3:]]
    good = player_log([(9, t.timestamp, t.payload) for t in tags[:3]] + [(8, 100, b"")]
                      + [(9, t.timestamp, t.payload) for t in tags[3:]])
    assert verdict(ertmp.check_silence_accepted(publisher_log(), good, special=b"", after=after,
                                                what="zero-length audio")) is Verdict.INFORMATIONAL
    # A server that treats the empty message as malformed and drops the publisher.
    stopped = relayed(tags[:3])
    found = ertmp.check_silence_accepted(publisher_log(refused="close"), stopped, special=b"", after=after,
                                         what="zero-length audio")
    assert verdict(found) is Verdict.FAIL


def test_silence_judged_on_relayed_tracks() -> None:
    # HEVC video and ex-audio; the silence sits between the first and second halves.
    audio = [atag(20 * n, media.build_ex_audio(APT.CODED_FRAMES, media.FourCC.MP4A, bytes([n, 1, 2]))) for n in range(6)]
    video = hevc_tags()
    before, after = video[:3] + audio[:3], video[3:] + audio[3:]
    # A legacy server relays no E-RTMP video at all, but the audio goes on: not the silence's fault.
    legacy = relayed(audio)
    found = ertmp.check_silence_accepted(publisher_log(), legacy, special=b"", after=after, before=before,
                                         what="zero-length audio")
    assert verdict(found) is Verdict.INFORMATIONAL
    assert any("not judged" in f.message for f in found)
    # The same server, but the audio stops at the silence: FAIL.
    stopped = relayed(audio[:3])
    found = ertmp.check_silence_accepted(publisher_log(), stopped, special=b"", after=after, before=before,
                                         what="zero-length audio")
    assert verdict(found) is Verdict.FAIL
    # A server relaying both tracks that loses the video after the silence: FAIL.
    no_video_after = relayed(video[:3] + audio)
    found = ertmp.check_silence_accepted(publisher_log(), no_video_after, special=b"", after=after, before=before,
                                         what="zero-length audio")
    assert verdict(found) is Verdict.FAIL


# -- ERTMP-3 / ERTMP-16 --------------------------------------------------------------------------


def test_command_frames() -> None:
    tags = hevc_tags()
    cmd = media.build_video_command(0)
    sent = tags[:3] + [vtag(80, cmd)] + tags[3:]
    assert verdict(ertmp.check_command_frames(relayed(tags), sent, commands=[cmd])) is Verdict.INFORMATIONAL
    broken = tags[:3] + [vtag(80, b"\xd1")] + tags[3:]  # VideoCommand byte lost
    assert verdict(ertmp.check_command_frames(relayed(broken), sent, commands=[cmd])) is Verdict.FAIL


def test_legacy_hevc() -> None:
    sent = [vtag(0, media.build_avc_video(1, 0, 0, HVCC, codec_id=12)),
            vtag(0, media.build_avc_video(1, 1, 40, NALU, codec_id=12))]
    assert verdict(ertmp.check_legacy_hevc(publisher_log(), relayed(sent), fresh(), sent)) is Verdict.PASS
    assert verdict(ertmp.check_legacy_hevc(publisher_log(), player_log([]), fresh(), sent)) \
        is Verdict.INFORMATIONAL
    assert verdict(ertmp.check_legacy_hevc(publisher_log(refused="close"), player_log([]), fresh(handshake=False), sent)) \
        is Verdict.FAIL
