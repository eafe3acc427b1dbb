"""Access control of the reference server: tokens, Adobe authmod, config validation."""

from __future__ import annotations

import pytest

from rtmpconf.reference_server.auth import (
    AccessControl, AdobeAuth, AuthConfig, Refusal, StreamRequest, adobe_response, check_token, make_token,
    query_params,
)
from rtmpconf.reference_server.config import ServerConfig


def test_token_round_trip_and_every_way_to_be_wrong() -> None:
    tok = make_token("k", "publish", "live", "x", 2000)
    assert check_token(tok, "k", "publish", "live", "x", now=1000) is None
    assert check_token(tok, "k", "publish", "live", "x", now=2001) == "token expired"
    assert check_token(tok, "other", "publish", "live", "x", now=1000) == "token does not match"
    assert check_token(tok, "k", "play", "live", "x", now=1000) == "token does not match"
    assert check_token(tok, "k", "publish", "live", "y", now=1000) == "token does not match"
    assert check_token("garbage", "k", "publish", "live", "x", now=1000) == "malformed token"
    # An attacker cannot extend the expiry: it is inside the MAC.
    forged = "9999" + tok[4:]
    assert check_token(forged, "k", "publish", "live", "x", now=1000) == "token does not match"


def test_query_params_from_app_tcurl_and_ffmpeg_double_query() -> None:
    assert query_params("live?token=a", "rtmp://h/live?x=1") == {"token": "a", "x": "1"}
    assert query_params("stream?key=val?authmod=adobe&user=u") == {"key": "val", "authmod": "adobe", "user": "u"}
    assert query_params("live") == {}
    assert query_params("a?response=ab+c/d==") == {"response": "ab+c/d=="}  # base64 survives


def _ffmpeg_client_answer(description: str, user: str, password: str) -> dict[str, str]:
    """The third connect FFmpeg sends (libavformat/rtmpproto.c do_adobe_auth), from the challenge."""
    params = query_params(description[description.index("?reason"):])
    opaque = params.get("opaque") or params["challenge"]
    c2 = "0badc0de"
    return {"authmod": "adobe", "user": user, "challenge": c2, "opaque": params["opaque"],
            "response": adobe_response(user, params["salt"], password, opaque, c2)}


def test_adobe_exchange_accepts_the_right_password_once() -> None:
    auth = AdobeAuth({"alice": "wonderland"})
    first = auth.check({}, now=0)
    assert isinstance(first, Refusal) and "code=403 need auth" in first.description
    assert "authmod=adobe" in first.description
    second = auth.check({"authmod": "adobe", "user": "alice"}, now=0)
    assert isinstance(second, Refusal) and "?reason=needauth" in second.description
    answer = _ffmpeg_client_answer(second.description, "alice", "wonderland")
    assert auth.check(answer, now=1) == "alice"
    # Single use: the same answer replayed is refused.
    replay = auth.check(answer, now=2)
    assert isinstance(replay, Refusal) and "authfailed" in replay.description


def test_adobe_exchange_refuses_wrong_password_unknown_user_and_stale_challenge() -> None:
    auth = AdobeAuth({"alice": "wonderland"})
    ch = auth.check({"authmod": "adobe", "user": "alice"}, now=0)
    assert isinstance(ch, Refusal)
    wrong = auth.check(_ffmpeg_client_answer(ch.description, "alice", "nope"), now=1)
    assert isinstance(wrong, Refusal) and "authfailed" in wrong.description
    nouser = auth.check({"authmod": "adobe", "user": "mallory"}, now=0)
    assert isinstance(nouser, Refusal) and "nosuchuser" in nouser.description
    ch = auth.check({"authmod": "adobe", "user": "alice"}, now=0)
    assert isinstance(ch, Refusal)
    stale = auth.check(_ffmpeg_client_answer(ch.description, "alice", "wonderland"), now=1000)
    assert isinstance(stale, Refusal) and "authfailed" in stale.description


def test_token_policy_per_app() -> None:
    cfg = AuthConfig.from_mapping({"apps": {"live": {"publish": "token", "secret": "k"}}})
    ac = AccessControl(cfg, clock=lambda: 1000.0)
    decisions: list[Refusal | None] = []

    def req(name_query: str = "", app: str = "live", action: str = "publish", app_raw: str = "live") -> StreamRequest:
        return StreamRequest(action, app, "x", name_query, f"rtmp://h/{app_raw}", app_raw, "127.0.0.1:1", 1)

    ac.authorize(req(), decisions.append)
    assert isinstance(decisions[-1], Refusal) and decisions[-1].code == "NetStream.Publish.Unauthorized"
    ac.authorize(req("token=" + make_token("k", "publish", "live", "x", 2000)), decisions.append)
    assert decisions[-1] is None
    # The token may come in the connect app's query instead of the stream name's.
    ac.authorize(req(app_raw="live?token=" + make_token("k", "publish", "live", "x", 2000)), decisions.append)
    assert decisions[-1] is None
    ac.authorize(req(action="play"), decisions.append)  # play stays open
    assert decisions[-1] is None
    ac.authorize(req(app="other"), decisions.append)  # other apps are open
    assert decisions[-1] is None


@pytest.mark.parametrize("auth, message", [
    ({"apps": {"live": {"publish": "tokn"}}}, "publish must be one of"),
    ({"apps": {"live": {"publish": "token"}}}, "needs a secret"),
    ({"apps": {"live": {"connect": "user"}}}, "needs [auth] users"),
    ({"apps": {"live": {"colour": "red"}}}, "unknown [auth.apps.live] keys: colour"),
    ({"webhook": {"on_publish": "ftp://x"}}, "http:// or https://"),
    ({"webhook": {"timeout_s": 0}}, "timeout_s must be > 0"),
    ({"hooks": {}}, "unknown [auth] keys: hooks"),
])
def test_bad_auth_config_is_one_clear_error(auth: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ServerConfig.from_mapping({"auth": auth})


def test_tls_port_needs_cert_and_key() -> None:
    with pytest.raises(ValueError, match="tls_cert and tls_key"):
        ServerConfig.from_mapping({"tls_port": 0})


def test_harness_authmod_client_and_nms_sign_match_the_servers() -> None:
    """The harness's own client side (harness/auth.py) against the reference server's checker."""
    from rtmpconf.harness.auth import adobe_client_query, parse_query, reference_token

    auth = AdobeAuth({"u": "p+w/d"})
    ch = auth.check({"authmod": "adobe", "user": "u"}, now=0)
    assert isinstance(ch, Refusal)
    query = adobe_client_query(ch.description, "u", "p+w/d")
    assert query is not None
    assert auth.check(query_params("app?" + query), now=1) == "u"
    assert parse_query("a=1&b=2") == {"a": "1", "b": "2"}
    assert reference_token("k", "publish", "live", "x", 5) == make_token("k", "publish", "live", "x", 5)
