"""The links in sent mail, followed by recipients and their mail clients: ``/t/o`` (open pixel),
``/t/c`` (click redirect) and ``/t/u`` (unsubscribe page and RFC 8058 one-click).

No key: a link's signature (:mod:`streams.links`) is its authority. A link that fails it
records nothing and answers 400 (the pixel excepted: it always answers its image); a click
link whose destination was changed never redirects.
Each valid hit is published on ``herald.outcomes`` as a raw event, with a fresh id. The
timeline agent numbers it and judges whether a machine made it.

If Kafka is down, the open and click events are lost, and only logged. The pixel still
answers and the click still redirects: a broken image or a dead link would hurt the reader,
and a mail client never retries an image anyway. An unsubscribe is the reader's request,
so it is never dropped: it answers 503 until Kafka has it, and the reader can retry.

These routes are not in the OpenAPI document: Herald writes their URLs into mail, and API
clients never call them.
"""

from __future__ import annotations

import base64
import logging
import time
from html import escape
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from litestar import Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency
from litestar.params import FromPath

from api.auth import scope_ip
from api.client_ip import Proxies
from api.errors import ApiError
from api.producer import SendProducer
from api.schemas import new_id
from streams.links import DESTINATION, PREFIX, Kind, LinkData, verify
from streams.records import Event, EventType, Scope, encode, event_id
from streams.topics import OUTCOMES

log = logging.getLogger("herald.api.tracking")

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate, max-age=0", "Pragma": "no-cache"}
MAX_USER_AGENT = 512
_Request = Request[Any, Any, Any]


class BadLink(ApiError):
    """A tracking or unsubscribe link whose signature does not hold: changed, cut short, or
    signed with another secret. Operators: every API and worker process must share one
    ``HERALD_SECRET_KEY``, and changing it breaks the links in mail already sent."""

    status = HTTPStatus.BAD_REQUEST
    kind = "bad-link"
    title = "Invalid link"


@get(f"{PREFIX}/o/{{link:str}}", include_in_schema=False)
async def open_pixel(
    request: _Request,
    link: FromPath[str],
    signing_key: NamedDependency[bytes],
    trusted: NamedDependency[Proxies],
    producer: NamedDependency[SendProducer],
) -> Response[bytes]:
    """The open pixel: a 1x1 transparent GIF, never cached. Records ``opened`` after the
    answer is sent. A bad signature still gets the image (mail sent before a key change would
    otherwise show a broken one) but records nothing."""
    data = verify("open", link, key=signing_key)
    background = None
    if data is not None:
        event = _event("opened", data, request, trusted)
        background = BackgroundTask(_record_quietly, producer, event)
    return Response(GIF, media_type="image/gif", headers=NO_CACHE, background=background)


@get(f"{PREFIX}/c/{{link:str}}", include_in_schema=False)
async def click(
    request: _Request,
    link: FromPath[str],
    signing_key: NamedDependency[bytes],
    trusted: NamedDependency[Proxies],
    producer: NamedDependency[SendProducer],
) -> Response[bytes]:
    """Redirect to the link's destination and record ``clicked`` (after the answer)."""
    found = request.query_params.getall(DESTINATION, [])
    destination = found[0] if len(found) == 1 else None
    data = _verified("click", link, signing_key, destination)
    if destination is None or not _followable(destination):  # signed, yet not http(s)
        raise BadLink("This link does not lead anywhere Herald may send you.")
    event = _event("clicked", data, request, trusted, url=destination)
    return Response(
        b"",
        status_code=HTTPStatus.FOUND,
        headers={"Location": _location(destination), **NO_CACHE},
        background=BackgroundTask(_record_quietly, producer, event),
    )


@get(f"{PREFIX}/u/{{link:str}}", include_in_schema=False)
async def unsubscribe_page(
    link: FromPath[str], signing_key: NamedDependency[bytes]
) -> Response[str]:
    """A page asking what to stop. Reading it changes nothing: link scanners follow every
    link in a mail and must not unsubscribe anyone."""
    data = _verified("unsubscribe", link, signing_key)
    return confirm_page(data, default_scope(data))


