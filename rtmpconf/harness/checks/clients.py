"""Client-side checkers: pure functions of what a client under test did.

Inputs are the wire log of a session with the scripted test server (``c2s`` = what the client sent),
the server's marks (when a scripted event was sent, how much media had gone out before it), the
media the server sent, and the agent's outcome (exit status, stderr, frames a player decoded). Every
checker returns findings against a ``CL-*`` rule; the rule's level caps them. A condition that never
happened on the wire (no fmt-3 chunk after an extended header, no ping sent) is NOT-RUN, never a pass.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Sequence
from typing import Any

from rtmpconf.harness.checks.relay import serial_delta
from rtmpconf.harness.checks.timestamps import aac_cadence
from rtmpconf.harness.verdict import Finding, failed, info, not_run, passed
from rtmpconf.harness.wirelog import C2S, HANDSHAKE_BYTES, S2C, DecodedMessage, WireLog
from rtmpconf.rtmp import handshake as hsm
from rtmpconf.rtmp import media
from rtmpconf.rtmp.chunk import EXTENDED_TIMESTAMP_MARKER
from rtmpconf.rtmp.errors import ProtocolError
from rtmpconf.rtmp.messages import Acknowledgement, Command, Data, UserControl, WindowAckSize

C0C1 = 1 + hsm.HANDSHAKE_SIZE
#: Numeric onMetaData fields (FLV v10.1 §E.5: "Number"); a string here is the OBS #3131 bug.
METADATA_NUMBERS = ("duration", "width", "height", "videodatarate", "framerate", "videocodecid",
                    "audiodatarate", "audiosamplerate", "audiosamplesize", "audiocodecid", "filesize")
#: Message types that carry AMF (CL-AMF-1).
AMF_TYPES = (15, 17, 18, 20)
#: Commands after which a client has moved past connect (it decoded the connect reply).
PROGRESS_COMMANDS = ("createStream", "releaseStream", "FCPublish", "FCSubscribe", "publish", "play",
                     "getStreamLength", "_checkbw", "deleteStream", "closeStream")


def _msgs(log: WireLog, direction: str = C2S) -> list[DecodedMessage]:
    return log.decode(direction).messages  # type: ignore[arg-type]


def _commands(log: WireLog, *names: str) -> list[tuple[DecodedMessage, Command]]:
    out = []
    for m in _msgs(log):
        if isinstance(m.message, Command) and (not names or m.message.name in names):
            out.append((m, m.message))
    return out


def _media(log: WireLog, type_id: int | None = None) -> list[DecodedMessage]:
    return [m for m in _msgs(log) if m.raw.type_id in ((8, 9) if type_id is None else (type_id,))]


def _coded(m: DecodedMessage) -> bool:
    p = m.raw.payload
    if not p:
        return False
    if m.raw.type_id == 9:
        return not media.is_video_sequence_header(p)
    return not media.is_audio_sequence_header(p)


def _blocks(log: WireLog) -> tuple[bytes, bytes]:
    return log.bytes(C2S), log.bytes(S2C)


# -- handshake ------------------------------------------------------------------------------------


def check_c0c1(log: WireLog, *, rule: str = "CL-HS-1") -> list[Finding]:
    """C0 is 3 and C1 is 1536 bytes (all before anything else)."""
    c2s, _ = _blocks(log)
    if not c2s:
        return [not_run(rule, "the client sent nothing")]
    if c2s[0] != hsm.RTMP_VERSION:
        return [failed(rule, "C0 is not version 3", expected="0x03", actual=f"0x{c2s[0]:02x}")]
    if len(c2s) < C0C1:
        return [failed(rule, "C1 is shorter than 1536 bytes", expected="1536", actual=str(len(c2s) - 1))]
    return [passed(rule, "C0 = 3 and a 1536-byte C1")]


def _s1_digest(s1: bytes) -> bytes | None:
    scheme = hsm.find_digest_scheme(s1, hsm.SERVER_KEY_PARTIAL)
    return None if scheme is None else hsm._peer_digest(s1, scheme)


def check_c2_echo(log: WireLog, *, rule: str = "CL-HS-2") -> list[Finding]:
    """C2 echoes S1 (time and random bytes, §5.2.4), or in the digest handshake signs S1's digest."""
    c2s, s2c = _blocks(log)
    if len(c2s) < C0C1 + hsm.HANDSHAKE_SIZE or len(s2c) < C0C1:
        return [not_run(rule, "the handshake did not reach C2")]
    s1 = s2c[1:C0C1]
    c2 = c2s[C0C1:C0C1 + hsm.HANDSHAKE_SIZE]
    digest = _s1_digest(s1)
    if digest is not None:
        expected = hsm.reply_digest(digest, hsm.CLIENT_KEY, c2[:hsm.DIGEST_REPLY_RANDOM_SIZE])
        if hmac.compare_digest(expected, c2[hsm.DIGEST_REPLY_RANDOM_SIZE:]):
            return [passed(rule, "digest handshake: C2 carries the signature of S1's digest")]
        if c2[8:] == s1[8:]:
            return [passed(rule, "C2 echoes S1 (simple echo to a digest S1)")]
        return [failed(rule, "C2 neither echoes S1 nor signs its digest", expected="echo of S1 or digest reply",
                       actual=f"C2[8:16]={c2[8:16].hex()} S1[8:16]={s1[8:16].hex()}")]
    if c2[8:] != s1[8:]:
        diff = next(i for i in range(8, hsm.HANDSHAKE_SIZE) if c2[i] != s1[i])
        return [failed(rule, "C2 does not echo S1's random bytes", expected="C2[8:] == S1[8:]",
                       actual=f"first difference at byte {diff}")]
    if c2[:4] != s1[:4]:
        return [failed(rule, "C2's time field is not S1's time", expected=s1[:4].hex(), actual=c2[:4].hex())]
    return [passed(rule, "C2 echoes S1's time and random bytes")]


