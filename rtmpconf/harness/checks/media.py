"""Audio/video payload checkers (catalogue AV-1..6) and the synthetic media the cases send.

Synthetic tags: small FLV tag bodies with exact, caller-chosen timestamps and sizes, each payload
unique (a sequence number follows the codec header), so a checker can find every one again at a
player. They are shaped like the real thing (AVC with length-prefixed NAL units, raw AAC) but carry
filler, which a relaying server never decodes. Real encoded media comes from ``harness.testmedia``.
(The builders are pure functions; they could move next to ``harness.testmedia``.)
"""

from __future__ import annotations

import struct
from collections.abc import Collection, Sequence

from rtmpconf.harness.checks.relay import KIND, SentLike, is_coded, match_relayed, player_media
from rtmpconf.harness.checks.timestamps import aac_cadence, aac_frames, relay_integrity
from rtmpconf.harness.testmedia import MediaTag
from rtmpconf.harness.verdict import Finding, Verdict, failed, passed
from rtmpconf.harness.wirelog import DecodedMessage, WireLog
from rtmpconf.rtmp import media

# -- synthetic media -------------------------------------------------------------------------------

#: A Baseline-profile SPS/PPS pair (320x180); the bytes only have to look like parameter sets.
SPS = bytes.fromhex("6742c00dd9414f9f9e1000000300100000030320f1429960")
PPS = bytes.fromhex("68cb8cb2")
_FILLER = bytes(range(256)) * 4
_VIDEO_NAL_KEY = 0x65  # IDR slice
_VIDEO_NAL_INTER = 0x41  # non-IDR slice


def aac_ms(n: int, sample_rate: int) -> int:
    """Timestamp offset of AAC frame n: round(n * 1024 * 1000 / rate) in exact integers (TS-15)."""
    return (2 * n * 1024 * 1000 + sample_rate) // (2 * sample_rate)


def filler(seq: int, size: int) -> bytes:
    """``size`` bytes that differ per ``seq``: runs of consecutive byte values, which never form the
    0x..FFFF.. / 0x..0000.. patterns of the timestamps the cases use (TS-5 crafts payloads that
    cannot be mistaken for an extended timestamp)."""
    start = seq % 256
    reps = size // 1024 + 1
    return ((_FILLER[start:] + _FILLER[:start]) * reps)[:size]


def avc_sequence_header(length_size: int = 4, sps: bytes = SPS, pps: bytes = PPS) -> bytes:
    """Video message: AVC sequence header with an AVCDecoderConfigurationRecord (AV-2)."""
    record = media.AvcDecoderConfig.build([sps], [pps], length_size=length_size)
    return media.build_avc_video(media.VideoFrameType.KEY, media.AvcPacketType.SEQUENCE_HEADER, 0, record)


def aac_sequence_header(sample_rate: int = 48000, channels: int = 2, *, rate_bits: int = 3,
                        size_bit: int = 1, stereo: bool = True) -> bytes:
    """Audio message: AAC sequence header (AudioSpecificConfig), with the given FLV flag bits (AV-3)."""
    asc = media.AudioSpecificConfig.build(2, sample_rate, channels)
    return media.build_aac_audio(media.AacPacketType.SEQUENCE_HEADER, asc, rate_bits, size_bit, stereo)


def video_tag(seq: int, ts: int, *, key: bool = False, size: int = 600, cts: int = 0,
              length_size: int = 4, frame_type: int | None = None) -> MediaTag:
    """An AVC NALU message of about ``size`` bytes, unique through ``seq``."""
    nal = bytes((_VIDEO_NAL_KEY if key else _VIDEO_NAL_INTER,)) + struct.pack(">I", seq) + filler(seq, max(size - 14, 0))
    body = len(nal).to_bytes(length_size, "big") + nal
    ft = frame_type if frame_type is not None else (media.VideoFrameType.KEY if key else media.VideoFrameType.INTER)
    payload = media.build_avc_video(ft, media.AvcPacketType.NALU, cts, body)
    return MediaTag(9, ts, payload, ft == media.VideoFrameType.KEY, False)


