"""Recording published streams to FLV files (a MediaTap per stream).

Configured by the ``[record]`` table (README, "Recording")::

    [record]
    path = "recordings/{app}/{name}-{start}.flv"  # {app} {name} {start} (UTC) {seq} (rotation count)
    apps = []                                     # empty = every app
    max_bytes = 0                                 # start a new file past this size (0 = never)
    max_seconds = 0                               # ... or past this much media time (0 = never)

File layout (FLV 10.1 Annex E): header, onMetaData, the sequence headers, then every message the
RTMP players get, timestamps rebased so the file starts at 0. Every tag is written with one
``write`` of the unbuffered file, so whatever ends the server (SIGKILL included) leaves a file
that is valid up to its last whole tag. ``duration`` and ``filesize`` are written into
onMetaData as 8-byte AMF0 numbers when the file is opened and patched in place when it is
closed (clean unpublish, publisher reset, rotation, server shutdown). A new file starts at a
video keyframe (or any audio frame of an audio-only stream), with the headers again.

Names in the path template come from the app and stream name (already refused when path-unsafe,
ROB-7); any character outside ``[A-Za-z0-9._-]`` becomes ``_`` and the result must stay under the
template's fixed directory.
"""

from __future__ import annotations

import logging
import re
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from rtmpconf.reference_server.streams import CachedMessage, LiveStream, MediaTap
from rtmpconf.rtmp import amf0

if TYPE_CHECKING:
    from rtmpconf.reference_server.streams import StreamRegistry

log = logging.getLogger("rtmpconf.rtmp.server.record")

#: FLV file header (E.2): "FLV", version 1, audio+video flags, header size 9; then PreviousTagSize0.
FLV_HEADER = b"FLV\x01\x05\x00\x00\x00\x09" + b"\x00\x00\x00\x00"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_MS = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class RecordConfig:
    path: str = "recordings/{app}/{name}-{start}.flv"
    apps: tuple[str, ...] = ()
    max_bytes: int = 0
    max_seconds: float = 0.0

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> RecordConfig:
        unknown = set(raw) - {"path", "apps", "max_bytes", "max_seconds"}
        if unknown:
            raise ValueError(f"unknown [record] keys: {', '.join(sorted(unknown))}")
        cfg = cls(str(raw.get("path", cls.path)), tuple(str(a) for a in raw.get("apps", [])),
                  int(raw.get("max_bytes", 0)), float(raw.get("max_seconds", 0.0)))
        if "{name}" not in cfg.path:
            raise ValueError("[record] path must contain {name}")
        if cfg.max_bytes < 0 or cfg.max_seconds < 0:
            raise ValueError("[record] max_bytes and max_seconds must not be negative")
        try:
            cfg.path.format(app="a", name="n", start="s", seq=0)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"[record] path: bad template {cfg.path!r} ({exc})") from None
        return cfg


def safe(part: str) -> str:
    return _UNSAFE.sub("_", part) or "_"


def tag(type_id: int, timestamp: int, payload: bytes) -> bytes:
    """One FLV tag (E.4.1) and its PreviousTagSize."""
    ts = timestamp & _MS
    head = struct.pack(">B", type_id) + len(payload).to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(3, "big") \
        + bytes([ts >> 24]) + b"\x00\x00\x00"
    return head + payload + struct.pack(">I", 11 + len(payload))


