"""Authentication cases (catalogue section 18): refusals the client can see, credentials in the URL,
nothing published past a refusal, Adobe authmod.

Authentication needs a server configured for it, so these cases run against a second instance of
the target started with authentication on (module fixture ``auth_setup``): the reference server
with HMAC tokens and an authmod account, nginx-rtmp with ``on_publish`` pointing at a webhook the
harness runs (it allows only the token it issued), node-media-server with its ``sign`` secret. For a
server the run did not start, ``--auth-target rtmp://host/app/name?<valid credential>`` says where
and how; without it the cases are NOT-RUN.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rtmpconf.harness.auth import (
    AuthSetup,
    adobe_client_query,
    nms_setup,
    reference_setup,
    static_setup,
    webhook_setup,
    with_query,
)
from rtmpconf.harness.checks.auth import (
    ConnectAttempt,
    check_adobe_authmod,
    check_credential_honoured,
    check_name_not_reserved,
    check_refusal_visible,
    check_refused_publish_not_relayed,
)
from rtmpconf.harness.client import RtmpClient, Target
from rtmpconf.harness.scenarios import STEP_ERRORS, attempt, record_write_close
from rtmpconf.harness.testmedia import make_h264_aac
from rtmpconf.harness.verdict import Finding, Verdict, not_run
from rtmpconf.rtmp.messages import Audio, Command, Video

#: How long a refused client waits for the server's close after the refusal (s).
CLOSE_WAIT_S = 2.0


@pytest.fixture(scope="module")
def auth_setup(request: pytest.FixtureRequest, rtmp_target: Any) -> Iterator[AuthSetup | str]:
    """An AuthSetup for a server with authentication on, or the reason there is none."""
    url = request.config.getoption("--rtmp-auth-target")
    if url:
        yield static_setup(url)
        return
    name = rtmp_target.name or ""
    if rtmp_target.driver is None:
        yield "the target was given as a URL: pass --auth-target rtmp://host/app/name?<valid credential>"
        return
    with contextlib.ExitStack() as stack:
        if name == "reference":
            yield _reference(stack)
        elif name == "nginx-rtmp":
            yield _nginx(stack)
        elif name == "node-media-server":
            yield _nms(stack)
        else:
            yield f"{name} has no authentication this suite knows how to configure"


def _reference(stack: contextlib.ExitStack) -> AuthSetup:
    from rtmpconf.harness.targets import ReferenceServerProcess

    secret, password = secrets.token_hex(16), secrets.token_hex(8)
    work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rtmpconf-auth-")))
    conf = work / "auth.toml"
    conf.write_text(f'''[auth]
users = {{ conformance = "{password}" }}
[auth.apps.authtoken]
publish = "token"
play = "token"
secret = "{secret}"
[auth.apps.authmod]
connect = "user"
''')
    proc = ReferenceServerProcess(config=str(conf), log_path=work / "server.log")
    target = proc.start()
    stack.callback(proc.stop)
    return reference_setup(Target(target.host, target.port, "authtoken"), secret,
                           user=("conformance", password), authmod_app="authmod")


def _nginx(stack: contextlib.ExitStack) -> AuthSetup:
    from rtmpconf.harness.peers.servers import NginxRtmp
    from rtmpconf.harness.peers.webhook import WebhookServer, allow_token

    token = secrets.token_hex(12)
    hook = stack.enter_context(WebhookServer(allow_token(token)))
    server = NginxRtmp(extra_app_directives=[f"on_publish {hook.url('/on_publish')}"])
    target = server.start()
    stack.callback(server.stop)
    return webhook_setup(target, token, hook)


def _nms(stack: contextlib.ExitStack) -> AuthSetup:
    from rtmpconf.harness.peers.servers import NodeMediaServer

    secret = secrets.token_hex(12)
    server = NodeMediaServer(auth_secret=secret)
    target = server.start()
    stack.callback(server.stop)
    return nms_setup(target, secret)


def setup_or_judge(rtmp: Any, auth_setup: AuthSetup | str) -> AuthSetup | None:
    if isinstance(auth_setup, str):
        rtmp.judge(not_run(rtmp.rule, auth_setup))
        return None
    return auth_setup


# -- scenario steps ----------------------------------------------------------------------------------


def markers_stream() -> Any:
    return make_h264_aac(seconds=0.4, gop=5)


async def start_publish(c: RtmpClient, name: str, *, app: str | None = None) -> dict[str, Any] | None:
    """Handshake, connect (``app`` may carry a query), FMLE publish of ``name`` (may carry a query);
    the first onStatus answer, or None if the target closed or said nothing in time."""
    await c.handshake()
    target = c.target
    app = target.app if app is None else app
    reply = await attempt(c.connect(app, tc_url=f"{target.scheme}://{target.host}:{target.port}/{app}"))
    if reply is None or reply.name != "_result":
        return None
    await attempt(c.command("releaseStream", name))
    await attempt(c.command("FCPublish", name))
    msid = await attempt(c.create_stream())
    if msid is None:
        return None
    await attempt(c.command("publish", name, "live", msid=msid, tid=0.0))
    return await attempt(c.wait_status("publish", None, timeout=3.0))


async def send_media(c: RtmpClient, stream: Any) -> list[bytes]:
    """Sequence headers and frames on the publisher's stream (if the connection is still open);
    returns the coded frames' payloads (the markers a player must or must not see)."""
    msid = c.stream_id or 1
    markers = [bytes(t.payload) for t in stream.tags]
    if c.closed:
        return markers
    with contextlib.suppress(*STEP_ERRORS):
        await c.send(Video(stream.video_sequence_header), msid=msid, timestamp=stream.start_ms)
        if stream.audio_sequence_header is not None:
            await c.send(Audio(stream.audio_sequence_header), msid=msid, timestamp=stream.start_ms)
        await c.publish_media(stream.tags, msid=msid)
        await c.probe(timeout=2.0)
    record_write_close(c)
    return markers


