"""RTMPS cases (catalogue section 19): TLS handshake, certificate name, old versions, plain RTMP on
the TLS port, media over TLS.

They run against the target's RTMPS listener: the embedded reference server always has one (with
a throw-away CA made at start, harness/tls.py); for another server give ``--tls-target
rtmps://host:port/app`` (and ``--tls-ca`` / ``--tls-sni`` / ``--tls-no-verify``), or an rtmps://
``--target``. A target without one gets UNIMPLEMENTED (RTMPS is optional). ``--tls`` runs every
other case over TLS too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
import time
import warnings

import pytest

from rtmpconf.harness.checks.media import check_payloads_intact
from rtmpconf.harness.checks.tls import (
    TlsObservation,
    check_certificate_name,
    check_old_versions_refused,
    check_plain_rtmp_refused,
    check_tls_session,
    record_default_version,
)
from rtmpconf.harness.client import PeerClosed, RtmpClient, StepTimeout, Target
from rtmpconf.harness.scenarios import relay_tags, tags_with_headers
from rtmpconf.harness.testmedia import make_h264_aac
from rtmpconf.harness.verdict import Finding, Verdict

#: How long plain RTMP on the TLS port may stay open before TLS-4 calls it held (s).
PLAIN_WINDOW_S = 10.0


def tls_target_or_judge(rtmp) -> Target | None:
    t = rtmp.tls_target
    if t is None:
        rtmp.judge(Finding(rtmp.rule, Verdict.UNIMPLEMENTED,
                           "the target has no RTMPS listener the run knows of (give --tls-target rtmps://...)"))
    return t


async def observe(rtmp, target: Target, label: str) -> TlsObservation:
    """TLS connect, RTMP handshake and connect; what happened at each step."""
    name = target.sni or target.host
    c: RtmpClient = rtmp.client(label=label, target=target)
    try:
        await c.open()
    except ssl.SSLCertVerificationError as exc:
        return TlsObservation(error=f"certificate verification failed: {exc.verify_message or exc}",
                              verify_error=True, server_name=name)
    except (ssl.SSLError, OSError, StepTimeout) as exc:
        return TlsObservation(error=f"{type(exc).__name__}: {exc}", server_name=name)
    try:
        ssl_obj = c.writer.get_extra_info("ssl_object") if c.writer is not None else None
        version = ssl_obj.version() if ssl_obj is not None else None
        cipher = ssl_obj.cipher()[0] if ssl_obj is not None and ssl_obj.cipher() else None
        try:
            await c.handshake()
        except (PeerClosed, StepTimeout, OSError):
            return TlsObservation(version=version, cipher=cipher, server_name=name)
        try:
            reply = await c.connect()
            got = reply.name
        except (PeerClosed, StepTimeout, OSError):
            got = None
        return TlsObservation(version=version, cipher=cipher, rtmp_handshake=True, connect_reply=got,
                              server_name=name)
    finally:
        await c.close()


class Over:
    """The case context with every new client going to ``target`` (the shared scenario steps call
    ``rtmp.client``)."""

    def __init__(self, rtmp, target: Target) -> None:
        self._rtmp = rtmp
        self._target = target

    def client(self, label: str = "", **kw) -> RtmpClient:
        return self._rtmp.client(label, target=self._target, **kw)

    def __getattr__(self, name: str):
        return getattr(self._rtmp, name)


# -- TLS-1 -------------------------------------------------------------------------------------------


@pytest.mark.rule("TLS-1")
async def test_tls_then_rtmp_handshake(rtmp):
    """TLS connect to the RTMPS listener (certificate not verified here: TLS-2 judges it), then C0+C1,
    C2 and connect inside the TLS session.

    Requirement (TLS-1): the server "completes a TLS handshake on its RTMPS port and then the RTMP
    handshake and connect inside the TLS connection".
    """
    target = tls_target_or_judge(rtmp)
    if target is None:
        return
    obs = await observe(rtmp, dataclasses.replace(target, verify=False), "TLS, then RTMP")
    rtmp.judge(check_tls_session(obs))


# -- TLS-2 -------------------------------------------------------------------------------------------


@pytest.mark.rule("TLS-2")
async def test_certificate_verifies_for_the_name(rtmp):
    """A verifying TLS connect: SNI and name check = the target's name (``--tls-sni`` or the URL's
    host), trust = ``--tls-ca`` or the system store.

    Requirement (TLS-2): the certificate "chains to a CA the client trusts and names the host the
    client connects to (the SNI it sent) in its subjectAltName".
    """
    target = tls_target_or_judge(rtmp)
    if target is None:
        return
    if not target.verify:
        rtmp.judge(Finding("TLS-2", Verdict.NOT_RUN, "certificate checks are off for this run (--tls-no-verify)"))
        return
    obs = await observe(rtmp, target, "verifying client")
    rtmp.judge(check_certificate_name(obs))


# -- TLS-3 -------------------------------------------------------------------------------------------


async def offer_only(target: Target, version: ssl.TLSVersion | None, timeout: float) -> TlsObservation:
    """A TLS connect that offers only ``version`` (None: the library's defaults), no verification."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if version is not None:
        try:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let OpenSSL 3 offer the old versions at all
            with warnings.catch_warnings():  # the old versions are deprecated: that is the point
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = version
                ctx.maximum_version = version
        except (ssl.SSLError, ValueError) as exc:
            return TlsObservation(error=f"NO_PROTOCOLS_AVAILABLE: {exc}")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(
            target.host, target.port, ssl=ctx, server_hostname=target.sni or target.host,
            ssl_handshake_timeout=timeout), timeout)
    except ssl.SSLError as exc:
        return TlsObservation(error=f"{exc.reason or exc}")
    except (OSError, asyncio.TimeoutError) as exc:
        return TlsObservation(error=f"{type(exc).__name__}: {exc}")
    obj = writer.get_extra_info("ssl_object")
    obs = TlsObservation(version=obj.version() if obj else None, cipher=obj.cipher()[0] if obj and obj.cipher() else None)
    writer.close()
    return obs


