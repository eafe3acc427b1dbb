"""Network impairment: a seeded asyncio TCP proxy (delay, jitter, rate, segmentation, loss stalls,
periodic stalls, cuts, half-close) and, as root, real kernel links (veth + tbf + nftables loss).

Entry points:

* ``start_proxy_for(target, profile)`` -> a running proxy whose ``target`` clients use instead of
  ``target`` (the pytest plugin's ``--impair PROFILE`` hook, and cases/tests).
* ``ProxyThread(upstream, profile)`` -> the same, with every knob (recording, live profile
  changes, run-time cuts).
* ``KernelLink`` / ``NetnsReferenceServer`` (harness.impair.kernel) -> namespaces for kernel mode.
* ``rtmpconf impair`` (harness.impair.cli) -> the proxy standalone, with a live status line.

The profile table is in ``harness.impair.profiles`` (``profile_table()``) and in the README.
"""

from __future__ import annotations

from rtmpconf.harness.client import Target
from rtmpconf.harness.impair.profiles import (
    DOWN,
    PROFILES,
    UP,
    DirectionImpairment,
    KernelImpairment,
    Profile,
    get_profile,
    profile_table,
)
from rtmpconf.harness.impair.proxy import ImpairmentProxy, ProxyThread, live_proxies

__all__ = [
    "DOWN", "PROFILES", "UP", "DirectionImpairment", "ImpairmentProxy", "KernelImpairment", "Profile",
    "ProxyThread", "get_profile", "profile_table", "start_proxy", "start_proxy_for", "upstream_of",
]


def start_proxy(upstream: Target, profile: Profile, *, record: bool = False) -> ProxyThread:
    """A running proxy in front of ``upstream`` with ``profile``.

    A profile with a ``kernel`` part (root only) puts the proxy's listening socket inside a fresh
    network namespace behind a veth pair with tbf and nftables loss; the returned proxy's
    ``target`` is then the namespace address, and ``stop()`` removes the link too.
    """
    if profile.kernel is None:
        return ProxyThread(upstream, profile, record=record).start()
    from rtmpconf.harness.impair.kernel import KernelLink

    link = KernelLink(profile.kernel).create()
    try:
        sock = link.listen_socket()
        proxy = ProxyThread(upstream, profile, listen_sock=sock, record=record, on_stop=link.destroy)
        proxy.kernel_link = link  # type: ignore[attr-defined]
        return proxy.start()
    except BaseException:
        link.destroy()
        raise


def start_proxy_for(target: Target, profile_name: str) -> ProxyThread:
    """The pytest plugin's hook: the named profile in front of ``target``.

    The result has ``target`` (where clients connect), ``retarget(new_target) -> Target`` and
    ``stop()``.
    """
    return start_proxy(target, get_profile(profile_name))


def upstream_of(target: Target) -> Target:
    """The real server behind ``target`` when ``target`` is one of our running proxies (as under
    ``--impair``), else ``target`` itself. Cases that build their own impaired path use it so two
    profiles never stack."""
    for proxy in live_proxies():
        t = proxy.target
        if (t.host, t.port) == (target.host, target.port):
            return target.moved(proxy.upstream.host, proxy.upstream.port)
    return target
