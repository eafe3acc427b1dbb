"""Protocol errors, each tied to a rule ID of the conformance catalogue."""

from __future__ import annotations


class ProtocolError(Exception):
    """Something broke the RTMP rules.

    ``rule`` is the catalogue rule ID (``"CH-15"``) the violation falls under, when one applies.
    """

    def __init__(self, message: str, *, rule: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule

    def __str__(self) -> str:
        text = super().__str__()
        return f"[{self.rule}] {text}" if self.rule else text


class LocalProtocolError(ProtocolError):
    """We were asked to send something illegal (raised on send paths only)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something illegal (raised on receive paths only)."""


class LimitExceeded(RemoteProtocolError):
    """The peer pushed past one of our named limits (message length, chunk streams, depth...).

    ``limit`` names the constant that was exceeded so a log line can say which knob to turn.
    """

    def __init__(self, message: str, *, limit: str, rule: str | None = None) -> None:
        super().__init__(message, rule=rule)
        self.limit = limit
