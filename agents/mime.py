"""Build the MIME message one recipient receives, and the SMTP envelope it travels in.

Pure: no I/O, no SMTP library. The same delivery always produces the same bytes (the
``Message-ID``, ``Date`` and MIME boundary come from the delivery, not from the clock or
chance), so a resend after a crash carries the same ``Message-ID`` and a duplicate can be
recognised downstream.

Bcc recipients get their own copy like everyone else; no copy ever carries a ``Bcc`` header.
Bodies are encoded 7-bit clean (quoted-printable or base64 where needed), so the message
survives any relay, with or without 8BITMIME.

Given the :class:`~streams.links.Links` of the deployment, a message also gets:

- click tracking (``track_clicks``): every http(s) ``href`` of an ``<a>`` or ``<area>`` in the
  HTML part points to a signed click link. The text part is left alone: its reader sees the
  address they are going to, and a long signed URL in plain text only looks like phishing.
  Links inside HTML comments (Outlook's conditional blocks) are not rewritten.
- an open pixel (``track_opens``, HTML only) just before ``</body>``;
- ``List-Unsubscribe`` with RFC 8058 one-click for anything but plain transactional mail
  (another program, or a list), replacing a custom header of that name;
- a signed per-message return path (VERP) when a bounce domain is set.
"""

from __future__ import annotations

import binascii
import email.policy
import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email import quoprimime
from email.policy import Policy
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from html import escape
from html.parser import HTMLParser
from urllib.parse import urlsplit

from streams.links import LinkData, Links
from streams.records import DEFAULT_PROGRAM, Delivery

# SMTP line endings, headers folded at 78, and bodies encoded 7-bit clean.
POLICY = email.policy.SMTP.clone(cte_type="7bit")
UTF8_POLICY = POLICY.clone(utf8=True)  # RFC 6532 headers, for SMTPUTF8 transactions
MAX_LINE = 78

