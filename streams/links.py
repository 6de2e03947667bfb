"""Signed tracking and unsubscribe links: the contract between the mail a worker writes and the
API that follows its links.

A link is ``<public url>/t/<o|c|u>/<token>.<signature>``; a click link adds ``?u=<destination>``.

- The token names the message: base64url of a compact JSON array (format version, message
  id, workspace id, recipient, program, list id, when the send was accepted). The API can
  then record a complete event without a lookup, and downstream can tell how old the mail was.
- The signature is HMAC-SHA256 with the signing secret over the kind, the token and, for a
  click, the destination, truncated to 128 bits. A changed token, kind or destination fails,
  so nobody can forge opens, unsubscribe someone else, or use Herald as an open redirect.

The token is signed, not encrypted: anyone holding the link can read the recipient's
address from it. Only the recipient should have the link. Pure apart from
:meth:`Links.from_settings`, which reads the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote

import orjson

from config.secrets import signing_key
from config.settings import Settings
from streams import verp
from streams.records import DEFAULT_PROGRAM, Delivery

Kind = Literal["open", "click", "unsubscribe"]
PREFIX = "/t"
LETTERS: dict[Kind, str] = {"open": "o", "click": "c", "unsubscribe": "u"}
DESTINATION = "u"  # the query parameter of a click link that holds the destination
MAX_LINK = 2048  # longer path segments are refused before any decoding

_VERSION = 1
_SIGNATURE_BYTES = 16
_B64 = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class LinkData:
    """What a link says about its message."""

    message_id: str
    workspace_id: str
    recipient: str
    program: str = DEFAULT_PROGRAM
    list_id: str | None = None
    accepted_at: int = 0  # epoch seconds; the mail's Date, so the same mail gives the same link

    @classmethod
    def of(cls, delivery: Delivery) -> LinkData:
        content = delivery.content
        return cls(
            message_id=delivery.message_id,
            workspace_id=delivery.workspace_id,
            recipient=delivery.recipient,
            program=content.program,
            list_id=content.list_id,
            accepted_at=int(delivery.accepted_at),
        )


@dataclass(frozen=True, slots=True)
class Links:
    """Makes the links of outgoing mail: the API's public base URL, the signing key and the
    bounce domain (None: no VERP return path and no mailto unsubscribe)."""

    base_url: str
    key: bytes = field(repr=False)
    bounce_domain: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Links:
        return cls(settings.effective_public_url, signing_key(settings), settings.bounce_domain)

    def open_url(self, data: LinkData) -> str:
        return self._url("open", data)

    def click_url(self, data: LinkData, destination: str) -> str:
        query = f"{DESTINATION}={quote(destination, safe='')}"
        return f"{self._url('click', data, destination)}?{query}"

    def unsubscribe_url(self, data: LinkData) -> str:
        return self._url("unsubscribe", data)

    def is_ours(self, url: str) -> bool:
        """Whether ``url`` is already one of Herald's links (never wrapped again)."""
        return url.startswith(f"{self.base_url}{PREFIX}/")

    def unsubscribe_mailto(self, message_id: str) -> str | None:
        if self.bounce_domain is None:
            return None
        address = verp.address("unsubscribe", message_id, domain=self.bounce_domain, key=self.key)
        return f"mailto:{address}"

    def return_path(self, message_id: str) -> str | None:
        """The VERP envelope sender of the message, or None without a bounce domain."""
        if self.bounce_domain is None:
            return None
        return verp.address("bounce", message_id, domain=self.bounce_domain, key=self.key)

    def _url(self, kind: Kind, data: LinkData, destination: str | None = None) -> str:
        token = encode_token(data)
        signature = sign(kind, token, key=self.key, destination=destination)
        return f"{self.base_url}{PREFIX}/{LETTERS[kind]}/{token}.{signature}"


def encode_token(data: LinkData) -> str:
    fields = [
        _VERSION,
        data.message_id,
        data.workspace_id,
        data.recipient,
        data.program,
        data.list_id,
        data.accepted_at,
    ]
    return base64.urlsafe_b64encode(orjson.dumps(fields)).rstrip(b"=").decode("ascii")


def sign(kind: Kind, token: str, *, key: bytes, destination: str | None = None) -> str:
    message = f"herald-link\0{kind}\0{token}"
    if destination is not None:
        message += f"\0{destination}"
    mac = hmac.new(key, message.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:_SIGNATURE_BYTES]).rstrip(b"=").decode("ascii")


def verify(kind: Kind, link: str, *, key: bytes, destination: str | None = None) -> LinkData | None:
    """The data of ``link`` (the ``<token>.<signature>`` path segment) if its signature holds
    for ``kind`` (and ``destination``, for a click); None for anything else."""
    if len(link) > MAX_LINK or (kind == "click") != (destination is not None):
        return None
    token, dot, signature = link.partition(".")
    if not dot or not _B64.fullmatch(token) or not _B64.fullmatch(signature):
        return None
    expected = sign(kind, token, key=key, destination=destination)
    if not hmac.compare_digest(signature, expected):
        return None
    return _decode_token(token)


def _decode_token(token: str) -> LinkData | None:
    try:
        fields = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        return None
    match fields:
        case [1, str(mid), str(wid), str(rcpt), str(program), str() | None as list_id, int(at)]:
            return LinkData(mid, wid, rcpt, program, list_id, at)
    return None  # signed by us, yet not a format this version reads
