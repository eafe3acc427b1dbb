"""Captures: pcap/pcapng reading, TCP reassembly, RTMP session detection, analysis and replay.

``read_capture(path)`` gives every RTMP session of a capture as the same :class:`WireLog` live
cases produce, so the checkers of ``harness.checks`` judge recorded traffic unchanged.
"""

from __future__ import annotations

from rtmpconf.harness.capture.sessions import CaptureSessions, RtmpSession, read_capture

__all__ = ["CaptureSessions", "RtmpSession", "read_capture"]
