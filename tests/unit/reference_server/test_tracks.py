"""E-RTMP per-track state and player views of the reference server (reference_server/tracks.py and
its use in streams.py): capability parsing, rendering for legacy / non-multitrack / non-ModEx
players, per-track sequence headers and GOP cache, late joiners per track."""

from __future__ import annotations

from rtmpconf.harness.eflv import load_vector
from rtmpconf.reference_server.config import ServerConfig
from rtmpconf.reference_server.streams import LiveStream
from rtmpconf.reference_server.tracks import CONFIG, ClientCaps, HeaderCache, MediaInfo, server_capabilities
from rtmpconf.rtmp import media
from tests.unit.reference_server.test_streams import FakeSink

VPT, APT, MT, FC = media.VideoPacketType, media.AudioPacketType, media.AvMultitrackType, media.FourCC
FULL = ClientCaps.from_connect({"fourCcList": ["*"], "capsEx": 15.0})


# -- connect capabilities --------------------------------------------------------------------------


def test_caps_from_connect() -> None:
    assert ClientCaps.from_connect({"app": "live"}) == ClientCaps.LEGACY
    c = ClientCaps.from_connect({"fourCcList": ["hvc1", "Opus", "bogus-entry", 7], "capsEx": 3.0})
    assert c.declared and c.video == {b"hvc1", b"Opus"} and c.reconnect and c.multitrack and not c.modex
    assert c.takes(True, b"hvc1") and not c.takes(True, b"av01")
    # "*" in the list = any codec.
    assert ClientCaps.from_connect({"fourCcList": ["*"]}).video is None
    # Info maps: CanDecode or CanForward count, CanEncode alone does not; "*" overrides the entries.
    m = ClientCaps.from_connect({"videoFourCcInfoMap": {"av01": 1.0, "vp09": 2.0, "hvc1": 4.0},
                                 "audioFourCcInfoMap": {"*": 4.0, "Opus": 2.0}})
    assert m.video == {b"av01", b"hvc1"} and m.audio is None and not m.takes(True, b"vp09")
    assert ClientCaps.from_connect({"videoFourCcInfoMap": {"*": 2.0, "hvc1": 1.0}}).video == frozenset()
    # An ECMA array (dict of indexes) is accepted where a strict array is expected.
    assert ClientCaps.from_connect({"fourCcList": {"0": "av01"}}).video == {b"av01"}
    # Garbage capsEx is ignored, not fatal.
    assert ClientCaps.from_connect({"capsEx": "lots"}).caps_ex == 0
    assert FULL.full and not ClientCaps.from_connect({"fourCcList": ["*"]}).full


def test_server_capabilities_advertise_forwarding_and_caps_ex() -> None:
    caps = server_capabilities()
    assert caps["fourCcList"] == ["*"] and caps["videoFourCcInfoMap"] == {"*": 4.0}
    assert caps["capsEx"] == 15.0


# -- rendering -------------------------------------------------------------------------------------


def test_render_legacy_player() -> None:
    legacy = ClientCaps.LEGACY
    avc1 = MediaInfo(9, media.build_ex_video(1, VPT.CODED_FRAMES, FC.AVC1, b"nal", cts=40))
    assert avc1.render(legacy) == (b"\x17\x01\x00\x00\x28nal", (0,))  # legacy CodecID 7
    hevc = MediaInfo(9, media.build_ex_video(1, VPT.CODED_FRAMES, FC.HVC1, b"nal"))
    assert hevc.render(legacy) is None  # no legacy form: never bytes a legacy player cannot parse
    plain = MediaInfo(9, media.build_avc_video(1, 1, 0, b"x"))
    assert plain.render(legacy) == (plain.payload, (0,))
    assert MediaInfo(8, b"").render(legacy) == (b"", (0,))  # silence (ERTMP-15)
    cmd = MediaInfo(9, media.build_video_command(0))
    assert cmd.render(legacy) is None and cmd.render(FULL) == (cmd.payload, (0,))


