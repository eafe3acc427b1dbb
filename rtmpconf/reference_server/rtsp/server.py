"""RTSP 1.0 server (RFC 2326; the method set RFC 7826 keeps) serving the live streams as RTP.

URL: ``rtsp://host:port/<app>/<name>``; tracks ``.../trackID=0`` (video) and ``trackID=1`` (audio).
Methods: OPTIONS, DESCRIBE, SETUP (``RTP/AVP/TCP;interleaved=`` or ``RTP/AVP;unicast;client_port=``),
PLAY, PAUSE (answered, playing stops until the next PLAY), TEARDOWN, GET_PARAMETER and SET_PARAMETER
(keep-alive). Every response echoes CSeq (RFC 2326 §12.17); a request without CSeq gets 400.
A session lasts while requests (or RTCP receiver reports on UDP) come within ``SESSION_TIMEOUT_S``.

Media come from a MediaTap on the stream: PLAY starts at the cached GOP's keyframe (or waits for
the next keyframe), with the parameter sets in band before every IDR. RTP timestamps: video is the
90 kHz PTS of the shared FLV-ms mapping (mediatime.py), audio the sample clock advanced by 1024 per
AAC frame. Each track sends an RTCP sender report every ``SR_INTERVAL_S``. When the publisher
leaves, RTCP BYE goes out and the session ends (the connection is closed).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import struct
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from rtmpconf.reference_server.mediatime import FlvTimeline, composition_time
from rtmpconf.reference_server.rtsp.rtp import (
    MAX_PAYLOAD,
    RtpStream,
    aac_payload,
    h264_payloads,
    hevc_payloads,
)
from rtmpconf.reference_server.rtsp.sdp import (
    AUDIO_PT,
    VIDEO_PT,
    AudioConfig,
    VideoConfig,
    audio_config,
    describe,
    video_config,
)
from rtmpconf.reference_server.streams import CachedMessage, LiveStream, MediaTap
from rtmpconf.rtmp import media

if TYPE_CHECKING:
    from rtmpconf.reference_server.streams import StreamRegistry

log = logging.getLogger("rtmpconf.rtmp.server.rtsp")

#: A session with no request (and no RTCP on UDP) for this long is dropped (RFC 2326 §12.37: 60 s).
SESSION_TIMEOUT_S = 60.0
#: RTCP sender report period per track (RFC 3550 §6.2 suggests a 5 s minimum for large groups;
#: one receiver: every 2 s helps players sync audio and video quickly).
SR_INTERVAL_S = 2.0
#: Largest request head accepted (bytes) before the connection is closed.
MAX_REQUEST = 64 * 1024
#: A TCP-interleaved viewer whose unsent bytes pass this skips to the next keyframe.
MAX_BACKLOG = 4 * 1024 * 1024
METHODS = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER"
SERVER = "rtmp-conformance reference server"


@dataclass
class Request:
    method: str
    url: str
    version: str
    headers: dict[str, str]  #: lower-case names
    body: bytes = b""


def parse_request(buf: bytearray) -> tuple[Request | None, int]:
    """(request, bytes consumed) from the head of ``buf``; (None, 0) if it is not complete yet.

    Raises ValueError for a request line or header that cannot be parsed.
    """
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > MAX_REQUEST:
            raise ValueError("request head too large")
        return None, 0
    head = bytes(buf[:end]).decode("utf-8", "replace").split("\r\n")
    parts = head[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("RTSP/"):
        raise ValueError(f"bad request line {head[0]!r}")
    headers: dict[str, str] = {}
    for line in head[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"bad header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    if len(buf) < end + 4 + length:
        return None, 0
    body = bytes(buf[end + 4:end + 4 + length])
    return Request(parts[0].upper(), parts[1], parts[2], headers, body), end + 4 + length


def stream_key(url: str) -> tuple[str, str, int | None] | None:
    """(app, name, track) from ``rtsp://host[:port]/app/name[/trackID=N]``."""
    if "://" in url:
        url = url.split("://", 1)[1]
        url = url.partition("/")[2]
    path = url.split("?", 1)[0].strip("/")
    parts = [p for p in path.split("/") if p]
    track = None
    if parts and parts[-1].startswith("trackID="):
        try:
            track = int(parts[-1].split("=", 1)[1])
        except ValueError:
            return None
        parts = parts[:-1]
    if len(parts) < 2:
        return None
    return parts[0], "/".join(parts[1:]), track


