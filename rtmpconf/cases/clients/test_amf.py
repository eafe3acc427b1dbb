"""Client cases, catalogue section 25 (CL-AMF): AMF the client writes and must read, and metadata."""

from __future__ import annotations

import pytest

from rtmpconf.harness.checks import clients as ck
from rtmpconf.harness.clients.scenarios import normal, not_connected, player_media, session
from rtmpconf.harness.clients.server import Replies
from rtmpconf.harness.verdict import not_run
from rtmpconf.rtmp import amf0


@pytest.mark.rule("CL-AMF-1")
async def test_amf_decodes(client_case):
    """A normal session. Requirement: every command and data message is valid AMF0."""
    run = await normal(client_case)
    client_case.judge(ck.check_amf_decodes(run.log) if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-AMF-2")
@pytest.mark.client_role("publish")
async def test_metadata_numbers(client_case):
    """A normal publish. Requirement: onMetaData's numeric fields are AMF Numbers (FLV §E.5)."""
    run = await normal(client_case)
    client_case.judge(ck.check_metadata_types(run.log) if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-AMF-3")
@pytest.mark.client_role("publish")
async def test_metadata_ecma_first(client_case):
    """A normal publish. Requirement: onMetaData is an ECMA array sent before the first frame."""
    run = await normal(client_case)
    client_case.judge(ck.check_metadata_form(run.log) if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-AMF-4")
@pytest.mark.client_role("publish")
async def test_metadata_matches_stream(client_case):
    """A normal publish. Requirement: codec ids and audio rate agree with the sequence headers."""
    run = await normal(client_case)
    client_case.judge(ck.check_metadata_consistent(run.log) if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-AMF-5")
async def test_every_amf0_type_in_reply(client_case):
    """connect _result whose information object holds a long string (0x0C), an ECMA array, a strict
    array, a date, null, undefined and nested objects. Requirement: the client reads it and goes on."""
    extra = {"longString": "L" * 70_000, "ecma": amf0.EcmaArray({"a": 1.0, "b": "two"}),
             "strict": [1.0, "x", None, True], "when": amf0.Date(1_700_000_000_000.0, 0), "nothing": None,
             "undef": amf0.UNDEFINED, "nested": {"level1": {"level2": {"level3": "deep"}}}}
    run = await session(client_case, replies=Replies(connect_extra_info=extra), end_wait=0.5)
    client_case.judge(ck.check_progressed(run.log, run.mark_time("connect _result"), rule="CL-AMF-5",
                                          what="a _result with every AMF0 type")
                      if run.connected else not_connected(client_case, run))


@pytest.mark.rule("CL-AMF-6")
async def test_amf3_replies(client_case):
    """Replies as type-17 (AMF3) commands, for a client whose connect asked objectEncoding 3.
    Requirement: it reads them and goes on. NOT-RUN for an AMF0-only client."""
    run = await session(client_case, end_wait=0.5)
    if not run.connected:
        client_case.judge(not_connected(client_case, run))
        return
    if not run.s.amf3:
        client_case.judge(not_run("CL-AMF-6", "the client asked for objectEncoding 0 (AMF0 replies)"))
        return
    client_case.judge(ck.check_progressed(run.log, run.mark_time("connect _result"), rule="CL-AMF-6",
                                          what="AMF3 replies"))


@pytest.mark.rule("CL-AMF-7")
@pytest.mark.client_role("play")
async def test_ecma_count_is_a_hint(client_case):
    """onMetaData whose ECMA array says 0 entries but holds the usual ones. Requirement: the player
    reads it and plays."""
    stream = player_media()
    values = amf0.decode_all(stream.metadata)
    arr = values[-1]
    body = b"".join(len(k.encode()).to_bytes(2, "big") + k.encode() + amf0.encode_value(v) for k, v in arr.items())
    # 0x08 ECMA array, count 0 (wrong), the entries, then the 00 00 09 end marker.
    meta = amf0.encode_value("onMetaData") + b"\x08\x00\x00\x00\x00" + body + b"\x00\x00\x09"
    run = await session(client_case, media=stream, stream_kw={"metadata": meta})
    client_case.judge(ck.check_player_decoded(run.player_output, video_sent=run.video_sent, rule="CL-AMF-7",
                                              what="an ECMA array with a wrong count", log=run.log)
                      if run.connected else not_connected(client_case, run))
