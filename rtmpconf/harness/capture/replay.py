"""``rtmpconf replay``: play the client side of a capture's RTMP sessions against a target.

Every session's client messages are sent again, to the target, with a fresh handshake (new
random bytes, same C0 version and simple/digest flavour), ``tcUrl``/``app`` and stream names
rewritten for the target, and the original chunk streams, message stream ids (mapped onto the
ids the target hands out), timestamps, chunk size changes and fmt-3 extended-timestamp dialect.
Client Acknowledgements and PingResponses are not replayed: they answer the *recorded*
server, and the replaying connection produces its own.

All sessions of a capture run together on one timeline, in the order their client messages
were captured, so a player still joins while the publisher is live. Each client message waits
(with a deadline) for what the recorded client had received before sending it: the reply to
the transaction it waited for, the onStatus count, and the first media of each kind. With
``speed=1`` the original pacing is kept as well; ``speed=None`` ("max") sends as soon as the
gates allow. The target's replies are recorded in a WireLog per session and diffed against
the recorded server side (harness.capture.diff).
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from rtmpconf.harness import timing as link_timing
from rtmpconf.harness.capture.diff import SessionDiff, diff_sessions
from rtmpconf.harness.capture.sessions import CaptureSessions, RtmpSession
from rtmpconf.harness.client import ReceiveBudget, Target
from rtmpconf.harness.wirelog import C2S, S2C, WireLog
from rtmpconf.rtmp.chunk import RawMessage
from rtmpconf.rtmp.errors import ProtocolError
from rtmpconf.rtmp.handshake import (
    CLIENT_KEY_PARTIAL,
    HANDSHAKE_SIZE,
    ClientHandshake,
    HandshakeMode,
    find_digest_scheme,
)
from rtmpconf.rtmp.messages import Command, UnknownMessage, UserControl, encode_message, status_info
from rtmpconf.rtmp.session import NEED_DATA, Connection, HandshakeComplete, MessageReceived, Role

READ_SIZE = 256 * 1024
#: Deadline for each gate (a reply the recorded client had before its next message).
GATE_TIMEOUT_S = 3.0
#: How long to wait for the optional part of a gate (onStatus count, media, replies to FMLE calls):
#: servers differ there (CMD-11, CMD-16), and a target that never sends it must not stall the replay.
SOFT_GATE_S = 0.5
#: Commands whose replies every server sends (CMD-9, CMD-10).
ESSENTIAL_COMMANDS = frozenset({"connect", "createStream"})
#: After a session's last message, how long the target may stay silent before we hang up.
SETTLE_S = 0.15
#: A replayed connection stops being read once the target sent this many times what the recorded
#: server sent (at least REPLAY_MIN_BUDGET): several replayed connections run at once, so each gets
#: far less than client.MAX_RECEIVE_BYTES, and a target that sends that much more has diverged.
REPLAY_BUDGET_FACTOR = 4
REPLAY_MIN_BUDGET = 4 * 1024 * 1024
#: Client messages that answer the recorded server and are regenerated instead (CTRL-1, CTRL-10).
SKIPPED_TYPES = frozenset({3})
PING_RESPONSE = 7
#: Commands whose first argument is a stream name.
NAME_COMMANDS = frozenset({"publish", "play", "releaseStream", "FCPublish", "FCUnpublish", "FCSubscribe",
                           "FCUnsubscribe", "getStreamLength", "play2"})


# -- the client script -----------------------------------------------------------------------


@dataclass
class Gate:
    """What the recorded client had received from the server before sending a message."""

    tid: float | None = None  #: a _result/_error with this transaction id
    tid_essential: bool = False  #: the tid is connect's or createStream's (waited for in full)
    statuses: int = 0  #: at least this many onStatus messages
    video: bool = False  #: at least one video message
    audio: bool = False  #: at least one audio message

    def describe(self) -> str:
        parts = []
        if self.tid is not None:
            parts.append(f"reply to tid {self.tid:g}")
        if self.statuses:
            parts.append(f"{self.statuses} onStatus")
        if self.video:
            parts.append("video")
        if self.audio:
            parts.append("audio")
        return ", ".join(parts) or "nothing"


@dataclass
class Step:
    """One thing a session's client did, at its original time."""

    time: float
    session: int
    kind: str  #: open | send | close
    raw: RawMessage | None = None
    gate: Gate = field(default_factory=Gate)
    order: int = 0