@dataclass
class Track:
    """One SETUP'd track of a session and how its packets travel."""

    index: int  #: 0 video, 1 audio
    rtp: RtpStream
    interleaved: tuple[int, int] | None = None  #: TCP channels (RTP, RTCP)
    client: tuple[str, int, int] | None = None  #: UDP: client host, RTP port, RTCP port
    udp_rtp: asyncio.DatagramTransport | None = None
    udp_rtcp: asyncio.DatagramTransport | None = None
    server_ports: tuple[int, int] = (0, 0)


class _Udp(asyncio.DatagramProtocol):
    """A server RTP/RTCP socket; anything received (RTCP RR) keeps the session alive."""

    def __init__(self, session: RtspSession) -> None:
        self.session = session

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.session.last_seen = time.monotonic()


@dataclass
class RtspSession:
    id: str
    conn: RtspConnection
    app: str
    name: str
    video: VideoConfig | None
    audio: AudioConfig | None
    tracks: dict[int, Track] = field(default_factory=dict)
    tap: PlayTap | None = None
    last_seen: float = field(default_factory=time.monotonic)

    def close(self) -> None:
        if self.tap is not None:
            self.tap.detach()
            self.tap = None
        for t in self.tracks.values():
            for tr in (t.udp_rtp, t.udp_rtcp):
                if tr is not None:
                    tr.close()


