"""Semantic diff of a server's replies: the recorded session against a replay of its client side.

Both sides are WireLogs; the comparison is of *what the server said*, not of bytes:

* control messages (Set Chunk Size, Window Ack Size, Set Peer Bandwidth, Stream Begin/EOF ...),
  commands and ``_result``/``_error`` replies, named after the client command they answer
  (so a consistent renumbering of transaction ids changes nothing), onStatus code and level,
  data message handlers (``|RtmpSampleAccess``, ``onMetaData``), and whether media arrived and
  started with a keyframe;
* never compared: handshake random bytes and digests, version strings (``fmsVer``, descriptions),
  acknowledgement sequence numbers, ping timing, media counts and timestamps (timing-dependent).

Tolerances come from the catalogue: the reply sequence to connect varies between servers
(CMD-4, CONV), replies to the FMLE calls and ``onFCPublish`` are optional (CMD-11, CONV),
Stream Begin is a convention players must not require (CTRL-7), Play.Reset / Data.Start /
teardown notifications depend on the server and on timing. Those differences are
INFORMATIONAL; a missing or changed outcome (no ``_result`` for connect/createStream,
a missing Publish.Start/Play.Start, another level, no media for a player that got media)
is a FAIL.
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rtmpconf.harness.verdict import Finding, Verdict, failed, info, passed, worst
from rtmpconf.harness.wirelog import C2S, S2C, DecodedMessage, WireLog
from rtmpconf.rtmp import media
from rtmpconf.rtmp.messages import Command, Data, UserControl, status_info

#: Commands whose reply decides whether a session works at all (CMD-9, CMD-10: MUST).
ESSENTIAL_REPLIES = frozenset({"connect", "createStream"})
#: onStatus codes that are the outcome of publish/play: their absence breaks the client.
ESSENTIAL_CODES = frozenset({
    "NetStream.Publish.Start", "NetStream.Play.Start", "NetStream.Publish.BadName",
    "NetStream.Play.StreamNotFound", "NetStream.Play.Failed", "NetConnection.Connect.Rejected",
})
#: onStatus codes that servers send or not, or that depend on when the client hung up.
OPTIONAL_CODES = frozenset({
    "NetStream.Play.Reset", "NetStream.Data.Start", "NetStream.Play.PublishNotify",
    "NetStream.Play.UnpublishNotify", "NetStream.Play.Stop", "NetStream.Unpublish.Success",
    "NetStream.Play.Complete", "NetStream.Buffer.Empty", "NetStream.Buffer.Full",
    "NetStream.Pause.Notify", "NetStream.Unpause.Notify", "NetStream.Publish.Idle",
    "NetStream.Play.Transition",
})
#: User control events that only reflect timing (pings) or buffering (FMS/nginx 31, 32).
TIMING_EVENTS = frozenset({6, 7, 31, 32})
UC_NAMES = {0: "StreamBegin", 1: "StreamEOF", 2: "StreamDry", 3: "SetBufferLength", 4: "StreamIsRecorded"}
CONTROL_NAMES = {1: "SetChunkSize", 2: "Abort", 5: "WindowAckSize", 6: "SetPeerBandwidth"}


@dataclass(frozen=True, slots=True)
class ReplyItem:
    """One thing the server said, in comparable form."""

    kind: str  #: control | user | reply | command | status | data
    key: str  #: what is compared ("_result(createStream)", "status:NetStream.Play.Start")
    level: str | None = None  #: onStatus level
    index: int = -1  #: s2c message index (evidence)

    def text(self) -> str:
        return self.key + (f" [{self.level}]" if self.level else "")


@dataclass
class MediaSummary:
    audio: int = 0
    video: int = 0
    metadata: int = 0
    keyframes: int = 0
    first_coded_video_key: bool | None = None  #: is the first non-sequence-header video a keyframe


@dataclass
class SessionDiff:
    """The comparison of one session."""

    recorded: list[ReplyItem]
    replayed: list[ReplyItem]
    recorded_media: MediaSummary
    replayed_media: MediaSummary
    findings: list[Finding] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  #: readable side-by-side diff

    @property
    def verdict(self) -> Verdict:
        return worst(self.findings)

    @property
    def diverged(self) -> bool:
        return self.verdict in (Verdict.FAIL, Verdict.ERROR)


def _client_commands(log: WireLog) -> dict[float, str]:
    """transaction id -> name of the client's command that used it (0 = no reply expected)."""
    out: dict[float, str] = {}
    for m in log.decode(C2S).messages:
        if isinstance(m.message, Command) and m.message.transaction_id:
            out.setdefault(m.message.transaction_id, m.message.name)
    return out


