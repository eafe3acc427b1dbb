"""Every HTTP-output checker passes a correct double and FAILs on a deliberately broken one."""

from __future__ import annotations

from rtmpconf.harness.checks.hls import (
    FetchedSegment,
    check_discontinuity_marked,
    check_extinf_within_target,
    check_playlist_syntax,
    check_reloads,
    check_segment_timeline,
    check_segments_psi,
    check_segments_start_idr,
    check_target_constant,
)
from rtmpconf.harness.checks.http_flv import (
    check_cors,
    check_flv_flags,
    check_flv_header,
    check_flv_start,
    check_flv_tags,
)
from rtmpconf.harness.checks.media_timing import check_av_offset, check_same_frames, check_same_timing
from rtmpconf.harness.checks.mpegts import (
    check_ts_continuity,
    check_ts_crc,
    check_ts_packets,
    check_ts_pcr,
    check_ts_psi_first,
    check_ts_starts_with_keyframe,
)
from rtmpconf.harness.http.client import HttpResponse
from rtmpconf.harness.http.flv import parse_flv
from rtmpconf.harness.http.frames import flv_frames, rtp_frames, ts_frames
from rtmpconf.harness.http.m3u8 import parse_m3u8
from rtmpconf.harness.http.mpegts import parse_ts
from rtmpconf.harness.rtsp import depacketize_aac, depacketize_h26x
from rtmpconf.harness.verdict import Finding, Verdict
from tests.unit.http.doubles import BrokenMuxer, flv_body, headers, published, rtp_packets, ts_body


def verdict(findings: list[Finding]) -> Verdict:
    return max((f.verdict for f in findings), key=lambda v: v.rank)


def sent() -> list:
    return flv_frames([*headers(), *published()])


# -- HTTP-FLV -----------------------------------------------------------------------------------


def test_flv_good_double_passes_everything() -> None:
    body = flv_body(published())
    p = parse_flv(body)
    for check in (check_flv_header, check_flv_tags, check_flv_flags, check_flv_start):
        assert verdict(check(p)) is Verdict.PASS, check.__name__
    assert verdict(check_same_timing("HFLV-5", "x", sent(), flv_frames(p.tags))) is Verdict.PASS


def test_flv_header_broken() -> None:
    body = bytearray(flv_body(published(0.5)))
    body[3] = 2  # version 2
    assert verdict(check_flv_header(parse_flv(bytes(body)))) is Verdict.FAIL
    body = bytearray(flv_body(published(0.5)))
    body[12] = 1  # PreviousTagSize0 = 1
    assert verdict(check_flv_header(parse_flv(bytes(body)))) is Verdict.FAIL


def test_flv_previous_tag_size_wrong() -> None:
    body = bytearray(flv_body(published(0.5)))
    # The first tag (onMetaData) at offset 13: its PreviousTagSize follows its data.
    size = int.from_bytes(body[14:17], "big")
    body[13 + 11 + size + 3] ^= 1
    assert verdict(check_flv_tags(parse_flv(bytes(body)))) is Verdict.FAIL


def test_flv_flags_announce_a_missing_track() -> None:
    video_only = [t for t in published() if t.type_id == 9]
    p = parse_flv(flv_body(video_only, flags=(True, True), hdrs=headers()[:1]))
    f = check_flv_flags(p)
    assert verdict(f) is Verdict.FAIL and "announces audio" in f[0].message
    ok = flv_body(video_only, flags=(False, True), hdrs=headers()[:1])
    assert verdict(check_flv_flags(parse_flv(ok))) is Verdict.PASS


def test_flv_starting_on_inter_frame() -> None:
    tags = [t for t in published() if t.timestamp >= 200]  # mid-GOP
    assert verdict(check_flv_start(parse_flv(flv_body(tags)))) is Verdict.FAIL


def test_flv_timestamp_delta_changed() -> None:
    p = parse_flv(flv_body(published(), retime=lambda t: t.timestamp + (30 if t.timestamp == 1200 and t.type_id == 9 else 0)))
    f = check_same_timing("HFLV-5", "HTTP-FLV", sent(), flv_frames(p.tags))
    assert verdict(f) is Verdict.FAIL and "1200" in f[0].message


def test_flv_composition_time_lost() -> None:
    from rtmpconf.harness.testmedia import MediaTag
    from rtmpconf.rtmp import media

    def zero_cts(t: MediaTag) -> MediaTag:
        if t.type_id != 9:
            return t
        tag = media.parse_video_tag(t.payload)
        return MediaTag(9, t.timestamp, media.build_avc_video(t.payload[0] >> 4, 1, 0, bytes(tag.body)), t.keyframe, False)

    p = parse_flv(flv_body([zero_cts(t) for t in published()]))
    f = check_same_timing("HFLV-5", "HTTP-FLV", sent(), flv_frames(p.tags))
    assert verdict(f) is Verdict.FAIL and any("CompositionTime" in x.expected for x in f if x.expected)


