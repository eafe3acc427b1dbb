"""MPEG-TS checkers (catalogue section 12, HTS), for HTTP-TS bodies and HLS segments alike."""

from __future__ import annotations

import itertools

from rtmpconf.harness.http.frames import first_video_pes
from rtmpconf.harness.http.mpegts import PACKET, VIDEO_TYPES, TsReader, annexb_nalus, is_irap
from rtmpconf.harness.verdict import Finding, failed, not_run, passed

#: §2.7.2: PCRs on the PCR_PID at most 0.1 s apart (27 MHz units).
PCR_MAX_INTERVAL = 27_000_000 // 10
_PCR_WRAP = (1 << 33) * 300


def check_ts_packets(r: TsReader, *, body_len: int, cut: bool) -> list[Finding]:
    """HTS-1: 188-byte packets, each starting with the sync byte 0x47, no transport errors."""
    if not r.packets:
        return [failed("HTS-1", "no transport stream packet in the body", actual=f"{body_len} bytes")]
    out = []
    if r.sync_errors:
        out.append(failed("HTS-1", f"sync byte 0x47 missing at offset {r.sync_errors[0]} "
                                   f"({len(r.sync_errors)} times)", expected="0x47 every 188 bytes",
                          actual=f"offset {r.sync_errors[0]}"))
    if not cut and body_len % PACKET:
        out.append(failed("HTS-1", f"the body is {body_len} bytes, not a whole number of 188-byte packets"))
    tei = next((p for p in r.packets if p.tei), None)
    if tei is not None:
        out.append(failed("HTS-1", f"packet {tei.index} has transport_error_indicator set"))
    return out or [passed("HTS-1", f"{len(r.packets)} packets, sync bytes in place")]


def check_ts_psi_first(r: TsReader, rule: str = "HTS-2") -> list[Finding]:
    """PAT and a PMT arrive before the first PES of the program (a decoder cannot start before)."""
    if not r.pes:
        if r.pmt_pid is None:
            return [failed(rule, "no PAT/PMT and no PES recognised", actual=f"{len(r.packets)} packets")]
        return [not_run(rule, "no PES packet was received")]
    first_pes = min(p.packet for p in r.pes)
    pat = next((s for s in r.sections if s.table_id == 0), None)
    pmt = next((s for s in r.sections if s.table_id == 2), None)
    if pat is None or pmt is None:
        return [failed(rule, "no PAT/PMT", actual="PAT" if pat else "PMT" if pmt else "neither")]
    if pat.packet > first_pes or pmt.packet > first_pes:
        return [failed(rule, "elementary stream data before the PAT/PMT", expected="PAT, PMT, then PES",
                       actual=f"PES at packet {first_pes}, PAT at {pat.packet}, PMT at {pmt.packet}")]
    # Elementary stream packets before the PMT are dropped by the reader (it does not know their
    # PID yet): check the raw packets too.
    es_pids = set(r.streams)
    early = next((p for p in r.packets[:pmt.packet] if p.pid in es_pids), None)
    if early is not None:
        return [failed(rule, f"packet {early.index} of elementary stream PID 0x{early.pid:x} before the PMT",
                       expected="PAT, PMT, then PES", actual=f"PMT at packet {pmt.packet}")]
    return [passed(rule, f"PAT (packet {pat.packet}) and PMT (packet {pmt.packet}) before the first PES")]


