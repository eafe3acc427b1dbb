"""Command cases (catalogue section 5, Adobe RTMP 1.0 §7.2)."""

from __future__ import annotations

import pytest

from harness.checks.commands import check_status
from harness.scenarios import publish_stream


@pytest.mark.rule("CMD-14", level="SHOULD", section="7.2.2.6")
async def test_duplicate_publish_refused(rtmp):
    """A second connection publishes a name that is already live.

    Requirement (CMD-14): the second publisher gets NetStream.Publish.BadName with level
    "error"; the first stream is not disturbed.
    """
    name = rtmp.stream_name()
    async with rtmp.client(label="first") as first:
        await publish_stream(first, name, until_ms=200)
        async with rtmp.client(label="second") as second:
            await second.handshake()
            await second.connect()
            info = await second.publish(name)
    rtmp.judge(check_status(info, rule="CMD-14", expected_codes=("NetStream.Publish.BadName",)))
