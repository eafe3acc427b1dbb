"""Protocol and user control cases (catalogue section 4, Adobe RTMP 1.0 §5.4, §7.1.7)."""

from __future__ import annotations

import pytest

from harness.checks.control import check_ping_echo
from rtmp.messages import UserControl


@pytest.mark.rule("CTRL-10", level="MUST", section="7.1.7")
async def test_ping_request_echoed(rtmp):
    """Sends PingRequest with timestamp 0xDEADBEEF after connect.

    Requirement (§7.1.7): "PingResponse ... The client sends this event to the server in
    response to the ping request. The event data is a 4-byte timestamp, which was received with
    the PingRequest." — byte-exact echo.
    """
    async with rtmp.client() as c:
        await c.handshake()
        await c.connect()
        await c.send(UserControl.ping_request(0xDEADBEEF))
        await c.collect(1.0)
    rtmp.judge(check_ping_echo(c.log, b"\xde\xad\xbe\xef"))
