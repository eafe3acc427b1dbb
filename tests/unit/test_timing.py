"""harness/timing.py: every wait derives from one Timing (profile, --time-scale, bytes in flight)."""

from __future__ import annotations

import asyncio
import time

import pytest

from rtmpconf.harness import timing as link_timing
from rtmpconf.harness.client import RtmpClient, StepTimeout, Target
from rtmpconf.harness.impair import PROFILES, get_profile
from rtmpconf.harness.timing import Backlog, Timing


def test_direct_link_stretches_nothing() -> None:
    t = Timing()
    assert t.is_direct
    assert t.deadline(2.0) == 2.0 and t.quiet(0.3) == 0.3 and t.within(0.1) == 0.1
    assert t.transfer_s(10_000_000) == 0.0 and t.watchdog(30.0) == 30.0
    assert t.too_slow(10_000_000, 1.0) is None


def test_time_scale_multiplies() -> None:
    t = Timing().stretched(3.0)
    assert not t.is_direct and t.name == "time scale 3"
    assert t.deadline(2.0) == pytest.approx(6.0)
    assert t.quiet(0.5) == pytest.approx(1.5)
    with pytest.raises(ValueError):
        Timing(scale=0)


def test_every_profile_stretches_at_least_its_round_trip() -> None:
    for profile in PROFILES.values():
        t = Timing.for_profile(profile)
        assert t.deadline(1.0) >= 1.0 + t.rtt_s
        assert t.quiet(0.3) >= 0.3 + t.rtt_s
        assert t.watchdog(30.0) >= t.deadline(30.0) - 30.0 + 30.0


def test_profile_figures() -> None:
    sat = Timing.for_profile(get_profile("satellite"))
    assert sat.rtt_s == pytest.approx(0.61)
    assert sat.hiccup_s == pytest.approx(1.3)  # a 650 ms retransmission each way
    # 2 Mbit/s up, slowed by 0.2% of 1448-byte segments costing 650 ms each.
    assert 190_000 < sat.up_bytes_s < 250_000
    lossy = Timing.for_profile(get_profile("3g-lossy"))
    assert lossy.up_bytes_s < sat.up_bytes_s  # 1 Mbit/s and 2% loss
    dribble = Timing.for_profile(get_profile("byte-dribble"))
    assert dribble.rtt_s == 0 and dribble.up_bytes_s == link_timing.DRIBBLE_BYTES_PER_S
    kernel = Timing.for_profile(get_profile("kernel-lossy"))
    assert kernel.hiccup_s >= 1.0  # a lost SYN costs a second
    assert Timing.for_profile(get_profile("lan")).up_bytes_s == 0


def test_transfer_and_too_slow() -> None:
    lossy = Timing.for_profile(get_profile("3g-lossy"))
    up_only = lossy.transfer_s(1_000_000, down=False)
    assert up_only == pytest.approx(1_000_000 / lossy.up_bytes_s)
    assert lossy.transfer_s(1_000_000) > up_only
    reason = lossy.too_slow(12_000_000, 30.0)
    assert reason is not None and "3g-lossy" in reason and "no verdict" in reason
    assert lossy.too_slow(10_000, 30.0) is None
    assert lossy.transfer_deadline(1_000_000, 1.0) > lossy.deadline(1.0) + up_only


def test_backlog_extends_waits_while_bytes_are_in_flight() -> None:
    t = Timing(up_bytes_s=100_000, down_bytes_s=200_000, name="slow")
    now = time.monotonic()
    t.backlog.sent(t, 100_000, now)  # 1 s up, 0.5 s down
    assert t.backlog.pending_s(now) == pytest.approx(1.5)
    assert t.backlog.carried_s == pytest.approx(1.5)
    assert t.deadline(1.0) > 1.0 + link_timing.TRANSFER_MARGIN * 1.4
    assert t.backlog.pending_s(now + 10) == 0.0  # drained: nothing to wait for any more
    unlimited = Timing()
    unlimited.backlog.sent(unlimited, 10_000_000)
    assert unlimited.backlog.carried_s == 0.0 and unlimited.deadline(1.0) == 1.0