def _gates(session: RtmpSession) -> list[tuple[float, RawMessage, Gate]]:
    """The client's messages to replay, each with the gate the recorded exchange implies."""
    log = session.log
    c2s = log.decode(C2S).messages
    s2c = log.decode(S2C).messages
    out: list[tuple[float, RawMessage, Gate]] = []
    j = 0
    names = {m.message.transaction_id: m.message.name for m in c2s if isinstance(m.message, Command)}
    statuses = 0
    video = audio = False
    last_tid: float | None = None
    for m in c2s:
        raw = m.raw
        # Server messages completed before this client message was sent.
        while j < len(s2c) and s2c[j].time < m.time:
            sm = s2c[j]
            j += 1
            c = sm.message
            if isinstance(c, Command):
                if status_info(c) is not None:
                    statuses += 1
                elif c.name in ("_result", "_error") and c.transaction_id:
                    last_tid = c.transaction_id
            elif sm.raw.type_id == 9:
                video = True
            elif sm.raw.type_id == 8:
                audio = True
        if raw.type_id in SKIPPED_TYPES:
            continue
        if raw.type_id == 4 and isinstance(m.message, UserControl) and m.message.event == PING_RESPONSE:
            continue
        out.append((m.time, raw, Gate(last_tid, names.get(last_tid or 0.0) in ESSENTIAL_COMMANDS,
                                      statuses, video, audio)))
    return out


def build_steps(found: CaptureSessions, only: int | None = None) -> list[Step]:
    """Every session's open / send / close steps on one timeline (original capture order)."""
    steps: list[Step] = []
    for s in found.sessions:
        if only is not None and s.index != only:
            continue
        log = s.log
        t_open = log.first_time(C2S) or 0.0
        steps.append(Step(t_open, s.index, "open"))
        last = t_open
        final_gate = Gate()
        for t, raw, gate in _gates(s):
            steps.append(Step(t, s.index, "send", raw, gate))
            last = max(last, t)
            final_gate = gate
        # Before hanging up, the client had what it had before its last message, plus media.
        dec = log.decode(S2C)
        end_gate = Gate(None, False, final_gate.statuses,
                        any(m.raw.type_id == 9 for m in dec.messages),
                        any(m.raw.type_id == 8 for m in dec.messages))
        t_close = log.close_time if log.close_time is not None else (log.events[-1].time if log.events else last)
        steps.append(Step(max(t_close, last), s.index, "close", None, end_gate))
    for i, st in enumerate(steps):
        st.order = i
    steps.sort(key=lambda st: (st.time, st.order))
    return steps


# -- rewriting -------------------------------------------------------------------------------


@dataclass
class Rewriter:
    """tcUrl, app and stream names for the target; message stream ids onto the target's."""

    target: Target
    name_prefix: str = ""
    names: dict[str, str] = field(default_factory=dict)
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    def stream_name(self, name: str) -> str:
        base, sep, query = name.partition("?")
        new = self.names.get(base)
        if new is None:
            new = self.names[base] = f"{self.name_prefix}{base}-r{self.token}"
        return new + sep + query

    def command(self, cmd: Command) -> Command:
        if cmd.name == "connect" and isinstance(cmd.command_object, dict):
            obj = dict(cmd.command_object)
            if "tcUrl" in obj:
                obj["tcUrl"] = self.target.tc_url
            if "app" in obj:
                obj["app"] = self.target.app
            return Command(cmd.name, cmd.transaction_id, obj, cmd.arguments, cmd.amf3)
        if cmd.name in NAME_COMMANDS and cmd.arguments and isinstance(cmd.arguments[0], str):
            args = (self.stream_name(cmd.arguments[0]),) + tuple(cmd.arguments[1:])
            return Command(cmd.name, cmd.transaction_id, cmd.command_object, args, cmd.amf3)
        return cmd


# -- one replaying connection ------------------------------------------------------------------


