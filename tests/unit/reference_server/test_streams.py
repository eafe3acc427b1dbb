"""Fan-out variants, GOP cache and slow-player dropping, without sockets."""

from __future__ import annotations

from rtmpconf.rtmp import media
from rtmpconf.rtmp.chunk import ChunkReader, RawMessage
from rtmpconf.reference_server.config import ServerConfig
from rtmpconf.reference_server.streams import GopCache, CachedMessage, LiveStream


class FakeSink:
    def __init__(self, backlog: int = 0) -> None:
        self.data = bytearray()
        self._backlog = backlog
        self.events: list[str] = []

    def write(self, data: bytes) -> None:
        self.data += data

    def backlog(self) -> int:
        return self._backlog

    def notify_unpublish(self, stream: LiveStream) -> None:
        self.events.append("unpublish")

    def notify_publish(self, stream: LiveStream) -> None:
        self.events.append("publish")

    def messages(self) -> list[RawMessage]:
        r = ChunkReader(chunk_size=4096)
        r.feed(bytes(self.data))
        return r.messages()


VSH = media.build_avc_video(1, 0, 0, bytes.fromhex("0142c01effe1000467420000010004684ce3c0"))
ASH = media.build_aac_audio(0, bytes.fromhex("1190"))


def key(i: int) -> bytes:
    return media.build_avc_video(1, 1, 0, bytes([i]) * 300)


def inter(i: int) -> bytes:
    return media.build_avc_video(2, 1, 0, bytes([i]) * 200)


def aac(i: int) -> bytes:
    return media.build_aac_audio(1, bytes([i]) * 50)


def publish(stream: LiveStream, frames: int, start: int = 0) -> None:
    for i in range(start, start + frames):
        stream.on_media(9, 40 * i, key(i) if i % 10 == 0 else inter(i))
        stream.on_media(8, 40 * i + 5, aac(i))


def new_stream(**cfg: object) -> LiveStream:
    s = LiveStream("live", "x", ServerConfig.from_mapping({"port": 0, "aac_cadence": False, **cfg}))
    s.start_publish(object())
    s.on_metadata(("@setDataFrame", "onMetaData", {"width": 1.0}), 0)
    s.on_media(9, 0, VSH)
    s.on_media(8, 0, ASH)
    return s


def test_players_in_step_receive_identical_bytes_objects() -> None:
    s = new_stream()
    a, b = FakeSink(), FakeSink()
    s.add_player(a, 1, 4096)
    s.add_player(b, 1, 4096)
    publish(s, 25)
    assert a.data == b.data
    msgs = a.messages()
    assert [m.timestamp for m in msgs if m.type_id == 9 and m.payload != VSH] == [40 * i for i in range(25)]


def test_late_joiner_decodes_identically_to_early_player() -> None:
    """Absolute and explicit variants leave the receiver state equal to the group's."""
    s = new_stream()
    early = FakeSink()
    s.add_player(early, 1, 4096)
    publish(s, 13)
    late = FakeSink()
    s.add_player(late, 1, 4096)  # mid-GOP: gets headers + GOP from frame 10
    publish(s, 17, start=13)
    late_msgs = late.messages()
    kinds = [("meta" if m.type_id == 18 else "vsh" if m.payload == VSH else "ash" if m.payload == ASH else
              "v" if m.type_id == 9 else "a") for m in late_msgs]
    assert kinds[:3] == ["meta", "vsh", "ash"]
    first_v = next(m for m in late_msgs if m.type_id == 9 and m.payload != VSH)
    assert media.is_video_keyframe(first_v.payload) and first_v.timestamp == 400
    # From frame 10 on, both players saw the same (type, timestamp, payload) sequence.
    tail = lambda msgs: [(m.type_id, m.timestamp, m.payload) for m in msgs  # noqa: E731
                         if m.type_id in (8, 9) and m.payload not in (VSH, ASH) and m.timestamp >= 400]
    assert tail(late_msgs) == tail(early.messages())


def test_gop_cache_holds_only_the_latest_gop() -> None:
    s = new_stream()
    publish(s, 25)
    first = s.gop.messages[0]
    assert first.type_id == 9 and first.timestamp == 800 and media.is_video_keyframe(first.payload)
    assert all(m.timestamp >= 800 for m in s.gop.messages)


def test_gop_cache_bounds() -> None:
    g = GopCache(max_frames=5, max_bytes=10_000)
    g.add(CachedMessage(9, 0, key(0)), True)
    for i in range(1, 10):
        g.add(CachedMessage(9, 40 * i, inter(i)), False)
    assert g.messages == [] and g.overflowed == 1


def test_slow_player_drops_then_resumes_at_keyframe() -> None:
    s = new_stream(player_queue_bytes=1000, player_resume_bytes=100)
    sink = FakeSink()
    s.add_player(sink, 1, 4096)
    publish(s, 3)
    sink._backlog = 5000  # the player stopped reading
    publish(s, 4, start=3)
    player = s.players[sink]
    assert player.dropping and player.drops == 1
    written = len(sink.data)
    sink._backlog = 0  # it drains
    publish(s, 3, start=7)  # inter frames: still waiting for a keyframe
    assert len(sink.data) == written
    publish(s, 2, start=10)  # keyframe at frame 10
    msgs = sink.messages()
    after = [m for m in msgs if m.timestamp >= 400 and m.type_id == 9]
    assert after and media.is_video_keyframe(after[0].payload)


def test_unpublish_notifies_and_clears() -> None:
    s = new_stream()
    sink = FakeSink()
    s.add_player(sink, 1, 4096)
    publish(s, 5)
    s.end_publish()
    assert sink.events == ["unpublish"]
    assert s.gop.messages == [] and s.video_sh is None and s.metadata is None


class _WritesSink(FakeSink):
    """Keeps each write's bytes object, to see what players share."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        super().write(data)


def test_players_resuming_at_one_keyframe_share_their_headers_encoding() -> None:
    """Players that fell behind and missed header messages resume at the next keyframe with the
    headers they lack: those lacking the same ones get one encoding of them (the same bytes
    object), one lacking others its own; each decodes to those headers, then the keyframe."""
    s = LiveStream("live", "x", ServerConfig.from_mapping({"port": 0, "aac_cadence": False}))
    s.start_publish(object())
    sinks = [_WritesSink() for _ in range(3)]
    players = [s.add_player(sink, 1, 4096) for sink in sinks]

    def behind(*which: int) -> None:
        for i in which:
            players[i].dropping = True
            sinks[i]._backlog = 1 << 30

    behind(0, 1)
    s.on_metadata(("@setDataFrame", "onMetaData", {"width": 1.0}), 0)  # the third player gets this
    behind(2)
    s.on_media(9, 0, VSH)
    s.on_media(8, 0, ASH)
    for sink in sinks:
        sink._backlog = 0
        sink.writes.clear()
        sink.data.clear()
    s.on_media(9, 40, key(1))
    first = [sink.writes[0] for sink in sinks]
    assert first[0] is first[1]
    assert first[2] is not first[0]
    want = [["meta", "vsh", "ash", "key"], ["meta", "vsh", "ash", "key"], ["vsh", "ash", "key"]]
    for sink, kinds_wanted in zip(sinks, want, strict=True):
        kinds = [("meta" if m.type_id == 18 else "vsh" if m.payload == VSH else "ash" if m.payload == ASH else
                  "key" if media.is_video_keyframe(m.payload) else "other") for m in sink.messages()]
        assert kinds == kinds_wanted
    assert players[0].headers == players[1].headers == players[2].headers
