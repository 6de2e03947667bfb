"""Webhook signing secrets: made here, and sealed before they go anywhere.

A secret is ``whsec_`` + base64 of 32 random bytes (Standard Webhooks allows 24 to 64). The
plaintext is shown once, when the endpoint is created or its secret rotated; the topic and the
database only hold it sealed (Fernet: AES-128-CBC + HMAC-SHA256) with a key derived from the
server's secret key (``config.secrets.signing_key``). Changing the server key makes the sealed
secrets unreadable: endpoints then need their secret rotated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken

PREFIX = "whsec_"
SECRET_BYTES = 32


class SecretUnreadable(ValueError):
    """A sealed webhook secret does not open with this server key: the server key changed
    since the secret was made. Rotate the endpoint's secret."""


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_bytes(secret: str) -> bytes:
    """The HMAC key a ``whsec_`` secret stands for."""
    return base64.b64decode(secret.removeprefix(PREFIX))


class Sealer:
    """Seals and opens webhook secrets with a key derived from the server key."""

    def __init__(self, server_key: bytes) -> None:
        derived = hmac.new(server_key, b"herald webhook secrets", hashlib.sha256).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def unseal(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise SecretUnreadable("sealed with another server key") from exc
