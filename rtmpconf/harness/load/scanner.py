"""Sans-IO receive side of a load-test player: walk chunk headers, count, time, never decode media.

A load generator has to carry hundreds of players per core, so a player cannot afford the full
``rtmp.chunk.ChunkReader`` (which joins every payload). ``ChunkScanner`` only reads chunk
headers and skips payloads by arithmetic; it looks inside a payload in three cases only:

* the first :data:`MARKER_PEEK` bytes of a video message, where the load publisher puts its
  latency marker (an H.264 SEI NAL, see :mod:`harness.load.media`);
* small control messages (Set Chunk Size, Window Acknowledgement Size, ping requests), which
  change how the rest of the stream must be read or need an answer;
* small commands, only to notice ``NetStream.Play.Start`` / ``StreamNotFound`` / unpublish.

The scanner works on a caller-owned buffer: the I/O driver copies :meth:`ChunkScanner.load_carry`
bytes (an incomplete header kept from the previous read, at most a few KiB) to the start of its
buffer, receives after them and calls :meth:`ChunkScanner.scan`. So one receive buffer can serve
every player of a process and a read allocates nothing.

Limits of the approach, on purpose: fmt-3 chunks after an extended timestamp are assumed to
repeat the 4 bytes (the §5.3.1.3 2012 text; our publisher's timestamps stay far below 0xFFFFFF
in any sane run, so no server is asked to write them); a message header that interrupts a
half-received message restarts it (the reference server's CH-12 policy).
"""

from __future__ import annotations

from rtmpconf.harness.load.media import MARKER_PEEK, MARKER_PREFIX, MARKER_PREFIX_AT, MARKER_SEQ_AT, MARKER_TIME_AT

#: Control and command messages up to this size are read whole (in one chunk) to act on them.
MAX_PEEK = 8192
#: Types whose (small) payload we read: Set Chunk Size, Abort, Ack, User Control, WinAck, SetPeerBW.
_CONTROL_TYPES = frozenset((1, 2, 3, 4, 5, 6))
_COMMAND_TYPES = frozenset((17, 20))
_EXT = 0xFFFFFF


