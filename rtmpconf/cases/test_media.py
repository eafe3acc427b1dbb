"""Audio/video payload cases (catalogue section 7, FLV v10.1 Annex E.4.2-E.4.3).

A relaying server must not need to understand codec payloads, but it must tell keyframes and
sequence headers apart correctly and pass every byte through. Each case publishes, lets a player
read, and compares what arrived with what was sent (``harness.checks.media``).
"""

from __future__ import annotations

import pytest

from rtmpconf import records
from rtmpconf.harness.checks.gop import check_keyframe_start
from rtmpconf.harness.checks.media import (
    aac_ms,
    aac_sequence_header,
    audio_tag,
    avc_sequence_header,
    check_aac_config_relay,
    check_payloads_intact,
    check_sequence_header_switch,
    check_sequence_headers_first,
    filler,
    relength_nalus,
    synthetic_stream,
    video_tag,
)
from rtmpconf.harness.scenarios import index_at, relay_tags, tags_with_headers
from rtmpconf.harness.testmedia import MediaTag, TestStream, make_h264_aac
from rtmpconf.rtmp import media

#: Length of a stream a late joiner plays at 1.2 s: past the keyframe at 2 s, where a server
#: without a GOP cache (nginx ``wait_key``, GOP-3) starts the joiner's video.
LATE_JOIN_SECONDS = 2.4


# -- AV-1 ------------------------------------------------------------------------------------------


def avc_frame_types() -> list[MediaTag]:
    """AVC with every legacy FrameType: 1 key, 2 inter, 3 disposable inter, 4 generated key, 5 a
    video command (UI8 0 = start of client-side seek) instead of a picture."""
    tags = [MediaTag(9, 0, avc_sequence_header(), False, True)]
    types = [1, 2, 3, 2, 3, 4, 2, 2, 3, 2]
    for i in range(25):
        tags.append(video_tag(i, 40 * i, size=150, frame_type=types[i % len(types)]))
    tags.insert(12, MediaTag(9, 40 * 11, media.build_video_command(0, enhanced=False), False, False))
    return tags


def h263_stream() -> list[MediaTag]:
    """Sorenson H.263 (CodecID 2): no sequence header, no AVCPacketType; keyframe every 10 frames."""
    out = []
    for i in range(25):
        ft = 1 if i % 10 == 0 else 2
        out.append(MediaTag(9, 40 * i, bytes(((ft << 4) | 2,)) + i.to_bytes(4, "big") + filler(i, 200), ft == 1, False))
    return out


@pytest.mark.rule("AV-1")
@pytest.mark.parametrize("stream", ["avc-all-frame-types", "h263-late-joiner"])
async def test_video_tag_header_relayed(rtmp, stream):
    """Publishes AVC using FrameTypes 1-5 (keyframe, inter, disposable inter, generated keyframe, a
    video command frame ``57 00``) to an early player; or Sorenson H.263 (CodecID 2, bytes ``12``/``22``)
    to a player joining mid-GOP.

    Requirement (FLV E.4.3.1): "FrameType UB[4] ... CodecID UB[4]" — every tag reaches the player
    byte-identical, and the late joiner's first frame is an H.263 keyframe (FrameType 1, no AVC
    packet type to look at).
    """
    if stream == "avc-all-frame-types":
        tags = avc_frame_types()
        player = await relay_tags(rtmp, tags)
        rtmp.judge(check_payloads_intact(player.log, tags, rule="AV-1"))
    else:
        tags = h263_stream()
        player = await relay_tags(rtmp, tags, join_after=15)
        rtmp.judge(check_payloads_intact(player.log, tags, rule="AV-1", expect_all=False, first_keyframe=True))


# -- AV-2 ------------------------------------------------------------------------------------------


def two_byte_nalu_stream(seconds: float = 2.0) -> list[MediaTag]:
    """Real x264 output re-packaged with lengthSizeMinusOne = 1: 2-byte NAL unit lengths."""
    s = make_h264_aac(seconds=seconds)
    cfg = media.AvcDecoderConfig.parse(s.video_sequence_header[5:])
    sh = avc_sequence_header(length_size=2, sps=cfg.sps[0], pps=cfg.pps[0])
    tags = [MediaTag(9, 0, sh, False, True), MediaTag(8, 0, s.audio_sequence_header or b"", False, True)]
    for t in s.tags:
        if t.type_id == 9:
            t = records.replace(t, payload=t.payload[:5] + relength_nalus(t.payload[5:], 4, 2))
        tags.append(t)
    return tags


