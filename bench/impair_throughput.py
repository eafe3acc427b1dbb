"""Throughput of each impairment profile, against what harness.timing assumes.

Deadlines behind big transfers (CTRL-1's 6 MiB, CH-19's 2 MB keyframe, GOP-8's 12 MB) come from
``Timing.transfer_s``, which estimates a profile's throughput from its rate caps, loss and
segmentation. This benchmark measures the real thing: through the profile's proxy a publisher
sends ``BYTES`` of video to the reference server while a player (also through the profile) reads
it; the time from the first byte sent to the last byte received is compared with the estimate.

``estimate_over_measured`` > 1 means the estimate is slower than reality (deadlines are safe);
< 1 means deadlines behind big transfers are too short for that profile on this machine.
Kernel profiles need root and are skipped without it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.common import write_result

#: Bytes published per profile: large enough that rates dominate round trips, small enough that
#: the slowest profile (3g-lossy: 1 Mbit/s up) takes about 10 s.
BYTES = 1_000_000
FRAME = 50_000


async def measure(target: Any, profile_name: str) -> dict[str, Any]:
    from rtmpconf.harness.client import RtmpClient
    from rtmpconf.harness.impair import get_profile, start_proxy
    from rtmpconf.harness.timing import Timing
    from rtmpconf.rtmp.messages import SetChunkSize, Video

    profile = get_profile(profile_name)
    timing = Timing.for_profile(profile)
    if profile.kernel is not None:
        from rtmpconf.harness.impair.kernel import kernel_unavailable_reason

        reason = kernel_unavailable_reason()
        if reason:
            return {"profile": profile_name, "skipped": reason}
    proxy = start_proxy(target, profile)
    try:
        name = f"bench-{profile_name}-{time.monotonic_ns()}"
        generous = 600.0
        pub = RtmpClient(proxy.target, timeout=generous, label="publisher")
        player = RtmpClient(proxy.target, timeout=generous, label="player")
        async with pub, player:
            await pub.handshake()
            await pub.connect()
            await pub.publish(name)
            await player.handshake()
            await player.connect()
            await player.play(name)
            await pub.send(SetChunkSize(65536))
            frames = [bytes([0x17, 1, 0, 0, 0]) + i.to_bytes(4, "big") * ((FRAME - 5) // 4) for i in range(BYTES // FRAME)]
            t0 = time.monotonic()
            for i, f in enumerate(frames):
                await pub.send(Video(f), msid=pub.stream_id or 1, timestamp=40 * i)
            up_done = time.monotonic()
            last = frames[-1]
            await player.wait_for(lambda e: bytes(e.raw.payload) == last, "last frame", generous)
            t1 = time.monotonic()
    finally:
        proxy.stop()
    total = sum(len(f) for f in frames)
    measured = t1 - t0
    estimate = timing.transfer_s(total)
    return {"profile": profile_name, "bytes": total, "measured_s": round(measured, 3),
            "publisher_write_s": round(up_done - t0, 3), "estimate_s": round(estimate, 3),
            "estimate_over_measured": round(estimate / measured, 3) if measured else None}


def main() -> dict[str, Any]:
    from rtmpconf.harness.impair import PROFILES
    from rtmpconf.harness.targets import ReferenceServerProcess

    server = ReferenceServerProcess()
    target = server.start()
    rows = []
    try:
        for name in PROFILES:
            row = asyncio.run(measure(target, name))
            print(f"   {row}", flush=True)
            rows.append(row)
    finally:
        server.stop()
    headline = {f"impair_{r['profile']}_estimate_over_measured": r.get("estimate_over_measured")
                for r in rows if "skipped" not in r}
    write_result("impair_throughput", {"bytes": BYTES, "rows": rows}, headline)
    return headline


if __name__ == "__main__":
    main()
