"""Access control for the reference server: HMAC tokens, Adobe authmod, webhooks.

Configured by the ``[auth]`` table of the server's TOML file (README, "Authentication")::

    [auth]
    users = { alice = "wonderland" }          # Adobe authmod accounts (connect = "user")
    [auth.apps.live]                          # per app; "*" is the default for other apps
    connect = "open"                          # open | user (Adobe authmod challenge/response)
    publish = "token"                         # open | token (HMAC in the query string)
    play = "open"                             # open | token
    secret = "change-me"                      # HMAC-SHA256 key of this app's tokens
    [auth.webhook]
    on_publish = "http://127.0.0.1:8080/hook" # POST, form-encoded like nginx-rtmp on_publish
    on_play = ""                              # "" = not called
    on_unpublish = ""                         # notification only; its answer is ignored
    timeout_s = 2.0                           # no answer in time = deny (fail_open = true: allow)

Tokens: ``token=<expires>-<hex>`` in the stream name's query (``name?token=...``) or in the
connect ``app``/``tcUrl`` query, where ``<expires>`` is a Unix time in seconds and ``<hex>`` is
``HMAC-SHA256(secret, "<action>:<app>/<name>:<expires>")`` (action ``publish`` or ``play``).

Adobe authmod (FMS/Wowza; the client side is in FFmpeg's libavformat/rtmpproto.c, librtmp and
GStreamer's rtmp2): a connect without credentials gets ``_error`` Connect.Rejected with
``code=403 need auth; authmod=adobe``; the client reconnects with ``?authmod=adobe&user=U`` and
gets ``?reason=needauth&user=U&salt=S&challenge=C&opaque=O``; it reconnects once more with
``?authmod=adobe&user=U&challenge=C2&response=R&opaque=O`` where
``R = b64(md5(b64(md5(U + S + password)) + O + C2))``. A wrong response gets
``?reason=authfailed``, an unknown user ``?reason=nosuchuser``.

Decisions that need no I/O are made at once; a webhook call runs on the event loop and the
session is called back with the decision (the session itself stays free of asyncio).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("rtmpconf.rtmp.server.auth")

#: How long an Adobe challenge stays valid (s): FFmpeg answers within one reconnect.
CHALLENGE_TTL_S = 60.0
#: Outstanding Adobe challenges kept at once; the oldest is forgotten past this (bounded memory).
MAX_CHALLENGES = 4096
#: Default webhook deadline (s); nginx-rtmp's notify timeout is 3 s, SRS's 30 s.
WEBHOOK_TIMEOUT_S = 2.0

MODES_CONNECT = ("open", "user")
MODES_STREAM = ("open", "token")


@dataclass(frozen=True, slots=True)
class AppPolicy:
    """What one app requires."""

    connect: str = "open"  #: "user": Adobe authmod credentials at connect
    publish: str = "open"  #: "token": an HMAC token for publish
    play: str = "open"  #: "token": an HMAC token for play
    secret: str = ""  #: HMAC key of this app's tokens


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    on_publish: str = ""
    on_play: str = ""
    on_unpublish: str = ""
    timeout_s: float = WEBHOOK_TIMEOUT_S
    fail_open: bool = False  #: a webhook that does not answer allows instead of denying


@dataclass(frozen=True, slots=True)
class AuthConfig:
    apps: Mapping[str, AppPolicy] = field(default_factory=dict)
    users: Mapping[str, str] = field(default_factory=dict)
    webhook: WebhookConfig = field(default_factory=WebhookConfig)

    def policy(self, app: str) -> AppPolicy:
        return self.apps.get(app) or self.apps.get("*") or AppPolicy()

    @property
    def active(self) -> bool:
        w = self.webhook
        return bool(self.apps) or bool(w.on_publish or w.on_play or w.on_unpublish)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> AuthConfig:
        """Parse the ``[auth]`` table; raises ValueError with one clear line on bad input."""
        unknown = set(raw) - {"apps", "users", "webhook"}
        if unknown:
            raise ValueError(f"unknown [auth] keys: {', '.join(sorted(unknown))}")
        apps: dict[str, AppPolicy] = {}
        for app, pol in dict(raw.get("apps", {})).items():
            if not isinstance(pol, Mapping):
                raise ValueError(f"[auth.apps.{app}] must be a table")
            bad = set(pol) - {"connect", "publish", "play", "secret"}
            if bad:
                raise ValueError(f"unknown [auth.apps.{app}] keys: {', '.join(sorted(bad))}")
            p = AppPolicy(**{k: str(v) for k, v in pol.items()})
            if p.connect not in MODES_CONNECT:
                raise ValueError(f"[auth.apps.{app}] connect must be one of {MODES_CONNECT}")
            for what in ("publish", "play"):
                if getattr(p, what) not in MODES_STREAM:
                    raise ValueError(f"[auth.apps.{app}] {what} must be one of {MODES_STREAM}")
            if "token" in (p.publish, p.play) and not p.secret:
                raise ValueError(f"[auth.apps.{app}] token mode needs a secret")
            apps[app] = p
        users = {str(k): str(v) for k, v in dict(raw.get("users", {})).items()}
        if any(p.connect == "user" for p in apps.values()) and not users:
            raise ValueError("[auth] connect = \"user\" needs [auth] users")
        hook_raw = dict(raw.get("webhook", {}))
        bad = set(hook_raw) - {f for f in WebhookConfig.__dataclass_fields__}
        if bad:
            raise ValueError(f"unknown [auth.webhook] keys: {', '.join(sorted(bad))}")
        for key in ("on_publish", "on_play", "on_unpublish"):
            url = str(hook_raw.get(key, ""))
            if url and urllib.parse.urlsplit(url).scheme not in ("http", "https"):
                raise ValueError(f"[auth.webhook] {key} must be an http:// or https:// URL")
        hook = WebhookConfig(**hook_raw)
        if hook.timeout_s <= 0:
            raise ValueError("[auth.webhook] timeout_s must be > 0")
        return cls(apps, users, hook)


# -- tokens -------------------------------------------------------------------------------------


def make_token(secret: str, action: str, app: str, name: str, expires: int) -> str:
    """``<expires>-<hex>``: HMAC-SHA256 of ``"<action>:<app>/<name>:<expires>"``."""
    mac = hmac.new(secret.encode(), f"{action}:{app}/{name}:{expires}".encode(), hashlib.sha256)
    return f"{expires}-{mac.hexdigest()}"


def check_token(token: str, secret: str, action: str, app: str, name: str, now: float) -> str | None:
    """None if ``token`` is valid now, else why not (one short phrase for the description)."""
    expires_s, sep, _ = token.partition("-")
    if not sep or not expires_s.isdigit():
        return "malformed token"
    if int(expires_s) < now:
        return "token expired"
    if not hmac.compare_digest(make_token(secret, action, app, name, int(expires_s)), token):
        return "token does not match"
    return None


def query_params(*texts: str) -> dict[str, str]:
    """Query parameters found after the first ``?`` of each text (later texts win)."""
    out: dict[str, str] = {}
    for text in texts:
        if "?" not in text:
            continue
        # FFmpeg appends its auth query to an app that already has one ("app?k=v?authmod=...").
        for part in text.split("?", 1)[1].replace("?", "&").split("&"):
            k, _, v = part.partition("=")
            if k:
                # unquote, not unquote_plus: an authmod response is base64, where "+" is a digit.
                out[urllib.parse.unquote(k)] = urllib.parse.unquote(v)
    return out


# -- Adobe authmod --------------------------------------------------------------------------------


def _b64md5(*parts: str) -> str:
    return base64.b64encode(hashlib.md5("".join(parts).encode()).digest()).decode()


def adobe_response(user: str, salt: str, password: str, opaque: str, challenge2: str) -> str:
    """What an Adobe-authmod client answers (FFmpeg's do_adobe_auth)."""
    return _b64md5(_b64md5(user, salt, password), opaque, challenge2)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refusal: onStatus/_error ``code`` with ``description``, then the connection is closed."""

    code: str
    description: str


class AdobeAuth:
    """Server side of the Adobe authmod exchange; every challenge is single-use and expires."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self.users = users
        self._salt_key = secrets.token_bytes(16)
        self._issued: OrderedDict[str, tuple[str, float]] = OrderedDict()  #: opaque -> (user, time)

    def _salt(self, user: str) -> str:
        # Hex, not base64: the salt travels in a query string that clients split on "&" and "=".
        return hmac.new(self._salt_key, user.encode(), hashlib.sha256).hexdigest()[:16]

    def check(self, params: Mapping[str, str], now: float) -> Refusal | str:
        """The user name once authenticated, else the refusal to send."""
        prefix = "[ AccessManager.Reject ] : [ authmod=adobe ] : "
        if params.get("authmod") != "adobe" or not params.get("user"):
            return Refusal("NetConnection.Connect.Rejected",
                           "[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : ")
        user = params["user"]
        if user not in self.users:
            return Refusal("NetConnection.Connect.Rejected", prefix + "?reason=nosuchuser")
        if "response" not in params:
            while len(self._issued) >= MAX_CHALLENGES:
                self._issued.popitem(last=False)
            opaque = secrets.token_hex(8)
            self._issued[opaque] = (user, now)
            # opaque doubles as the challenge: FFmpeg hashes opaque, other clients the challenge.
            return Refusal("NetConnection.Connect.Rejected",
                           f"{prefix}?reason=needauth&user={user}&salt={self._salt(user)}"
                           f"&challenge={opaque}&opaque={opaque}")
        opaque = params.get("opaque") or params.get("challenge", "")
        issued = self._issued.pop(opaque, None)
        if issued is None or issued[0] != user or now - issued[1] > CHALLENGE_TTL_S:
            return Refusal("NetConnection.Connect.Rejected", prefix + "?reason=authfailed")
        want = adobe_response(user, self._salt(user), self.users[user], opaque, params.get("challenge", ""))
        if not hmac.compare_digest(want, params["response"]):
            return Refusal("NetConnection.Connect.Rejected", prefix + "?reason=authfailed")
        return user


# -- the access controller -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamRequest:
    """A publish or play to decide on, with what the webhook is told."""

    action: str  #: "publish" or "play"
    app: str
    name: str  #: without its query
    name_query: str  #: the stream name's query string ("" if none)
    tc_url: str
    app_raw: str  #: connect's app field as sent (may carry a query)
    addr: str
    client_id: int
    flash_ver: str = ""


Decision = Callable[[Refusal | None], None]


class AccessControl:
    """One per server: decides connects, publishes and plays, and calls the webhooks."""

    def __init__(self, config: AuthConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.adobe = AdobeAuth(config.users)
        self.webhook_calls = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def check_connect(self, app: str, app_raw: str, tc_url: str) -> Refusal | None:
        policy = self.config.policy(app)
        if policy.connect != "user":
            return None
        outcome = self.adobe.check(query_params(tc_url, app_raw), self.clock())
        if isinstance(outcome, Refusal):
            return outcome
        log.info("adobe authmod: user %r authenticated for app %r", outcome, app)
        return None

    def authorize(self, req: StreamRequest, done: Decision) -> None:
        """Call ``done(None)`` to allow or ``done(Refusal)`` to refuse; now or once a webhook answered."""
        refusal = self._check_token(req)
        if refusal is not None:
            done(refusal)
            return
        url = self.config.webhook.on_publish if req.action == "publish" else self.config.webhook.on_play
        if not url:
            done(None)
            return
        self._spawn(self._ask_webhook(url, req, done))

    def notify_unpublish(self, req: StreamRequest) -> None:
        url = self.config.webhook.on_unpublish
        if url:
            self._spawn(self._ask_webhook(url, req, None))

    def _check_token(self, req: StreamRequest) -> Refusal | None:
        policy = self.config.policy(req.app)
        if getattr(policy, req.action) != "token":
            return None
        token = query_params(req.tc_url, req.app_raw, "?" + req.name_query).get("token")
        code = "NetStream.Publish.Unauthorized" if req.action == "publish" else "NetStream.Play.Unauthorized"
        if token is None:
            return Refusal(code, f"{req.action} of {req.app}/{req.name} needs a token")
        problem = check_token(token, policy.secret, req.action, req.app, req.name, self.clock())
        if problem is not None:
            return Refusal(code, f"{req.action} of {req.app}/{req.name} refused: {problem}")
        return None

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ask_webhook(self, url: str, req: StreamRequest, done: Decision | None) -> None:
        hook = self.config.webhook
        call = {"publish": "publish", "play": "play"}.get(req.action, req.action) if done else "publish_done"
        form = {"call": call, "app": req.app, "name": req.name, "addr": req.addr,
                "clientid": str(req.client_id), "tcurl": req.tc_url, "flashver": req.flash_ver}
        # nginx-rtmp passes the stream name's query arguments along with its own fields.
        for k, v in query_params("?" + req.name_query).items():
            form.setdefault(k, v)
        body = urllib.parse.urlencode(form).encode()
        self.webhook_calls += 1
        loop = asyncio.get_running_loop()
        try:
            status = await asyncio.wait_for(loop.run_in_executor(None, _post, url, body, hook.timeout_s),
                                            hook.timeout_s)
            reason = f"webhook answered HTTP {status}"
            allowed = 200 <= status < 300
        except (asyncio.TimeoutError, TimeoutError):
            allowed, reason = hook.fail_open, f"webhook gave no answer within {hook.timeout_s:g} s"
        except OSError as exc:
            allowed, reason = hook.fail_open, f"webhook unreachable ({exc})"
        log.info("webhook %s %s/%s: %s -> %s", call, req.app, req.name, reason, "allow" if allowed else "deny")
        if done is None:
            return
        if allowed:
            done(None)
        else:
            code = "NetStream.Publish.Unauthorized" if req.action == "publish" else "NetStream.Play.Unauthorized"
            done(Refusal(code, f"{req.action} of {req.app}/{req.name} refused: {reason}"))


def _post(url: str, body: bytes, timeout: float) -> int:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - configured URL
            resp.read(65536)
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