class ReplayConnection:
    """A client connection that reads continuously (a player must drain its socket while the
    publisher sends) and records a WireLog; messages are sent as recorded."""

    def __init__(self, session: RtmpSession, target: Target, rewriter: Rewriter, timeout: float) -> None:
        self.session = session
        self.target = target
        self.rewriter = rewriter
        self.timeout = timeout
        self.log = WireLog(f"replay of {session.client} -> {session.server}")
        c1 = session.log.bytes(C2S)[:1 + HANDSHAKE_SIZE]
        self.conn = Connection(Role.CLIENT, handshake=_handshake_like(c1), auto_window_reply=False,
                               ext_ts_on_fmt3=session.log.decode(C2S).fmt3_ext_omitted == 0)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.received: list[MessageReceived] = []
        self.handshake_done = False
        self.closed = False
        self.error: str | None = None
        #: What the target did that ended the replay of this connection (undecodable bytes, a
        #: flood): a finding about the target, unlike ``error`` (the replay itself broke).
        self.target_fault: str | None = None
        self.notes: list[str] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # recorded stream id -> target's stream id (from each createStream reply)
        self.msid_map: dict[int, int] = {}
        self._recorded_ids = _recorded_stream_ids(session.log)
        self.receive_budget = max(REPLAY_MIN_BUDGET, REPLAY_BUDGET_FACTOR * session.log.total(S2C))
        self._sent_create: dict[float, bool] = {}

    async def open(self) -> None:
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(self.target.host, self.target.port, limit=READ_SIZE,
                                        **self.target.tls_kwargs(self.timeout)), self.timeout)
        except (TimeoutError, OSError) as exc:
            self.error = f"cannot connect to {self.target.host}:{self.target.port}: {exc or 'timeout'}"
            self.closed = True
            return
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.log.client_port = sock.getsockname()[1]
        self._write(self.conn.data_to_send())  # C0 + C1
        self._task = asyncio.create_task(self._read_loop())

    def _write(self, data: bytes) -> None:
        if not data or self.writer is None or self.closed:
            return
        now = time.monotonic()
        self.log.add(C2S, data, now)
        # Later waits allow for these bytes crossing a rate-limited link (harness.timing).
        link = link_timing.current()
        link.backlog.sent(link, len(data), now)
        try:
            self.writer.write(data)
        except (ConnectionError, OSError):
            self._mark_closed(reset=True)

    def _mark_closed(self, reset: bool = False) -> None:
        if not self.closed:
            self.closed = True
            self.log.mark_closed(S2C, time.monotonic(), reset=reset)
        self._changed.set()

    async def _read_loop(self) -> None:
        assert self.reader is not None
        try:
            while True:
                data = await self.reader.read(READ_SIZE)
                if not data:
                    self._mark_closed()
                    return
                self.log.add(S2C, data, time.monotonic())
                chunks_before = self.conn.reader.chunks_read
                self.conn.receive_data(data)
                self._drain()
                problem = ReceiveBudget.current().charge(
                    self.log, self.conn, len(data), self.conn.reader.chunks_read - chunks_before,
                    max_bytes=self.receive_budget,
                    what=f"{REPLAY_BUDGET_FACTOR} x what the recorded server sent, replay.REPLAY_BUDGET_FACTOR")
                if problem is not None:
                    # A flooding target: stop reading (the wire log and messages stay bounded).
                    self.target_fault = self.target_fault or problem
                    self.log.note(f"harness stopped reading: {problem}")
                    self.closed = True  # for the waits; the target did not close (no mark in the log)
                    self._changed.set()
                    return
                self._write(self.conn.data_to_send())  # C2, acks, ping responses
                self._changed.set()
        except (ConnectionError, OSError):
            self._mark_closed(reset=True)
        except asyncio.CancelledError:
            raise

    def _drain(self) -> None:
        while True:
            try:
                ev = self.conn.next_event()
            except ProtocolError as exc:
                self.target_fault = f"target's bytes do not decode: {exc}"
                return
            if ev is NEED_DATA:
                return
            if isinstance(ev, HandshakeComplete):
                self.handshake_done = True
            elif isinstance(ev, MessageReceived):
                self.received.append(ev)
                self._learn_stream_id(ev)

    def _learn_stream_id(self, ev: MessageReceived) -> None:
        c = ev.message
        if isinstance(c, Command) and c.name == "_result" and c.transaction_id in self._sent_create:
            recorded = self._recorded_ids.get(c.transaction_id)
            new = next((int(a) for a in c.arguments if isinstance(a, (int, float)) and not isinstance(a, bool)), None)
            if recorded is not None and new is not None:
                self.msid_map[recorded] = new

    def satisfied(self, gate: Gate) -> bool:
        if not self.handshake_done:
            return False
        statuses = 0
        tid_ok = gate.tid is None
        video = audio = False
        for ev in self.received:
            c = ev.message
            if isinstance(c, Command):
                if status_info(c) is not None:
                    statuses += 1
                elif not tid_ok and c.name in ("_result", "_error") and c.transaction_id == gate.tid:
                    tid_ok = True
            elif ev.raw.type_id == 9:
                video = True
            elif ev.raw.type_id == 8:
                audio = True
        return (tid_ok and statuses >= gate.statuses and (video or not gate.video)
                and (audio or not gate.audio))

    async def wait_gate(self, gate: Gate, timeout: float, soft_timeout: float = SOFT_GATE_S) -> bool:
        """Wait for the handshake and an essential reply up to ``timeout``, for the rest of the
        gate up to ``soft_timeout`` more; True if the whole gate was met."""
        hard = Gate(gate.tid if gate.tid_essential else None, True)
        if not await self._wait(hard, timeout):
            return False
        return await self._wait(gate, min(timeout, soft_timeout))

    async def _wait(self, gate: Gate, timeout: float) -> bool:
        link = link_timing.current()
        # Behind bytes still crossing a rate-limited link the wait starts later (harness.timing).
        deadline = time.monotonic() + timeout + link_timing.TRANSFER_MARGIN * link.backlog.pending_s()
        cap = deadline + 4 * timeout  # a link kept busy by other sessions does not stall a gate forever
        while not self.satisfied(gate):
            if self.closed:
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0 and time.monotonic() < cap and link.backlog.busy():
                remaining = link_timing.BUSY_SLICE_S  # the emulated link still holds bytes: not the target
                link.backlog.extend(remaining)
            elif remaining <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return False
        return True

    async def settle(self, quiet: float) -> None:
        """Read until the target has been silent for ``quiet`` seconds (or closed), and the
        emulated link, if any, holds nothing more (harness.timing)."""
        link = link_timing.current()
        cap = time.monotonic() + 5 * quiet + link_timing.TRANSFER_MARGIN * link.backlog.pending_s()
        while not self.closed:
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), quiet + link.backlog.pending_s())
            except TimeoutError:
                if not link.backlog.busy() or time.monotonic() > cap:
                    return
                link.backlog.extend(quiet)

    def send(self, raw: RawMessage) -> None:
        payload = raw.payload
        msid = self.msid_map.get(raw.msid, raw.msid)
        if raw.type_id in (17, 20):
            payload = self._rewrite_command(raw)
        elif raw.type_id == 4:
            payload = self._rewrite_user_control(payload)
        # As recorded: type id and payload bytes, never re-interpreted (an UnknownMessage), into
        # the connection's one buffer, so acks and ping responses keep their place.
        if self.conn.handshake.done:
            self.conn.send(UnknownMessage(raw.type_id, payload), msid=msid, timestamp=raw.timestamp, csid=raw.csid)
        else:
            # The target has not finished its handshake (a gate timed out): send() refuses (HS-4),
            # but a replay writes what the capture wrote, so encode it on the same writer.
            self.conn.send_raw(self.conn.writer.encode(raw.csid, raw.type_id, msid, raw.timestamp, payload))
        self._write(self.conn.data_to_send())
        if raw.type_id == 1 and len(payload) >= 4:
            # §5.4.1: our own Set Chunk Size governs every chunk we write after it.
            self.conn.writer.set_chunk_size(max(1, int.from_bytes(payload[:4], "big") & 0x7FFFFFFF))

    def _rewrite_command(self, raw: RawMessage) -> bytes:
        from rtmpconf.rtmp.messages import decode_message

        try:
            cmd = decode_message(raw.type_id, raw.payload)
        except ProtocolError:
            return bytes(raw.payload)  # replay what does not decode as it was
        if not isinstance(cmd, Command):
            return bytes(raw.payload)
        if cmd.name == "createStream":
            self._sent_create[cmd.transaction_id] = True
        cmd = self.rewriter.command(cmd)
        if cmd.name in ("deleteStream", "closeStream") and cmd.arguments:
            a = cmd.arguments[0]
            if isinstance(a, (int, float)) and not isinstance(a, bool) and int(a) in self.msid_map:
                cmd = Command(cmd.name, cmd.transaction_id, cmd.command_object,
                              (float(self.msid_map[int(a)]),) + tuple(cmd.arguments[1:]), cmd.amf3)
        _, payload = encode_message(cmd)
        return payload

    def _rewrite_user_control(self, payload: bytes) -> bytes:
        # SetBufferLength and friends name a stream id: map it like the msid.
        if len(payload) >= 6:
            sid = int.from_bytes(payload[2:6], "big")
            if sid in self.msid_map:
                return payload[:2] + self.msid_map[sid].to_bytes(4, "big") + payload[6:]
        return bytes(payload)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing anyway
                pass
        if self.writer is not None:
            if not self.closed:
                self.log.mark_closed(C2S, time.monotonic())
            try:
                self.writer.close()
                await asyncio.wait_for(self.writer.wait_closed(), 1.0)
            except (TimeoutError, OSError):
                pass
        self.closed = True


