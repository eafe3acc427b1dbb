"""Enhanced RTMP cases (catalogue section 9; veovera enhanced-rtmp v1/v2).

Most cases publish E-RTMP media (real HEVC/AV1 from harness.testmedia, or small synthetic payloads
for codecs PyAV cannot make here) to a player that joined before the first frame, then compare
what the player got with what was sent. A relay must carry E-RTMP payloads intact; a server that
does not support them must refuse cleanly. Media is sent as fast as possible (not realtime), and
``settle`` uses ping round trips instead of sleeps to know that everything has been relayed.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import pytest

from rtmpconf.harness.checks import ertmp as checks
from rtmpconf.harness.checks.robustness import open_fresh_session
from rtmpconf.harness.client import PeerClosed, RtmpClient, StepTimeout
from rtmpconf.harness.scenarios import probe_all
from rtmpconf.harness.testmedia import MediaTag, TestStream, make_av1, make_h264_aac, make_hevc
from rtmpconf.harness.wirelog import C2S
from rtmpconf.rtmp import amf0, media
from rtmpconf.rtmp.handshake import ClientHandshake, HandshakeMode

VPT = media.VideoPacketType
APT = media.AudioPacketType
FT = media.VideoFrameType
# Short streams keep the suite fast: 0.8 s at 25 fps with a keyframe every 8 frames (0, 320, 640 ms).
SHORT = {"seconds": 0.8, "gop": 8}
#: capsEx bits (ERTMPv2 "Enhancing NetConnection connect Command").
CAPS_RECONNECT, CAPS_MULTITRACK, CAPS_MODEX, CAPS_NANO = 0x01, 0x02, 0x04, 0x08


# -- media builders ------------------------------------------------------------------------------


def hevc(**kw: Any) -> TestStream:
    return make_hevc(**{**SHORT, **kw})


def av1(**kw: Any) -> TestStream:
    return make_av1(**{**SHORT, **kw})


def tag(type_id: int, ts: int, payload: bytes) -> MediaTag:
    return MediaTag(type_id, ts, payload, type_id == 9 and media.is_video_keyframe(payload),
                    media.is_video_sequence_header(payload) if type_id == 9 else media.is_audio_sequence_header(payload))


def retag(tags: Iterable[MediaTag], video: Any = None, audio: Any = None) -> list[MediaTag]:
    """Rewrite payloads with ``video(payload)`` / ``audio(payload)`` (None keeps them)."""
    out = []
    for t in tags:
        fn = video if t.type_id == 9 else audio if t.type_id == 8 else None
        out.append(tag(t.type_id, t.timestamp, fn(t.payload)) if fn else t)
    return out


def opus_stream(frames: int = 25) -> list[MediaTag]:
    """Synthetic E-RTMP Opus: SequenceStart with an RFC 7845 ID header, then 20 ms packets."""
    # "OpusHead", version 1, 2 channels, pre-skip 312 (LE), input rate 48000 (LE), gain 0, mapping family 0.
    head = b"OpusHead" + bytes([1, 2]) + (312).to_bytes(2, "little") + (48000).to_bytes(4, "little") + b"\x00\x00\x00"
    out = [tag(8, 0, media.build_ex_audio(APT.SEQUENCE_START, media.FourCC.OPUS, head))]
    for n in range(frames):
        # TOC 0xFC: config 31 (CELT fullband 20 ms), stereo, one frame; then opaque packet bytes.
        packet = b"\xfc" + bytes((n * 7 + i) & 0xFF for i in range(60))
        out.append(tag(8, n * 20, media.build_ex_audio(APT.CODED_FRAMES, media.FourCC.OPUS, packet)))
    return out


def flac_stream(frames: int = 12) -> list[MediaTag]:
    """Synthetic E-RTMP FLAC: SequenceStart with the fLaC marker and a STREAMINFO block, then frames."""
    # STREAMINFO: block size 4096/4096, frame sizes unknown (0), 48000 Hz, 2 channels, 16 bits, 0 samples, no MD5.
    bits = (48000 << 44) | ((2 - 1) << 41) | ((16 - 1) << 36)
    streaminfo = (4096).to_bytes(2, "big") * 2 + bytes(6) + bits.to_bytes(8, "big") + bytes(16)
    # Metadata block header: last-block flag + type 0 (STREAMINFO), 24-bit length 34.
    config = b"fLaC" + b"\x80" + len(streaminfo).to_bytes(3, "big") + streaminfo
    out = [tag(8, 0, media.build_ex_audio(APT.SEQUENCE_START, media.FourCC.FLAC, config))]
    for n in range(frames):
        # Frame header sync 0xFFF8 (fixed block size), then opaque frame bytes.
        frame = b"\xff\xf8" + bytes((n * 13 + i) & 0xFF for i in range(90))
        out.append(tag(8, n * 85, media.build_ex_audio(APT.CODED_FRAMES, media.FourCC.FLAC, frame)))
    return out


def vpx_stream(fourcc: bytes, frames: int = 10) -> list[MediaTag]:
    """Synthetic E-RTMP VP8/VP9 video: SequenceStart with a VPCodecConfigurationRecord, keyframes every 5."""
    # vpcC: version 1, flags 0 (3 bytes), profile 0, level 31, bitDepth 8 | chroma 4:2:0 | limited range
    # (0x80), BT.709 primaries/transfer/matrix (1, 1, 1), codecInitializationDataSize 0.
    record = bytes([1, 0, 0, 0, 0, 31, 0x80, 1, 1, 1, 0, 0])
    out = [tag(9, 0, media.build_ex_video(FT.KEY, VPT.SEQUENCE_START, fourcc, record))]
    for n in range(frames):
        key = n % 5 == 0
        if fourcc == media.FourCC.VP09:
            # VP9 uncompressed header start: frame marker/profile/show_frame, key frames carry the sync code.
            head = b"\x82\x49\x83\x42\x00" if key else b"\x86\x00"
        else:
            # VP8 frame tag (key bit 0 = key frame) + for key frames the start code 9d 01 2a.
            head = b"\x50\x02\x00\x9d\x01\x2a" if key else b"\x51\x02\x00"
        body = head + bytes((n * 11 + i) & 0xFF for i in range(200))
        ftype = FT.KEY if key else FT.INTER
        # ERTMP-2: VP8/VP9 CodedFrames carry no composition time.
        out.append(tag(9, n * 40, media.build_ex_video(ftype, VPT.CODED_FRAMES, fourcc, body)))
    return out


def split_ex_video(payload: bytes) -> tuple[int, int, bytes, bytes]:
    """(FrameType, PacketType, FourCC, rest) of a single-track E-RTMP video payload."""
    return (payload[0] >> 4) & 0x07, payload[0] & 0x0F, payload[1:5], payload[5:]


def modex_wrap(payload: bytes, modex_type: int, data: bytes) -> bytes:
    """Wrap an ExHeader payload in one ModEx entry of any (possibly unknown) ModEx type (ERTMP-7/9)."""
    b0 = payload[0]
    modex = VPT.MOD_EX if b0 & 0x80 else APT.MOD_EX
    # byte0 with PacketType ModEx, UI8 size-1, data, then UB4 ModExType | UB4 the real PacketType.
    return bytes([(b0 & 0xF0) | modex, len(data) - 1]) + data + bytes([(modex_type << 4) | (b0 & 0x0F)]) + payload[1:]


# -- scenario steps ------------------------------------------------------------------------------


async def send_tags(pub: RtmpClient, tags: Sequence[MediaTag]) -> None:
    """Publish as fast as possible; a server that closes mid-way is a legal outcome, not an error."""
    if pub.closed:
        return
    try:
        await pub.publish_media(tags)
    except (PeerClosed, ConnectionError):
        pass


@contextlib.asynccontextmanager
async def pair(rtmp: Any, name: str, *, pub_extra: dict[str, Any] | None = None,
               player_extra: dict[str, Any] | None = None, pub_handshake: ClientHandshake | None = None,
               play: bool = True) -> AsyncIterator[tuple[RtmpClient, RtmpClient]]:
    """A publisher that has published ``name`` (no media yet) and a player already playing it, so the
    player sees every message from the first one (works with "wait" and "not found" play policies).
    Both connections are closed on exit."""
    kw = {"handshake": pub_handshake} if pub_handshake is not None else {}
    pub = rtmp.client(label="publisher", **kw)
    player = rtmp.client(label="player")
    try:
        await pub.open()
        await player.open()
        await pub.handshake()
        await pub.connect(extra=pub_extra)
        await pub.publish(name)
        await player.handshake()
        await player.connect(extra=player_extra)
        if play:
            await player.play(name)
        yield pub, player
    finally:
        await pub.close()
        await player.close()


async def relay(rtmp: Any, tags: Sequence[MediaTag], **kw: Any) -> tuple[RtmpClient, RtmpClient]:
    """Publish ``tags`` to a waiting player and settle; returns (publisher, player), both closed."""
    async with pair(rtmp, rtmp.stream_name(), **kw) as (pub, player):
        await send_tags(pub, tags)
        await probe_all(pub, player)
    return pub, player


# -- ERTMP-1 ExHeader layout ---------------------------------------------------------------------


@pytest.mark.rule("ERTMP-1")
@pytest.mark.parametrize("codec", ["hevc", "av1"])
async def test_late_joiner_gets_ex_keyframe(rtmp, codec):
    """Publishes 0.5 s of E-RTMP video (keyframes every 320 ms), a player joins, the rest follows.

    Requirement (ERTMP-1, with GOP-1): byte0 bit 7 is IsExVideoHeader and bits 6-4 the FrameType;
    a server reading this layout gives a late joiner the SequenceStart then an E-RTMP keyframe
    (``(byte0 & 0x70) >> 4 == 1``), never an inter frame first; relayed bytes are unchanged.
    """
    stream = hevc() if codec == "hevc" else av1()
    tags = list(stream.publish_sequence())
    head = [t for t in tags if t.timestamp < 500]
    tail = [t for t in tags if t.timestamp >= 500]
    name = rtmp.stream_name()
    async with pair(rtmp, name, play=False) as (pub, player):
        await send_tags(pub, head)
        await probe_all(pub)
        await player.play(name)
        await send_tags(pub, tail)
        await probe_all(pub, player)
    fourcc = media.FourCC.HVC1 if codec == "hevc" else media.FourCC.AV01
    rtmp.judge(checks.check_ex_late_joiner(player.log, tags, fourcc=fourcc))


@pytest.mark.rule("ERTMP-1")
@pytest.mark.parametrize("fourcc", [media.FourCC.VP09, media.FourCC.VP08], ids=["vp09", "vp08"])
async def test_vpx_fourcc_relayed(rtmp, fourcc):
    """Publishes synthetic E-RTMP VP9 / VP8 video: SequenceStart (vpcC record), then CodedFrames
    without a composition time, keyframes every 5 frames.

    Requirement (ERTMP-1): the ExHeader FourCC (vp09, vp08) identifies the codec; a relay carries
    every message unchanged, SequenceStart first.
    """
    tags = vpx_stream(fourcc)
    _pub, player = await relay(rtmp, tags)
    rtmp.judge(checks.check_relay(player.log, tags, rule="ERTMP-1", label=fourcc.decode()))


# -- ERTMP-2 CodedFrames / CodedFramesX ----------------------------------------------------------


@pytest.mark.rule("ERTMP-2")
@pytest.mark.parametrize("variant", ["bframes-coded-frames", "no-bframes-coded-frames-x"])
async def test_hevc_composition_time_relayed(rtmp, variant):
    """Publishes real HEVC (libx265): with 2 B-frames every frame is CodedFrames carrying its SI24
    compositionTimeOffset (up to 160 ms); without B-frames every frame is CodedFramesX (no field).

    Requirement (ERTMP-2): for hvc1 "CodedFrames carries an SI24 compositionTimeOffset and
    CodedFramesX means CTS = 0 with no field" — the player receives the frames bit-exact (or
    re-encoded with identical decoded content), with unchanged DTS spacing.
    """
    stream = hevc(bframes=2) if variant.startswith("bframes") else hevc(coded_frames_x=True)
    tags = list(stream.publish_sequence())
    _pub, player = await relay(rtmp, tags)
    rtmp.judge(checks.check_relay(player.log, tags, rule="ERTMP-2", label="HEVC"))


# -- ERTMP-3 command frames ----------------------------------------------------------------------


@pytest.mark.rule("ERTMP-3")
async def test_video_command_frames_harmless(rtmp):
    """Publishes HEVC with two E-RTMP command frames in the middle: 0xD1 0x00 (ExHeader, FrameType 5,
    PacketType CodedFrames, VideoCommand StartSeek) and 0xD1 0x01 (EndSeek).

    Requirement (ERTMP-3): FrameType 5 "carries a UI8 VideoCommand ... and no body"; the server
    may relay or drop it, but the stream around it must reach the player unchanged.
    """
    tags = list(hevc().publish_sequence())
    start_seek = media.build_video_command(media.VideoCommand.START_SEEK)  # d1 00
    end_seek = media.build_video_command(media.VideoCommand.END_SEEK)  # d1 01
    i = next(k for k, t in enumerate(tags) if t.type_id == 9 and t.timestamp >= 200)
    ts = tags[i].timestamp
    tags[i:i] = [tag(9, ts, start_seek), tag(9, ts, end_seek)]
    _pub, player = await relay(rtmp, tags)
    rtmp.judge(checks.check_command_frames(player.log, tags, commands=[start_seek, end_seek]))


# -- ERTMP-4 SequenceStart bodies ----------------------------------------------------------------


@pytest.mark.rule("ERTMP-4")
@pytest.mark.parametrize("codec", ["hevc", "av1"])
async def test_sequence_start_record_first(rtmp, codec):
    """Publishes real HEVC (HEVCDecoderConfigurationRecord) or AV1 (AV1CodecConfigurationRecord) to a
    player that is already waiting.

    Requirement (ERTMP-4): "hvc1 → HEVCDecoderConfigurationRecord; av01 →
    AV1CodecConfigurationRecord" in SequenceStart — the player's first video message is that
    SequenceStart, unchanged, before any coded frame.
    """
    stream = hevc() if codec == "hevc" else av1()
    tags = list(stream.publish_sequence())
    _pub, player = await relay(rtmp, tags)
    fourcc = media.FourCC.HVC1 if codec == "hevc" else media.FourCC.AV01
    rtmp.judge(checks.check_sequence_start_first(player.log, tags, fourcc=fourcc))


# -- ERTMP-5 relay or clean failure --------------------------------------------------------------


@pytest.mark.rule("ERTMP-5")
@pytest.mark.parametrize("codec", ["hevc", "av1"])
async def test_ertmp_relayed_or_refused(rtmp, codec):
    """Publishes E-RTMP HEVC/AV1 with a player waiting, then opens a fresh connection.

    Requirement (ERTMP-5): "Servers without E-RTMP support must fail cleanly, and pure relays
    must pass the bytes through unchanged" — relay unchanged (PASS), error onStatus or close
    (UNIMPLEMENTED); never garbage to players and never a crash.
    """
    stream = hevc() if codec == "hevc" else av1()
    tags = list(stream.publish_sequence())
    pub, player = await relay(rtmp, tags)
    fresh = await open_fresh_session(rtmp)
    rtmp.judge(checks.check_relay_or_refusal(pub.log, player.log, fresh, tags))


# -- ERTMP-6 audio ExHeader ----------------------------------------------------------------------


@pytest.mark.rule("ERTMP-6")
@pytest.mark.parametrize("codec", ["opus", "flac", "mp4a"])
async def test_ex_audio_relayed(rtmp, codec):
    """Publishes E-RTMP audio (SoundFormat 9): synthetic Opus (ID-header SequenceStart) or FLAC
    (STREAMINFO SequenceStart) audio-only streams, or real AAC as 'mp4a' next to H.264.

    Requirement (ERTMP-6): SoundFormat 9, AudioPacketType in the low nibble, then the FourCC
    (Opus, fLaC, mp4a) — relayed to the player unchanged, SequenceStart first.
    """
    if codec == "opus":
        tags = opus_stream()
    elif codec == "flac":
        tags = flac_stream()
    else:
        tags = list(make_h264_aac(ex_audio=True, **SHORT).publish_sequence())
    _pub, player = await relay(rtmp, tags)
    rtmp.judge(checks.check_relay(player.log, tags, rule="ERTMP-6", label=codec, type_ids=(8,)))


# -- ERTMP-7 ModEx -------------------------------------------------------------------------------


@pytest.mark.rule("ERTMP-7")
@pytest.mark.parametrize("variant", ["nano-offset-500000", "modex-ui16-size"])
async def test_modex_relayed(rtmp, variant):
    """Connects with capsEx ModEx|TimestampNanoOffset (0x0C) and publishes HEVC + E-RTMP AAC where
    every coded frame (video and audio) is wrapped in a TimestampOffsetNano ModEx: 500000 ns with
    the 1-byte size, or 250000 ns padded to 300 data bytes (size byte 0xFF + UI16 299).

    Requirement (ERTMP-7): "Size = UI8+1; if that gives 256, read UI16+1 instead ... the RTMP ms
    timestamp is unchanged" — the player receives every message unchanged (nano offset kept).
    """
    if variant == "nano-offset-500000":
        wrap = lambda p: media.add_modex_nano_offset(p, 500_000)
    else:
        wrap = lambda p: media.add_modex_nano_offset(p, 250_000, data_size=300)
    base = hevc(ex_audio=True)
    coded = lambda p: p if (media.is_video_sequence_header(p) or media.is_audio_sequence_header(p)) else wrap(p)
    tags = retag(base.publish_sequence(), video=coded, audio=coded)
    caps = {"capsEx": float(CAPS_MODEX | CAPS_NANO)}
    _pub, player = await relay(rtmp, tags, pub_extra=caps, player_extra=caps)
    rtmp.judge(checks.check_relay(player.log, tags, rule="ERTMP-7", label="ModEx"))


# -- ERTMP-8 multitrack --------------------------------------------------------------------------


def _video_multitrack(payload: bytes, track_ids: Sequence[int]) -> bytes:
    ftype, ptype, fourcc, rest = split_ex_video(payload)
    mt = media.AvMultitrackType.ONE_TRACK if len(track_ids) == 1 else media.AvMultitrackType.MANY_TRACKS
    # rest already holds the SI24 composition time for hvc1 CodedFrames, as the track data needs.
    return media.build_ex_video_multitrack(ftype, ptype, mt, [(tid, fourcc, rest) for tid in track_ids])


def _audio_many_codecs(payload: bytes, opus: bytes) -> bytes:
    ptype, rest = payload[0] & 0x0F, payload[5:]
    return media.build_ex_audio_multitrack(ptype, media.AvMultitrackType.MANY_TRACKS_MANY_CODECS,
                                           [(0, media.FourCC.MP4A, rest), (1, media.FourCC.OPUS, opus)])


@pytest.mark.rule("ERTMP-8")
@pytest.mark.parametrize("variant", ["video-one-track", "video-many-tracks", "audio-many-codecs"])
async def test_multitrack_relayed(rtmp, variant):
    """Connects with capsEx Multitrack (0x02) and publishes HEVC where every video message is a
    Multitrack message (OneTrack trackId 0, or ManyTracks with trackIds 0 and 1), or E-RTMP AAC where
    every audio message is ManyTracksManyCodecs (track 0 mp4a, track 1 Opus).

    Requirement (ERTMP-8): "Every message must carry its trackId ... Every track in a message
    must be processed" — a relay passes every multitrack message unchanged.
    """
    caps = {"capsEx": float(CAPS_MULTITRACK)}
    if variant == "audio-many-codecs":
        opus_head = opus_stream(0)[0].payload[5:]
        opus_packet = b"\xfc" + bytes(40)  # TOC: CELT fullband 20 ms stereo, one frame; opaque body

        def audio(p: bytes) -> bytes:
            return _audio_many_codecs(p, opus_head if media.is_audio_sequence_header(p) else opus_packet)

        tags = retag(hevc(ex_audio=True).publish_sequence(), audio=audio)
        type_ids: tuple[int, ...] = (8,)
    else:
        ids = [0] if variant == "video-one-track" else [0, 1]
        tags = retag(hevc().publish_sequence(), video=lambda p: _video_multitrack(p, ids))
        type_ids = (9,)
    _pub, player = await relay(rtmp, tags, pub_extra=caps, player_extra=caps)
    rtmp.judge(checks.check_relay(player.log, tags, rule="ERTMP-8", label="multitrack", type_ids=type_ids))


# -- ERTMP-9 unknown values ----------------------------------------------------------------------


def _unknown_payloads(kind: str, stream: TestStream) -> list[MediaTag]:
    frame = next(t for t in stream.tags if t.type_id == 9 and not t.keyframe)
    if kind == "video-fourcc-abcd":
        # ExHeader SequenceStart + key CodedFrames with the unassigned FourCC "abcd".
        return [tag(9, 300, media.build_ex_video(FT.KEY, VPT.SEQUENCE_START, b"abcd", b"\x01cfg")),
                tag(9, 300, media.build_ex_video(FT.KEY, VPT.CODED_FRAMES, b"abcd", b"\x00\x00\x00\x00opaque", cts=None))]
    if kind == "audio-fourcc-abcd":
        return [tag(8, 300, media.build_ex_audio(APT.SEQUENCE_START, b"abcd", b"cfg")),
                tag(8, 300, media.build_ex_audio(APT.CODED_FRAMES, b"abcd", b"opaque-audio"))]
    if kind == "unknown-modex-type":
        # An inter hvc1 frame inside a ModEx entry of type 5 (unassigned) carrying 3 data bytes.
        return [tag(9, 300, modex_wrap(frame.payload, 5, b"\x01\x02\x03"))]
    # kind == "reserved-packet-type": ExHeader key frame with VideoPacketType 0xA (reserved), then hvc1.
    return [tag(9, 300, bytes([0x80 | 0x10 | 0x0A]) + b"hvc1" + b"\x00\x00\x00opaque")]


@pytest.mark.rule("ERTMP-9")
@pytest.mark.parametrize("kind", ["video-fourcc-abcd", "audio-fourcc-abcd", "unknown-modex-type",
                                  "reserved-packet-type"])
async def test_unknown_values_controlled(rtmp, kind):
    """Publishes 0.3 s of HEVC, then unknown E-RTMP values (FourCC "abcd" for video or audio, a ModEx
    entry of unassigned type 5, or reserved VideoPacketType 0xA), then a valid SequenceStart and
    keyframe; afterwards a fresh connection is opened.

    Requirement (ERTMP-9): unknown PacketTypes and FourCCs must be handled "gracefully … fail in
    a controlled and predictable manner": refuse, ignore or relay byte-exact; the server stays up.
    """
    stream = hevc()
    tags = list(stream.publish_sequence())
    head = [t for t in tags if t.timestamp < 300]
    unknown = _unknown_payloads(kind, stream)
    key2 = next(t for t in stream.tags if t.keyframe and t.timestamp >= 300)
    after = [tag(9, key2.timestamp, stream.video_sequence_header), key2]
    name = rtmp.stream_name()
    async with pair(rtmp, name) as (pub, player):
        await send_tags(pub, head + unknown + after)
        offset = pub.log.total(C2S)
        await probe_all(pub, player)
    fresh = await open_fresh_session(rtmp)
    rtmp.judge(checks.check_unknown_handled(
        pub.log, player.log, fresh, sent=head + unknown + after, unknown=[t.payload for t in unknown],
        after=[t.payload for t in after], probe_offset=offset, what=kind.replace("-", " ")))


# -- ERTMP-10 capability negotiation -------------------------------------------------------------


CONNECT_CAPS = {
    "fourCcList": {"fourCcList": ["hvc1", "av01", "vp09"]},
    "info-maps": {"videoFourCcInfoMap": {"hvc1": 7.0, "av01": 7.0, "*": 4.0},
                  "audioFourCcInfoMap": {"Opus": 7.0, "*": 4.0}},
    "capsEx": {"capsEx": float(CAPS_MULTITRACK | CAPS_MODEX | CAPS_NANO)},
}


@pytest.mark.rule("ERTMP-10")
@pytest.mark.parametrize("props", list(CONNECT_CAPS))
async def test_connect_with_caps_accepted(rtmp, props):
    """Sends connect carrying E-RTMP capabilities: fourCcList ["hvc1","av01","vp09"], or
    videoFourCcInfoMap/audioFourCcInfoMap (CanDecode|CanEncode|CanForward = 7, "*" = CanForward), or
    capsEx Multitrack|ModEx|TimestampNanoOffset (0x0E).

    Requirement (ERTMP-10): "Servers SHOULD accept both fourCcList and the info maps" — connect
    gets _result NetConnection.Connect.Success; the server's own advertised caps are recorded.
    """
    async with rtmp.client() as c:
        await c.handshake()
        try:
            await c.connect(extra=CONNECT_CAPS[props])
        except (PeerClosed, StepTimeout):
            pass  # judged from the log: refusal by close or silence
    rtmp.judge(checks.check_connect_caps(c.log, sent=CONNECT_CAPS[props]))


@pytest.mark.rule("ERTMP-10")
async def test_player_without_fourcc_list(rtmp):
    """A publisher (fourCcList ["hvc1"]) sends E-RTMP HEVC; the player connects with no fourCcList.

    Requirement (ERTMP-10 test): "a player without a fourCcList must not receive E-RTMP video, or
    must receive a defined error" — recorded as INFORMATIONAL (relay servers commonly forward).
    """
    tags = list(hevc().publish_sequence())
    _pub, player = await relay(rtmp, tags, pub_extra={"fourCcList": ["hvc1"]})
    rtmp.judge(checks.check_player_without_fourcc_list(player.log, tags))


# -- ERTMP-11 reconnect request ------------------------------------------------------------------


@pytest.mark.rule("ERTMP-11")
@pytest.mark.parametrize("advertised", [False, True], ids=["not-advertised", "advertised"])
async def test_reconnect_request_only_if_advertised(rtmp, advertised):
    """Publisher and player connect with (capsEx 0x01) or without capsEx Reconnect and stream HEVC.

    Requirement (ERTMP-11): send NetConnection.Connect.ReconnectRequest "only if the client
    advertised capsEx Reconnect"; when sent: onStatus on msid 0, level "status", optional tcUrl.
    """
    caps = {"capsEx": float(CAPS_RECONNECT)} if advertised else None
    tags = list(hevc().publish_sequence())
    pub, player = await relay(rtmp, tags, pub_extra=caps, player_extra=caps)
    rtmp.judge(checks.check_reconnect_request([pub.log, player.log], advertised=advertised))


# -- ERTMP-12 FourCC codec ids in onMetaData -----------------------------------------------------


@pytest.mark.rule("ERTMP-12")
@pytest.mark.parametrize("codec", ["hevc-mp4a", "av1"])
async def test_fourcc_codec_ids_in_metadata(rtmp, codec):
    """Publishes @setDataFrame onMetaData with videocodecid 'hvc1' (1752589105.0) and audiocodecid
    'mp4a' (1836069985.0), or videocodecid 'av01' (1635135537.0) with AAC 10.

    Requirement (ERTMP-12): "videocodecid/audiocodecid are the FourCC as a number" — the player's
    onMetaData carries the same numbers.
    """
    if codec == "av1":
        stream = av1()
        want = {"videocodecid": media.FourCC.as_number(media.FourCC.AV01)}
    else:
        stream = hevc(ex_audio=True)
        want = {"videocodecid": media.FourCC.as_number(media.FourCC.HVC1),
                "audiocodecid": media.FourCC.as_number(media.FourCC.MP4A)}
    tags = list(stream.publish_sequence())
    _pub, player = await relay(rtmp, tags)
    rtmp.judge(checks.check_fourcc_metadata(player.log, expected=want))


# -- ERTMP-13 no version bump --------------------------------------------------------------------


@pytest.mark.rule("ERTMP-13")
@pytest.mark.parametrize("mode", ["simple", "digest"])
async def test_ertmp_over_classic_handshake(rtmp, mode):
    """An E-RTMP HEVC publisher uses the version-3 simple handshake (or the digest handshake); a
    player waits for the stream.

    Requirement (ERTMP-13): "E-RTMP does not bump any version: the handshake is still version 3
    ... all signalling is in-band" — the publish works and the player gets the E-RTMP video.
    """
    hs = ClientHandshake(mode=HandshakeMode.DIGEST) if mode == "digest" else ClientHandshake(time_ms=0)
    tags = list(hevc().publish_sequence())
    pub, player = await relay(rtmp, tags, pub_handshake=hs)
    rtmp.judge(checks.check_ertmp_over_handshake(pub.log, player.log, tags))


# -- ERTMP-14 Metadata packet --------------------------------------------------------------------


COLOR_INFO = {
    "colorConfig": {"bitDepth": 10.0, "colorPrimaries": 9.0, "transferCharacteristics": 16.0,
                    "matrixCoefficients": 9.0},
    "hdrCll": {"maxFall": 400.0, "maxCLL": 1000.0},
    "hdrMdcv": {"redX": 0.708, "redY": 0.292, "greenX": 0.170, "greenY": 0.797, "blueX": 0.131,
                "blueY": 0.046, "whitePointX": 0.3127, "whitePointY": 0.3290, "maxLuminance": 1000.0,
                "minLuminance": 0.0001},
}


@pytest.mark.rule("ERTMP-14")
@pytest.mark.parametrize("frame_type", ["key", "inter"])
async def test_metadata_packet_before_keyframe(rtmp, frame_type):
    """Publishes HEVC with a video Metadata packet (ExHeader PacketType 4, hvc1, AMF ["colorInfo",
    {colorConfig, hdrCll, hdrMdcv}] for HDR10) right before the second keyframe; its FrameType is 1
    or 2 (a receiver must ignore it).

    Requirement (ERTMP-14): the Metadata packet "must arrive before the frames it applies to, and
    it ignores FrameType" — the player gets it unchanged, before that keyframe.
    """
    stream = hevc()
    tags = list(stream.publish_sequence())
    ft = FT.KEY if frame_type == "key" else FT.INTER
    meta = media.build_ex_video(ft, VPT.METADATA, media.FourCC.HVC1, amf0.encode_all("colorInfo", COLOR_INFO))
    i = next(k for k, t in enumerate(tags) if t.type_id == 9 and t.keyframe and t.timestamp > 0)
    key2 = tags[i]
    tags[i:i] = [tag(9, key2.timestamp, meta)]
    _pub, player = await relay(rtmp, tags)
    rtmp.judge(checks.check_metadata_frame_order(player.log, metadata=meta, keyframe=key2.payload, sent=tags))


# -- ERTMP-15 silence ----------------------------------------------------------------------------


@pytest.mark.rule("ERTMP-15")
@pytest.mark.parametrize("variant", ["zero-length-audio", "audio-sequence-end"])
async def test_audio_silence_accepted(rtmp, variant):
    """Publishes HEVC + E-RTMP AAC and, at 300 ms, a zero-length audio message (RTMP length 0) or an
    ExHeader audio SequenceEnd (0x92 'mp4a'), then the rest of the stream. Continuation is judged
    per track, on the tracks the player received before (a legacy server may relay no E-RTMP video).

    Requirement (ERTMP-15): "A zero-length audio message means 'silence' ... It is not malformed.
    AudioPacketType SequenceEnd means at least the same thing" — the publisher is kept and the
    stream continues to the player.
    """
    stream = hevc(ex_audio=True)
    tags = list(stream.publish_sequence())
    special = b"" if variant == "zero-length-audio" else media.build_ex_audio(APT.SEQUENCE_END, media.FourCC.MP4A, b"")
    i = next(k for k, t in enumerate(tags) if t.timestamp >= 300 and t.type_id in (8, 9))
    tags[i:i] = [MediaTag(8, tags[i].timestamp, special, False, False)]
    before = [t for t in tags[:i] if t.type_id in (8, 9)]
    after = [t for t in tags[i + 1:] if t.type_id in (8, 9)]
    pub, player = await relay(rtmp, tags)
    rtmp.judge(checks.check_silence_accepted(pub.log, player.log, special=special, after=after, before=before,
                                             what=variant.replace("-", " ")))


# -- ERTMP-16 legacy HEVC conventions ------------------------------------------------------------


def _as_codec_id_12(payload: bytes) -> bytes:
    ftype, ptype, _, rest = split_ex_video(payload)
    if ptype == VPT.SEQUENCE_START:
        return media.build_avc_video(ftype, media.AvcPacketType.SEQUENCE_HEADER, 0, rest, codec_id=12)
    cts = int.from_bytes(rest[:3], "big", signed=True)  # hvc1 CodedFrames: SI24 CTS, then NAL units
    return media.build_avc_video(ftype, media.AvcPacketType.NALU, cts, rest[3:], codec_id=12)


@pytest.mark.rule("ERTMP-16")
async def test_codec_id_12_hevc(rtmp):
    """Publishes real HEVC in the CDN convention: legacy header with CodecID 12 (0x1C/0x2C),
    AVCPacketType and CompositionTime, the HEVCDecoderConfigurationRecord as sequence header.

    Requirement (ERTMP-16): "Servers should detect the FourCC first and may accept 12" — relayed
    unchanged, or refused/dropped without harm (recorded); the server stays up.
    """
    tags = retag(hevc().publish_sequence(), video=_as_codec_id_12)
    pub, player = await relay(rtmp, tags)
    fresh = await open_fresh_session(rtmp)
    rtmp.judge(checks.check_legacy_hevc(pub.log, player.log, fresh, tags))

