"""Replay cases: every capture of the corpus (captures/manifest.toml) replayed against the target.

Each capture holds real programs' sessions (ffmpeg publishing, ffprobe/ffmpeg/rtmpdump/VLC
playing) recorded on loopback against the reference server, nginx-rtmp or node-media-server.
Its client side is sent again to the target at full speed (harness.capture.replay: fresh
handshake, tcUrl and stream names rewritten, recorded order and gating kept) and the target's
replies are diffed semantically against the recorded server's (harness.capture.diff). Each
case is filed under the catalogue rule its capture exercises.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rtmpconf.harness.capture.replay import SessionReplay, replay_capture
from rtmpconf.harness.capture.sessions import read_capture
from rtmpconf.harness.checks.relay import match_messages, player_media
from rtmpconf.harness.checks.timestamps import timing_findings
from rtmpconf.harness.verdict import Finding, Verdict, failed, passed
from rtmpconf.harness.wirelog import C2S

from rtmpconf.paths import CAPTURES  # noqa: E402 - beside the other module constants
MANIFEST = CAPTURES / "manifest.toml"


@dataclass(frozen=True, slots=True)
class PublishedMedia:
    """A message a recorded publisher sent (the replay sends the same bytes again)."""

    type_id: int
    timestamp: int
    payload: bytes


def check_replayed_media(sessions: list[SessionReplay], rule: str) -> list[Finding]:
    """The capture's own rule, judged on the media the replayed players got: every payload is
    one the capture's publisher sent (none corrupted), with the publisher's deltas.

    The reply diff alone never looks at the media, so a capture of a stream crossing 0xFFFFFF ms
    or of interleaved chunks would PASS whatever the target did to them. How many messages a
    player gets depends on timing (a full-speed replay ends when its client did), so only
    corruption and changed deltas are judged; a capture without a player that got media judges
    nothing here (the reply diff and media counts still do).
    """
    published = [PublishedMedia(m.raw.type_id, m.raw.timestamp, bytes(m.raw.payload))
                 for s in sessions for m in s.session.log.decode(C2S).messages if m.raw.type_id in (8, 9)]
    if not published:
        return []
    out: list[Finding] = []
    for s in sessions:
        match = match_messages(player_media(s.log), published)
        if not match.pairs:
            continue
        if match.unknown:
            m = match.unknown[0]
            out.append(failed(rule, f"{len(match.unknown)} media messages reached the replayed player with a payload "
                              "the publisher never sent (corrupted)", expected="the published payloads",
                              actual=f"message #{m.index} type {m.raw.type_id} ts {m.raw.timestamp}",
                              message_index=m.index))
        out += timing_findings(match, published, rule=rule, violation=Verdict.FAIL)
        if not match.unknown:
            out.append(passed(rule, f"{len(match.pairs)} media messages reached the replayed player as published "
                              "(payloads intact)"))
    return out


def corpus() -> list[Any]:
    """One pytest param per manifest entry, marked with the rule its capture exercises."""
    if not MANIFEST.exists():
        return []
    entries = tomllib.loads(MANIFEST.read_text()).get("capture", [])
    return [pytest.param(e, id=Path(e["file"]).stem,
                         marks=pytest.mark.rule(e["rule"]))
            for e in entries]


def _sends(found: Any, command: str) -> bool:
    """Does a client in the capture send this command?"""
    from rtmpconf.rtmp.messages import Command

    for session in found.sessions:
        for m in session.log.decode("c2s").messages:
            if isinstance(m.message, Command) and m.message.name == command:
                return True
    return False


@pytest.mark.parametrize("capture", corpus())
async def test_replay_capture(rtmp, capture):
    """Replays the client side of a recorded real-program session (captures/manifest.toml) against
    the target and compares the replies with the recorded server's.

    Requirement: the target answers as the recorded server did — the same commands answered,
    the same onStatus codes and levels, media to players starting at a keyframe — within the
    catalogue's tolerances (reply order CMD-4, FMLE replies CMD-11, StreamBegin CTRL-7 and
    optional notifications are recorded as INFORMATIONAL).
    """
    path = CAPTURES / capture["file"]
    if not path.exists():
        rtmp.judge(failed(capture["rule"], f"capture {path.name} is listed in the manifest but missing",
                          verdict=Verdict.ERROR))
        return
    found = read_capture(path)
    missing = [role for role in ("publish", "play") if (rtmp.roles or {}).get(role) and _sends(found, role)]
    if missing:
        # The recorded program plays (or publishes) and the target does not serve that role.
        rtmp.judge(Finding(capture["rule"], Verdict.UNIMPLEMENTED,
                           f"the target does not serve {missing[0]}: {rtmp.roles[missing[0]]}"))
        return
    result = await replay_capture(found, rtmp.target, speed=None, timeout=rtmp.timeout,
                                  name_prefix=rtmp.stream_name("r") + "-", rule=capture["rule"],
                                  idle_timeout=rtmp.idle_timeout)
    for s in result.sessions:
        rtmp.info.logs.append(s.log)
    findings = [f for s in result.sessions for f in s.diff.findings]
    findings += check_replayed_media(result.sessions, capture["rule"])
    if not findings:
        findings = [failed(capture["rule"], "the capture holds no RTMP session to replay", verdict=Verdict.ERROR)]
    rtmp.judge(findings)
