"""``rtmpconf impair``: the impairment proxy standalone, with a live status line.

    rtmpconf impair --list
    rtmpconf impair --listen 127.0.0.1:19350 --upstream 127.0.0.1:1935 --profile 4g
    rtmpconf impair --listen 127.0.0.1:19350 --upstream 127.0.0.1:1935 --delay-ms 80 --jitter-ms 20 \\
                    --rate-kbps 2000 --segment-bytes 1 [--direction up|down|both]

Knobs given with --profile override that profile's values (for the chosen --direction).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from rtmpconf.harness.impair.profiles import (
    DOWN,
    PROFILES,
    UP,
    Profile,
    get_profile,
    profile_table,
)

#: Knob flag -> DirectionImpairment field, type.
KNOBS: dict[str, tuple[str, type]] = {
    "--delay-ms": ("delay_ms", float),
    "--jitter-ms": ("jitter_ms", float),
    "--rate-kbps": ("rate_kbps", float),
    "--burst-bytes": ("burst_bytes", int),
    "--segment-bytes": ("segment_bytes", int),
    "--segment-gap-ms": ("segment_gap_ms", float),
    "--loss-pct": ("loss_pct", float),
    "--retransmit-ms": ("retransmit_ms", float),
    "--stall-every-ms": ("stall_every_ms", float),
    "--stall-ms": ("stall_ms", float),
    "--cut-at-byte": ("cut_at_byte", int),
    "--cut-after-s": ("cut_after_s", float),
    "--cut-mode": ("cut_mode", str),
    "--half-close-at-byte": ("half_close_at_byte", int),
    "--half-close-after-s": ("half_close_after_s", float),
    "--buffer-bytes": ("buffer_bytes", int),
}
#: What each knob does, for --help.
KNOB_HELP = {
    "--delay-ms": "one-way delay added to every segment (ms)",
    "--jitter-ms": "random extra delay per segment, order preserved (ms)",
    "--rate-kbps": "token-bucket rate limit (kbit/s)",
    "--burst-bytes": "token-bucket burst size (bytes)",
    "--segment-bytes": "cut the stream into writes of at most this many bytes",
    "--segment-gap-ms": "pause between those writes (ms)",
    "--loss-pct": "share of segments 'lost' (delivered late, as after a retransmission) (%%)",
    "--retransmit-ms": "delay a lost segment suffers (ms)",
    "--stall-every-ms": "stall the direction this often (ms)",
    "--stall-ms": "length of each stall (ms)",
    "--cut-at-byte": "cut the connection after this many bytes",
    "--cut-after-s": "cut the connection after this many seconds",
    "--half-close-at-byte": "half-close (FIN one way) after this many bytes",
    "--half-close-after-s": "half-close after this many seconds",
    "--buffer-bytes": "socket buffer size on the proxy's sockets (bytes)",
}


def register(subparsers: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    p = subparsers.add_parser("impair", help="impairment proxy (delay, jitter, rate, segmentation, loss, cuts)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return {"impair": run}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--list", action="store_true", help="print the profile table and exit")
    p.add_argument("--listen", help="H:P to listen on (port 0 = any free port)")
    p.add_argument("--upstream", help="H:P of the server to forward to")
    p.add_argument("--profile", help=f"named profile: {', '.join(PROFILES)}")
    p.add_argument("--direction", choices=("both", "up", "down"), default="both",
                   help="which direction the knobs below apply to (up = client -> server)")
    for flag, (field, kind) in KNOBS.items():
        if flag == "--cut-mode":
            p.add_argument(flag, choices=("rst", "fin"), help="how a cut ends the connection")
        else:
            p.add_argument(flag, type=_non_negative(kind), help=KNOB_HELP.get(flag, field.replace("_", " ")))
    p.add_argument("--seed", type=int, help="seed for jitter and loss draws (default: the profile's)")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("--interval", type=float, default=0.5, help="status line refresh (s)")
    p.add_argument("--quiet", action="store_true", help="no status line")


def _non_negative(kind: type) -> Callable[[str], Any]:
    """An argparse type: ``kind`` (int or float), >= 0, with the option named in the error."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a {'whole number' if kind is int else 'number'}: {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
        return value
    return parse