def audio_tag(seq: int, ts: int, *, size: int = 200, rate_bits: int = 3, stereo: bool = True) -> MediaTag:
    """A raw AAC message of exactly ``size`` bytes, unique through ``seq``."""
    body = struct.pack(">I", seq) + filler(seq * 7 + 3, max(size - 6, 0))
    return MediaTag(8, ts, media.build_aac_audio(media.AacPacketType.RAW, body, rate_bits, 1, stereo), False, False)


def header_tags(ts: int, *, video: bool = True, audio: bool = True, sample_rate: int = 48000,
                length_size: int = 4) -> list[MediaTag]:
    out = []
    if video:
        out.append(MediaTag(9, ts, avc_sequence_header(length_size), False, True))
    if audio:
        out.append(MediaTag(8, ts, aac_sequence_header(sample_rate), False, True))
    return out


def synthetic_stream(*, start_ms: int = 0, seconds: float = 1.0, fps: int = 25, gop: int = 25,
                     sample_rate: int = 48000, video: bool = True, audio: bool = True,
                     video_size: int = 600, key_size: int | None = None, audio_size: int = 200,
                     headers: bool = True, seq_base: int = 0) -> list[MediaTag]:
    """Sequence headers then video (40 ms at 25 fps) and AAC (exact 1024/rate cadence) by timestamp.

    Timestamps are not wrapped; mask them when a case crosses 2**32.
    """
    tags: list[tuple[int, int, MediaTag]] = []
    if video:
        for i in range(max(1, round(seconds * fps))):
            ts = start_ms + (2 * i * 1000 + fps) // (2 * fps)
            key = i % gop == 0
            tags.append((ts, 0, video_tag(seq_base + i, ts, key=key, size=(key_size or video_size) if key else video_size)))
    if audio:
        n = 0
        while aac_ms(n, sample_rate) < seconds * 1000:
            ts = start_ms + aac_ms(n, sample_rate)
            tags.append((ts, 1, audio_tag(seq_base + 100_000 + n, ts, size=audio_size)))
            n += 1
    tags.sort(key=lambda x: (x[0], x[1]))
    head = header_tags(start_ms, video=video, audio=audio, sample_rate=sample_rate) if headers else []
    return head + [t for _, _, t in tags]


def relength_nalus(body: bytes, from_size: int = 4, to_size: int = 2) -> bytes:
    """Re-prefix length-prefixed NAL units with ``to_size``-byte lengths (AV-2 lengthSizeMinusOne)."""
    return b"".join(len(n).to_bytes(to_size, "big") + bytes(n) for n in media.split_nalus(body, from_size))


# -- checkers --------------------------------------------------------------------------------------


def _first_coded(msgs: Sequence[DecodedMessage], type_id: int) -> DecodedMessage | None:
    return next((m for m in msgs if m.raw.type_id == type_id and is_coded(m)), None)


def check_payloads_intact(log: WireLog, sent: Sequence[SentLike], *, rule: str, violation: Verdict = Verdict.FAIL,
                          expect_all: bool = True, first_keyframe: bool = False) -> list[Finding]:
    """AV-1/AV-2/TS-14: every A/V payload reaches the player byte for byte, in order.

    ``first_keyframe``: the player joined late, so its first coded video must also be a keyframe
    (FrameType 1) — the server's keyframe test (AV-6).
    """
    match = match_relayed(log, sent)
    out = relay_integrity(match, sent, rule=rule, violation=violation, expect_all=expect_all,
                          closed=log.closed_by is not None)
    if not out:
        kinds = sorted({KIND[m.raw.type_id] for _, m in match.pairs})
        out.append(passed(rule, f"{len(match.pairs)} {'/'.join(kinds)} messages reached the player byte-identical"))
    if first_keyframe:
        v = _first_coded(player_media(log), 9)
        if v is None:
            out.append(failed("AV-6", "no coded video reached the late joiner", expected="a keyframe first",
                              actual="none", verdict=violation))
        elif v.raw.payload[0] >> 4 != media.VideoFrameType.KEY:
            out.append(failed("AV-6", "a late joiner's first video frame is not a keyframe",
                              expected="FrameType 1", actual=f"FrameType {v.raw.payload[0] >> 4} (byte 0 "
                              f"{v.raw.payload[0]:#04x}) at message #{v.index}", message_index=v.index))
        else:
            out.append(passed("AV-6", f"late joiner starts at FrameType 1 (byte 0 {v.raw.payload[0]:#04x})"))
    return out


