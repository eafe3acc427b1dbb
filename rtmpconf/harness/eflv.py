"""E-FLV test vectors: a small corpus of Enhanced-FLV files made with the project's own builders
from real encoder output (PyAV's FFmpeg 8.1 encoders), each described by a manifest entry, and a
summariser of E-RTMP fields (FourCC, packet types, track ids, ModEx) shared with ``rtmpconf analyze``.

Files: ``rtmpconf/vectors/eflv/*.flv`` and ``manifest.toml`` (written by
``scripts/make_eflv_vectors.py``). Cases publish them (``load_vector``); tests check every file
against its manifest entry and decode every frame with PyAV.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtmpconf.paths import PACKAGE
from rtmpconf.records import record
from rtmpconf.rtmp import amf0, flv, media

if TYPE_CHECKING:  # testmedia is heavy to import; `rtmpconf analyze` only needs summarize()
    from rtmpconf.harness.testmedia import MediaTag

VECTORS_DIR = PACKAGE / "vectors" / "eflv"
MANIFEST = VECTORS_DIR / "manifest.toml"

_VPT_NAMES = {int(t): t.name for t in media.VideoPacketType}
_APT_NAMES = {int(t): t.name for t in media.AudioPacketType}
_MT_NAMES = {int(t): t.name for t in media.AvMultitrackType}
_MODEX_NAMES = {int(t): t.name for t in media.PacketModExType}


# -- summary of E-RTMP fields ----------------------------------------------------------------------


def _fourcc_text(value: Any) -> Any:
    """onMetaData codec ids: a FourCC number shown as its text ('hvc1'), legacy numbers as they are."""
    if isinstance(value, float) and value.is_integer() and value >= 0x20202020:
        raw = int(value).to_bytes(4, "big")
        if all(0x20 <= b < 0x7F for b in raw):
            return raw.decode("ascii")
    return value


@record
class _TrackStats:
    codecs: Counter[str]
    packet_types: Counter[str]
    frames: int = 0
    keyframes: int = 0
    first_ts: int | None = None
    last_ts: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"codecs": sorted(self.codecs), "packet_types": dict(sorted(self.packet_types.items())),
                "frames": self.frames, "keyframes": self.keyframes, "first_ts": self.first_ts,
                "last_ts": self.last_ts}


def summarize(messages: Iterable[tuple[int, int, bytes]]) -> dict[str, Any]:
    """E-RTMP fields of a message sequence ((type id, timestamp, payload)): per media type and track,
    the codecs, packet types, coded frames and keyframes; multitrack types; ModEx entries and nano
    offsets; command frames; onMetaData codec ids and track info maps (ERTMP-1..12)."""
    tracks: dict[str, dict[int, _TrackStats]] = {"video": {}, "audio": {}}
    multitrack: Counter[str] = Counter()
    modex_types: Counter[str] = Counter()
    nano: list[int] = []
    counts: Counter[str] = Counter()
    metadata: dict[str, Any] | None = None

    def stats(kind: str, track: int) -> _TrackStats:
        return tracks[kind].setdefault(track, _TrackStats(Counter(), Counter()))

    for type_id, ts, payload in messages:
        if type_id in (18, 15):
            try:
                values = amf0.decode_all(payload[1:] if type_id == 15 else payload)
            except Exception:  # noqa: BLE001 - a data message we cannot decode is only counted
                counts["undecodable_data"] += 1
                continue
            if "onMetaData" in values[:3]:
                i = values.index("onMetaData")
                obj = values[i + 1] if len(values) > i + 1 and isinstance(values[i + 1], dict) else {}
                metadata = {k: _fourcc_text(obj[k]) for k in ("videocodecid", "audiocodecid") if k in obj}
                for k in ("videoTrackIdInfoMap", "audioTrackIdInfoMap"):
                    if isinstance(obj.get(k), dict):
                        metadata[k] = {str(t): {kk: _fourcc_text(vv) for kk, vv in v.items()}
                                       if isinstance(v, dict) else v for t, v in obj[k].items()}
            continue
        if type_id not in (8, 9) or not payload:
            if type_id == 8:
                counts["silence"] += 1  # ERTMP-15: zero-length audio
            continue
        video = type_id == 9
        kind = "video" if video else "audio"
        layout = media.ex_layout(payload, video=video)
        enhanced = bool(payload[0] & 0x80) if video else payload[0] >> 4 == 9
        counts["ertmp" if enhanced else "legacy"] += 1
        if layout is None:
            if enhanced:
                tag_v = media.parse_video_tag(payload) if video else None
                if tag_v is not None and tag_v.command is not None:
                    counts["command_frames"] += 1
                else:
                    counts["unknown"] += 1
                continue
            st = stats(kind, 0)
            st.codecs[media.video_codec(payload) if video else media.audio_codec(payload)] += 1
            seq = media.is_video_sequence_header(payload) if video else media.is_audio_sequence_header(payload)
            st.packet_types["LEGACY_SEQUENCE_HEADER" if seq else "LEGACY_FRAME"] += 1
            if not seq:
                st.frames += 1
                st.keyframes += int(video and media.is_video_keyframe(payload))
            st.first_ts = ts if st.first_ts is None else st.first_ts
            st.last_ts = ts
            continue
        for _entry, modex_type in layout.modex:
            modex_types[_MODEX_NAMES.get(modex_type, f"type-{modex_type}")] += 1
        if layout.modex and layout.nano_offset:
            nano.append(layout.nano_offset)
        if layout.multitrack_type is not None:
            multitrack[_MT_NAMES.get(layout.multitrack_type, str(layout.multitrack_type))] += 1
        names = _VPT_NAMES if video else _APT_NAMES
        ptype = names.get(layout.packet_type, str(layout.packet_type))
        coded = layout.packet_type in ((1, 3) if video else (1,))
        for t in layout.tracks:
            st = stats(kind, t.track_id)
            st.codecs[t.fourcc.decode("latin-1")] += 1
            st.packet_types[ptype] += 1
            if coded:
                st.frames += 1
                st.keyframes += int(video and layout.frame_type == 1)
            st.first_ts = ts if st.first_ts is None else st.first_ts
            st.last_ts = ts
    return {
        "messages": dict(sorted(counts.items())),
        "video": {str(t): s.to_json() for t, s in sorted(tracks["video"].items())},
        "audio": {str(t): s.to_json() for t, s in sorted(tracks["audio"].items())},
        "multitrack": dict(sorted(multitrack.items())),
        "modex": dict(sorted(modex_types.items())),
        "nano_offsets": {"min": min(nano), "max": max(nano), "count": len(nano)} if nano else None,
        "metadata": metadata,
    }


def render_summary(summary: dict[str, Any], indent: str = "  ") -> list[str]:
    """Text lines for ``rtmpconf analyze``."""
    lines = []
    msgs = summary["messages"]
    lines.append(f"{indent}E-RTMP messages: {msgs.get('ertmp', 0)}, legacy: {msgs.get('legacy', 0)}"
                 + "".join(f", {k.replace('_', ' ')}: {v}" for k, v in msgs.items() if k not in ("ertmp", "legacy")))
    for kind in ("video", "audio"):
        for track, st in summary[kind].items():
            pts = ", ".join(f"{k} {v}" for k, v in st["packet_types"].items())
            key = f", keyframes {st['keyframes']}" if kind == "video" else ""
            lines.append(f"{indent}{kind} track {track}: {'/'.join(st['codecs'])}; frames {st['frames']}{key}; "
                         f"packet types: {pts}; ts {st['first_ts']}..{st['last_ts']}")
    if summary["multitrack"]:
        lines.append(f"{indent}multitrack: " + ", ".join(f"{k} {v}" for k, v in summary["multitrack"].items()))
    if summary["modex"]:
        nano = summary["nano_offsets"]
        extra = f" (TimestampOffsetNano {nano['min']}..{nano['max']} ns)" if nano else ""
        lines.append(f"{indent}ModEx: " + ", ".join(f"{k} {v}" for k, v in summary["modex"].items()) + extra)
    if summary["metadata"]:
        lines.append(f"{indent}onMetaData: {summary['metadata']}")
    return lines


# -- the committed corpus ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def manifest() -> dict[str, dict[str, Any]]:
    """Manifest entries by file name."""
    with open(MANIFEST, "rb") as fh:
        import tomllib

        data = tomllib.load(fh)
    return {v["file"]: v for v in data.get("vector", [])}


@functools.lru_cache(maxsize=32)
def load_vector(name: str) -> tuple[MediaTag, ...]:
    """The tags of ``rtmpconf/vectors/eflv/<name>`` as a publisher sends them (metadata as type 18)."""
    from rtmpconf.harness.testmedia import MediaTag

    parsed = flv.parse_flv((VECTORS_DIR / name).read_bytes())
    out = []
    for t in parsed.tags:
        if t.type_id == 18:
            values = amf0.decode_all(t.payload)
            if values[:1] == ["onMetaData"]:
                # A publisher sends file metadata as @setDataFrame (CMD-23).
                out.append(MediaTag(18, t.timestamp, bytes(amf0.encode_all("@setDataFrame", *values)), False, False))
                continue
        key = t.type_id == 9 and media.is_video_keyframe(t.payload)
        seq = (media.is_video_sequence_header(t.payload) if t.type_id == 9
               else media.is_audio_sequence_header(t.payload) if t.type_id == 8 else False)
        out.append(MediaTag(t.type_id, t.timestamp, t.payload, key, seq))
    return tuple(out)


def vector_path(name: str) -> Path:
    return VECTORS_DIR / name
