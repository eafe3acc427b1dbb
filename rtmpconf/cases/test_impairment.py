"""Network impairment cases: the core checks through named network profiles, publish->play latency,
a slow consumer and a publisher link cut mid-chunk (harness/impair; README "Network impairment").

A server must not depend on TCP segment boundaries or timing: the handshake, chunking, GOP-start
and timestamp checks must give the same verdicts through every profile as on a direct connection.
Each profile case runs its scenario directly (the real server, even under ``--impair``) and through
its own proxy, and compares.

Which profiles run (the slow ones are gated so the default suite stays short):

* default: ``lan`` and ``byte-dribble`` for the core checks, plus the two ROB-5 cut cases;
* ``rtmpconf run --impair NAME``: the profile cases run under NAME only, plus latency and the slow
  consumer (the rest of the suite runs through NAME too, via the plugin);
* ``RTMPCONF_IMPAIRMENT=1`` (or ``all``): every profile, kernel ones included; or a comma list.

A gated case, and a kernel profile without root, is NOT-RUN with the reason.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rtmpconf.harness.checks.robustness import check_publisher_reset
from rtmpconf.harness.client import PeerClosed, RtmpClient, StepTimeout, Target
from rtmpconf.harness.impair import (
    PROFILES,
    UP,
    DirectionImpairment,
    Profile,
    ProxyThread,
    get_profile,
    start_proxy,
    upstream_of,
)
from rtmpconf.harness.impair.checks import check_latency, check_slow_consumer, compare_verdicts
from rtmpconf.harness.impair.memory import pid_listening_on
from rtmpconf.harness.impair.scenarios import (
    Groups,
    MakeClient,
    gop_timestamp_groups,
    handshake_groups,
    publish_play_latency,
    slow_consumer,
    split_header_groups,
)
from rtmpconf.harness.scenarios import end_notice_then_republish, publish_stream
from rtmpconf.harness.testmedia import make_h264_aac
from rtmpconf.harness.timing import Timing
from rtmpconf.harness.verdict import Finding, Verdict, not_run
from rtmpconf.rtmp.messages import Video

# The marker lets `pytest cases -m impairment` pick these cases. It is registered nowhere (cases/
# has no conftest and the plugin is not ours), so fetch it once with the unknown-mark warning off.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
    impairment = pytest.mark.impairment

ENV = "RTMPCONF_IMPAIRMENT"
#: Profiles the core-check cases run under by default: cheap, and between them they cover timing
#: (lan) and segmentation (byte-dribble).
DEFAULT_PROFILES = ("lan", "byte-dribble")
GATED = (f"gated: set {ENV}=1 (or a comma list of profiles) or run with --impair PROFILE "
         "(README, \"Network impairment\")")
#: The slow-consumer scenario: a 2 Mbit/s stream, a 500 kbit/s player link, then the link recovers.
SLOW_S, RECOVER_S, LINK_KBPS = 14.0, 4.0, 500.0


def enabled_profiles(config: pytest.Config, default: tuple[str, ...]) -> list[str]:
    cli = config.getoption("--rtmp-impair", None)
    if cli:
        return [cli]
    env = os.environ.get(ENV, "").strip().lower()
    if env in ("1", "all", "yes", "true"):
        return list(PROFILES)
    if env in ("", "0", "no", "false"):
        return list(default)
    return [p.strip() for p in env.split(",") if p.strip()]


def impairment_requested(config: pytest.Config) -> bool:
    """--impair or RTMPCONF_IMPAIRMENT asked for the slow impairment cases."""
    return bool(config.getoption("--rtmp-impair", None)) or os.environ.get(ENV, "").strip().lower() not in (
        "", "0", "no", "false")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``profile`` with the enabled profiles; a case with none gets one "gated" item
    that reports why it did not run."""
    if "profile" not in metafunc.fixturenames:
        return
    default = DEFAULT_PROFILES if metafunc.function.__name__ in CORE_CASES else ()
    names = enabled_profiles(metafunc.config, default)
    unknown = [n for n in names if n not in PROFILES]
    if unknown:
        raise pytest.UsageError(f"{ENV}/--impair: unknown profile(s) {', '.join(unknown)}; "
                                f"choose from {', '.join(PROFILES)}")
    # A kernel-mode profile shapes all of loopback: nothing else may run meanwhile (harness/parallel.py).
    metafunc.parametrize("profile", [pytest.param(n, marks=pytest.mark.exclusive)
                                     if n in PROFILES and PROFILES[n].kernel is not None else n
                                     for n in names or ["gated"]])