@pytest.mark.rule("AV-2")
@pytest.mark.parametrize("case", ["length-size-2-early-player", "length-size-2-late-joiner", "end-of-sequence"])
async def test_avc_packet_relayed(rtmp, case):
    """Publishes real H.264 whose AVCDecoderConfigurationRecord says lengthSizeMinusOne = 1 (NAL units
    with 2-byte lengths), to an early player or one joining mid-GOP at 1.2 s (the stream goes on
    past the keyframe at 2 s, where a server without a GOP cache starts); or 1 s of normal H.264
    ending in an AVC end-of-sequence message ``27 02 00 00 00``.

    Requirement (FLV E.4.3.2 / AV-2): NALU lengths come from lengthSizeMinusOne, "Do not assume
    Annex-B start codes" or 4-byte lengths; AVCPacketType 2 = end of sequence — all relayed
    byte-identical (a late joiner starting at a keyframe).
    """
    if case == "end-of-sequence":
        tags = tags_with_headers(make_h264_aac(seconds=2.0))
        tags = tags[:index_at(tags, 1000)]
        tags.append(MediaTag(9, tags[-1].timestamp + 40, b"\x27\x02\x00\x00\x00", False, False))  # inter, AVC EOS, CTS 0
        player = await relay_tags(rtmp, tags)
        rtmp.judge(check_payloads_intact(player.log, tags, rule="AV-2"))
        return
    late = case.endswith("late-joiner")
    tags = two_byte_nalu_stream(LATE_JOIN_SECONDS if late else 2.0)
    player = await relay_tags(rtmp, tags, join_after=index_at(tags, 1200) if late else None)
    rtmp.judge(check_payloads_intact(player.log, tags, rule="AV-2", expect_all=not late, first_keyframe=late))


# -- AV-3 ------------------------------------------------------------------------------------------


@pytest.mark.rule("AV-3")
@pytest.mark.parametrize("flags", ["rate3-stereo", "rate0-mono"])
async def test_aac_flags_ignored(rtmp, flags):
    """Publishes video and 1.2 s of 48 kHz mono AAC (AudioSpecificConfig: 48000 Hz, 1 channel, exact
    21/21/22 ms cadence) whose FLV header bits say SoundRate 3 (44 kHz) SoundType 1 (stereo), or
    SoundRate 0 (5.5 kHz) SoundType 0.

    Requirement (FLV E.4.2.1 / AV-3): for AAC "the rate/type bits ... are ignored; the real
    configuration is in the AudioSpecificConfig" — payloads arrive byte-identical and any re-timing
    follows 48 kHz.
    """
    rate_bits, stereo = (3, True) if flags == "rate3-stereo" else (0, False)
    tags = synthetic_stream(start_ms=1000, seconds=1.2, audio=False)
    audio = [MediaTag(8, 1000, aac_sequence_header(48000, 1, rate_bits=rate_bits, stereo=stereo), False, True)]
    n = 0
    while aac_ms(n, 48000) < 1200:
        audio.append(audio_tag(500 + n, 1000 + aac_ms(n, 48000), rate_bits=rate_bits, stereo=stereo))
        n += 1
    tags = sorted(tags + audio, key=lambda t: (not t.sequence_header, t.timestamp, t.type_id == 8))
    player = await relay_tags(rtmp, tags)
    rtmp.judge(check_aac_config_relay(player.log, tags, 48000))


# -- AV-4 ------------------------------------------------------------------------------------------


def late_audio_header_stream(s: TestStream) -> list[MediaTag]:
    """Video SH and 0.4 s of video first; the AAC sequence header and audio only from 400 ms on."""
    tags = [MediaTag(9, 0, s.video_sequence_header, False, True)]
    for t in s.tags:
        if t.type_id == 8 and t.timestamp < 400:
            continue
        if t.type_id == 8 and not any(x.type_id == 8 for x in tags):
            tags.append(MediaTag(8, t.timestamp, s.audio_sequence_header or b"", False, True))
        tags.append(t)
    return tags


