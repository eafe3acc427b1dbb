"""PyAV (the FFmpeg 8.1 inside the ``av`` wheel) as a real E-RTMP publisher and player.

FFmpeg 8.1's FLV muxer writes Enhanced RTMP by itself: hvc1 / av01 / vp09 video, Opus / ac-3 /
ec-3 / fLaC audio (with SequenceStart and MultichannelConfig), and -- with several video or audio
streams -- multitrack the way OBS sends it: the first stream of each kind as a plain message (H.264
and AAC in their legacy form), the others as OneTrack messages with trackId 1, 2, ... each with its
own SequenceStart. Its FLV demuxer reads all of that back (one AVStream per track, ``id`` = trackId).
What FFmpeg 8.1 does not do: it cannot mux VP8 into FLV, its demuxer has no vp08, it reads only the
first track of a multitrack SequenceStart message, and its RTMP client sends ``fourCcList`` (the
``rtmp_enhanced_codecs`` option, audio FourCCs included) but never ``capsEx``, so it cannot say it
takes Multitrack or ModEx.

Both roles run in a subprocess (``python -m rtmpconf.harness.peers.pyav_ertmp publish|play``): PyAV
blocks inside FFmpeg, and a subprocess can always be stopped at its deadline. Each prints one JSON
object on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

VIDEO_ENCODERS = {"h264": "libx264", "hevc": "libx265", "av1": "libsvtav1", "vp9": "libvpx-vp9"}
AUDIO_ENCODERS = {"aac": "aac", "opus": "libopus", "ac3": "ac3", "eac3": "eac3", "flac": "flac", "mp3": "libmp3lame"}
#: The FourCCs a player declares to get each codec (rtmp_enhanced_codecs; ERTMP-17).
FOURCC = {"h264": "avc1", "hevc": "hvc1", "av1": "av01", "vp9": "vp09", "aac": "mp4a", "opus": "Opus",
          "ac3": "ac-3", "eac3": "ec-3", "flac": "fLaC", "mp3": ".mp3"}
#: Extra slack on top of a peer's own duration before it is killed.
DEADLINE_SLACK_S = 25.0


@dataclass
class PeerResult:
    """What one PyAV publisher or player did (the subprocess's JSON)."""

    ok: bool = False
    error: str | None = None
    #: per AVStream: index, id (trackId), type, codec, packets, frames, errors, first_key
    streams: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @classmethod
    def from_json(cls, text: str, fallback_error: str) -> PeerResult:
        try:
            data = json.loads(text.strip().splitlines()[-1]) if text.strip() else None
        except (json.JSONDecodeError, IndexError):
            data = None
        if not isinstance(data, dict):
            return cls(False, fallback_error)
        return cls(bool(data.get("ok")), data.get("error"), list(data.get("streams") or []),
                   float(data.get("seconds") or 0.0))

    def by_type(self, kind: str) -> list[dict[str, Any]]:
        return [s for s in self.streams if s.get("type") == kind]


def _python_peer(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "rtmpconf.harness.peers.pyav_ertmp", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**__import__("os").environ, "SVT_LOG": "1"})


def _finish(proc: subprocess.Popen[str], timeout: float, what: str) -> PeerResult:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=5)
        return PeerResult(False, f"{what} did not finish within {timeout:g} s")
    tail = (err or "").strip().splitlines()[-3:]
    return PeerResult.from_json(out or "", f"{what} exited with {proc.returncode}: {' | '.join(tail)}")


class Publisher:
    """A PyAV publisher in a subprocess (start it, then ``result()``)."""

    def __init__(self, url: str, *, video: list[str], audio: list[str], seconds: float, fps: int = 25,
                 width: int = 320, height: int = 180, gop: int = 25) -> None:
        self.seconds = seconds
        args = ["publish", url, "--seconds", str(seconds), "--fps", str(fps), "--size", f"{width}x{height}",
                "--gop", str(gop)]
        for v in video:
            args += ["--video", v]
        for a in audio:
            args += ["--audio", a]
        self.proc = _python_peer(args)

    def result(self) -> PeerResult:
        return _finish(self.proc, self.seconds + DEADLINE_SLACK_S, "the PyAV publisher")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=5)


class Player:
    """A PyAV player in a subprocess."""

    def __init__(self, url: str, *, seconds: float, fourccs: list[str] | None = None, open_timeout: float = 10.0) -> None:
        self.seconds = seconds + open_timeout
        args = ["play", url, "--seconds", str(seconds), "--open-timeout", str(open_timeout)]
        if fourccs:
            args += ["--fourccs", ",".join(fourccs)]
        self.proc = _python_peer(args)

    def result(self) -> PeerResult:
        return _finish(self.proc, self.seconds + DEADLINE_SLACK_S, "the PyAV player")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=5)


# -- the subprocess side ----------------------------------------------------------------------------