def test_render_multitrack_for_players_without_multitrack() -> None:
    mt = media.build_ex_video_multitrack(1, VPT.CODED_FRAMES, MT.MANY_TRACKS,
                                         [(0, FC.HVC1, b"\x00\x00\x00zero"), (1, FC.HVC1, b"\x00\x00\x00one")])
    info = MediaInfo(9, mt)
    assert info.tracks == (0, 1)
    no_mt = ClientCaps.from_connect({"fourCcList": ["hvc1"]})
    single = info.render(no_mt)
    assert single == (media.build_ex_video(1, VPT.CODED_FRAMES, FC.HVC1, b"zero", cts=0), (0,))
    with_mt = ClientCaps.from_connect({"fourCcList": ["hvc1"], "capsEx": 2.0})
    assert info.render(with_mt) == (mt, (0, 1))
    one = MediaInfo(9, media.build_ex_video_multitrack(2, VPT.CODED_FRAMES, MT.ONE_TRACK, [(3, FC.HVC1, b"\0\0\0x")]))
    assert one.render(no_mt) is None and one.render(with_mt) is not None


def test_render_many_codecs_keeps_declared_tracks_only() -> None:
    mt = media.build_ex_audio_multitrack(APT.CODED_FRAMES, MT.MANY_TRACKS_MANY_CODECS,
                                         [(0, FC.MP4A, b"aac"), (1, FC.OPUS, b"opus")])
    caps = ClientCaps.from_connect({"fourCcList": ["Opus"], "capsEx": 2.0})
    payload, tracks = MediaInfo(8, mt).render(caps) or (b"", ())
    assert tracks == (1,)
    tag = media.parse_audio_tag(payload)
    assert [(t.track_id, t.fourcc) for t in tag.tracks] == [(1, FC.OPUS)]
    # A legacy player gets track 0 as legacy AAC.
    assert MediaInfo(8, mt).render(ClientCaps.LEGACY) == (b"\xaf\x01aac", (0,))


def test_render_strips_modex_without_caps_ex_modex() -> None:
    plain = media.build_ex_video(1, VPT.CODED_FRAMES, FC.HVC1, b"nal")
    wrapped = MediaInfo(9, media.add_modex_nano_offset(plain, 500_000))
    no_modex = ClientCaps.from_connect({"fourCcList": ["hvc1"], "capsEx": 2.0})
    assert wrapped.render(no_modex) == (plain, (0,))
    modex = ClientCaps.from_connect({"fourCcList": ["hvc1"], "capsEx": 4.0})
    assert wrapped.render(modex) == (wrapped.payload, (0,))


def test_header_cache_per_track() -> None:
    hc = HeaderCache()
    sh0 = MediaInfo(9, media.build_avc_video(1, 0, 0, b"cfg0"))
    sh1 = MediaInfo(9, media.build_ex_video_multitrack(1, VPT.SEQUENCE_START, MT.ONE_TRACK, [(1, FC.HVC1, b"cfg1")]))
    assert sh0.header_kind == CONFIG and sh1.header_kind == CONFIG
    assert hc.store(sh0, 0) == {0} and hc.store(sh1, 0) == {1}
    assert hc.store(sh1, 40) == set()  # a repeat changes nothing
    sh1b = MediaInfo(9, media.build_ex_video_multitrack(1, VPT.SEQUENCE_START, MT.ONE_TRACK, [(1, FC.HVC1, b"new")]))
    assert hc.store(sh1b, 80) == {1}
    assert [e.info for e in hc.ordered()] == [sh0, sh1b]
    mc = MediaInfo(8, media.build_ex_audio(APT.MULTICHANNEL_CONFIG, FC.OPUS, b"\x01\x02\x00\x00\x00\x03"))
    color = MediaInfo(9, media.build_ex_video(1, VPT.METADATA, FC.HVC1, b"\x02\x00\x09colorInfo"))
    assert mc.header_kind == "channels" and color.header_kind == "color"


# -- the stream: OBS-style multitrack through the fan-out --------------------------------------------


def _stream() -> LiveStream:
    s = LiveStream("live", "x", ServerConfig.from_mapping({"port": 0, "aac_cadence": False}))
    s.start_publish(object())
    return s


def _publish(s: LiveStream, tags: object) -> None:
    from rtmpconf.rtmp import amf0
    for t in tags:  # type: ignore[attr-defined]
        if t.type_id == 18:
            s.on_metadata(tuple(amf0.decode_all(t.payload)), t.timestamp)
        else:
            s.on_media(t.type_id, t.timestamp, t.payload)