@pytest.mark.rule("AV-4")
@pytest.mark.parametrize("case", ["early-player", "late-joiner", "audio-header-late-late-joiner"])
async def test_sequence_headers_before_frames(rtmp, case):
    """Publishes real H.264/AAC (onMetaData, AVC sequence header, AAC sequence header, frames) to a
    player joining first or mid-GOP; or a stream whose AAC sequence header only comes at 400 ms,
    to a player joining at 1.2 s. Late joiners: the stream goes on past the keyframe at 2 s, where
    a server without a GOP cache (GOP-3) starts them.

    Requirement (AV-4): "Sequence headers must come before coded frames ... Servers cache the
    latest copy of each" — before its first frame of each track the player has that track's header.
    """
    s = make_h264_aac(seconds=2.0 if case == "early-player" else LATE_JOIN_SECONDS)
    tags = late_audio_header_stream(s) if case.startswith("audio-header-late") else tags_with_headers(s)
    join = None if case == "early-player" else index_at(tags, 1200)
    player = await relay_tags(rtmp, tags, join_after=join)
    rtmp.judge(check_sequence_headers_first(player.log, video_sh=s.video_sequence_header,
                                            audio_sh=s.audio_sequence_header))


# -- AV-5 ------------------------------------------------------------------------------------------


def resolution_change(b_ms: int = 600) -> tuple[list[MediaTag], list[MediaTag], bytes, bytes]:
    """(A part, B part, SH-A, SH-B): 320x180 for 0.6 s, then a 256x144 SPS and ``b_ms`` of its
    frames from 600 ms (B's keyframes at 600, 1600 ...)."""
    a = make_h264_aac(seconds=2.0)
    b = make_h264_aac(seconds=2.0, width=256, height=144)
    part_a = tags_with_headers(a)
    part_a = part_a[:index_at(part_a, 600)]
    part_b = [MediaTag(9, 600, b.video_sequence_header, False, True)]
    part_b += [records.replace(t, timestamp=t.timestamp + 600) for t in b.tags if t.timestamp < b_ms]
    return part_a, part_b, a.video_sequence_header, b.video_sequence_header


@pytest.mark.rule("AV-5")
@pytest.mark.parametrize("role", ["existing-player", "new-joiner"])
async def test_sequence_header_change(rtmp, role):
    """Publishes SH-A (320x180) and 0.6 s of frames, then SH-B (256x144) and B's frames from a
    keyframe. One player is there from the start; another joins after SH-B and 0.4 s of B, and B
    goes on past its next keyframe (1600 ms), where a server without a GOP cache starts it.

    Requirement (AV-5): "A sequence header change mid-stream ... must replace the cached copy and
    reach current players in order" — the existing player sees SH-B before B's keyframe; the new
    joiner gets only SH-B and B frames.
    """
    part_a, part_b, sh_a, sh_b = resolution_change(600 if role == "existing-player" else 1200)
    tags = part_a + part_b
    join_at = len(part_a) + index_at(part_b, 400)
    player = await relay_tags(rtmp, tags, join_after=None if role == "existing-player" else join_at)
    old = {t.payload for t in part_a if t.type_id == 9 and not t.sequence_header}
    new = {t.payload for t in part_b if t.type_id == 9 and not t.sequence_header}
    rtmp.judge(check_sequence_header_switch(player.log, old_sh=sh_a, new_sh=sh_b, new_frames=new, old_frames=old,
                                            role="joiner" if role == "new-joiner" else "existing"))


# -- AV-6 ------------------------------------------------------------------------------------------


@pytest.mark.rule("AV-6")
@pytest.mark.parametrize("header", ["repeated-sh-mid-gop", "changed-sh-mid-gop"])
async def test_sequence_header_is_not_a_gop_start(rtmp, header):
    """Publishes a keyframe and inter frames; at 600 ms a video sequence header (FrameType 1,
    AVCPacketType 0: the same bytes again, or a new SPS) followed by more inter frames; a player
    joins at 800 ms; the header comes once more at 880 ms, inter frames follow, and the next
    keyframe comes at 1000 ms. The header before the join is inside a GOP cache; the one after it
    is what a server without a cache, waiting for a keyframe, sees first: either kind of server
    meets a header it must not take for a GOP start.

    Requirement (AV-6): "A sequence header also has FrameType 1 but must not start a GOP" — the
    joiner's first coded frame is the cached keyframe or the next one, never an inter frame that
    followed a header.
    """
    tags = synthetic_stream(start_ms=0, seconds=1.4, audio=False, video_size=300)
    sh = avc_sequence_header() if header.startswith("repeated") else avc_sequence_header(
        sps=bytes.fromhex("6742c00dd9410f9f9e10"))
    for ms in (880, 600):
        at = index_at(tags, ms)
        tags.insert(at, MediaTag(9, tags[at].timestamp, sh, False, True))
    keys = {t.payload for t in tags if t.keyframe}
    player = await relay_tags(rtmp, tags, join_after=index_at(tags, 800))
    rtmp.judge(check_keyframe_start(player.log, rule="AV-6", keyframes=keys))
