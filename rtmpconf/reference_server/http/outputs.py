"""The HTTP outputs of every live stream: FLV and TS taps, HLS playlists, and their bookkeeping."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from rtmpconf.reference_server.config import ServerConfig
from rtmpconf.reference_server.http.flv import FlvOutput
from rtmpconf.reference_server.http.hls import HlsStream, target_for
from rtmpconf.reference_server.http.tsout import TsOutput
from rtmpconf.reference_server.streams import CachedMessage, LiveStream, MediaTap, StreamRegistry
from rtmpconf.rtmp import amf0, media

log = logging.getLogger("rtmpconf.rtmp.server.http")

#: Window of the input bitrate estimate (s).
RATE_WINDOW_S = 5.0


@dataclass(slots=True)
class StreamInfo(MediaTap):
    """What the stats API says about a stream: codecs, resolution, input rate. A tap itself."""

    video_codec: str = ""
    audio_codec: str = ""
    width: int = 0
    height: int = 0
    frame_rate: float = 0.0
    audio_rate: int = 0
    audio_channels: int = 0
    bytes_in: int = 0
    frames_in: int = 0
    keyframes_in: int = 0
    publish_started: float | None = None
    _window: list[tuple[float, int]] = field(default_factory=list)
    released: bool = False

    def on_publish_start(self, stream: LiveStream) -> None:
        self.publish_started = time.monotonic()
        self.bytes_in = self.frames_in = self.keyframes_in = 0
        self._window = []

    def on_publish_end(self, stream: LiveStream) -> None:
        self.publish_started = None

    def on_metadata(self, stream: LiveStream, msg: CachedMessage) -> None:
        try:
            values = amf0.decode_all(msg.payload)
            obj = values[1] if len(values) > 1 else {}
            if isinstance(obj, dict):
                self.width = int(obj.get("width") or self.width or 0)
                self.height = int(obj.get("height") or self.height or 0)
                self.frame_rate = float(obj.get("framerate") or self.frame_rate or 0.0)
        except Exception:  # noqa: BLE001, S110 - stats only
            pass

    def on_sequence_header(self, stream: LiveStream, msg: CachedMessage) -> None:
        try:
            if msg.type_id == 9:
                self.video_codec = media.video_codec(msg.payload)
            else:
                tag = media.parse_audio_tag(msg.payload)
                self.audio_codec = tag.codec
                if tag.codec == "aac":
                    asc = media.AudioSpecificConfig.parse(tag.body)
                    self.audio_rate, self.audio_channels = asc.sample_rate, asc.channels
        except Exception:  # noqa: BLE001, S110 - stats only
            pass

    def on_media(self, stream: LiveStream, msg: CachedMessage, keyframe: bool) -> None:
        n = len(msg.payload)
        self.bytes_in += n
        self.frames_in += 1
        if keyframe:
            self.keyframes_in += 1
        now = time.monotonic()
        w = self._window
        if w and now - w[-1][0] < 0.25:
            w[-1] = (w[-1][0], w[-1][1] + n)
        else:
            w.append((now, n))
            while w and now - w[0][0] > RATE_WINDOW_S:
                w.pop(0)

    def on_released(self, stream: LiveStream) -> None:
        self.released = True

    def bitrate_in(self) -> float:
        """Bits per second over the last few seconds."""
        w = self._window
        if not w:
            return 0.0
        span = max(time.monotonic() - w[0][0], 1.0)
        return sum(n for _, n in w) * 8 / span


@dataclass(slots=True)
class StreamOutputs:
    stream: LiveStream
    flv: FlvOutput
    ts: TsOutput
    info: StreamInfo


class HttpOutputs:
    """Attaches the HTTP outputs to every stream of a registry; finds them for requests."""

    def __init__(self, registry: StreamRegistry, config: ServerConfig) -> None:
        self.registry = registry
        self.config = config
        self.by_key: dict[tuple[str, str], StreamOutputs] = {}
        self.hls: dict[tuple[str, str], HlsStream] = {}
        self.hls_enabled = config.hls
        registry.watch(self._attach)

    def _attach(self, stream: LiveStream) -> None:
        cfg = self.config
        flv = FlvOutput(stream, cfg.player_queue_bytes, cfg.player_resume_bytes)
        ts = TsOutput(stream, cfg.player_queue_bytes, cfg.player_resume_bytes, cfg.gop_max_bytes)
        info = StreamInfo()
        outs = StreamOutputs(stream, flv, ts, info)
        self.by_key[stream.key] = outs
        if self.hls_enabled:
            hls = self.hls.get(stream.key)
            if hls is None:
                hls = self.hls[stream.key] = HlsStream(
                    stream.app, stream.name, fragment_s=cfg.hls_fragment_s,
                    target_s=target_for(cfg.hls_fragment_s, cfg.hls_target_duration_s),
                    window=cfg.hls_playlist_segments, keep_removed=cfg.hls_keep_removed)
            ts.listeners.append(hls.on_piece)
            ts.publish_listeners.append(hls.on_publish)
        for tap in (info, flv, ts):
            stream.add_tap(tap)
        janitor = _Janitor(self, outs)
        stream.add_tap(janitor)

    def get(self, app: str, name: str) -> StreamOutputs:
        """The outputs of (app, name), creating the stream (a viewer waiting for its publisher)."""
        self.registry.get_or_create(app, name)
        return self.by_key[(app, name)]

    def find_hls(self, name: str, app: str | None = None) -> HlsStream | None:
        self.expire()
        if app is not None:
            return self.hls.get((app, name))
        if ("live", name) in self.hls:
            return self.hls[("live", name)]
        for (_, n), h in self.hls.items():
            if n == name:
                return h
        return None

    def expire(self) -> None:
        now = time.monotonic()
        for key, h in list(self.hls.items()):
            if h.expired(self.config.hls_linger_s, now) and key not in self.by_key:
                del self.hls[key]


class _Janitor(MediaTap):
    """Forgets a stream's outputs when the registry drops the stream."""

    def __init__(self, owner: HttpOutputs, outs: StreamOutputs) -> None:
        self.owner = owner
        self.outs = outs

    def on_released(self, stream: LiveStream) -> None:
        if self.owner.by_key.get(stream.key) is self.outs:
            del self.owner.by_key[stream.key]
