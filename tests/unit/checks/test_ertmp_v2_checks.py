"""E-RTMP v2 checkers (ERTMP-17..31, new ERTMP-11 drain checks) against good and deliberately broken
servers' traffic: every checker FAILs (or reports the violation) on a small broken double."""

from __future__ import annotations

from typing import Any

from rtmpconf.harness.checks import ertmp
from rtmpconf.harness.eflv import load_vector
from rtmpconf.harness.testmedia import MediaTag
from rtmpconf.harness.verdict import Verdict, worst
from rtmpconf.harness.wirelog import S2C, WireLog
from rtmpconf.reference_server.tracks import MediaInfo
from rtmpconf.rtmp import amf0, media
from rtmpconf.rtmp.ertmp import ClientCaps
from rtmpconf.rtmp.messages import Command, Data
from tests.unit.checks.fakes import info_obj
from tests.unit.checks.test_ertmp_checks import atag, player_log, relayed, session, vtag

VPT, APT, MT, FC = media.VideoPacketType, media.AudioPacketType, media.AvMultitrackType, media.FourCC
FULL = {"fourCcList": ["*"], "capsEx": 14.0}


def as_player_gets(tags: list[MediaTag], caps: dict[str, Any]) -> WireLog:
    """A well-behaved server's player log: each message rendered for the player (the reference
    server's tracks.py views)."""
    c = ClientCaps.from_connect(caps)
    out = []
    for t in tags:
        if t.type_id not in (8, 9):
            continue
        r = MediaInfo(t.type_id, t.payload).render(c)
        if r is not None:
            out.append((t.type_id, t.timestamp, r[0]))
    return player_log(out)


def obs_tail(after_ms: int = 500) -> list[MediaTag]:
    return [t for t in load_vector("obs-multitrack.flv") if t.type_id in (8, 9)]


# -- ERTMP-19 per-track sequence headers -------------------------------------------------------------


def _late_join_view(tags: list[MediaTag], *, keep_headers: bool) -> WireLog:
    """A late joiner at the 400 ms keyframe: the headers (all tracks, or only track 0 as a one-header server
    keeps), then everything from 500 ms on."""
    headers = [t for t in tags if t.type_id in (8, 9) and MediaInfo(t.type_id, t.payload).header_kind]
    if not keep_headers:
        headers = [h for h in headers if MediaInfo(h.type_id, h.payload).tracks == (0,)]
    tail = [t for t in tags if t.type_id in (8, 9) and t.timestamp >= 400 and not MediaInfo(t.type_id, t.payload).header_kind]
    return relayed(headers + tail)


def test_track_config_first_passes_with_every_tracks_header() -> None:
    tags = obs_tail()
    found = ertmp.check_track_config_first(_late_join_view(tags, keep_headers=True),
                                           expect={(9, 0), (9, 1), (9, 2), (8, 0), (8, 1)})
    assert worst(found) is Verdict.PASS


def test_track_config_first_fails_on_a_server_keeping_one_header() -> None:
    """The reference server before this round: track 1/2 sequence headers overwrote each other."""
    found = ertmp.check_track_config_first(_late_join_view(obs_tail(), keep_headers=False))
    assert worst(found) is Verdict.FAIL
    assert any("track 1" in f.message for f in found if f.verdict is Verdict.FAIL)


def test_track_config_first_not_run_without_frames() -> None:
    assert worst(ertmp.check_track_config_first(player_log([]))) is Verdict.NOT_RUN


# -- ERTMP-20 MultichannelConfig / colorInfo ------------------------------------------------------------


def test_extras_first() -> None:
    tags = [t for t in load_vector("hvc1-opus.flv") if t.type_id in (8, 9)]
    good = _late_join_view(tags, keep_headers=True)
    assert worst(ertmp.check_track_extras_first(good, kinds={(8, 0): {"channels"}})) is Verdict.PASS
    # A server that keeps only the SequenceStart (drops the MultichannelConfig for late joiners).
    no_mc = [t for t in tags if not (t.type_id == 8 and MediaInfo(8, t.payload).header_kind == "channels")]
    bad = _late_join_view(no_mc, keep_headers=True)
    assert worst(ertmp.check_track_extras_first(bad, kinds={(8, 0): {"channels"}})) is Verdict.FAIL