class FlvFile:
    """One open recording: header and metadata written, tags appended, metadata patched on close."""

    def __init__(self, path: Path, metadata: CachedMessage | None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh: BinaryIO = open(path, "wb", buffering=0)  # noqa: SIM115 - closed in close()
        self.size = 0
        self.base: int | None = None  #: RTMP timestamp at file time 0
        self.last_ts = 0  #: largest file timestamp written (ms)
        self.frames = 0
        self._write(FLV_HEADER)
        obj: dict[str, Any] = {}
        if metadata is not None:
            values = amf0.decode_all(metadata.payload)
            if len(values) > 1 and isinstance(values[1], dict):
                obj = dict(values[1])
        obj["duration"] = 0.0
        obj["filesize"] = 0.0
        body = amf0.encode_all("onMetaData", amf0.EcmaArray(obj))
        # Each patch target is "<u16 len>name" then the number marker 0x00 and 8 bytes (AMF0 §2.2).
        start = self.size + 11
        self._dur_at = start + body.index(b"\x00\x08duration\x00") + 11
        self._size_at = start + body.index(b"\x00\x08filesize\x00") + 11
        self._write(tag(18, 0, body))

    def _write(self, data: bytes) -> None:
        self.fh.write(data)  # one write per tag: a crash loses at most the tag being written
        self.size += len(data)

    def write(self, msg: CachedMessage, *, header: bool = False) -> None:
        if header:
            ts = self.last_ts  # a header's own timestamp carries no timing; keep the file monotonic
        else:
            if self.base is None:
                self.base = msg.timestamp
            ts = (msg.timestamp - self.base) & _MS if _serial_ge(msg.timestamp, self.base) else 0
            self.last_ts = max(self.last_ts, ts)
            self.frames += 1
        self._write(tag(msg.type_id, ts, msg.payload))

    def close(self) -> None:
        if self.fh.closed:
            return
        try:
            self.fh.seek(self._dur_at)
            self.fh.write(struct.pack(">d", self.last_ts / 1000.0))
            self.fh.seek(self._size_at)
            self.fh.write(struct.pack(">d", float(self.size)))
        finally:
            self.fh.close()


def _serial_ge(a: int, b: int) -> bool:
    return ((a - b) & _MS) < 0x80000000


class RecordTap(MediaTap):
    """Records one stream while it is published; rotates by size or media time at keyframes."""

    def __init__(self, recorder: Recorder, stream: LiveStream) -> None:
        self.recorder = recorder
        self.stream = stream
        self.file: FlvFile | None = None
        self.seq = 0
        self.start = ""
        self.files: list[Path] = []

    def _open(self) -> None:
        stream = self.stream
        path = self.recorder.path_for(stream.app, stream.name, self.start, self.seq)
        self.file = FlvFile(path, stream.metadata)
        self.files.append(path)
        self.recorder.files.append(path)
        for m in (stream.video_sh, stream.audio_sh):
            if m is not None:
                self.file.write(m, header=True)
        log.info("recording %s/%s to %s", stream.app, stream.name, path)

    def _close(self) -> None:
        if self.file is not None:
            self.file.close()
            log.info("recorded %s: %d frames, %.3f s, %d bytes", self.file.path, self.file.frames,
                     self.file.last_ts / 1000, self.file.size)
            self.file = None

    def on_publish_start(self, stream: LiveStream) -> None:
        self._close()
        self.start = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        self.seq = 0
        self._open()

    def on_publish_end(self, stream: LiveStream) -> None:
        self._close()

    def on_released(self, stream: LiveStream) -> None:
        self._close()
        self.recorder.taps.discard(self)

    def on_metadata(self, stream: LiveStream, msg: CachedMessage) -> None:
        if self.file is not None and self.file.frames == 0:
            # Metadata sent right after publish: start the file again with it (still empty).
            path = self.file.path
            self.file.fh.close()
            self.files.remove(path)
            self.recorder.files.remove(path)
            self._open()
        elif self.file is not None:
            self.file.write(msg, header=True)

    def on_sequence_header(self, stream: LiveStream, msg: CachedMessage) -> None:
        if self.file is not None:
            self.file.write(msg, header=True)

    def on_media(self, stream: LiveStream, msg: CachedMessage, keyframe: bool) -> None:
        f = self.file
        if f is None:
            return
        cfg = self.recorder.config
        if f.frames and (keyframe or (msg.type_id == 8 and stream.video_sh is None)):
            too_big = cfg.max_bytes and f.size >= cfg.max_bytes
            too_long = cfg.max_seconds and f.base is not None and \
                ((msg.timestamp - f.base) & _MS) >= cfg.max_seconds * 1000
            if too_big or too_long:
                self._close()
                self.seq += 1
                self._open()
                f = self.file
                assert f is not None
        f.write(msg)


class Recorder:
    """One per server: a RecordTap on every stream of a recorded app."""

    def __init__(self, config: RecordConfig, registry: StreamRegistry) -> None:
        self.config = config
        self.taps: set[RecordTap] = set()
        self.files: list[Path] = []
        template = Path(config.path)
        # The part of the template before its first field: every recording must stay under it.
        root_parts: list[str] = []
        for p in template.parts:
            if "{" in p:
                break
            root_parts.append(p)
        self.root = Path(*root_parts).resolve() if root_parts else Path.cwd().resolve()
        registry.watch(self._on_new_stream)

    def _on_new_stream(self, stream: LiveStream) -> None:
        if not self.config.apps or stream.app in self.config.apps:
            tap = RecordTap(self, stream)
            self.taps.add(tap)
            stream.add_tap(tap)

    def path_for(self, app: str, name: str, start: str, seq: int) -> Path:
        path = Path(self.config.path.format(app=safe(app), name=safe(name), start=start, seq=seq)).resolve()
        if self.root not in path.parents:
            raise ValueError(f"recording path {path} leaves {self.root}")
        if seq and "{seq}" not in self.config.path:
            path = path.with_name(f"{path.stem}-{seq}{path.suffix}")
        return path

    def close(self) -> None:
        for tap in list(self.taps):
            tap._close()