def gated(rtmp: Any, rule: str, profile: str | None = None) -> bool:
    """True (after recording why) when this case is not to run now: NOT-RUN with the reason, so
    the reason reaches the summary and the report (it is no verdict on the target)."""
    if profile == "gated" or (profile is None and not impairment_requested(rtmp.item.config)):
        rtmp.judge(not_run(rule, GATED))
        return True
    return False


def client_maker(rtmp: Any, profile: Profile | None, tag: str) -> MakeClient:
    """Clients whose wire logs go into the case report, with deadlines stretched for ``profile``
    (None: a direct connection) and the run's --time-scale (harness.timing)."""
    timing = Timing.for_profile(profile, scale=rtmp.timing.scale)

    def make(target: Target, label: str) -> RtmpClient:
        c = RtmpClient(target, timeout=rtmp.timeout, timing=timing,
                       label=f"{rtmp.info.case_id} [{tag}] {label}")
        c.roles = rtmp.roles
        rtmp.clients.append(c)
        rtmp.info.logs.append(c.log)
        return c
    return make


@contextlib.asynccontextmanager
async def impaired_path(rtmp: Any, rule: str, name: str) -> AsyncIterator[tuple[Target, ProxyThread, Profile] | None]:
    """Our own proxy with profile ``name`` in front of the real server; None (after judging
    NOT-RUN) when the profile needs kernel mode and this machine cannot do it."""
    profile = get_profile(name)
    if profile.kernel is not None:
        from rtmpconf.harness.impair.kernel import kernel_unavailable_reason

        reason = kernel_unavailable_reason()
        if reason:
            rtmp.judge(not_run(rule, f"profile {name}: {reason}"))
            yield None
            return
    proxy = start_proxy(upstream_of(rtmp.target), profile)
    try:
        yield proxy.target, proxy, profile
    finally:
        proxy.stop()


#: Direct-run findings per (scenario, server): the baseline every profile is compared with.
_BASELINES: dict[tuple[str, str, int], Groups] = {}


async def compare_under_profile(rtmp: Any, profile_name: str, rule: str, scenario: str) -> None:
    if gated(rtmp, rule, profile_name):
        return
    direct = upstream_of(rtmp.target)
    async with impaired_path(rtmp, rule, profile_name) as path:
        if path is None:
            return
        target, _, profile = path

        async def run(make: MakeClient, where: Target) -> Groups:
            if scenario == "handshake":
                return await handshake_groups(make, where)
            if scenario == "split-headers":
                return await split_header_groups(make, where, rtmp.stream_name(scenario))
            return await gop_timestamp_groups(make, where, rtmp.stream_name(scenario))

        key = (scenario, direct.host, direct.port)
        if key not in _BASELINES:
            _BASELINES[key] = await run(client_maker(rtmp, None, "direct"), direct)
        impaired = await run(client_maker(rtmp, profile, profile_name), target)
    flat = [f for group in impaired.values() for f in group]
    rtmp.judge(flat, compare_verdicts(_BASELINES[key], impaired, rule=rule, profile=profile_name))


# -- the core checks under every profile ------------------------------------------------------------


@impairment
@pytest.mark.rule("HS-6")
async def test_handshake_write_patterns_under_profile(rtmp, profile):
    """Through the profile's proxy: C0+C1 as 1537 one-byte writes, then connect; and C2 + connect +
    createStream in a single write (librtmp). Compared with the same on a direct connection.

    Requirement (HS-6, HS-16): "the server accepts C0C1 split into 1-byte writes, and C2+connect in
    one write. No bytes after C2 may be lost" — whatever the network does to segment boundaries
    and timing: the verdicts must be those of the direct connection.
    """
    await compare_under_profile(rtmp, profile, "HS-6", "handshake")


@impairment
@pytest.mark.slow_case
@pytest.mark.rule("CH-5")
async def test_split_chunk_headers_under_profile(rtmp, profile):
    """Through the profile's proxy, a publisher writes connect, createStream, publish and 1 s of
    audio/video in pieces of 1, 2, 5, 4, 64, 3, 130, 7 bytes (cycled), so chunk headers are cut
    across writes; a player (also through the profile) must get every frame with its deltas.

    Requirement (§5.3.1, CH-5/CH-6): chunk headers are parsed from a byte stream — a server must
    not depend on TCP segment boundaries (verdicts as on a direct connection).
    """
    await compare_under_profile(rtmp, profile, "CH-5", "split-headers")