# -- ERTMP-17 / ERTMP-21 declarations ------------------------------------------------------------------


def test_fourcc_filter() -> None:
    tags = [t for t in load_vector("av01-ac-3.flv") if t.type_id == 9]
    forwarding = relayed(tags)  # a server that forwards av01 to everyone
    assert worst(ertmp.check_fourcc_filter(forwarding, fourcc=FC.AV01, connect_obj={"fourCcList": ["av01"]})) is Verdict.PASS
    assert worst(ertmp.check_fourcc_filter(forwarding, fourcc=FC.AV01, connect_obj={"fourCcList": ["hvc1"]})) is Verdict.FAIL
    enc_only = {"videoFourCcInfoMap": {"av01": 2.0}}
    assert worst(ertmp.check_fourcc_filter(forwarding, fourcc=FC.AV01, connect_obj=enc_only)) is Verdict.FAIL
    filtering = player_log([])
    assert worst(ertmp.check_fourcc_filter(filtering, fourcc=FC.AV01, connect_obj=enc_only)) is Verdict.PASS
    assert worst(ertmp.check_fourcc_filter(filtering, fourcc=FC.AV01,
                                           connect_obj={"fourCcList": ["*"]})) is Verdict.UNIMPLEMENTED


def test_declared_only() -> None:
    tags = load_vector("obs-multitrack.flv")
    no_mt = {"fourCcList": ["*"]}
    assert worst(ertmp.check_declared_only(as_player_gets(list(tags), no_mt), no_mt)) is Verdict.PASS
    # A pure relay sends the OneTrack messages to a player without capsEx Multitrack.
    assert worst(ertmp.check_declared_only(relayed([t for t in tags if t.type_id in (8, 9)]), no_mt)) is Verdict.FAIL
    legacy: dict[str, Any] = {}
    hevc = [t for t in load_vector("hvc1-opus.flv") if t.type_id in (8, 9)]
    assert worst(ertmp.check_declared_only(relayed(hevc), legacy)) is Verdict.FAIL
    assert worst(ertmp.check_declared_only(as_player_gets(hevc, legacy), legacy)) is Verdict.PASS
    modex = [t for t in load_vector("hvc1-mp4a-modex.flv") if t.type_id in (8, 9)]
    no_modex = {"fourCcList": ["*"], "capsEx": 2.0}
    assert worst(ertmp.check_declared_only(relayed(modex), no_modex)) is Verdict.FAIL
    assert worst(ertmp.check_declared_only(as_player_gets(modex, no_modex), no_modex)) is Verdict.PASS


# -- ERTMP-22 default track --------------------------------------------------------------------------------


def test_default_track() -> None:
    tags = list(load_vector("obs-multitrack.flv"))
    assert worst(ertmp.check_default_track(as_player_gets(tags, {}), tags)) is Verdict.PASS
    # A server that sends a legacy player nothing of the multitrack stream.
    assert worst(ertmp.check_default_track(player_log([]), tags)) is Verdict.FAIL
    hevc = list(load_vector("hvc1-opus.flv"))
    assert worst(ertmp.check_default_track(player_log([]), hevc)) is Verdict.NOT_RUN  # no legacy form exists


# -- ERTMP-18 server capabilities ---------------------------------------------------------------------------


def test_server_caps() -> None:
    good = session(result_obj={"fmsVer": "FMS/3", "capsEx": 15.0, "videoFourCcInfoMap": {"*": 4.0},
                               "fourCcList": ["*"]}).log
    assert worst(ertmp.check_server_caps(good, relays_ertmp=True)) is Verdict.PASS
    none = session(result_obj={"fmsVer": "FMS/3"}).log
    assert worst(ertmp.check_server_caps(none, relays_ertmp=True)) is Verdict.FAIL
    assert worst(ertmp.check_server_caps(none, relays_ertmp=False)) is Verdict.UNIMPLEMENTED
    bad_types = session(result_obj={"fmsVer": "FMS/3", "capsEx": "all", "fourCcList": "hvc1"}).log
    assert worst(ertmp.check_server_caps(bad_types, relays_ertmp=True)) is Verdict.FAIL


