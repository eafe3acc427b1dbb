"""A sans-IO MPEG-2 transport stream muxer for one live program (ISO/IEC 13818-1).

Bytes out only, no I/O and no clock: the caller feeds coded frames with their 90 kHz times.

* PAT and PMT (§2.4.4.3, §2.4.4.8) before the first frame and again before every video
  keyframe, so any keyframe is a place to start decoding (HTTP-TS joiners, HLS segments: RFC 8216
  §3.2 wants PAT/PMT at the start of each segment).
* PES per access unit (§2.4.3.6): video with PTS and DTS, audio with PTS; PES_packet_length 0
  (unbounded) for video, as §2.4.3.7 allows for video elementary streams in transport streams.
* PCR (§2.4.3.5) in the adaptation field of the first packet of each PES on the PCR PID, a fixed
  delay before that PES's DTS; random_access_indicator on keyframes.
* Continuity counters (§2.4.3.3): per PID, incremented on every packet with payload, mod 16.
* H.264 (ITU-T H.222.0 §2.14): Annex B start codes, an access unit delimiter first in every access
  unit, SPS/PPS in front of every IDR; HEVC likewise (AUD type 35, VPS/SPS/PPS). AAC in ADTS.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

PACKET_SIZE: Final = 188
SYNC: Final = 0x47
PAT_PID: Final = 0x0000
PMT_PID: Final = 0x1000
VIDEO_PID: Final = 0x0100
AUDIO_PID: Final = 0x0101
PROGRAM_NUMBER: Final = 1
#: stream_type values (ISO/IEC 13818-1 Table 2-34 and amendments).
STREAM_TYPE_H264: Final = 0x1B
STREAM_TYPE_HEVC: Final = 0x24
STREAM_TYPE_AAC_ADTS: Final = 0x0F
STREAM_ID_VIDEO: Final = 0xE0
STREAM_ID_AUDIO: Final = 0xC0
#: PCR runs this far ahead of the DTS it travels with (the decoder's buffering time), 90 kHz.
PCR_DELAY_TICKS: Final = 200 * 90
_MASK33: Final = (1 << 33) - 1

_AUD_H264: Final = b"\x00\x00\x00\x01\x09\xf0"  # nal_unit_type 9, primary_pic_type 7 (any)
_AUD_HEVC: Final = b"\x00\x00\x00\x01\x46\x01\x50"  # nal_unit_type 35, pic_type 2 (any)
_START: Final = b"\x00\x00\x00\x01"


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i << 24
        for _ in range(8):
            c = ((c << 1) ^ 0x04C11DB7) if c & 0x80000000 else (c << 1)
        table.append(c & 0xFFFFFFFF)
    return table


_CRC_TABLE: Final = _crc_table()


def crc32_mpeg2(data: bytes) -> int:
    """CRC_32 of PSI sections (§2.4.4, Annex A): poly 0x04C11DB7, init all ones, no reflection."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[((crc >> 24) ^ b) & 0xFF]
    return crc


def encode_timestamp(prefix: int, ticks: int) -> bytes:
    """A 5-byte PTS or DTS field (§2.4.3.7): 4-bit prefix, 33 bits split 3/15/15 with marker bits."""
    t = ticks & _MASK33
    return bytes((
        (prefix << 4) | ((t >> 29) & 0x0E) | 1,
        (t >> 22) & 0xFF,
        ((t >> 14) & 0xFE) | 1,
        (t >> 7) & 0xFF,
        ((t << 1) & 0xFE) | 1,
    ))


def encode_pcr(ticks90: int, ext: int = 0) -> bytes:
    """program_clock_reference (§2.4.3.5): 33-bit base, 6 reserved bits, 9-bit extension."""
    base = ticks90 & _MASK33
    return struct.pack(">IH", base >> 1, ((base & 1) << 15) | 0x7E00 | (ext & 0x1FF))


@dataclass(frozen=True, slots=True)
class VideoConfig:
    """Parameter sets of the video track, in Annex B order."""

    codec: str  #: "h264" | "hevc"
    length_size: int  #: NALU length field size of the FLV frames
    parameter_sets: tuple[bytes, ...]  #: SPS, PPS (H.264) or VPS, SPS, PPS (HEVC), NAL headers included


