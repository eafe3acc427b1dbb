"""PyAV as an in-process player: open an rtmp:// URL, decode, report what came out first."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PlayResult:
    first_video_keyframe: bool | None = None  #: was the first decoded video frame a keyframe
    video_frames: int = 0
    audio_frames: int = 0
    video_codec: str | None = None
    audio_codec: str | None = None
    first_frame_s: float | None = None  #: seconds from open to the first decoded video frame
    video_pts: list[int] = field(default_factory=list)  #: video packet dts in ms, in arrival order
    error: str | None = None


def play(url: str, *, seconds: float = 3.0, max_video_frames: int = 50, open_timeout: float = 10.0) -> PlayResult:
    """Decode ``url`` for up to ``seconds`` or ``max_video_frames`` (whichever first).

    PyAV blocks inside FFmpeg, so the work runs in a thread joined with a deadline; FFmpeg's own
    rw_timeout (microseconds) bounds every read.
    """
    result = PlayResult()

    def work() -> None:
        import av

        start = time.monotonic()
        try:
            container = av.open(url, options={"rw_timeout": str(int(open_timeout * 1e6)), "live": "1"},
                                timeout=open_timeout)
        except Exception as exc:  # noqa: BLE001 - reported, never raised from the thread
            result.error = f"open failed: {exc}"
            return
        try:
            for stream in container.streams:
                if stream.type == "video":
                    result.video_codec = stream.codec_context.name
                elif stream.type == "audio":
                    result.audio_codec = stream.codec_context.name
            for packet in container.demux():
                if time.monotonic() - start > seconds or result.video_frames >= max_video_frames:
                    break
                if packet.stream.type == "video" and packet.dts is not None:
                    tb = packet.time_base
                    result.video_pts.append(int(packet.dts * tb.numerator * 1000 / tb.denominator))
                for frame in packet.decode():
                    if packet.stream.type == "video":
                        if result.first_video_keyframe is None:
                            result.first_video_keyframe = bool(frame.key_frame)
                            result.first_frame_s = time.monotonic() - start
                        result.video_frames += 1
                    elif packet.stream.type == "audio":
                        result.audio_frames += 1
        except Exception as exc:  # noqa: BLE001
            result.error = f"{type(exc).__name__}: {exc}"
        finally:
            container.close()

    t = threading.Thread(target=work, daemon=True, name="pyav-player")
    t.start()
    t.join(seconds + open_timeout + 5)
    if t.is_alive():
        result.error = result.error or "PyAV player did not finish within its deadline"
    return result