# -- ERTMP-11 / ERTMP-23 drain ---------------------------------------------------------------------------


def _with_request(tc_url: str | None, *, level: str = "status", msid: int = 0) -> WireLog:
    b = session()
    extra = {"tcUrl": tc_url} if tc_url is not None else {}
    b.server_msg(Command("onStatus", 0.0, None, (info_obj(ertmp.RECONNECT_CODE, level, **extra),)), msid=msid, csid=3)
    return b.log


def test_reconnect_on_drain() -> None:
    plain = session().log
    ok = ertmp.check_reconnect_on_drain([_with_request("/live")], [plain], tc_url="/live")
    assert worst(ok) is Verdict.PASS
    assert worst(ertmp.check_reconnect_on_drain([_with_request("/live")], [_with_request("/live")],
                                                tc_url="/live")) is Verdict.FAIL  # sent to a non-capable client
    assert worst(ertmp.check_reconnect_on_drain([_with_request("/other")], [], tc_url="/live")) is Verdict.FAIL
    assert worst(ertmp.check_reconnect_on_drain([_with_request("/live", level="error")], [],
                                                tc_url="/live")) is Verdict.FAIL
    assert worst(ertmp.check_reconnect_on_drain([_with_request("/live", msid=1)], [], tc_url="/live")) is Verdict.FAIL
    assert worst(ertmp.check_reconnect_on_drain([plain], [plain], tc_url=None)) is Verdict.NOT_RUN


def test_reconnect_followed() -> None:
    b = session(play=True)
    assert worst(ertmp.check_reconnect_followed(b.log, resolved="rtmp://h:1/live", expected_url="rtmp://h:1/live",
                                                publish=False)) is Verdict.PASS
    assert worst(ertmp.check_reconnect_followed(None, resolved="rtmp://h:1/live", expected_url="rtmp://h:1/live",
                                                publish=False, error="refused")) is Verdict.FAIL
    # A resolution that differs is the harness's own bug: ERROR, never a verdict on the target.
    assert worst(ertmp.check_reconnect_followed(b.log, resolved="rtmp://h:1/x", expected_url="rtmp://h:1/live",
                                                publish=False)) is Verdict.ERROR


def test_served_after_request_and_closed_cleanly() -> None:
    tags = [vtag(40 * i, media.build_ex_video(2, VPT.CODED_FRAMES, FC.HVC1, bytes([i]) * 9)) for i in range(6)]
    assert worst(ertmp.check_served_after_request(relayed(tags), after=tags[3:])) is Verdict.PASS
    # A server that stopped relaying once it had sent the request.
    assert worst(ertmp.check_served_after_request(relayed(tags[:3]), after=tags[3:])) is Verdict.FAIL
    b = session()
    b.log.mark_closed(S2C, b.t, reset=True)
    assert worst(ertmp.check_closed_cleanly(b.log)) is Verdict.FAIL
    c = session()
    c.log.mark_closed(S2C, c.t)
    assert worst(ertmp.check_closed_cleanly(c.log)) is Verdict.PASS
    assert worst(ertmp.check_closed_cleanly(session().log)) is Verdict.NOT_RUN


# -- quirks -------------------------------------------------------------------------------------------


def test_abandoned_media() -> None:
    frames = [vtag(40 * i, media.build_avc_video(2, 1, 0, bytes([i]) * 300)) for i in range(6)]
    abandoned = frames[3]
    sent = frames[:3] + frames[4:]
    assert worst(ertmp.check_abandoned_media(relayed(sent), sent, abandoned=abandoned.payload)) is Verdict.PASS
    # Abort ignored: the first 128 bytes of the abandoned frame glued to the next frame's bytes.
    glued = vtag(120, abandoned.payload[:128] + frames[4].payload[:172])
    assert worst(ertmp.check_abandoned_media(relayed(frames[:3] + [glued] + frames[5:]), sent,
                                             abandoned=abandoned.payload)) is Verdict.FAIL