def check_order_against_s2(log: WireLog, s2_sent_at: float | None, s1_sent_at: float | None,
                           *, rule: str = "CL-HS-3") -> list[Finding]:
    """§5.2.1: the client waits for S1 before C2 and for S2 before any other data."""
    if s2_sent_at is None or s1_sent_at is None:
        return [not_run(rule, "S2 was not held back")]
    early_c2 = early_data = 0
    for e in log.events:
        if e.direction != C2S:
            continue
        end = e.offset + len(e.data)
        if e.time < s1_sent_at and end > C0C1:
            early_c2 += end - max(e.offset, C0C1)
        if e.time < s2_sent_at and end > C0C1 + hsm.HANDSHAKE_SIZE:
            early_data += end - max(e.offset, C0C1 + hsm.HANDSHAKE_SIZE)
    if early_c2:
        return [failed(rule, "C2 bytes arrived before S1 was sent", expected="C2 after S1", actual=f"{early_c2} bytes")]
    if early_data:
        return [failed(rule, "the client sent chunk data before the server sent S2", expected="nothing after C2 until S2",
                       actual=f"{early_data} bytes while S2 was held")]
    if log.total(C2S) <= C0C1 + hsm.HANDSHAKE_SIZE:
        return [not_run(rule, "the client sent nothing after C2 (nothing to judge)")]
    return [passed(rule, "C2 after S1; first chunk after S2")]


def check_handshake_flavour(log: WireLog, *, rule: str = "CL-HS-4") -> list[Finding]:
    """Which handshake the client offers (INFORMATIONAL): simple, or digest with its scheme."""
    c2s, _ = _blocks(log)
    if len(c2s) < C0C1:
        return [not_run(rule, "no complete C1")]
    c1 = c2s[1:C0C1]
    zero = int.from_bytes(c1[4:8], "big")
    if zero == 0:
        return [info(rule, "simple handshake (C1 bytes 4..7 are zero)")]
    scheme = hsm.find_digest_scheme(c1, hsm.CLIENT_KEY_PARTIAL)
    if scheme is None:
        return [failed(rule, "C1 announces a Flash version (digest handshake) but carries no valid digest",
                       expected="a digest at scheme 0 or 1", actual=f"version {c1[4:8].hex('.')}, no digest")]
    return [info(rule, f"digest handshake, scheme {int(scheme)}, version {'.'.join(str(b) for b in c1[4:8])}")]


def check_progressed(log: WireLog, after: float | None, *, rule: str, what: str,
                     names: Sequence[str] = PROGRESS_COMMANDS) -> list[Finding]:
    """After the server's ``what`` (sent at ``after``), the client went on: it sent one of ``names``."""
    if after is None:
        return [not_run(rule, f"{what} was never sent (the client stopped before)")]
    for m, cmd in _commands(log, *names):
        if m.time >= after:
            return [passed(rule, f"after {what} the client sent {cmd.name}")]
    dec = log.decode(C2S)
    if dec.error:
        return [failed(rule, f"after {what} the client sent undecodable bytes", actual=dec.error)]
    how = "closed the connection" if log.closed_by == C2S else "went silent"
    return [failed(rule, f"the client did not go on after {what}", expected=f"one of {', '.join(names[:4])}...",
                   actual=how)]


def check_gave_up(*, closed: bool, exited: bool, window: float, rule: str) -> list[Finding]:
    """Against a server that never answers, the client closed the connection (``closed``) or exited
    (``exited``) within ``window`` s -- both observed before the harness stopped it."""
    if closed or exited:
        return [passed(rule, f"the client gave up within {window:g} s"
                       + (" (closed the connection)" if closed else " (exited)"))]
    return [failed(rule, f"the client still waited after {window:g} s of silence", expected="close or exit",
                   actual="connection open, program running")]


# -- chunking -------------------------------------------------------------------------------------


def check_chunk_stream(log: WireLog, *, rule: str = "CL-CH-1", after: float | None = None) -> list[Finding]:
    """Every chunk the client sent decodes with the chunk sizes it announced: no header without
    state, no fmt 1/2/3 starting a chunk stream, no half message continued with a new header."""
    dec = log.decode(C2S)
    if not dec.messages and not dec.error:
        return [not_run(rule, "the client sent no chunk data")]
    if after is not None and not any(m.time >= after for m in dec.messages) and not dec.error:
        return [not_run(rule, "the client sent nothing after the event")]
    if dec.error:
        return [failed(rule, "the client's chunk stream does not decode", expected="legal chunks",
                       actual=f"{dec.error} at byte {dec.error_offset}")]
    bad = [n for n in dec.notices if n.rule in ("CH-8", "CH-12")]
    if bad:
        return [failed(rule, "the client's chunk headers need state they never set", expected="fmt 0 first",
                       actual=f"{len(bad)} x: {bad[0].text} (csid {bad[0].csid})")]
    undecodable = [m for m in dec.messages if m.decode_error]
    if undecodable:
        return [failed(rule, "a message does not decode", actual=undecodable[0].decode_error)]
    return [passed(rule, f"{len(dec.chunks)} chunks / {len(dec.messages)} messages decode cleanly")]


def check_basic_header_form(log: WireLog, *, rule: str = "CL-CH-2") -> list[Finding]:
    """Chunk basic headers use the smallest form for their csid (§5.3.1.1)."""
    dec = log.decode(C2S)
    if not dec.chunks:
        return [not_run(rule, "the client sent no chunks")]
    big = [c for c in dec.chunks if c.basic_header_len != (1 if c.csid < 64 else 2 if c.csid < 320 else 3)]
    if big:
        c = big[0]
        return [failed(rule, f"{len(big)} chunks use a longer basic header than their csid needs",
                       expected="smallest form", actual=f"csid {c.csid} in the {c.basic_header_len}-byte form")]
    return [passed(rule, "every basic header in its smallest form")]


def check_control_channel(log: WireLog, *, rule: str = "CL-CH-3") -> list[Finding]:
    """Protocol control messages (types 1, 2, 3, 5, 6) on csid 2 and message stream 0 (§5.4)."""
    ctl = [m for m in _msgs(log) if m.raw.type_id in (1, 2, 3, 5, 6)]
    if not ctl:
        return [not_run(rule, "the client sent no protocol control message")]
    bad = [m for m in ctl if m.raw.csid != 2 or m.raw.msid != 0]
    if bad:
        m = bad[0]
        return [failed(rule, "protocol control message off csid 2 / msid 0", expected="csid 2, msid 0",
                       actual=f"type {m.raw.type_id} on csid {m.raw.csid} msid {m.raw.msid}")]
    uc = [m for m in _msgs(log) if m.raw.type_id == 4 and m.raw.msid != 0]
    if uc:
        return [failed(rule, "user control message off message stream 0", expected="msid 0",
                       actual=f"msid {uc[0].raw.msid}")]
    return [passed(rule, f"{len(ctl)} control messages on csid 2, msid 0")]


