"""Test certificates for RTMPS, made at run time (never checked in), with trustme.

``make_test_pki(directory)`` writes a throw-away CA and a server certificate for ``localhost``
and ``127.0.0.1`` (plus any extra names) as PEM files; the harness trusts the CA through
``Target.ca_file``, the reference server loads the certificate and key, and a second server
certificate for an unrelated name lets the certificate-name case see a mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The names the default test server certificate covers.
SERVER_NAMES = ("localhost", "127.0.0.1", "::1")
#: A name no test server certificate covers (certificate-name cases connect with it as SNI).
WRONG_NAME = "wrong-name.rtmpconf.invalid"


@dataclass(frozen=True, slots=True)
class TestPki:
    ca_file: Path  #: PEM of the throw-away CA
    cert_file: Path  #: PEM chain of the server certificate
    key_file: Path  #: PEM private key of the server certificate


def make_test_pki(directory: str | Path, names: tuple[str, ...] = SERVER_NAMES) -> TestPki:
    """A CA and one server certificate for ``names`` in ``directory`` (created if missing)."""
    try:
        import trustme
    except ImportError as exc:  # a dependency of the project; a clear line if it was removed
        raise RuntimeError("RTMPS test certificates need the 'trustme' package (pip install trustme)") from exc
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="rtmp-conformance test CA")
    cert = ca.issue_cert(*names)
    pki = TestPki(out / "ca.pem", out / "server.pem", out / "server.key")
    ca.cert_pem.write_to_path(str(pki.ca_file))
    cert.private_key_pem.write_to_path(str(pki.key_file))
    with open(pki.cert_file, "wb") as fh:
        for blob in cert.cert_chain_pems:
            fh.write(blob.bytes())
    return pki
