"""AUTH checkers: refusals the client can see, credentials honoured, nothing leaks past a refusal.

Pure functions of what a case observed: wire logs (the server's replies and whether it closed),
the onStatus of a publish, and what a watching player received.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rtmpconf.harness.checks.relay import player_media
from rtmpconf.harness.verdict import Finding, failed, info, not_run, passed
from rtmpconf.harness.wirelog import S2C, WireLog
from rtmpconf.rtmp.messages import Command

START = "NetStream.Publish.Start"


def replies(log: WireLog) -> list[dict[str, Any]]:
    """Every onStatus and _error info object the server sent, in order (``name`` added)."""
    out: list[dict[str, Any]] = []
    for m in log.decode(S2C).messages:
        msg = m.message
        if not isinstance(msg, Command) or msg.name not in ("onStatus", "_error"):
            continue
        for cand in (*msg.arguments, msg.command_object):
            if isinstance(cand, dict) and "code" in cand:
                out.append({**cand, "name": msg.name})
                break
    return out


def _short(st: dict[str, Any]) -> str:
    desc = str(st.get("description", ""))
    return f"{st.get('name')} {st.get('code')} (level {st.get('level')}{', ' + desc[:80] if desc else ''})"


def check_refusal_visible(log: WireLog, *, rule: str = "AUTH-1", what: str = "publish") -> list[Finding]:
    """A refused ``what`` must be answered with an onStatus/_error of level ``error`` before the close.

    ``log`` is the refused client's connection, which sent the request with a bad credential.
    An accepted request is not a refusal: NOT-RUN here (AUTH-2 judges the acceptance).
    """
    got = replies(log)
    accepted = [s for s in got if s.get("code") in (START, "NetStream.Play.Start")]
    errors = [s for s in got if s.get("level") == "error"]
    closed = log.closed_by == S2C
    if accepted and not errors:
        if closed:
            return [failed(rule, f"the target answered {accepted[0].get('code')} and then closed the connection: "
                           f"the client is told the {what} started and never why it ended",
                           expected="onStatus or _error with level error before the close",
                           actual=f"{_short(accepted[0])}, then a close", reset=log.reset)]
        return [not_run(rule, f"the target accepted the {what} ({_short(accepted[0])}): there was no refusal to judge")]
    if errors:
        first = errors[0]
        if not first.get("code"):
            return [failed(rule, f"the refusal of the {what} carries no code", expected="a code and a description",
                           actual=_short(first))]
        note = "then closed the connection" if closed else "and kept the connection open"
        return [passed(rule, f"{what} refused with {_short(first)}, {note}")]
    others = [s for s in got if s.get("code") not in (START,)]
    if closed:
        return [failed(rule, f"the target closed the connection without telling the client why its {what} was refused",
                       expected="onStatus or _error with level error before the close",
                       actual="close" + (f" after {_short(others[-1])}" if others else " with no status"),
                       reset=log.reset)]
    return [failed(rule, f"the target neither accepted nor refused the {what}",
                   expected="onStatus with level error", actual=", ".join(_short(s) for s in others) or "no reply")]


def check_refused_publish_not_relayed(pub_log: WireLog, player_log: WireLog | None,
                                      markers: Sequence[bytes], *, rule: str = "AUTH-2") -> list[Finding]:
    """A publish with a bad credential must never start: no Publish.Start, and none of the media it
    sent (``markers``, payloads unique to this case) reaches a player of the same name."""
    out: list[Finding] = []
    started = [s for s in replies(pub_log) if s.get("code") == START]
    if started:
        out.append(failed(rule, "a publish with a wrong credential was accepted",
                          expected="a refusal", actual=_short(started[0])))
    if player_log is not None:
        leaked = [m for m in player_media(player_log) if bytes(m.raw.payload) in markers]
        if leaked:
            out.append(failed(rule, f"{len(leaked)} media message(s) of the refused publisher reached a player",
                              expected="no media", actual=f"{len(leaked)} messages, first at index {leaked[0].index}"))
    if not out:
        out.append(passed(rule, "the publish with a wrong credential was not started and nothing it sent was relayed"))
    return out


def check_credential_honoured(pub_log: WireLog, player_log: WireLog | None, markers: Sequence[bytes], *,
                              where: str, rule: str) -> list[Finding]:
    """A publish with a valid credential (in the stream name's or the app's query) must start, and a
    player of the plain name must receive its media."""
    got = replies(pub_log)
    started = [s for s in got if s.get("code") == START]
    if not started:
        refusal = next((s for s in got if s.get("level") == "error"), None)
        return [failed(rule, f"a publish with a valid credential in {where} was refused",
                       expected=START, actual=_short(refusal) if refusal else
                       ("close" if pub_log.closed_by == S2C else "no reply"))]
    if pub_log.closed_by == S2C:
        return [failed(rule, f"a publish with a valid credential in {where} got {START}, then the server closed "
                       "the connection", expected="the publish stays up", actual=f"{_short(started[0])}, then a close")]
    if player_log is None:
        return [passed(rule, f"a valid credential in {where} was accepted")]
    seen = {bytes(m.raw.payload) for m in player_media(player_log)}
    missing = [m for m in markers if m not in seen]
    if missing:
        return [failed(rule, f"publish with a credential in {where} started, but a player of the name without "
                       "the query did not receive its media: the query became part of the name?",
                       expected=f"{len(markers)} published frames", actual=f"{len(markers) - len(missing)} received")]
    return [passed(rule, f"a valid credential in {where} was accepted and the stream plays under its plain name")]


def check_name_not_reserved(refused_log: WireLog, republish_status: dict[str, Any] | None, *,
                            rule: str = "AUTH-4") -> list[Finding]:
    """After a refused publish of a name, a publish of that name with a valid credential starts."""
    if any(s.get("code") == START for s in replies(refused_log)) and refused_log.closed_by != S2C:
        return [not_run(rule, "the first publish was accepted, so no refused publisher could hold the name")]
    if republish_status is None:
        return [failed(rule, "the publish with a valid credential after the refusal got no answer",
                       expected=START, actual="no reply or a close")]
    if republish_status.get("code") != START:
        return [failed(rule, "the name stayed reserved by the refused publisher", expected=START,
                       actual=f"{republish_status.get('code')} ({republish_status.get('description', '')})")]
    return [passed(rule, "the name was free for a valid publisher right after the refusal")]


@dataclass(frozen=True, slots=True)
class ConnectAttempt:
    """One connect of the Adobe authmod exchange and the server's answer."""

    app: str  #: the app field sent (with its query)
    reply: str  #: "_result", "_error" or "" (no reply before the close / deadline)
    code: str = ""
    level: str = ""
    description: str = ""