def _publish(url: str, video: list[str], audio: list[str], seconds: float, fps: int, width: int, height: int,
             gop: int) -> dict[str, Any]:
    import av

    from rtmpconf.harness.testmedia import _pattern_planes

    out = av.open(url, "w", format="flv")
    vstreams = []
    for n, codec in enumerate(video):
        # Track n at a smaller size each: the ladder an OBS multitrack encoder sends.
        w, h = (width >> n) & ~1, (height >> n) & ~1
        s = out.add_stream(VIDEO_ENCODERS[codec], rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.time_base = Fraction(1, fps)
        s.bit_rate = 400_000 >> n
        s.gop_size = gop
        s.max_b_frames = 0
        opts = {"h264": {"preset": "ultrafast", "tune": "zerolatency", "threads": "1", "sc_threshold": "0"},
                "hevc": {"preset": "ultrafast", "tune": "zerolatency",
                         "x265-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:log-level=error:pools=none"},
                "av1": {"preset": "11", "svtav1-params": f"keyint={gop}:scd=0:lp=1"},
                "vp9": {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "row-mt": "0"}}[codec]
        s.options = opts
        s.codec_context.thread_count = 1
        vstreams.append((s, w, h))
    astreams = []
    for codec in audio:
        s = out.add_stream(AUDIO_ENCODERS[codec], rate=48000)
        s.layout = "stereo"
        astreams.append(s)
    counts: dict[int, int] = {}
    start = time.monotonic()
    total = max(1, round(seconds * fps))
    audio_pts = [0] * len(astreams)
    step = 2.0 * math.pi * 440.0 / 48000

    def mux(packets: Any) -> None:
        for p in packets:
            out.mux(p)
            counts[p.stream.index] = counts.get(p.stream.index, 0) + 1

    for i in range(total):
        due = start + i / fps
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        for s, w, h in vstreams:
            pic = av.VideoFrame(w, h, "yuv420p")
            _pattern_planes(i, pic.planes)
            pic.pts = i
            pic.time_base = Fraction(1, fps)
            mux(s.encode(pic))
        for k, s in enumerate(astreams):
            ctx = s.codec_context
            size = ctx.frame_size or 1024
            while audio_pts[k] < (i + 1) * 48000 // fps:
                first = audio_pts[k]
                frame = av.AudioFrame(format=ctx.format.name, layout="stereo", samples=size)
                frame.sample_rate, frame.time_base, frame.pts = 48000, Fraction(1, 48000), first
                values = [0.25 * math.sin(step * (first + j)) for j in range(size)]
                import array
                if ctx.format.name.startswith("s16"):
                    data = array.array("h", [int(v * 32767) for v in values])
                else:
                    data = array.array("f", values)
                if ctx.format.is_planar:
                    for plane in frame.planes:
                        plane.update(data.tobytes())
                else:
                    frame.planes[0].update(array.array(data.typecode, [x for v in data for x in (v, v)]).tobytes())
                mux(s.encode(frame))
                audio_pts[k] += size
    for s, _w, _h in vstreams:
        mux(s.encode(None))
    for s in astreams:
        mux(s.encode(None))
    streams = [{"index": s.index, "type": s.type, "codec": s.codec_context.name, "packets": counts.get(s.index, 0)}
               for s in out.streams]
    out.close()
    return {"ok": True, "streams": streams, "seconds": time.monotonic() - start}


def _play(url: str, seconds: float, fourccs: str | None, open_timeout: float) -> dict[str, Any]:
    import av

    options = {"rw_timeout": str(int(open_timeout * 1e6)), "live": "1", "analyzeduration": "500000"}
    if fourccs:
        options["rtmp_enhanced_codecs"] = fourccs
    start = time.monotonic()
    try:
        container = av.open(url, options=options, timeout=open_timeout)
    except Exception as exc:  # noqa: BLE001 - reported in the JSON
        return {"ok": False, "error": f"open failed: {exc}", "streams": []}
    stats: dict[int, dict[str, Any]] = {}
    error = None
    try:
        for packet in container.demux():
            st = packet.stream
            rec = stats.setdefault(st.index, {"index": st.index, "id": st.id, "type": st.type,
                                              "codec": st.codec_context.name if st.codec_context else None,
                                              "packets": 0, "frames": 0, "errors": 0, "first_key": None})
            if packet.size:
                rec["packets"] += 1
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                rec["errors"] += 1
                frames = []
            for f in frames:
                if rec["first_key"] is None and st.type == "video":
                    rec["first_key"] = bool(f.key_frame)
                rec["frames"] += 1
            if time.monotonic() - start > seconds:
                break
    except Exception as exc:  # noqa: BLE001 - EOF or a timeout ends the play; recorded
        error = f"{type(exc).__name__}: {exc}"
    finally:
        container.close()
    # Streams the demuxer created but never got a packet for are listed too.
    for st in container.streams:
        stats.setdefault(st.index, {"index": st.index, "id": st.id, "type": st.type,
                                    "codec": st.codec_context.name if st.codec_context else None,
                                    "packets": 0, "frames": 0, "errors": 0, "first_key": None})
    return {"ok": error is None or "End of file" in error or "Immediate exit" in error, "error": error,
            "streams": sorted(stats.values(), key=lambda r: r["index"]), "seconds": time.monotonic() - start}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rtmpconf.harness.peers.pyav_ertmp")
    sub = p.add_subparsers(dest="role", required=True)
    pub = sub.add_parser("publish")
    pub.add_argument("url")
    pub.add_argument("--video", action="append", default=[], choices=sorted(VIDEO_ENCODERS))
    pub.add_argument("--audio", action="append", default=[], choices=sorted(AUDIO_ENCODERS))
    pub.add_argument("--seconds", type=float, default=4.0)
    pub.add_argument("--fps", type=int, default=25)
    pub.add_argument("--size", default="320x180")
    pub.add_argument("--gop", type=int, default=25)
    play = sub.add_parser("play")
    play.add_argument("url")
    play.add_argument("--seconds", type=float, default=4.0)
    play.add_argument("--fourccs", default=None)
    play.add_argument("--open-timeout", type=float, default=10.0)
    args = p.parse_args(argv)
    try:
        if args.role == "publish":
            w, h = (int(x) for x in args.size.split("x"))
            result = _publish(args.url, args.video, args.audio, args.seconds, args.fps, w, h, args.gop)
        else:
            result = _play(args.url, args.seconds, args.fourccs, args.open_timeout)
    except Exception as exc:  # noqa: BLE001 - one JSON line whatever happens
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "streams": []}
    print(json.dumps(result), flush=True)
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    raise SystemExit(main())
