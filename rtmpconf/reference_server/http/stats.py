"""Stats API (JSON) and Prometheus metrics of the reference server, read from live state.

Nothing is counted on the hot path for them beyond what the outputs keep anyway: the metrics
are built at scrape time by a custom collector (prometheus_client), on a registry of our own so
several servers in one process do not collide.
"""

from __future__ import annotations

import time
from typing import Any

from rtmpconf.reference_server.http.viewers import HttpViewer


def _viewers(server: Any) -> list[tuple[tuple[str, str], HttpViewer]]:
    out = []
    for key, outs in server.outputs.by_key.items():
        for v in (*outs.flv.viewers.viewers, *outs.ts.viewers.viewers):
            out.append((key, v))
    return out


def streams_json(server: Any) -> dict[str, Any]:
    now = time.monotonic()
    streams = []
    registry = server.outputs.registry
    for key, stream in sorted(registry.streams.items()):
        outs = server.outputs.by_key.get(key)
        info = outs.info if outs is not None else None
        players = {"rtmp": len(stream.players),
                   "http-flv": len(outs.flv.viewers) if outs else 0,
                   "http-ts": len(outs.ts.viewers) if outs else 0}
        hls = server.outputs.hls.get(key)
        drops = sum(p.drops for p in stream.players.values())
        http_drops = sum(v.drops for v in (*outs.flv.viewers.viewers, *outs.ts.viewers.viewers)) if outs else 0
        bytes_out_http = sum(v.bytes_out for v in (*outs.flv.viewers.viewers, *outs.ts.viewers.viewers)) if outs else 0
        streams.append({
            "app": stream.app, "name": stream.name,
            "publishing": stream.publisher is not None,
            "publisher": getattr(stream.publisher, "peer", None),
            "video": {"codec": info.video_codec, "width": info.width, "height": info.height,
                      "frame_rate": info.frame_rate} if info and info.video_codec else None,
            "audio": {"codec": info.audio_codec, "sample_rate": info.audio_rate,
                      "channels": info.audio_channels} if info and info.audio_codec else None,
            "bitrate_in_bps": round(info.bitrate_in()) if info else 0,
            "bytes_in": info.bytes_in if info else 0,
            "frames_in": info.frames_in if info else 0,
            "keyframes_in": info.keyframes_in if info else 0,
            "bytes_out_http": bytes_out_http,
            "messages_out_rtmp": sum(p.delivered_total() for p in stream.players.values()),
            "players": players,
            "hls": {"segments": len(hls.segments), "media_sequence": hls.segments[0].seq if hls.segments else None,
                    "playlist_requests": hls.playlist_requests, "segment_requests": hls.segment_requests}
            if hls is not None else None,
            "drops": {"rtmp_players": drops, "http_viewers": http_drops,
                      "messages_not_sent": stream.dropped_player_messages},
            "gop_cache": {"messages": len(stream.gop.messages), "bytes": stream.gop.bytes},
            "timestamp_corrections": {"rebases": stream.clock.rebases, "clamps": stream.clock.clamps,
                                      "aac_resyncs": stream.clock.aac_resyncs},
            "uptime_s": round(now - info.publish_started, 3) if info and info.publish_started else 0.0,
        })
    return {"server": "rtmpconf-reference", "uptime_s": round(now - server.started_at, 3), "streams": streams}


def sessions_json(server: Any) -> dict[str, Any]:
    now = time.monotonic()
    sessions = []
    for s in sorted(server.rtmp.sessions, key=lambda s: s.id):
        sessions.append({
            "id": f"rtmp-{s.id}", "protocol": "rtmp", "peer": s.peer, "app": s.app,
            "publishing": sorted(st.name for st in s.publishing.values()),
            "playing": sorted(st.name for st in s.playing.values()),
            "bytes_in": s.conn.bytes_received,
            "drops": sum(st.players[s].drops for st in s.playing.values() if s in st.players),
        })
    for (app, name), v in _viewers(server):
        sessions.append({
            "id": f"http-{id(v):x}", "protocol": v.protocol, "peer": v.peer, "app": app,
            "publishing": [], "playing": [name], "bytes_out": v.bytes_out, "drops": v.drops,
            "uptime_s": round(now - v.joined_at, 3),
        })
    return {"sessions": sessions}


def metrics_text(server: Any) -> tuple[bytes, str]:
    """Prometheus exposition of the live state."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    class _Collector:
        def collect(self) -> Any:
            doc = streams_json(server)
            up = GaugeMetricFamily("rtmpconf_uptime_seconds", "Seconds since the HTTP side started")
            up.add_metric([], doc["uptime_s"])
            yield up
            conns = GaugeMetricFamily("rtmpconf_rtmp_connections", "Open RTMP connections")
            conns.add_metric([], len(server.rtmp.sessions))
            yield conns
            reqs = CounterMetricFamily("rtmpconf_http_requests", "HTTP requests handled")
            reqs.add_metric([], server.requests)
            yield reqs
            pub = GaugeMetricFamily("rtmpconf_stream_publishing", "1 while the stream has a publisher",
                                    labels=["app", "name"])
            players = GaugeMetricFamily("rtmpconf_stream_players", "Players of a stream per protocol",
                                        labels=["app", "name", "protocol"])
            rate = GaugeMetricFamily("rtmpconf_stream_bitrate_in_bps", "Input bitrate over the last seconds",
                                     labels=["app", "name"])
            bytes_in = CounterMetricFamily("rtmpconf_stream_bytes_in", "Media payload bytes published",
                                           labels=["app", "name"])
            frames = CounterMetricFamily("rtmpconf_stream_frames_in", "Media messages published",
                                         labels=["app", "name"])
            http_out = CounterMetricFamily("rtmpconf_stream_http_bytes_out", "Bytes sent to HTTP viewers",
                                           labels=["app", "name"])
            drops = CounterMetricFamily("rtmpconf_stream_player_drops", "Times a player fell behind and "
                                        "was dropped to a keyframe", labels=["app", "name", "protocol"])
            segs = GaugeMetricFamily("rtmpconf_hls_segments", "Segments in the HLS playlist",
                                     labels=["app", "name"])
            for st in doc["streams"]:
                lab = [st["app"], st["name"]]
                pub.add_metric(lab, 1 if st["publishing"] else 0)
                for proto, n in st["players"].items():
                    players.add_metric([*lab, proto], n)
                rate.add_metric(lab, st["bitrate_in_bps"])
                bytes_in.add_metric(lab, st["bytes_in"])
                frames.add_metric(lab, st["frames_in"])
                http_out.add_metric(lab, st["bytes_out_http"])
                drops.add_metric([*lab, "rtmp"], st["drops"]["rtmp_players"])
                drops.add_metric([*lab, "http"], st["drops"]["http_viewers"])
                if st["hls"] is not None:
                    segs.add_metric(lab, st["hls"]["segments"])
            yield from (pub, players, rate, bytes_in, frames, http_out, drops, segs)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())  # type: ignore[arg-type]
    return generate_latest(registry), CONTENT_TYPE_LATEST