def _stream_label(stream_id: int | None, created: set[int]) -> str:
    if stream_id == 0:
        return "0"
    return "stream" if stream_id in created else f"id {stream_id}"


def _created_streams(log: WireLog, tids: dict[float, str]) -> set[int]:
    ids: set[int] = set()
    for m in log.decode(S2C).messages:
        c = m.message
        if isinstance(c, Command) and c.name == "_result" and tids.get(c.transaction_id) == "createStream":
            for a in c.arguments:
                if isinstance(a, (int, float)) and not isinstance(a, bool):
                    ids.add(int(a))
    return ids


def reply_items(log: WireLog) -> list[ReplyItem]:
    """The server's non-media messages of ``log``, in order, as comparable items."""
    tids = _client_commands(log)
    created = _created_streams(log, tids)
    out: list[ReplyItem] = []
    for m in log.decode(S2C).messages:
        item = _item(m, tids, created)
        if item is not None:
            out.append(item)
    return out


def _item(m: DecodedMessage, tids: dict[float, str], created: set[int]) -> ReplyItem | None:
    t = m.raw.type_id
    msg = m.message
    if t in CONTROL_NAMES:
        return ReplyItem("control", CONTROL_NAMES[t], index=m.index)
    if isinstance(msg, UserControl):
        if msg.event in TIMING_EVENTS:
            return None
        name = UC_NAMES.get(msg.event, f"UserControl{msg.event}")
        return ReplyItem("user", f"{name}({_stream_label(msg.stream_id, created)})", index=m.index)
    if isinstance(msg, Command):
        st = status_info(msg)
        if st is not None:
            return ReplyItem("status", f"status:{st.get('code')}", str(st.get("level")), index=m.index)
        if msg.name in ("_result", "_error"):
            answered = tids.get(msg.transaction_id, f"tid {msg.transaction_id:g}?")
            return ReplyItem("reply", f"{msg.name}({answered})", index=m.index)
        return ReplyItem("command", msg.name, index=m.index)
    if isinstance(msg, Data):
        return ReplyItem("data", f"data:{msg.name}", index=m.index)
    return None


def media_summary(log: WireLog) -> MediaSummary:
    from rtmpconf.harness.capture.analyze import is_coded_video

    s = MediaSummary()
    for m in log.decode(S2C).messages:
        t = m.raw.type_id
        if t == 8:
            s.audio += 1
        elif t == 9:
            s.video += 1
            p = m.raw.payload
            key = media.is_video_keyframe(p)
            s.keyframes += key
            if s.first_coded_video_key is None and is_coded_video(p):
                s.first_coded_video_key = key
        elif isinstance(m.message, Data) and m.message.name == "onMetaData":
            s.metadata += 1
    return s


# -- comparison ---------------------------------------------------------------------------------


def _replies(items: list[ReplyItem]) -> Counter[str]:
    return Counter(i.key for i in items if i.kind == "reply")