def _hostport(text: str, what: str) -> tuple[str, int]:
    from rtmpconf.cliutil import host_port

    try:
        return host_port(text)
    except argparse.ArgumentTypeError as exc:
        print(f"rtmpconf impair: error: {what}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def build_profile(args: argparse.Namespace) -> Profile:
    """The profile the arguments describe: --profile (or an untouched one) plus knob overrides."""
    base = get_profile(args.profile) if args.profile else Profile("custom", "command-line knobs")
    changes = {field: getattr(args, flag[2:].replace("-", "_")) for flag, (field, _) in KNOBS.items()}
    changes = {k: v for k, v in changes.items() if v is not None}
    if changes:
        dirs = (UP, DOWN) if args.direction == "both" else ((UP,) if args.direction == "up" else (DOWN,))
        for which in dirs:
            base = base.with_direction(which, base.direction(which).replace(**changes))
        if args.profile:
            base = base.replace(name=f"{args.profile}+custom")
    if args.seed is not None:
        base = base.replace(seed=args.seed)
    return base


def run(args: argparse.Namespace) -> int:
    if args.list:
        print(profile_table())
        return 0
    if not args.listen or not args.upstream:
        print("error: --listen and --upstream are required (or --list)", file=sys.stderr)
        return 2
    try:
        profile = build_profile(args)
    except (KeyError, ValueError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    listen_host, listen_port = _hostport(args.listen, "--listen")
    upstream = _hostport(args.upstream, "--upstream")

    from rtmpconf.harness.impair.proxy import ProxyThread

    link = None
    listen_sock = None
    if profile.kernel is not None:
        from rtmpconf.harness.impair.kernel import KernelLink, KernelLinkError, kernel_unavailable_reason

        reason = kernel_unavailable_reason()
        if reason:
            print(f"error: profile {profile.name} needs kernel mode: {reason}", file=sys.stderr)
            return 2
        try:
            link = KernelLink(profile.kernel).create()
            listen_sock = link.listen_socket(listen_port)
        except (KernelLinkError, OSError) as exc:
            if link is not None:
                link.destroy()
            print(f"error: {exc}", file=sys.stderr)
            return 2
    proxy = ProxyThread(upstream, profile, listen_host=listen_host, listen_port=listen_port, listen_sock=listen_sock,
                        on_stop=link.destroy if link is not None else None)
    try:
        proxy.start()
    except OSError as exc:
        if link is not None:
            link.destroy()
        print(f"error: cannot listen on {listen_host}:{listen_port}: {exc}", file=sys.stderr)
        return 2
    host, port = proxy.proxy.address
    print(f"impair: {host}:{port} -> {upstream[0]}:{upstream[1]}  profile {profile.name}: "
          f"up {profile.up.describe()}; down {profile.down.describe()}"
          + (f"; kernel {profile.kernel.describe()} (clients reach {host} over veth)" if profile.kernel else ""),
          file=sys.stderr, flush=True)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    deadline = time.monotonic() + args.duration if args.duration else None
    tty = sys.stderr.isatty()
    last_print = 0.0
    try:
        while not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            stop.wait(args.interval)
            if args.quiet:
                continue
            line = proxy.stats().line()
            if tty:
                sys.stderr.write("\r\x1b[K" + line)
                sys.stderr.flush()
            elif time.monotonic() - last_print >= 5 * args.interval:
                # Not a terminal (a log file): a line every few refreshes, not a carriage-return soup.
                print(line, file=sys.stderr, flush=True)
                last_print = time.monotonic()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        final = proxy.stats().line()
        proxy.stop()
        if tty and not args.quiet:
            sys.stderr.write("\n")
        print(f"impair: stopped; {final}", file=sys.stderr, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rtmpconf impair", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
