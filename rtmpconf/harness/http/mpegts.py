"""Sans-IO MPEG-2 transport stream reader (ISO/IEC 13818-1): packets, PSI, PES, PCR.

It records what a checker needs and judges nothing: packet headers (PID, PUSI, continuity
counter, adaptation field flags, PCR), PAT/PMT sections with their CRC, and PES packets with
PTS/DTS and their elementary-stream bytes. Video access units are classified by NAL unit type
(H.264 IDR 5, HEVC IRAP 16..21) so checkers can see where a random access point is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PACKET = 188
SYNC = 0x47
VIDEO_TYPES = {0x1B: "h264", 0x24: "hevc"}
AUDIO_TYPES = {0x0F: "aac", 0x03: "mp3", 0x04: "mp3", 0x11: "aac-latm"}


def crc32_mpeg2(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


@dataclass(frozen=True, slots=True)
class TsPacket:
    index: int
    offset: int
    pid: int
    pusi: bool
    tei: bool  #: transport_error_indicator
    cc: int
    has_payload: bool  #: adaptation_field_control 01 or 11
    discontinuity: bool  #: adaptation field discontinuity_indicator
    random_access: bool  #: adaptation field random_access_indicator
    pcr: int | None  #: PCR in 27 MHz units (base * 300 + ext)


@dataclass(frozen=True, slots=True)
class PsiSection:
    packet: int  #: index of the packet carrying its start
    pid: int
    table_id: int
    crc_ok: bool
    version: int


@dataclass(slots=True)
class Pes:
    pid: int
    packet: int  #: index of its first packet
    stream_id: int
    pts: int | None
    dts: int | None
    data: bytes = b""  #: elementary stream bytes
    complete: bool = False  #: the next PUSI (or a declared length) closed it
    random_access: bool = False  #: the first packet had random_access_indicator

    @property
    def decode_ts(self) -> int | None:
        return self.dts if self.dts is not None else self.pts


@dataclass(slots=True)
class TsReader:
    """Feed bytes; packets, sections and PES accumulate. Sync loss is recorded, not fatal."""

    packets: list[TsPacket] = field(default_factory=list)
    sections: list[PsiSection] = field(default_factory=list)
    pes: list[Pes] = field(default_factory=list)
    sync_errors: list[int] = field(default_factory=list)  #: offsets where a packet lacked 0x47
    pmt_pid: int | None = None
    pcr_pid: int | None = None
    streams: dict[int, int] = field(default_factory=dict)  #: PID -> stream_type from the PMT
    _buf: bytearray = field(default_factory=bytearray)
    _offset: int = 0
    _open: dict[int, tuple[Pes, list[bytes], int | None]] = field(default_factory=dict)
    _sections: dict[int, bytearray] = field(default_factory=dict)

    def feed(self, data: bytes) -> None:
        self._buf += data
        buf = self._buf
        pos = 0
        n = len(buf)
        while n - pos >= PACKET:
            if buf[pos] != SYNC:
                self.sync_errors.append(self._offset + pos)
                # Resynchronise on the next 0x47 that is followed by another one a packet later.
                nxt = pos + 1
                while nxt < n and not (buf[nxt] == SYNC and (nxt + PACKET >= n or buf[nxt + PACKET] == SYNC)):
                    nxt += 1
                pos = nxt
                continue
            self._packet(bytes(buf[pos:pos + PACKET]), self._offset + pos)
            pos += PACKET
        del buf[:pos]
        self._offset += pos

    def finish(self) -> None:
        """The body ended: open PES are kept as incomplete."""
        for pes, parts, _ in self._open.values():
            pes.data = b"".join(parts)
        self._open.clear()

    @property
    def trailing(self) -> int:
        return len(self._buf)

    def _packet(self, p: bytes, offset: int) -> None:
        tei = bool(p[1] & 0x80)
        pusi = bool(p[1] & 0x40)
        pid = ((p[1] & 0x1F) << 8) | p[2]
        afc = (p[3] >> 4) & 3
        cc = p[3] & 0x0F
        pos = 4
        disc = rai = False
        pcr = None
        if afc in (2, 3):
            alen = p[4]
            if alen > 0:
                flags = p[5]
                disc = bool(flags & 0x80)
                rai = bool(flags & 0x40)
                if flags & 0x10 and alen >= 7:
                    base = (p[6] << 25) | (p[7] << 17) | (p[8] << 9) | (p[9] << 1) | (p[10] >> 7)
                    ext = ((p[10] & 1) << 8) | p[11]
                    pcr = base * 300 + ext
            pos = 5 + alen
        has_payload = afc in (1, 3)
        pkt = TsPacket(len(self.packets), offset, pid, pusi, tei, cc, has_payload, disc, rai, pcr)
        self.packets.append(pkt)
        if not has_payload or pos >= PACKET:
            return
        payload = p[pos:]
        if pid == 0 or pid == self.pmt_pid:
            self._psi(pkt, pid, payload, pusi)
        elif pid in self.streams:
            self._pes_payload(pkt, pid, payload, pusi)

    def _psi(self, pkt: TsPacket, pid: int, payload: bytes, pusi: bool) -> None:
        if pusi:
            pointer = payload[0]
            self._sections[pid] = bytearray(payload[1 + pointer:])
        elif pid in self._sections:
            self._sections[pid] += payload
        else:
            return
        sec = self._sections[pid]
        if len(sec) < 3:
            return
        length = ((sec[1] & 0x0F) << 8) | sec[2]
        if len(sec) < 3 + length:
            return
        body = bytes(sec[:3 + length])
        del self._sections[pid]
        crc_ok = len(body) >= 8 and crc32_mpeg2(body[:-4]) == int.from_bytes(body[-4:], "big")
        table_id = body[0]
        version = (body[5] >> 1) & 0x1F if len(body) > 5 else 0
        self.sections.append(PsiSection(pkt.index, pid, table_id, crc_ok, version))
        if not crc_ok:
            return
        if table_id == 0 and pid == 0:
            i = 8
            while i + 4 <= len(body) - 4:
                prog = (body[i] << 8) | body[i + 1]
                ppid = ((body[i + 2] & 0x1F) << 8) | body[i + 3]
                if prog != 0:
                    self.pmt_pid = ppid
                    break
                i += 4
        elif table_id == 2:
            self.pcr_pid = ((body[8] & 0x1F) << 8) | body[9]
            info_len = ((body[10] & 0x0F) << 8) | body[11]
            i = 12 + info_len
            streams: dict[int, int] = {}
            while i + 5 <= len(body) - 4:
                st = body[i]
                epid = ((body[i + 1] & 0x1F) << 8) | body[i + 2]
                es_len = ((body[i + 3] & 0x0F) << 8) | body[i + 4]
                streams[epid] = st
                i += 5 + es_len
            self.streams = streams

    def _pes_payload(self, pkt: TsPacket, pid: int, payload: bytes, pusi: bool) -> None:
        if pusi:
            old = self._open.pop(pid, None)
            if old is not None:
                pes, parts, _ = old
                pes.data = b"".join(parts)
                pes.complete = True
            if len(payload) < 9 or payload[:3] != b"\x00\x00\x01":
                return
            stream_id = payload[3]
            plen = (payload[4] << 8) | payload[5]
            flags = payload[7]
            hlen = payload[8]
            pts = dts = None
            if flags & 0x80 and len(payload) >= 14:
                pts = _timestamp(payload[9:14])
            if flags & 0x40 and len(payload) >= 19:
                dts = _timestamp(payload[14:19])
            pes = Pes(pid, pkt.index, stream_id, pts, dts, random_access=pkt.random_access)
            self.pes.append(pes)
            es = payload[9 + hlen:]
            remaining = plen - 3 - hlen if plen else None
            self._open[pid] = (pes, [es], remaining)
            self._maybe_close(pid)
        elif pid in self._open:
            pes, parts, remaining = self._open[pid]
            parts.append(payload)
            self._maybe_close(pid)

    def _maybe_close(self, pid: int) -> None:
        pes, parts, remaining = self._open[pid]
        if remaining is not None and sum(len(x) for x in parts) >= remaining:
            pes.data = b"".join(parts)[:remaining]
            pes.complete = True
            del self._open[pid]


def _timestamp(b: bytes) -> int:
    return (((b[0] >> 1) & 0x07) << 30) | (b[1] << 22) | ((b[2] >> 1) << 15) | (b[3] << 7) | (b[4] >> 1)


def annexb_nalus(data: bytes) -> list[bytes]:
    """NAL units of an Annex B byte stream (start codes 00 00 01 / 00 00 00 01 removed)."""
    out: list[bytes] = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        start = i + 3
        j = data.find(b"\x00\x00\x01", start)
        end = j if j >= 0 else len(data)
        nal = data[start:end]
        if j >= 0 and nal.endswith(b"\x00"):
            nal = nal.rstrip(b"\x00")  # trailing_zero_8bits / the 4-byte start code's first zero
        if nal:
            out.append(nal)
        i = j
    return out


def nal_type(codec: str, nal: bytes) -> int:
    return (nal[0] >> 1) & 0x3F if codec == "hevc" else nal[0] & 0x1F


def is_irap(codec: str, nalus: list[bytes]) -> bool:
    """The access unit is a random access point: an IDR (H.264 type 5) or IRAP (HEVC 16..21)."""
    for nal in nalus:
        t = nal_type(codec, nal)
        if (codec == "hevc" and 16 <= t <= 21) or (codec != "hevc" and t == 5):
            return True
    return False


def parse_ts(body: bytes) -> TsReader:
    r = TsReader()
    r.feed(body)
    r.finish()
    return r