async def open_player(rtmp: Any, setup: AuthSetup, name: str) -> RtmpClient:
    """A player of ``name`` (with a play credential where the target checks play)."""
    p = rtmp.client(label="player", target=setup.target)
    await p.open()
    await p.handshake()
    await p.connect()
    play_name = with_query(name, setup.valid("play", name)) if "play" in setup.actions else name
    await attempt(p.play(play_name))
    return p


async def settle_player(p: RtmpClient) -> None:
    with contextlib.suppress(*STEP_ERRORS):
        await p.probe(timeout=2.0)
        await p.collect(0.3)


# -- AUTH-1 ------------------------------------------------------------------------------------------


@pytest.mark.rule("AUTH-1")
@pytest.mark.parametrize("credential", ["wrong-key", "missing"])
async def test_refused_publish_is_told(rtmp, auth_setup, credential):
    """Connects to the app that requires a credential and publishes a name with a credential signed
    with the wrong key (or with none), then waits up to 2 s for the server's close.

    Requirement (AUTH-1): a refused publish is answered with "an onStatus (or `_error`) with `level`
    "error", a `code` and a `description`, sent before it closes the connection".
    """
    setup = setup_or_judge(rtmp, auth_setup)
    if setup is None:
        return
    name = rtmp.stream_name()
    query = setup.invalid("publish", name) if credential == "wrong-key" else ""
    async with rtmp.client(label="publisher with a bad credential", target=setup.target) as c:
        await start_publish(c, with_query(name, query))
        await c.wait_closed(CLOSE_WAIT_S)
        record_write_close(c)
    rtmp.judge(check_refusal_visible(c.log))


# -- AUTH-2 ------------------------------------------------------------------------------------------


@pytest.mark.rule("AUTH-2")
async def test_wrong_credential_never_publishes(rtmp, auth_setup):
    """A player waits on a name; a second connection publishes it with a credential signed with the
    wrong key and sends sequence headers and 0.4 s of H.264/AAC whatever the answer.

    Requirement (AUTH-2): "never started: no NetStream.Publish.Start, and none of the media that
    connection sends reaches a player of the name".
    """
    setup = setup_or_judge(rtmp, auth_setup)
    if setup is None:
        return
    name = rtmp.stream_name()
    stream = markers_stream()
    player = await open_player(rtmp, setup, name)
    try:
        async with rtmp.client(label="publisher with a wrong credential", target=setup.target) as pub:
            await start_publish(pub, with_query(name, setup.invalid("publish", name)))
            markers = await send_media(pub, stream)
        await settle_player(player)
    finally:
        await player.close()
    rtmp.judge(check_refused_publish_not_relayed(pub.log, player.log, markers))


# -- AUTH-3 / AUTH-6 -----------------------------------------------------------------------------------


@pytest.mark.rule("AUTH-3")
async def test_credential_in_stream_name_query(rtmp, auth_setup):
    """Publishes ``name?<valid credential>`` (OBS/FFmpeg form) with H.264/AAC; a player of plain
    ``name`` (with a play credential where play is protected) watches.

    Requirement (AUTH-3): the credential "is accepted, and the query is not part of the name: a
    player of `name` receives the stream".
    """
    setup = setup_or_judge(rtmp, auth_setup)
    if setup is None:
        return
    name = rtmp.stream_name()
    player = await open_player(rtmp, setup, name)
    try:
        async with rtmp.client(label="publisher", target=setup.target) as pub:
            await start_publish(pub, with_query(name, setup.valid("publish", name)))
            markers = await send_media(pub, markers_stream())
            await settle_player(player)
    finally:
        await player.close()
    rtmp.judge(check_credential_honoured(pub.log, player.log, markers, where="the stream name's query", rule="AUTH-3"))