def _handshake_like(c0c1: bytes) -> ClientHandshake:
    """A fresh client handshake of the recorded flavour: same C0, simple or digest (same scheme)."""
    version = c0c1[0] if c0c1 else 3
    c1 = c0c1[1:]
    if len(c1) == HANDSHAKE_SIZE:
        scheme = find_digest_scheme(c1, CLIENT_KEY_PARTIAL)
        if scheme is not None:
            flash = bytes(c1[4:8]) if any(c1[4:8]) else b"\x09\x00\x7c\x02"
            return ClientHandshake(mode=HandshakeMode.DIGEST, scheme=scheme, version=version, flash_version=flash)
    return ClientHandshake(version=version)


def _recorded_stream_ids(log: WireLog) -> dict[float, int]:
    """createStream transaction id -> the stream id the recorded server returned."""
    tids = {m.message.transaction_id for m in log.decode(C2S).messages
            if isinstance(m.message, Command) and m.message.name == "createStream"}
    out: dict[float, int] = {}
    for m in log.decode(S2C).messages:
        c = m.message
        if isinstance(c, Command) and c.name == "_result" and c.transaction_id in tids:
            sid = next((int(a) for a in c.arguments if isinstance(a, (int, float)) and not isinstance(a, bool)), None)
            if sid is not None:
                out[c.transaction_id] = sid
    return out


