"""Authentication on the reference server end to end: tokens, Adobe authmod with real ffmpeg, webhooks."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import pytest

from rtmpconf.harness.client import RtmpClient, Target
from rtmpconf.harness.peers import require_or_skip
from rtmpconf.harness.peers.webhook import WebhookServer
from rtmpconf.reference_server.auth import make_token
from tests.integration.conftest import connected, run

TOKEN_AUTH = {"apps": {"live": {"publish": "token", "play": "token", "secret": "s3cret"}}}


def token(action: str, name: str, secret: str = "s3cret", ttl: int = 60) -> str:
    return make_token(secret, action, "live", name, int(time.time()) + ttl)


async def publish_status(target: Target, name: str) -> tuple[dict[str, Any], RtmpClient]:
    c = await connected(target, "publisher")
    return await _publish_any(c, name), c


async def _publish_any(c: RtmpClient, name: str) -> dict[str, Any]:
    msid = await c.create_stream()
    await c.command("publish", name, "live", msid=msid, tid=0.0)
    return await c.wait_status("publish")


def test_token_refusal_is_an_error_status_before_the_close(server_factory: Any) -> None:
    srv = server_factory(auth=TOKEN_AUTH)
    target = Target("127.0.0.1", srv.port)

    async def scenario() -> None:
        for name in ("x", f"x?token={token('publish', 'x', secret='wrong')}", f"x?token={token('play', 'x')}"):
            info, c = await publish_status(target, name)
            assert info["code"] == "NetStream.Publish.Unauthorized" and info["level"] == "error", info
            assert info["description"]
            assert await c.wait_closed(2.0), "connection kept open after a refusal"
            await c.close()
        info, c = await publish_status(target, f"x?token={token('publish', 'x')}")
        assert info["code"] == "NetStream.Publish.Start", info
        # A player with a publish token is refused; with a play token it plays.
        p = await connected(target, "player")
        msid = await p.create_stream()
        await p.command("play", f"x?token={token('publish', 'x')}", -2.0, msid=msid, tid=0.0)
        st = await p.wait_status("play")
        assert st["code"] == "NetStream.Play.Unauthorized" and st["level"] == "error"
        p2 = await connected(target, "player 2")
        st2 = await p2.play(f"x?token={token('play', 'x')}")
        assert st2["code"] == "NetStream.Play.Start", st2
        for cl in (c, p, p2):
            await cl.close()

    run(scenario())


def test_refused_publisher_never_holds_the_name(server_factory: Any) -> None:
    srv = server_factory(auth=TOKEN_AUTH)
    target = Target("127.0.0.1", srv.port)

    async def scenario() -> None:
        bad, c = await publish_status(target, "free?token=1-00")
        assert bad["code"] == "NetStream.Publish.Unauthorized"
        good, c2 = await publish_status(target, f"free?token={token('publish', 'free')}")
        assert good["code"] == "NetStream.Publish.Start"
        await c.close()
        await c2.close()

    run(scenario())


@pytest.mark.ffmpeg
def test_ffmpeg_publishes_with_user_and_password_through_adobe_authmod(server_factory: Any) -> None:
    (ffmpeg,) = require_or_skip("ffmpeg")
    base = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
            "testsrc2=size=160x120:rate=25", "-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-f", "flv"]
    srv2 = server_factory(auth={"users": {"alice": "wonderland"}, "apps": {"live": {"connect": "user"}}})
    ok = subprocess.run(base + [f"rtmp://alice:wonderland@127.0.0.1:{srv2.port}/live/cam"],
                        capture_output=True, timeout=60)
    assert ok.returncode == 0, ok.stderr.decode(errors="replace")
    bad = subprocess.run(base + [f"rtmp://alice:nope@127.0.0.1:{srv2.port}/live/cam"], capture_output=True, timeout=60)
    assert bad.returncode != 0
    assert b"authfailed" in bad.stderr or b"Incorrect username/password" in bad.stderr
    none = subprocess.run(base + [f"rtmp://127.0.0.1:{srv2.port}/live/cam"], capture_output=True, timeout=60)
    assert none.returncode != 0 and b"need auth" in none.stderr


def test_webhook_allows_denies_and_times_out(server_factory: Any) -> None:
    def decide(call: Any) -> int | None:
        name = call.form.get("name", "")
        return {"ok": 200, "no": 403, "hang": None}.get(name, 200)

    with WebhookServer(decide) as hook:
        srv = server_factory(auth={"webhook": {"on_publish": hook.url("/pub"), "on_unpublish": hook.url("/done"),
                                               "on_play": hook.url("/play"), "timeout_s": 0.5}})
        target = Target("127.0.0.1", srv.port)

        async def scenario() -> None:
            ok, c = await publish_status(target, "ok?token=abc")
            assert ok["code"] == "NetStream.Publish.Start", ok
            no, c2 = await publish_status(target, "no")
            assert no["code"] == "NetStream.Publish.Unauthorized" and "HTTP 403" in no["description"], no
            t0 = time.monotonic()
            hang, c3 = await publish_status(target, "hang")
            assert hang["code"] == "NetStream.Publish.Unauthorized" and "no answer" in hang["description"], hang
            assert time.monotonic() - t0 < 2.0
            p = await connected(target, "player")
            assert (await p.play("ok"))["code"] == "NetStream.Play.Start"
            await c.command("deleteStream", float(c.stream_id or 1))
            await c.probe()
            for cl in (c, c2, c3, p):
                await cl.close()

        run(scenario())
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not any(cl.path == "/done" for cl in hook.calls):
            time.sleep(0.05)
    pub = next(cl for cl in hook.calls if cl.path == "/pub" and cl.form["name"] == "ok")
    assert pub.form["call"] == "publish" and pub.form["app"] == "live" and pub.form["token"] == "abc"
    assert any(cl.path == "/play" and cl.form["name"] == "ok" for cl in hook.calls)
    done = next(cl for cl in hook.calls if cl.path == "/done")
    assert done.form["call"] == "publish_done" and done.form["name"] == "ok"


def test_unreachable_webhook_denies_unless_fail_open(server_factory: Any) -> None:
    from rtmpconf.harness.peers.servers import free_port

    dead = f"http://127.0.0.1:{free_port()}/hook"
    closed = server_factory(auth={"webhook": {"on_publish": dead, "timeout_s": 1.0}})
    open_ = server_factory(auth={"webhook": {"on_publish": dead, "timeout_s": 1.0, "fail_open": True}})

    async def scenario() -> None:
        info, c = await publish_status(Target("127.0.0.1", closed.port), "x")
        assert info["code"] == "NetStream.Publish.Unauthorized", info
        info2, c2 = await publish_status(Target("127.0.0.1", open_.port), "x")
        assert info2["code"] == "NetStream.Publish.Start", info2
        await c.close()
        await c2.close()

    run(scenario())
