"""Client cases, catalogue section 26 (CL-AV): the audio and video a publisher sends, and a player's
reaction to a new sequence header."""

from __future__ import annotations

import pytest

from rtmpconf.harness.checks import clients as ck
from rtmpconf.harness.clients.scenarios import EVENT_FRAME, normal, not_connected, player_media, session
from rtmpconf.harness.clients.server import ServerSession
from rtmpconf.rtmp.messages import Video

CHECKS = {
    "CL-AV-1": ck.check_sequence_headers_first,
    "CL-AV-2": ck.check_first_video_keyframe,
    "CL-AV-3": ck.check_avc_config_matches_inband,
    "CL-AV-4": ck.check_video_layout,
    "CL-AV-5": ck.check_audio_layout,
    "CL-AV-6": ck.check_keyframe_flags,
    "CL-AV-7": ck.check_aac_tag_header,
}


async def _judge(cc, rule: str) -> None:
    run = await normal(cc)
    cc.judge(CHECKS[rule](run.log) if run.connected else not_connected(cc, run))


@pytest.mark.rule("CL-AV-1")
@pytest.mark.client_role("publish")
async def test_sequence_headers_first(client_case):
    """A normal publish. Requirement: AVC/AAC sequence headers before the first coded frame."""
    await _judge(client_case, "CL-AV-1")


@pytest.mark.rule("CL-AV-2")
@pytest.mark.client_role("publish")
async def test_first_video_frame_is_key(client_case):
    """A normal publish. Requirement: the first coded video frame is a keyframe."""
    await _judge(client_case, "CL-AV-2")


@pytest.mark.rule("CL-AV-3")
@pytest.mark.client_role("publish")
async def test_avc_config_matches_inband(client_case):
    """A normal publish. Requirement: in-band SPS/PPS equal the AVCDecoderConfigurationRecord's."""
    await _judge(client_case, "CL-AV-3")


@pytest.mark.rule("CL-AV-4")
@pytest.mark.client_role("publish")
async def test_video_messages_well_formed(client_case):
    """A normal publish. Requirement: every video message parses; NAL lengths cover the body."""
    await _judge(client_case, "CL-AV-4")


@pytest.mark.rule("CL-AV-5")
@pytest.mark.client_role("publish")
async def test_audio_messages_well_formed(client_case):
    """A normal publish. Requirement: every audio message parses; a valid AudioSpecificConfig."""
    await _judge(client_case, "CL-AV-5")


@pytest.mark.rule("CL-AV-6")
@pytest.mark.client_role("publish")
async def test_keyframe_flags_match_idr(client_case):
    """A normal publish. Requirement: key flag iff the frame holds an IDR picture."""
    await _judge(client_case, "CL-AV-6")


@pytest.mark.rule("CL-AV-7")
@pytest.mark.client_role("publish")
async def test_aac_tag_header(client_case):
    """A normal publish. Requirement: AAC tags say SoundRate 3, SoundType 1 (FLV §E.4.2.1)."""
    await _judge(client_case, "CL-AV-7")


@pytest.mark.rule("CL-AV-8")
@pytest.mark.client_role("play")
async def test_new_sequence_header_mid_stream(client_case):
    """After 10 frames: the sequence header of another encode (different resolution), then that
    encode's frames from its keyframe. Requirement: the player applies it and goes on."""
    second = player_media(width=256, height=144, seconds=1.0)

    async def switch(s: ServerSession) -> None:
        s.mark("new sequence header")
        base = s.sent_media[-1].timestamp + 40
        await s.send(Video(second.video_sequence_header), msid=s.replies.stream_id, timestamp=base, csid=6)
        for t in second.tags:
            if t.type_id == 9:
                await s.send(Video(t.payload), msid=s.replies.stream_id, timestamp=base + t.timestamp, csid=6)
                s._record_media(9, base + t.timestamp, t.payload, True)
        s.stop_stream = True

    run = await session(client_case, hooks={EVENT_FRAME: switch})
    m = run.mark("new sequence header") if run.connected else None
    client_case.judge(ck.check_player_went_on(run.player_output, video_sent=run.video_sent,
                                              video_before=m.video_sent if m else run.video_sent, rule="CL-AV-8",
                                              what="a new sequence header", log=run.log)
                      if run.connected else not_connected(client_case, run))
