"""Done-when (c): the slow consumer (GOP-8) against the reference server and nginx-rtmp, with the
server's RSS growth measured and written to reports/bench/impairment.json.

Topology (kernel mode): the server runs in a namespace reached by two veth paths — an uncapped one
for the publisher and a 500 kbit/s one (tbf on the server's egress) for the player. A veth path
has a real 1500-byte MTU, so the server's socket buffers stay small and its own queueing policy
is what gets exercised (over loopback a 64 KiB MSS lets the kernel absorb megabytes instead).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rtmpconf.harness.client import RtmpClient, Target
from rtmpconf.harness.impair.checks import check_slow_consumer
from rtmpconf.harness.impair.kernel import KernelLink, NetnsNginxRtmp, NetnsReferenceServer
from rtmpconf.harness.impair.profiles import KernelImpairment
from rtmpconf.harness.impair.scenarios import slow_consumer
from rtmpconf.harness.peers import PeerMissing, in_ci
from rtmpconf.harness.verdict import Verdict
from tests.integration.conftest import run

#: 26 s at a 1.6 Mbit/s deficit fills the reference server's 4 MiB player queue (about 21 s) and
#: leaves a few seconds of dropping; then 4 s on a recovered link.
SLOW_S, RECOVER_S, LINK_KBPS = 26.0, 4.0, 500.0
RSS_LIMIT_MIB = 32.0

#: Figures of this module's runs, written after each test (the last write has both servers).
RESULTS: dict[str, Any] = {}

pytestmark = pytest.mark.usefixtures("kernel_mode")


@pytest.fixture
def link() -> Iterator[KernelLink]:
    with KernelLink() as lk:
        lk.add_path()
        yield lk


def run_slow_consumer(link: KernelLink, server: Any) -> dict[str, Any]:
    target = server.start()
    fast, slow = link.paths
    publisher = Target(fast.ns_addr, target.port)
    player_target = Target(slow.ns_addr, target.port)

    def set_link(kbps: float | None) -> None:
        link.set_impairment(KernelImpairment(down_kbit=kbps or 0.0), path=1)

    def make(t: Target, label: str) -> RtmpClient:
        return RtmpClient(t, label=label, timeout=10)

    try:
        player, sent, figures, extra = run(slow_consumer(
            make, publisher_target=publisher, player_target=player_target, name="slow", set_link=set_link,
            link_kbps=LINK_KBPS, slow_s=SLOW_S, recover_s=RECOVER_S, server_pid=server.pid), timeout=55)
    finally:
        server.stop()
    findings = check_slow_consumer(player.log, sent, figures, rss_limit_mib=RSS_LIMIT_MIB)
    for f in findings:
        print(f.line())
    dropped = next((f.evidence.get("dropped") for f in findings if "dropped" in f.evidence), 0)
    return {"findings": findings, "rss_growth_mib": round(figures.rss_growth_mib or 0.0, 2),
            "publish_lag_ms": round(figures.publish_lag_s * 1000, 1), "video_frames_dropped": dropped,
            "verdict": max((f.verdict for f in findings), key=lambda v: v.rank).value, **extra}


def record(server: str, result: dict[str, Any]) -> None:
    from bench.common import write_result

    RESULTS[server] = {k: v for k, v in result.items() if k != "findings"}
    headline = {f"slow_consumer_rss_growth_mib_{name.replace('-', '_')}": r["rss_growth_mib"]
                for name, r in RESULTS.items()}
    write_result("impairment", {"scenario": {
        "stream": "2 Mbit/s synthetic H.264-shaped video (25 fps, 1 s GOP) + AAC, published in real time",
        "player_link": f"{LINK_KBPS:g} kbit/s (tbf on a veth path) for {SLOW_S:g} s, then uncapped for {RECOVER_S:g} s",
        "publisher_link": "uncapped veth path", "rss": "server VmRSS peak minus its value before the clients connected",
    }, "servers": RESULTS}, headline)


def test_slow_consumer_reference_server(link: KernelLink) -> None:
    result = run_slow_consumer(link, NetnsReferenceServer(link, host="0.0.0.0"))
    record("reference", result)
    print(f"reference server RSS growth: {result['rss_growth_mib']} MiB")
    bad = [f.line() for f in result["findings"] if f.verdict.rank >= Verdict.NON_STRICT.rank]
    assert not bad, "\n".join(bad)
    assert result["rss_growth_mib"] < RSS_LIMIT_MIB
    # The reference server must actually have dropped (its queue is 4 MiB) and resumed on keyframes.
    assert result["video_frames_dropped"] > 0, result


def test_slow_consumer_nginx_rtmp(link: KernelLink) -> None:
    try:
        server = NetnsNginxRtmp(link)
        result = run_slow_consumer(link, server)
    except PeerMissing as exc:
        if in_ci():
            pytest.fail(f"CI=true and nginx-rtmp is missing: {exc}")
        pytest.skip(str(exc))
    record("nginx-rtmp", result)
    print(f"nginx-rtmp RSS growth: {result['rss_growth_mib']} MiB ({result['verdict']})")
    # nginx-rtmp is measured, not judged here: its own conformance is the matrix's business.
    assert result["rss_growth_mib"] >= 0
    assert any(f.verdict is not Verdict.ERROR for f in result["findings"])