def test_cors_missing() -> None:
    ok = HttpResponse("u", 200, {"access-control-allow-origin": "*"}, b"")
    assert verdict(check_cors("HFLV-6", ok)) is Verdict.PASS
    assert verdict(check_cors("HFLV-6", HttpResponse("u", 200, {}, b""))) is Verdict.FAIL


# -- MPEG-TS ------------------------------------------------------------------------------------


def test_ts_good_double_passes_everything() -> None:
    body = ts_body(published())
    r = parse_ts(body)
    assert verdict(check_ts_packets(r, body_len=len(body), cut=False)) is Verdict.PASS
    for check in (check_ts_psi_first, check_ts_continuity, check_ts_pcr, check_ts_crc, check_ts_starts_with_keyframe):
        assert verdict(check(r)) is Verdict.PASS, check.__name__
    frames = ts_frames(r)
    assert verdict(check_same_timing("HTS-6", "x", sent(), frames)) is Verdict.PASS
    assert verdict(check_av_offset("HTS-7", "x", sent(), frames)) is Verdict.PASS
    assert verdict(check_same_frames("XPROTO-1", "x", sent(), frames)) is Verdict.PASS


def test_ts_lost_sync_byte() -> None:
    body = bytearray(ts_body(published(1.0)))
    body[188 * 5] = 0x46
    assert verdict(check_ts_packets(parse_ts(bytes(body)), body_len=len(body), cut=False)) is Verdict.FAIL


def test_ts_muxer_that_skips_a_continuity_counter() -> None:
    r = parse_ts(ts_body(published(), mux=BrokenMuxer(skip_cc_at=40)))
    f = check_ts_continuity(r)
    assert verdict(f) is Verdict.FAIL and "continuity counter jumps" in f[0].message


def test_ts_media_before_pat_pmt() -> None:
    tags = published()
    body = ts_body(tags[:1], psi=False) + ts_body(tags[1:])
    assert verdict(check_ts_psi_first(parse_ts(body))) is Verdict.FAIL


def test_ts_pcr_too_sparse() -> None:
    sparse = [t for t in published() if t.type_id == 9 and t.timestamp % 200 == 0]  # 5 fps: PCR 200 ms apart
    f = check_ts_pcr(parse_ts(ts_body(sparse)))
    assert verdict(f) is Verdict.FAIL and "200.0 ms" in f[0].message


def test_ts_bad_crc() -> None:
    body = bytearray(ts_body(published(1.0)))
    body[4 + 1 + 8] ^= 0xFF  # a byte inside the first PAT section
    assert verdict(check_ts_crc(parse_ts(bytes(body)))) is Verdict.FAIL


def test_ts_pts_dts_jitter_and_lost_cts() -> None:
    r = parse_ts(ts_body(published(), video_shift=lambda t: 7 if t.timestamp == 800 else 0))
    assert verdict(check_same_timing("HTS-6", "HTTP-TS", sent(), ts_frames(r))) is Verdict.FAIL
    r = parse_ts(ts_body(published(), drop_cts=True))
    assert verdict(check_same_timing("HTS-6", "HTTP-TS", sent(), ts_frames(r))) is Verdict.FAIL


def test_ts_audio_drifts_from_video() -> None:
    frames = ts_frames(parse_ts(ts_body(published(), audio_shift_ms=100)))
    assert verdict(check_av_offset("HTS-7", "HTTP-TS", sent(), frames)) is Verdict.FAIL


def test_ts_starting_on_inter_frame() -> None:
    tags = [t for t in published() if t.timestamp >= 200]
    assert verdict(check_ts_starts_with_keyframe(parse_ts(ts_body(tags)))) is Verdict.FAIL


def test_frames_altered_or_missing() -> None:
    tags = published()
    dropped = [t for t in tags if not (t.type_id == 9 and t.timestamp == 440)]
    f = check_same_frames("XPROTO-1", "HTTP-TS", sent(), ts_frames(parse_ts(ts_body(dropped))))
    assert verdict(f) is Verdict.FAIL and "440" in (f[0].expected or "")
    from rtmpconf.harness.testmedia import MediaTag

    altered = [MediaTag(t.type_id, t.timestamp, t.payload[:-1] + b"\x00", t.keyframe, False)
               if t.type_id == 9 and t.timestamp == 480 else t for t in tags]
    f = check_same_frames("XPROTO-1", "HTTP-FLV", sent(), flv_frames(parse_flv(flv_body(altered)).tags))
    assert verdict(f) is Verdict.FAIL and "altered" in f[0].message