class LatencyHistogram:
    """Counts of latencies in µs, kept to about three significant digits (mergeable, tiny).

    An exact sample list would cost 8 bytes per video frame per player; this costs a dict entry
    per distinct bucket (a few hundred) whatever the run length.
    """

    __slots__ = ("counts",)

    def __init__(self, counts: dict[int, int] | None = None) -> None:
        self.counts: dict[int, int] = counts if counts is not None else {}

    def add(self, us: int) -> None:
        # Bucket width grows with the value: 1 µs below 1 ms, 10 µs below 10 ms, ...
        if us >= 1000:
            if us < 10_000:
                us -= us % 10
            elif us < 100_000:
                us -= us % 100
            elif us < 1_000_000:
                us -= us % 1000
            else:
                us -= us % 10_000
        c = self.counts
        c[us] = c.get(us, 0) + 1

    def merge(self, other: LatencyHistogram | dict[int, int]) -> None:
        counts = other.counts if isinstance(other, LatencyHistogram) else other
        c = self.counts
        for k, v in counts.items():
            k = int(k)
            c[k] = c.get(k, 0) + v

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def percentiles(self, qs: tuple[float, ...] = (50.0, 90.0, 99.0, 99.9)) -> dict[str, float | None]:
        """Percentiles in ms (nearest rank) plus max and count."""
        items = sorted(self.counts.items())
        total = sum(v for _, v in items)
        out: dict[str, float | None] = {}
        for q in qs:
            if not total:
                out[f"p{q:g}"] = None
                continue
            rank = max(1, -(-int(q * total) // 100))  # ceil(q% of total)
            seen = 0
            for value, count in items:
                seen += count
                if seen >= rank:
                    out[f"p{q:g}"] = round(value / 1000.0, 3)
                    break
        out["max"] = round(items[-1][0] / 1000.0, 3) if items else None
        out["min"] = round(items[0][0] / 1000.0, 3) if items else None
        out["count"] = total
        return out


class _ChunkStream:
    """What later headers on one chunk stream inherit, plus the message in progress."""

    __slots__ = ("ext", "length", "msid", "remaining", "send_ns", "timed", "type_id")

    def __init__(self) -> None:
        self.length = 0
        self.type_id = 0
        self.msid = 0
        self.remaining = 0  # payload bytes of the current message not yet seen; 0 = between messages
        self.ext = False  # the last fmt 0/1/2 header had an extended timestamp
        self.send_ns = 0  # publisher send time of the video message in progress (0 = no marker)
        self.timed = True  # its latency counts (not one of the publish's warm-up frames)


class ChunkScanner:
    """Counts what one player receives after the handshake; see the module doc."""

    __slots__ = (
        "_acked_at",
        "_carry",
        "_cur",
        "_skip",
        "_streams",
        "audio",
        "chunk_size",
        "data",
        "first_frame_ns",
        "frame_log",
        "frames",
        "histogram",
        "keyframes",
        "last_frame_ns",
        "lat_max_us",
        "lat_n",
        "lat_sum_us",
        "media_bytes",
        "not_found",
        "other",
        "out",
        "play_started",
        "publisher_ids",
        "rx",
        "seq_first",
        "seq_gaps",
        "seq_last",
        "unpublished",
        "video",
        "warmup_frames",
        "window",
    )

    def __init__(self, histogram: LatencyHistogram | None = None, handshake_bytes: int = 3073,
                 warmup_frames: int = 0) -> None:
        self.chunk_size = 128  # §5.4.1 default until the server's Set Chunk Size
        self._streams: dict[int, _ChunkStream] = {}
        self._carry = b""
        self._skip = 0  # payload bytes of the current chunk still to pass over
        self._cur: _ChunkStream | None = None
        self.histogram = histogram
        self.out = bytearray()  #: replies the driver must send (acks, ping responses)
        self.rx = handshake_bytes  #: bytes received, handshake included (what an ack counts, CTRL-2)
        self.window = 0  #: the server's Window Acknowledgement Size (0 = none announced)
        self._acked_at = handshake_bytes
        self.media_bytes = 0  #: payload bytes of audio + video messages
        self.video = 0  #: video messages (sequence headers included)
        self.audio = 0
        self.data = 0  #: data messages (onMetaData, |RtmpSampleAccess)
        self.other = 0  #: control and command messages
        self.frames = 0  #: video messages carrying a latency marker
        self.keyframes = 0
        self.seq_first = -1  #: marker sequence number of the first frame seen
        self.seq_last = -1
        self.seq_gaps = 0  #: marked frames skipped (the server dropped them)
        self.lat_n = 0
        self.lat_sum_us = 0
        self.lat_max_us = 0
        self.first_frame_ns = 0
        self.last_frame_ns = 0
        self.play_started = False
        self.not_found = False
        self.unpublished = 0
        #: Marker publisher ids seen (a republish or a second publisher shows up here).
        self.publisher_ids: set[int] = set()
        #: When a list: (latency µs, payload bytes) of each marked frame, for per-frame reporting
        #: (the Locust users fire one request event per frame); None costs nothing.
        self.frame_log: list[tuple[int, int]] | None = None
        #: Marked frames with a sequence number below this are counted but not timed
        #: (media.LATENCY_WARMUP_FRAMES for load players; 0 times every frame).
        self.warmup_frames = warmup_frames

    # -- driver API ------------------------------------------------------------------------

    def load_carry(self, buf: bytearray) -> int:
        """Copy the bytes kept from the last read to ``buf[0:]``; receive after them."""
        carry = self._carry
        if not carry:
            return 0
        n = len(carry)
        buf[:n] = carry
        return n

    def scan(self, buf: bytearray, end: int, now_ns: int) -> None:
        """Consume ``buf[0:end]`` (carry first, then the new bytes) received at ``now_ns``."""
        self.rx += end - len(self._carry)
        self._carry = b""
        pos = 0
        skip = self._skip
        if skip:
            if skip >= end:
                self._skip = skip - end
                if skip == end:
                    self._end_chunk(now_ns)
                self._maybe_ack()
                return
            pos = skip
            self._skip = 0
            self._end_chunk(now_ns)
        streams = self._streams
        cs = self.chunk_size
        while pos < end:
            b0 = buf[pos]
            fmt = b0 >> 6
            csid = b0 & 0x3F
            p = pos + 1
            if csid < 2:
                # §5.3.1.1: 2-byte form (csid 64..319) or 3-byte form (64..65599).
                if csid == 0:
                    if p >= end:
                        break
                    csid = buf[p] + 64
                    p += 1
                else:
                    if p + 1 >= end:
                        break
                    csid = buf[p] + (buf[p + 1] << 8) + 64
                    p += 2
            st = streams.get(csid)
            if fmt == 0:
                if end - p < 11:
                    break
                ext = buf[p] == 0xFF and buf[p + 1] == 0xFF and buf[p + 2] == 0xFF
                length = (buf[p + 3] << 16) | (buf[p + 4] << 8) | buf[p + 5]
                type_id = buf[p + 6]
                msid = buf[p + 7] | (buf[p + 8] << 8) | (buf[p + 9] << 16) | (buf[p + 10] << 24)
                p += 11
            elif fmt == 1:
                if end - p < 7:
                    break
                ext = buf[p] == 0xFF and buf[p + 1] == 0xFF and buf[p + 2] == 0xFF
                length = (buf[p + 3] << 16) | (buf[p + 4] << 8) | buf[p + 5]
                type_id = buf[p + 6]
                msid = st.msid if st is not None else 0
                p += 7
            elif st is None:
                raise ValueError(f"chunk stream {csid} starts with fmt {fmt}")
            elif fmt == 2:
                if end - p < 3:
                    break
                ext = buf[p] == 0xFF and buf[p + 1] == 0xFF and buf[p + 2] == 0xFF
                length, type_id, msid = st.length, st.type_id, st.msid
                p += 3
            else:
                ext = st.ext
                length, type_id, msid = st.length, st.type_id, st.msid
            if ext:
                if end - p < 4:
                    break
                p += 4
            if fmt == 3 and st is not None and st.remaining:
                n = st.remaining if st.remaining < cs else cs
            else:
                # A new message: peek what we must before committing any state, so an
                # incomplete peek can simply wait for the next read.
                n = length if length < cs else cs
                if type_id == 9:
                    need = n if n < MARKER_PEEK else MARKER_PEEK
                elif (type_id in _CONTROL_TYPES or type_id in _COMMAND_TYPES) and length <= n and n <= MAX_PEEK:
                    need = n
                else:
                    need = 0
                if end - p < need:
                    break
                if st is None:
                    st = streams[csid] = _ChunkStream()
                st.length = length
                st.type_id = type_id
                st.msid = msid
                st.remaining = length
                st.send_ns = 0
                if need:
                    if type_id == 9:
                        self._video_start(st, buf, p, need)
                    else:
                        cs = self._control(type_id, bytes(buf[p:p + n]), cs)
            if fmt != 3:
                st.ext = ext
            st.remaining -= n
            avail = end - p
            if n <= avail:
                pos = p + n
                if not st.remaining:
                    self._complete(st, now_ns)
            else:
                self._skip = n - avail
                self._cur = st
                pos = end
        if pos < end:
            self._carry = bytes(buf[pos:end])
        self._maybe_ack()

    # -- internals -------------------------------------------------------------------------

    def _end_chunk(self, now_ns: int) -> None:
        st = self._cur
        self._cur = None
        if st is not None and not st.remaining:
            self._complete(st, now_ns)

    def _video_start(self, st: _ChunkStream, buf: bytearray, p: int, have: int) -> None:
        if have >= 2 and buf[p] >> 4 == 1 and buf[p + 1] == 1:
            self.keyframes += 1  # FLV FrameType 1 (key) with AVCPacketType 1 (NALU), not a header
        if have < MARKER_PEEK or buf[p + MARKER_PREFIX_AT:p + MARKER_TIME_AT] != MARKER_PREFIX:
            return
        st.send_ns = int(buf[p + MARKER_TIME_AT:p + MARKER_SEQ_AT], 16)
        tag = int(buf[p + MARKER_SEQ_AT:p + MARKER_PEEK - 1], 16)
        pub, seq = tag >> 24, tag & 0xFFFFFF
        st.timed = seq >= self.warmup_frames
        last = self.seq_last
        if last < 0 or pub not in self.publisher_ids:
            self.publisher_ids.add(pub)
            if last < 0:
                self.seq_first = seq
        elif seq > last + 1:
            self.seq_gaps += seq - last - 1
        self.seq_last = seq

    def _complete(self, st: _ChunkStream, now_ns: int) -> None:
        t = st.type_id
        if t == 9:
            self.video += 1
            self.media_bytes += st.length
            sent = st.send_ns
            if sent:
                st.send_ns = 0
                self.frames += 1
                if st.timed:
                    us = (now_ns - sent) // 1000
                    if us < 0:
                        us = 0
                    self.lat_n += 1
                    self.lat_sum_us += us
                    if us > self.lat_max_us:
                        self.lat_max_us = us
                    if self.histogram is not None:
                        self.histogram.add(us)
                    if self.frame_log is not None:
                        self.frame_log.append((us, st.length))
                if not self.first_frame_ns:
                    self.first_frame_ns = now_ns
                self.last_frame_ns = now_ns
        elif t == 8:
            self.audio += 1
            self.media_bytes += st.length
        elif t == 18 or t == 15:
            self.data += 1
        else:
            self.other += 1

    def _control(self, type_id: int, payload: bytes, cs: int) -> int:
        """Act on a small control message or command; returns the chunk size now in force."""
        if type_id == 1 and len(payload) >= 4:
            # §5.4.1: the new size applies to the very next chunk (bit 31 is reserved).
            cs = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF or cs
            self.chunk_size = cs = min(cs, 0xFFFFFF)
        elif type_id == 5 and len(payload) >= 4:
            self.window = int.from_bytes(payload[:4], "big")
        elif type_id == 4 and len(payload) >= 6 and payload[:2] == b"\x00\x06":
            # §7.1.7 PingRequest: answer with PingResponse carrying the same 4 bytes (CTRL-10),
            # or servers that ping (nginx-rtmp) drop the player after their ping timeout.
            self.out += control_message(4, b"\x00\x07" + payload[2:6])
        elif type_id == 20 or type_id == 17:
            if b"NetStream.Play.Start" in payload:
                self.play_started = True
            elif b"StreamNotFound" in payload:
                self.not_found = True
            elif b"UnpublishNotify" in payload:
                self.unpublished += 1
        return cs

    def _maybe_ack(self) -> None:
        # §5.4.4: acknowledge every window's worth of bytes (some servers throttle without it).
        w = self.window
        if w and self.rx - self._acked_at >= w:
            self._acked_at = self.rx
            self.out += control_message(3, (self.rx & 0xFFFFFFFF).to_bytes(4, "big"))


def control_message(type_id: int, payload: bytes) -> bytes:
    """A protocol control message on csid 2, msid 0, timestamp 0, one fmt-0 chunk (payload < 128)."""
    return (b"\x02\x00\x00\x00" + len(payload).to_bytes(3, "big") + bytes((type_id,)) + b"\x00\x00\x00\x00"
            + payload)