# -- the whole capture -----------------------------------------------------------------------


@dataclass
class SessionReplay:
    """One session: recorded, replayed, compared."""

    session: RtmpSession
    log: WireLog
    diff: SessionDiff
    gate_timeouts: list[str]
    error: str | None


@dataclass
class ReplayResult:
    target: Target
    speed: str
    sessions: list[SessionReplay]
    seconds: float

    @property
    def diverged(self) -> bool:
        return any(s.diff.diverged for s in self.sessions)


async def replay_capture(found: CaptureSessions, target: Target, *, speed: float | None = None,
                         only: int | None = None, timeout: float = GATE_TIMEOUT_S,
                         name_prefix: str = "", rule: str = "CMD-4",
                         idle_timeout: float | None = None) -> ReplayResult:
    """Replay every (or only the ``only``-th) RTMP session of ``found`` against ``target``.

    ``timeout`` and the soft/settle windows are a direct link's; the current Timing (an impaired
    link, --time-scale: harness.timing) stretches them. ``idle_timeout``: the target's known idle
    limit (a stretched replay may outlast it; see ``diff_sessions``)."""
    link = link_timing.current()
    timeout = link.deadline(timeout)
    t_start = time.monotonic()
    steps = build_steps(found, only)
    rewriter = Rewriter(target, name_prefix)
    conns: dict[int, ReplayConnection] = {}
    timeouts: dict[int, list[str]] = {}
    t0_orig = steps[0].time if steps else 0.0
    try:
        for step in steps:
            if speed:
                delay = t_start + (step.time - t0_orig) / speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await _run_step(step, found, target, rewriter, conns, timeouts, timeout, speed)
    finally:
        for rc in conns.values():
            await rc.close()
    results = []
    for s in found.sessions:
        rc = conns.get(s.index)
        if rc is None:
            continue
        d = diff_sessions(s.log, rc.log, rule=rule, idle_timeout=idle_timeout)
        for t in timeouts.get(s.index, []):
            d.lines.append(f"  ! gave up waiting ({t})")
        from rtmpconf.harness.verdict import Verdict, failed
        if rc.error:
            d.findings.append(failed(rule, f"replay could not complete: {rc.error}", verdict=Verdict.ERROR,
                                     expected="a session like the recorded one", actual=rc.error))
        if rc.target_fault and rc.log.decode(S2C).error is None:
            # Undecodable bytes are already a finding of the diff; a flood is not.
            d.findings.append(failed(rule, f"the replay stopped: {rc.target_fault}",
                                     expected="a session like the recorded one", actual=rc.target_fault))
        results.append(SessionReplay(s, rc.log, d, timeouts.get(s.index, []), rc.error or rc.target_fault))
    return ReplayResult(target, "max" if not speed else f"{speed:g}", results, time.monotonic() - t_start)


