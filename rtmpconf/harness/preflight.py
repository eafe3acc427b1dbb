"""Preflight and capability probe: what the target is, before the first case runs.

A wrong target must be caught in seconds, with one line saying what was found, never as a run of
hundreds of server FAILs: ``preflight`` connects, sends C0+C1 and looks at the first bytes (nothing,
a close, HTTP, TLS, a malformed S0/S1/S2), then completes a handshake and connects to the app.
``probe_roles`` then finds whether the target serves publish, play or both (ingest-only endpoints
and play-only edges are common), so cases needing a role it lacks are decided at once.
"""

from __future__ import annotations

import asyncio
import enum
import os
import secrets
from dataclasses import dataclass, field
from typing import Any

from rtmpconf.harness.client import PeerClosed, RtmpClient, StepTimeout, Target
from rtmpconf.harness.wirelog import WireLog
from rtmpconf.rtmp.errors import ProtocolError

#: Each preflight step's deadline before the time scale (s): long enough for a slow remote link,
#: short enough that four wrong kinds of target each end a run within 30 s.
STEP_S = 5.0
#: Bytes a server answers C0+C1 with: S0 + S1 + S2 (§5.2).
S0S1S2 = 1 + 1536 + 1536


class Outcome(enum.Enum):
    OK = "ok"
    UNREACHABLE = "unreachable"  #: nothing accepts TCP there
    NOT_RTMP = "not-rtmp"  #: accepts TCP, then silence, a close, HTTP, TLS ...
    HANDSHAKE_BROKEN = "handshake-broken"  #: answers, but S0/S1/S2 are malformed: only HS cases can judge it
    CONNECT_REFUSED = "connect-refused"  #: RTMP, but connect to the app got _error or a close


class Role(enum.Enum):
    """What a target serves."""

    PUBLISH = "publish"
    PLAY = "play"


ROLE_SETS = {"full": frozenset(Role), "ingest": frozenset({Role.PUBLISH}), "edge": frozenset({Role.PLAY})}


@dataclass
class PreflightResult:
    outcome: Outcome
    line: str  #: one line for the user: what was found
    seconds: float = 0.0
    server: dict[str, Any] = field(default_factory=dict)  #: fmsVer, capabilities, mode from connect _result
    logs: list[WireLog] = field(default_factory=list)


@dataclass
class RoleProbe:
    roles: frozenset[Role]
    reasons: dict[str, str]  #: role -> what the probe saw
    seconds: float = 0.0
    declared: bool = False  #: from --role, not probed

    def describe(self) -> str:
        names = "+".join(sorted(r.value for r in self.roles)) or "nothing"
        how = "declared with --role" if self.declared else "capability probe"
        return f"{names} ({how})"


def _sniff(first: bytes, closed: bool) -> tuple[Outcome, str] | None:
    """Classify the first bytes a target sent after C0+C1; None = looks like S0S1S2."""
    if not first:
        if closed:
            return Outcome.NOT_RTMP, "closed the connection after C0+C1 without answering (not an RTMP server?)"
        return Outcome.NOT_RTMP, "accepts TCP but sent nothing after C0+C1 (not an RTMP server, or a stalled one)"
    if first[:5] in (b"HTTP/", b"<!DOC", b"<html") or first[:4] == b"HTTP":
        status = first.split(b"\r\n", 1)[0][:60].decode("latin-1", "replace")
        return Outcome.NOT_RTMP, f"answers HTTP, not RTMP ({status!r}): is this an HTTP port?"
    if first[0] in (0x15, 0x16) and len(first) > 1 and first[1] == 0x03:
        return Outcome.NOT_RTMP, "answers with TLS records: an RTMPS (rtmps://) or other TLS server"
    if first[0] != 3:
        return (Outcome.HANDSHAKE_BROKEN,
                f"S0 is 0x{first[0]:02x}, not 3 (§5.2.2): the handshake is malformed")
    if len(first) < S0S1S2:
        how = "closed" if closed else "stopped"
        return (Outcome.HANDSHAKE_BROKEN,
                f"S0S1S2 incomplete: {len(first)} of {S0S1S2} bytes, then the target {how} (§5.2)")
    return None


async def _first_bytes(target: Target, deadline: float) -> tuple[bytes, bool, WireLog]:
    """C0 + C1 on a fresh connection; whatever arrives within ``deadline`` (and whether it closed)."""
    client = RtmpClient(target, timeout=deadline, label="preflight: first bytes")
    await client.open()
    assert client.writer is not None and client.reader is not None
    c1 = bytes(8) + secrets.token_bytes(1528)
    client.writer.write(b"\x03" + c1)
    data = bytearray()
    closed = False
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    try:
        while len(data) < S0S1S2:
            left = end - loop.time()
            if left <= 0:
                break
            try:
                chunk = await asyncio.wait_for(client.reader.read(S0S1S2 - len(data)), left)
            except asyncio.TimeoutError:
                break
            if not chunk:
                closed = True
                break
            data += chunk
            if len(data) >= 5 and (data[:4] == b"HTTP" or data[0] in (0x15, 0x16)):
                break
    except (ConnectionResetError, BrokenPipeError):
        closed = True
    finally:
        await client.close()
    return bytes(data), closed, client.log


