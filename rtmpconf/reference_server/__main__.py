"""``python -m rtmpconf.reference_server``: run the reference live server."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from rtmpconf.cliutil import log_level, port, raise_fd_limit
from rtmpconf.reference_server.config import ConfigError, ServerConfig

log = logging.getLogger("rtmpconf.rtmp.server")


def settle_heap() -> None:
    """Move everything start-up made (modules, tables, the server) out of the cyclic collector's reach.

    Those objects live as long as the process, yet every full collection walked them again: a
    2 x (100 + 750 player) bench.compare run had four full collections of up to 34 ms (87 ms in
    all), each one a stall of every player's stream; after ``gc.freeze()`` at start-up, two of
    up to 22 ms (37 ms in all). Only the server process does this, not servers run inside tests.
    """
    import gc

    gc.collect()
    gc.freeze()


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog="python -m rtmpconf.reference_server", description=__doc__)
    p.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=port, default=None, help="TCP port (default 1935; 0 = any free port)")
    p.add_argument("--http-port", type=port, default=None,
                   help="HTTP-FLV/HTTP-TS/HLS/stats port (default 8080; 0 = any free port)")
    p.add_argument("--no-http", action="store_true", help="no HTTP outputs")
    p.add_argument("--config", default=None, help="TOML config file (see README, 'Reference server')")
    p.add_argument("--tls-port", type=port, default=None,
                   help="also accept RTMPS (TLS) on this port (0 = any free port); needs --tls-cert/--tls-key")
    p.add_argument("--rtsp-port", type=port, default=None,
                   help="also serve the live streams over RTSP on this port (0 = any free port; lal uses 5544)")
    p.add_argument("--tls-cert", default=None, help="PEM certificate chain for --tls-port")
    p.add_argument("--tls-key", default=None, help="PEM private key for --tls-port")
    p.add_argument("--log-level", type=log_level, default="INFO", help="DEBUG, INFO, WARNING, ERROR or CRITICAL")
    p.add_argument("--event-loop", choices=("auto", "uvloop", "asyncio"), default="auto",
                   help="auto (default): uvloop when installed, else asyncio's own loop")
    p.add_argument("--admin-token", default=None,
                   help="enable the rtmpconf.drain admin command for callers passing this token (README, 'E-RTMP')")
    return p


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    overrides = {"host": args.host, "port": args.port, "http_port": getattr(args, "http_port", None),
                 "http": False if getattr(args, "no_http", False) else None,
                 "admin_token": getattr(args, "admin_token", None),
                 "tls_port": getattr(args, "tls_port", None),
                 "tls_cert": getattr(args, "tls_cert", None), "tls_key": getattr(args, "tls_key", None),
                 "rtsp_port": getattr(args, "rtsp_port", None)}
    if args.config:
        return ServerConfig.from_file(args.config, **overrides)
    return ServerConfig.from_mapping({k: v for k, v in overrides.items() if v is not None})


def serve(args: argparse.Namespace) -> int:
    import asyncio

    from rtmpconf.cliutil import stop_on_sigint

    stop_on_sigint()  # SIGINT stops at once, also when started from a background job

    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = config_from_args(args)
    except (ConfigError, OSError, ValueError) as exc:
        print(f"error: bad configuration: {exc}", file=sys.stderr)
        return 2
    from rtmpconf.reference_server.server import RtmpServer  # imported here: `rtmpconf analyze` needs none of it

    raise_fd_limit(None)  # two descriptors per connection with the fan-out core
    server = RtmpServer(config)

    async def main() -> None:
        import signal

        await server.start()
        settle_heap()
        if server.http_port is not None:
            print(f"listening on http://{config.host}:{server.http_port}", file=sys.stderr, flush=True)
        # The harness waits for this line to learn the port when started with --port 0.
        print(f"listening on rtmp://{config.host}:{server.port}", file=sys.stderr, flush=True)
        if server.tls_port is not None:
            print(f"listening on rtmps://{config.host}:{server.tls_port}", file=sys.stderr, flush=True)
        if server.rtsp is not None:
            print(f"listening on rtsp://{config.host}:{server.rtsp.port}", file=sys.stderr, flush=True)
        stopped = asyncio.Event()

        def on_sigterm() -> None:
            # SIGTERM drains (Reconnect Request to capable clients, ERTMP-11); SIGINT stops at once.
            task = asyncio.ensure_future(server.drain_and_stop())
            task.add_done_callback(lambda _t: stopped.set())

        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        except (NotImplementedError, RuntimeError):
            pass  # no signal handlers on this platform/loop: SIGTERM stops the process as before
        try:
            await stopped.wait()
        finally:
            await server.close()

    try:
        run_loop(main(), getattr(args, "event_loop", "auto"))
    except KeyboardInterrupt:
        pass
    except ValueError as exc:  # e.g. a TLS certificate that cannot be loaded
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if type(exc).__name__ == "HttpListenError":
            print(f"error: {exc.strerror}", file=sys.stderr)
            return 1
        print(f"error: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def run_loop(coro: Any, choice: str = "auto") -> None:
    """Run ``coro`` on uvloop when installed ("auto") or asked for, else on asyncio's own loop.

    uvloop (libuv) does the socket work of a read or a write in C; with a thousand players that
    is most of the server's time (bench/compare.py measures both loops)."""
    import asyncio

    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise SystemExit("error: --event-loop uvloop: uvloop is not installed (pip install uvloop)") from None
        else:
            log.info("event loop: uvloop %s", uvloop.__version__)
            uvloop.run(coro)
            return
    log.info("event loop: asyncio")
    asyncio.run(coro)


if __name__ == "__main__":
    raise SystemExit(serve(build_parser().parse_args()))