async def _run_step(step: Step, found: CaptureSessions, target: Target, rewriter: Rewriter,
                    conns: dict[int, ReplayConnection], timeouts: dict[int, list[str]], timeout: float,
                    speed: float | None) -> None:
    session = found.sessions[step.session]
    if step.kind == "open":
        rc = ReplayConnection(session, target, rewriter, timeout)
        conns[step.session] = rc
        await rc.open()
        return
    rc = conns[step.session]
    if rc.closed and step.kind == "send":
        return
    link = link_timing.current()
    if not await rc.wait_gate(step.gate, timeout, link.quiet(SOFT_GATE_S)):
        if not rc.closed:
            what = "the handshake" if not rc.handshake_done else step.gate.describe()
            where = f"before {_describe_raw(step.raw)}" if step.raw else "before closing"
            timeouts.setdefault(step.session, []).append(f"{what} {where}: nothing within {timeout:g} s")
    if step.kind == "send" and step.raw is not None:
        rc.send(step.raw)
        if rc.writer is not None and not rc.closed:
            try:
                await asyncio.wait_for(rc.writer.drain(), timeout)
            except (ConnectionError, OSError):
                rc._mark_closed(reset=True)
            except TimeoutError:
                timeouts.setdefault(step.session, []).append("target stopped reading")
    elif step.kind == "close":
        await rc.settle(link.quiet(SETTLE_S if not speed else min(1.0, SETTLE_S * 2)))
        await rc.close()


def _describe_raw(raw: RawMessage) -> str:
    if raw.type_id in (17, 20):
        try:
            from rtmpconf.rtmp.messages import decode_message

            c = decode_message(raw.type_id, raw.payload)
            if isinstance(c, Command):
                return f"{c.name}({c.transaction_id:g})"
        except ProtocolError:
            pass
    return f"type {raw.type_id} message (ts {raw.timestamp})"


def replay_json(result: ReplayResult) -> dict[str, Any]:
    from rtmpconf.harness.capture.diff import diff_json

    return {
        "target": result.target.tc_url,
        "speed": result.speed,
        "seconds": round(result.seconds, 3),
        "diverged": result.diverged,
        "sessions": [{
            "index": s.session.index,
            "client": s.session.client,
            "server": s.session.server,
            "gate_timeouts": s.gate_timeouts,
            "error": s.error,
            **diff_json(s.diff),
        } for s in result.sessions],
    }


def render_replay(result: ReplayResult) -> str:
    from rtmpconf.harness.capture.diff import render_diff

    lines = [f"replayed {len(result.sessions)} session(s) against {result.target.tc_url} at speed {result.speed} "
             f"in {result.seconds:.2f} s: {'DIVERGED' if result.diverged else 'same behaviour'}"]
    for s in result.sessions:
        lines.append(render_diff(s.diff, title=f"session #{s.session.index} (recorded {s.session.client} -> "
                                 f"{s.session.server})"))
    return "\n".join(lines)
