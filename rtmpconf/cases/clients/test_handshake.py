"""Client cases, catalogue section 20 (CL-HS): the handshake as the client plays it."""

from __future__ import annotations

import pytest

from rtmpconf.harness.checks import clients as ck
from rtmpconf.harness.clients.scenarios import normal, not_connected, session

#: How long a client may wait on a server that never answers the handshake (CL-HS-6).
SILENT_WINDOW_S = 10.0


@pytest.mark.rule("CL-HS-1")
async def test_c0_c1_layout(client_case):
    """A normal session. Requirement: C0 = 3 and a 1536-byte C1 (§5.2.2, §5.2.3)."""
    run = await normal(client_case)
    client_case.judge(ck.check_c0c1(run.log) if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-HS-2")
async def test_c2_echoes_s1(client_case):
    """A normal session (digest S1 for a digest C1). Requirement: C2 echoes S1 or signs its digest (§5.2.4)."""
    run = await normal(client_case)
    client_case.judge(ck.check_c2_echo(run.log) if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-HS-3")
async def test_waits_for_s2(client_case):
    """S0+S1 sent, S2 held for 0.5 s. Requirement: "The client MUST wait until S2 has been received
    before sending any other data" (§5.2.1)."""
    run = await session(client_case, handshake={"hold_s2": 0.5})
    if not run.connected:
        client_case.judge(not_connected(client_case, run))
        return
    client_case.judge(ck.check_order_against_s2(run.log, run.mark_time("S2 sent"), run.mark_time("S0+S1 sent")))


@pytest.mark.rule("CL-HS-4")
async def test_handshake_flavour(client_case):
    """A normal session. Recorded: simple or digest handshake, and the digest scheme."""
    run = await normal(client_case)
    client_case.judge(ck.check_handshake_flavour(run.log) if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-HS-5")
@pytest.mark.parametrize("split", [1, 7, (1, 1536, 1536)], ids=["byte-by-byte", "7-byte-pieces", "s0-s1-s2-apart"])
async def test_split_server_handshake(client_case, split):
    """S0+S1+S2 written in small pieces. Requirement: the handshake is a byte stream; the client
    completes it and sends connect."""
    run = await session(client_case, handshake={"split": split})
    if not run.connected:
        client_case.judge(not_connected(client_case, run))
        return
    client_case.judge(ck.check_progressed(run.log, run.log.first_time("s2c"), rule="CL-HS-5",
                                          what="a split S0/S1/S2", names=("connect",)))


@pytest.mark.rule("CL-HS-6")
async def test_silent_server(client_case):
    """The server accepts TCP and never answers C0+C1. Requirement: the client gives up within 10 s."""
    s = await client_case.start()
    if s is None:
        client_case.judge(client_case.never_connected())
        return
    closed = await s.wait_closed(SILENT_WINDOW_S)
    exited = await client_case.wait_agent(0.1)
    # Judged on what happened before the harness stops the agent (its SIGINT closes the socket too).
    await client_case.stop_agent()
    client_case.judge(ck.check_gave_up(closed=closed, exited=exited, window=SILENT_WINDOW_S, rule="CL-HS-6"))
