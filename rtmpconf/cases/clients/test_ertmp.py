"""Client cases, catalogue section 27 (CL-ERTMP): Enhanced RTMP capabilities and streams.
(Reconnect Request cases: test_reconnect.py.)"""

from __future__ import annotations

import pytest

from rtmpconf.harness.checks import clients as ck
from rtmpconf.harness.clients.scenarios import normal, not_connected, session
from rtmpconf.harness.clients.server import Replies
from rtmpconf.harness.verdict import not_run


@pytest.mark.rule("CL-ERTMP-1")
async def test_connect_capabilities(client_case):
    """A normal session. Requirement: E-RTMP connect properties, when present, have their types."""
    run = await normal(client_case)
    client_case.judge(ck.check_caps_types(run.log) if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-ERTMP-2")
async def test_capabilities_in_result(client_case):
    """connect _result properties with fourCcList, capsEx and videoFourCcInfoMap (E-RTMP v2).
    Requirement: the client goes on."""
    props = {"fmsVer": "FMS/3,5,7,7009", "capabilities": 31.0, "mode": 1.0,
             "fourCcList": ["av01", "vp09", "hvc1", "avc1", "mp4a", "Opus"], "capsEx": 1.0,
             "videoFourCcInfoMap": {"hvc1": 3.0, "avc1": 3.0}, "audioFourCcInfoMap": {"mp4a": 3.0}}
    run = await session(client_case, replies=Replies(connect_properties=props), end_wait=0.5)
    client_case.judge(ck.check_progressed(run.log, run.mark_time("connect _result"), rule="CL-ERTMP-2",
                                          what="E-RTMP capabilities in _result")
                      if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-ERTMP-4")
@pytest.mark.client_role("play")
async def test_enhanced_hevc_stream(client_case):
    """An E-RTMP hvc1 stream to a player that listed hvc1 in fourCcList. Requirement: it decodes.
    NOT-RUN for a player that did not announce hvc1 (the server must not send it)."""
    from rtmpconf.harness.testmedia import make_hevc

    s = await client_case.start()
    if s is None:
        client_case.judge(client_case.never_connected())
        return
    role = await s.accept()
    caps = ck.connect_caps(s.log)
    fourccs = caps.get("fourCcList") if isinstance(caps.get("fourCcList"), list) else []
    if role != "play" or not any(f in ("hvc1", "*") for f in fourccs):
        await client_case.stop_agent()
        client_case.judge(not_run("CL-ERTMP-4", f"the player did not list hvc1 in fourCcList ({fourccs!r})"))
        return
    stream = make_hevc(seconds=1.6, width=320, height=180, fps=25, gop=25)
    await s.stream(stream)
    await s.finish()
    outcome = await client_case.finish(3.0)
    sent = sum(1 for m in s.sent_media if m.coded and m.type_id == 9)
    client_case.judge(ck.check_player_decoded(outcome.output if outcome else None, video_sent=sent,
                                              rule="CL-ERTMP-4", what="an enhanced HEVC stream"))
