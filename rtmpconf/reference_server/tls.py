"""RTMPS: the TLS context of the reference server's second listener (``tls_port``)."""

from __future__ import annotations

import ssl


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server context from PEM files: TLS 1.2+, the default cipher suites, no client certificates.

    Raises ValueError with one line naming the file when the certificate or key cannot be loaded.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert_file, key_file)
    except FileNotFoundError as exc:
        raise ValueError(f"TLS certificate or key file not found: {exc.filename}") from None
    except ssl.SSLError as exc:
        raise ValueError(f"cannot load TLS certificate {cert_file} / key {key_file}: {exc.reason or exc}") from None
    return ctx