def test_publish_false() -> None:
    from tests.unit.checks.fakes import fresh_dead, fresh_ok
    pub = session(play=False).log
    second_ok = session(play=False)
    second_ok.server_msg(Command("onStatus", 0.0, None, (info_obj("NetStream.Publish.Start"),)), msid=1, csid=3)
    player = session()
    player.server_msg(Command("onStatus", 0.0, None, (info_obj("NetStream.Play.UnpublishNotify"),)), msid=1, csid=3)
    good = ertmp.check_publish_false(pub, player.log, second_ok.log, fresh_ok())
    assert worst(good) is Verdict.PASS
    second_bad = session(play=False)
    second_bad.server_msg(Command("onStatus", 0.0, None, (info_obj("NetStream.Publish.BadName", "error"),)),
                          msid=1, csid=3)
    assert worst(ertmp.check_publish_false(pub, player.log, second_bad.log, fresh_ok())) is Verdict.FAIL
    # Node-Media-Server #67: the server died.
    assert worst(ertmp.check_publish_false(pub, player.log, second_ok.log, fresh_dead())) is Verdict.FAIL


def test_survives() -> None:
    from tests.unit.checks.fakes import fresh_dead, fresh_ok
    tags = [atag(20 * i, media.build_aac_audio(1, bytes([i]) * 20)) for i in range(5)]
    pub = session(play=False).log
    assert worst(ertmp.check_survives(pub, relayed(tags), fresh_ok(), after=tags, what="x", rule="ERTMP-27")) \
        is Verdict.PASS
    assert worst(ertmp.check_survives(pub, relayed(tags[:2]), fresh_ok(), after=tags, what="x", rule="ERTMP-27")) \
        is Verdict.FAIL
    assert worst(ertmp.check_survives(pub, relayed(tags), fresh_dead(), after=tags, what="x", rule="ERTMP-27")) \
        is Verdict.FAIL


def test_aac_change() -> None:
    old, new = media.build_aac_audio(0, b"\x12\x10"), media.build_aac_audio(0, b"\x11\x90")
    f_old = [media.build_aac_audio(1, bytes([i]) * 10) for i in range(3)]
    f_new = [media.build_aac_audio(1, bytes([9 - i]) * 10) for i in range(3)]
    waiting = player_log([(8, 0, old), *((8, 20 * i, f) for i, f in enumerate(f_old)), (8, 100, new),
                          *((8, 120 + 20 * i, f) for i, f in enumerate(f_new))])
    late_ok = player_log([(8, 100, new), *((8, 120 + 20 * i, f) for i, f in enumerate(f_new))])
    assert worst(ertmp.check_aac_change(waiting, late_ok, old_sh=old, new_sh=new, new_frames=f_new)) is Verdict.PASS
    # A server that keeps the first AAC sequence header for late joiners (SRS #1630).
    late_bad = player_log([(8, 100, old), *((8, 120 + 20 * i, f) for i, f in enumerate(f_new))])
    assert worst(ertmp.check_aac_change(waiting, late_bad, old_sh=old, new_sh=new, new_frames=f_new)) is Verdict.FAIL
    # A server that relays the new frames before the new header.
    reordered = player_log([(8, 0, old), (8, 120, f_new[0]), (8, 100, new)])
    assert worst(ertmp.check_aac_change(reordered, late_ok, old_sh=old, new_sh=new, new_frames=f_new)) is Verdict.FAIL


def _meta_log(obj: dict[str, Any] | None) -> WireLog:
    b = session()
    if obj is not None:
        b.server_msg(Data(("onMetaData", amf0.EcmaArray(obj))), msid=1)
    return b.log


