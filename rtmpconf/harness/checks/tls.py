"""TLS checkers: what a TLS connect to the RTMPS listener showed.

Pure functions of :class:`TlsObservation` (one TLS connect: its error, if any, the negotiated
version and cipher, and how far RTMP got inside it).
"""

from __future__ import annotations

from dataclasses import dataclass

from rtmpconf.harness.verdict import Finding, failed, info, not_run, passed

#: OpenSSL reasons that mean *we* could not offer the version at all (nothing learned about the server).
LOCAL_REFUSALS = ("NO_PROTOCOLS_AVAILABLE", "UNSUPPORTED_PROTOCOL", "NO_CIPHERS_AVAILABLE", "no protocols available")


@dataclass(frozen=True, slots=True)
class TlsObservation:
    """One TLS connection attempt to the RTMPS listener."""

    error: str | None = None  #: why the TLS connect failed ("" / None: it succeeded)
    verify_error: bool = False  #: the failure was certificate verification (SSLCertVerificationError)
    version: str | None = None  #: negotiated protocol ("TLSv1.3")
    cipher: str | None = None
    rtmp_handshake: bool = False  #: C0..C2 / S0..S2 completed inside TLS
    connect_reply: str | None = None  #: "_result" / "_error" / None
    server_name: str = ""  #: SNI sent and name verified


def check_tls_session(obs: TlsObservation, *, rule: str = "TLS-1") -> list[Finding]:
    """TLS-1: the TLS handshake completes, then the RTMP handshake and connect inside it."""
    if obs.error:
        return [failed(rule, "the TLS handshake with the RTMPS listener failed", expected="a TLS session",
                       actual=obs.error)]
    if not obs.rtmp_handshake:
        return [failed(rule, "TLS completed but the RTMP handshake inside it did not", expected="S0+S1+S2",
                       actual="no RTMP handshake")]
    if obs.connect_reply not in ("_result", "_error"):
        return [failed(rule, "TLS and the RTMP handshake completed but connect got no answer",
                       expected="_result", actual=obs.connect_reply or "no reply")]
    return [passed(rule, f"{obs.version} ({obs.cipher}), then the RTMP handshake and connect ({obs.connect_reply})")]


def check_certificate_name(obs: TlsObservation, *, rule: str = "TLS-2") -> list[Finding]:
    """TLS-2: a verifying client (trust store of the run, SNI = the name it connects to) connects."""
    if obs.error and obs.verify_error:
        return [failed(rule, f"a client that verifies cannot connect to {obs.server_name}",
                       expected=f"a certificate chain the client trusts, naming {obs.server_name}", actual=obs.error)]
    if obs.error:
        return [not_run(rule, f"the TLS connect failed before the certificate could be judged: {obs.error}")]
    return [passed(rule, f"the certificate verifies for {obs.server_name} ({obs.version})")]


def check_old_versions_refused(attempts: dict[str, TlsObservation], *, rule: str = "TLS-3") -> list[Finding]:
    """TLS-3: offering only TLS 1.0 (1.1) must not give a session."""
    out: list[Finding] = []
    for version, obs in attempts.items():
        if obs.error is None:
            out.append(failed(rule, f"the RTMPS listener negotiated {obs.version or version}",
                              expected=f"{version} refused (RFC 8996)", actual=f"a {obs.version} session"))
        elif any(r in obs.error for r in LOCAL_REFUSALS):
            out.append(not_run(rule, f"this machine's TLS library cannot offer {version}: {obs.error}"))
        else:
            out.append(passed(rule, f"{version} refused: {obs.error}"))
    return out


def record_default_version(obs: TlsObservation, *, rule: str = "TLS-3") -> Finding:
    if obs.error:
        return info(rule, f"default TLS connect failed: {obs.error}")
    return info(rule, f"a default client negotiates {obs.version} with {obs.cipher}")


def check_plain_rtmp_refused(closed_after: float | None, window: float, fresh: TlsObservation, *,
                             rule: str = "TLS-4") -> list[Finding]:
    """TLS-4: plain RTMP on the RTMPS port ends in a close within ``window`` s; the listener still works."""
    out: list[Finding] = []
    if closed_after is None:
        out.append(failed(rule, f"plain RTMP sent to the RTMPS port was neither refused nor closed within {window:g} s",
                          expected="a TLS alert or a close", actual="the connection stayed open"))
    else:
        out.append(passed(rule, f"plain RTMP on the RTMPS port was closed after {closed_after:.2f} s"))
    if fresh.error or not fresh.rtmp_handshake:
        out.append(failed(rule, "the RTMPS listener did not serve a new client afterwards",
                          expected="a TLS + RTMP session", actual=fresh.error or "no RTMP handshake"))
    return out