def check_composition_times(log: WireLog, sent: Sequence[SentLike], *, rule: str = "TS-14") -> list[Finding]:
    """TS-14: AVC CompositionTime (SI24, PTS = DTS + CTS) reaches the player bit-exact, negatives included.

    A frame whose NAL data arrived but whose 3 CTS bytes changed is named with both values (e.g. a
    server that lost the sign of -40 = 0xFFFFD8); everything else is the payload-integrity check.
    """
    by_payload = {bytes(s.payload) for s in sent if s.type_id == 9}
    by_body = {bytes(s.payload[5:]): s for s in sent if s.type_id == 9 and len(s.payload) > 5 and s.payload[1] == 1}
    out: list[Finding] = []
    seen: set[int] = set()
    for m in player_media(log, (9,)):
        p = bytes(m.raw.payload)
        if len(p) < 5 or (p[0] & 0x0F) != media.VideoCodecId.AVC or p[1] != media.AvcPacketType.NALU:
            continue
        if p in by_payload:
            seen.add(media.parse_video_tag(p).composition_time)
            continue
        origin = by_body.get(p[5:])
        if origin is not None:
            want = media.parse_video_tag(origin.payload).composition_time
            got = media.parse_video_tag(p).composition_time
            out.append(failed(rule, "a frame's CompositionTime was changed in transit",
                              expected=f"CTS {want} ms (bytes {bytes(origin.payload[2:5]).hex()})",
                              actual=f"CTS {got} ms (bytes {p[2:5].hex()}) at message #{m.index}",
                              message_index=m.index))
            break
    out += check_payloads_intact(log, sent, rule=rule)
    if not any(f.verdict is Verdict.FAIL for f in out):
        out.append(passed(rule, f"CompositionTime values {sorted(seen)} ms arrived bit-exact"))
    return out


def check_sequence_headers_first(log: WireLog, *, video_sh: bytes | None, audio_sh: bytes | None,
                                 rule: str = "AV-4") -> list[Finding]:
    """AV-4: before a player's first coded frame of a track, the *current* sequence header of that track."""
    msgs = player_media(log, (8, 9, 18))
    out: list[Finding] = []
    for t, want in ((9, video_sh), (8, audio_sh)):
        if want is None:
            continue
        first = _first_coded(msgs, t)
        if first is None:
            out.append(failed(rule, f"no coded {KIND[t]} reached the player", expected="sequence header, then frames",
                              actual="none"))
            continue
        before = [m for m in msgs if m.index < first.index and m.raw.type_id == t and not is_coded(m)]
        if not before:
            out.append(failed(rule, f"{KIND[t]} frames before any {KIND[t]} sequence header; a decoder cannot start",
                              expected=f"{KIND[t]} sequence header first", actual=f"coded {KIND[t]} at message #{first.index}",
                              message_index=first.index))
        elif bytes(before[-1].raw.payload) != want:
            out.append(failed(rule, f"the {KIND[t]} sequence header before the first frame is not the publisher's "
                              "current one", expected=want[:12].hex(" "), actual=bytes(before[-1].raw.payload[:12]).hex(" "),
                              message_index=before[-1].index))
        else:
            out.append(passed(rule, f"{KIND[t]} sequence header (message #{before[-1].index}) precedes the first "
                              f"{KIND[t]} frame (#{first.index})"))
    order = [("metadata" if m.raw.type_id == 18 else f"{KIND[m.raw.type_id]}-sh") for m in msgs
             if (m.raw.type_id == 18 and bytes(m.raw.payload[:13]).endswith(b"onMetaData"))
             or (m.raw.type_id != 18 and not is_coded(m))][:4]
    if order and out and all(f.verdict is Verdict.PASS for f in out):
        out.append(passed(rule, f"header order at the player: {', '.join(order)}"))
    return out


