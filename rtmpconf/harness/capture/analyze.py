"""``rtmpconf analyze``: what each RTMP session of a capture contains, and what the checkers say.

Per connection and direction: handshake byte counts, complete messages by type id, the
ordered command names, announced chunk sizes, timestamp range per type, extended timestamps
(by header fmt, and which fmt-3 dialect), video keyframes, and the first video message after
play/publish. The checkers of ``harness.checks`` that need nothing but a wire log run on each
session; which ones depends on the session's role (publisher, player, other).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rtmpconf.harness.capture.sessions import CaptureSessions, RtmpSession, read_capture
from rtmpconf.harness.verdict import Finding, Verdict, failed, worst
from rtmpconf.harness.wirelog import C2S, HANDSHAKE_BYTES, S2C, Direction, DirectionDecode, WireLog
from rtmpconf.records import field, record
from rtmpconf.rtmp import media
from rtmpconf.rtmp.messages import Command, Data, status_info

EXT_MARKER = 0xFFFFFF
SCHEMA_VERSION = 1


@record
class DirectionReport:
    """One direction of one session."""

    direction: Direction
    bytes: int
    handshake: dict[str, Any]
    messages: int
    chunks: int
    messages_by_type: Counter[int]
    commands: list[str]
    statuses: list[dict[str, str]]
    data_messages: list[str]
    chunk_sizes_announced: list[int]
    timestamps: dict[int, dict[str, int]]
    extended_timestamps: Counter[int]
    ext_ts_dialect: str | None
    keyframes: int
    first_video_after_start: dict[str, Any] | None
    decode_error: str | None
    trailing_bytes: int
    notices: list[str]
    gaps: list[dict[str, Any]]
    #: E-RTMP fields of the media (harness/eflv.summarize: FourCCs, packet types, track ids, ModEx,
    #: onMetaData codec ids and track maps); None when the direction carried no audio/video
    ertmp: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "bytes": self.bytes,
            "handshake": self.handshake,
            "messages": self.messages,
            "chunks": self.chunks,
            "messages_by_type": {str(k): v for k, v in sorted(self.messages_by_type.items())},
            "commands": self.commands,
            "statuses": self.statuses,
            "data_messages": self.data_messages,
            "chunk_sizes_announced": self.chunk_sizes_announced,
            "timestamps": {str(k): v for k, v in sorted(self.timestamps.items())},
            "extended_timestamps": {str(k): v for k, v in sorted(self.extended_timestamps.items())},
            "ext_ts_dialect": self.ext_ts_dialect,
            "keyframes": self.keyframes,
            "first_video_after_start": self.first_video_after_start,
            "ertmp": self.ertmp,
            "decode_error": self.decode_error,
            "trailing_bytes": self.trailing_bytes,
            "notices": self.notices,
            "gaps": self.gaps,
        }


@record
class ConnectionReport:
    """One RTMP session."""

    index: int
    client: str
    server: str
    role: str  #: publisher | player | other
    first_frame: int
    directions: dict[str, DirectionReport]
    findings: list[Finding]
    notes: list[str]
    session: RtmpSession | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "client": self.client,
            "server": self.server,
            "role": self.role,
            "first_frame": self.first_frame,
            "c2s": self.directions[C2S].to_json(),
            "s2c": self.directions[S2C].to_json(),
            "verdict": worst(self.findings).value if self.findings else None,
            "findings": [finding_json(f) for f in self.findings],
            "notes": self.notes,
        }


@record
class CaptureReport:
    """A whole capture file."""

    file: str
    format: str
    packets: int
    tcp_segments: int
    tcp_connections: int
    connections: list[ConnectionReport]
    skipped_frames: dict[str, int]
    skipped_connections: list[dict[str, Any]]
    file_error: str | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def all_findings(self) -> list[Finding]:
        return [f for c in self.connections for f in c.findings] + self.findings

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "file": self.file,
            "format": self.format,
            "packets": self.packets,
            "tcp_segments": self.tcp_segments,
            "tcp_connections": self.tcp_connections,
            "rtmp_sessions": len(self.connections),
            "connections": [c.to_json() for c in self.connections],
            "skipped": {"frames": self.skipped_frames, "connections": self.skipped_connections,
                        "file_error": self.file_error},
            "findings": [finding_json(f) for f in self.findings],
        }


def finding_json(f: Finding) -> dict[str, Any]:
    out: dict[str, Any] = {"rule": f.rule, "verdict": f.verdict.value, "message": f.message}
    if f.expected is not None:
        out["expected"] = f.expected
    if f.actual is not None:
        out["actual"] = f.actual
    return out


# -- per direction -----------------------------------------------------------------------------


def _command_name(m: Any) -> str | None:
    return m.name if isinstance(m, Command) else None


def start_index(dec: DirectionDecode, log: WireLog, direction: Direction) -> tuple[int, str] | None:
    """(first message index after the stream started, what started it) for ``direction``.

    c2s: the client's ``publish`` command. s2c: the first server message completed after the
    client's ``play`` command was sent.
    """
    c2s = log.decode(C2S)
    if direction == C2S:
        for m in c2s.messages:
            if _command_name(m.message) == "publish":
                return m.index + 1, "publish"
        return None
    play = next((m for m in c2s.messages if _command_name(m.message) == "play"), None)
    if play is None:
        return None
    for m in dec.messages:
        if m.time >= play.time:
            return m.index, "play"
    return len(dec.messages), "play"


#: Legacy CodecIDs whose tag carries an AVCPacketType byte (AVC 7, HEVC-12 12; FLV E.4.3.1).
_AVC_LIKE = frozenset({7, 12})
#: E-RTMP video packet types that carry pictures: CodedFrames (1), CodedFramesX (3).
_EX_CODED = frozenset({1, 3})


def is_coded_video(payload: bytes) -> bool:
    """A video message that carries a picture: not a sequence header, not an AVC end-of-sequence
    (AVCPacketType 2, which FFmpeg sends with FrameType 1 when it stops), not a command frame."""
    if not payload:
        return False
    b0 = payload[0]
    if b0 & 0x80:  # E-RTMP ExVideoTagHeader: packet type in the low nibble
        return (b0 & 0x0F) in _EX_CODED and (b0 & 0x70) != 0x50
    if b0 >> 4 == 5:  # FrameType 5: video info/command frame
        return False
    if (b0 & 0x0F) in _AVC_LIKE:
        return len(payload) > 1 and payload[1] == 1
    return True


def _first_video(dec: DirectionDecode, start: int, how: str) -> dict[str, Any] | None:
    for m in dec.messages[start:]:
        if m.raw.type_id != 9:
            continue
        p = m.raw.payload
        coded = next((v for v in dec.messages[m.index:] if v.raw.type_id == 9
                      and is_coded_video(v.raw.payload)), None)
        return {
            "after": how,
            "index": m.index,
            "timestamp": m.raw.timestamp,
            "keyframe": media.is_video_keyframe(p),
            "sequence_header": media.is_video_sequence_header(p),
            "frame_type": (p[0] >> 4) & 0x07 if p else None,
            "first_coded_keyframe": media.is_video_keyframe(coded.raw.payload) if coded else None,
            "first_coded_timestamp": coded.raw.timestamp if coded else None,
        }
    return None


def _dialect(dec: DirectionDecode) -> str | None:
    present, omitted = dec.fmt3_ext_present, dec.fmt3_ext_omitted
    if present and omitted:
        return "mixed"
    if present:
        return "present"
    if omitted:
        return "omitted"
    return None


def direction_report(session: RtmpSession, direction: Direction) -> DirectionReport:
    log = session.log
    dec = log.decode(direction)
    total = len(dec.data)
    by_type: Counter[int] = Counter()
    commands: list[str] = []
    statuses: list[dict[str, str]] = []
    data_names: list[str] = []
    stamps: dict[int, dict[str, int]] = {}
    keyframes = 0
    for m in dec.messages:
        raw = m.raw
        t = raw.type_id
        by_type[t] += 1
        ts = raw.timestamp
        rng = stamps.get(t)
        if rng is None:
            stamps[t] = {"min": ts, "max": ts}
        else:
            rng["min"] = min(rng["min"], ts)
            rng["max"] = max(rng["max"], ts)
        msg = m.message
        if t == 9:
            if media.is_video_keyframe(raw.payload):
                keyframes += 1
        elif isinstance(msg, Command):
            commands.append(msg.name)
            st = status_info(msg)
            if st is not None:
                statuses.append({"code": str(st.get("code")), "level": str(st.get("level"))})
        elif isinstance(msg, Data) and len(data_names) < 64:
            names = [v for v in msg.values[:2] if isinstance(v, str)]
            data_names.append("/".join(names) or "?")
    ext: Counter[int] = Counter(c.fmt for c in dec.chunks if c.extended is not None)
    hs_bytes = min(total, HANDSHAKE_BYTES)
    first = dec.handshake[:1]
    handshake = {
        "bytes": hs_bytes,
        "expected": HANDSHAKE_BYTES,
        "complete": hs_bytes == HANDSHAKE_BYTES,
        "version": first[0] if first else None,
        "c1_or_s1_bytes": max(0, min(hs_bytes - 1, 1536)),
        "c2_or_s2_bytes": max(0, hs_bytes - 1537),
    }
    start = start_index(dec, log, direction)
    fv = _first_video(dec, start[0], start[1]) if start is not None else None
    half = session.half(direction)
    media_msgs = [(m.raw.type_id, m.raw.timestamp, bytes(m.raw.payload)) for m in dec.messages
                  if m.raw.type_id in (8, 9, 15, 18)]
    ertmp = None
    if any(t in (8, 9) for t, _, _ in media_msgs):
        from rtmpconf.harness.eflv import summarize

        # Data messages: drop @setDataFrame so onMetaData is found whichever side sent it.
        ertmp = summarize((t, ts, p) for t, ts, p in media_msgs)
    return DirectionReport(
        direction, total, handshake, len(dec.messages), len(dec.chunks), by_type, commands, statuses,
        data_names, [s for _, s in dec.chunk_size_changes], stamps, ext, _dialect(dec), keyframes, fv,
        dec.error, dec.trailing, [f"[{n.rule}] offset {n.offset}: {n.text}" for n in dec.notices],
        [{"offset": g.offset, "length": g.length, "frame": g.frame, "reason": g.reason,
          "bytes_after_not_decoded": half.bytes_after_gap} for g in half.gaps],
        ertmp,
    )


# -- checkers ----------------------------------------------------------------------------------


def session_role(log: WireLog) -> str:
    names = {_command_name(m.message) for m in log.decode(C2S).messages}
    if "publish" in names:
        return "publisher"
    if "play" in names:
        return "player"
    return "other"


def _digest_handshake(log: WireLog) -> bool:
    from rtmpconf.rtmp.handshake import CLIENT_KEY_PARTIAL, HANDSHAKE_SIZE, find_digest_scheme

    c1 = log.bytes(C2S)[1:1 + HANDSHAKE_SIZE]
    return len(c1) == HANDSHAKE_SIZE and find_digest_scheme(c1, CLIENT_KEY_PARTIAL) is not None


def checkers_for(log: WireLog, role: str) -> list[tuple[str, Callable[[], list[Finding]]]]:
    """The log-only checkers that apply to a session of ``role`` (name, thunk)."""
    from rtmpconf.harness.checks import chunking, commands, control, gop, handshake, timestamps

    c2s = log.decode(C2S)
    names = {_command_name(m.message) for m in c2s.messages}
    out: list[tuple[str, Callable[[], list[Finding]]]] = [
        ("handshake.check_handshake_layout",
         lambda: handshake.check_handshake_layout(log, simple=not _digest_handshake(log))),
        ("handshake.check_handshake_order", lambda: handshake.check_handshake_order(log)),
        ("chunking.check_chunk_headers[s2c]", lambda: chunking.check_chunk_headers(log, direction=S2C)),
        ("chunking.check_chunk_headers[c2s]", lambda: chunking.check_chunk_headers(log, direction=C2S)),
        ("chunking.check_header_efficiency[s2c]", lambda: chunking.check_header_efficiency(log, direction=S2C)),
        ("chunking.check_chunk_size_announcement", lambda: chunking.check_chunk_size_announcement(log)),
        ("timestamps.check_extended_form", lambda: timestamps.check_extended_form(log, quiet_if_unobserved=True)),
        ("timestamps.check_fmt3_ext_dialect",
         lambda: timestamps.check_fmt3_ext_dialect(log, quiet_if_unobserved=True)),
    ]
    if "connect" in names:
        out += [
            ("commands.check_connect_sequence", lambda: commands.check_connect_sequence(log)),
            ("commands.check_reply_tids", lambda: commands.check_reply_tids(log)),
            ("control.check_user_control_channel", lambda: control.check_user_control_channel(log)),
        ]
    if role in ("publisher", "player"):
        out.append(("commands.check_status_messages", lambda: commands.check_status_messages(log)))
    if role == "publisher":
        if names & {"releaseStream", "FCPublish"}:
            out.append(("commands.check_fmle_calls", lambda: commands.check_fmle_calls(log)))
        else:
            out.append(("commands.check_publish_started",
                        lambda: commands.check_publish_started(log, rule="CMD-13")))
        if any(m.raw.type_id == 5 for m in c2s.messages):
            out.append(("control.check_acknowledgements", lambda: control.check_acknowledgements(log)))
    if role == "player":
        out += [
            ("commands.check_play_reply", lambda: commands.check_play_reply(log)),
            ("timestamps.check_first_fmt0_per_csid", lambda: timestamps.check_first_fmt0_per_csid(log)),
            ("gop.check_keyframe_start", lambda: gop.check_keyframe_start(log, rule="GOP-1")),
            ("timestamps.check_monotonic", lambda: timestamps.check_monotonic(log)),
        ]
    return out


def run_checkers(log: WireLog, role: str) -> list[Finding]:
    """Every applicable checker; one that raises is an ERROR finding naming it, never a crash."""
    findings: list[Finding] = []
    for name, thunk in checkers_for(log, role):
        try:
            findings.extend(thunk())
        except Exception as exc:  # noqa: BLE001 - a checker bug must not hide the other results
            findings.append(failed("ANALYZE", f"checker {name} could not judge this session: "
                                   f"{type(exc).__name__}: {exc}", verdict=Verdict.ERROR))
    return findings


# -- whole file --------------------------------------------------------------------------------


def analyze_session(session: RtmpSession, *, checks: bool = True) -> ConnectionReport:
    log = session.log
    role = session_role(log)
    directions = {d: direction_report(session, d) for d in (C2S, S2C)}
    findings = run_checkers(log, role) if checks else []
    for d in (C2S, S2C):
        half = session.half(d)
        if half.gaps:
            g = half.gaps[0]
            findings.append(Finding("ANALYZE", Verdict.INFORMATIONAL,
                                    f"{d}: decoded up to stream offset {g.offset} only: {g.length} bytes are not "
                                    f"in the capture; {half.bytes_after_gap} captured bytes after the gap skipped"))
    conn = session.connection
    return ConnectionReport(session.index, session.client, session.server, role, conn.first_frame,
                            directions, findings, session.notes, session)


def analyze_sessions(found: CaptureSessions, *, checks: bool = True) -> CaptureReport:
    conns = [analyze_session(s, checks=checks) for s in found.sessions]
    skipped = [{"client": s.client, "server": s.server, "first_frame": s.first_frame, "reason": s.reason,
                "bytes_c2s": s.bytes_c2s, "bytes_s2c": s.bytes_s2c} for s in found.skipped]
    report = CaptureReport(found.path, found.format, found.stats.frames, found.stats.tcp, found.connections,
                           conns, dict(found.stats.skipped), skipped, found.stats.file_error)
    if not conns:
        report.findings.append(Finding("ANALYZE", Verdict.INFORMATIONAL,
                                       "no RTMP session (C0 = 3 followed by C1) in this capture"))
    return report


def analyze_file(path: str | Path, *, checks: bool = True) -> CaptureReport:
    return analyze_sessions(read_capture(path), checks=checks)


# -- text rendering ----------------------------------------------------------------------------


def _counts(c: Counter[int] | dict[int, int]) -> str:
    return ", ".join(f"{k}:{v}" for k, v in sorted(c.items())) or "none"


def render_text(report: CaptureReport, *, show_passes: bool = False) -> str:
    lines = [f"{report.file}: {report.format}, {report.packets} frames, {report.tcp_segments} TCP segments, "
             f"{report.tcp_connections} TCP connections, {len(report.connections)} RTMP sessions"]
    if report.file_error:
        lines.append(f"  ! {report.file_error}")
    if report.skipped_frames:
        lines.append("  skipped frames: " + ", ".join(f"{n} x {r}" for r, n in sorted(report.skipped_frames.items())))
    for s in report.skipped_connections:
        lines.append(f"  skipped connection {s['client']} -> {s['server']} (frame {s['first_frame']}): {s['reason']}")
    for c in report.connections:
        lines.append("")
        lines.append(f"session #{c.index} {c.client} -> {c.server} ({c.role}, first frame {c.first_frame})")
        for note in c.notes:
            lines.append(f"  note: {note}")
        for d, rep in c.directions.items():
            hs = rep.handshake
            lines.append(f"  {d}: {rep.bytes} bytes, handshake {hs['bytes']}/{hs['expected']} (version {hs['version']}), "
                         f"{rep.messages} messages in {rep.chunks} chunks")
            lines.append(f"    by type: {_counts(rep.messages_by_type)}")
            if rep.commands:
                lines.append(f"    commands: {' '.join(rep.commands)}")
            if rep.statuses:
                lines.append("    onStatus: " + ", ".join(f"{s['code']}/{s['level']}" for s in rep.statuses))
            if rep.chunk_sizes_announced:
                lines.append(f"    chunk sizes announced: {rep.chunk_sizes_announced}")
            ts = {k: f"{v['min']}..{v['max']}" for k, v in rep.timestamps.items() if k in (8, 9, 18)}
            if ts:
                lines.append("    timestamps: " + ", ".join(f"{k}: {v}" for k, v in sorted(ts.items())))
            if rep.extended_timestamps:
                lines.append(f"    extended timestamps by fmt: {_counts(rep.extended_timestamps)}; "
                             f"fmt-3 dialect: {rep.ext_ts_dialect or 'n/a'}")
            if rep.keyframes or rep.first_video_after_start:
                fv = rep.first_video_after_start
                first = ("none" if fv is None else
                         f"#{fv['index']} ts {fv['timestamp']} keyframe={fv['keyframe']} "
                         f"sequence_header={fv['sequence_header']}")
                lines.append(f"    keyframes: {rep.keyframes}; first video after start: {first}")
            if rep.ertmp and (rep.ertmp["messages"].get("ertmp") or rep.ertmp["multitrack"] or rep.ertmp["modex"]):
                from rtmpconf.harness.eflv import render_summary

                lines.append("    E-RTMP:")
                lines += render_summary(rep.ertmp, indent="      ")
            if rep.decode_error:
                lines.append(f"    ! decoding stopped: {rep.decode_error}")
            for g in rep.gaps:
                lines.append(f"    ! gap: {g['length']} bytes missing at offset {g['offset']} ({g['reason']}); "
                             f"{g['bytes_after_not_decoded']} bytes after it not decoded")
        shown = [f for f in c.findings if show_passes or f.verdict is not Verdict.PASS]
        lines.append(f"  findings: {len(c.findings)} ({Counter(f.verdict.value for f in c.findings)})"
                     .replace("Counter(", "").replace("})", "}"))
        for f in shown:
            lines.append(f"    {f.line()}")
    for f in report.findings:
        lines.append(f.line())
    return "\n".join(lines)


def render_json(report: CaptureReport) -> str:
    return json.dumps(report.to_json(), indent=2, default=str)
