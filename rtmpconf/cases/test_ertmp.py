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
from rtmpconf.harness.eflv import load_vector
from rtmpconf.harness.scenarios import probe_all
from rtmpconf.harness.testmedia import MediaTag, TestStream, make_av1, make_h264_aac, make_hevc
from rtmpconf.harness.verdict import not_run
from rtmpconf.harness.wirelog import C2S
from rtmpconf.rtmp import amf0, media
from rtmpconf.rtmp.errors import ProtocolError
from rtmpconf.rtmp.handshake import ClientHandshake, HandshakeMode

VPT = media.VideoPacketType
APT = media.AudioPacketType
FT = media.VideoFrameType
# Short streams keep the suite fast: 0.8 s at 25 fps with a keyframe every 8 frames (0, 320, 640 ms).
SHORT = {"seconds": 0.8, "gop": 8}
#: capsEx bits (ERTMPv2 "Enhancing NetConnection connect Command").
CAPS_RECONNECT, CAPS_MULTITRACK, CAPS_MODEX, CAPS_NANO = 0x01, 0x02, 0x04, 0x08
#: A player that declares every codec ("*") and Multitrack, ModEx and nano offsets: it can take any
#: E-RTMP stream as published. Relay cases play with it unless they say otherwise (ERTMP-17/21).
ERTMP_PLAYER = {"fourCcList": ["*"], "capsEx": float(CAPS_MULTITRACK | CAPS_MODEX | CAPS_NANO)}
#: A player that declares nothing: a legacy player.
LEGACY_PLAYER: dict[str, Any] = {}


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
    The player connects with ``player_extra`` (default: ERTMP_PLAYER). Both connections are closed
    on exit."""
    if player_extra is None:
        player_extra = ERTMP_PLAYER
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


@pytest.mark.slow_case
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
    _pub, player = await relay(rtmp, tags, pub_extra=caps, player_extra={**ERTMP_PLAYER, **caps})
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
    _pub, player = await relay(rtmp, tags, pub_extra=caps, player_extra={**ERTMP_PLAYER, **caps})
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
    _pub, player = await relay(rtmp, tags, pub_extra={"fourCcList": ["hvc1"]}, player_extra=LEGACY_PLAYER)
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
    pub, player = await relay(rtmp, tags, pub_extra=caps,
                              player_extra={**ERTMP_PLAYER, **(caps or {"capsEx": 0.0})})
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



# == E-RTMP v2 with real encoder output (rtmpconf/vectors/eflv) =====================================


def vector(name: str) -> list[MediaTag]:
    """A committed E-FLV test vector (harness/eflv.py), as a publisher sends it."""
    return list(load_vector(name))


def only(tags: Iterable[MediaTag], type_id: int) -> list[MediaTag]:
    return [t for t in tags if t.type_id in (type_id, 18)]


async def late_join(rtmp: Any, tags: Sequence[MediaTag], *, join_at_ms: int, player_extra: dict[str, Any] | None = None,
                    pub_extra: dict[str, Any] | None = None) -> tuple[RtmpClient, RtmpClient]:
    """Publish ``tags`` before ``join_at_ms``, let a player join (``player_extra``, default ERTMP_PLAYER),
    publish the rest, settle. Returns (publisher, player), closed."""
    head = [t for t in tags if t.timestamp < join_at_ms]
    tail = [t for t in tags if t.timestamp >= join_at_ms]
    name = rtmp.stream_name()
    async with pair(rtmp, name, play=False, player_extra=player_extra, pub_extra=pub_extra) as (pub, player):
        await send_tags(pub, head)
        await probe_all(pub)
        await player.play(name)
        await send_tags(pub, tail)
        await probe_all(pub, player)
    return pub, player


VIDEO_VECTORS = {"avc1": "avc1-mp3.flv", "hvc1": "hvc1-opus.flv", "av01": "av01-ac-3.flv", "vp09": "vp09-ec-3.flv",
                 "vp08": "vp08-flac.flv"}
AUDIO_VECTORS = {"Opus": "hvc1-opus.flv", "fLaC": "vp08-flac.flv", "ac-3": "av01-ac-3.flv", "ec-3": "vp09-ec-3.flv",
                 ".mp3": "avc1-mp3.flv", "mp4a": "hvc1-mp4a-modex.flv"}


@pytest.mark.rule("ERTMP-1")
@pytest.mark.parametrize("fourcc", list(VIDEO_VECTORS))
async def test_video_fourcc_real_encoder(rtmp, fourcc):
    """Publishes the video of a committed E-FLV vector (real encoder output: libx264 as avc1 inside
    the ExVideoTagHeader, libx265 hvc1, libsvtav1 av01, libvpx-vp9 vp09, libvpx vp08) to a player
    that declared every codec; the avc1 vector ends with a video SequenceEnd.

    Requirement (ERTMP-1): the ExHeader layout (IsExVideoHeader, FrameType, PacketType, FourCC) --
    a relay carries every message, SequenceStart first, SequenceEnd last, unchanged.
    """
    tags = only(vector(VIDEO_VECTORS[fourcc]), 9)
    _pub, player = await relay(rtmp, tags)
    rtmp.judge(checks.check_relay(player.log, tags, rule="ERTMP-1", label=fourcc, type_ids=(9,)))


@pytest.mark.rule("ERTMP-1")
async def test_vvc1_relayed(rtmp):
    """Publishes synthetic VVC (no VVC encoder here): SequenceStart 'vvc1' with a stand-in
    VVCDecoderConfigurationRecord, then CodedFrames with an SI24 composition time, key every 5.

    Requirement (ERTMP-1/2): vvc1 is a VideoFourCc whose CodedFrames carry a composition time; a
    relay passes it unchanged.
    """
    # vvcC stand-in: '11111' reserved + LengthSizeMinusOne 3 + ptl_present_flag 0 (0xFE), then opaque bytes.
    tags = [tag(9, 0, media.build_ex_video(FT.KEY, VPT.SEQUENCE_START, media.FourCC.VVC1, b"\xfe" + bytes(15)))]
    for n in range(10):
        nal = (6).to_bytes(4, "big") + bytes([0x00, 0x41 if n % 5 == 0 else 0x01]) + bytes([n]) * 4
        tags.append(tag(9, n * 40, media.build_ex_video(FT.KEY if n % 5 == 0 else FT.INTER, VPT.CODED_FRAMES,
                                                          media.FourCC.VVC1, nal, cts=40)))
    _pub, player = await relay(rtmp, tags)
    rtmp.judge(checks.check_relay(player.log, tags, rule="ERTMP-1", label="vvc1", type_ids=(9,)))


@pytest.mark.rule("ERTMP-4")
async def test_mpeg2ts_sequence_start_late_join(rtmp):
    """Publishes AV1 whose decoder configuration comes as MPEG2TSSequenceStart (packet type 5, an
    AV1VideoDescriptor) instead of SequenceStart; a player joins after the second keyframe.

    Requirement (ERTMP-4): "PacketTypeSequenceStart and PacketTypeMPEG2TSSequenceStart are mutually
    exclusive" -- either is the sequence header: the late joiner gets it before its first frame.
    """
    src = [t for t in vector("av01-ac-3.flv") if t.type_id == 9]
    # AV1VideoDescriptor stand-in: descriptor_tag 0x80, length 4, marker|version 0x81, profile/level 0x08,
    # tier/depth/mono/subsampling 0x0c, 0x00.
    descriptor = b"\x80\x04\x81\x08\x0c\x00"
    tags = [tag(9, 0, media.build_ex_video(FT.KEY, VPT.MPEG2TS_SEQUENCE_START, media.FourCC.AV01, descriptor))]
    tags += [t for t in src if not t.sequence_header]
    _pub, player = await late_join(rtmp, tags, join_at_ms=500)
    rtmp.judge(checks.check_track_config_first(player.log, rule="ERTMP-4", what="late joiner"))


@pytest.mark.rule("ERTMP-6")
@pytest.mark.parametrize("fourcc", list(AUDIO_VECTORS))
async def test_audio_fourcc_real_encoder(rtmp, fourcc):
    """Publishes the audio of a committed E-FLV vector (libopus with MultichannelConfig, FLAC with a
    STREAMINFO SequenceStart, AC-3 and E-AC-3 with an empty SequenceStart, MP3 without one, AAC as
    mp4a) to a player that declared every codec.

    Requirement (ERTMP-6): SoundFormat 9, AudioPacketType, then the FourCC (ac-3, ec-3, .mp3, Opus,
    fLaC, mp4a) -- relayed to the player unchanged, SequenceStart first.
    """
    tags = only(vector(AUDIO_VECTORS[fourcc]), 8)
    if fourcc == "mp4a":  # the mp4a vector wraps every frame in ModEx: take the plain frames (ERTMP-7 has them)
        tags = retag(tags, audio=lambda p: media.strip_modex(p, video=False))
    _pub, player = await relay(rtmp, tags)
    rtmp.judge(checks.check_relay(player.log, tags, rule="ERTMP-6", label=fourcc, type_ids=(8,)))


@pytest.mark.rule("ERTMP-6")
async def test_empty_opus_sequence_start(rtmp):
    """Publishes real Opus (libopus) whose SequenceStart is empty (no ID header) and no
    MultichannelConfig, then the coded packets.

    Requirement (ERTMP-6): "If the Opus sequence start payload is empty, use the
    AudioPacketType.MultichannelConfig signal ... otherwise, default to mono/stereo mode" -- an empty
    SequenceStart is legal and is relayed like any other.
    """
    src = only(vector("hvc1-opus.flv"), 8)
    tags = [tag(8, 0, media.build_ex_audio(APT.SEQUENCE_START, media.FourCC.OPUS, b""))]
    tags += [t for t in src if t.type_id == 8 and not t.sequence_header
             and media.ex_layout(t.payload, video=False) is not None
             and media.ex_layout(t.payload, video=False).packet_type == APT.CODED_FRAMES]
    _pub, player = await relay(rtmp, tags)
    rtmp.judge(checks.check_relay(player.log, tags, rule="ERTMP-6", label="Opus (empty SequenceStart)",
                                  type_ids=(8,)))


@pytest.mark.rule("ERTMP-7")
@pytest.mark.parametrize("variant", ["real-encoder", "multitrack-modex"])
async def test_modex_with_real_media(rtmp, variant):
    """real-encoder: the hvc1-mp4a-modex vector (every coded frame in a TimestampOffsetNano ModEx entry,
    some with the UI16 size form). multitrack-modex: HEVC sent as ManyTracks (tracks 0 and 1) with a
    ModEx nano offset around every Multitrack message. The player declared "*", Multitrack and ModEx.

    Requirement (ERTMP-7): ModEx entries precede the packet type they modify; TimestampOffsetNano
    "applies only to the current media message" -- relayed intact, nano offsets kept.
    """
    if variant == "real-encoder":
        tags = vector("hvc1-mp4a-modex.flv")
    else:
        def wrap(p: bytes) -> bytes:
            return media.add_modex_nano_offset(_video_multitrack(p, [0, 1]), 250_000)
        tags = retag(hevc().publish_sequence(), video=lambda p: wrap(p) if not media.is_video_sequence_header(p)
                     else _video_multitrack(p, [0, 1]))
    _pub, player = await relay(rtmp, tags)
    rtmp.judge(checks.check_relay(player.log, tags, rule="ERTMP-7", label="ModEx"))


@pytest.mark.rule("ERTMP-8")
async def test_every_track_of_one_message_processed(rtmp):
    """Publishes the many-tracks-one-sequence-start vector: one ManyTracksManyCodecs video SequenceStart
    message for tracks 0 (avc1) and 1 (hvc1), one ManyTracks audio SequenceStart for two mp4a tracks,
    then ManyTracks coded frames; a player joins after the second keyframe.

    Requirement (ERTMP-8): "All tracks within a single timestamp MUST be processed" -- a server that
    processed only the first track of the SequenceStart message cannot give the late joiner track 1's.
    """
    _pub, player = await late_join(rtmp, vector("many-tracks-one-sequence-start.flv"), join_at_ms=500)
    rtmp.judge(checks.check_track_config_first(player.log, rule="ERTMP-8",
                                               expect={(9, 0), (9, 1), (8, 0), (8, 1)}))


@pytest.mark.rule("ERTMP-12")
async def test_track_id_info_maps_relayed(rtmp):
    """Publishes the obs-multitrack vector, whose onMetaData has videoTrackIdInfoMap {1: {128x72 avc1},
    2: {96x56 hvc1}} and audioTrackIdInfoMap {1: {mp4a 48 kb/s}}.

    Requirement (ERTMP-12): videoTrackIdInfoMap / audioTrackIdInfoMap "describe the characteristics
    of additional tracks" -- players get them as published.
    """
    tags = vector("obs-multitrack.flv")
    meta = next(amf0.decode_all(t.payload) for t in tags if t.type_id == 18)
    obj = meta[2]
    want = {k: obj[k] for k in ("videoTrackIdInfoMap", "audioTrackIdInfoMap")}
    _pub, player = await relay(rtmp, tags)
    rtmp.judge(checks.check_metadata_values(player.log, expected=want, rule="ERTMP-12"))


# -- ERTMP-17 FourCC negotiation ---------------------------------------------------------------------


NEGOTIATION = {
    "list-av01": {"fourCcList": ["av01"]},
    "list-hvc1-only": {"fourCcList": ["hvc1"]},
    "list-wildcard": {"fourCcList": ["*"]},
    "infomap-wildcard-forward": {"videoFourCcInfoMap": {"*": 4.0}},
    "infomap-av01-encode-only": {"videoFourCcInfoMap": {"av01": 2.0}},
}


@pytest.mark.rule("ERTMP-17")
@pytest.mark.parametrize("declared", list(NEGOTIATION))
async def test_fourcc_negotiation(rtmp, declared):
    """Publishes AV1 (libsvtav1, av01); the player's connect declares fourCcList ["av01"], ["hvc1"] or
    ["*"], or videoFourCcInfoMap {"*": CanForward} or {"av01": CanEncode}.

    Requirement (ERTMP-17): a player gets a FourCC codec only if it declared it -- a list entry, "*",
    or an info-map key with CanDecode/CanForward ("*" overriding the specific keys).
    """
    tags = only(vector("av01-ac-3.flv"), 9)
    _pub, player = await relay(rtmp, tags, player_extra=NEGOTIATION[declared])
    rtmp.judge(checks.check_fourcc_filter(player.log, fourcc=media.FourCC.AV01, connect_obj=NEGOTIATION[declared]))


@pytest.mark.rule("ERTMP-18")
async def test_server_states_ertmp_support(rtmp):
    """Connects with fourCcList ["*"] and capsEx, then relays a short HEVC stream to such a player to
    learn whether the server forwards E-RTMP.

    Requirement (ERTMP-18): "The server SHOULD state its support via attributes such as
    videoFourCcInfoMap, capsEx, and similar properties" in its connect _result.
    """
    tags = [t for t in hevc().publish_sequence() if t.timestamp < 200]
    _pub, player = await relay(rtmp, tags)
    relays = any(m.raw.payload[:1] and m.raw.payload[0] & 0x80 for m in checks.media_messages(player.log, (9,)))
    rtmp.judge(checks.check_server_caps(player.log, relays_ertmp=relays))


# -- ERTMP-19/20 per-track configuration for late joiners ----------------------------------------------


def _one_track_everywhere() -> list[MediaTag]:
    """HEVC as two OneTrack tracks (0 and 1, each message one track, each with its SequenceStart)."""
    out = []
    for t in hevc().publish_sequence():
        if t.type_id != 9:
            out.append(t)
            continue
        for tid in (0, 1):
            out.append(tag(9, t.timestamp, _video_multitrack(t.payload, [tid])))
    return out


LATE_JOIN = {"obs-style": "obs-multitrack.flv", "many-tracks": "many-tracks.flv", "one-track-messages": None}


@pytest.mark.rule("ERTMP-19")
@pytest.mark.parametrize("layout", list(LATE_JOIN))
async def test_late_joiner_gets_every_tracks_sequence_start(rtmp, layout):
    """obs-style: the obs-multitrack vector (video track 0 legacy H.264, tracks 1 avc1 and 2 hvc1 as
    OneTrack; audio track 0 legacy AAC, track 1 mp4a OneTrack; each track with its own SequenceStart).
    many-tracks: ManyTracksManyCodecs video / ManyTracks audio coded frames. one-track-messages: HEVC
    tracks 0 and 1, every message OneTrack. A player that declared "*" and Multitrack joins after the
    second keyframe (400 ms).

    Requirement (ERTMP-19): each track's SequenceStart reaches the late joiner before that track's first
    coded frame; sequence headers of different tracks do not replace each other.
    """
    tags = _one_track_everywhere() if LATE_JOIN[layout] is None else vector(LATE_JOIN[layout])
    expect = {(t.type_id, tid) for t in tags if t.type_id in (8, 9) and t.payload for tid in _track_ids(t)}
    _pub, player = await late_join(rtmp, tags, join_at_ms=500)
    rtmp.judge(checks.check_track_config_first(player.log, expect=expect))


def _track_ids(t: MediaTag) -> tuple[int, ...]:
    """Track ids of a published message (0 for single-track and legacy messages)."""
    layout = media.ex_layout(t.payload, video=t.type_id == 9)
    return tuple(tr.track_id for tr in layout.tracks) if layout is not None else (0,)


def _with_color_info(tags: Sequence[MediaTag]) -> list[MediaTag]:
    """The hvc1-opus vector with an HDR colorInfo Metadata packet right after the video SequenceStart."""
    meta = media.build_ex_video(FT.KEY, VPT.METADATA, media.FourCC.HVC1, amf0.encode_all("colorInfo", COLOR_INFO))
    out = []
    for t in tags:
        out.append(t)
        if t.type_id == 9 and t.sequence_header:
            out.append(tag(9, t.timestamp, meta))
    return out


EXTRAS = {"opus-native-order": ("hvc1-opus.flv", {(8, 0): {"channels"}}),
          "ac3-custom-order": ("av01-ac-3.flv", {(8, 0): {"channels"}}),
          "hevc-color-info": ("hvc1-opus.flv", {(9, 0): {"color"}})}


@pytest.mark.rule("ERTMP-20")
@pytest.mark.parametrize("variant", list(EXTRAS))
async def test_late_joiner_gets_channel_config_and_color_info(rtmp, variant):
    """Publishes real Opus with a MultichannelConfig in native order (flags FL|FR), AC-3 with one in
    custom order (mapping FL, FR), or HEVC with an HDR10 colorInfo Metadata packet, each sent once
    right after the SequenceStart; a player joins after the second keyframe (400 ms).

    Requirement (ERTMP-20): MultichannelConfig and colorInfo are configuration: the late joiner gets
    them before the coded frames of their track.
    """
    name, kinds = EXTRAS[variant]
    tags = vector(name)
    if variant == "hevc-color-info":
        tags = _with_color_info(tags)
    _pub, player = await late_join(rtmp, tags, join_at_ms=500)
    rtmp.judge(checks.check_track_extras_first(player.log, kinds={k: set(v) for k, v in kinds.items()}))


# -- ERTMP-21/22 players that cannot take the stream as published ----------------------------------------


VIEWS = {
    "ertmp-only-to-legacy": ("hvc1-opus.flv", LEGACY_PLAYER),
    "multitrack-without-caps": ("obs-multitrack.flv", {"fourCcList": ["*"]}),
    "modex-without-caps": ("hvc1-mp4a-modex.flv", {"fourCcList": ["*"], "capsEx": float(CAPS_MULTITRACK)}),
}


@pytest.mark.rule("ERTMP-21")
@pytest.mark.parametrize("variant", list(VIEWS))
async def test_player_gets_only_what_it_declared(rtmp, variant):
    """An E-RTMP-only stream (HEVC + Opus) to a player that declared nothing; the OBS-style multitrack
    vector to a player with fourCcList ["*"] but no capsEx Multitrack; the ModEx vector to a player
    with "*" and Multitrack but no capsEx ModEx.

    Requirement (ERTMP-21): no ExHeader FourCC the player did not declare, no Multitrack without
    capsEx Multitrack, no ModEx without capsEx ModEx.
    """
    name, declared = VIEWS[variant]
    _pub, player = await relay(rtmp, vector(name), player_extra=declared)
    rtmp.judge(checks.check_declared_only(player.log, declared))


def _avc1_mp4a() -> list[MediaTag]:
    """Real H.264 + AAC (libx264, aac) as FourCC avc1 / mp4a inside the ExHeaders."""
    out = []
    for t in make_h264_aac(ex_audio=True, **SHORT).publish_sequence():
        if t.type_id != 9:
            out.append(t)
            continue
        legacy = media.parse_video_tag(t.payload)
        if legacy.sequence_header:
            p = media.build_ex_video(FT.KEY, VPT.SEQUENCE_START, media.FourCC.AVC1, bytes(legacy.body))
        else:
            p = media.build_ex_video(legacy.frame_type, VPT.CODED_FRAMES, media.FourCC.AVC1, bytes(legacy.body),
                                     cts=legacy.composition_time)
        out.append(tag(9, t.timestamp, p))
    return out


@pytest.mark.rule("ERTMP-22")
@pytest.mark.parametrize("stream", ["obs-style-multitrack", "avc1-mp4a"])
async def test_legacy_player_gets_default_track(rtmp, stream):
    """The OBS-style multitrack vector (track 0 legacy H.264 + AAC, further tracks OneTrack), or real
    H.264 + AAC sent as FourCC avc1/mp4a, to a player that declared nothing.

    Requirement (ERTMP-22): a player that cannot take the stream as published gets its default track
    (trackId 0) in a form it can parse -- as sent when that is legacy, or as CodecID 7 / SoundFormat 10.
    """
    tags = vector("obs-multitrack.flv") if stream == "obs-style-multitrack" else _avc1_mp4a()
    _pub, player = await relay(rtmp, tags, player_extra=LEGACY_PLAYER)
    rtmp.judge(checks.check_default_track(player.log, tags))


# -- ERTMP-11/23 Reconnect Request on a drain ----------------------------------------------------------


DRAIN_GRACE_S = 1.0


def _reconnect_urls(target: Any) -> dict[str, tuple[str | None, str]]:
    """variant -> (tcUrl the drain asks for, the URL it resolves to against the current tcUrl)."""
    here = f"rtmp://{target.url_host}:{target.port}/{target.app}"
    return {
        "absolute": (here, here),
        "relative": (f"/{target.app}", here),
        "network-path": (f"//{target.url_host}:{target.port}/{target.app}", here),
        "absent": (None, here),
    }


NO_DRAIN = "the run has no way to make the target drain (--drain; a reference server the run starts has one)"


async def _drain(rtmp: Any, tc_url: str | None) -> str | None:
    """Make the target drain; the reason when it cannot (the case is then NOT-RUN)."""
    from rtmpconf.harness.drain import DrainUnavailable

    if rtmp.drain is None:
        return NO_DRAIN
    try:
        await rtmp.drain.trigger(rtmp.client, tc_url=tc_url, description="conformance drain",
                                 grace_s=DRAIN_GRACE_S)
    except DrainUnavailable as exc:
        return str(exc)
    return None


@pytest.mark.exclusive("target")  # a drain reaches every connection of the target
@pytest.mark.rule("ERTMP-11")
@pytest.mark.parametrize("variant", ["absolute", "relative", "network-path", "absent"])
async def test_reconnect_request_on_drain(rtmp, variant):
    """A publisher and a player (FFmpeg profile, whose connect carries the real tcUrl), both with capsEx
    Reconnect (0x01) and fourCcList ["*"], and a legacy
    player are on one HEVC stream; the target is made to drain with an absolute, a relative ("/live"),
    a network-path ("//host:port/live") or no tcUrl. The project's client profiles then follow the
    request: the player plays again at the resolved URL, the publisher leaves and publishes again there.

    Requirement (ERTMP-11): onStatus NetConnection.Connect.ReconnectRequest, level "status", on the
    NetConnection, only to clients that advertised capsEx Reconnect; the tcUrl is resolved against the
    current one ("If not specified, use the tcUrl for the current connection").
    """
    from rtmpconf.harness.profiles import FFMPEG

    if rtmp.drain is None:
        rtmp.judge(not_run("ERTMP-11", NO_DRAIN))
        return
    ask, expected_url = _reconnect_urls(rtmp.target)[variant]
    caps = {"fourCcList": ["*"], "capsEx": float(CAPS_RECONNECT | CAPS_MULTITRACK | CAPS_MODEX)}
    stream = hevc(seconds=1.6)
    tags = list(stream.publish_sequence())
    first = [t for t in tags if t.timestamp < 600]
    rest = [t for t in tags if t.timestamp >= 600]
    name = rtmp.stream_name()
    pub = FFMPEG.client(rtmp, label="publisher (capsEx Reconnect)")
    player = FFMPEG.client(rtmp, label="player (capsEx Reconnect)")
    legacy = rtmp.client(label="legacy player")
    new_player = new_pub = None
    followed: list[tuple[Any, str, str | None, bool]] = []
    try:
        await FFMPEG.open(pub, publish=True, connect_extra=caps)
        await FFMPEG.publish(pub, rtmp.target.publish_name(name))
        await FFMPEG.open(player, publish=False, connect_extra=caps)
        await FFMPEG.play(player, rtmp.target.play_name(name))
        await legacy.open()
        await legacy.handshake()
        await legacy.connect()
        await legacy.play(name)
        await send_tags(pub, first)
        await probe_all(pub, player, legacy)
        why = await _drain(rtmp, ask)
        if why is not None:
            rtmp.judge(not_run("ERTMP-11", why))
            return
        requests = {}
        for c in (pub, player):
            try:
                requests[c] = await c.wait_status("reconnect request", (checks.RECONNECT_CODE,), timeout=3.0)
            except (StepTimeout, PeerClosed):
                pass
        await probe_all(legacy)
        for c, profile, publish in ((player, FFMPEG, False), (pub, FFMPEG, True)):
            if c not in requests:
                continue
            role = "publisher" if publish else "player"
            try:
                made, url = await profile.follow_reconnect(
                    c, requests[c], lambda t, role=role, profile=profile: profile.client(
                        rtmp, label=f"{role} after reconnect", target=t),
                    name=rtmp.target.publish_name(name) if publish else rtmp.target.play_name(name),
                    publish=publish, connect_extra=caps, leave_first=publish)
                followed.append((made, url, None, publish))
                if publish:
                    new_pub = made
                else:
                    new_player = made
            except (StepTimeout, PeerClosed, OSError, ProtocolError) as exc:
                followed.append((None, expected_url, f"{type(exc).__name__}: {exc}", publish))
        if new_pub is not None:
            await send_tags(new_pub, rest)
            await probe_all(new_pub, *(x for x in (new_player,) if x is not None))
    finally:
        for c in (pub, player, legacy, new_pub, new_player):
            if c is not None:
                await c.close()
    findings = checks.check_reconnect_on_drain([pub.log, player.log], [legacy.log], tc_url=ask)
    for made, url, err, publish in followed:
        findings += checks.check_reconnect_followed(made.log if made is not None else None, resolved=url,
                                                    expected_url=expected_url, publish=publish, error=err)
    rtmp.judge(findings)


@pytest.mark.exclusive("target")  # a drain reaches every connection of the target
@pytest.mark.rule("ERTMP-23")
async def test_served_until_the_client_leaves(rtmp):
    """A publisher and a player with capsEx Reconnect and a legacy player on one HEVC stream; the target
    is made to drain (no tcUrl, grace 1 s). After its Reconnect Request the publisher keeps sending for
    a while before leaving; the legacy player only waits.

    Requirement (ERTMP-23): the old server "SHOULD continue processing messages from the client until
    the client disconnects"; a client without capsEx Reconnect gets none and is closed cleanly.
    """
    if rtmp.drain is None:
        rtmp.judge(not_run("ERTMP-23", NO_DRAIN))
        return
    caps = {"fourCcList": ["*"], "capsEx": float(CAPS_RECONNECT | CAPS_MULTITRACK | CAPS_MODEX)}
    tags = list(hevc(seconds=1.6).publish_sequence())
    first = [t for t in tags if t.timestamp < 600]
    after = [t for t in tags if t.timestamp >= 600]
    name = rtmp.stream_name()
    async with pair(rtmp, name, pub_extra=caps, player_extra=caps) as (pub, player):
        legacy = rtmp.client(label="legacy player")
        try:
            await legacy.open()
            await legacy.handshake()
            await legacy.connect()
            await legacy.play(name)
            await send_tags(pub, first)
            await probe_all(pub, player, legacy)
            why = await _drain(rtmp, None)
            if why is not None:
                rtmp.judge(not_run("ERTMP-23", why))
                return
            try:
                await pub.wait_status("reconnect request", (checks.RECONNECT_CODE,), timeout=3.0)
            except (StepTimeout, PeerClosed):
                after = []  # no request: nothing to judge about serving after it
            await send_tags(pub, after)
            await probe_all(pub, player)
            await legacy.wait_closed(DRAIN_GRACE_S + 3.0)
        finally:
            await legacy.close()
    rtmp.judge(checks.check_served_after_request(player.log, after=after) + checks.check_closed_cleanly(legacy.log))


# == Real-encoder quirks (ERTMP-24..31) ==============================================================


@pytest.mark.rule("ERTMP-24")
async def test_media_abandoned_at_deadline(rtmp):
    """Publishes H.264 + AAC (legacy, so servers without E-RTMP are judged too); at 400 ms the publisher
    starts an inter frame (its first 128-byte chunk on the video chunk stream), abandons it with Abort
    (type 2, that csid), and continues with the next frames -- what a real-time sender does when a
    message misses its deadline.

    Requirement (ERTMP-24, with CH-18): the partial message is discarded; players never get it, nor
    anything glued to it, and every complete frame still arrives.
    """
    from rtmpconf.rtmp.chunk import MessagePlan
    from rtmpconf.rtmp.messages import Abort
    from rtmpconf.rtmp.session import CSID_VIDEO

    tags = list(make_h264_aac(seconds=0.8, gop=8, bitrate=1_500_000).publish_sequence())
    i = next(k for k, t in enumerate(tags) if t.type_id == 9 and t.timestamp >= 400 and not t.keyframe
             and len(t.payload) > 300)
    abandoned = tags[i]
    name = rtmp.stream_name()
    async with pair(rtmp, name) as (pub, player):
        await send_tags(pub, tags[:i])
        msid = pub.stream_id
        chunks = pub.conn.writer.encode_planned(CSID_VIDEO, 9, msid, abandoned.timestamp, abandoned.payload,
                                                MessagePlan(chunk_size=128))
        await pub.send_raw(chunks[0])  # the first 128 bytes of the frame, then it is abandoned
        await pub.send(Abort(CSID_VIDEO))  # 02 | ts 0 | len 4 | type 2 | msid 0 | 00 00 00 06
        # The next frames reuse the chunk stream with compressed headers, as the sender's writer does.
        await send_tags(pub, tags[i + 1:])
        await probe_all(pub, player)
    sent = tags[:i] + tags[i + 1:]
    rtmp.judge(checks.check_abandoned_media(player.log, sent, abandoned=abandoned.payload))


@pytest.mark.rule("ERTMP-25")
async def test_publish_false_stops_publishing(rtmp):
    """A publisher with a waiting player sends H.264 + AAC, then publish(false) on its stream (Flash
    NetStream.publish(false), as Wirecast stops); then a second publisher publishes the same name.

    Requirement (ERTMP-25): publish(false) ends the publish (name freed, player told) and the
    connection is kept; the server never crashes over a boolean stream name.
    """
    tags = list(make_h264_aac(**SHORT).publish_sequence())
    name = rtmp.stream_name()
    second = rtmp.client(label="second publisher")
    async with pair(rtmp, name) as (pub, player):
        await send_tags(pub, tags)
        await probe_all(pub, player)
        await pub.command("publish", False, msid=pub.stream_id, tid=0.0)  # 02 00 07 "publish" 00 0 05 01 00
        await probe_all(pub, player)
        try:
            await second.open()
            await second.handshake()
            await second.connect()
            await second.publish(name, any_status=True)
        except (StepTimeout, PeerClosed, OSError):
            pass
        finally:
            await second.close()
        await probe_all(player)
    fresh = await open_fresh_session(rtmp)
    rtmp.judge(checks.check_publish_false(pub.log, player.log, second.log, fresh))


def _metadata_with(tags: Sequence[MediaTag], **fields: Any) -> list[MediaTag]:
    out = []
    for t in tags:
        if t.type_id == 18:
            values = amf0.decode_all(t.payload)
            obj = dict(values[2])
            obj.update(fields)
            out.append(MediaTag(18, t.timestamp, amf0.encode_all(values[0], values[1], amf0.EcmaArray(obj)),
                                False, False))
        else:
            out.append(t)
    return out


@pytest.mark.rule("ERTMP-26")
async def test_metadata_codec_ids_as_strings(rtmp):
    """Publishes H.264 + AAC whose @setDataFrame onMetaData has videocodecid "avc1" and audiocodecid
    "mp4a" as AMF strings (OBS #3131) instead of numbers.

    Requirement (ERTMP-26): the publish is accepted and the media relayed; the metadata is relayed or
    dropped, never a reason to close the connection.
    """
    tags = _metadata_with(make_h264_aac(**SHORT).publish_sequence(), videocodecid="avc1", audiocodecid="mp4a")
    pub, player = await relay(rtmp, tags)
    fresh = await open_fresh_session(rtmp)
    after = [t for t in tags if t.type_id in (8, 9)]
    rtmp.judge(checks.check_survives(pub.log, player.log, fresh, after=after, what="string codec ids in onMetaData",
                                     rule="ERTMP-26", crash_rule="ERTMP-9"))


@pytest.mark.rule("ERTMP-27")
async def test_additional_media_amf3_bytearray(rtmp):
    """Publishes H.264 + AAC and, every 200 ms, a type-18 ["additionalMedia", {"id": "vod-track", "media":
    0x11 + AMF3 ByteArray holding an AAC frame}] as OBS does for the Twitch VOD track.

    Requirement (ERTMP-27): a data message carrying an AMF3 value (avmplus marker 0x11) is decoded or
    ignored; the publish continues and later media reaches the player.
    """
    from rtmpconf.rtmp.amf0 import Amf3Value

    base = list(make_h264_aac(**SHORT).publish_sequence())
    aac = next(t.payload for t in base if t.type_id == 8 and not t.sequence_header)
    # ["additionalMedia", {id: "vod-track", media: 0x11 0x0C <len> <bytes>}]: an AMF0 object whose
    # "media" value is an AMF3 ByteArray behind the avmplus marker.
    extra = amf0.encode_all("additionalMedia", {"id": "vod-track", "media": Amf3Value(bytes(aac))})
    tags: list[MediaTag] = []
    for t in base:
        if t.type_id == 9 and t.timestamp % 200 == 0 and t.timestamp:
            tags.append(MediaTag(18, t.timestamp, extra, False, False))
        tags.append(t)
    pub, player = await relay(rtmp, tags)
    fresh = await open_fresh_session(rtmp)
    after = [t for t in tags if t.type_id in (8, 9) and t.timestamp > 200]
    rtmp.judge(checks.check_survives(pub.log, player.log, fresh, after=after,
                                     what="an additionalMedia data message with an AMF3 ByteArray", rule="ERTMP-27"))


def _hevc_as_codec_id_7(payload: bytes) -> bytes:
    ftype, ptype, _, rest = split_ex_video(payload)
    if ptype == VPT.SEQUENCE_START:
        return media.build_avc_video(ftype, media.AvcPacketType.SEQUENCE_HEADER, 0, rest)
    cts = int.from_bytes(rest[:3], "big", signed=True)
    return media.build_avc_video(ftype, media.AvcPacketType.NALU, cts, rest[3:])


@pytest.mark.rule("ERTMP-28")
async def test_hevc_as_codec_id_7(rtmp):
    """Publishes real HEVC (libx265) framed as legacy CodecID 7, as OBS before 29.1 did: 0x17 00 +
    HEVCDecoderConfigurationRecord, then 0x17/0x27 01 + CTS + HEVC NAL units.

    Requirement (ERTMP-28): the server keeps the publisher and stays up; relaying the bytes as sent
    or dropping them are both accepted.
    """
    tags = retag(hevc().publish_sequence(), video=_hevc_as_codec_id_7)
    pub, player = await relay(rtmp, tags)
    fresh = await open_fresh_session(rtmp)
    audio_after = [t for t in tags if t.type_id == 8]
    rtmp.judge(checks.check_survives(pub.log, player.log, fresh, after=audio_after,
                                     what="HEVC sent as CodecID 7", rule="ERTMP-28", crash_rule="ERTMP-9"))


@pytest.mark.rule("ERTMP-29")
async def test_frame_type_0_sequence_start(rtmp):
    """Publishes HEVC whose SequenceStart has byte 0 = 0x80 (ExHeader, FrameType 0 -- reserved --,
    SequenceStart), as OBS before PR #8761 wrote it; a player joins after the second keyframe.

    Requirement (ERTMP-29): it is still the SequenceStart: the late joiner gets it before its first frame.
    """
    def zero_frame_type(p: bytes) -> bytes:
        return bytes([p[0] & 0x8F]) + p[1:] if media.is_video_sequence_header(p) else p

    tags = retag(hevc().publish_sequence(), video=zero_frame_type)
    _pub, player = await late_join(rtmp, tags, join_at_ms=500)
    rtmp.judge(checks.check_track_config_first(player.log, rule="ERTMP-29"))


@pytest.mark.rule("ERTMP-30")
async def test_aac_configuration_change(rtmp):
    """Publishes H.264 + AAC at 44.1 kHz, then at 400 ms a new AAC sequence header for 48 kHz followed by
    48 kHz frames; one player waits from the start, a second joins after the change.

    Requirement (ERTMP-30): the new sequence header reaches current players before the frames that use
    it and replaces the cached one: the late joiner gets only the new one.
    """
    s44 = make_h264_aac(sample_rate=44100, **SHORT)
    s48 = make_h264_aac(sample_rate=48000, seconds=1.6, gop=8)
    old_sh, new_sh = s44.audio_sequence_header, s48.audio_sequence_header
    assert old_sh and new_sh and old_sh != new_sh
    before = [t for t in s44.publish_sequence() if t.timestamp < 400 or t.type_id == 18]
    new_audio = [t for t in s48.audio_tags() if 400 <= t.timestamp < 1200]
    video_after = [t for t in s48.video_tags() if 400 <= t.timestamp < 1200]
    after = sorted([tag(8, 400, new_sh), *new_audio, *video_after], key=lambda t: (t.timestamp, t.type_id != 8))
    name = rtmp.stream_name()
    late = rtmp.client(label="late joiner")
    async with pair(rtmp, name) as (pub, player):
        await send_tags(pub, before + after[: len(after) // 2])
        await probe_all(pub, player)
        try:
            await late.open()
            await late.handshake()
            await late.connect(extra=ERTMP_PLAYER)
            await late.play(name)
            await send_tags(pub, after[len(after) // 2:])
            await probe_all(pub, player, late)
        finally:
            await late.close()
    rtmp.judge(checks.check_aac_change(player.log, late.log, old_sh=old_sh, new_sh=new_sh,
                                       new_frames=[t.payload for t in new_audio]))


@pytest.mark.rule("ERTMP-31")
async def test_metadata_as_amf3_data_message(rtmp):
    """Publishes @setDataFrame onMetaData {width 320, height 180, encoder "amf3-data"} as a type-15 data
    message (format byte 0x00, then AMF0), then H.264 + AAC; the same metadata as type 18 on a second
    stream is the control (a server that regenerates metadata drops fields for both).

    Requirement (ERTMP-31): type 15 is the AMF3 data message; a server relays its onMetaData to players
    like a type-18 one.
    """
    from rtmpconf.rtmp.messages import Data

    tags = [t for t in make_h264_aac(**SHORT).publish_sequence() if t.type_id != 18]
    want = {"width": 320.0, "height": 180.0, "encoder": "amf3-data"}
    players = []
    for amf3 in (False, True):
        async with pair(rtmp, rtmp.stream_name("amf3" if amf3 else "amf0")) as (pub, player):
            # amf3=True: type 15, a 0x00 format selector + AMF0 values (CMD-2); else type 18.
            await pub.send(Data(("@setDataFrame", "onMetaData", amf0.EcmaArray(want)), amf3=amf3),
                           msid=pub.stream_id)
            await send_tags(pub, tags)
            await probe_all(pub, player)
        players.append(player.log)
    rtmp.judge(checks.check_metadata_like_type_18(players[1], control=players[0], expected=want))


# == Interop: FFmpeg 8.1 (PyAV) as a real E-RTMP publisher and player (--interop) ===================


ROUND_TRIPS = {"hevc-opus": ("hevc", "opus"), "av1-ac3": ("av1", "ac3"), "vp9-opus": ("vp9", "opus"),
               "hevc-ac3": ("hevc", "ac3")}
#: The publish runs this long; players join after JOIN_S (past one 1 s GOP) and watch for WATCH_S.
PUBLISH_S, JOIN_S, WATCH_S = 5.0, 1.2, 3.0


def _peer_url(rtmp: Any, name: str) -> str:
    return f"{rtmp.target.tc_url}/{name}"


@pytest.mark.interop
@pytest.mark.rule("ERTMP-1", id="interop/pyav-ertmp-round-trip")
@pytest.mark.parametrize("combo", list(ROUND_TRIPS))
async def test_pyav_ertmp_round_trip(rtmp, combo):
    """FFmpeg 8.1 (the PyAV wheel) encodes and publishes HEVC/AV1/VP9 with Opus/AC-3 over E-RTMP (its
    FLV muxer's own ExHeaders) in real time; after 1.2 s a second FFmpeg 8.1 plays the stream with
    rtmp_enhanced_codecs set to the two FourCCs, demuxes and decodes every packet.

    Requirement (ERTMP-1/6): the ExHeader video and audio reach a player that declared them, intact:
    every packet decodes, the first video frame is a keyframe.
    """
    import asyncio

    from rtmpconf.harness.peers.pyav_ertmp import FOURCC, Player, Publisher

    video, audio = ROUND_TRIPS[combo]
    url = _peer_url(rtmp, rtmp.stream_name("rt"))
    pub = Publisher(url, video=[video], audio=[audio], seconds=PUBLISH_S, gop=25)
    player = None
    try:
        await asyncio.sleep(JOIN_S)
        player = Player(url, seconds=WATCH_S, fourccs=[FOURCC[video], FOURCC[audio]])
        played = await asyncio.to_thread(player.result)
        published = await asyncio.to_thread(pub.result)
    finally:
        pub.stop()
        if player is not None:
            player.stop()
    rtmp.judge(checks.check_pyav_round_trip(played, published, video=video, audio=audio))


@pytest.mark.interop
@pytest.mark.rule("ERTMP-22", id="interop/ffmpeg-multitrack-legacy-player")
async def test_ffmpeg_multitrack_to_legacy_player(rtmp):
    """FFmpeg 8.1 publishes OBS-style multitrack: 3 video tracks (H.264 320x180 as track 0 in legacy form,
    H.264 160x90 and HEVC 80x44 as OneTrack tracks 1 and 2) and 2 AAC tracks; a second FFmpeg 8.1 plays
    without rtmp_enhanced_codecs (a legacy player).

    Requirement (ERTMP-22): the legacy player gets the default track (trackId 0) in a form it can parse,
    and decodes it.
    """
    import asyncio

    from rtmpconf.harness.peers.pyav_ertmp import Player, Publisher

    url = _peer_url(rtmp, rtmp.stream_name("mt"))
    pub = Publisher(url, video=["h264", "h264", "hevc"], audio=["aac", "aac"], seconds=PUBLISH_S, gop=25)
    player = None
    try:
        await asyncio.sleep(JOIN_S)
        player = Player(url, seconds=WATCH_S)
        played = await asyncio.to_thread(player.result)
        published = await asyncio.to_thread(pub.result)
    finally:
        pub.stop()
        if player is not None:
            player.stop()
    rtmp.judge(checks.check_pyav_legacy_default_track(played, published))


@pytest.mark.interop
@pytest.mark.rule("ERTMP-19", id="interop/ffmpeg-multitrack-late-joiner")
async def test_ffmpeg_multitrack_late_joiner(rtmp):
    """FFmpeg 8.1 publishes OBS-style multitrack (3 video, 2 audio tracks, each with its own
    SequenceStart) in real time; after 1.2 s a harness player that declared "*" and Multitrack joins
    and watches for 2 s.

    Requirement (ERTMP-19): every track's sequence header reaches the late joiner before that track's
    first coded frame.
    """
    import asyncio

    from rtmpconf.harness.peers.pyav_ertmp import Publisher

    name = rtmp.stream_name("mtl")
    pub = Publisher(_peer_url(rtmp, name), video=["h264", "h264", "hevc"], audio=["aac", "aac"],
                    seconds=PUBLISH_S, gop=25)
    c = rtmp.client(label="late joiner (Multitrack)")
    try:
        await asyncio.sleep(JOIN_S)
        async with c:
            await c.handshake()
            await c.connect(extra=ERTMP_PLAYER)
            await c.play(name)
            await c.collect(2.0)
        await asyncio.to_thread(pub.result)
    finally:
        pub.stop()
    rtmp.judge(checks.check_track_config_first(c.log, expect={(9, 0), (9, 1), (9, 2), (8, 0), (8, 1)}))
