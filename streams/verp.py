"""Per-message return paths (VERP) and mailto unsubscribe addresses on the bounce domain.

Every message leaves with ``MAIL FROM:<b-<message id>-<signature>@<bounce domain>>``: a bounce
sent back to that address names the message it is about, whatever the report itself says. The
unsubscribe mailto in ``List-Unsubscribe`` is ``u-<message id>-<signature>@<bounce domain>``.
The signature (HMAC-SHA256 with the signing secret, truncated) keeps anyone from suppressing an
address by mailing a forged report to a guessed message id. Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Literal

Purpose = Literal["bounce", "unsubscribe"]
_TAGS: dict[Purpose, str] = {"bounce": "b", "unsubscribe": "u"}
_PURPOSES: dict[str, Purpose] = {tag: purpose for purpose, tag in _TAGS.items()}
_LOCAL = re.compile(r"^([bu])-(msg_[0-9a-z]{1,40})-([a-z2-7]{16})$")


@dataclass(frozen=True, slots=True)
class Verp:
    purpose: Purpose
    message_id: str


def address(purpose: Purpose, message_id: str, *, domain: str, key: bytes) -> str:
    """The signed address for ``message_id`` on ``domain``."""
    return f"{_TAGS[purpose]}-{message_id}-{_signature(purpose, message_id, key)}@{domain}"


def parse(recipient: str, *, domain: str, key: bytes) -> Verp | None:
    """What a signed address on ``domain`` is for; None for any other address, or a bad
    signature."""
    local, at, host = recipient.strip().strip("<>").rpartition("@")
    if not at or host.lower().rstrip(".") != domain.lower().rstrip("."):
        return None
    match = _LOCAL.match(local.lower())
    if match is None:
        return None
    purpose = _PURPOSES[match.group(1)]
    message_id = match.group(2)
    if not hmac.compare_digest(match.group(3), _signature(purpose, message_id, key)):
        return None
    return Verp(purpose, message_id)


def _signature(purpose: Purpose, message_id: str, key: bytes) -> str:
    mac = hmac.new(key, f"verp|{purpose}|{message_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(mac[:10]).decode().lower()