async def _speaks_tls(target: Target, deadline: float) -> bool:
    """Does a TLS handshake (certificate not checked) succeed on the target's port?"""
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(target.host, target.port, ssl=ctx),
                                           min(deadline, 3.0))
    except (OSError, asyncio.TimeoutError, ssl.SSLError):
        return False
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 1.0)
    except (OSError, asyncio.TimeoutError, ssl.SSLError):
        pass
    return True


async def preflight(target: Target, *, scale: float = 1.0) -> PreflightResult:
    """Is ``target`` an RTMP server that accepts connect to its app? Bounded: a few steps of
    ``STEP_S * scale`` seconds each."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    step = STEP_S * scale
    where = f"{target.url_host}:{target.port}"

    def done(outcome: Outcome, line: str, **kw: Any) -> PreflightResult:
        return PreflightResult(outcome, line, round(loop.time() - t0, 2), **kw)

    try:
        first, closed, log = await _first_bytes(target, step)
    except StepTimeout:
        return done(Outcome.UNREACHABLE, f"nothing answered a TCP connect to {where} within {step:g} s")
    except ConnectionRefusedError:
        return done(Outcome.UNREACHABLE, f"nothing listens on {where} (connection refused)")
    except OSError as exc:
        return done(Outcome.UNREACHABLE, f"cannot connect to {where}: {exc.strerror or exc}")
    sniffed = _sniff(first, closed)
    if sniffed is not None and not first and target.scheme == "rtmp" and await _speaks_tls(target, step):
        # Many TLS servers close on a non-TLS first byte without an alert: ask them in TLS.
        sniffed = (Outcome.NOT_RTMP, "completes a TLS handshake: an RTMPS server? (use rtmps://)")
    if sniffed is not None:
        return done(sniffed[0], f"{where} {sniffed[1]}", logs=[log])
    client = RtmpClient(target, timeout=step, label="preflight: connect")
    try:
        async with client:
            await client.handshake()
            reply = await client.connect()
    except StepTimeout as exc:
        return done(Outcome.CONNECT_REFUSED, f"{where} completed the handshake but {exc}", logs=[log, client.log])
    except PeerClosed:
        return done(Outcome.CONNECT_REFUSED,
                    f"{where} closed the connection after connect to app {target.app_with_query!r} "
                    "(unknown app? authentication?)", logs=[log, client.log])
    except (ProtocolError, OSError) as exc:
        return done(Outcome.HANDSHAKE_BROKEN, f"{where}: {exc}", logs=[log, client.log])
    props = reply.command_object if isinstance(reply.command_object, dict) else {}
    info = reply.arguments[0] if reply.arguments and isinstance(reply.arguments[0], dict) else {}
    server = {k: props[k] for k in ("fmsVer", "capabilities", "mode") if k in props}
    server.update({f"connect.{k}": info[k] for k in ("code", "objectEncoding") if k in info})
    for key in ("fourCcList", "videoFourCcInfoMap", "audioFourCcInfoMap", "capsEx"):
        if key in info or key in props:
            server[key] = info.get(key, props.get(key))
    if reply.name != "_result":
        desc = info.get("description") or info.get("code") or "no description"
        return done(Outcome.CONNECT_REFUSED, f"{where} refused connect to app {target.app_with_query!r}: "
                    f"{reply.name} {desc}", server=server, logs=[log, client.log])
    return done(Outcome.OK, f"{where} speaks RTMP ({server.get('fmsVer', 'no fmsVer')})", server=server,
                logs=[log, client.log])


async def probe_roles(target: Target, *, scale: float = 1.0) -> RoleProbe:
    """Publish a short stream, play it from a second connection: which of the two does the target
    serve? A refusal, a close or silence within the deadline counts as 'not served'."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    step = STEP_S * scale
    name = f"rtmpconf-preflight-{os.getpid()}-{secrets.token_hex(3)}"
    roles: set[Role] = set()
    reasons: dict[str, str] = {}
    pub = RtmpClient(target, timeout=step, label="preflight: publish")
    player = RtmpClient(target, timeout=step, label="preflight: play")
    try:
        async with pub:
            await pub.handshake()
            await pub.connect()
            try:
                status = await pub.publish(name, any_status=True)
                code = str(status.get("code", ""))
                if code == "NetStream.Publish.Start":
                    roles.add(Role.PUBLISH)
                reasons["publish"] = f"publish answered {code or 'without a code'}"
            except (StepTimeout, PeerClosed, ProtocolError) as exc:
                reasons["publish"] = f"publish: {exc}"
            try:
                async with player:
                    await player.handshake()
                    await player.connect()
                    status = await player.play(name, any_status=True)
                    code = str(status.get("code", ""))
                    # StreamNotFound still shows a server that plays (nothing is there yet).
                    if code in ("NetStream.Play.Start", "NetStream.Play.StreamNotFound", "NetStream.Play.Reset"):
                        roles.add(Role.PLAY)
                    reasons["play"] = f"play answered {code or 'without a code'}"
            except (StepTimeout, PeerClosed, ProtocolError, OSError) as exc:
                reasons["play"] = f"play: {exc}"
    except (StepTimeout, PeerClosed, ProtocolError, OSError) as exc:
        reasons.setdefault("publish", f"publish: {exc}")
        reasons.setdefault("play", "not probed: the publishing connection failed")
    return RoleProbe(frozenset(roles), reasons, round(loop.time() - t0, 2))