def test_settle_waits_for_the_link_then_forgets_earlier_cases() -> None:
    """Before a case: an earlier case's bytes must not stretch this case's pauses (HS-4 held C2
    back for 10 s behind them and the server's handshake timeout closed the connection)."""
    t = Timing(up_bytes_s=1000, down_bytes_s=1000, name="slow")
    t.backlog.sent(t, 20_000)  # an earlier case: 40 s of estimated transfer
    assert t.quiet(0.3) > 30
    queued = [3]

    def in_flight() -> int:
        queued[0] = max(0, queued[0] - 1)  # the proxy drains over three looks
        return queued[0]

    t.backlog.in_flight = in_flight
    waited = t.backlog.settle(5.0, poll_s=0.01)
    assert waited < 1.0 and t.quiet(0.3) == pytest.approx(0.3)
    # A link that never drains: the wait is bounded and the estimate kept.
    t.backlog.sent(t, 20_000)
    t.backlog.in_flight = lambda: 1
    assert 0.2 <= t.backlog.settle(0.2, poll_s=0.01) < 1.0
    assert t.quiet(0.3) > 30
    # No proxy (a declared-slow link, --time-scale): nothing to wait for, nothing forgotten.
    d = Timing(up_bytes_s=1000, name="declared")
    d.backlog.sent(d, 20_000)
    assert d.backlog.settle(5.0) == 0.0 and d.quiet(0.3) > 10


def test_backlog_is_shared_by_copies() -> None:
    t = Timing(up_bytes_s=1000, name="x")
    s = t.stretched(2.0)
    assert s.backlog is t.backlog
    assert isinstance(Timing().backlog, Backlog) and Timing().backlog is not Timing().backlog


def test_current_timing_is_contextual() -> None:
    assert link_timing.current().is_direct
    slow = Timing().stretched(5.0)
    with link_timing.using(slow):
        assert link_timing.current() is slow
        assert RtmpClient(Target("127.0.0.1", 1)).timing is slow  # clients pick it up
    assert link_timing.current().is_direct


async def _silent_server() -> tuple[asyncio.AbstractServer, int]:
    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accept and never answer
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_client_stretches_its_deadlines() -> None:
    async def scenario() -> tuple[float, float, float]:
        server, port = await _silent_server()
        try:
            c = RtmpClient(Target("127.0.0.1", port), timeout=0.1, timing=Timing().stretched(4.0))
            async with c:
                t0 = time.monotonic()
                with pytest.raises(StepTimeout) as err:
                    await c.handshake()
                waited = time.monotonic() - t0
                t0 = time.monotonic()
                await c.collect(0.05)
                collected = time.monotonic() - t0
            return waited, err.value.seconds, collected
        finally:
            server.close()
            await server.wait_closed()

    waited, reported, collected = asyncio.run(scenario())
    assert reported == pytest.approx(0.4)
    assert 0.35 < waited < 2.0  # 0.1 s on a direct link, four times that here
    assert 0.18 < collected < 2.0  # a watch window is stretched too


def test_busy_meter_counts_only_while_the_link_holds_bytes() -> None:
    async def scenario() -> tuple[float, float]:
        t = Timing(up_bytes_s=1000, name="emulated")
        queued = [1]
        t.backlog.in_flight = lambda: queued[0]
        async with link_timing.busy_meter(t) as busy:
            await asyncio.sleep(0.2)
            queued[0] = 0
            await asyncio.sleep(0.2)
        async with link_timing.busy_meter(Timing()) as none:
            await asyncio.sleep(0.05)
        return busy[0], none[0]

    busy, none = asyncio.run(scenario())
    assert 0.1 < busy < 0.35
    assert none == 0.0


def test_expired_wait_goes_on_while_the_link_is_busy() -> None:
    async def scenario() -> float:
        async def answer_late(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(0.6)
            writer.write(b"x")
            await writer.drain()
            await reader.read()
            writer.close()

        server = await asyncio.start_server(answer_late, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        t = Timing(up_bytes_s=1000, name="emulated")
        busy_until = time.monotonic() + 1.0
        t.backlog.in_flight = lambda: 1 if time.monotonic() < busy_until else 0
        try:
            c = RtmpClient(Target("127.0.0.1", port), timeout=0.2, timing=t)
            async with c:
                t0 = time.monotonic()
                assert await c.read_until(lambda: c.log.total("s2c") > 0, "late byte")  # 0.2 s, link busy
                return time.monotonic() - t0
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(scenario()) >= 0.5
