"""Live-stream logic: registry of published names, GOP cache, encode-once fan-out.

Fan-out model
-------------
Players of one stream that share a chunk size and a message stream id form a
:class:`FanoutGroup`. The group owns one :class:`rtmp.chunk.ChunkWriter` for the media chunk
streams (4, 5, 6), and encodes every published message **once**, with
``ChunkWriter.encode_shared``, in the compressed form that follows the previous message of the
group (the *relative* variant). The very same bytes object is written to every player that is
in step.

These bytes bypass the player's :class:`rtmp.session.Connection` on purpose: the connection's
own writer never uses the media chunk streams (its commands and control messages go on csids 2
and 3), so the two header states are independent and each keeps its own encoding order; the
server session empties the connection's buffer after every read and every send, so nothing
the connection encoded is ever overtaken by media on the same TCP stream.

A player is *in step* on a chunk stream once it has received a message there with a header
that leaves its receive state equal to the group's. Two more variants cover the other cases
and are encoded lazily, at most once per message:

* *absolute* (fmt 0): for a player's first message on a chunk stream (TS-13: "the first
  message a player receives on each csid must be fmt0"), after a join, a drop or a pause;
* *explicit* (fmt 2 instead of fmt 3): right after an absolute header the receiver's stored
  delta is the absolute timestamp (§5.3.1.2.4), so a fmt-3 "same delta" header would be
  misread; the explicit variant states the delta.

Hot path: ``_fanout`` runs once per published message per player, so it is kept to a few
attribute checks and one write of a shared bytes object for a player in step; everything else
(joins, drops, pauses, variants) goes through ``_deliver``. Writes go to the sink's transport
directly when the sink is only a pass-through to it (see :func:`_direct_io`), and the server glue
coalesces a connection's writes made while handling one read into one ``send`` (server.py).

Steady sets: with the server's compiled fan-out core, the players of a group that are in step on
every chunk stream the group uses, want every track, are not paused, dropping or waiting, and
whose connection has nothing queued, join the group's *steady set* (server.py ``SteadySet``).
A message then costs the set O(1) Python: its shared bytes are appended to the set's batch, and
at the end of the read the core sends the batch to every member's socket in one call. A member
leaves the set on any change of its state (``Player.loosen``: desync, pause, receiveAudio/Video,
removal), on any write of its own (its connection first takes the bytes batched so far, so its
order holds), on a short send (the transport queues the rest), and when the group sends on a
chunk stream the set is not in step on (the whole set dissolves, e.g. for metadata). A loose
player that takes the fast path rejoins at the first message of a read, once its transport is
empty again.

E-RTMP (tracks.py): players are grouped by what they declared in connect as well, and each group
gets every published message *rendered* for it (as published; the default track only; legacy
codec ids; ModEx removed; or nothing), once per message. Sequence headers, MultichannelConfig and
colorInfo are kept per track, and the GOP cache starts each video track at that track's latest
keyframe, so a late joiner gets every track's configuration before its frames (ERTMP-19/20).

Slow players (GOP-8): the transport's write buffer is the player's bounded queue. Past
``player_queue_bytes`` the player stops receiving media; once its backlog is under
``player_resume_bytes`` it resumes at the next video keyframe, with fresh sequence headers
if they changed meanwhile. Memory per player is bounded by the queue limit.

Other outputs (HTTP-FLV, HTTP-TS, HLS, RTSP, recording, relay) subscribe through a
:class:`MediaTap`: told about publish start/end, metadata, sequence headers and every media
message, after timestamp correction, once RTMP players have been served. A new subscriber gets a
:class:`StreamSnapshot` (metadata, sequence headers, GOP cache) so it can start at a keyframe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from rtmpconf.reference_server.config import ServerConfig
from rtmpconf.reference_server.timestamps import StreamClock
from rtmpconf.reference_server.tracks import CONFIG, ClientCaps, HeaderCache, MediaInfo
from rtmpconf.rtmp import amf0, media
from rtmpconf.rtmp.chunk import HALF_RANGE, TIMESTAMP_MASK, ChunkWriter, encode_chunks_joined
from rtmpconf.rtmp.session import CSID_AUDIO, CSID_DATA, CSID_VIDEO

log = logging.getLogger("rtmpconf.rtmp.server.streams")

MEDIA_CSID = {8: CSID_AUDIO, 9: CSID_VIDEO, 18: CSID_DATA}

# Per-player, per-csid receive-state relative to the group.
NEED_ABSOLUTE = 0
AFTER_ABSOLUTE = 1
IN_STEP = 2


class Sink(Protocol):
    """What streams need from a player connection (implemented by the server session)."""

    def write(self, data: bytes) -> None: ...
    def backlog(self) -> int: ...
    def notify_unpublish(self, stream: LiveStream) -> None: ...
    def notify_publish(self, stream: LiveStream) -> None: ...


@dataclass(slots=True)
class CachedMessage:
    """A published message kept for late joiners."""

    type_id: int
    timestamp: int
    payload: bytes
    info: MediaInfo | None = None  #: how each player view renders it (tracks.py); None: as it is
    tracks: tuple[int, ...] = (0,)  #: track ids it carries (ERTMP-8)


class MediaTap:
    """A protocol-neutral subscriber to one :class:`LiveStream` (the shared output tap).

    Every output other than RTMP play (HTTP-FLV, HTTP-TS, HLS, RTSP, recording, relay) is a tap.
    It sees exactly what RTMP players see: timestamps already corrected by the stream clock
    (timestamps.py), in publish order, the payload bytes unchanged (CompositionTime and codec data
    are the tap's to parse). Calls are synchronous on the server's loop, inside the publisher's
    read, after the RTMP fan-out: a tap must not block, and should do its own encode-once fan-out
    and slow-viewer dropping. An exception from a tap detaches that tap (logged); it never reaches
    the publisher or RTMP players.

    Subclass and override what you need; every method defaults to doing nothing.
    """

    #: Keep the stream in the registry while this tap is attached, even with no publisher and no
    #: RTMP player (a viewer waiting for a publisher does; a per-stream segmenter does not).
    holds_stream: bool = False

    def on_publish_start(self, stream: LiveStream) -> None:
        """A publisher started (or restarted: the clock, headers and GOP were reset)."""

    def on_publish_end(self, stream: LiveStream) -> None:
        """The publisher stopped; headers and GOP are cleared, taps stay attached."""

    def on_metadata(self, stream: LiveStream, msg: CachedMessage) -> None:
        """``["onMetaData", obj]`` as stored for late joiners (AMF0 payload, no @setDataFrame)."""

    def on_sequence_header(self, stream: LiveStream, msg: CachedMessage) -> None:
        """A video (type 9) or audio (type 8) sequence header; sent again on every repeat."""

    def on_media(self, stream: LiveStream, msg: CachedMessage, keyframe: bool) -> None:
        """A coded audio (8) or video (9) message; ``keyframe`` = a video key frame (GOP start)."""

    def on_released(self, stream: LiveStream) -> None:
        """The registry dropped ``stream`` (no publisher, nothing holding it); a republish of the
        same name creates a new LiveStream, which the registry's watchers are told about."""


@dataclass(frozen=True, slots=True)
class StreamSnapshot:
    """What a new subscriber needs to start at a keyframe: the stream's state when it attached."""

    publishing: bool  #: a publisher is present
    metadata: CachedMessage | None  #: ["onMetaData", obj], if the publisher sent one
    video_sh: CachedMessage | None  #: current video sequence header
    audio_sh: CachedMessage | None  #: current audio sequence header
    gop: tuple[CachedMessage, ...]  #: the cached GOP: a video keyframe first, then audio and video
    #: every track's configuration (sequence headers of all tracks, MultichannelConfig, colorInfo;
    #: tracks.py), in late-joiner order; includes video_sh and audio_sh
    track_headers: tuple[CachedMessage, ...] = ()

    @property
    def headers(self) -> tuple[CachedMessage, ...]:
        """Metadata and sequence headers, in the order RTMP players get them (GOP-1)."""
        if self.track_headers:
            return ((self.metadata,) if self.metadata is not None else ()) + self.track_headers
        return tuple(m for m in (self.metadata, self.video_sh, self.audio_sh) if m is not None)


class GopCache:
    """Everything since the latest video keyframe, audio included (GOP-2), bounded (GOP-5).

    Per video track (ERTMP-8/19): the cache starts at the oldest of the tracks' latest keyframes, and
    a late joiner gets each track's frames from that track's own latest keyframe on. With one video
    track this is "everything since the latest keyframe".
    """

    def __init__(self, max_frames: int, max_bytes: int) -> None:
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.messages: list[CachedMessage] = []
        self.bytes = 0
        self.generation = 0  #: bumped whenever the cache restarts
        self.overflowed = 0  #: times the bounds were hit
        #: video track id -> index in ``messages`` of its latest keyframe
        self.key_index: dict[int, int] = {}
        self._encoded: dict[tuple[int, int, ClientCaps | None], _EncodedGop] = {}

    def clear(self) -> None:
        self.messages = []
        self.bytes = 0
        self.key_index = {}
        self.generation += 1
        self._encoded.clear()

    def add(self, msg: CachedMessage, keyframe: bool) -> None:
        video = msg.type_id == 9
        if keyframe and video:
            if all(t in msg.tracks for t in self.key_index):
                self.clear()  # every cached track restarts here: the common, single-track case
            else:
                self._encoded.clear()
            for t in msg.tracks:
                self.key_index[t] = len(self.messages)
            self._trim()
        elif not self.messages:
            return  # GOP-2/lal: caching starts at a keyframe
        elif video and not any(t in self.key_index for t in msg.tracks):
            return  # a track whose keyframe is not cached: undecodable for a joiner
        if len(self.messages) >= self.max_frames or self.bytes + len(msg.payload) > self.max_bytes:
            # GOP-5: past the bounds the cache is dropped; joiners wait for the next keyframe.
            self.clear()
            self.overflowed += 1
            return
        self.messages.append(msg)
        self.bytes += len(msg.payload)

    def _trim(self) -> None:
        start = min(self.key_index.values())
        if start:
            self.bytes -= sum(len(m.payload) for m in self.messages[:start])
            self.messages = self.messages[start:]
            self.key_index = {t: i - start for t, i in self.key_index.items()}
            self._encoded.clear()

    def drop_track(self, track: int) -> None:
        """AV-5 per track: a new sequence header makes the track's cached frames undecodable."""
        if track not in self.key_index:
            return
        del self.key_index[track]
        if not self.key_index:
            self.clear()
            return
        keep = [m for m in self.messages if m.type_id != 9 or any(t != track for t in m.tracks)]
        old = self.messages
        self.messages = keep
        self.bytes = sum(len(m.payload) for m in keep)
        # Re-index the remaining tracks' keyframes in the shortened list.
        positions = {id(m): i for i, m in enumerate(keep)}
        self.key_index = {t: positions[id(old[i])] for t, i in self.key_index.items()}
        self._encoded.clear()
        self._trim()

    def view(self, caps: ClientCaps | None) -> list[tuple[CachedMessage, bytes, tuple[int, ...]]]:
        """(message, payload, tracks) a player with ``caps`` gets from the cache: each video track
        from its latest keyframe on, rendered for the player (tracks.py)."""
        out = []
        key_index = self.key_index
        for i, m in enumerate(self.messages):
            if m.type_id == 9 and any(key_index.get(t, 0) > i for t in m.tracks):
                continue  # before this track's latest keyframe
            if m.info is None or caps is None:
                out.append((m, m.payload, m.tracks))
                continue
            rendered = m.info.render(caps)
            if rendered is not None:
                out.append((m, rendered[0], rendered[1]))
        return out

    def encoded(self, chunk_size: int, msid: int, ext_ts_on_fmt3: bool, caps: ClientCaps | None = None) -> bytes:
        """The cache as chunk bytes for (chunk size, msid, player view); encoded once, extended as it
        grows. The writer starts fresh, so each chunk stream's first cached message is fmt 0."""
        key = (chunk_size, msid, caps)
        enc = self._encoded.get(key)
        if enc is None:
            enc = self._encoded[key] = _EncodedGop(ChunkWriter(chunk_size, ext_ts_on_fmt3=ext_ts_on_fmt3))
        if enc.count < len(self.messages):
            w = enc.writer
            items = self.view(caps)
            new = [w.encode(MEDIA_CSID[m.type_id], m.type_id, msid, m.timestamp, payload)
                   for m, payload, _ in items[enc.rendered:]]
            enc.data = b"".join([enc.data, *new])
            enc.count = len(self.messages)
            enc.rendered = len(items)
        return enc.data

    def keyed_tracks(self, caps: ClientCaps | None) -> set[int]:
        """Video tracks whose keyframe a joiner with ``caps`` gets from the cache."""
        return {t for m, payload, tracks in self.view(caps) if m.type_id == 9
                and media.is_video_keyframe(payload) for t in tracks}


class _EncodedGop:
    __slots__ = ("writer", "count", "rendered", "data")

    def __init__(self, writer: ChunkWriter) -> None:
        self.writer = writer
        self.count = 0  #: cached messages covered
        self.rendered = 0  #: of which the view kept this many
        self.data = b""


class OutgoingMessage:
    """One published message prepared for a group: its variants, each encoded at most once."""

    __slots__ = ("csid", "type_id", "msid", "timestamp", "payload", "chunk_size", "ext",
                 "relative", "relative_fmt", "delta", "_absolute", "_explicit", "keyframe", "resume")

    def __init__(self, csid: int, type_id: int, msid: int, timestamp: int, payload: bytes,
                 chunk_size: int, ext: bool, relative: bytes, relative_fmt: int, delta: int,
                 keyframe: bool) -> None:
        self.csid = csid
        self.type_id = type_id
        self.msid = msid
        self.timestamp = timestamp
        self.payload = payload
        self.chunk_size = chunk_size
        self.ext = ext
        self.relative = relative
        self.relative_fmt = relative_fmt
        self.delta = delta
        self.keyframe = keyframe
        self._absolute: bytes | None = None
        self._explicit: bytes | None = None
        #: Headers for players resuming at this keyframe, per header state (LiveStream._resume_headers).
        self.resume: dict[frozenset[tuple[Any, bytes]], tuple[bytes, dict[Any, bytes]]] | None = None

    def absolute(self) -> bytes:
        if self._absolute is None:
            if self.relative_fmt == 0:
                self._absolute = self.relative
            else:
                self._absolute = encode_chunks_joined(
                    self.csid, 0, self.timestamp, self.type_id, self.msid, self.payload,
                    self.chunk_size, self.ext)
        return self._absolute

    def explicit(self) -> bytes:
        if self._explicit is None:
            if self.relative_fmt != 3:
                self._explicit = self.relative
            else:
                self._explicit = encode_chunks_joined(
                    self.csid, 2, self.delta, self.type_id, self.msid, self.payload,
                    self.chunk_size, self.ext)
        return self._explicit


@dataclass(eq=False, slots=True)
class Player:
    """A playing connection's view, as the fan-out sees it."""

    sink: Sink
    msid: int
    chunk_size: int
    csid_state: dict[int, int] = field(default_factory=lambda: {CSID_AUDIO: 0, CSID_DATA: 0, CSID_VIDEO: 0})
    waiting_keyframe: bool = False  #: dropped or joined without a usable GOP: wait for a keyframe
    dropping: bool = False
    paused: bool = False
    #: The connection plays other streams too, whose fan-outs write to the same media chunk
    #: streams: every message goes out with a fmt-0 header (never in step with the group).
    shared: bool = False
    receive_audio: bool = True
    receive_video: bool = True
    headers: dict[Any, bytes] = field(default_factory=dict)  #: header key -> header payload it has
    drops: int = 0  #: times this player fell behind and was dropped to a keyframe
    delivered: int = 0  #: media messages written
    caps: ClientCaps = ClientCaps.LEGACY  #: what it said it can take in connect (tracks.py)
    #: video tracks it has had a keyframe of since it last (re)joined (ERTMP-19: per track)
    keyed: set[int] = field(default_factory=set)
    #: The sink's write/backlog as the fan-out loop calls them (see _direct_io).
    write: Callable[[bytes], None] = field(init=False, repr=False)
    backlog: Callable[[], int] = field(init=False, repr=False)
    #: The connection, when it can be a member of a steady set (server.py), else None.
    port: Any = field(init=False, repr=False)
    steady: Any = field(default=None, repr=False)  #: the steady set it is a member of, if any
    steady_mark: int = 0  #: the set's message count when it joined (delivered_total)

    def __post_init__(self) -> None:
        self.write, self.backlog = _direct_io(self.sink)
        steady_port = getattr(getattr(self.sink, "transport", None), "steady_port", None)
        self.port = steady_port() if steady_port is not None else None

    def loosen(self) -> None:
        """Leave the steady set (any change of the player's state calls this first)."""
        steady = self.steady
        if steady is not None:
            steady.leave(self.port)

    def desync(self) -> None:
        self.loosen()
        for k in self.csid_state:
            self.csid_state[k] = NEED_ABSOLUTE

    def delivered_total(self) -> int:
        """Media messages written to it, counting those its steady set sent."""
        steady = self.steady
        return self.delivered + (steady.count - self.steady_mark if steady is not None else 0)


def _direct_io(sink: Sink) -> tuple[Callable[[bytes], None], Callable[[], int]]:
    """write/backlog for the fan-out loop.

    A server session's ``write`` only forwards to its transport after a closed-check, and a
    closed session has already left every stream (``cleanup``), so when the session's transport
    offers ``fanout_io()`` (server.py's connection) the loop uses that pair directly, saving
    several Python calls per player per message. Any other sink (tests, doubles) is used as is.
    """
    fanout_io = getattr(getattr(sink, "transport", None), "fanout_io", None)
    if fanout_io is not None:
        return fanout_io()  # type: ignore[no-any-return]
    return sink.write, sink.backlog


class FanoutGroup:
    """Players sharing (chunk size, msid, capabilities): one header state, one encoding per message."""

    def __init__(self, chunk_size: int, msid: int, ext: bool, caps: ClientCaps = ClientCaps.LEGACY) -> None:
        self.chunk_size = chunk_size
        self.msid = msid
        self.ext = ext
        self.caps = caps
        self.writer = ChunkWriter(chunk_size, ext_ts_on_fmt3=ext)
        self.players: list[Player] = []
        self.steady: Any = None  #: the steady set (server.py), made when a first player joins
        #: The audio/video chunk streams the group has sent on: a steady set is in step on all.
        self.av_csids: frozenset[int] = frozenset()

    def prepare(self, type_id: int, timestamp: int, payload: bytes, keyframe: bool) -> OutgoingMessage:
        csid = MEDIA_CSID[type_id]
        if csid not in self.av_csids and csid != CSID_DATA:
            self.av_csids = self.av_csids | {csid}
        enc = self.writer.encode_shared(csid, type_id, self.msid, timestamp, payload)
        fmt = enc.fmt
        delta = enc.ts_field if fmt != 0 else 0
        return OutgoingMessage(csid, type_id, self.msid, timestamp, payload, self.chunk_size, self.ext,
                               enc.data, fmt, delta, keyframe)


class LiveStream:
    """One published name: publisher, cached headers and GOP, players."""

    def __init__(self, app: str, name: str, config: ServerConfig) -> None:
        self.app = app
        self.name = name
        self.config = config
        self.publisher: Any = None
        self.metadata: CachedMessage | None = None  #: ["onMetaData", obj] without @setDataFrame
        #: Latest configuration of every track: sequence headers, MultichannelConfig, colorInfo (tracks.py).
        self.headers = HeaderCache()
        self.gop = GopCache(config.gop_max_frames, config.gop_max_bytes)
        self.clock = StreamClock(
            max_forward_jump_ms=config.max_forward_jump_ms,
            max_backward_jump_ms=config.max_backward_jump_ms,
            aac_cadence=config.aac_cadence,
        )
        self.groups: dict[tuple[int, int, ClientCaps], FanoutGroup] = {}
        self.players: dict[Sink, Player] = {}
        self.video_tracks: set[int] = set()  #: video track ids published so far (ERTMP-8)
        self.messages_in = 0
        self.dropped_player_messages = 0
        self.taps: list[MediaTap] = []  #: other outputs (MediaTap); empty = RTMP only
        self.created_at = time.monotonic()

    # -- publishing ------------------------------------------------------------------------

    @property
    def key(self) -> tuple[str, str]:
        return (self.app, self.name)

    @property
    def video_sh(self) -> CachedMessage | None:
        """The default video track's sequence header as published (None before one arrived)."""
        return self._sequence_header(9)

    @property
    def audio_sh(self) -> CachedMessage | None:
        """The default audio track's sequence header as published."""
        return self._sequence_header(8)

    def _sequence_header(self, type_id: int) -> CachedMessage | None:
        e = self.headers.latest(type_id, 0, CONFIG)
        return None if e is None else CachedMessage(type_id, e.timestamp, e.info.payload, e.info, e.info.tracks)

    def start_publish(self, publisher: Any) -> None:
        self.publisher = publisher
        self.metadata = None
        self.headers.clear()
        self.video_tracks = set()
        self.gop.clear()
        self.clock = StreamClock(
            max_forward_jump_ms=self.config.max_forward_jump_ms,
            max_backward_jump_ms=self.config.max_backward_jump_ms,
            aac_cadence=self.config.aac_cadence,
        )
        for group in self.groups.values():
            group.writer.forget()
        for player in self.players.values():
            # GOP-7: existing players get the new headers and a keyframe before any frame.
            player.desync()
            player.waiting_keyframe = True
            player.keyed.clear()
            player.headers.clear()
            player.sink.notify_publish(self)
        if self.taps:
            self._tell_taps("on_publish_start", self)

    def end_publish(self) -> None:
        self.publisher = None
        # GOP-7: clear metadata, sequence headers and GOP; notify players (CMD-19).
        self.metadata = None
        self.headers.clear()
        self.video_tracks = set()
        self.gop.clear()
        for player in list(self.players.values()):
            player.sink.notify_unpublish(self)
            player.desync()
            player.waiting_keyframe = True
            player.keyed.clear()
            player.headers.clear()
        if self.taps:
            self._tell_taps("on_publish_end", self)

    def on_metadata(self, values: tuple[Any, ...], timestamp: int) -> None:
        """CMD-23: store ["onMetaData", obj] without "@setDataFrame" and relay it."""
        if values and values[0] == "@setDataFrame":
            values = values[1:]
        if not values or values[0] != "onMetaData":
            return
        obj = values[1] if len(values) > 1 else amf0.EcmaArray()
        payload = amf0.encode_all("onMetaData", obj)
        ts = self.clock.correct(18, timestamp, header=True)
        self.metadata = CachedMessage(18, ts, payload)
        self._fanout(18, ts, payload, keyframe=False, is_header=True)
        if self.taps:
            self._tell_taps("on_metadata", self, self.metadata)

    def on_media(self, type_id: int, timestamp: int, payload: bytes) -> None:
        self.messages_in += 1
        info = MediaInfo(type_id, payload)
        if info.header_kind is not None:
            ts = self.clock.correct(type_id, timestamp, header=True)
            changed = self.headers.store(info, ts)
            if type_id == 9:
                self.video_tracks.update(info.tracks)
                for track in changed:
                    # AV-5 (per track): a new sequence header replaces the cache; old frames can't decode.
                    self.gop.drop_track(track)
            elif 0 in info.tracks and info.legacy:
                self.clock.set_aac_rate(_aac_rate(payload))
            self._fanout(type_id, ts, payload, keyframe=False, is_header=True, info=info)
            if self.taps:
                cached = CachedMessage(type_id, ts, payload, info, info.tracks)
                if info.header_kind == CONFIG and 0 in info.tracks:
                    self._tell_taps("on_sequence_header", self, cached)
                else:
                    # Other tracks' sequence headers, MultichannelConfig, colorInfo: taps that
                    # understand them see them as messages; taps that only want the default
                    # track's decoder configuration are not misled (MediaTap.on_sequence_header).
                    self._tell_taps("on_media", self, cached, False)
            return
        if type_id == 9:
            keyframe = media.is_video_keyframe(payload)
            self.video_tracks.update(info.tracks)
            ts = self.clock.correct(9, timestamp)
            cached = CachedMessage(9, ts, payload, info, info.tracks)
            self.gop.add(cached, keyframe)
            self._fanout(9, ts, payload, keyframe=keyframe, info=info)
        else:
            aac = len(payload) > 1 and (payload[0] >> 4) == 10
            ts = self.clock.correct(8, timestamp, aac_frame=aac)
            cached = CachedMessage(8, ts, payload, info, info.tracks)
            self.gop.add(cached, False)
            self._fanout(8, ts, payload, keyframe=False, info=info)
            keyframe = False
        if self.taps:
            self._tell_taps("on_media", self, cached, keyframe)

    # -- taps (other outputs) --------------------------------------------------------------

    def add_tap(self, tap: MediaTap) -> StreamSnapshot:
        """Attach ``tap``; returns the state it starts from (headers and the GOP from its keyframe).

        Everything published after this call reaches the tap through its methods; nothing in
        the snapshot is sent again.
        """
        if tap not in self.taps:
            self.taps.append(tap)
        return self.snapshot()

    def remove_tap(self, tap: MediaTap) -> None:
        """Detach ``tap`` (then ``StreamRegistry.release_if_unused`` may drop the stream)."""
        if tap in self.taps:
            self.taps.remove(tap)

    def snapshot(self) -> StreamSnapshot:
        headers = tuple(CachedMessage(e.info.type_id, e.timestamp, e.info.payload, e.info, e.info.tracks)
                        for e in self.headers.ordered())
        return StreamSnapshot(self.publisher is not None, self.metadata, self.video_sh, self.audio_sh,
                              tuple(self.gop.messages), headers)

    @property
    def held(self) -> bool:
        """Something besides the publisher keeps this stream alive (an RTMP player or a holding tap)."""
        return bool(self.players) or any(t.holds_stream for t in self.taps)

    def _tell_taps(self, method: str, *args: Any) -> None:
        for tap in list(self.taps):
            try:
                getattr(tap, method)(*args)
            except Exception:  # noqa: BLE001 - one broken output must not break the publisher
                log.exception("output tap %r failed in %s on %s/%s; detached", tap, method, self.app, self.name)
                self.remove_tap(tap)

    # -- players ---------------------------------------------------------------------------

    def add_player(self, sink: Sink, msid: int, chunk_size: int, caps: ClientCaps = ClientCaps.LEGACY) -> Player:
        player = Player(sink, msid, chunk_size, caps=caps)
        key = (chunk_size, msid, caps)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = FanoutGroup(chunk_size, msid, self.config.ext_ts_on_fmt3, caps)
        group.players.append(player)
        self.players[sink] = player
        if self.publisher is not None:
            self._catch_up(player)
        else:
            player.waiting_keyframe = True
        return player

    def remove_player(self, sink: Sink) -> None:
        player = self.players.pop(sink, None)
        if player is None:
            return
        player.loosen()
        key = (player.chunk_size, player.msid, player.caps)
        group = self.groups.get(key)
        if group is not None:
            group.players = [p for p in group.players if p is not player]
            if not group.players:
                del self.groups[key]

    def _headers_bytes(self, player: Player, writer: ChunkWriter, first_ts: int | None) -> list[bytes]:
        """Metadata and every track's configuration the player does not have yet, rendered for it,
        in GOP-1 order (onMetaData, video, audio; per track: sequence header, channels, colorInfo)."""
        out: list[bytes] = []
        items: list[tuple[Any, int, int, bytes]] = []
        if self.metadata is not None:
            items.append((18, 18, self.metadata.timestamp, self.metadata.payload))
        for e in self.headers.ordered():
            rendered = e.info.render(player.caps)
            if rendered is not None:
                items.append((e.key, e.info.type_id, e.timestamp, rendered[0]))
        for key, type_id, ts, payload in items:
            if player.headers.get(key) == payload:
                continue
            player.headers[key] = payload
            if first_ts is not None and _serial_lt(first_ts, ts):
                ts = first_ts  # GOP-6: header timestamp <= first frame timestamp
            out.append(writer.encode(MEDIA_CSID[type_id], type_id, player.msid, ts, payload))
        return out

    def _resume_headers(self, player: Player, om: OutgoingMessage) -> bytes:
        """The headers a player (re)starting at keyframe ``om`` lacks, encoded for it (GOP-7).

        ``om`` belongs to one group (one chunk size, msid and capabilities), so players with the
        same headers already get the same bytes: they are encoded once per distinct header state.
        Players that fell behind together (a burst that filled many sockets) and missed the same
        header messages resume at the same keyframe; encoding per player put a hundred encodings
        before that frame's last send. (Players waiting when a publish starts are not among them:
        header messages reach them as they come.)
        """
        cache = om.resume
        if cache is None:
            cache = om.resume = {}
        headers = player.headers
        key = frozenset(headers.items())
        hit = cache.get(key)
        if hit is not None:
            headers.update(hit[1])
            return hit[0]
        before = dict(headers)
        writer = ChunkWriter(player.chunk_size, ext_ts_on_fmt3=self.config.ext_ts_on_fmt3)
        data = b"".join(self._headers_bytes(player, writer, om.timestamp))
        cache[key] = (data, {k: v for k, v in headers.items() if before.get(k) is not v})
        return data

    def _pending_tracks(self, player: Player) -> set[int]:
        """Video tracks the player will get but has had no keyframe of yet (a track whose sequence
        header renders to nothing for the player, e.g. HEVC for a legacy player, is not waited for)."""
        pending = self.video_tracks - player.keyed
        for e in self.headers.entries:
            if e.info.type_id == 9 and e.kind == CONFIG and e.tracks & pending:
                rendered = e.info.render(player.caps)
                pending -= e.tracks if rendered is None else e.tracks - set(rendered[1])
        return pending

    def _catch_up(self, player: Player) -> None:
        """GOP-1: onMetaData, every track's configuration, then each track's cached GOP from its keyframe."""
        writer = ChunkWriter(player.chunk_size, ext_ts_on_fmt3=self.config.ext_ts_on_fmt3)
        gop = self.gop.view(player.caps) if self.gop.messages else []
        first_ts = gop[0][0].timestamp if gop else None
        parts = self._headers_bytes(player, writer, first_ts)
        player.keyed = set()
        if gop:
            parts.append(self.gop.encoded(player.chunk_size, player.msid, self.config.ext_ts_on_fmt3, player.caps))
            player.keyed = self.gop.keyed_tracks(player.caps)
        # Until every video track it will get has started, the player takes the slow path (_deliver).
        player.waiting_keyframe = bool(self._pending_tracks(player)) if player.keyed else bool(self.video_tracks)
        if parts:
            player.sink.write(b"".join(parts))
        player.desync()

    def _fanout(self, type_id: int, ts: int, payload: bytes, *, keyframe: bool, is_header: bool = False,
                info: MediaInfo | None = None) -> None:
        limit = self.config.player_queue_bytes
        audio = type_id == 8
        video = type_id == 9
        deliver = self._deliver
        header_key: Any = type_id
        if info is not None and is_header:
            header_key = (type_id, info.header_kind, frozenset(info.tracks))
        for group in self.groups.values():
            players = group.players
            if not players:
                continue
            data_payload = payload
            if info is not None and not info.legacy:
                # E-RTMP: what this group's players can take (tracks.py); nothing at all, or a
                # rewritten form (default track only, legacy codec ids, ModEx removed).
                rendered = info.render(group.caps)
                if rendered is None:
                    continue
                data_payload = rendered[0]
            om = group.prepare(type_id, ts, data_payload, keyframe)
            csid = om.csid
            data = om.relative
            steady = group.steady
            # May a player join the steady set at this message? Only while the set has batched
            # nothing else in this read (a joiner must not get the messages before this one).
            fresh = steady is None or not steady.batch
            added = False  # this message is in the set's batch
            if steady is not None and steady.members:
                if csid in steady.csids:
                    steady.add(data)
                    added = True
                    if is_header:
                        for member in steady.members:
                            member.headers[header_key] = data_payload
                else:
                    steady.dissolve()  # a chunk stream its members are not all in step on
            for player in players:
                if player.steady is not None:
                    continue  # served by the set's batch
                # Fast path, taken by every player in step that is not paused, dropping or
                # waiting for a keyframe and wants this track: the shared bytes, unless the
                # queue is over the limit (then _deliver drops it, GOP-8). Same outcome as
                # _deliver, minus its calls.
                if (player.csid_state[csid] == IN_STEP and not (player.paused or player.dropping
                                                                or player.waiting_keyframe)
                        and not (audio and not player.receive_audio) and not (video and not player.receive_video)
                        and player.backlog() <= limit):
                    port = player.port
                    if (fresh and port is not None and csid != CSID_DATA and player.receive_audio and player.receive_video
                            and not player.shared and port.steady_ready()):
                        if steady is None:
                            steady = group.steady = port.new_steady_set()
                        if steady.try_join(player, group.av_csids | {csid}):
                            if is_header:
                                player.headers[header_key] = data_payload
                            if added:
                                player.delivered += 1  # the batch already held this message
                            else:
                                steady.add(data)  # counted through the set's count
                                added = True
                            continue
                    player.write(data)
                    if is_header:
                        player.headers[header_key] = data_payload
                    player.delivered += 1
                else:
                    deliver(player, om, is_header, header_key)

    def _deliver(self, player: Player, om: OutgoingMessage, is_header: bool, header_key: Any = None) -> None:
        if player.paused:
            return
        if (om.type_id == 8 and not player.receive_audio) or (om.type_id == 9 and not player.receive_video):
            # The player misses this message, so its receive state on the csid no longer matches
            # the group's compressed encoding: its next message there must be absolute.
            player.csid_state[om.csid] = NEED_ABSOLUTE
            return
        sink = player.sink
        if player.dropping:
            if player.backlog() > self.config.player_resume_bytes:
                self.dropped_player_messages += 1
                return
            player.dropping = False
            player.waiting_keyframe = True
            player.keyed.clear()
        elif player.backlog() > self.config.player_queue_bytes:
            # GOP-8: drop, never buffer without bound; resume at a keyframe.
            player.dropping = True
            player.drops += 1
            player.desync()
            self.dropped_player_messages += 1
            log.info("player %r fell behind (%d bytes queued); dropping to the next keyframe",
                     sink, player.backlog())
            return
        if player.waiting_keyframe:
            if is_header:
                pass  # headers always go through (they may be the ones the player lacks)
            elif om.type_id == 9:
                tracks = _video_tracks_of(om.payload)
                if all(t in player.keyed for t in tracks):
                    pass  # a track it already started (ERTMP-19: per track)
                elif om.keyframe:
                    player.keyed.update(tracks)
                    missing = self._resume_headers(player, om)
                    if missing:
                        player.write(missing)
                        player.desync()
                else:
                    self.dropped_player_messages += 1
                    player.csid_state[om.csid] = NEED_ABSOLUTE  # it missed a message on this csid
                    return
                player.waiting_keyframe = bool(self._pending_tracks(player))
            elif om.type_id == 8 and (player.keyed or not self._pending_tracks(player)):
                pass  # GOP-4: audio-only stream (for this player), or its video already started
            else:
                self.dropped_player_messages += 1
                player.csid_state[om.csid] = NEED_ABSOLUTE  # it missed a message on this csid
                return
        state = player.csid_state
        cs = state[om.csid]
        if cs == IN_STEP:
            data = om.relative
        elif cs == AFTER_ABSOLUTE:
            data = om.explicit()
            state[om.csid] = IN_STEP
        else:
            data = om.absolute()
            if not player.shared:
                state[om.csid] = AFTER_ABSOLUTE if om.relative_fmt != 0 else IN_STEP
        player.write(data)
        if is_header:
            player.headers[header_key if header_key is not None else om.type_id] = om.payload
        player.delivered += 1


def _video_tracks_of(payload: bytes) -> tuple[int, ...]:
    """Track ids of a video message as a player receives it (0 unless it is Multitrack)."""
    if payload and payload[0] & 0x80:
        layout = media.ex_layout(payload, video=True)
        if layout is not None:
            return tuple(t.track_id for t in layout.tracks)
    return (0,)


def _serial_lt(a: int, b: int) -> bool:
    return a != b and ((b - a) & TIMESTAMP_MASK) < HALF_RANGE


def _aac_rate(payload: bytes) -> int | None:
    try:
        tag = media.parse_audio_tag(payload)
        return media.AudioSpecificConfig.parse(bytes(tag.body)).sample_rate
    except Exception:  # noqa: BLE001 - a bad ASC only disables cadence correction
        return None


class StreamRegistry:
    """Published names -> LiveStream; a stream object lives while it has a publisher or players."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.streams: dict[tuple[str, str], LiveStream] = {}
        #: Called with every LiveStream the registry creates (outputs that attach a MediaTap to
        #: every stream, e.g. an HLS segmenter or a recorder).
        self.watchers: list[Callable[[LiveStream], None]] = []

    def get_or_create(self, app: str, name: str) -> LiveStream:
        s = self.streams.get((app, name))
        if s is None:
            s = self.streams[(app, name)] = LiveStream(app, name, self.config)
            for watch in self.watchers:
                watch(s)
        return s

    def watch(self, on_new_stream: Callable[[LiveStream], None]) -> None:
        """Call ``on_new_stream`` for every stream created from now on, and now for each existing one."""
        self.watchers.append(on_new_stream)
        for s in list(self.streams.values()):
            on_new_stream(s)

    def get(self, app: str, name: str) -> LiveStream | None:
        return self.streams.get((app, name))

    def release_if_unused(self, stream: LiveStream) -> None:
        if stream.publisher is None and not stream.held:
            if self.streams.get(stream.key) is stream:
                del self.streams[stream.key]
                if stream.taps:
                    stream._tell_taps("on_released", stream)

