"""Enhanced RTMP: relay fidelity, negotiation and graceful failure (catalogue ERTMP-1..16).

Most E-RTMP rules are about payload layout, and a relay server's duty is to carry those payloads
to players intact. The central tool here is :func:`compare_relay`: it lines up the media messages a
player received with the ones the publisher sent (per track, in order) and classifies each as

* ``exact``           byte-identical;
* ``equivalent``      re-encoded but the same decoded content (e.g. CodedFramesX rewritten as
                      CodedFrames with a zero composition time): legal, recorded;
* ``modex-stripped``  the same content without its ModEx TimestampOffsetNano (precision lost);
* ``repeat``          a byte-identical copy of something already delivered (headers resent);
* ``altered``         matches nothing that was sent: garbage a player would decode.

Sent messages that never arrive are ``missing``. Checkers turn that into findings at the level of
the rule they judge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rtmpconf.harness.checks.relay import SentLike
from rtmpconf.harness.checks.robustness import check_server_alive, is_connect_success, ping_answered_after
from rtmpconf.harness.checks.session import connect_reply, server_closed
from rtmpconf.harness.verdict import Finding, Verdict, failed, info, passed
from rtmpconf.harness.wirelog import C2S, S2C, DecodedMessage, WireLog
from rtmpconf.rtmp import media
from rtmpconf.rtmp.errors import ProtocolError
from rtmpconf.rtmp.messages import Command, Data, status_info

_VPT_CODED = int(media.VideoPacketType.CODED_FRAMES)
_VPT_CODED_X = int(media.VideoPacketType.CODED_FRAMES_X)
_VPT_METADATA = int(media.VideoPacketType.METADATA)
_VPT_SEQUENCE_START = int(media.VideoPacketType.SEQUENCE_START)
#: First byte of each configuration record (ERTMP-4): hvcC/avcC/vpcC configurationVersion 1; av1C
#: marker bit + version 1 = 0x81.
CONFIG_RECORD_FIRST_BYTE = {b"hvc1": 0x01, b"avc1": 0x01, b"vvc1": None, b"av01": 0x81, b"vp09": 0x01,
                            b"vp08": 0x01}
RECONNECT_CODE = "NetConnection.Connect.ReconnectRequest"


# -- decoding helpers ----------------------------------------------------------------------------


def _hex(payload: bytes | memoryview, n: int = 12) -> str:
    b = bytes(payload[:n])
    return b.hex(" ") + (" …" if len(payload) > n else "") + f" ({len(payload)} bytes)"


def signature(type_id: int, payload: bytes, *, keep_nano: bool = True) -> tuple[Any, ...] | None:
    """The decoded content of an audio/video payload, independent of equivalent encodings.

    CodedFramesX and CodedFrames with CTS 0 compare equal (ERTMP-2); FrameType of a Metadata packet
    is ignored (ERTMP-14). None when the payload does not parse.
    """
    try:
        if type_id == 9:
            t = media.parse_video_tag(payload)
            ptype = t.packet_type
            if t.is_enhanced and ptype == _VPT_CODED_X:
                ptype = _VPT_CODED
            frame = None if (t.is_enhanced and ptype == _VPT_METADATA) else t.frame_type
            tracks = tuple((tr.track_id, tr.fourcc, tr.composition_time, bytes(tr.body)) for tr in t.tracks)
            return ("video", t.empty, t.is_enhanced, frame, t.codec_id, t.fourcc, ptype, t.composition_time,
                    bytes(t.body), t.command, t.multitrack_type, tracks, t.nano_offset if keep_nano else None)
        if type_id == 8:
            a = media.parse_audio_tag(payload)
            tracks_a = tuple((tr.track_id, tr.fourcc, bytes(tr.body)) for tr in a.tracks)
            return ("audio", a.empty, a.sound_format, a.sound_rate, a.sound_size, a.sound_type, a.packet_type,
                    a.fourcc, bytes(a.body), a.multitrack_type, tracks_a, a.nano_offset if keep_nano else None)
    except ProtocolError:
        return None
    return ("other", type_id, bytes(payload))


def media_messages(log: WireLog, type_ids: tuple[int, ...] = (8, 9)) -> list[DecodedMessage]:
    """Audio/video messages the server sent on this connection."""
    return [m for m in log.decode(S2C).messages if m.raw.type_id in type_ids]


@dataclass
class RelayReport:
    """How one track of a publish reached one player (see the module docstring)."""

    type_id: int
    sent: list[SentLike]
    received: list[DecodedMessage] = field(default_factory=list)
    matched: list[tuple[DecodedMessage, int, str]] = field(default_factory=list)  #: (msg, sent index, kind)
    altered: list[tuple[DecodedMessage, int]] = field(default_factory=list)  #: (msg, sent index expected next)
    repeats: list[DecodedMessage] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)  #: sent indexes never delivered

    @property
    def what(self) -> str:
        return "video" if self.type_id == 9 else "audio"

    def kinds(self, kind: str) -> list[tuple[DecodedMessage, int, str]]:
        return [x for x in self.matched if x[2] == kind]


def compare_relay(log: WireLog, sent: Sequence[SentLike], type_id: int, *, from_start: bool = True) -> RelayReport:
    """Line up the player's ``type_id`` messages with the publisher's, in order.

    ``from_start``: the player was there before the first message was published, so anything not
    delivered counts as missing; otherwise only gaps after the first delivered message count.
    """
    sent_t = [s for s in sent if s.type_id == type_id]
    rep = RelayReport(type_id, sent_t, media_messages(log, (type_id,)))
    sigs: dict[tuple[int, bool], tuple[Any, ...] | None] = {}

    def sig(i: int, keep: bool) -> tuple[Any, ...] | None:
        key = (i, keep)
        if key not in sigs:
            sigs[key] = signature(type_id, bytes(sent_t[i].payload), keep_nano=keep)
        return sigs[key]

    j = 0
    for m in rep.received:
        p = bytes(m.raw.payload)
        k = next((i for i in range(j, len(sent_t)) if bytes(sent_t[i].payload) == p), None)
        kind = "exact"
        if k is None:
            got = signature(type_id, p)
            if got is not None:
                k = next((i for i in range(j, len(sent_t)) if sig(i, True) == got), None)
                kind = "equivalent"
                if k is None:
                    got2 = signature(type_id, p, keep_nano=False)
                    k = next((i for i in range(j, len(sent_t)) if sig(i, False) == got2), None)
                    kind = "modex-stripped"
        if k is None:
            if any(bytes(s.payload) == p for s in sent_t[:j]):
                rep.repeats.append(m)
            else:
                rep.altered.append((m, j))
            continue
        if rep.matched or from_start:
            rep.missing.extend(range(j, k))
        rep.matched.append((m, k, kind))
        j = k + 1
    if rep.matched or from_start:
        rep.missing.extend(range(j, len(sent_t)))
    return rep


def relay_findings(rep: RelayReport, *, rule: str, label: str, altered: Verdict = Verdict.FAIL,
                   missing: Verdict = Verdict.NON_STRICT, stripped: Verdict = Verdict.INFORMATIONAL,
                   check_spacing: bool = True) -> list[Finding]:
    """Findings for a RelayReport that has received something (absence is the caller's call)."""
    out: list[Finding] = []
    if rep.altered:
        m, j = rep.altered[0]
        exp = rep.sent[j] if j < len(rep.sent) else None
        out.append(failed(rule, f"{len(rep.altered)} {label} message(s) reached the player altered "
                          "(they match nothing the publisher sent)",
                          expected=_hex(exp.payload) if exp is not None else "no further message",
                          actual=f"{_hex(m.raw.payload)} at ts {m.raw.timestamp}", verdict=altered,
                          message_index=m.index))
    eq = rep.kinds("equivalent")
    if eq:
        m, k, _ = eq[0]
        out.append(info(rule, f"{len(eq)} {label} message(s) re-encoded with the same content "
                        f"(first: sent {_hex(rep.sent[k].payload, 6)}, got {_hex(m.raw.payload, 6)})",
                        message_index=m.index))
    st = rep.kinds("modex-stripped")
    if st:
        m, k, _ = st[0]
        out.append(failed(rule, f"{len(st)} {label} message(s) relayed without their ModEx "
                          "TimestampOffsetNano (sub-millisecond timing lost)",
                          expected=_hex(rep.sent[k].payload, 10), actual=_hex(m.raw.payload, 10),
                          verdict=stripped, message_index=m.index))
    if rep.missing:
        i = rep.missing[0]
        out.append(failed(rule, f"{len(rep.missing)} of {len(rep.sent)} {label} messages never reached the "
                          "player", expected=f"all {len(rep.sent)} in order",
                          actual=f"first missing: #{i} ts {rep.sent[i].timestamp} {_hex(rep.sent[i].payload, 6)}",
                          verdict=missing))
    if rep.repeats:
        out.append(info(rule, f"{len(rep.repeats)} {label} message(s) were delivered twice "
                        "(e.g. sequence headers resent)", message_index=rep.repeats[0].index))
    if check_spacing and len(rep.matched) > 1:
        bad = []
        for (m1, k1, _), (m2, k2, _) in zip(rep.matched, rep.matched[1:]):
            want = (rep.sent[k2].timestamp - rep.sent[k1].timestamp) & 0xFFFFFFFF
            got = (m2.raw.timestamp - m1.raw.timestamp) & 0xFFFFFFFF
            if want != got and k2 == k1 + 1:
                bad.append((m2, want, got))
        if bad:
            m, want, got = bad[0]
            out.append(failed(rule, f"{len(bad)} {label} timestamp step(s) changed in the relay "
                              "(composition times are relative to the DTS)", expected=f"step {want} ms",
                              actual=f"step {got} ms", verdict=Verdict.NON_STRICT, message_index=m.index))
    exact = rep.kinds("exact")
    if not rep.altered:
        out.append(passed(rule, f"{len(rep.matched)} {label} message(s) relayed intact "
                          f"({len(exact)} byte-exact)", delivered=len(rep.matched)))
    return out


def _first_video_order(rep: RelayReport, rule_order: str, *, header_verdict: Verdict) -> list[Finding]:
    """Sequence header before coded frames, and the first coded frame a keyframe (ERTMP-4, GOP-1)."""
    out: list[Finding] = []
    video = [m for m in rep.received]
    first_coded = next((m for m in video if not media.is_video_sequence_header(m.raw.payload)
                        and _is_coded(m.raw.payload)), None)
    if first_coded is None:
        return out
    before = video[:video.index(first_coded)]
    if not any(media.is_video_sequence_header(m.raw.payload) for m in before):
        out.append(failed(rule_order, "coded video reached the player before any SequenceStart "
                          "(undecodable)", expected="SequenceStart first",
                          actual=f"{_hex(first_coded.raw.payload, 6)} at ts {first_coded.raw.timestamp}",
                          verdict=header_verdict, message_index=first_coded.index))
    if not media.is_video_keyframe(first_coded.raw.payload):
        out.append(failed("GOP-1", "the first coded video frame the player got is not a keyframe",
                          expected="FrameType 1 coded frame", actual=_hex(first_coded.raw.payload, 6),
                          verdict=Verdict.NON_STRICT, message_index=first_coded.index))
    return out


def _is_coded(payload: bytes) -> bool:
    try:
        t = media.parse_video_tag(payload)
    except ProtocolError:
        return True
    if t.command is not None or t.empty:
        return False
    if t.is_enhanced:
        return t.packet_type in (_VPT_CODED, _VPT_CODED_X)
    return not t.sequence_header


# -- relay checkers ------------------------------------------------------------------------------


def check_relay(player: WireLog, sent: Sequence[SentLike], *, rule: str, label: str = "",
                type_ids: tuple[int, ...] = (9, 8), from_start: bool = True,
                altered: Verdict = Verdict.FAIL, absent: Verdict = Verdict.UNIMPLEMENTED,
                stripped: Verdict = Verdict.INFORMATIONAL, header_first: bool = True) -> list[Finding]:
    """E-RTMP media published while the player watched reaches it intact (ERTMP-1/2/6/7/8).

    Nothing at all of a track is ``absent`` (feature not supported: UNIMPLEMENTED by default);
    altered payloads are a violation of ``rule``; missing ones are NON-STRICT.
    """
    out: list[Finding] = []
    for type_id in type_ids:
        if not any(s.type_id == type_id for s in sent):
            continue
        rep = compare_relay(player, sent, type_id, from_start=from_start)
        name = label or ""
        what = f"{name} {rep.what}".strip()
        if not rep.received:
            codec = _codec_of(rep)
            out.append(failed(rule, f"no {what} reached the player ({codec} not relayed)",
                              expected=f"{len(rep.sent)} {rep.what} messages", actual="none", verdict=absent))
            continue
        out += relay_findings(rep, rule=rule, label=what, altered=altered, stripped=stripped)
        if type_id == 9 and header_first:
            out += _first_video_order(rep, "ERTMP-4", header_verdict=Verdict.FAIL)
    if not out:
        out.append(failed(rule, "the scenario published no media to compare", verdict=Verdict.ERROR))
    return out


def _codec_of(rep: RelayReport) -> str:
    for s in rep.sent:
        name = media.video_codec(s.payload) if rep.type_id == 9 else media.audio_codec(s.payload)
        if name:
            return name
    return rep.what


def publish_refusal(pub: WireLog) -> str | None:
    """How the server refused a publisher, if it did: an error onStatus, ``_error`` or a close."""
    for m in pub.decode(S2C).messages:
        st = status_info(m.message) if m.message is not None else None
        if st is not None and st.get("level") == "error":
            return f"onStatus {st.get('code')}"
        if isinstance(m.message, Command) and m.message.name == "_error":
            return "_error"
    if server_closed(pub):
        return "connection closed" + (" (reset)" if pub.reset else "")
    return None


def check_relay_or_refusal(pub: WireLog, player: WireLog, fresh: WireLog, sent: Sequence[SentLike], *,
                           rule: str = "ERTMP-5") -> list[Finding]:
    """ERTMP-5: E-RTMP video is relayed unchanged, or refused cleanly; never garbage, never a crash.

    A crash (a new connection fails) is judged under ERTMP-9 (MUST: fail in a controlled manner).
    """
    out = check_server_alive(fresh, rule="ERTMP-9", after="publishing E-RTMP video")
    rep = compare_relay(player, sent, 9)
    refusal = publish_refusal(pub)
    if not rep.received:
        codec = _codec_of(rep)
        if refusal is not None:
            out.append(failed(rule, f"{codec} E-RTMP video refused cleanly ({refusal})",
                              expected="relay or a clean refusal", actual=refusal, verdict=Verdict.UNIMPLEMENTED))
        else:
            out.append(failed(rule, f"{codec} E-RTMP video was accepted but silently not relayed (the publisher "
                              "was not told)", expected="relayed unchanged, or an error onStatus / close",
                              actual="publish kept, player got no video", verdict=Verdict.NON_STRICT))
        return out
    out += relay_findings(rep, rule=rule, label="E-RTMP video", altered=Verdict.NON_STRICT)
    return out


def check_sequence_start_first(player: WireLog, sent: Sequence[SentLike], *, fourcc: bytes) -> list[Finding]:
    """ERTMP-4: the player's first video is the SequenceStart with the codec's configuration record."""
    rep = compare_relay(player, sent, 9)
    name = fourcc.decode("latin-1")
    if not rep.received:
        return [failed("ERTMP-4", f"no {name} video reached the player", expected="SequenceStart then frames",
                       actual="none", verdict=Verdict.UNIMPLEMENTED)]
    out: list[Finding] = []
    first = rep.received[0]
    p = bytes(first.raw.payload)
    try:
        tag = media.parse_video_tag(p)
    except ProtocolError as exc:
        return [failed("ERTMP-4", "the first video message does not parse", expected="SequenceStart",
                       actual=f"{exc}: {_hex(p)}", message_index=first.index)]
    if not (tag.is_enhanced and tag.packet_type == _VPT_SEQUENCE_START):
        out.append(failed("ERTMP-4", f"the first {name} video message is not a SequenceStart",
                          expected=f"ExHeader SequenceStart '{name}'", actual=_hex(p), message_index=first.index))
    elif tag.fourcc != fourcc:
        out.append(failed("ERTMP-1", "the SequenceStart's FourCC changed in the relay",
                          expected=name, actual=repr(tag.fourcc), message_index=first.index))
    else:
        want = CONFIG_RECORD_FIRST_BYTE.get(fourcc)
        body = bytes(tag.body)
        if not body or (want is not None and body[0] != want):
            out.append(failed("ERTMP-4", f"the {name} SequenceStart body is not a configuration record",
                              expected=f"first byte 0x{want:02x}" if want is not None else "a record",
                              actual=_hex(body), message_index=first.index))
        else:
            out.append(passed("ERTMP-4", f"first video message: {name} SequenceStart with its configuration "
                              f"record ({len(body)} bytes)", message_index=first.index))
    out += relay_findings(rep, rule="ERTMP-4", label=f"{name} video")
    out += _first_video_order(rep, "ERTMP-4", header_verdict=Verdict.FAIL)
    return out


def check_ex_late_joiner(player: WireLog, sent: Sequence[SentLike], *, fourcc: bytes) -> list[Finding]:
    """ERTMP-1 + GOP-1: a late joiner of an E-RTMP stream gets the SequenceStart, then an E-RTMP keyframe.

    The server must read the ExHeader layout (bit 7 IsExVideoHeader, FrameType in bits 6-4) to find
    keyframes; a server that reads the legacy nibbles never sees one.
    """
    rep = compare_relay(player, sent, 9, from_start=False)
    name = fourcc.decode("latin-1")
    if not rep.received:
        return [failed("ERTMP-1", f"the late joiner got no {name} video", expected="SequenceStart + keyframe",
                       actual="none", verdict=Verdict.UNIMPLEMENTED)]
    out: list[Finding] = []
    coded = [m for m in rep.received if _is_coded(m.raw.payload)]
    head = rep.received[0]
    if not media.is_video_sequence_header(head.raw.payload):
        out.append(failed("GOP-1", f"the late joiner's first video message is not the {name} SequenceStart",
                          expected="SequenceStart", actual=_hex(head.raw.payload, 6), verdict=Verdict.NON_STRICT,
                          message_index=head.index))
    if not coded:
        out.append(failed("GOP-1", "the late joiner got no coded frame", expected="a keyframe",
                          actual=f"{len(rep.received)} non-coded video message(s)", verdict=Verdict.NON_STRICT))
    else:
        k = coded[0]
        b0 = k.raw.payload[0]
        if not b0 & 0x80:
            out.append(failed("ERTMP-1", "the relayed frame lost its IsExVideoHeader bit",
                              expected="byte0 bit 7 set", actual=f"byte0 0x{b0:02x}", message_index=k.index))
        elif (b0 & 0x70) >> 4 != 1:
            out.append(failed("GOP-1", "the late joiner's first coded frame is not an E-RTMP keyframe",
                              expected="(byte0 & 0x70) >> 4 == 1", actual=f"frame type {(b0 & 0x70) >> 4}",
                              verdict=Verdict.NON_STRICT, message_index=k.index))
        else:
            out.append(passed("ERTMP-1", f"late joiner starts with the {name} SequenceStart and an E-RTMP "
                              f"keyframe (ts {k.raw.timestamp})", message_index=k.index))
    # Frames before the joiner's first coded frame belong to an earlier GOP: not missing.
    first_k = next((k for m, k, _ in rep.matched if _is_coded(m.raw.payload)), None)
    if first_k is not None:
        rep.missing = [i for i in rep.missing if i > first_k]
    out += [f for f in relay_findings(rep, rule="ERTMP-1", label=f"{name} video")
            if f.verdict is not Verdict.PASS]
    return out


def check_unknown_handled(pub: WireLog, player: WireLog, fresh: WireLog, *, sent: Sequence[SentLike],
                          unknown: Sequence[bytes], after: Sequence[bytes], probe_offset: int,
                          what: str) -> list[Finding]:
    """ERTMP-9: unknown FourCCs / packet types / ModEx are handled "in a controlled manner".

    Legal: the publisher is refused (error status or close) or its data is ignored or relayed
    byte-exact. Not legal: a crash, a stuck connection, or altered bytes reaching a player. That
    the valid media sent ``after`` reaches the player is judged only for the tracks of which the
    player got something before (NON-STRICT when they stop).
    """
    out = check_server_alive(fresh, rule="ERTMP-9", after=what)
    refusal = publish_refusal(pub)
    pub_alive = ping_answered_after(pub, probe_offset)
    if refusal is not None:
        out.append(passed("ERTMP-9", f"the server refused {what}: {refusal}"))
    elif pub_alive:
        out.append(passed("ERTMP-9", f"the server kept the publisher after {what} and still answers pings"))
    else:
        out.append(failed("ERTMP-9", f"after {what} the publisher's connection stayed open but the server "
                          "stopped answering", expected="a refusal, or the connection working",
                          actual="open and silent", verdict=Verdict.NON_STRICT))
    known = {bytes(s.payload) for s in sent}
    unknown_set = {bytes(u) for u in unknown}
    got = media_messages(player)
    garbage = [m for m in got if bytes(m.raw.payload) not in known]
    if garbage:
        m = garbage[0]
        out.append(failed("ERTMP-9", f"after {what} a player received media that the publisher never sent",
                          expected="unknown data dropped or relayed byte-exact",
                          actual=_hex(m.raw.payload), message_index=m.index))
    relayed = {bytes(m.raw.payload) for m in got} & unknown_set
    out.append(info("ERTMP-9", f"{len(relayed)} of {len(unknown_set)} unknown message(s) relayed byte-exact, "
                    f"{len(unknown_set) - len(relayed)} dropped"))
    if refusal is None and pub_alive and after:
        seen = {bytes(m.raw.payload) for m in got}
        # Continuation is judged per track, on the tracks the player got before the unknown data:
        # a legacy server that never relays E-RTMP video (ERTMP-5) says nothing here by not
        # relaying the video sent afterwards.
        after_set = {bytes(p) for p in after}
        head = [s for s in sent if bytes(s.payload) not in unknown_set and bytes(s.payload) not in after_set]
        relayed_tracks = {s.type_id for s in head if bytes(s.payload) in seen}
        track_of = {bytes(s.payload): s.type_id for s in sent}
        unjudged = {track_of[p] for p in after_set if p in track_of and head and track_of[p] not in relayed_tracks}
        after = [p for p in after if track_of.get(bytes(p)) not in unjudged]
        for t in sorted(unjudged):
            kind = "video" if t == 9 else "audio" if t == 8 else f"type {t}"
            out.append(info("ERTMP-9", f"none of the {kind} published before {what} reached the player (the "
                            f"server does not relay this {kind}): whether it continues afterwards is not judged"))
        lost = [p for p in after if bytes(p) not in seen]
        if lost:
            out.append(failed("ERTMP-9", f"the stream did not continue after {what}",
                              expected=f"the {len(after)} valid message(s) sent afterwards relayed",
                              actual=f"{len(after) - len(lost)} relayed", verdict=Verdict.NON_STRICT))
        elif after:
            out.append(passed("ERTMP-9", f"the valid media sent after {what} reached the player"))
    return out


# -- negotiation ---------------------------------------------------------------------------------


def check_connect_caps(log: WireLog, *, sent: dict[str, Any]) -> list[Finding]:
    """ERTMP-10: a connect carrying E-RTMP capability properties is accepted.

    Servers SHOULD accept fourCcList and the info maps; what the server advertises back in its
    ``_result`` (its own fourCcList / info maps / capsEx) is recorded.
    """
    props = ", ".join(sorted(sent))
    reply = connect_reply(log)
    if reply is None:
        how = "the connection was closed" if server_closed(log) else "no reply"
        return [failed("ERTMP-10", f"connect with E-RTMP properties ({props}) was not answered",
                       expected="_result NetConnection.Connect.Success", actual=how, verdict=Verdict.NON_STRICT)]
    if not is_connect_success(reply):
        msg = reply.message
        return [failed("ERTMP-10", f"connect with E-RTMP properties ({props}) was refused",
                       expected="_result NetConnection.Connect.Success",
                       actual=f"{getattr(msg, 'name', '?')} {getattr(msg, 'arguments', '')!r}"[:200],
                       verdict=Verdict.NON_STRICT, message_index=reply.index)]
    out = [passed("ERTMP-10", f"connect with {props} accepted", message_index=reply.index)]
    obj = reply.message.command_object if isinstance(reply.message, Command) else None
    echoed = {k: v for k, v in (obj or {}).items()
              if k in ("fourCcList", "videoFourCcInfoMap", "audioFourCcInfoMap", "capsEx")} \
        if isinstance(obj, dict) else {}
    if echoed:
        out.append(info("ERTMP-10", f"server advertises E-RTMP capabilities: {echoed!r}"[:300]))
    else:
        out.append(info("ERTMP-10", "server advertises no E-RTMP capabilities in its _result "
                        "(fourCcList / videoFourCcInfoMap / capsEx absent)"))
    return out


def check_player_without_fourcc_list(player: WireLog, sent: Sequence[SentLike]) -> list[Finding]:
    """ERTMP-10: what a player that listed no FourCCs receives from an E-RTMP stream (recorded).

    The catalogue expects no E-RTMP video or a defined error; either that or a plain relay is recorded.
    Altered video (neither the publisher's bytes nor nothing) is a failure.
    """
    rep = compare_relay(player, sent, 9)
    ex = [m for m in rep.received if m.raw.payload and m.raw.payload[0] & 0x80]
    errors = [status_info(m.message) for m in player.decode(S2C).messages
              if m.message is not None and (status_info(m.message) or {}).get("level") == "error"]
    out: list[Finding] = []
    if rep.altered:
        out += [f for f in relay_findings(rep, rule="ERTMP-10", label="E-RTMP video") if f.verdict is Verdict.FAIL]
    if ex:
        out.append(info("ERTMP-10", f"a player without fourCcList received {len(ex)} E-RTMP video message(s) "
                        f"({_codec_of(rep)}): the server does not filter by the client's codec list"))
    elif errors:
        out.append(info("ERTMP-10", f"a player without fourCcList got no E-RTMP video and an error: "
                        f"{errors[0].get('code') if errors[0] else '?'}"))
    elif server_closed(player):
        out.append(info("ERTMP-10", "a player without fourCcList was disconnected"))
    else:
        out.append(info("ERTMP-10", "a player without fourCcList received no E-RTMP video and no error"))
    return out


def check_reconnect_request(logs: Sequence[WireLog], *, advertised: bool) -> list[Finding]:
    """ERTMP-11: a Reconnect Request only to a client that advertised capsEx Reconnect (0x01); when
    sent it is onStatus on msid 0, level "status", with an optional string tcUrl."""
    reqs = [m for log in logs for m in log.decode(S2C).messages
            if m.message is not None and (status_info(m.message) or {}).get("code") == RECONNECT_CODE]
    who = f"{len(logs)} connection(s)"
    if not advertised:
        if reqs:
            return [failed("ERTMP-11", "the server sent a Reconnect Request to a client that did not advertise "
                           "capsEx Reconnect", expected="no NetConnection.Connect.ReconnectRequest",
                           actual=f"{len(reqs)} request(s)", message_index=reqs[0].index)]
        return [passed("ERTMP-11", f"no Reconnect Request on {who} without capsEx Reconnect")]
    if not reqs:
        return [info("ERTMP-11", f"no Reconnect Request on {who} that advertised capsEx Reconnect "
                     "(the server decides when to send one)")]
    m = reqs[0]
    st = status_info(m.message) or {}  # type: ignore[arg-type]
    out: list[Finding] = []
    if m.raw.msid != 0:
        out.append(failed("ERTMP-11", "Reconnect Request not on message stream 0", expected="msid 0",
                          actual=f"msid {m.raw.msid}", message_index=m.index))
    if st.get("level") != "status":
        out.append(failed("ERTMP-11", "Reconnect Request has the wrong level", expected="status",
                          actual=str(st.get("level")), message_index=m.index))
    if "tcUrl" in st and not isinstance(st["tcUrl"], str):
        out.append(failed("ERTMP-11", "Reconnect Request tcUrl is not a string", expected="string",
                          actual=repr(st["tcUrl"]), message_index=m.index))
    if not out:
        out.append(passed("ERTMP-11", f"well-formed Reconnect Request (tcUrl {st.get('tcUrl')!r})",
                          message_index=m.index))
    return out


def check_fourcc_metadata(player: WireLog, *, expected: dict[str, Any]) -> list[Finding]:
    """ERTMP-12: onMetaData with FourCC codec ids (videocodecid 'hvc1' as a number) reaches players."""
    meta = next((m for m in player.decode(S2C).messages
                 if isinstance(m.message, Data) and "onMetaData" in m.message.values[:2]), None)
    if meta is None:
        return [failed("ERTMP-12", "no onMetaData reached the player", expected="onMetaData with FourCC ids",
                       actual="none", verdict=Verdict.NON_STRICT)]
    values = meta.message.values  # type: ignore[union-attr]
    idx = values.index("onMetaData")
    obj = values[idx + 1] if len(values) > idx + 1 and isinstance(values[idx + 1], dict) else {}
    out: list[Finding] = []
    for key, want in expected.items():
        got = obj.get(key)
        if got != want:
            out.append(failed("ERTMP-12", f"onMetaData {key} changed in the relay", expected=repr(want),
                              actual=repr(got), verdict=Verdict.NON_STRICT, message_index=meta.index))
    if not out:
        out.append(passed("ERTMP-12", "onMetaData FourCC ids relayed: " +
                          ", ".join(f"{k}={v!r}" for k, v in expected.items()), message_index=meta.index))
    return out


def check_ertmp_over_handshake(pub: WireLog, player: WireLog, sent: Sequence[SentLike]) -> list[Finding]:
    """ERTMP-13: E-RTMP changes no version: S0 is 3 and an E-RTMP publish over this handshake works."""
    out: list[Finding] = []
    s2c = pub.bytes(S2C)
    c2s = pub.bytes(C2S)
    if not s2c:
        return [failed("ERTMP-13", "no handshake reply", expected="S0 = 3", actual="nothing")]
    if c2s[:1] != b"\x03" or s2c[0] != 3:
        out.append(failed("ERTMP-13", "handshake version is not 3 with an E-RTMP client",
                          expected="C0 = S0 = 3", actual=f"C0 {c2s[:1].hex()}, S0 {s2c[0]}"))
    else:
        out.append(passed("ERTMP-13", "handshake version 3 both ways"))
    started = any((status_info(m.message) or {}).get("code") == "NetStream.Publish.Start"
                  for m in pub.decode(S2C).messages if m.message is not None)
    if not started:
        out.append(failed("ERTMP-13", "the E-RTMP publish was not started", expected="NetStream.Publish.Start",
                          actual=publish_refusal(pub) or "no onStatus", verdict=Verdict.UNIMPLEMENTED))
        return out
    out += check_relay(player, sent, rule="ERTMP-13", type_ids=(9,))
    return out


def check_metadata_frame_order(player: WireLog, *, metadata: bytes, keyframe: bytes,
                               sent: Sequence[SentLike]) -> list[Finding]:
    """ERTMP-14: a video Metadata packet (colorInfo) arrives intact and before the keyframe it precedes."""
    video = media_messages(player, (9,))
    meta_i = next((i for i, m in enumerate(video) if bytes(m.raw.payload) == metadata), None)
    key_i = next((i for i, m in enumerate(video) if bytes(m.raw.payload) == keyframe), None)
    out: list[Finding] = []
    if key_i is None:
        return [failed("ERTMP-14", "the keyframe after the Metadata packet never reached the player",
                       expected="Metadata then keyframe", actual=f"{len(video)} video message(s), not that one",
                       verdict=Verdict.UNIMPLEMENTED if not video else Verdict.NON_STRICT)]
    if meta_i is None:
        rep = compare_relay(player, sent, 9)
        altered = [f for f in relay_findings(rep, rule="ERTMP-14", label="video") if f.verdict is Verdict.FAIL]
        out += altered
        out.append(failed("ERTMP-14", "the video Metadata packet (colorInfo) was not relayed: players lose the "
                          "HDR colour description", expected=_hex(metadata), actual="dropped",
                          verdict=Verdict.NON_STRICT))
        return out
    if meta_i > key_i:
        out.append(failed("ERTMP-14", "the Metadata packet arrived after the keyframe it applies to",
                          expected="Metadata before the keyframe",
                          actual=f"video #{meta_i} after keyframe #{key_i}", message_index=video[meta_i].index))
    else:
        out.append(passed("ERTMP-14", "Metadata packet relayed byte-exact before the keyframe",
                          message_index=video[meta_i].index))
    return out


def check_silence_accepted(pub: WireLog, player: WireLog, *, special: bytes, after: Sequence[bytes | SentLike],
                           what: str, before: Sequence[SentLike] = ()) -> list[Finding]:
    """ERTMP-15: a zero-length audio message (or audio SequenceEnd) is not malformed: the publisher is
    kept and the stream continues. Whether the server relays it is recorded.

    ``after``: what was published after the special message (payloads, or tags with a type id).
    ``before``: the tags published before it. A track of which nothing from ``before`` reached the
    player is one the server does not relay at all (E-RTMP video on a legacy server, ERTMP-5): its
    messages in ``after`` are not required (recorded), since their absence says nothing about the
    silence. Plain payloads in ``after`` are always required.
    """
    out: list[Finding] = []
    refusal = publish_refusal(pub)
    if refusal is not None:
        out.append(failed("ERTMP-15", f"the server treated {what} as an error", expected="accepted",
                          actual=refusal))
    got = media_messages(player)
    seen = {bytes(m.raw.payload) for m in got}
    relayed_tracks = {b.type_id for b in before if bytes(b.payload) in seen}
    required: list[bytes] = []
    unrelayed: set[int] = set()
    for item in after:
        if isinstance(item, (bytes, bytearray, memoryview)):
            required.append(bytes(item))
        elif before and item.type_id not in relayed_tracks:
            unrelayed.add(item.type_id)
        else:
            required.append(bytes(item.payload))
    for t in sorted(unrelayed):
        kind = "video" if t == 9 else "audio" if t == 8 else f"type {t}"
        out.append(info("ERTMP-15", f"none of the {kind} published before {what} reached the player (the server "
                        f"does not relay this {kind}): its continuation is not judged"))
    lost = [p for p in required if p not in seen]
    if lost:
        out.append(failed("ERTMP-15", f"the stream did not continue after {what}",
                          expected=f"{len(required)} later message(s) relayed",
                          actual=f"{len(required) - len(lost)} relayed"))
    elif refusal is None and required:
        out.append(passed("ERTMP-15", f"{what} accepted; the stream continued"))
    relayed = [m for m in got if m.raw.type_id == 8 and bytes(m.raw.payload) == special]
    out.append(info("ERTMP-15", f"{what} was {'relayed to the player' if relayed else 'not relayed'}"))
    return out


def check_command_frames(player: WireLog, sent: Sequence[SentLike], *, commands: Sequence[bytes]) -> list[Finding]:
    """ERTMP-3: FrameType 5 VideoCommand messages (no body) neither break nor corrupt the stream."""
    rep = compare_relay(player, sent, 9)
    if not rep.received:
        return [failed("ERTMP-3", "no video reached the player", expected="the stream relayed", actual="none",
                       verdict=Verdict.UNIMPLEMENTED)]
    # Command frames may be dropped (a server need not relay seek markers): not counted as missing.
    cmd_idx = {i for i, s in enumerate(rep.sent) if bytes(s.payload) in {bytes(c) for c in commands}}
    rep.missing = [i for i in rep.missing if i not in cmd_idx]
    out = relay_findings(rep, rule="ERTMP-3", label="video")
    relayed = sum(1 for _, k, _ in rep.matched if k in cmd_idx)
    out.append(info("ERTMP-3", f"{relayed} of {len(cmd_idx)} VideoCommand message(s) relayed"))
    return out


def check_legacy_hevc(pub: WireLog, player: WireLog, fresh: WireLog, sent: Sequence[SentLike]) -> list[Finding]:
    """ERTMP-16: HEVC as legacy CodecID 12 (CDN convention) is relayed, or refused without harm (MAY)."""
    out = check_server_alive(fresh, rule="ERTMP-9", after="publishing HEVC as CodecID 12")
    rep = compare_relay(player, sent, 9)
    if not rep.received:
        refusal = publish_refusal(pub)
        out.append(info("ERTMP-16", "CodecID 12 HEVC not relayed (" + (refusal or "dropped silently") +
                        "); accepting it is optional"))
        return out
    out += relay_findings(rep, rule="ERTMP-16", label="CodecID-12 video", altered=Verdict.NON_STRICT)
    return out


# -- E-RTMP v2 for relays: tracks, negotiation, player views (ERTMP-17..23) ------------------------


@dataclass(frozen=True)
class MediaPart:
    """One media message as a receiver sees it: which tracks it carries and what it is for them."""

    message: DecodedMessage
    type_id: int
    tracks: tuple[int, ...]  #: track ids (0 for single-track and legacy messages)
    kind: str  #: config | channels | color | coded | end | command | silence | other
    fourccs: tuple[bytes, ...]  #: FourCCs of its tracks (() for legacy and command frames)
    enhanced: bool  #: has the ExHeader (video bit 7, audio SoundFormat 9)
    multitrack: bool
    modex: bool


def media_part(m: DecodedMessage) -> MediaPart:
    type_id = m.raw.type_id
    p = bytes(m.raw.payload)
    video = type_id == 9
    if not p:
        return MediaPart(m, type_id, (0,), "silence" if not video else "other", (), False, False, False)
    enhanced = bool(p[0] & 0x80) if video else p[0] >> 4 == 9
    layout = media.ex_layout(p, video=video)
    if layout is None:
        if enhanced:
            try:
                tag = media.parse_video_tag(p) if video else None
            except ProtocolError:
                tag = None
            kind = "command" if tag is not None and tag.command is not None else "other"
            return MediaPart(m, type_id, (0,), kind, (), True, False, bool(p[0] & 0x0F == 7))
        seq = media.is_video_sequence_header(p) if video else media.is_audio_sequence_header(p)
        if video and not seq and p[0] >> 4 == 5:
            kind = "command"
        else:
            kind = "config" if seq else "coded"
        return MediaPart(m, type_id, (0,), kind, (), False, False, False)
    ptype = layout.packet_type
    if video:
        kind = {0: "config", 5: "config", 1: "coded", 3: "coded", 2: "end", 4: "color"}.get(ptype, "other")
    else:
        kind = {0: "config", 1: "coded", 2: "end", 4: "channels"}.get(ptype, "other")
    return MediaPart(m, type_id, tuple(t.track_id for t in layout.tracks), kind,
                     tuple(t.fourcc for t in layout.tracks), True, layout.multitrack_type is not None,
                     bool(layout.modex))


def media_parts(log: WireLog) -> list[MediaPart]:
    return [media_part(m) for m in media_messages(log)]


def _track_name(type_id: int, track: int) -> str:
    return f"{'video' if type_id == 9 else 'audio'} track {track}"


def check_track_config_first(player: WireLog, *, rule: str = "ERTMP-19", expect: set[tuple[int, int]] | None = None,
                             what: str = "late joiner") -> list[Finding]:
    """ERTMP-19: for every (media type, track) of which the player got a coded frame, a sequence header
    of that track came before the first one. ``expect``: tracks the player should have got (missing
    ones are recorded, not judged here). The first coded frame of each video track being a keyframe
    is judged under GOP-1 (a convention)."""
    parts = media_parts(player)
    configured: set[tuple[int, int]] = set()
    started: dict[tuple[int, int], MediaPart] = {}
    out: list[Finding] = []
    for part in parts:
        for t in part.tracks:
            key = (part.type_id, t)
            if part.kind == "config":
                configured.add(key)
            elif part.kind == "coded" and key not in started:
                started[key] = part
                if key not in configured:
                    out.append(failed(rule, f"the {what}'s first coded frame of {_track_name(*key)} came before any "
                                      "sequence header of that track (undecodable)",
                                      expected=f"{_track_name(*key)}'s SequenceStart first",
                                      actual=f"{_hex(part.message.raw.payload, 8)} at ts {part.message.raw.timestamp}",
                                      message_index=part.message.index))
                elif part.type_id == 9 and not media.is_video_keyframe(part.message.raw.payload):
                    out.append(failed("GOP-1", f"the {what}'s first coded frame of {_track_name(*key)} is not a "
                                      "keyframe", expected="a keyframe", actual=_hex(part.message.raw.payload, 6),
                                      verdict=Verdict.NON_STRICT, message_index=part.message.index))
    if not started:
        from rtmpconf.harness.verdict import not_run
        return [not_run(rule, f"no coded frame of any track reached the {what}: nothing to judge")]
    names = ", ".join(_track_name(*k) for k in sorted(started))
    if not any(f.rule == rule for f in out):
        out.append(passed(rule, f"every track's sequence header came before its first coded frame ({names})"))
    if expect is not None:
        missing = sorted(expect - set(started))
        if missing:
            out.append(info(rule, "the player got no coded frame of " + ", ".join(_track_name(*k) for k in missing)))
    return out


def check_track_extras_first(player: WireLog, *, kinds: dict[tuple[int, int], set[str]],
                             rule: str = "ERTMP-20") -> list[Finding]:
    """ERTMP-20: for each (type, track) -> kinds ("channels", "color") the publisher sent before the
    player joined, the player got one of that kind before the track's first coded frame."""
    parts = media_parts(player)
    have: dict[tuple[int, int], set[str]] = {}
    judged = 0
    out: list[Finding] = []
    for part in parts:
        for t in part.tracks:
            key = (part.type_id, t)
            if part.kind in ("channels", "color", "config"):
                have.setdefault(key, set()).add(part.kind)
            elif part.kind == "coded" and key in kinds:
                need = kinds.pop(key)
                judged += 1
                lacking = sorted(need - have.get(key, set()))
                if lacking:
                    label = {"channels": "MultichannelConfig", "color": "colorInfo Metadata"}
                    out.append(failed(rule, f"{_track_name(*key)}: the late joiner got no "
                                      f"{' / '.join(label[k] for k in lacking)} before the first coded frame",
                                      expected="the latest one before the frames it applies to",
                                      actual="frames without it", message_index=part.message.index))
    if not judged:
        from rtmpconf.harness.verdict import not_run
        return [not_run(rule, "no coded frame of a track with a MultichannelConfig / colorInfo reached the player")]
    if not out:
        out.append(passed(rule, f"MultichannelConfig / colorInfo came before the frames on {judged} track(s)"))
    return out


def declared_caps(connect_obj: dict[str, Any]) -> Any:
    from rtmpconf.rtmp.ertmp import ClientCaps

    return ClientCaps.from_connect(connect_obj)


def check_declared_only(player: WireLog, connect_obj: dict[str, Any], *, rule: str = "ERTMP-21") -> list[Finding]:
    """ERTMP-21 (and ERTMP-17 for the FourCC part): every media message the player got is one it
    declared it can parse: no ExHeader FourCC outside its declaration, no Multitrack without capsEx
    Multitrack, no ModEx without capsEx ModEx; no ExHeader at all for a player that declared nothing."""
    caps = declared_caps(connect_obj)
    parts = media_parts(player)
    bad: list[tuple[MediaPart, str]] = []
    for part in parts:
        if not part.enhanced:
            continue
        if not caps.declared:
            bad.append((part, "an ExHeader message to a player that declared no E-RTMP codec"))
        elif any(not caps.takes(part.type_id == 9, f) for f in part.fourccs):
            names = ",".join(f.decode("latin-1") for f in part.fourccs)
            bad.append((part, f"FourCC {names} the player did not declare"))
        elif part.multitrack and not caps.multitrack:
            bad.append((part, "a Multitrack message without capsEx Multitrack"))
        elif part.modex and not caps.modex:
            bad.append((part, "ModEx without capsEx ModEx"))
    if bad:
        part, why = bad[0]
        return [failed(rule, f"{len(bad)} media message(s) the player cannot parse by its declaration; first: {why}",
                       expected=f"only what it declared ({caps.describe()})",
                       actual=f"{_hex(part.message.raw.payload, 8)} at ts {part.message.raw.timestamp}",
                       message_index=part.message.index)]
    if not parts:
        return [passed(rule, "nothing the player cannot parse reached it (it got no media at all: nothing in the "
                       "stream has a form it declared)")]
    kinds = sorted({("E-RTMP " if p.enhanced else "legacy ") + ("video" if p.type_id == 9 else "audio")
                    for p in parts})
    return [passed(rule, f"{len(parts)} media message(s), all parseable with what it declared ({', '.join(kinds)})")]


def check_fourcc_filter(player: WireLog, *, fourcc: bytes, connect_obj: dict[str, Any],
                        rule: str = "ERTMP-17") -> list[Finding]:
    """ERTMP-17: a player gets ``fourcc`` iff its declaration covers it ("*", info-map flags)."""
    caps = declared_caps(connect_obj)
    wanted = caps.takes(True, fourcc) or caps.takes(False, fourcc)
    got = [p for p in media_parts(player) if fourcc in p.fourccs]
    name = fourcc.decode("latin-1")
    if wanted:
        if got:
            return [passed(rule, f"the player that declared {name} ({caps.describe()}) got {len(got)} {name} message(s)")]
        return [failed(rule, f"the player declared {name} but got none", expected=f"{name} relayed",
                       actual="no such message", verdict=Verdict.UNIMPLEMENTED)]
    if got:
        return [failed(rule, f"the player got {len(got)} {name} message(s) it did not declare",
                       expected=f"no {name} ({caps.describe()})", actual=_hex(got[0].message.raw.payload, 8),
                       message_index=got[0].message.index)]
    return [passed(rule, f"no {name} reached the player that did not declare it ({caps.describe()})")]


def check_default_track(player: WireLog, sent: Sequence[SentLike], *, rule: str = "ERTMP-22") -> list[Finding]:
    """ERTMP-22: a player that cannot take the stream as published gets its default track (trackId 0),
    byte-exact or in the legacy form, where one exists. Judged per media type on the coded frames."""
    out: list[Finding] = []
    got = {bytes(p.message.raw.payload) for p in media_parts(player)}
    for type_id in (9, 8):
        forms: list[bytes] = []
        for s in sent:
            if s.type_id != type_id or not s.payload:
                continue
            p = bytes(s.payload)
            layout = media.ex_layout(p, video=type_id == 9)
            if layout is None:
                enhanced = bool(p[0] & 0x80) if type_id == 9 else p[0] >> 4 == 9
                if not enhanced and not (media.is_video_sequence_header(p) if type_id == 9
                                         else media.is_audio_sequence_header(p)):
                    forms.append(p)  # legacy coded frame of track 0: must arrive as is
                continue
            if layout.packet_type not in ((1, 3) if type_id == 9 else (1,)):
                continue
            track = next((t for t in layout.tracks if t.track_id == 0), None)
            legacy = media.ex_to_legacy(layout, track) if track is not None else None
            if legacy is not None:
                forms.append(legacy)
        kind = "video" if type_id == 9 else "audio"
        if not forms:
            continue
        hits = sum(1 for f in forms if f in got)
        if hits:
            out.append(passed(rule, f"the player got {hits} of {len(forms)} default-track {kind} frame(s) in a form "
                              "it can parse"))
        else:
            out.append(failed(rule, f"the player got none of the default track's {kind} frames, though they have a "
                              "legacy form", expected=f"{len(forms)} {kind} frame(s) (as sent or legacy)",
                              actual="none"))
    if not out:
        from rtmpconf.harness.verdict import not_run
        return [not_run(rule, "the stream's default track has no form a legacy player can parse")]
    return out


def check_server_caps(log: WireLog, *, relays_ertmp: bool | None, rule: str = "ERTMP-18") -> list[Finding]:
    """ERTMP-18: the connect _result states E-RTMP support (either object), with well-typed values.

    ``relays_ertmp``: whether the server was seen relaying E-RTMP (None: unknown). Stating nothing is
    UNIMPLEMENTED for a server without E-RTMP, a SHOULD violation for one that has it."""
    reply = connect_reply(log)
    if reply is None or not isinstance(reply.message, Command):
        from rtmpconf.harness.verdict import not_run
        return [not_run(rule, "no connect reply to look at")]
    objs = [reply.message.command_object, *reply.message.arguments]
    props: dict[str, Any] = {}
    for o in objs:
        if isinstance(o, dict):
            props.update({k: v for k, v in o.items()
                          if k in ("fourCcList", "videoFourCcInfoMap", "audioFourCcInfoMap", "capsEx")})
    if not props:
        if relays_ertmp:
            return [failed(rule, "the server relays E-RTMP but states no E-RTMP support in its connect _result",
                           expected="fourCcList / videoFourCcInfoMap / audioFourCcInfoMap / capsEx",
                           actual="none of them", message_index=reply.index)]
        return [failed(rule, "the connect _result states no E-RTMP support", expected="E-RTMP properties",
                       actual="none", verdict=Verdict.UNIMPLEMENTED, message_index=reply.index)]
    out: list[Finding] = []
    fl = props.get("fourCcList")
    if fl is not None and not (isinstance(fl, list) and all(isinstance(x, str) and (x == "*" or len(x) == 4)
                                                         for x in fl)):
        out.append(failed(rule, "fourCcList is not a strict array of FourCC strings", expected='e.g. ["*"]',
                          actual=repr(fl)[:120], message_index=reply.index))
    for key in ("videoFourCcInfoMap", "audioFourCcInfoMap"):
        m = props.get(key)
        if m is not None and not (isinstance(m, dict) and all(isinstance(v, (int, float)) for v in m.values())):
            out.append(failed(rule, f"{key} is not an object of FourCC -> number flags", expected='{"*": 4}',
                              actual=repr(m)[:120], message_index=reply.index))
    caps = props.get("capsEx")
    if caps is not None and (isinstance(caps, bool) or not isinstance(caps, (int, float))):
        out.append(failed(rule, "capsEx is not a number", expected="CapsExMask bits", actual=repr(caps),
                          message_index=reply.index))
    if not out:
        out.append(passed(rule, "the connect _result states E-RTMP support: " + repr(props)[:240],
                          message_index=reply.index))
    return out


def reconnect_requests(log: WireLog) -> list[tuple[DecodedMessage, dict[str, Any]]]:
    out = []
    for m in log.decode(S2C).messages:
        st = status_info(m.message) if m.message is not None else None
        if st is not None and st.get("code") == RECONNECT_CODE:
            out.append((m, st))
    return out


def check_reconnect_on_drain(capable: Sequence[WireLog], others: Sequence[WireLog], *,
                             tc_url: str | None, rule: str = "ERTMP-11") -> list[Finding]:
    """ERTMP-11 on a drain: each client that advertised capsEx Reconnect got one well-formed Reconnect
    Request (onStatus, transaction id 0, msid 0, level "status", the tcUrl as the drain asked, absent
    when none was asked for); the others got none."""
    out: list[Finding] = []
    for log in others:
        reqs = reconnect_requests(log)
        if reqs:
            out.append(failed(rule, "a client that did not advertise capsEx Reconnect got a Reconnect Request",
                              expected="none", actual=f"{len(reqs)}", message_index=reqs[0][0].index))
    got = 0
    for log in capable:
        reqs = reconnect_requests(log)
        if not reqs:
            continue
        got += 1
        m, st = reqs[0]
        msg = m.message
        if m.raw.msid != 0:
            out.append(failed(rule, "Reconnect Request not on the NetConnection (msid 0)", expected="msid 0",
                              actual=f"msid {m.raw.msid}", message_index=m.index))
        if st.get("level") != "status":
            out.append(failed(rule, "Reconnect Request level is not 'status'", expected="status",
                              actual=repr(st.get("level")), message_index=m.index))
        if isinstance(msg, Command) and (msg.name != "onStatus" or msg.transaction_id != 0):
            out.append(failed(rule, "Reconnect Request is not onStatus with transaction id 0",
                              expected="onStatus, 0", actual=f"{msg.name}, {msg.transaction_id}", message_index=m.index))
        got_url = st.get("tcUrl")
        if tc_url is not None and got_url != tc_url:
            out.append(failed(rule, "Reconnect Request tcUrl is not the one the drain asked for", expected=tc_url,
                              actual=repr(got_url), message_index=m.index))
        if got_url is not None and not isinstance(got_url, str):
            out.append(failed(rule, "Reconnect Request tcUrl is not a string", expected="string",
                              actual=repr(got_url), message_index=m.index))
    if capable and not got:
        from rtmpconf.harness.verdict import not_run
        return out + [not_run(rule, "the drain sent no Reconnect Request to the clients that advertised capsEx "
                              "Reconnect (the target may not support it)")]
    if not out:
        out.append(passed(rule, f"{got} well-formed Reconnect Request(s) (tcUrl {tc_url!r}), none to the "
                          f"{len(others)} client(s) without capsEx Reconnect"))
    return out


def check_reconnect_followed(new: WireLog | None, *, resolved: str, expected_url: str, publish: bool,
                             error: str | None = None, rule: str = "ERTMP-11") -> list[Finding]:
    """ERTMP-11: the tcUrl resolves as ERTMPv2 says (absolute, relative, //host against the current
    one) and the connection the project's client opened there works (connect, publish or play)."""
    out: list[Finding] = []
    if resolved != expected_url:
        # The resolution is the harness's (client profile), not the target's: a harness error.
        return [failed(rule, "the client profile resolved the Reconnect Request tcUrl wrongly",
                       expected=expected_url, actual=resolved, verdict=Verdict.ERROR)]
    if new is None:
        return [failed(rule, f"reconnecting to {resolved} failed", expected="a working session",
                       actual=error or "no session")]
    want = "NetStream.Publish.Start" if publish else "NetStream.Play.Start"
    codes = [(m, st.get("code")) for m in new.decode(S2C).messages
             for st in [status_info(m.message) if m.message is not None else None] if st]
    if any(c == want for _, c in codes):
        out.append(passed(rule, f"the client followed the Reconnect Request to {resolved} and got {want}"))
    else:
        out.append(failed(rule, f"the reconnection to {resolved} did not get {want}", expected=want,
                          actual=", ".join(str(c) for _, c in codes) or (error or "nothing")))
    return out


def check_served_after_request(player: WireLog, *, after: Sequence[SentLike], rule: str = "ERTMP-23") -> list[Finding]:
    """ERTMP-23: media the publisher sent after its Reconnect Request (before leaving) still reached
    the player: the old server kept serving until the client left."""
    if not reconnect_requests(player) and not after:
        from rtmpconf.harness.verdict import not_run
        return [not_run(rule, "no Reconnect Request, nothing to judge")]
    seen = {bytes(m.raw.payload) for m in media_messages(player)}
    lost = [s for s in after if bytes(s.payload) not in seen]
    if not after:
        from rtmpconf.harness.verdict import not_run
        return [not_run(rule, "nothing was published after the Reconnect Request")]
    if lost:
        return [failed(rule, f"{len(lost)} of {len(after)} message(s) published after the Reconnect Request never "
                       "reached the player: the old server stopped serving before the client left",
                       expected="served until the client leaves", actual=f"first lost at ts {lost[0].timestamp}")]
    return [passed(rule, f"the {len(after)} message(s) published after the Reconnect Request reached the player")]


def check_closed_cleanly(log: WireLog, *, rule: str = "ERTMP-23") -> list[Finding]:
    """ERTMP-23: a client that cannot reconnect is closed cleanly on a drain (FIN, not a reset)."""
    if not server_closed(log):
        from rtmpconf.harness.verdict import not_run
        return [not_run(rule, "the client without capsEx Reconnect was not closed during the case")]
    if log.reset:
        return [failed(rule, "the client without capsEx Reconnect was reset, not closed", expected="FIN",
                       actual="RST")]
    return [passed(rule, "the client without capsEx Reconnect was closed cleanly (FIN)")]


# -- real-encoder quirks (ERTMP-24..31) -------------------------------------------------------------


def check_abandoned_media(player: WireLog, sent: Sequence[SentLike], *, abandoned: bytes,
                          rule: str = "ERTMP-24") -> list[Finding]:
    """ERTMP-24: the abandoned (aborted) frame never reaches players, nothing glued to it either, and
    the frames sent after it arrive."""
    got = media_messages(player, (9,))
    if not got:
        from rtmpconf.harness.verdict import not_run
        return [not_run(rule, "no video reached the player at all")]
    sent_set = {bytes(s.payload) for s in sent if s.type_id == 9}
    out: list[Finding] = []
    for m in got:
        p = bytes(m.raw.payload)
        if p == abandoned or p.startswith(abandoned[:128]) and p not in sent_set:
            out.append(failed(rule, "the abandoned (aborted) frame reached the player", expected="dropped",
                              actual=f"{_hex(p, 8)} at ts {m.raw.timestamp}", message_index=m.index))
            break
        if p not in sent_set:
            out.append(failed(rule, "the player got a video message the publisher never sent (a partial frame "
                              "glued to the next one?)", expected="only frames that were sent",
                              actual=f"{_hex(p, 8)} at ts {m.raw.timestamp}", message_index=m.index))
            break
    after = [s for s in sent if s.type_id == 9 and bytes(s.payload) != abandoned]
    lost = [s for s in after if bytes(s.payload) not in {bytes(m.raw.payload) for m in got}]
    if lost and not out:
        out.append(failed(rule, f"{len(lost)} frame(s) sent around the Abort never reached the player",
                          expected="every complete frame relayed", actual=f"first lost at ts {lost[0].timestamp}",
                          verdict=Verdict.NON_STRICT))
    if not out:
        out.append(passed(rule, f"the aborted frame was dropped and the {len(after)} complete frames were relayed"))
    return out


def check_publish_false(pub: WireLog, player: WireLog, second: WireLog, fresh: WireLog, *,
                        rule: str = "ERTMP-25") -> list[Finding]:
    """ERTMP-25: publish(false) ends the publish (name free, player told), the connection is kept."""
    out: list[Finding] = []
    alive = check_server_alive(fresh, rule=rule, after="publish(false)")
    out += [f for f in alive if f.verdict is not Verdict.PASS]
    if server_closed(pub):
        out.append(failed(rule, "the server closed the connection of the publisher that sent publish(false)",
                          expected="connection kept", actual="closed" + (" (reset)" if pub.reset else "")))
    started = [st.get("code") for _, st in statuses(second)]
    if "NetStream.Publish.Start" in started:
        out.append(passed(rule, "after publish(false) the name was free: a new publisher got Publish.Start"))
    else:
        out.append(failed(rule, "after publish(false) the name was not freed", expected="Publish.Start for a new "
                          "publisher", actual=", ".join(str(c) for c in started) or "no onStatus"))
    told = [st.get("code") for _, st in statuses(player)]
    if "NetStream.Play.UnpublishNotify" in told or server_closed(player):
        out.append(passed(rule, "the player was told the publish ended"))
    else:
        out.append(info(rule, "the player was not told the publish ended (no UnpublishNotify)"))
    return out


def check_survives(pub: WireLog, player: WireLog, fresh: WireLog, *, after: Sequence[SentLike], what: str,
                   rule: str, crash_rule: str | None = None) -> list[Finding]:
    """ERTMP-26/27/28: after ``what`` the server is up, the publisher kept (or refused cleanly), and
    the media sent afterwards reached the player (on the tracks it relays at all)."""
    out = [f for f in check_server_alive(fresh, rule=crash_rule or rule, after=what) if f.verdict is not Verdict.PASS]
    refusal = publish_refusal(pub)
    seen = {bytes(m.raw.payload) for m in media_messages(player)}
    relayed_types = {s.type_id for s in after if bytes(s.payload) in seen}
    if refusal is not None:
        out.append(failed(rule, f"the server ended the publish over {what} ({refusal})",
                          expected="the publish continues", actual=refusal))
        return out
    judged = [s for s in after if s.type_id in relayed_types or not relayed_types]
    lost = [s for s in judged if bytes(s.payload) not in seen]
    if not seen:
        out.append(failed(rule, f"no media reached the player after {what}", expected="the stream continues",
                          actual="nothing relayed"))
    elif lost:
        out.append(failed(rule, f"{len(lost)} of {len(judged)} message(s) after {what} never reached the player",
                          expected="the stream continues", actual=f"first lost at ts {lost[0].timestamp}"))
    else:
        out.append(passed(rule, f"{what}: publish kept, {len(judged)} later message(s) relayed"))
    return out


def check_aac_change(waiting: WireLog, late: WireLog, *, old_sh: bytes, new_sh: bytes,
                     new_frames: Sequence[bytes], rule: str = "ERTMP-30") -> list[Finding]:
    """ERTMP-30: the waiting player gets the new AAC sequence header before the first new frame; the
    late joiner gets only the new one (never the old) before its first audio frame."""
    out: list[Finding] = []
    new_set = {bytes(f) for f in new_frames}
    audio = media_messages(waiting, (8,))
    i_new_sh = next((i for i, m in enumerate(audio) if bytes(m.raw.payload) == new_sh), None)
    i_first_new = next((i for i, m in enumerate(audio) if bytes(m.raw.payload) in new_set), None)
    if i_first_new is None:
        from rtmpconf.harness.verdict import not_run
        return [not_run(rule, "no audio after the configuration change reached the waiting player")]
    if i_new_sh is None or i_new_sh > i_first_new:
        out.append(failed(rule, "the waiting player got frames of the new AAC configuration before its sequence "
                          "header", expected="new sequence header first",
                          actual="missing" if i_new_sh is None else f"audio #{i_new_sh} after frame #{i_first_new}"))
    else:
        out.append(passed(rule, "the waiting player got the new AAC sequence header before the new frames"))
    late_audio = media_messages(late, (8,))
    first_frame = next((i for i, m in enumerate(late_audio) if not media.is_audio_sequence_header(m.raw.payload)), None)
    shs = [bytes(m.raw.payload) for m in late_audio[:first_frame] if media.is_audio_sequence_header(m.raw.payload)]
    if first_frame is None:
        out.append(info(rule, "the late joiner got no audio frame"))
    elif not shs or shs[-1] != new_sh:
        out.append(failed(rule, "the late joiner's last AAC sequence header before its first frame is not the new one",
                          expected=_hex(new_sh), actual=_hex(shs[-1]) if shs else "none"))
    elif old_sh in shs:
        out.append(info(rule, "the late joiner got the old AAC sequence header too (before the new one)"))
    else:
        out.append(passed(rule, "the late joiner got only the new AAC sequence header"))
    return out


def check_metadata_values(player: WireLog, *, expected: dict[str, Any], rule: str) -> list[Finding]:
    """The player's onMetaData carries ``expected`` (ERTMP-12 track maps, ERTMP-31 type 15)."""
    meta = next((m for m in player.decode(S2C).messages
                 if isinstance(m.message, Data) and "onMetaData" in m.message.values[:2]), None)
    if meta is None:
        return [failed(rule, "no onMetaData reached the player", expected="onMetaData", actual="none")]
    values = meta.message.values  # type: ignore[union-attr]
    i = values.index("onMetaData")
    obj = values[i + 1] if len(values) > i + 1 and isinstance(values[i + 1], dict) else {}
    out = []
    for key, want in expected.items():
        got = obj.get(key)
        if _plain_amf(got) != _plain_amf(want):
            out.append(failed(rule, f"onMetaData {key} changed in the relay", expected=repr(want)[:160],
                              actual=repr(got)[:160], message_index=meta.index))
    if not out:
        out.append(passed(rule, "onMetaData relayed with " + ", ".join(sorted(expected)), message_index=meta.index))
    return out


def _metadata_obj(log: WireLog) -> dict[str, Any] | None:
    meta = next((m for m in log.decode(S2C).messages
                 if isinstance(m.message, Data) and "onMetaData" in m.message.values[:2]), None)
    if meta is None:
        return None
    values = meta.message.values  # type: ignore[union-attr]
    i = values.index("onMetaData")
    return dict(values[i + 1]) if len(values) > i + 1 and isinstance(values[i + 1], dict) else {}


def check_metadata_like_type_18(player: WireLog, *, control: WireLog, expected: dict[str, Any],
                                rule: str = "ERTMP-31") -> list[Finding]:
    """ERTMP-31: onMetaData published as type 15 reaches the player as the same metadata published as
    type 18 reaches the control player (fields a server drops from both are not held against type 15)."""
    got, ref = _metadata_obj(player), _metadata_obj(control)
    if ref is None:
        from rtmpconf.harness.verdict import not_run
        return [not_run(rule, "the server relays no onMetaData at all (type 18 control): nothing to compare")]
    if got is None:
        return [failed(rule, "onMetaData sent as type 15 never reached the player (type 18 did)",
                       expected=repr({k: ref.get(k) for k in expected})[:160], actual="none")]
    kept = {k: v for k, v in expected.items() if _plain_amf(ref.get(k)) == _plain_amf(v)}
    diff = {k: got.get(k) for k, v in kept.items() if _plain_amf(got.get(k)) != _plain_amf(v)}
    if diff:
        return [failed(rule, "onMetaData sent as type 15 lost fields that type 18 keeps",
                       expected=repr(kept)[:160], actual=repr(diff)[:160])]
    dropped = sorted(set(expected) - set(kept))
    note = f" (the server drops {', '.join(dropped)} for type 18 too)" if dropped else ""
    return [passed(rule, f"onMetaData sent as type 15 relayed like type 18: {', '.join(sorted(kept))}{note}")]


def _plain_amf(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain_amf(x) for k, x in v.items()}
    return v


def statuses(log: WireLog) -> list[tuple[DecodedMessage, dict[str, Any]]]:
    out = []
    for m in log.decode(S2C).messages:
        st = status_info(m.message) if m.message is not None else None
        if st is not None:
            out.append((m, st))
    return out


# -- real E-RTMP peers (PyAV / FFmpeg 8.1 publisher and player) ---------------------------------------


#: FFmpeg decoder names per codec of the round trips (libdav1d decodes AV1 in the PyAV wheel).
DECODER_NAMES = {"hevc": {"hevc"}, "av1": {"libdav1d", "av1"}, "vp9": {"vp9", "libvpx-vp9"}, "h264": {"h264"},
                 "opus": {"opus", "libopus"}, "ac3": {"ac3", "ac3_fixed"}, "eac3": {"eac3"}, "aac": {"aac"},
                 "mp3": {"mp3", "mp3float"}, "flac": {"flac"}}


def check_pyav_round_trip(play: Any, publish: Any, *, video: str, audio: str) -> list[Finding]:
    """A real E-RTMP publish (FFmpeg 8.1's FLV muxer) played back by FFmpeg 8.1 (PyAV) that declared the
    codecs (fourCcList): both tracks arrive as the published codecs, every packet decodes without an
    error, and the first decoded video frame is a keyframe (ERTMP-1 video, ERTMP-6 audio, GOP-1)."""
    out: list[Finding] = []
    if not publish.ok:
        return [failed("ERTMP-1", "the PyAV publisher failed (the target refused or dropped the publish)",
                       expected="publish accepted", actual=publish.error or "?", verdict=Verdict.UNIMPLEMENTED)]
    if play.error and not play.streams:
        return [failed("ERTMP-1", "the PyAV player could not play the stream", expected="decodable E-RTMP",
                       actual=play.error)]
    for kind, codec, rule in (("video", video, "ERTMP-1"), ("audio", audio, "ERTMP-6")):
        streams = [s for s in play.by_type(kind) if s.get("packets")]
        if not streams:
            out.append(failed(rule, f"no {codec} {kind} reached FFmpeg 8.1 (PyAV)", expected=f"{codec} {kind}",
                              actual="no packets", verdict=Verdict.UNIMPLEMENTED))
            continue
        s = streams[0]
        if s.get("codec") not in DECODER_NAMES.get(codec, {codec}):
            out.append(failed(rule, f"FFmpeg saw the {kind} as {s.get('codec')}, not {codec}", expected=codec,
                              actual=str(s.get("codec"))))
        if s.get("errors"):
            out.append(failed(rule, f"{s['errors']} of {s['packets']} {codec} packets failed to decode",
                              expected="every packet decodes", actual=f"{s['errors']} errors"))
        elif not s.get("frames"):
            out.append(failed(rule, f"no {codec} frame decoded from {s['packets']} packets", expected="frames",
                              actual="none"))
        else:
            out.append(passed(rule, f"{codec}: {s['packets']} packets, {s['frames']} frames decoded, 0 errors"))
        if kind == "video" and s.get("first_key") is False:
            out.append(failed("GOP-1", "the first video frame FFmpeg decoded is not a keyframe", expected="keyframe",
                              actual="inter frame", verdict=Verdict.NON_STRICT))
    return out


def check_pyav_legacy_default_track(play: Any, publish: Any, *, rule: str = "ERTMP-22") -> list[Finding]:
    """FFmpeg 8.1 publishes OBS-style multitrack; a PyAV player that declared nothing decodes the default
    track (H.264 + AAC, trackId 0) completely; further tracks reaching it are an ERTMP-21 matter."""
    if not publish.ok:
        return [failed(rule, "the multitrack publish failed", expected="accepted", actual=publish.error or "?",
                       verdict=Verdict.UNIMPLEMENTED)]
    if play.error and not play.streams:
        return [failed(rule, "the legacy PyAV player could not play the stream", expected="track 0",
                       actual=play.error)]
    out: list[Finding] = []
    for kind, codec in (("video", "h264"), ("audio", "aac")):
        track0 = [s for s in play.by_type(kind) if s.get("id") == 0 and s.get("packets")]
        if not track0:
            out.append(failed(rule, f"the legacy player got no default-track {kind}", expected=f"{codec} track 0",
                              actual="none"))
        elif track0[0].get("errors"):
            out.append(failed(rule, f"default-track {kind}: {track0[0]['errors']} packets failed to decode",
                              expected="all decode", actual=f"{track0[0]['errors']} errors"))
        else:
            out.append(passed(rule, f"default track {kind} ({track0[0].get('codec')}): {track0[0]['packets']} packets, "
                              f"{track0[0]['frames']} frames decoded"))
    extra = [s for s in play.streams if s.get("id") not in (0, None) and s.get("packets")]
    if extra:
        out.append(failed("ERTMP-21", f"the player that declared nothing got {len(extra)} more track(s): "
                          + ", ".join(f"{s['type']} #{s['id']} {s.get('codec')}" for s in extra),
                          expected="track 0 only", actual=f"{len(play.streams)} streams"))
    return out