@post(f"{PREFIX}/u/{{link:str}}", status_code=HTTPStatus.OK, include_in_schema=False)
async def unsubscribe(
    request: _Request,
    link: FromPath[str],
    signing_key: NamedDependency[bytes],
    trusted: NamedDependency[Proxies],
    producer: NamedDependency[SendProducer],
) -> Response[str]:
    """Record ``unsubscribed`` and answer once Kafka has it (503 otherwise). Takes the page's
    form (``scope=global`` for all mail from the sender) and RFC 8058 one-click
    (``List-Unsubscribe=One-Click``), which stops the message's list, else its program. Any
    other POST to a valid link counts as one-click too: only a person or their mail provider
    acting for them sends one, and an unsubscribe must not fail on a detail."""
    data = _verified("unsubscribe", link, signing_key)
    form = await request.form()
    scope: Scope = "global" if form.get("scope") == "global" else default_scope(data)
    event = _event("unsubscribed", data, request, trusted, unsubscribe_scope=scope)
    await _record(producer, event)
    return done_page(data, scope)


def default_scope(data: LinkData) -> Literal["list", "program"]:
    """What "unsubscribe" stops when nothing more is said: the list, else the program."""
    return "list" if data.list_id is not None else "program"


def _verified(kind: Kind, link: str, key: bytes, destination: str | None = None) -> LinkData:
    data = verify(kind, link, key=key, destination=destination)
    if data is None:
        raise BadLink("This link is not valid: it was changed or cut short.")
    return data


def _event(
    type_: EventType,
    data: LinkData,
    request: _Request,
    trusted: Proxies,
    **fields: Any,
) -> Event:
    """A raw event of the link's message; the timeline fills in tags and judges machines."""
    agent = request.headers.get("user-agent")
    return Event(
        event_id=event_id(data.message_id, type_, new_id("hit")),
        type=type_,
        message_id=data.message_id,
        workspace_id=data.workspace_id,
        recipient=data.recipient,
        at=time.time(),
        program=data.program,
        list_id=data.list_id,
        user_agent=agent[:MAX_USER_AGENT] if agent else None,
        ip=_address(request, trusted),
        **fields,
    )


async def _record(producer: SendProducer, event: Event) -> None:
    await producer.publish(OUTCOMES.name, key=event.message_id.encode(), value=encode(event))


async def _record_quietly(producer: SendProducer, event: Event) -> None:
    try:
        await _record(producer, event)
    except ApiError as exc:
        log.warning("%s event of %s lost: %s", event.type, event.message_id, exc.detail)
    except Exception:
        log.exception("%s event of %s lost", event.type, event.message_id)


def _followable(destination: str) -> bool:
    try:
        parts = urlsplit(destination)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _location(destination: str) -> str:
    """The destination as a header value: non-ASCII and spaces percent-encoded, the rest
    (reserved characters and existing escapes) as written."""
    return quote(destination, safe="!#$%&'()*+,/:;=?@[]~")


def _address(request: _Request, trusted: Proxies) -> str | None:
    found = scope_ip(request.scope, trusted.networks)
    return str(found) if found is not None else None


# --- pages -------------------------------------------------------------------------------------

_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
}
_STYLE = "body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}"


def confirm_page(data: LinkData, scope: Scope) -> Response[str]:
    """The form that posts back to the same link: this list or program only, or everything."""
    body = f"""<h1>Unsubscribe</h1>
<p>Stop email to <strong>{escape(_masked(data.recipient))}</strong>?</p>
<form method="post">
<p><label><input type="radio" name="scope" value="{scope}" checked>
Only {_what(data, scope)}</label></p>
<p><label><input type="radio" name="scope" value="global">
All {_what(data, "global")}</label></p>
<p><button type="submit">Unsubscribe</button></p>
</form>"""
    return _page("Unsubscribe", body)


def done_page(data: LinkData, scope: Scope) -> Response[str]:
    body = f"""<h1>You are unsubscribed</h1>
<p><strong>{escape(_masked(data.recipient))}</strong> will no longer get
{"any " if scope == "global" else ""}{_what(data, scope)}.</p>"""
    return _page("Unsubscribed", body)


def _what(data: LinkData, scope: Scope) -> str:
    """What ``scope`` stops, as an escaped phrase."""
    if scope == "global":
        return "email from this sender"
    if scope == "list" and data.list_id is not None:
        return f"email to the list \u201c{escape(data.list_id)}\u201d"
    return f"\u201c{escape(data.program)}\u201d email"


def _masked(address: str) -> str:
    """``a***@example.com``: enough for the reader to recognise, little for anyone else."""
    local, at, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}" if at and local else "your address"


def _page(title: str, body: str) -> Response[str]:
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{title}</title><style>{_STYLE}</style></head>
<body><main>
{body}
</main></body></html>
"""
    return Response(html, media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)