def rtsp(tags: list, **kw: object) -> list:
    video, audio = rtp_packets(tags, **kw)  # type: ignore[arg-type]
    units, problems = depacketize_h26x(video, hevc=False)
    assert not problems
    return rtp_frames(units, depacketize_aac(audio))


def test_rtsp_frames_and_presentation_timing() -> None:
    tags = [t for t in published() if t.timestamp >= 1000]  # joined at a keyframe
    good = rtsp(tags)
    assert verdict(check_same_frames("XPROTO-1", "RTSP", sent(), good)) is Verdict.PASS
    f = check_same_timing("XPROTO-1", "RTSP", sent(), good, presentation=True)
    assert verdict(f) is Verdict.PASS and len(f) == 2
    # Random bases differ per track: judged as one stream clock it cannot pass.
    assert verdict(check_same_timing("XPROTO-1", "RTSP", sent(), good)) is Verdict.FAIL
    # One video frame missing.
    dropped = rtsp([t for t in tags if not (t.type_id == 9 and t.timestamp == 1440)])
    f = check_same_frames("XPROTO-1", "RTSP", sent(), dropped)
    assert verdict(f) is Verdict.FAIL and "1440" in (f[0].expected or "")
    # One frame's presentation time moved by one frame duration (3600 ticks).
    shifted = rtsp(tags, video_shift=lambda t: 3600 if t.timestamp == 1480 else 0)
    assert verdict(check_same_frames("XPROTO-1", "RTSP", sent(), shifted)) is Verdict.PASS
    f = check_same_timing("XPROTO-1", "RTSP", sent(), shifted, presentation=True)
    assert verdict(f) is Verdict.FAIL and "1480" in f[0].message
    # Decode times stamped where RTP needs presentation times: the reordered frames move.
    assert verdict(check_same_timing("XPROTO-1", "RTSP", sent(), rtsp(tags, drop_cts=True),
                                     presentation=True)) is Verdict.FAIL


# -- HLS ----------------------------------------------------------------------------------------

