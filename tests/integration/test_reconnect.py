"""E-RTMP Reconnect Request (ERTMP-11/23): the reference server's drain (admin command and SIGTERM),
and the project's client profile following the request to an absolute, relative and //host tcUrl."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rtmpconf.harness.client import RECONNECT_REQUEST, RtmpClient, Target, resolve_tc_url
from rtmpconf.harness.drain import DrainHook, DrainUnavailable
from rtmpconf.harness.profiles import FFMPEG
from rtmpconf.harness.targets import ReferenceServerProcess
from rtmpconf.harness.testmedia import make_hevc
from rtmpconf.reference_server.server import ServerThread
from tests.integration.conftest import run

CAPABLE = {"fourCcList": ["*"], "capsEx": 1.0}


def test_resolve_tc_url_forms() -> None:
    current = "rtmp://a.example:1935/live"
    assert resolve_tc_url(current, None) == current
    assert resolve_tc_url(current, "rtmp://b.example/app") == "rtmp://b.example/app"
    assert resolve_tc_url(current, "//192.0.2.0/realtimeapp") == "rtmp://192.0.2.0/realtimeapp"
    assert resolve_tc_url(current, "/realtimeapp") == "rtmp://a.example:1935/realtimeapp"
    assert resolve_tc_url(current, "other") == "rtmp://a.example:1935/other"
    assert resolve_tc_url("rtmp://h/app/inst", "../x") == "rtmp://h/x"
    assert resolve_tc_url("rtmps://h:443/app?k=1", "?k=2") == "rtmps://h:443/app?k=2"


async def _client(target: Target, label: str, extra: dict[str, Any] | None, *, play: str | None = None,
                  publish: str | None = None) -> RtmpClient:
    c = RtmpClient(target, label=label)
    await c.open()
    await c.handshake()
    await c.connect(extra=extra)
    if publish:
        await c.publish(publish)
    if play:
        await c.play(play)
    return c


@pytest.mark.parametrize("ask", ["absolute", "relative", "network-path", "absent"])
def test_admin_drain_and_profile_follows(server_factory: Callable[..., ServerThread], ask: str) -> None:
    srv = server_factory(admin_token="s3cret", drain_grace_s=0.3, drain_timeout_s=5.0)
    target = Target("127.0.0.1", srv.port, "live")
    here = target.tc_url
    tc_url = {"absolute": here, "relative": "/live", "network-path": f"//127.0.0.1:{srv.port}/live",
              "absent": None}[ask]
    stream = make_hevc(seconds=0.8, gop=8)

    async def scenario() -> None:
        pub = await _client(target, "publisher", CAPABLE, publish="d")
        player = await _client(target, "capable player", CAPABLE, play="d")
        legacy = await _client(target, "legacy player", None, play="d")
        await pub.publish_media(stream.publish_sequence())
        admin = []

        def factory(**kw: Any) -> RtmpClient:
            c = RtmpClient(target, **kw)
            admin.append(c)
            return c

        result = await DrainHook("token:s3cret").trigger(factory, tc_url=tc_url, description="test drain", grace_s=0.3)
        assert result["reconnectRequested"] == 2.0 and result["closing"] == 1.0
        req = await player.wait_status("reconnect", (RECONNECT_REQUEST,))
        assert req["level"] == "status" and req.get("tcUrl") == tc_url
        assert (await pub.wait_status("reconnect", (RECONNECT_REQUEST,))).get("tcUrl") == tc_url
        # The legacy player gets no request and is closed cleanly after the grace period.
        assert await legacy.wait_closed(3.0) and not legacy.close_reset
        assert not any((ev.message is not None and RECONNECT_REQUEST in repr(ev.message)) for ev in legacy.received)
        # The capable player is still served (ERTMP-23): a frame published now reaches it.
        late = [t for t in stream.tags if t.type_id == 9][-1]
        await pub.publish_media([type(late)(9, late.timestamp + 40, late.payload, False, False)])
        await player.wait_for(lambda e: e.raw.type_id == 9 and e.raw.payload == late.payload
                              and e.raw.timestamp >= late.timestamp + 40, "served after the request")
        # Our client profile follows: the player plays again at the resolved URL.
        new, url = await FFMPEG.follow_reconnect(player, req, lambda t: FFMPEG.client(t, label="player again"),
                                                 name="d", publish=False, connect_extra=CAPABLE)
        assert url == here and player.closed
        from rtmpconf.rtmp.messages import status_info
        codes = [(status_info(e.message) or {}).get("code") for e in new.received]
        assert "NetStream.Play.Start" in codes
        await new.close()
        await pub.close()

    run(scenario())


def test_wrong_token_is_an_unknown_command(server_factory: Callable[..., ServerThread]) -> None:
    srv = server_factory(admin_token="right")
    target = Target("127.0.0.1", srv.port, "live")

    async def scenario() -> None:
        with pytest.raises(DrainUnavailable):
            await DrainHook("token:wrong").trigger(lambda **kw: RtmpClient(target, **kw), tc_url=None,
                                                   description="x", grace_s=0.1)
        # Without an admin token configured the command does not exist either.
    run(scenario())
    off = server_factory()
    target_off = Target("127.0.0.1", off.port, "live")
    with pytest.raises(DrainUnavailable):
        run(DrainHook("token:right").trigger(lambda **kw: RtmpClient(target_off, **kw), tc_url=None,
                                             description="x", grace_s=0.1))


def test_drain_command_hook(tmp_path: Path) -> None:
    marker = tmp_path / "drained"
    hook = DrainHook(f"echo \"$RTMPCONF_DRAIN_TCURL $RTMPCONF_DRAIN_GRACE\" > {marker}")
    run(hook.trigger(lambda **kw: None, tc_url="/live", description="x", grace_s=2.0))  # type: ignore[arg-type,return-value]
    assert marker.read_text().strip() == "/live 2"
    with pytest.raises(DrainUnavailable):
        run(DrainHook("exit 3").trigger(lambda **kw: None, tc_url=None, description="x", grace_s=1.0))  # type: ignore[arg-type,return-value]


def test_sigterm_drains_then_exits(tmp_path: Path) -> None:
    """SIGTERM: capable clients get a Reconnect Request with drain_tc_url, the others are closed after
    drain_grace_s, new connections are refused, and the process exits once everyone left."""
    conf = tmp_path / "server.toml"
    conf.write_text('drain_grace_s = 0.3\ndrain_timeout_s = 10.0\ndrain_tc_url = "rtmp://127.0.0.1:1/elsewhere"\n')
    proc = ReferenceServerProcess(config=str(conf))
    target = proc.start()
    try:
        async def scenario() -> None:
            capable = await _client(target, "capable", CAPABLE, play="t")
            legacy = await _client(target, "legacy", None, play="t")
            assert proc.proc is not None
            proc.proc.send_signal(signal.SIGTERM)
            req = await capable.wait_status("reconnect", (RECONNECT_REQUEST,), timeout=5.0)
            assert req["tcUrl"] == "rtmp://127.0.0.1:1/elsewhere"
            assert await legacy.wait_closed(5.0) and not legacy.close_reset
            # No new connections during the drain.
            with pytest.raises(OSError):
                await asyncio.open_connection(target.host, target.port)
            # Still served until it leaves; the process exits once it has.
            assert not capable.closed
            await capable.close()
        run(scenario())
        assert proc.proc is not None
        deadline = time.monotonic() + 10
        while proc.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.proc.returncode == 0
    finally:
        proc.stop()
