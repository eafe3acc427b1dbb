"""Protocol control and user control (catalogue CTRL-*)."""

from __future__ import annotations

from harness.verdict import Finding, failed, passed
from harness.wirelog import S2C, WireLog
from rtmp.messages import UserControl, UserControlEvent


def check_ping_echo(log: WireLog, sent: bytes) -> list[Finding]:
    """CTRL-10: a PingResponse echoing the request's 4 bytes exactly."""
    responses = [m for m in log.decode(S2C).messages
                 if isinstance(m.message, UserControl) and m.message.event == UserControlEvent.PING_RESPONSE]
    if not responses:
        return [failed("CTRL-10", "no PingResponse to a PingRequest", expected=f"PingResponse {sent.hex()}",
                       actual="none within the wait")]
    data = responses[0].message.data  # type: ignore[union-attr]
    if data[:4] != sent:
        return [failed("CTRL-10", "PingResponse does not echo the request", expected=sent.hex(" "),
                       actual=data[:4].hex(" "), message_index=responses[0].index)]
    return [passed("CTRL-10", "PingResponse echoes the request", message_index=responses[0].index)]
