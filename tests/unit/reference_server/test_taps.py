"""The shared output tap: what a MediaTap is told, the snapshot it starts from, isolation."""

from __future__ import annotations

from typing import Any

from rtmpconf.reference_server.config import ServerConfig
from rtmpconf.reference_server.streams import CachedMessage, LiveStream, MediaTap, StreamRegistry
from rtmpconf.rtmp import media
from tests.unit.reference_server.test_streams import ASH, VSH, FakeSink, aac, inter, key, new_stream, publish


class RecordingTap(MediaTap):
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def on_publish_start(self, stream: LiveStream) -> None:
        self.calls.append(("start",))

    def on_publish_end(self, stream: LiveStream) -> None:
        self.calls.append(("end",))

    def on_metadata(self, stream: LiveStream, msg: CachedMessage) -> None:
        self.calls.append(("meta", msg.timestamp))

    def on_sequence_header(self, stream: LiveStream, msg: CachedMessage) -> None:
        self.calls.append(("sh", msg.type_id, msg.timestamp))

    def on_media(self, stream: LiveStream, msg: CachedMessage, keyframe: bool) -> None:
        self.calls.append(("media", msg.type_id, msg.timestamp, keyframe, msg.payload))

    def on_released(self, stream: LiveStream) -> None:
        self.calls.append(("released",))


def test_tap_sees_every_message_with_corrected_timestamps_and_keyframe_flags() -> None:
    s = LiveStream("live", "x", ServerConfig.from_mapping({"port": 0, "aac_cadence": False}))
    tap = RecordingTap()
    snap = s.add_tap(tap)
    assert not snap.publishing and snap.gop == () and snap.headers == ()
    s.start_publish(object())
    s.on_metadata(("@setDataFrame", "onMetaData", {"width": 1.0}), 0)
    s.on_media(9, 0, VSH)
    s.on_media(8, 0, ASH)
    s.on_media(9, 0, key(0))
    s.on_media(8, 5, aac(0))
    s.on_media(9, 40, inter(1))
    s.on_media(9, 20_040, inter(2))  # a 20 s jump: the stream clock rebases it (TS-12)
    assert tap.calls[:4] == [("start",), ("meta", 0), ("sh", 9, 0), ("sh", 8, 0)]
    media_calls = [c[1:4] for c in tap.calls if c[0] == "media"]
    assert media_calls == [(9, 0, True), (8, 5, False), (9, 40, False), (9, 80, False)]
    # The tap's times are the RTMP players' times.
    rtmp = FakeSink()
    s2 = new_stream()
    s2.add_player(rtmp, 1, 4096)
    s2.add_tap(tap2 := RecordingTap())
    publish(s2, 12)
    rtmp_media = [(m.type_id, m.timestamp, m.payload) for m in rtmp.messages()
                  if m.type_id in (8, 9) and m.payload not in (VSH, ASH)]
    assert [(c[1], c[2], c[4]) for c in tap2.calls if c[0] == "media"] == rtmp_media
    s.end_publish()
    assert tap.calls[-1] == ("end",)


def test_snapshot_starts_at_the_cached_keyframe_with_headers() -> None:
    s = new_stream()
    publish(s, 13)  # keyframes at frames 0 and 10
    snap = s.add_tap(RecordingTap())
    assert snap.publishing
    assert [m.type_id for m in snap.headers] == [18, 9, 8]
    assert snap.headers[1].payload == VSH and snap.headers[2].payload == ASH
    first = snap.gop[0]
    assert first.type_id == 9 and first.timestamp == 400 and media.is_video_keyframe(first.payload)
    assert [m.timestamp for m in snap.gop if m.type_id == 9] == [400, 440, 480]
    assert any(m.type_id == 8 for m in snap.gop)  # audio of the GOP is included (GOP-2)


def test_a_failing_tap_is_detached_and_rtmp_players_are_untouched() -> None:
    class Broken(MediaTap):
        def on_media(self, stream: LiveStream, msg: CachedMessage, keyframe: bool) -> None:
            raise RuntimeError("boom")

    s = new_stream()
    sink = FakeSink()
    s.add_player(sink, 1, 4096)
    good, bad = RecordingTap(), Broken()
    s.add_tap(bad)
    s.add_tap(good)
    publish(s, 3)
    assert s.taps == [good]
    assert len([c for c in good.calls if c[0] == "media"]) == 6
    assert len([m for m in sink.messages() if m.type_id in (8, 9) and m.payload not in (VSH, ASH)]) == 6


def test_republish_tells_taps_and_keeps_them_attached() -> None:
    s = new_stream()
    tap = RecordingTap()
    s.add_tap(tap)
    publish(s, 2)
    s.end_publish()
    s.start_publish(object())
    s.on_media(9, 0, VSH)
    s.on_media(9, 0, key(0))
    kinds = [c[0] for c in tap.calls]
    assert kinds == ["media"] * 4 + ["end", "start", "sh", "media"]


def test_registry_watchers_see_every_new_stream_and_holding_taps_keep_it() -> None:
    reg = StreamRegistry(ServerConfig.from_mapping({"port": 0}))
    seen: list[str] = []
    reg.get_or_create("live", "old")
    reg.watch(lambda st: seen.append(st.name))
    assert seen == ["old"]
    s = reg.get_or_create("live", "new")
    assert seen == ["old", "new"]
    # A non-holding tap (a segmenter) does not keep an idle stream; it is told it was released.
    seg = RecordingTap()
    s.add_tap(seg)
    reg.release_if_unused(s)
    assert reg.get("live", "new") is None and seg.calls == [("released",)]
    # A holding tap (a viewer waiting for a publisher) does.
    s = reg.get_or_create("live", "new")
    viewer = RecordingTap()
    viewer.holds_stream = True
    s.add_tap(viewer)
    reg.release_if_unused(s)
    assert reg.get("live", "new") is s
    s.remove_tap(viewer)
    reg.release_if_unused(s)
    assert reg.get("live", "new") is None


def test_no_tap_no_overhead_path() -> None:
    """Without taps the stream behaves exactly as before (the RTMP fan-out path is unchanged)."""
    s = new_stream()
    assert s.taps == []
    sink = FakeSink()
    s.add_player(sink, 1, 4096)
    publish(s, 5)
    assert [m.timestamp for m in sink.messages() if m.type_id == 9 and m.payload != VSH] == [0, 40, 80, 120, 160]
