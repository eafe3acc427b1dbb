"""How the AUTH cases get valid and invalid credentials for a target.

An :class:`AuthSetup` says where authentication applies (an app of the target) and how to make a
credential the target accepts, or one it must refuse, for a given action and stream name. The
schemes the harness knows:

* ``reference``: the reference server's HMAC tokens (``token=<expires>-<hex>``,
  ``HMAC-SHA256(secret, "<action>:<app>/<name>:<expires>")``, README "Authentication").
* ``webhook``: a server that asks a publish webhook (nginx-rtmp ``on_publish``); the harness runs
  the webhook and allows exactly the tokens it issued.
* ``nms-sign``: node-media-server's ``sign=<expires>-<md5("/app/name-<expires>-<secret>")>``
  (src/server/broadcast_server.js ``verifyAuth``).
* ``static``: ``--auth-target rtmp://host/app/name?k=v``: a URL with a credential the user knows
  is valid for publishing; the invalid variant changes its last character.

Adobe authmod accounts (``user``) come with the reference setup (its ``authmod`` app).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from rtmpconf.harness.client import Target

#: Lifetime of the tokens the harness makes (s).
TOKEN_TTL_S = 600


@dataclass(frozen=True)
class AuthSetup:
    """Credentials for one target app."""

    kind: str  #: reference | webhook | nms-sign | static
    target: Target  #: host/port/app where authentication applies
    #: (action, name) -> query string ("k=v&...") the target accepts for that action and name.
    valid: Callable[[str, str], str]
    #: (action, name) -> a query string of the same form that the target must refuse.
    invalid: Callable[[str, str], str]
    #: Which actions the target checks ("publish", and "play" where configured).
    actions: tuple[str, ...] = ("publish",)
    #: Adobe authmod account (user, password) and the app that requires it, if any.
    user: tuple[str, str] | None = None
    authmod_app: str | None = None
    #: Whether the credential may travel in the connect app's query as well as the stream name's.
    app_query: bool = True
    #: The publish webhook the harness runs for this target (webhook kind), for timeout cases.
    webhook: object = None


def reference_token(secret: str, action: str, app: str, name: str, expires: int) -> str:
    mac = hmac.new(secret.encode(), f"{action}:{app}/{name}:{expires}".encode(), hashlib.sha256)
    return f"{expires}-{mac.hexdigest()}"


def reference_setup(target: Target, secret: str, user: tuple[str, str] | None = None,
                    authmod_app: str | None = None) -> AuthSetup:
    app = target.app

    def valid(action: str, name: str) -> str:
        return "token=" + reference_token(secret, action, app, name, int(time.time()) + TOKEN_TTL_S)

    def invalid(action: str, name: str) -> str:
        # Same form, signed with another key: only the MAC is wrong.
        return "token=" + reference_token(secret + "-wrong", action, app, name, int(time.time()) + TOKEN_TTL_S)

    return AuthSetup("reference", target, valid, invalid, ("publish", "play"), user, authmod_app)


def webhook_setup(target: Target, token: str, webhook: object = None) -> AuthSetup:
    """The target asks a webhook that allows ``token=<token>`` only (``peers.webhook.allow_token``)."""
    # nginx-rtmp passes only the stream name's query arguments to on_publish, not the app's.
    return AuthSetup("webhook", target, lambda a, n: f"token={token}",
                     lambda a, n: f"token={secrets.token_hex(8)}", ("publish",), app_query=False,
                     webhook=webhook)


def nms_sign(secret: str, app: str, name: str, expires: int) -> str:
    digest = hashlib.md5(f"/{app}/{name}-{expires}-{secret}".encode()).hexdigest()
    return f"{expires}-{digest}"


def nms_setup(target: Target, secret: str) -> AuthSetup:
    app = target.app

    def valid(action: str, name: str) -> str:
        return "sign=" + nms_sign(secret, app, name, int(time.time()) + TOKEN_TTL_S)

    def invalid(action: str, name: str) -> str:
        return "sign=" + nms_sign(secret + "-wrong", app, name, int(time.time()) + TOKEN_TTL_S)

    return AuthSetup("nms-sign", target, valid, invalid, ("publish",), app_query=False)


def static_setup(url: str) -> AuthSetup:
    """``rtmp[s]://host[:port]/app/name?query``: the query is a valid publish credential for any name."""
    base, _, query = url.partition("?")
    if not query:
        raise ValueError(f"--auth-target {url!r}: needs a credential in the query (…/app/name?token=...)")
    scheme, _, rest = base.partition("://")
    hostpart, _, path = rest.partition("/")
    app = path.split("/", 1)[0]
    if not app:
        raise ValueError(f"--auth-target {url!r}: needs an app (rtmp://host/app/name?token=...)")
    target = Target.parse(f"{scheme}://{hostpart}/{app}")
    last = query[-1]
    broken = query[:-1] + ("0" if last != "0" else "1")
    return AuthSetup("static", target, lambda a, n: query, lambda a, n: broken, ("publish",), app_query=False)


def with_query(name: str, query: str) -> str:
    """``name?query`` (the credential in the stream name, as OBS and FFmpeg send it)."""
    return f"{name}?{query}" if query else name


def parse_query(query: str) -> dict[str, str]:
    return {k: v for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)}


def adobe_client_query(description: str, user: str, password: str, challenge2: str | None = None) -> str | None:
    """The query of the connect that answers an Adobe authmod challenge, computed as FFmpeg's
    ``do_adobe_auth`` does (libavformat/rtmpproto.c); None if ``description`` holds no challenge."""
    if "?reason=needauth" not in description:
        return None
    params = parse_query(description[description.index("?reason=needauth") + 1:])
    salt = params.get("salt", "")
    opaque = params.get("opaque")
    c2 = challenge2 or secrets.token_hex(4)
    first = base64.b64encode(hashlib.md5(f"{user}{salt}{password}".encode()).digest()).decode()
    second = first + (opaque if opaque is not None else params.get("challenge", "")) + c2
    response = base64.b64encode(hashlib.md5(second.encode()).digest()).decode()
    query = f"authmod=adobe&user={user}&challenge={c2}&response={response}"
    return query + (f"&opaque={opaque}" if opaque is not None else "")
