"""Scenario steps of the client cases: one agent against the scripted server, start to end.

A case runs a scenario and judges its :class:`Run` with one checker. Scenarios that several cases
judge differently (the normal publish, the normal play) run once per agent and pytest run and are
shared (:func:`shared`): the agent is started once, each case still reports its own verdict and
gets the same wire log attached.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rtmpconf.harness.clients.server import Mark, Replies, ServerSession
from rtmpconf.harness.peers.agents import AgentOptions, AgentOutcome
from rtmpconf.harness.wirelog import WireLog

#: Player media: 1.6 s of 320x180@25 H.264 (GOP 25) + 48 kHz AAC, 40 video frames.
PLAYER_SECONDS = 1.6
#: Coded video frame index at which mid-stream events are sent.
EVENT_FRAME = 10
#: How long a publisher may take to end by itself after its media (seconds of media + start-up).
PUBLISHER_END_S = 6.0


def player_media(**kw: Any) -> Any:
    from rtmpconf.harness.testmedia import make_h264_aac

    args: dict[str, Any] = {"seconds": PLAYER_SECONDS, "width": 320, "height": 180, "fps": 25, "gop": 25}
    args.update(kw)
    return make_h264_aac(**args)


def tag_index_of_video(stream: Any, n: int) -> int:
    """Index in ``stream.tags`` of the ``n``-th coded video frame."""
    seen = 0
    for i, t in enumerate(stream.tags):
        if t.type_id == 9:
            if seen == n:
                return i
            seen += 1
    return len(stream.tags) - 1


@dataclass
class Run:
    """What one scenario left behind."""

    sessions: list[ServerSession]
    outcome: AgentOutcome | None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def connected(self) -> bool:
        return bool(self.sessions)

    @property
    def s(self) -> ServerSession:
        return self.sessions[0]

    @property
    def log(self) -> WireLog:
        return self.sessions[0].log

    @property
    def logs(self) -> list[WireLog]:
        return [s.log for s in self.sessions]

    def mark(self, prefix: str) -> Mark | None:
        for s in self.sessions:
            for m in s.marks:
                if m.name.startswith(prefix):
                    return m
        return None

    def mark_time(self, prefix: str) -> float | None:
        m = self.mark(prefix)
        return m.time if m is not None else None

    @property
    def video_sent(self) -> int:
        return sum(1 for m in self.s.sent_media if m.coded and m.type_id == 9) if self.sessions else 0

    @property
    def player_output(self) -> Any:
        return self.outcome.output if self.outcome is not None else None


Hook = Callable[[ServerSession], Awaitable[None]]


async def session(cc: Any, *, replies: Replies | None = None, options: AgentOptions | None = None,
                  handshake: dict[str, Any] | None = None, media: Any = None, hooks: dict[int, Hook] | None = None,
                  stream_kw: dict[str, Any] | None = None, after_publish: Hook | None = None,
                  after_connect: Hook | None = None, before_connect_reply: Hook | None = None, video_frames: int = 1000, publish_s: float = PUBLISHER_END_S,
                  end_wait: float | None = None) -> Run:
    """The normal server side with the given deviations: handshake, replies, then media to a
    player (``hooks`` keyed by coded-video-frame number) or reading a publisher's media."""
    s = await cc.start(options=options)
    if s is None:
        return Run([], await cc.stop_agent(), {"connected": False})
    s.replies = replies or Replies()
    if not await s.handshake(**(handshake or {})):
        return Run(cc.server.sessions, await cc.finish(0.5), {"stopped": "handshake"})
    if after_connect is not None or before_connect_reply is not None:
        cmd = await s.expect_command("connect")
        if cmd is None:
            return Run(cc.server.sessions, await cc.finish(0.5), {"stopped": "connect"})
        if before_connect_reply is not None:
            await before_connect_reply(s)
        await s.answer(cmd, 0)
        if after_connect is not None:
            await after_connect(s)
    role = await s.serve_commands()
    if role == "play":
        stream = media or player_media()
        tag_hooks = {tag_index_of_video(stream, n): h for n, h in (hooks or {}).items()}
        await s.stream(stream, hooks=tag_hooks, **(stream_kw or {}))
        await s.finish()
        outcome = await cc.finish(end_wait if end_wait is not None else 3.0)
    elif role == "publish":
        if after_publish is not None:
            await after_publish(s)
        start = time.monotonic()
        await s.receive_media(video_frames=video_frames, seconds=publish_s)
        outcome = await cc.finish(end_wait if end_wait is not None else max(0.5, publish_s - (time.monotonic() - start)))
    else:
        outcome = await cc.finish(end_wait if end_wait is not None else 0.5)
    return Run(cc.server.sessions, outcome, {"role": role})


async def shared(cc: Any, key: str, make: Callable[[], Awaitable[Run]]) -> Run:
    """Run ``make`` once per pytest run and agent; later cases get the same Run (logs attached)."""
    store: dict[str, Run] = cc.item.config.__dict__.setdefault("_rtmp_client_shared", {})
    run = store.get(key)
    if run is None:
        run = await make()
        store[key] = run
    else:
        for log in run.logs:
            if log not in cc.info.logs:
                cc.info.logs.append(log)
        if run.outcome is not None:
            cc.outcomes.append(run.outcome)
    return run


async def normal(cc: Any) -> Run:
    """The normal session of this agent's role (shared by every case that only observes it)."""
    return await shared(cc, "normal", lambda: session(cc))


async def high_timestamps(cc: Any) -> Run:
    """A publisher whose timestamps start 1 s above 0xFFFFFF (shared): every absolute header and
    every delta from a header stamped 0 needs the extended field."""
    async def make() -> Run:
        if not cc.agent.ts_offset:
            return Run([], None, {"unsupported": True})
        return await session(cc, options=AgentOptions(ts_offset_ms=0xFFFFFF + 1000))
    return await shared(cc, "high-ts", make)


async def crossing_timestamps(cc: Any) -> Run:
    """A publisher whose timestamps start 1 s below 0xFFFFFF and cross it (shared)."""
    async def make() -> Run:
        if not cc.agent.ts_offset:
            return Run([], None, {"unsupported": True})
        return await session(cc, options=AgentOptions(ts_offset_ms=0xFFFFFF - 1000))
    return await shared(cc, "crossing-ts", make)


def not_connected(cc: Any, run: Run) -> list[Any]:
    """Findings for a scenario whose agent never connected or that the agent cannot run."""
    from rtmpconf.harness.verdict import not_run

    if run.data.get("unsupported"):
        return [not_run(cc.rule, f"{cc.agent.name} has no way to start its timestamps at an offset")]
    return [cc.never_connected()]
