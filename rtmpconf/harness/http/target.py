"""Where the HTTP outputs of the server under test live, and the ``http`` fixture of the cases.

``--http-target http://host:port`` names the HTTP side; the URL of each output comes from a
template with ``{base}``, ``{app}`` and ``{name}`` (``--http-flv-url``, ``--http-ts-url``,
``--hls-url``; ``none`` = the server has no such output). Defaults are the reference server's
(and SRS's/lal's) layout; ``--target-server`` picks the layout of the server it starts.
With the embedded reference server the HTTP side is found by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rtmpconf.harness.http.client import HttpResponse, http_get
from rtmpconf.harness.verdict import Finding, Verdict

DEFAULT_TEMPLATES = {
    "flv": "{base}/{app}/{name}.flv",
    "ts": "{base}/{app}/{name}.ts",
    "hls": "{base}/hls/{name}.m3u8",
}
#: Layouts of the servers --target-server can start (harness/peers/servers.py configures them).
SERVER_TEMPLATES: dict[str, dict[str, str]] = {
    "reference": DEFAULT_TEMPLATES,
    "nginx-rtmp": {"flv": "none", "ts": "none", "hls": "{base}/hls/{name}.m3u8"},
    "node-media-server": {"flv": "{base}/{app}/{name}.flv", "ts": "none", "hls": "none"},
}
KINDS = {"flv": "HTTP-FLV", "ts": "HTTP-TS", "hls": "HLS"}


@dataclass
class HttpTarget:
    """The HTTP side of the target: a base URL (None = unknown) and a template per output."""

    base: str | None
    templates: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TEMPLATES))
    why_unknown: str = "no --http-target given for this --target"

    def url(self, kind: str, app: str, name: str) -> str | None:
        tmpl = self.templates.get(kind, "none")
        if self.base is None or tmpl == "none":
            return None
        return tmpl.format(base=self.base.rstrip("/"), app=app, name=name)


class HttpCase:
    """Handed to HTTP cases as the ``http`` fixture (beside ``rtmp`` for the publisher)."""

    def __init__(self, rtmp: Any, target: HttpTarget) -> None:
        self.rtmp = rtmp
        self.target = target

    @property
    def app(self) -> str:
        return str(self.rtmp.target.app)

    def url(self, kind: str, name: str) -> str | None:
        return self.target.url(kind, self.app, name)

    def missing(self, kind: str, rule: str) -> Finding | None:
        """A finding when the output cannot be reached at all: NOT-RUN (HTTP side unknown) or
        UNIMPLEMENTED (the server has no such output)."""
        if self.target.base is None:
            return Finding(rule, Verdict.NOT_RUN, f"{KINDS[kind]}: {self.target.why_unknown}")
        if self.target.templates.get(kind, "none") == "none":
            return Finding(rule, Verdict.UNIMPLEMENTED, f"the target has no {KINDS[kind]} output")
        return None

    def absent(self, kind: str, rule: str, resp: HttpResponse) -> Finding | None:
        """A 404/405/501 for a stream that is being published: the output does not exist."""
        if resp.status in (404, 405, 501):
            return Finding(rule, Verdict.UNIMPLEMENTED,
                           f"{KINDS[kind]}: {resp.url} answered {resp.status} for a published stream")
        return None

    async def get(self, url: str, **kw: Any) -> HttpResponse:
        return await http_get(url, timeout=kw.pop("timeout", self.rtmp.timeout), logs=self.rtmp.info.logs, **kw)


def http_case(config: Any, rtmp: Any, handle: Any) -> HttpCase:
    """The ``http`` fixture's value from the options and the running target."""
    from urllib.parse import urlsplit

    import pytest

    base = config.getoption("rtmp_http_target")
    server = config.getoption("rtmp_target_server") or ("reference" if not config.getoption("rtmp_target") else None)
    templates = dict(SERVER_TEMPLATES.get(server or "", DEFAULT_TEMPLATES))
    for kind in KINDS:
        value = config.getoption(f"rtmp_http_{kind}_url")
        if value:
            if value != "none" and "{name}" not in value:
                raise pytest.UsageError(f"--{'hls' if kind == 'hls' else 'http-' + kind}-url {value!r}: "
                                        "the template must contain {name} (or be 'none')")
            templates[kind] = value
    why = "no --http-target given for this --target"
    if base:
        parts = urlsplit(base)
        if parts.scheme != "http" or not parts.hostname:
            raise pytest.UsageError(f"--http-target {base!r}: expected http://host:port")
    else:
        port = getattr(handle.driver, "http_port", None) if handle.driver is not None else None
        if port:
            # --impair puts a proxy (in kernel mode: in a network namespace) in front of the RTMP
            # port only: the HTTP side is reached on the server's own host.
            from rtmpconf.harness.impair import upstream_of

            base = f"http://{upstream_of(handle.target).host}:{port}"
        elif handle.driver is not None:
            why = f"the {handle.name or 'started'} server has no HTTP side configured"
    return HttpCase(rtmp, HttpTarget(base or None, templates, why))