def check_adobe_authmod(attempts: Sequence[ConnectAttempt], *, rule: str = "AUTH-5") -> list[Finding]:
    """The Adobe authmod exchange as FFmpeg (libavformat/rtmpproto.c), librtmp and GStreamer drive it:
    [0] no credentials, [1] ``authmod=adobe&user=U``, [2] the correct response, [3] a wrong one."""
    want = ("no credentials", "authmod=adobe&user", "the correct response", "a wrong password")
    if len(attempts) < 4:
        return [failed(rule, "the exchange did not get as far as four connects", actual=str(len(attempts)))]
    out: list[Finding] = []
    first, second, third, fourth = attempts[:4]
    if first.reply != "_error" or "authmod=adobe" not in first.description or "code=403 need auth" not in first.description:
        out.append(failed(rule, "a connect without credentials must be answered with _error naming authmod=adobe "
                          "and 'code=403 need auth' (what clients look for to start the exchange)",
                          expected="_error ... code=403 need auth; authmod=adobe",
                          actual=f"{first.reply or 'no reply'} {first.description[:120]}"))
    if second.reply != "_error" or "reason=needauth" not in second.description or "salt=" not in second.description \
            or "challenge=" not in second.description:
        out.append(failed(rule, "a connect with authmod=adobe&user=U must get the challenge "
                          "(?reason=needauth&user=U&salt=S&challenge=C[&opaque=O])",
                          actual=f"{second.reply or 'no reply'} {second.description[:160]}"))
    if third.reply != "_result":
        out.append(failed(rule, "the correct response to the challenge was not accepted", expected="_result",
                          actual=f"{third.reply or 'no reply'} {third.description[:160]}"))
    if fourth.reply == "_result":
        out.append(failed(rule, "a wrong password was accepted", expected="_error ?reason=authfailed",
                          actual="_result"))
    elif "authfailed" not in fourth.description:
        out.append(info(rule, f"a wrong password was refused without '?reason=authfailed' "
                        f"({fourth.reply or 'no reply'} {fourth.description[:100]}); clients then report an unknown error"))
    if not out:
        out.append(passed(rule, "; ".join(f"{w}: {a.reply} {a.description[:60]}" for w, a in zip(want, attempts))))
    elif all(f.verdict.value == "INFORMATIONAL" for f in out):
        out.insert(0, passed(rule, "challenge, response and refusal of a wrong password as clients expect"))
    return out
