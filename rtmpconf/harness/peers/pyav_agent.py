"""PyAV as a player agent: ``python -m rtmpconf.harness.peers.pyav_agent rtmp://...``.

Opens the URL with PyAV (the FFmpeg inside the wheel, newer than Debian's), decodes every frame and
prints one line per decoded frame (``v <ms> <key>`` / ``a <ms>``) as it goes, so a run stopped by
the harness still tells what was decoded; ``error <text>`` when it stops on an error.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m rtmpconf.harness.peers.pyav_agent rtmp://host:port/app/stream", file=sys.stderr)
        return 2
    import av

    url = argv[0]
    try:
        # PyAV's defaults: no read timeout of our own (the harness's deadline bounds the run).
        container = av.open(url)
    except Exception as exc:  # noqa: BLE001 - what the user of this player would see
        print(f"error open failed: {exc}", flush=True)
        return 1
    code = 0
    # Audio and video only: FFmpeg 8 also exposes the FLV data messages as a subtitle/data stream.
    streams = [st for st in container.streams if st.type in ("video", "audio")]
    try:
        for packet in container.demux(*streams):
            kind = packet.stream.type
            try:
                frames = packet.decode()
            except av.error.InvalidDataError as exc:
                # Like the ffmpeg command line: a packet that does not decode is reported and skipped.
                print(f"decode-error {exc}", flush=True)
                continue
            for frame in frames:
                ms = int(frame.time * 1000) if frame.time is not None else -1
                if kind == "video":
                    print(f"v {ms} {1 if frame.key_frame else 0}", flush=True)
                elif kind == "audio":
                    print(f"a {ms}", flush=True)
    except Exception as exc:  # noqa: BLE001
        print(f"error {type(exc).__name__}: {exc}", flush=True)
        code = 1
    finally:
        container.close()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
