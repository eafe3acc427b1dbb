"""Deadlines that follow the link: every wait in a case derives from one :class:`Timing`.

A case states how long something takes on a direct local link (an answer: milliseconds, so a
deadline of 1-2 s; 2 MB through loopback: well under a second). The :class:`Timing` in force
stretches that for the link the case actually runs over:

* ``--impair PROFILE`` (harness.impair.profiles): the profile's one-way delays and jitter add
  round trips, its loss and stalls add retransmission hiccups, its rate caps add transfer time;
* ``--time-scale X`` (``rtmpconf run --time-scale``): everything X times slower, for a slow or
  far-away target behind a link nobody described.

Three kinds of wait, three methods:

* :meth:`Timing.deadline` — something that should happen (an answer, a relayed message). A
  generous bound: it only costs time when the target fails.
* :meth:`Timing.quiet` — a window watched for something that must NOT happen (an answer to a
  message that must be discarded, an early S2). Every correct run pays it, so it adds one round
  trip and one hiccup: enough for a wrong answer to arrive, no more.
* :meth:`Timing.transfer_s` — the time ``n`` bytes need through the link's rate caps (publisher
  uplink plus player downlink); cases add it to the deadline of a wait behind a big transfer and
  declare NOT-RUN when it exceeds a sane budget (:meth:`Timing.too_slow`).

The RTMP client (harness.client) applies its Timing to every timeout a caller gives it, so a
case that says ``wait_for(..., timeout=1.0)`` waits 1 s on a direct link and long enough under
``satellite``. Code that makes its own clocks (subprocess waits, sleeps) asks :func:`current`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rtmpconf.harness.impair.profiles import DirectionImpairment, Profile

#: A deadline allows this many extra round trips (plus hiccups) of the link: a step is usually
#: one request and one answer, but a handshake or a gated reply takes two or three.
DEADLINE_ROUND_TRIPS = 4
#: A case's watchdog allows this many extra round trips: a case is a few dozen steps.
WATCHDOG_ROUND_TRIPS = 40
#: The run budget allows this many exchanges per case on top of its direct-link figure: a case
#: is a handful of round trips (handshake, connect, createStream, publish or play, probes); the
#: suite against the reference server over 3g-lossy measured about 2.3 exchanges' worth per case.
RUN_EXCHANGES_PER_CASE = 4
#: Transfer estimates are multiplied by this before they become a deadline: rates are caps, and
#: TCP on a lossy link does not fill them.
TRANSFER_MARGIN = 1.5
#: Throughput of a byte dribble (1-byte segments): one send() per byte through the impairment
#: proxy, so it depends on the CPU. bench/impair_throughput.py measured 1 MB up and down again in
#: 16 s on a 2-core machine at load 6 and in 32 s at load 9 (62 kB/s each way as this module
#: counts); waits also go on while the proxy still holds bytes (``Backlog.busy``).
DRIBBLE_BYTES_PER_S = 40_000.0
#: While the emulated link still holds bytes, an expired wait goes on in slices of this length.
BUSY_SLICE_S = 0.25
#: How often ``busy_meter`` looks at the emulated link.
BUSY_SAMPLE_S = 0.01
#: Real TCP through the kernel profile's tbf with nftables loss: losses cost fast retransmits
#: and, now and then, a 200 ms RTO; bench/impair_throughput.py measured about 80% of the cap.
KERNEL_GOODPUT = 0.6
#: A lost SYN is retried after 1 s (Linux initial RTO), a lost data segment after >= 200 ms.
KERNEL_HICCUP_S = 1.5
#: TCP segment size the proxy's loss emulation counts in (harness.impair.proxy.LOSS_MSS).
LOSS_MSS = 1448


class Backlog:
    """When the link will have carried what the clients wrote so far, estimated from its rates.

    A wait that starts right after a big write (a probe behind 2 MB of video, a player waiting
    for the last frame) must allow for those bytes first: every deadline adds what is still in
    flight. Bytes a client writes are counted on the uplink and once more on the downlink (a
    relay to one player); rates of 0 (not limited) count nothing.
    """

    __slots__ = ("carried_s", "down_free_at", "extended_s", "in_flight", "up_free_at")

    def __init__(self) -> None:
        self.up_free_at = 0.0  #: monotonic time the uplink has carried everything written
        self.down_free_at = 0.0  #: ... the downlink everything relayed
        self.carried_s = 0.0  #: transfer seconds of everything written so far (the watchdog grows by it)
        #: Bytes the emulated link holds right now (the impairment proxy's queues), when known.
        self.in_flight: Callable[[], int] | None = None
        self.extended_s = 0.0  #: seconds waits went on because the link was still busy

    def busy(self) -> bool:
        """True while the emulated link still holds bytes: a wait that expires now has not given
        the target a fair chance yet (its bytes, or its answer, are still on the way)."""
        if self.in_flight is None:
            return False
        try:
            return self.in_flight() > 0
        except Exception:  # noqa: BLE001 - a proxy that is shutting down holds nothing
            return False

    def extend(self, seconds: float) -> None:
        """Record that a wait went on ``seconds`` longer because the link was busy."""
        self.extended_s += seconds

    def sent(self, timing: Timing, nbytes: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        need = timing.transfer_s(nbytes)
        if not need:
            return
        self.carried_s += need
        if timing.up_bytes_s:
            self.up_free_at = max(now, self.up_free_at) + timing.scale * nbytes / timing.up_bytes_s
        if timing.down_bytes_s:
            self.down_free_at = max(now, self.down_free_at) + timing.scale * nbytes / timing.down_bytes_s

    def settle(self, limit_s: float, poll_s: float = 0.05) -> float:
        """Before a case: wait, at most ``limit_s``, until the emulated link has carried what
        earlier cases wrote, then forget their estimate. Returns the seconds waited.

        Without it a case's own pauses (a C2 held back, a quiet window) would be stretched by an
        earlier case's bytes, past what the target tolerates (a handshake or idle timeout).
        """
        if self.in_flight is None:
            return 0.0
        t0 = time.monotonic()
        deadline = t0 + limit_s
        while self.busy() and time.monotonic() < deadline:
            time.sleep(poll_s)
        if not self.busy():
            self.up_free_at = self.down_free_at = 0.0
        return time.monotonic() - t0

    def pending_s(self, now: float | None = None) -> float:
        """Seconds of transfer still ahead of a message written now (up plus down)."""
        now = time.monotonic() if now is None else now
        return max(0.0, self.up_free_at - now) + max(0.0, self.down_free_at - now)


@dataclass(frozen=True, slots=True)
class Timing:
    """How much longer than on a direct local link things take on the link under test."""

    scale: float = 1.0  #: every base duration is multiplied by this (--time-scale)
    rtt_s: float = 0.0  #: round trip the link adds: both one-way delays and their jitter
    hiccup_s: float = 0.0  #: worst extra delay of one exchange: a retransmission or stall each way
    up_bytes_s: float = 0.0  #: client -> server throughput in bytes/s (0 = not limited)
    down_bytes_s: float = 0.0  #: server -> client throughput in bytes/s (0 = not limited)
    name: str = "direct"  #: what the link is, for messages ("satellite", "time scale 3")
    #: Bytes still in flight on this link (shared by every client using this Timing).
    backlog: Backlog = field(default_factory=Backlog, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise ValueError(f"time scale must be > 0, not {self.scale}")
        if min(self.rtt_s, self.hiccup_s, self.up_bytes_s, self.down_bytes_s) < 0:
            raise ValueError("rtt, hiccup and rates must be >= 0")

    @property
    def is_direct(self) -> bool:
        """True when nothing is stretched (the default: a direct local link)."""
        return self == Timing(name=self.name)

    @property
    def exchange_s(self) -> float:
        """What one request/answer exchange costs the link at worst: a round trip and a hiccup."""
        return self.rtt_s + self.hiccup_s

    def deadline(self, seconds: float) -> float:
        """Deadline for something a target on a direct local link does within ``seconds``,
        starting now (behind whatever the link still carries)."""
        return seconds * self.scale + DEADLINE_ROUND_TRIPS * self.exchange_s + TRANSFER_MARGIN * self.backlog.pending_s()

    def quiet(self, seconds: float) -> float:
        """Window to watch for something that must not happen (paid by every correct run):
        ``seconds`` scaled, plus one exchange (and what the link still carries) so that a wrong
        answer would have arrived."""
        return seconds * self.scale + self.exchange_s + self.backlog.pending_s()

    def within(self, seconds: float, *, exchanges: int = 1) -> float:
        """A time limit judged on the client's clock (a reply, a notification, a fresh session)
        for what a direct local target does within ``seconds``: scaled, plus ``exchanges`` round
        trips with their hiccups and what the link still carries."""
        return seconds * self.scale + exchanges * self.exchange_s + self.backlog.pending_s()

    def transfer_s(self, nbytes: int, *, up: bool = True, down: bool = True) -> float:
        """Seconds ``nbytes`` need through the link's rate caps: the publisher's uplink (``up``)
        and the player's downlink (``down``); 0 when neither is capped."""
        t = 0.0
        if up and self.up_bytes_s:
            t += nbytes / self.up_bytes_s
        if down and self.down_bytes_s:
            t += nbytes / self.down_bytes_s
        return t * self.scale

    def transfer_deadline(self, nbytes: int, seconds: float, *, up: bool = True, down: bool = True) -> float:
        """Deadline for a wait behind ``nbytes`` of transfer that takes ``seconds`` on a direct
        link: :meth:`deadline` plus the transfer time with a margin."""
        return self.deadline(seconds) + TRANSFER_MARGIN * self.transfer_s(nbytes, up=up, down=down)

    def watchdog(self, seconds: float) -> float:
        """A case watchdog of ``seconds`` on a direct link, stretched for this link."""
        return seconds * self.scale + WATCHDOG_ROUND_TRIPS * self.exchange_s

    def run_budget(self, seconds: float, cases: int) -> float:
        """A whole-run budget of ``seconds`` on a direct link, for ``cases`` cases over this link,
        plus the transfer time of what the run wrote so far and the time its waits went on for a
        busy link (so it grows as the run goes)."""
        return (seconds * self.scale + cases * RUN_EXCHANGES_PER_CASE * self.exchange_s
                + TRANSFER_MARGIN * self.backlog.carried_s + self.backlog.extended_s)

    def too_slow(self, nbytes: int, budget_s: float, *, up: bool = True, down: bool = True) -> str | None:
        """Why moving ``nbytes`` does not fit a case budget of ``budget_s`` here (None if it
        does): the reason a case gives when it declares itself NOT-RUN."""
        need = TRANSFER_MARGIN * self.transfer_s(nbytes, up=up, down=down)
        if need <= budget_s:
            return None
        return (f"moving {nbytes / 1e6:.1f} MB over {self.name} takes about {need:.0f} s, beyond this case's "
                f"budget of {budget_s:.0f} s (a slow link is no verdict on the target)")

    def stretched(self, scale: float) -> Timing:
        """The same link with every duration ``scale`` times longer (--time-scale on top)."""
        if scale == 1.0:
            return self
        name = f"{self.name}, time scale {scale:g}" if not self.is_direct else f"time scale {scale:g}"
        return dataclasses.replace(self, scale=self.scale * scale, name=name)

    def describe(self) -> str:
        parts = []
        if self.scale != 1.0:
            parts.append(f"x{self.scale:g}")
        if self.rtt_s:
            parts.append(f"+{self.rtt_s * 1000:g} ms per round trip")
        if self.hiccup_s:
            parts.append(f"+{self.hiccup_s * 1000:g} ms hiccups")
        for label, rate in (("up", self.up_bytes_s), ("down", self.down_bytes_s)):
            if rate:
                parts.append(f"{label} {rate * 8 / 1e6:.3g} Mbit/s")
        return f"{self.name}: " + (", ".join(parts) or "no stretch")

    @classmethod
    def for_profile(cls, profile: Profile | None, *, scale: float = 1.0) -> Timing:
        """The timing of a link with impairment ``profile`` (None: direct), times ``scale``."""
        if profile is None:
            return cls().stretched(scale)
        rtt = sum(d.delay_ms + d.jitter_ms for d in (profile.up, profile.down)) / 1000.0
        hiccup = sum((d.retransmit_ms if d.loss_pct else 0.0) + d.stall_ms for d in (profile.up, profile.down)) / 1000.0
        up, down = _throughput(profile.up), _throughput(profile.down)
        if profile.kernel is not None:
            k = profile.kernel
            hiccup += KERNEL_HICCUP_S
            if k.up_kbit:
                up = _slowest(up, k.up_kbit * 1000 / 8 * (KERNEL_GOODPUT if k.loss_pct else 1.0))
            if k.down_kbit:
                down = _slowest(down, k.down_kbit * 1000 / 8 * (KERNEL_GOODPUT if k.loss_pct else 1.0))
        return cls(scale=scale, rtt_s=rtt, hiccup_s=hiccup, up_bytes_s=up, down_bytes_s=down, name=profile.name)


