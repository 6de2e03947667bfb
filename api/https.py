"""HTTPS when the API terminates TLS itself: HSTS on every response, and a check of the
certificate and key files before the server starts.

HSTS tells browsers and well-behaved clients to use only HTTPS for this host from then on.
It is sent only when Herald serves TLS: over plain HTTP the header means nothing (RFC 6797
section 7.2) and, behind a TLS-terminating proxy, the proxy is the one to send it.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from pathlib import Path

from litestar.types import BeforeMessageSendHookHandler, Message, Scope

from config.errors import TlsFilesUnusable

ONE_YEAR = 365 * 24 * 3600
HSTS_HEADER = b"strict-transport-security"


def strict_transport_security(
    max_age: int = ONE_YEAR, *, include_subdomains: bool = True
) -> BeforeMessageSendHookHandler:
    """A ``before_send`` hook that puts ``Strict-Transport-Security`` on every HTTP response
    (a handler's own value, if it set one, is kept)."""
    value = f"max-age={max_age}" + ("; includeSubDomains" if include_subdomains else "")
    encoded = value.encode("latin-1")

    async def add_hsts(message: Message, _: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = list(message.get("headers", ()))
        if any(name.lower() == HSTS_HEADER for name, _ in headers):
            return
        headers.append((HSTS_HEADER, encoded))
        message["headers"] = headers

    return add_hsts


def https_hooks(tls: bool) -> Sequence[BeforeMessageSendHookHandler]:
    """The ``before_send`` hooks HTTPS needs: HSTS when the API serves TLS, none otherwise."""
    return (strict_transport_security(),) if tls else ()


def check_tls_files(cert: Path, key: Path) -> None:
    """Load ``cert`` and ``key`` as the server will, so a bad pair stops ``herald api`` with
    one clear line instead of a traceback from inside the server. An encrypted key is
    refused here rather than left to prompt for a passphrase on a terminal."""
    for kind, path in (("certificate", cert), ("private key", key)):
        try:
            path.read_bytes()
        except OSError as exc:
            raise TlsFilesUnusable(
                f"cannot read the TLS {kind} {path}: {exc.strerror or exc}"
            ) from exc
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key, password=_no_passphrase)
    except (ssl.SSLError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        raise TlsFilesUnusable(
            f"TLS certificate {cert} and key {key} are not a PEM certificate and its "
            f"unencrypted private key: {reason}"
        ) from exc


def _no_passphrase() -> bytes:
    raise ValueError("the key is encrypted; give the server an unencrypted key")