# Headers Herald sets itself: a custom header of the same name is dropped, never merged.
PROTECTED_HEADERS = frozenset(
    {
        "from",
        "sender",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)
HERALD_HEADER_PREFIX = "x-herald-"
FALLBACK_DOMAIN = "herald.invalid"
UNSUBSCRIBE_HEADERS = frozenset({"list-unsubscribe", "list-unsubscribe-post"})
ONE_CLICK = "List-Unsubscribe=One-Click"  # RFC 8058
PIXEL_STYLE = "display:block;width:1px;height:1px;border:0;margin:0;padding:0"

# RFC 5322 field-name: printable US-ASCII except the colon.
_FIELD_NAME = re.compile(r"[!-9;-~]+")


def build_message(delivery: Delivery, links: Links | None = None, *, utf8: bool = False) -> bytes:
    """The message ``delivery.recipient`` receives, as the bytes of SMTP DATA (identical on
    every attempt). Without ``links``: no tracking and no List-Unsubscribe. ``utf8``: the
    transaction uses SMTPUTF8, so a header that needs more than ASCII may carry UTF-8.

    Written directly rather than through ``email.message``: the email package parses every
    header it is given back into a structure and then folds it again, about 1.5 ms a message,
    the largest single cost of a delivery. Plain ASCII headers are written as they are; the
    rest are folded (and RFC 2047 encoded) by the email package's own policy."""
    content = delivery.content
    unsubscribe = links is not None and needs_unsubscribe(delivery)
    policy = UTF8_POLICY if utf8 else POLICY
    lines = [
        _header("From", content.sender, policy),
        _header("To", ", ".join(content.to) if content.to else "undisclosed-recipients:;", policy),
    ]
    if content.cc:
        lines.append(_header("Cc", ", ".join(content.cc), policy))
    if content.reply_to:
        lines.append(_header("Reply-To", ", ".join(content.reply_to), policy))
    lines.append(_header("Subject", content.subject, policy))
    date = format_datetime(datetime.fromtimestamp(delivery.accepted_at, tz=UTC))
    lines.append(_header("Date", date, policy))
    lines.append(_header("Message-ID", message_id_header(delivery), policy))
    lines.append(_header("X-Herald-Message-Id", delivery.message_id, policy))
    if content.tags:
        lines.append(_header("X-Herald-Tags", ",".join(content.tags), policy))
    if content.metadata:
        metadata = json.dumps(content.metadata, sort_keys=True)
        lines.append(_header("X-Herald-Metadata", metadata, policy))
    if links is not None and unsubscribe:
        lines.extend(_unsubscribe_headers(delivery, links))
    for name, value in content.headers.items():
        if _custom_header_allowed(name, value) and not (
            unsubscribe and name.lower() in UNSUBSCRIBE_HEADERS
        ):
            lines.append(_header(name, value, policy))
    html = content.html
    if links is not None and html is not None:
        html = track_html(html, delivery, links)
    lines.append("MIME-Version: 1.0\r\n")
    if html is not None and content.text is not None:
        # A boundary derived from the parts keeps a resend byte for byte the same. "=_" never
        # occurs in quoted-printable or base64, and no text part can hold a digest of itself.
        parts = f"{delivery.message_id}\0{content.text}\0{html}"
        digest = hashlib.sha256(parts.encode("utf-8", "surrogatepass"))
        boundary = f"=_{digest.hexdigest()[:40]}"
        lines.append(f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n')
        for subtype, text in (("plain", content.text), ("html", html)):
            lines.append(f"--{boundary}\r\n")
            lines.append(_text_part(subtype, text))
            lines.append("\r\n")
        lines.append(f"--{boundary}--\r\n")
    else:
        subtype, text = ("html", html) if html is not None else ("plain", content.text or "")
        lines.append(_text_part(subtype, text))
    return "".join(lines).encode("utf-8" if utf8 else "ascii")


def needs_unsubscribe(delivery: Delivery) -> bool:
    """Mail of a program other than transactional, or sent to a list, must be easy to stop."""
    content = delivery.content
    return content.program != DEFAULT_PROGRAM or content.list_id is not None


def track_html(html: str, delivery: Delivery, links: Links) -> str:
    """The HTML part with its links wrapped and its pixel added, as the content asks."""
    data = LinkData.of(delivery)
    if delivery.content.track_clicks:

        def wrap(href: str) -> str | None:
            target = _destination(href)
            if target is None or links.is_ours(target):
                return None
            return links.click_url(data, target)

        html = rewrite_hrefs(html, wrap)
    if delivery.content.track_opens:
        pixel = f'<img src="{escape(links.open_url(data))}" width="1" height="1" alt="" '
        pixel += f'style="{PIXEL_STYLE}" />'
        end = html.lower().rfind("</body")
        html = html + pixel if end == -1 else html[:end] + pixel + html[end:]
    return html


def message_id_header(delivery: Delivery) -> str:
    """``<message id@sender domain>``: deterministic per recipient's copy."""
    return f"<{delivery.message_id}@{sender_domain(delivery.content.sender)}>"


@lru_cache(maxsize=256)  # a workspace sends from a few addresses: parsed once, not per message
def sender_domain(sender: str) -> str:
    """The ASCII (IDNA) domain of a From address, or a reserved placeholder if it has none."""
    _, address = parseaddr(sender)
    _, at, domain = address.rpartition("@")
    domain = domain.strip().rstrip(".") if at else ""
    if not domain:
        return FALLBACK_DOMAIN
    try:
        return domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return FALLBACK_DOMAIN


def envelope_sender(delivery: Delivery, links: Links | None = None) -> str:
    """The MAIL FROM address: the message's signed return path on the bounce domain (VERP),
    else the bare address of ``content.sender``."""
    if links is not None and (verp := links.return_path(delivery.message_id)) is not None:
        return verp
    return _sender_address(delivery.content.sender)


def dsn_options(delivery: Delivery, links: Links | None) -> tuple[list[str], list[str]]:
    """MAIL FROM and RCPT TO options asking a relay that offers DSN (RFC 3461) for a report
    on success, failure and delay, naming the message (ENVID) and quoting only its headers.

    Only with a VERP return path: the reports then come back to Herald's inbound listener.
    Without one they would go to the sender's own mailbox, one per message."""
    if links is None or links.return_path(delivery.message_id) is None:
        return [], []
    return (
        ["RET=HDRS", f"ENVID={xtext(delivery.message_id)}"],
        ["NOTIFY=SUCCESS,FAILURE,DELAY"],
    )


def xtext(value: str) -> str:
    """RFC 3461 xtext: printable ASCII but "+" and "=" as is, everything else as +XX."""
    return "".join(
        c if "!" <= c <= "~" and c not in "+=" else "".join(f"+{b:02X}" for b in c.encode())
        for c in value
    )


def envelope_recipient(delivery: Delivery) -> str:
    """The RCPT TO address: the bare address of this copy's recipient."""
    return _bare_address(delivery.recipient)


# A mailbox with nothing in it that email.utils.parseaddr would take apart (no space, quote,
# angle bracket, comment, group or domain literal): parsed, it is itself. parseaddr costs 11 us,
# and aiosmtplib's mail() and rcpt() parse each address again (3-4% of a busy worker); such an
# address is used as it is (agents.smtp puts it on the command line itself). Control
# characters are still refused by aiosmtplib's command writer.
PLAIN_MAILBOX = re.compile(r'[^\s<>"()\[\],;:\\@]+@[^\s<>"()\[\],;:\\@]+')


def _bare_address(value: str) -> str:
    if PLAIN_MAILBOX.fullmatch(value):
        return value
    _, address = parseaddr(value)
    return address or value.strip()


_sender_address = lru_cache(maxsize=256)(_bare_address)


def _custom_header_allowed(name: str, value: str) -> bool:
    lowered = name.lower()
    if lowered in PROTECTED_HEADERS or lowered.startswith(HERALD_HEADER_PREFIX):
        return False
    if not _FIELD_NAME.fullmatch(name):
        return False
    return "\r" not in value and "\n" not in value


def _header(name: str, value: str, policy: Policy) -> str:
    """One header field with its line end: as it is when it is short printable ASCII, else
    folded and encoded as the email package would."""
    line = f"{name}: {value}"
    if len(line) <= MAX_LINE and value.isascii() and value.isprintable():
        return line + "\r\n"
    return policy.fold(*policy.header_store_parse(name, value))


def _text_part(subtype: str, text: str) -> str:
    """A text part's headers and body, UTF-8, 7-bit clean: as it is when it is ASCII with short
    lines, else quoted-printable or base64, whichever is shorter (the email package's rule)."""
    lines = text.encode("utf-8", "surrogateescape").splitlines()
    if max((len(line) for line in lines), default=0) <= MAX_LINE and all(
        line.isascii() for line in lines
    ):
        cte, body = "7bit", b"\n".join(lines).decode("ascii") + "\n"
    else:
        sniff = b"\r\n".join(lines[:10]) + b"\r\n"
        if len(quoprimime.body_encode(sniff.decode("latin-1"), MAX_LINE)) > len(
            binascii.b2a_base64(sniff)
        ):
            cte, body = "base64", _base64_lines(b"\r\n".join(lines) + b"\r\n")
        else:
            normal = (b"\n".join(lines) + b"\n").decode("latin-1")
            cte, body = "quoted-printable", quoprimime.body_encode(normal, MAX_LINE)
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {cte}\r\n\r\n" + body.replace("\n", "\r\n")
    )


def _base64_lines(data: bytes) -> str:
    per_line = MAX_LINE // 4 * 3  # whole 3-byte groups: padding only at the very end
    return "".join(
        binascii.b2a_base64(data[i : i + per_line]).decode("ascii")
        for i in range(0, len(data), per_line)
    )


# --- List-Unsubscribe --------------------------------------------------------------------------


def _unsubscribe_headers(delivery: Delivery, links: Links) -> list[str]:
    """List-Unsubscribe written one target per line, never re-encoded: the email package would
    turn a URL too long to fold into RFC 2047 encoded words, which no mail client reads as a
    URL."""
    targets = [f"<{links.unsubscribe_url(LinkData.of(delivery))}>"]
    if (mailto := links.unsubscribe_mailto(delivery.message_id)) is not None:
        targets.append(f"<{mailto}>")
    return [
        "List-Unsubscribe: " + ",\r\n ".join(targets) + "\r\n",
        f"List-Unsubscribe-Post: {ONE_CLICK}\r\n",
    ]


# --- link rewriting ----------------------------------------------------------------------------

_LINK_TAGS = frozenset({"a", "area"})
_URL_JUNK = "".join(map(chr, range(0x21)))  # what browsers strip around a URL
_TAB_OR_NEWLINE = re.compile(r"[\t\n\r]")
_NEWLINE = re.compile(r"\n")
Attributes = list[tuple[str, str | None]]


class _LinkTags(HTMLParser):
    """Where the ``<a>`` and ``<area>`` start tags are, with their decoded attributes. The
    parser skips comments, scripts and styles as a browser would."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[tuple[int, int], str, str, Attributes]] = []

    def handle_starttag(self, tag: str, attrs: Attributes) -> None:
        text = self.get_starttag_text()
        if tag in _LINK_TAGS and text is not None:
            self.found.append((self.getpos(), tag, text, attrs))


def rewrite_hrefs(html: str, rewrite: Callable[[str], str | None]) -> str:
    """``html`` with the first ``href`` of each link tag replaced by ``rewrite(href)`` (the
    value as a browser reads it, entities decoded); None leaves the tag as it was. A
    rewritten tag is written anew, its other attributes unchanged in meaning."""
    parser = _LinkTags()
    parser.feed(html)
    parser.close()
    line_starts = [0, *(m.end() for m in _NEWLINE.finditer(html))]
    out: list[str] = []
    done = 0
    for (line, column), tag, text, attrs in parser.found:
        start = line_starts[line - 1] + column
        href = next((value for name, value in attrs if name == "href"), None)
        if start < done or not html.startswith(text, start) or href is None:
            continue
        target = rewrite(href)
        if target is None:
            continue
        out.append(html[done:start])
        out.append(_start_tag(tag, attrs, target, closed=text.endswith("/>")))
        done = start + len(text)
    out.append(html[done:])
    return "".join(out)


def _start_tag(tag: str, attrs: Attributes, href: str, *, closed: bool) -> str:
    parts = [tag]
    replaced = False
    for name, value in attrs:
        if name == "href" and not replaced:
            value, replaced = href, True
        parts.append(name if value is None else f'{name}="{escape(value)}"')
    return f"<{' '.join(parts)}{' /' if closed else ''}>"


def _destination(href: str) -> str | None:
    """The http(s) URL a browser would follow for ``href``; None for anything else (mailto:,
    tel:, ``#anchors``, relative paths, javascript:)."""
    url = _TAB_OR_NEWLINE.sub("", href).strip(_URL_JUNK)
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None