def _slowest(a: float, b: float) -> float:
    """The lower of two throughputs, 0 meaning unlimited."""
    return min(x for x in (a, b) if x) if (a or b) else 0.0


def _throughput(d: DirectionImpairment) -> float:
    """Bytes/s one proxied direction sustains: its rate cap, slowed by the retransmissions its
    loss emulation adds per segment, or a dribble's send rate; 0 = not limited."""
    seconds_per_byte = 0.0
    if d.rate_kbps:
        seconds_per_byte += 8.0 / (d.rate_kbps * 1000.0)
    if d.segment_bytes:
        seconds_per_byte += 1.0 / (DRIBBLE_BYTES_PER_S * d.segment_bytes)
        if d.segment_gap_ms:
            seconds_per_byte += d.segment_gap_ms / 1000.0 / d.segment_bytes
    if d.loss_pct:
        seconds_per_byte += d.loss_pct / 100.0 * d.retransmit_ms / 1000.0 / LOSS_MSS
    if d.stall_every_ms and d.stall_ms:
        seconds_per_byte *= d.stall_every_ms / (d.stall_every_ms - d.stall_ms)
    return 1.0 / seconds_per_byte if seconds_per_byte else 0.0


#: The direct link's Timing never accumulates a backlog (no rate caps), so sharing it is safe.
@contextlib.asynccontextmanager
async def busy_meter(timing: Timing) -> AsyncIterator[list[float]]:
    """Measure how long the emulated link held bytes while the body runs: ``[seconds]``, read
    after the block. A time limit judged on the client's clock adds it (the link, not the target,
    spent that time); a target that is merely slow leaves the link idle and gets nothing."""
    spent = [0.0]
    if timing.backlog.in_flight is None:
        yield spent
        return

    async def sample() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(BUSY_SAMPLE_S)
            now = time.monotonic()
            if timing.backlog.busy():
                spent[0] += now - last
            last = now

    task = asyncio.create_task(sample())
    try:
        yield spent
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


_CURRENT: contextvars.ContextVar[Timing] = contextvars.ContextVar("rtmpconf_timing", default=Timing())  # noqa: B039


def current() -> Timing:
    """The Timing of the case running in this context (the direct link outside a case)."""
    return _CURRENT.get()


@contextlib.contextmanager
def using(timing: Timing) -> Iterator[Timing]:
    """Make ``timing`` the current one for the code inside (clients created there pick it up)."""
    token = _CURRENT.set(timing)
    try:
        yield timing
    finally:
        _CURRENT.reset(token)
