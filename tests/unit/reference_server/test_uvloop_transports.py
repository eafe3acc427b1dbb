"""The reference server runs on uvloop when installed: its protocols never require asyncio's classes."""

from __future__ import annotations

import re
from pathlib import Path

import rtmpconf

#: uvloop's transports (TCPTransport, UDPTransport ...) implement the asyncio interfaces without
#: subclassing asyncio.Transport / DatagramTransport: an isinstance check on them fails there.
ISINSTANCE_ON_ASYNCIO_TRANSPORT = re.compile(r"isinstance\([^)]*asyncio\.\w*Transport\b")


def test_no_isinstance_checks_on_asyncio_transports() -> None:
    root = Path(rtmpconf.__file__).parent
    found = [f"{path.relative_to(root)}:{n}" for path in sorted(root.rglob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1) if ISINSTANCE_ON_ASYNCIO_TRANSPORT.search(line)]
    assert not found, f"breaks under uvloop (use typing.cast): {found}"
