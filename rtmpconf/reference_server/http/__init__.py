"""HTTP outputs of the reference server: HTTP-FLV, HTTP-TS, HLS, a stats API and metrics.

Every output is a :class:`~rtmpconf.reference_server.streams.MediaTap` on the live stream the
RTMP publisher feeds; HTTP requests are parsed by h11 under our own asyncio glue (server.py).
"""