class PlayTap(MediaTap):
    """Sends one stream to one RTSP session as RTP; starts at a keyframe."""

    def __init__(self, session: RtspSession, stream: LiveStream) -> None:
        self.session = session
        self.stream = stream
        self.timeline = FlvTimeline()
        self.waiting_key = True
        self.audio_first_ms: int | None = None
        self.audio_frames = 0
        self.audio_base_ms = 0
        self.sr_handle: asyncio.TimerHandle | None = None
        self.skipping = False
        self.anchor: tuple[float, int] = (0.0, 0)  #: (wall time, media ms) set at the first packet
        self.anchored = False

    def start(self) -> None:
        snap = self.stream.add_tap(self)
        if snap.gop:
            # The cached GOP goes out at once; its newest message is "now" on the media clock.
            self._anchor(max((m.timestamp for m in snap.gop), key=self.timeline.peek))
        for m in snap.gop:
            self.on_media(self.stream, m, m.type_id == 9 and media.is_video_keyframe(m.payload))
        self.sr_handle = asyncio.get_running_loop().call_later(SR_INTERVAL_S, self._sender_reports)

    def _anchor(self, ms: int) -> None:
        self.anchored = True
        """Tie media time ``ms`` to this instant, and send each track's first sender report before
        its first packet: the player maps both tracks onto one clock from the start (RFC 3550
        §6.4.1) instead of re-syncing, and jumping, when a report arrives later."""
        self.anchor = (time.time(), self.timeline.peek(ms))
        self._reports()

    def _media_now(self, track: Track, now: float) -> int:
        """The media clock of ``track`` (before its random offset) at wall time ``now``."""
        wall, ms = self.anchor
        ext = ms + (now - wall) * 1000.0
        return int(ext * track.rtp.clock_rate / 1000)

    def _reports(self) -> None:
        now = time.time()
        for track in self.session.tracks.values():
            self.session.conn.send_rtcp(track, track.rtp.sender_report(self._media_now(track, now), now))

    def detach(self) -> None:
        self.stream.remove_tap(self)
        if self.sr_handle is not None:
            self.sr_handle.cancel()
            self.sr_handle = None
        self.session.conn.server.registry.release_if_unused(self.stream)

    def on_publish_end(self, stream: LiveStream) -> None:
        self.session.conn.end_session(self.session, "the publisher left")

    def on_sequence_header(self, stream: LiveStream, msg: CachedMessage) -> None:
        if msg.type_id == 9:
            cfg = video_config(msg.payload)
            if cfg is not None:
                self.session.video = cfg

    def on_media(self, stream: LiveStream, msg: CachedMessage, keyframe: bool) -> None:
        session = self.session
        if session.conn.closed:
            return
        has_video = stream.video_sh is not None and 0 in session.tracks
        if msg.type_id == 9:
            track = session.tracks.get(0)
            if track is None or session.video is None:
                return
            if self.waiting_key or self.skipping:
                if not keyframe:
                    return
                self.waiting_key = self.skipping = False
            if session.conn.backlog() > MAX_BACKLOG:
                self.skipping = True  # a slow TCP viewer: drop to the next keyframe, never queue more
                return
            self._video(track, msg, keyframe)
        elif msg.type_id == 8:
            track = session.tracks.get(1)
            if track is None or session.audio is None or (has_video and self.waiting_key):
                return
            self._audio(track, msg)

    def _video(self, track: Track, msg: CachedMessage, keyframe: bool) -> None:
        cfg = self.session.video
        assert cfg is not None
        tag = media.parse_video_tag(msg.payload)
        try:
            nalus = [bytes(n) for n in media.split_nalus(tag.body, cfg.length_size)]
        except Exception:  # noqa: BLE001 - a malformed frame is dropped, the session goes on
            return
        if cfg.codec == "h264":
            nalus = [n for n in nalus if n and (n[0] & 0x1F) not in (7, 8, 9)]  # SPS/PPS/AUD: sent below
            if keyframe:
                nalus = list(cfg.parameter_sets) + nalus
            payloads = h264_payloads(nalus, MAX_PAYLOAD)
        else:
            nalus = [n for n in nalus if n and ((n[0] >> 1) & 0x3F) not in (32, 33, 34, 35)]
            if keyframe:
                nalus = list(cfg.parameter_sets) + nalus
            payloads = hevc_payloads(nalus, MAX_PAYLOAD)
        if not payloads:
            return
        if not self.anchored:
            self._anchor(msg.timestamp)
        pts, _ = self.timeline.pts_dts(msg.timestamp, composition_time(msg.payload))
        self.session.conn.send_rtp(track, track.rtp.packets_for(payloads, pts))

    def _audio(self, track: Track, msg: CachedMessage) -> None:
        cfg = self.session.audio
        assert cfg is not None
        tag = media.parse_audio_tag(msg.payload)
        frame = bytes(tag.body)
        if not frame:
            return
        # The AAC clock: 1024 samples a frame from the first frame's time, resynced on a real gap.
        ms = self.timeline.peek(msg.timestamp)
        if self.audio_first_ms is None or abs(ms - self._audio_ms()) > 200:
            self.audio_first_ms = ms
            self.audio_base_ms = ms
            self.audio_frames = 0
        if not self.anchored:
            self._anchor(msg.timestamp)
        ts = self.audio_base_ms * cfg.sample_rate // 1000 + self.audio_frames * 1024
        self.audio_frames += 1
        self.session.conn.send_rtp(track, track.rtp.packets_for([aac_payload(frame)], ts))

    def _audio_ms(self) -> float:
        cfg = self.session.audio
        rate = cfg.sample_rate if cfg is not None else 48000
        return self.audio_base_ms + self.audio_frames * 1024 * 1000 / rate

    def _sender_reports(self) -> None:
        self.sr_handle = None
        conn = self.session.conn
        if conn.closed or self.session.tap is not self:
            return
        if self.anchored:
            self._reports()
        self.sr_handle = asyncio.get_running_loop().call_later(SR_INTERVAL_S, self._sender_reports)


