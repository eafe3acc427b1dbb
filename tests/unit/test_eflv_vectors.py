"""The committed E-FLV test vectors (rtmpconf/vectors/eflv): each file matches its manifest entry,
every coded frame of every track decodes with PyAV's FFmpeg 8.1 decoders, and FFmpeg's own FLV
demuxer reads the file (except where the manifest records a demuxer limit)."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from typing import Any

import pytest

from rtmpconf.harness import eflv
from rtmpconf.rtmp import flv, media
from rtmpconf.rtmp.errors import RemoteProtocolError

NAMES = sorted(eflv.manifest())
#: FourCC / legacy codec name -> PyAV decoder.
DECODERS = {"hvc1": "hevc", "hevc": "hevc", "avc1": "h264", "avc": "h264", "av01": "libdav1d", "vp09": "vp9",
            "vp08": "vp8", "Opus": "opus", "mp4a": "aac", "aac": "aac", "ac-3": "ac3", "ec-3": "eac3",
            ".mp3": "mp3", "fLaC": "flac"}


def test_manifest_lists_every_file() -> None:
    on_disk = sorted(p.name for p in eflv.VECTORS_DIR.glob("*.flv"))
    assert on_disk == NAMES and len(NAMES) >= 8


@pytest.mark.parametrize("name", NAMES)
def test_file_matches_manifest(name: str) -> None:
    entry = eflv.manifest()[name]
    data = eflv.vector_path(name).read_bytes()
    assert len(data) == entry["bytes"] and hashlib.sha256(data).hexdigest() == entry["sha256"]
    parsed = flv.parse_flv(data)
    assert parsed.version == 1 and parsed.trailing == 0  # ERTMP-13: no version bump
    summary = eflv.summarize((t.type_id, t.timestamp, t.payload) for t in parsed.tags)
    assert _drop_none(summary) == entry["contents"]


def _drop_none(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _drop_none(x) for k, x in v.items() if x is not None}
    return v


def _tracks(name: str) -> dict[tuple[int, int], dict[str, Any]]:
    """(type id, track id) -> {"codec", "config", "frames"} straight from the bitstream."""
    out: dict[tuple[int, int], dict[str, Any]] = {}
    for t in flv.parse_flv(eflv.vector_path(name).read_bytes()).tags:
        if t.type_id not in (8, 9) or not t.payload:
            continue
        video = t.type_id == 9
        layout = media.ex_layout(t.payload, video=video)
        if layout is None:  # legacy AVC / AAC (track 0)
            tag: Any = media.parse_video_tag(t.payload) if video else media.parse_audio_tag(t.payload)
            tr = out.setdefault((t.type_id, 0), {"codec": tag.codec, "config": None, "frames": []})
            if tag.sequence_header:
                tr["config"] = bytes(tag.body)
            else:
                tr["frames"].append(bytes(tag.body))
            continue
        for track in layout.tracks:
            tr = out.setdefault((t.type_id, track.track_id),
                                {"codec": track.fourcc.decode(), "config": None, "frames": []})
            data = track.data
            if layout.packet_type == 0:
                tr["config"] = data
            elif layout.packet_type in ((1, 3) if video else (1,)):
                if video and layout.packet_type == 1 and track.fourcc in media.FourCC.WITH_COMPOSITION_TIME:
                    data = data[3:]  # SI24 composition time (ERTMP-2)
                tr["frames"].append(data)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_every_frame_decodes(name: str) -> None:
    av = pytest.importorskip("av")
    for (type_id, track), tr in _tracks(name).items():
        ctx: Any = av.CodecContext.create(DECODERS[tr["codec"]], "r")
        config = tr["config"]
        if config:
            # fLaC SequenceStart: the marker and metadata block header come before the 34-byte STREAMINFO.
            ctx.extradata = config[8:] if config[:4] == b"fLaC" else config
        decoded = errors = 0
        for frame in tr["frames"]:
            try:
                decoded += len(ctx.decode(av.Packet(frame)))
            except av.error.FFmpegError:
                errors += 1
        try:
            decoded += len(ctx.decode(None))
        except av.error.FFmpegError:
            errors += 1
        assert errors == 0, f"{name} type {type_id} track {track} ({tr['codec']}): {errors} decode errors"
        assert decoded == len(tr["frames"]) or tr["codec"] in (".mp3", "fLaC", "Opus", "mp4a", "aac"), \
            f"{name} type {type_id} track {track}: {decoded} of {len(tr['frames'])} frames decoded"
        assert decoded > 0


@pytest.mark.parametrize("name", NAMES)
def test_ffmpeg_flv_demuxer(name: str) -> None:
    """What FFmpeg 8.1's FLV demuxer (PyAV) does with the file; limits are recorded in the manifest."""
    av = pytest.importorskip("av")
    limit = eflv.manifest()[name].get("ffmpeg_demuxer_limit")
    try:
        container = av.open(str(eflv.vector_path(name)))
    except av.error.FFmpegError:
        assert limit is not None, f"{name}: FFmpeg's FLV demuxer cannot open it"
        return
    frames = errors = 0
    with container:
        for packet in container.demux():
            if packet.stream.type not in ("video", "audio"):
                continue
            try:
                frames += len(packet.decode())
            except av.error.FFmpegError:
                errors += 1
    if limit is None:
        assert errors == 0 and frames > 0
    else:
        assert errors > 0, f"{name}: the recorded FFmpeg limit is stale ({limit})"


def test_flv_round_trip_and_cut_file() -> None:
    tags = [flv.FlvTag(18, 0, b"\x02\x00\x0aonMetaData"), flv.FlvTag(9, 0x01020304, b"\x17\x00"),
            flv.FlvTag(8, 5, b"")]
    data = flv.build_flv(tags, audio=True, video=True)
    parsed = flv.parse_flv(data)
    assert parsed.tags == tuple(tags) and parsed.has_audio and parsed.has_video and parsed.trailing == 0
    cut = flv.parse_flv(data[:-6])
    assert cut.tags == tuple(tags[:2]) and cut.trailing > 0
    assert flv.is_flv(data) and not flv.is_flv(b"RIFF0000000")
    with pytest.raises(RemoteProtocolError):
        flv.parse_flv(b"XYZ" + data[3:])


def test_load_vector_sends_metadata_with_set_data_frame() -> None:
    tags = eflv.load_vector("hvc1-opus.flv")
    from rtmpconf.rtmp import amf0
    assert amf0.decode_all(tags[0].payload)[:2] == ["@setDataFrame", "onMetaData"]
    assert any(t.keyframe for t in tags) and any(t.sequence_header for t in tags)
    assert Fraction(1, 1)  # module import sanity for the decoders above
