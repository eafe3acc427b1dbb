"""A local HTTP endpoint for servers' publish/play webhooks (nginx-rtmp ``on_publish``, SRS
``http_hooks``, the reference server's ``[auth.webhook]``).

It records every call and answers with what ``decide`` returns: an HTTP status (2xx allows in
every server studied), or None to never answer (a hung auth service). Loopback only.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: How long a "never answer" call is held open at most (the server under test gives up first).
HOLD_S = 30.0


@dataclass(frozen=True, slots=True)
class HookCall:
    path: str
    form: dict[str, str]  #: the POST body (form-encoded or query string), first value per key
    time: float


def allow_token(token: str) -> Callable[[HookCall], int | None]:
    """Allow a call whose ``token`` argument (or the token in its ``tcurl``'s query) equals ``token``;
    refuse anything else with 403. End-of-publish notifications are always answered 200."""
    def decide(call: HookCall) -> int | None:
        if call.form.get("call") in ("publish_done", "play_done", "done"):
            return 200
        tc_query = urllib.parse.urlsplit(call.form.get("tcurl", "")).query
        tc_token = dict(urllib.parse.parse_qsl(tc_query)).get("token")
        return 200 if token in (call.form.get("token"), tc_token) else 403
    return decide


@dataclass
class WebhookServer:
    decide: Callable[[HookCall], int | None] = lambda call: 200
    calls: list[HookCall] = field(default_factory=list)
    _httpd: ThreadingHTTPServer | None = None
    _release: threading.Event = field(default_factory=threading.Event)

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> WebhookServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode(errors="replace") if length else ""
                path, _, query = self.path.partition("?")
                form = {k: v[0] for k, v in urllib.parse.parse_qs(body or query, keep_blank_values=True).items()}
                call = HookCall(path, form, time.monotonic())
                owner.calls.append(call)
                status = owner.decide(call)
                if status is None:
                    owner._release.wait(HOLD_S)
                    return
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET = _handle

            def log_message(self, *args: object) -> None:  # quiet: the calls are recorded instead
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, name="webhook", daemon=True).start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> WebhookServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
