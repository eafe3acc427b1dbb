"""A conformance case whose scenario breaks: the report must show a harness ERROR, which is no
verdict on the target (used by tests/report/pages.py)."""

from __future__ import annotations

import pytest


@pytest.mark.rule("CMD-1")
async def test_scenario_breaks(rtmp):  # type: ignore[no-untyped-def]
    """Completes a handshake, then the scenario itself raises (a harness bug)."""
    async with rtmp.client() as c:
        await c.handshake()
    raise KeyError("scenario bug")