@impairment
@pytest.mark.slow_case
@pytest.mark.rule("GOP-1")
async def test_gop_start_and_timestamps_under_profile(rtmp, profile):
    """Through the profile's proxy: real H.264/AAC for 1.5 s, a late joiner, 0.9 s more. Checks GOP
    start and header order (GOP-1, AV-4), monotonic timestamps (TS-12), fmt 0 first per chunk
    stream (TS-13) and relayed deltas (TS-1), against the same on a direct connection.

    Requirement (GOP-1 and TS-*): the late joiner's stream starts at a keyframe after the sequence
    headers, with the publisher's timing — however the network delays, jitters and splits it.
    """
    await compare_under_profile(rtmp, profile, "GOP-1", "gop-timestamps")


CORE_CASES = {"test_handshake_write_patterns_under_profile", "test_split_chunk_headers_under_profile",
              "test_gop_start_and_timestamps_under_profile"}


# -- publish -> play latency ------------------------------------------------------------------------

_LATENCY_BASELINE: dict[tuple[str, int], list[float]] = {}


@impairment
@pytest.mark.exclusive  # measures time: alone, so other cases' CPU use is not counted as latency
@pytest.mark.rule("GOP-1")
async def test_publish_to_play_latency(rtmp, profile):
    """A player joins, then a publisher sends 3 s of audio/video (~0.6 Mbit/s) in real time, both
    through the profile; per frame, player receive time - publisher send time. Reported as p50/p99
    (INFORMATIONAL) with the added latency against a direct run.

    Requirement (GOP-1 "instant first frame", DESIGN "the publisher is never slowed"): a live
    server relays at once; the latency it adds is the network's (median within the profile's
    one-way delays + 0.5 s, NON-STRICT otherwise) and no frame is lost.
    """
    if gated(rtmp, "GOP-1", profile):
        return
    direct = upstream_of(rtmp.target)
    async with impaired_path(rtmp, "GOP-1", profile) as path:
        if path is None:
            return
        target, proxy, prof = path
        key = (direct.host, direct.port)
        if key not in _LATENCY_BASELINE:
            samples, _, _, _ = await publish_play_latency(client_maker(rtmp, None, "direct"), direct, direct,
                                                          rtmp.stream_name("direct"))
            _LATENCY_BASELINE[key] = samples
        samples, sent, _, _ = await publish_play_latency(client_maker(rtmp, prof, profile), target, target,
                                                         rtmp.stream_name(profile))
        # What the network itself added: the profile's delays, or what the proxy saw pieces wait
        # (queueing behind a rate cap, a dribble, a retransmission) on the publisher's uplink and
        # the player's downlink, whichever is more. The rest is the server's.
        observed = [c.up.stats.max_delay + c.down.stats.max_delay for c in proxy.connections]
    expected = max([sum(d.delay_ms + d.jitter_ms for d in (prof.up, prof.down))] + [o * 1000 for o in observed])
    rtmp.judge(check_latency(samples, _LATENCY_BASELINE[key], rule="GOP-1", profile=profile,
                             expected_added_ms=expected, sent=sent))


# -- slow consumer ------------------------------------------------------------------------------------


