"""TLS checkers against observations of broken RTMPS listeners."""

from __future__ import annotations

from rtmpconf.harness.checks.tls import (
    TlsObservation,
    check_certificate_name,
    check_old_versions_refused,
    check_plain_rtmp_refused,
    check_tls_session,
)
from rtmpconf.harness.verdict import Verdict
from tests.unit.checks.fakes import v

GOOD = TlsObservation(version="TLSv1.3", cipher="TLS_AES_128_GCM_SHA256", rtmp_handshake=True,
                      connect_reply="_result", server_name="localhost")


def test_tls_session() -> None:
    assert v(check_tls_session(GOOD)) is Verdict.PASS
    assert v(check_tls_session(TlsObservation(error="SSLError: wrong version number"))) is Verdict.FAIL
    assert v(check_tls_session(TlsObservation(version="TLSv1.3"))) is Verdict.FAIL  # TLS but no RTMP inside
    assert v(check_tls_session(TlsObservation(version="TLSv1.3", rtmp_handshake=True))) is Verdict.FAIL


def test_certificate_name() -> None:
    assert v(check_certificate_name(GOOD)) is Verdict.PASS
    bad = TlsObservation(error="certificate verification failed: Hostname mismatch", verify_error=True,
                         server_name="localhost")
    assert v(check_certificate_name(bad)) is Verdict.FAIL
    assert v(check_certificate_name(TlsObservation(error="ConnectionRefusedError"))) is Verdict.NOT_RUN


def test_old_versions() -> None:
    refused = TlsObservation(error="TLSV1_ALERT_PROTOCOL_VERSION")
    assert v(check_old_versions_refused({"TLS 1.0": refused, "TLS 1.1": refused})) is Verdict.PASS
    weak = TlsObservation(version="TLSv1", cipher="ECDHE-ECDSA-AES256-SHA")
    assert v(check_old_versions_refused({"TLS 1.0": weak, "TLS 1.1": refused})) is Verdict.FAIL
    local = TlsObservation(error="NO_PROTOCOLS_AVAILABLE")
    assert v(check_old_versions_refused({"TLS 1.0": local})) is Verdict.NOT_RUN


def test_plain_rtmp_on_tls_port() -> None:
    assert v(check_plain_rtmp_refused(0.01, 10, GOOD)) is Verdict.PASS
    assert v(check_plain_rtmp_refused(None, 10, GOOD)) is Verdict.FAIL
    assert v(check_plain_rtmp_refused(0.01, 10, TlsObservation(error="ConnectionRefusedError"))) is Verdict.FAIL
