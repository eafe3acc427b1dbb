"""Client cases, catalogue section 22 (CL-TS): timestamps the client writes and reads."""

from __future__ import annotations

import pytest

from rtmpconf.harness.checks import clients as ck
from rtmpconf.harness.clients.scenarios import (
    EVENT_FRAME,
    crossing_timestamps,
    high_timestamps,
    normal,
    not_connected,
    session,
)
from rtmpconf.harness.clients.server import Replies, ServerSession


@pytest.mark.rule("CL-TS-1")
@pytest.mark.client_role("publish")
async def test_ext_ts_dialect_written(client_case):
    """A publish whose timestamps start 1 s above 0xFFFFFF. Recorded: does the client repeat the
    extended timestamp on fmt-3 chunks."""
    run = await high_timestamps(client_case)
    client_case.judge(ck.check_ext_ts_dialect(run.log) if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-TS-2")
@pytest.mark.client_role("publish")
async def test_fmt3_repeats_ext_ts(client_case):
    """A publish above 0xFFFFFF. Requirement: fmt-3 chunks after an extended header carry the 4-byte
    field too (§5.3.1.3)."""
    run = await high_timestamps(client_case)
    client_case.judge(ck.check_ext_ts_repeated(run.log) if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-TS-10")
@pytest.mark.client_role("publish")
async def test_publisher_crosses_24_bits(client_case):
    """A publish started 1 s below 0xFFFFFF. Requirement: timestamps go on in the extended field."""
    run = await crossing_timestamps(client_case)
    client_case.judge(ck.check_crossing(run.log, rule="CL-TS-10") if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-TS-5")
@pytest.mark.client_role("publish")
async def test_publisher_timestamps_monotonic(client_case):
    """A normal publish. Requirement: coded audio and video timestamps do not go backwards."""
    run = await normal(client_case)
    client_case.judge(ck.check_monotonic(run.log) if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-TS-8")
@pytest.mark.client_role("publish")
async def test_aac_cadence(client_case):
    """A normal publish. Convention: AAC frames on the 1024/rate clock, no drift (TS-15)."""
    run = await normal(client_case)
    client_case.judge(ck.check_aac_cadence(run.log) if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-TS-9")
@pytest.mark.client_role("publish")
async def test_forward_deltas(client_case):
    """A normal publish. Requirement: fmt 1/2 deltas are forward; backward steps use fmt 0."""
    run = await normal(client_case)
    client_case.judge(ck.check_forward_deltas(run.log) if run.connected else not_connected(client_case, run))


async def _play_high(cc, *, offset: int, ext_on_fmt3: bool = True, force_fmt0: bool = True):
    async def dialect(s: ServerSession) -> None:
        s.conn.writer.ext_ts_on_fmt3 = ext_on_fmt3
    # Chunk size 128 (no Set Chunk Size): every frame spans several fmt-3 continuation chunks.
    run = await session(cc, replies=Replies(chunk_size=None), stream_kw={"ts_offset": offset, "force_fmt0": force_fmt0},
                        after_connect=dialect)
    return run


@pytest.mark.rule("CL-TS-3")
@pytest.mark.client_role("play")
async def test_reads_ext_ts_present(client_case):
    """Timestamps from 0x1000000, every frame with a fmt-0 header at chunk size 128 and fmt-3
    continuation chunks repeating the extended field. Requirement: the player delivers the stream."""
    run = await _play_high(client_case, offset=0x1000000)
    client_case.judge(ck.check_player_decoded(run.player_output, video_sent=run.video_sent, rule="CL-TS-3",
                                              what="extended timestamps repeated on fmt 3", log=run.log)
                      if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-TS-4")
@pytest.mark.client_role("play")
async def test_reads_ext_ts_omitted(client_case):
    """As CL-TS-3 with the extended field left off fmt-3 chunks (pre-2024 librtmp dialect).
    Convention: players read it too (TS-5)."""
    run = await _play_high(client_case, offset=0x1000000, ext_on_fmt3=False)
    client_case.judge(ck.check_player_decoded(run.player_output, video_sent=run.video_sent, rule="CL-TS-4",
                                              what="extended timestamps omitted on fmt 3", log=run.log)
                      if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-TS-6")
@pytest.mark.client_role("play")
async def test_player_crosses_24_bits(client_case):
    """A stream starting 400 ms below 0xFFFFFF (crossing after 10 frames). Requirement: the player
    keeps delivering frames across the crossing."""
    run = await _play_high(client_case, offset=0xFFFFFF - 400, force_fmt0=False)
    client_case.judge(ck.check_player_went_on(run.player_output, video_sent=run.video_sent, video_before=EVENT_FRAME,
                                              rule="CL-TS-6", what="the 0xFFFFFF crossing", log=run.log)
                      if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-TS-7")
@pytest.mark.client_role("play")
async def test_player_crosses_32_bits(client_case):
    """A stream starting 400 ms below 2^32 (wrapping after 10 frames). Requirement: the player keeps
    delivering frames across the wrap."""
    run = await _play_high(client_case, offset=0x100000000 - 400, force_fmt0=False)
    client_case.judge(ck.check_player_went_on(run.player_output, video_sent=run.video_sent, video_before=EVENT_FRAME,
                                              rule="CL-TS-7", what="the 2^32 wrap", log=run.log)
                      if run.connected else not_connected(client_case, run))
