"""Encode-once fan-out to HTTP viewers, with the same bounded queues and drop-to-keyframe as RTMP.

A viewer's queue is its transport's write buffer. Past ``queue_bytes`` the viewer stops
receiving; once its backlog is under ``resume_bytes`` it resumes at the next *resume point* (a
video keyframe, where a TS stream repeats PAT/PMT), never mid-GOP (GOP-8's policy, same limits as
RTMP players: ``player_queue_bytes`` / ``player_resume_bytes``).

Bodies are streamed either close-delimited (HTTP/1.0 peers) or chunked (HTTP/1.1): each piece of
media is framed at most once per framing and the same bytes object goes to every viewer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("rtmpconf.rtmp.server.http")


@dataclass(eq=False, slots=True)
class HttpViewer:
    """One streaming HTTP response (an HTTP-FLV or HTTP-TS player)."""

    write: Callable[[bytes], None]
    backlog: Callable[[], int]
    close: Callable[[], None]
    chunked: bool  #: Transfer-Encoding: chunked (else close-delimited)
    peer: str = "?"
    protocol: str = ""  #: "http-flv" | "http-ts"
    started: bool = False  #: has received its start (headers + keyframe)
    dropping: bool = False
    drops: int = 0
    bytes_out: int = 0
    joined_at: float = field(default_factory=time.monotonic)
    first_media_at: float | None = None


def chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk (RFC 9112 §7.1): size in hex, CRLF, data, CRLF."""
    return b"%x\r\n%b\r\n" % (len(data), data)


#: The last chunk of a chunked body, with no trailers (RFC 9112 §7.1).
LAST_CHUNK = b"0\r\n\r\n"


class ViewerSet:
    """Viewers of one output of one stream; fan-out of shared bytes with GOP-8 dropping."""

    def __init__(self, queue_bytes: int, resume_bytes: int) -> None:
        self.queue_bytes = queue_bytes
        self.resume_bytes = resume_bytes
        self.viewers: list[HttpViewer] = []
        self.dropped = 0  #: pieces not sent to a viewer because it was behind

    def __len__(self) -> int:
        return len(self.viewers)

    def add(self, viewer: HttpViewer) -> None:
        self.viewers.append(viewer)

    def remove(self, viewer: HttpViewer) -> None:
        if viewer in self.viewers:
            self.viewers.remove(viewer)

    def send_to(self, viewer: HttpViewer, data: bytes) -> None:
        """Write ``data`` to one viewer, framed for it (start-up bytes: its own headers and GOP)."""
        if not data:
            return
        viewer.write(chunk(data) if viewer.chunked else data)
        viewer.bytes_out += len(data)

    def fanout(self, data: bytes, resume_point: bool) -> None:
        """``data`` to every started viewer that keeps up; ``resume_point`` = a viewer may (re)join here."""
        framed: bytes | None = None
        limit = self.queue_bytes
        for v in self.viewers:
            if not v.started:
                continue
            backlog = v.backlog()
            if v.dropping:
                if not resume_point or backlog > self.resume_bytes:
                    self.dropped += 1
                    continue
                v.dropping = False
            elif backlog > limit:
                v.dropping = True
                v.drops += 1
                self.dropped += 1
                log.info("http viewer %s fell behind (%d bytes queued); dropping to the next keyframe",
                         v.peer, backlog)
                continue
            if v.chunked:
                if framed is None:
                    framed = chunk(data)
                v.write(framed)
            else:
                v.write(data)
            v.bytes_out += len(data)

    def end_all(self) -> None:
        """End every response (the publisher left): last chunk, then close."""
        for v in list(self.viewers):
            if v.chunked:
                v.write(LAST_CHUNK)
            v.close()
        self.viewers.clear()
