"""A recording TCP proxy: real programs talk to a server through it; each connection's bytes
both ways become a WireLog, so the same checkers judge real clients' sessions."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

from rtmpconf.harness.wirelog import C2S, S2C, WireLog

READ_SIZE = 256 * 1024


@dataclass
class RecordingProxy:
    """Listens on 127.0.0.1 (free port), forwards to ``upstream``, records every connection."""

    upstream_host: str
    upstream_port: int
    logs: list[WireLog] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.base_events.Server | None = None

    def start(self, timeout: float = 5.0) -> RecordingProxy:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0, limit=READ_SIZE))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()
            self._server.close()
            self._loop.run_until_complete(self._server.wait_closed())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name="recording-proxy")
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("recording proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> RecordingProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        log = WireLog(f"recorded {len(self.logs) + 1}")
        peer = c_writer.get_extra_info("peername")
        log.client_port = peer[1] if peer else None
        self.logs.append(log)
        try:
            s_reader, s_writer = await asyncio.wait_for(
                asyncio.open_connection(self.upstream_host, self.upstream_port, limit=READ_SIZE), 5)
        except (OSError, asyncio.TimeoutError):
            log.note("upstream refused the connection")
            c_writer.close()
            return

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, direction: str) -> None:
            try:
                while True:
                    data = await src.read(READ_SIZE)
                    if not data:
                        log.mark_closed(direction, time.monotonic())  # type: ignore[arg-type]
                        break
                    log.add(direction, data, time.monotonic())  # type: ignore[arg-type]
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                log.mark_closed(direction, time.monotonic(), reset=True)  # type: ignore[arg-type]
            finally:
                try:
                    dst.close()
                except OSError:
                    pass

        await asyncio.gather(pump(c_reader, s_writer, C2S), pump(s_reader, c_writer, S2C))