@pytest.mark.rule("TLS-3")
async def test_old_tls_versions_refused(rtmp):
    """Three TLS connects: one offering only TLS 1.0, one only TLS 1.1, one with the defaults (its
    version is recorded).

    Requirement (TLS-3, RFC 8996 §2/§3): "TLS 1.0 MUST NOT be used", nor TLS 1.1.
    """
    target = tls_target_or_judge(rtmp)
    if target is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = (("TLS 1.0", ssl.TLSVersion.TLSv1), ("TLS 1.1", ssl.TLSVersion.TLSv1_1))
    attempts = {name: await offer_only(target, v, rtmp.timeout) for name, v in old}
    default = await offer_only(target, None, rtmp.timeout)
    rtmp.judge(check_old_versions_refused(attempts), record_default_version(default))


# -- TLS-4 -------------------------------------------------------------------------------------------


@pytest.mark.rule("TLS-4")
async def test_plain_rtmp_on_tls_port(rtmp):
    """Plain TCP to the RTMPS port, C0 (0x03) + a 1536-byte C1 in the clear, then up to 10 s for the
    server to close; then a new RTMPS session.

    Requirement (TLS-4): plain RTMP "gets a TLS alert or a close within the server's handshake
    timeout, and the server stays available".
    """
    target = tls_target_or_judge(rtmp)
    if target is None:
        return
    plain = dataclasses.replace(target, scheme="rtmp")
    c = rtmp.client(label="plain RTMP to the TLS port", target=plain)
    await c.open()
    start = time.monotonic()
    await c.send_raw(b"\x03" + bytes(1536))  # C0 version 3 + C1 (time 0, zero 0, zero random)
    closed = await c.wait_closed(PLAIN_WINDOW_S)
    closed_after = time.monotonic() - start if closed else None
    await c.close()
    fresh = await observe(rtmp, dataclasses.replace(target, verify=False), "RTMPS afterwards")
    rtmp.judge(check_plain_rtmp_refused(closed_after, PLAIN_WINDOW_S, fresh))


# -- TLS-5 -------------------------------------------------------------------------------------------


@pytest.mark.rule("TLS-5")
async def test_media_over_rtmps(rtmp):
    """Over RTMPS: a publisher sends onMetaData, the H.264/AAC sequence headers and 1 s of frames
    to a player that joined first (also over RTMPS).

    Requirement (TLS-5): the stream "reaches an RTMPS player with the same messages, payloads and
    timestamps as over plain RTMP".
    """
    target = tls_target_or_judge(rtmp)
    if target is None:
        return
    tags = tags_with_headers(make_h264_aac(seconds=1.0))
    player = await relay_tags(Over(rtmp, target), tags)
    rtmp.judge(check_payloads_intact(player.log, tags, rule="TLS-5"))
