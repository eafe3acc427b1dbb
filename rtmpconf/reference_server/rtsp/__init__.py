"""RTSP output of the reference server: DESCRIBE/SETUP/PLAY of live streams as RTP (RFC 7826/2326).

``rtp.py`` packetises (H.264 RFC 6184, HEVC RFC 7798, AAC RFC 3640 AAC-hbr, RTCP sender reports,
RFC 3550), ``sdp.py`` describes a stream from its sequence headers (RFC 8866), ``server.py`` is the
asyncio glue: requests, sessions, TCP-interleaved and UDP transports, and a MediaTap per session.
"""
