"""Handshake cases (catalogue section 1, Adobe RTMP 1.0 §5.2)."""

from __future__ import annotations

import pytest

from harness.checks.handshake import check_handshake_layout, check_handshake_order, check_handshake_split


@pytest.mark.rule("HS-8", level="MUST", section="5.2.4")
async def test_s2_echoes_c1(rtmp):
    """Sends C0+C1 (simple, zero version field) and C2.

    Requirement (§5.2.4): "Random echo (1528 bytes): This field MUST contain the random data
    field sent by the peer in S1 (for C2) or S2 (for C1)" — read: S2 echoes C1.
    """
    async with rtmp.client() as c:
        await c.handshake()
    rtmp.judge(check_handshake_layout(c.log))


@pytest.mark.rule("HS-4", level="MUST", section="5.2.1")
async def test_nothing_before_c2(rtmp):
    """Sends C0+C1, holds C2 back for 300 ms, then sends C2 + connect.

    Requirement (§5.2.1): "The server MUST wait until C2 has been received before sending any
    other data."
    """
    async with rtmp.client() as c:
        await c.handshake(c2_delay=0.3)
        await c.connect()
    rtmp.judge(check_handshake_order(c.log))


@pytest.mark.rule("HS-5", level="CONV", section="5.2.1")
async def test_s0s1s2_write_split(rtmp):
    """Sends C0+C1 in one write and records how S0, S1 and S2 arrive (informational)."""
    async with rtmp.client() as c:
        await c.handshake()
    rtmp.judge(check_handshake_split(c.log))