def check_sequence_header_switch(log: WireLog, *, old_sh: bytes, new_sh: bytes, new_frames: Collection[bytes],
                                 old_frames: Collection[bytes], role: str, rule: str = "AV-5") -> list[Finding]:
    """AV-5: after SH-A, frames, SH-B, keyframe: an existing player gets SH-B before B's first frame
    (a keyframe); a new joiner gets SH-B only, and no A frame. Violations are NON-STRICT (SHOULD)."""
    msgs = [m for m in player_media(log, (9,))]
    payloads = [bytes(m.raw.payload) for m in msgs]
    new_set, old_set = set(new_frames), set(old_frames)
    out: list[Finding] = []
    ns = Verdict.NON_STRICT
    sh_b = next((m for m, p in zip(msgs, payloads) if p == new_sh), None)
    first_b = next((m for m, p in zip(msgs, payloads) if p in new_set), None)
    if sh_b is None:
        return [failed(rule, "the player never received the new video sequence header", expected="SH-B",
                       actual=f"{sum(1 for p in payloads if p == old_sh)} copies of SH-A", verdict=ns)]
    if first_b is None:
        return [failed(rule, "no frame after the sequence-header change reached the player",
                       expected="SH-B, then a keyframe", actual="nothing", verdict=ns)]
    if first_b.index < sh_b.index:
        out.append(failed(rule, "a frame of the new configuration arrived before its sequence header",
                          expected="SH-B first", actual=f"frame #{first_b.index} before SH-B #{sh_b.index}",
                          verdict=ns, message_index=first_b.index))
    elif not media.is_video_keyframe(first_b.raw.payload):
        out.append(failed(rule, "the first frame after SH-B is not a keyframe", expected="keyframe",
                          actual=f"FrameType {first_b.raw.payload[0] >> 4} at #{first_b.index}", verdict=ns,
                          message_index=first_b.index))
    else:
        out.append(passed(rule, f"SH-B (#{sh_b.index}) precedes the new keyframe (#{first_b.index})"))
    stale = [m for m, p in zip(msgs, payloads) if m.index > sh_b.index and p in old_set]
    if stale:
        out.append(failed(rule, "frames of the old configuration after SH-B", expected="none",
                          actual=f"{len(stale)}, first #{stale[0].index}", verdict=ns, message_index=stale[0].index))
    if role == "joiner":
        old = [m for m, p in zip(msgs, payloads) if p == old_sh or p in old_set]
        if old:
            out.append(failed(rule, "a new joiner received the replaced sequence header or its frames",
                              expected="only SH-B and new frames", actual=f"{len(old)} old messages, first #{old[0].index}",
                              verdict=ns, message_index=old[0].index))
        else:
            out.append(passed(rule, "the new joiner got only the new sequence header"))
    return out


def check_aac_config_relay(log: WireLog, sent: Sequence[SentLike], sample_rate: int, *, rule: str = "AV-3") -> list[Finding]:
    """AV-3: an AAC stream whose FLV rate/type bits disagree with its AudioSpecificConfig is relayed
    byte-identical, and any re-timing follows the ASC's rate (the bits are to be ignored).

    The publisher sends the exact cadence of ``sample_rate``; a resync at the player means the server
    re-timed the audio on another clock (FAIL; the flag bits' rate is named when it fits).
    """
    out = check_payloads_intact(log, sent, rule=rule)
    frames = aac_frames(log)
    if len(frames) < 10:
        return out
    rep = aac_cadence(frames, sample_rate)
    span = (frames[-1].raw.timestamp - frames[0].raw.timestamp) & 0xFFFFFFFF
    mean = span / (len(frames) - 1)
    if rep.resyncs or abs(rep.drift_ms) > 1.0:
        guess = {5512: "5.5", 11025: "11", 22050: "22", 44100: "44.1"}
        near = min(guess, key=lambda r: abs(1024000 / r - mean))
        out.append(failed(rule, "the server re-timed AAC frames on a clock other than the AudioSpecificConfig's "
                          f"{sample_rate} Hz", expected=f"{1024000 / sample_rate:.3f} ms per frame",
                          actual=f"{mean:.3f} ms per frame (the FLV rate bits' {guess[near]} kHz gives "
                          f"{1024000 / near:.3f} ms), {len(rep.resyncs)} resyncs"))
    else:
        out.append(passed(rule, f"AAC timing follows the AudioSpecificConfig: {mean:.3f} ms per frame, "
                          f"max error {rep.max_error_ms} ms"))
    return out
