"""RTSP checkers: responses and RTP as the harness's RTSP client recorded them.

Pure functions of :class:`~rtmpconf.harness.rtsp.Response` objects, the requests sent, and the
:class:`~rtmpconf.harness.rtsp.RtpPacket` list, compared where needed with what was published.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from rtmpconf.harness.rtsp import (
    AccessUnit,
    Response,
    RtpPacket,
    SdpMedia,
    depacketize_aac,
    parse_sdp,
    sprop_parameter_sets,
)
from rtmpconf.harness.verdict import Finding, failed, info, not_run, passed
from rtmpconf.rtmp import media


def _status(r: Response | None) -> str:
    return "no response" if r is None else f"{r.status} {r.reason}"


def check_cseq_echo(sent: Sequence[tuple[str, dict[str, str]]], responses: Sequence[Response], *,
                    rule: str = "RTSP-1") -> list[Finding]:
    """Each response's CSeq equals its request's (requests and responses in order)."""
    out: list[Finding] = []
    pairs = [(s, r) for s, r in zip(sent, responses) if "CSeq" in s[1]]
    if not pairs:
        return [not_run(rule, "no request with a CSeq was answered")]
    for (line, hdrs), resp in pairs:
        got = resp.headers.get("cseq")
        if got != hdrs["CSeq"]:
            out.append(failed(rule, f"the response to {line.split(' ')[0]} does not echo its CSeq",
                              expected=hdrs["CSeq"], actual=repr(got)))
    if not out:
        out.append(passed(rule, f"{len(pairs)} responses echo their request's CSeq"))
    return out


def check_options(options: Response | None, unknown: Response | None, closed: bool, *,
                  rule: str = "RTSP-2") -> list[Finding]:
    out: list[Finding] = []
    if options is None or options.status != 200:
        out.append(failed(rule, "OPTIONS was not answered 200", expected="200 with Public", actual=_status(options)))
    else:
        public = {m.strip().upper() for m in options.headers.get("public", "").split(",") if m.strip()}
        missing = {"DESCRIBE", "SETUP", "PLAY", "TEARDOWN"} - public
        if missing:
            out.append(failed(rule, "the Public header of OPTIONS does not list every method a player needs",
                              expected="DESCRIBE, SETUP, PLAY, TEARDOWN", actual=options.headers.get("public", "(none)")))
    if unknown is None or closed:
        out.append(failed(rule, "an unknown method ended the connection", expected="501 or 405",
                          actual="close" if closed else "no response"))
    elif unknown.status not in (501, 405, 400):
        out.append(failed(rule, "an unknown method was not refused", expected="501 Not Implemented or 405",
                          actual=_status(unknown)))
    if not out:
        out.append(passed(rule, f"OPTIONS lists {options.headers.get('public')}; an unknown method got "  # type: ignore[union-attr]
                          f"{_status(unknown)}"))
    return out


def check_describe(resp: Response | None, *, rule: str = "RTSP-3") -> list[Finding]:
    if resp is None or resp.status != 200:
        return [failed(rule, "DESCRIBE of a live stream was not answered 200", actual=_status(resp))]
    out: list[Finding] = []
    ctype = resp.headers.get("content-type", "")
    if "application/sdp" not in ctype:
        out.append(failed(rule, "DESCRIBE's body is not SDP", expected="application/sdp", actual=ctype or "(none)"))
    if not (resp.headers.get("content-base") or resp.headers.get("content-location")):
        out.append(info(rule, "no Content-Base or Content-Location: track controls resolve against the request URL"))
    medias = parse_sdp(resp.body.decode("utf-8", "replace"))
    if not medias:
        out.append(failed(rule, "the SDP has no m= line", actual=resp.body[:200].decode("utf-8", "replace")))
    for m in medias:
        if not m.encoding or not m.control:
            out.append(failed(rule, f"the {m.kind} media lacks an rtpmap or a control attribute",
                              actual=f"rtpmap {m.encoding or '(none)'}, control {m.control or '(none)'}"))
    if not [f for f in out if f.verdict.value == "FAIL"]:
        out.insert(0, passed(rule, "SDP with " + ", ".join(f"{m.kind} {m.encoding}/{m.clock_rate}" for m in medias)))
    return out


def check_sdp_parameter_sets(medias: Sequence[SdpMedia], video_sh: bytes | None, audio_sh: bytes | None, *,
                             rule: str = "RTSP-4") -> list[Finding]:
    out: list[Finding] = []
    video = next((m for m in medias if m.kind == "video"), None)
    if video_sh is not None:
        tag = media.parse_video_tag(video_sh)
        body = bytes(tag.body)
        if tag.codec == "avc":
            cfg = media.AvcDecoderConfig.parse(body)
            want = [*cfg.sps, *cfg.pps]
        else:
            want = []
        got = sprop_parameter_sets(video) if video is not None else []
        if video is None:
            out.append(failed(rule, "the SDP has no video media for a stream with video"))
        elif not got:
            out.append(failed(rule, "the SDP carries no parameter sets", expected="sprop-parameter-sets / sprop-*ps"))
        elif want and got != want:
            out.append(failed(rule, "the SDP parameter sets differ from the RTMP sequence header's",
                              expected=",".join(base64.b64encode(p).decode() for p in want),
                              actual=",".join(base64.b64encode(p).decode() for p in got)))
        elif not want and not all(p in body for p in got):
            out.append(failed(rule, "an SDP parameter set is not in the RTMP sequence header"))
    audio = next((m for m in medias if m.kind == "audio"), None)
    if audio_sh is not None:
        asc = bytes(media.parse_audio_tag(audio_sh).body)
        config = audio.fmtp.get("config", "") if audio is not None else ""
        if audio is None:
            out.append(failed(rule, "the SDP has no audio media for a stream with AAC"))
        elif config.lower() != asc.hex():
            out.append(failed(rule, "the SDP's AAC config differs from the AudioSpecificConfig",
                              expected=asc.hex(), actual=config or "(none)"))
    if not out:
        out.append(passed(rule, "SDP parameter sets and AAC config equal the RTMP sequence headers"))
    return out


def check_session(setup: Response | None, bogus: Response | None, *, rule: str = "RTSP-5") -> list[Finding]:
    out: list[Finding] = []
    if setup is None or setup.status != 200 or not setup.headers.get("session"):
        out.append(failed(rule, "SETUP did not create a session", expected="200 with Session",
                          actual=_status(setup) + ("" if setup is None else f", Session {setup.headers.get('session')!r}")))
    if bogus is None or bogus.status != 454:
        out.append(failed(rule, "a request with an unknown session id was not refused with 454",
                          expected="454 Session Not Found", actual=_status(bogus)))
    if not out:
        out.append(passed(rule, f"Session {setup.headers['session']!r}; an unknown session got 454"))  # type: ignore[union-attr]
    return out


def check_transport(kind: str, offer: str, setup: Response | None, bad: Response | None, *,
                    rule: str = "RTSP-6") -> list[Finding]:
    out: list[Finding] = []
    if setup is None or setup.status != 200:
        return [failed(rule, f"SETUP over {kind} was refused", expected="200", actual=_status(setup))]
    reply = setup.headers.get("transport", "")
    params = {p.split("=", 1)[0].strip().lower(): (p.split("=", 1)[1] if "=" in p else "")
              for p in reply.split(";")[1:]}
    want = {k.split("=", 1)[0]: k.split("=", 1)[1] for k in offer.split(";") if "=" in k}
    if kind == "tcp":
        if not reply.upper().startswith("RTP/AVP/TCP") or params.get("interleaved") != want.get("interleaved"):
            out.append(failed(rule, "the Transport reply does not confirm the interleaved channels offered",
                              expected=f"RTP/AVP/TCP;...;interleaved={want.get('interleaved')}", actual=reply))
    else:
        if params.get("client_port") != want.get("client_port") or "server_port" not in params:
            out.append(failed(rule, "the Transport reply lacks the client ports offered or the server ports",
                              expected=f"client_port={want.get('client_port')};server_port=...", actual=reply))
    if bad is not None and bad.status != 461:
        out.append(failed(rule, "an impossible transport was not refused with 461", expected="461 Unsupported Transport",
                          actual=_status(bad)))
    if not out:
        out.append(passed(rule, f"{kind}: {reply}" + (f"; impossible offer: {_status(bad)}" if bad else "")))
    return out


def split_tracks(packets: Sequence[RtpPacket], channels: dict[str, int]) -> dict[str, list[RtpPacket]]:
    """RTP packets (RTCP left out) per track name, by RTP channel number."""
    return {name: [p for p in packets if p.channel == ch and not p.is_rtcp] for name, ch in channels.items()}


def check_rtp_continuity(tracks: dict[str, list[RtpPacket]], steps: dict[str, set[int]], *,
                         rule: str = "RTSP-7") -> list[Finding]:
    """Per track: sequence +1 per packet, one SSRC, timestamp steps between distinct timestamps in
    ``steps`` (e.g. {3600} for 25 fps video at 90 kHz, {1024} for AAC)."""
    out: list[Finding] = []
    for name, pkts in tracks.items():
        if len(pkts) < 2:
            out.append(failed(rule, f"fewer than two RTP packets on the {name} track", actual=str(len(pkts))))
            continue
        gaps = [(a.seq, b.seq) for a, b in zip(pkts, pkts[1:]) if (b.seq - a.seq) & 0xFFFF != 1]
        if gaps:
            out.append(failed(rule, f"{name} RTP sequence numbers are not continuous", expected="+1 per packet",
                              actual=f"{len(gaps)} jumps, first {gaps[0][0]} -> {gaps[0][1]}"))
        if len({p.ssrc for p in pkts}) > 1:
            out.append(failed(rule, f"the {name} track changed its SSRC", actual=str(sorted({p.ssrc for p in pkts}))))
        stamps: list[int] = []
        for p in pkts:
            if not stamps or p.timestamp != stamps[-1]:
                stamps.append(p.timestamp)
        bad = sorted({(b - a) & 0xFFFFFFFF for a, b in zip(stamps, stamps[1:])} - steps[name])
        if bad:
            out.append(failed(rule, f"{name} RTP timestamps do not advance by the media clock",
                              expected=f"steps of {sorted(steps[name])}", actual=f"also {bad[:5]}"))
    if not out:
        out.append(passed(rule, ", ".join(f"{n}: {len(p)} packets continuous" for n, p in tracks.items())))
    return out


def check_markers(video: Sequence[RtpPacket], *, rule: str = "RTSP-8") -> list[Finding]:
    """Exactly the last packet of each access unit (RTP timestamp group) has M set."""
    if not video:
        return [failed(rule, "no video RTP packets")]
    groups: list[list[RtpPacket]] = []
    for p in video:
        if not groups or groups[-1][-1].timestamp != p.timestamp:
            groups.append([])
        groups[-1].append(p)
    complete = groups[:-1]  # the last unit may be cut by the end of the recording
    missing = [g for g in complete if not g[-1].marker]
    early = [g for g in groups if any(p.marker for p in g[:-1])]
    out: list[Finding] = []
    if missing:
        out.append(failed(rule, f"{len(missing)} access unit(s) end without the marker bit",
                          expected="M on the last packet", actual=f"first at seq {missing[0][-1].seq}"))
    if early:
        out.append(failed(rule, f"{len(early)} access unit(s) have the marker bit before their last packet",
                          actual=f"first at timestamp {early[0][0].timestamp}"))
    if not out:
        out.append(passed(rule, f"{len(complete)} access units each end with the marker bit"))
    return out


def _kinds(au: AccessUnit, hevc: bool) -> list[int]:
    return [((n[0] >> 1) & 0x3F) if hevc else (n[0] & 0x1F) for n in au.nalus if n]


def check_idr_start(units: Sequence[AccessUnit], *, hevc: bool, rule: str = "RTSP-9") -> list[Finding]:
    if not units:
        return [failed(rule, "no video access unit arrived")]
    kinds = _kinds(units[0], hevc)
    idr = any(16 <= k <= 21 for k in kinds) if hevc else 5 in kinds
    if not idr:
        return [failed(rule, "the first video access unit is not an IDR", expected="NAL type 5" if not hevc
                       else "an IRAP NAL (16..21)", actual=f"NAL types {kinds}")]
    return [passed(rule, f"playback starts with an IDR (NAL types {kinds})")]


def check_sender_reports(packets: Sequence[RtpPacket], rtcp_channels: dict[str, int], *,
                         rule: str = "RTSP-10") -> list[Finding]:
    out: list[Finding] = []
    for name, ch in rtcp_channels.items():
        srs = [p for p in packets if p.channel == ch and p.is_rtcp and p.data[1] == 200]
        if not srs:
            out.append(failed(rule, f"no RTCP sender report on the {name} track", expected="RTCP SR (PT 200)",
                              actual="none"))
    if not out:
        out.append(passed(rule, "sender reports on " + ", ".join(rtcp_channels)))
    return out


def check_media_intact(units: Sequence[AccessUnit], aac_packets: Sequence[RtpPacket], sent_video: Sequence[bytes],
                       sent_audio: Sequence[bytes], *, length_size: int, hevc: bool, rule: str = "RTSP-11") -> list[Finding]:
    """The NAL units of each published video frame (parameter sets and AUDs aside, which servers may
    add or drop) and every AAC frame, in order, from where playback started."""
    param = {32, 33, 34, 35} if hevc else {7, 8, 9}

    def coded(nals: Sequence[bytes]) -> list[bytes]:
        return [n for n in nals if n and ((((n[0] >> 1) & 0x3F) if hevc else (n[0] & 0x1F)) not in param)]

    want = [coded([bytes(n) for n in media.split_nalus(media.parse_video_tag(p).body, length_size)]) for p in sent_video]
    got = [coded(u.nalus) for u in units]
    got = [g for g in got if g]
    out: list[Finding] = []
    if not got:
        out.append(failed(rule, "no video NAL units arrived"))
    else:
        try:
            start = want.index(got[0])
        except ValueError:
            start = -1
        if start < 0:
            out.append(failed(rule, "the first video access unit matches no published frame"))
        else:
            tail = want[start:start + len(got)]
            bad = next((i for i, (a, b) in enumerate(zip(got, tail)) if a != b), None)
            if bad is not None:
                out.append(failed(rule, f"video access unit {bad} differs from the published frame",
                                  expected=f"{len(tail[bad])} NAL units as published", actual=f"{len(got[bad])} NAL units"))
    frames = [f for _, f in depacketize_aac(list(aac_packets))]
    if sent_audio:
        if not frames:
            out.append(failed(rule, "no AAC frames arrived"))
        elif frames[0] not in sent_audio:
            out.append(failed(rule, "the first AAC frame matches no published frame"))
        else:
            i = list(sent_audio).index(frames[0])
            if frames != list(sent_audio[i:i + len(frames)]):
                out.append(failed(rule, "AAC frames differ from the published ones (lost, reordered or altered)"))
    if not out:
        out.append(passed(rule, f"{len(got)} video access units and {len(frames)} AAC frames as published"))
    return out


def check_keepalive(resp: Response | None, *, rule: str = "RTSP-12") -> list[Finding]:
    if resp is None or resp.status != 200:
        return [failed(rule, "GET_PARAMETER in a session was not answered 200", expected="200",
                       actual=_status(resp))]
    return [passed(rule, "GET_PARAMETER answered 200")]