def test_metadata_like_type_18() -> None:
    want = {"width": 320.0, "encoder": "x"}
    assert worst(ertmp.check_metadata_like_type_18(_meta_log(want), control=_meta_log(want), expected=want)) \
        is Verdict.PASS
    assert worst(ertmp.check_metadata_like_type_18(_meta_log(None), control=_meta_log(want), expected=want)) \
        is Verdict.FAIL
    # A server that regenerates metadata drops "encoder" for both: not held against type 15.
    regen = {"width": 320.0}
    assert worst(ertmp.check_metadata_like_type_18(_meta_log(regen), control=_meta_log(regen), expected=want)) \
        is Verdict.PASS
    assert worst(ertmp.check_metadata_like_type_18(_meta_log(None), control=_meta_log(None), expected=want)) \
        is Verdict.NOT_RUN


def test_metadata_values_track_maps() -> None:
    want = {"videoTrackIdInfoMap": {"1": {"width": 128.0}}}
    assert worst(ertmp.check_metadata_values(_meta_log(want), expected=want, rule="ERTMP-12")) is Verdict.PASS
    assert worst(ertmp.check_metadata_values(_meta_log({"width": 1.0}), expected=want, rule="ERTMP-12")) \
        is Verdict.FAIL


# -- real peers (PyAV results) -----------------------------------------------------------------------


def _peer(streams: list[dict[str, Any]], ok: bool = True, error: str | None = None) -> Any:
    from rtmpconf.harness.peers.pyav_ertmp import PeerResult
    return PeerResult(ok, error, streams, 3.0)


def _s(kind: str, codec: str, *, track: int = 0, packets: int = 50, frames: int = 50, errors: int = 0,
       first_key: bool | None = True) -> dict[str, Any]:
    return {"index": 0, "id": track, "type": kind, "codec": codec, "packets": packets, "frames": frames,
            "errors": errors, "first_key": first_key if kind == "video" else None}


def test_pyav_round_trip() -> None:
    pub = _peer([])
    good = _peer([_s("video", "hevc"), _s("audio", "opus")])
    assert worst(ertmp.check_pyav_round_trip(good, pub, video="hevc", audio="opus")) is Verdict.PASS
    # A server that relays HEVC with corrupted frames: FFmpeg refuses packets.
    broken = _peer([_s("video", "hevc", errors=7), _s("audio", "opus")])
    assert worst(ertmp.check_pyav_round_trip(broken, pub, video="hevc", audio="opus")) is Verdict.FAIL
    # A server that relays no E-RTMP video (nginx-rtmp): the feature is missing.
    audio_only = _peer([_s("audio", "opus")])
    assert worst(ertmp.check_pyav_round_trip(audio_only, pub, video="hevc", audio="opus")) is Verdict.UNIMPLEMENTED
    wrong_codec = _peer([_s("video", "h264"), _s("audio", "opus")])
    assert worst(ertmp.check_pyav_round_trip(wrong_codec, pub, video="hevc", audio="opus")) is Verdict.FAIL
    assert worst(ertmp.check_pyav_round_trip(_peer([], ok=False, error="open failed"), pub, video="hevc",
                                             audio="opus")) is Verdict.FAIL


def test_pyav_legacy_default_track() -> None:
    pub = _peer([])
    good = _peer([_s("video", "h264"), _s("audio", "aac")])
    assert worst(ertmp.check_pyav_legacy_default_track(good, pub)) is Verdict.PASS
    # A pure relay: the legacy player also gets tracks 1..2 (FFmpeg happens to demux them).
    extra = _peer([_s("video", "h264"), _s("audio", "aac"), _s("video", "hevc", track=2)])
    found = ertmp.check_pyav_legacy_default_track(extra, pub)
    assert any(f.rule == "ERTMP-21" and f.verdict is Verdict.FAIL for f in found)
    # No default-track video at all (nginx-rtmp with an OBS-style stream).
    assert worst(ertmp.check_pyav_legacy_default_track(_peer([_s("audio", "aac")]), pub)) is Verdict.FAIL
    undecodable = _peer([_s("video", "h264", errors=3), _s("audio", "aac")])
    assert worst(ertmp.check_pyav_legacy_default_track(undecodable, pub)) is Verdict.FAIL
