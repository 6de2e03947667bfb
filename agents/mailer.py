"""The outbound mail seam: the :class:`Mailer` protocol, what a send came to, and the pure pieces
around it (reply classification, relay URL parsing, an in-memory mailer for tests).

No SMTP library here; the real pool lives in :mod:`agents.smtp`.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Literal, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from agents.mime import build_message, envelope_recipient, envelope_sender
from streams.links import Links
from streams.records import Delivery

Outcome = Literal["sent", "deferred", "bounced"]
StartTls = Literal["opportunistic", "require", "never"]

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
_STARTTLS_MODES: tuple[StartTls, ...] = ("opportunistic", "require", "never")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

# RFC 3463: class "." subject "." detail, at the start of the reply text (RFC 2034).
_ENHANCED_AT_START = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$|[^\w.])")
# Some relays put it later in the text ("... (5.1.1)").
_ENHANCED_ANYWHERE = re.compile(r"(?<![\w.])([245])\.(\d{1,3})\.(\d{1,3})(?![\w.])")


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one delivery attempt came to.

    ``sent``: the relay took responsibility (2xx). ``deferred``: try again later (4xx, or no
    answer at all: connection refused, timeout, disconnect). ``bounced``: the relay refused for
    good (5xx). ``code`` is None when no SMTP reply was received.
    """

    outcome: Outcome
    code: int | None
    enhanced: str | None
    reply: str


class Mailer(Protocol):
    """Delivers one recipient's copy. ``send`` never raises for a delivery problem: every
    failure is a :class:`SendResult`."""

    async def send(self, delivery: Delivery) -> SendResult: ...

    async def close(self) -> None: ...


def classify(code: int, message: str) -> SendResult:
    """Turn an SMTP reply into an outcome (RFC 5321 reply classes, RFC 3463 detail).

    The basic reply code decides: 2xx sent, 5xx bounced, 4xx and anything unexpected deferred
    (retrying is the choice that never loses mail). The enhanced code, when the reply carries
    one, is kept for the event and for bounce classification downstream.
    """
    reply = " ".join(message.split())
    klass = code // 100
    outcome: Outcome
    if klass == 2:
        outcome = "sent"
    elif klass == 5:
        outcome = "bounced"
    else:
        outcome = "deferred"
    return SendResult(outcome, code, enhanced_code(code, reply), reply)


def enhanced_code(code: int, message: str) -> str | None:
    """The RFC 3463 status code in a reply text ("5.1.1"), or None. Its class must agree with
    the reply code's (a "4.x.x" in a 550 reply is not trusted)."""
    match = _ENHANCED_AT_START.match(message) or _ENHANCED_ANYWHERE.search(message)
    if match is None or int(match.group(1)) != code // 100:
        return None
    return ".".join(match.groups())


class SmtpUrlError(ValueError):
    """``HERALD_SMTP_URL`` is not a usable relay address. Fix the setting: the form is
    ``smtp://[user:pass@]host[:port][?starttls=opportunistic|require|never]`` or
    ``smtps://[user:pass@]host[:port]``; percent-encode special characters in the password."""


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    """Where and how to reach the outbound relay. The password never appears in ``repr``."""

    host: str
    port: int
    tls: bool = False  # implicit TLS from the first byte (smtps://)
    starttls: StartTls = "opportunistic"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    verify: bool = True  # check the relay's certificate

    @property
    def display(self) -> str:
        """The URL without the password, safe for logs."""
        scheme = "smtps" if self.tls else "smtp"
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}"


