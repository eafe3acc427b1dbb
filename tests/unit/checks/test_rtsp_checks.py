"""RTSP checkers against responses and RTP of deliberately broken servers (built with the reference
server's packetiser, then broken)."""

from __future__ import annotations

import struct

from rtmpconf.harness.checks.rtsp import (
    check_cseq_echo,
    check_describe,
    check_idr_start,
    check_keepalive,
    check_markers,
    check_media_intact,
    check_options,
    check_rtp_continuity,
    check_sdp_parameter_sets,
    check_sender_reports,
    check_session,
    check_transport,
)
from rtmpconf.harness.rtsp import Response, RtpPacket, depacketize_h26x, parse_sdp
from rtmpconf.harness.testmedia import make_h264_aac
from rtmpconf.harness.verdict import Verdict
from rtmpconf.reference_server.rtsp.rtp import RtpStream, aac_payload, h264_payloads
from rtmpconf.reference_server.rtsp.sdp import audio_config, describe, video_config
from rtmpconf.rtmp import media
from tests.unit.checks.fakes import v

STREAM = make_h264_aac(seconds=0.6, gop=6)


def resp(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> Response:
    return Response(status, "X", {k.lower(): val for k, val in (headers or {}).items()}, body, b"", 0.0)


def packets(mtu: int = 1400, *, marker: bool = True, skip_seq: bool = False) -> tuple[list[RtpPacket], list[RtpPacket]]:
    """Video and audio RTP of STREAM as the reference packetiser makes them (optionally broken)."""
    vs = RtpStream(96, 90000, 1, 100, 0)
    a = RtpStream(97, 48000, 2, 200, 0)
    video, audio = [], []
    for t in STREAM.tags:
        if t.type_id == 9:
            nal = [bytes(n) for n in media.split_nalus(media.parse_video_tag(t.payload).body, 4)]
            for p in vs.packets_for(h264_payloads(nal, mtu), t.timestamp * 90, marker_last=marker):
                video.append(RtpPacket(0, p, 0.0))
            if skip_seq:
                vs.seq += 1
        else:
            body = bytes(media.parse_audio_tag(t.payload).body)
            for p in a.packets_for([aac_payload(body)], len(audio) * 1024):
                audio.append(RtpPacket(2, p, 0.0))
    return video, audio


def test_cseq_and_options_and_session() -> None:
    sent = [("OPTIONS u RTSP/1.0", {"CSeq": "41"}), ("DESCRIBE u RTSP/1.0", {"CSeq": "42"})]
    assert v(check_cseq_echo(sent, [resp(200, {"CSeq": "41"}), resp(200, {"CSeq": "42"})])) is Verdict.PASS
    assert v(check_cseq_echo(sent, [resp(200, {"CSeq": "41"}), resp(200, {"CSeq": "1"})])) is Verdict.FAIL
    assert v(check_cseq_echo(sent, [resp(200), resp(200)])) is Verdict.FAIL
    good = resp(200, {"Public": "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN"})
    assert v(check_options(good, resp(501), False)) is Verdict.PASS
    assert v(check_options(resp(200, {"Public": "OPTIONS"}), resp(501), False)) is Verdict.FAIL
    assert v(check_options(good, None, True)) is Verdict.FAIL
    assert v(check_session(resp(200, {"Session": "abc"}), resp(454))) is Verdict.PASS
    assert v(check_session(resp(200), resp(454))) is Verdict.FAIL
    assert v(check_session(resp(200, {"Session": "abc"}), resp(200))) is Verdict.FAIL
    assert v(check_keepalive(resp(200))) is Verdict.PASS
    assert v(check_keepalive(resp(405))) is Verdict.FAIL


def sdp() -> bytes:
    return describe("live/x", "127.0.0.1", video_config(STREAM.video_sequence_header),
                    audio_config(STREAM.audio_sequence_header), 1).encode()


def test_describe_and_parameter_sets() -> None:
    ok = resp(200, {"Content-Type": "application/sdp", "Content-Base": "rtsp://h/live/x/"}, sdp())
    assert v(check_describe(ok)) is Verdict.PASS
    assert v(check_describe(resp(404))) is Verdict.FAIL
    assert v(check_describe(resp(200, {"Content-Type": "text/plain"}, b"v=0\r\n"))) is Verdict.FAIL
    medias = parse_sdp(sdp().decode())
    assert v(check_sdp_parameter_sets(medias, STREAM.video_sequence_header, STREAM.audio_sequence_header)) is Verdict.PASS
    # Broken: stale parameter sets (another stream's) and a wrong AAC config.
    other = make_h264_aac(seconds=0.2, width=160, height=96)
    stale = parse_sdp(describe("x", "h", video_config(other.video_sequence_header), None, 1))
    assert v(check_sdp_parameter_sets(stale, STREAM.video_sequence_header, None)) is Verdict.FAIL
    bad_aac = parse_sdp(sdp().decode().replace("config=", "config=ff"))
    assert v(check_sdp_parameter_sets(bad_aac, None, STREAM.audio_sequence_header)) is Verdict.FAIL


def test_transport() -> None:
    offer = "RTP/AVP/TCP;unicast;interleaved=0-1"
    assert v(check_transport("tcp", offer, resp(200, {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"}), resp(461))) \
        is Verdict.PASS
    assert v(check_transport("tcp", offer, resp(200, {"Transport": "RTP/AVP/TCP;unicast;interleaved=4-5"}), resp(461))) \
        is Verdict.FAIL
    udp = "RTP/AVP;unicast;client_port=5000-5001"
    assert v(check_transport("udp", udp, resp(200, {"Transport": "RTP/AVP;unicast;client_port=5000-5001"}), None)) \
        is Verdict.FAIL  # no server_port
    assert v(check_transport("tcp", offer, resp(200, {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"}), resp(200))) \
        is Verdict.FAIL


def test_rtp_checks() -> None:
    video, audio = packets(mtu=300)
    assert v(check_rtp_continuity({"video": video, "audio": audio}, {"video": {3600}, "audio": {1024}})) is Verdict.PASS
    gappy, _ = packets(mtu=300, skip_seq=True)
    assert v(check_rtp_continuity({"video": gappy}, {"video": {3600}})) is Verdict.FAIL
    assert v(check_rtp_continuity({"video": video}, {"video": {3000}})) is Verdict.FAIL
    assert v(check_markers(video)) is Verdict.PASS
    unmarked, _ = packets(mtu=300, marker=False)
    assert v(check_markers(unmarked)) is Verdict.FAIL
    units, problems = depacketize_h26x(video, hevc=False)
    assert not problems
    assert v(check_idr_start(units, hevc=False)) is Verdict.PASS
    assert v(check_idr_start(units[1:], hevc=False)) is Verdict.FAIL
    sent_v = [t.payload for t in STREAM.tags if t.type_id == 9]
    sent_a = [bytes(media.parse_audio_tag(t.payload).body) for t in STREAM.tags if t.type_id == 8]
    assert v(check_media_intact(units, audio, sent_v, sent_a, length_size=4, hevc=False)) is Verdict.PASS
    # Broken: a FU-A fragment lost (seq gap inside a frame) alters a NAL unit.
    lossy = [p for i, p in enumerate(video) if i != 3]
    lunits, _ = depacketize_h26x(lossy, hevc=False)
    assert v(check_media_intact(lunits, audio, sent_v, sent_a, length_size=4, hevc=False)) is Verdict.FAIL
    assert v(check_media_intact(units, audio[:3] + audio[4:], sent_v, sent_a, length_size=4, hevc=False)) is Verdict.FAIL


def test_sender_reports() -> None:
    sr = RtpPacket(1, struct.pack(">BBHI", 0x80, 200, 6, 1) + bytes(20), 0.0)
    rr = RtpPacket(1, struct.pack(">BBHI", 0x80, 201, 1, 1), 0.0)
    assert v(check_sender_reports([sr], {"video": 1})) is Verdict.PASS
    assert v(check_sender_reports([rr], {"video": 1})) is Verdict.FAIL
    assert v(check_sender_reports([sr], {"video": 1, "audio": 3})) is Verdict.FAIL