def _statuses(items: list[ReplyItem]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for i in items:
        if i.kind == "status":
            out.setdefault(i.key[len("status:"):], []).append(i.level or "")
    return out


def _compare_replies(rec: list[ReplyItem], rep: list[ReplyItem]) -> list[Finding]:
    out: list[Finding] = []
    rec_by_cmd: dict[str, Counter[str]] = {}
    rep_by_cmd: dict[str, Counter[str]] = {}
    for items, table in ((rec, rec_by_cmd), (rep, rep_by_cmd)):
        for i in items:
            if i.kind == "reply":
                kind, _, cmd = i.key.partition("(")
                table.setdefault(cmd.rstrip(")"), Counter())[kind] += 1
    for cmd, kinds in rec_by_cmd.items():
        got = rep_by_cmd.get(cmd, Counter())
        essential = cmd in ESSENTIAL_REPLIES
        rule = "CMD-10" if essential else "CMD-11"
        for kind, n in kinds.items():
            if got[kind] >= n:
                continue
            other = "_error" if kind == "_result" else "_result"
            if got[other]:
                what = f"{cmd} was answered with {other} where the recorded server sent {kind}"
            else:
                what = f"{cmd} got {got[kind]} {kind} where the recorded server sent {n}"
            if essential:
                out.append(failed(rule, what, expected=f"{n} x {kind}({cmd})",
                                  actual=", ".join(f"{v} x {k}" for k, v in got.items()) or "no reply"))
            else:
                out.append(info(rule, what + " (replies to this command are optional, CONV)"))
    for cmd, kinds in rep_by_cmd.items():
        if cmd not in rec_by_cmd:
            out.append(info("CMD-11", f"the target answered {cmd} ({dict(kinds)}); the recorded server did not"))
    return out


def _compare_statuses(rec: list[ReplyItem], rep: list[ReplyItem]) -> list[Finding]:
    out: list[Finding] = []
    a, b = _statuses(rec), _statuses(rep)
    for code, levels in a.items():
        got = b.get(code)
        if not got:
            if code in ESSENTIAL_CODES:
                out.append(failed("CMD-18", f"onStatus {code} missing from the target's replies",
                                  expected=f"{code} [{levels[0]}]", actual=", ".join(sorted(b)) or "no onStatus"))
            elif code in OPTIONAL_CODES:
                out.append(info("CMD-18", f"onStatus {code} [{levels[0]}] not sent by the target (optional or "
                                "timing-dependent notification)"))
            else:
                out.append(failed("CMD-18", f"onStatus {code} missing from the target's replies",
                                  expected=f"{code} [{levels[0]}]", actual=", ".join(sorted(b)) or "no onStatus",
                                  verdict=Verdict.NON_STRICT))
            continue
        if got[0] != levels[0]:
            out.append(failed("CMD-18", f"onStatus {code} has another level", expected=levels[0], actual=got[0]))
    for code, levels in b.items():
        if code in a:
            continue
        if "error" in levels:
            out.append(failed("CMD-18", f"the target sent onStatus {code} [error]; the recorded server did not",
                              expected=", ".join(sorted(a)) or "no error status", actual=f"{code} [error]"))
        elif code in OPTIONAL_CODES:
            # Teardown notifications arrive or not depending on when the recorded client hung up:
            # shown in the side-by-side diff, not a finding.
            continue
        else:
            out.append(info("CMD-18", f"the target also sent onStatus {code} [{levels[0]}]"))
    return out


def _compare_other(rec: list[ReplyItem], rep: list[ReplyItem]) -> list[Finding]:
    """Control, user control, server-initiated commands and data handlers: recorded, not judged,
    except a missing Stream Begin on the created stream (CTRL-7: should be sent)."""
    out: list[Finding] = []
    kinds = ("control", "user", "command", "data")
    a = Counter(i.key for i in rec if i.kind in kinds)
    b = Counter(i.key for i in rep if i.kind in kinds)
    for key in sorted(set(a) | set(b)):
        if a[key] == b[key]:
            continue
        rule = {"control": "CMD-4", "user": "CTRL-7", "command": "CMD-11", "data": "CMD-16"}[
            next(i.kind for i in rec + rep if i.key == key)]
        text = f"{key}: recorded {a[key]}, target {b[key]}"
        if key == "StreamBegin(stream)" and b[key] == 0:
            out.append(failed("CTRL-7", "the target sent no StreamBegin for the created stream " + f"({text})",
                              expected="StreamBegin(stream id)", actual="none", verdict=Verdict.NON_STRICT))
        else:
            out.append(info(rule, text))
    return out


def _compare_order(rec: list[ReplyItem], rep: list[ReplyItem]) -> tuple[list[Finding], list[str]]:
    """Order of the items both sides have; the readable diff lines."""
    ra = [i.text() for i in rec]
    rb = [i.text() for i in rep]
    lines: list[str] = []
    sm = difflib.SequenceMatcher(a=ra, b=rb, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            lines += [f"    {x}" for x in ra[i1:i2]]
            continue
        lines += [f"  - {x}" for x in ra[i1:i2]]
        lines += [f"  + {x}" for x in rb[j1:j2]]
    common = set(ra) & set(rb)
    seq_a = [x for x in ra if x in common]
    seq_b = [x for x in rb if x in common]
    findings: list[Finding] = []
    if seq_a != seq_b:
        findings.append(info("CMD-4", "the target sends the replies both servers send in another order "
                             "(reply order varies between servers; clients must accept any)",
                             expected=" -> ".join(seq_a[:12]), actual=" -> ".join(seq_b[:12])))
    return findings, lines


def _compare_media(a: MediaSummary, b: MediaSummary) -> list[Finding]:
    out: list[Finding] = []
    if a.video + a.audio == 0:
        return out
    text = (f"recorded {a.video} video / {a.audio} audio / {a.metadata} metadata, target {b.video} / {b.audio} / "
            f"{b.metadata} (counts depend on timing)")
    # GOP-1/GOP-4 are conventions (a GOP cache gives a late joiner media at once; nginx has none
    # and sends nothing until the next keyframe): NON-STRICT, never FAIL.
    if a.video and not b.video:
        out.append(failed("GOP-1", "the recorded server sent video to this client; the target sent none",
                          expected=f">= 1 video message ({a.video} recorded)", actual="none",
                          verdict=Verdict.NON_STRICT))
    elif a.audio and not b.audio:
        out.append(failed("GOP-4", "the recorded server sent audio to this client; the target sent none",
                          expected=f">= 1 audio message ({a.audio} recorded)", actual="none",
                          verdict=Verdict.NON_STRICT))
    else:
        out.append(passed("GOP-1", "media reached the client as recorded: " + text))
    if a.first_coded_video_key and b.first_coded_video_key is False:
        # AV-6 (MUST): a player must not be started on an inter frame.
        out.append(failed("AV-6", "the target's first coded video frame is not a keyframe (the recorded "
                          "server started with one)", expected="keyframe first", actual="inter frame first"))
    if a.metadata and not b.metadata:
        out.append(failed("CMD-23", "the recorded server relayed onMetaData; the target did not",
                          expected="onMetaData", actual="none", verdict=Verdict.NON_STRICT))
    return out


#: A target's idle timer may fire this much before the client-side silence reaches it (timer and
#: clock slack; the target hears the last byte later than the client sent it, so never earlier).
IDLE_SLACK = 0.9


def _client_silence(log: WireLog) -> float | None:
    """Seconds between the client's last byte and the target's close, on the client's clock."""
    last = log.last_time(C2S)
    if last is None or log.close_time is None:
        return None
    return log.close_time - last


def _compare_close(recorded: WireLog, replayed: WireLog, idle_timeout: float | None = None) -> list[Finding]:
    silence = _client_silence(replayed) if replayed.closed_by == S2C else None
    if silence is not None and idle_timeout and silence >= IDLE_SLACK * idle_timeout and not replayed.reset:
        # The replayed client was held open longer than the recording (a slow link stretches the
        # replay) and the target closed it as idle: its own limit (ROB-4), not a refused command.
        return [info("CMD-20", f"the target closed the connection after the replayed client had been silent "
                     f"{silence:.1f} s (its idle timeout is {idle_timeout:g} s, ROB-4)")]
    if replayed.closed_by == S2C and recorded.closed_by != S2C:
        # CMD-20 (SHOULD): commands a server does not handle get an error, not a disconnect.
        return [failed("CMD-20", "the target closed the connection; the recorded server did not",
                       verdict=Verdict.NON_STRICT, expected="the client closes (as recorded)",
                       actual="target " + ("reset" if replayed.reset else "closed") + " the connection")]
    if recorded.closed_by == S2C and replayed.closed_by != S2C:
        return [info("CMD-20", "the recorded server closed the connection; the target kept it open")]
    return []


def diff_sessions(recorded: WireLog, replayed: WireLog, *, rule: str = "CMD-4",
                  idle_timeout: float | None = None) -> SessionDiff:
    """Compare what the target said in ``replayed`` with what the server said in ``recorded``.

    ``rule``: the catalogue rule the PASS finding is filed under (the rule the capture exercises).
    ``idle_timeout``: the target's known idle limit in seconds (a close after that much client
    silence is the limit at work, not CMD-20).
    """
    rec, rep = reply_items(recorded), reply_items(replayed)
    d = SessionDiff(rec, rep, media_summary(recorded), media_summary(replayed))
    hs = len(replayed.decode(S2C).handshake)
    if hs < 3073:
        d.findings.append(failed("HS-1", "the target did not complete the handshake", expected="3073 bytes",
                                 actual=f"{hs} bytes"))
    d.findings += _compare_replies(rec, rep)
    d.findings += _compare_statuses(rec, rep)
    d.findings += _compare_other(rec, rep)
    order, d.lines = _compare_order(rec, rep)
    d.findings += order
    d.findings += _compare_media(d.recorded_media, d.replayed_media)
    d.findings += _compare_close(recorded, replayed, idle_timeout)
    dec = replayed.decode(S2C)
    if dec.error:
        d.findings.append(failed(dec.error_rule or "CH-10", f"the target's replies stop decoding: {dec.error}",
                                 expected="a decodable chunk stream", actual=dec.error))
    if not any(f.verdict.rank >= Verdict.NON_STRICT.rank for f in d.findings):
        d.findings.append(passed(rule, f"the target's replies match the recorded server's: {len(rec)} recorded "
                                 f"and {len(rep)} replayed items, differences within the documented tolerances"))
    return d


def render_diff(d: SessionDiff, *, title: str = "") -> str:
    lines = [title] if title else []
    lines.append(f"  verdict: {d.verdict.value}")
    lines.append("  server replies (' ' both, '-' recorded only, '+' target only):")
    lines += d.lines or ["    (none)"]
    a, b = d.recorded_media, d.replayed_media
    lines.append(f"  media: recorded video {a.video} audio {a.audio} metadata {a.metadata}; "
                 f"target video {b.video} audio {b.audio} metadata {b.metadata}")
    for f in d.findings:
        if f.verdict is not Verdict.PASS or len(d.findings) == 1:
            lines.append(f"  {f.line()}")
    return "\n".join(lines)


def diff_json(d: SessionDiff) -> dict[str, Any]:
    from rtmpconf.harness.capture.analyze import finding_json

    return {
        "verdict": d.verdict.value,
        "recorded": [i.text() for i in d.recorded],
        "replayed": [i.text() for i in d.replayed],
        "diff": d.lines,
        "media": {"recorded": vars(d.recorded_media), "replayed": vars(d.replayed_media)},
        "findings": [finding_json(f) for f in d.findings],
    }