class RtspConnection(asyncio.Protocol):
    """One RTSP control connection (and its TCP-interleaved media)."""

    def __init__(self, server: RtspServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.sessions: dict[str, RtspSession] = {}
        self.closed = False
        self.peer = ("?", 0)
        self._timer: asyncio.TimerHandle | None = None

    # -- asyncio ---------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it: no isinstance check.
        self.transport = transport = cast(asyncio.Transport, transport)
        self.peer = transport.get_extra_info("peername") or ("?", 0)
        self.server.connections.add(self)
        self._arm()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self.buf and not self.closed:
            if self.buf[0] == 0x24:  # "$": an interleaved frame from the client (RTCP RR)
                if len(self.buf) < 4:
                    return
                size = struct.unpack_from(">H", self.buf, 2)[0]
                if len(self.buf) < 4 + size:
                    return
                del self.buf[:4 + size]
                for s in self.sessions.values():
                    s.last_seen = time.monotonic()
                continue
            try:
                req, used = parse_request(self.buf)
            except ValueError as exc:
                self._respond(None, 400, "Bad Request", body=str(exc).encode())
                self.close()
                return
            if req is None:
                return
            del self.buf[:used]
            self.handle(req)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        for s in list(self.sessions.values()):
            self._drop(s)
        self.server.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()
        self.closed = True

    def backlog(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    # -- timers ----------------------------------------------------------------------------------

    def _arm(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self.server.session_timeout / 2, self._check)

    def _check(self) -> None:
        now = time.monotonic()
        for s in list(self.sessions.values()):
            if now - s.last_seen > self.server.session_timeout:
                log.info("rtsp %s: session %s timed out", self.peer, s.id)
                self.end_session(s, "session timeout")
        if not self.closed:
            self._arm()

    # -- requests --------------------------------------------------------------------------------

    def _respond(self, req: Request | None, code: int, reason: str, headers: dict[str, str] | None = None,
                 body: bytes = b"") -> None:
        lines = [f"RTSP/1.0 {code} {reason}"]
        if req is not None and "cseq" in req.headers:
            lines.append(f"CSeq: {req.headers['cseq']}")
        lines.append(f"Server: {SERVER}")
        lines.append(f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime())}")
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        if body:
            lines.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def handle(self, req: Request) -> None:
        if "cseq" not in req.headers:
            self._respond(req, 400, "Bad Request", body=b"CSeq missing")
            return
        if req.version != "RTSP/1.0":
            self._respond(req, 505, "RTSP Version Not Supported")
            return
        handler = getattr(self, f"_on_{req.method.lower()}", None)
        if handler is None:
            self._respond(req, 501 if req.method.isalpha() else 400, "Not Implemented",
                          {"Public": METHODS} if req.method.isalpha() else None)
            return
        session = None
        sid = req.headers.get("session", "").split(";", 1)[0].strip()
        if sid:
            session = self.sessions.get(sid)
            if session is None:
                self._respond(req, 454, "Session Not Found")
                return
            session.last_seen = time.monotonic()
        handler(req, session)

    def _on_options(self, req: Request, session: RtspSession | None) -> None:
        self._respond(req, 200, "OK", {"Public": METHODS})

    def _lookup(self, req: Request) -> tuple[LiveStream, str, str, int | None] | None:
        key = stream_key(req.url)
        if key is None:
            self._respond(req, 404, "Not Found")
            return None
        app, name, track = key
        stream = self.server.registry.get(app, name)
        if stream is None or stream.publisher is None or (stream.video_sh is None and stream.audio_sh is None):
            self._respond(req, 404, "Not Found")
            return None
        return stream, app, name, track

    def _configs(self, stream: LiveStream) -> tuple[VideoConfig | None, AudioConfig | None]:
        video = audio = None
        try:
            video = video_config(stream.video_sh.payload) if stream.video_sh is not None else None
        except Exception:  # noqa: BLE001 - an unreadable header: no video track
            video = None
        try:
            audio = audio_config(stream.audio_sh.payload) if stream.audio_sh is not None else None
        except Exception:  # noqa: BLE001
            audio = None
        return video, audio

    def _on_describe(self, req: Request, session: RtspSession | None) -> None:
        found = self._lookup(req)
        if found is None:
            return
        stream, app, name, _ = found
        video, audio = self._configs(stream)
        if video is None and audio is None:
            self._respond(req, 415, "Unsupported Media Type")
            return
        host = self.transport.get_extra_info("sockname")[0] if self.transport else "127.0.0.1"
        sdp = describe(f"{app}/{name}", host, video, audio, secrets.randbits(31)).encode()
        base = req.url.split("?", 1)[0].rstrip("/") + "/"
        self._respond(req, 200, "OK", {"Content-Base": base, "Content-Type": "application/sdp"}, sdp)

    def _on_setup(self, req: Request, session: RtspSession | None) -> None:
        found = self._lookup(req)
        if found is None:
            return
        stream, app, name, track_no = found
        video, audio = self._configs(stream)
        track_no = 0 if track_no is None else track_no
        if (track_no == 0 and video is None) or (track_no == 1 and audio is None) or track_no not in (0, 1):
            self._respond(req, 404, "Not Found")
            return
        if session is not None and (session.app, session.name) != (app, name):
            self._respond(req, 459, "Aggregate Operation Not Allowed")
            return
        if session is None:
            session = RtspSession(secrets.token_hex(8), self, app, name, video, audio)
        transport_hdr = req.headers.get("transport", "")
        rtp = RtpStream(VIDEO_PT if track_no == 0 else AUDIO_PT,
                        90000 if track_no == 0 else (audio.sample_rate if audio else 90000),
                        secrets.randbits(32), secrets.randbits(16), secrets.randbits(32))
        track = Track(track_no, rtp)
        reply = self._negotiate(transport_hdr, track, session)
        if reply is None:
            self._respond(req, 461, "Unsupported Transport")
            return
        if isinstance(reply, asyncio.Future):
            reply.add_done_callback(lambda f: self._setup_done(req, session, track, f.result()))
            return
        self._setup_done(req, session, track, reply)

    def _setup_done(self, req: Request, session: RtspSession, track: Track, reply: str | None) -> None:
        if reply is None:
            self._respond(req, 461, "Unsupported Transport")
            return
        old = session.tracks.get(track.index)
        if old is not None:
            for tr in (old.udp_rtp, old.udp_rtcp):
                if tr is not None:
                    tr.close()
        session.tracks[track.index] = track
        self.sessions[session.id] = session
        self._respond(req, 200, "OK", {"Transport": f"{reply};ssrc={track.rtp.ssrc:08X}",
                                       "Session": f"{session.id};timeout={int(self.server.session_timeout)}"})

    def _negotiate(self, header: str, track: Track, session: RtspSession) -> str | asyncio.Future[str | None] | None:
        """The Transport reply for the first acceptable offer (RFC 2326 §12.39), or None."""
        for offer in header.split(","):
            params = [p.strip() for p in offer.split(";") if p.strip()]
            if not params:
                continue
            spec = params[0].upper()
            opts = dict(p.split("=", 1) if "=" in p else (p, "") for p in params[1:])
            if spec == "RTP/AVP/TCP":
                ch = opts.get("interleaved", f"{track.index * 2}-{track.index * 2 + 1}")
                try:
                    a, _, b = ch.partition("-")
                    track.interleaved = (int(a), int(b or int(a) + 1))
                except ValueError:
                    continue
                return f"RTP/AVP/TCP;unicast;interleaved={track.interleaved[0]}-{track.interleaved[1]}"
            if spec in ("RTP/AVP", "RTP/AVP/UDP") and "client_port" in opts and "multicast" not in opts:
                try:
                    a, _, b = opts["client_port"].partition("-")
                    rtp_port, rtcp_port = int(a), int(b or int(a) + 1)
                except ValueError:
                    continue
                track.client = (self.peer[0], rtp_port, rtcp_port)
                fut: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
                asyncio.get_running_loop().create_task(self._open_udp(track, session, opts["client_port"], fut))
                return fut
        return None

    async def _open_udp(self, track: Track, session: RtspSession, client_port: str,
                        fut: asyncio.Future[str | None]) -> None:
        loop = asyncio.get_running_loop()
        host = self.transport.get_extra_info("sockname")[0] if self.transport else "127.0.0.1"
        for _ in range(20):
            rtp_tr = rtcp_tr = None
            try:
                rtp_tr, _ = await loop.create_datagram_endpoint(lambda: _Udp(session), local_addr=(host, 0))
                port = rtp_tr.get_extra_info("sockname")[1]
                if port % 2:  # RFC 3550 §11: RTP on an even port, RTCP on the next one
                    rtp_tr.close()
                    continue
                rtcp_tr, _ = await loop.create_datagram_endpoint(lambda: _Udp(session), local_addr=(host, port + 1))
            except OSError:
                if rtp_tr is not None:
                    rtp_tr.close()
                continue
            track.udp_rtp, track.udp_rtcp, track.server_ports = rtp_tr, rtcp_tr, (port, port + 1)
            fut.set_result(f"RTP/AVP;unicast;client_port={client_port};server_port={port}-{port + 1}")
            return
        fut.set_result(None)

    def _on_play(self, req: Request, session: RtspSession | None) -> None:
        if session is None or not session.tracks:
            self._respond(req, 454 if session is None else 455, "Session Not Found" if session is None
                          else "Method Not Valid in This State")
            return
        stream = self.server.registry.get(session.app, session.name)
        if stream is None or stream.publisher is None:
            self._respond(req, 404, "Not Found")
            return
        base = req.url.split("?", 1)[0].rstrip("/")
        if base.rsplit("/", 1)[-1].startswith("trackID="):
            base = base.rsplit("/", 1)[0]
        info = ",".join(f"url={base}/trackID={t.index};seq={t.rtp.seq};rtptime={t.rtp.ts_offset}"
                        for t in sorted(session.tracks.values(), key=lambda t: t.index))
        self._respond(req, 200, "OK", {"Session": session.id, "Range": "npt=0.000-", "RTP-Info": info})
        if session.tap is None:
            session.tap = PlayTap(session, stream)
            session.tap.start()

    def _on_pause(self, req: Request, session: RtspSession | None) -> None:
        if session is None:
            self._respond(req, 454, "Session Not Found")
            return
        if session.tap is not None:
            session.tap.detach()
            session.tap = None
        self._respond(req, 200, "OK", {"Session": session.id})

    def _on_teardown(self, req: Request, session: RtspSession | None) -> None:
        if session is None:
            self._respond(req, 454, "Session Not Found")
            return
        self._respond(req, 200, "OK", {"Session": session.id})
        self._drop(session)

    def _on_get_parameter(self, req: Request, session: RtspSession | None) -> None:
        self._respond(req, 200, "OK", {"Session": session.id} if session is not None else None)

    _on_set_parameter = _on_get_parameter

    # -- media -----------------------------------------------------------------------------------

    def send_rtp(self, track: Track, packets: list[bytes]) -> None:
        if self.closed or self.transport is None:
            return
        if track.interleaved is not None:
            ch = track.interleaved[0]
            self.transport.write(b"".join(struct.pack(">BBH", 0x24, ch, len(p)) + p for p in packets))
        elif track.udp_rtp is not None and track.client is not None:
            for p in packets:
                track.udp_rtp.sendto(p, (track.client[0], track.client[1]))

    def send_rtcp(self, track: Track, packet: bytes) -> None:
        if self.closed or self.transport is None:
            return
        if track.interleaved is not None:
            self.transport.write(struct.pack(">BBH", 0x24, track.interleaved[1], len(packet)) + packet)
        elif track.udp_rtcp is not None and track.client is not None:
            track.udp_rtcp.sendto(packet, (track.client[0], track.client[2]))

    def end_session(self, session: RtspSession, why: str) -> None:
        """The stream ended: RTCP BYE on each track, then the session and the connection close."""
        for t in session.tracks.values():
            # RFC 3550 §6.6: V=2, SC=1, PT=203 (BYE), length 1, SSRC.
            self.send_rtcp(t, struct.pack(">BBHI", 0x81, 203, 1, t.rtp.ssrc))
        log.info("rtsp %s: session %s ends: %s", self.peer, session.id, why)
        self._drop(session)
        if not self.sessions:
            self.close()

    def _drop(self, session: RtspSession) -> None:
        self.sessions.pop(session.id, None)
        session.close()


class RtspServer:
    """The RTSP listener; sessions read the same registry as RTMP players."""

    def __init__(self, registry: StreamRegistry, host: str, port: int,
                 session_timeout: float = SESSION_TIMEOUT_S) -> None:
        self.registry = registry
        self.host = host
        self.port = port
        self.session_timeout = session_timeout
        self.connections: set[RtspConnection] = set()
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: RtspConnection(self), self.host, self.port,
                                                reuse_address=True)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("listening on rtsp://%s:%d", self.host, self.port)

    async def close(self) -> None:
        for c in list(self.connections):
            c.close()
        if self._server is not None:
            self._server.close()
            self._server = None