def check_raises_chunk_size(log: WireLog, *, rule: str = "CL-CH-9") -> list[Finding]:
    """A publisher announces a chunk size above 128 before its first media message (CH-17)."""
    first_media = next((m for m in _msgs(log) if m.raw.type_id in (8, 9)), None)
    if first_media is None:
        return [not_run(rule, "the client sent no media")]
    sizes = [(i, s) for i, s in log.decode(C2S).chunk_size_changes if i < first_media.index]
    if sizes and sizes[-1][1] > 128:
        return [passed(rule, f"chunk size {sizes[-1][1]} announced before the media")]
    return [failed(rule, "media sent at the default chunk size of 128", expected="Set Chunk Size > 128 first",
                   actual=str(sizes[-1][1]) if sizes else "no Set Chunk Size")]


# -- players: what reached the user ----------------------------------------------------------------


def check_player_went_on(output: Any, *, video_sent: int, video_before: int, rule: str, what: str,
                         log: WireLog | None = None) -> list[Finding]:
    """A player kept delivering video after ``what``: more frames than the server had sent before it.

    ``output`` is the agent's PlayerOutput (frames decoded, or demuxed into a file); ``video_sent``
    the coded video frames the server sent in total, ``video_before`` those before the event.
    """
    if output is None:
        return [not_run(rule, "the agent reports no player output")]
    after = video_sent - video_before
    if after < 3:
        if log is not None and log.closed_by == C2S:
            return [failed(rule, f"the client closed the connection right after {what}", expected="frames after it",
                           actual=f"closed after {after} more frames" + (f"; error: {output.error}" if output.error else ""))]
        return [not_run(rule, f"only {after} video frames were sent after {what}")]
    need = video_before + min(5, max(1, after // 2))
    got = output.video_frames
    verb = "decoded" if output.decoded else "received"
    if got >= need:
        return [passed(rule, f"{got} video frames {verb} ({video_before} sent before {what}, {after} after)")]
    detail = f"{got} frames {verb}; {video_before} sent before {what}, {after} after"
    if output.error:
        detail += f"; player error: {output.error}"
    if log is not None and log.closed_by == C2S:
        detail += "; the client closed the connection"
    return [failed(rule, f"the player stopped delivering video at {what}", expected=f">= {need} frames",
                   actual=detail)]


def check_player_decoded(output: Any, *, video_sent: int, rule: str, what: str, share: float = 0.5,
                         log: WireLog | None = None) -> list[Finding]:
    """A player delivered at least ``share`` of the coded video frames of a stream sent as ``what``."""
    if output is None:
        return [not_run(rule, "the agent reports no player output")]
    if video_sent < 4:
        if log is not None and log.closed_by == C2S:
            return [failed(rule, f"the client closed the connection after {video_sent} video frames ({what})",
                           expected="the whole stream", actual=f"{output.video_frames} frames"
                           + (f"; error: {output.error}" if output.error else ""))]
        return [not_run(rule, f"only {video_sent} video frames were sent")]
    need = max(2, int(video_sent * share))
    verb = "decoded" if output.decoded else "received"
    if output.video_frames >= need:
        return [passed(rule, f"{output.video_frames} of {video_sent} video frames {verb} ({what})")]
    return [failed(rule, f"the player did not deliver the stream ({what})", expected=f">= {need} frames",
                   actual=f"{output.video_frames} {verb}" + (f"; error: {output.error}" if output.error else ""))]


# -- timestamps -----------------------------------------------------------------------------------


def _fmt3_after_ext(log: WireLog) -> list[Any]:
    return [c for c in log.decode(C2S).chunks if c.fmt == 3 and c.ext_on_fmt3 is not None]


def check_ext_ts_dialect(log: WireLog, *, rule: str = "CL-TS-1") -> list[Finding]:
    """Which fmt-3 extended-timestamp dialect the client writes (INFORMATIONAL)."""
    chunks = _fmt3_after_ext(log)
    if not chunks:
        return [not_run(rule, "no fmt-3 chunk followed an extended-timestamp header")]
    present = sum(1 for c in chunks if c.ext_on_fmt3)
    omitted = len(chunks) - present
    kind = "present" if not omitted else "omitted" if not present else "mixed"
    if kind == "mixed":
        return [failed(rule, "the client mixes both fmt-3 dialects in one session", expected="one dialect",
                       actual=f"{present} chunks with, {omitted} without")]
    return [info(rule, f"fmt-3 extended timestamp {kind} ({present} with, {omitted} without)")]


def check_ext_ts_repeated(log: WireLog, *, rule: str = "CL-TS-2") -> list[Finding]:
    """fmt-3 chunks after an extended header repeat the 4-byte extended timestamp (§5.3.1.3)."""
    chunks = _fmt3_after_ext(log)
    if not chunks:
        return [not_run(rule, "no fmt-3 chunk followed an extended-timestamp header")]
    omitted = [c for c in chunks if not c.ext_on_fmt3]
    if omitted:
        c = omitted[0]
        return [failed(rule, f"{len(omitted)} of {len(chunks)} fmt-3 chunks omit the extended timestamp",
                       expected="4-byte extended timestamp on every fmt-3 chunk",
                       actual=f"first at byte {c.offset + HANDSHAKE_BYTES}, csid {c.csid}")]
    return [passed(rule, f"all {len(chunks)} fmt-3 chunks repeat the extended timestamp")]


def check_monotonic(log: WireLog, *, rule: str = "CL-TS-5") -> list[Finding]:
    """Coded audio and video timestamps never go backwards (serial arithmetic, per type)."""
    findings: list[Finding] = []
    for type_id, name in ((9, "video"), (8, "audio")):
        frames = [m for m in _media(log, type_id) if _coded(m)]
        back = [(a, b) for a, b in zip(frames, frames[1:]) if serial_delta(b.raw.timestamp, a.raw.timestamp) < 0]
        if back:
            a, b = back[0]
            findings.append(failed(rule, f"{name} timestamps go backwards {len(back)} times",
                                   expected="non-decreasing", actual=f"{a.raw.timestamp} then {b.raw.timestamp}"))
    if not _media(log):
        return [not_run(rule, "the client sent no media")]
    return findings or [passed(rule, "audio and video timestamps non-decreasing")]


def check_crossing(log: WireLog, *, rule: str = "CL-TS-10") -> list[Finding]:
    """Crossing 0xFFFFFF ms, timestamps go on through the extended field instead of wrapping to 24 bits."""
    frames = [m for m in _media(log) if _coded(m)]
    if not frames or max(m.raw.timestamp for m in frames) < EXTENDED_TIMESTAMP_MARKER - 2000:
        return [not_run(rule, "the client's timestamps never came near 0xFFFFFF")]
    for type_id in (8, 9):
        seq = [m for m in frames if m.raw.type_id == type_id]
        for a, b in zip(seq, seq[1:]):
            if serial_delta(b.raw.timestamp, a.raw.timestamp) < -0x800000:
                return [failed(rule, "timestamps wrapped at 24 bits", expected=f"> {a.raw.timestamp}",
                               actual=str(b.raw.timestamp))]
    if max(m.raw.timestamp for m in frames) < EXTENDED_TIMESTAMP_MARKER:
        return [not_run(rule, "the client's timestamps stayed below 0xFFFFFF")]
    return [passed(rule, "timestamps crossed 0xFFFFFF in the extended field")]


def check_forward_deltas(log: WireLog, *, rule: str = "CL-TS-9") -> list[Finding]:
    """fmt 1/2 deltas are forward steps; a step back needs a fmt-0 header (§5.3.1.2, TS-8)."""
    chunks = [c for c in log.decode(C2S).chunks if c.fmt in (1, 2)]
    if not chunks:
        return [not_run(rule, "the client sent no fmt 1/2 header")]
    back = [c for c in chunks if c.delta >= 0x80000000]
    if back:
        c = back[0]
        return [failed(rule, "a fmt 1/2 header carries a backward (negative) delta", expected="delta < 2^31",
                       actual=f"delta 0x{c.delta:08x} on csid {c.csid}")]
    return [passed(rule, f"{len(chunks)} fmt 1/2 headers, every delta forward")]


def _aac_rate(log: WireLog) -> int | None:
    for m in _media(log, 8):
        p = m.raw.payload
        if p and media.is_audio_sequence_header(p):
            try:
                tag = media.parse_audio_tag(p)
                return media.AudioSpecificConfig.parse(tag.body).sample_rate
            except ProtocolError:
                return None
    return None


def check_aac_cadence(log: WireLog, *, rule: str = "CL-TS-8") -> list[Finding]:
    """AAC frame timestamps follow 1024 samples per frame at the configured rate, without drift."""
    rate = _aac_rate(log)
    frames = [m for m in _media(log, 8) if _coded(m)]
    if rate is None or len(frames) < 10:
        return [not_run(rule, "no AAC stream of 10 frames with a sequence header")]
    rep = aac_cadence(frames, rate)
    if rep.resyncs or rep.max_error_ms > 1.0:
        return [failed(rule, "AAC timestamps leave the 1024/rate clock", expected=f"{rep.frame_ms:.3f} ms per frame",
                       actual=f"max error {rep.max_error_ms} ms, {len(rep.resyncs)} jumps, drift {rep.drift_ms} ms")]
    return [passed(rule, f"{rep.frames} AAC frames on the {rep.frame_ms:.3f} ms clock (max error {rep.max_error_ms} ms)")]


# -- control ----------------------------------------------------------------------------------------


def _s2c_offset_at(log: WireLog, t: float) -> int:
    n = 0
    for e in log.events:
        if e.direction == S2C and e.time <= t:
            n = e.offset + len(e.data)
    return n


def _window(log: WireLog) -> int | None:
    for m in _msgs(log, S2C):
        if isinstance(m.message, WindowAckSize):
            return m.message.size
    return None


def check_acks(log: WireLog, *, rule: str = "CL-CTRL-1") -> list[Finding]:
    """Acknowledgements keep up with the window (§5.4.3): at least one, and the last one counts all
    but two windows of what the server sent (one window of slack, one for bytes still in flight).
    One acknowledgement per read carrying the total is accepted."""
    window = _window(log)
    received = log.total(S2C)
    if window is None or received < 3 * window:
        return [not_run(rule, f"the server sent {received} bytes, under three windows of {window}")]
    acks = [m for m in _msgs(log) if isinstance(m.message, Acknowledgement)]
    top = max((m.message.sequence for m in acks), default=0)  # type: ignore[union-attr]
    need = received - 2 * window - 3073
    if acks and top >= need:
        return [passed(rule, f"{len(acks)} acknowledgements up to {top} of {received} bytes at window {window}")]
    return [failed(rule, "the client does not acknowledge at the window",
                   expected=f"acknowledgements up to >= {need}",
                   actual=f"{len(acks)} acknowledgements (highest {top}) for {received} bytes at window {window}")]


def check_ack_sequence(log: WireLog, *, rule: str = "CL-CTRL-2") -> list[Finding]:
    """Acknowledgement sequence numbers count bytes received: never more than the server had sent."""
    acks = [m for m in _msgs(log) if isinstance(m.message, Acknowledgement)]
    if not acks:
        return [not_run(rule, "the client sent no acknowledgement")]
    for m in acks:
        seq = m.message.sequence  # type: ignore[union-attr]
        sent = _s2c_offset_at(log, m.time)
        if seq > sent:
            return [failed(rule, "an acknowledgement counts bytes the server never sent", expected=f"<= {sent}",
                           actual=str(seq))]
    return [passed(rule, f"{len(acks)} acknowledgements count bytes received")]


def check_ping_answered(log: WireLog, value: int | None, *, rule: str = "CL-CTRL-3") -> list[Finding]:
    """A PingRequest is answered with a PingResponse echoing its 4 bytes (§7.1.7)."""
    if value is None:
        return [not_run(rule, "no PingRequest was sent (the client stopped before)")]
    want = value.to_bytes(4, "big")
    pongs = [m for m in _msgs(log) if isinstance(m.message, UserControl) and m.message.event == 7]
    for m in pongs:
        if m.message.data[:4] == want:  # type: ignore[union-attr]
            return [passed(rule, f"PingResponse echoes {want.hex()}")]
    if pongs:
        return [failed(rule, "PingResponse does not echo the request", expected=want.hex(),
                       actual=pongs[0].message.data.hex())]  # type: ignore[union-attr]
    return [failed(rule, "PingRequest never answered", expected=f"PingResponse {want.hex()}", actual="none")]


def check_window_reply(log: WireLog, value: int, *, after: float | None, rule: str = "CL-CTRL-4") -> list[Finding]:
    """Set Peer Bandwidth with a new window is answered with Window Acknowledgement Size (§5.4.5)."""
    if after is None:
        return [not_run(rule, "Set Peer Bandwidth was not sent")]
    for m in _msgs(log):
        if isinstance(m.message, WindowAckSize) and m.time >= after and m.message.size == value:
            return [passed(rule, f"Window Acknowledgement Size {value} in reply")]
    sent = [m.message.size for m in _msgs(log) if isinstance(m.message, WindowAckSize)]  # type: ignore[union-attr]
    return [failed(rule, "Set Peer Bandwidth not answered with Window Acknowledgement Size", expected=str(value),
                   actual=", ".join(map(str, sent)) or "none")]


def check_stopped(log: WireLog, outcome: Any, *, after: float | None, window: float, rule: str,
                  what: str) -> list[Finding]:
    """After an error status (``what``) the client stops -- no media after it -- and ends the session
    (closes or exits) within ``window`` s, with a non-zero exit status or an error message."""
    if after is None:
        return [not_run(rule, f"{what} was never sent (the client stopped before)")]
    late_media = [m for m in _media(log) if m.time > after + 0.05]
    if late_media:
        return [failed(rule, f"the client kept sending media after {what}", expected="no media",
                       actual=f"{len(late_media)} media messages")]
    ended = log.closed_by == C2S or (outcome is not None and outcome.exited_by_itself)
    close_time = log.close_time if log.closed_by == C2S else None
    if not ended or (close_time is not None and close_time - after > window):
        return [failed(rule, f"the client hung after {what}", expected=f"close or exit within {window:g} s",
                       actual="still connected")]
    if outcome is not None and outcome.exited_by_itself and outcome.returncode == 0 and not outcome.stderr_tail.strip():
        return [failed(rule, f"the client ended silently after {what}", expected="an error exit or message",
                       actual="exit status 0, nothing on stderr")]
    return [passed(rule, f"the client stopped after {what} and reported it")]


# -- commands -----------------------------------------------------------------------------------------


def check_connect_object(log: WireLog, *, app: str, rule: str = "CL-CMD-1") -> list[Finding]:
    """connect's command object names the app and a tcUrl for it (§7.2.1.1)."""
    cmds = _commands(log, "connect")
    if not cmds:
        return [not_run(rule, "the client sent no connect")]
    obj = cmds[0][1].command_object
    if not isinstance(obj, dict):
        return [failed(rule, "connect has no command object", actual=repr(obj)[:80])]
    problems = []
    if obj.get("app") != app:
        problems.append(f"app={obj.get('app')!r}")
    tc = obj.get("tcUrl", obj.get("tcurl"))
    if not isinstance(tc, str) or not tc.startswith("rtmp://") or not tc.rstrip("/").endswith("/" + app):
        problems.append(f"tcUrl={tc!r}")
    if problems:
        return [failed(rule, "connect's command object does not name the app", expected=f"app={app!r}, tcUrl rtmp://.../{app}",
                       actual=", ".join(problems))]
    return [passed(rule, f"connect app={app!r} tcUrl={tc!r}")]


def check_connect_tid(log: WireLog, *, rule: str = "CL-CMD-2") -> list[Finding]:
    """connect's transaction id is 1 (§7.2.1.1: "Always set to 1")."""
    cmds = _commands(log, "connect")
    if not cmds:
        return [not_run(rule, "the client sent no connect")]
    tid = cmds[0][1].transaction_id
    if tid != 1:
        return [failed(rule, "connect's transaction id is not 1", expected="1", actual=f"{tid:g}")]
    return [passed(rule, "connect transaction id 1")]


def check_waited(log: WireLog, *, held_from: float | None, released: float | None, rule: str, what: str,
                 forbidden: Sequence[str] = ("createStream", "publish", "play"), media_too: bool = False) -> list[Finding]:
    """Nothing that depends on ``what`` was sent while the server held it back."""
    if held_from is None or released is None:
        return [not_run(rule, f"{what} was not held back")]
    early = [cmd.name for m, cmd in _commands(log, *forbidden) if m.time < released] if forbidden else []
    if media_too:
        early += [f"media type {m.raw.type_id}" for m in _media(log) if m.time < released]
    if early:
        return [failed(rule, f"the client did not wait for {what}",
                       expected=f"nothing of {', '.join([*forbidden, *(['media'] if media_too else [])])} before it",
                       actual=", ".join(early[:4]))]
    return [passed(rule, f"the client waited for {what}")]


def check_stream_id(log: WireLog, sid: int, *, rule: str = "CL-CMD-4") -> list[Finding]:
    """publish/play and the media use the message stream id createStream returned (§7.2.2)."""
    uses = [(m, cmd) for m, cmd in _commands(log, "publish", "play")]
    if not uses:
        return [not_run(rule, "the client sent neither publish nor play")]
    bad = [f"{cmd.name} on msid {m.raw.msid}" for m, cmd in uses if m.raw.msid != sid]
    bad += [f"media on msid {m.raw.msid}" for m in _media(log) if m.raw.msid != sid][:2]
    if bad:
        return [failed(rule, "the client does not use the stream id createStream returned", expected=f"msid {sid}",
                       actual=", ".join(bad[:3]))]
    return [passed(rule, f"{uses[0][1].name} and media on msid {sid}")]


def check_publish_command(log: WireLog, *, name: str, rule: str = "CL-CMD-5") -> list[Finding]:
    """publish(name, type): the stream name of the URL and a publishing type (§7.2.2.6)."""
    cmds = _commands(log, "publish")
    if not cmds:
        return [not_run(rule, "the client sent no publish")]
    cmd = cmds[0][1]
    args = cmd.arguments
    got = args[0] if args else None
    kind = args[1] if len(args) > 1 else None
    if got != name:
        return [failed(rule, "publish names another stream", expected=repr(name), actual=repr(got))]
    if kind not in ("live", "record", "append"):
        return [failed(rule, "publish's type is not live, record or append", expected="'live'", actual=repr(kind))]
    if cmd.transaction_id != 0:
        return [failed(rule, "publish's transaction id is not 0", expected="0", actual=f"{cmd.transaction_id:g}")]
    return [passed(rule, f"publish({name!r}, {kind!r})")]


def check_play_command(log: WireLog, *, name: str, rule: str = "CL-CMD-12") -> list[Finding]:
    """play(name[, start]): the URL's stream name, a number as start, transaction id 0 (§7.2.2.1)."""
    cmds = _commands(log, "play")
    if not cmds:
        return [not_run(rule, "the client sent no play")]
    cmd = cmds[0][1]
    args = cmd.arguments
    if not args or args[0] != name:
        return [failed(rule, "play names another stream", expected=repr(name), actual=repr(args[:1]))]
    if len(args) > 1 and (isinstance(args[1], bool) or not isinstance(args[1], (int, float))):
        return [failed(rule, "play's start is not a number", actual=repr(args[1]))]
    if cmd.transaction_id != 0:
        return [failed(rule, "play's transaction id is not 0", expected="0", actual=f"{cmd.transaction_id:g}")]
    return [passed(rule, f"play({name!r}{', ' + format(args[1], 'g') if len(args) > 1 else ''})")]


def check_play_start(log: WireLog, *, rule: str = "CL-CMD-13") -> list[Finding]:
    """play's start is -2, -1 or a position >= 0 (§7.2.2.1)."""
    cmds = _commands(log, "play")
    if not cmds:
        return [not_run(rule, "the client sent no play")]
    args = cmds[0][1].arguments
    if len(args) < 2:
        return [passed(rule, "no start given (the default -2)")]
    start = args[1]
    if isinstance(start, (int, float)) and not isinstance(start, bool) and (start in (-2, -1) or start >= 0):
        return [passed(rule, f"start {start:g}")]
    return [failed(rule, "play's start is none of -2, -1 or >= 0", expected="-2, -1 or >= 0", actual=repr(start))]


def check_unpublish(log: WireLog, outcome: Any, *, rule: str = "CL-CMD-11") -> list[Finding]:
    """A publisher that ends by itself says so: FCUnpublish, closeStream or deleteStream before closing."""
    if not _commands(log, "publish"):
        return [not_run(rule, "the client never published")]
    if outcome is None or not outcome.exited_by_itself:
        return [not_run(rule, "the publisher did not end by itself within the case")]
    ends = _commands(log, "FCUnpublish", "deleteStream", "closeStream")
    if ends:
        return [passed(rule, "the publisher ended with " + ", ".join(c.name for _, c in ends))]
    return [failed(rule, "the publisher closed without unpublishing", expected="FCUnpublish / deleteStream",
                   actual="connection closed")]


# -- AMF -----------------------------------------------------------------------------------------------


def check_amf_decodes(log: WireLog, *, rule: str = "CL-AMF-1") -> list[Finding]:
    """Every command and data message the client sent is valid AMF."""
    msgs = [m for m in _msgs(log) if m.raw.type_id in AMF_TYPES]
    if not msgs:
        return [not_run(rule, "the client sent no command or data message")]
    bad = [m for m in msgs if m.decode_error]
    if bad:
        return [failed(rule, f"{len(bad)} AMF messages do not decode", actual=bad[0].decode_error)]
    return [passed(rule, f"{len(msgs)} command/data messages decode")]


def metadata_of(log: WireLog) -> tuple[DecodedMessage, Any] | None:
    """The publisher's onMetaData (direct or through @setDataFrame) and its array."""
    for m in _msgs(log):
        if isinstance(m.message, Data):
            vals = list(m.message.values)
            if vals and vals[0] == "@setDataFrame":
                vals = vals[1:]
            if vals and vals[0] == "onMetaData":
                return m, vals[1] if len(vals) > 1 else None
    return None


def check_metadata_types(log: WireLog, *, rule: str = "CL-AMF-2") -> list[Finding]:
    """onMetaData's numeric fields are AMF Numbers (FLV v10.1 §E.5), not strings (OBS #3131)."""
    found = metadata_of(log)
    if found is None:
        return [not_run(rule, "the client sent no onMetaData")]
    _, arr = found
    if not isinstance(arr, dict):
        return [failed(rule, "onMetaData carries no array or object", actual=repr(arr)[:80])]
    wrong = [f"{k}={arr[k]!r}" for k in METADATA_NUMBERS
             if k in arr and (isinstance(arr[k], bool) or not isinstance(arr[k], (int, float)))]
    if wrong:
        return [failed(rule, "onMetaData numeric fields are not Numbers", expected="AMF Number",
                       actual=", ".join(wrong[:4]))]
    return [passed(rule, f"{sum(1 for k in METADATA_NUMBERS if k in arr)} numeric fields are Numbers")]


def check_metadata_form(log: WireLog, *, rule: str = "CL-AMF-3") -> list[Finding]:
    """onMetaData is an ECMA array, sent before the first coded frame (FLV v10.1 §E.5, CMD-24)."""
    from rtmpconf.rtmp.amf0 import EcmaArray

    found = metadata_of(log)
    first = next((m for m in _media(log) if _coded(m)), None)
    if found is None:
        return [not_run(rule, "the client sent no onMetaData")]
    m, arr = found
    if not isinstance(arr, EcmaArray):
        return [failed(rule, "onMetaData is not an ECMA array", expected="ECMA array", actual=type(arr).__name__)]
    if first is not None and first.index < m.index:
        return [failed(rule, "onMetaData comes after the first coded frame", expected="metadata first",
                       actual=f"message {m.index} after frame {first.index}")]
    return [passed(rule, "onMetaData is an ECMA array sent before the frames")]


def check_metadata_consistent(log: WireLog, *, rule: str = "CL-AMF-4") -> list[Finding]:
    """onMetaData's codec ids and audio rate agree with the stream's sequence headers."""
    found = metadata_of(log)
    if found is None or not isinstance(found[1], dict):
        return [not_run(rule, "the client sent no onMetaData array")]
    arr = found[1]
    problems = []
    vsh = next((m for m in _media(log, 9) if m.raw.payload and media.is_video_sequence_header(m.raw.payload)), None)
    if vsh is not None and isinstance(arr.get("videocodecid"), (int, float)):
        tag = media.parse_video_tag(vsh.raw.payload)
        want = tag.codec_id if tag.codec_id is not None else int.from_bytes(tag.fourcc or b"\0\0\0\0", "big")
        if int(arr["videocodecid"]) != want:
            problems.append(f"videocodecid {arr['videocodecid']!r} vs {tag.codec}")
    rate = _aac_rate(log)
    if rate is not None and isinstance(arr.get("audiosamplerate"), (int, float)) and int(arr["audiosamplerate"]) != rate:
        problems.append(f"audiosamplerate {arr['audiosamplerate']!r} vs AAC config {rate}")
    if isinstance(arr.get("audiocodecid"), (int, float)) and rate is not None and int(arr["audiocodecid"]) != 10:
        problems.append(f"audiocodecid {arr['audiocodecid']!r} vs AAC (10)")
    if problems:
        return [failed(rule, "onMetaData disagrees with the stream", actual="; ".join(problems))]
    if vsh is None and rate is None:
        return [not_run(rule, "no sequence header to compare with")]
    return [passed(rule, "onMetaData agrees with the sequence headers")]


# -- audio / video --------------------------------------------------------------------------------------


def check_sequence_headers_first(log: WireLog, *, rule: str = "CL-AV-1") -> list[Finding]:
    """The AVC/AAC sequence headers come before the first coded frame of their type (FLV §E.4)."""
    findings = []
    for type_id, name, is_sh in ((9, "video", media.is_video_sequence_header), (8, "audio", media.is_audio_sequence_header)):
        msgs = [m for m in _media(log, type_id) if m.raw.payload]
        if not msgs:
            continue
        first = msgs[0]
        needs_sh = type_id == 9 or (first.raw.payload[0] >> 4) == 10
        if needs_sh and not is_sh(first.raw.payload):
            findings.append(failed(rule, f"the first {name} message is a coded frame, not the sequence header",
                                   expected=f"{name} sequence header first", actual=first.raw.payload[:2].hex()))
    if not _media(log):
        return [not_run(rule, "the client sent no media")]
    return findings or [passed(rule, "sequence headers before coded frames")]


def check_first_video_keyframe(log: WireLog, *, rule: str = "CL-AV-2") -> list[Finding]:
    """The first coded video frame is a keyframe."""
    frames = [m for m in _media(log, 9) if _coded(m)]
    if not frames:
        return [not_run(rule, "the client sent no coded video frame")]
    if media.is_video_keyframe(frames[0].raw.payload):
        return [passed(rule, "first coded video frame is a keyframe")]
    return [failed(rule, "the first coded video frame is not a keyframe", expected="keyframe",
                   actual=f"frame type {frames[0].raw.payload[0] >> 4}")]


def _avc_nalus(payload: bytes, length_size: int) -> list[bytes]:
    tag = media.parse_video_tag(payload)
    return [bytes(n) for n in media.split_nalus(tag.body, length_size)]


def _avc_config(log: WireLog) -> Any | None:
    for m in _media(log, 9):
        if m.raw.payload and media.is_video_sequence_header(m.raw.payload):
            tag = media.parse_video_tag(m.raw.payload)
            if tag.codec == "avc":
                return media.AvcDecoderConfig.parse(tag.body)
    return None


def _hevc_config(payload: bytes) -> tuple[int, dict[int, set[bytes]]]:
    """(NAL length size, {NAL type: parameter sets}) of an HEVCDecoderConfigurationRecord
    (ISO/IEC 14496-15 §8.3.3.1): 22 fixed bytes, then arrays of (type, count, length-prefixed NALs)."""
    view = bytes(payload)
    if len(view) < 23:
        raise ProtocolError("HEVCDecoderConfigurationRecord shorter than 23 bytes", rule="AV-1")
    length_size = (view[21] & 0x03) + 1
    sets: dict[int, set[bytes]] = {}
    pos, arrays = 23, view[22]
    for _ in range(arrays):
        if pos + 3 > len(view):
            raise ProtocolError("hvcC array header cut short", rule="AV-1")
        nal_type, count = view[pos] & 0x3F, int.from_bytes(view[pos + 1:pos + 3], "big")
        pos += 3
        for _ in range(count):
            n = int.from_bytes(view[pos:pos + 2], "big")
            if pos + 2 + n > len(view):
                raise ProtocolError("hvcC NAL unit runs past the record", rule="AV-1")
            sets.setdefault(nal_type, set()).add(view[pos + 2:pos + 2 + n])
            pos += 2 + n
    return length_size, sets


def _video_config(log: WireLog) -> tuple[str, int, dict[int, set[bytes]]] | None:
    """(codec, NAL length size, parameter sets by NAL type) from the first sequence header."""
    for m in _media(log, 9):
        if m.raw.payload and media.is_video_sequence_header(m.raw.payload):
            tag = media.parse_video_tag(m.raw.payload)
            if tag.codec == "avc":
                cfg = media.AvcDecoderConfig.parse(tag.body)
                return "avc", cfg.length_size, {7: set(cfg.sps), 8: set(cfg.pps)}
            if tag.codec == "hevc":
                size, sets = _hevc_config(tag.body)
                return "hevc", size, sets
    return None


def check_avc_config_matches_inband(log: WireLog, *, rule: str = "CL-AV-3") -> list[Finding]:
    """Parameter sets repeated in-band in keyframes equal those of the decoder configuration record
    (AVC: SPS/PPS, NAL types 7/8; HEVC: VPS/SPS/PPS, NAL types 32/33/34)."""
    try:
        found = _video_config(log)
    except ProtocolError as exc:
        return [failed(rule, "the video sequence header does not parse", actual=str(exc))]
    if found is None:
        return [not_run(rule, "no AVC or HEVC sequence header")]
    codec, length_size, sets = found
    param_types = (7, 8) if codec == "avc" else (32, 33, 34)
    inband: set[tuple[int, bytes]] = set()
    for m in _media(log, 9):
        if _coded(m) and media.is_video_keyframe(m.raw.payload):
            try:
                nalus = [bytes(n) for n in media.split_nalus(media.parse_video_tag(m.raw.payload).body, length_size)]
            except ProtocolError:
                continue
            for n in nalus:
                t = (n[0] & 0x1F) if codec == "avc" else ((n[0] >> 1) & 0x3F) if n else -1
                if n and t in param_types:
                    inband.add((t, n))
    if not inband:
        return [passed(rule, f"no in-band parameter sets; the {codec} sequence header alone configures the decoder")]
    wrong = [f"NAL type {t} {n[:8].hex()}" for t, n in inband if n not in sets.get(t, set())]
    if wrong:
        return [failed(rule, f"in-band parameter sets differ from the {codec} sequence header",
                       expected="the same parameter sets", actual=", ".join(wrong[:3]))]
    return [passed(rule, f"{len(inband)} in-band {codec} parameter sets match the sequence header")]


def check_video_layout(log: WireLog, *, rule: str = "CL-AV-4") -> list[Finding]:
    """Every video message parses (FrameType/CodecID, AVC packet type, CompositionTime) and its NAL
    unit lengths cover the body exactly."""
    msgs = [m for m in _media(log, 9) if m.raw.payload]
    if not msgs:
        return [not_run(rule, "the client sent no video")]
    try:
        cfg = _avc_config(log)
    except ProtocolError as exc:
        return [failed(rule, "the AVC sequence header does not parse", actual=str(exc))]
    for m in msgs:
        try:
            tag = media.parse_video_tag(m.raw.payload)
            if cfg is not None and tag.codec == "avc" and not tag.sequence_header and tag.packet_type == 1:
                media.split_nalus(tag.body, cfg.length_size)
        except ProtocolError as exc:
            return [failed(rule, f"video message {m.index} is malformed", actual=str(exc))]
    return [passed(rule, f"{len(msgs)} video messages well formed")]


def check_audio_layout(log: WireLog, *, rule: str = "CL-AV-5") -> list[Finding]:
    """Every audio message parses; an AAC sequence header is a valid AudioSpecificConfig."""
    msgs = [m for m in _media(log, 8) if m.raw.payload]
    if not msgs:
        return [not_run(rule, "the client sent no audio")]
    for m in msgs:
        try:
            tag = media.parse_audio_tag(m.raw.payload)
            if tag.sequence_header and tag.sound_format == 10:
                media.AudioSpecificConfig.parse(tag.body)
        except ProtocolError as exc:
            return [failed(rule, f"audio message {m.index} is malformed", actual=str(exc))]
    return [passed(rule, f"{len(msgs)} audio messages well formed")]


def check_keyframe_flags(log: WireLog, *, rule: str = "CL-AV-6") -> list[Finding]:
    """A frame flagged key holds an IDR picture and an IDR picture is flagged key (H.264)."""
    try:
        cfg = _avc_config(log)
    except ProtocolError:
        cfg = None
    if cfg is None:
        return [not_run(rule, "no AVC stream")]
    frames = [m for m in _media(log, 9) if _coded(m)]
    bad = []
    for m in frames:
        try:
            types = {n[0] & 0x1F for n in _avc_nalus(m.raw.payload, cfg.length_size) if n}
        except ProtocolError:
            continue
        key = media.is_video_keyframe(m.raw.payload)
        if key != (5 in types):
            bad.append(f"frame {m.index} flagged {'key' if key else 'inter'} with NAL types {sorted(types)}")
    if bad:
        return [failed(rule, f"{len(bad)} frames flagged against their content", expected="key iff IDR",
                       actual=bad[0])]
    return [passed(rule, f"{len(frames)} frames flagged by their content")]


def check_aac_tag_header(log: WireLog, *, rule: str = "CL-AV-7") -> list[Finding]:
    """AAC tags say 44 kHz stereo in the FLV header byte (FLV v10.1 §E.4.2.1: SoundRate 3, SoundType 1)."""
    aac = [m for m in _media(log, 8) if m.raw.payload and m.raw.payload[0] >> 4 == 10]
    if not aac:
        return [not_run(rule, "the client sent no AAC")]
    b0 = aac[0].raw.payload[0]
    if (b0 >> 2) & 3 != 3 or b0 & 1 != 1:
        return [failed(rule, "AAC tag header is not 44 kHz stereo", expected="0xAF", actual=f"0x{b0:02X}")]
    return [passed(rule, f"AAC tag header 0x{b0:02X}")]


# -- E-RTMP ----------------------------------------------------------------------------------------------


def connect_caps(log: WireLog) -> dict[str, Any]:
    cmds = _commands(log, "connect")
    obj = cmds[0][1].command_object if cmds else None
    return obj if isinstance(obj, dict) else {}


def check_caps_types(log: WireLog, *, rule: str = "CL-ERTMP-1") -> list[Finding]:
    """E-RTMP connect properties have their types: fourCcList a strict array of strings, capsEx and
    the info maps' values numbers (E-RTMP v2, "Enhancing NetConnection connect Command")."""
    obj = connect_caps(log)
    if not obj:
        return [not_run(rule, "the client sent no connect object")]
    keys = [k for k in ("fourCcList", "capsEx", "videoFourCcInfoMap", "audioFourCcInfoMap") if k in obj]
    if not keys:
        return [info(rule, "legacy client: no E-RTMP capabilities in connect")]
    problems = []
    fl = obj.get("fourCcList")
    if fl is not None and (not isinstance(fl, list) or not all(isinstance(x, str) for x in fl)):
        problems.append(f"fourCcList={fl!r}"[:80])
    ce = obj.get("capsEx")
    if ce is not None and (isinstance(ce, bool) or not isinstance(ce, (int, float))):
        problems.append(f"capsEx={ce!r}")
    for k in ("videoFourCcInfoMap", "audioFourCcInfoMap"):
        mp = obj.get(k)
        if mp is not None and (not isinstance(mp, dict) or not all(isinstance(v, (int, float)) for v in mp.values())):
            problems.append(f"{k}={mp!r}"[:80])
    if problems:
        return [failed(rule, "E-RTMP connect properties have the wrong types", actual="; ".join(problems))]
    return [passed(rule, "E-RTMP capabilities: " + ", ".join(f"{k}={obj[k]!r}"[:60] for k in keys))]


#: capsEx bit of "client supports the Reconnect Request" (E-RTMP v2 CapsExMask.Reconnect).
CAPS_EX_RECONNECT = 0x01


def advertises_reconnect(log: WireLog) -> bool:
    ce = connect_caps(log).get("capsEx")
    return isinstance(ce, (int, float)) and not isinstance(ce, bool) and int(ce) & CAPS_EX_RECONNECT != 0


def check_reconnect(first: WireLog, later: Sequence[WireLog], *, requested_at: float | None, tc_url: str,
                    window: float, rule: str = "CL-ERTMP-3") -> list[Finding]:
    """After a Reconnect Request, a client that advertised capsEx Reconnect opens a new connection and
    connects with the tcUrl it was given; one that did not may ignore it or close, but must not hang or
    crash (keep answering) -- E-RTMP v2 "Reconnect Request"."""
    if requested_at is None:
        return [not_run(rule, "the Reconnect Request was never sent")]
    advertised = advertises_reconnect(first)
    for log in later:
        cmds = _commands(log, "connect")
        if cmds:
            obj = cmds[0][1].command_object
            got = obj.get("tcUrl") if isinstance(obj, dict) else None
            if got != tc_url:
                return [failed(rule, "the client reconnected with another tcUrl", expected=tc_url, actual=repr(got))]
            return [passed(rule, f"the client reconnected to {tc_url}")]
    if advertised:
        return [failed(rule, "the client advertised Reconnect but did not reconnect",
                       expected=f"a new connection to {tc_url} within {window:g} s", actual="none")]
    if first.decode(C2S).error:
        return [failed(rule, "the Reconnect Request broke the client's session", actual=first.decode(C2S).error)]
    return [info(rule, "the client did not advertise Reconnect and did not reconnect (allowed)")]


def summary_line(findings: Iterable[Finding]) -> str:
    return "; ".join(f.line() for f in findings)