GOOD = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:6
#EXT-X-MEDIA-SEQUENCE:{seq}
{body}"""


def playlist(seq: int, durations: list[float], *, target: int = 6, uris: list[str] | None = None) -> str:
    lines = []
    for i, d in enumerate(durations):
        lines.append(f"#EXTINF:{d:.3f},")
        lines.append(uris[i] if uris else f"s{seq + i}.ts")
    return GOOD.replace("TARGETDURATION:6", f"TARGETDURATION:{target}").format(seq=seq, body="\n".join(lines) + "\n")


def test_playlist_syntax() -> None:
    assert verdict(check_playlist_syntax(parse_m3u8(playlist(0, [2.0, 2.0])))) is Verdict.PASS
    assert verdict(check_playlist_syntax(parse_m3u8("#EXT-X-TARGETDURATION:6\n#EXTINF:2,\na.ts\n"))) is Verdict.FAIL
    assert verdict(check_playlist_syntax(parse_m3u8("#EXTM3U\n#EXTINF:2,\na.ts\n"))) is Verdict.FAIL
    assert verdict(check_playlist_syntax(parse_m3u8("#EXTM3U\n#EXT-X-TARGETDURATION:6\na.ts\n"))) is Verdict.FAIL
    assert verdict(check_playlist_syntax(parse_m3u8(b"\xef\xbb\xbf" + playlist(0, [2.0]).encode()))) is Verdict.FAIL


def test_extinf_over_target() -> None:
    assert verdict(check_extinf_within_target([parse_m3u8(playlist(0, [6.4, 2.0]))])) is Verdict.PASS
    f = check_extinf_within_target([parse_m3u8(playlist(0, [2.0, 6.6]))])
    assert verdict(f) is Verdict.FAIL and "6.6" in f[0].actual


def test_reloads() -> None:
    a = parse_m3u8(playlist(3, [2, 2, 2]))
    b = parse_m3u8(playlist(4, [2, 2, 2]))
    assert verdict(check_reloads([a, b])) is Verdict.PASS
    assert verdict(check_reloads([b, a])) is Verdict.FAIL  # media sequence went down
    renamed = parse_m3u8(playlist(4, [2, 2, 2], uris=["s4.ts", "other.ts", "s6.ts"]))
    assert verdict(check_reloads([a, renamed])) is Verdict.FAIL
    assert verdict(check_reloads([a, a])) is Verdict.FAIL  # a live playlist that never grows


def test_target_duration_changes() -> None:
    assert verdict(check_target_constant([parse_m3u8(playlist(0, [2])), parse_m3u8(playlist(1, [2]))])) is Verdict.PASS
    f = check_target_constant([parse_m3u8(playlist(0, [2])), parse_m3u8(playlist(1, [2], target=8))])
    assert verdict(f) is Verdict.FAIL


def segments(bodies: list[bytes], *, disc: set[int] = frozenset()) -> list[FetchedSegment]:
    text = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n" + "".join(
        ("#EXT-X-DISCONTINUITY\n" if i in disc else "") + f"#EXTINF:1.0,\ns{i}.ts\n" for i in range(len(bodies)))
    pl = parse_m3u8(text)
    return [FetchedSegment(e, parse_ts(b)) for e, b in zip(pl.segments, bodies)]


def split(tags: list, at_ms: list[int]) -> list[list]:
    edges = [0, *at_ms, 10**9]
    return [[t for t in tags if a <= t.timestamp < b] for a, b in zip(edges, edges[1:])]


def test_segments_psi_and_idr() -> None:
    parts = split(published(), [1000, 2000])
    good = segments([ts_body(p) for p in parts])
    assert verdict(check_segments_psi(good)) is Verdict.PASS
    assert verdict(check_segments_start_idr(good)) is Verdict.PASS
    no_psi = segments([ts_body(parts[0]), ts_body(parts[1], psi=False)])
    assert verdict(check_segments_psi(no_psi)) is Verdict.FAIL
    mid = split(published(), [1000, 1400])  # the third segment starts at 1400 ms: an inter frame
    f = check_segments_start_idr(segments([ts_body(p) for p in mid]))
    assert verdict(f) is Verdict.FAIL and "s2.ts" in f[0].message


def test_segment_timeline_negative_delta_and_discontinuity() -> None:
    tags = published()
    one, two = split(tags, [1000])[:2]
    assert verdict(check_segment_timeline(segments([ts_body(one), ts_body(two)]))) is Verdict.PASS
    # The second segment restarts its clock (a republish): without EXT-X-DISCONTINUITY that is a
    # negative delta (SRS #2808) ...
    restarted = published(1.0)
    f = check_segment_timeline(segments([ts_body(one), ts_body(restarted)]))
    assert verdict(f) is Verdict.FAIL and "negative" in f[0].message
    # ... and with it, nothing to judge on that boundary.
    marked = segments([ts_body(one), ts_body(restarted)], disc={1})
    assert verdict(check_segment_timeline(marked)) is Verdict.NOT_RUN
    pl = parse_m3u8("#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:1,\ns0.ts\n#EXTINF:1,\ns1.ts\n")
    assert verdict(check_discontinuity_marked(segments([ts_body(one)]), segments([ts_body(restarted)])[:1], pl)) \
        is Verdict.FAIL
    pl_marked = parse_m3u8("#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:1,\ns0.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:1,\ns1.ts\n")
    after = [FetchedSegment(pl_marked.segments[1], parse_ts(ts_body(restarted)))]
    before = [FetchedSegment(pl_marked.segments[0], parse_ts(ts_body(one)))]
    assert verdict(check_discontinuity_marked(before, after, pl_marked)) is Verdict.PASS


# -- parsers: any split of the input gives the same result ---------------------------------------


def test_flv_parser_is_split_invariant() -> None:
    from rtmpconf.harness.http.flv import FlvParser

    body = flv_body(published(0.5))
    whole = parse_flv(body)
    for step in (1, 7, 188, 4096):
        p = FlvParser()
        for i in range(0, len(body), step):
            p.feed(body[i:i + step])
        assert [(t.type_id, t.timestamp, t.data) for t in p.tags] == [(t.type_id, t.timestamp, t.data) for t in whole.tags]
        assert p.header == whole.header and not p.errors


def test_ts_reader_is_split_invariant() -> None:
    from rtmpconf.harness.http.mpegts import TsReader

    body = ts_body(published(0.5))
    whole = parse_ts(body)
    for step in (1, 100, 188, 1000):
        r = TsReader()
        for i in range(0, len(body), step):
            r.feed(body[i:i + step])
        r.finish()
        assert [(p.pid, p.pts, p.dts, p.data) for p in r.pes] == [(p.pid, p.pts, p.dts, p.data) for p in whole.pes]
        assert len(r.packets) == len(whole.packets) and not r.sync_errors