@impairment
@pytest.mark.exclusive  # samples the server's RSS: alone, so other cases' streams do not count
@pytest.mark.rule("GOP-8")
async def test_slow_consumer_on_500kbit_link(rtmp):
    """A publisher (direct) sends a 2 Mbit/s stream (25 fps, 1 s GOP, AAC) in real time for 18 s; a
    player reaches the server through a 500 kbit/s link (token bucket in the proxy) for the first
    14 s, then the link recovers. The server's RSS is sampled when it is a local process.

    Requirement (GOP-8): "Slow readers are handled by dropping, not unbounded buffering" — the
    publisher is never slowed, server memory stays bounded (< 32 MiB growth), frames dropped for
    the player are dropped up to a keyframe, and the player recovers when its link does. (The
    first few MB of backlog may sit in TCP buffers: not dropping is then recorded, not judged.)
    """
    if gated(rtmp, "GOP-8"):
        return
    direct = upstream_of(rtmp.target)
    pid = pid_listening_on(direct.port) if direct.host in ("127.0.0.1", "localhost", "::1") else None
    slow = Profile("slow-player", f"{LINK_KBPS:g} kbit/s downlink", DirectionImpairment(),
                   DirectionImpairment(rate_kbps=LINK_KBPS, buffer_bytes=64 * 1024))
    with ProxyThread(direct, slow) as proxy:
        def set_link(kbps: float | None) -> None:
            down = slow.down.replace(rate_kbps=kbps or 0.0)
            proxy.set_profile(slow.with_direction("s2c", down))

        player, sent, figures, _ = await slow_consumer(
            client_maker(rtmp, None, "slow consumer"), publisher_target=direct, player_target=proxy.target,
            name=rtmp.stream_name(), set_link=set_link, link_kbps=LINK_KBPS, slow_s=SLOW_S, recover_s=RECOVER_S,
            server_pid=pid)
    rtmp.judge(check_slow_consumer(player.log, sent, figures))


# -- ROB-5: the publisher's link is cut mid-chunk --------------------------------------------------


@impairment
@pytest.mark.rule("ROB-5")
@pytest.mark.parametrize("mode", ["rst", "fin"])
async def test_publisher_link_cut_mid_chunk(rtmp, mode):
    """A publisher reaches the server through the impairment proxy; after 0.3 s of H.264/AAC (a
    player watching directly) it writes a whole keyframe message, and the proxy forwards it only
    60 bytes into its second chunk, then cuts the connection: RST to both ends, or FIN. A new
    connection republishes the same name at once.

    Requirement (ROB-5, CMD-19): "Publisher TCP reset in the middle of a chunk: clean up, notify
    players, and free the name for an immediate republish" — the same when the network drops the
    link (RST) or a middlebox closes it (FIN).
    """
    if rtmp.target.tls:
        # The proxy counts RTMP bytes to cut inside a chunk; inside TLS records it cannot see them.
        rtmp.judge(not_run("ROB-5", "over RTMPS a TCP-level cut cannot be placed inside an RTMP chunk"))
        return
    direct = upstream_of(rtmp.target)
    stream = make_h264_aac(seconds=0.8, gop=8)
    key = next(t for t in stream.tags if t.keyframe and t.timestamp - stream.start_ms >= 300)
    name = rtmp.stream_name()
    make = client_maker(rtmp, None, f"cut {mode}")
    with ProxyThread(direct, get_profile("lan")) as proxy:
        pub = make(proxy.target, "publisher (through the proxy)")
        player = make(direct, "player")
        again = make(direct, "republisher")
        async with pub, player, again:
            await publish_stream(pub, name, until_ms=0, stream=stream)
            await player.handshake()
            await player.connect()
            await player.play(name)
            await pub.publish_media([t for t in stream.tags if t.timestamp - stream.start_ms < 300])
            await pub.probe("publisher settle", timeout=3.0)
            data = await pub.prepare(Video(key.payload), msid=pub.stream_id or 1, timestamp=key.timestamp)
            # First chunk = 1-byte basic header + 11/7/3-byte message header (fmt 0/1/2) + 128 payload
            # bytes; then a 1-byte fmt-3 header; the proxy stops 60 bytes into the second chunk's payload.
            first_header = 1 + (11, 7, 3, 0)[data[0] >> 6]
            cut_at = pub.log.total("c2s") + first_header + 128 + 1 + 60
            conn = proxy.wait_connections(1)[0]
            proxy.call(lambda: conn.schedule_cut(UP, at_byte=cut_at, mode=mode))
            cut_time = time.monotonic()
            with contextlib.suppress(PeerClosed, StepTimeout, ConnectionError):
                await pub.send_raw(data)
            republish = await end_notice_then_republish(player, again, name, 3.0)
            forwarded = conn.up.stats.bytes_out
    findings = check_publisher_reset(player.log, republish, reset_time=cut_time, republish_log=again.log)
    if forwarded != cut_at:
        findings.append(Finding("ROB-5", Verdict.ERROR, f"the proxy forwarded {forwarded} bytes, not the "
                                f"{cut_at} planned: the cut was not mid-chunk"))
    rtmp.judge(findings)


