"""Checkers for the impairment cases: verdicts that must not depend on the network, publish->play
latency, and the slow consumer (GOP-8). Pure functions of wire logs and measured figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rtmpconf.harness.checks.timestamps import SentLike, match_relayed
from rtmpconf.harness.verdict import Finding, Verdict, failed, info, not_run, passed, worst
from rtmpconf.harness.wirelog import C2S, S2C, WireLog
from rtmpconf.rtmp import media

# -- same verdicts under every profile ----------------------------------------------------------


def compare_verdicts(direct: Mapping[str, Sequence[Finding]], impaired: Mapping[str, Sequence[Finding]], *,
                     rule: str, profile: str) -> list[Finding]:
    """One finding per check group: its verdict under ``profile`` against the direct run.

    A server must not depend on TCP segment boundaries or timing: a group that does worse through
    the impaired path than directly, down to NON-STRICT or FAIL, is that verdict (the group's own
    findings say what broke). Other differences (INFORMATIONAL notes, or a group doing *better*
    impaired: a flaky target) are recorded.
    """
    out: list[Finding] = []
    for group, imp_findings in impaired.items():
        v_imp = worst(imp_findings)
        d = direct.get(group)
        if d is None:
            out.append(failed(rule, f"{group}: no direct run to compare with", verdict=Verdict.ERROR))
            continue
        v_dir = worst(d)
        if v_imp.rank > v_dir.rank and v_imp.rank >= Verdict.NON_STRICT.rank:
            bad = next((f for f in imp_findings if f.verdict is v_imp), None)
            out.append(failed(rule, f"{group}: the verdict depends on the network: {v_dir.value} directly, "
                              f"{v_imp.value} under {profile}" + (f" ({bad.message})" if bad else ""),
                              expected=f"{v_dir.value} (as on a direct connection)", actual=v_imp.value,
                              verdict=Verdict.NON_STRICT if v_imp is Verdict.NON_STRICT else Verdict.FAIL))
        elif v_imp is not v_dir:
            out.append(info(rule, f"{group}: {v_dir.value} directly, {v_imp.value} under {profile}"
                            + (" (the direct run did worse: is the target flaky?)" if v_imp.rank < v_dir.rank
                               else "")))
        else:
            out.append(passed(rule, f"{group}: {v_imp.value} both directly and under {profile}"))
    return out


# -- publish -> play latency ----------------------------------------------------------------------


def frame_latencies(publisher: WireLog, player: WireLog, types: tuple[int, ...] = (8, 9)) -> list[float]:
    """Per relayed A/V message: player receive time - publisher send time, in ms.

    Messages are matched by payload (the publisher's c2s messages against the player's s2c
    ones), so both logs must come from clients in one process (one monotonic clock).
    """
    sent_at: dict[bytes, float] = {}
    for m in publisher.decode(C2S).messages:
        if m.raw.type_id in types:
            sent_at.setdefault(bytes(m.raw.payload), m.time)
    out = []
    for m in player.decode(S2C).messages:
        if m.raw.type_id not in types:
            continue
        t = sent_at.get(bytes(m.raw.payload))
        if t is not None:
            out.append((m.time - t) * 1000.0)
    return out


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: a reported p99 is a latency that happened)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = max(0, math.ceil(pct / 100.0 * len(ordered)) - 1)
    return ordered[k]


@dataclass(frozen=True)
class LatencySummary:
    count: int
    p50: float
    p99: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> LatencySummary:
        return cls(len(samples), percentile(samples, 50), percentile(samples, 99), max(samples, default=math.nan))

    def text(self) -> str:
        return f"p50 {self.p50:.1f} ms, p99 {self.p99:.1f} ms, max {self.max:.1f} ms over {self.count} frames"


def check_latency(samples: Sequence[float], baseline: Sequence[float], *, rule: str, profile: str,
                  expected_added_ms: float, sent: int, slack_ms: float = 500.0) -> list[Finding]:
    """Publish->play latency under ``profile`` (INFORMATIONAL p50/p99), judged on two things a
    server controls: every frame arrives, and the server adds no buffering of its own (the median
    stays within the network's own added delay + ``slack_ms``; NON-STRICT otherwise)."""
    if not samples:
        return [failed(rule, f"no published frame reached the player under {profile}",
                       expected=f"{sent} frames", actual="none")]
    imp = LatencySummary.of(samples)
    out = []
    base = LatencySummary.of(baseline) if baseline else None
    added = imp.p50 - (base.p50 if base else 0.0)
    out.append(info(rule, f"publish->play latency under {profile}: {imp.text()}"
                    + (f"; direct: {base.text()}; added p50 {added:.1f} ms, added p99 "
                       f"{imp.p99 - base.p99:.1f} ms" if base else ""),
                    p50_ms=round(imp.p50, 2), p99_ms=round(imp.p99, 2), max_ms=round(imp.max, 2),
                    added_p50_ms=round(added, 2), added_p99_ms=round(imp.p99 - base.p99, 2) if base else None,
                    direct_p50_ms=round(base.p50, 2) if base else None,
                    direct_p99_ms=round(base.p99, 2) if base else None, frames=imp.count))
    if imp.count < sent:
        out.append(failed(rule, f"{sent - imp.count} of {sent} published frames never reached the player "
                          f"under {profile}", expected=f"{sent} frames", actual=f"{imp.count}",
                          verdict=Verdict.NON_STRICT))
    else:
        out.append(passed(rule, f"all {sent} frames relayed under {profile}"))
    if added > expected_added_ms + slack_ms:
        out.append(failed(rule, f"the median latency grew {added:.0f} ms under {profile}, more than the "
                          f"network adds ({expected_added_ms:.0f} ms): the server buffers",
                          expected=f"<= {expected_added_ms + slack_ms:.0f} ms", actual=f"{added:.0f} ms",
                          verdict=Verdict.NON_STRICT))
    else:
        out.append(passed(rule, f"added median latency {added:.0f} ms is the network's own "
                          f"(<= {expected_added_ms:.0f} + {slack_ms:.0f} ms)"))
    return out


# -- slow consumer (GOP-8) ------------------------------------------------------------------------


@dataclass(frozen=True)
class SlowConsumerFigures:
    """What a slow-consumer scenario measured besides the wire logs."""

    slow_seconds: float  #: media time published while the player's link was slow
    publish_lag_s: float  #: how far the realtime publisher fell behind its schedule (worst)
    publisher_probe_ok: bool  #: the publisher's ping was answered right after the slow phase
    rss_growth_mib: float | None  #: server RSS peak - idle baseline (None: not measurable)
    recover_from: int  #: index into sent of the first message published after the link recovered
    backlog_bytes: int  #: media bytes published during the slow phase beyond what the link carried


def check_slow_consumer(player: WireLog, sent: Sequence[SentLike], figures: SlowConsumerFigures, *,
                        rule: str = "GOP-8", rss_limit_mib: float = 32.0, lag_limit_s: float = 1.0,
                        must_drop_after_bytes: int = 64 << 20) -> list[Finding]:
    """GOP-8 for a player on a link slower than the stream.

    PASS needs: the publisher kept its schedule; server memory stayed under ``rss_limit_mib``;
    frames the server dropped were dropped up to a keyframe (the player resumes on a keyframe);
    after the link recovered the player got the frames published from then on. A disconnect is a
    legal way to bound memory (INFORMATIONAL). Not dropping at all while the backlog fits a
    bounded queue and the TCP buffers means the server never had to choose: NOT-RUN (the rest is
    still reported); past ``must_drop_after_bytes`` (no buffer explains it) it is NON-STRICT.
    Violations of a convention are NON-STRICT; corrupted frames are FAIL.
    """
    ns = Verdict.NON_STRICT
    out: list[Finding] = []
    if figures.publish_lag_s > lag_limit_s or not figures.publisher_probe_ok:
        out.append(failed(rule, "the publisher was slowed down by a slow player",
                          expected=f"publisher on schedule (lag <= {lag_limit_s:g} s)",
                          actual=f"lag {figures.publish_lag_s:.2f} s"
                          + ("" if figures.publisher_probe_ok else ", publisher's ping unanswered"), verdict=ns))
    else:
        out.append(passed(rule, f"publisher kept its schedule (worst lag {figures.publish_lag_s * 1000:.0f} ms)"))
    if figures.rss_growth_mib is None:
        out.append(info(rule, "server memory not measured (the target is not a local process)"))
    elif figures.rss_growth_mib > rss_limit_mib:
        out.append(failed(rule, f"server memory grew {figures.rss_growth_mib:.1f} MiB for one slow player",
                          expected=f"< {rss_limit_mib:g} MiB (bounded queue)",
                          actual=f"{figures.rss_growth_mib:.1f} MiB", verdict=ns,
                          rss_growth_mib=round(figures.rss_growth_mib, 2)))
    else:
        out.append(passed(rule, f"server memory grew {figures.rss_growth_mib:.1f} MiB (< {rss_limit_mib:g} MiB)",
                          rss_growth_mib=round(figures.rss_growth_mib, 2)))
    match = match_relayed(player, sent, types=(9,))
    if match.unknown:
        m = match.unknown[0]
        out.append(failed(rule, "corrupted video reached the slow player", expected="byte-identical frames",
                          actual=f"message #{m.index}", message_index=m.index))
    got = {i for i, _ in match.pairs}
    video = [i for i, s in enumerate(sent) if s.type_id == 9 and not media.is_video_sequence_header(s.payload)]
    first_got = next((k for k, i in enumerate(video) if i in got), None)
    lost = [i for k, i in enumerate(video) if i not in got and first_got is not None and k > first_got]
    disconnected = player.closed_by == S2C
    if disconnected:
        out.append(info(rule, "the server disconnected the slow player (a legal way to bound memory)"))
    if lost:
        resumed = [i for k, i in enumerate(video) if k > 0 and i in got and video[k - 1] not in got]
        bad = [i for i in resumed if not media.is_video_keyframe(sent[i].payload)]
        if bad:
            out.append(failed(rule, "after dropping, the slow player resumed on a frame that is not a keyframe",
                              expected="drop to the next keyframe", actual=f"sent #{bad[0]} FrameType "
                              f"{sent[bad[0]].payload[0] >> 4}", verdict=ns))
        else:
            out.append(passed(rule, f"{len(lost)} video frames dropped for the slow player, resuming at "
                              f"{len(resumed)} keyframe(s)", dropped=len(lost)))
    elif not disconnected:
        text = (f"no frame dropped: the {figures.backlog_bytes / 1e6:.1f} MB backlog fitted in the server's "
                "queue and the TCP buffers")
        if figures.backlog_bytes > must_drop_after_bytes:
            out.append(failed(rule, text + " (more than any bounded queue should hold)",
                              expected="drop to keyframes or disconnect", actual="everything queued", verdict=ns))
        else:
            out.append(not_run(rule, text + ": the server never had to drop, so how it handles a slow "
                               "reader was not exercised"))
    if not disconnected:
        tail = [i for i in video if i >= figures.recover_from]
        if tail and not any(i in got for i in tail):
            out.append(failed(rule, "the player did not recover when its link did: nothing published after "
                              "the recovery arrived", expected=f"frames from sent #{figures.recover_from}",
                              actual="none", verdict=ns))
        elif tail:
            last = tail[-1]
            if last in got:
                out.append(passed(rule, "the player recovered with its link: the last frame published arrived"))
            else:
                out.append(failed(rule, "the player recovered only partly: the last frame published never arrived",
                                  expected=f"sent #{last}", actual="missing", verdict=ns))
    return out
