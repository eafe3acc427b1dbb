"""Client cases of the E-RTMP Reconnect Request (CL-ERTMP-3), in their own module so the E-RTMP work
can reuse them: the server asks the client to reconnect with an absolute tcUrl (a second listener),
a relative one (same server, another app) or none (the same URL)."""

from __future__ import annotations

import pytest

from rtmpconf.harness.checks import clients as ck
from rtmpconf.harness.clients.server import ScriptedServer, ServerSession

#: How long after the Reconnect Request a client that advertised it has to connect anew.
RECONNECT_WINDOW_S = 5.0


async def reconnect_request(s: ServerSession, tc_url: str | None) -> None:
    """onStatus NetConnection.Connect.ReconnectRequest on message stream 0 (E-RTMP v2)."""
    info = {"level": "status", "code": "NetConnection.Connect.ReconnectRequest",
            "description": "The streaming server is undergoing updates."}
    if tc_url is not None:
        info["tcUrl"] = tc_url
    s.mark("reconnect request")
    await s.send_command(s._reply_cmd("onStatus", 0.0, None, info), msid=0)


async def run_reconnect(cc, kind: str) -> list:
    other: ScriptedServer | None = None
    s = await cc.start()
    if s is None:
        return [cc.never_connected()]
    if kind == "absolute":
        other = await ScriptedServer(label=f"{cc.info.case_id} second server", timeout=cc.timeout).start()
        other.on_session = lambda x: cc.info.logs.append(x.log)
        tc_url = f"rtmp://127.0.0.1:{other.port}/live"
        target = other
    elif kind == "relative":
        tc_url = "/live2"
        target = cc.server
    else:
        tc_url = None
        target = cc.server
    role = await s.accept()
    if role is None:
        await cc.stop_agent()
        return [ck.not_run("CL-ERTMP-3", "the client stopped before publish/play")]
    await s.collect(0.5)
    await reconnect_request(s, tc_url)
    expected = (tc_url if kind == "absolute" else f"rtmp://127.0.0.1:{cc.server.port}/live2" if kind == "relative"
                else ck.connect_caps(s.log).get("tcUrl", ""))
    index = 0 if target is other else 1
    later = await target.session(index, RECONNECT_WINDOW_S)
    if later is not None:
        await later.accept(timeout=3.0)
    else:
        await s.collect(0.2)
    await cc.stop_agent()
    if other is not None:
        await other.stop()
    sessions = [x for x in (other.sessions if other else cc.server.sessions[1:])]
    return ck.check_reconnect(s.log, [x.log for x in sessions], requested_at=s.marks[-1].time, tc_url=expected,
                              window=RECONNECT_WINDOW_S)


@pytest.mark.rule("CL-ERTMP-3")
async def test_reconnect_absolute_tcurl(client_case):
    """Reconnect Request with tcUrl rtmp://127.0.0.1:<second server>/live. Requirement: a client that
    advertised capsEx Reconnect connects there; others ignore it or close, never hang or crash."""
    client_case.judge(await run_reconnect(client_case, "absolute"))


@pytest.mark.rule("CL-ERTMP-3")
async def test_reconnect_relative_tcurl(client_case):
    """Reconnect Request with the relative tcUrl "/live2". Requirement: resolved against the current
    URL (rtmp://host:port/live2)."""
    client_case.judge(await run_reconnect(client_case, "relative"))


@pytest.mark.rule("CL-ERTMP-3")
async def test_reconnect_same_url(client_case):
    """Reconnect Request without a tcUrl. Requirement: reconnect to the same tcUrl."""
    client_case.judge(await run_reconnect(client_case, "same"))