@pytest.mark.rule("AUTH-6")
async def test_credential_in_app_query(rtmp, auth_setup):
    """Connects with app ``<app>?<valid credential>`` (and that tcUrl), publishes the plain name with
    H.264/AAC; a player of the name watches.

    Requirement (AUTH-6): a valid credential in the app's query "is accepted for the publish that
    follows, and the query is not part of the app name".
    """
    setup = setup_or_judge(rtmp, auth_setup)
    if setup is None:
        return
    name = rtmp.stream_name()
    player = await open_player(rtmp, setup, name)
    try:
        async with rtmp.client(label="publisher", target=setup.target) as pub:
            await start_publish(pub, name, app=f"{setup.target.app}?{setup.valid('publish', name)}")
            markers = await send_media(pub, markers_stream())
            await settle_player(player)
    finally:
        await player.close()
    rtmp.judge(check_credential_honoured(pub.log, player.log, markers, where="the connect app's query", rule="AUTH-6"))


# -- AUTH-4 ------------------------------------------------------------------------------------------


@pytest.mark.rule("AUTH-4")
async def test_refused_publisher_reserves_no_name(rtmp, auth_setup):
    """Publishes a name with a wrong credential (and keeps that connection open if the server does),
    then at once publishes the same name with a valid credential on a new connection.

    Requirement (AUTH-4): "the name is free: a publish of the same name with a valid credential,
    right after, starts".
    """
    setup = setup_or_judge(rtmp, auth_setup)
    if setup is None:
        return
    name = rtmp.stream_name()
    async with rtmp.client(label="refused publisher", target=setup.target) as bad, \
            rtmp.client(label="valid publisher", target=setup.target) as good:
        await start_publish(bad, with_query(name, setup.invalid("publish", name)))
        # A server that refuses by closing (after a status or none) has the close seen first.
        await bad.wait_closed(1.0)
        status = await start_publish(good, with_query(name, setup.valid("publish", name)))
        record_write_close(bad)
    rtmp.judge(check_name_not_reserved(bad.log, status))


# -- AUTH-5 ------------------------------------------------------------------------------------------


def _description(c: RtmpClient, reply: Command | None) -> ConnectAttempt:
    if reply is None:
        return ConnectAttempt(app="", reply="")
    obj = next((a for a in (*reply.arguments, reply.command_object) if isinstance(a, dict) and "code" in a), {})
    return ConnectAttempt("", reply.name, str(obj.get("code", "")), str(obj.get("level", "")),
                          str(obj.get("description", "")))


@pytest.mark.rule("AUTH-5")
async def test_adobe_authmod_exchange(rtmp, auth_setup):
    """Four connects to the authmod app on fresh connections, as FFmpeg makes them for
    ``rtmp://user:pass@host/app``: no credentials; ``?authmod=adobe&user=U``; the response computed
    from the challenge; a response computed with a wrong password (after a new challenge).

    Requirement (AUTH-5): "code=403 need auth" + "authmod=adobe", then "?reason=needauth&...salt...
    challenge", then acceptance of R = base64(md5(base64(md5(U+S+password)) + O + C2)), then
    "?reason=authfailed".
    """
    setup = setup_or_judge(rtmp, auth_setup)
    if setup is None:
        return
    if setup.user is None or setup.authmod_app is None:
        rtmp.judge(Finding("AUTH-5", Verdict.UNIMPLEMENTED,
                           f"the {setup.kind} authentication of this target has no Adobe authmod account"))
        return
    user, password = setup.user
    base = dataclasses_replace_app(setup.target, setup.authmod_app)
    attempts: list[ConnectAttempt] = []

    async def connect(app: str) -> ConnectAttempt:
        async with rtmp.client(label=f"connect {app[:60]}", target=base) as c:
            await c.handshake()
            reply = await attempt(c.connect(app, tc_url=f"{base.scheme}://{base.host}:{base.port}/{app}"))
            got = _description(c, reply)
            return ConnectAttempt(app, got.reply, got.code, got.level, got.description)

    app = setup.authmod_app
    attempts.append(await connect(app))
    attempts.append(await connect(f"{app}?authmod=adobe&user={user}"))
    answer = adobe_client_query(attempts[-1].description, user, password)
    attempts.append(await connect(f"{app}?{answer}" if answer else app))
    challenge = await connect(f"{app}?authmod=adobe&user={user}")
    wrong = adobe_client_query(challenge.description, user, password + "-wrong")
    attempts.append(await connect(f"{app}?{wrong}" if wrong else app))
    rtmp.judge(check_adobe_authmod(attempts))


def dataclasses_replace_app(target: Target, app: str) -> Target:
    import dataclasses

    return dataclasses.replace(target, app=app)
