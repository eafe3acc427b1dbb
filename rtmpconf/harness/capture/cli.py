"""``rtmpconf analyze`` and ``rtmpconf replay`` (registered by harness/cli.py)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from rtmpconf.cliutil import non_negative_int, os_error, positive_float, rtmp_url, speed
from rtmpconf.harness.verdict import Verdict


def register(subparsers: argparse._SubParsersAction) -> dict[str, Callable[[argparse.Namespace], int]]:  # type: ignore[type-arg]
    p_an = subparsers.add_parser("analyze", help="decode and check the RTMP sessions of a pcap/pcapng capture, "
                                 "or list the E-RTMP fields of an FLV file")
    p_an.add_argument("file", help="capture file (pcap or pcapng; any port; Ethernet, Linux cooked, raw IP) or an "
                                   "(E-)FLV file")
    p_an.add_argument("--json", action="store_true", help="print the report as JSON (schema: README)")
    p_an.add_argument("--all-findings", action="store_true", help="also list PASS findings in the text report")
    p_an.add_argument("--no-checks", action="store_true", help="decode only; do not run the checkers")
    p_an.add_argument("--fail-on", choices=["never", "fail"], default="never",
                      help="exit 1 when a checker reports FAIL/ERROR (default: exit 0 once the file was read)")

    p_re = subparsers.add_parser("replay", help="replay a capture's client side against a target; diff the replies")
    p_re.add_argument("file", help="capture file (pcap or pcapng)")
    p_re.add_argument("--target", required=True, type=rtmp_url,
                      help="rtmp://host[:port]/app of the server to replay against")
    p_re.add_argument("--speed", default=None, type=speed,
                      help="1 = original pacing, 2 = twice as fast ...; max (default) = as fast as the replies allow")
    p_re.add_argument("--session", type=non_negative_int, default=None,
                      help="replay only RTMP session N (0-based, see analyze)")
    p_re.add_argument("--timeout", type=positive_float, default=3.0, help="deadline for each awaited reply (s)")
    p_re.add_argument("--json", action="store_true", help="print the result as JSON")
    p_re.add_argument("--strict", action="store_true",
                      help="NON-STRICT differences (conventions such as a GOP cache) also give exit code 1")
    return {"analyze": analyze_command, "replay": replay_command}


def analyze_command(args: argparse.Namespace) -> int:
    from rtmpconf.harness.capture.analyze import analyze_file, render_json, render_text
    from rtmpconf.harness.capture.pcap import CaptureFormatError

    try:
        with open(args.file, "rb") as fh:
            head = fh.read(3)
        if head == b"FLV":
            return analyze_flv(args.file, as_json=args.json)
        report = analyze_file(args.file, checks=not args.no_checks)
    except OSError as exc:
        print(f"rtmpconf analyze: error: {os_error(exc)}", file=sys.stderr)
        return 2
    except CaptureFormatError as exc:
        print(f"rtmpconf analyze: error: {exc}", file=sys.stderr)
        return 2
    print(render_json(report) if args.json else render_text(report, show_passes=args.all_findings))
    if args.fail_on == "fail" and any(f.verdict in (Verdict.FAIL, Verdict.ERROR) for f in report.all_findings):
        return 1
    return 0


def analyze_flv(path: str, *, as_json: bool) -> int:
    """An FLV file: its header and the E-RTMP fields of its tags (FourCC, packet types, track ids,
    ModEx, nano offsets, metadata codec ids and track maps) -- what Wireshark 4.0 cannot show."""
    import json

    from rtmpconf.harness.eflv import render_summary, summarize
    from rtmpconf.rtmp import flv
    from rtmpconf.rtmp.errors import ProtocolError

    try:
        with open(path, "rb") as fh:
            parsed = flv.parse_flv(fh.read())
    except ProtocolError as exc:
        print(f"rtmpconf analyze: error: {path}: {exc}", file=sys.stderr)
        return 2
    summary = summarize((t.type_id, t.timestamp, t.payload) for t in parsed.tags)
    if as_json:
        print(json.dumps({"schema": 1, "file": path, "format": "flv", "version": parsed.version,
                          "has_audio": parsed.has_audio, "has_video": parsed.has_video, "tags": len(parsed.tags),
                          "trailing_bytes": parsed.trailing, "ertmp": summary}, indent=2))
        return 0
    lines = [f"{path}: FLV version {parsed.version}, {len(parsed.tags)} tags (audio flag {parsed.has_audio}, "
             f"video flag {parsed.has_video})" + (f", {parsed.trailing} bytes cut off at the end" if parsed.trailing else "")]
    lines += render_summary(summary)
    print("\n".join(lines))
    return 0


def replay_command(args: argparse.Namespace) -> int:
    import json

    from rtmpconf.harness.capture.pcap import CaptureFormatError
    from rtmpconf.harness.capture.replay import render_replay, replay_capture, replay_json
    from rtmpconf.harness.capture.sessions import read_capture
    from rtmpconf.harness.client import Target

    target = Target.parse(args.target)
    try:
        found = read_capture(args.file)
    except OSError as exc:
        print(f"rtmpconf replay: error: {os_error(exc)}", file=sys.stderr)
        return 2
    except (ValueError, CaptureFormatError) as exc:
        print(f"rtmpconf replay: error: {exc}", file=sys.stderr)
        return 2
    if not found.sessions:
        print(f"rtmpconf replay: error: no RTMP session in {args.file}", file=sys.stderr)
        return 2
    if args.session is not None and not 0 <= args.session < len(found.sessions):
        print(f"rtmpconf replay: error: --session {args.session}: the capture has sessions 0..{len(found.sessions) - 1}",
              file=sys.stderr)
        return 2
    import asyncio

    result = asyncio.run(replay_capture(found, target, speed=args.speed, only=args.session, timeout=args.timeout))
    print(json.dumps(replay_json(result), indent=2, default=str) if args.json else render_replay(result))
    from rtmpconf.harness.verdict import worst

    verdicts = [worst(s.diff.findings) for s in result.sessions]
    bad = {Verdict.FAIL, Verdict.ERROR} | ({Verdict.NON_STRICT} if args.strict else set())
    return 1 if any(v in bad for v in verdicts) else 0