@dataclass(frozen=True, slots=True)
class AudioConfig:
    """What an ADTS header needs (ISO/IEC 14496-3 §1.A.2.2)."""

    profile: int  #: ADTS profile = MPEG-4 audio object type - 1 (1 = AAC LC)
    frequency_index: int  #: samplingFrequencyIndex (0..12)
    channel_config: int  #: channelConfiguration (0..7)


def adts_header(cfg: AudioConfig, payload_len: int) -> bytes:
    """7-byte ADTS header, no CRC (protection_absent 1), buffer fullness 0x7FF (VBR)."""
    length = payload_len + 7
    return bytes((
        0xFF,
        0xF1,  # syncword low nibble, ID 0 (MPEG-4), layer 00, protection_absent 1
        ((cfg.profile & 3) << 6) | ((cfg.frequency_index & 0xF) << 2) | ((cfg.channel_config >> 2) & 1),
        ((cfg.channel_config & 3) << 6) | ((length >> 11) & 3),
        (length >> 3) & 0xFF,
        ((length & 7) << 5) | 0x1F,
        0xFC,  # buffer fullness low bits, number_of_raw_data_blocks_in_frame 0
    ))


class TsMuxer:
    """One program: optional video and audio elementary streams. Every method returns TS bytes."""

    def __init__(self, *, pcr_delay_ticks: int = PCR_DELAY_TICKS) -> None:
        self.video: VideoConfig | None = None
        self.audio: AudioConfig | None = None
        self.pcr_delay = pcr_delay_ticks
        self.cc: dict[int, int] = {}
        self.pmt_version = 0
        self._pmt_key: tuple[str | None, bool] | None = None
        self.last_pcr: int | None = None
        self.packets = 0

    # -- configuration ---------------------------------------------------------------------

    def set_video(self, cfg: VideoConfig | None) -> None:
        self.video = cfg

    def set_audio(self, cfg: AudioConfig | None) -> None:
        self.audio = cfg

    @property
    def pcr_pid(self) -> int:
        return VIDEO_PID if self.video is not None else AUDIO_PID

    # -- packets ---------------------------------------------------------------------------

    def _next_cc(self, pid: int) -> int:
        cc = self.cc.get(pid, -1)
        cc = (cc + 1) & 0x0F
        self.cc[pid] = cc
        return cc

    def _section_packet(self, pid: int, section: bytes) -> bytes:
        body = b"\x00" + section  # pointer_field 0
        head = struct.pack(">BHB", SYNC, 0x4000 | pid, 0x10 | self._next_cc(pid))
        self.packets += 1
        return head + body + b"\xff" * (PACKET_SIZE - 4 - len(body))

    def pat(self) -> bytes:
        program = struct.pack(">HH", PROGRAM_NUMBER, 0xE000 | PMT_PID)
        # table_id 0; section_syntax_indicator 1, '0', reserved '11', section_length (12 bits)
        section_length = 5 + len(program) + 4
        sec = struct.pack(">BHHBBB", 0x00, 0xB000 | section_length, 1, 0xC1, 0, 0) + program
        sec += struct.pack(">I", crc32_mpeg2(sec))
        return self._section_packet(PAT_PID, sec)

    def pmt(self) -> bytes:
        key = (self.video.codec if self.video else None, self.audio is not None)
        if self._pmt_key is not None and key != self._pmt_key:
            self.pmt_version = (self.pmt_version + 1) & 0x1F
        self._pmt_key = key
        streams = b""
        if self.video is not None:
            st = STREAM_TYPE_HEVC if self.video.codec == "hevc" else STREAM_TYPE_H264
            streams += struct.pack(">BHH", st, 0xE000 | VIDEO_PID, 0xF000)
        if self.audio is not None:
            streams += struct.pack(">BHH", STREAM_TYPE_AAC_ADTS, 0xE000 | AUDIO_PID, 0xF000)
        section_length = 9 + len(streams) + 4
        sec = struct.pack(">BHHBBBHH", 0x02, 0xB000 | section_length, PROGRAM_NUMBER,
                          0xC1 | (self.pmt_version << 1), 0, 0, 0xE000 | self.pcr_pid, 0xF000) + streams
        sec += struct.pack(">I", crc32_mpeg2(sec))
        return self._section_packet(PMT_PID, sec)

    def psi(self) -> bytes:
        return self.pat() + self.pmt()

    def _pes_packets(self, pid: int, pes: bytes, pcr: int | None, random_access: bool) -> bytes:
        """Split one PES into packets: PUSI on the first, PCR/RAI in its adaptation field, the
        last one padded with adaptation-field stuffing (§2.4.3.5: stuffing bytes are 0xFF)."""
        out: list[bytes] = []
        pos = 0
        n = len(pes)
        first = True
        while pos < n:
            # af = adaptation field after its length byte (flags + optional fields), or None.
            af: bytes | None = None
            if first and (pcr is not None or random_access):
                flags = (0x40 if random_access else 0) | (0x10 if pcr is not None else 0)
                af = bytes((flags,)) + (encode_pcr(pcr) if pcr is not None else b"")
            room = PACKET_SIZE - 4 - (0 if af is None else 1 + len(af))
            left = n - pos
            if left < room:
                pad = room - left
                if af is not None:
                    af += b"\xff" * pad
                elif pad == 1:
                    af = b""  # adaptation_field_length 0: one byte of stuffing
                else:
                    af = b"\x00" + b"\xff" * (pad - 2)
                room = left
            if af is None:
                head = struct.pack(">BHB", SYNC, (0x4000 if first else 0) | pid, 0x10 | self._next_cc(pid))
            else:
                head = struct.pack(">BHBB", SYNC, (0x4000 if first else 0) | pid, 0x30 | self._next_cc(pid),
                                   len(af)) + af
            out.append(head + pes[pos:pos + room])
            pos += room
            first = False
        self.packets += len(out)
        return b"".join(out)

    def _pcr_for(self, dts: int) -> int:
        pcr = (dts - self.pcr_delay) & _MASK33
        if self.last_pcr is not None and ((pcr - self.last_pcr) & _MASK33) >= (1 << 32):
            pcr = self.last_pcr  # never backwards
        self.last_pcr = pcr
        return pcr

    def video_frame(self, pts: int, dts: int, nalus: list[bytes] | list[memoryview], keyframe: bool) -> bytes:
        """One access unit from its NAL units (no length prefixes); PSI first when ``keyframe``."""
        cfg = self.video
        assert cfg is not None, "set_video() first"
        hevc = cfg.codec == "hevc"
        parts = [_AUD_HEVC if hevc else _AUD_H264]
        types = [((bytes(n[:1])[0] >> 1) & 0x3F) if hevc else (bytes(n[:1])[0] & 0x1F) for n in nalus if len(n)]
        if keyframe:
            ps_types = (32, 33, 34) if hevc else (7, 8)
            if not any(t in ps_types for t in types):
                for ps in cfg.parameter_sets:
                    parts += (_START, ps)
        aud = 35 if hevc else 9
        for n, t in zip((n for n in nalus if len(n)), types):
            if t == aud:
                continue
            parts += (_START, n)
        es = b"".join(parts)
        header = encode_timestamp(0x3, pts) + encode_timestamp(0x1, dts)
        # PES: start code, stream_id, PES_packet_length 0, '10' + data_alignment_indicator,
        # PTS_DTS_flags '11', PES_header_data_length 10.
        pes = b"\x00\x00\x01" + bytes((STREAM_ID_VIDEO, 0, 0, 0x84, 0xC0, 10)) + header + es
        out = self.psi() if keyframe else b""
        pcr = self._pcr_for(dts) if self.pcr_pid == VIDEO_PID else None
        return out + self._pes_packets(VIDEO_PID, pes, pcr, keyframe)

    def audio_frame(self, pts: int, raw: bytes | memoryview) -> bytes:
        """One AAC raw data block as an ADTS frame in its own PES (PTS only)."""
        cfg = self.audio
        assert cfg is not None, "set_audio() first"
        es = adts_header(cfg, len(raw)) + bytes(raw)
        length = 3 + 5 + len(es)
        pes = b"\x00\x00\x01" + struct.pack(">BHBBB", STREAM_ID_AUDIO, length, 0x84, 0x80, 5) \
            + encode_timestamp(0x2, pts) + es
        pcr = self._pcr_for(pts) if self.pcr_pid == AUDIO_PID else None
        return self._pes_packets(AUDIO_PID, pes, pcr, random_access=self.video is None)
