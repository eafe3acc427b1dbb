"""Impairment profiles: what the proxy (and, for kernel profiles, the kernel) does to each direction.

The profiles (``profile_table()`` prints this; the README has the same table, a test keeps them equal):

| profile | up (client -> server) | down (server -> client) | what it is |
|---|---|---|---|
| lan | 0.5 ms +-0.2 | 0.5 ms +-0.2 | wired LAN: sub-millisecond delay, no cap |
| wifi | 3 ms +-4, 20 Mbit/s, 0.5% loss x 20 ms, 80 ms stall every 5 s | 3 ms +-4, 40 Mbit/s, 0.5% loss x 20 ms, 80 ms stall every 5 s | busy Wi-Fi: link-layer retries as jitter and short loss stalls, a scan stall every 5 s |
| 4g | 25 ms +-8, 8 Mbit/s, 0.1% loss x 200 ms | 25 ms +-8, 20 Mbit/s, 0.1% loss x 200 ms | LTE: 50 ms RTT, 8 Mbit/s up / 20 Mbit/s down, rare loss |
| 3g-lossy | 100 ms +-30, 1 Mbit/s, 2% loss x 300 ms | 100 ms +-30, 2 Mbit/s, 2% loss x 300 ms | HSPA on a bad day: 200 ms RTT, 1 Mbit/s up / 2 Mbit/s down, 2% loss |
| satellite | 300 ms +-5, 2 Mbit/s, 0.2% loss x 650 ms | 300 ms +-5, 10 Mbit/s, 0.2% loss x 650 ms | geostationary link: 600 ms RTT, 2 Mbit/s up / 10 Mbit/s down |
| byte-dribble | 1 B segments | 1 B segments | every byte in its own TCP segment, both ways (parsers must not depend on segment boundaries) |
| kernel-lossy | tbf 4 Mbit/s, 5% real packet loss (nftables) | tbf 4 Mbit/s, 5% real packet loss (nftables) | root only: real TCP through a veth pair, 4 Mbit/s tbf cap and 5% nftables packet loss each way |

"up" is client -> server (c2s), "down" is server -> client (s2c). All randomness is seeded, so a
profile gives the same delays, jitter draws, loss stalls and stall windows on every run (given
the same sequence of reads).

Userspace emulation (harness.impair.proxy), per direction:

* ``delay_ms`` one-way delay; ``jitter_ms`` adds a uniform draw in [-jitter, +jitter] per read
  (netem semantics), clipped at 0, and **order is preserved** (a piece never overtakes the one
  before it, as on a TCP connection).
* ``rate_kbps`` token-bucket cap (``burst_bytes`` deep).
* ``segment_bytes`` each write is split into sends of at most this many bytes (1 = byte dribble),
  optionally ``segment_gap_ms`` apart so the peer's reads see the boundaries.
* ``loss_pct`` TCP cannot lose bytes, but a lost segment costs its retransmission: every 1448-byte
  segment of the byte stream is "lost" with this probability, and the read holding it (and all
  behind it: head-of-line blocking) waits ``retransmit_ms`` more.
* ``stall_every_ms``/``stall_ms`` periodic stalls (Wi-Fi scans, radio handovers).
* ``cut_at_byte``/``cut_after_s`` cut the whole connection (``cut_mode`` "rst" or "fin") once this
  direction forwarded that many bytes / after that time; ``half_close_at_byte``/``half_close_after_s``
  send a FIN to this direction's receiver and drop the rest of this direction (the other keeps going).
* ``buffer_bytes`` what the proxy holds for the direction before it stops reading (the sender then
  feels TCP backpressure, as behind a real bottleneck).

Kernel emulation (harness.impair.kernel, root only): the client's TCP connection crosses a veth
pair into a network namespace; ``tbf`` caps the rate and nftables drops ``loss_pct`` % of TCP
packets each way, so real retransmissions happen.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

#: What "up" and "down" mean.
UP = "c2s"
DOWN = "s2c"


@dataclass(frozen=True, slots=True)
class DirectionImpairment:
    """What happens to one direction of every proxied connection."""

    delay_ms: float = 0.0  #: fixed one-way delay
    jitter_ms: float = 0.0  #: +- uniform extra delay per read, order kept
    rate_kbps: float = 0.0  #: token-bucket rate cap in kbit/s (0 = none)
    burst_bytes: int = 16 * 1024  #: token-bucket depth
    segment_bytes: int = 0  #: max bytes per send() (0 = forward reads as they come)
    segment_gap_ms: float = 0.0  #: pause between segments
    loss_pct: float = 0.0  #: % of 1448-byte segments that cost a retransmission
    retransmit_ms: float = 200.0  #: what a "lost" segment costs (Linux's minimum RTO is 200 ms)
    stall_every_ms: float = 0.0  #: period of stalls (0 = none)
    stall_ms: float = 0.0  #: length of each stall
    cut_at_byte: int | None = None  #: cut the connection once this direction forwarded this many bytes
    cut_after_s: float | None = None  #: cut the connection this long after it was accepted
    cut_mode: str = "rst"  #: "rst" (SO_LINGER 0 on both sockets) or "fin"
    half_close_at_byte: int | None = None  #: FIN to this direction's receiver after this many bytes
    half_close_after_s: float | None = None  #: ... or this long after accept
    buffer_bytes: int = 256 * 1024  #: held by the proxy before it stops reading (backpressure)

    def __post_init__(self) -> None:
        if self.cut_mode not in ("rst", "fin"):
            raise ValueError(f"cut_mode must be 'rst' or 'fin', not {self.cut_mode!r}")
        for name in ("delay_ms", "jitter_ms", "rate_kbps", "segment_gap_ms", "loss_pct", "retransmit_ms",
                     "stall_every_ms", "stall_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.segment_bytes < 0 or self.burst_bytes < 1 or self.buffer_bytes < 1:
            raise ValueError("segment_bytes >= 0, burst_bytes >= 1 and buffer_bytes >= 1")
        if self.loss_pct > 100:
            raise ValueError("loss_pct is a percentage (0..100)")
        if self.stall_ms and self.stall_ms >= self.stall_every_ms:
            raise ValueError("stall_ms must be shorter than stall_every_ms")

    @property
    def is_null(self) -> bool:
        """True when this direction is forwarded untouched."""
        return self == DirectionImpairment(buffer_bytes=self.buffer_bytes)

    def replace(self, **changes: object) -> DirectionImpairment:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def describe(self) -> str:
        parts = []
        if self.delay_ms or self.jitter_ms:
            parts.append(f"{self.delay_ms:g} ms" + (f" +-{self.jitter_ms:g}" if self.jitter_ms else ""))
        if self.rate_kbps:
            parts.append(_rate(self.rate_kbps))
        if self.loss_pct:
            parts.append(f"{self.loss_pct:g}% loss x {self.retransmit_ms:g} ms")
        if self.segment_bytes:
            parts.append(f"{self.segment_bytes} B segments" + (f" {self.segment_gap_ms:g} ms apart"
                                                               if self.segment_gap_ms else ""))
        if self.stall_every_ms:
            parts.append(f"{self.stall_ms:g} ms stall every {self.stall_every_ms / 1000:g} s")
        if self.cut_at_byte is not None or self.cut_after_s is not None:
            at = f"byte {self.cut_at_byte}" if self.cut_at_byte is not None else f"{self.cut_after_s:g} s"
            parts.append(f"cut ({self.cut_mode}) at {at}")
        if self.half_close_at_byte is not None or self.half_close_after_s is not None:
            at = (f"byte {self.half_close_at_byte}" if self.half_close_at_byte is not None
                  else f"{self.half_close_after_s:g} s")
            parts.append(f"half-close at {at}")
        return ", ".join(parts) or "untouched"


@dataclass(frozen=True, slots=True)
class KernelImpairment:
    """Kernel-side impairment of one veth path (tbf + nftables).

    "up" is root namespace -> namespace (client -> server), "down" the other way.
    """

    up_kbit: float = 0.0  #: tbf rate cap client -> server (0 = none)
    down_kbit: float = 0.0  #: tbf rate cap server -> client (0 = none)
    loss_pct: float = 0.0  #: nftables ``numgen random mod 100 < N drop`` on TCP, each way
    queue_ms: float = 200.0  #: tbf queue ("latency"): packets that would wait longer are dropped

    def __post_init__(self) -> None:
        if self.up_kbit < 0 or self.down_kbit < 0 or not 0 <= self.loss_pct <= 100 or self.queue_ms <= 0:
            raise ValueError("rates >= 0, 0 <= loss_pct <= 100, queue_ms > 0")
        if self.loss_pct != int(self.loss_pct):
            raise ValueError("nftables loss is a whole percentage")

    @classmethod
    def symmetric(cls, rate_kbit: float = 0.0, loss_pct: float = 0.0, queue_ms: float = 200.0) -> KernelImpairment:
        return cls(rate_kbit, rate_kbit, loss_pct, queue_ms)

    def describe(self, which: str | None = None) -> str:
        parts = []
        rates = {UP: self.up_kbit, DOWN: self.down_kbit}
        if which is not None:
            if rates[which]:
                parts.append(f"tbf {_rate(rates[which])}")
        elif self.up_kbit or self.down_kbit:
            parts.append(f"tbf {_rate(self.up_kbit) if self.up_kbit else 'uncapped'} up / "
                         f"{_rate(self.down_kbit) if self.down_kbit else 'uncapped'} down")
        if self.loss_pct:
            parts.append(f"{self.loss_pct:g}% real packet loss (nftables)")
        return ", ".join(parts) or "untouched veth"


@dataclass(frozen=True, slots=True)
class Profile:
    """A named network: both directions of the userspace proxy, and optionally a kernel link."""

    name: str
    description: str
    up: DirectionImpairment = field(default_factory=DirectionImpairment)
    down: DirectionImpairment = field(default_factory=DirectionImpairment)
    kernel: KernelImpairment | None = None  #: set: the connection crosses a veth into a namespace (root)
    seed: int = 1

    def direction(self, which: str) -> DirectionImpairment:
        return self.up if which == UP else self.down

    def with_direction(self, which: str, imp: DirectionImpairment) -> Profile:
        return dataclasses.replace(self, up=imp) if which == UP else dataclasses.replace(self, down=imp)

    def replace(self, **changes: object) -> Profile:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def rtt_ms(self) -> float:
        """Base round trip the profile adds (no jitter, loss or queueing)."""
        return self.up.delay_ms + self.down.delay_ms


def _rate(kbps: float) -> str:
    return f"{kbps / 1000:g} Mbit/s" if kbps >= 1000 else f"{kbps:g} kbit/s"


def symmetric(name: str, description: str, imp: DirectionImpairment, **kw: object) -> Profile:
    return Profile(name, description, imp, imp, **kw)  # type: ignore[arg-type]


_D = DirectionImpairment

#: The named profiles. Figures are typical of each network, not of any one operator; they are
#: chosen so a correct server passes every conformance check under each of them.
PROFILES: dict[str, Profile] = {p.name: p for p in [
    Profile("lan", "wired LAN: sub-millisecond delay, no cap",
            _D(delay_ms=0.5, jitter_ms=0.2), _D(delay_ms=0.5, jitter_ms=0.2)),
    Profile("wifi", "busy Wi-Fi: link-layer retries as jitter and short loss stalls, a scan stall every 5 s",
            _D(delay_ms=3, jitter_ms=4, rate_kbps=20_000, loss_pct=0.5, retransmit_ms=20,
               stall_every_ms=5000, stall_ms=80),
            _D(delay_ms=3, jitter_ms=4, rate_kbps=40_000, loss_pct=0.5, retransmit_ms=20,
               stall_every_ms=5000, stall_ms=80)),
    Profile("4g", "LTE: 50 ms RTT, 8 Mbit/s up / 20 Mbit/s down, rare loss",
            _D(delay_ms=25, jitter_ms=8, rate_kbps=8_000, loss_pct=0.1, retransmit_ms=200),
            _D(delay_ms=25, jitter_ms=8, rate_kbps=20_000, loss_pct=0.1, retransmit_ms=200)),
    Profile("3g-lossy", "HSPA on a bad day: 200 ms RTT, 1 Mbit/s up / 2 Mbit/s down, 2% loss",
            _D(delay_ms=100, jitter_ms=30, rate_kbps=1_000, loss_pct=2, retransmit_ms=300),
            _D(delay_ms=100, jitter_ms=30, rate_kbps=2_000, loss_pct=2, retransmit_ms=300)),
    # 1 MiB held per direction: 10 Mbit/s x (300 ms + a 650 ms retransmission) must fit in flight.
    Profile("satellite", "geostationary link: 600 ms RTT, 2 Mbit/s up / 10 Mbit/s down",
            _D(delay_ms=300, jitter_ms=5, rate_kbps=2_000, loss_pct=0.2, retransmit_ms=650, buffer_bytes=1 << 20),
            _D(delay_ms=300, jitter_ms=5, rate_kbps=10_000, loss_pct=0.2, retransmit_ms=650, buffer_bytes=1 << 20)),
    Profile("byte-dribble", "every byte in its own TCP segment, both ways (parsers must not depend on "
            "segment boundaries)", _D(segment_bytes=1), _D(segment_bytes=1)),
    Profile("kernel-lossy", "root only: real TCP through a veth pair, 4 Mbit/s tbf cap and 5% nftables "
            "packet loss each way", kernel=KernelImpairment.symmetric(rate_kbit=4_000, loss_pct=5)),
]}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown impairment profile {name!r}; choose one of {', '.join(PROFILES)}") from None


def profile_table() -> str:
    """The profiles as a Markdown table (README and ``rtmpconf impair --list``)."""
    rows = ["| profile | up (client -> server) | down (server -> client) | what it is |",
            "|---|---|---|---|"]
    for p in PROFILES.values():
        if p.kernel is not None:
            up, down = p.kernel.describe(UP), p.kernel.describe(DOWN)
        else:
            up, down = p.up.describe(), p.down.describe()
        rows.append(f"| {p.name} | {up} | {down} | {p.description} |")
    return "\n".join(rows)