def parse_smtp_url(url: str, *, timeout: float = 30.0) -> SmtpTarget:
    """Read a relay URL. Query parameters: ``starttls`` (smtp:// only), ``timeout`` (seconds,
    overrides the argument), ``verify`` (false to accept any certificate)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise SmtpUrlError(f"not a valid SMTP URL ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise SmtpUrlError(
            f"unsupported scheme {parts.scheme or '(none)'!r}: use smtp:// or smtps://"
        )
    if not parts.hostname:
        raise SmtpUrlError("the SMTP URL names no host")
    if parts.path not in ("", "/"):
        raise SmtpUrlError(f"an SMTP URL has no path (got {parts.path!r})")

    tls = scheme == "smtps"
    starttls: StartTls = "never" if tls else "opportunistic"
    verify = True
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "starttls":
            starttls = _starttls_mode(value, tls=tls)
        elif key == "timeout":
            timeout = _positive_float(value)
        elif key == "verify":
            verify = _flag(key, value)
        else:
            raise SmtpUrlError(f"unknown SMTP URL parameter {key!r}")
    if timeout <= 0:
        raise SmtpUrlError("timeout must be positive")

    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not username:
        raise SmtpUrlError("the SMTP URL has a password but no user name")
    return SmtpTarget(
        host=parts.hostname,
        port=port if port is not None else DEFAULT_PORTS[scheme],
        tls=tls,
        starttls=starttls,
        username=username,
        password=password,
        timeout=timeout,
        verify=verify,
    )


def _starttls_mode(value: str, *, tls: bool) -> StartTls:
    mode = value.lower()
    for known in _STARTTLS_MODES:
        if mode == known:
            if tls and known != "never":
                raise SmtpUrlError("smtps:// is already TLS: starttls does not apply")
            return known
    raise SmtpUrlError(f"starttls must be one of {', '.join(_STARTTLS_MODES)} (got {value!r})")


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError as exc:
        raise SmtpUrlError(f"timeout must be a number of seconds (got {value!r})") from exc
    if not number > 0:
        raise SmtpUrlError(f"timeout must be positive (got {value!r})")
    return number


def _flag(key: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise SmtpUrlError(f"{key} must be true or false (got {value!r})")


@dataclass(frozen=True, slots=True)
class SentMessage:
    """One message a :class:`MemoryMailer` accepted."""

    sender: str
    recipient: str
    message: EmailMessage
    delivery: Delivery


class MemoryMailer:
    """An in-memory :class:`Mailer` for tests.

    Every address in ``bounce`` is refused with ``550 5.1.1``; an address in ``defer`` is
    answered ``451 4.7.1`` that many times, then accepted. Both can be changed between sends.
    Addresses compare case-insensitively. With ``links`` the messages are built as the real
    mailer builds them (tracking, List-Unsubscribe, VERP return path).
    """

    def __init__(
        self,
        *,
        bounce: Iterable[str] = (),
        defer: Mapping[str, int] | None = None,
        links: Links | None = None,
    ) -> None:
        self.links = links
        self.bounce: set[str] = {address.lower() for address in bounce}
        self.defer: dict[str, int] = {a.lower(): n for a, n in (defer or {}).items()}
        self.sent: list[SentMessage] = []
        self.attempts: list[Delivery] = []
        self.closed = False

    async def send(self, delivery: Delivery) -> SendResult:
        self.attempts.append(delivery)
        if self.closed:
            return SendResult("deferred", None, None, "connection failed: mailer closed")
        recipient = envelope_recipient(delivery)
        key = recipient.lower()
        if key in self.bounce:
            return classify(550, f"5.1.1 <{recipient}>: user unknown")
        if self.defer.get(key, 0) > 0:
            self.defer[key] -= 1
            return classify(451, "4.7.1 try again later")
        sender = envelope_sender(delivery, self.links)
        raw = build_message(delivery, self.links, utf8=not (sender + recipient).isascii())
        # As the receiving side parses it (the default policy gives an EmailMessage).
        message = email.message_from_bytes(raw, policy=email.policy.default)
        self.sent.append(SentMessage(sender, recipient, message, delivery))
        return classify(250, f"2.0.0 OK queued as {len(self.sent)}")

    async def close(self) -> None:
        self.closed = True

    def to(self, address: str) -> list[EmailMessage]:
        """The messages accepted for ``address``."""
        return [s.message for s in self.sent if s.recipient.lower() == address.lower()]