def check_ts_continuity(r: TsReader) -> list[Finding]:
    """HTS-3 (§2.4.3.3): per PID, continuity_counter +1 mod 16 on each packet with payload; one
    duplicate allowed; a discontinuity_indicator resets the expectation."""
    last: dict[int, tuple[int, bool]] = {}  # pid -> (cc, previous was a duplicate)
    errors = []
    for p in r.packets:
        if p.pid == 0x1FFF:
            continue  # null packets: counter undefined
        prev = last.get(p.pid)
        if not p.has_payload:
            # §2.4.3.3: "shall not be incremented when adaptation_field_control is '00' or '10'".
            if prev is not None and p.cc != prev[0] and not p.discontinuity:
                errors.append((p, prev[0], "payload-less packet changed the counter"))
            continue
        if prev is not None and not p.discontinuity:
            want = (prev[0] + 1) & 0x0F
            if p.cc == prev[0] and not prev[1]:
                last[p.pid] = (p.cc, True)
                continue
            if p.cc != want:
                errors.append((p, want, ""))
        last[p.pid] = (p.cc, False)
    if not last:
        return [failed("HTS-3", "no packet with payload")]
    if errors:
        p, want, why = errors[0]
        return [failed("HTS-3", f"continuity counter jumps on PID 0x{p.pid:x} at packet {p.index}"
                                f"{' (' + why + ')' if why else ''}; {len(errors)} discontinuities in all",
                       expected=f"cc {want}", actual=f"cc {p.cc}", packet=p.index)]
    return [passed("HTS-3", f"continuity counters continuous on {len(last)} PIDs")]


def check_ts_pcr(r: TsReader) -> list[Finding]:
    """HTS-4 (§2.4.3.5, §2.7.2): PCR on the PCR_PID, at most 0.1 s apart, never backwards."""
    if r.pcr_pid is None:
        return [not_run("HTS-4", "no PMT, so no PCR_PID")]
    pcrs = [p for p in r.packets if p.pid == r.pcr_pid and p.pcr is not None]
    if not pcrs:
        if sum(1 for p in r.packets if p.pid == r.pcr_pid) < 10:
            return [not_run("HTS-4", "too few packets on the PCR_PID to judge")]
        return [failed("HTS-4", f"no PCR on PCR_PID 0x{r.pcr_pid:x}", expected="PCR at least every 0.1 s",
                       actual="none")]
    for a, b in itertools.pairwise(pcrs):
        if b.discontinuity:
            continue
        d = (b.pcr - a.pcr) % _PCR_WRAP  # type: ignore[operator]
        if d > _PCR_WRAP // 2:
            return [failed("HTS-4", f"PCR goes backwards at packet {b.index}", expected="increasing PCR",
                           actual=f"{(d - _PCR_WRAP) / 27000:.1f} ms", packet=b.index)]
        if d > PCR_MAX_INTERVAL:
            return [failed("HTS-4", f"PCRs {d / 27000:.1f} ms apart (packets {a.index} and {b.index})",
                           expected="at most 100 ms", actual=f"{d / 27000:.1f} ms", packet=b.index)]
    return [passed("HTS-4", f"{len(pcrs)} PCRs on PID 0x{r.pcr_pid:x}, increasing, at most 100 ms apart")]


def check_ts_crc(r: TsReader) -> list[Finding]:
    """HTS-5 (§2.4.4, Annex A): PAT/PMT sections carry a correct CRC_32."""
    if not r.sections:
        return [failed("HTS-5", "no PSI section (PAT/PMT) found")]
    bad = next((s for s in r.sections if not s.crc_ok), None)
    if bad is not None:
        return [failed("HTS-5", f"table_id {bad.table_id} on PID 0x{bad.pid:x} (packet {bad.packet}) has a wrong CRC_32")]
    return [passed("HTS-5", f"{len(r.sections)} PSI sections, CRC_32 correct")]


def check_ts_starts_with_keyframe(r: TsReader, rule: str = "HTS-8", what: str = "the HTTP-TS body") -> list[Finding]:
    """The first video access unit is a random access point (IDR / IRAP)."""
    pes = first_video_pes(r)
    if pes is None:
        return [not_run(rule, f"no video PES in {what}")]
    codec = VIDEO_TYPES[r.streams[pes.pid]]
    nalus = annexb_nalus(pes.data)
    if not is_irap(codec, nalus):
        types = [((n[0] >> 1) & 0x3F) if codec == "hevc" else n[0] & 0x1F for n in nalus if n]
        return [failed(rule, f"{what} starts with a video frame that is not a random access point",
                       expected="IDR (H.264 NAL type 5) / IRAP (HEVC 16..21)",
                       actual=f"NAL unit types {types[:8]}", packet=pes.packet)]
    return [passed(rule, f"{what} starts with a {codec} random access point")]