def _tracks_in_order(sink: FakeSink) -> list[tuple[int, tuple[int, ...], str]]:
    """(type, tracks, 'config'|'key'|'frame') of what a sink received."""
    out = []
    for m in sink.messages():
        if m.type_id not in (8, 9):
            continue
        info = MediaInfo(m.type_id, bytes(m.payload))
        kind = "config" if info.header_kind else "key" if m.type_id == 9 and media.is_video_keyframe(m.payload) else "frame"
        out.append((m.type_id, info.tracks, kind))
    return out


def test_obs_multitrack_late_joiner_gets_every_tracks_config_first() -> None:
    tags = load_vector("obs-multitrack.flv")
    s = _stream()
    half = [t for t in tags if t.timestamp < 500]
    _publish(s, half)  # keyframes at 0 and 400 ms for every track
    assert s.video_tracks == {0, 1, 2}
    sink = FakeSink()
    s.add_player(sink, 1, 4096, FULL)
    _publish(s, [t for t in tags if t.timestamp >= 500])
    seen: dict[tuple[int, int], str] = {}
    for type_id, tracks, kind in _tracks_in_order(sink):
        for t in tracks:
            if kind != "config":
                assert seen.get((type_id, t)) is not None, f"type {type_id} track {t}: {kind} before its config"
                if type_id == 9 and (type_id, t) not in {k for k, v in seen.items() if v == "started"}:
                    assert kind == "key", f"track {t}: first coded frame is not a keyframe"
                    seen[(type_id, t)] = "started"
            else:
                seen.setdefault((type_id, t), "config")
    assert {k for k in seen if k[0] == 9} == {(9, 0), (9, 1), (9, 2)}
    assert {k for k in seen if k[0] == 8} == {(8, 0), (8, 1)}


def test_obs_multitrack_legacy_player_gets_track_0_only() -> None:
    tags = load_vector("obs-multitrack.flv")
    s = _stream()
    _publish(s, [t for t in tags if t.timestamp < 500])
    sink = FakeSink()
    s.add_player(sink, 1, 4096)  # legacy: no fourCcList, no capsEx
    _publish(s, [t for t in tags if t.timestamp >= 500])
    got = sink.messages()
    assert got, "nothing reached the legacy player"
    for m in got:
        if m.type_id == 9:
            assert not m.payload[0] & 0x80, "an ExHeader message reached a legacy player"
        elif m.type_id == 8:
            assert m.payload[0] >> 4 == 10
    sent0 = {t.payload for t in tags if t.type_id in (8, 9) and MediaInfo(t.type_id, t.payload).tracks == (0,)
             and not (t.payload[0] & 0x80 if t.type_id == 9 else t.payload[0] >> 4 == 9)}
    assert all(bytes(m.payload) in sent0 for m in got if m.type_id in (8, 9))


def test_new_sequence_header_of_one_track_drops_only_that_tracks_frames() -> None:
    tags = load_vector("obs-multitrack.flv")
    s = _stream()
    _publish(s, [t for t in tags if t.timestamp < 500])
    before = len(s.gop.messages)
    assert set(s.gop.key_index) == {0, 1, 2}
    s.on_media(9, 500, media.build_ex_video_multitrack(1, VPT.SEQUENCE_START, MT.ONE_TRACK, [(2, FC.HVC1, b"\x01new")]))
    assert set(s.gop.key_index) == {0, 1}
    assert 0 < len(s.gop.messages) < before
    assert all(2 not in m.tracks for m in s.gop.messages if m.type_id == 9)


def test_legacy_player_of_hevc_only_stream_gets_audio() -> None:
    """Video it cannot parse is not waited for: the legacy player still gets the AAC (ERTMP-21)."""
    from rtmpconf.harness.testmedia import make_hevc
    stream = make_hevc(seconds=0.8, gop=8)
    s = _stream()
    sink = FakeSink()
    s.add_player(sink, 1, 4096)
    _publish(s, stream.publish_sequence())
    types = [m.type_id for m in sink.messages() if m.type_id in (8, 9)]
    assert 9 not in types and types.count(8) > 10

